// A mid-session `redirect` (src/relayroom/web/sdk/lib/session.js, docs/cluster.md): the member leaves the
// node that sent it and enters again at the given URL (or where it entered first), over fake WebSockets.
import assert from 'node:assert/strict';
import {afterEach, beforeEach, test} from 'node:test';

import {Session} from '../../../../src/relayroom/web/sdk/lib/session.js';

class FakeWebSocket {
  static OPEN = 1;
  static all = [];

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeWebSocket.all.push(this);
    // the server accepts at once and answers every request
    queueMicrotask(() => {
      this.readyState = FakeWebSocket.OPEN;
      this.onopen();
    });
  }

  send(text) {
    const msg = JSON.parse(text);
    this.sent.push(msg);
    const data = msg.type === 'enter' ? {role: 'audience', members: [], heartbeatInterval: 60, idleTimeout: 90} : {};
    queueMicrotask(() => this.reply({type: 'response', id: msg.id, ok: true, data}));
  }

  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (this.onclose) this.onclose();
  }

  reply(msg) {
    if (this.readyState === FakeWebSocket.OPEN && this.onmessage) this.onmessage({data: JSON.stringify(msg)});
  }
}

let saved;
beforeEach(() => {
  saved = globalThis.WebSocket;
  globalThis.WebSocket = FakeWebSocket;
  FakeWebSocket.all = [];
});
afterEach(() => {
  globalThis.WebSocket = saved;
});

function session() {
  const states = [];
  const steps = {
    emit: (name, data) => { if (name === 'connection-state-changed') states.push(data.state); },
    onServerEvent: () => {}, reconcile: () => {}, publish: async () => {}, entered: () => {},
    teardownMedia: () => {}, streamsLost: () => {}, forgetRoom: () => {}, recovered: () => {},
    leaveRoomOnly: () => {},
  };
  return {s: new Session(steps), states};
}

const settle = async (until) => {
  for (let i = 0; i < 200 && !until(); i++) await new Promise((r) => { setTimeout(r, 5); });
  assert.ok(until(), 'condition not reached');
};

const types = (ws) => ws.sent.map((m) => m.type);

test('a drain redirect: exit on the old node, enter again at the new one, CONNECTED again', async () => {
  const {s, states} = session();
  await s.enter({sdkAppId: 1, userId: 'u', userSig: 'x', roomId: 5}, 'ws://a.test/signal');
  const [first] = FakeWebSocket.all;
  first.reply({type: 'redirect', url: 'http://b.test:8080', reason: 'drain'});
  await settle(() => FakeWebSocket.all.length === 2 && types(FakeWebSocket.all[1]).includes('enter'));
  await settle(() => s.state === 'CONNECTED' && !s.recovering);
  assert.deepEqual(types(first), ['enter', 'exit']);
  assert.equal(first.readyState, 3);
  assert.equal(FakeWebSocket.all[1].url, 'ws://b.test:8080/signal');
  assert.equal(FakeWebSocket.all[1].sent[0].data.roomId, 5);
  assert.deepEqual(states, ['CONNECTING', 'CONNECTED', 'RECONNECTING', 'RECONNECTED', 'CONNECTED']);
  assert.ok(s.inRoom);
  await s.exit();
});

test('a redirect without a URL enters again where the member entered first', async () => {
  const {s} = session();
  await s.enter({sdkAppId: 1, userId: 'u', userSig: 'x', roomId: 5}, 'ws://a.test/signal');
  FakeWebSocket.all[0].reply({type: 'redirect', url: '', reason: 'drain'}); // a single node: no URL
  await settle(() => FakeWebSocket.all.length === 2 && s.state === 'CONNECTED' && !s.recovering);
  assert.equal(FakeWebSocket.all[1].url, 'ws://a.test/signal');
  assert.deepEqual(types(FakeWebSocket.all[1]), ['enter']);
  await s.exit();
});

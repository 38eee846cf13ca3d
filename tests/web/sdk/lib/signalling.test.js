// The signalling channel (src/relayroom/web/sdk/lib/signalling.js) over a fake WebSocket: requests and
// their responses, server events, and what a closed socket does to pending requests.
import assert from 'node:assert/strict';
import {afterEach, beforeEach, describe, test} from 'node:test';

import {Signalling} from '../../../../src/relayroom/web/sdk/lib/signalling.js';

class FakeWebSocket {
  static OPEN = 1;
  static last = null;

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeWebSocket.last = this;
  }

  send(text) { this.sent.push(JSON.parse(text)); }

  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (this.onclose) this.onclose();
  }

  // the server's side
  accept() {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen();
  }

  reply(msg) { this.onmessage({data: typeof msg === 'string' ? msg : JSON.stringify(msg)}); }
}

const rejection = async (promise) => {
  try {
    await promise;
  } catch (e) {
    return [e.code, e.extraCode, e.functionName];
  }
  return assert.fail('resolved');
};

let saved;
beforeEach(() => {
  saved = globalThis.WebSocket;
  globalThis.WebSocket = FakeWebSocket;
});
afterEach(() => {
  globalThis.WebSocket = saved;
});

async function connected() {
  const events = [];
  const drops = [];
  const s = new Signalling({onEvent: (name, data) => events.push([name, data]), onDrop: () => drops.push(true)});
  const opening = s.open('ws://127.0.0.1/signal');
  const ws = FakeWebSocket.last;
  ws.accept();
  await opening;
  return {s, ws, events, drops};
}

describe('requests', () => {
  test('a request carries version, id, type and data; its response resolves it', async () => {
    const {s, ws} = await connected();
    assert.ok(s.connected);
    const p = s.request('enter', {roomId: 1}, 'enterRoom');
    assert.deepEqual(ws.sent, [{v: 1, id: 1, type: 'enter', data: {roomId: 1}}]);
    ws.reply({type: 'response', id: 99, ok: true, data: {}}); // not ours: ignored
    ws.reply({type: 'response', id: 1, ok: true, data: {role: 'anchor'}});
    assert.deepEqual(await p, {role: 'anchor'});
  });

  test('a refusal is the server\'s error as RtcError, named after the calling function', async () => {
    const {s, ws} = await connected();
    const p = s.request('subscribe', {}, 'startRemoteVideo');
    ws.reply({type: 'response', id: 1, ok: false, error: {code: 5102, message: 'no such user'}});
    assert.deepEqual(await rejection(p), [5100, 5102, 'startRemoteVideo']);
  });

  test('without a socket a request fails at once with 5100/5101', async () => {
    const s = new Signalling({onEvent() {}, onDrop() {}});
    assert.deepEqual(await rejection(s.request('exit', {}, 'exitRoom')), [5100, 5101, 'exitRoom']);
  });

  test('no response in time is 5400/5503', async () => {
    const {s} = await connected();
    assert.deepEqual(await rejection(s.request('heartbeat', {}, 'heartbeat', 10)), [5400, 5503, 'heartbeat']);
  });
});

describe('events and closing', () => {
  test('server events reach onEvent; garbage and a throwing handler break nothing', async () => {
    const {ws, events} = await connected();
    ws.reply('not json');
    ws.reply('null');
    ws.reply({type: 'event', event: 'remote-user-enter', data: {userId: 'bob'}});
    ws.reply({type: 'event', event: 'offer'});
    assert.deepEqual(events, [['remote-user-enter', {userId: 'bob'}], ['offer', {}]]);
    const s2 = new Signalling({onEvent: () => { throw new Error('bug'); }, onDrop() {}});
    const opening = s2.open('ws://x');
    FakeWebSocket.last.accept();
    await opening;
    FakeWebSocket.last.reply({type: 'event', event: 'x', data: {}});
  });

  test('a socket that drops fails pending requests with 5998/5502 and calls onDrop', async () => {
    const {s, ws, drops} = await connected();
    const p = s.request('publish', {}, 'publish');
    ws.close();
    assert.deepEqual(await rejection(p), [5998, 5502, 'publish']);
    assert.deepEqual(drops, [true]);
    assert.ok(!s.connected);
  });

  test('closing on purpose fails pending requests but is not a drop', async () => {
    const {s, drops} = await connected();
    const p = s.request('exit', {}, 'exitRoom');
    s.close();
    assert.deepEqual(await rejection(p), [5998, 5502, 'exitRoom']);
    assert.deepEqual(drops, []);
  });

  test('a socket that closes before it opens rejects the open with 5400/5502', async () => {
    const s = new Signalling({onEvent() {}, onDrop() {}});
    const opening = s.open('ws://127.0.0.1/signal');
    FakeWebSocket.last.close();
    assert.deepEqual(await rejection(opening), [5400, 5502, '']);
  });
});

describe('heartbeat', () => {
  test('heartbeats go out while active, replies reach onReply, a silent socket is dropped', async (t) => {
    const {s, ws, drops} = await connected();
    try {
      t.mock.timers.enable({apis: ['setInterval', 'setTimeout']});
    } catch {
      t.mock.timers.enable(['setInterval', 'setTimeout']); // node 18's form
    }
    let now = Date.now();
    t.mock.method(Date, 'now', () => now);
    const replies = [];
    let active = true;
    s.startHeartbeat(1, {active: () => active, onReply: (r) => replies.push(r)});
    now += 1000;
    t.mock.timers.tick(1000);
    assert.deepEqual(ws.sent.map((m) => m.type), ['heartbeat']);
    ws.reply({type: 'response', id: ws.sent[0].id, ok: true, data: {inRoom: true}});
    await Promise.resolve();
    assert.deepEqual(replies, [{inRoom: true}]);
    active = false;
    now += 1000;
    t.mock.timers.tick(1000);
    assert.equal(ws.sent.length, 1);
    active = true;
    now += 3001; // nothing heard for more than three intervals
    t.mock.timers.tick(1000);
    assert.deepEqual(drops, [true]);
    assert.ok(!s.connected);
    s.stopHeartbeat();
  });
});

describe('redirects (cluster)', () => {
  async function withRedirects() {
    const redirects = [];
    const s = new Signalling({onEvent: () => {}, onDrop: () => {}, onRedirect: (r) => redirects.push(r)});
    const opening = s.open('ws://127.0.0.1/signal');
    const ws = FakeWebSocket.last;
    ws.accept();
    await opening;
    return {s, ws, redirects};
  }

  test('a redirect answering an enter is kept for the caller; the refusal that follows rejects the request', async () => {
    const {s, ws, redirects} = await withRedirects();
    const p = s.request('enter', {roomId: 1}, 'enterRoom');
    ws.reply({v: 1, type: 'redirect', id: 1, url: 'http://127.0.0.1:8082', reason: 'owner'});
    ws.reply({type: 'response', id: 1, ok: false, error: {code: -100212, message: 'elsewhere'}});
    assert.deepEqual(await rejection(p), [5400, -100212, 'enterRoom']);
    assert.deepEqual(s.takeRedirect(), {url: 'http://127.0.0.1:8082', reason: 'owner'});
    assert.equal(s.takeRedirect(), null); // taken once
    assert.deepEqual(redirects, []); // it answered a request: not an unsolicited move
  });

  test('a redirect that answers no request (the node drains) goes to onRedirect; junk is ignored', async () => {
    const {ws, redirects} = await withRedirects();
    ws.reply({v: 1, type: 'redirect', url: 42, reason: 'drain'}); // no URL: ignored
    ws.reply({v: 1, type: 'redirect', url: 'http://127.0.0.1:8083', reason: 'drain'});
    assert.deepEqual(redirects, [{url: 'http://127.0.0.1:8083', reason: 'drain'}]);
  });
});

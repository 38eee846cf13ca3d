// The send transport (src/relayroom/web/sdk/lib/send-transport.js) against a fake RTCPeerConnection:
// one transceiver per slot for the whole membership, what each publish request carries, and what a
// refused publish leaves behind.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {RtcError} from '../../../../src/relayroom/web/sdk/lib/errors.js';
import {SendTransport, publishChanges, publishTracks} from '../../../../src/relayroom/web/sdk/lib/send-transport.js';

class FakeSender {
  constructor(track) {
    this.track = track;
    this.params = {encodings: [{}]};
  }

  async replaceTrack(track) { this.track = track; }
  getParameters() { return structuredClone(this.params); }
  async setParameters(params) { this.params = params; }
}

class FakePeerConnection {
  constructor() {
    this.transceivers = [];
    this.currentRemoteDescription = null;
    this.localDescription = null;
    this.signalingState = 'stable';
    this.offers = 0;
    this.rolledBack = false;
    this.closed = false;
  }

  addTransceiver(track, {direction}) {
    const tr = {mid: null, direction, currentDirection: null, stopped: false, sender: new FakeSender(track)};
    this.transceivers.push(tr);
    return tr;
  }

  async createOffer() { return {type: 'offer', sdp: `offer-${++this.offers}`}; }

  async setLocalDescription(desc) {
    if (desc.type === 'rollback') {
      this.rolledBack = true;
      this.signalingState = 'stable';
      return;
    }
    this.localDescription = desc;
    this.signalingState = 'have-local-offer';
    this.transceivers.forEach((tr, i) => { if (tr.mid === null) tr.mid = String(i); });
  }

  async setRemoteDescription(desc) {
    this.currentRemoteDescription = desc;
    this.signalingState = 'stable';
  }

  close() { this.closed = true; }
}

const track = (kind) => ({kind, id: `${kind}-${Math.random()}`});
const profile = {width: 640, height: 480, frameRate: 15, bitrate: 900};

function harness({refuse = [], canPublish = () => true} = {}) {
  const requests = [];
  const events = [];
  const pcs = [];
  const slots = {audio: null, video: null, screen: null};
  const state = {generation: 1};
  const send = new SendTransport({
    createPeerConnection: () => { const pc = new FakePeerConnection(); pcs.push(pc); return pc; },
    request: async (type, data) => {
      requests.push([type, data]);
      if (type === 'publish' && state.onPublish) state.onPublish();
      if (type === 'publish' && refuse.length) throw refuse.shift();
      return type === 'publish' ? {sdp: `answer-${requests.length}`} : {};
    },
    emit: (event, data) => events.push([event, data]),
    local: (slot) => slots[slot],
    canPublish,
    generation: () => state.generation,
  });
  const publishes = () => requests.filter(([type]) => type === 'publish').map(([, d]) => d.tracks);
  return {send, requests, events, pcs, slots, state, publishes};
}

describe('publish requests', () => {
  test('the tracks are the sending transceivers with a mid, as kind and stream type', () => {
    const senders = {audio: {direction: 'sendonly', mid: '0'}, video: {direction: 'inactive', mid: '1'},
      screen: {direction: 'sendonly', mid: '2'}};
    assert.deepEqual(publishTracks(senders), [{kind: 'audio', streamType: 'main', mid: '0'},
      {kind: 'video', streamType: 'sub', mid: '2'}]);
    assert.deepEqual(publishTracks({audio: {direction: 'sendonly', mid: null}, video: null, screen: null}), []);
  });

  test('state changes between two sets of published slots, in slot order', () => {
    assert.deepEqual(publishChanges(new Set(['video', 'audio']), new Set(['screen', 'audio'])), [
      {mediaType: 'video', state: 'stopped'}, {mediaType: 'screen', state: 'started'}]);
  });
});

describe('one connection per membership', () => {
  test('start, stop and start again use one connection and one transceiver per slot', async () => {
    const {send, slots, pcs, events, publishes} = harness();
    slots.audio = {track: track('audio'), publish: true, mute: false};
    slots.video = {track: track('video'), publish: true, mute: false, profile};
    await send.sync();
    assert.deepEqual(publishes(), [[{kind: 'audio', streamType: 'main', mid: '0'}, {kind: 'video', streamType: 'main', mid: '1'}]]);
    assert.deepEqual(events.map(([, d]) => d), [{mediaType: 'audio', state: 'started'}, {mediaType: 'video', state: 'started'}]);
    assert.deepEqual(pcs[0].transceivers[1].sender.params.encodings[0], {maxBitrate: 900000, maxFramerate: 15});

    slots.video = null; // stopLocalVideo
    await send.sync();
    const video = pcs[0].transceivers[1];
    assert.deepEqual([video.direction, video.sender.track], ['inactive', null]);
    assert.deepEqual(publishes()[1], [{kind: 'audio', streamType: 'main', mid: '0'}]);
    assert.deepEqual(events.at(-1)[1], {mediaType: 'video', state: 'stopped'});

    const again = track('video');
    slots.video = {track: again, publish: true, mute: false, profile};
    await send.sync();
    assert.equal(pcs.length, 1);
    assert.equal(pcs[0].transceivers.length, 2);
    assert.deepEqual([video.direction, video.sender.track], ['sendonly', again]);
    assert.equal(publishes()[2].length, 2);
  });

  test('nothing changed: no new offer; nothing to publish and no connection: none is made', async () => {
    const {send, slots, pcs, publishes} = harness();
    await send.sync();
    assert.equal(pcs.length, 0);
    slots.audio = {track: track('audio'), publish: true, mute: false};
    await send.sync();
    await send.sync();
    assert.equal(publishes().length, 1);
  });

  test('a slot started muted is published, then muted on the server', async () => {
    const {send, slots, requests} = harness();
    slots.audio = {track: track('audio'), publish: true, mute: true};
    await send.sync();
    assert.deepEqual(requests.map(([type, d]) => [type, d.muted]), [['publish', undefined], ['mute', true]]);
    assert.deepEqual(requests[1][1], {kind: 'audio', muted: true, streamType: 'main'});
  });

  test('publish: false keeps the capture off the connection', async () => {
    const {send, slots, publishes} = harness();
    slots.audio = {track: track('audio'), publish: true, mute: false};
    slots.video = {track: track('video'), publish: false, mute: false, profile};
    await send.sync();
    assert.deepEqual(publishes()[0].map((t) => t.kind), ['audio']);
  });

  test('the audience role stops sending on the kept connection', async () => {
    const {send, slots, pcs, events} = harness();
    slots.audio = {track: track('audio'), publish: true, mute: false};
    await send.sync();
    await send.stopSending();
    assert.equal(pcs[0].transceivers[0].sender.track, null);
    assert.ok(!pcs[0].closed);
    assert.ok(!send.isPublished('audio'));
    assert.deepEqual(events.at(-1)[1], {mediaType: 'audio', state: 'stopped'});
  });
});

describe('refusals and stale work', () => {
  test('a refused first publish closes the connection; the error reaches the caller', async () => {
    const refused = new RtcError({code: 5100, extraCode: 5104});
    const {send, slots, pcs} = harness({refuse: [refused]});
    slots.audio = {track: track('audio'), publish: true, mute: false};
    await assert.rejects(send.sync(), (e) => e === refused);
    assert.ok(pcs[0].closed);
    assert.equal(send.pc, null);
  });

  test('a refused later publish rolls back and keeps the established connection', async () => {
    const refuse = [];
    const {send, slots, pcs, publishes} = harness({refuse});
    slots.audio = {track: track('audio'), publish: true, mute: false};
    await send.sync();
    const refused = new RtcError({code: 5400, extraCode: -100203});
    refuse.push(refused);
    slots.video = {track: track('video'), publish: true, mute: false, profile};
    await assert.rejects(send.sync(), (e) => e === refused);
    assert.ok(pcs[0].rolledBack && !pcs[0].closed);
    assert.equal(send.pc, pcs[0]);
    await send.sync(); // the next sync retries the slot that did not get published
    assert.deepEqual(publishes().at(-1).map((t) => t.kind), ['audio', 'video']);
  });

  test('an answer for an older membership is not applied', async () => {
    const {send, slots, pcs, state} = harness();
    slots.audio = {track: track('audio'), publish: true, mute: false};
    state.onPublish = () => { state.generation += 1; }; // the membership changed while the publish was in flight
    await send.sync();
    assert.equal(pcs[0].currentRemoteDescription, null);
    assert.ok(!send.isPublished('audio'));
  });

  test('nothing is published while the session may not publish', async () => {
    const {send, slots, pcs} = harness({canPublish: () => false});
    slots.audio = {track: track('audio'), publish: true, mute: false};
    await send.sync();
    assert.equal(pcs.length, 0);
  });
});

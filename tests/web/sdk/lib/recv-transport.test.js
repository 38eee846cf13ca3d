// The receive transport (src/relayroom/web/sdk/lib/recv-transport.js): remote tracks are labelled from
// the offer's stream table, offers are applied in order, an offer sent again gets the same answer, and an
// offer for an old membership is dropped.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {RtcError} from '../../../../src/relayroom/web/sdk/lib/errors.js';
import {RecvTransport, labelTracks, streamTable} from '../../../../src/relayroom/web/sdk/lib/recv-transport.js';

const transceiver = (mid) => ({mid, receiver: {track: {id: `track-${mid}`}}});

describe('labelling', () => {
  test('the stream table maps mids to user, kind and stream type (main by default)', () => {
    const table = streamTable([
      {mid: 0, userId: 7, kind: 'audio', producerId: 'p0'},
      {mid: '1', userId: 'bob', kind: 'video', streamType: 'sub'},
      {mid: null, userId: 'carol', kind: 'video'},
    ]);
    assert.deepEqual([...table.keys()], ['0', '1']);
    assert.deepEqual(table.get('0'), {userId: '7', kind: 'audio', streamType: 'main', producerId: 'p0'});
    assert.deepEqual(streamTable(undefined), new Map());
  });

  test('transceivers the table names become tracks keyed by user, kind and stream type', () => {
    const table = streamTable([{mid: '0', userId: 'bob', kind: 'audio'}, {mid: '2', userId: 'bob', kind: 'video', streamType: 'sub'}]);
    const tracks = labelTracks([transceiver('0'), transceiver('1'), transceiver(null), transceiver('2')], table);
    assert.deepEqual([...tracks.keys()], ['bob|audio|main', 'bob|video|sub']);
    assert.equal(tracks.get('bob|video|sub').track.id, 'track-2');
    assert.equal(tracks.get('bob|video|sub').mid, '2');
  });
});

class FakePeerConnection {
  constructor(log) {
    this.log = log;
    this.transceivers = [];
    this.localDescription = null;
  }

  async setRemoteDescription(desc) {
    this.log.push(['remote', desc.sdp]);
    if (desc.sdp === 'broken') throw new Error('bad sdp');
    this.transceivers = desc.sdp.split(',').map((mid) => transceiver(mid));
  }

  async createAnswer() { return {type: 'answer', sdp: 'answer'}; }
  async setLocalDescription(desc) { this.localDescription = desc; }
  getTransceivers() { return this.transceivers; }
  close() { this.log.push(['close']); }
}

function harness({current = () => true, requestFails = null} = {}) {
  const log = [];
  const recv = new RecvTransport({
    createPeerConnection: () => new FakePeerConnection(log),
    request: async (type, data) => {
      log.push([type, data.negotiationId]);
      if (requestFails) throw requestFails;
    },
    isCurrent: current,
    onTracks: (next, previous) => log.push(['tracks', [...previous.keys()], [...next.keys()]]),
    onError: (e) => log.push(['error', e.code]),
  });
  const settle = () => new Promise((resolve) => { setTimeout(resolve, 10); });
  return {recv, log, settle};
}

describe('offers', () => {
  test('offers are applied in order; each answer follows its tracks', async () => {
    const {recv, log, settle} = harness();
    recv.receive({negotiationId: 1, sdp: '0', streams: [{mid: '0', userId: 'bob', kind: 'audio'}]}, 1);
    recv.receive({negotiationId: 2, sdp: '0,1', streams: [{mid: '0', userId: 'bob', kind: 'audio'},
      {mid: '1', userId: 'bob', kind: 'video'}]}, 1);
    await settle();
    assert.deepEqual(log, [
      ['remote', '0'], ['tracks', [], ['bob|audio|main']], ['answer', 1],
      ['remote', '0,1'], ['tracks', ['bob|audio|main'], ['bob|audio|main', 'bob|video|main']], ['answer', 2],
    ]);
    assert.equal(recv.tracks.size, 2);
  });

  test('an offer for an older membership is dropped without a word', async () => {
    const {recv, log, settle} = harness({current: (generation) => generation === 2});
    recv.receive({negotiationId: 1, sdp: '0', streams: []}, 1);
    await settle();
    assert.deepEqual(log, []);
  });

  test('an offer that cannot be applied is an error event (5500); later offers still apply', async () => {
    const {recv, log, settle} = harness();
    recv.receive({negotiationId: 1, sdp: 'broken'}, 1);
    recv.receive({negotiationId: 2, sdp: '0', streams: []}, 1);
    await settle();
    assert.deepEqual(log.filter(([k]) => k === 'error' || k === 'answer'), [['error', 5500], ['answer', 2]]);
  });

  test('an answer lost with the socket is not an error: the server offers again after resume', async () => {
    const {recv, log, settle} = harness({requestFails: new RtcError({code: 5998, extraCode: 5502})});
    recv.receive({negotiationId: 1, sdp: '0', streams: []}, 1);
    await settle();
    assert.ok(!log.some(([k]) => k === 'error'));
  });

  test('an offer the server sends again gets the same answer without renegotiating', async () => {
    const {recv, log, settle} = harness();
    recv.receive({negotiationId: 1, sdp: '0', streams: []}, 1);
    recv.receive({negotiationId: 1, sdp: '0', streams: []}, 1); // our answer had not arrived yet
    recv.receive({negotiationId: 2, sdp: '0,1', streams: []}, 1);
    recv.receive({negotiationId: 1, sdp: '0', streams: []}, 1); // stale
    await settle();
    assert.deepEqual(log.filter(([k]) => k === 'remote' || k === 'answer'),
      [['remote', '0'], ['answer', 1], ['answer', 1], ['remote', '0,1'], ['answer', 2]]);
  });

  test('a 5100 for an answer the server already had is not an error', async () => {
    const {recv, log, settle} = harness({requestFails: new RtcError({code: 5100})});
    recv.receive({negotiationId: 1, sdp: '0', streams: []}, 1);
    await settle();
    assert.ok(!log.some(([k]) => k === 'error'));
  });

  test('a new membership answers its own offers from negotiationId 1 again', async () => {
    let generation = 1;
    const {recv, log, settle} = harness({current: (g) => g === generation});
    recv.receive({negotiationId: 3, sdp: '0', streams: []}, 1);
    await settle();
    generation = 2;
    recv.teardown();
    recv.receive({negotiationId: 1, sdp: '0', streams: []}, 2);
    await settle();
    assert.deepEqual(log.filter(([k]) => k === 'answer'), [['answer', 3], ['answer', 1]]);
  });

  test('teardown closes the connection and forgets its tracks', async () => {
    const {recv, log, settle} = harness();
    recv.receive({negotiationId: 1, sdp: '0', streams: [{mid: '0', userId: 'bob', kind: 'audio'}]}, 1);
    await settle();
    recv.teardown();
    assert.deepEqual(log.at(-1), ['close']);
    assert.equal(recv.pc, null);
    assert.equal(recv.tracks.size, 0);
  });
});

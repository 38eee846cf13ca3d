// The client's model of the room (src/relayroom/web/sdk/lib/remote-users.js): a state machine that
// emits an event only when the model changes.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {RemoteUsers} from '../../../../src/relayroom/web/sdk/lib/remote-users.js';

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function model() {
  const log = [];
  const users = new RemoteUsers({
    emit: (event, data) => log.push([event, data]),
    onSeen: (userId) => log.push(['seen', userId]),
    onGone: (userId) => log.push(['gone', userId]),
  });
  /** What happened since the last call, without the sightings. */
  const events = () => {
    const out = log.filter(([name]) => name !== 'seen');
    log.length = 0;
    return out;
  };
  return {users, log, events};
}

describe('events', () => {
  test('a user enters once, however often they are seen; each sighting resends subscriptions', () => {
    const {users, log} = model();
    users.seen('bob');
    users.seen('bob');
    assert.deepEqual(log, [['remote-user-enter', {userId: 'bob'}], ['seen', 'bob'], ['seen', 'bob']]);
  });

  test('stream changes are emitted once per change, with reason; video carries its stream type', () => {
    const {users, events} = model();
    users.setStream('bob', 'video', 'main', true);
    users.setStream('bob', 'video', 'main', true);
    users.setStream('bob', 'audio', 'main', true);
    users.setStream('bob', 'audio', 'main', false, 'mute');
    users.setStream('bob', 'video', 'sub', false);
    assert.deepEqual(events(), [
      ['remote-user-enter', {userId: 'bob'}],
      ['remote-video-available', {userId: 'bob', streamType: 'main'}],
      ['remote-audio-available', {userId: 'bob'}],
      ['remote-audio-unavailable', {userId: 'bob', reason: 'mute'}],
    ]);
    assert.ok(users.isAvailable('bob', 'video'));
    assert.ok(!users.isAvailable('bob', 'audio'));
    assert.deepEqual(users.list(), [{userId: 'bob', streams: {'video|main': true, 'audio|main': false}}]);
  });

  test('an unavailable stream of an unknown user changes nothing', () => {
    const {users, events} = model();
    users.setStream('ghost', 'video', 'main', false);
    assert.deepEqual(events(), []);
    assert.ok(!users.has('ghost'));
  });

  test('leaving makes the available streams unavailable first, then cleans up, then exits', () => {
    const {users, events} = model();
    users.setStream('bob', 'video', 'main', true);
    users.setStream('bob', 'audio', 'main', true);
    events();
    users.gone('bob', 2);
    users.gone('bob', 2);
    assert.deepEqual(events(), [
      ['remote-video-unavailable', {userId: 'bob', streamType: 'main'}],
      ['remote-audio-unavailable', {userId: 'bob'}],
      ['gone', 'bob'],
      ['remote-user-exit', {userId: 'bob', reason: 2}],
    ]);
    users.seen('carol');
    events();
    users.gone('carol', 'kick');
    assert.deepEqual(events().at(-1), ['remote-user-exit', {userId: 'carol', reason: 0}]);
  });
});

describe('reconcile (enter and resume responses)', () => {
  test('members enter with their streams; streams no longer listed become unavailable', () => {
    const {users, events} = model();
    users.reconcile([{userId: 'bob', streams: [{kind: 'audio'}, {kind: 'video', streamType: 'sub'}]}], 0);
    assert.deepEqual(events(), [
      ['remote-user-enter', {userId: 'bob'}],
      ['remote-audio-available', {userId: 'bob'}],
      ['remote-video-available', {userId: 'bob', streamType: 'sub'}],
    ]);
    users.reconcile([{userId: 'bob', streams: [{kind: 'audio', muted: true}]}], 0);
    assert.deepEqual(events(), [
      ['remote-audio-unavailable', {userId: 'bob'}],
      ['remote-video-unavailable', {userId: 'bob', streamType: 'sub'}],
    ]);
  });

  test('without grace, known users missing from the list leave at once with reason 0', () => {
    const {users, events} = model();
    users.seen('bob');
    users.seen('carol');
    events();
    users.reconcile([{userId: 'carol', streams: []}], 0);
    assert.deepEqual(events(), [['gone', 'bob'], ['remote-user-exit', {userId: 'bob', reason: 0}]]);
  });

  test('after a re-entry, missing users get a grace: back in time they stay, else they leave with reason 1', async () => {
    const {users, events} = model();
    users.seen('bob');
    users.seen('carol');
    events();
    users.reconcile([], 30);
    assert.deepEqual(events(), []);
    users.seen('bob'); // bob re-entered in time
    await sleep(80);
    assert.deepEqual(events(), [['gone', 'carol'], ['remote-user-exit', {userId: 'carol', reason: 1}]]);
    assert.deepEqual(users.userIds(), ['bob']);
  });

  test('lost media makes every stream unavailable but keeps the users; clear forgets silently', async () => {
    const {users, events} = model();
    users.setStream('bob', 'video', 'main', true);
    users.seen('carol');
    events();
    users.streamsLost();
    assert.deepEqual(events(), [['remote-video-unavailable', {userId: 'bob', streamType: 'main'}]]);
    assert.deepEqual(users.userIds(), ['bob', 'carol']);
    users.reconcile([], 20);
    assert.deepEqual(users.clear(), ['bob', 'carol']);
    await sleep(50); // the pending exits were cancelled with the model
    assert.deepEqual(events(), []);
  });
});

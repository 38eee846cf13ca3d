// Reconnecting (src/relayroom/web/sdk/lib/reconnect.js): the order of the steps and the retry policy,
// with the steps faked.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {RtcError} from '../../../../src/relayroom/web/sdk/lib/errors.js';
import {
  FIRST_DELAY_MS, MAX_DELAY_MS, Reconnector, isFinalRefusal, nextDelay, recoveryPlan,
} from '../../../../src/relayroom/web/sdk/lib/reconnect.js';

const serverError = (extraCode) => new RtcError({code: 5400, extraCode});

/** A Reconnector whose steps record themselves; `fail[step]` is a list of errors to throw in turn. */
function harness({fail = {}, idleTimeoutS = 90} = {}) {
  const calls = [];
  const delays = [];
  const clock = {now: 0};
  const state = {active: true, connected: false, done: null};
  const step = (name, effect) => async () => {
    calls.push(name);
    const queue = fail[name];
    if (queue && queue.length) throw queue.shift();
    if (effect) effect();
  };
  const r = new Reconnector({
    active: () => state.active,
    connected: () => state.connected,
    open: step('open', () => { state.connected = true; }),
    resume: step('resume'),
    leave: step('leave'),
    enter: step('enter'),
    mediaLost: () => calls.push('mediaLost'),
    closeSocket: () => { calls.push('closeSocket'); state.connected = false; },
    idleTimeoutS: () => idleTimeoutS,
    onStart: () => calls.push('start'),
    onRecovered: () => { state.done = 'recovered'; },
    onFailed: (e) => { state.done = e; },
    sleep: async (ms) => { delays.push(ms); clock.now += ms; },
    now: () => clock.now,
  });
  return {r, calls, delays, state};
}

describe('policy', () => {
  test('a socket drop resumes; a lost membership or lost media enters again, leaving first when it may exist', () => {
    assert.deepEqual(recoveryPlan('socket'), {needsEnter: false, leaveFirst: false});
    assert.deepEqual(recoveryPlan('gone'), {needsEnter: true, leaveFirst: false});
    assert.deepEqual(recoveryPlan('media'), {needsEnter: true, leaveFirst: true});
    assert.deepEqual(recoveryPlan('not_in_room'), {needsEnter: true, leaveFirst: true});
  });

  test('negative server codes are final except "room full"; others are retried', () => {
    assert.ok(isFinalRefusal(serverError(-100018)));
    assert.ok(!isFinalRefusal(serverError(-100202)));
    assert.ok(!isFinalRefusal(serverError(-100212))); // cluster: the room runs elsewhere (redirect)
    assert.ok(!isFinalRefusal(serverError(-100213))); // cluster: shared state briefly unreachable
    assert.ok(!isFinalRefusal(serverError(5503)));
    assert.ok(!isFinalRefusal(new RtcError({code: 5998, extraCode: 5502})));
    assert.ok(!isFinalRefusal(new Error('network')));
  });

  test('the backoff doubles up to its cap', () => {
    const delays = [FIRST_DELAY_MS];
    while (delays.length < 8) delays.push(nextDelay(delays.at(-1)));
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
    assert.equal(MAX_DELAY_MS, 4000);
  });
});

describe('runs', () => {
  test('a dropped socket: open a new one and resume, media untouched', async () => {
    const {r, calls, state} = harness();
    await r.recover('socket');
    assert.deepEqual(calls, ['start', 'open', 'resume']);
    assert.equal(state.done, 'recovered');
    assert.ok(!r.running);
  });

  test('a refused resume token: media is dropped and the room entered again', async () => {
    const {r, calls, state} = harness({fail: {resume: [serverError(-100209)]}});
    await r.recover('socket');
    assert.deepEqual(calls, ['start', 'open', 'resume', 'mediaLost', 'enter']);
    assert.equal(state.done, 'recovered');
  });

  test('lost media: drop ours, leave the old membership, enter again', async () => {
    const {r, calls} = harness();
    await r.recover('media');
    assert.deepEqual(calls, ['start', 'mediaLost', 'open', 'leave', 'enter']);
  });

  test('a worker death: no leave, the membership is gone', async () => {
    const {r, calls} = harness();
    await r.recover('gone');
    assert.deepEqual(calls, ['start', 'mediaLost', 'open', 'enter']);
  });

  test('a failed entry is retried with backoff, leaving the partial membership first', async () => {
    const {r, calls, delays, state} = harness({fail: {enter: [serverError(-100202), new Error('publish failed')]}});
    await r.recover('gone');
    assert.deepEqual(calls, ['start', 'mediaLost', 'open', 'enter', 'mediaLost', 'leave', 'enter', 'mediaLost', 'leave', 'enter']);
    assert.deepEqual(delays, [250, 500]);
    assert.equal(state.done, 'recovered');
  });

  test('a timed-out request closes the socket before the next attempt', async () => {
    const {r, calls} = harness({fail: {resume: [serverError(5503)]}});
    await r.recover('socket');
    assert.deepEqual(calls, ['start', 'open', 'resume', 'closeSocket', 'open', 'resume']);
  });

  test('a final refusal stops at once and reports', async () => {
    const refused = serverError(-100018);
    const {r, calls, delays, state} = harness({fail: {enter: [refused]}});
    await r.recover('gone');
    assert.deepEqual(calls, ['start', 'mediaLost', 'open', 'enter']);
    assert.deepEqual(delays, []);
    assert.equal(state.done, refused);
  });

  test('it gives up at the room\'s idle timeout with the last error', async () => {
    const errors = Array.from({length: 100}, () => new Error('unreachable'));
    const {r, delays, state} = harness({fail: {open: errors}, idleTimeoutS: 10});
    await r.recover('socket');
    assert.equal(state.done.message, 'unreachable');
    const waited = delays.reduce((a, b) => a + b, 0);
    assert.ok(waited <= 10000 && waited + 4000 > 10000, `waited ${waited} ms`);
  });

  test('a second cause joins the running recovery; lost media turns a resume into a re-entry', async () => {
    const {r, calls} = harness({fail: {open: [new Error('not yet')]}});
    const first = r.recover('socket');
    const second = r.recover('media');
    assert.equal(first, second);
    await first;
    // the failed attempt happened after the upgrade: the old membership is left before entering again
    assert.deepEqual(calls, ['start', 'open', 'mediaLost', 'open', 'leave', 'enter']);
  });

  test('nothing is reported when the room was left meanwhile', async () => {
    const {r, state} = harness({fail: {open: [new Error('x')]}});
    const run = r.recover('socket');
    state.active = false;
    await run;
    assert.equal(state.done, null);
  });
});

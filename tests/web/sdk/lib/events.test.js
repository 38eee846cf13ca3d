// The SDK's event emitter (src/relayroom/web/sdk/lib/events.js).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {Emitter} from '../../../../src/relayroom/web/sdk/lib/events.js';

test('listeners get the data in order with their context; once fires once', () => {
  const e = new Emitter();
  const seen = [];
  const ctx = {name: 'ctx'};
  e.on('x', function (d) { seen.push(['on', d, this]); }, ctx);
  e.on('x', (d) => seen.push(['once', d]), undefined, true);
  e.emit('x', 1);
  e.emit('x', 2);
  assert.deepEqual(seen, [['on', 1, ctx], ['once', 1], ['on', 2, ctx]]);
  assert.ok(e.hasListeners('x'));
  assert.ok(!e.hasListeners('y'));
});

test('off removes one handler, every handler of an event, or everything', () => {
  const e = new Emitter();
  const seen = [];
  const a = () => seen.push('a');
  const b = () => seen.push('b');
  e.on('x', a);
  e.on('x', b);
  e.on('y', a);
  e.off('x', a);
  e.emit('x');
  e.off('x');
  e.emit('x');
  e.emit('y');
  e.off('*');
  e.emit('y');
  assert.deepEqual(seen, ['b', 'a']);
});

test('a throwing listener is reported and the others still run', () => {
  const reported = [];
  const e = new Emitter((err) => reported.push(err.message));
  const seen = [];
  e.on('x', () => { throw new Error('app bug'); });
  e.on('x', () => seen.push('second'));
  e.emit('x');
  assert.deepEqual(reported, ['app bug']);
  assert.deepEqual(seen, ['second']);
});

test('a listener that removes another during an emit does not skip the rest of this emit', () => {
  const e = new Emitter();
  const seen = [];
  const b = () => seen.push('b');
  e.on('x', () => { seen.push('a'); e.off('x', b); });
  e.on('x', b);
  e.emit('x');
  e.emit('x');
  assert.deepEqual(seen, ['a', 'b', 'a']);
});

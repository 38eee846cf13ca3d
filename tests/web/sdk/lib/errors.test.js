// Error mapping of the browser SDK (src/relayroom/web/sdk/lib/errors.js): server codes and browser
// device errors onto TRTC's RtcError.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {RtcError, asRtcError, deviceError, fromServerError} from '../../../../src/relayroom/web/sdk/lib/errors.js';

const codes = (e) => [e.code, e.extraCode, e.functionName];

describe('server errors', () => {
  test('TRTC\'s fine codes become their class with the fine code as extraCode', () => {
    assert.deepEqual(codes(fromServerError({code: 5013, message: 'bad'}, 'enterRoom')), [5000, 5013, 'enterRoom']);
    assert.deepEqual(codes(fromServerError({code: 5102}, 'subscribe')), [5100, 5102, 'subscribe']);
  });

  test('negative entry codes (UserSig, PrivateMapKey, RelayRoom\'s own) are 5400 with the code as extraCode', () => {
    for (const code of [-100018, -100006, -100202, -100209]) {
      assert.deepEqual(codes(fromServerError({code}, 'enterRoom')), [5400, code, 'enterRoom']);
    }
  });

  test('class codes pass through with their extraCode; anything else is 5999', () => {
    assert.deepEqual(codes(fromServerError({code: 5500, extraCode: 5501})), [5500, 5501, '']);
    assert.deepEqual(codes(fromServerError({code: 5000})), [5000, 0, '']);
    assert.deepEqual(codes(fromServerError({code: 404})), [5999, 404, '']);
    assert.deepEqual(codes(fromServerError(null)), [5999, 0, '']);
    assert.equal(fromServerError({code: 5400}).message, 'request refused');
  });
});

describe('device errors', () => {
  test('each DOMException name has its extraCode; the cause is kept', () => {
    const table = {NotFoundError: 5301, NotAllowedError: 5302, PermissionDeniedError: 5302, NotReadableError: 5303,
      OverconstrainedError: 5304, InvalidStateError: 5305, SecurityError: 5306, AbortError: 5307};
    for (const [name, extra] of Object.entries(table)) {
      const cause = {name, message: 'no'};
      const e = deviceError(cause, 'startLocalVideo');
      assert.deepEqual(codes(e), [5300, extra, 'startLocalVideo'], name);
      assert.equal(e.cause, cause);
      assert.equal(e.message, `${name}: no`);
    }
  });

  test('unknown names (inherited property names too) have no extraCode', () => {
    assert.equal(deviceError({name: 'TypeError'}, 'f').extraCode, 0);
    assert.equal(deviceError({name: 'constructor'}, 'f').extraCode, 0);
    assert.equal(deviceError(undefined, 'f').message, 'Error: device error');
  });
});

describe('RtcError', () => {
  test('has TRTC\'s shape and a readable toString', () => {
    const e = new RtcError({code: 5000, extraCode: 5012, message: 'roomId', functionName: 'enterRoom'});
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'RtcError');
    assert.equal(String(e), 'RtcError: roomId <code=5000 extraCode=5012>');
    assert.equal(String(new RtcError({code: 5100})), 'RtcError: error 5100 <code=5100>');
  });

  test('asRtcError keeps RtcErrors and wraps anything else', () => {
    const e = new RtcError({code: 5400});
    assert.equal(asRtcError(e, 'f'), e);
    assert.deepEqual(codes(asRtcError(new Error('boom'), 'enterRoom')), [5999, 0, 'enterRoom']);
    const wrapped = asRtcError(new Error('boom'), 'publish', 5500, 'publish failed');
    assert.deepEqual([wrapped.code, wrapped.message], [5500, 'publish failed: boom']);
  });
});

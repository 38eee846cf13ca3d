// Parameter checks of the browser SDK (src/relayroom/web/sdk/lib/validate.js): TRTC's rules and codes.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {EXTRA_CODE, SCREEN_PROFILES, VIDEO_PROFILES} from '../../../../src/relayroom/web/sdk/lib/constants.js';
import {RtcError} from '../../../../src/relayroom/web/sdk/lib/errors.js';
import {
  nodeSignalUrl, profileOf, signalUrl, validateCustomMessage, validateEnterRoomParams, validateRoom, validateStreamType,
  validateUserId, validateVolume,
} from '../../../../src/relayroom/web/sdk/lib/validate.js';

/** The RtcError `fn` throws, as [code, extraCode, functionName]. */
function refusal(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof RtcError, `not an RtcError: ${e}`);
    return [e.code, e.extraCode, e.functionName];
  }
  assert.fail('did not throw');
}

const base = {sdkAppId: 1400000001, userId: 'alice', userSig: 'sig', roomId: 8888};

describe('userId', () => {
  test('1..32 bytes of [a-zA-Z0-9_-] pass and are returned', () => {
    assert.equal(validateUserId('A-z_9'), 'A-z_9');
    assert.equal(validateUserId('x'.repeat(32)), 'x'.repeat(32));
  });

  test('empty, too long, other characters and non-strings are 5000 for the calling function', () => {
    for (const bad of ['', 'x'.repeat(33), 'a b', 'ü', 'a/b', 42, null, undefined]) {
      assert.deepEqual(refusal(() => validateUserId(bad, 'startRemoteVideo')), [5000, 0, 'startRemoteVideo'], String(bad));
    }
  });
});

describe('room ids', () => {
  test('roomId 1..4294967294 passes; roomId wins over strRoomId', () => {
    assert.deepEqual(validateRoom(1), {roomId: 1});
    assert.deepEqual(validateRoom(4294967294, 'ignored/invalid'), {roomId: 4294967294});
  });

  test('a string roomId is 5016: "123" is not 123', () => {
    assert.deepEqual(refusal(() => validateRoom('123')), [5000, EXTRA_CODE.ROOM_ID_NOT_NUMBER, 'enterRoom']);
  });

  test('out of range or not an integer is 5012', () => {
    for (const bad of [0, -1, 4294967295, 1.5, NaN, Infinity, true]) {
      assert.deepEqual(refusal(() => validateRoom(bad)), [5000, EXTRA_CODE.ROOM_ID_OUT_OF_RANGE, 'enterRoom'], String(bad));
    }
  });

  test('strRoomId: 1..64 bytes of TRTC\'s charset, else 5013', () => {
    assert.deepEqual(validateRoom(undefined, 'Room 1 !#$%&()+-:;<=.>?@[]^_{}|~,'), {strRoomId: 'Room 1 !#$%&()+-:;<=.>?@[]^_{}|~,'});
    assert.deepEqual(validateRoom(null, 'x'.repeat(64)), {strRoomId: 'x'.repeat(64)});
    for (const bad of ['', 'x'.repeat(65), 'a/b', 'ü', 'a"b', 7]) {
      assert.deepEqual(refusal(() => validateRoom(null, bad)), [5000, EXTRA_CODE.STR_ROOM_ID_INVALID, 'enterRoom'], String(bad));
    }
  });

  test('neither is 5015', () => {
    assert.deepEqual(refusal(() => validateRoom(undefined, null)), [5000, EXTRA_CODE.ROOM_ID_MISSING, 'enterRoom']);
  });
});

describe('enterRoom parameters', () => {
  test('defaults are TRTC\'s: rtc, anchor, audio received automatically, video not', () => {
    assert.deepEqual(validateEnterRoomParams(base), {sdkAppId: 1400000001, userId: 'alice', userSig: 'sig', roomId: 8888,
      scene: 'rtc', role: 'anchor', autoReceiveAudio: true, autoReceiveVideo: false});
  });

  test('privateMapKey and consentToken are sent only when given; serverUrl is not sent', () => {
    const data = validateEnterRoomParams({...base, privateMapKey: 'pmk', consentToken: 'ct', serverUrl: 'wss://h/signal'});
    assert.equal(data.privateMapKey, 'pmk');
    assert.equal(data.consentToken, 'ct');
    assert.ok(!('serverUrl' in data));
    assert.ok(!('privateMapKey' in validateEnterRoomParams({...base, privateMapKey: ''})));
  });

  test('every bad option is 5000 before anything else happens', () => {
    const bad = [
      null, 'x', {...base, sdkAppId: 0}, {...base, sdkAppId: '1400000001'}, {...base, sdkAppId: 2 ** 32},
      {...base, userSig: ''}, {...base, scene: 'meeting'}, {...base, role: 'host'}, {...base, privateMapKey: 5},
      {...base, autoReceiveAudio: 'yes'}, {...base, autoReceiveVideo: 1}, {...base, serverUrl: 'ftp://h'},
      {...base, userId: 'a b'},
    ];
    for (const options of bad) assert.equal(refusal(() => validateEnterRoomParams(options))[0], 5000, JSON.stringify(options));
  });
});

describe('signalling URL', () => {
  test('the default is the page origin\'s /signal (outside a page: 127.0.0.1)', () => {
    assert.equal(signalUrl(), 'ws://127.0.0.1/signal');
  });

  test('http(s) becomes ws(s); a bare origin gets /signal; a ws URL with a path is kept', () => {
    assert.equal(signalUrl('https://rtc.example.com'), 'wss://rtc.example.com/signal');
    assert.equal(signalUrl('http://h:8080/'), 'ws://h:8080/signal');
    assert.equal(signalUrl('wss://rtc.example.com/custom'), 'wss://rtc.example.com/custom');
  });

  test('other schemes and broken URLs are 5000', () => {
    assert.equal(refusal(() => signalUrl('ftp://h'))[0], 5000);
    assert.equal(refusal(() => signalUrl('http://[::1'))[0], 5000);
  });
});

describe('profiles', () => {
  test('names map to TRTC\'s sizes, frame rates and bitrates', () => {
    assert.deepEqual(profileOf('480p', VIDEO_PROFILES, '480p', 'f'), {width: 640, height: 480, frameRate: 15, bitrate: 900});
    assert.deepEqual(profileOf(undefined, SCREEN_PROFILES, '1080p', 'f'), {width: 1920, height: 1080, frameRate: 5, bitrate: 1600});
  });

  test('an object gets 15 fps and a bitrate from its size when they are missing', () => {
    assert.deepEqual(profileOf({width: 640, height: 360}, VIDEO_PROFILES, '480p', 'f'),
      {width: 640, height: 360, frameRate: 15, bitrate: 432});
    assert.equal(profileOf({width: 640, height: 360, frameRate: 30, bitrate: 700}, VIDEO_PROFILES, '480p', 'f').bitrate, 700);
  });

  test('unknown names (inherited ones too) and bad sizes are 5000', () => {
    for (const bad of ['8K', 'constructor', {width: 0, height: 480}, {width: 640}, 42]) {
      assert.deepEqual(refusal(() => profileOf(bad, VIDEO_PROFILES, '480p', 'startLocalVideo')), [5000, 0, 'startLocalVideo']);
    }
  });
});

describe('custom messages, stream types, volumes', () => {
  test('cmdId 1..10 and 1..1024 bytes; a view is cut to its own bytes', () => {
    const bytes = new Uint8Array([9, 1, 2, 3, 9]);
    const cut = validateCustomMessage({cmdId: 10, data: bytes.subarray(1, 4)});
    assert.deepEqual([...new Uint8Array(cut)], [1, 2, 3]);
    assert.equal(validateCustomMessage({cmdId: 1, data: new ArrayBuffer(1024)}).byteLength, 1024);
    for (const bad of [{cmdId: 0, data: new ArrayBuffer(1)}, {cmdId: 11, data: new ArrayBuffer(1)},
      {cmdId: 1, data: new ArrayBuffer(0)}, {cmdId: 1, data: new ArrayBuffer(1025)}, {cmdId: 1, data: 'text'}, {}]) {
      assert.deepEqual(refusal(() => validateCustomMessage(bad)), [5000, 0, 'sendCustomMessage']);
    }
  });

  test('stream types are main or sub; volumes are ≥ 0 and clamped to 100', () => {
    assert.equal(validateStreamType('sub', 'f'), 'sub');
    assert.equal(refusal(() => validateStreamType('small', 'f'))[0], 5000);
    assert.equal(validateVolume(150, 'f'), 100);
    assert.equal(validateVolume(0, 'f'), 0);
    for (const bad of [-1, NaN, '50']) assert.equal(refusal(() => validateVolume(bad, 'f'))[0], 5000);
  });
});

describe('a cluster node\'s signalling URL (redirects)', () => {
  test('the public URL\'s scheme becomes ws(s) and /signal is added after any path prefix', () => {
    assert.equal(nodeSignalUrl('http://127.0.0.1:8081'), 'ws://127.0.0.1:8081/signal');
    assert.equal(nodeSignalUrl('https://rtc.example.com/eu/'), 'wss://rtc.example.com/eu/signal');
    assert.equal(nodeSignalUrl('wss://n2.example.com/signal'), 'wss://n2.example.com/signal');
  });

  test('other schemes and broken URLs are 5000', () => {
    assert.equal(refusal(() => nodeSignalUrl('ftp://h'))[0], 5000);
    assert.equal(refusal(() => nodeSignalUrl('not a url'))[0], 5000);
  });
});

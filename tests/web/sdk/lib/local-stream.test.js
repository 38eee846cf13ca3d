// Capture constraints of the local streams (src/relayroom/web/sdk/lib/local-stream.js).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {RtcError} from '../../../../src/relayroom/web/sdk/lib/errors.js';
import {audioConstraints, videoConstraints} from '../../../../src/relayroom/web/sdk/lib/local-stream.js';

test('microphone: the profile\'s channels, processing on unless turned off, a chosen device exactly', () => {
  assert.deepEqual(audioConstraints({}, 'startLocalAudio'),
    {channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true});
  assert.deepEqual(audioConstraints({profile: 'high-stereo', echoCancellation: false, microphoneId: 'mic-2'}, 'f'),
    {channelCount: 2, echoCancellation: false, noiseSuppression: true, autoGainControl: true, deviceId: {exact: 'mic-2'}});
});

test('an unknown audio profile is 5000', () => {
  assert.throws(() => audioConstraints({profile: 'studio'}, 'startLocalAudio'),
    (e) => e instanceof RtcError && e.code === 5000 && e.functionName === 'startLocalAudio');
});

test('camera: the profile as ideals; a camera id wins over front/back', () => {
  const profile = {width: 640, height: 480, frameRate: 15, bitrate: 900};
  assert.deepEqual(videoConstraints({}, profile), {width: {ideal: 640}, height: {ideal: 480}, frameRate: {ideal: 15}});
  assert.equal(videoConstraints({useFrontCamera: false}, profile).facingMode, 'environment');
  assert.equal(videoConstraints({useFrontCamera: true}, profile).facingMode, 'user');
  const both = videoConstraints({cameraId: 'cam-1', useFrontCamera: true}, profile);
  assert.deepEqual([both.deviceId, both.facingMode], [{exact: 'cam-1'}, undefined]);
});

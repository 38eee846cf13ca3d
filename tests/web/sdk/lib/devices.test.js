// The pure parts of TRTC's device and player API in the browser SDK: DEVICE_CHANGED from two device
// lists (devices.js), isSupported's report, the play states (player-events.js), what the audio slot sends
// while a screen share has audio (audio-mixer.js), and the H.264 codec preferences SEI needs.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {audioSource} from '../../../../src/relayroom/web/sdk/lib/audio-mixer.js';
import {codecSupport, deviceChanges, supportReport} from '../../../../src/relayroom/web/sdk/lib/devices.js';
import {playState} from '../../../../src/relayroom/web/sdk/lib/player-events.js';
import {h264Preferences} from '../../../../src/relayroom/web/sdk/lib/send-transport.js';

const dev = (kind, deviceId, label = deviceId) => ({kind, deviceId, label, groupId: 'g'});

describe('DEVICE_CHANGED', () => {
  test('removed devices, then added ones, typed camera/microphone/speaker', () => {
    const before = [dev('videoinput', 'cam1'), dev('audioinput', 'mic1'), dev('audiooutput', 'spk1')];
    const after = [dev('videoinput', 'cam1'), dev('videoinput', 'cam2'), dev('audiooutput', 'spk2')];
    assert.deepEqual(deviceChanges(before, after).map((c) => [c.type, c.action, c.device.deviceId]), [
      ['microphone', 'remove', 'mic1'], ['speaker', 'remove', 'spk1'], ['camera', 'add', 'cam2'], ['speaker', 'add', 'spk2'],
    ]);
  });

  test('nothing changed, hidden ids and unknown kinds give no events', () => {
    const list = [dev('videoinput', 'cam1'), dev('videoinput', ''), dev('other', 'x')];
    assert.deepEqual(deviceChanges(list, [...list].reverse()), []);
    assert.deepEqual(deviceChanges([], [dev('videoinput', ''), dev('other', 'x')]), []);
  });
});

describe('isSupported', () => {
  const caps = (...names) => ({codecs: names.map((n) => ({mimeType: `video/${n}`}))});

  test('TRTC\'s detail keys, from the browser\'s objects and codec capabilities', () => {
    const g = {
      RTCPeerConnection: function RTCPeerConnection() {},
      WebSocket: function WebSocket() {},
      VideoEncoder: function VideoEncoder() {},
      VideoDecoder: function VideoDecoder() {},
      RTCRtpSender: {getCapabilities: () => caps('VP8', 'H264', 'rtx')},
      RTCRtpReceiver: {getCapabilities: () => caps('VP8', 'H264', 'AV1')},
      navigator: {mediaDevices: {getUserMedia() {}, getDisplayMedia() {}}},
    };
    const {result, detail} = supportReport(g);
    assert.equal(result, true);
    assert.deepEqual(Object.keys(detail).sort(), ['isBrowserSupported', 'isH264DecodeSupported', 'isH264EncodeSupported',
      'isMediaDevicesSupported', 'isScreenShareSupported', 'isSmallStreamSupported', 'isVp8DecodeSupported',
      'isVp8EncodeSupported', 'isWebCodecsSupported', 'isWebRTCSupported']);
    assert.equal(detail.isH264EncodeSupported, true);
    assert.equal(detail.isSmallStreamSupported, true);
  });

  test('no WebRTC: not supported, every codec false', () => {
    const {result, detail} = supportReport({navigator: {}});
    assert.equal(result, false);
    assert.equal(detail.isWebRTCSupported, false);
    assert.equal(detail.isVp8DecodeSupported, false);
    assert.deepEqual([...codecSupport(caps('H264'), null).encode], ['h264']);
  });
});

describe('players, screen audio, codecs', () => {
  test('element and track events map onto TRTC\'s play states and reasons', () => {
    assert.deepEqual(playState('playing'), ['PLAYING', 'playing']);
    assert.deepEqual(playState('pause'), ['PAUSED', 'pause']);
    assert.deepEqual(playState('mute'), ['PAUSED', 'mute']);
    assert.deepEqual(playState('unmute'), ['PLAYING', 'unmute']);
    assert.deepEqual(playState('ended'), ['STOPPED', 'ended']);
    assert.equal(playState('waiting'), null);
  });

  test('the audio slot sends the microphone, the screen\'s audio, or both mixed', () => {
    assert.equal(audioSource({track: 1}, null), 'mic');
    assert.equal(audioSource(null, {kind: 'audio'}), 'screen');
    assert.equal(audioSource({track: 1}, {kind: 'audio'}), 'mix');
    assert.equal(audioSource(null, null), null);
  });

  test('H.264 packetization-mode 1 first (constrained baseline first), then rtx; null without H.264', () => {
    const codecs = [
      {mimeType: 'video/VP8'}, {mimeType: 'video/rtx'},
      {mimeType: 'video/H264', sdpFmtpLine: 'packetization-mode=1;profile-level-id=42001f'},
      {mimeType: 'video/H264', sdpFmtpLine: 'packetization-mode=0;profile-level-id=42e01f'},
      {mimeType: 'video/H264', sdpFmtpLine: 'packetization-mode=1;profile-level-id=42e01f'},
    ];
    assert.deepEqual(h264Preferences(codecs).map((c) => `${c.mimeType} ${c.sdpFmtpLine || ''}`.trim()), [
      'video/H264 packetization-mode=1;profile-level-id=42e01f',
      'video/H264 packetization-mode=1;profile-level-id=42001f',
      'video/rtx',
    ]);
    assert.equal(h264Preferences([{mimeType: 'video/VP8'}]), null);
  });
});

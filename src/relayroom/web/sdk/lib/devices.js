// Devices and the browser's capabilities: TRTC's statics (getCameraList/getMicrophoneList/getSpeakerList,
// getPermissions, isSupported, setCurrentSpeaker) and the events about devices (DEVICE_CHANGED,
// PERMISSION_STATE_CHANGE). The list diffing and the capability report are pure functions.

import {EVENT} from './constants.js';
import {deviceError} from './errors.js';
import {log} from './log.js';

const DEVICE_TYPE = Object.freeze({videoinput: 'camera', audioinput: 'microphone', audiooutput: 'speaker'});
const KIND_OF_TYPE = Object.freeze({camera: 'videoinput', microphone: 'audioinput', speaker: 'audiooutput'});

const mediaDevices = () => (typeof navigator !== 'undefined' && navigator.mediaDevices) || null;

/** DEVICE_CHANGED events between two enumerateDevices() lists: removed devices first, then added ones. */
export function deviceChanges(before, after) {
  const key = (d) => `${d.kind}|${d.deviceId}`;
  const known = (list) => list.filter((d) => DEVICE_TYPE[d.kind] && d.deviceId);
  const was = new Map(known(before).map((d) => [key(d), d]));
  const now = new Map(known(after).map((d) => [key(d), d]));
  const changes = [];
  for (const [k, d] of was) if (!now.has(k)) changes.push({type: DEVICE_TYPE[d.kind], action: 'remove', device: d});
  for (const [k, d] of now) if (!was.has(k)) changes.push({type: DEVICE_TYPE[d.kind], action: 'add', device: d});
  return changes;
}

/**
 * TRTC.getCameraList/getMicrophoneList/getSpeakerList(requestPermission = true): the devices of `type`.
 * Without the permission the browser hides the labels (and, in some browsers, the devices): then, as
 * trtc-sdk-v5 does, the device is opened for a moment to get the permission and closed again.
 */
export async function deviceList(type, requestPermission = true) {
  const md = mediaDevices();
  if (!md || !md.enumerateDevices) return [];
  const kind = KIND_OF_TYPE[type];
  let list = (await md.enumerateDevices()).filter((d) => d.kind === kind);
  const hidden = list.length === 0 || list.every((d) => !d.label);
  if (requestPermission && hidden && md.getUserMedia) {
    // speakers are listed with labels once the microphone is allowed
    let stream = null;
    try {
      stream = await md.getUserMedia(type === 'camera' ? {video: true} : {audio: true});
    } catch (e) {
      if (type !== 'speaker') throw deviceError(e, type === 'camera' ? 'getCameraList' : 'getMicrophoneList');
      log.info('no microphone permission: speakers without labels', e && e.name);
    } finally {
      if (stream) for (const t of stream.getTracks()) t.stop();
    }
    list = (await md.enumerateDevices()).filter((d) => d.kind === kind);
  }
  return list.filter((d) => d.deviceId !== '');
}

/** One permission's state: 'granted' | 'denied' | 'prompt', or null when the browser cannot say. */
async function permissionState(name) {
  try {
    return (await navigator.permissions.query({name})).state;
  } catch {
    return null;
  }
}

/** TRTC.getPermissions({request = true, types = ['camera', 'microphone']}). */
export async function getPermissions({request = true, types = ['camera', 'microphone']} = {}) {
  const wanted = types.filter((t) => t === 'camera' || t === 'microphone');
  const result = {camera: null, microphone: null};
  for (const t of wanted) result[t] = await permissionState(t);
  const ask = wanted.filter((t) => result[t] === 'prompt');
  const md = mediaDevices();
  if (request && ask.length && md && md.getUserMedia) {
    try {
      const stream = await md.getUserMedia({video: ask.includes('camera'), audio: ask.includes('microphone')});
      for (const track of stream.getTracks()) track.stop();
    } catch (e) {
      log.info('permission request refused', e && e.name);
    }
    for (const t of ask) result[t] = await permissionState(t);
  }
  return result;
}

/** The codecs a browser's capabilities list, as {encode, decode} sets of lower-case codec names. */
export function codecSupport(senderCaps, receiverCaps) {
  const names = (caps) => new Set(((caps && caps.codecs) || []).map((c) => String(c.mimeType).toLowerCase()
    .replace(/^video\//, '')));
  return {encode: names(senderCaps), decode: names(receiverCaps)};
}

/** TRTC.isSupported()'s result: {result, detail: {isBrowserSupported, isWebRTCSupported, isWebCodecsSupported,
 *  isMediaDevicesSupported, isScreenShareSupported, isSmallStreamSupported, isH264EncodeSupported,
 *  isH264DecodeSupported, isVp8EncodeSupported, isVp8DecodeSupported}}. */
export function supportReport(g = globalThis) {
  const webrtc = typeof g.RTCPeerConnection === 'function';
  const md = g.navigator && g.navigator.mediaDevices;
  const video = webrtc && g.RTCRtpSender && g.RTCRtpReceiver && typeof g.RTCRtpSender.getCapabilities === 'function'
    ? codecSupport(g.RTCRtpSender.getCapabilities('video'), g.RTCRtpReceiver.getCapabilities('video'))
    : {encode: new Set(), decode: new Set()};
  const detail = {
    isBrowserSupported: webrtc && typeof g.WebSocket === 'function',
    isWebRTCSupported: webrtc,
    isWebCodecsSupported: typeof g.VideoEncoder === 'function' && typeof g.VideoDecoder === 'function',
    isMediaDevicesSupported: !!(md && md.getUserMedia),
    isScreenShareSupported: !!(md && md.getDisplayMedia),
    // big + small as two simulcast encodings of the camera (docs/browser-sdk.md)
    isSmallStreamSupported: webrtc,
    isH264EncodeSupported: video.encode.has('h264'),
    isH264DecodeSupported: video.decode.has('h264'),
    isVp8EncodeSupported: video.encode.has('vp8'),
    isVp8DecodeSupported: video.decode.has('vp8'),
  };
  const result = detail.isBrowserSupported && detail.isMediaDevicesSupported &&
    (detail.isVp8EncodeSupported || detail.isH264EncodeSupported) && (detail.isVp8DecodeSupported || detail.isH264DecodeSupported);
  return {result, detail};
}

// TRTC.setCurrentSpeaker is static: every instance's audio elements play through the chosen output.
const speaker = {id: '', elements: new Set()};

/** Route `el` (a remote <audio>) to the current speaker; forget it with `forgetAudioElement`. */
export function useSpeaker(el) {
  speaker.elements.add(el);
  if (speaker.id && typeof el.setSinkId === 'function') el.setSinkId(speaker.id).catch(() => {});
}

export function forgetAudioElement(el) {
  speaker.elements.delete(el);
}

/** TRTC.setCurrentSpeaker(speakerId): every remote audio plays through that output from now on. */
export async function setCurrentSpeaker(speakerId) {
  speaker.id = speakerId;
  for (const el of speaker.elements) {
    if (typeof el.setSinkId === 'function') await el.setSinkId(speakerId);
  }
}

export function currentSpeaker() {
  return speaker.id;
}

/**
 * DEVICE_CHANGED (devices plugged or unplugged; a device becoming active) and PERMISSION_STATE_CHANGE
 * for one instance, from the browser's `devicechange` event and permission statuses.
 */
export class DeviceWatcher {
  /** emit(event, data) */
  constructor({emit}) {
    this._emit = emit;
    this._devices = null;
    this._md = mediaDevices();
    this._permissions = [];
    this._onDeviceChange = () => { this._refresh().catch((e) => log.debug('enumerateDevices failed', e && e.message)); };
    if (this._md && this._md.addEventListener) {
      this._md.addEventListener('devicechange', this._onDeviceChange);
      this._md.enumerateDevices().then((list) => { if (this._devices === null) this._devices = list; }, () => {});
    }
    this._watchPermissions();
  }

  /** A local track started or switched device: DEVICE_CHANGED {action: 'active'} for its device. */
  async active(type, track) {
    if (!this._md || !track || typeof track.getSettings !== 'function') return;
    const {deviceId} = track.getSettings();
    if (!deviceId) return;
    const list = await this._md.enumerateDevices();
    const device = list.find((d) => d.kind === KIND_OF_TYPE[type] && d.deviceId === deviceId);
    if (device) this._emit(EVENT.DEVICE_CHANGED, {type, action: 'active', device});
  }

  stop() {
    if (this._md && this._md.removeEventListener) this._md.removeEventListener('devicechange', this._onDeviceChange);
    for (const status of this._permissions) status.onchange = null;
    this._permissions = [];
  }

  async _refresh() {
    const list = await this._md.enumerateDevices();
    const before = this._devices;
    this._devices = list;
    if (before === null) return; // no list to compare with yet
    for (const change of deviceChanges(before, list)) this._emit(EVENT.DEVICE_CHANGED, change);
  }

  async _watchPermissions() {
    if (typeof navigator === 'undefined' || !navigator.permissions || !navigator.permissions.query) return;
    const states = {camera: null, microphone: null};
    for (const name of ['camera', 'microphone']) {
      try {
        const status = await navigator.permissions.query({name});
        states[name] = status.state;
        status.onchange = () => {
          states[name] = status.state;
          this._emit(EVENT.PERMISSION_STATE_CHANGE, {...states});
        };
        this._permissions.push(status);
      } catch {
        // this browser cannot query this permission: null, as TRTC reports it
      }
    }
  }
}

// Local streams: capture (microphone, camera, screen), one slot each, their preview players, and what
// changes on the send transport when they start, change or stop. A slot holds
// {track, publish, mute, option, profile, view, el}; the send transport reads it through `get(slot)`.

import {AUDIO_PROFILES, ERROR_CODE, EVENT, SCREEN_PROFILES, SLOTS, VIDEO_PROFILES} from './constants.js';
import {RtcError, deviceError, invalid, invalidOperation} from './errors.js';
import {removePlayer, render, resolveView} from './player.js';
import {profileOf} from './validate.js';

export class LocalStreams {
  /**
   * publish(): converge the send transport on the slots (a promise; serialised by the transport);
   * replaceTrack(slot, track); applyEncoding(slot); sendMute(slot, muted); emit(event, data);
   * onAutoplayFailed(data).
   */
  constructor({publish, replaceTrack, applyEncoding, sendMute, emit, onAutoplayFailed}) {
    this._publish = publish;
    this._replaceTrack = replaceTrack;
    this._applyEncoding = applyEncoding;
    this._sendMute = sendMute;
    this._emit = emit;
    this._onAutoplayFailed = onAutoplayFailed;
    this._slots = {audio: null, video: null, screen: null};
    this._starting = new Set(); // slots whose capture is in progress
  }

  get(slot) {
    return this._slots[slot] || null;
  }

  track(slot) {
    const local = this._slots[slot];
    return local ? local.track : null;
  }

  // ------------------------------------------------------------------------------ microphone

  async startAudio(config = {}) {
    const fn = 'startLocalAudio';
    if (this._slots.audio || this._starting.has('audio')) {
      throw invalidOperation(fn, 'local audio already started; use updateLocalAudio');
    }
    const {publish = true, mute = false, option = {}} = config || {};
    const track = await this._capture('audio', () => captureAudio(option, fn));
    this._slots.audio = {track, publish: publish !== false, mute: !!mute, option: {...option}};
    track.enabled = !mute;
    await this._publishStarted('audio');
  }

  async updateAudio(config = {}) {
    const fn = 'updateLocalAudio';
    const local = this._slots.audio;
    if (!local) throw invalidOperation(fn, 'startLocalAudio first');
    const {publish, mute, option} = config || {};
    if (option && (option.microphoneId || option.audioTrack) &&
        (option.microphoneId !== local.option.microphoneId || option.audioTrack)) {
      const track = await captureAudio({...local.option, ...option}, fn);
      local.track.stop();
      local.track = track;
      local.option = {...local.option, ...option};
      track.enabled = !local.mute;
      await this._replaceTrack('audio', track);
    }
    if (typeof publish === 'boolean') local.publish = publish;
    await this._setMute('audio', mute);
    await this._publish();
  }

  // ------------------------------------------------------------------------------ camera

  async startVideo(config = {}) {
    const fn = 'startLocalVideo';
    if (this._slots.video || this._starting.has('video')) {
      throw invalidOperation(fn, 'local video already started; use updateLocalVideo');
    }
    const {view, publish = true, mute = false, option = {}} = config || {};
    const el = resolveView(view, fn);
    const profile = profileOf(option.profile, VIDEO_PROFILES, '480p', fn);
    const track = await this._capture('video', () => captureVideo(option, profile, fn));
    const local = {track, publish: publish !== false, mute: !!mute, option: {...option}, profile, view: el, el: null};
    this._slots.video = local;
    track.enabled = !mute;
    if (el) local.el = this._preview(el, track, local.option, 'main');
    await this._publishStarted('video');
  }

  async updateVideo(config = {}) {
    const fn = 'updateLocalVideo';
    const local = this._slots.video;
    if (!local) throw invalidOperation(fn, 'startLocalVideo first');
    const {view, publish, mute, option = {}} = config || {};
    if (option.profile !== undefined) {
      local.profile = profileOf(option.profile, VIDEO_PROFILES, '480p', fn);
      try {
        await local.track.applyConstraints({width: local.profile.width, height: local.profile.height,
          frameRate: local.profile.frameRate});
      } catch (e) {
        throw deviceError(e, fn);
      }
      await this._applyEncoding('video');
    }
    if ((option.cameraId && option.cameraId !== local.option.cameraId) || option.videoTrack ||
        (option.useFrontCamera !== undefined && option.useFrontCamera !== local.option.useFrontCamera)) {
      const track = await captureVideo({...local.option, ...option}, local.profile, fn);
      local.track.stop();
      local.track = track;
      track.enabled = !local.mute;
      await this._replaceTrack('video', track);
      if (local.el) local.el.srcObject = new MediaStream([track]);
    }
    local.option = {...local.option, ...option};
    if (view !== undefined) {
      const el = resolveView(view, fn);
      removePlayer(local.el);
      local.el = null;
      local.view = el;
      if (el) local.el = this._preview(el, local.track, local.option, 'main');
    }
    if (typeof publish === 'boolean') local.publish = publish;
    await this._setMute('video', mute);
    await this._publish();
  }

  // ------------------------------------------------------------------------------ screen

  async startScreen(config = {}) {
    const fn = 'startScreenShare';
    if (this._slots.screen || this._starting.has('screen')) throw invalidOperation(fn, 'screen share already started');
    const {view, publish = true, option = {}} = config || {};
    const el = resolveView(view, fn);
    const profile = profileOf(option.profile, SCREEN_PROFILES, '1080p', fn);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      throw new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, message: 'screen capture is not supported', functionName: fn});
    }
    const track = await this._capture('screen', () => captureScreen(profile, fn));
    if ('contentHint' in track) track.contentHint = 'detail';
    const local = {track, publish: publish !== false, mute: false, option: {...option}, profile, view: el, el: null};
    this._slots.screen = local;
    track.addEventListener('ended', () => {
      if (this._slots.screen !== local) return;
      this.release('screen');
      this._publish().catch(() => {});
      this._emit(EVENT.SCREEN_SHARE_STOPPED, {});
    });
    if (el) local.el = render(el, track, {mirror: false, fillMode: 'contain', local: true, streamType: 'sub'}, this._onAutoplayFailed);
    await this._publishStarted('screen');
  }

  // ------------------------------------------------------------------------------ any slot

  /** Stop a slot (stopLocalAudio/stopLocalVideo/stopScreenShare) and unpublish it. */
  async stop(slot) {
    if (!this._slots[slot]) return;
    this.release(slot);
    await this._publish();
  }

  /** Forget a slot: its capture stops (tracks the application passed in keep running), its preview goes. */
  release(slot) {
    const local = this._slots[slot];
    if (!local) return;
    this._slots[slot] = null;
    if (!(local.option && (local.option.audioTrack || local.option.videoTrack))) local.track.stop();
    removePlayer(local.el);
  }

  releaseAll() {
    for (const slot of SLOTS) this.release(slot);
  }

  async _capture(slot, capture) {
    this._starting.add(slot);
    try {
      return await capture();
    } finally {
      this._starting.delete(slot);
    }
  }

  _preview(view, track, option, streamType) {
    return render(view, track, {mirror: option.mirror !== false, fillMode: option.fillMode || 'cover', local: true,
      streamType}, this._onAutoplayFailed);
  }

  async _setMute(slot, mute) {
    const local = this._slots[slot];
    if (typeof mute !== 'boolean' || mute === local.mute) return;
    local.mute = mute;
    local.track.enabled = !mute;
    await this._sendMute(slot, mute);
  }

  /** Publish a slot just started. If the server refuses, the capture is released and the error thrown
   *  (the call failed as a whole); if the socket dropped meanwhile, the reconnect publishes it. */
  async _publishStarted(slot) {
    try {
      await this._publish();
    } catch (e) {
      if (e instanceof RtcError && e.code === ERROR_CODE.OPERATION_ABORT) return;
      this.release(slot);
      this._publish().catch(() => {});
      throw e;
    }
  }
}

/** Audio constraints for `option` ({microphoneId, profile, echoCancellation, noiseSuppression, autoGainControl}). */
export function audioConstraints(option, functionName) {
  const profile = Object.hasOwn(AUDIO_PROFILES, option.profile || 'standard') ? AUDIO_PROFILES[option.profile || 'standard'] : null;
  if (!profile) throw invalid(functionName, `unknown audio profile "${option.profile}"`);
  const constraints = {
    channelCount: profile.channelCount,
    echoCancellation: option.echoCancellation !== false,
    noiseSuppression: option.noiseSuppression !== false,
    autoGainControl: option.autoGainControl !== false,
  };
  if (option.microphoneId) constraints.deviceId = {exact: option.microphoneId};
  return constraints;
}

/** Camera constraints for `option` ({cameraId, useFrontCamera}) and a checked profile. */
export function videoConstraints(option, profile) {
  const constraints = {width: {ideal: profile.width}, height: {ideal: profile.height},
    frameRate: {ideal: profile.frameRate}};
  if (option.cameraId) constraints.deviceId = {exact: option.cameraId};
  else if (option.useFrontCamera !== undefined) constraints.facingMode = option.useFrontCamera ? 'user' : 'environment';
  return constraints;
}

async function captureAudio(option, fn) {
  if (option.audioTrack) return option.audioTrack;
  const constraints = audioConstraints(option, fn);
  try {
    const stream = await navigator.mediaDevices.getUserMedia({audio: constraints, video: false});
    return stream.getAudioTracks()[0];
  } catch (e) {
    throw deviceError(e, fn);
  }
}

async function captureVideo(option, profile, fn) {
  if (option.videoTrack) return option.videoTrack;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({audio: false, video: videoConstraints(option, profile)});
    return stream.getVideoTracks()[0];
  } catch (e) {
    throw deviceError(e, fn);
  }
}

async function captureScreen(profile, fn) {
  try {
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: {width: {ideal: profile.width}, height: {ideal: profile.height}, frameRate: {ideal: profile.frameRate}},
      audio: false,
    });
    return stream.getVideoTracks()[0];
  } catch (e) {
    throw deviceError(e, fn);
  }
}

// Local streams: capture (microphone, camera, screen), one slot each, their preview players, and what
// changes on the send transport when they start, change or stop. A slot holds
// {track, publish, mute, option, profile, view, el} (the screen also {audioTrack}: its system audio);
// the send transport reads what each slot sends through `sent(slot)`: the audio slot sends the
// microphone, the screen's audio, or the two mixed (audio-mixer.js).

import {AudioMixer, audioSource} from './audio-mixer.js';
import {AUDIO_PROFILES, ERROR_CODE, EVENT, SCREEN_PROFILES, SLOTS, VIDEO_PROFILES} from './constants.js';
import {RtcError, deviceError, invalid, invalidOperation} from './errors.js';
import {log} from './log.js';
import {removePlayer, render, resolveView, setSource} from './player.js';
import {profileOf} from './validate.js';

export class LocalStreams {
  /**
   * publish(): converge the send transport on the slots (a promise; serialised by the transport);
   * replaceTrack(slot, track); applyEncoding(slot); sendMute(slot, muted); emit(event, data);
   * onAutoplayFailed(data); onCaptured(slot, track): a new local track (TRACK, DEVICE_CHANGED 'active').
   */
  constructor({publish, replaceTrack, applyEncoding, sendMute, emit, onAutoplayFailed, onCaptured = () => {}}) {
    this._onCaptured = onCaptured;
    this._mixer = null;
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

  /** The screen share's audio track (system audio), or null. */
  get screenAudioTrack() {
    return (this._slots.screen && this._slots.screen.audioTrack) || null;
  }

  /** What the send transport sends for `slot`: {track, publish, mute, profile} or null. The audio slot
   *  carries the microphone, the screen's system audio, or both mixed (then the microphone's mute only
   *  silences the microphone: the producer stays unmuted for the screen's sound). */
  sent(slot) {
    if (slot !== 'audio') return this.get(slot);
    const mic = this._slots.audio;
    const screen = this._slots.screen;
    const screenAudio = screen && screen.publish ? screen.audioTrack : null;
    const source = audioSource(mic, screenAudio);
    if (source !== 'mix' && this._mixer) {
      this._mixer.close();
      this._mixer = null;
    }
    if (source === 'mic' || source === null) return mic;
    if (source === 'screen') return {track: screenAudio, publish: true, mute: false};
    const inputs = [mic.track, screenAudio];
    if (!this._mixer || !this._mixer.mixes(inputs)) {
      if (this._mixer) this._mixer.close();
      this._mixer = new AudioMixer(inputs);
    }
    return {track: this._mixer.track, publish: true, mute: false, mixed: true};
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
    this._onCaptured('audio', track);
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
      this._onCaptured('audio', track);
      await this._replaceTrack('audio', this.sent('audio').track);
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
    const small = smallProfile(option.small, profile, fn);
    const track = await this._capture('video', () => captureVideo(option, profile, fn));
    const local = {track, publish: publish !== false, mute: !!mute, option: {...option}, profile, small, view: el,
      el: null};
    this._slots.video = local;
    track.enabled = !mute;
    if (el) local.el = this._preview(el, track, local.option, 'main');
    this._onCaptured('video', track);
    await this._publishStarted('video');
  }

  async updateVideo(config = {}) {
    const fn = 'updateLocalVideo';
    const local = this._slots.video;
    if (!local) throw invalidOperation(fn, 'startLocalVideo first');
    const {view, publish, mute, option = {}} = config || {};
    if (option.small !== undefined) {
      // big + small needs a new sender (its encodings are fixed when created): the next publish makes it
      local.small = smallProfile(option.small, local.profile, fn);
    }
    if (option.profile !== undefined) {
      local.profile = profileOf(option.profile, VIDEO_PROFILES, '480p', fn);
      if (local.small && local.option.small === true && option.small === undefined) {
        local.small = smallProfile(true, local.profile, fn);
      }
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
      if (local.el) setSource(local.el, track);
      this._onCaptured('video', track);
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

  /** startScreenShare({view, publish = true, option: {profile, fillMode, systemAudio, echoCancellation,
   *  noiseSuppression, autoGainControl, videoTrack, audioTrack}}): the sub stream; its audio goes into the
   *  user's audio stream (mixed with the microphone). */
  async startScreen(config = {}) {
    const fn = 'startScreenShare';
    if (this._slots.screen || this._starting.has('screen')) throw invalidOperation(fn, 'screen share already started');
    const {view, publish = true, option = {}} = config || {};
    const el = resolveView(view, fn);
    const profile = profileOf(option.profile, SCREEN_PROFILES, '1080p', fn);
    if (!option.videoTrack && (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia)) {
      throw new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, extraCode: 5205, message: 'screen capture is not supported',
        functionName: fn});
    }
    const {track, audioTrack} = await this._capture('screen', () => captureScreen(profile, option, fn));
    if ('contentHint' in track) track.contentHint = 'detail';
    const local = {track, audioTrack, publish: publish !== false, mute: false, option: {...option}, profile, view: el, el: null};
    this._slots.screen = local;
    track.addEventListener('ended', () => {
      if (this._slots.screen !== local) return;
      this.release('screen');
      this._publish().then(() => this._syncAudioMute()).catch(() => {});
      this._emit(EVENT.SCREEN_SHARE_STOPPED, {});
    });
    if (el) local.el = this._screenPreview(el, local);
    this._onCaptured('screen', track);
    if (audioTrack) this._onCaptured('screenAudio', audioTrack);
    await this._publishStarted('screen');
    await this._syncAudioMute();
  }

  /** updateScreenShare({view?, publish?, option: {fillMode?, videoTrack?, audioTrack?}}): incremental. */
  async updateScreen(config = {}) {
    const fn = 'updateScreenShare';
    const local = this._slots.screen;
    if (!local) throw invalidOperation(fn, 'startScreenShare first');
    const {view, publish, option = {}} = config || {};
    if (publish !== undefined && typeof publish !== 'boolean') throw invalid(fn, 'publish must be a boolean');
    const el = view === undefined ? undefined : resolveView(view, fn);
    if (option.videoTrack && option.videoTrack !== local.track) {
      if (option.videoTrack.kind !== 'video') throw invalid(fn, 'option.videoTrack must be a video track');
      if (!local.option.videoTrack) local.track.stop();
      local.track = option.videoTrack;
      await this._replaceTrack('screen', local.track);
      if (local.el) setSource(local.el, local.track);
      this._onCaptured('screen', local.track);
    }
    if (option.audioTrack && option.audioTrack !== local.audioTrack) {
      if (option.audioTrack.kind !== 'audio') throw invalid(fn, 'option.audioTrack must be an audio track');
      if (local.audioTrack && !local.option.audioTrack) local.audioTrack.stop();
      local.audioTrack = option.audioTrack;
      this._onCaptured('screenAudio', local.audioTrack);
    }
    local.option = {...local.option, ...option};
    if (el !== undefined || option.fillMode) {
      removePlayer(local.el);
      local.el = null;
      if (el !== undefined) local.view = el;
      if (local.view) local.el = this._screenPreview(local.view, local);
    }
    if (typeof publish === 'boolean') local.publish = publish;
    await this._publish();
    await this._syncAudioMute();
  }

  _screenPreview(view, local) {
    return render(view, local.track, {mirror: false, fillMode: local.option.fillMode || 'contain', local: true,
      streamType: 'sub', emit: this._emit}, this._onAutoplayFailed);
  }

  /** The server's mute flag of the audio producer follows what the audio slot sends: the microphone's
   *  mute alone, or unmuted while the screen's audio is in it. */
  async _syncAudioMute() {
    const sent = this.sent('audio');
    if (sent) await this._sendMute('audio', !!sent.mute);
  }

  // ------------------------------------------------------------------------------ any slot

  /** Stop a slot (stopLocalAudio/stopLocalVideo/stopScreenShare) and unpublish it. */
  async stop(slot) {
    if (!this._slots[slot]) return;
    this.release(slot);
    await this._publish();
    if (slot === 'screen') await this._syncAudioMute();
  }

  /** Forget a slot: its capture stops (tracks the application passed in keep running), its preview goes. */
  release(slot) {
    const local = this._slots[slot];
    if (!local) return;
    this._slots[slot] = null;
    const given = local.option || {};
    if (!(slot === 'screen' ? given.videoTrack : given.audioTrack || given.videoTrack)) local.track.stop();
    if (local.audioTrack && !given.audioTrack) local.audioTrack.stop();
    removePlayer(local.el);
    if (slot === 'audio' || slot === 'screen') this.sent('audio'); // closes a mixer no longer needed
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
      streamType, emit: this._emit}, this._onAutoplayFailed);
  }

  async _setMute(slot, mute) {
    const local = this._slots[slot];
    if (typeof mute !== 'boolean' || mute === local.mute) return;
    local.mute = mute;
    local.track.enabled = !mute;
    if (slot === 'audio') await this._syncAudioMute();
    else await this._sendMute(slot, mute);
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

/** The screen's {track, audioTrack}: the application's own tracks, or getDisplayMedia (with the system
 *  audio when `systemAudio`; a browser or a surface that cannot capture it gives none, as trtc-sdk-v5). */
async function captureScreen(profile, option, fn) {
  if (option.videoTrack) return {track: option.videoTrack, audioTrack: option.audioTrack || null};
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({
      video: {width: {ideal: profile.width}, height: {ideal: profile.height}, frameRate: {ideal: profile.frameRate}},
      audio: option.systemAudio ? {echoCancellation: option.echoCancellation !== false,
        noiseSuppression: option.noiseSuppression !== false, autoGainControl: option.autoGainControl !== false} : false,
    });
  } catch (e) {
    throw deviceError(e, fn);
  }
  const audioTrack = option.audioTrack || stream.getAudioTracks()[0] || null;
  if (option.systemAudio && !audioTrack) log.warn('startScreenShare: no system audio from this surface or browser');
  return {track: stream.getVideoTracks()[0], audioTrack};
}

/** TRTC's small stream (option.small): true = half the big stream's width and height at a quarter of its
 *  bitrate, or a profile (name or {width, height, frameRate, bitrate}); falsy = none. Sent as the lower
 *  simulcast encoding of the camera (send-transport.js). */
export function smallProfile(small, big, fn) {
  if (!small) return null;
  if (small === true) {
    return {width: Math.round(big.width / 2), height: Math.round(big.height / 2), frameRate: big.frameRate,
      bitrate: Math.max(100, Math.round(big.bitrate / 4))};
  }
  const p = profileOf(small, VIDEO_PROFILES, '180p', fn);
  if (p.width >= big.width) throw invalid(fn, 'the small stream must be narrower than the big one');
  return p;
}

// The client: RelayRoom, TRTC Web SDK v5's API over RelayRoom's signalling protocol v1. Each public
// method checks its parameters (before anything is sent) and hands the work to one part; the client
// builds the parts and wires them with functions (a part never holds the client or another part):
//
//   Session ─ Signalling, Reconnector      the membership: enter, resume, re-enter, exit; connection state
//   RemoteUsers                            who is in the room and which of their streams are available
//   SendTransport ◀─ LocalStreams          publishing: capture ─▶ one send RTCPeerConnection
//   RecvTransport ─▶ RemoteStreams         receiving: server offers ─▶ players and <audio> elements
//   Subscriptions                          startRemoteVideo/muteRemoteAudio wishes, sent again after a re-entry
//   StatsMonitor                           network-quality, statistics, audio-volume
//   E2EE                                   end-to-end encryption: keys, worker, frame transforms

import {EVENT, ERROR_CODE, EXTRA_CODE, SDK_VERSION, TYPE, keyOf} from './constants.js';
import {fromServerError, invalid, invalidOperation} from './errors.js';
import {Emitter} from './events.js';
import {setLevel} from './log.js';
import {b64decode, b64encode} from './bytes.js';
import {E2EE, validateE2EEKey} from './e2ee.js';
import {LocalStreams} from './local-stream.js';
import {peerConnectionFactory} from './peer-connection.js';
import {resolveView} from './player.js';
import {RecvTransport} from './recv-transport.js';
import {RemoteStreams} from './remote-stream.js';
import {RemoteUsers} from './remote-users.js';
import {SendTransport} from './send-transport.js';
import {Session} from './session.js';
import {StatsMonitor} from './stats.js';
import {Subscriptions} from './subscriptions.js';
import {
  signalUrl, validateCustomMessage, validateEnterRoomParams, validateRole, validateStreamType, validateUserId,
  validateVolume,
} from './validate.js';

const devices = async (kind) => (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);

/**
 * One user's session. Create with `RelayRoom.create()`.
 */
export class RelayRoom {
  static EVENT = EVENT;
  static ERROR_CODE = ERROR_CODE;
  static EXTRA_CODE = EXTRA_CODE;
  static TYPE = TYPE;
  static VERSION = SDK_VERSION;

  /** TRTC.create(): a new instance. Options: {serverUrl?} (default: the page's origin /signal). */
  static create(options = {}) {
    return new RelayRoom(options);
  }

  /** TRTC.setLogLevel(level): 0 debug .. 4 error, 5 none. */
  static setLogLevel(level) {
    setLevel(level);
  }

  static async isSupported() {
    const detail = {
      isBrowserSupported: typeof RTCPeerConnection === 'function' && typeof WebSocket === 'function',
      isWebRTCSupported: typeof RTCPeerConnection === 'function',
      isMediaDevicesSupported: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
      isScreenShareSupported: !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia),
    };
    return {result: detail.isBrowserSupported && detail.isWebRTCSupported, detail};
  }

  static async getCameraList() {
    return devices('videoinput');
  }

  static async getMicrophoneList() {
    return devices('audioinput');
  }

  static async getSpeakerList() {
    return devices('audiooutput');
  }

  constructor(options = {}) {
    this._options = {...options};
    this._events = new Emitter();
    this._destroyed = false;
    const emit = (event, data) => this._events.emit(event, data);
    const onAutoplayFailed = (data) => emit(EVENT.AUTOPLAY_FAILED, data);
    const request = (...args) => this._session.request(...args);
    this._e2ee = new E2EE({emit});
    const createPeerConnection = peerConnectionFactory(() => this._e2ee.peerConnectionConfig());
    const recovering = () => this._session.recovering;
    this._session = new Session({emit,
      onServerEvent: (name, data, generation) => this._onServerEvent(name, data, generation),
      reconcile: (members, graceMs) => this._users.reconcile(members, graceMs),
      publish: () => this._send.sync(true),
      entered: () => this._stats.start(),
      teardownMedia: () => {
        this._send.teardown();
        this._recv.teardown();
        this._stats.reset();
        this._remote.clearSources();
      },
      streamsLost: () => this._users.streamsLost(),
      forgetRoom: () => {
        // our own exit: the room is gone for us, without per-user exit events (as trtc-sdk-v5)
        this._stats.stop();
        this._remote.clear(this._users.clear());
        this._subscriptions.clear();
        this._e2ee.stop();
      },
      recovered: () => {
        for (const userId of this._users.userIds()) this._subscriptions.resend(userId);
      }});
    this._subscriptions = new Subscriptions({request, recovering,
      inSession: () => this._session.inRoom && this._session.connected});
    this._users = new RemoteUsers({emit,
      onSeen: (userId) => this._subscriptions.resend(userId),
      onGone: (userId) => {
        this._remote.dropUser(userId);
        this._subscriptions.forgetUser(userId);
      }});
    this._recv = new RecvTransport({createPeerConnection, request,
      isCurrent: (generation) => this._session.isCurrent(generation),
      onTracks: (next, previous) => this._remote.tracksChanged(next, previous),
      onError: (e) => emit(EVENT.ERROR, e),
      protect: (receiver, kind, mid) => this._e2ee.protectReceiver(receiver, kind, () => this._streamOfMid(mid))});
    this._remote = new RemoteStreams({track: (key) => this._recv.tracks.get(key), onAutoplayFailed});
    this._send = new SendTransport({createPeerConnection, request, emit,
      local: (slot) => this._local.get(slot),
      generation: () => this._session.generation,
      protect: (sender, kind) => this._e2ee.protectSender(sender, kind),
      canPublish: (force) => this._session.inRoom && this._session.connected && this._session.role === 'anchor' &&
        (force || !recovering())});
    this._local = new LocalStreams({emit, onAutoplayFailed,
      publish: () => this._send.sync(),
      replaceTrack: (slot, track) => this._send.replaceTrack(slot, track),
      applyEncoding: (slot) => this._send.applyEncoding(slot),
      sendMute: (slot, muted) => this._send.sendMute(slot, muted)});
    this._stats = new StatsMonitor({emit,
      sendPc: () => this._send.pc,
      recvPc: () => this._recv.pc,
      tracks: () => this._recv.tracks,
      screenMid: () => this._send.screenMid,
      inRoom: () => this._session.inRoom,
      linkUp: () => this._session.state !== 'RECONNECTING' && this._session.connected,
      localAudio: () => this._local.get('audio'),
      audioSender: () => this._send.sender('audio'),
      remoteAudioAvailable: (userId) => this._users.isAvailable(userId, 'audio', 'main'),
      wants: (event) => this._events.hasListeners(event)});
  }

  /** {userId, kind, streamType} of the receive transceiver `mid` now, or null. */
  _streamOfMid(mid) {
    for (const t of this._recv.tracks.values()) {
      if (t.mid === mid) return {userId: t.userId, kind: t.kind, streamType: t.streamType};
    }
    return null;
  }

  /** Room events from the server, for the parts (the session handles kicked-out and reconnect). */
  _onServerEvent(name, data, generation) {
    switch (name) {
      case 'offer':
        this._recv.receive(data, generation);
        return;
      case 'remote-user-enter':
        this._users.seen(String(data.userId));
        return;
      case 'remote-user-exit':
        this._users.gone(String(data.userId), data.reason);
        return;
      case 'remote-audio-available':
      case 'remote-audio-unavailable':
      case 'remote-video-available':
      case 'remote-video-unavailable': {
        const kind = name.includes('audio') ? 'audio' : 'video';
        this._users.setStream(String(data.userId), kind, data.streamType || 'main', !name.endsWith('unavailable'),
          data.reason);
        return;
      }
      case 'custom-message': {
        let payload;
        try {
          payload = b64decode(String(data.data || ''));
        } catch {
          return;
        }
        this._events.emit(EVENT.CUSTOM_MESSAGE, {userId: data.userId, cmdId: data.cmdId, seq: data.seq, data: payload});
        return;
      }
      case 'error':
        this._events.emit(EVENT.ERROR, fromServerError(data, 'server'));
        return;
      default:
        // newer servers may add events within v1: ignore what we do not know
    }
  }

  // ------------------------------------------------------------------------------------ events

  /** Register `handler` for `event` (TRTC.EVENT.*). */
  on(event, handler, context) {
    if (typeof handler !== 'function') throw invalid('on', 'handler must be a function');
    this._events.on(event, handler, context);
    return this;
  }

  once(event, handler, context) {
    if (typeof handler !== 'function') throw invalid('on', 'handler must be a function');
    this._events.on(event, handler, context, true);
    return this;
  }

  /** Remove `handler` (or every handler of `event`; `off('*')` removes all). */
  off(event, handler) {
    this._events.off(event, handler);
    return this;
  }

  /** 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'RECONNECTING' */
  get connectionState() {
    return this._session.state;
  }

  _assertAlive(fn) {
    if (this._destroyed) throw invalidOperation(fn, 'this instance was destroyed; create a new one');
  }

  _assertInRoom(fn) {
    if (!this._session.inRoom) throw invalidOperation(fn, 'enterRoom first', EXTRA_CODE.NOT_IN_ROOM);
  }

  // ------------------------------------------------------------------------------------ room

  /**
   * TRTC enterRoom. Rejects with RtcError: 5000 (extraCode 5012/5013/5015/5016 for room ids) before
   * anything is sent; 5100 when already in a room; 5400 with the server's code as extraCode when the
   * server refuses (−100018 UserSig, −100006 PrivateMapKey...).
   */
  async enterRoom(options) {
    this._assertAlive('enterRoom');
    const data = validateEnterRoomParams(options);
    const e2eeKey = data.e2ee ? validateE2EEKey(options.e2ee.key, 'enterRoom') : null;
    if (this._session.busy) throw invalidOperation('enterRoom', 'already in a room; exitRoom first');
    if (e2eeKey !== null) await this._e2ee.start(e2eeKey, data);
    try {
      await this._session.enter(data, signalUrl((options && options.serverUrl) || this._options.serverUrl));
    } catch (e) {
      this._e2ee.stop();
      throw e;
    }
  }

  /** Rotate the end-to-end key: frames are sent with `key` from now on, frames of the previous keys
   *  still decrypt (every member needs the new key: handing it out is the application's job). */
  async setE2EEKey(key) {
    const fn = 'setE2EEKey';
    this._assertAlive(fn);
    const checked = validateE2EEKey(key, fn);
    this._assertInRoom(fn);
    if (!this._e2ee.active) throw invalidOperation(fn, 'this room is not end-to-end encrypted (enterRoom with e2ee)');
    await this._e2ee.setKey(checked);
  }

  /** RelayRoom extension: ratchet the sending key one step (RFC 9605 §5.1); the others follow on their
   *  own, within 8 steps, with no new key to hand out. */
  async ratchetE2EEKey() {
    const fn = 'ratchetE2EEKey';
    this._assertAlive(fn);
    this._assertInRoom(fn);
    if (!this._e2ee.active) throw invalidOperation(fn, 'this room is not end-to-end encrypted (enterRoom with e2ee)');
    await this._e2ee.ratchet();
  }

  /** TRTC exitRoom: leave the room; local tracks keep running (stop them with stopLocal*). */
  async exitRoom() {
    this._assertAlive('exitRoom');
    if (!this._session.busy) return;
    await this._session.exit();
  }

  /** TRTC switchRole (live rooms only): anchor ↔ audience. Audience stops publishing. */
  async switchRole(role, options = {}) {
    this._assertAlive('switchRole');
    validateRole(role, 'switchRole');
    this._assertInRoom('switchRole');
    if (this._session.scene !== 'live') throw invalidOperation('switchRole', 'switchRole is for live rooms');
    const data = {role};
    if (options && options.privateMapKey) data.privateMapKey = String(options.privateMapKey);
    const res = await this._session.request('switchRole', data, 'switchRole');
    this._session.roleChanged(res.role, data.privateMapKey);
    if (res.role === 'audience') await this._send.stopSending(); // the server unpublished everything
    else await this._send.sync();
  }

  /** TRTC sendCustomMessage({cmdId 1..10, data: ArrayBuffer ≤ 1 KB}); anchors only. */
  async sendCustomMessage(message = {}) {
    const fn = 'sendCustomMessage';
    this._assertAlive(fn);
    const bytes = validateCustomMessage(message);
    this._assertInRoom(fn);
    if (this._session.role !== 'anchor') throw invalidOperation(fn, 'only anchors send custom messages');
    const res = await this._session.request('customMessage', {cmdId: message.cmdId, data: b64encode(bytes)}, fn);
    return res.seq;
  }

  /** Exit (if in a room), stop local tracks and release everything. The instance cannot be used again. */
  async destroy() {
    if (this._destroyed) return;
    try { await this.exitRoom(); } catch { /* destroying anyway */ }
    this._local.releaseAll();
    this._session.close();
    this._destroyed = true;
    this._events.clear();
  }

  // ------------------------------------------------------------------------------------ local media

  /** TRTC startLocalAudio({publish = true, mute = false, option: {microphoneId, audioTrack, profile,
   *  echoCancellation, noiseSuppression, autoGainControl}}). */
  async startLocalAudio(config = {}) {
    this._assertAlive('startLocalAudio');
    await this._local.startAudio(config);
  }

  async updateLocalAudio(config = {}) {
    this._assertAlive('updateLocalAudio');
    await this._local.updateAudio(config);
  }

  async stopLocalAudio() {
    this._assertAlive('stopLocalAudio');
    await this._local.stop('audio');
  }

  /** TRTC startLocalVideo({view, publish = true, mute = false, option: {cameraId, useFrontCamera,
   *  videoTrack, profile ('480p' default, or {width, height, frameRate, bitrate}), fillMode, mirror}}). */
  async startLocalVideo(config = {}) {
    this._assertAlive('startLocalVideo');
    await this._local.startVideo(config);
  }

  async updateLocalVideo(config = {}) {
    this._assertAlive('updateLocalVideo');
    await this._local.updateVideo(config);
  }

  async stopLocalVideo() {
    this._assertAlive('stopLocalVideo');
    await this._local.stop('video');
  }

  /** TRTC startScreenShare({view, publish = true, option: {profile ('1080p'), systemAudio?}}): the sub stream. */
  async startScreenShare(config = {}) {
    this._assertAlive('startScreenShare');
    await this._local.startScreen(config);
  }

  async stopScreenShare() {
    this._assertAlive('stopScreenShare');
    await this._local.stop('screen');
  }

  /** The local MediaStreamTrack of 'audio' | 'video' (camera) | 'screen', or null. */
  getLocalTrack(slot = 'video') {
    return this._local.track(slot);
  }

  // ------------------------------------------------------------------------------------ remote media

  /** TRTC startRemoteVideo({userId, streamType: 'main'|'sub', view, option: {fillMode, mirror}}). */
  async startRemoteVideo({userId, streamType = 'main', view, option = {}} = {}) {
    const fn = 'startRemoteVideo';
    this._assertAlive(fn);
    validateUserId(userId, fn);
    validateStreamType(streamType, fn);
    const el = resolveView(view, fn);
    this._assertInRoom(fn);
    this._remote.showVideo(keyOf(userId, 'video', streamType), el, {mirror: !!option.mirror,
      fillMode: option.fillMode || (streamType === 'sub' ? 'contain' : 'cover')});
    await this._subscriptions.set(userId, 'video', streamType, true, fn);
  }

  async updateRemoteVideo({userId, streamType = 'main', view, option = {}} = {}) {
    const key = keyOf(userId, 'video', streamType);
    if (!this._remote.hasView(key)) throw invalidOperation('updateRemoteVideo', 'startRemoteVideo first');
    this._remote.updateVideo(key, {view: view === undefined ? undefined : resolveView(view, 'updateRemoteVideo'),
      fillMode: option.fillMode, mirror: option.mirror === undefined ? undefined : !!option.mirror});
  }

  /** TRTC stopRemoteVideo({userId, streamType}); `userId: '*'` stops all. */
  async stopRemoteVideo({userId, streamType = 'main'} = {}) {
    const fn = 'stopRemoteVideo';
    this._assertAlive(fn);
    if (userId === '*') {
      for (const key of this._remote.viewKeys()) {
        const [uid, , st] = key.split('|');
        await this.stopRemoteVideo({userId: uid, streamType: st});
      }
      return;
    }
    validateUserId(userId, fn);
    validateStreamType(streamType, fn);
    this._remote.hideVideo(keyOf(userId, 'video', streamType));
    if (this._session.inRoom) await this._subscriptions.set(userId, 'video', streamType, false, fn);
  }

  /** TRTC muteRemoteAudio(userId, mute): stop (or resume) receiving a user's audio; '*' for everyone. */
  async muteRemoteAudio(userId, mute) {
    const fn = 'muteRemoteAudio';
    this._assertAlive(fn);
    if (typeof mute !== 'boolean') throw invalid(fn, 'mute must be a boolean');
    if (userId === '*') {
      for (const uid of this._users.userIds()) await this.muteRemoteAudio(uid, mute);
      return;
    }
    validateUserId(userId, fn);
    this._remote.muteAudio(userId, mute);
    if (this._session.inRoom) await this._subscriptions.set(userId, 'audio', 'main', !mute, fn);
  }

  /** TRTC setRemoteAudioVolume(userId, volume 0..100). */
  setRemoteAudioVolume(userId, volume) {
    const fn = 'setRemoteAudioVolume';
    this._assertAlive(fn);
    validateUserId(userId, fn);
    this._remote.setVolume(userId, validateVolume(volume, fn));
  }

  // ------------------------------------------------------------------------------------ volume, statistics

  /** TRTC enableAudioVolumeEvaluation(interval ms = 2000; ≤ 0 turns it off): 'audio-volume' events. */
  enableAudioVolumeEvaluation(interval = 2000, enableInBackground = false) {
    if (typeof interval !== 'number') throw invalid('enableAudioVolumeEvaluation', 'interval must be a number');
    this._stats.setVolumeInterval(interval, enableInBackground);
  }

  /** RelayRoom extension: per inbound stream counters, labelled with the user they come from. */
  async getRemoteStatistics() {
    return this._stats.remoteStatistics();
  }

  /** RelayRoom extension: who is in the room and what they publish, as this client sees it. */
  getRemoteUsers() {
    return this._users.list();
  }

  /** The room as entered: {roomId | strRoomId, userId, scene, role}, or null outside a room. */
  get room() {
    return this._session.room;
  }
}

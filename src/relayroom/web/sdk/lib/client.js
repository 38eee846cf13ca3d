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

import {EVENT, EXTRA_CODE, UNSUPPORTED_EVENTS, keyOf} from './constants.js';
import {fromServerError, invalid, invalidOperation, unsupported} from './errors.js';
import {Emitter} from './events.js';
import {checkRelayPossible, iceConfiguration, validateProxy, watchIce} from './ice.js';
import {b64decode, b64encode} from './bytes.js';
import {DeviceWatcher} from './devices.js';
import {E2EE, validateE2EEKey} from './e2ee.js';
import {FramePipeline} from './frame-pipeline.js';
import {LocalStreams} from './local-stream.js';
import {peerConnectionFactory} from './peer-connection.js';
import {snapshot} from './player-events.js';
import {resolveView} from './player.js';
import {RecvTransport} from './recv-transport.js';
import {RemoteStreams} from './remote-stream.js';
import {RemoteUsers} from './remote-users.js';
import {h264Preferences, SendTransport} from './send-transport.js';
import {validateSeiMessage} from './sei.js';
import {Session} from './session.js';
import {TRTCStatics} from './statics.js';
import {StatsMonitor} from './stats.js';
import {Subscriptions} from './subscriptions.js';
import {
  signalUrl, validateCustomMessage, validateEnterRoomParams, validateRole, validateRoom, validateStreamType,
  validateUserId, validateVolume,
} from './validate.js';

/**
 * One user's session. Create with `RelayRoom.create()`.
 */
export class RelayRoom extends TRTCStatics {
  /** TRTC.create(): a new instance. Options: {serverUrl?} (default: the page's origin /signal),
   *  {enableSEI?} (sendSEIMessage and SEI_MESSAGE; the camera and screen are then sent as H.264). */
  static create(options = {}) {
    return new RelayRoom(options);
  }

  constructor(options = {}) {
    super();
    this._options = {...options};
    this._events = new Emitter();
    this._destroyed = false;
    const emit = (event, data) => this._events.emit(event, data);
    const onAutoplayFailed = (data) => emit(EVENT.AUTOPLAY_FAILED, data);
    const request = (...args) => this._session.request(...args);
    this._pipeline = new FramePipeline({
      onE2EEReport: (label, reason, message) => this._e2ee.report(label, reason, message),
      onSei: (label, {payloadType, data}) => {
        const stream = label();
        if (stream) emit(EVENT.SEI_MESSAGE, {userId: stream.userId, streamType: stream.streamType, seiPayloadType: payloadType, data});
      }});
    this._seiEnabled = options.enableSEI === true && this._pipeline.enableSei();
    this._e2ee = new E2EE({emit, pipeline: this._pipeline});
    this._devices = new DeviceWatcher({emit});
    this._proxy = validateProxy(null); // enterRoom's proxy: the application's TURN servers and ICE policy
    const createPeerConnection = peerConnectionFactory(
      () => ({...this._pipeline.peerConnectionConfig(), ...iceConfiguration(this._proxy, this._session.iceServers)}),
      (pc) => watchIce(pc, {policy: this._proxy.iceTransportPolicy, side: 'connect', onFailure: (e) => emit(EVENT.ERROR, e)}));
    const recovering = () => this._session.recovering;
    this._session = new Session({emit,
      onServerEvent: (name, data, generation) => this._onServerEvent(name, data, generation),
      reconcile: (members, graceMs) => this._users.reconcile(members, graceMs),
      publish: () => this._send.sync(true),
      entered: () => this._stats.start(),
      checkEntered: (res) => checkRelayPossible(iceConfiguration(this._proxy, res.iceServers)),
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
        this._pipeline.reset(); // SEI messages still waiting were for the room we left
      },
      recovered: () => {
        for (const userId of this._users.userIds()) this._subscriptions.resend(userId);
      },
      leaveRoomOnly: () => {
        // switchRoom: the old room's users leave (with their events); local tracks stay
        this._stats.stop();
        this._users.reconcile([], 0);
        this._subscriptions.clear();
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
      protect: (receiver, kind, mid) => this._pipeline.attach(receiver, {side: 'receive', kind,
        label: () => this._streamOfMid(mid)})});
    this._remote = new RemoteStreams({track: (key) => this._recv.tracks.get(key), onAutoplayFailed, emit});
    this._send = new SendTransport({createPeerConnection, request, emit,
      local: (slot) => this._local.sent(slot),
      generation: () => this._session.generation,
      protect: (sender, kind, slot) => this._pipeline.attach(sender, {side: 'send', kind, slot}),
      // SEI rides in H.264 (E2EE encrypts VP8 only: an E2EE room keeps VP8)
      codecs: (kind) => (kind === 'video' && this._seiEnabled && !this._e2ee.active ? h264Preferences() : null),
      canPublish: (force) => this._session.inRoom && this._session.connected && this._session.role === 'anchor' &&
        (force || !recovering())});
    this._local = new LocalStreams({emit, onAutoplayFailed,
      onCaptured: (slot, track) => {
        emit(EVENT.TRACK, {userId: '', streamType: slot === 'screen' || slot === 'screenAudio' ? 'sub' : 'main', track});
        if (slot === 'audio' || slot === 'video') {
          this._devices.active(slot === 'audio' ? 'microphone' : 'camera', track).catch(() => {});
        }
      },
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
      case 'audio-volume':
        this._stats.serverVolumes(data);
        return;
      case 'network-quality':
        this._stats.serverQuality(data);
        return;
      default:
        // newer servers may add events within v1: ignore what we do not know
    }
  }

  // ------------------------------------------------------------------------------------ events

  /** Register `handler` for `event` (TRTC.EVENT.*). */
  on(event, handler, context) {
    if (typeof handler !== 'function') throw invalid('on', 'handler must be a function');
    if (UNSUPPORTED_EVENTS.has(event)) throw unsupported('on', 0, `RelayRoom does not emit '${event}'`);
    this._events.on(event, handler, context);
    return this;
  }

  once(event, handler, context) {
    if (typeof handler !== 'function') throw invalid('on', 'handler must be a function');
    if (UNSUPPORTED_EVENTS.has(event)) throw unsupported('once', 0, `RelayRoom does not emit '${event}'`);
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
    const proxy = validateProxy(options.proxy);
    const e2eeKey = data.e2ee ? validateE2EEKey(options.e2ee.key, 'enterRoom') : null;
    if (this._session.busy) throw invalidOperation('enterRoom', 'already in a room; exitRoom first');
    this._proxy = proxy;
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

  /**
   * TRTC switchRoom({userSig?, roomId | strRoomId, privateMapKey?}) (live rooms): leave this room and
   * enter another of the same id type with the same role, on the same connection; the local tracks keep
   * running and an anchor publishes them into the new room. The old room's users leave (their
   * `remote-user-exit`s). When the new room refuses, this instance is in no room and the refusal is thrown.
   */
  async switchRoom(options) {
    const fn = 'switchRoom';
    this._assertAlive(fn);
    if (options === null || typeof options !== 'object') throw invalid(fn, 'switchRoom needs {userSig, roomId | strRoomId}');
    const {userSig, privateMapKey} = options;
    if (userSig !== undefined && (typeof userSig !== 'string' || !userSig)) throw invalid(fn, 'userSig must be a non-empty string');
    if (privateMapKey !== undefined && privateMapKey !== null && typeof privateMapKey !== 'string') {
      throw invalid(fn, 'privateMapKey must be a string');
    }
    const room = validateRoom(options.roomId, options.strRoomId, fn);
    this._assertInRoom(fn);
    const current = this._session.room;
    if (current.scene !== 'live') throw invalidOperation(fn, 'switchRoom is for live rooms (scene: live)');
    if (this._session.recovering) throw invalidOperation(fn, 'reconnecting: switch rooms once connected');
    if (this._e2ee.active) throw invalidOperation(fn, 'an end-to-end encrypted room: exitRoom, then enterRoom with its key');
    if (('roomId' in room) !== (current.roomId !== undefined)) {
      throw invalid(fn, 'the new room must be of the same id type (roomId or strRoomId) as this one', EXTRA_CODE.ROOM_ID_TYPE_MISMATCH);
    }
    if (room.roomId === current.roomId && room.strRoomId === current.strRoomId) {
      throw invalid(fn, 'already in this room', EXTRA_CODE.ROOM_ID_DUPLICATE);
    }
    const changes = {...room};
    if (userSig) changes.userSig = userSig;
    if (privateMapKey) changes.privateMapKey = privateMapKey;
    await this._session.switchRoom(changes);
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
    this._devices.stop();
    this._pipeline.close();
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

  /** TRTC updateScreenShare({view?, publish?, option: {fillMode?, videoTrack?, audioTrack?}}): incremental. */
  async updateScreenShare(config = {}) {
    this._assertAlive('updateScreenShare');
    await this._local.updateScreen(config);
  }

  async stopScreenShare() {
    this._assertAlive('stopScreenShare');
    await this._local.stop('screen');
  }

  /** The local MediaStreamTrack of 'audio' | 'video' (camera) | 'screen', or null. */
  getLocalTrack(slot = 'video') {
    return this._local.track(slot);
  }

  /** TRTC getAudioTrack(): the microphone; ({streamType: 'sub'}): the screen's audio; (userId) or
   *  ({userId}): a remote user's audio (one per user). null when there is none. */
  getAudioTrack(config = {}) {
    const {userId = '', streamType = 'main'} = typeof config === 'string' ? {userId: config} : config || {};
    validateStreamType(streamType, 'getAudioTrack');
    if (!userId) return streamType === 'sub' ? this._local.screenAudioTrack : this._local.track('audio');
    const entry = this._recv.tracks.get(keyOf(userId, 'audio', 'main'));
    return entry ? entry.track : null;
  }

  /** TRTC getVideoTrack({userId?, streamType?}): the camera or screen (local, userId ''), or a remote
   *  user's. null when there is none. */
  getVideoTrack({userId = '', streamType = 'main'} = {}) {
    validateStreamType(streamType, 'getVideoTrack');
    if (!userId) return this._local.track(streamType === 'sub' ? 'screen' : 'video');
    const entry = this._recv.tracks.get(keyOf(userId, 'video', streamType));
    return entry ? entry.track : null;
  }

  /** TRTC getVideoSnapshot({userId?, streamType?}): the frame a player shows now, as a PNG data URL; ''
   *  when that video is not playing (as TRTC). */
  getVideoSnapshot({userId = '', streamType = 'main'} = {}) {
    validateStreamType(streamType, 'getVideoSnapshot');
    if (!userId) {
      const local = this._local.get(streamType === 'sub' ? 'screen' : 'video');
      return snapshot(local && local.el);
    }
    return snapshot(this._remote.videoElement(keyOf(userId, 'video', streamType)));
  }

  /**
   * TRTC sendSEIMessage(buffer, {seiPayloadType = 243 | 5, toSubStream = false}): `buffer` (1..1000 bytes)
   * goes into the next published H.264 frame of the camera (or the screen) as an SEI NAL unit; the others
   * get SEI_MESSAGE. Needs TRTC.create({enableSEI: true}) and a published video. Best effort (a lost frame
   * loses its message). Not in end-to-end encrypted rooms (E2EE carries VP8 only).
   */
  sendSEIMessage(buffer, options = {}) {
    const fn = 'sendSEIMessage';
    this._assertAlive(fn);
    const {bytes, payloadType, toSubStream} = validateSeiMessage(buffer, options);
    if (!FramePipeline.available || this._e2ee.active) {
      throw unsupported(fn, EXTRA_CODE.NOT_SUPPORTED_SEI, this._e2ee.active
        ? 'SEI needs H.264, which end-to-end encrypted rooms do not carry' : 'this browser has no encoded transforms: no SEI');
    }
    if (!this._seiEnabled) throw invalidOperation(fn, 'create the instance with TRTC.create({enableSEI: true})', EXTRA_CODE.SEI_NOT_ENABLED);
    this._assertInRoom(fn);
    const slot = toSubStream ? 'screen' : 'video';
    if (!this._send.isPublished(slot)) {
      throw invalidOperation(fn, `publish the ${toSubStream ? 'screen share' : 'camera'} first`, EXTRA_CODE.NEEDS_PUBLISHED);
    }
    this._pipeline.sendSei(slot, payloadType, bytes);
  }

  // ------------------------------------------------------------------------------------ not offered

  /** TRTC plugins (beauty, virtual background, watermark, AI denoiser, CDN streaming, mixing...) are not
   *  offered: RtcError 5200/5210. */
  use() {
    throw unsupported('use', EXTRA_CODE.NOT_SUPPORTED_PLUGIN, 'RelayRoom has no plugins');
  }

  async startPlugin(name) {
    throw unsupported('startPlugin', EXTRA_CODE.NOT_SUPPORTED_PLUGIN, `plugin ${String(name)} is not supported`);
  }

  async updatePlugin(name) {
    throw unsupported('updatePlugin', EXTRA_CODE.NOT_SUPPORTED_PLUGIN, `plugin ${String(name)} is not supported`);
  }

  async stopPlugin(name) {
    throw unsupported('stopPlugin', EXTRA_CODE.NOT_SUPPORTED_PLUGIN, `plugin ${String(name)} is not supported`);
  }

  async callExperimentalAPI(name) {
    throw unsupported('callExperimentalAPI', 0, `experimental API ${String(name)} is not supported`);
  }

  // ------------------------------------------------------------------------------------ remote media

  /** TRTC startRemoteVideo({userId, streamType: 'main'|'sub', view, option: {fillMode, mirror, small}}).
   *  `small: true` receives the camera's small stream; a publisher without one sends its big one. */
  async startRemoteVideo({userId, streamType = 'main', view, option = {}} = {}) {
    const fn = 'startRemoteVideo';
    this._assertAlive(fn);
    validateUserId(userId, fn);
    validateStreamType(streamType, fn);
    const el = resolveView(view, fn);
    this._assertInRoom(fn);
    this._remote.showVideo(keyOf(userId, 'video', streamType), el, {mirror: !!option.mirror,
      fillMode: option.fillMode || (streamType === 'sub' ? 'contain' : 'cover')});
    const small = streamType === 'main' && option && option.small !== undefined ? !!option.small : undefined;
    await this._subscriptions.set(userId, 'video', streamType, true, fn, small);
  }

  /** TRTC updateRemoteVideo: view, fillMode, mirror, and `small` (switch between small and big stream). */
  async updateRemoteVideo({userId, streamType = 'main', view, option = {}} = {}) {
    const key = keyOf(userId, 'video', streamType);
    if (!this._remote.hasView(key)) throw invalidOperation('updateRemoteVideo', 'startRemoteVideo first');
    this._remote.updateVideo(key, {view: view === undefined ? undefined : resolveView(view, 'updateRemoteVideo'),
      fillMode: option.fillMode, mirror: option.mirror === undefined ? undefined : !!option.mirror});
    if (streamType === 'main' && option && option.small !== undefined) {
      await this._subscriptions.set(userId, 'video', streamType, true, 'updateRemoteVideo', !!option.small);
    }
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

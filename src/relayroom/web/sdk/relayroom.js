/*
 * RelayRoom browser SDK: a TRTC Web SDK v5-shaped API over RelayRoom's signalling protocol v1.
 *
 *   import RelayRoom from '/sdk/relayroom.js';
 *   const rr = RelayRoom.create();
 *   rr.on(RelayRoom.EVENT.REMOTE_VIDEO_AVAILABLE, ({userId, streamType}) =>
 *     rr.startRemoteVideo({userId, streamType, view: `tile-${userId}`}));
 *   await rr.enterRoom({sdkAppId, userId, userSig, roomId: 8888});
 *   await rr.startLocalAudio();
 *   await rr.startLocalVideo({view: 'me'});
 *
 * Plain modern JavaScript, an ES module, no dependencies and no build step. One signalling WebSocket
 * (`/signal`, docs/signalling.md), one send RTCPeerConnection (we offer, the server answers) and one
 * receive RTCPeerConnection (the server offers, we answer): docs/decisions/0002. Parameters are
 * checked with TRTC's rules before anything is sent. Reconnects by itself: a dropped socket resumes
 * the session with its resume token; a `reconnect` event (media worker died, media transport lost)
 * enters the room again and republishes. UserSigs, PrivateMapKeys and resume tokens are never logged.
 */

const PROTOCOL_VERSION = 1;
const SDK_VERSION = '0.1.0';

/** TRTC.ERROR_CODE */
export const ERROR_CODE = Object.freeze({
  INVALID_PARAMETER: 5000,
  INVALID_OPERATION: 5100,
  ENV_NOT_SUPPORTED: 5200,
  DEVICE_ERROR: 5300,
  SERVER_ERROR: 5400,
  OPERATION_FAILED: 5500,
  OPERATION_ABORT: 5998,
  UNKNOWN_ERROR: 5999,
});

/** extraCode values used with the codes above (5012..5016 are TRTC's enterRoom ones). */
export const EXTRA_CODE = Object.freeze({
  ROOM_ID_OUT_OF_RANGE: 5012,
  STR_ROOM_ID_INVALID: 5013,
  ROOM_ID_MISSING: 5015,
  ROOM_ID_NOT_NUMBER: 5016,
  NOT_IN_ROOM: 5101,
  REMOTE_USER_MISSING: 5102,
  DEVICE_NOT_FOUND: 5301,
  DEVICE_NOT_ALLOWED: 5302,
  DEVICE_NOT_READABLE: 5303,
  DEVICE_OVERCONSTRAINED: 5304,
  DEVICE_INVALID_STATE: 5305,
  DEVICE_SECURITY: 5306,
  DEVICE_ABORTED: 5307,
  RECONNECT_FAILED: 5501,
  SIGNAL_CLOSED: 5502,
  TIMEOUT: 5503,
});

/** TRTC.EVENT */
export const EVENT = Object.freeze({
  ERROR: 'error',
  AUTOPLAY_FAILED: 'autoplay-failed',
  KICKED_OUT: 'kicked-out',
  REMOTE_USER_ENTER: 'remote-user-enter',
  REMOTE_USER_EXIT: 'remote-user-exit',
  REMOTE_AUDIO_AVAILABLE: 'remote-audio-available',
  REMOTE_AUDIO_UNAVAILABLE: 'remote-audio-unavailable',
  REMOTE_VIDEO_AVAILABLE: 'remote-video-available',
  REMOTE_VIDEO_UNAVAILABLE: 'remote-video-unavailable',
  AUDIO_VOLUME: 'audio-volume',
  NETWORK_QUALITY: 'network-quality',
  CONNECTION_STATE_CHANGED: 'connection-state-changed',
  CUSTOM_MESSAGE: 'custom-message',
  SCREEN_SHARE_STOPPED: 'screen-share-stopped',
  PUBLISH_STATE_CHANGED: 'publish-state-changed',
  STATISTICS: 'statistics',
});

/** TRTC.TYPE */
export const TYPE = Object.freeze({
  SCENE_RTC: 'rtc',
  SCENE_LIVE: 'live',
  ROLE_ANCHOR: 'anchor',
  ROLE_AUDIENCE: 'audience',
  STREAM_TYPE_MAIN: 'main',
  STREAM_TYPE_SUB: 'sub',
  CONNECTION_STATE_DISCONNECTED: 'DISCONNECTED',
  CONNECTION_STATE_CONNECTING: 'CONNECTING',
  CONNECTION_STATE_CONNECTED: 'CONNECTED',
  CONNECTION_STATE_RECONNECTING: 'RECONNECTING',
  QUALITY_UNKNOWN: 0,
  QUALITY_EXCELLENT: 1,
  QUALITY_GOOD: 2,
  QUALITY_POOR: 3,
  QUALITY_BAD: 4,
  QUALITY_VERY_BAD: 5,
  QUALITY_DISCONNECTED: 6,
});

/** trtc-sdk-v5's video profiles: [width, height, frameRate, bitrate kbps]. */
const VIDEO_PROFILES = Object.freeze({
  '120p': [160, 120, 15, 200],
  '180p': [320, 180, 15, 350],
  '240p': [320, 240, 15, 400],
  '360p': [640, 360, 15, 800],
  '480p': [640, 480, 15, 900],
  '720p': [1280, 720, 15, 1500],
  '1080p': [1920, 1080, 15, 2000],
  '1440p': [2560, 1440, 30, 4860],
  '4K': [3840, 2160, 30, 9000],
});
const SCREEN_PROFILES = Object.freeze({
  '480p': [640, 480, 5, 900],
  '720p': [1280, 720, 5, 1200],
  '1080p': [1920, 1080, 5, 1600],
});
const AUDIO_PROFILES = Object.freeze({
  standard: {channelCount: 1, bitrate: 40},
  'standard-stereo': {channelCount: 2, bitrate: 64},
  high: {channelCount: 1, bitrate: 128},
  'high-stereo': {channelCount: 2, bitrate: 192},
});

/** A failure: TRTC's RtcError shape ({code, extraCode, functionName, message}). */
export class RtcError extends Error {
  constructor({code, extraCode = 0, message = '', functionName = '', cause} = {}) {
    super(message || `error ${code}`);
    this.name = 'RtcError';
    this.code = code;
    this.extraCode = extraCode;
    this.functionName = functionName;
    if (cause !== undefined) this.cause = cause;
  }
  toString() {
    return `RtcError: ${this.message} <code=${this.code}${this.extraCode ? ` extraCode=${this.extraCode}` : ''}>`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Validation: TRTC's rules, applied before anything is sent (and again by the server).

export const ROOM_ID_MIN = 1;
export const ROOM_ID_MAX = 4294967294;
const STR_ROOM_ID_RE = /^[A-Za-z0-9 !#$%&()+\-:;<=.>?@[\]^_{}|~,]+$/;
const USER_ID_RE = /^[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();
const byteLength = (s) => encoder.encode(s).length;

function invalid(functionName, message, extraCode = 0) {
  return new RtcError({code: ERROR_CODE.INVALID_PARAMETER, extraCode, message, functionName});
}

function invalidOperation(functionName, message, extraCode = 0) {
  return new RtcError({code: ERROR_CODE.INVALID_OPERATION, extraCode, message, functionName});
}

/** Throws RtcError(5000, extraCode) for a bad userId; returns it otherwise. */
export function validateUserId(userId, functionName = 'enterRoom') {
  if (typeof userId !== 'string' || userId.length === 0) throw invalid(functionName, 'userId is required');
  if (byteLength(userId) > 32 || !USER_ID_RE.test(userId)) {
    throw invalid(functionName, 'userId must be 1..32 bytes of [a-zA-Z0-9_-]');
  }
  return userId;
}

/** TRTC's room rules: roomId wins when both are given; "123" is not 123. Returns {roomId} or {strRoomId}. */
export function validateRoom(roomId, strRoomId, functionName = 'enterRoom') {
  if (roomId !== undefined && roomId !== null) {
    if (typeof roomId === 'string') {
      throw invalid(functionName, 'roomId must be a number; use strRoomId for strings', EXTRA_CODE.ROOM_ID_NOT_NUMBER);
    }
    if (typeof roomId !== 'number' || !Number.isInteger(roomId) || roomId < ROOM_ID_MIN || roomId > ROOM_ID_MAX) {
      throw invalid(functionName, `roomId must be an integer in ${ROOM_ID_MIN}..${ROOM_ID_MAX}`,
        EXTRA_CODE.ROOM_ID_OUT_OF_RANGE);
    }
    return {roomId};
  }
  if (strRoomId !== undefined && strRoomId !== null) {
    if (typeof strRoomId !== 'string' || strRoomId.length === 0 || byteLength(strRoomId) > 64 ||
        !STR_ROOM_ID_RE.test(strRoomId)) {
      throw invalid(functionName,
        'strRoomId must be 1..64 bytes of [a-zA-Z0-9], space and !#$%&()+-:;<=.>?@[]^_{}|~,',
        EXTRA_CODE.STR_ROOM_ID_INVALID);
    }
    return {strRoomId};
  }
  throw invalid(functionName, 'roomId or strRoomId is required', EXTRA_CODE.ROOM_ID_MISSING);
}

/** Checks enterRoom's options; returns the request data for the server (plus serverUrl). */
export function validateEnterRoomParams(options) {
  const fn = 'enterRoom';
  if (options === null || typeof options !== 'object') throw invalid(fn, 'enterRoom needs an options object');
  const {sdkAppId, userId, userSig, roomId, strRoomId, scene = 'rtc', role = 'anchor', privateMapKey,
    autoReceiveAudio = true, autoReceiveVideo = false, serverUrl, consentToken} = options;
  if (typeof sdkAppId !== 'number' || !Number.isInteger(sdkAppId) || sdkAppId <= 0 || sdkAppId > 0xFFFFFFFF) {
    throw invalid(fn, 'sdkAppId must be a positive integer');
  }
  validateUserId(userId, fn);
  if (typeof userSig !== 'string' || userSig.length === 0) throw invalid(fn, 'userSig is required');
  const room = validateRoom(roomId, strRoomId, fn);
  if (scene !== 'rtc' && scene !== 'live') throw invalid(fn, "scene must be 'rtc' or 'live'");
  if (role !== 'anchor' && role !== 'audience') throw invalid(fn, "role must be 'anchor' or 'audience'");
  if (privateMapKey !== undefined && privateMapKey !== null && typeof privateMapKey !== 'string') {
    throw invalid(fn, 'privateMapKey must be a string');
  }
  if (typeof autoReceiveAudio !== 'boolean') throw invalid(fn, 'autoReceiveAudio must be a boolean');
  if (typeof autoReceiveVideo !== 'boolean') throw invalid(fn, 'autoReceiveVideo must be a boolean');
  if (serverUrl !== undefined && serverUrl !== null) signalUrl(serverUrl);
  const data = {sdkAppId, userId, userSig, ...room, scene, role, autoReceiveAudio, autoReceiveVideo};
  if (privateMapKey) data.privateMapKey = privateMapKey;
  if (typeof consentToken === 'string' && consentToken) data.consentToken = consentToken;
  return data;
}

/** The signalling URL: `serverUrl` (ws(s):// as is; http(s):// or a bare host gets /signal) or the page's origin. */
export function signalUrl(serverUrl) {
  const base = typeof location !== 'undefined' ? location.href : 'http://127.0.0.1/';
  let url;
  try {
    url = new URL(serverUrl || '/signal', base);
  } catch (e) {
    throw invalid('enterRoom', 'serverUrl is not a valid URL');
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw invalid('enterRoom', 'serverUrl must be ws(s) or http(s)');
  if (serverUrl && (url.pathname === '/' || url.pathname === '')) url.pathname = '/signal';
  return url.toString();
}

/** The server's {code, extraCode, message} as TRTC's RtcError: 501x → 5000/extra, 510x → 5100/extra,
 *  negative entry codes (−100018 UserSig, −100006 PrivateMapKey, RelayRoom's −1002xx) → 5400/extra. */
export function fromServerError(err, functionName = '') {
  const code = Number(err && err.code);
  const message = String((err && err.message) || 'request refused');
  const extra = Number((err && err.extraCode) || 0);
  if (code > 5000 && code < 5100) return new RtcError({code: 5000, extraCode: code, message, functionName});
  if (code > 5100 && code < 5200) return new RtcError({code: 5100, extraCode: code, message, functionName});
  if (code < 0) return new RtcError({code: 5400, extraCode: code, message, functionName});
  if (Number.isFinite(code) && code >= 5000 && code < 6000) {
    return new RtcError({code, extraCode: extra, message, functionName});
  }
  return new RtcError({code: 5999, extraCode: Number.isFinite(code) ? code : 0, message, functionName});
}

function deviceError(e, functionName) {
  const extra = {
    NotFoundError: 5301, DevicesNotFoundError: 5301, NotAllowedError: 5302, PermissionDeniedError: 5302,
    NotReadableError: 5303, TrackStartError: 5303, OverconstrainedError: 5304, InvalidStateError: 5305,
    SecurityError: 5306, AbortError: 5307,
  }[e && e.name] || 0;
  return new RtcError({code: ERROR_CODE.DEVICE_ERROR, extraCode: extra, functionName,
    message: `${(e && e.name) || 'Error'}: ${(e && e.message) || 'device error'}`, cause: e});
}

function resolveView(view, functionName) {
  if (view === undefined || view === null) return null;
  if (typeof view === 'string') {
    const el = document.getElementById(view);
    if (!el) throw invalid(functionName, `no element with id "${view}" for view`);
    return el;
  }
  if (typeof HTMLElement !== 'undefined' && view instanceof HTMLElement) return view;
  throw invalid(functionName, 'view must be an element id or an HTMLElement');
}

function profileOf(profile, table, fallback, functionName) {
  if (profile === undefined || profile === null) profile = fallback;
  if (typeof profile === 'string') {
    const p = table[profile];
    if (!p) throw invalid(functionName, `unknown profile "${profile}"`);
    return {width: p[0], height: p[1], frameRate: p[2], bitrate: p[3]};
  }
  if (typeof profile === 'object') {
    const {width, height, frameRate = 15, bitrate} = profile;
    if (![width, height, frameRate].every((n) => Number.isFinite(n) && n > 0)) {
      throw invalid(functionName, 'profile needs positive width, height and frameRate');
    }
    const b = Number.isFinite(bitrate) && bitrate > 0 ? bitrate : Math.round(width * height * frameRate / 1000 / 8);
    return {width, height, frameRate, bitrate: b};
  }
  throw invalid(functionName, 'profile must be a name or {width, height, frameRate, bitrate}');
}

const b64encode = (buf) => {
  const bytes = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
};
const b64decode = (text) => {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out.buffer;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const keyOf = (userId, kind, streamType = 'main') => `${userId}|${kind}|${streamType}`;

let logLevel = 2; // 0 debug, 1 info, 2 warn, 3 error, 5 none
const log = {
  debug: (...a) => logLevel <= 0 && console.debug('[relayroom]', ...a),
  info: (...a) => logLevel <= 1 && console.info('[relayroom]', ...a),
  warn: (...a) => logLevel <= 2 && console.warn('[relayroom]', ...a),
};

// ---------------------------------------------------------------------------------------------------

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
    logLevel = Number.isInteger(level) ? level : 2;
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
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
  }

  static async getMicrophoneList() {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
  }

  static async getSpeakerList() {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audiooutput');
  }

  constructor(options = {}) {
    this._options = {...options};
    this._listeners = new Map();
    this._destroyed = false;
    this._state = 'DISCONNECTED';
    // signalling
    this._ws = null;
    this._seq = 0;
    this._pending = new Map();
    this._heartbeatTimer = null;
    this._lastHeard = 0;
    // session
    this._enterData = null; // the validated enter request (holds the UserSig: never logged)
    this._url = null;
    this._room = null; // the enter/resume response (holds the resume token: never logged)
    this._inRoom = false;
    this._entering = false;
    this._recovering = null; // a running reconnect (promise)
    this._generation = 0; // bumped on every (re)entry: stale async work checks it
    // media
    this._sendPc = null;
    this._recvPc = null;
    this._senders = {audio: null, video: null, screen: null}; // RTCRtpTransceiver per slot
    this._publishedSlots = new Set();
    this._publishChain = Promise.resolve();
    this._offerChain = Promise.resolve();
    this._local = {audio: null, video: null, screen: null};
    this._starting = new Set(); // slots whose capture is in progress
    this._midStreams = new Map(); // mid -> {userId, kind, streamType, producerId}
    this._remoteTracks = new Map(); // key -> {track, mid, receiver}
    this._remoteUsers = new Map(); // userId -> {streams: Map(kind|streamType -> available bool)}
    this._pendingExits = new Map(); // userId -> timer: known users not (yet) back after a re-entry
    this._remoteViews = new Map(); // key(video) -> {view, el, options}
    this._remoteAudio = new Map(); // userId -> {el, volume, muted}
    this._overrides = new Map(); // key -> wanted bool (startRemoteVideo / muteRemoteAudio)
    this._volumeTimer = null;
    this._volumeInterval = 0;
    this._qualityTimer = null;
    this._lastRecvCounters = null;
  }

  // ------------------------------------------------------------------------------------ events

  /** Register `handler` for `event` (TRTC.EVENT.*). */
  on(event, handler, context) {
    if (typeof handler !== 'function') throw invalid('on', 'handler must be a function');
    if (!this._listeners.has(event)) this._listeners.set(event, []);
    this._listeners.get(event).push({handler, context, once: false});
    return this;
  }

  once(event, handler, context) {
    this.on(event, handler, context);
    const list = this._listeners.get(event);
    list[list.length - 1].once = true;
    return this;
  }

  /** Remove `handler` (or every handler of `event`; `off('*')` removes all). */
  off(event, handler) {
    if (event === '*') {
      this._listeners.clear();
      return this;
    }
    const list = this._listeners.get(event);
    if (!list) return this;
    if (handler === undefined) this._listeners.delete(event);
    else this._listeners.set(event, list.filter((l) => l.handler !== handler));
    return this;
  }

  _emit(event, data) {
    const list = this._listeners.get(event);
    if (!list || list.length === 0) return;
    for (const l of [...list]) {
      if (l.once) this.off(event, l.handler);
      try {
        l.handler.call(l.context, data);
      } catch (e) {
        setTimeout(() => { throw e; }); // the application's bug: report it, do not break the SDK
      }
    }
  }

  _setState(state) {
    if (state === this._state) return;
    const prevState = this._state;
    this._state = state;
    this._emit(EVENT.CONNECTION_STATE_CHANGED, {prevState, state});
  }

  /** 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'RECONNECTING' */
  get connectionState() {
    return this._state;
  }

  _assertAlive(fn) {
    if (this._destroyed) throw invalidOperation(fn, 'this instance was destroyed; create a new one');
  }

  // ------------------------------------------------------------------------------------ signalling

  _openSocket() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this._url);
      } catch (e) {
        reject(new RtcError({code: ERROR_CODE.SERVER_ERROR, message: 'cannot open the signalling socket'}));
        return;
      }
      const timer = setTimeout(() => {
        ws.close();
        reject(new RtcError({code: ERROR_CODE.SERVER_ERROR, extraCode: EXTRA_CODE.TIMEOUT,
          message: 'signalling connection timed out'}));
      }, 10000);
      ws.onopen = () => {
        clearTimeout(timer);
        this._ws = ws;
        this._lastHeard = Date.now();
        resolve(ws);
      };
      ws.onerror = () => {}; // onclose follows with the details we need
      ws.onclose = () => {
        clearTimeout(timer);
        if (this._ws !== ws) {
          reject(new RtcError({code: ERROR_CODE.SERVER_ERROR, extraCode: EXTRA_CODE.SIGNAL_CLOSED,
            message: 'cannot reach the signalling server'}));
          return;
        }
        this._onSocketClosed(ws);
      };
      ws.onmessage = (ev) => {
        if (this._ws === ws) this._onMessage(ev.data);
      };
    });
  }

  _closeSocket() {
    const ws = this._ws;
    this._ws = null;
    this._failPending('signalling connection closed');
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try { ws.close(1000); } catch (e) { /* already closed */ }
    }
  }

  _failPending(message) {
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new RtcError({code: ERROR_CODE.OPERATION_ABORT, extraCode: EXTRA_CODE.SIGNAL_CLOSED, message,
        functionName: p.functionName}));
    }
    this._pending.clear();
  }

  _request(type, data = {}, functionName = type, timeoutMs = 15000) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RtcError({code: ERROR_CODE.INVALID_OPERATION, extraCode: EXTRA_CODE.NOT_IN_ROOM,
        message: 'not connected to the server', functionName}));
    }
    const id = ++this._seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new RtcError({code: ERROR_CODE.SERVER_ERROR, extraCode: EXTRA_CODE.TIMEOUT,
          message: `no response to ${type}`, functionName}));
      }, timeoutMs);
      this._pending.set(id, {resolve, reject, timer, functionName});
      ws.send(JSON.stringify({v: PROTOCOL_VERSION, id, type, data}));
    });
  }

  _onMessage(raw) {
    this._lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch (e) {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'response') {
      const p = this._pending.get(msg.id);
      if (!p) return;
      this._pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.data || {});
      else p.reject(fromServerError(msg.error, p.functionName));
    } else if (msg.type === 'event') {
      try {
        this._onServerEvent(String(msg.event), msg.data || {});
      } catch (e) {
        log.warn('event handling failed', msg.event, e && e.message);
      }
    }
  }

  _onSocketClosed(ws) {
    if (this._ws !== ws) return;
    this._ws = null;
    this._failPending('signalling connection closed');
    if (this._inRoom && !this._destroyed) {
      log.info('signalling socket dropped; resuming');
      this._recover('socket');
    }
  }

  _startHeartbeat(intervalS) {
    this._stopHeartbeat();
    const interval = Math.max(1, Number(intervalS) || 10) * 1000;
    this._heartbeatTimer = setInterval(() => {
      if (!this._inRoom || this._recovering) return;
      const ws = this._ws;
      if (!ws) return;
      if (Date.now() - this._lastHeard > 3 * interval) {
        log.info('signalling socket silent; reconnecting');
        try { ws.close(); } catch (e) { /* closed */ }
        this._onSocketClosed(ws);
        return;
      }
      this._request('heartbeat', {}, 'heartbeat', interval * 2).then((res) => {
        if (res && res.inRoom === false && this._inRoom && !this._recovering) this._recover('not_in_room');
      }, () => {});
    }, interval);
  }

  _stopHeartbeat() {
    if (this._heartbeatTimer) clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = null;
  }

  // ------------------------------------------------------------------------------------ server events

  _onServerEvent(name, data) {
    if (!this._inRoom && !this._entering) return;
    switch (name) {
      case 'offer':
        this._queueOffer(data, this._generation);
        return;
      case 'remote-user-enter':
        this._userSeen(String(data.userId));
        return;
      case 'remote-user-exit':
        this._userGone(String(data.userId), data.reason);
        return;
      case 'remote-audio-available':
      case 'remote-audio-unavailable':
      case 'remote-video-available':
      case 'remote-video-unavailable': {
        const kind = name.includes('audio') ? 'audio' : 'video';
        const available = !name.endsWith('unavailable');
        this._streamState(String(data.userId), kind, data.streamType || 'main', available, data.reason);
        return;
      }
      case 'custom-message': {
        let payload;
        try {
          payload = b64decode(String(data.data || ''));
        } catch (e) {
          return;
        }
        this._emit(EVENT.CUSTOM_MESSAGE, {userId: data.userId, cmdId: data.cmdId, seq: data.seq, data: payload});
        return;
      }
      case 'kicked-out':
        this._kickedOut(data.reason);
        return;
      case 'server-shutdown':
        // the socket closes next (1001): the dropped-socket recovery enters again once a server answers
        log.info('server is shutting down:', data.reason);
        return;
      case 'reconnect':
        log.info('server asks to reconnect:', data.reason);
        this._recover(data.reason === 'worker_died' || data.reason === 'timeout' ? 'gone' : 'media');
        return;
      case 'error':
        this._emit(EVENT.ERROR, fromServerError(data, 'server'));
        return;
      default:
        // newer servers may add events within v1: ignore what we do not know
    }
  }

  _userSeen(userId) {
    const timer = this._pendingExits.get(userId);
    if (timer) {
      clearTimeout(timer);
      this._pendingExits.delete(userId);
    }
    if (this._remoteUsers.has(userId)) {
      this._sendOverrides(userId);
      return;
    }
    this._remoteUsers.set(userId, {streams: new Map()});
    this._emit(EVENT.REMOTE_USER_ENTER, {userId});
    this._sendOverrides(userId);
  }

  _userGone(userId, reason) {
    const timer = this._pendingExits.get(userId);
    if (timer) {
      clearTimeout(timer);
      this._pendingExits.delete(userId);
    }
    const user = this._remoteUsers.get(userId);
    if (!user) return;
    for (const [k, available] of user.streams) {
      if (!available) continue;
      const [kind, streamType] = k.split('|');
      this._streamState(userId, kind, streamType, false);
    }
    this._remoteUsers.delete(userId);
    this._dropRemoteAudio(userId);
    for (const st of ['main', 'sub']) this._detachRemoteView(keyOf(userId, 'video', st), true);
    for (const k of [...this._overrides.keys()]) if (k.startsWith(`${userId}|`)) this._overrides.delete(k);
    this._emit(EVENT.REMOTE_USER_EXIT, {userId, reason: typeof reason === 'number' ? reason : 0});
  }

  _streamState(userId, kind, streamType, available, reason) {
    if (available && !this._remoteUsers.has(userId)) this._userSeen(userId);
    const user = this._remoteUsers.get(userId);
    if (!user) return;
    const k = `${kind}|${streamType}`;
    if ((user.streams.get(k) || false) === available) return;
    user.streams.set(k, available);
    const event = kind === 'audio'
      ? (available ? EVENT.REMOTE_AUDIO_AVAILABLE : EVENT.REMOTE_AUDIO_UNAVAILABLE)
      : (available ? EVENT.REMOTE_VIDEO_AVAILABLE : EVENT.REMOTE_VIDEO_UNAVAILABLE);
    const data = kind === 'audio' ? {userId} : {userId, streamType};
    if (reason) data.reason = reason;
    this._emit(event, data);
  }

  /** Bring the remote-user model in line with a member list (after enter/resume): new users enter,
   *  known users missing from it leave after `graceMs` unless they come back meanwhile. */
  _reconcile(members, graceMs) {
    const present = new Set();
    for (const m of members || []) {
      const userId = String(m.userId);
      present.add(userId);
      this._userSeen(userId);
      const seen = new Set();
      for (const s of m.streams || []) {
        const st = s.streamType || 'main';
        seen.add(`${s.kind}|${st}`);
        this._streamState(userId, s.kind, st, !s.muted);
      }
      const user = this._remoteUsers.get(userId);
      for (const [k, available] of user ? user.streams : []) {
        if (available && !seen.has(k)) {
          const [kind, st] = k.split('|');
          this._streamState(userId, kind, st, false);
        }
      }
    }
    for (const userId of [...this._remoteUsers.keys()]) {
      if (present.has(userId) || this._pendingExits.has(userId)) continue;
      if (graceMs <= 0) {
        this._userGone(userId, 0);
      } else {
        this._pendingExits.set(userId, setTimeout(() => {
          this._pendingExits.delete(userId);
          if (this._remoteUsers.has(userId)) this._userGone(userId, 1);
        }, graceMs));
      }
    }
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
    if (this._inRoom || this._entering) throw invalidOperation('enterRoom', 'already in a room; exitRoom first');
    const serverUrl = (options && options.serverUrl) || this._options.serverUrl;
    this._url = signalUrl(serverUrl);
    this._enterData = data;
    this._entering = true;
    this._setState('CONNECTING');
    try {
      if (!this._ws) await this._openSocket();
      await this._enter(false);
      this._setState('CONNECTED');
    } catch (e) {
      this._inRoom = false;
      this._room = null;
      this._enterData = null;
      this._teardownMedia();
      this._closeSocket();
      this._setState('DISCONNECTED');
      throw e instanceof RtcError ? e : new RtcError({code: ERROR_CODE.UNKNOWN_ERROR, message: String(e),
        functionName: 'enterRoom'});
    } finally {
      this._entering = false;
    }
  }

  /** Enter with the stored parameters on the open socket, then publish the local tracks. */
  async _enter(again) {
    this._generation += 1;
    const res = await this._request('enter', this._enterData, 'enterRoom');
    this._room = res;
    this._inRoom = true;
    this._reconcile(res.members, again ? 10000 : 0);
    this._startHeartbeat(res.heartbeatInterval);
    this._startQualityTimer();
    if (this._volumeInterval > 0) this._startVolumeTimer();
    if (res.role !== 'anchor') return;
    if (again) {
      await this._syncPublish(true); // a failure makes the recovery try again
      return;
    }
    try {
      await this._syncPublish(true);
    } catch (e) {
      // In the room but not publishing: tell the application (as trtc-sdk-v5 does for a failed publish).
      this._emit(EVENT.ERROR, e instanceof RtcError ? e : new RtcError({code: ERROR_CODE.OPERATION_FAILED,
        message: `publish failed: ${(e && e.message) || e}`, functionName: 'publish'}));
    }
  }

  /** TRTC exitRoom: leave the room; local tracks keep running (stop them with stopLocal*). */
  async exitRoom() {
    this._assertAlive('exitRoom');
    if (!this._inRoom && !this._entering && !this._recovering) return;
    const wasIn = this._inRoom;
    this._inRoom = false;
    this._generation += 1;
    if (wasIn && this._ws) {
      try { await this._request('exit', {}, 'exitRoom', 5000); } catch (e) { /* leaving anyway */ }
    }
    this._leaveLocally();
  }

  _leaveLocally() {
    this._inRoom = false;
    this._room = null;
    this._enterData = null;
    this._stopHeartbeat();
    this._stopQualityTimer();
    this._stopVolumeTimer();
    this._teardownMedia();
    // Our own exit: the room is gone for us, without per-user exit events (as trtc-sdk-v5).
    for (const userId of [...this._remoteUsers.keys()]) this._dropRemoteAudio(userId);
    this._remoteUsers.clear();
    for (const t of this._pendingExits.values()) clearTimeout(t);
    this._pendingExits.clear();
    this._overrides.clear();
    for (const k of [...this._remoteViews.keys()]) this._detachRemoteView(k, true);
    this._closeSocket();
    this._setState('DISCONNECTED');
  }

  _kickedOut(reason) {
    this._generation += 1;
    this._leaveLocally();
    this._emit(EVENT.KICKED_OUT, {reason: reason || 'kick'});
  }

  /** TRTC switchRole (live rooms only): anchor ↔ audience. Audience stops publishing. */
  async switchRole(role, options = {}) {
    this._assertAlive('switchRole');
    if (role !== 'anchor' && role !== 'audience') throw invalid('switchRole', "role must be 'anchor' or 'audience'");
    if (!this._inRoom) throw invalidOperation('switchRole', 'enterRoom first', EXTRA_CODE.NOT_IN_ROOM);
    if (this._room.scene !== 'live') throw invalidOperation('switchRole', 'switchRole is for live rooms');
    const data = {role};
    if (options && options.privateMapKey) data.privateMapKey = String(options.privateMapKey);
    const res = await this._request('switchRole', data, 'switchRole');
    this._room.role = res.role;
    this._enterData.role = res.role;
    if (data.privateMapKey) this._enterData.privateMapKey = data.privateMapKey;
    if (res.role === 'audience') {
      // The server unpublished everything. Keep the connection (closing it would look like a lost
      // transport to the server) but stop sending media on it.
      for (const tr of Object.values(this._senders)) if (tr) await tr.sender.replaceTrack(null);
      for (const slot of this._publishedSlots) this._emit(EVENT.PUBLISH_STATE_CHANGED, {mediaType: slot, state: 'stopped'});
      this._publishedSlots.clear();
    } else {
      await this._syncPublish();
    }
  }

  /** TRTC sendCustomMessage({cmdId 1..10, data: ArrayBuffer ≤ 1 KB}); anchors only. */
  async sendCustomMessage({cmdId, data} = {}) {
    this._assertAlive('sendCustomMessage');
    if (!Number.isInteger(cmdId) || cmdId < 1 || cmdId > 10) throw invalid('sendCustomMessage', 'cmdId must be 1..10');
    let bytes;
    if (data instanceof ArrayBuffer) bytes = data;
    else if (ArrayBuffer.isView(data)) bytes = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    else throw invalid('sendCustomMessage', 'data must be an ArrayBuffer');
    if (bytes.byteLength === 0 || bytes.byteLength > 1024) throw invalid('sendCustomMessage', 'data must be 1..1024 bytes');
    if (!this._inRoom) throw invalidOperation('sendCustomMessage', 'enterRoom first', EXTRA_CODE.NOT_IN_ROOM);
    if (this._room && this._room.role !== 'anchor') {
      throw invalidOperation('sendCustomMessage', 'only anchors send custom messages');
    }
    const res = await this._request('customMessage', {cmdId, data: b64encode(bytes)}, 'sendCustomMessage');
    return res.seq;
  }

  /** Exit (if in a room), stop local tracks and release everything. The instance cannot be used again. */
  async destroy() {
    if (this._destroyed) return;
    try { await this.exitRoom(); } catch (e) { /* destroying anyway */ }
    for (const slot of ['audio', 'video', 'screen']) this._releaseLocal(slot);
    this._closeSocket();
    this._destroyed = true;
    this._listeners.clear();
  }

  // ------------------------------------------------------------------------------------ reconnect

  /** Recover from a dropped socket ('socket'), a lost membership ('gone', 'not_in_room') or lost media
   *  ('media'). Runs once at a time; retries with backoff until the idle timeout, then gives up. */
  _recover(why) {
    if (this._recovering) {
      if (why !== 'socket') this._recoverNeedsEnter = true;
      return this._recovering;
    }
    this._recoverNeedsEnter = why !== 'socket';
    this._setState('RECONNECTING');
    const deadline = Date.now() + Math.max(10, Number(this._room && this._room.idleTimeout) || 90) * 1000;
    const run = async () => {
      let delay = 250;
      let leaveFirst = why === 'media' || why === 'not_in_room'; // the membership may still exist
      if (this._recoverNeedsEnter) this._mediaLost();
      while (this._inRoom && !this._destroyed) {
        try {
          if (!this._ws) await this._openSocket();
          if (!this._recoverNeedsEnter) {
            try {
              const res = await this._request('resume', {resumeToken: this._room.resumeToken}, 'resume');
              this._room = {...this._room, ...res};
              this._reconcile(res.members, 0);
              this._startHeartbeat(res.heartbeatInterval);
              log.info('session resumed');
              return;
            } catch (e) {
              if (!(e instanceof RtcError) || e.extraCode !== -100209) throw e;
              this._recoverNeedsEnter = true; // the membership is gone: enter again
              this._mediaLost();
            }
          } else if (leaveFirst) {
            // the membership may still exist on the server: leave it before entering again
            try { await this._request('exit', {}, 'exitRoom', 5000); } catch (e) { /* gone already */ }
          }
          await this._enter(true);
          log.info('entered the room again');
          return;
        } catch (e) {
          if (e instanceof RtcError && e.code === ERROR_CODE.SERVER_ERROR && e.extraCode < 0 &&
              e.extraCode !== -100202) {
            throw e; // refused for good (UserSig expired, app disabled, blocked...)
          }
          if (Date.now() + delay > deadline) throw e;
          log.info('reconnect attempt failed:', e && e.message);
          if (this._recoverNeedsEnter) {
            leaveFirst = true; // an entry that got in but could not publish must be left before the next
            this._mediaLost();
          }
          if (this._ws && e && e.extraCode === EXTRA_CODE.TIMEOUT) this._closeSocket();
          await sleep(delay);
          delay = Math.min(delay * 2, 4000);
        }
      }
    };
    this._recovering = run().then(() => {
      this._recovering = null;
      if (!this._inRoom) return;
      this._setState('CONNECTED');
      for (const userId of this._remoteUsers.keys()) this._sendOverrides(userId);
    }, (e) => {
      this._recovering = null;
      if (!this._inRoom) return;
      this._leaveLocally();
      this._emit(EVENT.ERROR, new RtcError({code: ERROR_CODE.OPERATION_FAILED, extraCode: EXTRA_CODE.RECONNECT_FAILED,
        message: `reconnect failed: ${(e && e.message) || e}`, functionName: 'reconnect'}));
    });
    return this._recovering;
  }

  /** The server's transports are gone: drop ours; remote streams are unavailable until republished. */
  _mediaLost() {
    this._generation += 1;
    this._teardownMedia();
    for (const [userId, user] of this._remoteUsers) {
      for (const [k, available] of user.streams) {
        if (!available) continue;
        const [kind, st] = k.split('|');
        this._streamState(userId, kind, st, false);
      }
    }
  }

  // ------------------------------------------------------------------------------------ local media

  /** TRTC startLocalAudio({publish = true, mute = false, option: {microphoneId, audioTrack, profile,
   *  echoCancellation, noiseSuppression, autoGainControl}}). */
  async startLocalAudio(config = {}) {
    const fn = 'startLocalAudio';
    this._assertAlive(fn);
    if (this._local.audio || this._starting.has('audio')) {
      throw invalidOperation(fn, 'local audio already started; use updateLocalAudio');
    }
    const {publish = true, mute = false, option = {}} = config || {};
    this._starting.add('audio');
    let track;
    try {
      track = await this._captureAudio(option, fn);
    } finally {
      this._starting.delete('audio');
    }
    this._local.audio = {track, publish: publish !== false, mute: !!mute, option: {...option}};
    track.enabled = !mute;
    await this._publishStarted('audio');
  }

  async updateLocalAudio(config = {}) {
    const fn = 'updateLocalAudio';
    this._assertAlive(fn);
    const local = this._local.audio;
    if (!local) throw invalidOperation(fn, 'startLocalAudio first');
    const {publish, mute, option} = config || {};
    if (option && (option.microphoneId || option.audioTrack) &&
        (option.microphoneId !== local.option.microphoneId || option.audioTrack)) {
      const track = await this._captureAudio({...local.option, ...option}, fn);
      local.track.stop();
      local.track = track;
      local.option = {...local.option, ...option};
      track.enabled = !local.mute;
      if (this._senders.audio) await this._senders.audio.sender.replaceTrack(track);
    }
    if (typeof publish === 'boolean') local.publish = publish;
    if (typeof mute === 'boolean' && mute !== local.mute) {
      local.mute = mute;
      local.track.enabled = !mute;
      await this._sendMute('audio', 'main', mute);
    }
    await this._syncPublish();
  }

  async stopLocalAudio() {
    this._assertAlive('stopLocalAudio');
    if (!this._local.audio) return;
    this._releaseLocal('audio');
    await this._syncPublish();
  }

  /** TRTC startLocalVideo({view, publish = true, mute = false, option: {cameraId, useFrontCamera,
   *  videoTrack, profile ('480p' default, or {width, height, frameRate, bitrate}), fillMode, mirror}}). */
  async startLocalVideo(config = {}) {
    const fn = 'startLocalVideo';
    this._assertAlive(fn);
    if (this._local.video || this._starting.has('video')) {
      throw invalidOperation(fn, 'local video already started; use updateLocalVideo');
    }
    const {view, publish = true, mute = false, option = {}} = config || {};
    const el = resolveView(view, fn);
    const profile = profileOf(option.profile, VIDEO_PROFILES, '480p', fn);
    this._starting.add('video');
    let track;
    try {
      track = await this._captureVideo(option, profile, fn);
    } finally {
      this._starting.delete('video');
    }
    const local = {track, publish: publish !== false, mute: !!mute, option: {...option}, profile, view: el, el: null};
    this._local.video = local;
    track.enabled = !mute;
    if (el) local.el = this._render(el, track, {mirror: option.mirror !== false, fillMode: option.fillMode || 'cover',
      local: true, streamType: 'main'});
    await this._publishStarted('video');
  }

  async updateLocalVideo(config = {}) {
    const fn = 'updateLocalVideo';
    this._assertAlive(fn);
    const local = this._local.video;
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
      const track = await this._captureVideo({...local.option, ...option}, local.profile, fn);
      local.track.stop();
      local.track = track;
      track.enabled = !local.mute;
      if (this._senders.video) await this._senders.video.sender.replaceTrack(track);
      if (local.el) local.el.srcObject = new MediaStream([track]);
    }
    local.option = {...local.option, ...option};
    if (view !== undefined) {
      const el = resolveView(view, fn);
      if (local.el) local.el.parentElement && local.el.parentElement.remove();
      local.el = null;
      local.view = el;
      if (el) local.el = this._render(el, local.track, {mirror: local.option.mirror !== false,
        fillMode: local.option.fillMode || 'cover', local: true, streamType: 'main'});
    }
    if (typeof publish === 'boolean') local.publish = publish;
    if (typeof mute === 'boolean' && mute !== local.mute) {
      local.mute = mute;
      local.track.enabled = !mute;
      await this._sendMute('video', 'main', mute);
    }
    await this._syncPublish();
  }

  async stopLocalVideo() {
    this._assertAlive('stopLocalVideo');
    if (!this._local.video) return;
    this._releaseLocal('video');
    await this._syncPublish();
  }

  /** TRTC startScreenShare({view, publish = true, option: {profile ('1080p'), systemAudio?}}): the sub stream. */
  async startScreenShare(config = {}) {
    const fn = 'startScreenShare';
    this._assertAlive(fn);
    if (this._local.screen || this._starting.has('screen')) throw invalidOperation(fn, 'screen share already started');
    const {view, publish = true, option = {}} = config || {};
    const el = resolveView(view, fn);
    const profile = profileOf(option.profile, SCREEN_PROFILES, '1080p', fn);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      throw new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, message: 'screen capture is not supported', functionName: fn});
    }
    let stream;
    this._starting.add('screen');
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({
        video: {width: {ideal: profile.width}, height: {ideal: profile.height}, frameRate: {ideal: profile.frameRate}},
        audio: false,
      });
    } catch (e) {
      throw deviceError(e, fn);
    } finally {
      this._starting.delete('screen');
    }
    const track = stream.getVideoTracks()[0];
    if ('contentHint' in track) track.contentHint = 'detail';
    const local = {track, publish: publish !== false, mute: false, option: {...option}, profile, view: el, el: null};
    this._local.screen = local;
    track.addEventListener('ended', () => {
      if (this._local.screen !== local) return;
      this._releaseLocal('screen');
      this._syncPublish().catch(() => {});
      this._emit(EVENT.SCREEN_SHARE_STOPPED, {});
    });
    if (el) local.el = this._render(el, track, {mirror: false, fillMode: 'contain', local: true, streamType: 'sub'});
    await this._publishStarted('screen');
  }

  /** Publish a slot just started. If the server refuses, the capture is released and the error thrown
   *  (the call failed as a whole); if the socket dropped meanwhile, the reconnect publishes it. */
  async _publishStarted(slot) {
    try {
      await this._syncPublish();
    } catch (e) {
      if (e instanceof RtcError && e.code === ERROR_CODE.OPERATION_ABORT) return;
      this._releaseLocal(slot);
      this._syncPublish().catch(() => {});
      throw e;
    }
  }

  async stopScreenShare() {
    this._assertAlive('stopScreenShare');
    if (!this._local.screen) return;
    this._releaseLocal('screen');
    await this._syncPublish();
  }

  /** The local MediaStreamTrack of 'audio' | 'video' (camera) | 'screen', or null. */
  getLocalTrack(slot = 'video') {
    const local = this._local[slot];
    return local ? local.track : null;
  }

  async _captureAudio(option, fn) {
    if (option.audioTrack) return option.audioTrack;
    const profile = AUDIO_PROFILES[option.profile || 'standard'];
    if (!profile) throw invalid(fn, `unknown audio profile "${option.profile}"`);
    const constraints = {
      channelCount: profile.channelCount,
      echoCancellation: option.echoCancellation !== false,
      noiseSuppression: option.noiseSuppression !== false,
      autoGainControl: option.autoGainControl !== false,
    };
    if (option.microphoneId) constraints.deviceId = {exact: option.microphoneId};
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: constraints, video: false});
      return stream.getAudioTracks()[0];
    } catch (e) {
      throw deviceError(e, fn);
    }
  }

  async _captureVideo(option, profile, fn) {
    if (option.videoTrack) return option.videoTrack;
    const constraints = {width: {ideal: profile.width}, height: {ideal: profile.height},
      frameRate: {ideal: profile.frameRate}};
    if (option.cameraId) constraints.deviceId = {exact: option.cameraId};
    else if (option.useFrontCamera !== undefined) constraints.facingMode = option.useFrontCamera ? 'user' : 'environment';
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: false, video: constraints});
      return stream.getVideoTracks()[0];
    } catch (e) {
      throw deviceError(e, fn);
    }
  }

  _releaseLocal(slot) {
    const local = this._local[slot];
    if (!local) return;
    this._local[slot] = null;
    if (!(local.option && (local.option.audioTrack || local.option.videoTrack))) local.track.stop();
    if (local.el && local.el.parentElement) local.el.parentElement.remove();
  }

  // ------------------------------------------------------------------------------------ publishing

  _peerConnection() {
    return new RTCPeerConnection({iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  }

  /** Converge the send connection to the local tracks that should be published (serialised). */
  _syncPublish(force = false) {
    const run = this._publishChain.then(() => this._doSyncPublish(force));
    this._publishChain = run.catch(() => {});
    return run;
  }

  async _doSyncPublish(force) {
    if (!this._inRoom || !this._ws || !this._room || this._room.role !== 'anchor') return;
    if (this._recovering && !force) return; // the recovery publishes when it has entered again
    const generation = this._generation;
    const want = {};
    for (const slot of ['audio', 'video', 'screen']) {
      const local = this._local[slot];
      want[slot] = local && local.publish ? local : null;
    }
    if (!this._sendPc && !want.audio && !want.video && !want.screen) return;
    if (!this._sendPc) this._sendPc = this._peerConnection();
    const pc = this._sendPc;
    let changed = false;
    for (const slot of ['audio', 'video', 'screen']) {
      const local = want[slot];
      let tr = this._senders[slot];
      if (tr && (tr.stopped || tr.currentDirection === 'stopped')) tr = this._senders[slot] = null;
      if (local) {
        if (!tr) {
          this._senders[slot] = pc.addTransceiver(local.track, {direction: 'sendonly'});
          changed = true;
        } else {
          if (tr.sender.track !== local.track) await tr.sender.replaceTrack(local.track);
          if (tr.direction !== 'sendonly') {
            tr.direction = 'sendonly';
            changed = true;
          }
        }
      } else if (tr && tr.direction !== 'inactive') {
        tr.direction = 'inactive';
        await tr.sender.replaceTrack(null);
        changed = true;
      }
    }
    for (const slot of ['audio', 'video', 'screen']) {
      if (want[slot] && !this._publishedSlots.has(slot)) changed = true; // e.g. back from audience
    }
    if (!changed && this._sendPc.currentRemoteDescription) return;
    await pc.setLocalDescription(await pc.createOffer());
    const tracks = [];
    for (const slot of ['audio', 'video', 'screen']) {
      const tr = this._senders[slot];
      if (tr && tr.direction === 'sendonly' && tr.mid !== null) {
        tracks.push({kind: slot === 'audio' ? 'audio' : 'video', streamType: slot === 'screen' ? 'sub' : 'main', mid: tr.mid});
      }
    }
    let res;
    try {
      res = await this._request('publish', {sdp: pc.localDescription.sdp, tracks}, 'publish');
    } catch (e) {
      if (generation === this._generation && this._sendPc === pc) {
        if (pc.currentRemoteDescription && pc.signalingState === 'have-local-offer') {
          // Keep the established connection (closing it would look like lost media to the server);
          // the slots that did not get published are retried by the next sync.
          try { await pc.setLocalDescription({type: 'rollback'}); } catch (err) { this._closeSendPc(); }
        } else {
          this._closeSendPc();
        }
      }
      throw e;
    }
    if (generation !== this._generation || this._sendPc !== pc) return;
    await pc.setRemoteDescription({type: 'answer', sdp: res.sdp});
    const before = new Set(this._publishedSlots);
    this._publishedSlots.clear();
    for (const t of tracks) {
      this._publishedSlots.add(t.kind === 'audio' ? 'audio' : t.streamType === 'sub' ? 'screen' : 'video');
    }
    for (const slot of ['audio', 'video', 'screen']) {
      const now = this._publishedSlots.has(slot);
      if (now !== before.has(slot)) {
        this._emit(EVENT.PUBLISH_STATE_CHANGED, {mediaType: slot, state: now ? 'started' : 'stopped'});
      }
      // a new publication starts unmuted on the server
      if (now && !before.has(slot) && this._local[slot] && this._local[slot].mute) {
        await this._sendMute(slot === 'audio' ? 'audio' : 'video', slot === 'screen' ? 'sub' : 'main', true);
      }
    }
    await this._applyEncoding('video');
    await this._applyEncoding('screen');
  }

  async _applyEncoding(slot) {
    const tr = this._senders[slot];
    const local = this._local[slot];
    if (!tr || !local || !local.profile) return;
    try {
      const params = tr.sender.getParameters();
      if (!params.encodings || params.encodings.length === 0) return;
      params.encodings[0].maxBitrate = local.profile.bitrate * 1000;
      params.encodings[0].maxFramerate = local.profile.frameRate;
      await tr.sender.setParameters(params);
    } catch (e) {
      log.debug('setParameters failed', e && e.message);
    }
  }

  async _sendMute(kind, streamType, muted) {
    const slot = kind === 'audio' ? 'audio' : streamType === 'sub' ? 'screen' : 'video';
    if (!this._inRoom || !this._ws || !this._publishedSlots.has(slot)) return; // applied when published
    try {
      await this._request('mute', {kind, muted, streamType}, kind === 'audio' ? 'updateLocalAudio' : 'updateLocalVideo');
    } catch (e) {
      if (!(e instanceof RtcError && e.code === ERROR_CODE.INVALID_OPERATION)) throw e;
    }
  }

  _closeSendPc() {
    if (this._sendPc) this._sendPc.close();
    this._sendPc = null;
    this._senders = {audio: null, video: null, screen: null};
    for (const slot of this._publishedSlots) this._emit(EVENT.PUBLISH_STATE_CHANGED, {mediaType: slot, state: 'stopped'});
    this._publishedSlots.clear();
  }

  _teardownMedia() {
    this._closeSendPc();
    if (this._recvPc) this._recvPc.close();
    this._recvPc = null;
    this._midStreams.clear();
    this._remoteTracks.clear();
    this._lastRecvCounters = null;
    for (const [key, v] of this._remoteViews) {
      if (v.el) v.el.srcObject = null;
      this._remoteViews.set(key, v);
    }
    for (const a of this._remoteAudio.values()) a.el.srcObject = null;
    this._publishChain = Promise.resolve();
    this._offerChain = Promise.resolve();
  }

  // ------------------------------------------------------------------------------------ receiving

  _queueOffer(offer, generation) {
    this._offerChain = this._offerChain.then(() => this._applyOffer(offer, generation)).catch((e) => {
      if (generation !== this._generation || !this._inRoom) return;
      // The socket closed before the answer went out: after `resume` the server sends the offer again.
      if (e instanceof RtcError && (e.code === ERROR_CODE.OPERATION_ABORT || e.extraCode === EXTRA_CODE.NOT_IN_ROOM)) return;
      log.warn('could not apply the server offer:', e && e.message);
      this._emit(EVENT.ERROR, new RtcError({code: ERROR_CODE.OPERATION_FAILED, message: 'could not apply the server offer',
        functionName: 'subscribe'}));
    });
  }

  async _applyOffer(offer, generation) {
    if (generation !== this._generation || !this._inRoom) return;
    if (!this._recvPc) this._recvPc = this._peerConnection();
    const pc = this._recvPc;
    const table = new Map();
    for (const s of offer.streams || []) {
      if (s.mid !== null && s.mid !== undefined) {
        table.set(String(s.mid), {userId: String(s.userId), kind: s.kind, streamType: s.streamType || 'main',
          producerId: s.producerId});
      }
    }
    await pc.setRemoteDescription({type: 'offer', sdp: offer.sdp});
    await pc.setLocalDescription(await pc.createAnswer());
    if (generation !== this._generation || pc !== this._recvPc) return;
    this._midStreams = table;
    this._syncRemoteTracks();
    await this._request('answer', {negotiationId: offer.negotiationId, sdp: pc.localDescription.sdp}, 'subscribe');
  }

  /** Label the receive transceivers with the offer's stream table and (re)attach players. */
  _syncRemoteTracks() {
    const pc = this._recvPc;
    const next = new Map();
    if (pc) {
      for (const tr of pc.getTransceivers()) {
        const s = tr.mid !== null ? this._midStreams.get(tr.mid) : undefined;
        if (!s) continue;
        next.set(keyOf(s.userId, s.kind, s.streamType), {track: tr.receiver.track, receiver: tr.receiver, mid: tr.mid, ...s});
      }
    }
    const previous = this._remoteTracks;
    this._remoteTracks = next;
    for (const [key, entry] of next) {
      const old = previous.get(key);
      if (old && old.track === entry.track) continue;
      if (entry.kind === 'audio' && entry.streamType === 'main') this._playRemoteAudio(entry.userId, entry.track);
      else if (entry.kind === 'video') this._attachRemoteView(key);
    }
    for (const [key, old] of previous) {
      if (next.has(key)) continue;
      if (old.kind === 'audio') {
        const a = this._remoteAudio.get(old.userId);
        if (a) a.el.srcObject = null;
      } else {
        const v = this._remoteViews.get(key);
        if (v && v.el) v.el.srcObject = null;
      }
    }
  }

  _playRemoteAudio(userId, track) {
    let a = this._remoteAudio.get(userId);
    if (!a) {
      const el = new Audio();
      el.autoplay = true;
      a = {el, volume: 100, muted: false};
      this._remoteAudio.set(userId, a);
    }
    a.el.srcObject = new MediaStream([track]);
    a.el.muted = a.muted;
    a.el.volume = Math.min(1, a.volume / 100);
    this._play(a.el, userId, 'audio');
  }

  _play(el, userId, mediaType) {
    const p = el.play();
    if (p && p.catch) {
      p.catch((e) => {
        if (e && e.name === 'NotAllowedError') {
          this._emit(EVENT.AUTOPLAY_FAILED, {userId, mediaType, resume: () => el.play().catch(() => {})});
        }
      });
    }
  }

  _dropRemoteAudio(userId) {
    const a = this._remoteAudio.get(userId);
    if (!a) return;
    a.el.pause();
    a.el.srcObject = null;
    this._remoteAudio.delete(userId);
  }

  _render(view, track, {mirror, fillMode, local, userId = '', streamType}) {
    const box = document.createElement('div');
    box.className = 'relayroom-player';
    box.dataset.userId = userId;
    box.dataset.streamType = streamType;
    box.dataset.local = local ? 'true' : 'false';
    Object.assign(box.style, {position: 'relative', width: '100%', height: '100%', overflow: 'hidden'});
    const el = document.createElement('video');
    el.autoplay = true;
    el.playsInline = true;
    el.muted = true; // audio plays through its own element
    Object.assign(el.style, {width: '100%', height: '100%', objectFit: fillMode || 'cover', background: '#000',
      transform: mirror ? 'scaleX(-1)' : 'none'});
    if (track) el.srcObject = new MediaStream([track]);
    box.appendChild(el);
    view.appendChild(box);
    if (track) this._play(el, userId, 'video');
    return el;
  }

  _attachRemoteView(key) {
    const v = this._remoteViews.get(key);
    const entry = this._remoteTracks.get(key);
    if (!v || !v.view) return;
    if (!v.el || !v.el.isConnected) {
      const [userId, , streamType] = key.split('|');
      v.el = this._render(v.view, null, {mirror: v.mirror, fillMode: v.fillMode, local: false, userId, streamType});
    }
    if (entry && (!v.el.srcObject || v.el.srcObject.getVideoTracks()[0] !== entry.track)) {
      v.el.srcObject = new MediaStream([entry.track]);
      this._play(v.el, entry.userId, 'video');
    }
  }

  _detachRemoteView(key, forget) {
    const v = this._remoteViews.get(key);
    if (!v) return;
    if (v.el) {
      v.el.srcObject = null;
      if (v.el.parentElement) v.el.parentElement.remove();
      v.el = null;
    }
    if (forget) this._remoteViews.delete(key);
  }

  _sendOverrides(userId) {
    if (!this._inRoom || !this._ws) return;
    for (const [key, wanted] of this._overrides) {
      const [uid, kind, streamType] = key.split('|');
      if (uid !== userId) continue;
      this._request(wanted ? 'subscribe' : 'unsubscribe', {userId, kind, streamType}, 'subscribe').catch(() => {});
    }
  }

  async _setOverride(userId, kind, streamType, wanted, fn) {
    const key = keyOf(userId, kind, streamType);
    this._overrides.set(key, wanted);
    if (!this._inRoom || !this._ws || this._recovering) return; // sent when the recovery is done
    try {
      await this._request(wanted ? 'subscribe' : 'unsubscribe', {userId, kind, streamType}, fn);
    } catch (e) {
      if (e instanceof RtcError && e.extraCode === EXTRA_CODE.REMOTE_USER_MISSING) return; // sent when they enter
      throw e;
    }
  }

  /** TRTC startRemoteVideo({userId, streamType: 'main'|'sub', view, option: {fillMode, mirror}}). */
  async startRemoteVideo({userId, streamType = 'main', view, option = {}} = {}) {
    const fn = 'startRemoteVideo';
    this._assertAlive(fn);
    validateUserId(userId, fn);
    if (streamType !== 'main' && streamType !== 'sub') throw invalid(fn, "streamType must be 'main' or 'sub'");
    const el = resolveView(view, fn);
    if (!this._inRoom) throw invalidOperation(fn, 'enterRoom first', EXTRA_CODE.NOT_IN_ROOM);
    const key = keyOf(userId, 'video', streamType);
    const old = this._remoteViews.get(key);
    if (old && old.view !== el) this._detachRemoteView(key, false);
    const v = old || {};
    Object.assign(v, {view: el, mirror: !!option.mirror, fillMode: option.fillMode || (streamType === 'sub' ? 'contain' : 'cover')});
    this._remoteViews.set(key, v);
    this._attachRemoteView(key);
    await this._setOverride(userId, 'video', streamType, true, fn);
  }

  async updateRemoteVideo({userId, streamType = 'main', view, option = {}} = {}) {
    const key = keyOf(userId, 'video', streamType);
    if (!this._remoteViews.has(key)) throw invalidOperation('updateRemoteVideo', 'startRemoteVideo first');
    const v = this._remoteViews.get(key);
    if (view !== undefined) {
      this._detachRemoteView(key, false);
      v.view = resolveView(view, 'updateRemoteVideo');
    }
    if (option.fillMode) v.fillMode = option.fillMode;
    if (option.mirror !== undefined) v.mirror = !!option.mirror;
    this._detachRemoteView(key, false);
    this._attachRemoteView(key);
  }

  /** TRTC stopRemoteVideo({userId, streamType}); `userId: '*'` stops all. */
  async stopRemoteVideo({userId, streamType = 'main'} = {}) {
    const fn = 'stopRemoteVideo';
    this._assertAlive(fn);
    if (userId === '*') {
      for (const key of [...this._remoteViews.keys()]) {
        const [uid, , st] = key.split('|');
        await this.stopRemoteVideo({userId: uid, streamType: st});
      }
      return;
    }
    validateUserId(userId, fn);
    if (streamType !== 'main' && streamType !== 'sub') throw invalid(fn, "streamType must be 'main' or 'sub'");
    const key = keyOf(userId, 'video', streamType);
    this._detachRemoteView(key, true);
    if (this._inRoom) await this._setOverride(userId, 'video', streamType, false, fn);
  }

  /** TRTC muteRemoteAudio(userId, mute): stop (or resume) receiving a user's audio; '*' for everyone. */
  async muteRemoteAudio(userId, mute) {
    const fn = 'muteRemoteAudio';
    this._assertAlive(fn);
    if (typeof mute !== 'boolean') throw invalid(fn, 'mute must be a boolean');
    if (userId === '*') {
      for (const uid of [...this._remoteUsers.keys()]) await this.muteRemoteAudio(uid, mute);
      return;
    }
    validateUserId(userId, fn);
    const a = this._remoteAudio.get(userId);
    if (a) {
      a.muted = mute;
      a.el.muted = mute;
    }
    if (this._inRoom) await this._setOverride(userId, 'audio', 'main', !mute, fn);
  }

  /** TRTC setRemoteAudioVolume(userId, volume 0..100). */
  setRemoteAudioVolume(userId, volume) {
    const fn = 'setRemoteAudioVolume';
    this._assertAlive(fn);
    validateUserId(userId, fn);
    if (typeof volume !== 'number' || !(volume >= 0)) throw invalid(fn, 'volume must be a number ≥ 0');
    let a = this._remoteAudio.get(userId);
    if (!a) {
      a = {el: new Audio(), volume: 100, muted: false};
      a.el.autoplay = true;
      this._remoteAudio.set(userId, a);
    }
    a.volume = Math.min(100, volume);
    a.el.volume = a.volume / 100;
  }

  // ------------------------------------------------------------------------------------ volume, quality

  /** TRTC enableAudioVolumeEvaluation(interval ms = 2000; ≤ 0 turns it off): 'audio-volume' events. */
  enableAudioVolumeEvaluation(interval = 2000, enableInBackground = false) {
    if (typeof interval !== 'number') throw invalid('enableAudioVolumeEvaluation', 'interval must be a number');
    this._volumeInterval = interval > 0 ? Math.max(16, interval) : 0;
    this._volumeInBackground = !!enableInBackground;
    this._stopVolumeTimer();
    if (this._volumeInterval > 0) this._startVolumeTimer();
  }

  _startVolumeTimer() {
    this._stopVolumeTimer();
    this._volumeTimer = setInterval(() => this._evaluateVolume().catch(() => {}), this._volumeInterval);
  }

  _stopVolumeTimer() {
    if (this._volumeTimer) clearInterval(this._volumeTimer);
    this._volumeTimer = null;
  }

  async _evaluateVolume() {
    if (!this._volumeInBackground && typeof document !== 'undefined' && document.hidden) return;
    const result = [];
    let local = 0;
    const tr = this._senders.audio;
    if (this._sendPc && tr && tr.sender.track && this._local.audio && !this._local.audio.mute) {
      const stats = await tr.sender.getStats();
      stats.forEach((s) => {
        if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') local = s.audioLevel;
      });
    }
    if (this._local.audio) result.push({userId: '', volume: Math.round(local * 100), floatVolume: local});
    // Subscriber m-lines carry no audio-level header extension (docs/decisions/0002): the level is
    // the decoder's (inbound-rtp audioLevel), not the RTP header's.
    const levels = new Map();
    for (const row of await this.getRemoteStatistics()) {
      if (row.kind === 'audio' && row.streamType === 'main') levels.set(row.userId, row.audioLevel || 0);
    }
    for (const [userId, level] of levels) {
      const user = this._remoteUsers.get(userId);
      if (!user || !user.streams.get('audio|main')) continue;
      result.push({userId, volume: Math.round(level * 100), floatVolume: level});
    }
    this._emit(EVENT.AUDIO_VOLUME, {result});
  }

  _startQualityTimer() {
    this._stopQualityTimer();
    this._qualityTimer = setInterval(() => this._evaluateQuality().catch(() => {}), 2000);
  }

  _stopQualityTimer() {
    if (this._qualityTimer) clearInterval(this._qualityTimer);
    this._qualityTimer = null;
  }

  static _grade(rtt, loss) {
    if (rtt === null && loss === null) return 0;
    const r = rtt || 0;
    const l = loss || 0;
    if (l < 0.01 && r < 100) return 1;
    if (l < 0.03 && r < 200) return 2;
    if (l < 0.08 && r < 400) return 3;
    if (l < 0.15 && r < 800) return 4;
    return 5;
  }

  _pcQuality(pc, stats, direction) {
    if (!pc || !stats) return {quality: 0, rtt: 0, loss: 0};
    if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected' || pc.connectionState === 'closed') {
      return {quality: 6, rtt: 0, loss: 0};
    }
    let rtt = null;
    let loss = null;
    let received = 0;
    let lost = 0;
    stats.forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && typeof s.currentRoundTripTime === 'number') {
        rtt = s.currentRoundTripTime * 1000;
      }
      if (direction === 'up' && s.type === 'remote-inbound-rtp' && typeof s.fractionLost === 'number') {
        loss = Math.max(loss || 0, s.fractionLost);
        if (typeof s.roundTripTime === 'number') rtt = Math.max(rtt || 0, s.roundTripTime * 1000);
      }
      if (direction === 'down' && s.type === 'inbound-rtp') {
        received += s.packetsReceived || 0;
        lost += Math.max(0, s.packetsLost || 0);
      }
    });
    if (direction === 'down') {
      const prev = this._lastRecvCounters;
      this._lastRecvCounters = {received, lost};
      if (prev) {
        const dr = received - prev.received;
        const dl = lost - prev.lost;
        loss = dr + dl > 0 ? Math.max(0, dl) / (dr + dl) : 0;
      } else {
        loss = 0;
      }
    }
    if (pc.connectionState !== 'connected') return {quality: 0, rtt: rtt || 0, loss: loss || 0};
    return {quality: RelayRoom._grade(rtt, loss === null ? 0 : loss), rtt: Math.round(rtt || 0), loss: loss || 0};
  }

  async _evaluateQuality() {
    if (!this._inRoom) return;
    const sendPc = this._sendPc;
    const recvPc = this._recvPc;
    const sendStats = sendPc && sendPc.connectionState !== 'closed' ? await sendPc.getStats() : null;
    const recvStats = recvPc && recvPc.connectionState !== 'closed' ? await recvPc.getStats() : null;
    if (!this._inRoom) return;
    let up;
    let down;
    if (this._state === 'RECONNECTING' || !this._ws) {
      up = down = {quality: 6, rtt: 0, loss: 0};
    } else {
      up = this._pcQuality(sendPc, sendStats, 'up');
      down = this._pcQuality(recvPc, recvStats, 'down');
    }
    this._emit(EVENT.NETWORK_QUALITY, {
      uplinkNetworkQuality: up.quality,
      downlinkNetworkQuality: down.quality,
      uplinkRTT: up.rtt,
      uplinkLoss: Math.round(up.loss * 100),
      downlinkRTT: down.rtt,
      downlinkLoss: Math.round(down.loss * 100),
    });
    const list = this._listeners.get(EVENT.STATISTICS);
    if (list && list.length) this._emit(EVENT.STATISTICS, this._statistics(sendStats, recvStats, up, down));
  }

  /** trtc-sdk-v5's STATISTICS payload from the two connections' stats (bitrates in kbps since the last call). */
  _statistics(sendStats, recvStats, up, down) {
    const now = performance.now();
    const prev = this._prevBytes || new Map();
    const next = new Map();
    const kbps = (id, bytes) => {
      next.set(id, {bytes, at: now});
      const p = prev.get(id);
      return p && now > p.at && bytes >= p.bytes ? Math.round(((bytes - p.bytes) * 8) / (now - p.at)) : 0;
    };
    let bytesSent = 0;
    let bytesReceived = 0;
    const local = {audio: {bitrate: 0, audioLevel: 0}, video: []};
    const screenMid = this._senders.screen ? this._senders.screen.mid : null;
    if (sendStats) {
      sendStats.forEach((s) => {
        if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') {
          local.audio.audioLevel = s.audioLevel;
        }
        if (s.type !== 'outbound-rtp') return;
        bytesSent += s.bytesSent || 0;
        const bitrate = kbps(s.id, s.bytesSent || 0);
        if (s.kind === 'audio') {
          local.audio.bitrate = bitrate;
        } else {
          local.video.push({width: s.frameWidth || 0, height: s.frameHeight || 0,
            frameRate: Math.round(s.framesPerSecond || 0), bitrate, videoType: s.mid === screenMid ? 'sub' : 'big'});
        }
      });
    }
    const remote = new Map();
    const byMid = new Map();
    for (const [, e] of this._remoteTracks) byMid.set(e.mid, e);
    if (recvStats) {
      recvStats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        bytesReceived += s.bytesReceived || 0;
        const e = byMid.get(s.mid);
        if (!e) return;
        const bitrate = kbps(s.id, s.bytesReceived || 0);
        if (!remote.has(e.userId)) remote.set(e.userId, {userId: e.userId, audio: {bitrate: 0, audioLevel: 0}, video: []});
        const r = remote.get(e.userId);
        if (e.kind === 'audio') {
          r.audio = {bitrate, audioLevel: s.audioLevel || 0};
        } else {
          r.video.push({width: s.frameWidth || 0, height: s.frameHeight || 0,
            frameRate: Math.round(s.framesPerSecond || 0), bitrate, videoType: e.streamType === 'sub' ? 'sub' : 'big'});
        }
      });
    }
    this._prevBytes = next;
    return {
      rtt: Math.max(up.rtt, down.rtt),
      upLoss: Math.round(up.loss * 100),
      downLoss: Math.round(down.loss * 100),
      bytesSent,
      bytesReceived,
      localStatistics: local,
      remoteStatistics: [...remote.values()],
    };
  }

  // ------------------------------------------------------------------------------------ introspection

  /** RelayRoom extension: per inbound stream counters, labelled with the user they come from. */
  async getRemoteStatistics() {
    const out = [];
    if (!this._recvPc) return out;
    const byMid = new Map();
    const byTrack = new Map();
    for (const [, e] of this._remoteTracks) {
      byMid.set(e.mid, e);
      byTrack.set(e.track.id, e);
    }
    const stats = await this._recvPc.getStats();
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const e = byMid.get(s.mid) || byTrack.get(s.trackIdentifier);
      if (!e) return;
      out.push({
        userId: e.userId, kind: e.kind, streamType: e.streamType, mid: s.mid,
        packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0,
        framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0,
        totalAudioEnergy: s.totalAudioEnergy || 0, audioLevel: s.audioLevel || 0,
      });
    });
    return out;
  }

  /** RelayRoom extension: who is in the room and what they publish, as this client sees it. */
  getRemoteUsers() {
    const out = [];
    for (const [userId, user] of this._remoteUsers) {
      const streams = {};
      for (const [k, v] of user.streams) streams[k] = v;
      out.push({userId, streams});
    }
    return out;
  }

  /** The room as entered: {roomId | strRoomId, userId, scene, role}, or null outside a room. */
  get room() {
    if (!this._inRoom || !this._enterData) return null;
    const d = this._enterData;
    return {roomId: d.roomId, strRoomId: d.strRoomId, userId: d.userId, scene: this._room.scene, role: this._room.role};
  }
}

export default RelayRoom;

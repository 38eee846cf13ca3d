// Parameter checks: TRTC's rules, applied before anything is sent (and again by the server). Pure
// functions: each returns the checked value or throws RtcError 5000 (with TRTC's extraCode where it has one).

import {EXTRA_CODE} from './constants.js';
import {invalid} from './errors.js';

export const ROOM_ID_MIN = 1;
export const ROOM_ID_MAX = 4294967294;
const STR_ROOM_ID_RE = /^[A-Za-z0-9 !#$%&()+\-:;<=.>?@[\]^_{}|~,]+$/;
const USER_ID_RE = /^[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();
const byteLength = (s) => encoder.encode(s).length;

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

/** Checks enterRoom's options; returns the request data for the server. */
export function validateEnterRoomParams(options) {
  const fn = 'enterRoom';
  if (options === null || typeof options !== 'object') throw invalid(fn, 'enterRoom needs an options object');
  const {sdkAppId, userId, userSig, roomId, strRoomId, scene = 'rtc', role = 'anchor', privateMapKey,
    autoReceiveAudio = true, autoReceiveVideo = false, serverUrl, consentToken, e2ee} = options;
  if (typeof sdkAppId !== 'number' || !Number.isInteger(sdkAppId) || sdkAppId <= 0 || sdkAppId > 0xFFFFFFFF) {
    throw invalid(fn, 'sdkAppId must be a positive integer');
  }
  validateUserId(userId, fn);
  if (typeof userSig !== 'string' || userSig.length === 0) throw invalid(fn, 'userSig is required');
  const room = validateRoom(roomId, strRoomId, fn);
  if (scene !== 'rtc' && scene !== 'live') throw invalid(fn, "scene must be 'rtc' or 'live'");
  validateRole(role, fn);
  if (privateMapKey !== undefined && privateMapKey !== null && typeof privateMapKey !== 'string') {
    throw invalid(fn, 'privateMapKey must be a string');
  }
  if (typeof autoReceiveAudio !== 'boolean') throw invalid(fn, 'autoReceiveAudio must be a boolean');
  if (typeof autoReceiveVideo !== 'boolean') throw invalid(fn, 'autoReceiveVideo must be a boolean');
  if (serverUrl !== undefined && serverUrl !== null) signalUrl(serverUrl);
  const data = {sdkAppId, userId, userSig, ...room, scene, role, autoReceiveAudio, autoReceiveVideo};
  if (privateMapKey) data.privateMapKey = privateMapKey;
  if (typeof consentToken === 'string' && consentToken) data.consentToken = consentToken;
  if (e2ee !== undefined && e2ee !== null) {
    if (typeof e2ee !== 'object' || !('key' in e2ee)) throw invalid(fn, 'e2ee must be {key}');
    data.e2ee = true; // the server only learns that the member encrypts; the key stays here
  }
  return data;
}

export function validateRole(role, functionName) {
  if (role !== 'anchor' && role !== 'audience') throw invalid(functionName, "role must be 'anchor' or 'audience'");
  return role;
}

export function validateStreamType(streamType, functionName) {
  if (streamType !== 'main' && streamType !== 'sub') throw invalid(functionName, "streamType must be 'main' or 'sub'");
  return streamType;
}

/** The signalling URL: `serverUrl` (ws(s):// as is; http(s):// or a bare host gets /signal) or the page's origin. */
export function signalUrl(serverUrl) {
  const base = typeof location !== 'undefined' ? location.href : 'http://127.0.0.1/';
  let url;
  try {
    url = new URL(serverUrl || '/signal', base);
  } catch {
    throw invalid('enterRoom', 'serverUrl is not a valid URL');
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw invalid('enterRoom', 'serverUrl must be ws(s) or http(s)');
  if (serverUrl && (url.pathname === '/' || url.pathname === '')) url.pathname = '/signal';
  return url.toString();
}

/** The signalling URL of a cluster node given by its public URL (http(s)://host[:port][/prefix]): a
 *  redirect names one. */
export function nodeSignalUrl(publicUrl) {
  let url;
  try {
    url = new URL(publicUrl);
  } catch {
    throw invalid('enterRoom', 'the redirect does not name a valid URL');
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw invalid('enterRoom', 'the redirect must name an http(s) URL');
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith('/signal') ? path : `${path}/signal`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** A profile name of `table` or {width, height, frameRate, bitrate} → {width, height, frameRate, bitrate kbps}. */
export function profileOf(profile, table, fallback, functionName) {
  if (profile === undefined || profile === null) profile = fallback;
  if (typeof profile === 'string') {
    const p = Object.hasOwn(table, profile) ? table[profile] : null;
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

/** sendCustomMessage's {cmdId 1..10, data: ArrayBuffer (or a view) of 1..1024 bytes} → the bytes. */
export function validateCustomMessage({cmdId, data} = {}) {
  const fn = 'sendCustomMessage';
  if (!Number.isInteger(cmdId) || cmdId < 1 || cmdId > 10) throw invalid(fn, 'cmdId must be 1..10');
  let bytes;
  if (data instanceof ArrayBuffer) bytes = data;
  else if (ArrayBuffer.isView(data)) bytes = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  else throw invalid(fn, 'data must be an ArrayBuffer');
  if (bytes.byteLength === 0 || bytes.byteLength > 1024) throw invalid(fn, 'data must be 1..1024 bytes');
  return bytes;
}

/** A volume in 0..100 (higher values are clamped to 100). */
export function validateVolume(volume, functionName) {
  if (typeof volume !== 'number' || !(volume >= 0)) throw invalid(functionName, 'volume must be a number ≥ 0');
  return Math.min(100, volume);
}

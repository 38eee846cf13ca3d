// ICE servers and policy for the two peer connections: the TURN servers the RelayRoom server hands out at
// entry (`iceServers` of the enter/resume response, docs/signalling.md §2.1) and the application's own,
// from TRTC's `enterRoom({proxy: {turnServer, iceTransportPolicy}})`. Also what a failing TURN server
// looks like to the application: an `error` event that says so, instead of media that never starts.

import {ERROR_CODE, EXTRA_CODE} from './constants.js';
import {RtcError, invalid} from './errors.js';
import {log} from './log.js';

const TURN_URL_RE = /^turns?:[^\s]+$/i;
const STUN_URL_RE = /^stuns?:[^\s]+$/i;

/** One of TRTC's TurnServerOptions ({url, username?, credential?, credentialType?: 'password'}) as an
 *  RTCIceServer. `urls` (WebRTC's name, a string or a list) is accepted as well. */
function turnServerOf(server, fn) {
  if (server === null || typeof server !== 'object') throw invalid(fn, 'proxy.turnServer must be {url, username, credential}');
  const raw = server.url !== undefined ? server.url : server.urls;
  const urls = Array.isArray(raw) ? raw : [raw];
  if (urls.length === 0 || !urls.every((u) => typeof u === 'string' && (TURN_URL_RE.test(u) || STUN_URL_RE.test(u)))) {
    throw invalid(fn, 'proxy.turnServer.url must be a turn:, turns: (or stun:) URL');
  }
  const {username, credential, credentialType = 'password'} = server;
  if (credentialType !== 'password') throw invalid(fn, "proxy.turnServer.credentialType must be 'password'");
  const needsAuth = urls.some((u) => TURN_URL_RE.test(u));
  if (needsAuth && (typeof username !== 'string' || typeof credential !== 'string' || !username || !credential)) {
    throw invalid(fn, 'a TURN server needs a username and a credential');
  }
  const out = {urls: urls.length === 1 ? urls[0] : [...urls]};
  if (typeof username === 'string') out.username = username;
  if (typeof credential === 'string') out.credential = credential;
  return out;
}

/**
 * enterRoom's `proxy` → {turnServers: RTCIceServer[], iceTransportPolicy: 'all' | 'relay'}. TRTC's other
 * proxy fields (websocketProxy, loggerProxy, scheduleProxy, unifiedProxy, webtransportProxy) and the
 * string form (a websocket proxy) have no meaning here (`serverUrl` says where signalling goes): they are
 * accepted and not used. Throws RtcError 5000 for a malformed value.
 */
export function validateProxy(proxy, fn = 'enterRoom') {
  const none = {turnServers: [], iceTransportPolicy: 'all'};
  if (proxy === undefined || proxy === null || typeof proxy === 'string') return none;
  if (typeof proxy !== 'object' || Array.isArray(proxy)) throw invalid(fn, 'proxy must be an object or a string');
  const {turnServer, iceTransportPolicy = 'all'} = proxy;
  if (iceTransportPolicy !== 'all' && iceTransportPolicy !== 'relay') {
    throw invalid(fn, "proxy.iceTransportPolicy must be 'all' or 'relay'");
  }
  let turnServers = [];
  if (turnServer !== undefined && turnServer !== null) {
    const list = Array.isArray(turnServer) ? turnServer : [turnServer];
    turnServers = list.map((s) => turnServerOf(s, fn));
  }
  return {turnServers, iceTransportPolicy};
}

/** The server's `iceServers` (trusted to be RTCIceServer dictionaries; anything else is skipped). */
export function serverIceServers(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((s) => s && typeof s === 'object' && (typeof s.urls === 'string' || Array.isArray(s.urls)))
    .map((s) => ({...s}));
}

/** The ICE part of an RTCConfiguration: the application's TURN servers first, then the server's. */
export function iceConfiguration(proxy, fromServer) {
  return {iceServers: [...proxy.turnServers, ...serverIceServers(fromServer)],
    iceTransportPolicy: proxy.iceTransportPolicy};
}

/** 'relay' with no TURN server at all cannot connect: RtcError 5000 (after the entry, when the server's
 *  list is known). Returns nothing when the configuration can work. */
export function checkRelayPossible(config) {
  if (config.iceTransportPolicy !== 'relay') return;
  const hasTurn = config.iceServers.some((s) => [].concat(s.urls).some((u) => TURN_URL_RE.test(u)));
  if (!hasTurn) {
    throw invalid('enterRoom', "iceTransportPolicy 'relay' needs a TURN server: none in proxy.turnServer, " +
      'and this RelayRoom server hands out none (turn__urls)');
  }
}

/** An `icecandidateerror` that means the TURN server refused our credentials (STUN 401 Unauthorized,
 *  or 431 Integrity Check Failure). */
export function isTurnAuthError(ev) {
  return !!ev && typeof ev.url === 'string' && TURN_URL_RE.test(ev.url) && (ev.errorCode === 401 || ev.errorCode === 431);
}

/**
 * Watch a peer connection's ICE: a TURN server refusing the credentials is logged and, when the media
 * can only go through TURN (policy 'relay'), reported at once; a connection that fails before it ever
 * connected is reported with what the TURN servers said. onFailure(RtcError) is called at most once per
 * connection.
 */
export function watchIce(pc, {policy, onFailure, side}) {
  const refused = new Map(); // url -> errorText
  let reported = false;
  let connected = false; // a connection that worked and then failed is the reconnect logic's business
  const report = (error) => {
    if (reported) return;
    reported = true;
    onFailure(error);
  };
  const authError = () => new RtcError({code: ERROR_CODE.OPERATION_FAILED, extraCode: EXTRA_CODE.TURN_AUTH_FAILED,
    functionName: side, message: `the TURN server refused the credentials (${[...refused]
      .map(([url, text]) => `${url}: ${text}`).join('; ')}): they are forged or expired`});
  pc.addEventListener('icecandidateerror', (ev) => {
    if (!isTurnAuthError(ev)) return;
    refused.set(ev.url, `${ev.errorCode} ${ev.errorText || ''}`.trim());
    log.warn('TURN server refused the credentials:', ev.url, ev.errorCode);
    if (policy === 'relay') report(authError());
  });
  pc.addEventListener('iceconnectionstatechange', () => {
    const state = pc.iceConnectionState;
    if (state === 'connected' || state === 'completed') connected = true;
    if (state !== 'failed' || connected) return;
    if (refused.size) {
      report(authError());
      return;
    }
    report(new RtcError({code: ERROR_CODE.OPERATION_FAILED, extraCode: EXTRA_CODE.MEDIA_CONNECTION_FAILED,
      functionName: side, message: policy === 'relay'
        ? 'the media connection failed: the TURN server could not be reached or could not reach the media server'
        : 'the media connection failed: the media server could not be reached (UDP and TCP blocked? configure TURN)'}));
  });
}

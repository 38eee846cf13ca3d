// The signalling channel: one WebSocket to `/signal` (docs/signalling.md), requests matched to their
// responses by id with a timeout, server events handed to `onEvent`, a heartbeat that notices a silent
// socket. It knows nothing about rooms: the client decides what a dropped socket means (`onDrop`).
// In a cluster the server may answer with a redirect (`{type: 'redirect', url, reason, id?}`): the last
// one is kept (`takeRedirect`) and one that answers no request is handed to `onRedirect`.

import {ERROR_CODE, EXTRA_CODE, PROTOCOL_VERSION} from './constants.js';
import {RtcError, fromServerError} from './errors.js';
import {log} from './log.js';

const OPEN_TIMEOUT_MS = 10000;

export class Signalling {
  /** onEvent(name, data): a server event. onDrop(): the open socket closed (or went silent) by itself.
   *  onRedirect({url, reason}): the server asks to move to another node (e.g. it drains). */
  constructor({onEvent, onDrop, onRedirect = () => {}}) {
    this._onEvent = onEvent;
    this._onDrop = onDrop;
    this._onRedirect = onRedirect;
    this._redirect = null; // the last redirect received: {url, reason}
    this._ws = null; // set once open; null again when closed
    this._seq = 0;
    this._pending = new Map(); // id -> {resolve, reject, timer, functionName}
    this._heartbeatTimer = null;
    this._lastHeard = 0;
  }

  get connected() {
    return this._ws !== null;
  }

  /** Open a socket to `url`; rejects with 5400 (5503 timeout, 5502 closed before it opened). */
  open(url) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(url);
      } catch {
        reject(new RtcError({code: ERROR_CODE.SERVER_ERROR, message: 'cannot open the signalling socket'}));
        return;
      }
      const timer = setTimeout(() => {
        ws.close();
        reject(new RtcError({code: ERROR_CODE.SERVER_ERROR, extraCode: EXTRA_CODE.TIMEOUT,
          message: 'signalling connection timed out'}));
      }, OPEN_TIMEOUT_MS);
      ws.onopen = () => {
        clearTimeout(timer);
        this._ws = ws;
        this._lastHeard = Date.now();
        resolve();
      };
      ws.onerror = () => {}; // onclose follows with the details we need
      ws.onclose = () => {
        clearTimeout(timer);
        if (this._ws !== ws) {
          reject(new RtcError({code: ERROR_CODE.SERVER_ERROR, extraCode: EXTRA_CODE.SIGNAL_CLOSED,
            message: 'cannot reach the signalling server'}));
          return;
        }
        this._dropped(ws);
      };
      ws.onmessage = (ev) => {
        if (this._ws === ws) this._onMessage(ev.data);
      };
    });
  }

  /** The redirect the server sent last ({url, reason}) or null; forgotten once taken. */
  takeRedirect() {
    const r = this._redirect;
    this._redirect = null;
    return r;
  }

  /** Close the socket on purpose: pending requests fail with 5998, `onDrop` is not called. */
  close() {
    const ws = this._ws;
    this._ws = null;
    this._failPending('signalling connection closed');
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
  }

  /** Send a request; resolves with the response data, rejects with the server's error as RtcError. */
  request(type, data = {}, functionName = type, timeoutMs = 15000) {
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

  /** Every `intervalS` seconds while `active()`: a heartbeat request whose reply goes to `onReply`.
   *  A socket silent for three intervals is dropped (→ `onDrop`). */
  startHeartbeat(intervalS, {active, onReply}) {
    this.stopHeartbeat();
    const interval = Math.max(1, Number(intervalS) || 10) * 1000;
    this._heartbeatTimer = setInterval(() => {
      const ws = this._ws;
      if (!active() || !ws) return;
      if (Date.now() - this._lastHeard > 3 * interval) {
        log.info('signalling socket silent; reconnecting');
        try { ws.close(); } catch { /* closed */ }
        this._dropped(ws);
        return;
      }
      this.request('heartbeat', {}, 'heartbeat', interval * 2).then(onReply, () => {});
    }, interval);
  }

  stopHeartbeat() {
    if (this._heartbeatTimer) clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = null;
  }

  _dropped(ws) {
    if (this._ws !== ws) return;
    this._ws = null;
    this._failPending('signalling connection closed');
    this._onDrop();
  }

  _failPending(message) {
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new RtcError({code: ERROR_CODE.OPERATION_ABORT, extraCode: EXTRA_CODE.SIGNAL_CLOSED, message,
        functionName: p.functionName}));
    }
    this._pending.clear();
  }

  _onMessage(raw) {
    this._lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
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
    } else if (msg.type === 'redirect' && typeof msg.url === 'string') {
      this._redirect = {url: msg.url, reason: String(msg.reason || '')};
      if (msg.id === undefined || msg.id === null) {
        try {
          this._onRedirect({...this._redirect});
        } catch (e) {
          log.warn('redirect handling failed', e && e.message);
        }
      }
    } else if (msg.type === 'event') {
      try {
        this._onEvent(String(msg.event), msg.data || {});
      } catch (e) {
        log.warn('event handling failed', msg.event, e && e.message);
      }
    }
  }
}

// End-to-end encryption for the page (docs/e2ee.md): derives the room's key, starts the E2EE worker and
// puts a frame transform on every sender and receiver the transports create. Shared-key mode: the
// application gives every member the same key (`enterRoom({e2ee: {key}})`, `setE2EEKey(key)`).
//
// Transforms: RTCRtpScriptTransform in the worker where the browser has it; else the encoded streams
// (`createEncodedStreams`, peer connections with `encodedInsertableStreams`), transferred to the worker,
// or transformed in the page when no worker can be started (an SDK served from another origin).

import {ERROR_CODE, EVENT} from './constants.js';
import {RtcError, invalid} from './errors.js';
import {KeyRing, baseKeyFrom, rawKeyBytes, roomSalt} from './e2ee-keys.js';
import {runTransform} from './e2ee-transform.js';
import {log} from './log.js';

/** 'script' (RTCRtpScriptTransform), 'streams' (createEncodedStreams) or null: what this browser offers. */
export function transformMode(g = globalThis) {
  if (typeof g.RTCRtpScriptTransform === 'function' && typeof g.Worker === 'function') return 'script';
  if (g.RTCRtpSender && typeof g.RTCRtpSender.prototype.createEncodedStreams === 'function') return 'streams';
  return null;
}

/** enterRoom's `e2ee` option or setE2EEKey's key: the key, or RtcError 5000. */
export function validateE2EEKey(key, functionName) {
  if (typeof key === 'string') {
    if (key.length === 0) throw invalid(functionName, 'the E2EE key (passphrase) is empty');
    return key;
  }
  const raw = rawKeyBytes(key);
  if (!raw) throw invalid(functionName, 'the E2EE key is a passphrase (string) or raw bytes (ArrayBuffer, Uint8Array)');
  if (raw.length < 16) throw invalid(functionName, 'a raw E2EE key has at least 16 bytes');
  return raw;
}

export class E2EE {
  /** emit(event, data). */
  constructor({emit}) {
    this._emit = emit;
    this._mode = null;
    this._salt = null;
    this._worker = null;
    this._keys = null; // the KeyRing when transforming in the page
    this._labels = new Map(); // transform id -> label() of its stream
    this._nextId = 1;
  }

  get active() {
    return this._salt !== null;
  }

  /** Begin for a room: derive its key, start the worker. RtcError 5200 when the browser cannot. */
  async start(key, {sdkAppId, roomId, strRoomId}) {
    this.stop();
    const mode = transformMode();
    if (!mode) {
      throw new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, functionName: 'enterRoom',
        message: 'this browser has no encoded transforms (RTCRtpScriptTransform, createEncodedStreams): no E2EE'});
    }
    const salt = roomSalt(sdkAppId, roomId, strRoomId);
    const baseKey = await baseKeyFrom(key, salt);
    this._worker = this._startWorker();
    if (!this._worker && mode === 'script' && !transformMode({RTCRtpSender: globalThis.RTCRtpSender})) {
      throw new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, functionName: 'enterRoom',
        message: 'the E2EE worker could not be started (serve the SDK from the page\'s origin)'});
    }
    this._mode = this._worker ? mode : 'streams';
    this._salt = salt;
    if (this._worker) this._worker.postMessage({type: 'key', baseKey});
    else this._keys = KeyRing.create(baseKey);
  }

  /** What the transports' RTCPeerConnections need: encoded streams must be asked for at creation. */
  peerConnectionConfig() {
    return this.active && this._mode === 'streams' ? {encodedInsertableStreams: true} : {};
  }

  /** A new key from the application: it sends from now on; the previous ones still decrypt. */
  async setKey(key) {
    const baseKey = await baseKeyFrom(key, this._salt);
    if (this._worker) this._worker.postMessage({type: 'key', baseKey});
    else await (await this._keys).setKey(baseKey);
  }

  /** Ratchet the sending key one step; the others follow on their own. */
  async ratchet() {
    if (this._worker) this._worker.postMessage({type: 'ratchet'});
    else await (await this._keys).ratchet();
  }

  protectSender(sender, kind) {
    if (this.active) this._attach(sender, 'send', kind, () => null);
  }

  /** label(): {userId, kind, streamType} of the receiver's stream now (for e2ee-error). */
  protectReceiver(receiver, kind, label) {
    if (this.active) this._attach(receiver, 'receive', kind, label);
  }

  /** Leave: the worker and the keys go. */
  stop() {
    if (this._worker) this._worker.terminate();
    this._worker = null;
    this._keys = null;
    this._salt = null;
    this._labels.clear();
  }

  _attach(senderOrReceiver, side, kind, label) {
    const id = this._nextId++;
    this._labels.set(id, label);
    const options = {id, side, kind};
    if (this._mode === 'script') {
      senderOrReceiver.transform = new RTCRtpScriptTransform(this._worker, options);
      return;
    }
    const {readable, writable} = senderOrReceiver.createEncodedStreams();
    if (this._worker) {
      this._worker.postMessage({type: 'streams', ...options, readable, writable}, [readable, writable]);
    } else {
      const keys = this._keys;
      runTransform(readable, writable, {side, kind, keys: () => keys,
        report: (reason, message) => this._report({id, reason, message})});
    }
  }

  _startWorker() {
    try {
      const url = new URL('./e2ee-worker.js', import.meta.url);
      if (typeof location !== 'undefined' && url.origin !== location.origin) return null; // workers are same-origin
      const worker = new Worker(url, {type: 'module', name: 'relayroom-e2ee'});
      worker.onmessage = (event) => this._report(event.data || {});
      worker.onerror = (event) => log.warn('E2EE worker error:', event && event.message);
      return worker;
    } catch (e) {
      log.warn('E2EE worker could not start:', e && e.message);
      return null;
    }
  }

  _report({id, reason, message}) {
    const label = this._labels.get(id);
    if (!label) return;
    const stream = label();
    if (reason !== 'unsupported-codec' && !stream) return; // a receiver no longer labelled: gone
    log.warn('E2EE:', reason, message);
    this._emit(EVENT.E2EE_ERROR, {...(stream || {}), reason, message});
  }
}

// The page side of the frame pipeline (frame-transform.js): puts one transform on each sender and
// receiver that needs one (end-to-end encryption: all of them; SEI: the video ones), in the transform
// worker where the browser allows (RTCRtpScriptTransform, else encoded streams transferred to it), or in
// the page when no worker can be started (an SDK served from another origin). The features feed it:
// e2ee.js the keys, the client the SEI messages; it hands back E2EE reports and received SEI messages.

import {KeyRing} from './e2ee-keys.js';
import {buildStages, runPipeline} from './frame-transform.js';
import {log} from './log.js';
import {SeiQueue} from './sei.js';

/** 'script' (RTCRtpScriptTransform), 'streams' (createEncodedStreams) or null: what this browser offers. */
export function transformMode(g = globalThis) {
  if (typeof g.RTCRtpScriptTransform === 'function' && typeof g.Worker === 'function') return 'script';
  if (g.RTCRtpSender && typeof g.RTCRtpSender.prototype.createEncodedStreams === 'function') return 'streams';
  return null;
}

/** Which stages a sender or receiver of `kind` gets with these features on: {e2ee, sei} (both false: none). */
export function stagesWanted(kind, {e2ee, sei}) {
  return {e2ee: !!e2ee, sei: !!sei && kind === 'video'};
}

export class FramePipeline {
  /** onE2EEReport(label, reason, message); onSei(label, {payloadType, data}); `label` is the function
   *  attach() was given for the sender or receiver ({userId, kind, streamType} of its stream now). */
  constructor({onE2EEReport, onSei}) {
    this._onE2EEReportOf = onE2EEReport;
    this._onSeiOf = onSei;
    this._labels = new Map(); // transform id -> label()
    this._worker = null;
    this._mode = null; // set when the pipeline starts
    this._e2ee = false;
    this._sei = false;
    this._keys = null; // in-page: a Promise of the KeyRing
    this._seiQueues = {video: new SeiQueue(), screen: new SeiQueue()}; // in-page
    this._nextId = 1;
  }

  /** Whether a transform can run in this browser at all. */
  static get available() {
    return transformMode() !== null;
  }

  get e2ee() {
    return this._e2ee;
  }

  get sei() {
    return this._sei;
  }

  /** What the transports' RTCPeerConnections need: encoded streams must be asked for at creation. */
  peerConnectionConfig() {
    return (this._e2ee || this._sei) && this._mode === 'streams' ? {encodedInsertableStreams: true} : {};
  }

  /** SEI for this instance (TRTC.create({enableSEI})). Returns false when the browser cannot. */
  enableSei() {
    if (!this._start()) return false;
    this._sei = true;
    return true;
  }

  /** End-to-end encryption from now on with `baseKey` (null: off). Returns false when it cannot run. */
  async setE2EEKey(baseKey) {
    if (!this._start()) return false;
    this._e2ee = true;
    if (this._worker) this._worker.postMessage({type: 'key', baseKey});
    else if (this._keys) await (await this._keys).setKey(baseKey);
    else this._keys = KeyRing.create(baseKey);
    return true;
  }

  async ratchetE2EEKey() {
    if (this._worker) this._worker.postMessage({type: 'ratchet'});
    else if (this._keys) await (await this._keys).ratchet();
  }

  /** The membership ended: keys and waiting messages go with the worker (a new one starts when needed). */
  reset() {
    if (this._worker) this._worker.terminate();
    this._worker = null;
    this._mode = null;
    this._keys = null;
    this._e2ee = false;
    this._labels.clear();
    this._seiQueues = {video: new SeiQueue(), screen: new SeiQueue()};
    if (this._sei) this._start();
  }

  _onE2EEReport(id, reason, message) {
    const label = this._labels.get(id);
    if (label) this._onE2EEReportOf(label, reason, message);
  }

  _onSei(id, msg) {
    const label = this._labels.get(id);
    if (label) this._onSeiOf(label, msg);
  }

  /** The instance is destroyed: the worker goes, and nothing starts again. */
  close() {
    this._sei = false;
    this.reset();
  }

  /** Queue an SEI message for the next frame of `slot` ('video' | 'screen'). */
  sendSei(slot, payloadType, bytes) {
    if (this._worker) {
      const data = bytes.slice().buffer;
      this._worker.postMessage({type: 'sei', slot, payloadType, data}, [data]);
    } else {
      this._seiQueues[slot].push({payloadType, payload: bytes.slice()});
    }
  }

  /**
   * Put the pipeline on a new sender (`side: 'send'`, with its `slot`) or receiver (`'receive'`) of `kind`;
   * label(): its stream now, for the reports. Returns the transform's id, or 0 when it needs none.
   */
  attach(senderOrReceiver, {side, kind, slot = null, label = () => null}) {
    const wanted = stagesWanted(kind, {e2ee: this._e2ee, sei: this._sei});
    const streams = this._mode === 'streams' && (this._e2ee || this._sei); // every frame must be piped
    if (!wanted.e2ee && !wanted.sei && !streams) return 0;
    const id = this._nextId++;
    this._labels.set(id, label);
    const options = {id, side, kind, slot, ...wanted};
    if (this._mode === 'script') {
      senderOrReceiver.transform = new RTCRtpScriptTransform(this._worker, options);
      return id;
    }
    const {readable, writable} = senderOrReceiver.createEncodedStreams();
    if (this._worker) {
      this._worker.postMessage({type: 'streams', ...options, readable, writable}, [readable, writable]);
    } else {
      const keys = this._keys;
      runPipeline(readable, writable, buildStages(options, {
        keys: () => keys,
        report: (reason, message) => this._onE2EEReport(id, reason, message),
        seiQueue: (s) => this._seiQueues[s] || this._seiQueues.video,
        onSei: (msg) => this._onSei(id, msg),
      }), kind);
    }
    return id;
  }

  /** Choose the mode and start the worker once; false when this browser has no encoded transforms. */
  _start() {
    if (this._mode) return true;
    const mode = transformMode();
    if (!mode) return false;
    this._worker = this._startWorker();
    if (!this._worker && !transformMode({RTCRtpSender: globalThis.RTCRtpSender})) return false;
    this._mode = this._worker ? mode : 'streams';
    return true;
  }

  _startWorker() {
    try {
      const url = new URL('./transform-worker.js', import.meta.url);
      if (typeof location !== 'undefined' && url.origin !== location.origin) return null; // workers are same-origin
      const worker = new Worker(url, {type: 'module', name: 'relayroom-transform'});
      worker.onmessage = (event) => {
        const msg = event.data || {};
        if (msg.type === 'error') this._onE2EEReport(msg.id, msg.reason, msg.message);
        else if (msg.type === 'sei') this._onSei(msg.id, {payloadType: msg.payloadType, data: msg.data});
      };
      worker.onerror = (event) => log.warn('transform worker error:', event && event.message);
      return worker;
    } catch (e) {
      log.warn('the transform worker could not start:', e && e.message);
      return null;
    }
  }
}

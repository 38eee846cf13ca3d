// End-to-end encryption for the page (docs/e2ee.md): derives the room's key and hands it to the frame
// pipeline (frame-pipeline.js), which puts the E2EE stage on every sender and receiver the transports
// create. Shared-key mode: the application gives every member the same key (`enterRoom({e2ee: {key}})`,
// `setE2EEKey(key)`).

import {ERROR_CODE, EVENT} from './constants.js';
import {RtcError, invalid} from './errors.js';
import {baseKeyFrom, rawKeyBytes, roomSalt} from './e2ee-keys.js';
import {FramePipeline} from './frame-pipeline.js';
import {log} from './log.js';

export {transformMode} from './frame-pipeline.js';

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
  /** emit(event, data); pipeline: the FramePipeline that runs the transforms (it holds the keys). */
  constructor({emit, pipeline}) {
    this._emit = emit;
    this._pipeline = pipeline;
    this._salt = null;
  }

  get active() {
    return this._salt !== null;
  }

  /** Begin for a room: derive its key, hand it to the pipeline. RtcError 5200 when the browser cannot. */
  async start(key, {sdkAppId, roomId, strRoomId}) {
    this.stop();
    if (!FramePipeline.available) {
      throw new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, functionName: 'enterRoom',
        message: 'this browser has no encoded transforms (RTCRtpScriptTransform, createEncodedStreams): no E2EE'});
    }
    const salt = roomSalt(sdkAppId, roomId, strRoomId);
    const baseKey = await baseKeyFrom(key, salt);
    if (!await this._pipeline.setE2EEKey(baseKey)) {
      throw new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, functionName: 'enterRoom',
        message: 'the transform worker could not be started (serve the SDK from the page\'s origin)'});
    }
    this._salt = salt;
  }

  /** A new key from the application: it sends from now on; the previous ones still decrypt. */
  async setKey(key) {
    await this._pipeline.setE2EEKey(await baseKeyFrom(key, this._salt));
  }

  /** Ratchet the sending key one step; the others follow on their own. */
  async ratchet() {
    await this._pipeline.ratchetE2EEKey();
  }

  /** Leave: the keys go (with the pipeline's worker). */
  stop() {
    if (this._salt !== null) this._pipeline.reset();
    this._salt = null;
  }

  /** The pipeline's report about a sender or receiver: `e2ee-error` with its stream. */
  report(label, reason, message) {
    const stream = label();
    if (reason !== 'unsupported-codec' && !stream) return; // a receiver no longer labelled: gone
    log.warn('E2EE:', reason, message);
    this._emit(EVENT.E2EE_ERROR, {...(stream || {}), reason, message});
  }
}

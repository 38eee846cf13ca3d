// Errors: TRTC's RtcError and the mappings onto it (server refusals, browser device errors).

import {ERROR_CODE} from './constants.js';

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

/** 5000: a parameter breaks TRTC's rules. */
export function invalid(functionName, message, extraCode = 0) {
  return new RtcError({code: ERROR_CODE.INVALID_PARAMETER, extraCode, message, functionName});
}

/** 5100: the call is not allowed in the current state. */
export function invalidOperation(functionName, message, extraCode = 0) {
  return new RtcError({code: ERROR_CODE.INVALID_OPERATION, extraCode, message, functionName});
}

/** 5200: TRTC's error for a feature this SDK or browser does not offer (extraCode: TRTC's reason, e.g.
 *  5206 small stream, 5207 SEI, 5210 plugin). */
export function unsupported(functionName, extraCode, message) {
  return new RtcError({code: ERROR_CODE.ENV_NOT_SUPPORTED, extraCode, message, functionName});
}

/** `e` as an RtcError: itself when it is one, else `code` (default 5999) with its message. */
export function asRtcError(e, functionName, code = ERROR_CODE.UNKNOWN_ERROR, prefix = '') {
  if (e instanceof RtcError) return e;
  const text = (e && e.message) || String(e);
  return new RtcError({code, message: prefix ? `${prefix}: ${text}` : String(e), functionName});
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

const DEVICE_EXTRA = Object.freeze({
  NotFoundError: 5301, DevicesNotFoundError: 5301, NotAllowedError: 5302, PermissionDeniedError: 5302,
  NotReadableError: 5303, TrackStartError: 5303, OverconstrainedError: 5304, InvalidStateError: 5305,
  SecurityError: 5306, AbortError: 5307,
});

/** A getUserMedia/getDisplayMedia/applyConstraints failure as 5300 with the DOMException's extraCode. */
export function deviceError(e, functionName) {
  const extra = (e && Object.hasOwn(DEVICE_EXTRA, e.name) && DEVICE_EXTRA[e.name]) || 0;
  return new RtcError({code: ERROR_CODE.DEVICE_ERROR, extraCode: extra, functionName,
    message: `${(e && e.name) || 'Error'}: ${(e && e.message) || 'device error'}`, cause: e});
}

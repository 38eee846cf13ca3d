// SEI messages (trtc-sdk-v5's sendSEIMessage / SEI_MESSAGE): H.264 Supplemental Enhancement Information
// NAL units (ITU-T H.264 §7.3.2.3, §D.1) put into the published video frames and read out of received
// ones, by the frame pipeline's 'sei' stage (frame-transform.js). The SFU forwards H.264 untouched, so a
// message rides with the frame it was put into. Pure functions over Uint8Arrays: they run in the page,
// in the transform worker and under node's tests.
//
import {invalid} from './errors.js';

// Hand-written on purpose: it is a few dozen lines, it runs per frame in a worker that imports nothing
// else, and no maintained library does this for browsers.

/** trtc-sdk-v5's default payload type (a private one); 5 is user_data_unregistered (a 16-byte UUID first). */
export const SEI_PAYLOAD_TYPES = Object.freeze([243, 5]);
export const MAX_SEI_BYTES = 1000; // trtc-sdk-v5's limit per message
const NAL_SEI = 6;
/** At most this many messages go into one frame; the rest wait for the next frames. */
export const MAX_SEI_PER_FRAME = 8;
/** Messages waiting for a frame (video paused...): beyond this the oldest are dropped. */
export const MAX_SEI_QUEUE = 64;

/** sendSEIMessage's (buffer, {seiPayloadType, toSubStream}) → {bytes, payloadType, toSubStream}; RtcError
 *  5000 (TRTC's extraCodes 5017 empty, 5018 over 1000 bytes) for bad ones. Type 5 starts with a UUID. */
export function validateSeiMessage(buffer, options) {
  const fn = 'sendSEIMessage';
  if (!(buffer instanceof ArrayBuffer)) throw invalid(fn, 'buffer must be an ArrayBuffer');
  if (buffer.byteLength === 0) throw invalid(fn, 'buffer is empty', 5017);
  if (buffer.byteLength > MAX_SEI_BYTES) throw invalid(fn, `buffer is over ${MAX_SEI_BYTES} bytes`, 5018);
  const {seiPayloadType = 243, toSubStream = false} = options || {};
  if (!SEI_PAYLOAD_TYPES.includes(seiPayloadType)) throw invalid(fn, 'seiPayloadType must be 243 or 5');
  if (seiPayloadType === 5 && buffer.byteLength <= 16) {
    throw invalid(fn, 'payload type 5 (user data unregistered) starts with a 16-byte UUID, then the data');
  }
  if (typeof toSubStream !== 'boolean') throw invalid(fn, 'toSubStream must be a boolean');
  return {bytes: new Uint8Array(buffer.slice(0)), payloadType: seiPayloadType, toSubStream};
}

/** RBSP → NAL payload: an emulation prevention byte (0x03) after every 00 00 that precedes 00..03. */
export function addEmulationPrevention(rbsp) {
  const out = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

/** NAL payload → RBSP: every 00 00 03 loses its 03. */
export function removeEmulationPrevention(payload) {
  const out = new Uint8Array(payload.length);
  let n = 0;
  let zeros = 0;
  for (const b of payload) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

/** A number as SEI's ff-coded value (payloadType, payloadSize: §7.3.2.3.1). */
function ffCoded(value) {
  const out = [];
  let v = value;
  while (v >= 255) {
    out.push(255);
    v -= 255;
  }
  out.push(v);
  return out;
}

/** One SEI NAL unit in Annex B form (start code 00 00 00 01) carrying `payload` as `payloadType`. */
export function buildSeiNal(payloadType, payload) {
  const bytes = payload instanceof Uint8Array ? payload : new Uint8Array(payload);
  const rbsp = Uint8Array.from([...ffCoded(payloadType), ...ffCoded(bytes.length), ...bytes, 0x80]);
  const body = addEmulationPrevention(rbsp);
  const nal = new Uint8Array(5 + body.length);
  nal.set([0, 0, 0, 1, NAL_SEI], 0);
  nal.set(body, 5);
  return nal;
}

/** The NAL units of an Annex B frame: [{start (of the start code), offset (of the NAL header), end, type}]. */
export function nalUnits(frame) {
  const units = [];
  const n = frame.length;
  let i = 0;
  while (i + 2 < n) {
    if (frame[i] === 0 && frame[i + 1] === 0 && frame[i + 2] === 1) {
      const start = i > 0 && frame[i - 1] === 0 ? i - 1 : i;
      if (units.length) units[units.length - 1].end = start;
      units.push({start, offset: i + 3, end: n, type: i + 3 < n ? frame[i + 3] & 0x1f : -1});
      i += 3;
    } else {
      i += 1;
    }
  }
  return units;
}

/** The SEI messages of one SEI NAL unit (`nal` starts at its header): [{payloadType, payload}]. */
export function parseSeiNal(nal) {
  const rbsp = removeEmulationPrevention(nal.subarray(1));
  const messages = [];
  let pos = 0;
  // more_rbsp_data(): stop at the trailing bits (a last byte 0x80) or at the end
  while (pos < rbsp.length && !(pos === rbsp.length - 1 && rbsp[pos] === 0x80)) {
    let type = 0;
    while (pos < rbsp.length && rbsp[pos] === 255) type += rbsp[pos++];
    if (pos >= rbsp.length) break;
    type += rbsp[pos++];
    let size = 0;
    while (pos < rbsp.length && rbsp[pos] === 255) size += rbsp[pos++];
    if (pos >= rbsp.length) break;
    size += rbsp[pos++];
    if (pos + size > rbsp.length) break; // truncated: what came before is kept
    messages.push({payloadType: type, payload: rbsp.slice(pos, pos + size)});
    pos += size;
  }
  return messages;
}

/** The messages of sendSEIMessage's payload types in an Annex B H.264 frame, in order. */
export function extractSei(frame) {
  const out = [];
  for (const u of nalUnits(frame)) {
    if (u.type !== NAL_SEI) continue;
    for (const m of parseSeiNal(frame.subarray(u.offset, u.end))) {
      if (SEI_PAYLOAD_TYPES.includes(m.payloadType)) out.push(m);
    }
  }
  return out;
}

/** `frame` with SEI NAL units for `messages` ([{payloadType, payload}]) before its first slice (after
 *  the SPS/PPS of a key frame, as an access unit orders them); the frame itself when it has no slice. */
export function insertSei(frame, messages) {
  if (!messages.length) return frame;
  const firstSlice = nalUnits(frame).find((u) => u.type >= 1 && u.type <= 5);
  if (!firstSlice) return frame;
  const nals = messages.map((m) => buildSeiNal(m.payloadType, m.payload));
  const extra = nals.reduce((sum, nal) => sum + nal.length, 0);
  const out = new Uint8Array(frame.length + extra);
  out.set(frame.subarray(0, firstSlice.start), 0);
  let at = firstSlice.start;
  for (const nal of nals) {
    out.set(nal, at);
    at += nal.length;
  }
  out.set(frame.subarray(firstSlice.start), at);
  return out;
}

/** Messages waiting for the next frames of one sender; bounded (oldest dropped). */
export class SeiQueue {
  constructor() {
    this._items = [];
    this.dropped = 0;
  }

  push(message) {
    this._items.push(message);
    while (this._items.length > MAX_SEI_QUEUE) {
      this._items.shift();
      this.dropped += 1;
    }
  }

  /** Up to MAX_SEI_PER_FRAME messages for one frame. */
  take() {
    return this._items.splice(0, MAX_SEI_PER_FRAME);
  }

  /** Messages taken for a frame that could not carry them go first again. */
  putBack(messages) {
    this._items.unshift(...messages);
  }

  get length() {
    return this._items.length;
  }
}

/** The frame pipeline's stage for a sender: the waiting messages go into the next H.264 frame. */
export function seiSendStage(queue) {
  return (frame, codec) => {
    if (codec !== 'h264' || queue.length === 0) return true;
    const data = new Uint8Array(frame.data);
    const messages = queue.take();
    const out = insertSei(data, messages);
    if (out === data) queue.putBack(messages); // no slice in this frame: the next one carries them
    else frame.data = out.buffer;
    return true;
  };
}

/** The frame pipeline's stage for a receiver: onSei({payloadType, data: ArrayBuffer}) per message. */
export function seiReceiveStage(onSei) {
  return (frame, codec) => {
    if (codec !== 'h264') return true;
    for (const m of extractSei(new Uint8Array(frame.data))) {
      onSei({payloadType: m.payloadType, data: m.payload.buffer});
    }
    return true;
  };
}

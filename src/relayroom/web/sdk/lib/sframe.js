// SFrame (RFC 9605) for media frames, byte for byte the Python SDK's format (relayroom/client/sframe.py;
// both check tests/data/e2ee/vectors.json). Pure functions over WebCrypto, for the E2EE worker, the page
// and node's test runner alike (docs/e2ee.md):
//
//   encrypted frame = clear codec bytes || SFrame header || AES-GCM(rest of the frame) || 16-byte tag
//   AAD             = SFrame header || clear codec bytes        (RFC 9605: header + metadata)
//
// Cipher suite AES_128_GCM_SHA256_128 (0x0004). The clear bytes are what packetisers, depacketisers and
// the SFU read: a VP8 key frame's 10-octet payload header (3 for a delta frame), an Opus TOC octet.
// KIDs are 64-bit, so KIDs and counters are BigInts here.

export const CIPHER_SUITE = 0x0004;
export const KEY_BYTES = 16;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HASH_BYTES = 32;

const VP8_KEY_FRAME_CLEAR = 10;
const VP8_DELTA_FRAME_CLEAR = 3;
const OPUS_CLEAR = 1;
const MAX_U64 = (1n << 64n) - 1n;
const text = new TextEncoder();

/** Not an SFrame ciphertext of this format. */
export class SFrameError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SFrameError';
  }
}

/** Authentication failed: another key, or an altered frame. */
export class DecryptError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DecryptError';
  }
}

const subtle = () => globalThis.crypto.subtle;

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function uintBytes(value, length) {
  const out = new Uint8Array(length);
  let v = BigInt(value);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function minimalBytes(value) {
  let n = 0;
  for (let v = value; v > 0n; v >>= 8n) n += 1;
  return uintBytes(value, n);
}

function readUint(data, pos, n) {
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(data[pos + i]);
  return v;
}

// ------------------------------------------------------------------------------------ header

/** RFC 9605 §4.3: config byte, then KID and CTR in the fewest big-endian octets (values ≥ 8). */
export function encodeHeader(kid, ctr) {
  const k = BigInt(kid);
  const c = BigInt(ctr);
  if (k < 0n || k > MAX_U64 || c < 0n || c > MAX_U64) throw new RangeError('kid and ctr are 64-bit unsigned integers');
  let config = 0;
  let kidBytes = new Uint8Array(0);
  let ctrBytes = new Uint8Array(0);
  if (k < 8n) {
    config = Number(k) << 4;
  } else {
    kidBytes = minimalBytes(k);
    config = 0x80 | ((kidBytes.length - 1) << 4);
  }
  if (c < 8n) {
    config |= Number(c);
  } else {
    ctrBytes = minimalBytes(c);
    config |= 0x08 | (ctrBytes.length - 1);
  }
  return concat(Uint8Array.of(config), kidBytes, ctrBytes);
}

/** {kid, ctr, length} of the header at `offset` of `data` (Uint8Array); SFrameError if cut short. */
export function decodeHeader(data, offset = 0) {
  if (offset >= data.length) throw new SFrameError('no SFrame header');
  const config = data[offset];
  let pos = offset + 1;
  let kid;
  let ctr;
  if (config & 0x80) {
    const n = ((config >> 4) & 0x07) + 1;
    if (pos + n > data.length) throw new SFrameError('SFrame header cut short (KID)');
    kid = readUint(data, pos, n);
    pos += n;
  } else {
    kid = BigInt((config >> 4) & 0x07);
  }
  if (config & 0x08) {
    const n = (config & 0x07) + 1;
    if (pos + n > data.length) throw new SFrameError('SFrame header cut short (CTR)');
    ctr = readUint(data, pos, n);
    pos += n;
  } else {
    ctr = BigInt(config & 0x07);
  }
  return {kid, ctr, length: pos - offset};
}

// ------------------------------------------------------------------------------------ keys

/** HKDF-SHA256 (extract with `salt`, then expand with `info`) of `ikm` to `length` octets. */
export async function hkdf(ikm, salt, info, length) {
  const key = await subtle().importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const bits = await subtle().deriveBits({name: 'HKDF', hash: 'SHA-256', salt, info}, key, length * 8);
  return new Uint8Array(bits);
}

/** RFC 9605 §4.4.2: {key: raw sframe_key, salt: sframe_salt} for `kid` under `baseKey`. */
export async function deriveKeySalt(baseKey, kid) {
  const suffix = concat(uintBytes(kid, 8), uintBytes(CIPHER_SUITE, 2));
  const empty = new Uint8Array(0);
  const key = await hkdf(baseKey, empty, concat(text.encode('SFrame 1.0 Secret key '), suffix), KEY_BYTES);
  const salt = await hkdf(baseKey, empty, concat(text.encode('SFrame 1.0 Secret salt '), suffix), NONCE_BYTES);
  return {key, salt};
}

/** RFC 9605 §5.1: the next base key of a ratchet. */
export function ratchet(baseKey) {
  return hkdf(baseKey, new Uint8Array(0), text.encode('SFrame 1.0 Ratchet'), HASH_BYTES);
}

/** One KID's AES-GCM key and salt. Create with `await FrameKey.create(baseKey, kid)`. */
export class FrameKey {
  static async create(baseKey, kid) {
    const {key, salt} = await deriveKeySalt(baseKey, BigInt(kid));
    const aes = await subtle().importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
    return new FrameKey(BigInt(kid), aes, salt);
  }

  constructor(kid, aes, salt) {
    this.kid = kid;
    this._aes = aes;
    this._salt = salt;
  }

  _nonce(ctr) {
    const nonce = uintBytes(ctr, NONCE_BYTES);
    for (let i = 0; i < NONCE_BYTES; i++) nonce[i] ^= this._salt[i];
    return nonce;
  }

  /** header || ciphertext || tag (RFC 9605 encrypt). */
  async seal(ctr, metadata, plaintext) {
    const header = encodeHeader(this.kid, ctr);
    const sealed = await subtle().encrypt({name: 'AES-GCM', iv: this._nonce(ctr), additionalData: concat(header, metadata),
      tagLength: TAG_BYTES * 8}, this._aes, plaintext);
    return concat(header, new Uint8Array(sealed));
  }

  /** The plaintext, or DecryptError. */
  async open(ctr, header, metadata, ciphertext) {
    try {
      const plain = await subtle().decrypt({name: 'AES-GCM', iv: this._nonce(ctr),
        additionalData: concat(header, metadata), tagLength: TAG_BYTES * 8}, this._aes, ciphertext);
      return new Uint8Array(plain);
    } catch {
      throw new DecryptError('authentication failed');
    }
  }
}

// ------------------------------------------------------------------------------------ codecs

/** 'vp8', 'opus' or 'other' (encrypted whole) from a MIME type such as 'video/VP8'. */
export function codecOf(mimeType) {
  const name = String(mimeType || '').toLowerCase().split('/').pop();
  return name === 'vp8' || name === 'opus' ? name : 'other';
}

/** How many leading octets stay clear; computed from those octets, so the same on both sides. */
export function clearLength(codec, frame) {
  if (codec === 'vp8') {
    if (frame.length === 0) return 0;
    return frame[0] & 0x01 ? VP8_DELTA_FRAME_CLEAR : VP8_KEY_FRAME_CLEAR; // P bit: 0 = key frame
  }
  return codec === 'opus' ? OPUS_CLEAR : 0;
}

/** The encrypted frame (Uint8Array); SFrameError for a frame shorter than its clear part. */
export async function protect(codec, frame, key, ctr) {
  const n = clearLength(codec, frame);
  if (frame.length < n) throw new SFrameError(`a ${codec} frame of ${frame.length} octets is shorter than its ${n} clear octets`);
  const clear = frame.subarray(0, n);
  return concat(clear, await key.seal(ctr, clear, frame.subarray(n)));
}

/** {clear, kid, ctr, headerLength} of an encrypted frame; SFrameError if it is not one. */
export function parse(codec, data) {
  const clear = clearLength(codec, data);
  const {kid, ctr, length} = decodeHeader(data, clear);
  if (data.length < clear + length + TAG_BYTES) throw new SFrameError('frame shorter than its SFrame header and tag');
  return {clear, kid, ctr, headerLength: length};
}

/** The plain frame; DecryptError or SFrameError. `parsed` is parse()'s result when the caller has it. */
export async function unprotect(codec, data, key, parsed = parse(codec, data)) {
  const {clear, ctr, headerLength} = parsed;
  if (parsed.kid !== key.kid) throw new DecryptError('frame is for another key id');
  const head = data.subarray(0, clear);
  const plain = await key.open(ctr, data.subarray(clear, clear + headerLength), head, data.subarray(clear + headerLength));
  return concat(head, plain);
}

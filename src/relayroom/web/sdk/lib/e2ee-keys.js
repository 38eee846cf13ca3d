// End-to-end encryption keys and per-stream frame encryption, shared-key mode: the same derivations,
// KID layout and windows as the Python SDK (relayroom/client/e2ee.py; docs/e2ee.md).
//
//   base key  passphrase: PBKDF2-HMAC-SHA256(NFC UTF-8, room salt, 600 000, 32 octets)
//             raw key (≥ 16 octets): HKDF-SHA256(key, room salt, "RelayRoom E2EE raw key", 32 octets)
//   room salt "RelayRoom E2EE v1|<sdkAppId>|r:<roomId>" or "…|s:<strRoomId>"
//   KID       stream id (48 random bits) << 16 | key tag (8 bits) << 8 | ratchet step (8 bits)

import {SFrameError, DecryptError, FrameKey, hkdf, parse, protect, ratchet} from './sframe.js';

export const PBKDF2_ITERATIONS = 600000;
export const BASE_KEY_BYTES = 32;
export const MIN_RAW_KEY_BYTES = 16;
export const RATCHET_WINDOW = 8;
export const MAX_GENERATIONS = 4;
export const STEPS_KEPT = RATCHET_WINDOW;
export const ERROR_INTERVAL_MS = 5000;
export const NO_KEY = 'no-key';
export const AUTH_FAILED = 'auth-failed';
export const MALFORMED = 'malformed';

const text = new TextEncoder();
const subtle = () => globalThis.crypto.subtle;

/** The KDF salt of a room: the same for every member, different for every room. */
export function roomSalt(sdkAppId, roomId, strRoomId) {
  let room;
  if (roomId !== undefined && roomId !== null) room = `r:${roomId}`;
  else if (strRoomId !== undefined && strRoomId !== null) room = `s:${strRoomId}`;
  else throw new TypeError('roomId or strRoomId is required');
  return text.encode(`RelayRoom E2EE v1|${sdkAppId}|${room}`);
}

/** Raw key bytes of an ArrayBuffer or a view, else null. */
export function rawKeyBytes(key) {
  if (key instanceof ArrayBuffer) return new Uint8Array(key.slice(0));
  if (ArrayBuffer.isView(key)) return new Uint8Array(key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength));
  return null;
}

/** The room's base key (Uint8Array) from a passphrase (string) or a raw key (ArrayBuffer / view). */
export async function baseKeyFrom(key, salt) {
  if (typeof key === 'string') {
    if (!key) throw new RangeError('the E2EE passphrase is empty');
    const material = await subtle().importKey('raw', text.encode(key.normalize('NFC')), 'PBKDF2', false, ['deriveBits']);
    const bits = await subtle().deriveBits({name: 'PBKDF2', hash: 'SHA-256', salt, iterations: PBKDF2_ITERATIONS},
      material, BASE_KEY_BYTES * 8);
    return new Uint8Array(bits);
  }
  const raw = rawKeyBytes(key);
  if (!raw) throw new TypeError('the E2EE key is a passphrase (string) or raw bytes (ArrayBuffer, Uint8Array)');
  if (raw.length < MIN_RAW_KEY_BYTES) throw new RangeError(`a raw E2EE key has at least ${MIN_RAW_KEY_BYTES} bytes`);
  return hkdf(raw, salt, text.encode('RelayRoom E2EE raw key'), BASE_KEY_BYTES);
}

/** 8 bits naming a key in KIDs. */
export async function keyTag(baseKey) {
  return (await hkdf(baseKey, new Uint8Array(0), text.encode('RelayRoom E2EE key tag'), 1))[0];
}

export const makeKid = (streamId, tag, step) => (BigInt(streamId) << 16n) | (BigInt(tag) << 8n) | BigInt(step & 0xff);

/** {streamId, tag, step} of a KID (BigInt). */
export function splitKid(kid) {
  return {streamId: kid >> 16n, tag: Number((kid >> 8n) & 0xffn), step: Number(kid & 0xffn)};
}

/** A member's keys: the sending key and the recent ones for decryption. Build with `await KeyRing.create(key)`. */
export class KeyRing {
  static async create(baseKey) {
    const ring = new KeyRing();
    await ring.setKey(baseKey);
    return ring;
  }

  constructor() {
    this._serial = 0;
    this._generations = []; // newest first: {serial, tag, steps: Map(step -> base key, oldest first), newest}
  }

  /** A new key from the application: it sends from now on; the previous keys still decrypt. */
  async setKey(baseKey) {
    const tag = await keyTag(baseKey);
    this._serial += 1;
    this._generations.unshift({serial: this._serial, tag, steps: new Map([[0, baseKey]]), newest: 0});
    this._generations.length = Math.min(this._generations.length, MAX_GENERATIONS);
  }

  /** Ratchet the sending key one step; receivers follow on their own within the window. */
  async ratchet() {
    const gen = this._generations[0];
    const next = await ratchet(gen.steps.get(gen.newest));
    addStep(gen, (gen.newest + 1) & 0xff, next);
  }

  /** {serial, tag, step, baseKey} to encrypt with. */
  sending() {
    const gen = this._generations[0];
    return {serial: gen.serial, tag: gen.tag, step: gen.newest, baseKey: gen.steps.get(gen.newest)};
  }

  /** Keys that may have encrypted a frame of (tag, step): [{serial, step, chain, held}] as in the Python SDK. */
  async candidates(tag, step) {
    const out = [];
    for (const gen of this._generations.filter((g) => g.tag === tag)) {
      if (gen.steps.has(step)) {
        out.push({serial: gen.serial, step, chain: [gen.steps.get(step)], held: true});
        continue;
      }
      const ahead = (step - gen.newest) & 0xff;
      if (ahead >= 1 && ahead <= RATCHET_WINDOW) {
        const chain = [gen.steps.get(gen.newest)];
        for (let i = 0; i < ahead; i++) chain.push(await ratchet(chain[chain.length - 1]));
        out.push({serial: gen.serial, step, chain: chain.slice(1), held: false});
      }
    }
    return out;
  }

  /** A frame decrypted with a ratcheted key: keep the steps up to it. */
  commit(serial, step, chain) {
    const gen = this._generations.find((g) => g.serial === serial);
    if (!gen) return;
    const first = (step - chain.length + 1) & 0xff;
    chain.forEach((key, i) => {
      const s = (first + i) & 0xff;
      if (!gen.steps.has(s)) addStep(gen, s, key);
    });
  }
}

function addStep(gen, step, key) {
  gen.steps.set(step, key);
  gen.newest = step;
  while (gen.steps.size > STEPS_KEPT) gen.steps.delete(gen.steps.keys().next().value);
}

function randomStreamId() {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(6));
  return b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
}

/** Encrypts one sending stream: its own random stream id, a counter from 0. */
export class FrameEncryptor {
  constructor(keys) {
    this._keys = keys;
    this._streamId = randomStreamId();
    this._ctr = 0n;
    this._key = null;
    this._keyFor = '';
  }

  async encrypt(codec, frame) {
    const {serial, tag, step, baseKey} = this._keys.sending();
    const id = `${serial}/${step}`;
    if (!this._key || this._keyFor !== id) {
      this._key = await FrameKey.create(baseKey, makeKid(this._streamId, tag, step));
      this._keyFor = id;
    }
    const ctr = this._ctr;
    this._ctr += 1n;
    return protect(codec, frame, this._key, ctr);
  }
}

/**
 * Decrypts one receiving stream. A frame that does not decrypt resolves to null (drop it; never hand it
 * to the decoder) and is reported through report(reason, message) when the stream starts failing, then
 * at most every ERROR_INTERVAL_MS while it keeps failing.
 */
export class FrameDecryptor {
  constructor(keys, report, now = () => Date.now()) {
    this._keys = keys;
    this._report = report;
    this._now = now;
    this._cache = new Map(); // `${serial}/${step}/${kid}` -> FrameKey, oldest first
    this._failing = false;
    this._lastReport = 0;
    this.decrypted = 0;
    this.failed = 0;
  }

  async decrypt(codec, data) {
    let parsed;
    try {
      parsed = parse(codec, data);
    } catch (e) {
      if (!(e instanceof SFrameError)) throw e;
      return this._fail(MALFORMED, e.message);
    }
    const {tag, step} = splitKid(parsed.kid);
    const candidates = await this._keys.candidates(tag, step);
    if (candidates.length === 0) return this._fail(NO_KEY, 'no key for this frame (another key, or beyond the ratchet window)');
    const {clear, ctr, headerLength} = parsed;
    const head = data.subarray(0, clear);
    const header = data.subarray(clear, clear + headerLength);
    const body = data.subarray(clear + headerLength);
    for (const c of candidates) {
      const id = `${c.serial}/${c.step}/${parsed.kid}`;
      const key = this._cache.get(id) || await FrameKey.create(c.chain[c.chain.length - 1], parsed.kid);
      let plain;
      try {
        plain = await key.open(ctr, header, head, body);
      } catch (e) {
        if (e instanceof DecryptError) continue;
        throw e;
      }
      this._cache.delete(id);
      this._cache.set(id, key);
      if (this._cache.size > 16) this._cache.delete(this._cache.keys().next().value);
      if (!c.held) this._keys.commit(c.serial, c.step, c.chain);
      this.decrypted += 1;
      this._failing = false;
      const out = new Uint8Array(clear + plain.length);
      out.set(head);
      out.set(plain, clear);
      return out;
    }
    return this._fail(AUTH_FAILED, 'the frame did not authenticate with the room key');
  }

  _fail(reason, message) {
    this.failed += 1;
    const now = this._now();
    if (!this._failing || now - this._lastReport >= ERROR_INTERVAL_MS) {
      this._failing = true;
      this._lastReport = now;
      this._report(reason, message);
    }
    return null;
  }
}

// The E2EE frame format of the browser SDK (src/relayroom/web/sdk/lib/sframe.js, e2ee-keys.js): RFC 9605's
// header and AES-GCM vector, and the vectors the Python SDK's tests check too (tests/data/e2ee/vectors.json):
// a frame one SDK encrypts is the frame the other decrypts, byte for byte.
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {webcrypto} from 'node:crypto';
import {describe, test} from 'node:test';

if (!globalThis.crypto) globalThis.crypto = webcrypto; // node 18: WebCrypto is not a global yet

const {
  FrameKey, SFrameError, DecryptError, clearLength, codecOf, decodeHeader, deriveKeySalt, encodeHeader, protect,
  ratchet, unprotect,
} = await import('../../../../src/relayroom/web/sdk/lib/sframe.js');
const {baseKeyFrom, keyTag, roomSalt} = await import('../../../../src/relayroom/web/sdk/lib/e2ee-keys.js');

const VECTORS = JSON.parse(readFileSync(new URL('../../../data/e2ee/vectors.json', import.meta.url), 'utf8'));
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));

// RFC 9605 Appendix C.1 (some header vectors) and C.4 (AES_128_GCM_SHA256_128).
const RFC_HEADERS = [[0n, 0n, '00'], [0n, 255n, '08ff'], [1n, 65536n, '1a010000'], [255n, 0n, '80ff'],
  [255n, 256n, '89ff0100'], [(1n << 64n) - 1n, (1n << 64n) - 1n, 'ff'.repeat(17)]];
const RFC = {kid: 0x123n, ctr: 0x4567n, baseKey: '000102030405060708090a0b0c0d0e0f',
  key: 'd34f547f4ca4f9a7447006fe7fcbf768', salt: '75234edefe07819026751816', metadata: '4945544620534672616d65205747',
  pt: '64726166742d696574662d736672616d652d656e63',
  ct: '9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb'};

describe('SFrame header and cipher suite (RFC 9605)', () => {
  test('headers encode and decode as the RFC\'s vectors', () => {
    for (const [kid, ctr, encoded] of RFC_HEADERS) {
      assert.equal(hex(encodeHeader(kid, ctr)), encoded);
      assert.deepEqual(decodeHeader(bytes(encoded)), {kid, ctr, length: encoded.length / 2});
    }
  });

  test('a header cut short is refused, and values past 64 bits too', () => {
    const header = encodeHeader(1n << 40n, 1n << 20n);
    for (let cut = 0; cut < header.length; cut++) assert.throws(() => decodeHeader(header.subarray(0, cut)), SFrameError);
    assert.throws(() => encodeHeader(1n << 64n, 0n), RangeError);
  });

  test('key derivation and encryption give the RFC\'s AES-GCM vector', async () => {
    const {key, salt} = await deriveKeySalt(bytes(RFC.baseKey), RFC.kid);
    assert.deepEqual([hex(key), hex(salt)], [RFC.key, RFC.salt]);
    const fk = await FrameKey.create(bytes(RFC.baseKey), RFC.kid);
    const sealed = await fk.seal(RFC.ctr, bytes(RFC.metadata), bytes(RFC.pt));
    assert.equal(hex(sealed), RFC.ct);
    const {length} = decodeHeader(sealed);
    assert.equal(hex(await fk.open(RFC.ctr, sealed.subarray(0, length), bytes(RFC.metadata), sealed.subarray(length))), RFC.pt);
  });
});

describe('the shared vectors (same bytes as the Python SDK)', () => {
  test('frames encrypt to the vectors, keep their clear codec bytes, and decrypt back', async () => {
    for (const v of VECTORS.frames) {
      const key = await FrameKey.create(bytes(v.baseKey), BigInt(v.kid));
      const plain = bytes(v.plain);
      const encrypted = await protect(v.codec, plain, key, BigInt(v.ctr));
      assert.equal(hex(encrypted), v.encrypted, `${v.codec} ctr ${v.ctr}`);
      assert.equal(clearLength(v.codec, plain), v.clear);
      assert.deepEqual(encrypted.subarray(0, v.clear), plain.subarray(0, v.clear));
      assert.equal(hex(await unprotect(v.codec, encrypted, key)), v.plain);
    }
  });

  test('a room\'s passphrase or raw key gives both SDKs the same base key', async () => {
    for (const v of VECTORS.kdf) {
      const salt = roomSalt(v.sdkAppId, v.roomId, v.strRoomId);
      assert.equal(hex(salt), v.salt);
      const key = v.passphrase !== undefined ? v.passphrase : bytes(v.rawKey);
      assert.equal(hex(await baseKeyFrom(key, salt)), v.baseKey);
    }
  });

  test('key tags and ratchet steps are the same', async () => {
    for (const v of VECTORS.keys) {
      assert.equal(await keyTag(bytes(v.baseKey)), v.tag);
      assert.equal(hex(await ratchet(bytes(v.baseKey))), v.next);
    }
  });
});

describe('codec bytes', () => {
  test('a VP8 key frame keeps 10 octets clear, a delta frame 3, an Opus packet its TOC, others none', () => {
    assert.equal(clearLength('vp8', bytes('5042009d012a4001f000aa')), 10);
    assert.equal(clearLength('vp8', bytes('b10400aa')), 3);
    assert.equal(clearLength('opus', bytes('78aa')), 1);
    assert.equal(clearLength('other', bytes('5042')), 0);
    assert.deepEqual(['video/VP8', 'audio/opus', 'video/H264', undefined].map(codecOf), ['vp8', 'opus', 'other', 'other']);
  });

  test('an altered or foreign frame does not decrypt, and a frame cut inside its clear part is refused', async () => {
    const key = await FrameKey.create(new Uint8Array(32).fill(1), 300n);
    const frame = new Uint8Array([0xb1, 0x04, 0x00, ...Array(60).keys()]);
    const encrypted = await protect('vp8', frame, key, 12n);
    const other = await FrameKey.create(new Uint8Array(32).fill(2), 300n);
    await assert.rejects(unprotect('vp8', encrypted, other), DecryptError);
    for (const i of [0, 3, encrypted.length - 1]) {
      const altered = encrypted.slice();
      altered[i] ^= 0x02;
      await assert.rejects(unprotect('vp8', altered, key), (e) => e instanceof DecryptError || e instanceof SFrameError);
    }
    await assert.rejects(protect('vp8', bytes('5042009d01'), key, 0n), SFrameError);
  });
});

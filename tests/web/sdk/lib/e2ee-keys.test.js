// E2EE keys of the browser SDK (src/relayroom/web/sdk/lib/e2ee-keys.js): rotation, the ratchet window,
// per-stream key ids, and what a receiver does with frames it cannot decrypt (the Python SDK's rules).
import assert from 'node:assert/strict';
import {webcrypto} from 'node:crypto';
import {describe, test} from 'node:test';

if (!globalThis.crypto) globalThis.crypto = webcrypto;

const {
  AUTH_FAILED, ERROR_INTERVAL_MS, FrameDecryptor, FrameEncryptor, KeyRing, MALFORMED, MAX_GENERATIONS, NO_KEY,
  RATCHET_WINDOW, baseKeyFrom, roomSalt,
} = await import('../../../../src/relayroom/web/sdk/lib/e2ee-keys.js');
const {decodeHeader} = await import('../../../../src/relayroom/web/sdk/lib/sframe.js');

const DELTA = new Uint8Array([0xb1, 0x04, 0x00, ...Array(80).keys()]);
const KEY_A = new Uint8Array(32).fill(0x41);
const KEY_B = new Uint8Array(32).fill(0x42);

function receiver(keys) {
  const reports = [];
  const clock = {now: 0};
  const dec = new FrameDecryptor(keys, (reason, message) => reports.push([reason, message]), () => clock.now);
  return {dec, reports, clock};
}

describe('E2EE keys', () => {
  test('rooms get different salts, and bad keys are refused', async () => {
    const salts = new Set([roomSalt(1, 1234), roomSalt(1, undefined, '1234'), roomSalt(1, 1235), roomSalt(2, 1234)]
      .map((s) => Buffer.from(s).toString('hex')));
    assert.equal(salts.size, 4);
    assert.throws(() => roomSalt(1), TypeError);
    await assert.rejects(baseKeyFrom('', roomSalt(1, 1)), RangeError);
    await assert.rejects(baseKeyFrom(new Uint8Array(15), roomSalt(1, 1)), RangeError);
    await assert.rejects(baseKeyFrom(1234, roomSalt(1, 1)), TypeError);
  });

  test('the same key decrypts; another key gets null and one report, not one per frame', async () => {
    const sender = new FrameEncryptor(await KeyRing.create(KEY_A));
    const same = receiver(await KeyRing.create(KEY_A));
    const other = receiver(await KeyRing.create(KEY_B));
    for (let i = 0; i < 3; i++) {
      const frame = await sender.encrypt('vp8', DELTA);
      assert.deepEqual(await same.dec.decrypt('vp8', frame), DELTA);
      assert.equal(await other.dec.decrypt('vp8', frame), null);
    }
    assert.deepEqual(other.reports.map(([r]) => r), [NO_KEY]);
    assert.equal(other.dec.failed, 3);
  });

  test('streams have their own key ids and never repeat a counter', async () => {
    const keys = await KeyRing.create(KEY_A);
    const a = new FrameEncryptor(keys);
    const b = new FrameEncryptor(keys);
    const seen = new Set();
    for (let i = 0; i < 10; i++) {
      for (const enc of [a, b]) {
        const {kid, ctr} = decodeHeader(await enc.encrypt('opus', new Uint8Array([0x78, 1, 2, 3])), 1);
        seen.add(`${kid}/${ctr}`);
      }
    }
    assert.equal(seen.size, 20);
  });

  test('a receiver follows a sender\'s ratchet within the window, not beyond', async () => {
    const sendKeys = await KeyRing.create(KEY_A);
    const sender = new FrameEncryptor(sendKeys);
    const r = receiver(await KeyRing.create(KEY_A));
    for (let i = 0; i < RATCHET_WINDOW; i++) await sendKeys.ratchet();
    assert.deepEqual(await r.dec.decrypt('vp8', await sender.encrypt('vp8', DELTA)), DELTA);
    assert.deepEqual(r.reports, []);
    for (let i = 0; i < RATCHET_WINDOW + 1; i++) await sendKeys.ratchet();
    assert.equal(await r.dec.decrypt('vp8', await sender.encrypt('vp8', DELTA)), null);
    assert.equal(r.reports[0][0], NO_KEY);
  });

  test('after a rotation the previous key still decrypts, until enough newer keys push it out', async () => {
    const oldSender = new FrameEncryptor(await KeyRing.create(KEY_A));
    const recvKeys = await KeyRing.create(KEY_A);
    const r = receiver(recvKeys);
    await recvKeys.setKey(KEY_B);
    assert.deepEqual(await r.dec.decrypt('vp8', await oldSender.encrypt('vp8', DELTA)), DELTA);
    for (let i = 0; i < MAX_GENERATIONS; i++) await recvKeys.setKey(new Uint8Array(32).fill(i));
    assert.equal(await r.dec.decrypt('vp8', await oldSender.encrypt('vp8', DELTA)), null);
  });

  test('a failing stream reports again after the interval; clear and altered frames have their reasons', async () => {
    const sender = new FrameEncryptor(await KeyRing.create(KEY_A));
    const r = receiver(await KeyRing.create(KEY_A));
    assert.equal(await r.dec.decrypt('vp8', new Uint8Array([0xb1, 0x04])), null);
    assert.equal(r.reports[0][0], MALFORMED);
    const altered = await sender.encrypt('vp8', DELTA);
    altered[altered.length - 1] ^= 1;
    await r.dec.decrypt('vp8', altered);
    assert.equal(r.reports.length, 1);
    r.clock.now = ERROR_INTERVAL_MS;
    await r.dec.decrypt('vp8', altered);
    assert.deepEqual(r.reports.map(([reason]) => reason), [MALFORMED, AUTH_FAILED]);
  });
});

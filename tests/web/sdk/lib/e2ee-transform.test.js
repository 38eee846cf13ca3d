// The per-frame transform of the E2EE worker (src/relayroom/web/sdk/lib/e2ee-transform.js), with fake
// encoded frames: what is encrypted, what is dropped, and which codec rules apply.
import assert from 'node:assert/strict';
import {webcrypto} from 'node:crypto';
import {describe, test} from 'node:test';

if (!globalThis.crypto) globalThis.crypto = webcrypto;

const {frameCodec, frameTransform, UNSUPPORTED_CODEC} = await import('../../../../src/relayroom/web/sdk/lib/e2ee-transform.js');
const {KeyRing} = await import('../../../../src/relayroom/web/sdk/lib/e2ee-keys.js');

/** An RTCEncodedVideoFrame/AudioFrame look-alike. */
function frame(bytes, mimeType) {
  return {data: new Uint8Array(bytes).buffer, getMetadata: () => (mimeType ? {mimeType} : {})};
}

async function run(transform, frames) {
  const out = [];
  const writer = transform.writable.getWriter();
  const reader = transform.readable.getReader();
  const reading = (async () => {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      out.push(value);
    }
  })();
  for (const f of frames) await writer.write(f);
  await writer.close();
  await reading;
  return out;
}

const DELTA = [0xb1, 0x04, 0x00, ...Array(40).keys()];

describe('E2EE frame transform', () => {
  test('the codec comes from the frame\'s metadata, else from its kind', () => {
    assert.equal(frameCodec(frame([], 'video/VP8'), 'video'), 'vp8');
    assert.equal(frameCodec(frame([], 'video/H264'), 'video'), 'other');
    assert.equal(frameCodec(frame([]), 'audio'), 'opus');
    assert.equal(frameCodec({data: new ArrayBuffer(0)}, 'video'), 'vp8');
  });

  test('a sender\'s frames come out encrypted and a receiver with the key gets them back', async () => {
    const keys = await KeyRing.create(new Uint8Array(32).fill(7));
    const reports = [];
    const report = (reason) => reports.push(reason);
    const sent = await run(frameTransform({side: 'send', kind: 'video', keys: async () => keys, report}),
      [frame(DELTA, 'video/VP8'), frame(DELTA, 'video/VP8')]);
    assert.equal(sent.length, 2);
    assert.notDeepEqual([...new Uint8Array(sent[0].data)], DELTA);
    assert.deepEqual([...new Uint8Array(sent[0].data).subarray(0, 3)], DELTA.slice(0, 3));
    const got = await run(frameTransform({side: 'receive', kind: 'video', keys: async () => keys, report}), sent);
    assert.deepEqual(got.map((f) => [...new Uint8Array(f.data)]), [DELTA, DELTA]);
    assert.deepEqual(reports, []);
  });

  test('frames that do not decrypt, clear frames and unsupported codecs are dropped, not passed on', async () => {
    const reports = [];
    const report = (reason) => reports.push(reason);
    const mine = await KeyRing.create(new Uint8Array(32).fill(7));
    const theirs = await KeyRing.create(new Uint8Array(32).fill(8));
    const sent = await run(frameTransform({side: 'send', kind: 'video', keys: async () => theirs, report}),
      [frame(DELTA, 'video/VP8')]);
    const got = await run(frameTransform({side: 'receive', kind: 'video', keys: async () => mine, report}),
      [...sent, frame(DELTA, 'video/VP8')]);
    assert.deepEqual(got, []);
    assert.deepEqual(reports, ['no-key']);
    const h264 = await run(frameTransform({side: 'send', kind: 'video', keys: async () => mine, report}),
      [frame([0, 0, 0, 1, 0x65, 1, 2, 3], 'video/H264'), frame([0, 0, 0, 1, 0x41, 1], 'video/H264')]);
    assert.deepEqual(h264, []);
    assert.deepEqual(reports, ['no-key', UNSUPPORTED_CODEC]);
    const tooShort = await run(frameTransform({side: 'send', kind: 'video', keys: async () => mine, report}),
      [frame([0x50, 0x42], 'video/VP8')]);
    assert.deepEqual(tooShort, []); // a key frame cut inside its header is never sent in the clear
  });
});

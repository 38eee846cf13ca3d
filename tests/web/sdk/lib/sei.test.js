// SEI NAL units (src/relayroom/web/sdk/lib/sei.js) and the frame pipeline's order of stages
// (frame-transform.js): building and parsing with emulation prevention, insertion before the first
// slice, extraction, the queue, sendSEIMessage's parameter rules, and SEI inside encryption.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {buildStages, frameCodecName, pipelineTransform} from '../../../../src/relayroom/web/sdk/lib/frame-transform.js';
import {
  MAX_SEI_PER_FRAME, MAX_SEI_QUEUE, SeiQueue, addEmulationPrevention, buildSeiNal, extractSei, insertSei, nalUnits,
  parseSeiNal, removeEmulationPrevention, seiSendStage, validateSeiMessage,
} from '../../../../src/relayroom/web/sdk/lib/sei.js';

const bytes = (...b) => Uint8Array.from(b);
const SPS = [0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0xda];
const PPS = [0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];
const IDR = [0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33];
const KEY_FRAME = Uint8Array.from([...SPS, ...PPS, ...IDR]);
const DELTA_FRAME = Uint8Array.from([0, 0, 0, 1, 0x41, 0x9a, 0x02]);

describe('emulation prevention (H.264 §7.4.1)', () => {
  test('a 03 goes after every 00 00 that precedes 00, 01, 02 or 03, and comes out again', () => {
    const rbsp = bytes(0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0);
    const nal = addEmulationPrevention(rbsp);
    assert.deepEqual([...nal], [0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 2, 0, 0, 3, 3, 0, 0, 4, 0, 0]);
    for (let i = 0; i + 2 < nal.length; i++) {
      assert.ok(!(nal[i] === 0 && nal[i + 1] === 0 && nal[i + 2] <= 2), `no start code emulation at ${i}`);
    }
    assert.deepEqual([...removeEmulationPrevention(nal)], [...rbsp]);
  });

  test('round trip over every pair of bytes after 00 00', () => {
    for (let a = 0; a < 6; a++) {
      for (let b = 0; b < 6; b++) {
        const rbsp = bytes(0, 0, a, 0, 0, b, 0);
        assert.deepEqual([...removeEmulationPrevention(addEmulationPrevention(rbsp))], [...rbsp]);
      }
    }
  });
});

describe('SEI NAL units', () => {
  test('an SEI NAL: start code, header 6, ff-coded type and size, payload, trailing bits', () => {
    const nal = buildSeiNal(243, bytes(1, 2, 3));
    assert.deepEqual([...nal], [0, 0, 0, 1, 6, 243, 3, 1, 2, 3, 0x80]);
  });

  test('sizes of 255 and more are ff-coded; payloads full of zeros survive', () => {
    const payload = new Uint8Array(600); // zeros: many emulation prevention bytes
    payload[599] = 1;
    const nal = buildSeiNal(243, payload);
    assert.deepEqual([...nal.subarray(5, 9)], [243, 255, 255, 90]); // 600 = 255 + 255 + 90
    const [msg] = parseSeiNal(nal.subarray(4));
    assert.equal(msg.payloadType, 243);
    assert.deepEqual([...msg.payload], [...payload]);
    assert.deepEqual([...parseSeiNal(buildSeiNal(300, bytes(9)).subarray(4))[0].payload], [9]);
    assert.equal(parseSeiNal(buildSeiNal(300, bytes(9)).subarray(4))[0].payloadType, 300);
  });

  test('a truncated message is not read; two messages in one NAL both are', () => {
    const nal = buildSeiNal(5, new Uint8Array(20).fill(7));
    assert.deepEqual(parseSeiNal(nal.subarray(4, nal.length - 5)), []);
    const two = bytes(6, 243, 1, 0xaa, 5, 2, 0xbb, 0xcc, 0x80);
    assert.deepEqual(parseSeiNal(two).map((m) => [m.payloadType, [...m.payload]]), [[243, [0xaa]], [5, [0xbb, 0xcc]]]);
  });

  test('NAL units are found after 3- and 4-byte start codes', () => {
    assert.deepEqual(nalUnits(KEY_FRAME).map((u) => [u.type, u.start]), [[7, 0], [8, 9], [5, 17]]);
    assert.deepEqual(nalUnits(bytes(1, 2, 3)), []);
  });
});

describe('inserting and extracting', () => {
  test('messages go before the first slice (after SPS and PPS) and come out in order', () => {
    const out = insertSei(KEY_FRAME, [{payloadType: 243, payload: bytes(1, 0, 0, 1)}, {payloadType: 5, payload: new Uint8Array(17)}]);
    assert.deepEqual(nalUnits(out).map((u) => u.type), [7, 8, 6, 6, 5]);
    assert.deepEqual([...out.subarray(out.length - IDR.length)], IDR);
    assert.deepEqual(extractSei(out).map((m) => [m.payloadType, m.payload.length]), [[243, 4], [5, 17]]);
    assert.deepEqual([...extractSei(out)[0].payload], [1, 0, 0, 1]);
  });

  test('a frame without a slice is left alone; other SEI payload types are not reported', () => {
    const noSlice = Uint8Array.from(SPS);
    assert.equal(insertSei(noSlice, [{payloadType: 243, payload: bytes(1)}]), noSlice);
    const foreign = insertSei(DELTA_FRAME, [{payloadType: 1, payload: bytes(1)}]); // pic timing: the encoder's
    assert.deepEqual(extractSei(foreign), []);
  });

  test('the send stage takes at most 8 messages a frame; a frame without a slice keeps them queued', () => {
    const q = new SeiQueue();
    for (let i = 0; i < 10; i++) q.push({payloadType: 243, payload: bytes(i)});
    const stage = seiSendStage(q);
    const sps = {data: Uint8Array.from(SPS).buffer};
    stage(sps, 'h264');
    assert.equal(q.length, 10);
    const frame = {data: DELTA_FRAME.slice().buffer};
    stage(frame, 'h264');
    assert.equal(extractSei(new Uint8Array(frame.data)).length, MAX_SEI_PER_FRAME);
    assert.equal(q.length, 10 - MAX_SEI_PER_FRAME);
    const vp8 = {data: bytes(0x10, 0x02).buffer};
    stage(vp8, 'vp8'); // not H.264: untouched, nothing taken
    assert.equal(q.length, 2);
    for (let i = 0; i < MAX_SEI_QUEUE + 5; i++) q.push({payloadType: 243, payload: bytes(i)});
    assert.equal(q.length, MAX_SEI_QUEUE);
    assert.ok(q.dropped > 0);
  });
});

describe('sendSEIMessage parameters (TRTC\'s rules)', () => {
  const code = (fn) => {
    try {
      fn();
      return 'ok';
    } catch (e) {
      return [e.code, e.extraCode];
    }
  };

  test('an ArrayBuffer of 1..1000 bytes, payload type 243 (default) or 5 with its UUID, toSubStream boolean', () => {
    assert.deepEqual(validateSeiMessage(new ArrayBuffer(3), undefined).payloadType, 243);
    assert.equal(validateSeiMessage(new ArrayBuffer(17), {seiPayloadType: 5}).payloadType, 5);
    assert.equal(validateSeiMessage(new ArrayBuffer(1000), {toSubStream: true}).toSubStream, true);
    assert.deepEqual(code(() => validateSeiMessage(new ArrayBuffer(0))), [5000, 5017]);
    assert.deepEqual(code(() => validateSeiMessage(new ArrayBuffer(1001))), [5000, 5018]);
    assert.deepEqual(code(() => validateSeiMessage('text')), [5000, 0]);
    assert.deepEqual(code(() => validateSeiMessage(new ArrayBuffer(4), {seiPayloadType: 100})), [5000, 0]);
    assert.deepEqual(code(() => validateSeiMessage(new ArrayBuffer(16), {seiPayloadType: 5})), [5000, 0]);
    assert.deepEqual(code(() => validateSeiMessage(new ArrayBuffer(4), {toSubStream: 1})), [5000, 0]);
  });
});

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

describe('the frame pipeline', () => {
  test('the codec comes from the metadata, else Annex B means H.264', () => {
    assert.equal(frameCodecName({data: new ArrayBuffer(1), getMetadata: () => ({mimeType: 'video/H264'})}, 'video'), 'h264');
    assert.equal(frameCodecName({data: DELTA_FRAME.slice().buffer}, 'video'), 'h264');
    assert.equal(frameCodecName({data: bytes(0x10, 2, 3, 4).buffer}, 'video'), 'vp8');
    assert.equal(frameCodecName({data: new ArrayBuffer(3)}, 'audio'), 'opus');
  });

  test('a sender inserts SEI before encrypting; a receiver decrypts before reading SEI', async () => {
    // a stand-in for the E2EE stage: xor every byte (the real one drops H.264, see docs/browser-sdk.md)
    const xor = (frame) => {
      frame.data = new Uint8Array(frame.data).map((b) => b ^ 0x5a).buffer;
      return true;
    };
    const queue = new SeiQueue();
    queue.push({payloadType: 243, payload: bytes(0, 0, 1, 7)});
    const sendStages = buildStages({side: 'send', kind: 'video', slot: 'video', e2ee: false, sei: true},
      {seiQueue: () => queue});
    const sent = await run(pipelineTransform([...sendStages, xor], 'video'), [{data: DELTA_FRAME.slice().buffer}]);
    assert.deepEqual(extractSei(new Uint8Array(sent[0].data)), []); // nothing readable on the wire
    const got = [];
    const recvStages = buildStages({side: 'receive', kind: 'video', e2ee: false, sei: true},
      {onSei: (m) => got.push(m)});
    const out = await run(pipelineTransform([xor, ...recvStages], 'video'), sent);
    assert.deepEqual(got.map((m) => [m.payloadType, [...new Uint8Array(m.data)]]), [[243, [0, 0, 1, 7]]]);
    assert.equal(out.length, 1);
  });

  test('buildStages orders the real stages: send [sei, e2ee], receive [e2ee, sei]; audio gets no SEI', () => {
    const ctx = {keys: async () => null, report: () => {}, seiQueue: () => new SeiQueue(), onSei: () => {}};
    assert.equal(buildStages({side: 'send', kind: 'video', slot: 'video', e2ee: true, sei: true}, ctx).length, 2);
    assert.equal(buildStages({side: 'send', kind: 'audio', slot: 'audio', e2ee: true, sei: true}, ctx).length, 1);
    assert.equal(buildStages({side: 'receive', kind: 'video', e2ee: false, sei: false}, ctx).length, 0);
    const [first] = buildStages({side: 'send', kind: 'video', slot: 'video', e2ee: true, sei: true}, ctx);
    const frame = {data: DELTA_FRAME.slice().buffer};
    const q = new SeiQueue();
    q.push({payloadType: 243, payload: bytes(1)});
    const [seiFirst] = buildStages({side: 'send', kind: 'video', slot: 'video', e2ee: true, sei: true},
      {...ctx, seiQueue: () => q});
    seiFirst(frame, 'h264');
    assert.equal(extractSei(new Uint8Array(frame.data)).length, 1, 'the first send stage is SEI');
    void first;
  });

  test('a stage that throws drops the frame instead of passing it on half-done', async () => {
    const out = await run(pipelineTransform([() => { throw new Error('boom'); }], 'video'), [{data: new ArrayBuffer(2)}]);
    assert.deepEqual(out, []);
  });
});

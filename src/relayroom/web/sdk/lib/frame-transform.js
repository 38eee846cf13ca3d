// The frame pipeline: one encoded-frame transform per sender and per receiver, running the stages the
// sender or receiver needs in order. On a sender SEI insertion comes before encryption, on a receiver
// decryption comes before SEI extraction, so SEI messages travel inside the encrypted frame. The same
// code runs in the transform worker (RTCRtpScriptTransform, or encoded streams handed over by the page)
// and in the page when no worker can be started. A stage is `(frame, codec) => boolean | Promise<boolean>`
// (false drops the frame); the stages are e2ee-transform.js's and sei.js's.

import {e2eeStage} from './e2ee-transform.js';
import {seiReceiveStage, seiSendStage} from './sei.js';

/** The frame's codec name in lower case ('h264', 'vp8', 'opus', ...): its metadata's MIME type; without
 *  one, Opus for audio, and for video H.264 when the frame is Annex B (a start code first), else VP8. */
export function frameCodecName(frame, kind) {
  let mimeType;
  try {
    mimeType = frame.getMetadata().mimeType;
  } catch {
    mimeType = undefined;
  }
  if (mimeType) return String(mimeType).toLowerCase().split('/').pop();
  if (kind === 'audio') return 'opus';
  const d = new Uint8Array(frame.data, 0, Math.min(4, frame.data.byteLength));
  const annexB = d.length >= 3 && d[0] === 0 && d[1] === 0 && (d[2] === 1 || (d[2] === 0 && d[3] === 1));
  return annexB ? 'h264' : 'vp8';
}

/**
 * The stages of one transform. `options`: {side: 'send' | 'receive', kind, slot (senders: 'video' |
 * 'screen'), e2ee: bool, sei: bool}. `ctx`: keys() (a Promise of the E2EE KeyRing), report(reason,
 * message) (E2EE trouble), seiQueue(slot) (a sender's waiting SEI messages), onSei({payloadType, data})
 * (a message read on this receiver).
 */
export function buildStages(options, ctx) {
  const {side, kind, slot, e2ee, sei} = options;
  const crypt = e2ee ? e2eeStage({side, kind, keys: ctx.keys, report: ctx.report}) : null;
  const seiStage = sei && kind === 'video'
    ? (side === 'send' ? seiSendStage(ctx.seiQueue(slot)) : seiReceiveStage(ctx.onSei))
    : null;
  const ordered = side === 'send' ? [seiStage, crypt] : [crypt, seiStage];
  return ordered.filter(Boolean);
}

/** A TransformStream running `stages` on each frame of `kind`; a frame a stage refuses is dropped. */
export function pipelineTransform(stages, kind) {
  return new TransformStream({
    async transform(frame, controller) {
      for (const stage of stages) {
        let keep;
        try {
          // per stage: without metadata the codec is read from the bytes, which decryption changes
          keep = await stage(frame, frameCodecName(frame, kind));
        } catch {
          keep = false; // a stage that fails on a frame never lets it through half-done
        }
        if (!keep) return;
      }
      controller.enqueue(frame);
    },
  });
}

/** Pipe `readable` through the stages into `writable` until either ends. */
export function runPipeline(readable, writable, stages, kind) {
  readable.pipeThrough(pipelineTransform(stages, kind)).pipeTo(writable).catch(() => {});
}

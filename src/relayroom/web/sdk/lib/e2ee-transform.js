// The encoded-frame transform of one sender or receiver: encrypt (send) or decrypt (receive) each frame.
// The same code runs in the E2EE worker (RTCRtpScriptTransform, or streams handed over by the page) and,
// when no worker can be started, in the page (createEncodedStreams). docs/e2ee.md.

import {codecOf} from './sframe.js';
import {FrameDecryptor, FrameEncryptor} from './e2ee-keys.js';

export const UNSUPPORTED_CODEC = 'unsupported-codec';

/** The frame's codec: its metadata's MIME type, else the SFU's choice for the kind (Opus, VP8). */
export function frameCodec(frame, kind) {
  let mimeType;
  try {
    mimeType = frame.getMetadata().mimeType;
  } catch {
    mimeType = undefined;
  }
  if (!mimeType) return kind === 'audio' ? 'opus' : 'vp8';
  return codecOf(mimeType);
}

/**
 * A TransformStream for one sender (`side: 'send'`) or receiver (`'receive'`) of `kind`.
 * keys(): a Promise of the member's KeyRing (resolved once the first key is set);
 * report(reason, message): a receiver's frames stopped decrypting (rate-limited by FrameDecryptor), or
 * a sender's codec cannot be encrypted. A frame that cannot be encrypted or decrypted is dropped: nothing
 * leaves in the clear, and no garbage reaches the decoder.
 */
export function frameTransform({side, kind, keys, report}) {
  let crypt = null;
  let warned = false;
  return new TransformStream({
    async transform(frame, controller) {
      const codec = frameCodec(frame, kind);
      if (codec === 'other') {
        if (!warned) report(UNSUPPORTED_CODEC, `${kind} frames of this codec are not end-to-end encrypted; dropped`);
        warned = true;
        return;
      }
      if (!crypt) {
        const ring = await keys();
        crypt = side === 'send' ? new FrameEncryptor(ring) : new FrameDecryptor(ring, report);
      }
      let out;
      try {
        const data = new Uint8Array(frame.data);
        out = side === 'send' ? await crypt.encrypt(codec, data) : await crypt.decrypt(codec, data);
      } catch {
        out = null; // e.g. a frame shorter than its codec header: never sent in the clear
      }
      if (out === null) return;
      frame.data = out.buffer;
      controller.enqueue(frame);
    },
  });
}

/** Pipe `readable` through the transform into `writable` until either ends. */
export function runTransform(readable, writable, options) {
  readable.pipeThrough(frameTransform(options)).pipeTo(writable).catch(() => {});
}

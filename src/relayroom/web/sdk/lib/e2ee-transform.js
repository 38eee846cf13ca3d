// End-to-end encryption of encoded frames: encrypt (send) or decrypt (receive) each frame, as a stage of
// the frame pipeline (frame-transform.js), which runs in the transform worker or, when no worker can be
// started, in the page. docs/e2ee.md.

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
 * The frame pipeline's E2EE stage (frame-transform.js) for one sender (`side: 'send'`) or receiver
 * (`'receive'`) of `kind`: `(frame) => Promise<boolean>`, encrypting or decrypting the frame in place.
 * keys(): a Promise of the member's KeyRing (resolved once the first key is set);
 * report(reason, message): a receiver's frames stopped decrypting (rate-limited by FrameDecryptor), or
 * a sender's codec cannot be encrypted. A frame that cannot be encrypted or decrypted is refused
 * (false): nothing leaves in the clear, and no garbage reaches the decoder.
 */
export function e2eeStage({side, kind, keys, report}) {
  let crypt = null;
  let warned = false;
  return async (frame) => {
    const codec = frameCodec(frame, kind);
    if (codec === 'other') {
      if (!warned) report(UNSUPPORTED_CODEC, `${kind} frames of this codec are not end-to-end encrypted; dropped`);
      warned = true;
      return false;
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
    if (out === null) return false;
    frame.data = out.buffer;
    return true;
  };
}

/** A TransformStream with only the E2EE stage (the pipeline's TransformStream, for one stage). */
export function frameTransform(options) {
  const stage = e2eeStage(options);
  return new TransformStream({
    async transform(frame, controller) {
      if (await stage(frame)) controller.enqueue(frame);
    },
  });
}

// The receive transport: one RTCPeerConnection on which the server offers every stream we receive and
// we answer. Remote tracks are labelled from the offer's stream table (mid -> user, kind, stream type),
// not from `ontrack` (docs/decisions/0006 §6).

import {ERROR_CODE, EXTRA_CODE, keyOf} from './constants.js';
import {RtcError} from './errors.js';
import {log} from './log.js';

/** The offer's `streams` as Map(mid -> {userId, kind, streamType, producerId}). */
export function streamTable(streams) {
  const table = new Map();
  for (const s of streams || []) {
    if (s.mid !== null && s.mid !== undefined) {
      table.set(String(s.mid), {userId: String(s.userId), kind: s.kind, streamType: s.streamType || 'main',
        producerId: s.producerId});
    }
  }
  return table;
}

/** The transceivers the table names, as Map(key -> {track, receiver, mid, userId, kind, streamType, producerId}). */
export function labelTracks(transceivers, table) {
  const tracks = new Map();
  for (const tr of transceivers) {
    const s = tr.mid !== null ? table.get(tr.mid) : undefined;
    if (!s) continue;
    tracks.set(keyOf(s.userId, s.kind, s.streamType), {track: tr.receiver.track, receiver: tr.receiver, mid: tr.mid, ...s});
  }
  return tracks;
}

export class RecvTransport {
  /**
   * createPeerConnection(); request(type, data, functionName); isCurrent(generation): the membership the
   * offer was for is still ours; onTracks(next, previous): the labelled tracks changed;
   * onError(RtcError): an offer could not be applied; protect(receiver, kind, mid): end-to-end
   * encryption for a new receiver, before the answer lets media flow (a no-op outside E2EE rooms).
   */
  constructor({createPeerConnection, request, isCurrent, onTracks, onError, protect = () => {}}) {
    this._protect = protect;
    this._protected = new WeakSet();
    this._createPeerConnection = createPeerConnection;
    this._request = request;
    this._isCurrent = isCurrent;
    this._onTracks = onTracks;
    this._onError = onError;
    this._pc = null;
    this._tracks = new Map();
    this._chain = Promise.resolve();
    this._answered = null; // {generation, negotiationId, sdp} of the last answer sent
  }

  get pc() {
    return this._pc;
  }

  /** The labelled remote tracks: Map(key -> entry). */
  get tracks() {
    return this._tracks;
  }

  /** A server offer for the membership of `generation`: applied in order, one at a time. */
  receive(offer, generation) {
    this._chain = this._chain.then(() => this._apply(offer, generation)).catch((e) => {
      if (!this._isCurrent(generation)) return;
      // The socket closed before the answer went out: after `resume` the server sends the offer again.
      if (e instanceof RtcError && (e.code === ERROR_CODE.OPERATION_ABORT || e.extraCode === EXTRA_CODE.NOT_IN_ROOM)) return;
      // 5100: no offer with this negotiationId waits any more (the server had our answer to a repeated offer).
      if (e instanceof RtcError && e.code === ERROR_CODE.INVALID_OPERATION) return;
      log.warn('could not apply the server offer:', e && e.message);
      this._onError(new RtcError({code: ERROR_CODE.OPERATION_FAILED, message: 'could not apply the server offer',
        functionName: 'subscribe'}));
    });
  }

  /** Close the connection and forget its tracks and queued offers. */
  teardown() {
    if (this._pc) this._pc.close();
    this._pc = null;
    this._tracks = new Map();
    this._chain = Promise.resolve();
    this._answered = null;
  }

  async _apply(offer, generation) {
    if (!this._isCurrent(generation)) return;
    // The server sends an unanswered offer again (same negotiationId) until it has the answer
    // (docs/signalling.md §2.2): answer it again without renegotiating; an older one is stale.
    const last = this._answered;
    if (last && last.generation === generation) {
      if (offer.negotiationId === last.negotiationId) {
        await this._request('answer', {negotiationId: last.negotiationId, sdp: last.sdp}, 'subscribe');
        return;
      }
      if (offer.negotiationId < last.negotiationId) return;
    }
    if (!this._pc) this._pc = this._createPeerConnection();
    const pc = this._pc;
    const table = streamTable(offer.streams);
    await pc.setRemoteDescription({type: 'offer', sdp: offer.sdp});
    for (const tr of pc.getTransceivers()) {
      if (tr.mid === null || this._protected.has(tr.receiver)) continue;
      this._protected.add(tr.receiver);
      this._protect(tr.receiver, tr.receiver.track.kind, tr.mid);
    }
    await pc.setLocalDescription(await pc.createAnswer());
    if (!this._isCurrent(generation) || pc !== this._pc) return;
    const previous = this._tracks;
    this._tracks = labelTracks(pc.getTransceivers(), table);
    this._onTracks(this._tracks, previous);
    this._answered = {generation, negotiationId: offer.negotiationId, sdp: pc.localDescription.sdp};
    await this._request('answer', {negotiationId: offer.negotiationId, sdp: pc.localDescription.sdp}, 'subscribe');
  }
}

// The send transport: one RTCPeerConnection per membership, with one transceiver per local slot
// (microphone, camera, screen), kept for the whole membership (docs/decisions/0006 §5). We offer, the
// server answers (`publish`). Publishes run one at a time and converge the connection on the local
// tracks that should be published.

import {EVENT, ERROR_CODE, SLOTS, slotKind, slotOf, slotStreamType} from './constants.js';
import {RtcError} from './errors.js';
import {log} from './log.js';

/** The `tracks` of a publish request: one per sending transceiver that has a mid. */
export function publishTracks(senders) {
  const tracks = [];
  for (const slot of SLOTS) {
    const tr = senders[slot];
    if (tr && tr.direction === 'sendonly' && tr.mid !== null) {
      tracks.push({kind: slotKind(slot), streamType: slotStreamType(slot), mid: tr.mid});
    }
  }
  return tracks;
}

/** Codec preferences that send H.264 (packetization-mode 1, constrained baseline first, the SFU's choice
 *  too) with its retransmissions, from RTCRtpSender.getCapabilities('video').codecs; null when the
 *  browser cannot encode H.264. */
export function h264Preferences(codecs = globalThis.RTCRtpSender && RTCRtpSender.getCapabilities('video').codecs) {
  const h264 = (codecs || []).filter((c) => c.mimeType.toLowerCase() === 'video/h264' &&
    /packetization-mode=1/.test(c.sdpFmtpLine || ''));
  if (!h264.length) return null;
  const baseline = (c) => (/profile-level-id=42e0/i.test(c.sdpFmtpLine || '') ? 0 : 1);
  h264.sort((a, b) => baseline(a) - baseline(b));
  return [...h264, ...codecs.filter((c) => c.mimeType.toLowerCase() === 'video/rtx')];
}

/** The small stream's encoding parameters next to the big `profile` (RFC 8853 simulcast, lowest first). */
export function smallEncoding(profile, small) {
  return {scaleResolutionDownBy: Math.max(1, profile.width / small.width), maxBitrate: small.bitrate * 1000,
    maxFramerate: small.frameRate};
}

function encodingCount(tr) {
  const params = tr.sender.getParameters();
  return params.encodings && params.encodings.length > 1 ? params.encodings.length : 1;
}

/** publish-state-changed events between two sets of published slots, in slot order. */
export function publishChanges(before, after) {
  const changes = [];
  for (const slot of SLOTS) {
    if (after.has(slot) !== before.has(slot)) changes.push({mediaType: slot, state: after.has(slot) ? 'started' : 'stopped'});
  }
  return changes;
}

export class SendTransport {
  /**
   * createPeerConnection(); request(type, data, functionName); emit(event, data);
   * local(slot): the local stream record {track, publish, mute, profile} or null;
   * canPublish(force): whether publishing may run now (in the room, connected, an anchor, and not
   * recovering unless `force`); generation(): bumped on every (re)entry, so stale work stops;
   * protect(sender, kind, slot): the frame pipeline for a new sender (E2EE, SEI; else a no-op);
   * codecs(kind): codec preferences for a new transceiver of `kind` (null: the browser's).
   */
  constructor({createPeerConnection, request, emit, local, canPublish, generation, protect = () => {},
    codecs = () => null}) {
    this._protect = protect;
    this._codecs = codecs;
    this._createPeerConnection = createPeerConnection;
    this._request = request;
    this._emit = emit;
    this._local = local;
    this._canPublish = canPublish;
    this._generation = generation;
    this._pc = null;
    this._senders = {audio: null, video: null, screen: null}; // RTCRtpTransceiver per slot
    this._published = new Set();
    this._chain = Promise.resolve();
  }

  get pc() {
    return this._pc;
  }

  isPublished(slot) {
    return this._published.has(slot);
  }

  sender(slot) {
    const tr = this._senders[slot];
    return tr ? tr.sender : null;
  }

  /** The mid of the screen's transceiver (to tell sub-stream statistics from the camera's). */
  get screenMid() {
    return this._senders.screen ? this._senders.screen.mid : null;
  }

  /** Converge the connection on the local tracks that should be published (serialised). */
  sync(force = false) {
    const run = this._chain.then(() => this._sync(force));
    this._chain = run.catch(() => {});
    return run;
  }

  /** A device switch: the slot's sender sends `track` (no renegotiation). */
  async replaceTrack(slot, track) {
    const tr = this._senders[slot];
    if (tr) await tr.sender.replaceTrack(track);
  }

  /** The server unpublished everything (audience): keep the connection, send nothing on it. Closing it
   *  would look like a lost transport to the server. */
  async stopSending() {
    for (const tr of Object.values(this._senders)) if (tr) await tr.sender.replaceTrack(null);
    for (const slot of this._published) this._emit(EVENT.PUBLISH_STATE_CHANGED, {mediaType: slot, state: 'stopped'});
    this._published.clear();
  }

  /** Tell the server a published track is (un)muted; a track not published yet gets it when published. */
  async sendMute(slot, muted) {
    if (!this._published.has(slot) || !this._canPublish(true)) return;
    const kind = slotKind(slot);
    try {
      await this._request('mute', {kind, muted, streamType: slotStreamType(slot)},
        kind === 'audio' ? 'updateLocalAudio' : 'updateLocalVideo');
    } catch (e) {
      if (!(e instanceof RtcError && e.code === ERROR_CODE.INVALID_OPERATION)) throw e;
    }
  }

  /** The slot's profile as the sender's encoding limits (bitrate, frame rate); with a small stream the
   *  lower encoding gets the small profile's. */
  async applyEncoding(slot) {
    const tr = this._senders[slot];
    const local = this._local(slot);
    if (!tr || !local || !local.profile) return;
    try {
      const params = tr.sender.getParameters();
      if (!params.encodings || params.encodings.length === 0) return;
      const top = params.encodings[params.encodings.length - 1];
      top.maxBitrate = local.profile.bitrate * 1000;
      top.maxFramerate = local.profile.frameRate;
      if (params.encodings.length > 1 && local.small) {
        Object.assign(params.encodings[0], smallEncoding(local.profile, local.small));
      }
      await tr.sender.setParameters(params);
    } catch (e) {
      log.debug('setParameters failed', e && e.message);
    }
  }

  /** Close the connection; what was published is reported stopped. */
  close() {
    if (this._pc) this._pc.close();
    this._pc = null;
    this._senders = {audio: null, video: null, screen: null};
    for (const slot of this._published) this._emit(EVENT.PUBLISH_STATE_CHANGED, {mediaType: slot, state: 'stopped'});
    this._published.clear();
  }

  /** Close, and forget the publishes still queued (the membership they were for is gone). */
  teardown() {
    this.close();
    this._chain = Promise.resolve();
  }

  async _sync(force) {
    if (!this._canPublish(force)) return;
    const generation = this._generation();
    const want = {};
    for (const slot of SLOTS) {
      const local = this._local(slot);
      want[slot] = local && local.publish ? local : null;
    }
    if (!this._pc && !want.audio && !want.video && !want.screen) return;
    if (!this._pc) this._pc = this._createPeerConnection();
    const pc = this._pc;
    let changed = await this._updateTransceivers(pc, want);
    for (const slot of SLOTS) {
      if (want[slot] && !this._published.has(slot)) changed = true; // e.g. back from audience
    }
    if (!changed && pc.currentRemoteDescription) return;
    await pc.setLocalDescription(await pc.createOffer());
    const tracks = publishTracks(this._senders);
    let res;
    try {
      res = await this._request('publish', {sdp: pc.localDescription.sdp, tracks}, 'publish');
    } catch (e) {
      if (generation === this._generation() && this._pc === pc) await this._abandonOffer(pc);
      throw e;
    }
    if (generation !== this._generation() || this._pc !== pc) return;
    await pc.setRemoteDescription({type: 'answer', sdp: res.sdp});
    const before = this._published;
    this._published = new Set(tracks.map((t) => slotOf(t.kind, t.streamType)));
    for (const change of publishChanges(before, this._published)) this._emit(EVENT.PUBLISH_STATE_CHANGED, change);
    for (const slot of SLOTS) {
      // a new publication starts unmuted on the server
      const local = this._local(slot);
      if (this._published.has(slot) && !before.has(slot) && local && local.mute) await this.sendMute(slot, true);
    }
    await this.applyEncoding('video');
    await this.applyEncoding('screen');
  }

  /** Transceivers to match `want`: add or reuse (sendonly) for wanted slots, inactive for the others.
   *  Returns whether the session description has to change. */
  async _updateTransceivers(pc, want) {
    let changed = false;
    for (const slot of SLOTS) {
      const local = want[slot];
      let tr = this._senders[slot];
      if (tr && (tr.stopped || tr.currentDirection === 'stopped')) tr = this._senders[slot] = null;
      if (tr && local && encodingCount(tr) !== (local.small ? 2 : 1)) {
        // small stream switched on or off: a sender's encodings are fixed, so a new m-line replaces it
        // (the server continues the subscribers' streams from the new producer)
        tr.stop();
        tr = this._senders[slot] = null;
        changed = true;
      }
      if (local) {
        if (!tr) {
          const init = {direction: 'sendonly'};
          if (local.small) init.sendEncodings = [{rid: 's', ...smallEncoding(local.profile, local.small)}, {rid: 'b'}];
          const tr = pc.addTransceiver(local.track, init);
          this._senders[slot] = tr;
          const prefs = this._codecs(slotKind(slot));
          if (prefs && tr.setCodecPreferences) tr.setCodecPreferences(prefs);
          this._protect(tr.sender, slotKind(slot), slot);
          changed = true;
        } else {
          if (tr.sender.track !== local.track) await tr.sender.replaceTrack(local.track);
          if (tr.direction !== 'sendonly') {
            tr.direction = 'sendonly';
            changed = true;
          }
        }
      } else if (tr && tr.direction !== 'inactive') {
        tr.direction = 'inactive';
        await tr.sender.replaceTrack(null);
        changed = true;
      }
    }
    return changed;
  }

  /** A refused publish: keep an established connection (closing it would look like lost media to the
   *  server; the slots that did not get published are retried by the next sync), else close it. */
  async _abandonOffer(pc) {
    if (pc.currentRemoteDescription && pc.signalingState === 'have-local-offer') {
      try { await pc.setLocalDescription({type: 'rollback'}); } catch { this.close(); }
    } else {
      this.close();
    }
  }
}

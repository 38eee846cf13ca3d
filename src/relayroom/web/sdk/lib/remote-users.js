// The client's model of the room: who is there and which of their streams are available
// (docs/decisions/0006 §3). Server events, the enter response, the resume response and a re-entry all
// go through it, and it emits an event only when the model changes, so an application never sees a
// duplicate `remote-user-enter` or an `*-available` without its `*-unavailable` in between.

import {EVENT} from './constants.js';

export class RemoteUsers {
  /** emit(event, data); onSeen(userId): a user is (still) there; onGone(userId): a user left, before
   *  their `remote-user-exit` is emitted. */
  constructor({emit, onSeen, onGone}) {
    this._emit = emit;
    this._onSeen = onSeen;
    this._onGone = onGone;
    this._users = new Map(); // userId -> {streams: Map('kind|streamType' -> available)}
    this._pendingExits = new Map(); // userId -> timer: known users not (yet) back after a re-entry
  }

  has(userId) {
    return this._users.has(userId);
  }

  userIds() {
    return [...this._users.keys()];
  }

  isAvailable(userId, kind, streamType = 'main') {
    const user = this._users.get(userId);
    return !!(user && user.streams.get(`${kind}|${streamType}`));
  }

  /** RelayRoom.getRemoteUsers(): [{userId, streams: {'kind|streamType': available}}]. */
  list() {
    const out = [];
    for (const [userId, user] of this._users) out.push({userId, streams: Object.fromEntries(user.streams)});
    return out;
  }

  /** A user is in the room: `remote-user-enter` the first time. */
  seen(userId) {
    this._cancelExit(userId);
    if (!this._users.has(userId)) {
      this._users.set(userId, {streams: new Map()});
      this._emit(EVENT.REMOTE_USER_ENTER, {userId});
    }
    this._onSeen(userId);
  }

  /** A user left: their available streams become unavailable, then `remote-user-exit`. */
  gone(userId, reason) {
    this._cancelExit(userId);
    const user = this._users.get(userId);
    if (!user) return;
    for (const [k, available] of user.streams) {
      if (!available) continue;
      const [kind, streamType] = k.split('|');
      this.setStream(userId, kind, streamType, false);
    }
    this._users.delete(userId);
    this._onGone(userId);
    this._emit(EVENT.REMOTE_USER_EXIT, {userId, reason: typeof reason === 'number' ? reason : 0});
  }

  /** A stream became (un)available; an available stream of an unknown user makes the user known. */
  setStream(userId, kind, streamType, available, reason) {
    if (available && !this._users.has(userId)) this.seen(userId);
    const user = this._users.get(userId);
    if (!user) return;
    const k = `${kind}|${streamType}`;
    if ((user.streams.get(k) || false) === available) return;
    user.streams.set(k, available);
    const event = kind === 'audio'
      ? (available ? EVENT.REMOTE_AUDIO_AVAILABLE : EVENT.REMOTE_AUDIO_UNAVAILABLE)
      : (available ? EVENT.REMOTE_VIDEO_AVAILABLE : EVENT.REMOTE_VIDEO_UNAVAILABLE);
    const data = kind === 'audio' ? {userId} : {userId, streamType};
    if (reason) data.reason = reason;
    this._emit(event, data);
  }

  /** Bring the model in line with a member list (after enter/resume): new users enter, known users
   *  missing from it leave after `graceMs` unless they come back meanwhile. */
  reconcile(members, graceMs) {
    const present = new Set();
    for (const m of members || []) {
      const userId = String(m.userId);
      present.add(userId);
      this.seen(userId);
      const listed = new Set();
      for (const s of m.streams || []) {
        const st = s.streamType || 'main';
        listed.add(`${s.kind}|${st}`);
        this.setStream(userId, s.kind, st, !s.muted);
      }
      const user = this._users.get(userId);
      for (const [k, available] of user ? user.streams : []) {
        if (available && !listed.has(k)) {
          const [kind, st] = k.split('|');
          this.setStream(userId, kind, st, false);
        }
      }
    }
    for (const userId of [...this._users.keys()]) {
      if (present.has(userId) || this._pendingExits.has(userId)) continue;
      if (graceMs <= 0) {
        this.gone(userId, 0);
      } else {
        this._pendingExits.set(userId, setTimeout(() => {
          this._pendingExits.delete(userId);
          if (this._users.has(userId)) this.gone(userId, 1);
        }, graceMs));
      }
    }
  }

  /** Our media transports are gone: every remote stream is unavailable until it is offered again. */
  streamsLost() {
    for (const [userId, user] of this._users) {
      for (const [k, available] of user.streams) {
        if (!available) continue;
        const [kind, st] = k.split('|');
        this.setStream(userId, kind, st, false);
      }
    }
  }

  /** We left: forget everyone without per-user events (as trtc-sdk-v5). Returns the users forgotten. */
  clear() {
    const userIds = this.userIds();
    this._users.clear();
    for (const t of this._pendingExits.values()) clearTimeout(t);
    this._pendingExits.clear();
    return userIds;
  }

  _cancelExit(userId) {
    const timer = this._pendingExits.get(userId);
    if (timer) {
      clearTimeout(timer);
      this._pendingExits.delete(userId);
    }
  }
}

// The application's subscription wishes (startRemoteVideo, stopRemoteVideo, muteRemoteAudio): kept on
// the client and sent again when a user (re)appears or after a re-entry, because a new membership on the
// server starts with none.

import {EXTRA_CODE, keyOf} from './constants.js';
import {RtcError} from './errors.js';

export class Subscriptions {
  /** request(type, data, functionName); inSession(): in the room with the socket open; recovering(). */
  constructor({request, inSession, recovering}) {
    this._request = request;
    this._inSession = inSession;
    this._recovering = recovering;
    this._wanted = new Map(); // key -> bool
    this._small = new Map(); // key of a main video -> small stream wanted (bool)
  }

  /** Want (or not) `userId`'s stream; sent now when possible, else when the user or the session is back.
   *  `small` (main video): the small stream (true) or the big one (false); undefined keeps the choice. */
  async set(userId, kind, streamType, wanted, functionName, small = undefined) {
    const key = keyOf(userId, kind, streamType);
    this._wanted.set(key, wanted);
    if (small !== undefined) this._small.set(key, !!small);
    if (!this._inSession() || this._recovering()) return; // sent when the recovery is done
    try {
      await this._request(wanted ? 'subscribe' : 'unsubscribe', this._data(userId, kind, streamType, wanted),
        functionName);
    } catch (e) {
      if (e instanceof RtcError && e.extraCode === EXTRA_CODE.REMOTE_USER_MISSING) return; // sent when they enter
      throw e;
    }
  }

  /** Send every wish about `userId` again (best effort). */
  resend(userId) {
    if (!this._inSession()) return;
    for (const [key, wanted] of this._wanted) {
      const [uid, kind, streamType] = key.split('|');
      if (uid !== userId) continue;
      this._request(wanted ? 'subscribe' : 'unsubscribe', this._data(userId, kind, streamType, wanted),
        'subscribe').catch(() => {});
    }
  }

  _data(userId, kind, streamType, wanted) {
    const small = this._small.get(keyOf(userId, kind, streamType));
    return wanted && small !== undefined ? {userId, kind, streamType, small} : {userId, kind, streamType};
  }

  forgetUser(userId) {
    for (const k of [...this._wanted.keys()]) if (k.startsWith(`${userId}|`)) this._wanted.delete(k);
    for (const k of [...this._small.keys()]) if (k.startsWith(`${userId}|`)) this._small.delete(k);
  }

  clear() {
    this._wanted.clear();
    this._small.clear();
  }
}

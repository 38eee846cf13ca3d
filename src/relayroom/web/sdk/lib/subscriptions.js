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
  }

  /** Want (or not) `userId`'s stream; sent now when possible, else when the user or the session is back. */
  async set(userId, kind, streamType, wanted, functionName) {
    this._wanted.set(keyOf(userId, kind, streamType), wanted);
    if (!this._inSession() || this._recovering()) return; // sent when the recovery is done
    try {
      await this._request(wanted ? 'subscribe' : 'unsubscribe', {userId, kind, streamType}, functionName);
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
      this._request(wanted ? 'subscribe' : 'unsubscribe', {userId, kind, streamType}, 'subscribe').catch(() => {});
    }
  }

  forgetUser(userId) {
    for (const k of [...this._wanted.keys()]) if (k.startsWith(`${userId}|`)) this._wanted.delete(k);
  }

  clear() {
    this._wanted.clear();
  }
}

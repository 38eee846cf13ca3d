// Reconnecting (docs/decisions/0006 §4): resume when only the socket is gone, enter again when the
// membership or the media is gone; retry with backoff until the room's idle timeout; stop at once on
// refusals that will not change. The steps are the client's; this is the order and the policy.

import {ERROR_CODE, EXTRA_CODE} from './constants.js';
import {RtcError} from './errors.js';
import {log} from './log.js';

/** The server refused the resume token: the membership is gone. */
export const RESUME_REFUSED = -100209;
/** The room is full: worth retrying (someone may leave). */
export const ROOM_FULL = -100202;
/** Cluster: the room runs elsewhere (a redirect follows) or shared state is briefly unreachable. */
export const ROOM_ELSEWHERE = -100212;
export const CLUSTER_UNAVAILABLE = -100213;
const RETRYABLE = new Set([ROOM_FULL, ROOM_ELSEWHERE, CLUSTER_UNAVAILABLE]);

export const FIRST_DELAY_MS = 250;
export const MAX_DELAY_MS = 4000;

/** Refused for good (UserSig expired, app disabled, blocked...): a negative server code other than "room
 *  full" or a cluster's retryable ones. */
export function isFinalRefusal(e) {
  return e instanceof RtcError && e.code === ERROR_CODE.SERVER_ERROR && e.extraCode < 0 && !RETRYABLE.has(e.extraCode);
}

export function nextDelay(delayMs) {
  return Math.min(delayMs * 2, MAX_DELAY_MS);
}

/** Why a recovery starts: 'socket' (resume first) or 'gone', 'not_in_room', 'media', 'redirect' (enter
 *  again; 'media' and 'not_in_room' leave first, because the membership may still exist on the server;
 *  'redirect' has left already, at the node that sent it). */
export function recoveryPlan(why) {
  return {needsEnter: why !== 'socket', leaveFirst: why === 'media' || why === 'not_in_room'};
}

const realSleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export class Reconnector {
  /**
   * Steps (functions): active() still in the room; connected() the socket is open; open(); resume();
   * leave() (exit the old membership, best effort); enter() (enter again and republish); mediaLost();
   * closeSocket(); idleTimeoutS(); onStart(); onRecovered(); onFailed(error).
   * sleep(ms) and now() are there for tests.
   */
  constructor(steps) {
    this._s = {sleep: realSleep, now: Date.now, ...steps};
    this._running = null;
    this._needsEnter = false;
  }

  get running() {
    return this._running !== null;
  }

  /** Start recovering (or join the running recovery; a membership loss upgrades a socket resume). */
  recover(why) {
    if (this._running) {
      if (why !== 'socket') this._needsEnter = true;
      return this._running;
    }
    const plan = recoveryPlan(why);
    this._needsEnter = plan.needsEnter;
    this._s.onStart();
    this._running = this._run(plan.leaveFirst).then(() => {
      this._running = null;
      if (this._s.active()) this._s.onRecovered();
    }, (e) => {
      this._running = null;
      if (this._s.active()) this._s.onFailed(e);
    });
    return this._running;
  }

  async _run(leaveFirst) {
    const s = this._s;
    const deadline = s.now() + Math.max(10, Number(s.idleTimeoutS()) || 90) * 1000;
    let delay = FIRST_DELAY_MS;
    if (this._needsEnter) s.mediaLost();
    while (s.active()) {
      try {
        if (!s.connected()) await s.open();
        if (!this._needsEnter) {
          try {
            await s.resume();
            log.info('session resumed');
            return;
          } catch (e) {
            if (!(e instanceof RtcError) || e.extraCode !== RESUME_REFUSED) throw e;
            this._needsEnter = true; // the membership is gone: enter again
            s.mediaLost();
          }
        } else if (leaveFirst) {
          await s.leave();
        }
        await s.enter();
        log.info('entered the room again');
        return;
      } catch (e) {
        if (isFinalRefusal(e)) throw e;
        if (s.now() + delay > deadline) throw e;
        log.info('reconnect attempt failed:', e && e.message);
        if (this._needsEnter) {
          leaveFirst = true; // an entry that got in but could not publish must be left before the next
          s.mediaLost();
        }
        if (s.connected() && e && e.extraCode === EXTRA_CODE.TIMEOUT) s.closeSocket();
        await s.sleep(delay);
        delay = nextDelay(delay);
      }
    }
  }
}

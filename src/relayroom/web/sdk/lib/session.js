// The session: one membership of one room over the signalling channel, and its lifecycle: enter,
// resume after a dropped socket, enter again after lost media (Reconnector), exit, kicked out; the
// connection state TRTC applications see. It owns the signalling channel and the room state; what
// happens to media and remote users on each step is the client's, passed in as functions.

import {EVENT, ERROR_CODE, EXTRA_CODE} from './constants.js';
import {RtcError, asRtcError} from './errors.js';
import {log} from './log.js';
import {Reconnector} from './reconnect.js';
import {Signalling} from './signalling.js';
import {clientInfo} from './client-info.js';
import {nodeSignalUrl} from './validate.js';

/** Known users missing after a re-entry leave after this grace: in a worker death everyone re-enters. */
export const REENTRY_GRACE_MS = 10000;
/** The enter was answered by a redirect: the room runs on another node of the cluster. */
export const ROOM_ELSEWHERE = -100212;
/** A cluster sends a client on at most twice (placement, then owner); more would be a loop. */
export const MAX_REDIRECTS = 3;

export class Session {
  /**
   * emit(event, data); onServerEvent(name, data, generation): room events for the parts;
   * reconcile(members, graceMs): a member list (enter, resume); publish(): publish the local tracks
   * (after an entry); entered(): timers to start; teardownMedia(); streamsLost(); forgetRoom(): we left;
   * recovered(): a reconnect succeeded; checkEntered(response): throws when the entry cannot work for
   * this client (e.g. relay-only without a TURN server), before anything is published;
   * leaveRoomOnly(): switchRoom left the old room (its users and our media go, the local tracks stay).
   */
  constructor(steps) {
    this._s = steps;
    this._state = 'DISCONNECTED';
    this._enterData = null; // the validated enter request (holds the UserSig: never logged)
    this._url = null; // the node we talk to (a redirect changes it)
    this._homeUrl = null; // the URL the application entered with
    this._room = null; // the enter/resume response (holds the resume token: never logged)
    this._inRoom = false;
    this._entering = false;
    this._closed = false;
    this._generation = 0; // bumped on every (re)entry and loss: stale async work checks it
    this._signalling = new Signalling({
      onEvent: (name, data) => this._onEvent(name, data),
      onDrop: () => {
        if (!this._inRoom || this._closed) return;
        log.info('signalling socket dropped; resuming');
        this._reconnector.recover('socket');
      },
      onRedirect: (r) => this._onRedirect(r),
    });
    this._reconnector = new Reconnector({
      active: () => this._inRoom && !this._closed,
      connected: () => this._signalling.connected,
      open: () => this._signalling.open(this._url),
      resume: () => this._resume(),
      leave: () => this.request('exit', {}, 'exitRoom', 5000).catch(() => {}),
      enter: () => this._enter(true),
      mediaLost: () => this._mediaLost(),
      closeSocket: () => this._signalling.close(),
      idleTimeoutS: () => this._room && this._room.idleTimeout,
      onStart: () => this._setState('RECONNECTING'),
      onRecovered: () => {
        // TRTC's states: RECONNECTING → RECONNECTED, then CONNECTED again at once
        this._setState('RECONNECTED');
        this._setState('CONNECTED');
        this._s.recovered();
      },
      onFailed: (e) => {
        this._leaveLocally();
        this._s.emit(EVENT.ERROR, new RtcError({code: ERROR_CODE.OPERATION_FAILED,
          extraCode: EXTRA_CODE.RECONNECT_FAILED, message: `reconnect failed: ${(e && e.message) || e}`,
          functionName: 'reconnect'}));
      },
    });
  }

  /** 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'RECONNECTING' */
  get state() {
    return this._state;
  }

  get inRoom() {
    return this._inRoom;
  }

  /** In the room (or entering, or reconnecting). */
  get busy() {
    return this._inRoom || this._entering || this._reconnector.running;
  }

  get recovering() {
    return this._reconnector.running;
  }

  /** The socket is open. */
  get connected() {
    return this._signalling.connected;
  }

  get generation() {
    return this._generation;
  }

  /** The server's view of our membership: {role, scene, ...}, or null. */
  get role() {
    return this._room ? this._room.role : null;
  }

  get scene() {
    return this._room ? this._room.scene : null;
  }

  /** The server's `iceServers` of the latest enter/resume response (fresh TURN credentials). */
  get iceServers() {
    return (this._room && this._room.iceServers) || [];
  }

  /** The room as entered: {roomId | strRoomId, userId, scene, role}, or null outside a room. */
  get room() {
    if (!this._inRoom || !this._enterData) return null;
    const d = this._enterData;
    return {roomId: d.roomId, strRoomId: d.strRoomId, userId: d.userId, scene: this._room.scene, role: this._room.role,
      e2ee: !!this._room.e2ee};
  }

  /** Work started for membership `generation` still applies. */
  isCurrent(generation) {
    return generation === this._generation && this._inRoom;
  }

  request(type, data, functionName, timeoutMs) {
    return this._signalling.request(type, data, functionName, timeoutMs);
  }

  /** Enter with validated request `data` over `url`; on failure everything is undone and RtcError thrown. */
  async enter(data, url) {
    this._url = url;
    this._homeUrl = url;
    this._enterData = data;
    this._entering = true;
    this._setState('CONNECTING');
    try {
      if (!this._signalling.connected) await this._signalling.open(this._url);
      await this._enter(false);
      this._setState('CONNECTED');
    } catch (e) {
      if (this._inRoom && this._signalling.connected) {
        try { await this.request('exit', {}, 'enterRoom', 5000); } catch { /* leaving anyway */ }
      }
      this._inRoom = false;
      this._room = null;
      this._enterData = null;
      this._s.teardownMedia();
      this._signalling.close();
      this._setState('DISCONNECTED');
      throw asRtcError(e, 'enterRoom');
    } finally {
      this._entering = false;
    }
  }

  /** Leave the room (telling the server when we can). */
  async exit() {
    const wasIn = this._inRoom;
    this._inRoom = false;
    this._generation += 1;
    if (wasIn && this._signalling.connected) {
      try { await this.request('exit', {}, 'exitRoom', 5000); } catch { /* leaving anyway */ }
    }
    this._leaveLocally();
  }

  /**
   * switchRoom: leave this room and enter another on the same socket with `changes` ({roomId |
   * strRoomId, userSig, privateMapKey?}), keeping scene and role; the local tracks are published into the
   * new room. The state stays CONNECTED. If the new room refuses, we are in no room (DISCONNECTED) and
   * the refusal is thrown.
   */
  async switchRoom(changes) {
    const previous = this._enterData;
    this._entering = true;
    this._generation += 1;
    try {
      try { await this.request('exit', {}, 'switchRoom', 5000); } catch { /* entering the new room anyway */ }
      this._inRoom = false;
      this._signalling.stopHeartbeat();
      this._s.teardownMedia();
      this._s.leaveRoomOnly();
      const next = {...previous, role: this._room ? this._room.role : previous.role, ...changes};
      if (changes.roomId !== undefined) delete next.strRoomId;
      if (changes.strRoomId !== undefined) delete next.roomId;
      if (!changes.privateMapKey) delete next.privateMapKey;
      this._enterData = next;
      await this._enter(false);
    } catch (e) {
      if (this._inRoom && this._signalling.connected) {
        try { await this.request('exit', {}, 'switchRoom', 5000); } catch { /* leaving anyway */ }
      }
      this._leaveLocally();
      throw asRtcError(e, 'switchRoom');
    } finally {
      this._entering = false;
    }
  }

  /** The role changed (switchRole's response): later re-entries use it. */
  roleChanged(role, privateMapKey) {
    this._room.role = role;
    this._enterData.role = role;
    if (privateMapKey) this._enterData.privateMapKey = privateMapKey;
  }

  close() {
    this._signalling.close();
    this._closed = true;
  }

  /** Enter with the stored parameters on the open socket, then publish the local tracks. */
  async _enter(again) {
    this._generation += 1;
    const res = await this._enterFollowingRedirects();
    this._room = res;
    this._inRoom = true;
    if (this._s.checkEntered) this._s.checkEntered(res);
    this._s.reconcile(res.members, again ? REENTRY_GRACE_MS : 0);
    this._startHeartbeat(res.heartbeatInterval);
    this._s.entered();
    if (res.role !== 'anchor') return;
    if (again) {
      await this._s.publish(); // a failure makes the recovery try again
      return;
    }
    try {
      await this._s.publish();
    } catch (e) {
      // In the room but not publishing: tell the application (as trtc-sdk-v5 does for a failed publish).
      this._s.emit(EVENT.ERROR, asRtcError(e, 'publish', ERROR_CODE.OPERATION_FAILED, 'publish failed'));
    }
  }

  /** `enter`; when the room runs on another node of a cluster the server redirects: move there and enter
   *  again (later resumes and re-entries go to that node too). */
  async _enterFollowingRedirects() {
    for (let hops = 0; ; hops += 1) {
      this._signalling.takeRedirect();
      const data = {...this._enterData, ...clientInfo()};
      if (hops > 0) data.redirects = hops;
      try {
        return await this.request('enter', data, 'enterRoom');
      } catch (e) {
        const to = this._signalling.takeRedirect();
        if (!(e instanceof RtcError) || e.extraCode !== ROOM_ELSEWHERE || !to || hops >= MAX_REDIRECTS) throw e;
        log.info('the room runs on another node; entering there');
        this._signalling.close();
        this._url = nodeSignalUrl(to.url);
        await this._signalling.open(this._url);
      }
    }
  }

  /** Resume the session on a new socket: the membership and the media are untouched. */
  async _resume() {
    const res = await this.request('resume', {resumeToken: this._room.resumeToken}, 'resume');
    this._room = {...this._room, ...res};
    this._s.reconcile(res.members, 0);
    this._startHeartbeat(res.heartbeatInterval);
  }

  _startHeartbeat(intervalS) {
    const settled = () => this._inRoom && !this._reconnector.running;
    this._signalling.startHeartbeat(intervalS, {
      active: settled,
      onReply: (res) => {
        if (res && res.inRoom === false && settled()) this._reconnector.recover('not_in_room');
      },
    });
  }

  _leaveLocally() {
    this._inRoom = false;
    this._room = null;
    this._enterData = null;
    this._signalling.stopHeartbeat();
    this._s.teardownMedia();
    this._s.forgetRoom();
    this._signalling.close();
    this._setState('DISCONNECTED');
  }

  /** The server's transports are gone: drop ours; remote streams are unavailable until republished. */
  _mediaLost() {
    this._generation += 1;
    this._s.teardownMedia();
    this._s.streamsLost();
  }

  _setState(state) {
    if (state === this._state) return;
    const prevState = this._state;
    this._state = state;
    this._s.emit(EVENT.CONNECTION_STATE_CHANGED, {prevState, state});
  }

  /** A `redirect` while in the room (reason 'drain': this node is going away): leave it, then enter
   *  again at `url` (the URL we entered with when none), publishing and subscribing again as after any
   *  re-entry. A redirect answering an entry is the entry's business. */
  _onRedirect({url, reason}) {
    if (!this._inRoom || this._entering || this._closed) return;
    let target = this._homeUrl;
    if (url) {
      try {
        target = nodeSignalUrl(url);
      } catch {
        log.warn('redirect with an unusable URL; entering again where we started');
      }
    }
    log.info('server moves this member elsewhere:', reason);
    this._url = target; // a recovery already running (the socket dropped first) goes there too
    const leaving = this._signalling.connected ? this.request('exit', {}, 'exitRoom', 2000) : Promise.resolve();
    leaving.catch(() => {}).then(() => {
      if (!this._inRoom || this._closed) return;
      if (!this._reconnector.running) this._signalling.close(); // else: its socket may be the new one
      this._reconnector.recover('redirect');
    });
  }

  _onEvent(name, data) {
    if (!this._inRoom && !this._entering) return;
    if (name === 'kicked-out') {
      this._generation += 1;
      this._leaveLocally();
      this._s.emit(EVENT.KICKED_OUT, {reason: data.reason || 'kick'});
    } else if (name === 'server-shutdown') {
      // the socket closes next (1001): the dropped-socket recovery enters again once a server answers
      log.info('server is shutting down:', data.reason);
    } else if (name === 'reconnect') {
      log.info('server asks to reconnect:', data.reason);
      this._reconnector.recover(data.reason === 'worker_died' || data.reason === 'timeout' ? 'gone' : 'media');
    } else {
      this._s.onServerEvent(name, data, this._generation);
    }
  }
}

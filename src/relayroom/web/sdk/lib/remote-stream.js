// Remote streams on the page: the players in the views the application gave (startRemoteVideo) and one
// <audio> element per remote user. Tracks come from the receive transport; a player outlives its track
// (a republish or a re-entry gives it a new one), so the application's tiles stay put.

import {EVENT, keyOf} from './constants.js';
import {forgetAudioElement, useSpeaker} from './devices.js';
import {unwatchPlayer, watchPlayer} from './player-events.js';
import {play, removePlayer, render, setSource} from './player.js';

export class RemoteStreams {
  /** track(key): the receive transport's entry for a stream, or undefined;
   *  onAutoplayFailed({userId, mediaType, resume}); emit(event, data): TRACK and the players' events. */
  constructor({track, onAutoplayFailed, emit = () => {}}) {
    this._track = track;
    this._emit = emit;
    this._onAutoplayFailed = onAutoplayFailed;
    this._views = new Map(); // key(video) -> {view, el, mirror, fillMode}
    this._audio = new Map(); // userId -> {el, volume, muted}
  }

  /** The <video> that plays `key` (getVideoSnapshot), or null. */
  videoElement(key) {
    const v = this._views.get(key);
    return (v && v.el) || null;
  }

  hasView(key) {
    return this._views.has(key);
  }

  viewKeys() {
    return [...this._views.keys()];
  }

  /** The receive transport's tracks changed: attach new tracks, empty the players of vanished ones. */
  tracksChanged(next, previous) {
    for (const [key, entry] of next) {
      const old = previous.get(key);
      if (old && old.track === entry.track) continue;
      this._emit(EVENT.TRACK, {userId: entry.userId, streamType: entry.streamType, track: entry.track});
      if (entry.kind === 'audio' && entry.streamType === 'main') this._playAudio(entry.userId, entry.track);
      else if (entry.kind === 'video') this._attach(key);
    }
    for (const [key, old] of previous) {
      if (next.has(key)) continue;
      if (old.kind === 'audio') {
        const a = this._audio.get(old.userId);
        if (a) setSource(a.el, null);
      } else {
        const v = this._views.get(key);
        if (v && v.el) setSource(v.el, null);
      }
    }
  }

  /** Play the video `key` in `view` ({mirror, fillMode}); a previous view of it is left. */
  showVideo(key, view, {mirror, fillMode}) {
    const old = this._views.get(key);
    if (old && old.view !== view) this._detach(key, false);
    const v = old || {};
    Object.assign(v, {view, mirror, fillMode});
    this._views.set(key, v);
    this._attach(key);
  }

  /** Change the view or the player options of a shown video. */
  updateVideo(key, {view, fillMode, mirror}) {
    const v = this._views.get(key);
    if (view !== undefined) v.view = view;
    if (fillMode) v.fillMode = fillMode;
    if (mirror !== undefined) v.mirror = mirror;
    this._detach(key, false);
    this._attach(key);
  }

  hideVideo(key) {
    this._detach(key, true);
  }

  muteAudio(userId, mute) {
    const a = this._audio.get(userId);
    if (a) {
      a.muted = mute;
      a.el.muted = mute;
    }
  }

  setVolume(userId, volume) {
    const a = this._audioOf(userId);
    a.volume = volume;
    a.el.volume = a.volume / 100;
  }

  /** A user left: their audio element and players go. */
  dropUser(userId) {
    this._dropAudio(userId);
    for (const st of ['main', 'sub']) this._detach(keyOf(userId, 'video', st), true);
  }

  /** The transports are gone: players stay (empty) until new tracks arrive. */
  clearSources() {
    for (const v of this._views.values()) if (v.el) setSource(v.el, null);
    for (const a of this._audio.values()) setSource(a.el, null);
  }

  /** We left the room: drop the audio of `userIds` and every player. */
  clear(userIds) {
    for (const userId of userIds) this._dropAudio(userId);
    for (const key of this.viewKeys()) this._detach(key, true);
  }

  _audioOf(userId) {
    let a = this._audio.get(userId);
    if (!a) {
      const el = new Audio();
      el.autoplay = true;
      watchPlayer(el, {userId, kind: 'audio'}, this._emit);
      useSpeaker(el);
      a = {el, volume: 100, muted: false};
      this._audio.set(userId, a);
    }
    return a;
  }

  _playAudio(userId, track) {
    const a = this._audioOf(userId);
    setSource(a.el, track);
    a.el.muted = a.muted;
    a.el.volume = Math.min(1, a.volume / 100);
    play(a.el, userId, 'audio', this._onAutoplayFailed);
  }

  _dropAudio(userId) {
    const a = this._audio.get(userId);
    if (!a) return;
    a.el.pause();
    unwatchPlayer(a.el);
    a.el.srcObject = null;
    forgetAudioElement(a.el);
    this._audio.delete(userId);
  }

  _attach(key) {
    const v = this._views.get(key);
    const entry = this._track(key);
    if (!v || !v.view) return;
    if (!v.el || !v.el.isConnected) {
      const [userId, , streamType] = key.split('|');
      v.el = render(v.view, null, {mirror: v.mirror, fillMode: v.fillMode, local: false, userId, streamType,
        emit: this._emit}, this._onAutoplayFailed);
    }
    if (entry && (!v.el.srcObject || v.el.srcObject.getVideoTracks()[0] !== entry.track)) {
      setSource(v.el, entry.track);
      play(v.el, entry.userId, 'video', this._onAutoplayFailed);
    }
  }

  _detach(key, forget) {
    const v = this._views.get(key);
    if (!v) return;
    if (v.el) {
      setSource(v.el, null);
      removePlayer(v.el);
      v.el = null;
    }
    if (forget) this._views.delete(key);
  }
}

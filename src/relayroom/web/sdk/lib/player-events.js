// What happens in the players, as TRTC's events: AUDIO_PLAY_STATE_CHANGED / VIDEO_PLAY_STATE_CHANGED
// ({state: 'PLAYING' | 'PAUSED' | 'STOPPED', reason: 'playing' | 'pause' | 'mute' | 'unmute' | 'ended'}),
// FIRST_VIDEO_FRAME and VIDEO_SIZE_CHANGED; and getVideoSnapshot (a frame of a player as a PNG data URL).
// userId '' is the local user.

import {EVENT} from './constants.js';

const watches = new WeakMap(); // <video>/<audio> -> its watch

/** The state change an element or track event means: [state, reason], or null for none. */
export function playState(eventType) {
  switch (eventType) {
    case 'playing': return ['PLAYING', 'playing'];
    case 'pause': return ['PAUSED', 'pause'];
    case 'mute': return ['PAUSED', 'mute'];
    case 'unmute': return ['PLAYING', 'unmute'];
    case 'ended': return ['STOPPED', 'ended'];
    default: return null;
  }
}

/**
 * Watch the player `el` of {userId, streamType, kind} and emit its events. Call `playerTrack(el, track)`
 * whenever its track changes (FIRST_VIDEO_FRAME comes once per track) and `unwatchPlayer(el)` when it goes.
 */
export function watchPlayer(el, {userId = '', streamType = 'main', kind = 'video'}, emit) {
  const who = kind === 'video' ? {userId, streamType} : {userId};
  const w = {state: null, track: null, trackListener: null, firstFrame: false, size: null};
  const stateEvent = kind === 'video' ? EVENT.VIDEO_PLAY_STATE_CHANGED : EVENT.AUDIO_PLAY_STATE_CHANGED;
  w.change = (type) => {
    const next = playState(type);
    if (!next || w.state === next[0]) return;
    // a track's mute/unmute matters once the player has played (a remote track unmutes when its first
    // packets arrive, before the element plays)
    if ((type === 'mute' || type === 'unmute') && w.state === null) return;
    w.state = next[0];
    emit(stateEvent, {...who, state: next[0], reason: next[1]});
  };
  w.onElement = (ev) => w.change(ev.type);
  el.addEventListener('playing', w.onElement);
  el.addEventListener('pause', w.onElement);
  if (kind === 'video') {
    w.onResize = () => {
      const width = el.videoWidth;
      const height = el.videoHeight;
      if (!width || !height) return;
      if (!w.firstFrame) {
        w.firstFrame = true;
        w.size = [width, height];
        emit(EVENT.FIRST_VIDEO_FRAME, {userId, streamType, width, height});
        return;
      }
      if (w.size[0] === width && w.size[1] === height) return;
      w.size = [width, height];
      emit(EVENT.VIDEO_SIZE_CHANGED, {userId, streamType, newWidth: width, newHeight: height});
    };
    // 'resize' fires when the first frame's size is known and whenever it changes
    el.addEventListener('resize', w.onResize);
  }
  watches.set(el, w);
  return w;
}

/** The player's track changed (or went: null). */
export function playerTrack(el, track) {
  const w = el && watches.get(el);
  if (!w || w.track === track) return;
  if (w.track && w.trackListener) {
    for (const type of ['mute', 'unmute', 'ended']) w.track.removeEventListener(type, w.trackListener);
  }
  w.track = track;
  w.firstFrame = false;
  if (!track) return;
  w.trackListener = (ev) => w.change(ev.type);
  for (const type of ['mute', 'unmute', 'ended']) track.addEventListener(type, w.trackListener);
}

/** The player goes away: STOPPED if it was playing, and no more events. */
export function unwatchPlayer(el) {
  const w = el && watches.get(el);
  if (!w) return;
  playerTrack(el, null);
  if (w.state === 'PLAYING' || w.state === 'PAUSED') w.change('ended');
  el.removeEventListener('playing', w.onElement);
  el.removeEventListener('pause', w.onElement);
  if (w.onResize) el.removeEventListener('resize', w.onResize);
  watches.delete(el);
}

/** getVideoSnapshot: the frame `el` shows, as a PNG data URL; '' when it shows nothing (as TRTC). */
export function snapshot(el) {
  if (!el || !el.videoWidth || !el.videoHeight || el.readyState < 2) return '';
  const canvas = document.createElement('canvas');
  canvas.width = el.videoWidth;
  canvas.height = el.videoHeight;
  canvas.getContext('2d').drawImage(el, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/png');
}

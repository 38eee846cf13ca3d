// Players: the <video> elements the SDK puts into an application's `view`, and play() with TRTC's
// `autoplay-failed` when the browser refuses to start playback without a user gesture.

import {invalid} from './errors.js';
import {playerTrack, unwatchPlayer, watchPlayer} from './player-events.js';

/** `view` (an element id or an HTMLElement) as an element; null when not given. */
export function resolveView(view, functionName) {
  if (view === undefined || view === null) return null;
  if (typeof view === 'string') {
    const el = document.getElementById(view);
    if (!el) throw invalid(functionName, `no element with id "${view}" for view`);
    return el;
  }
  if (typeof HTMLElement !== 'undefined' && view instanceof HTMLElement) return view;
  throw invalid(functionName, 'view must be an element id or an HTMLElement');
}

/** Start playing `el`; a refused autoplay calls onAutoplayFailed({userId, mediaType, resume}). */
export function play(el, userId, mediaType, onAutoplayFailed) {
  const p = el.play();
  if (p && p.catch) {
    p.catch((e) => {
      if (e && e.name === 'NotAllowedError') {
        onAutoplayFailed({userId, mediaType, resume: () => el.play().catch(() => {})});
      }
    });
  }
}

/** `el` plays `track` (null: nothing), and its watch (player-events.js) knows. */
export function setSource(el, track) {
  el.srcObject = track ? new MediaStream([track]) : null;
  playerTrack(el, track);
}

/** A muted <video> for `track` (or none yet) in a box filling `view`; returns the <video>. Audio plays
 *  through its own element. emit(event, data): the player's events (play state, first frame, size). */
export function render(view, track, {mirror, fillMode, local, userId = '', streamType, emit}, onAutoplayFailed) {
  const box = document.createElement('div');
  box.className = 'relayroom-player';
  box.dataset.userId = userId;
  box.dataset.streamType = streamType;
  box.dataset.local = local ? 'true' : 'false';
  Object.assign(box.style, {position: 'relative', width: '100%', height: '100%', overflow: 'hidden'});
  const el = document.createElement('video');
  el.autoplay = true;
  el.playsInline = true;
  el.muted = true;
  Object.assign(el.style, {width: '100%', height: '100%', objectFit: fillMode || 'cover', background: '#000',
    transform: mirror ? 'scaleX(-1)' : 'none'});
  if (emit) watchPlayer(el, {userId: local ? '' : userId, streamType, kind: 'video'}, emit);
  if (track) setSource(el, track);
  box.appendChild(el);
  view.appendChild(box);
  if (track) play(el, userId, 'video', onAutoplayFailed);
  return el;
}

/** Remove a player made by render() (its box) from the page. */
export function removePlayer(el) {
  unwatchPlayer(el);
  if (el && el.parentElement) el.parentElement.remove();
}

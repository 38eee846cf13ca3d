// RelayRoom demo call page: the browser SDK's API used the way a TRTC v5 app uses it.
import RelayRoom from '/sdk/relayroom.js';
import {bestGrid, commonAspect, lastRowStart} from './layout.js';

const $ = (id) => document.getElementById(id);
const QUALITY = ['Unknown', 'Excellent', 'Good', 'Poor', 'Bad', 'Very bad', 'Disconnected'];
const STATES = {DISCONNECTED: 'Not connected', CONNECTING: 'Connecting…', CONNECTED: 'Connected',
  RECONNECTING: 'Reconnecting…', RECONNECTED: 'Connected'};
const CMD_CHAT = 1;
const VIDEO_PROFILE = new URLSearchParams(location.search).get('profile') || '480p';
// Videos are letterboxed in their tile, never cropped: a camera of another shape keeps its sides.
const FILL_MODE = 'contain';

const rr = RelayRoom.create();
const state = {userId: null, roomId: null, inCall: false, mic: true, camera: true, screen: false, tiles: new Map()};
window.demo = {rr, state}; // for the browser tests and the curious

// ------------------------------------------------------------------------------ tiles

function tileId(userId, streamType) {
  return `tile-${streamType}-${userId || 'me'}`;
}

function ensureTile(userId, streamType = 'main', local = false) {
  const id = tileId(local ? '' : userId, streamType);
  let tile = state.tiles.get(id);
  if (tile) return tile;
  const el = document.createElement('div');
  el.className = 'tile';
  el.id = id;
  el.dataset.userId = local ? state.userId : userId;
  el.dataset.streamType = streamType;
  el.dataset.local = String(local);
  el.dataset.video = 'off';
  const view = document.createElement('div');
  view.className = 'view';
  view.id = `${id}-view`;
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.textContent = (local ? state.userId : userId).slice(0, 1).toUpperCase();
  const label = document.createElement('div');
  label.className = 'label';
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = (local ? `${state.userId} (you)` : userId) + (streamType === 'sub' ? ' · screen' : '');
  const mic = document.createElement('span');
  mic.className = 'mic-off';
  mic.title = 'Microphone off';
  label.append(mic, name);
  el.append(view, avatar, label);
  $('grid').appendChild(el);
  tile = {el, view, local, userId, streamType};
  state.tiles.set(id, tile);
  if (!local && streamType === 'main') setMicState(userId, false);
  layout();
  return tile;
}

function removeTile(userId, streamType, local = false) {
  const id = tileId(local ? '' : userId, streamType);
  const tile = state.tiles.get(id);
  if (!tile) return;
  tile.el.remove();
  state.tiles.delete(id);
  layout();
}

/** Size the tiles: as many as there are streams, all of the cameras' aspect ratio, as large as fits. */
function layout() {
  const n = state.tiles.size;
  const grid = $('grid');
  grid.dataset.count = String(n);
  const style = getComputedStyle(grid);
  const width = grid.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const height = grid.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  if (!(width > 0 && height > 0)) return; // not on screen yet: the resize observer calls again
  const cameras = [...state.tiles.values()].filter((t) => t.streamType === 'main').map((t) => {
    const video = t.el.dataset.video === 'on' ? t.el.querySelector('video') : null;
    return video ? [video.videoWidth, video.videoHeight] : [0, 0];
  });
  const aspect = commonAspect(cameras);
  const gap = parseFloat(style.columnGap) || 0;
  const {cols, tileWidth, tileHeight} = bestGrid(n, width, height, aspect, gap);
  grid.dataset.aspect = aspect.toFixed(2);
  grid.style.setProperty('--half-cols', String(2 * cols));
  grid.style.setProperty('--half-w', `${Math.max(0, (tileWidth - gap) / 2)}px`);
  grid.style.setProperty('--tile-h', `${tileHeight}px`);
  // centre a short last row: its first tile (in the order the grid shows them) starts further right
  const shown = [...state.tiles.values()].sort((a, b) => showOrder(a) - showOrder(b));
  const start = lastRowStart(n, cols);
  shown.forEach((t, i) => {
    t.el.style.gridColumn = start && i === n - (n % cols) ? `${start} / span 2` : '';
  });
}

/** The grid's order (demo.css): you first, then your screen, then everyone else as they came. */
function showOrder(tile) {
  return tile.local ? (tile.streamType === 'main' ? -2 : -1) : 0;
}

function setVideoState(userId, streamType, on, local = false) {
  const tile = state.tiles.get(tileId(local ? '' : userId, streamType));
  if (tile) tile.el.dataset.video = on ? 'on' : 'off';
  layout();
}

function setMicState(userId, on, local = false) {
  const tile = state.tiles.get(tileId(local ? '' : userId, 'main'));
  if (tile) tile.el.dataset.mic = on ? 'on' : 'off';
}

// ------------------------------------------------------------------------------ UI helpers

function toast(text, kind = 'info') {
  const t = document.createElement('div');
  t.className = `toast ${kind}`;
  t.textContent = text;
  $('toasts').appendChild(t);
  setTimeout(() => t.classList.add('out'), 3200);
  setTimeout(() => t.remove(), 3800);
}

function addMessage(from, text, mine = false) {
  const li = document.createElement('li');
  li.className = mine ? 'mine' : '';
  const who = document.createElement('b');
  who.textContent = from;
  const body = document.createElement('span');
  body.textContent = text;
  li.append(who, body);
  $('messages').appendChild(li);
  li.scrollIntoView({block: 'end'});
}

function setButton(id, pressed, label) {
  const b = $(id);
  b.setAttribute('aria-pressed', String(pressed));
  b.lastElementChild.textContent = label;
}

function sanitizeName(name) {
  return name.trim().replace(/\s+/g, '_').replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32);
}

function describe(e) {
  if (!e) return 'unknown error';
  const codes = {
    '-100018': 'the UserSig was refused', '-100013': 'the application is disabled',
    '-100202': 'the room is full', '-100208': 'you are blocked in this application',
  };
  return codes[String(e.extraCode)] || e.message || String(e);
}

// ------------------------------------------------------------------------------ SDK events

rr.on(RelayRoom.EVENT.REMOTE_USER_ENTER, ({userId}) => {
  ensureTile(userId, 'main');
  toast(`${userId} joined`);
});

rr.on(RelayRoom.EVENT.REMOTE_USER_EXIT, ({userId}) => {
  removeTile(userId, 'main');
  removeTile(userId, 'sub');
  toast(`${userId} left`);
});

rr.on(RelayRoom.EVENT.REMOTE_VIDEO_AVAILABLE, ({userId, streamType}) => {
  const tile = ensureTile(userId, streamType);
  setVideoState(userId, streamType, true);
  rr.startRemoteVideo({userId, streamType, view: tile.view, option: {fillMode: FILL_MODE}})
    .catch((e) => toast(describe(e), 'error'));
});

rr.on(RelayRoom.EVENT.REMOTE_VIDEO_UNAVAILABLE, ({userId, streamType}) => {
  if (streamType === 'sub') {
    rr.stopRemoteVideo({userId, streamType}).catch(() => {});
    removeTile(userId, 'sub');
  } else {
    setVideoState(userId, streamType, false);
  }
});

rr.on(RelayRoom.EVENT.REMOTE_AUDIO_AVAILABLE, ({userId}) => setMicState(userId, true));
rr.on(RelayRoom.EVENT.REMOTE_AUDIO_UNAVAILABLE, ({userId}) => setMicState(userId, false));

rr.on(RelayRoom.EVENT.AUDIO_VOLUME, ({result}) => {
  for (const {userId, volume} of result) {
    const tile = state.tiles.get(tileId(userId, 'main'));
    if (tile) tile.el.classList.toggle('speaking', volume > 4);
  }
});

rr.on(RelayRoom.EVENT.NETWORK_QUALITY, (q) => {
  const worst = Math.max(q.uplinkNetworkQuality, q.downlinkNetworkQuality);
  const best = Math.min(q.uplinkNetworkQuality || 6, q.downlinkNetworkQuality || 6);
  const value = worst === 6 ? 6 : (worst || (best === 6 ? 0 : best));
  $('quality').dataset.quality = String(value);
  $('quality-label').textContent = QUALITY[value];
  $('quality').title = `Network: up ${QUALITY[q.uplinkNetworkQuality]} (${q.uplinkRTT} ms, ${q.uplinkLoss}% loss), ` +
    `down ${QUALITY[q.downlinkNetworkQuality]} (${q.downlinkRTT} ms, ${q.downlinkLoss}% loss)`;
});

rr.on(RelayRoom.EVENT.CONNECTION_STATE_CHANGED, ({state: s}) => {
  $('state').dataset.state = s;
  $('state').textContent = STATES[s] || s;
  if (s === 'DISCONNECTED') {
    $('quality').dataset.quality = '0';
    $('quality-label').textContent = '—';
    if (state.inCall) {
      // the SDK left the room on its own (kicked out, or reconnecting gave up)
      state.inCall = false;
      releaseLocal().then(showJoin);
    }
  }
});

rr.on(RelayRoom.EVENT.CUSTOM_MESSAGE, ({userId, cmdId, data}) => {
  if (cmdId !== CMD_CHAT) return;
  addMessage(userId, new TextDecoder().decode(data));
});

rr.on(RelayRoom.EVENT.KICKED_OUT, ({reason}) => {
  toast(reason === 'kick' ? 'You joined from another tab; this one left the call.' : `Removed from the room (${reason})`, 'error');
});

rr.on(RelayRoom.EVENT.SCREEN_SHARE_STOPPED, () => {
  state.screen = false;
  removeTile('', 'sub', true);
  setButton('btn-screen', false, 'Share screen');
});

rr.on(RelayRoom.EVENT.AUTOPLAY_FAILED, ({resume}) => {
  toast('Click anywhere to hear the others', 'info');
  document.addEventListener('click', () => resume(), {once: true});
});

rr.on(RelayRoom.EVENT.ERROR, (e) => toast(`Connection problem: ${describe(e)}`, 'error'));

// ------------------------------------------------------------------------------ join / leave

async function userSigFor(userId) {
  const res = await fetch('/api/dev/usersig', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({userId})});
  if (res.status === 404) throw new Error('This server is not in dev mode: start it with `relayroom serve --dev`.');
  if (!res.ok) throw new Error(`Could not get a UserSig (${res.status}).`);
  return res.json();
}

async function join(ev) {
  ev.preventDefault();
  const err = $('join-error');
  err.hidden = true;
  const userId = sanitizeName($('name').value);
  const roomId = Number($('room').value);
  if (!userId) {
    err.textContent = 'Please enter a name (letters, digits, _ and -).';
    err.hidden = false;
    return;
  }
  $('join-btn').disabled = true;
  try {
    const {sdkAppId, userSig} = await userSigFor(userId);
    state.userId = userId;
    state.roomId = roomId;
    state.camera = $('opt-camera').checked;
    state.mic = $('opt-mic').checked;
    await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveAudio: true, autoReceiveVideo: false});
    state.inCall = true;
    showCall();
    rr.enableAudioVolumeEvaluation(300);
    const local = ensureTile(userId, 'main', true);
    try {
      await rr.startLocalAudio({mute: !state.mic});
      setMicState('', state.mic, true);
    } catch (e) {
      state.mic = false;
      toast(`Microphone: ${describe(e)}`, 'error');
    }
    if (state.camera) {
      try {
        await rr.startLocalVideo({view: local.view, option: {profile: VIDEO_PROFILE, fillMode: FILL_MODE}});
        setVideoState('', 'main', true, true);
      } catch (e) {
        state.camera = false;
        toast(`Camera: ${describe(e)}`, 'error');
      }
    }
    setButton('btn-mic', state.mic, state.mic ? 'Mute' : 'Unmute');
    setButton('btn-cam', state.camera, state.camera ? 'Stop video' : 'Start video');
  } catch (e) {
    state.inCall = false;
    await rr.exitRoom().catch(() => {});
    await releaseLocal().catch(() => {});
    showJoin();
    err.textContent = describe(e);
    err.hidden = false;
  } finally {
    $('join-btn').disabled = false;
  }
}

function showCall() {
  $('join').hidden = true;
  $('call').hidden = false;
  $('room-info').hidden = false;
  $('room-id').textContent = String(state.roomId);
  const url = new URL(location.href);
  url.searchParams.set('room', String(state.roomId));
  history.replaceState(null, '', url);
}

function showJoin() {
  for (const tile of [...state.tiles.values()]) tile.el.remove();
  state.tiles.clear();
  state.screen = false;
  layout();
  $('messages').replaceChildren();
  $('call').hidden = true;
  $('room-info').hidden = true;
  $('join').hidden = false;
}

async function releaseLocal() {
  await rr.stopLocalVideo();
  await rr.stopLocalAudio();
  await rr.stopScreenShare();
}

async function leave() {
  state.inCall = false;
  await rr.exitRoom();
  await releaseLocal();
  showJoin();
  toast('You left the call');
}

// ------------------------------------------------------------------------------ controls

async function toggleMic() {
  const on = !state.mic;
  try {
    if (rr.getLocalTrack('audio')) await rr.updateLocalAudio({mute: !on});
    else await rr.startLocalAudio();
    state.mic = on;
    setMicState('', on, true);
    setButton('btn-mic', on, on ? 'Mute' : 'Unmute');
  } catch (e) {
    toast(`Microphone: ${describe(e)}`, 'error');
  }
}

async function toggleCamera() {
  const on = !state.camera;
  try {
    if (on) {
      const tile = ensureTile(state.userId, 'main', true);
      await rr.startLocalVideo({view: tile.view, option: {profile: VIDEO_PROFILE, fillMode: FILL_MODE}});
    } else {
      await rr.stopLocalVideo();
    }
    state.camera = on;
    setVideoState('', 'main', on, true);
    setButton('btn-cam', on, on ? 'Stop video' : 'Start video');
  } catch (e) {
    toast(`Camera: ${describe(e)}`, 'error');
  }
}

async function toggleScreen() {
  try {
    if (state.screen) {
      await rr.stopScreenShare();
      removeTile('', 'sub', true);
      state.screen = false;
    } else {
      const tile = ensureTile(state.userId, 'sub', true);
      try {
        await rr.startScreenShare({view: tile.view, option: {profile: '720p'}});
      } catch (e) {
        removeTile('', 'sub', true);
        throw e;
      }
      setVideoState('', 'sub', true, true);
      state.screen = true;
    }
    setButton('btn-screen', state.screen, state.screen ? 'Stop sharing' : 'Share screen');
  } catch (e) {
    toast(`Screen share: ${describe(e)}`, 'error');
  }
}

async function sendChat(ev) {
  ev.preventDefault();
  const text = $('chat-input').value.trim();
  if (!text) return;
  try {
    await rr.sendCustomMessage({cmdId: CMD_CHAT, data: new TextEncoder().encode(text).buffer});
    addMessage('you', text, true);
    $('chat-input').value = '';
  } catch (e) {
    toast(`Message not sent: ${describe(e)}`, 'error');
  }
}

async function copyLink() {
  try {
    await navigator.clipboard.writeText(location.href);
    toast('Link copied');
  } catch (e) {
    toast(location.href);
  }
}

// a new size of the stage or of a video (a camera's first frame, a rotated phone) lays the grid out again
new ResizeObserver(() => layout()).observe($('grid'));
for (const event of ['loadedmetadata', 'resize']) $('grid').addEventListener(event, () => layout(), true);
$('join-form').addEventListener('submit', join);
$('btn-mic').addEventListener('click', toggleMic);
$('btn-cam').addEventListener('click', toggleCamera);
$('btn-screen').addEventListener('click', toggleScreen);
$('btn-leave').addEventListener('click', leave);
$('chat-form').addEventListener('submit', sendChat);
$('copy-link').addEventListener('click', copyLink);
window.addEventListener('beforeunload', () => { rr.exitRoom(); });

const params = new URLSearchParams(location.search);
$('room').value = params.get('room') || String(1000 + Math.floor(Math.random() * 9000));
if (params.get('name')) $('name').value = params.get('name');

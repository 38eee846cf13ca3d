// Statistics from getStats(): network quality (TRTC's 0..6 grades), the `statistics` event's payload,
// per-stream inbound counters and audio volumes (docs/decisions/0006 §8). The aggregation functions are
// pure (they take the reports and return plain data); StatsMonitor runs them on timers while in a room.

import {EVENT} from './constants.js';

const DISCONNECTED = {quality: 6, rtt: 0, loss: 0};
const UNKNOWN = {quality: 0, rtt: 0, loss: 0};

/** TRTC's network quality from round-trip time (ms) and loss (0..1): 1 excellent .. 5 very bad, 0 unknown. */
export function grade(rtt, loss) {
  if (rtt === null && loss === null) return 0;
  const r = rtt || 0;
  const l = loss || 0;
  if (l < 0.01 && r < 100) return 1;
  if (l < 0.03 && r < 200) return 2;
  if (l < 0.08 && r < 400) return 3;
  if (l < 0.15 && r < 800) return 4;
  return 5;
}

/**
 * One connection's quality from its stats report. `direction` 'up' reads the server's receiver reports
 * (remote-inbound-rtp); 'down' compares the inbound packet counters with `previous` ({received, lost}
 * of the last call). Returns {quality, rtt ms, loss 0..1, counters} (counters: for the next 'down' call).
 */
export function connectionQuality(connectionState, stats, direction, previous = null) {
  if (connectionState === null || !stats) return {...UNKNOWN, counters: previous};
  if (connectionState === 'failed' || connectionState === 'disconnected' || connectionState === 'closed') {
    return {...DISCONNECTED, counters: previous};
  }
  let rtt = null;
  let loss = null;
  let received = 0;
  let lost = 0;
  stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && typeof s.currentRoundTripTime === 'number') {
      rtt = s.currentRoundTripTime * 1000;
    }
    if (direction === 'up' && s.type === 'remote-inbound-rtp' && typeof s.fractionLost === 'number') {
      loss = Math.max(loss || 0, s.fractionLost);
      if (typeof s.roundTripTime === 'number') rtt = Math.max(rtt || 0, s.roundTripTime * 1000);
    }
    if (direction === 'down' && s.type === 'inbound-rtp') {
      received += s.packetsReceived || 0;
      lost += Math.max(0, s.packetsLost || 0);
    }
  });
  let counters = previous;
  if (direction === 'down') {
    counters = {received, lost};
    if (previous) {
      const dr = received - previous.received;
      const dl = lost - previous.lost;
      loss = dr + dl > 0 ? Math.max(0, dl) / (dr + dl) : 0;
    } else {
      loss = 0;
    }
  }
  if (connectionState !== 'connected') return {quality: 0, rtt: rtt || 0, loss: loss || 0, counters};
  return {quality: grade(rtt, loss === null ? 0 : loss), rtt: Math.round(rtt || 0), loss: loss || 0, counters};
}

/** The `network-quality` event's payload. */
export function networkQualityEvent(up, down) {
  return {
    uplinkNetworkQuality: up.quality,
    downlinkNetworkQuality: down.quality,
    uplinkRTT: up.rtt,
    uplinkLoss: Math.round(up.loss * 100),
    downlinkRTT: down.rtt,
    downlinkLoss: Math.round(down.loss * 100),
  };
}

/**
 * trtc-sdk-v5's STATISTICS payload from the two connections' reports. Bitrates (kbps) are over the time
 * since `previous` (Map(stats id -> {bytes, at}) of the last call, at `now` ms). `remoteByMid`: the
 * receive transport's labelled tracks by mid; `screenMid`: the send transceiver of the screen.
 * Returns {report, bytes} (bytes: `previous` for the next call).
 */
export function statisticsReport({sendStats, recvStats, up, down, remoteByMid, screenMid, previous, now}) {
  const prev = previous || new Map();
  const next = new Map();
  const kbps = (id, bytes) => {
    next.set(id, {bytes, at: now});
    const p = prev.get(id);
    return p && now > p.at && bytes >= p.bytes ? Math.round(((bytes - p.bytes) * 8) / (now - p.at)) : 0;
  };
  const videoRow = (s, bitrate, videoType) => ({width: s.frameWidth || 0, height: s.frameHeight || 0,
    frameRate: Math.round(s.framesPerSecond || 0), bitrate, videoType});
  let bytesSent = 0;
  let bytesReceived = 0;
  const local = {audio: {bitrate: 0, audioLevel: 0}, video: []};
  if (sendStats) {
    sendStats.forEach((s) => {
      if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') {
        local.audio.audioLevel = s.audioLevel;
      }
      if (s.type !== 'outbound-rtp') return;
      bytesSent += s.bytesSent || 0;
      const bitrate = kbps(s.id, s.bytesSent || 0);
      if (s.kind === 'audio') local.audio.bitrate = bitrate;
      else local.video.push(videoRow(s, bitrate, s.mid === screenMid ? 'sub' : 'big'));
    });
  }
  const remote = new Map();
  if (recvStats) {
    recvStats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      bytesReceived += s.bytesReceived || 0;
      const e = remoteByMid.get(s.mid);
      if (!e) return;
      const bitrate = kbps(s.id, s.bytesReceived || 0);
      if (!remote.has(e.userId)) remote.set(e.userId, {userId: e.userId, audio: {bitrate: 0, audioLevel: 0}, video: []});
      const r = remote.get(e.userId);
      if (e.kind === 'audio') r.audio = {bitrate, audioLevel: s.audioLevel || 0};
      else r.video.push(videoRow(s, bitrate, e.streamType === 'sub' ? 'sub' : 'big'));
    });
  }
  const report = {
    rtt: Math.max(up.rtt, down.rtt),
    upLoss: Math.round(up.loss * 100),
    downLoss: Math.round(down.loss * 100),
    bytesSent,
    bytesReceived,
    localStatistics: local,
    remoteStatistics: [...remote.values()],
  };
  return {report, bytes: next};
}

/** RelayRoom.getRemoteStatistics()'s rows: each inbound-rtp labelled with the user it comes from
 *  (`tracks`: the receive transport's Map(key -> entry)). */
export function remoteStatisticsRows(stats, tracks) {
  const byMid = new Map();
  const byTrack = new Map();
  for (const e of tracks.values()) {
    byMid.set(e.mid, e);
    byTrack.set(e.track.id, e);
  }
  const out = [];
  stats.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const e = byMid.get(s.mid) || byTrack.get(s.trackIdentifier);
    if (!e) return;
    out.push({
      userId: e.userId, kind: e.kind, streamType: e.streamType, mid: s.mid,
      packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0,
      framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0,
      totalAudioEnergy: s.totalAudioEnergy || 0, audioLevel: s.audioLevel || 0,
    });
  });
  return out;
}

/** The capture level (0..1) of the microphone from a sender's report (media-source audioLevel). */
export function captureLevel(stats) {
  let level = 0;
  stats.forEach((s) => {
    if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') level = s.audioLevel;
  });
  return level;
}

/** How long the server's audio levels and network grades stand in for the browser's own. */
export const SERVER_VALUES_MS = 3000;

/** The `audio-volume` result list: the local user ('' when capturing) and every remote user whose main
 *  audio is available: the server's volume (the SFU reads each packet's RFC 6464 level; `server`: Map
 *  userId -> 0..100, or null), else the decoder's level (inbound-rtp audioLevel, `remoteStatisticsRows`). */
export function volumeResult(localLevel, rows, isAvailable, server = null) {
  const result = [];
  if (localLevel !== null) result.push({userId: '', volume: Math.round(localLevel * 100), floatVolume: localLevel});
  const levels = new Map();
  if (server) {
    for (const [userId, volume] of server) levels.set(userId, volume / 100);
  } else {
    for (const row of rows) {
      if (row.kind === 'audio' && row.streamType === 'main') levels.set(row.userId, row.audioLevel || 0);
    }
  }
  for (const [userId, level] of levels) {
    if (isAvailable(userId)) result.push({userId, volume: Math.round(level * 100), floatVolume: level});
  }
  return result;
}

export class StatsMonitor {
  /**
   * sendPc(), recvPc(): the transports' connections (or null); tracks(): the receive transport's
   * labelled tracks; screenMid(); linkUp(): signalling connected and not reconnecting; inRoom();
   * localAudio(): the microphone slot or null; audioSender(): its RTCRtpSender or null;
   * remoteAudioAvailable(userId); emit(event, data); wants(event): whether anyone listens.
   */
  constructor(deps) {
    this._d = deps;
    this._qualityTimer = null;
    this._volumeTimer = null;
    this._volumeInterval = 0;
    this._volumeInBackground = false;
    this._recvCounters = null;
    this._bytes = null;
    this._serverVolumes = null; // {levels: Map userId -> 0..100, at}
    this._serverQuality = null; // {up, down, at}
  }

  /** `audio-volume` from the server: the SFU's levels of every publishing member. */
  serverVolumes(data) {
    const levels = new Map();
    for (const r of Array.isArray(data.result) ? data.result : []) {
      if (r && typeof r.userId === 'string' && Number.isFinite(r.volume)) levels.set(r.userId, r.volume);
    }
    this._serverVolumes = {levels, at: performance.now()};
  }

  /** `network-quality` from the server: this member's links as the SFU measures them. */
  serverQuality(data) {
    const grade = (g) => (Number.isInteger(g) && g >= 0 && g <= 6 ? g : 0);
    this._serverQuality = {up: grade(data.uplinkNetworkQuality), down: grade(data.downlinkNetworkQuality),
      at: performance.now()};
  }

  _fresh(value) {
    return value && performance.now() - value.at <= SERVER_VALUES_MS ? value : null;
  }

  /** enableAudioVolumeEvaluation: every `interval` ms (≤ 0 turns it off); restarted by start(). */
  setVolumeInterval(interval, inBackground) {
    this._volumeInterval = interval > 0 ? Math.max(16, interval) : 0;
    this._volumeInBackground = !!inBackground;
    this._stopVolume();
    if (this._volumeInterval > 0) this._startVolume();
  }

  start() {
    this.stop();
    this._qualityTimer = setInterval(() => this.evaluateQuality().catch(() => {}), 2000);
    if (this._volumeInterval > 0) this._startVolume();
  }

  stop() {
    if (this._qualityTimer) clearInterval(this._qualityTimer);
    this._qualityTimer = null;
    this._stopVolume();
  }

  /** The transports were replaced: the downlink counters start over. */
  reset() {
    this._recvCounters = null;
  }

  async remoteStatistics() {
    const pc = this._d.recvPc();
    if (!pc) return [];
    return remoteStatisticsRows(await pc.getStats(), this._d.tracks());
  }

  async evaluateQuality() {
    const d = this._d;
    if (!d.inRoom()) return;
    const sendPc = d.sendPc();
    const recvPc = d.recvPc();
    const sendStats = sendPc && sendPc.connectionState !== 'closed' ? await sendPc.getStats() : null;
    const recvStats = recvPc && recvPc.connectionState !== 'closed' ? await recvPc.getStats() : null;
    if (!d.inRoom()) return;
    let up = DISCONNECTED;
    let down = DISCONNECTED;
    if (d.linkUp()) {
      up = connectionQuality(sendPc ? sendPc.connectionState : null, sendStats, 'up');
      down = connectionQuality(recvPc ? recvPc.connectionState : null, recvStats, 'down', this._recvCounters);
      this._recvCounters = down.counters;
    }
    const server = this._fresh(this._serverQuality);
    if (server && d.linkUp()) {
      // the worse of what this browser and the SFU measure (0 = unknown on either side)
      up = {...up, quality: Math.max(up.quality, server.up)};
      down = {...down, quality: Math.max(down.quality, server.down)};
    }
    d.emit(EVENT.NETWORK_QUALITY, networkQualityEvent(up, down));
    if (!d.wants(EVENT.STATISTICS)) return;
    const remoteByMid = new Map();
    for (const e of d.tracks().values()) remoteByMid.set(e.mid, e);
    const {report, bytes} = statisticsReport({sendStats, recvStats, up, down, remoteByMid, screenMid: d.screenMid(),
      previous: this._bytes, now: performance.now()});
    this._bytes = bytes;
    d.emit(EVENT.STATISTICS, report);
  }

  async evaluateVolume() {
    const d = this._d;
    if (!this._volumeInBackground && typeof document !== 'undefined' && document.hidden) return;
    const local = d.localAudio();
    const sender = d.audioSender();
    let level = 0;
    if (d.sendPc() && sender && sender.track && local && !local.mute) level = captureLevel(await sender.getStats());
    const server = this._fresh(this._serverVolumes);
    const rows = server ? [] : await this.remoteStatistics();
    d.emit(EVENT.AUDIO_VOLUME, {result: volumeResult(local ? level : null, rows, d.remoteAudioAvailable,
      server ? server.levels : null)});
  }

  _startVolume() {
    this._stopVolume();
    this._volumeTimer = setInterval(() => this.evaluateVolume().catch(() => {}), this._volumeInterval);
  }

  _stopVolume() {
    if (this._volumeTimer) clearInterval(this._volumeTimer);
    this._volumeTimer = null;
  }
}

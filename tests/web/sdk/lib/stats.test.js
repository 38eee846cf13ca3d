// Statistics aggregation (src/relayroom/web/sdk/lib/stats.js): getStats reports in, TRTC's payloads out.
// A report is faked as a Map, which has the forEach an RTCStatsReport has.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {
  captureLevel, connectionQuality, grade, networkQualityEvent, remoteStatisticsRows, statisticsReport, volumeResult,
} from '../../../../src/relayroom/web/sdk/lib/stats.js';

const report = (...rows) => new Map(rows.map((r, i) => [r.id || `s${i}`, r]));
const pair = (rttS) => ({type: 'candidate-pair', nominated: true, currentRoundTripTime: rttS});

describe('network quality', () => {
  test('grades follow the loss and round-trip thresholds', () => {
    assert.equal(grade(null, null), 0);
    assert.equal(grade(50, 0), 1);
    assert.equal(grade(150, 0.02), 2);
    assert.equal(grade(50, 0.05), 3);
    assert.equal(grade(500, 0), 4);
    assert.equal(grade(50, 0.2), 5);
    assert.equal(grade(900, 0), 5);
  });

  test('uplink: the worst loss and round trip the server\'s receiver reports give', () => {
    const stats = report(pair(0.02), {type: 'remote-inbound-rtp', fractionLost: 0.01, roundTripTime: 0.15},
      {type: 'remote-inbound-rtp', fractionLost: 0.05, roundTripTime: 0.03});
    assert.deepEqual(connectionQuality('connected', stats, 'up'), {quality: 3, rtt: 150, loss: 0.05, counters: null});
  });

  test('downlink: loss from the packet counters since the previous call', () => {
    const first = connectionQuality('connected', report(pair(0.01), {type: 'inbound-rtp', packetsReceived: 1000, packetsLost: 10}), 'down');
    assert.deepEqual(first, {quality: 1, rtt: 10, loss: 0, counters: {received: 1000, lost: 10}});
    const second = connectionQuality('connected', report(pair(0.01),
      {type: 'inbound-rtp', packetsReceived: 1500, packetsLost: 30},
      {type: 'inbound-rtp', packetsReceived: 400, packetsLost: -5}), 'down', first.counters);
    // 900 more received, 20 more lost (negative losses count as none)
    assert.equal(second.loss, 20 / 920);
    assert.equal(second.quality, 2);
    assert.deepEqual(second.counters, {received: 1900, lost: 30});
  });

  test('a dead connection is 6; no connection or one still connecting is 0', () => {
    for (const state of ['failed', 'disconnected', 'closed']) {
      assert.equal(connectionQuality(state, report(), 'up').quality, 6, state);
    }
    assert.equal(connectionQuality(null, null, 'up').quality, 0);
    const connecting = connectionQuality('connecting', report(pair(0.3)), 'up');
    assert.deepEqual([connecting.quality, connecting.rtt], [0, 300]);
  });

  test('the event carries percentages', () => {
    assert.deepEqual(networkQualityEvent({quality: 2, rtt: 120, loss: 0.024}, {quality: 1, rtt: 20, loss: 0}), {
      uplinkNetworkQuality: 2, downlinkNetworkQuality: 1, uplinkRTT: 120, uplinkLoss: 2, downlinkRTT: 20, downlinkLoss: 0,
    });
  });
});

describe('statistics event', () => {
  const up = {quality: 1, rtt: 40, loss: 0.011};
  const down = {quality: 1, rtt: 60, loss: 0.02};
  const remoteByMid = new Map([
    ['0', {userId: 'bob', kind: 'audio', streamType: 'main'}],
    ['1', {userId: 'bob', kind: 'video', streamType: 'main'}],
    ['2', {userId: 'bob', kind: 'video', streamType: 'sub'}],
  ]);
  const send = (bytes) => report(
    {id: 'ms', type: 'media-source', kind: 'audio', audioLevel: 0.3},
    {id: 'oa', type: 'outbound-rtp', kind: 'audio', bytesSent: bytes},
    {id: 'ov', type: 'outbound-rtp', kind: 'video', mid: '1', bytesSent: bytes * 10, frameWidth: 640, frameHeight: 480, framesPerSecond: 14.6},
    {id: 'os', type: 'outbound-rtp', kind: 'video', mid: '2', bytesSent: bytes * 5, frameWidth: 1280, frameHeight: 720, framesPerSecond: 5},
  );
  const recv = (bytes) => report(
    {id: 'ia', type: 'inbound-rtp', mid: '0', bytesReceived: bytes, audioLevel: 0.5},
    {id: 'iv', type: 'inbound-rtp', mid: '1', bytesReceived: bytes * 10, frameWidth: 320, frameHeight: 240, framesPerSecond: 15},
    {id: 'is', type: 'inbound-rtp', mid: '2', bytesReceived: bytes * 2},
    {id: 'ix', type: 'inbound-rtp', mid: '9', bytesReceived: 7},
  );

  test('bitrates are kbps over the time since the previous report; totals include unlabelled streams', () => {
    const first = statisticsReport({sendStats: send(1000), recvStats: recv(1000), up, down, remoteByMid, screenMid: '2',
      previous: null, now: 1000});
    assert.equal(first.report.localStatistics.audio.bitrate, 0); // no previous report yet
    const {report: r} = statisticsReport({sendStats: send(6000), recvStats: recv(3000), up, down, remoteByMid,
      screenMid: '2', previous: first.bytes, now: 2000});
    assert.deepEqual([r.rtt, r.upLoss, r.downLoss, r.bytesSent, r.bytesReceived], [60, 1, 2, 96000, 39007]);
    assert.deepEqual(r.localStatistics, {
      audio: {bitrate: 40, audioLevel: 0.3},
      video: [
        {width: 640, height: 480, frameRate: 15, bitrate: 400, videoType: 'big'},
        {width: 1280, height: 720, frameRate: 5, bitrate: 200, videoType: 'sub'},
      ],
    });
    assert.deepEqual(r.remoteStatistics, [{userId: 'bob', audio: {bitrate: 16, audioLevel: 0.5}, video: [
      {width: 320, height: 240, frameRate: 15, bitrate: 160, videoType: 'big'},
      {width: 0, height: 0, frameRate: 0, bitrate: 32, videoType: 'sub'},
    ]}]);
  });

  test('a counter that went backwards (a new connection) gives 0, not a negative bitrate', () => {
    const first = statisticsReport({sendStats: send(5000), recvStats: null, up, down, remoteByMid, screenMid: null,
      previous: null, now: 0});
    const {report: r} = statisticsReport({sendStats: send(100), recvStats: null, up, down, remoteByMid, screenMid: null,
      previous: first.bytes, now: 1000});
    assert.equal(r.localStatistics.audio.bitrate, 0);
    assert.deepEqual(r.remoteStatistics, []);
  });
});

describe('per-stream rows and volumes', () => {
  test('inbound streams are labelled by mid, or by track id when the mid is missing', () => {
    const tracks = new Map([
      ['bob|audio|main', {userId: 'bob', kind: 'audio', streamType: 'main', mid: '0', track: {id: 't0'}}],
      ['bob|video|main', {userId: 'bob', kind: 'video', streamType: 'main', mid: '1', track: {id: 't1'}}],
    ]);
    const rows = remoteStatisticsRows(report(
      {type: 'inbound-rtp', mid: '0', packetsReceived: 5, totalAudioEnergy: 0.2},
      {type: 'inbound-rtp', trackIdentifier: 't1', framesDecoded: 30, frameWidth: 320},
      {type: 'inbound-rtp', mid: '7'},
      {type: 'outbound-rtp', mid: '0'},
    ), tracks);
    assert.deepEqual(rows.map((r) => [r.userId, r.kind, r.packetsReceived, r.framesDecoded, r.totalAudioEnergy]),
      [['bob', 'audio', 5, 0, 0.2], ['bob', 'video', 0, 30, 0]]);
  });

  test('volumes: the local user as "" when capturing, remote users only while their audio is available', () => {
    assert.equal(captureLevel(report({type: 'media-source', kind: 'audio', audioLevel: 0.25}, {type: 'media-source', kind: 'video'})), 0.25);
    const rows = [
      {userId: 'bob', kind: 'audio', streamType: 'main', audioLevel: 0.5},
      {userId: 'carol', kind: 'audio', streamType: 'main', audioLevel: 0.9},
      {userId: 'bob', kind: 'video', streamType: 'main', audioLevel: 0},
    ];
    assert.deepEqual(volumeResult(0.25, rows, (u) => u === 'bob'), [
      {userId: '', volume: 25, floatVolume: 0.25},
      {userId: 'bob', volume: 50, floatVolume: 0.5},
    ]);
    assert.deepEqual(volumeResult(null, rows, () => false), []);
  });
});

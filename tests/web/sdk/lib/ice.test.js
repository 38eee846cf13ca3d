// ICE configuration of the browser SDK (src/relayroom/web/sdk/lib/ice.js): TRTC's `proxy` option, the
// server's `iceServers`, relay-only without TURN, and what a refusing TURN server turns into.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {
  checkRelayPossible, iceConfiguration, isTurnAuthError, serverIceServers, validateProxy, watchIce,
} from '../../../../src/relayroom/web/sdk/lib/ice.js';
import {setLevel} from '../../../../src/relayroom/web/sdk/lib/log.js';

setLevel(5);

const TURN = {url: 'turn:turn.example.org:3478?transport=udp', username: '1700000000:alice', credential: 'c2VjcmV0'};
const fails = (fn, extra = 0) => assert.throws(fn, (e) => e.code === 5000 && e.extraCode === extra);

describe('proxy (TRTC enterRoom option)', () => {
  test('absent, null or a string (a websocket proxy) means no TURN server and policy all', () => {
    for (const proxy of [undefined, null, 'wss://proxy.example.org/ws']) {
      assert.deepEqual(validateProxy(proxy), {turnServers: [], iceTransportPolicy: 'all'});
    }
  });

  test('turnServer (one or a list) becomes RTCIceServer entries; url is TRTC\'s name, urls WebRTC\'s', () => {
    assert.deepEqual(validateProxy({turnServer: TURN, iceTransportPolicy: 'relay'}), {
      turnServers: [{urls: TURN.url, username: TURN.username, credential: TURN.credential}],
      iceTransportPolicy: 'relay',
    });
    const two = validateProxy({turnServer: [TURN, {urls: ['turns:t.example.org:5349', 'turn:t.example.org'],
      username: 'u', credential: 'p', credentialType: 'password'}]});
    assert.equal(two.turnServers.length, 2);
    assert.deepEqual(two.turnServers[1].urls, ['turns:t.example.org:5349', 'turn:t.example.org']);
    assert.deepEqual(validateProxy({turnServer: {url: 'stun:stun.example.org'}}).turnServers, [{urls: 'stun:stun.example.org'}]);
    // the other TRTC proxy fields are accepted and not used
    assert.deepEqual(validateProxy({websocketProxy: 'wss://p', loggerProxy: 'https://l'}), {turnServers: [], iceTransportPolicy: 'all'});
  });

  test('malformed values are RtcError 5000 before anything is sent', () => {
    fails(() => validateProxy(42));
    fails(() => validateProxy([TURN]));
    fails(() => validateProxy({iceTransportPolicy: 'none'}));
    fails(() => validateProxy({turnServer: {url: 'http://turn.example.org'}}));
    fails(() => validateProxy({turnServer: {url: 'turn:t.example.org'}})); // no credential
    fails(() => validateProxy({turnServer: {...TURN, username: ''}}));
    fails(() => validateProxy({turnServer: {...TURN, credentialType: 'oauth'}}));
    fails(() => validateProxy({turnServer: [TURN, null]}));
    fails(() => validateProxy({turnServer: {url: []}}));
  });
});

describe('the RTCConfiguration', () => {
  const fromServer = [{urls: ['turn:127.0.0.1:3478?transport=udp'], username: '1:bob', credential: 'x'}];

  test('the application\'s TURN servers come first, then the server\'s; junk from the server is skipped', () => {
    const config = iceConfiguration(validateProxy({turnServer: TURN, iceTransportPolicy: 'relay'}),
      [...fromServer, null, 'turn:x', {urls: 3}]);
    assert.deepEqual(config.iceServers.map((s) => s.urls), [TURN.url, fromServer[0].urls]);
    assert.equal(config.iceTransportPolicy, 'relay');
    assert.deepEqual(serverIceServers(undefined), []);
  });

  test('relay-only needs a TURN server from somewhere (a STUN server is not one)', () => {
    const relay = validateProxy({iceTransportPolicy: 'relay'});
    assert.throws(() => checkRelayPossible(iceConfiguration(relay, [])), (e) => e.code === 5000 && /needs a TURN server/.test(e.message));
    assert.throws(() => checkRelayPossible(iceConfiguration(validateProxy({turnServer: {url: 'stun:s.example.org'},
      iceTransportPolicy: 'relay'}), [])));
    checkRelayPossible(iceConfiguration(relay, fromServer));
    checkRelayPossible(iceConfiguration(validateProxy(null), []));
  });
});

class FakePc extends EventTarget {
  constructor() {
    super();
    this.iceConnectionState = 'new';
  }

  state(s) {
    this.iceConnectionState = s;
    this.dispatchEvent(new Event('iceconnectionstatechange'));
  }

  candidateError(fields) {
    this.dispatchEvent(Object.assign(new Event('icecandidateerror'), fields));
  }
}

describe('watching ICE', () => {
  const refusal = {url: 'turn:127.0.0.1:3478?transport=udp', errorCode: 401, errorText: 'Unauthorized'};

  test('a TURN 401/431 is an auth error; other errors and STUN URLs are not', () => {
    assert.ok(isTurnAuthError(refusal));
    assert.ok(isTurnAuthError({...refusal, errorCode: 431}));
    assert.ok(!isTurnAuthError({...refusal, errorCode: 701}));
    assert.ok(!isTurnAuthError({...refusal, url: 'stun:127.0.0.1:3478'}));
  });

  test('relay-only: a refused credential is reported at once, once, naming the server', () => {
    const pc = new FakePc();
    const got = [];
    watchIce(pc, {policy: 'relay', side: 'connect', onFailure: (e) => got.push(e)});
    pc.candidateError(refusal);
    pc.candidateError(refusal);
    pc.state('failed');
    assert.equal(got.length, 1);
    assert.deepEqual([got[0].code, got[0].extraCode], [5500, 5511]);
    assert.match(got[0].message, /refused the credentials.*turn:127\.0\.0\.1:3478\?transport=udp: 401 Unauthorized/);
  });

  test('policy all: a refusal alone is not fatal; a connection that never connected and failed is', () => {
    const pc = new FakePc();
    const got = [];
    watchIce(pc, {policy: 'all', side: 'connect', onFailure: (e) => got.push(e)});
    pc.candidateError(refusal);
    assert.equal(got.length, 0);
    pc.state('checking');
    pc.state('failed');
    assert.deepEqual([got[0].code, got[0].extraCode], [5500, 5511]);

    const plain = new FakePc();
    watchIce(plain, {policy: 'all', side: 'connect', onFailure: (e) => got.push(e)});
    plain.state('failed');
    assert.deepEqual([got[1].code, got[1].extraCode], [5500, 5510]);
  });

  test('a connection that worked and then failed is left to the reconnect logic', () => {
    const pc = new FakePc();
    const got = [];
    watchIce(pc, {policy: 'relay', side: 'connect', onFailure: (e) => got.push(e)});
    pc.state('connected');
    pc.state('disconnected');
    pc.state('failed');
    assert.equal(got.length, 0);
  });
});

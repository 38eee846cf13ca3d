// relayroom.d.ts used the way a trtc-sdk-v5 application uses the SDK, type-checked with `tsc --strict`
// (make test). The `@ts-expect-error` lines are misuses the declarations must refuse: if a type
// loosens (to `any`, or a wider union), tsc reports the unused directive and the check fails.
import RelayRoom, {
  ERROR_CODE, EVENT, RtcError, TYPE, fromServerError, signalUrl, validateEnterRoomParams, validateRoom,
} from '../../../src/relayroom/web/sdk/relayroom.js';
import type {EnterRoomConfig, EventMap, NetworkQuality, RemoteStatistics} from '../../../src/relayroom/web/sdk/relayroom.js';

export async function call(sdkAppId: number, userSig: string, view: HTMLElement): Promise<void> {
  const rr: RelayRoom = RelayRoom.create({serverUrl: 'wss://rtc.example.com/signal'});
  RelayRoom.setLogLevel(2);
  const {result} = await RelayRoom.isSupported();
  const cameras: MediaDeviceInfo[] = await RelayRoom.getCameraList();
  if (!result || cameras.length === 0) return;

  rr.on(RelayRoom.EVENT.REMOTE_VIDEO_AVAILABLE, ({userId, streamType}) => {
    void rr.startRemoteVideo({userId, streamType, view: `tile-${userId}`, option: {fillMode: 'contain', small: true}});
    void rr.updateRemoteVideo({userId, option: {small: false}});
  });
  rr.on(EVENT.REMOTE_USER_EXIT, ({userId, reason}) => {
    const why: 0 | 1 | 2 | 3 = reason;
    void rr.stopRemoteVideo({userId, streamType: why === 3 ? 'main' : 'sub'});
  });
  rr.on('custom-message', ({cmdId, data}) => new TextDecoder().decode(data).length + cmdId);
  rr.on('network-quality', (q) => {
    const worst: NetworkQuality = q.uplinkNetworkQuality;
    return worst === TYPE.QUALITY_BAD;
  });
  rr.once('connection-state-changed', ({state}) => state === TYPE.CONNECTION_STATE_RECONNECTING);
  rr.on('statistics', (s: EventMap['statistics']) => s.remoteStatistics.map((r) => r.video.length));
  rr.on('error', (e: RtcError) => e.code === ERROR_CODE.OPERATION_FAILED && e.extraCode === RelayRoom.EXTRA_CODE.RECONNECT_FAILED);
  rr.on('sei-message', ({userId, streamType, seiPayloadType, data}) => `${userId}${streamType}${seiPayloadType}${data.byteLength}`);
  rr.on(EVENT.TRACK, ({userId, track}) => userId === '' && track.kind === 'video');
  rr.on('first-video-frame', ({width, height}) => width * height);
  rr.on('video-size-changed', ({newWidth, newHeight}) => newWidth / newHeight);
  rr.on('video-play-state-changed', ({state, reason}) => state === 'PLAYING' && reason === 'unmute');
  rr.on('audio-play-state-changed', ({userId, state}) => userId + state);
  rr.on('device-changed', ({type, action, device}) => type === 'camera' && action === 'add' && device.label);
  rr.on('permission-state-change', ({camera, microphone}) => camera === 'granted' && microphone !== null);
  rr.on('connection-state-changed', ({state}) => state === TYPE.CONNECTION_STATE_RECONNECTED);
  rr.off('*');
  const sei = RelayRoom.create({enableSEI: true});
  const {detail} = await RelayRoom.isSupported();
  if (detail.isH264EncodeSupported) sei.sendSEIMessage(new TextEncoder().encode('lyric').buffer, {seiPayloadType: 243});
  const permissions = await RelayRoom.getPermissions({request: false, types: ['camera']});
  await RelayRoom.setCurrentSpeaker(permissions.camera === 'granted' ? 'default' : '');
  void (await RelayRoom.getSpeakerList(false));

  const config: EnterRoomConfig = {sdkAppId, userId: 'alice', userSig, roomId: 8888, scene: 'live', role: 'audience',
    proxy: {turnServer: [{url: 'turn:turn.example.org:3478', username: 'u', credential: 'p'}], iceTransportPolicy: 'relay'}};
  try {
    await rr.enterRoom(config);
    await rr.switchRole('anchor', {privateMapKey: 'pmk'});
    await rr.startLocalAudio({option: {profile: 'high'}});
    await rr.startLocalVideo({view, option: {profile: '720p', mirror: false, small: '180p'}});
    await rr.updateLocalVideo({option: {small: true}});
    await rr.updateLocalVideo({option: {profile: {width: 640, height: 360, frameRate: 30}}});
    await rr.startScreenShare({option: {profile: '1080p', systemAudio: true}});
    await rr.updateScreenShare({publish: false, option: {fillMode: 'cover'}});
    await rr.switchRoom({userSig, roomId: 9999});
    const snapshot: string = rr.getVideoSnapshot({userId: 'bob', streamType: 'main'});
    const remoteAudio: MediaStreamTrack | null = rr.getAudioTrack('bob');
    const screenAudio: MediaStreamTrack | null = rr.getAudioTrack({streamType: 'sub'});
    const remoteVideo: MediaStreamTrack | null = rr.getVideoTrack({userId: 'bob', streamType: 'sub'});
    void [snapshot, remoteAudio, screenAudio, remoteVideo];
    const seq: number = await rr.sendCustomMessage({cmdId: 1, data: new TextEncoder().encode('hi')});
    rr.setRemoteAudioVolume('bob', 50);
    await rr.muteRemoteAudio('*', true);
    rr.enableAudioVolumeEvaluation(500);
    const stats: RemoteStatistics[] = await rr.getRemoteStatistics();
    const track: MediaStreamTrack | null = rr.getLocalTrack('screen');
    const room = rr.room;
    if (room) void (room.roomId ?? room.strRoomId);
    void [seq, stats, track, rr.connectionState, rr.getRemoteUsers()];
  } catch (e) {
    if (e instanceof RtcError) void e.functionName;
  } finally {
    await rr.exitRoom();
    await rr.destroy();
  }

  // End-to-end encryption: a passphrase (or raw bytes) from the application; rotation; e2ee-error.
  rr.on(EVENT.E2EE_ERROR, ({userId, reason}) => reason === 'no-key' && userId === 'bob');
  await rr.enterRoom({sdkAppId, userId: 'alice', userSig, roomId: 8888, e2ee: {key: 'a shared passphrase'}});
  await rr.setE2EEKey(crypto.getRandomValues(new Uint8Array(32)));
  await rr.ratchetE2EEKey();
  void rr.room?.e2ee;
  // @ts-expect-error: the key is a string or bytes
  await rr.enterRoom({sdkAppId, userId: 'alice', userSig, roomId: 8888, e2ee: {key: 1234}});

  // @ts-expect-error: roomId is a number ("123" is not 123)
  await rr.enterRoom({sdkAppId, userId: 'alice', userSig, roomId: '8888'});
  // @ts-expect-error: the ICE transport policy is 'all' or 'relay'
  await rr.enterRoom({...config, proxy: {iceTransportPolicy: 'none'}});
  rr.on('error', (e) => e.extraCode === RelayRoom.EXTRA_CODE.TURN_AUTH_FAILED);
  // @ts-expect-error: SEI payload types are 243 and 5
  rr.sendSEIMessage(new ArrayBuffer(1), {seiPayloadType: 6});
  // @ts-expect-error: sendSEIMessage returns nothing (it throws on refusal)
  const sent: Promise<void> = rr.sendSEIMessage(new ArrayBuffer(1));
  void sent;
  // @ts-expect-error: roomId is a number in switchRoom too
  await rr.switchRoom({userSig, roomId: '62'});
  // @ts-expect-error: there is no such role
  await rr.switchRole('host');
  // @ts-expect-error: video profiles are named
  await rr.startLocalVideo({option: {profile: '8K'}});
  // @ts-expect-error: audio events carry no stream type
  rr.on('remote-audio-available', ({streamType}) => streamType);
  // @ts-expect-error: unknown event
  rr.on('remote-video-resized', () => {});
  // @ts-expect-error: a number, not a string
  const wrong: string = ERROR_CODE.INVALID_PARAMETER;
  void wrong;
}

export function validators(): string {
  const room = validateRoom(undefined, 'lobby');
  const data = validateEnterRoomParams({sdkAppId: 1, userId: 'a', userSig: 's', roomId: 1});
  const err: RtcError = fromServerError({code: -100018}, 'enterRoom');
  return `${JSON.stringify(room)} ${JSON.stringify(data)} ${err.code} ${signalUrl()}`;
}

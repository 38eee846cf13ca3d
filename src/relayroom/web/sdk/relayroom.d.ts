// Type declarations for the RelayRoom browser SDK (/sdk/relayroom.js), shaped like trtc-sdk-v5's index.d.ts.

export declare const ERROR_CODE: Readonly<{
  INVALID_PARAMETER: 5000;
  INVALID_OPERATION: 5100;
  ENV_NOT_SUPPORTED: 5200;
  DEVICE_ERROR: 5300;
  SERVER_ERROR: 5400;
  OPERATION_FAILED: 5500;
  OPERATION_ABORT: 5998;
  UNKNOWN_ERROR: 5999;
}>;

export declare const EXTRA_CODE: Readonly<{
  ROOM_ID_OUT_OF_RANGE: 5012;
  STR_ROOM_ID_INVALID: 5013;
  ROOM_ID_MISSING: 5015;
  ROOM_ID_NOT_NUMBER: 5016;
  BUFFER_EMPTY: 5017;
  BUFFER_OVERSIZE: 5018;
  ROOM_ID_TYPE_MISMATCH: 5019;
  ROOM_ID_DUPLICATE: 5020;
  NOT_IN_ROOM: 5101;
  REMOTE_USER_MISSING: 5102;
  SEI_NOT_ENABLED: 5108;
  NEEDS_PUBLISHED: 5109;
  NOT_SUPPORTED_SCREEN_SHARE: 5205;
  NOT_SUPPORTED_SMALL_VIDEO: 5206;
  NOT_SUPPORTED_SEI: 5207;
  NOT_SUPPORTED_PLUGIN: 5210;
  DEVICE_NOT_FOUND: 5301;
  DEVICE_NOT_ALLOWED: 5302;
  DEVICE_NOT_READABLE: 5303;
  DEVICE_OVERCONSTRAINED: 5304;
  DEVICE_INVALID_STATE: 5305;
  DEVICE_SECURITY: 5306;
  DEVICE_ABORTED: 5307;
  RECONNECT_FAILED: 5501;
  SIGNAL_CLOSED: 5502;
  TIMEOUT: 5503;
  MEDIA_CONNECTION_FAILED: 5510;
  TURN_AUTH_FAILED: 5511;
}>;

export declare const EVENT: Readonly<{
  ERROR: 'error';
  AUTOPLAY_FAILED: 'autoplay-failed';
  KICKED_OUT: 'kicked-out';
  REMOTE_USER_ENTER: 'remote-user-enter';
  REMOTE_USER_EXIT: 'remote-user-exit';
  REMOTE_AUDIO_AVAILABLE: 'remote-audio-available';
  REMOTE_AUDIO_UNAVAILABLE: 'remote-audio-unavailable';
  REMOTE_VIDEO_AVAILABLE: 'remote-video-available';
  REMOTE_VIDEO_UNAVAILABLE: 'remote-video-unavailable';
  AUDIO_VOLUME: 'audio-volume';
  NETWORK_QUALITY: 'network-quality';
  CONNECTION_STATE_CHANGED: 'connection-state-changed';
  CUSTOM_MESSAGE: 'custom-message';
  SCREEN_SHARE_STOPPED: 'screen-share-stopped';
  PUBLISH_STATE_CHANGED: 'publish-state-changed';
  STATISTICS: 'statistics';
  E2EE_ERROR: 'e2ee-error';
  AUDIO_PLAY_STATE_CHANGED: 'audio-play-state-changed';
  VIDEO_PLAY_STATE_CHANGED: 'video-play-state-changed';
  DEVICE_CHANGED: 'device-changed';
  TRACK: 'track';
  SEI_MESSAGE: 'sei-message';
  FIRST_VIDEO_FRAME: 'first-video-frame';
  PERMISSION_STATE_CHANGE: 'permission-state-change';
  VIDEO_SIZE_CHANGED: 'video-size-changed';
  /** Not emitted: `on()` throws RtcError 5200 for the five below. */
  AUDIO_FRAME: 'audio-frame';
  REALTIME_TRANSCRIBER_MESSAGE: 'realtime-transcriber-message';
  REALTIME_TRANSCRIBER_STATE_CHANGED: 'realtime-transcriber-state-changed';
  PICTURE_IN_PICTURE_STATE_CHANGED: 'picture-in-picture-state-changed';
  FULL_SCREEN_STATE_CHANGED: 'full-screen-state-changed';
}>;

export declare const TYPE: Readonly<{
  SCENE_RTC: 'rtc';
  SCENE_LIVE: 'live';
  ROLE_ANCHOR: 'anchor';
  ROLE_AUDIENCE: 'audience';
  STREAM_TYPE_MAIN: 'main';
  STREAM_TYPE_SUB: 'sub';
  CONNECTION_STATE_DISCONNECTED: 'DISCONNECTED';
  CONNECTION_STATE_CONNECTING: 'CONNECTING';
  CONNECTION_STATE_CONNECTED: 'CONNECTED';
  CONNECTION_STATE_RECONNECTING: 'RECONNECTING';
  CONNECTION_STATE_RECONNECTED: 'RECONNECTED';
  QUALITY_UNKNOWN: 0;
  QUALITY_EXCELLENT: 1;
  QUALITY_GOOD: 2;
  QUALITY_POOR: 3;
  QUALITY_BAD: 4;
  QUALITY_VERY_BAD: 5;
  QUALITY_DISCONNECTED: 6;
}>;

export type Scene = 'rtc' | 'live';
export type Role = 'anchor' | 'audience';
export type StreamType = 'main' | 'sub';
/** RECONNECTED is passed through on the way back to CONNECTED after a reconnect. */
export type ConnectionState = 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'RECONNECTING' | 'RECONNECTED';
export type PlayerState = 'PLAYING' | 'PAUSED' | 'STOPPED';
export type PlayerStateReason = 'playing' | 'pause' | 'mute' | 'unmute' | 'ended';
/** 0 unknown, 1 excellent, 2 good, 3 poor, 4 bad, 5 very bad, 6 disconnected */
export type NetworkQuality = 0 | 1 | 2 | 3 | 4 | 5 | 6;
export type VideoProfileName = '120p' | '180p' | '240p' | '360p' | '480p' | '720p' | '1080p' | '1440p' | '4K';
export type ScreenShareProfileName = '480p' | '720p' | '1080p';
export type AudioProfileName = 'standard' | 'standard-stereo' | 'high' | 'high-stereo';
export interface VideoProfile { width: number; height: number; frameRate?: number; bitrate?: number }
/** An element id or the element the SDK renders a <video> into. */
export type View = string | HTMLElement | null;

export declare class RtcError extends Error {
  readonly name: 'RtcError';
  /** ERROR_CODE value */
  readonly code: number;
  /** Detail: 5012/5013/5015/5016 for room ids, 51xx, 53xx, or the server's own code (e.g. −100018) with 5400. */
  readonly extraCode: number;
  /** The API call that failed, e.g. 'enterRoom'. */
  readonly functionName: string;
}


/** trtc-sdk-v5's TurnServerOptions; `urls` (WebRTC's name) is accepted too. */
export interface TurnServerOptions {
  url?: string;
  urls?: string | string[];
  username?: string;
  credential?: string;
  credentialType?: 'password';
}

/** trtc-sdk-v5's ProxyServer. RelayRoom uses turnServer and iceTransportPolicy; the other fields (and a
 *  string: a websocket proxy) are accepted and not used (serverUrl says where signalling goes). */
export interface ProxyServer {
  turnServer?: TurnServerOptions | TurnServerOptions[];
  /** 'relay': all media through a TURN server (this one's or the RelayRoom server's). Default 'all'. */
  iceTransportPolicy?: 'all' | 'relay';
  websocketProxy?: string;
  loggerProxy?: string;
  scheduleProxy?: string;
  unifiedProxy?: string;
  webtransportProxy?: string;
}

export interface EnterRoomConfig {
  sdkAppId: number;
  userId: string;
  userSig: string;
  /** Integer 1..4294967294. Wins over strRoomId when both are given. */
  roomId?: number;
  /** 1..64 bytes of [a-zA-Z0-9], space and !#$%&()+-:;<=.>?@[]^_{}|~, — a different room than the number. */
  strRoomId?: string;
  scene?: Scene;
  role?: Role;
  privateMapKey?: string;
  /** default true */
  autoReceiveAudio?: boolean;
  /** default false (as trtc-sdk-v5 ≥ 5.6): call startRemoteVideo on remote-video-available */
  autoReceiveVideo?: boolean;
  /** RelayRoom: the signalling URL for this entry (default: create()'s, else the page's origin /signal). */
  serverUrl?: string;
  /** RelayRoom: a consent token when the application's consent policy asks for one. */
  consentToken?: string;
  /** TURN servers and ICE policy (the server's own TURN servers are always added). */
  proxy?: ProxyServer | string;
  /** RelayRoom: end-to-end encrypt media with `key`, a passphrase or raw bytes (≥ 16) that every member
   *  gets from the application (docs/e2ee.md). The key never leaves the browser. */
  e2ee?: E2EEConfig;
}

/** A passphrase, or raw key bytes (at least 16). */
export type E2EEKey = string | ArrayBuffer | ArrayBufferView;
export interface E2EEConfig {
  key: E2EEKey;
}

export interface LocalAudioConfig {
  publish?: boolean;
  mute?: boolean;
  option?: {
    microphoneId?: string;
    audioTrack?: MediaStreamTrack;
    profile?: AudioProfileName;
    echoCancellation?: boolean;
    noiseSuppression?: boolean;
    autoGainControl?: boolean;
  };
}

export interface LocalVideoConfig {
  view?: View;
  publish?: boolean;
  mute?: boolean;
  option?: {
    cameraId?: string;
    useFrontCamera?: boolean;
    videoTrack?: MediaStreamTrack;
    profile?: VideoProfileName | VideoProfile;
    fillMode?: 'contain' | 'cover' | 'fill';
    mirror?: boolean;
    /** Also send the small stream (a second, lower simulcast encoding): true = half the width and height
     *  at a quarter of the bitrate, or a profile narrower than the big one. */
    small?: boolean | VideoProfileName | VideoProfile;
  };
}

export interface ScreenShareConfig {
  view?: View;
  publish?: boolean;
  option?: {
    profile?: ScreenShareProfileName | VideoProfile;
    fillMode?: 'contain' | 'cover' | 'fill';
    /** Capture the system (tab) audio too; it is sent in the user's audio stream, mixed with the microphone. */
    systemAudio?: boolean;
    echoCancellation?: boolean;
    noiseSuppression?: boolean;
    autoGainControl?: boolean;
    /** Your own tracks instead of a capture. */
    videoTrack?: MediaStreamTrack;
    audioTrack?: MediaStreamTrack;
  };
}

export interface UpdateScreenShareConfig {
  view?: View;
  publish?: boolean;
  option?: { fillMode?: 'contain' | 'cover' | 'fill'; videoTrack?: MediaStreamTrack; audioTrack?: MediaStreamTrack };
}

export interface CreateOptions {
  /** Signalling URL: ws(s)://host/signal, or http(s)://host (then /signal). Default: this page's origin. */
  serverUrl?: string;
  /** sendSEIMessage and SEI_MESSAGE: the camera and the screen are then sent as H.264. */
  enableSEI?: boolean;
}

export interface SwitchRoomConfig {
  /** Default: the UserSig of enterRoom. */
  userSig?: string;
  roomId?: number;
  strRoomId?: string;
  privateMapKey?: string;
}

export interface SupportDetail {
  isBrowserSupported: boolean;
  isWebRTCSupported: boolean;
  isWebCodecsSupported: boolean;
  isMediaDevicesSupported: boolean;
  isScreenShareSupported: boolean;
  /** Always false: RelayRoom sends one encoding per track. */
  isSmallStreamSupported: boolean;
  isH264EncodeSupported: boolean;
  isH264DecodeSupported: boolean;
  isVp8EncodeSupported: boolean;
  isVp8DecodeSupported: boolean;
}

export type PermissionValue = 'granted' | 'denied' | 'prompt' | null;
export interface PermissionResult { camera: PermissionValue; microphone: PermissionValue }

export interface RemoteVideoConfig {
  userId: string;
  streamType?: StreamType;
  view?: View;
  /** small: true receives the publisher's small stream (its big one when it sends none); false the big one.
   *  updateRemoteVideo switches at the publisher's next key frame. */
  option?: { fillMode?: 'contain' | 'cover' | 'fill'; mirror?: boolean; small?: boolean };
}

export interface RemoteStatistics {
  userId: string;
  kind: 'audio' | 'video';
  streamType: StreamType;
  mid: string;
  packetsReceived: number;
  bytesReceived: number;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  totalAudioEnergy: number;
  audioLevel: number;
}

export interface EventMap {
  /** userId '' is the local user (then streamType 'sub' is the screen and its audio). */
  'track': { userId: string; streamType: StreamType; track: MediaStreamTrack };
  'first-video-frame': { userId: string; streamType: StreamType; width: number; height: number };
  'video-size-changed': { userId: string; streamType: StreamType; newWidth: number; newHeight: number };
  'video-play-state-changed': { userId: string; streamType: StreamType; state: PlayerState; reason: PlayerStateReason };
  'audio-play-state-changed': { userId: string; state: PlayerState; reason: PlayerStateReason };
  'device-changed': { type: 'camera' | 'microphone' | 'speaker'; action: 'add' | 'remove' | 'active'; device: MediaDeviceInfo };
  'permission-state-change': PermissionResult;
  'sei-message': { userId: string; streamType: StreamType; seiPayloadType: number; data: ArrayBuffer };
  'error': RtcError;
  'autoplay-failed': { userId: string; mediaType: 'audio' | 'video'; resume: () => void };
  'kicked-out': { reason: 'kick' | 'banned' | 'room_disband' };
  'remote-user-enter': { userId: string };
  /** reason: 0 normal, 1 timeout, 2 kicked, 3 role change */
  'remote-user-exit': { userId: string; reason: 0 | 1 | 2 | 3 };
  'remote-audio-available': { userId: string; reason?: 'mute' };
  'remote-audio-unavailable': { userId: string; reason?: 'mute' };
  'remote-video-available': { userId: string; streamType: StreamType; reason?: 'mute' };
  'remote-video-unavailable': { userId: string; streamType: StreamType; reason?: 'mute' };
  /** userId '' is the local user; volume 0..100 */
  'audio-volume': { result: Array<{ userId: string; volume: number; floatVolume: number }> };
  'network-quality': {
    uplinkNetworkQuality: NetworkQuality;
    downlinkNetworkQuality: NetworkQuality;
    uplinkRTT: number;
    uplinkLoss: number;
    downlinkRTT: number;
    downlinkLoss: number;
  };
  'connection-state-changed': { prevState: ConnectionState; state: ConnectionState };
  'custom-message': { userId: string; cmdId: number; seq: number; data: ArrayBuffer };
  'screen-share-stopped': Record<string, never>;
  /** frames of a remote stream stopped decrypting (another key, beyond the ratchet window, altered, or
   *  sent in the clear), or a local stream's codec cannot be encrypted; rate-limited per stream */
  'e2ee-error': {
    userId?: string;
    kind?: 'audio' | 'video';
    streamType?: StreamType;
    reason: 'no-key' | 'auth-failed' | 'malformed' | 'unsupported-codec';
    message: string;
  };
  'publish-state-changed': { mediaType: 'audio' | 'video' | 'screen'; state: 'started' | 'stopped' };
  /** every 2 s in a room; bitrates in kbps, loss in %, rtt in ms */
  'statistics': {
    rtt: number;
    upLoss: number;
    downLoss: number;
    bytesSent: number;
    bytesReceived: number;
    localStatistics: { audio: AudioStatistics; video: VideoStatistics[] };
    remoteStatistics: Array<{ userId: string; audio: AudioStatistics; video: VideoStatistics[] }>;
  };
}

export interface AudioStatistics { bitrate: number; audioLevel: number }
export interface VideoStatistics {
  width: number;
  height: number;
  frameRate: number;
  bitrate: number;
  videoType: 'big' | 'sub';
}

export declare class RelayRoom {
  static readonly EVENT: typeof EVENT;
  static readonly ERROR_CODE: typeof ERROR_CODE;
  static readonly EXTRA_CODE: typeof EXTRA_CODE;
  static readonly TYPE: typeof TYPE;
  static readonly VERSION: string;

  static create(options?: CreateOptions): RelayRoom;
  static setLogLevel(level: 0 | 1 | 2 | 3 | 4 | 5): void;
  static isSupported(): Promise<{ result: boolean; detail: SupportDetail }>;
  /** requestPermission (default true): open the device for a moment when the labels are hidden. */
  static getCameraList(requestPermission?: boolean): Promise<MediaDeviceInfo[]>;
  static getMicrophoneList(requestPermission?: boolean): Promise<MediaDeviceInfo[]>;
  static getSpeakerList(requestPermission?: boolean): Promise<MediaDeviceInfo[]>;
  static getPermissions(option?: { request?: boolean; types?: Array<'camera' | 'microphone'> }): Promise<PermissionResult>;
  /** Every remote audio of every instance plays through this output (HTMLMediaElement.setSinkId). */
  static setCurrentSpeaker(speakerId: string): Promise<void>;

  constructor(options?: CreateOptions);

  readonly connectionState: ConnectionState;
  /** The room as entered, or null outside a room. */
  readonly room: { roomId?: number; strRoomId?: string; userId: string; scene: Scene; role: Role; e2ee: boolean } | null;

  enterRoom(config: EnterRoomConfig): Promise<void>;
  exitRoom(): Promise<void>;
  /** Rotate the end-to-end key (an E2EE room): sends with `key` from now on; older keys still decrypt. */
  setE2EEKey(key: E2EEKey): Promise<void>;
  /** RelayRoom: ratchet the sending key one step; the others follow on their own (8 steps). */
  ratchetE2EEKey(): Promise<void>;
  switchRole(role: Role, option?: { privateMapKey?: string }): Promise<void>;
  /** Live rooms: to another room of the same id type; local tracks keep being published. */
  switchRoom(config: SwitchRoomConfig): Promise<void>;
  destroy(): Promise<void>;

  startLocalAudio(config?: LocalAudioConfig): Promise<void>;
  updateLocalAudio(config?: LocalAudioConfig): Promise<void>;
  stopLocalAudio(): Promise<void>;
  startLocalVideo(config?: LocalVideoConfig): Promise<void>;
  updateLocalVideo(config?: LocalVideoConfig): Promise<void>;
  stopLocalVideo(): Promise<void>;
  startScreenShare(config?: ScreenShareConfig): Promise<void>;
  updateScreenShare(config: UpdateScreenShareConfig): Promise<void>;
  stopScreenShare(): Promise<void>;
  getLocalTrack(slot?: 'audio' | 'video' | 'screen'): MediaStreamTrack | null;
  /** No argument: the microphone; {streamType: 'sub'}: the screen's audio; a userId: that user's audio. */
  getAudioTrack(config?: { userId?: string; streamType?: StreamType } | string): MediaStreamTrack | null;
  /** userId '' (default): the local camera or screen. */
  getVideoTrack(config?: { userId?: string; streamType?: StreamType }): MediaStreamTrack | null;
  /** A PNG data URL of what the player shows now; '' when it shows nothing. */
  getVideoSnapshot(config?: { userId?: string; streamType?: StreamType }): string;
  /** 1..1000 bytes into the next published H.264 frame (create({enableSEI: true})); throws RtcError. */
  sendSEIMessage(buffer: ArrayBuffer, options?: { seiPayloadType?: 5 | 243; toSubStream?: boolean }): void;
  /** Not offered (RtcError 5200/5210): plugins. */
  use(plugin: unknown): never;
  startPlugin(name: string, options?: unknown): Promise<never>;
  updatePlugin(name: string, options?: unknown): Promise<never>;
  stopPlugin(name: string, options?: unknown): Promise<never>;
  callExperimentalAPI(name: string, options?: unknown): Promise<never>;

  startRemoteVideo(config: RemoteVideoConfig): Promise<void>;
  updateRemoteVideo(config: RemoteVideoConfig): Promise<void>;
  /** userId '*' stops every remote video. */
  stopRemoteVideo(config: { userId: string; streamType?: StreamType }): Promise<void>;
  /** Stops (true) or resumes (false) receiving the user's audio; '*' for everyone. */
  muteRemoteAudio(userId: string, mute: boolean): Promise<void>;
  /** 0..100 */
  setRemoteAudioVolume(userId: string, volume: number): void;
  /** interval in ms (default 2000; ≤ 0 turns it off) */
  enableAudioVolumeEvaluation(interval?: number, enableInBackground?: boolean): void;

  /** cmdId 1..10, data ≤ 1024 bytes; anchors only; resolves to the message's sequence number. */
  sendCustomMessage(message: { cmdId: number; data: ArrayBuffer | ArrayBufferView }): Promise<number>;

  on<K extends keyof EventMap>(event: K, handler: (data: EventMap[K]) => void, context?: unknown): this;
  once<K extends keyof EventMap>(event: K, handler: (data: EventMap[K]) => void, context?: unknown): this;
  off<K extends keyof EventMap>(event: K | '*', handler?: (data: EventMap[K]) => void): this;

  /** RelayRoom extension: inbound counters per remote stream (getStats, labelled by user). */
  getRemoteStatistics(): Promise<RemoteStatistics[]>;
  /** RelayRoom extension: remote users and which of their streams are available. */
  getRemoteUsers(): Array<{ userId: string; streams: Record<string, boolean> }>;
}

export declare function validateEnterRoomParams(config: EnterRoomConfig): Record<string, unknown>;
export declare function validateRoom(roomId?: unknown, strRoomId?: unknown, functionName?: string):
  { roomId: number } | { strRoomId: string };
export declare function validateUserId(userId: unknown, functionName?: string): string;
export declare function signalUrl(serverUrl?: string): string;
export declare function fromServerError(
  error: { code: number; extraCode?: number; message?: string }, functionName?: string): RtcError;
export declare const ROOM_ID_MIN: 1;
export declare const ROOM_ID_MAX: 4294967294;

export default RelayRoom;

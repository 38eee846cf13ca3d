// The public constants (TRTC v5's EVENT, ERROR_CODE, TYPE and RelayRoom's EXTRA_CODE) and the media
// profiles. Values are part of the API: relayroom.d.ts declares the same ones, and a test compares them.

export const PROTOCOL_VERSION = 1;
export const SDK_VERSION = '0.1.0';

/** TRTC.ERROR_CODE */
export const ERROR_CODE = Object.freeze({
  INVALID_PARAMETER: 5000,
  INVALID_OPERATION: 5100,
  ENV_NOT_SUPPORTED: 5200,
  DEVICE_ERROR: 5300,
  SERVER_ERROR: 5400,
  OPERATION_FAILED: 5500,
  OPERATION_ABORT: 5998,
  UNKNOWN_ERROR: 5999,
});

/** extraCode values used with the codes above (5012..5016 are TRTC's enterRoom ones). */
export const EXTRA_CODE = Object.freeze({
  ROOM_ID_OUT_OF_RANGE: 5012,
  STR_ROOM_ID_INVALID: 5013,
  ROOM_ID_MISSING: 5015,
  ROOM_ID_NOT_NUMBER: 5016,
  BUFFER_EMPTY: 5017,
  BUFFER_OVERSIZE: 5018,
  ROOM_ID_TYPE_MISMATCH: 5019,
  ROOM_ID_DUPLICATE: 5020,
  NOT_IN_ROOM: 5101,
  REMOTE_USER_MISSING: 5102,
  SEI_NOT_ENABLED: 5108,
  NEEDS_PUBLISHED: 5109,
  NOT_SUPPORTED_SCREEN_SHARE: 5205,
  NOT_SUPPORTED_SMALL_VIDEO: 5206,
  NOT_SUPPORTED_SEI: 5207,
  NOT_SUPPORTED_PLUGIN: 5210,
  DEVICE_NOT_FOUND: 5301,
  DEVICE_NOT_ALLOWED: 5302,
  DEVICE_NOT_READABLE: 5303,
  DEVICE_OVERCONSTRAINED: 5304,
  DEVICE_INVALID_STATE: 5305,
  DEVICE_SECURITY: 5306,
  DEVICE_ABORTED: 5307,
  RECONNECT_FAILED: 5501,
  SIGNAL_CLOSED: 5502,
  TIMEOUT: 5503,
  MEDIA_CONNECTION_FAILED: 5510,
  TURN_AUTH_FAILED: 5511,
});

/** TRTC.EVENT */
export const EVENT = Object.freeze({
  ERROR: 'error',
  AUTOPLAY_FAILED: 'autoplay-failed',
  KICKED_OUT: 'kicked-out',
  REMOTE_USER_ENTER: 'remote-user-enter',
  REMOTE_USER_EXIT: 'remote-user-exit',
  REMOTE_AUDIO_AVAILABLE: 'remote-audio-available',
  REMOTE_AUDIO_UNAVAILABLE: 'remote-audio-unavailable',
  REMOTE_VIDEO_AVAILABLE: 'remote-video-available',
  REMOTE_VIDEO_UNAVAILABLE: 'remote-video-unavailable',
  AUDIO_VOLUME: 'audio-volume',
  NETWORK_QUALITY: 'network-quality',
  CONNECTION_STATE_CHANGED: 'connection-state-changed',
  CUSTOM_MESSAGE: 'custom-message',
  SCREEN_SHARE_STOPPED: 'screen-share-stopped',
  PUBLISH_STATE_CHANGED: 'publish-state-changed',
  STATISTICS: 'statistics',
  E2EE_ERROR: 'e2ee-error',
  AUDIO_PLAY_STATE_CHANGED: 'audio-play-state-changed',
  VIDEO_PLAY_STATE_CHANGED: 'video-play-state-changed',
  DEVICE_CHANGED: 'device-changed',
  TRACK: 'track',
  SEI_MESSAGE: 'sei-message',
  FIRST_VIDEO_FRAME: 'first-video-frame',
  PERMISSION_STATE_CHANGE: 'permission-state-change',
  VIDEO_SIZE_CHANGED: 'video-size-changed',
  // trtc-sdk-v5 events RelayRoom does not emit: `on()` refuses them with 5200 (never a silent no-op)
  AUDIO_FRAME: 'audio-frame',
  REALTIME_TRANSCRIBER_MESSAGE: 'realtime-transcriber-message',
  REALTIME_TRANSCRIBER_STATE_CHANGED: 'realtime-transcriber-state-changed',
  PICTURE_IN_PICTURE_STATE_CHANGED: 'picture-in-picture-state-changed',
  FULL_SCREEN_STATE_CHANGED: 'full-screen-state-changed',
});

/** The events of EVENT that are never emitted (no transcriber, picture-in-picture or full-screen player,
 *  no raw audio frames): listening to one is RtcError 5200. */
export const UNSUPPORTED_EVENTS = Object.freeze(new Set([EVENT.AUDIO_FRAME, EVENT.REALTIME_TRANSCRIBER_MESSAGE,
  EVENT.REALTIME_TRANSCRIBER_STATE_CHANGED, EVENT.PICTURE_IN_PICTURE_STATE_CHANGED, EVENT.FULL_SCREEN_STATE_CHANGED]));

/** TRTC.TYPE */
export const TYPE = Object.freeze({
  SCENE_RTC: 'rtc',
  SCENE_LIVE: 'live',
  ROLE_ANCHOR: 'anchor',
  ROLE_AUDIENCE: 'audience',
  STREAM_TYPE_MAIN: 'main',
  STREAM_TYPE_SUB: 'sub',
  CONNECTION_STATE_DISCONNECTED: 'DISCONNECTED',
  CONNECTION_STATE_CONNECTING: 'CONNECTING',
  CONNECTION_STATE_CONNECTED: 'CONNECTED',
  CONNECTION_STATE_RECONNECTING: 'RECONNECTING',
  CONNECTION_STATE_RECONNECTED: 'RECONNECTED',
  QUALITY_UNKNOWN: 0,
  QUALITY_EXCELLENT: 1,
  QUALITY_GOOD: 2,
  QUALITY_POOR: 3,
  QUALITY_BAD: 4,
  QUALITY_VERY_BAD: 5,
  QUALITY_DISCONNECTED: 6,
});

/** trtc-sdk-v5's video profiles: [width, height, frameRate, bitrate kbps]. */
export const VIDEO_PROFILES = Object.freeze({
  '120p': [160, 120, 15, 200],
  '180p': [320, 180, 15, 350],
  '240p': [320, 240, 15, 400],
  '360p': [640, 360, 15, 800],
  '480p': [640, 480, 15, 900],
  '720p': [1280, 720, 15, 1500],
  '1080p': [1920, 1080, 15, 2000],
  '1440p': [2560, 1440, 30, 4860],
  '4K': [3840, 2160, 30, 9000],
});

export const SCREEN_PROFILES = Object.freeze({
  '480p': [640, 480, 5, 900],
  '720p': [1280, 720, 5, 1200],
  '1080p': [1920, 1080, 5, 1600],
});

export const AUDIO_PROFILES = Object.freeze({
  standard: {channelCount: 1, bitrate: 40},
  'standard-stereo': {channelCount: 2, bitrate: 64},
  high: {channelCount: 1, bitrate: 128},
  'high-stereo': {channelCount: 2, bitrate: 192},
});

/** The local publishing slots: one send transceiver each (docs/decisions/0006 §5). */
export const SLOTS = Object.freeze(['audio', 'video', 'screen']);

/** A slot's (kind, streamType) on the wire, and back. */
export const slotKind = (slot) => (slot === 'audio' ? 'audio' : 'video');
export const slotStreamType = (slot) => (slot === 'screen' ? 'sub' : 'main');
export const slotOf = (kind, streamType = 'main') => (kind === 'audio' ? 'audio' : streamType === 'sub' ? 'screen' : 'video');

/** The key of a remote stream in the SDK's maps. */
export const keyOf = (userId, kind, streamType = 'main') => `${userId}|${kind}|${streamType}`;

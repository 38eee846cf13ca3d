/*
 * RelayRoom browser SDK: a TRTC Web SDK v5-shaped API over RelayRoom's signalling protocol v1.
 *
 *   import RelayRoom from '/sdk/relayroom.js';
 *   const rr = RelayRoom.create();
 *   rr.on(RelayRoom.EVENT.REMOTE_VIDEO_AVAILABLE, ({userId, streamType}) =>
 *     rr.startRemoteVideo({userId, streamType, view: `tile-${userId}`}));
 *   await rr.enterRoom({sdkAppId, userId, userSig, roomId: 8888});
 *   await rr.startLocalAudio();
 *   await rr.startLocalVideo({view: 'me'});
 *
 * Plain modern JavaScript as native ES modules: no dependencies, no build step. This file is the public
 * entry (its exports are what relayroom.d.ts declares); the SDK itself is in lib/, one module per
 * concern (docs/browser-sdk.md, "How the SDK is organised"). UserSigs, PrivateMapKeys and resume tokens
 * are never logged.
 */

export {ERROR_CODE, EXTRA_CODE, EVENT, TYPE} from './lib/constants.js';
export {RtcError, fromServerError} from './lib/errors.js';
export {ROOM_ID_MIN, ROOM_ID_MAX, validateUserId, validateRoom, validateEnterRoomParams, signalUrl} from './lib/validate.js';
export {RelayRoom} from './lib/client.js';
export {RelayRoom as default} from './lib/client.js';

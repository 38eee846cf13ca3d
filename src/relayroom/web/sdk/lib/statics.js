// TRTC's static API (TRTC.EVENT, TRTC.isSupported(), TRTC.getCameraList()...), the base of RelayRoom
// (client.js). The work is in devices.js.

import {EVENT, ERROR_CODE, EXTRA_CODE, SDK_VERSION, TYPE} from './constants.js';
import {deviceList, getPermissions, setCurrentSpeaker, supportReport} from './devices.js';
import {invalid} from './errors.js';
import {setLevel} from './log.js';

export class TRTCStatics {
  static EVENT = EVENT;
  static ERROR_CODE = ERROR_CODE;
  static EXTRA_CODE = EXTRA_CODE;
  static TYPE = TYPE;
  static VERSION = SDK_VERSION;

  /** TRTC.setLogLevel(level): 0 debug .. 4 error, 5 none. */
  static setLogLevel(level) {
    setLevel(level);
  }

  /** TRTC.isSupported(): {result, detail: {isBrowserSupported, isWebRTCSupported, isWebCodecsSupported,
   *  isMediaDevicesSupported, isScreenShareSupported, isSmallStreamSupported, isH264EncodeSupported,
   *  isH264DecodeSupported, isVp8EncodeSupported, isVp8DecodeSupported}}. */
  static async isSupported() {
    return supportReport();
  }

  /** TRTC.getCameraList(requestPermission = true): opens the camera for a moment when the browser hides
   *  the devices' labels until it is allowed. */
  static async getCameraList(requestPermission = true) {
    return deviceList('camera', requestPermission);
  }

  static async getMicrophoneList(requestPermission = true) {
    return deviceList('microphone', requestPermission);
  }

  static async getSpeakerList(requestPermission = true) {
    return deviceList('speaker', requestPermission);
  }

  /** TRTC.getPermissions({request = true, types}): {camera, microphone}: 'granted' | 'denied' | 'prompt' | null. */
  static async getPermissions(option = {}) {
    return getPermissions(option || {});
  }

  /** TRTC.setCurrentSpeaker(speakerId): every remote audio of every instance plays through that output. */
  static async setCurrentSpeaker(speakerId) {
    if (typeof speakerId !== 'string') throw invalid('setCurrentSpeaker', 'speakerId must be a string');
    await setCurrentSpeaker(speakerId);
  }
}

// The SDK's console output, filtered by RelayRoom.setLogLevel. Callers never pass UserSigs,
// PrivateMapKeys or resume tokens here.

let level = 2; // 0 debug, 1 info, 2 warn, 3 error, 5 none

export function setLevel(value) {
  level = Number.isInteger(value) ? value : 2;
}

export const log = {
  debug: (...a) => level <= 0 && console.debug('[relayroom]', ...a),
  info: (...a) => level <= 1 && console.info('[relayroom]', ...a),
  warn: (...a) => level <= 2 && console.warn('[relayroom]', ...a),
};

// The RTCPeerConnection both transports use. The SFU is ICE-lite and announces its host address; TURN
// servers (the server's `iceServers` and the application's `proxy.turnServer`, ice.js) and the ICE
// transport policy come from `extraConfig()` when a connection is created.

export const PEER_CONNECTION_CONFIG = Object.freeze({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});

/** A factory for the transports' peer connections. extraConfig(): the configuration that depends on the
 *  membership (ICE servers and policy; end-to-end encryption's `encodedInsertableStreams`), read at
 *  creation time; onCreated(pc): watchers. */
export function peerConnectionFactory(extraConfig = () => ({}), onCreated = () => {}) {
  return () => {
    const pc = new RTCPeerConnection({iceServers: [], ...PEER_CONNECTION_CONFIG, ...extraConfig()});
    onCreated(pc);
    return pc;
  };
}

// The RTCPeerConnection both transports use. The SFU is ICE-lite and announces its host address, so
// there are no ICE servers; TURN servers (a `proxy` option) would be added to this configuration.

export const PEER_CONNECTION_CONFIG = Object.freeze({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});

/** A factory for the transports' peer connections. extraConfig(): more configuration at creation time
 *  (end-to-end encryption's `encodedInsertableStreams`). */
export function peerConnectionFactory(extraConfig = () => ({})) {
  return () => new RTCPeerConnection({...PEER_CONNECTION_CONFIG, ...extraConfig(), iceServers: []});
}

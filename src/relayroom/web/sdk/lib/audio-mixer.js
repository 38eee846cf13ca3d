// Screen-share audio: trtc-sdk-v5 sends the captured system audio in the user's one audio stream (a
// remote user has a single audio track), mixed with the microphone when both are on. The mix is Web
// Audio: one source node per track into one destination whose track the send transport sends.

/** Which track the audio slot sends for a microphone record and a screen-audio track:
 *  'mic', 'screen', 'mix' or null (nothing to send). Pure. */
export function audioSource(mic, screenAudio) {
  if (mic && screenAudio) return 'mix';
  if (mic) return 'mic';
  return screenAudio ? 'screen' : null;
}

export class AudioMixer {
  /** Mix `tracks` (MediaStreamTracks of kind audio) into one track (`this.track`). */
  constructor(tracks) {
    this.inputs = [...tracks];
    this._ctx = new AudioContext();
    const destination = this._ctx.createMediaStreamDestination();
    this._sources = this.inputs.map((t) => {
      const source = this._ctx.createMediaStreamSource(new MediaStream([t]));
      source.connect(destination);
      return source;
    });
    this.track = destination.stream.getAudioTracks()[0];
    if (this._ctx.state === 'suspended') this._ctx.resume().catch(() => {});
  }

  /** Mixes exactly these tracks. */
  mixes(tracks) {
    return tracks.length === this.inputs.length && tracks.every((t, i) => t === this.inputs[i]);
  }

  close() {
    for (const s of this._sources) s.disconnect();
    this.track.stop();
    this._ctx.close().catch(() => {});
  }
}

// The transform worker (a module worker, same origin as the page: /sdk/lib/transform-worker.js). It runs
// the frame pipeline (frame-transform.js) of every sender and receiver handed to it, either by
// RTCRtpScriptTransform (`rtctransform` events, options in the transformer) or as encoded streams the
// page transferred. It holds the member's E2EE keys and the SEI messages waiting for the next frames.
// Messages from the page: {type: 'key', baseKey}, {type: 'ratchet'}, {type: 'streams', readable,
// writable, ...options}, {type: 'sei', slot, payloadType, data}. To the page: {type: 'error', id, reason,
// message} (E2EE), {type: 'sei', id, payloadType, data} (a receiver read an SEI message). Keys never
// leave it except to the page.

import {KeyRing} from './e2ee-keys.js';
import {buildStages, runPipeline} from './frame-transform.js';
import {SeiQueue} from './sei.js';

let ring = null;
let resolveRing;
const ready = new Promise((resolve) => {
  resolveRing = resolve;
});
let work = Promise.resolve(); // key changes apply in order
const seiQueues = {video: new SeiQueue(), screen: new SeiQueue()};

function start(readable, writable, options) {
  const {id, kind} = options;
  const stages = buildStages(options, {
    keys: () => ready,
    report: (reason, message) => self.postMessage({type: 'error', id, reason, message}),
    seiQueue: (slot) => seiQueues[slot] || seiQueues.video,
    onSei: ({payloadType, data}) => self.postMessage({type: 'sei', id, payloadType, data}, [data]),
  });
  runPipeline(readable, writable, stages, kind);
}

self.onrtctransform = (event) => {
  const t = event.transformer;
  start(t.readable, t.writable, t.options);
};

self.onmessage = (event) => {
  const msg = event.data || {};
  if (msg.type === 'streams') {
    start(msg.readable, msg.writable, msg);
  } else if (msg.type === 'sei') {
    (seiQueues[msg.slot] || seiQueues.video).push({payloadType: msg.payloadType, payload: new Uint8Array(msg.data)});
  } else if (msg.type === 'key') {
    work = work.then(async () => {
      if (ring) await ring.setKey(msg.baseKey);
      else resolveRing(ring = await KeyRing.create(msg.baseKey));
    });
  } else if (msg.type === 'ratchet') {
    work = work.then(() => ready).then((r) => r.ratchet());
  }
};

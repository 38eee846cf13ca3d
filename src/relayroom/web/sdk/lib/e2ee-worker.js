// The E2EE worker (a module worker, same origin as the page: /sdk/lib/e2ee-worker.js). It holds the
// member's keys and transforms the frames of every sender and receiver handed to it, either by
// RTCRtpScriptTransform (`rtctransform` events) or as encoded streams the page transferred. Messages
// from the page: {type: 'key', baseKey}, {type: 'ratchet'}, {type: 'streams', id, side, kind, readable,
// writable}. To the page: {type: 'error', id, reason, message}. Keys never leave it except to the page.

import {KeyRing} from './e2ee-keys.js';
import {runTransform} from './e2ee-transform.js';

let ring = null;
let resolveRing;
const ready = new Promise((resolve) => {
  resolveRing = resolve;
});
let work = Promise.resolve(); // key changes apply in order

function start(readable, writable, {id, side, kind}) {
  runTransform(readable, writable, {side, kind, keys: () => ready,
    report: (reason, message) => self.postMessage({type: 'error', id, reason, message})});
}

self.onrtctransform = (event) => {
  const t = event.transformer;
  start(t.readable, t.writable, t.options);
};

self.onmessage = (event) => {
  const msg = event.data || {};
  if (msg.type === 'streams') {
    start(msg.readable, msg.writable, msg);
  } else if (msg.type === 'key') {
    work = work.then(async () => {
      if (ring) await ring.setKey(msg.baseKey);
      else resolveRing(ring = await KeyRing.create(msg.baseKey));
    });
  } else if (msg.type === 'ratchet') {
    work = work.then(() => ready).then((r) => r.ratchet());
  }
};

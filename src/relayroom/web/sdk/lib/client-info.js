// What this SDK tells the server about itself at entry (signalling `enter`: deviceType, sdkVersion), shown
// by the server API's DescribeUserInfo as DeviceType and SdkVersion. Printable text, at most 64 characters.

import {SDK_VERSION} from './constants.js';

const MAX = 64;

function browser(ua) {
  for (const [name, re] of [
    ['Edge', /Edg\/(\d+)/], ['Opera', /OPR\/(\d+)/], ['Firefox', /Firefox\/(\d+)/],
    ['Chrome', /Chrom(?:e|ium)\/(\d+)/], ['Safari', /Version\/(\d+).*Safari\//],
  ]) {
    const m = ua.match(re);
    if (m) return `${name} ${m[1]}`;
  }
  return 'Browser';
}

function os(ua) {
  for (const [name, re] of [
    ['Android', /Android/], ['iOS', /iPhone|iPad|iPod/], ['Windows', /Windows/], ['macOS', /Mac OS X/],
    ['ChromeOS', /CrOS/], ['Linux', /Linux/],
  ]) {
    if (re.test(ua)) return name;
  }
  return 'unknown';
}

// control characters (C0 and DEL) dropped: the server refuses them in the enter message
const clean = (s) => Array.from(s).filter((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f).join('').slice(0, MAX);

/** {deviceType: "Web Chrome 120 (Linux)", sdkVersion: "relayroom-web/0.1.0"} */
export function clientInfo() {
  const ua = (typeof navigator !== 'undefined' && navigator.userAgent) || '';
  return {deviceType: clean(`Web ${browser(ua)} (${os(ua)})`), sdkVersion: clean(`relayroom-web/${SDK_VERSION}`)};
}

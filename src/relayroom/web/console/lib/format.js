// Formatting of times, durations, minutes, bitrates and tags: pure functions (no DOM).

export const pad = (n) => String(n).padStart(2, "0");

export function fmtTime(v) {
  if (!v) return "—";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}


export function fmtDuration(hours) {
  if (hours % 24 === 0 && hours >= 48) return `${hours / 24} day${hours === 24 ? "" : "s"}`;
  return `${hours} hour${hours === 1 ? "" : "s"}`;
}

export function fmtMinutes(m) {
  if (m > 0 && m < 1) return m.toFixed(2);
  return m >= 100 ? Math.round(m).toLocaleString("en-US") : (Math.round(m * 10) / 10).toLocaleString("en-US");
}

// Live quality (the media workers' statistics): bits/s → kbps, fraction 0..1 → %.
export function fmtKbps(bps) {
  return bps == null ? null : `${Math.round(bps / 1000).toLocaleString("en-US")} kbps`;
}

export function fmtLoss(fraction) {
  return fraction == null ? null : `${(fraction * 100).toFixed(1)}% loss`;
}

export function trackQuality(t) {
  return [t.width && t.height ? `${t.width}×${t.height}` : null, t.frameRate ? `${Math.round(t.frameRate)} fps` : null, fmtKbps(t.bitrate), fmtLoss(t.fractionLost)].filter(Boolean).join(" · ");
}

export function short(id, n = 8) {
  return id && id.length > n + 1 ? id.slice(0, n) + "…" : id;
}

export function parseTags(text) {
  const tags = {};
  for (const part of text.split(/[,\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const i = t.indexOf("=");
    if (i < 0) tags[t] = "";
    else tags[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return tags;
}

export function tagsText(tags) {
  return Object.entries(tags || {})
    .map(([k, v]) => (v ? `${k}=${v}` : k))
    .join(", ");
}

export function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

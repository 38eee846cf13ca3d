// Usage (#/usage/<sdkappid>): minutes per bucket by resolution tier, totals, CSV export.

import { api, get, has } from "../lib/api.js";
import { clear, h, s } from "../lib/dom.js";
import { fmtMinutes, fmtTime, niceMax, pad } from "../lib/format.js";
import { go } from "../lib/router.js";
import { card, download, empty, errorBox, guard, pageHead, stat, toast } from "../lib/ui.js";
import { appPicker } from "./apps.js";

const SERIES_COLORS = { Audio: "#10b981", SD: "#93c5fd", HD: "#3b82f6", FHD: "#6366f1", "2K": "#8b5cf6", "4K": "#d946ef" };

export async function pageUsage(main, [id]) {
  if (!(await has("/applications/{sdkappid}/usage"))) {
    clear(main, pageHead("Usage"), card(null, null, empty("Usage is not available on this server", "This RelayRoom version does not meter usage yet.")));
    return;
  }
  const { apps, sel } = await appPicker("#/usage", Number(id));
  if (!apps.length) {
    clear(main, pageHead("Usage"), card(null, null, empty("No applications", "Create an application first.")));
    return;
  }
  if (!id) return go(`#/usage/${apps[0].sdkappid}`);
  const sdkappid = Number(id);
  const gran = h("div", { class: "segmented", role: "group", "aria-label": "Granularity" });
  const rangeSel = h("select", { class: "select", "aria-label": "Period" });
  const state = { granularity: "day", span: 7 * 86400e3 };
  const ranges = {
    day: [
      [7 * 86400e3, "Last 7 days"],
      [14 * 86400e3, "Last 14 days"],
      [30 * 86400e3, "Last 30 days"],
    ],
    "5min": [
      [3600e3, "Last hour"],
      [6 * 3600e3, "Last 6 hours"],
      [24 * 3600e3, "Last 24 hours"],
    ],
  };
  const chartArea = h("div", { id: "usage-chart" }, h("div", { class: "loading" }, "Loading usage…"));
  const totals = h("div", { class: "stats", id: "usage-totals" });
  const period = () => {
    const end = new Date();
    if (state.granularity === "day") end.setUTCHours(24, 0, 0, 0);
    else end.setUTCMinutes(Math.floor(end.getUTCMinutes() / 5) * 5 + 5, 0, 0);
    const start = new Date(end.getTime() - state.span);
    return new URLSearchParams({ granularity: state.granularity, start: start.toISOString(), end: end.toISOString() });
  };
  const renderControls = () => {
    clear(gran, [["day", "Daily"], ["5min", "5 minutes"]].map(([g, l]) => h("button", { type: "button", class: ["seg", state.granularity === g && "active"], "aria-pressed": String(state.granularity === g), dataset: { granularity: g }, onclick: () => { state.granularity = g; state.span = ranges[g][0][0]; renderControls(); load(); } }, l)));
    clear(rangeSel, ranges[state.granularity].map(([v, l]) => h("option", { value: v, selected: v === state.span }, l)));
  };
  rangeSel.addEventListener("change", () => {
    state.span = Number(rangeSel.value);
    load();
  });
  const load = async () => {
    try {
      const u = await get(`/applications/${sdkappid}/usage?${period()}`);
      const video = u.keys.filter((k) => k !== "Audio").reduce((a, k) => a + u.totals[k], 0);
      clear(
        totals,
        stat("Audio minutes", fmtMinutes(u.totals.Audio || 0), "audio"),
        stat("Video minutes", fmtMinutes(video), "video"),
        u.keys.filter((k) => k !== "Audio").map((k) => stat(`${k} video`, fmtMinutes(u.totals[k]), null)),
      );
      clear(chartArea, usageChart(u));
    } catch (e) {
      clear(chartArea, errorBox(e));
    }
  };
  const exportCsv = guard(async () => {
    const r = await api("GET", `/applications/${sdkappid}/usage/export?${period()}`, undefined, { raw: true });
    download(`usage-${sdkappid}-${state.granularity}.csv`, await r.blob());
    toast("CSV downloaded");
  });
  renderControls();
  clear(
    main,
    pageHead("Usage", "Minutes of audio and of video by subscribed-resolution tier (TRTC billing tiers), in UTC buckets.", h("button", { class: "btn", id: "export-csv", onclick: exportCsv }, "Export CSV")),
    h("div", { class: "toolbar" }, sel, gran, rangeSel),
    totals,
    card("Minutes per bucket", null, chartArea),
  );
  await load();
}

function usageChart(u) {
  const W = 960;
  const H = 260;
  const padL = 48;
  const padB = 28;
  const pts = u.points;
  const keys = u.keys;
  const sums = pts.map((p) => keys.reduce((a, k) => a + (p.minutes[k] || 0), 0));
  const max = Math.max(...sums, 0);
  const legend = h("div", { class: "legend" }, keys.map((k) => h("span", { class: "legend-item" }, s("svg", { width: 10, height: 10, "aria-hidden": "true" }, s("rect", { width: 10, height: 10, rx: 2, fill: SERIES_COLORS[k] || "#999" })), ` ${k === "Audio" ? "Audio" : k + " video"}`)));
  if (max === 0) return h("div", {}, legend, empty("No usage in this period", "Minutes appear here once people are in rooms (buckets close every 5 minutes)."));
  const nice = niceMax(max);
  const bw = (W - padL) / pts.length;
  const y = (v) => ((H - padB) * v) / nice;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `Usage chart, ${pts.length} buckets` });
  for (let i = 0; i <= 4; i++) {
    const v = (nice * i) / 4;
    const yy = H - padB - y(v);
    svg.append(s("line", { x1: padL, x2: W, y1: yy, y2: yy, class: "grid-line" }), s("text", { x: padL - 6, y: yy + 4, "text-anchor": "end", class: "axis" }, v.toFixed(nice < 1 ? 2 : nice < 10 ? 1 : 0)));
  }
  const labelEvery = Math.ceil(pts.length / 10);
  pts.forEach((p, i) => {
    let acc = 0;
    const x = padL + i * bw + bw * 0.15;
    const g = s("g", {}, s("title", {}, `${fmtTime(p.start)}\n${keys.map((k) => `${k}: ${fmtMinutes(p.minutes[k] || 0)} min`).join("\n")}`));
    for (const k of keys) {
      const v = p.minutes[k] || 0;
      if (v <= 0) continue;
      const hh = Math.max(y(v), 1);
      g.append(s("rect", { x, y: H - padB - y(acc) - hh, width: Math.max(bw * 0.7, 1), height: hh, fill: SERIES_COLORS[k] || "#999", rx: 1.5 }));
      acc += v;
    }
    svg.append(g);
    if (i % labelEvery === 0) {
      const d = new Date(p.start);
      const label = u.granularity === "day" ? `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` : `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
      svg.append(s("text", { x: padL + i * bw + bw / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, label));
    }
  });
  return h("div", {}, legend, svg);
}

// Live rooms (#/live/<sdkappid>): the application's rooms on this node, refreshed every 2 s, with
// their members, tracks and quality; owners dismiss rooms and remove users.

import { get, post } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { fmtKbps, fmtLoss, fmtTime, trackQuality } from "../lib/format.js";
import { go, isCurrent, onLeave } from "../lib/router.js";
import { isOwner } from "../lib/session.js";
import { badge, card, confirmDialog, empty, errorBox, pageHead, table, toast } from "../lib/ui.js";
import { appPicker } from "./apps.js";

function downlinkQuality(d) {
  if (!d) return h("span", { class: "muted" }, "—");
  return h("span", { class: "quality" }, [fmtKbps(d.bitrate), fmtLoss(d.fractionLost), d.rttMs == null ? null : `RTT ${Math.round(d.rttMs)} ms`].filter(Boolean).join(" · "));
}

export async function pageLive(main, [id], seq) {
  const { apps, sel } = await appPicker("#/live", Number(id));
  if (!apps.length) {
    clear(main, pageHead("Live rooms"), card(null, null, empty("No applications", "Create an application first; its rooms appear here while people are in them.", h("a", { class: "btn btn-primary", href: "#/apps" }, "Go to applications"))));
    return;
  }
  const sdkappid = id ? Number(id) : apps[0].sdkappid;
  if (!id) return go(`#/live/${sdkappid}`);
  const app = apps.find((a) => a.sdkappid === sdkappid);
  const stamp = h("span", { class: "live-dot", id: "live-updated" }, "Connecting…");
  const list = h("div", { id: "rooms" }, h("div", { class: "loading" }, "Loading rooms…"));
  clear(main, pageHead("Live rooms", "Rooms of the application that are live on this node now, with their members and published tracks.", stamp), h("div", { class: "toolbar" }, sel), list);
  const owner = isOwner();
  let stopped = false;
  let lastJson = "";
  const load = async () => {
    try {
      const rooms = await get(`/applications/${sdkappid}/rooms`);
      if (stopped) return;
      stamp.textContent = `Live · updated ${fmtTime(new Date().toISOString()).slice(11)}`;
      const json = JSON.stringify(rooms);
      if (json === lastJson) return;
      lastJson = json;
      clear(list, rooms.length ? rooms.map((r) => roomCard(app, r, owner, load)) : card(null, null, empty("No live rooms", `Nobody is in a room of ${app?.name || sdkappid} right now. Rooms appear here as soon as someone enters.`)));
    } catch (e) {
      if (!stopped) clear(list, e.code === "media_unavailable" ? card(null, null, empty("Live rooms are not available on this server", e.message)) : errorBox(e));
    }
  };
  await load();
  if (!isCurrent(seq)) return;
  const timer = setInterval(load, 2000);
  onLeave(() => {
    stopped = true;
    clearInterval(timer);
  });
}

function roomCard(app, room, owner, reload) {
  const members = room.members || [];
  return h(
    "section",
    { class: "card room-card", dataset: { room: String(room.roomId) } },
    h(
      "header",
      { class: "card-head" },
      h("h2", {}, `Room ${room.roomId}`, " ", badge(room.scene, "scene")),
      h(
        "div",
        { class: "card-actions" },
        h("span", { class: "muted small" }, `${members.length} member${members.length === 1 ? "" : "s"}`),
        owner
          ? h(
              "button",
              {
                class: "btn btn-sm btn-danger-outline",
                dataset: { action: "dismiss" },
                onclick: () =>
                  confirmDialog({
                    title: `Dismiss room ${room.roomId}?`,
                    message: h("p", {}, `All ${members.length} member(s) are disconnected at once (kicked out, reason room_disband).`),
                    action: "Dismiss room",
                    onConfirm: async () => {
                      await post(`/applications/${app.sdkappid}/rooms/${encodeURIComponent(room.roomKey)}/dismiss`);
                      toast(`Room ${room.roomId} dismissed`);
                      await reload();
                    },
                  }),
              },
              "Dismiss room",
            )
          : null,
      ),
    ),
    h(
      "div",
      { class: "card-body" },
      table(
        [
          { label: "UserID", render: (m) => h("span", { class: "strong" }, m.userId) },
          { label: "Role", render: (m) => badge(m.role, m.role === "anchor" ? "anchor" : "audience") },
          { label: "Connection", render: (m) => (m.attached ? badge("connected", "enabled") : badge("reconnecting", "disabled")) },
          { label: "Published tracks (uplink)", render: (m) => (m.tracks.length ? h("div", { class: "chips" }, m.tracks.map((t) => h("span", { class: ["chip", t.muted && "chip-muted"], dataset: { track: t.kind } }, `${t.kind === "audio" ? "♪" : "▶"} ${t.kind}${t.streamType && t.streamType !== "main" && t.streamType !== "mic" ? " · " + t.streamType : ""}${t.muted ? " (muted)" : ""}`, trackQuality(t) ? h("span", { class: "quality" }, " · " + trackQuality(t)) : null))) : h("span", { class: "muted" }, "none")) },
          { label: "Subscribed to", cls: "num", render: (m) => String(m.subscribed.length) },
          { label: "Downlink", render: (m) => downlinkQuality(m.downlink) },
          // one logical room: a spread room's members are served by several media workers
          { label: "Served by", render: (m) => (m.worker == null ? h("span", { class: "muted" }, "–") : `${m.node} · worker ${m.worker}`) },
          {
            label: "",
            cls: "right",
            render: (m) =>
              owner
                ? h(
                    "button",
                    {
                      class: "btn btn-sm",
                      dataset: { action: "remove", user: m.userId },
                      onclick: () =>
                        confirmDialog({
                          title: `Remove ${m.userId}?`,
                          message: h("p", {}, `${m.userId} is disconnected from room ${room.roomId} at once (kicked out, reason banned).`),
                          action: "Remove user",
                          onConfirm: async () => {
                            const r = await post(`/applications/${app.sdkappid}/rooms/${encodeURIComponent(room.roomKey)}/remove-users`, { user_ids: [m.userId] });
                            toast(r.removed.length ? `${m.userId} removed from room ${room.roomId}` : `${m.userId} had already left`);
                            await reload();
                          },
                        }),
                    },
                    "Remove",
                  )
                : null,
          },
        ],
        members,
        { empty: empty("Empty room", "The room closes when idle.") },
      ),
      h("p", { class: "hint" }, "Uplink: what the server receives from each published track (bitrate, loss in the last second, resolution of the last key frame). Downlink: what the member's receiver reports say about the streams sent to it (total bitrate, worst loss, round-trip time)."),
    ),
  );
}

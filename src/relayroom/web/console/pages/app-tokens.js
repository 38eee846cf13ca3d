// An application's "UserSig & PrivateMapKey" tab: test tokens signed by the server.

import { post } from "../lib/api.js";
import { append, clear, h } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { card, copyButton, empty, errorBox, field } from "../lib/ui.js";

function expireSelect(name = "expire") {
  return h(
    "select",
    { name, class: "select" },
    [
      [3600, "1 hour"],
      [86400, "24 hours"],
      [7 * 86400, "7 days"],
      [30 * 86400, "30 days"],
      [180 * 86400, "180 days"],
    ].map(([v, l]) => h("option", { value: v, selected: v === 86400 }, l)),
  );
}

const PRIVILEGES = [
  [1, "Create room"],
  [2, "Enter room"],
  [4, "Send audio"],
  [8, "Receive audio"],
  [16, "Send video"],
  [32, "Receive video"],
  [64, "Send sub-stream"],
  [128, "Receive sub-stream"],
];

export async function appTokens(body, app, owner) {
  if (app.status !== "enabled" || !owner) {
    append(body, card(null, null, empty("Token tools are unavailable", !owner ? "Only owners of the account can issue UserSigs and PrivateMapKeys." : `The application is ${app.status}; it cannot issue tokens.`)));
    return;
  }
  const sigOut = h("div", { id: "usersig-out" });
  const sigForm = h(
    "form",
    {
      class: "form",
      id: "usersig-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const fd = new FormData(sigForm);
        try {
          const r = await post(`/applications/${app.sdkappid}/usersig`, { userid: fd.get("userid").trim(), expire: Number(fd.get("expire")) });
          clear(sigOut, tokenResult("UserSig", r));
        } catch (e) {
          clear(sigOut, errorBox(e));
        }
      },
    },
    h("div", { class: "form-row" }, field("UserID", h("input", { name: "userid", required: true, maxlength: 32, pattern: "[A-Za-z0-9_\\-]+", placeholder: "e.g. alice" })), field("Valid for", expireSelect())),
    h("button", { type: "submit", class: "btn btn-primary" }, "Generate UserSig"),
    sigOut,
  );
  const pmkOut = h("div", { id: "pmk-out" });
  const pmkForm = h(
    "form",
    {
      class: "form",
      id: "pmk-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const fd = new FormData(pmkForm);
        const room = fd.get("room").trim();
        const privilege = fd.getAll("priv").reduce((a, b) => a | Number(b), 0);
        const payload = { userid: fd.get("userid").trim(), expire: Number(fd.get("expire")), privilege };
        if (fd.get("strroom")) payload.strroomid = room;
        else payload.roomid = Number(room);
        try {
          const r = await post(`/applications/${app.sdkappid}/privatemapkey`, payload);
          clear(pmkOut, tokenResult("PrivateMapKey", r));
        } catch (e) {
          clear(pmkOut, errorBox(e));
        }
      },
    },
    h("div", { class: "form-row" }, field("UserID", h("input", { name: "userid", required: true, maxlength: 32, placeholder: "e.g. alice" })), field("Room ID", h("input", { name: "room", required: true, maxlength: 64, placeholder: "e.g. 1234" })), field("Valid for", expireSelect())),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "strroom", value: "1" }), " String room ID (strRoomId)"),
    h("fieldset", { class: "checks" }, h("legend", {}, "Privileges"), PRIVILEGES.map(([bit, label]) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "priv", value: bit, checked: true }), ` ${label}`))),
    h("button", { type: "submit", class: "btn btn-primary" }, "Generate PrivateMapKey"),
    pmkOut,
  );
  append(
    body,
    h(
      "div",
      { class: "grid-2" },
      card("UserSig generator", null, h("p", { class: "muted" }, "Signed with the application's current key, for testing. In production your server signs UserSigs. Issuing is recorded in the operation log."), sigForm),
      card("PrivateMapKey generator", null, h("p", { class: "muted" }, app.permission_key_enabled ? "Permission keys are on: clients need a PrivateMapKey to enter a room." : "Permission keys are off for this application; turn them on under Security & consent."), pmkForm),
    ),
  );
}

function tokenResult(kind, r) {
  const ta = h("textarea", { class: "mono token-value", readOnly: true, rows: 4, "aria-label": kind, spellcheck: "false", dataset: { secret: kind.toLowerCase() } }, r.token);
  return h("div", { class: "token-result" }, h("div", { class: "token-meta" }, h("strong", {}, kind), ` for ${r.userid} · expires ${fmtTime(r.expires_at)}`), ta, h("div", { class: "row" }, copyButton(() => ta.value, ta)));
}

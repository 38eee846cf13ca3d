// An application's "Callbacks" tab: the webhook URLs (room events, media events) and key, and the
// delivery log. As in TRTC, the two event groups have their own URL; one URL serves both by default.

import { api, get, has } from "../lib/api.js";
import { append, clear, h } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { badge, card, empty, errorBox, field, guard, secretBox, table, toast, when } from "../lib/ui.js";

export async function appCallbacks(body, app, owner) {
  if (!(await has("/applications/{sdkappid}/callback"))) {
    append(body, card(null, null, empty("Callbacks are not available on this server", "This RelayRoom version has no webhook API. Upgrade the server to configure callbacks.")));
    return;
  }
  const editable = owner && app.status !== "terminated";
  const cfgArea = h("div", { id: "callback-config" });
  const deliveries = h("div", { id: "deliveries" });
  const stateSel = h("select", { class: "select", "aria-label": "Delivery state" }, h("option", { value: "" }, "All states"), ["pending", "delivered", "failed", "dropped"].map((v) => h("option", { value: v }, v)));
  const loadDeliveries = async () => {
    try {
      const rows = await get(`/applications/${app.sdkappid}/callback/deliveries${stateSel.value ? "?state=" + stateSel.value : ""}`);
      clear(
        deliveries,
        table(
          [
            { label: "ID", cls: "mono", render: (d) => String(d.id) },
            { label: "Event", render: (d) => `${eventName(d.event_group, d.event_type)}` },
            { label: "UserID", render: (d) => d.user_id || "—" },
            { label: "State", render: (d) => badge(d.state) },
            { label: "Attempts", cls: "num", render: (d) => String(d.attempts) },
            { label: "Last status", render: (d) => (d.last_status ? String(d.last_status) : d.last_error || "—") },
            { label: "Created", cls: "nowrap", render: (d) => when(d.created_at) },
            { label: "Finished / next try", cls: "nowrap", render: (d) => (d.finished_at ? when(d.finished_at) : h("span", {}, "next ", when(d.next_attempt_at))) },
          ],
          rows,
          { empty: empty("No deliveries yet", "Room and media events are posted to your callback URLs once they are set.") },
        ),
      );
    } catch (e) {
      clear(deliveries, errorBox(e));
    }
  };
  stateSel.addEventListener("change", loadDeliveries);
  const renderCfg = (cfg, newKey) => {
    const mediaUrl = cfg.media_url ?? cfg.url;
    const sameBox = h("input", { type: "checkbox", name: "same_media", id: "same-media", checked: mediaUrl === cfg.url, disabled: !editable });
    const mediaInput = h("input", { name: "media_url", type: "url", value: mediaUrl, placeholder: "https://example.com/trtc/media-callback", disabled: !editable, maxlength: 2083 });
    const mediaField = field("Media events URL", mediaInput, "Media events (201–206). Leave empty to turn them off.");
    mediaField.hidden = sameBox.checked;
    sameBox.addEventListener("change", () => {
      mediaField.hidden = sameBox.checked;
    });
    const form = h(
      "form",
      {
        class: "form",
        id: "callback-form",
        onsubmit: guard(async (ev) => {
          ev.preventDefault();
          const fd = new FormData(form);
          const payload = { url: fd.get("url").trim() };
          if (!sameBox.checked) payload.media_url = fd.get("media_url").trim();
          const keyMode = fd.get("keymode");
          if (keyMode === "generate") payload.generate_key = true;
          else if (keyMode === "set") payload.key = fd.get("key");
          else if (keyMode === "remove") payload.key = "";
          const r = await api("PUT", `/applications/${app.sdkappid}/callback`, payload);
          toast("Callback settings saved");
          renderCfg(r, r.key);
        }),
      },
      field("Callback URL · room events", h("input", { name: "url", type: "url", value: cfg.url, placeholder: "https://example.com/trtc/callback", disabled: !editable, maxlength: 2083 }), "Room events (101–105). Leave empty to turn them off."),
      h("label", { class: "check" }, sameBox, " Same URL for media events"),
      mediaField,
      h(
        "fieldset",
        { class: "checks" },
        h("legend", {}, `Signing key · ${cfg.key_set ? "set" : "not set"}`),
        [
          ["keep", "Keep"],
          ["generate", "Generate a new key"],
          ["set", "Set my own key"],
          ["remove", "Remove the key"],
        ].map(([v, l]) => h("label", { class: "check" }, h("input", { type: "radio", name: "keymode", value: v, checked: v === "keep", disabled: !editable }), ` ${l}`)),
      ),
      field("Own key", h("input", { name: "key", maxlength: 32, pattern: "[A-Za-z0-9]{1,32}", placeholder: "1-32 letters and digits", autocomplete: "off", disabled: !editable }), "Used only with “Set my own key”. The key is stored encrypted and never shown again."),
      newKey ? h("div", { class: "alert alert-info" }, h("strong", {}, "New callback key, shown once: "), secretBox(newKey, { label: "Callback key", name: "callback-key" })) : null,
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary", disabled: !editable }, "Save"), cfg.updated_at ? h("span", { class: "muted small" }, `Updated ${fmtTime(cfg.updated_at)}`) : null),
    );
    clear(cfgArea, form);
  };
  append(
    body,
    card("Callback", null, cfgArea),
    card("Delivery log", [stateSel, h("button", { class: "btn btn-sm", id: "refresh-deliveries", onclick: loadDeliveries }, "Refresh")], deliveries),
  );
  try {
    renderCfg(await get(`/applications/${app.sdkappid}/callback`));
  } catch (e) {
    clear(cfgArea, errorBox(e));
  }
  await loadDeliveries();
}

function eventName(group, type) {
  const names = { 101: "Room created", 102: "Room dismissed", 103: "Enter room", 104: "Exit room", 105: "Role switch", 201: "Video start", 202: "Video stop", 203: "Audio start", 204: "Audio stop", 205: "Sub-stream start", 206: "Sub-stream stop" };
  return names[type] ? `${names[type]} (${type})` : `Group ${group} · event ${type}`;
}

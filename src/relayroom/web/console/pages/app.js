// One application (#/apps/<sdkappid>/<tab>): the page, its overview tab (details, secret key, purge
// status) and the edit, disable, enable and terminate actions. The other tabs are pages/app-*.js.

import { ApiError, api, get, post, records } from "../lib/api.js";
import { append, clear, h } from "../lib/dom.js";
import { fmtDuration, fmtTime, parseTags, tagsText } from "../lib/format.js";
import { route } from "../lib/router.js";
import { accountId, isOwner, me, setAccount } from "../lib/session.js";
import { updateShell } from "../lib/shell.js";
import { badge, card, confirmDialog, copyButton, dialog, empty, errorBox, field, guard, pageHead, prop, secretBox, toast } from "../lib/ui.js";
import { appCallbacks } from "./app-callbacks.js";
import { appSecurity } from "./app-security.js";
import { appTokens } from "./app-tokens.js";
import { retentionTable } from "./privacy.js";

const APP_TABS = [
  ["overview", "Overview"],
  ["tokens", "UserSig & PrivateMapKey"],
  ["security", "Security & consent"],
  ["callbacks", "Callbacks"],
];

export async function pageApp(main, [id, tab = "overview"]) {
  const sdkappid = Number(id);
  let app;
  try {
    app = await get(`/applications/${sdkappid}`);
  } catch (e) {
    clear(main, pageHead("Application"), errorBox(e));
    return;
  }
  if (app.account_id !== accountId() && me().accounts.some((a) => a.id === app.account_id)) {
    setAccount(app.account_id);
    updateShell();
  }
  const owner = isOwner();
  const live = app.status !== "terminated";
  const reload = () => route();
  const actions = [];
  if (live && owner) {
    actions.push(h("button", { class: "btn", id: "edit-app", onclick: () => editApp(app) }, "Edit"));
    if (app.status === "enabled") actions.push(h("button", { class: "btn", id: "disable-app", onclick: () => disableApp(app) }, "Disable"));
    else actions.push(h("button", { class: "btn", id: "enable-app", onclick: guard(async () => { await post(`/applications/${sdkappid}/enable`); toast(`${app.name} enabled`); reload(); }) }, "Enable"));
    actions.push(h("button", { class: "btn btn-danger-outline", id: "terminate-app", onclick: () => terminateApp(app) }, "Terminate"));
  }
  const tabs = h("nav", { class: "tabs", role: "tablist", "aria-label": "Application sections" }, APP_TABS.map(([k, label]) => h("a", { href: `#/apps/${sdkappid}/${k}`, role: "tab", class: ["tab", k === tab && "active"], "aria-selected": String(k === tab) }, label)));
  const body = h("div", { class: "tab-body" });
  clear(
    main,
    h("div", { class: "crumbs" }, h("a", { href: "#/apps" }, "Applications"), " / ", app.name),
    pageHead(h("span", {}, app.name, " ", badge(app.status)), h("span", {}, "SDKAppID ", h("span", { class: "mono", id: "app-sdkappid" }, String(sdkappid)), ` · region ${app.region}`), actions),
    tabs,
    body,
  );
  const renderers = { overview: appOverview, tokens: appTokens, security: appSecurity, callbacks: appCallbacks };
  await (renderers[tab] || appOverview)(body, app, owner);
}

async function appOverview(body, app, owner) {
  const sdkappid = app.sdkappid;
  const details = h(
    "dl",
    { class: "props" },
    prop("SDKAppID", h("span", { class: "copy-line" }, h("span", { class: "mono" }, String(sdkappid)), copyButton(() => String(sdkappid)))),
    prop("Name", app.name),
    prop("Description", app.description || h("span", { class: "muted" }, "No description")),
    prop("Tags", Object.keys(app.tags).length ? h("div", { class: "chips" }, Object.entries(app.tags).map(([k, v]) => h("span", { class: "chip" }, v ? `${k}: ${v}` : k))) : h("span", { class: "muted" }, "No tags")),
    prop("Region", app.region),
    prop("Status", badge(app.status)),
    prop("Created", fmtTime(app.created_at)),
    prop("Updated", fmtTime(app.updated_at)),
    app.terminated_at ? prop("Terminated", fmtTime(app.terminated_at)) : null,
  );
  const keyArea = h("div", { id: "key-area" });
  const cards = [card("Application", null, details)];
  if (app.status === "terminated") {
    const purge = h("div", {}, "Loading purge status…");
    cards.push(card("Data purge", null, purge));
    try {
      const jobs = (await get(`/accounts/${app.account_id}/retention`)).filter((j) => j.sdkappid === sdkappid);
      clear(purge, jobs.length ? retentionTable(jobs) : empty("No purge scheduled", "Nothing is held for this application."));
    } catch (e) {
      clear(purge, errorBox(e));
    }
  } else {
    cards.push(card("Secret key (SDKSecretKey)", null, keyArea));
    renderKeyHidden(keyArea, app, owner);
  }
  append(body, h("div", { class: "grid-2" }, cards));
}


function renderKeyHidden(area, app, owner) {
  clear(
    area,
    h("p", { class: "muted" }, "Clients sign UserSigs with this key. Every reveal is recorded in the operation log."),
    h("div", { class: "secret-box" }, h("input", { class: "mono secret-value", readOnly: true, value: "•".repeat(32), "aria-label": "Secret key (hidden)" })),
    h(
      "div",
      { class: "row" },
      h("button", { class: "btn btn-primary", id: "reveal-key", disabled: !owner, title: owner ? null : "Only owners can reveal the key", onclick: guard(() => revealKey(area, app)) }, "Reveal key"),
      h("button", { class: "btn", id: "rotate-key", disabled: !owner, onclick: () => rotateKey(area, app) }, "Rotate key…"),
    ),
  );
}

async function revealKey(area, app) {
  const k = await get(`/applications/${app.sdkappid}/key`);
  clear(
    area,
    h("p", { class: "muted" }, `Created ${fmtTime(k.created_at)}. Keep it on your servers; never ship it in a client app.`),
    secretBox(k.key, { label: "Secret key", name: "app-key" }),
    k.previous_keys_valid_until.length ? h("p", { class: "hint" }, "Previous key still accepted until ", k.previous_keys_valid_until.map(fmtTime).join(", ")) : null,
    h("div", { class: "row" }, h("button", { class: "btn", id: "hide-key", onclick: () => renderKeyHidden(area, app, true) }, "Hide"), h("button", { class: "btn", id: "rotate-key", onclick: () => rotateKey(area, app) }, "Rotate key…")),
  );
}

function rotateKey(area, app) {
  const grace = h(
    "select",
    { name: "grace", class: "select" },
    [
      [0, "None: the old key stops at once"],
      [3600, "1 hour"],
      [86400, "24 hours"],
      [7 * 86400, "7 days"],
    ].map(([v, l]) => h("option", { value: v, selected: v === 86400 }, l)),
  );
  return dialog({
    title: "Rotate secret key",
    body: [h("p", {}, "A new key is generated for ", h("strong", {}, app.name), ". UserSigs signed with the old key keep working during the grace period, then stop."), field("Grace period for the old key", grace)],
    submit: "Rotate key",
    danger: true,
    onSubmit: async (fd) => {
      const r = await post(`/applications/${app.sdkappid}/key/rotate`, { grace_seconds: Number(fd.get("grace")) });
      toast("Key rotated");
      clear(
        area,
        h("p", { class: "muted" }, "New key. ", r.previous_key_valid_until ? `The old key is accepted until ${fmtTime(r.previous_key_valid_until)}.` : "The old key no longer works."),
        secretBox(r.key, { label: "Secret key", name: "app-key" }),
        h("div", { class: "row" }, h("button", { class: "btn", id: "hide-key", onclick: () => renderKeyHidden(area, app, true) }, "Hide")),
      );
    },
  });
}

function editApp(app) {
  return dialog({
    title: "Edit application",
    body: [
      field("Name", h("input", { name: "name", required: true, maxlength: 200, value: app.name })),
      field("Description", h("textarea", { name: "description", rows: 3, maxlength: 2000 }, app.description)),
      field("Tags", h("input", { name: "tags", value: tagsText(app.tags) }), "Comma-separated key=value pairs"),
    ],
    onSubmit: async (fd) => {
      await api("PATCH", `/applications/${app.sdkappid}`, { name: fd.get("name").trim(), description: fd.get("description").trim(), tags: parseTags(fd.get("tags") || "") });
      toast("Application saved");
      route();
    },
  });
}

function disableApp(app) {
  return confirmDialog({
    title: `Disable ${app.name}?`,
    message: h("p", {}, "New entries are refused at once and the application's live rooms are closed. You can enable it again later; nothing is deleted."),
    action: "Disable",
    onConfirm: async () => {
      await post(`/applications/${app.sdkappid}/disable`);
      toast(`${app.name} disabled`);
      route();
    },
  });
}

async function terminateApp(app) {
  let target = 24;
  let deadline = 7;
  try {
    const rs = (await records()).retention_settings;
    target = rs.purge_target_hours;
    deadline = rs.purge_deadline_days;
  } catch {
    /* documented defaults */
  }
  const now = Date.now();
  const confirmInput = h("input", { name: "confirm", required: true, autocomplete: "off", placeholder: String(app.sdkappid) });
  return dialog({
    title: `Terminate ${app.name}?`,
    id: "terminate-dialog",
    body: [
      h("div", { class: "alert alert-warn" }, h("strong", {}, "This cannot be undone. "), "The application stops authenticating at once and its live rooms are closed."),
      h(
        "p",
        { id: "purge-summary" },
        "Purged: its secret keys, UserIDs and consent records, usage, callback settings and delivery log, and the content of its operation-log entries. ",
        `Purge is due in ${fmtDuration(target)} (${fmtTime(new Date(now + target * 3600e3).toISOString())}) and completes within ${fmtDuration(deadline * 24)} at the latest (${fmtTime(new Date(now + deadline * 86400e3).toISOString())}). A signed deletion receipt is issued.`,
      ),
      field(h("span", {}, "Type the SDKAppID ", h("span", { class: "mono" }, String(app.sdkappid)), " to confirm"), confirmInput),
    ],
    submit: "Terminate application",
    danger: true,
    onSubmit: async (fd) => {
      if (fd.get("confirm").trim() !== String(app.sdkappid)) throw new ApiError("The SDKAppID you typed does not match.", 0, "confirm_mismatch");
      await post(`/applications/${app.sdkappid}/terminate`);
      toast(`${app.name} terminated; its data will be purged`);
      route();
    },
  });
}

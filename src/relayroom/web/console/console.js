// RelayRoom Console: a single-page app over the public console API (/api/v1), hash-routed, no build step.
// Secrets (keys, UserSigs, tokens) are only ever put into the DOM on request; never into the console,
// URLs or storage (the session token lives in sessionStorage: this tab only).

const API = "/api/v1";
const TOKEN_KEY = "relayroom.console.token";
const ACCOUNT_KEY = "relayroom.console.account";

const S = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null, // {user, accounts}
  accountId: sessionStorage.getItem(ACCOUNT_KEY),
  paths: null, // Set of API paths this server offers (from /openapi.json)
  records: null, // processing records (retention settings, regions)
  cleanup: [], // run when the route changes (timers)
  renderSeq: 0,
};

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...children) {
  const el = tag === "svg" || attrs?.svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false || k === "svg") continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled" || k === "required" || k === "readOnly") el[k] = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function s(tag, attrs, ...children) {
  return h(tag, { ...attrs, svg: true }, ...children);
}

function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ---------------------------------------------------------------- formatting

const pad = (n) => String(n).padStart(2, "0");

function fmtTime(v) {
  if (!v) return "—";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

// A table cell's time: minutes (or seconds) in UTC, the full time on hover.
function when(v, seconds = false) {
  if (!v) return "—";
  const full = fmtTime(v);
  return h("time", { datetime: typeof v === "number" ? new Date(v * 1000).toISOString() : v, title: full }, full.slice(0, seconds ? 19 : 16));
}

function fmtDuration(hours) {
  if (hours % 24 === 0 && hours >= 48) return `${hours / 24} day${hours === 24 ? "" : "s"}`;
  return `${hours} hour${hours === 1 ? "" : "s"}`;
}

function fmtMinutes(m) {
  if (m > 0 && m < 1) return m.toFixed(2);
  return m >= 100 ? Math.round(m).toLocaleString("en-US") : (Math.round(m * 10) / 10).toLocaleString("en-US");
}

// Live quality (the media workers' statistics): bits/s → kbps, fraction 0..1 → %.
function fmtKbps(bps) {
  return bps == null ? null : `${Math.round(bps / 1000).toLocaleString("en-US")} kbps`;
}

function fmtLoss(fraction) {
  return fraction == null ? null : `${(fraction * 100).toFixed(1)}% loss`;
}

function trackQuality(t) {
  return [t.width && t.height ? `${t.width}×${t.height}` : null, t.frameRate ? `${Math.round(t.frameRate)} fps` : null, fmtKbps(t.bitrate), fmtLoss(t.fractionLost)].filter(Boolean).join(" · ");
}

function downlinkQuality(d) {
  if (!d) return h("span", { class: "muted" }, "—");
  return h("span", { class: "quality" }, [fmtKbps(d.bitrate), fmtLoss(d.fractionLost), d.rttMs == null ? null : `RTT ${Math.round(d.rttMs)} ms`].filter(Boolean).join(" · "));
}

function short(id, n = 8) {
  return id && id.length > n + 1 ? id.slice(0, n) + "…" : id;
}

function parseTags(text) {
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

function tagsText(tags) {
  return Object.entries(tags || {})
    .map(([k, v]) => (v ? `${k}=${v}` : k))
    .join(", ");
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, { raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and try again.", 0, "network");
  }
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    let code = "http_error";
    try {
      const j = await r.json();
      if (j && j.error) {
        message = j.error.message || message;
        code = j.error.code || code;
      }
    } catch {
      /* not JSON */
    }
    if (r.status === 401 && path !== "/auth/login") {
      endSession();
      toast("Your session has ended. Sign in again.", "error");
      go("#/login");
    }
    throw new ApiError(message, r.status, code);
  }
  if (raw) return r;
  if (r.status === 204) return null;
  return r.json();
}

const get = (p) => api("GET", p);
const post = (p, b) => api("POST", p, b === undefined ? {} : b);

async function loadPaths() {
  if (S.paths) return S.paths;
  try {
    const r = await fetch("/openapi.json");
    const doc = await r.json();
    S.paths = new Set(Object.keys(doc.paths || {}));
  } catch {
    S.paths = new Set();
  }
  return S.paths;
}

async function has(path) {
  return (await loadPaths()).has(API + path);
}

async function records() {
  if (!S.records) S.records = await get("/privacy/processing-records");
  return S.records;
}

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function downloadJson(name, obj) {
  download(name, new Blob([JSON.stringify(obj, null, 2) + "\n"], { type: "application/json" }));
}

// ---------------------------------------------------------------- session

function startSession(token) {
  S.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function endSession() {
  S.token = null;
  S.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

function account() {
  return S.me?.accounts.find((a) => a.id === S.accountId) || null;
}

function isOwner() {
  return account()?.role === "owner";
}

async function loadMe() {
  S.me = await get("/me");
  if (!S.me.accounts.some((a) => a.id === S.accountId)) S.accountId = S.me.accounts[0]?.id || null;
  if (S.accountId) sessionStorage.setItem(ACCOUNT_KEY, S.accountId);
}

// ---------------------------------------------------------------- toasts, dialogs

function toast(message, kind = "ok") {
  const t = h("div", { class: ["toast", `toast-${kind}`], role: kind === "error" ? "alert" : "status" }, message);
  const box = document.getElementById("toasts");
  box.append(t);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => t.classList.add("out"), kind === "error" ? 6000 : 3500);
  setTimeout(() => t.remove(), kind === "error" ? 6400 : 3900);
}

// A modal <dialog> around a <form>: Enter submits, Esc closes, focus starts on the first field.
function dialog({ title, body, submit = "Save", danger = false, cancel = "Cancel", onSubmit, wide = false, id }) {
  return new Promise((resolve) => {
    const err = h("div", { class: "form-error", role: "alert", hidden: true });
    const submitBtn = submit ? h("button", { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"] }, submit) : null;
    const form = h(
      "form",
      { method: "dialog", class: "dialog-form", novalidate: false },
      h("header", { class: "dialog-head" }, h("h2", {}, title), h("button", { type: "button", class: "icon-btn", "aria-label": "Close", onclick: () => close(undefined) }, "×")),
      h("div", { class: "dialog-body" }, body, err),
      h("footer", { class: "dialog-foot" }, cancel ? h("button", { type: "button", class: "btn", onclick: () => close(undefined) }, cancel) : null, submitBtn),
    );
    const dlg = h("dialog", { class: ["dialog", wide && "dialog-wide"], id, "aria-label": title }, form);
    let result;
    const close = (v) => {
      result = v;
      dlg.close();
    };
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(result);
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!onSubmit) return close(true);
      err.hidden = true;
      if (submitBtn) submitBtn.disabled = true;
      try {
        const v = await onSubmit(new FormData(form), form);
        if (v !== false) close(v === undefined ? true : v);
      } catch (e) {
        if (!(e instanceof ApiError)) reportBug(e);
        err.textContent = e.message;
        err.hidden = false;
      } finally {
        if (submitBtn) submitBtn.disabled = false;
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector(".dialog-body input:not([readonly]), .dialog-body select, .dialog-body textarea:not([readonly])");
    (first || submitBtn || form.querySelector("button")).focus();
  });
}

function confirmDialog({ title, message, action, danger = true, onConfirm }) {
  return dialog({ title, body: message, submit: action, danger, onSubmit: onConfirm });
}

function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("div", { class: "hint" }, hint) : null);
}

function secretBox(value, { label = "Secret", name } = {}) {
  const input = h("input", { type: "text", class: "mono secret-value", readOnly: true, value, "aria-label": label, spellcheck: "false", autocomplete: "off", dataset: name ? { secret: name } : {} });
  return h("div", { class: "secret-box" }, input, copyButton(() => input.value, input));
}

function copyButton(getValue, input) {
  return h(
    "button",
    {
      type: "button",
      class: "btn btn-sm",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(getValue());
          toast("Copied to the clipboard");
        } catch {
          if (input) {
            input.focus();
            input.select();
          }
          toast("Copy is blocked here: the value is selected, press Ctrl+C", "warn");
        }
      },
    },
    "Copy",
  );
}

function badge(text, kind) {
  return h("span", { class: ["badge", `badge-${kind || text}`] }, text);
}

function empty(title, text, action) {
  return h("div", { class: "empty" }, h("div", { class: "empty-icon", "aria-hidden": "true" }, "◌"), h("h3", {}, title), text ? h("p", {}, text) : null, action || null);
}

function errorBox(e) {
  return h("div", { class: "alert alert-error", role: "alert" }, h("strong", {}, "Something went wrong. "), e.message);
}

function card(title, actions, ...body) {
  return h("section", { class: "card" }, title ? h("header", { class: "card-head" }, h("h2", {}, title), h("div", { class: "card-actions" }, actions)) : null, h("div", { class: "card-body" }, body));
}

function table(columns, rows, { empty: emptyNode, rowAttrs } = {}) {
  if (!rows.length) return emptyNode || empty("Nothing here yet");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: (c.cls || "").replace(/\b(mono|small)\b/g, "").trim() || null }, c.label)))),
      h("tbody", {}, rows.map((r) => h("tr", rowAttrs ? rowAttrs(r) : {}, columns.map((c) => h("td", { class: c.cls }, c.render(r)))))),
    ),
  );
}

// A bug in the console (not an API error) is shown and re-thrown as an uncaught error, so that it is
// visible in the browser's error console and fails the browser tests instead of hiding in a toast.
function reportBug(e) {
  toast("Something went wrong in the console. Reload the page and try again.", "error");
  setTimeout(() => {
    throw e;
  });
}

function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      if (!(e instanceof ApiError)) reportBug(e);
      else if (e.status !== 401) toast(e.message, "error");
    }
  };
}

// ---------------------------------------------------------------- shell

// Line icons (24x24, stroked): drawn here so that no icon font or image has to be fetched.
const ICONS = {
  apps: ["M4 4h6v6H4z", "M14 4h6v6h-6z", "M4 14h6v6H4z", "M14 14h6v6h-6z"],
  live: ["M12 10.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z", "M8.5 8.5a5 5 0 0 0 0 7", "M15.5 8.5a5 5 0 0 1 0 7", "M5.6 5.6a9 9 0 0 0 0 12.8", "M18.4 5.6a9 9 0 0 1 0 12.8"],
  usage: ["M3 20h18", "M6 20v-6", "M11 20V8", "M16 20v-9", "M21 20V4"],
  oplog: ["M9 6h12", "M9 12h12", "M9 18h12", "M4 6h.01", "M4 12h.01", "M4 18h.01"],
  privacy: ["M12 3l8 3v6c0 4.7-3.4 8-8 9-4.6-1-8-4.3-8-9V6z", "M9 12l2 2 4-4"],
  keys: ["M8 11a4 4 0 1 0 0 8 4 4 0 0 0 0-8z", "M10.8 12.2L20 3", "M16 7l3 3", "M18 5l2 2"],
  users: ["M9 4a4 4 0 1 0 0 8 4 4 0 0 0 0-8z", "M2 21c0-3.9 3.1-7 7-7s7 3.1 7 7", "M16 3.6a4 4 0 0 1 0 7.8", "M22 21c0-3-1.8-5.6-4.5-6.6"],
};

function icon(name) {
  return s("svg", { viewBox: "0 0 24 24", width: 18, height: 18, fill: "none", stroke: "currentColor", "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true", class: "icon" }, ICONS[name].map((d) => s("path", { d })));
}

const NAV = [
  ["#/apps", "Applications", "apps"],
  ["#/live", "Live rooms", "live"],
  ["#/usage", "Usage", "usage"],
  ["#/oplog", "Operation log", "oplog"],
  ["#/privacy", "Privacy", "privacy"],
  ["#/credentials", "Cloud API keys", "keys"],
  ["#/users", "Users", "users"],
];

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function shell() {
  let main = document.getElementById("main");
  if (main && document.querySelector(".shell")) {
    updateShell();
    return main;
  }
  const accountSelect = h("select", { id: "account-switcher", class: "select", "aria-label": "Account", onchange: onAccountSwitch });
  const shellEl = h(
    "div",
    { class: "shell" },
    h(
      "aside",
      { class: "sidebar" },
      h("a", { class: "brand", href: "#/apps" }, h("img", { src: "/console/favicon.svg", alt: "", width: 28, height: 28 }), h("span", {}, "RelayRoom")),
      h("nav", { "aria-label": "Main" }, h("ul", {}, NAV.map(([href, label, ic]) => h("li", {}, h("a", { href, class: "nav-link", dataset: { nav: href } }, h("span", { class: "nav-icon", "aria-hidden": "true" }, icon(ic)), label))))),
      h("div", { class: "sidebar-foot" }, "Self-hosted · TRTC-compatible", h("br"), "All times are UTC"),
    ),
    h(
      "div",
      { class: "content" },
      h(
        "header",
        { class: "topbar" },
        h("div", { class: "topbar-left" }, h("label", { class: "muted small", for: "account-switcher" }, "Account"), accountSelect, h("span", { id: "role-badge" })),
        h("div", { class: "topbar-right" }, h("span", { class: "user-chip", id: "user-chip" }), h("button", { type: "button", class: "btn btn-ghost", id: "sign-out", onclick: guard(signOut) }, "Sign out")),
      ),
      h("main", { id: "main", class: "main", tabindex: "-1" }),
    ),
  );
  clear(document.getElementById("app"), shellEl);
  updateShell();
  return document.getElementById("main");
}

function updateShell() {
  const sel = document.getElementById("account-switcher");
  clear(
    sel,
    S.me.accounts.map((a) => h("option", { value: a.id, selected: a.id === S.accountId }, a.name || short(a.id))),
    h("option", { value: "__new__" }, "+ New account…"),
  );
  sel.value = S.accountId || "";
  const a = account();
  clear(document.getElementById("role-badge"), a ? badge(a.role, a.role) : null);
  clear(document.getElementById("user-chip"), h("span", { class: "avatar", "aria-hidden": "true" }, (S.me.user.username[0] || "?").toUpperCase()), S.me.user.username, S.me.user.is_admin ? h("span", { class: "muted small" }, " · admin") : null);
  const hash = location.hash;
  for (const link of document.querySelectorAll(".nav-link")) {
    const on = hash === link.dataset.nav || hash.startsWith(link.dataset.nav + "/");
    link.classList.toggle("active", on);
    if (on) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function onAccountSwitch(ev) {
  const v = ev.target.value;
  if (v === "__new__") {
    ev.target.value = S.accountId || "";
    const nameInput = h("input", { name: "name", required: true, maxlength: 200, placeholder: "e.g. Production" });
    await dialog({
      title: "New account",
      body: [field("Account name", nameInput, "You become its owner.")],
      submit: "Create account",
      onSubmit: async (fd) => {
        const created = await post("/accounts", { name: fd.get("name").trim() });
        S.accountId = created.id;
        await loadMe();
        toast(`Account ${created.name} created`);
        go("#/apps");
      },
    });
    return;
  }
  S.accountId = v;
  sessionStorage.setItem(ACCOUNT_KEY, v);
  toast(`Switched to ${account()?.name || "account"}`);
  go(location.hash.startsWith("#/apps/") || location.hash.match(/^#\/(live|usage)\//) ? "#/apps" : location.hash);
}

async function signOut() {
  try {
    await api("POST", "/auth/logout");
  } finally {
    endSession();
    go("#/login");
    toast("Signed out");
  }
}

function pageHead(title, sub, ...actions) {
  return h("div", { class: "page-head" }, h("div", {}, h("h1", {}, title), sub ? h("p", { class: "muted" }, sub) : null), h("div", { class: "page-actions" }, actions));
}

// ---------------------------------------------------------------- sign-in

function pageLogin() {
  const err = h("div", { class: "form-error", role: "alert", hidden: true });
  const btn = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login-card",
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.hidden = true;
        btn.disabled = true;
        const fd = new FormData(form);
        try {
          const r = await api("POST", "/auth/login", { username: fd.get("username"), password: fd.get("password") });
          startSession(r.token);
          await loadMe();
          go("#/apps");
        } catch (e) {
          err.textContent = e.message;
          err.hidden = false;
          form.querySelector("[name=password]").select();
        } finally {
          btn.disabled = false;
        }
      },
    },
    h("div", { class: "login-brand" }, h("img", { src: "/console/favicon.svg", alt: "", width: 40, height: 40 }), h("div", {}, h("h1", {}, "RelayRoom Console"), h("p", { class: "muted" }, "Sign in to manage your real-time audio and video"))),
    field("Username", h("input", { name: "username", autocomplete: "username", required: true, autofocus: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    err,
    btn,
  );
  clear(document.getElementById("app"), h("div", { class: "login-page" }, form, h("p", { class: "login-foot muted small" }, "Self-hosted · your data stays on this deployment")));
  form.querySelector("input").focus();
}

// ---------------------------------------------------------------- applications

async function listApps(params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  return get(`/accounts/${S.accountId}/applications${q.toString() ? "?" + q : ""}`);
}

async function pageApps(main) {
  const search = h("input", { type: "search", name: "q", class: "input", placeholder: "Search name or SDKAppID", "aria-label": "Search applications" });
  const tag = h("input", { type: "search", name: "tag", class: "input", placeholder: "Tag: key or key=value", "aria-label": "Filter by tag" });
  const status = h("select", { name: "status", class: "select", "aria-label": "Filter by status" }, h("option", { value: "" }, "All statuses"), ["enabled", "disabled", "terminated"].map((v) => h("option", { value: v }, v[0].toUpperCase() + v.slice(1))));
  const list = h("div", { id: "apps-list" }, h("div", { class: "loading" }, "Loading applications…"));
  let timer;
  const refresh = async () => {
    try {
      const apps = await listApps({ q: search.value.trim(), tag: tag.value.trim(), status: status.value });
      const filtered = search.value || tag.value || status.value;
      clear(
        list,
        table(
          [
            { label: "Name", render: (a) => h("a", { href: `#/apps/${a.sdkappid}`, class: "strong" }, a.name) },
            { label: "SDKAppID", cls: "mono", render: (a) => String(a.sdkappid) },
            { label: "Status", render: (a) => badge(a.status) },
            { label: "Tags", render: (a) => h("div", { class: "chips" }, Object.entries(a.tags).map(([k, v]) => h("span", { class: "chip" }, v ? `${k}: ${v}` : k))) },
            { label: "Region", render: (a) => a.region },
            { label: "Created", cls: "nowrap", render: (a) => when(a.created_at) },
          ],
          apps,
          {
            rowAttrs: (a) => ({ class: "clickable", dataset: { sdkappid: a.sdkappid }, onclick: (ev) => ev.target.tagName !== "A" && go(`#/apps/${a.sdkappid}`) }),
            empty: filtered ? empty("No applications match", "Try another name, tag or status.") : empty("No applications yet", "Create one to get an SDKAppID and a secret key for your clients.", h("button", { class: "btn btn-primary", onclick: createApp }, "Create application")),
          },
        ),
      );
    } catch (e) {
      clear(list, errorBox(e));
    }
  };
  const debounced = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  };
  search.addEventListener("input", debounced);
  tag.addEventListener("input", debounced);
  status.addEventListener("change", refresh);
  clear(
    main,
    pageHead("Applications", "Each application has an SDKAppID and a secret key your clients sign UserSigs with.", h("button", { class: "btn btn-primary", id: "create-app", onclick: createApp, disabled: !isOwner(), title: isOwner() ? null : "Only owners can create applications" }, "+ Create application")),
    h("div", { class: "toolbar" }, search, tag, status),
    card(null, null, list),
  );
  await refresh();
}

async function createApp() {
  let regions = [];
  try {
    regions = (await records()).generated_from?.regions || [];
  } catch {
    /* the default region is used */
  }
  await dialog({
    title: "Create application",
    body: [
      field("Name", h("input", { name: "name", required: true, maxlength: 200, placeholder: "e.g. Classroom" })),
      field("Description", h("textarea", { name: "description", rows: 2, maxlength: 2000 })),
      field("Tags", h("input", { name: "tags", placeholder: "env=prod, team=web" }), "Comma-separated key=value pairs"),
      regions.length > 1 ? field("Region", h("select", { name: "region", class: "select" }, regions.map((r) => h("option", { value: r }, r)))) : null,
    ],
    submit: "Create",
    onSubmit: async (fd) => {
      const body = { name: fd.get("name").trim(), description: fd.get("description").trim(), tags: parseTags(fd.get("tags") || "") };
      if (fd.get("region")) body.region = fd.get("region");
      const app = await post(`/accounts/${S.accountId}/applications`, body);
      toast(`Application ${app.name} created (SDKAppID ${app.sdkappid})`);
      go(`#/apps/${app.sdkappid}`);
    },
  });
}

const APP_TABS = [
  ["overview", "Overview"],
  ["tokens", "UserSig & PrivateMapKey"],
  ["security", "Security & consent"],
  ["callbacks", "Callbacks"],
];

async function pageApp(main, [id, tab = "overview"]) {
  const sdkappid = Number(id);
  let app;
  try {
    app = await get(`/applications/${sdkappid}`);
  } catch (e) {
    clear(main, pageHead("Application"), errorBox(e));
    return;
  }
  if (app.account_id !== S.accountId && S.me.accounts.some((a) => a.id === app.account_id)) {
    S.accountId = app.account_id;
    sessionStorage.setItem(ACCOUNT_KEY, app.account_id);
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

function prop(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
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

async function appTokens(body, app, owner) {
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

async function appSecurity(body, app, owner) {
  const editable = owner && app.status !== "terminated";
  const sw = h("input", { type: "checkbox", role: "switch", id: "permission-key-switch", checked: app.permission_key_enabled, disabled: !editable });
  sw.addEventListener(
    "change",
    guard(async () => {
      try {
        await api("PATCH", `/applications/${app.sdkappid}`, { permission_key_enabled: sw.checked });
        app.permission_key_enabled = sw.checked;
        toast(`Permission keys ${sw.checked ? "required" : "not required"}`);
      } catch (e) {
        sw.checked = !sw.checked;
        throw e;
      }
    }),
  );
  let consent = null;
  let consentErr = null;
  try {
    consent = await get(`/applications/${app.sdkappid}/consent`);
  } catch (e) {
    consentErr = e;
  }
  const policies = [
    ["off", "Off", "RelayRoom does not check consent."],
    ["attest", "Attest", "You attest that your app collects consent; entries are recorded."],
    ["enforce", "Enforce", "Entry requires a consent token for the user's jurisdiction."],
  ];
  const policyForm = h(
    "form",
    {
      class: "radio-cards",
      id: "consent-policy",
      onchange: guard(async (ev) => {
        const value = ev.target.value;
        await api("PATCH", `/applications/${app.sdkappid}`, { consent_policy: value });
        toast(`Consent policy set to ${value}`);
      }),
      onsubmit: (ev) => ev.preventDefault(),
    },
    policies.map(([v, label, hint]) => h("label", { class: "radio-card" }, h("input", { type: "radio", name: "policy", value: v, checked: app.consent_policy === v, disabled: !editable }), h("span", {}, h("strong", {}, label), h("span", { class: "hint" }, hint)))),
  );
  const att = consent?.attestation;
  const attArea = h(
    "div",
    { id: "attestation" },
    att
      ? h("dl", { class: "props" }, prop("Attested by", att.attested_by), prop("When", fmtTime(att.attested_at)), prop("DPA version", att.dpa_version), prop("Consent mechanism", att.consent_mechanism), prop("Age gate", att.age_gate_method), prop("Parental flow", att.parental_flow ? "Yes" : "No"), prop("Consent-age table", att.table_version))
      : h("p", { class: "muted" }, "No attestation on file."),
    editable ? h("button", { class: "btn", id: "attest", onclick: () => attest(app, att) }, att ? "Attest again…" : "Attest…") : null,
  );
  const withdrawForm = h(
    "form",
    {
      class: "form inline-form",
      id: "withdraw-form",
      onsubmit: guard(async (ev) => {
        ev.preventDefault();
        const userid = new FormData(withdrawForm).get("userid").trim();
        const r = await post(`/applications/${app.sdkappid}/consent/withdraw`, { userid });
        toast(`Consent withdrawn for ${userid}; ${r.sessions_ended} session(s) ended`);
        withdrawForm.reset();
      }),
    },
    h("input", { name: "userid", class: "input", required: true, maxlength: 32, placeholder: "UserID", "aria-label": "UserID", disabled: !editable }),
    h("button", { type: "submit", class: "btn", disabled: !editable }, "Withdraw consent"),
  );
  append(
    body,
    h(
      "div",
      { class: "grid-2" },
      card("Permission key", null, h("label", { class: "switch-row" }, sw, h("span", { class: "switch", "aria-hidden": "true" }), h("span", {}, h("strong", {}, "Require a PrivateMapKey to enter rooms"), h("span", { class: "hint" }, "Clients then need a room-bound PrivateMapKey besides their UserSig (advanced permission control)."))), h("dl", { class: "props" }, prop("Region", app.region))),
      card("Consent policy", null, consentErr ? errorBox(consentErr) : policyForm, consent ? h("p", { class: "hint" }, `Consent-age table ${consent.table_version}`) : null),
      card("Attestation", null, attArea),
      card("Withdraw a user's consent", null, h("p", { class: "muted" }, "Effective at once: older consent tokens stop working and the user leaves the application's rooms."), withdrawForm),
    ),
  );
}

function attest(app, prev) {
  return dialog({
    title: "Consent attestation",
    body: [
      h("p", { class: "muted" }, "Record how your application collects end-user consent. This is logged with your user."),
      field("DPA version", h("input", { name: "dpa_version", required: true, maxlength: 64, value: prev?.dpa_version || "", placeholder: "e.g. 2026-01" })),
      field("Consent mechanism", h("textarea", { name: "consent_mechanism", required: true, rows: 2, maxlength: 2000, placeholder: "Text or URL of the consent screen" }, prev?.consent_mechanism || "")),
      field("Age gate method", h("input", { name: "age_gate_method", required: true, maxlength: 200, value: prev?.age_gate_method || "", placeholder: "e.g. self-declared birth date" })),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "parental_flow", checked: !!prev?.parental_flow }), " A parental consent flow exists for minors"),
    ],
    submit: "Attest",
    onSubmit: async (fd) => {
      await api("PUT", `/applications/${app.sdkappid}/consent/attestation`, {
        dpa_version: fd.get("dpa_version").trim(),
        consent_mechanism: fd.get("consent_mechanism").trim(),
        age_gate_method: fd.get("age_gate_method").trim(),
        parental_flow: fd.get("parental_flow") === "on",
      });
      toast("Attestation recorded");
      route();
    },
  });
}

async function appCallbacks(body, app, owner) {
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
          { empty: empty("No deliveries yet", "Room and media events are posted to your callback URL once it is set.") },
        ),
      );
    } catch (e) {
      clear(deliveries, errorBox(e));
    }
  };
  stateSel.addEventListener("change", loadDeliveries);
  const renderCfg = (cfg, newKey) => {
    const form = h(
      "form",
      {
        class: "form",
        id: "callback-form",
        onsubmit: guard(async (ev) => {
          ev.preventDefault();
          const fd = new FormData(form);
          const payload = { url: fd.get("url").trim() };
          const keyMode = fd.get("keymode");
          if (keyMode === "generate") payload.generate_key = true;
          else if (keyMode === "set") payload.key = fd.get("key");
          else if (keyMode === "remove") payload.key = "";
          const r = await api("PUT", `/applications/${app.sdkappid}/callback`, payload);
          toast("Callback settings saved");
          renderCfg(r, r.key);
        }),
      },
      field("Callback URL", h("input", { name: "url", type: "url", value: cfg.url, placeholder: "https://example.com/trtc/callback", disabled: !editable, maxlength: 2083 }), "Leave empty to turn callbacks off."),
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

// ---------------------------------------------------------------- app picker for live/usage

async function appPicker(base, current) {
  const apps = (await listApps()).filter((a) => a.status !== "terminated");
  const sel = h("select", { class: "select", id: "app-picker", "aria-label": "Application", onchange: (ev) => go(`${base}/${ev.target.value}`) }, apps.map((a) => h("option", { value: a.sdkappid, selected: a.sdkappid === current }, `${a.name} · ${a.sdkappid}`)));
  return { apps, sel };
}

// ---------------------------------------------------------------- live rooms

async function pageLive(main, [id], seq) {
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
  if (seq !== S.renderSeq) return;
  const timer = setInterval(load, 2000);
  S.cleanup.push(() => {
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

// ---------------------------------------------------------------- usage

const SERIES_COLORS = { Audio: "#10b981", SD: "#93c5fd", HD: "#3b82f6", FHD: "#6366f1", "2K": "#8b5cf6", "4K": "#d946ef" };

async function pageUsage(main, [id]) {
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

function stat(label, value, kind) {
  return h("div", { class: ["stat", kind && `stat-${kind}`] }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value));
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

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// ---------------------------------------------------------------- operation log

async function pageOplog(main) {
  const acc = S.accountId;
  const status = h("div", { id: "chain-status", class: "chain-status" }, "Verifying the chain…");
  const members = {};
  try {
    for (const m of await get(`/accounts/${acc}/members`)) members[`user:${m.user_id}`] = m.username;
  } catch {
    /* actors shown as ids */
  }
  const form = h(
    "form",
    { class: "toolbar", id: "oplog-filters", onsubmit: (ev) => { ev.preventDefault(); load(true); } },
    h("input", { name: "action", class: "input", placeholder: "Action prefix, e.g. app.", list: "oplog-actions", "aria-label": "Action" }),
    h("datalist", { id: "oplog-actions" }, ["app.", "app.create", "app.update", "app.key.", "app.usersig.issue", "room.", "credential.", "member.", "privacy.", "account."].map((v) => h("option", { value: v }))),
    h("input", { name: "actor", class: "input", placeholder: "Actor, e.g. user:<id>", list: "oplog-actors", "aria-label": "Actor" }),
    h("datalist", { id: "oplog-actors" }, Object.entries(members).map(([k, v]) => h("option", { value: k }, v)), h("option", { value: "system" })),
    h("label", { class: "inline-label" }, "From", h("input", { name: "since", type: "datetime-local", class: "input", "aria-label": "From (UTC)" })),
    h("label", { class: "inline-label" }, "To", h("input", { name: "until", type: "datetime-local", class: "input", "aria-label": "To (UTC)" })),
    h("button", { type: "submit", class: "btn" }, "Apply"),
    h("button", { type: "button", class: "btn btn-ghost", onclick: () => { form.reset(); load(true); } }, "Reset"),
  );
  const rowsEl = h("div", { id: "oplog-table" });
  const more = h("div", { class: "more" });
  let entries = [];
  let brokenAt = null;
  const load = guard(async (reset) => {
    const fd = new FormData(form);
    const q = new URLSearchParams({ limit: "50" });
    for (const k of ["action", "actor"]) if (fd.get(k).trim()) q.set(k, fd.get(k).trim());
    for (const k of ["since", "until"]) if (fd.get(k)) q.set(k, new Date(fd.get(k) + "Z").toISOString());
    if (!reset && entries.length) q.set("before_seq", String(entries[entries.length - 1].seq));
    const page = await get(`/accounts/${acc}/oplog?${q}`);
    entries = reset ? page : entries.concat(page);
    clear(
      rowsEl,
      table(
        [
          { label: "#", cls: "mono num", render: (e) => String(e.seq) },
          { label: "Time (UTC)", cls: "nowrap", render: (e) => when(e.ts, true) },
          { label: "Action", render: (e) => h("span", { class: "mono action", dataset: { action: e.action } }, e.action) },
          { label: "Actor", render: (e) => actorCell(e, members) },
          { label: "Object", render: (e) => (e.content?.object?.type ? h("span", { title: String(e.content.object.id ?? "") }, e.content.object.type.replace(/_/g, " "), " ", h("span", { class: "mono" }, short(String(e.content.object.id ?? ""), 12))) : "—") },
          { label: "Details", render: (e) => details(e) },
          { label: "Result", render: (e) => badge(e.result, e.result === "ok" ? "enabled" : "terminated") },
        ],
        entries,
        { empty: empty("No entries match", "Change the filters to see more."), rowAttrs: (e) => ({ class: e.seq === brokenAt && "row-broken", title: e.seq === brokenAt ? "The chain breaks here" : null, dataset: { seq: e.seq, action: e.action, actor: e.content?.actor || "" } }) },
      ),
    );
    rowsEl.dataset.query = q.toString();
    clear(more, page.length === 50 ? h("button", { class: "btn", onclick: () => load(false) }, "Load older entries") : entries.length ? h("span", { class: "muted small" }, "Start of the log") : null);
  });
  const verify = guard(async () => {
    clear(status, "Verifying the chain…");
    const v = await get(`/accounts/${acc}/oplog/verify`);
    brokenAt = v.ok ? null : v.broken_at;
    status.className = ["chain-status", v.ok ? "ok" : "broken"].join(" ");
    clear(
      status,
      h("span", { class: "chain-icon", "aria-hidden": "true" }, v.ok ? "✓" : "✕"),
      v.ok ? h("span", { id: "chain-text" }, h("strong", {}, "Chain verified"), ` · ${v.entries} entries of this account · newest `, h("span", { class: "mono" }, short(v.head_hash, 16))) : h("span", { id: "chain-text" }, h("strong", {}, v.broken_at ? `Chain broken at entry ${v.broken_at}` : "The operation log does not verify"), v.problem ? ` · ${v.problem}` : ""),
      h("button", { class: "btn btn-sm", onclick: async () => { await verify(); await load(true); } }, "Verify again"),
    );
    if (S.me.user.is_admin) {
      // deployment admins also see the whole log's state as the server last checked it (start, checkpoints)
      const st = await get("/oplog/status");
      if (st.ok === false) status.append(h("div", { id: "deployment-chain", class: "small" }, h("strong", {}, "Deployment: "), `the operation log does not verify${st.broken_at ? ` at entry ${st.broken_at}` : ""}`, st.problem ? ` · ${st.problem}` : ""));
    }
  });
  const checkpoint = guard(async () => {
    const cp = await get(`/accounts/${acc}/oplog/checkpoint`);
    downloadJson(`relayroom-checkpoint-${cp.seq}.json`, cp);
    toast(`Signed checkpoint at entry ${cp.seq} downloaded`);
  });
  clear(main, pageHead("Operation log", "Every change in this account, hash-chained and signed; verify offline with `relayroom checkpoint verify`.", h("button", { class: "btn", id: "download-checkpoint", onclick: checkpoint }, "Download signed checkpoint")), status, form, card(null, null, rowsEl, more));
  await verify();
  await load(true);
}

function actorCell(e, members) {
  const actor = e.content?.actor;
  if (!actor) return h("span", { class: "muted" }, "purged");
  const name = members[actor];
  return h("span", { class: "actor", title: actor, dataset: { actor } }, name ? h("strong", {}, name) : null, name ? " " : null, h("span", { class: "mono muted small" }, name ? short(actor, 13) : actor));
}

function details(e) {
  if (!e.content) return h("span", { class: "muted" }, "content purged");
  const parts = [];
  const fmt = (o) => Object.entries(o || {}).map(([k, v]) => h("span", { class: "kv" }, h("span", { class: "muted" }, `${k} `), typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)));
  const hasBefore = e.content.before && Object.keys(e.content.before).length;
  if (hasBefore) parts.push(h("div", { class: "small" }, h("span", { class: "tag-before" }, "before"), fmt(e.content.before)));
  if (e.content.after && Object.keys(e.content.after).length) parts.push(h("div", { class: "small" }, hasBefore ? h("span", { class: "tag-after" }, "after") : null, fmt(e.content.after)));
  return parts.length ? h("div", { class: "details" }, parts) : "—";
}

// ---------------------------------------------------------------- privacy

async function pagePrivacy(main) {
  const acc = S.accountId;
  const owner = isOwner();
  const reqs = h("div", { id: "requests" });
  const ret = h("div", { id: "retention" });
  const rec = h("div", { id: "records" });
  let apps = [];
  try {
    apps = await listApps();
  } catch {
    /* shown below */
  }
  const loadRequests = guard(async () => {
    const rows = await get(`/accounts/${acc}/privacy/requests`);
    clear(
      reqs,
      table(
        [
          { label: "Received", cls: "nowrap", render: (r) => when(r.received_at) },
          { label: "Kind", render: (r) => h("strong", {}, r.kind === "access" ? "Access" : "Deletion") },
          { label: "Subject", render: (r) => (r.subject_kind === "account" ? "The whole account" : h("span", {}, "End user of ", h("span", { class: "mono" }, String(r.sdkappid)), h("div", { class: "mono muted small", title: "Pseudonymous subject reference" }, short(r.subject_ref, 16)))) },
          { label: "State", render: (r) => badge(r.state) },
          { label: "Due", cls: "nowrap", render: (r) => when(r.due_at) },
          { label: "Completed", cls: "nowrap", render: (r) => when(r.completed_at) },
          {
            label: "",
            cls: "right nowrap",
            render: (r) =>
              h(
                "div",
                { class: "row-actions" },
                r.state !== "completed" && r.state !== "rejected" && owner ? h("button", { class: "btn btn-sm", dataset: { action: "process" }, onclick: guard(async () => { await post(`/privacy/requests/${r.id}/process`); toast("Request processed"); await Promise.all([loadRequests(), loadRetention()]); }) }, "Process now") : null,
                r.export_available ? h("button", { class: "btn btn-sm", dataset: { action: "export" }, onclick: guard(async () => { downloadJson(`access-export-${r.id}.json`, await get(`/privacy/requests/${r.id}/export`)); toast("Export downloaded"); }) }, "Download export") : null,
                r.receipt_id ? receiptButton(r.receipt_id) : null,
              ),
          },
        ],
        rows,
        { empty: empty("No requests", "File an access or deletion request when an end user (or you) asks for their data."), rowAttrs: (r) => ({ dataset: { request: r.id, kind: r.kind, state: r.state } }) },
      ),
    );
  });
  const loadRetention = guard(async () => {
    const jobs = await get(`/accounts/${acc}/retention`);
    clear(ret, jobs.length ? retentionTable(jobs) : empty("Nothing is scheduled for purge", "Purges are scheduled when an application is terminated, the account is deleted or a deletion request is processed."));
  });
  const loadRecords = guard(async () => {
    const r = await records();
    const rs = r.retention_settings;
    clear(
      rec,
      h("p", { class: "muted" }, r.controller_role),
      h("div", { class: "stats" }, stat("Purge target", fmtDuration(rs.purge_target_hours)), stat("Hard deadline", fmtDuration(rs.purge_deadline_days * 24)), stat("Purge runs every", `${rs.schedule_minutes} min`), stat("Regions", (r.generated_from?.regions || []).join(", "))),
      table(
        [
          { label: "Data", render: (c) => h("strong", {}, c.data) },
          { label: "Purpose", render: (c) => c.purpose },
          { label: "Storage", render: (c) => c.storage },
          { label: "Retention", render: (c) => c.retention },
          { label: "Where", render: (c) => c.where },
        ],
        r.categories,
      ),
      h("h3", { class: "sub" }, "Recipients"),
      h("p", {}, r.recipients?.note || ""),
      h("ul", { class: "plain" }, ["webhook_targets", "turn_servers", "sub_processors"].map((k) => h("li", {}, h("span", { class: "muted" }, k.replace(/_/g, " ") + ": "), (r.recipients?.[k] || []).length ? r.recipients[k].join(", ") : "none"))),
      h("h3", { class: "sub" }, "Security measures"),
      h("ul", { class: "plain bullets" }, (r.security || []).map((x) => h("li", {}, x))),
      h("div", { class: "row" }, h("button", { class: "btn btn-sm", onclick: () => downloadJson("processing-records.json", r) }, "Download as JSON")),
    );
  });
  const subjectApp = h("select", { name: "sdkappid", id: "dsr-app", class: "select" }, apps.filter((a) => a.status !== "terminated").map((a) => h("option", { value: a.sdkappid }, `${a.name} · ${a.sdkappid}`)));
  const fileForm = h(
    "form",
    {
      class: "form",
      id: "request-form",
      onsubmit: guard(async (ev) => {
        ev.preventDefault();
        const fd = new FormData(fileForm);
        const body = { kind: fd.get("kind"), subject_kind: fd.get("subject_kind") };
        if (body.subject_kind === "end_user") {
          body.sdkappid = Number(fd.get("sdkappid"));
          body.userid = fd.get("userid").trim();
        }
        await post(`/accounts/${acc}/privacy/requests`, body);
        toast(`${body.kind === "access" ? "Access" : "Deletion"} request filed`);
        fileForm.querySelector("[name=userid]").value = "";
        await loadRequests();
      }),
    },
    h(
      "div",
      { class: "form-row" },
      field("Request", h("select", { name: "kind", class: "select" }, h("option", { value: "access" }, "Access (export everything held)"), h("option", { value: "deletion" }, "Deletion (erase the subject)"))),
      field("Subject", h("select", { name: "subject_kind", class: "select", onchange: (ev) => { for (const el of fileForm.querySelectorAll(".end-user")) el.hidden = ev.target.value !== "end_user"; } }, h("option", { value: "end_user" }, "An end user of an application"), h("option", { value: "account" }, "This account"))),
      h("div", { class: "field end-user" }, h("label", { for: "dsr-app" }, "Application"), subjectApp),
      h("div", { class: "field end-user" }, h("label", { for: "dsr-user" }, "UserID"), h("input", { id: "dsr-user", name: "userid", maxlength: 32, placeholder: "e.g. alice" })),
      h("div", { class: "field field-button" }, h("button", { type: "submit", class: "btn btn-primary", disabled: !owner }, "File request")),
    ),
  );
  clear(
    main,
    pageHead("Privacy", "Data-subject requests, what will be purged when, and the records of processing of this deployment."),
    card("File a request", null, owner ? null : h("p", { class: "muted" }, "Only owners can file requests."), fileForm),
    card("Requests", [h("button", { class: "btn btn-sm", id: "refresh-requests", onclick: loadRequests }, "Refresh")], reqs),
    card("Retention status", [h("button", { class: "btn btn-sm", onclick: loadRetention }, "Refresh")], ret),
    card("Records of processing", null, rec),
    owner ? card("Close this account", null, h("p", {}, "Every credential of the account stops working at once (console sessions of its members, UserSigs, PrivateMapKeys, cloud-API credentials), its live rooms are closed, and all its data is purged: within 24 hours as a rule, 7 days at the latest. A signed deletion receipt is issued; keep its id."), h("div", { class: "row" }, h("button", { class: "btn btn-danger-outline", id: "close-account", onclick: () => closeAccount() }, "Close account…"))) : null,
  );
  await Promise.all([loadRequests(), loadRetention(), loadRecords()]);
}

function closeAccount() {
  const acc = account();
  if (!acc) return;
  const confirmInput = h("input", { name: "confirm", required: true, autocomplete: "off", placeholder: acc.name || acc.id });
  return dialog({
    title: `Close ${acc.name || "this account"}?`,
    id: "close-account-dialog",
    body: [
      h("div", { class: "alert alert-warn" }, h("strong", {}, "This cannot be undone. "), "All applications, keys, credentials, members' access, consent records, usage and the content of the operation log are purged."),
      field(h("span", {}, "Type the account name ", h("span", { class: "mono" }, acc.name || acc.id), " to confirm"), confirmInput),
    ],
    submit: "Close account",
    danger: true,
    onSubmit: async (fd) => {
      if (fd.get("confirm").trim() !== (acc.name || acc.id)) throw new ApiError("The name you typed does not match.", 0, "confirm_mismatch");
      const job = await api("DELETE", `/accounts/${acc.id}`);
      toast(`Account closed; purge due ${fmtTime(job.purge_due)}`);
      try {
        await loadMe();
      } catch {
        /* signed out: this user belonged only to the closed account */
      }
      route();
    },
  });
}

function receiptButton(id) {
  return h("button", { class: "btn btn-sm", dataset: { action: "receipt" }, onclick: guard(async () => { downloadJson(`deletion-receipt-${id}.json`, await get(`/privacy/receipts/${id}`)); toast("Receipt downloaded"); }) }, "Receipt");
}

function retentionTable(jobs) {
  return table(
    [
      { label: "Scope", render: (j) => h("span", {}, h("strong", {}, j.scope), j.sdkappid ? h("span", { class: "mono" }, ` ${j.sdkappid}`) : null) },
      { label: "Trigger", render: (j) => j.trigger },
      { label: "State", render: (j) => badge(j.state) },
      { label: "Requested", cls: "nowrap", render: (j) => when(j.requested_at) },
      { label: "Purge due", cls: "nowrap", render: (j) => when(j.due_at) },
      { label: "Deadline", cls: "nowrap", render: (j) => when(j.deadline_at) },
      { label: "Completed", cls: "nowrap", render: (j) => (j.completed_at ? h("span", {}, when(j.completed_at), j.sla_breach ? h("span", {}, " ", badge("late", "terminated")) : null) : "—") },
      { label: "", cls: "right", render: (j) => (j.receipt_id ? receiptButton(j.receipt_id) : null) },
    ],
    jobs,
  );
}

// ---------------------------------------------------------------- cloud API credentials

async function pageCredentials(main) {
  const acc = S.accountId;
  const owner = isOwner();
  const list = h("div", { id: "credentials" });
  const load = guard(async () => {
    const creds = await get(`/accounts/${acc}/credentials`);
    clear(
      list,
      table(
        [
          { label: "SecretId", cls: "mono", render: (c) => c.secret_id },
          { label: "Status", render: (c) => badge(c.enabled ? "enabled" : "disabled") },
          { label: "Created", cls: "nowrap", render: (c) => when(c.created_at) },
          { label: "Last used", cls: "nowrap", render: (c) => (c.last_used_at ? when(c.last_used_at) : h("span", { class: "muted" }, "never")) },
          {
            label: "",
            cls: "right nowrap",
            render: (c) =>
              owner
                ? h(
                    "div",
                    { class: "row-actions" },
                    c.enabled
                      ? h("button", { class: "btn btn-sm", dataset: { action: "disable" }, onclick: guard(async () => { await post(`/credentials/${c.secret_id}/disable`); toast("Credential disabled"); await load(); }) }, "Disable")
                      : h("button", { class: "btn btn-sm", dataset: { action: "enable" }, onclick: guard(async () => { await post(`/credentials/${c.secret_id}/enable`); toast("Credential enabled"); await load(); }) }, "Enable"),
                    h(
                      "button",
                      {
                        class: "btn btn-sm btn-danger-outline",
                        dataset: { action: "delete" },
                        onclick: () =>
                          confirmDialog({
                            title: "Delete credential?",
                            message: h("p", {}, "Calls signed with ", h("span", { class: "mono" }, c.secret_id), " are refused at once. This cannot be undone."),
                            action: "Delete credential",
                            onConfirm: async () => {
                              await api("DELETE", `/credentials/${c.secret_id}`);
                              toast("Credential deleted");
                              await load();
                            },
                          }),
                      },
                      "Delete",
                    ),
                  )
                : null,
          },
        ],
        creds,
        { empty: empty("No credentials", "Create a SecretId/SecretKey pair to call the TRTC-compatible server API (DismissRoom, RemoveUser, DescribeTrtcUsage…)."), rowAttrs: (c) => ({ dataset: { secretId: c.secret_id } }) },
      ),
    );
  });
  const create = guard(async () => {
    const c = await post(`/accounts/${acc}/credentials`);
    await load();
    await dialog({
      title: "Credential created",
      id: "credential-created",
      body: [
        h("div", { class: "alert alert-warn" }, h("strong", {}, "Save the SecretKey now. "), "It is shown only this once and cannot be read again."),
        field("SecretId", h("input", { class: "mono", readOnly: true, value: c.secret_id })),
        h("div", { class: "field" }, h("label", {}, "SecretKey"), secretBox(c.secret_key, { label: "SecretKey", name: "cloud-secret-key" })),
      ],
      submit: "I have saved it",
      cancel: null,
    });
  });
  clear(
    main,
    pageHead("Cloud API keys", "Credentials for the TRTC-compatible server API (TC3-HMAC-SHA256 signed requests to POST /).", h("button", { class: "btn btn-primary", id: "create-credential", onclick: create, disabled: !owner }, "+ Create credential")),
    card(null, null, list),
  );
  await load();
}

// ---------------------------------------------------------------- users

async function pageUsers(main) {
  const acc = S.accountId;
  const owner = isOwner();
  const list = h("div", { id: "members" });
  const load = guard(async () => {
    const rows = await get(`/accounts/${acc}/members`);
    clear(
      list,
      table(
        [
          { label: "User", render: (m) => h("span", { class: "user-cell" }, h("span", { class: "avatar", "aria-hidden": "true" }, m.username[0].toUpperCase()), h("span", {}, h("strong", {}, m.username), m.user_id === S.me.user.id ? h("span", { class: "muted small" }, " (you)") : null)) },
          { label: "User ID", cls: "mono small", render: (m) => m.user_id },
          {
            label: "Role",
            render: (m) =>
              owner && m.user_id !== S.me.user.id
                ? h(
                    "select",
                    { class: "select select-sm", "aria-label": `Role of ${m.username}`, onchange: guard(async (ev) => { await api("PATCH", `/accounts/${acc}/members/${m.user_id}`, { role: ev.target.value }); toast(`${m.username} is now ${ev.target.value}`); await load(); }) },
                    ["owner", "member"].map((r) => h("option", { value: r, selected: r === m.role }, r)),
                  )
                : badge(m.role, m.role),
          },
          { label: "Member since", cls: "nowrap", render: (m) => when(m.since) },
          {
            label: "",
            cls: "right",
            render: (m) =>
              owner && m.user_id !== S.me.user.id
                ? h("button", { class: "btn btn-sm btn-danger-outline", dataset: { action: "remove" }, onclick: () => confirmDialog({ title: `Remove ${m.username}?`, message: h("p", {}, `${m.username} loses access to this account at once.`), action: "Remove member", onConfirm: async () => { await api("DELETE", `/accounts/${acc}/members/${m.user_id}`); toast(`${m.username} removed`); await load(); } }) }, "Remove")
                : null,
          },
        ],
        rows,
        { rowAttrs: (m) => ({ dataset: { username: m.username } }) },
      ),
    );
  });
  const add = () =>
    dialog({
      title: "Add a user to this account",
      body: [
        field("Username", h("input", { name: "username", required: true, maxlength: 128, autocomplete: "off" })),
        field("Role", h("select", { name: "role", class: "select" }, h("option", { value: "member" }, "Member: sees the account, cannot change it"), h("option", { value: "owner" }, "Owner: full control"))),
        field("Password", h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 1 }), "Only for a new user: creates the user with this password. Leave empty to add an existing user."),
      ],
      submit: "Add user",
      onSubmit: async (fd) => {
        const body = { username: fd.get("username").trim(), role: fd.get("role") };
        if (fd.get("password")) body.password = fd.get("password");
        await post(`/accounts/${acc}/members`, body);
        toast(`${body.username} added as ${body.role}`);
        await load();
      },
    });
  const a = account();
  clear(
    main,
    pageHead("Users", `People with access to ${a?.name || "this account"}. Owners manage applications, keys and users; members can look.`, h("button", { class: "btn btn-primary", id: "add-member", onclick: add, disabled: !owner }, "+ Add user")),
    card(null, null, list),
  );
  await load();
}

// ---------------------------------------------------------------- router

const ROUTES = [
  [/^#\/apps$/, pageApps],
  [/^#\/apps\/(\d+)(?:\/(\w+))?$/, pageApp],
  [/^#\/live(?:\/(\d+))?$/, pageLive],
  [/^#\/usage(?:\/(\d+))?$/, pageUsage],
  [/^#\/oplog$/, pageOplog],
  [/^#\/privacy$/, pagePrivacy],
  [/^#\/credentials$/, pageCredentials],
  [/^#\/users$/, pageUsers],
];

async function route() {
  for (const fn of S.cleanup.splice(0)) fn();
  for (const d of document.querySelectorAll("dialog")) d.close();
  const seq = ++S.renderSeq;
  const hash = location.hash || "#/apps";
  if (hash === "#/login" || !S.token) {
    if (S.token && hash === "#/login") return go("#/apps");
    if (hash !== "#/login") return go("#/login");
    document.title = "Sign in · RelayRoom Console";
    return pageLogin();
  }
  try {
    if (!S.me) await loadMe();
  } catch (e) {
    if (e.status !== 401) clear(document.getElementById("app"), h("div", { class: "login-page" }, errorBox(e)));
    return;
  }
  const found = ROUTES.find(([re]) => re.test(hash));
  if (!found) return go("#/apps");
  const [re, page] = found;
  const main = shell();
  const scratch = h("div", { class: "page" }, h("div", { class: "loading" }, "Loading…"));
  clear(main, scratch);
  if (!S.accountId) {
    clear(scratch, pageHead("No account"), card(null, null, empty("You are not a member of any account", "Ask an owner to add you, or create an account with the switcher above.")));
    return;
  }
  const label = NAV.find(([href]) => hash.startsWith(href))?.[1] || "Console";
  document.title = `${label} · RelayRoom Console`;
  try {
    await page(scratch, hash.match(re).slice(1).filter((x) => x !== undefined), seq);
  } catch (e) {
    if (!(e instanceof ApiError)) reportBug(e);
    else if (seq === S.renderSeq && e.status !== 401) clear(scratch, errorBox(e));
  }
}

// Keyboard: "/" focuses the page's search box; g then a/l/u/o/p/k/m jumps to a page.
let gPressed = 0;
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) return;
  if (ev.key === "/" && document.querySelector("main input[type=search]")) {
    ev.preventDefault();
    document.querySelector("main input[type=search]").focus();
  } else if (ev.key === "g") {
    gPressed = Date.now();
  } else if (Date.now() - gPressed < 1000) {
    const to = { a: "#/apps", l: "#/live", u: "#/usage", o: "#/oplog", p: "#/privacy", k: "#/credentials", m: "#/users" }[ev.key];
    gPressed = 0;
    if (to && S.token) go(to);
  }
});

window.addEventListener("hashchange", route);
route();

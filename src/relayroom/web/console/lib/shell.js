// The frame around every page once signed in: sidebar navigation, account switcher, user chip.

import { api, post } from "./api.js";
import { clear, h, s } from "./dom.js";
import { short } from "./format.js";
import { go } from "./router.js";
import { account, accountId, endSession, loadMe, me, setAccount } from "./session.js";
import { badge, dialog, field, guard, toast } from "./ui.js";

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

export const NAV = [
  ["#/apps", "Applications", "apps"],
  ["#/live", "Live rooms", "live"],
  ["#/usage", "Usage", "usage"],
  ["#/oplog", "Operation log", "oplog"],
  ["#/privacy", "Privacy", "privacy"],
  ["#/credentials", "Cloud API keys", "keys"],
  ["#/users", "Users", "users"],
];

/** The shell (built once, then updated); returns its <main> for the page. */
export function shell() {
  const main = document.getElementById("main");
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

export function updateShell() {
  const sel = document.getElementById("account-switcher");
  clear(
    sel,
    me().accounts.map((a) => h("option", { value: a.id, selected: a.id === accountId() }, a.name || short(a.id))),
    h("option", { value: "__new__" }, "+ New account…"),
  );
  sel.value = accountId() || "";
  const a = account();
  clear(document.getElementById("role-badge"), a ? badge(a.role, a.role) : null);
  clear(document.getElementById("user-chip"), h("span", { class: "avatar", "aria-hidden": "true" }, (me().user.username[0] || "?").toUpperCase()), me().user.username, me().user.is_admin ? h("span", { class: "muted small" }, " · admin") : null);
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
    ev.target.value = accountId() || "";
    const nameInput = h("input", { name: "name", required: true, maxlength: 200, placeholder: "e.g. Production" });
    await dialog({
      title: "New account",
      body: [field("Account name", nameInput, "You become its owner.")],
      submit: "Create account",
      onSubmit: async (fd) => {
        const created = await post("/accounts", { name: fd.get("name").trim() });
        setAccount(created.id);
        await loadMe();
        toast(`Account ${created.name} created`);
        go("#/apps");
      },
    });
    return;
  }
  setAccount(v);
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

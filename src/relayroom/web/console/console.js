// RelayRoom Console: a single-page app over the public console API (/api/v1), hash-routed, native ES
// modules with no build step. This entry wires the router to the pages; lib/ holds what pages share
// (api, session, dom, ui, shell, router, format), pages/ one module per page.
// Secrets (keys, UserSigs, tokens) are only ever put into the DOM on request; never into the console,
// URLs or storage (the session token lives in sessionStorage: this tab only).

import { ApiError, configureApi } from "./lib/api.js";
import { clear, h } from "./lib/dom.js";
import { go, isCurrent, startRouter } from "./lib/router.js";
import { accountId, endSession, loadMe, me, token } from "./lib/session.js";
import { NAV, shell } from "./lib/shell.js";
import { card, empty, errorBox, pageHead, reportBug, toast } from "./lib/ui.js";
import { pageApp } from "./pages/app.js";
import { pageApps } from "./pages/apps.js";
import { pageCredentials } from "./pages/credentials.js";
import { pageLive } from "./pages/live.js";
import { pageLogin } from "./pages/login.js";
import { pageOplog } from "./pages/oplog.js";
import { pagePrivacy } from "./pages/privacy.js";
import { pageUsage } from "./pages/usage.js";
import { pageUsers } from "./pages/users.js";

// hash → page(main, params, seq): params are the pattern's groups
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

configureApi({
  token,
  unauthorized: () => {
    endSession();
    toast("Your session has ended. Sign in again.", "error");
    go("#/login");
  },
});

async function render(hash, seq) {
  if (hash === "#/login" || !token()) {
    if (token() && hash === "#/login") return go("#/apps");
    if (hash !== "#/login") return go("#/login");
    document.title = "Sign in · RelayRoom Console";
    return pageLogin();
  }
  try {
    if (!me()) await loadMe();
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
  if (!accountId()) {
    clear(scratch, pageHead("No account"), card(null, null, empty("You are not a member of any account", "Ask an owner to add you, or create an account with the switcher above.")));
    return;
  }
  const label = NAV.find(([href]) => hash.startsWith(href))?.[1] || "Console";
  document.title = `${label} · RelayRoom Console`;
  try {
    await page(scratch, hash.match(re).slice(1).filter((x) => x !== undefined), seq);
  } catch (e) {
    if (!(e instanceof ApiError)) reportBug(e);
    else if (isCurrent(seq) && e.status !== 401) clear(scratch, errorBox(e));
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
    if (to && token()) go(to);
  }
});

startRouter(render);

// Sign-in.

import { api } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { go } from "../lib/router.js";
import { loadMe, startSession } from "../lib/session.js";
import { field } from "../lib/ui.js";

export function pageLogin() {
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

// Building blocks of the pages: toasts, dialogs, form fields, secrets, cards, tables, error handling.

import { ApiError } from "./api.js";
import { h } from "./dom.js";
import { fmtTime } from "./format.js";

export function toast(message, kind = "ok") {
  const t = h("div", { class: ["toast", `toast-${kind}`], role: kind === "error" ? "alert" : "status" }, message);
  const box = document.getElementById("toasts");
  box.append(t);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => t.classList.add("out"), kind === "error" ? 6000 : 3500);
  setTimeout(() => t.remove(), kind === "error" ? 6400 : 3900);
}

// A modal <dialog> around a <form>: Enter submits, Esc closes, focus starts on the first field.
export function dialog({ title, body, submit = "Save", danger = false, cancel = "Cancel", onSubmit, wide = false, id }) {
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

export function confirmDialog({ title, message, action, danger = true, onConfirm }) {
  return dialog({ title, body: message, submit: action, danger, onSubmit: onConfirm });
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("div", { class: "hint" }, hint) : null);
}

export function secretBox(value, { label = "Secret", name } = {}) {
  const input = h("input", { type: "text", class: "mono secret-value", readOnly: true, value, "aria-label": label, spellcheck: "false", autocomplete: "off", dataset: name ? { secret: name } : {} });
  return h("div", { class: "secret-box" }, input, copyButton(() => input.value, input));
}

export function copyButton(getValue, input) {
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

export function badge(text, kind) {
  return h("span", { class: ["badge", `badge-${kind || text}`] }, text);
}

export function empty(title, text, action) {
  return h("div", { class: "empty" }, h("div", { class: "empty-icon", "aria-hidden": "true" }, "◌"), h("h3", {}, title), text ? h("p", {}, text) : null, action || null);
}

export function errorBox(e) {
  return h("div", { class: "alert alert-error", role: "alert" }, h("strong", {}, "Something went wrong. "), e.message);
}

export function card(title, actions, ...body) {
  return h("section", { class: "card" }, title ? h("header", { class: "card-head" }, h("h2", {}, title), h("div", { class: "card-actions" }, actions)) : null, h("div", { class: "card-body" }, body));
}

export function table(columns, rows, { empty: emptyNode, rowAttrs } = {}) {
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
export function reportBug(e) {
  toast("Something went wrong in the console. Reload the page and try again.", "error");
  setTimeout(() => {
    throw e;
  });
}

export function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      if (!(e instanceof ApiError)) reportBug(e);
      else if (e.status !== 401) toast(e.message, "error");
    }
  };
}

// A table cell's time: minutes (or seconds) in UTC, the full time on hover.
export function when(v, seconds = false) {
  if (!v) return "—";
  const full = fmtTime(v);
  return h("time", { datetime: typeof v === "number" ? new Date(v * 1000).toISOString() : v, title: full }, full.slice(0, seconds ? 19 : 16));
}

export function pageHead(title, sub, ...actions) {
  return h("div", { class: "page-head" }, h("div", {}, h("h1", {}, title), sub ? h("p", { class: "muted" }, sub) : null), h("div", { class: "page-actions" }, actions));
}

export function stat(label, value, kind) {
  return h("div", { class: ["stat", kind && `stat-${kind}`] }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value));
}

export function prop(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function downloadJson(name, obj) {
  download(name, new Blob([JSON.stringify(obj, null, 2) + "\n"], { type: "application/json" }));
}

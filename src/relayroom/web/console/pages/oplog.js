// The operation log (#/oplog): filters, the hash chain's verification, signed checkpoints.

import { get } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { short } from "../lib/format.js";
import { accountId, me } from "../lib/session.js";
import { badge, card, downloadJson, empty, guard, pageHead, table, toast, when } from "../lib/ui.js";

export async function pageOplog(main) {
  const acc = accountId();
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
    if (me()?.user.is_admin) {
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

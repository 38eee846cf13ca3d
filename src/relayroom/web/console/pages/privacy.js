// Privacy (#/privacy): data-subject requests, retention status, records of processing, closing the account.

import { ApiError, api, get, post, records } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { fmtDuration, fmtTime, short } from "../lib/format.js";
import { route } from "../lib/router.js";
import { account, accountId, isOwner, loadMe } from "../lib/session.js";
import { badge, card, dialog, downloadJson, empty, field, guard, pageHead, stat, table, toast, when } from "../lib/ui.js";
import { listApps } from "./apps.js";

export async function pagePrivacy(main) {
  const acc = accountId();
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

export function retentionTable(jobs) {
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

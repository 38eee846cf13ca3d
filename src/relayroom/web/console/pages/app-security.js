// An application's "Security & consent" tab: permission keys, consent policy, attestation, withdrawal.

import { api, get, post } from "../lib/api.js";
import { append, h } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { route } from "../lib/router.js";
import { card, dialog, errorBox, field, guard, prop, toast } from "../lib/ui.js";

export async function appSecurity(body, app, owner) {
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

// Cloud API keys (#/credentials): SecretId/SecretKey pairs for the TRTC-compatible server API.

import { api, get, post } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { accountId, isOwner } from "../lib/session.js";
import { badge, card, confirmDialog, dialog, empty, field, guard, pageHead, secretBox, table, toast, when } from "../lib/ui.js";

export async function pageCredentials(main) {
  const acc = accountId();
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

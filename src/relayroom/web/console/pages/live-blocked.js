// Blocked users of an application (on the Live rooms page): owners block a UserID in the whole
// application (a present member is removed; entry is refused with -100208) and lift the block.
// Every block and unblock is in the operation log with the reason given here.

import { api, get } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { card, confirmDialog, empty, errorBox, table, toast } from "../lib/ui.js";

const path = (sdkappid, userId) => `/applications/${sdkappid}/blocked-users${userId === undefined ? "" : "/" + encodeURIComponent(userId)}`;

export function blockedUsersCard(sdkappid, owner) {
  const list = h("div", { id: "blocked-users" }, h("div", { class: "loading" }, "Loading…"));
  const user = h("input", { name: "user", placeholder: "UserID", maxlength: "32", required: true, "aria-label": "UserID to block" });
  const reason = h("input", { name: "reason", placeholder: "Reason (recorded in the operation log)", maxlength: "200", "aria-label": "Reason" });
  const reload = async () => {
    try {
      const { user_ids: ids } = await get(path(sdkappid));
      clear(
        list,
        table(
          [
            { label: "UserID", render: (id) => h("span", { class: "strong" }, id) },
            {
              label: "",
              cls: "right",
              render: (id) =>
                owner
                  ? h("button", { class: "btn btn-sm", dataset: { action: "unblock", user: id }, onclick: () => confirmDialog({ title: `Unblock ${id}?`, message: h("p", {}, `${id} may enter the application's rooms again.`), action: "Unblock", danger: false, onConfirm: async () => { await api("DELETE", path(sdkappid, id) + (reason.value ? `?reason=${encodeURIComponent(reason.value)}` : "")); toast(`${id} unblocked`); await reload(); } }) }, "Unblock")
                  : null,
            },
          ],
          ids,
          { empty: empty("Nobody is blocked", "A blocked UserID cannot enter any room of this application (error -100208).") },
        ),
      );
    } catch (e) {
      clear(list, e.code === "media_unavailable" ? empty("Not available on this server", e.message) : errorBox(e));
    }
  };
  const form = owner
    ? h("form", { class: "toolbar", id: "block-user", onsubmit: async (ev) => { ev.preventDefault(); try { await api("PUT", path(sdkappid, user.value.trim()), { reason: reason.value || null }); toast(`${user.value.trim()} blocked in the application`); user.value = ""; await reload(); } catch (e) { toast(e.message, "error"); } } }, user, reason, h("button", { class: "btn btn-danger-outline", type: "submit" }, "Block user"))
    : null;
  reload();
  return card("Blocked users", null, form, list);
}

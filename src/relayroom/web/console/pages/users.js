// Users (#/users): the account's members and their roles.

import { api, get, post } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { account, accountId, isOwner, me } from "../lib/session.js";
import { badge, card, confirmDialog, dialog, field, guard, pageHead, table, toast, when } from "../lib/ui.js";

export async function pageUsers(main) {
  const acc = accountId();
  const owner = isOwner();
  const list = h("div", { id: "members" });
  const load = guard(async () => {
    const rows = await get(`/accounts/${acc}/members`);
    clear(
      list,
      table(
        [
          { label: "User", render: (m) => h("span", { class: "user-cell" }, h("span", { class: "avatar", "aria-hidden": "true" }, m.username[0].toUpperCase()), h("span", {}, h("strong", {}, m.username), m.user_id === me().user.id ? h("span", { class: "muted small" }, " (you)") : null)) },
          { label: "User ID", cls: "mono small", render: (m) => m.user_id },
          {
            label: "Role",
            render: (m) =>
              owner && m.user_id !== me().user.id
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
              owner && m.user_id !== me().user.id
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

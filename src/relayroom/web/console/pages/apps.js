// Applications: the list (#/apps), creating one, and the application picker of the live and usage pages.

import { get, post, records } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { parseTags } from "../lib/format.js";
import { go } from "../lib/router.js";
import { accountId, isOwner } from "../lib/session.js";
import { badge, card, dialog, empty, errorBox, field, pageHead, table, toast, when } from "../lib/ui.js";

export async function listApps(params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  return get(`/accounts/${accountId()}/applications${q.toString() ? "?" + q : ""}`);
}

export async function pageApps(main) {
  const search = h("input", { type: "search", name: "q", class: "input", placeholder: "Search name or SDKAppID", "aria-label": "Search applications" });
  const tag = h("input", { type: "search", name: "tag", class: "input", placeholder: "Tag: key or key=value", "aria-label": "Filter by tag" });
  const status = h("select", { name: "status", class: "select", "aria-label": "Filter by status" }, h("option", { value: "" }, "All statuses"), ["enabled", "disabled", "terminated"].map((v) => h("option", { value: v }, v[0].toUpperCase() + v.slice(1))));
  const list = h("div", { id: "apps-list" }, h("div", { class: "loading" }, "Loading applications…"));
  let timer;
  const refresh = async () => {
    try {
      const apps = await listApps({ q: search.value.trim(), tag: tag.value.trim(), status: status.value });
      const filtered = search.value || tag.value || status.value;
      clear(
        list,
        table(
          [
            { label: "Name", render: (a) => h("a", { href: `#/apps/${a.sdkappid}`, class: "strong" }, a.name) },
            { label: "SDKAppID", cls: "mono", render: (a) => String(a.sdkappid) },
            { label: "Status", render: (a) => badge(a.status) },
            { label: "Tags", render: (a) => h("div", { class: "chips" }, Object.entries(a.tags).map(([k, v]) => h("span", { class: "chip" }, v ? `${k}: ${v}` : k))) },
            { label: "Region", render: (a) => a.region },
            { label: "Created", cls: "nowrap", render: (a) => when(a.created_at) },
          ],
          apps,
          {
            rowAttrs: (a) => ({ class: "clickable", dataset: { sdkappid: a.sdkappid }, onclick: (ev) => ev.target.tagName !== "A" && go(`#/apps/${a.sdkappid}`) }),
            empty: filtered ? empty("No applications match", "Try another name, tag or status.") : empty("No applications yet", "Create one to get an SDKAppID and a secret key for your clients.", h("button", { class: "btn btn-primary", onclick: createApp }, "Create application")),
          },
        ),
      );
    } catch (e) {
      clear(list, errorBox(e));
    }
  };
  const debounced = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  };
  search.addEventListener("input", debounced);
  tag.addEventListener("input", debounced);
  status.addEventListener("change", refresh);
  clear(
    main,
    pageHead("Applications", "Each application has an SDKAppID and a secret key your clients sign UserSigs with.", h("button", { class: "btn btn-primary", id: "create-app", onclick: createApp, disabled: !isOwner(), title: isOwner() ? null : "Only owners can create applications" }, "+ Create application")),
    h("div", { class: "toolbar" }, search, tag, status),
    card(null, null, list),
  );
  await refresh();
}

async function createApp() {
  let regions = [];
  try {
    regions = (await records()).generated_from?.regions || [];
  } catch {
    /* the default region is used */
  }
  await dialog({
    title: "Create application",
    body: [
      field("Name", h("input", { name: "name", required: true, maxlength: 200, placeholder: "e.g. Classroom" })),
      field("Description", h("textarea", { name: "description", rows: 2, maxlength: 2000 })),
      field("Tags", h("input", { name: "tags", placeholder: "env=prod, team=web" }), "Comma-separated key=value pairs"),
      regions.length > 1 ? field("Region", h("select", { name: "region", class: "select" }, regions.map((r) => h("option", { value: r }, r)))) : null,
    ],
    submit: "Create",
    onSubmit: async (fd) => {
      const body = { name: fd.get("name").trim(), description: fd.get("description").trim(), tags: parseTags(fd.get("tags") || "") };
      if (fd.get("region")) body.region = fd.get("region");
      const app = await post(`/accounts/${accountId()}/applications`, body);
      toast(`Application ${app.name} created (SDKAppID ${app.sdkappid})`);
      go(`#/apps/${app.sdkappid}`);
    },
  });
}

export async function appPicker(base, current) {
  const apps = (await listApps()).filter((a) => a.status !== "terminated");
  const sel = h("select", { class: "select", id: "app-picker", "aria-label": "Application", onchange: (ev) => go(`${base}/${ev.target.value}`) }, apps.map((a) => h("option", { value: a.sdkappid, selected: a.sdkappid === current }, `${a.name} · ${a.sdkappid}`)));
  return { apps, sel };
}

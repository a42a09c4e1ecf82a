// Sources: where providers send webhooks. The list, a create form whose fields follow the chosen
// verification scheme, and a source's page: its ingest URL, settings, secrets (add, retire), the
// requests it rejected and why ("why does my signature fail?"), and delete.
import * as api from "./api.js";
import { h, replace, when, bytes } from "./dom.js";
import { link, go } from "./router.js";
import {
  page, section, button, confirmButton, copyable, badge, details, pagedTable, field, form, FieldError, announce,
} from "./ui.js";

// What each scheme needs comes from the API (GET /v1/schemes, built from each scheme module's own
// declaration): its label, the secret's name, whether it checks a signed timestamp (and its default
// tolerance) and its options. Option kinds: flag (checkbox), text, header, url, seconds, choice (a select).
// Loaded once per page load; a failure is retried on the next page that needs it.
let catalog = null;

async function schemes() {
  if (!catalog) {
    catalog = api.get("schemes").then((doc) => {
      const byName = new Map();
      for (const spec of doc.schemes) {
        byName.set(spec.name, spec);
        for (const alias of spec.aliases) byName.set(alias, spec);
      }
      return { list: doc.schemes, byName };
    });
    catalog.catch(() => { catalog = null; });
  }
  return catalog;
}

/** 259200 -> "3 days", 5400 -> "90 min". */
function span(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} day${seconds === 86400 ? "" : "s"}`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function schemeLabel(known, scheme) {
  const spec = known && known.byName.get(scheme);
  return spec ? spec.label : scheme;
}

export async function sourcesPage() {
  const known = await schemes().catch(() => null); // the list still shows, with scheme names
  return page("Sources",
    h("p", { class: "top-actions" }, h("a", { class: "btn primary", href: "#/sources/new", "data-testid": "new-source" }, "New source")),
    pagedTable({
      testid: "sources",
      caption: "Where providers send webhooks",
      load: (cursor) => api.get("sources", { cursor }),
      columns: [
        { label: "Name", cell: (s) => h("a", { href: link(`/sources/${s.id}`) }, s.name) },
        { label: "Scheme", cell: (s) => schemeLabel(known, s.verification.scheme) },
        { label: "Ingest URL", cell: (s) => h("span", { class: "mono" }, s.ingest_url) },
        { label: "Created", cell: (s) => when(s.created_at) },
      ],
      emptyText: "No source yet: create one, then give its ingest URL to the provider.",
      emptyActions: [h("a", { class: "btn primary", href: "#/sources/new" }, "Create a source")],
    }));
}

function optionField(spec) {
  const fieldName = `verification.options.${spec.name}`;
  const help = spec.help || undefined;
  if (spec.kind === "flag") return field({ label: spec.label, name: fieldName, kind: "checkbox", help });
  if (spec.kind === "choice") {
    return field({ label: spec.label, name: fieldName, kind: "select", help, options: [["", "Default"], ...spec.choices.map((c) => [c, c])] });
  }
  const kind = spec.kind === "url" ? "url" : spec.kind === "seconds" ? "number" : "text";
  return field({ label: spec.label, name: fieldName, kind, help, required: Boolean(spec.required) });
}

function schemeFields(spec) {
  const parts = [
    field({ label: spec.secret_label, name: "verification.secrets", kind: "textarea", rows: 2, required: true, testid: "secrets",
      help: spec.name === "basic" ? "One user:password per line; any may match." : "One per line; any of them may match, so a new secret can be added before the old one is retired." }),
  ];
  if (spec.timestamp) {
    parts.push(field({ label: "Tolerance (seconds)", name: "verification.tolerance", kind: "number", testid: "tolerance",
      help: spec.tolerance ? `How old a signed timestamp may be; ${spec.tolerance} s when empty.` : "How old a signed timestamp may be; no limit when empty." }));
  }
  for (const option of spec.options) parts.push(optionField(option));
  return h("fieldset", { class: "choices", "data-testid": "scheme-fields" }, h("legend", {}, `${spec.label} verification`), parts);
}

function integerOrNull(text, fieldName, label) {
  const value = String(text ?? "").trim();
  if (!value) return null;
  if (!/^\d+$/.test(value)) throw new FieldError(fieldName, `${label} is a whole number.`);
  return Number(value);
}

function verificationDoc(values, spec) {
  const secrets = String(values["verification.secrets"] || "").split("\n").map((s) => s.trim()).filter(Boolean);
  if (!secrets.length) throw new FieldError("verification.secrets", `Give the ${spec.secret_label.toLowerCase()}.`);
  const doc = { scheme: spec.name, secrets };
  if (spec.timestamp) {
    const tolerance = integerOrNull(values["verification.tolerance"], "verification.tolerance", "The tolerance");
    if (tolerance !== null) doc.tolerance = tolerance;
  }
  const options = {};
  for (const option of spec.options) {
    const name = option.name;
    const raw = values[`verification.options.${name}`];
    if (option.kind === "flag") {
      if (raw) options[name] = true;
    } else if (option.kind === "seconds") {
      const n = integerOrNull(raw, `verification.options.${name}`, option.label);
      if (n !== null) options[name] = n;
    } else if (typeof raw === "string" && raw !== "") {
      options[name] = raw;
    }
  }
  doc.options = options;
  return doc;
}

// The API names "verification" when the scheme's dry run refused a secret: that is the secrets field.
function onSecrets(error) {
  if (error instanceof api.ApiError && error.detail.field === "verification") {
    return new FieldError("verification.secrets", error.message);
  }
  return error;
}

export async function newSourcePage(ctx, query = {}) {
  const known = await schemes();
  const asked = known.byName.get(query.scheme);
  const initial = asked ? asked.name : known.list[0].name;
  const picker = field({ label: "Verification scheme", name: "verification.scheme", kind: "select", value: initial, testid: "scheme",
    options: known.list.map((spec) => [spec.name, spec.label]),
    help: "How Hookway checks that a request really comes from the provider." });
  const holder = h("div", {}, schemeFields(known.byName.get(initial)));
  picker.input.addEventListener("change", () => replace(holder, schemeFields(known.byName.get(picker.input.value))));
  const advanced = h("details", { class: "advanced" }, h("summary", {}, "More settings"),
    field({ label: "IP allowlist", name: "ip_allowlist", kind: "textarea", rows: 2, help: "CIDR ranges, one per line; any address when empty." }),
    field({ label: "Rejection status", name: "rejection_status", kind: "number", help: "The status a refused request gets; 401 when empty." }),
    field({ label: "Deduplicate by", name: "dedupe", help: "body, none, header:NAME or json:/pointer; the scheme's delivery id when empty." }),
    field({ label: "Largest body (bytes)", name: "max_body_bytes", kind: "number" }),
    field({ label: "Application", name: "application", help: "An application's id or uid: its webhooks then reach only that application's endpoints." }));
  const create = form({
    testid: "source-form",
    submitLabel: "Create source",
    fields: [
      field({ label: "Name", name: "name", required: true, testid: "source-name" }),
      field({ label: "Description", name: "description" }),
      picker,
      holder,
      advanced,
    ],
    onSubmit: async (values) => {
      const doc = { name: values.name, verification: verificationDoc(values, known.byName.get(values["verification.scheme"])) };
      if (values.description) doc.description = values.description;
      const cidrs = String(values.ip_allowlist || "").split("\n").map((s) => s.trim()).filter(Boolean);
      if (cidrs.length) doc.ip_allowlist = cidrs;
      const status = integerOrNull(values.rejection_status, "rejection_status", "The rejection status");
      if (status !== null) doc.rejection_status = status;
      if (values.dedupe) doc.dedupe = values.dedupe;
      const size = integerOrNull(values.max_body_bytes, "max_body_bytes", "The largest body");
      if (size !== null) doc.max_body_bytes = size;
      if (values.application) doc.application = values.application;
      let created;
      try {
        created = await api.post("sources", doc);
      } catch (error) {
        throw onSecrets(error);
      }
      announce(`Source ${created.name} created. Give its ingest URL to the provider.`);
      go(`/sources/${created.id}`);
    },
  });
  return page("New source", create);
}

export async function sourcePage(ctx, id) {
  const [source, known] = await Promise.all([api.get(`sources/${encodeURIComponent(id)}`), schemes().catch(() => null)]);
  const v = source.verification;
  const secretsPart = h("div", { "data-testid": "secrets-part" });
  const rejectionsPart = h("div", { "data-testid": "rejections-part" });

  function showSecrets(list) {
    const now = Date.now() / 1000;
    const rows = list.map((s) => h("tr", {},
      h("td", { "data-label": "Secret" }, h("span", { class: "mono" }, s.hint)),
      h("td", { "data-label": "Added" }, when(s.created_at)),
      h("td", { "data-label": "State" }, s.expires_at === null ? badge("live", "enabled")
        : s.expires_at > now ? badge(`retires ${when(s.expires_at)}`, "pending") : badge("retired", "disabled")),
      h("td", { "data-label": "Action" }, confirmButton("Retire", "Retire this secret now?", async () => {
        await api.del(`sources/${encodeURIComponent(source.id)}/secrets/${encodeURIComponent(s.id)}`);
        const fresh = await api.get(`sources/${encodeURIComponent(source.id)}`);
        showSecrets(fresh.verification.secrets);
        announce("Secret retired: requests signed with it are now rejected.");
      }, { testid: `retire-${s.id}` }))));
    const table = h("div", { class: "table-wrap" }, h("table", { class: "list", "data-testid": "secrets" },
      h("caption", {}, "Any live secret verifies a request. Values are never shown again, only their last characters."),
      h("thead", {}, h("tr", {}, ["Secret", "Added", "State", "Action"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
    const add = form({
      testid: "add-secret",
      submitLabel: "Add secret",
      fields: [
        field({ label: "New secret", name: "secret", kind: "password", required: true, testid: "new-secret" }),
        field({ label: "Retire the others", name: "retire_others_after", kind: "select", value: "",
          options: [["", "No, keep them"], ["0", "Now"], ["3600", "In 1 hour"], ["86400", "In 24 hours"], ["604800", "In 7 days"]],
          help: "Keep the old secret while the provider switches over, then retire it." }),
      ],
      onSubmit: async (values) => {
        const body = { secret: values.secret };
        if (values.retire_others_after !== "") body.retire_others_after = Number(values.retire_others_after);
        const result = await api.post(`sources/${encodeURIComponent(source.id)}/secrets`, body);
        showSecrets(result.secrets);
        announce(`Secret ${result.secret.hint} added.`);
      },
    });
    replace(secretsPart, table, h("h3", {}, "Add a secret"), add);
  }

  function showRejections() {
    const counts = h("div", { "data-testid": "rejection-counts" });
    const table = pagedTable({
      testid: "rejections",
      caption: "The most recent rejected requests, newest first",
      load: async () => {
        const result = await api.get(`sources/${encodeURIComponent(source.id)}/rejections`);
        const entries = Object.entries(result.counts || {}).filter(([code]) => code !== "total").sort((a, b) => b[1] - a[1]);
        replace(counts, entries.length
          ? h("ul", { class: "counts" }, entries.map(([code, n]) => h("li", {}, h("span", { class: "mono" }, code), ` ${n}`)))
          : null);
        return { data: result.data, next_cursor: null };
      },
      columns: [
        { label: "Time", cell: (r) => when(r.at) },
        { label: "Reason", cell: (r) => h("span", {}, h("span", { class: "mono" }, r.code), h("br", {}), r.message) },
        { label: "Source IP", cell: (r) => h("span", { class: "mono" }, r.source_ip || "—") },
        { label: "Request", cell: (r) => `${r.method || "—"} ${r.content_type || ""}`.trim() },
        { label: "Size", cell: (r) => bytes(r.size) },
        { label: "Headers", cell: (r) => h("span", { class: "mono" }, (r.header_names || []).join(", ") || "—") },
        { label: "User agent", cell: (r) => r.user_agent || "—" },
      ],
      emptyText: "No request has been rejected. If a provider says its webhooks fail, check that it sends them to the ingest URL above.",
    });
    replace(rejectionsPart,
      h("p", { class: "help" }, "Each rejection names its reason: signature_mismatch means the secret differs from the provider's, timestamp_too_old a clock or replay problem, missing_header a request that is not from the provider (or the wrong scheme)."),
      counts, table,
      h("div", { class: "actions" }, button("Refresh", async () => { showRejections(); }, { kind: "small", testid: "refresh-rejections" })));
  }

  const state = h("span", {}, source.enabled ? badge("enabled") : badge("disabled"));
  const settings = form({
    testid: "source-settings",
    submitLabel: "Save",
    fields: [
      field({ label: "Name", name: "name", value: source.name, required: true }),
      field({ label: "Description", name: "description", value: source.description }),
      field({ label: "Accept requests", name: "enabled", kind: "checkbox", value: source.enabled, help: "When off, every request is rejected." }),
    ],
    onSubmit: async (values) => {
      const saved = await api.patch(`sources/${encodeURIComponent(source.id)}`, { name: values.name, description: values.description, enabled: values.enabled });
      replace(title, saved.name);
      replace(state, saved.enabled ? badge("enabled") : badge("disabled"));
      announce(saved.enabled ? "Source saved." : "Source saved: it rejects every request until it is turned back on.");
    },
  });

  const view = page(source.name,
    h("p", { class: "subtitle" }, schemeLabel(known, v.scheme), " · ", state),
    copyable("Ingest URL", source.ingest_url, "ingest-url"),
    section("Settings",
      details([
        ["Id", h("span", { class: "mono" }, source.id)],
        ["Scheme", `${schemeLabel(known, v.scheme)} (${v.scheme})`],
        v.tolerance !== null ? ["Tolerance", `${v.tolerance} s`] : null,
        Object.keys(v.options || {}).length ? ["Options", h("span", { class: "mono" }, JSON.stringify(v.options))] : null,
        ["IP allowlist", source.ip_allowlist.length ? source.ip_allowlist.join(", ") : "Any address"],
        ["Rejection status", String(source.rejection_status)],
        ["Deduplicate by", source.dedupe || "The scheme's delivery id"],
        ["Replay window", span(source.replay_window)],
        source.max_body_bytes ? ["Largest body", bytes(source.max_body_bytes)] : null,
        source.application_id ? ["Application", h("a", { href: link(`/applications/${source.application_id}`) }, source.application_id)] : null,
        ["Created", when(source.created_at)],
        ["Updated", when(source.updated_at)],
      ]),
      h("h3", {}, "Change"),
      settings),
    section("Secrets", secretsPart),
    section("Recent rejections", rejectionsPart),
    section("Messages", h("p", {}, h("a", { href: link("/messages", { source: source.id }) }, "Messages received from this source"))),
    section("Delete",
      h("p", {}, "Requests to the ingest URL are refused once the source is deleted; its stored messages stay until their retention ends."),
      confirmButton("Delete source", "Delete this source?", async () => {
        await api.del(`sources/${encodeURIComponent(source.id)}`);
        announce(`Source ${source.name} deleted.`);
        go("/sources");
      }, { testid: "delete-source" })));
  const title = view.querySelector("h1");
  showSecrets(v.secrets);
  showRejections();
  return view;
}

// Applications (the platform's customers): the list with a create form, and an application's page:
// its endpoints and messages, a portal link to mint, copy and open (or revoke every one), its portal
// branding, and delete.
import * as api from "./api.js";
import { h, replace, when, portalAnchor } from "./dom.js";
import { link, go } from "./router.js";
import { page, section, confirmButton, copyable, details, pagedTable, field, form, announce, FieldError } from "./ui.js";
import { followJob } from "./jobs.js";

export function applicationsPage() {
  const create = form({
    testid: "application-form",
    submitLabel: "Create application",
    fields: [
      h("div", { class: "grid" },
        field({ label: "Name", name: "name", required: true, testid: "application-name" }),
        field({ label: "Your id for it (uid)", name: "uid", testid: "application-uid",
          help: "Optional: the customer's id in your own system; the API then takes it wherever an application id goes." })),
    ],
    onSubmit: async (values) => {
      const doc = { name: values.name };
      if (values.uid) doc.uid = values.uid;
      const created = await api.post("applications", doc);
      announce(`Application ${created.name} created.`);
      go(`/applications/${created.id}`);
    },
  });
  return page("Applications",
    h("p", { class: "help" }, "An application is one of your customers: it owns endpoints, sees only its own messages, and manages them in the portal."),
    pagedTable({
      testid: "applications",
      caption: "Applications, oldest first",
      load: (cursor) => api.get("applications", { cursor }),
      columns: [
        { label: "Name", cell: (a) => h("a", { href: link(`/applications/${a.id}`) }, a.name) },
        { label: "uid", cell: (a) => (a.uid ? h("span", { class: "mono" }, a.uid) : "—") },
        { label: "Id", cell: (a) => h("span", { class: "mono" }, a.id) },
        { label: "Created", cell: (a) => when(a.created_at) },
      ],
      emptyText: "No application yet: create one below for each customer whose endpoints Hookway delivers to.",
    }),
    section("Create an application", create));
}

const LIFETIMES = [["3600", "1 hour"], ["86400", "24 hours"], ["604800", "7 days"]];

function portalPart(application) {
  const result = h("div", { class: "portal-link", "data-testid": "portal-link", "aria-live": "polite" });
  const mint = form({
    testid: "portal-form",
    submitLabel: "Create portal link",
    fields: [
      h("div", { class: "grid" },
        field({ label: "Expires after", name: "expires_in", kind: "select", value: "86400", options: LIFETIMES, testid: "portal-expires" }),
        field({ label: "Read-only", name: "read_only", kind: "checkbox", testid: "portal-read-only",
          help: "The customer sees endpoints and messages but changes nothing." })),
    ],
    onSubmit: async (values) => {
      const minted = await api.post(`applications/${encodeURIComponent(application.id)}/portal-access`, {
        expires_in: Number(values.expires_in), read_only: values.read_only,
      });
      let open = null;
      try {
        open = portalAnchor(minted.url, "Open portal");
        open.classList.add("btn");
      } catch {
        // A public URL on another origin (a custom domain): copy it instead of opening it from here.
      }
      replace(result,
        copyable("Portal link", minted.url, "portal-url"),
        h("p", { class: "help" }, `${values.read_only ? "Read-only, expires" : "Expires"} ${when(minted.expires_at)}. Anyone with the link sees this application until then; treat it as a password.`),
        open);
      announce("Portal link created.");
    },
  });
  const revoke = confirmButton("Revoke portal links", "End every portal link of this application now?", async () => {
    await api.post(`applications/${encodeURIComponent(application.id)}/portal-access/revoke`, {});
    replace(result);
    announce("Every portal link of this application is revoked; new links still work.");
  }, { testid: "revoke-portal" });
  return section("Portal",
    h("p", {}, "The portal lets this customer manage its own endpoints and see its messages, through a link you give it (embed it in your own site)."),
    mint, result, h("div", { class: "actions" }, revoke));
}

function editPart(application, title) {
  const hasBranding = Object.prototype.hasOwnProperty.call(application, "branding");
  const brand = application.branding || {};
  const brandingFields = hasBranding ? [
    h("h3", {}, "Portal branding"),
    h("p", { class: "help" }, "What this customer's portal shows itself as; empty fields use the deployment's defaults."),
    h("div", { class: "grid" },
      field({ label: "Portal name", name: "branding.name", value: brand.name || "", testid: "branding-name" }),
      field({ label: "Logo URL", name: "branding.logo_url", kind: "url", value: brand.logo_url || "", help: "An https URL.", testid: "branding-logo" }),
      field({ label: "Accent colour", name: "branding.accent", value: brand.accent || "", placeholder: "#1f4fd1", help: "#rrggbb, dark enough for white text on it (4.5:1)", testid: "branding-accent" })),
  ] : [];
  return form({
    testid: "application-settings",
    submitLabel: "Save",
    fields: [
      h("div", { class: "grid" },
        field({ label: "Name", name: "name", value: application.name, required: true }),
        field({ label: "Your id for it (uid)", name: "uid", value: application.uid || "" })),
      ...brandingFields,
    ],
    onSubmit: async (values) => {
      const doc = { name: values.name };
      if (values.uid !== (application.uid || "")) doc.uid = values.uid || null;
      if (hasBranding) {
        const accent = values["branding.accent"].trim();
        if (accent && !/^#[0-9a-fA-F]{6}$/.test(accent)) throw new FieldError("branding.accent", "The accent colour is #rrggbb, such as #1f4fd1.");
        const branding = { name: values["branding.name"] || null, logo_url: values["branding.logo_url"] || null, accent: accent || null };
        doc.branding = Object.values(branding).some(Boolean) ? branding : null;
      }
      const saved = await api.patch(`applications/${encodeURIComponent(application.id)}`, doc);
      replace(title, saved.name);
      announce("Application saved.");
    },
  });
}

export async function applicationPage(ctx, id) {
  const application = await api.get(`applications/${encodeURIComponent(id)}`);
  const metadata = Object.entries(application.metadata || {});
  const view = page(application.name,
    details([
      ["Id", h("span", { class: "mono" }, application.id)],
      ["uid", application.uid ? h("span", { class: "mono" }, application.uid) : "—"],
      metadata.length ? ["Metadata", h("span", { class: "mono" }, metadata.map(([k, v]) => `${k}=${v}`).join(", "))] : null,
      ["Created", when(application.created_at)],
    ]),
    section("Endpoints and messages",
      h("ul", { class: "links" },
        h("li", {}, h("a", { href: link("/endpoints", { application: application.id }), "data-testid": "app-endpoints" }, "Endpoints of this application")),
        h("li", {}, h("a", { href: link("/endpoints/new", { application: application.id }), "data-testid": "app-new-endpoint" }, "Add an endpoint for it")),
        h("li", {}, h("a", { href: link("/messages", { application: application.id }), "data-testid": "app-messages" }, "Its messages")))),
    portalPart(application));
  const title = view.querySelector("h1");
  const deleting = h("div", { "data-testid": "delete-progress", "aria-live": "polite" });
  view.append(
    section("Settings", editPart(application, title)),
    section("Delete",
      h("p", {}, "Deleting the application deletes its endpoints; their queued deliveries end skipped."),
      confirmButton("Delete application", "Delete this application and its endpoints?", async () => {
        const job = await api.del(`applications/${encodeURIComponent(application.id)}`);
        announce(`Application ${application.name} deleted; deleting its endpoints.`);
        const ended = await followJob(job, deleting, { what: ["endpoint deleted", "endpoints deleted"] });
        if (ended && ended.state === "succeeded") go("/applications");
      }, { testid: "delete-application" }),
      deleting));
  return view;
}

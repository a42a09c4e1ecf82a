// The event-type catalog: what producers publish and endpoints filter on. The list with a create
// form, and an event type's page with its schema shown and edited (checked as JSON while typing, and
// as a JSON Schema by the API on save), deprecation, and delete.
import * as api from "./api.js";
import { h, when } from "./dom.js";
import { link, go } from "./router.js";
import { page, section, badge, confirmButton, details, pagedTable, field, form, announce, FieldError } from "./ui.js";

/** The schema's text as an object, null when empty; throws FieldError("schema") when it is not one. */
function parseSchema(text) {
  const source = String(text || "").trim();
  if (!source) return null;
  let doc;
  try {
    doc = JSON.parse(source);
  } catch (error) {
    throw new FieldError("schema", `The schema is not valid JSON: ${error.message}.`.replace(/\.\.$/, "."));
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new FieldError("schema", "A JSON Schema is an object, such as {\"type\": \"object\"}.");
  }
  return doc;
}

/** A schema textarea that says, while it is typed, whether it is JSON. */
function schemaField(value) {
  const row = field({ label: "JSON Schema", name: "schema", kind: "textarea", rows: 10, value, testid: "schema",
    help: "Optional (draft 2020-12). Published payloads of this type must match it; empty accepts any payload." });
  const message = row.querySelector(".field-error");
  const check = () => {
    try {
      parseSchema(row.input.value);
      row.input.removeAttribute("aria-invalid");
      message.textContent = "";
    } catch (error) {
      row.input.setAttribute("aria-invalid", "true");
      message.textContent = error.message;
    }
  };
  row.input.addEventListener("input", check);
  return row;
}

function pretty(schema) {
  return schema ? JSON.stringify(schema, null, 2) : "";
}

export function eventTypesPage() {
  const create = form({
    testid: "event-type-form",
    submitLabel: "Add event type",
    fields: [
      field({ label: "Name", name: "name", required: true, placeholder: "order.created", testid: "event-type-name",
        help: "Letters, digits and _ . : - (dots group types: endpoints can filter on order.*)." }),
      field({ label: "Description", name: "description", testid: "event-type-description" }),
      schemaField(""),
      field({ label: "Deprecated", name: "deprecated", kind: "checkbox", help: "Still accepted; shown as deprecated to those who choose filters." }),
    ],
    onSubmit: async (values) => {
      const doc = { name: values.name, description: values.description, deprecated: values.deprecated };
      const schema = parseSchema(values.schema);
      if (schema) doc.schema = schema;
      const created = await api.post("event-types", doc);
      announce(`Event type ${created.name} added.`);
      go(`/event-types/${encodeURIComponent(created.name)}`);
    },
  });
  return page("Event types",
    h("p", { class: "help" }, "The catalog of events you publish: endpoints choose from it, and a schema checks every payload on publish."),
    pagedTable({
      testid: "event-types",
      caption: "The catalog, by name",
      load: (cursor) => api.get("event-types", { cursor }),
      columns: [
        { label: "Name", cell: (t) => h("a", { href: link(`/event-types/${encodeURIComponent(t.name)}`), class: "mono" }, t.name) },
        { label: "Description", cell: (t) => t.description || "—" },
        { label: "Schema", cell: (t) => (t.schema ? "Yes" : "None") },
        { label: "State", cell: (t) => (t.deprecated ? badge("deprecated", "pending") : badge("active", "enabled")) },
        { label: "Updated", cell: (t) => when(t.updated_at) },
      ],
      emptyText: "The catalog is empty: add the event types you publish below, so endpoints can choose them.",
    }),
    section("Add an event type", create));
}

export async function eventTypePage(ctx, name) {
  const type = await api.get(`event-types/${encodeURIComponent(name)}`);
  const shown = h("pre", { class: "schema", "data-testid": "schema-shown", tabindex: "0" }, pretty(type.schema));
  const state = h("span", {}, type.deprecated ? badge("deprecated", "pending") : badge("active", "enabled"));
  const description = h("span", {}, type.description || "—");
  const edit = form({
    testid: "event-type-edit",
    submitLabel: "Save",
    fields: [
      field({ label: "Description", name: "description", value: type.description }),
      schemaField(pretty(type.schema)),
      field({ label: "Deprecated", name: "deprecated", kind: "checkbox", value: type.deprecated }),
    ],
    onSubmit: async (values) => {
      const saved = await api.patch(`event-types/${encodeURIComponent(type.name)}`, {
        description: values.description, schema: parseSchema(values.schema), deprecated: values.deprecated,
      });
      shown.textContent = pretty(saved.schema);
      shown.hidden = !saved.schema;
      noSchema.hidden = Boolean(saved.schema);
      description.textContent = saved.description || "—";
      state.replaceChildren(saved.deprecated ? badge("deprecated", "pending") : badge("active", "enabled"));
      announce(`Event type ${saved.name} saved.`);
    },
  });
  const noSchema = h("p", { class: "muted", hidden: Boolean(type.schema) }, "No schema: any payload is accepted.");
  shown.hidden = !type.schema;
  return page(type.name,
    details([
      ["Description", description],
      ["State", state],
      ["Created", when(type.created_at)],
      ["Updated", when(type.updated_at)],
    ]),
    section("Schema", shown, noSchema),
    section("Messages", h("p", {}, h("a", { href: link("/messages", { event_type: type.name }) }, `Messages of type ${type.name}`))),
    section("Edit", edit),
    section("Delete",
      h("p", {}, "Removing it from the catalog changes no endpoint's filters and no stored message."),
      confirmButton("Delete event type", "Remove this event type from the catalog?", async () => {
        await api.del(`event-types/${encodeURIComponent(type.name)}`);
        announce(`Event type ${type.name} deleted.`);
        go("/event-types");
      }, { testid: "delete-event-type" })));
}

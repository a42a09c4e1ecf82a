// An endpoint's transformation: the JavaScript editor, simulate on a payload or a stored message, save,
// switch off and remove. Results are shown as text only (the request a receiver would get is data).
import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { section, button, confirmButton, field, form, FieldError, announce, errorBox } from "./ui.js";

const TEMPLATE = `function handler(webhook) {
  // webhook: {method, url, headers, payload (JSON) or body (text), cancel}
  // e.g. reshape for Slack: webhook.payload = {text: "New event: " + JSON.stringify(webhook.payload)};
  return webhook;
}`;

function outcomeView(result) {
  if (result.outcome === "cancelled") {
    return h("p", { "data-testid": "simulate-outcome" }, "Cancelled: the delivery would end skipped (cancelled_by_transformation); nothing is sent.");
  }
  if (result.outcome === "failed") {
    return h("div", {},
      h("p", { "data-testid": "simulate-outcome" }, "The transformation failed: the attempt would end failed (transformation_error)."),
      h("pre", { class: "mono", "data-testid": "simulate-error" }, result.error));
  }
  const request = result.request;
  const head = `${request.method} ${request.url}\n` + Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`).join("\n");
  const body = request.payload !== undefined ? JSON.stringify(request.payload, null, 2) : request.body;
  return h("div", {},
    h("p", { "data-testid": "simulate-outcome" }, "The request that would be sent (before its signature and credentials):"),
    h("pre", { class: "mono", "data-testid": "simulate-request" }, `${head}\n\n${body}`));
}

/** The transformation section of an endpoint's page; ``onSaved(endpoint)`` after a save. */
export function transformPart(endpoint, onSaved = () => {}) {
  const current = endpoint.transformation;
  const result = h("div", { "data-testid": "simulate-result", "aria-live": "polite" });
  const code = field({ label: "Code", name: "transformation.code", kind: "textarea", rows: 12, testid: "transform-code",
    value: current ? current.code : TEMPLATE,
    help: "function handler(webhook) { ...; return webhook; } runs before signing: 50 ms and 16 MB per run, no I/O." });
  const enabled = field({ label: "Run it on deliveries", name: "transformation.enabled", kind: "checkbox", testid: "transform-enabled",
    value: current ? current.enabled : true });
  const payload = field({ label: "Try on this payload (JSON)", name: "payload", kind: "textarea", rows: 4, testid: "simulate-payload",
    placeholder: '{"action": "opened"}', help: "Or name a stored message below." });
  const message = field({ label: "Or on a stored message", name: "message_id", placeholder: "msg_…", testid: "simulate-message" });
  const path = `endpoints/${encodeURIComponent(endpoint.id)}`;

  async function simulate(v) {
    const doc = { code: v["transformation.code"] };
    if (v.message_id.trim()) {
      doc.message_id = v.message_id.trim();
    } else {
      try {
        doc.payload = JSON.parse(v.payload.trim() || "{}");
      } catch {
        throw new FieldError("payload", "The payload is not valid JSON.");
      }
    }
    replace(result, outcomeView(await api.post(`${path}/transformation/simulate`, doc)));
  }

  const theForm = form({
    fields: [code, enabled, payload, message],
    submitLabel: "Simulate",
    testid: "transform",
    onSubmit: simulate,
    extra: [h("div", { class: "actions" },
      button("Save", async () => {
        const v = {};
        for (const el of theForm.querySelectorAll("[name]")) v[el.name] = el.type === "checkbox" ? el.checked : el.value;
        try {
          const saved = await api.patch(path, { transformation: { code: v["transformation.code"], enabled: v["transformation.enabled"] } });
          announce("Transformation saved: it applies to the next delivery attempt.");
          onSaved(saved);
        } catch (error) {
          replace(result, errorBox(error));
        }
      }, { testid: "transform-save" }),
      current ? confirmButton("Remove", "Remove the transformation? Deliveries go out unchanged from then on.", async () => {
        onSaved(await api.patch(path, { transformation: null }));
        announce("Transformation removed.");
      }, { testid: "transform-remove" }) : null)],
  });
  return section("Transformation",
    h("p", { class: "muted" }, "JavaScript that reshapes each request before it is signed and sent, or cancels it."),
    theForm, result);
}

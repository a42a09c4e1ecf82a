// The payload filter of the endpoint form: an EventBridge event pattern (JSON) and a live test of the
// whole filter against a recent message (POST /v1/filters/test). Everything shown is text.
import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { field, button, errorText, FieldError } from "./ui.js";

const DEBOUNCE_MS = 400;

/** The pattern editor; `currentFilter()` gives the form's event types and sources, `application()` the
 * owner whose recent messages to offer (undefined: the caller's own). Has .pattern() for the submit. */
export function payloadFilterPart({ existing, currentFilter, application }) {
  const start = existing && existing.filter.payload ? JSON.stringify(existing.filter.payload, null, 2) : "";
  const editor = field({
    label: "Event pattern (JSON)", name: "filter.payload", kind: "textarea", rows: 5, value: start, testid: "endpoint-payload-filter",
    placeholder: '{"payload": {"total": [{"numeric": [">", 100]}]}}',
    help: "An EventBridge event pattern on event_type, source, application, payload and headers (names in lower case). Empty: every message its event types and sources take.",
  });
  const chooser = h("select", { name: "filter_test_message", "data-testid": "filter-test-message", "aria-label": "Recent message to test against" },
    h("option", { value: "" }, "Choose a recent message…"));
  const result = h("p", { class: "filter-result", "aria-live": "polite", "data-testid": "filter-test-result" });
  const seen = h("pre", { class: "mono filter-document", "data-testid": "filter-test-document", hidden: true });
  let loaded = false;
  let timer = null;
  let asked = 0;

  async function loadMessages() {
    if (loaded) return;
    loaded = true;
    const owner = application();
    try {
      const got = await api.get("messages", owner ? { limit: 20, application: owner } : { limit: 20 });
      for (const m of got.data) {
        chooser.append(h("option", { value: m.id }, `${m.event_type || "(no type)"} · ${m.source_id} · ${m.id}`));
      }
      if (!got.data.length) replace(result, "No recent message to test against.");
    } catch (error) {
      loaded = false;
      replace(result, errorText(error));
    }
  }

  function pattern() {
    const text = editor.input.value.trim();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new FieldError("filter.payload", `The payload filter is not valid JSON: ${error.message}`);
    }
  }

  async function runTest() {
    const messageId = chooser.value;
    if (!messageId) return;
    const mine = ++asked;
    let filter;
    try {
      filter = { ...currentFilter(), payload: pattern() };
    } catch (error) {
      replace(result, error.message);
      return;
    }
    try {
      const answer = await api.post("filters/test", { filter, message_id: messageId });
      if (mine !== asked) return; // a newer test is on its way
      replace(result, answer.match
        ? "Matches: this message would be delivered to the endpoint."
        : `Does not match: ${answer.part}${answer.path ? ` (${answer.path})` : ""}. It would not be delivered.`);
      result.dataset.match = String(answer.match);
      seen.hidden = false;
      seen.textContent = JSON.stringify(answer.document, null, 2);
    } catch (error) {
      if (mine !== asked) return;
      result.dataset.match = "error";
      replace(result, errorText(error));
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(runTest, DEBOUNCE_MS);
  }

  editor.input.addEventListener("input", later);
  chooser.addEventListener("focus", loadMessages);
  chooser.addEventListener("change", runTest);
  const part = h("fieldset", { class: "filter-test", "data-testid": "payload-filter-part" },
    h("legend", {}, "Payload filter"),
    editor,
    h("div", { class: "actions" }, chooser,
      button("Load recent messages", loadMessages, { testid: "filter-test-load" }),
      button("Test filter", runTest, { testid: "filter-test-run" })),
    result, seen);
  part.pattern = pattern;
  return part;
}

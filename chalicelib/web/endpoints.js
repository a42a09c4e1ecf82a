// Endpoints: where Hookway delivers. The list with each endpoint's health; create and edit; the detail
// page with its secret, enable/disable, a test event, recovery since a time, and its attempts.
// The same page serves the console and the portal (ctx.mode); with ctx.readOnly nothing changes anything.
import * as api from "./api.js";
import { h, replace, when, ago, parseSpan } from "./dom.js";
import { link, go } from "./router.js";
import {
  page, section, button, confirmButton, copyable, badge, details, empty, pagedTable, field, form,
  FieldError, announce, errorBox, errorText, lines, count,
} from "./ui.js";
import { attemptColumns, attemptItem, waitForAttempt } from "./attempts.js";
import { followJob } from "./jobs.js";
import { transformPart } from "./transform.js";
import { payloadFilterPart } from "./filters.js";

// The signing modes come from the API (GET /v1/schemes, built from each mode module's own declaration):
// a new mode needs no change here. Loaded once per page load; a failure is retried by the next page.
let modesLoaded = null;

function signingModes() {
  if (!modesLoaded) {
    modesLoaded = api.get("schemes").then((doc) => doc.signing_modes);
    modesLoaded.catch(() => { modesLoaded = null; });
  }
  return modesLoaded;
}

function signingLabel(modes, stored) {
  const mode = modes.find((m) => m.name === stored);
  return mode ? mode.label : stored;
}

const endpointPath = (id) => `/endpoints/${encodeURIComponent(id)}`;
const canChange = (ctx) => !ctx.readOnly;

function statusBadge(endpoint) {
  return endpoint.enabled ? badge("enabled") : badge("disabled");
}

// ------------------------------------------------------------------------------------------ the list

/** How an endpoint is doing, filled in when GET /v1/endpoints/{id}/health answers. */
function healthCell(endpoint) {
  const cell = h("span", { class: "health", "data-testid": "endpoint-health" }, "…");
  api.get(`endpoints/${encodeURIComponent(endpoint.id)}/health`).then((health) => {
    replace(cell, healthSummary(health));
  }, (error) => {
    replace(cell, error.status === 404 ? "—" : h("span", { class: "error" }, errorText(error)));
  });
  return cell;
}

function rate(health) {
  if (!health.attempts) return "No attempts yet";
  const share = health.success_rate === null || health.success_rate === undefined
    ? health.succeeded / health.attempts : health.success_rate;
  const last = health.attempts === 1 ? "the last attempt" : `the last ${count(health.attempts, "attempt")}`;
  return `${Math.round(share * 100)}% of ${last} succeeded`;
}

function lastError(error) {
  if (!error) return null;
  const what = error.status_code ? `HTTP ${error.status_code}` : error.error || "error";
  return h("span", { class: "muted" }, `Last error ${ago(error.at)}: ${what}`);
}

function healthSummary(health) {
  return h("span", { class: "health-summary" },
    h("span", {}, rate(health)),
    health.failing_since ? h("span", { class: "error" }, ` · failing since ${when(health.failing_since)}`) : null,
    health.last_error ? h("br", {}) : null,
    lastError(health.last_error));
}

async function applicationChoices() {
  try {
    const pageOfApps = await api.get("applications", { limit: 200 });
    return pageOfApps.data;
  } catch {
    return [];
  }
}

function applicationFilter(apps, current) {
  const select = field({
    label: "Whose endpoints", name: "application", kind: "select", value: current || "",
    options: [["", "The operator's own"], ...apps.map((a) => [a.id, `${a.name} (${a.uid || a.id})`])],
    testid: "endpoints-application",
  });
  if (current && !apps.some((a) => a.id === current)) {
    select.input.append(h("option", { value: current, selected: true }, current));
  }
  select.input.addEventListener("change", () => go("/endpoints", { application: select.input.value }));
  return h("div", { class: "toolbar" }, select);
}

export async function endpointsPage(ctx, query = {}) {
  const application = ctx.mode === "console" ? query.application || "" : "";
  const addLink = canChange(ctx)
    ? h("a", { class: "btn primary", href: link("/endpoints/new", { application }), "data-testid": "new-endpoint" }, "Add endpoint")
    : null;
  const [apps, sources] = ctx.mode === "console" ? await Promise.all([applicationChoices(), sourceChoices()]) : [[], []];
  const toolbar = ctx.mode === "console" ? applicationFilter(apps, application) : null;
  const sourceName = new Map(sources.map((s) => [s.id, `${s.name} (${s.id})`]));
  const sourcesCell = (e) => (e.filter.sources && e.filter.sources.length
    ? h("span", { "data-testid": "endpoint-filter-sources" }, e.filter.sources.map((id) => sourceName.get(id) || id).join(", "))
    : "All");
  const table = pagedTable({
    testid: "endpoints",
    caption: ctx.mode === "console" ? (application ? `Endpoints of application ${application}` : "The operator's own endpoints") : "Your endpoints",
    load: (cursor) => api.get("endpoints", { application, cursor, limit: 50 }),
    columns: [
      { label: "URL", cell: (e) => h("a", { href: link(endpointPath(e.id)), class: "mono" }, e.url) },
      { label: "Description", cell: (e) => e.description || h("span", { class: "muted" }, "—") },
      { label: "Status", cell: (e) => h("span", {}, statusBadge(e), e.disabled_reason ? h("span", { class: "muted" }, ` ${e.disabled_reason}`) : null) },
      { label: "Health", cell: (e) => healthCell(e) },
      { label: "Event types", cell: (e) => (e.filter.event_types.length ? e.filter.event_types.join(", ") : "All") },
      ctx.mode === "console" ? { label: "Sources", cell: sourcesCell } : null,
    ].filter(Boolean),
    emptyText: canChange(ctx)
      ? "No endpoints yet. Add one with the URL that should receive events; Hookway signs and retries every delivery."
      : "No endpoints yet. Ask the account's owner to add one.",
    emptyActions: addLink ? [h("a", { class: "btn primary", href: link("/endpoints/new", { application }) }, "Add the first endpoint")] : [],
  });
  return page("Endpoints", addLink ? h("div", { class: "actions top-actions" }, addLink) : null, toolbar, table);
}

// ----------------------------------------------------------------------------- create and edit form

async function catalog() {
  const names = [];
  let cursor;
  try {
    for (let i = 0; i < 5; i += 1) {
      const got = await api.get("event-types", { limit: 200, cursor });
      names.push(...got.data.filter((t) => !t.deprecated).map((t) => t.name));
      cursor = got.next_cursor;
      if (!cursor) break;
    }
  } catch {
    /* no catalog: free entry only */
  }
  return names;
}

async function sourceChoices() {
  try {
    return (await api.get("sources", { limit: 200 })).data;
  } catch {
    return [];
  }
}

let choiceCounter = 0;

/** Checkboxes for a list of choices, in a fieldset with a legend; .chosen() reads them. */
function checkboxes(legend, choices, chosen, testid) {
  const boxes = choices.map(([value, label]) => {
    const id = `choice-${++choiceCounter}`;
    const input = h("input", { id, type: "checkbox", value, checked: chosen.includes(value), "data-choice": testid });
    return h("div", { class: "check" }, input, h("label", { for: id }, label));
  });
  const set = h("fieldset", { class: "choices", "data-testid": testid }, h("legend", {}, legend),
    boxes.length ? h("div", { class: "check-grid" }, boxes) : h("p", { class: "muted" }, "None to choose from yet."));
  set.chosen = () => Array.from(set.querySelectorAll("input[type=checkbox]")).filter((b) => b.checked).map((b) => b.value);
  return set;
}

function headerLines(text) {
  const out = {};
  for (const line of String(text || "").split("\n").map((s) => s.trim()).filter(Boolean)) {
    const at = line.indexOf(":");
    if (at < 1) throw new FieldError("headers", `Write each header as Name: value (got "${line}").`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function schedule(text) {
  const steps = lines(text);
  if (!steps.length) return null;
  return steps.map((step) => {
    const seconds = /^\d+$/.test(step) ? Number(step) : parseSpan(step);
    if (seconds === null || !Number.isInteger(seconds)) {
      throw new FieldError("retry_schedule", `"${step}" is not a delay: use seconds or 30s, 5m, 2h, 1d.`);
    }
    return seconds;
  });
}

function spanText(seconds) {
  if (seconds === 0) return "0";
  if (seconds % 86400 === 0 && seconds) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0 && seconds) return `${seconds / 3600}h`;
  if (seconds % 60 === 0 && seconds) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** The endpoint form, for a new endpoint (existing null) or to edit one; resolves to the form node. */
async function endpointForm(ctx, { existing = null, application = "", onSaved }) {
  const creating = existing === null;
  const [types, sources, apps, modes] = await Promise.all([
    catalog(),
    ctx.mode === "console" ? sourceChoices() : Promise.resolve([]),
    ctx.mode === "console" && creating ? applicationChoices() : Promise.resolve([]),
    creating ? signingModes() : Promise.resolve([]),
  ]);
  const currentTypes = existing ? existing.filter.event_types : [];
  const currentSources = existing ? existing.filter.sources : [];
  const fields = [
    field({ label: "URL", name: "url", kind: "url", value: existing ? existing.url : "", required: true, testid: "endpoint-url",
      placeholder: "https://example.com/webhooks", help: "Where Hookway POSTs each event (HTTPS in production)." }),
    field({ label: "Description", name: "description", kind: "textarea", rows: 2, value: existing ? existing.description : "", testid: "endpoint-description" }),
  ];
  if (creating && ctx.mode === "console") {
    fields.push(field({ label: "Application", name: "application", kind: "select", value: application, testid: "endpoint-application",
      options: [["", "None: the operator's own endpoint"], ...apps.map((a) => [a.id, `${a.name} (${a.uid || a.id})`])],
      help: "An application's endpoints receive only the events published for that application." }));
  }
  const typeBoxes = checkboxes("Event types from the catalog", types.map((t) => [t, t]), currentTypes, "endpoint-event-types");
  const extraTypes = currentTypes.filter((t) => !types.includes(t));
  const freeTypes = field({ label: "Other event types or prefixes", name: "filter", kind: "textarea", rows: 2, value: extraTypes.join("\n"),
    testid: "endpoint-event-types-free", help: "One per line, an exact type or a prefix such as invoice.*. No type chosen at all: every event." });
  const extra = [typeBoxes, freeTypes];
  let sourceBoxes = null;
  if (ctx.mode === "console") {
    const known = sources.map((s) => [s.id, `${s.name} (${s.id})`]);
    for (const id of currentSources) if (!sources.some((s) => s.id === id)) known.push([id, id]);
    sourceBoxes = checkboxes("Only from these sources", known, currentSources, "endpoint-sources");
    extra.push(sourceBoxes, h("p", { class: "help" }, "No source chosen: events from every source (and published ones)."));
  }
  const typesNow = () => [...new Set([...typeBoxes.chosen(), ...lines(freeTypes.input.value)])];
  const payloadPart = payloadFilterPart({
    existing,
    currentFilter: () => (sourceBoxes ? { event_types: typesNow(), sources: sourceBoxes.chosen() } : { event_types: typesNow() }),
    application: () => (existing ? existing.application_id : (ctx.mode === "console" ? theForm.querySelector("[name=application]")?.value : undefined)),
  });
  extra.push(payloadPart);
  const more = [];
  if (creating) {
    const signing = field({ label: "Signing", name: "signing", kind: "select", value: modes[0].name, options: modes.map((m) => [m.name, m.label]), testid: "endpoint-signing",
      help: "How the receiver verifies a delivery: Standard Webhooks signs with HMAC-SHA256 or an Ed25519 key; GitHub style sends X-Hub-Signature-256; Pass through forwards the provider's own headers. It cannot change later." });
    signing.classList.add("wide"); // a row of its own: the choice reads whole at every width
    more.push(signing);
  }
  const headerNames = existing ? Object.keys(existing.headers || {}) : [];
  more.push(field({ label: creating ? "Custom headers" : "Replace custom headers", name: "headers", kind: "textarea", rows: 3, testid: "endpoint-headers",
    placeholder: "X-Team: payments",
    help: creating ? "One per line, Name: value. Sent with every delivery."
      : `One per line, Name: value. ${headerNames.length ? `Now: ${headerNames.join(", ")} (values hidden).` : "Now: none."} Leave empty to keep them.` }));
  if (!creating && headerNames.length) {
    more.push(field({ label: "Remove all custom headers", name: "clear_headers", kind: "checkbox", testid: "endpoint-clear-headers" }));
  }
  more.push(
    field({ label: "Retry schedule", name: "retry_schedule", testid: "endpoint-retry",
      value: existing && existing.retry_schedule ? existing.retry_schedule.map(spanText).join(", ") : "",
      placeholder: "0, 5s, 5m, 30m, 2h, 5h, 10h, 10h", help: "The delay before each attempt, the first one included (0: at once), comma-separated. Empty: Hookway's default, the one shown." }),
    field({ label: "Timeout (seconds)", name: "timeout", kind: "number", value: existing ? existing.timeout : "", testid: "endpoint-timeout",
      placeholder: "15", help: "1 to 30 seconds for the receiver to answer." }),
    ...flowFields(existing),
  );
  const theForm = form({
    fields,
    extra: [...extra, h("div", { class: "grid" }, more)],
    submitLabel: creating ? "Add endpoint" : "Save changes",
    testid: "endpoint-form",
    onSubmit: async (v) => {
      const eventTypes = [...typeBoxes.chosen(), ...lines(v.filter)];
      const doc = {
        url: v.url.trim(),
        description: v.description,
        filter: { event_types: [...new Set(eventTypes)], sources: sourceBoxes ? sourceBoxes.chosen() : [], payload: payloadPart.pattern() },
        retry_schedule: schedule(v.retry_schedule),
      };
      if (!sourceBoxes) delete doc.filter.sources;
      const headers = headerLines(v.headers);
      if (creating || Object.keys(headers).length) doc.headers = headers;
      else if (v.clear_headers) doc.headers = {};
      if (v.timeout !== "") {
        const timeout = Number(v.timeout);
        if (!Number.isFinite(timeout)) throw new FieldError("timeout", "The timeout is a number of seconds.");
        doc.timeout = timeout;
      }
      Object.assign(doc, flowDoc(v));
      if (creating) {
        doc.signing = v.signing;
        if (doc.throttle_rate === null) delete doc.throttle_rate;
        if (doc.circuit_breaker === null) delete doc.circuit_breaker;
        if (!doc.retry_schedule) delete doc.retry_schedule;
        if (v.application) doc.application = v.application;
      }
      const saved = creating
        ? await api.post("endpoints", doc)
        : await api.patch(`endpoints/${encodeURIComponent(existing.id)}`, doc);
      await onSaved(saved);
    },
  });
  return theForm;
}

export async function newEndpointPage(ctx, query = {}) {
  if (!canChange(ctx)) return page("Add endpoint", errorBox(new api.ApiError(403, "read_only", "This link can only look, not change anything.")));
  const application = ctx.mode === "console" ? query.application || "" : "";
  const holder = h("div", {});
  const theForm = await endpointForm(ctx, {
    application,
    onSaved: async (created) => {
      // The secret is shown once here; the endpoint page can reveal it again later.
      const shown = created.secret || created.public_key;
      replace(holder,
        h("div", { class: "part created", "data-testid": "endpoint-created" },
          h("h2", {}, "Endpoint added"),
          details([["URL", h("span", { class: "mono" }, created.url)], ["Id", h("span", { class: "mono" }, created.id)]]),
          shown ? copyable(created.secret ? "Signing secret (give it to the receiver to verify deliveries)" : "Public key (the receiver verifies with it)", shown, "endpoint-secret") : null,
          h("div", { class: "actions" },
            h("a", { class: "btn primary", href: link(endpointPath(created.id)), "data-testid": "open-endpoint" }, "Open the endpoint"),
            h("a", { class: "btn", href: link("/endpoints", { application: created.application_id && ctx.mode === "console" ? created.application_id : "" }) }, "All endpoints"))));
      announce("Endpoint added.");
    },
  });
  holder.append(theForm);
  return page("Add endpoint", holder);
}

// ------------------------------------------------------------------------------------ detail page

function settingsDetails(ctx, endpoint, modes) {
  const headerNames = Object.keys(endpoint.headers || {});
  return details([
    ["URL", h("span", { class: "mono", "data-testid": "endpoint-url-shown" }, endpoint.url)],
    ["Id", h("span", { class: "mono" }, endpoint.id)],
    ["Description", endpoint.description || "—"],
    ctx.mode === "console" ? ["Application", endpoint.application_id
      ? h("a", { href: link(`/applications/${encodeURIComponent(endpoint.application_id)}`) }, endpoint.application_id)
      : "None (the operator's own)"] : null,
    ["Status", h("span", { "data-testid": "endpoint-status" }, statusBadge(endpoint), endpoint.disabled_reason ? ` ${endpoint.disabled_reason}` : "")],
    endpoint.failing_since ? ["Failing since", when(endpoint.failing_since)] : null,
    ["Event types", endpoint.filter.event_types.length ? endpoint.filter.event_types.join(", ") : "All"],
    ctx.mode === "console" ? ["Sources", endpoint.filter.sources.length ? endpoint.filter.sources.join(", ") : "All"] : null,
    ["Signing", signingLabel(modes, endpoint.signing)],
    ["Custom headers", headerNames.length ? headerNames.join(", ") : "None"],
    ["Retry schedule", endpoint.retry_schedule ? endpoint.retry_schedule.map(spanText).join(", ") : "Hookway's default"],
    ["Timeout", `${endpoint.timeout} s`],
    ["Throttle", endpoint.throttle_rate ? `at most ${endpoint.throttle_rate} attempts a second` : "No limit"],
    ["Delivery order", endpoint.ordering === "fifo" ? "FIFO: in the order accepted, one at a time" : "None (concurrent)"],
    ["Circuit breaker", endpoint.circuit_breaker
      ? `opens after ${endpoint.circuit_breaker.failures} failures in a row; a probe every ${endpoint.circuit_breaker.probe_seconds} s`
      : "Hookway's default"],
    ["Circuit", h("span", { "data-testid": "endpoint-circuit" }, circuitText(endpoint.circuit))],
    ["Created", when(endpoint.created_at)],
    ["Changed", when(endpoint.updated_at)],
  ]);
}

function settingsPart(ctx, initial, modes, onChange) {
  let endpoint = initial;
  const body = h("div", {});
  const controls = h("div", { class: "actions" });
  const holder = section("Settings", body, controls);

  function show() {
    replace(body, settingsDetails(ctx, endpoint, modes));
    if (!canChange(ctx)) return;
    replace(controls,
      button("Edit", async () => {
        const editor = await endpointForm(ctx, {
          existing: endpoint,
          onSaved: async (saved) => {
            endpoint = saved;
            onChange(saved);
            show();
            announce("Endpoint saved.");
          },
        });
        const cancel = h("button", { type: "button", class: "btn" }, "Cancel");
        cancel.addEventListener("click", show);
        replace(body, editor);
        replace(controls, cancel);
        editor.querySelector("input, textarea, select").focus();
      }, { testid: "edit-endpoint" }),
      endpoint.enabled
        ? button("Disable", async () => {
          endpoint = await api.post(`endpoints/${encodeURIComponent(endpoint.id)}/disable`);
          onChange(endpoint);
          show();
          announce("Endpoint disabled: its deliveries are skipped until it is enabled again.");
        }, { testid: "disable-endpoint" })
        : button("Enable", async () => {
          endpoint = await api.post(`endpoints/${encodeURIComponent(endpoint.id)}/enable`);
          onChange(endpoint);
          show();
          announce("Endpoint enabled.");
        }, { testid: "enable-endpoint", kind: "primary" }),
      confirmButton("Delete", "Delete this endpoint? Deliveries still queued for it end as skipped.", async () => {
        await api.del(`endpoints/${encodeURIComponent(endpoint.id)}`);
        announce("Endpoint deleted.");
        go("/endpoints", { application: ctx.mode === "console" ? endpoint.application_id || "" : "" });
      }, { testid: "delete-endpoint" }));
  }
  show();
  return holder;
}

function healthPart(endpoint) {
  const body = h("div", { "data-testid": "endpoint-health-detail" }, h("p", { class: "state" }, "Loading…"));
  const load = async () => {
    try {
      const health = await api.get(`endpoints/${encodeURIComponent(endpoint.id)}/health`);
      replace(body, details([
        ["Recent attempts", rate(health)],
        ["Last attempt", health.last_attempt_at ? ago(health.last_attempt_at) : "—"],
        ["Last success", health.last_success_at ? ago(health.last_success_at) : "—"],
        ["Last error", health.last_error
          ? h("span", {}, `${health.last_error.status_code ? `HTTP ${health.last_error.status_code}` : health.last_error.error || "error"} ${ago(health.last_error.at)}`,
            health.last_error.response_excerpt ? h("pre", { class: "excerpt" }, health.last_error.response_excerpt) : null)
          : "None"],
        health.failing_since ? ["Failing since", when(health.failing_since)] : null,
        health.disabled_reason ? ["Disabled because", health.disabled_reason] : null,
      ]));
    } catch (error) {
      replace(body, error.status === 404 ? h("p", { class: "muted" }, "Health figures are not available on this deployment yet.") : errorBox(error));
    }
  };
  load();
  const part = section("Health", body);
  part.refresh = load;
  return part;
}

function secretPart(ctx, endpoint) {
  const shown = h("div", { "data-testid": "secret-shown" });
  const id = encodeURIComponent(endpoint.id);
  const showSecret = (doc, label) => {
    replace(shown, copyable(doc.secret ? label : "Public key (the receiver verifies with it)", doc.secret || doc.public_key, "endpoint-secret"));
  };
  const controls = h("div", { class: "actions" },
    button("Reveal secret", async () => showSecret(await api.get(`endpoints/${id}/secret`), "Signing secret"), { testid: "reveal-secret" }),
    canChange(ctx) ? confirmButton("Rotate", "Make a new secret? The old one keeps signing alongside it for 24 hours.", async () => {
      showSecret(await api.post(`endpoints/${id}/secret/rotate`, {}), "New signing secret");
      announce("Secret rotated: the old one keeps signing for 24 hours, so update the receiver within a day.");
    }, { testid: "rotate-secret", kind: "" }) : null);
  return section("Signing secret",
    h("p", { class: "muted" }, "The receiver verifies each delivery's webhook-signature header with this secret."),
    controls, shown);
}

function testPart(endpoint, types, onAttempt) {
  const result = h("div", { "data-testid": "test-result", "aria-live": "polite" });
  const eventType = field({ label: "Event type", name: "event_type", kind: types.length ? "select" : "text", testid: "test-event-type",
    options: [["", "hookway.test (the default)"], ...types.map((t) => [t, t])], placeholder: "hookway.test" });
  const payload = field({ label: "Payload (JSON, optional)", name: "payload", kind: "textarea", rows: 3, testid: "test-payload",
    placeholder: '{"hello": "world"}' });
  const theForm = form({
    fields: [eventType, payload],
    submitLabel: "Send test event",
    testid: "test-event",
    onSubmit: async (v) => {
      const doc = {};
      if (v.event_type) doc.event_type = v.event_type;
      if (v.payload.trim()) {
        try {
          doc.payload = JSON.parse(v.payload);
        } catch {
          throw new FieldError("payload", "The payload is not valid JSON.");
        }
      }
      const sent = await api.post(`endpoints/${encodeURIComponent(endpoint.id)}/test`, doc);
      replace(result, h("p", { class: "state" }, "Sent; waiting for the delivery attempt…"), h("progress", { class: "progress", "aria-label": "Waiting for the attempt" }));
      const attempt = await waitForAttempt(sent.id, endpoint.id, { holder: result });
      if (!result.isConnected) return;
      if (!attempt) {
        replace(result, h("p", { class: "muted" }, "No attempt yet after a minute: the endpoint may be disabled, or the sender is busy. See the attempts below."));
        return;
      }
      replace(result, h("p", {}, attempt.status === "succeeded" ? "The receiver accepted the test event." : "The test delivery failed."),
        h("ol", { class: "timeline" }, attemptItem(attempt)),
        h("a", { href: link(`/messages/${encodeURIComponent(sent.id)}`) }, "Open the test message"));
      onAttempt();
    },
  });
  return section("Send a test event", theForm, result);
}

function sinceFrom(values) {
  if (values.span.trim()) {
    const seconds = parseSpan(values.span);
    if (seconds === null) throw new FieldError("span", "Write how far back as 30m, 2h or 1d.");
    return Math.floor(Date.now() / 1000 - seconds);
  }
  if (values.since_time) {
    const at = new Date(values.since_time).getTime();
    if (Number.isNaN(at)) throw new FieldError("since_time", "That is not a date and time.");
    return Math.floor(at / 1000);
  }
  throw new FieldError("span", "Say how far back to recover: a span such as 2h, or a date and time.");
}

function recoverPart(endpoint, onProgress) {
  const progress = h("div", { "data-testid": "recover-progress", "aria-live": "polite" });
  const theForm = form({
    fields: [h("div", { class: "grid" },
      field({ label: "How far back", name: "span", placeholder: "2h", testid: "recover-span", help: "A span: 30m, 2h, 1d." }),
      field({ label: "Or since", name: "since_time", kind: "datetime-local", testid: "recover-since", help: "Your local time." })),
      field({ label: "Also messages that matched no endpoint", name: "include_unmatched", kind: "checkbox", value: true, testid: "recover-unmatched",
        help: "Messages received since then that no endpoint took when they arrived, and that this endpoint's filter takes now." })],
    submitLabel: "Recover",
    testid: "recover",
    onSubmit: async (v) => {
      const since = sinceFrom(v);
      const job = await api.post(`endpoints/${encodeURIComponent(endpoint.id)}/recover`, { since, include_unmatched: Boolean(v.include_unmatched) });
      announce("Recovery started.");
      const ended = await followJob(job, progress, { what: ["delivery queued again", "deliveries queued again"] });
      if (ended && ended.state === "succeeded" && !ended.done) {
        replace(progress, h("p", { "data-testid": "job-state" }, `Nothing to recover: no delivery to this endpoint failed or was skipped since ${when(since)}${v.include_unmatched ? ", and no message it takes went unmatched" : ""}.`));
        return;
      }
      if (ended && ended.state === "succeeded") announce(`${ended.done} ${ended.done === 1 ? "delivery" : "deliveries"} queued again.`);
      onProgress();
    },
  });
  return section("Recover failed deliveries",
    h("p", { class: "muted" }, "Send again every delivery to this endpoint that failed or was skipped since a time, and if you choose the messages that matched no endpoint then (enable the endpoint first)."),
    theForm, progress);
}

function attemptsPart(ctx, endpoint) {
  const holder = h("div", {});
  const load = () => replace(holder, pagedTable({
    testid: "endpoint-attempts",
    load: (cursor) => api.get(`endpoints/${encodeURIComponent(endpoint.id)}/attempts`, { cursor, limit: 25 }),
    columns: attemptColumns({ messageLink: (a) => h("a", { href: link(`/messages/${encodeURIComponent(a.message_id)}`), class: "mono" }, a.message_id) }),
    emptyText: canChange(ctx) ? "No attempts yet. Send a test event above, or publish an event this endpoint subscribes to." : "No attempts yet: nothing has been delivered to this endpoint.",
  }));
  load();
  const part = section("Attempts",
    h("div", { class: "actions" }, button("Refresh", async () => load(), { kind: "small", testid: "refresh-attempts" })),
    holder);
  part.refresh = load;
  return part;
}

export async function endpointPage(ctx, id) {
  const [endpoint, types, modes] = await Promise.all([
    api.get(`endpoints/${encodeURIComponent(id)}`),
    canChange(ctx) ? catalog() : Promise.resolve([]),
    signingModes().catch(() => []), // without them the stored mode's name shows
  ]);
  const heading = h("p", { class: "subtitle mono" }, endpoint.url);
  const health = healthPart(endpoint);
  const attempts = attemptsPart(ctx, endpoint);
  const refresh = () => {
    health.refresh();
    attempts.refresh();
  };
  const settings = settingsPart(ctx, endpoint, modes, (saved) => {
    heading.textContent = saved.url;
    health.refresh();
  });
  return page("Endpoint",
    heading,
    h("p", {}, h("a", { href: link("/messages", { endpoint: endpoint.id }) }, "Messages for this endpoint")),
    health,
    settings,
    canChange(ctx) && endpoint.kind !== "listen" ? transformPart(endpoint) : null,
    secretPart(ctx, endpoint),
    canChange(ctx) ? testPart(endpoint, types, refresh) : null,
    canChange(ctx) ? recoverPart(endpoint, refresh) : null,
    attempts);
}

/** The flow-control fields of the endpoint form: throttle, ordering and circuit breaker (empty: no limit, the default). */
function flowFields(existing) {
  const policy = existing && existing.circuit_breaker;
  return [
    field({ label: "Delivery order", name: "ordering", kind: "select", testid: "endpoint-ordering",
      value: existing && existing.ordering === "fifo" ? "fifo" : "none",
      options: [["none", "None (concurrent, fastest)"], ["fifo", "FIFO (in the order accepted, one at a time)"]],
      help: "FIFO: each delivery waits until the one before it succeeded, failed for good or was skipped." }),
    field({ label: "Throttle (attempts per second)", name: "throttle_rate", kind: "number", testid: "endpoint-throttle",
      value: existing && existing.throttle_rate ? existing.throttle_rate : "", placeholder: "no limit",
      help: "At most this many attempts a second to this endpoint (1 to 500); a burst waits its turn. Empty: no limit." }),
    field({ label: "Circuit breaker: failures in a row", name: "circuit_breaker.failures", kind: "number", testid: "endpoint-cb-failures",
      value: policy ? policy.failures : "", placeholder: "default",
      help: "After this many consecutive failed attempts, stop sending but for one probe at a time. Empty (both): Hookway's default." }),
    field({ label: "Circuit breaker: probe every (seconds)", name: "circuit_breaker.probe_seconds", kind: "number", testid: "endpoint-cb-probe",
      value: policy ? policy.probe_seconds : "", placeholder: "default",
      help: "While the circuit is open, one pending delivery is tried this often; its success closes the circuit." }),
  ];
}

function wholeNumber(name, text, what) {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new FieldError(name, `${what} is a whole number.`);
  return value;
}

/** The flow-control part of the request body, from the form's values. */
function flowDoc(v) {
  const doc = {};
  doc.throttle_rate = v.throttle_rate === "" ? null : wholeNumber("throttle_rate", v.throttle_rate, "The throttle");
  doc.ordering = v.ordering === "fifo" ? "fifo" : "none";
  const failures = v["circuit_breaker.failures"], probe = v["circuit_breaker.probe_seconds"];
  if (failures === "" && probe === "") doc.circuit_breaker = null;
  else {
    if (failures === "") throw new FieldError("circuit_breaker.failures", "Give both numbers, or neither for the default.");
    if (probe === "") throw new FieldError("circuit_breaker.probe_seconds", "Give both numbers, or neither for the default.");
    doc.circuit_breaker = {
      failures: wholeNumber("circuit_breaker.failures", failures, "The failure count"),
      probe_seconds: wholeNumber("circuit_breaker.probe_seconds", probe, "The probe interval"),
    };
  }
  return doc;
}

/** An endpoint's circuit in words. */
function circuitText(circuit) {
  if (!circuit || circuit.state === "closed") return "Closed (deliveries go out)";
  const since = circuit.opened_at ? ` since ${new Date(circuit.opened_at * 1000).toLocaleString()}` : "";
  const next = circuit.next_probe_at ? `; next probe ${new Date(circuit.next_probe_at * 1000).toLocaleTimeString()}` : "";
  return circuit.state === "open" ? `Open${since}: only probes go out${next}` : `Half open${since}: a probe is in flight`;
}

// Messages: search with every filter of GET /v1/messages (the filters live in the URL, so a search can
// be shared), and one message: its metadata, headers, payload, and per endpoint its attempts, resend.
// The same page serves the console and the portal; with ctx.readOnly there is no resend.
import * as api from "./api.js";
import { h, replace, when, bytes, showBody } from "./dom.js";
import { link, go, render } from "./router.js";
import { page, section, button, badge, details, pagedTable, field, form, FieldError, announce, errorBox, count } from "./ui.js";
import { timeline, messageAttempts, waitForAttempt, pollUntil } from "./attempts.js";

const FILTERS = ["application", "source", "endpoint", "event_type", "status", "after", "before", "provider_id"];
const STATUSES = [["", "Any"], ["pending", "Pending"], ["succeeded", "Succeeded"], ["failed", "Failed"], ["skipped", "Skipped"]];
const messagePath = (id) => `/messages/${encodeURIComponent(id)}`;
const SUMMARY_ORDER = ["succeeded", "failed", "pending", "skipped"];

/** Where a message's deliveries stand (its delivery_summary), as badges: "2 succeeded", "1 failed". */
export function summaryBadges(summary) {
  if (!summary) return h("span", { class: "muted" }, "—");
  const shown = SUMMARY_ORDER.filter((status) => summary[status]);
  if (!shown.length) return h("span", { class: "muted", "data-testid": "delivery-summary" }, "No endpoint");
  return h("span", { class: "summary-badges", "data-testid": "delivery-summary" },
    shown.map((status) => badge(`${summary[status]} ${status}`, status)));
}

/** A source or an application by name, with its id beside it (a link to its page). */
function named(kind, id, name) {
  const path = kind === "source" ? `/sources/${encodeURIComponent(id)}` : `/applications/${encodeURIComponent(id)}`;
  return h("span", {}, h("a", { href: link(path) }, name || id), name ? h("span", { class: "muted mono" }, ` ${id}`) : null);
}

function sourceCell(sourceId, name) {
  if (sourceId === "api") return "Published (api)";
  if (sourceId === "hookway") return "Hookway's operational events";
  return named("source", sourceId, name);
}

/** The same, when the name is still to be read (one GET): the id first, the name when it answers. */
function lateName(kind, id) {
  const holder = h("span", { "data-testid": `${kind}-name` }, named(kind, id, null));
  api.get(`${kind === "source" ? "sources" : "applications"}/${encodeURIComponent(id)}`).then(
    (found) => { if (found && found.name) replace(holder, named(kind, id, found.name)); }, () => {});
  return holder;
}

/** A Unix time as a datetime-local input's value (the reader's local time). */
function localInput(seconds) {
  if (!seconds) return "";
  const d = new Date(Number(seconds) * 1000);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function unixFrom(value, name) {
  if (!value) return "";
  const at = new Date(value).getTime();
  if (Number.isNaN(at)) throw new FieldError(name, "That is not a date and time.");
  return String(Math.floor(at / 1000));
}

/** The filters the page was opened with, as the API takes them (only the known ones). */
function filtersOf(ctx, query) {
  const out = {};
  for (const name of FILTERS) {
    if (name === "application" && ctx.mode !== "console") continue;
    if (query[name]) out[name] = query[name];
  }
  return out;
}

async function firstPage(path, query = {}) {
  try {
    return (await api.get(path, { limit: 200, ...query })).data;
  } catch {
    return [];
  }
}

function withCurrent(options, current) {
  if (current && !options.some(([v]) => v === current)) options.push([current, current]);
  return options;
}

async function searchForm(ctx, filters, apps, sources) {
  const types = await firstPage("event-types");
  const typeList = h("datalist", { id: "event-type-choices" },
    types.flatMap((t) => [h("option", { value: t.name }), h("option", { value: `${t.name.split(".")[0]}.*` })])
      .filter((opt, i, all) => all.findIndex((o) => o.value === opt.value) === i));
  const fields = [];
  if (ctx.mode === "console") {
    fields.push(field({ label: "Application", name: "application", kind: "select", value: filters.application || "", testid: "filter-application",
      options: withCurrent([["", "Any (and the operator's own)"], ...apps.map((a) => [a.id, a.name])], filters.application) }));
    fields.push(field({ label: "Source", name: "source", kind: "select", value: filters.source || "", testid: "filter-source",
      options: withCurrent([["", "Any"], ["api", "Published (api)"], ...sources.map((s) => [s.id, `${s.name} (${s.id})`])], filters.source) }));
  } else {
    fields.push(field({ label: "Source id", name: "source", value: filters.source || "", testid: "filter-source", placeholder: "api" }));
  }
  const eventType = field({ label: "Event type", name: "event_type", value: filters.event_type || "", testid: "filter-event-type",
    placeholder: "invoice.paid or invoice.*", help: "Exact, or a prefix ending in .*" });
  eventType.input.setAttribute("list", "event-type-choices");
  fields.push(
    field({ label: "Endpoint id", name: "endpoint", value: filters.endpoint || "", testid: "filter-endpoint", placeholder: "ep_…" }),
    eventType,
    field({ label: "Delivery status", name: "status", kind: "select", value: filters.status || "", options: STATUSES, testid: "filter-status" }),
    field({ label: "After", name: "after", kind: "datetime-local", value: localInput(filters.after), testid: "filter-after" }),
    field({ label: "Before", name: "before", kind: "datetime-local", value: localInput(filters.before), testid: "filter-before" }),
    field({ label: "Provider's delivery id", name: "provider_id", value: filters.provider_id || "", testid: "filter-provider-id",
      placeholder: "X-GitHub-Delivery, Stripe event id…" }),
  );
  const theForm = form({
    fields: [h("div", { class: "grid" }, fields)],
    extra: [typeList],
    submitLabel: "Search",
    testid: "message-search",
    onSubmit: async (v) => {
      const query = { ...v, after: unixFrom(v.after, "after"), before: unixFrom(v.before, "before") };
      const target = link("/messages", filtersOf(ctx, query));
      if (location.hash === target) render(); // the same search again: look again
      else location.hash = target;
    },
  });
  const clear = h("a", { class: "btn", href: link("/messages") }, "Clear filters");
  theForm.querySelector(".actions").append(clear);
  // On a phone the filters fold away under their summary; on a wide screen they start open.
  const set = Object.keys(filters).length;
  const wide = window.matchMedia("(min-width: 641px)").matches;
  return h("details", { class: "filters", open: wide, "data-testid": "message-filters" },
    h("summary", {}, set ? `Filters (${set} set)` : "Filters"), theForm);
}

export async function messagesPage(ctx, query = {}) {
  const filters = filtersOf(ctx, query);
  const filtered = Object.keys(filters).length > 0;
  const [apps, sources] = await Promise.all([
    ctx.mode === "console" ? firstPage("applications") : [],
    ctx.mode === "console" ? firstPage("sources") : [],
  ]);
  const appName = new Map(apps.map((a) => [a.id, a.name]));
  const sourceName = new Map(sources.map((s) => [s.id, s.name]));
  const columns = [
    { label: "Received", cell: (m) => h("a", { href: link(messagePath(m.id)) }, when(m.received_at)) },
    { label: "Id", cell: (m) => h("a", { href: link(messagePath(m.id)), class: "mono" }, m.id) },
    { label: "Event type", cell: (m) => m.event_type || h("span", { class: "muted" }, "—") },
    { label: "Deliveries", cell: (m) => summaryBadges(m.delivery_summary) },
  ];
  if (ctx.mode === "console") {
    columns.push(
      { label: "Source", cell: (m) => sourceCell(m.source_id, sourceName.get(m.source_id)) },
      { label: "Application", cell: (m) => (m.application_id ? named("application", m.application_id, appName.get(m.application_id)) : "Operator's own") },
    );
  }
  columns.push({ label: "Size", cell: (m) => bytes(m.size) });
  const emptyText = filtered
    ? "No message matches these filters. Widen the time range or clear a filter."
    : ctx.mode === "console"
      ? "No messages yet. Point a provider at a source's ingest URL, or publish an event with POST /v1/messages."
      : "No messages yet. Events sent to your endpoints appear here.";
  const table = pagedTable({
    testid: "messages",
    caption: filtered ? "Messages matching the filters, newest first" : "Messages, newest first",
    load: (cursor) => api.get("messages", { ...filters, cursor, limit: 50 }),
    columns,
    emptyText,
    emptyActions: filtered ? [h("a", { class: "btn", href: link("/messages") }, "Clear filters")] : [],
  });
  return page("Messages", await searchForm(ctx, filters, apps, sources), h("h2", { class: "results" }, "Results"), table);
}

// ------------------------------------------------------------------------------------------ detail

function summary(ctx, message) {
  return details([
    ["Id", h("span", { class: "mono", "data-testid": "message-id" }, message.id)],
    ["Event type", message.event_type || "—"],
    ["Deliveries", summaryBadges(message.delivery_summary)],
    ctx.mode === "console" ? ["Source", ["api", "hookway"].includes(message.source_id) ? sourceCell(message.source_id)
      : lateName("source", message.source_id)] : null,
    ctx.mode === "console" ? ["Application", message.application_id
      ? lateName("application", message.application_id)
      : "None (the operator's own)"] : null,
    ["Received", when(message.received_at)],
    ["Size", bytes(message.size)],
    ["Content type", message.content_type || "—"],
    message.method ? ["Method", message.method] : null,
    message.query ? ["Query", h("span", { class: "mono" }, message.query)] : null,
    ctx.mode === "console" && message.source_ip ? ["Source IP", message.source_ip] : null,
    message.delivery_id ? ["Provider's delivery id", h("span", { class: "mono" }, message.delivery_id)] : null,
    message.signed_timestamp ? ["Signed at", when(message.signed_timestamp)] : null,
    ["Kept until", when(message.expires_at)],
  ]);
}

function headersTable(headers) {
  const entries = Object.entries(headers || {});
  if (!entries.length) return h("p", { class: "muted" }, "No headers were kept.");
  return h("div", { class: "table-wrap" }, h("table", { class: "list", "data-testid": "message-headers" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"))),
    h("tbody", {}, entries.map(([name, value]) => h("tr", {},
      h("td", { "data-label": "Name", class: "mono" }, name), h("td", { "data-label": "Value", class: "mono" }, String(value)))))));
}

const KIND = { json: "JSON, pretty-printed", text: "Text", hex: "Binary, as hex" };

function payloadPart(message) {
  const body = h("div", {}, h("p", { class: "state" }, "Loading…"));
  api.bytes(`messages/${encodeURIComponent(message.id)}/body`).then(({ data, headers }) => {
    const shown = showBody(data, headers.get("Hookway-Content-Type") || message.content_type || "");
    replace(body,
      h("p", { class: "muted" }, `${KIND[shown.kind]} · ${bytes(data.length)}`),
      h("pre", { "data-testid": "payload", "data-kind": shown.kind, tabindex: "0" }, shown.text || "(empty body)"));
  }, (error) => replace(body, errorBox(error)));
  return section("Payload", body);
}

function endpointName(endpointId) {
  const name = h("span", { class: "mono" }, endpointId);
  api.get(`endpoints/${encodeURIComponent(endpointId)}`).then((ep) => {
    name.textContent = ep.url;
    name.title = endpointId;
  }, () => { name.textContent = `${endpointId} (deleted)`; });
  return name;
}

function deliveriesPart(ctx, message) {
  const body = h("div", { "data-testid": "deliveries" }, h("p", { class: "state" }, "Loading…"));
  const controls = h("div", { class: "actions" });
  const chooser = h("div", { class: "send-to", "data-testid": "send-to" });
  const part = section("Deliveries", controls, body, ctx.readOnly ? null : chooser);
  // The endpoints this message may go to: its owner's only (the API refuses any other).
  const owned = ctx.readOnly ? Promise.resolve([])
    : firstPage("endpoints", ctx.mode === "console" ? { application: message.application_id || "" } : {});
  let deliveries = message.deliveries || [];
  let attempts = [];

  const latestNumber = (endpointId) => Math.max(0, ...attempts.filter((a) => a.endpoint_id === endpointId).map((a) => a.attempt));

  let watching = 0;
  let timer = null;

  async function load() {
    const [fresh, all] = await Promise.all([api.get(`messages/${encodeURIComponent(message.id)}`), messageAttempts(message.id)]);
    deliveries = fresh.deliveries || [];
    attempts = all;
    draw();
    watch();
  }

  // While a delivery is still pending (queued, in flight, waiting for a retry soon), follow it.
  function watch() {
    const soon = Date.now() / 1000 + 60;
    const moving = deliveries.some((d) => d.status === "pending" && (!d.next_attempt_at || d.next_attempt_at < soon));
    clearTimeout(timer);
    if (!moving || watching >= 200) return;
    watching += 1;
    timer = setTimeout(() => {
      if (body.isConnected) load().catch((error) => replace(body, errorBox(error)));
    }, 1500);
  }

  async function resend(endpointIds) {
    const after = new Map(endpointIds.map((id) => [id, latestNumber(id)]));
    await api.post(`messages/${encodeURIComponent(message.id)}/resend`, { endpoint_ids: endpointIds });
    announce(endpointIds.length === 1 ? "Resent; waiting for the attempt…" : `Resent to ${endpointIds.length} endpoints; waiting for the attempts…`);
    for (const id of endpointIds) {
      await waitForAttempt(message.id, id, { after: after.get(id), holder: body });
      await load();
    }
    announce("The new attempts are shown below.");
  }

  /** Send the message to an endpoint of its owner that has no delivery of it yet (one it did not match). */
  async function drawChooser() {
    if (ctx.readOnly) return;
    const have = new Set(deliveries.map((d) => d.endpoint_id));
    const choices = (await owned).filter((e) => !have.has(e.id));
    if (!choices.length) {
      replace(chooser);
      return;
    }
    const pick = field({ label: deliveries.length ? "Send to another endpoint" : "Send to an endpoint", name: "endpoint_id", kind: "select", testid: "send-to-endpoint",
      options: choices.map((e) => [e.id, e.description ? `${e.url} (${e.description})` : e.url]),
      help: deliveries.length ? "An endpoint of the same owner that did not get this message." : "Any endpoint of the message's owner: one attempt now, retried as usual." });
    replace(chooser, h("div", { class: "toolbar" }, pick,
      button("Send", () => resend([pick.input.value]), { testid: "send-to-submit", busyLabel: "Sending…" })));
  }

  function draw() {
    drawChooser().catch((error) => replace(chooser, errorBox(error)));
    if (!deliveries.length) {
      replace(body, h("p", { class: "empty" }, ctx.readOnly
        ? "None of your endpoints was subscribed to this event when it arrived. Add or edit an endpoint to receive the next ones."
        : "No endpoint matched this message when it arrived. Send it to an endpoint below, or recover on an endpoint with \"Also messages that matched no endpoint\"."));
      replace(controls);
      return;
    }
    replace(controls, !ctx.readOnly && deliveries.length > 1
      ? button("Resend to all endpoints", () => resend(deliveries.map((d) => d.endpoint_id)), { testid: "resend-all" }) : null);
    replace(body, deliveries.map((d) => {
      const mine = attempts.filter((a) => a.endpoint_id === d.endpoint_id);
      return h("article", { class: "delivery", "data-testid": "delivery", "data-endpoint": d.endpoint_id },
        h("h3", {}, h("a", { href: link(`/endpoints/${encodeURIComponent(d.endpoint_id)}`) }, endpointName(d.endpoint_id)), " ",
          badge(d.status), " ", h("span", { class: "muted" }, count(d.attempts, "attempt"))),
        d.next_attempt_at ? h("p", { class: "muted" }, `Next try ${when(d.next_attempt_at)}`) : null,
        timeline(mine, "No attempt yet: the delivery is queued."),
        ctx.readOnly ? null : h("div", { class: "actions" },
          button("Resend", () => resend([d.endpoint_id]), { testid: "resend", busyLabel: "Resending…" })));
    }));
  }

  load().catch((error) => replace(body, errorBox(error)));
  return part;
}

/** A message accepted but not stored yet (the router stores it within seconds): wait for it here. */
function notYetStored(id, error) {
  const note = h("p", { class: "state-waiting", "aria-live": "polite" }, `${error.message} Waiting for it…`);
  const holder = page("Message", note, h("progress", { class: "progress", "aria-label": "Waiting for the message" }));
  pollUntil(() => api.get(`messages/${encodeURIComponent(id)}`), { holder, timeout: 120000, interval: 1000 }).then((found) => {
    if (found && holder.isConnected) render();
    else if (holder.isConnected) note.textContent = `${error.message} Reload the page to look again.`;
  }, (later) => holder.isConnected && replace(note, errorBox(later)));
  return holder;
}

export async function messagePage(ctx, id) {
  let message;
  try {
    message = await api.get(`messages/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error instanceof api.ApiError && error.code === "message_not_yet_stored") return notYetStored(id, error);
    throw error;
  }
  return page(message.event_type ? `Message: ${message.event_type}` : "Message",
    section("Summary", summary(ctx, message)),
    deliveriesPart(ctx, message),
    section("Headers", headersTable(message.headers)),
    payloadPart(message),
    h("p", {}, h("a", { href: link("/messages") }, "Back to the messages")));
}

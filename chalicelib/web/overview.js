// The overview: the last 24 hours per hour (received, delivered, failed, rejected) as a chart with a
// table behind it, the totals as cards that open their lists, the endpoints that need attention and
// the deliveries that ended failed. Figures the stats API does not have yet (404) leave the rest shown.
import * as api from "./api.js";
import { h, when, ago } from "./dom.js";
import { link } from "./router.js";
import { page, section, badge, empty, pagedTable, errorBox } from "./ui.js";

const SERIES = [
  { key: "received", label: "Received", href: link("/messages"), help: "messages stored" },
  { key: "delivered", label: "Delivered", href: link("/messages", { status: "succeeded" }), help: "deliveries that succeeded" },
  { key: "failed", label: "Failed", href: link("/messages", { status: "failed" }), help: "deliveries that ended failed (out of retries), counted when they ended, even if resent since" },
  { key: "rejected", label: "Rejected", href: link("/sources"), help: "requests refused at a source" },
];

const HOUR = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function hourLabel(start) {
  return HOUR.format(new Date(start * 1000));
}

function cards(totals) {
  return h("div", { class: "cards", "data-testid": "totals" }, SERIES.map((s) =>
    h("a", { class: `card ${s.key}`, href: s.href, "data-testid": `total-${s.key}` },
      h("span", { class: "figure" }, String(totals[s.key] ?? 0)),
      h("span", { class: "label" }, `${s.label} in 24 h: ${s.help}`))));
}

/** Four bars per hour, oldest on the left; the numbers are in the table below it. */
function chart(hours) {
  const width = 720;
  const height = 200;
  const top = 4;
  const bottom = 1;
  const slot = width / hours.length;
  const bar = Math.max(1, (slot - 4) / SERIES.length);
  const max = Math.max(1, ...hours.flatMap((hr) => SERIES.map((s) => hr[s.key] || 0)));
  const scale = (height - top - bottom) / max;
  const bars = [];
  hours.forEach((hr, i) => {
    SERIES.forEach((s, j) => {
      const value = hr[s.key] || 0;
      const tall = value * scale;
      bars.push(h("rect", { class: `bar ${s.key}`, x: (i * slot + 2 + j * bar).toFixed(1), y: (height - bottom - tall).toFixed(1), width: Math.max(0.5, bar - 0.5).toFixed(1), height: tall.toFixed(1) }));
    });
  });
  // The hour labels and the peak are HTML under and over the drawing, not SVG text: SVG text scales
  // with the drawing (about 6 px on a phone); these keep the page's own size at every width.
  const ticks = h("div", { class: "ticks", "aria-hidden": "true", "data-testid": "chart-ticks" }, hours.map((hr, i) =>
    h("span", { class: i === 0 ? "tick first" : i === hours.length - 1 ? "tick last" : i % 12 === 6 ? "tick minor" : "tick" },
      i % 6 === 0 || i === hours.length - 1 ? hourLabel(hr.start) : "")));
  const totals = SERIES.map((s) => `${hours.reduce((n, hr) => n + (hr[s.key] || 0), 0)} ${s.label.toLowerCase()}`).join(", ");
  const svg = h("svg", { xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-title", focusable: "false", "data-testid": "chart" },
    h("title", { id: "chart-title" }, `Per hour over the last ${hours.length} hours: ${totals}. The table below has each hour's figures.`),
    h("line", { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, stroke: "#8a94a6", "stroke-width": 1 }),
    bars);
  const peak = h("p", { class: "peak axis", "aria-hidden": "true" }, `Peak: ${max} an hour`);
  const legend = h("p", { class: "legend", "aria-hidden": "true" }, SERIES.map((s) => h("span", {}, h("span", { class: `swatch ${s.key}` }), s.label)));
  const table = h("div", { class: "table-wrap" }, h("table", { class: "list hours", "data-testid": "hours" },
    h("caption", {}, "Each hour's figures, oldest first"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Hour"), SERIES.map((s) => h("th", { scope: "col" }, s.label)))),
    h("tbody", {}, hours.map((hr) => h("tr", {},
      h("th", { scope: "row", "data-label": "Hour" }, `${when(hr.start)}`),
      SERIES.map((s) => h("td", { "data-label": s.label }, String(hr[s.key] || 0))))))));
  return h("div", { class: "chart" }, peak, svg, ticks, legend, h("details", {}, h("summary", {}, "Show the figures per hour"), table));
}

function attention(list) {
  if (!list.length) return empty("No endpoint is failing or disabled.");
  return h("div", { class: "table-wrap" }, h("table", { class: "list", "data-testid": "attention" },
    h("caption", {}, "Failing or disabled endpoints, the most recent change first"),
    h("thead", {}, h("tr", {}, ["Endpoint", "State", "Application"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, list.map((e) => h("tr", {},
      h("td", { "data-label": "Endpoint" }, h("a", { href: link(`/endpoints/${e.id}`) }, e.url)),
      h("td", { "data-label": "State" }, e.enabled
        ? h("span", {}, badge("failing"), ` since ${ago(e.failing_since)}`)
        : h("span", {}, badge("disabled"), e.disabled_reason ? ` ${e.disabled_reason}` : "")),
      h("td", { "data-label": "Application" }, e.application_id
        ? h("a", { href: link(`/applications/${e.application_id}`) }, e.application_id) : "Operator's own"))))));
}

function recentFailures() {
  return pagedTable({
    testid: "recent-failures",
    caption: "Messages with a delivery failed now (not resent or recovered since), newest first",
    load: (cursor) => api.get("messages", { status: "failed", limit: 10, cursor }),
    columns: [
      { label: "Received", cell: (m) => h("a", { href: link(`/messages/${m.id}`) }, when(m.received_at)) },
      { label: "Event type", cell: (m) => m.event_type || "—" },
      { label: "From", cell: (m) => (m.source_id ? h("a", { href: link(`/sources/${m.source_id}`) }, m.source_id) : "Published") },
      { label: "Message", cell: (m) => h("span", { class: "mono" }, m.id) },
    ],
    emptyText: "No delivery is failed now. A delivery that runs out of retries shows here until it is resent or recovered; the Failed figure above still counts it.",
  });
}

export async function overviewPage() {
  let stats = null;
  let statsError = null;
  try {
    stats = await api.get("stats", { hours: 24 });
  } catch (error) {
    statsError = error;
  }
  const parts = [];
  if (stats) {
    const quiet = SERIES.every((s) => !(stats.totals && stats.totals[s.key]));
    parts.push(cards(stats.totals || {}));
    parts.push(section("Last 24 hours", quiet
      ? empty("No traffic yet: create a source and send it a webhook, or publish an event.",
        h("a", { class: "btn primary", href: "#/sources/new" }, "Create a source"), " ",
        h("a", { class: "btn", href: "#/event-types" }, "Add event types"))
      : chart(stats.hours || [])));
    parts.push(section("Endpoints that need attention", attention(stats.attention || [])));
  } else if (statsError && statsError.status === 404) {
    // The navigation above still leads to every list; nothing here repeats its link names.
    parts.push(section("Last 24 hours", h("p", { class: "muted" }, "Traffic figures appear here once this deployment has the stats API.")));
  } else {
    parts.push(section("Last 24 hours", errorBox(statsError)));
  }
  parts.push(section("Deliveries failed now", recentFailures()));
  return page("Overview", ...parts);
}

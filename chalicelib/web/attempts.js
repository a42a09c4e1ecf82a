// Delivery attempts as a person reads them (shared by the endpoint and message pages), and the
// polling that shows a queued attempt once the sender has made it, without a reload.
import { h, when } from "./dom.js";
import * as api from "./api.js";
import { badge } from "./ui.js";

const EXCERPT = 200;

/** The first bytes of what the receiver answered (or the error), as one line of text. */
export function answerExcerpt(attempt) {
  const text = attempt.response_body || attempt.error || "";
  const flat = String(text).replace(/\s+/g, " ").trim();
  return flat.length > EXCERPT ? `${flat.slice(0, EXCERPT)}…` : flat;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** What the receiver answered: its status code, else the error class (timeout, dns_error, …). */
export function outcome(attempt) {
  if (attempt.response_status) return `HTTP ${attempt.response_status}`;
  return attempt.error_class || (attempt.status === "in_flight" ? "in flight" : "no answer");
}

function statusBadge(attempt) {
  return badge(attempt.status === "in_flight" ? "in flight" : attempt.status, attempt.status === "in_flight" ? "pending" : attempt.status);
}

/** One attempt on a timeline: time, status, duration, code, first bytes of the answer. */
export function attemptItem(attempt) {
  const excerpt = answerExcerpt(attempt);
  return h("li", { class: attempt.status, "data-testid": "attempt" },
    h("div", { class: "attempt-line" },
      h("strong", {}, `#${attempt.attempt}`), " ",
      h("time", {}, when(attempt.started_at)), " ",
      statusBadge(attempt), " ",
      h("span", { class: "mono", "data-testid": "attempt-code" }, outcome(attempt)), " ",
      h("span", { class: "muted" }, duration(attempt.duration_ms)),
      attempt.next_attempt_at ? h("span", { class: "muted" }, ` · next try ${when(attempt.next_attempt_at)}`) : null),
    excerpt ? h("pre", { class: "excerpt", "data-testid": "attempt-answer" }, excerpt) : null);
}

/** Attempts as a timeline, oldest first. */
export function timeline(attempts, emptyText = "No attempt yet.") {
  if (!attempts.length) return h("p", { class: "muted" }, emptyText);
  const ordered = [...attempts].sort((a, b) => (a.started_at - b.started_at) || (a.attempt - b.attempt));
  return h("ol", { class: "timeline" }, ordered.map(attemptItem));
}

/** The columns of an attempts table (an endpoint's attempts). */
export function attemptColumns({ messageLink } = {}) {
  return [
    { label: "Time", cell: (a) => when(a.started_at) },
    { label: "Message", cell: (a) => (messageLink ? messageLink(a) : a.message_id) },
    { label: "Attempt", cell: (a) => String(a.attempt) },
    { label: "Status", cell: (a) => statusBadge(a) },
    { label: "Answer", cell: (a) => h("span", { class: "mono" }, outcome(a)) },
    { label: "Duration", cell: (a) => duration(a.duration_ms) },
    { label: "First bytes", cell: (a) => h("span", { class: "mono" }, answerExcerpt(a)) },
  ];
}

/** Every attempt of a message (all pages). */
export async function messageAttempts(messageId) {
  const out = [];
  let cursor;
  for (let i = 0; i < 20; i += 1) {
    const page = await api.get(`messages/${encodeURIComponent(messageId)}/attempts`, { limit: 200, cursor });
    out.push(...page.data);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Poll until check() resolves to something truthy (returned), the element leaves the page, or the
 * time is up (null). A 404 while the router has not stored a message yet is waited out.
 */
export async function pollUntil(check, { holder, timeout = 60000, interval = 700 } = {}) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (holder && !holder.isConnected) return null;
    try {
      const found = await check();
      if (found) return found;
    } catch (error) {
      if (!(error instanceof api.ApiError) || error.code !== "message_not_yet_stored") throw error;
    }
    await sleep(interval);
  }
  return null;
}

/** The attempt of a message to one endpoint with a number above `after` that has ended. */
export async function waitForAttempt(messageId, endpointId, { after = 0, holder, timeout } = {}) {
  return pollUntil(async () => {
    const attempts = await messageAttempts(messageId);
    return attempts.find((a) => a.endpoint_id === endpointId && a.attempt > after && a.status !== "in_flight") || null;
  }, { holder, timeout });
}

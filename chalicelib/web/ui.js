// The pieces every page is made of: lists that paginate, forms with labelled fields and inline errors,
// buttons that show progress, and one live region that says what a change did.
import { h, replace } from "./dom.js";
import { ApiError } from "./api.js";

/** Say something to the person (and to screen readers) without moving focus. */
export function announce(text, kind = "ok") {
  const region = document.getElementById("status");
  if (!region) return;
  region.dataset.at = String(Date.now());
  delete region.dataset.carry;
  replace(region, h("p", { class: `notice ${kind}` }, text));
}

/** The notice just said is about the page the app is about to open (a change that leads there). */
export function carryNotice() {
  const region = document.getElementById("status");
  if (region && region.firstChild) region.dataset.carry = "1";
}

/**
 * On navigation: a notice carried to this page (see carryNotice) stays for it, and only for it, if it
 * is fresh; every other notice goes, however recent (it was about the page left behind).
 */
export function clearStaleNotice(freshMs = 5000) {
  const region = document.getElementById("status");
  if (!region) return;
  const carried = region.dataset.carry === "1" && Date.now() - Number(region.dataset.at || 0) <= freshMs;
  delete region.dataset.carry;
  if (!carried) region.replaceChildren();
}

/** A row that scrolls sideways says so: the class more-after (a fade edge) while more is past its end. */
export function scrollHint(el) {
  const update = () => el.classList.toggle("more-after", el.scrollLeft + el.clientWidth < el.scrollWidth - 1);
  el.addEventListener("scroll", update, { passive: true });
  window.addEventListener("resize", update);
  new ResizeObserver(update).observe(el);
  update();
}

/** "1 attempt", "2 attempts": a count with its noun in the right number. */
export function count(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export function errorText(error) {
  if (error instanceof ApiError || error instanceof FieldError) return error.message;
  return "Something went wrong in this page. Reload and try again.";
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, errorText(error));
}

/** A page: its heading, then its parts. Sets the document title too. */
export function page(title, ...parts) {
  document.title = `${title} · ${document.body.dataset.product || "Hookway"}`;
  return h("section", { class: "page", "aria-labelledby": "page-title" }, h("h1", { id: "page-title" }, title), ...parts);
}

export function section(title, ...parts) {
  return h("section", { class: "part" }, h("h2", {}, title), ...parts);
}

/** A button that runs an async action, disabled and marked busy until it ends; errors are announced. */
export function button(label, action, { kind = "", testid, busyLabel } = {}) {
  const el = h("button", { type: "button", class: `btn ${kind}`, "data-testid": testid }, label);
  el.addEventListener("click", async () => {
    if (el.disabled) return;
    el.disabled = true;
    el.setAttribute("aria-busy", "true");
    if (busyLabel) el.textContent = busyLabel;
    try {
      await action(el);
    } catch (error) {
      announce(errorText(error), "error");
    } finally {
      el.disabled = false;
      el.removeAttribute("aria-busy");
      if (busyLabel) el.textContent = label;
    }
  });
  return el;
}

/** A button that asks "are you sure?" in place (no dialog), then runs the action. */
export function confirmButton(label, question, action, options = {}) {
  const holder = h("span", { class: "confirm" });
  const ask = h("button", { type: "button", class: `btn ${options.kind || "danger"}`, "data-testid": options.testid }, label);
  ask.addEventListener("click", () => {
    const no = h("button", { type: "button", class: "btn" }, "Cancel");
    const yes = button(`Yes, ${label.toLowerCase()}`, async (el) => {
      await action(el);
      replace(holder, ask);
    }, { kind: "danger", testid: options.testid ? `${options.testid}-yes` : undefined });
    no.addEventListener("click", () => {
      replace(holder, ask);
      ask.focus();
    });
    replace(holder, h("span", { class: "question" }, question), " ", yes, " ", no);
    yes.focus();
  });
  holder.append(ask);
  return holder;
}

export function copyButton(text, label = "Copy") {
  return button(label, async (el) => {
    try {
      await navigator.clipboard.writeText(text);
      announce("Copied to the clipboard.");
    } catch {
      // No clipboard permission (an embedding frame, an old browser): select the text instead.
      const sibling = el.previousElementSibling;
      if (sibling && sibling.select) sibling.select();
      announce("Select the text and copy it with Ctrl+C.", "warn");
    }
  }, { kind: "small" });
}

/** A read-only value with its copy button. */
export function copyable(label, value, testid) {
  const id = `copy-${Math.random().toString(36).slice(2)}`;
  return h("div", { class: "copyable" },
    h("label", { for: id }, label),
    h("input", { id, value, readonly: true, "data-testid": testid, spellcheck: "false" }),
    copyButton(value));
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind || text}` }, text);
}

export function details(pairs) {
  return h("dl", { class: "details" }, pairs.filter(Boolean).flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

export function empty(text, ...actions) {
  return h("div", { class: "empty" }, h("p", {}, text), ...actions);
}

/**
 * A table of API items with cursor pagination ("Show more" appends the next page).
 * load(cursor) resolves to {data, next_cursor}; columns are [{label, cell(item) -> node or text}].
 */
export function pagedTable({ load, columns, emptyText, emptyActions = [], caption, testid }) {
  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "btn", hidden: true }, "Show more");
  const state = h("p", { class: "state", "aria-live": "polite" }, "Loading…");
  const table = h("table", { class: "list", "data-testid": testid },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
    body);
  const wrap = h("div", { class: "table-wrap" }, table);
  const holder = h("div", { class: "paged" }, state, wrap, more);
  let cursor = null;
  let shown = 0;

  async function next() {
    more.disabled = true;
    state.textContent = "Loading…";
    try {
      const page = await load(cursor);
      for (const item of page.data) {
        body.append(h("tr", {}, columns.map((c) => h("td", { "data-label": c.label }, c.cell(item)))));
      }
      shown += page.data.length;
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      state.textContent = "";
      // A search page may hold no match yet still have a cursor (it looked at part of the data).
      if (shown === 0 && !cursor) replace(holder, empty(emptyText, ...emptyActions));
      else if (shown === 0) state.textContent = "No match among the items looked at so far: Show more looks further.";
    } catch (error) {
      replace(state, errorBox(error));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", next);
  next();
  return holder;
}

let fieldCounter = 0;

/**
 * A labelled input. kind: text, url, number, password, textarea, select (options [[value, label]]),
 * checkbox. help is shown under it and linked with aria-describedby.
 */
export function field({ label, name, kind = "text", value = "", help, options = [], required = false, placeholder, testid, rows }) {
  const id = `f-${name}-${++fieldCounter}`;
  const helpId = help ? `${id}-help` : undefined;
  const errorId = `${id}-error`;
  const describedBy = [helpId, errorId].filter(Boolean).join(" ");
  let input;
  if (kind === "textarea") {
    input = h("textarea", { id, name, rows: rows || 6, required, placeholder, "aria-describedby": describedBy, "data-testid": testid, spellcheck: "false" });
    input.value = value ?? "";
  } else if (kind === "select") {
    input = h("select", { id, name, required, "aria-describedby": describedBy, "data-testid": testid },
      options.map(([v, text]) => h("option", { value: v, selected: String(v) === String(value) }, text)));
  } else if (kind === "checkbox") {
    input = h("input", { id, name, type: "checkbox", checked: Boolean(value), "aria-describedby": describedBy, "data-testid": testid });
  } else {
    input = h("input", { id, name, type: kind, value: value ?? "", required, placeholder, "aria-describedby": describedBy, "data-testid": testid, spellcheck: "false", autocomplete: kind === "password" ? "current-password" : "off" });
  }
  const row = h("div", { class: `field ${kind}` },
    h("label", { for: id }, label, required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null),
    input,
    help ? h("p", { class: "help", id: helpId }, help) : null,
    h("p", { class: "field-error", id: errorId, "aria-live": "polite" }));
  row.input = input;
  return row;
}

/** A form whose submit runs an async action; an API error naming a field is shown under that field. */
export function form({ fields, submitLabel, onSubmit, testid, extra = [] }) {
  const errors = h("div", { class: "form-errors", "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "btn primary", "data-testid": testid ? `${testid}-submit` : undefined }, submitLabel);
  const el = h("form", { class: "form", "data-testid": testid }, ...fields, ...extra, errors, h("div", { class: "actions" }, submit));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const f of el.querySelectorAll(".field-error")) f.textContent = "";
    for (const f of el.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
    errors.replaceChildren();
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      await onSubmit(values(el));
    } catch (error) {
      showFormError(el, errors, error);
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  });
  return el;
}

function showFormError(formEl, errors, error) {
  const name = error instanceof ApiError ? error.detail.field : error.field;
  const input = name ? fieldInput(formEl, String(name)) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    const message = input.parentElement.querySelector(".field-error");
    message.textContent = errorText(error);
    input.focus();
  }
  replace(errors, errorBox(error));
}

/** The input an error's field names: the most specific one the form has ("a.b.c", else "a.b", else "a"). */
function fieldInput(formEl, name) {
  const parts = name.split(".");
  for (let n = parts.length; n > 0; n--) {
    const input = formEl.querySelector(`[name="${CSS.escape(parts.slice(0, n).join("."))}"]`);
    if (input) return input;
  }
  return null;
}

/** The values of a form's named inputs (checkboxes as booleans). */
export function values(formEl) {
  const out = {};
  for (const el of formEl.querySelectorAll("[name]")) {
    out[el.name] = el.type === "checkbox" ? el.checked : el.value;
  }
  return out;
}

/** An error thrown by a page's own check before it calls the API (shown under its field). */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

export function lines(text) {
  return String(text || "").split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

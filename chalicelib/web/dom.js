// Building the page. Every value that came from the API is text: h() sets text nodes and a short
// list of attributes, never innerHTML, and an href only ever points inside this page (#/...).

const SAFE_ATTRIBUTES = new Set([
  "id", "class", "type", "name", "value", "placeholder", "for", "role", "title", "colspan",
  "min", "max", "step", "rows", "cols", "autocomplete", "inputmode", "spellcheck", "tabindex",
  "aria-label", "aria-live", "aria-current", "aria-describedby", "aria-invalid", "aria-expanded",
  "aria-busy", "aria-hidden", "aria-labelledby", "aria-controls", "aria-selected", "data-testid",
  "width", "height", "viewBox", "x", "y", "rx", "fill", "d", "x1", "x2", "y1", "y2", "stroke",
  "stroke-width", "text-anchor", "font-size", "maxlength", "pattern", "scope", "alt", "lang",
  "xmlns", "focusable", "readonly", "open", "list", "max", "low", "high", "optimum",
]);
const BOOLEAN_PROPERTIES = new Set(["disabled", "checked", "required", "multiple", "selected", "hidden"]);
const SVG = "http://www.w3.org/2000/svg";
const SVG_TAGS = new Set(["svg", "g", "rect", "line", "path", "text", "title"]);

/** h("a", {href: "#/sources"}, "Sources"): an element with text children; events as onX functions. */
export function h(tag, props = {}, ...children) {
  const el = SVG_TAGS.has(tag) ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "href") {
      el.setAttribute("href", internalHref(value));
    } else if (key === "src") {
      el.setAttribute("src", imageSource(value));
    } else if (BOOLEAN_PROPERTIES.has(key)) {
      el[key] = Boolean(value);
    } else if (key === "style") {
      throw new Error("no inline styles: use a class"); // the CSP forbids them anyway
    } else if (SAFE_ATTRIBUTES.has(key) || key.startsWith("data-")) {
      el.setAttribute(key, String(value));
    } else {
      throw new Error(`attribute ${key} is not allowed`);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Links point inside this page only: "#/..." routes or the page's own relative paths. */
export function internalHref(value) {
  const text = String(value);
  if (text.startsWith("#/") || text === "#") return text;
  throw new Error(`links stay inside the page: ${text}`);
}

/** Images: https URLs (a platform's logo) or this origin's own files; nothing else. */
export function imageSource(value) {
  const url = new URL(String(value), document.baseURI);
  if (url.protocol === "https:" || url.origin === location.origin) return url.href;
  throw new Error("images are https or this origin's");
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const TIME = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** A Unix time (seconds) as the reader's local time. */
export function when(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return TIME.format(new Date(seconds * 1000));
}

/** "3 min ago" for recent times, else the date. */
export function ago(seconds, now = Date.now() / 1000) {
  if (seconds === null || seconds === undefined) return "—";
  const d = Math.round(now - seconds);
  if (d < 0) return when(seconds);
  if (d < 60) return `${d} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return when(seconds);
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A payload for reading: JSON pretty-printed, text as it is, anything else as a hex dump. */
export function showBody(data, contentType = "") {
  const text = decodeText(data);
  if (text !== null) {
    const looksJson = /json/i.test(contentType) || /^\s*[[{]/.test(text);
    if (looksJson) {
      try {
        return { kind: "json", text: JSON.stringify(JSON.parse(text), null, 2) };
      } catch {
        /* not JSON after all: show it as text */
      }
    }
    return { kind: "text", text };
  }
  return { kind: "hex", text: hexDump(data) };
}

function decodeText(data) {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(data);
    // Control characters other than whitespace mean binary, not text.
    return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? null : text;
  } catch {
    return null;
  }
}

export function hexDump(data, limit = 4096) {
  const lines = [];
  const shown = data.subarray(0, limit);
  for (let offset = 0; offset < shown.length; offset += 16) {
    const row = shown.subarray(offset, offset + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (data.length > limit) lines.push(`… ${data.length - limit} more bytes`);
  return lines.join("\n");
}

/** Seconds from a "2h", "30m", "1d" or "90s" span; null if it is not one. */
export function parseSpan(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$/i.exec(text || "");
  if (!m) return null;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2].toLowerCase()];
}

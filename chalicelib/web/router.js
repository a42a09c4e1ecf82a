// Hash routes (#/endpoints/ep_123?tab=attempts): the page works from one HTML file under any prefix,
// and the URL a person copies opens the same view.
import { h, replace } from "./dom.js";
import { carryNotice, clearStaleNotice, errorBox } from "./ui.js";

const routes = [];
let mainEl = null;
let current = 0;

/** route("/endpoints/:id", render): render({params, query}) returns a node or a promise of one. */
export function route(pattern, render) {
  const names = [];
  const source = pattern.replace(/:([a-z_]+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ regex: new RegExp(`^${source}$`), names, render });
}

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?");
  return { path: path || "/", query: Object.fromEntries(new URLSearchParams(search)) };
}

/** A #/path?query link target. */
export function link(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  const search = params.toString();
  return `#${path}${search ? `?${search}` : ""}`;
}

/** Open a view after a change; the notice that change said goes with it. */
export function go(path, query) {
  carryNotice();
  location.hash = link(path, query);
}

export async function render() {
  const ticket = ++current;
  clearStaleNotice();
  const { path, query } = parseHash();
  for (const r of routes) {
    const match = r.regex.exec(path);
    if (!match) continue;
    const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(match[i + 1])]));
    replace(mainEl, h("p", { class: "state" }, "Loading…"));
    markCurrent(path); // the page asked for, at once; a slower earlier render never marks its own
    try {
      const node = await r.render({ params, query });
      if (ticket === current) replace(mainEl, node);
    } catch (error) {
      if (ticket === current) replace(mainEl, failedPage(error));
    }
    return;
  }
  markCurrent(path);
  replace(mainEl, h("section", { class: "page" }, h("h1", {}, "Not found"), h("p", {}, "There is no page here."), h("a", { href: "#/" }, "Go to the start")));
}

/** A view that could not load: still a page with a heading, and the API's sentence. */
function failedPage(error) {
  const title = error && error.status === 404 ? "Not found" : "This page could not be shown";
  document.title = `${title} · ${document.body.dataset.product || "Hookway"}`;
  return h("section", { class: "page", "aria-labelledby": "page-title" }, h("h1", { id: "page-title" }, title), errorBox(error));
}

function markCurrent(path) {
  for (const a of document.querySelectorAll("nav a")) {
    const target = a.getAttribute("href").replace(/^#/, "");
    const here = target === "/" ? path === "/" : path === target || path.startsWith(`${target}/`);
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

export function start(main) {
  mainEl = main;
  window.addEventListener("hashchange", render);
  return render();
}

// The customer portal: one application's endpoints and messages, by the token in the link
// (/portal#token=hkt_...). The token moves from the URL to this tab's sessionStorage at once, so it
// is not left in the address bar, the history or a screenshot; it is sent as a bearer token.
import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { route, start } from "./router.js";
import { errorText } from "./ui.js";
import { endpointsPage, endpointPage, newEndpointPage } from "./endpoints.js";
import { messagesPage, messagePage } from "./messages.js";

const main = document.getElementById("main");
const KEY = "hookway.portal.token";

function tokenFromLink() {
  const match = /^#token=([A-Za-z0-9._~-]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(KEY, match[1]);
    history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  }
  return sessionStorage.getItem(KEY);
}

/** The token's payload: [application id, issued ms, expires s, read-only, id] (no secret in it). */
function claims(token) {
  try {
    const payload = token.slice(4).split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
    const [applicationId, , expiresAt, readOnly] = JSON.parse(atob(payload));
    return { applicationId: String(applicationId), expiresAt: Number(expiresAt), readOnly: Boolean(readOnly) };
  } catch {
    return null;
  }
}

let stopped = false;

/** The link no longer works: say so, in a fresh <main> that no pending page render can overwrite. */
function stop(text) {
  if (stopped) return;
  stopped = true;
  document.getElementById("nav").hidden = true;
  document.title = `This link cannot be used · ${document.body.dataset.product || "Webhooks"}`;
  const fresh = h("main", { id: "main", tabindex: "-1" },
    h("section", { class: "page narrow", "data-testid": "link-unusable" },
      h("h1", { id: "page-title" }, "This link cannot be used"), h("p", { role: "alert" }, text)));
  document.getElementById("main").replaceWith(fresh);
}

function brand(branding) {
  const name = branding.name || "Webhooks";
  document.body.dataset.product = name;
  const holder = document.getElementById("brand");
  let logo = null;
  try {
    logo = branding.logo_url ? h("img", { src: branding.logo_url, alt: "", width: 24, height: 24 }) : null;
  } catch {
    /* not an https image: the name alone */
  }
  replace(holder, logo, h("span", { id: "brand-name" }, name));
  if (/^#[0-9a-fA-F]{6}$/.test(branding.accent || "")) {
    document.documentElement.style.setProperty("--accent", branding.accent);
  }
}

(async () => {
  const token = tokenFromLink();
  const found = token ? claims(token) : null;
  if (!found) return stop("Open the portal from the link your provider gave you; this page has no access token.");
  api.useToken(token);
  api.whenSignedOut((error) => stop(`${errorText(error)} Ask for a new link.`));
  const ctx = { mode: "portal", applicationId: found.applicationId, readOnly: found.readOnly };
  try {
    brand(await api.get("branding"));
  } catch (error) {
    if (error.status === 401) return;
    /* branding is decoration: the portal works without it */
  }
  route("/", ({ query }) => endpointsPage(ctx, query));
  route("/endpoints", ({ query }) => endpointsPage(ctx, query));
  route("/endpoints/new", ({ query }) => newEndpointPage(ctx, query));
  route("/endpoints/:id", ({ params, query }) => endpointPage(ctx, params.id, query));
  route("/messages", ({ query }) => messagesPage(ctx, query));
  route("/messages/:id", ({ params, query }) => messagePage(ctx, params.id, query));
  document.getElementById("nav").hidden = false;
  document.getElementById("skip").addEventListener("click", () => main.focus());
  start(main);
})();

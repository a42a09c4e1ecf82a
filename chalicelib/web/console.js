// The operator console: sign in with the admin key (exchanged for an HttpOnly session cookie), then
// every page of the management API. Routes are #/... so it works under any path prefix.
import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { route, start, render } from "./router.js";
import { announce, carryNotice, field, form, errorText, scrollHint } from "./ui.js";
import { overviewPage } from "./overview.js";
import { sourcesPage, sourcePage, newSourcePage } from "./sources.js";
import { endpointsPage, endpointPage, newEndpointPage } from "./endpoints.js";
import { messagesPage, messagePage } from "./messages.js";
import { applicationsPage, applicationPage } from "./applications.js";
import { eventTypesPage, eventTypePage } from "./event-types.js";

const ctx = { mode: "console", applicationId: null, readOnly: false };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");
const endSessionsButton = document.getElementById("end-sessions");

route("/", () => overviewPage(ctx));
route("/sources", ({ query }) => sourcesPage(ctx, query));
route("/sources/new", ({ query }) => newSourcePage(ctx, query));
route("/sources/:id", ({ params, query }) => sourcePage(ctx, params.id, query));
route("/endpoints", ({ query }) => endpointsPage(ctx, query));
route("/endpoints/new", ({ query }) => newEndpointPage(ctx, query));
route("/endpoints/:id", ({ params, query }) => endpointPage(ctx, params.id, query));
route("/messages", ({ query }) => messagesPage(ctx, query));
route("/messages/:id", ({ params, query }) => messagePage(ctx, params.id, query));
route("/applications", ({ query }) => applicationsPage(ctx, query));
route("/applications/:id", ({ params, query }) => applicationPage(ctx, params.id, query));
route("/event-types", ({ query }) => eventTypesPage(ctx, query));
route("/event-types/:name", ({ params, query }) => eventTypePage(ctx, params.name, query));

let started = false;
let hadSession = false; // a first visit is asked to sign in, not to sign in "again"

scrollHint(nav);

function signedIn(session) {
  hadSession = true;
  api.useCsrf(session.csrf_token);
  nav.hidden = false;
  signOutButton.hidden = false;
  endSessionsButton.hidden = false;
  if (!started) {
    started = true;
    start(main);
  } else {
    render();
  }
}

function signInPage(reason) {
  nav.hidden = true;
  signOutButton.hidden = true;
  endSessionsButton.hidden = true;
  api.useCsrf(null);
  document.title = "Sign in · Hookway console";
  const key = field({ label: "Admin key", name: "admin_key", kind: "password", required: true, testid: "admin-key",
    help: "The deployment's admin key (make dev prints it; deployed stages keep it in SSM Parameter Store). It is exchanged for a session that ends after 8 hours or when you sign out; the key itself is not kept in the browser." });
  const signIn = form({
    fields: [key],
    submitLabel: "Sign in",
    testid: "sign-in",
    onSubmit: async ({ admin_key }) => {
      const session = await api.post("console/session", { admin_key });
      announce("Signed in.");
      carryNotice();
      signedIn(session);
    },
  });
  replace(main, h("section", { class: "page narrow sign-in", "aria-labelledby": "page-title" },
    h("h1", { id: "page-title" }, "Sign in to Hookway"),
    reason ? h("p", { class: "error", role: "alert" }, reason) : null,
    signIn));
  key.input.focus();
}

api.whenSignedOut((error) => {
  if (error.code === "wrong_admin_key") return; // the sign-in form shows it under the field
  if (error.code === "session_expired") signInPage(errorText(error));
  else signInPage(hadSession ? "Sign in again to go on." : null);
});

signOutButton.addEventListener("click", async () => {
  try {
    await api.del("console/session");
  } catch {
    /* already ended: the sign-in page says so either way */
  }
  announce("Signed out.");
  signInPage(null);
});

// Every console's session, this one's too (after a leaked cookie, or with a key rotation).
endSessionsButton.addEventListener("click", async () => {
  try {
    const { ended } = await api.del("console/sessions");
    announce(`Ended ${ended} ${ended === 1 ? "session" : "sessions"}: every console is signed out.`);
  } catch (error) {
    if (error.status !== 401) return announce(errorText(error), "error");
  }
  signInPage(null);
});

document.getElementById("skip").addEventListener("click", () => main.focus());

(async () => {
  try {
    signedIn(await api.get("console/session"));
  } catch (error) {
    if (error.status !== 401) replace(main, h("p", { class: "error", role: "alert" }, errorText(error)));
  }
})();

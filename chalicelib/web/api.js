// The one way the pages talk to Hookway: its HTTP API, on this origin, under the page's own prefix
// (so the console works at /console and under an API Gateway stage such as /api/console).
//
// The console authenticates with its session cookie and repeats the session's CSRF token in a header
// on every request; the portal sends its application token as a bearer token. Neither is ever put in
// localStorage: the CSRF token and the portal token live in this module's memory only.

export class ApiError extends Error {
  constructor(status, code, message, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

const credentials = { csrf: null, token: null };
let onSignedOut = () => {};

export function apiUrl(path, query = {}) {
  const url = new URL(`v1/${path.replace(/^\/+/, "")}`, document.baseURI);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  return url;
}

export function useCsrf(token) {
  credentials.csrf = token;
}

export function useToken(token) {
  credentials.token = token;
}

/** What to do when the API says the session or token is no longer good (401). */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  if (credentials.token) out.Authorization = `Bearer ${credentials.token}`;
  else if (credentials.csrf) out["X-Hookway-CSRF"] = credentials.csrf;
  return out;
}

async function failure(response) {
  let doc = null;
  try {
    doc = await response.json();
  } catch {
    /* not JSON: say what the status means */
  }
  const error = doc && typeof doc === "object" && doc.error && typeof doc.error === "object" ? doc.error : {};
  const message = typeof error.message === "string" && error.message ? error.message : `the server answered ${response.status}`;
  return new ApiError(response.status, String(error.code || "http_" + response.status), sentence(message), error);
}

/** An API message as a sentence a person reads: capital first letter, a full stop. */
export function sentence(message) {
  const text = String(message).trim();
  if (!text) return text;
  const first = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** Call the API; resolves to the parsed JSON (or null for 204), rejects with ApiError. */
export async function call(method, path, { query, body, extraHeaders } = {}) {
  const init = { method, headers: headers(extraHeaders), credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(apiUrl(path, query), init);
  } catch {
    throw new ApiError(0, "network", "Hookway could not be reached. Check the connection and try again.");
  }
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401) onSignedOut(error);
    throw error;
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** The raw bytes of a response (a message body), with its headers. */
export async function bytes(path) {
  let response;
  try {
    response = await fetch(apiUrl(path), { headers: headers({ Accept: "*/*" }), credentials: "same-origin" });
  } catch {
    throw new ApiError(0, "network", "Hookway could not be reached. Check the connection and try again.");
  }
  if (!response.ok) throw await failure(response);
  return { data: new Uint8Array(await response.arrayBuffer()), headers: response.headers };
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body = {}, extraHeaders) => call("POST", path, { body, extraHeaders });
export const patch = (path, body) => call("PATCH", path, { body });
export const del = (path) => call("DELETE", path);

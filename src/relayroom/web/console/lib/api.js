// The public console API (/api/v1) with the signed-in user's bearer token; errors as ApiError. The token
// and what to do when the session has ended (401) are given by the entry (configureApi), so this module
// depends on no other.

const API = "/api/v1";

let token = () => null;
let onUnauthorized = () => {};
let paths = null; // Set of API paths this server offers (from /openapi.json)
let processingRecords = null; // retention settings, regions

/** token(): the bearer token or null; unauthorized(): the session has ended (a 401 outside sign-in). */
export function configureApi({ token: getToken, unauthorized }) {
  token = getToken;
  onUnauthorized = unauthorized;
}

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body, { raw = false } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and try again.", 0, "network");
  }
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    let code = "http_error";
    try {
      const j = await r.json();
      if (j && j.error) {
        message = j.error.message || message;
        code = j.error.code || code;
      }
    } catch {
      /* not JSON */
    }
    if (r.status === 401 && path !== "/auth/login") onUnauthorized();
    throw new ApiError(message, r.status, code);
  }
  if (raw) return r;
  if (r.status === 204) return null;
  return r.json();
}

export const get = (p) => api("GET", p);
export const post = (p, b) => api("POST", p, b === undefined ? {} : b);

async function loadPaths() {
  if (paths) return paths;
  try {
    const r = await fetch("/openapi.json");
    const doc = await r.json();
    paths = new Set(Object.keys(doc.paths || {}));
  } catch {
    paths = new Set();
  }
  return paths;
}

/** Whether this server offers the API path (an older server may lack a page's API). */
export async function has(path) {
  return (await loadPaths()).has(API + path);
}

/** The records of processing (retention settings, regions), fetched once. */
export async function records() {
  if (!processingRecords) processingRecords = await get("/privacy/processing-records");
  return processingRecords;
}

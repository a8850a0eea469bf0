// The page's shared state and its calls to the example app's API.

// This tab's session id: the app stamps it on the changes made here that only the user's
// other sessions hear of (origin_session); the page hides those and still acknowledges them.
export const SESSION_ID = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) =>
  b.toString(16).padStart(2, "0"),
).join("");

export const state = {
  user: null,
  token: null,
  renewing: false, // a password change is in flight: this tab's token is about to be replaced
  client: null,
  me: null,
  shop: [],
  users: [],
  ended: false,
};

/** A refusal from the API: `code` is stable, `field` names the request field when there is one. */
export class ApiError extends Error {
  constructor(status, payload) {
    super(payload.message || payload.code || `HTTP ${status}`);
    this.status = status;
    this.code = payload.code;
    this.field = payload.field ?? null;
  }
}

let onRevoked = () => undefined;

/** Call `handler` when the API says this session's token was revoked. A refusal of a token
 * the tab has replaced since, or is replacing (a password change in flight), is not one. */
export function whenRevoked(handler) {
  onRevoked = handler;
}

/** GET `path`, or POST `body` as JSON; the answer's JSON, or throws ApiError. */
export async function api(path, body, headers = {}) {
  const token = state.token;
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: {
      ...headers,
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) {
    const error = new ApiError(response.status, payload);
    if (error.code === "token_revoked" && token === state.token && !state.renewing) onRevoked(error);
    throw error;
  }
  return payload;
}

/** Headers that make this tab the origin of the change. */
export const fromThisTab = { "X-Session-Id": SESSION_ID };

// HS256 access tokens shaped like the host application's, signed with Node's crypto.
import { createHmac } from "node:crypto";

export const SECRET = "js-client-test-secret-" + "x".repeat(32);

const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A token for `sub` expiring `ttlSeconds` after `nowMs` (default: the wall clock). */
export function token(sub, { ttlSeconds = 3600, secret = SECRET, nowMs = Date.now(), ...claims } = {}) {
  const now = nowMs / 1000;
  const header = encode({ alg: "HS256", typ: "JWT" });
  const payload = encode({ sub, iat: Math.floor(now), exp: Math.floor(now + ttlSeconds), type: "access", ...claims });
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** A user id of this test's own: every server on this machine shares Redis pub/sub. */
export function uniqueUser(name) {
  return `${name}-${Math.random().toString(36).slice(2, 10)}`;
}

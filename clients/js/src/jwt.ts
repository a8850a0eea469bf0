/**
 * Reading a JWT's `exp` without verifying it: the client only needs to know when to refresh.
 * The server verifies every token it is given.
 */

function base64UrlDecode(segment: string): string {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The payload's `exp` in seconds since the epoch, or null when absent or unreadable. */
export function tokenExpiry(token: string): number | null {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === undefined) {
    return null;
  }
  try {
    const payload: unknown = JSON.parse(base64UrlDecode(parts[1]));
    if (typeof payload === "object" && payload !== null && "exp" in payload) {
      const exp = (payload as { exp: unknown }).exp;
      return typeof exp === "number" && Number.isFinite(exp) ? exp : null;
    }
  } catch {
    return null;
  }
  return null;
}

/**
 * When to send a refresh (ms since the epoch) for a token expiring at `expSeconds`, seen at
 * `now`: `leadMs` before expiry, or halfway through what is left when that is shorter, so
 * short-lived tokens are refreshed in time too.
 */
export function refreshTime(expSeconds: number, now: number, leadMs: number): number {
  const expiresAt = expSeconds * 1000;
  const remaining = expiresAt - now;
  if (remaining <= 0) {
    return now;
  }
  return expiresAt - Math.min(leadMs, remaining / 2);
}

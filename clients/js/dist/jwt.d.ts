/**
 * Reading a JWT's `exp` without verifying it: the client only needs to know when to refresh.
 * The server verifies every token it is given.
 */
/** The payload's `exp` in seconds since the epoch, or null when absent or unreadable. */
export declare function tokenExpiry(token: string): number | null;
/**
 * When to send a refresh (ms since the epoch) for a token expiring at `expSeconds`, seen at
 * `now`: `leadMs` before expiry, or halfway through what is left when that is shorter, so
 * short-lived tokens are refreshed in time too.
 */
export declare function refreshTime(expSeconds: number, now: number, leadMs: number): number;

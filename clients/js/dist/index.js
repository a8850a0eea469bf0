/**
 * `@tidings/client`: the client side of tidings protocol v1 and v2, for browsers and Node.
 *
 * ```ts
 * const client = new TidingsClient({
 *   url: "https://api.example.com/tidings",
 *   getToken: () => auth.accessToken(),
 *   store: new LocalStorageCursorStore("tidings:cursor"),
 *   onNotification: (n) => render(n),
 *   onResync: () => reloadInbox(),
 * });
 * client.start();
 * ```
 */
export { AckBatcher, defaultAcks } from "./acks.js";
export { Backoff, defaultBackoff } from "./backoff.js";
export { TidingsClient } from "./client.js";
export { CLOSE_BAD_QUERY, CLOSE_FRAME_TOO_BIG, CLOSE_GOING_AWAY, CLOSE_REVOKED, CLOSE_TOO_MANY, CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED, CLOSE_UNSUPPORTED_DATA, decideClose, } from "./closes.js";
export { LocalStorageCursorStore, MemoryCursorStore } from "./cursor.js";
export { TidingsError } from "./errors.js";
export { parseServerFrame } from "./frames.js";
export { InboxState } from "./inbox.js";
export { fillGap } from "./gap.js";
export { refreshTime, tokenExpiry } from "./jwt.js";
export { Sequencer } from "./sequencer.js";
export { systemClock } from "./types.js";

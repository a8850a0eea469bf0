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
export { AckBatcher, type AckOptions, defaultAcks } from "./acks.js";
export { Backoff, type BackoffOptions, type DelayKind, defaultBackoff } from "./backoff.js";
export { TidingsClient, type TidingsClientOptions } from "./client.js";
export { CLOSE_BAD_QUERY, CLOSE_FRAME_TOO_BIG, CLOSE_GOING_AWAY, CLOSE_REVOKED, CLOSE_TOO_MANY, CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED, CLOSE_UNSUPPORTED_DATA, type CloseDecision, decideClose, } from "./closes.js";
export { type CursorStore, LocalStorageCursorStore, MemoryCursorStore, type StorageLike } from "./cursor.js";
export { TidingsError } from "./errors.js";
export { type MarkTarget, parseServerFrame, type ServerFrame, type WelcomeFrame } from "./frames.js";
export { InboxState } from "./inbox.js";
export { type FillOutcome, fillGap, type Page, type PageReader } from "./gap.js";
export { refreshTime, tokenExpiry } from "./jwt.js";
export { Sequencer, type Verdict } from "./sequencer.js";
export type { AuthReason, Broadcast, ChangeOp, ClientState, ClientStats, Clock, Counts, Cursor, FetchLike, FetchResponse, ItemState, MarkOp, Notification, ResyncInfo, StateChange, StopInfo, StreamEntry, WebSocketConstructor, WebSocketLike, } from "./types.js";
export { systemClock } from "./types.js";

/**
 * Public data types of the client and the small platform interfaces it needs.
 *
 * Wire frames (protocol v1) use snake_case; what the client hands to the application uses
 * camelCase. The platform interfaces are the subset of the browser's `WebSocket` and `fetch`
 * that the client uses, so the `ws` package and test doubles fit them too.
 */

/** One stored notification of the user's stream, as delivered to `onNotification`. */
export interface Notification {
  /** The notification's seq: 1, 2, 3, ... over the user's notifications, with no gap. */
  readonly seq: number;
  /** The notification's id: the same for every recipient of one emit. */
  readonly id: string;
  readonly event: string;
  readonly data: Record<string, unknown>;
  /** ISO 8601, UTC, `Z` suffix. */
  readonly createdAt: string;
  /** The emitting session, or null. */
  readonly originSession: string | null;
  /** Protocol v2: its position on the stream (notifications and changes, no gap). */
  readonly pos?: number;
  /** Protocol v2: the seq this notification replaced (same collapse key), or null. */
  readonly replaces?: number | null;
  /** Protocol v2: the user's counts right after it. */
  readonly counts?: Counts;
}

/** Protocol v2: unread and unarchived notifications among those retained and not retracted. */
export interface Counts {
  readonly unread: number;
  readonly unarchived: number;
}

/** Protocol v2: one notification's state, the same on every device of the user. */
export interface ItemState {
  readonly read: boolean;
  readonly archived: boolean;
  readonly retracted: boolean;
}

/** What a client may ask for (`mark`); the server also sends `retract` and `trim`. */
export type MarkOp = "read" | "unread" | "archive" | "unarchive";
export type ChangeOp = MarkOp | "retract" | "trim";

/**
 * Protocol v2: a change on the stream, as delivered to `onChange`. It applies to every seq in
 * `seqs` and, when `upto` is not null, to every held notification with `seq <= upto` that is
 * not retracted; `trim` means retention removed `seqs`.
 */
export interface StateChange {
  readonly pos: number;
  readonly op: ChangeOp;
  readonly seqs: readonly number[];
  readonly upto: number | null;
  /** ISO 8601, UTC, `Z` suffix. */
  readonly at: string;
  /** The user's counts right after it. */
  readonly counts: Counts;
}

/** Protocol v2: one entry of the stream, a notification or a change, at `pos`. */
export type StreamEntry =
  | { readonly kind: "notification"; readonly pos: number; readonly notification: Notification }
  | { readonly kind: "state"; readonly pos: number; readonly change: StateChange };

/** A best-effort `Everyone()` notification: not stored, no seq, never acknowledged. */
export interface Broadcast {
  readonly id: string;
  readonly event: string;
  readonly data: Record<string, unknown>;
  readonly createdAt: string;
}

/**
 * Passed to `onResync`: the server could not continue from `requestedSince` (entries were
 * trimmed, or the position belongs to a history the server no longer has). The client goes on
 * from `head`; the application should reload whatever state it derives from the stream.
 */
export interface ResyncInfo {
  readonly userId: string;
  readonly requestedSince: number | null;
  readonly head: number;
  /** `"welcome"`: told at connect; `"fill"`: found while filling a gap over REST. */
  readonly source: "welcome" | "fill";
}

/**
 * Where the client is:
 * - `idle`: created, `start()` not called;
 * - `connecting`: getting credentials and opening the socket;
 * - `syncing`: welcomed, replaying what was missed;
 * - `live`: caught up, receiving live notifications;
 * - `backoff`: waiting before the next connection attempt;
 * - `stopped`: `stop()` was called or the server refused the client for good.
 */
export type ClientState = "idle" | "connecting" | "syncing" | "live" | "backoff" | "stopped";

/** Why the client called a credentials callback. */
export type AuthReason = "connect" | "unauthorized" | "refresh" | "fetch";

/** Why the client stopped; `closeCode` is the server's close code when it decided. */
export interface StopInfo {
  readonly reason: "stopped" | "revoked" | "bad_query" | "frame_too_big" | "unsupported_data";
  readonly closeCode: number | null;
}

/** Counters, for tests and monitoring. */
export interface ClientStats {
  /** Connection attempts (credentials fetched, socket created). */
  attempts: number;
  /** Sockets that received a welcome. */
  connections: number;
  /** Notifications handed to `onNotification`. */
  delivered: number;
  /** Frames dropped because their seq was already processed. */
  duplicates: number;
  /** Own-origin notifications processed without calling `onNotification`. */
  suppressed: number;
  /** Gaps filled (or attempted) over REST. */
  gapFills: number;
  /** `refresh` frames sent. */
  refreshes: number;
  /** `ack` frames sent. */
  acksSent: number;
  /** `onResync` calls. */
  resyncs: number;
}

/**
 * The last processed position of one user's stream, as persisted by a `CursorStore`: a seq
 * (protocol v1) or a stream position (`protocol: 2`).
 */
export interface Cursor {
  readonly userId: string;
  readonly seq: number;
  /** The protocol the position belongs to; absent means 1. */
  readonly protocol?: 1 | 2;
}

/**
 * An event handler slot. Events are typed loosely on purpose: browsers' `WebSocket` and the
 * `ws` package's declare different event classes, and both must fit. The client reads only
 * `data` (message) and `code`/`reason` (close).
 */
export type EventSlot = ((event: any) => void) | null;

/** The subset of a `WebSocket` the client uses (browsers' own, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: EventSlot;
  onmessage: EventSlot;
  onclose: EventSlot;
  onerror: EventSlot;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A `WebSocket` constructor: `new WebSocket(url)`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The subset of a `fetch` response the client reads. */
export interface FetchResponse {
  readonly ok: boolean;
  readonly status: number;
  json(): Promise<unknown>;
}

/** The subset of `fetch` the client calls. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<FetchResponse>;

/** Wall-clock time and timers; injectable so that tests control time. */
export interface Clock {
  /** Milliseconds since the Unix epoch (compared with JWT `exp`). */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The default clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as number),
};

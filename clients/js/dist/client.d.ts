/**
 * `TidingsClient`: one user's notification stream over `/ws`, kept contiguous and resumable.
 *
 * Guarantees to the application, within one client instance:
 * - `onNotification` sees seqs in ascending order with no gap and no duplicate (a gap in the
 *   live stream is filled over REST first; a seq at or below the last processed one is
 *   dropped), except where the server says history is gone: then `onResync` is called and the
 *   stream continues from the server's head;
 * - handlers are awaited one at a time, in frame order; a seq counts as processed once its
 *   handler returned (or threw: the error goes to `onError` and the stream moves on);
 * - processed seqs are acknowledged cumulatively in batches and saved to the `CursorStore`
 *   at the same moments, so a restarted client resumes from the last saved seq
 *   (at-least-once across restarts: up to one batch may be seen again);
 * - every close code is handled as protocol v1 says (see `closes.ts`).
 *
 * With `protocol: 2` the stream is protocol v2's: notifications and changes in one order by
 * position (the same guarantees hold for positions), the client keeps every held
 * notification's state and the user's counts (`counts`, `itemState`, `onChange`,
 * `onCounts`), and `mark`/`markRead`/`markAllRead`/`archive` change state on every device.
 *
 * This module is the connection loop (credentials, sockets, backoff, close codes); the stream
 * itself is `stream.ts`, token refresh `refresh.ts`.
 */
import type { AckOptions } from "./acks.js";
import { type BackoffOptions } from "./backoff.js";
import { type CursorStore } from "./cursor.js";
import { TidingsError } from "./errors.js";
import { type MarkTarget } from "./frames.js";
import { type AuthReason, type Broadcast, type ClientState, type ClientStats, type Clock, type Counts, type FetchLike, type ItemState, type MarkOp, type Notification, type ResyncInfo, type StateChange, type StopInfo, type WebSocketConstructor } from "./types.js";
type MaybePromise<T> = T | Promise<T>;
export interface TidingsClientOptions {
    /** The service's http(s) base URL, e.g. `https://api.example.com/tidings`. */
    url: string;
    /** The `/ws` URL when it is not `url` with ws(s) and `/ws` (e.g. another host). */
    wsUrl?: string;
    /** The app's access token (REST gap fills, refresh, tickets, `auth: "token"`). */
    getToken?: (reason: AuthReason) => MaybePromise<string>;
    /** A ticket from `POST /ws/ticket`; by default bought with `getToken()`. */
    getTicket?: (reason: AuthReason) => MaybePromise<string>;
    /** `"ticket"` (default: the token stays out of URLs) or `"token"` (`/ws?token=`). */
    auth?: "ticket" | "token";
    /** Acks are kept per device (1-64 of `[A-Za-z0-9_-]`); the server's default when unset. */
    device?: string;
    /** This client's session id: own-origin notifications are suppressed. Random by default. */
    sessionId?: string;
    /** Deliver own-origin notifications too (they are always acknowledged). */
    deliverOwn?: boolean;
    store?: CursorStore;
    backoff?: Partial<BackoffOptions>;
    acks?: Partial<AckOptions>;
    /** Send a refresh this long before `exp` (ms; halfway through for shorter tokens). */
    refreshLeadMs?: number;
    /** No welcome this long after creating the socket (ms): give up on it and retry. */
    openTimeoutMs?: number;
    /** REST page size for gap fills (1-500). */
    fillPageSize?: number;
    /** A WebSocket implementation; required where there is no global one (Node 20: `ws`). */
    WebSocket?: WebSocketConstructor;
    fetch?: FetchLike;
    clock?: Clock;
    random?: () => number;
    /** `2`: protocol v2 (inbox state and counts on the stream); default `1`. */
    protocol?: 1 | 2;
    onNotification?: (notification: Notification) => MaybePromise<void>;
    /** Protocol v2: a change, after the client's state applied it. */
    onChange?: (change: StateChange) => MaybePromise<void>;
    /** Protocol v2: the counts moved (welcome, or an entry past the welcome's head). */
    onCounts?: (counts: Counts) => void;
    onBroadcast?: (broadcast: Broadcast) => MaybePromise<void>;
    onResync?: (info: ResyncInfo) => MaybePromise<void>;
    onStateChange?: (state: ClientState, previous: ClientState) => void;
    onError?: (error: TidingsError) => void;
}
export declare class TidingsClient {
    readonly sessionId: string;
    readonly stats: ClientStats;
    private readonly options;
    private readonly clock;
    private readonly backoff;
    private readonly stream;
    private readonly rest;
    private readonly protocol;
    private readonly inbox;
    private currentState;
    private connection;
    private chain;
    private loop;
    private stopping;
    private signalStop;
    private stopSignal;
    private wake;
    private stopInfo;
    private stopWaiters;
    /** Throws `TypeError` when neither `getToken` nor `getTicket` is given, or `auth: "token"`
     * lacks `getToken`. */
    constructor(options: TidingsClientOptions);
    get state(): ClientState;
    /** The highest seq processed, or null before the first welcome. */
    get position(): number | null;
    /** The user of the stream (the token's `sub`), known from the first welcome. */
    get userId(): string | null;
    /** Protocol v2: the user's counts, or null before the first welcome. */
    get counts(): Counts | null;
    /** Protocol v2: the state of notification `seq`, or undefined when this client does not
     * hold it (it arrived before the position this client started from, or was trimmed). */
    itemState(seq: number): ItemState | undefined;
    /** Protocol v2: every held notification's state, by seq. */
    items(): ReadonlyMap<number, ItemState>;
    /**
     * Protocol v2: set `op` on some seqs, or on every seq up to one; the change reaches every
     * device of the user (this one included) as a `state` frame. Sent over the socket when one
     * is up, else over REST (needs `getToken`). A seq above the newest is refused by the server
     * (`seq_above_head`: reported to `onError`, or the promise rejects over REST).
     */
    mark(op: MarkOp, target: MarkTarget): Promise<void>;
    markRead(seqs: readonly number[]): Promise<void>;
    markUnread(seqs: readonly number[]): Promise<void>;
    /** Mark every notification up to `upto` (default: the newest this client knows) read. */
    markAllRead(upto?: number): Promise<void>;
    archive(seqs: readonly number[]): Promise<void>;
    unarchive(seqs: readonly number[]): Promise<void>;
    /** Start connecting (and reconnecting) until `stop()` or a fatal close. Idempotent. */
    start(): void;
    /**
     * Acknowledge and save what was processed, close the socket (1000) and stop reconnecting.
     * Resolves once the client is stopped. Safe to call from a handler.
     */
    stop(): Promise<void>;
    /** Resolves when the client stops, with why. */
    waitStopped(): Promise<StopInfo>;
    private run;
    /** One connection attempt, from credentials to close: what to do next and the close code. */
    private attempt;
    private credentialsFailed;
    /** The `/ws` URL with credentials and `since`, and the token's `exp` when known. */
    private connectTarget;
    private wsBase;
    private open;
    /** Close `connection` ourselves; `next` replaces whatever its close code would say. */
    private abandon;
    private enqueue;
    private handle;
    private onWelcome;
    /** The frame as a stream entry: by position in v2, by seq in v1 (null when it does not
     * belong to this client's protocol). */
    private entryOf;
    private onEntry;
    private readPage;
    /** Every entry, own-origin ones included, updates the state and counts first. */
    private observe;
    private deliverEntry;
    private token;
    private restApi;
    private webSocketImpl;
    private addTimer;
    private clearTimers;
    private sleep;
    private finish;
    private setState;
    private callHandler;
    private callSync;
    private report;
}
export {};

/**
 * The application's side of the stream: one user's notifications delivered in order, each
 * once, acknowledged in batches, and resumable from a saved cursor. Generic over the entry:
 * protocol v1's notifications (by seq) or protocol v2's stream entries (by position).
 *
 * No sockets here: the client feeds frames in and lends a `send` function for acks while a
 * connection is up. Calls must not overlap (the client makes them one at a time, in frame
 * order); handlers are awaited in that order.
 */
import { type AckOptions } from "./acks.js";
import type { CursorStore } from "./cursor.js";
import { TidingsError } from "./errors.js";
import { type WelcomeFrame } from "./frames.js";
import { type PageReader } from "./gap.js";
import type { ClientStats, Clock, Notification, ResyncInfo } from "./types.js";
export interface StreamOptions<E = Notification> {
    store: CursorStore;
    acks?: Partial<AckOptions> | undefined;
    sessionId: string;
    deliverOwn: boolean;
    /** Calls the application's handler (and reports its errors itself). */
    deliverNotification: (entry: E) => Promise<void>;
    /** Sees every entry in order before it is delivered, own-origin ones included. */
    observe?: (entry: E) => void;
    /** Where an entry is in the stream (v1: its seq). */
    position?: (entry: E) => number;
    /** The session that emitted an entry, for own-origin suppression (v1: `originSession`). */
    origin?: (entry: E) => string | null;
    /** The protocol: its acks and saved cursors are its positions. */
    protocol?: 1 | 2;
    /** Calls the application's resync handler (and reports its errors itself). */
    deliverResync: (info: ResyncInfo) => Promise<void>;
    /** Receives every other failure. */
    report: (error: TidingsError) => void;
    stats: ClientStats;
    clock: Clock;
    fillPageSize?: number | undefined;
}
/** Position, dedup, gap filling, own-origin filtering, batched acks and the saved cursor. */
export declare class Stream<E = Notification> {
    private readonly options;
    private readonly positionOf;
    private readonly originOf;
    private readonly protocol;
    private readonly acks;
    private readonly sequencer;
    private user;
    private cursorUser;
    private savedSeq;
    private send;
    private ackTimer;
    private saving;
    constructor(options: StreamOptions<E>);
    /** The highest seq processed, or null before the first welcome (and no cursor). */
    get position(): number | null;
    get userId(): string | null;
    /** Take the position from the store's cursor, if any (once, before connecting). */
    load(): Promise<void>;
    /**
     * Start a connection's part of the stream at its welcome; acks go through `send`.
     *
     * Resolves false when the saved cursor belongs to another user: it is dropped, and the caller
     * reconnects without `since`. `recovered: false` calls the resync handler and moves the
     * position to the server's head.
     */
    open(welcome: WelcomeFrame, requestedSince: number | null, send: (text: string) => void): Promise<boolean>;
    /** The connection ended: acks wait for the next one. */
    detach(): void;
    /**
     * Deliver `notification` unless it is a duplicate, after filling any gap before it with
     * `read` (REST pages). Resolves false when a gap could not be filled (no reader, or reading
     * failed: reported as `gap_fill_failed`); the caller then reconnects with `since` so that the
     * server replays it.
     */
    receive(notification: E, read: PageReader<E> | null): Promise<boolean>;
    /** Send the waiting ack when a connection is up, and save the cursor either way. */
    flush(): void;
    /** Stop the ack timer and save the cursor (the client is stopping). */
    close(): Promise<void>;
    private fill;
    private deliver;
    private resync;
    private armAckTimer;
    private saveCursor;
    private safely;
}

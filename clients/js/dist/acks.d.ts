/**
 * Batched cumulative acknowledgements: ack the highest processed seq at most every
 * `maxDelayMs`, or at once after `maxItems` processed notifications.
 *
 * Pure: the caller passes `now` and owns the timer (see `dueAt`).
 */
export interface AckOptions {
    /** The longest a processed seq waits before it is acknowledged (ms). */
    maxDelayMs: number;
    /** Acknowledge at once when this many notifications are waiting. */
    maxItems: number;
}
export declare const defaultAcks: AckOptions;
export declare class AckBatcher {
    readonly options: AckOptions;
    private pending;
    private sent;
    private count;
    private firstAt;
    constructor(options?: Partial<AckOptions>);
    /** The highest seq handed out by `take()`. */
    get lastSent(): number;
    /** True when a seq is waiting to be acknowledged. */
    get hasPending(): boolean;
    /**
     * Record that `seq` was processed at `now`. Returns true when the ack is due at once
     * (`maxItems` reached); otherwise the caller flushes at `dueAt()`. Seqs at or below what
     * is already recorded are ignored.
     */
    processed(seq: number, now: number): boolean;
    /** When the waiting ack must be sent (ms), or null when nothing waits. */
    dueAt(): number | null;
    /** The seq to send now, or null when nothing waits; it counts as sent. */
    take(): number | null;
    /**
     * A new connection started at `position` at `now`: the last ack may have been lost with the
     * old socket, so acknowledge `position` again (an equal ack is a no-op on the server).
     */
    rearm(position: number, now: number): void;
}

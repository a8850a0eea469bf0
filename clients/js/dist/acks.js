/**
 * Batched cumulative acknowledgements: ack the highest processed seq at most every
 * `maxDelayMs`, or at once after `maxItems` processed notifications.
 *
 * Pure: the caller passes `now` and owns the timer (see `dueAt`).
 */
export const defaultAcks = { maxDelayMs: 1_000, maxItems: 100 };
export class AckBatcher {
    options;
    pending = 0;
    sent = 0;
    count = 0;
    firstAt = null;
    constructor(options = {}) {
        this.options = { ...defaultAcks, ...options };
        if (this.options.maxItems < 1 || this.options.maxDelayMs < 0) {
            throw new RangeError("acks need maxItems >= 1 and maxDelayMs >= 0");
        }
    }
    /** The highest seq handed out by `take()`. */
    get lastSent() {
        return this.sent;
    }
    /** True when a seq is waiting to be acknowledged. */
    get hasPending() {
        return this.pending > this.sent;
    }
    /**
     * Record that `seq` was processed at `now`. Returns true when the ack is due at once
     * (`maxItems` reached); otherwise the caller flushes at `dueAt()`. Seqs at or below what
     * is already recorded are ignored.
     */
    processed(seq, now) {
        if (seq <= Math.max(this.pending, this.sent)) {
            return false;
        }
        this.pending = seq;
        this.count += 1;
        this.firstAt ??= now;
        return this.count >= this.options.maxItems;
    }
    /** When the waiting ack must be sent (ms), or null when nothing waits. */
    dueAt() {
        return this.hasPending && this.firstAt !== null ? this.firstAt + this.options.maxDelayMs : null;
    }
    /** The seq to send now, or null when nothing waits; it counts as sent. */
    take() {
        if (!this.hasPending) {
            return null;
        }
        this.sent = this.pending;
        this.count = 0;
        this.firstAt = null;
        return this.sent;
    }
    /**
     * A new connection started at `position` at `now`: the last ack may have been lost with the
     * old socket, so acknowledge `position` again (an equal ack is a no-op on the server).
     */
    rearm(position, now) {
        this.sent = 0;
        this.count = 0;
        this.firstAt = null;
        this.pending = 0;
        if (position > 0) {
            this.processed(position, now);
        }
    }
}

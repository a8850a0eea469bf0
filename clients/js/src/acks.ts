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

export const defaultAcks: AckOptions = { maxDelayMs: 1_000, maxItems: 100 };

export class AckBatcher {
  readonly options: AckOptions;
  private pending = 0;
  private sent = 0;
  private count = 0;
  private firstAt: number | null = null;

  constructor(options: Partial<AckOptions> = {}) {
    this.options = { ...defaultAcks, ...options };
    if (this.options.maxItems < 1 || this.options.maxDelayMs < 0) {
      throw new RangeError("acks need maxItems >= 1 and maxDelayMs >= 0");
    }
  }

  /** The highest seq handed out by `take()`. */
  get lastSent(): number {
    return this.sent;
  }

  /** True when a seq is waiting to be acknowledged. */
  get hasPending(): boolean {
    return this.pending > this.sent;
  }

  /**
   * Record that `seq` was processed at `now`. Returns true when the ack is due at once
   * (`maxItems` reached); otherwise the caller flushes at `dueAt()`. Seqs at or below what
   * is already recorded are ignored.
   */
  processed(seq: number, now: number): boolean {
    if (seq <= Math.max(this.pending, this.sent)) {
      return false;
    }
    this.pending = seq;
    this.count += 1;
    this.firstAt ??= now;
    return this.count >= this.options.maxItems;
  }

  /** When the waiting ack must be sent (ms), or null when nothing waits. */
  dueAt(): number | null {
    return this.hasPending && this.firstAt !== null ? this.firstAt + this.options.maxDelayMs : null;
  }

  /** The seq to send now, or null when nothing waits; it counts as sent. */
  take(): number | null {
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
  rearm(position: number, now: number): void {
    this.sent = 0;
    this.count = 0;
    this.firstAt = null;
    this.pending = 0;
    if (position > 0) {
      this.processed(position, now);
    }
  }
}

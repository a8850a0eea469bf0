/**
 * Reconnection delays: full-jitter exponential backoff, reset after a healthy connection.
 *
 * Pure: time is passed in and randomness is injected, so the policy is tested without timers.
 */

export interface BackoffOptions {
  /** Upper bound of the first delay (ms). */
  initialDelayMs: number;
  /** Upper bound of every delay (ms), however many attempts failed. */
  maxDelayMs: number;
  /** A connection welcomed and kept at least this long (ms) resets the attempt count. */
  resetAfterMs: number;
  /** Floor of the delay after 4429 (too many connections): back off longer. */
  throttledMinDelayMs: number;
}

export const defaultBackoff: BackoffOptions = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  resetAfterMs: 10_000,
  throttledMinDelayMs: 5_000,
};

/**
 * `"none"`: no delay and no attempt counted (the client closed on purpose and knows why);
 * `"immediate"`: no delay if the last connection was healthy (attempt count 0), else as
 * `"backoff"`; `"backoff"`: full jitter; `"throttled"`: the floor plus full jitter.
 */
export type DelayKind = "none" | "immediate" | "backoff" | "throttled";

export class Backoff {
  readonly options: BackoffOptions;
  private readonly random: () => number;
  private failures = 0;
  private connectedAt: number | null = null;

  /** `random()` returns a number in [0, 1), like `Math.random`. */
  constructor(options: Partial<BackoffOptions> = {}, random: () => number = Math.random) {
    this.options = { ...defaultBackoff, ...options };
    if (this.options.initialDelayMs < 0 || this.options.maxDelayMs < this.options.initialDelayMs) {
      throw new RangeError("backoff needs 0 <= initialDelayMs <= maxDelayMs");
    }
    this.random = random;
  }

  /** Consecutive attempts since the last healthy connection. */
  get attempts(): number {
    return this.failures;
  }

  /**
   * The delay (ms) before the next attempt; counts one more attempt.
   *
   * `"backoff"` is uniform in [0, min(max, initial * 2^attempts)); `"throttled"` adds
   * `throttledMinDelayMs` to that, so it is bounded by floor + max.
   */
  next(kind: DelayKind): number {
    if (kind === "none") {
      return 0;
    }
    const attempt = this.failures;
    this.failures += 1;
    if (kind === "immediate" && attempt === 0) {
      return 0;
    }
    const ceiling = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * 2 ** attempt);
    const jitter = Math.floor(this.random() * ceiling);
    return kind === "throttled" ? this.options.throttledMinDelayMs + jitter : jitter;
  }

  /** A connection was welcomed at `now` (ms). */
  connected(now: number): void {
    this.connectedAt = now;
  }

  /** The connection ended at `now`: reset the attempts when it stayed up long enough. */
  disconnected(now: number): void {
    if (this.connectedAt !== null && now - this.connectedAt >= this.options.resetAfterMs) {
      this.failures = 0;
    }
    this.connectedAt = null;
  }

  /** Forget every failure (e.g. after `stop()` then `start()`). */
  reset(): void {
    this.failures = 0;
    this.connectedAt = null;
  }
}

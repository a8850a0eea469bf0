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
export declare const defaultBackoff: BackoffOptions;
/**
 * `"none"`: no delay and no attempt counted (the client closed on purpose and knows why);
 * `"immediate"`: no delay if the last connection was healthy (attempt count 0), else as
 * `"backoff"`; `"backoff"`: full jitter; `"throttled"`: the floor plus full jitter.
 */
export type DelayKind = "none" | "immediate" | "backoff" | "throttled";
export declare class Backoff {
    readonly options: BackoffOptions;
    private readonly random;
    private failures;
    private connectedAt;
    /** `random()` returns a number in [0, 1), like `Math.random`. */
    constructor(options?: Partial<BackoffOptions>, random?: () => number);
    /** Consecutive attempts since the last healthy connection. */
    get attempts(): number;
    /**
     * The delay (ms) before the next attempt; counts one more attempt.
     *
     * `"backoff"` is uniform in [0, min(max, initial * 2^attempts)); `"throttled"` adds
     * `throttledMinDelayMs` to that, so it is bounded by floor + max.
     */
    next(kind: DelayKind): number;
    /** A connection was welcomed at `now` (ms). */
    connected(now: number): void;
    /** The connection ended at `now`: reset the attempts when it stayed up long enough. */
    disconnected(now: number): void;
    /** Forget every failure (e.g. after `stop()` then `start()`). */
    reset(): void;
}

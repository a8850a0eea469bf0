/**
 * Keeping one connection's token fresh: `{"type":"refresh","token":T}` before `exp`.
 *
 * The server closes a connection with 4401 at its token's `exp`; a refresh with a fresher
 * token of the same user moves that moment without reconnecting.
 */
import type { TidingsError } from "./errors.js";
import type { Clock } from "./types.js";
export interface RefresherOptions {
    /** Rejects with a `TidingsError` (reported, then asked again later). */
    getToken: () => Promise<string>;
    /** Throws when the socket is gone (the refresher then ends). */
    send: (text: string) => void;
    /** The current token's `exp` (seconds), or null when unknown. */
    tokenExp: number | null;
    leadMs: number;
    clock: Clock;
    report: (error: TidingsError) => void;
    onSent: () => void;
}
/**
 * Sends refreshes for one connection until `cancel()`.
 *
 * The first refresh is due `leadMs` before `tokenExp` (halfway to it for short tokens), or at
 * once when `tokenExp` is unknown (the connection was opened with a ticket the application
 * bought itself). A token that is not fresher than the current one is asked for again later,
 * while the current one lives; past it, the server's 4401 takes over.
 */
export declare class Refresher {
    tokenExp: number | null;
    private readonly options;
    private timer;
    private cancelled;
    constructor(options: RefresherOptions);
    start(): void;
    cancel(): void;
    private schedule;
    /** One refresh; resolves to the delay before the next one (null: no more). */
    private refresh;
    private due;
    /** Halfway to `exp`, at least 1 s later; null when that would be past `exp`. */
    private retry;
}

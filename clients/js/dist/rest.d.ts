/**
 * The REST calls the client makes: `POST /ws/ticket` and `GET /notifications`; with protocol
 * v2, `GET /stream` and `POST /notifications/state`.
 *
 * Every failure rejects with a `TidingsError` carrying the server's stable `code` (or
 * `ticket_failed` / `gap_fill_failed` when the server gave none) and the HTTP `status`.
 */
import { type MarkTarget } from "./frames.js";
import type { Page } from "./gap.js";
import type { FetchLike, MarkOp, StreamEntry } from "./types.js";
export declare class RestApi {
    private readonly base;
    private readonly fetch;
    /** `base` is the service's http(s) URL (e.g. `https://host/tidings`). */
    constructor(base: string, fetch: FetchLike);
    /** A single-use ticket for `/ws?ticket=`, bought with `token`. */
    ticket(token: string): Promise<string>;
    /** One page of the stream after `since` (`GET /notifications?since=&limit=`). */
    page(token: string, since: number, limit: number): Promise<Page>;
    /** Protocol v2: one page of the stream after position `since` (`GET /stream`). */
    streamPage(token: string, since: number, limit: number): Promise<Page<StreamEntry>>;
    /** Protocol v2: mark notifications (`POST /notifications/state`). */
    mark(token: string, op: MarkOp, target: MarkTarget): Promise<void>;
    private call;
}
/** A v2 stream item (a frame's fields) as an entry; null when malformed. */
export declare function parseEntry(fields: Record<string, unknown>): StreamEntry | null;

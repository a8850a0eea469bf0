/**
 * The REST calls the client makes: `POST /ws/ticket` and `GET /notifications`.
 *
 * Every failure rejects with a `TidingsError` carrying the server's stable `code` (or
 * `ticket_failed` / `gap_fill_failed` when the server gave none) and the HTTP `status`.
 */
import type { Page } from "./gap.js";
import type { FetchLike } from "./types.js";
export declare class RestApi {
    private readonly base;
    private readonly fetch;
    /** `base` is the service's http(s) URL (e.g. `https://host/tidings`). */
    constructor(base: string, fetch: FetchLike);
    /** A single-use ticket for `/ws?ticket=`, bought with `token`. */
    ticket(token: string): Promise<string>;
    /** One page of the stream after `since` (`GET /notifications?since=&limit=`). */
    page(token: string, since: number, limit: number): Promise<Page>;
    private call;
}

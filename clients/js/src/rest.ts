/**
 * The REST calls the client makes: `POST /ws/ticket` and `GET /notifications`; with protocol
 * v2, `GET /stream` and `POST /notifications/state`.
 *
 * Every failure rejects with a `TidingsError` carrying the server's stable `code` (or
 * `ticket_failed` / `gap_fill_failed` when the server gave none) and the HTTP `status`.
 */

import { TidingsError } from "./errors.js";
import { type MarkTarget, parseChange, parseNotification } from "./frames.js";
import type { Page } from "./gap.js";
import type { FetchLike, FetchResponse, MarkOp, Notification, StreamEntry } from "./types.js";

export class RestApi {
  private readonly base: string;
  private readonly fetch: FetchLike;

  /** `base` is the service's http(s) URL (e.g. `https://host/tidings`). */
  constructor(base: string, fetch: FetchLike) {
    this.base = base.replace(/\/+$/, "");
    this.fetch = fetch;
  }

  /** A single-use ticket for `/ws?ticket=`, bought with `token`. */
  async ticket(token: string): Promise<string> {
    const response = await this.call("POST", "/ws/ticket", token, "ticket_failed");
    const body = await response.json();
    const ticket = (body as { ticket?: unknown } | null)?.ticket;
    if (typeof ticket !== "string" || ticket === "") {
      throw new TidingsError("ticket_failed", "the ticket response has no ticket");
    }
    return ticket;
  }

  /** One page of the stream after `since` (`GET /notifications?since=&limit=`). */
  async page(token: string, since: number, limit: number): Promise<Page> {
    const path = `/notifications?since=${since}&limit=${limit}`;
    const response = await this.call("GET", path, token, "gap_fill_failed");
    const body = (await response.json()) as Record<string, unknown> | null;
    const rawItems = body?.["items"];
    if (!Array.isArray(rawItems) || typeof body?.["head"] !== "number") {
      throw new TidingsError("gap_fill_failed", "the notifications response is malformed");
    }
    const items: Notification[] = [];
    for (const raw of rawItems) {
      const item = typeof raw === "object" && raw !== null ? parseNotification(raw) : null;
      if (item === null) {
        throw new TidingsError("gap_fill_failed", "a notification item is malformed");
      }
      items.push(item);
    }
    return {
      items,
      head: body["head"],
      hasMore: body["has_more"] === true,
      recovered: body["recovered"] !== false,
    };
  }

  /** Protocol v2: one page of the stream after position `since` (`GET /stream`). */
  async streamPage(token: string, since: number, limit: number): Promise<Page<StreamEntry>> {
    const response = await this.call("GET", `/stream?since=${since}&limit=${limit}`, token, "gap_fill_failed");
    const body = (await response.json()) as Record<string, unknown> | null;
    const rawItems = body?.["items"];
    if (!Array.isArray(rawItems) || typeof body?.["pos"] !== "number") {
      throw new TidingsError("gap_fill_failed", "the stream response is malformed");
    }
    const items = rawItems.map((raw: unknown) => {
      const entry = typeof raw === "object" && raw !== null ? parseEntry(raw as Record<string, unknown>) : null;
      if (entry === null) {
        throw new TidingsError("gap_fill_failed", "a stream item is malformed");
      }
      return entry;
    });
    return { items, head: body["pos"], hasMore: body["has_more"] === true, recovered: body["recovered"] !== false };
  }

  /** Protocol v2: mark notifications (`POST /notifications/state`). */
  async mark(token: string, op: MarkOp, target: MarkTarget): Promise<void> {
    await this.call("POST", "/notifications/state", token, "mark_failed", JSON.stringify({ op, ...target }));
  }

  private async call(
    method: string,
    path: string,
    token: string,
    fallbackCode: string,
    body?: string,
  ): Promise<FetchResponse> {
    let response: FetchResponse;
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    try {
      if (body === undefined) {
        response = await this.fetch(this.base + path, { method, headers });
      } else {
        headers["Content-Type"] = "application/json";
        response = await this.fetch(this.base + path, { method, headers, body });
      }
    } catch (cause) {
      throw new TidingsError(fallbackCode, `${method} ${path.split("?")[0]} failed`, { cause });
    }
    if (!response.ok) {
      throw await errorOf(response, fallbackCode);
    }
    return response;
  }
}

/** A v2 stream item (a frame's fields) as an entry; null when malformed. */
export function parseEntry(fields: Record<string, unknown>): StreamEntry | null {
  if (fields["type"] === "state") {
    const change = parseChange(fields);
    return change && { kind: "state", pos: change.pos, change };
  }
  const notification = parseNotification(fields);
  if (notification === null || notification.pos === undefined) {
    return null;
  }
  return { kind: "notification", pos: notification.pos, notification };
}

async function errorOf(response: FetchResponse, fallbackCode: string): Promise<TidingsError> {
  let code = fallbackCode;
  let message = `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown } | null;
    if (typeof body?.code === "string") {
      code = body.code;
    }
    if (typeof body?.message === "string") {
      message = body.message;
    }
  } catch {
    // Not JSON: keep the fallback code.
  }
  return new TidingsError(code, message, { status: response.status });
}

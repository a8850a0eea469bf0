/**
 * Keeping one connection's token fresh: `{"type":"refresh","token":T}` before `exp`.
 *
 * The server closes a connection with 4401 at its token's `exp`; a refresh with a fresher
 * token of the same user moves that moment without reconnecting.
 */

import type { TidingsError } from "./errors.js";
import { encodeRefresh } from "./frames.js";
import { refreshTime, tokenExpiry } from "./jwt.js";
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
export class Refresher {
  tokenExp: number | null;
  private readonly options: RefresherOptions;
  private timer: unknown = null;
  private cancelled = false;

  constructor(options: RefresherOptions) {
    this.options = options;
    this.tokenExp = options.tokenExp;
  }

  start(): void {
    this.schedule(this.tokenExp === null ? 0 : this.due());
  }

  cancel(): void {
    this.cancelled = true;
    if (this.timer !== null) {
      this.options.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private schedule(delayMs: number | null): void {
    if (delayMs === null || this.cancelled) {
      return;
    }
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = null;
      void this.refresh().then((next) => this.schedule(next));
    }, delayMs);
  }

  /** One refresh; resolves to the delay before the next one (null: no more). */
  private async refresh(): Promise<number | null> {
    let token: string;
    try {
      token = await this.options.getToken();
    } catch (error) {
      this.options.report(error as TidingsError);
      return this.retry();
    }
    if (this.cancelled) {
      return null;
    }
    const exp = tokenExpiry(token);
    if (exp === null || (this.tokenExp !== null && exp <= this.tokenExp)) {
      return this.retry();
    }
    try {
      this.options.send(encodeRefresh(token));
    } catch {
      return null;
    }
    this.tokenExp = exp;
    this.options.onSent();
    return this.due();
  }

  private due(): number | null {
    if (this.tokenExp === null) {
      return null;
    }
    const now = this.options.clock.now();
    return Math.max(0, refreshTime(this.tokenExp, now, this.options.leadMs) - now);
  }

  /** Halfway to `exp`, at least 1 s later; null when that would be past `exp`. */
  private retry(): number | null {
    if (this.tokenExp === null) {
      return null;
    }
    const remaining = this.tokenExp * 1000 - this.options.clock.now();
    const delay = Math.max(1_000, remaining / 2);
    return delay < remaining ? delay : null;
  }
}

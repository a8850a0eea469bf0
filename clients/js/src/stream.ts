/**
 * The application's side of the stream: one user's notifications delivered in order, each
 * once, acknowledged in batches, and resumable from a saved cursor. Generic over the entry:
 * protocol v1's notifications (by seq) or protocol v2's stream entries (by position).
 *
 * No sockets here: the client feeds frames in and lends a `send` function for acks while a
 * connection is up. Calls must not overlap (the client makes them one at a time, in frame
 * order); handlers are awaited in that order.
 */

import { AckBatcher, type AckOptions } from "./acks.js";
import type { CursorStore } from "./cursor.js";
import { TidingsError } from "./errors.js";
import { encodeAck, type WelcomeFrame } from "./frames.js";
import { fillGap, type PageReader } from "./gap.js";
import { Sequencer } from "./sequencer.js";
import type { ClientStats, Clock, Notification, ResyncInfo } from "./types.js";

export interface StreamOptions<E = Notification> {
  store: CursorStore;
  acks?: Partial<AckOptions> | undefined;
  sessionId: string;
  deliverOwn: boolean;
  /** Calls the application's handler (and reports its errors itself). */
  deliverNotification: (entry: E) => Promise<void>;
  /** Sees every entry in order before it is delivered, own-origin ones included. */
  observe?: (entry: E) => void;
  /** Where an entry is in the stream (v1: its seq). */
  position?: (entry: E) => number;
  /** The session that emitted an entry, for own-origin suppression (v1: `originSession`). */
  origin?: (entry: E) => string | null;
  /** The protocol: its acks and saved cursors are its positions. */
  protocol?: 1 | 2;
  /** Calls the application's resync handler (and reports its errors itself). */
  deliverResync: (info: ResyncInfo) => Promise<void>;
  /** Receives every other failure. */
  report: (error: TidingsError) => void;
  stats: ClientStats;
  clock: Clock;
  fillPageSize?: number | undefined;
}

const seqOf = <E>(entry: E): number => (entry as unknown as Notification).seq;
const originOf = <E>(entry: E): string | null => (entry as unknown as Notification).originSession ?? null;

/** Position, dedup, gap filling, own-origin filtering, batched acks and the saved cursor. */
export class Stream<E = Notification> {
  private readonly options: StreamOptions<E>;
  private readonly positionOf: (entry: E) => number;
  private readonly originOf: (entry: E) => string | null;
  private readonly protocol: 1 | 2;
  private readonly acks: AckBatcher;
  private readonly sequencer = new Sequencer();
  private user: string | null = null;
  private cursorUser: string | null = null;
  private savedSeq: number | null = null;
  private send: ((text: string) => void) | null = null;
  private ackTimer: unknown = null;
  private saving: Promise<unknown> = Promise.resolve();

  constructor(options: StreamOptions<E>) {
    this.options = options;
    this.positionOf = options.position ?? seqOf;
    this.originOf = options.origin ?? originOf;
    this.protocol = options.protocol ?? 1;
    this.acks = new AckBatcher(options.acks);
  }

  /** The highest seq processed, or null before the first welcome (and no cursor). */
  get position(): number | null {
    return this.sequencer.position;
  }

  get userId(): string | null {
    return this.user;
  }

  /** Take the position from the store's cursor, if any (once, before connecting). */
  async load(): Promise<void> {
    const cursor = await this.safely(() => this.options.store.load());
    // A position of another protocol means something else: start without it.
    if (cursor && (cursor.protocol ?? 1) === this.protocol && this.sequencer.position === null) {
      this.cursorUser = cursor.userId;
      this.sequencer.reset(cursor.seq);
      this.savedSeq = cursor.seq;
    }
  }

  /**
   * Start a connection's part of the stream at its welcome; acks go through `send`.
   *
   * Resolves false when the saved cursor belongs to another user: it is dropped, and the caller
   * reconnects without `since`. `recovered: false` calls the resync handler and moves the
   * position to the server's head.
   */
  async open(welcome: WelcomeFrame, requestedSince: number | null, send: (text: string) => void): Promise<boolean> {
    if (this.cursorUser !== null && this.cursorUser !== welcome.userId) {
      this.cursorUser = null;
      this.sequencer.reset(null);
      await this.safely(() => this.options.store.clear());
      return false;
    }
    this.user = this.cursorUser = welcome.userId;
    this.send = send;
    if (welcome.recovered) {
      this.sequencer.reset(welcome.since);
    } else {
      await this.resync({ userId: welcome.userId, requestedSince, head: welcome.head, source: "welcome" });
    }
    this.acks.rearm(this.sequencer.position ?? 0, this.options.clock.now());
    this.armAckTimer();
    return true;
  }

  /** The connection ended: acks wait for the next one. */
  detach(): void {
    this.send = null;
  }

  /**
   * Deliver `notification` unless it is a duplicate, after filling any gap before it with
   * `read` (REST pages). Resolves false when a gap could not be filled (no reader, or reading
   * failed: reported as `gap_fill_failed`); the caller then reconnects with `since` so that the
   * server replays it.
   */
  async receive(notification: E, read: PageReader<E> | null): Promise<boolean> {
    const position = this.positionOf(notification);
    let verdict = this.sequencer.verdict(position);
    if (verdict === "gap") {
      if (!(await this.fill(position - 1, read))) {
        return false;
      }
      verdict = this.sequencer.verdict(position);
    }
    if (verdict === "duplicate") {
      this.options.stats.duplicates += 1;
    } else {
      await this.deliver(notification);
    }
    return true;
  }

  /** Send the waiting ack when a connection is up, and save the cursor either way. */
  flush(): void {
    if (this.ackTimer !== null) {
      this.options.clock.clearTimeout(this.ackTimer);
      this.ackTimer = null;
    }
    const seq = this.send !== null ? this.acks.take() : null;
    if (seq !== null && this.send !== null) {
      try {
        this.send(encodeAck(seq, this.protocol));
        this.options.stats.acksSent += 1;
      } catch {
        // Lost with the socket: acknowledged again when the next connection opens.
      }
    }
    void this.saveCursor();
  }

  /** Stop the ack timer and save the cursor (the client is stopping). */
  async close(): Promise<void> {
    if (this.ackTimer !== null) {
      this.options.clock.clearTimeout(this.ackTimer);
      this.ackTimer = null;
    }
    this.send = null;
    await this.saveCursor();
    await this.saving;
  }

  private async fill(target: number, read: PageReader<E> | null): Promise<boolean> {
    this.options.stats.gapFills += 1;
    const start = this.sequencer.position;
    if (read === null) {
      return false;
    }
    try {
      const deliver = (item: E): Promise<void> => this.deliver(item);
      const outcome = await fillGap(this.sequencer, target, read, deliver, this.options.fillPageSize, this.positionOf);
      if (outcome.kind === "trimmed") {
        await this.resync({ userId: this.user ?? "", requestedSince: start, head: outcome.head, source: "fill" });
      }
      return true;
    } catch (cause) {
      this.options.report(new TidingsError("gap_fill_failed", "filling a gap over REST failed; replaying instead", { cause }));
      return false;
    }
  }

  private async deliver(notification: E): Promise<void> {
    const origin = this.originOf(notification);
    const position = this.positionOf(notification);
    this.options.observe?.(notification);
    if (origin !== null && origin === this.options.sessionId && !this.options.deliverOwn) {
      this.options.stats.suppressed += 1;
    } else {
      this.options.stats.delivered += 1;
      await this.options.deliverNotification(notification);
    }
    this.sequencer.advance(position);
    if (this.acks.processed(position, this.options.clock.now())) {
      this.flush();
    } else {
      this.armAckTimer();
    }
  }

  private async resync(info: ResyncInfo): Promise<void> {
    this.options.stats.resyncs += 1;
    this.sequencer.reset(info.head);
    await this.options.deliverResync(info);
    this.acks.rearm(info.head, this.options.clock.now());
    this.flush();
  }

  private armAckTimer(): void {
    const due = this.acks.dueAt();
    if (due === null || this.ackTimer !== null) {
      return;
    }
    const { clock } = this.options;
    this.ackTimer = clock.setTimeout(
      () => {
        this.ackTimer = null;
        this.flush();
      },
      Math.max(0, due - clock.now()),
    );
  }

  private async saveCursor(): Promise<void> {
    const seq = this.sequencer.position;
    const user = this.user;
    if (user === null || seq === null || seq === this.savedSeq) {
      return;
    }
    this.savedSeq = seq;
    // Saves are chained so that they land in order, and close() can wait for the last one.
    const cursor = this.protocol === 2 ? { userId: user, seq, protocol: 2 as const } : { userId: user, seq };
    this.saving = this.saving.then(() => this.safely(() => this.options.store.save(cursor)));
    await this.saving;
  }

  private async safely<T>(call: () => T | Promise<T>): Promise<T | null> {
    try {
      return await call();
    } catch (cause) {
      this.options.report(new TidingsError("store_failed", "the cursor store failed", { cause }));
      return null;
    }
  }
}

/**
 * `TidingsClient`: one user's notification stream over `/ws`, kept contiguous and resumable.
 *
 * Guarantees to the application, within one client instance:
 * - `onNotification` sees seqs in ascending order with no gap and no duplicate (a gap in the
 *   live stream is filled over REST first; a seq at or below the last processed one is
 *   dropped), except where the server says history is gone: then `onResync` is called and the
 *   stream continues from the server's head;
 * - handlers are awaited one at a time, in frame order; a seq counts as processed once its
 *   handler returned (or threw: the error goes to `onError` and the stream moves on);
 * - processed seqs are acknowledged cumulatively in batches and saved to the `CursorStore`
 *   at the same moments, so a restarted client resumes from the last saved seq
 *   (at-least-once across restarts: up to one batch may be seen again);
 * - every close code is handled as protocol v1 says (see `closes.ts`).
 *
 * With `protocol: 2` the stream is protocol v2's: notifications and changes in one order by
 * position (the same guarantees hold for positions), the client keeps every held
 * notification's state and the user's counts (`counts`, `itemState`, `onChange`,
 * `onCounts`), and `mark`/`markRead`/`markAllRead`/`archive` change state on every device.
 *
 * This module is the connection loop (credentials, sockets, backoff, close codes); the stream
 * itself is `stream.ts`, token refresh `refresh.ts`.
 */

import type { AckOptions } from "./acks.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { type CloseDecision, decideClose } from "./closes.js";
import { type CursorStore, MemoryCursorStore } from "./cursor.js";
import { TidingsError } from "./errors.js";
import { encodeMark, type MarkTarget, parseServerFrame, type WelcomeFrame } from "./frames.js";
import type { PageReader } from "./gap.js";
import { InboxState } from "./inbox.js";
import { tokenExpiry } from "./jwt.js";
import { Refresher } from "./refresh.js";
import { RestApi } from "./rest.js";
import { Stream } from "./stream.js";
import {
  type AuthReason,
  type Broadcast,
  type ClientState,
  type ClientStats,
  type Clock,
  type Counts,
  type FetchLike,
  type ItemState,
  type MarkOp,
  type Notification,
  type ResyncInfo,
  type StateChange,
  type StopInfo,
  type StreamEntry,
  systemClock,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./types.js";

type MaybePromise<T> = T | Promise<T>;

export interface TidingsClientOptions {
  /** The service's http(s) base URL, e.g. `https://api.example.com/tidings`. */
  url: string;
  /** The `/ws` URL when it is not `url` with ws(s) and `/ws` (e.g. another host). */
  wsUrl?: string;
  /** The app's access token (REST gap fills, refresh, tickets, `auth: "token"`). */
  getToken?: (reason: AuthReason) => MaybePromise<string>;
  /** A ticket from `POST /ws/ticket`; by default bought with `getToken()`. */
  getTicket?: (reason: AuthReason) => MaybePromise<string>;
  /** `"ticket"` (default: the token stays out of URLs) or `"token"` (`/ws?token=`). */
  auth?: "ticket" | "token";
  /** Acks are kept per device (1-64 of `[A-Za-z0-9_-]`); the server's default when unset. */
  device?: string;
  /** This client's session id: own-origin notifications are suppressed. Random by default. */
  sessionId?: string;
  /** Deliver own-origin notifications too (they are always acknowledged). */
  deliverOwn?: boolean;
  store?: CursorStore;
  backoff?: Partial<BackoffOptions>;
  acks?: Partial<AckOptions>;
  /** Send a refresh this long before `exp` (ms; halfway through for shorter tokens). */
  refreshLeadMs?: number;
  /** No welcome this long after creating the socket (ms): give up on it and retry. */
  openTimeoutMs?: number;
  /** REST page size for gap fills (1-500). */
  fillPageSize?: number;
  /** A WebSocket implementation; required where there is no global one (Node 20: `ws`). */
  WebSocket?: WebSocketConstructor;
  fetch?: FetchLike;
  clock?: Clock;
  random?: () => number;
  /** `2`: protocol v2 (inbox state and counts on the stream); default `1`. */
  protocol?: 1 | 2;
  onNotification?: (notification: Notification) => MaybePromise<void>;
  /** Protocol v2: a change, after the client's state applied it. */
  onChange?: (change: StateChange) => MaybePromise<void>;
  /** Protocol v2: the counts moved (welcome, or an entry past the welcome's head). */
  onCounts?: (counts: Counts) => void;
  onBroadcast?: (broadcast: Broadcast) => MaybePromise<void>;
  onResync?: (info: ResyncInfo) => MaybePromise<void>;
  onStateChange?: (state: ClientState, previous: ClientState) => void;
  onError?: (error: TidingsError) => void;
}

/** One socket and what the client knows about it. */
interface Connection {
  readonly socket: WebSocketLike;
  readonly since: number | null;
  readonly closed: Promise<{ code: number; reason: string }>;
  tokenExp: number | null;
  welcomed: boolean;
  /** Set when the client closed the socket itself: what to do next; its frames are skipped. */
  forced: CloseDecision | null;
  timers: unknown[];
  refresher: Refresher | null;
}

const OPEN = 1;
const NORMAL_CLOSURE = 1000;

export class TidingsClient {
  readonly sessionId: string;
  readonly stats: ClientStats = {
    attempts: 0,
    connections: 0,
    delivered: 0,
    duplicates: 0,
    suppressed: 0,
    gapFills: 0,
    refreshes: 0,
    acksSent: 0,
    resyncs: 0,
  };
  private readonly options: TidingsClientOptions;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly stream: Stream<StreamEntry>;
  private readonly rest: RestApi | null;
  private readonly protocol: 1 | 2;
  private readonly inbox = new InboxState();
  private currentState: ClientState = "idle";
  private connection: Connection | null = null;
  private chain: Promise<void> = Promise.resolve();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private signalStop: () => void = () => undefined;
  private stopSignal: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private stopInfo: StopInfo | null = null;
  private stopWaiters: ((info: StopInfo) => void)[] = [];

  /** Throws `TypeError` when neither `getToken` nor `getTicket` is given, or `auth: "token"`
   * lacks `getToken`. */
  constructor(options: TidingsClientOptions) {
    if (!options.getToken && !options.getTicket) {
      throw new TypeError("TidingsClient needs getToken or getTicket");
    }
    if (options.auth === "token" && !options.getToken) {
      throw new TypeError('auth: "token" needs getToken');
    }
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.backoff = new Backoff(options.backoff, options.random);
    this.sessionId = options.sessionId ?? randomId();
    this.protocol = options.protocol ?? 1;
    this.stream = new Stream<StreamEntry>({
      store: options.store ?? new MemoryCursorStore(),
      acks: options.acks,
      sessionId: this.sessionId,
      deliverOwn: options.deliverOwn ?? false,
      protocol: this.protocol,
      position: (entry) => entry.pos,
      origin: (entry) => (entry.kind === "notification" ? entry.notification.originSession : null),
      observe: (entry) => this.observe(entry),
      deliverNotification: (entry) => this.callHandler(() => this.deliverEntry(entry)),
      deliverResync: (info) => {
        this.inbox.reset();
        return this.callHandler(() => this.options.onResync?.(info));
      },
      report: (error) => this.report(error),
      stats: this.stats,
      clock: this.clock,
      fillPageSize: options.fillPageSize,
    });
    const fetchImpl = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    this.rest = fetchImpl ? new RestApi(options.url, fetchImpl.bind(globalThis)) : null;
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** The highest seq processed, or null before the first welcome. */
  get position(): number | null {
    return this.stream.position;
  }

  /** The user of the stream (the token's `sub`), known from the first welcome. */
  get userId(): string | null {
    return this.stream.userId;
  }

  /** Protocol v2: the user's counts, or null before the first welcome. */
  get counts(): Counts | null {
    return this.inbox.counts;
  }

  /** Protocol v2: the state of notification `seq`, or undefined when this client does not
   * hold it (it arrived before the position this client started from, or was trimmed). */
  itemState(seq: number): ItemState | undefined {
    return this.inbox.state(seq);
  }

  /** Protocol v2: every held notification's state, by seq. */
  items(): ReadonlyMap<number, ItemState> {
    return this.inbox.items();
  }

  /**
   * Protocol v2: set `op` on some seqs, or on every seq up to one; the change reaches every
   * device of the user (this one included) as a `state` frame. Sent over the socket when one
   * is up, else over REST (needs `getToken`). A seq above the newest is refused by the server
   * (`seq_above_head`: reported to `onError`, or the promise rejects over REST).
   */
  async mark(op: MarkOp, target: MarkTarget): Promise<void> {
    if (this.protocol !== 2) {
      throw new TypeError("marks need protocol: 2");
    }
    const connection = this.connection;
    if (connection !== null && connection.welcomed && connection.forced === null) {
      try {
        sendOn(connection.socket, encodeMark(op, target));
        return;
      } catch {
        // The socket is closing: REST instead.
      }
    }
    await this.restApi().mark(await this.token("fetch"), op, target);
  }

  markRead(seqs: readonly number[]): Promise<void> {
    return this.mark("read", { seqs });
  }

  markUnread(seqs: readonly number[]): Promise<void> {
    return this.mark("unread", { seqs });
  }

  /** Mark every notification up to `upto` (default: the newest this client knows) read. */
  markAllRead(upto?: number): Promise<void> {
    return this.mark("read", { upto: upto ?? this.inbox.seqHead });
  }

  archive(seqs: readonly number[]): Promise<void> {
    return this.mark("archive", { seqs });
  }

  unarchive(seqs: readonly number[]): Promise<void> {
    return this.mark("unarchive", { seqs });
  }

  /** Start connecting (and reconnecting) until `stop()` or a fatal close. Idempotent. */
  start(): void {
    if (this.loop !== null) {
      return;
    }
    this.stopping = false;
    this.stopInfo = null;
    this.stopSignal = new Promise((resolve) => {
      this.signalStop = resolve;
    });
    this.backoff.reset();
    this.loop = this.run().finally(() => {
      this.loop = null;
    });
  }

  /**
   * Acknowledge and save what was processed, close the socket (1000) and stop reconnecting.
   * Resolves once the client is stopped. Safe to call from a handler.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.signalStop();
    this.wake?.();
    const connection = this.connection;
    if (connection !== null) {
      this.stream.flush();
      this.abandon(connection, { action: "stop", reason: "stopped" });
    }
    await this.loop;
  }

  /** Resolves when the client stops, with why. */
  waitStopped(): Promise<StopInfo> {
    if (this.stopInfo !== null) {
      return Promise.resolve(this.stopInfo);
    }
    return new Promise((resolve) => this.stopWaiters.push(resolve));
  }

  // The connection loop.

  private async run(): Promise<void> {
    await this.stream.load();
    let renewAuth = false;
    let stop: StopInfo = { reason: "stopped", closeCode: null };
    while (!this.stopping) {
      const [decision, closeCode] = await this.attempt(renewAuth);
      if (decision.action === "stop") {
        stop = { reason: this.stopping ? "stopped" : decision.reason, closeCode };
        break;
      }
      renewAuth = decision.renewAuth;
      const delay = this.backoff.next(decision.delay);
      if (delay > 0 && !this.stopping) {
        this.setState("backoff");
        await this.sleep(delay);
      }
    }
    await this.finish(stop);
  }

  /** One connection attempt, from credentials to close: what to do next and the close code. */
  private async attempt(renewAuth: boolean): Promise<[CloseDecision, number | null]> {
    this.setState("connecting");
    this.stats.attempts += 1;
    let target: { url: string; tokenExp: number | null };
    try {
      target = await this.connectTarget(renewAuth ? "unauthorized" : "connect");
    } catch (error) {
      return [this.credentialsFailed(error), null];
    }
    if (this.stopping) {
      return [{ action: "stop", reason: "stopped" }, null];
    }
    const connection = this.open(target.url, target.tokenExp);
    const { code, reason } = await connection.closed;
    this.clearTimers(connection);
    this.connection = null;
    this.stream.detach();
    this.backoff.disconnected(this.clock.now());
    // Frames received before the close are processed before reconnecting (a handler may
    // call stop() meanwhile: that must not wait for itself).
    await Promise.race([this.chain, this.stopSignal]);
    if (connection.forced !== null || this.stopping) {
      return [connection.forced ?? { action: "stop", reason: "stopped" }, null];
    }
    const decision = decideClose(code);
    const fatal = decision.action === "stop";
    this.report(new TidingsError("closed", `closed by the server: ${code} ${reason}`.trim(), { fatal, closeCode: code }));
    return [decision, code];
  }

  private credentialsFailed(error: unknown): CloseDecision {
    const failure =
      error instanceof TidingsError ? error : new TidingsError("auth_failed", "a credentials callback failed", { cause: error });
    if (failure.code === "token_revoked" || failure.status === 403) {
      this.report(new TidingsError(failure.code, failure.message, { fatal: true, status: failure.status }));
      return { action: "stop", reason: "revoked" };
    }
    this.report(failure);
    return { action: "reconnect", delay: "backoff", renewAuth: failure.status === 401 };
  }

  /** The `/ws` URL with credentials and `since`, and the token's `exp` when known. */
  private async connectTarget(reason: AuthReason): Promise<{ url: string; tokenExp: number | null }> {
    const params = new URLSearchParams();
    if (this.protocol === 2) {
      params.set("v", "2");
    }
    const position = this.stream.position;
    if (position !== null) {
      params.set("since", String(position));
    }
    if (this.options.device !== undefined) {
      params.set("device", this.options.device);
    }
    let tokenExp: number | null = null;
    if (this.options.auth === "token") {
      const token = await this.token(reason);
      tokenExp = tokenExpiry(token);
      params.set("token", token);
    } else if (this.options.getTicket) {
      params.set("ticket", await this.options.getTicket(reason));
    } else {
      const token = await this.token(reason);
      tokenExp = tokenExpiry(token);
      params.set("ticket", await this.restApi().ticket(token));
    }
    return { url: `${this.wsBase()}?${params.toString()}`, tokenExp };
  }

  private wsBase(): string {
    if (this.options.wsUrl !== undefined) {
      return this.options.wsUrl;
    }
    const base = this.options.url.replace(/\/+$/, "").replace(/^http(s?):\/\//i, "ws$1://");
    return `${base}/ws`;
  }

  private open(url: string, tokenExp: number | null): Connection {
    let resolveClosed!: (value: { code: number; reason: string }) => void;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      resolveClosed = resolve;
    });
    let socket: WebSocketLike;
    try {
      socket = new (this.webSocketImpl())(url);
    } catch (cause) {
      this.report(new TidingsError("connect_failed", "the WebSocket could not be created", { cause }));
      socket = closedSocket();
      resolveClosed({ code: 1006, reason: "" });
    }
    const connection: Connection = {
      socket,
      since: this.stream.position,
      closed,
      tokenExp,
      welcomed: false,
      forced: null,
      timers: [],
      refresher: null,
    };
    this.connection = connection;
    socket.onmessage = (event: { data: unknown }) => this.enqueue(connection, event.data);
    socket.onclose = (event: { code: number; reason: string }) => resolveClosed({ code: event.code, reason: event.reason });
    socket.onerror = () => undefined; // a close event follows
    const timeout = this.options.openTimeoutMs ?? 15_000;
    this.addTimer(connection, timeout, () => {
      if (!connection.welcomed) {
        this.abandon(connection, { action: "reconnect", delay: "backoff", renewAuth: false });
      }
    });
    return connection;
  }

  /** Close `connection` ourselves; `next` replaces whatever its close code would say. */
  private abandon(connection: Connection, next: CloseDecision): void {
    connection.forced ??= next;
    this.clearTimers(connection);
    try {
      connection.socket.close(NORMAL_CLOSURE, next.action === "stop" ? "client stopped" : "client reconnecting");
    } catch {
      // Already closing.
    }
  }

  // Frames, in order, one at a time.

  private enqueue(connection: Connection, data: unknown): void {
    const text = typeof data === "string" ? data : decodeText(data);
    this.chain = this.chain
      .then(() => this.handle(connection, text))
      .catch((error: unknown) => this.report(new TidingsError("bad_frame", "a frame could not be handled", { cause: error })));
  }

  private async handle(connection: Connection, text: string | null): Promise<void> {
    if (connection.forced !== null || this.stopping || text === null) {
      return;
    }
    const frame = parseServerFrame(text);
    if (frame === null) {
      return; // unknown frame types are ignored
    }
    if (frame.type === "welcome") {
      await this.onWelcome(connection, frame);
    } else if (!connection.welcomed) {
      return;
    } else if (frame.type === "notification" || frame.type === "state") {
      const entry = this.entryOf(frame);
      if (entry !== null) {
        await this.onEntry(connection, entry);
      }
    } else if (frame.type === "caught_up") {
      this.setState("live");
    } else if (frame.type === "broadcast") {
      await this.callHandler(() => this.options.onBroadcast?.(frame.broadcast));
    } else {
      this.report(new TidingsError(frame.code, frame.message));
    }
  }

  private async onWelcome(connection: Connection, welcome: WelcomeFrame): Promise<void> {
    connection.welcomed = true;
    this.stats.connections += 1;
    this.inbox.welcome(welcome);
    if (welcome.counts !== undefined) {
      this.callSync(() => this.options.onCounts?.(welcome.counts as Counts));
    }
    this.backoff.connected(this.clock.now());
    this.setState("syncing");
    if (!(await this.stream.open(welcome, connection.since, (text) => sendOn(connection.socket, text)))) {
      this.abandon(connection, { action: "reconnect", delay: "none", renewAuth: false }); // another user's cursor
      return;
    }
    if (this.options.getToken) {
      connection.refresher = new Refresher({
        getToken: () => this.token("refresh"),
        send: (text) => sendOn(connection.socket, text),
        tokenExp: connection.tokenExp,
        leadMs: this.options.refreshLeadMs ?? 60_000,
        clock: this.clock,
        report: (error) => this.report(error),
        onSent: () => {
          this.stats.refreshes += 1;
        },
      });
      connection.refresher.start();
    }
  }

  /** The frame as a stream entry: by position in v2, by seq in v1 (null when it does not
   * belong to this client's protocol). */
  private entryOf(
    frame: { type: "notification"; notification: Notification } | { type: "state"; change: StateChange },
  ): StreamEntry | null {
    if (frame.type === "state") {
      return this.protocol === 2 ? { kind: "state", pos: frame.change.pos, change: frame.change } : null;
    }
    const { notification } = frame;
    const pos = this.protocol === 2 ? notification.pos : notification.seq;
    return pos === undefined ? null : { kind: "notification", pos, notification };
  }

  private async onEntry(connection: Connection, entry: StreamEntry): Promise<void> {
    const read: PageReader<StreamEntry> | null =
      this.options.getToken && this.rest !== null ? (since, limit) => this.readPage(since, limit) : null;
    if (!(await this.stream.receive(entry, read))) {
      this.abandon(connection, { action: "reconnect", delay: "immediate", renewAuth: false }); // the server replays
    }
  }

  private async readPage(since: number, limit: number): ReturnType<PageReader<StreamEntry>> {
    const token = await this.token("fetch");
    if (this.protocol === 2) {
      return this.restApi().streamPage(token, since, limit);
    }
    const page = await this.restApi().page(token, since, limit);
    const items = page.items.map((notification): StreamEntry => ({ kind: "notification", pos: notification.seq, notification }));
    return { ...page, items };
  }

  /** Every entry, own-origin ones included, updates the state and counts first. */
  private observe(entry: StreamEntry): void {
    if (this.protocol === 2 && this.inbox.apply(entry)) {
      const counts = this.inbox.counts;
      if (counts !== null) {
        this.callSync(() => this.options.onCounts?.(counts));
      }
    }
  }

  private async deliverEntry(entry: StreamEntry): Promise<void> {
    if (entry.kind === "notification") {
      await this.options.onNotification?.(entry.notification);
    } else {
      await this.options.onChange?.(entry.change);
    }
  }

  // Small pieces.

  private async token(reason: AuthReason): Promise<string> {
    const getToken = this.options.getToken;
    if (!getToken) {
      throw new TidingsError("auth_failed", "no getToken callback");
    }
    try {
      return await getToken(reason);
    } catch (cause) {
      throw new TidingsError("auth_failed", "getToken failed", { cause });
    }
  }

  private restApi(): RestApi {
    if (this.rest === null) {
      throw new TidingsError("ticket_failed", "no fetch here: pass options.fetch");
    }
    return this.rest;
  }

  private webSocketImpl(): WebSocketConstructor {
    const impl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (impl === undefined) {
      throw new TypeError("no global WebSocket here: pass options.WebSocket (e.g. the ws package)");
    }
    return impl;
  }

  private addTimer(connection: Connection, ms: number, callback: () => void): void {
    connection.timers.push(this.clock.setTimeout(callback, ms));
  }

  private clearTimers(connection: Connection): void {
    connection.refresher?.cancel();
    for (const timer of connection.timers.splice(0)) {
      this.clock.clearTimeout(timer);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(done, ms);
      const self = this;
      function done(): void {
        self.clock.clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  private async finish(info: StopInfo): Promise<void> {
    await this.stream.close();
    this.setState("stopped");
    this.stopInfo = info;
    for (const resolve of this.stopWaiters.splice(0)) {
      resolve(info);
    }
  }

  private setState(state: ClientState): void {
    const previous = this.currentState;
    if (previous === state) {
      return;
    }
    this.currentState = state;
    this.callSync(() => this.options.onStateChange?.(state, previous));
  }

  private async callHandler(call: () => MaybePromise<void>): Promise<void> {
    try {
      await call();
    } catch (cause) {
      this.report(new TidingsError("handler_failed", "an application handler threw", { cause }));
    }
  }

  private callSync(call: () => void): void {
    try {
      call();
    } catch (cause) {
      this.report(new TidingsError("handler_failed", "an application handler threw", { cause }));
    }
  }

  private report(error: TidingsError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // An error handler that throws has nowhere left to report to.
    }
  }
}

/** Send on `socket`; throws when it is not open (browsers would drop the frame silently). */
function sendOn(socket: WebSocketLike, text: string): void {
  if (socket.readyState !== OPEN) {
    throw new Error("the socket is not open");
  }
  socket.send(text);
}

function decodeText(data: unknown): string | null {
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return new TextDecoder().decode(data as ArrayBuffer);
  }
  return null; // binary frames are not part of the protocol
}

function randomId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) {
    return crypto.randomUUID();
  }
  return `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function closedSocket(): WebSocketLike {
  return {
    readyState: 3,
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
    send: () => undefined,
    close: () => undefined,
  };
}

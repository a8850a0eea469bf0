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
import { Backoff } from "./backoff.js";
import { decideClose } from "./closes.js";
import { MemoryCursorStore } from "./cursor.js";
import { TidingsError } from "./errors.js";
import { encodeMark, parseServerFrame } from "./frames.js";
import { InboxState } from "./inbox.js";
import { tokenExpiry } from "./jwt.js";
import { Refresher } from "./refresh.js";
import { RestApi } from "./rest.js";
import { Stream } from "./stream.js";
import { systemClock, } from "./types.js";
const OPEN = 1;
const NORMAL_CLOSURE = 1000;
export class TidingsClient {
    sessionId;
    stats = {
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
    options;
    clock;
    backoff;
    stream;
    rest;
    protocol;
    inbox = new InboxState();
    currentState = "idle";
    connection = null;
    chain = Promise.resolve();
    loop = null;
    stopping = false;
    signalStop = () => undefined;
    stopSignal = Promise.resolve();
    wake = null;
    stopInfo = null;
    stopWaiters = [];
    /** Throws `TypeError` when neither `getToken` nor `getTicket` is given, or `auth: "token"`
     * lacks `getToken`. */
    constructor(options) {
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
        this.stream = new Stream({
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
        const fetchImpl = options.fetch ?? globalThis.fetch;
        this.rest = fetchImpl ? new RestApi(options.url, fetchImpl.bind(globalThis)) : null;
    }
    get state() {
        return this.currentState;
    }
    /** The highest seq processed, or null before the first welcome. */
    get position() {
        return this.stream.position;
    }
    /** The user of the stream (the token's `sub`), known from the first welcome. */
    get userId() {
        return this.stream.userId;
    }
    /** Protocol v2: the user's counts, or null before the first welcome. */
    get counts() {
        return this.inbox.counts;
    }
    /** Protocol v2: the state of notification `seq`, or undefined when this client does not
     * hold it (it arrived before the position this client started from, or was trimmed). */
    itemState(seq) {
        return this.inbox.state(seq);
    }
    /** Protocol v2: every held notification's state, by seq. */
    items() {
        return this.inbox.items();
    }
    /**
     * Protocol v2: set `op` on some seqs, or on every seq up to one; the change reaches every
     * device of the user (this one included) as a `state` frame. Sent over the socket when one
     * is up, else over REST (needs `getToken`). A seq above the newest is refused by the server
     * (`seq_above_head`: reported to `onError`, or the promise rejects over REST).
     */
    async mark(op, target) {
        if (this.protocol !== 2) {
            throw new TypeError("marks need protocol: 2");
        }
        const connection = this.connection;
        if (connection !== null && connection.welcomed && connection.forced === null) {
            try {
                sendOn(connection.socket, encodeMark(op, target));
                return;
            }
            catch {
                // The socket is closing: REST instead.
            }
        }
        await this.restApi().mark(await this.token("fetch"), op, target);
    }
    markRead(seqs) {
        return this.mark("read", { seqs });
    }
    markUnread(seqs) {
        return this.mark("unread", { seqs });
    }
    /** Mark every notification up to `upto` (default: the newest this client knows) read. */
    markAllRead(upto) {
        return this.mark("read", { upto: upto ?? this.inbox.seqHead });
    }
    archive(seqs) {
        return this.mark("archive", { seqs });
    }
    unarchive(seqs) {
        return this.mark("unarchive", { seqs });
    }
    /** Start connecting (and reconnecting) until `stop()` or a fatal close. Idempotent. */
    start() {
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
    async stop() {
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
    waitStopped() {
        if (this.stopInfo !== null) {
            return Promise.resolve(this.stopInfo);
        }
        return new Promise((resolve) => this.stopWaiters.push(resolve));
    }
    // The connection loop.
    async run() {
        await this.stream.load();
        let renewAuth = false;
        let stop = { reason: "stopped", closeCode: null };
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
    async attempt(renewAuth) {
        this.setState("connecting");
        this.stats.attempts += 1;
        let target;
        try {
            target = await this.connectTarget(renewAuth ? "unauthorized" : "connect");
        }
        catch (error) {
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
    credentialsFailed(error) {
        const failure = error instanceof TidingsError ? error : new TidingsError("auth_failed", "a credentials callback failed", { cause: error });
        if (failure.code === "token_revoked" || failure.status === 403) {
            this.report(new TidingsError(failure.code, failure.message, { fatal: true, status: failure.status }));
            return { action: "stop", reason: "revoked" };
        }
        this.report(failure);
        return { action: "reconnect", delay: "backoff", renewAuth: failure.status === 401 };
    }
    /** The `/ws` URL with credentials and `since`, and the token's `exp` when known. */
    async connectTarget(reason) {
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
        let tokenExp = null;
        if (this.options.auth === "token") {
            const token = await this.token(reason);
            tokenExp = tokenExpiry(token);
            params.set("token", token);
        }
        else if (this.options.getTicket) {
            params.set("ticket", await this.options.getTicket(reason));
        }
        else {
            const token = await this.token(reason);
            tokenExp = tokenExpiry(token);
            params.set("ticket", await this.restApi().ticket(token));
        }
        return { url: `${this.wsBase()}?${params.toString()}`, tokenExp };
    }
    wsBase() {
        if (this.options.wsUrl !== undefined) {
            return this.options.wsUrl;
        }
        const base = this.options.url.replace(/\/+$/, "").replace(/^http(s?):\/\//i, "ws$1://");
        return `${base}/ws`;
    }
    open(url, tokenExp) {
        let resolveClosed;
        const closed = new Promise((resolve) => {
            resolveClosed = resolve;
        });
        let socket;
        try {
            socket = new (this.webSocketImpl())(url);
        }
        catch (cause) {
            this.report(new TidingsError("connect_failed", "the WebSocket could not be created", { cause }));
            socket = closedSocket();
            resolveClosed({ code: 1006, reason: "" });
        }
        const connection = {
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
        socket.onmessage = (event) => this.enqueue(connection, event.data);
        socket.onclose = (event) => resolveClosed({ code: event.code, reason: event.reason });
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
    abandon(connection, next) {
        connection.forced ??= next;
        this.clearTimers(connection);
        try {
            connection.socket.close(NORMAL_CLOSURE, next.action === "stop" ? "client stopped" : "client reconnecting");
        }
        catch {
            // Already closing.
        }
    }
    // Frames, in order, one at a time.
    enqueue(connection, data) {
        const text = typeof data === "string" ? data : decodeText(data);
        this.chain = this.chain
            .then(() => this.handle(connection, text))
            .catch((error) => this.report(new TidingsError("bad_frame", "a frame could not be handled", { cause: error })));
    }
    async handle(connection, text) {
        if (connection.forced !== null || this.stopping || text === null) {
            return;
        }
        const frame = parseServerFrame(text);
        if (frame === null) {
            return; // unknown frame types are ignored
        }
        if (frame.type === "welcome") {
            await this.onWelcome(connection, frame);
        }
        else if (!connection.welcomed) {
            return;
        }
        else if (frame.type === "notification" || frame.type === "state") {
            const entry = this.entryOf(frame);
            if (entry !== null) {
                await this.onEntry(connection, entry);
            }
        }
        else if (frame.type === "caught_up") {
            this.setState("live");
        }
        else if (frame.type === "broadcast") {
            await this.callHandler(() => this.options.onBroadcast?.(frame.broadcast));
        }
        else {
            this.report(new TidingsError(frame.code, frame.message));
        }
    }
    async onWelcome(connection, welcome) {
        connection.welcomed = true;
        this.stats.connections += 1;
        this.inbox.welcome(welcome);
        if (welcome.counts !== undefined) {
            this.callSync(() => this.options.onCounts?.(welcome.counts));
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
    entryOf(frame) {
        if (frame.type === "state") {
            return this.protocol === 2 ? { kind: "state", pos: frame.change.pos, change: frame.change } : null;
        }
        const { notification } = frame;
        const pos = this.protocol === 2 ? notification.pos : notification.seq;
        return pos === undefined ? null : { kind: "notification", pos, notification };
    }
    async onEntry(connection, entry) {
        const read = this.options.getToken && this.rest !== null ? (since, limit) => this.readPage(since, limit) : null;
        if (!(await this.stream.receive(entry, read))) {
            this.abandon(connection, { action: "reconnect", delay: "immediate", renewAuth: false }); // the server replays
        }
    }
    async readPage(since, limit) {
        const token = await this.token("fetch");
        if (this.protocol === 2) {
            return this.restApi().streamPage(token, since, limit);
        }
        const page = await this.restApi().page(token, since, limit);
        const items = page.items.map((notification) => ({ kind: "notification", pos: notification.seq, notification }));
        return { ...page, items };
    }
    /** Every entry, own-origin ones included, updates the state and counts first. */
    observe(entry) {
        if (this.protocol === 2 && this.inbox.apply(entry)) {
            const counts = this.inbox.counts;
            if (counts !== null) {
                this.callSync(() => this.options.onCounts?.(counts));
            }
        }
    }
    async deliverEntry(entry) {
        if (entry.kind === "notification") {
            await this.options.onNotification?.(entry.notification);
        }
        else {
            await this.options.onChange?.(entry.change);
        }
    }
    // Small pieces.
    async token(reason) {
        const getToken = this.options.getToken;
        if (!getToken) {
            throw new TidingsError("auth_failed", "no getToken callback");
        }
        try {
            return await getToken(reason);
        }
        catch (cause) {
            throw new TidingsError("auth_failed", "getToken failed", { cause });
        }
    }
    restApi() {
        if (this.rest === null) {
            throw new TidingsError("ticket_failed", "no fetch here: pass options.fetch");
        }
        return this.rest;
    }
    webSocketImpl() {
        const impl = this.options.WebSocket ?? globalThis.WebSocket;
        if (impl === undefined) {
            throw new TypeError("no global WebSocket here: pass options.WebSocket (e.g. the ws package)");
        }
        return impl;
    }
    addTimer(connection, ms, callback) {
        connection.timers.push(this.clock.setTimeout(callback, ms));
    }
    clearTimers(connection) {
        connection.refresher?.cancel();
        for (const timer of connection.timers.splice(0)) {
            this.clock.clearTimeout(timer);
        }
    }
    sleep(ms) {
        return new Promise((resolve) => {
            const timer = this.clock.setTimeout(done, ms);
            const self = this;
            function done() {
                self.clock.clearTimeout(timer);
                self.wake = null;
                resolve();
            }
            this.wake = done;
        });
    }
    async finish(info) {
        await this.stream.close();
        this.setState("stopped");
        this.stopInfo = info;
        for (const resolve of this.stopWaiters.splice(0)) {
            resolve(info);
        }
    }
    setState(state) {
        const previous = this.currentState;
        if (previous === state) {
            return;
        }
        this.currentState = state;
        this.callSync(() => this.options.onStateChange?.(state, previous));
    }
    async callHandler(call) {
        try {
            await call();
        }
        catch (cause) {
            this.report(new TidingsError("handler_failed", "an application handler threw", { cause }));
        }
    }
    callSync(call) {
        try {
            call();
        }
        catch (cause) {
            this.report(new TidingsError("handler_failed", "an application handler threw", { cause }));
        }
    }
    report(error) {
        try {
            this.options.onError?.(error);
        }
        catch {
            // An error handler that throws has nowhere left to report to.
        }
    }
}
/** Send on `socket`; throws when it is not open (browsers would drop the frame silently). */
function sendOn(socket, text) {
    if (socket.readyState !== OPEN) {
        throw new Error("the socket is not open");
    }
    socket.send(text);
}
function decodeText(data) {
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
        return new TextDecoder().decode(data);
    }
    return null; // binary frames are not part of the protocol
}
function randomId() {
    const crypto = globalThis.crypto;
    if (crypto?.randomUUID) {
        return crypto.randomUUID();
    }
    return `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
function closedSocket() {
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

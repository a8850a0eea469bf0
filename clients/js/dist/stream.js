/**
 * The application's side of the stream: one user's notifications delivered in order, each
 * once, acknowledged in batches, and resumable from a saved cursor. Generic over the entry:
 * protocol v1's notifications (by seq) or protocol v2's stream entries (by position).
 *
 * No sockets here: the client feeds frames in and lends a `send` function for acks while a
 * connection is up. Calls must not overlap (the client makes them one at a time, in frame
 * order); handlers are awaited in that order.
 */
import { AckBatcher } from "./acks.js";
import { TidingsError } from "./errors.js";
import { encodeAck } from "./frames.js";
import { fillGap } from "./gap.js";
import { Sequencer } from "./sequencer.js";
const seqOf = (entry) => entry.seq;
const originOf = (entry) => entry.originSession ?? null;
/** Position, dedup, gap filling, own-origin filtering, batched acks and the saved cursor. */
export class Stream {
    options;
    positionOf;
    originOf;
    protocol;
    acks;
    sequencer = new Sequencer();
    user = null;
    cursorUser = null;
    savedSeq = null;
    send = null;
    ackTimer = null;
    saving = Promise.resolve();
    constructor(options) {
        this.options = options;
        this.positionOf = options.position ?? seqOf;
        this.originOf = options.origin ?? originOf;
        this.protocol = options.protocol ?? 1;
        this.acks = new AckBatcher(options.acks);
    }
    /** The highest seq processed, or null before the first welcome (and no cursor). */
    get position() {
        return this.sequencer.position;
    }
    get userId() {
        return this.user;
    }
    /** Take the position from the store's cursor, if any (once, before connecting). */
    async load() {
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
    async open(welcome, requestedSince, send) {
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
        }
        else {
            await this.resync({ userId: welcome.userId, requestedSince, head: welcome.head, source: "welcome" });
        }
        this.acks.rearm(this.sequencer.position ?? 0, this.options.clock.now());
        this.armAckTimer();
        return true;
    }
    /** The connection ended: acks wait for the next one. */
    detach() {
        this.send = null;
    }
    /**
     * Deliver `notification` unless it is a duplicate, after filling any gap before it with
     * `read` (REST pages). Resolves false when a gap could not be filled (no reader, or reading
     * failed: reported as `gap_fill_failed`); the caller then reconnects with `since` so that the
     * server replays it.
     */
    async receive(notification, read) {
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
        }
        else {
            await this.deliver(notification);
        }
        return true;
    }
    /** Send the waiting ack when a connection is up, and save the cursor either way. */
    flush() {
        if (this.ackTimer !== null) {
            this.options.clock.clearTimeout(this.ackTimer);
            this.ackTimer = null;
        }
        const seq = this.send !== null ? this.acks.take() : null;
        if (seq !== null && this.send !== null) {
            try {
                this.send(encodeAck(seq, this.protocol));
                this.options.stats.acksSent += 1;
            }
            catch {
                // Lost with the socket: acknowledged again when the next connection opens.
            }
        }
        void this.saveCursor();
    }
    /** Stop the ack timer and save the cursor (the client is stopping). */
    async close() {
        if (this.ackTimer !== null) {
            this.options.clock.clearTimeout(this.ackTimer);
            this.ackTimer = null;
        }
        this.send = null;
        await this.saveCursor();
        await this.saving;
    }
    async fill(target, read) {
        this.options.stats.gapFills += 1;
        const start = this.sequencer.position;
        if (read === null) {
            return false;
        }
        try {
            const deliver = (item) => this.deliver(item);
            const outcome = await fillGap(this.sequencer, target, read, deliver, this.options.fillPageSize, this.positionOf);
            if (outcome.kind === "trimmed") {
                await this.resync({ userId: this.user ?? "", requestedSince: start, head: outcome.head, source: "fill" });
            }
            return true;
        }
        catch (cause) {
            this.options.report(new TidingsError("gap_fill_failed", "filling a gap over REST failed; replaying instead", { cause }));
            return false;
        }
    }
    async deliver(notification) {
        const origin = this.originOf(notification);
        const position = this.positionOf(notification);
        this.options.observe?.(notification);
        if (origin !== null && origin === this.options.sessionId && !this.options.deliverOwn) {
            this.options.stats.suppressed += 1;
        }
        else {
            this.options.stats.delivered += 1;
            await this.options.deliverNotification(notification);
        }
        this.sequencer.advance(position);
        if (this.acks.processed(position, this.options.clock.now())) {
            this.flush();
        }
        else {
            this.armAckTimer();
        }
    }
    async resync(info) {
        this.options.stats.resyncs += 1;
        this.sequencer.reset(info.head);
        await this.options.deliverResync(info);
        this.acks.rearm(info.head, this.options.clock.now());
        this.flush();
    }
    armAckTimer() {
        const due = this.acks.dueAt();
        if (due === null || this.ackTimer !== null) {
            return;
        }
        const { clock } = this.options;
        this.ackTimer = clock.setTimeout(() => {
            this.ackTimer = null;
            this.flush();
        }, Math.max(0, due - clock.now()));
    }
    async saveCursor() {
        const seq = this.sequencer.position;
        const user = this.user;
        if (user === null || seq === null || seq === this.savedSeq) {
            return;
        }
        this.savedSeq = seq;
        // Saves are chained so that they land in order, and close() can wait for the last one.
        const cursor = this.protocol === 2 ? { userId: user, seq, protocol: 2 } : { userId: user, seq };
        this.saving = this.saving.then(() => this.safely(() => this.options.store.save(cursor)));
        await this.saving;
    }
    async safely(call) {
        try {
            return await call();
        }
        catch (cause) {
            this.options.report(new TidingsError("store_failed", "the cursor store failed", { cause }));
            return null;
        }
    }
}

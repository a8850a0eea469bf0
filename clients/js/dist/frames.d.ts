/**
 * Server frames (JSON text) of protocol v1 and v2 parsed into typed values, and client frames
 * encoded.
 *
 * `parseServerFrame` returns null for anything it does not recognise (a later protocol may add
 * frame types; a client ignores them rather than failing). In protocol v2, positions (`head`,
 * `since`, `caught_up`) are stream positions, and `state` frames carry changes.
 */
import type { Broadcast, Counts, MarkOp, Notification, StateChange } from "./types.js";
export interface WelcomeFrame {
    readonly type: "welcome";
    readonly userId: string;
    readonly head: number;
    readonly since: number;
    readonly recovered: boolean;
    readonly device: string;
    /** Protocol v2: the v1 head (highest seq) and the counts at `head`. */
    readonly seqHead?: number;
    readonly counts?: Counts;
}
export type ServerFrame = WelcomeFrame | {
    readonly type: "notification";
    readonly notification: Notification;
} | {
    readonly type: "state";
    readonly change: StateChange;
} | {
    readonly type: "caught_up";
    readonly seq: number;
} | {
    readonly type: "broadcast";
    readonly broadcast: Broadcast;
} | {
    readonly type: "error";
    readonly code: string;
    readonly message: string;
};
type Fields = Record<string, unknown>;
/** Counts from a frame's `counts` field; null when malformed. */
export declare function parseCounts(value: unknown): Counts | null;
/** A notification from a frame or a REST item (same fields, v1 or v2); null when malformed. */
export declare function parseNotification(fields: Fields): Notification | null;
/** A v2 change from a `state` frame or a REST stream item; null when malformed. */
export declare function parseChange(fields: Fields): StateChange | null;
/** Parse one text frame from the server; null when it is not a frame this client knows. */
export declare function parseServerFrame(text: string): ServerFrame | null;
/** `{"type":"ack","seq":S}`: acknowledges every seq up to S (v2: `pos`, a stream position). */
export declare const encodeAck: (seq: number, protocol?: 1 | 2) => string;
/** What a mark names: some seqs, or every seq up to one. */
export type MarkTarget = {
    readonly seqs: readonly number[];
} | {
    readonly upto: number;
};
/** Protocol v2: `{"type":"mark","op":OP,"seqs":[...]}` or `{"type":"mark","op":OP,"upto":S}`. */
export declare const encodeMark: (op: MarkOp, target: MarkTarget) => string;
/** `{"type":"refresh","token":T}`: extends the connection past the old token's `exp`. */
export declare const encodeRefresh: (token: string) => string;
export {};

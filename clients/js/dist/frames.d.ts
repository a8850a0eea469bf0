/**
 * Protocol v1 server frames (JSON text) parsed into typed values, and client frames encoded.
 *
 * `parseServerFrame` returns null for anything it does not recognise (a later protocol may add
 * frame types; a client ignores them rather than failing).
 */
import type { Broadcast, Notification } from "./types.js";
export interface WelcomeFrame {
    readonly type: "welcome";
    readonly userId: string;
    readonly head: number;
    readonly since: number;
    readonly recovered: boolean;
    readonly device: string;
}
export type ServerFrame = WelcomeFrame | {
    readonly type: "notification";
    readonly notification: Notification;
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
/** A notification from a frame or a REST item (same fields); null when malformed. */
export declare function parseNotification(fields: Fields): Notification | null;
/** Parse one text frame from the server; null when it is not a frame this client knows. */
export declare function parseServerFrame(text: string): ServerFrame | null;
/** `{"type":"ack","seq":S}`: acknowledges every seq up to S. */
export declare const encodeAck: (seq: number) => string;
/** `{"type":"refresh","token":T}`: extends the connection past the old token's `exp`. */
export declare const encodeRefresh: (token: string) => string;
export {};

/**
 * What the client does for each close code of protocol v1. Pure.
 *
 * | code | meaning                              | decision                                  |
 * |------|--------------------------------------|-------------------------------------------|
 * | 4400 | bad query parameters                 | stop (retrying unchanged cannot help)     |
 * | 4401 | token missing, invalid or expired    | fresh token/ticket, reconnect with since  |
 * | 4403 | token revoked (or origin refused)    | stop                                      |
 * | 4408 | too slow: send queue overflowed      | reconnect with since                      |
 * | 4429 | too many connections                 | reconnect after a longer backoff          |
 * | 1001 | server going away                    | reconnect with backoff and since          |
 * | 1003 | binary frame sent                    | stop (a client bug)                       |
 * | 1009 | frame too big                        | stop (a client bug)                       |
 * | else | network loss (1006), 1011, 1012, ... | reconnect with backoff and since          |
 */
import type { DelayKind } from "./backoff.js";
import type { StopInfo } from "./types.js";
export declare const CLOSE_GOING_AWAY = 1001;
export declare const CLOSE_UNSUPPORTED_DATA = 1003;
export declare const CLOSE_ABNORMAL = 1006;
export declare const CLOSE_FRAME_TOO_BIG = 1009;
export declare const CLOSE_BAD_QUERY = 4400;
export declare const CLOSE_UNAUTHORIZED = 4401;
export declare const CLOSE_REVOKED = 4403;
export declare const CLOSE_TOO_SLOW = 4408;
export declare const CLOSE_TOO_MANY = 4429;
export type CloseDecision = {
    readonly action: "stop";
    readonly reason: StopInfo["reason"];
} | {
    readonly action: "reconnect";
    readonly delay: DelayKind;
    readonly renewAuth: boolean;
};
/** The decision for a socket closed by the server (or lost) with `code`. */
export declare function decideClose(code: number): CloseDecision;

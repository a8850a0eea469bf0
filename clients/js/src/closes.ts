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

export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_FRAME_TOO_BIG = 1009;
export const CLOSE_BAD_QUERY = 4400;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_REVOKED = 4403;
export const CLOSE_TOO_SLOW = 4408;
export const CLOSE_TOO_MANY = 4429;

export type CloseDecision =
  | { readonly action: "stop"; readonly reason: StopInfo["reason"] }
  | { readonly action: "reconnect"; readonly delay: DelayKind; readonly renewAuth: boolean };

const STOPS: ReadonlyMap<number, StopInfo["reason"]> = new Map([
  [CLOSE_BAD_QUERY, "bad_query"],
  [CLOSE_REVOKED, "revoked"],
  [CLOSE_UNSUPPORTED_DATA, "unsupported_data"],
  [CLOSE_FRAME_TOO_BIG, "frame_too_big"],
]);

/** The decision for a socket closed by the server (or lost) with `code`. */
export function decideClose(code: number): CloseDecision {
  const stop = STOPS.get(code);
  if (stop !== undefined) {
    return { action: "stop", reason: stop };
  }
  switch (code) {
    case CLOSE_UNAUTHORIZED:
      return { action: "reconnect", delay: "immediate", renewAuth: true };
    case CLOSE_TOO_SLOW:
      return { action: "reconnect", delay: "immediate", renewAuth: false };
    case CLOSE_TOO_MANY:
      return { action: "reconnect", delay: "throttled", renewAuth: false };
    default:
      return { action: "reconnect", delay: "backoff", renewAuth: false };
  }
}

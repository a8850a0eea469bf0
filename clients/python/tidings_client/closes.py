"""What the client does for each close code of protocol v1. Pure.

====  ====================================  ==========================================
code  meaning                               decision
====  ====================================  ==========================================
4400  bad query parameters                  stop (retrying unchanged cannot help)
4401  token missing, invalid or expired     fresh token/ticket, reconnect with since
4403  token revoked (or origin refused)     stop
4408  too slow: send queue overflowed       reconnect with since
4429  too many connections                  reconnect after a longer backoff
1001  server going away                     reconnect with backoff and since
1003  binary frame sent                     stop (a client bug)
1009  frame too big                         stop (a client bug)
else  network loss (1006), 1011, 1012, ...  reconnect with backoff and since
====  ====================================  ==========================================
"""

from dataclasses import dataclass
from typing import Final

from .backoff import DelayKind
from .models import StopReason

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_ABNORMAL: Final = 1006
CLOSE_FRAME_TOO_BIG: Final = 1009
CLOSE_BAD_QUERY: Final = 4400
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_REVOKED: Final = 4403
CLOSE_TOO_SLOW: Final = 4408
CLOSE_TOO_MANY: Final = 4429


@dataclass(frozen=True, slots=True)
class Stop:
    """Do not reconnect."""

    reason: StopReason


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Reconnect (with ``since``) after a delay of this kind; ``renew_auth``: the old
    credentials were refused, ask the callback for fresh ones."""

    delay: DelayKind
    renew_auth: bool = False


CloseDecision = Stop | Reconnect

_STOPS: Final[dict[int, StopReason]] = {
    CLOSE_BAD_QUERY: "bad_query",
    CLOSE_REVOKED: "revoked",
    CLOSE_UNSUPPORTED_DATA: "unsupported_data",
    CLOSE_FRAME_TOO_BIG: "frame_too_big",
}


def decide_close(code: int) -> CloseDecision:
    """The decision for a socket closed by the server (or lost) with ``code``."""
    if code in _STOPS:
        return Stop(_STOPS[code])
    if code == CLOSE_UNAUTHORIZED:
        return Reconnect("immediate", renew_auth=True)
    if code == CLOSE_TOO_SLOW:
        return Reconnect("immediate")
    if code == CLOSE_TOO_MANY:
        return Reconnect("throttled")
    return Reconnect("backoff")

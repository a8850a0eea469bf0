"""What a :class:`~delivery.session.DeliverySession` asks its endpoint to do, and the close
codes of protocol v1. Plain values, no I/O."""

from dataclasses import dataclass, field
from typing import Final, Protocol

from outbox.stream import Mark

# WebSocket close codes of protocol v1.
CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_FRAME_TOO_BIG: Final = 1009
CLOSE_BAD_QUERY: Final = 4400
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_REVOKED: Final = 4403
CLOSE_TOO_SLOW: Final = 4408
CLOSE_TOO_MANY: Final = 4429


class Sequenced(Protocol):
    """What a session orders: one of ``user_id``'s stream entries, at position ``seq``
    (the v1 seq of an inbox entry, or the v2 ``pos`` of a stream entry)."""

    @property
    def user_id(self) -> str: ...

    @property
    def seq(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``text`` as one WebSocket text frame."""

    text: str


@dataclass(frozen=True, slots=True)
class ReadInbox:
    """Call ``store.read_inbox_after(user_id, after_seq, limit)``; feed the result back.

    The entries go to :meth:`DeliverySession.replay_page`. When the read fails, call
    :meth:`DeliverySession.close` instead (e.g. 1011): the session cannot skip a read.
    """

    after_seq: int
    limit: int


@dataclass(frozen=True, slots=True)
class ReadStream:
    """Protocol v2: call ``store.read_stream_after(user_id, after_pos, limit)`` and feed the
    items to :meth:`StreamSession.replay_stream`; on failure, close as for :class:`ReadInbox`."""

    after_pos: int
    limit: int


@dataclass(frozen=True, slots=True)
class StoreStreamAck:
    """Call ``store.record_stream_ack(user_id, device, pos)``; feed the outcome to
    :meth:`StreamSession.ack_result`."""

    pos: int


@dataclass(frozen=True, slots=True)
class ApplyMark:
    """Call ``store.apply_mark(user_id, mark, now)``, publish the change it appended, and feed
    the result to :meth:`StreamSession.mark_result`."""

    mark: Mark


@dataclass(frozen=True, slots=True)
class StoreAck:
    """Call ``store.record_ack(user_id, device, seq)``; feed the outcome to ``ack_result``."""

    seq: int


@dataclass(frozen=True, slots=True)
class VerifyRefresh:
    """Verify ``token`` as at connect; feed the result to ``refresh_result``."""

    # Kept out of repr so that logging an action never logs a token.
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with ``code`` and ``reason``; the session is closed already."""

    code: int
    reason: str


Action = (
    Send | ReadInbox | StoreAck | VerifyRefresh | Close | ReadStream | StoreStreamAck | ApplyMark
)

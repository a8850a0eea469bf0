"""The sans-I/O session of protocol v2: the v1 session's stream rules over stream positions.

:class:`StreamSession` is a :class:`~delivery.session.DeliverySession` whose stream is the
user's v2 stream (notifications and changes, ordered by ``pos``) instead of the v1 inbox
(notifications, ordered by ``seq``). Every rule of the v1 session holds unchanged with
``pos`` in the place of ``seq`` (replay after ``since``, gap reads, the short-page proof,
``caught_up`` once, client frame limits, expiry), because the v1 machinery orders the
stream entries by their ``pos``; only the frames, the reads and the client frames differ:

- the welcome carries ``v: 2``, the v1 head as ``seq_head`` and the ``counts`` at ``head``;
- entries are sent as v2 ``notification`` and ``state`` frames; ``caught_up`` names a ``pos``;
- reads are :class:`~delivery.actions.ReadStream`; acks (``pos``) are
  :class:`~delivery.actions.StoreStreamAck`; ``mark`` frames become
  :class:`~delivery.actions.ApplyMark`, whose result goes to :meth:`mark_result`.

**Call order** is the v1 session's, with :meth:`open_stream` for ``open`` (the stream head
and the device's stream ack, read after subscribing), :meth:`replay_stream` for
``replay_page`` and :meth:`live_stream` for ``live``.
"""

from collections.abc import Sequence

from delivery.actions import Action, ReadStream, Send
from delivery.client_frames import ClientFrames
from delivery.frames import encode_error
from delivery.frames_v2 import (
    encode_caught_up_v2,
    encode_stream_item,
    encode_welcome_v2,
    parse_client_frame_v2,
)
from delivery.limits import DEFAULT_LIMITS, SessionLimits
from delivery.session import DeliverySession
from outbox.stream import MarkOutcome, MarkResult, StreamHead, StreamItem


class Positioned:
    """A stream entry as the v1 machinery orders it: ``seq`` is the entry's ``pos``."""

    __slots__ = ("item", "seq", "user_id")

    def __init__(self, item: StreamItem) -> None:
        self.item = item
        self.seq = item.pos
        self.user_id = item.user_id


def _frame(entry: Positioned) -> str:
    return encode_stream_item(entry.item)


class StreamSession(DeliverySession):
    """One v2 connection of one user's device (see the module docstring)."""

    _frame = staticmethod(_frame)
    _caught_up = staticmethod(encode_caught_up_v2)
    _read_request = ReadStream

    def __init__(
        self,
        user_id: str,
        device: str,
        since: int | None,
        *,
        expires_at: float,
        limits: SessionLimits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(user_id, device, since, expires_at=expires_at, limits=limits)
        self._frames = ClientFrames(limits, parse_client_frame_v2)
        self._stream_head = StreamHead()

    def open_stream(self, head: StreamHead, acked: int) -> list[Action]:
        """:meth:`open` with the stream head (positions, counts) and the device's stream ack."""
        self._stream_head = head
        return self.open(head.pos, acked)

    def replay_stream(self, items: Sequence[StreamItem]) -> list[Action]:
        """:meth:`replay_page` for the result of a :class:`ReadStream`."""
        return self.replay_page([Positioned(item) for item in items])

    def live_stream(self, items: Sequence[StreamItem]) -> list[Action]:
        """:meth:`live` for stream entries (notifications with positions, and changes)."""
        return self.live([Positioned(item) for item in items])

    def mark_result(self, result: MarkResult) -> list[Action]:
        """Feed the store's result for ``ApplyMark``.

        ``ABOVE_HEAD`` sends an ``error`` frame (``seq_above_head``). An applied change is
        fed as a live entry, so this device sees its own change at once, in order; its live
        signal, arriving later, is then a duplicate and dropped. ``UNCHANGED`` sends nothing.
        """
        if self.closed:
            return []
        if result.outcome is MarkOutcome.ABOVE_HEAD:
            message = "the mark names a seq above the newest one"
            return [Send(encode_error(result.outcome.value, message))]
        if result.change is not None:
            return self.live_stream([result.change])
        return []

    def _welcome_frame(self) -> str:
        recovered = bool(self._recovered)
        head = self._stream_head
        return encode_welcome_v2(self.user_id, head, self._start, recovered, self.device)

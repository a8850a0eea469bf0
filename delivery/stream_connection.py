"""The I/O of a protocol v2 connection: a :class:`Connection` around a
:class:`~delivery.stream_session.StreamSession`.

It differs from v1's only in what it reads and writes: the stream head and the device's
stream ack at open, stream reads, stream acks, and marks, whose change it publishes for the
user's other devices (on every node) after the store committed it.
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from delivery.actions import Action, ApplyMark, ReadStream, StoreAck, StoreStreamAck
from delivery.auth import Principal
from delivery.connection import Connection, FrameSocket
from delivery.node import DeliveryNode
from delivery.state_signal import publish_changes
from delivery.stream_session import StreamSession
from outbox.records import AckOutcome, InboxEntry
from outbox.stream import StreamItem, StreamNotification


class StreamConnection(Connection):
    """One accepted v2 WebSocket; the hub hands it stream entries (``wants_stream``)."""

    __slots__ = ("_stream",)

    wants_stream = True
    # A mark sent just before the client closed is applied, like an ack.
    kept_after_end = (StoreAck, StoreStreamAck, ApplyMark)

    def __init__(
        self, socket: FrameSocket, session: StreamSession, node: DeliveryNode, principal: Principal
    ) -> None:
        super().__init__(socket, session, node, principal)
        self._stream = session

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        """v2 follows the stream (:meth:`on_stream`), where the same entries arrive placed."""

    def on_stream(self, items: Sequence[StreamItem]) -> None:
        sent_before = self._stream.last_sent
        self._hold()
        self._apply(self._stream.live_stream(items))
        self._observe_stream_latency(items, sent_before)

    async def _opened(self) -> list[Action]:
        store = self._node.store
        head = await store.stream_head(self.user_id)
        acked = await store.stream_acked(self.user_id, self._stream.device)
        return self._stream.open_stream(head, acked)

    async def _do(self, request: Action) -> None:
        store, session = self._node.store, self._stream
        match request:
            case ReadStream(after_pos, limit):
                items = await store.read_stream_after(self.user_id, after_pos, limit)
                self._apply(session.replay_stream(items))
            case StoreStreamAck(pos):
                outcome = await store.record_stream_ack(self.user_id, session.device, pos)
                if outcome is AckOutcome.STORED:
                    self._unacked.acked(pos, self._node.metrics.written_to_acked)
                self._apply(session.ack_result(pos, outcome))
            case ApplyMark(mark):
                result = await store.apply_mark(self.user_id, mark, datetime.now(UTC))
                if result.change is not None:
                    await publish_changes(self._node.broker, [result.change])
                self._apply(session.mark_result(result))
            case _:
                await super()._do(request)

    def _observe_stream_latency(self, items: Sequence[StreamItem], sent_before: int) -> None:
        """The latency metrics of v1 (see ``Connection._written_live``), by position."""
        sent_up_to = self._stream.last_sent
        sent = [
            item
            for item in items
            if isinstance(item, StreamNotification) and sent_before < item.pos <= sent_up_to
        ]
        if sent:
            self._node.metrics.observe_written([item.entry for item in sent], time.time())
            if not self.ended:
                self._unacked.written(sorted(item.pos for item in sent))

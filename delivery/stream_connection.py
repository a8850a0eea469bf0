"""The I/O loop of a protocol v2 connection: a :class:`Connection` around a
:class:`~delivery.stream_session.StreamSession`.

It differs from v1's only in what it reads and writes: the stream head and the device's
stream ack at open, stream reads, stream acks, and marks, whose change it publishes for the
user's other devices (on every node) after the store committed it.
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.websockets import WebSocket

from delivery.actions import Action, ApplyMark, ReadStream, StoreStreamAck
from delivery.auth import Principal
from delivery.connection import Connection
from delivery.node import DeliveryNode
from delivery.state_signal import publish_changes
from delivery.stream_session import StreamSession
from outbox.records import AckOutcome, InboxEntry
from outbox.stream import StreamItem, StreamNotification


class StreamConnection(Connection):
    """One accepted v2 WebSocket; the hub hands it stream entries (``wants_stream``)."""

    wants_stream = True

    def __init__(
        self, websocket: WebSocket, session: StreamSession, node: DeliveryNode, principal: Principal
    ) -> None:
        super().__init__(websocket, session, node, principal)
        self._stream = session

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        """v2 follows the stream (:meth:`on_stream`), where the same entries arrive placed."""

    def on_stream(self, items: Sequence[StreamItem]) -> None:
        sent_before = self._stream.last_sent
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
                    self._observe_ack(pos)
                self._apply(session.ack_result(pos, outcome))
            case ApplyMark(mark):
                result = await store.apply_mark(self.user_id, mark, datetime.now(UTC))
                if result.change is not None:
                    await publish_changes(self._node.redis, [result.change])
                self._apply(session.mark_result(result))
            case _:
                await super()._do(request)

    def _observe_stream_latency(self, items: Sequence[StreamItem], sent_before: int) -> None:
        """The latency metrics of v1 (see ``Connection._observe_latency``), by position."""
        sent_up_to = self._stream.last_sent
        now = datetime.now(UTC)
        metrics = self._node.metrics
        for item in items:
            if isinstance(item, StreamNotification) and sent_before < item.pos <= sent_up_to:
                entry = item.entry
                committed = (now - entry.notification.created_at).total_seconds()
                metrics.delivery_latency.observe(max(0.0, committed))
                metrics.routed_to_written.observe(max(0.0, (now - entry.routed_at).total_seconds()))
                self._unacked_since[item.pos] = time.monotonic()
        while len(self._unacked_since) > self._queue_limit:
            del self._unacked_since[next(iter(self._unacked_since))]

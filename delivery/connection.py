"""The I/O around one :class:`DeliverySession`, whatever runtime carries its socket.

A runtime (:mod:`delivery.native` for ``tidings serve``, :mod:`delivery.websocket` under
ASGI) accepts the socket, admits it (:mod:`delivery.admission`) and gives the connection a
:class:`FrameSocket`. It then feeds the connection what the client does (:meth:`on_text`,
:meth:`on_binary`, :meth:`on_socket_closed`) and when the socket drains (:meth:`on_drained`);
the node's live hub feeds it live entries, and the node's timer wheel wakes it for token
expiry. The session decides everything; this module carries its actions out.

**No task while idle.** The session's I/O requests (the opening reads, store reads, acks,
refreshes) run in one task that exists while there are any and ends when there are none.
Nothing else is a task: frames are written from the callback that produced them.

**Writes.** Frames go straight to the socket while it keeps up, the frames of one batch (a
replay page, the entries of a routed batch) in one write. Frames from a live batch wait until
the hub has handed every connection its part (``LiveHub.after_dispatch``), so that the
batch's writes to all its sockets go out back to back. While the socket is stalled (its
buffer is full because the client does not read), frames wait in a backlog of at most
``send_queue_size``; one more closes the connection with 4408 at once, so a slow client
costs a bounded amount of memory and never slows the others. A burst written while the
socket was not stalled goes out whole, however large: a client that reads is never closed
for the size of what it was sent.

**The end.** A connection ends when the session closes it (its close frame goes after the
frames written before it, and 4408 drops the backlog) or when the client closes or goes
away. Acks the client sent before that are still stored; other pending requests are
dropped (:attr:`Connection.kept_after_end` names what is kept). ``ws_closes_total`` counts
every connection once, by the code that ended it: the server's, the client's, or 1005/1006
when it was lost without one.
"""

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Protocol

from delivery.actions import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_REVOKED,
    CLOSE_TOO_SLOW,
    Action,
    Close,
    ReadInbox,
    Send,
    StoreAck,
    VerifyRefresh,
)
from delivery.auth import AuthFailed, Principal, TokenRevoked
from delivery.node import DeliveryNode
from delivery.session import DeliverySession, SessionState
from delivery.unacked import UnackedFrames
from foundation.errors import StoreError
from outbox.records import AckOutcome, InboxEntry, Notification
from outbox.stream import StreamItem

log = logging.getLogger(__name__)

CLOSE_ABNORMAL = 1006  # the connection was lost without a close frame (never sent)
REQUESTS_AFTER_END_SECONDS = 5.0  # how long a runtime waits for acks received before the end


class FrameSocket(Protocol):
    """A WebSocket as a connection sees it; each runtime provides one."""

    @property
    def stalled(self) -> bool:
        """True while the client is not taking what was written (the runtime then calls
        :meth:`Connection.on_drained` once it is)."""

    def send_frames(self, frames: Sequence[str]) -> None:
        """Write ``frames`` as text frames, in order, after everything written before.
        Never blocks; may leave the socket stalled."""

    def close(self, code: int, reason: str, *, drop_pending: bool) -> None:
        """Send a close frame, after what was written before (or at once, dropping what the
        socket still holds, with ``drop_pending``), and close the connection once the client
        answers or in a bounded time."""


class Connection:
    """One admitted WebSocket, registered with the node's live hub until it ends."""

    __slots__ = (
        "_backlog",
        "_ended",
        "_held",
        "_node",
        "_queue_limit",
        "_requests",
        "_session",
        "_socket",
        "_unacked",
        "_worker",
        "principal",
    )

    # Requests still carried out once the connection has ended: what the client wrote before
    # it closed (acks) must be stored.
    kept_after_end: tuple[type[Action], ...] = (StoreAck,)

    def __init__(
        self,
        socket: FrameSocket,
        session: DeliverySession,
        node: DeliveryNode,
        principal: Principal,
    ) -> None:
        self._socket = socket
        self._session = session
        self._node = node
        self.principal = principal  # the latest token's, for revocation checks
        self._queue_limit = node.settings.send_queue_size
        self._backlog: deque[str] | None = None  # frames waiting while the socket is stalled
        self._held: list[str] | None = None  # frames of the batch the hub is dispatching
        self._requests: deque[Action] | None = None  # store reads and writes, refreshes
        self._worker: asyncio.Task[None] | None = None
        self._ended = False
        self._unacked = UnackedFrames(node.settings.send_queue_size)  # written-to-acked

    @property
    def user_id(self) -> str:
        """The authenticated user this connection belongs to."""
        return self._session.user_id

    @property
    def ended(self) -> bool:
        """True once the connection closed or the client went away."""
        return self._ended

    def start(self) -> None:
        """Register with the hub, then read the head and start the stream (in a task)."""
        self._node.hub.add(self)  # before reading the head: nothing committed later is missed
        self._node.timers.schedule(self, self._session.expires_at)
        self._worker = asyncio.get_running_loop().create_task(self._serve_requests(True))

    # What the runtime reports.

    def on_text(self, text: str) -> None:
        """A text frame from the client."""
        self._apply(self._session.receive_text(text, time.time()))

    def on_binary(self) -> None:
        """A binary frame from the client (the protocol has none)."""
        self._apply(self._session.receive_binary())

    def on_socket_closed(self, code: int) -> None:
        """The socket closed with ``code``: the client's close frame, the runtime's own
        (a protocol error, a frame over the size limit, a missed pong), or 1006 when the
        connection was lost without one. Ignored once the connection has ended."""
        if not self._ended:
            self._session.close(code, "socket closed")
            self._end(code)

    def on_drained(self) -> None:
        """The socket takes frames again: write what waited."""
        backlog = self._backlog
        if backlog is not None and not self._ended:
            self._backlog = None
            self._write(list(backlog))

    async def wait_requests(self, timeout: float = REQUESTS_AFTER_END_SECONDS) -> None:
        """Wait, at most ``timeout`` seconds, until the requests still running are done (the
        acks a client sent just before it closed)."""
        worker = self._worker
        if worker is not None:
            await asyncio.wait({worker}, timeout=timeout)

    # LiveListener: called by the hub, never blocks.

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        session = self._session
        sent_before = session.last_sent
        self._hold()
        self._apply(session.live(entries))
        if session.last_sent > sent_before:
            self._written_live(entries, sent_before)

    def on_broadcast(self, notification: Notification) -> None:
        self._hold()
        self._apply(self._session.broadcast(notification))

    def on_stream(self, items: Sequence[StreamItem]) -> None:
        """Protocol v1 follows the inbox (:meth:`on_entries`), not the v2 stream."""

    def on_resync(self) -> None:
        self._apply(self._session.resync())

    def shut_down(self) -> None:
        """Close with 1001 (server going away); the client reconnects with ``since``."""
        self._apply(self._session.close(CLOSE_GOING_AWAY, "server going away"))

    def on_revoked(self) -> None:
        """Close with 4403: the user's tokens were revoked, the client stops."""
        self._apply(self._session.close(CLOSE_REVOKED, "token revoked"))

    # Timed: called by the node's timer wheel.

    def on_timer(self, now: float) -> float | None:
        """Token expiry: close with 4401 once it has passed; else the next time to look."""
        self._apply(self._session.tick(now))
        return None if self._ended else self._session.expires_at

    # Carrying actions out.

    def _apply(self, actions: list[Action]) -> None:
        frames: list[str] | None = None
        for action in actions:
            if isinstance(action, Send):
                if frames is None:
                    frames = [action.text]
                else:
                    frames.append(action.text)
            elif isinstance(action, Close):
                if frames is not None:
                    self._write(frames)
                    frames = None
                self._close(action)
            else:  # a request: a store read or write, a refresh
                self._request(action)
        if frames is not None:
            self._write(frames)

    def _hold(self) -> None:
        """Hold the frames of the batch the hub is dispatching until it has given every
        listener its part (see ``LiveHub.after_dispatch``)."""
        if self._held is None and self._node.hub.after_dispatch(self._release):
            self._held = []

    def _release(self) -> None:
        held, self._held = self._held, None
        if held:
            self._write(held)

    def _write(self, frames: list[str]) -> None:
        if self._ended:
            return
        if self._held is not None:
            self._held.extend(frames)
            return
        if self._backlog is None and not self._socket.stalled:
            self._socket.send_frames(frames)
            self._count(frames)
            return
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.extend(frames)
        if len(self._backlog) > self._queue_limit:
            self._apply(self._session.close(CLOSE_TOO_SLOW, "send queue overflowed"))

    def _count(self, frames: list[str]) -> None:
        metrics = self._node.metrics
        if len(frames) == 1:
            metrics.count_frames(_frame_type(frames[0]), 1)
            return
        for frame_type, count in Counter(map(_frame_type, frames)).items():
            metrics.count_frames(frame_type, count)

    def _close(self, close: Close) -> None:
        if self._ended:
            return
        self._release()  # frames held for the batch being dispatched go first
        backlog, self._backlog = self._backlog, None
        too_slow = close.code == CLOSE_TOO_SLOW
        if backlog and not too_slow:
            self._socket.send_frames(list(backlog))  # they go before the close frame
            self._count(list(backlog))
        self._socket.close(close.code, close.reason, drop_pending=too_slow)
        self._end(close.code)

    def _end(self, code: int) -> None:
        self._ended = True
        self._backlog = None
        self._node.timers.cancel(self)
        # Counted once the close frame is handed to the socket, or the client's arrived.
        self._node.metrics.closes.labels(str(code)).inc()
        if self._worker is None:
            self._node.hub.remove(self)
        # Otherwise the worker unregisters once the acks received before now are stored.

    # The session's I/O requests, in a task that runs while there are any.

    def _request(self, request: Action) -> None:
        if self._ended:
            return
        if self._requests is None:
            self._requests = deque()
        self._requests.append(request)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve_requests(False))

    async def _serve_requests(self, opening: bool) -> None:
        try:
            if opening:
                self._apply(await self._opened())
            while self._requests:
                request = self._requests.popleft()
                if not self._ended or isinstance(request, self.kept_after_end):
                    await self._do(request)
        except StoreError:
            log.warning("store error on a connection; closing with 1011")
            self._apply(self._session.close(CLOSE_INTERNAL_ERROR, "store unavailable"))
        except Exception:
            log.exception("a connection's request failed; closing with 1011")
            self._apply(self._session.close(CLOSE_INTERNAL_ERROR, "internal error"))
        finally:
            self._worker = None
            self._requests = None
            if self._ended:
                self._node.hub.remove(self)

    async def _opened(self) -> list[Action]:
        """Read the head, the device's ack and its unread count; open the session with them.
        (A protocol's connection reads what its session opens with.)"""
        store, session = self._node.store, self._session
        head = await store.head(self.user_id)
        acked = await store.acked(self.user_id, session.device)
        unread = await store.count_after(self.user_id, acked)
        return session.open(head, acked, unread=unread)

    async def _do(self, request: Action) -> None:
        """Carry one request out. A protocol's connection handles its own kinds first and
        hands the others here; a new kind is one more case."""
        match request:
            case ReadInbox(after_seq, limit):
                await self._read(after_seq, limit)
            case StoreAck(seq):
                await self._store_ack(seq)
            case VerifyRefresh(token):
                self._apply(await self._refresh(token))
            case _:
                raise TypeError(f"no connection carries {type(request).__name__} out")

    async def _read(self, after_seq: int, limit: int) -> None:
        session = self._session
        entries = await self._node.store.read_inbox_after(self.user_id, after_seq, limit)
        live = session.state is SessionState.LIVE  # a gap or resync read, not replay
        sent_before = session.last_sent
        self._apply(session.replay_page(entries))
        if live and session.last_sent > sent_before:
            self._written_live(entries, sent_before)

    async def _store_ack(self, seq: int) -> None:
        outcome = await self._node.store.record_ack(self.user_id, self._session.device, seq)
        if outcome is AckOutcome.STORED:
            self._unacked.acked(seq, self._node.metrics.written_to_acked)
        self._apply(self._session.ack_result(seq, outcome))

    async def _refresh(self, token: str) -> list[Action]:
        try:
            principal = await self._node.verifier.verify(token, time.time())
        except (AuthFailed, TokenRevoked):
            return self._session.refresh_result(None, None)
        if principal.user_id == self.user_id:
            self.principal = principal
        leeway = self._node.settings.jwt_leeway_seconds
        return self._session.refresh_result(principal.user_id, principal.expires_at + leeway)

    # Latency of live frames, by stage.

    def _written_live(self, entries: Sequence[InboxEntry], sent_before: int) -> None:
        """Commit-to-written and routed-to-written latency of the live entries just written
        (replayed history is not latency), and when they were written, for
        written-to-acknowledged."""
        sent_up_to = self._session.last_sent
        sent = [entry for entry in entries if sent_before < entry.seq <= sent_up_to]
        self._node.metrics.observe_written(sent, time.time())
        if not self._ended:
            self._unacked.written(sorted(entry.seq for entry in sent))


def _frame_type(text: str) -> str:
    # Frames start with {"type":"<name>" (see delivery/frames.py); no JSON parse per frame.
    end = text.find('"', 9)
    return text[9:end] if text.startswith('{"type":"') and end > 9 else "other"

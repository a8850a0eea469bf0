"""The thin I/O loop around one :class:`DeliverySession`: socket, store, queue and clock.

Each connection runs three tasks: a reader (client frames), a writer (the bounded send
queue to the socket) and a worker for the session's I/O requests (store reads, acks, token
refreshes), plus a ticker for token expiry. The session decides everything; this module only
carries its actions out.

The send queue holds at most ``send_queue_size`` frames while the socket is stalled (the
client is not reading); one more frame then closes the connection with 4408 at once, so one
slow client costs a bounded amount of memory and never slows the others. While the socket is
not stalled, a burst (a replay page with the live entries held meanwhile, a routed batch) is
queued whole even when it is larger: the writer takes it at its next turn, and a client that
reads is never closed for the size of what it was sent.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

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
from delivery.session import (
    DeliverySession,
    SessionState,
)
from foundation.errors import StoreError
from outbox.records import AckOutcome, InboxEntry, Notification

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
CLOSE_TIMEOUT_SECONDS = 2.0


class Connection:
    """One accepted WebSocket, registered with the node's live hub while it runs."""

    def __init__(
        self,
        websocket: WebSocket,
        session: DeliverySession,
        node: DeliveryNode,
        principal: Principal,
    ) -> None:
        self._websocket = websocket
        self._session = session
        self._node = node
        self.principal = principal  # the latest token's, for revocation checks
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()  # bounded by ``_enqueue``
        self._queue_limit = node.settings.send_queue_size
        self._socket_stalled = False  # a send is waiting for the client to read
        self._requests: deque[ReadInbox | StoreAck | VerifyRefresh] = deque()
        self._has_requests = asyncio.Event()
        self._closing: asyncio.Future[Close] = asyncio.get_running_loop().create_future()
        self._close_after_flush: Close | None = None
        # When each live frame was queued (monotonic), until a cumulative ack covers it.
        self._unacked_since: dict[int, float] = {}

    @property
    def user_id(self) -> str:
        """The authenticated user this connection belongs to."""
        return self._session.user_id

    # LiveListener: called by the hub, never blocks.

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        sent_before = self._session.last_sent
        self._apply(self._session.live(entries))
        self._observe_latency(entries, sent_before)

    def on_broadcast(self, notification: Notification) -> None:
        self._apply(self._session.broadcast(notification))

    def on_resync(self) -> None:
        self._apply(self._session.resync())

    def shut_down(self) -> None:
        """Close with 1001 (server going away); the client reconnects with ``since``."""
        self._apply(self._session.close(CLOSE_GOING_AWAY, "server going away"))

    def on_revoked(self) -> None:
        """Close with 4403: the user's tokens were revoked, the client stops."""
        self._apply(self._session.close(CLOSE_REVOKED, "token revoked"))

    # The connection's life.

    async def run(self) -> None:
        """Serve until the session closes or the client goes away; always unregisters."""
        hub = self._node.hub
        hub.add(self)  # before reading the head: nothing committed later can be missed
        try:
            head = await self._node.store.head(self.user_id)
            acked = await self._node.store.acked(self.user_id, self._session.device)
            unread = await self._node.store.count_after(self.user_id, acked)
            self._apply(self._session.open(head, acked, unread=unread))
            await self._serve()
        except StoreError:
            log.warning("store error on a connection; closing with 1011")
            self._apply(self._session.close(CLOSE_INTERNAL_ERROR, "store unavailable"))
        finally:
            hub.remove(self)
        await self._close_socket()

    async def _serve(self) -> None:
        tasks = [
            asyncio.create_task(self._read_frames()),
            asyncio.create_task(self._write_frames()),
            asyncio.create_task(self._do_requests()),
            asyncio.create_task(self._tick()),
        ]
        waitables: set[asyncio.Future[Any]] = {*tasks, self._closing}
        try:
            done, _ = await asyncio.wait(waitables, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not self._closing and not task.cancelled():
                    task.result()  # surface unexpected errors (StoreError is handled above)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Send(text):
                    self._enqueue(text)
                case Close():
                    self._finish(action)
                case ReadInbox() | StoreAck() | VerifyRefresh():
                    self._requests.append(action)
                    self._has_requests.set()

    def _enqueue(self, text: str) -> None:
        if self._close_after_flush is not None or self._closing.done():
            return
        if self._socket_stalled and self._outgoing.qsize() >= self._queue_limit:
            overflow = self._session.close(CLOSE_TOO_SLOW, "send queue overflowed")
            for action in overflow:
                if isinstance(action, Close) and not self._closing.done():
                    self._closing.set_result(action)  # now: do not wait for the queue
            return
        self._outgoing.put_nowait(text)

    def _finish(self, close: Close) -> None:
        if self._outgoing.empty() and not self._closing.done():
            self._closing.set_result(close)
        else:
            self._close_after_flush = close  # the writer sends what precedes it first

    async def _write_frames(self) -> None:
        metrics = self._node.metrics
        while True:
            if self._outgoing.empty() and self._close_after_flush is not None:
                if not self._closing.done():
                    self._closing.set_result(self._close_after_flush)
                return
            text = await self._outgoing.get()
            # send_text returns without suspending while the client reads; other tasks only
            # ever see the flag set when it waits for a client that does not.
            self._socket_stalled = True
            try:
                await self._websocket.send_text(text)
            finally:
                self._socket_stalled = False
            metrics.count_frame(_frame_type(text))

    async def _read_frames(self) -> None:
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                self._apply(self._session.receive_binary())
            else:
                self._apply(self._session.receive_text(message.get("text") or "", time.time()))

    async def _do_requests(self) -> None:
        while True:
            await self._has_requests.wait()
            while self._requests:
                await self._do(self._requests.popleft())
            self._has_requests.clear()

    async def _do(self, request: ReadInbox | StoreAck | VerifyRefresh) -> None:
        store, session = self._node.store, self._session
        match request:
            case ReadInbox(after_seq, limit):
                entries = await store.read_inbox_after(self.user_id, after_seq, limit)
                live = session.state is SessionState.LIVE  # a gap or resync read, not replay
                sent_before = session.last_sent
                self._apply(session.replay_page(entries))
                if live:
                    self._observe_latency(entries, sent_before)
            case StoreAck(seq):
                outcome = await store.record_ack(self.user_id, session.device, seq)
                if outcome is AckOutcome.STORED:
                    self._observe_ack(seq)
                self._apply(session.ack_result(seq, outcome))
            case VerifyRefresh(token):
                self._apply(await self._refresh(token))

    async def _refresh(self, token: str) -> list[Action]:
        try:
            principal = await self._node.verifier.verify(token, time.time())
        except (AuthFailed, TokenRevoked):
            return self._session.refresh_result(None, None)
        if principal.user_id == self.user_id:
            self.principal = principal
        leeway = self._node.settings.jwt_leeway_seconds
        return self._session.refresh_result(principal.user_id, principal.expires_at + leeway)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)  # the expiry clock's resolution
            self._apply(self._session.tick(time.time()))

    def _observe_latency(self, entries: Sequence[InboxEntry], sent_before: int) -> None:
        """Commit-to-written and routed-to-written latency of the live entries just queued
        for the writer (which writes them at once to a client that keeps up); replayed history
        is not latency. Remembers when each was queued, for written-to-acknowledged."""
        sent_up_to = self._session.last_sent
        now = datetime.now(UTC)
        queued_at = time.monotonic()
        metrics = self._node.metrics
        for entry in entries:
            if sent_before < entry.seq <= sent_up_to:
                committed = (now - entry.notification.created_at).total_seconds()
                metrics.delivery_latency.observe(max(0.0, committed))
                metrics.routed_to_written.observe(max(0.0, (now - entry.routed_at).total_seconds()))
                self._unacked_since[entry.seq] = queued_at
        while len(self._unacked_since) > self._queue_limit:  # a client that never acks
            del self._unacked_since[next(iter(self._unacked_since))]

    def _observe_ack(self, seq: int) -> None:
        """Written-to-acknowledged latency of every remembered frame a stored ack covers."""
        now = time.monotonic()
        while self._unacked_since:
            first = next(iter(self._unacked_since))
            if first > seq:
                break
            self._node.metrics.written_to_acked.observe(now - self._unacked_since.pop(first))

    async def _close_socket(self) -> None:
        close = self._closing.result() if self._closing.done() else None
        socket = self._websocket
        if WebSocketState.DISCONNECTED not in (socket.client_state, socket.application_state):
            with contextlib.suppress(Exception):
                code, reason = (close.code, close.reason) if close else (1000, "")
                await asyncio.wait_for(socket.close(code, reason), CLOSE_TIMEOUT_SECONDS)
        if close is not None:
            # Counted once the close frame is handed to the socket (or given up on).
            self._node.metrics.closes.labels(str(close.code)).inc()


def _frame_type(text: str) -> str:
    # Frames start with {"type":"<name>" (see delivery/frames.py); no JSON parse per frame.
    end = text.find('"', 9)
    return text[9:end] if text.startswith('{"type":"') and end > 9 else "other"

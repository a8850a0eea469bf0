"""``TidingsClient``: one user's notification stream over ``/ws``, contiguous and resumable.

Guarantees to the application, within one client instance:

- ``on_notification`` sees seqs in ascending order with no gap and no duplicate (a gap in the
  live stream is filled over REST first; a seq at or below the last processed one is
  dropped), except where the server says history is gone: then ``on_resync`` is called and
  the stream continues from the server's head;
- handlers are awaited one at a time, in frame order; a seq counts as processed once its
  handler returned (or raised: the error goes to ``on_error`` and the stream moves on);
- processed seqs are acknowledged cumulatively in batches and saved to the
  :class:`~tidings_client.cursor.CursorStore` at the same moments, so a restarted client
  resumes from the last saved seq (at-least-once across restarts: up to one batch may be
  seen again);
- every close code is handled as protocol v1 says (see :mod:`tidings_client.closes`).

With ``ClientOptions(protocol=2)`` the stream is protocol v2's: notifications and changes in
one order by position (the same guarantees hold for positions); the client keeps every held
notification's state and the user's counts (:attr:`TidingsClient.counts`,
:meth:`TidingsClient.item_state`, ``on_change``, ``on_counts``), and :meth:`TidingsClient.mark`
changes state on every device of the user.

This module is the connection loop (sockets, backoff, close codes); the stream itself is
:mod:`tidings_client.stream`, credentials :mod:`tidings_client.credentials`, token refresh
:mod:`tidings_client.refresh`.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .backoff import Backoff
from .closes import CLOSE_ABNORMAL, CLOSE_NORMAL, CloseDecision, Reconnect, Stop, decide_close
from .credentials import Credentials, resolve
from .cursor import CursorStore, MemoryCursorStore
from .errors import TidingsClientError
from .frames import (
    BroadcastFrame,
    CaughtUp,
    ErrorFrame,
    NotificationFrame,
    StateFrame,
    Welcome,
    parse_server_frame,
)
from .inbox import InboxState
from .inbox_client import InboxMixin
from .models import (
    AuthReason,
    Broadcast,
    ClientState,
    ClientStats,
    Counts,
    Notification,
    ResyncInfo,
    StateChange,
    StopInfo,
)
from .options import (
    ClientOptions,
    CredentialsCallback,
    ErrorHandler,
    Handler,
    Runtime,
    StateHandler,
)
from .refresh import Refresher
from .stream import Stream
from .transport import Transport, TransportClosed, websockets_connector


@dataclass
class _Connection:
    """One socket and what the client knows about it."""

    transport: Transport
    since: int | None
    token_exp: float | None
    welcomed: bool = False
    forced: CloseDecision | None = None  # set when we closed it: what to do next
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    refresher: Refresher | None = None


class TidingsClient(InboxMixin):
    """The client. Create it, :meth:`start` it inside a running event loop, :meth:`stop` it.

    ``url`` is the service's http(s) base URL (``/ws`` is derived from it). Credentials:
    ``get_token(reason)`` returns the app's access token (used for REST gap fills, refreshes,
    buying tickets, and ``auth="token"``); ``get_ticket(reason)`` returns a ticket from
    ``POST /ws/ticket`` (by default the client buys one with ``get_token``). Without
    ``get_token`` there is no refresh (4401 at exp then leads to a fresh ticket and a
    reconnect) and gaps are filled by reconnecting. ``store`` keeps the cursor between runs
    (in memory by default). The handlers are the application's side of the stream.

    ``options`` (default ``ClientOptions()``) holds the rarely changed knobs and ``runtime``
    (default ``Runtime()``) the network, time and randomness; see
    :mod:`tidings_client.options`. Raises ``ValueError`` when neither credentials callback is
    given or ``auth="token"`` lacks ``get_token``.
    """

    def __init__(
        self,
        url: str,
        *,
        get_token: CredentialsCallback | None = None,
        get_ticket: CredentialsCallback | None = None,
        store: CursorStore | None = None,
        on_notification: Handler[Notification] | None = None,
        on_broadcast: Handler[Broadcast] | None = None,
        on_resync: Handler[ResyncInfo] | None = None,
        on_state_change: StateHandler | None = None,
        on_error: ErrorHandler | None = None,
        options: ClientOptions | None = None,
        runtime: Runtime | None = None,
        on_change: Handler[StateChange] | None = None,
        on_counts: Callable[[Counts], None] | None = None,
    ) -> None:
        options = options or ClientOptions()
        runtime = runtime or Runtime()
        self.url = url.rstrip("/")
        self._credentials = Credentials(self.url, get_token, get_ticket, options, runtime.http)
        self.session_id = options.session_id or uuid.uuid4().hex
        self.stats = ClientStats()
        self._options = options
        self._backoff = Backoff(options.backoff, runtime.random)
        self._on_notification = on_notification
        self._on_change = on_change
        self._on_counts = on_counts
        self._inbox = InboxState()
        self._protocol = options.protocol
        self._on_broadcast = on_broadcast
        self._on_resync = on_resync
        self._on_state_change = on_state_change
        self._on_error = on_error
        self._connect = runtime.connect or websockets_connector(options.open_timeout)
        self._clock = runtime.clock
        self._sleep = runtime.sleep
        self._stream = Stream(
            store=store if store is not None else MemoryCursorStore(),
            acks=options.acks,
            session_id=self.session_id,
            deliver_own=options.deliver_own,
            deliver_notification=self._deliver_entry,
            deliver_resync=self._deliver_resync,
            report=self._report,
            stats=self.stats,
            clock=runtime.clock,
            sleep=runtime.sleep,
            fill_page_size=options.fill_page_size,
            protocol=options.protocol,
            observe=self._observe,
        )
        self._state = ClientState.IDLE
        self._connection: _Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stop_info: StopInfo | None = None

    # Public surface.

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def position(self) -> int | None:
        """The highest seq processed, or None before the first welcome."""
        return self._stream.position

    @property
    def user_id(self) -> str | None:
        """The stream's user (the token's ``sub``), known from the first welcome."""
        return self._stream.user_id

    def start(self) -> None:
        """Start connecting (and reconnecting) until :meth:`stop` or a fatal close.

        Idempotent while running; must be called with an event loop running.
        """
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        self._stop_requested.clear()
        self._stopped.clear()
        self._stop_info = None
        self._backoff.reset()
        self._task = asyncio.create_task(self._run(), name="tidings-client")

    async def stop(self) -> None:
        """Acknowledge and save what was processed, close the socket (1000), stop
        reconnecting. Returns once stopped; safe to call from a handler (then it returns at
        once and the client stops when the handler is done)."""
        self._stopping = True
        self._stop_requested.set()
        connection = self._connection
        if connection is not None:
            await self._stream.flush()
            await self._abandon(connection, Stop("stopped"))
        task = self._task
        if task is not None and task is not asyncio.current_task():
            await task

    async def wait_stopped(self) -> StopInfo:
        """Wait until the client stops; returns why."""
        await self._stopped.wait()
        assert self._stop_info is not None
        return self._stop_info

    async def run(self) -> StopInfo:
        """Start and wait until the client stops (for ``asyncio.run(client.run())``)."""
        self.start()
        try:
            return await self.wait_stopped()
        finally:
            await self.stop()

    async def __aenter__(self) -> "TidingsClient":
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # The connection loop.

    async def _run(self) -> None:
        self._stream.load()
        renew_auth = False
        info = StopInfo("stopped", None)
        try:
            while not self._stopping:
                decision, code = await self._attempt(renew_auth)
                if isinstance(decision, Stop):
                    info = StopInfo("stopped" if self._stopping else decision.reason, code)
                    break
                renew_auth = decision.renew_auth
                delay = self._backoff.next(decision.delay)
                if delay > 0 and not self._stopping:
                    self._set_state(ClientState.BACKOFF)
                    await self._wait(delay)
        finally:
            await self._finish(info)

    async def _attempt(self, renew_auth: bool) -> tuple[CloseDecision, int | None]:
        """One connection attempt, from credentials to close: what next, and the close code."""
        self._set_state(ClientState.CONNECTING)
        self.stats.attempts += 1
        try:
            reason: AuthReason = "unauthorized" if renew_auth else "connect"
            target = await self._credentials.target(reason, self._stream.position)
        except Exception as error:
            return self._credentials_failed(error), None
        if self._stopping:
            return Stop("stopped"), None
        try:
            transport = await self._connect(target.url, target.headers)
        except Exception as error:
            self._report(TidingsClientError("connect_failed", f"connecting failed: {error!r}"))
            return Reconnect("backoff"), None
        connection = _Connection(transport, self._stream.position, target.token_exp)
        self._connection = connection
        code = await self._serve(connection)
        self._cancel_tasks(connection)
        self._connection = None
        self._stream.detach()
        self._backoff.disconnected(self._clock())
        if connection.forced is not None or self._stopping:
            return connection.forced or Stop("stopped"), None
        decision = decide_close(code)
        fatal = isinstance(decision, Stop)
        message = f"closed by the server with {code}"
        self._report(TidingsClientError("closed", message, fatal=fatal, close_code=code))
        return decision, code

    def _credentials_failed(self, error: Exception) -> CloseDecision:
        failure = (
            error
            if isinstance(error, TidingsClientError)
            else TidingsClientError("auth_failed", f"a credentials callback failed: {error!r}")
        )
        if failure.code == "token_revoked" or failure.status == 403:
            failure.fatal = True
            self._report(failure)
            return Stop("revoked")
        self._report(failure)
        return Reconnect("backoff", renew_auth=failure.status == 401)

    async def _serve(self, connection: _Connection) -> int:
        """Read and handle frames in order until the socket closes; returns the close code."""
        timeout = self._options.open_timeout
        self._later(connection, timeout, lambda: self._open_timed_out(connection))
        while True:
            try:
                text = await connection.transport.recv()
            except TransportClosed as closed:
                return closed.code
            except Exception:
                return CLOSE_ABNORMAL
            try:
                await self._handle(connection, text)
            except Exception as error:
                self._report(TidingsClientError("bad_frame", f"handling a frame failed: {error!r}"))

    async def _open_timed_out(self, connection: _Connection) -> None:
        if not connection.welcomed:
            await self._abandon(connection, Reconnect("backoff"))

    async def _abandon(self, connection: _Connection, then: CloseDecision) -> None:
        """Close ``connection`` ourselves; ``then`` replaces whatever its close code says."""
        if connection.forced is None:
            connection.forced = then
        self._cancel_tasks(connection)
        reason = "client stopped" if isinstance(then, Stop) else "client reconnecting"
        with contextlib.suppress(Exception):
            await connection.transport.close(CLOSE_NORMAL, reason)

    # Frames, in order, one at a time.

    async def _handle(self, connection: _Connection, text: str) -> None:
        if connection.forced is not None or self._stopping:
            return
        frame = parse_server_frame(text)
        if isinstance(frame, Welcome):
            await self._on_welcome(connection, frame)
        elif frame is None or not connection.welcomed:
            return  # unknown frame types are ignored
        elif isinstance(frame, NotificationFrame | StateFrame):
            entry = self._entry_of(frame)
            read = self._credentials.read_page if self._credentials.has_token else None
            if entry is not None and not await self._stream.receive(entry, read):
                await self._abandon(connection, Reconnect("immediate"))  # the server replays
        elif isinstance(frame, CaughtUp):
            self._set_state(ClientState.LIVE)
        elif isinstance(frame, BroadcastFrame):
            await self._call(self._on_broadcast, frame.broadcast)
        elif isinstance(frame, ErrorFrame):
            self._report(TidingsClientError(frame.code, frame.message))

    async def _on_welcome(self, connection: _Connection, welcome: Welcome) -> None:
        connection.welcomed = True
        self.stats.connections += 1
        self._inbox.welcome(welcome)
        if welcome.counts is not None:
            self._counts_changed()
        self._backoff.connected(self._clock())
        self._set_state(ClientState.SYNCING)
        if not await self._stream.open(welcome, connection.since, connection.transport.send):
            await self._abandon(connection, Reconnect("none"))  # another user's cursor
            return
        if self._credentials.has_token:
            connection.refresher = Refresher(
                get_token=lambda: self._credentials.token("refresh"),
                send=connection.transport.send,
                token_exp=connection.token_exp,
                lead=self._options.refresh_lead,
                clock=self._clock,
                sleep=self._sleep,
                report=self._report,
                on_sent=self._refreshed,
            )
            connection.refresher.start()

    def _refreshed(self) -> None:
        self.stats.refreshes += 1

    # Small pieces.

    def _later(
        self, connection: _Connection, delay: float, then: Callable[[], Awaitable[None]]
    ) -> None:
        async def later() -> None:
            await self._sleep(delay)
            await then()

        task = asyncio.create_task(later())
        connection.tasks.add(task)
        task.add_done_callback(connection.tasks.discard)

    def _cancel_tasks(self, connection: _Connection) -> None:
        if connection.refresher is not None:
            connection.refresher.cancel()
        current = asyncio.current_task()
        for task in list(connection.tasks):
            if task is not current:
                task.cancel()

    async def _wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less when :meth:`stop` is called meanwhile."""
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopper = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeper, stopper):
                waiter.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)

    async def _finish(self, info: StopInfo) -> None:
        await self._stream.close()
        await self._credentials.aclose()
        self._set_state(ClientState.STOPPED)
        self._stop_info = info
        self._stopped.set()

    def _set_state(self, state: ClientState) -> None:
        previous = self._state
        if previous is state:
            return
        self._state = state
        if self._on_state_change is not None:
            try:
                self._on_state_change(state, previous)
            except Exception as error:
                self._report(TidingsClientError("handler_failed", f"on_state_change: {error!r}"))

    async def _call[T](self, handler: Handler[T] | None, value: T) -> None:
        if handler is None:
            return
        try:
            await resolve(handler(value))
        except Exception as error:
            self._report(TidingsClientError("handler_failed", f"a handler raised: {error!r}"))

    def _report(self, error: TidingsClientError) -> None:
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error(error)

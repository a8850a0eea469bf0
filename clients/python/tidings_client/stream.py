"""The application's side of the stream: one user's entries delivered in order, each once,
acknowledged in batches, and resumable from a saved cursor. Entries are protocol v1's
notifications (at their seq) or protocol v2's stream entries (at their position).

No sockets here: the client feeds frames in and lends a ``send`` callable for acks while a
connection is up. Calls must not overlap (the client makes them one at a time, in frame
order); handlers are awaited in that order.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from .acks import AckBatcher, AckPolicy
from .cursor import CursorStore
from .errors import TidingsClientError
from .frames import Welcome, encode_ack
from .gap import PageReader, fill_gap
from .models import ClientStats, Cursor, ResyncInfo, StreamEntry
from .sequencer import Sequencer

type Send = Callable[[str], Awaitable[None]]
type Deliver[T] = Callable[[T], Awaitable[None]]


class Stream:
    """Position, dedup, gap filling, own-origin filtering, batched acks and the saved cursor.

    ``deliver_notification`` and ``deliver_resync`` call the application's handlers (and
    report their errors themselves); ``report`` receives every other failure. ``observe``
    sees every entry in order before it is delivered, own-origin ones included. ``protocol``
    says what positions are: v1 seqs or v2 stream positions (acks and the saved cursor).
    """

    def __init__(
        self,
        *,
        store: CursorStore,
        acks: AckPolicy | None,
        session_id: str,
        deliver_own: bool,
        deliver_notification: Deliver[StreamEntry],
        deliver_resync: Deliver[ResyncInfo],
        report: Callable[[TidingsClientError], None],
        stats: ClientStats,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        fill_page_size: int = 100,
        protocol: int = 1,
        observe: Callable[[StreamEntry], None] | None = None,
    ) -> None:
        self._protocol = protocol
        self._observe = observe
        self._store = store
        self._acks = AckBatcher(acks)
        self._session_id = session_id
        self._deliver_own = deliver_own
        self._deliver_notification = deliver_notification
        self._deliver_resync = deliver_resync
        self._report = report
        self._stats = stats
        self._clock = clock
        self._sleep = sleep
        self._fill_page_size = fill_page_size
        self._sequencer = Sequencer()
        self._user: str | None = None
        self._cursor_user: str | None = None
        self._saved_seq: int | None = None
        self._send: Send | None = None
        self._ack_task: asyncio.Task[None] | None = None

    @property
    def position(self) -> int | None:
        """The highest seq processed, or None before the first welcome (and no cursor)."""
        return self._sequencer.position

    @property
    def user_id(self) -> str | None:
        return self._user

    def load(self) -> None:
        """Take the position from the store's cursor, if any (once, before connecting)."""
        cursor = self._safely(self._store.load)
        # A position of another protocol means something else: start without it.
        if cursor is not None and cursor.protocol != self._protocol:
            cursor = None
        if cursor is not None and self._sequencer.position is None:
            self._cursor_user = cursor.user_id
            self._sequencer.reset(cursor.seq)
            self._saved_seq = cursor.seq

    async def open(self, welcome: Welcome, requested_since: int | None, send: Send) -> bool:
        """Start a connection's part of the stream at its welcome; acks go through ``send``.

        Returns False when the saved cursor belongs to another user: it is dropped, and the
        caller reconnects without ``since``. ``recovered: false`` calls the resync handler and
        moves the position to the server's head.
        """
        if self._cursor_user is not None and self._cursor_user != welcome.user_id:
            self._cursor_user = None
            self._sequencer.reset(None)
            self._safely(self._store.clear)
            return False
        self._user = self._cursor_user = welcome.user_id
        self._send = send
        if welcome.recovered:
            self._sequencer.reset(welcome.since)
        else:
            await self._resync(
                ResyncInfo(welcome.user_id, requested_since, welcome.head, "welcome")
            )
        self._acks.rearm(self._sequencer.position or 0, self._clock())
        self._arm_ack_timer()
        return True

    def detach(self) -> None:
        """The connection ended: acks wait for the next one."""
        self._send = None

    async def receive(self, notification: StreamEntry, read: PageReader | None) -> bool:
        """Deliver an entry unless it is a duplicate, after filling any gap before it with
        ``read`` (REST pages of entries).

        Returns False when a gap could not be filled (no reader, or reading failed: reported
        as ``gap_fill_failed``); the caller then reconnects with ``since`` so that the server
        replays it.
        """
        verdict = self._sequencer.verdict(notification.pos)
        if verdict == "gap":
            if not await self._fill(notification.pos - 1, read):
                return False
            verdict = self._sequencer.verdict(notification.pos)
        if verdict == "duplicate":
            self._stats.duplicates += 1
        else:
            await self._deliver(notification)
        return True

    async def flush(self) -> None:
        """Send the waiting ack when a connection is up, and save the cursor either way."""
        task = self._ack_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._ack_task = None
        seq = self._acks.take() if self._send is not None else None
        if seq is not None and self._send is not None:
            with contextlib.suppress(Exception):  # lost with the socket: re-sent when reopened
                await self._send(encode_ack(seq, self._protocol))
                self._stats.acks_sent += 1
        self._save_cursor()

    async def close(self) -> None:
        """Stop the ack timer and save the cursor (the client is stopping)."""
        if self._ack_task is not None:
            self._ack_task.cancel()
            self._ack_task = None
        self._send = None
        self._save_cursor()

    # Internals.

    async def _fill(self, target: int, read: PageReader | None) -> bool:
        self._stats.gap_fills += 1
        start = self._sequencer.position
        if read is None:
            return False
        try:
            outcome = await fill_gap(
                self._sequencer, target, read, self._deliver, self._fill_page_size, _pos
            )
        except Exception as error:
            message = f"filling a gap over REST failed ({error!r}); replaying instead"
            self._report(TidingsClientError("gap_fill_failed", message))
            return False
        if outcome.kind == "trimmed" and outcome.head is not None:
            await self._resync(ResyncInfo(self._user or "", start, outcome.head, "fill"))
        return True

    async def _deliver(self, entry: StreamEntry) -> None:
        note = entry.notification
        origin = note.origin_session if note is not None else None
        if self._observe is not None:
            self._observe(entry)
        if origin is not None and origin == self._session_id and not self._deliver_own:
            self._stats.suppressed += 1
        else:
            self._stats.delivered += 1
            await self._deliver_notification(entry)
        self._sequencer.advance(entry.pos)
        if self._acks.processed(entry.pos, self._clock()):
            await self.flush()
        else:
            self._arm_ack_timer()

    async def _resync(self, info: ResyncInfo) -> None:
        self._stats.resyncs += 1
        self._sequencer.reset(info.head)
        await self._deliver_resync(info)
        self._acks.rearm(info.head, self._clock())
        await self.flush()

    def _arm_ack_timer(self) -> None:
        due = self._acks.due_at()
        if due is None or (self._ack_task is not None and not self._ack_task.done()):
            return
        self._ack_task = asyncio.create_task(self._flush_later(max(0.0, due - self._clock())))

    async def _flush_later(self, delay: float) -> None:
        await self._sleep(delay)
        self._ack_task = None
        await self.flush()

    def _save_cursor(self) -> None:
        seq, user = self._sequencer.position, self._user
        if user is None or seq is None or seq == self._saved_seq:
            return
        self._saved_seq = seq
        self._safely(lambda: self._store.save(Cursor(user, seq, self._protocol)))

    def _safely[T](self, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except Exception as error:
            self._report(TidingsClientError("store_failed", f"the cursor store failed: {error!r}"))
            return None


def _pos(entry: StreamEntry) -> int:
    return entry.pos

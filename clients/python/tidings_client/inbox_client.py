"""The protocol v2 part of :class:`~tidings_client.TidingsClient`: state, counts, marks.

With ``ClientOptions(protocol=2)`` every stream entry (notification or change) passes through
:class:`~tidings_client.inbox.InboxState` before it is delivered, own-origin ones included, so
:attr:`counts` and :meth:`item_state` always reflect the stream up to the client's position.
"""

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .errors import TidingsClientError
from .frames import NotificationFrame, StateFrame, encode_mark, mark_fields
from .inbox import InboxState
from .models import Counts, ItemState, MarkOp, Notification, ResyncInfo, StateChange, StreamEntry
from .options import Handler


class InboxMixin:
    """Needs from the client: its options' protocol, its connection, its credentials, its
    handlers and its error reporting (see :class:`~tidings_client.TidingsClient`)."""

    _inbox: InboxState
    _protocol: int
    _connection: Any
    _credentials: Any
    _on_notification: Handler[Notification] | None
    _on_change: Handler[StateChange] | None
    _on_counts: Callable[[Counts], None] | None
    _on_resync: Handler[ResyncInfo] | None
    _report: Callable[[TidingsClientError], None]
    _call: Callable[[Any, Any], Awaitable[None]]

    @property
    def counts(self) -> Counts | None:
        """Protocol v2: the user's counts, or None before the first welcome."""
        return self._inbox.counts

    def item_state(self, seq: int) -> ItemState | None:
        """Protocol v2: the state of notification ``seq``, or None when this client does not
        hold it (it came before the position this client started from, or was trimmed)."""
        return self._inbox.state(seq)

    def items(self) -> Mapping[int, ItemState]:
        """Protocol v2: every held notification's state, by seq."""
        return self._inbox.items()

    async def mark(
        self, op: MarkOp, *, seqs: Sequence[int] | None = None, upto: int | None = None
    ) -> None:
        """Protocol v2: set ``op`` (read, unread, archive, unarchive) on ``seqs``, or on every
        seq up to ``upto``; the change reaches every device of the user, this one included.

        Sent over the socket when one is up, else over REST (needs ``get_token``). A seq above
        the newest is refused by the server (``seq_above_head``: reported to ``on_error``, or
        raised over REST). Raises ``ValueError`` without protocol 2, or unless exactly one of
        ``seqs`` and ``upto`` is given.
        """
        if self._protocol != 2:
            raise ValueError("marks need ClientOptions(protocol=2)")
        fields = mark_fields(op, seqs, upto)
        connection = self._connection
        if connection is not None and connection.welcomed and connection.forced is None:
            with contextlib.suppress(Exception):  # the socket is closing: REST instead
                await connection.transport.send(encode_mark(op, seqs, upto))
                return
        await self._credentials.mark(fields)

    async def mark_read(self, seqs: Sequence[int]) -> None:
        await self.mark("read", seqs=seqs)

    async def mark_all_read(self, upto: int | None = None) -> None:
        """Mark every notification up to ``upto`` (default: the newest this client knows)
        read."""
        await self.mark("read", upto=self._inbox.seq_head if upto is None else upto)

    async def archive(self, seqs: Sequence[int]) -> None:
        await self.mark("archive", seqs=seqs)

    # The stream's entries (protocol v2: with state and counts).

    def _entry_of(self, frame: NotificationFrame | StateFrame) -> StreamEntry | None:
        """The frame as a stream entry: by position in v2, by seq in v1 (None when it does
        not belong to this client's protocol)."""
        if isinstance(frame, StateFrame):
            change = frame.change
            return StreamEntry(change.pos, change=change) if self._protocol == 2 else None
        note = frame.notification
        pos = note.pos if self._protocol == 2 else note.seq
        return None if pos is None else StreamEntry(pos, notification=note)

    def _observe(self, entry: StreamEntry) -> None:
        """Every entry, own-origin ones included, updates the state and counts first."""
        if self._protocol == 2 and self._inbox.apply(entry):
            self._counts_changed()

    def _counts_changed(self) -> None:
        counts = self._inbox.counts
        if self._on_counts is not None and counts is not None:
            try:
                self._on_counts(counts)
            except Exception as error:
                self._report(TidingsClientError("handler_failed", f"on_counts: {error!r}"))

    async def _deliver_entry(self, entry: StreamEntry) -> None:
        if entry.notification is not None:
            await self._call(self._on_notification, entry.notification)
        elif entry.change is not None:
            await self._call(self._on_change, entry.change)

    async def _deliver_resync(self, info: ResyncInfo) -> None:
        self._inbox.reset()
        await self._call(self._on_resync, info)

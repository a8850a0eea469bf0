"""The live wire format: what the worker publishes on Redis after each routed batch.

Redis pub/sub is only a signal. A subscriber that misses a message (Redis down, slow
consumer, reconnect) finds every entry in the store; a broadcast (``Everyone``) is best-effort
and is simply missed. One message carries a whole routed batch, because one asyncio
subscriber receives about 68k messages/s whatever their size.

Wire format (orjson, version 1)::

    {"v": 1,
     "n": [[notification_id, event, data, created_at_us, origin_session], ...],
     "e": [[user_id, seq, notification_id, routed_at_us], ...],
     "b": [notification_id, ...],
     "p": [[pos, unread, unarchived, replaces], ...],
     "c": [[user_id, pos, op, seqs, upto, unread, unarchived, at_us], ...]}

Each notification body appears once per message; entries and broadcasts refer to it by id.
``"p"`` and ``"c"`` carry the stream (protocol v2) and are added keys, so a node that knows
only the first three ignores them: ``"p"``, when present, runs parallel to ``"e"`` (each
entry's stream position, the counts after it and the seq it replaced), and ``"c"`` holds
changes (read, archive, retract, trim, ...), which have no v1 entry.
Datetimes are integer microseconds since the Unix epoch, so they round-trip exactly and
decode as timezone-aware UTC. A large batch is split into several messages of at most
:data:`MAX_MESSAGE_BYTES` and :data:`MAX_MESSAGE_ITEMS` each, in order.

The worker encodes (``outbox.worker.publisher``) and delivery nodes decode
(``delivery.hub``); this module is the format both sides agree on, and nothing else.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from outbox.live_stream import change_row, decode_change, decode_mark, mark_row
from outbox.records import InboxEntry, Notification
from outbox.stream import StreamChange, StreamItem, StreamNotification
from outbox.timestamps import from_micros, to_micros, to_micros_memo

FORMAT_VERSION = 1
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_MESSAGE_ITEMS = 2000


@dataclass(frozen=True, slots=True)
class LiveBatch:
    """One decoded live message: entries in seq order per user, then broadcasts.

    The stream entries (protocol v2) are decoded only when asked for (:meth:`stream`), so a
    node without v2 connections never pays for them.
    """

    entries: tuple[InboxEntry, ...]
    broadcasts: tuple[Notification, ...]
    marks: tuple[Any, ...] = ()
    changes: tuple[Any, ...] = ()

    @property
    def has_stream(self) -> bool:
        return bool(self.marks or self.changes)

    def stream(self) -> list[StreamItem]:
        """The stream entries: the entries with their positions, then the changes.

        Raises ``ValueError`` when the stream rows are malformed.
        """
        items: list[StreamItem] = []
        if self.marks:
            if len(self.marks) != len(self.entries):
                raise ValueError("live positions do not match the entries")
            pairs = zip(self.marks, self.entries, strict=True)
            items.extend(decode_mark(row, entry) for row, entry in pairs)
        if self.changes:
            times = _Times()
            items.extend(decode_change(row, times.moment) for row in self.changes)
        return items


class _Times:
    """Datetime <-> microseconds, remembering values already converted.

    Every entry of a routed batch shares one ``routed_at``, so a batch converts it once.
    """

    def __init__(self) -> None:
        self._micros: dict[datetime, int] = {}
        self._moments: dict[int, datetime] = {}

    def micros(self, moment: datetime) -> int:
        value = self._micros.get(moment)
        if value is None:  # naive datetimes never get here twice: to_micros refuses them
            value = self._micros[moment] = to_micros(moment)
        return value

    def moment(self, value: object) -> datetime:
        if type(value) is not int:
            raise ValueError("a live datetime must be an integer of microseconds")
        moment = self._moments.get(value)
        if moment is None:
            try:
                moment = self._moments[value] = from_micros(value)
            except OverflowError:
                raise ValueError("a live datetime is out of range") from None
        return moment


@dataclass(slots=True)
class _Message:
    """Encoded pieces of one message under construction."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    entries: list[bytes] = field(default_factory=list)
    broadcasts: list[bytes] = field(default_factory=list)
    marks: list[bytes] = field(default_factory=list)
    changes: list[bytes] = field(default_factory=list)
    size: int = 48  # the envelope
    items: int = 0

    def to_bytes(self) -> bytes:
        parts = [
            b'{"v":%d,"n":[' % FORMAT_VERSION,
            b",".join(self.bodies.values()),
            b'],"e":[',
            b",".join(self.entries),
            b'],"b":[',
            b",".join(self.broadcasts),
            b"]",
        ]
        if self.marks:
            parts += (b',"p":[', b",".join(self.marks), b"]")
        if self.changes:
            parts += (b',"c":[', b",".join(self.changes), b"]")
        parts.append(b"}")
        return b"".join(parts)


def _body_row(note: Notification) -> tuple[object, ...]:
    return (note.id, note.event, note.data, to_micros_memo(note.created_at), note.origin_session)


def _split_stream(
    entries: Sequence[InboxEntry], stream: Sequence[StreamItem]
) -> tuple[list[StreamNotification] | None, list[StreamChange]]:
    """The stream's notifications (parallel to ``entries``, or None) and its changes."""
    marks = [item for item in stream if isinstance(item, StreamNotification)]
    changes = [item for item in stream if isinstance(item, StreamChange)]
    if not marks:
        return None, changes
    if [mark.entry for mark in marks] != list(entries):
        raise ValueError("the stream's notifications must be the entries, in their order")
    return marks, changes


def _encode_whole(
    entries: Sequence[InboxEntry],
    broadcasts: Sequence[Notification],
    marks: Sequence[StreamNotification] | None = None,
    changes: Sequence[StreamChange] = (),
) -> bytes:
    """The batch as one message, whatever its size, in one ``orjson.dumps`` call."""
    times = _Times()
    bodies: dict[str, tuple[object, ...]] = {}
    rows: list[tuple[str, int, str, int]] = []
    append = rows.append
    routed_at: datetime | None = None
    routed_us = 0
    for entry in entries:
        note = entry.notification
        note_id = note.id
        if note_id not in bodies:
            bodies[note_id] = _body_row(note)
        if entry.routed_at is not routed_at:  # a routed batch shares one
            routed_at = entry.routed_at
            routed_us = times.micros(routed_at)
        append((entry.user_id, entry.seq, note_id, routed_us))
    for note in broadcasts:
        if note.id not in bodies:
            bodies[note.id] = _body_row(note)
    message: dict[str, object] = {
        "v": FORMAT_VERSION,
        "n": list(bodies.values()),
        "e": rows,
        "b": [note.id for note in broadcasts],
    }
    if marks:
        message["p"] = [mark_row(mark) for mark in marks]
    if changes:
        message["c"] = [change_row(change, times.micros) for change in changes]
    return orjson.dumps(message)


class _Splitter:
    """Packs entries and broadcasts, in order, into messages within the bounds."""

    def __init__(self, max_bytes: int, max_items: int) -> None:
        self._max_bytes = max_bytes
        self._max_items = max_items
        self._encoded: dict[str, bytes] = {}
        self._times = _Times()
        self.messages: list[_Message] = [_Message()]

    def _body(self, note: Notification) -> bytes:
        body = self._encoded.get(note.id)
        if body is None:
            body = self._encoded[note.id] = orjson.dumps(_body_row(note))
        return body

    def _target(self, note: Notification, piece: bytes) -> _Message:
        """The message ``piece`` goes in: the current one, or a new one when it would
        overflow; the piece's body is added to that message if not yet there."""
        current = self.messages[-1]
        body = None if note.id in current.bodies else self._body(note)
        cost = len(piece) + 1 + (0 if body is None else len(body) + 1)
        full = current.items >= self._max_items or current.size + cost > self._max_bytes
        if full and current.items:
            current = _Message()
            self.messages.append(current)
            body = self._body(note)
            cost = len(piece) + len(body) + 2
        if body is not None:
            current.bodies[note.id] = body
        current.size += cost
        current.items += 1
        return current

    def add_entry(self, entry: InboxEntry, mark: StreamNotification | None) -> None:
        note = entry.notification
        routed = self._times.micros(entry.routed_at)
        piece = orjson.dumps((entry.user_id, entry.seq, note.id, routed))
        marked = b"" if mark is None else orjson.dumps(mark_row(mark))
        message = self._target(note, piece + marked)
        message.entries.append(piece)
        if mark is not None:
            message.marks.append(marked)

    def add_broadcast(self, note: Notification) -> None:
        piece = orjson.dumps(note.id)
        self._target(note, piece).broadcasts.append(piece)

    def add_change(self, change: StreamChange) -> None:
        piece = orjson.dumps(change_row(change, self._times.micros))
        current = self.messages[-1]
        full = current.items >= self._max_items or current.size + len(piece) > self._max_bytes
        if full and current.items:
            current = _Message()
            self.messages.append(current)
        current.changes.append(piece)
        current.size += len(piece) + 1
        current.items += 1

    def encode(
        self,
        entries: Sequence[InboxEntry],
        broadcasts: Sequence[Notification],
        marks: Sequence[StreamNotification] | None = None,
        changes: Sequence[StreamChange] = (),
    ) -> list[bytes]:
        for index, entry in enumerate(entries):
            self.add_entry(entry, None if marks is None else marks[index])
        for note in broadcasts:
            self.add_broadcast(note)
        for change in changes:
            self.add_change(change)
        return [message.to_bytes() for message in self.messages if message.items]


def encode_live_messages(
    entries: Sequence[InboxEntry],
    broadcasts: Sequence[Notification],
    *,
    stream: Sequence[StreamItem] = (),
    max_bytes: int = MAX_MESSAGE_BYTES,
    max_items: int = MAX_MESSAGE_ITEMS,
) -> list[bytes]:
    """Encode a routed batch as one or more messages, to publish in the order returned.

    ``stream`` holds the batch's stream entries: one :class:`StreamNotification` per entry,
    in the entries' order, or none, and any changes. Each message holds at most
    ``max_items`` entries, broadcasts and changes together, and at most ``max_bytes`` bytes
    unless a single item with its body is larger by itself. Entries and changes keep their
    order across messages, and an entry's position travels in the entry's message. Returns
    ``[]`` for an empty batch. Raises ``ValueError`` for a naive datetime or a stream that
    does not match the entries, and ``TypeError`` for data orjson cannot encode.
    """
    if not entries and not broadcasts and not stream:
        return []
    marks, changes = _split_stream(entries, stream)
    # Most batches fit one message: encode them in one call, and split only the others.
    if len(entries) + len(broadcasts) + len(changes) <= max_items:
        message = _encode_whole(entries, broadcasts, marks, changes)
        if len(message) <= max_bytes:
            return [message]
    return _Splitter(max_bytes, max_items).encode(entries, broadcasts, marks, changes)


def encode_live_batch(
    entries: Sequence[InboxEntry],
    broadcasts: Sequence[Notification],
    stream: Sequence[StreamItem] = (),
) -> bytes:
    """Encode a routed batch as a single message, however large (see the module's format)."""
    marks, changes = _split_stream(entries, stream)
    return _encode_whole(entries, broadcasts, marks, changes)


def _decode_bodies(rows: list[Any], times: _Times) -> dict[str, Notification]:
    bodies: dict[str, Notification] = {}
    for row in rows:
        if type(row) is not list or len(row) != 5:
            raise ValueError("malformed notification in live message")
        note_id, event, data, created, origin = row
        valid = type(note_id) is str and type(event) is str and type(data) is dict
        if not valid or not (origin is None or type(origin) is str):
            raise ValueError("malformed notification in live message")
        bodies[note_id] = Notification(note_id, event, data, times.moment(created), origin)
    return bodies


def _decode_entries(
    rows: list[Any], bodies: dict[str, Notification], times: _Times
) -> tuple[InboxEntry, ...]:
    entries = []
    for row in rows:
        if type(row) is not list or len(row) != 4:
            raise ValueError("malformed entry in live message")
        user_id, seq, note_id, routed = row
        note = bodies.get(note_id) if type(note_id) is str else None
        if type(user_id) is not str or type(seq) is not int or seq < 1 or note is None:
            raise ValueError("malformed entry in live message")
        entries.append(InboxEntry(user_id, seq, note, times.moment(routed)))
    return tuple(entries)


def _decode_broadcast(value: object, bodies: dict[str, Notification]) -> Notification:
    note = bodies.get(value) if type(value) is str else None
    if note is None:
        raise ValueError("live broadcast refers to an unknown notification")
    return note


def decode_live_batch(data: bytes) -> LiveBatch:
    """Decode one message of :func:`encode_live_messages`; raises ``ValueError`` if malformed."""
    message: Any = orjson.loads(data)
    match message:
        case {"v": 1, "n": list(rows), "e": list(entry_rows), "b": list(broadcast_ids)}:
            times = _Times()
            bodies = _decode_bodies(rows, times)
            marks, changes = message.get("p", ()), message.get("c", ())
            if type(marks) not in (list, tuple) or type(changes) not in (list, tuple):
                raise ValueError("malformed stream in live message")
            return LiveBatch(
                _decode_entries(entry_rows, bodies, times),
                tuple(_decode_broadcast(value, bodies) for value in broadcast_ids),
                tuple(marks),
                tuple(changes),
            )
    raise ValueError("not a live message of version 1")

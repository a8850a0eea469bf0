"""The live wire format: what the worker publishes on Redis after each routed batch.

Redis pub/sub is only a signal. A subscriber that misses a message (Redis down, slow
consumer, reconnect) finds every entry in the store; a broadcast (``Everyone``) is best-effort
and is simply missed. One message carries a whole routed batch, because one asyncio
subscriber receives about 68k messages/s whatever their size.

Wire format (orjson, version 1)::

    {"v": 1,
     "n": [[notification_id, event, data, created_at_us, origin_session], ...],
     "e": [[user_id, seq, notification_id, routed_at_us], ...],
     "b": [notification_id, ...]}

Each notification body appears once per message; entries and broadcasts refer to it by id.
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

from outbox.records import InboxEntry, Notification
from outbox.timestamps import from_micros, to_micros

FORMAT_VERSION = 1
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_MESSAGE_ITEMS = 2000


@dataclass(frozen=True, slots=True)
class LiveBatch:
    """One decoded live message: entries in seq order per user, then broadcasts."""

    entries: tuple[InboxEntry, ...]
    broadcasts: tuple[Notification, ...]


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
    size: int = 32  # the envelope
    items: int = 0

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                b'{"v":%d,"n":[' % FORMAT_VERSION,
                b",".join(self.bodies.values()),
                b'],"e":[',
                b",".join(self.entries),
                b'],"b":[',
                b",".join(self.broadcasts),
                b"]}",
            )
        )


def _body_row(note: Notification) -> tuple[object, ...]:
    return (note.id, note.event, note.data, to_micros(note.created_at), note.origin_session)


def _encode_whole(entries: Sequence[InboxEntry], broadcasts: Sequence[Notification]) -> bytes:
    """The batch as one message, whatever its size, in one ``orjson.dumps`` call."""
    times = _Times()
    bodies: dict[str, tuple[object, ...]] = {}
    rows = []
    for entry in entries:
        note = entry.notification
        if note.id not in bodies:
            bodies[note.id] = _body_row(note)
        rows.append((entry.user_id, entry.seq, note.id, times.micros(entry.routed_at)))
    for note in broadcasts:
        if note.id not in bodies:
            bodies[note.id] = _body_row(note)
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "n": list(bodies.values()),
            "e": rows,
            "b": [note.id for note in broadcasts],
        }
    )


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

    def add_entry(self, entry: InboxEntry) -> None:
        note = entry.notification
        routed = self._times.micros(entry.routed_at)
        piece = orjson.dumps((entry.user_id, entry.seq, note.id, routed))
        self._target(note, piece).entries.append(piece)

    def add_broadcast(self, note: Notification) -> None:
        piece = orjson.dumps(note.id)
        self._target(note, piece).broadcasts.append(piece)

    def encode(
        self, entries: Sequence[InboxEntry], broadcasts: Sequence[Notification]
    ) -> list[bytes]:
        for entry in entries:
            self.add_entry(entry)
        for note in broadcasts:
            self.add_broadcast(note)
        return [message.to_bytes() for message in self.messages if message.items]


def encode_live_messages(
    entries: Sequence[InboxEntry],
    broadcasts: Sequence[Notification],
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    max_items: int = MAX_MESSAGE_ITEMS,
) -> list[bytes]:
    """Encode a routed batch as one or more messages, to publish in the order returned.

    Each message holds at most ``max_items`` entries and broadcasts together, and at most
    ``max_bytes`` bytes unless a single item with its body is larger by itself. Entries keep
    their order across messages. Returns ``[]`` for an empty batch. Raises ``ValueError`` for
    a naive datetime and ``TypeError`` for data orjson cannot encode.
    """
    if not entries and not broadcasts:
        return []
    # Most batches fit one message: encode them in one call, and split only the others.
    if len(entries) + len(broadcasts) <= max_items:
        message = _encode_whole(entries, broadcasts)
        if len(message) <= max_bytes:
            return [message]
    return _Splitter(max_bytes, max_items).encode(entries, broadcasts)


def encode_live_batch(entries: Sequence[InboxEntry], broadcasts: Sequence[Notification]) -> bytes:
    """Encode a routed batch as a single message, however large (see the module's format)."""
    return _encode_whole(entries, broadcasts)


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
            return LiveBatch(
                _decode_entries(entry_rows, bodies, times),
                tuple(_decode_broadcast(value, bodies) for value in broadcast_ids),
            )
    raise ValueError("not a live message of version 1")

"""The stream rows of the live wire format (``"p"`` and ``"c"``, see :mod:`outbox.live_wire`).

Encoding and decoding of one row each; times go through the caller's converters, so a message
converts each distinct time once.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from outbox.records import InboxEntry
from outbox.stream import ChangeOp, Counts, StreamChange, StreamNotification


def mark_row(placed: StreamNotification) -> tuple[object, ...]:
    """An entry's ``"p"`` row: position, counts after it, the seq it replaced."""
    return (placed.pos, placed.counts.unread, placed.counts.unarchived, placed.replaces)


def change_row(change: StreamChange, micros: Callable[[datetime], int]) -> tuple[object, ...]:
    """A change's ``"c"`` row."""
    counts = change.counts
    return (
        change.user_id,
        change.pos,
        change.op.value,
        change.seqs,
        change.upto,
        counts.unread,
        counts.unarchived,
        micros(change.at),
    )


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def decode_mark(row: Any, entry: InboxEntry) -> StreamNotification:
    """``entry`` placed by its ``"p"`` row; ``ValueError`` when the row is malformed."""
    if type(row) is not list or len(row) != 4:
        raise ValueError("malformed position in live message")
    pos, unread, unarchived, replaces = row
    valid = _is_count(pos) and _is_count(unread) and _is_count(unarchived)
    if not valid or not (replaces is None or _is_count(replaces)):
        raise ValueError("malformed position in live message")
    return StreamNotification(entry, pos, Counts(unread, unarchived), replaces)


def decode_change(row: Any, moment: Callable[[object], datetime]) -> StreamChange:
    """A change from its ``"c"`` row; ``ValueError`` when the row is malformed."""
    if type(row) is not list or len(row) != 8:
        raise ValueError("malformed change in live message")
    user_id, pos, op, seqs, upto, unread, unarchived, at = row
    valid = type(user_id) is str and _is_count(pos) and type(seqs) is list
    valid = valid and all(_is_count(seq) for seq in seqs) and (upto is None or _is_count(upto))
    if not valid or not (_is_count(unread) and _is_count(unarchived)):
        raise ValueError("malformed change in live message")
    try:
        kind = ChangeOp(op)
    except ValueError:
        raise ValueError("unknown change in live message") from None
    counts = Counts(unread, unarchived)
    return StreamChange(user_id, pos, kind, tuple(seqs), upto, counts, moment(at))

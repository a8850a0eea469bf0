"""Inbox state on the stream (protocol v2): frozen records, no behaviour.

A user's **stream** is every entry appended for the user, in one order: notifications (each
also has its protocol v1 ``seq``) and **changes** (read, unread, archive, unarchive, retract,
trim). Stream entries carry a second per-user position, ``pos`` = 1, 2, 3, ... with no gap
over all of them, while notifications keep their v1 ``seq`` = 1, 2, 3, ... over notifications
only. So a v1 client, which never sees a change, still sees seqs without gaps (v1's G3), and
a v2 client resumes from a ``pos`` and receives changes in order with the notifications.

Every stream entry records the user's **counts** right after it: unread and unarchived among
retained notifications that are not retracted. The store keeps the current counts beside the
head and changes them in the transaction that appends the entry, so they are never recounted.
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime

from outbox.records import InboxEntry

MAX_MARK_SEQS = 500


class ChangeOp(enum.StrEnum):
    """What a change does to the notifications it names."""

    READ = "read"
    UNREAD = "unread"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"
    RETRACT = "retract"  # the host retracted them, or a newer one with their collapse key
    TRIM = "trim"  # retention removed them


# The changes a client may ask for; the others come from the host and from retention.
CLIENT_OPS = frozenset({ChangeOp.READ, ChangeOp.UNREAD, ChangeOp.ARCHIVE, ChangeOp.UNARCHIVE})


@dataclass(frozen=True, slots=True)
class Counts:
    """Unread and unarchived notifications among the retained ones that are not retracted."""

    unread: int = 0
    unarchived: int = 0


@dataclass(frozen=True, slots=True)
class ItemState:
    """One notification's state for its user (the same on every device)."""

    read: bool = False
    archived: bool = False
    retracted: bool = False


@dataclass(frozen=True, slots=True)
class StreamNotification:
    """A notification as a stream entry: its v1 entry, its ``pos`` and the counts after it.

    ``replaces`` is the seq of the notification with the same collapse key that this one
    retracted for the user, if any.
    """

    entry: InboxEntry
    pos: int
    counts: Counts
    replaces: int | None = None

    @property
    def user_id(self) -> str:
        return self.entry.user_id


@dataclass(frozen=True, slots=True)
class StreamChange:
    """A change as a stream entry: ``op`` applied to ``seqs`` and to every seq <= ``upto``.

    Only notifications whose state the change altered are named in ``seqs``; ``upto`` names a
    range instead ("everything up to"), applied as a set operation, so applying a change twice
    is the same as once. ``at`` is when it was made (retention counts from it).
    """

    user_id: str
    pos: int
    op: ChangeOp
    seqs: tuple[int, ...]
    upto: int | None
    counts: Counts
    at: datetime


StreamItem = StreamNotification | StreamChange


@dataclass(frozen=True, slots=True)
class StreamHead:
    """A user's positions and counts, read together: ``pos`` (v2) and ``seq`` (v1 head)."""

    pos: int = 0
    seq: int = 0
    counts: Counts = field(default_factory=Counts)


@dataclass(frozen=True, slots=True)
class Mark:
    """A client's request: ``op`` on ``seqs``, or on every seq <= ``upto`` (exactly one)."""

    op: ChangeOp
    seqs: tuple[int, ...] = ()
    upto: int | None = None

    def __post_init__(self) -> None:
        if self.op not in CLIENT_OPS:
            raise ValueError(f"a client cannot ask for {self.op!r}")
        if (self.upto is None) == (not self.seqs):
            raise ValueError("a mark names either seqs or upto")

    @property
    def highest(self) -> int:
        """The highest seq the mark names."""
        return self.upto if self.upto is not None else max(self.seqs)


class MarkOutcome(enum.Enum):
    """What ``apply_mark`` did. Only ``APPLIED`` appended a change."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"  # every named notification already had that state
    ABOVE_HEAD = "seq_above_head"  # it names a seq above the user's v1 head; nothing stored


@dataclass(frozen=True, slots=True)
class MarkResult:
    """The outcome, the change appended (``APPLIED`` only) and the user's head after it."""

    outcome: MarkOutcome
    head: StreamHead
    change: StreamChange | None = None


@dataclass(frozen=True, slots=True)
class Appended:
    """What one routing transaction appended: v1 ``entries`` and the v2 ``stream`` entries.

    ``stream`` holds one :class:`StreamNotification` per entry, in the same order, and the
    retract changes, each user's in ``pos`` order.
    """

    entries: list[InboxEntry]
    stream: list[StreamItem]


@dataclass(frozen=True, slots=True)
class TrimReport:
    """What retention did: notification entries deleted and the trim changes appended."""

    deleted: int
    changes: tuple[StreamChange, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which notifications a listing returns (every field ``None`` or empty: no condition)."""

    read: bool | None = None
    archived: bool | None = None
    retracted: bool | None = False
    events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A retained notification with its current state, for listings."""

    entry: InboxEntry
    pos: int
    state: ItemState
    replaces: int | None = None

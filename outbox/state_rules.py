"""Pure decisions about inbox state that both stores make inside their transactions.

The stores read what these functions need (each user's stream counters, the notifications
that hold a collapse key, the state of what a change names) and write what they return, so the
rules that keep ``pos`` gap-free and the counts exact live here once. ``now`` is passed in.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from foundation.constants import RETRACT
from outbox.records import (
    Everyone,
    InboxEntry,
    Notification,
    Route,
    draft_class,
    inbox_entry,
)
from outbox.stream import (
    ChangeOp,
    Counts,
    ItemState,
    Mark,
    MarkOutcome,
    StreamChange,
    StreamItem,
    StreamNotification,
)

# A trim names at most this many seqs per change, so that no frame grows with a backlog.
MAX_TRIM_SEQS: Final = 1000

# What each client operation sets: (attribute of ItemState, value).
OP_SETS: Final = {
    ChangeOp.READ: ("read", True),
    ChangeOp.UNREAD: ("read", False),
    ChangeOp.ARCHIVE: ("archived", True),
    ChangeOp.UNARCHIVE: ("archived", False),
}


@dataclass(frozen=True, slots=True)
class UserStream:
    """A user's stream counters as stored: the last ``pos`` and the current counts."""

    pos: int = 0
    unread: int = 0
    unarchived: int = 0

    @property
    def counts(self) -> Counts:
        return Counts(self.unread, self.unarchived)

    def next(self, unread: int = 0, unarchived: int = 0) -> "UserStream":
        """The counters after one more entry that moves the counts by the given amounts."""
        return UserStream(self.pos + 1, self.unread + unread, self.unarchived + unarchived)


_StreamDraft = draft_class(UserStream)
_PlacedDraft = draft_class(StreamNotification)
_CountsDraft = draft_class(Counts)


def user_stream(pos: int, unread: int, unarchived: int) -> UserStream:
    """``UserStream(pos, unread, unarchived)``, built as a draft (see
    :func:`outbox.records.draft_class`)."""
    draft = _StreamDraft()
    draft.pos = pos
    draft.unread = unread
    draft.unarchived = unarchived
    draft.__class__ = UserStream
    stream: UserStream = draft
    return stream


NO_STREAM: Final = UserStream()


def placed_notification(
    entry: InboxEntry, pos: int, unread: int, unarchived: int, replaces: int | None
) -> StreamNotification:
    """``StreamNotification(entry, pos, Counts(unread, unarchived), replaces)``, both built as
    drafts (see :func:`outbox.records.draft_class`: this runs once per routed entry)."""
    counts = _CountsDraft()
    counts.unread = unread
    counts.unarchived = unarchived
    counts.__class__ = Counts
    draft = _PlacedDraft()
    draft.entry = entry
    draft.pos = pos
    draft.counts = counts
    draft.replaces = replaces
    draft.__class__ = StreamNotification
    placed: StreamNotification = draft
    return placed


@dataclass(frozen=True, slots=True)
class Holding:
    """A user's notification that is not retracted and holds a collapse key."""

    user_id: str
    seq: int
    read: bool = False
    archived: bool = False

    @property
    def weight(self) -> tuple[int, int]:
        """What the notification adds to (unread, unarchived)."""
        return (0 if self.read else 1, 0 if self.archived else 1)


def counted(state: ItemState) -> tuple[int, int]:
    """What a notification in ``state`` adds to (unread, unarchived)."""
    if state.retracted:
        return (0, 0)
    return (0 if state.read else 1, 0 if state.archived else 1)


@dataclass(slots=True)
class StreamPlan:
    """What a routing transaction writes for protocol v2, besides the v1 entries.

    ``notifications`` and ``collapse_keys`` run parallel to the entries; ``retracted`` are the
    notifications to mark retracted; ``users`` the new counters of every user appended to.
    """

    notifications: list[StreamNotification] = field(default_factory=list)
    collapse_keys: list[str | None] = field(default_factory=list)
    changes: list[StreamChange] = field(default_factory=list)
    retracted: list[Holding] = field(default_factory=list)
    users: dict[str, UserStream] = field(default_factory=dict)

    def stream(self) -> list[StreamItem]:
        """The stream entries, notifications first (each user's in ``pos`` order)."""
        return [*self.notifications, *self.changes]


class _Planner:
    """Walks a batch in route order. Counters are mutable ``[pos, unread, unarchived]`` lists
    while planning (one per user, not one frozen record per entry: this runs per entry)."""

    def __init__(
        self,
        users: Mapping[str, UserStream],
        holdings: Mapping[tuple[str, str], Holding],
        now: datetime,
    ) -> None:
        self.plan = StreamPlan()
        self.stored = users
        self.counters: dict[str, list[int]] = {}
        self.holdings = dict(holdings)
        self.now = now

    def counter(self, user_id: str) -> list[int]:
        counter = self.counters.get(user_id)
        if counter is None:
            stored = self.stored.get(user_id) or UserStream()
            counter = self.counters[user_id] = [stored.pos, stored.unread, stored.unarchived]
        return counter

    def notify(self, entry: InboxEntry, key: str | None) -> None:
        user = entry.user_id
        counter = self.counter(user)
        counter[0] += 1
        replaces = None
        if key is None:
            counter[1] += 1
            counter[2] += 1
        else:
            old = self.holdings.pop((user, key), None)
            unread, unarchived = old.weight if old is not None else (0, 0)
            counter[1] += 1 - unread
            counter[2] += 1 - unarchived
            if old is not None:
                self.plan.retracted.append(old)
                replaces = old.seq
            self.holdings[(user, key)] = Holding(user, entry.seq)
        placed = placed_notification(entry, counter[0], counter[1], counter[2], replaces)
        self.plan.notifications.append(placed)
        self.plan.collapse_keys.append(key)

    def retract(self, key: str, users: Iterable[str]) -> None:
        for user in users:
            held = self.holdings.pop((user, key), None)
            if held is None:
                continue
            unread, unarchived = held.weight
            counter = self.counter(user)
            counter[0] += 1
            counter[1] -= unread
            counter[2] -= unarchived
            self.plan.retracted.append(held)
            counts = Counts(counter[1], counter[2])
            change = StreamChange(
                user, counter[0], ChangeOp.RETRACT, (held.seq,), None, counts, self.now
            )
            self.plan.changes.append(change)

    def holders(self, key: str) -> list[str]:
        return sorted(user for (user, held_key) in self.holdings if held_key == key)

    def finish(self) -> StreamPlan:
        self.plan.users = {user: user_stream(*counter) for user, counter in self.counters.items()}
        return self.plan


def plan_stream(
    routes: Sequence[Route],
    entries: Sequence[InboxEntry],
    users: Mapping[str, UserStream],
    holdings: Mapping[tuple[str, str], Holding],
    now: datetime,
) -> StreamPlan:
    """Place the batch on the users' streams, in route order.

    ``entries`` are the v1 entries the batch creates for its notification routes, in route
    then recipient order (as :func:`outbox.sequencing.plan_entries` makes them: a
    subsequence of the (route, recipient) pairs), ``users`` the stored counters of the users
    concerned (absent: none yet), ``holdings`` the stored notifications holding a collapse
    key that the batch names, by (user, key). Each entry gets the next ``pos``; one with a
    collapse key retracts the user's notification holding it (``replaces``). A ``RETRACT``
    route retracts, for each of its recipients (for an ``Everyone`` audience: every holder, by
    user id), the notification holding its key, and appends a ``retract`` change. The counts
    move with each entry.
    """
    planner = _Planner(users, holdings, now)
    index = 0
    for route in routes:
        record = route.record
        if record.kind == RETRACT:
            if record.collapse_key is not None:
                everyone = isinstance(record.audience, Everyone)
                targets = planner.holders(record.collapse_key) if everyone else route.recipients
                planner.retract(record.collapse_key, targets)
            continue
        index = _place(planner, route, entries, index)
    return planner.finish()


def plan_plain(
    routes: Sequence[Route],
    bodies: Mapping[str, Notification],
    held: set[tuple[str, str]],
    counters: Mapping[str, Sequence[int]],
    now: datetime,
) -> tuple[list[InboxEntry], StreamPlan, dict[str, int]]:
    """:func:`outbox.sequencing.plan_entries`, then :func:`plan_stream`, then the new heads
    (:func:`outbox.sequencing.heads_after`), in one pass, for the usual batch: notifications
    (``NOTIFY`` routes) without a collapse key, which retract nothing.

    ``counters`` holds each user's stored ``(head, pos, unread, unarchived)`` (absent: none
    yet); the other arguments are :func:`outbox.sequencing.plan_entries`'. Returns what the
    three return, the same in every respect (``tests/test_state_rules.py`` compares them).
    """
    held = set(held)
    entries: list[InboxEntry] = []
    placed: list[StreamNotification] = []
    state: dict[str, list[int]] = {}
    add_entry, add_placed, get_state = entries.append, placed.append, state.get
    for route in routes:
        notification = bodies[route.record.notification_id]
        note_id = notification.id
        for user in route.recipients:
            pair = (user, note_id)
            if pair in held:
                continue
            held.add(pair)
            counter = get_state(user)
            if counter is None:
                counter = state[user] = list(counters.get(user, _NO_COUNTERS))
            counter[0] += 1
            counter[1] += 1
            counter[2] += 1
            counter[3] += 1
            entry = inbox_entry(user, counter[0], notification, now)
            add_entry(entry)
            add_placed(placed_notification(entry, counter[1], counter[2], counter[3], None))
    plan = StreamPlan(
        notifications=placed,
        collapse_keys=[None] * len(placed),
        users={user: user_stream(c[1], c[2], c[3]) for user, c in state.items()},
    )
    return entries, plan, {user: counter[0] for user, counter in state.items()}


_NO_COUNTERS: Final = (0, 0, 0, 0)


def _place(planner: _Planner, route: Route, entries: Sequence[InboxEntry], index: int) -> int:
    """Place the entries of one notification route, from ``entries[index]``; return the index
    of the first entry of the next route. Routes without a collapse key take a fast path
    (this runs once per entry of every routed batch)."""
    notification_id, key = route.record.notification_id, route.record.collapse_key
    placed, keys = planner.plan.notifications.append, planner.plan.collapse_keys.append
    counters, count = planner.counters, len(entries)
    for user in route.recipients:
        if index == count:
            break
        entry = entries[index]
        if entry.user_id != user or entry.notification.id != notification_id:
            continue
        index += 1
        if key is not None:
            planner.notify(entry, key)
            continue
        counter = counters.get(user) or planner.counter(user)
        counter[0] += 1
        counter[1] += 1
        counter[2] += 1
        placed(placed_notification(entry, counter[0], counter[1], counter[2], None))
        keys(None)
    return index


def mark_refused(mark: Mark, head_seq: int) -> MarkOutcome | None:
    """``ABOVE_HEAD`` when ``mark`` names a seq above the user's v1 head, else ``None``."""
    return MarkOutcome.ABOVE_HEAD if mark.highest > head_seq else None


def after_mark(user: UserStream, op: ChangeOp, changed: int) -> UserStream:
    """The counters after a change of ``op`` that altered ``changed`` notifications."""
    attribute, value = OP_SETS[op]
    delta = -changed if value else changed
    if attribute == "read":
        return user.next(unread=delta)
    return user.next(unarchived=delta)


def mark_change(
    user_id: str, mark: Mark, changed: Sequence[int], user: UserStream, now: datetime
) -> tuple[StreamChange, UserStream]:
    """The change a mark appends, having altered ``changed`` (its seqs, for a seqs mark), and
    the counters after it. For an ``upto`` mark only ``len(changed)`` matters."""
    after = after_mark(user, mark.op, len(changed))
    seqs = () if mark.upto is not None else tuple(sorted(changed))
    change = StreamChange(user_id, after.pos, mark.op, seqs, mark.upto, after.counts, now)
    return change, after


def unchanged_by(mark: Mark, state: ItemState) -> bool:
    """Whether ``mark`` leaves a notification in ``state`` as it is (retracted: always)."""
    attribute, value = OP_SETS[mark.op]
    return state.retracted or getattr(state, attribute) == value


def applied(state: ItemState, op: ChangeOp) -> ItemState:
    """``state`` after a client operation ``op``."""
    attribute, value = OP_SETS[op]
    return replace(state, **{attribute: value})


def plan_trim(
    trimmed: Mapping[str, Sequence[tuple[int, ItemState]]],
    users: Mapping[str, UserStream],
    now: datetime,
) -> tuple[list[StreamChange], dict[str, UserStream]]:
    """The trim changes for notifications retention deleted, and the counters after them.

    ``trimmed`` maps each user to the (seq, state) of their deleted notifications. Each user
    gets one change per :data:`MAX_TRIM_SEQS` seqs, ascending; the counts drop by what the
    deleted notifications counted for.
    """
    changes: list[StreamChange] = []
    after: dict[str, UserStream] = {}
    for user_id in sorted(trimmed):
        gone = sorted(trimmed[user_id])
        user = users.get(user_id, UserStream())
        for start in range(0, len(gone), MAX_TRIM_SEQS):
            chunk = gone[start : start + MAX_TRIM_SEQS]
            unread = sum(counted(state)[0] for _, state in chunk)
            unarchived = sum(counted(state)[1] for _, state in chunk)
            user = user.next(-unread, -unarchived)
            seqs = tuple(seq for seq, _ in chunk)
            changes.append(
                StreamChange(user_id, user.pos, ChangeOp.TRIM, seqs, None, user.counts, now)
            )
        after[user_id] = user
    return changes, after

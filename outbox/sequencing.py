"""Pure decisions both stores make inside their routing and ack transactions.

The stores read what these functions need (stored bodies, who already holds a notification,
heads, stored acks) and write what they return; the rules that make G2 and G3 hold live
here once.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

from outbox.records import AckOutcome, InboxEntry, Notification, Route, inbox_entry


def batch_bodies(
    routes: Sequence[Route], stored: Mapping[str, Notification]
) -> tuple[dict[str, Notification], list[Notification]]:
    """The body of every notification id in ``routes`` and the bodies still to store.

    A body already stored wins over the route's (a repeated dedup key keeps the first emit's
    data); otherwise the first route of an id gives its body.
    """
    bodies = dict(stored)
    new: list[Notification] = []
    for route in routes:
        notification_id = route.record.notification_id
        if notification_id not in bodies:
            bodies[notification_id] = route.record.notification()
            new.append(bodies[notification_id])
    return bodies, new


def plan_entries(
    routes: Sequence[Route],
    bodies: Mapping[str, Notification],
    held: set[tuple[str, str]],
    heads: Mapping[str, int],
    now: datetime,
) -> list[InboxEntry]:
    """The entries that appending ``routes`` creates, in route then recipient order.

    ``held`` holds the (user, notification id) pairs already in inboxes and ``heads`` the
    users' current heads (absent means 0). A pair is appended at most once, also when it
    repeats inside ``routes`` (G2); each user's seqs continue from the head with no gap (G3).
    """
    held = set(held)
    next_heads = dict(heads)
    entries: list[InboxEntry] = []
    append, head = entries.append, next_heads.get
    for route in routes:
        notification = bodies[route.record.notification_id]
        note_id = notification.id
        for user in route.recipients:
            pair = (user, note_id)
            if pair in held:
                continue
            held.add(pair)
            next_heads[user] = seq = head(user, 0) + 1
            append(inbox_entry(user, seq, notification, now))
    return entries


def heads_after(entries: Sequence[InboxEntry]) -> dict[str, int]:
    """The new head of every user that ``entries`` (in seq order per user) append to."""
    return {entry.user_id: entry.seq for entry in entries}


def ack_outcome(stored: int, head: int, seq: int) -> AckOutcome:
    """What a cumulative ack of ``seq`` does, given the stored ack and the user's head."""
    if seq == stored:
        return AckOutcome.UNCHANGED
    if seq < stored:
        return AckOutcome.STALE
    if seq > head:
        return AckOutcome.ABOVE_HEAD
    return AckOutcome.STORED

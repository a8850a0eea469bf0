"""Version 3: inbox state on the stream (protocol v2). Safe to run again.

Inbox entries get their stream position ``pos``, their state (``read``, ``archived``,
``retracted``; missing means false), the ``collapse_key`` they hold, the seq they
``replaces``, the counts right after them (``unread_after``, ``unarchived_after``) and their
notification's ``event`` (copied, so that listings filter by event without a join).
Counters get the last ``pos`` and the current ``unread`` and ``unarchived`` counts.
``tidings_changes`` holds the other stream entries, ``tidings_stream_acks`` each device's
acknowledged ``pos``.

Entries routed before this version were notifications only, so their ``pos`` is their ``seq``;
they are unread and unarchived, and each counts after it the retained entries up to it.

The inbox TTL index goes: MongoDB's TTL monitor deletes documents outside any transaction,
which would leave the counts above what is retained. Retention is the worker's trim, which
adjusts the counts in the transaction that deletes (it ran beside the TTL index already); a
plain index on ``routed_at`` takes the TTL index's place for it (after it, since one key
pattern cannot have two indexes with different options).
"""

from typing import Final

from foundation.constants import CHANGES, COUNTERS, INBOX, NOTIFICATIONS, STREAM_ACKS
from migrations.mongo.steps import (
    Aggregate,
    CreateCollections,
    CreateIndexes,
    DropIndex,
    Index,
    Step,
    UpdateMany,
)

INBOX_TTL_INDEX: Final = "inbox_routed_ttl"

_RANK_ENTRIES: Final = (
    {"$match": {"unread_after": {"$exists": False}}},
    {
        "$setWindowFields": {
            "partitionBy": "$user_id",
            "sortBy": {"seq": 1},
            "output": {"n": {"$documentNumber": {}}},
        }
    },
    {"$project": {"pos": "$seq", "unread_after": "$n", "unarchived_after": "$n"}},
    {"$merge": {"into": INBOX, "on": "_id", "whenMatched": "merge", "whenNotMatched": "discard"}},
)

_COPY_EVENTS: Final = (
    {"$match": {"event": {"$exists": False}}},
    {
        "$lookup": {
            "from": NOTIFICATIONS,
            "localField": "notification_id",
            "foreignField": "_id",
            "as": "body",
        }
    },
    {"$project": {"event": {"$first": "$body.event"}}},
    {"$merge": {"into": INBOX, "on": "_id", "whenMatched": "merge", "whenNotMatched": "discard"}},
)

_COUNT_ENTRIES: Final = (
    {"$group": {"_id": "$user_id", "n": {"$sum": 1}}},
    {"$project": {"unread": "$n", "unarchived": "$n"}},
    {
        "$merge": {
            "into": COUNTERS,
            "on": "_id",
            "whenMatched": "merge",
            "whenNotMatched": "discard",
        }
    },
)

_COUNTER_DEFAULTS: Final = (
    {
        "$set": {
            "pos": "$head",
            "unread": {"$ifNull": ["$unread", 0]},
            "unarchived": {"$ifNull": ["$unarchived", 0]},
        }
    },
)

# A notification holding a collapse key that is not retracted, found by key (and user).
COLLAPSE_FILTER: Final = {"collapse_key": {"$exists": True}, "retracted": False}

STEPS: Final[tuple[Step, ...]] = (
    CreateCollections((CHANGES, STREAM_ACKS)),
    Aggregate(INBOX, _RANK_ENTRIES),
    Aggregate(INBOX, _COPY_EVENTS),
    # Counting again after a crash gives the same counts: nothing else writes before the
    # version is recorded (the store refuses to open until then).
    Aggregate(INBOX, _COUNT_ENTRIES),
    UpdateMany(COUNTERS, {"pos": {"$exists": False}}, _COUNTER_DEFAULTS),
    DropIndex(INBOX, INBOX_TTL_INDEX),
    CreateIndexes(
        INBOX,
        (
            # Retention finds old entries by when they were routed.
            Index("inbox_routed", (("routed_at", 1),)),
            # G3 on the stream: one entry per (user, pos) among notifications.
            Index("inbox_user_pos", (("user_id", 1), ("pos", 1)), unique=True),
            Index(
                "inbox_collapse",
                (("collapse_key", 1), ("user_id", 1)),
                partial=COLLAPSE_FILTER,
            ),
        ),
    ),
    CreateIndexes(
        CHANGES,
        (
            Index("changes_user_pos", (("user_id", 1), ("pos", 1)), unique=True),
            # Retention finds old changes by when they were made.
            Index("changes_at", (("at", 1),)),
        ),
    ),
)

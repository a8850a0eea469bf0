"""The MongoDB store's schema history: forward-only versions, as declarative steps.

Each version is a module of its own (``v<N>_<name>.py``) holding its steps; this package lists
them in order and declares the indexes a fully migrated database holds. It is schema only,
with no driver: ``outbox.stores.mongo.schema`` carries the steps out and records each version
in ``tidings_migrations`` after it succeeds, so every step must be safe to run again after a
crash between the two (creating an index that exists with the same options is a no-op).
Never edit a released version: add the next one.

Up to version 2 an inbox TTL index (:data:`INBOX_TTL_INDEX` on ``routed_at``) deleted old
entries; version 3 drops it, because the counts must change in the transaction that deletes
(see ``v3_inbox_state``). Retention is the worker's trim alone.
"""

from collections.abc import Mapping
from typing import Any, Final

from foundation.constants import (
    ACKS,
    CHANGES,
    COUNTERS,
    INBOX,
    LEASES,
    MIGRATIONS,
    NOTIFICATIONS,
    OUTBOX,
    STREAM_ACKS,
)
from migrations.mongo import v1_initial_schema, v2_routed_leave_the_outbox, v3_inbox_state
from migrations.mongo.steps import MongoMigration
from migrations.mongo.v3_inbox_state import COLLAPSE_FILTER, INBOX_TTL_INDEX

# (keys in order, unique, expireAfterSeconds or None, partial filter or None)
type IndexSpec = tuple[tuple[tuple[str, int], ...], bool, int | None, Mapping[str, Any] | None]


MONGO_MIGRATIONS: Final[tuple[MongoMigration, ...]] = (
    MongoMigration(1, "initial collections and indexes", v1_initial_schema.STEPS),
    MongoMigration(2, "routed records leave the outbox", v2_routed_leave_the_outbox.STEPS),
    MongoMigration(3, "inbox state on the stream", v3_inbox_state.STEPS),
)
LATEST_MONGO_VERSION: Final = MONGO_MIGRATIONS[-1].version

# The indexes every migrated database holds, ``_id_`` left out. Acks and stream acks
# (``_id`` = user and device), counters (``_id`` = user), leases and migrations need no index
# besides ``_id``.
DECLARED_MONGO_INDEXES: Final[Mapping[str, Mapping[str, IndexSpec]]] = {
    OUTBOX: {"outbox_claim": ((("status", 1), ("created_us", 1), ("_id", 1)), False, None, None)},
    NOTIFICATIONS: {"notifications_stored_at": ((("stored_at", 1),), False, None, None)},
    INBOX: {
        "inbox_user_seq": ((("user_id", 1), ("seq", 1)), True, None, None),
        "inbox_notification_user": ((("notification_id", 1), ("user_id", 1)), True, None, None),
        "inbox_routed": ((("routed_at", 1),), False, None, None),
        "inbox_user_pos": ((("user_id", 1), ("pos", 1)), True, None, None),
        "inbox_collapse": ((("collapse_key", 1), ("user_id", 1)), False, None, COLLAPSE_FILTER),
    },
    CHANGES: {
        "changes_user_pos": ((("user_id", 1), ("pos", 1)), True, None, None),
        "changes_at": ((("at", 1),), False, None, None),
    },
    COUNTERS: {},
    ACKS: {},
    STREAM_ACKS: {},
    LEASES: {},
    MIGRATIONS: {},
}

__all__ = [
    "INBOX_TTL_INDEX",
    "LATEST_MONGO_VERSION",
    "MONGO_MIGRATIONS",
]

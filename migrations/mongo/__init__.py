"""The MongoDB store's schema history: forward-only versions, as declarative steps.

Each version is a module of its own (``v<N>_<name>.py``) holding its steps; this package lists
them in order and declares the indexes a fully migrated database holds. It is schema only,
with no driver: ``outbox.stores.mongo.schema`` carries the steps out and records each version
in ``tidings_migrations`` after it succeeds, so every step must be safe to run again after a
crash between the two (creating an index that exists with the same options is a no-op).
Never edit a released version: add the next one.

The inbox TTL index (:data:`INBOX_TTL_INDEX` on ``routed_at``) is configuration rather than
schema: its ``expireAfterSeconds`` is the retention, set on every ``tidings migrate``.
"""

from collections.abc import Mapping
from typing import Final

from foundation.constants import ACKS, COUNTERS, INBOX, LEASES, MIGRATIONS, NOTIFICATIONS, OUTBOX
from migrations.mongo import v1_initial_schema, v2_routed_leave_the_outbox
from migrations.mongo.steps import MongoMigration

# (keys in order, unique, expireAfterSeconds or None)
type IndexSpec = tuple[tuple[tuple[str, int], ...], bool, int | None]

DEFAULT_RETENTION_SECONDS: Final = 7 * 24 * 3600
INBOX_TTL_INDEX: Final = "inbox_routed_ttl"


MONGO_MIGRATIONS: Final[tuple[MongoMigration, ...]] = (
    MongoMigration(1, "initial collections and indexes", v1_initial_schema.STEPS),
    MongoMigration(2, "routed records leave the outbox", v2_routed_leave_the_outbox.STEPS),
)
LATEST_MONGO_VERSION: Final = MONGO_MIGRATIONS[-1].version

# The indexes every migrated database holds, ``_id_`` left out; the TTL shows the default
# retention. Acks (``_id`` = user and device), counters (``_id`` = user), leases and
# migrations need no index besides ``_id``.
DECLARED_MONGO_INDEXES: Final[Mapping[str, Mapping[str, IndexSpec]]] = {
    OUTBOX: {"outbox_claim": ((("status", 1), ("created_us", 1), ("_id", 1)), False, None)},
    NOTIFICATIONS: {"notifications_stored_at": ((("stored_at", 1),), False, None)},
    INBOX: {
        "inbox_user_seq": ((("user_id", 1), ("seq", 1)), True, None),
        "inbox_notification_user": ((("notification_id", 1), ("user_id", 1)), True, None),
        INBOX_TTL_INDEX: ((("routed_at", 1),), False, DEFAULT_RETENTION_SECONDS),
    },
    COUNTERS: {},
    ACKS: {},
    LEASES: {},
    MIGRATIONS: {},
}

"""Version 1 of the MongoDB schema: the collections and their indexes, as first released."""

from typing import Final

from foundation.constants import ACKS, COUNTERS, INBOX, LEASES, MIGRATIONS, NOTIFICATIONS, OUTBOX
from migrations.mongo.steps import CreateCollections, CreateIndexes, Index, Step

STEPS: Final[tuple[Step, ...]] = (
    # Explicit creation: a transaction may not create a collection on older servers or on
    # sharded clusters, and the store writes every collection inside transactions.
    CreateCollections((OUTBOX, NOTIFICATIONS, INBOX, COUNTERS, ACKS, LEASES, MIGRATIONS)),
    # Pending records in claim order; also counts pending/dead and finds the oldest one.
    CreateIndexes(OUTBOX, (Index("outbox_claim", (("status", 1), ("created_us", 1), ("_id", 1))),)),
    # Trim finds old bodies by the last time a route used them.
    CreateIndexes(NOTIFICATIONS, (Index("notifications_stored_at", (("stored_at", 1),)),)),
    CreateIndexes(
        INBOX,
        (
            # G3: one entry per (user, seq); replay reads ranges of it.
            Index("inbox_user_seq", (("user_id", 1), ("seq", 1)), unique=True),
            # (user, notification id) is unique; notification id first so that trim and the
            # router look entries up by notification.
            Index("inbox_notification_user", (("notification_id", 1), ("user_id", 1)), unique=True),
        ),
    ),
)

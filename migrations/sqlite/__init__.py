"""The embedded SQLite store's schema history: forward-only versions, as SQL statements.

Each version is a module of its own (``v<N>_<name>.py``) holding its statements; this package
lists them in order and declares the indexes a fully migrated database holds. It is schema
only: ``outbox.stores.sqlite.schema`` applies the versions, each in one ``BEGIN IMMEDIATE``
transaction that also records it in ``tidings_migrations``, so a crash leaves either the
whole version or none of it, and two processes migrating at once apply each version once.
Never edit a released version: add the next one.

The declared schema (:data:`DECLARED_SQLITE_INDEXES`) lists every index, automatic ones
included: SQLite names the indexes behind ``PRIMARY KEY`` and ``UNIQUE`` constraints
``sqlite_autoindex_<table>_<n>``, numbered in the order the constraints appear, and those
constraints are what make repeated inbox appends no-ops (G2, G3), so the migration test checks
them like any other index. An ``INTEGER PRIMARY KEY`` is the rowid itself and has no index.
The outbox has no index but its ``id`` (see version 4): the claim walks it in rowid order.
"""

from dataclasses import dataclass
from typing import Final, NamedTuple

from foundation.constants import (
    ACKS,
    CHANGES,
    COUNTERS,
    INBOX,
    LEASES,
    MIGRATIONS,
    NOTIFICATIONS,
    OUTBOX,
    OUTBOX_DEAD,
    STREAM_ACKS,
)
from migrations.sqlite import (
    v1_initial_schema,
    v2_routed_leave_the_outbox,
    v3_inbox_state,
    v4_outbox_holds_pending_only,
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: statements applied together, in order, in one transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


class IndexSpec(NamedTuple):
    """An index as the migration test compares it: table, key columns in order, uniqueness,
    and the ``WHERE`` condition of a partial index, as written in its statement."""

    table: str
    columns: tuple[str, ...]
    unique: bool
    where: str | None = None


SQLITE_MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "initial schema", v1_initial_schema.STATEMENTS),
    Migration(2, "routed records leave the outbox", v2_routed_leave_the_outbox.STATEMENTS),
    Migration(3, "inbox state on the stream", v3_inbox_state.STATEMENTS),
    Migration(4, "the outbox holds pending records only", v4_outbox_holds_pending_only.STATEMENTS),
)
LATEST_SQLITE_VERSION: Final = SQLITE_MIGRATIONS[-1].version

DECLARED_SQLITE_INDEXES: Final[dict[str, IndexSpec]] = {
    f"sqlite_autoindex_{OUTBOX}_1": IndexSpec(OUTBOX, ("id",), True),
    f"sqlite_autoindex_{OUTBOX_DEAD}_1": IndexSpec(OUTBOX_DEAD, ("id",), True),
    f"sqlite_autoindex_{NOTIFICATIONS}_1": IndexSpec(NOTIFICATIONS, ("id",), True),
    f"{NOTIFICATIONS}_created": IndexSpec(NOTIFICATIONS, ("created_at",), False),
    f"sqlite_autoindex_{INBOX}_1": IndexSpec(INBOX, ("user_id", "seq"), True),
    f"sqlite_autoindex_{INBOX}_2": IndexSpec(INBOX, ("notification_id", "user_id"), True),
    f"{INBOX}_routed": IndexSpec(INBOX, ("routed_at",), False),
    f"{INBOX}_pos": IndexSpec(INBOX, ("user_id", "pos"), True),
    f"{INBOX}_collapse": IndexSpec(
        INBOX,
        ("collapse_key", "user_id"),
        False,
        "collapse_key IS NOT NULL AND is_retracted = 0",
    ),
    f"sqlite_autoindex_{COUNTERS}_1": IndexSpec(COUNTERS, ("user_id",), True),
    f"sqlite_autoindex_{ACKS}_1": IndexSpec(ACKS, ("user_id", "device"), True),
    f"sqlite_autoindex_{LEASES}_1": IndexSpec(LEASES, ("name",), True),
    f"sqlite_autoindex_{CHANGES}_1": IndexSpec(CHANGES, ("user_id", "pos"), True),
    f"{CHANGES}_at": IndexSpec(CHANGES, ("at",), False),
    f"sqlite_autoindex_{STREAM_ACKS}_1": IndexSpec(STREAM_ACKS, ("user_id", "device"), True),
}

# The table that records applied versions; created by the applier before version 1.
CREATE_MIGRATIONS_TABLE: Final = f"""CREATE TABLE IF NOT EXISTS {MIGRATIONS} (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)"""

"""Version 3: inbox state on the stream (protocol v2).

- Outbox records get a ``kind`` (``notify`` or ``retract``) and a ``collapse_key``.
- Inbox entries get their stream position ``pos``, their state (``is_read``, ``is_archived``,
  ``is_retracted``), the ``collapse_key`` they hold, the seq they ``replaces``, and the counts
  right after them (``unread_after``, ``unarchived_after``).
- Counters get the last ``pos`` and the current ``unread`` and ``unarchived`` counts.
- ``tidings_changes`` holds the other stream entries (read, archive, retract, trim, ...) and
  ``tidings_stream_acks`` each device's acknowledged ``pos``.

Entries routed before this version were notifications only, so their ``pos`` is their
``seq``; they are unread and unarchived, and each counts after it the retained entries up to
it. The unique (user, pos) index comes after that backfill. No default is given to ``pos`` on
purpose: code from before this version would write 0 and fail on that index, rather than
break the stream.
"""

from typing import Final

from foundation.constants import CHANGES, COUNTERS, INBOX, OUTBOX, STREAM_ACKS

_INBOX_COLUMNS: Final = (
    "pos INTEGER NOT NULL DEFAULT 0",
    "is_read INTEGER NOT NULL DEFAULT 0",
    "is_archived INTEGER NOT NULL DEFAULT 0",
    "is_retracted INTEGER NOT NULL DEFAULT 0",
    "collapse_key TEXT",
    "replaces INTEGER",
    "unread_after INTEGER NOT NULL DEFAULT 0",
    "unarchived_after INTEGER NOT NULL DEFAULT 0",
)

STATEMENTS: Final = (
    f"ALTER TABLE {OUTBOX} ADD COLUMN kind TEXT NOT NULL DEFAULT 'notify'",
    f"ALTER TABLE {OUTBOX} ADD COLUMN collapse_key TEXT",
    *(f"ALTER TABLE {INBOX} ADD COLUMN {column}" for column in _INBOX_COLUMNS),
    f"""UPDATE {INBOX} SET pos = {INBOX}.seq, unread_after = ranked.n,
        unarchived_after = ranked.n
        FROM (SELECT user_id, seq,
                     ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY seq) AS n
              FROM {INBOX}) AS ranked
        WHERE ranked.user_id = {INBOX}.user_id AND ranked.seq = {INBOX}.seq""",
    # G3 on the stream: one entry per (user, pos) among notifications.
    f"CREATE UNIQUE INDEX {INBOX}_pos ON {INBOX} (user_id, pos)",
    # Finds the notification a collapse key names, for one user or for all of them.
    f"CREATE INDEX {INBOX}_collapse ON {INBOX} (collapse_key, user_id) "
    "WHERE collapse_key IS NOT NULL AND is_retracted = 0",
    f"ALTER TABLE {COUNTERS} ADD COLUMN pos INTEGER NOT NULL DEFAULT 0",
    f"ALTER TABLE {COUNTERS} ADD COLUMN unread INTEGER NOT NULL DEFAULT 0",
    f"ALTER TABLE {COUNTERS} ADD COLUMN unarchived INTEGER NOT NULL DEFAULT 0",
    f"""UPDATE {COUNTERS} SET pos = head,
        unread = (SELECT COUNT(*) FROM {INBOX} WHERE {INBOX}.user_id = {COUNTERS}.user_id),
        unarchived = (SELECT COUNT(*) FROM {INBOX} WHERE {INBOX}.user_id = {COUNTERS}.user_id)""",
    f"""CREATE TABLE {CHANGES} (
        user_id TEXT NOT NULL,
        pos INTEGER NOT NULL,
        op TEXT NOT NULL,
        seqs TEXT NOT NULL,
        upto INTEGER,
        at INTEGER NOT NULL,
        unread_after INTEGER NOT NULL,
        unarchived_after INTEGER NOT NULL,
        PRIMARY KEY (user_id, pos)
    ) WITHOUT ROWID""",
    f"CREATE INDEX {CHANGES}_at ON {CHANGES} (at)",
    f"""CREATE TABLE {STREAM_ACKS} (
        user_id TEXT NOT NULL,
        device TEXT NOT NULL,
        pos INTEGER NOT NULL,
        PRIMARY KEY (user_id, device)
    ) WITHOUT ROWID""",
)

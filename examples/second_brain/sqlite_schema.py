"""The application's tables in the embedded store's SQLite file, and the reads the worker's
group resolvers make there.

Tables are created when missing; a file made by an earlier version of the example gets the
columns it lacks (``ALTER TABLE ... ADD COLUMN`` with their defaults), so a demo data
directory keeps working across upgrades.
"""

import sqlite3
from typing import Final

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS sb_users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        balance INTEGER NOT NULL CHECK (balance >= 0)
    )""",
    "CREATE TABLE IF NOT EXISTS sb_families (id TEXT PRIMARY KEY, name TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS sb_family_members (
        username TEXT PRIMARY KEY REFERENCES sb_users (username),
        family_id TEXT NOT NULL REFERENCES sb_families (id),
        role TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sb_family_members_family ON sb_family_members (family_id)",
    """CREATE TABLE IF NOT EXISTS sb_invitations (
        id TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES sb_families (id),
        inviter TEXT NOT NULL,
        invitee TEXT NOT NULL,
        status TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sb_shop_items (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, item_type TEXT NOT NULL, price INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sb_token_requests (
        id TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES sb_families (id),
        requester TEXT NOT NULL REFERENCES sb_users (username),
        amount INTEGER NOT NULL,
        status TEXT NOT NULL,
        reviewer TEXT
    )""",
    """CREATE INDEX IF NOT EXISTS sb_token_requests_family
        ON sb_token_requests (family_id, status)""",
    """CREATE TABLE IF NOT EXISTS sb_family_purchases (
        id TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES sb_families (id),
        purchaser TEXT NOT NULL REFERENCES sb_users (username),
        item_id TEXT NOT NULL REFERENCES sb_shop_items (id),
        price INTEGER NOT NULL
    )""",
)

# Columns added after the first version of the example, with what older rows get.
ADDED_COLUMNS: Final = (
    ("sb_users", "token_version", "INTEGER NOT NULL DEFAULT 0"),
    ("sb_users", "password_hash", "TEXT"),
    ("sb_users", "two_factor", "INTEGER NOT NULL DEFAULT 0"),
    ("sb_users", "avatar", "TEXT"),
    ("sb_users", "banner", "TEXT"),
    ("sb_users", "theme", "TEXT"),
    ("sb_families", "balance", "INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0)"),
    ("sb_families", "is_frozen", "INTEGER NOT NULL DEFAULT 0"),
)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create missing tables and columns; the caller holds a write transaction."""
    for statement in SCHEMA:
        conn.execute(statement)
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def family_usernames(conn: sqlite3.Connection, family_id: str) -> list[str]:
    """The family's members, in name order."""
    rows = conn.execute(
        "SELECT username FROM sb_family_members WHERE family_id = ? ORDER BY username",
        (family_id,),
    )
    return [row[0] for row in rows]


def family_admins(conn: sqlite3.Connection, family_id: str) -> list[str]:
    """The family's admins, in name order."""
    rows = conn.execute(
        "SELECT username FROM sb_family_members WHERE family_id = ? AND role = 'admin' "
        "ORDER BY username",
        (family_id,),
    )
    return [row[0] for row in rows]


def invitation_admins(conn: sqlite3.Connection, invitation_id: str) -> list[str]:
    """The inviter, then the other current admins of the invitation's family; [] for an
    unknown invitation."""
    row = conn.execute(
        "SELECT inviter, family_id FROM sb_invitations WHERE id = ?", (invitation_id,)
    ).fetchone()
    if row is None:
        return []
    inviter, family_id = row
    return [inviter, *(name for name in family_admins(conn, family_id) if name != inviter)]

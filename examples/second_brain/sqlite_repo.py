"""The application's tables in the embedded store's own SQLite file.

Domain tables sit beside the tidings tables, so a domain change and its notifications are one
SQLite transaction on one ``sqlite3`` connection (autocommit mode, explicit ``BEGIN``):
``api_hooks.run_in_transaction`` begins and commits it, ``Emitter.emit`` joins it.
"""

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, cast

from api_hooks import Emitter, run_in_transaction
from examples.second_brain.domain import (
    Invitation,
    InvitationStatus,
    Member,
    Role,
    ShopItem,
    Tx,
    User,
    UserView,
    store_unavailable,
)
from foundation.errors import StoreError
from outbox.records import Audience
from outbox.stores.sqlite import connect

# Short: a busy database fails fast and run_in_transaction retries with an async backoff,
# instead of the driver blocking the event loop while another process writes.
BUSY_TIMEOUT_SECONDS: Final = 0.05
# How long an operation keeps retrying a busy database before it answers 503.
DEADLINE_SECONDS: Final = 10.0

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
)

_MEMBER: Final = (
    "SELECT m.family_id, f.name, m.username, m.role FROM sb_family_members AS m "
    "JOIN sb_families AS f ON f.id = m.family_id"
)
_INVITATION: Final = (
    "SELECT i.id, i.family_id, f.name, i.inviter, i.invitee, i.status FROM sb_invitations AS i "
    "JOIN sb_families AS f ON f.id = i.family_id"
)


def family_usernames(conn: sqlite3.Connection, family_id: str) -> list[str]:
    """The family's members, in name order."""
    rows = conn.execute(
        "SELECT username FROM sb_family_members WHERE family_id = ? ORDER BY username",
        (family_id,),
    )
    return [row[0] for row in rows]


def _member(row: tuple[Any, ...] | None) -> Member | None:
    return None if row is None else Member(row[0], row[1], row[2], cast(Role, row[3]))


def _invitation(row: tuple[Any, ...]) -> Invitation:
    return Invitation(row[0], row[1], row[2], row[3], row[4], cast(InvitationStatus, row[5]))


class SqliteTx:
    """:class:`Tx` on a connection inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection, emitter: Emitter) -> None:
        self._conn = conn
        self._emitter = emitter

    async def user(self, username: str) -> User | None:
        row = self._conn.execute(
            "SELECT username, display_name, balance FROM sb_users WHERE username = ?", (username,)
        ).fetchone()
        return None if row is None else User(*row)

    async def debit(self, username: str, amount: int) -> int | None:
        row = self._conn.execute(
            "UPDATE sb_users SET balance = balance - ? WHERE username = ? AND balance >= ? "
            "RETURNING balance",
            (amount, username, amount),
        ).fetchone()
        return None if row is None else int(row[0])

    async def credit(self, username: str, amount: int) -> int:
        row = self._conn.execute(
            "UPDATE sb_users SET balance = balance + ? WHERE username = ? RETURNING balance",
            (amount, username),
        ).fetchone()
        return int(row[0])

    async def set_display_name(self, username: str, display_name: str) -> None:
        self._conn.execute(
            "UPDATE sb_users SET display_name = ? WHERE username = ?", (display_name, username)
        )

    async def membership(self, username: str) -> Member | None:
        return _member(
            self._conn.execute(f"{_MEMBER} WHERE m.username = ?", (username,)).fetchone()
        )

    async def members(self, family_id: str) -> Sequence[Member]:
        rows = self._conn.execute(f"{_MEMBER} WHERE m.family_id = ?", (family_id,)).fetchall()
        return [member for row in rows if (member := _member(row)) is not None]

    async def add_member(self, member: Member) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO sb_families (id, name) VALUES (?, ?)",
            (member.family_id, member.family_name),
        )
        self._conn.execute(
            "INSERT INTO sb_family_members (username, family_id, role) VALUES (?, ?, ?)",
            (member.username, member.family_id, member.role),
        )

    async def add_invitation(self, invitation: Invitation) -> None:
        self._conn.execute(
            "INSERT INTO sb_invitations (id, family_id, inviter, invitee, status) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                invitation.id,
                invitation.family_id,
                invitation.inviter,
                invitation.invitee,
                invitation.status,
            ),
        )

    async def invitation(self, invitation_id: str) -> Invitation | None:
        row = self._conn.execute(f"{_INVITATION} WHERE i.id = ?", (invitation_id,)).fetchone()
        return None if row is None else _invitation(row)

    async def set_invitation_status(self, invitation_id: str, status: InvitationStatus) -> None:
        self._conn.execute(
            "UPDATE sb_invitations SET status = ? WHERE id = ?", (status, invitation_id)
        )

    async def add_shop_item(self, item: ShopItem) -> None:
        self._conn.execute(
            "INSERT INTO sb_shop_items (id, name, item_type, price) VALUES (?, ?, ?, ?)",
            (item.id, item.name, item.item_type, item.price),
        )

    async def emit(
        self,
        event: str,
        data: Mapping[str, Any],
        *,
        to: Audience,
        origin_session: str | None = None,
    ) -> None:
        await self._emitter.emit(self._conn, event, data, to=to, origin_session=origin_session)


class SqliteRepository:
    """:class:`Repository` on one connection to the tidings database file.

    Operations share the connection one at a time (a lock), so a transaction never sees
    another one's statements. An operation that cannot get the write lock within
    ``deadline_seconds`` raises ``DomainError`` 503 ``store_unavailable``.
    """

    def __init__(
        self, conn: sqlite3.Connection, *, deadline_seconds: float = DEADLINE_SECONDS
    ) -> None:
        self._conn = conn
        self._deadline_seconds = deadline_seconds
        self._lock = asyncio.Lock()
        self._emitter = Emitter()

    @classmethod
    def open(cls, path: Path, *, deadline_seconds: float = DEADLINE_SECONDS) -> "SqliteRepository":
        """Open the migrated tidings file and create the application's tables if missing."""
        conn = connect(path)  # the store's busy timeout while creating tables
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute("COMMIT")
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        except BaseException:
            conn.close()
            raise
        return cls(conn, deadline_seconds=deadline_seconds)

    async def run[T](self, work: Callable[[Tx], Awaitable[T]], *, redis: Any = None) -> T:
        async def attempt(conn: sqlite3.Connection) -> T:
            return await work(SqliteTx(conn, self._emitter))

        async with self._lock:
            try:
                return await run_in_transaction(
                    self._conn, attempt, redis=redis, deadline_seconds=self._deadline_seconds
                )
            except (sqlite3.OperationalError, StoreError) as error:  # busy past the deadline
                raise store_unavailable(error) from error

    async def view(self, username: str) -> UserView | None:
        async with self._lock:
            tx = SqliteTx(self._conn, self._emitter)
            user = await tx.user(username)
            if user is None:
                return None
            family = await tx.membership(username)
            rows = self._conn.execute(
                f"{_INVITATION} WHERE i.invitee = ? AND i.status = 'pending' ORDER BY i.rowid",
                (username,),
            ).fetchall()
            members = family_usernames(self._conn, family.family_id) if family else []
        return UserView(user, family, tuple(members), tuple(_invitation(r) for r in rows))

    async def usernames(self) -> list[str]:
        async with self._lock:
            rows = self._conn.execute("SELECT username FROM sb_users ORDER BY username")
            return [row[0] for row in rows]

    async def family_usernames(self, family_id: str) -> list[str]:
        async with self._lock:
            return family_usernames(self._conn, family_id)

    async def seed(self, users: Sequence[User], members: Sequence[Member]) -> None:
        async def work(tx: Tx) -> None:
            for user in users:
                self._conn.execute(
                    "INSERT OR IGNORE INTO sb_users (username, display_name, balance) "
                    "VALUES (?, ?, ?)",
                    (user.username, user.display_name, user.balance),
                )
            for member in members:
                if await tx.membership(member.username) is None:
                    await tx.add_member(member)

        await self.run(work)

    async def close(self) -> None:
        async with self._lock:
            self._conn.close()

"""The application's store in the embedded store's own SQLite file.

A domain change and its notifications are one SQLite transaction on one ``sqlite3``
connection to that file, the one ``Tidings.connect`` opens (autocommit mode, explicit
``BEGIN``): ``Tidings.run_in_transaction`` begins and commits it and then wakes the worker,
``Tidings.emit`` joins it (see ``sqlite_tx.py``).
"""

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from examples.second_brain import sqlite_schema
from examples.second_brain.domain import (
    Family,
    FamilyView,
    Member,
    ShopItem,
    TokenRequest,
    User,
    UserView,
    store_unavailable,
)
from examples.second_brain.ports import Tx
from examples.second_brain.sqlite_tx import (
    INVITATION,
    ITEM,
    REQUEST,
    SqliteTx,
    invitation_row,
    item_row,
    request_row,
)
from foundation.errors import StoreError
from tidings import Tidings

# Short: a busy database fails fast and run_in_transaction retries with an async backoff,
# instead of the driver blocking the event loop while another process writes.
BUSY_TIMEOUT_SECONDS: Final = 0.05
# How long an operation keeps retrying a busy database before it answers 503.
DEADLINE_SECONDS: Final = 10.0


class SqliteRepository:
    """:class:`~examples.second_brain.ports.Repository` on one connection to the tidings file.

    Operations share the connection one at a time (a lock), so a transaction never sees
    another one's statements. An operation that cannot get the write lock within
    ``deadline_seconds`` raises ``DomainError`` 503 ``store_unavailable``.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        notifications: Tidings,
        *,
        deadline_seconds: float = DEADLINE_SECONDS,
    ) -> None:
        self._conn = conn
        self._notifications = notifications
        self._deadline_seconds = deadline_seconds
        self._lock = asyncio.Lock()

    @classmethod
    def open(
        cls, notifications: Tidings, *, deadline_seconds: float = DEADLINE_SECONDS
    ) -> "SqliteRepository":
        """Open the migrated tidings file (``notifications.connect()``) and create the
        application's tables if missing."""
        conn: sqlite3.Connection = notifications.connect()  # with the store's busy timeout
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE")
            sqlite_schema.create_tables(conn)
            conn.execute("COMMIT")
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        except BaseException:
            conn.close()
            raise
        return cls(conn, notifications, deadline_seconds=deadline_seconds)

    async def run[T](self, work: Callable[[Tx], Awaitable[T]]) -> T:
        async def attempt(conn: sqlite3.Connection) -> T:
            return await work(SqliteTx(conn, self._notifications))

        async with self._lock:
            try:
                return await self._notifications.run_in_transaction(
                    self._conn, attempt, deadline_seconds=self._deadline_seconds
                )
            except (sqlite3.OperationalError, StoreError) as error:  # busy past the deadline
                raise store_unavailable(error) from error

    async def view(self, username: str) -> UserView | None:
        async with self._lock:
            tx = SqliteTx(self._conn, self._notifications)
            user = await tx.user(username)
            if user is None:
                return None
            member = await tx.membership(username)
            family = None if member is None else await self._family_view(tx, member)
            rows = self._conn.execute(
                f"{INVITATION} WHERE i.invitee = ? AND i.status = 'pending' ORDER BY i.rowid",
                (username,),
            ).fetchall()
        return UserView(user, family, tuple(invitation_row(row) for row in rows))

    async def _family_view(self, tx: SqliteTx, member: Member) -> FamilyView | None:
        account = await tx.family(member.family_id)
        if account is None:
            return None
        requests: tuple[TokenRequest, ...] = ()
        if member.role == "admin":
            rows = self._conn.execute(
                f"{REQUEST} WHERE family_id = ? AND status = 'pending' ORDER BY rowid",
                (member.family_id,),
            ).fetchall()
            requests = tuple(request_row(row) for row in rows)
        members = tuple(await tx.members(member.family_id))
        return FamilyView(account, member.role, members, requests)

    async def usernames(self) -> list[str]:
        async with self._lock:
            rows = self._conn.execute("SELECT username FROM sb_users ORDER BY username")
            return [row[0] for row in rows]

    async def shop_items(self) -> list[ShopItem]:
        async with self._lock:
            rows = self._conn.execute(f"{ITEM} ORDER BY name, id").fetchall()
        return [item_row(row) for row in rows]

    async def token_version(self, username: str) -> int | None:
        async with self._lock:
            row = self._conn.execute(
                "SELECT token_version FROM sb_users WHERE username = ?", (username,)
            ).fetchone()
        return None if row is None else int(row[0])

    async def family_usernames(self, family_id: str) -> list[str]:
        async with self._lock:
            return sqlite_schema.family_usernames(self._conn, family_id)

    async def family_admins(self, family_id: str) -> list[str]:
        async with self._lock:
            return sqlite_schema.family_admins(self._conn, family_id)

    async def invitation_admins(self, invitation_id: str) -> list[str]:
        async with self._lock:
            return sqlite_schema.invitation_admins(self._conn, invitation_id)

    async def seed(
        self,
        users: Sequence[User],
        families: Sequence[Family],
        members: Sequence[Member],
        items: Sequence[ShopItem],
    ) -> None:
        async def work(tx: Tx) -> None:
            for user in users:
                self._conn.execute(
                    "INSERT OR IGNORE INTO sb_users (username, display_name, balance) "
                    "VALUES (?, ?, ?)",
                    (user.username, user.display_name, user.balance),
                )
            for family in families:
                await tx.add_family(family)
            for member in members:
                if await tx.membership(member.username) is None:
                    await tx.add_member(member)
            for item in items:
                if await tx.shop_item(item.id) is None:
                    await tx.add_shop_item(item)

        await self.run(work)

    async def close(self) -> None:
        async with self._lock:
            self._conn.close()

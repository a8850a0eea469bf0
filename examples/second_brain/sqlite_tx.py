""":class:`~examples.second_brain.ports.Tx` on a SQLite connection inside ``BEGIN IMMEDIATE``.

Domain tables sit beside the tidings tables in one file, so every statement here and
``Tidings.emit`` run on one ``sqlite3`` connection in one transaction.
"""

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from examples.second_brain.catalog import check_event
from examples.second_brain.domain import (
    AppearanceSlot,
    Family,
    Invitation,
    InvitationStatus,
    ItemType,
    Member,
    Purchase,
    RequestStatus,
    Role,
    ShopItem,
    TokenRequest,
    User,
)
from examples.second_brain.ports import Audience
from tidings import Tidings

USER: Final = (
    "SELECT username, display_name, balance, token_version, two_factor, avatar, banner, theme "
    "FROM sb_users"
)
MEMBER: Final = (
    "SELECT m.family_id, f.name, m.username, m.role FROM sb_family_members AS m "
    "JOIN sb_families AS f ON f.id = m.family_id"
)
INVITATION: Final = (
    "SELECT i.id, i.family_id, f.name, i.inviter, i.invitee, i.status FROM sb_invitations AS i "
    "JOIN sb_families AS f ON f.id = i.family_id"
)
REQUEST: Final = "SELECT id, family_id, requester, amount, status, reviewer FROM sb_token_requests"
FAMILY: Final = "SELECT id, name, balance, is_frozen FROM sb_families"
ITEM: Final = "SELECT id, name, item_type, price FROM sb_shop_items"


def user_row(row: tuple[Any, ...] | None) -> User | None:
    """A row of :data:`USER` as a record."""
    if row is None:
        return None
    name, display_name, balance, version, two_factor, avatar, banner, theme = row
    return User(name, display_name, balance, version, bool(two_factor), avatar, banner, theme)


def member_row(row: tuple[Any, ...]) -> Member:
    """A row of :data:`MEMBER` as a record."""
    return Member(row[0], row[1], row[2], cast(Role, row[3]))


def invitation_row(row: tuple[Any, ...]) -> Invitation:
    """A row of :data:`INVITATION` as a record."""
    return Invitation(row[0], row[1], row[2], row[3], row[4], cast(InvitationStatus, row[5]))


def request_row(row: tuple[Any, ...]) -> TokenRequest:
    """A row of :data:`REQUEST` as a record."""
    return TokenRequest(row[0], row[1], row[2], row[3], cast(RequestStatus, row[4]), row[5])


def family_row(row: tuple[Any, ...]) -> Family:
    """A row of :data:`FAMILY` as a record."""
    return Family(row[0], row[1], row[2], bool(row[3]))


def item_row(row: tuple[Any, ...]) -> ShopItem:
    """A row of :data:`ITEM` as a record."""
    return ShopItem(row[0], row[1], cast(ItemType, row[2]), row[3])


class SqliteTx:
    """:class:`~examples.second_brain.ports.Tx` on a connection inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection, notifications: Tidings) -> None:
        self._conn = conn
        self._notifications = notifications

    def _one(self, sql: str, *params: object) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return row

    async def user(self, username: str) -> User | None:
        return user_row(self._one(f"{USER} WHERE username = ?", username))

    async def debit(self, username: str, amount: int) -> int | None:
        row = self._one(
            "UPDATE sb_users SET balance = balance - ? WHERE username = ? AND balance >= ? "
            "RETURNING balance",
            amount,
            username,
            amount,
        )
        return None if row is None else int(row[0])

    async def credit(self, username: str, amount: int) -> int:
        row = self._one(
            "UPDATE sb_users SET balance = balance + ? WHERE username = ? RETURNING balance",
            amount,
            username,
        )
        if row is None:
            raise LookupError(f"no user {username!r}")
        return int(row[0])

    async def set_display_name(self, username: str, display_name: str) -> None:
        self._conn.execute(
            "UPDATE sb_users SET display_name = ? WHERE username = ?", (display_name, username)
        )

    async def set_password(self, username: str, password_hash: str) -> int:
        row = self._one(
            "UPDATE sb_users SET password_hash = ?, token_version = token_version + 1 "
            "WHERE username = ? RETURNING token_version",
            password_hash,
            username,
        )
        if row is None:
            raise LookupError(f"no user {username!r}")
        return int(row[0])

    async def set_two_factor(self, username: str, enabled: bool) -> None:
        self._conn.execute(
            "UPDATE sb_users SET two_factor = ? WHERE username = ?", (int(enabled), username)
        )

    async def set_appearance(self, username: str, slot: AppearanceSlot, item_id: str) -> None:
        # ``slot`` is one of three literal column names, never user text.
        self._conn.execute(
            f"UPDATE sb_users SET {slot} = ? WHERE username = ?", (item_id, username)
        )

    async def family(self, family_id: str) -> Family | None:
        row = self._one(f"{FAMILY} WHERE id = ?", family_id)
        return None if row is None else family_row(row)

    async def membership(self, username: str) -> Member | None:
        row = self._one(f"{MEMBER} WHERE m.username = ?", username)
        return None if row is None else member_row(row)

    async def members(self, family_id: str) -> Sequence[Member]:
        rows = self._conn.execute(
            f"{MEMBER} WHERE m.family_id = ? ORDER BY m.username", (family_id,)
        )
        return [member_row(row) for row in rows.fetchall()]

    async def add_family(self, family: Family) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO sb_families (id, name, balance, is_frozen) VALUES (?, ?, ?, ?)",
            (family.id, family.name, family.balance, int(family.is_frozen)),
        )

    async def add_member(self, member: Member) -> None:
        self._conn.execute(
            "INSERT INTO sb_family_members (username, family_id, role) VALUES (?, ?, ?)",
            (member.username, member.family_id, member.role),
        )

    async def remove_member(self, username: str) -> None:
        self._conn.execute("DELETE FROM sb_family_members WHERE username = ?", (username,))

    async def set_role(self, username: str, role: Role) -> None:
        self._conn.execute(
            "UPDATE sb_family_members SET role = ? WHERE username = ?", (role, username)
        )

    async def add_to_account(self, family_id: str, amount: int) -> int | None:
        row = self._one(
            "UPDATE sb_families SET balance = balance + ? WHERE id = ? AND balance + ? >= 0 "
            "RETURNING balance",
            amount,
            family_id,
            amount,
        )
        return None if row is None else int(row[0])

    async def set_frozen(self, family_id: str, frozen: bool) -> None:
        self._conn.execute(
            "UPDATE sb_families SET is_frozen = ? WHERE id = ?", (int(frozen), family_id)
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
        row = self._one(f"{INVITATION} WHERE i.id = ?", invitation_id)
        return None if row is None else invitation_row(row)

    async def set_invitation_status(self, invitation_id: str, status: InvitationStatus) -> None:
        self._conn.execute(
            "UPDATE sb_invitations SET status = ? WHERE id = ?", (status, invitation_id)
        )

    async def add_token_request(self, request: TokenRequest) -> None:
        self._conn.execute(
            "INSERT INTO sb_token_requests (id, family_id, requester, amount, status, reviewer) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                request.id,
                request.family_id,
                request.requester,
                request.amount,
                request.status,
                request.reviewer,
            ),
        )

    async def token_request(self, request_id: str) -> TokenRequest | None:
        row = self._one(f"{REQUEST} WHERE id = ?", request_id)
        return None if row is None else request_row(row)

    async def review_token_request(
        self, request_id: str, status: RequestStatus, reviewer: str
    ) -> None:
        self._conn.execute(
            "UPDATE sb_token_requests SET status = ?, reviewer = ? WHERE id = ?",
            (status, reviewer, request_id),
        )

    async def shop_item(self, item_id: str) -> ShopItem | None:
        row = self._one(f"{ITEM} WHERE id = ?", item_id)
        return None if row is None else item_row(row)

    async def add_shop_item(self, item: ShopItem) -> None:
        self._conn.execute(
            "INSERT INTO sb_shop_items (id, name, item_type, price) VALUES (?, ?, ?, ?)",
            (item.id, item.name, item.item_type, item.price),
        )

    async def add_purchase(self, purchase: Purchase) -> None:
        self._conn.execute(
            "INSERT INTO sb_family_purchases (id, family_id, purchaser, item_id, price) "
            "VALUES (?, ?, ?, ?, ?)",
            (purchase.id, purchase.family_id, purchase.purchaser, purchase.item_id, purchase.price),
        )

    async def emit(
        self,
        event: str,
        data: Mapping[str, Any],
        *,
        to: Audience,
        origin_session: str | None = None,
    ) -> str:
        check_event(event, data)
        record = await self._notifications.emit(
            self._conn, event, data, to=to, origin_session=origin_session
        )
        return record.notification_id

""":class:`~examples.second_brain.ports.Tx` on a PyMongo ``AsyncClientSession`` inside
``start_transaction``.

Every read and write here and ``Tidings.emit`` pass the same session, so the application's
collections and tidings' outbox change in one transaction.

Collections: ``users`` ``{_id: username, display_name, balance, token_version,
password_hash, two_factor, appearance: {avatar, banner, theme}}``, ``families`` ``{_id, name,
balance, is_frozen, members: [{username, role}]}``, ``family_invitations``,
``family_token_requests``, ``family_purchases`` and ``shop_items``. Fields added after the
first version of the example read as their defaults when missing.
"""

from collections.abc import Mapping, Sequence
from typing import Any, cast

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

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

Document = dict[str, Any]


def user_doc(doc: Document | None) -> User | None:
    """A ``users`` document as a record."""
    if doc is None:
        return None
    looks = doc.get("appearance") or {}
    return User(
        doc["_id"],
        doc["display_name"],
        doc["balance"],
        doc.get("token_version", 0),
        bool(doc.get("two_factor", False)),
        looks.get("avatar"),
        looks.get("banner"),
        looks.get("theme"),
    )


def family_doc(doc: Document) -> Family:
    """A ``families`` document as a record."""
    return Family(doc["_id"], doc["name"], doc.get("balance", 0), bool(doc.get("is_frozen")))


def member_doc(family: Document, username: str) -> Member:
    """The membership of ``username`` in a ``families`` document."""
    role = next(m["role"] for m in family["members"] if m["username"] == username)
    return Member(family["_id"], family["name"], username, cast(Role, role))


def members_doc(family: Document) -> list[Member]:
    """Every membership of a ``families`` document, in name order."""
    names = sorted(m["username"] for m in family.get("members", []))
    return [member_doc(family, name) for name in names]


def invitation_doc(doc: Document) -> Invitation:
    """A ``family_invitations`` document as a record."""
    return Invitation(
        doc["_id"],
        doc["family_id"],
        doc["family_name"],
        doc["inviter"],
        doc["invitee"],
        cast(InvitationStatus, doc["status"]),
    )


def request_doc(doc: Document) -> TokenRequest:
    """A ``family_token_requests`` document as a record."""
    status = cast(RequestStatus, doc["status"])
    return TokenRequest(
        doc["_id"], doc["family_id"], doc["requester"], doc["amount"], status, doc.get("reviewer")
    )


def item_doc(doc: Document) -> ShopItem:
    """A ``shop_items`` document as a record."""
    return ShopItem(doc["_id"], doc["name"], cast(ItemType, doc["item_type"]), doc["price"])


class MongoTx:
    """:class:`~examples.second_brain.ports.Tx` on a session inside ``start_transaction``."""

    def __init__(
        self, session: AsyncClientSession, db: AsyncDatabase[Document], notifications: Tidings
    ) -> None:
        self._session = session
        self._db = db
        self._notifications = notifications

    async def _update_user(self, username: str, change: Document) -> None:
        await self._db.users.update_one({"_id": username}, change, session=self._session)

    async def user(self, username: str) -> User | None:
        return user_doc(await self._db.users.find_one({"_id": username}, session=self._session))

    async def _add_balance(self, match: Document, amount: int) -> int | None:
        doc = await self._db.users.find_one_and_update(
            match,
            {"$inc": {"balance": amount}},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return None if doc is None else int(doc["balance"])

    async def debit(self, username: str, amount: int) -> int | None:
        return await self._add_balance({"_id": username, "balance": {"$gte": amount}}, -amount)

    async def credit(self, username: str, amount: int) -> int:
        balance = await self._add_balance({"_id": username}, amount)
        if balance is None:
            raise LookupError(f"no user {username!r}")
        return balance

    async def set_display_name(self, username: str, display_name: str) -> None:
        await self._update_user(username, {"$set": {"display_name": display_name}})

    async def set_password(self, username: str, password_hash: str) -> int:
        doc = await self._db.users.find_one_and_update(
            {"_id": username},
            {"$set": {"password_hash": password_hash}, "$inc": {"token_version": 1}},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        if doc is None:
            raise LookupError(f"no user {username!r}")
        return int(doc["token_version"])

    async def set_two_factor(self, username: str, enabled: bool) -> None:
        await self._update_user(username, {"$set": {"two_factor": enabled}})

    async def set_appearance(self, username: str, slot: AppearanceSlot, item_id: str) -> None:
        await self._update_user(username, {"$set": {f"appearance.{slot}": item_id}})

    async def family(self, family_id: str) -> Family | None:
        doc = await self._db.families.find_one({"_id": family_id}, session=self._session)
        return None if doc is None else family_doc(doc)

    async def membership(self, username: str) -> Member | None:
        family = await self._db.families.find_one(
            {"members.username": username}, session=self._session
        )
        return None if family is None else member_doc(family, username)

    async def members(self, family_id: str) -> Sequence[Member]:
        family = await self._db.families.find_one({"_id": family_id}, session=self._session)
        return [] if family is None else members_doc(family)

    async def add_family(self, family: Family) -> None:
        fields = {"name": family.name, "balance": family.balance, "is_frozen": family.is_frozen}
        # No empty ``members`` array: the unique index on members.username would count it.
        await self._db.families.update_one(
            {"_id": family.id},
            {"$setOnInsert": fields},
            upsert=True,
            session=self._session,
        )

    async def add_member(self, member: Member) -> None:
        await self._db.families.update_one(
            {"_id": member.family_id},
            {"$push": {"members": {"username": member.username, "role": member.role}}},
            session=self._session,
        )

    async def remove_member(self, username: str) -> None:
        await self._db.families.update_one(
            {"members.username": username},
            {"$pull": {"members": {"username": username}}},
            session=self._session,
        )

    async def set_role(self, username: str, role: Role) -> None:
        await self._db.families.update_one(
            {"members.username": username},
            {"$set": {"members.$.role": role}},
            session=self._session,
        )

    async def add_to_account(self, family_id: str, amount: int) -> int | None:
        match: Document = {"_id": family_id}
        if amount < 0:
            match["balance"] = {"$gte": -amount}
        doc = await self._db.families.find_one_and_update(
            match,
            {"$inc": {"balance": amount}},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return None if doc is None else int(doc["balance"])

    async def set_frozen(self, family_id: str, frozen: bool) -> None:
        await self._db.families.update_one(
            {"_id": family_id}, {"$set": {"is_frozen": frozen}}, session=self._session
        )

    async def add_invitation(self, invitation: Invitation) -> None:
        await self._db.family_invitations.insert_one(
            {
                "_id": invitation.id,
                "family_id": invitation.family_id,
                "family_name": invitation.family_name,
                "inviter": invitation.inviter,
                "invitee": invitation.invitee,
                "status": invitation.status,
            },
            session=self._session,
        )

    async def invitation(self, invitation_id: str) -> Invitation | None:
        doc = await self._db.family_invitations.find_one(
            {"_id": invitation_id}, session=self._session
        )
        return None if doc is None else invitation_doc(doc)

    async def set_invitation_status(self, invitation_id: str, status: InvitationStatus) -> None:
        await self._db.family_invitations.update_one(
            {"_id": invitation_id}, {"$set": {"status": status}}, session=self._session
        )

    async def add_token_request(self, request: TokenRequest) -> None:
        await self._db.family_token_requests.insert_one(
            {
                "_id": request.id,
                "family_id": request.family_id,
                "requester": request.requester,
                "amount": request.amount,
                "status": request.status,
                "reviewer": request.reviewer,
            },
            session=self._session,
        )

    async def token_request(self, request_id: str) -> TokenRequest | None:
        doc = await self._db.family_token_requests.find_one(
            {"_id": request_id}, session=self._session
        )
        return None if doc is None else request_doc(doc)

    async def review_token_request(
        self, request_id: str, status: RequestStatus, reviewer: str
    ) -> None:
        await self._db.family_token_requests.update_one(
            {"_id": request_id},
            {"$set": {"status": status, "reviewer": reviewer}},
            session=self._session,
        )

    async def shop_item(self, item_id: str) -> ShopItem | None:
        doc = await self._db.shop_items.find_one({"_id": item_id}, session=self._session)
        return None if doc is None else item_doc(doc)

    async def add_shop_item(self, item: ShopItem) -> None:
        await self._db.shop_items.insert_one(
            {"_id": item.id, "name": item.name, "item_type": item.item_type, "price": item.price},
            session=self._session,
        )

    async def add_purchase(self, purchase: Purchase) -> None:
        await self._db.family_purchases.insert_one(
            {
                "_id": purchase.id,
                "family_id": purchase.family_id,
                "purchaser": purchase.purchaser,
                "item_id": purchase.item_id,
                "price": purchase.price,
            },
            session=self._session,
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
            self._session, event, data, to=to, origin_session=origin_session
        )
        return record.notification_id

"""The application's collections on MongoDB (a replica set: transactions need one).

The domain collections live in the application's own database; the outbox lives in tidings'
database (``TIDINGS_MONGODB_DATABASE``). One transaction spans both: every write here and
``Emitter.emit`` pass the same PyMongo ``AsyncClientSession``, and
``api_hooks.run_in_transaction`` commits it with ``with_transaction``'s retry rules.

Collections: ``users`` ``{_id: username, display_name, balance}``, ``families``
``{_id, name, members: [{username, role}]}``, ``family_invitations`` and ``shop_items``.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, cast

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

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
from outbox.records import Audience

Document = dict[str, Any]

DEFAULT_APP_DATABASE: Final = "second_brain"


def _user(doc: Document | None) -> User | None:
    return None if doc is None else User(doc["_id"], doc["display_name"], doc["balance"])


def _member(family: Document, username: str) -> Member:
    role = next(m["role"] for m in family["members"] if m["username"] == username)
    return Member(family["_id"], family["name"], username, cast(Role, role))


def _invitation(doc: Document) -> Invitation:
    return Invitation(
        doc["_id"],
        doc["family_id"],
        doc["family_name"],
        doc["inviter"],
        doc["invitee"],
        cast(InvitationStatus, doc["status"]),
    )


class MongoTx:
    """:class:`Tx` on a session inside ``start_transaction``."""

    def __init__(
        self, session: AsyncClientSession, db: AsyncDatabase[Document], emitter: Emitter
    ) -> None:
        self._session = session
        self._db = db
        self._emitter = emitter

    async def user(self, username: str) -> User | None:
        return _user(await self._db.users.find_one({"_id": username}, session=self._session))

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
        await self._db.users.update_one(
            {"_id": username}, {"$set": {"display_name": display_name}}, session=self._session
        )

    async def membership(self, username: str) -> Member | None:
        family = await self._db.families.find_one(
            {"members.username": username}, session=self._session
        )
        return None if family is None else _member(family, username)

    async def members(self, family_id: str) -> Sequence[Member]:
        family = await self._db.families.find_one({"_id": family_id}, session=self._session)
        if family is None:
            return []
        return [_member(family, m["username"]) for m in family["members"]]

    async def add_member(self, member: Member) -> None:
        await self._db.families.update_one(
            {"_id": member.family_id},
            {
                "$setOnInsert": {"name": member.family_name},
                "$push": {"members": {"username": member.username, "role": member.role}},
            },
            upsert=True,
            session=self._session,
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
        return None if doc is None else _invitation(doc)

    async def set_invitation_status(self, invitation_id: str, status: InvitationStatus) -> None:
        await self._db.family_invitations.update_one(
            {"_id": invitation_id}, {"$set": {"status": status}}, session=self._session
        )

    async def add_shop_item(self, item: ShopItem) -> None:
        await self._db.shop_items.insert_one(
            {"_id": item.id, "name": item.name, "item_type": item.item_type, "price": item.price},
            session=self._session,
        )

    async def emit(
        self,
        event: str,
        data: Mapping[str, Any],
        *,
        to: Audience,
        origin_session: str | None = None,
    ) -> None:
        await self._emitter.emit(self._session, event, data, to=to, origin_session=origin_session)


class MongoRepository:
    """:class:`Repository` on one ``AsyncMongoClient``."""

    def __init__(self, client: AsyncMongoClient[Document], app_database: str, emitter: Emitter):
        self._client = client
        self._db: AsyncDatabase[Document] = client[app_database]
        self._emitter = emitter

    @classmethod
    def connect(
        cls, url: str, *, app_database: str = DEFAULT_APP_DATABASE, emitter: Emitter
    ) -> "MongoRepository":
        """A repository on ``url`` emitting with ``emitter`` (whose settings name the outbox's
        database); the driver connects on first use."""
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, tz_aware=True)
        return cls(client, app_database, emitter)

    async def run[T](self, work: Callable[[Tx], Awaitable[T]], *, redis: Any = None) -> T:
        async def attempt(session: AsyncClientSession) -> T:
            return await work(MongoTx(session, self._db, self._emitter))

        try:
            return await run_in_transaction(self._client, attempt, redis=redis)
        except PyMongoError as error:  # what with_transaction's retries could not overcome
            raise store_unavailable(error) from error

    async def view(self, username: str) -> UserView | None:
        user = _user(await self._db.users.find_one({"_id": username}))
        if user is None:
            return None
        family = await self._db.families.find_one({"members.username": username})
        invitations = self._db.family_invitations.find({"invitee": username, "status": "pending"})
        return UserView(
            user,
            None if family is None else _member(family, username),
            tuple(sorted(m["username"] for m in family["members"])) if family else (),
            tuple([_invitation(doc) async for doc in invitations]),
        )

    async def usernames(self) -> list[str]:
        return sorted([doc["_id"] async for doc in self._db.users.find({}, {"_id": 1})])

    async def family_usernames(self, family_id: str) -> list[str]:
        family = await self._db.families.find_one({"_id": family_id}, {"members.username": 1})
        return sorted(m["username"] for m in family["members"]) if family else []

    async def seed(self, users: Sequence[User], members: Sequence[Member]) -> None:
        await self._db.families.create_index("members.username", unique=True, sparse=True)
        for user in users:
            await self._db.users.update_one(
                {"_id": user.username},
                {"$setOnInsert": {"display_name": user.display_name, "balance": user.balance}},
                upsert=True,
            )

        async def join(tx: Tx) -> None:
            for member in members:
                if await tx.membership(member.username) is None:
                    await tx.add_member(member)

        await self.run(join)

    async def close(self) -> None:
        await self._client.close()

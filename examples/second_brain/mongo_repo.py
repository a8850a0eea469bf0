"""The application's store on MongoDB (a replica set: transactions need one).

The domain collections live in the application's own database; the outbox lives in tidings'
database (``TIDINGS_MONGODB_DATABASE``). One transaction spans both: every write of an
operation (``mongo_tx.py``) and ``Tidings.emit`` pass the same PyMongo ``AsyncClientSession``
on the client ``Tidings.connect`` opens, and ``Tidings.run_in_transaction`` commits it with
``with_transaction``'s retry rules, then wakes the worker.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

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
from examples.second_brain.mongo_tx import (
    Document,
    MongoTx,
    family_doc,
    invitation_doc,
    item_doc,
    member_doc,
    members_doc,
    request_doc,
    user_doc,
)
from examples.second_brain.ports import Tx
from tidings import Tidings

DEFAULT_APP_DATABASE: Final = "second_brain"


class MongoRepository:
    """:class:`~examples.second_brain.ports.Repository` on one ``AsyncMongoClient``."""

    def __init__(
        self, client: AsyncMongoClient[Document], app_database: str, notifications: Tidings
    ) -> None:
        self._client = client
        self._db: AsyncDatabase[Document] = client[app_database]
        self._notifications = notifications

    @classmethod
    def open(
        cls, notifications: Tidings, *, app_database: str = DEFAULT_APP_DATABASE
    ) -> "MongoRepository":
        """A repository on the replica set of tidings' store (``notifications.connect()``),
        with the application's collections in ``app_database``; the driver connects on
        first use."""
        client: AsyncMongoClient[Document] = notifications.connect()
        return cls(client, app_database, notifications)

    async def run[T](self, work: Callable[[Tx], Awaitable[T]]) -> T:
        async def attempt(session: AsyncClientSession) -> T:
            return await work(MongoTx(session, self._db, self._notifications))

        try:
            return await self._notifications.run_in_transaction(self._client, attempt)
        except PyMongoError as error:  # what with_transaction's retries could not overcome
            raise store_unavailable(error) from error

    async def view(self, username: str) -> UserView | None:
        user = user_doc(await self._db.users.find_one({"_id": username}))
        if user is None:
            return None
        family = await self._db.families.find_one({"members.username": username})
        invitations = self._db.family_invitations.find({"invitee": username, "status": "pending"})
        return UserView(
            user,
            None if family is None else await self._family_view(family, username),
            tuple([invitation_doc(doc) async for doc in invitations]),
        )

    async def _family_view(self, family: Document, username: str) -> FamilyView:
        member = member_doc(family, username)
        requests: tuple[TokenRequest, ...] = ()
        if member.role == "admin":
            pending = self._db.family_token_requests.find(
                {"family_id": family["_id"], "status": "pending"}
            )
            requests = tuple([request_doc(doc) async for doc in pending])
        return FamilyView(family_doc(family), member.role, tuple(members_doc(family)), requests)

    async def usernames(self) -> list[str]:
        return sorted([doc["_id"] async for doc in self._db.users.find({}, {"_id": 1})])

    async def shop_items(self) -> list[ShopItem]:
        items = [item_doc(doc) async for doc in self._db.shop_items.find({})]
        return sorted(items, key=lambda item: (item.name, item.id))

    async def token_version(self, username: str) -> int | None:
        doc = await self._db.users.find_one({"_id": username}, {"token_version": 1})
        return None if doc is None else int(doc.get("token_version", 0))

    async def _members(self, family_id: str) -> list[Member]:
        family = await self._db.families.find_one({"_id": family_id}, {"name": 1, "members": 1})
        return [] if family is None else members_doc(family)

    async def family_usernames(self, family_id: str) -> list[str]:
        return [member.username for member in await self._members(family_id)]

    async def family_admins(self, family_id: str) -> list[str]:
        members = await self._members(family_id)
        return [member.username for member in members if member.role == "admin"]

    async def invitation_admins(self, invitation_id: str) -> list[str]:
        doc = await self._db.family_invitations.find_one({"_id": invitation_id})
        if doc is None:
            return []
        inviter = doc["inviter"]
        admins = await self.family_admins(doc["family_id"])
        return [inviter, *(name for name in admins if name != inviter)]

    async def seed(
        self,
        users: Sequence[User],
        families: Sequence[Family],
        members: Sequence[Member],
        items: Sequence[ShopItem],
    ) -> None:
        await self._db.families.create_index("members.username", unique=True, sparse=True)
        for user in users:
            await self._db.users.update_one(
                {"_id": user.username},
                {"$setOnInsert": {"display_name": user.display_name, "balance": user.balance}},
                upsert=True,
            )

        async def join(tx: Tx) -> None:
            for family in families:
                await tx.add_family(family)
            for member in members:
                if await tx.membership(member.username) is None:
                    await tx.add_member(member)
            for item in items:
                if await tx.shop_item(item.id) is None:
                    await tx.add_shop_item(item)

        await self.run(join)

    async def close(self) -> None:
        await self._client.close()

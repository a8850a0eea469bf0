"""A host application on MongoDB with PyMongo's async API, the routing worker inside it.

Run it: ``TIDINGS_JWT_SECRET=<32+ bytes> TIDINGS_STORE_URL=mongodb://.../?replicaSet=rs0
uvicorn docs.examples.pymongo_app:app``. The app keeps its data in the outbox's database
(``TIDINGS_MONGODB_DATABASE``), so a manager's transaction holds a domain change and the
notifications it causes. Log redaction is installed on uvicorn's loggers by ``mount``.
"""

from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel
from pymongo import AsyncMongoClient, ReturnDocument

from tidings import Group, Principal, Resolvers, Tidings, Users, load_settings

settings = load_settings()
client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.resolved_store_url)
db = client[settings.mongodb_database]

resolvers = Resolvers()


async def family_members(family_id: str) -> list[str]:
    family = await db.families.find_one({"_id": family_id})
    return list(family["members"]) if family else []


resolvers.register("family", family_members)


async def revoked(principal: Principal) -> bool:
    """A token whose token_version is below the user's current one is revoked."""
    user = await db.accounts.find_one({"_id": principal.user_id}, {"token_version": 1})
    current = user.get("token_version", 0) if user else 0
    return bool(principal.claims.get("token_version", 0) < current)


notifications = Tidings(settings, resolvers=resolvers, revocation_check=revoked, worker=True)
app = FastAPI()
notifications.mount(app)


def current_user(authorization: Annotated[str, Header()]) -> str:
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    try:
        claims = jwt.decode(authorization.removeprefix("Bearer "), secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "bad token") from None
    username: str = claims["sub"]
    return username


User = Annotated[str, Depends(current_user)]


class Transfer(BaseModel):
    to: str
    amount: int


@app.post("/transfers")
async def transfer(body: Transfer, sender: User) -> dict[str, int]:
    """The manager runs its own transaction; the emits join it, then the worker is woken."""
    async with client.start_session() as session, await session.start_transaction():
        after = ReturnDocument.AFTER
        debited = await db.accounts.find_one_and_update(
            {"_id": sender, "balance": {"$gte": body.amount}},
            {"$inc": {"balance": -body.amount}},
            session=session,
            return_document=after,
        )
        if debited is None:
            raise HTTPException(409, "not enough tokens")  # aborts: nothing is emitted
        credited = await db.accounts.find_one_and_update(
            {"_id": body.to},
            {"$inc": {"balance": body.amount}},
            session=session,
            return_document=after,
        )
        if credited is None:
            raise HTTPException(404, "no such receiver")  # aborts the debit too
        sent = {"to_username": body.to, "amount": body.amount, "new_balance": debited["balance"]}
        got = {"from_username": sender, "amount": body.amount, "new_balance": credited["balance"]}
        await notifications.emit(session, "sbd_tokens_sent", sent, to=Users((sender,)))
        await notifications.emit(session, "sbd_tokens_received", got, to=Users((body.to,)))
    await notifications.wake()  # after the commit
    return {"balance": int(debited["balance"])}


@app.post("/families/{family_id}/announcements")
async def announce(family_id: str, body: dict[str, Any], user: User) -> dict[str, str]:
    """Or let tidings run the transaction with the driver's retry rules, and wake after it."""

    async def work(session: Any) -> None:
        data = {"family_id": family_id, "by": user, "text": str(body.get("text", ""))}
        family = Group("family", family_id)
        await notifications.emit(session, "family_announcement", data, to=family)

    await notifications.run_in_transaction(client, work)
    return {"status": "sent"}


@app.post("/sessions/revoke")
async def sign_out_everywhere(user: User) -> dict[str, str]:
    """Revoke every token of the user, then close their open sockets on every node (4403)."""
    await db.accounts.update_one({"_id": user}, {"$inc": {"token_version": 1}})
    await notifications.revoke(user)
    return {"status": "revoked"}

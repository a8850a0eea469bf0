"""A host application on MongoDB with Motor, as the Second Brain API's managers are written.

Run it: ``TIDINGS_JWT_SECRET=<32+ bytes> TIDINGS_STORE_URL=mongodb://.../?replicaSet=rs0
TIDINGS_RESOLVERS=motor_app:resolvers uvicorn docs.examples.motor_app:app`` and, beside it,
``tidings worker`` with the same settings (``docs/examples`` on ``PYTHONPATH``, so that
the worker imports the resolvers). Motor differs from PyMongo's async API in where the awaits
go: ``session = await client.start_session()``, then ``async with
session.start_transaction()``.
"""

from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException
from motor.motor_asyncio import AsyncIOMotorClient

from tidings import Group, Principal, Resolvers, Tidings, Users, load_settings

settings = load_settings()
client: Any = AsyncIOMotorClient(settings.resolved_store_url)
db = client[settings.mongodb_database]

# Named by TIDINGS_RESOLVERS=motor_app:resolvers for `tidings worker`.
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


notifications = Tidings(settings, revocation_check=revoked)  # the worker runs beside the app
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


@app.post("/families/{family_id}/announcements")
async def announce(family_id: str, body: dict[str, Any], user: User) -> dict[str, str]:
    """A manager's own Motor transaction: the emit joins it; wake the worker after it."""
    session = await client.start_session()
    try:
        async with session.start_transaction():
            await db.families.update_one(
                {"_id": family_id}, {"$inc": {"announcements": 1}}, session=session
            )
            data = {"family_id": family_id, "by": user, "text": str(body.get("text", ""))}
            family = Group("family", family_id)
            await notifications.emit(session, "family_announcement", data, to=family)
    finally:
        await session.end_session()
    await notifications.wake()
    return {"status": "sent"}


@app.post("/profile")
async def update_profile(body: dict[str, Any], user: User) -> dict[str, str]:
    """Or let tidings run the transaction with Motor's retry rules, then wake the worker."""

    changes = {"display_name": str(body.get("display_name", ""))}

    async def work(session: Any) -> None:
        await db.accounts.update_one({"_id": user}, {"$set": changes}, session=session)
        data = {"updated_fields": sorted(changes), "message": "profile updated"}
        await notifications.emit(session, "profile_updated", data, to=Users((user,)))

    await notifications.run_in_transaction(client, work)
    return {"status": "updated"}


@app.post("/sessions/revoke")
async def sign_out_everywhere(user: User) -> dict[str, str]:
    """Revoke every token of the user, then close their open sockets on every node (4403)."""
    await db.accounts.update_one({"_id": user}, {"$inc": {"token_version": 1}})
    await notifications.revoke(user)
    return {"status": "revoked"}

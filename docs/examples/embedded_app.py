"""A host application on the embedded store: one process, the routing worker inside it.

Run it: ``TIDINGS_JWT_SECRET=<32+ bytes> uvicorn docs.examples.embedded_app:app``. The app's
own tables live in the store's SQLite file, so one transaction holds a domain change and the
notifications it causes.
"""

import contextlib
import logging.config
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel

from tidings import Group, Principal, Resolvers, Tidings, Users, load_settings, logging_config

settings = load_settings()
# Optional: tidings' log format for the whole process (text, or JSON lines with
# TIDINGS_LOG_FORMAT=json). Tokens are redacted from every log line either way.
logging.config.dictConfig(logging_config(settings))

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS accounts (username TEXT PRIMARY KEY, balance INTEGER NOT NULL,"
    " token_version INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS family_members (family_id TEXT, username TEXT,"
    " PRIMARY KEY (family_id, username))",
)


def connection() -> closing[sqlite3.Connection]:
    """A connection of the app's own to the store's file (autocommit: BEGIN opens one)."""
    return closing(notifications.connect())


# Group resolvers: the worker asks them who is in a group when it routes a Group(...) emit.
resolvers = Resolvers()


async def family_members(family_id: str) -> list[str]:
    with connection() as conn:
        query = "SELECT username FROM family_members WHERE family_id = ?"
        return [username for (username,) in conn.execute(query, (family_id,))]


resolvers.register("family", family_members)


# Revocation: a token whose token_version is below the user's current one is revoked.
def revoked(principal: Principal) -> bool:
    with connection() as conn:
        row = conn.execute(
            "SELECT token_version FROM accounts WHERE username = ?", (principal.user_id,)
        ).fetchone()
    return row is not None and principal.claims.get("token_version", 0) < row[0]


notifications = Tidings(
    settings, resolvers=resolvers, revocation_check=revoked, worker=True, migrate=True
)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    with connection() as conn:  # tidings has migrated the file by the time this runs
        for statement in SCHEMA:
            conn.execute(statement)
    yield


app = FastAPI(lifespan=lifespan)
notifications.mount(app)  # /ws, /notifications, /ws/ticket, /healthz, /readyz, /metrics


def current_user(authorization: Annotated[str, Header()]) -> str:
    """The app's own authentication: the same HS256 tokens tidings accepts."""
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
    """Debit, credit and both notifications commit together or not at all."""

    async def work(conn: sqlite3.Connection) -> int:
        update = "UPDATE accounts SET balance = balance + ? WHERE username = ? RETURNING balance"
        (left,) = conn.execute(update, (-body.amount, sender)).fetchone()
        (received,) = conn.execute(update, (body.amount, body.to)).fetchone()
        if left < 0:
            raise HTTPException(409, "not enough tokens")  # rolls back: nothing is emitted
        sent = {"to_username": body.to, "amount": body.amount, "new_balance": left}
        got = {"from_username": sender, "amount": body.amount, "new_balance": received}
        await notifications.emit(conn, "sbd_tokens_sent", sent, to=Users((sender,)))
        await notifications.emit(conn, "sbd_tokens_received", got, to=Users((body.to,)))
        return int(left)

    with connection() as conn:
        # Runs the callback between BEGIN IMMEDIATE and COMMIT, then wakes the worker.
        balance = await notifications.run_in_transaction(conn, work)
    return {"balance": balance}


@app.post("/families/{family_id}/announcements")
async def announce(family_id: str, body: dict[str, Any], user: User) -> dict[str, str]:
    """An app that runs its own transaction wakes the worker itself after the commit."""
    with connection() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            data = {"family_id": family_id, "by": user, "text": str(body.get("text", ""))}
            family = Group("family", family_id)
            await notifications.emit(conn, "family_announcement", data, to=family)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    await notifications.wake()  # after the commit: delivered now, not at the next sweep
    return {"status": "sent"}


@app.post("/sessions/revoke")
async def sign_out_everywhere(user: User) -> dict[str, str]:
    """Revoke every token of the user, then close their open sockets on every node (4403)."""
    with connection() as conn:
        bump = "UPDATE accounts SET token_version = token_version + 1 WHERE username = ?"
        conn.execute(bump, (user,))
    await notifications.revoke(user)
    return {"status": "revoked"}

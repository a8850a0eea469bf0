"""The account routes: profile, appearance, two-factor, password; and the demo sign-in.

Changes that only the user's *other* sessions hear of (appearance, password, sign-in) take
the acting tab's session id from ``X-Session-Id`` (or the sign-in body) as the notification's
``origin_session``: that tab hides it and still acknowledges it.
"""

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Final, cast

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from examples.second_brain import operations
from examples.second_brain.api import NotificationsDep, RepositoryDep, origin_session, run
from examples.second_brain.auth import UserDep
from examples.second_brain.demo_data import demo_token
from examples.second_brain.domain import DomainError
from examples.second_brain.sessions import other_sessions_ended

MAX_USER_AGENT: Final = 512

router = APIRouter(prefix="/api")
demo_router = APIRouter(prefix="/demo")

SessionHeader = Annotated[str | None, Header(alias="X-Session-Id")]


class ProfileBody(BaseModel):
    display_name: str = Field(max_length=200)


class AppearanceBody(BaseModel):
    updated_item: str = Field(min_length=1, max_length=16)
    item_id: str = Field(min_length=1, max_length=64)


class TwoFactorBody(BaseModel):
    enabled: bool


class PasswordBody(BaseModel):
    new_password: str = Field(max_length=1024)


class SignInBody(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    session_id: str | None = None


@router.post("/profile")
async def profile(body: ProfileBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Change the display name; every session of the user hears of it."""
    return await run(repo, operations.update_profile(user.user_id, body.display_name))


@router.post("/appearance")
async def appearance(
    body: AppearanceBody,
    user: UserDep,
    repo: RepositoryDep,
    x_session_id: SessionHeader = None,
) -> dict[str, Any]:
    """Use a shop item as avatar, banner or theme; the user's other sessions hear of it."""
    work = operations.set_appearance(
        user.user_id, body.updated_item, body.item_id, origin_session(x_session_id)
    )
    return await run(repo, work)


@router.post("/two-factor")
async def two_factor(body: TwoFactorBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Turn two-factor authentication on or off; every session of the user hears of it."""
    return await run(repo, operations.set_two_factor(user.user_id, body.enabled))


@router.post("/password")
async def password(
    body: PasswordBody,
    user: UserDep,
    repo: RepositoryDep,
    notifications: NotificationsDep,
    x_session_id: SessionHeader = None,
) -> dict[str, Any]:
    """Change the password: every token of the user is revoked, the other sessions hear of
    it and then their sockets are closed with 4403, and the answer carries a fresh token for
    the acting session (``token`` is null outside demo mode, where the host's own auth
    service issues tokens)."""
    origin = origin_session(x_session_id)
    # scrypt takes tens of milliseconds: off the event loop.
    hashed = await asyncio.to_thread(operations.hash_password, body.new_password)
    # The other sessions hear of the change, then their sockets are closed with 4403.
    async with other_sessions_ended(notifications, user.user_id) as notified:
        result = await repo.run(operations.change_password(user.user_id, hashed, origin))
        notified(cast(str, result["notification_id"]))
    token = None
    if notifications.settings.demo:
        version = cast(int, result["token_version"])
        token = demo_token(notifications.settings, user.user_id, token_version=version)
    return {"token": token, "token_type": "bearer"}


@demo_router.post("/token")
async def sign_in(
    request: Request, body: SignInBody, repo: RepositoryDep, notifications: NotificationsDep
) -> dict[str, Any]:
    """Sign in as a demo user (mounted in demo mode only): a token with the user's current
    ``token_version``, and ``new_device_login`` to the user's other sessions."""
    if body.user not in await repo.usernames():
        raise DomainError(404, "unknown_user", f"there is no demo user {body.user!r}")
    work = operations.sign_in(
        body.user,
        ip=request.client.host if request.client else "unknown",
        user_agent=request.headers.get("user-agent", "")[:MAX_USER_AGENT],
        at=datetime.now(UTC),
        origin_session=origin_session(body.session_id),
    )
    result = await repo.run(work)
    version = cast(int, result["token_version"])
    token = demo_token(notifications.settings, body.user, token_version=version)
    return {"token": token, "token_type": "bearer"}

"""The application's HTTP API: the page's reads and the operations that emit notifications.

Callers authenticate with the same Bearer token as tidings (``delivery.rest.PrincipalDep``),
so the user is always the token's ``sub``. Errors are ``{"code", "message"}`` like tidings'.
"""

import re
import secrets
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from delivery.responses import ApiError, JsonResponse
from delivery.rest import PrincipalDep
from examples.second_brain import operations
from examples.second_brain.demo_data import demo_token
from examples.second_brain.domain import Invitation, Repository, UserView

SHOP_ITEMS: Final = (
    ("Aurora", "theme", 40),
    ("Night Owl", "avatar", 15),
    ("Mountains", "banner", 25),
    ("Starter pack", "bundle", 60),
)
_SESSION_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

router = APIRouter(prefix="/api")
demo_router = APIRouter(prefix="/demo")


def repository(request: Request) -> Repository:
    """The application's repository (set up by the app's lifespan)."""
    found: Repository = request.app.state.repository
    return found


RepositoryDep = Annotated[Repository, Depends(repository)]


class TransferBody(BaseModel):
    to: str = Field(min_length=1, max_length=64)
    amount: int


class InviteBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class ProfileBody(BaseModel):
    display_name: str = Field(max_length=200)


class TokenBody(BaseModel):
    user: str = Field(min_length=1, max_length=64)


def _invitation_fields(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "family_name": invitation.family_name,
        "inviter": invitation.inviter,
    }


def view_fields(view: UserView) -> dict[str, Any]:
    """The JSON the page reads from ``GET /api/me``."""
    family = view.family
    return {
        "username": view.user.username,
        "display_name": view.user.display_name,
        "balance": view.user.balance,
        "family": None
        if family is None
        else {
            "id": family.family_id,
            "name": family.family_name,
            "role": family.role,
            "members": list(view.family_members),
        },
        "invitations": [_invitation_fields(i) for i in view.invitations],
    }


def _origin_session(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not _SESSION_ID.fullmatch(raw):
        raise ApiError(400, "invalid_session_id", "X-Session-Id must be 1-64 of [A-Za-z0-9_-]")
    return raw


async def _run(request: Request, repo: Repository, work: operations.Work) -> JsonResponse:
    """Commit ``work`` and wake the worker right after the commit."""
    result = await repo.run(work, redis=request.app.state.delivery_node.redis)
    return JsonResponse(result)


@router.get("/users")
async def users(repo: RepositoryDep) -> JsonResponse:
    """Every username (the page's user picker and transfer targets)."""
    return JsonResponse({"users": await repo.usernames()})


@router.get("/me")
async def me(user: PrincipalDep, repo: RepositoryDep) -> JsonResponse:
    """The caller's balance, family and pending invitations."""
    view = await repo.view(user.user_id)
    if view is None:
        raise ApiError(404, "unknown_user", "the token's user does not exist here")
    return JsonResponse(view_fields(view))


@router.post("/transfer")
async def transfer(
    request: Request, body: TransferBody, user: PrincipalDep, repo: RepositoryDep
) -> JsonResponse:
    """Send SBD tokens: debit, credit and both notifications in one transaction."""
    return await _run(request, repo, operations.transfer(user.user_id, body.to, body.amount))


@router.post("/family/invite")
async def invite(
    request: Request, body: InviteBody, user: PrincipalDep, repo: RepositoryDep
) -> JsonResponse:
    """Invite a user into the caller's family."""
    return await _run(request, repo, operations.invite(user.user_id, body.username))


@router.post("/family/invitations/{invitation_id}/accept")
async def accept(
    request: Request, invitation_id: str, user: PrincipalDep, repo: RepositoryDep
) -> JsonResponse:
    """Accept an invitation addressed to the caller."""
    return await _run(request, repo, operations.accept(user.user_id, invitation_id))


@router.post("/profile")
async def profile(
    request: Request,
    body: ProfileBody,
    user: PrincipalDep,
    repo: RepositoryDep,
    x_session_id: Annotated[str | None, Header()] = None,
) -> JsonResponse:
    """Change the display name; ``X-Session-Id`` becomes the notification's origin_session."""
    origin = _origin_session(x_session_id)
    work = operations.update_profile(user.user_id, body.display_name, origin)
    return await _run(request, repo, work)


@router.post("/shop/items")
async def shop_item(request: Request, user: PrincipalDep, repo: RepositoryDep) -> JsonResponse:
    """Add a demo item to the shop; everyone connected gets a broadcast."""
    name, item_type, price = secrets.choice(SHOP_ITEMS)
    return await _run(request, repo, operations.add_shop_item(name, item_type, price))


@demo_router.post("/token")
async def token(request: Request, body: TokenBody, repo: RepositoryDep) -> JsonResponse:
    """Sign an access token for a demo user (mounted in demo mode only)."""
    if body.user not in await repo.usernames():
        raise ApiError(404, "unknown_user", f"there is no demo user {body.user!r}")
    settings = request.app.state.delivery_node.settings
    return JsonResponse({"token": demo_token(settings, body.user), "token_type": "bearer"})

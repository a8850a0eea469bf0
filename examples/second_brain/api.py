"""The application's HTTP API: the page's reads, token transfers and the shop.

Callers authenticate with the same Bearer token as tidings (``auth.UserDep``, which also
applies the app's revocation check), so the user is always the token's ``sub``. Errors are
``{"code", "message"}`` like tidings', plus ``"field"`` when a refusal is about one request
field (the page shows the message next to it). The family routes are in
``api_family.py``, the account routes (sign-in, password, two-factor, profile, appearance)
in ``api_account.py``.
"""

import re
import secrets
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from examples.second_brain import operations
from examples.second_brain.auth import UserDep
from examples.second_brain.domain import (
    DomainError,
    FamilyView,
    Invitation,
    ItemType,
    ShopItem,
    TokenRequest,
    UserView,
)
from examples.second_brain.ports import Repository
from tidings import Tidings

NEW_SHOP_ITEMS: Final[tuple[tuple[str, ItemType, int], ...]] = (
    ("Aurora", "theme", 40),
    ("Night Owl", "avatar", 15),
    ("Mountains", "banner", 25),
    ("Starter pack", "bundle", 60),
)
_SESSION_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

router = APIRouter(prefix="/api")


def repository(request: Request) -> Repository:
    """The application's repository (set up by the app's lifespan)."""
    found: Repository = request.app.state.repository
    return found


RepositoryDep = Annotated[Repository, Depends(repository)]


def notifications(request: Request) -> Tidings:
    """tidings as the app mounted it (``create_app``): to revoke, and for its settings."""
    found: Tidings = request.app.state.notifications
    return found


NotificationsDep = Annotated[Tidings, Depends(notifications)]


def origin_session(raw: str | None) -> str | None:
    """The acting tab's session id from ``X-Session-Id`` (None when absent); 400
    ``invalid_session_id`` unless it is 1-64 of ``[A-Za-z0-9_-]``."""
    if raw is None:
        return None
    if not _SESSION_ID.fullmatch(raw):
        raise DomainError(400, "invalid_session_id", "X-Session-Id must be 1-64 of [A-Za-z0-9_-]")
    return raw


async def run(repo: Repository, work: operations.Work) -> dict[str, Any]:
    """Commit ``work`` (the repository wakes the worker right after the commit)."""
    return await repo.run(work)


class TransferBody(BaseModel):
    to: str = Field(min_length=1, max_length=64)
    amount: int


class PurchaseBody(BaseModel):
    item_id: str = Field(min_length=1, max_length=64)


def _invitation_fields(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "family_name": invitation.family_name,
        "inviter": invitation.inviter,
    }


def _request_fields(request: TokenRequest) -> dict[str, Any]:
    return {"id": request.id, "requester": request.requester, "amount": request.amount}


def _family_fields(family: FamilyView) -> dict[str, Any]:
    return {
        "id": family.account.id,
        "name": family.account.name,
        "role": family.role,
        "balance": family.account.balance,
        "is_frozen": family.account.is_frozen,
        "members": [{"username": m.username, "role": m.role} for m in family.members],
        "requests": [_request_fields(r) for r in family.requests],
    }


def view_fields(view: UserView) -> dict[str, Any]:
    """The JSON the page reads from ``GET /api/me``."""
    user = view.user
    return {
        "username": user.username,
        "display_name": user.display_name,
        "balance": user.balance,
        "two_factor": user.two_factor,
        "appearance": {"avatar": user.avatar, "banner": user.banner, "theme": user.theme},
        "family": None if view.family is None else _family_fields(view.family),
        "invitations": [_invitation_fields(i) for i in view.invitations],
    }


def item_fields(item: ShopItem) -> dict[str, Any]:
    """One shop item as the page reads it."""
    return {"id": item.id, "name": item.name, "item_type": item.item_type, "price": item.price}


@router.get("/users")
async def users(repo: RepositoryDep) -> dict[str, Any]:
    """Every username (the page's user picker and transfer targets)."""
    return {"users": await repo.usernames()}


@router.get("/me")
async def me(user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """The caller's balance, settings, family and pending invitations."""
    view = await repo.view(user.user_id)
    if view is None:
        raise DomainError(404, "unknown_user", "the token's user does not exist here")
    return view_fields(view)


@router.get("/shop")
async def shop(_user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Every shop item."""
    return {"items": [item_fields(item) for item in await repo.shop_items()]}


@router.post("/transfer")
async def transfer(body: TransferBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Send SBD tokens: debit, credit and both notifications in one transaction."""
    return await run(repo, operations.transfer(user.user_id, body.to, body.amount))


@router.post("/shop/items")
async def shop_item(_user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Add a demo item to the shop; everyone connected gets a broadcast."""
    name, item_type, price = secrets.choice(NEW_SHOP_ITEMS)
    return await run(repo, operations.add_shop_item(name, item_type, price))


@router.post("/family/purchases")
async def purchase(body: PurchaseBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Buy a shop item with the family account; every member hears of it."""
    return await run(repo, operations.buy_for_family(user.user_id, body.item_id))

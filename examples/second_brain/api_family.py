"""The family routes: invitations, leaving, roles, token requests and the account.

Who may do what is decided by the operations (``operations/family*.py``), which refuse with a
``DomainError`` (403 ``not_family_admin``, 409 ``account_frozen``, ...).
"""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from examples.second_brain import operations
from examples.second_brain.api import RepositoryDep, run
from examples.second_brain.auth import UserDep

router = APIRouter(prefix="/api/family")


class InviteBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class RoleBody(BaseModel):
    role: str = Field(min_length=1, max_length=16)


class RequestBody(BaseModel):
    amount: int


class AccountBody(BaseModel):
    frozen: bool


@router.post("/invite")
async def invite(body: InviteBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Invite a user into the caller's family (admins)."""
    return await run(repo, operations.invite(user.user_id, body.username))


@router.post("/invitations/{invitation_id}/accept")
async def accept(invitation_id: str, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Accept an invitation addressed to the caller."""
    return await run(repo, operations.accept(user.user_id, invitation_id))


@router.post("/invitations/{invitation_id}/decline")
async def decline(invitation_id: str, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Decline an invitation addressed to the caller."""
    return await run(repo, operations.decline(user.user_id, invitation_id))


@router.post("/leave")
async def leave(user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Leave the caller's family."""
    return await run(repo, operations.leave(user.user_id))


@router.post("/members/{username}/role")
async def role(username: str, body: RoleBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Promote a member to admin or make an admin a member again (admins)."""
    return await run(repo, operations.set_role(user.user_id, username, body.role))


@router.post("/requests")
async def request_tokens(body: RequestBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Ask the family account for tokens; the admins hear of it."""
    return await run(repo, operations.request_tokens(user.user_id, body.amount))


@router.post("/requests/{request_id}/approve")
async def approve(request_id: str, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Approve a token request: the family account pays the requester (admins)."""
    return await run(repo, operations.review_request(user.user_id, request_id, True))


@router.post("/requests/{request_id}/deny")
async def deny(request_id: str, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Deny a token request (admins)."""
    return await run(repo, operations.review_request(user.user_id, request_id, False))


@router.post("/account")
async def account(body: AccountBody, user: UserDep, repo: RepositoryDep) -> dict[str, Any]:
    """Freeze (``{"frozen": true}``) or unfreeze the family account (admins)."""
    return await run(repo, operations.set_frozen(user.user_id, body.frozen))

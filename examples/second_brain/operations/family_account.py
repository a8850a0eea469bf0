"""The catalog's ``family`` module, account part: token requests and freezing the account.

The family's shared SBD account pays approved requests and family purchases; a frozen
account pays nothing and takes no new requests.
"""

import secrets

from examples.second_brain.domain import DomainError, Member, RequestStatus, TokenRequest
from examples.second_brain.operations.common import (
    Work,
    admin_membership,
    check_amount,
    membership_of,
    open_account,
)
from examples.second_brain.ports import Tx
from tidings import Group, Users


def request_tokens(requester: str, amount: int) -> Work:
    """Ask the family account for ``amount`` tokens: the family's admins get
    ``token_request_created``."""
    check_amount(amount)

    async def work(tx: Tx) -> dict[str, object]:
        member = await membership_of(tx, requester)
        await open_account(tx, member.family_id, field="amount")
        request = TokenRequest(f"req-{secrets.token_hex(6)}", member.family_id, requester, amount)
        await tx.add_token_request(request)
        await tx.emit(
            "token_request_created",
            {"request_id": request.id, "requester_username": requester, "amount": amount},
            to=Group("family_admins", member.family_id),
        )
        return {"request_id": request.id}

    return work


async def _reviewable(tx: Tx, reviewer: Member, request_id: str) -> TokenRequest:
    request = await tx.token_request(request_id)
    if request is None or request.family_id != reviewer.family_id:
        raise DomainError(404, "unknown_request", "no such request in your family")
    if request.status != "pending":
        raise DomainError(409, "request_reviewed", "this request was reviewed")
    if request.requester == reviewer.username:
        raise DomainError(403, "own_request", "another admin must review your request")
    return request


async def _pay(tx: Tx, request: TokenRequest) -> None:
    """Move the requested tokens from the family account to the requester."""
    await open_account(tx, request.family_id)
    member = await tx.membership(request.requester)
    if member is None or member.family_id != request.family_id:
        raise DomainError(409, "requester_left", f"{request.requester} left the family")
    if await tx.add_to_account(request.family_id, -request.amount) is None:
        message = "the family account has too few tokens"
        raise DomainError(409, "insufficient_family_funds", message)
    await tx.credit(request.requester, request.amount)


def review_request(reviewer: str, request_id: str, approve: bool) -> Work:
    """Approve (pay from the family account) or deny a member's request; the requester gets
    ``token_request_reviewed``. Admins only, and not their own requests."""

    async def work(tx: Tx) -> dict[str, object]:
        admin = await admin_membership(tx, reviewer)
        request = await _reviewable(tx, admin, request_id)
        if approve:
            await _pay(tx, request)
        status: RequestStatus = "approved" if approve else "denied"
        await tx.review_token_request(request_id, status, reviewer)
        await tx.emit(
            "token_request_reviewed",
            {"request_id": request_id, "status": status, "reviewer_username": reviewer},
            to=Users((request.requester,)),
        )
        return {"request_id": request_id, "status": status}

    return work


def set_frozen(admin: str, frozen: bool) -> Work:
    """Freeze or unfreeze the family account (admins only): every member gets
    ``family_account_status_changed``. 409 ``account_unchanged`` when it already is."""

    async def work(tx: Tx) -> dict[str, object]:
        member = await admin_membership(tx, admin)
        family = await tx.family(member.family_id)
        if family is None:
            raise DomainError(404, "unknown_family", "the family no longer exists")
        if family.is_frozen == frozen:
            state = "frozen" if frozen else "not frozen"
            raise DomainError(409, "account_unchanged", f"the account is already {state}")
        await tx.set_frozen(family.id, frozen)
        await tx.emit(
            "family_account_status_changed",
            {"family_id": family.id, "is_frozen": frozen},
            to=Group("family", family.id),
        )
        return {"is_frozen": frozen}

    return work

"""The application's operations: each changes domain data and emits its notifications in one
transaction (a :class:`~examples.second_brain.domain.Tx`), so both commit or neither does.

Each function returns a coroutine function for :meth:`Repository.run`; it may run more than
once when the store retries a transaction, and raises :class:`DomainError` to refuse (which
rolls back everything, emits included).
"""

import secrets
from collections.abc import Awaitable, Callable

from api_hooks import Everyone, Group, Users
from examples.second_brain.domain import DomainError, Invitation, Member, ShopItem, Tx

MAX_AMOUNT = 1_000_000
MAX_DISPLAY_NAME = 64

Work = Callable[[Tx], Awaitable[dict[str, object]]]


async def _existing_user(tx: Tx, username: str) -> None:
    if await tx.user(username) is None:
        raise DomainError(404, "unknown_user", f"there is no user {username!r}")


def transfer(sender: str, receiver: str, amount: int) -> Work:
    """Move ``amount`` SBD tokens; both parties learn their new balance."""
    if not 0 < amount <= MAX_AMOUNT:
        raise DomainError(400, "invalid_amount", f"amount must be 1-{MAX_AMOUNT}")
    if sender == receiver:
        raise DomainError(400, "self_transfer", "cannot send tokens to yourself")

    async def work(tx: Tx) -> dict[str, object]:
        await _existing_user(tx, receiver)
        sender_balance = await tx.debit(sender, amount)
        if sender_balance is None:
            raise DomainError(409, "insufficient_funds", "not enough SBD tokens")
        receiver_balance = await tx.credit(receiver, amount)
        await tx.emit(
            "sbd_tokens_sent",
            {"to_username": receiver, "amount": amount, "new_balance": sender_balance},
            to=Users((sender,)),
        )
        await tx.emit(
            "sbd_tokens_received",
            {"from_username": sender, "amount": amount, "new_balance": receiver_balance},
            to=Users((receiver,)),
        )
        return {"new_balance": sender_balance}

    return work


def invite(inviter: str, invitee: str) -> Work:
    """Invite ``invitee`` into the inviter's family (admins only)."""

    async def work(tx: Tx) -> dict[str, object]:
        await _existing_user(tx, invitee)
        family = await tx.membership(inviter)
        if family is None or family.role != "admin":
            raise DomainError(403, "not_family_admin", "only a family admin can invite")
        if await tx.membership(invitee) is not None:
            raise DomainError(409, "already_in_family", f"{invitee} is already in a family")
        invitation = Invitation(
            id=f"inv-{secrets.token_hex(6)}",
            family_id=family.family_id,
            family_name=family.family_name,
            inviter=inviter,
            invitee=invitee,
        )
        await tx.add_invitation(invitation)
        await tx.emit(
            "family_invitation_received",
            {
                "invitation_id": invitation.id,
                "family_name": family.family_name,
                "inviter_username": inviter,
            },
            to=Users((invitee,)),
        )
        return {"invitation_id": invitation.id}

    return work


def accept(invitee: str, invitation_id: str) -> Work:
    """Accept an invitation: join the family; its admins and every member are told."""

    async def work(tx: Tx) -> dict[str, object]:
        invitation = await tx.invitation(invitation_id)
        if invitation is None or invitation.invitee != invitee:
            raise DomainError(404, "unknown_invitation", "no such invitation for you")
        if invitation.status != "pending":
            raise DomainError(409, "invitation_answered", "this invitation was answered")
        if await tx.membership(invitee) is not None:
            raise DomainError(409, "already_in_family", "you are already in a family")
        await tx.set_invitation_status(invitation_id, "accepted")
        family_id = invitation.family_id
        await tx.add_member(Member(family_id, invitation.family_name, invitee, "member"))
        admins = [m.username for m in await tx.members(family_id) if m.role == "admin"]
        await tx.emit(
            "family_invitation_responded",
            {"invitation_id": invitation_id, "invitee_username": invitee, "action": "accepted"},
            to=Users(tuple(dict.fromkeys([invitation.inviter, *admins]))),
        )
        # Resolved by the worker from the membership data this transaction commits.
        await tx.emit(
            "family_member_joined",
            {"family_id": family_id, "new_member_username": invitee},
            to=Group("family", family_id),
        )
        return {"family_id": family_id}

    return work


def update_profile(username: str, display_name: str, origin_session: str | None) -> Work:
    """Change the display name; every session of the user hears of it, the origin included
    (it recognises ``origin_session`` and does not show it)."""
    display_name = display_name.strip()
    if not 0 < len(display_name) <= MAX_DISPLAY_NAME:
        raise DomainError(400, "invalid_display_name", "display name must be 1-64 characters")

    async def work(tx: Tx) -> dict[str, object]:
        await tx.set_display_name(username, display_name)
        await tx.emit(
            "profile_updated",
            {"updated_fields": ["display_name"], "message": f"Display name is now {display_name}"},
            to=Users((username,)),
            origin_session=origin_session,
        )
        return {"display_name": display_name}

    return work


def add_shop_item(name: str, item_type: str, price: int) -> Work:
    """Put an item in the shop and tell everyone connected (a best-effort broadcast)."""

    async def work(tx: Tx) -> dict[str, object]:
        item = ShopItem(f"{item_type}-{secrets.token_hex(4)}", name, item_type, price)
        await tx.add_shop_item(item)
        new_item = {"item_id": item.id, "name": name, "item_type": item_type, "price": price}
        await tx.emit("shop_updated", {"new_items": [new_item], "updated_items": []}, to=Everyone())
        return {"item_id": item.id}

    return work

"""The catalog's ``family`` module, membership part: invitations, leaving, roles.

Audiences that depend on the family are groups the worker resolves after the commit
(``resolvers.py``): ``family`` (the members), ``invitation_admins`` (the inviter and the
family's admins). So a member who joins hears of their own joining, and one who leaves does
not hear of their own leaving.
"""

import secrets

from examples.second_brain.domain import DomainError, Invitation, Member, Role, is_role
from examples.second_brain.operations.common import (
    Work,
    admin_membership,
    existing_user,
    membership_of,
)
from examples.second_brain.ports import Tx
from tidings import Group, Users


def invite(inviter: str, invitee: str) -> Work:
    """Invite ``invitee`` into the inviter's family (admins only); the invitee gets
    ``family_invitation_received``."""

    async def work(tx: Tx) -> dict[str, object]:
        await existing_user(tx, invitee, field="username")
        family = await admin_membership(tx, inviter)
        if await tx.membership(invitee) is not None:
            message = f"{invitee} is already in a family"
            raise DomainError(409, "already_in_family", message, field="username")
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


async def _pending_invitation(tx: Tx, invitee: str, invitation_id: str) -> Invitation:
    invitation = await tx.invitation(invitation_id)
    if invitation is None or invitation.invitee != invitee:
        raise DomainError(404, "unknown_invitation", "no such invitation for you")
    if invitation.status != "pending":
        raise DomainError(409, "invitation_answered", "this invitation was answered")
    return invitation


async def _responded(tx: Tx, invitation: Invitation, action: str) -> None:
    await tx.emit(
        "family_invitation_responded",
        {"invitation_id": invitation.id, "invitee_username": invitation.invitee, "action": action},
        to=Group("invitation_admins", invitation.id),
    )


def accept(invitee: str, invitation_id: str) -> Work:
    """Accept an invitation and join the family: the inviter and the admins get
    ``family_invitation_responded``, every member (the new one too) ``family_member_joined``."""

    async def work(tx: Tx) -> dict[str, object]:
        invitation = await _pending_invitation(tx, invitee, invitation_id)
        if await tx.membership(invitee) is not None:
            raise DomainError(409, "already_in_family", "you are already in a family")
        await tx.set_invitation_status(invitation_id, "accepted")
        family_id = invitation.family_id
        await tx.add_member(Member(family_id, invitation.family_name, invitee, "member"))
        await _responded(tx, invitation, "accepted")
        await tx.emit(
            "family_member_joined",
            {"family_id": family_id, "new_member_username": invitee},
            to=Group("family", family_id),
        )
        return {"family_id": family_id}

    return work


def decline(invitee: str, invitation_id: str) -> Work:
    """Decline an invitation: the inviter and the admins get ``family_invitation_responded``."""

    async def work(tx: Tx) -> dict[str, object]:
        invitation = await _pending_invitation(tx, invitee, invitation_id)
        await tx.set_invitation_status(invitation_id, "declined")
        await _responded(tx, invitation, "declined")
        return {"invitation_id": invitation_id}

    return work


def leave(username: str) -> Work:
    """Leave the family: the members who stay get ``family_member_left``. The last admin
    cannot leave (409 ``last_admin``): promote another member first."""

    async def work(tx: Tx) -> dict[str, object]:
        member = await membership_of(tx, username)
        family_id = member.family_id
        if member.role == "admin":
            admins = [m for m in await tx.members(family_id) if m.role == "admin"]
            if len(admins) == 1:
                message = "you are the family's last admin: promote another member first"
                raise DomainError(409, "last_admin", message)
        await tx.remove_member(username)
        await tx.emit(
            "family_member_left",
            {"family_id": family_id, "member_username": username},
            to=Group("family", family_id),
        )
        return {"family_id": family_id}

    return work


def set_role(admin: str, username: str, role: str) -> Work:
    """Make another member of the admin's family an admin or a member again: every member
    gets ``role_changed`` (the affected one and, as a notice, the others)."""
    if not is_role(role):
        raise DomainError(400, "invalid_role", "role must be admin or member", field="role")
    if admin == username:
        raise DomainError(400, "own_role", "you cannot change your own role", field="username")
    new_role: Role = role

    async def work(tx: Tx) -> dict[str, object]:
        family = await admin_membership(tx, admin)
        member = await tx.membership(username)
        if member is None or member.family_id != family.family_id:
            message = f"{username} is not in your family"
            raise DomainError(404, "not_a_member", message, field="username")
        if member.role == new_role:
            message = f"{username} is already {'an admin' if new_role == 'admin' else 'a member'}"
            raise DomainError(409, "role_unchanged", message, field="role")
        await tx.set_role(username, new_role)
        await tx.emit(
            "role_changed",
            {"family_id": family.family_id, "new_role": new_role},
            to=Group("family", family.family_id),
        )
        return {"username": username, "role": new_role}

    return work

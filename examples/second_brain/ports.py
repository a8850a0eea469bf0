"""The application's storage port: :class:`Tx`, one open transaction, and :class:`Repository`,
which runs operations in transactions and answers the page's reads.

Every write of an operation and its ``emit`` calls go through one ``Tx``, so they commit
together or not at all.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from examples.second_brain.domain import (
    AppearanceSlot,
    Family,
    Invitation,
    InvitationStatus,
    Member,
    Purchase,
    RequestStatus,
    Role,
    ShopItem,
    TokenRequest,
    User,
    UserView,
)
from tidings import Everyone, Group, Users

Audience = Users | Group | Everyone


class Tx(Protocol):
    """One open transaction of the application's store. Nothing is visible until it commits;
    when the operation raises, everything it did, emits included, is rolled back."""

    async def user(self, username: str) -> User | None:
        """The user, or None."""
        ...

    async def debit(self, username: str, amount: int) -> int | None:
        """Take ``amount`` from the balance; the new balance, or None when it is too low."""
        ...

    async def credit(self, username: str, amount: int) -> int:
        """Add ``amount`` to the balance; the new balance."""
        ...

    async def set_display_name(self, username: str, display_name: str) -> None:
        """Change the user's display name."""
        ...

    async def set_password(self, username: str, password_hash: str) -> int:
        """Store the new password hash and bump ``token_version``; the new version."""
        ...

    async def set_two_factor(self, username: str, enabled: bool) -> None:
        """Turn two-factor authentication on or off."""
        ...

    async def set_appearance(self, username: str, slot: AppearanceSlot, item_id: str) -> None:
        """Use the shop item ``item_id`` as the user's avatar, banner or theme."""
        ...

    async def family(self, family_id: str) -> Family | None:
        """The family and its account, or None."""
        ...

    async def add_family(self, family: Family) -> None:
        """Create the family with its account unless it exists (then nothing changes)."""
        ...

    async def membership(self, username: str) -> Member | None:
        """The user's family membership, or None (a user is in at most one family)."""
        ...

    async def members(self, family_id: str) -> Sequence[Member]:
        """Every member of the family."""
        ...

    async def add_member(self, member: Member) -> None:
        """Add a member to an existing family."""
        ...

    async def remove_member(self, username: str) -> None:
        """Take the user out of their family."""
        ...

    async def set_role(self, username: str, role: Role) -> None:
        """Change a member's role in their family."""
        ...

    async def add_to_account(self, family_id: str, amount: int) -> int | None:
        """Add ``amount`` (negative to take) to the family account; the new balance, or None
        when it would go below zero (then nothing changes)."""
        ...

    async def set_frozen(self, family_id: str, frozen: bool) -> None:
        """Freeze or unfreeze the family account."""
        ...

    async def add_invitation(self, invitation: Invitation) -> None:
        """Store a new invitation."""
        ...

    async def invitation(self, invitation_id: str) -> Invitation | None:
        """The invitation, or None."""
        ...

    async def set_invitation_status(self, invitation_id: str, status: InvitationStatus) -> None:
        """Record the invitee's answer."""
        ...

    async def add_token_request(self, request: TokenRequest) -> None:
        """Store a new token request."""
        ...

    async def token_request(self, request_id: str) -> TokenRequest | None:
        """The token request, or None."""
        ...

    async def review_token_request(
        self, request_id: str, status: RequestStatus, reviewer: str
    ) -> None:
        """Record an admin's decision on a token request."""
        ...

    async def shop_item(self, item_id: str) -> ShopItem | None:
        """The shop item, or None."""
        ...

    async def add_shop_item(self, item: ShopItem) -> None:
        """Put a new item in the shop."""
        ...

    async def add_purchase(self, purchase: Purchase) -> None:
        """Record an item bought for a family."""
        ...

    async def emit(
        self,
        event: str,
        data: Mapping[str, Any],
        *,
        to: Audience,
        origin_session: str | None = None,
    ) -> str:
        """Write a notification in this transaction (``Tidings.emit``); its id, which the
        recipients' frames carry.

        Raises ``ValueError`` for an event that is not in ``catalog.EVENTS`` or whose data
        does not have exactly the catalog's fields.
        """
        ...


class Repository(Protocol):
    """The application's store: transactions for operations, reads for the page and for the
    worker's group resolvers."""

    async def run[T](self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction with the driver's retry rules, commit it, then wake
        the routing worker (``Tidings.run_in_transaction``).

        ``work`` may run more than once (retries) and must have no other side effects.
        """
        ...

    async def view(self, username: str) -> UserView | None:
        """The signed-in user's page state, or None for an unknown user."""
        ...

    async def usernames(self) -> list[str]:
        """Every user, in name order."""
        ...

    async def shop_items(self) -> list[ShopItem]:
        """Every shop item, in name order."""
        ...

    async def token_version(self, username: str) -> int | None:
        """The token version the user's tokens must carry, or None for an unknown user."""
        ...

    async def family_usernames(self, family_id: str) -> list[str]:
        """The family's members: what the ``family`` group resolves to."""
        ...

    async def family_admins(self, family_id: str) -> list[str]:
        """The family's admins: what the ``family_admins`` group resolves to."""
        ...

    async def invitation_admins(self, invitation_id: str) -> list[str]:
        """The inviter, then the current admins of the invitation's family: what the
        ``invitation_admins`` group resolves to."""
        ...

    async def seed(
        self,
        users: Sequence[User],
        families: Sequence[Family],
        members: Sequence[Member],
        items: Sequence[ShopItem],
    ) -> None:
        """Create the users, families, memberships and items that do not exist yet
        (idempotent: existing ones are left as they are)."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...

"""The example application's records and its storage port.

Domain operations (``operations.py``) are written once against :class:`Tx`, the view of one
open transaction; :class:`Repository` runs them in a transaction of its store and answers the
page's read-only questions. ``sqlite_repo.py`` and ``mongo_repo.py`` are the two adapters and
the only modules that touch a driver.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from outbox.records import Audience

Role = Literal["admin", "member"]
InvitationStatus = Literal["pending", "accepted", "declined"]


class DomainError(Exception):
    """A refused operation: ``code`` is stable snake_case, ``status`` the HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def store_unavailable(error: BaseException) -> DomainError:
    """What an adapter raises for a driver error its retries could not overcome."""
    message = f"the store failed ({type(error).__name__}); try again"
    return DomainError(503, "store_unavailable", message)


@dataclass(frozen=True)
class User:
    """A user and their SBD token balance."""

    username: str
    display_name: str
    balance: int


@dataclass(frozen=True)
class Member:
    """One membership: who belongs to which family, with which role."""

    family_id: str
    family_name: str
    username: str
    role: Role


@dataclass(frozen=True)
class Invitation:
    """An invitation to join a family."""

    id: str
    family_id: str
    family_name: str
    inviter: str
    invitee: str
    status: InvitationStatus = "pending"


@dataclass(frozen=True)
class ShopItem:
    """An item of the shop."""

    id: str
    name: str
    item_type: str
    price: int


@dataclass(frozen=True)
class UserView:
    """What the page shows about the signed-in user."""

    user: User
    family: Member | None
    family_members: tuple[str, ...] = ()
    invitations: tuple[Invitation, ...] = field(default=())


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

    async def membership(self, username: str) -> Member | None:
        """The user's family membership, or None (a user is in at most one family)."""
        ...

    async def members(self, family_id: str) -> Sequence[Member]:
        """Every member of the family."""
        ...

    async def add_member(self, member: Member) -> None:
        """Add a member to a family."""
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

    async def add_shop_item(self, item: ShopItem) -> None:
        """Put a new item in the shop."""
        ...

    async def emit(
        self,
        event: str,
        data: Mapping[str, Any],
        *,
        to: Audience,
        origin_session: str | None = None,
    ) -> None:
        """Write a notification in this transaction (``api_hooks.Emitter.emit``)."""
        ...


class Repository(Protocol):
    """The application's store: transactions for operations, reads for the page."""

    async def run[T](self, work: Callable[[Tx], Awaitable[T]], *, redis: Any = None) -> T:
        """Run ``work`` in one transaction with the driver's retry rules and commit it.

        ``work`` may run more than once (retries) and must have no other side effects. With
        ``redis``, the routing worker is woken after the commit.
        """
        ...

    async def view(self, username: str) -> UserView | None:
        """The signed-in user's page state, or None for an unknown user."""
        ...

    async def usernames(self) -> list[str]:
        """Every user, in name order."""
        ...

    async def family_usernames(self, family_id: str) -> list[str]:
        """The usernames of a family's members: what the ``family`` group resolves to."""
        ...

    async def seed(self, users: Sequence[User], members: Sequence[Member]) -> None:
        """Create the users and memberships that do not exist yet (idempotent)."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...

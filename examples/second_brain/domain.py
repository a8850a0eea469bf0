"""The example application's records and its refusal type.

Operations (``operations/``) are written once against the storage port in ``ports.py``;
``sqlite_*.py`` and ``mongo_*.py`` are its two adapters and the only modules that touch a
driver.
"""

from dataclasses import dataclass, field
from typing import Literal, TypeIs

Role = Literal["admin", "member"]
InvitationStatus = Literal["pending", "accepted", "declined"]
RequestStatus = Literal["pending", "approved", "denied"]
ItemType = Literal["theme", "avatar", "banner", "bundle"]
AppearanceSlot = Literal["avatar", "banner", "theme"]

APPEARANCE_SLOTS: tuple[AppearanceSlot, ...] = ("avatar", "banner", "theme")
ROLES: tuple[Role, ...] = ("admin", "member")


def is_appearance_slot(value: str) -> TypeIs[AppearanceSlot]:
    """True for ``avatar``, ``banner`` and ``theme``."""
    return value in APPEARANCE_SLOTS


def is_role(value: str) -> TypeIs[Role]:
    """True for ``admin`` and ``member``."""
    return value in ROLES


class DomainError(Exception):
    """A refused operation: ``code`` is stable snake_case, ``status`` the HTTP status, and
    ``field`` the request field the refusal is about (None when it is about no one field)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def store_unavailable(error: BaseException) -> DomainError:
    """What an adapter raises for a driver error its retries could not overcome."""
    message = f"the store failed ({type(error).__name__}); try again"
    return DomainError(503, "store_unavailable", message)


@dataclass(frozen=True)
class User:
    """A user, their SBD token balance and their account settings.

    ``token_version`` is what the user's access tokens must carry to be accepted; bumping it
    revokes every token issued before.
    """

    username: str
    display_name: str
    balance: int
    token_version: int = 0
    two_factor: bool = False
    avatar: str | None = None
    banner: str | None = None
    theme: str | None = None


@dataclass(frozen=True)
class Family:
    """A family and its shared SBD token account."""

    id: str
    name: str
    balance: int = 0
    is_frozen: bool = False


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
class TokenRequest:
    """A member's request for tokens from the family account, and its review."""

    id: str
    family_id: str
    requester: str
    amount: int
    status: RequestStatus = "pending"
    reviewer: str | None = None


@dataclass(frozen=True)
class ShopItem:
    """An item of the shop."""

    id: str
    name: str
    item_type: ItemType
    price: int


@dataclass(frozen=True)
class Purchase:
    """An item bought for a family with its account."""

    id: str
    family_id: str
    purchaser: str
    item_id: str
    price: int


@dataclass(frozen=True)
class FamilyView:
    """The signed-in user's family: the account, every member, and (for admins) the
    pending token requests."""

    account: Family
    role: Role
    members: tuple[Member, ...]
    requests: tuple[TokenRequest, ...] = ()


@dataclass(frozen=True)
class UserView:
    """What the page shows about the signed-in user."""

    user: User
    family: FamilyView | None
    invitations: tuple[Invitation, ...] = field(default=())

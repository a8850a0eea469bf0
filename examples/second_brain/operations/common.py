"""What every operation module shares: the shape of an operation and the checks they repeat.

An operation is a function that validates its arguments (raising :class:`DomainError` at
once) and returns a coroutine function for :meth:`Repository.run`. That coroutine may run more
than once when the store retries a transaction, and raises :class:`DomainError` to refuse,
which rolls back everything it did, emits included.
"""

from collections.abc import Awaitable, Callable
from typing import Final

from examples.second_brain.domain import DomainError, Family, Member, User
from examples.second_brain.ports import Tx

MAX_AMOUNT: Final = 1_000_000

Work = Callable[[Tx], Awaitable[dict[str, object]]]


def check_amount(amount: int, *, field: str = "amount") -> None:
    """Refuse an amount outside 1..MAX_AMOUNT (400 ``invalid_amount``)."""
    if not 0 < amount <= MAX_AMOUNT:
        raise DomainError(400, "invalid_amount", f"amount must be 1-{MAX_AMOUNT}", field=field)


async def existing_user(tx: Tx, username: str, *, field: str | None = None) -> User:
    """The user; 404 ``unknown_user`` when there is none."""
    user = await tx.user(username)
    if user is None:
        raise DomainError(404, "unknown_user", f"there is no user {username!r}", field=field)
    return user


async def membership_of(tx: Tx, username: str) -> Member:
    """The user's membership; 409 ``not_in_family`` when they are in none."""
    member = await tx.membership(username)
    if member is None:
        raise DomainError(409, "not_in_family", "you are not in a family")
    return member


async def admin_membership(tx: Tx, username: str) -> Member:
    """The user's membership as an admin; 403 ``not_family_admin`` otherwise."""
    member = await tx.membership(username)
    if member is None or member.role != "admin":
        raise DomainError(403, "not_family_admin", "only a family admin can do this")
    return member


async def open_account(tx: Tx, family_id: str, *, field: str | None = None) -> Family:
    """The family's account; 409 ``account_frozen`` when it is frozen."""
    family = await tx.family(family_id)
    if family is None:
        raise DomainError(404, "unknown_family", "the family no longer exists")
    if family.is_frozen:
        raise DomainError(409, "account_frozen", "the family account is frozen", field=field)
    return family

"""The catalog's ``auth`` module: sign-in from a device, password change, two-factor.

A password change bumps the user's ``token_version``, which revokes every token issued before
(the app's revocation check compares the token's ``token_version`` claim with it).
"""

import hashlib
import re
import secrets
from datetime import datetime
from typing import Final

from examples.second_brain.domain import DomainError
from examples.second_brain.operations.common import Work, existing_user
from examples.second_brain.ports import Tx
from tidings import Users

MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 128
# scrypt at RFC 7914's interactive cost: about 16 MiB and a few tens of ms per hash.
_SCRYPT: Final = {"n": 2**14, "r": 8, "p": 1}
# Most specific first: Edge and Opera also say Chrome, Chrome also says Safari.
_BROWSERS: Final = tuple(
    (re.compile(rf"\b{token}/(\d+)"), name)
    for token, name in (
        ("Edg", "Edge"),
        ("OPR", "Opera"),
        ("Firefox", "Firefox"),
        ("HeadlessChrome", "HeadlessChrome"),
        ("Chrome", "Chrome"),
        ("Safari", "Safari"),
    )
)
_SYSTEMS: Final = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
PASSWORD_CHANGED_MESSAGE: Final = "Your password was changed; sign in again on this device"


def describe_device(user_agent: str) -> str:
    """A short name for the device behind ``user_agent``, e.g. ``Chrome 131 on Linux``."""
    found = ((pattern.search(user_agent), name) for pattern, name in _BROWSERS)
    name = next((f"{label} {match[1]}" for match, label in found if match), "Unknown browser")
    system = next((label for token, label in _SYSTEMS if token in user_agent), None)
    return f"{name} on {system}" if system else name


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC with a ``Z`` suffix and microseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sign_in(
    username: str, *, ip: str, user_agent: str, at: datetime, origin_session: str | None
) -> Work:
    """Record a sign-in from a device: the user's other sessions get ``new_device_login``
    (the signing-in tab is the origin). Returns the ``token_version`` to put in the token."""
    fields = {
        "device": describe_device(user_agent),
        "ip": ip,
        "user_agent": user_agent,
        "at": iso_utc(at),
    }

    async def work(tx: Tx) -> dict[str, object]:
        user = await existing_user(tx, username, field="user")
        await tx.emit(
            "new_device_login", fields, to=Users((username,)), origin_session=origin_session
        )
        return {"token_version": user.token_version}

    return work


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``; 400 ``weak_password`` when it is not 8-128
    characters."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        message = f"the password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"
        raise DomainError(400, "weak_password", message, field="new_password")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    cost = "$".join(str(_SCRYPT[name]) for name in ("n", "r", "p"))
    return f"scrypt${cost}${salt.hex()}${digest.hex()}"


def change_password(username: str, password_hash: str, origin_session: str | None) -> Work:
    """Store a new password (hashed by :func:`hash_password`) and revoke every token of the
    user; the user's other sessions get ``password_changed``. Returns the new
    ``token_version`` (the acting session's fresh token carries it) and the notification's
    ``notification_id`` (the other sessions are ended once it has reached them)."""

    async def work(tx: Tx) -> dict[str, object]:
        await existing_user(tx, username)
        version = await tx.set_password(username, password_hash)
        notification_id = await tx.emit(
            "password_changed",
            {"message": PASSWORD_CHANGED_MESSAGE},
            to=Users((username,)),
            origin_session=origin_session,
        )
        return {"token_version": version, "notification_id": notification_id}

    return work


def set_two_factor(username: str, enabled: bool) -> Work:
    """Turn two-factor authentication on or off; every session of the user hears of it
    (``two_factor_changed``). 409 ``two_factor_unchanged`` when it already is."""

    async def work(tx: Tx) -> dict[str, object]:
        user = await existing_user(tx, username)
        if user.two_factor == enabled:
            state = "on" if enabled else "off"
            raise DomainError(409, "two_factor_unchanged", f"two-factor is already {state}")
        await tx.set_two_factor(username, enabled)
        await tx.emit("two_factor_changed", {"enabled": enabled}, to=Users((username,)))
        return {"enabled": enabled}

    return work

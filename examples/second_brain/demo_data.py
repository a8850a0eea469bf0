"""Demo users, their starting balances and one family; demo tokens (demo mode only)."""

import time
from typing import Final

import jwt

from examples.second_brain.domain import Member, User
from foundation.settings import Settings

DEMO_USERS: Final = (
    User("alice", "Alice", 100),
    User("bob", "Bob", 100),
    User("carol", "Carol", 100),
    User("dave", "Dave", 100),
)
# alice runs the family and carol is in it; bob and dave can be invited.
DEMO_FAMILY: Final = (
    Member("fam-lovelace", "The Lovelaces", "alice", "admin"),
    Member("fam-lovelace", "The Lovelaces", "carol", "member"),
)
TOKEN_TTL_SECONDS: Final = 3600


def demo_token(settings: Settings, username: str, *, now: float | None = None) -> str:
    """An access token shaped like the host application's (HS256, ``sub`` = username).

    Raises ``PermissionError`` unless ``settings.demo`` is on and an HMAC secret is set.
    """
    secret = settings.jwt_secret
    algorithm = settings.jwt_algorithms[0]
    if not settings.demo or secret is None or not algorithm.startswith("HS"):
        raise PermissionError("demo tokens are signed only in demo mode with an HMAC secret")
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "sub": username,
        "iat": issued,
        "exp": issued + TOKEN_TTL_SECONDS,
        "type": "access",
        "token_version": 0,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, secret.get_secret_value(), algorithm=algorithm)

"""Demo users, their starting balances, one family with its account, the shop's first items;
demo tokens (demo mode only)."""

import time
from typing import Final

import jwt

from examples.second_brain.domain import Family, Member, ShopItem, User
from examples.second_brain.ports import Repository
from tidings import Settings

DEMO_USERS: Final = (
    User("alice", "Alice", 100),
    User("bob", "Bob", 100),
    User("carol", "Carol", 100),
    User("dave", "Dave", 100),
)
DEMO_FAMILIES: Final = (Family("fam-lovelace", "The Lovelaces", 200),)
# alice runs the family and carol is in it; bob and dave can be invited.
DEMO_MEMBERS: Final = (
    Member("fam-lovelace", "The Lovelaces", "alice", "admin"),
    Member("fam-lovelace", "The Lovelaces", "carol", "member"),
)
DEMO_ITEMS: Final = (
    ShopItem("theme-aurora", "Aurora", "theme", 40),
    ShopItem("theme-paper", "Paper", "theme", 20),
    ShopItem("avatar-night-owl", "Night Owl", "avatar", 15),
    ShopItem("avatar-fox", "Fox", "avatar", 10),
    ShopItem("banner-mountains", "Mountains", "banner", 25),
    ShopItem("bundle-starter", "Starter pack", "bundle", 60),
)
TOKEN_TTL_SECONDS: Final = 3600


def demo_token(
    settings: Settings, username: str, *, token_version: int = 0, now: float | None = None
) -> str:
    """An access token shaped like the host application's (HS256, ``sub`` = username, and
    the user's current ``token_version``, without which the app's revocation check refuses it).

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
        "token_version": token_version,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, secret.get_secret_value(), algorithm=algorithm)


async def seed_demo(repository: Repository) -> None:
    """Create whatever of the demo data does not exist yet."""
    await repository.seed(DEMO_USERS, DEMO_FAMILIES, DEMO_MEMBERS, DEMO_ITEMS)

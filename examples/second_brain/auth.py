"""The app's own authentication for its API routes.

The host's auth service issues the tokens (in demo mode ``demo_data.demo_token`` does); tidings
verifies the same tokens on its own routes. The app verifies them for its routes with the same
settings (``TIDINGS_JWT_*``) and refuses revoked ones with 403 ``token_revoked``
(``sessions.token_is_revoked``), which is what tells the page that its session ended.
"""

from typing import Annotated, Any, Final

import jwt
from fastapi import Depends, Request

from examples.second_brain.domain import DomainError
from examples.second_brain.ports import Repository
from examples.second_brain.sessions import token_is_revoked
from tidings import ConfigurationError, Principal, Settings, Tidings

MAX_TOKEN_CHARS: Final = 8192


def _key(settings: Settings) -> str:
    hmac = settings.jwt_algorithms[0].startswith("HS")
    key = settings.jwt_secret.get_secret_value() if settings.jwt_secret and hmac else None
    key = key or (None if hmac else settings.jwt_public_key)
    if not key:
        raise ConfigurationError("no JWT key for the configured algorithms")
    return key


def decode(settings: Settings, token: str) -> Principal:
    """The user a token names, checked as tidings checks it (signature, ``exp`` and ``sub``
    required, ``iss``/``aud`` when configured, the configured leeway); raises
    :class:`DomainError` 401 ``token_expired`` or ``token_invalid``."""
    if len(token) > MAX_TOKEN_CHARS:
        raise DomainError(401, "token_invalid", "the token is too long")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _key(settings),
            algorithms=list(settings.jwt_algorithms),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            options={"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise DomainError(401, "token_expired", "the token has expired") from None
    except jwt.PyJWTError as error:
        raise DomainError(401, "token_invalid", f"the token is invalid: {error}") from None
    return Principal(claims["sub"], float(claims["exp"]), claims)


async def current_user(request: Request) -> Principal:
    """The caller, from its ``Authorization: Bearer`` token: 401 ``token_missing`` without
    one, 401 as :func:`decode` says, 403 ``token_revoked`` for a revoked token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError(401, "token_missing", "an Authorization: Bearer token is required")
    notifications: Tidings = request.app.state.notifications
    user = decode(notifications.settings, token.strip())
    repository: Repository = request.app.state.repository
    if await token_is_revoked(repository, user):
        raise DomainError(403, "token_revoked", "the token has been revoked")
    return user


UserDep = Annotated[Principal, Depends(current_user)]

"""Verify the host application's JWTs and turn them into a :class:`Principal`.

Decoding is pure (no I/O, the clock is passed in as ``now``); the optional revocation hook
is the only awaited step and runs in :meth:`TokenVerifier.verify`.
"""

import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import jwt

from foundation.errors import ConfigurationError, TidingsError
from foundation.imports import import_attribute
from foundation.settings import Settings

AuthCode = Literal[
    "token_missing",
    "token_invalid",
    "token_expired",
    "token_not_yet_valid",
    "token_wrong_type",
]

# Far above any real token (the seed application's are ~200 bytes); refusing early keeps a
# hostile client from making us base64-decode and JSON-parse megabytes.
MAX_TOKEN_CHARS: Final = 8192
MAX_SUBJECT_CHARS: Final = 256
ACCESS_TYPE: Final = "access"


@dataclass(frozen=True)
class Principal:
    """An authenticated user.

    ``expires_at`` is the token's ``exp`` in epoch seconds (without leeway). ``claims`` is a
    read-only view of the verified payload, kept for the revocation hook (``token_version``).
    Principals are hashable by ``user_id`` and ``expires_at``.
    """

    user_id: str
    expires_at: float
    claims: Mapping[str, Any] = field(hash=False)


class AuthFailed(TidingsError):
    """The token is missing, malformed, badly signed, expired or of the wrong kind.

    ``code`` is stable snake_case (one of :data:`AuthCode`); ``str(error)`` is a human
    message that never contains the token.
    """

    def __init__(self, code: AuthCode, message: str) -> None:
        super().__init__(message)
        self.code: AuthCode = code


class TokenRevoked(TidingsError):
    """The token is valid but the host application's revocation hook refused it."""

    code: Final = "token_revoked"

    def __init__(self, message: str = "the token has been revoked") -> None:
        super().__init__(message)


RevocationCheck = Callable[[Principal], Awaitable[bool] | bool]
"""Returns True when the principal's token is revoked (e.g. a stale ``token_version``).

May be a plain function or a coroutine function."""


def load_revocation_check(path: str | None) -> RevocationCheck | None:
    """The check ``TIDINGS_REVOCATION_CHECK`` names (``"module:attribute"``), or ``None``.

    Raises ``ConfigurationError`` when it cannot be imported or is not callable.
    """
    if path is None:
        return None
    check = import_attribute(path, "TIDINGS_REVOCATION_CHECK")
    if not callable(check):
        raise ConfigurationError(
            f"TIDINGS_REVOCATION_CHECK: {path!r} is a {type(check).__name__}, not a function"
        )
    return cast(RevocationCheck, check)


class TokenVerifier:
    """Checks tokens against one configuration, built once from :class:`Settings`.

    Only ``settings.jwt_algorithms`` are accepted (so ``alg: none`` and HS/RS confusion are
    refused). HS* verify with ``jwt_secret``; RS*/ES*/PS* with ``jwt_public_key``.

    ``iss`` and ``aud`` are checked only when ``jwt_issuer`` / ``jwt_audience`` are set.
    When no audience is configured, a token's ``aud`` claim is ignored rather than refused,
    as Centrifugo does, so that host tokens carrying an audience work out of the box; set
    ``jwt_audience`` whenever the signing key is shared with other services.

    Raises :class:`ConfigurationError` when the configured algorithms have no usable key.
    """

    def __init__(self, settings: Settings, revocation_check: RevocationCheck | None = None) -> None:
        self._algorithms = list(settings.jwt_algorithms)
        self._key = _verification_key(settings, self._algorithms)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._revocation_check = revocation_check

    def decode(self, token: str, now: float) -> Principal:
        """Verify ``token`` at time ``now`` (epoch seconds) without I/O.

        ``exp`` and ``sub`` are required; ``exp``, ``nbf`` and ``iat`` are judged against
        ``now`` with the configured leeway (expired when ``exp <= now - leeway``). ``sub``
        must be a non-empty string of at most 256 characters; ``type``, when present, must be
        exactly ``"access"``. Raises :class:`AuthFailed`.
        """
        if not token:
            raise AuthFailed("token_missing", "no token was given")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthFailed("token_invalid", "the token is too long")
        claims = self._verified_claims(token)
        expires_at = _check_times(claims, now, self._leeway)
        user_id = _check_subject(claims)
        _check_type(claims)
        return Principal(user_id, expires_at, MappingProxyType(claims))

    async def verify(self, token: str, now: float) -> Principal:
        """:meth:`decode`, then the revocation hook; raises AuthFailed or TokenRevoked."""
        principal = self.decode(token, now)
        if await self.is_revoked(principal):
            raise TokenRevoked()
        return principal

    @property
    def checks_revocation(self) -> bool:
        """Whether a revocation hook is installed."""
        return self._revocation_check is not None

    async def is_revoked(self, principal: Principal) -> bool:
        """What the revocation hook says of ``principal`` (False without a hook).

        The hook may be sync or async; whatever it raises propagates.
        """
        if self._revocation_check is None:
            return False
        answer = self._revocation_check(principal)
        if inspect.isawaitable(answer):
            answer = await answer
        return bool(answer)

    def _verified_claims(self, token: str) -> dict[str, Any]:
        """Signature, required claims, iss and aud, by PyJWT; times are left to us.

        PyJWT reads the wall clock itself, so its exp/nbf/iat checks are turned off here
        and done in :func:`_check_times` against the caller's ``now``.
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                options={
                    "require": ["exp", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": self._audience is not None,
                },
            )
        except jwt.PyJWTError as error:
            raise AuthFailed("token_invalid", f"the token is invalid: {error}") from None
        return claims


def _verification_key(settings: Settings, algorithms: list[str]) -> Any:
    """The key object for ``algorithms``, parsed and checked once.

    Every configured algorithm must accept the key at its recommended minimum size (RFC 7518
    section 3.2 for HMAC, 2048 bits for RSA); otherwise PyJWT would warn on every decode.
    """
    if algorithms[0].startswith("HS"):
        secret = settings.jwt_secret
        material: str | None = secret.get_secret_value() if secret else None
        name = "TIDINGS_JWT_SECRET"
    else:
        material = settings.jwt_public_key
        name = "TIDINGS_JWT_PUBLIC_KEY"
    if not material:
        raise ConfigurationError(f"{name} is required for {', '.join(algorithms)}")
    return _prepare_key(material, algorithms, name)


def _prepare_key(material: str, algorithms: list[str], name: str) -> Any:
    key: Any = None
    for algorithm_name in algorithms:
        algorithm = jwt.get_algorithm_by_name(algorithm_name)
        try:
            key = algorithm.prepare_key(material)
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise ConfigurationError(f"{name} is unusable for {algorithm_name}: {error}") from None
        weakness = algorithm.check_key_length(key)
        if weakness:
            raise ConfigurationError(f"{name} is too weak for {algorithm_name}: {weakness}")
    return key


def _check_times(claims: Mapping[str, Any], now: float, leeway: float) -> float:
    """Return ``exp``; raise AuthFailed when expired, not yet valid or not numeric."""
    expires_at = _numeric_date(claims, "exp")
    if expires_at <= now - leeway:
        raise AuthFailed("token_expired", "the token has expired")
    for name in ("nbf", "iat"):
        if name in claims and _numeric_date(claims, name) > now + leeway:
            raise AuthFailed("token_not_yet_valid", f"the token is not valid yet ({name})")
    return expires_at


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    # bool is an int in Python, and a string date would be a producer bug: refuse both.
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise AuthFailed("token_invalid", f"the {name} claim must be a finite number")


def _check_subject(claims: Mapping[str, Any]) -> str:
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise AuthFailed(
            "token_invalid", f"the sub claim must be a string of 1-{MAX_SUBJECT_CHARS} chars"
        )
    return subject


def _check_type(claims: Mapping[str, Any]) -> None:
    # Refresh tokens of the host application share the secret; only access tokens connect.
    if "type" in claims and claims["type"] != ACCESS_TYPE:
        raise AuthFailed("token_wrong_type", 'the token type must be "access"')

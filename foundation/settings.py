"""Typed settings, read once from ``TIDINGS_*`` variables and passed in.

Nothing here is global: callers build a :class:`Settings` and hand it on.
"""

from pathlib import Path
from typing import Annotated, Literal, Self

from limits import parse
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from foundation.constants import DEMO_JWT_SECRET
from foundation.errors import ConfigurationError

ENV_PREFIX = "TIDINGS_"
SQLITE_SCHEME = "sqlite"
EMBEDDED_FILE_NAME = "tidings.sqlite3"
_HMAC_ALGORITHMS = {"HS256", "HS384", "HS512"}
_KEY_ALGORITHMS = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"}


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of tidings. ``TIDINGS_<NAME>`` sets ``<name>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Store: the URL's scheme picks the adapter (``sqlite:///path``, ``mongodb://...``). Unset,
    # ``mongodb_url`` when set, else the embedded SQLite store in ``data_dir``.
    store_url: SecretStr | None = None
    mongodb_url: SecretStr | None = None
    mongodb_database: str = Field(default="tidings", min_length=1)
    data_dir: Path = Path(".tidings")

    redis_url: str = "redis://127.0.0.1:6379/0"

    # Auth. HS* use ``jwt_secret``; RS*/ES* use ``jwt_public_key`` (PEM text).
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256"]
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: float = Field(default=10.0, ge=0, le=300)
    ticket_ttl_seconds: int = Field(default=30, ge=1, le=300)
    demo: bool = False

    # Retention of inbox entries (G7 tells clients when they fall behind it).
    retention_seconds: int = Field(default=7 * 24 * 3600, ge=60)

    # Worker.
    lease_seconds: float = Field(default=10.0, gt=0, le=600)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    sweep_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    # The worker's own /metrics port (unset: no endpoint).
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # "package.module:attribute" naming the host application's group resolvers.
    resolvers: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")

    # Revocation: "package.module:attribute" naming a check ``(principal) -> bool`` (sync or
    # async; True means revoked), run at connect, on refresh and every
    # ``revocation_interval_seconds`` for open connections (0: only at connect and refresh).
    revocation_check: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")
    revocation_interval_seconds: float = Field(default=60.0, ge=0, le=86_400)

    # Request rates per user, on all nodes together ("<count>/<second|minute|hour>", or the
    # ``limits`` package's other notations such as "100 per 10 seconds").
    rest_rate_limit: str = "50/second"
    ticket_rate_limit: str = "10/second"
    connect_rate_limit: str = "10/second"

    # Delivery limits.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)  # 0: any free port
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    max_connections_per_user: int = Field(default=10, ge=1)
    send_queue_size: int = Field(default=1000, ge=1)
    allowed_origins: Annotated[list[str], NoDecode] = []
    ping_interval_seconds: float = Field(default=20.0, gt=0)
    replay_page_size: int = Field(default=500, ge=1, le=5000)

    @classmethod
    def _csv_fields(cls) -> tuple[str, ...]:
        return ("jwt_algorithms", "allowed_origins")

    @model_validator(mode="before")
    @classmethod
    def _decode_lists(cls, values: object) -> object:
        if isinstance(values, dict):
            for name in cls._csv_fields():
                if name in values:
                    values[name] = _split_csv(values[name])
        return values

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        algorithms = set(self.jwt_algorithms)
        unknown = algorithms - _HMAC_ALGORITHMS - _KEY_ALGORITHMS
        if not algorithms or unknown:
            raise ValueError(f"jwt_algorithms: unsupported {sorted(unknown) or 'empty list'}")
        if algorithms & _HMAC_ALGORITHMS and algorithms & _KEY_ALGORITHMS:
            raise ValueError("jwt_algorithms: mixing HMAC and public-key algorithms is refused")
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if secret is not None and len(secret.encode()) < 32:
            raise ValueError("jwt_secret: must be at least 32 bytes")
        if secret == DEMO_JWT_SECRET and not self.demo:
            raise ValueError("jwt_secret: the demo secret is refused outside the demo")
        return self

    @field_validator("rest_rate_limit", "ticket_rate_limit", "connect_rate_limit")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"not a rate: {value!r} (e.g. '50/second')") from None
        return value

    @model_validator(mode="after")
    def _check_store(self) -> Self:
        if self.store_url is not None and self.mongodb_url is not None:
            raise ValueError("store_url: set either TIDINGS_STORE_URL or TIDINGS_MONGODB_URL")
        return self

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "://" not in value.get_secret_value():
            raise ValueError("expected scheme://..., e.g. sqlite:///data/tidings.sqlite3")
        return value

    @property
    def resolved_store_url(self) -> str:
        """The store's URL: ``store_url``, else ``mongodb_url``, else the embedded file's.

        It may hold credentials: never log it.
        """
        if self.store_url is not None:
            return self.store_url.get_secret_value()
        if self.mongodb_url is not None:
            return self.mongodb_url.get_secret_value()
        return f"{SQLITE_SCHEME}:///{self.data_dir / EMBEDDED_FILE_NAME}"

    @property
    def store_scheme(self) -> str:
        """The store URL's scheme, lower case: it names the adapter."""
        return self.resolved_store_url.partition("://")[0].lower()

    @property
    def uses_mongodb(self) -> bool:
        """True when the store is MongoDB."""
        return self.store_scheme in ("mongodb", "mongodb+srv")

    @property
    def sqlite_path(self) -> Path:
        """The embedded store's database file (``sqlite:///relative`` or ``sqlite:////abs``).

        For another store, where the embedded file would be: ``data_dir/tidings.sqlite3``.
        """
        if self.store_scheme == SQLITE_SCHEME:
            return Path(self.resolved_store_url.partition("://")[2][1:])
        return self.data_dir / EMBEDDED_FILE_NAME


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; raise ``ConfigurationError`` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = ".".join(str(part) for part in item["loc"]) or "settings"
            variable = f"{ENV_PREFIX}{name.upper()}" if item["loc"] else "settings"
            problems.append(f"{variable}: {item['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None

"""``python -m examples.demo``: the whole demo in one process, on a fresh machine.

Migrates the store (the embedded SQLite file in ``TIDINGS_DATA_DIR`` unless
``TIDINGS_MONGODB_URL`` is set), then serves the example application with tidings mounted in
it and the routing worker in the same process, on http://127.0.0.1:8000
(``TIDINGS_PORT`` overrides). Demo mode is on: the demo users are seeded and
``POST /demo/token`` signs tokens with the demo secret, or with ``TIDINGS_JWT_SECRET`` when
it is set. Without ``TIDINGS_REDIS_URL``, the local Redis is used when it answers; when none
does, the demo runs on the in-process broker (``memory://``) and says so: one process needs
no Redis. Ctrl-C stops everything cleanly.
"""

import asyncio
import logging
import os
import sys

from broker import MEMORY_SCHEME, RedisBroker
from examples.second_brain.demo_data import DEMO_USERS
from examples.second_brain.server import serve
from foundation.constants import DEMO_JWT_SECRET
from foundation.errors import SignalUnavailable
from tidings import ConfigurationError, Settings, load_settings

IN_PROCESS = f"{MEMORY_SCHEME}://"
LOCAL_REDIS: str = Settings.model_fields["redis_url"].default


async def redis_answers(url: str) -> bool:
    """Whether the Redis at ``url`` answers a ping."""
    broker = RedisBroker(url)
    try:
        await broker.ping()
    except SignalUnavailable:
        return False
    finally:
        await broker.close()
    return True


def demo_settings(local_redis: str = LOCAL_REDIS) -> Settings:
    """``TIDINGS_*`` settings with demo mode on, a JWT secret, and a broker: the one
    ``TIDINGS_REDIS_URL`` names, else ``local_redis`` when it answers, else the in-process
    one."""
    overrides: dict[str, object] = {"demo": True}
    if not os.environ.get("TIDINGS_JWT_SECRET"):
        overrides["jwt_secret"] = DEMO_JWT_SECRET
    if not os.environ.get("TIDINGS_REDIS_URL"):
        overrides["redis_url"] = local_redis
        if not asyncio.run(redis_answers(local_redis)):
            overrides["redis_url"] = IN_PROCESS
    settings = load_settings(**overrides)
    if not settings.uses_mongodb:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _announce(settings: Settings, port: int) -> None:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    names = ", ".join(user.username for user in DEMO_USERS)
    store = "MongoDB" if settings.uses_mongodb else f"SQLite in {settings.sqlite_path}"
    print(f"tidings demo: open http://{host}:{port}/  (users: {names}; store: {store})")
    if settings.redis_url == IN_PROCESS:
        print(f"tidings demo: no Redis; live signals stay in this process ({IN_PROCESS})")
    print("tidings demo: press Ctrl-C to stop", flush=True)


def main() -> int:
    """Run the demo until Ctrl-C; exit status 2 for invalid settings."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = demo_settings()
    except ConfigurationError as error:
        print(f"tidings demo: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(
            serve(
                settings,
                worker=True,
                on_started=lambda port: _announce(settings, port),
            )
        )
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled once everything has stopped
    print("tidings demo: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

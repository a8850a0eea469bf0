"""``python -m examples.demo``: the whole demo in one process, on a fresh machine with Redis.

Migrates the store (the embedded SQLite file in ``TIDINGS_DATA_DIR`` unless
``TIDINGS_MONGODB_URL`` is set), then serves the example application with tidings mounted in
it and the routing worker in the same process, on http://127.0.0.1:8000
(``TIDINGS_PORT`` overrides). Demo mode is on: the demo users are seeded and
``POST /demo/token`` signs tokens with the demo secret, or with ``TIDINGS_JWT_SECRET`` when
it is set. Ctrl-C stops everything cleanly.
"""

import asyncio
import logging
import os
import sys

from examples.second_brain.demo_data import DEMO_USERS
from examples.second_brain.server import serve
from foundation.constants import DEMO_JWT_SECRET
from tidings import ConfigurationError, Settings, load_settings


def demo_settings() -> Settings:
    """``TIDINGS_*`` settings with demo mode on and a JWT secret."""
    overrides: dict[str, object] = {"demo": True}
    if not os.environ.get("TIDINGS_JWT_SECRET"):
        overrides["jwt_secret"] = DEMO_JWT_SECRET
    settings = load_settings(**overrides)
    if not settings.uses_mongodb:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _announce(settings: Settings, port: int) -> None:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    names = ", ".join(user.username for user in DEMO_USERS)
    store = "MongoDB" if settings.uses_mongodb else f"SQLite in {settings.sqlite_path}"
    print(f"tidings demo: open http://{host}:{port}/  (users: {names}; store: {store})")
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

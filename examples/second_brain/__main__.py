"""``python -m examples.second_brain``: serve the example app (a delivery node, no worker).

Reads ``TIDINGS_*`` settings like ``tidings serve``; the store must be migrated and a
``tidings worker`` with ``TIDINGS_RESOLVERS=examples.second_brain.resolvers:resolvers`` must
route. With ``TIDINGS_DEMO=true`` the demo users are seeded and ``POST /demo/token`` works.
"""

import asyncio
import sys

from examples.second_brain.server import serve
from tidings import ConfigurationError, load_settings


def main() -> int:
    """Serve until SIGINT/SIGTERM; exit status 2 for invalid settings."""
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"second_brain: {error}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

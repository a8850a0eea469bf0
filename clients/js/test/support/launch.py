"""``tidings run`` with a revocation check: users whose id starts with ARGV[1] are revoked.

Settings come from the TIDINGS_* environment, as for ``tidings run``.
"""

import asyncio
import sys

from delivery.auth import Principal
from foundation.settings import load_settings
from tidings.run import run_all


def main(prefix: str) -> None:
    async def revoked(principal: Principal) -> bool:
        return principal.user_id.startswith(prefix)

    asyncio.run(run_all(load_settings(), revocation_check=revoked))


if __name__ == "__main__":
    main(sys.argv[1])

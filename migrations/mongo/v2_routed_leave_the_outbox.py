"""Version 2: routed records leave the outbox.

Version 1 kept routed records with status "routed" for good; from version 2 routing deletes
them, so the records version 1 left routed go too. Safe to run again.
"""

from typing import Final

from foundation.constants import OUTBOX
from migrations.mongo.steps import DeleteMany, Step

STEPS: Final[tuple[Step, ...]] = (DeleteMany(OUTBOX, {"status": "routed"}),)

"""Version 2: routed records leave the outbox.

Version 1 kept routed records with status 'routed' until trim; from version 2 routing deletes
them, so the records version 1 left routed go too. The outbox then holds pending and dead
records only, and the claim index answers what (status, created_at) served: the counts by
status, the first pending record and the dead listing, all in position order.
"""

from typing import Final

from foundation.constants import OUTBOX

STATEMENTS: Final = (
    f"DELETE FROM {OUTBOX} WHERE status = 'routed'",
    f"DROP INDEX {OUTBOX}_status_created",
)

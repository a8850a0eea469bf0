"""Publishing the changes a delivery node appends (marks), as the worker publishes entries.

Like every live signal this is best effort: a device that misses it finds the change in the
store (a later entry shows the gap, or a resync after the node's subscription comes back).
"""

import logging
from collections.abc import Sequence

from broker import Broker
from foundation.constants import LIVE_CHANNEL
from foundation.errors import SignalUnavailable
from outbox.live_wire import encode_live_messages
from outbox.stream import StreamChange

log = logging.getLogger(__name__)


async def publish_changes(broker: Broker, changes: Sequence[StreamChange]) -> bool:
    """Publish ``changes`` on ``LIVE_CHANNEL`` after their commit; never raises.

    Returns whether they went out; broker errors are logged.
    """
    try:
        await broker.publish(LIVE_CHANNEL, encode_live_messages([], [], stream=changes))
    except SignalUnavailable as error:
        log.warning("a state change was not published (%s); devices read it from the store", error)
        return False
    return True

"""What the host application calls to emit notifications inside its own transactions.

>>> emitter = Emitter(database="second_brain")
>>> async def transfer(session):
...     ...  # the domain change, with session=session
...     await emitter.emit(session, "sbd_tokens_received", {...}, to=Users(("bob",)))
>>> await run_in_transaction(mongo_client, transfer, broker=open_broker(settings))
"""

from api_hooks.emit import Emitter
from api_hooks.transaction import run_in_transaction
from api_hooks.validation import build_record
from api_hooks.wake import Waker, wake
from foundation.errors import EmitRefused, NotInTransaction
from outbox.records import Everyone, Group, Users

__all__ = [
    "EmitRefused",
    "Emitter",
    "Everyone",
    "Group",
    "NotInTransaction",
    "Users",
    "Waker",
    "build_record",
    "run_in_transaction",
    "wake",
]

"""Asyncio client for the tidings notification stream (protocol v1).

>>> async def main() -> None:
...     client = TidingsClient(
...         "https://api.example.com/tidings",
...         get_token=lambda reason: auth.access_token(),
...         store=FileCursorStore("~/.cache/app/tidings-cursor.json"),
...         on_notification=show,
...         on_resync=reload_inbox,
...     )
...     async with client:
...         await client.wait_stopped()
"""

from .acks import AckBatcher, AckPolicy
from .backoff import Backoff, BackoffPolicy, DelayKind
from .client import TidingsClient
from .closes import CloseDecision, Reconnect, Stop, decide_close
from .cursor import CursorStore, FileCursorStore, MemoryCursorStore
from .errors import TidingsClientError
from .frames import ServerFrame, Welcome, parse_server_frame
from .gap import FillOutcome, Page, fill_gap
from .jwt import refresh_time, token_expiry
from .models import (
    AuthReason,
    Broadcast,
    ClientState,
    ClientStats,
    Cursor,
    Notification,
    ResyncInfo,
    StopInfo,
    StopReason,
)
from .sequencer import Sequencer, Verdict
from .transport import Connect, Transport, TransportClosed, websockets_connector

__all__ = [
    "AckBatcher",
    "AckPolicy",
    "AuthReason",
    "Backoff",
    "BackoffPolicy",
    "Broadcast",
    "ClientState",
    "ClientStats",
    "CloseDecision",
    "Connect",
    "Cursor",
    "CursorStore",
    "DelayKind",
    "FileCursorStore",
    "FillOutcome",
    "MemoryCursorStore",
    "Notification",
    "Page",
    "Reconnect",
    "ResyncInfo",
    "Sequencer",
    "ServerFrame",
    "Stop",
    "StopInfo",
    "StopReason",
    "TidingsClient",
    "TidingsClientError",
    "Transport",
    "TransportClosed",
    "Verdict",
    "Welcome",
    "decide_close",
    "fill_gap",
    "parse_server_frame",
    "refresh_time",
    "token_expiry",
    "websockets_connector",
]

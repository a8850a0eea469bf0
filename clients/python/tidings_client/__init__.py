"""Asyncio client for the tidings notification stream (protocol v1, and v2 with inbox state).

Start with :class:`TidingsClient`: ``TidingsClient(url, get_token=..., on_notification=...)``
is a complete configuration. The rarely changed knobs are in :class:`ClientOptions`; the
network, time and randomness under the client in :class:`Runtime`. The package's README has
a complete example (run by the client's tests).
"""

from .acks import AckBatcher, AckPolicy
from .backoff import Backoff, BackoffPolicy, DelayKind
from .client import TidingsClient
from .closes import CloseDecision, Reconnect, Stop, decide_close
from .cursor import CursorStore, FileCursorStore, MemoryCursorStore
from .errors import TidingsClientError
from .frames import ServerFrame, Welcome, parse_server_frame
from .gap import FillOutcome, Page, fill_gap
from .inbox import InboxState
from .jwt import refresh_time, token_expiry
from .models import (
    AuthReason,
    Broadcast,
    ChangeOp,
    ClientState,
    ClientStats,
    Counts,
    Cursor,
    ItemState,
    MarkOp,
    Notification,
    ResyncInfo,
    StateChange,
    StopInfo,
    StopReason,
    StreamEntry,
)
from .options import ClientOptions, Runtime
from .sequencer import Sequencer, Verdict
from .transport import Connect, Transport, TransportClosed, websockets_connector

__all__ = [
    "AckBatcher",
    "AckPolicy",
    "AuthReason",
    "Backoff",
    "BackoffPolicy",
    "Broadcast",
    "ChangeOp",
    "ClientOptions",
    "ClientState",
    "ClientStats",
    "CloseDecision",
    "Connect",
    "Counts",
    "Cursor",
    "CursorStore",
    "DelayKind",
    "FileCursorStore",
    "FillOutcome",
    "InboxState",
    "ItemState",
    "MarkOp",
    "MemoryCursorStore",
    "Notification",
    "Page",
    "Reconnect",
    "ResyncInfo",
    "Runtime",
    "Sequencer",
    "ServerFrame",
    "StateChange",
    "Stop",
    "StopInfo",
    "StopReason",
    "StreamEntry",
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

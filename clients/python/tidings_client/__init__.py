"""Asyncio client for the tidings notification stream (protocol v1).

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
    "ClientOptions",
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
    "Runtime",
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

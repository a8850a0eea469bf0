"""Public data types of the client: what handlers receive and what the client reports.

Wire frames (protocol v1 and v2) are parsed into these in :mod:`tidings_client.frames`.
"""

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

AuthReason = Literal["connect", "unauthorized", "refresh", "fetch"]
"""Why the client calls a credentials callback: to connect, after a 4401 (get a fresh one),
to refresh the open connection, or for a REST call (gap fill, ticket)."""

StopReason = Literal["stopped", "revoked", "bad_query", "frame_too_big", "unsupported_data"]

MarkOp = Literal["read", "unread", "archive", "unarchive"]
"""What a client may ask for; the server also sends ``retract`` and ``trim`` changes."""
ChangeOp = Literal["read", "unread", "archive", "unarchive", "retract", "trim"]


@dataclass(frozen=True, slots=True)
class Counts:
    """Protocol v2: unread and unarchived notifications among those retained and not
    retracted."""

    unread: int
    unarchived: int


@dataclass(frozen=True, slots=True)
class ItemState:
    """Protocol v2: one notification's state, the same on every device of the user."""

    read: bool = False
    archived: bool = False
    retracted: bool = False


@dataclass(frozen=True, slots=True)
class Notification:
    """One stored notification of the user's stream."""

    seq: int
    """The notification's seq: 1, 2, 3, ... over the user's notifications, with no gap."""
    id: str
    """The same for every recipient of one emit."""
    event: str
    data: dict[str, Any]
    created_at: datetime
    """Timezone-aware, UTC."""
    origin_session: str | None
    pos: int | None = None
    """Protocol v2: its position on the stream (notifications and changes, no gap)."""
    replaces: int | None = None
    """Protocol v2: the seq this notification replaced (same collapse key), or None."""
    counts: Counts | None = None
    """Protocol v2: the user's counts right after it."""


@dataclass(frozen=True, slots=True)
class StateChange:
    """Protocol v2: a change on the stream, as delivered to ``on_change``.

    It applies to every seq in ``seqs`` and, when ``upto`` is not None, to every held
    notification with ``seq <= upto`` that is not retracted; ``trim`` means retention removed
    ``seqs``.
    """

    pos: int
    op: ChangeOp
    seqs: tuple[int, ...]
    upto: int | None
    at: datetime
    counts: Counts


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry of the stream at ``pos``: a notification or (protocol v2) a change."""

    pos: int
    notification: Notification | None = None
    change: StateChange | None = None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A best-effort ``Everyone()`` notification: not stored, no seq, never acknowledged."""

    id: str
    event: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ResyncInfo:
    """The server cannot continue from ``requested_since``; the client goes on from ``head``.

    ``source`` is ``"welcome"`` (told at connect, ``recovered: false``) or ``"fill"`` (found
    while filling a gap over REST). The application should reload whatever it derives from
    the stream.
    """

    user_id: str
    requested_since: int | None
    head: int
    source: Literal["welcome", "fill"]


class ClientState(enum.StrEnum):
    """Where the client is."""

    IDLE = "idle"  # created, not started
    CONNECTING = "connecting"  # getting credentials, opening the socket
    SYNCING = "syncing"  # welcomed, replaying what was missed
    LIVE = "live"  # caught up
    BACKOFF = "backoff"  # waiting before the next attempt
    STOPPED = "stopped"  # stop() was called, or the server refused the client for good


@dataclass(frozen=True, slots=True)
class StopInfo:
    """Why the client stopped; ``close_code`` is the server's when it decided."""

    reason: StopReason
    close_code: int | None


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last processed position of one user's stream: a seq, or a stream position with
    ``protocol=2``."""

    user_id: str
    seq: int
    protocol: int = 1


@dataclass(slots=True)
class ClientStats:
    """Counters, for tests and monitoring."""

    attempts: int = 0  # connection attempts (credentials fetched, socket opened)
    connections: int = 0  # sockets that received a welcome
    delivered: int = 0  # notifications handed to on_notification
    duplicates: int = 0  # frames dropped because their seq was already processed
    suppressed: int = 0  # own-origin notifications processed without on_notification
    gap_fills: int = 0  # gaps filled (or attempted) over REST
    refreshes: int = 0  # refresh frames sent
    acks_sent: int = 0  # ack frames sent
    resyncs: int = 0  # on_resync calls

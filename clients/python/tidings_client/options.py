"""How a :class:`~tidings_client.TidingsClient` is set up beyond its URL, credentials, cursor
store and handlers.

Two frozen groups, each complete with defaults, so that ``TidingsClient(url, get_token=...,
on_notification=...)`` is a whole configuration:

- :class:`ClientOptions`: how the client connects and paces itself (auth style, device,
  session, backoff, acks, refresh lead, timeouts, page size);
- :class:`Runtime`: what it runs on (the WebSocket connector, the HTTP client, wall time,
  sleeping, randomness), replaced by tests and by applications that share an HTTP client.

The names are the JS client's options in snake_case; durations are in seconds, not ms.
Derive a variant with :func:`dataclasses.replace`.
"""

import asyncio
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from .acks import AckPolicy
from .backoff import BackoffPolicy
from .errors import TidingsClientError
from .models import AuthReason, ClientState
from .transport import Connect

type MaybeAwaitable[T] = T | Awaitable[T]
type CredentialsCallback = Callable[[AuthReason], MaybeAwaitable[str]]
"""``get_token(reason)`` or ``get_ticket(reason)``; plain or async."""
type Handler[T] = Callable[[T], MaybeAwaitable[None]]
"""``on_notification``, ``on_broadcast``, ``on_resync``; plain or async, awaited in order."""
type StateHandler = Callable[[ClientState, ClientState], None]
"""``on_state_change(state, previous)``."""
type ErrorHandler = Callable[[TidingsClientError], None]
"""``on_error(error)``; what it raises is ignored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """The knobs most applications leave alone."""

    auth: Literal["ticket", "token"] = "ticket"
    """``"ticket"`` keeps tokens out of URLs (a ticket per connection, by default bought with
    ``get_token``); ``"token"`` sends the token in an ``Authorization: Bearer`` header and
    needs ``get_token``."""
    ws_url: str | None = None
    """The ``/ws`` URL when it is not the client's ``url`` with ws(s) and ``/ws``."""
    device: str | None = None
    """Acks are kept per device (1-64 of ``[A-Za-z0-9_-]``); the server's default when None."""
    session_id: str | None = None
    """Marks this client's own emits: notifications whose ``origin_session`` equals it are
    acknowledged but not delivered. Random when None (read it from ``client.session_id``)."""
    deliver_own: bool = False
    """Deliver own-origin notifications too."""
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    """Delays between connection attempts."""
    acks: AckPolicy = field(default_factory=AckPolicy)
    """How late and after how many notifications processed seqs are acknowledged and saved."""
    refresh_lead: float = 60.0
    """Send a token refresh this long before ``exp`` (halfway through for shorter tokens)."""
    open_timeout: float = 15.0
    """No welcome this long after connecting: give up on the socket and retry."""
    fill_page_size: int = 100
    """REST page size when a gap is filled (the server accepts 1-500)."""
    protocol: Literal[1, 2] = 1
    """``2``: protocol v2, the stream with inbox state and counts (``on_change``,
    ``on_counts``, ``client.counts``, ``client.mark``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """The network, wall time and randomness under the client."""

    connect: Connect | None = None
    """Opens a socket; ``websockets`` with ``open_timeout`` when None."""
    http: httpx.AsyncClient | None = None
    """For tickets and gap fills; the caller keeps it open and closes it. When None the
    client makes its own and closes it when it stops."""
    clock: Callable[[], float] = time.time
    """Unix seconds, compared with tokens' ``exp``."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = _random.random
    """A float in [0, 1), for backoff jitter."""

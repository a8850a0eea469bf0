"""The store registry: which adapter serves a store URL, or a host application's session.

Adding a store is one folder under ``outbox/stores/`` whose package exposes ``ADAPTER`` (an
:class:`outbox.port.StoreAdapter`), one folder under ``migrations/``, one line in
:data:`ADAPTERS` and one entry in the contract suite's list of stores
(``docs/adding-a-store.md``). Adapters are imported on first use, so a host on one store never
loads another's driver.
"""

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from foundation.errors import ConfigurationError, EmitRefused, StoreUnavailable
from foundation.outage import Outage
from foundation.settings import Settings
from outbox.port import OutboxStore, StoreAdapter

log = logging.getLogger(__name__)

# URL scheme -> the package of its adapter. The order is the order sessions are matched in.
ADAPTERS: Final = {
    "sqlite": "outbox.stores.sqlite",
    "mongodb": "outbox.stores.mongo",
    "mongodb+srv": "outbox.stores.mongo",
}


def _load(package: str) -> StoreAdapter:
    return cast(StoreAdapter, importlib.import_module(package).ADAPTER)


def adapter_for(settings: Settings) -> StoreAdapter:
    """The adapter of ``settings``' store URL; ``ConfigurationError`` for an unknown scheme."""
    package = ADAPTERS.get(settings.store_scheme)
    if package is None:
        known = ", ".join(ADAPTERS)
        raise ConfigurationError(
            f"TIDINGS_STORE_URL: unknown scheme {settings.store_scheme!r} (known: {known})"
        )
    return _load(package)


def adapter_for_session(session: object) -> StoreAdapter:
    """The adapter whose driver ``session`` belongs to.

    Raises ``EmitRefused("unsupported_session")`` for anything no adapter recognizes.
    """
    for package in dict.fromkeys(ADAPTERS.values()):
        adapter = _load(package)
        if adapter.owns_session(session):
            return adapter
    raise EmitRefused(
        "unsupported_session",
        "emit needs a PyMongo or Motor session, or a sqlite3 connection",
    )


def adapter_for_client(target: object) -> StoreAdapter:
    """The adapter whose driver ``target`` (a client or connection) belongs to.

    Raises ``TypeError`` for anything no adapter recognizes.
    """
    for package in dict.fromkeys(ADAPTERS.values()):
        adapter = _load(package)
        if adapter.owns_client(target):
            return adapter
    raise TypeError("run_in_transaction needs a PyMongo or Motor client, or a sqlite3 connection")


def connect_host(settings: Settings) -> Any:
    """A driver handle of the host's own on the configured store (see
    ``StoreAdapter.connect_host``); the caller closes it."""
    return adapter_for(settings).connect_host(settings)


async def open_store(settings: Settings) -> OutboxStore:
    """Connect to the configured store; its schema must already be migrated.

    Raises ``ConfigurationError`` for an unknown scheme, a schema behind the code or a store
    that cannot do what tidings needs, and ``StoreUnavailable`` when it does not answer.
    """
    return await adapter_for(settings).open(settings)


async def open_store_when_available(settings: Settings, stop: asyncio.Event) -> OutboxStore | None:
    """Connect to the configured store, waiting for as long as it is unavailable.

    While the store raises ``StoreUnavailable`` (down, locked, read-only, full) it is tried
    again with backoff; the outage is logged once, with its cause, and its end once. Returns
    ``None`` when ``stop`` is set first. Raises ``ConfigurationError`` as :func:`open_store`
    does: no amount of waiting fixes settings or a schema behind the code.
    """
    outage = Outage("store", logger=log)
    while not stop.is_set():
        try:
            store = await open_store(settings)
        except StoreUnavailable as error:
            delay = outage.failed(error)
        else:
            outage.recovered()
            return store
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return None


async def migrate(settings: Settings) -> int:
    """Apply every missing migration to the configured store; return how many ran."""
    return await adapter_for(settings).migrate(settings)


async def run_in_transaction[T](
    target: Any, callback: Callable[[Any], Awaitable[T]], *, deadline_seconds: float
) -> T:
    """Run ``callback`` in a transaction on ``target`` with its store's retry rules."""
    adapter = adapter_for_client(target)
    return await adapter.run_in_transaction(target, callback, deadline_seconds=deadline_seconds)

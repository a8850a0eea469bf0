"""tidings inside a host application: one object to emit, wake, revoke and serve ``/ws``.

::

    from fastapi import FastAPI
    from tidings import Tidings, Users, load_settings

    notifications = Tidings(load_settings())
    app = FastAPI()
    notifications.mount(app)  # /ws, REST, probes; the node starts and stops with the app


    async def transfer(session, ...):  # inside the manager's own transaction
        await notifications.emit(session, "sbd_tokens_received", {...}, to=Users(("bob",)))
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI

from api_hooks import Emitter, Waker
from broker import Broker, open_broker
from delivery.app import Mounted, mount
from delivery.auth import RevocationCheck
from delivery.node import DeliveryNode
from delivery.revocation import revoke
from foundation.constants import WAKE_QUIET_SECONDS
from foundation.settings import Settings, load_settings
from outbox import stores
from outbox.records import Audience, OutboxRecord
from outbox.resolvers import Resolvers


class Tidings:
    """tidings as one host application uses it, built once from its settings.

    ``resolvers`` and ``worker``: with ``worker=True`` the routing worker runs in the app's
    process (one process in all, e.g. on the embedded store); otherwise run ``tidings worker``
    beside the app, with ``TIDINGS_RESOLVERS`` importable there. ``revocation_check``
    (``(principal) -> bool``, sync or async) defaults to ``TIDINGS_REVOCATION_CHECK``'s. With
    ``migrate=True`` the store's schema is brought up to date when the app starts.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        resolvers: Resolvers | None = None,
        revocation_check: RevocationCheck | None = None,
        worker: bool = False,
        migrate: bool = False,
    ) -> None:
        self.settings = settings or load_settings()
        self.emitter = Emitter(self.settings)
        self._options: dict[str, Any] = {
            "resolvers": resolvers,
            "revocation_check": revocation_check,
            "worker": worker,
            "migrate": migrate,
        }
        self._mounted: Mounted | None = None
        self._broker: Broker | None = None
        self._waker: Waker | None = None

    def mount(self, app: FastAPI, *, prefix: str = "") -> None:
        """Serve ``/ws``, the REST API and the probes from ``app`` (see
        :func:`delivery.app.mount`): routes with their own error mapping, log redaction, and
        the node (and worker) for the app's life. Call it once, before the app starts."""
        if self._mounted is not None:
            raise RuntimeError("this Tidings is already mounted")
        self._mounted = mount(app, self.settings, prefix=prefix, **self._options)

    @property
    def node(self) -> DeliveryNode:
        """The delivery node while the mounted app runs; ``RuntimeError`` otherwise."""
        if self._mounted is None:
            raise RuntimeError("tidings is not mounted in an app")
        return self._mounted.node

    def connect(self) -> Any:
        """A driver handle of your own on the configured store, to run transactions on: on
        the embedded store a ``sqlite3.Connection`` to its file (autocommit mode: ``BEGIN``
        opens a transaction), on MongoDB an ``AsyncMongoClient``. You close it."""
        return stores.connect_host(self.settings)

    async def emit(
        self,
        session: Any,
        event: str,
        data: Mapping[str, Any],
        *,
        to: Audience,
        dedup_key: str | None = None,
        origin_session: str | None = None,
        collapse_key: str | None = None,
    ) -> OutboxRecord:
        """Write one notification in the caller's open transaction (see ``Emitter.emit``;
        ``collapse_key`` replaces, for each recipient, the one holding that key).

        Nothing is sent before the transaction commits; call :meth:`wake` after the commit
        when the host runs its own transactions, or use :meth:`run_in_transaction`.
        """
        return await self.emitter.emit(
            session,
            event,
            data,
            to=to,
            dedup_key=dedup_key,
            origin_session=origin_session,
            collapse_key=collapse_key,
        )

    async def retract(self, session: Any, key: str, *, to: Audience | None = None) -> OutboxRecord:
        """Retract, in the caller's open transaction, the notifications emitted with
        ``collapse_key=key`` (see ``Emitter.retract``): every device of their users is told."""
        return await self.emitter.retract(session, key, to=to)

    async def run_in_transaction[T](
        self,
        target: Any,
        callback: Callable[[Any], Awaitable[T]],
        *,
        deadline_seconds: float = 30.0,
    ) -> T:
        """Run ``callback(session)`` in a transaction with the store's retry rules, commit,
        then :meth:`wake` the worker. ``target``: a PyMongo or Motor client, or a ``sqlite3``
        connection to the embedded store's file."""
        result = await stores.run_in_transaction(
            target, callback, deadline_seconds=deadline_seconds
        )
        await self.wake()
        return result

    async def wake(self) -> None:
        """Tell the routing worker that records were committed; call it after your commit.

        Returns at once: the wake-up goes out from a task of its own, and the calls made
        while one is on its way share the next, so a busy host sends far fewer wake-ups than
        it commits (and spends no request time on them). On the embedded store the worker
        also watches the file for commits, so a call within half a second of the last one
        that sent a wake-up sends none and costs next to nothing. Best effort and never
        raises: without it the worker's sweep still routes the records, within
        ``TIDINGS_SWEEP_INTERVAL_SECONDS``.
        """
        signals = self._signals()
        if self._waker is None or self._waker.broker is not signals:
            watched = stores.adapter_for(self.settings).watches_commits
            self._waker = Waker(signals, quiet_seconds=WAKE_QUIET_SECONDS if watched else 0.0)
        if self._waker.poke(asyncio.get_running_loop().time()):
            await asyncio.sleep(0)  # one turn of the loop: the wake-up leaves now, not later

    async def revoke(self, user_id: str) -> None:
        """Close the open connections of ``user_id`` with 4403, on every node, within a
        second; call it after revoking the user's tokens (e.g. bumping ``token_version``).
        With a revocation check, only the connections whose token it now refuses close (a
        session already on a fresh token stays); without one, all of them.

        Raises ``SignalUnavailable`` when the broker did not take the message: this node's
        connections are closed anyway, and other nodes' at their next revocation sweep.
        """
        node = self._mounted.node if self._mounted and self._mounted.running else None
        if node is None:
            await revoke(self._signals(), user_id)
        else:
            await revoke(self._signals(), user_id, hub=node.hub, verifier=node.verifier)

    async def aclose(self) -> None:
        """Send the wake-up still due, then close the broker :meth:`wake` and :meth:`revoke`
        opened outside the app."""
        if self._waker is not None:
            await self._waker.flush()
        if self._broker is not None:
            await self._broker.close()
            self._broker = None

    def _signals(self) -> Broker:
        if self._mounted is not None and self._mounted.running:
            return self._mounted.node.broker
        if self._broker is None:
            self._broker = open_broker(self.settings)
        return self._broker

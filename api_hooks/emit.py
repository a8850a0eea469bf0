"""Emitting notifications inside the host application's own transaction.

The hook joins the caller's unit of work and never commits: the record exists if and only if
the caller's transaction commits (G1). It accepts a PyMongo ``AsyncClientSession`` or a Motor
``AsyncIOMotorClientSession`` (both inside ``start_transaction``), or a ``sqlite3.Connection``
inside a transaction for the embedded store. On MongoDB it calls only ``insert_one`` /
``insert_many`` with ``session=``.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from api_hooks.validation import build_record, build_retract
from foundation.errors import ConfigurationError
from foundation.settings import Settings, load_settings
from outbox.port import StoreAdapter
from outbox.records import Audience, Everyone, OutboxRecord
from outbox.stores import adapter_for_session


class Emitter:
    """Emits into the outbox the worker routes; build one per application and reuse it.

    On MongoDB the outbox lives in ``settings.mongodb_database`` (``TIDINGS_MONGODB_DATABASE``),
    the database every tidings process reads; it may be the host application's own database,
    since MongoDB transactions span databases. ``settings`` defaults to the ``TIDINGS_*``
    environment. ``database``, when given, must name that same database: anything else would
    write notifications where no worker looks, so it is refused with ``ConfigurationError``
    naming both. The database is ignored for SQLite.
    """

    def __init__(self, settings: Settings | None = None, *, database: str | None = None) -> None:
        configured = (settings or load_settings()).mongodb_database
        if database is not None and database != configured:
            raise ConfigurationError(
                f"Emitter(database={database!r}) is not the database the worker routes "
                f"(TIDINGS_MONGODB_DATABASE={configured!r}): notifications emitted there would "
                f"never be delivered; set TIDINGS_MONGODB_DATABASE={database!r} for every "
                "tidings process instead"
            )
        self.database = configured
        # Which adapter serves each session type seen: one dict lookup per emit.
        self._adapters: dict[type, StoreAdapter] = {}

    async def emit(
        self,
        session: Any,
        event: str,
        data: Mapping[str, Any],
        *,
        to: Audience,
        dedup_key: str | None = None,
        origin_session: str | None = None,
        now: datetime | None = None,
        collapse_key: str | None = None,
    ) -> OutboxRecord:
        """Write one notification record in the caller's open transaction.

        With ``collapse_key``, the notification replaces, for each recipient, the one that
        holds the same key: that one stays in the inbox, marked retracted (protocol v2).
        Returns the record written. Raises ``EmitRefused`` (``NotInTransaction`` for a session
        or connection outside a transaction) and then has written nothing.
        """
        record = build_record(
            event=event,
            data=data,
            to=to,
            now=now or datetime.now(UTC),
            dedup_key=dedup_key,
            origin_session=origin_session,
            collapse_key=collapse_key,
        )
        await self.write(session, [record])
        return record

    async def retract(
        self,
        session: Any,
        key: str,
        *,
        to: Audience | None = None,
        now: datetime | None = None,
    ) -> OutboxRecord:
        """Retract, in the caller's open transaction, the notifications holding ``key``.

        Routed in commit order with the notifications: for each user who then holds a
        notification emitted with ``collapse_key=key`` (only the users of ``to`` when given),
        it is marked retracted and a ``retract`` change reaches every device of that user,
        with the counts adjusted. A rolled-back transaction retracts nothing. Returns the
        record written; raises as :meth:`emit` does.
        """
        record = build_retract(key=key, to=to or Everyone(), now=now or datetime.now(UTC))
        await self.write(session, [record])
        return record

    async def write(self, session: Any, records: list[OutboxRecord]) -> None:
        """Write already-built records in the caller's open transaction.

        The store whose driver ``session`` belongs to writes them (see ``outbox.stores``).
        Raises ``EmitRefused("unsupported_session")`` for a session no store recognizes.
        """
        adapter = self._adapters.get(type(session))
        if adapter is None:
            adapter = adapter_for_session(session)
            self._adapters[type(session)] = adapter
        await adapter.write_records(session, records, database=self.database)

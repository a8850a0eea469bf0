"""How a drain talks to the store: one call per round, no claim that finds nothing."""

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from broker import MemoryBroker
from foundation.settings import load_settings
from outbox.records import Group, OutboxRecord, Route, Users
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from outbox.stream import Appended
from outbox.worker.publisher import LivePublisher
from outbox.worker.router import Router
from tests.worker import make_record, resolvers


class CountingStore:
    """The embedded store, counting the calls that claim."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.calls: list[str] = []

    async def claim_and_append(
        self, owner: str, now: datetime, lease_seconds: float, limit: int, resolve: Any
    ) -> tuple[list[OutboxRecord], list[Route], Appended]:
        self.calls.append("claim_and_append")
        return await self.store.claim_and_append(owner, now, lease_seconds, limit, resolve)

    async def claim_batch(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[OutboxRecord]:
        self.calls.append("claim_batch")
        return await self.store.claim_batch(owner, now, lease_seconds, limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
async def counting(tmp_path: Path) -> AsyncIterator[CountingStore]:
    path = tmp_path / "tidings.sqlite3"
    apply_sqlite(path)
    store = await SqliteStore.open(path)
    yield CountingStore(store)
    await store.close()


def router_on(store: CountingStore, batch_size: int) -> Router:
    settings = load_settings(mongodb_url=None, batch_size=batch_size)
    return Router(store, resolvers, settings, LivePublisher(MemoryBroker()))  # type: ignore[arg-type]


async def inbox(store: SqliteStore, user: str) -> list[str]:
    return [entry.notification.id for entry in await store.read_inbox_after(user, 0, 100)]


async def test_a_drain_that_finds_less_than_a_batch_makes_one_call(
    counting: CountingStore,
) -> None:
    records = [make_record(Users(("u1",))) for _ in range(3)]
    await counting.store.add_records(records)

    assert await router_on(counting, batch_size=10).drain() == 3
    assert counting.calls == ["claim_and_append"]
    assert await inbox(counting.store, "u1") == [r.notification_id for r in records]


async def test_full_batches_are_followed_by_another_claim(counting: CountingStore) -> None:
    await counting.store.add_records([make_record(Users(("u1",))) for _ in range(4)])

    assert await router_on(counting, batch_size=2).drain() == 4
    assert counting.calls == ["claim_and_append"] * 3


async def test_a_group_audience_is_resolved_in_claim_order(counting: CountingStore) -> None:
    records = [
        make_record(Users(("u1",))),
        make_record(Group("team", "t1")),  # u1 and u3
        make_record(Users(("u1", "u3"))),
    ]
    await counting.store.add_records(records)

    assert await router_on(counting, batch_size=10).drain() == 5
    assert counting.calls == ["claim_and_append", "claim_batch"]
    ids = [r.notification_id for r in records]
    assert await inbox(counting.store, "u1") == ids
    assert await inbox(counting.store, "u3") == ids[1:]

"""TicketStore against a real Redis: single use, short-lived, hashed at rest."""

import hashlib
import re
from collections.abc import AsyncIterator
from types import MappingProxyType

import pytest
import redis.asyncio as aioredis

from broker import RedisBroker
from delivery.auth import Principal
from delivery.tickets import TicketStore
from foundation.constants import TICKET_KEY_PREFIX
from foundation.errors import StoreUnavailable

TTL = 30
NOW = 1_750_000_000.0
PRINCIPAL = Principal(
    user_id="alice",
    expires_at=NOW + 900,
    claims=MappingProxyType({"sub": "alice", "exp": NOW + 900, "token_version": 3}),
)


@pytest.fixture
async def tickets(redis_client: aioredis.Redis, redis_url: str) -> AsyncIterator[TicketStore]:
    broker = RedisBroker(redis_url)
    yield TicketStore(broker, TTL)
    await broker.close()


@pytest.fixture
async def unreachable_redis() -> AsyncIterator[RedisBroker]:
    """A broker whose every command fails: proves a code path never reaches Redis."""
    broker = RedisBroker("redis://127.0.0.1:1/0")
    yield broker
    await broker.close()


async def test_issued_ticket_redeems_to_the_principal(tickets: TicketStore) -> None:
    ticket = await tickets.issue(PRINCIPAL, now=NOW)

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", ticket)
    assert await tickets.redeem(ticket) == PRINCIPAL


async def test_redeemed_claims_survive_the_round_trip(tickets: TicketStore) -> None:
    principal = await tickets.redeem(await tickets.issue(PRINCIPAL, now=NOW))

    assert principal is not None
    assert principal.claims["token_version"] == 3
    with pytest.raises(TypeError):
        principal.claims["token_version"] = 4  # type: ignore[index]


async def test_ticket_redeems_only_once(tickets: TicketStore) -> None:
    ticket = await tickets.issue(PRINCIPAL, now=NOW)

    assert await tickets.redeem(ticket) is not None
    assert await tickets.redeem(ticket) is None


async def test_tickets_are_distinct(tickets: TicketStore) -> None:
    first = await tickets.issue(PRINCIPAL, now=NOW)
    second = await tickets.issue(PRINCIPAL, now=NOW)

    assert first != second
    assert await tickets.redeem(first) is not None
    assert await tickets.redeem(second) is not None


async def test_unknown_ticket_is_none(tickets: TicketStore) -> None:
    await tickets.issue(PRINCIPAL, now=NOW)

    assert await tickets.redeem("A" * 43) is None


async def test_redis_holds_only_a_hash_of_the_ticket(
    tickets: TicketStore, redis_client: aioredis.Redis
) -> None:
    ticket = await tickets.issue(PRINCIPAL, now=NOW)

    keys = [key.decode() for key in await redis_client.keys(TICKET_KEY_PREFIX + "*")]
    assert keys == [TICKET_KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()]
    assert ticket not in keys[0]
    assert ticket.encode() not in await redis_client.get(keys[0])


async def test_ticket_expires_within_the_ttl(
    tickets: TicketStore, redis_client: aioredis.Redis
) -> None:
    await tickets.issue(PRINCIPAL, now=NOW)

    [key] = await redis_client.keys(TICKET_KEY_PREFIX + "*")
    assert 0 < await redis_client.ttl(key) <= TTL


async def test_ticket_never_outlives_its_token(
    tickets: TicketStore, redis_client: aioredis.Redis
) -> None:
    await tickets.issue(PRINCIPAL, now=PRINCIPAL.expires_at - 4.5)

    [key] = await redis_client.keys(TICKET_KEY_PREFIX + "*")
    assert 0 < await redis_client.ttl(key) <= 5


async def test_value_not_written_by_the_store_is_refused(
    tickets: TicketStore, redis_client: aioredis.Redis
) -> None:
    ticket = "B" * 43
    key = TICKET_KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()
    await redis_client.set(key, b'{"user_id": 7}')

    assert await tickets.redeem(ticket) is None


@pytest.mark.parametrize(
    "ticket",
    ["", "short", "A" * 129, "A" * 1_000_000, "A" * 42 + "=", "A" * 42 + "\n", "\u00c5" * 43],
)
async def test_malformed_ticket_is_none_without_touching_redis(
    unreachable_redis: aioredis.Redis, ticket: str
) -> None:
    assert await TicketStore(unreachable_redis, TTL).redeem(ticket) is None


async def test_unreachable_redis_is_store_unavailable(unreachable_redis: aioredis.Redis) -> None:
    with pytest.raises(StoreUnavailable):
        await TicketStore(unreachable_redis, TTL).redeem("A" * 43)


async def test_ttl_must_be_positive(redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        TicketStore(redis_client, 0)

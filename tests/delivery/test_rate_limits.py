"""Per-user request rates, shared by every node through Redis: 429 with Retry-After, 4429."""

import logging
from pathlib import Path

import httpx
import pytest

from broker import RedisBroker
from delivery.rate_limits import Budget, RateLimits
from foundation.settings import load_settings
from tests.delivery.helpers import bearer, close_code, connect, recv, unique
from tests.delivery.node import make_settings, running_node, token
from tests.services import free_port


async def test_rest_requests_over_the_rate_get_429_on_every_node_together(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path, redis_url, rest_rate_limit="4 per 10 seconds")
    user, other = unique("alice"), unique("bob")
    async with (
        running_node(settings) as first,
        running_node(settings) as second,
        httpx.AsyncClient() as http,
    ):
        answers = [
            await http.get(f"{node.http}/notifications/cursor", headers=bearer(token(user)))
            for node in (first, second, first, second, first, second)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
        refused = answers[-1]
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        theirs = await http.get(f"{first.http}/notifications", headers=bearer(token(other)))
        assert theirs.status_code == 200  # another user's budget is their own


async def test_tickets_have_a_budget_of_their_own(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url, ticket_rate_limit="2 per 10 seconds")
    user = unique("alice")
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        codes = [
            (await http.post("/ws/ticket", headers=bearer(token(user)))).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        assert (await http.get("/notifications", headers=bearer(token(user)))).status_code == 200


async def test_new_connections_over_the_rate_are_closed_4429(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path, redis_url, connect_rate_limit="2 per 10 seconds")
    user = unique("alice")
    async with running_node(settings) as node:
        for _ in range(2):
            async with connect(node.ws(f"token={token(user)}")) as ws:
                assert (await recv(ws))["type"] == "welcome"
        async with connect(node.ws(f"token={token(user)}")) as ws:
            assert await close_code(ws) == 4429


async def test_limits_let_requests_through_while_redis_is_down_and_say_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="delivery.rate_limits")
    down = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
    settings = load_settings(rest_rate_limit="1/second")
    limits = RateLimits.from_settings(settings, down)
    try:
        assert [await limits.spend(Budget.REST, "alice") for _ in range(3)] == [None] * 3
    finally:
        await down.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "rate limits not enforced" in warnings[0].getMessage()

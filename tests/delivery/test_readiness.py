"""Probes and errors that name what is down: the store, Redis, or the ticket store."""

import asyncio
from pathlib import Path

import httpx

from tests.delivery.helpers import bearer, emit_routed, for_user, unique, wait_ready
from tests.delivery.node import make_settings, running_node, token
from tests.read_only import read_only
from tests.services import private_redis


async def test_redis_down_is_not_blamed_on_the_store(tmp_path: Path) -> None:
    user = unique("alice")
    with private_redis() as redis_server:
        settings = make_settings(tmp_path, redis_server.url)
        async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
            await wait_ready(node)
            await emit_routed(settings, 2, for_user(user))
            redis_server.stop()

            ticket = await http.post("/ws/ticket", headers=bearer(token(user)))
            assert ticket.status_code == 503
            assert ticket.json() == {
                "code": "ticket_store_unavailable",
                "message": "the ticket store (Redis) is not answering; retry",
            }
            # The store answers all the while.
            listed = await http.get("/notifications?since=0", headers=bearer(token(user)))
            assert listed.status_code == 200 and listed.json()["head"] == 2

            ready = await http.get("/readyz")
            assert ready.status_code == 503
            message = ready.json()["message"]
            assert "redis" in message and "store" not in message, message

            await asyncio.to_thread(redis_server.start)
            await wait_ready(node)
            ticket = await http.post("/ws/ticket", headers=bearer(token(user)))
            assert ticket.status_code == 200


async def test_a_store_that_cannot_be_written_is_not_ready(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url)
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        await wait_ready(node)
        with read_only(settings.sqlite_path):
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {
                "code": "not_ready",
                "message": "not ready: store: the sqlite store cannot be written: "
                f"{settings.sqlite_path} is read-only (its permissions or immutable flag)",
            }
            assert (await http.get("/healthz")).status_code == 200
        await wait_ready(node)

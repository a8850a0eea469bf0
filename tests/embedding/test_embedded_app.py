"""The adopter's guide's embedded-store app, as an adopter runs it: ``uvicorn`` in a process.

Proves what the guide promises a host application: tidings' REST errors keep their contract
codes inside the host's app, no token, ticket or secret reaches any log line, the worker and
a group resolver run in the app's process, revocation reaches open sockets, and an app that
runs its own transaction and then wakes the worker gets its notification delivered at once.
"""

import asyncio
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.delivery.helpers import close_code, connect, recv, start_stream
from tests.delivery.node import token
from tests.embedding.servers import SECRET, ExampleServer, example_server


def user_token(user: str, **claims: Any) -> str:
    return token(user, secret=SECRET, **claims)


def bearer(user: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(user, **claims)}"}


def seed(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            "INSERT INTO accounts (username, balance) VALUES (?, ?)",
            [("alice", 100), ("bob", 0), ("carol", 0)],
        )
        conn.executemany(
            "INSERT INTO family_members (family_id, username) VALUES (?, ?)",
            [("f1", "alice"), ("f1", "bob")],
        )


def serve(tmp_path: Path, redis_url: str, log_format: str = "text") -> Any:
    data = tmp_path / "data"
    env = {
        "TIDINGS_DATA_DIR": str(data),
        "TIDINGS_REDIS_URL": redis_url,
        "TIDINGS_LOG_FORMAT": log_format,
        "TIDINGS_LOG_LEVEL": "DEBUG",
    }
    return example_server("embedded_app", tmp_path, env, log_level="debug"), data


@pytest.fixture
def app(tmp_path: Path, redis_url: str) -> Iterator[ExampleServer]:
    server, data = serve(tmp_path, redis_url)
    with server as running:
        seed(data / "tidings.sqlite3")
        yield running


async def test_transfers_reach_the_receiver_and_a_refused_one_emits_nothing(
    app: ExampleServer,
) -> None:
    async with httpx.AsyncClient(base_url=app.url) as http:
        ticket = (await http.post("/ws/ticket", headers=bearer("bob"))).json()["ticket"]
        async with connect(f"{app.ws}?ticket={ticket}&since=0") as bob:
            await start_stream(bob)
            sent = await http.post(
                "/transfers", json={"to": "bob", "amount": 30}, headers=bearer("alice")
            )
            assert sent.json() == {"balance": 70}
            frame = await recv(bob)
            assert (frame["seq"], frame["event"]) == (1, "sbd_tokens_received")
            assert frame["data"] == {"from_username": "alice", "amount": 30, "new_balance": 30}
            refused = await http.post(
                "/transfers", json={"to": "bob", "amount": 500}, headers=bearer("alice")
            )
            assert refused.status_code == 409
        listing = await http.get("/notifications?since=0", headers=bearer("bob"))
        assert [item["seq"] for item in listing.json()["items"]] == [1]
        own = await http.get("/notifications?since=0", headers=bearer("alice"))
        assert [item["data"]["new_balance"] for item in own.json()["items"]] == [70]


async def test_a_group_reaches_its_members_through_the_app_s_resolver(app: ExampleServer) -> None:
    async with (
        connect(f"{app.ws}?token={user_token('alice')}&since=0") as alice,
        connect(f"{app.ws}?token={user_token('bob')}&since=0") as bob,
        connect(f"{app.ws}?token={user_token('carol')}&since=0") as carol,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        for ws in (alice, bob, carol):
            await start_stream(ws)
        said = await http.post(
            "/families/f1/announcements", json={"text": "dinner"}, headers=bearer("alice")
        )
        assert said.json() == {"status": "sent"}
        for ws in (alice, bob):
            frame = await recv(ws)
            assert frame["event"] == "family_announcement"
            assert frame["data"] == {"family_id": "f1", "by": "alice", "text": "dinner"}
        with pytest.raises(TimeoutError):
            await recv(carol, timeout=0.3)


async def test_rest_errors_answer_their_contract_codes_inside_the_host_app(
    app: ExampleServer,
) -> None:
    async with httpx.AsyncClient(base_url=app.url) as http:
        forged = {"Authorization": "Bearer x.y.z"}
        too_large = {"pad": "x" * 5000}
        cases = [
            ("GET", "/notifications", {}, None, 401, "token_missing"),
            ("GET", "/notifications?limit=9999", bearer("bob"), None, 400, "invalid_limit"),
            ("GET", "/notifications?since=-1", bearer("bob"), None, 400, "invalid_since"),
            ("GET", "/notifications", forged, None, 401, "token_invalid"),
            ("POST", "/notifications/ack", bearer("bob"), {"seq": 5}, 409, "ack_above_head"),
            ("POST", "/notifications/ack", bearer("bob"), {"seq": "x"}, 400, "invalid_ack"),
            ("POST", "/notifications/ack", bearer("bob"), too_large, 413, "body_too_large"),
            ("POST", "/ws/ticket", {}, None, 401, "token_missing"),
        ]
        for method, path, headers, body, status, code in cases:
            answer = await http.request(method, path, headers=headers, json=body)
            assert (answer.status_code, answer.json()["code"]) == (status, code), path
            assert set(answer.json()) == {"code", "message"}
        assert (await http.post("/sessions/revoke", headers=bearer("bob"))).is_success
        revoked = await http.get("/notifications", headers=bearer("bob"))
        assert (revoked.status_code, revoked.json()["code"]) == (403, "token_revoked")


async def test_revoking_closes_the_user_s_open_sockets_with_4403_and_only_theirs(
    app: ExampleServer,
) -> None:
    async with (
        connect(f"{app.ws}?token={user_token('bob')}&device=phone") as phone,
        connect(f"{app.ws}?token={user_token('bob')}&device=laptop") as laptop,
        connect(f"{app.ws}?token={user_token('carol')}") as carol,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        for ws in (phone, laptop, carol):
            await start_stream(ws)
        started = time.monotonic()
        assert (await http.post("/sessions/revoke", headers=bearer("bob"))).is_success
        codes = await asyncio.gather(close_code(phone, 1.0), close_code(laptop, 1.0))
        assert codes == [4403, 4403]
        assert time.monotonic() - started < 1.0
        await carol.send('{"type":"ack","seq":0}')
        assert carol.close_code is None
    async with connect(f"{app.ws}?token={user_token('bob')}") as stale:
        assert await close_code(stale) == 4403
    async with connect(f"{app.ws}?token={user_token('bob', token_version=1)}") as fresh:
        assert (await recv(fresh))["type"] == "welcome"


async def test_an_app_s_own_transaction_then_wake_delivers_at_once(app: ExampleServer) -> None:
    """The guide's manual-session path: BEGIN, emit, COMMIT, then ``notifications.wake()``."""
    delays = []
    async with (
        connect(f"{app.ws}?token={user_token('bob')}&since=0") as bob,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        await start_stream(bob)
        for number in range(20):
            started = time.perf_counter()
            await http.post(
                "/families/f1/announcements", json={"text": str(number)}, headers=bearer("alice")
            )
            frame = await recv(bob)
            delays.append(time.perf_counter() - started)
            assert frame["data"]["text"] == str(number)
    median = statistics.median(delays)
    print(f"manual transaction + wake to frame: median {median * 1000:.1f} ms")
    assert median < 0.1


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_token_ticket_or_secret_reaches_any_log_line(
    tmp_path: Path, redis_url: str, log_format: str
) -> None:
    secrets = [SECRET]
    server, data = serve(tmp_path, redis_url, log_format)
    with server as app:
        seed(data / "tidings.sqlite3")
        async with httpx.AsyncClient(base_url=app.url) as http:
            url_token, header_token = user_token("bob"), user_token("bob", jti="header")
            ticket = (await http.post("/ws/ticket", headers=bearer("bob"))).json()["ticket"]
            secrets += [url_token, header_token, ticket]
            async with connect(f"{app.ws}?token={url_token}&since=0") as ws:
                await start_stream(ws)
            headers = {"Authorization": f"Bearer {header_token}"}
            async with connect(f"{app.ws}?since=0", additional_headers=headers) as ws:
                await start_stream(ws)
            async with connect(f"{app.ws}?ticket={ticket}") as ws:
                await start_stream(ws)
            expired = user_token("bob", ttl=-3600)
            forged = token("bob", secret="not-the-secret-" + "n" * 32)
            secrets += [expired, forged]
            for bad in (expired, forged):
                async with connect(f"{app.ws}?token={bad}") as ws:
                    assert await close_code(ws) == 4401
                await http.get("/notifications", headers={"Authorization": f"Bearer {bad}"})
            async with connect(f"{app.ws}?ticket={ticket}") as ws:  # used already
                assert await close_code(ws) == 4401
    output = app.output()
    assert "GET /ws" in output  # the access log did run, at DEBUG
    assert "[redacted]" in output  # and the credentials in it were masked, not left out
    leaked = [secret[:12] for secret in secrets if secret in output]
    assert leaked == []
    for part in {secret.split(".")[-1] for secret in secrets if secret.count(".") == 2}:
        assert part not in output  # no JWT signature either

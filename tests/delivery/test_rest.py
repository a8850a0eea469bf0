"""The REST API over real HTTP: catch-up, acks, cursor, status codes and error bodies."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from delivery.auth import Principal
from tests.delivery.helpers import bearer, emit_routed, for_user, unique
from tests.delivery.node import Node, make_settings, running_node, token

FULL_WIDTH_ONE = "\uff11"  # a digit, but not an ASCII one
BAD_LIMITS = ["0", "501", "x", "-1", "", "1.5", "+1", " 1", FULL_WIDTH_ONE, "1000", "0100"]
BAD_SINCE = ["-1", "abc", "1.5", str(2**70), str(2**63), "", " 1", "+1", "1_0", FULL_WIDTH_ONE]


async def revoked(principal: Principal) -> bool:
    return principal.claims.get("token_version") == 0


@pytest.fixture
async def node(tmp_path: Path, redis_url: str) -> AsyncIterator[Node]:
    async with running_node(make_settings(tmp_path, redis_url), revocation_check=revoked) as node:
        yield node


@pytest.fixture
async def http(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node.http, timeout=5) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body


async def test_limit_outside_1_to_500_is_rejected_not_clamped(
    node: Node, http: httpx.AsyncClient
) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 3, for_user(user))
    auth = bearer(token(user))
    for raw in BAD_LIMITS:
        response = await http.get(f"/notifications?limit={quote(raw, safe='')}", headers=auth)
        assert_error(response, 400, "invalid_limit")
    for good in ("1", "500", "100"):
        response = await http.get(f"/notifications?limit={good}", headers=auth)
        assert response.status_code == 200, good
    assert len((await http.get("/notifications?limit=1", headers=auth)).json()["items"]) == 1


async def test_bad_since_is_400(http: httpx.AsyncClient) -> None:
    auth = bearer(token(unique("alice")))
    for raw in BAD_SINCE:
        response = await http.get(f"/notifications?since={quote(raw, safe='')}", headers=auth)
        assert_error(response, 400, "invalid_since")
    assert (await http.get(f"/notifications?since={2**63 - 1}", headers=auth)).status_code == 200


async def test_credentials(http: httpx.AsyncClient) -> None:
    user = unique("alice")
    paths = [
        ("GET", "/notifications"),
        ("GET", "/notifications/cursor"),
        ("POST", "/notifications/ack"),
        ("POST", "/ws/ticket"),
    ]
    for method, path in paths:
        json_body = {"seq": 0} if method == "POST" else None
        missing = await http.request(method, path, json=json_body)
        assert_error(missing, 401, "token_missing")
        basic = await http.request(
            method, path, json=json_body, headers={"Authorization": "Basic dXNlcjpwYXNz"}
        )
        assert_error(basic, 401, "token_missing")
        for bad in ("garbage", token(user, ttl=-60), token(user, secret="s" * 40)):
            assert_error(await http.request(method, path, json=json_body, headers=bearer(bad)), 401)
        in_query = await http.request(method, f"{path}?token={token(user)}", json=json_body)
        assert_error(in_query, 401, "token_missing")  # REST takes only the header
        revoked_token = bearer(token(user, token_version=0))
        response = await http.request(method, path, json=json_body, headers=revoked_token)
        assert_error(response, 403, "token_revoked")
    expired = await http.get("/notifications", headers=bearer(token(user, ttl=-60)))
    assert_error(expired, 401, "token_expired")


async def test_unknown_path_and_wrong_method(http: httpx.AsyncClient) -> None:
    auth = bearer(token(unique("alice")))
    for path in ("/nope", "/notifications/extra", "/ws/tickets", "/"):
        assert_error(await http.get(path, headers=auth), 404, "not_found")
    for method, path in [
        ("GET", "/notifications/ack"),
        ("DELETE", "/notifications"),
        ("PUT", "/notifications/cursor"),
        ("GET", "/ws/ticket"),
        ("POST", "/healthz"),
    ]:
        assert_error(await http.request(method, path, headers=auth), 405, "method_not_allowed")


async def test_ack_rules_and_cursor(node: Node, http: httpx.AsyncClient) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 5, for_user(user))
    auth = bearer(token(user))

    async def ack(seq: object, device: str | None = "phone") -> httpx.Response:
        body: dict[str, object] = {"seq": seq}
        if device is not None:
            body["device"] = device
        return await http.post("/notifications/ack", headers=auth, json=body)

    async def cursor(device: str = "phone") -> dict[str, Any]:
        response = await http.get(f"/notifications/cursor?device={device}", headers=auth)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    assert await cursor() == {"head": 5, "acked": 0, "unread": 5}
    assert_error(await ack(6), 409, "ack_above_head")
    assert await cursor() == {"head": 5, "acked": 0, "unread": 5}
    stored = await ack(3)
    assert (stored.status_code, stored.json()) == (200, {"acked": 3, "device": "phone"})
    assert (await ack(3)).status_code == 200  # equal: a silent no-op
    assert_error(await ack(2), 409, "ack_stale")
    assert await cursor() == {"head": 5, "acked": 3, "unread": 2}
    assert await cursor("default") == {"head": 5, "acked": 0, "unread": 5}
    assert (await ack(5, device=None)).status_code == 200  # the default device
    assert await cursor("default") == {"head": 5, "acked": 5, "unread": 0}
    for bad_seq in ("3", -1, 1.5, True, None, 2**63):
        assert_error(await ack(bad_seq), 400, "invalid_ack")
    for bad_device in ("", "a b", "x" * 65):
        assert_error(await ack(4, device=bad_device), 400, "invalid_device")
    assert_error(await http.get("/notifications/cursor?device=", headers=auth), 400)
    assert await cursor() == {"head": 5, "acked": 3, "unread": 2}


async def test_ack_bodies(http: httpx.AsyncClient) -> None:
    auth = bearer(token(unique("alice")))
    for body in (b"not json", b"", b"[1]", b'"seq"', b"{"):
        response = await http.post("/notifications/ack", headers=auth, content=body)
        assert_error(response, 400, "invalid_json")
    too_large = b'{"seq": 0, "pad": "' + b"p" * 5000 + b'"}'
    response = await http.post("/notifications/ack", headers=auth, content=too_large)
    assert_error(response, 413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000  # no Content-Length: the size is found while reading

    response = await http.post("/notifications/ack", headers=auth, content=chunks())
    assert_error(response, 413, "body_too_large")


async def test_pagination_walks_every_item_in_order(node: Node, http: httpx.AsyncClient) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 250, for_user(user))
    auth = bearer(token(user))
    seen: list[int] = []
    since, pages = 0, 0
    while pages < 10:
        pages += 1
        body = (await http.get(f"/notifications?since={since}&limit=100", headers=auth)).json()
        assert set(body) == {"items", "head", "next_since", "has_more", "recovered"}
        assert body["head"] == 250 and body["recovered"] is True
        seen += [item["seq"] for item in body["items"]]
        assert body["next_since"] == seen[-1]
        since = body["next_since"]
        if not body["has_more"]:
            break
    assert pages == 3
    assert seen == list(range(1, 251))
    last = (await http.get("/notifications?since=250", headers=auth)).json()
    assert (last["items"], last["next_since"], last["has_more"]) == ([], 250, False)
    exact = (await http.get("/notifications?since=150&limit=100", headers=auth)).json()
    assert (len(exact["items"]), exact["has_more"]) == (100, False)
    default = (await http.get("/notifications", headers=auth)).json()
    assert len(default["items"]) == 100 and default["has_more"] is True
    item = default["items"][0]
    assert set(item) == {"seq", "id", "event", "data", "created_at", "origin_session"}


async def test_since_above_the_head_is_not_recovered(node: Node, http: httpx.AsyncClient) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 2, for_user(user))
    body = (await http.get("/notifications?since=7", headers=bearer(token(user)))).json()
    assert (body["items"], body["head"], body["recovered"], body["has_more"]) == (
        [],
        2,
        False,
        False,
    )
    assert body["next_since"] == 2


async def test_ticket(http: httpx.AsyncClient) -> None:
    response = await http.post("/ws/ticket", headers=bearer(token(unique("alice"))))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 30
    assert isinstance(body["ticket"], str) and len(body["ticket"]) >= 32


# Oversized request heads, from a raw socket.


async def raw_exchange(node: Node, payload: bytes) -> tuple[bytes, bool]:
    """Send ``payload``; what the server answered within 1 s, and whether it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    received = b""
    try:
        with contextlib.suppress(ConnectionResetError):
            writer.write(payload)
            await writer.drain()
        async with asyncio.timeout(1.0):
            while chunk := await reader.read(65536):
                received += chunk
        return received, True
    except ConnectionResetError:
        return received, True
    except TimeoutError:
        return received, False
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize(
    "payload",
    [
        b"GET /healthz?" + b"a" * 17000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (n, b"c" * 100) for n in range(200))
        + b"\r\n",
        b"GET /ws?token=" + b"t" * 17000 + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
        b"GET /healthz?" + b"a" * 17000,  # never finished
        b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 17000,  # never finished
    ],
    ids=["line", "header", "many-headers", "ws-line", "unfinished-line", "unfinished-header"],
)
async def test_request_head_over_16_kib_is_refused_promptly(node: Node, payload: bytes) -> None:
    answer, closed = await raw_exchange(node, payload)
    # A 431 within the second, or the connection closed within it (never a hang, never served).
    assert answer.startswith(b"HTTP/1.1 431") or closed, answer[:200]
    assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]


async def test_request_head_under_16_kib_is_served(node: Node) -> None:
    payload = b"GET /healthz?" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer, closed = await raw_exchange(node, payload)
    assert answer.startswith(b"HTTP/1.1 200") and closed, answer[:200]

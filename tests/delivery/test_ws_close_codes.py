"""Every close code of protocol v1, each provoked by a real WebSocket client on a real node."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.exceptions import ConnectionClosed

from delivery.auth import Principal
from tests.delivery.helpers import (
    bearer,
    close_code,
    connect,
    emit_routed,
    for_user,
    recv,
    start_stream,
    unique,
    until,
)
from tests.delivery.node import make_settings, running_node, token

FULL_WIDTH_ONE = "\uff11"  # a digit, but not an ASCII one
BAD_SINCE = [
    "-1",
    "abc",
    "1.5",
    str(2**70),
    str(2**63),
    "",
    " 1",
    "+1",
    "1_0",
    FULL_WIDTH_ONE,
    "0x1",
    "1 ",
]
BAD_DEVICES = ["", "a b", "a.b", "é", "x" * 65, "a/b", "a+b"]


def q(value: str) -> str:
    return quote(value, safe="")


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Any:
    return make_settings(tmp_path, redis_url)


async def test_bad_since_closes_4400(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        for raw in BAD_SINCE:
            async with connect(node.ws(f"token={token(user)}&since={q(raw)}")) as ws:
                assert await close_code(ws) == 4400, f"since={raw!r}"
        # The largest valid since is accepted: above the head, so not recovered.
        async with connect(node.ws(f"token={token(user)}&since={2**63 - 1}")) as ws:
            welcome = await recv(ws)
            assert welcome["type"] == "welcome"
            assert (welcome["recovered"], welcome["since"]) == (False, 0)


async def test_bad_device_closes_4400(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        for raw in BAD_DEVICES:
            async with connect(node.ws(f"token={token(user)}&device={q(raw)}")) as ws:
                assert await close_code(ws) == 4400, f"device={raw!r}"
        for good in ["x" * 64, "A-z_09"]:
            async with connect(node.ws(f"token={token(user)}&device={good}")) as ws:
                assert (await recv(ws))["device"] == good


async def test_bad_query_is_refused_before_authentication(settings: Any) -> None:
    async with running_node(settings) as node:
        async with connect(node.ws("since=-1")) as ws:
            assert await close_code(ws) == 4400


async def test_the_51st_bad_frame_closes_4400(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}&since=0")) as ws:
            await start_stream(ws)
            for number in range(1, 51):
                await ws.send("not json")
                frame = await recv(ws)
                assert (frame["type"], frame["code"]) == ("error", "invalid_json"), number
            # Still open after 50: an ack above the head is answered, and is not a bad frame.
            await ws.send(json.dumps({"type": "ack", "seq": 1}))
            assert (await recv(ws))["code"] == "ack_above_head"
            await ws.send(json.dumps({"type": "nope"}))
            assert (await recv(ws))["code"] == "unknown_type"
            assert await close_code(ws) == 4400


def _hs256_by_hand(payload: dict[str, Any], secret: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def _unsigned(user: str) -> str:
    return jwt.encode({"sub": user, "exp": int(time.time()) + 600}, None, algorithm="none")


async def test_bad_credentials_close_4401(settings: Any) -> None:
    user = unique("alice")
    cases = {
        "no token": "since=0",
        "empty token": "token=",
        "garbage": "token=garbage",
        "three garbage parts": "token=a.b.c",
        "expired beyond the leeway": f"token={token(user, ttl=-60)}",
        "wrong secret": f"token={token(user, secret='another-secret-' + 'y' * 32)}",
        "alg none": f"token={_unsigned(user)}",
        "refresh token": f"token={token(user, type='refresh')}",
        "unknown ticket": f"ticket={'A' * 43}",
        "malformed ticket": "ticket=..",
    }
    async with running_node(settings) as node:
        for name, query in cases.items():
            async with connect(node.ws(query)) as ws:
                assert await close_code(ws) == 4401, name
        async with connect(node.ws("since=0"), additional_headers=bearer("garbage")) as ws:
            assert await close_code(ws) == 4401, "garbage bearer header"
        async with connect(node.ws(f"token={token(user)}")) as ws:
            assert (await recv(ws))["user_id"] == user  # the control case


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_hs_rs_confusion_closes_4401(
    tmp_path: Path, redis_url: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = make_settings(
        tmp_path, redis_url, jwt_secret=None, jwt_algorithms=["RS256"], jwt_public_key=pem.decode()
    )
    user = unique("alice")
    claims = {"sub": user, "exp": int(time.time()) + 600, "type": "access"}
    forged = _hs256_by_hand(claims, pem)
    genuine = jwt.encode(claims, rsa_key, algorithm="RS256")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={forged}")) as ws:
            assert await close_code(ws) == 4401
        async with connect(node.ws(f"token={genuine}")) as ws:
            assert (await recv(ws))["user_id"] == user


async def test_ticket_is_single_use(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with httpx.AsyncClient(base_url=node.http) as http:
            response = await http.post("/ws/ticket", headers=bearer(token(user)))
        ticket = response.json()["ticket"]
        async with connect(node.ws(f"ticket={ticket}")) as ws:
            assert (await recv(ws))["user_id"] == user
        async with connect(node.ws(f"ticket={ticket}")) as ws:
            assert await close_code(ws) == 4401


@pytest.mark.slow
async def test_expiry_during_a_connection_closes_4401_unless_refreshed(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path, redis_url, jwt_leeway_seconds=0)
    user = unique("alice")
    short = token(user, ttl=2)
    expires_at = jwt.decode(short, options={"verify_signature": False})["exp"]
    async with running_node(settings) as node:
        async with (
            connect(node.ws(f"token={short}&since=0")) as refreshed,
            connect(node.ws(f"token={short}&since=0")) as expiring,
        ):
            await start_stream(refreshed)
            await start_stream(expiring)
            await refreshed.send(json.dumps({"type": "refresh", "token": token(user)}))
            assert await close_code(expiring, timeout=6) == 4401
            assert time.time() >= expires_at  # closed at exp, not before
            # Let the server's expiry clock (1 s ticks) pass the old exp for the other one;
            # this waits for time itself, so no condition could stand in for it.
            await asyncio.sleep(max(0.0, expires_at + 1.5 - time.time()))
            await emit_routed(settings, 1, for_user(user))
            frame = await recv(refreshed)
            assert (frame["type"], frame["seq"]) == ("notification", 1)


async def test_refresh_with_another_users_token_closes_4401(settings: Any) -> None:
    user, other = unique("alice"), unique("bob")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            await ws.send(json.dumps({"type": "refresh", "token": token(other)}))
            assert await close_code(ws) == 4401


@pytest.mark.parametrize(
    "bad_token",
    ["garbage", token("someone", ttl=-60), token("someone", secret="z" * 40)],
    ids=["garbage", "expired", "wrong-secret"],
)
async def test_refresh_with_an_invalid_token_closes_4401(settings: Any, bad_token: str) -> None:
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token('someone')}")) as ws:
            await start_stream(ws)
            await ws.send(json.dumps({"type": "refresh", "token": bad_token}))
            assert await close_code(ws) == 4401


async def test_revoked_token_closes_4403(settings: Any) -> None:
    async def revoked(principal: Principal) -> bool:
        return principal.claims.get("token_version") == 0

    user = unique("alice")
    async with running_node(settings, revocation_check=revoked) as node:
        async with connect(node.ws(f"token={token(user, token_version=0)}")) as ws:
            assert await close_code(ws) == 4403
        async with connect(node.ws(f"token={token(user, token_version=1)}")) as ws:
            assert (await recv(ws))["type"] == "welcome"


async def test_disallowed_origin_closes_4403(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url, allowed_origins=["https://app.example"])
    user = unique("alice")
    url_query = f"token={token(user)}"
    async with running_node(settings) as node:
        async with connect(node.ws(url_query), origin="https://evil.example") as ws:
            assert await close_code(ws) == 4403
        async with connect(node.ws(url_query), origin="https://app.example") as ws:
            assert (await recv(ws))["type"] == "welcome"


async def test_too_many_connections_close_4429(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url, max_connections_per_user=2)
    user, other = unique("alice"), unique("bob")
    async with running_node(settings) as node:
        url = node.ws(f"token={token(user)}")
        async with connect(url) as first, connect(url) as second:
            await recv(first)
            await recv(second)
            async with connect(url) as third:
                assert await close_code(third) == 4429
            async with connect(node.ws(f"token={token(other)}")) as unrelated:
                assert (await recv(unrelated))["type"] == "welcome"
        # Both closed: the user may connect again once the node has seen them go.

        async def accepted_again() -> bool:
            async with connect(url) as again:
                try:
                    return (await recv(again))["type"] == "welcome"
                except ConnectionClosed:
                    return False  # 4429: the node has not seen both go yet

        await until(accepted_again, 5, "a new connection after the others closed")


async def test_a_single_burst_is_not_a_sustained_rate(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            for _ in range(300):
                await ws.send('{"type":"ack","seq":0}')  # equal to the stored ack: silent
            await ws.send(json.dumps({"type": "ack", "seq": 5}))
            assert (await recv(ws))["code"] == "ack_above_head"


@pytest.mark.slow
async def test_over_100_frames_per_second_for_2_seconds_closes_4429(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            started = time.monotonic()
            with pytest.raises(ConnectionClosed):
                # About 400 frames/s, until the server closes (bounded to 6 s).
                while time.monotonic() - started < 6:
                    for _ in range(40):
                        await ws.send('{"type":"ack","seq":0}')
                    await asyncio.sleep(0.1)  # paces the load: the rate is what is tested
            elapsed = time.monotonic() - started
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 4429
            assert elapsed >= 1.0  # sustained, not the first burst


async def test_frame_over_max_frame_bytes_closes_1009(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url, max_frame_bytes=2048)
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            padding = 2048 - len(json.dumps({"type": "ack", "seq": 7, "pad": ""}))
            at_limit = json.dumps({"type": "ack", "seq": 7, "pad": "p" * padding})
            assert len(at_limit.encode()) == 2048
            await ws.send(at_limit)
            assert (await recv(ws))["code"] == "ack_above_head"  # exactly the limit: served
            await ws.send(at_limit + " ")
            assert await close_code(ws) == 1009


async def test_binary_frame_closes_1003(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            await ws.send(b'{"type":"ack","seq":0}')
            assert await close_code(ws) == 1003


async def test_node_shutdown_closes_1001(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        ws = await connect(node.ws(f"token={token(user)}&since=0"))
        await start_stream(ws)
        stopping = time.monotonic()
    try:
        assert time.monotonic() - stopping < 3  # the node did not wait out a grace period
        assert await close_code(ws, timeout=1) == 1001
    finally:
        await ws.close()

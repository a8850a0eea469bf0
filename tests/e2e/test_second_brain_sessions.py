"""Sign-in, password change and token revocation through the example app's HTTP API and
tidings' routes mounted in it, and the app's answers to bad input (a field named)."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from delivery.auth import Principal
from examples.second_brain.sessions import token_is_revoked
from tests.e2e.example_server import Example, example_settings, running_example

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"


@pytest.fixture
async def example(
    tmp_path: Path, redis_url: str, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Example]:
    async with running_example(example_settings(tmp_path, redis_url, monkeypatch)) as app:
        yield app


def _bearer(token: str, session: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if session is not None:
        headers["X-Session-Id"] = session
    return headers


async def _notifications(example: Example, token: str) -> list[dict[str, Any]]:
    await example.route()
    answer = await example.http.get("/notifications?since=0", headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found


async def _close_code(url: str) -> int | None:
    async with websockets.connect(url, open_timeout=5) as socket:
        try:
            await socket.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


async def test_signing_in_again_tells_the_other_sessions_which_device(example: Example) -> None:
    first = await example.sign_in("alice", "tab-1")
    await example.sign_in("alice", "tab-2", user_agent=CHROME)
    logins = [n for n in await _notifications(example, first) if n["event"] == "new_device_login"]
    assert [n["origin_session"] for n in logins] == ["tab-1", "tab-2"]
    data = logins[1]["data"]
    assert (data["device"], data["ip"], data["user_agent"]) == (
        "Chrome 131 on Linux",
        "127.0.0.1",
        CHROME,
    )
    assert data["at"].endswith("Z")


async def test_a_password_change_revokes_every_older_token(example: Example) -> None:
    acting = await example.sign_in("alice", "tab-1")
    other = await example.sign_in("alice", "tab-2")
    changed = await example.http.post(
        "/api/password", json={"new_password": "correct horse"}, headers=_bearer(acting, "tab-1")
    )
    assert changed.status_code == 200, changed.text
    fresh = changed.json()["token"]

    for old in (acting, other):
        me = await example.http.get("/api/me", headers=_bearer(old))
        assert (me.status_code, me.json()["code"]) == (403, "token_revoked")
        ticket = await example.http.post("/ws/ticket", headers=_bearer(old))
        assert ticket.status_code == 403
        assert await _close_code(example.ws(f"token={old}")) == 4403
    assert (await example.http.get("/api/me", headers=_bearer(fresh))).status_code == 200

    notes = await _notifications(example, fresh)
    [note] = [n for n in notes if n["event"] == "password_changed"]
    assert note["origin_session"] == "tab-1"  # tab-2 shows it, tab-1 hides it
    async with websockets.connect(example.ws(f"token={fresh}&since=0")) as socket:
        welcome = orjson.loads(await socket.recv())
        assert welcome["type"] == "welcome"


async def test_refusals_name_the_field_they_are_about(example: Example) -> None:
    token = await example.sign_in("alice", "tab-1")
    cases = [
        ("/api/transfer", {"to": "bob", "amount": "ten"}, "invalid_request", "amount"),
        ("/api/transfer", {"to": "bob", "amount": 0}, "invalid_amount", "amount"),
        ("/api/transfer", {"to": "zoe", "amount": 5}, "unknown_user", "to"),
        ("/api/password", {"new_password": "short"}, "weak_password", "new_password"),
        ("/api/family/invite", {"username": "carol"}, "already_in_family", "username"),
        ("/api/family/requests", {"amount": -3}, "invalid_amount", "amount"),
        (
            "/api/appearance",
            {"updated_item": "theme", "item_id": "avatar-fox"},
            "wrong_item_type",
            "item_id",
        ),
    ]
    for path, body, code, field in cases:
        answer = await example.http.post(path, json=body, headers=_bearer(token, "tab-1"))
        assert answer.status_code in (400, 404, 409), (path, answer.text)
        assert (answer.json()["code"], answer.json().get("field")) == (code, field), path
    bad_session = await example.http.post(
        "/api/appearance",
        json={"updated_item": "theme", "item_id": "theme-aurora"},
        headers=_bearer(token, "not a session id"),
    )
    assert (bad_session.status_code, bad_session.json()["code"]) == (400, "invalid_session_id")
    refused = await example.http.post("/api/family/leave", headers=_bearer(token))  # the last admin
    assert (refused.status_code, refused.json()["code"]) == (409, "last_admin")
    assert "field" not in refused.json()


class _Versions:
    def __init__(self, versions: dict[str, int]) -> None:
        self.versions = versions

    async def token_version(self, username: str) -> int | None:
        return self.versions.get(username)


@pytest.mark.parametrize(
    ("claims", "revoked"),
    [
        ({"token_version": 2}, False),
        ({"token_version": 1}, True),
        ({"token_version": 3}, True),
        ({}, True),
        ({"token_version": "2"}, True),
        ({"token_version": True}, True),
    ],
)
async def test_a_token_is_good_only_with_the_users_current_version(
    claims: dict[str, Any], revoked: bool
) -> None:
    repo: Any = _Versions({"alice": 2})
    assert await token_is_revoked(repo, Principal("alice", 0.0, claims)) is revoked
    assert await token_is_revoked(repo, Principal("zoe", 0.0, {"token_version": 2})) is True

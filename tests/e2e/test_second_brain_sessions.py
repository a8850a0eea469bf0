"""Sign-in, password change and token revocation through the example app's HTTP API and
tidings' routes mounted in it, and the app's answers to bad input (a field named)."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
import websockets

from delivery.auth import Principal
from examples.second_brain import sessions
from examples.second_brain.demo_data import demo_token
from examples.second_brain.sessions import other_sessions_ended, token_is_revoked
from foundation.settings import Settings
from outbox.records import InboxEntry, Notification
from outbox.stores.sqlite.store import SqliteStore
from tests.e2e.example_server import Example, example_settings, running_example
from tests.worker import nothing_pending, wait_until

NOW = datetime(2026, 1, 1, tzinfo=UTC)
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


async def _all_routed(settings: Settings) -> None:
    """Return once the example's worker has routed every record committed so far."""
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        await wait_until(lambda: nothing_pending(store), timeout=5)
    finally:
        await store.close()


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


async def _caught_up(socket: Any) -> None:
    """Read the welcome and the replay, up to ``caught_up``."""
    while orjson.loads(await socket.recv())["type"] != "caught_up":
        pass


async def _until_closed(socket: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame the socket receives until the server closes it, and the close code."""
    frames = []
    try:
        while True:
            frames.append(orjson.loads(await socket.recv()))
    except websockets.ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


async def test_a_password_change_tells_open_sessions_then_closes_them_with_4403(
    tmp_path: Path, redis_url: str, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = example_settings(tmp_path, redis_url, monkeypatch)
    async with running_example(settings, worker=True) as example:
        acting = await example.sign_in("alice", "tab-1")
        other = await example.sign_in("alice", "tab-2")
        bob = await example.sign_in("bob", "tab-3")
        await _all_routed(settings)  # the sign-ins' notifications are replayed, not live
        async with (
            websockets.connect(example.ws(f"token={other}&since=0"), open_timeout=5) as tab_2,
            websockets.connect(example.ws(f"token={bob}&since=0"), open_timeout=5) as bobs,
        ):
            await _caught_up(tab_2)
            await _caught_up(bobs)
            changed = await example.http.post(
                "/api/password",
                json={"new_password": "correct horse"},
                headers=_bearer(acting, "tab-1"),
            )
            assert changed.status_code == 200, changed.text
            # The answer comes once tab-2 has been told and closed.
            frames, code = await asyncio.wait_for(_until_closed(tab_2), 5)
            assert [f.get("event") for f in frames] == ["password_changed"]
            assert frames[0]["origin_session"] == "tab-1"
            assert code == 4403

            fresh = changed.json()["token"]
            sent = await example.http.post(
                "/api/transfer", json={"to": "bob", "amount": 2}, headers=_bearer(fresh)
            )
            assert sent.status_code == 200, sent.text
            frame = orjson.loads(await asyncio.wait_for(bobs.recv(), 5))  # bob's stays open
            assert (frame["type"], frame["event"]) == ("notification", "sbd_tokens_received")


async def test_the_apps_own_routes_refuse_missing_bad_and_expired_tokens(
    example: Example,
) -> None:
    good = await example.sign_in("alice", "tab-1")
    expired = demo_token(example.settings, "alice", now=time.time() - 7200)
    other_key = jwt.encode({"sub": "alice", "exp": time.time() + 60}, "k" * 32, "HS256")
    cases = [
        ({}, "token_missing"),
        ({"Authorization": "Basic abc"}, "token_missing"),
        (_bearer("not-a-jwt"), "token_invalid"),
        (_bearer(other_key), "token_invalid"),
        (_bearer(expired), "token_expired"),
    ]
    for headers, code in cases:
        answer = await example.http.get("/api/me", headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (401, code), headers
    assert (await example.http.get("/api/me", headers=_bearer(good))).status_code == 200


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


class _Hub:
    def __init__(self, events: list[str]) -> None:
        self.listeners: list[Any] = []
        self.events = events

    def add(self, listener: Any) -> None:
        self.listeners.append(listener)

    def remove(self, listener: Any) -> None:
        self.listeners.remove(listener)

    def dispatch(self, user_id: str, notification_id: str) -> None:
        self.events.append(f"{notification_id} to {user_id}")
        notification = Notification(notification_id, "password_changed", {}, NOW)
        for listener in self.listeners:
            if listener.user_id == user_id:
                listener.on_entries([InboxEntry(user_id, 1, notification, NOW)])


class _Notifications:
    """What ``other_sessions_ended`` uses of ``Tidings``: the node's hub and ``revoke``."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.hub = _Hub(self.events)
        self.node = self

    async def revoke(self, user_id: str) -> None:
        listening = len(self.hub.listeners)
        self.events.append(f"revoke {user_id} ({listening} listening)")


async def test_sessions_end_once_the_notification_reached_them() -> None:
    notifications: Any = _Notifications()

    async def route() -> None:
        notifications.hub.dispatch("bob", "n-1")  # another user's stream
        notifications.hub.dispatch("alice", "n-2")

    async with other_sessions_ended(notifications, "alice") as notified:
        notified("n-2")
        routing = asyncio.create_task(route())  # runs while the block's exit waits
    await routing
    assert notifications.events == ["n-1 to bob", "n-2 to alice", "revoke alice (0 listening)"]


async def test_a_notification_routed_before_the_block_ends_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions, "DELIVERY_WAIT_SECONDS", 60.0)
    notifications: Any = _Notifications()
    async with asyncio.timeout(5), other_sessions_ended(notifications, "alice") as notified:
        notifications.hub.dispatch("alice", "n-2")
        notified("n-2")
    assert notifications.events == ["n-2 to alice", "revoke alice (0 listening)"]


async def test_sessions_end_anyway_when_the_notification_does_not_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions, "DELIVERY_WAIT_SECONDS", 0.05)
    notifications: Any = _Notifications()
    async with other_sessions_ended(notifications, "alice") as notified:
        notified("n-2")
    assert notifications.events == ["revoke alice (0 listening)"]


async def test_a_refused_change_ends_no_session() -> None:
    notifications: Any = _Notifications()
    with pytest.raises(RuntimeError, match="refused"):
        async with other_sessions_ended(notifications, "alice"):
            raise RuntimeError("refused")
    assert notifications.events == []
    assert notifications.hub.listeners == []

"""The auth, profile and appearance operations on the embedded store: what each changes,
what it emits to whom, and refusals that name their field."""

from datetime import UTC, datetime

import pytest

from api_hooks import Users
from examples.second_brain import operations
from examples.second_brain.domain import DomainError
from examples.second_brain.operations.auth import describe_device
from examples.second_brain.ports import Repository
from foundation.settings import Settings
from tests.e2e.conftest import outbox_sqlite


async def test_sign_in_tells_the_other_sessions_and_gives_the_token_version(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    at = datetime(2026, 5, 6, 7, 8, 9, 10, tzinfo=UTC)
    work = operations.sign_in(
        "bob",
        ip="10.1.2.3",
        user_agent="Mozilla/5.0 (iPhone) Safari/604.1",
        at=at,
        origin_session="t",
    )
    assert await sqlite_repo.run(work) == {"token_version": 0}
    [record] = outbox_sqlite(sqlite_settings.sqlite_path)
    assert record.data == {
        "device": "Safari 604 on iOS",
        "ip": "10.1.2.3",
        "user_agent": "Mozilla/5.0 (iPhone) Safari/604.1",
        "at": "2026-05-06T07:08:09.000010Z",
    }
    assert (record.audience, record.origin_session) == (Users(("bob",)), "t")
    unknown = operations.sign_in("zoe", ip="", user_agent="", at=at, origin_session=None)
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(unknown)
    assert (refused.value.code, refused.value.field) == ("unknown_user", "user")


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/131.0.6778.33 Safari/537.36",
            "HeadlessChrome 131 on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit Chrome/120.0 Safari/537.36 Edg/120.0",
            "Edge 120 on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0; rv:125.0) Gecko Firefox/125.0",
            "Firefox 125 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile Safari/537.36",
            "Chrome 124 on Android",
        ),
        ("curl/8.5.0", "Unknown browser"),
    ],
)
def test_devices_are_named_after_browser_and_system(user_agent: str, device: str) -> None:
    assert describe_device(user_agent) == device


async def test_a_password_change_bumps_the_token_version(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    hashed = operations.hash_password("correct horse")
    assert hashed.startswith("scrypt$16384$8$1$") and "correct horse" not in hashed
    assert operations.hash_password("correct horse") != hashed  # salted
    result = await sqlite_repo.run(operations.change_password("alice", hashed, "tab-1"))
    assert await sqlite_repo.token_version("alice") == 1
    assert await sqlite_repo.token_version("bob") == 0
    [record] = outbox_sqlite(sqlite_settings.sqlite_path)
    assert result == {"token_version": 1, "notification_id": record.notification_id}
    assert (record.event, record.audience, record.origin_session) == (
        "password_changed",
        Users(("alice",)),
        "tab-1",
    )
    assert set(record.data) == {"message"}


@pytest.mark.parametrize("password", ["", "seven77", "x" * 129])
def test_a_weak_password_is_refused_before_anything_runs(password: str) -> None:
    with pytest.raises(DomainError) as refused:
        operations.hash_password(password)
    assert (refused.value.code, refused.value.field) == ("weak_password", "new_password")


async def test_two_factor_reaches_every_session_and_refuses_no_change(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    await sqlite_repo.run(operations.set_two_factor("carol", True))
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(operations.set_two_factor("carol", True))
    assert refused.value.code == "two_factor_unchanged"
    await sqlite_repo.run(operations.set_two_factor("carol", False))
    records = outbox_sqlite(sqlite_settings.sqlite_path)
    assert [(r.data, r.audience, r.origin_session) for r in records] == [
        ({"enabled": True}, Users(("carol",)), None),
        ({"enabled": False}, Users(("carol",)), None),
    ]


async def test_appearance_takes_a_shop_item_of_its_kind(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    await sqlite_repo.run(operations.set_appearance("dave", "avatar", "avatar-fox", "tab-9"))
    view = await sqlite_repo.view("dave")
    assert view is not None and (view.user.avatar, view.user.theme) == ("avatar-fox", None)
    [record] = outbox_sqlite(sqlite_settings.sqlite_path)
    assert record.data == {
        "app_key": "second_brain_web",
        "updated_item": "avatar",
        "new_item_id": "avatar-fox",
    }
    assert (record.audience, record.origin_session) == (Users(("dave",)), "tab-9")
    refusals = [
        (("theme", "avatar-fox"), "wrong_item_type", "item_id"),
        (("theme", "nope"), "unknown_item", "item_id"),
        (("cursor", "avatar-fox"), "invalid_appearance_item", "updated_item"),
    ]
    for (slot, item), code, field in refusals:
        with pytest.raises(DomainError) as refused:
            await sqlite_repo.run(operations.set_appearance("dave", slot, item, None))
        assert (refused.value.code, refused.value.field) == (code, field)
    assert len(outbox_sqlite(sqlite_settings.sqlite_path)) == 1

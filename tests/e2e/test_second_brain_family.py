"""The family operations on the embedded store: who may do what, what each emits to whom
(the groups resolved as the worker resolves them), and that a refusal changes nothing and
emits nothing."""

from typing import Any

import pytest

from api_hooks import Group, Users
from examples.second_brain import operations
from examples.second_brain.domain import DomainError
from examples.second_brain.ports import Repository
from examples.second_brain.resolvers import resolvers_for
from foundation.settings import Settings
from tests.e2e.conftest import Emitted, outbox_sqlite

FAMILY = "fam-lovelace"


async def _refused(repo: Repository, work: Any) -> DomainError:
    with pytest.raises(DomainError) as refused:
        await repo.run(work)
    return refused.value


def _last(settings: Settings) -> Emitted:
    return outbox_sqlite(settings.sqlite_path)[-1]


async def _resolved(settings: Settings, record: Emitted) -> list[str]:
    return sorted(await resolvers_for(settings).resolve(record.audience))


async def _family(repo: Repository, username: str = "alice") -> Any:
    view = await repo.view(username)
    assert view is not None and view.family is not None
    return view.family


async def test_a_declined_invitation_tells_the_inviter_and_the_admins(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    invited = await sqlite_repo.run(operations.invite("alice", "bob"))
    await sqlite_repo.run(operations.set_role("alice", "carol", "admin"))
    await sqlite_repo.run(operations.decline("bob", str(invited["invitation_id"])))
    record = _last(sqlite_settings)
    assert record.event == "family_invitation_responded"
    assert record.data == {
        "invitation_id": invited["invitation_id"],
        "invitee_username": "bob",
        "action": "declined",
    }
    assert record.audience == Group("invitation_admins", str(invited["invitation_id"]))
    assert await _resolved(sqlite_settings, record) == ["alice", "carol"]
    assert (await sqlite_repo.view("bob")).family is None  # type: ignore[union-attr]
    refused = await _refused(sqlite_repo, operations.accept("bob", str(invited["invitation_id"])))
    assert refused.code == "invitation_answered"


async def test_the_members_who_stay_hear_that_one_left(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    invited = await sqlite_repo.run(operations.invite("alice", "dave"))
    await sqlite_repo.run(operations.accept("dave", str(invited["invitation_id"])))
    await sqlite_repo.run(operations.leave("dave"))
    record = _last(sqlite_settings)
    assert (record.event, record.data) == (
        "family_member_left",
        {"family_id": FAMILY, "member_username": "dave"},
    )
    assert await _resolved(sqlite_settings, record) == ["alice", "carol"]
    before = len(outbox_sqlite(sqlite_settings.sqlite_path))
    assert (await _refused(sqlite_repo, operations.leave("alice"))).code == "last_admin"
    assert (await _refused(sqlite_repo, operations.leave("bob"))).code == "not_in_family"
    assert len(outbox_sqlite(sqlite_settings.sqlite_path)) == before


async def test_a_role_change_reaches_every_member_and_moves_the_admin_group(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    await sqlite_repo.run(operations.set_role("alice", "carol", "admin"))
    record = _last(sqlite_settings)
    assert (record.event, record.data) == (
        "role_changed",
        {"family_id": FAMILY, "new_role": "admin"},
    )
    assert record.audience == Group("family", FAMILY)
    admins = await resolvers_for(sqlite_settings).resolve(Group("family_admins", FAMILY))
    assert sorted(admins) == ["alice", "carol"]
    await sqlite_repo.run(operations.set_role("carol", "alice", "member"))
    admins = await resolvers_for(sqlite_settings).resolve(Group("family_admins", FAMILY))
    assert list(admins) == ["carol"]


@pytest.mark.parametrize(
    ("admin", "target", "role", "code", "field"),
    [
        ("carol", "alice", "member", "not_family_admin", None),
        ("alice", "alice", "member", "own_role", "username"),
        ("alice", "carol", "member", "role_unchanged", "role"),
        ("alice", "bob", "admin", "not_a_member", "username"),
        ("alice", "carol", "owner", "invalid_role", "role"),
    ],
)
async def test_role_changes_that_are_refused(
    sqlite_repo: Repository,
    sqlite_settings: Settings,
    admin: str,
    target: str,
    role: str,
    code: str,
    field: str | None,
) -> None:
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(operations.set_role(admin, target, role))
    assert (refused.value.code, refused.value.field) == (code, field)
    assert outbox_sqlite(sqlite_settings.sqlite_path) == []


async def test_an_approved_request_is_paid_by_the_family_account(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    created = await sqlite_repo.run(operations.request_tokens("carol", 30))
    request_id = str(created["request_id"])
    record = _last(sqlite_settings)
    assert record.data == {"request_id": request_id, "requester_username": "carol", "amount": 30}
    assert await _resolved(sqlite_settings, record) == ["alice"]
    assert [r.id for r in (await _family(sqlite_repo)).requests] == [request_id]
    assert (await _family(sqlite_repo, "carol")).requests == ()  # admins only

    await sqlite_repo.run(operations.review_request("alice", request_id, True))
    record = _last(sqlite_settings)
    assert record.data == {
        "request_id": request_id,
        "status": "approved",
        "reviewer_username": "alice",
    }
    assert record.audience == Users(("carol",))
    family = await _family(sqlite_repo)
    assert (family.account.balance, family.requests) == (170, ())
    assert (await sqlite_repo.view("carol")).user.balance == 130  # type: ignore[union-attr]
    again = await _refused(sqlite_repo, operations.review_request("alice", request_id, False))
    assert again.code == "request_reviewed"


async def test_requests_that_cannot_be_paid_or_reviewed(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    big = await sqlite_repo.run(operations.request_tokens("carol", 500))
    own = await sqlite_repo.run(operations.request_tokens("alice", 5))
    before = outbox_sqlite(sqlite_settings.sqlite_path)
    poor = await _refused(
        sqlite_repo, operations.review_request("alice", str(big["request_id"]), True)
    )
    assert poor.code == "insufficient_family_funds"
    mine = await _refused(
        sqlite_repo, operations.review_request("alice", str(own["request_id"]), True)
    )
    assert mine.code == "own_request"
    member = await _refused(
        sqlite_repo, operations.review_request("carol", str(big["request_id"]), False)
    )
    assert member.code == "not_family_admin"
    assert (
        await _refused(sqlite_repo, operations.request_tokens("bob", 5))
    ).code == "not_in_family"
    assert outbox_sqlite(sqlite_settings.sqlite_path) == before
    assert (await _family(sqlite_repo)).account.balance == 200

    await sqlite_repo.run(operations.review_request("alice", str(big["request_id"]), False))
    assert _last(sqlite_settings).data["status"] == "denied"
    assert (await _family(sqlite_repo)).account.balance == 200


async def test_a_frozen_account_pays_nothing_and_takes_no_request(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    pending = await sqlite_repo.run(operations.request_tokens("carol", 10))
    await sqlite_repo.run(operations.set_frozen("alice", True))
    record = _last(sqlite_settings)
    assert (record.event, record.data) == (
        "family_account_status_changed",
        {"family_id": FAMILY, "is_frozen": True},
    )
    assert await _resolved(sqlite_settings, record) == ["alice", "carol"]
    asked = await _refused(sqlite_repo, operations.request_tokens("carol", 10))
    assert (asked.code, asked.field) == ("account_frozen", "amount")
    paid = await _refused(
        sqlite_repo, operations.review_request("alice", str(pending["request_id"]), True)
    )
    assert paid.code == "account_frozen"
    bought = await _refused(sqlite_repo, operations.buy_for_family("carol", "avatar-fox"))
    assert (bought.code, bought.field) == ("account_frozen", "item_id")
    assert (
        await _refused(sqlite_repo, operations.set_frozen("alice", True))
    ).code == "account_unchanged"
    assert (
        await _refused(sqlite_repo, operations.set_frozen("carol", False))
    ).code == "not_family_admin"
    await sqlite_repo.run(operations.set_frozen("alice", False))
    assert _last(sqlite_settings).data == {"family_id": FAMILY, "is_frozen": False}


async def test_a_purchase_for_the_family_is_paid_by_its_account(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    result = await sqlite_repo.run(operations.buy_for_family("carol", "banner-mountains"))
    assert result["family_balance"] == 175
    record = _last(sqlite_settings)
    assert record.data == {
        "family_id": FAMILY,
        "purchaser_username": "carol",
        "item_id": "banner-mountains",
        "item_type": "banner",
        "price": 25,
    }
    assert await _resolved(sqlite_settings, record) == ["alice", "carol"]
    unknown = await _refused(sqlite_repo, operations.buy_for_family("carol", "nope"))
    assert (unknown.code, unknown.field) == ("unknown_item", "item_id")
    outsider = await _refused(sqlite_repo, operations.buy_for_family("bob", "avatar-fox"))
    assert outsider.code == "not_in_family"
    for _ in range(2):
        await sqlite_repo.run(operations.buy_for_family("carol", "bundle-starter"))
    poor = await _refused(sqlite_repo, operations.buy_for_family("carol", "bundle-starter"))
    assert (poor.code, poor.field) == ("insufficient_family_funds", "item_id")
    assert (await _family(sqlite_repo)).account.balance == 55

"""The example app's operations on MongoDB (the wire double here, a replica set where
``MONGODB_URL`` names one): one transaction across the app's collections and the outbox,
state after every operation has run, and the groups resolved from it. One operation at a
time (see tests/mongo_server.py)."""

from typing import Any

import pytest

from api_hooks import Group
from examples.second_brain import operations
from examples.second_brain.domain import DomainError
from examples.second_brain.ports import Tx
from examples.second_brain.resolvers import app_resolvers
from tests.e2e.conftest import outbox_mongo
from tests.e2e.second_brain_tour import tour
from tests.mongo_server import MongoEndpoint

pytestmark = [
    pytest.mark.mongo,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Motor, via mongoeco
]
FAMILY = "fam-lovelace"


async def test_every_operation_leaves_the_state_it_announced(mongo_repo: Any) -> None:
    await tour(mongo_repo)
    alice = await mongo_repo.view("alice")
    assert (alice.user.display_name, alice.user.two_factor, alice.user.theme) == (
        "Ada",
        True,
        "theme-aurora",
    )
    assert await mongo_repo.token_version("alice") == 1
    family = alice.family
    # 200 - 20 (dave's approved request) - 10 (the fox avatar); dave left again.
    assert (family.account.balance, family.account.is_frozen) == (170, False)
    assert [(m.username, m.role) for m in family.members] == [
        ("alice", "admin"),
        ("carol", "admin"),
    ]
    dave = await mongo_repo.view("dave")
    assert (dave.family, dave.user.balance) == (None, 120)
    bob = await mongo_repo.view("bob")
    assert (bob.family, bob.invitations, bob.user.balance) == (None, (), 110)
    assert "Comet" in [item.name for item in await mongo_repo.shop_items()]


async def test_the_groups_resolve_from_the_committed_family(mongo_repo: Any) -> None:
    invited = await mongo_repo.run(operations.invite("alice", "bob"))
    await mongo_repo.run(operations.set_role("alice", "carol", "admin"))
    resolvers = app_resolvers(mongo_repo)
    assert list(await resolvers.resolve(Group("family_admins", FAMILY))) == ["alice", "carol"]
    responders = await resolvers.resolve(Group("invitation_admins", invited["invitation_id"]))
    assert list(responders) == ["alice", "carol"]
    await mongo_repo.run(operations.set_role("carol", "alice", "member"))
    responders = await resolvers.resolve(Group("invitation_admins", invited["invitation_id"]))
    assert list(responders) == ["alice", "carol"]  # the inviter, then the admins
    assert list(await resolvers.resolve(Group("invitation_admins", "inv-none"))) == []
    assert list(await resolvers.resolve(Group("family", "fam-none"))) == []


async def test_a_refusal_rolls_back_app_writes_and_notifications_together(
    mongo_repo: Any, mongo: MongoEndpoint, mongo_database: str
) -> None:
    async def half_done(tx: Tx) -> None:
        await tx.set_frozen(FAMILY, True)
        await tx.add_to_account(FAMILY, -50)
        await tx.emit(
            "family_account_status_changed",
            {"family_id": FAMILY, "is_frozen": True},
            to=Group("family", FAMILY),
        )
        raise DomainError(409, "changed_mind", "the operation refuses after writing")

    with pytest.raises(DomainError, match="after writing"):
        await mongo_repo.run(half_done)
    family = (await mongo_repo.view("alice")).family
    assert (family.account.balance, family.account.is_frozen) == (200, False)
    assert await outbox_mongo(mongo.url, mongo_database) == []

    with pytest.raises(DomainError) as refused:
        await mongo_repo.run(operations.buy_for_family("carol", "nope"))
    assert (refused.value.code, refused.value.field) == ("unknown_item", "item_id")
    with pytest.raises(DomainError) as last:
        await mongo_repo.run(operations.leave("alice"))
    assert last.value.code == "last_admin"
    assert await outbox_mongo(mongo.url, mongo_database) == []


async def test_requests_and_purchases_move_the_family_account(
    mongo_repo: Any, mongo: MongoEndpoint, mongo_database: str
) -> None:
    created = await mongo_repo.run(operations.request_tokens("carol", 300))
    with pytest.raises(DomainError) as poor:
        await mongo_repo.run(operations.review_request("alice", created["request_id"], True))
    assert poor.value.code == "insufficient_family_funds"
    assert [r.id for r in (await mongo_repo.view("alice")).family.requests] == [
        created["request_id"]
    ]
    await mongo_repo.run(operations.review_request("alice", created["request_id"], False))
    await mongo_repo.run(operations.buy_for_family("carol", "bundle-starter"))
    family = (await mongo_repo.view("alice")).family
    assert (family.account.balance, family.requests) == (140, ())
    events = [r.event for r in await outbox_mongo(mongo.url, mongo_database)]
    assert events == ["token_request_created", "token_request_reviewed", "family_shop_purchase"]

"""A tour of every operation of the example app on the demo data, in an order where each
one is allowed, so that together they emit every event of the catalog once or more."""

from datetime import UTC, datetime
from typing import Final

from examples.second_brain import operations
from examples.second_brain.ports import Repository

TAB: Final = "tab-a"  # the acting tab's session id
USER_AGENT: Final = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


async def tour(repo: Repository) -> None:
    """Run every operation once (freezing twice: on, then off again)."""
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    run = repo.run
    await run(
        operations.sign_in("alice", ip="10.0.0.7", user_agent=USER_AGENT, at=at, origin_session=TAB)
    )
    await run(operations.transfer("alice", "bob", 10))
    declined = await run(operations.invite("alice", "bob"))
    await run(operations.decline("bob", str(declined["invitation_id"])))
    accepted = await run(operations.invite("alice", "dave"))
    await run(operations.accept("dave", str(accepted["invitation_id"])))
    await run(operations.set_role("alice", "carol", "admin"))
    request = await run(operations.request_tokens("dave", 20))
    await run(operations.review_request("carol", str(request["request_id"]), True))
    await run(operations.set_frozen("alice", True))
    await run(operations.set_frozen("alice", False))
    await run(operations.buy_for_family("dave", "avatar-fox"))
    await run(operations.leave("dave"))
    await run(operations.add_shop_item("Comet", "theme", 30))
    await run(operations.update_profile("alice", "Ada"))
    await run(operations.set_appearance("alice", "theme", "theme-aurora", TAB))
    await run(operations.set_two_factor("alice", True))
    await run(operations.change_password("alice", operations.hash_password("correct horse"), TAB))

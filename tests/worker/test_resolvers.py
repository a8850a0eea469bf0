"""Audiences become recipients: users deduplicated, groups through resolvers, errors clear."""

import pytest

from foundation.errors import ConfigurationError, UnknownGroup
from outbox.records import Everyone, Group, Users
from outbox.resolvers import Resolvers, load_resolvers
from tests import worker

NOT_RESOLVERS = {"team": "not a resolver"}


def returns_a_string() -> str:
    return "nope"


def raises() -> Resolvers:
    raise RuntimeError("boom")


async def test_users_are_deduplicated_in_first_seen_order() -> None:
    audience = Users(("bob", "alice", "bob", "carol", "alice"))
    assert await Resolvers().resolve(audience) == ("bob", "alice", "carol")


async def test_everyone_has_no_stored_recipients() -> None:
    assert await Resolvers().resolve(Everyone()) == ()


async def test_a_group_goes_through_its_kinds_resolver_deduplicated() -> None:
    asked: list[str] = []

    async def family(family_id: str) -> list[str]:
        asked.append(family_id)
        return ["dad", "kid", "dad"]

    resolvers = Resolvers()
    resolvers.register("family", family)
    assert await resolvers.resolve(Group("family", "f-7")) == ("dad", "kid")
    assert asked == ["f-7"]
    assert resolvers.kinds == {"family"}


async def test_an_unknown_group_kind_raises_unknown_group() -> None:
    with pytest.raises(UnknownGroup, match="'club'"):
        await Resolvers().resolve(Group("club", "c-1"))


async def test_a_resolver_returning_non_strings_is_refused() -> None:
    async def numbers(_: str) -> list[int]:
        return [1, 2]

    resolvers = Resolvers()
    resolvers.register("n", numbers)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await resolvers.resolve(Group("n", "x"))


async def test_resolver_errors_propagate() -> None:
    async def broken(_: str) -> list[str]:
        raise LookupError("no such family")

    resolvers = Resolvers()
    resolvers.register("family", broken)
    with pytest.raises(LookupError):
        await resolvers.resolve(Group("family", "f-1"))


def test_load_none_gives_empty_resolvers() -> None:
    assert load_resolvers(None).kinds == frozenset()


def test_load_an_instance() -> None:
    assert load_resolvers("tests.worker:resolvers") is worker.resolvers


def test_load_a_factory() -> None:
    assert load_resolvers("tests.worker:make_resolvers") is worker.resolvers


def test_load_a_dotted_attribute() -> None:
    assert load_resolvers("tests:worker.resolvers") is worker.resolvers


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.no_such_module:resolvers", "cannot import module 'tests.no_such_module'"),
        ("tests.worker:missing", "has no attribute 'missing'"),
        ("tests.worker.test_resolvers:NOT_RESOLVERS", "is a dict, not a Resolvers"),
        ("tests.worker.test_resolvers:returns_a_string", "returned str, not Resolvers"),
        ("tests.worker.test_resolvers:raises", "failed: RuntimeError"),
        ("no_colon", "expected 'module:attribute'"),
    ],
)
def test_load_failures_are_configuration_errors(path: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace(".", r"\.")):
        load_resolvers(path)

"""Every event of the host application's catalog is emitted by an operation of the example
app, with exactly the catalog's data fields, to the catalog's audience.

Two references: the example's own list (``examples/second_brain/catalog.py``), which needs
nothing beside this checkout, and the shared catalog (``../shared/spec/events.md``), read when
it is there. The operations are run for real (``second_brain_tour.py``) and what they wrote to
the outbox is compared with both.
"""

import re
from pathlib import Path
from typing import Any

import pytest

from api_hooks import Everyone, Group, Users
from examples.second_brain.catalog import EVENTS, EventSpec, check_event
from examples.second_brain.ports import Repository
from foundation.settings import Settings
from tests.e2e.conftest import Emitted, outbox_mongo, outbox_sqlite
from tests.e2e.second_brain_tour import TAB, tour
from tests.mongo_server import MongoEndpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Motor, via mongoeco

ROOT = Path(__file__).resolve().parents[2]
SHARED_CATALOG = ROOT.parent / "shared" / "spec" / "events.md"
_ROW = re.compile(r"^\|\s*(\w+)\s*\|\s*`([a-z_]+)`\s*\|([^|]+)\|([^|]+)\|\s*$")


def shared_catalog() -> dict[str, EventSpec]:
    """The events of ``events.md``'s table (route left empty: the catalog does not say how);
    skips the test when the shared folder is not beside this checkout."""
    if not SHARED_CATALOG.exists():
        pytest.skip(f"no shared catalog at {SHARED_CATALOG}")
    found: dict[str, EventSpec] = {}
    for line in SHARED_CATALOG.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            module, event, audience, fields = match.groups()
            names = tuple(re.findall(r"`([a-z_]+)`", fields))
            found[event] = EventSpec(module, audience.strip(), "user", names)
    assert found, f"no event rows found in {SHARED_CATALOG}"
    return found


def route_of(record: Emitted) -> str:
    """How a record was addressed, in the terms of ``catalog.Route``."""
    match record.audience:
        case Users(ids) if len(ids) == 1:
            return "other_sessions" if record.origin_session == TAB else "user"
        case Group(kind, _):
            return kind
        case Everyone():
            return "everyone"
    return f"unexpected audience {record.audience!r}"


def by_event(records: list[Emitted]) -> dict[str, list[Emitted]]:
    grouped: dict[str, list[Emitted]] = {}
    for record in records:
        grouped.setdefault(record.event, []).append(record)
    return grouped


def assert_emitted_as(catalog: dict[str, Any], records: list[Emitted], *, routes: bool) -> None:
    """Each event of ``catalog`` was emitted, every time with exactly its fields (and, with
    ``routes``, to its route)."""
    emitted = by_event(records)
    assert sorted(set(catalog) - set(emitted)) == [], "events of the catalog never emitted"
    assert sorted(set(emitted) - set(catalog)) == [], "events emitted outside the catalog"
    for event, spec in catalog.items():
        for record in emitted[event]:
            assert sorted(record.data) == sorted(spec.fields), event
            if routes:
                assert route_of(record) == spec.route, event


async def test_sqlite_operations_emit_every_event_of_the_example_catalog(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    await tour(sqlite_repo)
    assert_emitted_as(dict(EVENTS), outbox_sqlite(sqlite_settings.sqlite_path), routes=True)


async def test_sqlite_operations_emit_every_event_of_the_shared_catalog(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    shared = shared_catalog()
    await tour(sqlite_repo)
    assert_emitted_as(shared, outbox_sqlite(sqlite_settings.sqlite_path), routes=False)


def test_the_example_catalog_is_the_shared_one() -> None:
    shared = shared_catalog()
    assert sorted(shared) == sorted(EVENTS)
    for event, spec in shared.items():
        ours = EVENTS[event]
        assert (ours.module, ours.audience, ours.fields) == (
            spec.module,
            spec.audience,
            spec.fields,
        ), event


def test_an_emit_outside_the_catalog_is_refused() -> None:
    check_event("sbd_tokens_sent", {"to_username": "b", "amount": 1, "new_balance": 2})
    with pytest.raises(ValueError, match="not an event"):
        check_event("tokens_sent", {})
    with pytest.raises(ValueError, match="exactly"):
        check_event("sbd_tokens_sent", {"to_username": "b", "amount": 1})
    with pytest.raises(ValueError, match="exactly"):
        check_event("two_factor_changed", {"enabled": True, "user": "alice"})


@pytest.mark.mongo
async def test_mongo_operations_emit_every_event_of_the_example_catalog(
    mongo_repo: Any, mongo: MongoEndpoint, mongo_database: str
) -> None:
    await tour(mongo_repo)
    records = await outbox_mongo(mongo.url, mongo_database)
    assert_emitted_as(dict(EVENTS), records, routes=True)

"""The live hub hands each batch to the listeners of its users, then lets them write."""

from collections.abc import Sequence
from datetime import UTC, datetime

from broker import MemoryBroker
from delivery.auth import Principal
from delivery.hub import LiveHub
from outbox.live_wire import encode_live_batch
from outbox.records import InboxEntry, Notification


class Listener:
    def __init__(self, hub: LiveHub, user_id: str, log: list[str]) -> None:
        self.hub = hub
        self.user_id = user_id
        self.principal = Principal(user_id, 0.0, {})
        self.log = log

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        seqs = ",".join(str(entry.seq) for entry in entries)
        self.log.append(f"{self.user_id} got {seqs}")
        assert self.hub.after_dispatch(lambda: self.log.append(f"{self.user_id} writes"))

    def on_broadcast(self, notification: Notification) -> None:
        self.log.append(f"{self.user_id} got a broadcast")

    def on_resync(self) -> None: ...

    def shut_down(self) -> None: ...

    def on_revoked(self) -> None: ...


def batch(*entries: tuple[str, int]) -> bytes:
    now = datetime.now(UTC)
    note = Notification("n1", "test.note", {}, now)
    return encode_live_batch([InboxEntry(user, seq, note, now) for user, seq in entries], [note])


def test_listeners_write_once_every_listener_has_its_part() -> None:
    hub = LiveHub(MemoryBroker())
    log: list[str] = []
    for user in ("alice", "bob"):
        hub.add(Listener(hub, user, log))
    hub.dispatch(batch(("alice", 1), ("bob", 4), ("alice", 2), ("carol", 9)))
    assert log[:2] == ["alice got 1,2", "bob got 4"]  # each user's entries together
    assert sorted(log[2:4]) == ["alice got a broadcast", "bob got a broadcast"]
    assert log[4:] == ["alice writes", "bob writes"]
    assert not hub.after_dispatch(lambda: None)  # outside a dispatch: nothing is held


def test_a_malformed_message_dispatches_nothing() -> None:
    hub = LiveHub(MemoryBroker())
    log: list[str] = []
    hub.add(Listener(hub, "alice", log))
    hub.dispatch(b'{"v": 1, "n": [], "e": [["alice"]], "b": []}')
    assert log == []
    assert not hub.after_dispatch(lambda: None)

"""What a protocol v2 device shows, built only from stream entries: the test model of a client.

Tests feed it what a device receives (stream entries from the store, or v2 frames) and
compare what it shows with the store, so "every device converges by resuming" is checked
against an independent reading of the frames.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from outbox.stream import ChangeOp, Counts, ItemState, StreamChange, StreamItem

_SETS = {
    ChangeOp.READ: ("read", True),
    ChangeOp.UNREAD: ("read", False),
    ChangeOp.ARCHIVE: ("archived", True),
    ChangeOp.UNARCHIVE: ("archived", False),
    ChangeOp.RETRACT: ("retracted", True),
}


@dataclass
class DeviceView:
    """The notifications a device holds (by seq, with their state), its position and counts.

    ``strict`` makes :meth:`apply` insist that positions follow each other with no gap.
    """

    strict: bool = True
    position: int = 0
    items: dict[int, ItemState] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)

    def apply(self, item: StreamItem) -> None:
        if self.strict:
            assert item.pos == self.position + 1, f"gap: at {self.position}, got {item.pos}"
        assert item.pos > self.position, f"{item.pos} again (at {self.position})"
        self.position = item.pos
        self.counts = item.counts
        if isinstance(item, StreamChange):
            self._change(item.op, item.seqs, item.upto)
            return
        self.items[item.entry.seq] = ItemState()
        if item.replaces is not None and item.replaces in self.items:
            self.items[item.replaces] = replace(self.items[item.replaces], retracted=True)

    def apply_frame(self, frame: dict[str, Any]) -> None:
        """Apply a v2 ``notification`` or ``state`` frame (as decoded JSON)."""
        if self.strict:
            assert frame["pos"] == self.position + 1, f"gap: at {self.position}, got {frame}"
        assert frame["pos"] > self.position
        self.position = frame["pos"]
        self.counts = Counts(**frame["counts"])
        if frame["type"] == "state":
            self._change(ChangeOp(frame["op"]), tuple(frame["seqs"]), frame["upto"])
            return
        assert frame["type"] == "notification", frame
        self.items[frame["seq"]] = ItemState()
        replaced = frame["replaces"]
        if replaced is not None and replaced in self.items:
            self.items[replaced] = replace(self.items[replaced], retracted=True)

    def _change(self, op: ChangeOp, seqs: tuple[int, ...], upto: int | None) -> None:
        if op is ChangeOp.TRIM:
            for seq in seqs:
                self.items.pop(seq, None)
            return
        attribute, value = _SETS[op]
        named = set(seqs)
        for seq, state in self.items.items():
            if seq in named or (upto is not None and seq <= upto and not state.retracted):
                self.items[seq] = replace(state, **{attribute: value})

    def counted(self) -> Counts:
        """The counts recomputed from the items the device holds."""
        live = [state for state in self.items.values() if not state.retracted]
        return Counts(
            sum(not state.read for state in live), sum(not state.archived for state in live)
        )

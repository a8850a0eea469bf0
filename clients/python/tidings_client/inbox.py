"""Protocol v2: what a device shows, built only from the stream (pure, no I/O).

The welcome gives the counts at the server's head; each stream entry is applied in order: a
notification is held unread and unarchived (and retracts what it ``replaces``), a change sets
its state on the seqs it names and, with ``upto``, on every held seq up to it that is not
retracted; ``trim`` drops seqs. The counts of an entry above the welcome's head replace the
welcome's (entries at or below it are history the welcome's counts already include).
Changes are set operations, so applying one twice is the same as once.
"""

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from .frames import Welcome
from .models import Counts, ItemState, StateChange, StreamEntry

_SETS: Final = {
    "read": ("read", True),
    "unread": ("read", False),
    "archive": ("archived", True),
    "unarchive": ("archived", False),
    "retract": ("retracted", True),
}


class InboxState:
    """The held notifications' state by seq, and the user's counts."""

    def __init__(self) -> None:
        self._held: dict[int, ItemState] = {}
        self._counts: Counts | None = None
        self._welcome_head = 0
        self._seq_head = 0

    @property
    def counts(self) -> Counts | None:
        """The counts, or None before the first welcome."""
        return self._counts

    @property
    def seq_head(self) -> int:
        """The highest seq known (held, or the server's head at the welcome)."""
        return self._seq_head

    def state(self, seq: int) -> ItemState | None:
        """The state of notification ``seq``, or None when it is not held."""
        return self._held.get(seq)

    def items(self) -> Mapping[int, ItemState]:
        """Every held notification's state, by seq (a copy)."""
        return dict(self._held)

    def welcome(self, welcome: Welcome) -> None:
        """A welcome: its counts are those at its head."""
        self._welcome_head = welcome.head
        self._seq_head = max(self._seq_head, welcome.seq_head or 0)
        if welcome.counts is not None:
            self._counts = welcome.counts

    def reset(self) -> None:
        """History is gone (``recovered: false``): forget what is held."""
        self._held.clear()

    def apply(self, entry: StreamEntry) -> bool:
        """Apply one entry, in stream order. Returns True when the counts changed."""
        if entry.notification is not None:
            note = entry.notification
            self._held[note.seq] = ItemState()
            self._seq_head = max(self._seq_head, note.seq)
            if note.replaces is not None:
                self._set(note.replaces, "retracted", True)
            return self._take(entry.pos, note.counts)
        if entry.change is not None:
            self._change(entry.change)
            return self._take(entry.pos, entry.change.counts)
        return False

    def _change(self, change: StateChange) -> None:
        if change.op == "trim":
            for seq in change.seqs:
                self._held.pop(seq, None)
            return
        attribute, value = _SETS[change.op]
        for seq in change.seqs:
            self._set(seq, attribute, value)
        if change.upto is not None:
            for seq, state in list(self._held.items()):
                if seq <= change.upto and not state.retracted:
                    self._set(seq, attribute, value)

    def _set(self, seq: int, attribute: str, value: bool) -> None:
        state = self._held.get(seq)
        if state is not None and getattr(state, attribute) != value:
            self._held[seq] = replace(state, **{attribute: value})

    def _take(self, pos: int, counts: Counts | None) -> bool:
        if pos <= self._welcome_head or counts is None:
            return False
        changed = counts != self._counts
        self._counts = counts
        return changed

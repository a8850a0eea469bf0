"""Dedup and gap detection over one user's seq stream. Pure.

The position is the highest seq processed (None before the first welcome). A seq at or below
it is a duplicate and is never delivered again; the next seq is ``position + 1``; anything
higher is a gap that must be filled first, so the application sees a contiguous stream.
"""

from typing import Literal

Verdict = Literal["duplicate", "next", "gap"]


class Sequencer:
    def __init__(self, position: int | None = None) -> None:
        self._position = position

    @property
    def position(self) -> int | None:
        """The highest seq processed, or None when unknown."""
        return self._position

    def verdict(self, seq: int) -> Verdict:
        """Classify ``seq``; raises ``RuntimeError`` when the position is unknown."""
        if self._position is None:
            raise RuntimeError("the stream position is unknown before the welcome")
        if seq <= self._position:
            return "duplicate"
        return "next" if seq == self._position + 1 else "gap"

    def advance(self, seq: int) -> None:
        """Record ``seq`` as processed; never moves backwards."""
        if self._position is None or seq > self._position:
            self._position = seq

    def reset(self, position: int | None) -> None:
        """Set the position, also backwards (the server's history restarted) or to unknown."""
        self._position = position

"""Filling a gap in the live stream from ``GET /notifications?since=&limit=`` (protocol v2:
``GET /stream``, by position).

No I/O of its own: the page reader and the delivery step are passed in, so the logic is
tested with plain functions and used by the client with REST and its handlers.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .sequencer import Sequencer


@dataclass(frozen=True, slots=True)
class Page:
    """One REST page, as ``GET /notifications`` returns it (items in seq order), or
    ``GET /stream`` (stream entries in position order)."""

    items: Sequence[Any]
    head: int
    has_more: bool
    recovered: bool


@dataclass(frozen=True, slots=True)
class FillOutcome:
    """``filled``: every seq up to the target was delivered; ``gone``: the server holds
    nothing more before the target (those seqs no longer exist); ``trimmed``: the server
    cannot continue from the position (``recovered: false``), the caller resyncs from ``head``.
    """

    kind: Literal["filled", "gone", "trimmed"]
    head: int | None = None


PageReader = Callable[[int, int], Awaitable[Page]]


def _seq_of(item: Any) -> int:
    seq: int = item.seq
    return seq


async def fill_gap(
    sequencer: Sequencer,
    target: int,
    read: PageReader,
    deliver: Callable[[Any], Awaitable[None]],
    page_limit: int = 100,
    position_of: Callable[[Any], int] = _seq_of,
) -> FillOutcome:
    """Deliver every seq after ``sequencer.position`` up to ``target``, in order, each once.

    Reads pages of at most ``page_limit`` items from the position; ``deliver`` must advance
    the sequencer. Items at or below the position are skipped, so pages may overlap what was
    delivered. Raises whatever ``read`` or ``deliver`` raises, leaving the position at the last
    delivered seq; raises ``RuntimeError`` when the position is unknown. ``position_of`` says
    where an item is (default: its ``seq``).
    """
    while True:
        position = sequencer.position
        if position is None:
            raise RuntimeError("fill_gap needs a known position")
        if position >= target:
            return FillOutcome("filled")
        page = await read(position, max(1, min(page_limit, target - position)))
        if not page.recovered:
            return FillOutcome("trimmed", page.head)
        fresh = [item for item in page.items if position_of(item) > position]
        if not fresh:
            return FillOutcome("gone")
        for item in fresh:
            await deliver(item)

"""Written-to-acknowledged latency: when each live frame of a connection was written, until
a cumulative ack covers it."""

import time
from collections import deque

from foundation.histograms import LoopHistogram


class UnackedFrames:
    """The live frames a connection wrote that its client has not acknowledged yet.

    Kept as runs of consecutive seqs written together, ``(first, last, written)`` on the
    monotonic clock: tuples, which the garbage collector stops tracking, so a client that
    never acks costs no collector time. At most ``limit`` frames are remembered; past that
    the oldest are forgotten (and never observed).
    """

    __slots__ = ("_count", "_limit", "_runs")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._runs: deque[tuple[int, int, float]] | None = None
        self._count = 0

    def written(self, seqs: list[int]) -> None:
        """Remember ``seqs`` (ascending), written just now."""
        runs = self._runs
        if runs is None:
            runs = self._runs = deque()
        now = time.monotonic()
        for seq in seqs:
            if runs:
                first, last, at = runs[-1]
                if at == now and last == seq - 1:
                    runs[-1] = (first, seq, now)
                    continue
            runs.append((seq, seq, now))
        self._count += len(seqs)
        excess = self._count - self._limit
        while excess > 0:  # a client that never acks: forget the oldest
            first, last, at = runs[0]
            dropped = min(excess, last - first + 1)
            if dropped == last - first + 1:
                runs.popleft()
            else:
                runs[0] = (first + dropped, last, at)
            excess -= dropped
            self._count -= dropped

    def acked(self, seq: int, histogram: LoopHistogram) -> None:
        """Observe in ``histogram`` the time since each remembered frame up to ``seq`` was
        written, and forget them."""
        runs = self._runs
        if not runs:
            return
        now = time.monotonic()
        while runs and runs[0][0] <= seq:
            first, last, written = runs[0]
            covered = min(last, seq) - first + 1
            histogram.observe_many(now - written, covered)
            self._count -= covered
            if last <= seq:
                runs.popleft()
            else:
                runs[0] = (seq + 1, last, written)

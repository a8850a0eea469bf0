"""Written-to-acknowledged latency: each frame observed once, by the ack that covers it."""

from delivery.unacked import UnackedFrames
from foundation.histograms import LoopHistogram


def counts() -> LoopHistogram:
    return LoopHistogram("t_seconds", "t", (1.0,))


def observed(histogram: LoopHistogram) -> int:
    [family] = histogram.collect()
    return int(next(s.value for s in family.samples if s.name == "t_seconds_count"))


def test_each_frame_is_observed_once_by_the_ack_that_covers_it() -> None:
    frames, histogram = UnackedFrames(limit=100), counts()
    frames.written([1, 2, 3])
    frames.written([4])
    frames.written([6, 7])  # 5 was not live (a gap filled by a read is, a replay is not)
    frames.acked(2, histogram)
    assert observed(histogram) == 2
    frames.acked(2, histogram)  # nothing new
    assert observed(histogram) == 2
    frames.acked(6, histogram)
    assert observed(histogram) == 5  # 3, 4 and 6
    frames.acked(100, histogram)
    assert observed(histogram) == 6  # 7


def test_a_client_that_never_acks_is_remembered_up_to_the_limit() -> None:
    frames, histogram = UnackedFrames(limit=3), counts()
    for seq in range(1, 11):
        frames.written([seq])
    frames.written([11, 12])
    frames.acked(12, histogram)
    assert observed(histogram) == 3  # 10, 11 and 12: the oldest were forgotten

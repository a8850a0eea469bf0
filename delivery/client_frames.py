"""Judging what a client sends: its rate, size, shape and how many bad frames. Pure.

:class:`ClientFrames` turns each client text frame into the action the session returns for
it: a store ack, a refresh verification, an ``error`` frame, or a close.
"""

import math
from collections.abc import Callable

from delivery.actions import (
    CLOSE_BAD_QUERY,
    CLOSE_FRAME_TOO_BIG,
    CLOSE_TOO_MANY,
    Action,
    ApplyMark,
    Close,
    Send,
    StoreAck,
    StoreStreamAck,
    VerifyRefresh,
)
from delivery.frames import Ack, BadFrame, FrameTooBig, Refresh, encode_error, parse_client_frame
from delivery.frames_v2 import MarkFrame, StreamAck
from delivery.limits import SessionLimits

# Parses one client text frame under a byte limit (protocol v1's, or v2's).
FrameParser = Callable[[str, int], Ack | Refresh | StreamAck | MarkFrame]


class FrameRate:
    """Detects a client frame rate over ``per_second`` sustained for ``seconds`` seconds.

    Time is cut into one-second windows starting at the first frame. A window is over the
    limit once it holds more than ``per_second`` frames. :meth:`exceeded` is true for the frame
    that puts a window over the limit (and every later frame of that window) when the
    ``seconds - 1`` windows right before it were all over the limit too. A window with no
    frame at all ends the streak.
    """

    def __init__(self, per_second: int, seconds: int) -> None:
        self._per_second = per_second
        self._seconds = seconds
        self._origin: float | None = None
        self._window = 0
        self._count = 0
        self._streak = 0  # consecutive windows over the limit, ending just before this one

    def exceeded(self, now: float) -> bool:
        """Count one frame received at ``now``; true when the sustained rate is exceeded."""
        if self._origin is None:
            self._origin = now
        # ``max`` keeps a clock that steps back inside the current window.
        window = max(self._window, math.floor(now - self._origin))
        if window != self._window:
            over = window == self._window + 1 and self._count > self._per_second
            self._streak = self._streak + 1 if over else 0
            self._window, self._count = window, 0
        self._count += 1
        return self._count > self._per_second and self._streak + 1 >= self._seconds


class ClientFrames:
    """Judges one connection's client text frames against its :class:`SessionLimits`.

    Each bad frame gets an ``error`` frame; bad frame number ``max_bad_frames + 1`` closes
    with 4400. A frame over ``max_frame_bytes`` closes with 1009, a sustained rate over the
    limit (see :class:`FrameRate`) with 4429. ``parse`` is the protocol version's parser.
    """

    def __init__(self, limits: SessionLimits, parse: FrameParser = parse_client_frame) -> None:
        self._parse = parse
        self._rate = FrameRate(limits.rate_limit_per_second, limits.rate_limit_seconds)
        self._max_frame_bytes = limits.max_frame_bytes
        self._max_bad_frames = limits.max_bad_frames
        self._bad_frames = 0

    def judge(self, text: str, now: float) -> Action | list[Action]:
        """The action for ``text`` received at ``now``: a :class:`StoreAck`, a
        :class:`VerifyRefresh` or a :class:`Close`, or the actions for a bad frame (its
        ``error`` frame, then a :class:`Close` once there were too many)."""
        if self._rate.exceeded(now):
            return Close(CLOSE_TOO_MANY, "too many frames")
        try:
            frame = self._parse(text, self._max_frame_bytes)
        except FrameTooBig:
            return Close(CLOSE_FRAME_TOO_BIG, "frame too big")
        except BadFrame as bad:
            return self._bad_frame(bad)
        match frame:
            case Ack(seq):
                return StoreAck(seq)
            case Refresh(token):
                return VerifyRefresh(token)
            case StreamAck(pos):
                return StoreStreamAck(pos)
            case MarkFrame(mark):
                return ApplyMark(mark)

    def _bad_frame(self, bad: BadFrame) -> list[Action]:
        self._bad_frames += 1
        actions: list[Action] = [Send(encode_error(bad.code, bad.message))]
        if self._bad_frames > self._max_bad_frames:
            actions.append(Close(CLOSE_BAD_QUERY, "too many bad frames"))
        return actions

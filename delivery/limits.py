"""The limits of one delivery session, from the settings (see ``DeliverySession``)."""

from dataclasses import dataclass
from typing import Final, Self

from foundation.settings import Settings


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """How much a session reads, holds and accepts.

    ``page_size`` entries per store read; at most ``live_buffer_limit`` live entries (and
    broadcasts) held while a read is outstanding; client frames of at most ``max_frame_bytes``;
    ``max_bad_frames`` bad frames answered before closing with 4400; more than
    ``rate_limit_per_second`` client frames a second for ``rate_limit_seconds`` seconds in a
    row closes with 4429.
    """

    page_size: int = 500
    live_buffer_limit: int = 1000
    max_frame_bytes: int = 64 * 1024
    max_bad_frames: int = 50
    rate_limit_per_second: int = 100
    rate_limit_seconds: int = 2

    def __post_init__(self) -> None:
        if self.page_size < 1 or self.live_buffer_limit < 1 or self.rate_limit_seconds < 1:
            raise ValueError("page_size, live_buffer_limit and rate_limit_seconds must be >= 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The limits ``settings`` configure (the rest keep their defaults)."""
        return cls(
            page_size=settings.replay_page_size,
            live_buffer_limit=settings.send_queue_size,
            max_frame_bytes=settings.max_frame_bytes,
        )


DEFAULT_LIMITS: Final = SessionLimits()

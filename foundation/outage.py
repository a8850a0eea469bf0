"""Dependencies that come and go: one warning per outage, one line on recovery.

Every process that retries a dependency (the worker's store, Redis subscriptions and arq
loop; a delivery node's live subscription; a process waiting for its store at start) keeps
one :class:`Outage` per dependency, so an outage of an hour is two log lines, not thousands.
"""

import logging

log = logging.getLogger(__name__)

# 2**32 times any base is far beyond any cap; clamping the exponent keeps the float finite.
_MAX_EXPONENT = 32


def describe(error: BaseException) -> str:
    """``Type: message`` of ``error`` (its type alone when the message is empty)."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Outage:
    """Logs a dependency's failures once per outage, and its recovery once.

    :meth:`failed` after each failed try returns the backoff before the next one
    (``base_seconds`` doubling up to ``max_seconds``); :meth:`recovered` after a success
    ends the outage, so the next failure starts a new one with a new warning.
    """

    def __init__(
        self,
        what: str,
        *,
        logger: logging.Logger | None = None,
        base_seconds: float = 0.1,
        max_seconds: float = 5.0,
    ) -> None:
        self.what = what
        self.failures = 0
        self._log = logger or log
        self._base_seconds = base_seconds
        self._max_seconds = max_seconds

    def failed(self, error: BaseException) -> float:
        """Record a failure; return how long to wait before the next try."""
        if self.failures == 0:
            self._log.warning("%s unavailable (%s); retrying", self.what, describe(error))
        else:
            self._log.debug("%s still unavailable (%s)", self.what, describe(error))
        self.failures += 1
        exponent = min(self.failures - 1, _MAX_EXPONENT)
        return float(min(self._max_seconds, self._base_seconds * 2.0**exponent))

    def recovered(self) -> None:
        """Note a success: logs the recovery once when an outage was going on."""
        if self.failures:
            self._log.info("%s available again after %d failed tries", self.what, self.failures)
            self.failures = 0

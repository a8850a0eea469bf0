"""One root exception; adapters translate driver errors into these at their edge.

HTTP status codes and WebSocket close codes exist only in ``delivery/``.
"""


class TidingsError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigurationError(TidingsError):
    """Settings or environment are unusable; raised at startup."""


class EmitRefused(TidingsError):
    """An emit was refused before anything was written.

    ``code`` is a stable snake_case identifier, ``str(error)`` a human message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NotInTransaction(EmitRefused):
    """The caller's session or connection has no open transaction."""

    def __init__(self, message: str = "emit needs a session inside an open transaction") -> None:
        super().__init__("not_in_transaction", message)


class StoreError(TidingsError):
    """The store failed an operation; the operation may be retried."""


class StoreUnavailable(StoreError):
    """The store could not be reached."""


class TicketStoreUnavailable(StoreUnavailable):
    """Redis, which keeps the WebSocket tickets, failed or could not be reached.

    A ``StoreUnavailable`` so that code refusing a connection on any store failure keeps
    doing so, but answered with a code of its own: the outbox store may be fine.
    """


class LeaseLost(StoreError):
    """The routing lease is held by another worker; nothing of the batch was written."""


class SignalUnavailable(TidingsError):
    """Redis did not carry a signal (a wake-up, a revocation); the store is unaffected."""


class UnknownGroup(TidingsError):
    """No resolver is registered for a group kind."""

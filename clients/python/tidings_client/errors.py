"""The one exception type of the client, reported through ``on_error`` and raised by REST."""


class TidingsClientError(Exception):
    """A failure with a stable snake_case ``code``.

    ``code`` is the server's own for ``error`` frames and REST errors (``ack_stale``,
    ``token_expired``, ``token_revoked``, ...) or one of the client's: ``auth_failed`` (a
    credentials callback raised), ``ticket_failed``, ``connect_failed``, ``closed`` (the server
    closed the socket; see ``close_code``), ``gap_fill_failed``, ``handler_failed`` (an
    application handler raised), ``store_failed``. ``fatal`` is true when the client stopped
    because of it; ``status`` is the HTTP status of a REST failure.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fatal: bool = False,
        close_code: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal
        self.close_code = close_code
        self.status = status

    def __repr__(self) -> str:
        return f"TidingsClientError({self.code!r}, {self.message!r}, fatal={self.fatal})"

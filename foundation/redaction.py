"""Keep tokens and tickets out of every log line the service writes.

uvicorn logs each request line, query string included, and browsers can only send a JWT
to ``/ws`` in the query string; :class:`RedactingFilter` masks such credentials before any
handler formats the record. Every command's logging configuration
(``foundation.logs.logging_config``, also given to uvicorn) puts it on its handler, and
:func:`install_log_redaction` adds it to the server loggers themselves.
"""

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

REDACTED: Final = "[redacted]"
SECRET_PARAMETERS: Final = ("access_token", "token", "ticket")
LOGGER_NAMES: Final = (
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "websockets",
    "websockets.server",
    "websockets.client",
)
# uvicorn's access records: its AccessFormatter reads these five arguments by position.
_ACCESS_FORMAT: Final = '%s - "%s %s HTTP/%s" %d'


def _percent_encodable(name: str) -> str:
    """A pattern matching ``name`` with any of its characters written as ``%XX``.

    Starlette percent-decodes parameter names, so ``?tok%65n=...`` is a token too.
    """
    return "".join(f"(?:{re.escape(char)}|%{ord(char):02x})" for char in name)


_NAMES: Final = "|".join(_percent_encodable(name) for name in SECRET_PARAMETERS)
# A parameter starts the text or follows a separator, possibly itself percent-encoded when a
# URL sits inside another URL's query; the value runs to the next separator.
_QUERY_PARAMETER: Final = re.compile(
    rf"(^|[?&;\s\"'(\[{{,]|%3f|%26|%3b)((?:{_NAMES})(?:=|%3d))(?:(?!%26)[^&\s\"'#<>])*",
    re.IGNORECASE,
)
# The same names as keys of a JSON object or a Python dict repr, e.g. a logged client frame.
_MAPPING_ENTRY: Final = re.compile(
    rf"([\"'](?:{'|'.join(SECRET_PARAMETERS)})[\"']\s*:\s*[\"'])[^\"']*", re.IGNORECASE
)
_BEARER: Final = re.compile(r"\b(bearer)(\s+|%20|\+)[^\s\"',;&]+", re.IGNORECASE)
# A bare JWT anywhere (its header always starts with '{"', base64url "eyJ").
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Return ``text`` with token and ticket values, Bearer credentials and JWTs masked.

    Idempotent; everything else, including other query parameters, is left intact.
    """
    text = _QUERY_PARAMETER.sub(rf"\1\2{REDACTED}", text)
    text = _MAPPING_ENTRY.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def _redact_value(value: Any) -> Any:
    """Strings redacted; other objects replaced by their redacted ``str`` only if it differs.

    Numbers keep their type so ``%d`` placeholders (uvicorn's status code) still format.
    """
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    try:
        text = str(value)
    except Exception:
        # A filter must never make logging raise at the call site; logging reports it later.
        return value
    redacted = redact(text)
    return value if redacted == text else redacted


def _redact_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(_redact_value(arg) for arg in args)
    if isinstance(args, Mapping):
        return {key: _redact_value(arg) for key, arg in args.items()}
    return args


def _merge_arguments(record: logging.LogRecord) -> None:
    """Format the message now and redact the whole line.

    Redacting the format string on its own would turn ``"ticket=%s"`` into
    ``"ticket=[redacted]"`` and leave an argument without a placeholder.
    """
    try:
        message = record.getMessage()
    except Exception:
        # Logging reports a bad format itself; make sure its report carries no secret.
        record.args = _redact_args(record.args)
        return
    record.msg = redact(message)
    record.args = None


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments, traceback and stack; never drops a record.

    uvicorn's access records keep their arguments, in position and number, because its access
    formatter needs them; other records are formatted and then redacted as a whole.
    A traceback is rendered here with the standard formatting and cached in ``exc_text``,
    which :class:`logging.Formatter` then uses instead of rendering its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and record.msg != _ACCESS_FORMAT:
            _merge_arguments(record)
        elif record.args:
            record.args = _redact_args(record.args)
        else:
            record.msg = _redact_value(record.msg)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _attach(target: logging.Filterer, redacting_filter: RedactingFilter) -> None:
    if not any(isinstance(existing, RedactingFilter) for existing in target.filters):
        target.addFilter(redacting_filter)


def _targets() -> Iterable[logging.Filterer]:
    """The named loggers, their handlers and the root handlers.

    Logger filters see only records logged on that very logger, not those propagated from
    children, so handlers are filtered too.
    """
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        yield logger
        yield from logger.handlers
    yield from logging.getLogger().handlers


def install_log_redaction() -> None:
    """Attach a :class:`RedactingFilter` to the server loggers and handlers, once each.

    Call it after logging is configured: handlers created later (a new ``dictConfig``) are
    not covered; ``foundation.logs.logging_config`` filters its own handler.
    """
    redacting_filter = RedactingFilter()
    for target in _targets():
        _attach(target, redacting_filter)

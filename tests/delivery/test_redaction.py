"""No token or ticket reaches a log line, uvicorn's access log included."""

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.datastructures import URL
from uvicorn.logging import AccessFormatter

from foundation.redaction import (
    LOGGER_NAMES,
    RedactingFilter,
    install_log_redaction,
    redact,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'


def capture(logger_name: str, *, redacting: bool) -> tuple[logging.Logger, io.StringIO]:
    """A logger writing through uvicorn's access formatter into a string."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    if redacting:
        handler.addFilter(RedactingFilter())
    logger = logging.getLogger(logger_name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, output


@pytest.mark.parametrize(
    ("path", "secret", "kept"),
    [
        ("/ws?token=abc.def.ghi&since=3", "abc.def.ghi", "since=3"),
        ("/ws?since=1&ticket=XYZ", "XYZ", "since=1"),
        (f"/ws?device=phone&token={JWT}", JWT, "device=phone"),
    ],
)
def test_access_log_line_is_redacted(path: str, secret: str, kept: str) -> None:
    logger, output = capture("tests.delivery.access.redacted", redacting=True)

    logger.info(ACCESS_FORMAT, "127.0.0.1:50000", "GET", path, "1.1", 101)

    line = output.getvalue()
    assert secret not in line
    assert "=[redacted]" in line
    assert kept in line
    assert line.startswith('127.0.0.1:50000 - "GET /ws?')
    assert " 101" in line


def test_access_log_line_without_filter_shows_the_token() -> None:
    """The capture above is real: without the filter the token is written."""
    logger, output = capture("tests.delivery.access.plain", redacting=False)

    logger.info(ACCESS_FORMAT, "127.0.0.1:50000", "GET", "/ws?token=abc.def.ghi", "1.1", 101)

    assert "abc.def.ghi" in output.getvalue()


def test_message_objects_and_tracebacks_are_redacted() -> None:
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.delivery.errors")
    logger.handlers = [handler]
    logger.propagate = False

    logger.warning("Bearer %s rejected", "sekrit-1")
    logger.warning("connection %s", URL("ws://h/ws?ticket=sekrit-2&since=4"))
    logger.warning("frame %(frame)s", {"frame": '{"type":"refresh","token":"sekrit-3"}'})
    try:
        raise ValueError(f"bad /ws?token={JWT}")
    except ValueError:
        logger.exception("failed")

    text = output.getvalue()
    for secret in ("sekrit-1", "sekrit-2", "sekrit-3", JWT):
        assert secret not in text
    assert "since=4" in text
    assert "ValueError: bad /ws?token=[redacted]" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ws?token=abc&since=3", "/ws?token=[redacted]&since=3"),
        ("token=abc", "token=[redacted]"),
        ("/ws?since=1&ticket=XYZ&device=d", "/ws?since=1&ticket=[redacted]&device=d"),
        ("/ws?access_token=a%2Eb.c", "/ws?access_token=[redacted]"),
        ("/ws?tok%65n=abc&since=2", "/ws?tok%65n=[redacted]&since=2"),
        ("/ws?TOKEN=abc", "/ws?TOKEN=[redacted]"),
        (
            "/login?next=%2Fws%3Ftoken%3Dabc%26since%3D2",
            "/login?next=%2Fws%3Ftoken%3D[redacted]%26since%3D2",
        ),
        ("/ws?mytoken=keep&tokens=keep&since=1", "/ws?mytoken=keep&tokens=keep&since=1"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ("{'authorization': 'bearer abc'}", "{'authorization': 'bearer [redacted]'}"),
        ('{"type":"refresh","token":"abc"}', '{"type":"refresh","token":"[redacted]"}'),
        (f"user sent {JWT} twice", "user sent [redacted] twice"),
        ("GET /notifications?since=5&limit=10", "GET /notifications?since=5&limit=10"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


def test_filter_keeps_every_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %d", ("a", 1), None)

    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "a 1"


@pytest.fixture
def restored_logging() -> Iterator[logging.Handler]:
    """Leave every logger's filters as found; give the root logger one extra handler."""
    loggers = [logging.getLogger(name) for name in LOGGER_NAMES]
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    targets = [*loggers, *(h for logger in loggers for h in logger.handlers), *root.handlers]
    saved = [(target, list(target.filters)) for target in targets]
    yield handler
    root.removeHandler(handler)
    for target, filters in saved:
        target.filters = filters


def test_install_log_redaction_is_idempotent(restored_logging: logging.Handler) -> None:
    install_log_redaction()
    install_log_redaction()

    targets = [logging.getLogger(name) for name in LOGGER_NAMES]
    for target in [*targets, restored_logging]:
        assert sum(isinstance(f, RedactingFilter) for f in target.filters) == 1


def test_install_log_redaction_covers_root_handlers(restored_logging: logging.Handler) -> None:
    install_log_redaction()
    stream = restored_logging.stream  # type: ignore[attr-defined]

    logging.getLogger("websockets.server").error("opening /ws?token=abc.def.ghi")

    assert stream.getvalue() == "opening /ws?token=[redacted]\n"

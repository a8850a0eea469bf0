"""Structured logs: one JSON object per line, and never a token, ticket or Bearer value."""

import json
import logging
from collections.abc import Iterator

import pytest

from foundation.logs import configure_logging
from foundation.settings import Settings

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl"
NAMES = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "arq", "websockets")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in NAMES
    }
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_format="json"))
    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/ws?token={TOKEN}", "1.1", 101)
    logging.getLogger("tidings.test").warning("ticket=%s header Bearer %s", "T1CK3T", TOKEN)
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    records = [json.loads(line) for line in lines]
    assert [r["logger"] for r in records] == ["uvicorn.access", "tidings.test"]
    assert records[0]["level"] == "INFO" and "/ws?token=[redacted]" in records[0]["message"]
    for line in lines:
        assert TOKEN not in line and "T1CK3T" not in line


@pytest.mark.usefixtures("restore_logging")
def test_text_format_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_format="text", log_level="WARNING"))
    logging.getLogger("tidings.test").info("not shown at WARNING")
    logging.getLogger("tidings.test").warning("url /ws?since=3&ticket=SECRET1")
    err = capsys.readouterr().err
    assert "not shown" not in err
    assert "since=3&ticket=[redacted]" in err and "SECRET1" not in err


@pytest.mark.usefixtures("restore_logging")
def test_json_traceback_uses_the_redacted_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_format="json"))
    secret = "T0KEN-in-a-traceback"
    try:
        raise ConnectionError(f"GET /ws?token={secret}&since=3 failed; header Bearer {TOKEN}")
    except ConnectionError:
        logging.getLogger("tidings.test").exception("the request failed")
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert "ConnectionError: GET /ws?token=[redacted]&since=3 failed" in record["exception"]
    assert "Traceback (most recent call last)" in record["exception"]
    assert secret not in lines[0] and TOKEN not in lines[0]


@pytest.mark.usefixtures("restore_logging")
def test_json_stack_info_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_format="json"))

    def deep(ticket: str) -> None:
        logging.getLogger("tidings.test").warning("where", stack_info=True)

    deep("/ws?ticket=S3CRET")  # the stack's source line names the ticket
    record = json.loads(capsys.readouterr().err.strip())
    assert "Stack (most recent call last)" in record["stack"]
    assert "S3CRET" not in record["stack"]

"""Process-wide logging: text or JSON lines on stderr, with credentials always redacted.

Every command configures logging once through :func:`configure_logging`. The redacting
filter sits on the handler, so it sees every record of every logger (uvicorn's access log
included) before anything is formatted.
"""

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from foundation.redaction import RedactingFilter, redact
from foundation.settings import Settings

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception, stack).

    The traceback is the text the redacting filter prepared in ``record.exc_text``; it is
    rendered from ``exc_info`` only for a record no filter saw, and then redacted here, so a
    credential in an exception's message never reaches the line.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = redact(record.stack_info)
        return json.dumps(payload, ensure_ascii=False)


def logging_config(settings: Settings) -> dict[str, Any]:
    """The ``dictConfig`` for ``settings.log_format`` and ``settings.log_level``."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if settings.log_format == "json" else {"format": _TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactingFilter}},
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": settings.log_level},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": settings.log_level}
            for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "arq", "websockets")
        },
    }


def configure_logging(settings: Settings) -> None:
    """Configure logging for this process (call once, before serving)."""
    logging.config.dictConfig(logging_config(settings))

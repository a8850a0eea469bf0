"""Where the last processed position is kept between runs.

The client loads the cursor once when it starts and connects with ``since=<seq>``; it saves
the cursor whenever it acknowledges (batched) and when it stops. A cursor of another user (a
different ``sub`` logged in) is discarded at the welcome.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Protocol

from .models import Cursor


class CursorStore(Protocol):
    """Keeps one :class:`Cursor`. Methods may raise; the client reports ``store_failed``."""

    def load(self) -> Cursor | None: ...

    def save(self, cursor: Cursor) -> None: ...

    def clear(self) -> None: ...


class MemoryCursorStore:
    """Resumes across reconnects of one process, not across restarts."""

    def __init__(self, cursor: Cursor | None = None) -> None:
        self._cursor = cursor

    def load(self) -> Cursor | None:
        return self._cursor

    def save(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def clear(self) -> None:
        self._cursor = None


class FileCursorStore:
    """Keeps the cursor in a small JSON file (``~`` expanded), replaced atomically on save.

    An unreadable or malformed file loads as no cursor (the client then starts as a new
    device would).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def load(self) -> Cursor | None:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(value, dict):
            return None
        user_id, seq = value.get("user_id"), value.get("seq")
        if not isinstance(user_id, str) or type(seq) is not int or seq < 0:
            return None
        return Cursor(user_id, seq, 2 if value.get("protocol") == 2 else 1)

    def save(self, cursor: Cursor) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fields: dict[str, object] = {"user_id": cursor.user_id, "seq": cursor.seq}
        if cursor.protocol == 2:
            fields["protocol"] = 2
        text = json.dumps(fields)
        fd, temporary = tempfile.mkstemp(prefix=".cursor-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

"""The write-ahead log checkpointer: failures are logged once and retried after writes."""

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from outbox.stores.sqlite.checkpointer import WalCheckpointer
from outbox.stores.sqlite.schema import apply_sqlite
from tests.worker import wait_until


@pytest.fixture
async def checkpointer(sqlite_path: Path) -> AsyncIterator[WalCheckpointer]:
    opened = WalCheckpointer(sqlite_path, interval=0.01)
    task = asyncio.create_task(opened.run())
    yield opened
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await opened.close()


async def test_nothing_is_checkpointed_until_a_write_is_noted(
    checkpointer: WalCheckpointer, sqlite_path: Path
) -> None:
    apply_sqlite(sqlite_path)
    await asyncio.sleep(0.1)  # ten intervals: one that ran without a write would have run
    assert checkpointer.checkpoints == 0

    checkpointer.wrote()

    async def checkpointed() -> bool:
        return checkpointer.checkpoints == 1

    await wait_until(checkpointed, timeout=10)


async def test_a_failing_checkpoint_is_logged_once_and_retried_after_the_next_write(
    checkpointer: WalCheckpointer,
    sqlite_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="outbox.stores.sqlite.checkpointer")
    calls = []
    attempt = checkpointer._checkpoint

    def counted() -> None:
        calls.append(None)
        attempt()

    monkeypatch.setattr(checkpointer, "_checkpoint", counted)

    for tries in (1, 2):  # no database file yet: the checkpointer's connection cannot open
        checkpointer.wrote()

        async def tried(tries: int = tries) -> bool:
            return len(calls) == tries

        await wait_until(tried, timeout=10)
    assert caplog.text.count("sqlite checkpoint failed") == 1
    assert checkpointer.checkpoints == 0

    apply_sqlite(sqlite_path)
    checkpointer.wrote()

    async def recovered() -> bool:
        return checkpointer.checkpoints == 1

    await wait_until(recovered, timeout=10)
    assert "sqlite checkpoints succeed again" in caplog.text
    assert len(calls) == 3

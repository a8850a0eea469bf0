"""The client's README stays true: each ``python`` block runs against a real server, with the
names it leaves to the application (``auth``, ``show``, ``reload_inbox``, ``log``) supplied
here; and every argument and option of the client is documented."""

import asyncio
import dataclasses
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import tidings_client
from client_server import TidingsServer, token, unique, until
from tidings_client import (
    ClientOptions,
    ClientState,
    Counts,
    ItemState,
    Notification,
    ResyncInfo,
    Runtime,
    TidingsClient,
)

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE_URL = "https://api.example.com/tidings"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


class App:
    """What the README's examples leave to the application, recording what it is given."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.shown: list[Any] = []
        self.reloads: list[ResyncInfo] = []
        self.warnings: list[str] = []
        self.badges: list[Counts] = []

    def access_token(self) -> str:
        return token(self.user)

    def show(self, notification: Notification) -> None:
        self.shown.append(notification)

    def badge(self, counts: Counts) -> None:
        self.badges.append(counts)

    def reload_inbox(self, info: ResyncInfo) -> None:
        self.reloads.append(info)

    def warning(self, message: str, *args: object) -> None:
        self.warnings.append(message % args)


def run_block(index: int, server: TidingsServer, app: App) -> dict[str, Any]:
    """Execute README block ``index`` with its example URL pointing at ``server``."""
    source = python_blocks()[index].replace(EXAMPLE_URL, server.url)
    names: dict[str, Any] = {"auth": app, "show": app.show, "reload_inbox": app.reload_inbox}
    names["log"] = app
    names["badge"] = app.badge
    exec(compile(source, f"{README.name} python block {index + 1}", "exec"), names)
    return names


def test_every_python_block_is_run_here() -> None:
    assert len(python_blocks()) == 3, "a python block of the README needs a test that runs it"


async def test_the_first_example_streams_and_keeps_its_cursor_in_a_file(
    server: TidingsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = App(unique("readme"))
    monkeypatch.setenv("HOME", str(tmp_path))  # the example's store is under ~/.cache
    made: list[TidingsClient] = []

    class Recorded(TidingsClient):
        """The example's client, so that this test can stop it."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(tidings_client, "TidingsClient", Recorded)
    main = asyncio.create_task(run_block(0, server, app)["main"]())  # the first block
    await until(lambda: bool(made) and made[0].state is ClientState.LIVE, "live")
    await server.emit(app.user, 2)
    await until(lambda: len(app.shown) == 2, "two notifications shown")
    await made[0].stop()
    await asyncio.wait_for(main, 10)
    assert [n.seq for n in app.shown] == [1, 2]
    assert capsys.readouterr().out == "StopInfo(reason='stopped', close_code=None)\n"
    saved = json.loads((tmp_path / ".cache/app/tidings-cursor.json").read_text())
    assert saved == {"user_id": app.user, "seq": 2}
    assert app.warnings == []


async def test_the_options_example_acknowledges_as_its_device(server: TidingsServer) -> None:
    app = App(unique("readme"))
    client = run_block(2, server, app)["client"]

    async def acked_as_the_phone() -> bool:
        return (await server.cursor(app.user, "phone"))["acked"] == 1

    async with client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        await server.emit(app.user, 1)
        await until(lambda: len(app.shown) == 1, "a notification shown")
        await until(acked_as_the_phone, "the phone's ack")  # within acks.max_delay
    assert (await server.cursor(app.user))["acked"] == 0


async def test_the_inbox_example_marks_and_counts(server: TidingsServer) -> None:
    app = App(unique("readme"))
    names = run_block(1, server, app)
    client = names["client"]
    async with client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        await server.emit(app.user, 2)
        await until(lambda: len(app.shown) == 2, "two notifications shown")
        await names["read_them"]([1, 2])
        await until(lambda: client.counts == Counts(0, 1), "the counts after the marks")
        assert client.item_state(1) == ItemState(read=True, archived=True)
    assert app.badges[-1] == Counts(0, 1)
    assert [type(shown).__name__ for shown in app.shown[2:]] == ["StateChange", "StateChange"]


def test_every_argument_and_option_is_documented() -> None:
    readme = README.read_text()
    arguments = [name for name in inspect.signature(TidingsClient).parameters if name != "url"]
    fields = [
        field.name for group in (ClientOptions, Runtime) for field in dataclasses.fields(group)
    ]
    missing = [name for name in arguments + fields if not re.search(rf"`{name}[`(]", readme)]
    assert missing == []

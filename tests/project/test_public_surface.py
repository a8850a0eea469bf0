"""The public names: ``from tidings import ...`` is all a host application needs."""

import subprocess
import sys

import pytest

import tidings


def test_every_public_name_imports_and_is_listed() -> None:
    for name in tidings.__all__:
        assert getattr(tidings, name) is not None, name
    assert set(tidings.__all__) <= set(dir(tidings))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchName"):
        tidings.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_the_worker_command_does_not_load_the_web_stack() -> None:
    code = (
        "import sys, tidings.cli; "
        "print(sorted(m for m in ('fastapi', 'starlette') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"

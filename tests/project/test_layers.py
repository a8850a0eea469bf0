"""The import contracts CI checks (``lint-imports``, configured in ``pyproject.toml``).

Each contract is proved to catch what it forbids: a copy of the packages with one violating
import added must fail, and the untouched copy must pass.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "foundation",
    "broker",
    "migrations",
    "outbox",
    "api_hooks",
    "delivery",
    "tidings",
    "examples",
)
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("static"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the editable install of the real tree.
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=60
    )


def with_module(tree: Path, path: str, source: str) -> Path:
    violating = tree / path
    violating.write_text(source)
    return violating


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    done = lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("path", "source", "contract"),
    [
        ("delivery/probe_violation.py", "import sqlite3\n", "Only a store adapter imports"),
        ("api_hooks/probe_violation.py", "import pymongo\n", "Only a store adapter imports"),
        ("outbox/probe_violation.py", "from bson import ObjectId\n", "Only a store adapter"),
        ("foundation/probe_violation.py", "import outbox.records\n", "Layers point one way"),
        ("outbox/probe_violation.py", "import delivery.frames\n", "Layers point one way"),
        ("delivery/probe_violation.py", "import api_hooks\n", "Layers point one way"),
        ("outbox/stores/probe_violation.py", "import outbox.worker\n", "Inside outbox"),
        (
            "outbox/stores/sqlite/probe_violation.py",
            "import outbox.stores.mongo\n",
            "Store adapters know nothing",
        ),
        ("delivery/probe_violation.py", "import outbox.stores.sqlite\n", "Only the store registry"),
    ],
)
def test_each_contract_catches_what_it_forbids(
    tree: Path, path: str, source: str, contract: str
) -> None:
    violating = with_module(tree, path, source)
    try:
        done = lint(tree)
    finally:
        violating.unlink()
    assert done.returncode != 0, done.stdout
    broken = [line for line in done.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), done.stdout


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        if package != "examples"
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 400
    }
    assert long == {}

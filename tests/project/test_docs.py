"""The README and CI stay true: the test command CI runs is the README's, the contract copy
is the shared one, and every setting is documented."""

import re
from pathlib import Path

import pytest

from foundation.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command -->", 1)[1]
    command = next(line for line in block.splitlines() if line and not line.startswith("```"))
    assert command.startswith("python3 -m venv .venv")
    assert "<!-- test-command -->" in (ROOT / ".ci" / "run").read_text()


def test_protocol_copy_matches_the_shared_contract() -> None:
    shared = ROOT.parent / "shared" / "spec" / "protocol.md"
    if not shared.exists():
        pytest.skip("no shared/ folder beside this checkout")
    assert (ROOT / "docs" / "protocol-v1.md").read_text() == shared.read_text()


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(rf"`({ENV_PREFIX}[A-Z_]+)`", readme))
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields if name != "demo"}
    assert expected - documented == set()


EXCERPT = re.compile(r"<!-- excerpt: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)```", re.DOTALL)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_excerpts_are_verbatim_from_the_files_they_name(document: Path) -> None:
    for match in EXCERPT.finditer(document.read_text()):
        source = (ROOT / match["path"]).read_text()
        assert match["code"] in source, f"{document.name}: excerpt of {match['path']} is stale"


def test_the_store_guide_shows_the_registry_and_the_suite_entry() -> None:
    guide = (ROOT / "docs" / "adding-a-store.md").read_text()
    assert {m["path"] for m in EXCERPT.finditer(guide)} == {
        "outbox/stores/__init__.py",
        "tests/conftest.py",
    }

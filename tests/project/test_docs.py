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
WHOLE_FILE = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)```", re.DOTALL)
PYTHON_BLOCK = re.compile(r"(?P<marker><!-- [^>]* -->\n)?```python\n", re.DOTALL)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_excerpts_are_verbatim_from_the_files_they_name(document: Path) -> None:
    for match in EXCERPT.finditer(document.read_text()):
        source = (ROOT / match["path"]).read_text()
        assert match["code"] in source, f"{document.name}: excerpt of {match['path']} is stale"


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_files_shown_whole_are_shown_as_they_are(document: Path) -> None:
    for match in WHOLE_FILE.finditer(document.read_text()):
        source = (ROOT / match["path"]).read_text()
        assert match["code"] == source, f"{document.name}: {match['path']} differs from the file"


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_every_python_block_is_a_file_or_an_excerpt_that_tests_run(document: Path) -> None:
    """A snippet that is not one of the files the tests run (whole, or an excerpt) can rot."""
    unmarked = [
        document.read_text()[: match.start()].count("\n") + 1
        for match in PYTHON_BLOCK.finditer(document.read_text())
        if match["marker"] is None
        or not match["marker"].startswith(("<!-- file:", "<!-- excerpt:"))
    ]
    assert unmarked == [], f"{document.name}: unmarked python blocks at lines {unmarked}"


def test_the_embedding_guide_shows_each_example_app_whole() -> None:
    guide = (ROOT / "docs" / "embedding.md").read_text()
    shown = {match["path"] for match in WHOLE_FILE.finditer(guide)}
    assert shown == {
        f"docs/examples/{name}" for name in ("embedded_app.py", "pymongo_app.py", "motor_app.py")
    }


def test_the_store_guide_shows_the_registry_and_the_suite_entry() -> None:
    guide = (ROOT / "docs" / "adding-a-store.md").read_text()
    assert {m["path"] for m in EXCERPT.finditer(guide)} == {
        "outbox/stores/__init__.py",
        "tests/conftest.py",
    }

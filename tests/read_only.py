"""Making a file or directory read-only for a test, as root too.

Permission bits do not stop root, so as root the immutable flag (``chattr +i``) is used: it
stops every process, and ``os.access`` reports it. The test is skipped when the file system
or the container does not allow the flag (it needs ``CAP_LINUX_IMMUTABLE``).
"""

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _chattr(flag: str, path: Path) -> bool:
    try:
        done = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    except FileNotFoundError:
        return False
    return done.returncode == 0


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a directory) cannot be written inside the block, by anyone."""
    if os.geteuid() == 0:
        if not _chattr("+i", path):
            pytest.skip("running as root without chattr +i: cannot make a file read-only")
        try:
            yield
        finally:
            assert _chattr("-i", path), f"could not clear the immutable flag of {path}"
        return
    mode = path.stat().st_mode
    path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        path.chmod(mode)

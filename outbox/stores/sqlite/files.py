"""What keeps the embedded store's file from being written, in the operator's words.

SQLite says "unable to open database file" or "attempt to write a readonly database" for
every cause alike. :func:`unwritable_reason` looks at the file system instead and names the
cause and the path: a read-only mount, a read-only (or immutable) file, a data directory in
which SQLite cannot create its ``-wal`` and ``-shm`` files, or a full disk. ``os.access`` is
what decides "read-only", so a process that may write anyway (root, past the permission
bits) is not told otherwise, while an immutable flag or a read-only mount stops root too.
"""

import os
from pathlib import Path
from typing import Final

# Less than this free on the store's disk counts as full: a routed batch, its WAL frames and
# the checkpoint that copies them back need more than that.
MIN_FREE_BYTES: Final = 1024 * 1024
_COMPANIONS: Final = ("-wal", "-shm")


def companions(path: Path) -> list[Path]:
    """The ``-wal`` and ``-shm`` files SQLite keeps beside ``path`` in WAL mode."""
    return [path.with_name(path.name + suffix) for suffix in _COMPANIONS]


def mount_reason(directory: Path, vfs: os.statvfs_result) -> str | None:
    """Why nothing can be written under ``directory`` (its file system's flags), or None."""
    if vfs.f_flag & os.ST_RDONLY:
        return f"the file system holding {directory} is mounted read-only"
    return None


def space_reason(directory: Path, vfs: os.statvfs_result, *, privileged: bool) -> str | None:
    """A full disk under ``directory``, or None. ``privileged`` (root) may use the blocks
    the file system reserves, so only the really free ones count then."""
    free = (vfs.f_bfree if privileged else vfs.f_bavail) * vfs.f_frsize
    if free < MIN_FREE_BYTES:
        return f"the disk holding {directory} is full ({free} bytes free)"
    return None


def permission_reason(path: Path) -> str | None:
    """A store file, or the directory SQLite must create files in, that this process may not
    write; None when it may write all it needs."""
    for file in (path, *companions(path)):
        if file.exists() and not os.access(file, os.W_OK):
            return f"{file} is read-only (its permissions or immutable flag)"
    directory = path.parent
    missing = [file.name for file in (path, *companions(path)) if not file.exists()]
    if missing and not os.access(directory, os.W_OK | os.X_OK):
        names = " and ".join([", ".join(missing[:-1]), missing[-1]] if missing[:-1] else missing)
        return f"the data directory {directory} is read-only, and SQLite must create {names} in it"
    return None


def unwritable_reason(path: Path) -> str | None:
    """Why the store at ``path`` cannot be written now, naming the cause and the path; None
    when the file system stops nothing (a missing directory included: opening reports it).

    Cheap (a ``statvfs`` and a few ``access`` calls), never touches the database, blocks no
    writer: fit for a readiness probe as well as for explaining a failed open.
    """
    directory = path.parent
    try:
        vfs = os.statvfs(directory)
    except OSError:
        return None
    return (
        mount_reason(directory, vfs)
        or permission_reason(path)
        or space_reason(directory, vfs, privileged=os.geteuid() == 0)
    )

"""User-only files and folders: run folders, state, specs and logs are 0700/0600 whatever the umask."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # pathlib stays out of `tao-automl status`'s start-up (it opens no file for writing)
if TYPE_CHECKING:
    from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and every missing parent user-only (folders that already exist are left as they are)."""
    from pathlib import Path

    folder = Path(path)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for part in reversed(missing):
        try:
            part.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(part, DIR_MODE)  # whatever the umask
    return folder


def private_file(path: str | Path) -> Path:
    """Make sure ``path`` exists and is user-only before anything (SQLite, a log) writes to it."""
    from pathlib import Path

    file = Path(path)
    fd = os.open(file, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    os.close(fd)
    os.chmod(file, FILE_MODE)
    return file


def write_private_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to a user-only file (created 0600, never briefly world-readable)."""
    return write_private_bytes(path, text.encode("utf-8"))  # not the locale's encoding: a TOML spec must be UTF-8


def write_private_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a user-only file (created 0600, never briefly world-readable; an existing file made 0600)."""
    from pathlib import Path

    file = Path(path)
    fd = os.open(file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(file, FILE_MODE)
    return file

"""On-disk helpers shared by the platforms: atomic JSON files and reading a text file or its tail."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

_BLOCK = 64 * 1024


def write_json_atomic(path: Path, data: dict[str, Any], scratch: Path | None = None) -> None:
    """Write ``data`` as JSON next to ``path`` and rename it into place (readers never see half a file).

    ``scratch``: an existing file in ``path``'s folder to write and rename, made ahead of time (creating a file is
    the slow part of this on some disks); by default a new one is created."""
    if scratch is not None:  # created if it is gone after all (e.g. another host swept a spare folder it made)
        fd = os.open(scratch, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
        tmp = str(scratch)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")  # one write, not one per token
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object stored at ``path``; None when the file is absent or not a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def read_text(path: Path) -> str | None:
    """A text file's content (undecodable bytes replaced); None when it does not exist."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


#: The most of a file :func:`tail_lines` reads (its lines are then cut at the front).
_TAIL_CAP = 16 * 1024 * 1024


def tail_lines(path: Path, count: int) -> str | None:
    """The last ``count`` lines of a text file, read backwards in blocks; None when it does not exist."""
    if count <= 0:
        return "" if path.is_file() else None
    try:
        handle = path.open("rb")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    with handle:
        pos = handle.seek(0, os.SEEK_END)
        blocks: list[bytes] = []
        newlines = 0
        trailing: int | None = None  # newlines at the very end, not counted as lines
        # one newline more than the lines wanted; each block is counted once (linear in what is read), and at most
        # _TAIL_CAP bytes are read: a job's endless line (a progress bar drawn with \r) is cut, not read whole
        while pos > 0 and (trailing is None or newlines - trailing <= count) and len(blocks) * _BLOCK < _TAIL_CAP:
            step = min(_BLOCK, pos)
            pos -= step
            handle.seek(pos)
            block = handle.read(step)
            if trailing is None:
                trailing = len(block) - len(block.rstrip(b"\n"))
            blocks.append(block)
            newlines += block.count(b"\n")
        data = b"".join(reversed(blocks))
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    return "".join(lines[-count:])

"""A file the user names for a command's output (``report -o``, ``export --best -o``, ``plan -o``): a regular file is
written whole (a scratch file renamed onto it), and a device or pipe (``/dev/null``, ``/dev/stdout``, a FIFO) is
written into, never replaced: renaming onto ``/dev/null`` as root put a regular file in its place."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tao_automl.util.private import write_private_bytes


def is_stream(path: Path) -> bool:
    """``path`` exists and is neither a regular file nor a folder: a device, a pipe or a socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_output(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path``: into it when it is a stream (:func:`is_stream`; its mode left alone), else whole
    through a scratch file beside it, user-only (0600) when ``private``."""
    if is_stream(path):
        with open(path, "wb") as handle:
            handle.write(data)
        return path
    scratch = path.with_name(f".{path.name}.tmp")
    if private:
        write_private_bytes(scratch, data)
    else:
        scratch.write_bytes(data)
    os.replace(scratch, path)
    return path

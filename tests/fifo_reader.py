"""A named pipe read to its end by a thread: an output path that is a stream, not a file (``-o /dev/null``)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path


class FifoReader:
    """``path`` made a FIFO and drained by a daemon thread (a writer that renames a file onto the path instead of
    writing into it leaves the thread waiting: :meth:`received` then gives None)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        os.chmod(path, 0o666)  # as /dev/null's: anyone may write it
        self.path = path
        self._data: list[bytes] = []
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with open(self.path, "rb") as handle:
            self._data.append(handle.read())

    def received(self, timeout: float = 10.0) -> bytes | None:
        """What a writer wrote into the pipe, once it closed it; None when nothing opened it for writing."""
        self._thread.join(timeout)
        return None if self._thread.is_alive() else b"".join(self._data)

    def unchanged(self) -> bool:
        """The path is still this pipe, its mode as made (a writer that made it user-only shut others out, as
        ``chmod 600 /dev/null`` would)."""
        mode = os.lstat(self.path).st_mode
        return stat.S_ISFIFO(mode) and stat.S_IMODE(mode) == 0o666

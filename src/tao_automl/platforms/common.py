"""Bookkeeping every platform SDK shares: argument checks and a cross-process lock per job name."""

from __future__ import annotations

import contextlib
import fcntl
import shlex
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from tao_automl.errors import UserInputError


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools refused), else a one-line error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_job_name(name: object, single_line: bool = False) -> str | None:
    """``name`` as a job name (None stays None); anything but a non-empty string is a one-line error."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or (single_line and "\n" in name):
        kind = "non-empty single-line string" if single_line else "non-empty string"
        raise UserInputError(f"job_name must be a {kind}, got {name!r}")
    return name


@contextlib.contextmanager
def name_lock(directory: Path, key: str, thread_lock: threading.RLock | threading.Lock) -> Iterator[None]:
    """Serialise submissions of one job name across threads (``thread_lock``) and processes (``flock``)."""
    path = directory / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with thread_lock, path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def command_text(command: str | Sequence[str]) -> str:
    """A command as one shell string: a non-empty string as is, an argv list shell-quoted."""
    if isinstance(command, str):
        if not command.strip():
            raise UserInputError("command must not be empty")
        return command
    argv = list(command)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise UserInputError(f"command must be a non-empty string or a sequence of strings, got {command!r}")
    return shlex.join(argv)


def contained_path(results_dir: str | Path, relative_path: str) -> Path:
    """``results_dir/relative_path`` resolved; a path that leaves the results dir is a one-line error."""
    results = Path(results_dir).resolve()
    target = (results / relative_path).resolve()
    if target != results and results not in target.parents:
        raise UserInputError(f"relative_path {relative_path!r} points outside the results dir {results}")
    return target

"""Bookkeeping every platform SDK shares: argument checks and a cross-process lock per job name."""

from __future__ import annotations

import contextlib
import fcntl
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tao_automl.errors import UserInputError
from tao_automl.platforms.base import JobStatus


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools refused), else a one-line error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


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


def poll_until_finished(status_of: Callable[[str], JobStatus], job_ids: Sequence[str], timeout: float,
                        interval: float) -> None:
    """Poll every ``interval`` s until one of ``job_ids`` has finished or ``timeout`` s pass."""
    deadline = time.monotonic() + max(0.0, float(timeout))
    while not any(status_of(j).is_finished() for j in job_ids):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, interval))

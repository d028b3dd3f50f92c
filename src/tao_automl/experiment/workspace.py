"""Run folders: collision-free creation and an exclusive orchestrator lock."""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from pathlib import Path
from types import TracebackType

from tao_automl.errors import WorkspaceError, WorkspaceLockedError
from tao_automl.experiment.store import DB_NAME

LOCK_NAME = "orchestrator.lock"


def new_run_dir(workspace_path: str | Path) -> Path:
    """Create ``<workspace>/run_YYYYmmdd_HHMMSS_<suffix>``; ``mkdir`` without ``exist_ok`` rules out collisions."""
    parent = Path(workspace_path).expanduser()
    if (parent / DB_NAME).exists():
        raise WorkspaceError(
            f"workspace_path {str(parent)!r} already holds a run; pass resume=True to continue it "
            "(or `tao-automl resume RUN_DIR`), or choose another workspace_path"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"workspace_path {str(parent)!r} cannot be created: {exc.strerror}") from None
    for _ in range(100):
        name = f"run_{time.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(3)}"
        try:
            (parent / name).mkdir()
        except FileExistsError:
            continue
        return parent / name
    raise WorkspaceError(f"could not create a unique run folder under {str(parent)!r}")


def existing_run_dir(path: str | Path) -> Path:
    """The run folder to resume: it must already hold a run's state."""
    run_dir = Path(path).expanduser()
    if not (run_dir / DB_NAME).exists():
        hint = ""
        if run_dir.is_dir():
            runs = sorted(p.name for p in run_dir.glob("run_*") if (p / DB_NAME).exists())
            if runs:
                hint = f"; it holds these runs: {', '.join(runs[-5:])} (pass one of them)"
        raise WorkspaceError(f"cannot resume: {str(run_dir)!r} holds no run (no {DB_NAME}){hint}")
    return run_dir


class RunLock:
    """An exclusive ``flock`` on the run folder, released by the OS even when the process is killed."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WorkspaceLockedError(
                f"run folder {str(self.path.parent)!r} is in use by another orchestrator (pid {holder}); "
                "wait for it to end or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

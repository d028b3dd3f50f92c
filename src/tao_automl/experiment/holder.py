"""Who orchestrates a run folder: the holder of its lock (read from ``/proc/locks``) and its ``orchestrator.json``.

Read-only: asking never takes or blocks the lock, so ``query_status`` and ``stop`` can ask from any process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tao_automl.experiment.workspace import LOCK_NAME

#: Files an orchestrator keeps in the run folder.
LOG_NAME = "orchestrator.log"
INFO_NAME = "orchestrator.json"


def lock_holder(run_dir: Path) -> int | None:
    """The pid holding the run folder's orchestrator lock, or None when no process holds it.

    Reads ``/proc/locks`` (Linux), so asking never takes or blocks the lock; elsewhere the pid written
    in the lock file is checked for existence.
    """
    path = run_dir / LOCK_NAME
    try:
        inode = path.stat().st_ino
    except OSError:
        return None
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return _pid_from_file(path)
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            try:
                return int(parts[4])
            except ValueError:
                continue
    return None


def _pid_from_file(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip() or 0)
        if pid > 0:
            os.kill(pid, 0)
            return pid
    except (OSError, ValueError):
        pass
    return None


def orchestrator_info(run_dir: str | Path) -> dict[str, Any]:
    """``{"alive", "pid", "detached", "log", "started_at"}`` for the run at ``run_dir`` (read-only)."""
    folder = Path(run_dir).resolve()
    pid = lock_holder(folder)
    info: dict[str, Any] = {}
    try:
        info = json.loads((folder / INFO_NAME).read_text())
    except (OSError, ValueError):
        info = {}
    detached = bool(info.get("detached")) and info.get("pid") == pid if pid else bool(info.get("detached"))
    log_path = folder / LOG_NAME
    return {"alive": pid is not None, "pid": pid, "detached": detached,
            "log": str(log_path) if log_path.exists() else None, "started_at": info.get("started_at")}

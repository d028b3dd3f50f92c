"""The run folders of a workspace: every folder in it holding a run's state, oldest first (``status WORKSPACE``,
``runs``, ``export``, ``report`` and ``resume`` of a workspace, and a run-folder error's list of what is allowed)."""

from __future__ import annotations

import os
import sqlite3

from tao_automl.experiment.store import DB_NAME, STAGING_PREFIX, NewerStoreFormatError, RunStore


def no_run_reason(folder: str | os.PathLike[str]) -> str:
    """Why ``folder`` holds no run, for an error's parentheses: no such folder, not a folder, or neither a state.db
    nor a run folder in it (an empty workspace)."""
    if not os.path.lexists(folder):
        return "no such folder"
    if not os.path.isdir(folder):
        return "not a folder"
    return f"no {DB_NAME}, and no run folder in it"


def no_run_message(folder: str | os.PathLike[str]) -> str:
    """What ``status``, ``report`` and ``export`` say of a folder that holds no run: ``no run state at 'PATH' (why)``
    (:func:`no_run_reason`)."""
    return f"no run state at {os.fspath(folder)!r} ({no_run_reason(folder)})"


def workspace_runs(folder: str | os.PathLike[str]) -> list[str]:
    """The run folders in ``folder``: every folder in it holding a run's state (``run_*`` of `tao-automl run`, any
    name of ``AutoML(workspace=...)``), oldest first by the start their state records (unreadable ones first, by
    name). Each run is listed once, links resolved: by its folder's own name when that folder is in ``folder``,
    else by the name of the first link to it (a link to a run kept elsewhere)."""
    folder = os.fspath(folder)
    names = [name for name in _names_in(folder) if not name.startswith(STAGING_PREFIX)  # a run being set up
             and os.path.exists(os.path.join(folder, name, DB_NAME))]
    return sorted(_once_each(folder, names), key=lambda name: (_started_at(folder, name), name))


def _once_each(folder: str, names: list[str]) -> list[str]:
    """``names`` with one name per run folder they lead to: a folder's own name before any link's, else the first
    link's by name."""
    chosen: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (os.path.islink(os.path.join(folder, n)), n)):
        chosen.setdefault(os.path.realpath(os.path.join(folder, name)), name)
    return list(chosen.values())


def _started_at(folder: str, name: str) -> str:
    """When the run ``name`` in ``folder`` started, as ``YYYYmmdd_HHMMSS.ffffff`` UTC: to the second from the name
    of a ``run_*`` folder that `tao-automl run` named, its stamp in ASCII digits (no store is opened: `status
    WORKSPACE` of hundreds of runs stays fast), else from the start its state records (the epoch when that cannot be
    read: listed first). A link is placed by the folder it leads to (its own name says when the link was made, or
    nothing)."""
    path = os.path.join(folder, name)
    own = os.path.basename(os.path.realpath(path)) if os.path.islink(path) else name
    stamp = own[4:19]
    digits = stamp[:8] + stamp[9:]
    if own.startswith("run_") and len(stamp) == 15 and stamp[8] == "_" and digits.isascii() and digits.isdigit():
        return f"{stamp}.000000"
    import time

    started = _recorded_start(path)
    try:
        return f"{time.strftime('%Y%m%d_%H%M%S', time.gmtime(started))}.{int(started % 1 * 1e6):06d}"
    except (OverflowError, OSError, ValueError):  # NaN, or a time past the calendar: no start, listed first
        return f"{time.strftime('%Y%m%d_%H%M%S', time.gmtime(0))}.000000"


def _recorded_start(run_dir: str) -> float:
    """When the run at ``run_dir`` started, as its state records it; 0 when that cannot be read (listed anyway)."""
    try:
        store = RunStore(run_dir, readonly=True)
    except (sqlite3.Error, NewerStoreFormatError, OSError):  # OSError: its state.db removed since it was listed
        return 0.0
    try:
        started = store.meta().get("created_at")
    except (sqlite3.Error, NewerStoreFormatError, ValueError):  # ValueError: a meta value that is not JSON
        return 0.0
    finally:
        store.close()
    return float(started) if isinstance(started, (int, float)) else 0.0


def _names_in(folder: str) -> list[str]:
    """The entries of ``folder``; none when it is not a folder or cannot be listed."""
    try:
        return os.listdir(folder)
    except OSError:
        return []

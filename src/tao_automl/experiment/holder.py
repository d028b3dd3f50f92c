"""Who orchestrates a run folder: the holder of its lock (see :mod:`ofd_lock`) and its ``orchestrator.json``.

Read-only: asking never takes or blocks the lock, so ``query_status`` and ``stop`` can ask from any process.
"""

from __future__ import annotations

import json
import os

from tao_automl.experiment import ofd_lock

TYPE_CHECKING = False  # typing and pathlib stay out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

#: Files an orchestrator keeps in the run folder: its lock (flock'ed while it runs; it names the holder's pid).
LOCK_NAME = "orchestrator.lock"
LOG_NAME = "orchestrator.log"
INFO_NAME = "orchestrator.json"


#: :func:`lock_holder`'s answer for a lock held by a process this one cannot name: it runs in another pid namespace
#: (a container) or on another machine sharing the folder. Never a pid to signal (``os.kill(0, ...)`` would signal
#: this process's own group): test for it before signalling.
UNSEEN = 0


def describe_holder(pid: int | None) -> str:
    """``pid N`` for a message, or what is known of a holder this process cannot name."""
    return "a process in another pid namespace or on another machine" if pid == UNSEEN else f"pid {pid}"


def lock_holder(run_dir: str | Path, thorough: bool = False) -> int | None:
    """The pid holding the run folder's orchestrator lock, :data:`UNSEEN` when a process holds it that this one
    cannot name, or None when no process holds it.

    Asked through the holder's OFD locks (:mod:`ofd_lock`: its pid, in microseconds). Where those are missing, or
    a holder has taken the lock but not yet its pid byte, the lock file names the last process that took the lock
    (written right after taking it) and ``/proc/locks`` (Linux) says who holds it now: the named process, a newer
    holder, or nobody. Asking never takes or blocks the lock; elsewhere the pid in the file is the answer.
    Where the OFD locks say nobody but the lock file names a live process (no zombie), ``/proc/locks`` is asked too:
    an orchestrator of an older version holds the ``flock`` alone. ``thorough``: ask it even when the file names
    none (for an answer that must name a holder known to exist).
    """
    path = os.path.join(run_dir, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if ofd_lock.SUPPORTED:
            try:
                pid = ofd_lock.holder(fd)
            except OSError:  # a file system without OFD locks
                return flock_holder(fd)
            if pid is None:  # a holder of a version before the OFD locks holds the flock alone, its pid in the file:
                # asked of /proc/locks when that pid runs (an older orchestrator still running after an upgrade)
                # (/proc/locks unreadable: nobody, as before; the file's pid may be an unrelated process by now)
                if thorough:
                    return flock_holder(fd)
                return flock_holder(fd, file_if_unreadable=False) if _pid_from_file(fd) is not None else None
            if pid > 0:
                return pid
            named = flock_holder(fd)  # held, its pid not readable here: /proc/locks numbers it as seen from here
            return UNSEEN if named is None else named  # (a pid namespace hides locks of processes it cannot see)
        return flock_holder(fd)
    finally:
        os.close(fd)


def flock_holder(fd: int, file_if_unreadable: bool = True) -> int | None:
    """The pid holding the ``flock`` on the open lock file ``fd``, from ``/proc/locks`` (where that is unreadable:
    the pid the file names, or None when not ``file_if_unreadable``), or None when nobody holds it."""
    inode = os.fstat(fd).st_ino
    try:
        with open("/proc/locks", "rb") as locks:
            lines = locks.read().decode(errors="replace").splitlines()
    except OSError:
        return _pid_from_file(fd) if file_if_unreadable else None
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            try:
                return int(parts[4])
            except ValueError:
                continue
    return None


def _pid_from_file(fd: int) -> int | None:
    """The pid the lock file names when that process runs (a zombie does not: killed, not yet reaped), else None."""
    try:
        pid = int(os.pread(fd, 64, 0).strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and runs(pid) else None


def unless_ended(pid: int | None) -> int | None:
    """A lock holder's ``pid`` (or :data:`UNSEEN`), None when that process has ended: killed (kill -9) while a process
    it forked, between fork and exec, still shares the run lock for a moment."""
    return None if pid is not None and pid > 0 and not runs(pid) else pid


def runs(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie (``kill -0`` passes for a killed process not yet reaped by its
    parent, whose files and locks the kernel has already released)."""
    other_user = False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        other_user = True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[-1].split()[:1]
    except FileNotFoundError:  # gone since, no /proc (then kill -0 is the answer), or another user's process that
        # /proc hides (mounted hidepid=2, as on shared clusters): kill -0 said it exists
        return other_user or not os.path.isdir("/proc/self")
    except OSError:
        return True
    return state not in ([b"Z"], [b"X"])


def cancelling_jobs(meta: Mapping[str, Any]) -> bool:
    """Whether a ``stop --cancel-jobs`` is cancelling the run's in-flight jobs now: the run's meta names it
    (:data:`~tao_automl.experiment.store.CANCEL_JOBS_ASKED`) and its process still runs on this machine. One that was
    killed, or that runs on another machine (its pid cannot be asked from here), is not counted: its jobs may run on."""
    from tao_automl.experiment.store import CANCEL_JOBS_ASKED

    asked = meta.get(CANCEL_JOBS_ASKED)
    if not isinstance(asked, dict):
        return False
    import socket  # only then: `tao-automl status` starts without it

    pid = asked.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or asked.get("host") != socket.gethostname():
        return False
    return runs(pid)


def copy_of(run_dir: str | Path, meta: Mapping[str, Any]) -> str | None:
    """The original run folder when ``run_dir`` is a copy of a run whose original still holds it (None otherwise,
    a moved folder included): a copy names its jobs as the original does, so it may not resume or cancel them."""
    from tao_automl.experiment.store import DB_NAME

    before = meta.get("run_dir")
    if not before or os.path.realpath(str(before)) == os.path.realpath(run_dir):
        return None
    return str(before) if os.path.isfile(os.path.join(str(before), DB_NAME)) else None


def resume_command(run_dir: str | Path | None, copy_of: str | None = None) -> str:
    """The shell command that continues the run at ``run_dir`` (at its original when it is a copy), quoted."""
    import shlex

    target = copy_of or run_dir
    return f"tao-automl resume {shlex.quote(str(target)) if target else 'RUN_DIR'}"


#: ``stop-writing.<pid>``: made by a ``stop`` (process ``pid``) before it takes the run's lock to write its record,
#: removed after; the lock's holder is then that stop, no orchestrator: another ``stop`` waits for it instead of
#: signalling it (it killed the first with SIGTERM in the middle of its cancels), and status shows no orchestrator.
STOP_WRITING_PREFIX = "stop-writing."


def is_stop_writing(run_dir: str | Path, pid: int) -> bool:
    """Whether process ``pid`` (the holder of the run's lock) is a ``stop`` writing its record, not an orchestrator."""
    return pid > 0 and os.path.exists(os.path.join(run_dir, f"{STOP_WRITING_PREFIX}{pid}"))


def orchestrator_info(run_dir: str | Path) -> dict[str, Any]:
    """``{"alive", "pid", "detached", "log", "started_at"}`` for the run at ``run_dir`` (read-only); ``pid`` is None
    for a live orchestrator this process cannot name (:data:`UNSEEN`). A ``stop`` that holds the lock to write its
    record is no orchestrator, nor an ended holder whose forked child still shares the lock for a moment."""
    folder = os.path.realpath(run_dir)
    pid = lock_holder(folder)
    if pid is not None and is_stop_writing(folder, pid):
        pid = None
    pid = unless_ended(pid)
    info: Any = {}
    try:
        with open(os.path.join(folder, INFO_NAME), encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict):  # a record no orchestrator wrote (a list, a number): none, as an unreadable one
        info = {}
    detached = bool(info.get("detached")) and info.get("pid") == pid if pid else bool(info.get("detached"))
    log_path = os.path.join(folder, LOG_NAME)
    return {"alive": pid is not None, "pid": pid or None, "detached": detached,
            "log": log_path if os.path.exists(log_path) else None, "started_at": info.get("started_at")}


#: How ``progress.stop_reason`` starts for a run whose orchestrator died without closing it (see :func:`as_shown`).
ORCHESTRATOR_LOST = "its orchestrator ended without closing the run (killed or crashed)"


#: How ``progress.stop_reason`` starts for a detached run whose orchestrator never took over (killed as it started).
ORCHESTRATOR_NEVER_STARTED = "its detached orchestrator ended before it took the run over (killed as it started)"
#: Seconds a ``starting`` run may wait for its detached orchestrator (it takes over within seconds; the parent waits
#: up to ``runner.detach.START_WAIT_S``, 60 s, before it gives up).
STARTING_GRACE_S = 90.0


def unrebuildable_platform(meta: Mapping[str, Any]) -> str | None:
    """The SDK class a runner run ran on when `tao-automl resume` cannot rebuild it (a custom or test SDK object given
    to AutoMLRunner: ``describe_sdk`` recorded it unregistered), else None (runs stored before that flag included)."""
    platform = meta.get("platform") or {}
    if meta.get("mode") != "runner" or platform.get("registered", True):
        return None
    return str(platform.get("class"))


def resume_facts(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What of a run's ``meta`` decides whether `tao-automl resume` continues it (:func:`~tao_automl.experiment.lines.
    resumable`): who drives it (``mode``), whether it stopped itself on a cause a resume meets again
    (``new_run_needed``) or ended before its budget with its brain proposing no more recs (``ended_early``; a run
    folder older than that key: its stop reason says so), and an SDK the command cannot rebuild (``platform_class``,
    only when so)."""
    from tao_automl.experiment.store import ENDED_EARLY, ENDED_EARLY_REASON, NEW_RUN_NEEDED

    cls = unrebuildable_platform(meta)
    early = bool(meta.get(ENDED_EARLY)) or str(meta.get("stop_reason") or "").startswith(ENDED_EARLY_REASON)
    return {"mode": meta.get("mode"), "new_run_needed": bool(meta.get(NEW_RUN_NEEDED)), "ended_early": early,
            **({} if cls is None else {"platform_class": cls})}


def _budget_spent(meta: Mapping[str, Any], counts: Mapping[str, int] | None) -> bool:
    """Whether every rec of the run's budget has ended, from ``{status: number of recs}`` (None: not known)."""
    from tao_automl.experiment.lines import budget_spent
    from tao_automl.experiment.summary import progress_from_counts

    return counts is not None and budget_spent(progress_from_counts(counts, None, False, meta))


def as_shown(meta: dict[str, Any], alive: bool, last_activity: float | None, now: float | None = None,
             run_dir: str | None = None, counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    """``meta`` as status shows it: a run stored as ``running`` that no process orchestrates (its orchestrator was
    killed or crashed before it could close the run) is ``interrupted``, ended at its last recorded activity, so
    no reader waits on it or sees its elapsed time grow; so is a run still ``starting`` that no orchestrator took
    over for ``STARTING_GRACE_S`` (``now``: the time to judge that by). ``tao-automl stop`` or ``resume`` writes
    the same. ``run_dir``: the folder, named in the command that continues it. ``counts`` (the store's
    ``count_by_status()``): with every rec of the budget ended, the stop reason says what the orchestrator line
    says (:func:`~tao_automl.experiment.lines.left_open_line`): a resume launches nothing, it only closes the run."""
    state = meta.get("state")
    if alive or state not in ("running", "starting"):
        return meta
    import time

    if state == "starting" and (last_activity is None or (now or time.time()) - last_activity < STARTING_GRACE_S):
        return meta  # its orchestrator may be taking over right now
    spent = _budget_spent(meta, counts)
    if meta.get("mode") == "ask_tell":
        again = ("every rec of its budget has ended: reopen it with AutoML(workspace, resume=True) and call its "
                 "finish() to close it") if spent else \
            "reopen it with AutoML(workspace, resume=True) to go on; its finish() closes it"
    elif spent:
        from tao_automl.experiment.lines import left_open_line

        original = copy_of(run_dir, meta) if run_dir else None
        again = left_open_line(run_dir, {**resume_facts(meta), **({"copy_of": original} if original else {})})
    elif unrebuildable_platform(meta) is not None:
        again = "AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True) continues it"
    else:
        import shlex

        again = f"`tao-automl resume{' ' + shlex.quote(run_dir) if run_dir else ''}` continues it"
    lost = ORCHESTRATOR_LOST if state == "running" else ORCHESTRATOR_NEVER_STARTED
    return {**meta, "state": "interrupted", "stop_reason": f"{lost}; {again}",
            "ended_at": last_activity if last_activity is not None else meta.get("ended_at")}

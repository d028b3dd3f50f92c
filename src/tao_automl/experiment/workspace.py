"""Run folders: collision-free, atomic creation and an exclusive orchestrator lock.

A new run is built under a hidden staging name (``.staging-run_…``) and renamed to ``run_…`` only once
its metadata is written (:func:`stage_run_dir`, :func:`publish_run_dir`), so a ``run_…`` folder is always
a complete, resumable run. A staging folder left by a killed process holds no job and is removed by the
next run created in the same workspace.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from tao_automl.errors import WorkspaceError, WorkspaceLockedError, new_run_storage_error
from tao_automl.experiment import ofd_lock
from tao_automl.experiment.holder import (
    LOCK_NAME,
    UNSEEN,
    describe_holder,
    flock_holder,
    is_stop_writing,
    resume_command,
    runs,
)
from tao_automl.experiment.store import DB_NAME, STAGING_PREFIX
from tao_automl.util.private import DIR_MODE, FILE_MODE
from tao_automl.util.shell import sh

#: A staging folder without a lock file this old belongs to no live process.
_STALE_STAGING_S = 60.0


def rec_folder(run_dir: Path, rec_id: int) -> Path:
    """Where rec ``rec_id`` of the run at ``run_dir`` keeps its spec and results: ``recs/rec_NNNN``."""
    return run_dir / "recs" / f"rec_{rec_id:04d}"


def holds_a_run(path: Path) -> WorkspaceError | None:
    """The error for a ``workspace_path`` that is itself a run folder (a new run goes beside runs, not in one);
    None when it is not. The run, the dry run and preflight all give this one."""
    if not (path / DB_NAME).exists():
        return None
    return WorkspaceError(
        f"workspace_path {str(path)!r} is a run folder, not a workspace: a new run is made beside it; "
        f"`{resume_command(path)}` continues that run",
        field="workspace_path", value=str(path), allowed="a folder that is not itself a run (e.g. its parent)",
        hint=f"pass the workspace {str(path.parent)!r} for a new run, or continue this one with "
             f"`{resume_command(path)}`")


def new_run_dir(workspace_path: str | Path, prefix: str = "") -> Path:
    """Create ``<workspace>/<prefix>run_YYYYmmdd_HHMMSS_<suffix>`` (the time in UTC); ``mkdir`` without
    ``exist_ok`` rules out collisions (with a prefix, the unprefixed name must be free too)."""
    parent = Path(workspace_path).expanduser()
    held = holds_a_run(parent)
    if held is not None:
        raise held
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        full = new_run_storage_error(exc, parent, parent)
        if full is not None:
            raise full from None
        raise WorkspaceError(f"workspace_path {str(parent)!r} cannot be created: {exc.strerror}",
                             field="workspace_path", value=str(parent), allowed="a folder (or a new path)",
                             hint="pass a workspace_path you can write to") from None
    for _ in range(100):
        # UTC: readers take the last name as the newest run, which local time breaks across time zones and DST
        name = f"run_{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_{os.urandom(3).hex()}"
        if prefix and (parent / name).exists():
            continue
        try:
            (parent / f"{prefix}{name}").mkdir(mode=DIR_MODE)  # user-only: specs, state and logs live here
        except FileExistsError:
            continue
        except OSError as exc:  # a read-only mount: root's permission checks pass, the write does not
            full = new_run_storage_error(exc, parent, parent / f"{prefix}{name}")
            if full is not None:
                raise full from None
            raise WorkspaceError(f"workspace_path {str(parent)!r} cannot be written: {exc.strerror or exc}",
                                 field="workspace_path", value=str(parent),
                                 allowed="a writable folder (or a new path under one)",
                                 hint="pass a workspace_path you can write to") from None
        os.chmod(parent / f"{prefix}{name}", DIR_MODE)  # whatever the umask
        return parent / f"{prefix}{name}"
    raise WorkspaceError(f"could not create a unique run folder under {str(parent)!r}", field="workspace_path",
                         value=str(parent), hint="run the same command again")


def stage_run_dir(workspace_path: str | Path) -> tuple[Path, Path, RunLock]:
    """``(staging folder, final run folder, lock held on the staging folder)`` for a new run.

    Build the run inside the staging folder, then :func:`publish_run_dir`; the lock (an ``flock`` on an
    open file) stays held across the rename.
    """
    staging = new_run_dir(workspace_path, prefix=STAGING_PREFIX)
    final = staging.parent / staging.name[len(STAGING_PREFIX):]
    try:
        lock = RunLock(staging).acquire()
    except BaseException as exc:  # a full disk: the lock file's pid could not be written; nothing is left behind
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        full = new_run_storage_error(exc, staging.parent, staging / LOCK_NAME)
        if full is not None:
            raise full from None
        raise
    _discard_stale_staging(final.parent, keep=staging)
    return staging, final, lock


def publish_run_dir(staging: Path, final: Path, lock: RunLock | None = None) -> None:
    """Rename a fully written staging folder to its run name (atomic on one filesystem)."""
    if final.exists():
        raise WorkspaceError(f"run folder {str(final)!r} appeared while this run was being set up; start again",
                             field="workspace_path", value=str(final.parent), hint="run the same command again")
    os.rename(staging, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself is durable before any job starts
    finally:
        os.close(fd)
    if lock is not None:
        lock.path = final / LOCK_NAME


def discard_staging(staging: Path, lock: RunLock) -> None:
    """Remove a run folder whose setup failed, staging or just published (nothing ran in it)."""
    lock.release()
    import shutil  # only when a folder is removed (status reads this module too)

    shutil.rmtree(staging, ignore_errors=True)


def _discard_stale_staging(parent: Path, keep: Path) -> None:
    for path in parent.glob(f"{STAGING_PREFIX}run_*"):
        if path == keep or not path.is_dir():
            continue
        lock_file = path / LOCK_NAME
        if not lock_file.exists():
            if time.time() - path.stat().st_mtime < _STALE_STAGING_S:
                continue  # another process may be about to lock it
        else:
            try:
                RunLock(path).acquire().release()
            except WorkspaceLockedError:
                continue  # a live process is still setting it up
        import logging  # the one log line here; read-only commands start without logging

        logging.getLogger(__name__).info("removing %s: a run whose setup was interrupted (no job ever ran in it)", path)
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def check_complete(run_dir: Path, meta: Mapping[str, Any], field: str = "run_dir") -> None:
    """A clear error when ``run_dir``'s metadata was never written (its setup was interrupted); ``field``: the
    argument that named the folder."""
    if "space" in meta:  # written in one transaction with every other key of a new run
        return
    raise WorkspaceError(
        f"cannot resume {str(run_dir)!r}: its setup was interrupted before the run's metadata was written, so "
        "no rec or job ever ran in it; delete this folder and start the sweep again", field=field,
        value=str(run_dir), allowed="a run folder whose setup completed (it holds the run's metadata)",
        hint="start the sweep again (a new run folder is made; this one can be deleted)")


def existing_run_dir(path: str | Path, field: str = "run_dir") -> Path:
    """The run folder to resume: it must already hold a run's state. ``field``: the argument that named it
    (``run_dir`` of the CLI and tools, ``workspace_path`` of ``AutoMLRunner.run(resume=True)``)."""
    run_dir = Path(path).expanduser()
    printed = ("the run folder printed by `tao-automl run`" if field == "run_dir" else
               "the run folder of the run (its result's run_dir, or the runner's run_dir)")
    if not (run_dir / DB_NAME).exists():
        from tao_automl.experiment.run_folders import no_run_message, workspace_runs

        runs = [run_dir / name for name in workspace_runs(run_dir)]
        if runs:  # a workspace: its runs are what is allowed (an agent has no `runs` command to list them)
            # absolute: a caller whose working directory is not this process's (an MCP client) can pass them on
            runs = [p.absolute() for p in runs]
            named = ", ".join(p.name for p in runs[-5:])
            if len(runs) == 1:
                held = f"it holds this run: {named} (pass it)"
            elif len(runs) <= 5:
                held = f"it holds these runs: {named} (pass one of them)"
            else:  # the newest five only: say so, and where every one is listed
                from tao_automl.util.shell import sh

                held = (f"it holds {len(runs)} runs, the newest 5: {named} (pass one of them; `tao-automl runs "
                        f"{sh(run_dir)}` lists all)")
            raise WorkspaceError(
                f"no run state at {str(run_dir)!r} (no {DB_NAME}): it is a workspace; {held}", field=field,
                value=str(run_dir),
                allowed=[str(p) for p in runs[-10:]],
                hint=f"pass one of its run folders; the newest is {str(runs[-1])!r}")
        # in the words of status, report, export and logs: no such folder, not a folder, or no state.db in it
        raise WorkspaceError(no_run_message(run_dir), field=field,
                             value=str(run_dir), allowed="a run folder made by `tao-automl run` (it holds state.db)",
                             hint=f"pass {printed}; `tao-automl runs WORKSPACE` lists them")
    return run_dir


def _holder_pid(fd: int) -> int | None:
    """The pid holding the lock ``fd`` failed to take (:data:`UNSEEN`: held by a process this one cannot see), or
    None when not known."""
    try:
        pid = ofd_lock.holder(fd) if ofd_lock.SUPPORTED else None
    except OSError:
        pid = None
    if pid:
        return pid
    named = flock_holder(fd)
    if named is None and pid == UNSEEN:
        return UNSEEN
    return named or None


def _holder_named(pid: int | None) -> str:
    """Who holds the lock, for the error: ``pid N``, or what is known of it."""
    return describe_holder(pid) if pid is not None else "pid not known"


#: What to do when this process holds a run folder already, for an AutoML's (ask/tell) run.
ASK_TELL_HELD_HINT = ("call finish() on the AutoML that holds it (it releases the folder; so does dropping every "
                      "reference to it), then reopen it with AutoML(workspace, resume=True)")
#: The same, for a run of AutoMLRunner (or `tao-automl run`), which AutoML(workspace, resume=True) refuses.
RUNNER_HELD_HINT = ("its run() (in another thread) returns when the sweep ends or is interrupted; then "
                    "run(workspace_path=..., resume=True) continues it if recs are left")


#: Seconds :meth:`RunLock.acquire` waits for a lock whose holder has ended (killed) but that is still held: a process
#: the holder forked shares the lock's open file until its exec closes it, which comes within moments (a resume right
#: after `kill -9` of an orchestrator was refused "in use by another orchestrator (pid N)" naming the dead pid).
DEAD_HOLDER_WAIT_S = 5.0


class RunLock:
    """An exclusive ``flock`` on the run folder, released by the OS even when the process is killed."""

    def __init__(self, run_dir: Path, *, held_here_hint: str = ASK_TELL_HELD_HINT) -> None:
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None
        self._held_here_hint = held_here_hint  # what to do when this very process holds it already

    def acquire(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except IsADirectoryError:  # made by hand or a bad copy: no lock can be taken in it
            raise WorkspaceError(f"the run folder's lock file {str(self.path)!r} is a folder, not a file",
                                 field="run_dir", value=str(self.path.parent),
                                 allowed=f"a run folder whose {LOCK_NAME} is a file, or absent",
                                 hint=f"remove the folder {str(self.path)!r} (no run data is kept in it; check that "
                                      "nothing of yours is inside), then retry") from None
        give_up = time.monotonic() + DEAD_HOLDER_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if ofd_lock.SUPPORTED:
                    try:
                        ofd_lock.take(fd)
                    except BlockingIOError:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                        raise
                break
            except BlockingIOError:
                holder_pid = _holder_pid(fd)
                if holder_pid is None or holder_pid <= 0 or runs(holder_pid) or time.monotonic() >= give_up:
                    self._refuse(fd, holder_pid)
                time.sleep(0.05)  # its holder has ended (kill -9): a child it forked still shares the lock's open
                # file until its exec closes it, within moments
        self._fd = fd
        pid = str(os.getpid()).encode()
        try:
            os.pwrite(fd, pid, 0)  # then cut what a longer old pid left: the file is never empty in between
            os.ftruncate(fd, len(pid))
            os.fsync(fd)
        except BaseException:  # a full disk: the lock is not kept half-taken (nor its file descriptor)
            self.release()
            raise
        return self

    def _refuse(self, fd: int, holder_pid: int | None) -> NoReturn:
        """Close ``fd`` and raise the refusal for a lock held by ``holder_pid``."""
        holder = _holder_named(holder_pid)
        os.close(fd)
        folder = self.path.parent
        if holder_pid is not None and holder_pid > 0 and is_stop_writing(folder, holder_pid):
            raise WorkspaceLockedError(
                f"run folder {str(folder)!r} is being written by a `tao-automl stop` ({holder}) that records "
                "its cancels; it is no orchestrator and ends by itself", field="run_dir", value=str(folder),
                hint="retry once it has ended (`tao-automl status` then shows the run stopped)") from None
        if holder == f"pid {os.getpid()}":  # this very process: an AutoML or run still open on the folder
            raise WorkspaceLockedError(
                f"run folder {str(folder)!r} is already open in this process ({holder}): an AutoML (or a "
                "run) on it has not finished", field="run_dir", value=str(folder),
                hint=self._held_here_hint) from None
        if holder_pid is not None and holder_pid > 0 and not runs(holder_pid):
            raise WorkspaceLockedError(
                f"run folder {str(folder)!r} is still locked {DEAD_HOLDER_WAIT_S:g} s after its orchestrator "
                f"({holder}) ended: a process it started shares its lock", field="run_dir", value=str(folder),
                hint=f"find it with `fuser -v {sh(self.path)}` (or lsof); once it ends, retry") from None
        raise WorkspaceLockedError(
            f"run folder {str(folder)!r} is in use by another orchestrator ({holder}); "
            "wait for it to end or stop it first", field="run_dir", value=str(folder),
            hint=f"poll `tao-automl status {sh(folder)}` until it ends, or `tao-automl stop {sh(folder)}`"
        ) from None

    def release(self) -> None:
        if self._fd is not None:
            if ofd_lock.SUPPORTED:
                ofd_lock.drop(self._fd, quietly=True)  # first, as the kernel does on close: a next holder finds
                # both free (quietly: a file system without OFD locks, where none were taken)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

"""Detached runs: start an orchestrator in its own session, resume one detached, stop one gracefully.

The caller validates everything and creates the run folder itself (so every bad input is refused before
anything starts), then :func:`spawn_orchestrator` starts ``python -m tao_automl.runner.orchestrator RUN_DIR``
with ``start_new_session=True`` and its output in ``RUN_DIR/orchestrator.log``, and returns once that process
holds the run folder's lock. :func:`stop_run` sends it ``SIGTERM`` (handled like Ctrl-C: in-flight jobs keep
running so ``resume`` re-attaches) and, with ``cancel_jobs``, cancels the jobs still in flight afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tao_automl
from tao_automl.errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_NO_RESULT,
    EXIT_RUN_BUSY,
    EXIT_USER_ERROR,
    TaoAutoMLError,
    UserInputError,
    WorkspaceError,
    WorkspaceLockedError,
)
from tao_automl.experiment.holder import (
    LOG_NAME,
    STOP_WRITING_PREFIX,
    UNSEEN,
    describe_holder,
    is_stop_writing,
    lock_holder,
    orchestrator_info,
    resume_command,
    unless_ended,
)
from tao_automl.experiment.workspace import RunLock, existing_run_dir
from tao_automl.util.crash import crash_point
from tao_automl.util.interrupts import interrupts_held
from tao_automl.util.shell import sh

#: Environment variable that hands an LLM API key to the detached orchestrator (never written to disk).
LLM_KEY_ENV = "TAO_AUTOML_DETACHED_LLM_API_KEY"
#: How long ``start``/``resume --detach`` wait for the orchestrator to take the run folder.
START_WAIT_S = 60.0
#: How long ``stop`` waits for the orchestrator to close the run.
STOP_WAIT_S = 60.0
#: Written in the run folder while its detached orchestrator is being started: the pid of the process that will hand
#: the run over or take it (the starter, then the orchestrator). A ``stop`` that finds no holder while that process
#: lives waits for the orchestrator to take the run, then stops it (it closed the run, and the orchestrator then took
#: it over and ran the whole sweep).
STARTING_FILE = "orchestrator.starting"


def mark_starting(run_dir: Path, pid: int) -> None:
    """Record that process ``pid`` is about to start, or is, the detached orchestrator of ``run_dir``."""
    (run_dir / STARTING_FILE).write_text(str(pid), encoding="utf-8")


def _starting_pid(run_dir: Path) -> int | None:
    """The live process :func:`mark_starting` recorded for ``run_dir``; None when none is recorded or it has ended."""
    try:
        pid = int((run_dir / STARTING_FILE).read_text(encoding="utf-8").strip())
        os.kill(pid, 0)
    except (OSError, ValueError):  # no marker, or one whose process is gone
        return None
    return pid


def _wait_starter_gone(run_dir: Path, timeout_s: float) -> None:
    """Wait up to ``timeout_s`` until no process is starting the run's orchestrator (:data:`STARTING_FILE`) and the
    lock is free."""
    deadline = time.monotonic() + timeout_s
    while _starting_pid(run_dir) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    _wait_released(run_dir, max(0.0, deadline - time.monotonic()))


def _holder_once_started(run_dir: Path, timeout_s: float) -> int | None:
    """The run's lock holder, waiting up to ``timeout_s`` while an orchestrator is being started and holds nothing
    yet (:data:`STARTING_FILE`). The marker is read before the holder: its starter removes it only once the
    orchestrator holds the run (or has ended), so a holder read after a missing marker is never one taken unseen."""
    deadline = time.monotonic() + timeout_s
    while True:
        starting = _starting_pid(run_dir)
        holder = lock_holder(run_dir)
        if holder is not None or starting is None or time.monotonic() >= deadline:
            return holder
        time.sleep(0.05)


def stop_cancels_jobs(run_dir: str | Path) -> bool:
    """Whether a ``stop --cancel-jobs`` that is still alive is stopping the run at ``run_dir``, as its store records
    it (:func:`~tao_automl.experiment.holder.cancelling_jobs`); False when the store cannot be read."""
    from tao_automl.experiment.holder import cancelling_jobs
    from tao_automl.experiment.store import read_meta

    try:
        return cancelling_jobs(read_meta(run_dir))
    except (OSError, sqlite3.Error, TaoAutoMLError):
        return False


def _record_cancelling(folder: Path, cancelling: bool) -> None:
    """Record in the run's store that this process (a ``stop --cancel-jobs``) is cancelling its in-flight jobs, or
    that it is done (:data:`~tao_automl.experiment.store.CANCEL_JOBS_ASKED`): committed before the orchestrator is
    signalled, so the run's own result, ``status`` and ``query_status`` never call those jobs left running."""
    import socket

    from tao_automl.experiment.store import CANCEL_JOBS_ASKED, RunStore

    asked = {"pid": os.getpid(), "host": socket.gethostname(), "at": time.time()} if cancelling else None
    store = RunStore(folder)
    try:
        store.set_meta({CANCEL_JOBS_ASKED: asked}, event=CANCEL_JOBS_ASKED if cancelling else "cancel_jobs_done")
    finally:
        store.close()


class OrchestratorError(TaoAutoMLError):
    """A detached orchestrator did not start, or did not stop in time."""

    kind = "orchestrator"
    default_hint = "read RUN_DIR/orchestrator.log; retry stop, or resume --detach"


def refuse_callables(**named: Any) -> None:
    """Callables cannot cross into the detached process: refuse them before anything is created."""
    for name, value in named.items():
        if value is not None:
            raise UserInputError(
                f"{name}: a detached run cannot take a Python callable ({type(value).__name__})", field=name,
                value=type(value).__name__, allowed=[None],
                hint="drop it (the metric is read from the job's results), or run in this process with "
                     "long_running_enabled: false")


def check_rebuildable(sdk: Any) -> None:
    """The detached process rebuilds the SDK from the run folder; only registered platforms can be rebuilt."""
    from tao_automl.platforms.registry import PLATFORMS, describe_sdk, platform_name

    cls = str(describe_sdk(sdk)["class"])
    if platform_name(cls) is None:
        raise UserInputError(
            f"sdk: {cls} is not a registered platform, so a detached orchestrator cannot rebuild it", field="sdk",
            value=cls, allowed=sorted(PLATFORMS), hint="use a registered platform SDK, or run() in this process")


def _child_env(llm_api_key: str | None) -> dict[str, str]:
    """The detached orchestrator's environment; every job it starts inherits it (local jobs, Slurm's exported
    environment), so a regular install's site-packages folder, which the orchestrator finds without it, is never put
    on ``PYTHONPATH``: a job's own interpreter would import this environment's packages first."""
    env = dict(os.environ)
    package_root = Path(tao_automl.__file__).resolve().parents[1]
    if not _site_folder(package_root):  # a source checkout run without installing: the orchestrator needs it
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if llm_api_key:
        env[LLM_KEY_ENV] = llm_api_key
    else:
        env.pop(LLM_KEY_ENV, None)
    return env


def _site_folder(folder: Path) -> bool:
    """Whether ``folder`` is one of this interpreter's site-packages folders (found by ``sys.executable`` itself)."""
    import site

    own = [*site.getsitepackages(), site.getusersitepackages()]
    return folder in {Path(p).resolve() for p in own}


def _log_size(run_dir: Path) -> int:
    try:
        return (run_dir / LOG_NAME).stat().st_size
    except OSError:
        return 0


def _log_tail(run_dir: Path, since: int = 0, lines: int = 5) -> str:
    """The last ``lines`` lines the orchestrator log got from byte ``since`` on (every orchestrator of a run appends
    to it: an earlier one's lines are not this one's); "(nothing in its log)" when it wrote none."""
    try:
        with open(run_dir / LOG_NAME, "rb") as handle:
            handle.seek(since)
            text = handle.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(nothing in its log)"


def _ended_how(code: int) -> str:
    """``exited with code N``, or, for a child ended by a signal (a negative return code), which signal."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"was killed by {name}"


def spawn_orchestrator(run_dir: Path, *, llm_api_key: str | None = None, wait_s: float = START_WAIT_S) -> Path:
    """Start the detached orchestrator of ``run_dir``; return once it holds the run folder's lock and has recorded
    itself (``orchestrator.json``: a report made at once names it detached, with its start time). While it starts,
    :data:`STARTING_FILE` names it, so a ``stop`` in between stops it once it holds the run."""
    mark_starting(run_dir, os.getpid())
    keep = False  # the orchestrator still starts when this returns: the marker stays, naming it
    started: list[subprocess.Popen[bytes]] = []
    try:
        with _hangup_ignored():  # a closed terminal (an ssh session dropped) is no stop: the orchestrator runs on
            keep, found = _spawn(run_dir, llm_api_key, wait_s, started)
        return found
    except KeyboardInterrupt:  # Ctrl-C or `stop` while it starts: it must not take the run over behind this answer
        if started:
            _call_off(run_dir, started[0])
        raise
    finally:
        if not keep:
            with contextlib.suppress(OSError):
                (run_dir / STARTING_FILE).unlink(missing_ok=True)


@contextlib.contextmanager
def _hangup_ignored() -> Iterator[None]:
    """Run the block with SIGHUP ignored (main thread only): `tao-automl run` ends a foreground run on it, but a
    detached orchestrator is what outlives its terminal, so its start is not called off when the terminal closes."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, before if before is not None else signal.SIG_DFL)


def _spawn(run_dir: Path, llm_api_key: str | None, wait_s: float,
           started: list[subprocess.Popen[bytes]]) -> tuple[bool, Path]:
    """:func:`spawn_orchestrator` once its marker is written: (whether the orchestrator is still starting, run_dir);
    the process it starts is appended to ``started`` before an interrupt can land."""
    holder = lock_holder(run_dir)
    if holder is not None:
        raise WorkspaceLockedError(f"run folder {str(run_dir)!r} already has an orchestrator "
                                   f"({describe_holder(holder)})", field="run_dir", value=str(run_dir),
                                   hint=f"watch it with `tao-automl status {sh(run_dir)}` or end it with "
                                        f"`tao-automl stop {sh(run_dir)}`")
    since, started_at = _log_size(run_dir), time.time()
    with open(run_dir / LOG_NAME, "ab") as log_file, interrupts_held():  # the child is known before any interrupt
        proc = subprocess.Popen(
            [sys.executable, "-m", "tao_automl.runner.orchestrator", str(run_dir)], stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            env=_child_env(llm_api_key))
        started.append(proc)
    mark_starting(run_dir, proc.pid)
    return _await_orchestrator(run_dir, proc, since, started_at, wait_s)


def _call_off(run_dir: Path, proc: subprocess.Popen[bytes]) -> None:
    """End ``proc``, an orchestrator still starting (SIGTERM: one that took the run closes it as interrupted; SIGKILL
    after :data:`STOP_WAIT_S`), and close the run as interrupted if it never took it over. The marker names this
    process meanwhile, so a ``stop`` waits for all of it."""
    with contextlib.suppress(OSError):
        mark_starting(run_dir, os.getpid())
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _close_never_started(run_dir)


def _await_orchestrator(run_dir: Path, proc: subprocess.Popen[bytes], since: int, started: float,
                        wait_s: float) -> tuple[bool, Path]:
    """:func:`_spawn`'s wait for ``proc`` to take the run over: (whether it is still starting, run_dir)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if lock_holder(run_dir) == proc.pid and _claimed(run_dir, proc.pid):
            return False, run_dir
        code = proc.poll()
        if code == 0:  # it already did all there was to do (a finished run, or a few quick recs): not a failure
            return False, run_dir
        if code == EXIT_NO_RESULT and _closed_since(run_dir, started):  # it took the run over and closed it at
            return False, run_dir  # once (every rec had ended, none with a result): `status` tells the run's end
        if code == EXIT_INTERRUPTED:  # it took the run over and a `tao-automl stop` ended it (its only SIGTERM)
            return False, run_dir
        if code == EXIT_RUN_BUSY:  # another orchestrator took the folder first (two resumes at once)
            holder = lock_holder(run_dir, thorough=True)
            raise WorkspaceLockedError(
                f"run folder {str(run_dir)!r} already has an orchestrator ({describe_holder(holder)}): it took the "
                "folder first",
                field="run_dir", value=str(run_dir),
                hint=f"watch it with `tao-automl status {sh(run_dir)}` or end it with `tao-automl stop {sh(run_dir)}`")
        if code is not None:
            _close_never_started(run_dir)
            raise OrchestratorError(  # a code of the README's table passes on; a signal, or any other, is 1
                f"the detached orchestrator {_ended_how(code)} before it took the run over: "
                f"{_log_tail(run_dir, since)}",
                field="run_dir", value=str(run_dir), exit_code=code if code in EXIT_CODES else EXIT_NO_RESULT,
                hint=(f"it refused the run: the message above (from {run_dir / LOG_NAME}) says what to do"
                      if code == EXIT_USER_ERROR else  # e.g. a copy whose original exists: resume the original
                      f"read {run_dir / LOG_NAME}; fix the cause, then `{resume_command(run_dir)} --detach`"))
        time.sleep(0.05)
    return True, run_dir  # still importing on a loaded machine: it runs on; `status` shows when it holds the folder


def _claimed(run_dir: Path, pid: int) -> bool:
    """Whether process ``pid`` recorded itself as the run's detached orchestrator (it does so just after it takes
    the lock)."""
    info = orchestrator_info(run_dir)
    return bool(info["detached"]) and info["pid"] == pid and info["started_at"] is not None


def _closed_since(run_dir: Path, started: float) -> bool:
    """Whether the run was closed (finished or failed) by an orchestrator that started at ``started`` or later."""
    from tao_automl.experiment.store import read_meta

    try:
        meta = read_meta(run_dir)
    except (OSError, sqlite3.Error, TaoAutoMLError):
        return False
    ended = meta.get("ended_at")
    return meta.get("state") in ("finished", "failed") and isinstance(ended, (int, float)) and ended >= started - 1.0


def _close_never_started(run_dir: Path) -> None:
    """A run left ``starting`` by a detached orchestrator that died before it took the run over is closed as
    ``interrupted`` now, as status would show it after its grace time (readers waited up to 90 s for it)."""
    from tao_automl.experiment.holder import ORCHESTRATOR_NEVER_STARTED
    from tao_automl.experiment.store import RunStore, read_meta

    try:
        if read_meta(run_dir).get("state") != "starting":
            return
        with RunLock(run_dir):
            store = RunStore(run_dir)
            try:
                if store.meta().get("state") == "starting":
                    store.set_meta({"state": "interrupted", "ended_at": time.time(),
                                    "stop_reason": f"{ORCHESTRATOR_NEVER_STARTED}; `tao-automl resume` continues it"},
                                   event="run_interrupted")
            finally:
                store.close()
    except (OSError, sqlite3.Error, TaoAutoMLError):  # another process took it (not ours to close), or unreadable
        return


def detach_summary(run_dir: Path) -> dict[str, Any]:
    """What ``run()`` returns for a detached run: the status so far plus the orchestrator and the run folder."""
    from tao_automl.status import query_status

    status = query_status(run_dir)
    status["detached"] = True
    status["run_dir"] = str(run_dir)
    status.setdefault("orchestrator", orchestrator_info(run_dir))
    return status


def _runner_meta(run_dir: Path) -> dict[str, Any]:
    from tao_automl.experiment.store import read_meta

    meta = read_meta(run_dir)
    if meta.get("mode") != "runner":  # as `tao-automl resume` says it
        raise WorkspaceError(f"{str(run_dir)!r} was not started by the runner (mode {meta.get('mode')!r})",
                             field="run_dir", value=str(run_dir), allowed="a run folder made by `tao-automl run`",
                             hint="an ask/tell run has no orchestrator: it continues from Python: "
                                  "tao_automl.AutoML(..., resume=True)" if meta.get("mode") == "ask_tell"
                             else "pass a folder made by `tao-automl run`")
    return meta


def _sdk_for(run_dir: Path, meta: dict[str, Any]) -> Any:
    from tao_automl.platforms.registry import rebuild_sdk

    return rebuild_sdk(run_dir, meta.get("platform"))


def _store_unrecorded_jobs(store: Any, sdk: Any, folder: Path) -> None:
    """Store the job id of each rec whose job the platform took but whose orchestrator was killed before it stored
    the id (between ``create_job`` and its record), found by the rec's job name as a resume finds it; so
    ``stop --cancel-jobs`` cancels that job too instead of leaving it running. A rec the lookup finds no job for
    was never submitted and stays as it is (a resume submits it)."""
    from tao_automl.experiment.store import ACTIVE_STATES, UNSUBMITTED
    from tao_automl.experiment.workspace import rec_folder
    from tao_automl.runner.guard import lookup_job

    for rec in store.recs():
        if rec.job_id or not rec.job_name or rec.status not in (UNSUBMITTED, *ACTIVE_STATES):
            continue
        results_dir = rec.results_dir or str(rec_folder(folder, rec.rec_id) / "results")
        job = lookup_job(sdk, rec.job_name, results_dir)
        if job is not None:
            store.mark_submitted(rec.rec_id, str(job.id), str(getattr(job, "results_dir", "") or results_dir))


def _earlier_cancel(store: Any, rec_id: int, job_id: str) -> str | None:
    """The message of the last cancel decided for ``job_id`` of rec ``rec_id`` before now (a ``stop --cancel-jobs``
    or the sweep's own cancel, recorded before its cancel was sent); None when none was."""
    from tao_automl.experiment.store import CANCEL_DECIDED

    decided = [event for event in store.events(CANCEL_DECIDED, rec_id) if event["payload"].get("job_id") == job_id]
    return str(decided[-1]["payload"].get("message") or "cancelled") if decided else None


def _ended_cancelled(sdk: Any, job_id: str) -> bool:
    """Whether the platform says ``job_id`` ended cancelled (False when it cannot say)."""
    from tao_automl.platforms.base import JobStatus

    try:
        return bool(sdk.get_job_status(job_id) == JobStatus.CANCELLED)
    except Exception:  # an unknown end is not a cancel: the job is left for resume, as any ended job
        return False


def _track_cancelled(folder: Path, state: str) -> None:
    """The run's trackers (W&B, MLflow), told what an orchestrator would have told them: every rec that ended,
    the cancelled ones too, and that the sweep stopped. Their failures are logged, never raised."""
    from tao_automl.experiment.store import read_meta, record_tracking_errors
    from tao_automl.tracking.base import ObserverSet
    from tao_automl.tracking.config import build_observers

    meta = read_meta(folder)
    if not (meta.get("wandb") or meta.get("mlflow")):
        return
    # their failures go into the run's record, as a sweep's do
    trackers = ObserverSet(build_observers(meta.get("wandb"), meta.get("mlflow")),
                           record=functools.partial(record_tracking_errors, folder))
    trackers.sweep_started(folder)  # logs each ended rec it has not logged yet
    trackers.sweep_ended(folder, state)


def _cancel_failed(folder: Path, job_id: str, exc: Exception, cancelled: list[str]) -> TaoAutoMLError:
    """The error of a ``stop --cancel-jobs`` whose platform failed to cancel ``job_id``: exit 3 when it could not
    be contacted at all. The orchestrator was stopped either way; the jobs not cancelled still run."""
    from tao_automl.errors import PlatformError, PlatformUnreachableError
    from tao_automl.util.reach import unreachable_error, unreachable_text

    which = f"it was not cancelled and may still run (cancelled: {', '.join(cancelled)})" if cancelled else \
        "it and the run's other in-flight jobs were not cancelled and may still run"
    message = (f"stopping {folder}: the orchestrator was stopped, but cancelling job {job_id} failed, so {which}: "
               f"{type(exc).__name__}: {exc}")
    hint = (f"retry `tao-automl stop {sh(folder)} --cancel-jobs` once the platform answers (or cancel the jobs on the "
            f"platform); `{resume_command(folder)}` re-attaches to them instead")
    if unreachable_error(exc) or unreachable_text(str(exc)):  # no answer, or a client saying it got none
        return PlatformUnreachableError(message, field="platform", value=job_id,
                                        allowed="a platform that answers from this machine", hint=hint)
    return PlatformError(message, field="platform", value=job_id, hint=hint)


def _epochs_trained(sdk: Any, store: Any, rec: Any, job_id: str) -> int | None:
    """The epochs the job of ``rec`` reported before this stop cancelled it (its status.json, counted as the report
    and the exports draw its curve): the rec's ``budget_reached``; None when it reported none or they cannot be read
    (a detail of a cancel, never one that fails the stop)."""
    from tao_automl.experiment.summary import resumes_checkpoints
    from tao_automl.metrics.job import STATUS_FILE, read_results_file
    from tao_automl.metrics.parse import status_lines, trained_epoch_series

    try:
        text = read_results_file(sdk, job_id, rec.results_dir, STATUS_FILE)
        if not text:
            return None
        meta = store.meta()
        trial = rec.trial or {}
        parent = store.rec(int(trial["parent"])) if trial.get("parent") is not None and \
            resumes_checkpoints(meta) else None
        start = int(parent.budget_reached or 0) if parent is not None else 0
        planned = trial["budget"] if trial.get("budget") is not None else rec.budget
        epochs = [epoch for epoch, _ in trained_epoch_series(status_lines(text), str(meta.get("metric") or ""),
                                                              planned, start) if epoch is not None]
    except Exception:  # what it trained is a detail of a cancel, never one that fails the stop
        return None
    return max(epochs) if epochs and max(epochs) > 0 else None


def _cancel_all(sdk: Any, job_ids: list[str]) -> dict[str, bool | Exception]:
    """``sdk.cancel_job`` of every job at once (a thread each, at most 16): what each answered, or its exception."""
    from tao_automl.util.threads import at_once

    def one(job_id: str) -> bool | Exception:
        try:
            return bool(sdk.cancel_job(job_id))
        except Exception as exc:  # the caller reports the first, in the run's order
            return exc

    return dict(zip(job_ids, at_once(one, job_ids, "cancel"), strict=True))


def nothing_to_resume(run_dir: str | Path) -> str | None:
    """Why resuming the run at ``run_dir`` would launch nothing (every rec of its budget has ended, none in flight; or
    its brain proposed no more recs before its budget), or None when a resume has work to do. A detached resume of
    such a run starts no orchestrator and says so. Jobs its ended recs still hold (a release that failed) are
    released first where its platform can be rebuilt, and the answer says so."""
    from tao_automl.experiment.holder import resume_facts
    from tao_automl.experiment.lines import ENDED_EARLY_WHY, budget_spent, ended_early

    folder = existing_run_dir(run_dir).resolve()
    meta = _runner_meta(folder)  # a folder a resume refuses (an ask/tell run, a damaged one) is refused first
    if lock_holder(folder) is not None:  # an orchestrator holds it: the resume's own answer (busy) says so
        return None
    progress = stored_progress(folder)
    # a run not closed as finished or failed (its orchestrator lost before it closed it, or stopped, e.g. with
    # `stop --cancel-jobs` ending its last recs): a resume closes it as it ended
    if progress.get("state") not in ("finished", "failed"):
        return None
    if budget_spent(progress):
        note = (f"nothing to resume: every rec of the run's budget has ended ({progress.get('completed')} of "
                f"{progress.get('total')}, state {progress.get('state')}); no orchestrator was started")
    elif ended_early(resume_facts(meta), progress):
        note = (f"nothing to resume: {ENDED_EARLY_WHY} ({progress.get('completed')} of {progress.get('total')} recs, "
                f"state {progress.get('state')}); no orchestrator was started")
    else:
        return None
    from tao_automl.runner.orchestrator import heal_snapshot
    from tao_automl.runner.release import release_left_in_closed_run

    note += release_left_in_closed_run(folder, meta)  # a release that failed: the retry its warning promised
    heal_snapshot(folder)  # a process killed once it stored the run's end left status.json saying it ran
    return note


def stored_progress(folder: Path) -> dict[str, Any]:
    """The run's progress counts as its store holds them (read-only; no orchestrator needed)."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.experiment.summary import progress_from_counts

    store = RunStore(folder, readonly=True)
    try:
        return progress_from_counts(store.count_by_status(), None, False, store.meta())
    finally:
        store.close()


def repeat_warning(run_dir: str | Path) -> str | None:
    """What a resume of the run at ``run_dir`` should be told when its sweep stopped itself on a cause a resume
    meets again (``new_run_needed``: status and stop point at a new run): it runs anyway, with the same settings.
    None otherwise, or when the run cannot be read."""
    from tao_automl.experiment.store import NEW_RUN_NEEDED, read_meta

    try:
        meta = read_meta(existing_run_dir(run_dir))
    except (OSError, TaoAutoMLError):
        return None
    if not meta.get(NEW_RUN_NEEDED):
        return None
    return ("this run's sweep stopped itself on a cause a resume meets again (status and stop point at a new run; "
            f"its stop reason: {meta.get('stop_reason')}); it resumes with the same settings, so unless the cause "
            "was fixed outside them (the trainer, its data) it stops the same way")


def resume_detached(run_dir: str | Path, *, llm_api_key: str | None = None) -> Path:
    """Continue a run in a new detached orchestrator (its in-flight jobs are re-attached)."""
    folder = existing_run_dir(run_dir).resolve()
    meta = _runner_meta(folder)
    _sdk_for(folder, meta)  # the platform can be rebuilt (an unknown class or a missing extra is refused here)
    return spawn_orchestrator(folder, llm_api_key=llm_api_key)


def _wait_released(run_dir: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lock_holder(run_dir) is None:
            return True
        time.sleep(0.1)
    return lock_holder(run_dir) is None


def stop_run(run_dir: str | Path, *, cancel_jobs: bool = False, timeout_s: float = STOP_WAIT_S) -> dict[str, Any]:
    """End the run's orchestrator gracefully; with ``cancel_jobs`` cancel its in-flight jobs too.

    Returns ``{"run_dir", "was_running", "pid", "cancelled_jobs", "ended_jobs", "in_flight_jobs", "state",
    "next"}``; ``next`` is the command that continues the run, None when it finished with its whole budget; ``copy_of``:
    the original, for a copy of a run whose original still exists; ``left_open``: True for a run left open with its
    budget spent (a resume only closes it).
    ``ended_jobs``: jobs that had already ended when ``cancel_jobs`` came to them (the platform refused the
    cancel); their recs are left as they are, so ``resume`` collects their results instead of losing them.
    ``cancelled_earlier``: ``{"job_id", "rec_id", "message"}`` of jobs an earlier cancel had ended (a ``stop
    --cancel-jobs`` or the sweep's own, killed before it recorded the rec's end: the run folder holds its
    ``cancel_decided`` and the platform says the job ended cancelled); their recs are now recorded cancelled.
    Stopping a run that has no orchestrator is not an error (``was_running`` is false); cancelling still applies.
    """
    from tao_automl.experiment.holder import copy_of

    folder = existing_run_dir(run_dir).resolve()
    meta = _runner_meta(folder)
    original = copy_of(folder, meta)
    if cancel_jobs and original is not None:  # its jobs are the original's: cancelling them here loses its results
        raise WorkspaceError(
            f"cannot cancel jobs from {str(folder)!r}: it is a copy of the run at {original!r}, which still exists and "
            "owns those jobs", field="cancel_jobs", value=True, allowed=[False],
            hint=f"cancel them from the original: `tao-automl stop {shlex.quote(original)} --cancel-jobs`")
    pid = _holder_once_started(folder, timeout_s)  # one being started is stopped once it holds the run
    if pid == UNSEEN:
        raise OrchestratorError(
            f"the orchestrator of {str(folder)!r} runs in another pid namespace (a container) or on another machine: "
            "this process cannot signal it", field="run_dir", value=str(folder),
            hint=f"run `tao-automl stop {sh(folder)}` where it runs (in its container, or on its node)")
    pid = unless_ended(pid)  # none to signal then; a write below waits for the lock (RunLock: DEAD_HOLDER_WAIT_S)
    if pid is not None and is_stop_writing(folder, pid):
        _after_other_stop(folder, pid, timeout_s)
        pid = None  # it found the orchestrator (if any) and stopped it
    if cancel_jobs:  # a store that cannot take it is refused here, before anything is signalled or cancelled
        _record_cancelling(folder, True)
    try:
        return _stop(folder, meta, original, pid, cancel_jobs, timeout_s)
    finally:
        if cancel_jobs:
            _cancelling_done(folder)


def _cancelling_done(folder: Path) -> None:
    """Record that this ``stop --cancel-jobs`` is done; a store that cannot take it (a full disk) is warned about,
    not raised over the stop's own outcome: the record names this process, so it is ignored once it ends."""
    try:
        _record_cancelling(folder, False)
    except (OSError, sqlite3.Error, TaoAutoMLError) as exc:
        import logging

        logging.getLogger(__name__).warning("could not record in %s that the cancels are done: %s", folder, exc)


@contextlib.contextmanager
def _stop_lock(folder: Path, timeout_s: float) -> Iterator[None]:
    """The run's lock, held by this ``stop`` to write its record, with its ``stop-writing.<pid>`` marker made first
    (a stop that finds the lock held by this process then waits instead of signalling it)."""
    writing = folder / f"{STOP_WRITING_PREFIX}{os.getpid()}"
    writing.touch()
    try:
        lock = _lock_after_other_stops(folder, timeout_s)
        try:
            yield
        finally:
            lock.release()
    finally:
        with contextlib.suppress(OSError):
            writing.unlink(missing_ok=True)


def _lock_after_other_stops(folder: Path, timeout_s: float) -> RunLock:
    """The run's lock; while another ``stop`` holds it to write its record, that stop is waited for (up to
    ``timeout_s``); any other holder is refused as :class:`RunLock` refuses it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return RunLock(folder).acquire()
        except WorkspaceLockedError:
            holder = lock_holder(folder)
            other_stop = holder is not None and is_stop_writing(folder, holder)
            if holder is not None and not (other_stop and time.monotonic() < deadline):
                raise
        time.sleep(0.05)


def _after_other_stop(folder: Path, pid: int, timeout_s: float) -> None:
    """Wait until the ``stop`` of process ``pid``, which holds the run's lock to write its record, releases it (it
    is no orchestrator: nothing is signalled)."""
    if not _wait_released(folder, timeout_s):
        raise OrchestratorError(
            f"another `tao-automl stop` (pid {pid}) is still writing the run's record after {timeout_s:g} s",
            field="timeout_s", value=timeout_s, hint=f"wait for it to end, then retry `tao-automl stop {sh(folder)}`")


def _stop(folder: Path, meta: dict[str, Any], original: str | None, pid: int | None, cancel_jobs: bool,
          timeout_s: float) -> dict[str, Any]:
    """:func:`stop_run` once its marker for the orchestrator is written."""
    from tao_automl.experiment.holder import resume_facts
    from tao_automl.experiment.lines import budget_spent, ended_early, resumable
    from tao_automl.experiment.store import (
        ACTIVE_STATES,
        CANCEL_DECIDED,
        JOB_ENDED_UNCOLLECTED,
        STOP_CANCEL_MESSAGE,
        RecStatus,
        RunStore,
        read_meta,
    )
    from tao_automl.platforms.base import as_platform
    from tao_automl.runner.release import release_pending

    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_released(folder, timeout_s):
            raise OrchestratorError(
                f"the orchestrator (pid {pid}) did not stop within {timeout_s:g} s", field="timeout_s",
                value=timeout_s, hint=f"wait and retry `tao-automl stop {sh(folder)}`, or `kill -9 {pid}` "
                                      "(the run stays resumable either way)")
        _wait_starter_gone(folder, timeout_s)  # a `run --detach` it interrupted first calls its orchestrator off
    cancelled: list[str] = []
    ended: list[str] = []  # jobs that had ended before the cancel: left for `resume` to collect
    cancelled_earlier: list[dict[str, Any]] = []  # jobs an earlier cancel ended, killed before it recorded so
    refused: tuple[str, Exception] | None = None  # the first job whose cancel failed, and why
    state = read_meta(folder).get("state")
    # "running" with no holder: its orchestrator died (kill -9, a crash); "starting": it never took over
    if cancel_jobs or state in ("running", "starting"):
        sdk = _sdk_for(folder, meta) if cancel_jobs else None
        # taken only to write: a plain stop never races an orchestrator that is starting
        with _stop_lock(folder, timeout_s):
            store = RunStore(folder)
            # a run still "running" here lost its orchestrator: it ended at its last recorded activity (as status
            # shows it), not now; read before this stop's own events
            died_at = store.last_event_at() if state in ("running", "starting") else None
            try:
                if sdk is not None:
                    _store_unrecorded_jobs(store, sdk, folder)
                    todo = [(rec, str(rec.job_id)) for rec in store.recs()
                            if rec.status in ACTIVE_STATES and rec.job_id]
                    earliers = {rec.rec_id: _earlier_cancel(store, rec.rec_id, job_id) for rec, job_id in todo}
                    for rec, job_id in todo:
                        # recorded first: if this stop is killed after the cancel and before the rec's end
                        # below, the resume that finds the job cancelled reads who cancelled it here
                        store.log_event(CANCEL_DECIDED, rec.rec_id, job_id=job_id, message=STOP_CANCEL_MESSAGE)
                    # all at once: each cancel waits until its job has stopped (a job ignoring SIGTERM runs on for
                    # the platform's grace period), so one after the other took that long per job
                    outcomes = _cancel_all(sdk, [job_id for _, job_id in todo])
                    for rec, job_id in todo:
                        gone = outcomes[job_id]
                        earlier = earliers[rec.rec_id]
                        if isinstance(gone, Exception):  # the platform failed: the run stays interrupted
                            refused = refused or (job_id, gone)
                            continue
                        if not gone and earlier is not None and _ended_cancelled(sdk, job_id):
                            # an earlier cancel (a stop, or the sweep's own) was killed before it recorded the
                            # rec's end: its decision ends the rec, as a resume would end it
                            store.log_event("job_cancelled", rec.rec_id, job_id=job_id, by=earlier)
                            store.finish_rec(rec.rec_id, RecStatus.CANCELLED, None, earlier,
                                             budget_reached=_epochs_trained(sdk, store, rec, job_id))
                            cancelled_earlier.append({"job_id": job_id, "rec_id": rec.rec_id,
                                                      "message": earlier})
                            continue
                        if not gone:  # it ended first: its result is the run's to collect
                            ended.append(job_id)
                            store.log_event(JOB_ENDED_UNCOLLECTED, rec.rec_id, job_id=job_id)
                            continue
                        crash_point("stop_job_cancelled")  # chaos tests: the job is cancelled, its rec not ended
                        store.log_event("job_cancelled", rec.rec_id, job_id=job_id, by="stop --cancel-jobs")
                        # ended now, as the runner ends a rec it cancels (status shows no job that is not running)
                        store.finish_rec(rec.rec_id, RecStatus.CANCELLED, None, STOP_CANCEL_MESSAGE,
                                         budget_reached=_epochs_trained(sdk, store, rec, job_id))
                        cancelled.append(job_id)
                    if refused is None:  # the cancelled recs' jobs, and any a dead orchestrator left unreleased
                        release_pending(as_platform(sdk), store)
                state = store.meta().get("state")
                if state in ("running", "starting"):
                    ended_at = died_at if died_at is not None else time.time()
                    store.set_meta({"state": "interrupted", "ended_at": ended_at}, event="run_interrupted")
                    state = "interrupted"
            finally:
                store.close()
        from tao_automl.runner.orchestrator import write_snapshot

        write_snapshot(folder, last=True)  # no orchestrator will rewrite RUN_DIR/status.json: this stop does
    if cancelled or cancelled_earlier:  # no orchestrator will tell the run's trackers about these recs: tell them now
        _track_cancelled(folder, str(state or "interrupted"))
    if refused is not None:
        raise _cancel_failed(folder, *refused, cancelled)
    progress = stored_progress(folder)
    facts = resume_facts(read_meta(folder))
    # a sweep that stopped itself on a cause resume cannot fix (its metric, a time limit) is continued by a new run,
    # as is one whose brain proposed no more recs before its budget: said (with why) as status --json shows them
    new_run = facts["new_run_needed"]
    early = not new_run and ended_early(facts, progress) and not budget_spent(progress)
    return {"run_dir": str(folder), "was_running": pid is not None, "pid": pid, "cancelled_jobs": cancelled,
            "ended_jobs": ended, "cancelled_earlier": cancelled_earlier,
            "in_flight_jobs": progress["running"] - len(ended), "state": state,
            "next": f"{resume_command(folder, original)} --detach" if resumable(facts, progress) else None,
            **({"new_run_needed": True, "stop_reason": progress.get("stop_reason")} if new_run else {}),
            **({"ended_early": True, "stop_reason": progress.get("stop_reason")} if early else {}),
            **({"platform_class": facts["platform_class"]} if "platform_class" in facts else {}),
            **({"left_open": True} if state == "interrupted" and budget_spent(progress) else {}),
            **({"copy_of": original} if original else {})}

"""Closing a run left open with its budget spent whose runner can no longer be rebuilt.

A run whose orchestrator was lost after its last rec ended (or whose last jobs `stop --cancel-jobs` cancelled) stays
``interrupted``; a resume launches nothing and only closes it. That resume needs no skill and no platform, so a run
whose model folder has since moved or been deleted is closed here, as the resume would close it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tao_automl.errors import TaoAutoMLError
from tao_automl.experiment.core import ENDED_STATES, Experiment
from tao_automl.experiment.holder import lock_holder
from tao_automl.experiment.lines import budget_spent
from tao_automl.experiment.store import read_meta
from tao_automl.experiment.workspace import RUNNER_HELD_HINT, RunLock, existing_run_dir
from tao_automl.util.crash import crash_point


def close_without_runner(run_dir: str | Path) -> str | None:
    """When the run at ``run_dir`` is left open (no orchestrator, not closed) with every rec of its budget ended and
    its runner cannot be rebuilt (its skill or platform moved, deleted or broken): close it as a resume that launches
    nothing closes it, and answer what was done. None when a resume is needed for it, or can do it itself: the run
    is closed or held, has recs in flight or budget left, or its runner can be rebuilt. A copy whose original still
    exists is refused as a resume refuses it."""
    from tao_automl.runner.detach import stored_progress
    from tao_automl.runner.loop import check_not_a_copy

    folder = existing_run_dir(run_dir).resolve()
    meta = read_meta(folder)
    if meta.get("mode") != "runner" or meta.get("state") in ENDED_STATES or lock_holder(folder) is not None:
        return None
    progress = stored_progress(folder)
    if not budget_spent(progress):
        return None
    sdk, problem = _rebuilt(folder, meta)
    if problem is None:
        return None
    check_not_a_copy(folder, meta)
    summary = _close(folder, sdk)
    if summary is CLOSED_MEANWHILE:  # another resume closed it after the look above: left as that one ended it
        from tao_automl.runner.detach import nothing_to_resume

        return nothing_to_resume(folder)
    if summary is None:
        return None
    ended = summary["progress"]
    return (f"nothing to resume: every rec of the run's budget has ended ({ended.get('completed')} of "
            f"{ended.get('total')}); the run was left open and is now closed, state {ended.get('state')}, with no "
            f"orchestrator started (a resume needs none: its runner cannot be rebuilt: {problem.detail})")


def _rebuilt(folder: Path, meta: dict[str, Any]) -> tuple[Any, TaoAutoMLError | None]:
    """The run's platform SDK (None when it cannot be rebuilt) and why its runner cannot be rebuilt (None if it
    can)."""
    from tao_automl.platforms.registry import rebuild_sdk
    from tao_automl.runner.orchestrator import runner_for_run

    sdk = None
    try:
        sdk = rebuild_sdk(folder, meta.get("platform"))
        runner_for_run(sdk, folder, meta["run_args"])
    except TaoAutoMLError as exc:
        return sdk, exc
    return sdk, None


#: What :func:`_close` answers for a run found closed once its lock was taken (another resume closed it).
CLOSED_MEANWHILE: dict[str, Any] = {}


def _close(folder: Path, sdk: Any) -> dict[str, Any] | None:
    """Reopen the run under its lock and close it as a complete resume does (ended jobs released where ``sdk`` can
    release them); its summary, None when it turns out not to be complete (it is closed interrupted again), or
    :data:`CLOSED_MEANWHILE` when it was closed before the lock was taken (it is not reopened)."""
    from tao_automl.runner.loop import close_complete, stored_trackers, warn_tracker_failures
    from tao_automl.runner.orchestrator import StatusReporter
    from tao_automl.runner.release import release_pending

    with RunLock(folder, held_here_hint=RUNNER_HELD_HINT):
        if read_meta(folder).get("state") in ENDED_STATES:
            return CLOSED_MEANWHILE
        exp = Experiment.open(folder)
        if not exp.is_complete():
            exp.close("interrupted")
            return None
        if sdk is not None:  # a failed release is recorded, not raised: a resume tries again
            release_pending(sdk, exp.store)
        tracking = stored_trackers(exp)  # W&B / MLflow told the sweep ended, as a resume tells them
        with tracking.sweep(folder) as tell, \
                StatusReporter(folder, exp.settings.status_interval_minutes):  # status.json ends as a resume's
            summary = close_complete(exp, before_end=tell)
            crash_point("spent_closed")  # chaos tests: the run's end is stored, status.json not yet written
        warn_tracker_failures(tracking)
        return summary


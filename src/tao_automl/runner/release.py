"""Releasing what a platform holds for an ended job (``release_job``: Brev deletes the instance it made for the job).

A job is released only once its rec's result is stored, so nothing is lost; each release is recorded as a
:data:`RELEASED` event, so a resume releases only the jobs a crash left unreleased (:func:`release_pending`). A failed
release never fails the rec or stops the sweep: it is logged once and recorded as :data:`RELEASE_FAILED`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.experiment.store import RecRow, RecStatus, RunStore

log = logging.getLogger(__name__)

#: Event: the rec's job was released (payload: ``job_id``, ``what``).
RELEASED = "released"
#: Event: releasing the rec's job failed (payload: ``job_id``, ``error``); a resume tries again.
RELEASE_FAILED = "release_failed"


def releases_jobs(sdk: Any) -> bool:
    """Whether ``sdk`` (a :class:`~tao_automl.platforms.base.PlatformBase`) implements ``release_job`` itself."""
    offers = getattr(sdk, "offers", None)
    return bool(offers("release_job")) if callable(offers) else False


def release(sdk: Any, store: RunStore, rec_id: int, job_id: str) -> bool:
    """Release rec ``rec_id``'s job ``job_id`` (its result is stored); True when done. A failure is logged, recorded
    and answered False."""
    try:
        what = sdk.release_job(job_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("rec %d: releasing job %s failed (its result is kept; `tao-automl resume` tries again): %s",
                    rec_id, job_id, error)
        store.log_event(RELEASE_FAILED, rec_id, job_id=job_id, error=error)
        return False
    store.log_event(RELEASED, rec_id, job_id=job_id, what=what)
    if what:
        log.info("rec %d: job %s released: %s", rec_id, job_id, what)
    return True


def _jobs_of(store: RunStore, event: str) -> set[tuple[int | None, Any]]:
    """``(rec_id, job_id)`` of every ``event`` (:data:`RELEASED` or :data:`RELEASE_FAILED`) the run recorded."""
    return {(e["rec_id"], (e.get("payload") or {}).get("job_id")) for e in store.events(event)}


def _unreleased(store: RunStore) -> list[RecRow]:
    """The ended recs whose job has no :data:`RELEASED` event."""
    done = _jobs_of(store, RELEASED)
    return [r for r in store.recs() if r.job_id and RecStatus(r.status).is_final and (r.rec_id, r.job_id) not in done]


def release_pending(sdk: Any, store: RunStore) -> int:
    """Release the jobs of ended recs that have no :data:`RELEASED` event (the process stopped between storing the
    result and the release); the number released. Nothing is read when ``sdk`` releases nothing."""
    if not releases_jobs(sdk):
        return 0
    pending = _unreleased(store)
    if pending:
        log.info("releasing the jobs of %d ended rec(s) left unreleased", len(pending))
    return sum(release(sdk, store, r.rec_id, str(r.job_id)) for r in pending)


def release_left_in_closed_run(folder: Path, meta: Mapping[str, Any]) -> str:
    """For a run closed as finished or failed (no orchestrator holds it): release the jobs its ended recs still hold
    (a release that failed: the run closed with them unreleased, and its warning named `tao-automl resume` as the
    retry) where its platform can be rebuilt from the folder. Answers what was done, as a clause starting "; ", or
    "" when nothing was left to release (or the run's platform releases nothing)."""
    from tao_automl.errors import TaoAutoMLError
    from tao_automl.experiment.workspace import RUNNER_HELD_HINT, RunLock
    from tao_automl.platforms.base import PlatformBase, as_platform
    from tao_automl.platforms.registry import platform_name, rebuild_sdk, sdk_class

    record = meta.get("platform") or {}
    name = platform_name(str(record.get("class", "")))
    cls = sdk_class(name) if name else None
    if cls is not None and getattr(cls, "release_job", None) in (None, PlatformBase.release_job):
        return ""  # a platform that holds nothing beyond a job's result
    store = RunStore(folder, readonly=True)
    try:
        left = _unreleased(store)
        if cls is None:  # a custom SDK: only the jobs whose release was tried and failed are known to hold anything
            failed = _jobs_of(store, RELEASE_FAILED)
            left = [r for r in left if (r.rec_id, r.job_id) in failed]
    finally:
        store.close()
    if not left:
        return ""
    try:
        if name is None:  # a custom SDK: only its runner from Python can release them
            raise TaoAutoMLError(f"it ran on {record.get('class')!r}, which cannot be rebuilt from the run folder")
        sdk = as_platform(rebuild_sdk(folder, record))
    except TaoAutoMLError as exc:
        return (f"; the jobs of {len(left)} ended rec(s) were never released (their release failed) and its platform "
                f"cannot be rebuilt here ({exc.detail}): release them from Python with "
                "AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True)")
    if not releases_jobs(sdk):
        return ""
    with RunLock(folder, held_here_hint=RUNNER_HELD_HINT):
        writable = RunStore(folder)
        try:
            done = release_pending(sdk, writable)
        finally:
            writable.close()
    again = len(left) - done
    return (f"; released the jobs of {done} ended rec(s) whose release had not happened" if done else "") + (
        f"; releasing {again} job(s) failed again (recorded as release_failed events and logged; a resume tries "
        "again)" if again else "")

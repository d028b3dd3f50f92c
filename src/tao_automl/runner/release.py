"""Releasing what a platform holds for an ended job (``release_job``: Brev deletes the instance it made for the job).

A job is released only once its rec's result is stored, so nothing is lost; each release is recorded as a
:data:`RELEASED` event, so a resume releases only the jobs a crash left unreleased (:func:`release_pending`). A failed
release never fails the rec or stops the sweep: it is logged once and recorded as :data:`RELEASE_FAILED`.
"""

from __future__ import annotations

import logging
from typing import Any

from tao_automl.experiment.store import RecStatus, RunStore

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


def release_pending(sdk: Any, store: RunStore) -> int:
    """Release the jobs of ended recs that have no :data:`RELEASED` event (the process stopped between storing the
    result and the release); the number released. Nothing is read when ``sdk`` releases nothing."""
    if not releases_jobs(sdk):
        return 0
    done = {(e["rec_id"], (e.get("payload") or {}).get("job_id")) for e in store.events(RELEASED)}
    pending = [r for r in store.recs() if r.job_id and RecStatus(r.status).is_final
               and (r.rec_id, r.job_id) not in done]
    if pending:
        log.info("releasing the jobs of %d ended rec(s) left unreleased", len(pending))
    return sum(release(sdk, store, r.rec_id, str(r.job_id)) for r in pending)

"""Reading a run's state from another process: read-only, never blocks the writer.

The default answer is a summary: progress (counted through the store's status index), the best rec,
the ``top`` best recs, the ``top`` newest recs without a rank (failures with their reasons) and the
active jobs, so it costs about the same at 10 or 10,000 recs. ``recs="all"`` gives every rec in id
order, a page at a time with ``offset``/``limit``. Only the recs shown are decoded; the fields of each
are those of :func:`tao_automl.experiment.summary.rec_dict`.
"""

from __future__ import annotations

import os
import sqlite3

from tao_automl.errors import UserInputError
from tao_automl.experiment.holder import cancelling_jobs, copy_of, resume_facts
from tao_automl.experiment.lines import resumable
from tao_automl.experiment.run_folders import no_run_message, workspace_runs
from tao_automl.experiment.store import (
    ACTIVE_STATES,
    DAMAGED_HINT,
    DB_NAME,
    FULL_DISK_HINT,
    JOB_PENDING,
    NEWER_FORMAT_HINT,
    NEWER_FORMAT_WORDS,
    UNSUBMITTED,
    NewerStoreFormatError,
    RunStore,
    tracking_errors_of,
    unreadable,
)
from tao_automl.experiment.summary import (
    ENDED_UNCOLLECTED,
    active_job,
    best_row_dict,
    code_versions_of,
    progress_from_counts,
    rec_dict,
    uncollected_ids,
    with_reasoning,
)
from tao_automl.multiobjective import view as pareto_view
from tao_automl.util.checks import path_arg

TYPE_CHECKING = False  # typing and pathlib stay out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

#: What ``recs`` may be: the best few (default) or every rec.
REC_VIEWS = ("top", "all")
DEFAULT_TOP = 10


def query_status(workspace_path: str | Path, *, recs: str = "top", top: int | None = None, offset: int = 0,
                 limit: int | None = None, call: str = "query_status(path, ") -> dict[str, Any]:
    """Progress, best rec, some recs and the active jobs of the run at ``workspace_path``.

    ``recs="top"``: ``recommendations`` holds the ``top`` (default 10) best ranked recs, best first, then the
    ``top`` newest recs without a rank (in flight, then the failed and cancelled ones that ended last), in id
    order; ``top`` with ``recs="all"`` is refused (never silently ignored), as are ``offset``/``limit`` with
    ``recs="top"``. ``call`` starts the
    corrected call a refusal's hint shows (the MCP tool names itself).
    ``recs="all"``: every rec in id order from ``offset``, at most ``limit`` of them (all when None).
    ``rec_view`` says which recs were shown and how many there are. Returns ``{"error": "..."}``
    instead of raising when there is no run state there; a ``workspace_path`` that is not a path (a non-empty str or
    ``os.PathLike``), or a bad view argument, raises :class:`UserInputError`.
    """
    _check_view(recs, top, offset, limit, call)
    top = DEFAULT_TOP if top is None else top
    run_dir = os.path.abspath(os.path.expanduser(path_arg("workspace_path", workspace_path, "a run folder")))
    if not os.path.exists(os.path.join(run_dir, DB_NAME)):
        runs = workspace_runs(run_dir)
        if not runs:
            return {"error": no_run_message(run_dir)}
        run_dir = os.path.join(run_dir, runs[-1])  # a workspace folder: report its newest run
    from tao_automl.experiment.holder import orchestrator_info

    # asked before the state is read: a run that ends in between reads "finished", never "running" without holder
    orchestrator = orchestrator_info(run_dir)
    try:
        store = RunStore(run_dir, readonly=True)
        try:
            status = _read(store, run_dir, recs, top, offset, limit, orchestrator)
        finally:
            store.close()
    except sqlite3.Error as exc:
        return {"error": unreadable(run_dir, os.path.join(run_dir, DB_NAME), exc)[0]}
    except NewerStoreFormatError as exc:  # made by a newer tao-run-automl: left untouched
        return {"error": str(exc.detail)}
    return status


def status_error_hint(error: str) -> str:
    """What to do about a ``query_status`` error: a folder without a run needs the right path; a run whose state
    cannot be read (a damaged or truncated state.db) needs its folder checked, not another path."""
    if NEWER_FORMAT_WORDS in error:
        return NEWER_FORMAT_HINT
    if error.startswith("cannot read run state"):
        return FULL_DISK_HINT if ": no space left on the device" in error else DAMAGED_HINT
    return "pass the run folder printed by `tao-automl run` (it holds state.db)"


def status_error_allowed(error: str) -> str:
    """What the run folder argument takes, given a ``query_status`` error (its ``allowed``)."""
    if error.startswith("cannot read run state"):
        return f"a run folder whose {DB_NAME} can be read"
    return f"a run folder (it holds {DB_NAME}) or a workspace holding one"


def _check_view(recs: str, top: int | None, offset: int, limit: int | None, call: str) -> None:
    if recs not in REC_VIEWS:
        raise UserInputError(f"recs: {recs!r} is not a rec view; allowed: {', '.join(REC_VIEWS)}", field="recs",
                             value=recs, allowed=list(REC_VIEWS))
    for name, value in (("top", top), ("offset", offset), ("limit", limit)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise UserInputError(f"{name}: {value!r} is not a whole number >= 0", field=name, value=value,
                                 allowed="an integer >= 0")
    if recs == "top" and (offset or limit is not None):  # never silently ignored
        name, value = ("offset", offset) if offset else ("limit", limit)
        raise UserInputError(f"{name}: {value!r} pages recs='all'; recs='top' shows the best `top` recs",
                             field=name, value=value, allowed="with recs='all'",
                             hint=f"{call}recs='all', {name}={value!r})")
    if recs == "all" and top is not None:
        raise UserInputError(f"top: {top!r} sets how many best recs recs='top' shows; recs='all' lists every rec "
                             "in id order (page it with offset and limit)", field="top", value=top,
                             allowed="with recs='top'", hint=f"{call}recs='top', top={top!r})")


def _read(store: RunStore, run_dir: str, view: str, top: int, offset: int, limit: int | None,
          orchestrator: dict[str, Any]) -> dict[str, Any]:
    from tao_automl.experiment.holder import as_shown

    alive = bool(orchestrator["alive"])
    with store.snapshot():  # one consistent state while the runner writes
        meta = store.meta()
        if meta.get("state") in ("running", "starting") and not alive:
            meta = as_shown(meta, alive, store.last_event_at(), run_dir=run_dir, counts=store.count_by_status())
        direction = str(meta.get("direction", "maximize"))
        counts = store.count_by_status()
        multi = store.is_multi_fidelity(meta)
        best_ids = store.ranked_ids(direction, multi, limit=1, status="success")
        values = pareto_view.values_in_store(store, meta)
        front = None if values is None else pareto_view.front_fields(values, meta)
        # several metrics: the front (its pick first), then the later layers (pareto_view.ranked_ids)
        order = None if front is None or values is None else pareto_view.ranked_ids(
            values, front, store.ranked_ids(direction, multi))
        if view == "top":
            ranked = store.ranked_ids(direction, multi, limit=top) if order is None else order[:top]
            ranks = {rec_id: i for i, rec_id in enumerate(ranked, start=1)}
            rows = store.recs_by_id(ranked + sorted(store.latest_unranked_ids(top)))
        else:
            rows = store.recs_page(offset, limit)
            ranks = {rec_id: i for i, rec_id in enumerate(
                store.ranked_ids(direction, multi) if order is None else order, start=1)}
        shown = {r.rec_id: r for r in rows}
        best = (shown.get(best_ids[0]) or store.rec(best_ids[0])) if best_ids else None
        active = store.recs_by_id(store.ids_with_status(ACTIVE_STATES))
        uncollected = uncollected_ids(store, active)
        if uncollected:  # their jobs ended: shown so (not running), though the store keeps them in flight until a
            counts = dict(counts)  # resume collects their results
            for r in active:
                if r.rec_id in uncollected:
                    counts[str(r.status)] -= 1
            counts[ENDED_UNCOLLECTED] = len(uncollected)
        # read only when a rec could use it: one in flight, or one without a job yet (a finished run has neither)
        pending_events = store.events(JOB_PENDING) if active or counts.get(UNSUBMITTED) else []
        waiting = {int(e["rec_id"]): str(e["payload"].get("reason")) for e in pending_events
                   if e["payload"].get("job_id") in {r.job_id for r in active}} if active else {}
        # recs the platform had no room for (a job_pending event with no job), still without a job
        no_room = {int(e["rec_id"]): str(e["payload"].get("reason")) for e in pending_events
                   if e["payload"].get("job_id") is None}
        no_room_recs = [r for r in store.recs_by_id(sorted(no_room)) if r.status == UNSUBMITTED]
        # no orchestrator: what is in flight is as last seen (when it stopped, or its last recorded activity)
        seen_until = None if alive or meta.get("state") == "running" else (meta.get("ended_at") or
                                                                           store.last_event_at())
        cancelling = seen_until is not None and cancelling_jobs(meta)  # a stop --cancel-jobs is cancelling them
        if front is not None:  # a list of metrics: best is the Pareto front's pick
            best = store.rec(front["best_rec_id"]) if front["best_rec_id"] is not None else None
        best_shown = best_row_dict(best, store.rec, meta)  # in the snapshot: its parents are read as of the rest
    shown_rows = [with_reasoning(rec_dict(r, ranks.get(r.rec_id), seen_until, r.rec_id in uncollected, cancelling),
                                 meta) for r in rows]
    if values is not None:  # several metrics: each rec shows all of them
        pareto_view.with_rec_values(shown_rows, values)
    view_info: dict[str, Any] = {"view": view, "shown": len(rows), "total": sum(counts.values())}
    view_info.update({"top": top} if view == "top" else {"offset": offset, "limit": limit})
    # mode, new_run_needed, ended_early and platform_class (the SDK `tao-automl resume` cannot rebuild, when so):
    # what decides whether a resume continues the run (`resumable`)
    who = {**orchestrator, "copy_of": copy_of(run_dir, meta), **resume_facts(meta)}
    progress = progress_from_counts(counts, best, multi, meta)
    result = {
        "experiment_id": meta.get("experiment_id"),
        "run_dir": run_dir,
        "best": best_shown,
        "progress": progress,
        "recommendations": shown_rows,
        "rec_view": view_info,
        "active_jobs": [active_job(r, r.rec_id in uncollected, seen_until, waiting.get(r.rec_id), cancelling)
                        for r in active],
        # recs with no job yet because the platform had no room (a quota): why, as the platform said
        "waiting_for_room": [{"rec_id": r.rec_id, "reason": no_room[r.rec_id]} for r in no_room_recs],
        # the run's failed tracker calls (W&B, MLflow), summed over the processes that ran it
        "tracking_errors": tracking_errors_of(meta),
        # which tao-run-automl created the run and which resumed it (a newer version continues under its own code)
        "code_versions": code_versions_of(meta),
        # who drives the run: "runner" (the CLI, AutoMLRunner: `tao-automl resume` continues it) or "ask_tell"
        # (tao_automl.AutoML: continued from Python)
        "orchestrator": who,
        "resumable": resumable(who, progress),
    }
    return result if front is None else pareto_view.apply_to_result(result, front, best_shown)

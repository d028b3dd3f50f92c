"""The one place that turns persisted recs into progress, best and per-rec dicts.

Used by the live runner, the ask/tell class and :func:`tao_automl.status.query_status`, so every
view of a run agrees: ``run --json``, ``status --json`` and ``query_status`` carry the same fields.

Ranking never mixes budgets silently: when the run is multi-fidelity (its trials carry an epoch budget),
recs are ranked by the highest budget their metric was measured at first, then by the metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from tao_automl.experiment.holder import cancelling_jobs, resume_facts
from tao_automl.experiment.lines import resumable
from tao_automl.experiment.store import (
    ACTIVE_STATES,
    CREATED_BY,
    FINAL_STATES,
    JOB_ENDED_UNCOLLECTED,
    PAUSED_KEY,
    RANKED_STATES,
    RESUMED_BY,
    UNSUBMITTED,
    RecRow,
    RecStatus,
    RunStore,
    tracking_errors_of,
)
from tao_automl.metrics.parse import is_valid_metric
from tao_automl.multiobjective import view as pareto_view

TYPE_CHECKING = False  # typing stays out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Any


def is_multi_fidelity(recs: Sequence[RecRow]) -> bool:
    """Whether the run's scheduler planned an epoch budget per trial (ASHA, Hyperband, BOHB, ...)."""
    return any(r.trial is not None and r.trial.get("budget") is not None for r in recs)


def ranked_recs(recs: Sequence[RecRow], direction: str) -> list[RecRow]:
    """Recs with a rankable metric, best first: highest budget reached first for multi-fidelity runs."""
    multi = is_multi_fidelity(recs)
    sign = -1.0 if direction == "maximize" else 1.0
    rankable = [r for r in recs if r.status in RANKED_STATES and is_valid_metric(r.metric_value)]

    def key(rec: RecRow) -> tuple[float, float, int]:
        assert rec.metric_value is not None
        budget = float(rec.budget_reached or 0) if multi else 0.0
        return (-budget, sign * rec.metric_value, rec.rec_id)

    return sorted(rankable, key=key)


def best_rec(recs: Sequence[RecRow], direction: str) -> RecRow | None:
    """The best successful rec (at the highest budget reached, for multi-fidelity runs); failures never qualify."""
    return next((r for r in ranked_recs(recs, direction) if r.status == "success"), None)


def _elapsed_eta(meta: Mapping[str, Any], completed: int, total: int) -> tuple[float | None, float | None]:
    start = meta.get("created_at")
    if start is None:
        return None, None
    running = meta.get("state") == "running"
    end = time.time() if running or meta.get("ended_at") is None else float(meta["ended_at"])
    elapsed = max(0.0, end - float(start) - float(meta.get(PAUSED_KEY) or 0.0))  # time an orchestrator ran it
    if completed >= total:
        return elapsed, 0.0
    if not running or completed == 0:
        return elapsed, None
    return elapsed, elapsed / completed * (total - completed)


def progress(recs: Sequence[RecRow], meta: Mapping[str, Any], uncollected: Collection[int] = ()) -> dict[str, Any]:
    """``uncollected``: recs in flight whose job is known to have ended (:func:`uncollected_ids`), counted so."""
    counts: dict[str, int] = {}
    for r in recs:
        shown = ENDED_UNCOLLECTED if r.rec_id in uncollected and r.status in ACTIVE_STATES else r.status
        counts[shown] = counts.get(shown, 0) + 1
    best = best_rec(recs, str(meta.get("direction", "maximize")))
    return progress_from_counts(counts, best, is_multi_fidelity(recs), meta)


def progress_from_counts(counts: Mapping[str, int], best: RecRow | None, multi_fidelity: bool,
                         meta: Mapping[str, Any]) -> dict[str, Any]:
    """The progress dict from ``{status: number of recs}`` and the best rec (no pass over the recs)."""
    def n(*states: str) -> int:
        return sum(counts.get(s, 0) for s in states)

    completed = n(*FINAL_STATES)
    total = int(meta.get("budget", sum(counts.values())))
    elapsed, eta = _elapsed_eta(meta, completed, total)
    return {
        "completed": completed,
        "succeeded": n("success"),
        "failed": n("failure"),
        "stopped": n("stopped"),
        "cancelled": n("cancelled"),
        "running": n(*ACTIVE_STATES),  # submitted: queued on the platform or running
        # of the submitted recs, those whose job is known to have ended (no orchestrator collected them): not running
        "uncollected": n(ENDED_UNCOLLECTED),
        "queued": n(RecStatus.PENDING),  # of those, the ones not seen running yet (queued on the platform)
        "pending": n(UNSUBMITTED),  # created, its job not yet submitted (never also counted as running)
        "total": total,
        "best_metric": best.metric_value if best else None,
        "best_rec_id": best.rec_id if best else None,
        "best_budget": best.budget_reached if best else None,
        "ranked_by": "budget_reached, then metric" if multi_fidelity else "metric",
        "elapsed_s": None if elapsed is None else round(elapsed, 3),
        "eta_s": None if eta is None else round(eta, 3),
        "algorithm": meta.get("algorithm"),
        "algorithm_choice": meta.get("algorithm_choice"),  # null unless algorithm auto picked a brain
        "metric": meta.get("metric"),
        "direction": str(meta.get("direction", "maximize")),
        "state": meta.get("state"),
        "stop_reason": meta.get("stop_reason") or None,  # every key is always there: null when it does not apply
        "llm_fallbacks": int(meta.get("llm_fallbacks", 0)),
    }


#: Run metadata key: False when the run's promoted recs trained from scratch (a model with no ``resume_model`` key:
#: no checkpoint reached them, so a best has no chain of checkpoints); absent (older runs, ask/tell): True.
CHECKPOINTS_RESUMED = "checkpoints_resumed"


def resumes_checkpoints(meta: Mapping[str, Any] | None) -> bool:
    """Whether the run's promoted recs trained on from their parent's checkpoint (:data:`CHECKPOINTS_RESUMED`)."""
    return (meta or {}).get(CHECKPOINTS_RESUMED) is not False


def continued_from(rec: RecRow, lookup: Callable[[int], RecRow | None]) -> list[int]:
    """The recs whose checkpoints ``rec`` continued, nearest first (a promotion's or a pbt member's parents): its
    metric was reached by training under each of theirs first (pbt: with their params)."""
    def parent_of(rec_id: int) -> int | None:
        row = lookup(rec_id)
        return _parent(row.trial) if row is not None else None

    return parent_chain(_parent(rec.trial), parent_of)


def parent_chain(parent: int | None, parent_of: Callable[[int], int | None]) -> list[int]:
    """``parent``, its parent, and so on (nearest first; a cycle or a missing rec ends it)."""
    chain: list[int] = []
    while parent is not None and parent not in chain and len(chain) < 1000:
        chain.append(parent)
        parent = parent_of(parent)
    return chain


def _parent(trial: Mapping[str, Any] | None) -> int | None:
    parent = (trial or {}).get("parent")
    return parent if isinstance(parent, int) and not isinstance(parent, bool) else None


def best_row_dict(best: RecRow | None, lookup: Callable[[int], RecRow | None] | None = None,
                  meta: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The best rec as results show it; ``lookup`` (rec id -> row) lets ``continued_from`` name its parents, unless
    the run's ``meta`` says its promoted recs trained from scratch (then the chain is empty)."""
    if best is None:
        return None
    chain = continued_from(best, lookup or (lambda _rec_id: None)) if resumes_checkpoints(meta) else []
    # budget: the epochs where its metric was measured (what it is ranked at), i.e. its rec's budget_reached, named
    # too so that it reads beside the rec's own `budget` (the epochs it was given)
    return {"rec_id": best.rec_id, "specs": best.specs, "spec_path": best.spec_path, "params": best.params,
            "metric_value": best.metric_value, "budget": best.budget_reached, "budget_reached": best.budget_reached,
            "continued_from": chain}


def code_versions_of(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``{"created_by", "resumed_by"}``: the tao-run-automl version that created the run (None for a run made before
    it was recorded) and each version that took it over since (``{"version", "at"}``: the first reopening by a
    version other than the one that ran it last), oldest first: which code ran the run's schedule."""
    resumed = meta.get(RESUMED_BY)
    return {"created_by": meta.get(CREATED_BY),
            "resumed_by": [r for r in resumed if isinstance(r, Mapping)] if isinstance(resumed, list) else []}


#: How ``status`` shows a rec still in flight in the store whose job is known to have ended (``stop --cancel-jobs``
#: found it so, with no orchestrator to collect it): its result waits for ``resume``. Never stored (only the
#: orchestrator records a rec's end); ``progress.uncollected`` counts these recs, ``progress.running`` leaves them out.
ENDED_UNCOLLECTED = "ended_uncollected"


def uncollected_ids(store: RunStore, recs: Sequence[RecRow]) -> set[int]:
    """The recs still in flight in the store whose job is known to have ended with no orchestrator to collect it
    (``stop --cancel-jobs`` logged a ``job_ended_uncollected`` event): every view shows them ``ended_uncollected``."""
    active = {r.rec_id for r in recs if r.status in ACTIVE_STATES}
    if not active:
        return set()
    return active & {int(e["rec_id"]) for e in store.events(JOB_ENDED_UNCOLLECTED)}


def plain_status(status: str) -> str:
    """A rec's status as results show it: a plain ``str`` (never the store's enum, which ``yaml.safe_dump`` and other
    plain-data writers refuse), ``pending`` for a rec whose job is not submitted yet."""
    return "pending" if status == UNSUBMITTED else str(getattr(status, "value", status))


def rec_dict(rec: RecRow, rank: int | None = None, seen_until: float | None = None,
             uncollected: bool = False, cancelling: bool = False) -> dict[str, Any]:
    """Everything known about one rec; ``specs`` is the spec its job received once it was rendered. ``seen_until``:
    when no orchestrator follows the run, the time it was last followed (a rec still in flight then is shown as
    last seen, its wall time up to then, with ``last_seen_at``; its job may have ended since). ``uncollected``: its
    job is known to have ended with no orchestrator to collect it (:func:`uncollected_ids`): shown so, not running.
    ``left_running``: its job was in flight when the orchestrator stopped and nothing follows it now (it runs on as
    far as the run knows; ``resume`` re-attaches to it); never while ``cancelling`` (:func:`~tao_automl.experiment.
    holder.cancelling_jobs`: a ``stop --cancel-jobs`` is cancelling it)."""
    end = rec.finished_at or seen_until or time.time()
    trial = rec.trial or {}
    stale = seen_until is not None and rec.finished_at is None
    return {
        "rec_id": rec.rec_id,
        "rank": rank,
        "params": rec.params,
        "specs": rec.specs,
        "spec_path": rec.spec_path,
        "job_name": rec.job_name,
        "job_id": rec.job_id,
        "status": ENDED_UNCOLLECTED if uncollected else plain_status(rec.status),
        "metric": rec.metric_value,
        "metric_value": rec.metric_value,
        "message": rec.message,
        "budget": rec.budget,
        "budget_reached": rec.budget_reached,
        "bracket": trial.get("bracket"),
        "rung": trial.get("rung"),
        "parent": trial.get("parent"),
        "results_dir": rec.results_dir,
        "created_at": rec.created_at,
        "started_at": rec.submitted_at,
        "finished_at": rec.finished_at,
        "wall_time_s": round(end - rec.submitted_at, 3) if rec.submitted_at else None,
        "last_seen_at": seen_until if stale else None,
        "left_running": left_running(rec, seen_until, uncollected, cancelling),
    }


def left_running(rec: RecRow, seen_until: float | None, ended: bool, cancelling: bool = False) -> bool:
    """Whether ``rec``'s job was left in flight (queued or running) by an orchestrator that stopped (Ctrl-C, ``stop``
    without ``--cancel-jobs``, a kill) and no orchestrator follows it (``seen_until`` set): it runs on as far as the
    run knows, and ``resume`` re-attaches to it; not a job known to have ended (``ended``), nor one a ``stop
    --cancel-jobs`` is cancelling (``cancelling``: the run's store says so, see :func:`cancelling_jobs`)."""
    return (seen_until is not None and bool(rec.job_id) and rec.status in ACTIVE_STATES and not ended
            and not cancelling)


def with_reasoning(row: dict[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Add the LLM's stated reason for the rec (LLM brains persist it in meta ``llm_reasoning``)."""
    reasoning = (meta.get("llm_reasoning") or {}).get(str(row["rec_id"]))
    if reasoning:
        row["llm_reasoning"] = reasoning
    return row


def summarise(recs: Sequence[RecRow], meta: Mapping[str, Any],
              values: Mapping[int, Mapping[str, float]] | None = None,
              seen_until: float | None = None, uncollected: Collection[int] = ()) -> dict[str, Any]:
    """The result/status dict shared by ``run()``, ``AutoML.get_status()`` and ``query_status``.

    ``recommendations`` lists every rec in id order; ``history`` is the same list (the Python API's older name;
    :func:`public_json` drops it so machine output names it once). ``values``: a multi-objective run's metric
    values by rec id; ``best`` is then the Pareto front's pick and ``pareto_front`` is added. ``seen_until``: no
    orchestrator follows the run: a rec still in flight is shown as last seen (its wall time up to then).
    ``uncollected``: recs in flight whose job is known to have ended (:func:`uncollected_ids`): shown
    ``ended_uncollected``, as ``status`` shows them.
    """
    direction = str(meta.get("direction", "maximize"))
    order = [r.rec_id for r in ranked_recs(recs, direction)]
    fields = None
    if values is not None and pareto_view.objectives_of(meta):  # the front first, as status ranks it
        fields = pareto_view.front_fields(values, meta)
        order = pareto_view.ranked_ids(values, fields, order)
    ranks = {rec_id: i for i, rec_id in enumerate(order, start=1)}
    # their jobs ended: not running, though the store keeps them in flight
    ended = {r.rec_id for r in recs if r.rec_id in uncollected and r.status in ACTIVE_STATES}
    cancelling = seen_until is not None and cancelling_jobs(meta)  # a stop --cancel-jobs is cancelling them
    rows = [with_reasoning(rec_dict(r, ranks.get(r.rec_id), seen_until, r.rec_id in ended, cancelling), meta)
            for r in recs]
    by_id = {r.rec_id: r for r in recs}
    shown_progress = progress(recs, meta, ended)
    # whether `tao-automl resume` continues the run, as status answers it once no orchestrator drives the run
    alive = meta.get("state") in ("running", "starting")
    result = {
        "experiment_id": meta.get("experiment_id"),
        "run_dir": meta.get("run_dir"),
        "best": best_row_dict(best_rec(recs, direction), by_id.get, meta),
        "progress": shown_progress,
        "recommendations": rows,
        "rec_view": {"view": "all", "shown": len(rows), "total": len(rows), "offset": 0, "limit": None},
        "history": rows,
        "active_jobs": [active_job(r, r.rec_id in ended) for r in recs if r.status in ACTIVE_STATES],
        # recs with no job yet because the platform had no room: `status` reads them from the run's events; a run's
        # own result is made once nothing waits any more (a rec that waits when the sweep stops is `pending` here)
        "waiting_for_room": [],
        # what the run's trackers (W&B, MLflow) miss: {tracker: {count, first}} ({} when every call worked)
        "tracking_errors": tracking_errors_of(meta),
        # which tao-run-automl created the run and which resumed it (a newer version continues under its own code)
        "code_versions": code_versions_of(meta),
        "resumable": resumable({"alive": alive, **resume_facts(meta)}, shown_progress),
    }
    if values is not None and fields is not None:
        pareto_view.with_rec_values(rows, values)
        best = by_id.get(fields["best_rec_id"]) if fields["best_rec_id"] is not None else None
        pareto_view.apply_to_result(result, fields, best_row_dict(best, by_id.get, meta))
    return result


def active_job(rec: RecRow, ended: bool = False, seen_until: float | None = None,
               pending_reason: str | None = None, cancelling: bool = False) -> dict[str, Any]:
    """A rec in flight; ``ended``: its job is known to have ended (``stop --cancel-jobs`` found it so) with a result
    that ``resume`` has not collected yet; ``seen_until``: no orchestrator follows the run, whose status is as last
    seen then (``last_seen_at``); ``pending_reason``: why the platform keeps its queued job waiting (shown while
    the rec is pending); ``cancelling``: a ``stop --cancel-jobs`` is cancelling it (not ``left_running``)."""
    waiting = pending_reason if rec.status == "pending" and rec.job_id and not ended else None
    status = ENDED_UNCOLLECTED if ended else plain_status(rec.status)  # its job ended: not running any more
    return {"rec_id": rec.rec_id, "job_id": rec.job_id, "status": status,
            "updated_at": rec.updated_at, "job_ended": ended, "last_seen_at": seen_until or None,
            "left_running": left_running(rec, seen_until, ended, cancelling), "pending_reason": waiting or None}


def public_json(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary as ``run --json`` and ``status --json`` print it: one name per field."""
    return {k: v for k, v in summary.items() if k != "history"}

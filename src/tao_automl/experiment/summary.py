"""The one place that turns persisted recs into progress, best and history dicts.

Used by the live runner, the ask/tell class and :func:`tao_automl.status.query_status`, so every
view of a run agrees.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from tao_automl.experiment.store import ACTIVE_STATES, FINAL_STATES, UNSUBMITTED, RecRow
from tao_automl.metrics.parse import is_better, is_valid_metric


def best_rec(recs: Sequence[RecRow], direction: str) -> RecRow | None:
    """The successful rec with the best metric; failures and non-finite values never qualify."""
    best: RecRow | None = None
    for rec in recs:
        if rec.status == "success" and is_valid_metric(rec.metric_value):
            assert rec.metric_value is not None
            if best is None or is_better(rec.metric_value, best.metric_value, direction):
                best = rec
    return best


def progress(recs: Sequence[RecRow], meta: Mapping[str, Any]) -> dict[str, Any]:
    direction = str(meta.get("direction", "maximize"))
    best = best_rec(recs, direction)
    return {
        "completed": sum(r.status in FINAL_STATES for r in recs),
        "succeeded": sum(r.status == "success" for r in recs),
        "failed": sum(r.status == "failure" for r in recs),
        "cancelled": sum(r.status in ("cancelled", "stopped") for r in recs),
        "pending": sum(r.status in (*ACTIVE_STATES, UNSUBMITTED) for r in recs),
        "total": int(meta.get("budget", len(recs))),
        "best_metric": best.metric_value if best else None,
        "best_rec_id": best.rec_id if best else None,
        "algorithm": meta.get("algorithm"),
        "metric": meta.get("metric"),
        "direction": direction,
        "state": meta.get("state"),
        "llm_fallbacks": int(meta.get("llm_fallbacks", 0)),
    }


def best_dict(recs: Sequence[RecRow], direction: str) -> dict[str, Any] | None:
    best = best_rec(recs, direction)
    if best is None:
        return None
    return {"rec_id": best.rec_id, "specs": best.specs, "params": best.params, "metric_value": best.metric_value}


def rec_dict(rec: RecRow) -> dict[str, Any]:
    end = rec.finished_at or time.time()
    return {
        "rec_id": rec.rec_id,
        "params": rec.params,
        "specs": rec.specs,
        "job_id": rec.job_id,
        "status": "pending" if rec.status == UNSUBMITTED else rec.status,
        "metric": rec.metric_value,
        "metric_value": rec.metric_value,
        "message": rec.message,
        "results_dir": rec.results_dir,
        "duration_s": round(end - rec.submitted_at, 3) if rec.submitted_at else None,
    }


def _with_reasoning(row: dict[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Add the LLM's stated reason for the rec (LLM brains persist it in meta ``llm_reasoning``)."""
    reasoning = (meta.get("llm_reasoning") or {}).get(str(row["rec_id"]))
    if reasoning:
        row["llm_reasoning"] = reasoning
    return row


def summarise(recs: Sequence[RecRow], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The result/status dict shared by ``run()``, ``AutoML.get_status()`` and ``query_status``."""
    direction = str(meta.get("direction", "maximize"))
    return {
        "experiment_id": meta.get("experiment_id"),
        "run_dir": meta.get("run_dir"),
        "best": best_dict(recs, direction),
        "progress": progress(recs, meta),
        "history": [_with_reasoning(rec_dict(r), meta) for r in recs],
        "active_jobs": [
            {"rec_id": r.rec_id, "job_id": r.job_id, "status": r.status, "updated_at": r.updated_at}
            for r in recs if r.status in ACTIVE_STATES
        ],
    }

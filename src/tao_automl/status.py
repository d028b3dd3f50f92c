"""Reading a run's state from another process (SPEC §2.3): read-only, never blocks the writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tao_automl.experiment.store import DB_NAME, RunStore
from tao_automl.experiment.summary import public_json, summarise


def query_status(workspace_path: str | Path) -> dict[str, Any]:
    """Progress, best rec, every rec and the active jobs of the run at ``workspace_path``.

    Returns ``{"error": "..."}`` instead of raising when there is no run state there.
    """
    run_dir = Path(workspace_path).expanduser()
    if not (run_dir / DB_NAME).exists():
        runs = sorted(p for p in run_dir.glob("run_*") if (p / DB_NAME).exists()) if run_dir.is_dir() else []
        if not runs:
            return {"error": f"no run state at {str(run_dir)!r} (no {DB_NAME})"}
        run_dir = runs[-1]  # a workspace folder: report its newest run
    try:
        store = RunStore(run_dir, readonly=True)
        try:
            summary = summarise(store.recs(), store.meta())
        finally:
            store.close()
    except sqlite3.Error as exc:
        return {"error": f"cannot read run state at {str(run_dir)!r}: {exc}"}
    summary = public_json(summary)
    summary["run_dir"] = str(run_dir)
    from tao_automl.runner.orchestrator import orchestrator_info

    summary["orchestrator"] = orchestrator_info(run_dir)
    return summary

"""``tao-automl runs WORKSPACE``: the runs under a workspace with their start, algorithm, progress and best."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tao_automl.errors import WorkspaceError
from tao_automl.experiment.holder import as_shown, lock_holder
from tao_automl.experiment.run_folders import workspace_runs
from tao_automl.experiment.store import DB_NAME, NewerStoreFormatError, RunStore, disk_full
from tao_automl.experiment.summary import progress, uncollected_ids
from tao_automl.multiobjective import view as pareto_view
from tao_automl.util.shell import sh

#: The keys of every ``runs`` entry (null where they do not apply: ``error`` for a readable run, the rest for one
#: whose state cannot be read), so that a caller reads each entry the same way. The counts are status's progress
#: counts (``uncollected``: recs whose job ended with a result a resume collects; ``running``: in flight).
COUNT_KEYS = ("completed", "total", "succeeded", "failed", "stopped", "cancelled", "running", "uncollected")
RUN_KEYS = ("id", "run_dir", "created_at", "algorithm", "state", *COUNT_KEYS, "metric", "direction", "best_metric",
            "best_rec_id", "algorithm_choice", "objectives", "best_values", "best_by", "error")


def list_runs(workspace: str | Path) -> list[dict[str, Any]]:
    """One dict per run folder in ``workspace`` (any folder holding a run's state), oldest first (an unreadable one
    says why)."""
    root = Path(workspace).expanduser().absolute()  # paths shown as status shows them
    if not root.is_dir():
        raise WorkspaceError(f"workspace {str(root)!r} is not a folder", field="workspace", value=str(workspace),
                             allowed="a folder holding run folders (a run config's workspace_path)",
                             hint="pass the workspace_path of the run config (the folder its run_* folders are in)")
    if (root / DB_NAME).exists():  # a run folder itself: its runs would be none, which is not the truth
        parent = root.resolve().parent
        raise WorkspaceError(f"{str(root)!r} is a run folder, not a workspace: `runs` lists the runs under a "
                             f"workspace, the folder that holds run folders (here its parent {str(parent)!r})",
                             field="workspace", value=str(workspace), allowed="a workspace folder",
                             hint=f"`tao-automl runs {sh(parent)}` lists its runs; `tao-automl status {sh(root)}` "
                                  "shows this one")
    out: list[dict[str, Any]] = []
    for run_dir in (root / name for name in workspace_runs(root)):
        alive = lock_holder(run_dir) is not None  # asked first: a run ending meanwhile reads as finished
        try:
            store = RunStore(run_dir, readonly=True)
            try:
                meta, recs = store.meta(), store.recs()
                meta = as_shown(meta, alive, store.last_event_at(), run_dir=str(run_dir),
                                counts=store.count_by_status())
                ended = uncollected_ids(store, recs)  # as status counts them: ended, not running
                front = pareto_view.front_in_store(store, meta)  # several metrics: best is the front's pick
            finally:
                store.close()
        except NewerStoreFormatError as exc:  # made by a newer tao-run-automl: listed, not read
            out.append({**dict.fromkeys(RUN_KEYS), "id": run_dir.name, "run_dir": str(run_dir),
                        "error": f"unreadable: {exc.detail}; {exc.hint}"})
            continue
        except sqlite3.Error as exc:
            out.append({**dict.fromkeys(RUN_KEYS), "id": run_dir.name, "run_dir": str(run_dir),
                        "error": f"unreadable: no space left on the device ({exc}): free space, then list again"
                        if disk_full(exc, str(run_dir / DB_NAME)) else f"unreadable: {exc}"})
            continue
        except ValueError as exc:  # a stored value that is not JSON: a damaged store, listed as one
            out.append({**dict.fromkeys(RUN_KEYS), "id": run_dir.name, "run_dir": str(run_dir),
                        "error": f"unreadable: a value in its {DB_NAME} is not JSON ({exc})"})
            continue
        p = progress(recs, meta, ended)
        if front is not None:
            pareto_view.apply_to_progress(p, front)
        out.append({
            **dict.fromkeys(RUN_KEYS), "id": run_dir.name, "run_dir": str(run_dir),
            "created_at": _start(meta.get("created_at")), "algorithm": meta.get("algorithm"),
            "state": meta.get("state"),
            **{k: p[k] for k in COUNT_KEYS}, "metric": p["metric"], "direction": p["direction"],
            "best_metric": p["best_metric"],
            "best_rec_id": p["best_rec_id"], "algorithm_choice": meta.get("algorithm_choice") or None,
            **({"objectives": p["objectives"], "best_values": p.get("best_values"), "best_by": p.get("best_by")}
               if p.get("objectives") else {}),
        })
    return out


#: The latest start a run can record and be shown (the end of year 9999 UTC): a later one is no time.
_LAST_START = 253402300799.0


def _start(value: Any) -> float | None:
    """The run's recorded start (epoch seconds), or None when it is no time: NaN, infinite, past year 9999 or
    before 1970 (a damaged store; JSON has no NaN, and the text listing cannot show it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value <= _LAST_START else None

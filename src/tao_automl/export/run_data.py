"""A run folder's persisted state, read once and read-only, for the exporters."""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tao_automl.errors import WorkspaceError
from tao_automl.experiment.holder import as_shown, lock_holder
from tao_automl.experiment.store import DB_NAME, RecRow, RunStore, unreadable
from tao_automl.experiment.summary import resumes_checkpoints, summarise, uncollected_ids
from tao_automl.metrics.job import STATUS_FILE, local_results_file
from tao_automl.metrics.parse import status_lines, trained_epoch_series
from tao_automl.multiobjective import view as pareto_view
from tao_automl.util.shell import sh


@dataclass(frozen=True)
class RunData:
    """Recs, metadata, summary and per-epoch values (rec id -> {epoch: value}, user scale) of one run.

    ``values``: a multi-objective run's stored metric values of its successful recs (rec id -> {name: value}),
    else None."""

    run_dir: Path
    meta: dict[str, Any]
    recs: list[RecRow]
    summary: dict[str, Any]
    epochs: dict[int, dict[int, float]]
    values: dict[int, dict[str, float]] | None = None

    @property
    def metric(self) -> str:
        return str(self.meta.get("metric") or "metric")

    @property
    def direction(self) -> str:
        return str(self.meta.get("direction", "maximize"))

    def rec(self, rec_id: int) -> RecRow:
        for rec in self.recs:
            if rec.rec_id == rec_id:
                return rec
        known = f"1..{len(self.recs)}" if self.recs else "none yet"
        raise WorkspaceError(f"rec {rec_id} is not in run {self.run_dir.name}; allowed: {known}", field="rec",
                             value=rec_id, allowed=known,
                             hint=f"`tao-automl status {sh(self.run_dir)}` lists the run's recs")


def _epoch_curves(store: RunStore, recs: list[RecRow], metric: str,
                  resumed: bool = True) -> dict[int, dict[int, float]]:
    """Per-epoch values: persisted ``epoch_metric`` events, else the rec's ``status.json`` (in its results folder or
    one a folder down, as its metric was read) when it is readable, at
    the epochs trained as the runner counts them (a file counting from 0: its epoch + 1). ``resumed``: the run's
    promoted recs trained on from their parent's checkpoint."""
    reached = {rec.rec_id: rec.budget_reached for rec in recs}
    curves: dict[int, dict[int, float]] = defaultdict(dict)
    for event in store.events("epoch_metric"):
        curves[int(event["rec_id"])][int(event["payload"]["epoch"])] = float(event["payload"]["value"])
    for rec in recs:
        if rec.rec_id in curves or not rec.results_dir:
            continue
        text = local_results_file(rec.results_dir, STATUS_FILE)[0]  # also TAO's a folder down, as the report reads
        if text is None:
            continue
        trial = rec.trial or {}
        parent = trial.get("parent") if resumed else None
        start = int(reached.get(parent) or 0) if parent is not None else 0
        planned = trial["budget"] if trial.get("budget") is not None else rec.budget
        for epoch, value in trained_epoch_series(status_lines(text), metric, planned, start):
            if epoch is not None and math.isfinite(value):
                curves[rec.rec_id][int(epoch)] = float(value)
    return dict(curves)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder (or a workspace's newest run); a one-line error names the path when there is none."""
    path = Path(run_dir).expanduser()
    if not (path / DB_NAME).exists() and path.is_dir():  # a workspace: its newest run, as `status` does
        from tao_automl.experiment.run_folders import workspace_runs

        runs = [path / name for name in workspace_runs(path)]
        path = runs[-1] if runs else path
    if not (path / DB_NAME).exists():
        from tao_automl.experiment.run_folders import no_run_message

        raise WorkspaceError(no_run_message(path), field="run_dir", value=str(run_dir),
                             allowed=f"a run folder (it holds {DB_NAME}) or a workspace holding one",
                             hint="pass the run folder printed by `tao-automl run`; `tao-automl runs WORKSPACE` "
                                  "lists them")
    try:
        store = RunStore(path, readonly=True)
        try:
            alive = lock_holder(path) is not None  # asked first: a run ending meanwhile reads as finished
            recs, last = store.recs(), store.last_event_at()
            # as status shows it: a run stored as running whose orchestrator was killed is interrupted, ended at its
            # last recorded activity (its stored ended_at is the one its start wrote)
            meta = as_shown(store.meta(), alive, last, run_dir=str(path), counts=store.count_by_status())
            # no orchestrator follows the run: what is in flight is as last seen, as `status` shows it
            seen_until = None if alive else (meta.get("ended_at") or last)
            curves = _epoch_curves(store, recs, str(meta.get("metric") or "metric"), resumes_checkpoints(meta))
            ended = uncollected_ids(store, recs)  # jobs known to have ended, their results not collected yet
            values = pareto_view.stored_values(store.events(pareto_view.VALUES_EVENT),
                                               {r.rec_id for r in recs if r.status == "success"}
                                               ) if pareto_view.objectives_of(meta) else None
        finally:
            store.close()
    except sqlite3.Error as exc:
        message, hint = unreadable(path, str(path / DB_NAME), exc)
        raise WorkspaceError(message, field="run_dir", value=str(run_dir),
                             allowed=f"a run folder whose {DB_NAME} can be read", hint=hint) from None
    return RunData(run_dir=path, meta=meta, recs=recs, summary=summarise(recs, meta, values, seen_until, ended),
                   epochs=curves, values=values)

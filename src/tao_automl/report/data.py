"""A run folder read once, read-only, into plain values the report and the trackers share.

Nothing here writes: the store is opened read-only (safe while a runner writes). Epoch curves come
from the rec's own ``status.json`` when its results folder is readable from here, completed by the
``epoch_metric`` events the runner persisted (stopping mode).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tao_automl.errors import WorkspaceError
from tao_automl.experiment.holder import as_shown, lock_holder
from tao_automl.experiment.lines import epochs_trained
from tao_automl.experiment.store import DB_NAME, FINAL_STATES, UNSUBMITTED, RunStore, unreadable
from tao_automl.experiment.summary import ENDED_UNCOLLECTED, parent_chain, resumes_checkpoints, uncollected_ids
from tao_automl.experiment.workspace import rec_folder
from tao_automl.metrics.job import STATUS_FILE, local_results_file
from tao_automl.metrics.parse import is_better, status_lines, trained_epoch_series
from tao_automl.multiobjective import view as pareto_view


@dataclass(frozen=True)
class RecView:
    """One rec as shown: what ran, how it ended, its budget and its epoch curve."""

    rec_id: int
    params: dict[str, Any]
    status: str
    metric: float | None
    message: str | None
    job_id: str | None
    budget: int | None
    rung: int | None
    bracket: int | None
    parent: int | None
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    spec_path: Path | None
    epochs: list[tuple[int, float]] = field(default_factory=list)
    spec_epochs: int | None = None  # epochs the rendered spec asked for (single-fidelity runs too)
    budget_reached: int | None = None  # epochs its metric was measured at
    #: a multi-objective run's success: every metric's value (the first is ``metric``); else None
    values: dict[str, float] | None = None
    #: the epochs its trial was planned for (a stopping-mode rec stopped early keeps it; ``budget`` is what it trained)
    trial_budget: int | None = None
    #: a multi-objective run: the epoch curve of every metric after the first (``epochs`` holds the first's), read
    #: from the job's status.json where the run folder can see it
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def planned_epochs(self) -> int | None:
        """The rec's budget as ``status`` shows it: the trial's (multi-fidelity), else the epochs its spec asked."""
        if self.trial_budget is not None:
            return self.trial_budget
        return self.budget if self.budget is not None else self.spec_epochs

    @property
    def epochs_trained(self) -> int | None:
        """The epochs shown for the rec, by the rule ``status`` uses (:func:`~tao_automl.experiment.lines.
        epochs_trained`): the epochs its metric was measured at, else a success's planned epochs, else None."""
        return epochs_trained({"budget_reached": self.budget_reached, "budget": self.planned_epochs,
                               "status": self.status})

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def has_value(self) -> bool:
        return self.status in ("success", "stopped") and self.metric is not None and math.isfinite(self.metric)

    @property
    def duration_s(self) -> float | None:
        if self.submitted_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.submitted_at


@dataclass(frozen=True)
class RunData:
    """A run's metadata and recs (ordered by id)."""

    run_dir: Path
    meta: dict[str, Any]
    recs: list[RecView]
    #: a multi-objective run's front (``pareto_front``, ``best_rec_id``, ``best_values``, ``best_by``), else None
    front: dict[str, Any] | None = None

    @property
    def experiment_id(self) -> str:
        return str(self.meta.get("experiment_id") or self.run_dir.name)

    @property
    def metric(self) -> str:
        return str(self.meta.get("metric") or "metric")

    @property
    def direction(self) -> str:
        return str(self.meta.get("direction") or "maximize")

    @property
    def metrics(self) -> list[str]:
        """Every metric of a multi-objective run, in order; the one metric otherwise."""
        return [str(o["name"]) for o in self.front["objectives"]] if self.front else [self.metric]

    @property
    def is_multi_fidelity(self) -> bool:
        """Whether the run's scheduler planned an epoch budget per trial, as ``status`` reads it
        (:func:`~tao_automl.experiment.summary.is_multi_fidelity`): only then do recs rank by the budget reached
        first. A single-fidelity rec whose trainer stopped early by itself has a ``budget`` (its epochs), no trial
        budget."""
        return any(r.trial_budget is not None for r in self.recs)

    def rec(self, rec_id: int) -> RecView:
        for rec in self.recs:
            if rec.rec_id == rec_id:
                return rec
        raise KeyError(f"no rec {rec_id} in {self.run_dir}")

    def promoted(self) -> dict[int, list[int]]:
        """Parent rec id -> the recs that resumed from its checkpoint."""
        out: dict[int, list[int]] = {}
        for rec in self.recs:
            if rec.parent is not None:
                out.setdefault(rec.parent, []).append(rec.rec_id)
        return out

    def continued_from(self, rec_id: int) -> list[int]:
        """The recs whose checkpoints ``rec_id`` trained on from, nearest first (``best.continued_from`` in
        status): a promotion's or a pbt member's metric was reached through them, pbt's with their params."""
        if not resumes_checkpoints(self.meta):  # its promoted recs trained from scratch
            return []
        by_id = {r.rec_id: r for r in self.recs}
        return parent_chain(by_id[rec_id].parent if rec_id in by_id else None,
                            lambda parent: by_id[parent].parent if parent in by_id else None)

    def ranked(self) -> list[RecView]:
        """Every rec, best first; multi-fidelity recs rank by the budget they reached, then by value. A
        multi-objective run ranks as ``status`` does (:func:`~tao_automl.multiobjective.view.ranked_ids`): the
        front's pick, the rest of the front, then each later nondominated layer, by the first metric within each."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        multi = self.is_multi_fidelity

        def key(rec: RecView) -> tuple[int, int, float, int]:
            if not rec.has_value:
                return (1, 0, 0.0, rec.rec_id)
            assert rec.metric is not None
            return (0, -(rec.budget or 0) if multi else 0, sign * rec.metric, rec.rec_id)

        by_first = sorted(self.recs, key=key)
        if self.front is None:
            return by_first
        values = {r.rec_id: r.values for r in self.recs if r.values is not None}
        order = pareto_view.ranked_ids(values, self.front, [r.rec_id for r in by_first if r.has_value])
        by_id = {r.rec_id: r for r in self.recs}
        placed = set(order)
        return [by_id[i] for i in order] + [r for r in by_first if r.rec_id not in placed]

    @property
    def best_so_far_label(self) -> str:
        """What the convergence line shows: with budgets, a rec at a higher budget replaces the incumbent even
        when its value is worse, so the line can move the wrong way; the label says so."""
        return "best so far (highest budget reached first)" if self.is_multi_fidelity else "best so far"

    def best(self) -> RecView | None:
        """The first-ranked rec that succeeded (stopped recs never count as the best); for a multi-objective run,
        the front's pick, as ``status`` shows it."""
        if self.front is not None:
            best_id = self.front.get("best_rec_id")
            return self.rec(int(best_id)) if best_id is not None else None
        return next((r for r in self.ranked() if r.has_value and r.status == "success"), None)

    def convergence(self) -> list[tuple[RecView, float]]:
        """Finished recs with a value in finish order, each with the best value so far.

        With budgets, a rec at a higher budget replaces the incumbent (values at different budgets are
        never compared as equals), matching :meth:`ranked`.
        """
        done = sorted((r for r in self.recs if r.has_value and r.finished_at is not None),
                      key=lambda r: (r.finished_at or 0.0, r.rec_id))
        out: list[tuple[RecView, float]] = []
        best: RecView | None = None
        multi = self.is_multi_fidelity

        def budget(rec: RecView) -> int:
            return (rec.budget or 0) if multi else 0

        for rec in done:
            assert rec.metric is not None
            if best is None or budget(rec) > budget(best) or (
                    budget(rec) == budget(best) and is_better(rec.metric, best.metric, self.direction)):
                best = rec
            assert best.metric is not None
            out.append((rec, best.metric))
        return out


def load_run(run_dir: str | Path, *, read_results: bool = True) -> RunData:
    """Read ``run_dir`` (a run folder, or a workspace: its newest run); a folder without state is an error."""
    path = Path(run_dir).expanduser()
    if not (path / DB_NAME).exists():
        from tao_automl.experiment.run_folders import no_run_message, workspace_runs

        runs = [path / name for name in workspace_runs(path)]
        if not runs:
            raise WorkspaceError(no_run_message(path), field="run_dir", value=str(run_dir),
                                 allowed="a run folder or a workspace",
                                 hint="pass the run folder printed by `tao-automl run`")
        path = runs[-1]
    try:
        return _read_run(path, read_results)
    except sqlite3.DatabaseError as exc:  # another tool's state.db, a damaged one, or one on a full disk
        message, hint = unreadable(path, str(path / DB_NAME), exc)
        raise WorkspaceError(message, field="run_dir", value=str(run_dir),
                             allowed="a run folder made by `tao-automl run`", hint=hint) from None


def _read_run(path: Path, read_results: bool) -> RunData:
    alive = lock_holder(path) is not None  # asked first: a run ending meanwhile reads as finished
    store = RunStore(path, readonly=True)
    try:
        # as status shows it: a run stored as running whose orchestrator was killed is interrupted
        meta = as_shown(store.meta(), alive, store.last_event_at(), run_dir=str(path),
                        counts=store.count_by_status())
        rows = store.recs()
        epochs: dict[int, dict[int, float]] = {}
        for event in store.events("epoch_metric"):
            value = float(event["payload"]["value"])
            if math.isfinite(value):
                epochs.setdefault(int(event["rec_id"]), {})[int(event["payload"]["epoch"])] = value
        trained = {int(e["rec_id"]): int(e["payload"]["budget"]) for e in store.events("trained_budget")}
        front = pareto_view.front_in_store(store, meta)  # several metrics: the best is the front's pick
        values = pareto_view.values_in_store(store, meta) or {}
        ended = uncollected_ids(store, rows)  # jobs known to have ended, their results not collected yet
    finally:
        store.close()
    metric = str(meta.get("metric") or "metric")
    others = [str(o["name"]) for o in pareto_view.objectives_of(meta)][1:]  # a multi-objective run's other metrics
    recs = []
    for row in rows:
        trial = row.trial or {}
        points = dict(epochs.get(row.rec_id, {}))
        read = _curves_from_status(Path(row.results_dir), [metric, *others], _planned(trial, row.budget),
                                   _start_epoch(trial, rows, meta)) if read_results and row.results_dir else {}
        points.update(read.get(metric, {}))
        budget = trained.get(row.rec_id, trial.get("budget"))
        curves = {name: read.get(name, {}) for name in others}
        if row.status == "stopped" and budget is not None:  # the job may write epochs past the stop before it dies
            points = {e: v for e, v in points.items() if e <= budget}
            curves = {name: {e: v for e, v in c.items() if e <= budget} for name, c in curves.items()}
        curve = sorted(points.items())
        recs.append(RecView(
            rec_id=row.rec_id, params=row.params,
            status=ENDED_UNCOLLECTED if row.rec_id in ended else _status(row.status),  # as `status` shows it
            metric=row.metric_value, message=row.message, job_id=row.job_id, budget=budget,
            rung=trial.get("rung"), bracket=trial.get("bracket"), parent=trial.get("parent"),
            created_at=row.created_at, submitted_at=row.submitted_at, finished_at=row.finished_at,
            spec_path=_spec_path(path, row.rec_id), epochs=curve, spec_epochs=row.budget,
            budget_reached=row.budget_reached,
            values=dict(values[row.rec_id]) if row.rec_id in values else None, trial_budget=trial.get("budget"),
            curves={name: sorted(c.items()) for name, c in curves.items() if c},
        ))
    return RunData(run_dir=path, meta=meta, recs=recs, front=front)


def _status(status: Any) -> str:
    """A plain string (the store may hand out a ``str`` enum); ``created`` shows as ``pending``."""
    text = str(getattr(status, "value", status))
    return "pending" if text == UNSUBMITTED else text


def _planned(trial: dict[str, Any], budget: int | None) -> int | None:
    """A rec's epoch budget as the runner reads it: its trial's, else the epochs its spec asked for."""
    return int(trial["budget"]) if trial.get("budget") is not None else budget


def _start_epoch(trial: dict[str, Any], rows: list[Any], meta: dict[str, Any]) -> int:
    """Epochs a rec's job had trained before it started, as the runner counts them: its parent's when it resumed
    the parent's checkpoint, else 0."""
    parent = trial.get("parent")
    if parent is None or not resumes_checkpoints(meta):
        return 0
    row = next((r for r in rows if r.rec_id == parent), None)
    return int(row.budget_reached or 0) if row is not None else 0


def _curves_from_status(results_dir: Path, metrics: list[str], planned: int | None = None,
                        start: int = 0) -> dict[str, dict[int, float]]:
    """``{metric: {epoch: value}}`` of each of ``metrics`` in the job's status.json (the file read once; none in the
    results folder: the one a folder down the rec's metric was read from, :func:`local_results_file`), at the
    epochs trained as the runner counts them (a file counting from 0: its epoch + 1; ``planned``: the rec's
    budget, ``start``: the epochs it resumed)."""
    text = local_results_file(results_dir, STATUS_FILE)[0]
    if text is None:
        return {}
    records = status_lines(text)
    out: dict[str, dict[int, float]] = {}
    for metric in metrics:
        points = out.setdefault(metric, {})
        for epoch, value in trained_epoch_series(records, metric, planned, start):
            if epoch is not None and math.isfinite(value):
                points[int(epoch)] = value
    return out


def _spec_path(run_dir: Path, rec_id: int) -> Path | None:
    rec_dir = rec_folder(run_dir, rec_id)
    found = sorted(rec_dir.glob("*_spec.*")) if rec_dir.is_dir() else []
    return found[0] if found else None

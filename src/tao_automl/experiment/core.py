"""The ask/tell core shared by :class:`AutoML` and :class:`AutoMLRunner`.

An :class:`Experiment` owns a run folder's store, the search space and the brain. It persists a
rec before handing it out and persists a result before the brain learns from it, so the
state on disk is always at least as new as the state in memory. Resuming replays the finished
recs through the brain (no pickles).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tao_automl.brain import Brain, make_brain
from tao_automl.brain.auto import auto_choice
from tao_automl.brain.registry import brain_options
from tao_automl.brain.trials import ClassicScheduler, Trial, TrialScheduler
from tao_automl.errors import TaoAutoMLError, WorkspaceError
from tao_automl.experiment import brain_records as llm_records
from tao_automl.experiment.store import FINAL_STATES, RecRow, RunStore
from tao_automl.experiment.summary import progress as run_progress
from tao_automl.experiment.summary import summarise
from tao_automl.llm import setup as llm_setup
from tao_automl.metrics.parse import is_valid_metric, to_objective
from tao_automl.settings import REFUSED, AutoMLSettings
from tao_automl.space.search_space import SearchSpace
from tao_automl.util.crash import crash_point
from tao_automl.util.dotted import with_values
from tao_automl.util.secrets import REDACTED

log = logging.getLogger(__name__)


@dataclass
class Recommendation:
    """One rec: its id, the sampled hyperparameters and the full spec they produce."""

    id: int
    params: dict[str, Any]
    specs: dict[str, Any]
    status: str = "pending"
    job_id: str | None = None
    metric_value: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _rec(row: RecRow) -> Recommendation:
    return Recommendation(id=row.rec_id, params=row.params, specs=row.specs, status=row.status,
                          job_id=row.job_id, metric_value=row.metric_value)


class Experiment:
    """A run folder's search state: store + space + brain."""

    def __init__(self, run_dir: Path, store: RunStore, space: SearchSpace, settings: AutoMLSettings,
                 direction: str, base_spec: Mapping[str, Any]) -> None:
        self.run_dir = run_dir
        self.store = store
        self.space = space
        self.settings = settings
        self.direction = direction
        self.base_spec = dict(base_spec)
        self.brain: Brain = make_brain(settings.algorithm, space, brain_options(settings.algorithm, settings))
        self.scheduler: TrialScheduler = as_scheduler(self.brain, settings)
        self._recs: dict[int, RecRow] = {}
        self._meta: dict[str, Any] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: Path, space: SearchSpace, settings: AutoMLSettings, direction: str,
               base_spec: Mapping[str, Any], extra_meta: Mapping[str, Any]) -> Experiment:
        llm_setup.preflight(settings)  # a wrong LLM endpoint/model/key stops before the run folder
        store = RunStore(run_dir)
        exp = cls(run_dir, store, space, settings, direction, base_spec)
        meta = {
            "experiment_id": run_dir.name,
            "run_dir": str(run_dir),
            "created_at": time.time(),
            "algorithm": settings.algorithm,
            **({"algorithm_choice": auto_choice(space, settings)} if settings.algorithm == "auto" else {}),
            "metric": settings.metric,
            "direction": direction,
            "budget": settings.automl_max_recommendations,
            "settings": settings.to_dict(),
            "space": space.to_json(),
            "base_spec": exp.base_spec,
            "state": "running",
            **dict(extra_meta),
        }
        crash_point("run_meta")  # chaos tests: the folder and its store exist, the metadata does not yet
        store.set_meta(meta, event="run_created")
        exp._meta = store.meta()
        return exp

    @classmethod
    def open(cls, run_dir: Path, settings: AutoMLSettings | None = None) -> Experiment:
        """Reopen a run: settings, space and spec come from the run folder alone."""
        store = RunStore(run_dir)
        meta = store.meta()
        if "space" not in meta:
            store.close()
            raise WorkspaceError(f"cannot resume {str(run_dir)!r}: its setup was interrupted before the run's metadata "
                                 "was written, so no rec or job ever ran in it; delete this folder and start again")
        stored = AutoMLSettings.from_mapping(
            {k: v for k, v in meta["settings"].items()
             if not (k == "llm_api_key" and v in ("***", REDACTED)) and k not in REFUSED}  # REFUSED: older versions
        )
        if settings is not None:
            drift = diff_settings(stored, settings)
            if drift:
                store.close()
                raise WorkspaceError(f"cannot resume {run_dir.name}: settings differ from the stored run: {drift} "
                                     f"(only {', '.join(sorted(RESUME_MUTABLE))} may change on resume)")
            if settings != stored:
                stored = settings
                store.set_meta({"settings": settings.to_dict(), "budget": settings.automl_max_recommendations},
                               event="settings_changed")
                meta = store.meta()
        exp = cls(run_dir, store, SearchSpace.from_json(meta["space"]), stored, meta["direction"], meta["base_spec"])
        exp._meta = meta
        exp._replay()
        llm_records.drain(exp.brain)  # records of replayed results were persisted the first time
        store.set_meta({"state": "running", "resumed_at": time.time()}, event="run_resumed")
        exp._meta = store.meta()
        return exp

    def _replay(self) -> None:
        rows = self.store.recs()
        for row in rows:
            self._recs[row.rec_id] = row
            self.scheduler.restore(row.rec_id, self.trial(row.rec_id))
        for event in self.store.events("epoch_metric"):
            payload = event["payload"]
            self.scheduler.report_epoch(int(event["rec_id"]), int(payload["epoch"]), float(payload["objective"]))
        for row in rows:
            if row.status in FINAL_STATES:
                self._observe(row.rec_id, row.status, row.metric_value, self._budget_of(row))

    def move_to(self, run_dir: Path, rename: Callable[[], None]) -> None:
        """Close the store, let ``rename`` move the folder to ``run_dir``, reopen the store there."""
        self.store.close()
        rename()
        self.run_dir = run_dir
        self.store = RunStore(run_dir)

    def close(self, state: str | None = None) -> None:
        if state:
            self.store.set_meta({"state": state, "ended_at": time.time()}, event=f"run_{state}")
        self.store.close()

    # -- ask ------------------------------------------------------------------------------------
    @property
    def budget(self) -> int:
        return self.settings.automl_max_recommendations

    @property
    def n_created(self) -> int:
        return len(self._recs)

    def recs(self) -> list[RecRow]:
        return [self._recs[k] for k in sorted(self._recs)]

    def refresh(self, rec_id: int) -> RecRow:
        row = next(r for r in self.store.recs() if r.rec_id == rec_id)
        self._recs[rec_id] = row
        return row

    def unfinished(self) -> list[RecRow]:
        return [r for r in self.recs() if r.status not in FINAL_STATES]

    def job_name(self, rec_id: int) -> str:
        return f"{self._meta.get('experiment_id', self.run_dir.name)}-rec{rec_id:04d}"

    def trial(self, rec_id: int) -> Trial:
        row = self._recs[rec_id]
        return Trial.from_json(row.trial) if row.trial else Trial(config=row.params)

    def ask(self, n: int) -> list[Recommendation]:
        """Up to ``n`` new recs (fewer when the budget is spent or the scheduler waits), each persisted first."""
        n = min(n, self.budget - self.n_created)
        if n <= 0 or self.scheduler.is_finished(self.n_created):
            return []
        pending = {r.rec_id: self.trial(r.rec_id) for r in self.unfinished()}
        rng = np.random.default_rng([self.settings.seed, self.n_created])
        ids = list(range(self.n_created + 1, self.n_created + 1 + n))
        try:
            trials = self.scheduler.propose(ids, pending, rng)
        except BaseException:
            llm_records.persist(self.store, llm_records.drain(self.brain), [])
            raise
        out: list[Recommendation] = []
        for rec_id, trial in zip(ids, trials[:n], strict=False):
            problems = self.space.violations(trial.config)
            if problems:
                raise TaoAutoMLError(f"brain {self.settings.algorithm!r} proposed an invalid config: {problems}")
            specs = with_values(self.base_spec, trial.config)
            self.store.add_rec(rec_id, trial.config, specs, self.job_name(rec_id), trial.to_json())
            self.refresh(rec_id)
            out.append(Recommendation(id=rec_id, params=dict(trial.config), specs=specs,
                                      extra={"trial": trial.to_json()}))
        llm_records.persist(self.store, llm_records.drain(self.brain), [r.id for r in out])
        return out

    def report_epoch(self, rec_id: int, epoch: int, value: float) -> bool:
        """Persist an intermediate metric (user scale), then ask the scheduler whether to stop the rec."""
        objective = to_objective(value, self.direction)
        self.store.log_event("epoch_metric", rec_id, epoch=epoch, value=value, objective=objective)
        return self.scheduler.report_epoch(rec_id, epoch, objective)

    # -- tell -----------------------------------------------------------------------------------
    def tell(self, rec_id: int, value: float | None, status: str = "success", message: str | None = None,
             budget: int | None = None) -> RecRow:
        """Persist a rec's end, then let the brain learn from it. NaN/inf/None are failures.

        ``budget``: epochs the rec actually trained (stopped recs); defaults to the trial's planned budget.
        """
        row = self._recs.get(rec_id)
        if row is None:
            raise KeyError(f"unknown rec id {rec_id}; known: {sorted(self._recs)}")
        if row.status in FINAL_STATES:
            raise TaoAutoMLError(f"rec {rec_id} already ended with status {row.status!r}")
        if status == "success" and not is_valid_metric(value):
            message = message or (
                "no metric was reported" if value is None else f"metric is not a finite number ({value})"
            )
            status = "failure"
        stored_value = value if value is not None and math.isfinite(value) else None
        if budget is not None:
            self.store.log_event("trained_budget", rec_id, budget=budget)
        trained = budget if budget is not None else (self.trial(rec_id).budget or row.budget)
        self.store.finish_rec(rec_id, status, stored_value, message,
                              budget_reached=trained if stored_value is not None else None)
        row = self.refresh(rec_id)
        self._observe(rec_id, status, stored_value, budget if budget is not None else self._budget_of(row))
        llm_records.persist(self.store, llm_records.drain(self.brain), [])  # e.g. verdicts made on this result
        return row

    def _budget_of(self, row: RecRow) -> int | None:
        for event in self.store.events("trained_budget"):
            if event["rec_id"] == row.rec_id:
                return int(event["payload"]["budget"])
        return self.trial(row.rec_id).budget

    def _observe(self, rec_id: int, status: str, value: float | None, budget: int | None) -> None:
        if status in ("success", "stopped") and is_valid_metric(value):
            assert value is not None
            self.scheduler.observe(rec_id, to_objective(value, self.direction), budget)
        elif status == "failure":
            self.scheduler.observe(rec_id, None, budget)
        # cancelled recs carry no information about the config's quality.

    # -- views ----------------------------------------------------------------------------------
    def is_complete(self) -> bool:
        spent = self.n_created >= self.budget or self.scheduler.is_finished(self.n_created)
        return spent and not self.unfinished()

    def summary(self) -> dict[str, Any]:
        return summarise(self.recs(), self.store.meta())

    def progress(self) -> dict[str, Any]:
        """Counts, best so far, elapsed and ETA (the live line), from the recs in memory."""
        return run_progress(self.recs(), self._meta)


#: Settings a resumed run may change (a bigger budget, more parallel recs, another poll pace).
RESUME_MUTABLE = frozenset({"automl_max_recommendations", "automl_max_concurrent", "poll_interval_s", "llm_api_key",
                            "automl_job_timeout_s", "automl_fail_fast_after",
                            "long_running_enabled", "status_interval_minutes"})


def as_scheduler(brain: Any, settings: AutoMLSettings) -> TrialScheduler:
    """A multi-fidelity brain is its own scheduler; a classic brain is wrapped."""
    if isinstance(brain, TrialScheduler):
        return brain
    return ClassicScheduler(brain, settings.automl_max_recommendations)


def diff_settings(stored: AutoMLSettings, given: AutoMLSettings) -> str:
    """A readable list of fixed settings that changed (``key: stored -> given``); empty when none did."""
    a, b = stored.to_dict(), given.to_dict()
    changes = [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k] and k not in RESUME_MUTABLE]
    return "; ".join(changes)

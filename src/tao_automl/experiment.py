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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tao_automl.brain import Brain, make_brain
from tao_automl.dotted import with_values
from tao_automl.errors import TaoAutoMLError, WorkspaceError
from tao_automl.metrics import is_valid_metric, to_objective
from tao_automl.settings import AutoMLSettings
from tao_automl.space import Config, SearchSpace
from tao_automl.store import FINAL_STATES, UNSUBMITTED, RecRow, RunStore
from tao_automl.summary import summarise

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
        self.brain: Brain = make_brain(settings.algorithm, space)
        self._recs: dict[int, RecRow] = {}
        self._meta: dict[str, Any] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: Path, space: SearchSpace, settings: AutoMLSettings, direction: str,
               base_spec: Mapping[str, Any], extra_meta: Mapping[str, Any]) -> Experiment:
        store = RunStore(run_dir)
        exp = cls(run_dir, store, space, settings, direction, base_spec)
        meta = {
            "experiment_id": run_dir.name,
            "run_dir": str(run_dir),
            "created_at": time.time(),
            "algorithm": settings.algorithm,
            "metric": settings.metric,
            "direction": direction,
            "budget": settings.automl_max_recommendations,
            "settings": settings.to_dict(),
            "space": space.to_json(),
            "base_spec": exp.base_spec,
            "state": "running",
            **dict(extra_meta),
        }
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
            raise WorkspaceError(f"{str(run_dir)!r} holds no complete run (its metadata was never written)")
        stored = AutoMLSettings.from_mapping(
            {k: v for k, v in meta["settings"].items() if not (k == "llm_api_key" and v == "***")}
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
        store.set_meta({"state": "running", "resumed_at": time.time()}, event="run_resumed")
        exp._meta = store.meta()
        return exp

    def _replay(self) -> None:
        for row in self.store.recs():
            self._recs[row.rec_id] = row
            if row.status in FINAL_STATES:
                self._observe(row.params, row.status, row.metric_value)

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

    def ask(self, n: int) -> list[Recommendation]:
        """Up to ``n`` new recs (fewer when the budget is nearly spent), each persisted before return."""
        n = min(n, self.budget - self.n_created)
        if n <= 0:
            return []
        pending = [r.params for r in self.unfinished()]
        rng = np.random.default_rng([self.settings.seed, self.n_created])
        configs = self.brain.suggest(n, pending, rng)
        out: list[Recommendation] = []
        for config in configs[:n]:
            problems = self.space.violations(config)
            if problems:
                raise TaoAutoMLError(f"brain {self.settings.algorithm!r} proposed an invalid config: {problems}")
            rec_id = self.n_created + 1
            specs = with_values(self.base_spec, config)
            self.store.add_rec(rec_id, config, specs, self.job_name(rec_id))
            self.refresh(rec_id)
            out.append(Recommendation(id=rec_id, params=dict(config), specs=specs))
        return out

    # -- tell -----------------------------------------------------------------------------------
    def tell(self, rec_id: int, value: float | None, status: str = "success", message: str | None = None) -> RecRow:
        """Persist a rec's end, then let the brain learn from it. NaN/inf/None are failures."""
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
        self.store.finish_rec(rec_id, status, stored_value, message)
        row = self.refresh(rec_id)
        self._observe(row.params, status, stored_value)
        return row

    def _observe(self, params: Config, status: str, value: float | None) -> None:
        if status == "success" and is_valid_metric(value):
            assert value is not None
            self.brain.observe(params, to_objective(value, self.direction))
        elif status == "failure":
            self.brain.observe(params, None)
        # cancelled/stopped recs carry no information about the config's quality.

    # -- views ----------------------------------------------------------------------------------
    def is_complete(self) -> bool:
        return self.n_created >= self.budget and not self.unfinished()

    def summary(self) -> dict[str, Any]:
        return summarise(self.recs(), self.store.meta())

    def has_unsubmitted(self) -> bool:
        return any(r.status == UNSUBMITTED for r in self.recs())


#: Settings a resumed run may change (a bigger budget, more parallel recs, another poll pace).
RESUME_MUTABLE = frozenset({"automl_max_recommendations", "automl_max_concurrent", "poll_interval_s", "llm_api_key"})


def diff_settings(stored: AutoMLSettings, given: AutoMLSettings) -> str:
    """A readable list of fixed settings that changed (``key: stored -> given``); empty when none did."""
    a, b = stored.to_dict(), given.to_dict()
    changes = [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k] and k not in RESUME_MUTABLE]
    return "; ".join(changes)

"""``AutoML``: ask/tell without the runner. You train; it proposes and remembers."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tao_automl.bank.skill import load_skill
from tao_automl.errors import SearchSpaceError, UserInputError, WorkspaceError
from tao_automl.experiment.core import Experiment, Recommendation
from tao_automl.experiment.store import DB_NAME
from tao_automl.experiment.summary import rec_dict
from tao_automl.experiment.workspace import RunLock
from tao_automl.llm.setup import preflight as llm_preflight
from tao_automl.runner import progress_log
from tao_automl.runner.plan import RunPlan
from tao_automl.runner.run_args import plain
from tao_automl.settings import AutoMLSettings
from tao_automl.tracking.base import ObserverSet
from tao_automl.tracking.config import build_observers, check_tracking_config


class AutoML:
    """Propose recs, take their results, keep the best — persisted under ``workspace``.

    The search space comes from ``skill_dir``'s ``schemas/<action>.schema.json`` or from
    ``search_schema`` (a dict in the same format). ``workspace`` is used as the run folder itself;
    an existing run there is continued only with ``resume=True``.
    """

    def __init__(self, workspace: str | Path, network: str | None = None, train_specs: Mapping[str, Any] | None = None,
                 settings: Mapping[str, Any] | None = None, action: str = "train", skill_dir: str | Path | None = None,
                 search_schema: Mapping[str, Any] | None = None, wandb_config: Mapping[str, Any] | None = None,
                 *, automl_hyperparameters: Sequence[str] | None = None,
                 custom_param_ranges: Mapping[str, Mapping[str, Any]] | None = None, resume: bool = False,
                 log_progress: bool = True, mlflow_config: Mapping[str, Any] | None = None) -> None:
        #: A line per reported result on the ``tao_automl.progress`` logger (see :mod:`tao_automl.runner.progress_log`).
        self.log_progress = log_progress
        self.settings = AutoMLSettings.from_mapping(plain("settings", settings))
        tracking = {"wandb": check_tracking_config("wandb_config", wandb_config),
                    "mlflow": check_tracking_config("mlflow_config", mlflow_config)}
        run_dir = Path(workspace).expanduser().resolve()
        # every check before the folder exists: a bad space or schema leaves nothing behind
        plan = None if resume else self._plan(train_specs, action, skill_dir, search_schema, automl_hyperparameters,
                                              custom_param_ranges)
        if plan is not None:
            llm_preflight(self.settings)  # LLM brains: endpoint, model and key work, or stop here
        if (run_dir / DB_NAME).exists() and not resume:
            raise WorkspaceError(f"workspace {str(run_dir)!r} already holds a run; pass resume=True to continue it")
        if resume and not (run_dir / DB_NAME).exists():
            raise WorkspaceError(f"cannot resume: workspace {str(run_dir)!r} holds no run (no {DB_NAME})")
        run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(run_dir).acquire()
        try:
            if resume:
                self._exp = Experiment.open(run_dir, self.settings)
                if any(tracking.values()):
                    self._exp.store.set_meta({k: v for k, v in tracking.items() if v}, event="tracking_changed")
            else:
                assert plan is not None
                self._exp = Experiment.create(run_dir, plan.space, self.settings, plan.direction, plan.base_spec,
                                              {"network": network, "action": action, "mode": "ask_tell",
                                               "metric": plan.metric, **tracking})
        except BaseException:
            self._lock.release()
            raise
        self.wandb_config = dict(wandb_config or {})
        meta = self._exp.store.meta()
        #: W&B / MLflow trackers from the run's stored configs (a failing tracker is logged, never raised).
        self.tracking = ObserverSet(build_observers(meta.get("wandb"), meta.get("mlflow")))
        self.tracking.sweep_started(self._exp.run_dir)

    def _plan(self, train_specs: Mapping[str, Any] | None, action: str, skill_dir: str | Path | None,
              search_schema: Mapping[str, Any] | None, hyperparameters: Sequence[str] | None,
              custom_ranges: Mapping[str, Mapping[str, Any]] | None) -> RunPlan:
        skill = load_skill(skill_dir, action) if skill_dir is not None else None
        if search_schema is not None:
            schema: Mapping[str, Any] = search_schema
        elif skill is not None:
            schema = skill.schema
        else:
            raise SearchSpaceError("AutoML needs skill_dir (a model folder) or search_schema (a schema dict)")
        specs = plain("train_specs", train_specs)
        return RunPlan.ask_tell(self.settings, skill=skill, schema=schema, train_specs=specs,
                                hyperparameters=hyperparameters, custom_ranges=custom_ranges)

    @property
    def workspace(self) -> Path:
        return self._exp.run_dir

    def next_recommendation(self) -> list[Recommendation]:
        """New recs to train now: as many as free slots (``automl_max_concurrent``) and budget allow."""
        in_flight = len(self._exp.unfinished())
        return self._exp.ask(max(0, self.settings.automl_max_concurrent - in_flight))

    def report_result(self, rec_id: int, metric: float | None, status: str = "success",
                      message: str | None = None, values: Mapping[str, float] | None = None) -> None:
        """Record a rec's metric (user scale). ``None`` / NaN / inf, or ``status="failure"``, is a failure.

        A run whose ``metric`` is a list takes every metric in ``values`` (name -> value; ``metric`` may be None)."""
        if status not in ("success", "failure"):
            raise UserInputError(f"status: {status!r} is not allowed; expected 'success' or 'failure'",
                                 field="status", value=status, allowed=["success", "failure"])
        if metric is not None and (isinstance(metric, bool) or not isinstance(metric, numbers.Real)):
            raise UserInputError(f"metric: {metric!r} is not allowed; expected a number (or None for a failure)",
                                 field="metric", value=metric, allowed="a number or None")
        metric = None if metric is None else float(metric)
        if values is not None and (not isinstance(values, Mapping) or any(
                isinstance(v, bool) or not isinstance(v, numbers.Real) for v in values.values())):
            raise UserInputError(f"values: {values!r} is not allowed; expected a mapping of metric name -> number",
                                 field="values", value=values, allowed="a mapping of metric name -> number")
        row = self._exp.tell(rec_id, metric, status, message,
                             values=None if values is None else {str(k): float(v) for k, v in values.items()})
        self.tracking.rec_finished(self._exp.run_dir, rec_id)
        if self.log_progress:
            progress = self._exp.progress()
            with progress_log.default_handler(True):
                progress_log.log_rec(rec_dict(row), progress, str(progress.get("metric") or "metric"))

    def is_complete(self) -> bool:
        return self._exp.is_complete()

    def get_best(self) -> Recommendation | None:
        best = self._exp.summary()["best"]
        if best is None:
            return None
        return Recommendation(id=best["rec_id"], params=best["params"], specs=best["specs"], status="success",
                              metric_value=best["metric_value"])

    def get_status(self) -> dict[str, Any]:
        return self._exp.summary()

    def finish(self) -> dict[str, Any]:
        """Close the run (state ``finished`` when complete, else ``stopped``) and release its lock."""
        state = "finished" if self._exp.is_complete() else "stopped"
        self._exp.end(state)  # before the summary: it shows the ended run (its state, no ETA)
        try:
            summary = self._exp.summary()
        finally:
            self._exp.close()
        self.tracking.sweep_ended(self._exp.run_dir, state)
        self._lock.release()
        return summary

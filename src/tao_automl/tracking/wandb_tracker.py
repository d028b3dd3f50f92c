"""Weights & Biases: one W&B run per rec, all in one group, plus one ``sweep`` run with the results.

Why one run per rec: that is what W&B Sweeps and Ray Tune's W&B logger produce, and what W&B's own
HPO views (parallel coordinates, parameter importance, run comparison, grouping) work on. Each rec run
carries the rec's params as config, its epoch curve (when known) and final metric as history, and its
status, budget and message in the summary. The ``sweep`` run (job type ``sweep``, same group) holds the
convergence (best so far after each result, as history and as a line chart), the results table
(re-logged after each result) and the best rec; at the end of a finished sweep the best rec's run is
tagged ``best``.

Resume-safe: run ids are derived from the experiment id (``<exp>-rec0007``, ``<exp>-sweep``) and opened
with ``resume="allow"``, and the recs already logged are listed in ``tracking/wandb.json`` in the run
folder, so a resumed sweep continues the same group and sweep run and logs each rec once. The API key
comes only from the environment (``WANDB_API_KEY``); ``mode`` defaults to W&B's own (``WANDB_MODE``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.report.data import RecView, RunData, load_run
from tao_automl.util.secrets import redact

STATE_FILE = Path("tracking") / "wandb.json"
#: The prefix of the epoch curve of a rec without a result (failed, cancelled), kept off the metric's own key.
PARTIAL = "partial_"
TABLE_COLUMNS = ["rec_id", "status", "metric", "budget", "duration_s", "message", "params"]


class WandbTracker:
    """A :class:`~tao_automl.tracking.base.SweepObserver` that logs to W&B (offline mode works)."""

    #: Its key in the result's ``tracking_errors``.
    name = "wandb"

    def __init__(self, config: Mapping[str, Any]) -> None:
        import wandb

        self.wandb: Any = wandb
        self.config = dict(config)
        self._sweep: Any = None
        self._logged: list[int] = []  # rec ids in the order they were logged; the sweep run's step = index + 1

    # -- observer ---------------------------------------------------------------------------------
    def sweep_started(self, run_dir: Path) -> None:
        data = load_run(run_dir)
        self._logged = [int(i) for i in self._read_state(run_dir).get("logged", [])]
        self._sweep = self._init(data, run_id=f"{data.experiment_id}-sweep", name=data.experiment_id,
                                 job_type="sweep", config=_sweep_config(data))
        # A killed client can lose the sweep run's last rows (W&B buffers them); rows are logged again at their
        # original steps, which W&B ignores where it already has them.
        for step in range(1, len(self._logged) + 1):
            self._log_progress(data, step)
        for rec in data.recs:  # results persisted while no tracker was listening (a crash, a kill -9)
            if rec.is_final and rec.rec_id not in self._logged:
                self._log_rec(data, rec)

    def rec_finished(self, run_dir: Path, rec_id: int) -> None:
        if self._sweep is None:  # the sweep run could not be set up (its error was told once): nothing to log into
            return
        data = load_run(run_dir)
        if rec_id not in self._logged:
            self._log_rec(data, data.rec(rec_id))

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        if self._sweep is None:
            return
        data = load_run(run_dir)
        best = data.best()
        sweep, self._sweep = self._sweep, None
        try:
            sweep.summary["state"] = state
            sweep.summary["recs_logged"] = len(self._logged)
            points = data.convergence() if data.front is None else []
            if points:
                table = self.wandb.Table(columns=["rec_number", "rec_id", f"best_{data.metric}"],
                                         data=[[i + 1, rec.rec_id, value] for i, (rec, value) in enumerate(points)])
                sweep.log({"convergence": self.wandb.plot.line(table, "rec_number", f"best_{data.metric}",
                                                               title=f"best {data.metric} so far")})
            if best is not None:
                # the front's pick for several metrics: each metric's value of that rec
                values = best.values or ({data.metric: best.metric} if best.metric is not None else {})
                # best_params alone do not say how a promoted or pbt rec reached its value: the checkpoints it
                # trained on from, as status's best.continued_from
                sweep.summary.update({"best_rec_id": best.rec_id, "best_run_id": self._rec_run_id(data, best.rec_id),
                                      "best_params": best.params,
                                      "best_continued_from": data.continued_from(best.rec_id),
                                      **{f"best_{k}": v for k, v in values.items()}})
        finally:
            sweep.finish(exit_code=0 if state == "finished" else 1)
        if state == "finished" and best is not None and not self._offline():
            # tag the best rec's run (an offline run cannot be reopened: the sweep run's summary names it instead)
            run = self._init(data, run_id=self._rec_run_id(data, best.rec_id), name=f"rec_{best.rec_id:04d}",
                             job_type="rec", config=None)
            run.tags = (*run.tags, "best")
            run.summary["is_best"] = True
            run.finish()

    # -- helpers ----------------------------------------------------------------------------------
    def _init(self, data: RunData, *, run_id: str, name: str, job_type: str, config: Mapping[str, Any] | None) -> Any:
        cfg = self.config
        settings = self.wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True,
                                       save_code=False, x_save_requirements=False)
        return self.wandb.init(
            project=cfg.get("project", "tao-automl"), entity=cfg.get("entity"), group=cfg.get("group") or
            data.experiment_id, job_type=job_type, name=name, id=run_id, resume="allow", reinit="create_new",
            dir=cfg.get("dir") or str(data.run_dir), mode=cfg.get("mode"), notes=cfg.get("notes"),
            tags=list(cfg.get("tags") or []), config=dict(config) if config is not None else None,
            settings=settings,
        )

    def _offline(self) -> bool:
        """W&B offline (``mode`` or ``$WANDB_MODE``): runs are written to folders synced later, and a run id
        written twice would replace the first on upload."""
        return str(self.config.get("mode") or os.environ.get("WANDB_MODE") or "").lower() in ("offline", "dryrun")

    @staticmethod
    def _rec_run_id(data: RunData, rec_id: int) -> str:
        return f"{data.experiment_id}-rec{rec_id:04d}"

    def _log_rec(self, data: RunData, rec: RecView) -> None:
        metric = data.metric
        config = {**rec.params, "rec_id": rec.rec_id, "budget": rec.planned_epochs, "rung": rec.rung,
                  "bracket": rec.bracket, "parent": rec.parent}
        run = self._init(data, run_id=self._rec_run_id(data, rec.rec_id), name=f"rec_{rec.rec_id:04d}",
                         job_type="rec", config=config)
        try:
            for epoch, row in _epoch_rows(rec, metric).items():
                # committed now: W&B holds a step's row until a later step or finish() and then writes its values
                # into the summary, over the rec's result set below (a final value written without an epoch, say)
                run.log({**row, "epoch": epoch}, step=epoch, commit=True)
            if rec.has_value and not rec.epochs:
                run.log({metric: rec.metric})
            run.summary.update({"status": rec.status, "message": rec.message or "", "budget": rec.planned_epochs,
                                "duration_s": rec.duration_s, "job_id": rec.job_id,
                                **({metric: rec.metric} if rec.has_value else {}),
                                **(rec.values or {})})  # a multi-objective rec: every metric's value
        finally:
            run.finish(exit_code=0 if rec.status in ("success", "stopped") else 1)
        self._logged.append(rec.rec_id)
        self._write_state(data.run_dir)
        self._log_progress(data, len(self._logged))

    def _log_progress(self, data: RunData, step: int) -> None:
        """The sweep run's row after the ``step``-th logged rec: its value, the best so far, the results table."""
        if self._sweep is None:
            return
        ids = self._logged[:step]
        rec = data.rec(ids[-1])
        logged = [data.rec(i) for i in ids]
        # best so far by the first metric: not a multi-objective run's best (its front's pick, in the summary)
        best = [v for r, v in data.convergence() if r.rec_id in ids] if data.front is None else []
        row: dict[str, Any] = {"rec_id": rec.rec_id, "recs_done": len(logged),
                               "failed": sum(r.status == "failure" for r in logged)}
        # a rec without a value logs null: W&B's summary keeps each key's last value, and a failed rec's row left the
        # previous rec's value beside its own rec_id
        row[data.metric] = rec.metric if rec.has_value else None
        if best:
            row[f"best_{data.metric}"] = best[-1]
        row["results"] = self.wandb.Table(columns=TABLE_COLUMNS, data=[_table_row(r) for r in logged])
        self._sweep.log(row, step=step)

    @staticmethod
    def _read_state(run_dir: Path) -> dict[str, Any]:
        path = run_dir / STATE_FILE
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _write_state(self, run_dir: Path) -> None:
        path = run_dir / STATE_FILE
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"logged": self._logged}))
        os.replace(tmp, path)


def _epoch_rows(rec: RecView, metric: str) -> dict[int, dict[str, float]]:
    """``{epoch: {key: value}}`` of the rec's curves in epoch order: the metric's, and every other metric's of a
    multi-objective run; a rec without a result logs them under ``partial_<name>`` (no value under the metric's
    own key)."""
    rows: dict[int, dict[str, float]] = {}
    for name, points in [(metric, rec.epochs), *rec.curves.items()]:
        key = name if rec.has_value else f"{PARTIAL}{name}"
        for epoch, value in points:
            rows.setdefault(epoch, {})[key] = value
    return dict(sorted(rows.items()))


def _sweep_config(data: RunData) -> dict[str, Any]:
    settings = dict(data.meta.get("settings") or {})
    settings.pop("llm_api_key", None)
    return {"experiment_id": data.experiment_id, "metric": data.metric, "direction": data.direction,
            "algorithm": data.meta.get("algorithm"), "budget": data.meta.get("budget"),
            "settings": redact(settings)}


def _table_row(rec: RecView) -> list[Any]:
    return [rec.rec_id, rec.status, rec.metric, rec.planned_epochs,
            None if rec.duration_s is None else round(rec.duration_s, 3), rec.message or "",
            json.dumps(rec.params, sort_keys=True, default=str)]

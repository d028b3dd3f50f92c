"""MLflow: a parent run per sweep and a nested child run per rec (params, metrics, the rendered spec).

Everything goes through :class:`mlflow.tracking.MlflowClient` with explicit run ids (no global active
run), so concurrent recs and resumes are simple. Runs are found again by tag, which makes the tracker
resume-safe without local state: the parent carries ``tao_automl.experiment_id`` and
``tao_automl.role=sweep``; each child carries ``tao_automl.rec_id``. A resumed sweep reopens the same
parent; a rec whose child run ended is never logged again, and a child left half-written by a crash is
deleted and written anew. Credentials come only from MLflow's own environment variables.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tao_automl.errors import UserInputError
from tao_automl.report.data import RecView, RunData, load_run
from tao_automl.util.secrets import redact

EXPERIMENT_TAG = "tao_automl.experiment_id"
ROLE_TAG = "tao_automl.role"
REC_TAG = "tao_automl.rec_id"
PARAM_VALUE_LIMIT = 6000
TAG_VALUE_LIMIT = 5000
#: The prefix of the epoch curve of a rec without a result (failed, cancelled): under the metric's own key, its last
#: epoch's value would show in the runs table as if it were the rec's result.
PARTIAL = "partial_"
_TERMINAL = {"success": "FINISHED", "failure": "FAILED", "stopped": "KILLED", "cancelled": "KILLED"}
#: The parent's status per sweep end state: a sweep that failed (no rec succeeded, a fail-fast stop) is FAILED, one
#: that was stopped or interrupted KILLED.
_SWEEP_TERMINAL = {"finished": "FINISHED", "failed": "FAILED"}
#: The folder in the run folder where the files MLflow logs as artifacts (the convergence PNG, a long message) are
#: written first, one subfolder per call named after its process: never the system's temporary folder, which a kill
#: -9 mid-call would leave them in for good. A sweep's start removes the subfolders of processes that are gone.
SCRATCH = ".mlflow-scratch"


def mlflow_key(name: str) -> str:
    """A metric/param name MLflow accepts (letters, digits, ``_ - . / space``)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name) or "_"


class MlflowTracker:
    """A :class:`~tao_automl.tracking.base.SweepObserver` that logs to an MLflow tracking store."""

    #: Its key in the result's ``tracking_errors``.
    name = "mlflow"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.client: Any = None
        self.parent_id: str | None = None
        self.experiment_id: str | None = None
        self._done: set[int] = set()

    # -- observer ---------------------------------------------------------------------------------
    def sweep_started(self, run_dir: Path) -> None:
        from mlflow.tracking import MlflowClient

        data = load_run(run_dir)
        _clear_stale_scratch(data.run_dir)
        uri = str(self.config.get("tracking_uri") or "")
        with _database_created_once(uri):
            try:
                _make_store_whole(uri)
                self.client = MlflowClient(tracking_uri=self.config.get("tracking_uri"))
                self.experiment_id = self._experiment()
            except Exception as exc:
                half_made = _half_made(uri, exc)
                if half_made is None:
                    raise
                raise half_made from exc
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{EXPERIMENT_TAG}` = '{data.experiment_id}' and tags.`{ROLE_TAG}` = 'sweep'",
            max_results=1)
        if found:
            self.parent_id = str(found[0].info.run_id)
            self.client.update_run(self.parent_id, status="RUNNING")
        else:
            self.parent_id = self._create_parent(data)
        for child in self._children():
            rec_id = int(child.data.tags[REC_TAG])
            if child.info.status == "RUNNING":  # half-written before a crash: write it again from scratch
                self.client.delete_run(child.info.run_id)
            else:
                self._done.add(rec_id)
        for rec in data.recs:
            if rec.is_final and rec.rec_id not in self._done:
                self._log_rec(data, rec)

    def rec_finished(self, run_dir: Path, rec_id: int) -> None:
        if rec_id in self._done or self.parent_id is None:
            return
        data = load_run(run_dir)
        self._log_rec(data, data.rec(rec_id))

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        if self.parent_id is None:
            return
        data = load_run(run_dir)
        parent, self.parent_id = self.parent_id, None
        try:
            best = data.best()
            if best is not None:
                assert best.metric is not None
                # at the last step, so the runs table shows the best rec's values (the front's pick for several
                # metrics: each metric's value of that one rec); a value the parent already shows is not logged again:
                # after a stop, the resumed sweep's best-so-far line would reach that step with a second point
                step = len(self._done) + 1
                shown = self.client.get_run(parent).data.metrics
                for name, value in (best.values or {data.metric: best.metric}).items():
                    if shown.get(mlflow_key(f"best_{name}")) != value:
                        self.client.log_metric(parent, mlflow_key(f"best_{name}"), value, step=step)
                self.client.set_tag(parent, "best_rec_id", str(best.rec_id))
                # the checkpoints the best trained on from, nearest first (status's best.continued_from; empty when
                # its params alone reached its value)
                self.client.set_tag(parent, "best_continued_from",
                                    ",".join(str(i) for i in data.continued_from(best.rec_id)))
            self.client.set_tag(parent, "state", state)
            self._log_convergence_plot(parent, data)
        finally:
            self.client.set_terminated(parent, _SWEEP_TERMINAL.get(state, "KILLED"))

    # -- helpers ----------------------------------------------------------------------------------
    def _experiment(self) -> str:
        name = str(self.config.get("experiment") or "tao-automl")
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            if existing.lifecycle_stage == "deleted":
                self.client.restore_experiment(existing.experiment_id)
            return str(existing.experiment_id)
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.create_experiment(name, artifact_location=self._artifact_location()))
        except MlflowException:  # another sweep created it in the meantime (a tracking server: no lock across hosts)
            existing = self.client.get_experiment_by_name(name)
            if existing is None:
                raise
            return str(existing.experiment_id)

    def _artifact_location(self) -> str | None:
        if self.config.get("artifact_location"):
            return str(self.config["artifact_location"])
        uri = str(self.config.get("tracking_uri") or "")
        database = _sqlite_file(uri)
        if database is not None:  # keep artifacts beside the database, not in the current folder
            return (database.expanduser().resolve().parent / "mlartifacts").as_uri()
        return None

    def _create_parent(self, data: RunData) -> str:
        tags = {EXPERIMENT_TAG: data.experiment_id, ROLE_TAG: "sweep", "algorithm": str(data.meta.get("algorithm")),
                "metric": data.metric, "direction": data.direction,
                **{str(k): str(v) for k, v in (self.config.get("tags") or {}).items()}}
        run = self.client.create_run(self.experiment_id, run_name=str(self.config.get("run_name") or
                                                                      data.experiment_id), tags=tags,
                                     start_time=int(float(data.meta.get("created_at") or time.time()) * 1000))
        run_id = str(run.info.run_id)
        from mlflow.entities import Param

        settings = redact({k: v for k, v in (data.meta.get("settings") or {}).items() if k != "llm_api_key"})
        self.client.log_batch(run_id, params=[Param(mlflow_key(f"automl.{k}"), _clip(v, PARAM_VALUE_LIMIT))
                                              for k, v in sorted(settings.items())])
        return run_id

    def _children(self) -> list[Any]:
        return list(self.client.search_runs([self.experiment_id],
                                            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
                                            max_results=50000))

    def _log_rec(self, data: RunData, rec: RecView) -> None:
        from mlflow.entities import Metric, Param, RunTag

        assert self.parent_id is not None
        tags = {"mlflow.parentRunId": self.parent_id, REC_TAG: str(rec.rec_id), EXPERIMENT_TAG: data.experiment_id,
                "status": rec.status, "job_id": str(rec.job_id or "")}
        if rec.message:
            tags["message"] = _clip(rec.message, TAG_VALUE_LIMIT)
        start = rec.submitted_at or rec.created_at
        run = self.client.create_run(self.experiment_id, run_name=f"rec_{rec.rec_id:04d}", tags=tags,
                                     start_time=int(start * 1000))
        run_id = str(run.info.run_id)
        params = [Param(mlflow_key(k), _clip(v, PARAM_VALUE_LIMIT)) for k, v in sorted(rec.params.items())]
        for name, value in (("budget", rec.planned_epochs), ("rung", rec.rung), ("bracket", rec.bracket),
                            ("parent_rec", rec.parent)):
            if value is not None:
                params.append(Param(name, str(value)))
        now = int(time.time() * 1000)
        key = mlflow_key(data.metric if rec.has_value else f"{PARTIAL}{data.metric}")  # no result: no metric value
        metrics = [Metric(key, v, now, e) for e, v in rec.epochs if math.isfinite(v)]
        last = max((e for e, _ in rec.epochs), default=rec.budget or 0)
        if rec.has_value and rec.metric is not None and not (rec.epochs and rec.epochs[-1] == (last, rec.metric)):
            # the result differs from the curve's last epoch (a final value the job wrote without an epoch): logged a
            # millisecond later at that step, so it is the run's latest value (MLflow breaks a tie of step and time
            # by the larger value)
            metrics.append(Metric(key, rec.metric, now + 1, last))
        for objective, points in rec.curves.items():  # a multi-objective rec: every other metric's epoch curve
            name = mlflow_key(objective if rec.has_value else f"{PARTIAL}{objective}")
            metrics += [Metric(name, v, now, e) for e, v in points if math.isfinite(v)]
        for objective, result in (rec.values or {}).items():  # a multi-objective rec: every metric's value
            curve = rec.curves.get(objective)
            if objective != data.metric and math.isfinite(result) and not (curve and curve[-1] == (last, result)):
                metrics.append(Metric(mlflow_key(objective), result, now + 1, last))
        if rec.duration_s is not None:
            metrics.append(Metric("duration_s", rec.duration_s, now, 0))
        self.client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("rec_id", str(rec.rec_id))])
        if rec.spec_path is not None and rec.spec_path.is_file():
            self.client.log_artifact(run_id, str(rec.spec_path), artifact_path="spec")
        if rec.message and len(rec.message) > TAG_VALUE_LIMIT:  # the failure reason, uncut
            with _scratch_file(data.run_dir, "message.txt") as path:
                path.write_text(rec.message, encoding="utf-8")
                self.client.log_artifact(run_id, str(path))
        end = int((rec.finished_at or time.time()) * 1000)
        self.client.set_terminated(run_id, _TERMINAL.get(rec.status, "FINISHED"), end_time=end)
        self._done.add(rec.rec_id)
        self._log_progress(data)

    def _log_progress(self, data: RunData) -> None:
        assert self.parent_id is not None
        # best so far by the first metric: not a multi-objective run's best (its front's pick, logged at the end)
        points = [v for r, v in data.convergence() if r.rec_id in self._done] if data.front is None else []
        if points:
            self.client.log_metric(self.parent_id, mlflow_key(f"best_{data.metric}"), points[-1], step=len(points))
        self.client.log_metric(self.parent_id, "recs_done", float(len(self._done)), step=len(self._done))

    def _log_convergence_plot(self, run_id: str, data: RunData) -> None:
        from tao_automl.report.png import write_convergence_png

        with _scratch_file(data.run_dir, "convergence.png") as path:
            try:
                written = write_convergence_png(data, path)
            except UserInputError:  # the report extra (matplotlib) is not installed: the metric history stays
                return
            if written:
                self.client.log_artifact(run_id, str(path))


@contextlib.contextmanager
def _scratch_file(run_dir: Path, name: str) -> Iterator[Path]:
    """A path ``name`` in a new folder of this process's own under the run folder's :data:`SCRATCH`, removed (with
    its file) afterwards."""
    folder = run_dir / SCRATCH / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        yield folder / name
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # another call's folder still in it
            folder.parent.rmdir()


def _clear_stale_scratch(run_dir: Path) -> None:
    """Remove the :data:`SCRATCH` subfolders of processes that no longer run (killed mid-call), and the scratch
    folder once empty; a live process's are left to it."""
    from tao_automl.experiment.holder import runs

    root = run_dir / SCRATCH
    if not root.is_dir():
        return
    for folder in root.iterdir():
        pid = folder.name.partition("-")[0]
        if pid.isdigit() and not runs(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (its query, if any, left off); None for another scheme."""
    return Path(uri[len("sqlite:///"):].partition("?")[0]) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def _database_created_once(uri: str) -> Iterator[None]:
    """For a ``sqlite:///`` store, one process at a time in it while MLflow creates or migrates the database and the
    experiment: sweeps started together on a new database failed there (``table _alembic_tmp_experiments already
    exists``, ``Online migration expected to match one row``) and logged nothing. An exclusive ``flock`` on the
    database's folder (nothing is written beside the database); elsewhere (another scheme, no ``fcntl``) nothing."""
    database = _sqlite_file(uri)
    folder = database.parent if database is not None else None
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if folder is None or fcntl is None or not folder.is_dir():
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _make_store_whole(uri: str) -> None:
    """A ``sqlite:///`` store that does not exist yet is made under another name in its folder and moved into place
    once MLflow has made all its tables: a process killed meanwhile leaves no half-made store (MLflow refuses one at
    every open), only that file, removed here next time. Called under :func:`_database_created_once`."""
    try:
        import fcntl  # noqa: F401  (where _database_created_once holds its lock: no other maker meanwhile)
    except ImportError:
        return
    path = _sqlite_file(uri)
    if path is None or not path.parent.is_dir():
        return
    for left in path.parent.glob(f".{path.name}.making-*"):  # a maker killed before its move: nobody makes it now
        with contextlib.suppress(OSError):
            left.unlink()
    if path.exists():
        return
    from mlflow.tracking import MlflowClient

    making = path.with_name(f".{path.name}.making-{os.getpid()}")
    client = MlflowClient(tracking_uri=f"sqlite:///{making}")
    client.search_experiments()  # MLflow makes every table here
    engine = getattr(getattr(getattr(client, "_tracking_client", None), "store", None), "engine", None)
    if engine is not None:  # its connections closed: the store is used under its own name from now on
        engine.dispose()
    os.replace(making, path)


class MlflowStoreError(RuntimeError):
    """An MLflow store the tracker cannot use, with what to do about it."""


#: What MLflow's replayed steps fail with on a half-made store: a table or a column the cut-short step had made.
_ALREADY_MADE = (re.compile(r"\btable (\S+) already exists"), re.compile(r"\bduplicate column name: (\S+)"))


def _half_made(uri: str, exc: Exception) -> MlflowStoreError | None:
    """The error for a ``sqlite:///`` store whose tables' creation or upgrade was cut short (a process killed in
    it): MLflow replays the steps its version stamp does not cover and fails at every open with ``table X already
    exists`` or, a step that adds a column cut short, ``duplicate column name: X``. None for any other failure."""
    found = [(what, hit.group(1)) for what, pattern in zip(("table", "column"), _ALREADY_MADE, strict=True)
             if (hit := pattern.search(str(exc))) is not None]
    database = _sqlite_file(uri)
    if not found or database is None:
        return None
    path = str(database)
    made = " ".join(found[0])
    held = _runs_held(path)
    if held == 0:  # a new store killed while it was made (or one that never got a run): nothing in it to keep
        return MlflowStoreError(f"MLflow cannot open its sqlite store, left half-made ({made} already exists: "
                                f"creating or upgrading its tables was cut short) and holds no run: move or delete "
                                f"{path}: MLflow makes a new one at the next sweep's start")
    # an upgrade of a store in use cut short: earlier sweeps' runs are in it (said first: tracking_errors clip it)
    runs = "may hold earlier runs" if held is None else f"holds {held} earlier run(s)"
    return MlflowStoreError(f"MLflow store {path} is half-made ({made} already exists: an upgrade was cut short) and "
                            f"{runs}: move it aside to keep them (do not delete it); MLflow then makes a new one at "
                            "the next sweep's start")


def _runs_held(path: str) -> int | None:
    """How many runs the sqlite store at ``path`` holds (0 without a ``runs`` table), read without writing; None
    when it cannot be read."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)) as store:
            if store.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone() is None:
                return 0
            return int(store.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except (sqlite3.Error, OSError, ValueError):
        return None


def _clip(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else repr(value) if not isinstance(value, (int, float, bool)) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

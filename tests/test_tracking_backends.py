"""W&B and MLflow trackers against the real packages: W&B in offline mode (its .wandb files are read back
with W&B's own protobuf types), MLflow against a local ``sqlite:///`` tracking store read back with
``MlflowClient``. Nothing is faked. Includes a kill -9 in the middle of a sweep, then a resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import write_skill
from tao_automl import query_status
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.tracking.wandb_tracker import WandbTracker

pytest.importorskip("wandb", reason="the wandb extra is not installed")
pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("sqlalchemy", reason="MLflow's sqlite store needs sqlalchemy (mlflow extra)")

from wandb_files import OfflineRun, offline_runs

SRC = Path(__file__).resolve().parents[1] / "src"

EPOCH_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr = spec["train"]["optim"]["lr"]
    if spec["train"]["act"] == "gelu" and spec["train"]["layers"] >= 5:
        sys.exit("RuntimeError: CUDA out of memory in this corner of the space")
    for epoch in range(1, spec["train"]["num_epochs"] + 1):
        time.sleep(float(os.environ.get("EPOCH_SLEEP", "0.05")))
        loss = abs(lr - 0.01) * 10 + 1.0 / epoch
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
    """
)

SETTINGS = {"algorithm": "asha", "fidelity_mode": "stopping", "metric": "val_loss", "automl_max_epochs": 9,
            "automl_reduction_factor": 3, "seed": 4, "automl_max_recommendations": 6, "automl_max_concurrent": 3,
            "poll_interval_s": 0.1}


def _configs(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    wandb_config = {"project": "tao-test", "mode": "offline", "tags": ["ci"]}
    mlflow_config = {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "digits-hpo"}
    return wandb_config, mlflow_config


def _rec_runs(runs: list[OfflineRun], exp_id: str) -> dict[str, list[OfflineRun]]:
    out: dict[str, list[OfflineRun]] = {}
    for run in runs:
        if run.job_type == "rec":
            out.setdefault(run.run_id, []).append(run)
    return out


def _mlflow(tmp_path: Path) -> tuple[Any, Any, list[Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits-hpo")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return client, experiment, runs


def test_sweep_logged_to_wandb_offline_and_mlflow_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    skill = write_skill(tmp_path / "bank", trainer=EPOCH_TRAINER)
    wandb_config, mlflow_config = _configs(tmp_path)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=SETTINGS, workspace_path=tmp_path / "ws", wandb_config=wandb_config,
                        mlflow_config=mlflow_config, gpu_count=0)
    exp_id, history = result["experiment_id"], result["history"]
    assert not [r.getMessage() for r in caplog.records if r.name == "tao_automl.tracking.base"]
    assert result["progress"]["state"] == "finished" and len(history) == 6
    assert result["tracking_errors"] == {}  # always there: empty when every tracker call worked
    best = result["best"]["rec_id"]

    # W&B: one run per rec in one group, params as config, epoch curve + metric as history, best marked.
    runs = offline_runs(Path(result["run_dir"]) / "wandb")
    assert {r.group for r in runs} == {exp_id}
    by_id = _rec_runs(runs, exp_id)
    assert set(by_id) == {f"{exp_id}-rec{h['rec_id']:04d}" for h in history}
    for h in history:
        # offline, a run id is written once: reopening the best rec's run to tag it wrote a second folder with the
        # same id (empty config, no history), which would replace the first when synced
        (logged,) = by_id[f"{exp_id}-rec{h['rec_id']:04d}"]
        assert logged.config["train.optim.lr"] == h["params"]["train.optim.lr"]
        assert logged.summary["status"] == h["status"] and "ci" in logged.tags
        if h["status"] in ("success", "stopped"):
            curve = [row["val_loss"] for row in logged.history]
            assert curve and curve[-1] == pytest.approx(h["metric_value"])
            assert logged.summary["val_loss"] == pytest.approx(h["metric_value"])
        else:  # no result: no value under the metric's key (sorting by it would rank the failure among results)
            assert "out of memory" in logged.summary["message"] and logged.exit_code == 1
            assert "val_loss" not in logged.summary and all("val_loss" not in row for row in logged.history)
    (sweep,) = [r for r in runs if r.job_type == "sweep"]
    assert sweep.run_id == f"{exp_id}-sweep" and sweep.summary["best_rec_id"] == best
    assert sweep.summary["best_run_id"] == f"{exp_id}-rec{best:04d}"
    assert sweep.summary["best_val_loss"] == pytest.approx(result["best"]["metric_value"])
    assert [row["rec_id"] for row in sweep.history if "rec_id" in row] and "convergence_table" in str(sweep.summary)
    # a row's value is its own rec's (a failed rec's row left the previous rec's value beside its rec_id)
    by_rec = {h["rec_id"]: h for h in history}
    for row in [*sweep.history, sweep.summary]:
        if "rec_id" in row and row.get("val_loss") is not None:
            assert by_rec[row["rec_id"]]["metric_value"] == pytest.approx(row["val_loss"]), row
    assert "WANDB_API_KEY" not in (Path(result["run_dir"]) / "state.db").read_bytes().decode("latin-1")

    # MLflow: one parent per sweep, one nested child per rec with params, metrics and the spec artifact.
    client, experiment, mlruns = _mlflow(tmp_path)
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()  # beside the database
    (parent,) = [r for r in mlruns if r.data.tags.get("tao_automl.role") == "sweep"]
    children = [r for r in mlruns if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and parent.data.tags["best_rec_id"] == str(best)
    assert parent.data.params["automl.algorithm"] == "asha"
    assert sorted(int(c.data.tags["tao_automl.rec_id"]) for c in children) == [h["rec_id"] for h in history]
    for child in children:
        h = history[int(child.data.tags["tao_automl.rec_id"]) - 1]
        assert float(child.data.params["train.optim.lr"]) == pytest.approx(h["params"]["train.optim.lr"])
        assert child.data.tags["status"] == h["status"]
        expected = {"success": "FINISHED", "failure": "FAILED", "stopped": "KILLED"}[h["status"]]
        assert child.info.status == expected
        spec = [a.path for a in client.list_artifacts(child.info.run_id, "spec")]
        assert spec == ["spec/train_spec.yaml"]
        local = client.download_artifacts(child.info.run_id, "spec/train_spec.yaml", str(tmp_path / "dl"))
        assert yaml.safe_load(Path(local).read_text())["train"]["optim"]["lr"] == h["params"]["train.optim.lr"]
        if h["metric_value"] is not None:
            curve = client.get_metric_history(child.info.run_id, "val_loss")
            assert curve[-1].value == pytest.approx(h["metric_value"]) and curve[-1].step == max(c.step for c in curve)
        else:  # a failed rec shows no val_loss in the runs table (its epochs, if any, are partial_val_loss)
            assert "val_loss" not in child.data.metrics
    assert "convergence.png" in [a.path for a in client.list_artifacts(parent.info.run_id)]


def test_a_failing_tracker_never_stops_the_sweep(toy_skill: Path, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("MLflow cannot create a database under a file")
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 3,
                                         "automl_max_concurrent": 3, "poll_interval_s": 0.2},
                        workspace_path=tmp_path / "ws",
                        # wandb.init refuses the name (wandb_config refuses it up front: the tracker is given as is)
                        observers=[WandbTracker({"mode": "offline", "project": "bad/name#"})],
                        mlflow_config={"tracking_uri": f"sqlite:///{blocker}/x.db"}, gpu_count=0)
    assert result["progress"]["state"] == "finished" and result["progress"]["completed"] == 3
    failed = {r.getMessage() for r in caplog.records if r.name == "tao_automl.tracking.base"}
    assert {"tracker WandbTracker.sweep_started failed; the sweep goes on",
            "tracker MlflowTracker.sweep_started failed; the sweep goes on"} <= failed
    # the result says so (the tracker failures were in the log alone, under a stack trace): by tracker, how often
    errors = result["tracking_errors"]
    assert set(errors) == {"wandb", "mlflow"}, errors
    assert errors["wandb"]["first"].startswith("sweep_started: UsageError: Invalid project name 'bad/name#'")
    assert errors["mlflow"]["first"].startswith("sweep_started: ")
    # told once per tracker: W&B tried again (and logged another stack trace) at every rec after its sweep run failed
    assert errors["wandb"]["count"] == errors["mlflow"]["count"] == 1 and len(failed) == 2, errors
    assert len([r for r in caplog.records if r.name == "tao_automl.tracking.base"]) == 2


ORCHESTRATOR = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner
    runner = AutoMLRunner(LocalSDK(jobs_dir={jobs!r}), {skill!r})
    runner.run(automl_settings={settings!r}, workspace_path={ws!r}, wandb_config={wandb!r}, mlflow_config={mlflow!r},
               gpu_count=0)
    """
)


def test_kill_9_mid_sweep_then_resume_continues_the_same_group_and_parent(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    skill = write_skill(tmp_path / "bank", trainer=EPOCH_TRAINER)
    wandb_config, mlflow_config = _configs(tmp_path)
    settings = {**SETTINGS, "algorithm": "random", "automl_max_recommendations": 8, "automl_max_concurrent": 2}
    settings.pop("fidelity_mode")
    jobs, ws = tmp_path / "jobs", tmp_path / "ws"
    script = ORCHESTRATOR.format(src=str(SRC), jobs=str(jobs), skill=str(skill), settings=settings, ws=str(ws),
                                 wandb=wandb_config, mlflow=mlflow_config)
    # WANDB_SERVICE (set once this process used wandb) would make the child share this process's W&B service.
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SERVICE", "WANDB_API_KEY")}
    env.update({"WANDB_MODE": "offline", "EPOCH_SLEEP": "0.3"})
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)

    def mid_sweep() -> bool:
        runs = list(ws.glob("run_*"))
        if not runs or not (runs[0] / "tracking" / "wandb.json").exists():
            return False
        status = query_status(runs[0])
        return "error" not in status and status["progress"]["completed"] >= 2 and len(status["active_jobs"]) >= 1

    try:
        deadline = time.monotonic() + 240
        while not mid_sweep():
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep never reached its middle"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = next(ws.glob("run_*"))
    exp_id = run_dir.name
    done_before = query_status(run_dir)["progress"]["completed"]
    assert 2 <= done_before < 8

    os.environ["WANDB_MODE"] = "offline"
    try:
        runner = AutoMLRunner(LocalSDK(jobs_dir=jobs), skill)
        result = runner.run(workspace_path=run_dir, resume=True, gpu_count=0)  # configs come from the run folder
    finally:
        del os.environ["WANDB_MODE"]
    assert result["progress"]["state"] == "finished" and result["progress"]["completed"] == 8
    assert not [r.getMessage() for r in caplog.records if r.name == "tao_automl.tracking.base"]

    # A client killed by SIGKILL can leave a W&B file without records (W&B buffers); such files hold no run.
    runs = [r for r in offline_runs(run_dir / "wandb") if r.run_id]
    assert {r.group for r in runs} == {exp_id}
    sweeps = [r for r in runs if r.job_type == "sweep"]
    assert {s.run_id for s in sweeps} == {f"{exp_id}-sweep"}  # the same run, continued after the resume
    steps = [(row["_step"], row["rec_id"]) for row in sweeps[-1].history if "rec_id" in row]
    assert [s for s, _ in steps] == list(range(1, 9)) and sorted(r for _, r in steps) == list(range(1, 9)), steps
    with_history = Counter(r.run_id for r in runs if r.job_type == "rec" and r.history)
    assert with_history == Counter({f"{exp_id}-rec{i:04d}": 1 for i in range(1, 9)}), with_history

    _, _, mlruns = _mlflow(tmp_path)
    parents = [r for r in mlruns if r.data.tags.get("tao_automl.role") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in mlruns if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(int(c.data.tags["tao_automl.rec_id"]) for c in children) == list(range(1, 9))
    assert all(c.info.status in ("FINISHED", "FAILED") for c in children)


def test_ask_tell_automl_logs_to_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import small_schema
    from tao_automl import AutoML

    monkeypatch.setenv("WANDB_MODE", "offline")
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(),
                    settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 3},
                    wandb_config={"project": "ask-tell"}, log_progress=False)
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, rec.params["train.optim.lr"])
    summary = automl.finish()
    deadline = time.monotonic() + 20  # W&B's own process writes the files after finish() returns: let it catch up
    while True:
        runs = [r for r in offline_runs(tmp_path / "run" / "wandb") if r.run_id]
        if any(r.job_type == "sweep" and "best_rec_id" in r.summary for r in runs) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    rec_runs = {r.run_id: r for r in runs if r.job_type == "rec" and r.history}
    assert sorted(rec_runs) == [f"run-rec{i:04d}" for i in (1, 2, 3)]
    best = summary["best"]
    assert rec_runs[f"run-rec{best['rec_id']:04d}"].summary["val_loss"] == pytest.approx(best["metric_value"])
    assert [r.summary.get("best_rec_id") for r in runs if r.job_type == "sweep"] == [best["rec_id"]]


def test_stop_cancel_jobs_tells_the_trackers_about_the_cancelled_recs(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`stop --cancel-jobs` ended recs with no orchestrator listening: MLflow never got them and its parent stayed
    RUNNING/KILLED with the recs missing (only a pointless `resume` logged them)."""
    from tao_automl.runner.detach import stop_run

    monkeypatch.setenv("EPOCH_SLEEP", "2")
    skill = write_skill(tmp_path / "bank", trainer=EPOCH_TRAINER)
    _, mlflow_config = _configs(tmp_path)
    settings = {"algorithm": "random", "metric": "val_loss", "seed": 1, "automl_max_recommendations": 2,
                "automl_max_concurrent": 2, "poll_interval_s": 0.1}
    run_dir = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).start(
        automl_settings=settings, workspace_path=tmp_path / "ws", mlflow_config=mlflow_config, gpu_count=0,
        automl_hyperparameters=["train.optim.lr"], spec_overrides={"train.num_epochs": 100})
    deadline = time.monotonic() + 60
    while len([a for a in query_status(run_dir)["active_jobs"] if a["job_id"]]) < 2:
        assert time.monotonic() < deadline, query_status(run_dir)
        time.sleep(0.1)
    done = stop_run(run_dir, cancel_jobs=True)
    assert len(done["cancelled_jobs"]) == 2 and done["next"] is None
    _, _, mlruns = _mlflow(tmp_path)
    (parent,) = [r for r in mlruns if r.data.tags.get("tao_automl.role") == "sweep"]
    children = [r for r in mlruns if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(int(c.data.tags["tao_automl.rec_id"]) for c in children) == [1, 2]
    assert all(c.data.tags["status"] == "cancelled" and c.info.status == "KILLED" for c in children)
    assert all("val_loss" not in c.data.metrics for c in children)  # no result: no value in the runs table
    assert parent.info.status == "KILLED" and parent.data.tags["state"] == "interrupted"


def test_a_multi_objective_run_logs_every_metric_and_the_fronts_pick(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Trackers logged only the first metric: the second was nowhere, the MLflow parent's best_val_accuracy showed
    the first metric's best (rec 1) next to best_rec_id = the knee (rec 2), and W&B's sweep history followed rec 1."""
    from conftest import small_schema
    from tao_automl import AutoML

    monkeypatch.setenv("WANDB_MODE", "offline")
    two = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "model_size", "direction": "minimize"}]
    wandb_config, mlflow_config = _configs(tmp_path)
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(), log_progress=False,
                    settings={"metric": two, "algorithm": "random", "automl_max_recommendations": 3},
                    wandb_config=wandb_config, mlflow_config=mlflow_config)
    values = {1: (0.99, 100.0), 2: (0.95, 10.0), 3: (0.50, 1.0)}  # 1 best accuracy but huge; 2 the knee
    for rec in automl.next_recommendation():
        acc, size = values[rec.id]
        automl.report_result(rec.id, None, values={"val_accuracy": acc, "model_size": size})
    assert automl.finish()["best"]["rec_id"] == 2

    runs = [r for r in offline_runs(tmp_path / "run" / "wandb") if r.run_id]
    for run in (r for r in runs if r.job_type == "rec" and r.history):
        acc, size = values[int(run.run_id[-4:])]
        assert run.summary["val_accuracy"] == pytest.approx(acc) and run.summary["model_size"] == pytest.approx(size)
    (sweep,) = [r for r in runs if r.job_type == "sweep"]
    assert sweep.summary["best_rec_id"] == 2
    assert (sweep.summary["best_val_accuracy"], sweep.summary["best_model_size"]) == (0.95, 10.0)
    assert all("best_val_accuracy" not in row for row in sweep.history)  # no first-metric "best so far" line

    _, _, mlruns = _mlflow(tmp_path)
    (parent,) = [r for r in mlruns if r.data.tags.get("tao_automl.role") == "sweep"]
    assert parent.data.tags["best_rec_id"] == "2"
    assert (parent.data.metrics["best_val_accuracy"], parent.data.metrics["best_model_size"]) == (0.95, 10.0)
    for child in (r for r in mlruns if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id):
        acc, size = values[int(child.data.tags["tao_automl.rec_id"])]
        assert child.data.metrics["val_accuracy"] == pytest.approx(acc)
        assert child.data.metrics["model_size"] == pytest.approx(size)


def test_a_single_fidelity_recs_budget_is_logged_as_status_shows_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B and MLflow logged budget null (MLflow: no param) for every rec of a run that is not multi-fidelity,
    while status said each rec's epochs."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    wandb_config, mlflow_config = _configs(tmp_path)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), write_skill(tmp_path / "bank", trainer=EPOCH_TRAINER),
                          log_progress=False).run(
        automl_settings={**SETTINGS, "algorithm": "random", "automl_max_recommendations": 2},
        workspace_path=tmp_path / "ws", wandb_config=wandb_config, mlflow_config=mlflow_config, gpu_count=0)
    budgets = {h["rec_id"]: h["budget"] for h in result["history"]}
    assert None not in budgets.values()
    exp_id = result["experiment_id"]
    by_id = _rec_runs(offline_runs(Path(result["run_dir"]) / "wandb"), exp_id)
    assert {rec_id: by_id[f"{exp_id}-rec{rec_id:04d}"][0].summary["budget"] for rec_id in budgets} == budgets
    _, _, mlruns = _mlflow(tmp_path)
    logged = {int(r.data.tags["tao_automl.rec_id"]): int(r.data.params["budget"]) for r in mlruns
              if "tao_automl.rec_id" in r.data.tags}
    assert logged == budgets


TWO_KPI_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr = spec["train"]["optim"]["lr"]
    for epoch in range(1, spec["train"]["num_epochs"] + 1):
        kpi = {"val_loss": abs(lr - 0.01) * 10 + 1.0 / epoch, "latency_ms": 10.0 * epoch + lr}
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": kpi}) + "\\n")
    """
)


def test_a_multi_objective_runs_trackers_get_every_metrics_epoch_curve(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B and MLflow got the first metric's epoch curve only: the second metric of a multi-objective sweep was a
    single final value, so its learning curve, which the job's status.json holds, was nowhere in the trackers."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    skill = write_skill(tmp_path / "bank", trainer=TWO_KPI_TRAINER)
    wandb_config, mlflow_config = _configs(tmp_path)
    metrics = [{"name": "val_loss", "direction": "minimize"}, {"name": "latency_ms", "direction": "minimize"}]
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings={"algorithm": "random", "metric": metrics, "automl_max_recommendations": 3,
                         "automl_max_concurrent": 2, "poll_interval_s": 0.1, "seed": 1},
        spec_overrides={"train.num_epochs": 3}, workspace_path=tmp_path / "ws", wandb_config=wandb_config,
        mlflow_config=mlflow_config, gpu_count=0)
    history = {h["rec_id"]: h for h in result["history"]}
    assert [h["status"] for h in history.values()] == ["success"] * 3

    def expected(rec_id: int) -> list[float]:
        return [10.0 * e + history[rec_id]["params"]["train.optim.lr"] for e in (1, 2, 3)]

    runs = offline_runs(Path(result["run_dir"]) / "wandb")
    recs = [r for r in runs if r.job_type == "rec"]
    assert len(recs) == 3
    for run in recs:
        rec_id = int(run.run_id[-4:])
        rows = [row for row in run.history if "latency_ms" in row]
        assert [row["epoch"] for row in rows] == [1, 2, 3]
        assert [row["latency_ms"] for row in rows] == pytest.approx(expected(rec_id))
        assert [row["val_loss"] for row in rows][-1] == pytest.approx(history[rec_id]["metric_value"])

    client, _, mlruns = _mlflow(tmp_path)
    children = [r for r in mlruns if r.data.tags.get("tao_automl.role") != "sweep"]
    assert len(children) == 3
    for child in children:
        rec_id = int(child.data.tags["tao_automl.rec_id"])
        curve = client.get_metric_history(child.info.run_id, "latency_ms")
        curve = sorted(curve, key=lambda m: m.step)
        assert [m.step for m in curve] == [1, 2, 3]
        assert [m.value for m in curve] == pytest.approx(expected(rec_id))
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")] == [1, 2, 3]


FINAL_VALUE_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr = spec["train"]["optim"]["lr"]
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        for epoch in (1, 2, 3):
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": 1.0 / epoch + lr}}) + "\\n")
        # the final evaluation (of the best checkpoint, say), written without an epoch: the rec's result
        f.write(json.dumps({"status": "SUCCESS", "kpi": {"val_loss": 0.4 + lr}}) + "\\n")
    """
)


def test_a_result_written_after_the_last_epoch_is_the_value_the_trackers_show(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A job whose status.json ends with a final value without an epoch: status showed that value, while W&B's rec
    summary (W&B flushed the last epoch's row after the result was set) and MLflow's runs table (the curve's last
    point was the latest value) showed the last epoch's."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    wandb_config, mlflow_config = _configs(tmp_path)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"),
                          write_skill(tmp_path / "bank", trainer=FINAL_VALUE_TRAINER), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2, "seed": 1,
                         "automl_max_concurrent": 2, "poll_interval_s": 0.1},
        spec_overrides={"train.num_epochs": 3}, workspace_path=tmp_path / "ws", wandb_config=wandb_config,
        mlflow_config=mlflow_config, gpu_count=0)
    values = {h["rec_id"]: h["metric_value"] for h in result["history"]}
    assert values == {h["rec_id"]: pytest.approx(0.4 + h["params"]["train.optim.lr"]) for h in result["history"]}
    exp_id = result["experiment_id"]
    by_id = _rec_runs(offline_runs(Path(result["run_dir"]) / "wandb"), exp_id)
    for rec_id, value in values.items():
        (run,) = by_id[f"{exp_id}-rec{rec_id:04d}"]
        assert run.summary["val_loss"] == value
        assert [row["epoch"] for row in run.history if "val_loss" in row] == [1, 2, 3]  # the curve as it ran
    client, _, mlruns = _mlflow(tmp_path)
    children = {int(r.data.tags["tao_automl.rec_id"]): r for r in mlruns if "tao_automl.rec_id" in r.data.tags}
    assert {rec_id: child.data.metrics["val_loss"] for rec_id, child in children.items()} == values
    for rec_id, child in children.items():
        curve = client.get_metric_history(child.info.run_id, "val_loss")
        assert {m.step for m in curve} == {1, 2, 3} and values[rec_id] in [m.value for m in curve if m.step == 3]


def test_a_stopped_then_resumed_sweeps_mlflow_parent_has_one_point_per_step(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop logged the best at step (recs done + 1); the resumed sweep's best-so-far line reached that step too, so
    the parent's best_val_loss had two points at one step (the stop's best and the next result's best so far)."""
    from conftest import small_schema
    from tao_automl import AutoML

    _, mlflow_config = _configs(tmp_path)
    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 4, "seed": 2,
                "automl_max_concurrent": 2}
    values = {1: 0.5, 2: 0.4, 3: 0.3, 4: 0.2}  # each result a new best: the line moves at every step
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(), settings=settings,
                    mlflow_config=mlflow_config, log_progress=False)
    for rec in automl.next_recommendation():  # two of four
        automl.report_result(rec.id, values[rec.id])
    assert automl.finish()["progress"]["state"] == "stopped"
    automl = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, values[rec.id])
    assert automl.finish()["best"]["rec_id"] == 4

    client, _, mlruns = _mlflow(tmp_path)
    (parent,) = [r for r in mlruns if r.data.tags.get("tao_automl.role") == "sweep"]
    line = sorted((m.step, m.value) for m in client.get_metric_history(parent.info.run_id, "best_val_loss"))
    assert line == [(1, 0.5), (2, 0.4), (3, 0.3), (4, 0.2)]
    assert parent.data.metrics["best_val_loss"] == 0.2 and parent.data.tags["best_rec_id"] == "4"
    children = [r for r in mlruns if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(int(c.data.tags["tao_automl.rec_id"]) for c in children) == [1, 2, 3, 4]


def test_a_pbt_sweeps_trackers_name_the_checkpoints_the_best_continued(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """status's best names the checkpoints a pbt best trained on from (its metric was reached with their params
    first); W&B's sweep run and MLflow's parent showed its own params alone."""
    from conftest import small_schema
    from tao_automl import AutoML

    monkeypatch.setenv("WANDB_MODE", "offline")
    wandb_config, mlflow_config = _configs(tmp_path)
    automl = AutoML(tmp_path / "run", search_schema=small_schema(), log_progress=False,
                    wandb_config=wandb_config, mlflow_config=mlflow_config,
                    settings={"algorithm": "pbt", "metric": "val_loss", "automl_max_recommendations": 9,
                              "automl_max_epochs": 9, "automl_population_size": 3})
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, rec.params["train.optim.lr"] / (rec.trial or {})["budget"])
    best = automl.finish()["best"]
    assert best["continued_from"] == query_status(tmp_path / "run")["best"]["continued_from"] != []

    (sweep,) = [r for r in offline_runs(tmp_path / "run" / "wandb") if r.job_type == "sweep"]
    assert (sweep.summary["best_rec_id"], sweep.summary["best_continued_from"]) == (best["rec_id"],
                                                                                    best["continued_from"])
    _, _, mlruns = _mlflow(tmp_path)
    (parent,) = [r for r in mlruns if r.data.tags.get("tao_automl.role") == "sweep"]
    assert parent.data.tags["best_rec_id"] == str(best["rec_id"])
    assert parent.data.tags["best_continued_from"] == ",".join(map(str, best["continued_from"]))


def test_a_tracker_that_keeps_failing_logs_one_traceback_then_one_line_per_failure(
        toy_skill: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """MLflow's sqlite database overwritten after the sweep started: every later rec logged a whole stack trace."""
    db = tmp_path / "mlflow.db"

    def break_the_store(rec: Any, value: float | None, status: str) -> None:
        if rec.id == 1:  # told after the tracker logged rec 1
            db.write_bytes(b"not a database " * 512)

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 4,
                                         "automl_max_concurrent": 1, "poll_interval_s": 0.1},
                        workspace_path=tmp_path / "ws", mlflow_config={"tracking_uri": f"sqlite:///{db}"},
                        on_result=break_the_store, gpu_count=0)
    assert result["progress"]["state"] == "finished" and result["progress"]["completed"] == 4
    told = [r for r in caplog.records if r.name == "tao_automl.tracking.base"]
    # recs 2, 3, 4 and the sweep's end each failed: one stack trace, then a line each
    assert len(told) == 4, [r.getMessage() for r in told]
    assert told[0].exc_info is not None and all(r.exc_info is None for r in told[1:])
    assert all("\n" not in r.getMessage() for r in told[1:])
    assert "MlflowTracker.sweep_ended failed again (failure 4 of this tracker" in told[-1].getMessage()
    assert result["tracking_errors"]["mlflow"]["count"] == 4
    assert result["tracking_errors"]["mlflow"]["first"].startswith("rec_finished: MlflowException: ")


@pytest.mark.parametrize("as_json", [False, True])
def test_the_cli_runs_end_says_which_tracker_failed_how_often(toy_skill: Path, tmp_path: Path, as_json: bool,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The end of `tao-automl run` (text and --json) never said that nothing reached MLflow: the log alone did."""
    from tao_automl.cli.main import main

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("MLflow cannot create a database under a file")
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "skill_dir": str(toy_skill), "workspace_path": "ws", "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
        "automl_settings": {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2,
                            "automl_max_concurrent": 2, "poll_interval_s": 0.1},
        "platform_kwargs": {"gpu_count": 0}, "mlflow_config": {"tracking_uri": f"sqlite:///{blocker}/x.db"}}))
    assert main(["run", str(config), *(["--json"] if as_json else [])]) == 0
    out = capsys.readouterr().out
    if as_json:
        errors = json.loads(out)["tracking_errors"]
        assert list(errors) == ["mlflow"] and errors["mlflow"]["count"] == 1, errors
        assert errors["mlflow"]["first"].startswith("sweep_started: ")
    else:
        (line,) = [x for x in out.splitlines() if x.startswith("tracker ")]
        assert line.startswith("tracker mlflow failed 1 time(s), so it misses part of this run"), line
        assert "first: sweep_started: " in line


def test_a_failed_sweeps_mlflow_parent_is_failed_not_killed(tmp_path: Path) -> None:
    """Every rec failed, so the sweep ended ``failed``: its parent run was set KILLED (what a user's stop shows)."""
    skill = write_skill(tmp_path / "bank", trainer="import sys\nsys.exit('RuntimeError: always')\n")
    _, mlflow_config = _configs(tmp_path)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2,
                                         "poll_interval_s": 0.1},
                        workspace_path=tmp_path / "ws", mlflow_config=mlflow_config, gpu_count=0)
    assert result["progress"]["state"] == "failed" and result["tracking_errors"] == {}
    _, _, runs = _mlflow(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("tao_automl.role") == "sweep"]
    assert (parent.info.status, parent.data.tags["state"]) == ("FAILED", "failed")
    assert sorted(r.info.status for r in runs if r is not parent) == ["FAILED", "FAILED"]


def test_a_resume_from_another_directory_logs_into_the_same_mlflow_store_and_wandb_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative locations in the configs (``sqlite:///mlflow.db``, ``dir``) were stored as given and read against the
    resuming process's directory: a resume from elsewhere made a second database with a second parent and logged
    every rec again there, leaving the first parent RUNNING."""
    skill = write_skill(tmp_path / "bank", trainer=EPOCH_TRAINER)
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()
    monkeypatch.chdir(first)
    monkeypatch.setenv("WANDB_MODE", "offline")
    configs = {"mlflow_config": {"tracking_uri": "sqlite:///mlflow.db", "experiment": "digits-hpo"},
               "wandb_config": {"mode": "offline", "dir": "wandb-runs"}}
    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2, "poll_interval_s": 0.1}
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0, **configs)
    assert result["progress"]["state"] == "finished" and result["tracking_errors"] == {}
    # resumed by another process (in this one, MLflow's cached store of the same URI would hide a second database)
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(SRC)!r})
        from tao_automl.platforms.local.sdk import LocalSDK
        from tao_automl.runner.loop import AutoMLRunner
        again = AutoMLRunner(LocalSDK(jobs_dir={str(tmp_path / "jobs")!r}), {str(skill)!r}).run(
            workspace_path={result["run_dir"]!r}, resume=True, gpu_count=0)
        print(json.dumps(again["tracking_errors"]))
        """)
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SERVICE", "WANDB_API_KEY")}
    done = subprocess.run([sys.executable, "-c", script], cwd=other, env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "{}", done.stderr[-2000:]
    assert not (other / "mlflow.db").exists() and not (other / "wandb-runs").exists()
    _, _, runs = _mlflow(first)
    (parent,) = [r for r in runs if r.data.tags.get("tao_automl.role") == "sweep"]
    assert parent.info.status == "FINISHED" and len(runs) == 3
    assert {r.job_type for r in offline_runs(first / "wandb-runs" / "wandb")} == {"rec", "sweep"}


def test_sweeps_started_together_on_a_new_mlflow_database_all_log(tmp_path: Path) -> None:
    """Four sweeps starting at once on one new ``sqlite:///`` database: MLflow created and migrated it in each of
    them at the same time, and the losers (``table _alembic_tmp_experiments already exists``) logged nothing."""
    skill = write_skill(tmp_path / "bank")
    db = tmp_path / "mlflow.db"
    start = time.time() + 8  # every process imported and ready, then all at the same moment
    script = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(SRC)!r})
        from tao_automl.platforms.local.sdk import LocalSDK
        from tao_automl.runner.loop import AutoMLRunner
        import mlflow.tracking
        runner = AutoMLRunner(LocalSDK(jobs_dir=sys.argv[1] + "/jobs"), {str(skill)!r})
        time.sleep(max(0.0, {start!r} - time.time()))
        result = runner.run(automl_settings={{"metric": "val_loss", "algorithm": "random",
                                              "automl_max_recommendations": 1, "poll_interval_s": 0.05}},
                            workspace_path=sys.argv[1] + "/ws", gpu_count=0,
                            mlflow_config={{"tracking_uri": "sqlite:///{db}", "experiment": "digits-hpo"}})
        print(json.dumps(result["tracking_errors"]))
        """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"s{i}")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=240) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0 and out.strip().splitlines()[-1] == "{}", (out[-500:], err[-1500:])
    _, _, runs = _mlflow(tmp_path)
    parents = [r for r in runs if r.data.tags.get("tao_automl.role") == "sweep"]
    assert len(parents) == 4 and len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}


def test_a_half_made_mlflow_store_is_named_with_what_to_do(tmp_path: Path) -> None:
    """A process killed while MLflow created a new sqlite store's tables leaves tables the version stamp does not
    cover; MLflow then refuses the file for good (`table datasets already exists`, the state made here with sqlite3
    as such a kill leaves it), and the run's tracking_errors held that raw error. They now say the store was left
    half-made, name the file and what to do."""
    import sqlite3

    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as made:
        made.execute("CREATE TABLE datasets (dataset_uuid VARCHAR(36) NOT NULL)")
    result = _one_rec_sweep_logging_to(tmp_path, db)
    first = result["tracking_errors"]["mlflow"]["first"]
    assert first.startswith("sweep_started: MlflowStoreError: MLflow cannot open its sqlite store, left half-made "
                            "(table datasets already exists"), first
    assert f"move or delete {db}: MLflow makes a new one at the next sweep's start" in first, first
    assert query_status(result["run_dir"])["tracking_errors"] == result["tracking_errors"]


def _store_cut_short_adding_a_column(db: Path, runs: int = 0) -> None:
    """A whole MLflow store at ``db`` (holding ``runs`` runs) whose version stamp is moved back before the migration
    that adds ``jobs.status_details``, the tables of the steps after it dropped: as a kill during that upgrade
    leaves it (MLflow replays the step and fails with ``duplicate column name``)."""
    import sqlite3

    from alembic.script import ScriptDirectory
    from mlflow.store import db_migrations

    made = (f"from mlflow.tracking import MlflowClient; c = MlflowClient(tracking_uri='sqlite:///{db}'); "
            f"e = c.create_experiment('earlier'); [c.create_run(e) for _ in range({runs})]")
    subprocess.run([sys.executable, "-c", made], check=True)  # a whole store at MLflow's head (not cached here)
    scripts = ScriptDirectory(str(Path(db_migrations.__file__).parent))
    later: list[str] = []  # the tables the steps after the cut one create: not made yet when the kill came
    for step in scripts.walk_revisions():
        text = Path(str(step.path)).read_text()
        if 'op.add_column("jobs", sa.Column("status_details"' in text:  # the step the kill cut short (MLflow 3)
            break
        later += re.findall(r'op\.create_table\(\s*"(\w+)"', text)
    assert later, "no table made after the cut step: MLflow would not replay it"
    with sqlite3.connect(db) as store:
        store.execute("UPDATE alembic_version SET version_num = ?", (step.down_revision,))
        for table in later:
            store.execute(f"DROP TABLE IF EXISTS {table}")


def _one_rec_sweep_logging_to(tmp_path: Path, db: Path) -> dict[str, Any]:
    """The result of a finished one-rec sweep whose MLflow tracker logs to the sqlite store ``db``."""
    from tao_automl.testing import InstantSDK

    runner = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_loss"), write_skill(tmp_path / "bank"),
                          log_progress=False)
    result = runner.run(automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 1},
                        workspace_path=tmp_path / "ws", mlflow_config={"tracking_uri": f"sqlite:///{db}"}, gpu_count=0)
    assert result["progress"]["state"] == "finished"
    return result


def _first_mlflow_error(tmp_path: Path, db: Path) -> str:
    """The MLflow tracker's first error in a one-rec sweep logging to ``db``."""
    first: str = _one_rec_sweep_logging_to(tmp_path, db)["tracking_errors"]["mlflow"]["first"]
    return first


def test_a_store_cut_short_while_mlflow_added_a_column_is_named_half_made(tmp_path: Path) -> None:
    """A process killed while MLflow upgraded a store by adding a column (its version stamp not yet moved) leaves a
    store that MLflow refuses at every open with `duplicate column name: ...` (seen killing a sweep's first seconds:
    `duplicate column name: status_details`, the state made here by moving a whole store's stamp back before the
    migration that adds that column). Only `table ... already exists` was recognised: tracking_errors held
    MLflow's raw OperationalError and its SQL. It is named half-made, with the file and what to do."""
    db = tmp_path / "mlflow.db"
    _store_cut_short_adding_a_column(db)
    first = _first_mlflow_error(tmp_path, db)
    assert first.startswith("sweep_started: MlflowStoreError: MLflow cannot open its sqlite store, left half-made "
                            "(column "), first
    assert f"and holds no run: move or delete {db}: MLflow makes a new one at the next sweep's start" in first, first


def test_a_half_made_store_that_holds_earlier_runs_is_not_to_be_deleted(tmp_path: Path) -> None:
    """An MLflow upgrade cut short in a store that earlier sweeps logged to: the message said "move or delete" it,
    which loses those runs. It now counts them and says to move the store aside (back it up), not delete it."""
    db = tmp_path / "mlflow.db"
    _store_cut_short_adding_a_column(db, runs=2)
    first = _first_mlflow_error(tmp_path, db)
    assert first.startswith(f"sweep_started: MlflowStoreError: MLflow store {db} is half-made (column "), first
    assert ("an upgrade was cut short) and holds 2 earlier run(s): move it aside to keep them (do not delete it); "
            "MLflow then makes a new one at the next sweep's start") in first, first
    assert "move or delete" not in first, first


KILLED_MAKING_THE_STORE = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {src!r})
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    made = []

    @event.listens_for(Engine, "after_cursor_execute")
    def killed_half_way(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("CREATE TABLE", "ALTER TABLE")):
            made.append(statement)
            if len(made) == 12:  # kill -9 while MLflow makes the new store's tables
                os.kill(os.getpid(), signal.SIGKILL)

    from tao_automl.testing import InstantSDK
    from tao_automl.runner import AutoMLRunner
    AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_loss"), {skill!r}, log_progress=False).run(
        automl_settings={{"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 1}},
        workspace_path={ws!r}, mlflow_config={{"tracking_uri": {uri!r}}}, gpu_count=0)
    """
)


def test_a_sweep_killed_while_mlflow_makes_a_new_sqlite_store_leaves_no_half_made_store(tmp_path: Path) -> None:
    """A sweep's first seconds on a new `sqlite:///` store are MLflow making its tables; a kill -9 then (5 of 15
    CLI sweeps killed at random in their first seconds) left the file half-made, refused at every later open by
    this run's resume and every other sweep until someone deleted it. The store is made under another name and
    moved into place once whole: the kill leaves no store, and the resume makes it and logs the sweep."""
    from mlflow.tracking import MlflowClient

    from tao_automl.testing import InstantSDK

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    skill = write_skill(tmp_path / "bank")
    script = KILLED_MAKING_THE_STORE.format(src=str(Path(__file__).resolve().parents[1] / "src"), skill=str(skill),
                                            ws=str(tmp_path / "ws"), uri=uri)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (run_dir,) = (tmp_path / "ws").glob("run_*")
    resumed = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_loss"), skill, log_progress=False).run(
        workspace_path=run_dir, resume=True)
    assert resumed["progress"]["state"] == "finished" and resumed["tracking_errors"] == {}, resumed["tracking_errors"]
    client = MlflowClient(tracking_uri=uri)
    sweeps = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                filter_string="tags.`tao_automl.role` = 'sweep'")
    assert [s.info.status for s in sweeps] == ["FINISHED"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".mlflow.db")) == []



KILLED_MID_TRACKER_CALL = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {src!r})
    from mlflow.store.tracking.file_store import FileStore
    from mlflow.tracking import MlflowClient

    point = {point!r}
    if point == "file store check":
        made = FileStore.__init__

        def made_then_killed(self, *args, **kwargs):
            try:
                made(self, *args, **kwargs)
            finally:
                os.kill(os.getpid(), signal.SIGKILL)

        FileStore.__init__ = made_then_killed
        from tao_automl.tracking.config import check_tracking_config
        check_tracking_config("mlflow_config", {{"tracking_uri": {file_store!r}}})
    else:
        logged = MlflowClient.log_artifact

        def killed_logging(self, run_id, local_path, artifact_path=None):
            if os.path.basename(local_path) == point:  # its file written, not yet logged
                os.kill(os.getpid(), signal.SIGKILL)
            return logged(self, run_id, local_path, artifact_path)

        MlflowClient.log_artifact = killed_logging
        import tao_automl.tracking.mlflow_tracker as mlflow_tracker
        mlflow_tracker.TAG_VALUE_LIMIT = 10  # a failed rec's message is logged as message.txt
        from tao_automl.runner import AutoMLRunner
        from tao_automl.testing import InstantSDK
        AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_loss", fail_every=2), {skill!r}, log_progress=False).run(
            automl_settings={{"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 3,
                              "automl_fail_fast_after": 0}},
            workspace_path={ws!r}, mlflow_config={{"tracking_uri": {uri!r}}}, gpu_count=0)
    """
)


@pytest.mark.parametrize("point", ["file store check", "message.txt", "convergence.png"])
def test_a_kill_9_mid_mlflow_call_leaves_nothing_in_the_temporary_folder(tmp_path: Path, point: str) -> None:
    """The MLflow side wrote files in the system's temporary folder: the file-store check made a store there, a long
    failure message (MLflow's log_text) and the convergence PNG were written there before being logged. A kill -9
    at that instant left them there for good. The check now writes nothing, the files go to a scratch folder in the
    run folder, and the next start (the resume) removes what a killed process left there. The child runs with
    TMPDIR pointed at an empty folder and kills itself in the call, while the file exists."""
    from tao_automl.testing import InstantSDK
    from tao_automl.tracking.mlflow_tracker import SCRATCH

    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    skill = write_skill(tmp_path / "bank")
    script = KILLED_MID_TRACKER_CALL.format(
        src=str(SRC), point=point, file_store=(tmp_path / "mlruns").as_uri(), skill=str(skill),
        ws=str(tmp_path / "ws"), uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    env = {**os.environ, "TMPDIR": str(scratch_tmp), "MLFLOW_ALLOW_FILE_STORE": "true"}
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert sorted(p.name for p in scratch_tmp.iterdir()) == []
    assert not (tmp_path / "mlruns").exists()
    if point == "file store check":
        return
    (run_dir,) = (tmp_path / "ws").glob("run_*")
    assert list((run_dir / SCRATCH).rglob(point)), "the kill came while the file was in the run's scratch folder"
    resumed = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_loss"), skill, log_progress=False).run(
        workspace_path=run_dir, resume=True)
    assert resumed["progress"]["state"] == "finished" and resumed["tracking_errors"] == {}, resumed["tracking_errors"]
    assert not (run_dir / SCRATCH).exists()

"""ASHA in both fidelity modes: the schedule itself, and real jobs through the runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import EndsBeforeCancelSDK, small_schema, write_skill
from tao_automl.bank import builtin_skill_dir
from tao_automl.brain.multifidelity.asha import ASHA, rung_levels
from tao_automl.errors import SettingsError
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.platforms.local.wrapper import read_exit
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.schema.build import build_search_space


def test_rung_levels() -> None:
    assert rung_levels(27, 3) == [1, 3, 9, 27]
    assert rung_levels(9, 3) == [1, 3, 9]
    assert rung_levels(10, 3) == [1, 3, 10]
    assert rung_levels(1, 3) == [1]


def test_promotion_mode_promotes_the_top_third_and_never_failures() -> None:
    space = build_search_space(small_schema())
    asha = ASHA(space, max_epochs=9, eta=3, max_trials=20)
    rng = np.random.default_rng(0)
    trials = asha.propose([1, 2, 3, 4, 5, 6], {}, rng)
    assert all(t.budget == 1 and t.parent is None for t in trials)
    values = {1: 0.5, 2: None, 3: 0.9, 4: 0.1, 5: 0.7, 6: 0.3}
    for trial_id, value in values.items():
        asha.observe(trial_id, value, 1)
    promoted = asha.propose([7, 8, 9], {}, rng)
    # 5 successes at rung 0 -> top 5 // 3 = 1 promotion: trial 4, the best; the failure (2) never.
    assert promoted[0].parent == 4 and promoted[0].budget == 3 and promoted[0].config == trials[3].config
    assert promoted[1].parent is None and promoted[1].budget == 1


def test_stopping_mode_stops_losers_at_a_rung() -> None:
    space = build_search_space(small_schema())
    asha = ASHA(space, max_epochs=9, eta=3, mode="stopping")
    trials = asha.propose([1, 2, 3, 4], {}, np.random.default_rng(1))
    assert all(t.budget == 9 and t.rung is None for t in trials)  # no planned rung: budget_reached says where
    assert not asha.report_epoch(1, 1, 0.2)  # first arrivals go on
    assert not asha.report_epoch(2, 1, 0.1)
    assert asha.report_epoch(3, 1, 0.5)  # 3 values, top third = best one: 0.5 loses
    assert not asha.report_epoch(4, 1, 0.05)
    assert not asha.report_epoch(4, 2, 9.0)  # not a rung


def test_stopping_mode_judges_a_trainer_that_skips_rung_epochs_at_its_first_report_past_each_rung() -> None:
    """A trainer that reports every 2 epochs never reports epochs 1 or 3 (the rungs of 9 epochs, eta 3): it was never
    judged, so nothing was ever stopped (a random search at the full budget, said nowhere). Each rung is judged at
    the first report at or past its epoch."""
    space = build_search_space(small_schema())
    asha = ASHA(space, max_epochs=9, eta=3, mode="stopping")
    asha.propose([1, 2, 3, 4], {}, np.random.default_rng(1))
    assert not asha.report_epoch(1, 2, 0.2)  # past rung 1: the first arrivals go on
    assert not asha.report_epoch(2, 2, 0.1)
    assert asha.report_epoch(3, 2, 0.5)  # 3 values at rung 1, top third = the best one: 0.5 loses
    assert not asha.report_epoch(1, 4, 0.15)  # past rung 3 (rung 1 was judged at epoch 2: not again)
    assert not asha.report_epoch(2, 4, 0.05)
    assert not asha.report_epoch(4, 4, 0.01)  # passes rungs 1 and 3 at once: the best at both
    assert not asha.report_epoch(1, 9, 0.12)  # the top rung: never a stop


def test_promotion_sweep_resumes_promoted_recs_from_the_parent_checkpoint(tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    result = runner.run(train_dataset_uri="builtin:digits",
                        automl_settings={"algorithm": "asha", "metric": "val_loss", "automl_max_epochs": 9,
                                         "automl_reduction_factor": 3, "automl_max_recommendations": 9,
                                         "automl_max_concurrent": 2, "poll_interval_s": 1.0},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["completed"] == 9
    run_dir = Path(result["run_dir"])
    promoted = []
    for h in result["history"]:
        spec = yaml.safe_load((run_dir / "recs" / f"rec_{h['rec_id']:04d}" / "train_spec.yaml").read_text())
        assert h["specs"] == spec and h["spec_path"].endswith("train_spec.yaml")  # the result shows what ran
        assert h["budget"] == spec["train"]["num_epochs"] and (h["parent"] is None) == (
            not spec["train"]["resume_training_checkpoint_path"])
        if spec["train"]["resume_training_checkpoint_path"]:
            promoted.append((h, spec))
    assert promoted, "no rec was promoted"
    for h, spec in promoted:
        assert h["status"] == "success", h
        assert spec["train"]["num_epochs"] in (3, 9)
        assert Path(spec["train"]["resume_training_checkpoint_path"]).is_file()
        status = (Path(h["results_dir"]) / "status.json").read_text()
        assert '"epoch": 1,' not in status  # continued from the checkpoint, did not retrain epoch 1


SLOW_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr = spec["train"]["optim"]["lr"]
    for epoch in range(1, spec["train"]["num_epochs"] + 1):
        time.sleep(0.25)
        loss = abs(lr - 0.01) * 10 + 1.0 / epoch
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


#: 8 recs of 9 epochs, 4 at a time, losers stopped at a rung.
STOPPING = {"algorithm": "asha", "fidelity_mode": "stopping", "metric": "val_loss", "automl_max_epochs": 9,
            "automl_reduction_factor": 3, "seed": 4, "automl_max_recommendations": 8, "automl_max_concurrent": 4,
            "poll_interval_s": 0.1}


def test_stopping_sweep_cancels_losing_jobs_mid_training(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=SLOW_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=STOPPING, workspace_path=tmp_path / "ws", gpu_count=0)
    statuses = [h["status"] for h in result["history"]]
    assert statuses.count("stopped") >= 2, statuses
    assert "success" in statuses
    for h in result["history"]:
        assert h["rung"] is None and h["budget"] == 9, h  # a stopping rec has no planned rung (was always 0)
        if h["status"] == "stopped":
            assert h["metric_value"] is not None and "stopped early at epoch" in h["message"]
            # where it was stopped: a rung's epoch (1 or 3), or the last epoch the job had reached when a poll read
            # it (a busy machine: a job may train past the judged epoch before the cancel); always what ran there
            reached = h["budget_reached"]
            assert 1 <= reached < 9 and f"stopped early at epoch {reached} " in h["message"], h
            curve = [json.loads(line) for line in (Path(h["results_dir"]) / "status.json").read_text().splitlines()]
            assert h["metric_value"] == next(r["kpi"]["val_loss"] for r in curve if r["epoch"] == reached), h
    best = result["best"]
    assert best is not None and all(best["metric_value"] <= h["metric_value"]
                                    for h in result["history"] if h["status"] == "success")
    from tao_automl.report.data import load_run

    # what trackers log as a rec's budget is status's (9), not the epoch a stopped rec reached (MLflow/W&B said 1)
    views = {rec.rec_id: rec for rec in load_run(result["run_dir"]).recs}
    for h in result["history"]:
        assert views[h["rec_id"]].planned_epochs == h["budget"] == 9, h


def _stopping_sweep(tmp_path: Path, trainer: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A STOPPING sweep of ``trainer``: its result and its stopped recs (at least two: the rule stopped some)."""
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=STOPPING, workspace_path=tmp_path / "ws", gpu_count=0)
    stopped = [h for h in result["history"] if h["status"] == "stopped"]
    assert len(stopped) >= 2, [h["status"] for h in result["history"]]
    return result, stopped


def test_stopping_sweep_stops_a_trainer_that_reports_every_other_epoch(tmp_path: Path) -> None:
    """SLOW_TRAINER reporting epochs 2, 4, 6, 8 and 9 only (a validation interval of 2): no report fell on rung 1 or
    3, so every rec trained all 9 epochs and none was stopped."""
    sparse = SLOW_TRAINER.replace("    with open(", "    if epoch % 2 and epoch != spec['train']['num_epochs']:\n"
                                  "        continue\n    with open(", 1)
    assert sparse != SLOW_TRAINER
    _, stopped = _stopping_sweep(tmp_path, sparse)
    for h in stopped:
        lines = (Path(h["results_dir"]) / "status.json").read_text().splitlines()
        reported = [json.loads(line)["epoch"] for line in lines]
        assert h["budget_reached"] in reported and h["budget_reached"] < 9, h


def _the_rule_saw_the_epochs_trained(result: dict[str, Any]) -> None:
    """Every rec's epochs reached the stopping rule as its job trained them (1, 2, ... up to its status.json's line
    count: never a line's 0), and the stops were decided from the first rung on. A stop is recorded at the epoch its
    job had reached when the rule's answer came: the rung's, unless a loaded machine's poll read the job a line past
    it (so the stop epochs themselves are not pinned to the rungs)."""
    store = RunStore(Path(result["run_dir"]))
    try:
        judged = [e["payload"]["epoch"] for e in store.events("stop_decided")]
        for h in result["history"]:
            reported = [e["payload"]["epoch"] for e in store.events("epoch_metric", h["rec_id"])]
            lines = (Path(h["results_dir"]) / "status.json").read_text().splitlines()
            assert reported == list(range(1, len(lines) + 1)), (h["rec_id"], reported, len(lines))
    finally:
        store.close()
    assert judged and min(judged) >= 1, judged


def test_stopping_sweep_counts_a_zero_based_status_json_s_epochs_from_one(tmp_path: Path) -> None:
    """TAO's status logger writes epoch 0 after the first epoch and `max_epoch` = epochs - 1. Stopping mode took its
    epochs as written: epoch 0's value was never judged, the rung at epoch 1 was judged on the second epoch's value,
    and a stopped rec was recorded one epoch short of what its job trained."""
    tao_style = SLOW_TRAINER.replace('{"epoch": epoch, "kpi"',
                                     '{"epoch": epoch - 1, "max_epoch": spec["train"]["num_epochs"] - 1, "kpi"')
    assert tao_style != SLOW_TRAINER
    result, stopped = _stopping_sweep(tmp_path, tao_style)
    for h in stopped:
        curve = [json.loads(line) for line in (Path(h["results_dir"]) / "status.json").read_text().splitlines()]
        trained = next(r["epoch"] + 1 for r in curve if r["kpi"]["val_loss"] == h["metric_value"])
        assert h["budget_reached"] == trained < 9 and f"stopped early at epoch {trained} " in h["message"], h
    _the_rule_saw_the_epochs_trained(result)
    assert all(h["budget_reached"] == 9 for h in result["history"] if h["status"] == "success")


def test_a_stopping_sweep_whose_jobs_write_no_status_json_says_so_once_and_stops_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """README: "Per-epoch values ... are read from `status.json` only; a stopping-mode run whose jobs write none says
    so once and stops nothing": a trainer that logs its epochs' values but writes no status.json is never stopped,
    and the run warns once (one `stopping_blind` event), not once per rec."""
    log_only = textwrap.dedent(
        """
        import sys, time, yaml
        spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
        lr = spec["train"]["optim"]["lr"]
        for epoch in range(1, spec["train"]["num_epochs"] + 1):
            time.sleep(0.05)
            print(f"epoch {epoch} val_loss={abs(lr - 0.01) * 10 + 1.0 / epoch}", flush=True)
        """)
    skill = write_skill(tmp_path / "bank", trainer=log_only)
    settings = {**STOPPING, "automl_max_recommendations": 6, "automl_max_concurrent": 3}
    with caplog.at_level("WARNING"):
        result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
            automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    assert [h["status"] for h in result["history"]] == ["success"] * 6
    assert all(h["budget_reached"] == 9 for h in result["history"])
    assert caplog.text.count("wrote no per-epoch values") == 1, caplog.text
    assert "cannot compare recs while they train and stops none" in caplog.text
    store = RunStore(Path(result["run_dir"]))
    blind, decided = store.events("stopping_blind"), store.events("stop_decided")
    store.close()
    assert len(blind) == 1 and decided == []


def test_a_job_that_ends_before_its_stop_keeps_its_own_result(tmp_path: Path) -> None:
    """The rule says stop, but the job ends before the cancel reaches it (the platform refuses the cancel): the rec
    gets the job's own final result, not ``stopped`` with an earlier epoch's value (the finished job's metric was
    lost). The decision stays in the journal."""
    skill = write_skill(tmp_path / "bank", trainer=SLOW_TRAINER)
    runner = AutoMLRunner(EndsBeforeCancelSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=STOPPING, workspace_path=tmp_path / "ws", gpu_count=0)
    from tao_automl.experiment.store import RunStore
    store = RunStore(Path(result["run_dir"]))
    try:
        decided = {int(e["rec_id"]) for e in store.events("stop_decided")}
    finally:
        store.close()
    assert decided  # the rule stopped some recs (the same schedule stops at least two in the test above)
    for h in result["history"]:
        assert h["status"] == "success", h
        lines = (Path(h["results_dir"]) / "status.json").read_text().splitlines()
        final = json.loads(lines[-1])
        assert final["epoch"] == 9 and h["metric_value"] == final["kpi"]["val_loss"], (h, final)


#: Writes epochs 1..``stop_writing_at`` at once (a poll reads several at a time), then SUCCESS if it wrote every
#: epoch, and lingers 1.5 s before exiting (the platform still says running), or 3 s when it wrote fewer.
BURST_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr, epochs = spec["train"]["optim"]["lr"], spec["train"]["num_epochs"]
    last = min(epochs, STOP_WRITING_AT)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        for epoch in range(1, last + 1):
            f.write(json.dumps({"epoch": epoch, "status": "RUNNING",
                                "kpi": {"val_loss": abs(lr - 0.01) * 10 + 1.0 / epoch}}) + "\\n")
        if last == epochs:
            f.write(json.dumps({"status": "SUCCESS", "message": "Training finished successfully."}) + "\\n")
    time.sleep(1.5 if last == epochs else 3)
    """
)


def test_a_job_whose_status_file_says_it_finished_is_not_stopped(tmp_path: Path) -> None:
    """The rule judges epoch 1 or 3, but by the poll that reads it the job has written all 9 epochs and SUCCESS:
    it is not cancelled, and every rec ends with its own final (epoch-9) value (it used to be recorded
    ``stopped`` with the rung epoch's value)."""
    skill = write_skill(tmp_path / "bank", trainer=BURST_TRAINER.replace("STOP_WRITING_AT", "99"))
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings={**STOPPING, "poll_interval_s": 0.3}, workspace_path=tmp_path / "ws",
                        gpu_count=0)
    for h in result["history"]:
        assert h["status"] == "success" and h["budget_reached"] == 9, h
        assert h["metric_value"] == pytest.approx(abs(h["params"]["train.optim.lr"] - 0.01) * 10 + 1.0 / 9), h


def test_a_job_stopped_after_training_past_the_rung_records_where_it_was_stopped(tmp_path: Path) -> None:
    """The job wrote epochs 1..5 before the poll that judged it at a rung (1 or 3): it is stopped, and the rec
    records epoch 5 and its value (what the job reached), not the rung's."""
    skill = write_skill(tmp_path / "bank", trainer=BURST_TRAINER.replace("STOP_WRITING_AT", "5"))
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings={**STOPPING, "poll_interval_s": 0.3}, workspace_path=tmp_path / "ws",
                        gpu_count=0)
    stopped = [h for h in result["history"] if h["status"] == "stopped"]
    assert stopped, [h["status"] for h in result["history"]]
    for h in stopped:
        assert h["budget_reached"] == 5 and "stopped early at epoch 5" in h["message"], h
        assert h["metric_value"] == pytest.approx(abs(h["params"]["train.optim.lr"] - 0.01) * 10 + 1.0 / 5), h
    from tao_automl.report.data import load_run
    for rec in load_run(result["run_dir"]).recs:  # the epochs past the rung are persisted: curves end where it did
        assert [e for e, _ in rec.epochs] == [1, 2, 3, 4, 5], (rec.rec_id, rec.epochs)


#: Writes epochs 1..3 at once (a poll judges rung 1 or 3), then waits up to 3 s for the platform's cancel to
#: announce itself (``GATE`` in its results dir, see :class:`TrainsOnAtCancelSDK`): told ``train_on``, it trains on to
#: epoch 6 and waits to be killed; told ``finish``, it trains to its budget, writes SUCCESS and exits 0 by itself.
#: Not told (not stopped), it trains to its budget.
GATED_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    rd = spec["results_dir"]
    os.makedirs(rd, exist_ok=True)
    lr, epochs = spec["train"]["optim"]["lr"], spec["train"]["num_epochs"]

    def write(record):
        with open(os.path.join(rd, "status.json"), "a") as f:
            f.write(json.dumps(record) + "\\n")

    def train(first, last):
        for epoch in range(first, last + 1):
            write({"epoch": epoch, "kpi": {"val_loss": abs(lr - 0.01) * 10 + 1.0 / epoch}})

    train(1, 3)
    gate, deadline = os.path.join(rd, "GATE"), time.time() + 3
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.01)
    told = open(gate).read() if os.path.exists(gate) else ""
    if told == "train_on":
        train(4, 6)
        open(os.path.join(rd, "TRAINED_ON"), "w").close()
        time.sleep(60)
    train(4, epochs)
    write({"status": "SUCCESS"})
    """
)


class TrainsOnAtCancelSDK(LocalSDK):
    """LocalSDK whose cancel lets the job go on, in the window between the runner's decision and the signal (the
    runner's last look said: running, at the judged epoch): ``train_on``, the job trains 3 more epochs and is then
    killed by the signal; ``finish``, it trains to its budget and exits 0 by itself before the signal."""

    told = "train_on"

    def _terminate_group(self, job_id: str, pgid: int) -> None:
        results = Path(self.get_job_info(job_id)["results_dir"])
        job_dir = Path(self.get_job_info(job_id)["log_path"]).parent
        (results / "GATE.tmp").write_text(self.told)
        (results / "GATE.tmp").rename(results / "GATE")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                (results / "TRAINED_ON").exists() if self.told == "train_on" else read_exit(job_dir) is not None):
            time.sleep(0.01)
        super()._terminate_group(job_id, pgid)


def _val_loss(h: dict[str, Any], epoch: int) -> float:
    return abs(h["params"]["train.optim.lr"] - 0.01) * 10 + 1.0 / epoch


def test_a_job_that_trains_on_before_the_cancel_reaches_it_is_recorded_where_it_got_to(tmp_path: Path) -> None:
    """The rule stops the job at epoch 3 (or 1); it trains to epoch 6 before the cancel kills it: the rec is
    recorded ``stopped`` at epoch 6 with epoch 6's value, as its status.json and checkpoint show (it was recorded at
    the judged epoch, with that epoch's value). The epochs past it are persisted: the curve ends where it did."""
    skill = write_skill(tmp_path / "bank", trainer=GATED_TRAINER)
    runner = AutoMLRunner(TrainsOnAtCancelSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=STOPPING, workspace_path=tmp_path / "ws", gpu_count=0)
    stopped = [h for h in result["history"] if h["status"] == "stopped"]
    assert stopped, [h["status"] for h in result["history"]]
    for h in result["history"]:
        curve = [json.loads(line) for line in (Path(h["results_dir"]) / "status.json").read_text().splitlines()]
        reached = max(r["epoch"] for r in curve if "epoch" in r)
        assert h["budget_reached"] == reached and h["metric_value"] == pytest.approx(_val_loss(h, reached)), h
    for h in stopped:
        assert h["budget_reached"] == 6 and "stopped early at epoch 6" in h["message"], h
        assert "judged at epoch" in h["message"], h
    from tao_automl.report.data import load_run
    views = {rec.rec_id: rec for rec in load_run(result["run_dir"]).recs}
    for h in stopped:
        assert [e for e, _ in views[h["rec_id"]].epochs] == [1, 2, 3, 4, 5, 6], views[h["rec_id"]].epochs


def test_a_job_that_finishes_as_its_stop_comes_keeps_its_own_final_result(tmp_path: Path) -> None:
    """The rule stops the job at epoch 3 (or 1); it trains to its budget and exits 0 by itself in the window before
    the cancel's signal: the rec is a success with its own epoch-9 value (it was recorded ``stopped`` at the judged
    epoch, and its job ``cancelled`` with exit code 0)."""
    skill = write_skill(tmp_path / "bank", trainer=GATED_TRAINER)
    sdk = TrainsOnAtCancelSDK(jobs_dir=tmp_path / "jobs")
    sdk.told = "finish"
    result = AutoMLRunner(sdk, skill).run(automl_settings=STOPPING, workspace_path=tmp_path / "ws", gpu_count=0)
    from tao_automl.experiment.store import RunStore
    store = RunStore(Path(result["run_dir"]))
    try:
        decided = {int(e["rec_id"]) for e in store.events("stop_decided")}
    finally:
        store.close()
    assert decided  # the rule stopped some recs, and their jobs ended by themselves before the signal
    for h in result["history"]:
        assert h["status"] == "success" and h["budget_reached"] == 9, h
        assert h["metric_value"] == pytest.approx(_val_loss(h, 9)), h
        job = json.loads((Path(sdk.get_job_info(h["job_id"])["log_path"]).parent / "job.json").read_text())
        assert job["state"] == "success" and job["exit_code"] == 0, job


def test_a_crash_after_the_cancel_of_a_job_that_trained_on_resumes_to_where_it_got_to(tmp_path: Path) -> None:
    """The orchestrator is SIGKILLed after the stop's cancel and before the rec's end is recorded; the resume finds
    the job cancelled and records it as the uninterrupted run does: ``stopped`` at epoch 6, where the job got to
    (it used the decision's epoch, 3 or 1)."""
    skill = write_skill(tmp_path / "bank", trainer=GATED_TRAINER)
    tests, src = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "src"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(src)!r}, {str(tests)!r}]
        from test_asha import STOPPING, TrainsOnAtCancelSDK
        from tao_automl.runner.loop import AutoMLRunner
        runner = AutoMLRunner(TrainsOnAtCancelSDK(jobs_dir={str(tmp_path / "jobs")!r}), {str(skill)!r})
        if len(sys.argv) > 1:
            runner.run(workspace_path=sys.argv[1], resume=True)
        else:
            runner.run(automl_settings=STOPPING, workspace_path={str(tmp_path / "ws")!r}, gpu_count=0)
    """)
    crash = {**os.environ, "TAO_AUTOML_CRASH_AT": "stop_cancelled"}
    crashed = subprocess.run([sys.executable, "-c", script], env=crash, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr[-3000:]
    run_dir = next((tmp_path / "ws").glob("run_*"))
    from tao_automl.experiment.store import RunStore
    store = RunStore(run_dir, readonly=True)
    try:
        (victim,) = {int(e["rec_id"]) for e in store.events("stop_decided")}
        assert store.rec(victim).status == "running"  # cancelled, its end not recorded
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if k != "TAO_AUTOML_CRASH_AT"}
    resumed = subprocess.run([sys.executable, "-c", script, str(run_dir)], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    store = RunStore(run_dir, readonly=True)
    try:
        row = store.rec(victim)
    finally:
        store.close()
    assert row.status == "stopped" and row.budget_reached == 6, (row.status, row.budget_reached, row.message)
    lr = row.params["train.optim.lr"]
    assert row.metric_value == pytest.approx(abs(lr - 0.01) * 10 + 1.0 / 6), row
    assert "stopped early at epoch 6" in (row.message or ""), row.message


def test_intermediate_checkpoints_are_deleted_after_the_schedule_but_the_best_kept(tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    result = runner.run(train_dataset_uri="builtin:digits",
                        automl_settings={"algorithm": "asha", "metric": "val_loss", "automl_max_epochs": 3,
                                         "automl_reduction_factor": 3, "automl_max_recommendations": 6,
                                         "automl_max_concurrent": 2, "poll_interval_s": 1.0,
                                         "automl_delete_intermediate_ckpt": True},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 6  # promotions found their parents' checkpoints
    parents = {h["rec_id"]: h["parent"] for h in result["history"]}
    chain, current = [], result["best"]["rec_id"]
    while current is not None:
        chain.append(current)
        current = parents[current]
    for h in result["history"]:
        ckpts = list(Path(h["results_dir"]).rglob("*.npz"))
        assert bool(ckpts) == (h["rec_id"] in chain), (h["rec_id"], chain, ckpts)


def test_a_bigger_budget_is_refused_on_resume_once_the_clean_up_deleted_checkpoints(tmp_path: Path) -> None:
    """asha may take a bigger budget on resume, but after automl_delete_intermediate_ckpt its new promotions resumed
    checkpoints the clean-up had deleted: each failed ("needs its checkpoint, but none was found"), spending the
    budget on nothing. The resume is refused, naming the setting; the same budget still resumes."""
    settings = {"algorithm": "asha", "metric": "val_loss", "automl_max_epochs": 3, "automl_reduction_factor": 3,
                "automl_max_recommendations": 4, "automl_max_concurrent": 2, "poll_interval_s": 0.2,
                "automl_delete_intermediate_ckpt": True}
    skill = builtin_skill_dir("demo-digits-mlp")
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        train_dataset_uri="builtin:digits", automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 4
    assert any(not list(Path(h["results_dir"]).rglob("*.npz")) for h in result["history"])  # the clean-up ran
    with pytest.raises(SettingsError) as caught:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
            workspace_path=result["run_dir"], resume=True,
            automl_settings={**settings, "automl_max_recommendations": 12}, gpu_count=0)
    assert caught.value.field == "automl_settings.automl_max_recommendations" and caught.value.value == 12
    assert caught.value.allowed == [4] and "checkpoints" in str(caught.value)
    again = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        workspace_path=result["run_dir"], resume=True, automl_settings=settings, gpu_count=0)
    assert again["progress"]["completed"] == again["progress"]["total"] == 4


def test_the_exported_best_spec_finds_the_checkpoint_it_resumes_after_the_clean_up(tmp_path: Path) -> None:
    """A promoted best rec continues its parent's checkpoint: the clean-up keeps the whole chain, so the spec
    `export --best` writes resumes a file that exists (the clean-up used to keep the best rec's own files only)."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    result = runner.run(train_dataset_uri="builtin:digits",
                        automl_settings={"algorithm": "asha", "metric": "val_loss", "automl_max_epochs": 9,
                                         "automl_reduction_factor": 3, "automl_max_recommendations": 9,
                                         "automl_max_concurrent": 1, "poll_interval_s": 0.2, "seed": 1,
                                         "automl_delete_intermediate_ckpt": True},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    best = next(h for h in result["history"] if h["rec_id"] == result["best"]["rec_id"])
    assert best["parent"] is not None, best  # seed 1, one at a time: a promoted rec wins
    done = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "export", result["run_dir"], "--best",
                           "-o", str(tmp_path / "best.yaml"), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resumes = json.loads(done.stdout)["best"]["resumes"]
    assert resumes is not None and Path(resumes["checkpoint"]).is_file(), resumes
    assert any(not list(Path(h["results_dir"]).rglob("*.npz")) for h in result["history"])  # others were deleted
    # the run folder moved: the exported spec (file and stdout) names the checkpoint where it is now
    moved = tmp_path / "moved" / "run"
    moved.parent.mkdir()
    shutil.move(result["run_dir"], moved)
    for out in (["-o", str(tmp_path / "moved.yaml")], []):
        done = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "export", str(moved), "--best", *out],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        text = (tmp_path / "moved.yaml").read_text() if out else done.stdout
        spec = yaml.safe_load(text)
        checkpoint = spec["train"]["resume_training_checkpoint_path"]
        assert Path(checkpoint).is_file() and Path(checkpoint).is_relative_to(moved), checkpoint
        # its results folder too (it named the old, missing folder), and a note says so, on stdout's run as on -o's
        assert Path(spec["results_dir"]).is_dir() and Path(spec["results_dir"]).is_relative_to(moved), spec
        assert "the run folder has moved since rec" in done.stderr and "results_dir" in done.stderr, done.stderr
    shown = json.loads(subprocess.run(
        [sys.executable, "-m", "tao_automl.cli.main", "export", str(moved), "--best", "-o", str(tmp_path / "m.yaml"),
         "--json"], capture_output=True, text=True, timeout=120).stdout)["best"]["moved"]
    assert set(shown) == {"results_dir", "train.resume_training_checkpoint_path"}, shown
    assert all(Path(where["to"]).exists() and not Path(where["from"]).exists() for where in shown.values())


CAPPED_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr, planned = spec["train"]["optim"]["lr"], spec["train"]["num_epochs"]
    last = min(planned, 5)  # the trainer's own early stopping: never past epoch 5
    for epoch in range(1, last + 1):
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "max_epoch": planned, "kpi": {"val_loss": abs(lr - 0.01) + 1 / epoch}})
                    + "\\n")
    """
)


def test_a_job_that_ends_before_its_budget_is_recorded_and_ranked_at_the_epoch_it_reached(tmp_path: Path) -> None:
    """A trainer that stopped at epoch 5 of the 9 it was given was shown as `budget_reached 9` and "best ... at 9
    epochs", and ranked with the 9-epoch results."""
    skill = write_skill(tmp_path / "bank", trainer=CAPPED_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings={"algorithm": "hyperband", "metric": "val_loss", "automl_max_epochs": 9,
                                         "automl_reduction_factor": 3, "automl_max_recommendations": 12,
                                         "automl_max_concurrent": 3, "seed": 3, "poll_interval_s": 0.2},
                        automl_hyperparameters=["train.optim.lr"], workspace_path=tmp_path / "ws", gpu_count=0)
    rows = {h["rec_id"]: h for h in result["history"]}
    assert {h["budget"] for h in rows.values()} >= {1, 3, 9}
    for h in rows.values():
        assert h["budget_reached"] == min(h["budget"], 5), h
    assert result["best"]["budget"] == 5  # no rec got further than epoch 5
    top = max(rows.values(), key=lambda h: (h["budget_reached"], -h["metric_value"]))
    assert result["best"]["rec_id"] == top["rec_id"]


#: CAPPED_TRAINER with its metric only in its log (no status.json): ``epoch N val_loss=...`` lines, then a summary
#: line; ``EPOCH_WORD`` empty: its lines name no epoch.
LOG_ONLY_CAPPED_TRAINER = textwrap.dedent(
    """
    import yaml, sys
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    lr, planned = spec["train"]["optim"]["lr"], spec["train"]["num_epochs"]
    for epoch in range(1, min(planned, 5) + 1):  # the trainer's own early stopping: never past epoch 5
        print(f"EPOCH_WORD val_loss={abs(lr - 0.01) + 1 / epoch}", flush=True)
    print(f"Training done. Best val_loss: {abs(lr - 0.01) + 1 / min(planned, 5)} (summary of every epoch)")
    """
)


def test_a_job_whose_log_alone_shows_it_ended_early_is_recorded_at_the_epoch_its_log_names(tmp_path: Path) -> None:
    """No status.json: the metric comes from the log, which ends at `epoch 5` of the 9 given; the rec was recorded
    (and ranked) at `budget_reached` 9. A log that names no epoch cannot tell: the rec keeps its budget."""
    settings = {"algorithm": "hyperband", "metric": "val_loss", "automl_max_epochs": 9, "automl_reduction_factor": 3,
                "automl_max_recommendations": 12, "automl_max_concurrent": 3, "seed": 3, "poll_interval_s": 0.2}
    for word, capped in (("epoch {epoch}", True), ("", False)):
        skill = write_skill(tmp_path / f"bank{capped}", trainer=LOG_ONLY_CAPPED_TRAINER.replace("EPOCH_WORD", word))
        result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / f"jobs{capped}"), skill).run(
            automl_settings=settings, automl_hyperparameters=["train.optim.lr"],
            workspace_path=tmp_path / f"ws{capped}", gpu_count=0)
        rows = result["history"]
        assert {h["budget"] for h in rows} >= {1, 3, 9}
        for h in rows:
            assert not (Path(h["results_dir"]) / "status.json").exists()
            lr = h["params"]["train.optim.lr"]
            assert h["metric_value"] == pytest.approx(abs(lr - 0.01) + 1 / min(h["budget"], 5)), h
            assert h["budget_reached"] == (min(h["budget"], 5) if capped else h["budget"]), h
        assert result["best"]["budget"] == (5 if capped else 9)


def _random_sweep(tmp_path: Path, trainer: str, name: str, recs: int, epochs: int) -> dict[str, Any]:
    """A `random` sweep of ``recs`` recs at once, searching the toy skill's lr, with ``epochs`` in every spec."""
    skill = write_skill(tmp_path / f"bank-{name}", trainer=trainer)
    return AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": recs,
                         "automl_max_concurrent": recs, "seed": 3, "poll_interval_s": 0.2},
        automl_hyperparameters=["train.optim.lr"], spec_overrides={"train.num_epochs": epochs},
        workspace_path=tmp_path / f"ws-{name}", gpu_count=0)


def test_a_single_fidelity_job_that_ends_before_its_spec_epochs_is_recorded_at_the_epoch_it_reached(
        tmp_path: Path) -> None:
    """`random` has no epoch budgets; its recs trained the spec's `num_epochs` (9 here). A job that stopped itself
    at epoch 5 was recorded with `budget_reached` 9 and shown at 9 epochs (README: such a job is recorded at the
    last epoch its status.json reports)."""
    result = _random_sweep(tmp_path, CAPPED_TRAINER, "capped", recs=3, epochs=9)
    for h in result["history"]:
        assert h["status"] == "success" and h["budget"] == 9 and h["budget_reached"] == 5, h
    assert result["best"]["budget"] == result["best"]["budget_reached"] == 5  # beside the rec's budget 9
    again = _random_sweep(tmp_path, CAPPED_TRAINER, "whole", recs=2, epochs=4)  # trains its whole spec: as before
    assert all(h["budget"] == h["budget_reached"] == 4 for h in again["history"]), again["history"]


ZERO_BASED_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr, planned = spec["train"]["optim"]["lr"], spec["train"]["num_epochs"]
    for epoch in range(planned):  # PyTorch Lightning's current_epoch: 0 .. planned - 1
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            loss = abs(lr - 0.01) + 1 / (epoch + 1)
            f.write(json.dumps({"epoch": epoch, "max_epoch": planned, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


def test_a_trainer_counting_epochs_from_zero_is_recorded_at_the_epochs_it_trained(tmp_path: Path) -> None:
    """A trainer whose status.json counts epochs from 0 (its last line says epoch 8 after 9 epochs) trained its whole
    budget: it is not recorded as one that stopped an epoch early."""
    result = _random_sweep(tmp_path, ZERO_BASED_TRAINER, "zero", recs=2, epochs=9)
    assert all(h["budget"] == h["budget_reached"] == 9 for h in result["history"]), result["history"]
    # TAO's logger: max_epoch is max_epochs - 1; a status.json holding only its last line is read the same way
    last_only = ZERO_BASED_TRAINER.replace("for epoch in range(planned):", "for epoch in range(planned - 1, planned):")
    last_only = last_only.replace('"max_epoch": planned', '"max_epoch": planned - 1')
    again = _random_sweep(tmp_path, last_only, "last-only", recs=1, epochs=9)
    assert again["history"][0]["budget_reached"] == 9, again["history"]
    sparse = ZERO_BASED_TRAINER.replace("for epoch in range(planned):", "for epoch in range(2, planned, 3):")
    sparse = sparse.replace('"max_epoch": planned', '"max_epoch": planned - 1')  # a line every 3 epochs: 2, 5, 8
    assert _random_sweep(tmp_path, sparse, "sparse", recs=1, epochs=9)["history"][0]["budget_reached"] == 9


def test_a_trainer_counting_from_one_that_ignores_its_budget_is_recorded_at_its_last_epoch(tmp_path: Path) -> None:
    """A trainer that ran its own 8 epochs (lines 1..8, `max_epoch` 8) while its spec asked for 9 was read as
    counting from 0 (max_epoch = 9 - 1) and recorded at 9 epochs it never trained."""
    own_eight = ZERO_BASED_TRAINER.replace("for epoch in range(planned):", "for epoch in range(1, 9):")
    own_eight = own_eight.replace('"max_epoch": planned', '"max_epoch": 8').replace("1 / (epoch + 1)", "1 / epoch")
    result = _random_sweep(tmp_path, own_eight, "own-eight", recs=2, epochs=9)
    assert all(h["budget"] == 9 and h["budget_reached"] == 8 for h in result["history"]), result["history"]


def test_a_started_line_before_training_is_no_epoch_trained(tmp_path: Path) -> None:
    """A trainer counting from 1 that writes {"epoch": 0, "status": "STARTED"} before training and stops itself
    after epoch 4 of 6 was recorded at 5 epochs (the STARTED line read as a 0-based count)."""
    started = ZERO_BASED_TRAINER.replace(
        "for epoch in range(planned):",
        'open(os.path.join(spec["results_dir"], "status.json"), "a").write(\'{"epoch": 0, "status": "STARTED"}\\n\')'
        "\nfor epoch in range(1, 5):").replace("1 / (epoch + 1)", "1 / epoch")
    assert started.count('"STARTED"') == 1
    result = _random_sweep(tmp_path, started, "started", recs=1, epochs=6)
    assert result["history"][0]["budget_reached"] == 4, result["history"]


@pytest.mark.parametrize(("epochs", "max_epoch", "planned", "start", "zero_based"), [
    (range(0, 9), None, 9, 0, True),  # Lightning's current_epoch, every line
    (range(1, 10), None, 9, 0, False),  # counted from 1
    ([8], 8, 9, 0, True),  # TAO's logger, its last line only: max_epoch = max_epochs - 1
    ([9], 9, 9, 0, False),
    ([2, 5, 8], 8, 9, 0, True),  # a line every 3 epochs
    (range(1, 9), 8, 9, 0, False),  # its own 8 epochs against a budget of 9
    (range(0, 7), None, 6, 0, False),  # counted from 1 with a line before training (epoch 0): was read as 7 epochs
    (range(3, 6), None, 6, 3, True),  # resumed a 3-epoch checkpoint, counted from 0: was read as 5 epochs
    (range(4, 7), None, 6, 3, False),  # resumed, counted from 1
    ([5], 5, 6, 3, True),  # resumed, TAO's last line only
    ([2], 2, 3, 1, True),  # resumed 1 -> 3, TAO's last line only (its epoch is start + 1): was read as 2 epochs
    ([1], 1, 2, 0, True),  # a budget of 2, TAO's last line only
    ([1, 3, 5, 7, 8], 8, 9, 0, True),  # 0-based, a line every 2 epochs and the last: was read as 8 epochs
    ([2], 2, 2, 0, False),  # counted from 1, its last line only
    ([1, 2], 2, 3, 0, True),  # 0-based, every 2nd epoch and the last, 3 epochs: was read as 2
    ([7, 8], 8, 9, 6, True),  # the same resumed 6 -> 9: was read as 8
    ([1, 2], None, 2, 0, False),  # counted from 1, two epochs
])
def test_which_status_json_counts_epochs_from_zero(epochs: Any, max_epoch: int | None, planned: int, start: int,
                                                   zero_based: bool) -> None:
    from tao_automl.runner.loop import _counts_from_zero

    records = [{"epoch": e, **({"max_epoch": max_epoch} if max_epoch is not None else {})} for e in epochs]
    assert _counts_from_zero(list(epochs), records, planned, start) is zero_based


ZERO_BASED_SLOW_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr, planned = spec["train"]["optim"]["lr"], spec["train"]["num_epochs"]
    for epoch in range(planned):  # Lightning's current_epoch, as TAO's status logger writes it: 0 .. planned - 1
        time.sleep(0.15)
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            loss = abs(lr - 0.01) * 10 + 1 / (epoch + 1)
            f.write(json.dumps({"epoch": epoch, "max_epoch": planned - 1, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


def _asha_stopping_run(tmp_path: Path, trainer: str, recs: int) -> dict[str, Any]:
    """A real asha sweep in stopping mode (9 epochs, eta 3, 3 at a time) of a skill whose trainer is ``trainer``."""
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    return AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings={"algorithm": "asha", "fidelity_mode": "stopping", "metric": "val_loss", "seed": 3,
                         "automl_max_epochs": 9, "automl_reduction_factor": 3, "automl_max_recommendations": recs,
                         "automl_max_concurrent": 3, "poll_interval_s": 0.05},
        automl_hyperparameters=["train.optim.lr"], workspace_path=tmp_path / "ws", gpu_count=0)


def test_stopping_mode_counts_a_zero_based_status_json_in_epochs_trained(tmp_path: Path) -> None:
    """A job whose status.json counts epochs from 0 (TAO's PyTorch trainers) in stopping mode: its line `epoch: 1`
    (2 epochs trained) was judged at the 1-epoch rung and a stopped rec recorded `budget_reached` 1 with the value
    it had after 2 epochs. Each rec is now recorded at the epochs its job trained, with that epoch's value."""
    result = _asha_stopping_run(tmp_path, ZERO_BASED_SLOW_TRAINER, recs=9)
    assert "stopped" in {h["status"] for h in result["history"]}
    for h in result["history"]:
        lines = [json.loads(x) for x in (Path(h["results_dir"]) / "status.json").read_text().splitlines()]
        assert h["budget_reached"] == len(lines), (h["rec_id"], h["status"], h["budget_reached"], lines)
        assert h["metric_value"] == lines[-1]["kpi"]["val_loss"]


def test_stopping_mode_counts_a_zero_based_status_json_without_max_epoch_in_epochs_trained(tmp_path: Path) -> None:
    """A Lightning-style status.json (epochs 0 .. budget - 1, no `max_epoch`) in stopping mode: a finished rec was
    recorded at the epochs it trained (README: an epoch 0 and no end at the whole budget count from 0), but a
    stopped one at its last line's number, one epoch short of what its job trained, with the later epoch's value
    (the rung at epoch 1 judged on the second epoch). Stopped recs now read the same way as finished ones."""
    no_max_epoch = ZERO_BASED_SLOW_TRAINER.replace('"max_epoch": planned - 1, ', "")
    assert no_max_epoch != ZERO_BASED_SLOW_TRAINER
    result = _asha_stopping_run(tmp_path, no_max_epoch, recs=9)
    assert "stopped" in {h["status"] for h in result["history"]}
    for h in result["history"]:
        lines = [json.loads(x) for x in (Path(h["results_dir"]) / "status.json").read_text().splitlines()]
        assert h["budget_reached"] == len(lines), (h["rec_id"], h["status"], h["budget_reached"], lines)
        assert h["metric_value"] == lines[-1]["kpi"]["val_loss"]
    _the_rule_saw_the_epochs_trained(result)


def test_the_report_and_export_curves_count_a_zero_based_status_json_s_epochs_as_trained(tmp_path: Path) -> None:
    """The runner reads a status.json counting from 0 (lines 0 .. budget - 1) as epochs 1 .. budget, but the report's
    learning curves and the Optuna export's intermediate values took its epochs as written: a 9-epoch rec's curve
    ended at epoch 8 beside its 9 epochs, and a stopped rec's curve in stopping mode (the runner's epoch values plus
    the file's) had a point more than the epochs its job trained, each value one epoch off."""
    from tao_automl.export.run_data import load_run as export_run
    from tao_automl.report.data import load_run as report_run

    no_max_epoch = ZERO_BASED_SLOW_TRAINER.replace('"max_epoch": planned - 1, ', "")
    result = _asha_stopping_run(tmp_path, no_max_epoch, recs=6)
    assert {"stopped", "success"} <= {h["status"] for h in result["history"]}
    report, export = report_run(result["run_dir"]), export_run(result["run_dir"])
    for h in result["history"]:
        lines = [json.loads(x) for x in (Path(h["results_dir"]) / "status.json").read_text().splitlines()]
        trained = [(line["epoch"] + 1, line["kpi"]["val_loss"]) for line in lines][:h["budget_reached"]]
        shown = next(r for r in report.recs if r.rec_id == h["rec_id"]).epochs
        assert shown == trained, (h["rec_id"], h["status"], shown, trained)
        assert sorted(export.epochs[h["rec_id"]].items()) == trained, (h["rec_id"], export.epochs[h["rec_id"]])


def test_a_metric_validated_every_2nd_epoch_is_counted_as_the_file_s_other_values_count_it(tmp_path: Path) -> None:
    """A Lightning-style status.json (epochs 0 .. budget - 1, no `max_epoch`) with a training value on every line and
    the metric validated every 2nd epoch and at the last (epochs 1, 3, 5, 7, 8): the runner reads the file as
    counting from 0 (its line at epoch 0), so a finished rec trained 9 epochs, but the report, the export and
    stopping mode decided from the metric's own epochs, which read as counting from 1: its curve ended at epoch 8
    beside its 9 epochs, each value an epoch early. Every reader now decides from the lines with values."""
    from tao_automl.export.run_data import load_run as export_run
    from tao_automl.report.data import load_run as report_run

    trainer = ZERO_BASED_SLOW_TRAINER.replace('"max_epoch": planned - 1, ', "").replace(
        '"kpi": {"val_loss": loss}',
        '"kpi": {"train_loss": loss, **({"val_loss": loss} if epoch % 2 or epoch == planned - 1 else {})}')
    assert "train_loss" in trainer and "max_epoch" not in trainer
    result = _asha_stopping_run(tmp_path, trainer, recs=6)
    assert "success" in {h["status"] for h in result["history"]}
    report, export = report_run(result["run_dir"]), export_run(result["run_dir"])
    for h in result["history"]:
        lines = [json.loads(x) for x in (Path(h["results_dir"]) / "status.json").read_text().splitlines()]
        trained = [(line["epoch"] + 1, line["kpi"]["val_loss"]) for line in lines if "val_loss" in line["kpi"]]
        reached = h["budget_reached"] or 9
        if h["status"] == "success":
            assert reached == 9 and trained[-1][0] == 9, (h["rec_id"], reached, trained)
        shown = next(r for r in report.recs if r.rec_id == h["rec_id"]).epochs
        assert shown == [(e, v) for e, v in trained if e <= reached], (h["rec_id"], h["status"], shown, trained)
        assert sorted(export.epochs[h["rec_id"]].items())[-1][0] == shown[-1][0], (h["rec_id"], export.epochs)

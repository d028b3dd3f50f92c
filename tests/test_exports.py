"""Exports: the best spec (trained again by the demo's own command), CSV, Optuna journal, runs, logs."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import readme_says, small_schema, write_skill
from fifo_reader import FifoReader
from store_helpers import killed_run_mid_job, killed_run_whose_jobs_ended
from tao_automl.bank import builtin_skill_dir
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner

CLI = [sys.executable, "-m", "tao_automl.cli.main"]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("demo")
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp / "jobs"), builtin_skill_dir("demo-digits-mlp"), log_progress=False)
    return runner.run(train_dataset_uri="builtin:digits",
                      automl_settings={"algorithm": "random", "metric": "val_accuracy", "seed": 3,
                                       "automl_max_recommendations": 3, "automl_max_concurrent": 2,
                                       "poll_interval_s": 0.5},
                      spec_overrides={"train.num_epochs": 2}, workspace_path=tmp / "ws", gpu_count=0)


def test_best_spec_is_the_file_the_job_read_and_trains_to_the_same_metric(demo_run: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    run_dir, best = demo_run["run_dir"], demo_run["best"]
    exact = _cli("export", run_dir, "--best", "-o", str(tmp_path / "exact.yaml"))
    assert exact.returncode == 0, exact.stderr
    assert (tmp_path / "exact.yaml").read_bytes() == Path(best["spec_path"]).read_bytes()
    assert "--results-dir" in exact.stderr  # says where it would write
    assert _cli("export", run_dir, "--best").stdout == Path(best["spec_path"]).read_text()  # no -o: stdout

    out = tmp_path / "retrain"
    done = _cli("export", run_dir, "--best", "-o", str(tmp_path / "best_spec.yaml"), "--results-dir", str(out))
    assert done.returncode == 0, done.stderr
    assert f"wrote rec {best['rec_id']}'s spec" in done.stdout
    spec = yaml.safe_load((tmp_path / "best_spec.yaml").read_text())
    assert spec["results_dir"] == str(out.resolve())
    assert "cannot be made here" not in done.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    elsewhere = _cli("export", run_dir, "--best", "-o", str(tmp_path / "b2.yaml"), "--results-dir",
                     str(blocked / "out"))  # written without a word, so the retrain failed later
    assert elsewhere.returncode == 0 and f"--results-dir '{blocked / 'out'}' cannot be made here" in elsewhere.stderr
    assert {k: v for k, v in spec.items() if k != "results_dir"} == {
        k: v for k, v in best["specs"].items() if k != "results_dir"}
    # train it with the demo's own command (skill_info.yaml: tao-demo-digits train -e {config_path})
    command = Path(sys.executable).parent / "tao-demo-digits"
    trained = subprocess.run([str(command), "train", "-e", str(tmp_path / "best_spec.yaml")], capture_output=True,
                             text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert trained.returncode == 0, trained.stderr
    lines = [json.loads(line) for line in (out / "status.json").read_text().splitlines()]
    final = [line["kpi"]["val_accuracy"] for line in lines if "val_accuracy" in (line.get("kpi") or {})][-1]
    assert math.isclose(final, best["metric_value"], rel_tol=1e-9)  # the same training, run again


def test_csv_has_one_row_per_rec_with_params_metric_status_budget_and_times(demo_run: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    done = _cli("export", demo_run["run_dir"], "--csv", str(tmp_path / "recs.csv"))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "recs.csv").open()))
    recs = demo_run["recommendations"]
    assert len(rows) == len(recs) == 3
    for row, rec in zip(rows, recs, strict=True):
        assert int(row["rec_id"]) == rec["rec_id"] and row["status"] == rec["status"]
        assert float(row["val_accuracy"]) == rec["metric_value"]
        assert int(row["budget"]) == int(row["budget_reached"]) == 2
        assert row["started_at"].startswith("20") and float(row["wall_time_s"]) > 0
        for key, value in rec["params"].items():
            assert row[f"param:{key}"] == str(value)
    piped = _cli("export", demo_run["run_dir"], "--csv")
    assert list(csv.DictReader(piped.stdout.splitlines())) == rows
    dashed = _cli("export", demo_run["run_dir"], "--csv", "-", cwd=tmp_path)  # "-" is stdout, not a file named "-"
    assert dashed.stdout == piped.stdout and not (tmp_path / "-").exists()
    refused = _cli("export", demo_run["run_dir"], "--csv", "--json")  # stdout is the JSON's: never CSV there
    assert refused.returncode == 2 and refused.stdout.startswith("{")
    assert json.loads(refused.stdout)["error"]["field"] == "--csv"
    as_json = _cli("export", demo_run["run_dir"], "--csv", str(tmp_path / "again.csv"), "--json")
    assert json.loads(as_json.stdout)["csv"]["rows"] == 3


#: Trains ``num_epochs`` epochs, writing each epoch's metric; lr > 0.5 crashes after the first epoch.
EPOCH_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    t = spec["train"]
    for epoch in range(1, t["num_epochs"] + 1):
        time.sleep(0.15)
        if epoch == 2 and t["optim"]["lr"] > 0.5:
            sys.exit("RuntimeError: diverged")
        loss = abs(t["optim"]["lr"] - 0.01) * 10 + 0.1 * t["layers"] + 1.0 / epoch
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


def test_optuna_journal_holds_every_rec(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    skill = write_skill(tmp_path / "bank", trainer=EPOCH_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    result = runner.run(automl_settings={"algorithm": "asha", "fidelity_mode": "stopping", "metric": "val_loss",
                                         "automl_max_epochs": 9, "automl_reduction_factor": 3, "seed": 4,
                                         "automl_max_recommendations": 8, "automl_max_concurrent": 4,
                                         "automl_fail_fast_after": 0, "poll_interval_s": 0.1},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    recs = result["recommendations"]
    statuses = {r["status"] for r in recs}
    assert {"success", "stopped"} <= statuses, statuses
    journal = tmp_path / "study.log"
    done = _cli("export", result["run_dir"], "--optuna", str(journal), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["optuna"]["trials"] == 8

    study = optuna.load_study(study_name=Path(result["run_dir"]).name,
                              storage=JournalStorage(JournalFileBackend(str(journal))))
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.user_attrs["metric"] == "val_loss" and study.user_attrs["algorithm"] == "asha"
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == len(recs)
    state_of = {"success": "COMPLETE", "stopped": "PRUNED", "failure": "FAIL", "cancelled": "FAIL"}
    for trial, rec in zip(trials, recs, strict=True):
        assert trial.number == rec["rec_id"] - 1 and trial.user_attrs["rec_id"] == rec["rec_id"]
        assert trial.state.name == state_of[rec["status"]]
        assert trial.value == (rec["metric_value"] if rec["status"] in ("success", "stopped") else None)
        assert set(trial.params) == set(rec["params"])
        for key, value in rec["params"].items():
            assert trial.params[key] == value
            assert trial.distributions[key]._contains(trial.distributions[key].to_internal_repr(value))
        assert trial.distributions["train.optim.lr"].log is True
        curve = {int(e): v for e, v in trial.intermediate_values.items()}
        status = Path(rec["results_dir"]) / "status.json"
        written = {json.loads(line)["epoch"]: json.loads(line)["kpi"]["val_loss"]
                   for line in status.read_text().splitlines()} if status.exists() else {}
        assert curve.items() <= written.items(), rec["rec_id"]  # values the job wrote, none invented
        if rec["status"] == "success":
            assert curve == written  # ... and all of them
        assert trial.user_attrs["budget"] == rec["budget"] == 9
        if rec["status"] == "stopped":
            assert trial.user_attrs["budget_reached"] == max(curve) < 9
        assert trial.datetime_start is not None and trial.datetime_complete is not None
    assert study.best_trial.user_attrs["rec_id"] == result["best"]["rec_id"]
    # Optuna's own analysis and plots run on it
    assert set(optuna.importance.get_param_importances(study)) <= set(recs[0]["params"])
    pytest.importorskip("plotly")
    history = optuna.visualization.plot_optimization_history(study)
    assert len(history.data[0].y) == sum(r["status"] == "success" for r in recs)
    curves = optuna.visualization.plot_intermediate_values(study)
    assert len(curves.data) == sum(bool(t.intermediate_values) and t.state.name != "FAIL" for t in trials)
    optuna.visualization.plot_parallel_coordinate(study)

    again = _cli("export", result["run_dir"], "--optuna", str(journal))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_runs_lists_a_workspace_and_logs_prints_a_rec_log(toy_skill: Path, tmp_path: Path) -> None:
    for seed in (1, 2):
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill, log_progress=False).run(
            automl_settings={"metric": "val_loss", "automl_max_recommendations": 2, "seed": seed,
                             "poll_interval_s": 0.2},
            workspace_path=tmp_path / "ws", gpu_count=0)
    listed = _cli("runs", str(tmp_path / "ws"), "--json")
    data = json.loads(listed.stdout)  # one JSON object, like every other command
    assert data["workspace"] == str(tmp_path / "ws")
    runs = data["runs"]
    assert len(runs) == 2 and all(r["completed"] == r["total"] == 2 and r["state"] == "finished" for r in runs)
    assert all(r["algorithm"] == "bayesian" and r["best_metric"] is not None for r in runs)
    text = _cli("runs", str(tmp_path / "ws")).stdout
    assert all(r["id"] in text for r in runs) and "2/2" in text

    run_dir = runs[0]["run_dir"]
    log = _cli("logs", run_dir, "1")
    assert log.returncode == 0, log.stderr
    assert "val_loss: " in log.stdout  # what the trainer printed
    newest = json.loads(_cli("export", str(tmp_path / "ws"), "--best", "-o", str(tmp_path / "b.yaml"),
                             "--json").stdout)
    assert newest["best"]["path"] == str(tmp_path / "b.yaml")
    assert (tmp_path / "b.yaml").read_bytes() == Path(json.loads(
        _cli("status", runs[1]["run_dir"], "--json").stdout)["best"]["spec_path"]).read_bytes()  # the newest run
    missing = _cli("logs", run_dir, "7")
    assert missing.returncode == 2 and "rec 7 is not in run" in missing.stderr
    # status of the workspace shows its newest run, and says so (its text named no run at all)
    shown = _cli("status", str(tmp_path / "ws")).stdout.splitlines()[-1]
    assert shown == (f"run folder: {runs[1]['run_dir']} (the newest of 2 run(s) in {tmp_path / 'ws'}; "
                     f"`tao-automl runs {tmp_path / 'ws'}` lists them)")
    assert _cli("status", runs[0]["run_dir"]).stdout.splitlines()[-1] == f"run folder: {runs[0]['run_dir']}"


@pytest.mark.parametrize("command", ["status", "export", "logs"])
def test_the_help_of_a_command_that_takes_a_workspace_says_so(command: str, demo_run: dict[str, Any]) -> None:
    """status, export and logs given a workspace read its newest run, but their --help named a run folder alone
    (report's said it); resume and stop refuse a workspace, and their help names a run folder."""
    helped = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "500"}).stdout
    (line,) = [x for x in helped.splitlines() if x.strip().startswith("run_dir ")]
    assert "or a workspace: its newest run" in line, line
    workspace = str(Path(demo_run["run_dir"]).parent)
    argv = {"status": ["--json"], "export": ["--csv"], "logs": ["1"]}[command]
    assert _cli(command, workspace, *argv).stdout == _cli(command, demo_run["run_dir"], *argv).stdout
    for refusing in ("resume", "stop"):
        assert "workspace" not in subprocess.run([*CLI, refusing, "--help"], capture_output=True, text=True,
                                                 timeout=60).stdout
        assert _cli(refusing, workspace).returncode == 2


@pytest.mark.parametrize("argv", [["export", "WS", "--best", "-o", "OUT"], ["logs", "WS", "1"]])
def test_export_and_logs_of_a_workspace_say_which_run_they_read(argv: list[str], demo_run: dict[str, Any],
                                                                tmp_path: Path) -> None:
    """`export WORKSPACE --best` wrote the best spec of its newest run only, and `logs WORKSPACE 1` printed that run's
    rec 1, naming no run (an older run may hold a better rec): like status's text, they now say which run it is."""
    workspace = str(Path(demo_run["run_dir"]).parent)
    done = _cli(*[workspace if a == "WS" else str(tmp_path / "b.yaml") if a == "OUT" else a for a in argv])
    assert done.returncode == 0, done.stderr
    assert f"note: {workspace} is a workspace: this is its newest run, {demo_run['run_dir']} (of 1;" in done.stderr
    quiet = _cli(*[demo_run["run_dir"] if a == "WS" else str(tmp_path / "c.yaml") if a == "OUT" else a for a in argv])
    assert quiet.returncode == 0 and "is a workspace" not in quiet.stderr


def test_optuna_export_without_optuna_names_the_extra(demo_run: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from tao_automl.cli.main import main

    monkeypatch.setitem(sys.modules, "optuna", None)  # as if the export extra were not installed
    assert main(["export", demo_run["run_dir"], "--optuna", str(tmp_path / "j.log")]) == 2
    err = capsys.readouterr().err
    assert "install the export extra" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "j.log").exists()


def test_best_on_stdout_with_another_file_is_refused_not_half_done(demo_run: dict[str, Any], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`export --best --csv x.csv` printed the spec and exited 0 without writing x.csv (and `--optuna j.log` alike),
    while `--csv --best` was refused: both orders ask for -o now, and nothing is written."""
    from tao_automl.cli.main import main

    for extra in (["--csv", str(tmp_path / "x.csv")], ["--optuna", str(tmp_path / "j.log")]):
        assert main(["export", demo_run["run_dir"], "--best", *extra]) == 2
        err = capsys.readouterr().err
        assert "-o" in err and extra[0] in err, err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "j.log").exists()
    assert main(["export", demo_run["run_dir"], "--best", "-o", str(tmp_path / "b.yaml"), "--csv",
                 str(tmp_path / "x.csv")]) == 0
    assert (tmp_path / "b.yaml").is_file() and (tmp_path / "x.csv").is_file()


def test_export_needs_a_target_and_a_run(tmp_path: Path) -> None:
    nothing = _cli("export", str(tmp_path))
    assert nothing.returncode == 2 and "--best" in nothing.stderr
    no_run = _cli("export", str(tmp_path), "--best", "-o", str(tmp_path / "b.yaml"))
    assert no_run.returncode == 2 and "no run state at" in no_run.stderr


def test_a_credential_in_the_spec_stays_out_of_state_but_reaches_the_exported_spec(toy_skill: Path,
                                                                                   tmp_path: Path) -> None:
    """The job's spec holds the credential and is user-only; `export --best -o` (no --results-dir) copied it into a
    file with the umask's mode (0644: anyone on the machine could read the credential)."""
    secret = "s3cret-value-for-the-job"
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.2},
        spec_overrides={"train.encryption_key": secret}, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    rec = result["recommendations"][0]
    assert rec["specs"]["train"]["encryption_key"] == "<redacted>"  # shown, but not the value
    for path in run_dir.glob("state.db*"):
        assert secret.encode() not in path.read_bytes()
    assert secret in Path(rec["spec_path"]).read_text()  # the job got it
    exact = tmp_path / "exact.yaml"
    exact.write_text("")  # an existing file, world-readable under the usual umask
    exact.chmod(0o644)
    assert _cli("export", str(run_dir), "--best", "-o", str(exact)).returncode == 0
    assert secret in exact.read_text() and exact.stat().st_mode & 0o777 == 0o600  # user-only, as the job's spec
    done = _cli("export", str(run_dir), "--best", "-o", str(tmp_path / "b.yaml"), "--results-dir",
                str(tmp_path / "again"))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load((tmp_path / "b.yaml").read_text())["train"]["encryption_key"] == secret


def test_an_exported_spec_that_resumes_a_checkpoint_says_so(demo_run: dict[str, Any], tmp_path: Path) -> None:
    """A promoted rec's spec continues its parent's checkpoint, which lives in the sweep's folder: export --best
    says so (best.resumes, and a note) instead of handing out a spec that silently depends on the run folder."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.export.best import _resumes

    skill = load_skill(builtin_skill_dir("demo-digits-mlp"), "train")
    ckpt = "/runs/run_x/recs/rec_0002/results/train/model_epoch_001.npz"
    assert _resumes(skill, {"train": {"resume_training_checkpoint_path": ckpt}}) == {
        "key": "train.resume_training_checkpoint_path", "checkpoint": ckpt}
    assert _resumes(skill, {"train": {"resume_training_checkpoint_path": ""}}) is None
    done = _cli("export", demo_run["run_dir"], "--best", "-o", str(tmp_path / "b.yaml"), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["best"]["resumes"] is None  # random: nothing resumed


def test_optuna_best_trial_of_a_promotion_run_is_the_runs_best(tmp_path: Path) -> None:
    """Lower-rung successes were COMPLETE with their low-budget value, and Optuna ranks on value alone: a rung-0 rec
    that scored 0.99 at 1 epoch was best_trial while the run's best was a 3-epoch rec (the run ranks budget first)."""
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from tao_automl import AutoML

    automl = AutoML(tmp_path / "run", skill_dir=builtin_skill_dir("demo-digits-mlp"),
                    settings={"algorithm": "hyperband", "metric": "val_accuracy", "automl_max_recommendations": 6,
                              "automl_max_epochs": 3, "automl_reduction_factor": 3}, log_progress=False)
    budgets: dict[int, int] = {}
    while not automl.is_complete():
        recs = automl.next_recommendation()
        if not recs:
            break
        for rec in recs:
            budgets[rec.id] = rec.trial["budget"]
            automl.report_result(rec.id, 0.99 if rec.id == 1 else 0.5 + 0.01 * rec.id)
    best = automl.finish()["best"]
    assert budgets[1] < max(budgets.values()) and best["rec_id"] != 1  # the run ranks the highest budget first
    journal = tmp_path / "study.log"
    assert _cli("export", str(tmp_path / "run"), "--optuna", str(journal)).returncode == 0
    study = optuna.load_study(study_name="run", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert study.best_trial.user_attrs["rec_id"] == best["rec_id"]
    lower = [t for t in study.trials if t.user_attrs["rec_id"] == 1]
    assert lower[0].state.name == "PRUNED" and lower[0].value == pytest.approx(0.99)  # kept, not ranked
    # README: such a trial keeps its run status and budget as user attributes
    assert lower[0].user_attrs["status"] == "success" and lower[0].user_attrs["budget"] == budgets[1]


def test_an_interrupted_runs_csv_shows_recs_in_flight_as_last_seen(tmp_path: Path) -> None:
    """`export --csv` of a run whose orchestrator had gone gave its in-flight recs a wall time growing until the
    export (status showed them as last seen, README: "its wall time up to then")."""
    import time

    from conftest import write_skill
    from tao_automl.errors import SweepInterrupted
    from tao_automl.export.run_data import load_run
    from tao_automl.export.table import csv_rows
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    def interrupt(rec: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C once the first job runs: the run is interrupted, the job goes on

    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    runner = AutoMLRunner(sdk, write_skill(tmp_path / "bank", command="sleep 30 # {config_path}"), log_progress=False)
    with pytest.raises(SweepInterrupted) as caught:
        runner.run(automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                                    "automl_max_concurrent": 1}, workspace_path=tmp_path / "ws", gpu_count=0,
                   on_recommendation=interrupt)
    try:
        def wall() -> object:
            _, rows = csv_rows(load_run(Path(str(caught.value.run_dir))))
            return rows[0]["wall_time_s"]

        before = wall()
        time.sleep(1.2)
        assert before is not None and wall() == before
    finally:
        for job_id in list(sdk._jobs):
            sdk.cancel_job(job_id)


def test_the_no_result_hint_of_a_killed_run_says_interrupted_as_status_does(tmp_path: Path) -> None:
    """After kill -9 of the orchestrator `status` shows `interrupted`; `export --best` said "the run is running
    before any rec finished". Held by an orchestrator, the hint still says to wait."""
    from tao_automl.experiment.workspace import RunLock, new_run_dir
    from tao_automl.export.best import no_result_hint

    run_dir = new_run_dir(tmp_path)
    hint = no_result_hint(run_dir, "running", 0)
    assert "the run is interrupted before any rec finished" in hint and "tao-automl resume" in hint
    with RunLock(run_dir):
        assert "no rec has finished yet: wait" in no_result_hint(run_dir, "running", 0)
    assert "the run is stopped before" in no_result_hint(run_dir, "stopped", 0)


def test_export_hint_of_a_killed_copy_names_the_originals_resume(tmp_path: Path) -> None:
    """`export --best` of a copy of a killed run said to `tao-automl resume COPY`, which refuses a copy whose
    original exists; it names the original's resume, as `status` does."""
    from tao_automl.experiment.workspace import new_run_dir
    from tao_automl.export.best import no_result_hint

    original = new_run_dir(tmp_path / "a")
    (original / "state.db").write_bytes(b"")
    copy = new_run_dir(tmp_path / "b")
    hint = no_result_hint(copy, "running", 0, {"run_dir": str(original), "mode": "runner"})
    assert f"tao-automl resume {original}" in hint and str(copy) not in hint, hint
    assert "AutoML(" in no_result_hint(copy, "stopped", 0, {"mode": "ask_tell"})


def test_export_of_a_moved_run_names_a_resumed_checkpoint_where_it_is_now(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A promoted rec's spec resumes its parent's checkpoint under the run folder; after the folder was moved,
    `export --best` wrote the old path, and training with the exported spec failed (checkpoint does not exist)."""
    from types import SimpleNamespace

    from tao_automl.export.best import moved_resume

    run = tmp_path / "moved" / "run_1"
    checkpoint = run / "recs" / "rec_0004" / "results" / "model_epoch_3.npz"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    old = str(tmp_path / "before" / "run_1" / "recs" / "rec_0004" / "results" / "model_epoch_3.npz")
    data: Any = SimpleNamespace(run_dir=run)
    moved = moved_resume(data, {"key": "train.resume", "checkpoint": old})
    assert moved == {"key": "train.resume", "checkpoint": str(checkpoint), "moved_from": old}
    here = {"key": "train.resume", "checkpoint": str(checkpoint)}
    assert moved_resume(data, here) == here  # where the spec says: unchanged
    gone = {"key": "train.resume", "checkpoint": str(tmp_path / "nowhere" / "recs" / "rec_0009" / "x.npz")}
    assert moved_resume(data, gone) == gone  # not in this run either: left as the job read it
    # the run folder given relatively: the spec still names an absolute path (it is read from any folder)
    from tao_automl.export.best import moved_paths

    monkeypatch.chdir(tmp_path)
    relative: Any = SimpleNamespace(run_dir=Path("moved") / "run_1")
    assert moved_resume(relative, {"key": "train.resume", "checkpoint": old})["checkpoint"] == str(checkpoint)
    assert moved_paths(relative.run_dir, {"train": {"resume": old}}) == {"train.resume": (old, str(checkpoint))}


@pytest.mark.parametrize("name", ["best.json", "best.JSON", "best.Toml", "BEST.JSON"])
def test_an_output_file_named_for_another_format_is_refused_naming_the_allowed_extensions(
        demo_run: dict[str, Any], tmp_path: Path, name: str) -> None:
    """`-o best.JSON` for a YAML model wrote YAML into a .JSON file, exit 0 (only a lower-case `.json` was refused,
    and its message did not say which names would do); now any case of another format's extension is refused, exit
    2, naming -o, the value and the allowed extensions, and nothing is written."""
    out = tmp_path / name
    done = _cli("export", str(demo_run["run_dir"]), "--best", "-o", str(out), "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert (error["field"], error["value"], error["allowed"]) == ("-o", str(out), "a .yaml or .yml file")
    message = error["message"]
    assert "the action's spec format is yaml" in message and "allowed: a .yaml or .yml file" in message
    assert not out.exists()
    done = _cli("export", str(demo_run["run_dir"]), "--best", "-o", str(tmp_path / "best.YML"))
    assert done.returncode == 0 and yaml.safe_load((tmp_path / "best.YML").read_text())


def test_export_best_of_an_ask_tell_run_writes_the_models_own_format(tmp_path: Path) -> None:
    """An ask/tell run of a model whose spec format is JSON refused `export --best -o best.json` ("the action's spec
    format is yaml, not json"): the run did not record its model, so the format defaulted to YAML."""
    import yaml

    from conftest import write_skill
    from tao_automl import AutoML

    skill = write_skill(tmp_path / "bank")
    info_path = skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["config_format"] = "json"
    info_path.write_text(yaml.safe_dump(info))
    ml = AutoML(tmp_path / "run", skill_dir=skill, log_progress=False,
                settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2})
    while not ml.is_complete():
        for rec in ml.next_recommendation():
            ml.report_result(rec.id, float(rec.id))
    ml.finish()
    done = _cli("export", str(tmp_path / "run"), "--best", "-o", str(tmp_path / "best.json"), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "best.json").read_text())["train"]["optim"]["lr"] > 0


#: A promoted rec (it resumes a checkpoint) trains one epoch past it and ends by itself with loss 0 (its own early
#: stopping); a rec from scratch trains its whole budget; loss = num_epochs + lr otherwise (fewer epochs: lower).
EARLY_END_TRAINER = textwrap.dedent(
    """
    import json, os, re, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    out, t = spec["results_dir"], spec["train"]
    os.makedirs(out, exist_ok=True)
    start = int(re.findall(r"(\\d+)", os.path.basename(t["resume"]))[-1]) if t["resume"] else 0
    last = start + 1 if start else t["num_epochs"]
    for epoch in range(start + 1, last + 1):
        loss = 0.0 if start else t["num_epochs"] + t["optim"]["lr"]
        with open(os.path.join(out, "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "max_epoch": t["num_epochs"], "kpi": {"val_loss": loss}}) + "\\n")
        open(os.path.join(out, f"ckpt_epoch_{epoch}.pt"), "w").write("weights")
    """
)


def test_optuna_best_trial_is_the_runs_best_when_recs_end_below_their_budget(tmp_path: Path) -> None:
    """The run ranks a multi-fidelity run's recs by the budget they reached, then the metric; the journal compared
    each rec's planned budget instead, and in any run: a promoted rec that ended by itself below its budget
    (budget 3, reached 2, loss 0) stayed COMPLETE and was study.best_trial, and a random run that searched its epoch
    count pruned its best (fewest epochs), as if it were a lower rung."""
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    schema = _schema_with_resume()
    skill = write_skill(tmp_path / "bank", schema=schema, trainer=EARLY_END_TRAINER,
                        roles={"train.resume": "resume_model"})
    runs = {
        "hyperband": AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
            automl_settings={"algorithm": "hyperband", "metric": "val_loss", "automl_max_epochs": 3,
                             "automl_reduction_factor": 3, "automl_max_recommendations": 6, "seed": 1,
                             "automl_max_concurrent": 2, "poll_interval_s": 0.1},
            workspace_path=tmp_path / "hb", gpu_count=0),
        "random": AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
            automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 5, "seed": 2,
                             "automl_max_concurrent": 2, "poll_interval_s": 0.1},
            automl_hyperparameters=["train.optim.lr", "train.num_epochs"],
            custom_param_ranges={"train.num_epochs": {"valid_min": 1, "valid_max": 4}},
            workspace_path=tmp_path / "rand", gpu_count=0),
    }
    early = [r for r in runs["hyperband"]["recommendations"] if r["status"] == "success"
             and r["budget_reached"] < r["budget"]]
    assert early and all(r["metric_value"] == 0.0 for r in early)  # the case: a promoted rec that ended early
    assert len({r["budget"] for r in runs["random"]["recommendations"]}) > 1  # ... and epochs that differ
    for name, result in runs.items():
        journal = tmp_path / f"{name}.log"
        assert _cli("export", result["run_dir"], "--optuna", str(journal)).returncode == 0
        study = optuna.load_study(study_name=Path(result["run_dir"]).name,
                                  storage=JournalStorage(JournalFileBackend(str(journal))))
        assert study.best_trial.user_attrs["rec_id"] == result["best"]["rec_id"], name
        top = max(r["budget_reached"] for r in result["recommendations"] if r["status"] == "success")
        for trial, rec in zip(study.trials, result["recommendations"], strict=True):
            below = name == "hyperband" and rec["budget_reached"] < top  # a lower rung, or ended below it
            assert trial.state.name == ("PRUNED" if below else "COMPLETE"), (name, rec)
            assert trial.value == rec["metric_value"]


def _schema_with_resume() -> dict[str, Any]:
    """conftest's small schema with a ``train.resume`` key (the ``resume_model`` role)."""
    from conftest import small_schema

    schema = small_schema()
    schema["default"]["train"]["resume"] = ""
    schema["properties"]["train"]["properties"]["resume"] = {"type": "string", "default": ""}
    return schema


def test_optuna_keeps_bools_apart_from_equal_numbers_in_a_categorical(tmp_path: Path) -> None:
    """A categorical whose options hold True and 1 (False and 0): Optuna finds a choice by ==, so a rec that ran
    with True was exported as 1 and one with False as 0. Such a param's choices and values are JSON texts now
    (as list-valued params are), each naming the value its job read; other params stay as they are."""
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from conftest import small_schema
    from tao_automl import AutoML

    schema = small_schema()
    act = schema["properties"]["train"]["properties"]["act"]
    act["enum"], act["default"] = [1, True, 0, False, "1", None], 1
    schema["default"]["train"]["act"] = 1
    automl = AutoML(tmp_path / "run", skill_dir=write_skill(tmp_path / "bank", schema=schema), log_progress=False,
                    settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 14,
                              "seed": 1})
    ran: dict[int, Any] = {}
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            ran[rec.id] = rec.specs["train"]["act"]
            automl.report_result(rec.id, float(rec.id))
    automl.finish()
    assert {True, False} <= {v for v in ran.values() if isinstance(v, bool)}  # the case: bools that ran
    journal = tmp_path / "study.log"
    assert _cli("export", str(tmp_path / "run"), "--optuna", str(journal)).returncode == 0
    study = optuna.load_study(study_name="run", storage=JournalStorage(JournalFileBackend(str(journal))))
    for trial in study.trials:
        shown = trial.params["train.act"]
        assert isinstance(shown, str), shown
        value = json.loads(shown)
        assert value == ran[trial.number + 1] and type(value) is type(ran[trial.number + 1]), trial.number + 1
        assert isinstance(trial.params["train.optim.lr"], float) and isinstance(trial.params["train.flag"], bool)
    assert set(study.trials[0].distributions["train.act"].choices) == {"1", "true", "0", "false", '"1"', "null"}


def test_optuna_writes_a_logit_float_as_a_linear_float_over_its_bounds(tmp_path: Path) -> None:
    """README: the Optuna journal writes "a `logit` float as a linear float (Optuna has no logit scale)": the param's
    distribution is a FloatDistribution over the same bounds, not on a log scale, holding each rec's value."""
    optuna = pytest.importorskip("optuna")
    from optuna.distributions import FloatDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from tao_automl import AutoML

    readme_says(r"params with their distributions \(a `logit` float as a linear float: Optuna has no logit scale;")
    schema = small_schema()
    schema["properties"]["train"]["properties"]["optim"]["properties"]["momentum"] = {
        "type": "float", "default": 0.9, "minimum": 0.5, "maximum": 0.999, "scale": "logit"}
    schema["default"]["train"]["optim"]["momentum"] = 0.9
    automl = AutoML(tmp_path / "run", skill_dir=write_skill(tmp_path / "bank", schema=schema), log_progress=False,
                    settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 4, "seed": 2},
                    automl_hyperparameters=["train.optim.momentum", "train.optim.lr"])
    ran: dict[int, float] = {}
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            ran[rec.id] = rec.specs["train"]["optim"]["momentum"]
            automl.report_result(rec.id, float(rec.id))
    automl.finish()
    journal = tmp_path / "study.log"
    assert _cli("export", str(tmp_path / "run"), "--optuna", str(journal)).returncode == 0
    study = optuna.load_study(study_name="run", storage=JournalStorage(JournalFileBackend(str(journal))))
    for trial in study.trials:
        dist = trial.distributions["train.optim.momentum"]
        assert isinstance(dist, FloatDistribution) and not dist.log and (dist.low, dist.high) == (0.5, 0.999)
        assert trial.params["train.optim.momentum"] == ran[trial.number + 1]
        assert trial.distributions["train.optim.lr"].log  # a log-scale float keeps its scale


#: Reads a TOML spec (Python 3.11's tomllib) and writes one epoch.
TOML_TRAINER = textwrap.dedent(
    """
    import json, math, os, sys, tomllib
    spec = tomllib.load(open(sys.argv[sys.argv.index("-e") + 1], "rb"))
    os.makedirs(spec["results_dir"], exist_ok=True)
    loss = (math.log10(spec["train"]["optim"]["lr"]) + 2) ** 2
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


def test_a_toml_models_best_spec_with_results_dir_keeps_what_the_job_read(tmp_path: Path) -> None:
    """`export --best --results-dir` of a model whose spec is TOML wrote the spec as persisted in state.db, with its
    credential redacted (`encryption_key = "<redacted>"`): the YAML/JSON path read the job's file, TOML's did not.
    Now only the results folder differs from the file the job read."""
    tomllib = pytest.importorskip("tomllib")
    skill = write_skill(tmp_path / "bank", trainer=TOML_TRAINER)
    info_path = skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["config_format"] = "toml"
    info_path.write_text(yaml.safe_dump(info))
    secret = "s3cret-value-for-the-job"
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1},
        spec_overrides={"train.encryption_key": secret}, workspace_path=tmp_path / "ws", gpu_count=0)
    ran = Path(result["best"]["spec_path"])
    assert ran.suffix == ".toml" and secret in ran.read_text()
    done = _cli("export", result["run_dir"], "--best", "-o", str(tmp_path / "b.toml"), "--results-dir",
                str(tmp_path / "again"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["best"]["results_dir_keys"] == ["results_dir"]
    exported = tomllib.loads((tmp_path / "b.toml").read_text())
    read = tomllib.loads(ran.read_text())
    assert exported["train"]["encryption_key"] == secret
    assert exported == {**read, "results_dir": str((tmp_path / "again").resolve())}


def test_a_best_whose_spec_file_is_gone_names_the_credentials_it_could_not_write(tmp_path: Path) -> None:
    """The job's spec file deleted: `export --best` rebuilds the spec from state.db, which keeps no credential, and
    wrote `encryption_key: <redacted>` with only `source: "state.db"` to tell (a retrain would run with that text as
    its key). The keys are named (JSON `best.redacted`, a note on stderr); a spec read from the job's file has none."""
    skill = write_skill(tmp_path / "bank")
    secret = "s3cret-value-for-the-job"
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1},
        spec_overrides={"train.encryption_key": secret}, workspace_path=tmp_path / "ws", gpu_count=0)
    kept = _cli("export", result["run_dir"], "--best", "-o", str(tmp_path / "kept.yaml"), "--json")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["best"]["redacted"] == []
    Path(result["best"]["spec_path"]).unlink()
    done = _cli("export", result["run_dir"], "--best", "-o", str(tmp_path / "b.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    best = json.loads(done.stdout)["best"]
    assert best["source"] == "state.db" and best["redacted"] == ["train.encryption_key"]
    assert yaml.safe_load((tmp_path / "b.yaml").read_text())["train"]["encryption_key"] == "<redacted>"
    text = _cli("export", result["run_dir"], "--best", "-o", str(tmp_path / "c.yaml"))
    assert text.returncode == 0 and "set train.encryption_key (written as <redacted>)" in text.stderr


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_moved_runs_best_spec_names_its_non_ascii_paths_where_they_are_now(tmp_path: Path, fmt: str) -> None:
    """After a run folder whose path holds a non-ASCII letter was moved, `export --best` said the spec named its
    results folder where it is now (`best.moved`), but wrote the old path: the file holds it escaped (YAML
    ``\\xE9``, JSON ``\\u00e9``), so replacing the raw path in its bytes changed nothing."""
    from types import SimpleNamespace

    from tao_automl.export.best import best_spec_text, export_best
    from tao_automl.render.job import write_spec

    old_run, run = tmp_path / "runs é" / "run_1", tmp_path / "moved é" / "run_1"
    spec = {"train": {"lr": 1e-05, "act": "no", "note": "日本"}, "results_dir": str(old_run / "recs" / "rec_0001" /
                                                                                    "results")}
    spec_path = run / "recs" / "rec_0001" / f"train_spec.{fmt}"
    write_spec(spec, spec_path, fmt)
    (run / "recs" / "rec_0001" / "results").mkdir()
    rec = SimpleNamespace(rec_id=1, spec_path=str(spec_path), specs=spec, metric_value=0.5, budget_reached=1)
    data: Any = SimpleNamespace(run_dir=run, meta={}, summary={"best": {"rec_id": 1, "spec_path": str(spec_path)}},
                                rec=lambda rec_id: rec, values=None)
    done = export_best(data, tmp_path / f"best.{fmt}", None)
    now = str(run / "recs" / "rec_0001" / "results")
    assert done["moved"] == {"results_dir": {"from": spec["results_dir"], "to": now}}
    text = (tmp_path / f"best.{fmt}").read_text()
    loaded = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert loaded == {**spec, "results_dir": now}  # the path it names, every other value as the job read it
    shown = best_spec_text(data)
    assert shown is not None and shown[0] == text  # `export --best` on stdout prints the same


def test_optuna_to_stdout_or_an_empty_path_is_refused_naming_the_option(demo_run: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    """`--optuna -` wrote a journal into a file named "-" in the working folder (-o - and --csv - mean stdout) and
    said to open it with `optuna-dashboard -`; `--optuna ''` was answered "say what to write", naming no option."""
    dashed = _cli("export", demo_run["run_dir"], "--optuna", "-", cwd=tmp_path)
    assert dashed.returncode == 2 and not (tmp_path / "-").exists()
    assert dashed.stderr.count("\n") == 1 and "--optuna '-'" in dashed.stderr and "stdout" in dashed.stderr
    assert "Traceback" not in dashed.stderr
    empty = _cli("export", demo_run["run_dir"], "--optuna", "", "--json", cwd=tmp_path)
    assert empty.returncode == 2 and json.loads(empty.stdout)["error"]["field"] == "--optuna"
    assert "empty path" in empty.stderr


def test_csv_and_spec_files_are_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """In a locale whose encoding is not UTF-8 (LC_ALL=C without UTF-8 mode: ASCII), `export --csv` of a run whose
    param held a non-ASCII value ended in a UnicodeEncodeError traceback (exit 1, the file half written), and a TOML
    spec (TOML is UTF-8 by definition) could not be written for the job at all: files were opened in the locale's
    encoding."""
    from tao_automl import AutoML

    schema = small_schema()
    schema["properties"]["train"]["properties"]["act"]["enum"] = ["héllo", "日本"]
    schema["properties"]["train"]["properties"]["act"]["default"] = "héllo"
    schema["default"]["train"]["act"] = "héllo"
    skill = write_skill(tmp_path / "bank", schema=schema)
    ml = AutoML(tmp_path / "run", skill_dir=skill, log_progress=False,
                settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 3, "seed": 1})
    while not ml.is_complete():
        for rec in ml.next_recommendation():
            ml.report_result(rec.id, float(rec.id))
    ml.finish()
    ascii_env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    out = tmp_path / "recs.csv"
    done = subprocess.run([*CLI, "export", str(tmp_path / "run"), "--csv", str(out)], capture_output=True, text=True,
                          timeout=120, env=ascii_env)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert len(rows) == 3 and {row["param:train.act"] for row in rows} <= {"héllo", "日本"}
    spec = tmp_path / "spec.toml"
    code = ("import sys; from pathlib import Path; from tao_automl.render.job import write_spec; "
            "write_spec({'act': '\\u65e5\\u672c'}, Path(sys.argv[1]), 'toml')")
    wrote = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, timeout=120,
                           env=ascii_env)
    assert wrote.returncode == 0, wrote.stderr
    assert spec.read_bytes() == 'act = "日本"\n'.encode()


def test_csv_on_stdout_with_optuna_writes_the_journal_too(demo_run: dict[str, Any], tmp_path: Path) -> None:
    """`export RUN --csv --optuna FILE` printed the CSV and returned: the journal was never written, with exit 0 and
    no word about it."""
    pytest.importorskip("optuna")
    journal = tmp_path / "run.journal"
    done = _cli("export", demo_run["run_dir"], "--csv", "--optuna", str(journal))
    assert done.returncode == 0, done.stderr
    assert len(list(csv.DictReader(done.stdout.splitlines()))) == 3  # stdout holds the CSV alone
    assert journal.is_file() and f"wrote Optuna journal {journal}" in done.stderr



def test_the_optuna_dashboard_command_export_names_runs_when_pasted(demo_run: dict[str, Any], tmp_path: Path) -> None:
    """`export --optuna FILE` said "open it with `optuna-dashboard FILE`" with FILE unquoted: a path with a space
    made a command that opened no such file. Quoted, with --csv (the line on stderr) and without."""
    import shlex

    pytest.importorskip("optuna")
    for n, extra in enumerate(((), ("--csv",))):
        journal = tmp_path / f"my runs {n}" / "run.journal"
        journal.parent.mkdir()
        done = _cli("export", demo_run["run_dir"], *extra, "--optuna", str(journal))
        assert done.returncode == 0, done.stderr
        said = done.stderr if extra else done.stdout
        command = said.split("open it with `")[1].split("`")[0]
        assert shlex.split(command) == ["optuna-dashboard", str(journal)], said

def test_an_existing_optuna_file_is_refused_before_the_best_spec_is_written(demo_run: dict[str, Any],
                                                                             tmp_path: Path) -> None:
    """`export --best -o FILE --optuna EXISTING` wrote the spec, then refused the journal (exit 2): half done, with
    an error saying nothing was done."""
    journal = tmp_path / "old.journal"
    journal.write_text("")
    done = _cli("export", demo_run["run_dir"], "--best", "-o", str(tmp_path / "best.yaml"), "--optuna", str(journal),
                "--json")
    assert done.returncode == 2 and json.loads(done.stdout)["error"]["field"] == "--optuna"
    assert json.loads(done.stdout)["error"]["allowed"] == "a path to a new file"
    assert not (tmp_path / "best.yaml").exists() and journal.read_text() == ""


def _two_rec_ask_tell_run(tmp_path: Path) -> Path:
    """A finished two-rec ask/tell run of the toy skill in ``tmp_path / "run"`` (rec N's metric: N)."""
    from tao_automl import AutoML

    ml = AutoML(tmp_path / "run", skill_dir=write_skill(tmp_path / "bank"), log_progress=False,
                settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2, "seed": 1})
    while not ml.is_complete():
        for rec in ml.next_recommendation():
            ml.report_result(rec.id, float(rec.id))
    ml.finish()
    return tmp_path / "run"


def test_an_export_onto_the_runs_own_files_is_refused(tmp_path: Path) -> None:
    """`export --csv RUN/state.db` overwrote the run's store with the CSV (the run could no longer be read), and
    `export --best -o RUN/recs/rec_N/train_spec.yaml --results-dir D` rewrote the spec the job had read."""
    run = _two_rec_ask_tell_run(tmp_path)
    db = run / "state.db"
    before = db.read_bytes()
    for option in ("--csv", "--optuna"):
        done = _cli("export", str(run), option, str(db), "--json")
        assert done.returncode == 2 and json.loads(done.stdout)["error"]["field"] == option, done.stdout
    assert db.read_bytes() == before
    spec = run / "recs" / "rec_0001" / "train_spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text("what: ran\n")
    done = _cli("export", str(run), "--best", "-o", str(spec), "--results-dir", str(tmp_path / "retrain"))
    assert done.returncode == 2 and "-o" in done.stderr and done.stderr.count("\n") == 1
    assert spec.read_text() == "what: ran\n"
    assert _cli("export", str(run), "--csv", str(run / "recs.csv")).returncode == 0  # a new file there is fine


def test_a_report_onto_the_runs_own_files_is_refused(tmp_path: Path) -> None:
    """README: an output file onto the run's own records, its `state.db` or an existing file under its `recs/`
    folder, is a user error (exit 2). `report RUN -o RUN/state.db` wrote the HTML over the run's store: the run could
    no longer be read by status, export or report."""
    pytest.importorskip("plotly")
    outputs, = readme_says(r"\(an output file — (.*?) — in a folder that does not exist is one: no folder is made "
                           r"for it; so is any of them onto the run's own records, its `state\.db` or an existing "
                           r"file under its `recs/` folder\)")
    assert "`report -o`" in outputs
    run = _two_rec_ask_tell_run(tmp_path)
    db = run / "state.db"
    before = db.read_bytes()
    spec = run / "recs" / "rec_0001" / "train_spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text("what: ran\n")
    for target, extra in ((db, []), (db, ["--format", "png"]), (spec, [])):
        done = _cli("report", str(run), "-o", str(target), *extra, "--json")
        assert done.returncode == 2 and json.loads(done.stdout)["error"]["field"] == "-o", done.stdout
    assert db.read_bytes() == before and spec.read_text() == "what: ran\n"
    assert _cli("report", str(run), "-o", str(run / "mine.html")).returncode == 0  # a new file there is fine



def test_export_csv_shows_a_rec_whose_job_ended_as_status_does(tmp_path: Path) -> None:
    """After `stop --cancel-jobs` on a killed run, status showed rec 1 `ended_uncollected` (its job ended, the result
    waits for resume) while `export --csv` still wrote `running` for it: the CSV says what status says."""
    from tao_automl.export.run_data import load_run
    from tao_automl.export.table import csv_rows
    from tao_automl.status import query_status

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_whose_jobs_ended(run_dir)
    _, rows = csv_rows(load_run(run_dir))
    shown = {r["rec_id"]: r["status"] for r in query_status(run_dir, recs="all")["recommendations"]}
    assert [(r["rec_id"], r["status"]) for r in rows] == [(1, "ended_uncollected"), (2, "running")]
    assert {r["rec_id"]: r["status"] for r in rows} == shown
    summary = load_run(run_dir).summary
    assert (summary["progress"]["running"], summary["progress"]["uncollected"]) == (1, 1)
    assert [a["job_ended"] for a in summary["active_jobs"]] == [True, False]


def test_export_csv_times_an_in_flight_rec_of_a_killed_run_as_status_does(tmp_path: Path) -> None:
    """A detached run's start stores an ``ended_at`` (its `starting` state) that stays while the run is `running`;
    after kill -9 of its orchestrator, status ends the run at its last recorded activity, but `export --csv` timed
    the recs still in flight up to that stale ended_at: wall_time_s -5.49 where status said 0.081."""
    import time

    from tao_automl.experiment.store import RunStore
    from tao_automl.export.run_data import load_run
    from tao_automl.export.table import csv_rows
    from tao_automl.status import query_status

    run_dir = tmp_path / "ws" / "run_1"
    run_dir.mkdir(parents=True)
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 2, "state": "running",
                    "mode": "runner", "created_at": time.time() - 100, "ended_at": time.time() - 100})
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    store.mark_submitted(1, "job-1", str(run_dir / "r1"), status="running")  # then the orchestrator was killed
    store.close()
    _, rows = csv_rows(load_run(run_dir))
    shown = query_status(run_dir, recs="all")["recommendations"][0]["wall_time_s"]
    assert shown is not None and shown >= 0
    assert float(rows[0]["wall_time_s"]) == shown


def test_export_best_of_a_run_whose_jobs_ended_uncollected_does_not_say_no_rec_finished(tmp_path: Path) -> None:
    """status showed rec 1 ended_uncollected (its job ended, its result waits for a resume); `export --best` said
    the run was "interrupted before any rec finished"."""
    from tao_automl.errors import SweepFailedError
    from tao_automl.export.best import export_best
    from tao_automl.export.run_data import load_run

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_whose_jobs_ended(run_dir)
    with pytest.raises(SweepFailedError) as caught:
        export_best(load_run(run_dir), tmp_path / "best.yaml")
    hint = str(caught.value.hint)
    assert "before any rec finished" not in hint
    assert "1 rec(s) ended whose result is not collected yet" in hint and "resume" in hint


def test_export_best_of_a_killed_run_does_not_say_yet(tmp_path: Path) -> None:
    """kill -9 of the orchestrator leaves the store saying `running`; status shows the run interrupted, but
    `export --best` said "no successful rec to export yet", as if the run went on (its hint said interrupted)."""
    from tao_automl.errors import SweepFailedError
    from tao_automl.experiment.store import RunStore
    from tao_automl.export.best import export_best
    from tao_automl.export.run_data import load_run
    from tao_automl.status import query_status

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_mid_job(run_dir)
    data = load_run(run_dir)
    assert data.meta["state"] == data.summary["progress"]["state"] == query_status(run_dir)["progress"]["state"] \
        == "interrupted"
    with pytest.raises(SweepFailedError) as caught:
        export_best(data, tmp_path / "best.yaml")
    assert not caught.value.message.endswith("yet") and "interrupted" in str(caught.value.hint)
    assert RunStore(run_dir, readonly=True).meta()["state"] == "running"  # export wrote nothing


def test_export_best_of_a_run_with_failures_and_an_uncollected_rec_says_to_collect_it(tmp_path: Path) -> None:
    """A sweep that stops itself on failures (fail-fast) leaves a job that ended before its cancel, its result
    unread, for resume (status: ended_uncollected). `export --best` (and `report --format png`) said only "see
    status for why its recs failed", though a resume collects a result that may be the best."""
    from tao_automl.errors import SweepFailedError
    from tao_automl.experiment.store import RecStatus, RunStore
    from tao_automl.export.best import export_best
    from tao_automl.export.run_data import load_run

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_whose_jobs_ended(run_dir)
    store = RunStore(run_dir)
    store.finish_rec(2, RecStatus.FAILURE, None, "CUDA out of memory")
    store.close()
    with pytest.raises(SweepFailedError) as caught:
        export_best(load_run(run_dir), tmp_path / "best.yaml")
    hint = str(caught.value.hint)
    assert "1 rec(s) ended whose result is not collected yet (1 other rec(s) failed" in hint, hint
    assert "resume" in hint


def test_optuna_export_of_a_run_whose_job_ended_uncollected_says_why_its_trial_is_running(tmp_path: Path) -> None:
    """status showed rec 1 ended_uncollected (its job ended, its result waits for a resume) while `export --optuna`
    wrote it as a RUNNING trial and said nothing: optuna-dashboard shows it running. RUNNING stays (Optuna's one state
    for a trial whose result was not told: FAIL would claim an outcome, WAITING is run again by study.ask); the
    trial's user attr status says ended_uncollected, and the export names the rec and how to collect it."""
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_whose_jobs_ended(run_dir)
    journal = tmp_path / "run.log"
    done = _cli("export", str(run_dir), "--optuna", str(journal))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "1 trial(s) RUNNING whose job ended with its result not collected yet (rec(s) 1," in said
    assert f"`tao-automl resume {run_dir}`" in said and "export again" in said
    study = optuna.load_study(study_name="run_1", storage=JournalStorage(JournalFileBackend(str(journal))))
    states = [(t.number, t.state.name, t.user_attrs["status"]) for t in study.trials]
    assert states == [(0, "RUNNING", "ended_uncollected"), (1, "RUNNING", "running")]
    as_json = _cli("export", str(run_dir), "--optuna", str(tmp_path / "again.log"), "--json")
    assert json.loads(as_json.stdout)["optuna"]["uncollected"] == [1], as_json.stderr


def test_runs_counts_what_status_counts_failed_cancelled_and_ended_uncollected(tmp_path: Path) -> None:
    """status said "2/5 recs done: 0 succeeded, 1 failed, 0 stopped, 1 cancelled, 1 ended uncollected" where `runs`
    showed "2/5" and best "-" (its JSON: succeeded 0 and failed 1 of 2 completed, the cancelled rec and the one whose
    result waits for a resume nowhere): a reader could not tell what became of the run. Now both carry status's
    counts."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.status import query_status

    run_dir = tmp_path / "ws" / "run_20261205_000000_aaaaaa"
    killed_run_whose_jobs_ended(run_dir, budget=5)
    store = RunStore(run_dir)
    for rec_id, status in ((3, "failure"), (4, "cancelled")):
        store.add_rec(rec_id, {"lr": 0.1 * rec_id}, {}, f"job-{rec_id}")
        store.finish_rec(rec_id, status, None, "ended")
    store.close()
    listed = _cli("runs", str(tmp_path / "ws"), "--json")
    (run,) = json.loads(listed.stdout)["runs"]
    progress = query_status(run_dir)["progress"]
    counts = ("completed", "total", "succeeded", "failed", "stopped", "cancelled", "running", "uncollected")
    assert {k: run[k] for k in counts} == {k: progress[k] for k in counts}
    assert (run["cancelled"], run["uncollected"], run["running"]) == (1, 1, 1)
    text = _cli("runs", str(tmp_path / "ws")).stdout
    assert "2/5 (1 failed, 1 cancelled, 1 ended uncollected, 1 in flight)" in text, text


def test_the_csv_hint_of_a_misplaced_output_quotes_the_file(demo_run: dict[str, Any], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`export RUN --optuna j.log -o "my runs.csv"` is refused with a hint naming `--csv FILE`: the file was pasted
    unquoted, so a name with a space made a command that exports to the wrong file when pasted."""
    import shlex

    from tao_automl.cli.main import main

    out = tmp_path / "my runs.csv"
    assert main(["export", demo_run["run_dir"], "--optuna", str(tmp_path / "j.log"), "-o", str(out), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["field"] == "-o" and f"--csv {shlex.quote(str(out))}`" in error["hint"], error["hint"]


@pytest.mark.parametrize("extra", [[], ["--results-dir", "elsewhere"]])
def test_best_spec_to_a_pipe_or_device_is_written_into_it_not_put_in_its_place(
        demo_run: dict[str, Any], tmp_path: Path, extra: list[str]) -> None:
    """``-o /dev/null`` (or ``/dev/stdout``, a FIFO) renamed a regular file onto the path: as root that replaced
    ``/dev/null`` for the whole machine. A FIFO stands in for the device here."""
    regular = _cli("export", demo_run["run_dir"], "--best", "-o", str(tmp_path / "spec.yaml"),
                   *[str(tmp_path / a) if a == "elsewhere" else a for a in extra])
    assert regular.returncode == 0, regular.stderr
    pipe = FifoReader(tmp_path / "pipe.yaml")
    done = _cli("export", demo_run["run_dir"], "--best", "-o", str(pipe.path),
                *[str(tmp_path / a) if a == "elsewhere" else a for a in extra])
    assert done.returncode == 0, done.stderr
    assert pipe.unchanged(), "the pipe was replaced by a file or made user-only"
    assert pipe.received() == (tmp_path / "spec.yaml").read_bytes()

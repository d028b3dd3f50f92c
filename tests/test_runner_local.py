"""AutoMLRunner end to end with real subprocess jobs on LocalSDK."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import write_skill
from tao_automl.errors import SearchSpaceError, SettingsError, SkillError, UserInputError, WorkspaceError
from tao_automl.experiment.core import Recommendation
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.status import query_status


def _settings(**extra: Any) -> dict[str, Any]:
    return {"metric": "val_loss", "automl_max_recommendations": 6, "automl_max_concurrent": 3, "seed": 2,
            "poll_interval_s": 0.5, **extra}


def test_sweep_runs_every_rec_and_reports_the_best(toy_skill: Path, tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=_settings(), workspace_path=tmp_path / "ws", gpu_count=0)
    progress = result["progress"]
    assert progress["completed"] == progress["total"] == 6
    assert progress["algorithm"] == "bayesian"
    values = [h["metric_value"] for h in result["history"] if h["status"] == "success"]
    assert values and result["best"]["metric_value"] == min(values)
    assert progress["best_rec_id"] == result["best"]["rec_id"]
    assert all(h["job_id"] for h in result["history"])
    spec_file = Path(result["history"][0]["results_dir"]).parent / "train_spec.yaml"
    assert spec_file.is_file()


def test_the_result_and_query_status_are_plain_data(toy_skill: Path, tmp_path: Path) -> None:
    """SPEC 2.1: run() returns a plain dict. Each rec's ``status`` was the store's enum (a str subclass), which
    ``yaml.safe_dump`` refuses ("cannot represent an object"); now it is a plain str, in query_status too."""
    import yaml

    from tao_automl import query_status

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=_settings(automl_max_recommendations=2), workspace_path=tmp_path / "ws",
                        gpu_count=0)
    status = query_status(result["run_dir"], recs="all")
    for shown in (result, status):
        assert yaml.safe_load(yaml.safe_dump(shown))["progress"] == shown["progress"]
    recs = result["history"] + result["recommendations"] + status["recommendations"]
    assert {type(rec["status"]) for rec in recs} == {str} and {rec["status"] for rec in recs} == {"success"}


def test_on_result_gets_the_status_as_a_plain_str(toy_skill: Path, tmp_path: Path) -> None:
    """SPEC 2.1: on_result(rec, metric, status) with status one of success, failure, ...: it got the store's enum
    (a str subclass that yaml.safe_dump refuses), and so did rec.status; both are plain strings now."""
    import yaml

    seen: list[tuple[Any, Any]] = []
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    runner.run(automl_settings=_settings(automl_max_recommendations=2), workspace_path=tmp_path / "ws", gpu_count=0,
               on_result=lambda rec, metric, status: seen.append((status, rec.status)))
    assert len(seen) == 2 and {type(v) for pair in seen for v in pair} == {str}, seen
    assert yaml.safe_load(yaml.safe_dump(seen)) == [["success", "success"]] * 2


def test_concurrent_recs_overlap_and_respect_the_limit(toy_skill: Path, tmp_path: Path) -> None:
    in_flight, peak = 0, 0

    def started(rec: Recommendation) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    def ended(rec: Recommendation, value: float | None, status: str) -> None:
        nonlocal in_flight
        in_flight -= 1

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    t0 = time.monotonic()
    result = runner.run(automl_settings=_settings(algorithm="random", automl_max_recommendations=6,
                                                  automl_max_concurrent=3),
                        spec_overrides={"train.sleep": 1.0}, workspace_path=tmp_path / "ws",
                        on_recommendation=started, on_result=ended, gpu_count=0)
    elapsed = time.monotonic() - t0
    assert result["progress"]["succeeded"] == 6
    assert peak == 3
    assert elapsed < 5.5, f"6 one-second jobs at concurrency 3 took {elapsed:.1f}s (sequential would be 6s+)"


def test_maximise_keeps_user_scale_and_callback_errors_do_not_stop_the_sweep(toy_skill: Path,
                                                                              tmp_path: Path) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("callback bug")

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=_settings(metric="score", automl_max_recommendations=4),
                        workspace_path=tmp_path / "ws", eval_fn=lambda rec, job_id: -rec.params["train.layers"],
                        on_recommendation=boom, on_result=boom, gpu_count=0)
    assert result["progress"]["direction"] == "maximize"
    values = [h["metric_value"] for h in result["history"]]
    assert all(v is not None and v < 0 for v in values)
    assert result["best"]["metric_value"] == max(values)


def test_failed_job_is_a_failure_with_its_error(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer="import sys\nsys.exit('RuntimeError: CUDA out of memory')\n")
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=_settings(automl_max_recommendations=2), workspace_path=tmp_path / "ws",
                        gpu_count=0)
    assert result["progress"]["failed"] == 2 and result["best"] is None
    assert "out of memory" in result["history"][0]["message"]


def test_job_without_metric_is_a_failure_that_says_so(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer="print('trained, but said nothing useful')\n")
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / "ws",
                        gpu_count=0)
    assert result["history"][0]["status"] == "failure"
    assert "no metric 'val_loss'" in result["history"][0]["message"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"automl_settings": {"metrc": "loss"}}, SettingsError, "did you mean 'metric'"),
        ({"automl_settings": {"algorithm": "bayesain"}}, SettingsError, "did you mean 'bayesian'"),
        ({"automl_hyperparameters": ["train.optim.lrr"]}, SearchSpaceError, "train.optim.lr"),
        ({"custom_param_ranges": {"train.layers": {"valid_min": 0, "valid_max": 3}}}, SearchSpaceError,
         "train.layers"),
        ({"custom_param_ranges": {"train.optim.lr": {"valid_min": "small"}}}, SearchSpaceError, "small"),
        ({"spec_overrides": {"train.num_epoch": 3}}, UserInputError, "did you mean 'train.num_epochs'"),
    ],
)
def test_bad_input_fails_before_any_job(toy_skill: Path, tmp_path: Path, kwargs: dict[str, Any],
                                        error: type[Exception], match: str) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    with pytest.raises(error, match=match):
        runner.run(workspace_path=tmp_path / "ws", **{"automl_settings": _settings(), **kwargs})
    assert not (tmp_path / "ws").exists()
    assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").iterdir())


def test_wrong_skill_dir_names_the_path_and_file(tmp_path: Path) -> None:
    with pytest.raises(SkillError, match="does not exist"):
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkillError, match=r"references/skill_info\.yaml") as error:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), tmp_path / "empty")
    assert (error.value.field, error.value.value) == ("skill_dir", str((tmp_path / "empty").resolve()))


def test_missing_schema_says_automl_is_not_runnable(toy_skill: Path, tmp_path: Path) -> None:
    (toy_skill / "schemas" / "train.schema.json").unlink()
    with pytest.raises(SkillError, match="not runnable until its schema is shipped") as error:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    assert (error.value.field, error.value.value) == ("skill_dir", str(toy_skill.resolve()))


def test_existing_run_folder_needs_resume(toy_skill: Path, tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / "ws",
                        gpu_count=0)
    run_dir = result["run_dir"]
    with pytest.raises(WorkspaceError, match="resume"):
        runner.run(automl_settings=_settings(), workspace_path=run_dir)
    again = runner.run(workspace_path=run_dir, resume=True, automl_settings=_settings(automl_max_recommendations=2))
    assert again["progress"]["completed"] == 2  # a resumed run may raise its budget


def test_a_python_resume_of_a_folder_without_a_run_names_workspace_path(toy_skill: Path, tmp_path: Path) -> None:
    """run(workspace_path=<workspace or empty folder>, resume=True) was refused naming field "run_dir", which
    run() has no argument of; it names workspace_path, and a workspace's runs are still the ones allowed."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    run_dir = runner.run(automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / "ws",
                         gpu_count=0)["run_dir"]
    with pytest.raises(WorkspaceError, match="it is a workspace") as workspace:
        runner.run(workspace_path=tmp_path / "ws", resume=True)
    assert workspace.value.field == "workspace_path" and workspace.value.allowed == [run_dir]
    with pytest.raises(WorkspaceError, match=r"^no run state at '.*nothing' \(no such folder\)") as empty:
        runner.run(workspace_path=tmp_path / "nothing", resume=True)
    assert empty.value.field == "workspace_path" and "tao-automl run`" not in str(empty.value.hint)


def test_resume_checks_platform_arguments_and_refuses_a_budget_below_its_recs(toy_skill: Path, tmp_path: Path) -> None:
    """A resume checks what a fresh run checks: a misspelt platform argument is refused with a did-you-mean, and a
    budget below the recs the run already has is refused naming both; the run folder is left as it was."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    run_dir = runner.run(automl_settings=_settings(automl_max_recommendations=2), workspace_path=tmp_path / "ws",
                         gpu_count=0)["run_dir"]
    before = query_status(run_dir)["progress"]
    with pytest.raises(UserInputError, match=r"gpu_cont: .*\(did you mean 'gpu_count'\?\)") as typo:
        runner.run(workspace_path=run_dir, resume=True, gpu_count=0, gpu_cont=1,
                   automl_settings=_settings(automl_max_recommendations=3))
    assert typo.value.exit_code == 2 and typo.value.field == "platform_kwargs.gpu_cont"
    with pytest.raises(SettingsError, match=r"automl_max_recommendations: 1 is below the 2 recs") as low:
        runner.run(workspace_path=run_dir, resume=True, automl_settings=_settings(automl_max_recommendations=1))
    assert low.value.exit_code == 2 and low.value.value == 1
    after = query_status(run_dir)["progress"]
    assert (after["state"], after["total"], after["completed"]) == (before["state"], 2, 2) == ("finished", 2, 2)


def test_resume_refuses_a_skill_whose_schema_changed_on_disk_and_names_what_changed(toy_skill: Path,
                                                                                     tmp_path: Path) -> None:
    """A schema edited after the run started (a narrowed range, another default) is refused by the resume, naming
    each change: the brain would sample the stored space while new jobs got the new defaults, so recs run under
    different specs would be ranked together. The same skill restored resumes."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    run_dir = runner.run(automl_settings=_settings(automl_max_recommendations=2), workspace_path=tmp_path / "ws",
                         gpu_count=0)["run_dir"]
    schema_file = toy_skill / "schemas" / "train.schema.json"
    original = schema_file.read_text()
    schema = json.loads(original)
    schema["properties"]["train"]["properties"]["optim"]["properties"]["lr"]["maximum"] = 0.002
    schema["default"]["train"]["num_epochs"] = 7
    schema_file.write_text(json.dumps(schema))
    with pytest.raises(WorkspaceError, match=r"changed since the run started") as caught:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
            workspace_path=run_dir, resume=True, automl_settings=_settings(automl_max_recommendations=3))
    assert caught.value.field == "skill_dir" and caught.value.exit_code == 2
    assert "search space train.optim.lr" in str(caught.value) and "spec train.num_epochs: 1 -> 7" in str(caught.value)
    assert query_status(run_dir)["progress"]["total"] == 2  # nothing was launched
    schema_file.write_text(original)
    again = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
        workspace_path=run_dir, resume=True, automl_settings=_settings(automl_max_recommendations=3))
    assert again["progress"]["completed"] == 3


def test_resume_settings_that_change_the_space_are_refused_naming_them_not_the_skill(tmp_path: Path) -> None:
    """``override_automl_disabled_params`` given on a Python resume adds a disabled param to the space: refused
    (recs so far were drawn without it), but it was blamed on the skill ("changed since the run started", field
    ``skill_dir``), which had not changed. The refusal now names the setting."""
    from conftest import small_schema

    schema = small_schema()
    schema["automl_disabled_parameters"] = ["train.flag"]
    skill = write_skill(tmp_path / "bank", schema=schema)
    run_dir = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_recommendations=2), workspace_path=tmp_path / "ws",
        gpu_count=0)["run_dir"]
    with pytest.raises(WorkspaceError) as caught:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
            workspace_path=run_dir, resume=True,
            automl_settings=_settings(automl_max_recommendations=3, override_automl_disabled_params=True))
    assert caught.value.field == "automl_settings.override_automl_disabled_params", caught.value.to_json()
    assert "search space train.flag" in str(caught.value) and "skill" not in str(caught.value)
    again = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        workspace_path=run_dir, resume=True, automl_settings=_settings(automl_max_recommendations=3))
    assert again["progress"]["completed"] == 3


def test_resume_skill_check_compares_every_relation_of_the_space(tmp_path: Path) -> None:
    """Relations have no name: keyed by it, they all fell on one key and only the last was compared, so a changed
    first relation of the schema resumed without a word."""
    from types import SimpleNamespace

    from tao_automl.runner.loop import check_same_skill

    params = [{"name": n, "type": "int", "low": 1, "high": 10, "default": 1} for n in ("x", "y", "z")]
    old = [*params, {"type": "relation", "left": "y", "op": ">", "right": "x"},
           {"type": "relation", "left": "z", "op": ">", "right": "y"}]
    new = [*params, {"type": "relation", "left": "y", "op": "<", "right": "x"}, old[4]]
    plan = SimpleNamespace(space=SimpleNamespace(to_json=lambda: new), base_spec={},
                           args=SimpleNamespace(skill_dir=str(tmp_path)))
    with pytest.raises(WorkspaceError, match=r"relation y > x") as caught:
        check_same_skill(tmp_path / "run_x", {"space": old, "base_spec": {}}, plan)
    assert "relation y < x" in str(caught.value) and caught.value.field == "skill_dir"
    same = SimpleNamespace(space=SimpleNamespace(to_json=lambda: old), base_spec={}, args=plan.args)
    check_same_skill(tmp_path / "run_x", {"space": old, "base_spec": {}}, same)  # unchanged: resumes


def test_resume_skill_check_takes_a_run_stored_with_weight_zero_options(tmp_path: Path) -> None:
    """A run started before weight-0 options were dropped from the space stored them (act [relu, tanh, gelu],
    weights [1, 0, 1]); the unchanged schema now builds [relu, gelu]: not a changed skill, so the resume goes on.
    A changed weight is still refused."""
    from types import SimpleNamespace

    from tao_automl.runner.loop import check_same_skill

    stored = [{"name": "act", "type": "categorical", "choices": ["relu", "tanh", "gelu"], "weights": [1.0, 0.0, 1.0],
               "default": "relu"}]
    now = [{"name": "act", "type": "categorical", "choices": ["relu", "gelu"], "weights": [1.0, 1.0],
            "default": "relu"}]
    args = SimpleNamespace(skill_dir=str(tmp_path))
    plan = SimpleNamespace(space=SimpleNamespace(to_json=lambda: now), base_spec={}, args=args)
    check_same_skill(tmp_path / "run_x", {"space": stored, "base_spec": {}}, plan)
    changed = [{**now[0], "weights": [1.0, 2.0]}]
    with pytest.raises(WorkspaceError, match=r"search space act"):
        check_same_skill(tmp_path / "run_x", {"space": stored, "base_spec": {}},
                         SimpleNamespace(space=SimpleNamespace(to_json=lambda: changed), base_spec={}, args=args))


def _moved_run(toy_skill: Path, tmp_path: Path, recs: int) -> tuple[AutoMLRunner, dict[str, Any], Path]:
    """(runner, its result, the folder the run was then moved to) for a finished run of ``recs`` recs."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    first = runner.run(automl_settings=_settings(automl_max_recommendations=recs), workspace_path=tmp_path / "ws",
                       gpu_count=0)
    moved = tmp_path / "elsewhere" / "my_run"
    moved.parent.mkdir()
    shutil.move(first["run_dir"], moved)
    return runner, first, moved


def test_a_moved_run_reports_and_writes_where_it_is_now(toy_skill: Path, tmp_path: Path) -> None:
    """A run folder moved elsewhere and resumed there: the result, `status` and new recs say (and use) the new
    folder, and the store records the move."""
    runner, first, moved = _moved_run(toy_skill, tmp_path, 1)
    again = runner.run(workspace_path=moved, resume=True, automl_settings=_settings(automl_max_recommendations=2))
    assert again["run_dir"] == str(moved) and again["progress"]["completed"] == 2
    assert Path(again["history"][1]["results_dir"]).is_relative_to(moved)  # the new rec ran in the new folder
    assert query_status(moved)["run_dir"] == str(moved)
    # the rec that ran before the move: its results and spec file are read where they are now (re-attached jobs
    # read status.json at the old place and reported "no metric" or the log's rounded value)
    old_rec = again["history"][0]
    assert Path(old_rec["results_dir"]).is_relative_to(moved) and Path(old_rec["spec_path"]).is_file(), old_rec
    store = RunStore(moved, readonly=True)
    try:
        assert store.meta()["moved_from"] == first["run_dir"]
        assert [e["kind"] for e in store.events("run_moved")] == ["run_moved"]
    finally:
        store.close()
    raw = sqlite3.connect(moved / "state.db").execute("SELECT results_dir, spec_path FROM recs").fetchall()
    assert all(str(moved) in path for row in raw for path in row), raw  # stored there, for every later reader


def test_a_moved_run_not_resumed_shows_its_files_where_they_are_now(toy_skill: Path, tmp_path: Path) -> None:
    """A finished run moved (never resumed): `status` gave the best rec's spec_path and results_dir at the old,
    missing place, and `export --best` fell back to state.db instead of the spec file the job read."""
    from tao_automl.export.best import export_best
    from tao_automl.export.run_data import load_run

    _, _, moved = _moved_run(toy_skill, tmp_path, 2)
    best = query_status(moved)["best"]
    assert best is not None and Path(best["spec_path"]).is_file() and str(moved) in best["spec_path"], best
    assert all(Path(r["results_dir"]).is_dir() for r in query_status(moved, recs="all")["recommendations"])
    written = export_best(load_run(moved), tmp_path / "best.yaml")
    assert written["source"] != "state.db", written
    # byte for byte the job's spec, but for its results folder, named where the moved run holds it now
    job_read = Path(best["spec_path"]).read_text()
    assert set(written["moved"]) == {"results_dir"}
    was, now = written["moved"]["results_dir"]["from"], written["moved"]["results_dir"]["to"]
    assert was in job_read and Path(now).is_dir() and (tmp_path / "best.yaml").read_text() == job_read.replace(was, now)


def test_a_killed_run_moved_then_resumed_leaves_its_dead_time_out_of_elapsed(toy_skill: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9, wait, mv, resume: elapsed counted the wait (paused_s stayed as it was) because the move's own
    event was taken for the last activity of the dead orchestrator."""
    import tao_automl.experiment.core as core

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    first = runner.run(automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / "ws",
                       gpu_count=0)
    store = RunStore(first["run_dir"])
    store.set_meta({"state": "running"})  # as an orchestrator killed mid-run leaves it
    paused = float(store.meta().get("paused_s") or 0.0)
    store.close()
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(first["run_dir"], moved)
    real = time.time
    monkeypatch.setattr(core.time, "time", lambda: real() + 100.0)  # the resume comes 100 s after the kill
    exp = core.Experiment.open(moved)
    try:
        assert float(exp.store.meta()["paused_s"]) - paused >= 99.0
    finally:
        exp.close()


def test_job_arguments_changed_on_resume_are_used_and_stored(toy_skill: Path, tmp_path: Path) -> None:
    """`run(resume=True, gpu_count=1)` on a run started with 0: the new rec got a GPU, but the run kept saying
    gpu_count 0 (and a later plain `tao-automl resume` went back to it)."""
    from tao_automl.experiment.store import read_meta

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=["0", "1"]), toy_skill)
    first = runner.run(automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / "ws",
                       gpu_count=0)
    again = runner.run(workspace_path=first["run_dir"], resume=True,
                       automl_settings=_settings(automl_max_recommendations=2), gpu_count=1)
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=["0", "1"])
    assert [len(sdk.get_job_info(h["job_id"]).get("gpu_ids") or []) for h in again["history"]] == [0, 1]
    assert read_meta(first["run_dir"])["run_args"]["platform_kwargs"] == {"gpu_count": 1}



class RegisteredAsSlurm(LocalSDK):
    """A LocalSDK the test registers as platform "slurm": a non-local platform that costs nothing to run."""


def test_the_run_records_the_platform_it_ran_on(toy_skill: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """run_args.platform was "local" for a run on any platform: the HTML report's settings said "platform local"
    while meta.platform named the SDK it ran on."""
    from tao_automl.experiment.store import read_meta
    from tao_automl.platforms import registry
    from tao_automl.report.data import load_run
    from tao_automl.report.html import write_html_report

    monkeypatch.setitem(registry.PLATFORMS, "slurm", (f"{__name__}:RegisteredAsSlurm", None))
    for sdk, name in ((LocalSDK(jobs_dir=tmp_path / "jobs"), "local"),
                      (RegisteredAsSlurm(jobs_dir=tmp_path / "jobs"), "slurm")):
        result = AutoMLRunner(sdk, toy_skill).run(automl_settings=_settings(automl_max_recommendations=1),
                                                  workspace_path=tmp_path / name, gpu_count=0)
        assert read_meta(result["run_dir"])["run_args"]["platform"] == name
        html = write_html_report(load_run(result["run_dir"]), tmp_path / f"{name}.html").read_text()
        assert f"<tr><td>platform</td><td><pre>{name}</pre></td></tr>" in html


class _SlowToAnswer(LocalSDK):
    """A platform whose create_job answers 0.5 s after the job started (a busy API): a quick job has ended by then."""

    def create_job(self, *args: Any, **kwargs: Any) -> Any:
        job = super().create_job(*args, **kwargs)
        time.sleep(0.5)
        return job


def test_a_job_that_ends_before_its_submission_returns_starts_before_it_ends(toy_skill: Path,
                                                                            tmp_path: Path) -> None:
    """An audit's sub-second jobs: status said started_at 819.9146, finished_at 819.9285 (0.014 s) for a job that
    ran 0.088 s, started_at being when create_job had returned. It is when the job was asked for."""
    asked = time.time()
    result = AutoMLRunner(_SlowToAnswer(jobs_dir=tmp_path / "jobs"), toy_skill, log_progress=False).run(
        automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / "ws", gpu_count=0)
    rec = query_status(result["run_dir"], recs="all")["recommendations"][0]
    job = json.loads(next((tmp_path / "jobs").glob("*/job.json")).read_text())
    assert rec["status"] == "success" and job["finished_at"] < job["created_at"] + 0.5  # it ended before the answer
    assert asked <= rec["started_at"] <= job["created_at"] and rec["wall_time_s"] >= job["finished_at"] - job[
        "created_at"]


def _run_and_copy(skill: Path, tmp_path: Path, workspace: str) -> tuple[AutoMLRunner, dict[str, Any], Path]:
    """A finished 1-rec run under ``tmp_path/workspace`` and a copy of its folder (as `cp -a` makes it)."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    first = runner.run(automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / workspace,
                       gpu_count=0)
    copy = tmp_path / "copies" / Path(first["run_dir"]).name
    shutil.copytree(first["run_dir"], copy)
    return runner, first, copy


def test_a_copy_of_a_run_whose_original_still_exists_is_not_resumed(toy_skill: Path, tmp_path: Path) -> None:
    """A run folder copied with `cp -a` and both resumed: the original recorded "started job ...-rec0005" and a
    result from a job only the copy launched (job names come from the run's name, the jobs dir is shared)."""
    runner, first, copy = _run_and_copy(toy_skill, tmp_path, "ws")
    with pytest.raises(WorkspaceError, match="is a copy of the run at") as caught:
        runner.run(workspace_path=copy, resume=True, automl_settings=_settings(automl_max_recommendations=2))
    assert caught.value.field == "run_dir" and caught.value.allowed == [first["run_dir"]]
    again = runner.run(workspace_path=first["run_dir"], resume=True,  # the original resumes as ever
                       automl_settings=_settings(automl_max_recommendations=2))
    assert again["progress"]["completed"] == 2 and query_status(copy)["progress"]["completed"] == 1


def test_a_copy_neither_cancels_the_originals_jobs_nor_points_at_its_own_resume(toy_skill: Path,
                                                                                 tmp_path: Path) -> None:
    """`stop COPY --cancel-jobs` cancelled the original's live jobs (the original then recorded them "cancelled
    outside this sweep") and said "continue with: tao-automl resume COPY", which is refused; `status COPY` said so
    too. The cancel is refused naming the original; the next steps name the original's resume, quoted."""
    from tao_automl.experiment.lines import orchestrator_line
    from tao_automl.runner.detach import stop_run

    _, first, copy = _run_and_copy(toy_skill, tmp_path, "w s")
    with pytest.raises(WorkspaceError, match="it is a copy of the run at") as caught:
        stop_run(copy, cancel_jobs=True)
    assert caught.value.field == "cancel_jobs" and "--cancel-jobs" in (caught.value.hint or "")
    status = query_status(copy)
    # as if interrupted with budget left (finished with budget left, the sweep ended early: no resume offered)
    status["progress"] = {**status["progress"], "total": 3, "state": "interrupted"}
    line = orchestrator_line(status["orchestrator"], status["run_dir"], status["progress"])
    assert f"tao-automl resume '{first['run_dir']}'" in line and str(copy) not in line.split("continue")[1]


def test_demo_network_sweep_with_the_kpi_metric(tmp_path: Path) -> None:
    """The shipped demo network, really trained, through its console script; 'kpi' is its val_accuracy."""
    from tao_automl.bank import builtin_skill_dir

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    result = runner.run(train_dataset_uri="builtin:digits", spec_overrides={"train.num_epochs": 3},
                        automl_settings={"metric": "kpi", "automl_max_recommendations": 3,
                                         "automl_max_concurrent": 2, "poll_interval_s": 1.0},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    progress = result["progress"]
    assert progress["metric"] == "val_accuracy" and progress["direction"] == "maximize"
    assert progress["succeeded"] >= 2, result["history"]
    assert 0.0 < result["best"]["metric_value"] <= 1.0
    spec = result["best"]["specs"]
    assert spec["train"]["optim"]["lr"] == result["best"]["params"]["train.optim.lr"]


def test_kpi_metric_falls_back_to_the_schema_monitor_name(tmp_path: Path) -> None:
    from conftest import small_schema

    schema = small_schema()
    schema["default"]["train"]["monitor_name"] = "val_loss"
    skill = write_skill(tmp_path / "bank", schema=schema)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=_settings(metric="kpi", automl_max_recommendations=2),
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["metric"] == "val_loss" and result["progress"]["direction"] == "minimize"
    assert result["progress"]["succeeded"] == 2


def test_a_metric_only_in_the_skills_metric_file_is_read(tmp_path: Path) -> None:
    """A job that writes its metric only to the results file its skill declares (``actions.train.metric_file``, as
    the TAO bank's tesseract models do) succeeds with that value; it failed "reported no metric" before."""
    import yaml

    from conftest import QUADRATIC_TRAINER

    trainer = (QUADRATIC_TRAINER.replace('"status.json"', '"metrics.json"')
               .replace('json.dumps({"epoch": 1, "max_epoch": 1, "status": "RUNNING", "kpi": {"val_loss": loss}})',
                        'json.dumps({"val_loss": loss})').replace('print(f"val_loss: {loss}")', ""))
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    info_path = skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["metric_file"] = "metrics.json"
    info_path.write_text(yaml.safe_dump(info))
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=_settings(automl_max_recommendations=2), workspace_path=tmp_path / "ws",
                        gpu_count=0)
    assert result["progress"]["succeeded"] == 2, result["history"]
    for rec in result["history"]:
        written = json.loads((Path(rec["results_dir"]) / "metrics.json").read_text())
        assert rec["metric"] == written["val_loss"]
    info["actions"]["train"]["metric_file"] = "../metrics.json"  # outside the results folder: refused, named
    info_path.write_text(yaml.safe_dump(info))
    with pytest.raises(SkillError, match=r"actions\.train\.metric_file: '\.\./metrics\.json' is not allowed"):
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)


def test_a_kpi_log_line_is_the_metric_of_a_kpi_run(tmp_path: Path) -> None:
    """``metric: kpi`` with a job that logs only ``kpi: value`` (a log-line form SPEC 5 names): each rec succeeds with
    that value; every rec failed "reported no metric 'val_loss'" before."""
    from conftest import QUADRATIC_TRAINER, small_schema

    schema = small_schema()
    schema["default"]["train"]["monitor_name"] = "val_loss"
    trainer = (QUADRATIC_TRAINER.replace('"kpi": {"val_loss": loss}', '"kpi": {}')
               .replace('print(f"val_loss: {loss}")', 'print(f"kpi: {loss}")'))
    skill = write_skill(tmp_path / "bank", schema=schema, trainer=trainer)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings=_settings(metric="kpi", automl_max_recommendations=2),
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["metric"] == "val_loss" and result["progress"]["succeeded"] == 2, result["history"]


def test_dataset_keys_are_set_verbatim_without_a_shared_parent(toy_skill: Path, tmp_path: Path) -> None:
    import yaml

    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "images").mkdir(parents=True)
    (tmp_path / "a" / "ann.json").write_text("{}")  # the API's preflight checks that local datasets exist
    keys = {"dataset.train.annotation_path": str(tmp_path / "a" / "ann.json"),
            "dataset.train.image_dir": str(tmp_path / "b" / "images")}
    info_path = toy_skill / "references" / "skill_info.yaml"  # dataset_keys name declared inputs (or spec keys)
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["inputs"] = {key: {"type": "file"} for key in keys}
    info_path.write_text(yaml.safe_dump(info))
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(train_dataset_uri=keys, automl_settings=_settings(automl_max_recommendations=1),
                        workspace_path=tmp_path / "ws", gpu_count=0)
    spec_path = Path(result["history"][0]["results_dir"]).parent / "train_spec.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    assert spec["dataset"]["train"] == {"annotation_path": keys["dataset.train.annotation_path"],
                                        "image_dir": keys["dataset.train.image_dir"]}


def test_the_brain_prepares_its_next_proposal_while_a_job_runs(toy_skill: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Between a launch and the next result the runner calls the brain's ``prepare`` (bayesian fits its GP
    hyperparameters there), so that work is not paid between a job's end and the next launch."""
    from tao_automl.brain.classic.bayesian import BayesianBrain

    in_flight, calls, probes, switch, upcoming = 0, [], [], [], []
    real_prepare = BayesianBrain.prepare

    def prepare(brain: BayesianBrain, interrupt: Any = None, ahead: Any = None) -> None:
        calls.append((len(brain._x), in_flight))
        probes.append(interrupt)
        switch.append(sys.getswitchinterval())
        upcoming.append(ahead)
        real_prepare(brain, interrupt, ahead)

    def started(rec: Recommendation) -> None:
        nonlocal in_flight
        in_flight += 1

    def ended(rec: Recommendation, value: float | None, status: str) -> None:
        nonlocal in_flight
        in_flight -= 1

    monkeypatch.setattr(BayesianBrain, "prepare", prepare)
    before = sys.getswitchinterval()
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=_settings(automl_max_recommendations=5, automl_max_concurrent=1,
                                                  poll_interval_s=0.05),
                        workspace_path=tmp_path / "ws", on_recommendation=started, on_result=ended, gpu_count=0)
    assert result["progress"]["succeeded"] == 5
    assert calls and all(running == 1 for _, running in calls)
    assert {results for results, _ in calls} == {0, 1, 2, 3, 4}  # once per rec, with the results before it
    # LocalSDK counts ended jobs: the probe turns True once a job has ended since the runner last looked
    assert all(callable(p) for p in probes) and all(p() for p in probes)
    # while it prepares, LocalSDK's watcher thread gets the interpreter lock within 0.5 ms to record a job's end
    # (Python's default 5 ms delayed it by as much); the interval is restored afterwards
    assert switch and all(s <= 0.0005 for s in switch) and sys.getswitchinterval() == before > 0.0005
    # it is told what the next proposal will be given: the config in flight and its generator's seed
    recs = {h["rec_id"]: h["params"] for h in result["history"]}
    for (results, _), ahead in zip(calls, upcoming, strict=True):
        assert ahead.pending == (recs[results + 1],) and ahead.seed == (_settings()["seed"], results + 1)


def test_a_rec_that_fails_before_its_launch_keeps_its_planned_budget(tmp_path: Path) -> None:
    """A pbt promotion whose parent left no checkpoint fails before any job starts: it still shows the budget the
    brain gave it (its trial's), as every view ranks and reports by budget (it was None)."""
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.testing import InstantSDK

    result = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_accuracy"), builtin_skill_dir("demo-digits-mlp"),
                          log_progress=False).run(
        workspace_path=tmp_path / "ws", gpu_count=0, automl_hyperparameters=["train.optim.lr"],
        automl_settings={"algorithm": "pbt", "metric": "val_accuracy", "automl_population_size": 2,
                         "automl_max_epochs": 3, "automl_max_recommendations": 6, "automl_fail_fast_after": 0})
    unprepared = [r for r in result["recommendations"] if r["parent"] is not None and r["status"] == "failure"]
    assert unprepared and all("checkpoint" in r["message"] for r in unprepared), result["recommendations"]
    budgets = {r["rec_id"]: r["budget"] for r in result["recommendations"]}
    assert None not in budgets.values(), budgets
    assert all(budgets[r["rec_id"]] > budgets[r["parent"]] for r in unprepared), budgets  # a promotion's is more


def test_ctrl_c_in_a_python_sweep_names_the_run_folder_that_resumes_it(toy_skill: Path, tmp_path: Path) -> None:
    """A bare KeyboardInterrupt left the caller without the (generated) run folder to resume: the runner raises
    SweepInterrupted, still a KeyboardInterrupt, naming it; resuming that folder completes the sweep."""
    from tao_automl.errors import SweepInterrupted
    from tao_automl.testing.instant import InstantSDK

    def interrupt(rec: Any, value: Any, status: str) -> None:
        raise KeyboardInterrupt

    runner = AutoMLRunner(InstantSDK(), toy_skill)
    with pytest.raises(SweepInterrupted) as caught:
        runner.run(automl_settings=_settings(automl_max_recommendations=3), workspace_path=tmp_path / "ws",
                   gpu_count=0, on_result=interrupt)
    run_dir = caught.value.run_dir
    assert isinstance(caught.value, KeyboardInterrupt) and run_dir is not None
    assert Path(run_dir).parent == tmp_path / "ws"
    assert f"workspace_path={str(run_dir)!r}, resume=True" in str(caught.value)
    done = AutoMLRunner(InstantSDK(), toy_skill).run(automl_settings=_settings(automl_max_recommendations=3),
                                                      workspace_path=run_dir, resume=True)
    assert done["progress"]["completed"] == 3


def test_a_resume_on_another_platform_is_refused_while_recs_are_in_flight_and_recorded_after(
        toy_skill: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local run interrupted with a job running, resumed from Python with another platform's SDK: the job, still
    running on this machine, was polled on the new platform ("unknown job id") and recorded failed, its result
    lost, and the run folder kept naming the local platform for the recs the new one ran. Refused while a rec is
    open (naming both platforms); once every rec has ended the next recs run on the new one, which the run folder
    records (so `tao-automl resume`, `stop` and `logs` rebuild it)."""
    from tao_automl.errors import SweepInterrupted
    from tao_automl.experiment.store import read_meta
    from tao_automl.platforms import registry

    monkeypatch.setitem(registry.PLATFORMS, "slurm", (f"{__name__}:RegisteredAsSlurm", None))
    monkeypatch.setenv("TRAINER_SLEEP", "1")

    def interrupt(rec: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as caught:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
            automl_settings=_settings(automl_max_recommendations=2, automl_max_concurrent=1),
            workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=interrupt)
    run_dir = caught.value.run_dir
    with pytest.raises(WorkspaceError, match=r"it ran on 'local' and 1 of its recs have not ended") as refused:
        AutoMLRunner(RegisteredAsSlurm(jobs_dir=tmp_path / "other"), toy_skill).run(workspace_path=run_dir,
                                                                                   resume=True)
    assert (refused.value.field, refused.value.value, refused.value.allowed) == ("sdk", "slurm", ["local"])
    assert read_meta(run_dir)["platform"]["class"].endswith(":LocalSDK")
    done = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(workspace_path=run_dir, resume=True)
    assert [h["status"] for h in done["history"]] == ["success", "success"]  # the job in flight kept its result
    more = AutoMLRunner(RegisteredAsSlurm(jobs_dir=tmp_path / "other"), toy_skill).run(
        workspace_path=run_dir, resume=True, automl_settings=_settings(automl_max_recommendations=3))
    assert more["progress"]["completed"] == 3
    meta = read_meta(run_dir)  # where its last rec ran
    assert meta["platform"]["class"].endswith(":RegisteredAsSlurm") and meta["run_args"]["platform"] == "slurm"


def test_a_resume_with_a_local_sdk_given_no_jobs_dir_finds_the_jobs_in_the_runs_chosen_one(
        toy_skill: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run started with LocalSDK(jobs_dir=X), interrupted with a job running, resumed with LocalSDK() (README's
    form): the resumed SDK looked for the job in the cache dir ("no job.json for it"), and the rec, whose job
    succeeded, was recorded failed. A resume given no jobs_dir looks where the run's jobs are."""
    from tao_automl.errors import SweepInterrupted

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TRAINER_SLEEP", "1")

    def interrupt(rec: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as caught:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "myjobs"), toy_skill).run(
            automl_settings=_settings(automl_max_recommendations=2, automl_max_concurrent=1),
            workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=interrupt)
    done = AutoMLRunner(LocalSDK(), toy_skill).run(workspace_path=caught.value.run_dir, resume=True)
    assert [h["status"] for h in done["history"]] == ["success", "success"], done["history"]
    assert len(list((tmp_path / "myjobs").iterdir())) == 2  # the next rec's job went there too


def test_an_eval_fn_that_returns_no_number_leaves_the_extracted_value(tmp_path: Path) -> None:
    """eval_fn -> float | None: a True became metric 1.0 (ranked best) and a "0.99" text 0.99; both are refused
    with a warning, as an exception in eval_fn is, and the value the job wrote is kept."""
    from tao_automl.testing.instant import InstantSDK

    given = {1: True, 2: "0.99", 3: np.float32(0.25)}
    result = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings=_settings(automl_max_recommendations=3, automl_max_concurrent=1),
        workspace_path=tmp_path / "ws", gpu_count=0, eval_fn=lambda rec, job_id: given[rec.id])
    sources = {h["rec_id"]: h["metric_value"] for h in result["history"]}
    assert sources[3] == 0.25
    assert sources[1] not in (1.0, None) and sources[2] not in (0.99, None)  # the job's own value


def test_an_object_that_is_not_a_platform_sdk_is_refused_naming_sdk(tmp_path: Path) -> None:
    """A custom SDK with create_job alone ran, and its rec failed "without a message"; None was called an unknown
    platform 'NoneType' under field platform."""

    class CreateOnly:
        def create_job(self, image: str | None, command: str, gpu_count: int = 1, **kwargs: object) -> None:
            return None

    skill = write_skill(tmp_path / "bank")
    for sdk in (None, CreateOnly()):
        with pytest.raises(UserInputError, match="is not a platform SDK") as caught:
            AutoMLRunner(sdk, skill)
        assert caught.value.field == "sdk" and "get_job_status" in str(caught.value.allowed)


def test_a_create_job_that_returns_no_job_fails_its_rec_saying_so(tmp_path: Path) -> None:
    from tao_automl.testing.instant import InstantSDK

    class NoJob(InstantSDK):
        def create_job(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            return None

    result = AutoMLRunner(NoJob(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings=_settings(automl_max_recommendations=1), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["history"][0]["message"] == ("job submission failed: create_job returned None, not a job with "
                                               "an .id")


def test_a_held_up_loop_records_when_the_job_ended_not_when_it_looked(toy_skill: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With an LLM brain blocking the loop for minutes, a 3.5 s job was recorded at 151.8 s (finished_at when the
    loop got round to it). A loop held up past a couple of polls asks the platform when the job ended."""
    from tao_automl.brain.classic.random_search import RandomBrain

    original = RandomBrain.suggest
    calls = {"n": 0}

    def slow_suggest(self: RandomBrain, n: int, pending: Any, rng: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the next proposal after the first batch: the jobs in flight end meanwhile
            time.sleep(4.0)
        return original(self, n, pending, rng)

    monkeypatch.setattr(RandomBrain, "suggest", slow_suggest)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill, log_progress=False).run(
        automl_settings=_settings(algorithm="random", automl_max_recommendations=4, automl_max_concurrent=2,
                                  poll_interval_s=0.2),
        workspace_path=tmp_path / "ws", gpu_count=0)
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    for rec in result["history"]:
        platform_end = sdk.get_job_info(rec["job_id"])["finished_at"]
        assert abs(rec["finished_at"] - platform_end) < 1.5, (rec["rec_id"], rec["finished_at"] - platform_end)


def test_a_sweep_whose_run_folder_is_deleted_stops_instead_of_launching_on(tmp_path: Path) -> None:
    """`rm -rf RUN` under a detached run: the orchestrator went on launching jobs into a deleted state.db, and
    status/stop could not find it. It stops at its next look, saying why."""
    skill = write_skill(tmp_path / "bank", command=f"sleep 1; {sys.executable} -c 'print(\"val_loss: 0.5\")' "
                                                   "{config_path}")
    launched: list[int] = []

    def delete_on_second(rec: Recommendation) -> None:
        launched.append(rec.id)
        if rec.id == 2:
            shutil.rmtree(runner.run_dir)  # type: ignore[arg-type]

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    with pytest.raises(WorkspaceError, match="was removed or moved while the sweep ran"):
        runner.run(automl_settings=_settings(algorithm="random", automl_max_recommendations=6,
                                             automl_max_concurrent=1, poll_interval_s=0.2),
                   workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=delete_on_second)
    assert launched == [1, 2]


def test_a_runs_local_job_folders_stay_in_its_run_folder(toy_skill: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """With `LocalSDK()` (the README's Python example; the CLI's `platform: local` too) every job's folder and log
    went to ~/.cache/tao-automl/local-jobs and stayed there after the run: 97 folders after one session of sweeps,
    none removed with its run, and a run folder carried to another machine had no job logs. They go under the run
    folder now; `logs` reads them, also after the run folder moved."""
    from tao_automl.cli.main import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sdk = LocalSDK()
    result = AutoMLRunner(sdk, toy_skill).run(automl_settings=_settings(automl_max_recommendations=2),
                                              workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    assert not (tmp_path / "cache" / "tao-automl" / "local-jobs").exists()
    job_ids = sorted(h["job_id"] for h in result["history"])
    assert sorted(p.name for p in (run_dir / "jobs").iterdir()) == job_ids
    assert all((run_dir / "jobs" / j / "output.log").is_file() for j in job_ids)
    assert RunStore(run_dir).meta()["platform"]["options"]["jobs_dir"] == str(run_dir / "jobs")
    capsys.readouterr()
    assert main(["logs", str(run_dir), "1"]) == 0
    printed = capsys.readouterr().out
    log = (run_dir / "jobs" / job_ids[0] / "output.log").read_text()
    assert "val_loss" in printed and printed.strip() == log.strip()

    moved = tmp_path / "elsewhere" / run_dir.name
    moved.parent.mkdir()
    shutil.move(str(run_dir), moved)
    assert main(["logs", str(moved), "2"]) == 0
    assert "val_loss" in capsys.readouterr().out


def test_a_reopened_run_finds_its_local_jobs_where_it_recorded_them(tmp_path: Path) -> None:
    """The rule a resume follows: a run that kept its jobs in its folder is rebased on the folder it is in now (an
    SDK rebuilt from the record, or a fresh LocalSDK()); a run made before (jobs in the cache dir) or a jobs_dir the
    caller chose is left where it is."""
    from tao_automl.runner.loop import _jobs_in_run_folder

    old, new = tmp_path / "old" / "run_1", tmp_path / "new" / "run_1"
    meta = {"run_dir": str(old), "platform": {"options": {"jobs_dir": str(old / "jobs")}}}
    for sdk in (LocalSDK(), LocalSDK(jobs_dir=old / "jobs")):
        _jobs_in_run_folder(sdk, new, meta)
        assert sdk.jobs_dir == new / "jobs" and sdk.init_options["jobs_dir"] == str(new / "jobs")
    chosen = LocalSDK(jobs_dir=tmp_path / "mine")
    _jobs_in_run_folder(chosen, new, meta)
    assert chosen.jobs_dir == tmp_path / "mine"
    cache = {"run_dir": str(old), "platform": {"options": {"jobs_dir": str(tmp_path / "cache")}}}
    before = LocalSDK()
    _jobs_in_run_folder(before, new, cache)
    assert before.jobs_dir == LocalSDK().jobs_dir


def test_a_local_job_that_starts_at_once_is_counted_running_not_queued(toy_skill: Path, tmp_path: Path) -> None:
    """Every local sweep's progress line said "1 in flight (1 queued)" after each launch: a rec stayed pending until a
    poll saw its job run. A job the platform already runs when it is submitted is counted running at once."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill, log_progress=False)
    seen: list[tuple[int, int]] = []
    runner.on_progress = lambda progress: seen.append((progress["running"], progress.get("queued") or 0))
    result = runner.run(automl_settings=_settings(automl_max_recommendations=4, automl_max_concurrent=2),
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 4
    assert any(running for running, _ in seen) and not any(queued for _, queued in seen), seen


def test_a_resume_while_this_process_runs_the_folder_points_at_the_runner_not_at_automl(toy_skill: Path,
                                                                                       tmp_path: Path) -> None:
    """run(resume=True) of a folder whose run() was still going in another thread of the process was refused with
    the hint "call finish() on the AutoML that holds it, then reopen it with AutoML(workspace, resume=True)": no
    AutoML held it, and AutoML(resume=True) refuses a runner's folder. The hint now speaks of the run()."""
    import threading

    from tao_automl.errors import SweepInterrupted, WorkspaceLockedError

    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 1,
                "poll_interval_s": 0.2}

    def interrupt(rec: Recommendation) -> None:
        raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as caught:
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill, log_progress=False).run(
            automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=interrupt)
    run_dir = caught.value.run_dir
    holding, release = threading.Event(), threading.Event()

    def hold(rec: Recommendation) -> None:
        holding.set()
        release.wait(60)

    first = threading.Thread(target=lambda: AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill,
                                                         log_progress=False).run(
        workspace_path=run_dir, resume=True, on_recommendation=hold))
    first.start()
    try:
        assert holding.wait(60)
        with pytest.raises(WorkspaceLockedError, match="already open in this process") as held:
            AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill, log_progress=False).run(
                workspace_path=run_dir, resume=True)
    finally:
        release.set()
        first.join(60)
    assert "run(workspace_path=..., resume=True)" in str(held.value.hint)
    assert "AutoML(workspace" not in str(held.value.hint)

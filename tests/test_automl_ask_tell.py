"""The AutoML ask/tell class: proposals inside the space, persistence, resume, failures never best."""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import REPO, small_schema
from tao_automl import AutoML, query_status
from tao_automl.errors import SearchSpaceError, SettingsError, UserInputError, WorkspaceError
from tao_automl.experiment.store import RunStore


def objective(params: dict[str, object]) -> float:
    lr = float(params["train.optim.lr"])  # type: ignore[arg-type]
    return (math.log10(lr) + 2) ** 2 + 0.1 * abs(int(params["train.layers"]) - 3)  # type: ignore[call-overload]


@pytest.mark.parametrize("algorithm", ["bayesian", "random"])
def test_ask_tell_loop_persists_and_finds_the_best(tmp_path: Path, algorithm: str) -> None:
    settings = {"algorithm": algorithm, "metric": "val_loss", "automl_max_recommendations": 8,
                "automl_max_concurrent": 3, "seed": 1}
    automl = AutoML(workspace=tmp_path / "run", network="toy", settings=settings, search_schema=small_schema())
    seen: dict[int, float] = {}
    while not automl.is_complete():
        recs = automl.next_recommendation()
        assert 1 <= len(recs) <= 3
        for rec in recs:
            assert rec.specs["train"]["optim"]["lr"] == rec.params["train.optim.lr"]
            assert 1e-4 <= rec.params["train.optim.lr"] <= 1.0
            value = objective(rec.params)
            seen[rec.id] = value
            automl.report_result(rec.id, value)
    best = automl.get_best()
    assert best is not None and best.metric_value == min(seen.values())
    summary = automl.finish()
    assert summary["progress"]["completed"] == 8 and summary["progress"]["succeeded"] == 8
    assert summary["progress"]["state"] == "finished" and summary["progress"]["eta_s"] == 0.0  # the ended run
    status = query_status(tmp_path / "run")
    assert status["best"]["rec_id"] == best.id
    assert status["progress"]["state"] == "finished"


def _random_run(workspace: Path, recs: int, concurrent: int) -> AutoML:
    """An ask/tell run of ``random`` on the small schema, minimising val_loss."""
    return AutoML(workspace=workspace, settings={"metric": "val_loss", "automl_max_recommendations": recs,
                                                 "automl_max_concurrent": concurrent, "algorithm": "random"},
                  search_schema=small_schema())


def test_results_reported_from_worker_threads_are_all_recorded(tmp_path: Path) -> None:
    """Training the recs of a batch in a thread pool, each worker reporting its own result: the calls shared one
    SQLite connection unguarded, so one thread's write rolled back another's open transaction ("rolling back a
    store transaction left open by an interrupt") and report_result raised sqlite3.OperationalError. Calls from
    several threads are now taken one at a time: every result is recorded, each under its own rec."""
    from concurrent.futures import ThreadPoolExecutor

    automl = AutoML(workspace=tmp_path / "run", settings={
        "metric": "val_loss", "automl_max_recommendations": 48, "automl_max_concurrent": 8, "algorithm": "random"},
        search_schema=small_schema(), log_progress=False)
    reported: dict[int, float] = {}

    def train(rec_id: int, params: dict[str, Any]) -> None:
        reported[rec_id] = objective(params)
        automl.report_result(rec_id, reported[rec_id])
        automl.get_status()  # a read between other threads' writes

    with ThreadPoolExecutor(8) as pool:
        while not automl.is_complete():
            recs = automl.next_recommendation()
            assert recs
            list(pool.map(train, [r.id for r in recs], [r.params for r in recs]))
    summary = automl.finish()
    assert summary["progress"]["succeeded"] == 48
    assert {h["rec_id"]: h["metric"] for h in summary["history"]} == reported


def test_failures_and_nan_are_never_best(tmp_path: Path) -> None:
    automl = _random_run(tmp_path / "run", 4, 4)
    recs = automl.next_recommendation()
    automl.report_result(recs[0].id, float("nan"))
    automl.report_result(recs[1].id, None)
    automl.report_result(recs[2].id, -1e9, status="failure", message="crashed")
    automl.report_result(recs[3].id, 5.0)
    best = automl.get_best()
    assert best is not None and best.id == recs[3].id
    status = automl.get_status()
    assert status["progress"]["failed"] == 3
    assert [h["status"] for h in status["history"]] == ["failure", "failure", "failure", "success"]
    automl.finish()


def test_a_number_reported_with_a_failure_is_not_recorded_as_its_metric(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """report_result(id, 0.1, status="failure") stored 0.1: `status` showed it on the failure row and
    `export --csv` wrote it as that rec's val_loss. A failure has no metric (as the runner records a failed job):
    the number is not kept, the failure and its message are."""
    from tao_automl.cli.main import main

    automl = _random_run(tmp_path / "run", 2, 2)
    recs = automl.next_recommendation()
    automl.report_result(recs[0].id, 0.1, status="failure", message="diverged")
    automl.report_result(recs[1].id, 0.5)
    history = automl.finish()["history"]
    assert [(h["status"], h["metric_value"], h["message"]) for h in history] == [("failure", None, "diverged"),
                                                                                 ("success", 0.5, None)]
    assert automl.get_best().id == recs[1].id
    assert main(["status", str(tmp_path / "run")]) == 0
    failed_row = next(line for line in capsys.readouterr().out.splitlines() if " failure " in line)
    assert "0.1" not in failed_row
    assert main(["export", str(tmp_path / "run"), "--csv", str(tmp_path / "recs.csv")]) == 0
    rows = {r["rec_id"]: r for r in csv.DictReader((tmp_path / "recs.csv").open())}
    assert rows[str(recs[0].id)]["val_loss"] == "" and float(rows[str(recs[1].id)]["val_loss"]) == 0.5


def test_an_infinite_metric_records_a_failure_in_either_direction(tmp_path: Path) -> None:
    """README: `report_result` with "`None`/NaN/inf or `status="failure"` records a failure": +inf and -inf are
    failures with the reason, never a best (minimising, -inf would otherwise beat every real value)."""
    automl = _random_run(tmp_path / "run", 3, 3)
    recs = automl.next_recommendation()
    automl.report_result(recs[0].id, float("-inf"))
    automl.report_result(recs[1].id, float("inf"))
    automl.report_result(recs[2].id, 5.0)
    history = automl.finish()["history"]
    assert [(h["status"], h["metric_value"]) for h in history] == [("failure", None), ("failure", None),
                                                                   ("success", 5.0)]
    assert "not a finite number (-inf)" in history[0]["message"] and automl.get_best().id == recs[2].id


def test_a_run_whose_every_rec_failed_finishes_failed_with_its_reason(tmp_path: Path) -> None:
    """As a runner's sweep: complete, none succeeded -> `failed` with a stop reason, not `finished` without a best."""
    automl = _random_run(tmp_path / "run", 3, 3)
    recs = automl.next_recommendation()
    automl.report_result(recs[0].id, float("nan"))
    automl.report_result(recs[1].id, None, status="failure", message="out of memory")
    automl.report_result(recs[2].id, 1.0, status="failure", message="diverged")
    final = automl.finish()
    assert final["progress"]["state"] == "failed" and final["best"] is None
    reason = final["stop_reason"]
    assert reason.startswith("the sweep ended without a result: none of its 3 recs succeeded (3 failed)")
    assert f"(rec {recs[2].id}): diverged" in reason
    shown = query_status(tmp_path / "run")
    assert shown["progress"]["state"] == "failed" and shown["progress"]["stop_reason"] == reason


def test_status_says_an_unfinished_ask_tell_run_continues_from_python(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl resume` refuses an ask/tell run, so status must not tell the user to run it."""
    from tao_automl.cli.main import main

    automl = _random_run(tmp_path / "run", 4, 1)
    (rec,) = automl.next_recommendation()
    automl.report_result(rec.id, 1.0)
    automl.finish()
    assert query_status(tmp_path / "run")["orchestrator"]["mode"] == "ask_tell"
    assert main(["status", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "continue it from Python with tao_automl.AutoML(" in out and "resume=True" in out
    assert "tao-automl resume" not in out


def test_finishing_early_shows_a_stopped_run_without_an_eta(tmp_path: Path) -> None:
    automl = _random_run(tmp_path / "run", 4, 1)
    (rec,) = automl.next_recommendation()
    automl.report_result(rec.id, 1.0)
    progress = automl.finish()["progress"]
    assert progress["state"] == "stopped" and progress["completed"] == 1 and progress["eta_s"] is None
    assert query_status(tmp_path / "run")["progress"]["eta_s"] is None


def test_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    settings = {"metric": "val_loss", "automl_max_recommendations": 6, "automl_max_concurrent": 2, "seed": 3}
    first = AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema())
    recs = first.next_recommendation()
    first.report_result(recs[0].id, objective(recs[0].params))
    first.finish()
    with pytest.raises(WorkspaceError, match="resume=True"):
        AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema())
    again = AutoML(workspace=tmp_path / "run", settings=settings, resume=True)
    pending = again.get_status()["history"]
    assert [h["status"] for h in pending] == ["success", "pending"]
    again.report_result(recs[1].id, objective(recs[1].params))
    while not again.is_complete():
        for rec in again.next_recommendation():
            assert rec.id > 2
            again.report_result(rec.id, objective(rec.params))
    assert again.get_status()["progress"]["completed"] == 6
    again.finish()


def test_resuming_a_folder_without_a_run_says_so_in_the_words_status_uses(tmp_path: Path) -> None:
    """AutoML(resume=True) of a folder without a run said "workspace 'PATH' holds no run (no state.db)" whatever the
    reason, where status, report, export, logs, resume and stop say "no run state at 'PATH' (why)"; a folder that
    holds a run (not being one) was told it has no state.db only."""
    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "seed": 3}
    AutoML(workspace=tmp_path / "holder" / "run", settings=settings, search_schema=small_schema()).finish()
    (tmp_path / "empty").mkdir()
    for folder, why in (("missing", "(no such folder)"), ("empty", "(no state.db, and no run folder in it)"),
                        ("holder", "(no state.db): it holds this run: run (pass it as workspace)")):
        with pytest.raises(WorkspaceError) as caught:
            AutoML(workspace=tmp_path / folder, settings=settings, resume=True)
        assert str(caught.value.detail) == f"cannot resume: no run state at {str(tmp_path / folder)!r} {why}"
        assert caught.value.field == "workspace", caught.value


def test_the_run_folder_records_which_version_created_it_and_each_that_took_it_over(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A run folder did not say which code made or resumed it: a run resumed by a newer tao-run-automl silently
    continued under the newer code's schedule. It now records the version that created it and each version that
    took it over since (with when: once per change of version, not per reopening); status, get_status and finish()
    show them (`code_versions`), and a resume by another version than the last one's logs one line naming them."""
    from importlib.metadata import version

    from tao_automl.experiment.store import CREATED_BY, RESUMED_BY, RunStore

    here = version("tao-run-automl")
    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 1, "seed": 3}
    first = AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema())
    assert first.get_status()["code_versions"] == {"created_by": here, "resumed_by": []}
    first.finish()
    with caplog.at_level(logging.WARNING, logger="tao_automl"):
        again = AutoML(workspace=tmp_path / "run", settings=settings, resume=True)
    assert "created by tao-run-automl" not in caplog.text  # the same version: nothing to say, nothing recorded
    assert again.get_status()["code_versions"]["resumed_by"] == []
    again.finish()
    RunStore(tmp_path / "run").set_meta({CREATED_BY: "0.0.1"})  # as if an older version had made it
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tao_automl"):
        third = AutoML(workspace=tmp_path / "run", settings=settings, resume=True)
    said = [r.getMessage() for r in caplog.records if "created by tao-run-automl" in r.getMessage()]
    assert said == [f"run run was created by tao-run-automl 0.0.1; resumed by tao-run-automl {here}"], caplog.text
    shown = query_status(tmp_path / "run")["code_versions"]
    assert shown["created_by"] == "0.0.1" and [r["version"] for r in shown["resumed_by"]] == [here], shown
    assert time.time() - shown["resumed_by"][0]["at"] < 60
    assert third.finish()["code_versions"] == shown
    for _ in range(3):  # reopened again and again by the same version (an ask/tell agent may reopen per step):
        caplog.clear()  # said and recorded once, when the version changed
        with caplog.at_level(logging.WARNING, logger="tao_automl"):
            AutoML(workspace=tmp_path / "run", settings=settings, resume=True).finish()
        assert "created by tao-run-automl" not in caplog.text
    assert query_status(tmp_path / "run")["code_versions"] == shown
    RunStore(tmp_path / "run").set_meta({RESUMED_BY: [{"version": "0.0.2", "at": 1.0}]})  # then a 0.0.2 ran it
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tao_automl"):
        AutoML(workspace=tmp_path / "run", settings=settings, resume=True).finish()
    assert f"created by tao-run-automl 0.0.1 and last run by 0.0.2; resumed by tao-run-automl {here}" in caplog.text
    assert [r["version"] for r in query_status(tmp_path / "run")["code_versions"]["resumed_by"]] == ["0.0.2", here]


def _sweep_out_of_order(workspace: Path, reopen_every: int | None) -> list[dict[str, object]]:
    """Bayesian at concurrency 3; each round reports the recs in flight in a fixed shuffled order (not by id), as
    jobs end in a real sweep; with ``reopen_every`` the run is closed and reopened with ``resume=True`` after that
    many results (a killed orchestrator). Returns every rec's params by id."""
    settings = {"algorithm": "bayesian", "metric": "val_loss", "automl_max_recommendations": 16,
                "automl_max_concurrent": 3, "seed": 5}
    automl = AutoML(workspace=workspace, settings=settings, search_schema=small_schema(), log_progress=False)
    shuffle = np.random.default_rng(0)
    told, proposed = 0, {}
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            proposed[rec.id] = rec.params
        in_flight = [h["rec_id"] for h in automl.get_status()["history"] if h["status"] == "pending"]
        for rec_id in shuffle.permutation(in_flight)[:2]:  # two end, one stays in flight
            automl.report_result(int(rec_id), objective(proposed[int(rec_id)]))
            told += 1
            if reopen_every and told % reopen_every == 0:
                automl.finish()
                automl = AutoML(workspace=workspace, settings=settings, resume=True, log_progress=False)
    automl.finish()
    return [proposed[i] for i in sorted(proposed)]


def test_a_reopened_run_replays_results_in_the_order_they_came(tmp_path: Path) -> None:
    """The brain learns results in the order they arrive; a reopened run must rebuild it in that order, not by rec
    id, or its proposals differ from the uninterrupted run's although every result is the same."""
    uninterrupted = _sweep_out_of_order(tmp_path / "a", None)
    reopened = _sweep_out_of_order(tmp_path / "b", 3)
    assert len(uninterrupted) == 16
    assert reopened == uninterrupted


def test_resume_with_changed_settings_names_the_change(tmp_path: Path) -> None:
    AutoML(workspace=tmp_path / "run", settings={"metric": "val_loss"}, search_schema=small_schema()).finish()
    with pytest.raises(WorkspaceError, match="metric: 'val_loss' -> 'acc'") as caught:
        AutoML(workspace=tmp_path / "run", settings={"metric": "acc"}, resume=True)
    # field, value and allowed were all None
    assert (caught.value.field, caught.value.value, caught.value.allowed) == ("automl_settings.metric", "acc",
                                                                              ["val_loss"])


def test_resume_giving_the_direction_the_run_read_from_the_name_is_no_change(tmp_path: Path) -> None:
    """A run whose direction was read from its metric's name (val_loss: minimize) refused a resume that gave it,
    as ``direction`` or a one-entry metric list, with "direction: None -> 'minimize'"; it resumes now, and a real
    change is refused naming the run's direction, not None."""
    AutoML(workspace=tmp_path / "run", settings={"metric": "val_loss"}, search_schema=small_schema()).finish()
    for given in ({"metric": "val_loss", "direction": "minimize"},
                  {"metric": [{"name": "val_loss", "direction": "minimize"}]}):
        again = AutoML(workspace=tmp_path / "run", settings=given, resume=True, log_progress=False)
        assert again.settings.direction is None and again.get_status()["progress"]["direction"] == "minimize"
        again.finish()
    with pytest.raises(WorkspaceError, match="direction: 'minimize' -> 'maximize'") as caught:
        AutoML(workspace=tmp_path / "run", settings={"metric": "val_loss", "direction": "maximize"}, resume=True)
    assert (caught.value.field, caught.value.value, caught.value.allowed) == ("automl_settings.direction", "maximize",
                                                                              ["minimize"])


def test_needs_a_search_space(tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match="skill_dir"):
        AutoML(workspace=tmp_path / "run", settings={})


# -- argument checks: a wrong argument is a UserInputError naming it, and nothing is recorded or created --------------
SINGLE = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 4, "automl_max_concurrent": 4}
TWO_METRICS = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "val_loss", "direction": "minimize"}]


def _pending(automl: AutoML) -> list[str]:
    return [str(h["status"]) for h in automl.get_status()["history"] if h["status"] == "pending"]


@pytest.mark.parametrize(("args", "kwargs", "field", "shown"), [
    (("1", 0.5), {}, "rec_id", "'1'"),
    ((1.0, 0.5), {}, "rec_id", "1.0"),
    ((True, 0.5), {}, "rec_id", "True"),
    ((1, 10**400), {}, "metric", "1000"),
    ((1, "0.5"), {}, "metric", "'0.5'"),
    ((1, 0.5), {"message": 5}, "message", "5"),
    ((1, 0.5), {"status": "ok"}, "status", "'ok'"),
    ((1, None), {"values": {"nope": 1.0}}, "values", "'nope'"),
    ((1, 0.5), {"values": {"val_loss": 0.5}}, "metric", "0.5"),
    ((1, None), {"values": {}}, "values", "'val_loss'"),
    ((1, None), {"values": [0.5]}, "values", "[0.5]"),
    ((1, None), {"values": {"val_loss": 10**400}}, "values", "'val_loss'"),
])
def test_report_result_refuses_a_bad_argument(tmp_path: Path, args: tuple[object, ...], kwargs: dict[str, object],
                                              field: str, shown: str) -> None:
    automl = AutoML(workspace=tmp_path / "run", settings=SINGLE, search_schema=small_schema(), log_progress=False)
    automl.next_recommendation()
    with pytest.raises(UserInputError) as info:
        automl.report_result(*args, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and str(info.value).startswith(f"{field}: ") and shown in str(info.value)
    assert len(_pending(automl)) == 4  # nothing recorded
    automl.report_result(np.int64(1), None, values={"val_loss": np.float32(0.5)})  # numpy numbers are numbers
    assert automl.get_best() is not None and automl.get_best().id == 1  # type: ignore[union-attr]
    automl.finish()


def test_multi_objective_report_needs_every_value_and_no_metric(tmp_path: Path) -> None:
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(), log_progress=False,
                    settings={**SINGLE, "metric": TWO_METRICS})
    automl.next_recommendation()
    both = {"val_accuracy": 0.9, "val_loss": 0.3}
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"metric": 0.5}, "metric", "values={name: number}"),  # no values at all
        ({"metric": 0.9, "values": both}, "metric", "several metrics"),  # a second, maybe different, value
        ({"metric": None, "values": {"val_accuracy": 0.9}}, "values", "missing 'val_loss'"),
        ({"metric": None, "values": {**both, "latency": 3}}, "values", "'latency' is not a metric of this run"),
        ({"metric": None}, "values", "'val_accuracy', 'val_loss'"),
    ]
    for kwargs, field, text in cases:
        with pytest.raises(UserInputError) as info:
            automl.report_result(1, **kwargs)  # type: ignore[arg-type]
        assert info.value.field == field and text in str(info.value), (kwargs, str(info.value))
    assert len(_pending(automl)) == 4  # nothing recorded
    automl.report_result(1, None, values=both)
    automl.report_result(2, None, status="failure", message="crashed")  # a failure needs no values
    history = automl.get_status()["history"]
    assert [h["status"] for h in history[:2]] == ["success", "failure"] and history[0]["metric_value"] == 0.9
    automl.finish()


def test_after_finish_reads_answer_and_writes_are_refused(tmp_path: Path) -> None:
    automl = AutoML(workspace=tmp_path / "run", settings=SINGLE, search_schema=small_schema(), log_progress=False)
    recs = automl.next_recommendation()
    automl.report_result(recs[0].id, 0.5)
    summary = automl.finish()
    assert summary["progress"]["state"] == "stopped"  # the state finish() wrote, not "running"
    assert automl.finish() is summary  # a second finish() does nothing
    assert automl.get_status() is summary and automl.is_complete() is False
    assert automl.get_best() is not None and automl.get_best().id == recs[0].id  # type: ignore[union-attr]
    for call in (lambda: automl.report_result(recs[1].id, 0.4), automl.next_recommendation):
        with pytest.raises(UserInputError, match=r"closed by finish\(\).*resume=True"):
            call()
    again = AutoML(workspace=tmp_path / "run", settings=SINGLE, resume=True, log_progress=False)
    again.report_result(recs[1].id, 0.4)  # reopened, the run goes on
    again.finish()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"workspace": 5}, "workspace"), ({"workspace": None}, "workspace"), ({"workspace": ""}, "workspace"),
    ({"train_specs": [1]}, "train_specs"), ({"search_schema": 5}, "search_schema"), ({"network": 5}, "network"),
    ({"action": 5}, "action"), ({"resume": "no"}, "resume"), ({"log_progress": "no"}, "log_progress"),
    ({"automl_hyperparameters": "train.layers"}, "automl_hyperparameters"),
    ({"custom_param_ranges": {"train.layers": 5}}, "custom_param_ranges"),
    ({"skill_dir": 5, "search_schema": None}, "skill_dir"),
    ({"settings": "random"}, "settings"), ({"settings": [1]}, "settings"), ({"settings": 5}, "settings"),
])
def test_constructor_refuses_a_bad_argument_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 kwargs: dict[str, object], field: str) -> None:
    monkeypatch.chdir(tmp_path)
    call: dict[str, object] = {"workspace": tmp_path / "run", "settings": SINGLE, "search_schema": small_schema(),
                               **kwargs}
    with pytest.raises(UserInputError) as info:
        AutoML(**call)  # type: ignore[arg-type]
    assert info.value.field == field and f"{field}: " in str(info.value), str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_a_workspace_that_is_a_file_or_under_one_is_a_workspace_error(tmp_path: Path) -> None:
    """AutoML(workspace=a file) raised FileExistsError, and a path under a file NotADirectoryError, from mkdir."""
    afile = tmp_path / "afile"
    afile.write_text("")
    for workspace in (afile, afile / "run"):
        with pytest.raises(WorkspaceError, match="cannot be a run folder") as refused:
            AutoML(workspace=workspace, settings=SINGLE, search_schema=small_schema(), log_progress=False)
        assert refused.value.field == "workspace" and "writable folder" in str(refused.value.allowed)


def test_runner_and_query_status_refuse_bad_argument_types(tmp_path: Path) -> None:
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner import AutoMLRunner

    for args, kwargs, field in [((5,), {}, "skill_dir"), ((None,), {}, "skill_dir"),
                                ((builtin_skill_dir("demo-digits-mlp"),), {"action": 5}, "action")]:
        with pytest.raises(UserInputError) as info:
            AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), *args, **kwargs)  # type: ignore[arg-type]
        assert info.value.field == field, str(info.value)
    for value in (None, 5, ""):
        with pytest.raises(UserInputError) as info:
            query_status(value)  # type: ignore[arg-type]
        assert info.value.field == "workspace_path" and repr(value) in str(info.value)


# -- multi-fidelity: the specs handed out train the trial's budget -----------------------------------------------------
def test_multi_fidelity_specs_carry_the_trial_budget(tmp_path: Path) -> None:
    from tao_automl.bank import builtin_skill_dir

    settings = {"algorithm": "hyperband", "automl_max_epochs": 9, "automl_max_recommendations": 14,
                "automl_max_concurrent": 3, "metric": "val_loss", "seed": 0}
    automl = AutoML(workspace=tmp_path / "run", skill_dir=builtin_skill_dir("demo-digits-mlp"), settings=settings,
                    log_progress=False)
    budgets, parents = set(), 0
    handed: dict[int, dict[str, Any]] = {}
    while not automl.is_complete():
        recs = automl.next_recommendation()
        assert recs
        for rec in recs:
            assert rec.trial is not None and rec.specs["train"]["num_epochs"] == rec.trial["budget"]
            handed[rec.id] = rec.trial
            budgets.add(rec.trial["budget"])
            parents += rec.trial["parent"] is not None
            automl.report_result(rec.id, float(rec.params["train.optim.lr"]) / rec.trial["budget"])
        if len(budgets) > 1 and parents and automl.get_status()["progress"]["completed"] < 10:
            automl.finish()  # a resumed run hands out the same kind of specs
            automl = AutoML(workspace=tmp_path / "run", settings=settings, resume=True, log_progress=False)
    assert budgets == {1, 3, 9} and parents
    best = automl.get_best()
    assert best is not None and best.specs["train"]["num_epochs"] == 9  # ranked by budget reached first
    # get_best() had trial None: the best rec's plan (budget, parent, rung) as next_recommendation() handed it out
    assert best.trial == handed[best.id] and best.trial["budget"] == 9
    automl.finish()
    after = automl.get_best()  # from the final summary, the store closed
    assert after is not None and after.trial == handed[best.id]


@pytest.mark.parametrize("with_key", [True, False])
def test_multi_fidelity_on_a_bare_schema(tmp_path: Path, with_key: bool) -> None:
    schema = small_schema()
    schema["default"]["train"]["num_epochs"] = 50  # the budget (1) must replace it
    if not with_key:
        del schema["default"]["train"]["num_epochs"]
        del schema["properties"]["train"]["properties"]["num_epochs"]
    automl = AutoML(workspace=tmp_path / "run", search_schema=schema, log_progress=False,
                    settings={"algorithm": "asha", "automl_max_epochs": 9, "metric": "val_loss",
                              "automl_max_recommendations": 3})
    for rec in automl.next_recommendation():
        assert rec.trial is not None and rec.trial["budget"] == 1
        assert rec.specs["train"].get("num_epochs") == (1 if with_key else None)
    automl.finish()
    if with_key:  # a budget beyond the epoch key's maximum (100) is refused, as a run refuses it; specs broke it
        with pytest.raises(SettingsError, match="automl_max_epochs: 101 is not allowed") as refused:
            AutoML(workspace=tmp_path / "run2", search_schema=schema, log_progress=False,
                   settings={"algorithm": "hyperband", "automl_max_epochs": 101, "metric": "val_loss"})
        assert refused.value.field == "automl_settings.automl_max_epochs"


def test_an_ask_tell_run_whose_process_died_reads_interrupted_with_how_to_reopen_it(tmp_path: Path) -> None:
    """Its process ended without finish() (here: the lock released as a dying process's is): status says
    interrupted and names AutoML(..., resume=True), not `tao-automl resume`, which refuses ask/tell runs."""
    from tao_automl.status import query_status

    automl = AutoML(workspace=tmp_path / "run", network="toy", search_schema=small_schema(),
                    settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 3})
    automl.next_recommendation()
    assert query_status(tmp_path / "run")["progress"]["state"] == "running"  # its process holds the run
    automl._lock.release()
    progress = query_status(tmp_path / "run")["progress"]
    assert progress["state"] == "interrupted" and "AutoML(workspace, resume=True)" in progress["stop_reason"]


@pytest.mark.parametrize("closed", [True, False])
def test_time_no_orchestrator_ran_is_left_out_of_elapsed_and_the_eta(tmp_path: Path, closed: bool) -> None:
    """A run that ran ~1,000 s, then sat 4,000 s stopped (or with its orchestrator killed), then was resumed: its
    elapsed is ~1,000 s and the ETA is ~500 s a rec, not 2,500 s (the downtime used to count as sweep time)."""
    from tao_automl.experiment.store import RunStore

    run = tmp_path / "run"
    settings = {"metric": "val_loss", "automl_max_recommendations": 6, "automl_max_concurrent": 2, "seed": 3}
    first = AutoML(workspace=run, settings=settings, search_schema=small_schema(), log_progress=False)
    for rec in first.next_recommendation():
        first.report_result(rec.id, objective(rec.params))
    if closed:
        first.finish()  # stopped with recs left: its end is recorded
    else:  # killed: the OS frees its lock, the run stays "running"
        first._exp.store.close()
        first._lock.release()
    store = RunStore(run)
    meta = store.meta()
    now = meta["ended_at"] if closed else store.last_event_at()
    shift = {"created_at": meta["created_at"] - 5000.0, **({"ended_at": now - 4000.0} if closed else {})}
    store.set_meta(shift)
    if not closed:  # a killed orchestrator: its last recorded activity 4,000 s ago
        store._conn.execute("UPDATE events SET ts = ts - 4000.0")
        store._conn.commit()
    store.close()
    again = AutoML(workspace=run, settings=settings, resume=True, log_progress=False)
    progress = again.get_status()["progress"]
    assert 995.0 < progress["elapsed_s"] < 1010.0, progress
    assert progress["completed"] == 2 and 1990.0 < progress["eta_s"] < 2030.0  # ~500 s a rec, 4 left
    again.finish()


def test_a_stop_the_rule_gave_before_a_crash_lost_it_is_replayed(tmp_path: Path) -> None:
    """Stopping mode: an epoch's value is written, the rule answers "stop", and the orchestrator dies before the
    stop is recorded. The reopened run replays the epochs, so it knows that rec is to be stopped (at that epoch,
    with that value) and the runner stops it on re-attach; a rec whose stop was recorded is not listed again."""
    settings = {"algorithm": "asha", "fidelity_mode": "stopping", "automl_max_epochs": 9, "metric": "val_loss",
                "automl_max_recommendations": 6, "automl_max_concurrent": 3, "seed": 1}
    first = AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema(), log_progress=False)
    recs = first.next_recommendation()
    answers = [first._exp.report_epoch(r.id, 1, v) for r, v in zip(recs, [0.1, 0.5, 0.9], strict=True)]
    assert answers == [False, False, True]  # rec 3 loses at the first rung
    first._exp.store.close()  # killed: no stop recorded, nothing ended
    first._lock.release()
    again = AutoML(workspace=tmp_path / "run", settings=settings, resume=True, log_progress=False)
    assert again._exp.replayed_stops == {recs[2].id: (1, 0.9)}
    again._exp.store.log_event("stop_decided", recs[2].id, epoch=1, value=0.9, message="stopped")
    again._exp.store.close()
    again._lock.release()
    third = AutoML(workspace=tmp_path / "run", settings=settings, resume=True, log_progress=False)
    assert third._exp.replayed_stops == {}  # recorded: the runner's own stop path takes it from there
    third.finish()


def test_a_resume_takes_the_runs_settings_and_hands_out_again_the_recs_left_without_a_result(tmp_path: Path) -> None:
    """`AutoML(workspace, resume=True)` (what finish() and status advise) takes the run's stored settings (a given
    one goes on top: only policies may change), and a run whose process died with recs handed out but not
    reported gives those recs out again first, so the usual loop goes on (it used to return [] forever)."""
    settings = {"metric": "val_loss", "algorithm": "tpe", "automl_max_recommendations": 6,
                "automl_max_concurrent": 2}
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(), settings=settings, log_progress=False)
    first = automl.next_recommendation()
    automl.report_result(first[0].id, 0.5)
    handed = first[1:] + automl.next_recommendation()
    assert [r.id for r in handed] == [2, 3]
    automl._lock.release()  # its process dies here, as a dying process's lock is released
    again = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)  # no settings: the run's
    assert (again.settings.algorithm, again.settings.automl_max_recommendations) == ("tpe", 6)
    recs = again.next_recommendation()
    assert [(r.id, r.params, r.specs) for r in recs] == [(r.id, r.params, r.specs) for r in handed]
    assert again.next_recommendation() == []  # both slots are taken by them
    while not again.is_complete():
        for rec in recs:
            again.report_result(rec.id, 0.4)
        recs = again.next_recommendation()
    done = again.finish()
    assert [r["status"] for r in done["recommendations"]] == ["success"] * 6
    bigger = AutoML(workspace=tmp_path / "run", resume=True, settings={"automl_max_recommendations": 8},
                    log_progress=False)
    assert bigger.settings.algorithm == "tpe" and [r.id for r in bigger.next_recommendation()] == [7, 8]
    bigger.finish()


def test_the_settings_skill_md_says_a_resume_may_change_are_taken_by_a_resume(tmp_path: Path) -> None:
    """SKILL.md tells an agent which settings a resume from Python may change ("`llm_fallback`,
    `automl_max_recommendations` ..., `automl_max_concurrent`, `automl_job_timeout_s`, `automl_fail_fast_after`"):
    a resume takes each of them, while one it does not name (the seed: the search's identity) is refused."""
    text = " ".join((REPO / "src" / "tao_automl" / "SKILL.md").read_text().split())
    sentence = re.search(r"to change one of the few a resume may change \((.+?), \.\.\.\)", text)
    assert sentence, "SKILL.md no longer lists the settings a resume may change"
    named = re.findall(r"`(\w+)`", re.sub(r"\([^()]*\)", "", sentence[1]))
    changed = {"llm_fallback": "random", "automl_max_recommendations": 5, "automl_max_concurrent": 3,
               "automl_job_timeout_s": 60.0, "automl_fail_fast_after": 0}
    assert named == list(changed)
    first = _random_run(tmp_path / "run", 2, 1)
    for rec in first.next_recommendation():
        first.report_result(rec.id, 0.5)
    first.finish()
    again = AutoML(workspace=tmp_path / "run", resume=True, settings=changed, log_progress=False)
    assert {key: getattr(again.settings, key) for key in changed} == changed
    again.finish()
    with pytest.raises((SettingsError, WorkspaceError), match="seed"):
        AutoML(workspace=tmp_path / "run", resume=True, settings={"seed": 9}, log_progress=False)


def test_opening_a_run_this_process_holds_says_so(tmp_path: Path) -> None:
    from tao_automl.errors import WorkspaceLockedError

    first = AutoML(workspace=tmp_path / "run", search_schema=small_schema(), settings={"metric": "val_loss"},
                   log_progress=False)
    with pytest.raises(WorkspaceLockedError, match="already open in this process") as held:
        AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)
    assert "finish()" in (held.value.hint or "")
    first.finish()
    AutoML(workspace=tmp_path / "run", resume=True, log_progress=False).finish()  # released by finish()


@pytest.mark.parametrize(("specs", "field", "match"), [
    ({"trian": {"num_epochs": 3}}, "train_specs.trian.num_epochs", "did you mean 'train.num_epochs'"),
    ({"model": {"activation": "swish"}}, "train_specs.model.activation", "expected one of 'relu'"),
    ({"model": {"hidden_units": -5}}, "train_specs.model.hidden_units", r"expected a value in \[8, 256\]"),
])
def test_train_specs_are_checked_like_spec_overrides(tmp_path: Path, specs: dict[str, Any], field: str,
                                                     match: str) -> None:
    """A misspelt key, an option the schema does not list and a value out of its bounds are refused naming the key
    (they were taken silently into every rec's specs); nothing is created."""
    from tao_automl.bank import builtin_skill_dir

    with pytest.raises(UserInputError, match=match) as bad:
        AutoML(workspace=tmp_path / "run", skill_dir=builtin_skill_dir("demo-digits-mlp"), train_specs=specs,
               settings={"metric": "val_accuracy", "algorithm": "random"},
               automl_hyperparameters=["train.optim.lr"], log_progress=False)
    assert bad.value.field == field
    if "one of" in match:  # the options as a JSON list (it was their text)
        assert bad.value.to_json()["allowed"] == ["relu", "tanh", "sigmoid", "leaky_relu"]
    assert not (tmp_path / "run").exists()


def test_partial_train_specs_warn_that_they_replace_the_defaults(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from tao_automl.bank import builtin_skill_dir

    with caplog.at_level("WARNING"):
        automl = AutoML(workspace=tmp_path / "run", skill_dir=builtin_skill_dir("demo-digits-mlp"),
                        train_specs={"train": {"num_epochs": 3}}, log_progress=False,
                        settings={"metric": "val_accuracy", "algorithm": "random"},
                        automl_hyperparameters=["train.optim.lr"])
    assert any("defaults are not merged in" in r.getMessage() for r in caplog.records)
    rec = automl.next_recommendation()[0]
    assert rec.specs == {"train": {"num_epochs": 3, "optim": {"lr": rec.params["train.optim.lr"]}}}
    automl.finish()


def test_a_finished_run_reopened_to_be_read_stays_finished(tmp_path: Path) -> None:
    """`AutoML(ws, resume=True)` on a finished run, only to read it: get_status() said `running` (is_complete() True)
    and `tao-automl status` said `interrupted` from then on."""
    settings = {**SINGLE, "automl_max_recommendations": 3}
    automl = AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema(), log_progress=False)
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, objective(rec.params))
    first = automl.finish()["progress"]
    assert first["state"] == "finished"
    again = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)
    assert again.is_complete() and again.get_status()["progress"]["state"] == "finished"
    assert query_status(tmp_path / "run")["progress"]["state"] == "finished"
    assert again.finish()["progress"]["elapsed_s"] == first["elapsed_s"]  # its end, not the reopening's
    assert query_status(tmp_path / "run")["progress"]["state"] == "finished"


def test_a_finished_run_reopened_and_finished_again_records_one_end(tmp_path: Path) -> None:
    """A finished run reopened and finished again stored its end twice: the reopening re-ended it (so that it reads
    finished while held), and finish() ended it again, two `run_finished` events for one finish() call. The
    reopening is one `run_resumed` and one `run_finished`; finish() of the run as it was reopened adds none."""
    automl = AutoML(workspace=tmp_path / "run", settings={**SINGLE, "automl_max_recommendations": 1},
                    search_schema=small_schema(), log_progress=False)
    (rec,) = automl.next_recommendation()
    automl.report_result(rec.id, objective(rec.params))
    automl.finish()
    again = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)
    assert again.finish()["progress"]["state"] == "finished"
    store = RunStore(tmp_path / "run", readonly=True)
    try:
        kinds = [e["kind"] for e in store.events() if e["kind"] in ("run_resumed", "run_finished")]
    finally:
        store.close()
    assert kinds == ["run_finished", "run_resumed", "run_finished"], kinds


def test_finish_tells_the_trackers_the_end_once_and_before_it_is_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """finish() called twice, then a reopening and its finish(): each finish() tells W&B/MLflow the end once, while
    the store still holds the run open (a kill once the end is stored finds them told)."""
    told: list[tuple[str, Any]] = []

    def heard(automl: AutoML) -> None:
        def sweep_ended(run_dir: Path, state: str) -> None:
            store = RunStore(run_dir, readonly=True)
            try:
                told.append((state, store.meta()["state"]))
            finally:
                store.close()

        monkeypatch.setattr(automl.tracking, "sweep_ended", sweep_ended)

    automl = AutoML(workspace=tmp_path / "run", settings={**SINGLE, "automl_max_recommendations": 1},
                    search_schema=small_schema(), log_progress=False)
    heard(automl)
    (rec,) = automl.next_recommendation()
    automl.report_result(rec.id, objective(rec.params))
    automl.finish()
    automl.finish()
    assert told == [("finished", "running")]
    again = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)
    heard(again)
    again.finish()
    assert told == [("finished", "running"), ("finished", "finished")]  # reopened to be read: it stays finished


class _CtrlCInEnd:
    """A tracker whose end call a Ctrl-C lands in (held until the call returns, then raised), once; the rest of its
    calls, and each end it was told, are counted."""

    def __init__(self) -> None:
        self.ends: list[str] = []

    def sweep_started(self, run_dir: Path) -> None:
        pass

    def rec_finished(self, run_dir: Path, rec_id: int) -> None:
        pass

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        import os
        import signal

        self.ends.append(state)
        if len(self.ends) == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_in_a_trackers_end_call_closes_the_run_and_tells_it_once(tmp_path: Path) -> None:
    """A Ctrl-C landing in a tracker's end call (held until the call returns) left finish() before the run's end was
    stored, and a second finish() told every tracker the end again. Now the run is closed first, as the sweep loop
    closes it after such a Ctrl-C, the interrupt then raised; a second finish() returns the same summary, telling
    no tracker again."""
    tracker = _CtrlCInEnd()
    automl = AutoML(workspace=tmp_path / "run", settings={**SINGLE, "automl_max_recommendations": 1},
                    search_schema=small_schema(), log_progress=False)
    automl.tracking.observers.append(tracker)
    (rec,) = automl.next_recommendation()
    automl.report_result(rec.id, objective(rec.params))
    with pytest.raises(KeyboardInterrupt):
        automl.finish()
    assert query_status(tmp_path / "run")["progress"]["state"] == "finished"
    summary = automl.finish()
    assert tracker.ends == ["finished"] and summary["progress"]["state"] == "finished"
    again = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)  # its lock was released
    assert again.finish()["progress"]["state"] == "finished"


def test_a_schema_with_defaults_only_on_its_properties_gets_the_budget_at_its_epoch_key(tmp_path: Path) -> None:
    """A search_schema without a top-level "default": hyperband's recs of budget 9 shipped `train.num_epochs: 1` in
    rec.specs and the run's epoch key was None, so a caller training from rec.specs trained every rung 1 epoch."""
    schema = small_schema()
    del schema["default"]
    automl = AutoML(workspace=tmp_path / "run", search_schema=schema, log_progress=False,
                    settings={"algorithm": "hyperband", "metric": "val_loss", "automl_max_recommendations": 16,
                              "automl_max_concurrent": 16, "automl_max_epochs": 9})
    recs = automl.next_recommendation()
    assert {r.trial["budget"] for r in recs} >= {1, 3, 9}
    assert all(r.specs["train"]["num_epochs"] == r.trial["budget"] for r in recs)


def test_a_runner_run_is_not_reopened_by_ask_tell(tmp_path: Path) -> None:
    """AutoML(resume=True) on a folder the runner made handed its in-flight recs out again and took made-up results
    for jobs that were still training; it is refused, naming the workspace and how to continue that run."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing.instant import InstantSDK

    run = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2},
        workspace_path=tmp_path / "ws", gpu_count=0)
    with pytest.raises(WorkspaceError, match="started by `tao-automl run`") as caught:
        AutoML(workspace=run["run_dir"], resume=True, log_progress=False)
    assert caught.value.field == "workspace" and "tao-automl resume" in (caught.value.hint or "")


def test_a_resume_of_a_run_stored_with_weight_zero_options_takes_the_same_arguments(tmp_path: Path) -> None:
    """A run made before weight-0 options were dropped from the space stored them (act [relu, tanh, gelu], weights
    [1, 0, 1]); the same arguments now build [relu, gelu]: no change of its inputs, so the resume goes on."""
    from tao_automl.experiment.store import RunStore

    ranges = {"train.act": {"option_weights": [1, 0, 1]}}
    first = AutoML(workspace=tmp_path / "run", settings=SINGLE, search_schema=small_schema(), log_progress=False,
                   custom_param_ranges=ranges)
    first.report_result(first.next_recommendation()[0].id, 1.0)
    first.finish()
    store = RunStore(tmp_path / "run")
    space = store.meta()["space"]
    (act,) = [p for p in space if p.get("name") == "train.act"]
    assert act["choices"] == ["relu", "gelu"]
    act.update(choices=["relu", "tanh", "gelu"], weights=[1.0, 0.0, 1.0])  # as the run was stored before
    store.set_meta({"space": space})
    store.close()
    again = AutoML(workspace=tmp_path / "run", resume=True, search_schema=small_schema(), log_progress=False,
                   custom_param_ranges=ranges)
    again.finish()


def test_a_resume_refuses_a_changed_space_and_takes_the_same_one(tmp_path: Path) -> None:
    """A resume given other hyperparameters, ranges or base spec went on with the stored ones without a word;
    it names the changed argument now, and the arguments the run was made with are accepted again."""
    first = AutoML(workspace=tmp_path / "run", settings=SINGLE, search_schema=small_schema(), log_progress=False)
    first.report_result(first.next_recommendation()[0].id, 1.0)
    first.finish()
    again = AutoML(workspace=tmp_path / "run", resume=True, search_schema=small_schema(), log_progress=False)
    again.finish()
    changes: list[tuple[dict[str, Any], str]] = [
        ({"automl_hyperparameters": ["train.optim.lr"]}, "automl_hyperparameters"),  # one argument, not a list
        ({"custom_param_ranges": {"train.optim.lr": {"valid_min": 0.5, "valid_max": 0.6}}}, "custom_param_ranges"),
        ({"train_specs": {"train": {"optim": {"lr": 0.01}, "layers": 4, "act": "relu", "flag": False,
                                    "num_epochs": 1}}}, "train_specs"),
        ({"network": "other"}, "network"),
    ]
    for kwargs, field in changes:
        with pytest.raises(WorkspaceError, match="with different inputs") as caught:
            AutoML(workspace=tmp_path / "run", resume=True, search_schema=small_schema(), log_progress=False,
                   **kwargs)
        assert caught.value.field == field, kwargs
    with pytest.raises(WorkspaceError, match=r"train.optim.lr .*0.0001.* -> train.optim.lr .*0.5"):
        AutoML(workspace=tmp_path / "run", resume=True, search_schema=small_schema(), log_progress=False,
               custom_param_ranges={"train.optim.lr": {"valid_min": 0.5, "valid_max": 0.6}})
    # without the schema the space cannot be rebuilt: refused naming the argument given (it named skill_dir)
    with pytest.raises(WorkspaceError, match="automl_hyperparameters alone") as alone:
        AutoML(workspace=tmp_path / "run", resume=True, log_progress=False, automl_hyperparameters=["train.layers"])
    assert alone.value.field == "automl_hyperparameters"
    # only the base spec changed (the space's defaults with it): train_specs is named, not search_schema/skill_dir
    with pytest.raises(WorkspaceError) as spec_only:
        AutoML(workspace=tmp_path / "run", resume=True, search_schema=small_schema(), log_progress=False,
               train_specs={"train": {"optim": {"lr": 0.01}, "layers": 3, "act": "relu", "flag": False,
                                      "num_epochs": 1}})
    assert spec_only.value.field == "train_specs" and "search_schema:" not in str(spec_only.value)


def test_a_dropped_automl_releases_its_run_folder(tmp_path: Path) -> None:
    """An AutoML lost without finish() (del, an exception in the caller's loop) kept the folder locked until the
    process ended; collecting it frees the folder."""
    import gc

    lost = AutoML(workspace=tmp_path / "run", settings=SINGLE, search_schema=small_schema(), log_progress=False)
    handed = [rec.id for rec in lost.next_recommendation()]
    del lost
    gc.collect()
    again = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)
    recs = again.next_recommendation()
    assert [rec.id for rec in recs] == handed  # handed out again, as a resume does
    assert {rec.status for rec in recs} == {"pending"}  # as a new rec's (they read RecStatus.CREATED)
    again.finish()


def test_ask_tell_checks_the_metric_against_the_models_reported_metrics(tmp_path: Path) -> None:
    """run() refused a metric the model does not report; AutoML(skill_dir=...) took it with a direction warning."""
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.errors import SettingsError

    with pytest.raises(SettingsError, match="did you mean 'val_accuracy'") as caught:
        AutoML(workspace=tmp_path / "run", skill_dir=builtin_skill_dir("demo-digits-mlp"), log_progress=False,
               settings={"metric": "val_acuracy", "algorithm": "random"})
    assert caught.value.field == "automl_settings.metric"
    assert not (tmp_path / "run").exists()  # checked before the folder exists


def test_resume_and_space_errors_name_their_field(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as caught:
        AutoML(workspace=tmp_path / "none", resume=True, log_progress=False)
    assert (caught.value.field, caught.value.value) == ("workspace", str(tmp_path / "none"))
    with pytest.raises(SearchSpaceError) as missing:
        AutoML(workspace=tmp_path / "run", network="demo-digits-mlp", log_progress=False)
    assert missing.value.field == "skill_dir" and "search_schema" in str(missing.value.allowed)


def test_a_result_before_any_rec_says_to_ask_first(tmp_path: Path) -> None:
    automl = AutoML(workspace=tmp_path / "run", settings=SINGLE, search_schema=small_schema(), log_progress=False)
    with pytest.raises(UserInputError, match="no rec has been handed out yet") as caught:
        automl.report_result(1, 0.5)
    assert "next_recommendation()" in (caught.value.hint or "") and "1..0" not in str(caught.value)
    automl.finish()


def test_a_nan_objective_is_named_as_reported_not_as_missing(tmp_path: Path) -> None:
    settings = {**SINGLE, "metric": TWO_METRICS}
    automl = AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema(), log_progress=False)
    rec = automl.next_recommendation()[0]
    automl.report_result(rec.id, None, values={"val_accuracy": float("nan"), "val_loss": 0.1})
    history = automl.finish()["history"]
    assert history[0]["message"] == "metric 'val_accuracy' is not a finite number (nan)"


def test_a_resume_with_the_same_model_and_no_settings_takes_the_runs_settings(tmp_path: Path) -> None:
    """`AutoML(ws, skill_dir=SAME, resume=True)` without settings was refused over metric 'loss' (the default,
    which nobody gave): the space check builds the plan with the run's stored settings."""
    from tao_automl.bank import builtin_skill_dir

    skill = builtin_skill_dir("demo-digits-mlp")
    first = AutoML(tmp_path / "run", skill_dir=skill, log_progress=False,
                   settings={"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 3})
    first.report_result(first.next_recommendation()[0].id, 0.5)
    first.finish()
    again = AutoML(tmp_path / "run", skill_dir=skill, resume=True, log_progress=False)
    assert again.settings.metric == "val_accuracy"
    again.finish()


def test_a_full_disk_while_an_ask_tell_run_is_created_names_the_workspace_and_leaves_no_half_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while AutoML(...) created a new run raised SQLite's raw OperationalError whose CLI form said
    "continues with `tao-automl resume RUN_DIR`", and left state.db without the run's metadata: the same call again
    said "already holds a run; pass resume=True", and resume=True died with KeyError 'settings'. Now the error is a
    WorkspaceError naming ``workspace`` and the store it could not write, with no resume hint; what the call made is
    removed (a user's own file in a folder that already existed stays), and the same call then makes the run. (The
    store's metadata write raises what SQLite raises on a full disk: a full disk cannot be made in a test.)"""
    import sqlite3

    from tao_automl.experiment.store import RunStore

    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "algorithm": "random"}
    new, existing = tmp_path / "new", tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    for workspace in (new, existing):
        with monkeypatch.context() as patched:
            def full(self: Any, *args: Any, **kwargs: Any) -> None:
                raise sqlite3.OperationalError("database or disk is full")

            patched.setattr(RunStore, "set_meta", full)
            with pytest.raises(WorkspaceError) as caught:
                AutoML(workspace=workspace, settings=settings, search_schema=small_schema())
        error = caught.value.to_json()
        assert (error["field"], error["value"]) == ("workspace", str(workspace)), error
        assert error["message"].startswith(f"no space left on the device writing '{workspace / 'state.db'}'"), error
        assert "create the AutoML again" in error["hint"] and "RUN_DIR" not in str(error), error
        assert "resume" not in error["hint"].replace("no run to resume", ""), error
        if workspace == new:
            assert not new.exists()
        else:
            assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]
        automl = AutoML(workspace=workspace, settings=settings, search_schema=small_schema())
        assert len(automl.next_recommendation()) >= 1
        automl.finish()


def test_an_ask_tell_run_whose_creation_was_killed_is_named_so_not_a_stack_trace(tmp_path: Path) -> None:
    """A creation killed (kill -9) after the store was made and before its metadata was written leaves a state.db
    without it: AutoML(...) said "already holds a run; pass resume=True" and AutoML(..., resume=True) died with
    KeyError 'settings'. Both now say the creation was cut short, naming ``workspace``."""
    from tao_automl.experiment.store import RunStore

    workspace = tmp_path / "run"
    workspace.mkdir()
    RunStore(workspace).close()  # what the killed creation left: a store, no metadata
    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "algorithm": "random"}
    with pytest.raises(WorkspaceError, match="creation was cut short") as caught:
        AutoML(workspace=workspace, settings=settings, search_schema=small_schema())
    assert caught.value.field == "workspace" and "delete" in (caught.value.hint or "")
    with pytest.raises(WorkspaceError, match="setup was interrupted before the run's metadata") as resumed:
        AutoML(workspace=workspace, resume=True)
    assert resumed.value.field == "workspace"


def test_status_of_an_ask_tell_run_left_open_with_every_rec_done_says_one_way_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every rec of an ask/tell run reported, the AutoML dropped before finish(): status said both "reopen it with
    AutoML(workspace, resume=True)" (stop reason) and "nothing to resume" (orchestrator line). Reopening it and
    calling finish() is what closes it: the text and JSON now both say that, and nothing says "nothing to resume"."""
    import gc

    from tao_automl.cli.main import main

    automl = _random_run(tmp_path / "run", 3, 1)
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, objective(rec.params))
    del automl, rec  # dropped without finish(): its lock freed, the run still stored as running
    gc.collect()
    assert main(["status", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "nothing to resume" not in out
    orchestrator = next(line for line in out.splitlines() if line.startswith("orchestrator:"))
    assert "resume=True" in orchestrator and "finish()" in orchestrator, orchestrator
    assert main(["status", "--json", str(tmp_path / "run")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["progress"]["state"] == "interrupted" and shown["resumable"] is False
    assert "resume=True" in shown["progress"]["stop_reason"] and "finish()" in shown["progress"]["stop_reason"]
    reopened = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)  # what the views say works
    assert reopened.is_complete() and reopened.finish()["progress"]["state"] == "finished"


def test_workspace_runs_order_run_folders_by_their_names_time_without_opening_them(tmp_path: Path) -> None:
    """A ``run_*`` folder `tao-automl run` named is placed by the UTC time in its name, without opening its store
    (`status WORKSPACE` of hundreds of runs stays fast), among runs of any name placed by the start they record: a
    run named for 2099 is the newest even when its store cannot be read (read from the store, it came first)."""
    from tao_automl.experiment.run_folders import workspace_runs

    automl = _random_run(tmp_path / "ws" / "alpha", 2, 1)
    automl.finish()
    for name in ("run_20990101_000000_abcdef", "run_20000101_000000_abcdef"):
        (tmp_path / "ws" / name).mkdir()
        (tmp_path / "ws" / name / "state.db").write_bytes(b"not a database")
    assert workspace_runs(tmp_path / "ws") == ["run_20000101_000000_abcdef", "alpha", "run_20990101_000000_abcdef"]


def test_workspace_runs_list_a_run_linked_inside_its_workspace_once(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A symlink to a run folder of the workspace was listed beside the folder (`runs WS` showed the run twice). Each
    run is listed once, by its folder's own name; a link to a run outside the workspace is listed by the link's name."""
    from tao_automl.cli.main import main
    from tao_automl.experiment.run_folders import workspace_runs

    _random_run(tmp_path / "ws" / "alpha", 2, 1).finish()
    _random_run(tmp_path / "elsewhere", 2, 1).finish()
    (tmp_path / "ws" / "latest").symlink_to(tmp_path / "ws" / "alpha")
    (tmp_path / "ws" / "zz-alpha").symlink_to("alpha")  # a relative link, named after the folder
    (tmp_path / "ws" / "outside").symlink_to(tmp_path / "elsewhere")
    assert workspace_runs(tmp_path / "ws") == ["alpha", "outside"]
    assert main(["runs", "--json", str(tmp_path / "ws")]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["alpha", "outside"]


@pytest.mark.parametrize("digit", ["\u0661", "\uff11"])  # ARABIC-INDIC ONE, FULLWIDTH ONE: isdigit() but not ASCII
def test_a_run_folder_name_stamp_of_non_ascii_digits_is_not_read_as_a_time(tmp_path: Path, digit: str) -> None:
    """The ``run_`` name stamp was accepted when ``str.isdigit`` held, which non-ASCII digits pass: such a folder was
    placed by a "time" no run records (an Arabic-Indic 2099 listed as the newest). Only ASCII digits are a stamp; any
    other name is placed by the start its store records."""
    from tao_automl.experiment.run_folders import workspace_runs

    odd = f"run_{digit * 8}_{digit * 6}_abcdef"
    for name in ("run_20000101_000000_abcdef", odd):
        (tmp_path / "ws" / name).mkdir(parents=True)
        (tmp_path / "ws" / name / "state.db").write_bytes(b"not a database")  # no recorded start: listed first
    assert workspace_runs(tmp_path / "ws") == [odd, "run_20000101_000000_abcdef"]


def test_runs_lists_ask_tell_runs_whatever_their_folder_names(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl runs WS` looked only at ``run_*`` folders, so a workspace of ask/tell runs (their folder is the
    caller's AutoML(workspace=...), any name) listed "no runs" while `resume WS` sent the user to `runs WS`. Every
    folder holding a run's store is a run: listed oldest first, and `status WS` reads the newest of them."""
    from tao_automl.cli.main import main

    for name in ("zeta", "alpha"):  # made in this order: names sort the other way
        automl = _random_run(tmp_path / "ws" / name, 2, 1)
        (rec,) = automl.next_recommendation()
        automl.report_result(rec.id, 1.0)
        automl.finish()
        time.sleep(0.01)
    (tmp_path / "ws" / "notes").mkdir()  # a folder without a run is not one, nor one being set up
    staging = tmp_path / "ws" / ".staging-run_20990101_000000_abcdef"
    staging.mkdir()
    (staging / "state.db").write_bytes((tmp_path / "ws" / "zeta" / "state.db").read_bytes())
    assert main(["runs", "--json", str(tmp_path / "ws")]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["id"] for r in runs] == ["zeta", "alpha"] and all(r["error"] is None for r in runs)
    assert main(["runs", str(tmp_path / "ws")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["zeta", "alpha"]
    assert query_status(tmp_path / "ws")["run_dir"] == str(tmp_path / "ws" / "alpha")  # the newest


def _workspace_with_a_damaged_start(workspace: Path, created_at: str) -> None:
    """Two finished runs, ``good`` and ``bad``, the latter's stored start replaced by ``created_at`` (raw JSON text)."""
    import sqlite3

    for name in ("good", "bad"):
        _random_run(workspace / name, 2, 1).finish()
    conn = sqlite3.connect(workspace / "bad" / "state.db")
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'created_at'", (created_at,))
    conn.close()


@pytest.mark.parametrize("created_at", ["NaN", "1e300", "{not json"])
def test_workspace_runs_list_a_run_whose_recorded_start_is_damaged(tmp_path: Path, created_at: str) -> None:
    """A run whose store records a start that is no time (NaN, a year past any calendar, text that is not JSON) is
    listed first, as an unreadable one is: `runs WS`, `status WS` and the workspace hint of every command raised an
    internal error (ValueError, OverflowError, JSONDecodeError) for the whole workspace."""
    from tao_automl.experiment.run_folders import workspace_runs

    _workspace_with_a_damaged_start(tmp_path / "ws", created_at)
    assert workspace_runs(tmp_path / "ws") == ["bad", "good"]


@pytest.mark.parametrize("created_at", ["NaN", "1e300", "{not json"])
def test_runs_lists_a_run_whose_store_is_damaged_in_strict_json_and_text(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], created_at: str) -> None:
    """`runs WS --json` printed ``"created_at": NaN`` (not JSON) for a run recording a NaN start, and `runs WS`
    ended in a traceback (ValueError, OverflowError; JSONDecodeError for a meta value that is not JSON, in both).
    Such a run is listed, with no start or as unreadable, and the good one beside it as it is."""
    from tao_automl.cli.main import main

    _workspace_with_a_damaged_start(tmp_path / "ws", created_at)
    assert main(["runs", "--json", str(tmp_path / "ws")]) == 0

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    runs = json.loads(capsys.readouterr().out, parse_constant=refuse)["runs"]
    assert [r["id"] for r in runs] == ["bad", "good"]
    assert runs[0]["created_at"] is None and runs[1]["error"] is None and runs[1]["created_at"] > 0
    assert (runs[0]["error"] is not None) == (created_at == "{not json")
    assert main(["runs", str(tmp_path / "ws")]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]] == ["bad", "good"]


def test_a_budget_above_the_spaces_configs_is_said_when_the_run_is_made(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """AutoML with 20 recs on a 3 x 4 int space handed out the 12 configs, then 8 repeats, without a word; the runner
    logs the same note (tao-automl run, AutoMLRunner)."""
    schema = small_schema()
    schema["properties"]["train"]["properties"]["layers"]["maximum"] = 4
    args = {"search_schema": schema, "automl_hyperparameters": ["train.layers", "train.act"], "log_progress": False}
    with caplog.at_level(logging.WARNING, logger="tao_automl"):
        AutoML(workspace=tmp_path / "over", settings={"algorithm": "tpe", "automl_max_recommendations": 20},
               **args).finish()
    said = [r.getMessage() for r in caplog.records if "distinct configs" in r.getMessage()]
    assert said == ["the search space holds 12 distinct configs, fewer than automl_max_recommendations=20: the first "
                    "12 recs try each once, and the last 8 repeat configs that already ran (a repeat is never "
                    "proposed while an untried config remains); lower automl_max_recommendations to 12, or search "
                    "more params or wider ranges"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tao_automl"):
        AutoML(workspace=tmp_path / "fits", settings={"algorithm": "tpe", "automl_max_recommendations": 12},
               **args).finish()
    assert not [r for r in caplog.records if "distinct configs" in r.getMessage()]


def test_finish_with_a_rec_handed_out_and_not_reported_says_it_stays_pending_and_how_to_report_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """finish() with rec 2 handed out and never reported closed the run `stopped` with rec 2 `pending` and no stop
    reason: no view said why a closed run held a pending rec. It stays pending (a resume still takes a result trained
    meanwhile: nothing is lost), and the stop reason of finish(), status and the stored run says so; the resume that
    takes its result clears it, and its own finish() closes the run finished."""
    from tao_automl.cli.main import main

    workspace = tmp_path / "run"
    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 2, "seed": 3}
    automl = AutoML(workspace=workspace, settings=settings, search_schema=small_schema())
    first, second = automl.next_recommendation()
    automl.report_result(first.id, 0.5)
    closed = automl.finish()
    reason = closed["progress"]["stop_reason"]
    assert closed["progress"]["state"] == "stopped" and closed["progress"]["pending"] == 1
    assert reason is not None and f"rec(s) {second.id} handed out" in reason and "resume=True" in reason, reason
    assert query_status(workspace)["progress"]["stop_reason"] == reason
    capsys.readouterr()
    assert main(["status", str(workspace)]) == 0
    assert reason in capsys.readouterr().out
    again = AutoML(workspace=workspace, settings=settings, resume=True)
    assert again.get_status()["progress"]["stop_reason"] is None  # reopened: it no longer holds
    (handed,) = again.next_recommendation()
    assert handed.id == second.id
    again.report_result(second.id, 0.25)
    done = again.finish()["progress"]
    assert done["state"] == "finished" and done["stop_reason"] is None and done["completed"] == 2

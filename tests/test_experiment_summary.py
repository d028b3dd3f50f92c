"""The ask/tell core (:mod:`tao_automl.experiment.core`) and the summary every view of a run shares
(:mod:`tao_automl.experiment.summary`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from conftest import small_schema
from tao_automl.automl import AutoML
from tao_automl.errors import SettingsError, UserInputError, WorkspaceError
from tao_automl.experiment.core import Experiment
from tao_automl.experiment.store import RecRow, RecStatus
from tao_automl.experiment.summary import best_rec, progress, public_json, ranked_recs, rec_dict, summarise
from tao_automl.runner.plan import search_space
from tao_automl.settings import AutoMLSettings


def _row(rec_id: int, status: str, value: float | None = None, budget: int | None = None,
         trial: dict[str, Any] | None = None) -> RecRow:
    return RecRow(rec_id=rec_id, params={"x": rec_id}, specs={}, status=RecStatus(status), job_name=f"j{rec_id}",
                  job_id=None if status == "created" else f"job{rec_id}", results_dir=None, metric_value=value,
                  message=None, trial=trial, created_at=100.0, submitted_at=101.0, finished_at=110.0,
                  updated_at=110.0, budget_reached=budget)


ROWS = [_row(1, "success", 0.5), _row(2, "failure"), _row(3, "success", 0.2), _row(4, "stopped", 0.1),
        _row(5, "running"), _row(6, "created"), _row(7, "success", math.nan)]


def test_ranking_follows_the_direction_and_skips_failures_and_non_numbers() -> None:
    assert [r.rec_id for r in ranked_recs(ROWS, "minimize")] == [4, 3, 1]
    assert [r.rec_id for r in ranked_recs(ROWS, "maximize")] == [1, 3, 4]
    assert best_rec(ROWS, "minimize").rec_id == 3  # type: ignore[union-attr]  # a stopped rec is ranked, never best


def test_multi_fidelity_ranks_the_highest_budget_reached_first() -> None:
    trial = {"budget": 1}
    rows = [_row(1, "success", 0.1, budget=1, trial=trial), _row(2, "success", 0.9, budget=9, trial=trial)]
    assert [r.rec_id for r in ranked_recs(rows, "minimize")] == [2, 1]


def test_progress_counts_every_state_and_the_budget() -> None:
    meta = {"budget": 10, "direction": "minimize", "state": "finished", "created_at": 0.0, "ended_at": 5.0,
            "algorithm": "random", "metric": "loss"}
    got = progress(ROWS, meta)
    assert (got["completed"], got["succeeded"], got["failed"], got["stopped"]) == (5, 3, 1, 1)
    # rec 5 runs, rec 6 is created but not submitted: pending counted both before (running 1, pending 2)
    assert (got["running"], got["pending"], got["total"]) == (1, 1, 10)
    assert got["best_rec_id"] == 3 and got["elapsed_s"] == 5.0 and got["eta_s"] is None


def test_a_queued_and_an_unsubmitted_rec_both_show_pending_and_job_id_tells_them_apart() -> None:
    """README: a rec in flight shows ``pending`` when created or queued on the platform (``job_id`` tells which),
    while ``progress.pending`` counts only the recs without a job."""
    rows = [_row(1, "created"), _row(2, "pending"), _row(3, "running")]
    shown = [rec_dict(r) for r in rows]
    assert [(d["status"], d["job_id"]) for d in shown] == [("pending", None), ("pending", "job2"), ("running", "job3")]
    got = progress(rows, {"budget": 3, "direction": "minimize"})
    assert (got["pending"], got["running"]) == (1, 2)


def test_the_live_line_says_in_flight_when_the_platform_keeps_jobs_queued() -> None:
    """The live line said "2 running" while one of the two jobs waited in Slurm's queue (PENDING): `running` counts
    the recs in flight (README), so the line says so and how many of them are queued, as `progress.queued` does."""
    from tao_automl.experiment.lines import progress_line

    rows = [_row(1, "created"), _row(2, "pending"), _row(3, "running")]
    got = progress(rows, {"budget": 3, "direction": "minimize"})
    assert (got["running"], got["queued"], got["pending"]) == (2, 1, 1)
    assert "[0/3 done | 2 in flight (1 queued) | 0 failed |" in progress_line(got)
    running = progress([_row(1, "running"), _row(2, "running")], {"budget": 3, "direction": "minimize"})
    assert running["queued"] == 0 and "[0/3 done | 2 running | 0 failed |" in progress_line(running)
    assert "| 2 running |" in progress_line({"completed": 0, "total": 3, "running": 2, "failed": 0})  # older runs


def test_summary_lists_every_rec_with_rank_and_active_jobs() -> None:
    summary = summarise(ROWS, {"direction": "minimize", "budget": 7})
    ranks = {r["rec_id"]: r["rank"] for r in summary["recommendations"]}
    assert ranks == {1: 3, 2: None, 3: 2, 4: 1, 5: None, 6: None, 7: None}
    assert summary["best"]["rec_id"] == 3 and [a["rec_id"] for a in summary["active_jobs"]] == [5]
    assert rec_dict(ROWS[5])["status"] == "pending"  # "created" is shown as pending
    assert "history" in summary and "history" not in public_json(summary)


def test_only_the_python_results_carry_history_the_same_list_as_recommendations(tmp_path: Path) -> None:
    """README: "Only the Python results — `run()` and the ask/tell `AutoML.get_status()` / `finish()` — also carry
    `history`, the same list under its older name"; `query_status()` uses the same field names without it."""
    from conftest import write_skill
    from tao_automl import query_status
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    result = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 3},
        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["history"] == result["recommendations"] and len(result["history"]) == 3
    queried = query_status(result["run_dir"], recs="all")
    assert "history" not in queried and queried["recommendations"] == result["recommendations"]
    automl = AutoML(workspace=tmp_path / "ask", settings={"algorithm": "random", "metric": "val_loss",
                                                          "automl_max_recommendations": 2},
                    search_schema=small_schema(), log_progress=False)
    for rec in automl.next_recommendation():
        automl.report_result(rec.id, 0.5)
    status = automl.get_status()
    assert status["history"] == status["recommendations"]
    finished = automl.finish()
    assert finished["history"] == finished["recommendations"]
    assert "history" not in query_status(tmp_path / "ask")


def test_runs_json_carries_the_readmes_counts_as_status_progress_has_them(tmp_path: Path) -> None:
    """README: `tao-automl runs WORKSPACE` "`--json`: each of `completed`, `total`, `succeeded`, `failed`, `stopped`,
    `cancelled`, `running`, `uncollected`, as `status --json`'s progress"."""
    import re

    from conftest import readme_says, write_skill
    from tao_automl import query_status
    from tao_automl.export.runs import list_runs
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    listed, = readme_says(r"`--json`: each of ((?:`\w+`, )+`\w+`), as `status --json`'s progress\)")
    counts = re.findall(r"`(\w+)`", listed)
    assert len(counts) == 8, counts
    result = AutoMLRunner(InstantSDK(fail_every=2), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 4,
                         "automl_fail_fast_after": 0}, workspace_path=tmp_path / "ws", gpu_count=0)
    (entry,) = list_runs(tmp_path / "ws")
    progress = query_status(result["run_dir"])["progress"]
    assert {key: entry[key] for key in counts} == {key: progress[key] for key in counts}
    assert (entry["completed"], entry["total"], entry["succeeded"], entry["failed"]) == (4, 4, 2, 2)


def _experiment(tmp_path: Path, **settings: Any) -> Experiment:
    space = search_space(small_schema(), AutoMLSettings(), None, None)
    tmp_path.mkdir(parents=True, exist_ok=True)
    conf = AutoMLSettings.from_mapping({"algorithm": "random", "automl_max_recommendations": 4, **settings})
    return Experiment.create(tmp_path, space, conf, "minimize", {"train": {"num_epochs": 1}}, {"mode": "ask_tell"})


def test_a_rec_is_persisted_before_it_is_handed_out_and_a_result_before_the_brain_learns(tmp_path: Path) -> None:
    exp = _experiment(tmp_path)
    (rec,) = exp.ask(1)
    assert exp.store.rec(rec.id).status == RecStatus.CREATED  # type: ignore[union-attr]
    assert rec.specs["train"]["num_epochs"] == 1 and rec.trial is not None
    row = exp.tell(rec.id, math.inf)
    assert row.status == RecStatus.FAILURE and "not a finite number" in (row.message or "")
    assert exp.store.rec(rec.id).status.is_final  # type: ignore[union-attr]
    exp.close("stopped")


def test_the_budget_is_never_exceeded_and_results_are_told_once(tmp_path: Path) -> None:
    exp = _experiment(tmp_path)
    asked = exp.ask(10)
    assert len(asked) == 4 and exp.ask(1) == []
    for rec in asked:
        exp.tell(rec.id, float(rec.id))
    with pytest.raises(UserInputError, match="rec_id: rec 1 already ended"):
        exp.tell(1, 0.0)
    with pytest.raises(UserInputError, match=r"rec_id: 99 is not a rec of this run; known: 1\.\.4"):
        exp.tell(99, 0.0)
    assert exp.is_complete()
    live = exp.progress()
    full = summarise(exp.store.recs(), exp.store.meta())["progress"]
    for key in ("completed", "succeeded", "failed", "best_metric", "best_rec_id", "total"):
        assert live[key] == full[key], key  # the incremental view agrees with a full recount
    exp.close("finished")


def test_reopening_checks_settings_drift_and_takes_a_bigger_budget(tmp_path: Path) -> None:
    exp = _experiment(tmp_path)
    for rec in exp.ask(2):
        exp.tell(rec.id, 1.0)
    exp.close("stopped")
    with pytest.raises(WorkspaceError, match="settings differ"):
        Experiment.open(tmp_path, AutoMLSettings(algorithm="random", automl_max_recommendations=4, seed=9))
    with pytest.raises(SettingsError) as info:  # below the 2 recs the run has: refused, nothing changed
        Experiment.open(tmp_path, AutoMLSettings(algorithm="random", automl_max_recommendations=1))
    assert info.value.exit_code == 2 and info.value.field == "automl_settings.automl_max_recommendations"
    assert info.value.value == 1 and "below the 2 recs" in str(info.value) and info.value.allowed == "an integer >= 2"
    reopened = Experiment.open(tmp_path, AutoMLSettings(algorithm="random", automl_max_recommendations=2))
    assert reopened.budget == 2 and reopened.store.meta()["budget"] == 2  # exactly what it has: allowed
    reopened.close("stopped")
    reopened = Experiment.open(tmp_path, AutoMLSettings(algorithm="random", automl_max_recommendations=6))
    assert reopened.budget == 6 and len(reopened.recs()) == 2
    assert [e["kind"] for e in reopened.store.events("settings_changed")] == ["settings_changed"] * 2
    reopened.close("stopped")
    # llm_fallback is a policy (SKILL.md's advice for llm_failure): a resume may change it
    again = Experiment.open(tmp_path, AutoMLSettings(algorithm="random", automl_max_recommendations=6,
                                                     llm_fallback="bayesian"))
    assert again.settings.llm_fallback == "bayesian"
    assert again.store.meta()["settings"]["llm_fallback"] == "bayesian"
    again.close("stopped")


def test_ask_tell_api_refuses_a_bad_status_or_metric(tmp_path: Path) -> None:
    automl = AutoML(tmp_path / "run", settings={"algorithm": "random"}, search_schema=small_schema())
    (rec, *_) = automl.next_recommendation()
    with pytest.raises(UserInputError, match="status: 'done' is not allowed"):
        automl.report_result(rec.id, 1.0, status="done")
    with pytest.raises(UserInputError, match="metric: 'high' is not allowed; expected a number"):
        automl.report_result(rec.id, "high")  # type: ignore[arg-type]
    automl.report_result(rec.id, 0.5)
    automl.finish()


@pytest.mark.parametrize("kwargs", [{"automl_hyperparameters": ["train.nope"]},
                                    {"train_specs": {"train": {"x": object()}}},
                                    {"settings": {"algorithm": "random", "seed": object()}},
                                    {"custom_param_ranges": {"train.layers": {"valid_min": 9}}}])
def test_ask_tell_api_refuses_bad_input_before_the_folder_exists(kwargs: dict[str, Any], tmp_path: Path) -> None:
    call = {"search_schema": small_schema(), "settings": {"algorithm": "random"}, **kwargs}
    with pytest.raises(UserInputError):
        AutoML(tmp_path / "run", **call)
    assert not (tmp_path / "run").exists()


def test_recs_in_flight_of_a_run_no_orchestrator_follows_are_shown_as_last_seen(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The orchestrator stopped (or died) with a rec in flight: status shows it as last seen then, its wall time
    up to then and ``last_seen_at`` (its job may have ended since), instead of a wall time that keeps growing."""
    import time

    from tao_automl.cli.main import main
    from tao_automl.experiment.store import RunStore
    from tao_automl.status import query_status

    store = RunStore(tmp_path)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 2, "state": "running"})
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    store.finish_rec(1, "success", 0.5, None)
    store.add_rec(2, {"lr": 0.2}, {}, "job-2")
    submitted = store.mark_submitted(2, "job-2", str(tmp_path / "r2"), status="running")
    time.sleep(0.3)
    stopped = time.time()
    store.set_meta({"state": "interrupted", "ended_at": stopped})
    store.close()
    time.sleep(0.5)
    status = query_status(tmp_path, recs="all")
    rec = {r["rec_id"]: r for r in status["recommendations"]}
    assert rec[2]["status"] == "running" and rec[2]["last_seen_at"] == stopped
    assert rec[2]["wall_time_s"] == pytest.approx(stopped - submitted, abs=1e-3)  # not now - submitted (0.8 s)
    assert rec[1]["last_seen_at"] is None  # ended: seen to its end
    assert [a["last_seen_at"] for a in status["active_jobs"]] == [stopped]
    assert main(["status", str(tmp_path)]) == 0
    assert "as last recorded by the orchestrator" in capsys.readouterr().out


def test_a_killed_orchestrators_recs_in_flight_are_not_said_to_be_seen_when_it_stopped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An orchestrator killed long after its last recorded event (a rec started at 13:30, killed at 14:00): status
    said "as last seen when the orchestrator stopped (13:30)", a time it was still running; it has no end time."""
    from tao_automl.cli.main import main
    from tao_automl.experiment.store import RunStore

    store = RunStore(tmp_path)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 2, "state": "running"})
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    store.mark_submitted(1, "job-1", str(tmp_path / "r1"), status="running")
    store.close()  # then killed: no ended_at, no lock holder
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "orchestrator ended without closing the run" in out
    assert "when the orchestrator stopped" not in out and "as last recorded by the orchestrator (" in out


def test_status_says_how_a_copy_or_a_python_run_collects_its_ended_jobs() -> None:
    """`status` of a copied run said its stale jobs' results are collected by `tao-automl resume COPY`, which
    refuses a copy whose original exists (the next line said to resume the original)."""
    from tao_automl.experiment.lines import continue_with, orchestrator_line

    copy = {"alive": False, "copy_of": "/runs/original run"}
    said = continue_with(copy, "/copies/run_1")
    assert said == "`tao-automl resume '/runs/original run'`"
    assert said.strip("`") in orchestrator_line(copy, "/copies/run_1", {"total": 2, "completed": 1, "running": 1})
    assert continue_with({}, "/runs/run_1") == "`tao-automl resume /runs/run_1`"
    assert "AutoML('/runs/run_1', ..., resume=True)" in continue_with({"mode": "ask_tell"}, "/runs/run_1")
    assert "AutoMLRunner(sdk" in continue_with({"platform_class": "MySDK"}, "/runs/run_1")


def test_status_does_not_call_running_a_rec_whose_job_is_known_to_have_ended(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`stop --cancel-jobs` on a killed run found rec 1's job ended (a job_ended_uncollected event); the store keeps
    the rec in flight until a resume collects it (only an orchestrator records results). status showed it
    `running` (its rec, its active job, progress.running) though its job had ended: it is shown
    `ended_uncollected` in JSON and text, counted in progress.uncollected, and the store is left as it was."""
    from store_helpers import killed_run_whose_jobs_ended
    from tao_automl.cli.main import main
    from tao_automl.experiment.store import RunStore
    from tao_automl.status import query_status

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_whose_jobs_ended(run_dir)
    status = query_status(run_dir, recs="all")
    assert [(r["rec_id"], r["status"]) for r in status["recommendations"]] == [(1, "ended_uncollected"),
                                                                               (2, "running")]
    assert [(a["rec_id"], a["status"], a["job_ended"]) for a in status["active_jobs"]] == [
        (1, "ended_uncollected", True), (2, "running", False)]
    assert (status["progress"]["running"], status["progress"]["uncollected"]) == (1, 1)
    assert main(["status", str(run_dir), "--recs", "all"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[2:4]]
    assert [row[1:3] for row in rows] == [["1", "ended_uncollected"], ["2", "running"]]
    assert "0/3 recs done: 0 succeeded, 0 failed, 0 stopped, 0 cancelled, 1 ended uncollected (resume collects" \
        in out
    reread = RunStore(run_dir, readonly=True)
    assert [r.status for r in reread.recs()] == ["running", "running"]  # status wrote nothing


def test_status_and_runs_json_have_the_same_keys_in_every_state(tmp_path: Path) -> None:
    """An agent reading `status --json` met keys that came and went: `progress.stop_reason` only in failed or
    killed runs, `orchestrator.new_run_needed` only when true, `active_jobs[].last_seen_at` only with no
    orchestrator, and a `runs` entry of an unreadable run had no `state` (KeyError). Each is now always there (null
    or false when it does not apply)."""
    from tao_automl.experiment.store import DB_NAME, RunStore
    from tao_automl.export.runs import RUN_KEYS, list_runs
    from tao_automl.status import query_status

    shapes = {}
    for state, reason in [("running", None), ("finished", None), ("failed", "every rec failed"),
                          ("stopped", None)]:
        run_dir = tmp_path / "ws" / f"run_{state}"
        run_dir.mkdir(parents=True)
        store = RunStore(run_dir)
        store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 3, "state": state,
                        "stop_reason": reason})
        store.add_rec(1, {"lr": 0.1}, {}, "job-1")
        store.finish_rec(1, "success" if state != "failed" else "failure", 0.5 if state != "failed" else None, None)
        store.add_rec(2, {"lr": 0.2}, {}, "job-2")
        store.mark_submitted(2, "job-2", str(run_dir / "r2"), status="running")
        store.close()
        status = query_status(run_dir, recs="all")
        shapes[state] = (sorted(status["progress"]), sorted(status["orchestrator"]),
                         [sorted(a) for a in status["active_jobs"]], [sorted(r) for r in status["recommendations"]])
    assert all(shape == shapes["running"] for shape in shapes.values()), shapes
    assert {"stop_reason", "algorithm_choice"} <= set(shapes["running"][0])
    assert "new_run_needed" in shapes["running"][1]
    assert {"last_seen_at", "job_ended", "pending_reason"} <= set(shapes["running"][2][0])
    (tmp_path / "ws" / "run_broken").mkdir()
    (tmp_path / "ws" / "run_broken" / DB_NAME).write_bytes(b"not a database" * 100)
    entries = list_runs(tmp_path / "ws")
    assert [e["error"] is not None for e in entries] == [True, False, False, False, False]
    assert all(tuple(e) == RUN_KEYS for e in entries)

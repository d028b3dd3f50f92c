"""``status --watch`` of a run a plain ``stop`` interrupted: exit 1 (it did not finish), but its error says what
happened (interrupted, its best so far, how to continue), never that the sweep ended without a result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tao_automl.cli.main import main


def _stopped_with_a_best(run_dir: Path) -> None:
    """A run's store as a plain `tao-automl stop` leaves it: rec 1 succeeded, rec 2 in flight, state interrupted."""
    from tao_automl.experiment.store import RecStatus, RunStore

    run_dir.mkdir(parents=True)
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 4, "state": "interrupted",
                    "mode": "runner"})
    for rec_id in (1, 2):
        store.add_rec(rec_id, {"lr": 0.1 * rec_id}, {}, f"job-{rec_id}")
        store.mark_submitted(rec_id, f"job-{rec_id}", str(run_dir / f"r{rec_id}"), status="running")
    store.finish_rec(1, RecStatus.SUCCESS, 0.25, None)
    store.close()


def test_watch_of_a_stopped_run_with_a_best_says_it_was_interrupted(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    _stopped_with_a_best(run_dir)
    assert main(["status", str(run_dir), "--watch"]) == 1
    err = capsys.readouterr().err
    assert "without a result" not in err, err
    assert "interrupted" in err and "val_loss=0.25 (rec 1)" in err, err

    assert main(["status", str(run_dir), "--watch", "--json"]) == 1
    error = json.loads(capsys.readouterr().out.splitlines()[-1])["error"]
    assert "without a result" not in error["message"] and error["kind"] == "interrupted", error
    assert f"tao-automl resume {run_dir}" in error["hint"], error


def test_watch_of_a_killed_run_offers_a_resume_only_where_status_does(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Killed after the last rec of its budget ended (before it closed the run): --watch says what status says (it
    offered `tao-automl resume` to continue whenever the orchestrator was gone): a resume launches nothing, it only
    closes the run."""
    from tao_automl.experiment.store import RecStatus, RunStore

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 1, "state": "running", "mode": "runner"})
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    store.mark_submitted(1, "job-1", str(run_dir / "r1"), status="running")
    store.finish_rec(1, RecStatus.SUCCESS, 0.25, None)
    store.close()
    main(["status", str(run_dir)])
    said = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("orchestrator:"))
    assert "launches nothing, it only closes the run" in said and "nothing to resume" not in said, said
    assert main(["status", str(run_dir), "--watch"]) == 1
    gone = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("the orchestrator is gone"))
    assert gone.endswith(said.removeprefix("orchestrator: not running (").removesuffix(")")), gone


def test_watch_of_a_run_killed_with_recs_in_flight_does_not_call_them_cancelled(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its orchestrator killed while its first two recs ran (no rec ended): the last line of `status --watch --json`
    hinted "its recs were cancelled before a result", though nothing was cancelled and both jobs may still run. The
    hint says now that they are in flight and that a resume collects them."""
    from tao_automl.experiment.store import RunStore

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 4, "state": "running", "mode": "runner"})
    for rec_id in (1, 2):
        store.add_rec(rec_id, {"lr": 0.1 * rec_id}, {}, f"job-{rec_id}")
        store.mark_submitted(rec_id, f"job-{rec_id}", str(run_dir / f"r{rec_id}"), status="running")
    store.close()
    assert main(["status", str(run_dir), "--watch", "--json"]) == 1
    error = json.loads(capsys.readouterr().out.splitlines()[-1])["error"]
    assert "cancelled" not in error["hint"], error
    assert "2 rec(s) in flight" in error["hint"] and f"tao-automl resume {run_dir}" in error["hint"], error


def test_a_copy_of_a_run_left_open_with_its_budget_spent_says_what_resume_of_it_does(tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]
                                                                                   ) -> None:
    """A copy (its original still there) of a run left open with its budget spent: status, --watch and stop said
    "nothing to resume" / "nothing to continue" while `resume COPY` refuses it as a copy and the copy stays open.
    Each view says that now: `resume COPY` refuses a copy; moved away from its original, a resume only closes it."""
    import shutil

    from agent_helpers import cli, demo_config
    from tao_automl.experiment.store import RunStore

    done = cli("run", str(demo_config(tmp_path, recs=1, epochs=1)), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    original = json.loads(done.stdout)["run_dir"]
    store = RunStore(Path(original))
    store.set_meta({"state": "interrupted", "ended_at": None})  # its orchestrator killed after its last rec ended
    store.close()
    copy = str(tmp_path / "copy")
    shutil.copytree(original, copy)
    main(["status", copy])
    said = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("orchestrator:"))
    assert "nothing to resume" not in said and f"a copy of the run at {original}" in said, said
    assert f"`tao-automl resume {copy}` refuses a copy" in said and "it only closes the run" in said, said
    assert main(["status", copy, "--watch", "--json"]) == 1
    error = json.loads(capsys.readouterr().out.splitlines()[-1])["error"]
    assert error["hint"] == said.removeprefix("orchestrator: not running (").removesuffix(")"), error
    stopped = cli("stop", copy)
    assert f"nothing to continue: {error['hint']}" in stopped.stdout, stopped.stdout
    refused = cli("resume", copy)  # what the line says it does
    assert refused.returncode == 2 and "it is a copy of the run at" in refused.stderr, refused.stderr
    moved = str(tmp_path / "moved")
    shutil.rmtree(original)
    shutil.move(copy, moved)
    closed = cli("resume", moved, "--json")
    assert closed.returncode == 0, closed.stderr[-2000:]
    assert json.loads(closed.stdout)["progress"]["state"] == "finished"


def test_stop_and_status_of_a_spent_run_left_open_on_an_unrebuildable_platform_name_the_resume_that_closes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run made from Python on a platform `tao-automl resume` cannot rebuild (InstantSDK), left open with its budget
    spent: `stop` said "continue from Python: ... `tao-automl resume` cannot rebuild" and status named only the Python
    call, though nothing is left to continue and `tao-automl resume RUN` closes it (it needs no platform). Both say so
    now, and stop --json marks it left_open."""
    from conftest import write_skill
    from tao_automl.experiment.store import RunStore
    from tao_automl.runner import AutoMLRunner
    from tao_automl.testing.instant import InstantSDK

    settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2}
    run_dir = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank")).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)["run_dir"]
    store = RunStore(Path(run_dir))  # as its process leaves it when killed after the last rec ended
    store.set_meta({"state": "interrupted", "ended_at": None})
    store.close()
    capsys.readouterr()
    assert main(["status", str(run_dir)]) == 0
    said = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("orchestrator:"))
    assert f"`tao-automl resume {run_dir}`" in said and "launches nothing, it only closes the run" in said, said
    assert main(["stop", str(run_dir)]) == 0
    stopped = capsys.readouterr().out
    assert "continue from Python" not in stopped, stopped
    assert f"nothing to continue: {said.removeprefix('orchestrator: not running (').removesuffix(')')}" in stopped
    assert main(["stop", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["left_open"] is True
    assert main(["resume", str(run_dir)]) == 0  # the resume status names closes it
    assert "now closed, state finished" in capsys.readouterr().err


def test_the_stop_reason_of_a_custom_sdk_run_killed_after_its_last_rec_says_a_resume_only_closes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run made from Python on InstantSDK whose orchestrator was killed (state still ``running``) after its last rec
    ended: its shown stop reason said "AutoMLRunner(sdk, ...) continues it" though its budget is spent and the
    orchestrator line says `tao-automl resume RUN` only closes it. status and export say the same now."""
    from conftest import write_skill
    from tao_automl.experiment.holder import ORCHESTRATOR_LOST
    from tao_automl.experiment.store import RunStore
    from tao_automl.export.run_data import load_run
    from tao_automl.runner import AutoMLRunner
    from tao_automl.testing.instant import InstantSDK

    settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2}
    run_dir = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank")).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)["run_dir"]
    store = RunStore(Path(run_dir))  # as a kill -9 after the last rec ended leaves it
    store.set_meta({"state": "running", "ended_at": None, "stop_reason": None})
    store.close()
    capsys.readouterr()
    assert main(["status", str(run_dir), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    reason = status["progress"]["stop_reason"]
    assert reason.startswith(ORCHESTRATOR_LOST) and "continues it" not in reason, reason
    assert main(["status", str(run_dir)]) == 0
    said = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("orchestrator:"))
    assert reason.endswith(said.removeprefix("orchestrator: not running (").removesuffix(")")), (reason, said)
    assert load_run(run_dir).meta["stop_reason"] == reason  # export reads it as status does

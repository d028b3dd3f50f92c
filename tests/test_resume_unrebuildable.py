"""Resuming a run left open with its budget spent whose model folder has since moved or been deleted.

Real runs of the built-in demo network on the local platform, from a copy of its skill folder that is removed once
the run has ended; the CLI runs as a subprocess, MCP's ``resume_sweep`` in process.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_helpers import cli, demo_config, status_json
from tao_automl.bank import builtin_skill_dir
from tao_automl.experiment.store import RunStore


def _left_open_without_its_skill(tmp_path: Path) -> str:
    """A one-rec run that succeeded, stored as an orchestrator killed after its last rec ended leaves it (state
    ``interrupted``, not closed), its skill folder deleted since: the run folder."""
    skill = tmp_path / "skill"
    shutil.copytree(builtin_skill_dir("demo-digits-mlp"), skill)
    config = demo_config(tmp_path, recs=1, epochs=1)
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "skill_dir": str(skill)}))
    done = cli("run", str(config), "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run_dir = str(json.loads(done.stdout)["run_dir"])
    _reopen(run_dir)
    shutil.rmtree(skill)
    return run_dir


def _reopen(run_dir: str) -> None:
    """The run's store and status.json as its orchestrator, killed after its last rec ended, leaves them (this one
    wrote no snapshot before it died)."""
    store = RunStore(Path(run_dir))
    store.set_meta({"state": "interrupted", "ended_at": None})
    store.close()
    Path(run_dir, "status.json").unlink(missing_ok=True)


def test_resume_closes_a_spent_run_whose_skill_is_gone_as_status_says_in_every_entry(tmp_path: Path) -> None:
    """`status` said "`tao-automl resume RUN` launches nothing, it only closes the run" while `resume` refused with
    the skill error (exit 2): rebuilding the runner failed, and nothing_to_resume answered None for an interrupted
    run. `resume`, `resume --detach` and MCP resume_sweep each close it now (finished: its rec has a result; exit 0)
    with no orchestrator and no skill, and say so."""
    from tao_automl.agentapi.tools import call_tool

    run_dir = _left_open_without_its_skill(tmp_path)
    line = next(x for x in cli("status", run_dir).stdout.splitlines() if x.startswith("orchestrator:"))
    assert "launches nothing, it only closes the run" in line, line

    closed = cli("resume", run_dir)
    assert closed.returncode == 0, closed.stderr[-2000:]
    assert closed.stdout.strip() == run_dir and "now closed, state finished" in closed.stderr, closed.stderr
    assert status_json(run_dir)["progress"]["state"] == "finished"
    snapshot = json.loads(Path(run_dir, "status.json").read_text())  # as a resume leaves it: the run closed
    assert snapshot["progress"]["state"] == "finished" and snapshot["orchestrator"]["alive"] is False
    again = cli("resume", run_dir, "--json")  # closed: nothing to resume, as for any run whose budget was spent
    assert again.returncode == 0 and "nothing to resume" in json.loads(again.stdout)["note"], again.stdout

    _reopen(run_dir)
    detached = cli("resume", run_dir, "--detach", "--json")
    assert detached.returncode == 0, detached.stdout + detached.stderr[-2000:]
    report = json.loads(detached.stdout)
    assert report["detached"] is False and report["pid"] is None and "now closed" in report["note"], report
    assert status_json(run_dir)["progress"]["state"] == "finished"

    _reopen(run_dir)
    result, is_error = call_tool("resume_sweep", {"run_dir": run_dir})
    assert not is_error and result["detached"] is False and "now closed" in result["note"], result
    assert status_json(run_dir)["progress"]["state"] == "finished"
    assert not Path(run_dir, "orchestrator.log").exists()  # no orchestrator was ever started for it


def test_a_spent_run_whose_skill_is_gone_and_no_rec_succeeded_closes_failed_exit_1(tmp_path: Path) -> None:
    """Its only rec cancelled (`stop --cancel-jobs` ended it): closed `failed` with the no-result stop reason, and
    `resume` exits 1 as for any run without a result."""
    run_dir = _left_open_without_its_skill(tmp_path)
    store = RunStore(Path(run_dir))
    store.finish_rec(1, "cancelled", None, "cancelled by `tao-automl stop --cancel-jobs`")
    store.close()
    closed = cli("resume", run_dir, "--json")
    assert closed.returncode == 1, closed.stdout + closed.stderr[-2000:]
    assert json.loads(closed.stdout)["error"]["kind"] == "no_result"
    final = status_json(run_dir)["progress"]
    assert final["state"] == "failed" and final.get("stop_reason"), final


def test_a_run_closed_by_another_resume_while_this_one_looked_is_not_closed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (an orchestrator a `resume --detach` started, or another `resume`) closed the run between this
    resume's look at it (open, budget spent, runner not rebuildable) and its taking the run's lock: the run was
    reopened and closed a second time (a run_resumed and a run_finished event more) and the answer said "the run was
    left open and is now closed". Found closed under the lock, it is left as it is, and the answer says nothing was
    left to resume."""
    from tao_automl.runner import close_spent

    run_dir = _left_open_without_its_skill(tmp_path)
    real = close_spent._rebuilt

    def closed_meanwhile(folder: Path, meta: dict[str, Any]) -> Any:
        answer = real(folder, meta)
        close_spent._close(folder, None)  # the other process's close, done before this one takes the lock
        return answer

    monkeypatch.setattr(close_spent, "_rebuilt", closed_meanwhile)
    store = RunStore(Path(run_dir), readonly=True)
    before = store.events("run_resumed")
    store.close()
    note = close_spent.close_without_runner(run_dir)
    store = RunStore(Path(run_dir), readonly=True)
    after = store.events("run_resumed")
    store.close()
    assert note is not None and note.startswith("nothing to resume") and "now closed" not in note, note
    assert len(after) == len(before) + 1, after  # the other process's reopening alone
    assert status_json(run_dir)["progress"]["state"] == "finished"


def _instant_run_left_open(tmp_path: Path) -> Path:
    """A one-rec run that succeeded (in process, no job), stored as an orchestrator killed after its last rec ended
    leaves it."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    run = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_acc"), write_skill(tmp_path / "bank"),
                       log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_acc", "automl_max_recommendations": 1},
        workspace_path=tmp_path / "ws", gpu_count=0)
    _reopen(run["run_dir"])
    return Path(run["run_dir"])


def test_a_tracker_failing_in_the_close_without_runner_loses_nothing(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """close_complete called its trackers' end hook unguarded: a Ctrl-C landing in a tracker's end call (held until
    it returns) left the run open, its end never stored, while the sweep loop stores it after such a Ctrl-C. Now
    the end is stored first, then the interrupt raised; a tracker raising an error is recorded and the close goes
    on, as in the sweep."""
    import os
    import signal

    from tao_automl.runner import close_spent, loop
    from tao_automl.tracking.base import ObserverSet

    class Broken:
        def sweep_started(self, run_dir: Path) -> None:
            pass

        def rec_finished(self, run_dir: Path, rec_id: int) -> None:
            pass

        def sweep_ended(self, run_dir: Path, state: str) -> None:
            raise RuntimeError("tracking server gone")

    class CtrlC(Broken):
        def sweep_ended(self, run_dir: Path, state: str) -> None:
            os.kill(os.getpid(), signal.SIGINT)

    folders = {name: _instant_run_left_open(tmp_path / name) for name in ("broken", "ctrl_c")}
    for tracker, name in ((Broken(), "broken"), (CtrlC(), "ctrl_c")):
        folder = folders[name]
        monkeypatch.setattr(loop, "stored_trackers",
                            lambda exp, t=tracker: ObserverSet([t], record=exp.record_tracking_errors))
        if isinstance(tracker, CtrlC):
            with pytest.raises(KeyboardInterrupt):
                close_spent._close(folder, None)
        else:
            assert close_spent._close(folder, None)["progress"]["state"] == "finished"
        status = status_json(str(folder))
        assert status["progress"]["state"] == "finished", (name, status["progress"])
        if name == "broken":
            assert "tracking server gone" in status["tracking_errors"]["Broken"]["first"], status["tracking_errors"]


def _mlflow_run_left_open_without_its_skill(tmp_path: Path) -> tuple[str, Callable[[], str]]:
    """A finished one-rec MLflow-tracked run reopened as a killed orchestrator leaves it (its MLflow sweep run
    RUNNING), its skill folder deleted: the run folder, and a reader of its MLflow sweep run's status."""
    from mlflow.tracking import MlflowClient

    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    skill = tmp_path / "skill"
    shutil.copytree(builtin_skill_dir("demo-digits-mlp"), skill)
    config = demo_config(tmp_path, recs=1, epochs=1)
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "skill_dir": str(skill),
                                      "mlflow_config": {"tracking_uri": db, "experiment": "hpo"}}))
    done = cli("run", str(config), "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run_dir = str(json.loads(done.stdout)["run_dir"])
    client = MlflowClient(tracking_uri=db)
    (experiment,) = [e for e in client.search_experiments() if e.name == "hpo"]
    (sweep,) = client.search_runs([experiment.experiment_id], filter_string="tags.`tao_automl.role` = 'sweep'")
    client.update_run(sweep.info.run_id, status="RUNNING")  # as the killed orchestrator left it
    _reopen(run_dir)
    shutil.rmtree(skill)
    return run_dir, lambda: str(client.get_run(sweep.info.run_id).info.status)


def test_closing_a_spent_run_without_its_runner_ends_its_mlflow_sweep_as_a_resume_does(tmp_path: Path) -> None:
    """An MLflow-tracked run whose orchestrator was killed after its last rec ended leaves its MLflow sweep run
    RUNNING; a resume ends it (sweep_ended: FINISHED, the best rec's values). Closed without its runner (skill
    gone), the run said finished while its MLflow sweep stayed RUNNING for good: the trackers were never told.
    They are told now, as a resume tells them (they need neither skill nor platform)."""
    run_dir, sweep_status = _mlflow_run_left_open_without_its_skill(tmp_path)
    closed = cli("resume", run_dir)
    assert closed.returncode == 0 and "now closed, state finished" in closed.stderr, closed.stderr[-2000:]
    assert sweep_status() == "FINISHED"


def test_a_kill_once_the_close_without_runner_stored_the_end_leaves_no_mlflow_sweep_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The close told the trackers the sweep ended only after the run's end was stored: a kill in between
    (``TAO_AUTOML_CRASH_AT=spent_closed``) left the run finished and its MLflow sweep RUNNING for good, since the
    next resume found the run closed and told nobody. The trackers are told first now: the kill leaves them told."""
    run_dir, sweep_status = _mlflow_run_left_open_without_its_skill(tmp_path)
    monkeypatch.setenv("TAO_AUTOML_CRASH_AT", "spent_closed")
    assert cli("resume", run_dir).returncode == -9
    monkeypatch.delenv("TAO_AUTOML_CRASH_AT")
    assert status_json(run_dir)["progress"]["state"] == "finished"
    again = cli("resume", run_dir)
    assert again.returncode == 0 and "nothing to resume" in again.stderr, again.stderr[-2000:]
    assert sweep_status() == "FINISHED"
    # the kill came before the close's last status.json: the resume rewrote it as `status --json` reads the run
    snapshot = json.loads((Path(run_dir) / "status.json").read_text())
    shown = status_json(run_dir)
    assert snapshot["progress"] == shown["progress"] and snapshot["progress"]["state"] == "finished", snapshot
    assert not snapshot["orchestrator"]["alive"] and snapshot["resumable"] == shown["resumable"], snapshot

"""A sweep killed (SIGKILL) at the end of its run: between storing the run's end (finished/failed) and what comes
after it (its trackers told, status.json written). Real runs: the built-in demo network on the local platform
through the CLI, the toy skill in process, and ask/tell in a subprocess; MLflow on a real sqlite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_helpers import cli, demo_config, status_json
from conftest import small_schema
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner

SRC = Path(__file__).resolve().parents[1] / "src"


def _mlflow_sweep(db: str) -> Callable[[], str]:
    """A reader of the status of the one MLflow sweep run of experiment ``hpo`` in ``db``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=db)
    (experiment,) = [e for e in client.search_experiments() if e.name == "hpo"]
    (sweep,) = client.search_runs([experiment.experiment_id], filter_string="tags.`tao_automl.role` = 'sweep'")
    return lambda: str(client.get_run(sweep.info.run_id).info.status)


def _killed_at_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str = "run_ended", recs: int = 1,
                       settings: dict[str, Any] | None = None, **config: Any) -> str:
    """A demo run of ``recs`` recs (``settings`` added to its automl_settings, ``config`` to its run config) killed at
    the crash point ``point``: its run folder."""
    path = demo_config(tmp_path, recs=recs, epochs=1, **(settings or {}))
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **config}))
    monkeypatch.setenv("TAO_AUTOML_CRASH_AT", point)
    killed = cli("run", str(path))
    monkeypatch.delenv("TAO_AUTOML_CRASH_AT")
    assert killed.returncode == -9, killed.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").glob("run_*")
    return str(run_dir)


def test_a_kill_once_the_sweep_stored_its_end_leaves_no_mlflow_sweep_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep loop told W&B/MLflow the sweep ended only after the run's end was stored: a kill in between
    (``TAO_AUTOML_CRASH_AT=run_ended``) left the run finished and its MLflow sweep RUNNING for good, since the next
    resume found the run closed ("nothing to resume") and told nobody. They are told before the end is stored."""
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_dir = _killed_at_its_end(tmp_path, monkeypatch, mlflow_config={"tracking_uri": db, "experiment": "hpo"})
    assert status_json(run_dir)["progress"]["state"] == "finished"
    sweep_status = _mlflow_sweep(db)
    assert sweep_status() == "FINISHED"
    again = cli("resume", run_dir, "--detach", "--json")  # answers "nothing to resume": no runner, no tracker
    assert again.returncode == 0 and "nothing to resume" in json.loads(again.stdout)["note"], again.stderr[-2000:]
    assert sweep_status() == "FINISHED"


class _EndSeen:
    """An observer that records each sweep end it is told and the run's stored state at that moment."""

    def __init__(self) -> None:
        self.ends: list[tuple[str, str]] = []

    def sweep_started(self, run_dir: Path) -> None:
        pass

    def rec_finished(self, run_dir: Path, rec_id: int) -> None:
        pass

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        store = RunStore(run_dir, readonly=True)
        try:
            self.ends.append((state, str(store.meta().get("state"))))
        finally:
            store.close()


def test_the_trackers_hear_a_sweep_end_once_before_it_is_stored(toy_skill: Path, tmp_path: Path) -> None:
    """A run, then a resume with nothing left to run: each tells its trackers the end once, while the store still
    holds the run open (a kill after the end is stored finds them told)."""
    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2,
                "automl_max_concurrent": 2, "poll_interval_s": 0.2}
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    seen = _EndSeen()
    result = runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", observers=[seen], gpu_count=0)
    assert result["progress"]["state"] == "finished"
    assert seen.ends == [("finished", "running")]
    again = _EndSeen()
    resumed = runner.run(workspace_path=result["run_dir"], resume=True, observers=[again])
    assert resumed["progress"]["state"] == "finished"
    assert again.ends == [("finished", "running")]



class _CtrlCAtEnd(_EndSeen):
    """An observer whose sweep end call is interrupted (a Ctrl-C while W&B/MLflow is told)."""

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        super().sweep_ended(run_dir, state)
        raise KeyboardInterrupt


def test_a_ctrl_c_while_the_trackers_hear_a_resume_s_end_still_closes_the_run_as_it_ended(
        toy_skill: Path, tmp_path: Path) -> None:
    """A resume with nothing left to run reopens the finished run (stored running), tells the trackers its end, then
    stores it again. A Ctrl-C in the trackers' call left it stored running, so `status` showed the finished run as
    interrupted and the next resume ended it anew (a new end time). As in a sweep's own end, the run is closed as
    it had ended (same state and end time) and the Ctrl-C still reaches the caller."""
    from tao_automl.errors import SweepInterrupted

    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2,
                "automl_max_concurrent": 2, "poll_interval_s": 0.2}
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    store = RunStore(Path(result["run_dir"]), readonly=True)
    ended = store.meta()
    store.close()
    assert ended["state"] == "finished"
    interrupted = _CtrlCAtEnd()
    with pytest.raises(SweepInterrupted):
        runner.run(workspace_path=result["run_dir"], resume=True, observers=[interrupted])
    assert interrupted.ends == [("finished", "running")]
    store = RunStore(Path(result["run_dir"]), readonly=True)
    after = store.meta()
    store.close()
    assert (after["state"], after["ended_at"]) == ("finished", ended["ended_at"]), after

ASK_TELL = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {src!r})
    from tao_automl import AutoML
    automl = AutoML({ws!r}, search_schema=json.loads({schema!r}), settings={settings!r}, log_progress=False,
                    mlflow_config={{"tracking_uri": {db!r}, "experiment": "hpo"}})
    (rec,) = automl.next_recommendation()
    automl.report_result(rec.id, {value!r}, status={status!r})
    automl.finish()
    """
)


@pytest.mark.parametrize(("value", "status", "state"), [(0.5, "success", "finished"), (None, "failure", "failed")])
def test_an_ask_tell_finish_killed_once_it_stored_the_end_leaves_no_mlflow_sweep_running(
        tmp_path: Path, value: float | None, status: str, state: str) -> None:
    """finish() stored the run's end before it told W&B/MLflow: a kill in between
    (``TAO_AUTOML_CRASH_AT=finish_ended``) left the run closed and its MLflow sweep RUNNING, as nothing reopens a
    closed run. They are told first now: the kill leaves the sweep FINISHED (FAILED for a run with no result)."""
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ws = tmp_path / "ws"
    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 1}
    script = ASK_TELL.format(src=str(SRC), ws=str(ws), schema=json.dumps(small_schema()), settings=settings, db=db,
                             value=value, status=status)
    env = {**os.environ, "TAO_AUTOML_CRASH_AT": "finish_ended"}
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert status_json(ws)["progress"]["state"] == state
    assert _mlflow_sweep(db)() == state.upper()


@pytest.mark.parametrize("how", ["resume --detach", "resume_sweep", "resume"])
def test_a_kill_before_the_last_status_snapshot_is_healed_by_the_next_resume(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Killed once the run's end is stored and before the last status.json write: status.json said the run was
    running (its orchestrator alive) for good while `status --json` said finished: `resume --detach` and MCP's
    resume_sweep answered "nothing to resume" without touching it. That answer rewrites it from the store now, under
    the run's lock; a foreground `resume` reopens the run and rewrites it as it ends (README says all three)."""
    from tao_automl.agentapi.tools import call_tool

    run_dir = _killed_at_its_end(tmp_path, monkeypatch, settings={"status_interval_minutes": 0.002})
    assert status_json(run_dir)["progress"]["state"] == "finished"
    snapshot = Path(run_dir, "status.json")
    assert json.loads(snapshot.read_text())["progress"]["state"] == "running"  # the periodic one, before the end
    if how == "resume_sweep":
        result, is_error = call_tool("resume_sweep", {"run_dir": run_dir})
        assert not is_error and "nothing to resume" in result["note"], result
    else:
        again = cli(*how.split(), run_dir)
        assert again.returncode == 0, again.stderr[-2000:]
        assert ("nothing to resume" in again.stderr) == (how == "resume --detach"), again.stderr[-2000:]
    healed = json.loads(snapshot.read_text())
    assert healed["progress"]["state"] == "finished" and healed["orchestrator"]["alive"] is False, healed
    assert healed["progress"] == status_json(run_dir)["progress"]


def test_a_kill_between_deleting_checkpoints_and_storing_the_end_records_the_deletion_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed once the intermediate checkpoints were deleted (and that recorded) and before the run's end was
    stored: the resume that closes the run deleted them again and recorded a second `checkpoints_deleted` event
    (0 bytes) for the same recs. The deletion is recorded once."""
    run_dir = _killed_at_its_end(tmp_path, monkeypatch, point="checkpoints_deleted", recs=2,
                                 settings={"automl_delete_intermediate_ckpt": True})
    resumed = cli("resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert status_json(run_dir)["progress"]["state"] == "finished"
    store = RunStore(Path(run_dir), readonly=True)
    try:
        deleted = store.events("checkpoints_deleted")
    finally:
        store.close()
    assert len(deleted) == 1 and deleted[0]["payload"]["bytes"] > 0, deleted


def test_a_status_snapshot_that_cannot_be_rewritten_does_not_stop_the_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The rewrite is a repair on the side: a run folder that refuses it (full, read-only) still gets its "nothing to
    resume" answer, with a warning that status.json may be stale."""
    from tao_automl.runner import orchestrator
    from tao_automl.runner.detach import nothing_to_resume

    run_dir = _killed_at_its_end(tmp_path, monkeypatch, settings={"status_interval_minutes": 0.002})
    before = Path(run_dir, "status.json").read_text()

    def full(run_dir: Path, *, last: bool = False) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(orchestrator, "write_snapshot", full)
    note = nothing_to_resume(run_dir)
    assert note is not None and note.startswith("nothing to resume"), note
    assert Path(run_dir, "status.json").read_text() == before
    assert "status.json could not be rewritten from the run's store" in caplog.text

"""A tracker's failures are part of the run's record: ``status`` (text and --json), ``query_status``, a detached
run, a resumed run and the ask/tell API show ``tracking_errors`` as ``run --json`` does, summed over every process
that ran the run. The trackers are the real ones (MLflow against a sqlite store it cannot create or read)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_helpers import cli, ended, status_json, wait_for
from conftest import small_schema
from tao_automl import query_status
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.tracking import base as tracking_base
from tao_automl.tracking.base import ObserverSet

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("sqlalchemy", reason="MLflow's sqlite store needs sqlalchemy (mlflow extra)")

SETTINGS = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2,
            "automl_max_concurrent": 2, "poll_interval_s": 0.1}


def _unreachable_mlflow(tmp_path: Path) -> dict[str, Any]:
    """An MLflow config whose database cannot be created (its folder is a file): every sweep_started fails."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("MLflow cannot create a database under a file")
    return {"tracking_uri": f"sqlite:///{blocker}/x.db"}


def _tracker_failed_events(run_dir: str | Path) -> list[dict[str, Any]]:
    from tao_automl.experiment.store import TRACKER_FAILED

    store = RunStore(run_dir, readonly=True)
    try:
        return store.events(TRACKER_FAILED)
    finally:
        store.close()


def test_status_and_query_status_show_the_trackers_that_failed(toy_skill: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """run's result said MLflow failed; status, status --json and query_status of the same run said nothing."""
    from tao_automl.cli.main import main

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=SETTINGS, workspace_path=tmp_path / "ws",
                        mlflow_config=_unreachable_mlflow(tmp_path), gpu_count=0)
    errors = result["tracking_errors"]
    assert list(errors) == ["mlflow"] and errors["mlflow"]["count"] == 1, errors
    assert errors["mlflow"]["first"].startswith("sweep_started: ")
    run_dir = result["run_dir"]
    assert query_status(run_dir)["tracking_errors"] == errors
    capsys.readouterr()
    assert main(["status", run_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tracking_errors"] == errors
    assert main(["status", run_dir]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("tracker ")]
    assert line.startswith("tracker mlflow failed 1 time(s), so it misses part of this run"), line
    assert f"first: {errors['mlflow']['first']}" in line
    assert main(["status", run_dir, "--watch"]) == 0  # the run has ended: one view, then the watch ends
    assert line in capsys.readouterr().out.splitlines()
    # the journal says when: one event, at the tracker's first failure
    (event,) = _tracker_failed_events(run_dir)
    assert event["payload"] == {"tracker": "mlflow", "first": errors["mlflow"]["first"]}


def test_a_resumed_run_sums_the_failures_of_each_process(toy_skill: Path, tmp_path: Path) -> None:
    """The resume's result (and status) named the resumed process's failures alone, or, in status, none."""
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    first = runner.run(automl_settings=SETTINGS, workspace_path=tmp_path / "ws",
                       mlflow_config=_unreachable_mlflow(tmp_path), gpu_count=0)
    run_dir = first["run_dir"]
    again = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
        workspace_path=run_dir, resume=True, automl_settings={"automl_max_recommendations": 3}, gpu_count=0)
    assert again["progress"]["completed"] == 3
    errors = again["tracking_errors"]
    assert errors == {"mlflow": {"count": 2, "first": first["tracking_errors"]["mlflow"]["first"]}}, errors
    assert query_status(run_dir)["tracking_errors"] == errors
    assert len(_tracker_failed_events(run_dir)) == 2  # one per process


def test_a_detached_run_shows_its_tracker_failures_in_status(toy_skill: Path, tmp_path: Path) -> None:
    """`run --detach` prints no result: status was the only view of the run, and it never named a failed tracker."""
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "skill_dir": str(toy_skill), "workspace_path": str(tmp_path / "ws"),
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "automl_settings": SETTINGS,
        "platform_kwargs": {"gpu_count": 0}, "mlflow_config": _unreachable_mlflow(tmp_path)}))
    done = cli("run", str(config), "--detach")
    assert done.returncode == 0, done.stderr
    status = wait_for(done.stdout.strip(), ended)
    assert status["progress"]["state"] == "finished"
    errors = status["tracking_errors"]
    assert list(errors) == ["mlflow"] and errors["mlflow"]["count"] == 1, errors
    assert errors["mlflow"]["first"].startswith("sweep_started: ")
    text = cli("status", done.stdout.strip()).stdout
    assert "tracker mlflow failed 1 time(s)" in text, text


def test_the_ask_tell_api_records_its_tracker_failures(tmp_path: Path) -> None:
    """AutoML's get_status/finish and a status of its run never said a tracker failed; a resume adds its own."""
    from tao_automl import AutoML

    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 4, "seed": 2,
                "automl_max_concurrent": 2}
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(), settings=settings,
                    mlflow_config=_unreachable_mlflow(tmp_path), log_progress=False)
    assert automl.get_status()["tracking_errors"]["mlflow"]["count"] == 1
    for rec in automl.next_recommendation():  # two of four
        automl.report_result(rec.id, 0.5)
    before = automl.finish()
    assert before["progress"]["state"] == "stopped"
    assert list(before["tracking_errors"]) == ["mlflow"] and before["tracking_errors"]["mlflow"]["count"] == 1
    assert before["tracking_errors"]["mlflow"]["first"].startswith("sweep_started: ")
    assert query_status(tmp_path / "run")["tracking_errors"] == before["tracking_errors"]

    automl = AutoML(workspace=tmp_path / "run", resume=True, log_progress=False)
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, 0.4)
    after = automl.finish()
    assert after["tracking_errors"] == {"mlflow": {"count": 2, "first": before["tracking_errors"]["mlflow"]["first"]}}
    assert status_json(tmp_path / "run")["tracking_errors"] == after["tracking_errors"]


def test_a_tracker_failing_at_every_rec_is_recorded_once_then_sparingly(toy_skill: Path, tmp_path: Path) -> None:
    """MLflow's database overwritten mid-sweep fails at every later rec: the run's record gets its first failure at
    once (one event), later ones counted at the sweep's end, not one store write each."""
    db = tmp_path / "mlflow.db"
    writes: list[int] = []
    seen: dict[str, Any] = {}

    def break_the_store(rec: Any, value: float | None, status: str) -> None:
        if rec.id == 1:  # told after the tracker logged rec 1
            db.write_bytes(b"not a database " * 512)
        if rec.id == 3:  # rec 2 and 3 failed in the tracker by now: the first one is in the run folder
            seen.update(query_status(runner.run_dir)["tracking_errors"])

    real = RunStore.add_tracking_errors

    def counted(store: RunStore, failed: Any, first_here: Any = ()) -> None:
        writes.append(1)
        real(store, failed, first_here)

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RunStore, "add_tracking_errors", counted)
        patch.setattr(tracking_base, "RECORD_EVERY_S", 3600.0)  # however slow the machine
        result = runner.run(automl_settings={**SETTINGS, "automl_max_recommendations": 5, "automl_max_concurrent": 1},
                            workspace_path=tmp_path / "ws", mlflow_config={"tracking_uri": f"sqlite:///{db}"},
                            on_result=break_the_store, gpu_count=0)
    # recs 2..5 and the sweep's end failed
    assert result["tracking_errors"]["mlflow"]["count"] == 5, result["tracking_errors"]
    assert seen["mlflow"]["count"] >= 1 and seen["mlflow"]["first"] == result["tracking_errors"]["mlflow"]["first"]
    assert len(writes) == 2  # the first failure, then the rest at the sweep's end
    assert query_status(result["run_dir"])["tracking_errors"] == result["tracking_errors"]
    assert len(_tracker_failed_events(result["run_dir"])) == 1


def test_observer_set_records_a_first_failure_at_once_and_the_rest_every_few_seconds() -> None:
    """The record's cost: one write for a tracker's first failure, then one per ``record_every_s`` at most."""
    class Broken:
        name = "mine"

        def sweep_started(self, run_dir: Path) -> None:
            raise RuntimeError("down")

        def rec_finished(self, run_dir: Path, rec_id: int) -> None:
            raise RuntimeError(f"down at {rec_id}")

        def sweep_ended(self, run_dir: Path, state: str) -> None:
            pass

    records: list[tuple[dict[str, dict[str, Any]], list[str]]] = []
    observers = ObserverSet([Broken()], record=lambda failed, first: records.append((failed, first)),
                            record_every_s=3600)
    observers.sweep_started(Path("."))
    for rec_id in range(1, 101):
        observers.rec_finished(Path("."), rec_id)
    assert records == [({"mine": {"count": 1, "first": "sweep_started: RuntimeError: down"}}, ["mine"])]
    assert observers.unrecorded() == {"mine": {"count": 100, "first": "sweep_started: RuntimeError: down"}}
    observers.sweep_ended(Path("."), "finished")
    assert records[1] == ({"mine": {"count": 100, "first": "sweep_started: RuntimeError: down"}}, [])
    assert observers.unrecorded() == {} and observers.tracking_errors()["mine"]["count"] == 101


def test_by_default_later_failures_are_recorded_at_most_every_readme_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """README: the counts in the run's meta are "written at once for a first failure, then at most every 10 s and at
    the sweep's end": with no ``record_every_s`` given, a failure 9.9 s after the last write is not written, one at
    10 s is."""
    from conftest import readme_says

    seconds, = readme_says(r"written at once for a first failure, then at most every (\d+) s and at the sweep's end")
    clock = [1000.0]
    monkeypatch.setattr(tracking_base.time, "monotonic", lambda: clock[0])

    class Broken:
        def rec_finished(self, run_dir: Path, rec_id: int) -> None:
            raise RuntimeError("down")

    writes: list[int] = []
    observers = ObserverSet([Broken()], record=lambda failed, first: writes.append(failed["Broken"]["count"]))
    for at in (0.0, 0.1, int(seconds) - 0.1, int(seconds), int(seconds) + 0.1):
        clock[0] = 1000.0 + at
        observers.rec_finished(Path("."), 1)
    assert writes == [1, 3]  # each write holds the failures not recorded yet: the first; then those at 0.1 s to 10 s


def test_a_tracker_failures_stack_trace_shows_no_credential_in_the_clis_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's log filter scrubbed the message line alone: the first failure's stack trace ends with the
    exception's own text, and a token the tracker's error quoted was printed there."""
    import io
    import logging

    from tao_automl.tracking.base import ObserverSet
    from tao_automl.util.secrets import RedactingFilter

    secret = "tok-qa-fake-secret-123"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)

    class Refused:
        name = "mlflow"

        def sweep_started(self, run_dir: Path) -> None:
            raise RuntimeError(f"401 Unauthorized for token {secret}")

        rec_finished = sweep_ended = sweep_started  # type: ignore[assignment]

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tao_automl.tracking.base")
    logger.addHandler(handler)
    try:
        trackers = ObserverSet([Refused()])
        trackers.sweep_started(Path("."))
        trackers.rec_finished(Path("."), 1)
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "Traceback" in text and "401 Unauthorized for token <redacted>" in text, text
    assert secret not in text

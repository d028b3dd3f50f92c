"""Detached runs: ``run --detach``, ``stop [--cancel-jobs]``, ``resume --detach``, ``AutoMLRunner.start``.

Real processes throughout: the CLI and the orchestrator are subprocesses, jobs are the built-in demo network
on the local platform, state is the run folder's SQLite store.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_helpers import cli, demo_config, ended, status_json, wait_for
from signal_scripts import lost_in_a_library
from tao_automl.bank import builtin_skill_dir
from tao_automl.errors import EXIT_INTERRUPTED, UserInputError
from tao_automl.experiment.store import read_meta
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.local import LocalSDK
from tao_automl.runner import AutoMLRunner
from tao_automl.runner.detach import stop_run


def _events(run_dir: str, kind: str) -> int:
    with sqlite3.connect(f"file:{run_dir}/state.db?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0])


def test_run_detach_returns_the_folder_and_the_orchestrator_finishes_alone(tmp_path: Path) -> None:
    config = demo_config(tmp_path, recs=2, epochs=2, status_interval_minutes=0.005)
    done = cli("run", str(config), "--detach")
    assert done.returncode == 0, done.stderr
    run_dir = done.stdout.strip()  # stdout is the run folder alone
    assert Path(run_dir, "state.db").exists() and "detached orchestrator" in done.stderr
    assert f"watch: tao-automl status {run_dir} --watch" in done.stderr  # it named a one-off `status --json`
    status = wait_for(run_dir, ended)
    assert status["progress"]["state"] == "finished" and status["progress"]["succeeded"] == 2
    assert status["best"] is not None and status["orchestrator"]["detached"] is True
    log = Path(run_dir, "orchestrator.log").read_text()
    assert "rec 1 started" in log and "status: " in log  # periodic status lines (every 0.3 s here)
    snapshot = json.loads(Path(run_dir, "status.json").read_text())
    assert snapshot["progress"]["completed"] == 2 and snapshot["best"] == status["best"]
    assert snapshot["orchestrator"]["alive"] is False  # the last snapshot is written as the orchestrator ends


def test_a_regular_installs_site_packages_never_reach_the_jobs_pythonpath(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pip-installed package lives in the interpreter's site-packages, which the detached orchestrator finds by
    itself; put on its PYTHONPATH, every job it starts (a conda or system Python, Slurm's exported environment)
    would import this venv's packages first. A source checkout's folder is still given to the orchestrator."""
    import site

    import tao_automl
    from tao_automl.runner import detach

    installed = tmp_path / "lib" / "site-packages"
    (installed / "tao_automl").mkdir(parents=True)
    monkeypatch.setattr(tao_automl, "__file__", str(installed / "tao_automl" / "__init__.py"))
    monkeypatch.setenv("PYTHONPATH", "/the/users/own")
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(installed)])
    assert detach._child_env(None)["PYTHONPATH"] == "/the/users/own"
    monkeypatch.setattr(site, "getsitepackages", lambda: [])  # not installed: run from a source folder
    assert detach._child_env(None)["PYTHONPATH"] == f"{installed.resolve()}{os.pathsep}/the/users/own"


def test_stop_leaves_jobs_running_and_resume_detach_reattaches(tmp_path: Path) -> None:
    config = demo_config(tmp_path, recs=2, epochs=12)
    started = json.loads(cli("run", str(config), "--detach", "--json").stdout)
    run_dir = started["run_dir"]
    assert isinstance(started["pid"], int) and started["pid"] == started["orchestrator"]["pid"]  # as SKILL.md says
    # the report is made once the orchestrator recorded itself: MCP's start_sweep said "detached": true beside
    # "orchestrator": {"detached": false, "started_at": null} (read between its lock and its record)
    assert started["orchestrator"]["detached"] is True and started["orchestrator"]["started_at"] is not None
    wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    done = cli("stop", run_dir, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["was_running"] is True and result["cancelled_jobs"] == [] and result["state"] == "interrupted"
    assert result["pid"] == started["pid"]  # stop --json names the same process at the same key
    last = Path(run_dir, "orchestrator.log").read_text().strip().splitlines()[-1]
    assert "in-flight jobs keep running" in last, last
    status = status_json(run_dir)
    assert status["orchestrator"]["alive"] is False
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    assert len(status["active_jobs"]) == 2  # left in flight, not cancelled
    assert all(sdk.get_job_status(a["job_id"]) in (JobStatus.RUNNING, JobStatus.SUCCESS)
               for a in status["active_jobs"])
    again = cli("resume", run_dir, "--detach", "--json")
    assert again.returncode == 0, again.stderr
    final = wait_for(run_dir, ended)
    assert final["progress"]["state"] == "finished" and final["progress"]["succeeded"] == 2
    assert _events(run_dir, "job_reattached") == 2
    assert len({r["job_id"] for r in final["recommendations"]}) == 2  # nothing launched twice


def test_stop_cancel_jobs_cancels_what_is_in_flight(tmp_path: Path) -> None:
    config = demo_config(tmp_path, recs=2, epochs=400)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    done = cli("stop", run_dir, "--cancel-jobs")
    assert done.returncode == 0, done.stderr
    assert "cancelled 2 job(s)" in done.stdout
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    status = status_json(run_dir, "--recs", "all")
    assert status["active_jobs"] == []  # what status shows is what happened: nothing runs any more
    recs = status["recommendations"]
    assert [r["status"] for r in recs] == ["cancelled", "cancelled"]
    assert all(sdk.get_job_status(r["job_id"]) == JobStatus.CANCELLED for r in recs)
    assert _events(run_dir, "job_cancelled") == 2
    # the orchestrator's own last line said "in-flight jobs keep running" while this stop cancelled them
    last = Path(run_dir, "orchestrator.log").read_text().strip().splitlines()[-1]
    assert "keep running" not in last and "stop --cancel-jobs`: it is cancelling the in-flight jobs" in last, last
    assert read_meta(run_dir)["cancel_jobs_asked"] is None  # the stop recorded that it is done
    # RUN_DIR/status.json holds what `status --json` says (it kept "running 1" after the cancel: no orchestrator
    # was left to rewrite it, so the stop does)
    snapshot = json.loads((Path(run_dir) / "status.json").read_text())
    assert snapshot["progress"]["cancelled"] == 2 and snapshot["active_jobs"] == []
    again = cli("resume", run_dir, "--json")  # both recs of the budget of 2 were created: nothing is left to launch
    assert again.returncode == 1 and json.loads(again.stdout)["progress"]["total"] == 2
    assert len(status_json(run_dir, "--recs", "all")["recommendations"]) == 2


def test_a_rec_stop_cancel_jobs_cancels_is_recorded_at_the_epochs_it_trained(tmp_path: Path) -> None:
    """A job `stop --cancel-jobs` cancelled after it reported epochs 1-2 of 5 was recorded with budget_reached null
    (`status` showed no epochs) while the report and the Optuna export drew its two epochs: it is recorded at 2, as
    a failed job is at the epochs it trained."""
    import yaml

    from conftest import TWO_EPOCHS_THEN_TRAINS_ON, write_skill

    skill = write_skill(tmp_path / "bank", trainer=TWO_EPOCHS_THEN_TRAINS_ON)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "skill_dir": str(skill), "workspace_path": str(tmp_path / "runs"), "platform": "local",
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0},
        "automl_settings": {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                            "automl_max_concurrent": 2, "poll_interval_s": 0.3, "seed": 0},
        "spec_overrides": {"train.num_epochs": 5}}))
    run_dir = cli("run", str(config), "--detach").stdout.strip()

    def two_epochs_each(status: dict[str, Any]) -> bool:
        files = [Path(r["results_dir"]) / "status.json" for r in status["recommendations"]]
        return len(files) == 2 and all(f.exists() and len(f.read_text().splitlines()) == 2 for f in files)

    wait_for(run_dir, two_epochs_each)
    done = cli("stop", run_dir, "--cancel-jobs", "--json")
    assert done.returncode == 0 and len(json.loads(done.stdout)["cancelled_jobs"]) == 2, done.stdout + done.stderr
    recs = status_json(run_dir, "--recs", "all")["recommendations"]
    assert [(r["status"], r["budget"], r["budget_reached"]) for r in recs] == [("cancelled", 5, 2)] * 2, recs


def test_a_detached_resume_after_cancelling_the_whole_budget_only_closes_the_run_as_skill_md_says(
        tmp_path: Path) -> None:
    """SKILL.md said that a run whose `stop --json` answered next null (its whole budget ended) is resumed by an
    answer of "detached": false that starts no orchestrator. A run whose last recs `stop --cancel-jobs` ended is
    still interrupted: `resume --detach` starts an orchestrator, which launches nothing and closes the run. SKILL.md
    now says so."""
    run_dir = cli("run", str(demo_config(tmp_path, recs=2, epochs=400)), "--detach").stdout.strip()
    wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    stopped = json.loads(cli("stop", run_dir, "--cancel-jobs", "--json").stdout)
    assert stopped["next"] is None and stopped["state"] == "interrupted", stopped
    answer = json.loads(cli("resume", run_dir, "--detach", "--json").stdout)
    assert answer["detached"] is True and "note" not in answer, answer
    final = wait_for(run_dir, ended)
    assert final["progress"]["state"] == "failed" and final["progress"]["cancelled"] == 2  # closed, nothing launched
    from tao_automl.cli.agent_commands import skill_path

    skill = " ".join(skill_path().read_text().split())
    assert "is still `interrupted`: `resume --detach` starts an orchestrator that launches nothing and only closes " \
           "it" in skill


def _jobs_outlive_their_orchestrator(tmp_path: Path) -> tuple[str, LocalSDK, list[str]]:
    """A detached 2-rec run whose orchestrator is killed (-9) with both jobs in flight; returns once both jobs
    have succeeded on their own: (run folder, the jobs' SDK, job ids)."""
    config = demo_config(tmp_path, recs=2, epochs=2)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    status = wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    os.kill(status["orchestrator"]["pid"], signal.SIGKILL)
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    jobs = [a["job_id"] for a in status["active_jobs"]]
    wait_for(run_dir, lambda s: all(sdk.get_job_status(j) == JobStatus.SUCCESS for j in jobs))
    return run_dir, sdk, jobs


def test_stop_cancel_jobs_keeps_the_results_of_jobs_that_had_already_ended(tmp_path: Path) -> None:
    """The orchestrator died; its jobs then finished. ``stop --cancel-jobs`` must not turn their results into
    "cancelled" (the platform refuses to cancel an ended job): ``resume`` collects them."""
    run_dir, _, jobs = _jobs_outlive_their_orchestrator(tmp_path)
    done = cli("stop", run_dir, "--cancel-jobs", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["cancelled_jobs"] == [] and sorted(result["ended_jobs"]) == sorted(jobs)
    assert result["next"] == f"tao-automl resume {run_dir} --detach"
    assert "had already ended" in cli("stop", run_dir, "--cancel-jobs").stdout
    shown = status_json(run_dir, "--recs", "all")  # what happened: the jobs ended, their results wait for resume
    assert sorted(a["job_id"] for a in shown["active_jobs"] if a.get("job_ended")) == sorted(jobs)
    assert [r["status"] for r in shown["recommendations"]] == ["ended_uncollected"] * 2  # not "running"
    assert (shown["progress"]["running"], shown["progress"]["uncollected"]) == (0, 2)
    text = cli("status", run_dir).stdout
    assert "active jobs: none" in text and "ended, result not collected yet (2)" in text
    assert cli("resume", run_dir).returncode == 0
    final = status_json(run_dir, "--recs", "all")
    assert [r["status"] for r in final["recommendations"]] == ["success", "success"]
    assert final["best"] is not None


def test_stop_cancel_jobs_cancels_the_jobs_at_once_not_one_after_the_other(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit's `stop --cancel-jobs` of 4 Kubernetes recs whose containers ignore SIGTERM took 2 min 06 s: each
    cancel waits out the job's grace period, and the stop cancelled one job after the other. It cancels them all at
    once now: the 3 cancels (each waiting 2 s, as for a job that ignores SIGTERM) all run at the same time, each rec
    ended as before. Checked by the cancels' overlap, not by a duration."""
    import threading

    from tao_automl.runner import detach

    config = demo_config(tmp_path, recs=3, epochs=400, concurrent=3)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, lambda s: len(s["active_jobs"]) == 3 and all(a["job_id"] for a in s["active_jobs"]))
    local = LocalSDK(jobs_dir=tmp_path / "jobs")
    lock, in_cancel, most = threading.Lock(), [0], [0]

    class SlowCancel:  # a platform whose cancel waits for a job that ignores SIGTERM
        def __getattr__(self, name: str) -> Any:
            return getattr(local, name)

        def cancel_job(self, job_id: str) -> bool:
            with lock:
                in_cancel[0] += 1
                most[0] = max(most[0], in_cancel[0])
            time.sleep(2.0)
            with lock:
                in_cancel[0] -= 1
            return local.cancel_job(job_id)

    monkeypatch.setattr(detach, "_sdk_for", lambda folder, meta: SlowCancel())
    result = stop_run(run_dir, cancel_jobs=True)
    assert len(result["cancelled_jobs"]) == 3 and result["ended_jobs"] == [], result
    assert most[0] == 3, f"at most {most[0]} cancel(s) at a time: one cancel after the other"
    recs = status_json(run_dir, "--recs", "all")["recommendations"]
    assert [r["status"] for r in recs] == ["cancelled"] * 3
    assert all(local.get_job_status(r["job_id"]) == JobStatus.CANCELLED for r in recs)


def test_status_does_not_call_the_jobs_a_stop_is_cancelling_left_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`status --json` (and `query_status`) said the in-flight jobs of a run stopped by `stop --cancel-jobs` were
    `left_running` until the cancels ended, while the run's own `run --json` said they were not (it alone was
    patched): the run's store did not record that cancels were asked. The stop records it there before it signals
    the orchestrator: while its cancels wait, every view says false; once the stop is done with the jobs still
    running (its cancels failed), true again."""
    import threading

    from tao_automl import query_status
    from tao_automl.runner import detach

    config = demo_config(tmp_path, recs=2, epochs=400)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    local = LocalSDK(jobs_dir=tmp_path / "jobs")
    cancelling, answer = threading.Event(), threading.Event()

    class HeldCancel:  # a platform whose cancels wait until the test has looked, then fail
        def __getattr__(self, name: str) -> Any:
            return getattr(local, name)

        def cancel_job(self, job_id: str) -> bool:
            cancelling.set()
            answer.wait(120)
            raise RuntimeError("the platform refused the cancel")

    monkeypatch.setattr(detach, "_sdk_for", lambda folder, meta: HeldCancel())
    failed: list[BaseException] = []

    def stop() -> None:
        try:
            stop_run(run_dir, cancel_jobs=True)
        except BaseException as exc:
            failed.append(exc)

    stopper = threading.Thread(target=stop)
    stopper.start()
    try:
        try:
            assert cancelling.wait(120), "the stop never came to its cancels"
            during = status_json(run_dir, "--recs", "all")
            api = query_status(run_dir, recs="all")
        finally:
            answer.set()
            stopper.join(120)
        assert during["progress"]["state"] == "interrupted" and len(during["active_jobs"]) == 2, during
        for shown in (during, api):
            assert [a["left_running"] for a in shown["active_jobs"]] == [False, False], shown["active_jobs"]
            assert [r["left_running"] for r in shown["recommendations"]] == [False, False], shown["recommendations"]
        assert len(failed) == 1 and "refused the cancel" in str(failed[0]), failed
        after = status_json(run_dir, "--recs", "all")  # the stop is done and its cancels failed: the jobs run on
        assert [(r["status"], r["left_running"]) for r in after["recommendations"]] == [("running", True)] * 2, after
    finally:
        monkeypatch.undo()
        assert cli("stop", run_dir, "--cancel-jobs").returncode == 0  # the jobs it left: not left behind the test


def test_a_repeated_stop_cancel_jobs_says_the_killed_stop_cancelled_its_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins defect 3: `stop --cancel-jobs` killed (-9) after it had cancelled a job and before it recorded the rec's
    end; the same stop run again listed that job under "had already ended, so were not cancelled; resume collects
    their results", as if it had ended on its own (and left its rec for resume). The run folder records the earlier
    stop's decision (cancel_decided) and the platform says the job ended cancelled: the repeated stop now says the
    earlier stop cancelled it and records its rec cancelled, and cancels the other job itself."""
    config = demo_config(tmp_path, recs=2, epochs=400)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    status = wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    jobs = sorted((a["rec_id"], a["job_id"]) for a in status["active_jobs"])
    with monkeypatch.context() as patched:
        # killed after the cancels (all at once) and before it recorded the first rec's end
        patched.setenv("TAO_AUTOML_CRASH_AT", "stop_job_cancelled")
        killed = cli("stop", run_dir, "--cancel-jobs")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the killed stop's record of its cancels names a process that has ended: not taken as cancelling them
    assert read_meta(run_dir)["cancel_jobs_asked"] is not None
    assert [a["left_running"] for a in status_json(run_dir)["active_jobs"]] == [True, True]
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    assert all(sdk.get_job_status(job) == JobStatus.CANCELLED for _, job in jobs)  # the killed stop cancelled both
    again = cli("stop", run_dir, "--cancel-jobs", "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["ended_jobs"] == [] and result["cancelled_jobs"] == [], result
    assert result["cancelled_earlier"] == [{"job_id": job, "rec_id": rec_id,
                                            "message": "cancelled: `tao-automl stop --cancel-jobs`"}
                                           for rec_id, job in jobs], result
    recs = status_json(run_dir, "--recs", "all")["recommendations"]
    assert [r["status"] for r in recs] == ["cancelled", "cancelled"]
    text = cli("stop", run_dir, "--cancel-jobs").stdout  # nothing left in flight: nothing is claimed ended
    assert "had already ended" not in text and "no jobs in flight" in text, text


def test_the_text_of_a_repeated_stop_names_the_earlier_stop(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins defect 3's wording: a job an interrupted earlier `stop --cancel-jobs` had cancelled is printed as
    cancelled by it, never under "had already ended"."""
    import tao_automl.runner.detach as detach
    from tao_automl.cli.main import main

    monkeypatch.setattr(detach, "stop_run", lambda *args, **kwargs: {
        "run_dir": "/r", "was_running": False, "pid": None, "cancelled_jobs": ["job-b"], "ended_jobs": [],
        "cancelled_earlier": [{"job_id": "job-a", "rec_id": 1,
                               "message": "cancelled: `tao-automl stop --cancel-jobs`"}],
        "in_flight_jobs": 0, "state": "interrupted", "next": None})
    assert main(["stop", "/r", "--cancel-jobs"]) == 0
    out = capsys.readouterr().out
    assert "cancelled 1 job(s): job-b" in out and "had already ended" not in out
    assert ("job job-a (rec 1) had been cancelled by an earlier `tao-automl stop --cancel-jobs`, which was "
            "interrupted before it recorded so") in out


def test_resume_records_when_reattached_jobs_really_ended(tmp_path: Path) -> None:
    """Jobs that ended while no orchestrator ran get the platform's end time, not the resume's: their wall time
    is what they ran (it was the time until the resume), in status, exports and the report alike."""
    run_dir, sdk, jobs = _jobs_outlive_their_orchestrator(tmp_path)
    time.sleep(4)  # the downtime that must not count
    assert cli("resume", run_dir).returncode == 0
    recs = {r["job_id"]: r for r in status_json(run_dir, "--recs", "all")["recommendations"]}
    for job in jobs:
        info = sdk.get_job_info(job)
        assert recs[job]["finished_at"] == pytest.approx(info["finished_at"], abs=0.01)
        assert recs[job]["wall_time_s"] < info["finished_at"] - recs[job]["started_at"] + 1.0


def test_a_job_cancelled_while_no_orchestrator_ran_ended_when_the_platform_says(tmp_path: Path) -> None:
    """A job cancelled from outside (scancel) while no orchestrator ran was recorded as ending at the resume: its
    wall time held the downtime, though the platform kept its end time (jobs that succeeded or failed got it)."""
    config = demo_config(tmp_path, recs=1, epochs=200, concurrent=1)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    status = wait_for(run_dir, lambda s: len(s["active_jobs"]) == 1 and s["active_jobs"][0]["job_id"])
    os.kill(status["orchestrator"]["pid"], signal.SIGKILL)
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    job = status["active_jobs"][0]["job_id"]
    assert sdk.cancel_job(job)
    time.sleep(3)  # the downtime that must not count
    assert cli("resume", run_dir).returncode == 1  # its only rec was cancelled: no result
    (rec,) = status_json(run_dir, "--recs", "all")["recommendations"]
    assert rec["status"] == "cancelled" and "cancelled outside this sweep" in rec["message"]
    assert rec["finished_at"] == pytest.approx(sdk.get_job_info(job)["finished_at"], abs=0.01)


def test_resume_of_a_finished_run_keeps_when_it_ended(tmp_path: Path) -> None:
    config = demo_config(tmp_path, recs=1, epochs=1)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    before = wait_for(run_dir, ended)["progress"]["elapsed_s"]
    time.sleep(1.5)
    assert cli("resume", run_dir).returncode == 0  # nothing to launch: ends at once with the run's result
    after = status_json(run_dir)["progress"]
    assert after["state"] == "finished" and after["elapsed_s"] == before


def test_stop_of_a_run_without_orchestrator_is_not_an_error(tmp_path: Path) -> None:
    config = demo_config(tmp_path, recs=1, epochs=1)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, ended)
    result = stop_run(run_dir)
    assert result["was_running"] is False and result["state"] == "finished"
    assert result["next"] is None and result["in_flight_jobs"] == 0  # resume would have nothing to launch
    text = cli("stop", run_dir).stdout
    assert "no jobs in flight" in text and "nothing to continue: every rec of the run's budget has ended" in text
    assert "resume" not in text
    status = cli("status", run_dir).stdout
    assert "orchestrator: not running (every rec of the run's budget has ended; nothing to resume)" in status


@pytest.mark.parametrize("timeout", ["-1", "0", "nan"])
def test_a_stop_timeout_of_no_time_is_refused_before_the_orchestrator_is_signalled(tmp_path: Path,
                                                                                   timeout: str) -> None:
    """`stop --timeout -1` (or 0, nan) signalled the orchestrator, then said it "did not stop within -1 s" (exit 1,
    field timeout_s) while it stopped anyway: a usage error naming --timeout now, and the run goes on."""
    config = demo_config(tmp_path, recs=1, epochs=200, concurrent=1)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    done = cli("stop", run_dir, "--timeout", timeout, "--json")
    error = json.loads(done.stdout)["error"]
    assert (done.returncode, error["kind"], error["field"]) == (2, "usage", "--timeout"), done.stdout
    assert error["allowed"] == "a number of seconds, 0 < S <= 86400"
    time.sleep(1)
    assert status_json(run_dir)["orchestrator"]["alive"] is True  # not signalled
    assert cli("stop", run_dir, "--cancel-jobs", "--json").returncode == 0


@pytest.mark.parametrize("timeout", ["inf", "1e300", "86401"])
def test_a_stop_timeout_past_a_day_is_refused_as_the_watch_interval_is(tmp_path: Path, timeout: str,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`stop --timeout inf` (or 1e300) was taken: an orchestrator that did not stop was waited for for ever. Bounded
    as `status --watch --interval` is (0 < S <= 86400): a usage error naming --timeout, before anything is done."""
    from tao_automl.cli.main import main
    from tao_automl.runner import detach

    called: list[Any] = []
    monkeypatch.setattr(detach, "stop_run", lambda *a, **k: called.append(a))
    assert main(["stop", str(tmp_path), "--timeout", timeout, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["kind"], error["field"], error["value"]) == ("usage", "--timeout",
                                                                timeout if timeout == "inf" else float(timeout))
    assert error["allowed"] == "a number of seconds, 0 < S <= 86400" and called == []
    assert main(["stop", str(tmp_path), "--timeout", "86400", "--json"]) == 0 and len(called) == 1


def test_a_stop_whose_wait_runs_out_names_the_timeout_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`stop --timeout 5` whose orchestrator did not stop in time named field `timeout_s` (stop_run's argument), an
    option the CLI does not have; it names `--timeout`."""
    from tao_automl.cli.main import main
    from tao_automl.runner import detach
    from tao_automl.runner.detach import OrchestratorError

    def slow(run_dir: Any, **_: Any) -> dict[str, Any]:
        raise OrchestratorError("the orchestrator (pid 7) did not stop within 5 s", field="timeout_s", value=5.0,
                                hint="wait and retry")

    monkeypatch.setattr(detach, "stop_run", slow)
    assert main(["stop", str(tmp_path), "--timeout", "5", "--json"]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["field"], error["value"], error["hint"]) == ("--timeout", 5.0, "wait and retry"), error
    assert "did not stop within 5 s" in error["message"]


def test_stop_of_an_orchestrator_this_process_cannot_see_signals_nothing(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An orchestrator in another pid namespace or on another machine (`lock_holder` answers UNSEEN, 0): `stop`
    says it cannot signal it and where to run the stop, instead of `os.kill(0, SIGTERM)` (this process's own
    group) or a pid that means another process here."""
    from tao_automl.experiment.holder import UNSEEN
    from tao_automl.runner import detach

    config = demo_config(tmp_path, recs=1, epochs=1)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, ended)
    signalled: list[tuple[int, int]] = []
    monkeypatch.setattr(detach, "lock_holder", lambda *args, **kwargs: UNSEEN)
    monkeypatch.setattr(detach.os, "kill", lambda pid, sig: signalled.append((pid, sig)))
    with pytest.raises(detach.OrchestratorError, match="another pid namespace") as caught:
        stop_run(run_dir)
    assert not signalled and "where it runs" in str(caught.value.hint)


def test_stop_right_after_kill_9_does_not_report_stopping_the_dead_orchestrator(tmp_path: Path) -> None:
    """For a moment after kill -9 of an orchestrator, a process it had forked shares the run lock, whose record names
    the killed pid: `stop` signalled that pid, waited for the lock and answered was_running true with the dead pid
    (its text: the orchestrator was stopped). The ended holder is no orchestrator."""
    import subprocess
    import sys
    import textwrap

    config = demo_config(tmp_path, recs=1, epochs=1)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, ended)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from tao_automl.experiment.workspace import RunLock
        RunLock(Path({run_dir!r})).acquire()
        if os.fork() == 0:
            time.sleep(3); os._exit(0)
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    result = stop_run(run_dir)
    assert result["was_running"] is False and result["pid"] is None and result["state"] == "finished"


def test_a_detached_run_whose_orchestrator_never_took_over_is_interrupted_not_starting_forever() -> None:
    """kill -9 of the detached orchestrator as it started: `status`, `runs` and `stop` showed `starting` for good
    (no stop reason; `status --watch` exited 1 on it)."""
    from tao_automl.experiment.holder import STARTING_GRACE_S, as_shown

    meta = {"state": "starting", "mode": "runner"}
    assert as_shown(meta, False, 1000.0, now=1000.0 + STARTING_GRACE_S / 2) == meta  # it may be taking over
    assert as_shown(meta, True, 1000.0, now=1000.0 + 10 * STARTING_GRACE_S) == meta  # it did
    gone = as_shown(meta, False, 1000.0, now=1001.0 + STARTING_GRACE_S)
    assert gone["state"] == "interrupted" and gone["ended_at"] == 1000.0
    assert "ended before it took the run over" in gone["stop_reason"] and "tao-automl resume" in gone["stop_reason"]


def test_stop_after_the_orchestrator_was_killed_closes_the_run_as_interrupted(tmp_path: Path) -> None:
    """A kill -9'd orchestrator never wrote its closing state; ``stop`` must not report "running" for a run
    that nothing drives, and ``resume --detach`` still finishes it."""
    config = demo_config(tmp_path, recs=2, epochs=12)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    status = wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    os.kill(status["orchestrator"]["pid"], signal.SIGKILL)
    wait_for(run_dir, lambda s: s["orchestrator"]["alive"] is False)
    # the store still says "running" (the killed process never closed it); status and runs say what is true
    dead = status_json(run_dir)["progress"]
    assert dead["state"] == "interrupted" and dead["eta_s"] is None and "killed or crashed" in dead["stop_reason"]
    time.sleep(1.5)
    assert status_json(run_dir)["progress"]["elapsed_s"] == dead["elapsed_s"]  # ended at its last activity
    runs = json.loads(cli("runs", str(Path(run_dir).parent), "--json").stdout)
    assert [r["state"] for r in runs["runs"]] == ["interrupted"]
    with sqlite3.connect(f"file:{run_dir}/state.db?mode=ro", uri=True) as db:
        assert json.loads(db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0]) == "running"
    result = stop_run(run_dir)
    assert result["was_running"] is False and result["state"] == "interrupted"
    assert result["in_flight_jobs"] == 2 and result["next"] == f"tao-automl resume {run_dir} --detach"
    assert _events(run_dir, "run_interrupted") == 1
    # closed at its last activity, not at the stop: the seconds between the kill and the stop are no run time
    assert status_json(run_dir)["progress"]["elapsed_s"] == pytest.approx(dead["elapsed_s"], abs=0.002)
    assert cli("resume", run_dir, "--detach").returncode == 0
    assert wait_for(run_dir, ended)["progress"]["succeeded"] == 2


def test_resume_detach_of_a_finished_run_succeeds(tmp_path: Path) -> None:
    """An orchestrator that ends cleanly before the caller sees it hold the folder (nothing left to do) is a
    success, not 'exited before it started' (an agent following SKILL.md hit this when a sweep beat its stop)."""
    config = demo_config(tmp_path, recs=1, epochs=1)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, ended)
    resumed = _events(run_dir, "run_resumed")
    again = cli("resume", run_dir, "--detach", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["run_dir"] == run_dir
    assert status_json(run_dir)["progress"]["state"] == "finished"
    # it says there was nothing to resume (it answered like a started orchestrator: a pid, `alive`, a resume step)
    assert report["detached"] is False and report["pid"] is None and "nothing to resume" in report["note"]
    assert "1 of 1" in report["note"] and set(report["next"]) == {"status"}
    assert _events(run_dir, "run_resumed") == resumed  # no orchestrator was started
    from tao_automl.agentapi.tools import call_tool

    result, is_error = call_tool("resume_sweep", {"run_dir": run_dir})
    assert not is_error and result["detached"] is False and "nothing to resume" in result["note"]
    assert result["next"] == {"status": {"tool": "sweep_status", "arguments": {"run_dir": run_dir}}}
    text = cli("resume", run_dir, "--detach")
    assert text.returncode == 0 and text.stdout.strip() == run_dir and "nothing to resume" in text.stderr
    # every rec ended but the orchestrator died before closing the run (still stored running): a resume closes it
    from tao_automl.experiment.store import RunStore

    store = RunStore(Path(run_dir))
    store.set_meta({"state": "running"})
    store.close()
    closing = cli("resume", run_dir, "--detach", "--json")
    assert closing.returncode == 0 and json.loads(closing.stdout)["detached"] is True, closing.stdout
    assert wait_for(run_dir, ended)["progress"]["state"] == "finished"


def test_resume_detach_of_a_run_without_a_result_exits_1(tmp_path: Path) -> None:
    """Every rec failed (a dataset file the trainer cannot read): `resume --detach` said "nothing to resume" and
    exited 0, while `resume` and `status --watch` exit 1 for the same run (README: 0 only when a rec produced a
    result). It exits 1 now, its JSON carrying the `no_result` error beside the note, its text an `error:` line."""
    import yaml

    junk = tmp_path / "junk.npz"
    junk.write_text("not an npz archive")
    config = demo_config(tmp_path, recs=1, epochs=1)
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "train_dataset_uri": str(junk)}))
    done = cli("run", str(config), "--json")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    run_dir = json.loads(done.stdout)["run_dir"]
    again = cli("resume", run_dir, "--detach", "--json")
    assert again.returncode == 1, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["detached"] is False and report["pid"] is None and "nothing to resume" in report["note"]
    assert (report["error"]["kind"], report["error"]["exit_code"], report["error"]["field"]) == ("no_result", 1, "best")
    text = cli("resume", run_dir, "--detach")
    assert text.returncode == 1 and text.stdout.strip() == run_dir, text.stdout + text.stderr
    assert "nothing to resume" in text.stderr and "\nerror: " in "\n" + text.stderr, text.stderr
    assert cli("resume", run_dir).returncode == 1  # as the foreground resume exits


def test_resume_detach_closes_a_run_whose_last_recs_a_stop_cancelled(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`stop --cancel-jobs` cancelled every rec of the budget; `resume --detach` then said "nothing to resume" and
    exited 0, leaving the run `interrupted` with no stop reason (`status --watch` exit 1, `runs` "interrupted"),
    while a plain `resume` closed it `failed`. Both close it now, as it ended. The detached orchestrator closes it at
    once (exit 1: no result), often before the caller sees it hold the folder, which is not "exited before it took
    the run over" (CI met that race): here the caller never sees it hold the folder."""
    from tao_automl.runner import detach

    config = demo_config(tmp_path, recs=2, epochs=200, concurrent=2)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    assert cli("stop", run_dir, "--cancel-jobs").returncode == 0
    assert status_json(run_dir)["progress"]["state"] == "interrupted"
    assert detach.nothing_to_resume(run_dir) is None
    # status said "nothing to resume" for it while its stop reason offered the resume that closes it
    line = next(x for x in cli("status", run_dir).stdout.splitlines() if x.startswith("orchestrator:"))
    assert "nothing to resume" not in line and f"`tao-automl resume {run_dir}` launches nothing" in line, line
    monkeypatch.setattr(detach, "lock_holder", lambda *args, **kwargs: None)
    assert detach.resume_detached(run_dir) == Path(run_dir).resolve()
    final = wait_for(run_dir, ended)["progress"]
    assert (final["state"], final["cancelled"]) == ("failed", 2) and final.get("stop_reason"), final
    watched = cli("status", run_dir, "--watch")
    assert watched.returncode == 1  # no rec produced a result


@pytest.mark.parametrize("setting, value", [("algorithm", "bayes"), ("automl_max_recommendations", 0),
                                            ("status_interval_minutes", -1), ("long_running_enabled", 5)])
def test_detach_refuses_bad_input_before_anything_is_created(tmp_path: Path, setting: str, value: object) -> None:
    config = demo_config(tmp_path, **{setting: value})
    done = cli("run", str(config), "--detach", "--json")
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert setting in (error["field"] or "") + error["message"] and error["exit_code"] == 2
    assert "Traceback" not in done.stderr and not list((tmp_path / "runs").glob("run_*"))


def test_long_running_enabled_in_the_config_detaches(tmp_path: Path) -> None:
    config = demo_config(tmp_path, recs=1, epochs=1, long_running_enabled=True)
    done = cli("run", str(config), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["detached"] is True
    assert wait_for(report["run_dir"], ended)["progress"]["succeeded"] == 1


def test_python_start_returns_the_run_folder(tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    kwargs = {"train_dataset_uri": "builtin:digits", "workspace_path": tmp_path / "runs", "gpu_count": 0,
              "spec_overrides": {"train.num_epochs": 1},
              "automl_settings": {"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 1,
                                  "poll_interval_s": 0.3}}
    with pytest.raises(UserInputError, match="on_result"):
        runner.start(**kwargs, on_result=lambda *a: None)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("run_*"))
    run_dir = runner.start(**kwargs)
    assert (run_dir / "state.db").exists()
    assert runner.run_dir == run_dir  # was None: the attribute documented as the run this runner last drove
    assert wait_for(run_dir, ended)["progress"]["succeeded"] == 1
    summary = runner.run(**{**kwargs, "workspace_path": tmp_path / "runs2",
                            "automl_settings": {**kwargs["automl_settings"], "long_running_enabled": True}})
    assert summary["detached"] is True
    assert str(runner.run_dir) == summary["run_dir"]  # was the first run's folder
    assert wait_for(summary["run_dir"], ended)["progress"]["succeeded"] == 1


def test_run_with_long_running_enabled_returns_at_once_without_history_and_best_null(tmp_path: Path) -> None:
    """README: "`run()` with `long_running_enabled: true` also returns at once: `run_dir`, `detached`, `orchestrator`
    and the progress so far, with no `history` and `best` null until recs end". Its jobs wait on a file, so no rec
    has ended when run() returns."""
    from conftest import QUADRATIC_TRAINER, write_skill

    gate = tmp_path / "gate"
    trainer = f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n" + QUADRATIC_TRAINER
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    summary = AutoMLRunner(LocalSDK(), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                         "long_running_enabled": True, "poll_interval_s": 0.2},
        workspace_path=tmp_path / "ws", gpu_count=0)
    try:
        assert summary["detached"] is True and summary["orchestrator"]["detached"] is True
        assert summary["run_dir"].startswith(str(tmp_path / "ws")) and "history" not in summary
        assert summary["best"] is None and summary["progress"]["completed"] == 0
        assert summary["progress"]["total"] == 2
    finally:
        gate.touch()
    assert wait_for(summary["run_dir"], ended)["best"] is not None


def test_run_mode_keys_are_accepted_at_the_config_top_level(tmp_path: Path) -> None:
    from tao_automl.cli.run_config import load_run_config
    from tao_automl.errors import ConfigError

    path = demo_config(tmp_path)
    text = path.read_text()
    path.write_text(text + "long_running_enabled: true\nstatus_interval_minutes: 2\n")
    settings = load_run_config(path).automl_settings
    assert settings["long_running_enabled"] is True and settings["status_interval_minutes"] == 2
    path.write_text(text.replace("seed: 0", "seed: 0\n  status_interval_minutes: 3") + "status_interval_minutes: 2\n")
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert info.value.field == "status_interval_minutes"


def test_a_second_orchestrator_is_refused_and_a_resume_after_cancel_launches_only_recs_never_created(
        tmp_path: Path) -> None:
    """README: exit 4 (`run_busy`) while another process holds the run folder; after `stop --cancel-jobs`, a
    resume keeps the cancelled recs as they ended and launches only the recs of the budget never created."""
    config = demo_config(tmp_path, recs=4, epochs=400)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    busy = cli("resume", run_dir, "--json")
    assert busy.returncode == 4, busy.stderr
    assert json.loads(busy.stdout)["error"]["kind"] == "run_busy"
    assert cli("stop", run_dir, "--cancel-jobs").returncode == 0
    first = status_json(run_dir, "--recs", "all")["recommendations"]
    assert [(r["rec_id"], r["status"]) for r in first] == [(1, "cancelled"), (2, "cancelled")]
    assert cli("resume", run_dir, "--detach").returncode == 0
    status = wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    assert sorted(a["rec_id"] for a in status["active_jobs"]) == [3, 4]
    assert cli("stop", run_dir, "--cancel-jobs").returncode == 0
    final = status_json(run_dir, "--recs", "all")
    assert [(r["rec_id"], r["status"]) for r in final["recommendations"]] == [
        (1, "cancelled"), (2, "cancelled"), (3, "cancelled"), (4, "cancelled")]
    assert final["progress"]["total"] == 4 and [r["job_id"] for r in final["recommendations"][:2]] == [
        r["job_id"] for r in first]  # the first two were not relaunched


def test_stop_cancel_jobs_with_the_platform_down_exits_3_and_says_the_jobs_still_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An audit stopped a Slurm run with its controller down: exit 1, kind "platform" and the hint "resume once the
    platform works", with no word that the jobs were not cancelled. README's table says exit 3 for a platform that
    cannot be contacted."""
    from tao_automl.cli.main import main
    from tao_automl.errors import PlatformError
    from tao_automl.runner import detach

    config = demo_config(tmp_path, recs=2, epochs=400)
    run_dir = cli("run", str(config), "--detach").stdout.strip()
    status = wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
    jobs = sorted(a["job_id"] for a in status["active_jobs"])

    class ControllerDown:
        def cancel_job(self, job_id: str) -> bool:
            raise PlatformError("scontrol failed: slurm_load_jobs error: Unable to contact slurm controller "
                                "(connect failure)")

    monkeypatch.setattr(detach, "_sdk_for", lambda folder, meta: ControllerDown())
    assert main(["stop", run_dir, "--cancel-jobs", "--json"]) == 3
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "platform_unreachable" and error["exit_code"] == 3
    assert f"cancelling job {jobs[0]} failed, so it and the run's other in-flight jobs were not cancelled" in \
        error["message"]
    assert error["hint"].startswith(f"retry `tao-automl stop {run_dir} --cancel-jobs` once the platform answers")
    shown = status_json(run_dir)
    assert shown["progress"]["state"] == "interrupted" and shown["orchestrator"]["alive"] is False
    assert sorted(a["job_id"] for a in shown["active_jobs"]) == jobs  # still in flight, as the message says
    monkeypatch.undo()
    assert cli("stop", run_dir, "--cancel-jobs").returncode == 0  # the platform answers again: now they are
    assert [r["status"] for r in status_json(run_dir, "--recs", "all")["recommendations"]] == ["cancelled"] * 2


@contextlib.contextmanager
def _foreground_run_with_two_jobs_running(tmp_path: Path, *options: str) -> Iterator[tuple[Any, str]]:
    """A foreground `tao-automl run` (with ``options``) of a 2-rec demo config whose jobs train 400 epochs, once both
    its jobs run: the process and its run folder; the process is killed at the end if it still runs."""
    import subprocess
    import sys

    from agent_helpers import cli_env

    config = demo_config(tmp_path, recs=2, epochs=400)
    proc = subprocess.Popen([sys.executable, "-m", "tao_automl.cli.main", "run", str(config), *options],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (runs := list((tmp_path / "runs").glob("run_*/state.db"))):
            assert time.monotonic() < deadline and proc.poll() is None, "no run folder"
            time.sleep(0.2)
        run_dir = str(runs[0].parent)
        wait_for(run_dir, lambda s: len(s["active_jobs"]) == 2 and all(a["job_id"] for a in s["active_jobs"]))
        yield proc, run_dir
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_foreground_run_stopped_with_cancel_jobs_does_not_say_its_jobs_keep_running(tmp_path: Path) -> None:
    """`tao-automl run` in the foreground, ended by `stop --cancel-jobs`, said "interrupted: jobs keep running" while
    the stop cancelled them; it now says the stop is cancelling them."""
    with _foreground_run_with_two_jobs_running(tmp_path) as (proc, run_dir):
        done = cli("stop", run_dir, "--cancel-jobs")
        assert done.returncode == 0 and "cancelled 2 job(s)" in done.stdout, (done.stdout, done.stderr)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "keep running" not in err and "stop --cancel-jobs`: it is cancelling the in-flight jobs" in err, err


def test_a_foreground_run_or_resume_is_the_orchestrator_status_shows(tmp_path: Path) -> None:
    """`status` shows the pid and start of the orchestrator that holds the run now: a foreground run or resume
    records itself (before, a foreground resume after a detached run showed the detached one's start)."""
    from conftest import write_skill
    from tao_automl.experiment.holder import orchestrator_info
    from tao_automl.runner.orchestrator import INFO_NAME
    from tao_automl.testing.instant import InstantSDK

    seen: list[dict[str, object]] = []
    skill = write_skill(tmp_path / "bank")
    runner = AutoMLRunner(InstantSDK(), skill)
    settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2}
    started = time.time()
    result = runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    info = json.loads((run_dir / INFO_NAME).read_text())
    assert info["pid"] == os.getpid() and info["detached"] is False and info["started_at"] >= started
    (run_dir / INFO_NAME).write_text(json.dumps({"pid": 1, "detached": True, "started_at": 5.0}))  # an earlier one
    resumed_at = time.time()
    AutoMLRunner(InstantSDK(), skill).run(
        automl_settings={**settings, "automl_max_recommendations": 3}, workspace_path=run_dir, resume=True,
        on_recommendation=lambda rec: seen.append(orchestrator_info(run_dir)))
    assert seen and all(s["alive"] and s["pid"] == os.getpid() and s["detached"] is False
                        and float(s["started_at"]) >= resumed_at for s in seen)  # type: ignore[arg-type]


def test_an_orchestrator_that_loses_the_lock_leaves_the_holders_record(tmp_path: Path) -> None:
    """Two `resume --detach` at once: the loser wrote orchestrator.json (its own, exited pid, detached) before it
    tried the lock, so status showed the live detached winner as 'foreground'. It records itself only once it
    holds the lock, and exits 4 (run_busy) when another holds it."""
    import json
    import os
    import subprocess
    import sys

    from conftest import write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    run = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2},
        workspace_path=tmp_path / "ws", gpu_count=0)
    folder = Path(run["run_dir"])
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from tao_automl.experiment.workspace import RunLock; from tao_automl.runner.orchestrator import write_info; "
         "lock = RunLock(Path(sys.argv[1])).acquire(); write_info(Path(sys.argv[1]), detached=True); "
         "print('held', flush=True); time.sleep(60)", str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        loser = subprocess.run([sys.executable, "-m", "tao_automl.runner.orchestrator", str(folder)], env=env,
                               capture_output=True, text=True, timeout=120)
        info = json.loads((folder / "orchestrator.json").read_text())
    finally:
        holder.kill()
        holder.wait()
    assert loser.returncode == 4
    assert info["pid"] == holder.pid and info["detached"] is True


def test_status_does_not_offer_tao_automl_resume_for_a_platform_it_cannot_rebuild(tmp_path: Path) -> None:
    """A run made from Python on a custom or test SDK (here InstantSDK) showed "continue with `tao-automl resume RUN`"
    when interrupted, and that command refused it ("cannot be rebuilt from the run folder")."""
    from conftest import write_skill
    from tao_automl.experiment.holder import as_shown
    from tao_automl.experiment.lines import orchestrator_line
    from tao_automl.status import query_status
    from tao_automl.testing.instant import InstantSDK

    settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2}
    result = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank")).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    status = query_status(result["run_dir"])
    orchestrator = status["orchestrator"]
    assert orchestrator["platform_class"] == "tao_automl.testing.instant:InstantSDK"
    # interrupted with a rec left (a finished sweep with one left ended early: nothing to continue)
    unspent = {**status["progress"], "completed": 1, "state": "interrupted"}
    line = orchestrator_line(orchestrator, status["run_dir"], unspent)
    assert "tao-automl resume" in line and "cannot rebuild" in line and "AutoMLRunner(sdk" in line
    meta = {"state": "running", "mode": "runner", "platform": {"class": "x:Y", "registered": False}}
    assert "AutoMLRunner(sdk" in as_shown(meta, False, 1.0)["stop_reason"]
    # a registered platform (and a run stored before the flag existed) keeps the command
    local = query_status(str(_local_run(tmp_path)))["orchestrator"]
    assert "platform_class" not in local
    assert "`tao-automl resume" in orchestrator_line(local, "/r", unspent)
    assert "`tao-automl resume` continues it" in as_shown({"state": "running", "mode": "runner"}, False, 1.0)[
        "stop_reason"]


def _local_run(tmp_path: Path) -> str:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    result = runner.run(train_dataset_uri="builtin:digits", workspace_path=tmp_path / "local", gpu_count=0,
                        automl_settings={"metric": "val_accuracy", "automl_max_recommendations": 1},
                        spec_overrides={"train.num_epochs": 1})
    return str(result["run_dir"])


def test_every_command_the_status_line_names_runs_as_printed(tmp_path: Path) -> None:
    """status printed "continue with `tao-automl resume RUN [--detach]`": pasted, the bracket is an unknown argument
    (exit 2). Each backticked command of the orchestrator line parses as the CLI's own arguments."""
    import re
    import shlex

    from tao_automl.cli.main import build_parser
    from tao_automl.experiment.lines import orchestrator_line

    original = tmp_path / "a run"
    (original).mkdir()
    unspent = {"completed": 1, "total": 4, "running": 0, "pending": 0}
    lines = [orchestrator_line({"alive": False}, str(tmp_path / "b run"), unspent),
             orchestrator_line({"alive": False, "copy_of": str(original)}, str(tmp_path / "copy"), unspent)]
    commands = [c for line in lines for c in re.findall(r"`(tao-automl [^`]+)`", line)]
    assert len(commands) == 2, lines
    for command in commands:
        argv = shlex.split(command)[1:]
        build_parser(argv).parse_args(argv)  # an unknown argument exits (SystemExit), failing the test


def test_an_orchestrator_killed_before_it_takes_the_run_over_is_exit_1_with_its_own_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A detached orchestrator SIGKILLed as it started made the CLI exit 247 with "exit_code": -9 (not a code of
    the README's table), and the message quoted the previous orchestrator's log lines as if they were its own."""
    import subprocess
    import sys

    import tao_automl.runner.detach as detach
    from tao_automl.errors import EXIT_NO_RESULT
    from tao_automl.experiment.store import RunStore

    run_dir = tmp_path / "run_1"
    run_dir.mkdir()
    (run_dir / "orchestrator.log").write_text("rec 11 started (an earlier orchestrator's line)\n")
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "experiment_id": "x", "mode": "runner",
                    "state": "starting"})
    store.close()
    real = subprocess.Popen

    def killed_at_once(_argv: Any, **kwargs: Any) -> Any:
        return real([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], **kwargs)

    monkeypatch.setattr(detach.subprocess, "Popen", killed_at_once)
    with pytest.raises(detach.OrchestratorError) as failed:
        detach.spawn_orchestrator(run_dir)
    assert failed.value.exit_code == EXIT_NO_RESULT
    assert "was killed by SIGKILL before it took the run over: (nothing in its log)" in str(failed.value)
    assert "rec 11" not in str(failed.value)
    # closed now: readers (sweep_status's done) waited 90 s on a run left "starting"
    from tao_automl.status import query_status

    shown = query_status(run_dir)["progress"]
    assert shown["state"] == "interrupted" and "killed as it started" in shown["stop_reason"], shown

    def refuses(_argv: Any, **kwargs: Any) -> Any:  # an orchestrator refusing the run (a copy, say): exit 2
        return real([sys.executable, "-c", "print('a copy: resume the original'); raise SystemExit(2)"], **kwargs)

    monkeypatch.setattr(detach.subprocess, "Popen", refuses)
    with pytest.raises(detach.OrchestratorError) as refused:
        detach.spawn_orchestrator(run_dir)
    assert refused.value.exit_code == 2 and "a copy: resume the original" in str(refused.value)
    assert "tao-automl resume" not in str(refused.value.hint)  # it said to resume the folder it had just refused


def _interrupted_at_its_first_rec(tmp_path: Path, *, job_s: float = 0.0) -> tuple[Path, Path]:
    """A toy skill under ``tmp_path/bank`` and the run folder of a 2-rec sweep of it interrupted at its first rec;
    ``job_s``: each job sleeps that long first."""
    from conftest import QUADRATIC_TRAINER, write_skill
    from tao_automl.errors import SweepInterrupted

    def interrupt(rec: Any) -> None:
        raise KeyboardInterrupt

    trainer = f"import time\ntime.sleep({job_s})\n{QUADRATIC_TRAINER}" if job_s else QUADRATIC_TRAINER
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    with pytest.raises(SweepInterrupted) as caught:
        AutoMLRunner(LocalSDK(), skill, log_progress=False).run(
            automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                             "automl_max_concurrent": 1, "poll_interval_s": 0.2},
            workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=interrupt)
    return Path(skill), Path(caught.value.run_dir)


def test_resume_detach_reports_a_run_the_orchestrator_refuses_instead_of_a_started_one(tmp_path: Path) -> None:
    """`resume --detach` of an interrupted run whose skill schema was edited since: the orchestrator claimed the
    folder before it checked the run, so the starter answered "detached": true, exit 0, and the orchestrator then
    exited 2 with the refusal in its log alone. It is checked first: the refusal is the answer (exit 2)."""
    from tao_automl.runner import detach

    skill, run_dir = _interrupted_at_its_first_rec(tmp_path)
    schema_file = skill / "schemas" / "train.schema.json"
    schema = json.loads(schema_file.read_text())
    schema["default"]["train"]["num_epochs"] = 4
    schema_file.write_text(json.dumps(schema))
    with pytest.raises(detach.OrchestratorError, match="changed since the run started") as refused:
        detach.resume_detached(run_dir)
    assert refused.value.exit_code == 2
    assert status_json(str(run_dir))["orchestrator"]["alive"] is False


def test_a_resume_whose_skill_is_gone_says_so_in_one_line_detached_or_not(tmp_path: Path) -> None:
    """The model folder a run was made with, moved away: `resume --detach` answered exit 1 with a Python traceback
    from the orchestrator (its runner was built outside its error handling), and neither form said that the skill
    is the run's own or how to go on. Both now exit 2 with one line saying so."""
    _, interrupted = _interrupted_at_its_first_rec(tmp_path)
    run_dir = str(interrupted)
    (tmp_path / "bank").rename(tmp_path / "bank_moved")
    for extra in ((), ("--detach",)):
        done = cli("resume", run_dir, *extra)
        assert done.returncode == 2, done.stderr
        assert "the skill run run_" in done.stderr and "was made with cannot be loaded" in done.stderr
        assert "put the model folder back there" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_stop_while_the_detached_orchestrator_starts_stops_it_once_it_holds_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tao-automl stop` while `run --detach` / `resume --detach` was still starting the orchestrator (it held no lock
    yet): the stop found no holder, answered "was_running": false, "state": "interrupted", and the orchestrator then
    took the run over and ran the rest of the sweep. The stop now waits for it to hold the run, then stops it. (Jobs
    of 3 s: with instant ones the orchestrator could finish both recs between taking the run and the stop's signal.
    Its intermittent CI failures had another cause: a SIGTERM landing in numpy.random's first import, whose Cython
    code drops the KeyboardInterrupt; the tests of a stop whose interrupt a library swallows pin that one.)"""
    import subprocess
    import sys
    import threading

    from tao_automl.runner import detach

    _, run_dir = _interrupted_at_its_first_rec(tmp_path, job_s=3.0)
    real = subprocess.Popen
    slow_start = ("import runpy, sys, time; time.sleep(1.5); sys.argv = sys.argv[:1] + [sys.argv[-1]]; "
                  "runpy.run_module('tao_automl.runner.orchestrator', run_name='__main__')")

    def slow_to_import(argv: list[str], **kwargs: Any) -> Any:  # an orchestrator importing on a loaded machine
        return real([sys.executable, "-c", slow_start, argv[-1]], **kwargs)

    monkeypatch.setattr(detach.subprocess, "Popen", slow_to_import)
    starter = threading.Thread(target=detach.resume_detached, args=(run_dir,))
    starter.start()
    time.sleep(0.5)  # the starter waits for its orchestrator, which holds nothing yet
    assert detach.lock_holder(run_dir) is None
    stopped = stop_run(run_dir)
    starter.join(timeout=60)
    monkeypatch.undo()  # `status` runs as a command again
    final = wait_for(str(run_dir), ended)
    assert stopped["was_running"] is True and stopped["state"] == "interrupted", stopped
    assert final["progress"]["state"] == "interrupted" and final["progress"]["completed"] < 2, final["progress"]
    assert "stopped on request" in (run_dir / "orchestrator.log").read_text()
    assert not (run_dir / detach.STARTING_FILE).exists()



SWALLOWED_STOP = "import runpy, sys\n" + lost_in_a_library("SIGTERM", "the stop's signal") + """
sys.argv = sys.argv[:1] + [sys.argv[-1]]
runpy.run_module("tao_automl.runner.orchestrator", run_name="__main__")
"""


def test_a_stop_whose_interrupt_a_library_swallows_still_stops_the_detached_orchestrator(tmp_path: Path) -> None:
    """The stop's SIGTERM raises KeyboardInterrupt wherever the orchestrator's main thread is; one that took the run
    a moment before was importing numpy.random, whose Cython code calls ``Sequence.register`` inside ``except:
    pass``: the interrupt was dropped there, SIGTERM was ignored from then on, and the orchestrator ran the whole
    sweep behind a stop that had answered was_running true (CI: the stop-while-it-starts test). A stop request is
    recorded as well as raised, and the sweep's loop raises one that never ended it. (The signal is raised inside a
    block that drops its KeyboardInterrupt here, while the orchestrator checks the run it took.)"""
    import subprocess
    import sys

    _, run_dir = _interrupted_at_its_first_rec(tmp_path)
    with open(run_dir / "orchestrator.log", "ab") as log:
        done = subprocess.run([sys.executable, "-c", SWALLOWED_STOP, str(run_dir)], stdout=log,
                              stderr=subprocess.STDOUT, timeout=120, check=False)
    text = (run_dir / "orchestrator.log").read_text()
    assert done.returncode == EXIT_INTERRUPTED, text
    assert "stopped on request" in text and "rec 2 started" not in text, text
    assert status_json(str(run_dir))["progress"]["state"] == "interrupted"


SWALLOWED_FOREGROUND_STOP = "import sys\n" + lost_in_a_library("SIGTERM", "`tao-automl stop`") + """
from tao_automl.cli.main import main
sys.exit(main(["run", sys.argv[1]]))
"""


def test_a_stop_whose_interrupt_a_library_swallows_still_stops_a_foreground_run(tmp_path: Path) -> None:
    """A foreground `tao-automl run` ends on `tao-automl stop` (SIGTERM) as the detached orchestrator does, with the
    same handler shape (raise KeyboardInterrupt, ignore the next ones): an interrupt dropped inside a library let the
    run go on to its end. The request is recorded and the sweep's loop raises it. (Raised here inside a block that
    drops it, while the run's plan is checked, before its run folder exists.)"""
    import subprocess
    import sys

    from agent_helpers import cli_env

    config = demo_config(tmp_path, recs=2, epochs=1, concurrent=1)
    done = subprocess.run([sys.executable, "-c", SWALLOWED_FOREGROUND_STOP, str(config)], capture_output=True,
                          text=True, env=cli_env(), timeout=180, check=False)
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    (run_dir,) = (tmp_path / "runs").glob("run_*")
    progress = status_json(str(run_dir))["progress"]
    assert progress["state"] == "interrupted" and progress["completed"] == 0, progress


SWALLOWED_CTRL_C = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background start ignores it)
""" + lost_in_a_library("SIGINT", "Ctrl-C") + """
from tao_automl.cli.main import main
sys.exit(main(["run", sys.argv[1]]))
"""


def test_a_ctrl_c_whose_interrupt_a_library_swallows_still_stops_a_foreground_run(tmp_path: Path) -> None:
    """Ctrl-C raised KeyboardInterrupt through Python's own handler, which records nothing: one landing in a library
    that drops it (numpy.random's first import, as `tao-automl stop`'s SIGTERM did) let the run go on to its end,
    exit 0. A run's Ctrl-C is now a recorded stop request too, which the sweep's loop raises again."""
    import subprocess
    import sys

    from agent_helpers import cli_env

    config = demo_config(tmp_path, recs=2, epochs=1, concurrent=1)
    done = subprocess.run([sys.executable, "-c", SWALLOWED_CTRL_C, str(config)], capture_output=True,
                          text=True, env=cli_env(), timeout=180, check=False)
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    (run_dir,) = (tmp_path / "runs").glob("run_*")
    progress = status_json(str(run_dir))["progress"]
    assert progress["state"] == "interrupted" and progress["completed"] == 0, progress


STOP_THEN_ANOTHER_SWEEP = """
import signal, sys
from tao_automl.runner import plan
from tao_automl.cli.main import main
real = plan.check_render
def stop_here(*args, **kwargs):
    plan.check_render = real
    signal.raise_signal(signal.SIGTERM)  # `tao-automl stop` while the first sweep's plan is checked: not dropped
plan.check_render = stop_here
first = main(["run", sys.argv[1]])
print("first", first, flush=True)
sys.exit(main(["run", sys.argv[2]]))
"""


def test_a_stop_that_ended_one_sweep_leaves_no_request_behind_for_the_next_in_the_same_process(tmp_path: Path) -> None:
    """A stop recorded for one sweep (its interrupt ended that sweep before its loop began) is over once that sweep
    ended: a second sweep the same process runs (a Python program calling the CLI's main twice, a long-lived host)
    runs to its end, and is not interrupted by the first sweep's stop at its loop's first turn."""
    import subprocess
    import sys

    from agent_helpers import cli_env

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first = demo_config(tmp_path / "a", recs=1, epochs=1, concurrent=1)
    second = demo_config(tmp_path / "b", recs=1, epochs=1, concurrent=1)
    done = subprocess.run([sys.executable, "-c", STOP_THEN_ANOTHER_SWEEP, str(first), str(second)],
                          capture_output=True, text=True, env=cli_env(), timeout=180, check=False)
    assert f"first {EXIT_INTERRUPTED}" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "b" / "runs").glob("run_*")
    assert status_json(str(run_dir))["progress"]["state"] == "finished"


HOLDER = """
import sys, time
from pathlib import Path
from tao_automl.experiment.workspace import RunLock
RunLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_stop_that_sees_the_start_end_between_its_two_looks_still_finds_the_orchestrator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop while a detached orchestrator starts looked for the run's holder (none yet), then for the starter's
    marker: when the orchestrator took the run in between and its starter removed the marker, the stop saw neither
    and answered "was_running": false while the orchestrator ran the sweep. The marker is read first now: once it is
    gone, the orchestrator holds the run (or has ended), and the holder read after it says which. (The orchestrator
    takes the run exactly between the stop's first two looks here: a process holding the run's lock.)"""
    import subprocess
    import sys

    from tao_automl.runner import detach

    _, run_dir = _interrupted_at_its_first_rec(tmp_path)
    detach.mark_starting(run_dir, os.getpid())  # a starter that is waiting for its orchestrator
    taken: list[subprocess.Popen[str]] = []
    real = detach.lock_holder

    def taken_after_this_look(folder: Any, thorough: bool = False) -> int | None:
        found = real(folder, thorough)
        if not taken:  # the orchestrator takes the run now, and its starter removes the marker
            taken.append(subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE,
                                          text=True))
            assert taken[0].stdout is not None and taken[0].stdout.readline() == "held\n"
            (run_dir / detach.STARTING_FILE).unlink()
        return found

    monkeypatch.setattr(detach, "lock_holder", taken_after_this_look)
    try:
        stopped = stop_run(run_dir, timeout_s=30)
        assert stopped["was_running"] is True and stopped["pid"] == taken[0].pid, stopped
        assert taken[0].wait(timeout=30) == -signal.SIGTERM  # the stop's signal ended it
    finally:
        for process in taken:
            process.kill()
            process.wait()


SLOW_STOP = """
import sys, time
from tao_automl.runner import release
real = release.release_pending
def slow_release(*args, **kwargs):
    time.sleep(3)  # a platform slow to answer: this stop holds the run's lock meanwhile
    return real(*args, **kwargs)
release.release_pending = slow_release
from tao_automl.cli.main import main
sys.exit(main(["stop", sys.argv[1], "--cancel-jobs"]))
"""


def _slow_stop_holding_the_lock(run_dir: Path) -> Any:
    """A `tao-automl stop --cancel-jobs` process of ``run_dir``, returned once it holds the run's lock to write."""
    import subprocess
    import sys

    from tao_automl.runner import detach

    stop = subprocess.Popen([sys.executable, "-c", SLOW_STOP, str(run_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while detach.lock_holder(run_dir) != stop.pid:
        assert stop.poll() is None and time.monotonic() < deadline, stop.communicate()
        time.sleep(0.02)
    return stop


def test_a_second_stop_waits_for_the_first_instead_of_killing_it(tmp_path: Path) -> None:
    """Two `tao-automl stop --cancel-jobs` at once: the second took the first (which held the run's lock to record
    its cancels) for the orchestrator and sent it SIGTERM, so the first died mid-way (exit -15, no output); or, when
    both had signalled the orchestrator, the second was refused with "in use by another orchestrator" (exit 4). The
    second now waits for the first to finish writing and signals nothing."""
    from tao_automl.runner import detach

    _, run_dir = _interrupted_at_its_first_rec(tmp_path)
    first = _slow_stop_holding_the_lock(run_dir)
    second = stop_run(run_dir, cancel_jobs=True)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, (first.returncode, out, err)
    assert second["was_running"] is False and second["state"] == "interrupted", second
    first = _slow_stop_holding_the_lock(run_dir)
    with detach._stop_lock(run_dir, 60):  # a stop that had looked for the orchestrator before the first took the lock
        assert first.wait(timeout=30) == 0, first.communicate()  # taken once the first let it go
    assert not list(run_dir.glob(f"{detach.STOP_WRITING_PREFIX}*"))


def test_status_shows_no_orchestrator_while_a_stop_writes_its_record(tmp_path: Path) -> None:
    """While `stop --cancel-jobs` held the run's lock to record its cancels (as long as the platform took to cancel),
    `status` said "orchestrator: alive (pid <the stop>, foreground)" and `--json` "alive": true, so a poller took the
    stopped run for a running one."""
    from tao_automl.status import query_status

    _, run_dir = _interrupted_at_its_first_rec(tmp_path)
    stop = _slow_stop_holding_the_lock(run_dir)
    try:
        shown = query_status(run_dir)["orchestrator"]
    finally:
        stop.communicate(timeout=60)
    assert shown["alive"] is False and shown["pid"] is None, shown


def test_a_resume_while_a_stop_writes_its_record_names_the_stop(tmp_path: Path) -> None:
    """A resume while `stop --cancel-jobs` held the run's lock to record its cancels was refused "in use by another
    orchestrator (pid <the stop>)": it names the stop, which ends by itself."""
    from tao_automl.errors import WorkspaceLockedError
    from tao_automl.experiment.workspace import RunLock

    _, run_dir = _interrupted_at_its_first_rec(tmp_path)
    stop = _slow_stop_holding_the_lock(run_dir)
    try:
        with pytest.raises(WorkspaceLockedError) as caught:
            RunLock(run_dir).acquire()
    finally:
        stop.communicate(timeout=60)
    assert "being written by a `tao-automl stop`" in str(caught.value) and "orchestrator (" not in str(caught.value)


def test_an_interrupted_start_calls_its_orchestrator_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tao-automl stop` (or Ctrl-C) reaching `run --detach` / `resume --detach` while it waited for the orchestrator
    it had just started: the starter said "interrupted before the sweep started" (exit 130), the stop said the run
    was interrupted, and the orchestrator then took the run over and ran the whole sweep. The starter now ends the
    orchestrator it started before it passes the interrupt on."""
    import subprocess
    import sys

    from tao_automl.runner import detach

    _, run_dir = _interrupted_at_its_first_rec(tmp_path)
    real_popen, real_holder = subprocess.Popen, detach.lock_holder
    slow_start = ("import runpy, sys, time; time.sleep(1.5); sys.argv = sys.argv[:1] + [sys.argv[-1]]; "
                  "runpy.run_module('tao_automl.runner.orchestrator', run_name='__main__')")
    started: list[Any] = []

    def slow_to_import(argv: list[str], **kwargs: Any) -> Any:
        started.append(real_popen([sys.executable, "-c", slow_start, argv[-1]], **kwargs))
        return started[-1]

    def interrupted_once_started(*args: Any, **kwargs: Any) -> int | None:
        if started:  # the starter waits for it: Ctrl-C, or `stop`'s SIGTERM
            raise KeyboardInterrupt
        return real_holder(*args, **kwargs)

    monkeypatch.setattr(detach.subprocess, "Popen", slow_to_import)
    monkeypatch.setattr(detach, "lock_holder", interrupted_once_started)
    with pytest.raises(KeyboardInterrupt):
        detach.resume_detached(run_dir)
    monkeypatch.undo()
    assert started[0].poll() is not None  # ended before the interrupt was passed on
    time.sleep(2)
    final = wait_for(str(run_dir), ended)
    assert final["progress"]["state"] == "interrupted" and final["progress"]["completed"] < 2, final["progress"]
    assert not (run_dir / detach.STARTING_FILE).exists()


def test_a_closed_terminal_while_a_detached_orchestrator_starts_does_not_call_it_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tao-automl run --detach` ends a foreground run on SIGHUP (its terminal closed) as on stop; the starter of a
    detached orchestrator took that hangup as a stop and called the orchestrator off, so a dropped ssh session
    during its start ended the very sweep --detach is for. The starter now lets it start (SIGHUP ignored meanwhile)."""
    from tao_automl.cli.main import _stop_requested
    from tao_automl.runner import detach

    run_dir = tmp_path / "run"
    run_dir.mkdir()

    def hung_up_while_starting(run_dir: Path, *args: Any) -> tuple[bool, Path]:
        os.kill(os.getpid(), signal.SIGHUP)  # the terminal closes while the orchestrator imports
        time.sleep(0.05)
        return False, run_dir

    monkeypatch.setattr(detach, "_spawn", hung_up_while_starting)
    before = signal.signal(signal.SIGHUP, _stop_requested)  # as `tao-automl run` sets it
    try:
        assert detach.spawn_orchestrator(run_dir) == run_dir
        assert signal.getsignal(signal.SIGHUP) is _stop_requested  # a foreground run still ends on it after
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_busy_run_folder_error_says_what_is_allowed(tmp_path: Path) -> None:
    """`resume` and `resume --detach` of a folder another process holds answered `run_busy` with `allowed: null`
    (every error names the field, the value and what is allowed). Both say now what a resume needs: the folder
    free of another orchestrator."""
    import subprocess
    import sys

    from agent_helpers import cli_env
    from conftest import write_skill

    run = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1},
        workspace_path=tmp_path / "ws", gpu_count=0)
    folder = str(run["run_dir"])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from tao_automl.experiment.workspace import RunLock; lock = RunLock(Path(sys.argv[1])).acquire(); "
         "print('held', flush=True); time.sleep(60)", folder], stdout=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        answers = [cli("resume", folder, "--json"), cli("resume", folder, "--detach", "--json")]
    finally:
        holder.kill()
        holder.wait()
    for done in answers:
        assert done.returncode == 4, done.stdout + done.stderr
        error = json.loads(done.stdout)["error"]
        assert (error["kind"], error["field"], error["value"]) == ("run_busy", "run_dir", folder), error
        assert error["allowed"] and "orchestrator" in error["allowed"], error


def test_resume_detach_and_stop_of_an_ask_tell_run_say_what_is_allowed_and_how_it_continues(tmp_path: Path) -> None:
    """`resume RUN` of an ask/tell folder named what is allowed and how such a run continues (AutoML(...,
    resume=True)); `resume --detach` and `stop` (and their MCP tools) answered `allowed: null` and only "pass a
    folder made by `tao-automl run`". They say both now."""
    from conftest import small_schema
    from tao_automl import AutoML
    from tao_automl.agentapi.tools import call_tool

    automl = AutoML(workspace=tmp_path / "asked", network="toy", search_schema=small_schema(), log_progress=False,
                    settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1})
    rec, = automl.next_recommendation()
    automl.report_result(rec.id, 0.5)
    automl.finish()
    folder = str((tmp_path / "asked").resolve())
    answers = [json.loads(cli(*argv, folder, *more, "--json").stdout)["error"]
               for argv, more in ((["resume"], []), (["resume"], ["--detach"]), (["stop"], []))]
    answers += [call_tool(tool, {"run_dir": folder})[0]["error"] for tool in ("resume_sweep", "stop_sweep")]
    for error in answers:
        assert (error["kind"], error["field"], error["exit_code"]) == ("workspace", "run_dir", 2), error
        # the MCP tools name their own tool for the command
        assert error["allowed"] in ("a run folder made by `tao-automl run`", "a run folder made by `start_sweep`")
        assert "AutoML(..., resume=True)" in error["hint"], error
    assert [e["allowed"].endswith("`start_sweep`") for e in answers] == [False] * 3 + [True] * 2


def test_a_custom_sdk_run_left_open_with_its_budget_spent_is_closed_from_python_not_nothing_to_resume(
        tmp_path: Path) -> None:
    """A run on a custom SDK, its orchestrator killed after its last rec ended: the stop reason said
    "AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True) continues it" while the orchestrator line said
    "nothing to resume". That resume launches nothing and only closes the run: the line says so, in one way."""
    from conftest import write_skill
    from tao_automl.experiment.holder import as_shown
    from tao_automl.experiment.lines import orchestrator_line
    from tao_automl.status import query_status
    from tao_automl.testing.instant import InstantSDK

    settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2}
    result = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank")).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    status = query_status(result["run_dir"])
    left_open = {**status["progress"], "state": "interrupted"}  # every rec ended, the run not closed
    line = orchestrator_line(status["orchestrator"], status["run_dir"], left_open)
    assert "nothing to resume" not in line, line
    assert "AutoMLRunner(sdk" in line and "resume=True" in line and "only closes the run" in line, line
    assert f"`tao-automl resume {status['run_dir']}`" in line, line  # it closes it too: closing needs no platform
    meta = {"state": "running", "mode": "runner", "platform": {"class": "x:Y", "registered": False}}
    assert "AutoMLRunner(sdk" in as_shown(meta, False, 1.0)["stop_reason"]
    closed = {**status["progress"], "state": "finished"}
    assert "nothing to resume" in orchestrator_line(status["orchestrator"], status["run_dir"], closed)


@pytest.mark.parametrize("cancel", [False, True], ids=["stop", "stop-cancel-jobs"])
def test_a_stopped_foreground_run_json_says_whether_its_jobs_were_left_running(tmp_path: Path, cancel: bool) -> None:
    """A foreground `run --json` ended by `stop` printed its in-flight recs as `running`, as if something still
    followed them: true of the jobs, but no orchestrator drives the run any more. Each in-flight rec (and its
    `active_jobs` entry) now says `left_running`: true after a plain stop (the jobs run on; `resume` re-attaches to
    them, and `status --json` says the same), false after `stop --cancel-jobs` (that stop is cancelling them, and
    status then shows them cancelled)."""
    with _foreground_run_with_two_jobs_running(tmp_path, "--json") as (proc, run_dir):
        assert not any(a["left_running"] for a in status_json(run_dir)["active_jobs"])  # followed by the run
        done = cli("stop", run_dir, *(["--cancel-jobs"] if cancel else []))
        assert done.returncode == 0, (done.stdout, done.stderr)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    printed = json.loads(out)
    in_flight = [r for r in printed["recommendations"] if r["status"] in ("pending", "running")]
    assert len(in_flight) == len(printed["active_jobs"]) == 2, printed["recommendations"]
    assert [r["left_running"] for r in in_flight + printed["active_jobs"]] == [not cancel] * 4, printed
    shown = status_json(run_dir, "--recs", "all")
    if cancel:
        assert [r["status"] for r in shown["recommendations"]] == ["cancelled"] * 2
        assert [r["left_running"] for r in shown["recommendations"]] == [False] * 2
    else:
        assert [(r["status"], r["left_running"]) for r in shown["recommendations"]] == [("running", True)] * 2
        assert [a["left_running"] for a in shown["active_jobs"]] == [True] * 2
        assert cli("stop", run_dir, "--cancel-jobs").returncode == 0  # the jobs it left: not left behind the test

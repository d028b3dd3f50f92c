"""SIGKILL the orchestrator mid-sweep, resume, and check nothing ran twice and nothing was lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from conftest import write_skill
from tao_automl import query_status
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner

SRC = Path(__file__).resolve().parents[1] / "src"

TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    with open(os.environ["LAUNCH_LOG"], "a") as f:
        f.write(spec["results_dir"] + "\\n")
    time.sleep(1.5)
    os.makedirs(spec["results_dir"], exist_ok=True)
    lr = spec["train"]["optim"]["lr"]
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "kpi": {"val_loss": abs(lr - 0.1)}}) + "\\n")
    """
)

ORCHESTRATOR = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner
    runner = AutoMLRunner(LocalSDK(jobs_dir={jobs!r}), {skill!r})
    runner.run(automl_settings={settings!r}, workspace_path={ws!r}, gpu_count=0)
    """
)


def _wait_for(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_kill_9_mid_sweep_then_resume(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=TRAINER)
    launches = tmp_path / "launches.txt"
    settings = {"metric": "val_loss", "automl_max_recommendations": 8, "automl_max_concurrent": 3, "seed": 5,
                "poll_interval_s": 0.5}
    jobs, ws = tmp_path / "jobs", tmp_path / "ws"
    script = ORCHESTRATOR.format(src=str(SRC), jobs=str(jobs), skill=str(skill), settings=settings, ws=str(ws))
    env = {**os.environ, "LAUNCH_LOG": str(launches)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)

    def mid_sweep() -> bool:
        runs = list(ws.glob("run_*"))
        if not runs:
            return False
        status = query_status(runs[0])
        return "error" not in status and status["progress"]["succeeded"] >= 2 and len(status["active_jobs"]) >= 2

    try:
        _wait_for(mid_sweep, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = next(ws.glob("run_*"))
    before = {h["rec_id"]: h for h in query_status(run_dir, recs="all")["recommendations"]}
    finished_before = {k: v["metric_value"] for k, v in before.items() if v["status"] == "success"}
    in_flight = [k for k, v in before.items() if v["status"] in ("pending", "running") and v["job_id"]]
    assert finished_before and in_flight

    os.environ["LAUNCH_LOG"] = str(launches)
    try:
        result = AutoMLRunner(LocalSDK(jobs_dir=jobs), skill).run(workspace_path=run_dir, resume=True)
    finally:
        del os.environ["LAUNCH_LOG"]

    assert result["progress"]["completed"] == 8 == result["progress"]["total"]
    after = {h["rec_id"]: h for h in result["history"]}
    assert sorted(after) == list(range(1, 9))
    for rec_id, value in finished_before.items():
        assert after[rec_id]["metric_value"] == value  # no finished result lost or recomputed
    counts = Counter(launches.read_text().split())
    assert len(counts) == 8 and set(counts.values()) == {1}, f"a rec was launched twice: {counts}"
    store = RunStore(run_dir, readonly=True)
    submitted = Counter(e["rec_id"] for e in store.events("job_submitted"))
    assert set(submitted.values()) == {1}
    reattached = {e["rec_id"] for e in store.events("job_reattached")}
    assert set(in_flight) <= reattached | set(finished_before)


STOP_KILLED_AFTER_ITS_CANCEL = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {src!r})
    from tao_automl.platforms.local import sdk as local_sdk
    real = local_sdk.LocalSDK.cancel_job
    def cancel_then_die(self, job_id):
        real(self, job_id)
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 of `stop` between the cancel and its record of it
    local_sdk.LocalSDK.cancel_job = cancel_then_die
    from tao_automl.cli.main import main
    main(["stop", {run_dir!r}, "--cancel-jobs"])
    """
)


def test_a_stop_cancel_jobs_killed_after_its_cancel_is_named_by_the_resume(tmp_path: Path) -> None:
    """`tao-automl stop --cancel-jobs` SIGKILLed after it cancelled a job and before it recorded the rec's end: the
    resume found the job cancelled and recorded the rec "cancelled outside this sweep (not by ... `tao-automl stop
    --cancel-jobs` ...)", the opposite of what happened. The stop records its decision before the cancel, and the
    resume reads it."""
    trainer = "import time\ntime.sleep(120)\n"
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    settings = {"metric": "val_loss", "automl_max_recommendations": 1, "automl_max_concurrent": 1,
                "poll_interval_s": 0.2}
    jobs, ws = tmp_path / "jobs", tmp_path / "ws"
    script = ORCHESTRATOR.format(src=str(SRC), jobs=str(jobs), skill=str(skill), settings=settings, ws=str(ws))
    orchestrator = subprocess.Popen([sys.executable, "-c", script])
    try:
        def in_flight() -> bool:
            runs = list(ws.glob("run_*"))
            status = query_status(runs[0]) if runs else {"error": "no run yet"}
            return "error" not in status and any(a["job_id"] for a in status["active_jobs"])

        _wait_for(in_flight, timeout=60)
        run_dir = next(ws.glob("run_*"))
        stop = subprocess.run([sys.executable, "-c", STOP_KILLED_AFTER_ITS_CANCEL.format(src=str(SRC),
                                                                                         run_dir=str(run_dir))])
        assert stop.returncode == -signal.SIGKILL
        orchestrator.wait(timeout=60)  # the stop's SIGTERM ended it before the cancel
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
            orchestrator.wait()
    result = AutoMLRunner(LocalSDK(jobs_dir=jobs), skill).run(workspace_path=run_dir, resume=True)
    [rec] = result["history"]
    assert rec["status"] == "cancelled"
    assert rec["message"] == "cancelled: `tao-automl stop --cancel-jobs`", rec["message"]


def _killed_once_rec_2_was_submitted(tmp_path: Path, trainer: str) -> tuple[Path, Path, Path]:
    """A 2-rec sweep of ``trainer`` SIGKILLed after the platform took rec 2's job, before its id was stored; its run
    folder, the local jobs folder and the skill."""
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 2,
                "poll_interval_s": 0.2}
    jobs, ws = tmp_path / "jobs", tmp_path / "ws"
    script = ORCHESTRATOR.format(src=str(SRC), jobs=str(jobs), skill=str(skill), settings=settings, ws=str(ws))
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "TAO_AUTOML_CRASH_AT": "job_created:2"})
    assert killed.returncode == -signal.SIGKILL
    return next(ws.glob("run_*")), jobs, skill


def test_stop_cancel_jobs_after_a_kill_between_submit_and_its_record_cancels_that_job_too(tmp_path: Path) -> None:
    """The orchestrator SIGKILLed after the platform took rec 2's job and before it stored the job's id: `tao-automl
    stop --cancel-jobs` cancelled only rec 1's job and said nothing ran any more, while rec 2's job ran on (seen on a
    real Slurm: the job RUNNING in squeue after the stop). The stop finds such a job by its name, as a resume does,
    and cancels it."""
    run_dir, jobs, _ = _killed_once_rec_2_was_submitted(tmp_path, "import time\ntime.sleep(120)\n")
    sdk = LocalSDK(jobs_dir=jobs)
    job_names = {rec.rec_id: str(rec.job_name) for rec in RunStore(run_dir, readonly=True).recs()}
    unrecorded = sdk.find_job(job_names[2])
    try:
        assert unrecorded is not None and sdk.get_job_status(unrecorded) is JobStatus.RUNNING
        assert query_status(run_dir, recs="all")["recommendations"][1]["job_id"] is None
        stop = subprocess.run([sys.executable, "-c", STOP.format(src=str(SRC), run_dir=str(run_dir))])
        assert stop.returncode == 0
        assert sdk.get_job_status(unrecorded) is JobStatus.CANCELLED
        recs = query_status(run_dir, recs="all")["recommendations"]
        assert [(r["status"], r["job_id"]) for r in recs] == [("cancelled", sdk.find_job(job_names[1])),
                                                              ("cancelled", unrecorded)]
    finally:
        for name in job_names.values():
            job_id = sdk.find_job(name)
            if job_id is not None and not sdk.get_job_status(job_id).is_finished():
                sdk.cancel_job(job_id)


STOP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from tao_automl.cli.main import main
    sys.exit(main(["stop", {run_dir!r}, "--cancel-jobs"]))
    """
)


TIMED_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    started = time.time()
    time.sleep(2.0)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "kpi": {"val_loss": 1.0}}) + "\\n")
    with open(os.path.join(spec["results_dir"], "times.json"), "w") as f:
        json.dump({"started": started, "ended": time.time()}, f)
    """
)


def test_a_job_submitted_by_a_killed_orchestrator_keeps_its_own_times_on_resume(tmp_path: Path) -> None:
    """The orchestrator SIGKILLed after the platform took rec 2's job and before it stored the id; the job ran its
    2 s and ended while nothing ran. The resume found the job by its name but recorded it as submitted at the
    resume's time, and refused the platform's end time as before that: rec 2 showed started_at and finished_at at
    the resume and a wall time of 0.15 s (real Slurm: a 6 s job; Docker: 0.06 s). Its times are the job's."""
    run_dir, jobs, skill = _killed_once_rec_2_was_submitted(tmp_path, TIMED_TRAINER)
    times = run_dir / "recs" / "rec_0002" / "results" / "times.json"
    _wait_for(times.exists, timeout=30)  # the job ends while no orchestrator runs
    time.sleep(1.0)
    result = AutoMLRunner(LocalSDK(jobs_dir=jobs), skill).run(workspace_path=run_dir, resume=True)
    rec = result["history"][1]
    truth = json.loads(times.read_text())
    assert rec["status"] == "success" and rec["job_id"] is not None
    assert rec["started_at"] <= truth["started"], (rec["started_at"], truth)
    assert abs(rec["finished_at"] - truth["ended"]) < 1.0, (rec["finished_at"], truth)
    assert rec["wall_time_s"] >= 2.0, rec["wall_time_s"]


SCORE_THEN_SLEEP = textwrap.dedent(
    """
    import time
    for step in range(12):
        print(f"step {step} score 0.42", flush=True)
        time.sleep(0.25)
    """
)

EXTRACTING_ORCHESTRATOR = textwrap.dedent(
    """
    import re, sys
    sys.path.insert(0, {src!r})
    from tao_automl.platforms.base import JobStatus
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    class LogGoneOnceEnded(LocalSDK):  # a platform that drops an ended job's log (a deleted pod)
        def get_job_logs(self, job_id, tail=None):
            if JobStatus.parse(self.get_job_status(job_id)).is_finished():
                return ""
            return super().get_job_logs(job_id, tail)

    def score(logs, name):
        found = re.findall(r"score (\\d+\\.\\d+)", logs)
        if found:
            open({seen!r}, "a").write(found[-1] + "\\n")
        return float(found[-1]) if found else None

    runner = AutoMLRunner(LogGoneOnceEnded(jobs_dir={jobs!r}), {skill!r}, log_progress=False)
    if {resume!r}:
        runner.run(workspace_path={ws!r}, resume=True, metric_extractor=score)
    else:
        runner.run(automl_settings={settings!r}, workspace_path={ws!r}, gpu_count=0, metric_extractor=score)
    """
)


def test_a_kill_keeps_the_metric_extractor_s_polled_number_for_a_job_whose_log_is_gone(tmp_path: Path) -> None:
    """The runner keeps the extractor's last number from a log poll for a job whose platform drops its log once it
    ended. It was kept in memory only: the orchestrator SIGKILLed after polls read 0.42 and the job ending while
    nothing ran, the resume found the log gone and failed the rec 'reported no metric', a result the job wrote and
    the sweep had read lost. The number is stored when a poll reads it, and a resume takes it up."""
    skill = write_skill(tmp_path / "bank", trainer=SCORE_THEN_SLEEP)
    settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                "poll_interval_s": 0.2}
    jobs, ws, seen = tmp_path / "jobs", tmp_path / "ws", tmp_path / "seen.txt"

    def orchestrator(workspace: Path, resume: bool) -> subprocess.Popen[bytes]:
        script = EXTRACTING_ORCHESTRATOR.format(src=str(SRC), jobs=str(jobs), skill=str(skill), settings=settings,
                                                ws=str(workspace), seen=str(seen), resume=resume)
        return subprocess.Popen([sys.executable, "-c", script])

    first = orchestrator(ws, False)
    try:
        _wait_for(lambda: seen.exists() and "0.42" in seen.read_text(), timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    run_dir = next(ws.glob("run_*"))
    sdk = LocalSDK(jobs_dir=jobs)
    (job_id,) = [r.job_id for r in RunStore(run_dir, readonly=True).recs()]
    assert job_id is not None
    _wait_for(lambda: sdk.get_job_status(job_id).is_finished(), timeout=60)  # it ends while nothing runs
    resumed = orchestrator(run_dir, True)
    assert resumed.wait(timeout=120) == 0
    (rec,) = query_status(run_dir, recs="all")["recommendations"]
    assert (rec["status"], rec["metric_value"]) == ("success", 0.42), rec

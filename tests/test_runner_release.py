"""The runner releases what a platform holds for an ended job (``release_job``: Brev's instance) once the rec's result
is stored: never before, a failure never fails the rec, and a resume releases what a crash left unreleased.

The platform is :class:`~tao_automl.testing.InstantSDK` (in process, jobs end at once) with a ``release_job`` that
records each call and what the run had stored for the rec at that moment; nothing else is faked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tao_automl.errors import PlatformError, SweepInterrupted
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.base import Job, JobStatus
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing import InstantSDK

SETTINGS = {"metric": "val_loss", "automl_max_recommendations": 4, "automl_max_concurrent": 1, "seed": 5,
            "algorithm": "random", "poll_interval_s": 0.01}


class ReleasingSDK(InstantSDK):
    """InstantSDK with a ``release_job``; ``fail``: every release raises; ``interrupt_at``: the n-th release is
    interrupted as a kill would interrupt it (after the rec's result was stored, before anything was released)."""

    def __init__(self, fail: bool = False, interrupt_at: int | None = None) -> None:
        super().__init__()
        self.fail, self.interrupt_at = fail, interrupt_at
        self.runner: AutoMLRunner | None = None
        self.calls = 0
        #: (job id, the rec's stored status when its release came)
        self.released: list[tuple[str, str]] = []

    def release_job(self, job_id: str) -> str | None:
        self.calls += 1
        if self.interrupt_at == self.calls:
            raise KeyboardInterrupt
        if self.fail:
            raise PlatformError(f"deleting instance box-{self.calls} failed; delete it by hand: `brev delete "
                                f"box-{self.calls}`")
        assert self.runner is not None and self.runner.run_dir is not None
        store = RunStore(self.runner.run_dir, readonly=True)
        try:
            [row] = [r for r in store.recs() if r.job_id == job_id]
        finally:
            store.close()
        self.released.append((job_id, str(getattr(row.status, "value", row.status))))
        return f"box for {job_id} deleted"


def _runner(sdk: ReleasingSDK, skill: Path) -> AutoMLRunner:
    runner = AutoMLRunner(sdk, skill, log_progress=False)
    sdk.runner = runner
    return runner


def _events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    store = RunStore(run_dir, readonly=True)
    try:
        return store.events(kind)
    finally:
        store.close()


def test_each_job_is_released_once_after_its_result_is_stored(toy_skill: Path, tmp_path: Path) -> None:
    """No runner step released anything: an instance made for a rec ran on after the sweep. Now each job is released
    once, when its rec's result is already stored, and the run records it."""
    sdk = ReleasingSDK()
    result = _runner(sdk, toy_skill).run(automl_settings=SETTINGS, workspace_path=tmp_path / "ws", gpu_count=0)
    jobs = [h["job_id"] for h in result["history"]]
    assert len(jobs) == 4 and sorted(j for j, _ in sdk.released) == sorted(jobs)
    assert {status for _, status in sdk.released} <= {"success", "failure"}
    assert sorted(e["payload"]["job_id"] for e in _events(Path(result["run_dir"]), "released")) == sorted(jobs)


class HangingSDK(ReleasingSDK):
    """ReleasingSDK whose jobs run until cancelled (then they end cancelled)."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled: set[str] = set()

    def create_job(self, image: str | None, command: Any, gpu_count: int = 1, env_vars: Any = None,
                   inputs: Any = None, outputs: Any = None, **kwargs: Any) -> Job:
        return Job(id=str((outputs or {})["results_dir"]), results_dir=str((outputs or {})["results_dir"]),
                   name=kwargs.get("job_name"))

    def get_job_status(self, job_id: str) -> JobStatus:
        return JobStatus.CANCELLED if job_id in self.cancelled else JobStatus.RUNNING

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        return "training...\n"

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        return None

    def cancel_job(self, job_id: str) -> bool:
        self.cancelled.add(job_id)
        return True


class EndedSDK(HangingSDK):
    """HangingSDK in a later process: every job it is asked about has ended with ``val_loss`` 0.5."""

    def get_job_status(self, job_id: str) -> JobStatus:
        return JobStatus.SUCCESS

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        return '{"epoch": 1, "kpi": {"val_loss": 0.5}}\n' if relative_path == "status.json" else None


def test_a_job_in_flight_when_the_run_stops_keeps_its_instance_until_a_resume_collects_it(
        toy_skill: Path, tmp_path: Path) -> None:
    """README: "Jobs still in flight when a run is stopped without `--cancel-jobs` keep their instances until a
    resume collects them": the interrupted run neither cancels nor releases its running job; the resume collects its
    result, then releases it (and the rec it launches after)."""
    sdk = HangingSDK()

    def stop(rec: Any) -> None:
        raise KeyboardInterrupt  # as a stop reaches the orchestrator with rec 1's job running

    settings = {**SETTINGS, "automl_max_recommendations": 2}
    with pytest.raises(SweepInterrupted) as stopped:
        _runner(sdk, toy_skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0,
                                    on_recommendation=stop)
    assert sdk.calls == 0 and not sdk.cancelled
    later = EndedSDK()
    result = _runner(later, toy_skill).run(workspace_path=stopped.value.run_dir, resume=True)
    jobs = [h["job_id"] for h in result["history"]]
    assert [h["status"] for h in result["history"]] == ["success", "success"]
    assert later.released == [(job, "success") for job in jobs] and not later.cancelled


def test_a_rec_whose_job_timed_out_is_released_too(toy_skill: Path, tmp_path: Path) -> None:
    """README: the instance is deleted "as soon as the rec's result is recorded (also a rec stopped, timed out or
    cancelled ...)": a job cancelled at ``automl_job_timeout_s`` is released once its rec's failure is stored."""
    sdk = HangingSDK()
    settings = {**SETTINGS, "automl_max_recommendations": 2, "automl_job_timeout_s": 0.2,
                "automl_fail_fast_after": 0}
    result = _runner(sdk, toy_skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    jobs = [h["job_id"] for h in result["history"]]
    assert all("automl_job_timeout_s" in str(h["message"]) for h in result["history"]), result["history"]
    assert sorted(sdk.cancelled) == sorted(jobs) and sorted(sdk.released) == sorted((j, "failure") for j in jobs)


def test_a_failed_release_is_logged_once_and_recorded_and_the_sweep_goes_on(
        toy_skill: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A release that fails leaves the rec's result as it is and the sweep goes on; the warning says what to run."""
    sdk = ReleasingSDK(fail=True)
    with caplog.at_level(logging.WARNING, logger="tao_automl"):
        result = _runner(sdk, toy_skill).run(automl_settings=SETTINGS, workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["completed"] == 4 and result["best"] is not None
    warned = [r.getMessage() for r in caplog.records if "brev delete box-" in r.getMessage()]
    assert len(warned) == 4 and sdk.calls == 4  # once each: GuardedSDK does not retry a PlatformError
    failed = _events(Path(result["run_dir"]), "release_failed")
    assert len(failed) == 4 and "brev delete box-1" in failed[0]["payload"]["error"]


def test_a_release_that_failed_is_retried_by_the_resume(toy_skill: Path, tmp_path: Path) -> None:
    """README: "A delete that fails is logged ... and recorded (a `release_failed` event), and the sweep goes on;
    `tao-automl resume` retries it": a resume of the finished run releases each job whose release failed, once."""
    failing = ReleasingSDK(fail=True)
    result = _runner(failing, toy_skill).run(automl_settings=SETTINGS, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    assert len(_events(run_dir, "release_failed")) == 4 and not _events(run_dir, "released")
    again = ReleasingSDK()
    _runner(again, toy_skill).run(workspace_path=run_dir, resume=True)
    jobs = sorted(h["job_id"] for h in result["history"])
    assert sorted(j for j, _ in again.released) == jobs
    assert sorted(e["payload"]["job_id"] for e in _events(run_dir, "released")) == jobs
    third = ReleasingSDK()
    _runner(third, toy_skill).run(workspace_path=run_dir, resume=True)
    assert third.calls == 0


def test_resume_releases_only_what_an_interrupted_run_left_unreleased(toy_skill: Path, tmp_path: Path) -> None:
    """Stopped between storing rec 2's result and releasing its job: the resume releases that job first, then runs
    the rest of the budget; no job is released twice."""
    first = ReleasingSDK(interrupt_at=2)
    runner = _runner(first, toy_skill)
    with pytest.raises(SweepInterrupted):
        runner.run(automl_settings=SETTINGS, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = runner.run_dir
    assert run_dir is not None and len(first.released) == 1
    store = RunStore(run_dir, readonly=True)
    stored = {r.rec_id: r for r in store.recs()}
    store.close()
    assert str(getattr(stored[2].status, "value", stored[2].status)) in ("success", "failure")
    again = ReleasingSDK()
    result = _runner(again, toy_skill).run(workspace_path=run_dir, resume=True)
    assert again.released[0][0] == stored[2].job_id
    jobs = [h["job_id"] for h in result["history"]]
    everything = [j for j, _ in first.released + again.released]
    assert len(jobs) == 4 and sorted(everything) == sorted(jobs)
    assert sorted(e["payload"]["job_id"] for e in _events(run_dir, "released")) == sorted(jobs)
    third = ReleasingSDK()  # a run with nothing left to run: nothing left to release either
    _runner(third, toy_skill).run(workspace_path=run_dir, resume=True)
    assert third.calls == 0


ORCHESTRATOR = """
import json, sys
sys.path.insert(0, {src!r})
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing import InstantSDK

class Releasing(InstantSDK):
    def release_job(self, job_id):
        with open({ledger!r}, "a") as f:
            f.write(json.dumps(job_id) + "\\n")
        return "released"

runner = AutoMLRunner(Releasing(), {skill!r}, log_progress=False)
if len(sys.argv) > 1:
    runner.run(workspace_path=sys.argv[1], resume=True)
else:
    runner.run(automl_settings={settings!r}, workspace_path={ws!r}, gpu_count=0)
"""


def test_a_kill_between_the_result_and_the_release_is_released_by_the_resume(toy_skill: Path, tmp_path: Path) -> None:
    """A real orchestrator process SIGKILLed (``TAO_AUTOML_CRASH_AT=result_stored:2``) after rec 2's result was stored
    and before its job was released: the resume releases it, and every job is released exactly once."""
    import json
    import os
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    ledger = tmp_path / "released.jsonl"
    script = ORCHESTRATOR.format(src=src, ledger=str(ledger), skill=str(toy_skill), settings=SETTINGS,
                                 ws=str(tmp_path / "ws"))
    env = {**os.environ, "TAO_AUTOML_CRASH_AT": "result_stored:2"}
    assert subprocess.run([sys.executable, "-c", script], env=env, timeout=120).returncode == -9
    assert len(ledger.read_text().splitlines()) == 1
    run_dir = next((tmp_path / "ws").glob("run_*"))
    env.pop("TAO_AUTOML_CRASH_AT")
    assert subprocess.run([sys.executable, "-c", script, str(run_dir)], env=env, timeout=120).returncode == 0
    released = [json.loads(line) for line in ledger.read_text().splitlines()]
    store = RunStore(run_dir, readonly=True)
    jobs = {r.rec_id: r.job_id for r in store.recs()}
    store.close()
    assert len(jobs) == 4 and sorted(released) == sorted(jobs.values()) and released[1] == jobs[2]


class LedgerSDK(InstantSDK):
    """InstantSDK with a ``release_job`` that the registry can rebuild (the test registers it): each release is
    appended to ``ledger``; while ``fail`` is set every release raises."""

    fail = False
    ledger: ClassVar[list[str]] = []

    def release_job(self, job_id: str) -> str | None:
        if LedgerSDK.fail:
            raise PlatformError(f"deleting the instance of {job_id} failed")
        LedgerSDK.ledger.append(job_id)
        return "box deleted"


def test_the_cli_resume_of_a_finished_run_releases_the_jobs_whose_release_failed(
        toy_skill: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every release of a run on a rebuildable platform failed, so it closed finished with its jobs held; the warning
    names `tao-automl resume` as the retry, but `resume --detach` (and the resume_sweep tool, and a foreground resume
    whose skill cannot be rebuilt) answered "nothing to resume" before anything touched the platform. It releases
    those jobs now, once, and says so; a later resume releases nothing again."""
    from tao_automl.cli.main import main
    from tao_automl.platforms.registry import PLATFORMS

    monkeypatch.setitem(PLATFORMS, "ledger", (f"{LedgerSDK.__module__}:LedgerSDK", None))
    monkeypatch.setattr(LedgerSDK, "fail", True)
    monkeypatch.setattr(LedgerSDK, "ledger", [])
    result = AutoMLRunner(LedgerSDK(), toy_skill, log_progress=False).run(
        automl_settings=SETTINGS, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    assert result["progress"]["state"] == "finished" and len(_events(run_dir, "release_failed")) == 4
    monkeypatch.setattr(LedgerSDK, "fail", False)
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--detach"]) == 0
    said = capsys.readouterr()
    assert "nothing to resume" in said.out + said.err and "released the jobs of 4 ended rec(s)" in said.out + said.err
    jobs = sorted(h["job_id"] for h in result["history"])
    assert sorted(LedgerSDK.ledger) == jobs
    assert sorted(e["payload"]["job_id"] for e in _events(run_dir, "released")) == jobs
    assert main(["resume", str(run_dir), "--detach"]) == 0  # nothing left to release
    said = capsys.readouterr()
    assert "nothing to resume" in said.out + said.err and "released" not in said.out + said.err
    assert main(["resume", str(run_dir)]) == 0  # the foreground resume (its runner rebuilt) releases nothing twice
    assert sorted(LedgerSDK.ledger) == jobs

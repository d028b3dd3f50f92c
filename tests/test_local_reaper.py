"""The local platform's job watcher: one shared thread over pidfds (a thread per job where pidfds are missing),
the start and exit records it writes, and the end written after the wake-up. Real subprocesses throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.local import reaper as reaper_mod
from tao_automl.platforms.local.reaper import Reaper, pidfds_supported
from tao_automl.platforms.local.sdk import LocalSDK

SRC = Path(__file__).resolve().parents[1] / "src"
needs_pidfds = pytest.mark.skipif(not pidfds_supported(), reason="this system has no pidfds (os.pidfd_open)")


def _events_of(reaper: Reaper, commands: list[str]) -> list[list[str]]:
    """Start each command, watch it with ``reaper`` and return, per job, the callbacks seen in order."""
    seen: list[list[str]] = [[] for _ in commands]
    done = threading.Semaphore(0)
    for index, command in enumerate(commands):
        popen = subprocess.Popen(["/bin/sh", "-c", command])

        def on_exit(i: int = index, p: subprocess.Popen[bytes] = popen) -> None:
            seen[i].append(f"exit {p.returncode}")
            done.release()

        reaper.watch(popen, lambda i=index: seen[i].append("start"), on_exit)
    for _ in commands:
        assert done.acquire(timeout=15), f"not every job was reaped: {seen}"
    return seen


@pytest.mark.parametrize("use_pidfds", [
    pytest.param(True, marks=needs_pidfds, id="one-shared-thread"),
    pytest.param(False, id="thread-per-job"),
])
def test_every_job_gets_its_start_then_its_exit_code(use_pidfds: bool) -> None:
    seen = _events_of(Reaper(use_pidfds=use_pidfds), ["sleep 0.3; exit 3", "exit 0", "sleep 0.1; exit 7"])
    assert seen == [["start", "exit 3"], ["start", "exit 0"], ["start", "exit 7"]]


@needs_pidfds
def test_one_thread_follows_all_jobs_and_ends_when_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reaper_mod, "IDLE_EXIT_S", 0.3)
    reaper = Reaper(use_pidfds=True)
    before = {t.ident for t in threading.enumerate()}
    popens = [subprocess.Popen(["/bin/sh", "-c", "sleep 0.5"]) for _ in range(5)]
    exits = threading.Semaphore(0)
    for popen in popens:
        reaper.watch(popen, lambda: None, exits.release)
    new_threads = [t for t in threading.enumerate() if t.ident not in before]
    assert [t.name for t in new_threads] == ["local-jobs-reaper"]  # one thread for five jobs
    for _ in popens:
        assert exits.acquire(timeout=15)
    assert all(p.returncode == 0 for p in popens)
    new_threads[0].join(timeout=5)
    assert not new_threads[0].is_alive()  # no job left: the thread ended
    assert _events_of(reaper, ["exit 4"]) == [["start", "exit 4"]]  # and the next job starts a new one


def test_a_failing_callback_does_not_stop_the_watching_of_other_jobs(caplog: pytest.LogCaptureFixture) -> None:
    reaper = Reaper()
    done = threading.Semaphore(0)
    bad = subprocess.Popen(["/bin/sh", "-c", "exit 0"])
    reaper.watch(bad, lambda: 1 / 0, lambda: (done.release(), 1 / 0))  # type: ignore[func-returns-value]
    assert done.acquire(timeout=15)
    assert _events_of(reaper, ["exit 5"]) == [["start", "exit 5"]]
    assert "recording a start failed" in caplog.text and "recording an exit failed" in caplog.text


@needs_pidfds
def test_local_sdk_starts_no_thread_per_job(tmp_path: Path) -> None:
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=[])
    before = {t.ident for t in threading.enumerate()}
    jobs = [sdk.create_job(None, "sleep 0.4") for _ in range(4)]
    new_threads = [t for t in threading.enumerate() if t.ident not in before]
    assert len(new_threads) <= 1 and all(t is reaper_mod.REAPER._thread for t in new_threads)
    assert reaper_mod.REAPER._thread is not None and reaper_mod.REAPER._thread.is_alive()
    for job in jobs:
        deadline = time.monotonic() + 15
        while not sdk.get_job_status(job.id).is_finished() and time.monotonic() < deadline:
            sdk.wait_for_change([job.id], timeout=1)
        assert sdk.get_job_status(job.id) is JobStatus.SUCCESS
        info = json.loads((sdk.jobs_dir / job.id / "job.json").read_text())
        assert info["pid"] is not None and info["create_time"] is not None  # saved together by the watcher


def test_a_job_end_announced_before_exit_is_on_disk_after_exit(tmp_path: Path) -> None:
    """The watcher writes a job's end to job.json after waking the caller; a process that exits right after
    learning the end must still leave job.json saying so (the write is slowed to 0.5 s here, so this fails
    unless the interpreter waits for it at exit)."""
    script = textwrap.dedent(f"""
        import sys, time
        from tao_automl.platforms.local import sdk as local
        slow = local.write_json_atomic
        def write(path, data, *rest):
            if data.get("state") == "success":
                time.sleep(0.5)
            slow(path, data, *rest)
        local.write_json_atomic = write
        sdk = local.LocalSDK(jobs_dir={str(tmp_path / "jobs")!r}, gpu_ids=[])
        job = sdk.create_job(None, "exit 0")
        while not sdk.get_job_status(job.id).is_finished():
            sdk.wait_for_change([job.id], timeout=1)
        print(job.id)
    """)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.strip().splitlines()[-1]
    assert json.loads((tmp_path / "jobs" / job_id / "job.json").read_text())["state"] == "success"

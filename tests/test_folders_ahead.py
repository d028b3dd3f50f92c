"""The folders and files of the next launches, made while jobs run (runner) and by LocalSDK (a spare job folder).

Real sweeps on LocalSDK, real files: what is made ahead must be what the launch uses, and nothing made for a rec
that never ran may be left behind.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from conftest import write_skill
from tao_automl.bank.skill import load_skill
from tao_automl.experiment.core import Recommendation
from tao_automl.experiment.workspace import rec_folder
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.local import job_folder
from tao_automl.platforms.local.job_folder import SPARE_PREFIX
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.render.job import JobContext, render_job, spec_file_name
from tao_automl.runner.folders_ahead import FoldersAhead, ahead_folder
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing.instant import InstantSDK

ALWAYS_FAILS = "import sys\nsys.exit('RuntimeError: CUDA out of memory')\n"


def _settings(**extra: Any) -> dict[str, Any]:
    return {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 5,
            "automl_max_concurrent": 2, "seed": 3, "poll_interval_s": 0.5, **extra}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_made_ahead_a_rec_folder_takes_its_spec_and_unused_ones_are_removed(toy_skill: Path, tmp_path: Path) -> None:
    skill = load_skill(toy_skill)
    run_dir = tmp_path / "run"
    ahead = FoldersAhead(run_dir, spec_file_name(skill))
    ahead.make(range(1, 5))
    # hidden until their rec's launch: recs/ shows only folders of recs that exist
    assert sorted(p.name for p in (run_dir / "recs").iterdir()) == [f".ahead-{i:04d}" for i in range(1, 5)]
    waiting = ahead_folder(run_dir, 1)
    assert _mode(waiting) == 0o700 and (waiting / "results").is_dir()
    assert (waiting / "train_spec.yaml.tmp").stat().st_size == 0 and _mode(waiting / "train_spec.yaml.tmp") == 0o600

    ahead.take(1)
    folder = rec_folder(run_dir, 1)
    scratch = folder / "train_spec.yaml.tmp"
    assert not waiting.exists() and scratch.is_file() and (folder / "results").is_dir() and _mode(folder) == 0o700
    request = render_job(skill, {}, JobContext(), rec_dir=folder, results_dir=str(folder / "results"))
    assert request.config_path == folder / "train_spec.yaml" and request.config_path.read_text()
    assert not scratch.exists() and _mode(request.config_path) == 0o600

    (rec_folder(run_dir, 2) / "results").mkdir(parents=True)
    (rec_folder(run_dir, 2) / "results" / "kept.txt").write_text("a resumed rec's own")
    ahead.take(2)  # the rec's folder holds something: it keeps it, the waiting one is left for remove_unused
    assert (rec_folder(run_dir, 2) / "results" / "kept.txt").is_file() and ahead_folder(run_dir, 2).is_dir()
    (ahead_folder(run_dir, 4) / "results" / "metrics.json").write_text("{}")  # something wrote there: kept
    ahead.remove_unused()
    assert request.config_path.is_file()  # rec 1 was created: untouched
    assert sorted(p.name for p in (run_dir / "recs").iterdir()) == [".ahead-0004", "rec_0001", "rec_0002"]
    assert (ahead_folder(run_dir, 4) / "results" / "metrics.json").is_file()


def test_a_sweep_makes_the_next_folders_while_jobs_run_and_leaves_no_scratch(toy_skill: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, bool, bool]] = []
    run_dirs: list[Path] = []

    def ended(rec: Recommendation, value: float | None, status: str) -> None:
        run_dir = run_dirs[0]
        nxt = max(int(p.name.split("-")[1]) for p in (run_dir / "recs").iterdir() if p.name.startswith(".ahead-"))
        seen.append((nxt, (ahead_folder(run_dir, nxt) / "train_spec.yaml.tmp").is_file(),
                     (ahead_folder(run_dir, nxt) / "results").is_dir()))

    def started(rec: Recommendation) -> None:
        if not run_dirs:
            run_dirs.append(Path(rec.specs["results_dir"]).parents[2])

    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings=_settings(), spec_overrides={"train.sleep": 0.3},
                        workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=started, on_result=ended)
    assert result["progress"]["succeeded"] == 5
    # when rec 1 ended, recs 1-2 ran and the folders of recs 3-4 (the next two launches) were there already
    assert seen[0] == (4, True, True)
    recs = Path(result["run_dir"]) / "recs"
    assert sorted(p.name for p in recs.iterdir()) == [f"rec_{i:04d}" for i in range(1, 6)]
    assert not list(recs.rglob("*.tmp"))
    assert all((recs / f"rec_{i:04d}" / "train_spec.yaml").is_file() for i in range(1, 6))


def test_a_sweep_that_stops_early_removes_the_folders_it_made_for_recs_that_never_ran(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=ALWAYS_FAILS)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_recommendations=12), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["state"] == "failed" and result["progress"]["completed"] < 12
    recs = Path(result["run_dir"]) / "recs"
    assert sorted(p.name for p in recs.iterdir()) == [f"rec_{h['rec_id']:04d}" for h in result["history"]]
    assert not list(recs.rglob("*.tmp"))


def test_later_refills_ask_one_rec_at_a_time(toy_skill: Path, tmp_path: Path, monkeypatch: Any) -> None:
    """The first fill asks for every slot; afterwards each freed slot is refilled alone, so a job that ended is
    replaced without waiting for the proposals of other slots that freed at the same moment (before 2026-12-03 the
    refill asked for all of them at once: [3, 3, 1] here)."""
    from tao_automl.experiment.core import Experiment

    asked: list[int] = []
    ask = Experiment.ask

    def spy(self: Experiment, n: int) -> list[Recommendation]:
        asked.append(n)
        return ask(self, n)

    monkeypatch.setattr(Experiment, "ask", spy)
    runner = AutoMLRunner(InstantSDK(), toy_skill)  # every job has ended by the runner's first look: 3 slots free
    result = runner.run(automl_settings=_settings(automl_max_recommendations=7, automl_max_concurrent=3),
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 7
    assert asked[0] == 3 and set(asked[1:]) == {1}


def _wait(sdk: LocalSDK, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 15
    while not sdk.get_job_status(job_id).is_finished() and time.monotonic() < deadline:
        sdk.wait_for_change([job_id], timeout=1)
    return sdk.get_job_status(job_id)


def test_a_job_takes_the_spare_folder_and_its_exit_code_is_read_from_the_pre_made_file(tmp_path: Path) -> None:
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=[])
    sdk.prepare_next_job()
    spares = [p for p in sdk.jobs_dir.iterdir() if p.name.startswith(SPARE_PREFIX)]
    assert len(spares) == 1 and sorted(p.name for p in spares[0].iterdir()) == [
        ".job.json.spare.tmp", "exit_code.json", "output.log", "pid"]
    sdk.prepare_next_job()  # one spare at a time
    assert len([p for p in sdk.jobs_dir.iterdir() if p.name.startswith(SPARE_PREFIX)]) == 1

    job = sdk.create_job(None, "echo hello; exit 3", gpu_count=0, job_name="spare-user")
    job_dir = sdk.jobs_dir / job.id
    assert not spares[0].exists() and job_dir.is_dir()
    assert json.loads((job_dir / "job.json").read_text())["name"] == "spare-user"
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    assert json.loads((job_dir / "exit_code.json").read_text())["exit_code"] == 3
    assert "hello" in (sdk.get_job_logs(job.id) or "")
    assert sdk.get_job_info(job.id)["state"] == "failure"  # returns once the watcher has written the end
    assert sorted(p.name for p in job_dir.iterdir()) == ["exit_code.json", "job.json", "output.log", "pid", "results"]

    sdk.prepare_next_job()
    ok = sdk.create_job(None, "true", gpu_count=0)
    assert _wait(sdk, ok.id) is JobStatus.SUCCESS
    # another process sees the same ends on disk
    other = LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=[])
    assert other.get_job_status(job.id) is JobStatus.FAILURE and other.get_job_status(ok.id) is JobStatus.SUCCESS


def test_a_half_created_job_folder_is_not_replaced_by_the_spare(tmp_path: Path) -> None:
    """A job.json left by a submitter that died before starting the process: the next create_job of that name
    starts it in its own folder (as without a spare), and the spare waits for the next job."""
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=[])
    first = sdk.create_job(None, "true", gpu_count=0, job_name="half")
    assert _wait(sdk, first.id) is JobStatus.SUCCESS
    deadline = time.monotonic() + 15  # reaped by the watcher (a status read can find the end first): once it has
    while sdk.exits_seen() < 1 and time.monotonic() < deadline:  # written the end, nothing writes job.json again
        time.sleep(0.01)
    sdk.get_job_info(first.id)  # returns once the watcher has written the end
    job_dir = sdk.jobs_dir / first.id
    data = json.loads((job_dir / "job.json").read_text())
    first_pid = data["pid"]
    for name in ("pid", "exit_code.json"):
        (job_dir / name).unlink()
    data.update(state="pending", pid=None, create_time=None, created_at=time.time())
    (job_dir / "job.json").write_text(json.dumps(data))

    fresh = LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=[])
    fresh.prepare_next_job()
    again = fresh.create_job(None, "true", gpu_count=0, job_name="half")
    assert again.id == first.id and _wait(fresh, again.id) is JobStatus.SUCCESS
    assert fresh.get_job_info(again.id)["pid"] not in (None, first_pid)  # started, not the first run's record
    spares = [p for p in fresh.jobs_dir.iterdir() if p.name.startswith(SPARE_PREFIX)]
    assert len(spares) == 1  # still there for the next job
    job_folder.remove_spares()  # what interpreter exit does
    assert not [p for p in fresh.jobs_dir.iterdir() if p.name.startswith(SPARE_PREFIX)]


def test_an_unused_spare_is_removed_when_the_interpreter_exits(tmp_path: Path) -> None:
    import subprocess

    script = (f"from tao_automl.platforms.local.sdk import LocalSDK\n"
              f"LocalSDK(jobs_dir={str(tmp_path / 'jobs')!r}, gpu_ids=[]).prepare_next_job()\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert (tmp_path / "jobs").is_dir() and not list((tmp_path / "jobs").iterdir())


def test_spare_folders_of_killed_processes_are_removed_by_the_next_sdk(tmp_path: Path) -> None:
    """A process killed with -9 runs no exit handler: its spare stays. The next SDK on the jobs dir removes the spares
    of this host's processes that are gone, and leaves those of live ones (another orchestrator's) and another
    host's."""
    import signal
    import subprocess

    script = (f"import time\nfrom tao_automl.platforms.local.sdk import LocalSDK\n"
              f"LocalSDK(jobs_dir={str(tmp_path / 'jobs')!r}, gpu_ids=[]).prepare_next_job()\n"
              f"print('ready', flush=True)\ntime.sleep(60)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    killed = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    alive = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "ready"
        assert alive.stdout is not None and alive.stdout.readline().strip() == "ready"
        killed.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10  # killed, not yet reaped (a zombie): its spare is no longer its own
        while psutil.Process(killed.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        spares = {p.name for p in (tmp_path / "jobs").iterdir()}
        assert {n.split("-")[1] for n in spares} == {str(killed.pid), str(alive.pid)}
        elsewhere = tmp_path / "jobs" / f"{SPARE_PREFIX}{killed.pid}-0123456789ab@another-host"
        elsewhere.mkdir()  # a shared jobs dir: that pid is another host's, whose processes this one cannot see

        LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=[]).prepare_next_job()
        left = {p.name.split("-")[1] for p in (tmp_path / "jobs").iterdir() if p != elsewhere}
        assert left == {str(alive.pid), str(os.getpid())} and elsewhere.is_dir()
    finally:
        killed.wait()
        alive.kill()
        alive.wait()
        job_folder.remove_spares()


def test_a_spare_emptied_by_someone_else_still_takes_its_job(tmp_path: Path) -> None:
    """Another host sharing the jobs dir may sweep a spare folder while this SDK takes it: the files the spare held
    are then made by the submission itself (the job's log, its job.json), and the job runs as usual."""
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs", gpu_ids=[])
    sdk.prepare_next_job()
    (spare,) = [p for p in sdk.jobs_dir.iterdir() if p.name.startswith(SPARE_PREFIX)]
    for file in spare.iterdir():
        file.unlink()
    job = sdk.create_job(None, "echo ran", gpu_count=0)
    assert _wait(sdk, job.id) is JobStatus.SUCCESS and "ran" in (sdk.get_job_logs(job.id) or "")
    assert sdk.get_job_info(job.id)["state"] == "success"  # returns once the watcher has written the end
    assert json.loads((sdk.jobs_dir / job.id / "job.json").read_text())["state"] == "success"

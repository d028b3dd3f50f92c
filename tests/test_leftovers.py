"""What a sweep leaves outside its run folder: nothing under the temporary folder when a process dies mid-check, no
file descriptors that grow with the recs of a long sweep."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import readme_says, write_skill
from tao_automl.platforms.base import Job
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing import InstantSDK

SRC = Path(__file__).resolve().parents[1] / "src"

KILLED_WHILE_RENDERING = textwrap.dedent(
    """
    import os, signal, sys
    import tao_automl.render.job as job
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.run_args import RunArgs

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    job.spec_text = killed
    RunPlan.build(RunArgs(skill_dir=sys.argv[1], automl_hyperparameters=["train.optim.lr"]))
    """
)


def test_a_process_killed_while_its_plan_checks_a_render_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    """Every plan (run, resume, preflight, dry run) renders one rec to check it; that render made a folder
    ``tao-automl-plan-*`` under the temporary folder, which a process killed meanwhile left there for good (/tmp held
    dozens, empty). The check now renders without writing."""
    skill = write_skill(tmp_path / "bank")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", KILLED_WHILE_RENDERING, str(skill)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == -9, done.stderr
    assert sorted(p.name for p in temp.iterdir()) == []



KILLED_IN_A_DRY_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import tao_automl.render.job as job
    from tao_automl.cli.main import main

    real = job.spec_text

    def killed_in_the_dry_run(*args, **kwargs):  # rendering a rec for the dry run, not in the plan's checks
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "render_job" and frame.f_back.f_code.co_name.startswith("dry_run"):
                os.kill(os.getpid(), signal.SIGKILL)
            frame = frame.f_back
        return real(*args, **kwargs)

    job.spec_text = killed_in_the_dry_run
    sys.exit(main(["run", sys.argv[1], "--dry-run"]))
    """
)


def test_a_dry_run_killed_while_rendering_its_recs_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    """`run --dry-run` wrote its recs' specs into a folder ``tao-automl-dry-run-*`` under the temporary folder,
    which a kill meanwhile left behind; it now renders them where the run would write them, writing nothing."""
    import yaml

    skill = write_skill(tmp_path / "bank")
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
                                      "automl_settings": {"algorithm": "random", "automl_max_recommendations": 2},
                                      "platform_kwargs": {"gpu_count": 0}}))
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", KILLED_IN_A_DRY_RUN, str(config)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == -9, done.stdout + done.stderr
    assert sorted(p.name for p in temp.iterdir()) == []
    assert not (tmp_path / "ws").exists()

class _CountingSDK(InstantSDK):
    """InstantSDK noting this process's open file descriptors as each job is created."""

    def __init__(self) -> None:
        super().__init__(metric="val_loss")
        self.open_fds: list[int] = []
        self.threads: list[int] = []

    def create_job(self, *args: Any, **kwargs: Any) -> Job:
        self.open_fds.append(len(os.listdir("/proc/self/fd")))
        self.threads.append(threading.active_count())
        return super().create_job(*args, **kwargs)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_long_sweep_keeps_as_many_file_descriptors_open_at_rec_200_as_at_rec_10(tmp_path: Path) -> None:
    """A finished 200-rec sweep: the open descriptors and the threads do not grow with the recs, and its database holds
    everything (its ``state.db-wal`` is empty: a copy of ``state.db`` alone loses nothing)."""
    sdk = _CountingSDK()
    result = AutoMLRunner(sdk, write_skill(tmp_path / "bank", command="true -e {config_path}"),
                          log_progress=False).run(
        automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 200,
                         "automl_max_concurrent": 4, "seed": 1},
        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 200
    assert len(sdk.open_fds) == 200
    assert sdk.open_fds[199] <= sdk.open_fds[9], sdk.open_fds
    assert sdk.threads[199] <= sdk.threads[9], sdk.threads
    run_dir = next((tmp_path / "ws").glob("run_*"))
    wal = run_dir / "state.db-wal"  # left by the last reader (read-only: it may not remove it), empty
    assert not wal.exists() or wal.stat().st_size == 0


def test_the_readme_names_where_docker_and_slurm_keep_their_job_records_and_how_long_ssh_lingers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Docker or Slurm sweep keeps outside its run folder is where README says, so its way to clean works."""
    from tao_automl.platforms.records import default_state_dir
    from tao_automl.platforms.slurm.shell import Shell

    readme_says(r"by default\s+`\$XDG_CACHE_HOME/tao-automl/docker` or `\.\.\./slurm`")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert [default_state_dir(p) for p in ("docker", "slurm")] == [tmp_path / "tao-automl" / "docker",
                                                                   tmp_path / "tao-automl" / "slurm"]
    [seconds] = readme_says(r"lingers (\d+) s \(ssh's `ControlPersist`\)")
    assert Shell().control_persist_s == int(seconds)

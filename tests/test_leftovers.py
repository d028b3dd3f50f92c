"""What a sweep leaves outside its run folder: nothing under the temporary folder when a process dies mid-check, no
file descriptors that grow with the recs of a long sweep."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import write_skill

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


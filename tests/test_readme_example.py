"""The README's "From Python" block, extracted from README.md and run as written (budget shrunk) from a temporary
working directory: relative paths in it must still reach every job (they are made absolute at the boundary)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_python_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md has no python block under '## From Python'"
    return match.group(1)


def shrunk(code: str) -> str:
    """The same program with a smaller budget: 2 recs of 2 epochs."""
    small = code.replace('"automl_max_recommendations": 10', '"automl_max_recommendations": 2')
    small = small.replace('"train.num_epochs": 8', '"train.num_epochs": 2')
    assert small.count("2") > code.count("2"), "the README block no longer has the budget this test shrinks"
    return small


def test_readme_python_block_runs_from_a_temporary_cwd(tmp_path: Path) -> None:
    code = shrunk(readme_python_block())
    assert 'workspace_path="runs/"' in code  # the relative path is the point of this test
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    value, _, params = done.stdout.strip().partition(" ")
    assert 0.0 <= float(value) <= 1.0 and "train.optim.lr" in params
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("run_")

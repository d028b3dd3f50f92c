"""ruff and mypy stay clean on the package (the tools come with the dev extra)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def test_ruff_is_clean() -> None:
    done = subprocess.run([_tool("ruff"), "check", "src", "tests", "benchmarks"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean() -> None:
    done = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_test_tiers_are_the_markers_the_tests_use() -> None:
    """README's "Test tiers" table names one marker per service and the script that starts it, and its quick-tier
    command leaves out exactly those markers: each is a registered marker that conftest gives the service's tests,
    and each script is in the repository."""
    import re

    from conftest import TIER_OF_FIXTURE, readme_says

    rows, = readme_says(r"\| tier \| marker \| needs \| started by \| \|---\|---\|---\|---\| (.+?) Run one tier")
    tiers = re.findall(r"\| [^|]+ \| `(\w+)` \| [^|]+ \| ([^|]+) \|", rows)
    markers = {marker for marker, _ in tiers}
    block = re.search(r"^markers = \[\n(.*?)^\]", (REPO / "pyproject.toml").read_text(), re.S | re.M)
    assert block, "pyproject.toml registers no pytest markers"
    registered = set(re.findall(r'^\s+"(\w+):', block[1], re.M))
    assert markers == registered == set(TIER_OF_FIXTURE.values()), (markers, registered)
    for _, started_by in tiers:
        for script in re.findall(r"`((?:ci|\.ci)/[\w.]+)`", started_by):
            assert (REPO / script).is_file(), script
    quick, = readme_says(r'`\.venv/bin/python -m pytest -q -m "not \(([\w ]+)\)"` for the quick tier alone')
    assert set(quick.split(" or ")) == markers


def test_ci_run_starts_every_tiers_service_then_runs_the_readme_test_command() -> None:
    """README: "`.ci/run` starts every service first, then runs the command above" (the setup's test command): its
    last command is that line verbatim, and each script of the tier table's "started by" column (the `*_up.sh`
    ones; the LLM tier's server is started by its tests) runs before it."""
    import re

    from conftest import readme_says

    readme_says(r"`\.ci/run` starts every service first, then runs the command above")
    command, = readme_says(r"Install the development tools and run the whole test suite: ``` (.+?) ```")
    rows, = readme_says(r"\| tier \| marker \| needs \| started by \| \|---\|---\|---\|---\| (.+?) Run one tier")
    scripts = re.findall(r"`(ci/\w+_up\.sh)`", rows)
    lines = [line.split("#")[0].strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert lines[-1] == command, (lines[-1], command)
    started = [re.fullmatch(r"bash (ci/\w+\.sh)", line) for line in lines]
    order = [m[1] for m in started if m]
    assert len(scripts) >= 3 and all(script in order for script in scripts), (scripts, order)


def test_the_extras_the_spec_names_are_declared_and_all_holds_the_platforms() -> None:
    """SPEC 2: extras named after platforms (`local`, nothing extra; docker, slurm, kubernetes, lepton, brev), `all`,
    `llm` and `wandb`. `local` was missing: `pip install 'tao-run-automl[local]'` warned that the package "does not
    provide the extra 'local'"."""
    import re

    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    platforms = {"local", "docker", "slurm", "kubernetes", "lepton", "brev"}
    assert platforms | {"all", "llm", "wandb"} <= set(extras), sorted(extras)
    assert extras["local"] == []
    [everything] = extras["all"]
    assert platforms | {"llm", "wandb"} <= set(re.fullmatch(r"tao-run-automl\[(.+)\]", everything)[1].split(","))

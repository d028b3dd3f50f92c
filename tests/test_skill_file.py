"""The agent skill file shipped in the package: front matter, every error kind and exit code documented, every
command in it valid, and its bash blocks run verbatim, in order, against the demo network (real subprocesses)."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent_helpers import cli, cli_env
from tao_automl.cli.agent_commands import skill_front_matter, skill_path
from tao_automl.cli.main import build_parser
from tao_automl.errors import EXIT_CODES, TaoAutoMLError

TEXT = skill_path().read_text()
#: Modules that define error classes (imported so every subclass is known).
ERROR_MODULES = ("tao_automl.errors", "tao_automl.llm.client", "tao_automl.runner.detach", "tao_automl.cli.main",
                 "tao_automl.platforms.retry", "tao_automl.platforms.base", "tao_automl.agentapi.tools")


def _fenced(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", TEXT, flags=re.S)


def _commands() -> list[str]:
    """Every ``tao-automl ...`` invocation in the file: inline code spans and lines of bash blocks."""
    found = re.findall(r"`(tao-automl [^`\n]*)`", TEXT)
    for block in _fenced("bash"):
        found += re.findall(r"(tao-automl [^|)\n;]*)", block)
    return [c.strip() for c in found]


def _all_kinds() -> set[str]:
    for name in ERROR_MODULES:
        importlib.import_module(name)
    kinds, todo = set(), [TaoAutoMLError]
    while todo:
        cls = todo.pop()
        kinds.add(cls.kind)
        todo += cls.__subclasses__()
    return kinds - {"error"}


def test_front_matter_and_cli_finds_the_file() -> None:
    meta = skill_front_matter(TEXT)
    assert meta["name"] == "tao-run-automl" and len(meta["description"]) > 40
    done = cli("skill")
    assert done.returncode == 0 and Path(done.stdout.strip()) == skill_path()
    assert cli("skill", "--text").stdout == TEXT
    assert json.loads(cli("skill", "--json").stdout)["name"] == "tao-run-automl"


def test_every_error_kind_and_exit_code_is_documented() -> None:
    kinds = _all_kinds() | {"interrupted"}
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", TEXT, flags=re.M))
    assert kinds <= documented, f"undocumented kinds: {sorted(kinds - documented)}"
    codes = {int(c) for c in re.findall(r"^\| (\d+) \|", TEXT, flags=re.M)}
    assert set(EXIT_CODES) <= codes


def test_every_command_in_the_file_parses() -> None:
    commands = _commands()
    assert len(commands) >= 8
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command.replace('"$RUN"', "RUN_DIR").replace("$RUN", "RUN_DIR"))[1:]
        argv = [a.replace("RUN_DIR", "/tmp/run").replace("CONFIG.yaml", "config.yaml") for a in argv]
        try:
            parser.parse_args(argv)  # raises UsageError on a stale command
        except SystemExit as exc:  # --help
            assert exc.code == 0, command


def test_the_bash_blocks_run_verbatim_on_the_demo_network(tmp_path: Path) -> None:
    """The first YAML block is the config (the second, ``dataset_keys``, an example for models without data_sources
    rules); the bash blocks run in order as one script, as an agent would run them."""
    yaml_block, keys_example = _fenced("yaml")
    example = yaml.safe_load(keys_example)
    assert list(example) == ["dataset_keys"] and all(isinstance(v, str) for v in example["dataset_keys"].values())
    (tmp_path / "config.yaml").write_text(yaml_block)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tao-automl"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m tao_automl.cli.main \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    script = "set -euo pipefail\n" + "\n".join(_fenced("bash")) + '\necho "RUN=$RUN"\n'
    env = {**cli_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr  # the file's own config draws no warning (it drew one)
    run_dir = done.stdout.strip().splitlines()[-1].removeprefix("RUN=")
    final = json.loads(cli("status", run_dir, "--json").stdout)
    assert final["progress"]["state"] == "finished" and final["best"]["params"]
    assert final["progress"]["completed"] == final["progress"]["total"]
    assert "small enough to finish in well under a minute" in TEXT and final["progress"]["elapsed_s"] < 60, final
    assert (Path(run_dir) / "report.html").is_file() and (tmp_path / "best_spec.yaml").is_file()


@pytest.mark.parametrize("section", ["models --scope automl", "preflight", "--dry-run", "--detach", "status",
                                     "report", "export", "--best", "stop", "resume"])
def test_the_steps_the_issue_asks_for_are_there(section: str) -> None:
    assert any(section in c for c in _commands())


def test_every_mcp_tool_is_named() -> None:
    from tao_automl.agentapi.tools import TOOLS

    assert all(f"`{name}`" in TEXT for name in TOOLS)


@pytest.mark.parametrize("pipefail", [True, False])
def test_the_poll_loop_ends_when_status_fails(tmp_path: Path, pipefail: bool) -> None:
    """The documented loop on a folder that is not a run: `status` prints an error object and the loop ends (an
    `until ... ["orchestrator"]["alive"]` loop spun forever on it)."""
    lines = [line for block in _fenced("bash") for line in block.splitlines()]
    loops = {line for line in lines if line.startswith(("while ", "until ")) and "status" in line}
    assert len(loops) == 1  # one loop, used in both places
    loop = loops.pop()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tao-automl"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m tao_automl.cli.main \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "not_a_run").mkdir()
    script = ("set -o pipefail\n" if pipefail else "") + f"RUN={tmp_path / 'not_a_run'}\n{loop}\necho ended\n"
    env = {**cli_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip().endswith("ended"), done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_the_python_resume_block_runs_as_written(toy_skill: Path, tmp_path: Path) -> None:
    """SKILL.md's resume from Python (section 5), run verbatim with ``run_dir`` an interrupted run's folder: it
    rebuilds the run's platform from the folder, finishes the run's budget and keeps the setting it changed."""
    from tao_automl import query_status
    from tao_automl.errors import SweepInterrupted
    from tao_automl.experiment.store import read_meta
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    [block] = _fenced("python")

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C after the first result

    with pytest.raises(SweepInterrupted) as stopped:
        AutoMLRunner(LocalSDK(), toy_skill, log_progress=False).run(
            automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 3,
                             "automl_max_concurrent": 1, "poll_interval_s": 0.05},
            workspace_path=tmp_path / "ws", gpu_count=0, on_result=interrupt)
    run_dir = str(stopped.value.run_dir)
    assert query_status(run_dir)["progress"]["completed"] == 1
    exec(compile(block, "SKILL.md", "exec"), {"run_dir": run_dir})  # the documented block itself
    progress = query_status(run_dir)["progress"]
    assert (progress["state"], progress["completed"], progress["succeeded"]) == ("finished", 3, 3)
    assert read_meta(run_dir)["settings"]["llm_fallback"] == "bayesian"

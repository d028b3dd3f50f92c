"""A user's own training script: README's example built from the README and run, and what goes wrong on that path
(a command that never gets the spec, a relative script path, the jobs' python, a metric only in the log)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import write_skill
from tao_automl.errors import SkillError

ROOT = Path(__file__).resolve().parents[1]


def _readme_files(into: Path) -> list[str]:
    """Write every file the README's "Your own training script" section shows (a "`path`:" line, then a block)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Your own training script"):text.index("## Algorithms and platforms")]
    blocks = re.findall(r"^`([^`\n]+)`:\n\n```\w+\n(.*?)```", section, re.S | re.M)
    for name, body in blocks:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).write_text(body)
    return [name for name, _ in blocks]


def _cli(args: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "tao_automl.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_readmes_own_script_example_runs_as_written(tmp_path: Path) -> None:
    """README: the example is complete; preflight, run, export --best --results-dir and the retrain it shows work."""
    names = _readme_files(tmp_path)
    assert names == ["my-model/references/skill_info.yaml", "my-model/schemas/train.schema.json",
                     "my-model/train.py", "my_sweep.yaml"]
    assert _cli(["preflight", "my_sweep.yaml"], tmp_path, tmp_path).returncode == 0
    run = _cli(["run", "my_sweep.yaml", "--json"], tmp_path, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["progress"]["succeeded"] == 6
    best = result["best"]
    spec = json.loads(Path(best["spec_path"]).read_text())  # what the job read is what the run records
    assert spec["train"]["lr"] == best["params"]["train.lr"] and spec["train"]["depth"] == best["params"]["train.depth"]
    assert _cli(["export", "runs", "--best", "-o", "best.json", "--results-dir", "retrain"], tmp_path,
                tmp_path).returncode == 0
    retrain = subprocess.run(["python3", "my-model/train.py", "--config", "best.json"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert retrain.returncode == 0 and f"val_acc={best['metric_value']:.4f}" in retrain.stdout
    assert (tmp_path / "retrain" / "status.json").is_file()


def test_a_command_that_never_gets_the_spec_is_refused(tmp_path: Path) -> None:
    """A command without {config_path} ran every rec on one fixed config while the run recorded different params
    and a 'best' (preflight passed; only a log warning said so)."""
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.run_args import RunArgs

    skill = write_skill(tmp_path / "bank", command=f"{sys.executable} /opt/train.py -c /opt/fixed.yaml")
    with pytest.raises(SkillError, match=r"has no \{config_path\}, so the searched values") as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"metric": "val_loss"}))
    assert caught.value.field == "actions.train.command" and "{config_path}" in str(caught.value.allowed)


def test_preflight_fails_a_command_that_never_gets_the_spec(tmp_path: Path) -> None:
    """Preflight passed such a command (21 checks ok) and the run, dry run and MCP start_sweep then refused it:
    preflight makes the run's check, as a failed search_space check with the field named."""
    from tao_automl.runner.preflight import run_preflight
    from tao_automl.runner.run_args import RunArgs

    skill = write_skill(tmp_path / "bank", command=f"{sys.executable} /opt/train.py -c /opt/fixed.yaml")
    report = run_preflight(RunArgs(skill_dir=str(skill), automl_settings={"metric": "val_loss"},
                                   workspace_path=str(tmp_path / "ws")))
    assert not report.ok
    failed = {check.check: check for check in report.failed}
    assert set(failed) == {"search_space"} and "has no {config_path}" in failed["search_space"].detail
    assert report.error().field == "actions.train.command"


def test_skill_dir_fills_the_command_and_a_relative_script_fails_preflight(tmp_path: Path) -> None:
    """A relative script (`python3 wrap.py`) passed preflight silently and every job failed: local jobs run in their
    own folder. A warning (a bank model's script may live in the user's own clone, which the job reaches somehow);
    {skill_dir} names the model folder."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.render.job import format_command
    from tao_automl.runner.preflight import command_check

    skill_dir = write_skill(tmp_path / "bank", command="python3 wrap.py {config_path}")
    check = command_check("local", load_skill(skill_dir, "train"))
    assert check is not None and check.warning and "relative path" in check.detail and "{skill_dir}" in check.detail
    skill_dir = write_skill(tmp_path / "bank2", command="python3 {skill_dir}/wrap.py {config_path}")
    skill = load_skill(skill_dir, "train")
    check = command_check("local", skill)
    assert check is not None and check.ok
    assert format_command(skill, {"config_path": "/x/spec.yaml", "results_dir": "/x"}) == \
        f"python3 {skill_dir}/wrap.py /x/spec.yaml"


def test_local_jobs_run_the_interpreter_tao_automl_runs_with(tmp_path: Path) -> None:
    """README: `python3` in a command is the one tao-automl runs with, also when `.venv/bin/tao-automl` is run
    without activating the venv (an own script importing a package of that venv works); preflight shows it."""
    from tao_automl.platforms.local.options import jobs_path

    own = str(Path(sys.executable).parent)
    path = jobs_path(f"/opt/user-env/bin{os.pathsep}/usr/bin")
    assert path.split(os.pathsep) == [own, "/opt/user-env/bin", "/usr/bin"]
    assert jobs_path(f"{own}{os.pathsep}/usr/bin") == f"{own}{os.pathsep}/usr/bin"  # already first: as it is


def test_stopping_mode_says_once_that_jobs_without_status_json_cannot_be_stopped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """asha in stopping mode stopped nothing, with no word, when the trainer printed its metric only to its log."""
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    trainer = ("import sys, yaml\nspec = yaml.safe_load(open(sys.argv[sys.argv.index('-e') + 1]))\n"
               "for e in range(1, spec['train']['num_epochs'] + 1):\n    print(f'epoch {e} val_loss={1.0 / e}')\n")
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    with caplog.at_level("WARNING", logger="tao_automl"):
        result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
            automl_settings={"algorithm": "asha", "fidelity_mode": "stopping", "metric": "val_loss",
                             "automl_max_epochs": 3, "automl_max_recommendations": 3, "automl_max_concurrent": 1,
                             "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 3
    said = [r.getMessage() for r in caplog.records if "stopping mode cannot compare" in r.getMessage()]
    assert len(said) == 1 and "status.json" in said[0]


def test_a_model_without_automl_enabled_is_told_to_add_it(tmp_path: Path) -> None:
    from tao_automl.bank.skill import load_skill

    skill_dir = write_skill(tmp_path / "bank")
    info_path = skill_dir / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    del info["automl_enabled"]
    info_path.write_text(yaml.safe_dump(info))
    with pytest.raises(SkillError, match="does not set automl_enabled: true") as caught:
        load_skill(skill_dir, "train")
    assert "add `automl_enabled: true`" in (caught.value.hint or "") and "schema is missing" not in str(caught.value)
    (skill_dir / "schemas" / "train.schema.json").unlink()  # SPEC 4.1: the error says which of the two is missing
    with pytest.raises(SkillError, match=r"does not set automl_enabled: true in .*, and its schema is missing too "
                                         r"\(.*schemas/train\.schema\.json\)"):
        load_skill(skill_dir, "train")


@pytest.mark.parametrize("template", ['python3 "{skill_dir}/train.py" --config "{config_path}"',
                                      "python3 '{skill_dir}/train.py' --config '{config_path}'",
                                      "python3 {skill_dir}/train.py --config {config_path}"])
def test_a_placeholder_is_one_word_whether_or_not_the_command_quotes_it(tmp_path: Path, template: str) -> None:
    """`python3 "{skill_dir}/train.py"` in a folder with a space became `"'/tmp/sp ace/my-model'/train.py"` (quoted
    twice): preflight passed and every job failed."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.render.job import format_command

    skill_dir = write_skill(tmp_path / "sp ace's", command=template)
    command = format_command(load_skill(skill_dir, "train"), {"config_path": "/r/a b/spec.yaml", "results_dir": "/r"})
    words = subprocess.run(["/bin/sh", "-c", f"printf '%s\\n' {command.split(' ', 1)[1]}"], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    assert words == [f"{skill_dir}/train.py", "--config", "/r/a b/spec.yaml"]


def test_preflight_warns_when_the_script_the_command_names_in_the_model_folder_is_missing(tmp_path: Path) -> None:
    """The README's own-script example with a typo (`{skill_dir}/nope.py`) passed preflight ("ok command python3")
    and every rec failed with "can't open file": {skill_dir} is known before anything runs, so the path is looked at."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.runner.preflight import command_check

    skill_dir = write_skill(tmp_path / "bank", command="python3 {skill_dir}/nope.py --config {config_path}")
    check = command_check("local", load_skill(skill_dir, "train"))
    assert check is not None and check.warning and f"{skill_dir}/nope.py" in check.detail, check
    (skill_dir / "nope.py").write_text("print('val_loss: 1')\n")
    check = command_check("local", load_skill(skill_dir, "train"))
    assert check is not None and not check.warning, check

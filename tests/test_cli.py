"""The tao-automl command: run, status, resume; user errors are one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tao_automl.cli.main import main


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tao_automl.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def _config(tmp_path: Path, skill: Path, **extra: object) -> Path:
    config = {
        "skill_dir": str(skill), "workspace_path": "ws",
        "automl_settings": {"metric": "val_loss", "automl_max_recommendations": 3, "automl_max_concurrent": 2,
                            "poll_interval_s": 0.5},
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
        "platform_kwargs": {"gpu_count": 0},
        **extra,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _shift_schema(default: int, minimum: int, maximum: int) -> dict[str, Any]:
    """The small schema with one more searched int, ``train.shift``, in [minimum, maximum] with math_cond '!= 0'."""
    from conftest import small_schema

    schema = small_schema()
    schema["automl_default_parameters"].append("train.shift")
    schema["default"]["train"]["shift"] = default
    schema["properties"]["train"]["properties"]["shift"] = {
        "type": "int", "default": default, "minimum": minimum, "maximum": maximum, "math_cond": "!= 0",
        "automl_enabled": True}
    return schema


def test_run_prints_live_lines_and_a_ranked_table_then_status_and_resume(toy_skill: Path, tmp_path: Path) -> None:
    done = _cli("run", str(_config(tmp_path, toy_skill)))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("started  job") == 3
    assert "rank" in done.stdout and "best: rec" in done.stdout
    run_dir = next((tmp_path / "ws").glob("run_*"))  # workspace_path is relative to the config file

    status = _cli("status", str(run_dir), "--json")
    data = json.loads(status.stdout)
    assert data["progress"]["completed"] == 3 and data["progress"]["state"] == "finished"
    assert len(data["recommendations"]) == 3 and data["best"]["metric_value"] is not None

    resumed = _cli("resume", str(run_dir), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["progress"]["completed"] == 3  # nothing relaunched


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"automl_setings": {}}, "did you mean 'automl_settings'"),
        ({"skill_dir": "/nonexistent/model"}, "does not exist"),
        ({"platform": "lokal"}, "did you mean 'local'"),
        ({"automl_settings": {"algorithm": "hyperbayes"}}, "unknown algorithm 'hyperbayes'"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(toy_skill: Path, tmp_path: Path, extra: dict[str, object],
                                                   message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(_config(tmp_path, toy_skill, **extra))])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ws").exists()


def test_status_of_a_folder_without_a_run_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path)]) == 2
    assert "no run state" in capsys.readouterr().err


_TWO_METRICS = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "model_size", "direction": "minimize"}]


@pytest.mark.parametrize(("metric", "running", "ended"), [
    ("val_loss", "\nbest: none yet\n", "\nbest: none (no rec succeeded with a finite metric)\n"),
    (_TWO_METRICS, "; Pareto front: none yet\n", "; Pareto front: none (no rec succeeded)\n"),
], ids=["one-metric", "two-metrics"])
def test_status_of_a_running_run_without_a_success_says_none_yet_and_an_ended_one_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: Any, running: str, ended: str) -> None:
    """A running single-metric run whose first rec had not finished said "best: none (no rec succeeded with a
    finite metric)" as if it had ended, and a two-metric run whose every rec failed said "Pareto front: rec(s) none
    yet" after it had ended: "none yet" only while it runs, and an ended run says it has none."""
    from conftest import small_schema
    from tao_automl.automl import AutoML

    automl = AutoML(workspace=tmp_path / "run", network="toy", search_schema=small_schema(), log_progress=False,
                    settings={"metric": metric, "algorithm": "random", "automl_max_recommendations": 2})
    first, second = automl.next_recommendation()
    assert main(["status", str(tmp_path / "run")]) == 0
    assert running in capsys.readouterr().out
    automl.report_result(first.id, None, status="failure", message="out of memory")
    assert main(["status", str(tmp_path / "run")]) == 0
    assert running in capsys.readouterr().out
    automl.report_result(second.id, None, status="failure", message="out of memory")
    automl.finish()
    assert main(["status", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert ended in out and "yet" not in out


def test_an_int_whose_math_cond_excludes_a_value_inside_its_range_says_which_side_is_searched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """An int in [-5, 5] with math_cond '!= 0' is searched on one side of 0 only (a searched range is one interval:
    the side of its default), and nothing said so: --dry-run, preflight and `models` showed [-5, -1] and no note,
    half the range the schema allows silently left out. Each now notes the side searched, why, and the
    custom_param_ranges end that searches the other; a custom range on one side (or 0 at an end) notes nothing."""
    from conftest import readme_says, write_skill
    from tao_automl.cli.bank_commands import models_report

    readme_says(r"is searched on one side of `x` only, the side of its default \(a searched range is one interval\):\s+"
                r"`models`, preflight and the run's notes name the side")

    skill = write_skill(tmp_path / "bank", schema=_shift_schema(-1, -5, 5))
    note = ("param train.shift: math_cond '!= 0' leaves a range on both sides of 0, but a searched range is one "
            "interval: only [-5, -1] (below 0, the side of its default -1) is searched, no value above 0 is; to "
            "search those instead set custom_param_ranges.train.shift.valid_min to 1")
    for command in (["run", "--dry-run"], ["preflight"]):  # the dry run logs its notes, preflight reports them
        caplog.clear()
        assert main([command[0], str(_config(tmp_path, skill)), *command[1:], "--json"]) == 0
        assert note in capsys.readouterr().out + caplog.text, command
    listed = models_report(str(tmp_path / "bank"))["runnable"][0]
    assert next(p["range"] for p in listed["params"] if p["name"] == "train.shift") == "[-5, -1] (int)"
    assert note in listed["notes"]
    for ranges in ({"valid_min": 1}, {"valid_min": 1, "valid_max": 4}, {"valid_max": -2}):
        config = _config(tmp_path, skill, custom_param_ranges={"train.shift": ranges})
        caplog.clear()
        assert main(["run", str(config), "--dry-run", "--json"]) == 0
        assert "math_cond '!= 0'" not in capsys.readouterr().out + caplog.text, ranges


def test_a_split_range_whose_default_lies_outside_it_says_the_side_toward_the_default(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The split-range note said "the side of its default -8" when a custom range [-5, 5] left the default -8 out:
    neither side holds it (the side toward it is searched). And with a base value outside the range (the job's
    template -8 over a schema default 3), it named the schema's default 3 beside the side below 0, which the base
    value chose. Each now says the side toward the default the space was built from, outside the range."""
    from conftest import write_skill
    from tao_automl.schema.baseline import baseline
    from tao_automl.schema.bounds import split_range_notes
    from tao_automl.schema.build import build_search_space

    schema = _shift_schema(-8, -10, 10)
    skill = write_skill(tmp_path / "bank", schema=schema)
    ranges = {"train.shift": {"valid_min": -5, "valid_max": 5}}
    toward = ("only [-5, -1] (below 0, the side toward its default -8, which lies outside the range [-5, 5]: neither "
              "side holds it) is searched")
    assert main(["run", str(_config(tmp_path, skill, custom_param_ranges=ranges)), "--dry-run", "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any(toward in n for n in notes), notes
    schema["properties"]["train"]["properties"]["shift"]["default"] = 3
    base = baseline(schema, {"train": {"shift": -8}})
    space = build_search_space(schema, ["train.shift"], ranges, base=base)
    assert (space["train.shift"].low, space["train.shift"].high) == (-5, -1)  # the base value chose the side
    (note,) = split_range_notes(schema, space, ranges, base)
    assert toward in note, note
    inside = baseline(schema, {"train": {"shift": 2}})  # a default on a side: that side, as before
    (note,) = split_range_notes(schema, build_search_space(schema, ["train.shift"], ranges, base=inside), ranges,
                                inside)
    assert "only [1, 5] (above 0, the side of its default 2) is searched" in note, note

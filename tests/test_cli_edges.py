"""Edges a newcomer (or an agent) hits first, found by the independent probe: each is one line / one JSON error,
exit code 2, no traceback, nothing created; and ``status --watch`` right after ``resume --detach``."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import readme_says
from tao_automl.cli import watch as watch_mod
from tao_automl.cli.main import main
from tao_automl.cli.run_config import load_run_config
from tao_automl.errors import UserInputError


def _json_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    error: dict[str, Any] = json.loads(out)["error"]
    assert error["exit_code"] == 2 and "\n" not in error["message"]
    return error


NOT_UTF8 = [b"\x97\x00\xff binary", b"skill_dir: builtin:demo-digits-mlp\nworkspace_path: \xe9t\xe9\n"]


@pytest.mark.parametrize("content", NOT_UTF8)
def test_a_config_that_is_not_utf8_text_is_a_config_error(content: bytes, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    error = _json_error(["run", str(path), "--dry-run"], capsys)
    assert error["field"] == "config" and error["allowed"] == "a UTF-8 YAML file"


def _foreign_db(folder: Path, table: str) -> Path:
    folder.mkdir()
    conn = sqlite3.connect(folder / "state.db")
    conn.execute(f"CREATE TABLE {table} (x)")
    conn.commit()
    conn.close()
    return folder


@pytest.mark.parametrize("table", ["foo", "recs"])
def test_report_on_another_tools_state_db_is_one_line(table: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = _foreign_db(tmp_path / "other", table)
    error = _json_error(["report", str(folder), "-o", str(tmp_path / "r.html")], capsys)
    # refused when opened (its tables are not a run's), as every reader refuses it, not in the first read
    assert error["field"] == "run_dir" and "is damaged (table(s)" in error["message"] and "missing" in error["message"]
    assert "\n" not in error["message"] and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("argv", [["report", "DIR"], ["status", "DIR"], ["status", "DIR", "--watch"],
                                  ["export", "DIR", "--best", "-o", "OUT"], ["export", "DIR", "--csv", "OUT"],
                                  ["logs", "DIR", "1"]])
def test_a_folder_without_state_names_the_field_and_what_is_allowed(argv: list[str], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """report named what it takes; status, export and logs said "holds no run" with allowed null (they say "no run
    state at" now)."""
    (tmp_path / "run").mkdir()
    argv = [str(tmp_path / "run") if a == "DIR" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    error = _json_error(argv, capsys)
    assert error["field"] == "run_dir" and error["value"] == str(tmp_path / "run") and error["allowed"], error
    assert "workspace" in error["allowed"]


@pytest.mark.parametrize("argv", [["status", "DIR"], ["export", "DIR", "--csv", "OUT"], ["logs", "DIR", "1"]])
def test_a_damaged_store_says_what_is_allowed(argv: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.db").write_bytes(b"not a database" * 100)
    argv = [str(tmp_path / "run") if a == "DIR" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    error = _json_error(argv, capsys)
    assert error["field"] == "run_dir" and error["allowed"] == "a run folder whose state.db can be read", error


@pytest.mark.parametrize("extra", [["--json"], ["--results-dir", "elsewhere"]])
def test_best_without_o_where_stdout_cannot_take_it_says_what_is_allowed(extra: list[str], tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`export RUN --best --json` (or --best --results-dir DIR) said "give -o FILE" with allowed null."""
    run_dir = _finished_run(tmp_path)
    error = _json_error(["export", str(run_dir), "--best", *extra], capsys)
    assert error["field"] == "-o" and error["allowed"].startswith("-o FILE"), error


def test_best_and_csv_sharing_o_says_what_is_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    error = _json_error(["export", str(tmp_path), "--best", "--csv", "-o", str(tmp_path / "b.yaml")], capsys)
    assert error["field"] == "--csv" and error["allowed"] == "--csv FILE when --best takes -o", error


def _config(tmp_path: Path, **extra: Any) -> Path:
    config = {"skill_dir": "builtin:demo-digits-mlp", "train_dataset_uri": "builtin:digits", "workspace_path": "ws",
              "automl_settings": {"metric": "val_accuracy", "automl_max_recommendations": 1},
              "platform_kwargs": {"gpu_count": 0}, **extra}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("command", [["run", "--dry-run"], ["preflight"]])
def test_dry_run_and_preflight_refuse_a_workspace_that_is_a_file(command: list[str], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    path = _config(tmp_path, workspace_path="afile/sub")
    error = _json_error([command[0], str(path), *command[1:]], capsys)
    assert error["field"] == "workspace_path" and "is a file" in error["message"]


@pytest.mark.parametrize("command", [["run", "--dry-run"], ["preflight"]])
def test_dry_run_and_preflight_check_tracker_configs_as_run_does(command: list[str], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, wandb_config={"project": "p", "api_key": "qa-fake-secret-123"})
    code = main([command[0], str(path), *command[1:], "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and "qa-fake-secret-123" not in out + err
    error = json.loads(out)["error"]
    assert error["field"] == "wandb_config.api_key" and "project" in error["allowed"]
    assert not (tmp_path / "ws").exists()


def test_a_workspace_that_cannot_be_written_fails_preflight_and_run_says_so_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As root, preflight said `ok workspace_path /tmp/ro (exists)` on a read-only mount and `run` ended in an
    OSError traceback (kind internal, exit 1). /proc takes no new folder even from root, like a read-only mount."""
    path = _config(tmp_path, workspace_path="/proc/tao-automl-test-ws")
    assert main(["preflight", str(path), "--json"]) == 2
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["workspace_path"]["ok"] is False and "cannot be written" in checks["workspace_path"]["detail"]
    assert main(["run", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error["kind"] == "workspace" and error["field"] == "workspace_path" and "Traceback" not in err


def test_preflight_lists_the_workspace_and_trackers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preflight", str(_config(tmp_path)), "--json"]) == 0
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["workspace_path"]["ok"] and "will be created" in checks["workspace_path"]["detail"]
    assert checks["trackers"] == {"check": "trackers", "ok": True, "detail": "none configured"}
    assert not (tmp_path / "ws").exists()


def test_versions_without_a_bank_names_the_option(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    error = _json_error(["versions", "images.tao_toolkit.pyt"], capsys)
    assert error["field"] == "--skill-bank" and "TAO_SKILL_BANK_PATH" in error["hint"]
    assert error["message"].count("--skill-bank PATH") == 1


@pytest.mark.parametrize("argv", [["models"], ["versions"], ["versions", "images.tao_toolkit.pyt"]])
def test_a_bank_folder_without_models_or_versions_names_the_option(argv: list[str], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`models --skill-bank EMPTY` ("has no models/ ...") and `versions --skill-bank EMPTY` ("has no versions.yaml")
    came with field, value and allowed null: the folder given is named as --skill-bank's value, with what a bank
    folder holds."""
    error = _json_error([*argv, "--skill-bank", str(tmp_path)], capsys)
    assert (error["field"], error["value"]) == ("--skill-bank", str(tmp_path)), error
    assert "skill bank folder" in error["allowed"] and "TAO_SKILL_BANK_PATH" in error["hint"]


def test_platforms_without_a_bank_shows_the_sdk_registry(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    assert main(["platforms", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["platforms"] is None and "no skill bank given" in report["note"]
    assert {s["name"] for s in report["sdk_registry"]} >= {"local", "slurm", "docker", "kubernetes"}
    assert main(["platforms"]) == 0
    assert "SDK registry" in capsys.readouterr().out


def test_watch_keeps_going_while_a_resuming_orchestrator_has_not_marked_the_run_running(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`resume --detach` then `status --watch` at once: the run still says interrupted, but its orchestrator is
    alive; the watch must follow it to the end, not report it interrupted."""
    states = [("interrupted", True), ("running", True), ("finished", False)]
    reads: list[str] = []

    def fake_read(run_dir: str) -> dict[str, Any]:
        state, alive = states[len(reads)]
        reads.append(state)
        best = {"rec_id": 1, "metric_value": 0.5} if state == "finished" else None
        return {"run_dir": run_dir, "progress": {"state": state, "completed": int(best is not None), "total": 1},
                "best": best, "active_jobs": [], "orchestrator": {"alive": alive}, "recommendations": []}

    monkeypatch.setattr(watch_mod, "_read", fake_read)
    monkeypatch.setattr(watch_mod.time, "sleep", lambda s: None)
    out = io.StringIO()
    assert watch_mod.watch("RUN", 0.1, as_json=True, out=out) == 0
    assert reads == ["interrupted", "running", "finished"]


def test_watch_ends_on_an_interrupted_run_with_no_orchestrator(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """It exits 1 as `run` does without a result; its last JSON line had no error object (`run --json` prints one:
    README: every failure prints one) and the text printed no `error:` line. Both say why now."""
    monkeypatch.setattr(watch_mod, "_read", lambda run_dir: {
        "run_dir": run_dir, "progress": {"state": "interrupted", "failed": 2, "completed": 2, "total": 4,
                                         "succeeded": 0, "stop_reason": "2 recs failed: trainer crashed"},
        "best": None, "active_jobs": [], "orchestrator": {"alive": False}, "recommendations": []})
    out = io.StringIO()
    assert watch_mod.watch("RUN", 0.1, as_json=True, out=out) == 1
    last = json.loads(out.getvalue().splitlines()[-1])
    assert (last["error"]["kind"], last["error"]["exit_code"]) == ("no_result", 1), last
    assert "trainer crashed" in last["error"]["message"] and last["progress"]["state"] == "interrupted"
    assert watch_mod.watch("RUN", 0.1, as_json=False, out=io.StringIO()) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: 2 recs failed: trainer crashed"]


def _finished_run(tmp_path: Path) -> Path:
    """A finished two-rec run of the toy skill (real LocalSDK jobs)."""
    from conftest import write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    skill = write_skill(tmp_path / "skill")
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                         "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws", gpu_count=0)
    return Path(result["best"]["spec_path"]).parents[2]


def test_outputs_that_are_folders_or_under_a_file_are_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _finished_run(tmp_path)
    (tmp_path / "afile").write_text("x")
    cases = [(["export", str(run_dir), "--best", "-o", str(tmp_path)], "-o"),
             (["export", str(run_dir), "--csv", str(tmp_path / "afile" / "x.csv")], "--csv"),
             (["export", str(run_dir), "--optuna", str(tmp_path)], "--optuna"),
             (["report", str(run_dir), "-o", str(tmp_path)], "-o")]
    for argv, option in cases:
        error = _json_error(argv, capsys)
        assert error["field"] == option and error["allowed"], error
    assert (tmp_path / "afile").read_text() == "x"


def test_logs_tail_must_be_positive_and_resume_names_the_folder(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _finished_run(tmp_path)
    for tail in ("0", "-5"):
        error = _json_error(["logs", str(run_dir), "1", "--tail", tail], capsys)
        assert error["field"] == "--tail" and error["value"] == int(tail)
    assert main(["logs", str(run_dir), "1", "--tail", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 1
    error = _json_error(["logs", str(run_dir), "9"], capsys)
    assert error["field"] == "rec" and error["allowed"] == "1..2" and "tao-automl status" in error["hint"]
    for command in ("resume", "stop"):
        error = _json_error([command, str(run_dir / "state.db")], capsys)
        assert error["field"] == "run_dir" and error["message"].startswith("no run state at "), error
        assert "cannot resume" not in error["message"]


def test_resume_and_stop_of_no_run_say_why_as_status_and_logs_do(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`resume`/`stop` of a folder that does not exist, or of a file (the run's own state.db), said it "holds no run
    (no state.db)", where `status` and `logs` say "no such folder" and "not a folder"."""
    run_dir = _finished_run(tmp_path)
    for command in ("resume", "stop"):
        for given, why in ((tmp_path / "missing", "(no such folder)"), (run_dir / "state.db", "(not a folder)")):
            error = _json_error([command, str(given)], capsys)
            assert error["field"] == "run_dir" and error["message"].startswith(f"no run state at {str(given)!r} {why}")
            assert "no state.db" not in error["message"], (command, error)


def test_status_counts_past_what_sqlite_takes_page_as_counts_do(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`status --recs all --limit 99999999999999999999` (or such an --offset or --top) was an internal error, exit
    1, with a traceback (OverflowError binding it to SQLite): a count larger than any run means what it says."""
    run_dir = _finished_run(tmp_path)
    huge = str(10**20)
    for argv, shown in ((["--recs", "all", "--limit", huge], 2), (["--recs", "all", "--offset", huge], 0),
                        (["--top", huge], 2)):
        code = main(["status", str(run_dir), *argv, "--json"])
        out, err = capsys.readouterr()
        assert code == 0 and "Traceback" not in err, (argv, out, err)
        status = json.loads(out)
        assert len(status["recommendations"]) == shown and status["rec_view"]["shown"] == shown, argv
        assert int(huge) in status["rec_view"].values()  # the count as given


def test_export_json_names_the_files_it_wrote_by_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`export RUN --best -o b.yaml --csv c.csv --optuna o.log --json` printed the paths as typed (relative to the
    caller's folder), while report, runs and status print absolute ones an agent elsewhere can open."""
    pytest.importorskip("optuna")
    run_dir = _finished_run(tmp_path)
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path / "out")
    assert main(["export", str(run_dir), "--best", "-o", "b.yaml", "--csv", "c.csv", "--optuna", "o.log",
                 "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [done[k]["path"] for k in ("best", "csv", "optuna")] == [
        str(tmp_path / "out" / name) for name in ("b.yaml", "c.csv", "o.log")]
    assert all(Path(done[k]["path"]).is_file() for k in done)


def test_an_empty_path_argument_is_refused_not_read_as_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl logs "$RUN" 1` with RUN unset, in a workspace: logs, export, report and runs read the current
    folder's newest run (exit 0, "note:  is a workspace"); status refused it naming workspace_path. Each command
    now refuses an empty path argument, naming it."""
    run_dir = _finished_run(tmp_path)
    monkeypatch.chdir(run_dir.parent)
    out = str(tmp_path / "out.csv")
    for argv, field in ((["logs", "", "1"], "run_dir"), (["export", "", "--csv", out], "run_dir"),
                        (["report", "", "-o", str(tmp_path / "r.html")], "run_dir"), (["runs", ""], "workspace"),
                        (["status", " "], "run_dir"), (["resume", ""], "run_dir"), (["stop", ""], "run_dir"),
                        (["run", ""], "config"), (["preflight", ""], "config"),
                        (["plan", "", "--model", "builtin:demo-digits-mlp"], "text"),
                        (["plan", "tune it", "--model", ""], "--model")):
        error = _json_error(argv, capsys)
        assert (error["kind"], error["field"]) == ("usage", field) and error["value"] in ("", " "), (argv, error)
        assert error["allowed"]
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "r.html").exists()


def test_runs_json_is_one_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"workspace": str(tmp_path), "runs": []}


def test_runs_names_the_zone_of_its_start_times(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`runs` printed `started 2026-12-05 05:15:50` under TZ=America/New_York beside the run id
    `run_20261205_101550_...` (made under UTC), with no zone to tell which of the two a reader sees."""
    import time
    from datetime import datetime, timedelta, timezone

    run_dir = _finished_run(tmp_path)
    monkeypatch.setenv("TZ", "XYZ+05:00")  # POSIX: five hours behind UTC
    time.tzset()
    try:
        capsys.readouterr()
        assert main(["runs", str(run_dir.parent)]) == 0
        line = next(li for li in capsys.readouterr().out.splitlines() if li.startswith(run_dir.name))
    finally:
        monkeypatch.undo()
        time.tzset()
    from tao_automl.export.runs import list_runs

    (created,) = [r["created_at"] for r in list_runs(str(run_dir.parent))]
    shown = datetime.fromtimestamp(created, tz=timezone(timedelta(hours=-5))).strftime("%Y-%m-%d %H:%M:%S -0500")
    assert shown in line, line


def test_the_readme_command_table_is_one_table_naming_every_command() -> None:
    """A blank line inside the table split it, and Markdown showed the second half as plain text."""
    import re

    from tao_automl.cli.main import build_parser

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## From the shell", 1)[1]
    table = re.search(r"\| command \| what it does \|\n\|---\|---\|\n((?:\|.*\|\n)+)", section)
    assert table is not None
    rows = table.group(1)
    assert section.count("| `tao-automl ") == rows.count("| `tao-automl ")  # no row outside the table
    documented = set(re.findall(r"^\| `tao-automl (\w+)", rows, re.M))
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(commands) <= documented, set(commands) - documented


def test_every_command_takes_format_json_and_json() -> None:
    """README: "Every command takes `--format json` (or `--json`) for machines"."""
    from tao_automl.cli.main import build_parser

    assert readme_says(r"(Every command) takes `--format json` \(or `--json`\) for machines")
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert len(commands) >= 15
    for name, sub in commands.items():
        options = {o: a for a in sub._actions for o in a.option_strings}
        assert "--json" in options and "json" in (options["--format"].choices or ()), name


def test_a_key_given_twice_in_the_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """PyYAML keeps the last of two equal keys silently: the first automl_settings would never run."""
    path = tmp_path / "c.yaml"
    path.write_text("skill_dir: builtin:demo-digits-mlp\nworkspace_path: ws\n"
                    "automl_settings: {metric: val_accuracy}\nspec_overrides: {train.num_epochs: 1}\n"
                    "automl_settings: {metric: val_loss}\n")
    error = _json_error(["run", str(path), "--dry-run"], capsys)
    assert error["field"] == "config" and "'automl_settings' is given twice" in error["message"]
    assert "line 5" in error["message"] and not (tmp_path / "ws").exists()


def test_a_config_may_merge_an_anchored_mapping(tmp_path: Path) -> None:
    """``<<: *anchor`` is YAML's merge key, not a key given twice: the check of repeated keys refused it ("could not
    determine a constructor for the tag 'tag:yaml.org,2002:merge'"), so a config sharing settings failed to load."""
    path = tmp_path / "c.yaml"
    path.write_text("skill_dir: builtin:demo-digits-mlp\nworkspace_path: ws\n"
                    "automl_settings:\n  <<: &common {metric: val_accuracy, algorithm: random}\n  algorithm: grid\n"
                    "spec_overrides:\n  <<: [{train.num_epochs: 1}]\n  train.batch_size: 32\n")
    config = load_run_config(path)
    assert config.automl_settings == {"metric": "val_accuracy", "algorithm": "grid"}  # the mapping's own key wins
    assert config.spec_overrides == {"train.num_epochs": 1, "train.batch_size": 32}
    path.write_text(path.read_text() + "  train.batch_size: 64\n")  # a key given twice is still refused
    with pytest.raises(UserInputError, match=r"'train\.batch_size' is given twice"):
        load_run_config(path)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from tao_automl import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"tao-automl {__version__}"


def test_export_best_without_o_on_a_run_with_no_result_says_so(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """It said "give -o FILE" (exit 2), though -o would not have helped."""
    from conftest import write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    skill = write_skill(tmp_path / "skill", command="false {config_path}")
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["best"] is None
    run_dir = next((tmp_path / "ws").glob("run_*"))
    assert main(["export", str(run_dir), "--best"]) == 1
    err = capsys.readouterr().err
    assert "no successful rec to export" in err and "give -o" not in err


def test_a_sweep_without_result_prints_one_json_object_with_its_error_and_its_result(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """README: with --json a failure prints exactly one JSON object whose ``error`` has the documented keys; a
    sweep that ran carries its result dict in the same object."""
    from conftest import write_skill

    skill = write_skill(tmp_path / "bank", trainer="print('training done')\n")
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
        "automl_settings": {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 3,
                            "poll_interval_s": 0.05},
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0}}))
    assert main(["run", str(config), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)  # one object: json.loads refuses anything after it
    assert set(out["error"]) == {"kind", "message", "field", "value", "allowed", "hint", "exit_code"}
    assert out["error"]["exit_code"] == 1 and out["progress"]["succeeded"] == 0
    assert out["error"]["field"] == "best" and out["error"]["value"] is None


def test_a_sweep_whose_recs_were_all_cancelled_says_so_not_failed(capsys: pytest.CaptureFixture[str]) -> None:
    """Every rec cancelled (``stop --cancel-jobs``), none failed: the error names the missing best and the counts,
    and its hint does not send the user to failed recs' messages."""
    from tao_automl.cli.main import _finish

    progress = {"state": "finished", "completed": 3, "total": 3, "succeeded": 0, "failed": 0, "cancelled": 3,
                "running": 0, "pending": 0}
    summary = {"run_dir": "/w/run_1", "progress": progress, "best": None, "recommendations": []}
    assert _finish(summary, as_json=True) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["field"], error["value"]) == ("best", None)
    assert "3 cancelled" in error["message"] and "failed" not in error["message"]
    assert "cancelled" in error["hint"] and "failed" not in error["hint"]
    assert _finish({**summary, "progress": {**progress, "failed": 2, "cancelled": 1}}, as_json=False) == 1
    assert "(2 failed, 1 cancelled)" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "field", "needs"), [
    (["run", "CFG", "--recs", "2"], "--recs", "add --dry-run"),
    (["run", "CFG", "--dry-run", "--detach"], "--detach", "cannot be combined with --dry-run"),
    (["status", "RUN", "--offset", "3"], "--offset", "needs --recs all"),
    (["status", "RUN", "--limit", "3"], "--limit", "needs --recs all"),
    (["status", "RUN", "--recs", "top", "--limit", "3"], "--limit", "needs --recs all"),
    (["status", "RUN", "--recs", "all", "--top", "3"], "--top", "--recs top"),
    (["status", "RUN", "--interval", "3"], "--interval", "add --watch"),
    (["status", "RUN", "--watch", "--recs", "all"], "--recs", "without --watch"),
    (["status", "RUN", "--watch", "--offset", "1"], "--offset", "without --watch"),
])
def test_an_option_that_would_be_ignored_is_a_usage_error(argv: list[str], field: str, needs: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`run CFG --recs 2` used to launch the whole sweep, `--dry-run --detach` to ignore --detach, `--offset`
    without `--recs all` to be ignored: each is refused before anything starts, saying what it needs."""
    config = _config(tmp_path, spec_overrides={"train.num_epochs": 1})
    (tmp_path / "run").mkdir()
    argv = [str(config) if a == "CFG" else str(tmp_path / "run") if a == "RUN" else a for a in argv]
    error = _json_error(argv, capsys)
    assert error["kind"] == "usage" and error["field"] == field and needs in error["message"]
    assert field in error["allowed"]  # what would be accepted, as every user error says (it was null)
    assert not (tmp_path / "ws").exists()  # no sweep started, no folder made


@pytest.mark.parametrize("count", ["0", "-2"])
def test_a_dry_run_recs_count_below_one_names_the_option_its_value_and_what_is_allowed(
        count: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`run --dry-run --recs 0` said only "--recs: 0 is not allowed" (field, value and allowed were null)."""
    config = _config(tmp_path, spec_overrides={"train.num_epochs": 1})
    error = _json_error(["run", str(config), "--dry-run", "--recs", count], capsys)
    assert (error["kind"], error["field"], error["value"], error["allowed"]) == (
        "usage", "--recs", int(count), "an integer >= 1")
    assert "--recs" in error["message"] and count in error["message"] and ">= 1" in error["message"]


@pytest.mark.parametrize("interval", ["0", "-1", "nan", "inf", "1e308"])
def test_a_watch_interval_time_sleep_cannot_take_is_refused_before_watching(
        interval: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`status RUN --watch --interval inf` (or 1e308) drew the first screen of a live run, then died in
    time.sleep: OverflowError, exit 1, a traceback. An interval outside 0 < S <= 86400 is refused first."""
    watched: list[float] = []
    monkeypatch.setattr(watch_mod, "watch", lambda run_dir, every, as_json: watched.append(every) or 0)
    error = _json_error(["status", str(tmp_path), "--watch", "--interval", interval], capsys)
    assert (error["field"], error["allowed"]) == ("--interval", "a number of seconds, 0 < S <= 86400"), error
    assert str(error["value"]) == str(float(interval)) and not watched
    assert main(["status", str(tmp_path), "--watch", "--interval", "86400"]) == 0 and watched == [86400.0]


@pytest.mark.parametrize(("argv", "field", "value", "allowed"), [
    (["status", "RUN", "--top", "x"], "--top", "x", "an integer"),
    (["status", "RUN", "--top"], "--top", None, "an integer"),
    (["status", "RUN", "--recs", "bogus"], "--recs", "bogus", ["top", "all"]),
    (["status", "RUN", "--watch", "--interval", "soon"], "--interval", "soon", "a number"),
    (["run", "CFG", "--dry-run", "--recs", "1.5"], "--recs", "1.5", "an integer"),
    (["models", "--scope", "every"], "--scope", "every", ["automl", "all"]),
    (["run", "CFG", "--dry-run=3"], "--dry-run", "3", "no value (a flag)"),
    (["nosuchcommand"], "command", "nosuchcommand", None),
    (["run"], "config", None, "run config YAML (an example: section 2 of `tao-automl skill --text`)"),  # its help
])
def test_a_bad_argument_names_the_option_its_value_and_what_it_takes(
        argv: list[str], field: str, value: Any, allowed: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's errors came out with field "argv", no value and no allowed: the option named in the message, the
    value given and the choices or type argparse knows are the error's fields."""
    config = _config(tmp_path)
    argv = [str(config) if a == "CFG" else str(tmp_path) if a == "RUN" else a for a in argv]
    error = _json_error(argv, capsys)
    assert (error["kind"], error["field"], error["value"]) == ("usage", field, value)
    if allowed is None:
        assert "run" in error["allowed"] and "status" in error["allowed"]  # the commands
    else:
        assert error["allowed"] == allowed
    assert field in error["message"] and (value is None or str(value) in error["message"])


def test_an_unknown_option_names_it_and_lists_the_commands_options(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    error = _json_error(["status", str(tmp_path), "--bogus", "1"], capsys)
    assert (error["field"], error["value"]) == ("--bogus", "--bogus 1")
    assert {"--top", "--recs", "--json"} <= set(error["allowed"])


@pytest.mark.parametrize("before", [["--format", "json"], ["--top", "3"], ["--interval", "5"]])
def test_a_commands_option_with_its_value_before_the_command_says_where_it_goes(
        before: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl --format json status RUN` (an option and its value before the command) said "argument command:
    invalid choice: 'json' (choose from 'status')": the value taken for a command, and a list of commands holding
    only the one given. It says where the option goes, as for `--json status RUN` and `--top=3 status RUN`."""
    code = main([*before, "status", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"{' '.join(before)} is an option of `status`: put it after the command name" in err, err
    assert "invalid choice" not in err
    if before == ["--format", "json"]:
        error = json.loads(out)["error"]
        assert (error["field"], error["value"], error["allowed"]) == ("--format", "--format json", "after `status`")


def test_an_unknown_word_before_a_command_lists_every_command(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl bogus status RUN` listed `status` alone as the commands allowed (the parser holds only the command
    the line names)."""
    error = _json_error(["bogus", "status", str(tmp_path), "--json"], capsys)
    assert (error["field"], error["value"]) == ("command", "bogus")
    assert {"run", "status", "resume", "stop", "export"} <= set(error["allowed"]), error


@pytest.mark.parametrize("argv", [["--json", "status", "RUN"], ["--top=3", "status", "RUN"]])
def test_a_commands_option_before_the_command_says_where_it_goes(argv: list[str], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(tmp_path) if a == "RUN" else a for a in argv]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert f"{argv[0]} is an option of `status`: put it after the command name" in err
    if "--json" in argv:
        error = json.loads(out)["error"]
        assert (error["field"], error["allowed"]) == ("--json", "after `status`")
        assert "tao-automl status --json" in error["hint"]


def test_an_error_whose_json_reader_has_gone_keeps_its_exit_code_without_a_traceback(tmp_path: Path) -> None:
    """`tao-automl run bad.yaml --json | head -c 10`: the reader may close the pipe before the error object is
    written; the exit code must stay the error's (2), with its one line on stderr and no traceback."""
    import os
    import subprocess
    import sys

    config = tmp_path / "bad.yaml"
    config.write_text("automl_settings:\n  automl_max_concurent: 2\n")
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "tao_automl.cli", "run", str(config), "--json"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ") and "skill_dir" in done.stderr


def test_platforms_takes_a_run_configs_platform_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`--platform local` (or docker, slurm...) names platforms as a run config does; an unknown name lists both
    forms (a run config's platform, a platform skill of the bank)."""
    from test_bank_tools import synthetic_bank

    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    for name in ("local", "docker", "lepton"):
        assert main(["platforms", "--platform", name, "--json"]) == 0, capsys.readouterr()
        assert "no skill bank given" in json.loads(capsys.readouterr().out)["note"]
    bank = synthetic_bank(tmp_path / "bank")
    assert main(["platforms", "--skill-bank", str(bank), "--platform", "local", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["platforms"] == [] and "needs no credentials" in report["note"]
    assert main(["platforms", "--skill-bank", str(bank), "--platform", "docker", "--json"]) == 0
    assert [p["name"] for p in json.loads(capsys.readouterr().out)["platforms"]] == ["tao-run-on-docker"]
    assert main(["platforms", "--skill-bank", str(bank), "--platform", "lepton"]) == 0  # no skill: said, no error
    assert "no platform skill for 'lepton'" in capsys.readouterr().out
    error = _json_error(["platforms", "--skill-bank", str(bank), "--platform", "dockr"], capsys)
    assert "did you mean 'docker'" in error["message"] and error["field"] == "--platform"
    assert "local, slurm" in error["message"] and "tao-run-on-slurm" in error["message"]
    assert {"local", "kubernetes", "tao-run-on-docker"} <= set(error["allowed"])


def test_run_on_a_folder_and_runs_on_a_run_folder_say_what_they_got(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "config.yaml"
    folder.mkdir()
    error = _json_error(["run", str(folder)], capsys)
    assert error["field"] == "config" and "is a folder" in error["message"] and "does not exist" not in error["message"]
    run_dir = tmp_path / "ws" / "run_20260101_000000_abcdef"
    run_dir.mkdir(parents=True)
    (run_dir / "state.db").touch()
    error = _json_error(["runs", str(run_dir)], capsys)
    assert "is a run folder, not a workspace" in error["message"] and str(tmp_path / "ws") in error["message"]
    assert f"tao-automl runs {tmp_path / 'ws'}" in error["hint"]


@pytest.mark.parametrize(("extra", "field"), [
    (["--csv", "--results-dir", "elsewhere"], "--results-dir"),
    (["--optuna", "journal.log", "-o", "out.yaml"], "-o"),
    (["--csv", "recs.csv", "-o", "out.yaml"], "-o"),
])
def test_export_refuses_an_option_it_would_ignore(extra: list[str], field: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    extra = [str(tmp_path / a) if "." in a or a == "elsewhere" else a for a in extra]
    error = _json_error(["export", str(tmp_path / "run"), *extra], capsys)
    assert error["field"] == field and error["allowed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written


@pytest.mark.parametrize(("options", "field", "says"), [
    ({"jobs_dirr": "jobs"}, "platform_options.jobs_dirr", "did you mean 'jobs_dir'"),
    ({"bogus": 1}, "platform_options.bogus", "allowed: gpu_ids, jobs_dir, state_file"),
])
def test_an_unknown_platform_option_is_named_with_the_allowed_ones(options: dict[str, Any], field: str, says: str,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """It said field null and leaked "LocalSDK.__init__() got an unexpected keyword argument 'bogus'"."""
    error = _json_error(["run", str(_config(tmp_path, platform_options=options)), "--dry-run"], capsys)
    assert error["field"] == field and says in error["message"] and "__init__" not in error["message"]
    assert error["allowed"] == ["gpu_ids", "jobs_dir", "state_file"]


def test_logs_tail_prints_the_last_lines_of_the_recs_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """README: `logs RUN_DIR REC --tail N` prints the last N lines of the rec's job log."""
    from conftest import QUADRATIC_TRAINER, write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    skill = write_skill(tmp_path / "skill", trainer="for i in range(12):\n    print(f'line {i}')\n" + QUADRATIC_TRAINER)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = result["run_dir"]
    assert main(["logs", run_dir, "1"]) == 0
    whole = capsys.readouterr().out.splitlines()
    assert [line for line in whole if line.startswith("line ")] == [f"line {i}" for i in range(12)]
    assert main(["logs", run_dir, "1", "--tail", "5"]) == 0
    assert capsys.readouterr().out.splitlines() == whole[-5:]


@pytest.mark.parametrize("jobs_in_run", [False, True])
def test_logs_of_a_job_that_printed_nothing_is_an_empty_log_not_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs_in_run: bool) -> None:
    """A job that has written no output (yet) has an empty log: exit 0 and a note, not "no log" (exit 2). With the
    job folders in the run (the default) the empty output.log was shown as a saved log: a bare `==> ... <==` header
    and no note."""
    from conftest import write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    skill = write_skill(tmp_path / "skill", trainer="pass\n")
    sdk = LocalSDK() if jobs_in_run else LocalSDK(jobs_dir=tmp_path / "jobs")
    result = AutoMLRunner(sdk, skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = result["run_dir"]
    capsys.readouterr()
    assert main(["logs", run_dir, "1"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "rec 1 (failure): its job's log is empty; it has written no output" in err
    assert main(["logs", run_dir, "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["log"] == "" and "log is empty" in shown["note"]
    assert Path(run_dir, "jobs").is_dir() == jobs_in_run


def test_export_and_report_name_an_output_they_cannot_write(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`export -o` into a read-only folder, `-o ''`, and `report -o` there ended in an OSError / IsADirectoryError
    traceback (kind internal, exit 1); `--results-dir ''` pointed the retrain at the current folder. Each is a user
    error naming the option (/proc takes no new file even from root, like a read-only mount)."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    run = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2},
        workspace_path=tmp_path / "ws", gpu_count=0)
    cases = [(["export", run["run_dir"], "--best", "-o", "/proc/best.yaml"], "-o"),
             (["export", run["run_dir"], "--best", "-o", ""], "-o"),
             (["export", run["run_dir"], "--csv", "/proc/r.csv"], "--csv"),
             (["export", run["run_dir"], "--best", "-o", str(tmp_path / "b.yaml"), "--results-dir", ""],
              "--results-dir"),
             (["report", run["run_dir"], "-o", "/proc/r.html"], "-o")]
    for argv, field in cases:
        assert main([*argv, "--json"]) == 2, argv
        out, err = capsys.readouterr()
        error = json.loads(out)["error"]
        assert (error["kind"], error["field"]) == ("user_input", field), (argv, error)
        assert "Traceback" not in err


def test_export_and_report_refuse_an_output_whose_folder_does_not_exist(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Pins defect 4: `export --best -o /missing/dir/x.yaml` created the missing folders without a word (a typo in
    the path went unnoticed). An output whose folder does not exist is now a user error with the README's exit
    code for bad input, naming the option, the value and what is allowed (a file in an existing folder), and
    nothing is created; `--csv`, `--optuna` and `report -o`, which share the check, refuse it the same way."""
    from conftest import readme_says, write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    bad_input, = readme_says(r"\| (\d+) \| user error: bad config, argument, path or setting")
    run = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2},
        workspace_path=tmp_path / "ws", gpu_count=0)
    missing = tmp_path / "missing" / "dir"
    cases = [(["export", run["run_dir"], "--best", "-o", str(missing / "x.yaml")], "-o", "x.yaml"),
             (["export", run["run_dir"], "--csv", str(missing / "r.csv")], "--csv", "r.csv"),
             (["export", run["run_dir"], "--optuna", str(missing / "j.log")], "--optuna", "j.log"),
             (["report", run["run_dir"], "-o", str(missing / "r.html")], "-o", "r.html")]
    for argv, field, name in cases:
        assert main([*argv, "--json"]) == int(bad_input), argv
        error = json.loads(capsys.readouterr().out)["error"]
        assert (error["kind"], error["field"], error["value"]) == ("user_input", field, str(missing / name)), error
        assert error["allowed"] == "a file path in an existing folder", error
        assert f"its folder {str(missing)!r} does not exist" in error["message"], error
        assert "mkdir -p" in error["hint"], error
        assert not (tmp_path / "missing").exists(), argv
    assert main(["export", run["run_dir"], "--best", "-o", str(tmp_path / "x.yaml")]) == 0  # an existing folder
    assert (tmp_path / "x.yaml").is_file()


def test_export_of_a_run_still_going_says_to_wait_not_that_recs_failed(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`export --best` of a live run (or one interrupted before any rec ended) said "see ... for why its recs
    failed" with no rec failed."""
    from conftest import small_schema
    from tao_automl import AutoML

    automl = AutoML(tmp_path / "run", search_schema=small_schema(), log_progress=False,
                    settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2})
    automl.next_recommendation()
    assert main(["export", str(tmp_path / "run"), "--best", "-o", str(tmp_path / "b.yaml"), "--json"]) == 1
    hint = json.loads(capsys.readouterr().out)["error"]["hint"]
    assert "wait" in hint and "failed" not in hint
    del automl  # the holder goes: the run reads interrupted, with nothing ended
    import gc

    gc.collect()
    assert main(["export", str(tmp_path / "run"), "--best", "-o", str(tmp_path / "b.yaml"), "--json"]) == 1
    hint = json.loads(capsys.readouterr().out)["error"]["hint"]
    assert "AutoML(" in hint and "resume=True" in hint and "failed" not in hint


def test_verbose_may_follow_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status RUN --json -v` was refused ("unrecognized arguments: -v; allowed: ... --verbose"), though every
    internal error's hint says "rerun with -v". `--verb` too: argparse takes it before the command, but after it the
    refusal listed --verbose as allowed."""
    from conftest import small_schema
    from tao_automl import AutoML

    AutoML(tmp_path / "run", search_schema=small_schema(), log_progress=False,
           settings={"algorithm": "random", "metric": "val_loss"}).finish()
    for flag in ("-v", "--verbose", "--verb", "--verbo"):
        assert main(["status", str(tmp_path / "run"), "--json", flag]) == 0
        assert json.loads(capsys.readouterr().out)["progress"]["state"] == "stopped"  # finished before its budget


def _command_raises(monkeypatch: pytest.MonkeyPatch, command: str, error: BaseException) -> None:
    """Make ``command``'s handler raise ``error`` (what a real call raised where it cannot be made to here)."""
    import tao_automl.cli.main as cli_main

    def raising(args: object) -> int:
        raise error

    monkeypatch.setitem(cli_main.COMMANDS, command, (raising, cli_main.COMMANDS[command][1]))


@pytest.mark.parametrize("error", [OSError(28, "No space left on device", "/ws/run/state.db-journal"),
                                   OSError(30, "Read-only file system", "/ws/run/orchestrator.lock")])
def test_a_full_or_read_only_disk_is_one_line_not_an_internal_error(
        error: OSError, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that filled up mid-run ended `run` in a traceback (sqlite3 'database or disk is full' in end(), an
    ENOSPC in the lock's pwrite), or, with --json, kind internal with 'this is a bug'. It names the path and the
    next step. (The handler is replaced to raise what the real calls raised: a full disk cannot be made here.)"""
    _command_raises(monkeypatch, "status", error)
    assert main(["status", "/ws/run", "--json"]) == 2
    out, err = capsys.readouterr()
    payload = json.loads(out)["error"]
    assert payload["kind"] == "workspace" and payload["value"] == error.filename and "Traceback" not in err
    assert "resume" in payload["hint"]


def _sweep_stopped_at_rec_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            error: Any) -> tuple[BaseException, Path]:
    """A 3-rec sweep whose second result's write raises ``error(run_dir)``; the exception it ends with and its run
    folder (under a workspace named with a space)."""
    from conftest import write_skill
    from tao_automl.experiment.core import Experiment
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    told = Experiment.tell

    def failing(self: Experiment, rec_id: int, *args: Any, **kwargs: Any) -> Any:
        if rec_id == 2:
            raise error(self.run_dir)
        return told(self, rec_id, *args, **kwargs)

    monkeypatch.setattr(Experiment, "tell", failing)
    with pytest.raises(BaseException) as caught:
        AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
            automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 3,
                             "automl_max_concurrent": 1}, workspace_path=tmp_path / "my ws", gpu_count=0)
    return caught.value, next((tmp_path / "my ws").glob("run_*"))


def test_a_disk_that_fills_during_a_sweep_names_the_run_folder_to_resume(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep whose disk filled up (a real one on a 300 kB tmpfs) ended with "continues with `tao-automl resume
    RUN_DIR`": the literal placeholder, although the sweep knew its folder. The error now names it, quoted to paste.
    (The second result's write raises what the full disk raised: a full disk cannot be made here.)"""
    import errno

    from tao_automl.errors import storage_error as _storage_error

    raised, run_dir = _sweep_stopped_at_rec_2(tmp_path, monkeypatch, lambda folder: OSError(
        errno.ENOSPC, "No space left on device", str(folder / "state.db-journal")))
    assert isinstance(raised, OSError)
    error = _storage_error(raised)
    assert error is not None and error.kind == "workspace"
    assert f"`tao-automl resume '{run_dir}'`" in str(error.hint) and "RUN_DIR" not in str(error.hint)
    assert _storage_error(OSError(errno.ENOSPC, "full")).hint.endswith("`tao-automl resume RUN_DIR`")  # no run yet


def _full_disk_while_creating(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make one step of a new run folder's creation raise what a full disk raises there: the staging folder's mkdir,
    the lock file's pid write (an ENOSPC without a file name), the store's first metadata write (SQLite's "database
    or disk is full"), the publishing rename, or the store reopened in the published folder."""
    import errno
    import os

    import tao_automl.experiment.core as core
    import tao_automl.experiment.workspace as workspace
    from tao_automl.experiment.store import DB_NAME, no_space

    def full(path: object = None) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(path)] if path is not None else []))

    if where == "mkdir":
        made = Path.mkdir

        def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
            if self.name.startswith(workspace.STAGING_PREFIX):
                raise full(self)
            made(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    elif where == "lock":
        def pwrite(fd: int, data: bytes, offset: int) -> int:
            raise full()

        monkeypatch.setattr(workspace.os, "pwrite", pwrite)
    elif where == "store":
        def set_meta(self: Any, *args: Any, **kwargs: Any) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(core.RunStore, "set_meta", set_meta)
    elif where == "publish":
        renamed = os.rename

        def rename(source: Any, target: Any) -> None:
            if Path(source).name.startswith(workspace.STAGING_PREFIX):
                raise full(source)
            renamed(source, target)

        monkeypatch.setattr(workspace.os, "rename", rename)
    else:  # reopen
        store_class = core.RunStore

        def reopened(run_dir: Path, *args: Any, **kwargs: Any) -> Any:
            if not Path(run_dir).name.startswith(workspace.STAGING_PREFIX):
                raise no_space(str(Path(run_dir) / DB_NAME))
            return store_class(run_dir, *args, **kwargs)

        monkeypatch.setattr(core, "RunStore", reopened)


@pytest.mark.parametrize("where", ["mkdir", "lock", "store", "publish", "reopen"])
def test_a_full_disk_while_a_new_run_folder_is_made_names_the_workspace_and_leaves_nothing(
        where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins defect 1: a full disk while `run` created a new run folder said "no space left on the device writing the
    run folder's state" (no path: value null) with the hint "... continues with `tao-automl resume RUN_DIR`" although
    no run existed, and left a `.staging-run_*` folder (lock or publish failing). Now, at each step of the creation,
    the --json error names the field workspace_path, its value and the file it could not write, says to free space
    there or choose another workspace_path and run the same command again (no resume), exits with the README's full
    disk code, and leaves the workspace empty: status says there is no run, and the same command then makes one run.
    (Each step raises what a full disk raises there: a full disk cannot be made in a test.)"""
    from conftest import readme_says, write_skill

    documented, = readme_says(r"A full disk while `run` creates a new run folder exits (\d+)")
    workspace = tmp_path / "ws"
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "skill_dir": str(write_skill(tmp_path / "bank")), "workspace_path": str(workspace),
        "automl_settings": {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                            "poll_interval_s": 0.05},
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0}}))
    with monkeypatch.context() as patched:
        _full_disk_while_creating(where, patched)
        code = main(["run", str(config), "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == error["exit_code"] == int(documented), error
    assert error["kind"] == "workspace" and error["field"] == "workspace_path", error
    assert error["value"] == str(workspace) and str(workspace) in error["message"], error
    assert "no space left on the device writing '" in error["message"], error
    assert "free space on the file system that holds" in error["hint"] and "workspace_path" in error["hint"], error
    assert "run the same command again" in error["hint"], error
    assert "resume" not in error["hint"].replace("no run to resume", ""), error
    assert "RUN_DIR" not in json.dumps(error), error
    assert list(workspace.iterdir()) == [], where  # no half-made folder (staging or published)
    assert main(["status", str(workspace), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["message"].startswith("no run state at"), where
    assert main(["run", str(config), "--json"]) == 0  # the same command, with space again, makes one run
    capsys.readouterr()
    assert [path.name.startswith("run_") for path in workspace.iterdir()] == [True], where


def test_ctrl_c_before_a_run_folder_exists_says_nothing_started(capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during preflight said "interrupted: jobs keep running; continue with `tao-automl resume RUN_DIR`"
    (a literal RUN_DIR, and no job had started)."""
    _command_raises(monkeypatch, "run", KeyboardInterrupt())
    assert main(["run", "config.yaml", "--json"]) == 130
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error["message"].startswith("interrupted before the sweep started") and "jobs keep running" not in err
    assert error["hint"].startswith("no run folder was reported")


def test_status_of_a_damaged_state_db_does_not_ask_for_another_folder(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A truncated state.db: status said "pass the run folder printed by `tao-automl run` (it holds state.db)", the
    folder the user had passed."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 20)  # cut short
    assert main(["status", str(run), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert "cannot be read" in error["hint"] and "pass the run folder" not in error["hint"]


def test_a_missing_config_points_to_an_example_an_installed_user_has(tmp_path: Path) -> None:
    """The hint named `examples/demo_local.yaml`, a path of the source checkout that a pip-installed user does not
    have; it names section 2 of `tao-automl skill --text`, whose config is a valid run config."""
    import re

    from tao_automl.cli.agent_commands import skill_path
    from tao_automl.cli.run_config import config_from_mapping, load_run_config
    from tao_automl.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_run_config(tmp_path / "nope.yaml")
    assert "section 2 of `tao-automl skill --text`" in str(caught.value.hint)
    assert "examples/" not in str(caught.value.hint)
    text = skill_path().read_text()
    section = text.split("\n## 2.", 1)[1].split("\n## ", 1)[0]
    assert section.lstrip().startswith("Write a run config")
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    config = config_from_mapping(yaml.safe_load(example.group(1)), tmp_path)
    assert config.platform == "local"


def test_status_text_says_why_a_stopped_run_stopped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An LLM audit: a run the LLM brain stopped showed only `state: interrupted` in `status`; the reason was in the
    JSON's progress.stop_reason alone. The text says it too (here a sweep whose recs never report the metric)."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    run = AutoMLRunner(InstantSDK(lambda spec: None), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 4,
                         "automl_max_concurrent": 1}, workspace_path=tmp_path / "ws", gpu_count=0)
    reason = run["stop_reason"]
    assert reason
    capsys.readouterr()
    assert main(["status", run["run_dir"]]) == 0
    assert f"stop reason: {reason}" in capsys.readouterr().out


def test_an_error_that_stops_a_started_sweep_names_its_run_folder(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An LLM audit: a run the LLM endpoint stopped mid-sweep answered `run --json` with the error alone, its hint
    naming a literal RUN_DIR: the folder holding rec 1's result was named nowhere. The JSON carries run_dir and the
    hint names it."""
    from tao_automl.errors import error_json
    from tao_automl.llm.client import LLMUnreachable

    raised, folder = _sweep_stopped_at_rec_2(tmp_path, monkeypatch, lambda _: LLMUnreachable(
        "LLM endpoint http://127.0.0.1:9/v1: cannot connect", field="llm_endpoint"))
    assert isinstance(raised, LLMUnreachable)
    run_dir = str(folder)
    data = error_json(raised)
    assert data["run_dir"] == run_dir and data["error"]["exit_code"] == 3
    assert f"`tao-automl resume '{run_dir}'`" in data["error"]["hint"] and "RUN_DIR" not in data["error"]["hint"]


def test_logs_given_a_relative_run_folder_shows_each_saved_log_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """README: `logs RUN_DIR REC` shows, when the platform has no log, "the `*.log` files saved under the rec's
    folder". Given the run folder as a relative path, each saved file was shown twice (once under the relative path,
    once under the results folder's absolute one)."""
    import shutil

    from conftest import QUADRATIC_TRAINER, write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    skill = write_skill(tmp_path / "skill", trainer=QUADRATIC_TRAINER)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws", gpu_count=0)
    shutil.rmtree(tmp_path / "jobs")  # the platform's log is gone: only the saved logs are left
    results = Path(result["recommendations"][0]["results_dir"])
    results.mkdir(parents=True, exist_ok=True)
    (results / "train.log").write_text("saved line\n")
    monkeypatch.chdir(tmp_path)
    relative = Path(result["run_dir"]).relative_to(tmp_path)
    capsys.readouterr()
    assert main(["logs", str(relative), "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("saved line") == 1 and out.count("==> ") == 1, out
    assert main(["logs", str(relative), "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["log"].count("saved line") == 1
    assert main(["logs", str(Path("ws", "..", relative)), "1"]) == 0
    assert capsys.readouterr().out.count("saved line") == 1


def test_run_s_keyword_platform_arguments_go_under_platform_kwargs_in_a_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """README: the YAML mirrors run()'s arguments, run()'s keyword platform arguments (the README's `gpu_count=0`)
    under `platform_kwargs`. Written at the top level as in run(), `gpu_count: 0` was refused as an unknown key with
    the list of valid keys only; the error now says where it goes."""
    from conftest import readme_says

    readme_says(r"the YAML mirrors `run\(\)`'s arguments \(its keyword platform arguments, such as `gpu_count=0`, "
                r"under `platform_kwargs`\) plus `platform` and `skill_dir`")
    path = _config(tmp_path, gpu_count=0)
    error = _json_error(["run", str(path), "--dry-run"], capsys)
    assert error["field"] == "gpu_count" and "goes under platform_kwargs" in error["message"]
    assert "platform_kwargs: {gpu_count: 0}" in error["hint"]
    assert _json_error(["preflight", str(_config(tmp_path, gpu_cont=0))], capsys)["field"] == "gpu_cont"


def test_relative_platform_paths_in_a_config_are_against_the_configs_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """README: relative paths in a YAML config are made absolute against the config file's folder. The local
    platform's `platform_options.jobs_dir` (and `state_file`) went against the current directory instead, so the same
    config run from another folder put its jobs elsewhere."""
    from conftest import readme_says

    readme_says(r"Relative paths \(`workspace_path`, `skill_dir`, dataset paths, `base_checkpoint`, the local "
                r"platform's `jobs_dir`, every platform's `state_dir` and `state_file`\) are made absolute once: from "
                r"Python against the current directory, in a YAML config against the config file's folder")
    folder = tmp_path / "cfg"
    folder.mkdir()
    config = folder / "c.yaml"
    config.write_text(_config(tmp_path, platform_options={"jobs_dir": "myjobs"}).read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["preflight", str(config), "--json"]) == 0
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert str(folder / "myjobs") in checks["jobs_dir"]["detail"], checks["jobs_dir"]
    # the records of every other platform are on this machine too: a Slurm or Docker state_dir went against the
    # current directory, so `resume` from another folder read other records (a Slurm jobs_dir is the cluster's)
    from tao_automl.cli.run_config import load_run_config

    for platform, options in (("slurm", {"state_dir": "st", "jobs_dir": "cluster-jobs"}),
                              ("docker", {"state_file": "st/docker.json"})):
        config.write_text(_config(tmp_path, platform=platform, platform_options=options).read_text())
        resolved = load_run_config(config).platform_options
        assert resolved.get("state_dir", str(folder / "st")) == str(folder / "st"), resolved
        assert resolved.get("state_file", str(folder / "st/docker.json")) == str(folder / "st" / "docker.json")
        assert resolved.get("jobs_dir", "cluster-jobs") == "cluster-jobs", resolved


def _closed_pipe_run(argv: list[str], *, stderr_too: bool = False) -> tuple[int, str]:
    """``tao-automl ARGV | head -0``: stdout (and, with ``stderr_too``, stderr: ``2>&1 | head``) is a pipe whose
    reader has already left, so every write to it fails with EPIPE. Returns the exit code and what reached stderr."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "tao_automl.cli", *argv], stdout=write_end,
                              stderr=write_end if stderr_too else subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    return done.returncode, done.stderr or ""


def test_every_command_piped_into_head_ends_quietly_with_its_own_exit_code(toy_skill: Path, tmp_path: Path) -> None:
    """`tao-automl status RUN | head -3` exited 1 (README: 1 is a sweep without a result or an internal failure):
    a reader that leaves early is neither; each command ends with no traceback or error line and the exit code it
    would have had, and a sweep whose output nobody reads still runs to its end."""
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "skill_dir": str(toy_skill), "workspace_path": "ws", "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
        "automl_settings": {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 2,
                            "poll_interval_s": 0.2}}))
    assert _closed_pipe_run(["run", str(config)], stderr_too=True)[0] == 0  # `run cfg 2>&1 | head -1`
    run_dir = str(next((tmp_path / "ws").glob("run_*")))
    from tao_automl.status import query_status

    assert query_status(run_dir)["progress"]["completed"] == 2
    for argv in (["status", run_dir], ["status", run_dir, "--json"], ["status", run_dir, "--recs", "all"],
                 ["runs", str(tmp_path / "ws")], ["logs", run_dir, "1"], ["export", run_dir, "--best"],
                 ["status", run_dir, "--watch"]):
        assert _closed_pipe_run(argv) == (0, ""), argv
    code, err = _closed_pipe_run(["run", str(config), "--json"])  # its live lines go to stderr, as always
    assert code == 0 and "Traceback" not in err and "error" not in err and err.endswith("0 cancelled\n"), err
    assert _closed_pipe_run(["status", str(tmp_path / "nothing")])[0] == 2  # an error keeps its own code


def test_watch_stops_once_its_reader_has_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """`status --watch --json | head -1` on a running run: the watch stops at the next refresh instead of polling
    into a closed pipe until the run ends (exit 0, as Ctrl-C stops watching)."""
    from tao_automl.cli.main import _ReaderMayLeave

    class Closed(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    reads: list[int] = []

    def running(run_dir: str) -> dict[str, Any]:
        reads.append(1)
        assert len(reads) < 5, "still watching"
        return {"run_dir": run_dir, "progress": {"state": "running", "completed": 0, "total": 9}, "best": None,
                "active_jobs": [], "orchestrator": {"alive": True}, "recommendations": []}

    monkeypatch.setattr(watch_mod, "_read", running)
    monkeypatch.setattr(watch_mod.time, "sleep", lambda s: None)
    assert watch_mod.watch("RUN", 0.1, as_json=True, out=_ReaderMayLeave(Closed())) == 0  # type: ignore[arg-type]
    assert len(reads) == 1


def test_logs_of_an_ask_tell_rec_says_its_training_was_the_callers(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`logs RUN REC` of an ask/tell run said "the rec has no job yet" (one never comes: the caller trains its recs),
    with `allowed: null`. It says whose the training was and what `logs` shows."""
    from conftest import small_schema
    from tao_automl import AutoML

    automl = AutoML(workspace=tmp_path / "asked", network="toy", search_schema=small_schema(), log_progress=False,
                    settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1})
    rec, = automl.next_recommendation()
    automl.report_result(rec.id, 0.5)
    automl.finish()
    error = _json_error(["logs", str(tmp_path / "asked"), str(rec.id)], capsys)
    assert (error["kind"], error["field"], error["value"]) == ("workspace", "rec", rec.id), error
    assert "no job yet" not in error["message"] and "ask/tell" in error["message"], error
    assert error["allowed"], error

"""What each command's ``--help`` says of its options' defaults and limits is what the command does: every
"(default X)" and "up to N" in an option's help is read from the parser and checked against the value the command
really uses, so a help line cannot drift from the code."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent_helpers import cli, demo_config
from conftest import REPO, readme_says
from tao_automl.cli import agent_commands
from tao_automl.cli import main as cli_main
from tao_automl.status import DEFAULT_TOP

#: Options whose parser default is None (so that an option given where nothing uses it is refused): the value the
#: command uses when it is not given. Each is checked against the command's behaviour below.
USED_WHEN_NOT_GIVEN: dict[tuple[str, str], Any] = {
    ("run", "--recs"): cli_main.DRY_RUN_RECS,
    ("status", "--interval"): cli_main.WATCH_INTERVAL_S,
    ("status", "--top"): DEFAULT_TOP,
    ("status", "--offset"): 0,
}
#: Defaults the help names as an environment variable or a place: each is pinned where that behaviour is tested.
NAMED_ELSEWHERE = {
    ("plan", "--llm-endpoint"): "$AUTOML_LLM_ENDPOINT",  # test_llm_unit: the variables are read
    ("plan", "--llm-model"): "$AUTOML_LLM_MODEL",
    ("plan", "--skill-bank"): "$TAO_SKILL_BANK_PATH",  # test_bank_tools: the bank found through the variable
    ("models", "--skill-bank"): "$TAO_SKILL_BANK_PATH",
    ("platforms", "--skill-bank"): "$TAO_SKILL_BANK_PATH",
    ("versions", "--skill-bank"): "$TAO_SKILL_BANK_PATH",
    ("plan", "-o"): ": print it",  # test_plan: without -o the config is printed
    ("export", "-o"): ": stdout",  # test_exports: --best and --csv without a file print
    ("report", "-o"): "RUN_DIR/report.html, or RUN_DIR/convergence.png",  # checked below
    ("plan", "--metric"): ": the LLM chooses",  # test_plan: the LLM's metric, listed as not in the goal
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli_main.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _claims(pattern: str) -> list[tuple[str, str, str, argparse.Action]]:
    """(command, option, claimed text, action) for every option help matching ``pattern``'s one group."""
    found = []
    for command, parser in _subparsers().items():
        for action in parser._actions:
            for claimed in re.findall(pattern, action.help or ""):
                found.append((command, (action.option_strings or [action.dest])[0], claimed, action))
    return found


def _same(claimed: str, value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        try:
            return float(claimed) == float(value)
        except ValueError:
            return False
    return claimed == str(value)


def test_every_default_a_help_line_states_is_the_default_the_command_uses() -> None:
    claims = _claims(r"\(default(?: |: )?([^;)]*)[;)]")
    claims += [(c, o, "", a) for c, o, _, a in _claims(r"(\w+) \(default\)")]  # "top (default): ..."
    assert len(claims) >= 20, claims  # every command's --format, and the options below
    unchecked = []
    for command, option, claimed, action in claims:
        if claimed == "":  # a choice named as the default: the one used when the option is not given
            used = USED_WHEN_NOT_GIVEN.get((command, option), action.default)
            first = re.match(r"\s*(\w+) \(default\)", action.help or "")
            assert first and (used == first.group(1) or (action.default is None and first.group(1) == "top")), \
                (command, option, action.help)
            continue
        if (command, option) in NAMED_ELSEWHERE:
            assert claimed.strip() == NAMED_ELSEWHERE[command, option].lstrip(": ").strip() or \
                claimed == NAMED_ELSEWHERE[command, option].removeprefix(":").strip(), (command, option, claimed)
            continue
        used = action.default if action.default is not None else USED_WHEN_NOT_GIVEN.get((command, option))
        if used is None:
            unchecked.append((command, option, claimed))
        else:
            assert _same(claimed.strip(), used), f"{command} {option}: help says default {claimed!r}, uses {used!r}"
    assert not unchecked, f"a help line states a default no test checks: {unchecked}"


def test_every_limit_a_help_line_states_is_the_limit_the_command_enforces(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`status --interval` and `stop --timeout` say "up to 86400": that value is taken, the next one refused."""
    claims = {(c, o): float(n) for c, o, n, _ in _claims(r"up to (\d+)")}
    assert set(claims) == {("status", "--interval"), ("stop", "--timeout")}, claims
    assert claims["status", "--interval"] == cli_main.WATCH_INTERVAL_MAX_S
    assert claims["stop", "--timeout"] == agent_commands.STOP_TIMEOUT_MAX_S
    watched: list[float] = []
    monkeypatch.setattr("tao_automl.cli.watch.watch", lambda run, interval, as_json: watched.append(interval) or 0)
    most = claims["status", "--interval"]
    assert cli_main.main(["status", str(tmp_path), "--watch", "--interval", f"{most:g}"]) == 0
    assert cli_main.main(["status", str(tmp_path), "--watch"]) == 0  # and the default the help states
    assert watched == [most, USED_WHEN_NOT_GIVEN["status", "--interval"]]
    for argv in (["status", str(tmp_path), "--watch", "--interval"], ["stop", str(tmp_path), "--timeout"]):
        assert cli_main.main([*argv, f"{most + 0.5:g}", "--json"]) == 2
    refused = cli("stop", str(tmp_path), "--timeout", f"{claims['stop', '--timeout'] + 1:g}", "--json")
    error = json.loads(refused.stdout)["error"]
    assert refused.returncode == 2 and error["field"] == "--timeout" and f"{most:g}" in error["allowed"]


def test_the_defaults_the_help_states_are_what_the_commands_do(tmp_path: Path) -> None:
    """`run --dry-run` shows as many recs as `--recs`' help says by default, and `status` as many best recs as
    `--top`'s (its rec_view says so even for a run with fewer recs)."""
    config = demo_config(tmp_path, recs=5)
    shown = cli("run", str(config), "--dry-run", "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert len(json.loads(shown.stdout)["recs"]) == USED_WHEN_NOT_GIVEN["run", "--recs"]
    assert not (tmp_path / "runs").exists()  # launches and creates nothing

    from tao_automl import AutoML

    automl = AutoML(workspace=tmp_path / "ask", search_schema={
        "default": {"train": {"lr": 0.1}},
        "properties": {"train": {"type": "collection", "properties": {
            "lr": {"type": "float", "default": 0.1, "minimum": 0.01, "maximum": 1.0}}}},
        "automl_default_parameters": ["train.lr"]},
        settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 1}, log_progress=False)
    for rec in automl.next_recommendation():
        automl.report_result(rec.id, 0.5)
    automl.finish()
    status = json.loads(cli("status", str(tmp_path / "ask"), "--json").stdout)
    assert status["rec_view"]["top"] == USED_WHEN_NOT_GIVEN["status", "--top"]


def test_report_writes_where_its_help_says_by_default(tmp_path: Path) -> None:
    """`report -o` says "default RUN_DIR/report.html, or RUN_DIR/convergence.png" (the latter with --format png)."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    result = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_acc"), write_skill(tmp_path / "bank"),
                          log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_acc", "automl_max_recommendations": 2},
        workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    for extra, name in (([], "report.html"), (["--format", "png"], "convergence.png")):
        done = cli("report", str(run_dir), *extra)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == str(run_dir / name) and (run_dir / name).is_file()
    # --json said "(the report is still HTML)", but with --format png it writes the PNG: its help names both
    json_help = next(a.help for a in _subparsers()["report"]._actions if "--json" in a.option_strings)
    for extra, kind in (([], "HTML"), (["--format", "png"], "PNG")):
        printed = json.loads(cli("report", str(run_dir), *extra, "--json").stdout)
        assert printed["format"] == kind.lower() and kind in (json_help or ""), (printed, json_help)



@pytest.mark.parametrize(("option", "argv"), [
    ("--recs", ["run", "CONFIG", "--dry-run", "--recs", "0"]), ("--top", ["status", "RUN", "--top", "-1"]),
    ("--limit", ["status", "RUN", "--recs", "all", "--limit", "-1"]),
    ("--interval", ["status", "RUN", "--watch", "--interval", "0"]), ("--timeout", ["stop", "RUN", "--timeout", "0"]),
    ("--tail", ["logs", "RUN", "1", "--tail", "0"]),
    ("--llm-timeout", ["plan", "tune it", "--model", "builtin:demo-digits-mlp", "--llm-endpoint",
                       "http://127.0.0.1:9/v1", "--llm-model", "m", "--llm-timeout", "0"])])
def test_an_option_value_out_of_its_range_is_a_usage_error_as_skill_md_says(
        option: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SKILL.md: kind `usage` is a wrong command line, "a value of the wrong type or not among the choices", fixed
    from the command's --help. `--recs 0`, `--top -1`, `--timeout 0` were `usage`; `status --watch --interval 0`
    and `logs --tail 0` were `user_input` (whose row says: paths, platform arguments, spec overrides)."""
    config = str(demo_config(tmp_path))
    argv = [config if a == "CONFIG" else str(tmp_path) if a == "RUN" else a for a in argv]
    assert cli_main.main([*argv, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["kind"], error["field"], error["exit_code"]) == ("usage", option, 2), error
    assert error["allowed"] and option in error["message"], error


@pytest.mark.parametrize("argv", [[], ["--json"], ["-v"]])
def test_no_command_says_a_command_is_needed_not_an_invalid_choice(argv: list[str]) -> None:
    """`tao-automl` alone, the first thing a newcomer types, answered "argument command: invalid choice: None": the
    rewording meant for a command name that is not one (`tao-automl nosuch`) also took argparse's "required". It now
    says a command is required and lists them, as a usage error (exit 2)."""
    done = cli(*argv)
    assert done.returncode == 2, done
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "None" not in said[0] and "invalid choice" not in said[0], said
    assert "required: command" in said[0] and "allowed: run, resume, status" in said[0], said
    if argv == ["--json"]:
        error = json.loads(done.stdout)["error"]
        assert (error["kind"], error["field"], error["value"]) == ("usage", "command", None)
        assert error["allowed"] == list(cli_main.COMMANDS) and "invalid choice" not in error["message"]


@pytest.mark.parametrize(("command", "missing"), [("run", "config"), ("preflight", "config"), ("status", "run_dir"),
                                                  ("resume", "run_dir"), ("stop", "run_dir"), ("export", "run_dir"),
                                                  ("report", "run_dir"), ("logs", "run_dir"), ("runs", "workspace"),
                                                  ("plan", "text")])
def test_a_missing_argument_names_what_it_takes(command: str, missing: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl run` alone said "the following arguments are required: config; allowed: a value": `allowed` now
    says what the argument is, in its --help words ("run config YAML ...", "run folder ...")."""
    assert cli_main.main([command, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    action = next(a for a in _subparsers()[command]._actions if a.dest == missing)
    assert (error["kind"], error["field"]) == ("usage", missing), error
    assert error["allowed"] == action.help and f"allowed: {action.help}" in error["message"], error


def test_export_without_what_to_write_names_the_options_in_its_line(tmp_path: Path) -> None:
    """README: a user error prints one line naming the field, the value and what is allowed. `tao-automl export RUN`
    printed "error: export: say what to write" (the options only in --json's `allowed`), kind user_input; a missing
    option is a usage error, and its line lists --best, --csv and --optuna."""
    done = cli("export", str(tmp_path))
    said = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(said) == 1, done
    assert "allowed: --best, --csv, --optuna" in said[0], said
    error = json.loads(cli("export", str(tmp_path), "--json").stdout)["error"]
    assert (error["kind"], error["allowed"]) == ("usage", ["--best", "--csv", "--optuna"]), error


@pytest.mark.parametrize("command", ["status", "report", "export --best", "logs {} 1"])
def test_a_folder_without_a_run_says_whether_it_exists(command: str, tmp_path: Path) -> None:
    """`tao-automl report runs` before any sweep (the README's second setup step, in the wrong folder) said "no run
    state at 'runs' (no state.db)" for a folder that does not exist, and the same for an empty workspace: it now
    says "no such folder" for the one, and for the other that it holds no state.db and no run folder."""
    (tmp_path / "empty").mkdir()
    said = {}
    for name in ("missing", "empty"):
        folder = str(tmp_path / name)
        words = command.split()
        argv = [w.format(folder) for w in words] if "{}" in command else [*words[:1], folder, *words[1:]]
        done = cli(*argv)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done
        said[name] = done.stderr
    assert "no such folder" in said["missing"] and "no state.db" not in said["missing"], said
    assert "no such folder" not in said["empty"] and "no state.db, and no run folder in it" in said["empty"], said


@pytest.mark.parametrize("command", ["status", "report", "export --best -o OUT", "logs 1", "resume", "stop"])
def test_a_folder_without_a_run_is_said_in_the_same_words_by_each_command(command: str, tmp_path: Path) -> None:
    """`export` said "'PATH' holds no run (...)" of a folder where `status` and `report` said "no run state at 'PATH'
    (...)" (report with more after it), and so did `resume` and `stop` until they took these words too: each says
    the same line now, in text and in its JSON error."""
    folder = tmp_path / "empty"
    folder.mkdir()
    words = [str(tmp_path / "best.yaml") if w == "OUT" else w for w in command.split()]
    said = f"no run state at {str(folder)!r} (no state.db, and no run folder in it)"
    done = cli(words[0], str(folder), *words[1:])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done
    assert done.stderr.startswith(f"error: {said} (hint: "), done.stderr  # the same words, then the command's hint
    error = json.loads(cli(words[0], str(folder), *words[1:], "--json").stdout)["error"]
    assert error["message"].startswith(f"{said} (hint: "), error
    assert (error["field"], error["value"]) == ("run_dir", str(folder)), error


@pytest.mark.parametrize("argv", [
    ["--csv", "--results-dir", "x"],  # --results-dir needs --best, as run's --recs needs --dry-run (usage)
    ["--csv", "a.csv", "-o", "b.yaml"],  # -o with neither --best nor a bare --csv
    ["--best", "--csv"],  # both want -o
    ["--csv", "--json"]])  # the JSON takes stdout: --csv needs its FILE (an empty or unwritable path: user_input)
def test_an_export_option_given_without_what_it_needs_is_a_usage_error(argv: list[str], tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`run --recs 3` without --dry-run and `status --interval 5` without --watch are usage errors (SKILL.md: a
    wrong command line); export's options given without what they need were user_input. Each is usage now, naming
    the option, and nothing is written."""
    argv = [str(tmp_path / a) if a.endswith((".csv", ".yaml", ".log")) else a for a in argv]
    assert cli_main.main(["export", str(tmp_path), *argv, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "usage" and error["field"] in argv and error["allowed"], error
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_export_best_without_its_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`export RUN --best --json` and `--best --optuna FILE` without -o: a missing -o, kind usage as above."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    run_dir = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_acc"), write_skill(tmp_path / "bank"),
                           log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_acc", "automl_max_recommendations": 1},
        workspace_path=tmp_path / "ws", gpu_count=0)["run_dir"]
    for extra in (["--json"], ["--optuna", str(tmp_path / "j.log"), "--json"]):
        assert cli_main.main(["export", run_dir, "--best", *extra]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert (error["kind"], error["field"]) == ("usage", "-o"), error
    assert not (tmp_path / "j.log").exists()


def test_the_readme_table_row_of_stop_names_the_options_stop_takes() -> None:
    """README's table of commands showed `tao-automl stop RUN_DIR [--cancel-jobs]`, without `--timeout`, which `stop
    --help` lists. The row's options are now read against the parser's (both ways, leaving out --format and --json,
    which every command takes), and the default and limit the row states for --timeout against the command's."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `tao-automl stop ")]
    assert len(rows) == 1, rows
    usage = rows[0].split("`")[1]
    shared = {"-h", "--help", "--format", "--json"}
    taken = {o for a in _subparsers()["stop"]._actions for o in a.option_strings if o.startswith("--")} - shared
    assert set(re.findall(r"--[a-z][a-z-]*", usage)) == taken, (usage, sorted(taken))
    default, most = readme_says(r"`--timeout S` \(default (\d+) s, up to (\d+)\)")
    timeout = next(a for a in _subparsers()["stop"]._actions if "--timeout" in a.option_strings)
    assert (float(default), float(most)) == (timeout.default, agent_commands.STOP_TIMEOUT_MAX_S)


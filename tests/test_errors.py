"""Structured user errors: fields, one-line message, JSON form, exit codes; ``--json`` CLI failures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tao_automl import errors
from tao_automl.cli.main import COMMANDS, main
from tao_automl.errors import (
    EXIT_CODES,
    SettingsError,
    SkillError,
    TaoAutoMLError,
    UserInputError,
    WorkspaceLockedError,
    error_json,
)


def test_fields_build_the_one_line_message_and_json() -> None:
    exc = SettingsError(field="automl_settings.algorithm", value="bayes", allowed=["bayesian", "random"],
                        hint="use one of the allowed names")
    text = str(exc)
    assert "\n" not in text
    assert "automl_settings.algorithm" in text and "'bayes'" in text and "bayesian, random" in text
    assert "use one of the allowed names" in text
    data = exc.to_json()
    assert data == {"kind": "settings", "message": text, "field": "automl_settings.algorithm", "value": "bayes",
                    "allowed": ["bayesian", "random"], "hint": "use one of the allowed names", "exit_code": 2}


def test_plain_message_constructor_still_works_and_is_one_line() -> None:
    exc = SkillError("skill folder 'x'\nhas no schema")
    assert str(exc) == "skill folder 'x' has no schema"
    assert isinstance(exc, UserInputError) and isinstance(exc, ValueError)
    assert exc.to_json()["field"] is None and exc.to_json()["kind"] == "skill"


def test_kind_and_exit_code_per_class_and_override() -> None:
    assert WorkspaceLockedError("locked").exit_code == errors.EXIT_RUN_BUSY
    assert errors.PlatformUnreachableError("down").exit_code == errors.EXIT_PLATFORM_UNREACHABLE
    assert UserInputError("x", kind="custom", exit_code=3).to_json()["kind"] == "custom"
    assert {0, 1, 2, 3, 4, 130} <= set(EXIT_CODES)
    for cls in (TaoAutoMLError, UserInputError, SettingsError, WorkspaceLockedError):
        assert cls().exit_code in EXIT_CODES


def test_values_become_json_data() -> None:
    exc = UserInputError(field="f", value={"a": np.int64(2), "b": math.nan, "c": (1, Path("/x"))})
    assert json.loads(json.dumps(exc.to_json()))["value"] == {"a": 2, "b": "nan", "c": [1, "/x"]}


def test_unexpected_exception_becomes_internal_error() -> None:
    data = error_json(KeyError("boom"))["error"]
    assert data["kind"] == "internal" and data["exit_code"] == 1 and "KeyError" in data["message"]


def _one_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out
    data = json.loads(out)  # exactly one JSON document on stdout
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("argv, kind, field", [
    (["run", "/nonexistent/config.yaml", "--json"], "config", "config"),
    (["status", "/nonexistent/run", "--json"], "workspace", "run_dir"),
    (["--json", "nosuchcommand"], "usage", "command"),
    (["run", "--json"], "usage", "config"),
])
def test_cli_json_failures_print_one_error_object(argv: list[str], kind: str, field: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(argv)
    error = _one_json(capsys)["error"]
    assert isinstance(error, dict)
    assert code == error["exit_code"] == 2
    assert error["kind"] == kind and error["field"] == field
    assert set(error) == {"kind", "message", "field", "value", "allowed", "hint", "exit_code"}


def test_cli_bad_config_key_names_field_value_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("skill_dir: builtin:demo-digits-mlp\nworkspace_path: ws\nalgoritm: random\n")
    code = main(["run", str(config), "--json"])
    error = _one_json(capsys)["error"]
    assert isinstance(error, dict)
    assert code == 2 and error["field"] == "algoritm" and error["value"] == "algoritm"
    assert "automl_settings" in error["allowed"] and error["hint"]


def test_readme_documents_every_exit_code() -> None:
    """Each code with the words of EXIT_CODES (code 4 said "the run folder is busy: another orchestrator holds its
    lock" while the table said another text: the README claims a test keeps them in step)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"\n| {code} | {meaning} |\n" in readme, code


def test_a_plain_message_with_a_field_prefix_names_the_field() -> None:
    assert SettingsError("automl_settings.seed: -1 is not allowed").field == "automl_settings.seed"
    assert SettingsError("config file 'x' does not exist").field is None
    assert SettingsError("a: b", field="given").field == "given"


@pytest.mark.parametrize("argv", [
    "status /nope", "resume /nope", "resume /nope --detach", "stop /nope", "export /nope --best -o x.yaml",
    "logs /nope 1", "report /nope", "runs /nope", "run /nope.yaml", "run /nope.yaml --detach",
    "run /nope.yaml --dry-run", "preflight /nope.yaml", "models --skill-bank /nope", "platforms --skill-bank /nope",
    "versions x --skill-bank /nope", "skill --bogus", "stop",
])
def test_every_command_fails_with_exactly_one_json_error(argv: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*argv.split(), "--json"])
    error = _one_json(capsys)["error"]
    assert isinstance(error, dict) and code == error["exit_code"] == 2 and error["hint"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("spelling", [["--js"], ["--jso"], ["--form", "json"], ["--form=json"], ["--format=json"]])
def test_a_usage_error_is_the_json_error_whatever_spelling_of_json_argparse_accepted(
        command: str, spelling: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse accepts ``--js`` for ``--json`` (and ``--form json``), but a usage error under such a spelling was
    argparse's text alone on stderr, not the JSON error object ``--json`` promises."""
    code = main([command, *spelling, "--no-such-option"])
    error = _one_json(capsys)["error"]
    assert isinstance(error, dict) and code == error["exit_code"] == 2 and error["kind"] == "usage"


def _raised_while(handling: BaseException, error: BaseException) -> BaseException:
    """``error`` raised ``from None`` while ``handling`` was being handled (how the SDKs hide library errors)."""
    try:
        try:
            raise handling
        except BaseException:
            raise error from None
    except BaseException as exc:
        return exc


def test_unreachable_is_told_from_a_refusal() -> None:
    import socket

    from tao_automl.util.reach import unreachable_error, unreachable_text

    requests = pytest.importorskip("requests")
    protocol_error = pytest.importorskip("urllib3.exceptions").ProtocolError
    assert unreachable_error(ConnectionRefusedError(111, "Connection refused"))
    assert unreachable_error(socket.gaierror(-2, "Name or service not known"))
    assert unreachable_error(TimeoutError("timed out"))
    no_socket = requests.ConnectionError(protocol_error("Connection aborted.", FileNotFoundError(2, "No such file")))
    assert unreachable_error(no_socket)  # a daemon socket that is not there (what docker's client raises)
    assert unreachable_error(_raised_while(no_socket, errors.PlatformError("cannot reach the engine")))
    denied = requests.ConnectionError(protocol_error("Connection aborted.", PermissionError(13, "Permission denied")))
    assert not unreachable_error(denied)  # the daemon is there; this user may not open its socket
    assert not unreachable_error(ValueError(("a", PermissionError(13, "x"), ConnectionRefusedError())))
    assert not unreachable_error(_raised_while(ValueError("bad"), errors.PlatformError("HTTP 401 unauthorized")))
    assert not unreachable_error(requests.HTTPError("401 Client Error"))
    assert unreachable_text("slurm_load_partitions: Unable to contact slurm controller (connect failure)")
    assert unreachable_text("ssh: connect to host login port 22: Connection timed out")
    assert unreachable_text('dial tcp: lookup brevapi.example: no such host')
    assert not unreachable_text("sbatch: error: Invalid partition name specified")
    assert not unreachable_text("error: invalid token")


@pytest.mark.parametrize(("argv", "package", "extra"), [
    (["plan", "tune lr for 4 trials", "--model", "builtin:demo-digits-mlp", "--llm-endpoint",
      "http://127.0.0.1:9/v1", "--llm-model", "x", "--json"], "openai", "llm"),
    (["export", "RUN", "--optuna", "J", "--json"], "optuna", "export"),
    (["mcp", "--json"], "mcp", "mcp"),
    (["run", "CONFIG", "--json"], "openai", "llm"),  # preflight's failed check, raised before anything started
    (["run", "CONFIG", "--dry-run", "--json"], "openai", "llm"),
    (["run", "CONFIG", "--json"], "wandb", "wandb"),  # an enabled tracker
    (["run", "CONFIG", "--json"], "mlflow", "mlflow"),
])
def test_a_missing_extra_is_its_own_kind_naming_the_package_and_the_pip_command(
        argv: list[str], package: str, extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Not a `settings` error on `automl_settings.algorithm` (the LLM extra missing from `plan`, which takes no
    algorithm): kind `missing_extra`, field the package, allowed and hint the pip command."""
    import sys

    monkeypatch.setitem(sys.modules, package, None)  # what a package that is not installed looks like to import
    if "RUN" in argv:
        from conftest import write_skill
        from tao_automl.runner.loop import AutoMLRunner
        from tao_automl.testing.instant import InstantSDK

        run = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank")).run(
            automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2},
            workspace_path=tmp_path / "ws", gpu_count=0)
        argv = [run["run_dir"] if a == "RUN" else str(tmp_path / "j.log") if a == "J" else a for a in argv]
        capsys.readouterr()
    if "CONFIG" in argv:
        from conftest import write_skill

        settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2}
        config = {"skill_dir": str(write_skill(tmp_path / "bank")), "workspace_path": str(tmp_path / "sweeps"),
                  "automl_settings": settings, "platform_kwargs": {"gpu_count": 0}}
        if extra == "llm":
            settings.update(algorithm="llm", llm_endpoint="http://127.0.0.1:9/v1", llm_model="x")
        else:
            config[f"{extra}_config"] = {"enabled": True}
        (tmp_path / "sweep.yaml").write_text(json.dumps(config))
        argv = [str(tmp_path / "sweep.yaml") if a == "CONFIG" else a for a in argv]
    assert main(argv) == 2
    assert not (tmp_path / "sweeps").exists()  # a run config's: nothing was started
    error = json.loads(capsys.readouterr().out)["error"]
    command = f"pip install 'tao-run-automl[{extra}]'"
    assert (error["kind"], error["field"], error["allowed"], error["hint"]) == ("missing_extra", package, command,
                                                                                command)
    assert f"install the {extra} extra" in error["message"]


def test_the_missing_llm_extra_names_every_algorithm_that_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`algorithm: hybrid` (or autoresearch) without the llm extra was told "needed for LLM search (algorithm
    llm ...)", as if another algorithm had been chosen."""
    import sys

    from tao_automl.llm.client import LLMClient, LLMConfig

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(errors.MissingExtraError, match=r"algorithms llm, hybrid and autoresearch") as caught:
        LLMClient(LLMConfig("http://127.0.0.1:9/v1", "m"))._api()
    assert caught.value.field == "openai"


def test_skill_file_documents_every_error_kind() -> None:
    """SKILL.md's table of error kinds names every kind an error class carries."""
    import inspect

    skill = (Path(errors.__file__).parent / "SKILL.md").read_text()
    kinds = {c.kind for _, c in inspect.getmembers(errors, inspect.isclass)
             if issubclass(c, errors.TaoAutoMLError) and c is not errors.TaoAutoMLError}
    missing = sorted(k for k in kinds if f"| `{k}` |" not in skill)
    assert missing == []

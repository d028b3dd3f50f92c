"""``tao-automl plan``: a sentence -> a run config. The checks on what the LLM chose (metric, budget), the
validation shared with hand-written configs, the diff, and the one-line error without an endpoint run always;
the real-model test (gemma3-270m served locally) is opt-in like the other settings-generation test."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_helpers import cli
from conftest import readme_says
from fifo_reader import FifoReader
from http_stub import CannedChat
from tao_automl.agentapi.plan import check_choices, default_diff, resolve_model, validate
from tao_automl.bank import builtin_skill_dir
from tao_automl.bank.skill import load_skill
from tao_automl.errors import ConfigError, SettingsError, SkillError
from test_bank_tools import SHARED, needs_shared

DEMO = "builtin:demo-digits-mlp"


def _skill() -> Any:
    return load_skill(builtin_skill_dir("demo-digits-mlp"))


def _config(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    return {"platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path / "runs"),
            "train_dataset_uri": "builtin:digits", "platform_kwargs": {"gpu_count": 0},
            "automl_settings": {"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 4,
                                **settings}}


def _plan_answered(answer: dict[str, Any], tmp_path: Path) -> Any:
    """``make_plan("tune the learning rate", DEMO)`` against a stub LLM that answers ``answer``."""
    pytest.importorskip("openai")
    from tao_automl.agentapi.plan import make_plan

    chat = CannedChat(answer)
    try:
        return make_plan("tune the learning rate", DEMO, llm_endpoint=chat.url, llm_model="m",
                         workspace_path=str(tmp_path / "runs"), train_dataset_uri="builtin:digits", gpu_count=0,
                         base=tmp_path)
    finally:
        chat.close()


def test_without_an_endpoint_it_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTOML_LLM_ENDPOINT", "AUTOML_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    done = cli("plan", "tune the learning rate", "--model", DEMO, "-o", str(tmp_path / "c.yaml"), "--json")
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "llm_endpoint" and "AUTOML_LLM_ENDPOINT" in error["message"] and error["hint"]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "c.yaml").exists()


def test_a_missing_endpoint_or_model_names_the_option_and_what_it_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """plan answered field "automl_settings.llm_endpoint" (a key plan does not take) with allowed null."""
    for name in ("AUTOML_LLM_ENDPOINT", "AUTOML_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for options, field in ((["--llm-model", "m"], "--llm-endpoint"),
                           (["--llm-endpoint", "http://127.0.0.1:9/v1"], "--llm-model")):
        done = cli("plan", "tune the learning rate", "--model", DEMO, "--json", *options)
        assert done.returncode == 2, done.stderr
        error = json.loads(done.stdout)["error"]
        assert error["field"] == field and field in error["allowed"], error


def test_a_model_that_does_not_exist_is_named_before_a_missing_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no endpoint configured, `plan --model nonexist` answered only "no LLM endpoint": an agent that set one
    then learnt the model was wrong (the model was checked only once an endpoint was known)."""
    for name in ("AUTOML_LLM_ENDPOINT", "AUTOML_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    done = cli("plan", "tune the learning rate", "--model", "builtin:demo-digits-mlpp", "--json")
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)["error"]
    assert (error["kind"], error["field"], error["value"]) == ("skill", "--model", "builtin:demo-digits-mlpp"), error


def test_an_endpoint_nothing_answers_on_is_unreachable_exit_3(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    from tao_automl.testing.llm_server import free_port

    done = cli("plan", "tune the learning rate", "--model", DEMO, "-o", str(tmp_path / "c.yaml"), "--json",
               "--llm-endpoint", f"http://127.0.0.1:{free_port()}/v1", "--llm-model", "m")
    assert done.returncode == 3, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "platform_unreachable" and "cannot connect" in error["message"]
    assert error["field"] == "--llm-endpoint" and "retry" in error["hint"]  # the option, as the others are named
    assert not (tmp_path / "c.yaml").exists()


def test_a_metric_the_model_does_not_report_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        check_choices({"algorithm": "random", "metric": "mAP", "automl_max_recommendations": 4}, _skill())
    assert info.value.field == "automl_settings.metric" and info.value.value == "mAP"
    assert {"val_accuracy", "val_loss", "train_loss"} <= set(info.value.allowed)
    check_choices({"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 4}, _skill())


@needs_shared
def test_plan_takes_a_metric_the_user_names_and_refuses_one_the_llm_made_up_or_misspelt() -> None:
    """`plan "... maximise val_acc" --model tao-train-image-classification` was refused ("allowed: val_loss, kpi")
    while `run` accepted the same metric: the model declares no reported_metrics, so only its monitoring metric is
    known; the user's own word is taken, an LLM's invention is not, and a slip of a known name never."""
    assert SHARED is not None
    skill = load_skill(SHARED / "skills" / "models" / "tao-train-image-classification", "train")
    budget = {"algorithm": "random", "automl_max_recommendations": 4}
    check_choices({"metric": "val_acc", **budget}, skill, said="tune it, maximise val_acc, 4 trials")
    with pytest.raises(SettingsError) as invented:
        check_choices({"metric": "accuracy", **budget}, skill, said="tune for the best accuracy")
    assert invented.value.field == "automl_settings.metric" and invented.value.allowed == ["val_loss", "kpi"]
    with pytest.raises(SettingsError) as slip:
        check_choices({"metric": "val_los", **budget}, skill, said="minimise val_los")
    assert "did you mean 'val_loss'" in str(slip.value)


@pytest.mark.parametrize("settings, need", [
    ({"algorithm": "pbt", "automl_population_size": 6, "automl_max_recommendations": 6}, 7),
    ({"algorithm": "asha", "automl_max_recommendations": 2}, 4),  # rung 0 (eta 3), then its promotion
    ({"algorithm": "hyperband", "automl_reduction_factor": 4, "automl_max_recommendations": 3}, 4),
])
def test_a_budget_below_what_the_algorithm_needs_is_refused(settings: dict[str, Any], need: int) -> None:
    with pytest.raises(SettingsError) as info:
        check_choices({"metric": "val_accuracy", **settings}, _skill())
    assert info.value.field == "automl_settings.automl_max_recommendations" and str(need) in str(info.value.allowed)
    check_choices({"metric": "val_accuracy", **settings, "automl_max_recommendations": need}, _skill())


def test_the_config_is_validated_like_a_hand_written_one(tmp_path: Path) -> None:
    validate(_config(tmp_path), tmp_path)  # passes: the first rec renders
    assert not (tmp_path / "runs").exists()  # and nothing was created
    with pytest.raises(SettingsError) as info:
        validate(_config(tmp_path, algorithm="bayes"), tmp_path)
    assert info.value.field == "automl_settings.algorithm"
    hand = tmp_path / "hand.yaml"
    hand.write_text(json.dumps(_config(tmp_path, algorithm="bayes")))
    by_cli = json.loads(cli("run", str(hand), "--dry-run", "--json").stdout)["error"]
    assert by_cli["field"] == info.value.field and by_cli["kind"] == info.value.kind


def test_the_diff_names_changed_settings_and_unsearched_params() -> None:
    names = ["a", "b", "c"]
    lines = default_diff({"automl_settings": {"algorithm": "random", "metric": "loss"},
                          "automl_hyperparameters": ["a"]}, names)
    assert any(line.startswith("automl_settings.algorithm: 'bayesian' -> 'random'") for line in lines)
    assert not any("metric" in line for line in lines)  # same as the default
    assert any("1 of 3" in line and "b, c" in line for line in lines)


def test_model_names_resolve_or_are_refused() -> None:
    assert resolve_model("demo-digits-mlp") == DEMO and resolve_model(DEMO) == DEMO
    with pytest.raises(SkillError) as info:
        resolve_model("no-such-model")
    assert info.value.field == "model" and "demo-digits-mlp" in info.value.allowed


def test_an_existing_output_is_not_overwritten_without_force(tmp_path: Path) -> None:
    from tao_automl.cli.agent_commands import cmd_plan
    from tao_automl.cli.main import build_parser

    out = tmp_path / "c.yaml"
    out.write_text("keep")
    with pytest.raises(ConfigError) as info:
        cmd_plan(build_parser().parse_args(["plan", "x", "--model", DEMO, "-o", str(out)]))
    assert info.value.field == "-o" and out.read_text() == "keep"  # the option as typed, not its dest


def test_an_output_in_a_missing_folder_is_refused_before_the_llm_is_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan ... -o missing/c.yaml` asked the LLM, then wrote `missing/.c.yaml.tmp`: a FileNotFoundError traceback
    (exit 1) after the whole answer. The -o file is checked first, as `export -o` checks it: exit 2 naming -o."""
    pytest.importorskip("openai")
    from tao_automl.cli.main import main

    chat = CannedChat({"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 4,
                       "reasoning": "r"})
    target = tmp_path / "missing" / "c.yaml"
    try:
        code = main(["plan", "tune the learning rate", "--model", DEMO, "--llm-endpoint", chat.url, "--llm-model",
                     "m", "--workspace", str(tmp_path / "runs"), "--train-dataset", "builtin:digits", "-o",
                     str(target), "--json"])
        asked = chat.asked
    finally:
        chat.close()
    error = json.loads(capsys.readouterr().out)["error"]
    assert (code, error["field"], error["value"]) == (2, "-o", str(target)) and "does not exist" in error["message"]
    assert asked == 0 and not target.parent.exists()


def test_a_plan_to_a_pipe_or_device_is_written_into_it_not_put_in_its_place(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan ... -o /dev/null --force` renamed its scratch file onto the path: as root a regular file took
    ``/dev/null``'s place. A FIFO stands in for the device."""
    pytest.importorskip("openai")
    from tao_automl.cli.main import main

    chat = CannedChat({"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 4,
                       "reasoning": "r"})
    pipe = FifoReader(tmp_path / "c.yaml")
    try:
        code = main(["plan", "tune the learning rate", "--model", DEMO, "--llm-endpoint", chat.url, "--llm-model",
                     "m", "--workspace", str(tmp_path / "runs"), "--train-dataset", "builtin:digits", "-o",
                     str(pipe.path), "--force", "--json"])
    finally:
        chat.close()
    assert code == 0, capsys.readouterr()
    assert pipe.unchanged(), "the pipe was replaced by a file"
    written = pipe.received()
    assert written is not None and yaml.safe_load(written)["automl_settings"]["algorithm"] == "random"


@pytest.mark.parametrize(("extra", "field", "value"), [
    (["--gpus", "-1"], "--gpus", -1), (["--platform", "nosuch"], "--platform", "nosuch"),
    (["--model", "nosuch"], "--model", "nosuch"), (["--metric", "nosuch"], "--metric", "nosuch"),
    (["--workspace", "AFILE"], "--workspace", "AFILE"), (["--train-dataset", "MISSING"], "--train-dataset", "MISSING"),
    ([], "automl_settings.metric", "f1"),  # the LLM's own choice: not an option the user typed
])
def test_an_error_about_what_an_option_set_names_the_option(extra: list[str], field: str, value: Any, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --gpus -1` failed naming field platform_kwargs.gpu_count, `--model nosuch` field "model", `--platform
    nosuch` field "platform": config keys the user never typed. The field is the option, the message names it."""
    pytest.importorskip("openai")
    from tao_automl.cli.main import main

    (tmp_path / "AFILE").write_text("x")
    given = {"AFILE": str(tmp_path / "AFILE"), "MISSING": str(tmp_path / "missing")}
    extra = [given.get(a, a) for a in extra]
    metric = "nosuch" if "--metric" in extra else "val_accuracy" if extra else "f1"
    chat = CannedChat({"algorithm": "random", "metric": metric, "automl_max_recommendations": 4, "reasoning": "r"})
    argv = ["plan", "tune the learning rate", "--model", DEMO, "--llm-endpoint", chat.url, "--llm-model", "m",
            "--workspace", str(tmp_path / "runs"), "--train-dataset", "builtin:digits", *extra]
    try:
        code = main([*argv, "--json"])
        error = json.loads(capsys.readouterr().out)["error"]
        assert main(argv) == 2
        line = capsys.readouterr().err
    finally:
        chat.close()
    assert (code, error["field"], error["value"]) == (2, field, given.get(value, value)), error
    assert field in error["message"] and field in line


@pytest.mark.parametrize(("option", "given", "allowed"), [
    ("--gpus", "-1", "an integer from 0 to 1024"), ("--gpus", "1025", "an integer from 0 to 1024"),
    ("--platform", "slrum", ["local", "slurm", "lepton", "brev", "docker", "kubernetes"])])
def test_a_plain_option_value_is_refused_before_the_llm_is_asked(option: str, given: str, allowed: Any,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --gpus -1` (or `--platform slrum`) with an LLM endpoint that does not answer said the endpoint cannot be
    reached (exit 3): the option was checked only in the config made from the LLM's answer. Such plain values are
    checked before anything reaches out now."""
    from tao_automl.cli.main import main

    code = main(["plan", "tune the learning rate", "--model", DEMO, "--llm-endpoint", "http://127.0.0.1:9/v1",
                 "--llm-model", "m", option, given, "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert (code, error["kind"], error["field"], error["allowed"]) == (2, "usage", option, allowed), error
    assert error["value"] == (int(given) if option == "--gpus" else given), error
    assert "llm" not in error["message"].lower() and (option == "--gpus" or "did you mean 'slurm'" in error["message"])


@pytest.mark.parametrize(("option", "given", "kind"), [
    ("--metric", "nosuch", "settings"), ("--metric", "val_acc", "settings"), ("--workspace", "AFILE", "workspace"),
    ("--train-dataset", "MISSING", "preflight"), ("--eval-dataset", "MISSING", "preflight")])
def test_an_option_checkable_without_the_llms_answer_is_refused_before_the_llm_is_asked(
        option: str, given: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --metric nosuch` (or `--workspace` a file, `--train-dataset` a missing path) with an LLM endpoint that
    does not answer said the endpoint cannot be reached (exit 3): these were checked only once the LLM had answered
    (42 s with the local model). They need no answer, so they are refused first, as after an answer."""
    from tao_automl.cli.main import main

    (tmp_path / "AFILE").write_text("x")
    value = {"AFILE": str(tmp_path / "AFILE"), "MISSING": str(tmp_path / "missing")}.get(given, given)
    code = main(["plan", "tune the learning rate", "--model", DEMO, "--llm-endpoint", "http://127.0.0.1:9/v1",
                 "--llm-model", "m", "--workspace", str(tmp_path / "runs"), option, value, "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert (code, error["kind"], error["field"], error["value"]) == (2, kind, option, value), error
    assert error["message"].startswith(f"{option} {value}: ") and "endpoint" not in error["message"], error
    assert "preflight CONFIG" not in error["hint"], error  # there is no config yet: the option is what to fix
    if option == "--metric":
        assert error["allowed"] == ["val_accuracy", "val_loss", "train_loss", "kpi"], error
        assert ("did you mean 'val_accuracy'" in error["message"]) == (given == "val_acc"), error


def test_a_relative_dataset_is_checked_where_the_written_config_will_read_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The early check reads a relative --train-dataset as the written config does: against the -o file's folder,
    not the current one."""
    from tao_automl.cli.main import main

    for folder in ("out", "here"):
        (tmp_path / folder).mkdir()
    (tmp_path / "here" / "data").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    argv = ["plan", "tune the learning rate", "--model", DEMO, "--llm-endpoint", "http://127.0.0.1:9/v1",
            "--llm-model", "m", "--workspace", "runs", "--train-dataset", "data", "--json"]
    codes = []
    for output in ("c.yaml", "../out/c.yaml"):
        codes.append(main([*argv, "-o", output]))
        codes.append(json.loads(capsys.readouterr().out)["error"]["value"])
    # beside the current folder's data/ it goes on to the (unanswering) endpoint; beside out/ there is no data/
    assert codes == [3, "http://127.0.0.1:9/v1", 2, str(tmp_path / "out" / "data")], codes


def test_a_skill_bank_that_is_not_there_is_refused_whatever_the_model(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`plan ... --model builtin:demo-digits-mlp --skill-bank /no/such/bank` wrote a config, exit 0: the bank is read
    only for a bare model name, so a typo in it went unnoticed (`models --skill-bank` refuses the same path)."""
    from tao_automl.cli.main import main

    missing = str(tmp_path / "no-bank")
    for model in (DEMO, "demo-digits-mlp"):
        code = main(["plan", "tune the learning rate", "--model", model, "--skill-bank", missing, "--llm-endpoint",
                     "http://127.0.0.1:9/v1", "--llm-model", "m", "--json"])
        error = json.loads(capsys.readouterr().out)["error"]
        assert (code, error["field"], error["value"]) == (2, "--skill-bank", missing), error


def test_plan_json_names_the_written_config_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`plan ... -o c.yaml --json` printed "written": "c.yaml", relative to the caller's folder (export and report
    print absolute paths): an agent that reads it from another folder could not open the config."""
    pytest.importorskip("openai")
    from tao_automl.cli.main import main

    monkeypatch.chdir(tmp_path)
    chat = CannedChat({"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 4,
                       "reasoning": "r"})
    try:
        code = main(["plan", "tune the learning rate", "--model", DEMO, "--llm-endpoint", chat.url, "--llm-model",
                     "m", "--train-dataset", "builtin:digits", "-o", "c.yaml", "--json"])
    finally:
        chat.close()
    written = json.loads(capsys.readouterr().out)["written"]
    assert code == 0 and written == str(tmp_path / "c.yaml") and Path(written).is_file()


def test_force_without_an_output_file_is_a_usage_error_before_the_llm_is_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan ... --force` without -o asked the LLM and printed the config, the --force it took doing nothing: an
    option given where it would be ignored is refused, as `run --recs` without --dry-run is."""
    pytest.importorskip("openai")
    from tao_automl.cli.main import main

    chat = CannedChat({"algorithm": "random", "metric": "val_accuracy", "direction": "maximize",
                        "automl_max_recommendations": 4, "automl_max_concurrent": 1,
                        "automl_hyperparameters": ["train.optim.lr"], "reasoning": "lr"})
    argv = ["plan", "tune the learning rate for 4 trials", "--model", DEMO, "--llm-endpoint", chat.url,
            "--llm-model", "m", "--workspace", str(tmp_path / "runs"), "--gpus", "0", "--json"]
    try:
        code = main([*argv, "--force"])
        error = json.loads(capsys.readouterr().out)["error"]
        asked = chat.asked
        assert main([*argv, "-o", str(tmp_path / "c.yaml"), "--force"]) == 0  # with -o it is taken
    finally:
        chat.close()
    assert (code, error["kind"], error["field"]) == (2, "usage", "--force") and "-o" in error["message"]
    assert asked == 0 and (tmp_path / "c.yaml").is_file()


@pytest.mark.llm
@pytest.mark.timeout(1800)
@pytest.mark.skipif(os.environ.get("TAO_AUTOML_LLM_TESTS") != "full",
                    reason="set TAO_AUTOML_LLM_TESTS=full: a 270M model's settings answer can run out of tokens")
def test_plan_with_a_real_model_writes_a_config_that_dry_runs(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xllamacpp")
    monkeypatch.setenv("AUTOML_LLM_API_KEY", "k")
    from tao_automl.testing.llm_server import serve

    repo = Path(__file__).resolve().parents[1]
    with serve(repo / "ci" / "llm_serve.py", api_key="k", alias="gemma3-270m", timeout_s=300) as url:
        out = tmp_path / "config.yaml"
        done = cli("plan", "tune the learning rate of the digits MLP with 6 random trials, maximise val_accuracy",
                   "--model", DEMO, "-o", str(out), "--gpus", "0", "--train-dataset", "builtin:digits",
                   "--llm-endpoint", url, "--llm-model", "gemma3-270m", "--json", timeout=1700)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["written"] == str(out)
    assert cli("run", str(out), "--dry-run", "--recs", "1").returncode == 0


@pytest.mark.parametrize(("direction", "kept"), [("minimize", False), ("maximize", True)])
def test_a_direction_against_the_metric_is_dropped_and_said(tmp_path: Path, direction: str, kept: bool) -> None:
    """gemma3-270m answered `direction: minimize` for val_accuracy (the demo's KPI, kpi_direction maximize): the
    written config would have ranked the worst rec best. The LLM's guess is dropped (the run then takes the KPI's
    direction) and the repair says why; a direction that agrees is kept."""
    plan = _plan_answered({"algorithm": "random", "metric": "val_accuracy", "direction": direction,
                           "automl_max_recommendations": 4, "automl_max_concurrent": 1,
                           "automl_hyperparameters": ["train.optim.lr"], "reasoning": "lr matters most"}, tmp_path)
    settings = plan.config["automl_settings"]
    assert settings["metric"] == "val_accuracy"
    if kept:
        assert settings["direction"] == "maximize" and not plan.repairs
    else:
        assert "direction" not in settings
        assert plan.repairs == ["direction 'minimize' dropped: demo-digits-mlp's kpi_direction for it is maximize"]


def test_a_budget_the_goal_names_wins_over_the_llms(tmp_path: Path) -> None:
    """"tune the learning rate of the digits MLP for 4 trials": gemma3-270m answered 1 rec, and the config said 1.
    The number the sentence names is used and the repair says so; a sentence without one keeps the LLM's."""
    pytest.importorskip("openai")
    from tao_automl.agentapi.goal import budget_said
    from tao_automl.agentapi.plan import make_plan

    assert budget_said("tune lr for 4 trials") == (4, "4 trials")
    assert budget_said("run 20 experiments, 2 at a time") == (20, "20 experiments")
    assert budget_said("tune the learning rate") is None and budget_said("use 2 GPUs") is None
    assert budget_said("3 jobs at a time") is None  # concurrency, not the budget
    assert budget_said("tune the digits MLP, five trials") == (5, "five trials")  # a number in words
    assert budget_said("Twenty experiments") == (20, "Twenty experiments") and budget_said("zero trials") is None
    chat = CannedChat({"algorithm": "random", "metric": "val_accuracy", "direction": "maximize",
                        "automl_max_recommendations": 1, "automl_max_concurrent": 1,
                        "automl_hyperparameters": ["train.optim.lr"], "reasoning": "lr"})
    try:
        plans = [make_plan(goal, DEMO, llm_endpoint=chat.url, llm_model="m", workspace_path=str(tmp_path / "runs"),
                           train_dataset_uri="builtin:digits", gpu_count=0, base=tmp_path)
                 for goal in ("tune the learning rate of the digits MLP for 4 trials", "tune the learning rate")]
    finally:
        chat.close()
    assert plans[0].config["automl_settings"]["automl_max_recommendations"] == 4
    assert plans[0].repairs == ["automl_max_recommendations 1 -> 4: the goal says '4 trials'"]
    assert plans[1].config["automl_settings"]["automl_max_recommendations"] == 1 and not plans[1].repairs


@pytest.mark.parametrize(("goal", "said"), [
    ("tune the learning rate with twenty-five trials", (25, "twenty-five trials")),
    ("tune the learning rate with twenty five trials", (25, "twenty five trials")),
    ("run two hundred and fifty experiments", (250, "two hundred and fifty experiments")),
    ("a hundred runs", (100, "hundred runs")),
])
def test_a_budget_in_several_number_words_is_read_whole(goal: str, said: tuple[int, str]) -> None:
    """"twenty-five trials" was read as its last word, 5 trials, and plan wrote 5 over the LLM's answer, listed as
    what the goal said."""
    from tao_automl.agentapi.goal import budget_said

    assert budget_said(goal) == said


def test_trials_at_a_time_is_the_concurrency_not_the_budget() -> None:
    """"2 trials at a time, 30 trials in total": the first phrase was taken for the budget too, and plan wrote 2
    recs over the LLM's answer, listed as what the goal said."""
    from tao_automl.agentapi.goal import budget_said, concurrency_said

    goal = "tune the learning rate, 2 trials at a time, 30 trials in total"
    assert budget_said(goal) == (30, "30 trials") and concurrency_said(goal) == (2, "2 trials at a time")
    assert budget_said("4 runs in parallel") is None and budget_said("two trials at once") is None


@pytest.mark.parametrize(("answer", "searched"), [("train.optim.lr", ["train.optim.lr"]),
                                                   ("train.optim.lr, model.activation",
                                                    ["train.optim.lr", "model.activation"])])
def test_an_llm_answer_naming_the_params_as_a_string_searches_those_params(tmp_path: Path, answer: str,
                                                                           searched: list[str]) -> None:
    """An LLM that answered automl_hyperparameters as the string "train.optim.lr" got every param searched: the string
    was read character by character ("dropped unknown params ['t', 'r', ...]; no params chosen; using all")."""
    plan = _plan_answered({"algorithm": "random", "metric": "val_accuracy", "direction": "maximize",
                           "automl_max_recommendations": 4, "automl_max_concurrent": 1,
                           "automl_hyperparameters": answer, "reasoning": "lr"}, tmp_path)
    assert plan.config["automl_hyperparameters"] == searched and not plan.repairs, plan.repairs


def test_an_algorithm_the_generator_does_not_offer_is_replaced_by_the_one_the_repair_names() -> None:
    """NLConfigGenerator(algorithms=["tpe", "random"]) put 'tpe' in place of an unknown algorithm and listed the
    repair as "-> 'bayesian'", an algorithm it had not chosen."""
    from tao_automl.agentapi.nl_config import NLConfigGenerator
    from tao_automl.llm.client import LLMReply

    class Answer:  # the client's ask_json, answering an algorithm outside the list
        def ask_json(self, *_args: Any, **_kwargs: Any) -> LLMReply:
            return LLMReply(text="", usage={}, data={
                "algorithm": "nope", "metric": "val_loss", "automl_max_recommendations": 5, "automl_max_concurrent": 1,
                "automl_hyperparameters": ["lr"]})

    for offered, chosen in ((["tpe", "random"], "tpe"), (["random", "bayesian"], "bayesian")):
        generated = NLConfigGenerator(Answer(), algorithms=offered).generate("tune lr", ["lr"])  # type: ignore[arg-type]
        assert generated.settings["algorithm"] == chosen
        assert generated.repairs == [f"algorithm 'nope' -> {chosen!r}"]


def test_a_budget_or_concurrency_put_in_range_is_listed_as_a_repair(tmp_path: Path) -> None:
    """An LLM answer of 500 recs became 200 and "lots" at once became 1, and plan listed no repair: the config
    showed numbers the LLM had not chosen as if it had."""
    plan = _plan_answered({"algorithm": "random", "metric": "val_accuracy", "direction": "maximize",
                           "automl_max_recommendations": 500, "automl_max_concurrent": "lots",
                           "automl_hyperparameters": ["train.optim.lr"], "reasoning": "lr"}, tmp_path)
    settings = plan.config["automl_settings"]
    assert (settings["automl_max_recommendations"], settings["automl_max_concurrent"]) == (200, 1)
    assert plan.repairs == ["automl_max_recommendations 500 -> 200 (allowed: an integer 1..200)",
                            "automl_max_concurrent 'lots' -> 1 (allowed: an integer 1..64)"]


def test_metric_said_finds_the_one_metric_the_goal_names_and_the_verb_before_it() -> None:
    from tao_automl.agentapi.goal import metric_said

    known = ["val_accuracy", "val_loss", "train_loss", "kpi"]
    assert metric_said("minimize val_loss of the digits MLP", known) == ("val_loss", "minimize")
    assert metric_said("Lower the Val/Loss.", known) == ("val_loss", "minimize")
    assert metric_said("maximise val_accuracy", known) == ("val_accuracy", "maximize")
    assert metric_said("tune for the best val_loss", known) == ("val_loss", None)
    assert metric_said("tune the learning rate", known) is None
    assert metric_said("val_loss down, val_accuracy up", known) is None  # several: the LLM's pick is checked as is
    assert metric_said("reduce the loss", known) is None  # a plain word, not a metric name
    # spaces for the underscores (a README audit: "minimise the val loss ..." was not repaired)
    assert metric_said("minimise the val loss of the digits MLP", known) == ("val_loss", "minimize")
    assert metric_said("maximise val accuracy", known) == ("val_accuracy", "maximize")


def _planned(tmp_path: Path, goal: str, **answer: Any) -> Any:
    """``make_plan(goal)`` for the demo against an endpoint answering the config ``answer`` (random, val_accuracy
    maximised, 4 recs, 1 at a time, lr, unless given)."""
    from tao_automl.agentapi.plan import make_plan

    chat = CannedChat({"algorithm": "random", "metric": "val_accuracy", "direction": "maximize",
                        "automl_max_recommendations": 4, "automl_max_concurrent": 1,
                        "automl_hyperparameters": ["train.optim.lr"], "reasoning": "lr", **answer})
    try:
        return make_plan(goal, DEMO, llm_endpoint=chat.url, llm_model="m", workspace_path=str(tmp_path / "runs"),
                         train_dataset_uri="builtin:digits", gpu_count=0, base=tmp_path)
    finally:
        chat.close()


@pytest.mark.parametrize(("goal", "metric", "direction", "repairs"), [
    ("minimize val_loss of the digits MLP", "val_loss", "minimize",
     ["metric 'val_accuracy' -> 'val_loss': the goal names 'val_loss'",
      "direction 'maximize' -> 'minimize': the goal says to minimize val_loss"]),
    ("tune for the best val_loss", "val_loss", None,
     ["metric 'val_accuracy' -> 'val_loss': the goal names 'val_loss'",
      "direction 'maximize' dropped: it was chosen for the LLM's metric"]),
    ("maximize val_accuracy", "val_accuracy", "maximize", []),
    ("tune the learning rate", "val_accuracy", "maximize", []),
])
def test_the_metric_the_goal_names_wins_over_the_llms(tmp_path: Path, goal: str, metric: str,
                                                       direction: str | None, repairs: list[str]) -> None:
    """"minimize val_loss ..." came back from gemma3-270m as `metric: val_accuracy, direction: maximize`, and the
    plan listed only the trial count as repaired: a config tuning something the user did not ask for. The metric
    the sentence names (one the model reports) wins, with the direction its verb says, and each change is listed."""
    pytest.importorskip("openai")
    plan = _planned(tmp_path, goal)
    settings = plan.config["automl_settings"]
    assert (settings["metric"], settings.get("direction")) == (metric, direction)
    assert plan.repairs == repairs


def test_a_direction_the_sentence_itself_says_against_the_metric_is_kept_with_the_note(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """README: `plan` drops a direction against the metric from the LLM's answer, but "a direction the sentence itself
    says, "maximize val_loss", is kept and gets the note" (the run will rank the worst recs best)."""
    pytest.importorskip("openai")
    (goal,) = readme_says(r"a direction the sentence itself says, \"(maximize val_loss)\", is kept and gets the note")
    with caplog.at_level("WARNING"):
        plan = _planned(tmp_path, goal)
    settings = plan.config["automl_settings"]
    assert (settings["metric"], settings["direction"]) == ("val_loss", "maximize")
    assert not any("direction" in repair for repair in plan.repairs), plan.repairs
    assert "automl_settings.direction: metric 'val_loss' is maximized" in caplog.text
    assert "the run will rank the highest val_loss best" in caplog.text


@pytest.mark.parametrize(("goal", "outcome"), [
    ("maximize f1_score over 5 trials", "f1_score"),  # not reported by the demo: refused, not swapped silently
    ("minimize loss in 4 trials", "val_loss or train_loss"),  # which loss: refused, naming both
    ("maximize accuracy", ("val_accuracy", "maximize")),  # the one metric it can mean
    ("minimize the loss", "val_loss or train_loss"),
])
def test_a_metric_word_the_goal_asks_for_is_not_swapped_for_another(tmp_path: Path, goal: str,
                                                                    outcome: Any) -> None:
    """An LLM audit: "maximize f1_score over 5 trials" wrote `metric: val_accuracy` listing only the trial count as
    repaired, and "minimize loss in 4 trials" gave val_accuracy maximised with the repair "direction 'minimize'
    dropped". A metric word after a direction verb is the user's: the metric it means, or a refusal naming what it
    could mean."""
    pytest.importorskip("openai")
    if isinstance(outcome, tuple):
        settings = _planned(tmp_path, goal).config["automl_settings"]
        assert (settings["metric"], settings["direction"]) == outcome
        return
    with pytest.raises(SettingsError) as caught:
        _planned(tmp_path, goal)
    assert outcome in str(caught.value) and caught.value.allowed, caught.value


def test_the_algorithm_and_concurrency_the_goal_names_win_over_the_llms(tmp_path: Path) -> None:
    """An LLM audit: "use random search, 4 trials, run 4 at a time" came back as tpe with 1 at a time and no repair
    listed (the real model answered `auto` for every named algorithm). What the sentence names wins, listed."""
    pytest.importorskip("openai")
    from tao_automl.agentapi.goal import algorithm_said, concurrency_said

    assert algorithm_said("tune with tpe") == ("tpe", "tpe") and algorithm_said("random seed 3") is None
    assert algorithm_said("tpe or bohb") is None and algorithm_said("hyperband_es please")[0] == "hyperband_es"
    assert concurrency_said("run 2 concurrently") == (2, "2 concurrently") and concurrency_said("4 trials") is None
    plan = _planned(tmp_path, "use random search, 4 trials, run 4 at a time", algorithm="tpe")
    settings = plan.config["automl_settings"]
    assert (settings["algorithm"], settings["automl_max_concurrent"]) == ("random", 4)
    assert plan.repairs == ["algorithm 'tpe' -> 'random': the goal says 'random search'",
                            "automl_max_concurrent 1 -> 4: the goal says '4 at a time'"]


def test_a_plan_for_an_llm_algorithm_names_the_endpoint_and_model_its_runs_ask(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An LLM audit: an answer with `algorithm: llm` was refused "automl_settings.llm_endpoint: not set" although
    --llm-endpoint was given: the config never carried it. It carries the endpoint and model (never the key). (The
    validating dry run is replaced: this canned endpoint answers a config, not an LLM brain's proposal.)"""
    pytest.importorskip("openai")
    from tao_automl.agentapi import plan as plan_module

    validated: list[dict[str, Any]] = []
    monkeypatch.setattr(plan_module, "validate", lambda config, base: validated.append(dict(config)))
    plan = _planned(tmp_path, "tune lr with the llm algorithm", algorithm="llm", automl_max_recommendations=3)
    settings = plan.config["automl_settings"]
    assert settings["algorithm"] == "llm" and settings["llm_endpoint"].startswith("http://127.0.0.1:")
    assert settings["llm_model"] == "m"
    assert "llm_api_key" not in settings and validated == [plan.config]


@needs_shared
def test_plan_writes_a_config_for_a_model_that_needs_eval_data_and_takes_the_users_metric(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan` had no --eval-dataset nor dataset_keys, and its validation dry-runs the config: classification failed
    ("required input 'dataset.val_dataset.images_dir' is empty"), and its metric val_acc was refused by plan while
    run took it."""
    pytest.importorskip("openai")
    from tao_automl.cli.main import main

    assert SHARED is not None
    train, val = tmp_path / "data" / "train", tmp_path / "data" / "val"
    (train / "images_train").mkdir(parents=True)
    (val / "images_val").mkdir(parents=True)
    (train / "classes.txt").write_text("a\nb\n")
    chat = CannedChat({"algorithm": "random", "metric": "val_acc", "direction": "maximize",
                        "automl_max_recommendations": 4, "automl_max_concurrent": 1,
                        "automl_hyperparameters": ["train.optim.lr"], "reasoning": "lr"})
    try:
        code = main(["plan", "tune the learning rate, maximise val_acc, 4 trials", "--model",
                     str(SHARED / "skills" / "models" / "tao-train-image-classification"),
                     "--llm-endpoint", chat.url, "--llm-model", "m", "--workspace", str(tmp_path / "runs"),
                     "--train-dataset", str(train), "--eval-dataset", str(val), "--gpus", "0",
                     "--dataset-key", f"dataset.classes_file={train / 'classes.txt'}", "--json"])
    finally:
        chat.close()
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    config = out["config"]
    assert config["eval_dataset_uri"] == str(val) and config["automl_settings"]["metric"] == "val_acc"
    assert config["dataset_keys"] == {"dataset.classes_file": str(train / "classes.txt")}
    assert main(["plan", "x", "--model", "builtin:demo-digits-mlp", "--dataset-key", "nokey"]) == 2


def test_plan_checks_the_model_like_a_run_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plan never asked /v1/models: a model name the endpoint does not serve went on (a wrong key was an
    llm_failure, exit 1, "retry"); it is the run's llm_endpoint error now, exit 2, with the close name."""
    from tao_automl.cli.main import main

    chat = CannedChat({"automl_settings": {}})
    try:
        code = main(["plan", "tune the learning rate", "--model", DEMO, "-o", str(tmp_path / "c.yaml"), "--json",
                     "--llm-endpoint", chat.url, "--llm-model", "mm"])
    finally:
        chat.close()
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 2 and error["kind"] == "llm_endpoint" and "does not serve model 'mm'" in error["message"]
    assert not (tmp_path / "c.yaml").exists()


def test_settings_the_goal_does_not_speak_to_are_listed_as_the_llms_choice(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`plan "make it good"` wrote a 1-rec config (the LLM's guess of metric, trial count and algorithm) and showed
    it as if the sentence had asked for it. What the goal does not speak to is listed (JSON `unstated`; the text
    says it is the LLM's choice); what it names is not."""
    from tao_automl.cli.main import main

    vague = _planned(tmp_path, "make it good", automl_max_recommendations=1)
    assert vague.unstated == ["metric 'val_accuracy'", "automl_max_recommendations 1", "algorithm 'random'"]
    said = _planned(tmp_path, "maximize val_accuracy with random search for 6 trials")
    assert said.unstated == []
    partly = _planned(tmp_path, "maximize val_accuracy")
    assert partly.unstated == ["automl_max_recommendations 4", "algorithm 'random'"]
    chat = CannedChat({"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 1,
                       "reasoning": "r"})
    try:
        code = main(["plan", "make it good", "--model", DEMO, "--llm-endpoint", chat.url, "--llm-model", "m",
                     "--train-dataset", "builtin:digits", "--workspace", str(tmp_path / "runs")])
    finally:
        chat.close()
    assert code == 0
    assert "not in the goal (the LLM's choice" in capsys.readouterr().out

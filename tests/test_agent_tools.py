"""The agent tools (:mod:`tao_automl.agentapi.tools`) called in process: what each result tells an agent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import readme_says
from store_helpers import runner_store
from tao_automl.agentapi.tools import TOOLS, call_tool, describe_search_space
from tao_automl.errors import SettingsError

DEMO = "builtin:demo-digits-mlp"


def _preflight_error(tmp_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    config = {"platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path / "runs"),
              "train_dataset_uri": "builtin:digits", "automl_settings": settings,
              "platform_kwargs": {"gpu_count": 0}}
    result, is_error = call_tool("preflight", {"config": config})
    assert is_error
    error: dict[str, Any] = result["error"]
    return error


def test_the_readme_names_every_tool_the_mcp_server_serves() -> None:
    """README's `tao-automl mcp` row lists the agent tools: the list is the tools served, no more, no fewer."""
    listed, = readme_says(r"\| `tao-automl mcp` \| serve the agent tools over MCP \(stdio, extra `mcp`\): ([^;|]+);")
    assert re.findall(r"`(\w+)`", listed) == list(TOOLS)


def test_every_tool_argument_says_what_it_takes() -> None:
    """tools/list gave describe_search_space's action, automl_hyperparameters, custom_param_ranges and
    automl_settings (and dry_run's recs, sweep_status's paging, stop_sweep's cancel_jobs) as a bare type: an agent had
    to guess that a range is {valid_min, valid_max, ...} and learn it from an error. Each argument now has a
    description."""
    bare = [f"{tool.name}.{name}" for tool in TOOLS.values()
            for name, prop in tool.schema["properties"].items() if not prop.get("description")]
    assert bare == []
    ranges = TOOLS["describe_search_space"].schema["properties"]["custom_param_ranges"]["description"]
    assert "valid_min" in ranges and "valid_options" in ranges


def test_every_default_a_tool_states_is_the_one_it_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """tools/list is what an agent reads: each argument's schema `default`, and a "(default ...)" in its description,
    is what the tool does when the argument is left out (the function's own default; for sweep_status's `top`, None,
    the status view's size; a default in words is checked by calling the tool without the argument)."""
    import inspect

    from tao_automl.agentapi.tools import list_models
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.status import DEFAULT_TOP

    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    builtin = list_models()
    assert [r["skill_dir"] for r in builtin["runnable"]] == ["builtin:demo-digits-mlp"]
    default_space = [p["name"] for p in builtin["runnable"][0]["params"]]
    in_words = {("list_models", "skill_bank"): "$TAO_SKILL_BANK_PATH, else the built-in models",
                ("describe_search_space", "automl_hyperparameters"): "the model's default search space, as "
                                                                     "list_models shows it"}
    assert [p["name"] for p in describe_search_space(DEMO)["search_space"]] == default_space
    assert Path(builtin["bank"]) == Path(builtin_skill_dir("demo-digits-mlp")).parents[1]
    stated = 0
    for tool in TOOLS.values():
        used = {n: p.default for n, p in inspect.signature(tool.fn).parameters.items()}
        for name, prop in tool.schema["properties"].items():
            if "default" in prop:
                stated += 1
                assert used[name] == prop["default"], (tool.name, name, prop["default"], used[name])
            for said in re.findall(r"\(default:? ([^)]*)\)", prop.get("description", "")):
                stated += 1
                if (tool.name, name) in in_words:
                    assert said == in_words[tool.name, name] and used[name] is None, (tool.name, name, said)
                elif (tool.name, name) == ("sweep_status", "top"):
                    assert used[name] is None and said == str(DEFAULT_TOP), said
                elif (tool.name, name) == ("sweep_status", "limit"):
                    assert used[name] is None and said == "all", said
                else:
                    assert str(used[name]) == said, (tool.name, name, said, used[name])
    assert stated >= 8


def test_describe_search_space_checks_the_metric_as_preflight_does(tmp_path: Path) -> None:
    """The demo network does not report the default metric ``loss``: the tool used to show it as the metric the run
    optimises, with no word that preflight refuses it; a metric it does not report was shown as if fine."""
    default = describe_search_space(DEMO)
    assert default["metric"] == "loss" and "val_accuracy" in default["reported_metrics"]
    (note,) = [n for n in default["notes"] if "automl_settings.metric" in n]
    assert "'loss'" in note and "preflight refuses it" in note and "val_accuracy, val_loss" in note
    assert _preflight_error(tmp_path, {"algorithm": "random"})["field"] == "automl_settings.metric"  # as the note says

    kpi = describe_search_space(DEMO, automl_settings={"metric": "kpi"})
    assert (kpi["metric"], kpi["direction"]) == ("val_accuracy", "maximize")
    assert not [n for n in kpi["notes"] if "metric" in n]

    with pytest.raises(SettingsError) as caught:
        describe_search_space(DEMO, automl_settings={"metric": "val_los"})
    error = caught.value.to_json()
    expected = _preflight_error(tmp_path, {"algorithm": "random", "metric": "val_los"})
    assert {k: error[k] for k in ("kind", "field", "value", "allowed")} == {
        k: expected[k] for k in ("kind", "field", "value", "allowed")}
    assert "did you mean 'val_loss'" in error["message"]


def test_describe_search_space_carries_the_run_plans_notes(tmp_path: Path) -> None:
    """A range of one value is never varied: the run plan notes it (as does preflight); the tool said nothing."""
    from tao_automl.cli.run_config import config_from_mapping
    from tao_automl.runner.plan import RunPlan

    ranges = {"train.optim.lr": {"valid_min": 0.01, "valid_max": 0.01}}
    settings = {"metric": "val_loss", "algorithm": "random", "automl_reduction_factor": 2}
    out = describe_search_space(DEMO, custom_param_ranges=ranges, automl_settings=settings)
    (fixed,) = [n for n in out["notes"] if "range of one value" in n]
    assert "train.optim.lr = 0.01" in fixed
    plan = RunPlan.build(config_from_mapping({
        "platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path), "train_dataset_uri": "builtin:digits",
        "automl_settings": settings, "custom_param_ranges": ranges}, tmp_path))
    assert out["notes"] == list(plan.notes)  # the plan's notes, all of them (here also a setting random ignores)


@pytest.mark.parametrize("recs", [0, -1, 1.5, "3", 51])
def test_a_bad_dry_run_recs_names_the_argument_its_value_and_what_is_allowed(recs: Any, tmp_path: Path) -> None:
    config = {"platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path / "runs"),
              "train_dataset_uri": "builtin:digits", "automl_settings": {"metric": "val_accuracy"}}
    result, is_error = call_tool("dry_run", {"config": config, "recs": recs})
    error = result["error"]
    assert is_error and (error["field"], error["value"]) == ("recs", recs)
    assert error["allowed"]["minimum"] == 1 and error["allowed"]["maximum"] == 50


def test_the_dry_run_function_called_in_process_names_its_recs_argument(tmp_path: Path) -> None:
    """Past the schema (a direct call), the count check named the CLI's --recs and carried no field."""
    from tao_automl.agentapi.tools import dry_run
    from tao_automl.errors import UserInputError

    config = {"platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path / "runs"),
              "train_dataset_uri": "builtin:digits", "automl_settings": {"metric": "val_accuracy"}}
    with pytest.raises(UserInputError) as caught:
        dry_run(config, recs=0)
    assert (caught.value.field, caught.value.value, caught.value.allowed) == ("recs", 0, "an integer >= 1")
    assert str(caught.value).startswith("recs: 0 is not allowed")


def _interrupted_run(folder: Path, failed: int = 0) -> Path:
    """A runner's run folder as a stop leaves it: interrupted, rec 1 in flight, ``failed`` more recs failed."""
    store = runner_store(folder, "interrupted")
    for rec_id in range(1, failed + 2):
        store.add_rec(rec_id, {"lr": 0.1 * rec_id}, {}, f"job-{rec_id}")
        store.mark_submitted(rec_id, f"j{rec_id}", str(folder / f"r{rec_id}"))
        if rec_id > 1:
            store.finish_rec(rec_id, "failure", None, "boom")
    store.close()
    return folder


def test_best_config_of_an_interrupted_run_without_failures_says_so_and_names_the_resume_tool(tmp_path: Path) -> None:
    """It used to say "the sweep produced no result; read the failed recs" of a run that has no failed rec."""
    from tao_automl.agentapi.tools import TOOLS

    run_dir = _interrupted_run(tmp_path / "run")
    result, is_error = call_tool("best_config", {"run_dir": str(run_dir)})
    assert not is_error and result["best"] is None and result["state"] == "interrupted"
    note = result["note"]
    assert "failed recs" not in note and "no rec failed" in note and "interrupted" in note
    assert "resume_sweep" in note and "resume_sweep" in TOOLS and str(run_dir) in note

    failing = _interrupted_run(tmp_path / "failing", failed=2)
    assert "2 rec(s) failed" in call_tool("best_config", {"run_dir": str(failing)})[0]["note"]


def test_best_config_of_a_run_whose_budget_a_cancel_ended_does_not_say_resume_continues_it(tmp_path: Path) -> None:
    """A run whose every rec `stop --cancel-jobs` cancelled stays interrupted: best_config said "resume_sweep ...
    continues it" while status and stop_sweep say nothing is left to resume (a resume launches nothing)."""
    from agent_helpers import cli, demo_config, status_json, wait_for

    run_dir = cli("run", str(demo_config(tmp_path, recs=1, epochs=200, concurrent=1)), "--detach").stdout.strip()
    wait_for(run_dir, lambda s: bool(s["active_jobs"]) and all(a["job_id"] for a in s["active_jobs"]))
    stopped, is_error = call_tool("stop_sweep", {"run_dir": run_dir, "cancel_jobs": True})
    assert not is_error and stopped["next"] is None and stopped["state"] == "interrupted"
    assert status_json(run_dir)["progress"]["cancelled"] == 1
    best, is_error = call_tool("best_config", {"run_dir": run_dir})
    assert not is_error and best["best"] is None and best["state"] == "interrupted"
    assert "continues it" not in best["note"] and "resume_sweep" in best["note"], best["note"]
    assert "nothing to launch" in best["note"] and "start_sweep" in best["note"]


def _tool_calls(value: Any) -> list[dict[str, Any]]:
    """Every ``{"tool", "arguments"}`` step in a result."""
    if isinstance(value, dict):
        own = [value] if set(value) == {"tool", "arguments"} else []
        return own + [c for v in value.values() for c in _tool_calls(v)]
    if isinstance(value, list):
        return [c for v in value for c in _tool_calls(v)]
    return []


def test_tool_results_name_tools_to_call_not_shell_commands(tmp_path: Path) -> None:
    """stop_sweep's ``next`` was "tao-automl resume RUN_DIR --detach" and a dead orchestrator's stop_reason said
    "`tao-automl resume` continues it": an agent on the tools is told the tool to call, with its arguments."""

    from tao_automl.agentapi.tools import TOOLS

    folder = tmp_path / "run"
    store = runner_store(folder, "running")  # stored as running with no orchestrator: killed or crashed
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    store.mark_submitted(1, "j1", str(folder / "r1"))  # in flight: the run can continue
    store.close()
    status, is_error = call_tool("sweep_status", {"run_dir": str(folder)})
    assert not is_error and f"`resume_sweep(run_dir={json.dumps(str(folder))})` continues it" in status[
        "progress"]["stop_reason"]  # the call to make, with its argument
    stopped, is_error = call_tool("stop_sweep", {"run_dir": str(folder)})
    assert not is_error and stopped["next"] == {"tool": "resume_sweep", "arguments": {"run_dir": str(folder)}}
    best, _ = call_tool("best_config", {"run_dir": str(folder)})
    for result in (status, stopped, best):
        assert "tao-automl " not in json.dumps(result), result
        for step in _tool_calls(result):
            assert step["tool"] in TOOLS  # a tool that exists, with arguments its schema takes
            assert set(step["arguments"]) <= set(TOOLS[step["tool"]].schema["properties"])



def test_stop_sweep_of_a_copy_names_the_resume_of_its_original(tmp_path: Path) -> None:
    """stop_sweep of a copied run folder (`cp -a`) named resume_sweep of the copy as its ``next``, a call that is
    refused (a copy whose original exists is not resumed), while sweep_status, best_config and the CLI's stop name the
    original's: every view names the same call."""
    import shutil

    from test_detach import _interrupted_at_its_first_rec

    _, run_dir = _interrupted_at_its_first_rec(tmp_path)
    copy = tmp_path / "copies" / run_dir.name
    shutil.copytree(run_dir, copy)
    original = {"tool": "resume_sweep", "arguments": {"run_dir": str(run_dir)}}
    stopped, is_error = call_tool("stop_sweep", {"run_dir": str(copy)})
    assert not is_error and stopped["next"] == original, stopped
    status, _ = call_tool("sweep_status", {"run_dir": str(copy)})
    assert status["next"] == original

def test_start_sweep_names_its_next_steps_as_tool_calls(tmp_path: Path) -> None:
    """start_sweep's ``next`` held `tao-automl status/stop/resume` command lines."""
    import time

    from agent_helpers import demo_config
    from tao_automl.agentapi.tools import TOOLS

    started, is_error = call_tool("start_sweep", {"config_path": str(demo_config(tmp_path, recs=1, epochs=1))})
    assert not is_error, started
    run_dir = started["run_dir"]
    assert started["next"] == {name: {"tool": tool, "arguments": {"run_dir": run_dir}} for name, tool in (
        ("status", "sweep_status"), ("stop", "stop_sweep"), ("resume", "resume_sweep"))}
    assert all(step["tool"] in TOOLS for step in started["next"].values())
    deadline = time.monotonic() + 180
    while not call_tool("sweep_status", {"run_dir": run_dir, "include_recs": False})[0]["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_describe_search_space_says_what_auto_picks() -> None:
    """With ``algorithm: auto`` the tool showed the space but not the brain a run would get (first seen in status)."""
    from tao_automl.brain.auto import choose

    out = describe_search_space(DEMO, automl_settings={"algorithm": "auto", "metric": "val_loss"})
    assert out["algorithm_choice"]["algorithm"] in ("bayesian", "tpe") and out["algorithm_choice"]["reason"]
    from tao_automl.runner import plan
    settings = plan.load_settings({"algorithm": "auto", "metric": "val_loss"})
    space = plan.search_space(_demo_skill().schema, settings, None, None, plan.job_baseline(_demo_skill(), {}))
    assert (out["algorithm_choice"]["algorithm"], out["algorithm_choice"]["reason"]) == choose(space, settings)
    assert "algorithm_choice" not in describe_search_space(DEMO, automl_settings={"metric": "val_loss"})


def _demo_skill() -> Any:
    from tao_automl.bank.skill import load_skill
    from tao_automl.cli.run_config import resolve_skill_dir

    return load_skill(resolve_skill_dir(DEMO, Path.cwd()), "train")


WORDED = [  # (text for the shell, what a tool caller reads)
    ("watch it with `tao-automl status /w/run 1` or end it with `tao-automl stop /w/run 1`",
     'watch it with `sweep_status(run_dir="/w/run 1")` or end it with `stop_sweep(run_dir="/w/run 1")`'),
    ("retry `tao-automl stop /w/r --cancel-jobs`", 'retry `stop_sweep(run_dir="/w/r", cancel_jobs=true)`'),
    ("read `tao-automl status /w/r --recs all`; `tao-automl resume /w/r` once",
     'read `sweep_status(run_dir="/w/r")`; `resume_sweep(run_dir="/w/r")` once'),
    ("continue with `tao-automl resume RUN_DIR`", "continue with `resume_sweep`"),
    ("continue with `tao-automl resume /w/r [--detach]`", 'continue with `resume_sweep(run_dir="/w/r")`'),
    ("`tao-automl run cfg.yaml`, `tao-automl preflight cfg.yaml`, `tao-automl models`",
     '`start_sweep(config_path="cfg.yaml")`, `preflight(config_path="cfg.yaml")`, `list_models()`'),
    ("check it with `tao-automl run cfg.yaml --dry-run`", 'check it with `dry_run(config_path="cfg.yaml")`'),
    ("see `tao-automl logs /w/r --rec 3` and `tao-automl export /w/r` (no tool does these)",
     "see `tao-automl logs /w/r --rec 3` and `tao-automl export /w/r` (no tool does these)"),
]


@pytest.mark.parametrize(("text", "worded"), WORDED)
def test_tool_wording_turns_commands_a_tool_does_into_that_tool_call(text: str, worded: str) -> None:
    from tao_automl.agentapi.wording import tool_wording

    assert tool_wording(text) == worded


def test_an_error_tells_a_tool_caller_the_tool_to_call(toy_skill: Path, tmp_path: Path) -> None:
    """resume_sweep on a run another orchestrator holds: the hint said "watch it with `tao-automl status RUN` or end
    it with `tao-automl stop RUN`", commands an agent on the MCP tools may have no shell to run."""
    import os
    import subprocess
    import sys

    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
        automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 1},
        workspace_path=tmp_path / "ws", gpu_count=0)
    folder = Path(result["run_dir"]).resolve()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from tao_automl.experiment.workspace import RunLock; RunLock(Path(sys.argv[1])).acquire(); "
         "print('held', flush=True); time.sleep(60)", str(folder)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src")))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result, is_error = call_tool("resume_sweep", {"run_dir": str(folder)})
    finally:
        holder.kill()
        holder.wait()
    assert is_error and result["error"]["field"] == "run_dir"
    hint = result["error"]["hint"]
    assert f'sweep_status(run_dir="{folder}")' in hint and f'stop_sweep(run_dir="{folder}")' in hint, hint
    assert "tao-automl " not in json.dumps(result), result


def test_tools_called_without_the_mcp_extra_say_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Called in process after `pip install -e '.[demo]'` (no jsonschema), every tool answered an "internal" error,
    "ModuleNotFoundError: No module named 'jsonschema'", with the hint that this is a bug."""
    import sys

    monkeypatch.setitem(sys.modules, "jsonschema", None)  # what a missing package looks like to import
    result, is_error = call_tool("list_models", {})
    assert is_error, result
    error = result["error"]
    assert error["kind"] == "missing_extra" and error["field"] == "jsonschema"
    assert "install the mcp extra" in error["message"] and error["hint"] == "pip install 'tao-run-automl[mcp]'"


def test_the_report_tool_without_the_report_extra_answers_unavailable_with_the_pip_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its answer for a missing plotting package was unreachable: the report raised a `user_input` error with a null
    field and a hint about "the input named in field". Now: available false, what is missing and how to get it."""
    import sys

    folder = _interrupted_run(tmp_path / "run")
    for name in ["plotly", *[m for m in sys.modules if m.startswith("plotly.")]]:  # imported by an earlier test
        monkeypatch.setitem(sys.modules, name, None)  # what the missing report extra looks like to import
    result, is_error = call_tool("report", {"run_dir": str(folder)})
    assert not is_error, result
    assert result["available"] is False and result["html"] is None and not (folder / "report.html").exists()
    assert "pip install 'tao-run-automl[report]'" in result["hint"] and "plotly" in result["hint"]


def test_tool_errors_name_the_tools_arguments_not_the_clis_options(tmp_path: Path) -> None:
    """list_models(skill_bank=...) answered field "--skill-bank" and "pass --skill-bank PATH"."""
    result, is_error = call_tool("list_models", {"skill_bank": str(tmp_path / "nope")})
    assert is_error
    error = result["error"]
    assert error["field"] == "skill_bank" and "--skill-bank" not in json.dumps(result)
    assert "pass skill_bank or set TAO_SKILL_BANK_PATH" in error["hint"]


def test_a_tool_results_note_names_the_tools_arguments_not_the_clis_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """list_models() without a bank answered the note "no skill bank given (--skill-bank PATH or
    $TAO_SKILL_BANK_PATH)": an option of the CLI, where the tool takes skill_bank (its errors already said so)."""
    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    result, is_error = call_tool("list_models", {})
    assert not is_error and "--skill-bank" not in result["note"] and "skill_bank" in result["note"], result["note"]


def test_describe_search_space_errors_name_what_is_wrong_and_the_fix_for_it(tmp_path: Path) -> None:
    """A folder that is not a model: field skill_dir and the path (were null). A model without that action: the
    hint names the model's actions (it said to pick another model)."""
    result, _ = call_tool("describe_search_space", {"skill_dir": str(tmp_path)})
    assert (result["error"]["field"], result["error"]["value"]) == ("skill_dir", str(tmp_path.resolve()))
    result, _ = call_tool("describe_search_space", {"skill_dir": "builtin:demo-digits-mlp", "action": "evaluate"})
    error = result["error"]
    assert (error["field"], error["value"], error["allowed"]) == ("action", "evaluate", ["train"])
    assert error["hint"] == "set action to one of the model's actions: train"


def test_preflight_of_an_invalid_config_carries_its_checks_beside_the_error(tmp_path: Path) -> None:
    """The preflight tool answered a misspelt key or a bad config file with the error alone, where the CLI's
    `preflight --json` (and SPEC) give the checks too: one failed `config` check."""
    config = {"platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path / "runs"), "platfrom": "x"}
    for arguments in ({"config": config}, {"config_path": str(tmp_path / "missing.yaml")}):
        result, is_error = call_tool("preflight", arguments)
        assert is_error and result["ok"] is False
        assert [(c["check"], c["ok"]) for c in result["checks"]] == [("config", False)]
        assert result["error"]["kind"] == "config" and result["error"]["field"]
    result, is_error = call_tool("preflight", {})  # which argument to give: a usage error, no checks
    assert is_error and "checks" not in result and result["error"]["field"] == "config"


def test_preflight_names_a_spec_override_key_that_is_not_in_the_schema(tmp_path: Path) -> None:
    """spec_overrides {train.nope: 1} passed preflight as "1 override(s) valid": that the key is in neither the schema
    nor the spec (a job that does not read it ignores it) was only a log line on the server's stderr, which a tool
    caller never sees. It is now a warning of the check, naming the key."""
    config = {"platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path / "runs"),
              "train_dataset_uri": "builtin:digits", "platform_kwargs": {"gpu_count": 0},
              "automl_settings": {"metric": "val_accuracy"}}
    for overrides, new_keys in (({"train.nope": 1, "train.num_epochs": 2}, ["train.nope"]),
                                ({"train.num_epochs": 2}, None)):
        result, is_error = call_tool("preflight", {"config": {**config, "spec_overrides": overrides}})
        assert not is_error and result["ok"] is True, result
        check = next(c for c in result["checks"] if c["check"] == "spec_overrides")
        assert check["ok"] is True and check.get("new_keys") == new_keys, check
        assert check.get("warning", False) is bool(new_keys) and ("train.nope" in check["detail"]) is bool(new_keys)


def test_a_workspace_that_is_a_run_folder_fails_preflight_and_start_sweep_alike(tmp_path: Path) -> None:
    """start_sweep into a run folder passed preflight, then failed with field/value/allowed null and a hint to
    'pass resume=True', which no tool takes."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.experiment.workspace import new_run_dir

    run_dir = new_run_dir(tmp_path / "ws")
    RunStore(run_dir).close()
    config = {"platform": "local", "skill_dir": DEMO, "workspace_path": str(run_dir),
              "train_dataset_uri": "builtin:digits", "platform_kwargs": {"gpu_count": 0},
              "automl_settings": {"metric": "val_accuracy", "automl_max_recommendations": 2}}
    for tool in ("preflight", "start_sweep"):
        result, is_error = call_tool(tool, {"config": config})
        assert is_error, tool
        error = result["error"]
        assert error["field"] == "workspace_path" and error["value"] == str(run_dir) and error["allowed"], tool
        assert "resume=True" not in json.dumps(result) and f'resume_sweep(run_dir="{run_dir}")' in error["hint"]
        assert any(c["check"] == "workspace_path" and c["ok"] is False for c in result.get("checks", [])) \
            or tool == "start_sweep"


@pytest.mark.parametrize("tool", ["sweep_status", "best_config", "report", "stop_sweep", "resume_sweep"])
def test_an_empty_run_dir_is_named_as_the_tools_own_argument(tool: str) -> None:
    """An empty run_dir was reported as field "workspace_path" (not an argument of these tools) or as the value
    "." (the folder it resolved to), not as what was passed."""
    result, is_error = call_tool(tool, {"run_dir": ""})
    assert is_error
    error = result["error"]
    assert (error["kind"], error["field"], error["value"]) == ("usage", "run_dir", "")
    assert error["allowed"]["minLength"] == 1
    result, is_error = call_tool(tool, {"run_dir": "   "})  # blank: named the same way, not as workspace_path
    assert is_error and (result["error"]["kind"], result["error"]["field"]) == ("usage", "run_dir")


@pytest.mark.parametrize("skill_dir", ["", "   "])
def test_an_empty_skill_dir_is_refused_as_given_not_read_as_the_working_directory(skill_dir: str) -> None:
    """describe_search_space(skill_dir="") answered "skill_dir '/the/server/cwd' is not a model skill": a folder the
    caller never named, read from the empty string."""
    result, is_error = call_tool("describe_search_space", {"skill_dir": skill_dir})
    assert is_error
    error = result["error"]
    assert (error["kind"], error["field"], error["value"]) == ("usage", "skill_dir", skill_dir)
    assert str(Path.cwd()) not in error["message"] and error["allowed"]


def test_a_run_dir_that_holds_no_run_says_what_is_allowed(tmp_path: Path) -> None:
    for tool in ("sweep_status", "best_config", "stop_sweep"):
        result, is_error = call_tool(tool, {"run_dir": str(tmp_path / "nope")})
        assert is_error and result["error"]["field"] == "run_dir" and "state.db" in result["error"]["allowed"], tool


@pytest.mark.parametrize("tool", ["stop_sweep", "resume_sweep"])
def test_a_relative_workspace_given_as_run_dir_is_answered_with_absolute_run_folders(
        tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stop_sweep(run_dir="ws") of a workspace answered allowed ["ws/run_..."] and "the newest is 'ws/run_...'":
    paths relative to the server's working directory, which an MCP client does not know."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.experiment.workspace import new_run_dir

    run_dir = new_run_dir(tmp_path / "ws")
    RunStore(run_dir).close()
    monkeypatch.chdir(tmp_path)
    result, is_error = call_tool(tool, {"run_dir": "ws"})
    assert is_error
    error = result["error"]
    assert error["value"] == "ws" and error["allowed"] == [str(run_dir.absolute())], error
    assert repr(str(run_dir.absolute())) in error["hint"]


def test_arguments_that_are_not_an_object_are_a_usage_error() -> None:
    """In process, call_tool("sweep_status", ["x"]) answered kind internal, field "ValueError", "rerun with -v"."""
    result, is_error = call_tool("sweep_status", ["x"])  # type: ignore[arg-type]
    assert is_error
    error = result["error"]
    assert (error["kind"], error["field"], error["value"]) == ("usage", "arguments", ["x"])
    assert "-v" not in (error.get("hint") or "")


def test_sweep_status_pages_every_rec_and_says_what_it_shows(tmp_path: Path) -> None:
    """sweep_status showed the 10 best and 10 newest unranked recs at most, with no way to see the rest (a failed
    rec's message among them); with include_recs false its rec_view still said recs were shown."""
    folder = tmp_path / "run"
    store = runner_store(folder, "finished", recs=25)
    for rec_id in range(1, 26):
        store.finish_rec(rec_id, "failure" if rec_id % 5 == 0 else "success", None if rec_id % 5 == 0 else rec_id,
                         "diverged" if rec_id % 5 == 0 else None)
    store.close()
    top, is_error = call_tool("sweep_status", {"run_dir": str(folder)})
    assert not is_error and top["rec_view"]["shown"] == len(top["recommendations"]) < 25
    seen: list[int] = []
    for offset in range(0, 30, 7):
        page, is_error = call_tool("sweep_status", {"run_dir": str(folder), "recs": "all", "offset": offset,
                                                    "limit": 7})
        assert not is_error, page
        seen += [r["rec_id"] for r in page["recommendations"]]
    assert seen == list(range(1, 26))  # every rec once, failures and their messages included
    bare, _ = call_tool("sweep_status", {"run_dir": str(folder), "include_recs": False})
    assert "recommendations" not in bare and bare["rec_view"]["shown"] == 0 and bare["rec_view"]["total"] == 25
    wrong, is_error = call_tool("sweep_status", {"run_dir": str(folder), "offset": 5})
    assert is_error and wrong["error"]["field"] == "offset", wrong
    # the corrected call is this tool's, not the Python function's
    assert wrong["error"]["hint"] == f"sweep_status(run_dir={str(folder)!r}, recs='all', offset=5)", wrong
    ignored, is_error = call_tool("sweep_status", {"run_dir": str(folder), "recs": "all", "top": 3})
    assert is_error and (ignored["error"]["field"], ignored["error"]["value"]) == ("top", 3), ignored  # not ignored
    assert ignored["error"]["hint"].startswith("sweep_status(") and "recs='top', top=3" in ignored["error"]["hint"]
    nulls, is_error = call_tool("sweep_status", {"run_dir": str(folder), "top": None, "offset": None,
                                                 "limit": None, "recs": None})  # left out: the defaults
    assert not is_error and nulls["rec_view"] == top["rec_view"], nulls
    missing, is_error = call_tool("sweep_status", {"run_dir": None})
    assert is_error and missing["error"]["field"] == "run_dir", missing  # a required one stays refused
    fraction, is_error = call_tool("sweep_status", {"run_dir": str(folder), "top": 2.0})
    assert is_error and fraction["error"]["kind"] == "usage" and fraction["error"]["field"] == "top", fraction
    # the schema refuses what the function refuses: 2.0 is no whole number of recs for either
    assert sweep_status_schema_accepts({"run_dir": "x", "top": 2}) and not sweep_status_schema_accepts(
        {"run_dir": "x", "top": 2.0})
    bad, is_error = call_tool("sweep_status", {"run_dir": str(folder), "recs": "some"})
    assert is_error and bad["error"]["field"] == "recs" and bad["error"]["allowed"] == ["top", "all"], bad


def sweep_status_schema_accepts(arguments: dict[str, object]) -> bool:
    """Whether sweep_status's argument check lets ``arguments`` through."""
    from tao_automl.agentapi.tools import TOOLS, ToolArgumentError, check_arguments

    try:
        check_arguments(TOOLS["sweep_status"], arguments)
    except ToolArgumentError:
        return False
    return True


def test_a_dry_run_whose_preflight_fails_carries_the_checks_as_preflight_and_start_sweep_do(tmp_path: Path) -> None:
    """README: a call whose preflight failed (preflight, dry_run, start_sweep) has the checks beside the error. With a
    metric the demo does not report, preflight and start_sweep did, dry_run answered with the error alone."""
    config = {"platform": "local", "skill_dir": DEMO, "workspace_path": str(tmp_path / "runs"),
              "train_dataset_uri": "builtin:digits", "platform_kwargs": {"gpu_count": 0},
              "automl_settings": {"algorithm": "random", "metric": "val_acc", "automl_max_recommendations": 2}}
    for tool in ("preflight", "dry_run", "start_sweep"):
        result, is_error = call_tool(tool, {"config": config})
        assert is_error and set(result) >= {"error", "checks"}, (tool, sorted(result))
        assert result["error"]["field"] == "automl_settings.metric", (tool, result["error"])
    assert not (tmp_path / "runs").exists()


def test_tool_errors_name_the_tools_own_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """start_sweep(config_path=<missing file>) named field `config` (the CLI's positional), a blank run_dir of two
    spaces was quoted as ' ' (the one-line message folds spaces), and `status --top -1` named `top` where the other
    options are named `--offset`/`--limit`."""
    from tao_automl.cli.main import main

    missing, failed = call_tool("start_sweep", {"config_path": str(tmp_path / "nope.yaml")})
    assert failed and missing["error"]["field"] == "config_path"
    blank, failed = call_tool("best_config", {"run_dir": "  "})
    assert failed and blank["error"]["value"] == "  " and "' '" not in blank["error"]["message"]
    assert main(["status", str(tmp_path), "--top", "-1", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["field"], error["value"], error["allowed"]) == ("--top", -1, "an integer >= 0")


def test_best_config_of_a_run_whose_jobs_ended_uncollected_does_not_say_no_rec_produced_a_result(
        tmp_path: Path) -> None:
    """After `stop --cancel-jobs` on a killed run, sweep_status showed its recs ended_uncollected (their jobs ended,
    their results wait for a resume) while best_config said "interrupted before any rec produced a result"."""
    from tao_automl.experiment.store import JOB_ENDED_UNCOLLECTED, RunStore

    run_dir = _interrupted_run(tmp_path / "run")
    store = RunStore(run_dir)
    store.log_event(JOB_ENDED_UNCOLLECTED, 1, job_id="j1")
    store.close()
    status, _ = call_tool("sweep_status", {"run_dir": str(run_dir)})
    assert status["progress"]["uncollected"] == 1
    result, is_error = call_tool("best_config", {"run_dir": str(run_dir)})
    assert not is_error and result["best"] is None
    note = result["note"]
    assert "before any rec produced a result" not in note
    assert "1 rec(s) ended with a result not collected yet" in note and "resume_sweep" in note


def test_sweep_status_of_an_interrupted_run_is_done_but_resumable_with_the_resume_call(tmp_path: Path) -> None:
    """An interrupted run (its orchestrator killed) answered `done: true` and nothing else a client could read: one
    polling for `done` took it for a finished sweep. Now `resumable` and `next` (the resume_sweep call) say a resume
    continues it, and a finished run, or one whose whole budget ended, is done with nothing next."""
    from store_helpers import killed_run_mid_job
    from tao_automl.experiment.store import RunStore

    run_dir = tmp_path / "run"
    killed_run_mid_job(run_dir)
    resume = {"tool": "resume_sweep", "arguments": {"run_dir": str(run_dir)}}
    for tool in ("sweep_status", "best_config"):
        result, is_error = call_tool(tool, {"run_dir": str(run_dir)})
        assert not is_error and result["state" if tool == "best_config" else "progress"] is not None
        assert (result["done"], result["resumable"], result["next"]) == (True, True, resume), tool
    store = RunStore(run_dir)
    store.finish_rec(1, "success", 0.5, "")
    store.add_rec(2, {"lr": 0.2}, {}, "job-2")
    store.finish_rec(2, "failure", None, "boom")
    store.set_meta({"state": "finished"})
    store.close()
    for tool in ("sweep_status", "best_config"):
        result = call_tool(tool, {"run_dir": str(run_dir)})[0]
        assert (result["done"], result["resumable"], result["next"]) == (True, False, None), tool


def test_sweep_status_offers_no_resume_for_an_ask_tell_run_or_one_that_needs_a_new_run(tmp_path: Path) -> None:
    """resume_sweep refuses an ask/tell run, a sweep that stopped itself on a cause a resume meets again is
    continued by a new run (status text says so), and a finished sweep whose brain proposed no more recs before its
    budget ends the same way again: none is offered as the next call."""
    from store_helpers import killed_run_mid_job
    from tao_automl.experiment.store import NEW_RUN_NEEDED, RunStore

    ended_early = {"state": "finished", "stop_reason": "the sweep ended after 1 of 2 recs: the llm brain proposed no "
                   "further recs"}  # a resume would end it the same way: not offered (an agent would loop on it)
    for name, meta in (("ask", {"mode": "ask_tell"}), ("new", {"state": "failed", NEW_RUN_NEEDED: True}),
                       ("early", ended_early)):
        killed_run_mid_job(tmp_path / name)
        store = RunStore(tmp_path / name)
        store.set_meta(meta)
        store.close()
        result = call_tool("sweep_status", {"run_dir": str(tmp_path / name)})[0]
        assert (result["done"], result["resumable"], result["next"]) == (True, False, None), name

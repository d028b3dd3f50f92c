"""The agent tools (:mod:`tao_automl.agentapi.tools`) called in process: what each result tells an agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tao_automl.agentapi.tools import call_tool, describe_search_space
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
    from tao_automl.experiment.store import RunStore

    folder.mkdir()
    store = RunStore(folder)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "experiment_id": "x", "mode": "runner",
                    "state": "interrupted"})
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

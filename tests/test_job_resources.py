"""What a job's spec says about its resources and its length is what the platform and the search give it: the GPU
count of ``gpu_spec_key`` (every bank model declares ``train.num_gpus``), and each epoch-count key of the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import readme_says, small_schema, write_skill
from tao_automl.bank.skill import load_skill
from tao_automl.cli.main import main
from tao_automl.errors import SettingsError, SkillError, UserInputError
from tao_automl.runner.fidelity import epoch_key
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.runner.plan import RunPlan, check_render
from tao_automl.runner.preflight import run_preflight
from tao_automl.runner.resources import MAX_GPU_COUNT
from tao_automl.runner.run_args import RunArgs
from tao_automl.testing import InstantSDK
from test_bank_tools import SHARED, needs_shared

MODELS = SHARED / "skills" / "models" if SHARED is not None else Path("/nonexistent")


def _train(plan: RunPlan, budget: int | None = None) -> dict[str, Any]:
    assert plan.skill is not None
    spec = check_render(plan.skill, None, plan.budget_context(budget))
    return dict(spec["train"])


@needs_shared
@pytest.mark.parametrize(("gpus", "expected"), [(2, (2, [0, 1])), (4, (4, [0, 1, 2, 3])), (0, (1, [0]))])
def test_the_gpu_count_key_says_how_many_gpus_the_job_gets(gpus: int, expected: tuple[int, list[int]]) -> None:
    """Rec 1 ran with CUDA_VISIBLE_DEVICES=0,1 while its spec said num_gpus: 1, gpu_ids: [0]: TAO trained on one of
    the two GPUs the job held. A CPU-only run (gpu_count 0) leaves the template's values."""
    plan = RunPlan.build(RunArgs(skill_dir=str(MODELS / "tao-train-image-classification"),
                                 automl_hyperparameters=["train.optim.lr"], platform_kwargs={"gpu_count": gpus}))
    train = _train(plan)
    assert (train["num_gpus"], train["gpu_ids"]) == expected


@needs_shared
def test_the_node_count_key_follows_num_nodes_and_a_users_gpu_ids_are_kept() -> None:
    plan = RunPlan.build(RunArgs(skill_dir=str(MODELS / "tao-train-dino"), automl_hyperparameters=["train.optim.lr"],
                                 platform_kwargs={"gpu_count": 2, "num_nodes": 3},
                                 spec_overrides={"train.gpu_ids": [2, 3]}))
    train = _train(plan)
    assert (train["num_gpus"], train["num_nodes"], train["gpu_ids"]) == (2, 3, [2, 3])


@needs_shared
@pytest.mark.parametrize(("overrides", "hyper", "field"), [
    ({"train.num_gpus": 4}, ["train.optim.lr"], "spec_overrides.train.num_gpus"),
    ({"train": {"num_gpus": 1}}, ["train.optim.lr"], "spec_overrides.train.num_gpus"),
    ({}, ["train.optim.lr", "train.num_gpus"], "automl_hyperparameters"),
])
def test_a_gpu_count_that_disagrees_with_the_platforms_is_refused(overrides: dict[str, Any], hyper: list[str],
                                                                   field: str) -> None:
    with pytest.raises(UserInputError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(MODELS / "tao-train-image-classification"), automl_hyperparameters=hyper,
                              spec_overrides=overrides, platform_kwargs={"gpu_count": 2},
                              automl_settings={"override_automl_disabled_params": True}))
    assert caught.value.field == field, str(caught.value)
    assert "gpu_count" in str(caught.value)


@needs_shared
def test_a_multi_fidelity_budget_reaches_every_epoch_count_key_of_the_schema() -> None:
    """NV-Tesseract's schema has train.epochs ("Total training epochs") and train.num_epochs ("Keep equal to
    train.epochs"): the budget went to num_epochs only, so every rung trained the template's 10 epochs."""
    plan = RunPlan.build(RunArgs(skill_dir=str(MODELS / "tao-finetune-nv-tesseract-ad-diffusion"),
                                 automl_hyperparameters=["train.lr"], platform_kwargs={"gpu_count": 0},
                                 automl_settings={"algorithm": "hyperband", "automl_max_epochs": 9}))
    for budget in (1, 3, 9):
        train = _train(plan, budget)
        assert (train["epochs"], train["num_epochs"]) == (budget, budget)
    with pytest.raises(UserInputError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(MODELS / "tao-finetune-nv-tesseract-ad-diffusion"),
                              automl_hyperparameters=["train.lr"], spec_overrides={"train.epochs": 5},
                              automl_settings={"algorithm": "hyperband", "automl_max_epochs": 9}))
    assert caught.value.field == "spec_overrides.train.epochs"


def _skill_with_epoch_key(tmp_path: Path, key: str | None, *, leaf: str = "num_epochs") -> Path:
    schema = small_schema()
    if leaf != "num_epochs":
        schema["default"]["train"][leaf] = schema["default"]["train"].pop("num_epochs")
        schema["properties"]["train"]["properties"][leaf] = schema["properties"]["train"]["properties"].pop(
            "num_epochs")
    skill = write_skill(tmp_path / "bank", schema=schema)
    info_path = skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    if key is not None:
        info["spec_shorthand_keys"] = {"num_epochs": key}
    info_path.write_text(yaml.safe_dump(info))
    return skill


def test_an_epoch_key_the_spec_does_not_have_is_refused_with_the_close_one(tmp_path: Path) -> None:
    """spec_shorthand_keys.num_epochs: train.epochs (not in schema or template): every job trained the template's
    9 epochs while status said 1 and 3, and promoted recs trained nothing."""
    skill = load_skill(_skill_with_epoch_key(tmp_path, "train.epochs"), "train")
    with pytest.raises(SkillError) as caught:
        epoch_key(skill)
    assert caught.value.field == "spec_shorthand_keys.num_epochs" and caught.value.value == "train.epochs"
    assert "did you mean 'train.num_epochs'" in str(caught.value) and caught.value.allowed == ["train.num_epochs"]
    assert epoch_key(load_skill(_skill_with_epoch_key(tmp_path / "b", "train.num_epochs"), "train")) \
        == "train.num_epochs"


def test_a_multi_fidelity_brain_without_an_epoch_key_names_the_setting_and_the_brains_that_work(
        tmp_path: Path) -> None:
    skill = _skill_with_epoch_key(tmp_path, None, leaf="total_steps")
    with pytest.raises(SkillError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"algorithm": "hyperband"}))
    assert caught.value.field == "spec_shorthand_keys.num_epochs"
    assert "automl_settings.algorithm" in (caught.value.hint or "") and "bayesian" in (caught.value.hint or "")
    RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"algorithm": "bayesian"}))  # needs no epoch key


@pytest.mark.parametrize("algorithm", ["hyperband", "asha", "pbt"])
def test_max_epochs_beyond_the_epoch_keys_schema_bounds_is_refused_before_anything_runs(
        tmp_path: Path, algorithm: str) -> None:
    """automl_max_epochs: 150 wrote num_epochs: 150 (schema maximum 100) into every top-rung spec; preflight
    passed."""
    skill = _skill_with_epoch_key(tmp_path, "train.num_epochs")
    settings = {"algorithm": algorithm, "automl_max_epochs": 150, "automl_max_recommendations": 4}
    with pytest.raises(SettingsError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings=settings))
    assert caught.value.field == "automl_settings.automl_max_epochs" and caught.value.value == 150
    assert "[1, 100]" in str(caught.value.allowed)
    report = run_preflight(RunArgs(skill_dir=str(skill), automl_settings=settings, workspace_path=str(tmp_path / "w"),
                               platform_kwargs={"gpu_count": 0}))
    assert not report.ok and any("automl_max_epochs" in c.detail for c in report.checks if c.ok is False)
    RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={**settings, "automl_max_epochs": 100}))


@pytest.mark.parametrize("algorithm", ["hyperband", "bohb", "dehb", "bfbo", "asha", "pbt"])
def test_a_rung_budget_below_the_epoch_keys_schema_minimum_is_refused_before_anything_runs(
        tmp_path: Path, algorithm: str) -> None:
    """train.num_epochs with minimum 5: automl_max_epochs 27 passed the check (only the top budget was checked), and
    every lower rung's spec said num_epochs: 1 or 3, values the schema forbids, which a trainer refuses or trains
    anyway. The error names automl_max_epochs, the budgets below the bounds, and the bounds."""
    schema = small_schema()
    schema["properties"]["train"]["properties"]["num_epochs"].update(minimum=5, default=5)
    schema["default"]["train"]["num_epochs"] = 5
    skill = write_skill(tmp_path / "bank", schema=schema)
    settings = {"algorithm": algorithm, "automl_max_epochs": 27, "automl_max_recommendations": 20,
                "automl_population_size": 2}  # pbt: 10 generations, the first ends at epoch 3
    with pytest.raises(SettingsError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings=settings))
    assert caught.value.field == "automl_settings.automl_max_epochs" and caught.value.value == 27
    assert "[5, 100]" in str(caught.value.allowed) and "'train.num_epochs'" in str(caught.value)
    assert "\n" not in str(caught.value)
    report = run_preflight(RunArgs(skill_dir=str(skill), automl_settings=settings, workspace_path=str(tmp_path / "w"),
                               platform_kwargs={"gpu_count": 0}))
    assert not report.ok and any("automl_max_epochs" in c.detail for c in report.checks if c.ok is False)
    # stopping mode writes only the top budget to the spec: nothing below the minimum
    RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"algorithm": "hyperband_es", "automl_max_epochs": 27}))


@pytest.mark.parametrize(("given", "field"), [
    ({"automl_hyperparameters": ["train.optim.lr", "train.num_epochs"]}, "automl_hyperparameters"),
    ({"custom_param_ranges": {"train.num_epochs": {"valid_min": 1, "valid_max": 5}}},
     "custom_param_ranges.train.num_epochs")])
def test_searching_the_epoch_key_of_a_multi_fidelity_brain_is_refused(
        tmp_path: Path, given: dict[str, Any], field: str) -> None:
    """automl_hyperparameters: [train.optim.lr, train.num_epochs] with dehb: every rec's params said
    train.num_epochs: 96 (and the best's too) while its spec, written over by the brain's budget, said 1, 3 or 9: the
    run showed epochs that never ran, and searched nothing. Refused as the same key in spec_overrides is; a
    single-fidelity brain may still search it."""
    skill = write_skill(tmp_path / "bank")
    settings = {"algorithm": "dehb", "automl_max_epochs": 9, "automl_max_recommendations": 13}
    with pytest.raises(UserInputError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings=settings, **given))
    assert caught.value.field == field and caught.value.value == "train.num_epochs"
    assert "automl_max_epochs" in str(caught.value) and "'dehb'" in str(caught.value)
    report = run_preflight(RunArgs(skill_dir=str(skill), automl_settings=settings, workspace_path=str(tmp_path / "w"),
                                   platform_kwargs={"gpu_count": 0}, **given))
    assert not report.ok and any("train.num_epochs" in c.detail for c in report.checks if c.ok is False)
    RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"algorithm": "random"}, **given))


class _GpuCounting(InstantSDK):
    """InstantSDK recording the ``gpu_count`` each job is created with."""

    def __init__(self) -> None:
        super().__init__()
        self.gpus: list[int] = []

    def create_job(self, image: str | None, command: Any, gpu_count: int = 99, env_vars: Any = None,
                   inputs: Any = None, outputs: Any = None, **kwargs: Any) -> Any:
        self.gpus.append(gpu_count)
        return super().create_job(image, command, gpu_count, env_vars, inputs, outputs, **kwargs)


def test_a_job_gets_the_gpu_count_the_readme_states_when_none_is_set(toy_skill: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """README: `platform_kwargs` are each job's `create_job` arguments (`gpu_count`, 1 when unset): a run that sets no
    gpu_count creates every job with that many GPUs (not the SDK's own default), and one that sets it, with its own;
    `run --dry-run` shows the same."""
    stated, most = readme_says(r"`platform_kwargs` are each job's `create_job` arguments \(`gpu_count`, (\d+) when "
                               r"unset, at most (\d+);")
    assert int(most) == MAX_GPU_COUNT
    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2, "poll_interval_s": 0.01}
    unset, given = _GpuCounting(), _GpuCounting()
    AutoMLRunner(unset, toy_skill, log_progress=False).run(automl_settings=settings, workspace_path=tmp_path / "a")
    AutoMLRunner(given, toy_skill, log_progress=False).run(automl_settings=settings, workspace_path=tmp_path / "b",
                                                           gpu_count=0)
    assert unset.gpus == [int(stated)] * 2 and given.gpus == [0, 0]
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(toy_skill), "workspace_path": str(tmp_path / "c"),
                                      "automl_settings": settings}))
    assert main(["run", str(config), "--dry-run", "--recs", "1", "--json"]) == 0
    [shown] = json.loads(capsys.readouterr().out)["recs"]
    assert shown["platform_kwargs"]["gpu_count"] == int(stated)



@needs_shared
def test_the_most_gpus_a_job_may_ask_for_are_taken() -> None:
    """MAX_GPU_COUNT itself is a count a job may ask for (the next test refuses the one above it): the plan builds,
    every rec's spec set to that many GPUs."""
    plan = RunPlan.build(RunArgs(skill_dir=str(MODELS / "tao-train-image-classification"),
                                 automl_hyperparameters=["train.optim.lr"],
                                 platform_kwargs={"gpu_count": MAX_GPU_COUNT}))
    overrides = plan.ctx.spec_overrides
    assert overrides["train.num_gpus"] == MAX_GPU_COUNT and overrides["train.gpu_ids"] == list(range(MAX_GPU_COUNT))


@needs_shared
@pytest.mark.parametrize("gpus", [10**20, 5000, MAX_GPU_COUNT + 1])
def test_a_gpu_count_beyond_any_node_is_refused_naming_the_bound(gpus: int, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Found by a mutation fuzz of a bank model's run config: `gpu_count: 100000000000000000000` failed `--dry-run`
    and `preflight` with an internal error (OverflowError: Python int too large to convert to C ssize_t, building
    gpu_ids), and a large count was written into every spec as a gpu_ids list that long. A count above
    MAX_GPU_COUNT is refused before any spec is rendered, naming the field, the value and the bound (the first
    count above it too: a bound moved by one is caught)."""
    with pytest.raises(UserInputError) as info:
        RunPlan.build(RunArgs(skill_dir=str(MODELS / "tao-train-image-classification"),
                              automl_hyperparameters=["train.optim.lr"], platform_kwargs={"gpu_count": gpus}))
    assert info.value.field == "platform_kwargs.gpu_count" and str(gpus) in str(info.value)
    assert f"from 0 to {MAX_GPU_COUNT}" in str(info.value)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(MODELS / "tao-train-image-classification"),
                                      "workspace_path": "ws", "platform_kwargs": {"gpu_count": gpus},
                                      "automl_hyperparameters": ["train.optim.lr"]}))
    for command in (["run", str(config), "--dry-run", "--json"], ["preflight", str(config), "--json"]):
        assert main(command) == 2, command
        out = capsys.readouterr().out
        error = json.loads(out[out.index('{"error"'):] if '{"error"' in out else out)["error"]
        assert error["field"] == "platform_kwargs.gpu_count" and error["kind"] != "internal", (command, error)

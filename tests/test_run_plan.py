"""The run plan: one preparation for runner, dry run, preflight and AutoML; what ran is what is recorded."""

from __future__ import annotations

import itertools
import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import readme_says, write_skill
from tao_automl.brain.registry import ALGORITHMS
from tao_automl.cli.main import main
from tao_automl.errors import SearchSpaceError, SettingsError, SkillError, UserInputError
from tao_automl.platforms.base import Job
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.runner.plan import RunPlan
from tao_automl.runner.run_args import RunArgs
from tao_automl.settings import AutoMLSettings, Direction
from tao_automl.util.dotted import flatten
from test_bank_tools import SHARED, needs_shared

LLM_BRAINS = {"llm", "hybrid", "autoresearch"}


class SpecReadingSDK:
    """An in-process platform: a job "runs" when created — it reads the spec file its command names (the file the
    runner rendered), writes status.json and a checkpoint to its results folder, and succeeds. No subprocess."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.specs: dict[str, dict[str, Any]] = {}

    def create_job(self, image: str | None, command: str, gpu_count: int = 0, env_vars: Any = None,
                   inputs: Any = None, outputs: Any = None, job_name: str | None = None, **_: Any) -> Job:
        words = shlex.split(command)
        spec = yaml.safe_load(Path(words[words.index("-e") + 1]).read_text())
        train = spec["train"]
        loss = (math.log10(train["optim"]["lr"]) + 2) ** 2 + 0.1 * train["layers"] + train["num_epochs"] * 1e-3
        results = Path(outputs["results_dir"])
        results.mkdir(parents=True, exist_ok=True)
        (results / "status.json").write_text(f'{{"epoch": {train["num_epochs"]}, "kpi": {{"val_loss": {loss}}}}}\n')
        (results / f"model_epoch_{train['num_epochs']}.pth").write_bytes(b"x")
        job_id = f"job{next(self.ids)}"
        self.specs[job_id] = spec
        return Job(id=job_id, results_dir=str(results), name=job_name)

    def get_job_status(self, job_id: str) -> str:
        return "SUCCESS"

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str:
        return ""

    def get_failure_analysis(self, job_id: str) -> None:
        return None

    def cancel_job(self, job_id: str) -> bool:
        return True


def _settings(algorithm: str, **extra: Any) -> dict[str, Any]:
    return {"algorithm": algorithm, "metric": "val_loss", "automl_max_recommendations": 6, "automl_max_epochs": 4,
            "automl_reduction_factor": 2, "automl_population_size": 3, "automl_max_concurrent": 2, "seed": 3,
            "poll_interval_s": 0.01, **extra}


@pytest.mark.parametrize("algorithm", sorted(set(ALGORITHMS) - LLM_BRAINS))
def test_every_recorded_param_is_the_value_in_the_spec_that_ran(algorithm: str, toy_skill: Path,
                                                                 tmp_path: Path) -> None:
    """For every (non-LLM) brain in the registry: re-read each rec's rendered spec file; the recorded params are the
    values in it, and a multi-fidelity rec's budget is the epoch value it ran with."""
    sdk = SpecReadingSDK()
    result = AutoMLRunner(sdk, toy_skill).run(automl_settings=_settings(algorithm), workspace_path=tmp_path / "ws",
                                              spec_overrides={"train.act": "tanh"},
                                              automl_hyperparameters=["train.optim.lr", "train.layers", "train.flag"])
    history = result["history"]
    assert history and all(h["status"] in ("success", "stopped") for h in history), history
    for rec in history:
        spec_file = Path(rec["results_dir"]).parent / "train_spec.yaml"
        ran = dict(flatten(yaml.safe_load(spec_file.read_text())))
        assert ran == dict(flatten(sdk.specs[rec["job_id"]]))
        for key, value in rec["params"].items():
            assert ran[key] == value, (rec["rec_id"], key)
        assert ran["train.act"] == "tanh"


def test_a_searched_key_in_spec_overrides_is_refused_before_anything_exists(toy_skill: Path, tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match=r"spec_overrides\.train\.optim\.lr: the key is also searched"):
        AutoMLRunner(SpecReadingSDK(), toy_skill).run(automl_settings=_settings("random"),
                                                      spec_overrides={"train.optim.lr": 0.5},
                                                      workspace_path=tmp_path / "ws")
    assert not (tmp_path / "ws").exists()
    # dropping it from the search makes the override legal
    plan = RunPlan.build(RunArgs(skill_dir=str(toy_skill), automl_hyperparameters=["train.layers"],
                                 spec_overrides={"train.optim.lr": 0.5}))
    assert plan.space.names == ["train.layers"]


def test_cli_refuses_a_searched_override_with_exit_2(toy_skill: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(toy_skill), "workspace_path": "ws",
                                      "spec_overrides": {"train.layers": 3}}))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "spec_overrides.train.layers: the key is also searched" in err and "Traceback" not in err
    assert not (tmp_path / "ws").exists()


def test_plan_resolves_kpi_and_direction_once(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank")
    info = skill / "references" / "skill_info.yaml"
    data = yaml.safe_load(info.read_text())
    info.write_text(yaml.safe_dump({**data, "kpi_metric": "val_acc", "kpi_direction": "maximize"}))
    plan = RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"metric": "kpi"}))
    assert (plan.metric, plan.direction) == ("val_acc", Direction.MAXIMIZE)
    assert plan.epoch_key is None
    asha = RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"algorithm": "asha"}))
    assert asha.epoch_key == "train.num_epochs" and asha.budget_context(3).spec_overrides == {"train.num_epochs": 3}
    info.write_text(yaml.safe_dump(data))
    with pytest.raises(Exception, match="'kpi' needs the model's monitoring metric"):
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"metric": "kpi"}))


def test_kpi_is_the_actions_own_metric_and_direction_as_the_tao_bank_declares_them(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank")
    info = skill / "references" / "skill_info.yaml"
    data = yaml.safe_load(info.read_text())
    data["actions"]["train"].update({"metric": "val_mse", "metric_direction": "maximize"})
    info.write_text(yaml.safe_dump(data))
    plan = RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"metric": "kpi"}))
    assert (plan.metric, plan.direction) == ("val_mse", Direction.MAXIMIZE)  # the skill's word, not the name's
    # the KPI named as itself: the skill's word too, and no "guessed from the name" note (there was one)
    named = RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"metric": "val_mse"}))
    assert named.direction == Direction.MAXIMIZE and not [n for n in named.notes if "val_mse" in n]
    data["actions"]["train"]["metric_direction"] = "down"
    info.write_text(yaml.safe_dump(data))
    with pytest.raises(SkillError, match=r"actions\.train\.metric_direction: 'down' is not allowed"):
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"metric": "kpi"}))


@needs_shared
def test_kpi_of_a_real_bank_model_that_declares_its_metric_per_action() -> None:
    assert SHARED is not None
    skill = SHARED / "skills" / "models" / "tao-finetune-nv-tesseract-forecasting"
    plan = RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings={"metric": "kpi"},
                                 dataset_keys={"dataset.csv": "/tmp/data.csv"}))
    assert (plan.metric, plan.direction) == ("val_mse", Direction.MINIMIZE)


def test_relative_paths_become_absolute_at_the_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = RunArgs(skill_dir="bank/x", workspace_path="runs/", train_dataset_uri="data/train",
                   eval_dataset_uri="s3://bucket/val", base_checkpoint="ckpt/m.pth",
                   dataset_keys={"a.b": "rel/x", "c": "builtin:digits"}).resolved()
    assert args.skill_dir == str(tmp_path / "bank" / "x") and args.workspace_path == str(tmp_path / "runs")
    assert args.train_dataset_uri == str(tmp_path / "data" / "train") and args.eval_dataset_uri == "s3://bucket/val"
    assert args.base_checkpoint == str(tmp_path / "ckpt" / "m.pth")
    assert args.dataset_keys == {"a.b": str(tmp_path / "rel" / "x"), "c": "builtin:digits"}


# ------------------------------------------------------------------ typed settings
BOOLS = ["automl_delete_intermediate_ckpt", "override_automl_disabled_params", "llm_analyzer_enabled",
         "llm_analyzer_narrow_ranges"]


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize(("given", "expected"), [(True, True), (False, False), ("false", False), ("FALSE", False),
                                                 ("No", False), ("true", True), ("yes", True), ("YES", True),
                                                 (np.bool_(True), True)])
def test_bool_settings_take_real_bools_or_exact_words(name: str, given: Any, expected: bool) -> None:
    assert getattr(AutoMLSettings.from_mapping({name: given}), name) is expected


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize("given", ["0", "1", "", "off", "f", 1, 0, 2.0, [], "truthy"])
def test_bool_settings_refuse_anything_else(name: str, given: Any) -> None:
    with pytest.raises(SettingsError, match=rf"automl_settings\.{name}: .* is not allowed; expected true or false"):
        AutoMLSettings.from_mapping({name: given})


def test_numpy_integers_are_integers_and_floats_are_not() -> None:
    settings = AutoMLSettings.from_mapping({"automl_max_concurrent": np.int64(2), "seed": np.int32(5)})
    assert settings.automl_max_concurrent == 2 and type(settings.automl_max_concurrent) is int
    with pytest.raises(SettingsError, match=r"automl_max_concurrent: 2\.0 is not allowed; expected an integer >= 1"):
        AutoMLSettings.from_mapping({"automl_max_concurrent": 2.0})


def test_default_budget_is_ten_recs_and_max_experiments_is_refused() -> None:
    assert AutoMLSettings().automl_max_recommendations == 10
    with pytest.raises(SettingsError, match=r"automl_max_experiments: 5 is not supported: .*recommendations"):
        AutoMLSettings.from_mapping({"algorithm": "autoresearch", "automl_max_experiments": 5})


def test_a_log_range_whose_schema_minimum_is_zero_is_said_once(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from conftest import small_schema

    schema = small_schema()
    schema["properties"]["train"]["properties"]["optim"]["properties"]["lr"]["minimum"] = 0
    skill = write_skill(tmp_path / "bank", schema=schema)
    plan = RunPlan.build(RunArgs(skill_dir=str(skill)))
    lr = plan.space["train.optim.lr"]
    assert lr.log and lr.low > 0  # type: ignore[union-attr]
    assert len(plan.notes) == 1 and "schema minimum is 0" in plan.notes[0] and "valid_min" in plan.notes[0]
    with caplog.at_level("WARNING"):
        AutoMLRunner(SpecReadingSDK(), skill).run(automl_settings=_settings("random", automl_max_recommendations=1),
                                                  workspace_path=tmp_path / "ws")
    assert caplog.text.count("which a log scale cannot reach") == 1
    chosen = RunPlan.build(RunArgs(skill_dir=str(skill),
                                   custom_param_ranges={"train.optim.lr": {"valid_min": 1e-3, "valid_max": 0.5}}))
    assert chosen.notes == ()
    # a valid_min of 0 given for a param put on a log scale automatically (not by an explicit scale 'log', which is
    # refused) is not silently replaced by the floor either
    zero = RunPlan.build(RunArgs(skill_dir=str(skill), custom_param_ranges={"train.optim.lr": {"valid_min": 0.0}}))
    assert zero.space["train.optim.lr"].low > 0  # type: ignore[union-attr]
    (note,) = zero.notes
    assert "valid_min 0.0 is not reachable on the log scale" in note and "scale to 'linear'" in note
    with pytest.raises(SearchSpaceError, match=r"valid_min=0\.0: a log scale cannot start at 0\.0.*> 0 for a log"):
        RunPlan.build(RunArgs(skill_dir=str(skill),
                              custom_param_ranges={"train.optim.lr": {"valid_min": 0.0, "scale": "log"}}))


def test_llm_timeout_is_generous_and_a_timeout_says_which_setting_raises_it() -> None:
    httpx = pytest.importorskip("httpx")
    openai = pytest.importorskip("openai")
    from tao_automl.llm.client import LLMClient, LLMConfig

    assert AutoMLSettings().llm_timeout_s == 300.0 and LLMConfig("http://h/v1", "m").timeout_s == 300.0
    client = LLMClient(LLMConfig("http://h/v1", "m", None, 2.0))
    reason = client.explain(openai.APITimeoutError(request=httpx.Request("POST", "http://h/v1/chat")))
    assert "timed out" in reason and "2 s" in reason and "automl_settings.llm_timeout_s" in reason


def test_status_mode_and_direction_are_enums_that_read_as_their_words() -> None:
    from tao_automl.brain.trials import FidelityMode
    from tao_automl.experiment.store import FINAL_STATES, RecStatus

    assert [s for s in RecStatus if s.is_final] == list(FINAL_STATES)
    assert not RecStatus.RUNNING.is_final and RecStatus("stopped").is_final
    for member in (RecStatus.SUCCESS, FidelityMode.STOPPING, Direction.MINIMIZE):
        assert member == member.value and f"{member}" == str(member) == member.value
    assert json_dumps({"s": RecStatus.FAILURE}) == '{"s": "failure"}'


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value)


def test_a_mapping_train_dataset_uri_in_the_cli_yaml_sets_exact_spec_keys(toy_skill: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from tao_automl.cli.run_config import load_run_config

    (tmp_path / "data" / "imgs").mkdir(parents=True)
    info_path = toy_skill / "references" / "skill_info.yaml"  # dataset_keys name declared inputs (or spec keys)
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["inputs"] = {"dataset.train.image_dir": {"type": "dir"}}
    info_path.write_text(yaml.safe_dump(info))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(toy_skill), "workspace_path": "ws",
                                      "train_dataset_uri": {"dataset.train.image_dir": "data/imgs"}}))
    loaded = load_run_config(config)
    assert loaded.train_dataset_uri is None
    assert loaded.dataset_keys == {"dataset.train.image_dir": str(tmp_path / "data" / "imgs")}  # config-relative
    assert main(["preflight", str(config)]) == 0, capsys.readouterr()


# -- spec_overrides given as a mapping, and the epoch key under a multi-fidelity brain ---------------------------
def test_a_mapping_override_is_checked_and_merged_leaf_by_leaf(toy_skill: Path, tmp_path: Path) -> None:
    """``train: {num_epochs: 3, optim: {...}}`` sets those leaves only: the rest of ``train`` (the searched params
    too) stays, and every recorded param is the value in the spec that ran."""
    sdk = SpecReadingSDK()
    result = AutoMLRunner(sdk, toy_skill).run(
        automl_settings=_settings("random", automl_max_recommendations=3), workspace_path=tmp_path / "ws",
        automl_hyperparameters=["train.optim.lr", "train.layers"],
        spec_overrides={"train": {"num_epochs": 3, "act": "gelu"}})
    for rec in result["history"]:
        ran = dict(flatten(yaml.safe_load((Path(rec["results_dir"]).parent / "train_spec.yaml").read_text())))
        assert ran["train.num_epochs"] == 3 and ran["train.act"] == "gelu" and ran["train.flag"] is False
        for key, value in rec["params"].items():
            assert ran[key] == value, (rec["rec_id"], key)


@pytest.mark.parametrize(("overrides", "error", "pattern"), [
    # a searched leaf inside a mapping: the recorded lr would not be what ran
    ({"train.num_epochs": 2, "train.optim": {"lr": 0.9}}, SearchSpaceError,
     r"^spec_overrides\.train\.optim\.lr: the key is also searched"),
    # bounds of a leaf inside a mapping (the whole section was replaced, num_epochs -5 accepted)
    ({"train": {"num_epochs": -5}}, UserInputError,
     r"^spec_overrides\.train\.num_epochs: -5 is not allowed; expected a value in \[1, 100\]"),
    ({"train": {"optim": {"lr": "fast"}}}, UserInputError, r"^spec_overrides\.train\.optim\.lr: 'fast' is not allowed"),
    # an unknown sub-key gets the same did-you-mean as a dotted key
    ({"train.optim": {"lrr": 0.1}}, UserInputError,
     r"unknown key 'train\.optim\.lrr' \(did you mean 'train\.optim\.lr'"),
    ({"train": {"act": "swish"}}, UserInputError,
     r"^spec_overrides\.train\.act: 'swish' is not allowed; expected one of"),
    # a mapping where the schema holds one value
    ({"train.num_epochs": {"max": 3}}, UserInputError,
     r"^spec_overrides\.train\.num_epochs: a mapping is not allowed; 'train\.num_epochs' holds a single int value"),
    ({"train": {"layers": {"a": 1}}}, UserInputError, r"^spec_overrides\.train\.layers: a mapping is not allowed"),
    ({"train.optim": {}}, UserInputError, r"^spec_overrides\.train\.optim: an empty mapping sets nothing"),
    ({"train": {"num_epochs": 3}, "train.num_epochs": 4}, UserInputError,
     r"^spec_overrides: 'train' and 'train\.num_epochs' both set 'train\.num_epochs'; give it once"),
])
def test_a_bad_leaf_inside_a_mapping_override_is_refused(overrides: dict[str, Any], error: type[Exception],
                                                        pattern: str, toy_skill: Path, tmp_path: Path) -> None:
    with pytest.raises(error, match=pattern) as info:
        AutoMLRunner(SpecReadingSDK(), toy_skill).run(automl_settings=_settings("random"),
                                                      spec_overrides=overrides, workspace_path=tmp_path / "ws",
                                                      automl_hyperparameters=["train.optim.lr", "train.layers"])
    assert info.value.field is not None and info.value.field.startswith("spec_overrides")
    assert not (tmp_path / "ws").exists()


def test_a_free_form_mapping_setting_takes_the_whole_mapping(tmp_path: Path) -> None:
    """A ``collection`` without ``properties`` (TAO's ``dataset.grid_map``) is one value: the mapping is it."""
    from conftest import small_schema

    schema = small_schema()
    schema["default"]["train"]["remap"] = {"a": 1}
    schema["properties"]["train"]["properties"]["remap"] = {"type": "collection", "default": {"a": 1}}
    skill = write_skill(tmp_path / "bank", schema=schema)
    plan = RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.layers"],
                                 spec_overrides={"train": {"remap": {"b": 2}}}))
    sample = plan.space.sample(np.random.default_rng(0))
    from tao_automl.render.job import render_job

    spec = render_job(plan.skill, sample, plan.ctx, rec_dir=tmp_path / "rec", results_dir=str(tmp_path / "r")).spec
    assert spec["train"]["remap"] == {"b": 2} and spec["train"]["optim"] == {"lr": 0.01}


def _is_multi_fidelity(algorithm: str, skill: Path) -> bool:
    return RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings=_settings(algorithm),
                                 automl_hyperparameters=["train.optim.lr", "train.layers"])).epoch_key is not None


@pytest.mark.parametrize("algorithm", sorted(set(ALGORITHMS) - LLM_BRAINS))
@pytest.mark.parametrize("overrides", [{"train.num_epochs": 2}, {"train": {"num_epochs": 2}}])
def test_the_epoch_key_in_spec_overrides_is_refused_under_a_multi_fidelity_brain(
        algorithm: str, overrides: dict[str, Any], toy_skill: Path) -> None:
    """The brain writes each rec's budget to the epoch key, so the override would be silently overwritten (every
    rec's spec had num_epochs 27); a single-fidelity brain keeps it."""
    args = RunArgs(skill_dir=str(toy_skill), automl_settings=_settings(algorithm), spec_overrides=overrides,
                   automl_hyperparameters=["train.optim.lr", "train.layers"])
    if not _is_multi_fidelity(algorithm, toy_skill):
        plan = RunPlan.build(args)
        assert plan.budget_context(None).spec_overrides == overrides
        return
    with pytest.raises(UserInputError) as info:
        RunPlan.build(args)
    assert str(info.value).startswith(f"spec_overrides.train.num_epochs: 2 would be overwritten: algorithm "
                                      f"{algorithm!r} sets each rec's train.num_epochs to its epoch budget")
    assert "automl_settings.automl_max_epochs" in str(info.value) and "\n" not in str(info.value)
    assert info.value.field == "spec_overrides.train.num_epochs"


def test_the_multi_fidelity_brains_are_the_ones_the_audit_named(toy_skill: Path) -> None:
    named = {"hyperband", "asha", "bohb", "dehb", "bfbo", "pbt", "hyperband_es"}
    assert {a for a in set(ALGORITHMS) - LLM_BRAINS if _is_multi_fidelity(a, toy_skill)} >= named


def test_cli_dry_run_refuses_the_epoch_override_with_exit_2(toy_skill: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    for algorithm, code in (("hyperband", 2), ("random", 0)):
        config.write_text(yaml.safe_dump({"skill_dir": str(toy_skill), "workspace_path": "ws",
                                          "automl_settings": _settings(algorithm),
                                          "spec_overrides": {"train.num_epochs": 2}}))
        assert main(["run", str(config), "--dry-run"]) == code, algorithm
        err = capsys.readouterr().err
        if code:
            (line,) = [x for x in err.splitlines() if x.startswith("error:")]
            assert "spec_overrides.train.num_epochs" in line and "automl_max_epochs" in line
    assert main(["preflight", str(config.parent / "run.yaml")]) in (0, 2)  # smoke: preflight has the same check


@pytest.mark.parametrize(("ranges", "field"), [
    ({"train.optim.lr": {"scale": "logit"}}, "custom_param_ranges.train.optim.lr"),  # lr's range reaches 1
    ({"train.num_epochs": {"valid_min": 1, "valid_max": 3}}, "custom_param_ranges.train.num_epochs"),  # disabled
])
def test_a_custom_range_the_param_cannot_take_names_that_range(ranges: dict[str, Any], field: str) -> None:
    """The error names the input that caused it (it said automl_hyperparameters, value [], which the user never
    set), with the range as its value."""
    from tao_automl.bank import builtin_skill_dir

    args = RunArgs(skill_dir=str(builtin_skill_dir("demo-digits-mlp")), custom_param_ranges=ranges,
                   automl_settings={"metric": "val_accuracy"})
    with pytest.raises(SearchSpaceError) as caught:
        RunPlan.build(args)
    assert caught.value.field == field and caught.value.value == next(iter(ranges.values()))
    assert str(caught.value.detail).startswith(field)


def test_promotions_on_a_skill_without_a_resume_key_are_said_to_train_from_scratch(toy_skill: Path) -> None:
    from tao_automl.bank import builtin_skill_dir

    settings = {"algorithm": "hyperband", "metric": "val_loss", "automl_max_epochs": 9, "automl_max_recommendations": 9}
    notes = RunPlan.build(RunArgs(skill_dir=str(toy_skill), automl_settings=settings)).notes
    assert any("names no resume_model key" in n and "trains its config from scratch" in n for n in notes)
    demo = RunArgs(skill_dir=str(builtin_skill_dir("demo-digits-mlp")),
                   automl_settings={**settings, "metric": "val_accuracy"})
    assert not any("resume_model" in n for n in RunPlan.build(demo).notes)  # the demo resumes its checkpoints


@pytest.mark.parametrize(("key", "algorithm"), [("results_dir", "bayesian"),
                                                ("train.resume_training_checkpoint_path", "hyperband")])
def test_an_override_of_a_key_the_runner_fills_is_refused(key: str, algorithm: str) -> None:
    """The runner writes the rec's results folder (every rec) and a promotion's checkpoint (brains that promote)
    into these keys; an override of them was silently replaced."""
    from tao_automl.bank import builtin_skill_dir

    settings = {"metric": "val_accuracy", "algorithm": algorithm, "automl_max_recommendations": 9}
    args = RunArgs(skill_dir=str(builtin_skill_dir("demo-digits-mlp")), spec_overrides={key: "/tmp/elsewhere"},
                   automl_settings=settings)
    with pytest.raises(UserInputError, match=f"spec_overrides.{key}: the runner sets it for every rec") as caught:
        RunPlan.build(args)
    assert caught.value.field == f"spec_overrides.{key}" and caught.value.value == "/tmp/elsewhere"


@pytest.mark.parametrize(("given", "key", "by"), [
    ({"train_dataset_uri": "builtin:digits"}, "dataset.train_path", "train_dataset_uri (data_sources.train places"),
    ({"train_dataset_uri": "builtin:digits"}, "dataset", "train_dataset_uri (data_sources.train places"),
    ({"dataset_keys": {"dataset.train_path": "/data/a.npz"}}, "dataset.train_path", "dataset_keys.dataset.train_path"),
])
def test_an_override_a_dataset_placement_would_replace_is_refused(given: dict[str, Any], key: str, by: str,
                                                                 tmp_path: Path) -> None:
    """The job trained on the URI's data while the override named other data, and nothing said so (the placement is
    written after the overrides). Refused by the run and failed by preflight; without the URI the override stands."""
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.runner.preflight import run_preflight

    value: Any = {"train_path": "/data/mine.npz"} if key == "dataset" else "/data/mine.npz"
    settings = {"metric": "val_accuracy", "algorithm": "random", "automl_max_recommendations": 2}
    args = RunArgs(skill_dir=str(builtin_skill_dir("demo-digits-mlp")), spec_overrides={key: value},
                   automl_settings=settings, workspace_path=str(tmp_path / "ws"), **given)
    with pytest.raises(UserInputError, match=f"would be replaced by {re.escape(by)}") as caught:
        RunPlan.build(args)
    assert caught.value.field == "spec_overrides.dataset.train_path"
    report = run_preflight(args)
    placement = [c for c in report.checks if c.check == "dataset_placement"]
    assert len(placement) == 1 and placement[0].ok is False and "would be replaced by" in placement[0].detail
    alone = RunArgs(skill_dir=args.skill_dir, spec_overrides={key: value}, automl_settings=settings)
    RunPlan.build(alone)  # nothing else sets it: the override is the data


def test_an_override_of_the_checkpoint_key_base_checkpoint_fills_is_refused(tmp_path: Path) -> None:
    """``base_checkpoint`` is written to the skill's pretrained-model key after ``spec_overrides``: an override of
    that key was silently replaced (the job loaded base_checkpoint while the run recorded the override). Refused by
    the run and by preflight; without base_checkpoint the override stands."""
    from conftest import write_skill
    from tao_automl.runner.preflight import run_preflight

    skill = write_skill(tmp_path / "bank", roles={"train.pretrained_model_path": "ptm_if_no_resume_model"})
    key, ckpt = "train.pretrained_model_path", tmp_path / "base.pth"
    ckpt.write_text("w")
    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2}
    args = RunArgs(skill_dir=str(skill), spec_overrides={key: "/tmp/mine.pth"}, base_checkpoint=str(ckpt),
                   automl_settings=settings, workspace_path=str(tmp_path / "ws"))
    with pytest.raises(UserInputError, match=f"spec_overrides.{key}: the runner sets it for every rec "
                                             f"\\(base_checkpoint '{re.escape(str(ckpt))}'\\)") as caught:
        RunPlan.build(args)
    assert caught.value.field == f"spec_overrides.{key}" and caught.value.value == "/tmp/mine.pth"
    [check] = [c for c in run_preflight(args).checks if c.check == "spec_overrides"]
    assert check.ok is False and "base_checkpoint" in check.detail
    alone = RunArgs(skill_dir=str(skill), spec_overrides={key: "/tmp/mine.pth"}, automl_settings=settings)
    assert RunPlan.build(alone).ctx.spec_overrides[key] == "/tmp/mine.pth"


def test_a_dataset_key_that_base_checkpoint_fills_is_refused(tmp_path: Path) -> None:
    """dataset_keys are written before the runner's own keys: a path given there for the key base_checkpoint fills
    was silently replaced (the job loaded base_checkpoint); refused by the run and by preflight alike."""
    from conftest import small_schema, write_skill
    from tao_automl.runner.preflight import run_preflight

    schema = small_schema()
    schema["default"]["train"]["pretrained_model_path"] = ""  # a key the job's spec has, as in TAO's schemas
    skill = write_skill(tmp_path / "bank", schema=schema,
                        roles={"train.pretrained_model_path": "ptm_if_no_resume_model"})
    key, ckpt = "train.pretrained_model_path", tmp_path / "base.pth"
    ckpt.write_text("w")
    args = RunArgs(skill_dir=str(skill), dataset_keys={key: str(tmp_path)}, base_checkpoint=str(ckpt),
                   automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2},
                   workspace_path=str(tmp_path / "ws"))
    with pytest.raises(UserInputError, match=f"dataset_keys.{key}: the runner sets it for every rec") as caught:
        RunPlan.build(args)
    assert caught.value.field == f"dataset_keys.{key}"
    [check] = [c for c in run_preflight(args).checks if c.check == "dataset_keys"]
    assert check.ok is False and "the runner sets it" in check.detail


def test_a_resume_checkpoint_override_stays_allowed_for_a_brain_that_never_promotes() -> None:
    """bayesian never promotes, so nothing overwrites the key: a user's own checkpoint to resume is kept."""
    from tao_automl.bank import builtin_skill_dir

    key = "train.resume_training_checkpoint_path"
    args = RunArgs(skill_dir=str(builtin_skill_dir("demo-digits-mlp")), spec_overrides={key: "/tmp/mine.npz"},
                   automl_settings={"metric": "val_accuracy", "algorithm": "bayesian"})
    assert RunPlan.build(args).ctx.spec_overrides[key] == "/tmp/mine.npz"  # refused before: "the runner sets it"


# -- what an audit of the bank's 25 networks found a job would get that the run never recorded or checked --------
def _toy_with(tmp_path: Path, **props: dict[str, Any]) -> Path:
    from conftest import small_schema

    schema = small_schema()
    train = schema["properties"]["train"]["properties"]
    for name, extra in props.items():
        train[name].update(extra)
    return write_skill(tmp_path / "bank", schema=schema)


@pytest.mark.parametrize(("extra", "value", "allowed"), [
    ({"minimum": 0.0, "math_cond": "> 0.0"}, 0.0, "a value in (0.0, 1.0] (the schema's bounds and math_cond '> 0.0')"),
    ({"math_cond": "!= 3"}, 3, "a value in [1, 6] except 3 (the schema's bounds and math_cond '!= 3')"),
    ({"maximum": 64, "math_cond": "^ 2"}, 48, "a power of 2 (the schema's math_cond '^ 2')"),
    ({"maximum": 64, "math_cond": "/ 8"}, 12, "a multiple of 8 (the schema's math_cond '/ 8')"),
])
def test_an_override_obeys_the_schemas_math_cond_as_a_searched_value_does(
        tmp_path: Path, extra: dict[str, Any], value: float, allowed: str) -> None:
    """spec_overrides were checked against minimum/maximum only: dino's `train.optim.lr: 0.0` (math_cond `> 0.0`)
    and `model.fix_refpoints_hw: 0` (`!= 0`) ran every rec with them, while a custom range there was refused."""
    key = "train.optim.lr" if isinstance(value, float) else "train.layers"
    if key == "train.optim.lr":
        skill = write_skill(tmp_path / "bank")
        from conftest import small_schema

        schema = small_schema()
        schema["properties"]["train"]["properties"]["optim"]["properties"]["lr"].update(extra)
        skill = write_skill(tmp_path / "bank2", schema=schema)
    else:
        skill = _toy_with(tmp_path, layers=extra)
    with pytest.raises(UserInputError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.act"], spec_overrides={key: value}))
    error = caught.value.to_json()
    assert (error["field"], error["value"], error["allowed"]) == (f"spec_overrides.{key}", value, allowed)
    fine = {"train.optim.lr": 0.5, "train.layers": 32 if "^" in str(extra) or "/" in str(extra) else 2}[key]
    RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.act"], spec_overrides={key: fine}))


def test_dataset_keys_may_not_replace_a_searched_or_a_numeric_value(tmp_path: Path) -> None:
    """`dataset_keys: {train.optim.lr: /some/dir}` put a path where every rec's searched lr belonged (params said
    lr=0.000188, the spec said the path) and preflight passed."""
    skill = write_skill(tmp_path / "bank")
    data = tmp_path / "data"
    data.mkdir()
    for key, hyper, why in (("train.optim.lr", None, "the key is searched"),
                            ("train.layers", ["train.act"], "the schema makes it an integer, not a path")):
        with pytest.raises(UserInputError) as caught:
            RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=hyper,
                                  dataset_keys={key: str(data)}))
        assert caught.value.field == f"dataset_keys.{key}" and why in str(caught.value), str(caught.value)


@needs_shared
@pytest.mark.parametrize(("model", "key", "value", "searched"), [
    ("tao-train-image-classification", "train.optim.betas[0]", 0.8, "train.optim.betas"),
    ("tao-train-dino", "train.optim.lr_steps[0]", 5, "train.optim.lr_steps"),
])
def test_an_indexed_override_of_a_searched_list_is_refused(model: str, key: str, value: Any, searched: str) -> None:
    """The un-indexed key was refused, `betas[0]: 0.8` was not: params said betas=[0.647, 0.143], the spec ran
    [0.8, 0.143]."""
    assert SHARED is not None
    with pytest.raises(SearchSpaceError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(SHARED / "skills" / "models" / model), spec_overrides={key: value},
                              automl_hyperparameters=[searched, "train.optim.lr"],
                              automl_settings={"override_automl_disabled_params": True}))
    assert caught.value.field == f"spec_overrides.{key}"
    assert f"the key is also searched (part of {searched}, which is searched)" in str(caught.value)


@needs_shared
def test_a_default_param_whose_default_is_a_special_value_and_whose_range_is_open_is_left_out(
        caplog: pytest.LogCaptureFixture) -> None:
    """pose-classification's default search had `dataset.window_size` in [-1, 9] (schema: min -1, no max, default -1,
    "A value of -1 specifies the original length"): zero-length and 1-9 frame windows. Left out, with the reason;
    named explicitly, it is searched."""
    assert SHARED is not None
    skill = str(SHARED / "skills" / "models" / "tao-train-pose-classification")
    with caplog.at_level("WARNING"):
        plan = RunPlan.build(RunArgs(skill_dir=skill))
    assert "dataset.window_size" not in plan.space.names and "train.grad_clip" not in plan.space.names
    assert "train.optim.lr" in plan.space.names
    assert ("dataset.window_size (its default -1 is a special value (\"value of -1 specifies the original length\") "
            "and the schema gives no upper bound") in caplog.text
    named = RunPlan.build(RunArgs(skill_dir=skill, custom_param_ranges={"dataset.window_size": {
        "valid_min": 30, "valid_max": 300}}))
    assert "dataset.window_size" in named.space.names


@needs_shared
def test_data_loader_defaults_are_left_out_of_the_default_search(caplog: pytest.LogCaptureFixture) -> None:
    """bevfusion's schema lists num_workers (x3) among its 6 AutoML defaults, and six other bank models
    `dataset.workers`: a data loader's worker count changes speed, not what the model learns, so the default search
    spent recs on noise. Left out, the reason said once for the group; named explicitly, they are searched. JSON
    readers (preflight's check, the describe_search_space tool) see what was left out and why."""
    assert SHARED is not None
    skill = str(SHARED / "skills" / "models" / "tao-train-bevfusion")
    with caplog.at_level("WARNING"):
        plan = RunPlan.build(RunArgs(skill_dir=skill))
    assert sorted(plan.space.names) == ["dataset.test_dataset.batch_size", "dataset.train_dataset.batch_size",
                                        "dataset.val_dataset.batch_size"]
    assert ("skipping 3 of the schema's default hyperparameter(s): dataset.train_dataset.num_workers, "
            "dataset.val_dataset.num_workers, dataset.test_dataset.num_workers (a data-loader setting: it changes "
            "speed, not what the model learns") in caplog.text
    named = RunPlan.build(RunArgs(skill_dir=skill, automl_hyperparameters=["dataset.train_dataset.num_workers"]))
    assert named.space.names == ["dataset.train_dataset.num_workers"]
    from tao_automl.agentapi.tools import describe_search_space
    from tao_automl.runner.preflight import run_preflight

    left_out = describe_search_space(skill)["left_out"]
    assert left_out == list(plan.space.skipped) and len(left_out) == 3
    assert left_out[0].startswith("dataset.train_dataset.num_workers (a data-loader setting")
    check = next(c.to_json() for c in run_preflight(RunArgs(skill_dir=skill)).checks if c.check == "search_space")
    assert check["left_out"] == left_out and "3 of the schema's default param(s) left out: " in check["detail"]
    # nothing left out: the key is there, empty (SKILL.md says to read it; it was missing)
    from tao_automl.bank import builtin_skill_dir

    demo = str(builtin_skill_dir("demo-digits-mlp"))
    assert describe_search_space(demo)["left_out"] == []
    check = next(c.to_json() for c in run_preflight(RunArgs(skill_dir=demo, automl_settings={"metric": "val_accuracy"}))
                 .checks if c.check == "search_space")
    assert check["left_out"] == []


def test_an_override_may_restate_the_templates_own_value_that_the_schema_options_omit(tmp_path: Path) -> None:
    """fast-foundation-stereo's template sets model.model_type: FastFoundationStereo (its skill_info needs it), which
    the schema's options leave out: every job gets it, yet the same value in spec_overrides was refused."""
    skill = write_skill(tmp_path / "bank")
    (skill / "references" / "spec_template_train.yaml").write_text(yaml.safe_dump({"train": {"act": "swish"}}))
    plan = RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.layers"],
                                 spec_overrides={"train.act": "swish"}))
    assert plan.base_spec["train"]["act"] == "swish"
    with pytest.raises(UserInputError, match=r"spec_overrides\.train\.act: 'elu' is not allowed "
                                             r"\(did you mean 'relu'\?\); expected one of"):
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.layers"],
                              spec_overrides={"train.act": "elu"}))


def test_a_number_yaml_read_as_text_says_how_to_write_it(tmp_path: Path) -> None:
    """PyYAML reads `1e-5` as a string: the refusal was right but did not say why ("needs a number")."""
    skill = write_skill(tmp_path / "bank")
    with pytest.raises(SearchSpaceError, match=r"needs a number \(YAML reads 5e-3 as text, not a number: write "
                                               r"5\.0e-3\)"):  # 1e-5, below the schema's 1e-4, was offered too
        RunPlan.build(RunArgs(skill_dir=str(skill), custom_param_ranges={"train.optim.lr": {"valid_min": "5e-3"}}))
    with pytest.raises(UserInputError, match=r"expected a finite number \(YAML reads 9e-1 as text, not a number: "
                                             r"write 9\.0e-1\)"):
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.layers"],
                              spec_overrides={"train.optim.lr": "9e-1"}))


@pytest.mark.parametrize("given, written", [("2e3", "2.0e+3"), ("1.5e3", "1.5e+3"), ("1e-5", "1.0e-5")])
def test_the_number_the_hint_says_to_write_is_one_a_run_config_reads_as_a_number(given: str, written: str) -> None:
    """For `2e3` the hint said "write 2.0e3", which PyYAML (YAML 1.1) reads as text too: its float needs the
    exponent's sign. `1.5e3` (a dot, no sign) is text as well and got no hint."""
    from tao_automl.cli.run_config import _UniqueKeyLoader
    from tao_automl.util.yaml_numbers import number_as_text_hint

    assert isinstance(yaml.load(f"x: {given}", Loader=_UniqueKeyLoader)["x"], str)  # the case the hint is for
    assert number_as_text_hint(given) == f" (YAML reads {given} as text, not a number: write {written})"
    assert yaml.load(f"x: {written}", Loader=_UniqueKeyLoader)["x"] == float(given)


@pytest.mark.parametrize("given, written", [("1_000e3", "1_000.0e+3"), (".5e3", "0.5e+3"), ("-.5e-3", "-0.5e-3"),
                                            ("+.5e3", "+0.5e+3"), ("1_000.5e3", "1_000.5e+3"), ("-2E3", "-2.0e+3")])
def test_every_exponent_form_a_run_config_reads_as_text_gets_a_spelling_it_reads_as_the_number(
        given: str, written: str) -> None:
    """`1_000e3`, `.5e3` and `-.5e-3` are text to PyYAML too but got no hint; a sign before a leading dot needs a 0
    (`-.5e+3` is text as well)."""
    from tao_automl.cli.run_config import _UniqueKeyLoader
    from tao_automl.util.yaml_numbers import number_as_text_hint

    assert isinstance(yaml.load(f"x: {given}", Loader=_UniqueKeyLoader)["x"], str)  # the case the hint is for
    assert number_as_text_hint(given) == f" (YAML reads {given} as text, not a number: write {written})"
    assert yaml.load(f"x: {written}", Loader=_UniqueKeyLoader)["x"] == float(given.replace("_", ""))


def test_a_number_read_as_text_and_out_of_range_is_not_offered_as_the_spelling_to_write(tmp_path: Path) -> None:
    """`poll_interval_s: -1e3` said "write -1.0e+3", which the range check then refused (0 < s <= 3600); so did a
    spec override below the schema's minimum, a custom range's bound outside the schema's and an integer setting
    below its lowest. Now the hint says the number is not allowed either, naming the range to meet."""
    with pytest.raises(SettingsError) as caught:
        AutoMLSettings.from_mapping({"metric": "val_loss", "poll_interval_s": "-1e3"})
    assert str(caught.value).endswith("expected a number of seconds, 0 < s <= 3600 (YAML reads -1e3 as text, not a "
                                      "number; the number, -1000.0, is not allowed either: 0 < s <= 3600)")
    with pytest.raises(SettingsError) as caught:
        AutoMLSettings.from_mapping({"metric": "val_loss", "automl_max_recommendations": "-1e1"})
    assert "write" not in str(caught.value) and "the number, -10, is not allowed either: an integer 1.." in str(
        caught.value)
    skill = write_skill(tmp_path / "bank")
    with pytest.raises(UserInputError) as caught:  # lr's schema minimum is 1e-4
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.layers"],
                              spec_overrides={"train.optim.lr": "-.5e-1"}))
    assert str(caught.value).endswith("(YAML reads -.5e-1 as text, not a number; the number, -0.05, is not allowed "
                                      "either: a value in [0.0001, 1.0] (the schema's bounds))"), caught.value
    with pytest.raises(UserInputError) as caught:  # within the range: the spelling to write
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.layers"],
                              spec_overrides={"train.optim.lr": ".5e0"}))
    assert str(caught.value).endswith("(YAML reads .5e0 as text, not a number: write 0.5e+0)"), caught.value
    with pytest.raises(SearchSpaceError) as caught:  # a custom range's bound: the schema's range
        RunPlan.build(RunArgs(skill_dir=str(skill), custom_param_ranges={"train.layers": {"valid_max": "7e0"}}))
    assert str(caught.value).endswith("(YAML reads 7e0 as text, not a number; the number, 7, is not allowed either: "
                                      "a value in [1, 6] (the schema's range))"), caught.value


def test_an_integer_yaml_read_as_text_says_how_to_write_it_as_an_integer(tmp_path: Path) -> None:
    """For an int the hint said "write 6.0e0", the float 6.0, which was refused in turn ("needs an integer")."""
    skill = write_skill(tmp_path / "bank")
    with pytest.raises(SearchSpaceError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), custom_param_ranges={"train.layers": {"valid_max": "6e0"}}))
    assert str(caught.value).endswith("needs an integer (YAML reads 6e0 as text, not a number: write 6)")
    with pytest.raises(UserInputError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.layers"],
                              spec_overrides={"train.num_epochs": "1e1"}))
    assert str(caught.value).endswith("expected an integer (YAML reads 1e1 as text, not a number: write 10)")
    with pytest.raises(SearchSpaceError) as caught:  # no integer to write: no hint
        RunPlan.build(RunArgs(skill_dir=str(skill), custom_param_ranges={"train.layers": {"valid_max": "1e-3"}}))
    assert "write" not in str(caught.value)
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    with pytest.raises(UserInputError) as caught:  # a platform_kwargs count said only "expected an integer >= 0"
        checked_job_kwargs(LocalSDK(jobs_dir=tmp_path / "jobs"), {"gpu_count": "1e0"})
    assert str(caught.value).endswith("expected an integer >= 0 (YAML reads 1e0 as text, not a number: write 1)")


@pytest.mark.parametrize(("hyper", "ranges", "field", "value", "allowed"), [
    (["train.optim.lrr"], None, "automl_hyperparameters", "train.optim.lrr",
     "'train.optim.lr' or another searchable param of the schema (`tao-automl models --scope automl`)"),
    (None, {"train.layers": {"valid_min": 1.5, "valid_max": 4}}, "custom_param_ranges.train.layers",
     {"valid_min": 1.5, "valid_max": 4}, "an integer"),
    (None, {"train.act": {"option_weights": [1]}}, "custom_param_ranges.train.act", {"option_weights": [1]},
     "3 option_weights, one per option"),
    (None, {"train.act": {"disable_list": ["relu", "tanh", "gelu"]}}, "custom_param_ranges.train.act",
     {"disable_list": ["relu", "tanh", "gelu"]}, "a disable_list that keeps at least one option"),
    # the message's "allowed: ..." wins over a "needs ..." before it (allowed was the whole rest of the message)
    (None, {"train.optim.lr": {"scale": "logit"}}, "custom_param_ranges.train.optim.lr", {"scale": "logit"},
     "a range strictly inside (0, 1): valid_min > 0 and valid_max < 1"),
    # names are a list, not the text of one ("['relu', 'tanh', 'gelu']")
    (None, {"train.act": {"valid_options": ["relu", "elu"]}}, "custom_param_ranges.train.act",
     {"valid_options": ["relu", "elu"]}, ["relu", "tanh", "gelu"]),
    (None, {"train.layers": {"option_weights": [1, 2]}}, "custom_param_ranges.train.layers",
     {"option_weights": [1, 2]}, ["valid_min", "valid_max", "scale"]),
])
def test_a_search_space_error_says_what_is_allowed_for_that_input(
        tmp_path: Path, hyper: list[str] | None, ranges: dict[str, Any] | None, field: str, value: Any,
        allowed: str) -> None:
    """SKILL.md tells agents to read error.allowed; these said only "searchable params of the schema, within its
    bounds" (and an unknown name's value was the whole list)."""
    with pytest.raises(SearchSpaceError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(write_skill(tmp_path / "bank")), automl_hyperparameters=hyper,
                              custom_param_ranges=ranges))
    error = caught.value.to_json()
    assert (error["field"], error["value"], error["allowed"]) == (field, value, allowed), error


@pytest.mark.parametrize(("settings", "noted"), [
    ({"algorithm": "pbt", "automl_max_recommendations": 6}, "below the 11 recs pbt needs"),
    ({"algorithm": "pbt", "automl_max_recommendations": 10}, "below the 11 recs pbt needs"),
    ({"algorithm": "pbt", "automl_max_recommendations": 11}, None),
    ({"algorithm": "hyperband", "automl_max_recommendations": 2}, "below the 4 recs hyperband needs"),
    # 3 recs of eta 3 plan brackets of one config per rung (each promoted unchosen): was not noted
    ({"algorithm": "hyperband", "automl_max_recommendations": 3}, "below the 4 recs hyperband needs"),
    ({"algorithm": "bohb", "automl_max_recommendations": 4, "automl_reduction_factor": 2},
     "below the 5 recs bohb needs"),
    # eta 5, 4 recs: a bracket of 2 configs promotes the better one; was noted as a random search
    ({"algorithm": "dehb", "automl_max_recommendations": 4, "automl_reduction_factor": 5,
      "automl_max_epochs": 25}, None),
    # asha: 3 recs of eta 3 end rung 0 with no rec left for the promotion (a real run: 3 recs at 1 epoch); was not
    # noted
    ({"algorithm": "asha", "automl_max_recommendations": 3}, "below the 4 recs asha needs"),
    ({"algorithm": "asha", "automl_max_recommendations": 4}, None),
    ({"algorithm": "asha", "automl_max_recommendations": 3, "fidelity_mode": "stopping"}, None),
])
def test_a_budget_that_makes_the_algorithm_a_random_search_is_noted(tmp_path: Path, settings: dict[str, Any],
                                                                   noted: str | None) -> None:
    """pbt with 6 recs and its default population of 10: every rec was generation 0 (no parent, no exploit), i.e.
    a random search, while preflight said `ok settings algorithm pbt` and status `algorithm pbt`."""
    skill = str(write_skill(tmp_path / "bank"))
    plan = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={"automl_max_epochs": 9, **settings}))
    found = [n for n in plan.notes if "this run is a random search" in n]
    if noted is None:
        assert not found
    else:
        assert len(found) == 1 and noted in found[0], plan.notes


def test_more_params_than_recs_is_noted(tmp_path: Path) -> None:
    """depth-anything-v2 searches 45 params by default; with the default budget of 10 recs the search is close to
    random, and nothing said so."""
    skill = str(write_skill(tmp_path / "bank"))
    few = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={"automl_max_recommendations": 3}))
    assert ("4 params are searched with a budget of 3 recs: with fewer recs than params no method can learn which "
            "of them matter") in " ".join(few.notes)
    enough = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={"automl_max_recommendations": 4}))
    assert not any("params are searched with a budget" in n for n in enough.notes)
    # random learns nothing at any budget: SKILL.md's own quick-start config (random, 8 params, 3 recs) was told
    # "the search is close to random"
    for algorithm in ("random", "asha"):  # configs drawn at random whatever the budget
        plain = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={"automl_max_recommendations": 3,
                                                                        "algorithm": algorithm}))
        assert not any("params are searched with a budget" in n for n in plain.notes), algorithm


@pytest.mark.parametrize(("settings", "note"), [
    # the demo's KPI: its kpi_direction decides
    ({"metric": "val_accuracy", "direction": "minimize"},
     "automl_settings.direction: metric 'val_accuracy' is minimized, but demo-digits-mlp's kpi_direction for it is "
     "maximize: the run will rank the lowest val_accuracy best; set its direction to maximize unless that is what "
     "you mean"),
    # another metric: its name decides
    ({"metric": "val_loss", "direction": "maximize"},
     "automl_settings.direction: metric 'val_loss' is maximized, but its name reads lower-is-better ('loss'): the "
     "run will rank the highest val_loss best; set its direction to minimize unless that is what you mean"),
    ({"metric": [{"name": "val_accuracy", "direction": "maximize"}, {"name": "train_loss", "direction": "maximize"}],
      "algorithm": "random"},
     # the list entry's field (it named automl_settings.metric, which holds every entry)
     "automl_settings.metric[1].direction: metric 'train_loss' is maximized, but its name reads lower-is-better "
     "('loss')"),
    ({"metric": "val_accuracy", "direction": "maximize"}, None),  # agrees
    ({"metric": "val_loss"}, None),  # no direction given: inferred, nothing to contradict
])
def test_a_direction_against_the_metric_is_noted(tmp_path: Path, settings: dict[str, Any], note: str | None,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """`direction: minimize` with val_accuracy passed preflight without a word, and the run would have ranked the
    worst rec best (an LLM-written config did exactly that). The plan notes it: preflight shows it, the dry run and
    the run log it."""
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.cli.dry_run import dry_run
    from tao_automl.cli.run_config import config_from_mapping

    mapping = {"platform": "local", "skill_dir": str(builtin_skill_dir("demo-digits-mlp")),
               "workspace_path": str(tmp_path / "ws"), "train_dataset_uri": "builtin:digits",
               "automl_settings": {"algorithm": "random", **settings}, "platform_kwargs": {"gpu_count": 0}}
    config = config_from_mapping(mapping, tmp_path)
    found = [n for n in RunPlan.build(config).notes if "direction" in n and "rank" in n]
    if note is None:
        assert not found
        return
    assert len(found) == 1 and found[0].startswith(note), found
    with caplog.at_level("WARNING"):
        dry_run(config, 1)
    assert note in caplog.text


@pytest.mark.parametrize(("metric", "doubt"), [
    ("power", "metric 'power': no word of its name says which way is better; maximising it"),
    ("lossless_score", "metric 'lossless_score' contains 'loss': minimising it"),
    ("val_loss", None), ("val_accuracy", None),
])
def test_a_direction_guessed_from_an_unclear_name_is_a_note_tools_and_preflight_show(
        toy_skill: Path, metric: str, doubt: str | None, caplog: pytest.LogCaptureFixture) -> None:
    """The guess was only a log line on stderr, which an agent on the MCP tools never sees: it is a plan note now,
    in describe_search_space's notes and preflight's search_space line, and logged once (as a note), not twice."""
    from tao_automl.agentapi.tools import call_tool

    with caplog.at_level("WARNING"):
        plan = RunPlan.build(RunArgs(skill_dir=str(toy_skill), automl_settings={"metric": metric}))
    assert "says which way" not in caplog.text and "minimising it" not in caplog.text  # the note carries it
    found = [n for n in plan.notes if n.startswith(f"metric {metric!r}")]
    described, is_error = call_tool("describe_search_space", {"skill_dir": str(toy_skill),
                                                               "automl_settings": {"metric": metric}})
    assert not is_error
    if doubt is None:
        assert found == [] and not any(n.startswith(f"metric {metric!r}") for n in described["notes"])
        return
    assert len(found) == 1 and found[0].startswith(doubt) and "automl_settings.direction" in found[0]
    assert any(n.startswith(doubt) for n in described["notes"])


def test_a_hyperparameter_named_by_the_models_shorthand_names_its_schema_key() -> None:
    """spec_overrides takes `learning_rate` (spec_shorthand_keys -> train.optim.lr); automl_hyperparameters said only
    that it is not in the schema and listed the defaults. Now it names the key to write."""
    from tao_automl.agentapi.tools import call_tool
    from tao_automl.bank import builtin_skill_dir

    args = RunArgs(skill_dir=str(builtin_skill_dir("demo-digits-mlp")), automl_hyperparameters=["learning_rate"],
                   automl_settings={"metric": "val_accuracy"})
    with pytest.raises(SearchSpaceError, match=r"'learning_rate' is the model's shorthand for 'train\.optim\.lr'") as e:
        RunPlan.build(args)
    assert (e.value.field, e.value.value, e.value.allowed) == ("automl_hyperparameters", "learning_rate",
                                                               ["train.optim.lr"])
    result, is_error = call_tool("describe_search_space", {"skill_dir": "builtin:demo-digits-mlp",
                                                           "automl_hyperparameters": ["learning_rate"]})
    assert is_error and result["error"]["allowed"] == ["train.optim.lr"]
    RunPlan.build(RunArgs(skill_dir=args.skill_dir, automl_hyperparameters=["train.optim.lr"],
                          automl_settings={"metric": "val_accuracy"}))  # the key itself is searched


@needs_shared
@pytest.mark.parametrize(("metric", "refused"), [("val_los", True), ("Val/Lsos", True), ("val_loss", False),
                                                 ("val_acc", False), ("val_loss_ema", False)])
def test_a_metric_one_slip_from_the_models_known_metric_is_refused_before_any_job(metric: str, refused: bool) -> None:
    """`metric: val_los` on a bank model (no reported_metrics declared) passed preflight, was maximised ("no word of
    its name says which way") and stopped the sweep by fail fast after 3 jobs; other names may be metrics the jobs
    write and are left to them."""
    assert SHARED is not None
    args = RunArgs(skill_dir=str(SHARED / "skills" / "models" / "tao-train-image-classification"),
                   automl_hyperparameters=["train.optim.lr"], automl_settings={"metric": metric})
    if not refused:
        RunPlan.build(args)
        return
    with pytest.raises(SettingsError) as caught:
        RunPlan.build(args)
    assert caught.value.field == "automl_settings.metric" and "did you mean 'val_loss'" in str(caught.value)


@needs_shared
@pytest.mark.parametrize(("kwargs", "field"), [
    ({"automl_hyperparameters": ["learning_rate", "batch_size"]}, "automl_hyperparameters"),
    ({"automl_hyperparameters": ["train.optim.lr"], "custom_param_ranges": {"learning_rate": {"valid_max": 1e-3}}},
     "custom_param_ranges.learning_rate"),
])
def test_a_shorthand_name_in_the_search_settings_points_at_its_schema_key_in_run_and_preflight(
        kwargs: dict[str, Any], field: str, tmp_path: Path) -> None:
    """DINO's spec_shorthand_keys map learning_rate to train.optim.lr: spec_overrides took the shorthand, the search
    settings said "'learning_rate' is not in the train schema" (preflight also listed every default, and the
    custom range named nothing)."""
    from tao_automl.runner.preflight import run_preflight

    assert SHARED is not None
    args = RunArgs(skill_dir=str(SHARED / "skills" / "models" / "tao-train-dino"), workspace_path=str(tmp_path / "w"),
                   platform_kwargs={"gpu_count": 0}, **kwargs)
    with pytest.raises(SearchSpaceError) as caught:
        RunPlan.build(args)
    assert caught.value.field == field and caught.value.allowed == ["train.optim.lr"]
    report = run_preflight(args)
    [space] = [c for c in report.checks if c.check == "search_space"]
    assert space.ok is False and "shorthand for 'train.optim.lr'" in space.detail


@needs_shared
@pytest.mark.parametrize(("kwargs", "close"), [
    ({"spec_overrides": {"train.optim.policy": "cosin"}}, "cosine"),
    ({"spec_overrides": {"model.backbone.type": "resnet_5O"}}, "resnet_50"),
    ({"automl_hyperparameters": ["train.optim.optim"],
      "custom_param_ranges": {"train.optim.optim": {"valid_options": ["adamw", "sgdd"]}}}, "sgd"),
    ({"automl_settings": {"direction": "max"}}, "maximize"),
])
def test_a_misspelt_option_value_gets_the_close_option(kwargs: dict[str, Any], close: str) -> None:
    """Key typos got a did-you-mean, option values did not: `resnet_5O` listed all 107 backbones without naming
    resnet_50."""
    assert SHARED is not None
    with pytest.raises((UserInputError, SearchSpaceError, SettingsError)) as caught:
        RunPlan.build(RunArgs(skill_dir=str(SHARED / "skills" / "models" / "tao-train-image-classification"),
                              **kwargs))
    assert f"did you mean {close!r}" in str(caught.value), str(caught.value)


@needs_shared
def test_a_custom_range_cut_by_a_fixed_depends_on_param_is_a_note() -> None:
    """DINO, custom_param_ranges num_select [10, 500] with num_queries fixed at 100: searched in [10, 100] with no
    word (num_select <= num_queries)."""
    assert SHARED is not None
    plan = RunPlan.build(RunArgs(skill_dir=str(SHARED / "skills" / "models" / "tao-train-dino"),
                                 automl_hyperparameters=["model.num_select", "train.optim.lr"],
                                 custom_param_ranges={"model.num_select": {"valid_min": 10, "valid_max": 500}},
                                 spec_overrides={"model.num_queries": 100}))
    [note] = [n for n in plan.notes if n.startswith("param model.num_select: custom_param_ranges")]
    assert "valid_max 500 -> 100" in note and "model.num_queries, which is not searched" in note
    free = RunPlan.build(RunArgs(skill_dir=str(SHARED / "skills" / "models" / "tao-train-dino"),
                                 automl_hyperparameters=["model.num_select", "train.optim.lr"],
                                 custom_param_ranges={"model.num_select": {"valid_min": 10, "valid_max": 90}},
                                 spec_overrides={"model.num_queries": 100}))
    assert not [n for n in free.notes if "custom_param_ranges valid" in n]


@needs_shared
def test_the_tool_chosen_ends_of_a_searched_list_are_marked_derived() -> None:
    """classification's train.optim.betas has no bounds; the tool searched each element in [0, 1) (sweeps ran
    [0.009, 0.27]) and `models --json` showed no derived_bounds for it."""
    assert SHARED is not None
    skill = str(SHARED / "skills" / "models" / "tao-train-image-classification")
    plan = RunPlan.build(RunArgs(skill_dir=skill, automl_hyperparameters=["train.optim.betas"]))
    assert plan.derived_bounds["train.optim.betas"] == ["low", "high"]
    given = RunPlan.build(RunArgs(skill_dir=skill, automl_hyperparameters=["train.optim.betas"],
                                  custom_param_ranges={"train.optim.betas": {"valid_min": [0.8, 0.9]}}))
    assert given.derived_bounds["train.optim.betas"] == ["high"]
    # pose-classification's momentum: schema [0, inf); the tool searches it by its odds, [0.47, 0.989]: both ends are
    # its choice (derived_bounds said only "high", so 0.47 read as the schema's)
    pose = RunPlan.build(RunArgs(skill_dir=str(SHARED / "skills" / "models" / "tao-train-pose-classification"),
                                 automl_hyperparameters=["train.optim.momentum"]))
    assert pose.derived_bounds["train.optim.momentum"] == ["low", "high"]


@pytest.mark.parametrize(("weights", "field", "allowed"), [
    ([1], "schema property train.act", "2 finite numbers >= 0, one per option ['relu', 'gelu']"),
    (["1", "2"], "schema property train.act", "2 finite numbers >= 0, one per option ['relu', 'gelu']"),
])
def test_a_schema_option_weights_error_names_the_schema_field(tmp_path: Path, weights: list[Any], field: str,
                                                               allowed: str) -> None:
    """A schema whose own option_weights did not fit its options was reported as "automl_hyperparameters: schema
    option_weights of 'train.act' ..." (field automl_hyperparameters) for a run that named no param."""
    schema = {"automl_default_parameters": ["train.act"], "properties": {"train": {"type": "collection", "properties": {
        "act": {"type": "categorical", "default": "relu", "valid_options": ["relu", "gelu"], "option_weights": weights},
        "num_epochs": {"type": "int", "default": 3}}}}}
    with pytest.raises(SearchSpaceError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(write_skill(tmp_path / "bank", schema=schema))))
    error = caught.value.to_json()
    assert (error["field"], error["value"], error["allowed"]) == (field, weights, allowed), error
    assert str(caught.value).startswith("schema option_weights of 'train.act'") and "; allowed: 2 finite" in str(
        caught.value)


def test_an_override_of_a_number_with_options_must_be_one_of_them(tmp_path: Path) -> None:
    """An int with valid_options [8, 16, 32] is searched over those options only; an override of 24 (inside its
    bounds [1, 64] but no option) was accepted while a searched value of 24 could never be proposed."""
    from conftest import small_schema

    schema = small_schema()
    schema["properties"]["train"]["properties"]["bs"] = {"type": "int", "default": 16, "minimum": 1, "maximum": 64,
                                                         "valid_options": [8, 16, 32]}
    skill = str(write_skill(tmp_path / "bank", schema=schema))
    with pytest.raises(UserInputError, match=r"^spec_overrides\.train\.bs: 24 is not allowed; expected one of 8, 16, "
                                             r"32$"):
        RunPlan.build(RunArgs(skill_dir=skill, automl_hyperparameters=["train.layers"],
                              spec_overrides={"train.bs": 24}))
    plan = RunPlan.build(RunArgs(skill_dir=skill, automl_hyperparameters=["train.layers"],
                                 spec_overrides={"train.bs": 32}))  # an option: accepted
    assert plan.space.names == ["train.layers"]


def test_a_schema_relation_its_own_ranges_cannot_meet_is_the_schemas_fault(tmp_path: Path) -> None:
    """hi (in [1, 40]) > lo (in [50, 100]) by the schema's depends_on: preflight said "automl_hyperparameters:
    relation ... cannot hold" with value [] and allowed "searchable params of the schema", for a run naming none."""
    from conftest import small_schema

    schema = small_schema()
    schema["automl_default_parameters"] = ["train.lo", "train.hi"]
    schema["properties"]["train"]["properties"].update({
        "lo": {"type": "int", "default": 60, "minimum": 50, "maximum": 100},
        "hi": {"type": "int", "default": 30, "minimum": 1, "maximum": 40, "depends_on": "train.lo",
               "math_cond": "> depends_on"}})
    with pytest.raises(SearchSpaceError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(write_skill(tmp_path / "bank", schema=schema))))
    assert str(caught.value).startswith("schema property train.hi: relation train.hi > train.lo cannot hold: train.hi "
                                        "in [1, 40] (int), train.lo in [50, 100] (int) (the schema's depends_on); "
                                        "allowed: ranges of train.hi and train.lo")
    error = caught.value.to_json()
    assert error["field"] == "schema property train.hi"
    assert error["allowed"] == "ranges of train.hi and train.lo where the schema's depends_on relation can hold"


def _two_int_schema() -> dict[str, Any]:
    """A space of 3 x 4 = 12 configs: two ints and nothing else searched."""
    return {"automl_default_parameters": ["train.a", "train.b"], "automl_disabled_parameters": [],
            "default": {"train": {"a": 1, "b": 1, "num_epochs": 1}},
            "properties": {"train": {"type": "collection", "properties": {
                "a": {"type": "int", "default": 1, "minimum": 1, "maximum": 3, "automl_enabled": True},
                "b": {"type": "int", "default": 1, "minimum": 1, "maximum": 4, "automl_enabled": True},
                "num_epochs": {"type": "int", "default": 1, "minimum": 1, "maximum": 100}}}}}


@pytest.mark.parametrize("algorithm", ["tpe", "bayesian", "random", "auto"])
def test_a_budget_above_the_spaces_configs_says_the_rest_repeat(tmp_path: Path, algorithm: str) -> None:
    """tpe with 20 recs on a 3 x 4 int space ran the 12 configs, then 8 repeats, and neither preflight nor the run
    said that the budget outruns the space (the user saw rec 19 with rec 6's config and no word why)."""
    skill = str(write_skill(tmp_path / "bank", schema=_two_int_schema()))
    over = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={"algorithm": algorithm,
                                                                   "automl_max_recommendations": 20}))
    said = [n for n in over.notes if "distinct configs" in n]
    assert len(said) == 1, over.notes
    assert ("the search space holds 12 distinct configs, fewer than automl_max_recommendations=20: the first 12 recs "
            "try each once, and the last 8 repeat configs that already ran") in said[0]
    exact = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={"algorithm": algorithm,
                                                                    "automl_max_recommendations": 12}))
    assert not any("distinct configs" in n for n in exact.notes), exact.notes


@pytest.mark.parametrize(("algorithm", "budget"), [("hyperband", 16), ("bohb", 16), ("pbt", 16)])
def test_a_multi_fidelity_budget_that_starts_no_more_configs_than_the_space_holds_is_not_noted(
        tmp_path: Path, algorithm: str, budget: int) -> None:
    """hyperband/bohb with 16 recs (max_epochs 9, eta 3) start 12 configs from scratch, the rest are promotions, and
    pbt's population of 10 is all it starts: none repeats a config of the 12, yet the plan said that once each had
    started it starts configs again, and advised lowering the budget to 12 (which starts only 9 with hyperband)."""
    skill = str(write_skill(tmp_path / "bank", schema=_two_int_schema()))
    plan = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={
        "algorithm": algorithm, "automl_max_recommendations": budget, "automl_max_epochs": 9}))
    assert not any("distinct configs" in n for n in plan.notes), plan.notes


def test_a_multi_fidelity_note_counts_the_configs_its_plan_starts(tmp_path: Path) -> None:
    """hyperband with 20 recs plans 16 starts from scratch on 12 configs: 4 repeat; asha in stopping mode starts a
    config for every rec, as a single-fidelity brain does."""
    skill = str(write_skill(tmp_path / "bank", schema=_two_int_schema()))
    plan = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={
        "algorithm": "hyperband", "automl_max_recommendations": 20, "automl_max_epochs": 9}))
    said = [n for n in plan.notes if "distinct configs" in n]
    assert len(said) == 1 and "hyperband starts 16 configs from scratch" in said[0] \
        and "the last 4 of them repeat configs already started" in said[0], said
    stopping = RunPlan.build(RunArgs(skill_dir=skill, automl_settings={
        "algorithm": "asha", "fidelity_mode": "stopping", "automl_max_recommendations": 20, "automl_max_epochs": 9}))
    said = [n for n in stopping.notes if "distinct configs" in n]
    assert len(said) == 1 and "asha starts 20 configs from scratch" in said[0] \
        and "the last 8 of them repeat configs already started" in said[0], said


def test_a_relation_laden_space_is_enumerated_only_until_the_budget_is_reached(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """distinct_configs enumerated every config of a space with relations (50 x 40 x 25 ints, a <= b: 50,000 repairs,
    0.25 s on every plan, preflight and run alike) to tell whether a budget of 20 outruns it; it stops at the
    budget's count of distinct configs now, and still counts a space smaller than the budget exactly."""
    from tao_automl.runner import plan_notes
    from tao_automl.space.search_space import IntParam, Relation, SearchSpace

    real = plan_notes.all_configs
    drawn = [0]

    def counted(space: SearchSpace) -> Any:
        for config in real(space):
            drawn[0] += 1
            yield config

    monkeypatch.setattr(plan_notes, "all_configs", counted)
    space = SearchSpace([IntParam("a", 1, 50), IntParam("b", 1, 40), IntParam("c", 1, 25)],
                        relations=(Relation("a", "<=", "b"),))
    assert plan_notes.distinct_configs(space, 20) is None
    assert drawn[0] < 1000, drawn
    small = SearchSpace([IntParam("a", 1, 4), IntParam("b", 1, 4)], relations=(Relation("a", "<=", "b"),))
    assert plan_notes.distinct_configs(small, 11) == 10 and plan_notes.distinct_configs(small, 10) is None


def test_a_misspelt_range_key_is_named_where_the_tool_derived_that_end(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """README's own-model example with the schema's `"maximum"` misspelt `"maximun"`: preflight passed, its note
    saying only "upper bound derived: schema has none", so the typo went unseen. The note now names the key the
    schema does have and the one it may mean; a key of another kind (`description`) is not taken for one."""
    from conftest import small_schema

    readme_says(r"a key of the property that looks like a misspelt end, `maximun`, is named with a did-you-mean: "
                r"`range_key_typo` in `models --json`")
    schema = small_schema()
    lr = schema["properties"]["train"]["properties"]["optim"]["properties"]["lr"]
    lr["maximun"] = lr.pop("maximum")
    lr["scale"] = "log"
    skill = write_skill(tmp_path / "bank", schema=schema)
    plan = RunPlan.build(RunArgs(skill_dir=str(skill)))
    assert plan.derived_bounds["train.optim.lr"] == ["high"]
    [note] = [n for n in plan.notes if n.startswith("range ends derived")]
    assert ("train.optim.lr [0.0001, 1.0] (float, log scale) (upper bound derived: schema has none; its property "
            "has 'maximun': did you mean 'maximum'?)") in note, note
    ok = RunPlan.build(RunArgs(skill_dir=str(write_skill(tmp_path / "ok", schema=small_schema()))))
    assert not [n for n in ok.notes if "did you mean" in n]
    # `models` shows the same (text and JSON)
    assert main(["models", "--skill-bank", str(tmp_path / "bank"), "--json"]) == 0
    [model] = json.loads(capsys.readouterr().out)["runnable"]
    lr_entry = next(p for p in model["params"] if p["name"] == "train.optim.lr")
    assert lr_entry["range_key_typo"] == "its property has 'maximun': did you mean 'maximum'?"
    assert main(["models", "--skill-bank", str(tmp_path / "bank")]) == 0
    assert "(upper bound derived: schema has none; its property has 'maximun': did you mean 'maximum'?)" in \
        capsys.readouterr().out


def test_an_int_with_float_bounds_reads_its_range_as_ints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An int param whose schema bounds are JSON floats (``"minimum": 1.0, "maximum": 100.0``) was refused with
    ``expected a value in [1.0, 100.0]`` (a spec override, --dry-run, preflight, an epoch budget), while `models`
    showed its range as ``[1, 100] (int)``: an int range reads as ints in each of them."""
    from conftest import small_schema

    schema = small_schema()
    train = schema["properties"]["train"]["properties"]
    train["num_epochs"].update(minimum=1.0, maximum=100.0)
    train["layers"].update(minimum=1.0, maximum=6.0, math_cond="> 0.0")
    skill = write_skill(tmp_path / "bank", schema=schema)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(skill), "workspace_path": "ws",
                                      "automl_settings": _settings("random"),
                                      "spec_overrides": {"train.num_epochs": 500}}))
    for command in (["run", str(config), "--dry-run"], ["preflight", str(config)]):
        assert main(command) == 2, command
        out = capsys.readouterr()
        said = out.err + out.out
        assert "expected a value in [1, 100] (the schema's bounds)" in said and "1.0" not in said, said
    with pytest.raises(SettingsError, match=r"expected a value in \[1, 100\] \(the schema's"):
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings=_settings("hyperband", automl_max_epochs=500)))
    with pytest.raises(UserInputError, match=r"expected a value in \[1, 6\] \(the schema's bounds and math_cond"):
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_hyperparameters=["train.optim.lr"],
                              spec_overrides={"train.layers": 9}))
    assert main(["models", "--skill-bank", str(tmp_path / "bank")]) == 0
    assert "[1, 6] (int)" in capsys.readouterr().out


def test_an_epoch_key_searched_for_its_automl_enabled_flag_is_named_as_such(tmp_path: Path) -> None:
    """A schema without automl_default_parameters searches every automl_enabled leaf (9725404); when that takes in
    the epoch key and a multi-fidelity algorithm refuses it, the error named automl_default_parameters, a list the
    schema does not have. It names the key's automl_enabled flag in the schema instead, and what to do."""
    from conftest import small_schema

    schema = small_schema()
    del schema["automl_default_parameters"]
    schema["properties"]["train"]["properties"]["num_epochs"]["automl_enabled"] = True
    skill = write_skill(tmp_path / "bank", schema=schema)
    with pytest.raises(UserInputError) as caught:
        RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings=_settings("asha")))
    said = f"{caught.value} {caught.value.field} {caught.value.hint}"
    assert caught.value.field == "schema property train.num_epochs", said
    assert "(the schema has no automl_default_parameters and its automl_enabled is true)" in str(caught.value), said
    assert "automl_enabled: false" in str(caught.value.hint), said

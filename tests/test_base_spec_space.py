"""The space is built from the base spec a job really gets (template and spec_overrides over the schema defaults):
depends_on bounds, defaults and derived range ends; preflight, the dry run, the run plan and `models` agree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import small_schema, write_skill
from tao_automl.bank.inventory import model_status
from tao_automl.cli.bank_commands import _models_text
from tao_automl.cli.dry_run import dry_run
from tao_automl.cli.run_config import config_from_mapping
from tao_automl.errors import SearchSpaceError
from tao_automl.runner.plan import RunPlan
from tao_automl.runner.preflight import run_preflight

BANK = Path(os.environ.get("TAO_TEST_BANK") or Path(__file__).resolve().parents[2] / "shared" / "tao-bank")


def _schema() -> dict[str, Any]:
    schema = small_schema()
    train = schema["properties"]["train"]["properties"]
    train["queries"] = {"type": "int", "default": 300, "minimum": 1, "parent_param": "TRUE"}
    train["select"] = {"type": "int", "default": 100, "minimum": 1, "depends_on": "train.queries"}
    train["batch"] = {"type": "int", "default": 4, "minimum": 1}
    schema["default"]["train"].update(queries=300, select=100, batch=4)
    return schema


def _skill(tmp_path: Path, template: dict[str, Any] | None = None) -> Path:
    skill = write_skill(tmp_path / "bank", schema=_schema())
    if template is not None:
        (skill / "references" / "spec_template_train.yaml").write_text(yaml.safe_dump(template))
    return skill


def _config(skill: Path, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"platform": "local", "skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
            "automl_hyperparameters": ["train.select", "train.optim.lr"],
            "automl_settings": {"algorithm": "random", "automl_max_recommendations": 8}, **extra}


def test_an_overridden_parent_bounds_the_searched_dependent_in_the_plan_preflight_and_dry_run(tmp_path: Path) -> None:
    skill = _skill(tmp_path)
    config = config_from_mapping(_config(skill, tmp_path, spec_overrides={"train.queries": 100}), tmp_path)
    plan = RunPlan.build(config)
    assert (plan.space["train.select"].low, plan.space["train.select"].high) == (1, 100)  # type: ignore[union-attr]
    recs = dry_run(config, 8)
    assert len(recs) == 8 and all(r.params["train.select"] <= r.spec["train"]["queries"] == 100 for r in recs)
    report = run_preflight(config)
    assert report.ok, report.text()


@pytest.mark.parametrize("template, overrides, where", [
    (None, {"train.queries": 50}, "spec_overrides.train.queries"),
    ({"train": {"queries": 50}}, {}, "the spec template"),
])
def test_a_fixed_parent_that_leaves_no_range_is_refused_by_plan_and_preflight_alike(
        tmp_path: Path, template: dict[str, Any] | None, overrides: dict[str, Any], where: str) -> None:
    skill = _skill(tmp_path, template)
    config = config_from_mapping(_config(skill, tmp_path, spec_overrides=overrides,
                                         custom_param_ranges={"train.select": {"valid_min": 60}}), tmp_path)
    with pytest.raises(SearchSpaceError, match=rf"train.queries is fixed at 50 \(from {where}\)"):
        RunPlan.build(config)
    report = run_preflight(config)
    (failed,) = report.failed
    assert failed.check == "search_space" and "'train.select'" in failed.detail and f"from {where}" in failed.detail
    with pytest.raises(SearchSpaceError, match=r"train\.queries is fixed at 50"):
        dry_run(config, 2)


def test_the_template_value_is_the_default_and_derived_ends_are_marked(tmp_path: Path) -> None:
    skill = _skill(tmp_path, {"train": {"batch": 16}})
    config = config_from_mapping(_config(skill, tmp_path, automl_hyperparameters=["train.batch", "train.queries"]),
                                 tmp_path)
    plan = RunPlan.build(config)
    assert plan.space["train.batch"].high == 64 and plan.space["train.batch"].default == 16  # type: ignore[union-attr]
    assert dict(plan.derived_bounds) == {"train.batch": ["high"], "train.queries": ["high"]}
    (note,) = [n for n in plan.notes if "derived" in n]
    assert "train.batch [1, 64] (int) (upper bound derived: schema has none)" in note
    checks = {c["check"]: c for c in run_preflight(config).to_json()["checks"]}
    assert checks["search_space"]["derived_bounds"] == {"train.batch": ["high"], "train.queries": ["high"]}
    assert "upper bound derived: schema has none" in checks["search_space"]["detail"]


def test_models_shows_the_value_a_job_gets_with_the_schema_default_beside_it(tmp_path: Path) -> None:
    schema = _schema()
    schema["automl_default_parameters"] = ["train.batch", "train.layers"]
    skill = write_skill(tmp_path / "bank", schema=schema)
    (skill / "references" / "spec_template_train.yaml").write_text(yaml.safe_dump({"train": {"batch": 16}}))
    params = {p["name"]: p for p in model_status(skill).params}
    assert params["train.batch"] == {"name": "train.batch", "type": "int", "range": "[1, 64] (int)", "default": 16,
                                     "schema_default": 4, "derived_bounds": ["high"]}
    assert "schema_default" not in params["train.layers"] and "derived_bounds" not in params["train.layers"]
    status = model_status(skill)
    text = _models_text({"bank": "b", "runnable": [{**status.to_json(), "skill_dir": str(skill)}], "blocked": [],
                         "automl_disabled_count": 0})
    row = next(line for line in text.splitlines() if "train.batch" in line)
    assert "[1, 64] (int) (upper bound derived: schema has none)" in row and "16 (schema default 4)" in row


@pytest.mark.parametrize("name, template_value, searched", [
    ("train.act", "tanh", True), ("train.act", "swish", False), ("train.flag", True, True)])
def test_models_shows_the_template_value_of_a_choice_or_flag_param_as_its_default(
        tmp_path: Path, name: str, template_value: Any, searched: bool) -> None:
    """A categorical or bool param's `default` in `models` is the template's value a job gets (the dry run's spec
    holds it when the param is not searched), not the schema default shown beside it (it showed relu/relu)."""
    skill = write_skill(tmp_path / "bank")
    group, key = name.split(".")
    (skill / "references" / "spec_template_train.yaml").write_text(yaml.safe_dump({group: {key: template_value}}))
    param = {p["name"]: p for p in model_status(skill).params}[name]
    config = config_from_mapping({"platform": "local", "skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
                                  "automl_hyperparameters": ["train.optim.lr"],
                                  "automl_settings": {"algorithm": "random", "metric": "val_loss"}}, tmp_path)
    (rec,) = dry_run(config, 1)
    assert rec.spec[group][key] == template_value == param["default"]
    assert param["schema_default"] == small_schema()["default"]["train"][key] != template_value
    assert param.get("default_searched", True) is searched


@pytest.mark.skipif(not (BANK / "skills" / "models" / "tao-train-grounding-dino").is_dir(), reason="no tao-bank")
@pytest.mark.parametrize("model, overrides, searched, holds", [
    ("tao-train-grounding-dino", {"model.num_queries": 100}, ["model.num_select", "train.optim.lr"],
     lambda p, s: p["model.num_select"] <= s["model"]["num_queries"] == 100),
    ("tao-train-dino", {"dataset.augmentation.train_random_crop_min": 1000},
     ["dataset.augmentation.train_random_crop_max"],
     lambda p, s: p["dataset.augmentation.train_random_crop_max"]
     > s["dataset"]["augmentation"]["train_random_crop_min"] == 1000),
])
def test_the_audit_repros_on_the_real_bank(tmp_path: Path, model: str, overrides: dict[str, Any],
                                           searched: list[str], holds: Any) -> None:
    from tao_automl.bank.skill import load_skill

    data = tmp_path / "data"
    data.mkdir()
    skill_dir = BANK / "skills" / "models" / model
    inputs = load_skill(skill_dir).action_info.get("inputs") or {}  # every declared input given, as a user must
    config = config_from_mapping({
        "platform": "local", "skill_dir": str(skill_dir), "workspace_path": str(tmp_path),
        "dataset_keys": {key: str(data) for key in inputs}, "spec_overrides": overrides,
        "automl_hyperparameters": searched,
        "automl_settings": {"algorithm": "random", "automl_max_recommendations": 6}}, tmp_path)
    recs = dry_run(config, 6)
    assert len(recs) == 6 and all(holds(r.params, r.spec) for r in recs)


def test_the_describe_search_space_tool_builds_from_the_template_and_names_derived_ends(tmp_path: Path) -> None:
    from tao_automl.agentapi.tools import describe_search_space

    skill = _skill(tmp_path, {"train": {"batch": 16}})
    out = describe_search_space(str(skill), automl_hyperparameters=["train.batch"])
    (batch,) = [p for p in out["search_space"] if p.get("name") == "train.batch"]
    assert (batch["high"], batch["default"]) == (64, 16) and out["derived_bounds"] == {"train.batch": ["high"]}

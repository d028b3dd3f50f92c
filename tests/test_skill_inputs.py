"""What a run reads from its skill, checked before anything starts: typed ``skill_info.yaml`` fields, the metric
against the skill's ``reported_metrics``, ``base_checkpoint`` (a key that takes it; the path on the local
platform); the message of a job that reported another metric than the run's; a schema warning said once."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_helpers import cli
from conftest import small_schema, write_skill
from tao_automl.bank import builtin_skill_dir
from tao_automl.bank.inventory import model_status
from tao_automl.bank.skill import load_skill
from tao_automl.cli.dry_run import dry_run
from tao_automl.cli.main import main
from tao_automl.cli.preflight import run_preflight
from tao_automl.cli.run_config import load_run_config
from tao_automl.errors import SettingsError, SkillError, UserInputError
from tao_automl.metrics.job import missing_metric_message, no_metric_message
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.runner.plan import RunPlan
from tao_automl.runner.run_args import RunArgs
from test_bank_tools import SHARED, needs_shared
from test_run_plan import SpecReadingSDK, _settings


def _demo(tmp_path: Path, **info: Any) -> Path:
    """A copy of the built-in demo skill with ``info`` written over its skill_info.yaml keys."""
    skill = tmp_path / "demo"
    shutil.copytree(builtin_skill_dir("demo-digits-mlp"), skill)
    path = skill / "references" / "skill_info.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **info}))
    return skill


def _config(tmp_path: Path, skill: Path | str, metric: Any = "val_accuracy", **extra: Any) -> Path:
    config = {"platform": "local", "skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
              "train_dataset_uri": "builtin:digits", "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
              "automl_settings": {"algorithm": "random", "metric": metric, "automl_max_recommendations": 2},
              "spec_overrides": {"train.num_epochs": 1}, "platform_kwargs": {"gpu_count": 0}, **extra}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _checks(report: Any) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in report.to_json()["checks"]}


# ------------------------------------------------------------------ skill_info.yaml fields
@pytest.mark.parametrize(("info", "field", "value", "allowed"), [
    ({"kpi_direction": "upward"}, "kpi_direction", "upward", ["minimize", "maximize"]),
    ({"kpi_direction": "Maximize"}, "kpi_direction", "Maximize", ["minimize", "maximize"]),
    ({"kpi_metric": 5}, "kpi_metric", 5, "a non-empty metric name (a string)"),
    ({"kpi_metric": ""}, "kpi_metric", "", "a non-empty metric name (a string)"),
    ({"kpi_metric": "val_acc"}, "kpi_metric", "val_acc", ["val_accuracy", "val_loss", "train_loss"]),
    ({"reported_metrics": "val_accuracy"}, "reported_metrics", "val_accuracy", "a list of metric names"),
    ({"reported_metrics": ["val_accuracy", 3]}, "reported_metrics[1]", 3, "a non-empty metric name (a string)"),
    ({"reported_metrics": ["val_accuracy", " val_loss"]}, "reported_metrics[1]", " val_loss", None),
    ({"automl_enabled": "yes"}, "automl_enabled", "yes", [True, False]),
    ({"name": ["demo"]}, "name", ["demo"], "a non-empty string"),
    ({"container_image": 7}, "container_image", 7, "a non-empty string"),
    ({"spec_shorthand_keys": ["num_epochs"]}, "spec_shorthand_keys", ["num_epochs"], "a mapping"),
    ({"spec_shorthand_keys": {"num_epochs": 3}}, "spec_shorthand_keys.num_epochs", 3, "a dotted spec key"),
    ({"spec_params": {"train": ["results_dir"]}}, "spec_params.train", ["results_dir"], "a mapping"),
    ({"data_sources": {"train": {"dataset.train_path": "train_datasets"}}}, "data_sources.train.dataset.train_path",
     "train_datasets", "a mapping (source, path, ...)"),
    ({"spec_templates": {"train": 1}}, "spec_templates.train", 1, "a file path relative to references/"),
    ({"actions": {"train": {"command": ["tao-demo-digits"]}}}, "actions.train.command", ["tao-demo-digits"],
     "a non-empty command line"),
    ({"actions": {"train": {"command": "x -e {config_path}", "config_format": "yml5"}}}, "actions.train.config_format",
     "yml5", ["yaml", "yml", "json", "toml"]),
    ({"actions": {"train": {"command": "x -e {config_path}", "inputs": ["a"]}}}, "actions.train.inputs", ["a"],
     "a mapping"),
    ({"actions": {"train": None}}, "actions.train", None, "a mapping with at least 'command'"),
    ({"actions": {"train": {"config_format": "yaml"}}}, "actions.train.command", None, None),
    ({"actions": ["train"]}, "actions", ["train"], "a mapping"),
])
def test_a_wrong_skill_info_field_is_a_skill_error_naming_file_field_value_and_allowed(
        tmp_path: Path, info: dict[str, Any], field: str, value: Any, allowed: Any) -> None:
    skill = _demo(tmp_path, **info)
    with pytest.raises(SkillError) as caught:
        load_skill(skill)
    error = caught.value
    assert error.field == field and error.value == value and error.exit_code == 2
    if allowed is not None:
        assert error.allowed == allowed
    assert str(skill / "references" / "skill_info.yaml") in str(error) and field in str(error)
    assert model_status(skill).blocked is not None  # `models --scope automl` does not list it as runnable


@pytest.mark.parametrize("info", [{"kpi_direction": "upward"}, {"kpi_metric": 5}])
def test_preflight_dry_run_and_run_report_a_wrong_skill_info_field_with_exit_2(tmp_path: Path,
                                                                               info: dict[str, Any]) -> None:
    (key, value), = info.items()
    path = _config(tmp_path, _demo(tmp_path, **info), metric="kpi")
    done = cli("preflight", str(path), "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    check = {c["check"]: c for c in json.loads(done.stdout)["checks"]}["skill"]
    assert check["ok"] is False and key in check["detail"] and repr(value) in check["detail"]
    for args in (["run", str(path), "--dry-run", "--json"], ["run", str(path), "--json"]):
        done = cli(*args)
        assert done.returncode == 2, done.stdout + done.stderr
        error = json.loads(done.stdout)["error"]
        assert (error["kind"], error["field"], error["value"]) == ("skill", key, value)
        assert "skill_info.yaml" in error["message"] and "Traceback" not in done.stderr
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()


@pytest.mark.parametrize(("file", "bad"), [
    ("references/skill_info.yaml", b"# r\xe9sum\xe9\n"),
    ("schemas/train.schema.json", b""),
    ("references/spec_template_train.yaml", b"train:\n  act: 'r\xe9lu'\n"),
])
def test_a_model_file_that_is_not_utf8_is_a_skill_error_naming_it(tmp_path: Path, file: str, bad: bytes,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    skill = write_skill(tmp_path / "bank")
    path = skill / file
    if file.endswith(".json"):  # a Latin-1 option in the schema
        path.write_bytes(path.read_bytes().replace(b'"relu"', b'"r\xe9lu"'))
    else:
        path.write_bytes((path.read_bytes() if path.exists() else b"") + bad)
    with pytest.raises(SkillError) as caught:
        load_skill(skill)
    assert (caught.value.field, caught.value.value) == (path.name, str(path))
    assert str(path) in str(caught.value) and "not UTF-8" in str(caught.value)
    assert model_status(skill).blocked is not None  # `models` reports it too, without a traceback
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
                                      "automl_settings": {"algorithm": "random", "metric": "val_loss"}}))
    assert main(["run", str(config), "--dry-run"]) == 2  # one line, no traceback
    assert "not UTF-8" in capsys.readouterr().err and not (tmp_path / "ws").exists()


@pytest.mark.parametrize(("file", "text", "key", "line"), [
    ("references/spec_template_train.yaml", "train:\n  layers: 5\n  act: tanh\nresults_dir: ''\ntrain:\n  flag: true\n",
     "train", 5),
    ("references/spec_template_train.yaml", "train:\n  layers: 5\n  layers: 3\n", "layers", 3),
    ("references/skill_info.yaml", None, "actions", None),
])
def test_a_key_given_twice_in_a_model_yaml_file_is_refused(tmp_path: Path, file: str, text: str | None, key: str,
                                                           line: int | None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """PyYAML keeps the last of two equal keys silently: a template's second ``train:`` section dropped the first
    (its layers and act went back to the schema defaults in every job); OmegaConf, which TAO jobs load with, refuses
    it. Merge keys (``<<: *anchor``) still merge."""
    skill = write_skill(tmp_path / "bank")
    path = skill / file
    if text is None:  # a second actions: mapping appended to skill_info.yaml
        text = path.read_text() + "actions:\n  evaluate:\n    command: x -e {config_path}\n"
    path.write_text(text)
    with pytest.raises(SkillError) as caught:
        load_skill(skill)
    message = str(caught.value)
    assert f"key {key!r} is given twice" in message and str(path) in message and "\n" not in message
    assert line is None or f"line {line}," in message
    assert (caught.value.field, caught.value.value) == (path.name, str(path))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
                                      "automl_settings": {"algorithm": "random", "metric": "val_loss"}}))
    assert main(["run", str(config), "--dry-run"]) == 2
    assert "given twice" in capsys.readouterr().err and not (tmp_path / "ws").exists()
    path.write_text("common: &c {layers: 5, act: tanh}\ntrain:\n  <<: *c\n  layers: 4\n")
    if file.endswith("spec_template_train.yaml"):  # an anchor merged, its key overridden: no repeat
        assert load_skill(skill).template == {"common": {"layers": 5, "act": "tanh"},
                                              "train": {"layers": 4, "act": "tanh"}}


def test_a_key_given_twice_in_the_train_schema_is_refused(tmp_path: Path) -> None:
    """``json`` keeps the last of two equal keys: a schema with a second ``"layers"`` property searched that one and
    dropped the first without a word."""
    skill = write_skill(tmp_path / "bank")
    path = skill / "schemas" / "train.schema.json"
    text = path.read_text()
    path.write_text(text.replace('"layers": {', '"layers": {"type": "int", "minimum": 100, "maximum": 200}, '
                                 '"layers": {', 1))
    with pytest.raises(SkillError) as caught:
        load_skill(skill)
    assert (caught.value.field, caught.value.value) == ("train.schema.json", "layers")
    assert str(path) in str(caught.value) and "'layers' is given twice" in str(caught.value)
    assert model_status(skill).blocked is not None


@pytest.mark.parametrize("default_file", [True, False])
def test_a_spec_template_named_in_skill_info_that_is_not_there_is_refused(tmp_path: Path, default_file: bool) -> None:
    """``spec_templates.train: my_spec.yml`` (the file is my_spec.yaml) loaded references/spec_template_train.yaml
    instead, or no template at all (the schema defaults), without a word."""
    skill = write_skill(tmp_path / "bank")
    references = skill / "references"
    (references / "my_spec.yaml").write_text("train:\n  layers: 5\n")
    if default_file:
        (references / "spec_template_train.yaml").write_text("train:\n  layers: 3\n")
    info = yaml.safe_load((references / "skill_info.yaml").read_text())
    for rel, layers in (("my_spec.yaml", 5), ("references/my_spec.yaml", 5), ("../references/my_spec.yaml", 5)):
        (references / "skill_info.yaml").write_text(yaml.safe_dump({**info, "spec_templates": {"train": rel}}))
        assert load_skill(skill).template == {"train": {"layers": layers}}  # relative to references/ or the folder
    (references / "skill_info.yaml").write_text(yaml.safe_dump({**info, "spec_templates": {"train": "my_spec.yml"}}))
    with pytest.raises(SkillError) as caught:
        load_skill(skill)
    error = caught.value
    assert (error.field, error.value) == ("spec_templates.train", "my_spec.yml")
    assert str(references / "my_spec.yml") in str(error) and "skill_info.yaml" in str(error)
    assert model_status(skill).blocked is not None


def _refused_template(tmp_path: Path, template: str) -> tuple[Path, SkillError]:
    """A toy skill with ``template`` as its train spec template, which loading refuses naming the template file:
    (the skill folder, the error)."""
    skill = write_skill(tmp_path / "bank")
    path = skill / "references" / "spec_template_train.yaml"
    path.write_text(template)
    with pytest.raises(SkillError) as caught:
        load_skill(skill)
    assert (caught.value.field, caught.value.value) == (path.name, str(path))
    assert str(path) in str(caught.value)
    return skill, caught.value


def _dry_run(tmp_path: Path, skill: Path, **config: Any) -> int:
    """``tao-automl run --dry-run`` of a random search of ``skill`` into ``tmp_path / "ws"``; its exit code."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"), **config,
                                    "automl_settings": {"algorithm": "random", "metric": "val_loss"}}))
    return main(["run", str(path), "--dry-run"])


def test_a_template_mapping_where_the_schema_holds_a_value_is_a_skill_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``train: {layers: {a: 1}}`` over the schema default ``layers: 2`` ended ``run --dry-run`` (and a run) in a
    ValueError traceback from merging the template over the defaults."""
    skill, error = _refused_template(tmp_path, "train:\n  layers:\n    a: 1\n")
    assert "'train.layers' holds 2" in str(error)
    assert model_status(skill).blocked is not None
    assert _dry_run(tmp_path, skill) == 2
    assert "'train.layers' holds 2" in capsys.readouterr().err and not (tmp_path / "ws").exists()


@pytest.mark.parametrize("searched", [["train.optim.lr"], ["train.layers"]])
def test_a_template_value_where_the_schema_has_a_group_is_a_skill_error(
        tmp_path: Path, searched: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``train: {optim: 0.01}`` (the group train.optim given a number): with train.optim.lr searched every rec
    failed late ("rec value: cannot set 'train.optim.lr'", no word of the template); without, each job got a number
    where the schema has a group."""
    skill, error = _refused_template(tmp_path, "train:\n  optim: 0.01\n  layers: 3\n")
    assert "train.optim: 0.01 is a value" in str(error)
    assert _dry_run(tmp_path, skill, automl_hyperparameters=searched) == 2
    assert "spec_template_train.yaml" in capsys.readouterr().err and not (tmp_path / "ws").exists()
    path = skill / "references" / "spec_template_train.yaml"
    path.write_text("train:\n  optim: {}\n  layers: 3\n")  # an empty mapping keeps the group's defaults
    assert load_skill(skill).template == {"train": {"optim": {}, "layers": 3}}


def test_an_empty_template_section_where_the_schema_has_a_group_is_a_skill_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``train:`` with every setting under it commented out is null: loaded, the job's spec got ``train: null``
    (every train default gone) and a spec override failed with "cannot set 'train.num_epochs': 'train' holds None,
    not a mapping", naming neither the template nor the key. Refused at load, naming both."""
    skill, error = _refused_template(tmp_path, "train:\n#  num_epochs: 3\n#  optim:\n#    lr: 0.1\n")
    assert "train: is empty (null" in str(error) and error.allowed == "a mapping at train, or no train key"
    assert _dry_run(tmp_path, skill, spec_overrides={"train.num_epochs": 2}) == 2
    err = capsys.readouterr().err
    assert "spec_template_train.yaml: train: is empty" in err and "holds None" not in err
    path = skill / "references" / "spec_template_train.yaml"
    path.write_text("train:\n  optim:\n  layers: 3\n")  # a nested group left empty too
    with pytest.raises(SkillError, match=r"train\.optim: is empty"):
        load_skill(skill)


@pytest.mark.parametrize("template, holder, said", [
    ("train:\n  layers: 3\nextra:\n", "extra", "extra: is empty (null)"),
    ("train:\n  layers: 3\n  notes:\n", "train.notes", "train.notes: is empty (null)"),
    ("train:\n  layers: 3\nextra: 5\n", "extra", "extra: holds the value 5")])
def test_an_override_under_a_template_value_the_schema_does_not_know_names_the_template_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str, holder: str, said: str) -> None:
    """``extra:`` (null) at a key the schema does not know loads (a value may be null), but an override
    ``extra.foo: 1`` failed with "cannot set 'extra.foo': 'extra' holds None, not a mapping", naming neither the
    template file nor the key to fix, as the empty-section error does. ``extra: {}`` is the way to give it one."""
    skill = write_skill(tmp_path / "bank")
    path = skill / "references" / "spec_template_train.yaml"
    path.write_text(template)
    key = f"{holder}.foo"
    assert _dry_run(tmp_path, skill, spec_overrides={key: 1}) == 2
    err = capsys.readouterr().err
    assert f"cannot set {key!r}: {path.resolve()}: {said}, not a mapping of settings" in err, err
    assert "holds None" not in err and f"`{holder.rsplit('.', 1)[-1]}: {{}}`" in err
    with pytest.raises(UserInputError) as caught:  # the same from Python, where the rec's spec is checked
        RunPlan.build(RunArgs(skill_dir=str(skill), spec_overrides={key: 1}))
    assert (caught.value.field, caught.value.value) == (f"spec_overrides.{key}", 1)
    path.write_text(template.replace(f"{holder.rsplit('.', 1)[-1]}:\n", f"{holder.rsplit('.', 1)[-1]}: {{}}\n")
                    .replace(": 5\n", ": {}\n"))
    assert _dry_run(tmp_path, skill, spec_overrides={key: 1}) == 0


def test_a_toml_spec_template_is_read_as_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``spec_templates.train: spec.toml`` was read as YAML and refused ("not valid YAML"), though the skill may write
    its specs in TOML (``config_format: toml``)."""
    pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    skill = write_skill(tmp_path / "bank")
    references = skill / "references"
    (references / "spec.toml").write_text('[train]\nnum_epochs = 3\nact = "tanh"\n\n[train.optim]\nlr = 1e-3\n')
    info = yaml.safe_load((references / "skill_info.yaml").read_text())
    (references / "skill_info.yaml").write_text(yaml.safe_dump({**info, "spec_templates": {"train": "spec.toml"}}))
    assert load_skill(skill).template == {"train": {"num_epochs": 3, "act": "tanh", "optim": {"lr": 0.001}}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
                                      "automl_hyperparameters": ["train.layers"],
                                      "automl_settings": {"algorithm": "random", "metric": "val_loss"}}))
    assert main(["run", str(config), "--dry-run", "--json"]) == 0
    spec = json.loads(capsys.readouterr().out)["recs"][0]["spec"]
    assert spec["train"]["num_epochs"] == 3 and spec["train"]["act"] == "tanh" and spec["train"]["optim"]["lr"] == 1e-3
    (references / "spec.toml").write_text("[train]\nnum_epochs = \n")
    with pytest.raises(SkillError) as caught:
        load_skill(skill)
    assert "not valid TOML" in str(caught.value) and caught.value.field == "spec.toml"


def test_the_demo_and_a_skill_without_the_extensions_still_load(tmp_path: Path) -> None:
    demo = load_skill(builtin_skill_dir("demo-digits-mlp"))
    assert demo.kpi_direction == "maximize" and demo.reported_metrics == ["val_accuracy", "val_loss", "train_loss"]
    toy = load_skill(write_skill(tmp_path / "bank"))
    assert toy.kpi_metric is None and toy.kpi_direction is None and toy.reported_metrics == []
    assert load_skill(_demo(tmp_path / "nulls", kpi_metric=None, kpi_direction=None, container_image=None)).kpi_metric \
        is None


@needs_shared
def test_every_automl_enabled_model_of_the_shared_bank_passes_the_skill_info_check() -> None:
    assert SHARED is not None
    loaded = 0
    for folder in sorted((SHARED / "skills" / "models").iterdir()):
        info = folder / "references" / "skill_info.yaml"
        if info.is_file() and yaml.safe_load(info.read_text()).get("automl_enabled"):
            load_skill(folder)
            loaded += 1
    assert loaded > 10


# ------------------------------------------------------------------ the metric against reported_metrics
@pytest.mark.parametrize(("metric", "field", "value", "suggestion"), [
    ("val_acc", "automl_settings.metric", "val_acc", "val_accuracy"),
    ([{"name": "val_accuracy", "direction": "maximize"}, {"name": "val_los", "direction": "minimize"}],
     "automl_settings.metric[1].name", "val_los", "val_loss"),
    ([{"name": "kpi", "direction": "maximize"}, {"name": "val_loss", "direction": "minimize"}],
     "automl_settings.metric[0].name", "kpi", None),
])
def test_a_metric_the_skill_does_not_report_is_refused_before_anything_is_created(
        tmp_path: Path, metric: Any, field: str, value: str, suggestion: str | None) -> None:
    path = _config(tmp_path, "builtin:demo-digits-mlp", metric=metric)
    with pytest.raises(SettingsError) as caught:
        RunPlan.build(load_run_config(path))
    error = caught.value
    assert (error.field, error.value, error.exit_code) == (field, value, 2)
    assert {"val_accuracy", "val_loss", "train_loss"} <= set(error.allowed)
    assert (f"did you mean {suggestion!r}" in str(error)) if suggestion else "did you mean" not in str(error)
    report = run_preflight(load_run_config(path))
    assert not report.ok and value in _checks(report)["search_space"]["detail"]
    with pytest.raises(SettingsError):
        dry_run(load_run_config(path), 1)
    assert main(["run", str(path)]) == 2
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()


def test_a_metric_list_entry_with_surrounding_spaces_is_refused(tmp_path: Path) -> None:
    metric = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "val_loss ", "direction": "minimize"}]
    for skill in ("builtin:demo-digits-mlp", str(write_skill(tmp_path / "bank"))):
        with pytest.raises(SettingsError) as caught:
            RunPlan.build(load_run_config(_config(tmp_path, skill, metric=metric)))
        assert caught.value.field == "automl_settings.metric[1].name" and "surrounding spaces" in str(caught.value)


def test_reported_metrics_accept_each_name_as_jobs_spell_it_and_undeclared_skills_are_not_checked(
        tmp_path: Path) -> None:
    for metric in ("val_loss", "kpi", "Val/Accuracy",
                   [{"name": "val_accuracy", "direction": "maximize"}, {"name": "val_loss", "direction": "minimize"}]):
        RunPlan.build(load_run_config(_config(tmp_path, "builtin:demo-digits-mlp", metric=metric)))
    toy = write_skill(tmp_path / "bank")  # declares no reported_metrics: any name, as before
    assert RunPlan.build(RunArgs(skill_dir=str(toy), automl_settings={"metric": "anything_at_all"})).metric \
        == "anything_at_all"


def test_a_job_without_the_metric_names_the_metrics_it_reported(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank")  # no reported_metrics: the name is only found wrong when jobs end
    summary = AutoMLRunner(SpecReadingSDK(), skill).run(
        automl_settings=_settings("random", metric="val_acc", automl_max_recommendations=1),
        workspace_path=tmp_path / "ws")
    message = summary["history"][0]["message"]
    assert "reported no metric 'val_acc'" in message and "it reported: val_loss" in message, message
    assert no_metric_message("val_acc", []).endswith("(looked in status.json and the last 2000 lines of the "
                                                      "logs)")  # a metric printed before them is not read
    assert no_metric_message("val_acc", [], "oops").endswith("gives metric 'val_acc' the value 'oops', which is not "
                                                             "a number")
    assert "did you mean 'val_loss'" in no_metric_message("val_los", ["val_loss", "train_loss"])
    results = tmp_path / "results"
    results.mkdir()
    (results / "status.json").write_text('{"epoch": 1, "kpi": {"val_loss": 1.0, "note": "x"}}\nnot json\n'
                                         '{"epoch": 2, "kpi": {"val_loss": 0.5, "mAP": null}}\n')
    assert missing_metric_message(SpecReadingSDK(), "job1", str(results), "acc").endswith(
        "it reported: val_loss, mAP")
    assert missing_metric_message(SpecReadingSDK(), "job1", str(results), "note").endswith(
        "gives metric 'note' the value 'x', which is not a number")


# ------------------------------------------------------------------ base_checkpoint
def test_a_base_checkpoint_for_a_skill_without_a_pretrained_model_key_is_refused(tmp_path: Path) -> None:
    path = _config(tmp_path, "builtin:demo-digits-mlp", base_checkpoint="nonexistent.ckpt")
    with pytest.raises(UserInputError) as caught:
        RunPlan.build(load_run_config(path))
    error = caught.value
    assert error.field == "base_checkpoint" and error.exit_code == 2 and "no pretrained-model key" in str(error)
    check = _checks(run_preflight(load_run_config(path)))["base_checkpoint"]
    assert check["ok"] is False and "no pretrained-model key" in check["detail"]
    assert main(["run", str(path), "--dry-run"]) == 2 and main(["run", str(path)]) == 2
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()


def test_a_base_checkpoint_path_is_checked_like_a_dataset_path(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", roles={"train.pretrained_model_path": "ptm_if_no_resume_model"})
    missing = tmp_path / "no" / "model.pth"
    config = {"skill_dir": str(skill), "workspace_path": "ws", "base_checkpoint": str(missing),
              "automl_settings": {"metric": "val_loss", "automl_max_recommendations": 2},
              "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    report = run_preflight(load_run_config(path))
    check = _checks(report)["base_checkpoint"]
    assert not report.ok and check["ok"] is False and str(missing) in check["detail"]
    assert main(["run", str(path), "--dry-run"]) == 2 and main(["run", str(path)]) == 2
    assert not (tmp_path / "ws").exists()
    missing.parent.mkdir()
    missing.write_bytes(b"x")
    assert _checks(run_preflight(load_run_config(path)))["base_checkpoint"]["ok"] is True
    rec, = dry_run(load_run_config(path), 1)
    assert rec.spec["train"]["pretrained_model_path"] == str(missing)
    remote = run_preflight(replace(load_run_config(path), base_checkpoint="s3://bucket/m.pth"))
    assert _checks(remote)["base_checkpoint"]["ok"] is None  # a remote URI is not checked
    assert _checks(run_preflight(RunArgs(skill_dir=str(skill), workspace_path=str(tmp_path / "ws"))))[
        "base_checkpoint"] == {"check": "base_checkpoint", "ok": True, "detail": "not given"}


# ------------------------------------------------------------------ a schema warning is said once
@pytest.mark.parametrize("broken", [{"enum": []}, {"type": "flaot"}])
def test_a_dropped_schema_param_is_warned_about_once(tmp_path: Path, broken: dict[str, Any],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    schema = small_schema()
    prop = schema["properties"]["train"]["properties"]["act" if "enum" in broken else "layers"]
    prop.update(broken)
    skill = write_skill(tmp_path / "bank", schema=schema)
    config = {"skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
              "automl_settings": {"metric": "val_loss", "automl_max_recommendations": 1, "poll_interval_s": 0.01},
              "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    with caplog.at_level("WARNING"):
        dry_run(load_run_config(path), 1)
    assert caplog.text.count("of the schema's default hyperparameter(s)") == 1, caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        AutoMLRunner(SpecReadingSDK(), skill).run(automl_settings=_settings("random", automl_max_recommendations=1),
                                                  workspace_path=tmp_path / "ws2")
    assert caplog.text.count("of the schema's default hyperparameter(s)") == 1, caplog.text

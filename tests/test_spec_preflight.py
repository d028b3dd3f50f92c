"""Preflight's spec checks: a dataset URI no ``data_sources`` rule places, a declared input left empty or at a
template ``<placeholder>``, a ``spec_overrides`` path for an input that does not exist, and other placeholders (a
warning). The run, the dry run and the MCP tool refuse what preflight fails, with the same message (exit 2)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import small_schema, write_skill
from tao_automl.agentapi.tools import call_tool
from tao_automl.bank.skill import load_skill
from tao_automl.cli.dry_run import dry_run
from tao_automl.cli.main import main
from tao_automl.cli.run_config import load_run_config
from tao_automl.errors import PreflightError, UserInputError
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.render.data import EVAL_SOURCES, TRAIN_SOURCES
from tao_automl.render.inputs import declared_inputs, leaves, missing_inputs
from tao_automl.render.job import JobContext
from tao_automl.render.placed import placed_paths
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.runner.plan import check_render
from tao_automl.runner.preflight import PreflightReport, run_preflight
from test_bank_tools import SHARED, needs_shared


def _config(tmp_path: Path, skill: Path | str, **extra: Any) -> Path:
    config = {"skill_dir": str(skill), "workspace_path": "ws",
              "automl_settings": {"algorithm": "random", "automl_max_recommendations": 2},
              "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0},
              **extra}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _checks(report: PreflightReport) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in report.to_json()["checks"]}


def _with_info(skill: Path, **info: Any) -> Path:
    path = skill / "references" / "skill_info.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **info}))
    return skill


def _inputs_skill(tmp_path: Path, **rules: Any) -> Path:
    """A toy skill whose train action declares a required ``dataset.train_path`` and an optional checkpoint."""
    skill = write_skill(tmp_path / "bank", data_sources=rules or None, roles={"train.ckpt": "ptm"})
    info = yaml.safe_load((skill / "references" / "skill_info.yaml").read_text())
    info["actions"]["train"]["inputs"] = {"dataset.train_path": {"type": "file"},
                                          "train.ckpt": {"type": "file", "optional": True}}
    return _with_info(skill, actions=info["actions"])


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return data


def _fill(skill_dir: Path, train: str | None, eval_: str | None = None) -> None:
    """Create every path the skill's data_sources rules place under the given local URIs (as folders)."""
    for placed in placed_paths(load_skill(skill_dir), JobContext(train_dataset_uri=train, eval_dataset_uri=eval_)):
        Path(placed.path).mkdir(parents=True, exist_ok=True)


# ------------------------------------------------------------------ a dataset URI that no rule places
def test_a_dataset_uri_no_rule_places_fails_preflight_the_run_the_dry_run_and_mcp(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _data(tmp_path)
    path = _config(tmp_path, _inputs_skill(tmp_path), train_dataset_uri=str(data))
    report = run_preflight(load_run_config(path))
    check = _checks(report)["dataset_placement"]
    assert not report.ok and check["ok"] is False
    for part in (str(data), "toy-net", "no data_sources.train rule", "dataset_keys: {'dataset.train_path'"):
        assert part in check["detail"], check["detail"]
    error = report.error()
    assert isinstance(error, PreflightError) and error.field == "train_dataset_uri" and error.value == str(data)

    assert main(["preflight", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "FAIL  dataset_placement" in out and "preflight: passed" not in out and str(data) in err
    assert main(["run", str(path)]) == 2  # the run refuses it the same way, before anything exists
    assert "placed nowhere" in capsys.readouterr().err
    with pytest.raises(PreflightError, match="placed nowhere"):
        dry_run(load_run_config(path), 1)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), str(tmp_path / "bank" / "models" / "toy-net"))
    with pytest.raises(PreflightError, match="placed nowhere") as caught:
        runner.run(train_dataset_uri=str(data), workspace_path=tmp_path / "ws", gpu_count=0,
                   automl_settings={"algorithm": "random", "automl_max_recommendations": 1})
    assert caught.value.exit_code == 2
    answer, is_error = call_tool("preflight", {"config_path": str(path)})
    assert is_error and answer["error"]["field"] == "train_dataset_uri"
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()


def test_dataset_keys_or_a_rule_that_takes_the_uri_pass(tmp_path: Path) -> None:
    data = _data(tmp_path)
    keyed = _config(tmp_path, _inputs_skill(tmp_path / "a"), train_dataset_uri={"dataset.train_path": str(data)})
    report = run_preflight(load_run_config(keyed))
    assert report.ok, report.text()
    assert _checks(report)["dataset_placement"]["detail"] == "the spec gets dataset.train_path"
    ruled = _config(tmp_path, _inputs_skill(tmp_path / "b", **{"dataset.train_path": {"source": "train_datasets"}}),
                    train_dataset_uri=str(data))
    assert run_preflight(load_run_config(ruled)).ok
    # an eval URI the skill has no rule for is refused even though the train URI is placed (the same path)
    both = _config(tmp_path, _inputs_skill(tmp_path / "c", **{"dataset.train_path": {"source": "train_datasets"}}),
                   train_dataset_uri=str(data), eval_dataset_uri=str(data))
    report = run_preflight(load_run_config(both))
    assert not report.ok and report.error().field == "eval_dataset_uri"


def test_a_builtin_dataset_a_local_job_reads_needs_its_package_installed_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's jobs read ``builtin:digits`` (its template's default, or a given URI) with scikit-learn in this
    environment: a core install without the demo extra fails preflight, the dry run and the run naming the extra,
    before any job (not every rec failing on it); another platform's job reads it in its own image."""
    settings = {"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 2}
    default = _config(tmp_path, "builtin:demo-digits-mlp", automl_settings=settings)
    name = "builtin_data.dataset.train_path"
    assert _checks(run_preflight(load_run_config(default)))[name]["ok"] is True  # this venv has the demo extra
    monkeypatch.setitem(sys.modules, "sklearn", None)  # what a package that is not installed looks like to import
    for extra in ({}, {"train_dataset_uri": "builtin:digits"}):
        check = _checks(run_preflight(load_run_config(_config(tmp_path, "builtin:demo-digits-mlp",
                                                              automl_settings=settings, **extra))))[name]
        assert check["ok"] is False and "install the demo extra: pip install 'tao-run-automl[demo]'" in check["detail"]
    for argv in (["run", str(default)], ["run", str(default), "--dry-run"]):
        assert main(argv) == 2
        assert "pip install 'tao-run-automl[demo]'" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()
    docker = _config(tmp_path, "builtin:demo-digits-mlp", automl_settings=settings, platform="docker",
                     platform_options={})
    assert name not in _checks(run_preflight(load_run_config(docker)))


# ------------------------------------------------------------------ declared inputs in the rendered spec
def test_an_empty_required_input_fails_naming_the_key_and_how_to_set_it(tmp_path: Path) -> None:
    skill = _inputs_skill(tmp_path, **{"dataset.train_path": {"source": "train_datasets"}})
    report = run_preflight(load_run_config(_config(tmp_path, skill)))  # no dataset given at all
    check = _checks(report)["spec_inputs"]
    assert check["ok"] is False and "required input 'dataset.train_path' is empty" in check["detail"]
    assert "give train_dataset_uri" in check["detail"]
    assert report.error().field == "dataset.train_path" and report.error().exit_code == 2


def test_a_placeholder_in_an_input_fails_whatever_set_it(tmp_path: Path) -> None:
    data = _data(tmp_path)
    skill = _inputs_skill(tmp_path, **{"dataset.train_path": {"source": "train_datasets"}})
    path = _config(tmp_path, skill, train_dataset_uri=str(data), spec_overrides={"train.ckpt": "<ckpt_path>"})
    report = run_preflight(load_run_config(path))
    check = _checks(report)["spec_inputs"]
    assert check["ok"] is False and "optional input 'train.ckpt' is still the template placeholder" in check["detail"]
    assert "give base_checkpoint" in check["detail"]


def test_a_spec_overrides_path_for_an_input_is_checked_like_dataset_keys(tmp_path: Path) -> None:
    data = _data(tmp_path)
    skill = _inputs_skill(tmp_path, **{"dataset.train_path": {"source": "train_datasets"}})
    path = _config(tmp_path, skill, train_dataset_uri=str(data), spec_overrides={"train.ckpt": "/nonexistent/m.pth"})
    report = run_preflight(load_run_config(path))
    check = _checks(report)["spec_overrides.train.ckpt"]
    assert check["ok"] is False and "'/nonexistent/m.pth' does not exist" in check["detail"]
    assert report.error().field == "spec_overrides.train.ckpt"
    ok = _config(tmp_path, skill, train_dataset_uri=str(data), spec_overrides={"train.ckpt": str(data)})
    assert run_preflight(load_run_config(ok)).ok
    remote = load_run_config(_config(tmp_path, skill, train_dataset_uri=str(data), platform="slurm",
                                     spec_overrides={"train.ckpt": "/nonexistent/m.pth"}))
    assert _checks(run_preflight(remote))["spec_overrides.train.ckpt"]["ok"] is None  # a path on that platform


def test_another_placeholder_is_a_warning_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    data = _data(tmp_path)
    skill = _inputs_skill(tmp_path, **{"dataset.train_path": {"source": "train_datasets"}})
    path = _config(tmp_path, skill, train_dataset_uri=str(data), spec_overrides={"train.note": "<dataset_name>"})
    report = run_preflight(load_run_config(path))
    check = _checks(report)["spec_placeholders"]
    assert report.ok and check["warning"] is True and "train.note='<dataset_name>'" in check["detail"]
    # train.note is in neither the toy schema nor its spec: the spec_overrides check warns of it too
    assert report.text().splitlines()[-1] == ("preflight: passed; 2 warning(s) (warn above): spec_overrides, "
                                              "spec_placeholders")
    assert main(["preflight", str(path)]) == 0 and "warn  spec_placeholders" in capsys.readouterr().out
    with caplog.at_level(logging.WARNING):
        dry_run(load_run_config(path), 1)
    assert "train.note='<dataset_name>'" in caplog.text


def test_the_leaves_of_a_spec_name_list_items_as_skill_info_does() -> None:
    spec = {"a": {"b": [{"c": "<x>"}, {"c": ""}]}, "d": [], "e": 1}
    assert list(leaves(spec)) == [("a.b[0].c", "<x>"), ("a.b[1].c", ""), ("d", []), ("e", 1)]


# ------------------------------------------------------------------ the shared bank
@needs_shared
def test_dino_with_a_train_uri_and_no_rules_fails_then_passes_with_dataset_keys(tmp_path: Path) -> None:
    assert SHARED is not None
    skill = SHARED / "skills" / "models" / "tao-train-dino"
    data = _data(tmp_path)
    report = run_preflight(load_run_config(_config(tmp_path, skill, train_dataset_uri=str(data))))
    detail = _checks(report)["dataset_placement"]["detail"]
    assert not report.ok and "tao-train-dino" in detail and str(data) in detail
    assert "dataset_keys: {'dataset.train_data_sources[0].image_dir': '/path/...'" in detail
    keys = {f"dataset.{split}_data_sources[0].{leaf}": str(data) for split in ("train", "val")
            for leaf in ("image_dir", "json_file")}
    report = run_preflight(load_run_config(_config(tmp_path, skill, dataset_keys=keys)))
    assert report.ok, report.text()


@needs_shared
def test_fast_foundation_stereo_placeholders_fail_or_warn(tmp_path: Path) -> None:
    assert SHARED is not None
    skill = SHARED / "skills" / "models" / "tao-train-fast-foundation-stereo"
    data = _data(tmp_path)
    uris = {"train_dataset_uri": str(data), "eval_dataset_uri": str(data)}
    _fill(skill, str(data), str(data))
    report = run_preflight(load_run_config(_config(tmp_path, skill, **uris)))
    checks = _checks(report)
    assert checks["spec_inputs"]["ok"] is False and "'<bp2_ckpt_path>'" in checks["spec_inputs"]["detail"]
    assert "dataset.train_dataset.data_sources[0].dataset_name='<dataset_name>'" in \
        checks["spec_placeholders"]["detail"]
    missing = {"train.pretrained_model_path": "/nonexistent/bp2.pth"}
    bad = run_preflight(load_run_config(_config(tmp_path, skill, **uris, spec_overrides=missing)))
    assert _checks(bad)["spec_overrides.train.pretrained_model_path"]["ok"] is False
    names = {f"dataset.{split}_dataset.data_sources[0].dataset_name": "FSD" for split in ("train", "val")}
    good = run_preflight(load_run_config(_config(tmp_path, skill, **uris, base_checkpoint=str(data),
                                                 spec_overrides=names)))
    # the one warning left: the bank model's program is not installed on this machine (it runs in TAO's image)
    assert good.ok and [w.check for w in good.warnings] == ["command"], good.text()


def _sensible(skill_dir: Path, data: Path) -> dict[str, Any]:
    """Run fields giving a bank model its inputs: the dataset URIs its rules take, ``dataset_keys`` for the other
    required inputs, a base checkpoint where an input still holds a placeholder."""
    skill = load_skill(skill_dir)
    sources = {str(rule.get("source")) for rule in skill.data_sources.values() if isinstance(rule, dict)}
    fields: dict[str, Any] = {}
    if sources & set(TRAIN_SOURCES):
        fields["train_dataset_uri"] = str(data)
    if sources & set(EVAL_SOURCES):
        fields["eval_dataset_uri"] = str(data)
    ctx = JobContext(train_dataset_uri=fields.get("train_dataset_uri"), eval_dataset_uri=fields.get("eval_dataset_uri"))
    missing = missing_inputs(skill, check_render(skill, None, ctx))
    keys = {m.key: str(data) for m in missing if not m.optional}
    if keys:
        fields["dataset_keys"] = keys
    if any(m.optional for m in missing):
        fields["base_checkpoint"] = str(data)
    if not fields and not missing:  # inputs all optional, no rule: give them all, or the model gets no data
        fields["dataset_keys"] = dict.fromkeys(declared_inputs(skill), str(data))
    _fill(skill_dir, fields.get("train_dataset_uri"), fields.get("eval_dataset_uri"))
    return fields


@needs_shared
def test_every_automl_enabled_bank_model_passes_preflight_given_its_inputs(tmp_path: Path) -> None:
    assert SHARED is not None
    data = _data(tmp_path)
    checked = []
    for folder in sorted((SHARED / "skills" / "models").iterdir()):
        info = folder / "references" / "skill_info.yaml"
        if not (info.is_file() and yaml.safe_load(info.read_text()).get("automl_enabled")
                and (folder / "schemas" / "train.schema.json").is_file()):
            continue
        (tmp_path / folder.name).mkdir()
        report = run_preflight(load_run_config(_config(tmp_path / folder.name, folder, **_sensible(folder, data))))
        assert report.ok, f"{folder.name}:\n{report.text()}"
        checked.append(folder.name)
    assert len(checked) >= 20, checked


# ------------------------------------------------------------------ audit: URIs, dataset_keys, placed paths
def test_an_eval_uri_no_rule_takes_fails_even_with_dataset_keys_and_says_to_drop_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _data(tmp_path)
    skill = _inputs_skill(tmp_path, **{"dataset.train_path": {"source": "train_datasets"}})
    path = _config(tmp_path, skill, eval_dataset_uri=str(data), dataset_keys={"dataset.train_path": str(data)})
    report = run_preflight(load_run_config(path))
    detail = _checks(report)["dataset_placement"]["detail"]
    assert not report.ok and report.error().field == "eval_dataset_uri", report.text()
    assert "toy-net (train) takes no eval_dataset_uri" in detail and "no eval rule" in detail
    assert detail.endswith("drop eval_dataset_uri") and "template's paths" not in detail, detail
    assert main(["run", str(path)]) == 2 and "takes no eval_dataset_uri" in capsys.readouterr().err


@pytest.mark.parametrize(("key", "close"), [("dataset.train_pth", "dataset.train_path"), ("dataset.foo.bar", None)])
def test_a_dataset_keys_key_not_in_the_spec_nor_declared_is_refused_by_preflight_and_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, close: str | None) -> None:
    data = _data(tmp_path)
    path = _config(tmp_path, _inputs_skill(tmp_path), dataset_keys={"dataset.train_path": str(data), key: str(data)})
    report = run_preflight(load_run_config(path))
    check = _checks(report)["dataset_keys"]
    assert check["ok"] is False and f"key {key!r} is not in the spec a toy-net (train) job gets" in check["detail"]
    assert ("did you mean" in check["detail"]) == (close is not None) and (close or "") in check["detail"]
    assert report.error().field == f"dataset_keys.{key}" and report.error().exit_code == 2
    assert main(["run", str(path)]) == 2
    assert check["detail"] in " ".join(capsys.readouterr().err.split())  # the run says the same
    known = _config(tmp_path, _inputs_skill(tmp_path / "b"), spec_overrides={"dataset.extra_dir": "/x"},
                    dataset_keys={"dataset.train_path": str(data), "dataset.extra_dir": str(data)})
    assert _checks(run_preflight(load_run_config(known)))["dataset_keys"]["ok"] is True  # a key in the spec
    number = _config(tmp_path, _inputs_skill(tmp_path / "c"),
                     dataset_keys={"dataset.train_path": str(data), "train.num_epochs": str(data)})
    check = _checks(run_preflight(load_run_config(number)))["dataset_keys"]
    assert check["ok"] is False and "the schema makes it an integer, not a path" in check["detail"]


def test_a_model_with_only_optional_inputs_and_no_data_fails_spec_inputs(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank")
    info = yaml.safe_load((skill / "references" / "skill_info.yaml").read_text())
    info["actions"]["train"]["inputs"] = {"dataset.csv": {"type": "file", "optional": True}}
    _with_info(skill, actions=info["actions"])
    report = run_preflight(load_run_config(_config(tmp_path, skill)))
    detail = _checks(report)["spec_inputs"]["detail"]
    assert not report.ok and "gets no data" in detail and "dataset_keys: {'dataset.csv'" in detail, report.text()
    given = _config(tmp_path, skill, dataset_keys={"dataset.csv": str(_data(tmp_path))})
    assert run_preflight(load_run_config(given)).ok


def test_each_path_a_rule_places_under_a_local_uri_must_exist(tmp_path: Path) -> None:
    data = _data(tmp_path)
    skill = _inputs_skill(tmp_path, **{
        "dataset.train_path": {"source": "train_datasets", "path": "ann.json"},
        "dataset.images": {"source": "train_datasets", "path": "images.tar.gz", "runtime": "extracted_folder"}})
    path = _config(tmp_path, skill, train_dataset_uri=str(data))
    report = run_preflight(load_run_config(path))
    detail = _checks(report)["dataset_paths"]["detail"]
    assert not report.ok and report.error().field in ("dataset.train_path", "dataset.images"), report.text()
    assert f"{str(data / 'ann.json')!r} does not exist" in detail and "expects 'ann.json' under train_dataset_uri" \
        in detail
    assert "extract it into" in detail and "images.tar.gz" in detail
    (data / "ann.json").write_text("{}")
    (data / "images").mkdir()
    assert run_preflight(load_run_config(path)).ok
    remote = load_run_config(_config(tmp_path, skill, train_dataset_uri=str(tmp_path / "empty"), platform="slurm"))
    assert "dataset_paths" not in _checks(run_preflight(remote))  # a path on that platform: not checked


def test_a_relative_override_path_for_an_input_fails_locally_and_a_placeholder_is_named(tmp_path: Path) -> None:
    data = _data(tmp_path)
    skill = _inputs_skill(tmp_path, **{"dataset.train_path": {"source": "train_datasets"}})
    path = _config(tmp_path, skill, train_dataset_uri=str(data), spec_overrides={"train.ckpt": "ckpt/m.pth"})
    check = _checks(run_preflight(load_run_config(path)))["spec_overrides.train.ckpt"]
    assert check["ok"] is False and "relative path" in check["detail"] and "absolute path" in check["detail"]
    remote = _config(tmp_path, skill, train_dataset_uri=str(data), platform="slurm",
                     spec_overrides={"train.ckpt": "ckpt/m.pth"})
    assert _checks(run_preflight(load_run_config(remote)))["spec_overrides.train.ckpt"]["ok"] is None
    held = _config(tmp_path, skill, train_dataset_uri=str(data), spec_overrides={"train.ckpt": "<ckpt>"})
    detail = _checks(run_preflight(load_run_config(held)))["spec_overrides.train.ckpt"]["detail"]
    assert "template placeholder" in detail and "relative" not in detail


def _list_schema() -> dict[str, Any]:
    schema = small_schema()
    train = schema["properties"]["train"]["properties"]
    train["sizes"] = {"type": "list", "default": [32, 64], "minimum": 8, "maximum": 128}
    train["betas"] = {"type": "list", "default": [0.9, 0.999], "minimum": 0.0, "maximum": 1.0}
    train["pair"] = {"type": "list_2", "default": [4, 8], "minimum": 0.5, "maximum": 16}
    train["free"] = {"type": "list", "default": [11]}  # no bounds: tao-automl's search derives [3, 44] for it
    schema["default"]["train"].update({"sizes": [32, 64], "betas": [0.9, 0.999], "pair": [4, 8], "free": [11]})
    return schema


@pytest.mark.parametrize(("overrides", "field"), [
    ({"train.sizes": [4, 64]}, "spec_overrides.train.sizes"),
    ({"train.sizes": ["a", 64]}, "spec_overrides.train.sizes"),
    ({"train.sizes": 5}, "spec_overrides.train.sizes"),
    ({"train.betas": [0.9, 1.5]}, "spec_overrides.train.betas"),
    ({"train.betas[1]": "x"}, "spec_overrides.train.betas[1]"),
    ({"train.betas[1]": 7}, "spec_overrides.train.betas[1]"),
    ({"train.layers": 2.0}, "spec_overrides.train.layers"),  # the template's 2, as a float
    ({"train.flag": 0}, "spec_overrides.train.flag"),  # the template's false, as an int
])
def test_list_and_retyped_overrides_are_checked_like_searched_values(tmp_path: Path, overrides: dict[str, Any],
                                                                    field: str) -> None:
    """README: spec_overrides values are checked against the schema like searched values. A numeric list (whole or
    one element) was not checked at all, and a value equal to the template's but of another type (4.0, 0) skipped
    the check and reached the job as written."""
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    runner = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank", schema=_list_schema()), log_progress=False)
    with pytest.raises(UserInputError) as caught:
        runner.run(automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1},
                   automl_hyperparameters=["train.optim.lr"], spec_overrides=overrides,
                   workspace_path=tmp_path / "ws", gpu_count=0)
    assert caught.value.field == field
    assert not (tmp_path / "ws").exists()
    good = runner.run(automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1},
                      automl_hyperparameters=["train.optim.lr"], workspace_path=tmp_path / "ok", gpu_count=0,
                      spec_overrides={"train.sizes": [16, 128, 8], "train.betas[1]": 0.99, "train.layers": 2,
                                      "train.pair": [1, 0.875, 16], "train.free": [100, 150]})
    spec = good["history"][0]["specs"]["train"]
    # only what the schema declares is held against an override: not the default's length (the bank's list_N types
    # do not match it), not int-ness read from int defaults, not ranges derived around the default
    assert spec["sizes"] == [16, 128, 8] and spec["betas"] == [0.9, 0.99] and spec["pair"] == [1, 0.875, 16]
    assert spec["free"] == [100, 150]


def test_a_bad_custom_range_of_a_list_names_the_users_field(tmp_path: Path) -> None:
    """A logit scale given for a list of ints in custom_param_ranges was blamed on "schema property train.sizes[0]"
    with the schema hint; it names custom_param_ranges.train.sizes and the range given."""
    from tao_automl.errors import SearchSpaceError
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.run_args import RunArgs

    ranges = {"train.sizes": {"valid_min": 8, "valid_max": 128, "scale": "logit"}}
    with pytest.raises(SearchSpaceError, match="scale 'logit'") as caught:
        RunPlan.build(RunArgs(skill_dir=str(write_skill(tmp_path / "bank", schema=_list_schema())),
                              automl_hyperparameters=["train.sizes"], custom_param_ranges=ranges,
                              automl_settings={"metric": "val_loss"}))
    assert (caught.value.field, caught.value.value) == ("custom_param_ranges.train.sizes", ranges["train.sizes"])


def test_one_option_params_and_int_log_floors_are_noted(tmp_path: Path) -> None:
    """The one-value note named numbers only (an option list narrowed to one, an enum of one was silent), and an int
    on a log scale with schema minimum 0 was searched from 1 without the note floats get."""
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.run_args import RunArgs

    schema = small_schema()
    schema["properties"]["train"]["properties"]["batch"] = {"type": "int", "default": 16, "minimum": 0,
                                                            "maximum": 512, "scale": "log"}
    schema["default"]["train"]["batch"] = 16
    plan = RunPlan.build(RunArgs(skill_dir=str(write_skill(tmp_path / "bank", schema=schema)),
                                 automl_hyperparameters=["train.batch", "train.act"],
                                 custom_param_ranges={"train.act": {"valid_options": ["gelu"]}},
                                 automl_settings={"metric": "val_loss"}))
    notes = " ".join(plan.notes)
    assert "never varied by the search: train.act = 'gelu'" in notes
    assert "param train.batch: the schema minimum is 0, which a log scale cannot reach; searching from 1" in notes


def test_a_relation_the_search_cannot_enforce_is_noted(tmp_path: Path) -> None:
    """depends_on naming a missing key, the param itself, or a list param passed preflight silently (README: a
    draw that breaks a relation is drawn again), and configs breaking it ran."""
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.run_args import RunArgs

    schema = _list_schema()
    train = schema["properties"]["train"]["properties"]
    train["sizes"].update({"depends_on": "train.layers", "math_cond": "> depends_on"})
    train["layers"].update({"depends_on": "train.nope"})
    train["optim"]["properties"]["lr"].update({"depends_on": "train.optim.lr"})
    plan = RunPlan.build(RunArgs(skill_dir=str(write_skill(tmp_path / "bank", schema=schema)),
                                 automl_hyperparameters=["train.sizes", "train.layers", "train.optim.lr"],
                                 automl_settings={"metric": "val_loss"}))
    notes = " ".join(plan.notes)
    assert "param train.sizes: its relation with train.layers (depends_on) involves a list-valued param" in notes
    assert "param train.layers: its depends_on names 'train.nope', which the schema lacks" in notes
    assert "param train.optim.lr: its depends_on names itself" in notes

"""Job rendering: every real bank model, synthetic skills for each format, datasets, images, overrides, quoting."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from conftest import small_schema
from tao_automl.bank.skill import Skill, load_skill
from tao_automl.errors import SkillError, UserInputError
from tao_automl.render.inputs import leaves
from tao_automl.render.job import JobContext, base_spec, check_spec_overrides, new_override_keys, place, render_job
from tao_automl.render.paths import get_path, parse_path, set_path
from tao_automl.render.toml_format import to_toml
from tao_automl.util.dotted import flatten

BANK = Path(os.environ.get("TAO_TEST_BANK") or Path(__file__).resolve().parents[2] / "shared" / "tao-bank")
MODELS = BANK / "skills" / "models"
TRAIN, EVAL = "/data/train set", "/data/eval"


def _bank_models() -> list[str]:
    return sorted(p.name for p in MODELS.iterdir() if p.is_dir()) if MODELS.is_dir() else []


def _load(path: Path) -> Skill | None:
    try:
        return load_skill(path)
    except SkillError:
        return None


def _read(path: Path, fmt: str) -> Any:
    text = path.read_text()
    return {"yaml": yaml.safe_load, "json": json.loads, "toml": tomllib.loads}[fmt](text)


@pytest.mark.skipif(not MODELS.is_dir(), reason=f"no TAO skill bank at {BANK} (set TAO_TEST_BANK)")
@pytest.mark.parametrize("name", _bank_models())
def test_every_bank_model_renders_a_runnable_job(name: str, tmp_path: Path) -> None:
    skill = _load(MODELS / name)
    if skill is None:
        pytest.skip(f"{name} does not load for AutoML (disabled or no schema)")
    sources = {str((rule or {}).get("source")) for rule in skill.data_sources.values()}
    dataset_keys: dict[str, str] = {}
    if not sources & {"train_datasets", "train_dataset"}:  # no rule places the train URI: name the keys exactly
        dataset_keys = {key: f"/data/{i}/x" for i, key in enumerate(skill.action_info.get("inputs") or {})
                        if key.startswith("dataset.")}
    ctx = JobContext(train_dataset_uri=TRAIN, eval_dataset_uri=EVAL, dataset_keys=dataset_keys)
    results = str(tmp_path / "rec dir" / "results")
    request = render_job(skill, {}, ctx, rec_dir=tmp_path / "rec dir", results_dir=results)

    assert _read(request.config_path, skill.config_format) == request.spec
    assert shlex.quote(str(request.config_path)) in request.command and "{config_path}" not in request.command
    if skill.container_image_ref is None:
        assert request.image is None
    else:
        assert request.image and "/" in request.image and ":" in request.image
    assert results in [value for _, value in flatten(request.spec)]
    assert request.outputs["results_dir"] == results
    placed = [key for key, rule in skill.data_sources.items()
              if (rule or {}).get("source") in ("train_datasets", "eval_dataset")] or list(dataset_keys)
    assert placed
    for key in placed:  # a placed value is listed, itself or leaf by leaf under the action's declared keys
        value = get_path(request.spec, key)
        shown = [request.inputs[key]] if key in request.inputs else [request.inputs[k] for k, _ in leaves(value, key)]
        assert TRAIN in json.dumps(shown) or EVAL in json.dumps(shown) or key in dataset_keys, (key, request.inputs)
    for key, value in request.inputs.items():  # nothing twice: a list whose leaves are listed is not listed too
        assert not (isinstance(value, (list, dict)) and all(k in request.inputs for k, _ in leaves(value, key))), key


# -- synthetic skills ------------------------------------------------------------------------------------


def _skill(root: Path, info: dict[str, Any], *, schema: dict[str, Any] | None = None,
           template: dict[str, Any] | None = None, name: str = "net", layout: str = "models") -> Path:
    skill = root / layout / name
    (skill / "references").mkdir(parents=True)
    (skill / "schemas").mkdir()
    base = {"name": name, "automl_enabled": True, "container_image": "example/net:1",
            "actions": {"train": {"command": "net train -e {config_path}", "config_format": "yaml"}}}
    (skill / "references" / "skill_info.yaml").write_text(yaml.safe_dump({**base, **info}))
    (skill / "schemas" / "train.schema.json").write_text(json.dumps(schema or small_schema()))
    if template is not None:
        (skill / "references" / "spec_template_train.yaml").write_text(yaml.safe_dump(template))
    return skill


def _action(**extra: Any) -> dict[str, Any]:
    return {"actions": {"train": {"command": "net train -e {config_path}", "config_format": "yaml", **extra}}}


def _render(skill: Path, tmp_path: Path, ctx: JobContext | None = None, **kw: Any) -> Any:
    return render_job(load_skill(skill), kw.pop("params", {}), ctx or JobContext(), rec_dir=tmp_path / "rec",
                      results_dir="/out/r1", **kw)


NASTY = {"train": {"optim": {"lr": 1e-05}, "layers": 2, "act": "say \"hi\"\n\tÿ€😀\x7f", "flag": False,
                   "num_epochs": 1, "none": None, "inf": float("inf"), "list": [1, 2.5, "a", [True]],
                   "items": [{"a": 1, "b": {"c": "d"}}], "empty": {}},
         "dotted.key": {"with space": "$(x)"}, "top": -3}


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_each_config_format_round_trips(fmt: str, tmp_path: Path) -> None:
    schema = {**small_schema(), "default": NASTY}
    skill = _skill(tmp_path, _action(config_format=fmt), schema=schema)
    request = _render(skill, tmp_path)
    assert request.config_path.name == f"train_spec.{fmt}"
    expected = json.loads(json.dumps(request.spec))
    if fmt == "toml":  # TOML has no null: None values are omitted
        del expected["train"]["none"]
    assert _read(request.config_path, fmt) == expected


@pytest.mark.skipif(not MODELS.is_dir(), reason=f"no TAO skill bank at {BANK} (set TAO_TEST_BANK)")
def test_a_written_yaml_spec_loads_back_as_the_spec(tmp_path: Path) -> None:
    """Every bank spec template, and a long non-ASCII string the two YAML emitters fold differently, read back
    exactly as written: the job receives the spec status shows."""
    from tao_automl.render.job import write_spec

    specs = [yaml.safe_load(p.read_text()) for p in sorted(MODELS.glob("*/references/spec_template_*.yaml"))]
    specs = [s for s in specs if isinstance(s, dict)]
    specs.append({"description": "Real-time stereo depth \u2014 distilled variant. Selected via `model.model_type: "
                                 "FastFoundationStereo`; shares the unified `depth_net` CLI " * 3})
    assert len(specs) > 20
    for i, spec in enumerate(specs):
        path = tmp_path / f"spec_{i}.yaml"
        write_spec(spec, path, "yaml")
        assert yaml.safe_load(path.read_text()) == spec


def test_toml_writer_rejects_null_in_a_list() -> None:
    assert tomllib.loads(to_toml({"a": {"b": None, "c": {}}})) == {"a": {"c": {}}}
    with pytest.raises(ValueError, match=r"a\.b\[1\] is None"):
        to_toml({"a": {"b": [1, None]}})


def test_unknown_config_format_is_a_skill_error(tmp_path: Path) -> None:
    skill = _skill(tmp_path, _action(config_format="ini"))
    with pytest.raises(SkillError, match=r"actions\.train\.config_format: 'ini' is not allowed; expected one of yaml"):
        _render(skill, tmp_path)  # refused when the skill loads, before anything renders


def test_paths_with_list_indices() -> None:
    assert parse_path("a.b[0].c") == ["a", "b", 0, "c"]
    spec: dict[str, Any] = {"a": {"b": [{"c": "", "keep": 1}]}}
    set_path(spec, "a.b[0].c", "x")
    set_path(spec, "a.b[1].c", "y")
    set_path(spec, "new[0]", "z")
    assert spec == {"a": {"b": [{"c": "x", "keep": 1}, {"c": "y"}]}, "new": ["z"]}
    assert get_path(spec, "a.b[1].c") == "y" and get_path(spec, "a.b[5].c") is None
    with pytest.raises(ValueError, match="past the end"):
        set_path(spec, "a.b[9].c", 1)
    with pytest.raises(ValueError, match="malformed"):
        parse_path("a..b")
    with pytest.raises(ValueError, match="malformed"):  # `$` matched before a last newline: read as a.b[0]
        parse_path("a.b[0]\n")


def _data_skill(tmp_path: Path) -> Path:
    template = {"dataset": {"train_data_sources": [{"image_dir": "", "json_file": ""}], "calib": "default-calib",
                            "val_dir": "", "list_dir": [], "multi": []}}
    rules = {"train": {
        "dataset.train_data_sources[0].image_dir": {"source": "train_datasets", "path": "images.tar.gz",
                                                    "runtime": "extracted_folder"},
        "dataset.train_data_sources[0].json_file": {"source": "train_datasets", "path": "ann.json"},
        "dataset.val_dir": {"source": "eval_dataset", "path": ""},
        "dataset.list_dir": {"source": "eval_dataset", "path": "lists", "list": True},
        "dataset.multi": {"source": "train_datasets", "multiple_sources": True,
                          "mapping": {"img": {"path": "i.tar.gz"}, "opt": {"path": "o.txt", "optional": True}}},
        "dataset.calib": {"source": "calibration_dataset", "path": "cal"},
    }}
    inputs = {"dataset.train_data_sources[0].image_dir": {"type": "file"}, "dataset.calib": {"type": "file"}}
    return _skill(tmp_path, {**_action(inputs=inputs), "data_sources": rules}, template=template)


def test_data_sources_rules_place_the_uris(tmp_path: Path) -> None:
    request = _render(_data_skill(tmp_path), tmp_path, JobContext(train_dataset_uri="s3://b/train/",
                                                                  eval_dataset_uri="/eval"))
    ds = request.spec["dataset"]
    assert ds["train_data_sources"] == [{"image_dir": "s3://b/train/images", "json_file": "s3://b/train/ann.json"}]
    assert request.archives == {"dataset.train_data_sources[0].image_dir": "s3://b/train/images.tar.gz"}
    assert ds["val_dir"] == "/eval" and ds["list_dir"] == ["/eval/lists"]
    assert ds["multi"] == [{"img": "s3://b/train/i.tar.gz"}]
    assert ds["calib"] == "default-calib"  # no calibration URI given: left at its default
    assert request.inputs["dataset.train_data_sources[0].image_dir"] == "s3://b/train/images"
    assert request.inputs["dataset.val_dir"] == "/eval" and "dataset.calib" in request.inputs

    extra = JobContext(train_dataset_uri="/t", extra_dataset_uris={"calibration_dataset": "/c"})
    assert _render(_data_skill(tmp_path / "2"), tmp_path / "2", extra).spec["dataset"]["calib"] == "/c/cal"


def test_a_file_uri_reaches_the_spec_as_the_path_preflight_checked(tmp_path: Path) -> None:
    """Preflight reads ``file:///data/x`` as the local path /data/x and checks that it exists, but the spec got
    ``file:///data/x/images``, which no trainer opens as a path; the dataset_keys value and base_checkpoint too."""
    skill = _data_skill(tmp_path)
    info = yaml.safe_load((skill / "references" / "skill_info.yaml").read_text())
    info["spec_params"] = {"train": {"train.pretrained_model_path": "ptm_if_no_resume_model"}}
    (skill / "references" / "skill_info.yaml").write_text(yaml.safe_dump(info))
    ctx = JobContext(train_dataset_uri="file:///data/train%20set/", eval_dataset_uri="file://localhost/eval",
                     extra_dataset_uris={"calibration_dataset": "file:/cal"}, base_checkpoint="file:///m/ptm.pth",
                     dataset_keys={"dataset.train_data_sources[0].json_file": "file:///ann/a.json"})
    request = _render(skill, tmp_path, ctx)
    ds = request.spec["dataset"]
    assert ds["train_data_sources"] == [{"image_dir": "/data/train set/images", "json_file": "/ann/a.json"}]
    assert request.archives == {"dataset.train_data_sources[0].image_dir": "/data/train set/images.tar.gz"}
    assert ds["val_dir"] == "/eval" and ds["list_dir"] == ["/eval/lists"] and ds["calib"] == "/cal/cal"
    assert request.spec["train"]["pretrained_model_path"] == "/m/ptm.pth"
    assert request.inputs["dataset.val_dir"] == "/eval"  # what a platform mounts is the path too
    remote = _render(_data_skill(tmp_path / "2"), tmp_path / "2", JobContext(train_dataset_uri="file://host/x"))
    assert remote.spec["dataset"]["train_data_sources"][0]["json_file"] == "file://host/x/ann.json"  # another host's


def test_dataset_keys_are_verbatim_and_win_over_rules(tmp_path: Path) -> None:
    keys = {"dataset.train_data_sources[0].json_file": "/data/a/ann.json",
            "custom.train_dataset.image_dir": "/other/imgs"}
    request = _render(_data_skill(tmp_path), tmp_path, JobContext(train_dataset_uri="/t", dataset_keys=keys))
    first = request.spec["dataset"]["train_data_sources"][0]
    assert first == {"image_dir": "/t/images", "json_file": "/data/a/ann.json"}
    assert request.spec["custom"] == {"train_dataset": {"image_dir": "/other/imgs"}}
    assert {k: request.inputs[k] for k in keys} == keys


def test_a_uri_no_rule_takes_is_listed_as_unplaced(tmp_path: Path) -> None:
    skill = load_skill(_skill(tmp_path, _action(inputs={"dataset.train_path": {"type": "file"}}), name="no-rules"))
    assert place(skill, JobContext(train_dataset_uri="/t", eval_dataset_uri="/e")).unplaced == \
        ["train_dataset_uri", "eval_dataset_uri"]  # preflight refuses them (tests/test_preflight.py)
    # dataset_keys set spec keys, they never consume a URI: the train URI still reaches no job (audit: an unusable
    # eval URI passed whenever any dataset_keys was given)
    assert place(skill, JobContext(train_dataset_uri="/t", dataset_keys={"dataset.train_path": "/t"})).unplaced == \
        ["train_dataset_uri"]


VERSIONS = {"images": {"tao_toolkit": {"pyt": "nvcr.io/nvidia/tao/tao-toolkit:7.1.0-pyt",
                                       "deploy": "nvcr.io/nvidia/tao/tao-toolkit:7.1.0-deploy"}}}


@pytest.mark.parametrize("layout", ["models", "skills/models"])
def test_legacy_image_key_resolves_through_versions_yaml(layout: str, tmp_path: Path) -> None:
    (tmp_path / "versions.yaml").write_text(yaml.safe_dump(VERSIONS))
    skill = _skill(tmp_path, {"container_image": "tao_toolkit.pyt"}, layout=layout)
    assert _render(skill, tmp_path).image == "nvcr.io/nvidia/tao/tao-toolkit:7.1.0-pyt"
    assert _render(skill, tmp_path, JobContext(image="mine/img:2")).image == "mine/img:2"


def test_action_image_wins_and_literals_are_kept(tmp_path: Path) -> None:
    (tmp_path / "versions.yaml").write_text(yaml.safe_dump(VERSIONS))
    info = {"container_image": "reg.io/top:1", **_action(container_image="images.tao_toolkit.deploy")}
    assert load_skill(_skill(tmp_path, info)).container_image == "nvcr.io/nvidia/tao/tao-toolkit:7.1.0-deploy"
    assert load_skill(_skill(tmp_path, {"container_image": "reg.io/top:1"}, name="b")).container_image == "reg.io/top:1"


def test_unresolvable_image_key_names_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "bank").mkdir()
    (tmp_path / "bank" / "versions.yaml").write_text(yaml.safe_dump(VERSIONS))
    skill = load_skill(_skill(tmp_path / "bank", {"container_image": "tao_toolkit.pty"}))
    with pytest.raises(SkillError, match=r"'tao_toolkit\.pty'.*versions\.yaml.*did you mean"):
        _ = skill.container_image
    lonely = load_skill(_skill(tmp_path / "lonely", {"container_image": "tao_toolkit.pyt"}))
    with pytest.raises(SkillError, match=r"no versions\.yaml"):
        _ = lonely.container_image


def test_shorthand_keys_are_override_aliases(tmp_path: Path) -> None:
    skill_dir = _skill(tmp_path, {"spec_shorthand_keys": {"num_epochs": "train.num_epochs", "lr": "train.optim.lr"}})
    skill = load_skill(skill_dir)
    overrides = {"num_epochs": 7, "lr": 0.5}
    check_spec_overrides(skill, base_spec(skill), overrides)
    spec = _render(skill_dir, tmp_path, JobContext(spec_overrides=overrides)).spec
    assert spec["train"]["num_epochs"] == 7 and spec["train"]["optim"]["lr"] == 0.5 and "num_epochs" not in spec
    with pytest.raises(UserInputError, match=r"both set 'train\.num_epochs'"):
        check_spec_overrides(skill, base_spec(skill), {"num_epochs": 1, "train.num_epochs": 2})


@pytest.mark.skipif(not (MODELS / "tao-train-dino").is_dir(), reason="no tao-train-dino in the bank")
def test_near_miss_override_on_a_real_schema() -> None:
    skill = load_skill(MODELS / "tao-train-dino")
    spec = base_spec(skill)
    with pytest.raises(UserInputError, match=r"'train\.num_epoch' \(did you mean 'train\.num_epochs'\?\)") as typo:
        check_spec_overrides(skill, spec, {"train.num_epoch": 3})
    # allowed said "'train.num_epochs' or a new key", and this new key had just been refused
    assert typo.value.allowed == ("'train.num_epochs', or a new key unlike the schema's (one this near "
                                  "'train.num_epochs' is taken for a typo)")
    overrides = {"custom.brand_new_knob": 1, "num_epochs": 2, "dataset.train_data_sources[0].image_dir": "/x"}
    check_spec_overrides(skill, spec, overrides)  # a new key is passed through: preflight's check names it
    assert new_override_keys(skill, spec, overrides) == ["custom.brand_new_knob"]
    with pytest.raises(UserInputError, match=r"spec_overrides: cannot set 'train\.num_epochs\.deeper_knob'"):
        check_spec_overrides(skill, spec, {"train.num_epochs.deeper_knob": 1})


def test_values_reach_the_shell_only_quoted(tmp_path: Path) -> None:
    script = tmp_path / "trainer.py"
    script.write_text("import sys, yaml\nspec = yaml.safe_load(open(sys.argv[2]))\n"
                      "open(sys.argv[3], 'w').write(spec['train']['act'])\n")
    seen = tmp_path / "seen.txt"
    command = f"{sys.executable} {script} -e {{config_path}} {seen}"
    skill = _skill(tmp_path, {"actions": {"train": {"command": command, "config_format": "yaml"}}})
    payload = f"$(touch {tmp_path}/pwned1); `touch {tmp_path}/pwned2`"
    rec_dir = tmp_path / "a dir $(touch pwned3)"
    request = render_job(load_skill(skill), {"train.act": payload}, JobContext(), rec_dir=rec_dir,
                         results_dir=str(tmp_path / "r"))
    done = subprocess.run(request.command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert seen.read_text() == payload
    assert not list(tmp_path.glob("pwned*")) and not list(rec_dir.glob("pwned*"))


def test_command_placeholders(tmp_path: Path) -> None:
    ok = _skill(tmp_path, _action(command="run ${HOME} -e {config_path} --out {results_dir}"))
    assert _render(ok, tmp_path).command.endswith("--out /out/r1") and "${HOME}" in _render(ok, tmp_path).command
    bad = _skill(tmp_path, _action(command="run -e {config_path} --gpus {num_gpus}"), name="bad")
    with pytest.raises(SkillError, match=r"placeholder \{num_gpus\}"):
        _render(bad, tmp_path)


def _roles_skill(tmp_path: Path) -> Path:
    template = {"results_dir": "", "encryption_key": "", "model": {"pretrained_backbone_path": ""},
                "train": {"pretrained_model_path": "", "resume_training_checkpoint_path": ""},
                "dataset": {"dataset_name": "Mono"}, "export": {"onnx_file": ""}}
    params = {"train": {"results_dir": "output_dir", "encryption_key": "key",
                        "model.pretrained_backbone_path": "ptm_if_no_resume_model",
                        "train.pretrained_model_path": "ptm_if_no_resume_model",
                        "train.resume_training_checkpoint_path": "resume_model",
                        "export.onnx_file": "create_onnx_file", "dataset.dataset_name": "OtherLiteral",
                        "model.download": {"link": "https://x/y.pth", "destination_path": "/ptm/y.pth"}}}
    outputs = {"results_dir": {"type": "folder"}, "export.onnx_file": {"type": "file"}}
    return _skill(tmp_path, {**_action(outputs=outputs), "spec_params": params}, template=template)


def test_spec_params_roles(tmp_path: Path) -> None:
    skill = _roles_skill(tmp_path)
    fresh = _render(skill, tmp_path, JobContext(base_checkpoint="/ckpt/base.pth", encryption_key="k3y"))
    spec = fresh.spec
    assert spec["results_dir"] == "/out/r1" and spec["encryption_key"] == "k3y"
    assert spec["train"]["pretrained_model_path"] == "/ckpt/base.pth"
    assert spec["model"] == {"pretrained_backbone_path": ""}  # backbone-only key keeps its default
    assert spec["export"]["onnx_file"] == "/out/r1/model.onnx" and spec["dataset"]["dataset_name"] == "Mono"
    assert fresh.outputs == {"results_dir": "/out/r1", "export.onnx_file": "/out/r1/model.onnx"}
    resumed = _render(skill, tmp_path, JobContext(base_checkpoint="/ckpt/base.pth"), resume_path="/out/r0/last.pth")
    assert resumed.spec["train"]["pretrained_model_path"] == ""  # resuming: no pretrained model
    assert resumed.spec["train"]["resume_training_checkpoint_path"] == "/out/r0/last.pth"


def test_output_folder_without_output_dir_role(tmp_path: Path) -> None:
    template = {"train": {"output_dir": "artifacts", "num_epochs": 1}}
    skill = _skill(tmp_path, _action(outputs={"train.output_dir": {"type": "folder"}}), template=template)
    request = _render(skill, tmp_path)
    assert request.spec["train"]["output_dir"] == "/out/r1" and "results_dir" not in request.spec
    assert request.outputs == {"results_dir": "/out/r1", "train.output_dir": "/out/r1"}


def test_a_spec_file_reads_the_same_in_omegaconf_as_the_run_records_it(tmp_path: Path) -> None:
    """A string option "1e-3" was written unquoted, so TAO's OmegaConf loader read the float 0.001 while status,
    CSV and export recorded the text; a template's `lr: 1e-4` (a float to TAO) was read as the text "1e-4"."""
    from omegaconf import OmegaConf

    from tao_automl.render.job import write_spec
    from tao_automl.util.yaml_numbers import load_spec_yaml

    spec = {"train": {"mixed": "1e-3", "octal": "0o17", "lr": 1e-4, "big": 1e5, "name": "resnet", "n": 3}}
    path = tmp_path / "train_spec.yaml"
    write_spec(spec, path, "yaml")
    for loaded in (OmegaConf.to_container(OmegaConf.load(path)), yaml.safe_load(path.read_text())):
        assert loaded == spec, loaded
    template = "train:\n  lr: 1e-4\n  wd: 5E-5\n  text: v1e5\n  quoted: '1e-3'\n"
    assert load_spec_yaml(template) == OmegaConf.to_container(OmegaConf.create(template)) == {
        "train": {"lr": 1e-4, "wd": 5e-5, "text": "v1e5", "quoted": "1e-3"}}


def test_a_template_number_in_exponent_form_reaches_the_job_as_a_number(tmp_path: Path) -> None:
    from conftest import write_skill

    skill_dir = write_skill(tmp_path / "bank")
    (skill_dir / "references" / "spec_template_train.yaml").write_text(
        "train:\n  optim:\n    lr: 1e-2\n  layers: 2\n  act: relu\n  flag: false\n  num_epochs: 1\n  wd: 1e-4\n")
    spec = base_spec(load_skill(skill_dir, "train"))
    assert spec["train"]["wd"] == 1e-4 and spec["train"]["optim"]["lr"] == 1e-2


@pytest.mark.parametrize("fmt", ["json", "toml", "yaml"])
def test_a_template_date_reaches_the_job_as_the_text_omegaconf_reads(tmp_path: Path, fmt: str) -> None:
    """PyYAML read a template's ``start: 2024-01-01`` as a date: a json spec crashed the run with a traceback
    (a date is not JSON), a toml one got text while the dry-run showed a date. TAO's OmegaConf reads it as text."""
    from omegaconf import OmegaConf

    text = "train:\n  lr: 0.1\n  start: 2024-01-01\n  stamp: 2024-01-01 10:00:00\n"
    expected = OmegaConf.to_container(OmegaConf.create(text))
    assert expected == {"train": {"lr": 0.1, "start": "2024-01-01", "stamp": "2024-01-01 10:00:00"}}
    skill = _skill(tmp_path, _action(config_format=fmt), template=yaml.safe_load(text))
    (skill / "references" / "spec_template_train.yaml").write_text(text)
    request = _render(skill, tmp_path)
    assert request.spec["train"]["start"] == "2024-01-01" and request.spec["train"]["stamp"] == "2024-01-01 10:00:00"
    assert _read(request.config_path, fmt)["train"]["start"] == "2024-01-01"


@pytest.mark.parametrize(("template", "train"), [
    ("train: {}\n", {}),
    ("train:\n  optim: {}\n  layers: 4\n", {"layers": 4}),
])
def test_an_empty_group_of_a_template_keeps_the_schema_defaults(tmp_path: Path, template: str,
                                                                 train: dict[str, Any]) -> None:
    """A template's `train: {}` replaced the train group's schema defaults with {} (the job's spec lost train.optim.lr,
    train.num_epochs...), while `train: {layers: 4}` merged; TAO merges a spec file over its defaults, so an empty
    group takes them, as OmegaConf's merge does."""
    from omegaconf import OmegaConf

    from conftest import write_skill

    skill_dir = write_skill(tmp_path / "bank")
    (skill_dir / "references" / "spec_template_train.yaml").write_text(template)
    skill = load_skill(skill_dir, "train")
    defaults = small_schema()["default"]
    expected = OmegaConf.to_container(OmegaConf.merge(defaults, yaml.safe_load(template)))
    assert expected == {**defaults, "train": {**defaults["train"], **train}}
    assert base_spec(skill) == expected
    rendered = render_job(skill, {"train.act": "tanh"}, JobContext(), rec_dir=tmp_path / "rec",
                          results_dir=str(tmp_path / "results"))
    assert rendered.spec["train"] == {
        **expected["train"], "act": "tanh"}


def test_a_null_option_of_a_toml_model_is_refused(tmp_path: Path) -> None:
    """TOML has no null: a searched null left the key out of the job's spec while the run recorded null."""
    from conftest import write_skill
    from tao_automl.errors import SearchSpaceError
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.run_args import RunArgs

    schema = small_schema()
    schema["properties"]["train"]["properties"]["act"]["enum"] = ["relu", "tanh", None]
    skill_dir = write_skill(tmp_path / "bank", schema=schema)
    info_path = skill_dir / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["config_format"] = "toml"
    info_path.write_text(yaml.safe_dump(info))
    args = RunArgs(skill_dir=str(skill_dir), automl_hyperparameters=["train.optim.lr", "train.act"],
                   custom_param_ranges={"train.act": {"valid_options": [None, "relu"]}},
                   automl_settings={"algorithm": "random", "metric": "val_loss"})
    with pytest.raises(SearchSpaceError, match="TOML has no null") as caught:
        RunPlan.build(args)
    assert caught.value.field == "custom_param_ranges.train.act.valid_options"
    with pytest.raises(SearchSpaceError, match="TOML has no null") as schema_own:  # the schema's own enum
        RunPlan.build(RunArgs(**{**args.__dict__, "custom_param_ranges": None}))
    assert schema_own.value.field == "schema property train.act"
    RunPlan.build(RunArgs(**{**args.__dict__, "custom_param_ranges": {"train.act": {"valid_options": ["relu",
                                                                                                        "tanh"]}}}))


def test_a_toml_key_ending_in_a_newline_is_quoted() -> None:
    """``_BARE.match`` took ``"a\\n"`` for a bare key (``$`` matches before a last newline), so the TOML spec held
    ``a<newline> = 1`` and no TOML reader could load it."""
    from tao_automl.render.toml_format import to_toml

    for spec in ({"a\n": 1}, {"t": {"k\n": "v"}}, {"x": [{"q\n": 1}]}):
        assert tomllib.loads(to_toml(spec)) == spec

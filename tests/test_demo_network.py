"""The built-in demo network: bank files, and the numpy digits MLP trainer run as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import tao_automl
from tao_automl.bank import builtin_bank_path, builtin_models, builtin_skill_dir
from tao_automl.demo import digits_mlp
from tao_automl.errors import SkillError

SRC = Path(tao_automl.__file__).resolve().parents[1]
SANE = {"train": {"optim": {"lr": 0.05, "momentum": 0.9}}, "model": {"hidden_units": 32}}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    return env


def write_spec(path: Path, results_dir: Path, num_epochs: int, **extra: Any) -> Path:
    spec: dict[str, Any] = {"results_dir": str(results_dir), **SANE}
    spec = digits_mlp._merge(spec, {"train": {"num_epochs": num_epochs}})
    spec = digits_mlp._merge(spec, extra)
    path.write_text(yaml.safe_dump(spec))
    return path


def run_trainer(spec: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tao_automl.demo.digits_mlp", "train", "-e", str(spec), *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, check=False)


def status_records(results_dir: Path) -> list[dict[str, Any]]:
    lines = (results_dir / "status.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


def epoch_records(results_dir: Path) -> list[dict[str, Any]]:
    return [r for r in status_records(results_dir) if "kpi" in r]


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("three")
    proc = run_trainer(write_spec(root / "spec.yaml", root / "results", 3))
    return root / "results", proc


# --------------------------------------------------------------------------- trainer, as a subprocess


def test_three_epochs_write_tao_status_lines(
    three_epochs: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    results, proc = three_epochs
    assert proc.returncode == 0, proc.stderr
    records = status_records(results)
    assert [r["status"] for r in records] == ["STARTED", "RUNNING", "RUNNING", "RUNNING", "SUCCESS"]
    epochs = [r for r in records if r["status"] == "RUNNING"]
    assert [(r["epoch"], r["max_epoch"]) for r in epochs] == [(1, 3), (2, 3), (3, 3)]
    for record in records:
        assert {"date", "time", "status", "verbosity", "message"} <= record.keys()
    for record in epochs:
        assert set(record["kpi"]) == {"val_loss", "val_accuracy", "train_loss"}
        assert all(isinstance(v, float) for v in record["kpi"].values())


def test_three_epochs_learn_and_print_epoch_lines(
    three_epochs: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    results, proc = three_epochs
    kpis = [r["kpi"] for r in epoch_records(results)]
    assert kpis[-1]["val_accuracy"] > 0.8  # chance is 0.1
    assert kpis[-1]["train_loss"] < kpis[0]["train_loss"]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("Epoch ")]
    assert len(lines) == 3
    assert lines[2].startswith("Epoch 3/3: ") and "val_accuracy=" in lines[2] and "train_loss=" in lines[2]


def test_the_printed_epoch_lines_read_back_as_the_status_json_values(
    three_epochs: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The runner reads a job's metric from its log when it finds no status.json; the demo printed each value at 6
    digits (val_accuracy 0.9999996 read ``1``, a val_loss cut to 6 digits), so that path stored a metric other than
    the one the model scored. Each value is now printed in full: read back from the log, it is status.json's."""
    from tao_automl.metrics.parse import metric_from_logs

    results, proc = three_epochs
    last = epoch_records(results)[-1]["kpi"]
    for name, value in last.items():
        assert metric_from_logs(proc.stdout, name) == value, (name, proc.stdout)
    line = digits_mlp.kpi_text({"val_accuracy": 0.9999996, "val_loss": 0.5})
    assert line == "val_accuracy=0.9999996 val_loss=0.5"
    assert metric_from_logs(line, "val_accuracy") == 0.9999996


def test_three_epochs_write_checkpoints(three_epochs: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    results, _ = three_epochs
    names = sorted(p.name for p in (results / "train").iterdir())
    assert names == ["model_epoch_001.npz", "model_epoch_002.npz", "model_epoch_003.npz"]
    with np.load(results / "train" / "model_epoch_003.npz") as npz:
        meta = json.loads(str(npz["meta"]))
        assert meta["epoch"] == 3 and meta["layer_sizes"] == [64, 32, 10]
        assert npz["weight_0"].shape == (64, 32) and npz["momentum_weight_0"].shape == (64, 32)


def test_resume_from_epoch_two_matches_uninterrupted_run(
    three_epochs: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    results3, _ = three_epochs
    resumed = tmp_path / "resumed"
    ckpt = results3 / "train" / "model_epoch_002.npz"
    proc = run_trainer(
        write_spec(tmp_path / "r.yaml", resumed, 4, train={"resume_training_checkpoint_path": str(ckpt)})
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["epoch"] for r in epoch_records(resumed)] == [3, 4]
    assert sorted(p.name for p in (resumed / "train").iterdir()) == [
        "model_epoch_003.npz",
        "model_epoch_004.npz",
    ]

    straight = tmp_path / "straight"
    proc = run_trainer(write_spec(tmp_path / "s.yaml", straight, 4))
    assert proc.returncode == 0, proc.stderr
    assert epoch_records(resumed)[-1]["kpi"] == epoch_records(straight)[-1]["kpi"]
    # the resumed epoch 3 also equals the first run's epoch 3
    assert epoch_records(resumed)[0]["kpi"] == epoch_records(results3)[-1]["kpi"]
    with (
        np.load(resumed / "train" / "model_epoch_004.npz") as a,
        np.load(straight / "train" / "model_epoch_004.npz") as b,
    ):
        assert np.array_equal(a["weight_1"], b["weight_1"])


def test_missing_sklearn_exits_2_with_install_hint(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", tmp_path / "out", 1)
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from tao_automl.demo.digits_mlp import main\n"
        f"sys.exit(main(['train', '-e', {str(spec)!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "install the demo extra: pip install 'tao-run-automl[demo]'" in proc.stderr
    assert status_records(tmp_path / "out")[-1]["status"] == "FAILURE"


# --------------------------------------------------------------------------- trainer, in process (fast)


def test_auto_resume_from_latest_checkpoint_in_results_dir(
    three_epochs: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = tmp_path / "results"
    shutil.copytree(three_epochs[0], results)
    spec = write_spec(tmp_path / "spec.yaml", results, 4)
    assert digits_mlp.main(["train", "-e", str(spec)]) == 0
    assert "Resuming from" in capsys.readouterr().out
    assert [r["epoch"] for r in epoch_records(results)] == [1, 2, 3, 4]  # old lines kept, only epoch 4 is new
    assert (results / "train" / "model_epoch_004.npz").is_file()


def test_resume_past_num_epochs_reports_checkpoint_kpi(
    three_epochs: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    ckpt = three_epochs[0] / "train" / "model_epoch_003.npz"
    spec = write_spec(
        tmp_path / "spec.yaml", tmp_path / "out", 2, train={"resume_training_checkpoint_path": str(ckpt)}
    )
    assert digits_mlp.main(["train", "-e", str(spec)]) == 0
    records = status_records(tmp_path / "out")
    assert records[-1]["status"] == "SUCCESS"
    assert records[-2]["kpi"] == epoch_records(three_epochs[0])[-1]["kpi"]


def test_diverging_lr_fails_with_null_kpis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path / "spec.yaml", tmp_path / "out", 5, train={"optim": {"lr": 50.0}})
    assert digits_mlp.main(["train", "-e", str(spec)]) == 1
    assert "training diverged" in capsys.readouterr().err
    records = status_records(tmp_path / "out")
    assert records[-1]["status"] == "FAILURE" and "diverged" in records[-1]["message"]
    assert None in records[-2]["kpi"].values() or max(records[-2]["kpi"].values()) > digits_mlp.DIVERGED_LOSS
    assert not any(p.name == "model_epoch_005.npz" for p in (tmp_path / "out" / "train").glob("*"))


def test_status_json_never_holds_nan(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", tmp_path / "out", 5, train={"optim": {"lr": 500.0}})
    digits_mlp.main(["train", "-e", str(spec)])
    text = (tmp_path / "out" / "status.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_missing_resume_path_exits_nonzero_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.npz"
    spec = write_spec(
        tmp_path / "spec.yaml", tmp_path / "out", 2, train={"resume_training_checkpoint_path": str(missing)}
    )
    assert digits_mlp.main(["train", "-e", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "train.resume_training_checkpoint_path" in err and str(missing) in err and "does not exist" in err


def test_resume_with_other_architecture_is_rejected(
    three_epochs: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ckpt = three_epochs[0] / "train" / "model_epoch_001.npz"
    spec = write_spec(
        tmp_path / "spec.yaml",
        tmp_path / "out",
        2,
        train={"resume_training_checkpoint_path": str(ckpt)},
        model={"hidden_units": 16},
    )
    assert digits_mlp.main(["train", "-e", str(spec)]) == 2
    assert "does not match the spec" in capsys.readouterr().err


def test_npz_dataset_json_spec_and_overrides(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 5, size=(3, 4))
    y = rng.integers(0, 3, size=300)
    x = centers[y] + rng.normal(0, 0.5, size=(300, 4))
    np.savez(tmp_path / "blobs.npz", X=x, y=np.array(["a", "b", "c"])[y])
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"results_dir": str(tmp_path / "out"), "dataset": {"train_path": str(tmp_path / "blobs.npz")}}
        )
    )
    assert digits_mlp.main(["train", "-e", str(spec), "train.num_epochs=2", "model.activation=tanh"]) == 0
    kpis = epoch_records(tmp_path / "out")
    assert len(kpis) == 2 and kpis[-1]["kpi"]["val_accuracy"] > 0.9


@pytest.mark.parametrize(
    ("spec_text", "suffix", "expected"),
    [
        ("results_dir: OUT\nmodel: {activation: relu6}\n", ".yaml", "model.activation='relu6'"),
        ("results_dir: OUT\ntrain: {optim: {lr: -1}}\n", ".yml", "train.optim.lr=-1"),
        ("results_dir: OUT\ntrain: {batch_size: 0}\n", ".yaml", "train.batch_size=0"),
        ("results_dir: OUT\ntrain: {optim: {nesterov: maybe}}\n", ".yaml", "train.optim.nesterov"),
        ("results_dir: OUT\n", ".txt", "unsupported extension"),
        ("train: {num_epochs: 1}\n", ".yaml", "results_dir is empty"),
        (
            "results_dir: OUT\ndataset: {train_path: /no/such.npz}\n",
            ".yaml",
            "dataset.train_path='/no/such.npz'",
        ),
    ],
)
def test_bad_specs_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec_text: str, suffix: str, expected: str
) -> None:
    spec = tmp_path / f"spec{suffix}"
    spec.write_text(spec_text.replace("OUT", str(tmp_path / "out")))
    assert digits_mlp.main(["train", "-e", str(spec)]) == 2
    assert expected in capsys.readouterr().err


def test_unknown_spec_key_warns_with_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path / "spec.yaml", tmp_path / "out", 1, train={"optim": {"learning_rat": 0.1}})
    assert digits_mlp.main(["train", "-e", str(spec)]) == 0
    assert "unknown spec key 'train.optim.learning_rat'" in capsys.readouterr().err


def test_cli_usage_errors_return_2() -> None:
    assert digits_mlp.main([]) == 2
    assert digits_mlp.main(["evaluate", "-e", "x.yaml"]) == 2


# --------------------------------------------------------------------------- bank files


def _schema() -> dict[str, Any]:
    text = (builtin_skill_dir() / "schemas" / "train.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    return schema


def _leaves(props: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, prop in props.items():
        if prop.get("type") == "collection":
            out.update(_leaves(prop["properties"], f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = prop
    return out


def _get(spec: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        spec = spec[part]
    return spec


def test_builtin_skill_dir_and_unknown_name() -> None:
    skill = builtin_skill_dir()
    assert skill == builtin_bank_path() / "models" / "demo-digits-mlp"
    assert (skill / "references" / "skill_info.yaml").is_file()
    assert builtin_models() == ["demo-digits-mlp"]
    with pytest.raises(
        SkillError, match=r"demo-digits-mpl'.*did you mean 'demo-digits-mlp'.*available: demo-digits-mlp"
    ):
        builtin_skill_dir("demo-digits-mpl")


def test_the_python_api_takes_the_builtin_form_a_run_config_takes(tmp_path: Path) -> None:
    """A run config's `skill_dir: builtin:demo-digits-mlp` works, but `AutoML(skill_dir="builtin:demo-digits-mlp")` and
    `AutoMLRunner(sdk, "builtin:demo-digits-mlp")` said ".../builtin:demo-digits-mlp does not exist"; an unknown
    name lists the built-in models there too."""
    from tao_automl import AutoML
    from tao_automl.bank.skill import load_skill
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    assert load_skill("builtin:demo-digits-mlp").path == builtin_skill_dir()
    assert AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), "builtin:demo-digits-mlp").skill.name == "demo-digits-mlp"
    ml = AutoML(tmp_path / "ws", skill_dir="builtin:demo-digits-mlp", log_progress=False,
                settings={"metric": "val_loss", "automl_max_recommendations": 2})
    assert [rec.id for rec in ml.next_recommendation()] == [1, 2]  # the budget of 2, both at once
    with pytest.raises(SkillError, match=r"did you mean 'demo-digits-mlp'.*available: demo-digits-mlp"):
        load_skill("builtin:demo-digits-mpl")


def test_schema_defaults_cover_every_automl_param_with_valid_ranges() -> None:
    schema = _schema()
    leaves = _leaves(schema["properties"])
    enabled = {name for name, prop in leaves.items() if prop.get("automl_enabled")}
    assert set(schema["automl_default_parameters"]) == enabled
    types = {leaves[name]["type"] for name in enabled}
    assert {"float", "int", "categorical", "bool"} <= types
    for name in enabled:
        prop, value = leaves[name], _get(schema["default"], name)
        assert value == prop["default"], name
        if prop["type"] in ("float", "int"):
            assert prop["minimum"] <= value <= prop["maximum"], name
        if prop["type"] == "categorical":
            assert value in prop["enum"]
    assert "learning rate" in leaves["train.optim.lr"]["description"].lower()
    for name in (
        "results_dir",
        "train.num_epochs",
        "train.seed",
        "dataset.train_path",
        "dataset.split_seed",
        "train.resume_training_checkpoint_path",
    ):
        _get(schema["default"], name)
        assert not leaves[name].get("automl_enabled"), name


def test_schema_ranges_are_accepted_by_the_trainer() -> None:
    schema = _schema()
    leaves = _leaves(schema["properties"])
    for name in schema["automl_default_parameters"]:
        prop = leaves[name]
        extremes = prop.get("enum") or (
            [True, False] if prop["type"] == "bool" else [prop["minimum"], prop["maximum"]]
        )
        for value in extremes:
            spec = digits_mlp._merge(schema["default"], {"results_dir": "/tmp/x"})
            node = spec
            *parents, last = name.split(".")
            for part in parents:
                node = node[part]
            node[last] = value
            digits_mlp.TrainConfig.from_spec(spec)


def test_template_manifest_and_skill_info_agree_with_schema() -> None:
    skill, schema = builtin_skill_dir(), _schema()
    template = yaml.safe_load((skill / "references" / "spec_template_train.yaml").read_text())
    assert template == schema["default"]
    manifest = json.loads((skill / "schemas" / "manifest.json").read_text())
    train = manifest["actions"]["train"]
    assert sorted(train["automl_default_parameters"]) == sorted(schema["automl_default_parameters"])
    assert (skill / train["path"]).is_file() and (skill / train["spec_template"]).is_file()
    info = yaml.safe_load((skill / "references" / "skill_info.yaml").read_text())
    assert info["automl_enabled"] is True and info["name"] == skill.name == manifest["model"]
    assert info["network_arch"] == manifest["network_arch"] == schema["x_tao_schema"]["network_arch"]
    assert info["kpi_metric"] == "val_accuracy" and info["kpi_direction"] == "maximize"
    action = info["actions"]["train"]
    assert action["command"] == "tao-demo-digits train -e {config_path}" and action["config_format"] == "yaml"
    assert action["inputs"]["train.resume_training_checkpoint_path"]["optional"] is True
    assert "results_dir" in action["outputs"]
    assert info["data_sources"]["train"]["dataset.train_path"]["source"] == "train_datasets"
    assert info["spec_params"]["train"] == {
        "results_dir": "output_dir",
        "train.resume_training_checkpoint_path": "resume_model",
    }
    assert (skill / "references" / info["spec_templates"]["train"]).resolve().is_file()


@pytest.mark.parametrize("activation", digits_mlp.ACTIVATIONS)
def test_backprop_matches_finite_differences(activation: str) -> None:
    spec = digits_mlp._merge(
        digits_mlp.default_spec(),
        {
            "results_dir": "/tmp/unused",
            "model": {"activation": activation, "hidden_units": 5, "num_layers": 2},
            "train": {"optim": {"weight_decay": 0.01}},
        },
    )
    cfg = digits_mlp.TrainConfig.from_spec(spec)
    state = digits_mlp.init_state(cfg, [4, 5, 5, 3])
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 4)), rng.integers(0, 3, size=7)

    def objective() -> float:
        logits, _, _ = digits_mlp.forward(state, x, activation)
        penalty = 0.5 * cfg.weight_decay * sum(float((w * w).sum()) for w in state.weights)
        return digits_mlp.cross_entropy(logits, y)[0] + penalty

    _, grads_w, grads_b = digits_mlp.gradients(state, cfg, x, y)
    for params, grads in ((state.weights, grads_w), (state.biases, grads_b)):
        for param, grad in zip(params, grads, strict=True):
            numeric = np.zeros_like(param)
            for idx in np.ndindex(param.shape):
                old = param[idx]
                param[idx] = old + 1e-6
                up = objective()
                param[idx] = old - 1e-6
                down = objective()
                param[idx] = old
                numeric[idx] = (up - down) / 2e-6
            np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-7)


def test_sgd_step_follows_pytorch_momentum_rules() -> None:
    for nesterov in (False, True):
        spec = digits_mlp._merge(
            digits_mlp.default_spec(),
            {
                "results_dir": "/tmp/unused",
                "model": {"hidden_units": 3},
                "train": {"optim": {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.0, "nesterov": nesterov}},
            },
        )
        cfg = digits_mlp.TrainConfig.from_spec(spec)
        state = digits_mlp.init_state(cfg, [2, 3, 2])
        x, y = np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0, 1])
        w0 = state.weights[0].copy()
        _, g1, _ = digits_mlp.gradients(state, cfg, x, y)
        digits_mlp.sgd_step(state, cfg, x, y)
        v1 = g1[0]
        expected = w0 - 0.1 * ((g1[0] + 0.5 * v1) if nesterov else v1)
        np.testing.assert_allclose(state.weights[0], expected)
        w1 = state.weights[0].copy()
        _, g2, _ = digits_mlp.gradients(state, cfg, x, y)
        digits_mlp.sgd_step(state, cfg, x, y)
        v2 = 0.5 * v1 + g2[0]
        np.testing.assert_allclose(state.weights[0], w1 - 0.1 * ((g2[0] + 0.5 * v2) if nesterov else v2))

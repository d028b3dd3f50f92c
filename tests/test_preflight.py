"""``tao-automl preflight`` / ``run_preflight`` and ``run --dry-run``: checks that create and launch nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import small_schema, write_skill
from tao_automl.cli.main import main
from tao_automl.cli.preflight import preflight_file, run_preflight
from tao_automl.cli.run_config import load_run_config
from tao_automl.errors import UserInputError
from tao_automl.platforms import registry
from tao_automl.platforms.base import PlatformCheck
from test_bank_tools import SECRET, SHARED, needs_shared, synthetic_bank


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def _config(tmp_path: Path, skill: Path, **extra: Any) -> Path:
    config = {"skill_dir": str(skill), "workspace_path": "ws",
              "automl_settings": {"metric": "val_loss", "automl_max_recommendations": 5, "seed": 3},
              "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0},
              **extra}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


#: Dataset rules of a toy skill that takes both dataset URIs.
PLACING = {"dataset.train_path": {"source": "train_datasets"}, "dataset.val_path": {"source": "eval_dataset"}}


def _placing_skill(tmp_path: Path) -> Path:
    return write_skill(tmp_path / "placing", data_sources=PLACING)


def _checks(report_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in report_json["checks"]}


def test_preflight_passes_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = _config(tmp_path, _placing_skill(tmp_path), train_dataset_uri=str(data_dir), eval_dataset_uri=f"file://{data_dir}")
    before = _files(tmp_path)
    report = run_preflight(load_run_config(path))
    assert report.ok, report.text()
    assert main(["preflight", str(path), "--format", "json"]) == 0
    checks = _checks(json.loads(capsys.readouterr().out))
    assert {"config", "skill", "search_space", "spec_overrides", "credentials", "platform", "platform_reachable",
            "image", "train_dataset_uri", "eval_dataset_uri"} <= set(checks)
    assert "ignored" in checks["image"]["detail"] and checks["eval_dataset_uri"]["ok"] is True
    assert checks["search_space"]["detail"].endswith("metric val_loss (minimize)")  # the metric read, its direction
    assert _files(tmp_path) == before
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()


def test_a_file_uri_is_checked_as_the_path_its_job_gets(tmp_path: Path) -> None:
    """``file:///data/my%20set`` reaches the job's spec as ``/data/my set`` (percent-decoded), but preflight checked
    the path ``/data/my%20set`` (and failed a folder that exists); ``file://host/x`` is another machine's path, which
    preflight checked as this machine's ``/x``."""
    data_dir = tmp_path / "my set"
    data_dir.mkdir()
    encoded = f"file://{str(data_dir).replace(' ', '%20')}"
    report = run_preflight(load_run_config(_config(tmp_path, _placing_skill(tmp_path), train_dataset_uri=encoded,
                                                   eval_dataset_uri="file://gpu-node-7/data/eval")))
    checks = {c.check: c for c in report.checks}
    assert checks["train_dataset_uri"].ok is True, checks["train_dataset_uri"].detail
    assert checks["train_dataset_uri"].detail == f"{data_dir} exists"
    assert checks["eval_dataset_uri"].ok is None and "'gpu-node-7'" in checks["eval_dataset_uri"].detail


def test_a_local_command_whose_program_is_missing_is_a_warning_that_names_it(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`command: nosuchprog train -e {config_path}` passed preflight as "passed"; every rec then failed with exit code
    127 until fail fast stopped the sweep."""
    missing = write_skill(tmp_path / "a", command="nosuchprog train -e {config_path}")
    assert main(["preflight", str(_config(tmp_path, missing)), "--json"]) == 0
    check = _checks(json.loads(capsys.readouterr().out))["command"]
    assert check["ok"] is True and check.get("warning") is True and "'nosuchprog', which is not on PATH" in check[
        "detail"] and "exit code 127" in check["detail"]
    report = run_preflight(load_run_config(_config(tmp_path, write_skill(tmp_path / "b"))))  # this Python's path
    command = next(c for c in report.checks if c.check == "command")
    assert command.ok is True and not command.warning and command.detail == sys.executable


def test_a_config_without_a_metric_is_told_it_set_none_and_the_models_own(tmp_path: Path) -> None:
    """No metric: the refusal read "automl_settings.metric: 'loss' is not a metric demo-digits-mlp reports (did you
    mean 'val_loss'?)", a value the user never wrote, steering to minimise val_loss when the model's metric is
    val_accuracy. Preflight and the run say the metric is not set and name the model's monitoring metric."""
    from tao_automl.errors import SettingsError
    from tao_automl.runner.plan import RunPlan

    config = load_run_config(_config(tmp_path, Path(), skill_dir="builtin:demo-digits-mlp",
                                     train_dataset_uri="builtin:digits", automl_settings={"algorithm": "random"}))
    detail = {c.check: c.detail for c in run_preflight(config).checks}["search_space"]
    with pytest.raises(SettingsError) as refused:
        RunPlan.build(config)
    for said in (detail, str(refused.value)):
        assert "automl_settings.metric is not set" in said and "monitoring metric is 'val_accuracy'" in said, said
        assert "did you mean" not in said
    assert refused.value.field == "automl_settings.metric" and refused.value.value is None
    assert "set automl_settings.metric: val_accuracy" in str(refused.value.hint)
    given = load_run_config(_config(tmp_path, Path(), skill_dir="builtin:demo-digits-mlp",
                                    train_dataset_uri="builtin:digits", automl_settings={"metric": "loss"}))
    with pytest.raises(SettingsError, match="'loss' is not a metric demo-digits-mlp reports"):
        RunPlan.build(given)  # written by the user: refused as written


def test_preflight_names_the_metric_kpi_resolves_to_and_its_direction(capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    """``metric: kpi`` is shown as the metric the run reads (the skill's KPI) with its direction, both from the
    planned run (``plan=``) and from the checks alone."""
    from tao_automl.runner.plan import RunPlan

    config = load_run_config(_config(tmp_path, Path(), skill_dir="builtin:demo-digits-mlp",
                                     train_dataset_uri="builtin:digits", automl_settings={"metric": "kpi"}))
    for report in (run_preflight(config), run_preflight(config, plan=RunPlan.build(config))):
        detail = {c.check: c.detail for c in report.checks}["search_space"]
        assert detail.endswith("metric val_accuracy (maximize)"), detail
    both = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "val_loss", "direction": "minimize"}]
    config = load_run_config(_config(tmp_path, Path(), skill_dir="builtin:demo-digits-mlp",
                                     train_dataset_uri="builtin:digits", automl_settings={"metric": both}))
    checks = {c.check: c.detail for c in run_preflight(config).checks}
    assert checks["settings"].endswith("metrics val_accuracy, val_loss")  # every metric, not the first
    assert checks["search_space"].endswith("metrics val_accuracy (maximize), val_loss (minimize)")


def test_missing_local_dataset_fails_with_exit_2_naming_the_path(toy_skill: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "dataset"
    path = _config(tmp_path, toy_skill, train_dataset_uri=str(missing))
    assert main(["preflight", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "FAIL" in out and str(missing) in out
    assert str(missing) in err and len(err.strip().splitlines()) == 1
    assert main(["run", str(path)]) == 2  # run refuses to start
    assert str(missing) in capsys.readouterr().err
    for argv in (["run", str(path), "--json"], ["run", str(path), "--dry-run", "--json"]):
        assert main(argv) == 2  # README: the JSON failure also carries what ran first: preflight's checks
        shown = json.loads(capsys.readouterr().out)
        assert shown["error"]["field"] == "train_dataset_uri"
        assert "train_dataset_uri" in [c["check"] for c in shown["checks"] if c["ok"] is False]
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()


def test_remote_and_builtin_uris_are_not_failures(tmp_path: Path) -> None:
    path = _config(tmp_path, _placing_skill(tmp_path), train_dataset_uri="s3://bucket/train",
                   eval_dataset_uri="builtin:digits")
    report = run_preflight(load_run_config(path))
    checks = _checks(report.to_json())
    assert report.ok and checks["train_dataset_uri"]["ok"] is None and checks["eval_dataset_uri"]["ok"] is True
    last = report.text().splitlines()[-1]  # never "passed" when something was not checked
    assert last == "preflight: no check failed; 1 not checked (n/a above says why): train_dataset_uri", last


@pytest.mark.parametrize(
    ("extra", "check", "message"),
    [
        ({"automl_hyperparameters": ["train.optim.lrr"]}, "search_space", "did you mean 'train.optim.lr'"),
        ({"custom_param_ranges": {"train.layers": {"valid_min": 9, "valid_max": 3}}}, "search_space", "train.layers"),
        ({"spec_overrides": {"train.num_epoch": 2}}, "spec_overrides", "did you mean 'train.num_epochs'"),
        ({"platform_options": {"bogus": 1}}, "platform", "bogus"),
    ],
)
def test_each_bad_input_is_a_named_failed_check(toy_skill: Path, tmp_path: Path, extra: dict[str, Any], check: str,
                                                message: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, toy_skill, **extra)
    assert main(["preflight", str(path), "--json"]) == 2
    checks = _checks(json.loads(capsys.readouterr().out))
    assert checks[check]["ok"] is False and message in checks[check]["detail"]


def test_a_gpu_count_too_large_for_the_platform_names_the_key_the_config_wrote(
        toy_skill: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The local platform's GPU check failed with field "gpus" (the check's name), the check's text as value and
    "a passing check" as allowed; a negative count named "gpu_count". Both name the config's key path now."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # this machine: one GPU, whatever it really has
    for count, allowed in ((3, "an integer from 0 to 1"), (-1, "an integer >= 0")):
        path = _config(tmp_path, toy_skill, platform_kwargs={"gpu_count": count})
        assert main(["preflight", str(path), "--json"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert (error["field"], error["value"], error["allowed"]) == ("platform_kwargs.gpu_count", count, allowed)
        assert error["message"].startswith(f"platform_kwargs.gpu_count: {count} is not allowed")


def test_invalid_config_file_is_a_failed_config_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("skill_dir: x\nworkspace_path: ws\nplatfrom: local\n")
    assert main(["preflight", str(path), "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["checks"][0]["check"] == "config" and "did you mean 'platform'" in err


@pytest.mark.parametrize(("content", "field"), [("skill_dir: x\nworkspace_path: ws\nplatfrom: local\n", "platfrom"),
                                              (None, "config"), ("workspace_path: ws\n", "skill_dir")])
def test_preflight_of_a_bad_config_file_is_a_config_error_as_run_and_the_tool_say(
        content: str | None, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl preflight` wrapped a bad config file's error as kind "preflight", field "config", the message as
    value and "a passing check" as allowed, where `run` and the preflight tool say kind "config" and the key at fault
    (SKILL.md: `config` is a missing, unreadable or wrong config file; `preflight` a check of a valid config)."""
    from tao_automl.agentapi.tools import call_tool

    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["preflight", str(path), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    error = out["error"]
    assert out["checks"][0]["check"] == "config" and out["checks"][0]["ok"] is False
    assert (error["kind"], error["field"]) == ("config", field) and error["allowed"] not in (None, "a passing check")
    tool = call_tool("preflight", {"config_path": str(path)})[0]["error"]
    named = {"config": "config_path"}  # the file itself: named as each takes it (the CLI's positional, the argument)
    assert {k: tool[k] for k in ("kind", "field", "value", "allowed")} == {
        **{k: error[k] for k in ("kind", "value", "allowed")}, "field": named.get(field, field)}


class ProbeSDK:
    """A registered SDK whose preflight(image) checks reachability and the image (see tao_automl.platforms.base)."""

    def __init__(self, reachable: bool = True, images: tuple[str, ...] = (), down: bool = False) -> None:
        self.reachable, self.images, self.down = reachable, images, down

    def create_job(self, image: str | None, command: str, gpu_count: int = 1, **kwargs: Any) -> Any:
        raise AssertionError("preflight never submits")

    def get_job_status(self, job_id: str) -> Any:
        raise AssertionError("preflight never asks about a job")

    get_job_logs = get_failure_analysis = cancel_job = get_job_status

    def preflight(self, image: str | None) -> list[PlatformCheck]:
        if self.down:  # nothing answers at all
            return [PlatformCheck("platform_reachable", False, "connect to probe:6817: Connection refused",
                                  unreachable=True)]
        checks = [PlatformCheck("platform_reachable", self.reachable, "probe")]
        if image:
            checks.append(PlatformCheck("image", image in self.images, image))
        return checks


def test_credentials_reachability_and_image_via_bank_files_and_sdk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bank = synthetic_bank(tmp_path / "bank")
    monkeypatch.setitem(registry.PLATFORMS, "slurm", (f"{__name__}:ProbeSDK", None))
    for var in ("TT_SLURM_USER", "TT_SSH_KEY", "TT_SSH_SOCK"):
        monkeypatch.delenv(var, raising=False)
    path = _config(tmp_path, bank / "models" / "good-net", platform="slurm", platform_options={"reachable": False},
                   image="repo/img:1")
    checks = _checks(run_preflight(load_run_config(path)).to_json())
    assert checks["credentials"]["ok"] is False
    detail = checks["credentials"]["detail"]
    assert "TT_SLURM_USER" in detail and "TT_SSH_KEY/TT_SSH_SOCK" in detail
    assert checks["platform_reachable"]["ok"] is False and checks["image"]["ok"] is False
    monkeypatch.setenv("TT_SLURM_USER", SECRET)
    monkeypatch.setenv("TT_SSH_KEY", SECRET)
    path = _config(tmp_path, bank / "models" / "good-net", platform="slurm",
                   platform_options={"images": ["repo/img:1"]}, image="repo/img:1")
    report = run_preflight(load_run_config(path))
    assert report.ok, report.text()
    assert SECRET not in json.dumps(report.to_json()) and SECRET not in report.text()


@pytest.mark.parametrize("image", ["", "  "])
def test_an_empty_or_blank_image_is_refused_naming_image(tmp_path: Path, image: str) -> None:
    """`image: ""` was taken as the skill's container_image (a blank one passed on as an image): a config that
    meant to name an image (an unset variable in a template) ran the default one without a word. As an empty
    dataset URI or base_checkpoint, it is refused naming `image`, the value, and that the key is left out for the
    skill's image; preflight fails its `config` check before any platform is asked."""
    bank = synthetic_bank(tmp_path / "bank")
    path = _config(tmp_path, bank / "models" / "good-net", platform="slurm", image=image,
                   platform_options={"images": ["other/img:1"]})
    with pytest.raises(UserInputError) as info:
        load_run_config(path)
    assert info.value.field == "image" and info.value.value == image, info.value.to_json()
    assert "leave the key out for the skill's container_image" in str(info.value.allowed), info.value.allowed
    _, report = preflight_file(path)
    assert not report.ok and _checks(report.to_json())["config"]["ok"] is False


# -- dry run --------------------------------------------------------------------------------------
def test_dry_run_renders_recs_and_launches_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "LAUNCHED"
    skill = write_skill(tmp_path / "bank", command=f"touch {marker} && {sys.executable} -c pass {{config_path}}")
    path = _config(tmp_path, skill, spec_overrides={"train.num_epochs": 7})
    assert main(["run", str(path), "--dry-run", "--format", "json"]) == 0
    recs = json.loads(capsys.readouterr().out)["recs"]
    assert [r["rec_id"] for r in recs] == [1, 2, 3]
    assert len({json.dumps(r["params"], sort_keys=True) for r in recs}) == 3
    names = set(small_schema()["automl_default_parameters"])
    for rec in recs:
        assert set(rec["params"]) == names
        assert rec["spec"]["train"]["num_epochs"] == 7
        assert rec["budget"] == 7  # as the run records it (it said null while the run's recs said 7)
        assert rec["spec"]["train"]["optim"]["lr"] == rec["params"]["train.optim.lr"]
        assert rec["spec_path"].startswith(str(tmp_path / "ws")) and rec["spec_path"] in rec["command"]
        assert rec["spec"]["results_dir"].startswith(str(tmp_path / "ws"))
        assert rec["image"] == "example/toy:1" and rec["platform_kwargs"]["gpu_count"] == 0
    assert not marker.exists() and not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()
    assert main(["run", str(path), "--dry-run", "--recs", "2", "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)["recs"]
    assert [r["params"] for r in again] == [r["params"] for r in recs[:2]]  # same seed, same recs
    assert main(["run", str(path), "--dry-run", "--recs", "1"]) == 0
    text = capsys.readouterr().out
    assert "=== rec 1" in text and "command:" in text and "num_epochs: 7" in text and "nothing was launched" in text
    assert not marker.exists() and not (tmp_path / "ws").exists()


def test_dry_run_json_carries_the_notes_it_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               caplog: pytest.LogCaptureFixture) -> None:
    """`run --dry-run --json` logged its notes (a preflight warning, the run plan's notes) on stderr only, while
    `preflight --json` reports them: an agent reading stdout lost them. They are now `notes` in the JSON, each as
    logged (stderr keeps them); the MCP tool's answer carries the same."""
    from tao_automl.agentapi.tools import dry_run as dry_run_tool

    skill = write_skill(tmp_path / "bank")
    path = _config(tmp_path, skill, spec_overrides={"train.brand_new_key": 3},
                   custom_param_ranges={"train.layers": {"valid_min": 4, "valid_max": 4}})
    caplog.clear()
    assert main(["run", str(path), "--dry-run", "--recs", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name.endswith("dry_run")]
    new_key = next(n for n in shown["notes"] if n.startswith("preflight spec_overrides: "))
    assert "train.brand_new_key" in new_key, shown["notes"]
    assert any("range of one value" in n and "train.layers = 4" in n for n in shown["notes"]), shown["notes"]
    assert shown["notes"] == logged, (shown["notes"], logged)  # the very lines stderr gets, in order
    assert len(shown["recs"]) == 1
    assert dry_run_tool(config_path=str(path), recs=1)["notes"] == shown["notes"]


def test_a_new_spec_overrides_key_is_warned_about_once(tmp_path: Path) -> None:
    """A spec_overrides key in neither the schema nor the spec was warned about twice on stderr of `run` and `run
    --dry-run` (and `preflight`, beside its warn line): once as the spec was built, once by preflight's
    spec_overrides check, the one the JSON's notes carry. Preflight's line is the one said now."""
    from agent_helpers import cli

    path = _config(tmp_path, write_skill(tmp_path / "bank"), spec_overrides={"train.brand_new_key": 3})
    config = yaml.safe_load(path.read_text())
    config["automl_settings"]["automl_max_recommendations"] = 1
    config["automl_hyperparameters"] = ["train.optim.lr"]  # one quick rec that succeeds
    path.write_text(yaml.safe_dump(config))
    said = {}
    for name, extra in (("preflight", []), ("dry run", ["--dry-run", "--recs", "1"]), ("run", [])):
        done = cli("preflight" if name == "preflight" else "run", str(path), *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        said[name] = [line for line in (done.stdout + done.stderr).splitlines() if "train.brand_new_key" in line]
    assert {name: len(lines) for name, lines in said.items()} == {"preflight": 1, "dry run": 1, "run": 1}, said
    assert all("spec_overrides" in lines[0] and "passed through as new key(s)" in lines[0]
               for lines in said.values()), said


def test_dry_run_refuses_a_failing_preflight(toy_skill: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, toy_skill, train_dataset_uri=str(tmp_path / "missing"))
    assert main(["run", str(path), "--dry-run"]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["run", str(_config(tmp_path, toy_skill)), "--dry-run", "--recs", "0"]) == 2


@needs_shared
def test_shared_bank_model_preflight_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert SHARED is not None
    models = SHARED / "skills" / "models"
    skill = next(p for p in sorted(models.iterdir()) if (p / "schemas" / "train.schema.json").is_file()
                 and yaml.safe_load((p / "references" / "skill_info.yaml").read_text()).get("automl_enabled"))
    data = tmp_path / "data"
    data.mkdir()
    from tao_automl.bank.skill import load_skill
    from tao_automl.render.job import JobContext
    from tao_automl.render.placed import placed_paths

    for placed in placed_paths(load_skill(skill), JobContext(train_dataset_uri=str(data))):
        Path(placed.path).mkdir(parents=True)  # preflight checks each path a data_sources rule places
    path = _config(tmp_path, skill, train_dataset_uri=str(data), automl_settings={"automl_max_recommendations": 4})
    report = run_preflight(load_run_config(path))
    assert report.ok, report.text()
    assert main(["run", str(path), "--dry-run", "--recs", "2", "--format", "json"]) == 0
    recs = json.loads(capsys.readouterr().out)["recs"]
    assert len(recs) == 2 and all(r["spec"] and r["command"] for r in recs)
    assert not (tmp_path / "ws").exists()


def test_dry_run_shows_the_recs_the_real_run_launches_first(toy_skill: Path, tmp_path: Path) -> None:
    """Same brain, same batches, same seeds: the dry run's recs are the real sweep's first recs."""
    from tao_automl.cli.dry_run import dry_run
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    settings = {"metric": "val_loss", "automl_max_recommendations": 4, "automl_max_concurrent": 2, "seed": 7,
                "poll_interval_s": 0.5}
    config = load_run_config(_config(tmp_path, toy_skill, automl_settings=settings))
    shown = dry_run(config, n=4)
    real = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
        automl_settings=settings, workspace_path=tmp_path / "real", gpu_count=0)
    assert [r.params for r in shown[:2]] == [h["params"] for h in real["history"][:2]]  # the first batch
    # the later ones are asked as results arrive in the real run: marked, in JSON and text
    assert [r.exact for r in shown] == [True, True, False, False]
    assert [r.to_json()["exact"] for r in shown] == [True, True, False, False]
    assert "as if no result had come" in shown[2].text() and "as if no result" not in shown[1].text()


def test_dry_run_of_a_multi_fidelity_brain_writes_its_budget(toy_skill: Path, tmp_path: Path) -> None:
    from tao_automl.cli.dry_run import dry_run

    settings = {"algorithm": "asha", "metric": "val_loss", "automl_max_epochs": 9, "automl_max_recommendations": 6,
                "automl_max_concurrent": 3}
    shown = dry_run(load_run_config(_config(tmp_path, toy_skill, automl_settings=settings)), n=3)
    assert len(shown) == 3
    assert all(r.spec["train"]["num_epochs"] == 1 for r in shown)  # ASHA's lowest rung
    assert all(r.budget == 1 and r.to_json()["budget"] == 1 and "budget: 1 epoch(s)" in r.text() for r in shown)


@pytest.mark.parametrize("algorithm", ["hyperband", "asha", "hyperband_es"])
def test_a_multi_fidelity_brain_without_a_smaller_budget_fails_preflight_dry_run_and_run(
        algorithm: str, toy_skill: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """asha and hyperband_es with automl_max_epochs 9 < automl_reduction_factor 10 passed preflight and dry run and
    ran a random search under their name; hyperband refused them. All three refuse, the same way, exit 2."""
    settings = {"algorithm": algorithm, "metric": "val_loss", "automl_max_epochs": 9, "automl_reduction_factor": 10,
                "automl_max_recommendations": 12}
    path = _config(tmp_path, toy_skill, automl_settings=settings)
    checks = _checks(run_preflight(load_run_config(path)).to_json())
    assert checks["search_space"]["ok"] is False and f"so {algorithm} has no smaller budget" in \
        checks["search_space"]["detail"]
    _refused_everywhere(path, "automl_settings.automl_max_epochs: 9 is below automl_reduction_factor 10", tmp_path,
                        capsys)


def test_pbt_with_a_population_of_one_fails_preflight_dry_run_and_run(
        toy_skill: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It passed all three with no note and retrained one config in chunks, never exploiting or exploring."""
    settings = {"algorithm": "pbt", "metric": "val_loss", "automl_population_size": 1, "automl_max_epochs": 9,
                "automl_max_recommendations": 6}
    path = _config(tmp_path, toy_skill, automl_settings=settings)
    _refused_everywhere(path, "automl_settings.automl_population_size: 1 is not allowed for pbt", tmp_path, capsys)


def _refused_everywhere(path: Path, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """preflight, dry run and run each exit 2 saying ``said``, without a traceback, and no run is made."""
    for argv in (["preflight", str(path)], ["run", str(path), "--dry-run"], ["run", str(path)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, argv
    assert not (tmp_path / "ws" / "state.db").exists()


def test_dry_run_names_the_platform_and_says_when_it_ignores_the_image(toy_skill: Path, tmp_path: Path) -> None:
    """The dry run printed `image: nvcr.io/...` as if it would be used, and never named the platform."""
    from tao_automl.cli.dry_run import dry_run

    [rec] = dry_run(load_run_config(_config(tmp_path, toy_skill)), n=1)
    assert rec.to_json()["platform"] == "local" and "platform: local" in rec.text()
    assert rec.to_json()["image_note"].startswith("ignored: the local platform runs jobs in this environment")
    assert f"image: {rec.image} (ignored: the local platform" in rec.text()


def test_an_unreachable_platform_is_exit_3_and_a_refusing_one_exit_2(toy_skill: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing answers: platform_unreachable (exit 3, retry later) from preflight and run alike, nothing created;
    a platform that answers and refuses, or a check the user can fix besides, stays a user error (exit 2)."""
    monkeypatch.setitem(registry.PLATFORMS, "slurm", (f"{__name__}:ProbeSDK", None))
    path = _config(tmp_path, toy_skill, platform="slurm", platform_options={"down": True})
    for command in (["preflight", str(path), "--json"], ["run", str(path), "--json"],
                    ["run", str(path), "--detach", "--json"]):
        assert main(command) == 3, command
        out = json.loads(capsys.readouterr().out)
        error = out["error"]
        assert error["kind"] == "platform_unreachable" and error["exit_code"] == 3
        assert "Connection refused" in error["message"] and "'slurm'" in error["message"]
        assert error["field"] == "platform_reachable" and error["value"] == "slurm" and "retry" in error["hint"]
    assert not (tmp_path / "ws").exists()
    path = _config(tmp_path, toy_skill, platform="slurm", platform_options={"reachable": False})
    assert main(["preflight", str(path), "--json"]) == 2  # it answered and refused
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "preflight"
    path = _config(tmp_path, toy_skill, platform="slurm", platform_options={"down": True},
                   spec_overrides={"train.num_epoch": 2})
    assert main(["preflight", str(path), "--json"]) == 2  # retrying later would not fix the misspelt key
    error = json.loads(capsys.readouterr().out)["error"]
    assert "train.num_epoch" in error["message"] and "platform_reachable" in error["hint"]


def test_an_unreachable_docker_engine_is_exit_3_before_any_folder(toy_skill: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("docker")
    sock = f"unix://{tmp_path / 'no-docker.sock'}"
    path = _config(tmp_path, toy_skill, platform="docker",
                   platform_options={"base_url": sock, "state_dir": str(tmp_path / "state")})
    for command in (["preflight", str(path), "--json"], ["run", str(path), "--json"]):
        assert main(command) == 3, command
        error = json.loads(capsys.readouterr().out)["error"]
        assert error["kind"] == "platform_unreachable" and sock in error["message"]
        assert error["field"] == "platform_options.base_url" and "RUN_DIR" not in error["hint"]
    assert not (tmp_path / "ws").exists()


def test_an_llm_endpoint_that_refuses_connections_is_exit_3(toy_skill: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("openai")
    from tao_automl.testing.llm_server import free_port

    port = free_port()
    settings = {"algorithm": "llm", "metric": "val_loss", "automl_max_recommendations": 2,
                "llm_endpoint": f"http://127.0.0.1:{port}/v1", "llm_model": "m", "llm_max_retries": 0}
    path = _config(tmp_path, toy_skill, automl_settings=settings)
    for command in (["preflight", str(path), "--json"], ["run", str(path), "--json"]):
        assert main(command) == 3, command
        out = json.loads(capsys.readouterr().out)
        error = out["error"]
        if command[0] == "preflight":
            assert _checks(out)["llm_endpoint"]["ok"] is False
        assert error["kind"] == "platform_unreachable" and f"127.0.0.1:{port}" in error["message"]
        assert error["field"] == "automl_settings.llm_endpoint" and "cannot connect" in error["message"]
    assert not (tmp_path / "ws").exists()


def test_a_missing_llm_endpoint_is_one_failed_check(toy_skill: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The search-space check builds the brain, which needs the endpoint too: it is skipped, naming the
    llm_endpoint check, instead of failing with the same message a second time."""
    pytest.importorskip("openai")
    settings = {"algorithm": "llm", "metric": "val_loss", "automl_max_recommendations": 2}
    path = _config(tmp_path, toy_skill, automl_settings=settings)
    assert main(["preflight", str(path), "--json"]) == 2
    checks = _checks(json.loads(capsys.readouterr().out))
    failed = [name for name, check in checks.items() if check["ok"] is False]
    assert failed == ["llm_endpoint"], checks
    assert checks["search_space"]["ok"] is None and "llm_endpoint" in checks["search_space"]["detail"]


def test_a_range_of_one_value_is_named_in_a_note(toy_skill: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, toy_skill, custom_param_ranges={"train.optim.lr": {"valid_min": 0.01, "valid_max": 0.01}})
    assert main(["preflight", str(path), "--json"]) == 0
    detail = _checks(json.loads(capsys.readouterr().out))["search_space"]["detail"]
    assert "range of one value, never varied by the search: train.optim.lr = 0.01" in detail, detail


@needs_shared
@pytest.mark.parametrize("remote", [False, True])
def test_slurm_on_this_machine_needs_none_of_the_banks_login_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remote: bool) -> None:
    """The bank's Slurm skill lists SLURM_USER, SLURM_HOSTNAME, SLURM_PARTITION and an SSH identity as required:
    preflight failed every run of a bank model on Slurm run through its CLI here, and setting them would have sent the
    jobs over ssh. They are needed only for a login node (a hostname)."""
    from tao_automl.runner.preflight import PreflightReport, _credentials
    from tao_automl.runner.run_args import RunArgs

    assert SHARED is not None
    for var in ("SLURM_USER", "SLURM_HOSTNAME", "SLURM_PARTITION", "SSH_KEY_PATH", "SSH_AUTH_SOCK"):
        monkeypatch.delenv(var, raising=False)
    options = {"hostname": "login1"} if remote else {}
    report = PreflightReport()
    _credentials(RunArgs(skill_dir=str(SHARED / "skills" / "models" / "tao-train-dino"), platform="slurm",
                         platform_options=options), report)
    [check] = report.checks
    if remote:
        assert check.ok is False and "missing SLURM_USER, SLURM_HOSTNAME, SLURM_PARTITION" in check.detail
    else:
        # it said "every required credential is set (... not needed ...)" with none of them set; `platforms` says
        # "ready for Slurm on this machine"
        assert check.ok is True and check.detail.startswith("tao-run-on-slurm: ready for Slurm on this machine "), \
            check.detail
        assert "set" not in check.detail.split("(")[0]
        assert "(SLURM_HOSTNAME, SLURM_PARTITION, SLURM_USER, SSH_AUTH_SOCK, SSH_KEY_PATH not needed: Slurm runs on " \
               "this machine" in check.detail


def test_dry_run_fills_every_placeholder_of_the_command_as_the_run_does(tmp_path: Path) -> None:
    """The dry run filled only {config_path}: a skill command with results_dir={results_dir} showed the placeholder
    where the launched job got the rec's results folder."""
    from tao_automl.cli.dry_run import RUN_DIR_PLACEHOLDER, dry_run

    skill = write_skill(tmp_path / "bank", command=f"{sys.executable} train.py -e {{config_path}} "
                                                   "results_dir={results_dir}")
    [rec] = dry_run(load_run_config(_config(tmp_path, skill)), n=1)
    shown = tmp_path / "ws" / RUN_DIR_PLACEHOLDER / "recs" / "rec_0001"
    assert "{" not in rec.command, rec.command
    assert rec.command.endswith(f"-e {shown / 'train_spec.yaml'} results_dir={shown / 'results'}"), rec.command


@needs_shared
def test_a_builtin_models_platform_credentials_come_from_the_bank_in_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With $TAO_SKILL_BANK_PATH set, `platforms --platform slurm` listed the bank's Slurm credentials while preflight
    of the built-in model on Slurm said "not checked: no platform skill for 'slurm' in the bank"."""
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.bank.credentials import platform_credentials

    assert SHARED is not None
    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    assert platform_credentials(builtin_skill_dir("demo-digits-mlp"), "slurm") is None
    monkeypatch.setenv("TAO_SKILL_BANK_PATH", str(SHARED))
    found = platform_credentials(builtin_skill_dir("demo-digits-mlp"), "slurm")
    assert found is not None and found.name == "tao-run-on-slurm"


def test_lepton_credentials_given_by_the_workspace_id_option_are_not_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lepton SDK takes its workspace id (and token, as `id:token`) from platform_options.workspace_id too; the
    credentials check must not call them missing then."""
    from tao_automl.bank.credentials import sdk_env_missing

    for var in ("LEPTON_WORKSPACE_ID", "LEPTON_WORKSPACE_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    assert sdk_env_missing("lepton", {}) == ["LEPTON_WORKSPACE_ID", "LEPTON_WORKSPACE_TOKEN"]
    assert sdk_env_missing("lepton", {"workspace_id": "ws1"}) == ["LEPTON_WORKSPACE_TOKEN"]
    assert sdk_env_missing("lepton", {"workspace_id": "ws1:" + SECRET}) == []
    monkeypatch.setenv("LEPTON_WORKSPACE_TOKEN", SECRET)
    assert sdk_env_missing("lepton", {"workspace_id": "ws1"}) == []


def test_a_misspelt_platform_kwarg_is_named_even_when_the_platform_cannot_be_reached(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no Docker engine, `platform_kwargs: {gpu_cont: 1}` gave "platform_kwargs skipped: the platform SDK could
    not be built" and exit 3 (retry later): an agent retried and met the typo only once Docker was up. The names
    are checked against the SDK's class, so the typo is exit 2 with its did-you-mean."""
    pytest.importorskip("docker")
    path = _config(tmp_path, write_skill(tmp_path / "bank"), platform="docker",
                   platform_kwargs={"gpu_count": 0, "gpu_cont": 1},
                   platform_options={"base_url": f"unix://{tmp_path}/no-engine.sock"})
    assert main(["preflight", str(path), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["error"]["field"] == "platform_kwargs.gpu_cont" and "did you mean 'gpu_count'" in report[
        "error"]["message"]
    assert "DockerSDK.create_job" in report["error"]["message"]
    checks = {c["check"]: c["ok"] for c in report["checks"]}
    assert checks["platform"] is False and checks["platform_kwargs"] is False


def test_a_slurm_command_missing_from_the_path_the_jobs_inherit_is_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    """The demo on a Slurm of this machine, with tao-automl run as `.venv/bin/tao-automl` (venv not activated):
    preflight said nothing of the command and every rec failed with exit code 127, since sbatch hands the jobs this
    shell's PATH, which lacks the venv's bin where `tao-demo-digits` is (the local platform puts that folder first).
    A warning names the program and the activate script; on that PATH it is found; over ssh nothing is claimed."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.platforms.slurm import SlurmSDK
    from tao_automl.runner.preflight import command_check

    skill = load_skill("builtin:demo-digits-mlp")
    sdk = SlurmSDK(state_dir=tmp_path / "state")
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    check = command_check("slurm", skill, sdk)
    assert check is not None and check.warning and "'tao-demo-digits', which is not on this shell's PATH" in \
        check.detail and f"source {bin_dir}/activate" in check.detail and "exit code 127" in check.detail, check
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    check = command_check("slurm", skill, sdk)
    assert check is not None and not check.warning and "which the Slurm jobs inherit" in check.detail, check
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert command_check("slurm", skill, SlurmSDK(state_dir=tmp_path / "s2", hostname="login-node")) is None

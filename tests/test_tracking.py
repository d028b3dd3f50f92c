"""The runner's tracker hook (SweepObserver) and the checks on wandb_config / mlflow_config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import readme_says
from tao_automl.errors import UserInputError
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.tracking.config import (
    MLFLOW_KEYS,
    WANDB_KEYS,
    WANDB_MODES,
    WANDB_PROJECT_CHARS,
    WANDB_PROJECT_MAX,
    check_tracking_config,
)


class Recorder:
    """Records every call and checks the result it is told about is already persisted."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def sweep_started(self, run_dir: Path) -> None:
        self.calls.append(("started", run_dir.name))

    def rec_finished(self, run_dir: Path, rec_id: int) -> None:
        store = RunStore(run_dir, readonly=True)
        try:
            row = next(r for r in store.recs() if r.rec_id == rec_id)
        finally:
            store.close()
        assert row.finished_at is not None, "observer told before the result was persisted"
        self.calls.append(("finished", rec_id))

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        self.calls.append(("ended", state))


class Broken:
    def sweep_started(self, run_dir: Path) -> None:
        raise RuntimeError("tracker down")

    rec_finished = sweep_ended = sweep_started  # type: ignore[assignment]


def test_observers_hear_start_each_persisted_result_and_end(toy_skill: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    seen: list[int] = []
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    result = runner.run(automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 4,
                                         "automl_max_concurrent": 2, "poll_interval_s": 0.2},
                        workspace_path=tmp_path / "ws", observers=[Broken(), recorder],
                        on_result=lambda rec, value, status: seen.append(rec.id), gpu_count=0)
    assert result["progress"]["state"] == "finished" and result["progress"]["completed"] == 4
    assert recorder.calls[0][0] == "started" and recorder.calls[-1] == ("ended", "finished")
    assert sorted(c[1] for c in recorder.calls if c[0] == "finished") == [1, 2, 3, 4]
    assert sorted(seen) == [1, 2, 3, 4], "the user's on_result still runs after the trackers"


@pytest.mark.parametrize(("name", "config", "fragment"), [
    ("wandb_config", {"api_key": "abc"}, "wandb_config.api_key: credentials are never taken from a config"),
    ("wandb_config", {"projekt": "x"}, "unknown key 'projekt' (did you mean 'project'?)"),
    ("wandb_config", {"mode": "cloud"}, "wandb_config.mode: 'cloud' is not one of online, offline, disabled"),
    ("wandb_config", {"tags": "a"}, "wandb_config.tags: expected a list of strings"),
    ("wandb_config", {"mode": "offline", "project": "bad/name#"},
     "wandb_config.project: 'bad/name#' is not a W&B project name (has / #); allowed: a name of at most 128"),
    ("mlflow_config", {"tracking_token": "t"}, "MLFLOW_TRACKING_TOKEN"),
    ("mlflow_config", {"tracking_uri": 3}, "mlflow_config.tracking_uri: expected a string, got int 3"),
    ("mlflow_config", {"enabled": "yes"}, "mlflow_config.enabled: expected true or false"),
    ("mlflow_config", ["x"], "mlflow_config: expected a mapping"),
])
def test_bad_tracking_config_is_one_line_naming_the_field(name: str, config: Any, fragment: str) -> None:
    with pytest.raises(UserInputError) as info:
        check_tracking_config(name, config)
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("name", "config", "field", "value", "allowed"), [
    ("wandb_config", {"project": "p", "mode": "onlin"}, "wandb_config.mode", "onlin",
     ["online", "offline", "disabled"]),
    ("mlflow_config", {"tracking_uri": 5}, "mlflow_config.tracking_uri", 5, "a string"),
    ("mlflow_config", {"enabled": "yes"}, "mlflow_config.enabled", "yes", [True, False]),
    ("wandb_config", {"tags": "a"}, "wandb_config.tags", "a", "a list of strings"),
    ("wandb_config", {"mode": "offline", "project": "a:b"}, "wandb_config.project", "a:b",
     "a name of at most 128 characters, none of / \\ # ? % :"),
    ("mlflow_config", {"tags": ["a"]}, "mlflow_config.tags", ["a"], "a mapping of tag name to value"),
    ("wandb_config", {"projekt": "x"}, "wandb_config.projekt", "projekt", list(WANDB_KEYS)),
    ("wandb_config", {"api_key": "abc"}, "wandb_config.api_key", "api_key", list(WANDB_KEYS)),  # not the secret
    ("mlflow_config", ["x"], "mlflow_config", ["x"], "a mapping of " + ", ".join(MLFLOW_KEYS)),
])
def test_bad_tracking_config_error_carries_the_value_given_and_what_is_allowed(
        name: str, config: Any, field: str, value: Any, allowed: Any) -> None:
    with pytest.raises(UserInputError) as info:
        check_tracking_config(name, config)
    data = info.value.to_json()
    assert (data["field"], data["value"], data["allowed"]) == (field, value, allowed)
    assert "abc" not in json.dumps(data)


def test_bad_tracking_config_stops_before_a_run_folder_exists(toy_skill: Path, tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    with pytest.raises(UserInputError, match="wandb_config"):
        runner.run(automl_settings={"metric": "val_loss"}, workspace_path=tmp_path / "ws",
                   wandb_config={"api_key": "secret"}, gpu_count=0)
    assert not (tmp_path / "ws").exists() or not list((tmp_path / "ws").iterdir())


@pytest.mark.parametrize("project", ["bad/name#", "a\\b", "what?", "100%", "team:sweep", "x" * 129, "x" * 128,
                                     "my sweep-1.2_b", "ünïcode"])
def test_a_wandb_project_name_is_refused_up_front_exactly_when_wandb_refuses_it(project: str) -> None:
    """W&B refused such a name only at its first use: the sweep started, and nothing reached W&B."""
    wandb = pytest.importorskip("wandb", reason="the wandb extra is not installed")
    try:
        wandb.Settings(project=project)
        refused_by_wandb = False
    except Exception:
        refused_by_wandb = True
    config = {"mode": "offline", "project": project}
    if refused_by_wandb:
        with pytest.raises(UserInputError, match=r"^wandb_config\.project: ") as info:
            check_tracking_config("wandb_config", config)
        assert info.value.exit_code == 2 and "\n" not in str(info.value)
    else:
        assert check_tracking_config("wandb_config", config) == config


def test_the_keys_and_project_rule_the_readme_lists_are_the_ones_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """README lists each config's keys and W&B's modes, and what a project name may not hold: each listed key is
    taken and every other key refused, and a project with one of the listed characters, or longer than the listed
    length, is refused (one just inside the length is taken)."""
    wandb_keys, = readme_says(r"`wandb_config: \{([^}`]+)\}`")
    listed: dict[str, Any] = {}
    for key in (k.strip() for k in wandb_keys.split(",")):
        name, _, modes = key.partition(": ")
        listed[name] = modes.split("|") if modes else None
    assert set(listed) == set(WANDB_KEYS) and listed["mode"] == list(WANDB_MODES)
    mlflow_keys, = readme_says(r"`mlflow_config: \{([^}`]+)\}`")
    assert {k.strip() for k in mlflow_keys.split(",")} == set(MLFLOW_KEYS)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)  # online mode needs one (never a config key)
    for mode in listed["mode"]:
        assert check_tracking_config("wandb_config", {"project": "p", "mode": mode})["mode"] == mode
    longest, chars = readme_says(r"a W&B `project` that W&B refuses — over (\d+) characters or any of `([^`]+)`")
    assert chars.split() == list(WANDB_PROJECT_CHARS) and int(longest) == WANDB_PROJECT_MAX
    assert check_tracking_config("wandb_config", {"project": "x" * int(longest), "mode": "offline"})
    for project in ["x" * (int(longest) + 1), *(f"a{c}b" for c in chars.split())]:
        with pytest.raises(UserInputError, match=r"^wandb_config\.project: "):
            check_tracking_config("wandb_config", {"project": project, "mode": "offline"})


def test_a_bad_wandb_project_stops_before_a_run_folder_exists(toy_skill: Path, tmp_path: Path) -> None:
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    with pytest.raises(UserInputError, match=r"wandb_config\.project: 'bad/name#'"):
        runner.run(automl_settings={"metric": "val_loss"}, workspace_path=tmp_path / "ws",
                   wandb_config={"mode": "offline", "project": "bad/name#"}, gpu_count=0)
    assert not (tmp_path / "ws").exists() or not list((tmp_path / "ws").iterdir())


def test_a_sweep_without_a_tracker_imports_neither_extra(toy_skill: Path, tmp_path: Path) -> None:
    """README: W&B and MLflow "are extras (`wandb`, `mlflow`), imported only when used": a whole sweep with neither
    config (a fresh interpreter, as the CLI runs one) never imports them."""
    code = (f"import sys\nfrom tao_automl.runner.loop import AutoMLRunner\nfrom tao_automl.testing import InstantSDK\n"
            f"AutoMLRunner(InstantSDK(), {str(toy_skill)!r}, log_progress=False).run(automl_settings={{'metric': "
            f"'val_loss', 'automl_max_recommendations': 2, 'algorithm': 'random', 'poll_interval_s': 0.01}}, "
            f"workspace_path={str(tmp_path / 'ws')!r}, gpu_count=0)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in ('wandb', 'mlflow')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_tracker_config_with_enabled_false_logs_nothing(toy_skill: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """README lists `enabled` among both configs' keys: `enabled: false` turns the tracker off (nothing is checked
    that only a tracker in use needs, such as W&B online's key, and nothing is written where it would log)."""
    from tao_automl.testing import InstantSDK

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    wandb = {"enabled": False, "mode": "online", "project": "p", "dir": str(tmp_path / "wandb")}
    mlflow = {"enabled": False, "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    result = AutoMLRunner(InstantSDK(), toy_skill, log_progress=False).run(
        automl_settings={"metric": "val_loss", "automl_max_recommendations": 2, "algorithm": "random",
                         "poll_interval_s": 0.01}, workspace_path=tmp_path / "ws", gpu_count=0,
        wandb_config=wandb, mlflow_config=mlflow)
    assert result["progress"]["succeeded"] == 2 and result["tracking_errors"] == {}
    assert not (tmp_path / "wandb").exists() and not (tmp_path / "mlflow.db").exists()
    with pytest.raises(UserInputError, match="needs an API key"):
        check_tracking_config("wandb_config", {**wandb, "enabled": True})


def test_mlflow_tracking_uri_databricks_is_not_made_a_local_path(tmp_path: Path) -> None:
    """``tracking_uri: databricks`` (MLflow's URI of the default Databricks profile, no scheme) was made the local
    file store <cwd>/databricks when relative locations were made absolute; a relative path still is."""
    from tao_automl.tracking.config import absolute_locations

    assert absolute_locations({"tracking_uri": "databricks"}, tmp_path)["tracking_uri"] == "databricks"
    assert absolute_locations({"tracking_uri": "databricks://prof"}, tmp_path)["tracking_uri"] == "databricks://prof"
    assert absolute_locations({"tracking_uri": "mlruns"}, tmp_path)["tracking_uri"] == str(tmp_path / "mlruns")


def test_cli_config_carries_the_tracker_configs(tmp_path: Path) -> None:
    from tao_automl.cli.run_config import load_run_config

    config = tmp_path / "run.yaml"
    config.write_text("skill_dir: builtin:demo-digits-mlp\nworkspace_path: ws\n"
                      "wandb_config: {project: p, mode: offline}\nmlflow_config: {tracking_uri: 'sqlite:///m.db'}\n")
    kwargs = load_run_config(config).run_kwargs()
    assert kwargs["wandb_config"] == {"project": "p", "mode": "offline"}
    # a relative location, as every path of a config file: against the file's folder, kept absolute with the run
    assert kwargs["mlflow_config"] == {"tracking_uri": f"sqlite:///{tmp_path.resolve() / 'm.db'}"}
    config.write_text("skill_dir: builtin:demo-digits-mlp\nworkspace_path: ws\nmlflow_config: [x]\n")
    with pytest.raises(UserInputError, match="mlflow_config"):
        load_run_config(config)


def test_wandb_online_without_a_key_is_refused_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with pytest.raises(UserInputError, match="needs an API key and none was found; set WANDB_API_KEY"):
        check_tracking_config("wandb_config", {"project": "p"})
    assert check_tracking_config("wandb_config", {"project": "p", "mode": "offline"}) == {"project": "p",
                                                                                        "mode": "offline"}
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert check_tracking_config("wandb_config", {"project": "p"}) == {"project": "p"}


def test_an_mlflow_file_store_this_mlflow_refuses_is_refused_up_front(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow 3 keeps the file store in maintenance mode: preflight said "passed", the tracker failed at sweep start
    with a stack trace in the log, and the sweep exited 0 with nothing logged."""
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.file_store import FileStore

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    try:
        FileStore(root_directory=str(tmp_path / "probe"))
        refused = False
    except MlflowException:
        refused = True
    config = {"tracking_uri": (tmp_path / "mlruns").as_uri()}
    if not refused:  # an MLflow that still takes file stores: nothing to refuse
        assert check_tracking_config("mlflow_config", config) == config
        return
    with pytest.raises(UserInputError) as caught:
        check_tracking_config("mlflow_config", config)
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == ("mlflow_config.tracking_uri", config["tracking_uri"])
    assert "MLFLOW_ALLOW_FILE_STORE=true" in error["message"] and "sqlite:///" in error["allowed"]
    assert not (tmp_path / "mlruns").exists()  # the user's store is not touched
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert check_tracking_config("mlflow_config", config) == config
    assert check_tracking_config("mlflow_config", {"tracking_uri": f"sqlite:///{tmp_path / 'm.db'}"})


@pytest.mark.parametrize("uri", ["http://alice:s3cretpassw0rd@mlflow.example:5000",
                                 "https://alice:s3cretpassw0rd@mlflow.example/path"])
def test_a_password_in_the_mlflow_tracking_uri_is_refused_without_showing_it(uri: str, toy_skill: Path,
                                                                           tmp_path: Path) -> None:
    """The URI was stored in the run folder as given and MLflow's connection errors quote it: the password reached
    state.db, status.json, the log and ``tracking_errors``."""
    with pytest.raises(UserInputError) as info:
        check_tracking_config("mlflow_config", {"tracking_uri": uri})
    data = info.value.to_json()
    assert data["field"] == "mlflow_config.tracking_uri" and "MLFLOW_TRACKING_USERNAME/PASSWORD" in str(info.value)
    assert "s3cretpassw0rd" not in json.dumps(data) and "s3cretpassw0rd" not in str(info.value)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill)
    with pytest.raises(UserInputError, match=r"^mlflow_config\.tracking_uri: "):
        runner.run(automl_settings={"metric": "val_loss"}, workspace_path=tmp_path / "ws",
                   mlflow_config={"tracking_uri": uri}, gpu_count=0)
    assert not (tmp_path / "ws").exists() or not list((tmp_path / "ws").iterdir())
    # a user name alone is no secret
    assert check_tracking_config("mlflow_config", {"tracking_uri": "http://alice@mlflow.example:5000"})


@pytest.mark.parametrize("tag", ["", "x" * 65, "x" * 64, "ci"])
def test_a_wandb_tag_is_refused_up_front_exactly_when_wandb_refuses_it(tag: str) -> None:
    """W&B refused such a tag only at its first use: the sweep ran and no W&B run was written."""
    wandb = pytest.importorskip("wandb", reason="the wandb extra is not installed")
    try:
        wandb.Settings(run_tags=("ok", tag))
        refused_by_wandb = False
    except Exception:
        refused_by_wandb = True
    config = {"mode": "offline", "tags": ["ok", tag]}
    if refused_by_wandb:
        with pytest.raises(UserInputError, match=r"^wandb_config\.tags\[1\]: ") as info:
            check_tracking_config("wandb_config", config)
        data = info.value.to_json()
        assert (data["field"], data["value"]) == ("wandb_config.tags[1]", tag) and "64" in str(data["allowed"])
    else:
        assert check_tracking_config("wandb_config", config) == config


@pytest.mark.parametrize("tag", ["metric", "algorithm", "direction", "state", "best_rec_id", "best_continued_from",
                                 "tao_automl.role", "tao_automl.experiment_id"])
def test_an_mlflow_tag_the_tracker_sets_is_refused_naming_it(tag: str) -> None:
    """A user tag of one of these names replaced the tracker's on the parent run: ``metric: accuracy`` on a sweep of
    val_loss, or a ``tao_automl.role`` with which a resume no longer found its parent and made a second one."""
    with pytest.raises(UserInputError, match=r"^mlflow_config\.tags: ") as info:
        check_tracking_config("mlflow_config", {"tags": {"team": "vision", tag: "x"}})
    data = info.value.to_json()
    assert (data["field"], data["value"]) == (f"mlflow_config.tags.{tag}", tag) and "metric" in data["allowed"]
    assert check_tracking_config("mlflow_config", {"tags": {"team": "vision", f"team.{tag}": "x"}})

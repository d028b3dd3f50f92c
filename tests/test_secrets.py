"""Credentials never reach the run folder, the screen or a log; run folders and their files are user-only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import write_skill
from tao_automl.platforms.base import Job
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.util.secrets import REDACTED, Redactor, is_secret_name, redact, unredacted

ENV_TOKEN = "envtok-7Q2ZL9XK-not-a-real-token"
ENV_WANDB = "wandbkey-4HD81MZP-not-a-real-key"
KWARG_TOKEN = "kwargtok-P0S3TQ7B-not-a-real-token"
SECRETS = (ENV_TOKEN, ENV_WANDB, KWARG_TOKEN)


@pytest.mark.parametrize("name", ["api_key", "WANDB_API_KEY", "api_token", "LEPTON_API_TOKEN", "password",
                                  "client_secret", "db_passwd", "apiKey", "access_key", "aws_secret_access_key"])
def test_names_that_hold_credentials(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["dataset_keys", "token_env", "ssh_key_path", "max_tokens", "num_epochs",
                                  "key", "monkey", "cloud_cred_id", "spec_shorthand_keys", "api_url"])
def test_names_that_do_not(name: str) -> None:
    assert not is_secret_name(name)


def test_redaction_by_name_and_by_known_value_and_resume_takes_the_caller_value() -> None:
    data = {"api_token": "abc12345678", "nested": {"password": "hunter2hunter2"},
            "command": f"run --token {ENV_TOKEN}", "dataset_keys": {"a": "b"}, "empty_token": ""}
    shown = Redactor([ENV_TOKEN]).redact(data)
    assert shown == {"api_token": REDACTED, "nested": {"password": REDACTED}, "command": f"run --token {REDACTED}",
                     "dataset_keys": {"a": "b"}, "empty_token": ""}
    assert unredacted(shown, {"api_token": "again"}) == {**shown, "api_token": "again", "nested": {}}
    assert unredacted({"a": 1, "b": {"c": 2}}, {"a": 3, "b": {"d": 4}}) == {"a": 3, "b": {"c": 2, "d": 4}}
    assert "api_token" not in unredacted(shown, {})  # left to the platform's own default (its env variable)


class TokenLocalSDK(LocalSDK):
    """LocalSDK with a credential argument, as remote platforms have (api_token)."""

    def create_job(self, image: str | None, command: str | Sequence[str], gpu_count: int = 1,
                   env_vars: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, Any] | None = None, api_token: str | None = None, **kwargs: Any) -> Job:
        assert api_token in (KWARG_TOKEN, None)
        return super().create_job(image, command, gpu_count, env_vars, inputs, outputs, **kwargs)


def _all_text(root: Path) -> str:
    chunks = []
    for path in root.rglob("*"):
        if path.is_file():
            chunks.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(chunks)


def test_no_secret_in_any_file_or_output_and_modes_are_user_only(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTON_API_TOKEN", ENV_TOKEN)
    monkeypatch.setenv("WANDB_API_KEY", ENV_WANDB)
    monkeypatch.chdir(tmp_path)
    skill = write_skill(tmp_path / "bank")
    ws = tmp_path / "ws"
    sdk = TokenLocalSDK(jobs_dir=tmp_path / "jobs")
    runner = AutoMLRunner(sdk, skill)
    result = runner.run(automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                                         "automl_max_concurrent": 2},
                        spec_overrides={"train.num_epochs": 1}, workspace_path=ws, gpu_count=0,
                        api_token=KWARG_TOKEN)
    assert result["progress"]["succeeded"] == 2
    (run_dir,) = ws.glob("run_*")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    status = subprocess.run([sys.executable, "-m", "tao_automl.cli", "-v", "status", str(run_dir), "--json"],
                            capture_output=True, text=True, env=env, check=True)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"skill_dir": str(skill), "workspace_path": str(tmp_path / "dry"),
                                      "automl_settings": {"algorithm": "random", "metric": "val_loss"},
                                      "spec_overrides": {"train.num_epochs": 1},
                                      "platform_kwargs": {"gpu_count": 0}}))
    dry = subprocess.run([sys.executable, "-m", "tao_automl.cli", "-v", "run", str(config), "--dry-run",
                          "--recs", "1", "--json"], capture_output=True, text=True, env=env, check=False)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    printed = status.stdout + status.stderr + dry.stdout + dry.stderr + json.dumps(result, default=str)
    for secret in SECRETS:
        assert secret not in printed
        assert secret not in _all_text(ws)
        assert secret not in _all_text(tmp_path / "jobs")
    meta = json.loads(status.stdout) if status.stdout.strip().startswith("{") else {}
    assert meta  # status answered in JSON
    # what the orchestrator itself writes (a job's own outputs follow the job's umask, inside a 0700 folder)
    ours = [run_dir, run_dir / "recs", *run_dir.glob("recs/rec_*"), *run_dir.glob("recs/rec_*/*.yaml"),
            *run_dir.glob("state.db*"), run_dir / "orchestrator.lock"]
    assert len(ours) >= 8
    for path in ours:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_redact_helper_learns_values_under_secret_keys() -> None:
    shown = redact({"platform": {"api_token": KWARG_TOKEN}, "log": f"submitted with {KWARG_TOKEN}"})
    assert KWARG_TOKEN not in json.dumps(shown)

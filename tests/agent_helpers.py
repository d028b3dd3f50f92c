"""Shared helpers for the agent-facing tests (detach, skill file, MCP): demo configs and CLI subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

SRC = Path(__file__).resolve().parents[1] / "src"


def cli_env() -> dict[str, str]:
    """The environment for ``tao-automl`` subprocesses: this checkout's sources first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    return env


def cli(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``tao-automl ARGS`` as a real subprocess."""
    return subprocess.run([sys.executable, "-m", "tao_automl.cli.main", *args], capture_output=True, text=True,
                          env=cli_env(), cwd=cwd, timeout=timeout, check=False)


def demo_config(folder: Path, *, recs: int = 2, epochs: int = 2, concurrent: int = 2,
                **settings: Any) -> Path:
    """A small run config of the built-in demo network on the local platform, jobs kept under ``folder``."""
    config = {
        "platform": "local", "platform_options": {"jobs_dir": str(folder / "jobs")},
        "skill_dir": "builtin:demo-digits-mlp", "action": "train", "workspace_path": str(folder / "runs"),
        "train_dataset_uri": "builtin:digits",
        "automl_settings": {"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": recs,
                            "automl_max_concurrent": concurrent, "poll_interval_s": 0.3, "seed": 0, **settings},
        "spec_overrides": {"train.num_epochs": epochs}, "platform_kwargs": {"gpu_count": 0},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def status_json(run_dir: str | Path, *extra: str) -> dict[str, Any]:
    done = cli("status", str(run_dir), "--json", *extra)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def wait_for(run_dir: str | Path, predicate: Any, timeout: float = 240) -> dict[str, Any]:
    """Poll ``status --json`` until ``predicate(status)``; fail with the last status after ``timeout``."""
    deadline = time.monotonic() + timeout
    status = status_json(run_dir)
    while not predicate(status):
        assert time.monotonic() < deadline, f"timed out; last status: {json.dumps(status)[:2000]}"
        time.sleep(0.5)
        status = status_json(run_dir)
    return status


def ended(status: dict[str, Any]) -> bool:
    """The orchestrator is gone and the run is closed."""
    return not status["orchestrator"]["alive"] and status["progress"]["state"] not in ("running", "starting")

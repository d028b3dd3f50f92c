"""Shared fixtures: small schemas, tiny job scripts and skill folders written per test."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tao_automl.platforms.local.sdk import LocalSDK

REPO = Path(__file__).resolve().parents[1]


def readme_says(pattern: str) -> tuple[str, ...]:
    """The groups of the first match of ``pattern`` in README.md, its lines joined with single spaces (a claim may
    wrap), so a test reads a number or a list from the README itself and the two cannot drift apart. Fails naming
    the pattern when the README no longer says it."""
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    match = re.search(pattern, text)
    assert match, f"README.md no longer says {pattern!r}"
    return match.groups()


def small_schema() -> dict[str, Any]:
    """A TAO-format schema with one param of each basic type."""
    return {
        "automl_default_parameters": ["train.optim.lr", "train.layers", "train.act", "train.flag"],
        "automl_disabled_parameters": [],
        "default": {"train": {"optim": {"lr": 0.01}, "layers": 2, "act": "relu", "flag": False, "num_epochs": 1}},
        "properties": {
            "train": {
                "type": "collection",
                "properties": {
                    "optim": {"type": "collection", "properties": {
                        "lr": {"type": "float", "default": 0.01, "minimum": 1e-4, "maximum": 1.0,
                               "description": "learning rate", "automl_enabled": True},
                    }},
                    "layers": {"type": "int", "default": 2, "minimum": 1, "maximum": 6, "automl_enabled": True},
                    "act": {"type": "categorical", "default": "relu", "enum": ["relu", "tanh", "gelu"],
                            "automl_enabled": True},
                    "flag": {"type": "bool", "default": False, "automl_enabled": True},
                    "num_epochs": {"type": "int", "default": 1, "minimum": 1, "maximum": 100},
                },
            },
        },
    }


#: A training script following the TAO contract in a few lines: reads the spec, writes status.json.
QUADRATIC_TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    t = spec["train"]
    os.makedirs(spec["results_dir"], exist_ok=True)
    time.sleep(float(os.environ.get("TRAINER_SLEEP", t.get("sleep", 0.0))))
    if t.get("act") == "gelu" and t.get("flag") and t["layers"] == 6:
        sys.exit("RuntimeError: this corner of the space crashes")
    import math
    loss = (math.log10(t["optim"]["lr"]) + 2) ** 2 + 0.1 * abs(t["layers"] - 3) + (0.3 if t["act"] == "relu" else 0)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "max_epoch": 1, "status": "RUNNING", "kpi": {"val_loss": loss}}) + "\\n")
    print(f"val_loss: {loss}")
    """
)


#: Reports epochs 1 and 2 to its status.json, then trains on (sleeps) until it is cancelled or timed out: a job
#: ended mid-training, recorded at the epochs it reported.
TWO_EPOCHS_THEN_TRAINS_ON = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        for epoch in (1, 2):
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": 1.0 / epoch}}) + "\\n")
    time.sleep(120)
    """
)


def write_skill(root: Path, *, schema: dict[str, Any] | None = None, command: str | None = None,
                trainer: str = QUADRATIC_TRAINER, name: str = "toy-net",
                roles: dict[str, str] | None = None, data_sources: dict[str, Any] | None = None) -> Path:
    """A skill folder in the bank format whose command runs ``trainer`` with this Python; ``roles`` maps more
    spec keys to their ``spec_params`` role (e.g. ``{"train.resume": "resume_model"}``); ``data_sources``: the
    train action's dataset rules (none by default: a dataset URI given to the skill then fails preflight)."""
    skill = root / "models" / name
    (skill / "references").mkdir(parents=True)
    (skill / "schemas").mkdir()
    script = skill / "train.py"
    script.write_text(trainer)
    info = {
        "name": name, "network_arch": name, "automl_enabled": True, "container_image": "example/toy:1",
        "actions": {"train": {"command": command or f"{sys.executable} {script} train -e {{config_path}}",
                              "config_format": "yaml", "outputs": {"results_dir": {"type": "folder"}}}},
        "spec_params": {"train": {"results_dir": "output_dir", **(roles or {})}},
    }
    if data_sources is not None:
        info["data_sources"] = {"train": data_sources}
    (skill / "references" / "skill_info.yaml").write_text(yaml.safe_dump(info))
    (skill / "schemas" / "train.schema.json").write_text(json.dumps(schema or small_schema()))
    return skill


class EndsBeforeCancelSDK(LocalSDK):
    """LocalSDK where every job ends in the window between the runner's last look and its cancel (the cancel waits
    for the job's end, then asks the real platform, which refuses: the job had already ended)."""

    def cancel_job(self, job_id: str) -> bool:
        deadline = time.monotonic() + 30
        while not self.get_job_status(job_id).is_finished() and time.monotonic() < deadline:
            self.wait_for_change([job_id], 1.0)
        return super().cancel_job(job_id)


def write_shell_skill(root: Path, trainer: str) -> Path:
    """A :func:`write_skill` skill whose command runs the shell script ``trainer`` with ``sh`` (for container images
    without Python: busybox)."""
    skill = write_skill(root)
    script = skill / "train.sh"
    script.write_text(trainer)
    info_path = skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["command"] = f"sh {script} train -e {{config_path}}"
    info_path.write_text(yaml.safe_dump(info))
    return skill


@pytest.fixture
def toy_skill(tmp_path: Path) -> Path:
    return write_skill(tmp_path / "bank")


# ------------------------------------------------------------------ test tiers and services
#: A test that uses one of these fixtures (directly or through another fixture) needs a real service; it gets
#: the tier's marker, so ``pytest -m "not (slurm or docker or kubernetes or llm)"`` runs the quick tier alone.
TIER_OF_FIXTURE = {"slurm_up": "slurm", "sshd": "slurm", "engine": "docker", "cluster": "kubernetes",
                   "endpoint": "llm"}

#: ``down`` commands of the services this test session started itself (services that were already up, e.g.
#: started by ``.ci/run``, are left alone); run at session end so nothing the tests start outlives them.
_STARTED_HERE: list[list[str]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            tier = TIER_OF_FIXTURE.get(fixture)
            if tier is not None:
                item.add_marker(getattr(pytest.mark, tier))


def stop_at_session_end(down_command: list[str]) -> None:
    """Register a service this session started so :func:`pytest_sessionfinish` stops it (once, in reverse)."""
    if down_command not in _STARTED_HERE:
        _STARTED_HERE.append(down_command)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import subprocess

    while _STARTED_HERE:
        command = _STARTED_HERE.pop()
        subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def slurm_up() -> None:
    """A real single-node Slurm: already running, or started by ``ci/slurm_up.sh`` as root (and stopped after)."""
    from tao_automl.platforms.slurm.cluster import ensure_local_slurm, slurm_is_up

    was_up = slurm_is_up()
    reason = ensure_local_slurm(REPO / "ci" / "slurm_up.sh")
    if reason:
        pytest.skip(reason)
    if not was_up:
        stop_at_session_end(["bash", str(REPO / "ci" / "slurm_up.sh"), "down"])

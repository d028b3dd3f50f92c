"""The platform conformance suite (tao_automl.testing.conformance) against LocalSDK and a real Slurm."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.platforms.slurm.sdk import SlurmSDK
from tao_automl.testing import CHECKS, Conformance, run_all

REPO = Path(__file__).resolve().parents[1]


def _local(tmp_path: Path) -> Callable[[], Any]:
    return lambda: LocalSDK(state_file=tmp_path / "state.json", jobs_dir=tmp_path / "jobs")


def _slurm(tmp_path: Path) -> Callable[[], Any]:
    return lambda: SlurmSDK(state_dir=tmp_path / "slurm-state", jobs_dir=str(tmp_path / "slurm-jobs"))


@pytest.mark.parametrize("check", list(CHECKS))
def test_local_sdk_conforms(check: str, tmp_path: Path) -> None:
    CHECKS[check](Conformance(_local(tmp_path), tmp_path / "scratch", timeout_s=30))


@pytest.mark.parametrize("check", list(CHECKS))
def test_slurm_sdk_conforms(check: str, tmp_path: Path, slurm_up: None) -> None:
    CHECKS[check](Conformance(_slurm(tmp_path), tmp_path / "scratch", timeout_s=30))


class _Broken(LocalSDK):
    """An SDK that loses its jobs' logs: the suite must notice."""

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        return None


def test_the_suite_catches_a_broken_sdk(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="conformance check 'success' failed: logs"):
        run_all(Conformance(lambda: _Broken(jobs_dir=tmp_path / "jobs"), tmp_path / "scratch", timeout_s=30))

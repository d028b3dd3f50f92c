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


def test_every_sdk_takes_the_specs_state_file_and_keeps_its_state_beside_it(tmp_path: Path) -> None:
    """SPEC 2: every SDK is constructed with an optional ``state_file=``. DockerSDK, SlurmSDK and KubernetesSDK raised
    TypeError for it (they keep a ``state_dir``), and BrevSDK took it and ignored it. Now each shipped SDK takes it;
    one that keeps state on this machine keeps it in the file's folder (as LocalSDK keeps its job folders there), and
    ``state_file`` with ``state_dir`` is refused naming both."""
    import inspect

    from tao_automl.errors import UserInputError
    from tao_automl.platforms.docker.sdk import DockerSDK
    from tao_automl.platforms.registry import PLATFORMS, _import_class

    for name, (target, _) in PLATFORMS.items():
        assert "state_file" in inspect.signature(_import_class(target)).parameters, name
    state = tmp_path / "sweep-state" / "state.json"
    assert SlurmSDK(state_file=state).state_dir == state.parent  # records, job folders: beside the file
    assert SlurmSDK(state_file=state).jobs_dir == str(state.parent / "jobdirs")
    with pytest.raises(UserInputError, match=r"state_file .* and state_dir .* both given") as caught:
        SlurmSDK(state_file=state, state_dir=tmp_path / "other")
    assert caught.value.field == "state_file"
    with pytest.raises(UserInputError, match="state_file must be a file path"):  # refused before any connection
        DockerSDK(base_url="unix:///nowhere", state_file="  ")


def test_the_readmes_platform_classes_import_from_their_package_with_the_sdk_shape() -> None:
    """README: "Platforms (`tao_automl.platforms.<name>`): `local.LocalSDK` ..., `brev.BrevSDK` — each behind the same
    SDK shape (`create_job`, `get_job_status`, ...)": each named class imports from its package, is the registry's
    class for that platform, and has every method the README names."""
    import importlib
    import re

    from conftest import readme_says
    from tao_automl.platforms.registry import PLATFORMS, _import_class

    listed, = readme_says(r"Platforms \(`tao_automl\.platforms\.<name>`\): (.*?) — each behind the same SDK shape")
    shape, = readme_says(r"each behind the same SDK shape \((.*?)\), with extras named after them")
    classes = re.findall(r"`(\w+)\.(\w+SDK)`", listed)
    methods = re.findall(r"`(\w+)(?:\(\w+\))?`", shape)
    assert {name for name, _ in classes} == set(PLATFORMS) and len(methods) == 6, (classes, methods)
    for name, cls in classes:
        sdk = getattr(importlib.import_module(f"tao_automl.platforms.{name}"), cls)
        assert sdk is _import_class(PLATFORMS[name][0]), name
        assert all(callable(getattr(sdk, method, None)) for method in methods), (name, methods)

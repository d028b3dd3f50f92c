"""Retrying: transient errors retried with capped exponential backoff (fake clock), idempotent create."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.base import Job, JobStatus
from tao_automl.platforms.registry import describe_sdk
from tao_automl.platforms.retry import Retrying, TransientPlatformError


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class FlakySDK:
    """Fails the first ``failures`` calls of each method with ``error``; create_job dedups by job_name."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures = failures
        self.error = error or TransientPlatformError("sbatch: error: Socket timed out on send/recv operation")
        self.calls: dict[str, int] = {}
        self.jobs: dict[str, str] = {}  # job_name -> id
        self.submitted = 0
        self.init_options = {"x": 1}

    def _tick(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.calls[name] <= self.failures:
            raise self.error

    def create_job(self, image: str | None, command: str | Sequence[str], gpu_count: int = 1,
                   env_vars: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Job:
        name = kwargs["job_name"]
        if name not in self.jobs:
            self.submitted += 1
            self.jobs[name] = str(100 + self.submitted)
        self._tick("create_job")  # the job exists either way: a failure here is a lost answer
        return Job(self.jobs[name], "/r", name)

    def get_job_status(self, job_id: str) -> JobStatus:
        self._tick("get_job_status")
        return JobStatus.RUNNING

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        self._tick("get_job_logs")
        return f"tail={tail}"

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        self._tick("get_failure_analysis")
        return {"exit_code": 1}

    def cancel_job(self, job_id: str) -> bool:
        self._tick("cancel_job")
        return True

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        self._tick("read_job_file")
        return "content"


def _wrap(sdk: FlakySDK, **kw: Any) -> tuple[Retrying, FakeClock]:
    clock = FakeClock()
    return Retrying(sdk, clock=clock, rng=random.Random(0), **kw), clock


def test_transient_errors_are_retried_with_exponential_backoff_and_jitter() -> None:
    sdk = FlakySDK(failures=4)
    wrapped, clock = _wrap(sdk, attempts=5, base_delay=0.5, max_delay=30)
    assert wrapped.get_job_status("1") is JobStatus.RUNNING
    assert sdk.calls["get_job_status"] == 5
    assert len(clock.sleeps) == 4
    for n, slept in enumerate(clock.sleeps, start=1):
        full = 0.5 * 2 ** (n - 1)
        assert full / 2 <= slept <= full, (n, slept)


def test_backoff_is_capped_by_max_delay() -> None:
    sdk = FlakySDK(failures=6, error=TimeoutError("timed out"))
    wrapped, clock = _wrap(sdk, attempts=7, base_delay=1, max_delay=3)
    assert wrapped.get_job_logs("1", tail=5) == "tail=5"
    assert max(clock.sleeps) <= 3 and clock.sleeps[-1] >= 1.5


def test_after_the_last_attempt_the_error_is_raised() -> None:
    sdk = FlakySDK(failures=10, error=ConnectionError("reset"))
    wrapped, clock = _wrap(sdk, attempts=3)
    with pytest.raises(ConnectionError):
        wrapped.cancel_job("1")
    assert sdk.calls["cancel_job"] == 3 and len(clock.sleeps) == 2


@pytest.mark.parametrize("error", [PlatformError("sbatch: error: Invalid partition name specified"),
                                   UserInputError("bad"), ValueError("bug")])
def test_permanent_errors_pass_through_at_once(error: Exception) -> None:
    sdk = FlakySDK(failures=1, error=error)
    wrapped, clock = _wrap(sdk)
    with pytest.raises(type(error)):
        wrapped.get_failure_analysis("1")
    assert sdk.calls["get_failure_analysis"] == 1 and clock.sleeps == []


def test_create_job_retry_keeps_one_job_name_so_only_one_job_exists() -> None:
    sdk = FlakySDK(failures=2)
    wrapped, _ = _wrap(sdk)
    job = wrapped.create_job(None, "echo", gpu_count=0)  # no job_name given: one is generated once
    assert sdk.submitted == 1 and sdk.calls["create_job"] == 3
    assert job.id == "101" and job.name and job.name.startswith("tao-job-")
    again = wrapped.create_job(None, "echo", gpu_count=0, job_name="rec-7")
    assert again.name == "rec-7" and sdk.submitted == 2


def test_optional_methods_are_retried_and_missing_ones_get_the_documented_defaults() -> None:
    sdk = FlakySDK(failures=1)
    wrapped, clock = _wrap(sdk)
    assert wrapped.read_job_file("1", "status.json") == "content"
    assert len(clock.sleeps) == 1
    assert wrapped.find_job("rec-1") is None  # FlakySDK cannot look jobs up: the default answers None
    assert wrapped.get_job_info("7") == {"id": "7", "state": "running"}
    [check] = wrapped.preflight(None)
    assert check.ok is None and "not checked: FlakySDK offers no reachability check" in check.detail
    assert wrapped.init_options == {"x": 1}
    assert describe_sdk(wrapped)["class"].endswith(":FlakySDK")


def test_invalid_settings_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="attempts"):
        Retrying(FlakySDK(0), attempts=0)

"""Platform conformance suite: the behaviour every SDK must show, runnable against any SDK.

Each check takes a :class:`Conformance` (an SDK factory plus a scratch dir the platform's jobs can
write to) and raises ``AssertionError`` on a violation. The factory must return a NEW SDK object
sharing the same persisted state each time it is called (re-attach is part of the contract). Jobs
are plain ``sh`` commands, so any platform that runs shell commands can be checked::

    from tao_automl.testing import Conformance, run_all
    run_all(Conformance(lambda: MySDK(state_dir=d), workdir=d / "scratch"))

With pytest, parametrise over :data:`CHECKS` to get one test per check (see
``tests/test_platform_conformance.py``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tao_automl.platforms.base import JobStatus, as_platform


@dataclass
class Conformance:
    """What the checks need: ``factory()`` -> a fresh SDK on the same state; a shared scratch dir."""

    factory: Callable[[], Any]
    workdir: Path
    timeout_s: float = 60.0
    poll_s: float = 0.2
    create_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    def submit(self, sdk: Any, command: str, name: str | None = None) -> Any:
        """``create_job`` with a CPU-only request and a results dir under the scratch dir."""
        results = self.workdir / f"results-{uuid.uuid4().hex[:8]}"
        kwargs = dict(self.create_kwargs)
        if name is not None:
            kwargs["job_name"] = name
        return sdk.create_job(None, command, gpu_count=0, env_vars={"CONFORMANCE": "yes it is"},
                              outputs={"results_dir": str(results)}, **kwargs)

    def wait(self, sdk: Any, job_id: str, until: Callable[[JobStatus], bool] = JobStatus.is_finished,
             ) -> list[JobStatus]:
        """Poll until ``until(status)``; every status seen, in order (timeout is an AssertionError)."""
        seen: list[JobStatus] = []
        deadline = time.monotonic() + self.timeout_s
        while True:
            status = JobStatus.parse(sdk.get_job_status(job_id))
            if not seen or seen[-1] != status:
                seen.append(status)
            if until(status):
                return seen
            assert time.monotonic() < deadline, f"job {job_id} did not get there in {self.timeout_s} s: {seen}"
            time.sleep(self.poll_s)


def _unique(prefix: str) -> str:
    return f"conformance-{prefix}-{uuid.uuid4().hex[:10]}"


def check_success(c: Conformance) -> None:
    """Submit -> PENDING/RUNNING -> SUCCESS; env vars reach the job; logs in full and with tail."""
    sdk = c.factory()
    job = c.submit(sdk, 'echo "line one $CONFORMANCE"; sleep 1; echo line two; echo line three')
    assert job.id and job.results_dir, f"create_job returned {job!r}"
    seen = c.wait(sdk, job.id)
    assert seen[0] in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.SUCCESS), seen
    assert seen[-1] is JobStatus.SUCCESS, f"expected success, saw {seen}"
    assert all(not s.is_finished() for s in seen[:-1]), f"a finished state was left again: {seen}"
    logs = sdk.get_job_logs(job.id) or ""
    assert "line one yes it is" in logs and "line three" in logs, f"logs: {logs!r}"
    tail = (sdk.get_job_logs(job.id, tail=2) or "").strip().splitlines()
    assert tail == ["line two", "line three"], f"tail=2 gave {tail!r}"
    assert sdk.get_failure_analysis(job.id) is None


def check_failure(c: Conformance) -> None:
    """A non-zero exit is FAILURE with a failure analysis carrying the exit code and the error line."""
    sdk = c.factory()
    job = c.submit(sdk, "echo working; echo 'RuntimeError: conformance boom' >&2; exit 3")
    seen = c.wait(sdk, job.id)
    assert seen[-1] is JobStatus.FAILURE, seen
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None, "no failure analysis for a failed job"
    assert analysis.get("exit_code") == 3, analysis
    assert any("conformance boom" in line for line in analysis.get("error_lines") or []), analysis
    assert "3" in str(analysis.get("message")), analysis


def check_cancel(c: Conformance) -> None:
    """Cancelling a running job makes it CANCELLED; a second cancel returns False."""
    sdk = c.factory()
    job = c.submit(sdk, "echo started; sleep 120")
    c.wait(sdk, job.id, lambda s: s is JobStatus.RUNNING or s.is_finished())
    assert sdk.cancel_job(job.id) is True
    seen = c.wait(sdk, job.id)
    assert seen[-1] is JobStatus.CANCELLED, seen
    assert sdk.cancel_job(job.id) is False
    assert JobStatus.parse(c.factory().get_job_status(job.id)) is JobStatus.CANCELLED


def check_reattach(c: Conformance) -> None:
    """A NEW SDK object (as after a restart) follows a job another one submitted to its end."""
    job = c.submit(c.factory(), "sleep 1; echo reattached")
    other = c.factory()
    seen = c.wait(other, job.id)
    assert seen[-1] is JobStatus.SUCCESS, seen
    assert "reattached" in (other.get_job_logs(job.id) or "")
    assert JobStatus.parse(c.factory().get_job_status(job.id)) is JobStatus.SUCCESS


def check_idempotent_create(c: Conformance) -> None:
    """The same ``job_name`` twice (also from a new SDK object) gives the same job, which ran once."""
    marker = c.workdir / f"ran-{uuid.uuid4().hex[:8]}.txt"
    name = _unique("idem")
    command = f"echo ran >> {marker}; sleep 1"
    first = c.submit(c.factory(), command, name)
    second = c.submit(c.factory(), command, name)
    sdk = c.factory()
    third = c.submit(sdk, command, name)
    assert first.id == second.id == third.id, (first, second, third)
    assert c.wait(sdk, first.id)[-1] is JobStatus.SUCCESS
    assert marker.read_text().splitlines() == ["ran"], f"the job ran {marker.read_text().count('ran')} times"


def check_find_job(c: Conformance) -> None:
    """``find_job``: None for a name never submitted; the job's id for a submitted one, from any SDK object."""
    name = _unique("find")
    sdk = c.factory()
    assert as_platform(sdk).find_job(name) is None, f"find_job found a job for the unused name {name!r}"
    job = c.submit(sdk, "sleep 1; echo found", name)
    assert as_platform(c.factory()).find_job(name) == job.id, f"find_job({name!r}) did not give {job.id}"
    assert c.wait(sdk, job.id)[-1] is JobStatus.SUCCESS
    assert as_platform(c.factory()).find_job(name) == job.id, "find_job lost the job once it finished"


def check_preflight(c: Conformance) -> None:
    """``preflight`` on a working platform: reachable, every check says what it found, nothing is submitted."""
    sdk = as_platform(c.factory())
    before = sorted(c.workdir.rglob("*"))
    checks = sdk.preflight(None, 0)
    by_name = {check.check: check for check in checks}
    assert by_name.get("platform_reachable") is not None, f"no platform_reachable check: {checks}"
    assert by_name["platform_reachable"].ok is True, by_name["platform_reachable"]
    assert all(check.ok in (True, False, None) and check.detail.strip() for check in checks), checks
    assert not any(getattr(check, "unreachable", False) for check in checks), "a working platform was unreachable"
    assert sorted(c.workdir.rglob("*")) == before, "preflight wrote into the scratch dir"


#: Every check by name, in a sensible order.
CHECKS: dict[str, Callable[[Conformance], None]] = {
    "success": check_success,
    "failure": check_failure,
    "cancel": check_cancel,
    "reattach": check_reattach,
    "idempotent_create": check_idempotent_create,
    "find_job": check_find_job,
    "preflight": check_preflight,
}


def run_all(c: Conformance) -> None:
    """Run every check; the first violation raises AssertionError naming the check."""
    for name, check in CHECKS.items():
        try:
            check(c)
        except AssertionError as exc:
            raise AssertionError(f"conformance check {name!r} failed: {exc}") from exc

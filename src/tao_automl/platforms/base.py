"""The platform-agnostic SDK shape (SPEC §2.4) every platform adapter satisfies."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


class JobStatus(str, enum.Enum):
    """Lifecycle state of one platform job."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"

    def is_finished(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED)

    @classmethod
    def parse(cls, value: object) -> JobStatus:
        """Accept a JobStatus, its value or a common platform spelling (case-insensitive)."""
        if isinstance(value, JobStatus):
            return value
        text = str(getattr(value, "value", value)).strip().lower()
        aliases = {
            "queued": "pending", "submitted": "pending", "starting": "pending",
            "completed": "success", "succeeded": "success", "done": "success",
            "failed": "failure", "error": "failure", "timeout": "failure",
            "canceled": "cancelled", "killed": "cancelled", "stopped": "cancelled",
        }
        text = aliases.get(text, text)
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown job status {value!r}; expected one of {[s.value for s in cls]}") from None


@dataclass(frozen=True)
class Job:
    """A submitted job: its platform id and where its results land."""

    id: str
    results_dir: str
    name: str | None = None


@runtime_checkable
class PlatformSDK(Protocol):
    """What the runner needs from a platform. Any object with these methods works (duck typing).

    ``create_job`` receives ``job_name`` in ``kwargs``: a name that is the same for every retry of
    one rec's submission. An SDK that can look jobs up by name returns the existing job instead of
    creating a second one (idempotent submission).

    Optional extras the runner uses when present:

    * ``read_job_file(job_id, relative_path) -> str | None`` — a file from the job's results dir
      (remote platforms); without it the runner reads ``Job.results_dir`` from the local disk.
    * ``wait_for_change(job_ids, timeout) -> None`` — block until one of the jobs may have changed
      state or ``timeout`` seconds pass (lets the loop react to a finished job at once).
    """

    def create_job(
        self,
        image: str | None,
        command: str | Sequence[str],
        gpu_count: int = 1,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Job: ...

    def get_job_status(self, job_id: str) -> JobStatus: ...

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None: ...

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None: ...

    def cancel_job(self, job_id: str) -> bool: ...

"""Container state (``docker inspect`` ``State``) -> JobStatus, and the failure message of a finished job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tao_automl.platforms.analysis import exit_hint, reason_line
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.common import rfc3339_time

#: A container still "created" (never started) this long after creation counts as failed.
NEVER_STARTED_AFTER_S = 60.0
def state_info(state: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a container's ``State`` a job record keeps."""
    status = str(state.get("Status") or "")
    finished = status in ("exited", "dead")
    return {
        "container_state": status,
        "exit_code": state.get("ExitCode") if finished else None,
        "oom_killed": bool(state.get("OOMKilled")),
        "error": str(state.get("Error") or "") or None,
        "finished_at": rfc3339_time(state.get("FinishedAt")) if finished else None,
    }


def to_status(info: Mapping[str, Any], cancel_requested: bool, age_s: float) -> JobStatus:
    """created -> PENDING (FAILURE once it is clearly never starting); running/paused/restarting -> RUNNING;
    exited 0 -> SUCCESS; exited non-zero, OOM-killed or dead -> FAILURE; any end after a cancel -> CANCELLED."""
    state = info.get("container_state")
    if state == "created":
        return JobStatus.FAILURE if age_s > NEVER_STARTED_AFTER_S else JobStatus.PENDING
    if state in ("running", "paused", "restarting", "removing"):
        return JobStatus.RUNNING
    if cancel_requested:
        return JobStatus.CANCELLED
    if state == "exited" and info.get("exit_code") == 0 and not info.get("oom_killed"):
        return JobStatus.SUCCESS
    return JobStatus.FAILURE


def describe(job_id: str, status: JobStatus, data: Mapping[str, Any], found: list[str]) -> str:
    """One sentence on why the container job did not succeed."""
    name = data.get("container_name") or job_id[:12]
    if status is JobStatus.CANCELLED and data.get("outside_signals"):
        return (f"Docker job {name} was stopped from outside this sweep: the Docker engine was asked to send it "
                f"{', then '.join(data['outside_signals'])} (docker stop, docker kill or docker rm -f) and it exited "
                f"with code {data.get('exit_code')}.")
    if status is JobStatus.CANCELLED:
        return f"Docker job {name} was cancelled."
    if data.get("message"):
        return f"Docker job {name} failed: {data['message']}."
    if data.get("oom_killed"):
        limit = f" (memory limit {data['mem_limit']})" if data.get("mem_limit") else ""
        return f"Docker job {name} was killed by the out-of-memory killer{limit}: give it more memory."
    if data.get("container_state") == "created":
        return f"Docker job {name} failed: its container was created but never started (did the submitter die?)."
    if data.get("container_state") == "dead":
        return f"Docker job {name} failed: the Docker engine marked its container dead ({data.get('error')})."
    code = data.get("exit_code")
    parts = [f"Docker job {name} failed with exit code {code}"]
    if code == 137:
        parts.append(" (SIGKILL: out of memory outside the container limit, or killed by hand)")
    elif code in (126, 127):
        parts.append(" (the command could not be run or was not found in the image)")
    elif isinstance(code, int) and code > 128:  # 143: SIGTERM, e.g. the engine shut down with it running
        parts.append(exit_hint(code))
    if data.get("error"):
        parts.append(f" [{data['error']}]")
    error = reason_line(found)
    return "".join(parts) + (f": {error}" if error else "") + "."

"""Reading Lepton's answers: job states to JobStatus, ``/logs`` query results to lines, exit markers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tao_automl.errors import PlatformError
from tao_automl.platforms.base import JobStatus

#: The wrapper prints this as the job's last log line so the exit code survives in the logs.
EXIT_MARKER = "TAO_AUTOML_EXIT_CODE="
_EXIT_LINE = re.compile(rf"^{EXIT_MARKER}(-?\d+)\s*$")

_PENDING = {"Starting", "Queueing", "Awaiting", "PendingRetry", "Restarting"}
_CANCELLED = {"Stopped", "Deleting", "Deleted"}
#: Not ended yet: its replicas may still run (a stop or a failure on its way).
_RUNNING = {"Running", "Stopping", "Terminating"}


def wrap_command(command: str) -> list[str]:
    """The container command: run ``command`` in bash, then print its exit code and exit with it."""
    script = f"set +e\n(\n{command}\n)\ncode=$?\necho \"{EXIT_MARKER}$code\"\nexit $code\n"
    return ["bash", "-c", script]


def to_status(state: str | None, succeeded: int = 0, failed: int = 0, completions: int = 1,
              stopped: bool = False) -> JobStatus:
    """Map a Lepton job state (``LeptonJobState`` value) to JobStatus; ``Stopping`` and ``Terminating`` count as
    running (its replicas may still run). A state this adapter does not know (``UNK``: ``leptonai`` reads every state
    it does not know so) is a PlatformError naming it, never taken for running (a sweep would wait on it forever).
    ``stopped``: the job's ``spec.stopped`` (a stop was asked, as ``lep job stop`` reads it)."""
    word = (state or "").strip()
    if word in _PENDING or not word:
        return JobStatus.PENDING
    if word == "Completed":
        return JobStatus.SUCCESS
    if word == "Failed":
        return JobStatus.FAILURE
    if word in _CANCELLED:  # a job whose every replica had succeeded before the stop ended by itself
        done = succeeded >= max(completions, 1) and not failed
        return JobStatus.SUCCESS if done else JobStatus.CANCELLED
    if word == "Archived":  # the final state is gone (``ttl_seconds_after_finished``): judge by the counts and the stop
        if succeeded >= max(completions, 1) and not failed:
            return JobStatus.SUCCESS
        return JobStatus.CANCELLED if stopped else JobStatus.FAILURE
    if word in _RUNNING:
        return JobStatus.RUNNING
    raise PlatformError(f"Lepton reports job state {word!r}, which tao-automl does not know (leptonai reads a state "
                        "it does not know as 'UNK'): it cannot tell whether the job runs or ended; look at it in the "
                        "Lepton dashboard or with `lep job get`, and upgrade leptonai / tao-run-automl")


def epoch_seconds(value: int | float) -> float:
    """A Lepton epoch time (``creation_time``, ``completion_time``) in seconds, whatever its unit (s, ms, us, ns),
    told by its size as ``lep log`` does."""
    size = abs(value)
    for limit, scale in ((1e11, 1.0), (1e14, 1e3), (1e17, 1e6)):
        if size < limit:
            return float(value) / scale
    return float(value) / 1e9


def log_entries(answer: Any) -> list[tuple[int, str, str]]:
    """``(ts_ns, replica, line)`` of a ``/logs`` answer (``{"data": {"result": [{"stream", "values"}]}}``)."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    result = data.get("result") if isinstance(data, Mapping) else None
    entries: list[tuple[int, str, str]] = []
    for stream in result if isinstance(result, list) else []:
        if not isinstance(stream, Mapping):
            continue
        labels = stream.get("stream")
        replica = str(labels.get("replica", "")) if isinstance(labels, Mapping) else ""
        for value in stream.get("values") or []:
            if isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= 2:
                entries.append((int(value[0]), replica, str(value[1]).rstrip("\n")))
    return entries


def exit_code(lines: Sequence[str]) -> int | None:
    """The exit code the wrapper printed (the last marker line), or None."""
    for line in reversed(lines):
        match = _EXIT_LINE.match(line.strip())
        if match:
            return int(match.group(1))
    return None


def replica_exit_codes(entries: Sequence[tuple[int, str, str]]) -> list[tuple[int, str, int]]:
    """``(ts_ns, replica, exit code)`` of each replica's last exit marker in ``entries`` (:func:`log_entries`), in the
    order the replicas ended."""
    last: dict[str, tuple[int, str, int]] = {}
    for ts, replica, line in sorted(entries, key=lambda e: e[0]):
        match = _EXIT_LINE.match(line.strip())
        if match:
            last[replica] = (ts, replica, int(match.group(1)))
    return sorted(last.values())


def without_markers(lines: Sequence[str]) -> list[str]:
    return [line for line in lines if not _EXIT_LINE.match(line.strip())]

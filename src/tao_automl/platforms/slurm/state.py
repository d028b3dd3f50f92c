"""Reading Slurm's answers: job states to JobStatus, ``scontrol show job -o`` and ``sacct -P`` lines."""

from __future__ import annotations

import re
from typing import Any

from tao_automl.platforms.base import JobStatus

_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "RESIZING"}
_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SUSPENDED", "STOPPED"}
_FAILED = {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
           "SPECIAL_EXIT", "REVOKED"}

#: Why a job in a failed state ended, in words.
STATE_REASONS = {
    "TIMEOUT": "it reached its time limit",
    "NODE_FAIL": "its node failed",
    "OUT_OF_MEMORY": "it ran out of memory (the OOM killer stopped it)",
    "PREEMPTED": "it was preempted by a higher-priority job",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "it reached its deadline",
}
_FIELD = re.compile(r"(?:^|\s)([A-Za-z/:]+)=")

#: What a pending job's Reason means, for the ones a user must act on or wait out knowingly.
PENDING_REASONS = {
    "PartitionNodeLimit": "it asks for more nodes than its partition has or allows (or they are down or drained)",
    "PartitionConfig": "it asks for more than the partition's nodes have (CPUs, memory or GPUs per node)",
    "PartitionTimeLimit": "its time limit is above the partition's",
    "BadConstraints": "no node satisfies its constraints",
    "ReqNodeNotAvail": "a node it needs is not available (down, drained or reserved)",
    "Resources": "waiting for free resources",
    "Priority": "jobs of higher priority go first",
    "Dependency": "waiting for a job it depends on",
    "InvalidAccount": "its account is not valid on this cluster",
    "InvalidQOS": "its QOS is not valid on this cluster",
    "BeginTime": "it may not start before its begin time (sbatch --begin; a requeued job, preempted or on a failed "
                 "node, waits about 2 minutes, Slurm's credential lifetime, before it runs again)",
    "PartitionDown": "its partition is down: it waits until an administrator sets it up (`scontrol update "
                     "partitionname=<partition> state=up`)",
    "PartitionInactive": "its partition is inactive: it waits until an administrator sets it up (`scontrol update "
                         "partitionname=<partition> state=up`)",
    "JobHeldUser": "held by its user (scontrol uhold): it waits until `scontrol release <job id>`",
    "JobHeldAdmin": "held by an administrator (scontrol hold): it waits until an administrator's "
                    "`scontrol release <job id>`",
}


def slurm_state(text: str) -> str:
    """The bare state word: ``CANCELLED by 0`` -> ``CANCELLED``, ``OUT_OF_ME+`` stays as given."""
    return text.strip().split(" ")[0].rstrip("+").upper() if text.strip() else ""


def to_status(state: str) -> JobStatus:
    """Map a Slurm job state to JobStatus (unknown states count as running: never a false finish)."""
    word = slurm_state(state)
    if word in _PENDING:
        return JobStatus.PENDING
    if word == "COMPLETED":
        return JobStatus.SUCCESS
    if word == "CANCELLED":
        return JobStatus.CANCELLED
    if word in _FAILED or word.startswith("OUT_OF_ME"):
        return JobStatus.FAILURE
    return JobStatus.RUNNING


def parse_scontrol(line: str) -> dict[str, str]:
    """``Key=Value`` pairs of one ``scontrol show job -o`` line (values may contain spaces)."""
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(line))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        fields[match.group(1)] = line[match.end():end].strip()
    return fields


def exit_code(text: str | None) -> tuple[int | None, int | None]:
    """``ExitCode=3:0`` -> (3, None); ``0:9`` -> (0, 9) (the signal that killed it)."""
    if not text or ":" not in text:
        return None, None
    code, _, sig = text.partition(":")
    try:
        return int(code), (int(sig) or None)
    except ValueError:
        return None, None


def job_info(fields: dict[str, str]) -> dict[str, Any]:
    """The parts of a job's Slurm record this SDK keeps (from scontrol or sacct fields)."""
    state = slurm_state(fields.get("JobState") or fields.get("State") or "")
    code, sig = exit_code(fields.get("ExitCode"))
    reason = fields.get("Reason")
    node = fields.get("NodeList") or fields.get("BatchHost")
    end = (fields.get("EndTime") or fields.get("End") or "").strip()
    ended = to_status(state).is_finished() and end.isdigit() and int(end) > 0  # a running job's EndTime: its limit
    pending = to_status(state) is JobStatus.PENDING and reason not in (None, "", "None")
    return {
        "finished_at": float(end) if ended else None,
        "pending_reason": _pending_text(str(reason)) if pending else None,
        "slurm_state": state,
        "exit_code": code,
        "signal": sig,
        "reason": None if reason in (None, "", "None") else reason,
        "node": None if node in (None, "", "(null)", "None assigned") else node,
        "stdout": fields.get("StdOut"),
        "time_limit": _limit_text(fields.get("TimeLimit") or fields.get("Timelimit")),
        "memory": _memory_text(fields),
    }


def _pending_text(reason: str) -> str:
    """A pending job's Reason, with what it means when known. Slurm adds details after a comma
    (``ReqNodeNotAvail,_UnavailableNodes:vm``): the word before it is the reason."""
    meaning = PENDING_REASONS.get(reason.split(",", 1)[0])
    return f"Slurm: {reason}" + (f" ({meaning})" if meaning else "")


def _memory_text(fields: dict[str, str]) -> str | None:
    """The memory the job was given (scontrol's ``MinMemoryNode=100M``, or ``MinMemoryCPU=2G`` per CPU)."""
    if fields.get("MinMemoryNode"):
        return f"{fields['MinMemoryNode']} per node"
    if fields.get("MinMemoryCPU"):
        return f"{fields['MinMemoryCPU']} per CPU"
    return None


def _limit_text(value: str | None) -> str | None:
    """A job's time limit as Slurm gave it: scontrol's ``00:01:00`` as is, jobcomp's minutes (``1``) as ``1 min``;
    None when unknown or unlimited."""
    text = (value or "").strip()
    if not text or text.upper() in ("UNLIMITED", "PARTITION_LIMIT", "INVALID", "(NULL)", "NONE"):
        return None
    return f"{text} min" if text.isdigit() else text


SACCT_FIELDS = ("JobID", "State", "ExitCode", "NodeList", "End", "Timelimit")


def parse_sacct(text: str, job_id: str) -> dict[str, str] | None:
    """The allocation line of ``job_id`` from ``sacct -n -P -o JobID,State,ExitCode,NodeList,End,Timelimit``: the
    last one, as a requeued job (preempted, its node failed, ``scontrol requeue``) has a line per run in the jobcomp
    file (``sacct -c``), the first saying PENDING (requeued) and the last how it ended."""
    found = None
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) >= len(SACCT_FIELDS) and parts[0] == job_id:
            found = dict(zip(SACCT_FIELDS, parts, strict=False))
    return found

"""Failure policy of the sweep: per-rec job timeouts and failing fast on a cause every rec shares.

* ``automl_job_timeout_s`` bounds one rec's job (unset: no bound). It is the limit for a job that trains
  ``automl_max_epochs``; a multi-fidelity rec with a budget of ``b`` epochs gets ``b / automl_max_epochs``
  of it (:func:`job_timeout`).
* ``automl_fail_fast_after`` = K: when K recs have failed with the same cause (:func:`cause_key`: the message
  with ids, paths' numbers and hashes blanked) before any rec succeeded, the sweep stops with one line naming
  the cause and the next step (:func:`fail_fast_message`). Other failures in between (a diverged rec) do not
  hide a cause every rec hits. 0 turns it off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tao_automl.experiment.store import RecRow

_HEX = re.compile(r"\b[0-9a-f]{6,}\b")
_DIGITS = re.compile(r"\d+")


def job_timeout(base_s: float | None, budget: int | None, max_epochs: int) -> float | None:
    """Seconds rec's job may run: ``base_s`` scaled by ``budget / max_epochs`` (no budget: ``base_s``)."""
    if base_s is None:
        return None
    if budget is None or max_epochs <= 0:
        return base_s
    return base_s * min(1.0, budget / max_epochs)


def timeout_message(limit_s: float, base_s: float, budget: int | None) -> str:
    scaled = f" (automl_job_timeout_s={base_s:g} s scaled to the rec's budget of {budget} epochs)" \
        if limit_s != base_s else f" (automl_job_timeout_s={base_s:g} s)"
    return (f"timed out: the job ran longer than {limit_s:g} s{scaled} and was cancelled; raise "
            "automl_job_timeout_s or unset it")


def cause_key(row: RecRow) -> str:
    """A failure's cause with what differs between recs (job id and name, numbers, hashes) blanked."""
    text = row.message or "failed without a message"
    for token in (row.job_id, row.job_name, row.results_dir):
        if token:
            text = text.replace(token, "<job>")
    text = _HEX.sub("<id>", text.lower())
    return _DIGITS.sub("#", " ".join(text.split()))


def shared_cause(finished: Sequence[RecRow], k: int) -> RecRow | None:
    """The first rec of a cause ``k`` of ``finished`` (in finishing order) failed with, provided none of them
    succeeded or was stopped with a metric: then the pipeline itself is broken (a metric name the job never
    writes, a missing command), whatever other causes are mixed in (a diverged rec, say)."""
    if k <= 0 or len(finished) < k or any(r.status in ("success", "stopped") for r in finished):
        return None
    by_cause: dict[str, list[RecRow]] = {}
    for row in finished:
        if row.status == "failure":
            alike = by_cause.setdefault(cause_key(row), [])
            alike.append(row)
            if len(alike) >= k:
                return alike[0]
    return None


def next_step(message: str) -> str:
    """What to do about a failure cause, in one phrase."""
    lowered = message.lower()
    if "reported no metric" in lowered or ("metric" in lowered and "not a finite number" in lowered):
        return ("make automl_settings.metric name a value the job writes (status.json kpi or a 'name: value' log "
                "line), or pass metric_extractor")
    if "command not found" in lowered or "no such file" in lowered or "exit code 127" in lowered:
        return "check the skill's command and that its program exists where the job runs"
    if "timed out" in lowered:
        return "raise automl_job_timeout_s (or unset it) if the jobs need longer"
    if "submission failed" in lowered:
        return "check the platform settings and that the platform is reachable"
    return "read one failed rec's log (`tao-automl status RUN_DIR`), fix the cause, then run the sweep again"


def fail_fast_message(row: RecRow, k: int, finished: int) -> str:
    """The one line that ends a sweep in which ``k`` of the ``finished`` recs failed alike and none succeeded."""
    cause = " ".join((row.message or "failed without a message").split()).rstrip(".")
    which = (f"the first {k} finished recs all failed with the same cause" if finished == k else
             f"{k} of the {finished} finished recs failed with the same cause and none succeeded")
    return (f"stopping the sweep: {which}: {cause}. "
            f"Next step: {next_step(cause)} (automl_fail_fast_after={k}; 0 turns this check off)")

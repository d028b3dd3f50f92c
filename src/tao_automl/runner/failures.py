"""Failure policy of the sweep: per-rec job timeouts and failing fast on a cause every rec shares.

* ``automl_job_timeout_s`` bounds one rec's job (unset: no bound). It is the limit for a job that trains
  ``automl_max_epochs``; a multi-fidelity rec with a budget of ``b`` epochs gets ``b / automl_max_epochs``
  of it (:func:`job_timeout`).
* ``automl_fail_fast_after`` = K: when K recs have failed with the same cause (:func:`cause_key`: the message
  with ids, paths' numbers and hashes blanked) before any rec succeeded, the sweep stops with one line naming
  the cause and the next step (:func:`fail_fast_message`, :func:`next_step`). Other failures in between (a
  diverged rec) do not hide a cause every rec hits. 0 turns it off.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tao_automl.experiment.holder import resume_command
from tao_automl.experiment.store import RecRow
from tao_automl.util.shell import sh

#: a number as messages print it: sign, decimals, exponent; nan/inf too (a diverged value)
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:e[-+]?\d+)?\b|[-+]?\b(?:nan|inf(?:inity)?)\b")
#: an id or hash: 6+ hex characters with a letter and a digit among them (a plain number is a number)
_HEX = re.compile(r"(?<![0-9a-f.])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{6,}(?![0-9a-f]|[-+]\d)")
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
    text = _NUMBER.sub("#", text)
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


#: What continues a run whose whole budget of recs was created (``resume`` would launch nothing).
NO_BUDGET_LEFT = ("start a new run (every rec of this run's budget was created, so `tao-automl resume` has nothing "
                  "to launch)")
#: What continues a run whose brain proposed no more recs before its budget (a resume ends it the same way).
BRAIN_DONE = ("start a new run (the run's brain proposed no more recs before its budget, so `tao-automl resume` has "
              "nothing to launch)")


#: A missing file that is data the jobs read (a dataset or checkpoint path), not the program they run.
_NAMES_DATA = re.compile(r"dataset|checkpoint|annotation|_path\b|_dir\b|_uri\b|\.(npz|npy|json|csv|ya?ml|txt|pth?|"
                         r"tlt|hdf5|h5|onnx|jpe?g|png|tar|zip)\b")


def _resume(run_dir: Path, budget_left: bool = True, spent: str = NO_BUDGET_LEFT) -> str:
    return f"`{resume_command(run_dir)}`" if budget_left else spent


#: Failure causes that lie in what a run keeps on resume (its metric) or in what it searches (values that diverge),
#: as their messages say them (:mod:`tao_automl.experiment.core`, :mod:`tao_automl.metrics.job`).
_NON_FINITE = "not a finite number"
_NO_METRIC = "reported no metric"


def needs_new_run(message: str) -> bool:
    """Whether :func:`next_step` sends a run whose recs failed with ``message`` to a new run whatever its budget: the
    cause lies in what the run keeps on resume (its metric, a job time limit) or in what it searches (values that
    diverge), so `tao-automl resume` would fail the same way."""
    lowered = message.lower()
    return _NON_FINITE in lowered or _NO_METRIC in lowered or _job_time_limit(lowered)


def _job_time_limit(lowered: str) -> bool:
    """Whether a (lowercased) failure message is the run's own job time limit (:func:`timeout_message`), not a
    timeout the job met itself (a read timed out, a process group that timed out initialising)."""
    return lowered.startswith("timed out: the job ran longer than") and "automl_job_timeout_s" in lowered


def next_step(message: str, run_dir: Path, rec_id: int, budget_left: bool = True, spent: str = NO_BUDGET_LEFT) -> str:
    """What to do about a failure cause of the run in ``run_dir`` (``rec_id``: one rec that failed of it).

    A cause in the run's settings or spec (its metric, a job time limit) needs a new run, because ``resume``
    keeps the run's settings; a cause outside them (data, environment, code, the platform) is fixed and resumed,
    unless every rec of the budget was created already, or the brain proposes no more (``budget_left`` False): then a
    new run too, as ``spent`` says (:data:`NO_BUDGET_LEFT` or :data:`BRAIN_DONE`).
    """
    lowered = message.lower()
    if _NON_FINITE in lowered:  # the metric was found: training diverged, or the job computed no value
        return ("the metric was found but is NaN or infinite: training diverged or the job could not compute it "
                "(a learning rate too high for the data, a loss overflow, an empty validation split): read a "
                f"failed rec's log (`tao-automl logs {sh(run_dir)} {rec_id}`), then narrow the search "
                "(custom_param_ranges) or fix the data in a new run")
    if _NO_METRIC in lowered:
        return ("make automl_settings.metric name a value the job writes: a `name: value` or `name=value` line in "
                "its log, or a line {\"epoch\": N, \"kpi\": {\"name\": value}} in RESULTS_DIR/status.json (from "
                "Python, run(metric_extractor=...) reads any other form); then start a new run (a run's metric "
                "cannot change on resume)")
    if "create_job returned" in lowered:  # the SDK took the submission but answered no job: its code, not the platform
        return ("the platform SDK's create_job returned no job object (a defect of that SDK's code, not a refusal of "
                "the platform): make it return an object with an .id (tao_automl.platforms.base.Job); any job it did "
                "start is not followed by this run, so check the platform for it; then "
                + ("resume the run with the fixed SDK: AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True)"
                   if budget_left else spent))
    if "submission failed" in lowered:  # before the job ran: the platform (or its jobs dir), not the command
        return ("read the platform's refusal in the message: a platform_kwargs or platform_options value it cannot "
                "meet (a partition, a memory size, GPUs it lacks, a jobs_dir it cannot write) needs a new run with "
                f"that value fixed; if the platform was down or full, {_resume(run_dir, budget_left, spent)} once it "
                "takes jobs")
    program_missing = "command not found" in lowered or "exit code 127" in lowered
    if "no such file" in lowered and not program_missing and _NAMES_DATA.search(lowered):
        return ("make the path named in the message exist where the jobs run (a dataset or checkpoint of the run), "
                f"then {_resume(run_dir, budget_left, spent)}; or start a new run that names the right path")
    if program_missing or "no such file" in lowered:
        return ("check the skill's command and that its program exists where the job runs, then "
                f"{_resume(run_dir, budget_left, spent)}")
    if "cannot be pulled" in lowered and "image" in lowered:  # the job never started: there is no log to read
        return ("no job ran: its image could not be pulled, as the message says; make the image it names pullable "
                "by the nodes (push it, or give platform_options.image_pull_secret for a private registry), then "
                f"{_resume(run_dir, budget_left, spent)}; or start a new run with the right image")
    if lowered.startswith("rendering the job failed"):  # no job ran: there is no log to read
        return ("no job ran: writing the rec's spec or folder failed, as the message says (a full or read-only run "
                f"folder, a spec value the format cannot hold); fix that, then {_resume(run_dir, budget_left, spent)}")
    if _job_time_limit(lowered):
        return ("raise automl_job_timeout_s (or unset it) if the jobs need longer, then start a new run "
                "(`tao-automl resume` keeps the run's settings)")
    if not budget_left:
        return (f"read a failed rec's log (`tao-automl logs {sh(run_dir)} {rec_id}`) and fix the cause, then "
                f"{spent}")
    return (f"read a failed rec's log (`tao-automl logs {sh(run_dir)} {rec_id}`) and fix the cause, then "
            f"{_resume(run_dir)} if it lay outside the run's settings (data, environment, code), or start a new "
            "run if it lay in the settings or the spec")


def fail_fast_message(row: RecRow, k: int, finished: Sequence[RecRow], run_dir: Path, budget_left: bool = True,
                      spent: str = NO_BUDGET_LEFT) -> str:
    """The one line that ends a sweep in which at least ``k`` of the ``finished`` recs failed like ``row`` and
    none succeeded. It counts every rec of that cause and leaves cancelled recs out of the finished ones.
    ``budget_left``: whether the run may still create recs (else its next step is a new run, never ``resume``)."""
    cause = " ".join((row.message or "failed without a message").split()).rstrip(".")
    key = cause_key(row)
    alike = sum(1 for r in finished if r.status == "failure" and cause_key(r) == key)
    ended = sum(1 for r in finished if r.status != "cancelled")
    cancelled = len(finished) - ended
    which = (f"all {alike} finished recs failed with the same cause" if alike == ended else
             f"{alike} of the {ended} finished recs failed with the same cause and none succeeded")
    if cancelled:
        which += f" ({cancelled} more cancelled)"
    return (f"stopping the sweep: {which}: {cause}. "
            f"Next step: {next_step(cause, run_dir, row.rec_id, budget_left, spent)} "
            f"(automl_fail_fast_after={k}; 0 turns this check off).")


def ended_counts(counts: Mapping[str, Any]) -> str:
    """``"3 failed, 1 cancelled"``: how ended recs ended (``counts``: a progress dict or status -> number), each
    count only when not zero."""
    return ", ".join(f"{counts[k]} {k}" for k in ("failed", "cancelled", "stopped") if counts.get(k)) or "none ended"


def no_result_message(finished: Sequence[RecRow], run_dir: Path, budget_left: bool, step: str | None = None,
                      spent: str = NO_BUDGET_LEFT) -> str:
    """The stop reason of a sweep that ran its recs to their end and none succeeded (no fail-fast stop: the causes
    differed, or ``automl_fail_fast_after`` is 0): how its recs ended, the last failure's cause, the next step
    (``step``, else the one :func:`next_step` gives for that cause with ``tao-automl`` commands)."""
    failed = [r for r in finished if r.status == "failure"]
    statuses = Counter(str(getattr(r.status, "value", r.status)) for r in finished)
    counts = ended_counts({"failed": statuses["failure"], "cancelled": statuses["cancelled"],
                           "stopped": statuses["stopped"]})  # named as progress counts them
    head = f"the sweep ended without a result: none of its {len(finished)} recs succeeded ({counts})"
    if not failed:
        return f"{head}. Next step: " + (step or _resume(run_dir, budget_left, spent) + (
            " launches the rest of the budget" if budget_left else ""))
    last = failed[-1]
    cause = " ".join((last.message or "failed without a message").split()).rstrip(".")
    return (f"{head}; the last failure (rec {last.rec_id}): {cause}. "
            f"Next step: {step or next_step(cause, run_dir, last.rec_id, budget_left, spent)}")

"""One-line text views of a run, shared by the CLI's live view, ``status --watch`` and the runner's progress log."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from tao_automl.experiment.holder import resume_command
from tao_automl.util.digits import distinct_digits, not_whole

TYPE_CHECKING = False  # typing stays out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from typing import Any


def format_value(value: Any) -> str:
    """A param value (or a table's metric) as the one-line views show it: three significant digits for tiny and huge
    floats, else four, or more where those read as a whole number the value is not (:func:`not_whole`)."""
    if isinstance(value, float):
        return not_whole(value, 3 if _tiny_or_huge(value) else 4)
    return str(value)


def _tiny_or_huge(value: float) -> bool:
    return value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5)


def _rounded(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.{3 if _tiny_or_huge(value) else 4}g}"
    return str(value)


def format_metric(value: Any) -> str:
    """A metric as the one-line views show it: four significant digits at any magnitude (format_value's three for
    tiny and huge values showed val_loss 1.2341e-12 and 1.2349e-12 alike), or more where those read as a whole
    number it is not (:func:`not_whole`: 0.99996 read ``1``, a perfect score no rec reached)."""
    return not_whole(value, 4) if isinstance(value, float) else format_value(value)


def distinct_values(values: list[Any]) -> list[str]:
    """``values`` as :func:`format_value` shows them, with more significant digits (up to 12) where two values
    that differ would otherwise print alike (ranks 3, 4 and 5 all read ``-1005``; in a column that is not sorted,
    such as a second metric's, any two of it); ``None`` shows ``-``."""
    numbers = sorted(v for v in values if isinstance(v, float) and v == v)  # any two alike are then neighbours
    # format_value's own texts first (3 digits for tiny and huge values: 1.2341e-12 and 1.2349e-12 both read
    # 1.23e-12), then more digits until no two neighbours that differ read alike
    if not any(a != b and _rounded(a) == _rounded(b) for a, b in itertools.pairwise(numbers)):
        return ["-" if v is None else format_value(v) for v in values]
    digits = distinct_digits(numbers, 4, most=12)
    return ["-" if v is None else (not_whole(v, digits) if isinstance(v, float) else format_value(v)) for v in values]


def front_pick_text(values: Mapping[str, Any], rec_id: Any, best_by: Any) -> str:
    """``acc=0.95, size=10 (rec 2, the Pareto front's knee)``: a multi-objective run's best, each metric's value."""
    shown = ", ".join(f"{name}={format_metric(value)}" for name, value in values.items())
    return f"{shown} (rec {rec_id}, the Pareto front's {best_by})"


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted key's shortest ending that no other key of ``keys`` ends with: ``train.optim.lr`` -> ``lr``, but
    ``aug.color.enable`` and ``aug.flip.enable`` -> ``color.enable`` and ``flip.enable``."""
    out: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for size in range(1, len(parts) + 1):
            ending = ".".join(parts[-size:])
            if not any(other != key and (other == ending or other.endswith("." + ending)) for other in keys):
                break
        out[key] = ending
    return out


def format_params(params: Mapping[str, Any]) -> str:
    names = short_names(list(params))
    return " ".join(f"{names[key]}={format_value(v)}" for key, v in params.items())


def format_duration(seconds: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour); ``-`` when unknown."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def local_time(timestamp: float) -> str:
    """``2026-12-05 05:15:50 -0500``: a time of the run in this machine's zone, its UTC offset named (the run's
    folder name and another machine or shell may use another zone; the CSV export writes UTC)."""
    import datetime

    return datetime.datetime.fromtimestamp(float(timestamp)).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def counts_line(progress: Mapping[str, Any]) -> str:
    """``7/10 recs done: 5 succeeded, 1 failed, 1 stopped, 0 cancelled`` (and ``, 2 ended uncollected`` where jobs
    ended with no orchestrator to collect their results: ``progress.uncollected``)."""
    uncollected = int(progress.get("uncollected") or 0)
    more = f", {uncollected} ended uncollected (resume collects their results)" if uncollected else ""
    return (f"{progress['completed']}/{progress['total']} recs done: {progress['succeeded']} succeeded, "
            f"{progress['failed']} failed, {progress.get('stopped', 0)} stopped, "
            f"{progress.get('cancelled', 0)} cancelled{more}")


def progress_line(progress: Mapping[str, Any]) -> str:
    """The compact live line: done/total, in flight (how many of them queued), failed, best so far, elapsed and
    ETA."""
    metric = progress.get("metric") or "metric"
    best = progress.get("best_metric")
    shown_best = "-"
    values = progress.get("best_values")
    if progress.get("objectives") and values:  # several metrics: the front's pick with each of its values
        shown_best = front_pick_text(values, progress.get("best_rec_id"), progress.get("best_by"))
    elif best is not None:
        budget = progress.get("best_budget")
        at = f", {epochs_text(budget)}" if budget is not None and progress.get("ranked_by") != "metric" else ""
        shown_best = f"{metric}={format_metric(best)} (rec {progress.get('best_rec_id')}{at})"
    eta = progress.get("eta_s")
    in_flight, queued = progress.get("running", 0), progress.get("queued") or 0
    # progress.running counts the recs in flight; "running" only while none of them waits in the platform's queue
    active = f"{in_flight} in flight ({queued} queued)" if queued else f"{in_flight} running"
    return (f"[{progress['completed']}/{progress['total']} done | {active} | "
            f"{progress['failed']} failed | best {shown_best} | elapsed {format_duration(progress.get('elapsed_s'))}"
            f" | ETA {format_duration(eta)}]")


def epochs_text(epochs: Any) -> str:
    """``"8 epochs"``, ``"1 epoch"``."""
    return f"{epochs} epoch" if epochs == 1 else f"{epochs} epochs"


def epochs_trained(rec: Mapping[str, Any]) -> int | None:
    """The epochs a rec is known to have trained: those its metric was measured at, else for a success the budget
    its spec asked for (it ran to the end); None when it is not known (a failed or cancelled job may have stopped
    at any epoch: showing its budget would claim epochs that never ran)."""
    if rec.get("budget_reached") is not None:
        return int(rec["budget_reached"])
    return rec.get("budget") if rec.get("status") == "success" else None


def metrics_text(metric: str, value: Any, values: Mapping[str, Any] | None = None) -> str:
    """``val_loss=0.12``; a multi-objective rec's ``values`` (every metric): ``acc=0.95, size=10``."""
    if values:
        return ", ".join(f"{name}={format_metric(v)}" for name, v in values.items())
    return f"{metric}={format_metric(value)}"


def rec_line(rec: Mapping[str, Any], metric: str) -> str:
    """One ended rec: status, metric (each metric of a multi-objective rec's ``metric_values``; or the reason it has
    none), epochs trained and wall time."""
    value = rec.get("metric_value")
    shown = metrics_text(metric, value, rec.get("metric_values")) if value is not None \
        else str(rec.get("message") or "no metric")
    details = []
    epochs = epochs_trained(rec)
    if epochs is not None:
        details.append(epochs_text(epochs))
    if rec.get("wall_time_s") is not None:
        details.append(f"{rec['wall_time_s']:.1f} s")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"rec {rec['rec_id']} {rec['status']}: {shown}{suffix}"


def budget_spent(progress: Mapping[str, Any]) -> bool:
    """Whether every rec of the run's budget has ended (whatever the run's state: a sweep that failed fast may have
    used it all): a resume would have nothing to launch."""
    return progress.get("completed", 0) >= progress.get("total", 0) and not progress.get("running") \
        and not progress.get("pending")


def ended_early(info: Mapping[str, Any], progress: Mapping[str, Any]) -> bool:
    """Whether the sweep ended before its budget because its brain proposed no more recs (``ended_early`` of its
    ``orchestrator`` info; a run stored before that flag: ``finished`` with its budget unspent): a resume ends it the
    same way."""
    return bool(info.get("ended_early")) or (progress.get("state") == "finished" and not budget_spent(progress))


#: Why a sweep that ended before its budget is not resumed (status, stop).
ENDED_EARLY_WHY = ("the sweep ended before its budget: its brain proposed no more recs, and a resume would end it the "
                   "same way; start a new run to search on")


def resumable(info: Mapping[str, Any], progress: Mapping[str, Any]) -> bool:
    """Whether `tao-automl resume` (the ``resume_sweep`` tool) continues the run, from its ``orchestrator`` info and
    progress: none drives it, it did not end before its budget with its brain proposing no more recs
    (:func:`ended_early`), a rec of its budget is left (or waits to be collected), it did not stop itself on a cause a
    resume meets again, and the command can rebuild it (not an ask/tell run, nor a custom SDK's). Every view asks
    this: status (text and JSON), stop, the run's own result and the agent tools."""
    return not info.get("alive") and not ended_early(info, progress) and not budget_spent(progress) \
        and not info.get("new_run_needed") and info.get("mode") != "ask_tell" and not info.get("platform_class")


def continue_with(info: Mapping[str, Any], run_dir: str | None) -> str:
    """How the run at ``run_dir`` is continued (its jobs' results collected), from its ``orchestrator`` info: a copy
    by its original, an ask/tell run or one on a custom SDK from Python, others by `tao-automl resume`."""
    if info.get("mode") == "ask_tell":
        return f"tao_automl.AutoML({str(run_dir or 'RUN_DIR')!r}, ..., resume=True)"
    if info.get("platform_class"):
        return "AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True)"
    return f"`{resume_command(run_dir, info.get('copy_of'))}`"


def left_open_line(run_dir: str | None, info: Mapping[str, Any]) -> str:
    """What a resume does for a run left open (not closed) with every rec of its budget ended, from its
    ``orchestrator`` info (``copy_of``, ``platform_class``): it launches nothing and only closes the run; a copy
    whose original exists is refused until it is moved away from it."""
    if info.get("copy_of"):
        return ("every rec of the run's budget has ended, but the run was left open, and this is a copy of the run "
                f"at {info['copy_of']}, which still exists: `{resume_command(run_dir)}` refuses a copy; moved away "
                "from its original (or with the original removed), a resume of it launches nothing, it only closes "
                "the run")
    # closing needs no platform: `tao-automl resume` closes it even where it cannot rebuild the run's SDK
    closer = f"`{resume_command(run_dir)}`" + (" (or AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True) from "
                                                 "Python)" if info.get("platform_class") else "")
    return f"every rec of the run's budget has ended, but the run was left open: {closer} launches nothing, it only " \
           "closes the run"


def orchestrator_line(info: dict[str, Any], run_dir: str | None, progress: Mapping[str, Any]) -> str:
    """``status`` text: whether an orchestrator is alive; when not, how to continue the run at ``run_dir`` (nothing
    to continue once every rec of its budget has ended)."""
    if not info.get("alive"):
        if info.get("mode") == "ask_tell" and budget_spent(progress) and progress.get("state") == "interrupted":
            return ("orchestrator: not running (an ask/tell run whose every rec has ended, left open: close it from "
                    f"Python with tao_automl.AutoML({str(run_dir or 'RUN_DIR')!r}, ..., resume=True), then finish())")
        if budget_spent(progress) and progress.get("state") == "interrupted":  # killed, or its last jobs cancelled
            return f"orchestrator: not running ({left_open_line(run_dir, info)})"
        if budget_spent(progress):
            return "orchestrator: not running (every rec of the run's budget has ended; nothing to resume)"
        if ended_early(info, progress):
            return f"orchestrator: not running ({ENDED_EARLY_WHY})"
        if info.get("new_run_needed"):  # the sweep stopped itself on a cause a resume would meet again
            return ("orchestrator: not running (the sweep stopped itself on a cause a resume would meet again: start "
                    "a new run with what its stop reason says to change)")
        if info.get("mode") == "ask_tell":  # `tao-automl resume` refuses it: its caller drives it from Python
            return ("orchestrator: not running (an ask/tell run: continue it from Python with "
                    f"tao_automl.AutoML({str(run_dir or 'RUN_DIR')!r}, ..., resume=True))")
        if info.get("platform_class"):  # a custom SDK object: `tao-automl resume` cannot rebuild it
            return (f"orchestrator: not running (it ran on {info['platform_class']}, which `tao-automl resume` cannot "
                    "rebuild: continue it from Python with AutoMLRunner(sdk, ...).run(workspace_path=..., "
                    "resume=True))")
        if info.get("copy_of"):  # a copy whose original exists is not resumed: the original is
            return (f"orchestrator: not running (a copy of the run at {info['copy_of']}: continue the original with "
                    f"`{resume_command(run_dir, info['copy_of'])}`, or in the background with --detach)")
        return (f"orchestrator: not running (continue with `{resume_command(run_dir)}`, or in the background with "
                "--detach)")
    kind = "detached" if info.get("detached") else "foreground"
    who = f"pid {info['pid']}" if info.get("pid") else "in another pid namespace or on another machine"
    return f"orchestrator: alive ({who}, {kind})" + (f"; log: {info['log']}" if info.get("log") else "")


def tracking_lines(result: Mapping[str, Any]) -> list[str]:
    """One line per tracker (W&B, MLflow) whose calls failed in the run (``tracking_errors`` of ``run``'s result or
    ``status``), for ``run``'s end, ``status`` and ``status --watch``."""
    return [f"tracker {name} failed {failed['count']} time(s), so it misses part of this run (its results here are "
            f"complete); first: {failed['first']}" for name, failed in (result.get("tracking_errors") or {}).items()]

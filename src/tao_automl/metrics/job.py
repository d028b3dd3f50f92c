"""Reading a finished job's metric through whatever the SDK offers."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.metrics.parse import kpi_names, metric_from_logs, metric_from_status, non_number_kpi, status_lines
from tao_automl.platforms.base import as_platform
from tao_automl.util.suggest import did_you_mean

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
LOG_TAIL_LINES = 2000


def read_results_file(sdk: Any, job_id: str, results_dir: str | None, name: str) -> str | None:
    """A file from the job's results dir: via the SDK's ``read_job_file``, else from the local disk
    (:func:`read_results_file_from`)."""
    return read_results_file_from(sdk, job_id, results_dir, name)[0]


def read_results_file_from(sdk: Any, job_id: str, results_dir: str | None,
                           name: str) -> tuple[str | None, str, list[str]]:
    """``(text, where, candidates)``: the file ``name`` of the job's results dir, via the SDK's ``read_job_file``,
    else from the local disk: ``RESULTS_DIR/name``, else one a folder down (TAO writes ``RESULTS_DIR/train/
    status.json`` when the job's results dir is the experiment's): the only one there is, or of several the most
    recently written (the last the job wrote to; equal times: the first by name). ``where``: the file read,
    relative to the results dir (``name``, ``train/status.json``); ``candidates``: the files a folder down it was
    chosen from when there were several, else empty."""
    try:
        text = as_platform(sdk).read_job_file(job_id, name)
    except Exception as exc:  # a platform hiccup must not end the sweep
        log.warning("job %s: reading %s failed: %s", job_id, name, exc)
        return None, name, []
    if isinstance(text, str):
        return text, name, []
    if not results_dir:
        return None, name, []
    return local_results_file(results_dir, name)


def local_results_file(results_dir: str | Path, name: str) -> tuple[str | None, str, list[str]]:
    """``(text, where, candidates)`` of the file ``name`` on the local disk: ``RESULTS_DIR/name``, else one a folder
    down (TAO writes ``RESULTS_DIR/train/status.json`` when the job's results dir is the experiment's): the only
    one there is, or of several the most recently written (equal times: the first by name). ``where`` and
    ``candidates`` as :func:`read_results_file_from` has them."""
    root = Path(results_dir)
    path = root / name
    try:
        if path.is_file():
            return path.read_text(errors="replace"), name, []
    except OSError:  # unreadable: as if it were not there
        return None, name, []
    found: list[tuple[float, Path]] = []
    for candidate in sorted(root.glob(f"*/{name}")):
        try:
            if candidate.is_file():
                found.append((candidate.stat().st_mtime, candidate))
        except OSError:  # removed meanwhile
            continue
    if not found:
        return None, name, []
    newest = max(found, key=lambda pair: pair[0])[1]  # max keeps the first of equal times: the first by name
    try:
        text = newest.read_text(errors="replace")
    except OSError:
        return None, name, []
    candidates = [p.relative_to(root).as_posix() for _, p in found] if len(found) > 1 else []
    return text, newest.relative_to(root).as_posix(), candidates


def safe_logs(sdk: Any, job_id: str, tail: int | None = LOG_TAIL_LINES) -> str:
    try:
        logs = sdk.get_job_logs(job_id, tail=tail)
    except Exception as exc:
        log.warning("job %s: reading logs failed: %s", job_id, exc)
        return ""
    return logs or ""


def polled_number(value: Any) -> float | None:
    """A metric extractor's answer on a log poll as a float (NaN and inf kept: the job's end judges them); None for
    no answer, a non-number or one past a float's range (the ended job's own call says what is wrong with it)."""
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError):
        return None


def extract_metric(sdk: Any, job_id: str, results_dir: str | None, metric: str,
                   answers: Mapping[str, object] | None,
                   metric_file: str | None = None, *, kpi_line: bool = False,
                   polled: float | None = None) -> tuple[float | None, str]:
    """``(value, where_it_came_from)``; a user extractor's answer wins, else status.json, then the logs, then the
    results file ``metric_file`` the skill declares (a JSON object, or lines of them, giving the metric at its top
    level or under ``kpi``). ``kpi_line``: the settings named the metric ``kpi`` (the model's monitoring metric, here
    ``metric``), so a log's ``kpi: value`` line gives it when the log holds no value under its own name. ``polled``:
    the extractor's last number on a log poll while the job ran, used when its call on the ended job's log raises or
    finds none (a platform may drop an ended job's log). Where: the status.json or results file read, relative to the
    results dir (``status.json``, ``train/status.json``: :func:`read_results_file_from`), ``logs``,
    ``metric_extractor``, or ``none``. ``answers``: what the user's extractor returned (or raised) on the ended job's
    log per metric, read by the caller (off the loop's thread, within a time limit); None: no extractor."""
    if answers is not None:
        value = answers.get(metric)
        if isinstance(value, Exception):
            log.warning("metric_extractor raised %s: %s; %s", type(value).__name__, value,
                        "using its value from the last log poll" if polled is not None
                        else "falling back to the default extraction")
            value = None
        if value is None and polled is not None:
            return polled, "metric_extractor"
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                log.warning("metric_extractor returned %s, not a number; the rec fails", _shown(value))
                return None, f"metric_extractor returned {_shown(value)}, not a number"
            try:
                return float(value), "metric_extractor"
            except (OverflowError, ValueError) as exc:  # 10**400: past a float's range
                log.warning("metric_extractor returned %s, which is no float (%s); the rec fails",
                            _shown(value), exc)
                return None, (f"metric_extractor returned {_shown(value)}, a number past a float's range "
                              "(at most about 1.8e308)")
    status_text, status_file, candidates = read_results_file_from(sdk, job_id, results_dir, STATUS_FILE)
    if status_text:
        value = metric_from_status(status_text, metric)
        if value is not None:
            if candidates:
                log.warning("job %s: no %s in its results folder %s but %d a folder down (%s): %r read from %s, "
                            "the most recently written", job_id, STATUS_FILE, results_dir, len(candidates),
                            ", ".join(candidates), metric, status_file)
            return value, status_file
    logs = safe_logs(sdk, job_id)
    value = metric_from_logs(logs, metric)
    if value is None and kpi_line:
        value = metric_from_logs(logs, "kpi")
    if value is not None:
        return value, "logs"
    return _from_metric_file(sdk, job_id, results_dir, metric, metric_file)


def _from_metric_file(sdk: Any, job_id: str, results_dir: str | None, metric: str,
                      metric_file: str | None) -> tuple[float | None, str]:
    """``(value, file read)`` from the skill's results file ``metric_file``; ``(None, "none")`` when there is none
    or it does not give ``metric``."""
    if not metric_file:
        return None, "none"
    text, where, _ = read_results_file_from(sdk, job_id, results_dir, metric_file)
    value = metric_from_status(text, metric) if text else None
    return (value, where) if value is not None else (None, "none")


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, its length said when cut: an extractor's 10**400 is 401
    digits (and an int of over 4,300 digits has no repr at all)."""
    try:
        text = repr(value)
    except ValueError:  # int of more digits than Python converts to text
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def extract_metrics(sdk: Any, job_id: str, results_dir: str | None, names: list[str],
                    answers: Mapping[str, object] | None,
                    metric_file: str | None = None,
                    polled: Mapping[str, float] | None = None) -> tuple[dict[str, float | None], dict[str, str]]:
    """Each of ``names`` read as :func:`extract_metric` reads one (multi-objective runs): values and sources by
    name; ``answers``: the user's extractor's answers on the ended job's log; ``polled``: its last number per name
    on a log poll."""
    values: dict[str, float | None] = {}
    sources: dict[str, str] = {}
    for name in names:
        values[name], sources[name] = extract_metric(sdk, job_id, results_dir, name, answers, metric_file,
                                                     polled=(polled or {}).get(name))
    return values, sources


def missing_metric_message(sdk: Any, job_id: str, results_dir: str | None, metric: str,
                           metric_file: str | None = None) -> str:
    """:func:`no_metric_message` for an ended job: the metrics its status.json reports, or the non-number it gave
    ``metric``; the skill's results file ``metric_file`` is named among the places looked in."""
    text, status_file, _ = read_results_file_from(sdk, job_id, results_dir, STATUS_FILE)
    records = status_lines(text) if text else []
    where = _looked_in(results_dir, status_file, text, records)
    if metric_file:
        file_text, file_where, _ = read_results_file_from(sdk, job_id, results_dir, metric_file)
        where += f", {_looked_in(results_dir, file_where, file_text, status_lines(file_text) if file_text else [])}"
    return no_metric_message(metric, kpi_names(records), non_number_kpi(records, metric), where)


def _looked_in(results_dir: str | None, name: str, text: str | None, records: list[dict[str, Any]]) -> str:
    """A results file's path as a missing metric's message names it, with ``(not found)``, ``(empty)``... ."""
    path = f"{results_dir.rstrip('/')}/{name}" if results_dir else name
    state = ("not found" if text is None else "empty" if not text.strip() else "no JSON object" if not records
             else None)
    return f"{path} ({state})" if state else path


def no_metric_message(metric: str, reported: list[str], not_a_number: Any = None,
                      status_file: str = STATUS_FILE) -> str:
    """The failure of a job that succeeded without ``metric``, naming the metrics it did report when known;
    ``not_a_number``: what its status.json held for ``metric`` instead of a number, if anything; ``status_file``:
    the status.json looked in, as the message names it (its path, and ``(absent)``, ``(empty)``...)."""
    if not_a_number is not None:
        return (f"job succeeded but its status.json gives metric {metric!r} the value {not_a_number!r}, which is not "
                "a number")
    message = (f"job succeeded but reported no metric {metric!r} (looked in {status_file} and the last "
               f"{LOG_TAIL_LINES} lines of the logs)")
    if reported:
        message += f"; it reported: {', '.join(reported)}{did_you_mean(metric, reported)}"
    return message

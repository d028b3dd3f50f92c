"""Reading a job's metric: TAO ``status.json`` first, then log lines."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

from tao_automl.util.terminal import without_escapes

TYPE_CHECKING = False  # typing stays out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


def normalise_name(name: str) -> str:
    """``val/loss``, ``val-loss`` and ``Val_Loss`` all become ``val_loss``."""
    return re.sub(r"[/\-. ]+", "_", name.strip().lower())


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # an integer past a float's range (JSON has no limit): as large as 1e400 reads
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:  # a tensor or numpy scalar turned into text (json.dumps(..., default=str))
            scalar = _SCALAR_TEXT.fullmatch(value)
            return float(scalar.group(1)) if scalar else None
    if value is None:
        return math.nan  # status.json writes null for a non-finite kpi
    return None


#: A number as ``str()`` prints a tensor or numpy scalar: ``tensor(0.8000)``, ``tensor(0.8, device='cuda:0')``,
#: ``np.float64(0.8)``.
_SCALAR_TEXT = re.compile(r"\s*(?:tensor|(?:np|numpy)\.float\d*)\(\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|[-+]?nan|"
                          r"[-+]?inf)\s*(?:,[^()]*)?\)\s*", re.IGNORECASE)
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")
#: Where a line starts a JSON object or list: status.json is read piece by piece from there, so the cost of a piece
#: that is not JSON stays that piece's (a decode error counts the lines before it: over a whole file, 100k bad lines
#: took minutes).
_PIECE_START = re.compile(r"\n(?=[\[{])")


def status_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a ``status.json``, in file order: one per line as TAO writes it, or written with an
    indent (``json.dump(..., indent=2)`` per epoch), or one JSON list of them. Text that is not JSON is skipped up
    to the next ``{``, on its line or a later one: a line cut short when the job was killed mid-write, with the
    resumed job's next object appended to it (no newline between), or bytes that are not text before an object."""
    records: list[dict[str, Any]] = []
    for piece in _PIECE_START.split(text):
        _decode_piece(piece, records)
    return records


def _decode_piece(text: str, records: list[dict[str, Any]]) -> None:
    """Append the JSON objects of ``text`` (a piece of a status.json) to ``records``; see :func:`status_lines`."""
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]  # \s* always matches
    while pos < len(text):
        try:
            record, pos = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: lists nested past Python's stack
            brace = text.find("{", pos + 1)
            if brace < 0:
                break
            pos = brace
            continue
        items = record if isinstance(record, list) else [record]
        records.extend(item for item in items if isinstance(item, dict))
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]


#: Where a status.json line holds values besides ``kpi``: TAO's status logger writes a trainer's running values
#: (its train ``loss``, ``lr``) under ``graphical`` and at the top level of the line.
_BESIDES_KPI = ("graphical", None)


def _leaves(mapping: dict[Any, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(name, value)`` of a kpi mapping, a nested mapping's values named by their path: ``{"val": {"loss": 1}}``
    gives ``("val/loss", 1)``, read as ``val/loss`` or ``val_loss``."""
    leaves: list[tuple[str, Any]] = []
    for key, raw in mapping.items():
        name = f"{prefix}{key}"
        leaves.extend(_leaves(raw, f"{name}/") if isinstance(raw, dict) else [(name, raw)])
    return leaves


def kpi_series(records: Iterable[dict[str, Any]], metric: str) -> list[tuple[int | None, float]]:
    """Every ``(epoch, value)`` of ``metric`` found in the records' ``kpi`` mappings, in file order. Only when no
    record's ``kpi`` names ``metric``, the records' ``graphical`` mappings give it, else their top levels (TAO's status
    logger writes a trainer's running ``loss`` there): a file is read from one place, so a validation value under
    ``kpi`` is never followed by a training value of the same name from a later line's ``graphical``. A nested
    kpi/graphical mapping's values are named by their path (:func:`_leaves`)."""
    wanted = normalise_name(metric)
    records = list(records)
    for place in ("kpi", *_BESIDES_KPI):
        series: list[tuple[int | None, float]] = []
        named = False
        for record in records:
            mapping = record if place is None else record.get(place)
            if not isinstance(mapping, dict):
                continue
            pairs = mapping.items() if place is None else _leaves(mapping)
            for key, raw in pairs:
                if normalise_name(str(key)) != wanted:
                    continue
                named = True
                value = _as_float(raw)
                if value is not None:
                    epoch = record.get("epoch")
                    series.append((epoch if isinstance(epoch, int) else None, value))
        if named:
            return series
    return []


def counts_from_zero(epochs: Sequence[int], records: Sequence[Mapping[str, Any]], planned: int, start: int) -> bool:
    """Whether a job's status.json counts epochs from 0 (TAO's PyTorch status logger: `epoch` is Lightning's
    current_epoch, `max_epoch` is max_epochs - 1), so that epoch e is the (e+1)-th; ``start``: the epochs its
    checkpoint held when it started (a resumed job's first epoch is ``start`` counted from 0, ``start + 1`` from 1).

    * lines from ``start`` on count from 0, unless they reach the whole budget (a trainer counting from 1 that logs
      a line before training);
    * three or more lines running without a gap from ``start + 1`` count from 1 (a trainer that ran its own 8 epochs
      against a budget of 9, with max_epoch 8, logs 1..8; a 0-based one logging every epoch would have logged
      ``start``; two such lines are also what a 0-based logger writing every 2nd epoch and the last writes for 3);
    * otherwise (only the last line kept, or one every few epochs) `max_epoch` = the budget - 1 says from 0."""
    declared = {r.get("max_epoch") for r in records}
    if start in epochs:
        return max(epochs) != planned
    seen = sorted(set(epochs))
    if len(seen) > 2 and seen == list(range(start + 1, seen[-1] + 1)):
        return False
    return planned - 1 in declared


def valued_epochs(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """The epochs of a status.json's lines with values (a ``kpi`` mapping; every line's when none has one): what
    :func:`counts_from_zero` reads, as the file counts them whichever metric a line holds (a metric validated every
    2nd epoch beside a training value on every line counts as that value does)."""
    valued = [r for r in records if r.get("kpi")] or list(records)
    return [r["epoch"] for r in valued if isinstance(r.get("epoch"), int) and not isinstance(r.get("epoch"), bool)]


def since_restart(records: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """The status.json records from the last restart of the epoch count on: a job run again in the same results
    folder (a pod restarted, a trainer rerun) appends its epochs from 1 (or its checkpoint's) after the earlier
    run's, and its metric is the last run's, so is the epoch it reached. A restart: a line holding ``metric`` at an
    epoch below the one of the line holding it before (a line of other values, an end-of-run summary at epoch 0,
    is none)."""
    start, previous = 0, None
    for index, record in enumerate(records):
        epoch = record.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not kpi_series([record], metric):
            continue
        if previous is not None and epoch < previous:
            start = index
        previous = epoch
    return records[start:]


def trained_epoch_series(records: Sequence[dict[str, Any]], metric: str, planned: int | None,
                         start: int = 0) -> list[tuple[int | None, float]]:
    """:func:`kpi_series` with each epoch as the count of epochs trained, as the runner records it: ``e + 1`` for a
    status.json counting from 0 (:func:`counts_from_zero` of its :func:`valued_epochs`; ``planned``: the rec's
    epoch budget, None: as written; ``start``: the epochs of the checkpoint it resumed), from the last run of a job
    run again in its folder on (:func:`since_restart`), as the runner reads its metric and epochs."""
    records = since_restart(list(records), metric)  # a job run again in its folder: its last run's lines
    series = kpi_series(records, metric)
    epochs = valued_epochs(records) if series else []
    shift = int(planned is not None and bool(epochs) and counts_from_zero(epochs, records, planned, start))
    return [(None if epoch is None else epoch + shift, value) for epoch, value in series]


def kpi_names(records: Iterable[dict[str, Any]]) -> list[str]:
    """Every metric name with a number (or null) in the records' ``kpi`` mappings, in first-seen order."""
    names: dict[str, None] = {}
    for record in records:
        kpi = record.get("kpi")
        if isinstance(kpi, dict):
            names.update((key, None) for key, raw in _leaves(kpi) if _as_float(raw) is not None)
    return list(names)


def non_number_kpi(records: Iterable[dict[str, Any]], metric: str) -> Any:
    """The last value the records' ``kpi`` give ``metric`` that is not a number (``"oops"``), or None."""
    wanted = normalise_name(metric)
    found: Any = None
    for record in records:
        kpi = record.get("kpi")
        if isinstance(kpi, dict):
            for key, raw in _leaves(kpi):
                if normalise_name(key) == wanted and _as_float(raw) is None:
                    found = raw
    return found


def metric_from_status(text: str, metric: str) -> float | None:
    """The last value of ``metric`` in a status.json, or None when it never appears."""
    series = kpi_series(status_lines(text), metric)
    return series[-1][1] if series else None


#: A number in a log, read case-blind: a sign on NaN/inf too (``-nan`` as C's printf writes it, ``+inf``), and
#: NaN/inf only as whole words (``info`` is no inf).
_NUMBER = r"([-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan\b|inf(?:inity)?\b))"
#: What may not follow a logged value: more of a token that is no decimal number (``1.5.3``, ``12,5``, ``1_000``,
#: ``45/50``, ``2024-01-01``, ``0x10``, ``5e3.2``: read as 1, 12, 1, 45, 2024, 0, 5 otherwise), or a ``:``/``=`` that
#: makes it a name (``mAP@0.5:0.95: 0.31``). A unit (``12.5ms``, ``9.5it/s``, ``89%``) may follow.
_NUMBER_END = r"(?![\d@]|[.,_/\-]\d|[eE][-+]?\d|[xX][0-9a-fA-F]|\s*[:=])"
#: What may wrap a logged number: a quote (``{"val_acc": "0.7"}``), a tensor or numpy scalar as Python prints it
#: (``{'val_acc': tensor(0.7000)}``, ``np.float64(0.7)``).
_WRAPPER = r"(?:['\"]|tensor\(|(?:np|numpy)\.float\d*\()?"


#: The words that make a value on their line a summary (a best epoch's), not the epoch's own.
_SUMMARY_WORDS = r"\b(?:best|max|min|maximum|minimum|highest|lowest|peak)\b"
#: A summary word before the name (at most two words between): ``(best val_acc=0.99 at epoch 1)``,
#: ``Best model: val_acc: 0.99``, ``best epoch 1: val_acc=0.99``.
_SUMMARY_WORD = re.compile(_SUMMARY_WORDS + r"(?:\W{1,3}[\w.]+){0,2}\W{0,3}$", re.IGNORECASE)


def metric_from_logs(logs: str, metric: str) -> float | None:
    """The last ``name: value`` / ``name=value`` / ``'name': value`` of ``metric`` in log text.

    The name stands alone: not the end of another name (``eval-loss``, ``train.loss``, ``val/loss`` for ``loss``)
    nor the start of one (``mAP@0.5`` is not read from ``mAP@0.5:0.95: 0.31``: the value is followed by ``:``). A
    number followed by a comma and a digit (``12,5``: a decimal comma, or ``1,234``: a thousands separator) is not
    read at all, as neither can be told from the other (its integer part, 12 or 1, would be neither). A
    value the line calls a best/max/min (``best val_acc=0.99``, ``Best val_acc: 0.99``) is a summary, not the last
    epoch's; it is used only when the log holds no other value of the metric. The row of the metric in the table
    PyTorch Lightning prints after ``validate``/``test`` (``│  val_acc  │  0.7  │``, with rich's borders or ``|``;
    its first value, DataLoader 0's) is read when the log holds no ``name: value`` of it, before a summary.
    Terminal escape codes (a logger that colours its lines, a progress bar redrawn) are ignored."""
    found = _metric_in_logs(_plain(logs), metric)
    return found[0] if found else None


def _plain(logs: str) -> str:
    """``logs`` without terminal escape sequences: a coloured name or value is read as the plain one."""
    return without_escapes(logs)


def _metric_in_logs(logs: str, metric: str) -> tuple[float, int] | None:
    """:func:`metric_from_logs`'s value and where its match starts in ``logs``, or None."""
    variants = {metric, normalise_name(metric), metric.replace("_", "/"), normalise_name(metric).replace("_", "/")}
    names = "|".join(sorted((re.escape(v) for v in variants), key=len, reverse=True))
    pattern = re.compile(
        rf"(?<![\w/.\-@])['\"]?(?:{names})['\"]?\s*[:=]\s*{_WRAPPER}{_NUMBER}{_NUMBER_END}", re.IGNORECASE)
    last: tuple[float, int] | None = None
    summary: tuple[float, int] | None = None
    for match in pattern.finditer(logs):
        try:
            value = float(match.group(1))
        except ValueError:
            continue
        line_start = logs.rfind("\n", 0, match.start()) + 1
        if _SUMMARY_WORD.search(logs, line_start, match.start()):
            summary = (value, match.start())
        else:
            last = (value, match.start())
    if last is not None:
        return last
    return _table_row(logs, names) or summary


def _table_row(logs: str, names: str) -> tuple[float, int] | None:
    """The last value of the metric (one of ``names``, a regex alternation) in a table PyTorch Lightning prints after
    ``validate``/``test`` (its first value column), and where its row starts; None when there is none."""
    row = re.compile(rf"{_CELL}[ \t]*['\"]?(?:{names})['\"]?[ \t]*{_CELL}[ \t]*{_NUMBER}[ \t]*{_CELL}", re.IGNORECASE)
    found: tuple[float, int] | None = None
    for match in row.finditer(logs):
        try:
            found = (float(match.group(1)), match.start())
        except ValueError:
            continue
    return found


#: A cell border of the table PyTorch Lightning prints after ``validate``/``test``: rich's ``│``/``┃``, or ``|``.
_CELL = "[│┃|]"


#: An epoch a log line names: ``epoch 5``, ``Epoch 5/9``, ``Epoch [5/9]``, ``epoch: 5``, ``epoch=5`` (not
#: ``num_epochs=9``, ``max_epoch: 9`` nor ``epochs: 9``).
_EPOCH_NAMED = re.compile(r"(?<![\w./\-])epoch\b\s*[:=#]?\s*\[?\s*(\d+)(?!\.\d)", re.IGNORECASE)
#: A word before an epoch on its line that makes it a summary's (``best val_acc 0.91 at epoch 3``), not one trained.
_SUMMARY_BEFORE = re.compile(_SUMMARY_WORDS, re.IGNORECASE)


def epochs_from_logs(logs: str, metric: str) -> list[int]:
    """The epochs a log names, in order, up to the end of the line that holds the value :func:`metric_from_logs`
    reads: the epochs trained by the time that value was measured (a job whose metric is only in its log). An
    epoch named on a line after a best/max/min word is a summary's and is skipped. Empty when the log holds no
    value of ``metric`` or names no epoch before it."""
    logs = _plain(logs)
    found = _metric_in_logs(logs, metric)
    if found is None:
        return []
    end = logs.find("\n", found[1])
    end = len(logs) if end < 0 else end
    epochs: list[int] = []
    for match in _EPOCH_NAMED.finditer(logs, 0, end):
        line_start = logs.rfind("\n", 0, match.start()) + 1
        if not _SUMMARY_BEFORE.search(logs, line_start, match.start()):
            epochs.append(int(match.group(1)))
    return epochs


def is_valid_metric(value: float | None) -> bool:
    """A usable result: a finite number. NaN/inf is a failed rec, never a best result."""
    return value is not None and math.isfinite(value)


def to_objective(value: float, direction: str) -> float:
    """User scale -> minimisation form for brains. The only place the sign is flipped."""
    return value if direction == "minimize" else -value


def is_better(a: float, b: float | None, direction: str) -> bool:
    """Whether user-scale value ``a`` beats ``b`` (None means no value yet)."""
    if b is None:
        return True
    return a < b if direction == "minimize" else a > b

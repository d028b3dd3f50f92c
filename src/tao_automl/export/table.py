"""``export --csv``: one row per rec — params, metric, status, budget and times."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tao_automl.export.run_data import RunData
from tao_automl.multiobjective.view import objectives_of

_FIELDS = ("rec_id", "rank", "status", "budget", "budget_reached", "rung", "bracket", "parent", "created_at",
           "started_at", "finished_at", "wall_time_s", "job_id", "spec_path", "message")
_TIMES = ("created_at", "started_at", "finished_at")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value)
    return value


def _iso(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def csv_rows(data: RunData) -> tuple[list[str], list[dict[str, Any]]]:
    """Header and rows: fixed columns, the metric (named after it), then one ``param:<key>`` column per param."""
    params: list[str] = []
    for rec in data.recs:
        params.extend(k for k in rec.params if k not in params)
    others = [str(o["name"]) for o in objectives_of(data.meta)[1:]]  # several metrics: a column each
    header = [*_FIELDS[:3], data.metric, *others, *_FIELDS[3:], *(f"param:{k}" for k in params)]
    rows = []
    for row in data.summary["recommendations"]:
        out = {key: _cell(row.get(key)) for key in _FIELDS}
        out.update({key: _iso(row.get(key)) for key in _TIMES})
        out[data.metric] = _cell(row.get("metric_value"))
        values = row.get("metric_values") or {}
        out.update({name: _cell(values.get(name)) for name in others})
        out.update({f"param:{k}": _cell(row["params"].get(k)) for k in params})
        rows.append(out)
    return header, rows


def write_csv(data: RunData, out: str | Path) -> int:
    """Write the CSV; returns the number of rows."""
    header, rows = csv_rows(data)
    target = Path(out).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as f:  # whatever the locale: the CSV holds any text
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)

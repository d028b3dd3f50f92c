"""Text output for people: live rec lines and the final ranked table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import yaml


def format_value(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def format_params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{key.rsplit('.', 1)[-1]}={format_value(v)}" for key, v in params.items())


def ranked(history: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """Successful recs best first, then every other rec in id order."""
    ok = [h for h in history if h["status"] == "success" and h["metric_value"] is not None
          and math.isfinite(h["metric_value"])]
    ok.sort(key=lambda h: h["metric_value"], reverse=direction == "maximize")
    rest = [h for h in history if h not in ok]
    return ok + rest


def ranked_table(summary: Mapping[str, Any]) -> str:
    """A fixed-width table of every rec, best first, followed by the best config."""
    progress = summary["progress"]
    metric = progress.get("metric") or "metric"
    rows = ranked(list(summary["history"]), progress.get("direction", "maximize"))
    header = f"{'rank':>4}  {'rec':>4}  {'status':<9}  {metric:>14}  {'time_s':>7}  params"
    lines = [header, "-" * len(header)]
    for rank, h in enumerate(rows, start=1):
        value = "-" if h["metric_value"] is None else format_value(h["metric_value"])
        duration = "-" if h.get("duration_s") is None else f"{h['duration_s']:.1f}"
        shown_rank = str(rank) if h["status"] == "success" else "-"
        lines.append(f"{shown_rank:>4}  {h['rec_id']:>4}  {h['status']:<9}  {value:>14}  {duration:>7}  "
                     f"{format_params(h['params'])}")
        if h["status"] == "failure" and h.get("message"):
            lines.append(f"{'':>4}  {'':>4}  {'':<9}  reason: {str(h['message']).splitlines()[0][:120]}")
    lines.append("")
    lines.append(
        f"{progress['completed']}/{progress['total']} recs done: {progress['succeeded']} succeeded, "
        f"{progress['failed']} failed; algorithm {progress.get('algorithm')}, "
        f"{progress.get('direction')} {metric}"
    )
    best = summary.get("best")
    if best:
        lines.append(f"best: rec {best['rec_id']} with {metric} = {format_value(best['metric_value'])}")
        lines.append(yaml.safe_dump({"best_params": best["params"]}, sort_keys=False).rstrip())
    else:
        lines.append("best: none (no rec succeeded with a finite metric)")
    return "\n".join(lines)

"""Text output for people: live rec lines and the final ranked table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tao_automl.experiment.lines import counts_line, format_params, format_value, progress_line

__all__ = ["counts_line", "format_params", "format_value", "progress_line", "ranked", "ranked_table"]


def ranked(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked recs (``rank`` set by the summary) best first, then every other rec in id order."""
    ok = sorted((h for h in recs if h.get("rank") is not None), key=lambda h: int(h["rank"]))
    return ok + [h for h in recs if h.get("rank") is None]


def ranked_table(summary: Mapping[str, Any]) -> str:
    """A fixed-width table of every rec, best first, followed by the counts and the best config."""
    progress = summary["progress"]
    metric = progress.get("metric") or "metric"
    rows = ranked(list(summary["recommendations"]))
    header = f"{'rank':>4}  {'rec':>4}  {'status':<9}  {metric:>14}  {'epochs':>6}  {'time_s':>7}  params"
    lines = [header, "-" * len(header)]
    for h in rows:
        value = "-" if h["metric_value"] is None else format_value(h["metric_value"])
        duration = "-" if h.get("wall_time_s") is None else f"{h['wall_time_s']:.1f}"
        epochs = h.get("budget_reached") if h.get("budget_reached") is not None else h.get("budget")
        shown_rank = "-" if h.get("rank") is None else str(h["rank"])
        lines.append(f"{shown_rank:>4}  {h['rec_id']:>4}  {h['status']:<9}  {value:>14}  "
                     f"{'-' if epochs is None else epochs:>6}  {duration:>7}  {format_params(h['params'])}")
        if h["status"] == "failure" and h.get("message"):
            reason = " | ".join(line.strip() for line in str(h["message"]).splitlines() if line.strip())
            lines.append(f"{'':>4}  {'':>4}  {'':<9}  reason: {reason}")
    lines.append("")
    lines.append(f"{counts_line(progress)}; algorithm {progress.get('algorithm')}, {progress.get('direction')} "
                 f"{metric}, ranked by {progress.get('ranked_by', 'metric')}")
    choice = progress.get("algorithm_choice")
    if choice:
        lines.append(f"auto picked {choice['algorithm']}: {choice['reason']}")
    best = summary.get("best")
    if best:
        at = f" at {best['budget']} epochs" if best.get("budget") is not None else ""
        lines.append(f"best: rec {best['rec_id']} with {metric} = {format_value(best['metric_value'])}{at}")
        import yaml  # only when there is a best config to print

        lines.append(yaml.safe_dump({"best_params": best["params"]}, sort_keys=False).rstrip())
    else:
        lines.append("best: none (no rec succeeded with a finite metric)")
    return "\n".join(lines)

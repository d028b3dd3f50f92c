"""Text output for people: live rec lines and the final ranked table."""

from __future__ import annotations

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


def ranked(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked recs (``rank`` set by the summary) best first, then every other rec in id order."""
    ok = sorted((h for h in recs if h.get("rank") is not None), key=lambda h: int(h["rank"]))
    return ok + [h for h in recs if h.get("rank") is None]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def counts_line(progress: Mapping[str, Any]) -> str:
    """``7/10 recs done: 5 succeeded, 1 failed, 1 stopped, 0 cancelled``."""
    return (f"{progress['completed']}/{progress['total']} recs done: {progress['succeeded']} succeeded, "
            f"{progress['failed']} failed, {progress.get('stopped', 0)} stopped, "
            f"{progress.get('cancelled', 0)} cancelled")


def progress_line(progress: Mapping[str, Any]) -> str:
    """The compact live line: done/total, running, failed, best so far, elapsed and ETA."""
    metric = progress.get("metric") or "metric"
    best = progress.get("best_metric")
    shown_best = "-" if best is None else f"{metric}={format_value(best)} (rec {progress.get('best_rec_id')}"
    if best is not None:
        budget = progress.get("best_budget")
        shown_best += f", {budget} epochs)" if budget is not None and progress.get("ranked_by") != "metric" else ")"
    eta = progress.get("eta_s")
    return (f"[{progress['completed']}/{progress['total']} done | {progress.get('running', 0)} running | "
            f"{progress['failed']} failed | best {shown_best} | elapsed {_duration(progress.get('elapsed_s'))} | "
            f"ETA {'-' if eta is None else _duration(eta)}]")


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
        lines.append(yaml.safe_dump({"best_params": best["params"]}, sort_keys=False).rstrip())
    else:
        lines.append("best: none (no rec succeeded with a finite metric)")
    return "\n".join(lines)

"""Text output for people: live rec lines and the final ranked table."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from tao_automl.experiment.lines import (
    counts_line,
    distinct_values,
    epochs_text,
    epochs_trained,
    format_metric,
    format_params,
    format_value,
    progress_line,
)

TYPE_CHECKING = False  # typing stays out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["counts_line", "format_params", "format_value", "progress_line", "ranked", "ranked_table"]


def ranked(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked recs (``rank`` set by the summary) best first, then every other rec in id order."""
    ok = sorted((h for h in recs if h.get("rank") is not None), key=lambda h: int(h["rank"]))
    return ok + [h for h in recs if h.get("rank") is None]


def ranked_table(summary: Mapping[str, Any], by_rank: bool = True) -> str:
    """A fixed-width table of the summary's recs, best first (``by_rank=False``: in the summary's own order, id
    order for ``status --recs all``), followed by the counts and the best config. Failed and cancelled recs
    show their reason under them."""
    progress = summary["progress"]
    metric = progress.get("metric") or "metric"
    rows = ranked(list(summary["recommendations"])) if by_rank else list(summary["recommendations"])
    objectives = progress.get("objectives") or []
    others = [str(o["name"]) for o in objectives[1:]]  # several metrics: a column for each after the first
    wide = max([9] + [len(str(h["status"])) for h in rows])  # ended_uncollected is longer than the others
    header = (f"{'rank':>4}  {'rec':>4}  {'status':<{wide}}  {metric:>14}  " + "".join(f"{n:>14}  " for n in others)
              + f"{'epochs':>6}  {'time_s':>7}  params")
    lines = [header, "-" * len(header)]
    metric_texts = distinct_values([h["metric_value"] for h in rows])  # different values never print alike
    other_texts = [distinct_values([(h.get("metric_values") or {}).get(n) for h in rows]) for n in others]
    for i, (h, value) in enumerate(zip(rows, metric_texts, strict=True)):
        more = "".join(f"{texts[i]:>14}  " for texts in other_texts)
        duration = "-" if h.get("wall_time_s") is None else f"{h['wall_time_s']:.1f}"
        epochs = epochs_trained(h)
        shown_rank = "-" if h.get("rank") is None else str(h["rank"])
        lines.append(f"{shown_rank:>4}  {h['rec_id']:>4}  {h['status']:<{wide}}  {value:>14}  {more}"
                     f"{'-' if epochs is None else epochs:>6}  {duration:>7}  {format_params(h['params'])}")
        if h["status"] in ("failure", "cancelled") and h.get("message"):
            reason = " | ".join(line.strip() for line in str(h["message"]).splitlines() if line.strip())
            lines.append(f"{'':>4}  {'':>4}  {'':<{wide}}  reason: {reason}")
    lines.append("")
    # several metrics: each one's direction (the first metric's alone read as a single-metric run)
    goal = " and ".join(f"{o['direction']} {o['name']}" for o in objectives) or f"{progress.get('direction')} {metric}"
    lines.append(f"{counts_line(progress)}; algorithm {progress.get('algorithm')}, {goal}, "
                 f"ranked by {progress.get('ranked_by', 'metric')}")
    choice = progress.get("algorithm_choice")
    if choice:
        lines.append(f"auto picked {choice['algorithm']}: {choice['reason']}")
    if objectives:
        front = ", ".join(str(p["rec_id"]) for p in progress.get("pareto_front") or ())
        front = f"rec(s) {front}" if front else (  # "yet" only while recs may still succeed
            "none yet" if progress.get("state") in ("running", "starting") else "none (no rec succeeded)")
        lines.append("objectives: " + ", ".join(f"{o['name']} ({o['direction']})" for o in objectives)
                     + f"; Pareto front: {front}")
    best = summary.get("best")
    if best:
        at = f" at {epochs_text(best['budget'])}" if best.get("budget") is not None else ""
        shown = ", ".join(f"{n} = {format_metric(v)}" for n, v in (best.get("metric_values") or {}).items()) \
            or f"{metric} = {format_metric(best['metric_value'])}"
        lines.append(f"best: rec {best['rec_id']} with {shown}{at}")
        if best.get("continued_from"):  # its metric came from a chain of checkpoints, not from these params alone
            first, *rest = best["continued_from"]
            lines.append(f"  (trained on from rec {first}'s checkpoint" + "".join(f", which continued rec {r}'s"
                                                                                 for r in rest)
                         + ": its earlier epochs ran there, with those recs' params)")
        lines.append(best_params_yaml(best["params"]))
    elif progress.get("state") in ("running", "starting"):  # "yet" only while recs may still succeed
        lines.append("best: none yet")
    else:
        lines.append("best: none (no rec succeeded with a finite metric)")
    return "\n".join(lines)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _plain_scalar(value: Any) -> str | None:
    """``value`` as PyYAML's safe_dump writes it, for simple scalars; None when PyYAML must decide."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = repr(value).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return None


def best_params_yaml(params: Mapping[str, Any]) -> str:
    """The ``best_params:`` block as YAML, written directly for plain values (``status`` never imports PyYAML
    for them); anything else goes through ``yaml.safe_dump``."""
    lines = ["best_params:"]
    for key, value in params.items():
        text = _plain_scalar(value)
        if text is None or not _PLAIN.fullmatch(str(key)) or str(key).lower() in _YAML_WORDS:
            import yaml

            # allow_unicode: a param named ünïcode_päram (or a value café) reads as written, not "\xFCn\xEF..."
            return str(yaml.safe_dump({"best_params": dict(params)}, sort_keys=False, allow_unicode=True)).rstrip()
        lines.append(f"  {key}: {text}")
    return "\n".join(lines) if params else "best_params: {}"

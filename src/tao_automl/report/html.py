"""``tao-automl report``: one self-contained HTML file (Plotly, its JavaScript inlined; opens with no network).

Sections: summary, ranked table (one row per rec), best so far against rec number and against wall time,
parallel coordinates of params vs metric, parameter importance (random-forest permutation importance,
see :mod:`tao_automl.report.importance`), learning curves per rec for runs with epoch metrics (stopped and
promoted recs marked), failures with their reasons (uncut), and the run's settings.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.brain.settings_use import unused_settings
from tao_automl.experiment.lines import epochs_text
from tao_automl.report import require
from tao_automl.report.data import RunData
from tao_automl.report.importance import (
    MAX_RECS,
    MIN_RECS,
    importance_points,
    most_at_one_epoch,
    param_importance,
)
from tao_automl.util.digits import distinct_digits, not_whole
from tao_automl.util.outfile import write_output
from tao_automl.util.secrets import redact

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#1f2933}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:32px;border-bottom:1px solid #d9e2ec}
table{border-collapse:collapse;font-size:13px;width:100%} th,td{border:1px solid #d9e2ec;padding:3px 6px;
text-align:left;vertical-align:top} th{background:#f0f4f8} tr.best td{background:#e3f8e3}
td.num{text-align:right;font-variant-numeric:tabular-nums} pre{white-space:pre-wrap;margin:0;font-size:12px}
.muted{color:#627d98} .plot{min-height:380px} .kv td:first-child{font-family:monospace;width:30%}
"""


def write_html_report(data: RunData, path: str | Path) -> Path:
    """Write the report for ``data`` to ``path``; return the path."""
    go = require("plotly.graph_objects", "the HTML report")
    from plotly.offline import get_plotlyjs

    sections: list[str] = [_header(data), _ranked_table(data)]
    figures: list[tuple[str, str, Any | None, str]] = [
        *([("pareto", "Pareto front", *_pareto(go, data))] if data.front is not None else []),
        ("convergence", "Best so far, in the order recs finished", _convergence(go, data, by_time=False),
         _first_metric_note(data)),
        ("convergence-time", "Best so far by wall time", _convergence(go, data, by_time=True),
         _first_metric_note(data)),
        ("parallel", "Parameters vs metric (parallel coordinates)", _parallel(go, data), ""),
        ("importance", "Parameter importance", *_importance(go, data)),
        ("curves", "Learning curves", *_curves(go, data)),
    ]
    for div_id, title, figure, note in figures:
        sections.append(_figure_section(div_id, title, figure, note or ("" if figure is not None else
                                                                         _no_result_yet(data))))
    sections += [_failures(data), _settings(data)]
    document = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(data.experiment_id)} report"
                f"</title><style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
                + "\n".join(sections) + "</body></html>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_output(out, document.encode("utf-8"))  # -o /dev/null: written into, not replaced


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


#: A plot's hover format for a metric: up to 15 significant digits, trailing zeros dropped (d3-format). Plotly's
#: own rounds to 4 decimals past the value's magnitude: 0.9999996 hovered 1.
HOVER_FORMAT = ".15~g"


def _plotted(value: Any) -> Any:
    """A metric as a plot carries it: the table's 6 digits, more where those read as a whole number it is not (its
    hover shows those digits through :data:`HOVER_FORMAT`); None (no value) as it is."""
    return float(not_whole(value, 6)) if isinstance(value, float) else value


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return not_whole(value, 6)  # 0.9999996 read 1


def _fmt_column(values: list[float | None]) -> list[str]:
    """A table column as :func:`_fmt` shows it, with more significant digits (up to 17) where two neighbours that
    differ would otherwise print alike (0.91234567 and 0.91234571 both read 0.912346), or where a value would read
    as a whole number it is not (:func:`not_whole`); equal values stay equal."""
    digits = distinct_digits([float(v) for v in values if v is not None], 6)  # an int metric counts too
    return ["-" if v is None or not math.isfinite(v) else not_whole(v, digits) for v in values]


def _header(data: RunData) -> str:
    best = data.best()
    counts: dict[str, int] = {}
    for rec in data.recs:
        counts[rec.status] = counts.get(rec.status, 0) + 1
    made = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime())  # its UTC offset: a report travels
    # at the epochs its metric was measured at, as status's `best:` line says (a single-fidelity run's too)
    at = f" at {epochs_text(best.budget_reached)}" if best is not None and best.budget_reached is not None else ""
    best_text = f"rec {best.rec_id}: {_e(data.metric)} = {_fmt(best.metric)}{at}" if best else (
        "none yet" if data.meta.get("state") in ("running", "starting") else "none (no rec succeeded)")
    if data.front is not None and best is not None:  # several metrics: the front's pick, with all its values
        values = ", ".join(f"{_e(k)} = {_fmt(v)}" for k, v in (data.front.get("best_values") or {}).items())
        front = ", ".join(str(p["rec_id"]) for p in data.front.get("pareto_front") or [])
        best_text = (f"rec {best.rec_id}: {values} ({_e(data.front.get('best_by'))})</b> · Pareto front: "
                     f"<b>recs {front}")
    reason = data.meta.get("stop_reason")  # why it stopped (before its budget, failed, killed), as status says
    return (f"<h1>AutoML run {_e(data.experiment_id)}</h1><p class=muted>{_e(data.run_dir)} · report made {made}</p>"
            f"<p>algorithm <b>{_e(_algorithm_text(data.meta))}</b> · {_goal(data)}"
            f" · state <b>{_e(data.meta.get('state'))}</b> · {len(data.recs)} of {_e(data.meta.get('budget'))} recs"
            f" ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}) · best: <b>{best_text}</b></p>"
            + (f"<p>stop reason: {_e(reason)}</p>" if reason else ""))


def _goal(data: RunData) -> str:
    """``maximize <b>val_acc</b>``; several metrics: each one's direction (the first one's alone read as one metric)."""
    objectives = data.front["objectives"] if data.front else [{"direction": data.direction, "name": data.metric}]
    return " and ".join(f"{_e(o['direction'])} <b>{_e(o['name'])}</b>" for o in objectives)


def _algorithm_text(meta: Mapping[str, Any]) -> str:
    """The run's algorithm; for ``auto``, the brain it picked and why (the report said only "auto")."""
    choice = meta.get("algorithm_choice") or {}
    if meta.get("algorithm") == "auto" and choice.get("algorithm"):
        return f"auto, which picked {choice['algorithm']}: {choice.get('reason', '')}".rstrip(": ")
    return str(meta.get("algorithm"))


def _first_metric_note(data: RunData) -> str:
    """Several metrics: the best-so-far curves follow the first one, while the run's best is the front's pick."""
    if data.front is None:
        return ""
    return (f"{data.metric} alone (the first metric); the run's best is the Pareto front's pick "
            f"({data.front.get('best_by')}), which need not be the best {data.metric}")


def _ranked_table(data: RunData) -> str:
    ranked = data.ranked()
    best = data.best()
    params = sorted({k for r in data.recs for k in r.params})
    head = "".join(f"<th>{_e(p)}</th>" for p in params)
    metrics = data.metrics  # a multi-objective run: a column per metric, and which recs are on the front
    front = {int(p["rec_id"]) for p in (data.front or {}).get("pareto_front") or []}
    rows = []
    rank = 0
    columns = [[rec.metric for rec in ranked]] if data.front is None else \
        [[(rec.values or {}).get(m) for rec in ranked] for m in metrics]
    texts = [_fmt_column(column) for column in columns]  # per metric, in rank order
    for i, rec in enumerate(ranked):
        shown = [column[i] for column in texts]
        if rec.has_value:
            rank += 1
        cls = " class=best" if best is not None and rec.rec_id == best.rec_id else ""
        cells = "".join(f"<td>{_e(_param(rec.params.get(p)))}</td>" for p in params)
        values = "".join(f"<td class=num>{v}</td>" for v in shown)
        on_front = "" if data.front is None else f"<td>{'yes' if rec.rec_id in front else ''}</td>"
        rows.append(
            f"<tr{cls} data-rec={rec.rec_id}><td class=num>{rank if rec.has_value else '-'}</td>"
            f"<td class=num>{rec.rec_id}</td><td>{_e(rec.status)}</td>{values}{on_front}"
            f"<td class=num>{'-' if rec.epochs_trained is None else rec.epochs_trained}</td>"
            f"<td class=num>{_fmt(rec.duration_s)}</td>{cells}</tr>")
    by = "budget reached, then metric" if data.is_multi_fidelity else "metric"
    if data.front:  # as status ranks them (the table ranked by the first metric alone)
        by = (f"Pareto front first (its {data.front.get('best_by')} pick first), then each later nondominated "
              f"layer; {metrics[0]} within each")
    metric_heads = "".join(f"<th>{_e(m)}</th>" for m in metrics) + ("<th>Pareto front</th>" if data.front else "")
    return (f"<h2>Recs, best first</h2><p class=muted>ranked by {_e(by)}; failed and running recs last</p>"
            f"<table id=ranked><thead><tr><th>rank</th><th>rec</th><th>status</th>{metric_heads}"
            f"<th>epochs</th><th>time (s)</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _param(value: Any) -> str:
    if isinstance(value, float):
        return not_whole(value, 6)
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _no_result_yet(data: RunData) -> str:
    """Why a plot is empty when no rec has a metric: "yet" only while recs may still finish (as the header says)."""
    state = data.meta.get("state")
    if state in ("finished", "failed"):
        return "no rec finished with a finite metric, and the run has ended (see Failures for why)"
    return "no finished rec with a metric yet"  # running, or interrupted/stopped: a resume may still bring one


def _figure_section(div_id: str, title: str, figure: Any | None, note: str) -> str:
    if figure is None:
        reason = note or "no finished rec with a metric yet"
        return f"<h2>{_e(title)}</h2><p class='muted empty' id={div_id}-empty>{_e(reason)}</p>"
    import plotly.io as pio

    figure.update_layout(template="plotly_white", height=420, margin={"l": 60, "r": 30, "t": 30, "b": 50})
    body = pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})
    return f"<h2>{_e(title)}</h2>" + (f"<p class=muted>{_e(note)}</p>" if note else "") + \
        f"<div class=plot data-plot={div_id}>{body}</div>"


def _convergence(go: Any, data: RunData, *, by_time: bool) -> Any | None:
    points = data.convergence()
    if not points:
        return None
    start = float(data.meta.get("created_at") or min(r.created_at for r in data.recs))
    xs: list[float] = ([(float(rec.finished_at or start) - start) / 60.0 for rec, _ in points] if by_time
                       else list(range(1, len(points) + 1)))
    labels = [f"rec {rec.rec_id}" + (f" ({epochs_text(rec.budget)})" if rec.budget is not None else "")
              for rec, _ in points]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=xs, y=[_plotted(rec.metric) for rec, _ in points], mode="markers", name=data.metric,
                                text=labels, marker={"color": "#9aa5b1", "size": 7}))
    figure.add_trace(go.Scatter(x=xs, y=[_plotted(best) for _, best in points], mode="lines", line_shape="hv",
                                name=data.best_so_far_label, line={"color": "#1f77b4", "width": 3}))
    figure.update_xaxes(title_text="minutes since the run started" if by_time else "finished rec (in order)")
    figure.update_yaxes(title_text=data.metric, hoverformat=HOVER_FORMAT)
    return figure


def _pareto(go: Any, data: RunData) -> tuple[Any | None, str]:
    """A multi-objective run: its first two metrics against each other, every successful rec a point, the front's
    recs joined in order and the run's pick (its best) marked; a note names the metrics left out of the plot."""
    first, second = data.metrics[:2]
    points = [(rec, (rec.values or {}).get(first), (rec.values or {}).get(second)) for rec in data.recs
              if rec.has_value]
    points = [(rec, x, y) for rec, x, y in points if x is not None and y is not None]
    if not points:
        return None, ""
    on_front = {int(p["rec_id"]) for p in data.front.get("pareto_front") or []} if data.front else set()
    best = data.best()
    figure = go.Figure()
    joined = len(data.metrics) == 2  # with more metrics the front's points need not dominate each other in 2-D
    for name, chosen, style in (("other recs", False, {"color": "#9aa5b1", "size": 7}),
                                ("Pareto front", True, {"color": "#1f77b4", "size": 9})):
        shown = sorted(((x, y, rec) for rec, x, y in points if (rec.rec_id in on_front) == chosen),
                       key=lambda p: (p[0], p[1]))
        figure.add_trace(go.Scatter(x=[_plotted(p[0]) for p in shown], y=[_plotted(p[1]) for p in shown], name=name,
                                    mode="lines+markers" if chosen and joined else "markers", marker=style,
                                    line={"shape": "hv", "width": 2} if chosen and joined else None,
                                    text=[f"rec {p[2].rec_id}" for p in shown]))
    if best is not None and best.values is not None:
        figure.add_trace(go.Scatter(x=[_plotted(best.values.get(first))], y=[_plotted(best.values.get(second))],
                                    mode="markers",
                                    name=f"best: rec {best.rec_id} ({data.front.get('best_by') if data.front else ''})",
                                    marker={"color": "#2ca02c", "size": 14, "symbol": "star"}))
    figure.update_xaxes(title_text=first, hoverformat=HOVER_FORMAT)
    figure.update_yaxes(title_text=second, hoverformat=HOVER_FORMAT)
    rest = data.metrics[2:]
    note = f"{', '.join(rest)} not plotted (front and pick use every metric)" if rest else ""
    return figure, note


def _parallel(go: Any, data: RunData) -> Any | None:
    recs = [r for r in data.recs if r.has_value and r.params]
    names = sorted({k for r in recs for k in r.params})
    if not recs or not names:
        return None
    dims = []
    for name in names:
        values = [r.params.get(name) for r in recs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            numbers = [float(v) for v in values]  # type: ignore[arg-type]
            positive = all(v > 0 for v in numbers)
            spread = max(numbers) / min(numbers) if positive and min(numbers) > 0 else 1.0
            if positive and spread >= 100:  # a log-scaled param: show log10 so its axis is readable
                dims.append({"label": f"log10({name})", "values": [math.log10(v) for v in numbers]})
            else:
                dims.append({"label": name, "values": numbers})
        else:
            choices = sorted({_param(v) for v in values})
            codes = {c: i for i, c in enumerate(choices)}
            dims.append({"label": name, "values": [codes[_param(v)] for v in values],
                         "tickvals": list(range(len(choices))), "ticktext": choices})
    metric = [float(r.metric or 0.0) for r in recs]
    dims.append({"label": data.metric, "values": metric})
    scale = "Viridis" if data.direction == "maximize" else "Viridis_r"
    return go.Figure(go.Parcoords(line={"color": metric, "colorscale": scale, "showscale": True}, dimensions=dims))


def _importance(go: Any, data: RunData, *, max_recs: int = MAX_RECS) -> tuple[Any | None, str]:
    importance = param_importance(data, max_recs=max_recs)
    shares = importance.shares
    points, epoch = importance_points(data)
    if not shares:
        values = {value for _, value in points}
        if len(points) >= MIN_RECS and len(values) == 1:  # "needs 5 recs with different values; this run has 8"
            return None, (f"every one of the {len(points)} finished recs has the same {data.metric} "
                          f"({_fmt(next(iter(values)))}): no param can be said to matter more than another")
        if data.is_multi_fidelity:  # no epoch qualified, so points is empty: say how many the fullest one has
            return None, (f"needs at least {MIN_RECS} finished recs with different values at one epoch; this run "
                          f"has at most {max(len(points), most_at_one_epoch(data))} at one epoch")
        return None, f"needs at least {MIN_RECS} finished recs with different values; this run has {len(points)}"
    names = list(shares)[::-1]
    figure = go.Figure(go.Bar(x=[shares[n] for n in names], y=names, orientation="h", marker={"color": "#1f77b4"}))
    figure.update_xaxes(title_text="share of importance", range=[0, 1])
    at = f" at epoch {epoch}" if epoch is not None else ""
    used = (f"{len(points)} recs' {data.metric}{at}" if importance.drawn is None else
            f"the {data.metric}{at} of {importance.drawn[0]:,} of {len(points):,} recs, drawn at random with a fixed "
            "seed (the forest's cost grows faster than the recs)")
    note = (f"random-forest permutation importance (scikit-learn; 200 trees, 10 shuffles per param) on "
            f"{used}: how much the forest's fit drops when a param is shuffled, "
            "normalised to sum to 1. " + fit_note(importance.oob_r2))
    return figure, note


def fit_note(oob_r2: float | None) -> str:
    """What the forest's out-of-bag R² says about the shares (the forest fits its recs whatever they hold)."""
    if oob_r2 is None:
        return "How well the params predict the metric could not be measured (too few recs)."
    if oob_r2 <= 0:
        return (f"Out-of-bag R² {oob_r2:.2f}: the forest does not predict the metric on recs its trees did not see "
                "any better than their mean, so these shares say little about what matters; more recs help.")
    return f"Out-of-bag R² {oob_r2:.2f}: how much of the metric's spread the params predict on recs a tree did not see."


#: runs with at most this many recs with a curve get one named trace per rec; beyond it, see :func:`_curves`
ALL_CURVES_UP_TO = 50
#: with more recs, how many of the best are still drawn as named traces (with the recs their chains came from)
BEST_CURVES = 20


def _curves(go: Any, data: RunData, *, all_up_to: int = ALL_CURVES_UP_TO,
            best: int = BEST_CURVES) -> tuple[Any | None, str]:
    """Learning curves and a note. Up to ``all_up_to`` recs with a curve: one trace per rec, named in the legend.
    Beyond that (10,000 traces took ~11 s to build, most of the file, and a legend no one can read): the ``best``
    best-ranked recs and the recs their checkpoints continued from keep their own traces; every other curve is
    still drawn, in grey: per line style (solid: ended, dotted: stopped) one trace whose curves are separated by gaps
    (and one of markers for one-epoch curves), values to the table's 6 significant digits, each point's hover naming
    its rec. The trace count is then bounded
    (at most ``best`` + their chains + 4); the points are the run's data, as the table's rows are."""
    recs = [r for r in data.recs if r.epochs]
    if not recs:
        if not any(r.has_value for r in data.recs):  # the section's own words: no finished rec with a metric yet
            return None, ""
        return None, (f"no rec reported {data.metric} per epoch: curves are read from each rec's status.json "
                      "(one line per epoch, {\"epoch\": N, \"kpi\": {...}}), and these jobs wrote none")
    promoted = data.promoted()
    figure = go.Figure()
    named = recs
    note = ""
    if len(recs) > all_up_to:
        with_curve = {r.rec_id for r in recs}
        top = [r.rec_id for r in data.ranked() if r.rec_id in with_curve][:best]
        chains = [p for rec_id in top for p in data.continued_from(rec_id) if p in with_curve and p not in top]
        keep = set(top) | set(chains)
        named = [r for r in recs if r.rec_id in keep]
        rest = [r for r in recs if r.rec_id not in keep]
        for stopped in (False, True):
            group = [r for r in rest if (r.status == "stopped") == stopped]
            # lines for curves of 2+ epochs (one SVG path however many), markers for one-epoch curves
            parts = [([r for r in group if len(r.epochs) > 1], "lines"), ([r for r in group if len(r.epochs) == 1],
                                                                          "markers")]
            shown = [(part, mode) for part, mode in parts if part]
            for i, (part, mode) in enumerate(shown):
                xs: list[int | None] = []
                ys: list[float | None] = []
                ids: list[int | None] = []
                for rec in part:  # one curve after another, a None between them so no line joins two recs
                    xs += [e for e, _ in rec.epochs]
                    # the table's 6 digits (half the bytes of repr), more where they read as a whole number it is not
                    ys += [_plotted(v) for _, v in rec.epochs]
                    ids += [rec.rec_id] * len(rec.epochs)
                    if mode == "lines":
                        xs.append(None)
                        ys.append(None)
                        ids.append(None)
                style = "stopped" if stopped else "ended"
                figure.add_trace(go.Scatter(
                    x=xs, y=ys, customdata=ids, mode=mode, connectgaps=False, legendgroup=f"other {style}",
                    showlegend=i == 0, name=f"{len(group):,} other {'stopped ' if stopped else ''}recs",
                    hovertemplate="rec %{customdata}: epoch %{x}, %{y}<extra></extra>",
                    line={"dash": "dot" if stopped else "solid", "width": 1, "color": "rgba(130,140,150,0.35)"},
                    marker={"size": 4, "color": "rgba(130,140,150,0.5)",
                            "symbol": "x" if stopped else "circle"}))
        chain_text = f" and the {len(set(chains))} recs whose checkpoints they continued from" if chains else ""
        note = (f"{len(recs):,} recs have a curve: the {len(top)} best (as ranked in the table){chain_text} are drawn "
                f"in colour and named in the legend; the other {len(rest):,} are drawn in grey (dotted or x: stopped), "
                "hover names each point's rec.")
    for rec in named:
        epochs = [e for e, _ in rec.epochs]
        values = [_plotted(v) for _, v in rec.epochs]
        stopped = rec.status == "stopped"
        children = promoted.get(rec.rec_id, [])
        label = f"rec {rec.rec_id} ({rec.status}" + (f", promoted to rec {', '.join(map(str, children))}"
                                                       if children else "") + ")"
        symbols = ["circle"] * (len(values) - 1) + ["x" if stopped else "star" if children else "circle"]
        figure.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=label,
                                    line={"dash": "dot" if stopped else "solid", "width": 1.5},
                                    marker={"symbol": symbols, "size": [5] * (len(values) - 1) + [11]}))
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(title_text=data.metric, hoverformat=HOVER_FORMAT)
    return figure, note


def _failures(data: RunData) -> str:
    failed = [r for r in data.recs if r.status in ("failure", "cancelled")]
    if not failed:
        return "<h2>Failures</h2><p class=muted id=failures-empty>no rec failed</p>"
    rows = "".join(f"<tr><td class=num>{r.rec_id}</td><td>{_e(r.status)}</td><td>{_e(r.job_id or '-')}</td>"
                   f"<td><pre>{_e(redact(r.message or '(no reason recorded)'))}</pre></td></tr>" for r in failed)
    return (f"<h2>Failures</h2><table id=failures><thead><tr><th>rec</th><th>status</th><th>job</th><th>reason</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _settings(data: RunData) -> str:
    settings = {k: v for k, v in (data.meta.get("settings") or {}).items() if k != "llm_api_key"}
    args = dict(data.meta.get("run_args") or {})
    args.pop("automl_settings", None)
    algorithm = str(settings.get("algorithm") or data.meta.get("algorithm") or "")
    picked = (data.meta.get("algorithm_choice") or {}).get("algorithm")
    unread = {note.split()[0].removeprefix("automl_settings.") for note in
              unused_settings(settings, algorithm, str(picked) if picked else None)}
    rows: list[tuple[str, Any]] = [
        ("automl_settings." + k,
         f"{v if isinstance(v, str) else json.dumps(v, default=str)} (not read by {algorithm})" if k in unread else v)
        for k, v in sorted(settings.items())]
    rows += [(k, v) for k, v in sorted(args.items()) if v not in (None, "", {}, [])]
    rows += [(k, data.meta[k]) for k in ("platform", "wandb", "mlflow") if data.meta.get(k)]
    rows = redact(rows)  # a secret that reached the run folder (or the environment's secret values) never shows
    body = "".join(f"<tr><td>{_e(k)}</td><td><pre>{_e(json.dumps(v, default=str) if not isinstance(v, str) else v)}"
                   f"</pre></td></tr>" for k, v in rows)
    return f"<h2>Settings</h2><table class=kv id=settings><tbody>{body}</tbody></table>"


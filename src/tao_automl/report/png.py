"""One convergence plot as a PNG (for agents and CI logs), drawn with matplotlib's Agg backend (no display)."""

from __future__ import annotations

from pathlib import Path

from tao_automl.report import require
from tao_automl.report.data import RunData


def write_convergence_png(data: RunData, path: str | Path) -> bool:
    """Each finished rec's value and the best so far, by rec number; False (nothing written) when no rec has one."""
    points = data.convergence()
    if not points:
        return False
    require("matplotlib", "the PNG convergence plot")
    from matplotlib.figure import Figure  # a bare Figure + Agg canvas: no pyplot state, no GUI backend

    figure = Figure(figsize=(7, 4), dpi=110)
    axes = figure.add_subplot()
    xs = list(range(1, len(points) + 1))
    values = [float(rec.metric or 0.0) for rec, _ in points]
    axes.scatter(xs, values, s=18, color="#9aa5b1", label=f"{data.metric} per rec")
    axes.step(xs, [best for _, best in points], where="post", color="#1f77b4", linewidth=2,
              label=data.best_so_far_label)
    axes.set_xlabel("finished rec (in order)")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # a count of recs: no tick at rec 1.25
    axes.set_ylabel(f"{data.metric} ({data.direction})")
    # two lines: a run id and "best val_loss so far (highest budget reached first)" overflowed the figure's width
    axes.set_title(f"{data.experiment_id}\n{data.best_so_far_label.replace('best', f'best {data.metric}', 1)}",
                   fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(str(path), format="png")
    return True

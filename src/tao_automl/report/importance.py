"""Parameter importance: random-forest permutation importance (scikit-learn, extra ``report``).

A random forest is fitted to the finished recs (params -> metric); each param's importance is how much
the forest's R² drops when that param's column is shuffled (``sklearn.inspection.permutation_importance``,
10 repeats), clipped at 0 and normalised to sum to 1. Trees split on thresholds, so a log-scaled param
needs no transform; a categorical param is coded by its choices' order. With budgets (multi-fidelity),
only values measured at one epoch are compared (see :func:`importance_points`).

Beyond ``MAX_RECS`` points (a long sweep), the forest is fitted on ``MAX_RECS`` of them drawn at random with a
fixed seed (:func:`subsample`), not on all: the fit and the shuffles grow faster than linearly with the points
(10,000 recs took ~19 s), while a few thousand already rank a handful of params. A uniform draw keeps the shares
about the whole sweep (the best recs alone would say what matters near the optimum, a different question);
:attr:`Importance.drawn` says how many were used, and the report says so beside the chart.

The shares say what the forest used to fit the recs it was given, which it does whether or not the params
explain the metric; its out-of-bag R² (each rec predicted by the trees that did not see it) says whether they
do, and the report shows it beside the shares.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tao_automl.report import require
from tao_automl.report.data import RunData

MIN_RECS = 5
#: the most points the forest is fitted on; a run with more uses this many, drawn at random (seed ``SEED``)
MAX_RECS = 2000
SEED = 0


@dataclass(frozen=True)
class Importance:
    """``shares``: ``{param: share}`` (sums to 1), most important first, empty when it cannot be computed;
    ``oob_r2``: the forest's out-of-bag R² (<= 0: the params do not predict the metric on recs a tree did not
    see, so the shares say little)."""

    shares: dict[str, float] = field(default_factory=dict)
    oob_r2: float | None = None
    #: ``(used, of)`` when the forest was fitted on ``used`` of the run's ``of`` points drawn at random; None when
    #: it used them all
    drawn: tuple[int, int] | None = None


def importance_points(data: RunData) -> tuple[list[tuple[dict[str, Any], float]], int | None]:
    """``(params, value)`` pairs the importance is computed on, and the epoch they were measured at.

    Single-fidelity runs: every rec's final value. With budgets, values at different epochs are not
    comparable, so the recs' curves are read at the highest epoch that at least ``MIN_RECS`` recs reached.
    """
    valued = [r for r in data.recs if r.has_value and r.params]
    if not data.is_multi_fidelity:
        return [(r.params, float(r.metric or 0.0)) for r in valued], None
    reached = Counter(e for r in data.recs if r.params for e, _ in r.epochs)
    for epoch in sorted((e for e, n in reached.items() if n >= MIN_RECS), reverse=True):
        points = [(r.params, dict(r.epochs)[epoch]) for r in data.recs if r.params and epoch in dict(r.epochs)]
        return points, epoch
    by_budget = Counter(r.budget for r in valued)
    usable = sorted((b for b, n in by_budget.items() if b is not None and n >= MIN_RECS), reverse=True)
    return ([(r.params, float(r.metric or 0.0)) for r in valued if r.budget == usable[0]], usable[0]) if usable \
        else ([], None)


def most_at_one_epoch(data: RunData) -> int:
    """The largest number of finished recs with a value at one epoch (a value of their curve there, or their final
    value at their budget): what :func:`importance_points` had to choose from when no epoch has ``MIN_RECS``."""
    counts: Counter[int] = Counter()
    for rec in data.recs:
        if rec.has_value and rec.params:
            counts.update({e for e, _ in rec.epochs} | ({rec.budget} if rec.budget is not None else set()))
    return max(counts.values(), default=0)


def subsample(count: int, max_recs: int) -> list[int] | None:
    """The indices (ascending) of ``max_recs`` of ``count`` points drawn at random without replacement, with the
    fixed seed ``SEED`` (the same run gives the same draw); None when ``count <= max_recs`` (all are used)."""
    if count <= max_recs:
        return None
    import numpy as np

    return sorted(int(i) for i in np.random.default_rng(SEED).choice(count, size=max_recs, replace=False))


def param_importance(data: RunData, *, max_recs: int = MAX_RECS) -> Importance:
    """The shares and the forest's out-of-bag R²; no shares when fewer than ``MIN_RECS`` recs qualify. With more
    than ``max_recs`` points the forest sees ``max_recs`` of them drawn at random (:func:`subsample`)."""
    points, _ = importance_points(data)
    names = sorted({k for params, _ in points for k in params})
    if len(points) < MIN_RECS or not names:
        return Importance()
    require("sklearn", "parameter importance")
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    codes: dict[str, dict[Any, int]] = {}
    for name in names:
        values = [params.get(name) for params, _ in points]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            codes[name] = {v: i for i, v in enumerate(sorted({repr(v) for v in values}))}
    if float(np.ptp(np.array([value for _, value in points]))) == 0.0:
        return Importance()
    of = len(points)  # categorical codes come from every point, so a draw does not renumber the choices
    chosen = subsample(of, max_recs)
    if chosen is not None:
        points = [points[i] for i in chosen]
    drawn = (len(points), of) if chosen is not None else None
    x = np.array([[_encode(params.get(n), codes.get(n)) for n in names] for params, _ in points], dtype=float)
    y = np.array([value for _, value in points])
    forest = RandomForestRegressor(n_estimators=200, min_samples_leaf=1, oob_score=True, random_state=0).fit(x, y)
    oob = float(forest.oob_score_)
    result = permutation_importance(forest, x, y, n_repeats=10, random_state=0)
    raw = [max(float(v), 0.0) for v in result.importances_mean]
    total = sum(raw)
    if total <= 0 or not math.isfinite(total):
        return Importance(oob_r2=oob if math.isfinite(oob) else None, drawn=drawn)
    shares = {name: value / total for name, value in zip(names, raw, strict=True)}
    return Importance(dict(sorted(shares.items(), key=lambda kv: -kv[1])), oob if math.isfinite(oob) else None,
                      drawn)


def _encode(value: Any, codes: dict[Any, int] | None) -> float:
    if codes is not None:
        return float(codes[repr(value)])
    return float(value)

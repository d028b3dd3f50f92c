"""Pareto fronts, the knee, a weighted pick and 2-D hypervolume, all on minimisation-form vectors.

Vectors here are already in *minimisation* form (a ``maximize`` metric is negated by :func:`to_minimise`).

* **Front**: the recs no other rec dominates (another rec is at least as good on every metric and strictly
  better on one). Recs with equal vectors are all on the front.
* **Knee** (the default ``best``): each metric is scaled to [0, 1] over the front (0 = the front's best value of
  that metric, 1 = its worst; a metric with one value on the front scales to 0), and the knee is the front point
  nearest (Euclidean) to the ideal point (0, ..., 0); ties go to the lowest rec id.
* **Weighted pick** (``metric_weights``): the front point with the smallest weighted sum of the same scaled
  values; ties go to the lowest rec id. A metric ``metric_weights`` leaves out weighs 0 (``view.front_fields``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Vector = tuple[float, ...]


def to_minimise(values: Sequence[float], directions: Sequence[str]) -> Vector:
    """User-scale values -> minimisation form (the only sign flip for vectors)."""
    return tuple(v if d == "minimize" else -v for v, d in zip(values, directions, strict=True))


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` is at least as good as ``b`` everywhere and strictly better somewhere (minimisation)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_front(points: Mapping[int, Sequence[float]]) -> list[int]:
    """Ids of the nondominated points, in id order (sort by the vector, then one pass against the front so far)."""
    order = sorted(points, key=lambda k: (tuple(points[k]), k))
    front: list[int] = []
    for key in order:
        # a point sorted later can never dominate one sorted earlier, so comparing with the front kept is enough
        if not any(dominates(points[f], points[key]) for f in front):
            front.append(key)
    return sorted(front)


def layers(points: Mapping[int, Sequence[float]]) -> dict[int, int]:
    """Nondominated sorting: 0 for the front, 1 for the front of the rest, and so on."""
    left = dict(points)
    out: dict[int, int] = {}
    depth = 0
    while left:
        for key in pareto_front(left):
            out[key] = depth
            del left[key]
        depth += 1
    return out


def _scaled(points: Mapping[int, Sequence[float]], ids: Sequence[int]) -> dict[int, list[float]]:
    k = len(points[ids[0]])
    low = [min(points[i][j] for i in ids) for j in range(k)]
    high = [max(points[i][j] for i in ids) for j in range(k)]
    return {i: [(points[i][j] - low[j]) / (high[j] - low[j]) if high[j] > low[j] else 0.0 for j in range(k)]
            for i in ids}


def knee(points: Mapping[int, Sequence[float]]) -> int | None:
    """The front point nearest the ideal point after scaling each metric to [0, 1] over the front."""
    front = pareto_front(points)
    if not front:
        return None
    scaled = _scaled(points, front)
    return min(front, key=lambda i: (math.fsum(x * x for x in scaled[i]), i))


def weighted_pick(points: Mapping[int, Sequence[float]], weights: Sequence[float]) -> int | None:
    """The front point with the smallest weighted sum of its scaled metrics."""
    front = pareto_front(points)
    if not front:
        return None
    scaled = _scaled(points, front)
    return min(front, key=lambda i: (math.fsum(w * x for w, x in zip(weights, scaled[i], strict=True)), i))


def hypervolume_2d(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` (both minimised); points beyond it count 0."""
    inside = sorted((p[0], p[1]) for p in points if p[0] < reference[0] and p[1] < reference[1])
    area, best_y = 0.0, reference[1]
    for x, y in inside:
        if y < best_y:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area

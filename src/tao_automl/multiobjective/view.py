"""The Pareto-front fields every view of a multi-objective run carries (progress, status, the result dict)."""

from __future__ import annotations

from collections.abc import Mapping

from tao_automl.multiobjective.pareto import knee, layers, pareto_front, to_minimise, weighted_pick

TYPE_CHECKING = False  # typing stays out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

#: The event a rec's metric values are persisted in (``{"values": {name: value}}``), before its end.
VALUES_EVENT = "metric_values"


def objectives_of(meta: Mapping[str, Any]) -> list[dict[str, str]]:
    """The run's list of metrics, or [] for a single-objective run."""
    settings = meta.get("settings") or {}
    return list(settings.get("objectives") or [])


def front_fields(values: Mapping[int, Mapping[str, float]], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``pareto_front`` (rec ids and values, id order), ``best_rec_id`` and how it was picked.

    ``values``: user-scale metric values of the successful recs."""
    objectives = objectives_of(meta)
    names = [o["name"] for o in objectives]
    points = {rec_id: to_minimise([v[n] for n in names], [o["direction"] for o in objectives])
              for rec_id, v in values.items()}
    weights = (meta.get("settings") or {}).get("metric_weights")
    if weights:
        best = weighted_pick(points, [float(weights.get(n, 0.0)) for n in names])
        best_by = "metric_weights"
    else:
        best, best_by = knee(points), "knee"
    front = [{"rec_id": rec_id, "values": {n: values[rec_id][n] for n in names}} for rec_id in pareto_front(points)]
    return {"objectives": objectives, "pareto_front": front, "best_rec_id": best, "best_by": best_by,
            "best_values": dict(values[best]) if best is not None else None}


def ranked_ids(values: Mapping[int, Mapping[str, float]], fields: Mapping[str, Any],
               by_first: Sequence[int]) -> list[int]:
    """A multi-objective run's rec order (each rec's ``rank``, what ``status``'s top view lists first): the Pareto
    front's pick (``best``) first, then the rest of the front, then each later nondominated layer (the front of the
    recs left, and so on); within the front and each layer, in the first metric's order (``by_first``: the ids of
    every rec with a rankable first metric, best first). Recs of ``by_first`` without values follow, in its order.

    ``values``: user-scale metric values of the successful recs; ``fields``: their :func:`front_fields`."""
    names = [o["name"] for o in fields["objectives"]]
    directions = [o["direction"] for o in fields["objectives"]]
    depth = layers({rec_id: to_minimise([v[n] for n in names], directions) for rec_id, v in values.items()})
    first = {rec_id: i for i, rec_id in enumerate(by_first)}
    best = fields.get("best_rec_id")
    with_values = sorted(depth, key=lambda i: (i != best, depth[i], first.get(i, len(first)), i))
    return with_values + [i for i in by_first if i not in depth]


def values_in_store(store: Any, meta: Mapping[str, Any]) -> dict[int, dict[str, float]] | None:
    """The metric values of a multi-objective run's successful recs from its open ``RunStore``; None for a run
    with one metric."""
    if not objectives_of(meta):
        return None
    return stored_values(store.events(VALUES_EVENT), set(store.ids_with_status(("success",))))


def front_in_store(store: Any, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """:func:`front_fields` of a multi-objective run from its open ``RunStore`` (its successful recs' persisted
    values); None for a run with one metric."""
    values = values_in_store(store, meta)
    return None if values is None else front_fields(values, meta)


def with_rec_values(rows: list[dict[str, Any]], values: Mapping[int, Mapping[str, float]]) -> list[dict[str, Any]]:
    """Rec dicts with ``metric_values``: every metric's value of a successful rec (None for the others)."""
    for row in rows:
        got = values.get(int(row["rec_id"]))
        row["metric_values"] = dict(got) if got is not None else None
    return rows


def stored_values(events: list[dict[str, Any]], success_ids: set[int]) -> dict[int, dict[str, float]]:
    """The last persisted values of each successful rec, from the store's ``metric_values`` events."""
    out: dict[int, dict[str, float]] = {}
    for event in events:
        rec_id = event.get("rec_id")
        if rec_id is not None and int(rec_id) in success_ids:
            out[int(rec_id)] = {str(k): float(v) for k, v in event["payload"]["values"].items()}
    return out


def apply_to_progress(progress: dict[str, Any], fields: Mapping[str, Any],
                      best_budget: int | None = None) -> dict[str, Any]:
    """The progress dict with ``best_*`` taken from the front's pick (``best_budget``: the epochs it reached) and
    the front fields added."""
    first = fields["objectives"][0]["name"]
    best = fields["best_rec_id"]
    progress.update({
        "best_metric": fields["best_values"][first] if best is not None else None,
        "best_rec_id": best,
        "best_budget": best_budget if best is not None else None,
        "ranked_by": f"Pareto front first (its {fields['best_by']} pick first), then each later nondominated layer; "
                     f"{first} within each",
        "objectives": fields["objectives"],
        "pareto_front": fields["pareto_front"],
        "best_by": fields["best_by"],
        "best_values": fields["best_values"],
    })
    return progress


def apply_to_result(result: dict[str, Any], fields: Mapping[str, Any], best: dict[str, Any] | None) -> dict[str, Any]:
    """A summary/status dict with ``best`` (the row dict of the front's pick), its values and ``pareto_front``."""
    apply_to_progress(result["progress"], fields, best.get("budget") if best is not None else None)
    if best is not None:
        best = {**best, "metric_values": fields["best_values"]}
    result["best"] = best
    result["pareto_front"] = fields["pareto_front"]
    return result

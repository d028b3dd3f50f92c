"""The multi-objective ``metric`` shape: a list of ``{name, direction}`` entries, and ``metric_weights``.

``metric: [{name: val_accuracy, direction: maximize}, {name: latency_ms, direction: minimize}]`` is expanded by
:func:`expand_metric_list` into the settings ``metric``/``direction`` (the first entry: the column every
single-objective view shows) and ``objectives`` (every entry). Every check here raises a one-line
:class:`~tao_automl.errors.SettingsError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from tao_automl.errors import SettingsError
from tao_automl.util.suggest import did_you_mean

DIRECTIONS = ("minimize", "maximize")
#: Brains that handle a list of metrics (ParEGO scalarisation per proposal).
MULTI_OBJECTIVE_ALGORITHMS = ("bayesian", "random", "tpe", "auto")  # auto: it picks bayesian or tpe
ENTRY_KEYS = ("name", "direction")


def _bad(field: str, value: Any, allowed: Any, what: str = "is not allowed") -> SettingsError:
    return SettingsError(f"automl_settings.{field}: {value!r} {what}; allowed: {allowed}",
                         field=f"automl_settings.{field}", value=value, allowed=allowed)


def _missing(field: str, entry: Mapping[str, Any], allowed: Any) -> SettingsError:
    """An entry without ``field``'s key (or with it empty: ``direction:`` in YAML), naming the entry."""
    return SettingsError(f"automl_settings.{field} is missing (entry {dict(entry)!r}); allowed: {allowed}",
                         field=f"automl_settings.{field}", allowed=allowed)


def check_objectives(field: str, value: Any) -> list[dict[str, str]]:
    """A list of >= 1 ``{name, direction}`` mappings with distinct names, as plain dicts."""
    shape = "a list of {name: METRIC, direction: minimize|maximize} mappings"
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)) or not value:
        raise _bad(field, value, shape)
    out: list[dict[str, str]] = []
    for i, entry in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(entry, Mapping):
            raise _bad(where, entry, "a mapping {name: METRIC, direction: minimize|maximize}")
        unknown = [k for k in entry if k not in ENTRY_KEYS]
        if unknown:
            raise _bad(f"{where}.{unknown[0]}", unknown[0], list(ENTRY_KEYS), "is not a key of a metric entry")
        name = entry.get("name")
        if name is None:
            raise _missing(f"{where}.name", entry, "a non-empty metric name")
        if not isinstance(name, str) or not name.strip():
            raise _bad(f"{where}.name", name, "a non-empty metric name")
        if name != name.strip():  # " val_loss" would be looked up as given, never as the job's name
            raise _bad(f"{where}.name", name, f"a metric name without surrounding spaces ({name.strip()!r})")
        direction = entry.get("direction")
        if direction is None:
            raise _missing(f"{where}.direction", entry, list(DIRECTIONS))
        if direction not in DIRECTIONS:
            raise _bad(f"{where}.direction", direction, list(DIRECTIONS),
                       "is not allowed" + did_you_mean(str(direction), DIRECTIONS))
        if any(o["name"] == name for o in out):
            raise _bad(f"{where}.name", name, "a name not already in the list", "is listed twice")
        out.append({"name": name, "direction": str(direction)})
    return out


def check_weights(field: str, value: Any) -> dict[str, float]:
    """``{metric name: weight >= 0}`` with at least one weight > 0 (names are checked against the list later)."""
    allowed = "a mapping {metric name: weight >= 0}, at least one weight > 0"
    if not isinstance(value, Mapping) or not value:
        raise _bad(field, value, allowed)
    out: dict[str, float] = {}
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight) \
                or weight < 0:
            raise _bad(f"{field}.{name}", weight, "a finite number >= 0")
        out[str(name)] = float(weight)
    if not any(out.values()):
        raise _bad(field, value, allowed)
    return out


def expand_metric_list(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with a list ``metric`` turned into ``metric``/``direction`` (first entry) and ``objectives``.

    A one-entry list is a single objective (``objectives`` stays unset). ``direction`` and ``objectives`` may not
    be given next to a list: each entry carries its own direction."""
    out = dict(raw)
    metric = out.get("metric")
    if not isinstance(metric, (list, tuple)):
        return out
    for key in ("direction", "objectives"):
        if out.get(key) is not None:
            raise _bad(key, out[key], "no value when metric is a list (each entry has its own direction)",
                       "cannot be combined with a list metric")
    entries = check_objectives("metric", metric)
    out["metric"], out["direction"] = entries[0]["name"], entries[0]["direction"]
    if len(entries) > 1:
        out["objectives"] = entries
    return out


def check_consistent(algorithm: str, metric: str, direction: str | None, objectives: list[dict[str, str]] | None,
                     weights: Mapping[str, float] | None) -> None:
    """Cross-field rules: the first objective is ``metric``/``direction``; the brain supports it; weights name
    the listed metrics."""
    if not objectives:
        if weights is not None:
            raise _bad("metric_weights", dict(weights), "no value unless metric is a list of 2 or more metrics",
                       "needs a multi-objective metric")
        return
    names = [o["name"] for o in objectives]
    if len(objectives) < 2:
        raise _bad("objectives", objectives, "2 or more metrics (a single one is metric: NAME)")
    if metric != names[0] or direction != objectives[0]["direction"]:
        raise _bad("metric", metric, f"{names[0]!r} with direction {objectives[0]['direction']!r} "
                   "(the first of objectives)")
    if algorithm not in MULTI_OBJECTIVE_ALGORITHMS:
        raise _bad("algorithm", algorithm, list(MULTI_OBJECTIVE_ALGORITHMS),
                   "does not support a list of metrics (multi-objective)")
    for name in weights or {}:
        if name not in names:
            raise _bad(f"metric_weights.{name}", name, names, "is not one of the listed metrics")

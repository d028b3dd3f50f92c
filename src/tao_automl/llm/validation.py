"""Turn what an LLM proposed into a config of the search space, counting every repair.

An LLM may only choose parameter values: keys that are not parameters of the space (a command, a
path, an image, a platform argument ...) are dropped, never passed on. Values are coerced (``"3"``
-> 3, ``"true"`` -> True), rounded (ints), clipped into the bounds and matched to the nearest
option; a missing parameter takes its default (or the middle of its range).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    Config,
    FloatParam,
    IntGridParam,
    IntParam,
    Param,
    SearchSpace,
    describe,
)
from tao_automl.util.suggest import nearest


def config_key(space: SearchSpace, config: Mapping[str, Any]) -> tuple[str, ...]:
    """Exact identity of a config (floats compared exactly, 1 vs True kept apart)."""
    return tuple(repr(config.get(name)) for name in space.names)


def _fallback_value(p: Param) -> Any:
    """The param's default when valid, else the middle of its range (its first option for choices)."""
    if p.default is not None and p.contains(p.default):
        return p.default
    if isinstance(p, CategoricalParam):
        return p.choices[0]
    if isinstance(p, BoolParam):
        return False
    return p.decode([0.5] * p.width)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _repair_value(p: Param, value: Any) -> tuple[Any, str | None]:
    """(a valid value, a note when it had to change)."""
    numeric_kind = isinstance(p, (FloatParam, IntParam, IntGridParam))
    if p.contains(value) and not (numeric_kind and isinstance(value, bool)):
        # a float param's whole number (JSON `0`) is the float every other config holds: 0 and 0.0 are one config
        return (float(value), None) if isinstance(p, FloatParam) else (value, None)
    if numeric_kind:
        number = _number(value)
        if number is None or not math.isfinite(number):
            fixed = _fallback_value(p)
            return fixed, f"{p.name}: {value!r} is not a number; used {fixed!r}"
        if isinstance(p, IntGridParam):
            fixed = min(p.values, key=lambda v: abs(v - number))
        elif isinstance(p, IntParam):
            fixed = min(max(round(number), int(p.low)), int(p.high))
        else:
            assert isinstance(p, FloatParam)
            fixed = float(min(max(number, p.low), p.high))
        return fixed, f"{p.name}: {value!r} -> {fixed!r}"
    if isinstance(p, BoolParam):
        text = str(value).strip().lower()
        fixed_bool = text in ("true", "1", "yes", "on") if text not in ("", "none") else bool(_fallback_value(p))
        return fixed_bool, f"{p.name}: {value!r} -> {fixed_bool!r}"
    if isinstance(p, CategoricalParam):
        by_text = {str(c).lower(): c for c in p.choices}
        text = str(value).strip().lower()
        close = text if text in by_text else nearest(text, by_text, cutoff=0.0)
        choice = by_text[close] if close is not None else _fallback_value(p)
        return choice, f"{p.name}: {value!r} -> {choice!r}"
    if isinstance(value, list):  # list-valued params come back from JSON as lists
        as_tuple = tuple(value)
        if p.contains(as_tuple):
            return as_tuple, None
    fixed = _fallback_value(p)
    return fixed, f"{p.name}: {value!r} is outside {describe(p)}; used {fixed!r}"


def _flattened(space: SearchSpace, raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``raw`` with nested objects read as dotted names (``{"train": {"lr": 0.1}}`` is ``train.lr``), as a config
    is written in a spec; a key that is a parameter keeps its value as it is."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in space:
            flat.update(_flattened(space, value, f"{name}."))
        else:
            flat[name] = value
    return flat


def repair_config(space: SearchSpace, raw: Any) -> tuple[Config | None, list[str]]:
    """A valid config built from ``raw`` and the list of repairs made; ``None`` when ``raw`` is no mapping."""
    if not isinstance(raw, Mapping):
        return None, [f"proposal is not a JSON object: {str(raw)[:80]!r}"]
    raw = _flattened(space, raw)
    notes = [f"dropped {key!r}: not a search parameter" for key in raw if key not in space]
    config: Config = {}
    for p in space.params:
        if p.name not in raw:
            config[p.name] = _fallback_value(p)
            notes.append(f"{p.name}: missing; used {config[p.name]!r}")
            continue
        config[p.name], note = _repair_value(p, raw[p.name])
        if note:
            notes.append(note)
    related = space.repair(config)
    notes += [f"{k}: {config[k]!r} -> {related[k]!r} (relation)" for k in space.names if related[k] != config[k]]
    return related, notes


def make_unique(space: SearchSpace, config: Config, seen: Iterable[tuple[str, ...]],
                rng: np.random.Generator, tries: int = 64) -> tuple[Config, str | None]:
    """``config`` moved to an unseen neighbour (one or more params re-drawn); unchanged when impossible."""
    taken = set(seen)
    if config_key(space, config) not in taken:
        return config, None
    for attempt in range(tries):
        candidate = dict(config)
        k = 1 + attempt * len(space.params) // tries
        for idx in rng.choice(len(space.params), size=min(k, len(space.params)), replace=False):
            p = space.params[int(idx)]
            candidate[p.name] = p.sample(rng)
        candidate = space.repair(candidate)
        if config_key(space, candidate) not in taken:
            changed = sorted(n for n in space.names if repr(candidate[n]) != repr(config[n]))
            return candidate, f"duplicate of an earlier config; re-drew {', '.join(changed)}"
    return config, "duplicate of an earlier config; no unused config found nearby"

"""Never propose a config twice: exact config identity and an unused-config fallback.

A brain keeps the keys of every observed and pending config. When its model's candidates are all used,
:func:`unused_config` finds one that is not: random draws first, then (for a finite space of at most
``ENUMERATE_LIMIT`` configs) the full list, so a repeat happens only once a finite space is exhausted.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    Config,
    FloatParam,
    IntGridParam,
    IntParam,
    SearchSpace,
)

Key = tuple[str, ...]

#: Finite spaces up to this many configs are enumerated when random draws find nothing unused.
ENUMERATE_LIMIT = 50_000
RANDOM_DRAWS = 256


def config_key(space: SearchSpace, config: Mapping[str, Any]) -> Key:
    """Exact identity of a config (``repr`` keeps 1 vs 1.0 vs True apart and floats exact)."""
    return tuple(repr(config[name]) for name in space.names)


def _values(p: Any) -> Sequence[Any] | None:
    """Every value of a finite param (None for a continuous or list-valued one)."""
    if isinstance(p, IntParam):
        return range(p.low, p.high + 1) if p.high - p.low < ENUMERATE_LIMIT else None
    if isinstance(p, IntGridParam):
        return list(p.values)
    if isinstance(p, CategoricalParam):
        return list(p.choices)
    if isinstance(p, BoolParam):
        return [False, True]
    if isinstance(p, FloatParam) and p.low == p.high:
        return [p.low]
    return None


def finite_size(space: SearchSpace) -> int | None:
    """How many configs a space without continuous or list params has, before relations (None: infinite)."""
    size = 1
    for p in space.params:
        values = _values(p)
        if values is None:
            return None
        size *= len(values)
    return size


def all_configs(space: SearchSpace) -> Iterable[Config]:
    """Every config of a finite space (relations applied; duplicates possible after repair)."""
    values = [_values(p) for p in space.params]
    assert all(v is not None for v in values)
    for combo in itertools.product(*values):  # type: ignore[arg-type]
        yield space.repair(dict(zip(space.names, combo, strict=True)))


def unused_config(space: SearchSpace, taken: set[Key], rng: np.random.Generator) -> Config:
    """A config whose key is not in ``taken``; a random (repeated) one only when none exists."""
    for _ in range(RANDOM_DRAWS):
        config = space.sample(rng)
        if config_key(space, config) not in taken:
            return config
    size = finite_size(space)
    if size is not None and size <= ENUMERATE_LIMIT:
        fresh = [c for c in all_configs(space) if config_key(space, c) not in taken]
        if fresh:
            return fresh[int(rng.integers(len(fresh)))]
    return space.sample(rng)  # exhausted (or too large to list): a repeat is unavoidable


class FreshConfigs:
    """The keys of the configs a brain has started from scratch; :meth:`untried` swaps a proposal that repeats one
    for an unused config (a repeat only once a finite space is exhausted). Draws from ``rng`` only on a repeat, so a
    continuous space's proposals are those of the brain alone."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.keys: set[Key] = set()

    def add(self, config: Mapping[str, Any]) -> None:
        self.keys.add(config_key(self.space, config))

    def untried(self, config: Config, rng: np.random.Generator, also: set[Key] | None = None) -> Config:
        """``config``, or an unused one when it repeats a key of this set or of ``also`` (configs in flight); the
        sets are only joined on a repeat, so a check costs the same at any size."""
        key = config_key(self.space, config)
        if key not in self.keys and (also is None or key not in also):
            return config
        return unused_config(self.space, self.keys | also if also else self.keys, rng)

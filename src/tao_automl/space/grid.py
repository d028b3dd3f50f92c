"""An integer restricted to a lattice inside its bounds: powers of a base and/or multiples of a step.

Built from TAO ``math_cond`` forms ``^ k`` (a power of ``k``, e.g. batch sizes that are powers of
2) and ``/ k`` (a multiple of ``k``). The allowed values are enumerated once; the unit interval is
split into one equal cell per allowed value, so a power grid is searched over its exponent (a log
scale) and a multiple grid over the multiple index. Nothing decodes outside the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tao_automl.errors import SearchSpaceError

MAX_GRID = 1_000_000


def grid_values(low: int, high: int, power_of: int | None, multiple_of: int | None) -> tuple[int, ...]:
    """Every integer in ``[low, high]`` that is a power of ``power_of`` and a multiple of ``multiple_of``."""
    if power_of is not None:
        values: list[int] = []
        v = 1
        while v <= high:
            if v >= low:
                values.append(v)
            v *= power_of
        return tuple(x for x in values if multiple_of is None or x % multiple_of == 0)
    step = 1 if multiple_of is None else multiple_of
    first = -(-low // step) * step
    return tuple(range(first, high + 1, step))


@dataclass(frozen=True)
class IntGridParam:
    """An integer in ``[low, high]`` that is a power of ``power_of`` and/or a multiple of ``multiple_of``."""

    name: str
    low: int
    high: int
    power_of: int | None = None
    multiple_of: int | None = None
    default: int | None = None
    values: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key, bound in (("low", self.low), ("high", self.high)):
            if isinstance(bound, bool) or not isinstance(bound, int):
                raise SearchSpaceError(f"param {self.name!r}: {key}={bound!r} must be an integer", value=bound,
                                       allowed="an integer")
        if self.power_of is None and self.multiple_of is None:
            raise SearchSpaceError(f"param {self.name!r}: a grid needs power_of or multiple_of",
                                   allowed="power_of (an integer >= 2) and/or multiple_of (an integer >= 1)")
        for key, value, least in (("power_of", self.power_of, 2), ("multiple_of", self.multiple_of, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise SearchSpaceError(f"param {self.name!r}: {key}={value!r} must be an integer >= {least}",
                                       value=value, allowed=f"an integer >= {least}")
        if not self.low <= self.high:
            raise SearchSpaceError(
                f"param {self.name!r}: low <= high must hold, but got (low={self.low}, high={self.high})",
                value={"low": self.low, "high": self.high}, allowed="bounds with low <= high")
        step = self.multiple_of or 1
        if self.power_of is None and self.high // step - -(-self.low // step) + 1 > MAX_GRID:  # multiples in range
            raise SearchSpaceError(f"param {self.name!r}: the grid holds more than {MAX_GRID} values",
                                   allowed=f"a grid of at most {MAX_GRID} values (a narrower range or a larger "
                                           "multiple_of)")
        values = grid_values(self.low, self.high, self.power_of, self.multiple_of)
        if not values:
            raise SearchSpaceError(f"param {self.name!r}: no value in [{self.low}, {self.high}] is {self._rule()}",
                                   value={"low": self.low, "high": self.high},
                                   allowed=f"a range holding at least one value that is {self._rule()}")
        object.__setattr__(self, "values", values)

    def _rule(self) -> str:
        parts = []
        if self.power_of is not None:
            parts.append(f"a power of {self.power_of}")
        if self.multiple_of is not None:
            parts.append(f"a multiple of {self.multiple_of}")
        return " and ".join(parts)

    @property
    def width(self) -> int:
        return 1

    def index_of(self, value: Any) -> float:
        """Position of ``value`` on the grid (fractional between grid points, clipped to the ends)."""
        v = float(value)
        return float(np.interp(v, np.asarray(self.values, dtype=float), np.arange(len(self.values))))

    def encode(self, value: Any) -> list[float]:
        return [(self.index_of(value) + 0.5) / len(self.values)]

    def snap(self, u: np.ndarray) -> np.ndarray:
        """Vectorised ``encode(decode(u))`` of one column."""
        n = len(self.values)
        idx = np.clip(np.floor(np.clip(u, 0.0, 1.0) * n), 0, n - 1)
        return np.asarray((idx + 0.5) / n, dtype=float)

    def decode(self, unit: Sequence[float]) -> int:
        n = len(self.values)
        u = min(max(float(unit[0]), 0.0), 1.0)
        return self.values[min(int(u * n), n - 1)]

    def sample(self, rng: np.random.Generator) -> int:
        return self.values[int(rng.integers(len(self.values)))]

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value in self.values

    def describe(self) -> str:
        return f"[{self.low}, {self.high}] (int, {self._rule()})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": "int_grid", "low": self.low, "high": self.high,
                "power_of": self.power_of, "multiple_of": self.multiple_of, "default": self.default}

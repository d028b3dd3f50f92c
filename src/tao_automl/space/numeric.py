"""Numeric parameter types: a float or an int in closed bounds, linear or log scale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tao_automl.errors import SearchSpaceError


def check_finite(name: str, **values: float) -> None:
    for key, value in values.items():
        if not math.isfinite(value):
            raise SearchSpaceError(f"param {name!r}: {key}={value!r} must be a finite number")


@dataclass(frozen=True)
class FloatParam:
    """A real number in ``[low, high]``, searched on a linear or log scale."""

    name: str
    low: float
    high: float
    log: bool = False
    default: float | None = None

    def __post_init__(self) -> None:
        check_finite(self.name, low=self.low, high=self.high)
        if not self.low <= self.high:
            raise SearchSpaceError(
                f"param {self.name!r}: low <= high must hold, but got (low={self.low}, high={self.high})"
            )
        if self.log and self.low <= 0:
            raise SearchSpaceError(f"param {self.name!r}: log scale needs low > 0, but got low={self.low}")

    @property
    def width(self) -> int:
        return 1

    def _lo_hi(self) -> tuple[float, float]:
        return (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)

    def encode(self, value: Any) -> list[float]:
        lo, hi = self._lo_hi()
        v = math.log(float(value)) if self.log else float(value)
        return [0.5 if hi == lo else (v - lo) / (hi - lo)]

    def decode(self, unit: Sequence[float]) -> float:
        lo, hi = self._lo_hi()
        u = min(max(float(unit[0]), 0.0), 1.0)
        v = lo + u * (hi - lo)
        value = math.exp(v) if self.log else v
        return min(max(value, self.low), self.high)

    def sample(self, rng: np.random.Generator) -> float:
        return self.decode([rng.random()])

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.low <= value <= self.high
        )

    def describe(self) -> str:
        return f"[{self.low}, {self.high}] (float{', log scale' if self.log else ''})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": "float", "low": self.low, "high": self.high, "log": self.log,
                "default": self.default}


@dataclass(frozen=True)
class IntParam:
    """An integer in ``[low, high]`` (inclusive), linear or log scale."""

    name: str
    low: int
    high: int
    log: bool = False
    default: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int)):
            raise SearchSpaceError(
                f"param {self.name!r}: int bounds must be integers, got low={self.low!r}, high={self.high!r}"
            )
        if not self.low <= self.high:
            raise SearchSpaceError(
                f"param {self.name!r}: low <= high must hold, but got (low={self.low}, high={self.high})"
            )
        if self.log and self.low <= 0:
            raise SearchSpaceError(f"param {self.name!r}: log scale needs low > 0, but got low={self.low}")

    @property
    def width(self) -> int:
        return 1

    def _lo_hi(self) -> tuple[float, float]:
        # Each integer owns an equal-width cell of the unit interval.
        if self.log:
            return math.log(self.low - 0.5 if self.low > 0.5 else self.low), math.log(self.high + 0.5)
        return self.low - 0.5, self.high + 0.5

    def encode(self, value: Any) -> list[float]:
        lo, hi = self._lo_hi()
        v = math.log(float(value)) if self.log else float(value)
        return [min(max((v - lo) / (hi - lo), 0.0), 1.0)]

    def decode(self, unit: Sequence[float]) -> int:
        lo, hi = self._lo_hi()
        u = min(max(float(unit[0]), 0.0), 1.0)
        v = lo + u * (hi - lo)
        value = round(math.exp(v) if self.log else v)
        return min(max(value, self.low), self.high)

    def sample(self, rng: np.random.Generator) -> int:
        return self.decode([rng.random()])

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"[{self.low}, {self.high}] (int{', log scale' if self.log else ''})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": "int", "low": self.low, "high": self.high, "log": self.log,
                "default": self.default}

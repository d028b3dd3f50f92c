"""Numeric parameter types: a float or an int in closed bounds, linear or log scale (floats also logit)."""

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
            raise SearchSpaceError(f"param {name!r}: {key}={value!r} must be a finite number", value=value,
                                   allowed="a finite number (not nan or inf)")


def logit(p: float) -> float:
    """``log(p / (1 - p))`` for ``0 < p < 1``."""
    return math.log(p) - math.log1p(-p)


def expit(v: float) -> float:
    """The inverse of :func:`logit`, stable for large ``|v|``."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@dataclass(frozen=True)
class FloatParam:
    """A real number in ``[low, high]``, searched on a linear, log or logit scale.

    ``logit=True`` (for fractions strictly inside (0, 1)) samples, models and shows the value uniform in
    ``log(p / (1 - p))``: values near 0 and near 1 get as much room as values near 0.5.
    """

    name: str
    low: float
    high: float
    log: bool = False
    default: float | None = None
    logit: bool = False

    def __post_init__(self) -> None:
        check_finite(self.name, low=self.low, high=self.high)
        if not self.low <= self.high:
            raise SearchSpaceError(
                f"param {self.name!r}: low <= high must hold, but got (low={self.low}, high={self.high})",
                value={"low": self.low, "high": self.high}, allowed="bounds with low <= high")
        if self.log and self.logit:
            raise SearchSpaceError(f"param {self.name!r}: scale is either log or logit, not both",
                                   allowed="one of log=True or logit=True, not both")
        if self.log and self.low <= 0:
            raise SearchSpaceError(f"param {self.name!r}: log scale needs low > 0, but got low={self.low}",
                                   value=self.low, allowed="low > 0 on a log scale")
        if self.logit and not 0.0 < self.low <= self.high < 1.0:
            raise SearchSpaceError(
                f"param {self.name!r}: logit scale needs 0 < low <= high < 1 (the logit of 0 or 1 is infinite), "
                f"but got [low={self.low}, high={self.high}]; allowed: bounds strictly inside (0, 1)",
                value={"low": self.low, "high": self.high}, allowed="bounds strictly inside (0, 1)")

    @property
    def width(self) -> int:
        return 1

    @property
    def scale(self) -> str:
        return "log" if self.log else "logit" if self.logit else "linear"

    def _warp(self, value: float) -> float:
        return math.log(value) if self.log else logit(value) if self.logit else value

    def _unwarp(self, v: float) -> float:
        return math.exp(v) if self.log else expit(v) if self.logit else v

    def _lo_hi(self) -> tuple[float, float]:
        return self._warp(self.low), self._warp(self.high)

    def encode(self, value: Any) -> list[float]:
        lo, hi = self._lo_hi()
        v = self._warp(float(value))
        return [0.5 if hi == lo else (v - lo) / (hi - lo)]

    def decode(self, unit: Sequence[float]) -> float:
        lo, hi = self._lo_hi()
        u = min(max(float(unit[0]), 0.0), 1.0)
        value = self._unwarp(lo + u * (hi - lo))
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
        return f"[{self.low}, {self.high}] (float{'' if self.scale == 'linear' else ', ' + self.scale + ' scale'})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": "float", "low": self.low, "high": self.high,
                               "log": self.log, "default": self.default}
        if self.logit:  # only when set: the JSON of linear/log spaces (run fingerprints) stays as it was
            out["logit"] = True
        return out


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
                f"param {self.name!r}: int bounds must be integers, got low={self.low!r}, high={self.high!r}",
                value={"low": self.low, "high": self.high}, allowed="integer low and high")
        if not self.low <= self.high:
            raise SearchSpaceError(
                f"param {self.name!r}: low <= high must hold, but got (low={self.low}, high={self.high})",
                value={"low": self.low, "high": self.high}, allowed="bounds with low <= high")
        if self.log and self.low <= 0:
            raise SearchSpaceError(f"param {self.name!r}: log scale needs low > 0, but got low={self.low}",
                                   value=self.low, allowed="low > 0 on a log scale")

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

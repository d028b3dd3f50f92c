"""Search-space value types: parameters, sampling, and the unit-cube encoding brains model on.

A :class:`SearchSpace` is data: an ordered tuple of parameters with one JSON form. Every
parameter validates itself in its constructor, so a space that exists is a valid space, and
nothing it samples or decodes can fall outside its bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from tao_automl.errors import SearchSpaceError

Config = dict[str, Any]


def _check_finite(name: str, **values: float) -> None:
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
        _check_finite(self.name, low=self.low, high=self.high)
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


@dataclass(frozen=True)
class CategoricalParam:
    """One of a fixed list of options, optionally weighted for random sampling. One-hot encoded."""

    name: str
    choices: tuple[Any, ...]
    weights: tuple[float, ...] | None = None
    default: Any = None

    def __post_init__(self) -> None:
        if not self.choices:
            raise SearchSpaceError(f"param {self.name!r}: needs at least one option")
        if self.weights is not None:
            if len(self.weights) != len(self.choices):
                raise SearchSpaceError(
                    f"param {self.name!r}: option_weights has {len(self.weights)} entries but there are "
                    f"{len(self.choices)} options {list(self.choices)}"
                )
            if any((not math.isfinite(w)) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise SearchSpaceError(
                    f"param {self.name!r}: option_weights must be non-negative with a positive sum, "
                    f"got {list(self.weights)}"
                )

    @property
    def width(self) -> int:
        return len(self.choices)

    def index(self, value: Any) -> int:
        for i, choice in enumerate(self.choices):
            if choice == value and type(choice) is type(value):
                return i
        for i, choice in enumerate(self.choices):
            if choice == value:
                return i
        raise SearchSpaceError(f"param {self.name!r}: {value!r} is not one of {list(self.choices)}")

    def encode(self, value: Any) -> list[float]:
        onehot = [0.0] * len(self.choices)
        onehot[self.index(value)] = 1.0
        return onehot

    def decode(self, unit: Sequence[float]) -> Any:
        return self.choices[int(np.argmax(np.asarray(unit[: len(self.choices)], dtype=float)))]

    def sample(self, rng: np.random.Generator) -> Any:
        if self.weights is None:
            return self.choices[int(rng.integers(len(self.choices)))]
        p = np.asarray(self.weights, dtype=float)
        return self.choices[int(rng.choice(len(self.choices), p=p / p.sum()))]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except SearchSpaceError:
            return False
        return True


@dataclass(frozen=True)
class BoolParam:
    """True or False, encoded as one 0/1 coordinate."""

    name: str
    default: bool | None = None
    weight_true: float = 0.5

    @property
    def width(self) -> int:
        return 1

    def encode(self, value: Any) -> list[float]:
        return [1.0 if value else 0.0]

    def decode(self, unit: Sequence[float]) -> bool:
        return bool(float(unit[0]) >= 0.5)

    def sample(self, rng: np.random.Generator) -> bool:
        return bool(rng.random() < self.weight_true)

    def contains(self, value: Any) -> bool:
        return isinstance(value, bool)


Param = Union[FloatParam, IntParam, CategoricalParam, BoolParam]  # noqa: UP007 (a runtime alias on 3.10)

_KINDS: dict[str, type] = {"float": FloatParam, "int": IntParam, "categorical": CategoricalParam, "bool": BoolParam}


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters, keyed by their dotted names."""

    params: tuple[Param, ...]
    _by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Param] = {}
        for param in self.params:
            if param.name in by_name:
                raise SearchSpaceError(f"param {param.name!r} appears twice in the search space")
            by_name[param.name] = param
        object.__setattr__(self, "_by_name", by_name)

    def __len__(self) -> int:
        return len(self.params)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def dim(self) -> int:
        """Number of coordinates of the unit-cube encoding."""
        return sum(p.width for p in self.params)

    def sample(self, rng: np.random.Generator) -> Config:
        return {p.name: p.sample(rng) for p in self.params}

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a config to a point of the unit cube (log params on log scale, one-hot categoricals)."""
        coords: list[float] = []
        for p in self.params:
            coords.extend(p.encode(config[p.name]))
        return np.asarray(coords, dtype=float)

    def decode(self, x: Sequence[float] | np.ndarray) -> Config:
        """Map a point of the unit cube back to a valid config (always inside the bounds)."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"expected a vector of length {self.dim}, got shape {x.shape}")
        config: Config = {}
        offset = 0
        for p in self.params:
            config[p.name] = p.decode(list(x[offset : offset + p.width]))
            offset += p.width
        return config

    def violations(self, config: Mapping[str, Any]) -> list[str]:
        """Human-readable reasons why ``config`` is not a member of this space (empty when it is)."""
        problems = [f"missing param {p.name!r}" for p in self.params if p.name not in config]
        problems += [f"unknown param {k!r}" for k in config if k not in self._by_name]
        for p in self.params:
            if p.name in config and not p.contains(config[p.name]):
                problems.append(f"param {p.name!r}: {config[p.name]!r} is outside {describe(p)}")
        return problems

    def contains(self, config: Mapping[str, Any]) -> bool:
        return not self.violations(config)

    def to_json(self) -> list[dict[str, Any]]:
        """The one JSON form of the space (stable: used for run fingerprints)."""
        out: list[dict[str, Any]] = []
        for p in self.params:
            if isinstance(p, FloatParam):
                out.append({"name": p.name, "type": "float", "low": p.low, "high": p.high, "log": p.log,
                            "default": p.default})
            elif isinstance(p, IntParam):
                out.append({"name": p.name, "type": "int", "low": p.low, "high": p.high, "log": p.log,
                            "default": p.default})
            elif isinstance(p, CategoricalParam):
                out.append({"name": p.name, "type": "categorical", "choices": list(p.choices),
                            "weights": None if p.weights is None else list(p.weights), "default": p.default})
            else:
                out.append({"name": p.name, "type": "bool", "default": p.default, "weight_true": p.weight_true})
        return out

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> SearchSpace:
        params: list[Param] = []
        for item in data:
            kind = item.get("type")
            if kind not in _KINDS:
                raise SearchSpaceError(f"unknown param type {kind!r}; allowed: {sorted(_KINDS)}")
            fields = {k: v for k, v in item.items() if k != "type"}
            if kind == "categorical":
                fields["choices"] = tuple(fields["choices"])
                if fields.get("weights") is not None:
                    fields["weights"] = tuple(fields["weights"])
            params.append(_KINDS[kind](**fields))
        return cls(tuple(params))


def describe(p: Param) -> str:
    """What values a parameter allows, for error messages."""
    if isinstance(p, (FloatParam, IntParam)):
        scale = ", log scale" if p.log else ""
        return f"[{p.low}, {p.high}] ({'float' if isinstance(p, FloatParam) else 'int'}{scale})"
    if isinstance(p, CategoricalParam):
        return f"options {list(p.choices)}"
    return "{True, False}"

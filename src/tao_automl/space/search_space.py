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
from tao_automl.space.grid import IntGridParam as IntGridParam
from tao_automl.space.lists import ListParam as ListParam
from tao_automl.space.lists import OptionalListParam as OptionalListParam
from tao_automl.space.lists import SubsetParam as SubsetParam
from tao_automl.space.numeric import FloatParam as FloatParam
from tao_automl.space.numeric import IntParam as IntParam
from tao_automl.space.relations import FLIP, OPS, candidates, closest_allowed, relation_from_json, repair
from tao_automl.space.relations import Relation as Relation

Config = dict[str, Any]


@dataclass(frozen=True)
class CategoricalParam:
    """One of a fixed list of options, optionally weighted for random sampling. One-hot encoded."""

    name: str
    choices: tuple[Any, ...]
    weights: tuple[float, ...] | None = None
    default: Any = None

    def __post_init__(self) -> None:
        if not self.choices:
            raise SearchSpaceError(f"param {self.name!r}: needs at least one option", allowed="one or more choices")
        if self.weights is not None:
            if len(self.weights) != len(self.choices):
                raise SearchSpaceError(
                    f"param {self.name!r}: option_weights has {len(self.weights)} entries but there are "
                    f"{len(self.choices)} options {list(self.choices)}",
                    value=list(self.weights), allowed=f"{len(self.choices)} weights, one per option")
            if any((not math.isfinite(w)) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise SearchSpaceError(
                    f"param {self.name!r}: option_weights must be non-negative with a positive sum, "
                    f"got {list(self.weights)}",
                    value=list(self.weights), allowed="finite weights >= 0 with a sum > 0")

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
        raise SearchSpaceError(f"param {self.name!r}: {value!r} is not one of {list(self.choices)}", value=value,
                               allowed=list(self.choices))

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


Param = Union[  # noqa: UP007 (a runtime alias on 3.10)
    FloatParam, IntParam, CategoricalParam, BoolParam, IntGridParam, ListParam, SubsetParam, OptionalListParam
]

#: Draws :meth:`SearchSpace.sample` makes before it repairs one that breaks a relation.
SAMPLE_REDRAWS = 32

_KINDS: dict[str, type] = {"float": FloatParam, "int": IntParam, "categorical": CategoricalParam, "bool": BoolParam}
_NESTED_KINDS: dict[str, Any] = {
    "list": ListParam.from_json,
    "subset": SubsetParam.from_json,
    "optional_list": OptionalListParam.from_json,
}


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters, keyed by their dotted names, with relations between them.

    ``relations`` (see :mod:`tao_automl.space.relations`) are enforced by a repair step inside
    :meth:`sample` and :meth:`decode`, so every brain gets valid configs, and checked by
    :meth:`violations`. They are applied in the given order (parents before dependents).
    """

    params: tuple[Param, ...]
    relations: tuple[Relation, ...] = ()
    #: the schema's default params the space left out, each ``name (why)`` (shown by preflight and the tools)
    skipped: tuple[str, ...] = field(default=(), compare=False)
    _by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Param] = {}
        for param in self.params:
            if param.name in by_name:
                raise SearchSpaceError(f"param {param.name!r} appears twice in the search space", value=param.name,
                                       allowed="each param name once")
            by_name[param.name] = param
        object.__setattr__(self, "_by_name", by_name)
        for rel in self.relations:
            self._check_relation(rel)
        if len(self.relations) > 1:
            self._check_together()

    def _check_together(self) -> None:
        """Relations that each can hold but not all at once (``x < y < z`` with ``x`` in [5, 10], ``z`` in [1, 5])
        are refused: no config keeps them all, and the first rec stopped the run with "proposed an invalid config".
        Each param's bounds are narrowed by the relations until nothing changes; an empty range proves it."""
        box = {name: candidates(self[name])[:3] for rel in self.relations for name in (rel.left, rel.right)}
        for _ in range(len(self.relations) * len(box) + 1):
            changed = False
            for rel in self.relations:
                up = rel.op in (">", ">=")
                # the dependent's far side bounds the parent's, and the parent's near side bounds the dependent's
                for name, op, other, lower in ((rel.left, rel.op, rel.right, up),
                                               (rel.right, FLIP[rel.op], rel.left, not up)):
                    low, high, integer = box[name]
                    bound = closest_allowed(op, box[other][0 if lower else 1], integer)
                    new = (max(low, bound), high) if lower else (low, min(high, bound))
                    if new != (low, high):
                        box[name], changed = (*new, integer), True
                    if new[0] > new[1]:
                        ranges = ", ".join(f"{n} in {describe(self[n])}" for n in box)
                        raise SearchSpaceError(
                            f"relations {', '.join(map(str, self.relations))} cannot all hold at once: {ranges}; "
                            f"allowed: ranges where some value of each keeps every relation (here {name} has none "
                            "left)", value=[str(r) for r in self.relations],
                            allowed="ranges that leave each param a value keeping every relation")
            if not changed:
                return

    def _check_relation(self, rel: Relation) -> None:
        if not isinstance(rel, Relation):
            raise SearchSpaceError(f"relations must be Relation objects, got {rel!r}", value=rel,
                                   allowed="Relation objects")
        for name in (rel.left, rel.right):
            if name not in self._by_name:
                raise SearchSpaceError(f"relation {rel}: {name!r} is not a param of the space; have {self.names}",
                                       value=name, allowed=list(self.names))
        (l_lo, l_hi, _, _), (r_lo, r_hi, _, _) = candidates(self[rel.left]), candidates(self[rel.right])
        up = rel.op in (">", ">=")
        far_left, far_right = (l_hi, r_lo) if up else (l_lo, r_hi)
        if not OPS[rel.op](far_left, far_right):
            raise SearchSpaceError(
                f"relation {rel} cannot hold: {rel.left} in {describe(self[rel.left])}, "
                f"{rel.right} in {describe(self[rel.right])}",
                value=str(rel), allowed="a relation that some values of both params' ranges keep")

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
        """A random config, uniform over those that keep every relation: draws are redrawn (up to
        ``SAMPLE_REDRAWS`` times) until the relations hold, and only a space where that keeps failing has its last
        draw repaired. Repairing every draw moved each broken one to the nearest allowed value, so half of the
        samples of ``hi >= lo`` sat exactly on ``hi == lo``."""
        config = {p.name: p.sample(rng) for p in self.params}
        if not self.relations:
            return config
        for _ in range(SAMPLE_REDRAWS):
            if all(rel.holds(config) for rel in self.relations):
                return config
            config = {p.name: p.sample(rng) for p in self.params}
        return self.repair(config)

    def repair(self, config: Config) -> Config:
        """``config`` with every relation enforced (dependents moved, see space_relations)."""
        return repair(self._by_name, self.relations, config) if self.relations else config

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a config to a point of the unit cube (log params on log scale, one-hot categoricals)."""
        coords: list[float] = []
        for p in self.params:
            coords.extend(p.encode(config[p.name]))
        return np.asarray(coords, dtype=float)

    def decode(self, x: Sequence[float] | np.ndarray, *, keep_relations: bool = True) -> Config:
        """Map a point of the unit cube back to a valid config (always inside the bounds); ``keep_relations=False``:
        each param's value as decoded, a relation it breaks left broken (a caller that prefers points keeping them)."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"expected a vector of length {self.dim}, got shape {x.shape}")
        config: Config = {}
        offset = 0
        for p in self.params:
            config[p.name] = p.decode(list(x[offset : offset + p.width]))
            offset += p.width
        return self.repair(config) if keep_relations else config

    def violations(self, config: Mapping[str, Any]) -> list[str]:
        """Human-readable reasons why ``config`` is not a member of this space (empty when it is)."""
        problems = [f"missing param {p.name!r}" for p in self.params if p.name not in config]
        problems += [f"unknown param {k!r}" for k in config if k not in self._by_name]
        for p in self.params:
            if p.name in config and not p.contains(config[p.name]):
                problems.append(f"param {p.name!r}: {config[p.name]!r} is outside {describe(p)}")
        for rel in self.relations:
            if rel.left in config and rel.right in config and not rel.holds(config):
                problems.append(
                    f"relation {rel} fails: {rel.left}={config[rel.left]!r}, {rel.right}={config[rel.right]!r}"
                )
        return problems

    def contains(self, config: Mapping[str, Any]) -> bool:
        return not self.violations(config)

    def to_json(self) -> list[dict[str, Any]]:
        """The one JSON form of the space (stable: used for run fingerprints)."""
        out: list[dict[str, Any]] = []
        for p in self.params:
            if isinstance(p, CategoricalParam):
                out.append({"name": p.name, "type": "categorical", "choices": list(p.choices),
                            "weights": None if p.weights is None else list(p.weights), "default": p.default})
            elif isinstance(p, BoolParam):
                out.append({"name": p.name, "type": "bool", "default": p.default, "weight_true": p.weight_true})
            else:
                out.append(p.to_json())
        out.extend(rel.to_json() for rel in self.relations)
        return out

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> SearchSpace:
        params: list[Param] = []
        relations: list[Relation] = []
        for item in data:
            kind = item.get("type")
            if kind == "relation":
                relations.append(relation_from_json(item))
                continue
            if kind in _NESTED_KINDS:
                params.append(_NESTED_KINDS[kind](dict(item)))
                continue
            if kind == "int_grid":
                params.append(IntGridParam(**{k: v for k, v in item.items() if k != "type"}))
                continue
            if kind not in _KINDS:
                allowed = sorted([*_KINDS, *_NESTED_KINDS, "int_grid", "relation"])
                raise SearchSpaceError(f"unknown param type {kind!r}; allowed: {allowed}", value=kind, allowed=allowed)
            fields = {k: v for k, v in item.items() if k != "type"}
            if kind == "categorical":
                fields["choices"] = tuple(fields["choices"])
                if fields.get("weights") is not None:
                    fields["weights"] = tuple(fields["weights"])
            params.append(_KINDS[kind](**fields))
        return cls(tuple(params), tuple(relations))


def describe(p: Param) -> str:
    """What values a parameter allows, for error messages."""
    if isinstance(p, CategoricalParam):
        return f"options {list(p.choices)}"
    if isinstance(p, BoolParam):
        return "{True, False}"
    return p.describe()

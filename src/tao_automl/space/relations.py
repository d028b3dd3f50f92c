"""Relations between two numeric params of a space, and the repair that enforces them.

A :class:`Relation` ``left op right`` (``op`` one of ``< <= > >=``) says the value of ``left``
must compare so with the value of ``right`` (TAO ``depends_on``: ``left`` is the dependent,
``right`` the param it depends on, which the schema marks ``parent_param``). Parents are decided
first; :func:`repair` then moves the dependent to the nearest value of its own range that honours
the relation. When no value of the dependent's range can (the parent sits at an extreme), the parent
is moved instead to the nearest value that leaves room, and the dependent is repaired again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.util.numbers import is_finite_number

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Relation:
    """``left op right`` between the values of two params."""

    left: str
    op: str
    right: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise SearchSpaceError(f"relation {self.left!r} {self.op!r} {self.right!r}: op must be one of {list(OPS)}",
                                   value=self.op, allowed=list(OPS))
        if self.left == self.right:
            raise SearchSpaceError(f"relation on {self.left!r}: a param cannot depend on itself", value=self.right,
                                   allowed="a param other than the left one")

    def holds(self, config: Mapping[str, Any]) -> bool:
        a, b = config.get(self.left), config.get(self.right)
        if is_finite_number(a) and is_finite_number(b):
            return OPS[self.op](float(a), float(b))
        return False

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    def to_json(self) -> dict[str, Any]:
        return {"type": "relation", "left": self.left, "op": self.op, "right": self.right}


def candidates(param: Any) -> tuple[float, float, bool, tuple[float, ...] | None]:
    """``(low, high, integer, grid)`` of a numeric param (a grid, a range, or a choice among numbers: an int or float
    schema param with options); a SearchSpaceError for any other kind."""
    values = getattr(param, "values", None)
    if isinstance(values, tuple) and values:
        return float(values[0]), float(values[-1]), True, values
    choices = getattr(param, "choices", None)
    if isinstance(choices, tuple) and choices and all(is_finite_number(c) for c in choices):
        ordered = tuple(sorted(choices))
        return float(ordered[0]), float(ordered[-1]), all(isinstance(c, int) for c in choices), ordered
    low, high = getattr(param, "low", None), getattr(param, "high", None)
    if is_finite_number(low) and is_finite_number(high):
        return float(low), float(high), isinstance(low, int), None
    raise SearchSpaceError(f"param {getattr(param, 'name', param)!r}: relations need a scalar numeric param",
                           allowed="a float, int, int grid or numeric-choice param")


def closest_allowed(op: str, other: float, integer: bool) -> float:
    """The value nearest ``other`` with ``x op other``: the lowest for ``>``/``>=``, the highest for ``<``/``<=``
    (an integer when ``integer``; for floats, the next representable float past a strict bound)."""
    if op in (">", ">="):
        bound = other if op == ">=" else (math.floor(other) + 1 if integer else math.nextafter(other, math.inf))
        return math.ceil(bound) if integer else bound
    bound = other if op == "<=" else (math.ceil(other) - 1 if integer else math.nextafter(other, -math.inf))
    return math.floor(bound) if integer else bound


def nearest_ok(param: Any, value: float, op: str, other: float) -> float | int | None:
    """The value of ``param`` closest to ``value`` with ``x op other``; None when none exists."""
    low, high, integer, grid = candidates(param)
    if grid is not None:
        ok = [g for g in grid if OPS[op](g, other)]
        return min(ok, key=lambda g: (abs(g - value), g)) if ok else None
    bound = closest_allowed(op, other, integer)
    target = max(value, bound) if op in (">", ">=") else min(value, bound)
    if not low <= target <= high:
        return None
    return int(target) if integer else float(target)


FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


#: Passes :func:`repair` makes, per relation, over the relations a first pass left broken (chained relations).
EXTRA_PASSES = 2


def repair(params: Mapping[str, Any], relations: tuple[Relation, ...], config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with every relation enforced as the module docstring says (in place, returned).

    A parent moved for its dependent can break a relation that parent has with its own parent (``x < y < z`` with a
    narrower ``z``: ``y`` moved below ``z``'s top falls under ``x``). Relations a first pass leaves broken are then
    repaired again, each by moving its dependent when that keeps the relations that hold, else its parent."""
    _first_pass(params, relations, config)
    for _ in range(EXTRA_PASSES * len(relations)):
        broken = [rel for rel in relations if rel.left in config and rel.right in config and not rel.holds(config)]
        if not broken:
            break
        for rel in broken:
            if not rel.holds(config):
                _repair_again(params, relations, rel, config)
    return config


def _keeps(relations: tuple[Relation, ...], config: Mapping[str, Any], name: str, value: float) -> bool:
    """Whether setting ``name`` to ``value`` keeps every relation of ``name`` that holds now."""
    moved = {**config, name: value}
    return all(rel.holds(moved) or not rel.holds(config) for rel in relations if name in (rel.left, rel.right))


def _repair_again(params: Mapping[str, Any], relations: tuple[Relation, ...], rel: Relation,
                  config: dict[str, Any]) -> None:
    """Make ``rel`` hold: move its dependent when that keeps the relations holding now, else its parent (to the
    value nearest its own that leaves the dependent where it is), else the dependent anyway."""
    left, right = float(config[rel.left]), float(config[rel.right])
    fixed = nearest_ok(params[rel.left], left, rel.op, right)
    if fixed is not None and _keeps(relations, config, rel.left, fixed):
        config[rel.left] = fixed
        return
    moved = nearest_ok(params[rel.right], right, FLIP[rel.op], left)
    if moved is not None:
        config[rel.right] = moved
    elif fixed is not None:
        config[rel.left] = fixed


def _first_pass(params: Mapping[str, Any], relations: tuple[Relation, ...], config: dict[str, Any]) -> None:
    for rel in relations:
        if rel.left not in config or rel.right not in config or rel.holds(config):
            continue
        left, right = params[rel.left], params[rel.right]
        fixed = nearest_ok(left, float(config[rel.left]), rel.op, float(config[rel.right]))
        if fixed is None:
            # Move the parent so that the dependent's own range has room, then repair the dependent.
            low, high, _, _ = candidates(left)
            edge = high if rel.op in (">", ">=") else low
            moved = nearest_ok(right, float(config[rel.right]), FLIP[rel.op], edge)
            if moved is None:
                continue
            config[rel.right] = moved
            fixed = nearest_ok(left, float(config[rel.left]), rel.op, float(moved))
        if fixed is not None:
            config[rel.left] = fixed


def relation_from_json(data: Mapping[str, Any]) -> Relation:
    return Relation(str(data["left"]), str(data["op"]), str(data["right"]))

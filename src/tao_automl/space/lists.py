"""List-valued parameter types.

* :class:`ListParam` - a fixed-length list of numbers, each element its own Float/IntParam
  (own bounds, int or float, linear or log); one unit-cube coordinate per element.
* :class:`SubsetParam` - a subset of a fixed option list (TAO ``subset_list``), in option order;
  one 0/1 coordinate per option. Non-empty unless ``allow_empty``; a decode that selects nothing
  keeps the option with the largest coordinate.
* :class:`OptionalListParam` - a :class:`ListParam` or the empty list (TAO ``optional_list``):
  one 0/1 "present" coordinate, then the list's coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from tao_automl.errors import SearchSpaceError
from tao_automl.space.numeric import FloatParam, IntParam

Element = Union[FloatParam, IntParam]  # noqa: UP007 (a runtime alias on 3.10)


def element_from_json(data: dict[str, Any]) -> Element:
    fields = {k: v for k, v in data.items() if k != "type"}
    if data.get("type") == "int":
        return IntParam(**fields)
    if data.get("type") == "float":
        return FloatParam(**fields)
    raise SearchSpaceError(f"list element type {data.get('type')!r} is not one of ['float', 'int']",
                           value=data.get("type"), allowed=["float", "int"])


@dataclass(frozen=True)
class ListParam:
    """A list of ``len(elements)`` numbers; element ``i`` lies in ``elements[i]``."""

    name: str
    elements: tuple[Element, ...]
    default: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.elements:
            raise SearchSpaceError(f"param {self.name!r}: a list param needs at least one element",
                                   allowed="one or more FloatParam/IntParam elements")
        if not all(isinstance(e, (FloatParam, IntParam)) for e in self.elements):
            raise SearchSpaceError(f"param {self.name!r}: list elements must be FloatParam or IntParam",
                                   allowed=["FloatParam", "IntParam"])
        if self.default is not None and len(self.default) != len(self.elements):
            raise SearchSpaceError(
                f"param {self.name!r}: default {list(self.default)} has {len(self.default)} entries, "
                f"expected {len(self.elements)}",
                value=list(self.default), allowed=f"a default of {len(self.elements)} numbers, one per element")

    @property
    def width(self) -> int:
        return len(self.elements)

    def encode(self, value: Any) -> list[float]:
        if not isinstance(value, (list, tuple)) or len(value) != len(self.elements):
            raise SearchSpaceError(f"param {self.name!r}: {value!r} is not a list of {len(self.elements)} numbers",
                                   value=value, allowed=self.describe())
        return [c for e, v in zip(self.elements, value, strict=True) for c in e.encode(v)]

    def decode(self, unit: Sequence[float]) -> list[Any]:
        return [e.decode([u]) for e, u in zip(self.elements, unit, strict=False)]

    def sample(self, rng: np.random.Generator) -> list[Any]:
        return [e.sample(rng) for e in self.elements]

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(self.elements)
            and all(e.contains(v) for e, v in zip(self.elements, value, strict=True))
        )

    def describe(self) -> str:
        return "list of " + ", ".join(e.describe() for e in self.elements)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": "list", "elements": [e.to_json() for e in self.elements],
                "default": None if self.default is None else list(self.default)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ListParam:
        default = data.get("default")
        return cls(data["name"], tuple(element_from_json(dict(e)) for e in data["elements"]),
                   None if default is None else tuple(default))


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and type(a) is type(b)


@dataclass(frozen=True)
class SubsetParam:
    """A subset of ``options`` (kept in option order); empty only when ``allow_empty``."""

    name: str
    options: tuple[Any, ...]
    allow_empty: bool = False
    default: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if not self.options:
            raise SearchSpaceError(f"param {self.name!r}: a subset param needs at least one option",
                                   allowed="one or more distinct options")
        for i, option in enumerate(self.options):
            if any(_same(option, other) for other in self.options[:i]):
                raise SearchSpaceError(f"param {self.name!r}: option {option!r} appears twice", value=option,
                                       allowed="distinct options, each once")

    @property
    def width(self) -> int:
        return len(self.options)

    def _picked(self, value: Any) -> list[int] | None:
        if not isinstance(value, (list, tuple)):
            return None
        picked: list[int] = []
        for item in value:
            index = next((i for i, o in enumerate(self.options) if _same(o, item)), None)
            if index is None or index in picked:
                return None
            picked.append(index)
        return picked

    def encode(self, value: Any) -> list[float]:
        picked = self._picked(value)
        if picked is None:
            raise SearchSpaceError(f"param {self.name!r}: {value!r} is not a subset of {list(self.options)}",
                                   value=value, allowed=f"a list of distinct items of {list(self.options)}")
        return [1.0 if i in picked else 0.0 for i in range(len(self.options))]

    def decode(self, unit: Sequence[float]) -> list[Any]:
        u = np.asarray(unit[: len(self.options)], dtype=float)
        keep = u >= 0.5
        if not keep.any() and not self.allow_empty:
            keep[int(np.argmax(u))] = True
        return [o for o, k in zip(self.options, keep, strict=True) if k]

    def snap(self, block: np.ndarray) -> np.ndarray:
        """Vectorised ``encode(decode(rows))`` of this param's columns."""
        bits = (block >= 0.5).astype(float)
        if not self.allow_empty:
            empty = bits.sum(axis=1) == 0
            bits[np.flatnonzero(empty), np.argmax(block[empty], axis=1)] = 1.0
        return bits

    def sample(self, rng: np.random.Generator) -> list[Any]:
        return self.decode(list(rng.random(len(self.options))))

    def contains(self, value: Any) -> bool:
        picked = self._picked(value)
        return picked is not None and (self.allow_empty or bool(picked))

    def describe(self) -> str:
        return f"subsets of {list(self.options)}" + (" (may be empty)" if self.allow_empty else " (non-empty)")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": "subset", "options": list(self.options), "allow_empty": self.allow_empty,
                "default": None if self.default is None else list(self.default)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubsetParam:
        default = data.get("default")
        return cls(data["name"], tuple(data["options"]), bool(data.get("allow_empty", False)),
                   None if default is None else tuple(default))


@dataclass(frozen=True)
class OptionalListParam:
    """Either the empty list or a value of ``inner`` (a :class:`ListParam`)."""

    name: str
    inner: ListParam
    default: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.inner, ListParam):
            raise SearchSpaceError(f"param {self.name!r}: an optional list wraps a ListParam",
                                   allowed="a ListParam as inner")

    @property
    def width(self) -> int:
        return 1 + self.inner.width

    def encode(self, value: Any) -> list[float]:
        if isinstance(value, (list, tuple)) and not value:
            return [0.0] + [0.5] * self.inner.width
        return [1.0, *self.inner.encode(value)]

    def decode(self, unit: Sequence[float]) -> list[Any]:
        if float(unit[0]) < 0.5:
            return []
        return self.inner.decode(list(unit[1:]))

    def sample(self, rng: np.random.Generator) -> list[Any]:
        return self.inner.sample(rng) if rng.random() < 0.5 else []

    def contains(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple)) and not value) or self.inner.contains(value)

    def describe(self) -> str:
        return f"[] or {self.inner.describe()}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": "optional_list", "inner": self.inner.to_json(),
                "default": None if self.default is None else list(self.default)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OptionalListParam:
        default = data.get("default")
        return cls(data["name"], ListParam.from_json(dict(data["inner"])), None if default is None else tuple(default))

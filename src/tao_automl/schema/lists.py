"""List-valued params from a schema property: numeric lists, ``subset_list``, ``optional_list``.

* **Numeric lists** - type ``list`` (or ``list_<N>``), or a ``float``/``int`` with list bounds.
  The length comes from the default list, else from the list bounds. Element ``i`` gets the
  schema's ``i``-th bound (a scalar bound applies to every element), the property's numeric
  ``math_cond``, ``scale``, description and title, and the ``i``-th default, and is then built by
  the float/int rules of :mod:`tao_automl.schema.bounds` (name ``<name>[i]``). Elements are ints
  when the property type is int, else when every default element and bound is an integer; else
  floats. Unbounded elements of a list whose name has a unit-like token (``beta``, ``momentum``,
  ``prob``, ...) and whose defaults lie in ``[0, 1)`` are searched in ``[0, 1)``: such lists are
  Adam-style betas or probabilities, where 1 itself is degenerate. An element without schema bounds
  whose default is at least ``ODDS_FROM`` (0.5) is a coefficient near 1 (Adam's 0.9 and 0.999),
  searched by its odds like a scalar one (:func:`tao_automl.schema.bounds.near_one_range`: logit
  scale, 0.9 -> [0.47, 0.989], 0.999 -> [0.990, 0.9999]; a custom range replaces the sides it
  gives): uniform in [0, 1) put half of the beta2 draws below 0.5. A list whose default or bounds
  hold anything but numbers (strings, dicts, nested lists, empty) is not searchable.
* **subset_list** - a non-empty subset of ``enum``/``valid_options`` (custom ``valid_options``/
  ``disable_list`` narrow them).
* **optional_list** - with options: a subset that may be empty; numeric: the numeric list or ``[]``.

A custom range on a numeric list takes ``valid_min``/``valid_max`` as a scalar (every element) or
a list of the list's length, and ``scale``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.schema.bounds import ODDS_FROM, UNIT_KEY, build_float, build_int
from tao_automl.schema.choices import OPTION_KEYS, narrow_options, schema_options
from tao_automl.schema.custom import CustomRange, reject_keys
from tao_automl.space.search_space import FloatParam, IntGridParam, IntParam, ListParam, OptionalListParam, SubsetParam
from tao_automl.util.numbers import is_finite_number, is_number

BOUND_KEYS = ("minimum", "maximum", "valid_min", "valid_max")
LIST_TYPE = re.compile(r"list(_[0-9]+)?")  # used with fullmatch: "list\n" and "list_<non-ASCII digit>" are no list
_UNIT_LIST_TOKENS = frozenset({"beta", "betas", "prob", "probs", "probability", "momentum", "dropout", "ratio"})


def _is_bound(value: Any) -> bool:
    return value is None or isinstance(value, str) or is_number(value)


def list_length(prop: Mapping[str, Any]) -> int | None:
    """The element count of a numeric list property, or None when it is not a searchable number list."""
    default = prop.get("default")
    lengths = {len(prop[k]) for k in BOUND_KEYS if isinstance(prop.get(k), list)}
    if isinstance(default, list):
        if not all(is_finite_number(v) for v in default):
            return None
        if default:
            lengths.add(len(default))
    elif default is not None and not is_finite_number(default):
        return None
    if len(lengths) != 1 or 0 in lengths:
        return None
    for key in BOUND_KEYS:
        value = prop.get(key)
        items = value if isinstance(value, list) else [value]
        if not all(_is_bound(v) for v in items):
            return None
    return lengths.pop()


def is_numeric_list(prop: Mapping[str, Any]) -> bool:
    """A list-typed property (or a number with list bounds) whose elements are searchable numbers."""
    kind = str(prop.get("type"))
    list_typed = bool(LIST_TYPE.fullmatch(kind)) or (
        kind in ("float", "number", "int", "integer") and any(isinstance(prop.get(k), list) for k in BOUND_KEYS)
    )
    return list_typed and list_length(prop) is not None


def _pick(value: Any, i: int) -> Any:
    """Element ``i`` of a list value (None past its end: an empty default, ``[]``, gives no element default), or the
    scalar value itself (it applies to every element)."""
    if isinstance(value, list):
        return value[i] if i < len(value) else None
    return value


def _integer(prop: Mapping[str, Any], n: int) -> bool:
    if prop.get("type") in ("int", "integer"):
        return True
    if prop.get("type") in ("float", "number"):
        return False
    values = [_pick(prop.get("default"), i) for i in range(n)]
    values += [_pick(prop.get(k), i) for k in BOUND_KEYS for i in range(n) if prop.get(k) is not None]
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values if v is not None)


def _numeric_cond(prop: Mapping[str, Any]) -> str:
    cond = prop.get("math_cond")
    return cond if isinstance(cond, str) and not re.search(r"[\^/]", cond) else ""


def _element_custom(name: str, custom: CustomRange | None, i: int, n: int) -> CustomRange | None:
    if custom is None:
        return None
    values = []
    for key in ("valid_min", "valid_max"):
        value = getattr(custom, key)
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise SearchSpaceError(
                    f"{custom.where(key)}={list(value)!r} has {len(value)} entries; {name!r} has {n} elements",
                    value=list(value),
                    allowed=f"a number, or a list of {n} numbers (one per element)")
            value = value[i]
        values.append(value)
    return CustomRange(f"{name}[{i}]", valid_min=values[0], valid_max=values[1], scale=custom.scale)


def _unit_like(name: str, prop: Mapping[str, Any], n: int) -> bool:
    tokens = set(re.split(r"[^a-z0-9]+", name.rsplit(".", 1)[-1].lower()))
    defaults = [_pick(prop.get("default"), i) for i in range(n)]
    return bool(tokens & _UNIT_LIST_TOKENS) and all(is_finite_number(d) and 0 <= d < 1 for d in defaults)


def _unbounded(element: Mapping[str, Any]) -> bool:
    return all(element.get(k) is None for k in BOUND_KEYS) and not element.get("math_cond")


def build_list(name: str, prop: Mapping[str, Any], custom: CustomRange | None) -> ListParam:
    """A ListParam by the numeric-list rules of the module docstring."""
    if custom is not None:
        reject_keys(custom, OPTION_KEYS, "list", ("valid_min", "valid_max", "scale"))
    n = list_length(prop)
    if n is None:
        raise SearchSpaceError(f"schema param {name!r}: not a list of numbers",
                               allowed="a list of numbers of a fixed length (its default or bounds say how many)")
    integer = _integer(prop, n)
    unit = not integer and _unit_like(name, prop, n)
    elements: list[FloatParam | IntParam] = []
    for i in range(n):
        element: dict[str, Any] = {
            "type": "int" if integer else "float",
            **{k: prop[k] for k in ("description", "title", "scale") if k in prop},
            **{k: _pick(prop[k], i) for k in BOUND_KEYS if prop.get(k) is not None},
            "math_cond": _numeric_cond(prop),
        }
        default = _pick(prop.get("default"), i)
        if is_finite_number(default):
            element["default"] = int(default) if integer and float(default).is_integer() else default
        if unit and _unbounded(element) and is_finite_number(default) and default >= ODDS_FROM:
            element[UNIT_KEY] = True  # a coefficient near 1: build_float searches it by its odds
        if unit and element.get("maximum") is None and element.get("valid_max") is None:
            element["maximum"], element["math_cond"] = 1.0, f"{element['math_cond']} < 1".strip()
            element.setdefault("minimum", 0.0)
        build = build_int if integer else build_float
        param = build(f"{name}[{i}]", element, _element_custom(name, custom, i, n))
        if isinstance(param, IntGridParam):  # pragma: no cover - grids are stripped from element conds
            raise SearchSpaceError(f"schema param {name!r}: list elements cannot be grids")
        elements.append(param)
    default = prop.get("default")
    inside = isinstance(default, list) and len(default) == len(elements) and all(
        e.contains(v) for e, v in zip(elements, default, strict=True))
    return ListParam(name, tuple(elements), tuple(default) if inside and isinstance(default, list) else None)


def build_subset(name: str, prop: Mapping[str, Any], custom: CustomRange | None) -> SubsetParam:
    """A subset of the (narrowed) options; empty allowed only for ``optional_list``."""
    if custom is not None:
        reject_keys(custom, ("valid_min", "valid_max", "scale", "option_weights"), "subset",
                    ("valid_options", "disable_list"))
    options, _ = narrow_options(name, schema_options(prop) or [], None, custom)
    default = prop.get("default")
    param = SubsetParam(name, tuple(options), allow_empty=prop.get("type") == "optional_list")
    return SubsetParam(name, param.options, param.allow_empty,
                       tuple(default) if isinstance(default, list) and param.contains(default) else None)


def build_optional(name: str, prop: Mapping[str, Any], custom: CustomRange | None) -> OptionalListParam | SubsetParam:
    """``optional_list``: a maybe-empty subset when it has options, else a numeric list or ``[]``."""
    if schema_options(prop) is not None:
        return build_subset(name, prop, custom)
    inner = build_list(name, prop, custom)
    return OptionalListParam(name, inner, inner.default)


def list_kind(prop: Mapping[str, Any]) -> str | None:
    """``list``/``subset``/``optional_list`` when the property is a searchable list, else None."""
    kind = prop.get("type")
    if kind == "subset_list":
        return "subset" if schema_options(prop) is not None else None
    if kind == "optional_list":
        return "optional_list" if schema_options(prop) is not None or list_length(prop) is not None else None
    return "list" if is_numeric_list(prop) else None



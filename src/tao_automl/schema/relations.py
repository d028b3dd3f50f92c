"""Relations between searched params from the schema's ``depends_on`` / ``parent_param``.

What the real schemas hold: a dependent property names the param it depends on in
``depends_on`` (a dotted name; several are comma-separated or a list of names, anything else is a SearchSpaceError
for a searched param; a name the schema lacks that names a sibling in
the dependent's group, ``depends_on: "lo"`` inside ``g``, is that sibling), and the param depended on carries
``parent_param: "TRUE"``. The comparison comes from the dependent's ``math_cond`` when it has the
form ``<op> depends_on`` (``train_random_crop_max``: ``"> depends_on"``, a max above a min). Without
one (``num_select`` depends on ``num_queries``) the operator is inferred from the two schema
defaults: ``<=`` when the dependent's default is at most the parent's (a top-k can not exceed its
pool), else ``>=``; ``<=`` when a default is missing.

* Both searched (scalar numeric params): a :class:`~tao_automl.space.search_space.Relation` on the space; its
  repair step keeps each sampled/decoded config valid.
* One searched, the other fixed (a number): the searched one's range is tightened to honour the relation
  against the fixed one's value in the job's base spec (:class:`~tao_automl.schema.baseline.Baseline`: the
  template and ``spec_overrides`` over the schema default; the schema default alone when no base is given).
  A range that leaves no value is a SearchSpaceError naming both keys, the fixed value and where it came from.
  A fixed value that is not a number though its schema type is (``"6"`` for an int) is a SearchSpaceError.
* Otherwise (list-valued params, a bool or text param, no value) the relation is not enforced;
  :func:`unenforced_relations` notes it (the run's notes).

Relations are ordered so that a param's own parents are repaired before it is used as a parent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.schema.access import get_property
from tao_automl.schema.baseline import SCHEMA_DEFAULT, Baseline
from tao_automl.space.relations import OPS, closest_allowed
from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    FloatParam,
    IntGridParam,
    IntParam,
    Param,
    Relation,
    describe,
)
from tao_automl.util.digits import apart
from tao_automl.util.numbers import is_finite_number
from tao_automl.util.yaml_numbers import number_as_text_hint

_OP = re.compile(r"(>=|<=|>|<)\s*depends_on")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
Scalar = (FloatParam, IntParam, IntGridParam)


def is_numeric(param: Param | None) -> bool:
    """A param a relation can compare: a number range or grid, or a choice among numbers (an int/float with
    options)."""
    if isinstance(param, CategoricalParam):
        return all(_number(c) is not None for c in param.choices)
    return isinstance(param, Scalar)


def _number(value: Any) -> float | None:
    return float(value) if is_finite_number(value) else None


def parents_of(prop: Mapping[str, Any], schema: Mapping[str, Any] | None = None, name: str = "", *,
               strict: bool = False) -> list[str]:
    """The names ``prop``'s ``depends_on`` gives (a text, names separated by ',', or a list of names); with ``schema``
    and ``name`` (the dependent's dotted name), a name the schema lacks at the top that names a sibling of ``name``
    (``depends_on: "lo"`` inside group ``g``) is read as that sibling (``g.lo``). Any other ``depends_on`` gives none,
    or (``strict``: a searched param's) is a SearchSpaceError naming it."""
    raw = prop.get("depends_on")
    texts = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) and all(
        isinstance(r, str) for r in raw) else None
    if texts is None:
        if raw is not None and strict:
            raise SearchSpaceError(
                f"schema param {name!r}: depends_on={raw!r} is not a param name or a list of names, so its relation "
                "cannot be enforced; allowed: a dotted name, names separated by ',', or a list of names",
                field=f"schema property {name}", value=raw, allowed="a dotted name or a list of dotted names")
        return []
    names = [p.strip() for text in texts for p in text.split(",") if p.strip()]
    if schema is None or "." not in name:
        return names
    group = name.rsplit(".", 1)[0]
    return [f"{group}.{p}" if get_property(schema, p) is None and get_property(schema, f"{group}.{p}") is not None
            else p for p in names]


def relation_op(prop: Mapping[str, Any], parent: Mapping[str, Any]) -> str:
    """The comparison ``dependent op parent`` by the rules of the module docstring."""
    cond = prop.get("math_cond")
    match = _OP.search(cond) if isinstance(cond, str) else None
    if match:
        return match.group(1)
    mine, theirs = _number(prop.get("default")), _number(parent.get("default"))
    return ">=" if mine is not None and theirs is not None and mine > theirs else "<="


def _fixed(base: Baseline | None, name: str, prop: Mapping[str, Any], searched: str) -> tuple[float | None, str]:
    """The value a job gets at ``name`` (not searched, related to ``searched``) and where it came from; None when
    there is none or ``name`` is not a number by its schema type (a bool, a text: :func:`unenforced_relations`
    notes it). A number-typed ``name`` whose value is not a number (``"6"``, ``"true"``) is a SearchSpaceError:
    the relation could not be kept."""
    value, where = (base.value(name), base.where(name)) if base is not None and base.has(name) else (
        prop.get("default"), SCHEMA_DEFAULT)
    if value is None or _number(value) is not None or not _numeric_type(prop):
        return _number(value), where
    raise SearchSpaceError(
        f"param {searched!r}: its schema's depends_on relates it to {name}, which is fixed at {value!r} (from "
        f"{where}), not a number, so the relation cannot be kept; allowed: a number at {name} (type "
        f"{prop.get('type')!r}){number_as_text_hint(value, integer=str(prop.get('type')) in ('int', 'integer'))}",
        field=name, value=value,
        allowed=f"a number ({prop.get('type')})")


def _numeric_type(prop: Mapping[str, Any]) -> bool:
    return str(prop.get("type")) in ("int", "integer", "float", "number")


def _empty(param: Param, op: str, value: float, other: str, where: str) -> SearchSpaceError:
    ends = [param.low, param.high] if isinstance(param, Scalar) else [
        n for c in getattr(param, "choices", ()) if (n := _number(c)) is not None]
    shown = apart(value, *ends)  # 0.9999996 read `1`, beside a range it then seemed to fit
    return SearchSpaceError(
        f"param {param.name!r}: must be {op} {other} by the schema's depends_on, and {other} is fixed at {shown} "
        f"(from {where}), but no value of its range {describe(param)} is {op} {shown}; search {other} too, "
        f"or change its value, or give {param.name} a range that holds such values",
        field=param.name, value=describe(param), allowed=f"values {op} {shown} ({other} from {where})",
    )


def _tighten(param: Param, op: str, value: float, other: str, where: str) -> Param:
    """``param`` restricted to values ``x`` with ``x op value`` (``other``'s value, from ``where``)."""
    if isinstance(param, CategoricalParam):
        keep = [i for i, c in enumerate(param.choices) if OPS[op](c, value)]
        if not keep:
            raise _empty(param, op, value, other, where)
        weights = None if param.weights is None else tuple(param.weights[i] for i in keep)
        if weights is not None and sum(weights) <= 0:
            raise _empty(param, op, value, other, where)
        choices = tuple(param.choices[i] for i in keep)
        return CategoricalParam(param.name, choices, weights, param.default if param.default in choices else None)
    if isinstance(param, IntGridParam):
        ok = [v for v in param.values if OPS[op](v, value)]
        if not ok:
            raise _empty(param, op, value, other, where)
        default = param.default if param.default in ok else None
        return IntGridParam(param.name, ok[0], ok[-1], param.power_of, param.multiple_of, default)
    assert isinstance(param, (FloatParam, IntParam))
    integer = isinstance(param, IntParam)
    low, high = float(param.low), float(param.high)
    bound = closest_allowed(op, value, integer)
    if op in (">", ">="):
        low = max(low, bound)
    else:
        high = min(high, bound)
    if low > high:
        raise _empty(param, op, value, other, where)
    return narrowed(param, low, high)


def narrowed(param: FloatParam | IntParam, low: float, high: float) -> FloatParam | IntParam:
    """``param`` over ``[low, high]`` (inside its range), its default kept when it lies inside."""
    keep = param.default is not None and low <= param.default <= high
    if isinstance(param, IntParam):
        return IntParam(param.name, int(low), int(high), param.log, param.default if keep else None)
    return FloatParam(param.name, low, high, param.log, param.default if keep else None, logit=param.logit)


def _order(relations: list[Relation]) -> tuple[Relation, ...]:
    out: list[Relation] = []
    rest = list(relations)
    while rest:
        ready = [r for r in rest if not any(o.left == r.right for o in rest if o is not r)]
        if not ready:
            cycle = ", ".join(map(str, rest))
            raise SearchSpaceError(
                f"schema param {rest[0].left!r}: the schema's depends_on relations form a cycle ({cycle}), so no "
                "order of repairs can keep them all; allowed: depends_on links without a cycle (drop one of these "
                "params from the search, or fix the schema's depends_on)",
                field=f"schema property {rest[0].left}", value=cycle, allowed="depends_on links without a cycle")
        out += ready
        rest = [r for r in rest if r not in ready]
    return tuple(out)


def apply_relations(
    schema: Mapping[str, Any], params: Sequence[Param], base: Baseline | None = None
) -> tuple[list[Param], tuple[Relation, ...]]:
    """The params (ranges tightened against fixed parents/dependents, at their ``base`` values) and the space's
    relations."""
    by_name = {p.name: p for p in params}
    relations: list[Relation] = []
    names = list(by_name)
    for name in names:
        prop = get_property(schema, name)
        if prop is None:
            continue
        for parent_name in parents_of(prop, schema, name, strict=True):
            parent = get_property(schema, parent_name)
            if parent is None or parent_name == name:
                continue
            op = relation_op(prop, parent)
            if is_numeric(by_name[name]) and is_numeric(by_name.get(parent_name)):
                relations.append(Relation(name, op, parent_name))
            elif is_numeric(by_name[name]) and parent_name not in by_name:
                fixed, where = _fixed(base, parent_name, parent, name)
                if fixed is not None:
                    by_name[name] = _tighten(by_name[name], op, fixed, parent_name, where)
    # Searched parents whose dependent is not searched.
    for name in names:
        if not is_numeric(by_name[name]):
            continue
        for other, prop in dependents_of(schema, name):
            if other in by_name:
                continue
            fixed, where = _fixed(base, other, prop, name)
            parent = get_property(schema, name) or {}
            if fixed is not None:
                by_name[name] = _tighten(by_name[name], _FLIP[relation_op(prop, parent)], fixed, other, where)
    return [by_name[p.name] for p in params], _order(relations)


def unenforced_relations(schema: Mapping[str, Any], params: Sequence[Param]) -> list[str]:
    """Why a searched param's ``depends_on`` is not enforced, one note per relation: it names a key the schema
    lacks, the param itself, or a relation with a list-valued (not scalar) param."""
    by_name = {p.name: p for p in params}
    notes = []
    for name, param in by_name.items():
        prop = get_property(schema, name)
        if prop is None:
            continue
        for parent_name in parents_of(prop, schema, name, strict=True):
            parent = get_property(schema, parent_name)
            if parent_name == name:
                notes.append(f"param {name}: its depends_on names itself; the relation is not enforced")
            elif parent is None:
                notes.append(f"param {name}: its depends_on names {parent_name!r}, which the schema lacks; the "
                             "relation is not enforced")
            elif not is_numeric(param) or (parent_name in by_name and not is_numeric(by_name[parent_name])):
                odd = param if not is_numeric(param) else by_name[parent_name]
                what = "non-numeric" if isinstance(odd, (CategoricalParam, BoolParam)) else "list-valued"
                notes.append(f"param {name}: its relation with {parent_name} (depends_on) involves a {what} "
                             "param and is not enforced; configs that break it may be proposed")
            elif parent_name not in by_name and not _numeric_type(parent):
                notes.append(f"param {name}: its depends_on names {parent_name}, a {parent.get('type')!r} param, "
                             "not a number: the relation compares numbers and is not enforced")
    return notes


def dependents_of(schema: Mapping[str, Any], name: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Every ``(dotted name, property)`` whose ``depends_on`` names ``name``."""
    found: list[tuple[str, Mapping[str, Any]]] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        props = node.get("properties")
        if not isinstance(props, Mapping):
            return
        for key, prop in props.items():
            if isinstance(prop, Mapping):
                if name in parents_of(prop, schema, prefix + key):
                    found.append((prefix + key, prop))
                walk(prop, prefix + key + ".")

    walk(schema, "")
    return found

"""Build the :class:`SearchSpace` of a run from a TAO ``train.schema.json``.

Which params are searched:

* ``hyperparameters=None``: every name in the schema's top-level ``automl_default_parameters`` (a schema
  without that list: every leaf flagged ``automl_enabled: true``, :func:`~tao_automl.schema.access.automl_candidates`).
  A default that cannot be searched (a type this version does not handle, AutoML-disabled, or
  missing from the schema) is skipped, and ONE warning lists every skipped name with its reason.
* Named ``hyperparameters`` (and every param that has a ``custom_param_ranges`` entry, which is
  an explicit ask, so it is added to the searched params even when not named) must exist, have a
  supported type and not be disabled; otherwise a SearchSpaceError says why. Disabled params
  (rule in :mod:`tao_automl.schema.access`) need ``override_disabled=True``
  (``override_automl_disabled_params: true`` in the settings).

Supported types: ``float``/``number`` and ``int``/``integer`` (rules in
:mod:`tao_automl.schema.bounds`, including ``math_cond`` powers ``^ k`` and multiples ``/ k``),
``bool``/``boolean``, ``categorical``/``string``/``ordered`` with ``enum`` or ``valid_options``,
and ``ordered_int`` (rules in :mod:`tao_automl.schema.choices`); a ``float``/``int`` with ``enum`` or
``valid_options`` searches only those options (each checked against the schema's bounds and ``math_cond``; an
empty or non-list ``valid_options``/``enum`` makes it unsearchable, as a categorical's, not a range);
numeric lists (``list``, ``list_<N>``, numbers with list bounds), ``subset_list`` and ``optional_list`` (rules in
:mod:`tao_automl.schema.lists`). Lists of non-numbers (strings, dicts, empty) and collections are
not searchable. ``depends_on``/``parent_param`` become relations or tightened ranges (rules in
:mod:`tao_automl.schema.relations`).

Every custom range is checked (keys, value types, schema bounds, options, weights) before the
space exists, so a bad range fails before any job runs. With a ``base`` (the job's base spec: template and
``spec_overrides`` over the schema defaults, :mod:`tao_automl.schema.baseline`), a numeric param whose base value
is a number other than the schema default is built from that value: its default, and a bound the schema leaves
open (derived from the default, rules in :mod:`tao_automl.schema.bounds`), start from what the job really gets; a
numeric list likewise, its length included (list bounds of another length are an error).
A param's default is that value when it lies inside the final range, else None. :func:`derived_bounds` names the
range ends the tool chose because the schema has none. The space is ordered as searched: named (or
default) params first, then params added by a custom range, in their mapping order.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.schema.access import (
    automl_candidates,
    get_property,
    is_disabled,
    iter_leaf_names,
    schema_defaults,
    unaddressable_key,
)
from tao_automl.schema.baseline import Baseline
from tao_automl.schema.bounds import build_float, build_int, has_list_bounds, outside_schema, schema_interval
from tao_automl.schema.choices import (
    OPTION_KEYS,
    build_bool,
    build_categorical,
    build_ordered_int,
    schema_options,
)
from tao_automl.schema.custom import CustomRange, parse_custom_range, reject_keys
from tao_automl.schema.lists import BOUND_KEYS, LIST_TYPE, build_list, build_optional, build_subset, list_kind
from tao_automl.schema.relations import Scalar, apply_relations, narrowed
from tao_automl.space.search_space import FloatParam, IntParam, ListParam, Param, SearchSpace
from tao_automl.util.suggest import did_you_mean, nearest

__all__ = [
    "SUPPORTED_TYPES",
    "automl_candidates",
    "build_search_space",
    "derived_bounds",
    "get_property",
    "misspelt_range_key",
    "param_kind",
    "schema_defaults",
]

logger = logging.getLogger(__name__)

SUPPORTED_TYPES = (
    "float",
    "number",
    "int",
    "integer",
    "bool",
    "boolean",
    "categorical",
    "string",
    "ordered",
    "ordered_int",
    "list",
    "subset_list",
    "optional_list",
)
_NUMERIC_KEYS = ("valid_min", "valid_max", "scale")
_KIND_OF_TYPE = {
    "float": "float",
    "number": "float",
    "int": "int",
    "integer": "int",
    "bool": "bool",
    "boolean": "bool",
    "categorical": "categorical",
    "string": "categorical",
    "ordered": "categorical",
    "ordered_int": "ordered_int",
}
_Builder = Callable[[str, Mapping[str, Any], CustomRange | None], Param]
_BUILDERS: dict[str, _Builder] = {
    "float": build_float,
    "int": build_int,
    "bool": build_bool,
    "categorical": build_categorical,
    "ordered_int": build_ordered_int,
    "list": build_list,
    "subset": build_subset,
    "optional_list": build_optional,
    "int_options": lambda name, prop, custom: build_number_options(name, prop, custom, integer=True),
    "float_options": lambda name, prop, custom: build_number_options(name, prop, custom, integer=False),
}


def build_number_options(name: str, prop: Mapping[str, Any], custom: CustomRange | None, *,
                         integer: bool) -> Param:
    """An ``int``/``float`` param with ``enum``/``valid_options``: only those values are searched (an int's as
    :func:`build_ordered_int` does: a range when consecutive and unweighted, else a choice); a custom
    ``valid_min``/``valid_max`` keeps the options inside it, for an int and a float alike. Each option must be a
    number of the param's type inside the schema's bounds and ``math_cond``; otherwise a SearchSpaceError names it."""
    options = schema_options(prop) or []
    key = "enum" if isinstance(prop.get("enum"), list) and prop.get("enum") else "valid_options"
    kind = "int" if integer else "float"
    for option in options:
        number = not isinstance(option, bool) and isinstance(option, (int, float)) and math.isfinite(option)
        if not number or (integer and not float(option).is_integer()):
            raise SearchSpaceError(
                f"schema param {name!r}: {key} entry {option!r} is not {'an integer' if integer else 'a number'}, "
                f"but the param's type is {prop.get('type')!r}; allowed: {kind} options",
                field=f"schema property {name}", value=option, allowed=f"{kind} values")
        allowed = outside_schema(name, prop, option)
        if allowed:
            raise SearchSpaceError(
                f"schema param {name!r}: {key} entry {option!r} is not allowed by the schema; allowed: {allowed}",
                field=f"schema property {name}", value=option, allowed=allowed)
    if integer:
        return build_ordered_int(name, {**prop, key: [int(o) for o in options]}, custom, kind="int with options")
    return build_categorical(name, {**prop, key: [float(o) for o in options]}, custom, kind="float")  # 1 -> 1.0


def param_kind(prop: Mapping[str, Any]) -> str | None:
    """``float``/``int``/``bool``/``categorical``/``ordered_int``/``list``/``subset``/``optional_list``,
    ``int_options``/``float_options`` (a number with ``enum``/``valid_options``), or None when not searchable."""
    kind = _KIND_OF_TYPE.get(str(prop.get("type")))
    if kind in ("float", "int") and schema_options(prop) is None and _given_options(prop) is not None:
        return None  # valid_options: [] (or "8,16"): no option to search, as for a categorical; not a range
    if (kind in ("float", "int") and has_list_bounds(prop)) or kind is None:
        return list_kind(prop)
    if kind in ("float", "int") and schema_options(prop) is not None:
        return f"{kind}_options"  # a number limited to the schema's options (valid_options: [8, 16, 32])
    if kind in ("categorical", "ordered_int") and schema_options(prop) is None:
        return None
    return kind


def _given_options(prop: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The first of ``enum``/``valid_options`` the schema gives (any value but null), as ``(key, value)``."""
    return next(((k, prop[k]) for k in ("enum", "valid_options") if prop.get(k) is not None), None)


def _describe_type(prop: Mapping[str, Any]) -> str:
    kind = prop.get("type")
    numeric = _KIND_OF_TYPE.get(str(kind)) in ("float", "int")
    if numeric and schema_options(prop) is None and _given_options(prop) is not None:
        key, value = _given_options(prop) or ("", None)
        return f"{kind!r} whose {key}={value!r} is not a non-empty list of options"
    if numeric:
        return f"{kind!r} with list bounds that are not a list of numbers"
    if LIST_TYPE.fullmatch(str(kind)) or kind == "optional_list":
        return f"{kind!r} whose elements are not searchable numbers"
    if kind == "subset_list" or _KIND_OF_TYPE.get(str(kind)) in ("categorical", "ordered_int"):
        given = _given_options(prop)
        if given is not None:  # said "without enum/valid_options" of valid_options: [] or "a,b"
            return f"{kind!r} whose {given[0]}={given[1]!r} is not a non-empty list of options"
        return f"{kind!r} without enum/valid_options"
    return repr(kind)


def _names(hyperparameters: Sequence[str]) -> list[str]:
    if isinstance(hyperparameters, str) or not all(isinstance(h, str) for h in hyperparameters):
        raise SearchSpaceError(f"hyperparameters must be a list of dotted names, got {hyperparameters!r}",
                               value=hyperparameters,
                               allowed="a list of dotted param names of the train schema")
    seen: set[str] = set()
    for name in hyperparameters:
        if name in seen:
            raise SearchSpaceError(f"{name!r} is named twice; allowed: each name once",
                                   value=name, allowed="each name once")
        seen.add(name)
    return list(hyperparameters)


def _customs(schema: Mapping[str, Any], raw: Mapping[str, Any] | None) -> dict[str, CustomRange]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SearchSpaceError(f"custom_param_ranges must be a mapping of param name to range, got {raw!r}",
                               value=raw,
                               allowed="a mapping of schema param name to range ({min, max, ...} or {valid_options})")
    out: dict[str, CustomRange] = {}
    for name, entry in raw.items():
        odd = unaddressable_key(schema, name) if isinstance(name, str) else None
        if odd is not None:
            raise SearchSpaceError(
                f"custom_param_ranges names {name!r}, whose schema key {odd[0]!r} (under {odd[1]}) holds '.', '[' or "
                "']', so no dotted name can address it; allowed: schema property keys without '.', '[' or ']'",
                field=f"custom_param_ranges.{name}", value=odd[0],
                allowed="schema property keys without '.', '[' or ']'")
        if not isinstance(name, str) or get_property(schema, name) is None:
            meant = did_you_mean(str(name), iter_leaf_names(schema))
            raise SearchSpaceError(f"custom_param_ranges names {name!r}, which is not in the train schema{meant}",
                                   value=name, allowed=_unknown_allowed(meant, _leaves(schema)))
        out[name] = parse_custom_range(name, entry)
    return out


def _unknown(schema: Mapping[str, Any], name: str) -> SearchSpaceError:
    """An unknown hyperparameter, with the close param: the one leaf ending in the same key (``train.lr`` ->
    ``train.optim.lr``), else the nearest spelling among leaves (a group such as ``train`` cannot be searched)."""
    leaves = _leaves(schema)
    tail = name.rsplit(".", 1)[-1]
    same_tail = [n for n in leaves if n.rsplit(".", 1)[-1] == tail]
    hint = f" (did you mean {same_tail[0]!r}?)" if len(same_tail) == 1 else did_you_mean(name, leaves)
    if not hint:
        hint = f"; the schema's AutoML defaults are {automl_candidates(schema)}"
    return SearchSpaceError(f"hyperparameter {name!r} is not in the train schema{hint}",
                            value=name, allowed=_unknown_allowed(hint, leaves))


def _unknown_allowed(hint: str, leaves: list[str]) -> str | list[str]:
    """``allowed`` of a name not in the schema: the param its ``hint`` means (``did you mean 'x'?``), or else every
    param name of the schema (``leaves``)."""
    meant = re.search(r"did you mean '([^']+)'", hint)
    if meant is None:
        return leaves
    return f"{meant.group(1)!r} or another searchable param of the schema (`tao-automl models --scope automl`)"


def _leaves(schema: Mapping[str, Any]) -> list[str]:
    """The dotted names of the schema's params (its leaves that are not groups): ``allowed`` of an unknown name."""
    return [n for n in iter_leaf_names(schema)
            if not isinstance((get_property(schema, n) or {}).get("properties"), Mapping)]


def _build(name: str, kind: str, prop: Mapping[str, Any], custom: CustomRange | None) -> Param:
    if custom is not None and kind in ("float", "int"):
        reject_keys(custom, OPTION_KEYS, kind, _NUMERIC_KEYS)
    return _BUILDERS[kind](name, prop, custom)


def _from_base(name: str, kind: str, prop: Mapping[str, Any], base: Baseline | None) -> Mapping[str, Any]:
    """``prop`` with the base spec's value as its default, for a numeric param whose base value is a number, and
    for a numeric list whose base value is a list of numbers (its length is the list's: a template's 3 betas are
    searched as 3, not cut to the schema default's 2; list bounds of another length are a SearchSpaceError)."""
    if base is not None and kind == "list" and base.has(name):
        return _list_from_base(name, prop, base)
    if base is None or kind not in ("float", "int") or not base.has(name):
        return prop
    value = base.value(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return prop
    return {**prop, "default": value}


def _list_from_base(name: str, prop: Mapping[str, Any], base: Baseline) -> Mapping[str, Any]:
    value = base.value(name)
    numbers = isinstance(value, list) and value and all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    if not numbers or value == prop.get("default"):
        return prop
    lengths = {len(prop[k]) for k in BOUND_KEYS if isinstance(prop.get(k), list)}
    if lengths and lengths != {len(value)}:
        raise SearchSpaceError(
            f"schema param {name!r}: the job's spec holds {len(value)} elements {value} (from {base.where(name)}), "
            f"but the schema's list bounds have {', '.join(map(str, sorted(lengths)))}; allowed: a list of "
            f"{min(lengths)} numbers there (fix the template or spec_overrides), or leave {name} out of the search",
            field=f"schema property {name}", value=value, allowed=f"a list of {min(lengths)} numbers")
    return {**prop, "default": list(value)}


def build_search_space(
    schema: Mapping[str, Any],
    hyperparameters: Sequence[str] | None = None,
    custom_param_ranges: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    override_disabled: bool = False,
    base: Baseline | None = None,
) -> SearchSpace:
    """The search space of ``hyperparameters`` (default: the schema's AutoML defaults); see module doc."""
    if not isinstance(schema, Mapping):
        raise SearchSpaceError(f"a train schema must be a JSON object, got {type(schema).__name__}",
                               value=type(schema).__name__, allowed="a JSON object (a mapping)")
    customs = _customs(schema, custom_param_ranges)
    explicit = hyperparameters is not None
    names = _names(hyperparameters) if hyperparameters is not None else automl_candidates(schema)
    names += [n for n in customs if n not in names]
    params: list[Param] = []
    skipped: list[str] = []
    for name in names:
        asked = explicit or name in customs
        odd = unaddressable_key(schema, name)
        if odd is not None:
            why = (f"its schema key {odd[0]!r} (under {odd[1]}) holds '.', '[' or ']', so no dotted name can address "
                   "it and its spec key could not be written")
            if asked:
                raise SearchSpaceError(f"hyperparameter {name!r}: {why}; allowed: schema property keys without '.', "
                                       "'[' or ']'", field="automl_hyperparameters", value=name,
                                       allowed="schema property keys without '.', '[' or ']'")
            skipped.append(f"{name} ({why})")
            continue
        prop = get_property(schema, name)
        if prop is None:
            if asked:
                raise _unknown(schema, name)
            skipped.append(f"{name} (not in the schema)")
            continue
        kind = param_kind(prop)
        if kind is None:
            if asked:
                inside = ""
                if isinstance(prop.get("properties"), Mapping):  # a group: name the params inside it
                    keys = [k for k in prop["properties"] if isinstance(prop["properties"][k], Mapping)][:6]
                    inside = f"; {name!r} is a group: name a param inside it, e.g. " + ", ".join(
                        f"{name}.{k}" for k in keys)
                raise SearchSpaceError(
                    f"hyperparameter {name!r} has type {_describe_type(prop)}, which cannot be searched yet; "
                    f"supported types: {', '.join(SUPPORTED_TYPES)} "
                    f"(string/categorical/subset_list need enum or valid_options; lists need numbers){inside}",
                    field="automl_hyperparameters", value=name,
                    allowed=f"params of the types {', '.join(SUPPORTED_TYPES)}"
                )
            skipped.append(f"{name} (type {_describe_type(prop)})")
            continue
        if is_disabled(schema, name) and not override_disabled:
            if asked:
                raise SearchSpaceError(
                    f"hyperparameter {name!r} is AutoML-disabled in the schema; set "
                    "override_automl_disabled_params: true in automl_settings to search it anyway",
                    value=name,
                    allowed="params the schema does not disable, or any with override_automl_disabled_params: true")
            skipped.append(f"{name} (AutoML-disabled)")
            continue
        guess = None if asked else (special_default(name, kind, prop) or default_left_out(name))
        if guess is not None:
            skipped.append(f"{name} ({guess})")
            continue
        params.append(_build(name, kind, _from_base(name, kind, prop, base), customs.get(name)))
    if skipped:
        logger.warning("skipping %d of the schema's default hyperparameter(s): %s", len(skipped),
                       grouped_skips(skipped))
    if not params:
        raise SearchSpaceError(
            "no hyperparameter to search: name some in automl_hyperparameters or custom_param_ranges"
            + (f" (skipped: {', '.join(skipped)})" if skipped else ""),
            allowed="at least one searchable param in automl_hyperparameters or custom_param_ranges")
    params, relations = apply_relations(schema, params, base)
    if relations:
        derived = {p.name: _derived_sides(schema, p, customs.get(p.name), base) for p in params}
        params = _cap_derived_ends(params, relations, derived)
    return SearchSpace(tuple(params), relations, skipped=tuple(skipped))


_SPECIAL = re.compile(r"\bvalue of\s+(-?\d+(?:\.\d+)?)\s+(?:specifies|means|disables|turns off|indicates)[^.]*",
                      re.IGNORECASE)


def special_default(name: str, kind: str, prop: Mapping[str, Any]) -> str | None:
    """Why a default param is left out of the default search, or None: its default is a special value the schema's
    description names ("A value of -1 specifies the original length") and a side of its range is open, so the range
    would be derived from that special value (a window of 0 to 9 frames): a guess, not a range. Named in
    ``automl_hyperparameters`` or given a custom range, it is searched."""
    if kind not in ("float", "int"):
        return None
    said = _SPECIAL.search(str(prop.get("description") or ""))
    default = prop.get("default")
    if said is None or isinstance(default, bool) or not isinstance(default, (int, float)) \
            or float(said.group(1)) != float(default):
        return None
    interval = schema_interval(name, prop)
    open_sides = [side for side, end in (("lower", interval.low), ("upper", interval.high)) if math.isinf(end)]
    if not open_sides:
        return None
    return (f"its default {default} is a special value (\"{said.group(0).strip()}\") and the schema gives no "
            f"{' or '.join(open_sides)} bound, so a range around it would be a guess; search it with "
            f"custom_param_ranges.{name} (valid_min, valid_max)")


def grouped_skips(skipped: Sequence[str]) -> str:
    """``name (reason)`` entries with the names of one reason together: ``a, b (why); c (why not)``."""
    by_reason: dict[str, list[str]] = {}
    for entry in skipped:
        name, _, reason = entry.partition(" (")
        by_reason.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)} ({reason}" if reason else ", ".join(names)
                     for reason, names in by_reason.items())


#: Data-loader settings: they change how fast batches arrive, not what the model learns.
LOADER_KEYS = frozenset({"workers", "num_workers", "pin_memory", "persistent_workers", "prefetch_factor"})


#: Sections of an inference run's data: a training job does not read them.
INFER_SECTIONS = frozenset({"infer_dataset", "inference_dataset", "infer", "inference"})
#: Sections of the data a training job evaluates on.
EVAL_SECTIONS = frozenset({"val_dataset", "validation_dataset", "test_dataset", "eval_dataset", "evaluate"})
_EVAL_PREFIXES = ("test_", "val_", "eval_")


def default_left_out(name: str) -> str | None:
    """Why a default param is left out of the default search, or None: a data-loader setting (it would spend recs on
    noise), an inference-time setting (a training job does not read it), or an evaluation-time augmentation or size
    (depth-anything-v2's ``dataset.val_dataset.augmentation.*``, oneformer's ``dataset.augmentation.test_min_size``:
    it changes what the reported metric measures, so the search could pick an easier validation set). Named in
    ``automl_hyperparameters`` or given a custom range, it is searched. (A test split's other settings stay
    searched: some trainers, bevfusion's among them, build and may evaluate their test split during training.)"""
    parts = name.split(".")
    sections, leaf = set(parts[:-1]), parts[-1]
    if leaf in LOADER_KEYS:
        return ("a data-loader setting: it changes speed, not what the model learns, so searching it spends recs on "
                "noise; name it in automl_hyperparameters to search it anyway")
    if sections & INFER_SECTIONS:
        return ("an inference-time setting: a training job does not read it, so searching it spends recs on noise; "
                "name it in automl_hyperparameters to search it anyway")
    augmentation = any("aug" in part for part in parts[:-1])
    if augmentation and (sections & EVAL_SECTIONS or leaf.startswith(_EVAL_PREFIXES)):
        return ("an evaluation-time augmentation: it changes what the reported metric measures, not what the model "
                "learns, so the search could pick an easier validation set; name it in automl_hyperparameters to "
                "search it anyway")
    return None


def derived_bounds(
    schema: Mapping[str, Any],
    space: SearchSpace,
    custom_param_ranges: Mapping[str, Mapping[str, Any]] | None = None,
    base: Baseline | None = None,
) -> dict[str, list[str]]:
    """``name -> ["low"]/["high"]/["low", "high"]``: the range ends of ``space``'s numeric params that the tool
    chose because neither the schema nor ``custom_param_ranges`` gives one (a bound a ``depends_on`` relation set
    is not derived). Params with every end given are left out."""
    customs = _customs(schema, custom_param_ranges)
    out: dict[str, list[str]] = {}
    for param in space.params:
        sides = _derived_sides(schema, param, customs.get(param.name), base)
        if sides:
            out[param.name] = sides
    return out


#: The schema keys that give each end of a range.
RANGE_KEYS = {"low": ("minimum", "valid_min"), "high": ("maximum", "valid_max")}


def misspelt_range_key(schema: Mapping[str, Any] | None, name: str, sides: Sequence[str]) -> str:
    """``its property has 'maximun': did you mean 'maximum'?`` for a key of ``name``'s schema property close to a
    range key of ``sides``; empty when there is none."""
    prop = get_property(schema, name) if schema is not None else None
    wanted = [key for side in sides for key in RANGE_KEYS.get(side, ())]
    known = {key for keys in RANGE_KEYS.values() for key in keys}
    for key in prop or {}:
        near = nearest(str(key), wanted, cutoff=0.8) if key not in known else None
        if near is not None:
            return f"its property has {key!r}: did you mean {near!r}?"
    return ""


def _derived_sides(schema: Mapping[str, Any], param: Param, custom: CustomRange | None,
                   base: Baseline | None) -> list[str]:
    """The ends of ``param``'s range (``"low"``, ``"high"``) that the tool derived: the schema and ``custom`` leave
    them open and no relation has moved them."""
    prop = get_property(schema, param.name)
    kind = param_kind(prop) if prop is not None else None
    if prop is not None and isinstance(param, ListParam):  # the elements' ends (betas: [0, 1) chosen by the tool)
        given = {"low": ("minimum", "valid_min"), "high": ("maximum", "valid_max")}
        return [side for side, keys in given.items()
                if all(prop.get(k) is None for k in keys)
                and (custom is None or getattr(custom, keys[1]) is None)]
    if prop is None or kind not in ("float", "int") or not isinstance(param, Scalar):
        return []
    interval = schema_interval(param.name, prop)
    unrelated = _build(param.name, kind, _from_base(param.name, kind, prop, base), custom)
    assert isinstance(unrelated, Scalar)
    sides = []
    no_min = custom is None or custom.valid_min is None
    # a coefficient near 1 (logit scale) starts where its odds range does, above a schema minimum of 0: the tool's
    odds_low = getattr(param, "logit", False) and param.low > interval.low
    if (math.isinf(interval.low) or odds_low) and no_min and param.low == unrelated.low:
        sides.append("low")
    if math.isinf(interval.high) and (custom is None or custom.valid_max is None) and param.high == unrelated.high:
        sides.append("high")
    return sides


def _cap_derived_ends(params: list[Param], relations: Sequence[Any], derived: Mapping[str, list[str]]) -> list[Param]:
    """Derived range ends (:func:`_derived_sides`) pulled inside what a relation between two searched numbers
    allows: with ``a < b`` (or ``<=``), a derived high end of ``a`` goes no higher than ``b``'s high end and a
    derived low end of ``b`` no lower than ``a``'s low end (``>`` alike, mirrored). A range end the schema or a
    custom range gives is left as given; an end that would empty the range is left too (the relation's own checks
    report it)."""
    by_name = {p.name: p for p in params}
    for relation in relations:
        left, right = by_name.get(relation.left), by_name.get(relation.right)
        if not (isinstance(left, (FloatParam, IntParam)) and isinstance(right, (FloatParam, IntParam))):
            continue
        less = relation.op in ("<", "<=")
        small, large = (left, right) if less else (right, left)  # small <(=) large
        step = 1 if relation.op in ("<", ">") and isinstance(small, IntParam) and isinstance(large, IntParam) else 0
        if "high" in derived.get(small.name, []) and small.high > large.high - step:
            small = by_name[small.name] = _with_range(small, small.low, large.high - step)
        if "low" in derived.get(large.name, []) and large.low < small.low + step:
            by_name[large.name] = _with_range(large, small.low + step, large.high)
    return [by_name[p.name] for p in params]


def _with_range(param: FloatParam | IntParam, low: float, high: float) -> FloatParam | IntParam:
    """``param`` over ``[low, high]`` (its default kept when inside), or ``param`` itself when that is empty or not
    valid for its scale (a log scale needs a positive low end)."""
    if low > high or (param.log and low <= 0):
        return param
    return narrowed(param, low, high)

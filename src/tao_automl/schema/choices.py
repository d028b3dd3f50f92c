"""Option-valued params (categorical, ordered, ordered_int, bool) from a schema property.

Options come from ``enum`` (else ``valid_options``); ``option_weights`` in the schema must match
them one to one. A custom range may narrow them: ``valid_options`` (a subset of the schema's
options), ``option_weights`` (aligned with the custom ``valid_options`` when given, else with the
schema's options) and ``disable_list`` (options removed, with their weights). A bool's options are
``[True, False]`` in that order. ``ordered`` is treated as categorical; ``ordered_int`` becomes an
IntParam when its remaining options are consecutive integers and unweighted, else a
CategoricalParam of ints. A custom ``valid_min``/``valid_max`` filters the options of an ``ordered_int`` and of a
number limited to its options (an ``int``/``float`` with ``valid_options``): those inside the bounds are kept (a
bound that keeps none is a SearchSpaceError).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.schema.access import bool_text
from tao_automl.schema.custom import CustomRange, custom_number, reject_keys
from tao_automl.space.search_space import BoolParam, CategoricalParam, IntParam, Param
from tao_automl.util.suggest import did_you_mean

OPTION_KEYS = ("valid_options", "option_weights", "disable_list")
BOOL_OPTIONS = (True, False)


def schema_options(prop: Mapping[str, Any]) -> list[Any] | None:
    """The schema's option list of a property, or None when it has none."""
    for key in ("enum", "valid_options"):
        options = prop.get(key)
        if isinstance(options, list) and options:
            return list(options)
    return None


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _self_equal(value: Any) -> bool:
    """Whether ``value`` equals itself all the way down: NaN does not, nor does a list or mapping holding it."""
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, (list, tuple)):
        return all(_self_equal(v) for v in value)
    if isinstance(value, Mapping):
        return all(_self_equal(v) for v in value.values())
    try:
        return bool(value == value)
    except (TypeError, ValueError):  # a value whose comparison fails can be matched no more than NaN
        return False


def _check_comparable(name: str, options: Sequence[Any]) -> None:
    """A SearchSpaceError for an option that equals no value, not even itself (NaN): a rec given it could never be
    matched to it, so the run ended with "brain proposed an invalid config"."""
    for option in options:
        if not _self_equal(option):
            raise SearchSpaceError(
                f"schema param {name!r}: its enum/valid_options {list(options)} hold {option!r}, which equals no "
                "value, not even itself, so a rec given it could never be matched to it; allowed: options equal to "
                "themselves (numbers other than NaN, text, bools, null, lists of those)",
                field=f"schema property {name}", value=option, allowed="options equal to themselves (no NaN)")


def _find(options: Sequence[Any], value: Any) -> int | None:
    return next((i for i, option in enumerate(options) if _same(option, value)), None)


def _weights(name: str, where: str, weights: Any, options: Sequence[Any]) -> list[float]:
    # the schema's own weights are the schema's fault: name its field (else the run plan blamed automl_hyperparameters)
    field = f"schema property {name}" if where.startswith("schema") else None
    allowed = f"{len(options)} finite numbers >= 0, one per option {list(options)}" if field else None
    if not isinstance(weights, (list, tuple)) or len(weights) != len(options):
        count = len(weights) if isinstance(weights, (list, tuple)) else weights
        raise SearchSpaceError(
            f"{where} of {name!r} has {count!r} entries but there are {len(options)} options {list(options)}"
            + (f"; allowed: {allowed}" if field else ""),
            field=field, value=weights if field else None, allowed=allowed,
        )
    if any(
        isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0
        for w in weights
    ):
        raise SearchSpaceError(f"{where} of {name!r} must be finite numbers >= 0, got {list(weights)}"
                               + (f"; allowed: {allowed}" if field else ""), field=field,
                               value=weights if field else None, allowed=allowed)
    return [float(w) for w in weights]


def narrow_options(
    name: str, options: list[Any], schema_weights: Any, custom: CustomRange | None
) -> tuple[list[Any], list[float] | None]:
    """Apply a custom range's valid_options / option_weights / disable_list to the schema options (each listed
    once: a repeat would be drawn twice as often and get a one-hot column it can never encode; each equal to itself:
    :func:`_check_comparable`)."""
    _check_comparable(name, options)
    for i, option in enumerate(options):
        if _find(options[:i], option) is not None:
            raise SearchSpaceError(
                f"schema param {name!r}: its enum/valid_options {options} list {option!r} twice; allowed: each "
                "option once", field=f"schema property {name}", value=option, allowed="each option once")
    weights = (
        None if schema_weights is None else _weights(name, "schema option_weights", schema_weights, options)
    )
    if custom is None:
        if weights is not None and sum(weights) <= 0:
            raise SearchSpaceError(
                f"schema option_weights of {name!r} are all 0 ({weights}); allowed: at least one weight above 0",
                field=f"schema property {name}", value=weights, allowed="finite numbers >= 0, at least one above 0")
        return _weighted_only(options, weights)
    if custom.valid_options is not None:
        picked: list[Any] = []
        for value in custom.valid_options:
            index = _find(options, value)
            if index is None:
                raise SearchSpaceError(
                    f"{custom.where('valid_options')}: {value!r} is not an option of {name!r}"
                    f"{did_you_mean(str(value), [str(o) for o in options])}; allowed: {options}",
                    value=value, allowed=list(options))
            picked.append(index)
        options = [options[i] for i in picked]
        weights = None if weights is None else [weights[i] for i in picked]
    if custom.option_weights is not None:
        weights = _weights(name, custom.where("option_weights"), list(custom.option_weights), options)
    for value in custom.disable_list:
        index = _find(options, value)
        if index is None:
            raise SearchSpaceError(
                f"{custom.where('disable_list')}: {value!r} is not an option of {name!r}"
                f"{did_you_mean(str(value), [str(o) for o in options])}; allowed: {options}",
                value=value, allowed=list(options))
        options = options[:index] + options[index + 1 :]
        weights = None if weights is None else weights[:index] + weights[index + 1 :]
    if not options:
        raise SearchSpaceError(f"custom_param_ranges[{name!r}] disables every option; keep at least one",
                               value=list(custom.disable_list),
                               allowed="a disable_list that keeps at least one option")
    if weights is not None and sum(weights) <= 0:
        raise SearchSpaceError(
            f"custom_param_ranges[{name!r}]: the weights of the remaining options {options} sum to 0",
            value=weights,
            allowed="weights with at least one remaining option above 0")
    return _weighted_only(options, weights)


def _weighted_only(options: list[Any], weights: list[float] | None) -> tuple[list[Any], list[float] | None]:
    """The options whose weight is above 0, with their weights: a weight-0 option is never proposed, by any brain
    (kept as a choice, random search drew it once the others were used up, and tpe/bayesian, which model options
    without their weights, proposed it like any other)."""
    if weights is None or all(w > 0 for w in weights):
        return options, weights
    keep = [i for i, w in enumerate(weights) if w > 0]
    return [options[i] for i in keep], [weights[i] for i in keep]


def without_zero_weights(param: Mapping[str, Any]) -> Mapping[str, Any]:
    """A stored categorical param (its ``to_json``) without its weight-0 options: a run started before such options
    were dropped from the space (:func:`_weighted_only`) stored them, and the same schema now builds the space without
    them, which is no change of its inputs (compared on resume)."""
    choices, weights = param.get("choices"), param.get("weights")
    if param.get("type") != "categorical" or not isinstance(choices, list) or not isinstance(weights, list) \
            or len(choices) != len(weights) or not any(w == 0 for w in weights):
        return param
    keep = [i for i, w in enumerate(weights) if w != 0]
    return {**param, "choices": [choices[i] for i in keep], "weights": [weights[i] for i in keep]}


def _default(prop: Mapping[str, Any], options: Sequence[Any]) -> Any:
    index = _find(options, prop.get("default"))
    return None if index is None else options[index]


def within_bounds(name: str, options: list[Any], weights: list[float] | None, custom: CustomRange | None, *,
                  integer: bool) -> tuple[list[Any], list[float] | None]:
    """The options (and their weights) inside a custom range's ``valid_min``/``valid_max`` (all when it has none);
    a SearchSpaceError naming the bounds when none is."""
    if custom is None or not custom.has_bounds:
        return options, weights
    low = custom_number(custom, "valid_min", integer=integer)
    high = custom_number(custom, "valid_max", integer=integer)
    keep = [i for i, o in enumerate(options) if (low is None or o >= low) and (high is None or o <= high)]
    if not keep:
        given = ", ".join(f"{k}={v!r}" for k, v in (("valid_min", low), ("valid_max", high)) if v is not None)
        raise SearchSpaceError(
            f"custom_param_ranges[{name!r}]: {given} leaves none of its options {options}; allowed: bounds that keep "
            f"at least one of {options}", field=f"custom_param_ranges.{name}", value=given,
            allowed=f"bounds that keep at least one of {options}")
    return [options[i] for i in keep], None if weights is None else [weights[i] for i in keep]


def build_categorical(name: str, prop: Mapping[str, Any], custom: CustomRange | None, *,
                      kind: str = "categorical") -> CategoricalParam:
    """A CategoricalParam over the (narrowed) schema options; ``kind`` ``float`` (a float limited to its options)
    also takes a custom ``valid_min``/``valid_max``, which filter the options."""
    numeric = kind == "float"
    if custom is not None and numeric:
        reject_keys(custom, ("scale",), "float with options", ("valid_min", "valid_max", *OPTION_KEYS))
    elif custom is not None:
        reject_keys(custom, ("valid_min", "valid_max", "scale"), kind, OPTION_KEYS)
    options, weights = narrow_options(name, schema_options(prop) or [], prop.get("option_weights"), custom)
    if numeric:
        options, weights = within_bounds(name, options, weights, custom, integer=False)
    return CategoricalParam(
        name, tuple(options), None if weights is None else tuple(weights), default=_default(prop, options)
    )


def _bool_options(name: str, prop: Mapping[str, Any]) -> list[Any]:
    """A bool's options: ``[True, False]``, or the schema's own ``enum``/``valid_options`` (JSON bools or the text
    ``"true"``/``"false"``; ignored, ``valid_options: [true]`` searched False too). Anything else is a
    SearchSpaceError naming it."""
    raw = schema_options(prop)
    if raw is None:
        return list(BOOL_OPTIONS)
    options = [bool_text(option) for option in raw]
    bad = next((o for o, b in zip(raw, options, strict=True) if b is None), None)
    if None in options:
        raise SearchSpaceError(
            f"schema param {name!r}: its enum/valid_options {raw} hold {bad!r}, which is not a bool; allowed: true, "
            "false", field=f"schema property {name}", value=bad, allowed=list(BOOL_OPTIONS))
    return options


def build_bool(name: str, prop: Mapping[str, Any], custom: CustomRange | None) -> Param:
    """A BoolParam over the schema's bool options (:func:`_bool_options`); options narrowed to one value (by the
    schema or a custom range) give a one-option CategoricalParam."""
    if custom is not None:
        reject_keys(custom, ("valid_min", "valid_max", "scale"), "bool", OPTION_KEYS)
    options, weights = narrow_options(name, _bool_options(name, prop), prop.get("option_weights"), custom)
    default = bool_text(prop.get("default"))  # a JSON bool, or the text 'true'/'false'
    if len(options) == 1:
        return CategoricalParam(name, tuple(options), default=_default(prop, options))
    if weights is None:
        return BoolParam(name, default=default)
    return BoolParam(name, default=default, weight_true=weights[options.index(True)] / sum(weights))


def build_ordered_int(name: str, prop: Mapping[str, Any], custom: CustomRange | None, *,
                      kind: str = "ordered_int") -> Param:
    """An IntParam when the options are consecutive and unweighted, else a CategoricalParam of ints (``kind``, as
    messages name the param: ``int with options`` for an int limited to its options)."""
    if custom is not None:
        reject_keys(custom, ("scale",), kind, ("valid_min", "valid_max", *OPTION_KEYS))
    raw = schema_options(prop) or []
    if not all(isinstance(o, int) and not isinstance(o, bool) for o in raw):
        raise SearchSpaceError(f"schema param {name!r}: ordered_int options must be integers, got {raw}",
                               value=raw, allowed="integer options")
    options, weights = narrow_options(name, raw, prop.get("option_weights"), custom)
    options, weights = within_bounds(name, options, weights, custom, integer=True)
    ordered = sorted(options)
    if weights is None and ordered == list(range(ordered[0], ordered[-1] + 1)):
        default = _default(prop, options)
        return IntParam(name, ordered[0], ordered[-1], default=default)
    return CategoricalParam(
        name, tuple(options), None if weights is None else tuple(weights), default=_default(prop, options)
    )

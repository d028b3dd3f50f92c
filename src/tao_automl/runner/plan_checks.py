"""The run plan's checks of user values against the skill and schema (overrides, train_specs, epoch key and budget)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.brain.registry import brain_options, make_brain
from tao_automl.errors import SearchSpaceError, SettingsError, UserInputError
from tao_automl.render.job import (
    base_spec,
    check_command_takes_spec,
    check_not_a_typo,
    check_spec_overrides,
    resolve_overrides,
)
from tao_automl.render.keys import searched_part
from tao_automl.render.paths import get_path, has_path
from tao_automl.render.roles import PTM_ROLES, checkpoint_keys, role_values
from tao_automl.runner.fidelity import epoch_family
from tao_automl.schema.access import get_property
from tao_automl.schema.bounds import outside_schema
from tao_automl.schema.build import schema_defaults
from tao_automl.schema.choices import schema_options
from tao_automl.settings import AutoMLSettings
from tao_automl.space.search_space import CategoricalParam, SearchSpace
from tao_automl.util.checks import INT64_MAX
from tao_automl.util.dotted import flatten
from tao_automl.util.numbers import is_finite_number, is_number
from tao_automl.util.suggest import did_you_mean
from tao_automl.util.yaml_numbers import number_as_text_hint

log = logging.getLogger(__name__)


def check_base_checkpoint(skill: Skill, base_checkpoint: str | None) -> None:
    """A ``base_checkpoint`` is refused for a skill none of whose ``spec_params`` keys takes a pretrained model (it
    would be dropped silently)."""
    if not base_checkpoint:
        return
    roles = {str(k): v for k, v in skill.spec_params.items() if isinstance(v, str)}
    if not checkpoint_keys(roles):
        raise UserInputError(
            f"base_checkpoint: {base_checkpoint!r} is not allowed: {skill.name} ({skill.action}) has no "
            f"pretrained-model key (no spec_params.{skill.action} key with role {', '.join(PTM_ROLES)}), so no job "
            "would load it; remove base_checkpoint, or set the model's own checkpoint key in spec_overrides",
            field="base_checkpoint", value=base_checkpoint, allowed="no value (the skill has no pretrained-model key)")


def runner_filled_keys(skill: Skill, promotes: bool = False, base_checkpoint: str = "") -> dict[str, str]:
    """Spec keys the runner writes for its recs (results folder, output files, ``base_checkpoint`` when one is
    given and, when the brain ``promotes`` recs from checkpoints, the resume checkpoint) -> what it writes there:
    the keys :func:`role_values` fills."""
    results, resume, base = "\0results", "\0resume", "\0base"
    filled = role_values(skill.spec_params, skill.action_info.get("outputs") or {}, results_dir=results,
                         resume_path=None, base_checkpoint=base if base_checkpoint else "", encryption_key=None)
    if promotes:
        filled.update(role_values(skill.spec_params, {}, results_dir=results, resume_path=resume,
                                  base_checkpoint="", encryption_key=None))
    return {key: "the checkpoint a promoted rec resumes" if value == resume else
            f"base_checkpoint {base_checkpoint!r}" if value == base else
            "the rec's results folder" if value == results else "a file under the rec's results folder"
            for key, value in filled.items()}


#: A spec key naming one element of a list: ``train.betas[1]``.
ELEMENT_KEY = re.compile(r"^(?P<list>[^\[\]]+)\[(?P<index>\d+)\]\Z")


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type (``4 == 4.0`` and ``0 == False`` in Python, not in a spec file)."""
    return type(a) is type(b) and a == b


def checked_overrides(skill: Skill, space: SearchSpace | None, overrides: Mapping[str, Any], *,
                      epoch_key: str | None = None, algorithm: str | None = None,
                      promotes: bool = False, base_checkpoint: str = "") -> dict[str, Any]:
    """The base spec after checking ``overrides`` (a mapping for a group is checked leaf by leaf); a key that is
    also searched is refused (it would win over every rec's value, and the recorded params would not be what ran),
    and so is ``epoch_key`` when a multi-fidelity ``algorithm`` writes each rec's budget there."""
    spec = base_spec(skill)
    check_spec_overrides(skill, spec, overrides)
    resolved = resolve_overrides(skill, spec, overrides)
    for key, value in resolved.items():
        element = ELEMENT_KEY.match(key)
        if element is not None:  # one element of a list: checked against that element's bounds
            list_prop = get_property(skill.schema, element["list"])
            if list_prop is not None:
                check_list_override(element["list"], list_prop, value, int(element["index"]))
            continue
        prop = get_property(skill.schema, key)
        # the template's own value (which every job gets anyway) is not refused when the schema's options omit it;
        # the same value of another type (4.0 for 4, 0 for false) is not the template's and is checked
        if prop is not None and not (has_path(spec, key) and _same(get_path(spec, key), value)):
            check_override_value(key, prop, value)
    if space is not None:
        names = set(space.names)
        searched = [(key, name) for key in resolved if (name := searched_part(key, names)) is not None]
        if searched:
            key, name = searched[0]
            part = "" if key == name else f" (part of {name}, which is searched)"
            raise SearchSpaceError(
                f"spec_overrides.{key}: the key is also searched{part}, so one value would override every rec's; "
                "drop it from spec_overrides, or from the search with automl_hyperparameters/custom_param_ranges",
                field=f"spec_overrides.{key}", value=resolved[key], allowed="a key that is not searched",
            )
    filled = runner_filled_keys(skill, promotes=promotes, base_checkpoint=base_checkpoint)
    taken = [key for key in resolved if key in filled]
    if taken:
        key = taken[0]
        raise UserInputError(
            f"spec_overrides.{key}: the runner sets it for every rec ({filled[key]}), so {resolved[key]!r} would be "
            "overwritten; drop it from spec_overrides", field=f"spec_overrides.{key}", value=resolved[key],
            allowed="a key the runner does not fill")
    for key in epoch_family(skill, epoch_key) if epoch_key is not None else ():
        if key not in resolved:
            continue
        value = resolved[key]
        raise UserInputError(
            f"spec_overrides.{key}: {value!r} would be overwritten: algorithm {algorithm!r} sets each rec's "
            f"{key} to its epoch budget; drop it and set automl_settings.automl_max_epochs (the largest "
            "budget) instead",
            field=f"spec_overrides.{key}", value=value, allowed="automl_settings.automl_max_epochs instead",
        )
    return spec


def check_epoch_key_not_searched(skill: Skill | None, space: SearchSpace, epoch_key: str | None, algorithm: str,
                                 hyperparameters: Sequence[str] | None,
                                 custom_ranges: Mapping[str, Any] | None) -> None:
    """A multi-fidelity ``algorithm`` writes each rec's budget at ``epoch_key`` (and its twins): a searched epoch key
    is refused, as the same key in ``spec_overrides`` is, since the searched value would never reach the job while
    the rec's params still showed it (epochs that never ran). The error names where the search got the key."""
    if epoch_key is None:
        return
    names = set(space.names)
    for key in epoch_family(skill, epoch_key):
        if key not in names:
            continue
        if key in (hyperparameters or ()):
            field = "automl_hyperparameters"
        elif isinstance(custom_ranges, Mapping) and key in custom_ranges:
            field = f"custom_param_ranges.{key}"
        elif skill is not None and skill.schema.get("automl_default_parameters") is None:
            field = f"schema property {key}"  # searched by default for its own flag (automl_candidates)
        else:
            field = "automl_default_parameters"
        by_flag = field.startswith("schema property")
        searched = f"{key!r} is searched (the schema has no automl_default_parameters and its automl_enabled is " \
                   "true)" if by_flag else f"{key!r} is searched"
        raise UserInputError(
            f"{field}: {searched}, but algorithm {algorithm!r} sets each rec's {key} to its epoch budget, so "
            "the searched value would never reach the job (its params would show epochs it did not train); drop it "
            "from the search and set automl_settings.automl_max_epochs (the largest budget) instead",
            field=field, value=key, allowed="a param other than the epoch key",
            hint=("automl_hyperparameters naming the params to search without it, or automl_enabled: false on it in "
                  "the schema") if by_flag else
            "automl_hyperparameters without it" if field == "automl_default_parameters" else None)


_INT_TYPES, _FLOAT_TYPES, _BOOL_TYPES = ("int", "integer"), ("float", "number"), ("bool", "boolean")


def check_train_specs(schema: Mapping[str, Any], specs: Mapping[str, Any]) -> None:
    """``AutoML(train_specs=...)``, the base spec of every rec, checked against the schema as ``spec_overrides`` are:
    a near-miss key is an error with the suggestion, a new key a warning, a known key's value must fit its type,
    options and bounds. It replaces the schema defaults (the spec's behaviour): defaults it leaves out get a warning."""
    known = sorted({key for key, _ in flatten(schema_defaults(schema))})
    given = dict(flatten(specs))
    for key, value in given.items():
        prop = get_property(schema, key) if "[" not in key else None
        if prop is not None:
            check_override_value(key, prop, value, source="train_specs")
        elif key not in known:
            check_not_a_typo("train_specs", key, value, known)
            log.warning("train_specs: %r is not in the schema; kept as given", key)
    left_out = [key for key in known if key not in given and not any(key.startswith(g + ".") for g in given)]
    if left_out:
        log.warning("train_specs is each rec's whole base spec (the schema defaults are not merged in): %d default "
                    "key(s) are not in it, e.g. %s; pass train_specs=None for the defaults, or include them",
                    len(left_out), ", ".join(left_out[:3]))


def check_space_fits_skill(skill: Skill, space: SearchSpace, ranges: Mapping[str, Any] | None) -> None:
    """What the searched params ask of the skill's action, checked by the run and by preflight alike: the spec
    format can write every option, and the command passes the spec file to the job."""
    check_format_holds(skill, space, ranges)
    check_command_takes_spec(skill, space.names)


def check_format_holds(skill: Skill, space: SearchSpace, ranges: Mapping[str, Any] | None) -> None:
    """A searched option the action's spec format cannot write is refused: TOML has no null, so a ``null`` option
    would leave the key out of the job's spec while the run records it as searched."""
    if skill.config_format != "toml":
        return
    for param in space.params:
        if isinstance(param, CategoricalParam) and None in param.choices:
            given = param.name in (ranges or {})
            field = f"custom_param_ranges.{param.name}.valid_options" if given else f"schema property {param.name}"
            raise SearchSpaceError(
                f"{field}: the option null cannot be written to {skill.name}'s TOML spec (TOML has no null: the key "
                "would be left out, and the job would use its own default while the run records null)",
                field=field, value=None, allowed=[c for c in param.choices if c is not None],
                hint="drop null from the options (or give the value the job uses by default)")


def check_list_override(key: str, prop: Mapping[str, Any], value: Any, index: int | None = None,
                        source: str = "spec_overrides") -> bool:
    """A numeric list property's override (or, with ``index``, one element of it) checked against what the schema
    declares, as a scalar override is: numbers, integers when the property's type is int, within its own
    ``minimum``/``maximum``/``valid_min``/``valid_max`` (one for every element, or a list of one per element).
    Nothing tao-automl derives for its search (ranges around the default, int-ness read from the default, the
    default's length: ``list_N`` in the bank does not match it) is held against the user. False when ``prop`` is
    not a numeric list."""
    from tao_automl.schema.lists import BOUND_KEYS, is_numeric_list

    if not is_numeric_list(prop):
        return False
    where = f"{source}.{key}" if index is None else f"{source}.{key}[{index}]"
    if index is not None:
        items = [(index, value)]
    elif isinstance(value, (list, tuple)):
        items = list(enumerate(value))
    else:
        raise UserInputError(f"{where}: {value!r} is not allowed; expected a list of numbers", field=where,
                             value=value, allowed="a list of numbers")
    integer = str(prop.get("type", "")) in _INT_TYPES
    for i, item in items:
        number = is_finite_number(item) and (not integer or isinstance(item, int))
        bounds: dict[str, float] = {}
        for k in BOUND_KEYS:
            b = prop.get(k)
            b = (b[i] if i < len(b) else None) if isinstance(b, list) else b
            if is_number(b):
                bounds[k] = float(b)
        lows = [b for k, b in bounds.items() if k in ("minimum", "valid_min")]
        highs = [b for k, b in bounds.items() if k in ("maximum", "valid_max")]
        low, high = (max(lows) if lows else None), (min(highs) if highs else None)
        if number and (low is None or item >= low) and (high is None or item <= high):
            continue
        kind = "an integer" if integer else "a number"
        span = f" in [{'-inf' if low is None else low}, {'inf' if high is None else high}] (the schema's bounds)" \
            if low is not None or high is not None else ""
        raise UserInputError(f"{where}: element {i} ({item!r}) is not allowed; expected {kind}{span}",
                             field=where, value=value, allowed=f"{kind}{span}")
    return True


def check_override_value(key: str, prop: Mapping[str, Any], value: Any, source: str = "spec_overrides") -> None:
    """A ``spec_overrides`` (or ``source``) value checked like a searched one: the schema's type, options and
    bounds (element by element for a numeric list)."""
    if check_list_override(key, prop, value, source=source):
        return
    kind = str(prop.get("type", ""))
    allowed = ""
    if kind in _INT_TYPES and (isinstance(value, bool) or not isinstance(value, int)):
        allowed = "an integer"
    elif kind in _INT_TYPES and abs(value) > INT64_MAX:  # the run's store (and most trainers) hold 64 bits
        allowed = f"an integer of 64 bits (-{INT64_MAX}..{INT64_MAX})"
    elif kind in _FLOAT_TYPES and not is_finite_number(value):
        allowed = "a finite number"
    elif kind in _BOOL_TYPES and not isinstance(value, bool):
        allowed = "true or false"
    elif kind in ("collection", "object") and not isinstance(value, Mapping):
        allowed = "a mapping (the key holds a group of settings)"
    options = schema_options(prop)
    listed: list[Any] | None = None  # the options, for JSON readers (allowed is their text in the message)
    close = ""
    if not allowed and options is not None and kind not in _BOOL_TYPES \
            and not isinstance(value, (list, dict)) and value not in options:  # an int/float with options: one of them
        allowed, listed = f"one of {', '.join(map(repr, options))}", list(options)
        close = did_you_mean(str(value), [str(o) for o in options])
    if not allowed and kind in _INT_TYPES + _FLOAT_TYPES:
        allowed = _outside_schema(key, prop, value)
    if allowed:
        hint = number_as_text_hint(value, integer=kind in _INT_TYPES, refuses=lambda n: (
            f"one of {', '.join(map(repr, options))}" if options is not None and n not in options
            else _outside_schema(key, prop, n))) if kind in _INT_TYPES + _FLOAT_TYPES else ""
        raise UserInputError(f"{source}.{key}: {value!r} is not allowed{close}; expected {allowed}{hint}",
                             field=f"{source}.{key}", value=value, allowed=allowed if listed is None else listed)


def _outside_schema(key: str, prop: Mapping[str, Any], value: float) -> str:
    """:func:`~tao_automl.schema.bounds.outside_schema` (the schema build's check of its options too), ``""`` for a
    schema whose own bounds are broken: its search reports it."""
    try:
        return outside_schema(key, prop, value)
    except SearchSpaceError:
        return ""


def check_epoch_budget(schema: Mapping[str, Any], settings: AutoMLSettings, key: str | None,
                       space: SearchSpace | None = None) -> None:
    """``automl_max_epochs`` (the largest budget a multi-fidelity brain writes to the epoch ``key``) checked against
    that key's schema bounds, as a searched or overridden value is: a trainer would refuse it, or train longer than
    its schema allows. Given the run's ``space``, every lower budget the brain writes there (its rungs, pbt's
    generations) is checked too: a lowest rung of 1 epoch under a schema minimum of 5 is as wrong."""
    if key is None:
        return
    prop = get_property(schema, key)
    if prop is None or str(prop.get("type", "")) not in _INT_TYPES + _FLOAT_TYPES:
        return
    value = settings.automl_max_epochs
    allowed = _outside_schema(key, prop, value)
    if allowed:
        raise SettingsError(
            f"automl_settings.automl_max_epochs: {value!r} is not allowed; expected {allowed} of the epoch key "
            f"{key!r}, where {settings.algorithm!r} writes each rec's epoch budget",
            field="automl_settings.automl_max_epochs", value=value, allowed=allowed)
    if space is None:
        return
    brain = make_brain(settings.algorithm, space, brain_options(settings.algorithm, settings))
    written = getattr(brain, "epoch_budgets", None)
    budgets = [int(b) for b in written()] if callable(written) else []
    refused = {b: _outside_schema(key, prop, b) for b in budgets}
    bad = [b for b, why in refused.items() if why]
    if bad:
        raise SettingsError(
            f"automl_settings.automl_max_epochs: {value!r} makes {settings.algorithm!r} write the epoch budgets "
            f"{budgets} to the epoch key {key!r}; {', '.join(map(str, bad))} "
            f"{'is' if len(bad) == 1 else 'are'} not allowed there: expected {refused[bad[0]]}",
            field="automl_settings.automl_max_epochs", value=value, allowed=refused[bad[0]],
            hint="raise automl_max_epochs or automl_reduction_factor so the lowest rung is inside the bounds (pbt: "
                 "fewer generations, i.e. a larger automl_population_size for the same automl_max_recommendations), "
                 "or widen the schema's bounds of that key")

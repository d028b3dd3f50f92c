"""One run's plan, built once before anything is created: skill, settings, space, base spec, job context,
metric name, direction and epoch key.

The runner, the dry run, preflight and :class:`tao_automl.AutoML` all prepare a run through this module, so a
check made for one is made for all. The stages are separate functions so that preflight can report each one.
"""

from __future__ import annotations

import inspect
import logging
import math
import numbers
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import numpy as np

from tao_automl.bank.skill import Skill, load_skill
from tao_automl.brain.classic.novelty import ENUMERATE_LIMIT, all_configs, config_key, finite_size
from tao_automl.brain.multifidelity.successive_halving import hyperband_brackets, plan_brackets
from tao_automl.brain.registry import brain_options, check_algorithm, make_brain
from tao_automl.brain.trials import PROMOTION, TrialScheduler
from tao_automl.errors import SearchSpaceError, SettingsError, UserInputError
from tao_automl.metrics.parse import normalise_name
from tao_automl.platforms.base import as_platform, unwrap
from tao_automl.platforms.common import as_setting_error
from tao_automl.render.job import (
    JobContext,
    base_spec,
    check_command_takes_spec,
    check_spec_overrides,
    place,
    render_job,
    resolve_overrides,
    template_value_in_the_way,
)
from tao_automl.render.keys import check_dataset_keys, check_overrides_not_placed, searched_part
from tao_automl.render.paths import get_path, has_path
from tao_automl.render.placed import uri_field
from tao_automl.render.roles import PTM_ROLES, checkpoint_keys, role_values
from tao_automl.runner.fidelity import epoch_family, epoch_key, find_epoch_key, resumes_from_checkpoint
from tao_automl.runner.resources import DEFAULT_GPU_COUNT, check_gpu_count, resource_overrides
from tao_automl.runner.run_args import RunArgs
from tao_automl.schema.access import get_property
from tao_automl.schema.baseline import Baseline, baseline
from tao_automl.schema.bounds import outside_schema, split_range_notes
from tao_automl.schema.build import build_search_space, derived_bounds, misspelt_range_key, schema_defaults
from tao_automl.schema.choices import schema_options
from tao_automl.schema.relations import unenforced_relations
from tao_automl.settings import AutoMLSettings, Direction, direction_doubt, infer_direction
from tao_automl.space.numeric import FloatParam, IntParam
from tao_automl.space.search_space import CategoricalParam, SearchSpace, describe
from tao_automl.util.checks import INT64_MAX
from tao_automl.util.digits import apart
from tao_automl.util.dotted import flatten, with_values
from tao_automl.util.suggest import did_you_mean, nearest, one_typo_apart
from tao_automl.util.yaml_numbers import number_as_text_hint

log = logging.getLogger(__name__)

KPI = "kpi"


def load_settings(raw: Mapping[str, Any] | None) -> AutoMLSettings:
    """Validated settings with a known algorithm."""
    settings = AutoMLSettings.from_mapping(raw)
    check_algorithm(settings.algorithm)
    return settings


def metric_name(settings: AutoMLSettings, skill: Skill | None) -> str:
    """The metric the jobs report: ``kpi`` is the skill's monitoring metric (an error when it names none)."""
    if settings.metric != KPI:
        return settings.metric
    found = skill.monitoring_metric() if skill is not None else None
    if not found:
        owner = skill.name if skill is not None else "a search_schema without a skill"
        raise UserInputError(
            f"automl_settings.metric: 'kpi' needs the model's monitoring metric, but {owner} names none (no "
            f"kpi_metric or actions.{skill.action if skill is not None else 'train'}.metric in skill_info.yaml, no "
            "monitor_name in the schema defaults); give the metric name",
            field="automl_settings.metric", value=KPI, allowed="the name of a metric the jobs report",
        )
    return found


def known_metrics(skill: Skill) -> list[str]:
    """Metrics the model reports: its monitoring metric, ``reported_metrics`` of its skill_info (an extension) and
    ``kpi`` (the monitoring metric's alias); empty when it names none."""
    names = list(skill.reported_metrics)
    monitoring = skill.monitoring_metric()
    if monitoring:
        names = [monitoring, *names, KPI]
    return list(dict.fromkeys(names))


def metric_fields(metric: Any) -> list[tuple[str, str]]:
    """``(field, name)`` of each metric a ``metric`` setting names: the metric, or each entry of a metric list
    (``{name, direction}`` mappings, as written or as ``AutoMLSettings.objectives``)."""
    if not isinstance(metric, (list, tuple)):
        return [("automl_settings.metric", str(metric))]
    return [(f"automl_settings.metric[{i}].name", str(entry.get("name") if isinstance(entry, Mapping) else entry))
            for i, entry in enumerate(metric)]


def check_metric(metric: Any, skill: Skill, *, hint: str | None = None, unset: bool = False) -> None:
    """A metric (or an entry of a metric list) the model does not report is refused, with a did-you-mean and the
    allowed names; names compare as the jobs' metrics are read (``Val/Loss`` is ``val_loss``). A model whose
    skill_info declares no ``reported_metrics`` is known to report its monitoring metric only, and may write others:
    a name one typing slip away from a known one (``val_los``) is refused, any other is left to the jobs. ``unset``:
    the settings named no metric (``metric`` is the default ``loss``): a refusal says so and names the model's own
    monitoring metric, not a near spelling of the default."""
    allowed = known_metrics(skill)
    if not allowed:
        return
    entries = metric_fields(metric)
    if isinstance(metric, (list, tuple)):  # a list entry is a name as written: no kpi alias
        allowed = [name for name in allowed if name != KPI]
    spellings = {normalise_name(name): name for name in allowed}  # how the jobs' metrics are read (val/loss = val_loss)
    for field, name in entries:
        wanted = normalise_name(name)
        if wanted in spellings:
            continue
        slip = next((known for spelt, known in spellings.items() if len(spelt) >= 5 and one_typo_apart(wanted, spelt)),
                    None)
        if unset and (skill.reported_metrics or slip is not None):
            _refuse_unset(name, skill, allowed, hint)
        if skill.reported_metrics:
            raise SettingsError(
                f"{field}: {name!r} is not a metric {skill.name} reports{did_you_mean(name, allowed)}; "
                f"allowed: {', '.join(allowed)}", field=field, value=name, allowed=allowed,
                hint=hint or "name a metric the model reports: its skill_info.yaml lists them in reported_metrics")
        if slip is not None:
            raise SettingsError(
                f"{field}: {name!r} is one letter away from {slip!r}, the metric {skill.name} is known to report "
                f"(did you mean {slip!r}?)", field=field, value=name, allowed=allowed,
                hint=hint or f"use {slip!r}; if the jobs really write {name!r}, add it to reported_metrics in the "
                             "model's skill_info.yaml")


def _refuse_unset(default: str, skill: Skill, allowed: list[str], hint: str | None) -> None:
    """Refuse a run whose settings named no metric when the default ``default`` is not one the model reports: the
    error says so and names the model's monitoring metric (not a near spelling of a value the user never wrote)."""
    monitoring = skill.monitoring_metric()
    own = f"; {skill.name}'s monitoring metric is {monitoring!r}" if monitoring else ""
    raise SettingsError(
        f"automl_settings.metric is not set, and its default {default!r} is not a metric {skill.name} reports{own}; "
        f"allowed: {', '.join(allowed)}", field="automl_settings.metric", value=None, allowed=allowed,
        hint=hint or (f"set automl_settings.metric: {monitoring} (or kpi, its alias)" if monitoring else
                      "set automl_settings.metric to a metric the model reports"))


def settings_metric(settings: AutoMLSettings) -> Any:
    """What the ``metric`` setting named: the list of objectives, else the one metric."""
    return settings.objectives or settings.metric


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


def direction(settings: AutoMLSettings, skill: Skill | None, *, warn: bool = True) -> Direction:
    """The setting when given; for ``kpi`` (or the KPI named) the skill's ``kpi_direction``; else inferred from the
    metric name (a guess the name does not make plain is logged unless ``warn`` is False: a run's notes carry it, see
    :func:`direction_notes`)."""
    if settings.direction:
        return Direction(settings.direction)
    if skill is not None and declares_direction(settings, skill):
        return Direction(str(skill.kpi_direction))
    return Direction(infer_direction(metric_name(settings, skill), warn=warn))


def declares_direction(settings: AutoMLSettings, skill: Skill | None) -> bool:
    """Whether the skill says which way the run's metric is better: its KPI (``kpi``, or the KPI's own name) with a
    ``kpi_direction``; the name is then not read for a guess."""
    return skill is not None and bool(skill.kpi_metric and skill.kpi_direction) \
        and settings.metric in (KPI, skill.kpi_metric)


def job_baseline(skill: Skill, overrides: Mapping[str, Any]) -> Baseline:
    """The base spec every rec starts from (template and ``spec_overrides`` over the schema defaults), with where
    each value came from. Keys that index into a list (``a.b[0]``) are not read by the search space and are left
    out; :func:`checked_overrides` checks every key."""
    resolved = resolve_overrides(skill, base_spec(skill), overrides)
    try:
        return baseline(skill.schema, skill.template, {k: v for k, v in resolved.items() if "[" not in k})
    except ValueError as exc:
        in_the_way = template_value_in_the_way(skill, overrides)  # named by the template file and key
        if in_the_way is not None:
            raise in_the_way from None
        raise UserInputError(f"spec_overrides: {exc}", field="spec_overrides", value=dict(overrides),
                             allowed="keys that can be placed in the spec") from None


def search_space(schema: Mapping[str, Any], settings: AutoMLSettings, hyperparameters: Sequence[str] | None,
                 custom_ranges: Mapping[str, Mapping[str, Any]] | None, base: Baseline | None = None,
                 shorthand: Mapping[str, str] | None = None) -> SearchSpace:
    """The run's space; ``base`` (:func:`job_baseline`) is what a param that is not searched holds in each job.
    ``shorthand``: the skill's ``spec_shorthand_keys``; a hyperparameter named by one is refused naming its key."""
    named = [("automl_hyperparameters", name, "automl_hyperparameters") for name in hyperparameters or ()]
    if isinstance(custom_ranges, Mapping):
        named += [(f"custom_param_ranges.{name}", name, "custom_param_ranges") for name in custom_ranges]
    for field, name, setting in named:
        key = (shorthand or {}).get(name) if isinstance(name, str) else None
        if key is not None and get_property(schema, key) is not None and get_property(schema, name) is None:
            raise SearchSpaceError(
                f"{field}: {name!r} is the model's shorthand for {key!r} (spec_overrides takes it); "
                f"a searched hyperparameter is named by its schema key: {key!r}", field=field,
                value=name, allowed=[key], hint=f"write {key!r} in {setting}")
    try:
        return build_search_space(schema, hyperparameters, custom_ranges,
                                  override_disabled=settings.override_automl_disabled_params, base=base)
    except SearchSpaceError as exc:
        if exc.field is not None:
            raise
        raise _located(exc, hyperparameters, custom_ranges or {}) from None


_RANGE_NAME = re.compile(r"custom_param_ranges(?:\[| names )'([^']+)'")
_PARAM_NAME = re.compile(r"(?:param|parameter|hyperparameter) '([^']+)'")
_ALLOWED = re.compile(r"(?:allowed(?: keys)?|valid keys|available|expected|needs?):? (.+)$")
_SAID_ALLOWED = re.compile(r"\ballowed(?: keys)?: (.+)$")  # said outright: wins over a "needs ..." before it
_WEIGHTS = re.compile(r"has \d+ entries but there are (\d+) options")
_MEANT = re.compile(r"did you mean '([^']+)'")
_RELATION = re.compile(r"relation (\S+) \S+ (\S+) cannot hold")


def _located(exc: SearchSpaceError, hyperparameters: Sequence[str] | None,
             ranges: Mapping[str, Any]) -> SearchSpaceError:
    """A search-space error from the schema layer given the field and value it is about (the input that caused it)
    and what is allowed (from its message, else the schema's params)."""
    detail = str(exc.detail)
    found = _RANGE_NAME.search(detail)
    named = _PARAM_NAME.search(detail)
    param = named.group(1) if named else None
    relation = _RELATION.search(detail)
    narrowed = [p for p in (relation.groups() if relation else ()) if p in ranges]
    if narrowed:  # two searched params whose given ranges leave the schema's relation no value
        field, value = f"custom_param_ranges.{narrowed[0]}", ranges[narrowed[0]]
        return SearchSpaceError(f"{field}: {detail}", field=field, value=value,
                                allowed=f"a range of {narrowed[0]} where the relation can hold", hint=exc.hint)
    if relation:  # the schema's own ranges leave its depends_on relation no value: the schema's fault, not a setting
        left, right = relation.groups()
        can_hold = f"ranges of {left} and {right} where the schema's depends_on relation can hold"
        return SearchSpaceError(
            f"schema property {left}: {detail} (the schema's depends_on); allowed: {can_hold}, e.g. a "
            f"custom_param_ranges entry for one of them", field=f"schema property {left}",
            value=detail.split(": ", 1)[-1], allowed=can_hold, hint=exc.hint)
    owner = _list_owner(param, ranges)  # an element (train.sizes[0]) of a list given a custom range as a whole
    if found:
        name = _list_owner(found.group(1), ranges) or found.group(1)
        field, value = f"custom_param_ranges.{name}", ranges.get(name)
    elif owner is not None:  # e.g. a scale or range given there that the param cannot take
        field, value = f"custom_param_ranges.{owner}", ranges[owner]
        detail = f"{field}: {detail}"
    elif param is not None and param not in (hyperparameters or []):  # the schema's own declaration
        field, value = f"schema property {param}", exc.value if exc.value is not None else param
        detail = f"{field}: {detail}"
    else:
        field = "automl_hyperparameters"
        # the name at fault when the error names one of the list, else the whole list
        value = param if param is not None and param in (hyperparameters or []) else list(hyperparameters or [])
        if not detail.startswith(field):
            detail = f"{field}: {detail}"
    allowed = exc.allowed if exc.allowed is not None else _allowed_of(detail)  # the schema layer's own, if it said
    return SearchSpaceError(detail, field=field, value=value, allowed=allowed, hint=exc.hint)


def _list_owner(param: str | None, ranges: Mapping[str, Any]) -> str | None:
    """The ``custom_param_ranges`` key that set ``param``: itself, or the list an element ``name[i]`` belongs to."""
    if param is None:
        return None
    if param in ranges:
        return param
    element = _ELEMENT_KEY.match(param)
    return element["list"] if element is not None and element["list"] in ranges else None


def _allowed_of(detail: str) -> str | list[str]:
    """What would be accepted, as the error's message says it (else the general rule); a list of names (options,
    keys) as a list."""
    weights, meant, said = _WEIGHTS.search(detail), _MEANT.search(detail), _SAID_ALLOWED.search(detail)
    allowed = said or _ALLOWED.search(detail)
    if weights:
        return f"{weights.group(1)} option_weights, one per option"
    if "disables every option" in detail:
        return "a disable_list that keeps at least one option"
    if meant and not said:  # a misspelt name; a misspelt option says its allowed options outright
        return f"{meant.group(1)!r} or another searchable param of the schema (`tao-automl models --scope automl`)"
    if allowed:
        return _names(allowed.group(1))
    return "searchable params of the schema, within its bounds"


def _names(text: str) -> str | list[str]:
    """``"['a', 'b']"`` (a list of names as the message writes it) as a list; any other text as it is."""
    import ast

    try:
        value = ast.literal_eval(text) if text.startswith("[") else None
    except (ValueError, SyntaxError):
        return text
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return text


def settings_notes(given: Mapping[str, Any] | None, settings: AutoMLSettings, space: SearchSpace) -> list[str]:
    """Notes for brain-specific settings the user set that the chosen algorithm does not read."""
    from tao_automl.brain.auto import choose
    from tao_automl.brain.settings_use import unused_settings

    picked = choose(space, settings)[0] if settings.algorithm == "auto" else None
    return unused_settings(given or {}, settings.algorithm, picked)


def space_notes(schema: Mapping[str, Any], space: SearchSpace,
                custom_ranges: Mapping[str, Mapping[str, Any]] | None, base: Baseline | None = None) -> list[str]:
    """What the space chose that the user did not say: a log-scale param whose minimum (the schema's, or a
    ``valid_min`` <= 0 given for a param put on a log scale automatically) is not positive starts at a floor the
    builder picked."""
    notes = []
    fixed = [f"{p.name} = {apart(p.low)}" for p in space.params if isinstance(p, (FloatParam, IntParam))
             and p.low == p.high]
    fixed += [f"{p.name} = {p.choices[0]!r}" for p in space.params
              if isinstance(p, CategoricalParam) and len(p.choices) == 1]  # one option (an enum, valid_options)
    if fixed:  # a range of one value: searched, it never varies
        notes.append("param(s) with a range of one value, never varied by the search: " + ", ".join(fixed)
                     + " (widen valid_min/valid_max, or valid_options, in custom_param_ranges, or set the value "
                       "with spec_overrides "
                       "and leave it out of automl_hyperparameters)")
    for param in space.params:
        if not isinstance(param, (FloatParam, IntParam)) or not param.log:
            continue
        given = (custom_ranges or {}).get(param.name, {}).get("valid_min")
        if given is not None:
            if _number(given) and given <= 0:  # an explicit scale 'log' with it is refused by the space builder
                notes.append(f"param {param.name}: valid_min {given} is not reachable on the log scale chosen for "
                             f"it; searching from {apart(param.low)} (set custom_param_ranges.{param.name}.scale to "
                             "'linear' to include it, or a valid_min > 0)")
            continue
        prop = get_property(schema, param.name) or {}
        lows = [prop[k] for k in ("minimum", "valid_min") if _number(prop.get(k))]
        if lows and max(lows) <= 0:
            notes.append(f"param {param.name}: the schema minimum is {max(lows)}, which a log scale cannot reach; "
                         f"searching from {apart(param.low)} (set custom_param_ranges.{param.name}.valid_min to "
                         "choose)")
    return (notes + narrowed_range_notes(schema, space, custom_ranges) + unenforced_relations(schema, space.params)
            + split_range_notes(schema, space, custom_ranges, base))


def narrowed_range_notes(schema: Mapping[str, Any], space: SearchSpace,
                         custom_ranges: Mapping[str, Mapping[str, Any]] | None) -> list[str]:
    """A note for each ``custom_param_ranges`` end the search does not reach because a ``depends_on`` relation with a
    param that is not searched cuts the range (DINO's ``num_select <= num_queries``: valid_max 500 searched up to
    100, without a word)."""
    from tao_automl.schema.relations import dependents_of, parents_of

    notes = []
    for name, given in (custom_ranges or {}).items():
        param = space[name] if name in space.names else None
        if not isinstance(param, (FloatParam, IntParam)) or not isinstance(given, Mapping):
            continue
        cut = [f"valid_{end} {apart(given[f'valid_{end}'], now)} -> {apart(now, given[f'valid_{end}'])}"
               for end, now in (("min", param.low), ("max", param.high))
               if _number(given.get(f"valid_{end}")) and given[f"valid_{end}"] != now
               and (given[f"valid_{end}"] < now if end == "min" else given[f"valid_{end}"] > now)]
        if not cut:
            continue
        prop = get_property(schema, name) or {}
        related = [p for p in parents_of(prop, schema, name) if p not in space.names]
        related += [other for other, _ in dependents_of(schema, name) if other not in space.names]
        if related:  # other cuts (a log scale's floor) have their own note
            notes.append(f"param {name}: custom_param_ranges {'; '.join(cut)}: the schema's depends_on ties it to "
                         f"{', '.join(related)}, which is not searched (its value in the spec bounds it); search "
                         f"{related[0]} too, or change its value, to reach the given range")
    return notes


def bound_notes(space: SearchSpace, derived: Mapping[str, Sequence[str]],
                schema: Mapping[str, Any] | None = None) -> list[str]:
    """One note naming the range ends the tool chose because the schema gives none (``derived``, from
    :func:`~tao_automl.schema.build.derived_bounds`), and a key of the param's schema property that looks like a
    misspelt key of such an end (``maximun``)."""
    if not derived:
        return []
    shown = "; ".join(f"{name} {describe(space[name])} ({_derived_ends(schema, name, sides)})"
                      for name, sides in derived.items())
    return [f"range ends derived by tao-automl (the schema has none; set custom_param_ranges to choose): {shown}"]


def _derived_ends(schema: Mapping[str, Any] | None, name: str, sides: Sequence[str]) -> str:
    typo = misspelt_range_key(schema, name, sides)
    return derived_text(sides) + (f"; {typo}" if typo else "")


def derived_text(sides: Sequence[str]) -> str:
    """``upper bound derived: schema has none`` (or lower, or both)."""
    names: dict[tuple[str, ...], str] = {("low",): "lower bound", ("high",): "upper bound"}
    what = names.get(tuple(sides), "both bounds")
    return f"{what} derived: schema has none"


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
_ELEMENT_KEY = re.compile(r"^(?P<list>[^\[\]]+)\[(?P<index>\d+)\]\Z")


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
        element = _ELEMENT_KEY.match(key)
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
            close = nearest(key, known, cutoff=0.85)
            if close is not None:
                raise UserInputError(f"train_specs: unknown key {key!r} (did you mean {close!r}?)",
                                     field=f"train_specs.{key}", value=value,
                                     allowed=f"{close!r}, or a new key unlike the schema's (one this near {close!r} "
                                             "is taken for a typo)")
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
        number = _number(item) and math.isfinite(item) and (not integer or isinstance(item, int))
        bounds: dict[str, float] = {}
        for k in BOUND_KEYS:
            b = prop.get(k)
            b = (b[i] if i < len(b) else None) if isinstance(b, list) else b
            if isinstance(b, (int, float)) and not isinstance(b, bool):
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
    elif kind in _FLOAT_TYPES and not (_number(value) and math.isfinite(value)):
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


def check_render(skill: Skill, space: SearchSpace | None, ctx: JobContext) -> dict[str, Any]:
    """Render one rec (any config of the space; the base spec without one) into a temporary folder and return its
    spec: a command placeholder that cannot be filled, or a value that cannot be placed in the spec, fails here
    rather than at the first submission."""
    params = space.sample(np.random.default_rng(0)) if space is not None else {}
    with tempfile.TemporaryDirectory(prefix="tao-automl-plan-") as tmp:
        return render_job(skill, params, ctx, rec_dir=Path(tmp) / "rec", results_dir=str(Path(tmp) / "results")).spec


def fidelity_key(skill: Skill, settings: AutoMLSettings, space: SearchSpace) -> str | None:
    """The epoch key when the brain is multi-fidelity (an error when the skill has none), else None."""
    brain = make_brain(settings.algorithm, space, brain_options(settings.algorithm, settings))
    return epoch_key(skill) if isinstance(brain, TrialScheduler) else None


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


def promotes(settings: AutoMLSettings, space: SearchSpace) -> bool:
    """Whether the run's brain promotes recs, each resuming its parent's checkpoint (promotion mode)."""
    brain = make_brain(settings.algorithm, space, brain_options(settings.algorithm, settings))
    return getattr(brain, "mode", None) == PROMOTION


def promotion_notes(skill: Skill, settings: AutoMLSettings, promoting: bool) -> list[str]:
    """A brain that promotes recs (``promoting``, see :func:`promotes`: hyperband-style brackets, asha in
    promotion mode, pbt) on a skill whose spec has no ``resume_model`` key: promoted recs train from scratch, and
    the run says so once instead of silently."""
    if not promoting or resumes_from_checkpoint(skill):
        return []
    return [f"model {skill.name!r} names no resume_model key in skill_info.yaml spec_params.{skill.action}: a rec "
            f"that {settings.algorithm} promotes trains its config from scratch for its whole budget (no checkpoint "
            "is reused, so pbt members inherit configs, not weights); add the key to resume promotions instead"]


def run_notes(skill: Skill, settings: AutoMLSettings, space: SearchSpace, given: Mapping[str, Any] | None,
              custom_ranges: Mapping[str, Mapping[str, Any]] | None, derived: Mapping[str, Sequence[str]],
              promoting: bool, base: Baseline | None = None) -> list[str]:
    """Every note of a run's plan (:attr:`RunPlan.notes`): what the space chose (:func:`space_notes`; ``base``: the
    job's base spec the space was built from), the range ends derived (:func:`bound_notes`), settings the algorithm
    does not read (``given``: the ``automl_settings`` as written) and, when the brain is ``promoting``
    (:func:`promotes`), promotions without a checkpoint."""
    return (space_notes(skill.schema, space, custom_ranges, base) + bound_notes(space, derived, skill.schema)
            + budget_notes(space, settings) + settings_notes(given, settings, space)
            + promotion_notes(skill, settings, promoting) + direction_notes(settings, skill))


def metric_direction(name: str, skill: Skill | None) -> tuple[str, str] | None:
    """``(direction, why)`` when the metric says which way is better: the skill's ``kpi_direction`` for its KPI,
    else a word of the name; ``None`` when nothing says."""
    from tao_automl.settings import evident_direction

    if skill is not None and skill.kpi_direction and name == skill.kpi_metric:
        return skill.kpi_direction, f"{skill.name}'s kpi_direction for it is {skill.kpi_direction}"
    said = evident_direction(name)
    if said is None:
        return None
    return said[0], f"its name reads {'lower' if said[0] == 'minimize' else 'higher'}-is-better ({said[1]!r})"


def direction_notes(settings: AutoMLSettings, skill: Skill | None) -> list[str]:
    """A note for each metric whose given direction goes against what its name says (``val_accuracy`` minimised)
    or, for the model's KPI, against its ``kpi_direction``: the run would rank the worst configs best."""
    given = settings.objectives or ([{"name": metric_name(settings, skill), "direction": settings.direction}]
                                    if settings.direction else [])
    notes = []
    if not given and not declares_direction(settings, skill):  # guessed from the name: a note unless it is plain
        doubt = direction_doubt(metric_name(settings, skill))
        if doubt is not None:
            notes.append(doubt)
    for i, entry in enumerate(given):
        name, chosen = entry["name"], str(entry["direction"])
        evident, why = metric_direction(name, skill) or (chosen, "")
        if chosen != evident:  # the field to change: the list entry's direction, or the setting
            where = f"automl_settings.metric[{i}].direction" if settings.objectives else "automl_settings.direction"
            notes.append(f"{where}: metric {name!r} is {chosen}d, but {why}: the run will rank the "
                         f"{'lowest' if chosen == 'minimize' else 'highest'} {name} best; set its direction to "
                         f"{evident} unless that is what you mean")
    return notes


#: Brains whose configs are uniform draws (the multi-fidelity ones learn which to train longer, not where to look).
RANDOM_CONFIGS = frozenset({"random", "asha", "hyperband", "hyperband_es"})


#: Multi-fidelity brains that promote a rung once ``automl_reduction_factor`` recs of it have finished.
PROMOTING = frozenset({"asha", "hyperband", "hyperband_es", "bohb", "dehb", "bfbo"})


def minimum_budget(settings: Mapping[str, Any]) -> tuple[int, str] | None:
    """``(recs, why)``: the smallest ``automl_max_recommendations`` the algorithm does what it is named for with
    (a pbt run of one generation exploits nothing, a rung of fewer recs than the reduction factor promotes
    nothing: either is a random search); None when any budget does."""
    defaults = AutoMLSettings()
    algorithm = settings.get("algorithm")
    if algorithm == "pbt":
        size = int(settings.get("automl_population_size", defaults.automl_population_size))
        return size + 1, (f"pbt's first generation is its automl_population_size={size} random members; nothing is "
                          "exploited or explored before a rec past it")
    if algorithm in PROMOTING:
        factor = int(settings.get("automl_reduction_factor", defaults.automl_reduction_factor))
        mode = settings.get("fidelity_mode", defaults.fidelity_mode)
        if algorithm == "asha" and mode == "promotion":  # the promotion is a rec of its own
            return factor + 1, (f"asha promotes a rung's best once automl_reduction_factor={factor} recs of it have "
                                "finished, and that promotion is one more rec")
        if algorithm in BRACKETS:
            max_epochs = int(settings.get("automl_max_epochs", defaults.automl_max_epochs))
            need = selecting_budget(max_epochs, factor)
            if need is not None:
                return need, (f"with fewer, {algorithm}'s brackets (automl_max_epochs={max_epochs}, "
                              f"automl_reduction_factor={factor}) start one config per rung and promote it unchosen")
        return factor, (f"{algorithm} promotes nothing before a rung of automl_reduction_factor={factor} recs "
                        "has finished")
    return None


#: Multi-fidelity brains on Hyperband's planned brackets (:func:`~tao_automl.brain.multifidelity.successive_halving.
#: plan_brackets`).
BRACKETS = frozenset({"hyperband", "bohb", "dehb", "bfbo"})


def selecting_budget(max_epochs: int, eta: int) -> int | None:
    """The fewest recs whose planned brackets choose between configs (a rung starts more configs than the next keeps);
    None for settings the brackets refuse (reported elsewhere)."""
    try:
        one = hyperband_brackets(max_epochs, eta)
    except SettingsError:
        return None
    for budget in range(1, sum(sum(b.sizes) for b in one) + 1):
        if any(len(b.sizes) > 1 and b.sizes[0] > b.sizes[1] for b in plan_brackets(one, budget, eta, rest=one)):
            return budget
    return None


#: Brains that never propose a config again while an unused one remains (the classic ones: none from a rec that ran
#: or is in flight; the multi-fidelity ones: none they started from scratch before).
NO_REPEAT_CLASSIC = frozenset({"bayesian", "tpe", "random", "auto"})
NO_REPEAT_FIDELITY = frozenset({"hyperband", "hyperband_es", "asha", "bohb", "dehb", "bfbo", "pbt"})


def distinct_configs(space: SearchSpace, below: int) -> int | None:
    """How many distinct configs a finite space holds (relations applied), when that is fewer than ``below``; None
    for a continuous space or one with at least ``below`` configs."""
    size = finite_size(space)
    if size is None or size > ENUMERATE_LIMIT or (size >= below and not space.relations):
        return None  # without relations every combination is a distinct config: none to enumerate
    seen: set[tuple[str, ...]] = set()
    for config in all_configs(space):  # repaired by the relations: several combinations may give one config
        seen.add(config_key(space, config))
        if len(seen) >= below:  # as many as the budget: no need to count the rest
            return None
    return len(seen)


def repeat_notes(space: SearchSpace, settings: AutoMLSettings) -> list[str]:
    """A note when the budget starts more configs from scratch than the space has distinct ones: the brain tries each
    once, then repeats configs that already ran (said at the start, not found out from the results)."""
    budget, algorithm = settings.automl_max_recommendations, settings.algorithm
    if algorithm == "auto":  # the brain it picks (a multi-fidelity one repeats differently)
        from tao_automl.brain.auto import choose

        algorithm = choose(space, settings)[0]
    if algorithm not in NO_REPEAT_CLASSIC | NO_REPEAT_FIDELITY:
        return []
    count = distinct_configs(space, budget)
    if count is None:
        return []
    head = f"the search space holds {count} distinct configs, fewer than automl_max_recommendations={budget}: "
    if algorithm in NO_REPEAT_CLASSIC:
        return [f"{head}the first {count} recs try each once, and the last {budget - count} repeat configs that "
                f"already ran (a repeat is never proposed while an untried config remains); lower "
                f"automl_max_recommendations to {count}, or search more params or wider ranges"]
    starts = fresh_starts(space, settings, algorithm)
    if starts is None:  # how many it starts depends on the results (asha promoting)
        return [f"{head}once each has been started, {algorithm} starts configs that already ran again (besides the "
                "promotions it makes); search more params or wider ranges"]
    if starts <= count:  # the rest of the budget promotes configs already started: none repeats
        return []
    return [f"{head}{algorithm} starts {starts} configs from scratch within it (its other recs promote them), and "
            f"the last {starts - count} of them repeat configs already started; search more params or wider ranges"]


def fresh_starts(space: SearchSpace, settings: AutoMLSettings, algorithm: str) -> int | None:
    """How many configs multi-fidelity ``algorithm`` starts from scratch within the budget: every rec in stopping
    mode, the first rungs of its brackets (every trial succeeding), pbt's first generation; None when the results
    decide it (asha promoting)."""
    from tao_automl.brain.multifidelity.pbt import PBT
    from tao_automl.brain.multifidelity.successive_halving import SuccessiveHalving

    budget = settings.automl_max_recommendations
    brain = make_brain(algorithm, space, brain_options(algorithm, settings))
    if getattr(brain, "mode", None) != PROMOTION:
        return budget
    if isinstance(brain, SuccessiveHalving):
        return brain.planned_starts()
    if isinstance(brain, PBT):
        return brain.generation_size(0)
    return None


def budget_notes(space: SearchSpace, settings: AutoMLSettings) -> list[str]:
    """A note when more params are searched than the budget has recs: no method can learn which of them matter
    (none for a brain whose configs are random draws at any budget, :data:`RANDOM_CONFIGS`); and when the budget is
    below what the algorithm needs to be more than a random search (:func:`minimum_budget`)."""
    budget, count = settings.automl_max_recommendations, len(space.params)
    notes = repeat_notes(space, settings)
    need = minimum_budget(settings.to_dict())
    if need is not None and budget < need[0]:
        notes.append(f"automl_max_recommendations={budget} is below the {need[0]} recs {settings.algorithm} needs "
                     f"({need[1]}): this run is a random search; raise automl_max_recommendations to at least "
                     f"{need[0]}, or choose random, bayesian or tpe")
    if count <= budget or settings.algorithm in RANDOM_CONFIGS:
        return notes
    return [*notes, f"{count} params are searched with a budget of {budget} recs: with fewer recs than params no "
            "method can learn which of them matter, and the search is close to random; name the few that matter "
            "in automl_hyperparameters, or raise automl_max_recommendations"]


def check_overrides_placement(skill: Skill, args: RunArgs) -> None:
    """Refuse a ``spec_overrides`` key that a dataset placement (a rule under a given URI, or ``dataset_keys``) also
    sets: the placement would silently replace the override (see :func:`check_overrides_not_placed`)."""
    if not args.spec_overrides:
        return
    sources = {str(key): uri_field(str(rule.get("source", ""))) for key, rule in skill.data_sources.items()
               if isinstance(rule, Mapping)}
    check_overrides_not_placed(skill, args.spec_overrides, place(skill, job_context(args)).values, args.dataset_keys,
                               sources)


def job_context(args: RunArgs, skill: Skill | None = None, searched: Sequence[str] = ()) -> JobContext:
    """The jobs' context; with ``skill``, its GPU (and node) count keys set to what the platform gives each job
    (:func:`~tao_automl.runner.resources.resource_overrides`; ``searched``: the search space's params)."""
    overrides = dict(args.spec_overrides)
    if skill is not None:
        overrides = {**resource_overrides(skill, args.platform_kwargs, args.spec_overrides, searched), **overrides}
    return JobContext(train_dataset_uri=args.train_dataset_uri, eval_dataset_uri=args.eval_dataset_uri,
                      base_checkpoint=args.base_checkpoint, spec_overrides=overrides, image=args.image,
                      dataset_keys=args.dataset_keys)


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs before its first rec; ``skill`` is None for an ask/tell run on a bare schema."""

    args: RunArgs
    skill: Skill | None
    settings: AutoMLSettings
    space: SearchSpace
    base_spec: dict[str, Any]
    ctx: JobContext
    metric: str
    direction: Direction
    epoch_key: str | None
    #: Choices the plan made that the user did not ask for (logged once when the run starts).
    notes: tuple[str, ...] = ()
    #: Range ends tao-automl chose because the schema gives none (:func:`derived_bounds`).
    derived_bounds: Mapping[str, list[str]] = dc_field(default_factory=dict)

    @classmethod
    def build(cls, args: RunArgs, skill: Skill | None = None) -> RunPlan:
        """Check and resolve ``args``; every problem is a one-line :class:`UserInputError`, nothing is created."""
        skill = skill or load_skill(args.skill_dir, args.action)
        settings = load_settings(args.automl_settings)
        check_metric(settings_metric(settings), skill, unset="metric" not in (args.automl_settings or {}))
        check_base_checkpoint(skill, args.base_checkpoint)
        base = job_baseline(skill, args.spec_overrides)
        space = search_space(skill.schema, settings, args.automl_hyperparameters, args.custom_param_ranges, base,
                             skill.spec_shorthand_keys)
        derived = derived_bounds(skill.schema, space, args.custom_param_ranges, base)
        check_space_fits_skill(skill, space, args.custom_param_ranges)
        promoting = promotes(settings, space)
        epochs = fidelity_key(skill, settings, space)
        check_epoch_budget(skill.schema, settings, epochs, space)
        check_epoch_key_not_searched(skill, space, epochs, settings.algorithm, args.automl_hyperparameters,
                                     args.custom_param_ranges)
        spec = checked_overrides(skill, space, args.spec_overrides, epoch_key=epochs, algorithm=settings.algorithm,
                                 promotes=promoting, base_checkpoint=args.base_checkpoint or "")
        check_dataset_keys(skill, args.spec_overrides, args.dataset_keys, space.names,
                           runner_filled_keys(skill, promotes=promoting, base_checkpoint=args.base_checkpoint or ""))
        check_overrides_placement(skill, args)
        ctx = job_context(args, skill, space.names)
        check_render(skill, space, ctx)
        return cls(args=args, skill=skill, settings=settings, space=space, base_spec=spec, ctx=ctx,
                   metric=metric_name(settings, skill), direction=direction(settings, skill, warn=False),
                   epoch_key=epochs,
                   notes=tuple(run_notes(skill, settings, space, args.automl_settings, args.custom_param_ranges,
                                         derived, promoting, base)), derived_bounds=derived)

    @classmethod
    def ask_tell(cls, settings: AutoMLSettings, *, skill: Skill | None, schema: Mapping[str, Any],
                 train_specs: Mapping[str, Any] | None, hyperparameters: Sequence[str] | None,
                 custom_ranges: Mapping[str, Mapping[str, Any]] | None, action: str = "train") -> RunPlan:
        """The plan of an :class:`AutoML` run: the caller trains, so there is no job context. The epoch key (of a
        multi-fidelity brain) is the skill's, else found in ``schema``'s defaults, else None (no error: the caller
        reads the budget from the rec's trial)."""
        check_algorithm(settings.algorithm)
        if skill is not None:  # as a run checks it: a metric the model does not report is refused
            check_metric(settings_metric(settings), skill)
        if train_specs is not None:
            check_train_specs(schema, train_specs)
        base = with_values(schema_defaults(schema), {}) if train_specs is None else dict(train_specs)
        given = None if train_specs is None else Baseline(base, {k: "train_specs" for k, _ in flatten(base)})
        space = search_space(schema, settings, hyperparameters, custom_ranges, given)
        action = skill.action if skill is not None else action
        args = RunArgs(skill_dir=str(skill.path) if skill is not None else "", action=action)
        key = None
        if isinstance(make_brain(settings.algorithm, space, brain_options(settings.algorithm, settings)),
                      TrialScheduler):
            shorthand = (skill.info.get("spec_shorthand_keys") or {}).get("num_epochs") if skill is not None else None
            key = find_epoch_key(schema, action, shorthand)
            check_epoch_budget(schema, settings, key, space)  # as a run checks it: the specs stay in the schema
            check_epoch_key_not_searched(skill, space, key, settings.algorithm, hyperparameters, custom_ranges)
        return cls(args=args, skill=skill, settings=settings, space=space, base_spec=base, ctx=JobContext(),
                   metric=metric_name(settings, skill), direction=direction(settings, skill), epoch_key=key,
                   notes=tuple(repeat_notes(space, settings)))

    def with_settings(self, settings: AutoMLSettings) -> RunPlan:
        """The plan of a resumed run whose (resume-mutable) settings changed."""
        return replace(self, settings=settings)

    def budget_context(self, budget: int | None) -> JobContext:
        """The job context of a rec; a multi-fidelity budget is written to the epoch key."""
        if budget is None or self.epoch_key is None:
            return self.ctx
        written = dict.fromkeys(epoch_family(self.skill, self.epoch_key), budget)
        return replace(self.ctx, spec_overrides={**self.ctx.spec_overrides, **written})


#: ``create_job`` arguments the runner fills itself; a platform keyword argument may not set them.
RUNNER_FILLS = ("image", "command", "env_vars", "inputs", "outputs", "job_name")


def accepted_job_kwargs(target: Any) -> list[str]:
    """The platform keyword arguments ``target`` (an SDK or its class) takes: its ``create_job``'s named parameters
    and the names it declares in ``job_kwargs``, ``gpu_count`` always, less what the runner fills itself."""
    params = inspect.signature(target.create_job).parameters
    named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}  # a class
    # gpu_count: the protocol's own parameter, which every SDK takes, even behind *args/**kwargs
    return sorted((named | set(getattr(target, "job_kwargs", None) or ()) | {"gpu_count"}) - set(RUNNER_FILLS))


def sdk_options(target: Any) -> set[str]:
    """The named constructor options of ``target`` (an SDK or its class); empty when they cannot be read."""
    cls = target if isinstance(target, type) else type(target)
    try:
        params = inspect.signature(cls).parameters  # the constructor's, without self
    except (TypeError, ValueError):
        return set()
    return {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}


def checked_job_kwargs(sdk: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` checked against what ``sdk.create_job`` accepts (its named parameters and the names it declares in
    ``job_kwargs``), with a did-you-mean; ``gpu_count``/``num_nodes`` must be counts the platform can run."""
    target = unwrap(sdk)
    label = target.__name__ if isinstance(target, type) else type(target).__name__  # a class: preflight, no SDK
    if not callable(getattr(target, "create_job", None)):
        raise UserInputError(f"platform: {label} has no create_job(); it is not a platform SDK",
                             field="platform", value=label, allowed="a platform SDK")
    open_ended = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target.create_job).parameters.values())
    declared = getattr(target, "job_kwargs", None)
    accepted = accepted_job_kwargs(target)
    for key, value in kwargs.items():
        if key in RUNNER_FILLS:
            raise UserInputError(f"platform_kwargs.{key}: {value!r} is not allowed: the runner sets it for every "
                                 "rec; remove it",
                                 field=f"platform_kwargs.{key}", value=value, allowed=accepted)
        if key not in accepted and (declared is not None or not open_ended):
            if key in sdk_options(target):  # e.g. Kubernetes' namespace: the SDK's, for every job of the run
                raise UserInputError(
                    f"platform_kwargs.{key}: not accepted by {label}.create_job: {key} is an option of {label} for "
                    f"the whole run, not of each job; pass {label}({key}=...) (in a run config: "
                    f"platform_options.{key}); allowed per job: {', '.join(accepted)}",
                    field=f"platform_kwargs.{key}", value=value, allowed=accepted,
                    hint=f"set {key} on the SDK: {label}({key}=...) or platform_options.{key}")
            raise UserInputError(
                f"platform_kwargs.{key}: not accepted by {label}.create_job"
                f"{did_you_mean(key, accepted)}; allowed: {', '.join(accepted)}", field=f"platform_kwargs.{key}",
                value=value,
                allowed=accepted)
    if "gpu_count" in kwargs:
        _count("gpu_count", kwargs["gpu_count"], 0)
        check_gpu_count(kwargs["gpu_count"])
    if "num_nodes" in kwargs and _count("num_nodes", kwargs["num_nodes"], 1) > 1 \
            and not getattr(target, "multi_node", True):
        raise UserInputError(f"platform_kwargs.num_nodes: {kwargs['num_nodes']!r} is not allowed; "
                             f"{label} runs each job on one host; expected 1 (use gpu_count for "
                             "several GPUs, or slurm/kubernetes/lepton for multi-node jobs)",
                             field="platform_kwargs.num_nodes", value=kwargs["num_nodes"], allowed="1")
    if isinstance(target, type):  # the class of an SDK that could not be built: the names only
        return dict(kwargs)
    options = {k: v for k, v in kwargs.items() if k != "gpu_count"}
    try:  # the values, as create_job would check them: a bad one stops the run before anything is created
        as_platform(sdk).validate_job(int(kwargs.get("gpu_count", DEFAULT_GPU_COUNT)), options)
    except UserInputError as exc:
        raise as_setting_error(exc, "platform_kwargs", kwargs, accepted) from None
    return dict(kwargs)


def _count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        hint = number_as_text_hint(value, integer=True, refuses=lambda n: "" if n >= low else f"an integer >= {low}")
        raise UserInputError(f"platform_kwargs.{name}: {value!r} is not allowed; expected an integer >= {low}{hint}",
                             field=f"platform_kwargs.{name}", value=value, allowed=f"an integer >= {low}")
    return int(value)

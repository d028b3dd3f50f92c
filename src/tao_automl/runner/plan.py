"""One run's plan, built once before anything is created: skill, settings, space, base spec, job context,
metric name, direction and epoch key.

The runner, the dry run, preflight and :class:`tao_automl.AutoML` all prepare a run through this module, so a
check made for one is made for all. The stages are separate functions so that preflight can report each one.
Their checks of user values are in :mod:`~tao_automl.runner.plan_checks`, the notes in
:mod:`~tao_automl.runner.plan_notes`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import numpy as np

from tao_automl.bank.skill import Skill, load_skill
from tao_automl.brain.registry import brain_options, check_algorithm, make_brain
from tao_automl.brain.trials import PROMOTION, TrialScheduler
from tao_automl.errors import SearchSpaceError, SettingsError, UserInputError
from tao_automl.metrics.parse import normalise_name
from tao_automl.render.job import (
    JobContext,
    base_spec,
    place,
    render_job,
    resolve_overrides,
    template_value_in_the_way,
)
from tao_automl.render.keys import check_dataset_keys, check_overrides_not_placed
from tao_automl.render.placed import uri_field
from tao_automl.runner.fidelity import epoch_family, epoch_key, find_epoch_key
from tao_automl.runner.plan_checks import (
    ELEMENT_KEY,
    check_base_checkpoint,
    check_epoch_budget,
    check_epoch_key_not_searched,
    check_space_fits_skill,
    check_train_specs,
    checked_overrides,
    runner_filled_keys,
)
from tao_automl.runner.plan_notes import (
    bound_notes,
    budget_notes,
    promotion_notes,
    repeat_notes,
    settings_notes,
    space_notes,
)
from tao_automl.runner.resources import resource_overrides
from tao_automl.runner.run_args import RunArgs
from tao_automl.schema.access import get_property
from tao_automl.schema.baseline import Baseline, baseline
from tao_automl.schema.build import build_search_space, derived_bounds, schema_defaults
from tao_automl.settings import AutoMLSettings, Direction, direction_doubt, infer_direction
from tao_automl.space.search_space import SearchSpace
from tao_automl.util.dotted import flatten, with_values
from tao_automl.util.suggest import did_you_mean, one_typo_apart

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
    element = ELEMENT_KEY.match(param)
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


def check_render(skill: Skill, space: SearchSpace | None, ctx: JobContext) -> dict[str, Any]:
    """Render one rec (any config of the space; the base spec without one) and return its spec: a command
    placeholder that cannot be filled, or a value that cannot be placed in the spec, fails here rather than at the
    first submission. Nothing is written (its paths name a folder that is never made): a process killed meanwhile
    leaves no temporary folder behind."""
    params = space.sample(np.random.default_rng(0)) if space is not None else {}
    where = Path(tempfile.gettempdir()) / "tao-automl-plan"
    return render_job(skill, params, ctx, rec_dir=where / "rec", results_dir=str(where / "results"), write=False).spec


def fidelity_key(skill: Skill, settings: AutoMLSettings, space: SearchSpace) -> str | None:
    """The epoch key when the brain is multi-fidelity (an error when the skill has none), else None."""
    brain = make_brain(settings.algorithm, space, brain_options(settings.algorithm, settings))
    return epoch_key(skill) if isinstance(brain, TrialScheduler) else None


def promotes(settings: AutoMLSettings, space: SearchSpace) -> bool:
    """Whether the run's brain promotes recs, each resuming its parent's checkpoint (promotion mode)."""
    brain = make_brain(settings.algorithm, space, brain_options(settings.algorithm, settings))
    return getattr(brain, "mode", None) == PROMOTION


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

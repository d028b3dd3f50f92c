"""The notes a run's plan logs once: what the space, ranges, budget and brain chose that the user did not say."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.brain.classic.novelty import ENUMERATE_LIMIT, all_configs, config_key, finite_size
from tao_automl.brain.multifidelity.successive_halving import hyperband_brackets, plan_brackets
from tao_automl.brain.registry import brain_options, make_brain
from tao_automl.brain.trials import PROMOTION
from tao_automl.errors import SettingsError
from tao_automl.runner.fidelity import resumes_from_checkpoint
from tao_automl.schema.access import get_property
from tao_automl.schema.baseline import Baseline
from tao_automl.schema.bounds import split_range_notes
from tao_automl.schema.build import misspelt_range_key
from tao_automl.schema.relations import unenforced_relations
from tao_automl.settings import AutoMLSettings
from tao_automl.space.numeric import FloatParam, IntParam
from tao_automl.space.search_space import CategoricalParam, SearchSpace, describe
from tao_automl.util.digits import apart
from tao_automl.util.numbers import is_number


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
            if is_number(given) and given <= 0:  # an explicit scale 'log' with it is refused by the space builder
                notes.append(f"param {param.name}: valid_min {given} is not reachable on the log scale chosen for "
                             f"it; searching from {apart(param.low)} (set custom_param_ranges.{param.name}.scale to "
                             "'linear' to include it, or a valid_min > 0)")
            continue
        prop = get_property(schema, param.name) or {}
        lows = [prop[k] for k in ("minimum", "valid_min") if is_number(prop.get(k))]
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
               if is_number(given.get(f"valid_{end}")) and given[f"valid_{end}"] != now
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


def promotion_notes(skill: Skill, settings: AutoMLSettings, promoting: bool) -> list[str]:
    """A brain that promotes recs (``promoting``, see :func:`~tao_automl.runner.plan.promotes`: hyperband-style
    brackets, asha in promotion mode, pbt) on a skill whose spec has no ``resume_model`` key: promoted recs train
    from scratch, and the run says so once instead of silently."""
    if not promoting or resumes_from_checkpoint(skill):
        return []
    return [f"model {skill.name!r} names no resume_model key in skill_info.yaml spec_params.{skill.action}: a rec "
            f"that {settings.algorithm} promotes trains its config from scratch for its whole budget (no checkpoint "
            "is reused, so pbt members inherit configs, not weights); add the key to resume promotions instead"]


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

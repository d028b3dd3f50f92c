"""``algorithm: auto``: pick a brain from the search space and the budget, with a one-line reason.

Rules, first match wins:

1. ``auto_multifidelity: true`` (the user allows training configs for fewer epochs; the runner then needs the
   skill's epoch key) and a budget of at least ``MF_MIN_BUDGET`` recs: ``bfbo`` (``fidelity_mode: promotion``,
   best non-PBT brain on the LCBench benchmark) or ``asha`` (``stopping``); never for a list of metrics, which no
   multi-fidelity brain takes.
2. Conditional or list-valued spaces (relations, lists, subsets): ``tpe``, whose per-observation kernels need no
   fixed-length vector model of dependent params.
3. Mostly categorical (more than half the params categorical/bool): ``tpe``.
4. More than ``GP_MAX_PARAMS`` params or more than ``GP_MAX_BUDGET`` recs: ``tpe`` (a GP on a capped subset
   stops learning from most of the data).
5. Otherwise ``bayesian`` (mostly continuous, up to ``GP_MAX_PARAMS`` params, budgets up to a few hundred).

The pick is deterministic in (space, settings), so a resumed run gets the same brain; the experiment also
persists it (``algorithm_choice`` in the run metadata, shown by ``status``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    ListParam,
    OptionalListParam,
    SearchSpace,
    SubsetParam,
)

if TYPE_CHECKING:
    from tao_automl.settings import AutoMLSettings

GP_MAX_PARAMS = 20
GP_MAX_BUDGET = 300
MF_MIN_BUDGET = 20


def choose(space: SearchSpace, settings: AutoMLSettings) -> tuple[str, str]:
    """``(algorithm, reason)`` for ``space`` under ``settings`` (see the module docstring)."""
    budget, n = settings.automl_max_recommendations, len(space)
    epochs, eta = settings.automl_max_epochs, settings.automl_reduction_factor
    if settings.objectives:  # no multi-fidelity brain takes a list of metrics
        pick, reason = _single_fidelity(space, settings, budget, n)
        if settings.auto_multifidelity:
            reason += ("; multi-fidelity not used although auto_multifidelity is true: a list of metrics "
                       "(multi-objective) runs only on bayesian, tpe or random")
        return pick, reason
    if settings.auto_multifidelity and budget >= MF_MIN_BUDGET and epochs < eta:
        pick, reason = _single_fidelity(space, settings, budget, n)
        return pick, (f"{reason}; multi-fidelity not used although auto_multifidelity is true: automl_max_epochs "
                      f"{epochs} < automl_reduction_factor {eta} leaves no smaller budget to start configs at")
    if settings.auto_multifidelity and budget >= MF_MIN_BUDGET:
        pick = "bfbo" if settings.fidelity_mode == "promotion" else "asha"
        return pick, (f"multi-fidelity allowed (auto_multifidelity) and a budget of {budget} >= {MF_MIN_BUDGET} "
                      f"recs; fidelity_mode {settings.fidelity_mode}")
    pick, reason = _single_fidelity(space, settings, budget, n)
    if settings.auto_multifidelity:  # allowed but not used: say why
        reason += (f"; multi-fidelity not used although auto_multifidelity is true: a budget of {budget} recs is "
                   f"below {MF_MIN_BUDGET}, too few for brackets of short and long trainings")
    return pick, reason


def _single_fidelity(space: SearchSpace, settings: AutoMLSettings, budget: int, n: int) -> tuple[str, str]:
    """The pick among bayesian and tpe (rules 2-5 of the module docstring)."""
    if space.relations or any(isinstance(p, (ListParam, OptionalListParam, SubsetParam)) for p in space.params):
        return "tpe", "conditional or list-valued params (relations, lists or subsets)"
    n_cat = sum(isinstance(p, (CategoricalParam, BoolParam)) for p in space.params)
    if 2 * n_cat > n:
        return "tpe", f"mostly categorical space ({n_cat} of {n} params categorical or bool)"
    if n > GP_MAX_PARAMS:
        return "tpe", f"{n} params > {GP_MAX_PARAMS}: too many for a GP at typical budgets"
    if budget > GP_MAX_BUDGET:
        return "tpe", f"long budget ({budget} recs > {GP_MAX_BUDGET})"
    return "bayesian", (f"{n} params, {n - n_cat} numeric, budget {budget} recs: a GP fits "
                        f"(<= {GP_MAX_PARAMS} params, <= {GP_MAX_BUDGET} recs)")


def auto_choice(space: SearchSpace, settings: AutoMLSettings) -> dict[str, str]:
    """The persisted form of the pick: ``{"algorithm": ..., "reason": ...}``."""
    pick, reason = choose(space, settings)
    return {"algorithm": pick, "reason": reason}


def make_auto(space: SearchSpace, settings: AutoMLSettings | None = None) -> Any:
    """The brain :func:`choose` picks, built with the options the registry gives that brain."""
    from tao_automl.brain.registry import brain_options, make_brain
    from tao_automl.settings import AutoMLSettings

    settings = AutoMLSettings(algorithm="auto") if settings is None else settings
    pick, _ = choose(space, settings)
    return make_brain(pick, space, brain_options(pick, settings))

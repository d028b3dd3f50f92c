"""Brains by name, imported lazily. An unknown name lists the valid ones."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tao_automl.brain.base import Brain
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import SearchSpace
from tao_automl.util.suggest import did_you_mean

if TYPE_CHECKING:
    from tao_automl.settings import AutoMLSettings

# name -> "module:factory"; the factory is called as factory(space, options).
ALGORITHMS: dict[str, str] = {
    "bayesian": "tao_automl.brain.classic.bayesian:BayesianBrain",
    "random": "tao_automl.brain.classic.random_search:RandomBrain",
    "llm": "tao_automl.brain.llm.llm_brain:LLMBrain",
    "hybrid": "tao_automl.brain.llm.hybrid:HybridBrain",
    "autoresearch": "tao_automl.brain.llm.autoresearch:AutoResearchBrain",
    "asha": "tao_automl.brain.multifidelity.asha:ASHA",
    "hyperband": "tao_automl.brain.multifidelity.hyperband:Hyperband",
    "hyperband_es": "tao_automl.brain.multifidelity.hyperband:HyperbandES",
    "bohb": "tao_automl.brain.multifidelity.bohb:BOHB",
    "dehb": "tao_automl.brain.multifidelity.dehb:DEHB",
    "bfbo": "tao_automl.brain.multifidelity.bfbo:BFBO",
    "pbt": "tao_automl.brain.multifidelity.pbt:PBT",
    "tpe": "tao_automl.brain.classic.tpe:TPEBrain",
    "auto": "tao_automl.brain.auto:make_auto",
}


#: Names a user may expect that no brain answers to -> why (in place of a did-you-mean: ``grid`` is not ``hybrid``).
NOT_OFFERED: dict[str, str] = {
    "grid": " (grid search is not offered: 'random' samples the same space, 'bayesian' and 'tpe' search it)",
}


#: Brains that plan their schedule (brackets, generations) from ``automl_max_recommendations``: a resume may not
#: change it, since the rungs already played would be re-sized around them.
BUDGET_PLANNED = frozenset({"hyperband", "bohb", "dehb", "bfbo", "pbt"})


def _fidelity_options(settings: AutoMLSettings) -> dict[str, Any]:
    return {"max_epochs": settings.automl_max_epochs, "eta": settings.automl_reduction_factor,
            "mode": settings.fidelity_mode, "max_trials": settings.automl_max_recommendations}


def _promotion_only(settings: AutoMLSettings) -> None:
    if settings.fidelity_mode != "promotion":
        raise SettingsError(
            f"automl_settings.fidelity_mode: {settings.fidelity_mode!r} is not allowed with algorithm "
            f"{settings.algorithm!r} (it resumes promoted recs from checkpoints)",
            field="automl_settings.fidelity_mode", value=settings.fidelity_mode, allowed=["promotion"],
            hint="set automl_settings.fidelity_mode to 'promotion', or choose algorithm 'asha' or 'hyperband_es' "
                 "for stopping"
        )


def _bracket_options(settings: AutoMLSettings) -> dict[str, Any]:
    """Hyperband-style schedulers (promotion mode only)."""
    _promotion_only(settings)
    return _schedule_options(settings)


def _schedule_options(settings: AutoMLSettings) -> dict[str, Any]:
    return {"max_epochs": settings.automl_max_epochs, "eta": settings.automl_reduction_factor,
            "max_trials": settings.automl_max_recommendations}


def _pbt_options(settings: AutoMLSettings) -> dict[str, Any]:
    _promotion_only(settings)
    return {"max_epochs": settings.automl_max_epochs, "population_size": settings.automl_population_size,
            "max_trials": settings.automl_max_recommendations}


def _llm_options(settings: AutoMLSettings) -> dict[str, Any]:
    from tao_automl.llm.setup import brain_options as llm_brain_options

    return llm_brain_options(settings)


#: name -> builder of the factory's keyword options from the run's settings (brains not listed get none).
def _bayesian_options(settings: AutoMLSettings) -> dict[str, Any]:
    return {"budget": settings.automl_max_recommendations, "concurrency": settings.automl_max_concurrent}


OPTION_BUILDERS: dict[str, Callable[[AutoMLSettings], dict[str, Any]]] = {
    "bayesian": _bayesian_options,
    "asha": _fidelity_options,
    "hyperband": _bracket_options,
    "hyperband_es": _schedule_options,  # always stopping mode
    "bohb": _bracket_options,
    "dehb": _bracket_options,
    "bfbo": _bracket_options,
    "pbt": _pbt_options,
    "llm": _llm_options,
    "hybrid": _llm_options,
    "autoresearch": _llm_options,
    "auto": lambda settings: {"settings": settings},
}


def brain_options(name: str, settings: AutoMLSettings) -> dict[str, Any]:
    """Keyword options for brain ``name`` derived from ``settings``."""
    builder = OPTION_BUILDERS.get(name)
    return builder(settings) if builder else {}


def check_algorithm(name: str) -> str:
    """Return the ``module:factory`` of ``name``; an unknown name lists the valid ones."""
    target = ALGORITHMS.get(name)
    if target is None:
        why = NOT_OFFERED.get(name) or did_you_mean(name, ALGORITHMS)
        raise SettingsError(
            f"automl_settings.algorithm: unknown algorithm {name!r}{why}; available: {', '.join(sorted(ALGORITHMS))}",
            field="automl_settings.algorithm", value=name, allowed=sorted(ALGORITHMS),
        )
    return target


def make_brain(name: str, space: SearchSpace, options: Mapping[str, Any] | None = None) -> Brain:
    """Build the brain called ``name`` for ``space``."""
    target = check_algorithm(name)
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    brain: Brain = factory(space, **dict(options or {})) if options else factory(space)
    return brain

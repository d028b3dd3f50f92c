"""Brains by name, imported lazily. An unknown name lists the valid ones."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tao_automl.brain.base import Brain
from tao_automl.errors import SettingsError
from tao_automl.settings import ALGORITHMS, NOT_OFFERED, check_algorithm
from tao_automl.space.search_space import SearchSpace

if TYPE_CHECKING:
    from tao_automl.settings import AutoMLSettings

#: The names kept in :mod:`tao_automl.settings` (the settings check an algorithm name without importing a brain) are
#: imported from here too.
__all__ = ["ALGORITHMS", "BUDGET_PLANNED", "NOT_OFFERED", "OPTION_BUILDERS", "Brain", "brain_options",
           "check_algorithm", "make_brain"]

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


def make_brain(name: str, space: SearchSpace, options: Mapping[str, Any] | None = None) -> Brain:
    """Build the brain called ``name`` for ``space``."""
    target = check_algorithm(name)
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    brain: Brain = factory(space, **dict(options or {})) if options else factory(space)
    return brain

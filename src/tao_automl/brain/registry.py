"""Brains by name, imported lazily. An unknown name lists the valid ones."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tao_automl.brain.base import Brain
from tao_automl.errors import SettingsError
from tao_automl.space import SearchSpace
from tao_automl.suggest import did_you_mean

if TYPE_CHECKING:
    from tao_automl.settings import AutoMLSettings

# name -> "module:factory"; the factory is called as factory(space, options).
ALGORITHMS: dict[str, str] = {
    "bayesian": "tao_automl.brain.bayesian:BayesianBrain",
    "random": "tao_automl.brain.random_search:RandomBrain",
    "asha": "tao_automl.brain.asha:ASHA",
}


def _fidelity_options(settings: AutoMLSettings) -> dict[str, Any]:
    return {"max_epochs": settings.automl_max_epochs, "eta": settings.automl_reduction_factor,
            "mode": settings.fidelity_mode, "max_trials": settings.automl_max_recommendations}


#: name -> builder of the factory's keyword options from the run's settings (brains not listed get none).
OPTION_BUILDERS: dict[str, Callable[[AutoMLSettings], dict[str, Any]]] = {
    "asha": _fidelity_options,
}


def brain_options(name: str, settings: AutoMLSettings) -> dict[str, Any]:
    """Keyword options for brain ``name`` derived from ``settings``."""
    builder = OPTION_BUILDERS.get(name)
    return builder(settings) if builder else {}


def check_algorithm(name: str) -> str:
    """Return the ``module:factory`` of ``name``; an unknown name lists the valid ones."""
    target = ALGORITHMS.get(name)
    if target is None:
        raise SettingsError(
            f"automl_settings.algorithm: unknown algorithm {name!r}{did_you_mean(name, ALGORITHMS)}; "
            f"available: {', '.join(sorted(ALGORITHMS))}"
        )
    return target


def make_brain(name: str, space: SearchSpace, options: Mapping[str, Any] | None = None) -> Brain:
    """Build the brain called ``name`` for ``space``."""
    target = check_algorithm(name)
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    brain: Brain = factory(space, **dict(options or {})) if options else factory(space)
    return brain

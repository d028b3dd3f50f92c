"""Brains by name, imported lazily. An unknown name lists the valid ones."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from tao_automl.brain.base import Brain
from tao_automl.errors import SettingsError
from tao_automl.space import SearchSpace
from tao_automl.suggest import did_you_mean

# name -> "module:factory"; the factory is called as factory(space, options).
ALGORITHMS: dict[str, str] = {
    "bayesian": "tao_automl.brain.bayesian:BayesianBrain",
    "random": "tao_automl.brain.random_search:RandomBrain",
}


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

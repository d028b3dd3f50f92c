"""ParEGO (Knowles 2006): one random augmented-Chebyshev scalarisation of all results per proposal.

For each config to propose, draw weights ``w`` uniformly from the simplex, scale every metric to [0, 1] over the
results so far, and give the single-objective brain (bayesian, tpe, random) the scalar

    s(f) = max_j w_j f_j + rho * sum_j w_j f_j        (rho = 0.05, as in the paper)

of every result, then ask it for one config. A fresh brain is built per proposal from the results (brains keep no
RNG and replay from data), so a resumed run reaches the same state. Failed recs are observed as failures.

``layered`` (used for ``tpe``): the scalar is the result's nondominated layer plus ``s / (1 + rho)`` scaled below
1, so TPE's good/bad split follows the Pareto fronts first and the random weights only order a layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tao_automl.brain.base import Brain
from tao_automl.brain.trials import SingleFidelityScheduler, Trial
from tao_automl.multiobjective.pareto import layers
from tao_automl.space.search_space import Config, SearchSpace

if TYPE_CHECKING:
    from tao_automl.settings import AutoMLSettings

RHO = 0.05


def chebyshev(scaled: np.ndarray, weights: np.ndarray, rho: float = RHO) -> np.ndarray:
    """Augmented Chebyshev scalarisation of rows of ``scaled`` (each metric in [0, 1], lower is better)."""
    weighted = scaled * weights
    result: np.ndarray = weighted.max(axis=1) + rho * weighted.sum(axis=1)
    return result


def scale_columns(values: np.ndarray) -> np.ndarray:
    """Each column to [0, 1] over its own range (a constant column becomes 0)."""
    low, high = values.min(axis=0), values.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled: np.ndarray = (values - low) / span
    return scaled


class ParEGOScheduler(SingleFidelityScheduler):
    """A single-fidelity trial scheduler for a list of metrics (vectors in minimisation form)."""

    def __init__(self, make: Callable[[], Brain], n_objectives: int, max_trials: int, layered: bool = False) -> None:
        super().__init__(max_trials)
        self.make = make
        self.layered = layered
        self.n_objectives = n_objectives
        self._results: list[tuple[Config, tuple[float, ...] | None]] = []

    def propose(self, ids: Sequence[int], pending: Mapping[int, Trial], rng: np.random.Generator) -> list[Trial]:
        busy = [t.config for t in pending.values()]
        trials: list[Trial] = []
        for trial_id in ids:
            brain = self._brain(rng.dirichlet(np.ones(self.n_objectives)))
            config = brain.suggest(1, busy, rng)[0]
            busy.append(config)
            trial = Trial(config=config)
            self._trials[trial_id] = trial
            trials.append(trial)
        return trials

    def _brain(self, weights: np.ndarray) -> Brain:
        brain = self.make()
        done = [(c, v) for c, v in self._results if v is not None]
        scalars: Sequence[float] = []
        if done:
            values = np.array([v for _, v in done], dtype=float)
            scalars = list(chebyshev(scale_columns(values), weights))
            if self.layered:  # nondominated layer first, the scalarisation orders a layer: s / (1 + rho) < 1
                depth = layers({i: tuple(row) for i, row in enumerate(values)})
                scalars = [depth[i] + 0.99 * s / (1 + RHO) for i, s in enumerate(scalars)]
        for (config, _), scalar in zip(done, scalars, strict=True):
            brain.observe(config, float(scalar))
        for config, vector in self._results:
            if vector is None:
                brain.observe(config, None)
        return brain

    def observe_vector(self, trial_id: int, values: Sequence[float] | None) -> None:
        """A trial ended with ``values`` (minimisation form, one per metric) or failed (None)."""
        self._results.append((self._trials[trial_id].config, None if values is None else tuple(values)))

    def observe(self, trial_id: int, value: float | None, budget: int | None) -> None:
        if value is not None:
            raise TypeError("ParEGOScheduler learns vectors: call observe_vector")
        self.observe_vector(trial_id, None)


def parego_scheduler(space: SearchSpace, settings: AutoMLSettings,
                     algorithm: str | None = None) -> ParEGOScheduler:
    """The run's scheduler for a list of metrics: its algorithm's brain (``algorithm``: the brain ``auto`` picked)
    behind ParEGO scalarisation."""
    from tao_automl.brain.registry import brain_options, make_brain

    name = algorithm or settings.algorithm
    options = brain_options(name, settings)
    return ParEGOScheduler(lambda: make_brain(name, space, options), len(settings.objectives or ()),
                           settings.automl_max_recommendations, layered=name == "tpe")

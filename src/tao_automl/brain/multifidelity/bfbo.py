"""BFBO: budget-aware Bayesian optimisation — Hyperband screening at low budgets, GP-BO per budget.

Choice (documented in the issue's terms: multi-fidelity by low-budget screening, then BO): configs are
scheduled by Hyperband's synchronous brackets (promotion mode, so cheap budgets screen many configs and
only the best are continued from their checkpoints), and every config that *starts* a bracket comes
from the GP brain of :mod:`tao_automl.brain.classic.bayesian` (Matern-5/2 GP, log-EI, kriging-believer batches,
failures imputed as bad), fitted on the results at the **largest budget with at least ``min_points``
successes** (default ``n_params + 2``): the highest-fidelity evidence that is already informative. Until
some budget has that many, the GP brain's space-filling Sobol design over all budgets' configs is used.
Unlike BOHB's per-budget KDE, the GP models the value itself, so it also extrapolates where no config
has been tried. Configs in flight are passed to the GP brain as pending (no duplicates, spread batches).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tao_automl.brain.classic.bayesian import BayesianBrain
from tao_automl.brain.multifidelity.successive_halving import SuccessiveHalving, check_count
from tao_automl.brain.trials import Trial
from tao_automl.space.search_space import Config, SearchSpace


class BFBO(SuccessiveHalving):
    """Hyperband schedule + GP Bayesian optimisation on the highest informative budget."""

    def __init__(self, space: SearchSpace, *, max_epochs: int = 27, eta: int = 3, max_trials: int = 20,
                 iterations: int = 1, min_points: int | None = None) -> None:
        super().__init__(space, max_epochs=max_epochs, eta=eta, max_trials=max_trials, iterations=iterations)
        self.min_points = len(space) + 2 if min_points is None else check_count("bfbo option min_points",
                                                                                   min_points)

    def model_budget(self) -> int | None:
        """The largest budget with enough successes for the GP, or None (space-filling phase)."""
        return self.largest_budget_with(self.min_points)

    def _new_configs(self, n: int, budget: int, pending: Mapping[int, Trial],
                     rng: np.random.Generator) -> list[Config]:
        model = self.model_budget()
        brain = BayesianBrain(self.space, n_initial=self.min_points)
        if model is None:
            # space-filling phase: the brain's Sobol picks keep away from everything tried so far
            seen = [(c, None) for b in self.budgets() for c, _ in self.results_at(b)]
            return brain.suggest(n, [c for c, _ in seen] + self.running_configs(), rng)
        for config, value in self.results_at(model):
            brain.observe(config, value)
        return brain.suggest(n, self.running_configs(), rng)

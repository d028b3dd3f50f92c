"""BOHB (Falkner et al., 2018): Hyperband's brackets whose new configs come from a TPE model per budget.

Each budget (rung epochs) has its own model, fitted on every ended trial trained to that budget
(failures count as bad). A bracket's new config is drawn from the model of the *largest* budget that
has at least ``min_points`` successes — by default ``n_params + 2``, so the model starts after a
handful of results per budget (the original needs ``d + 1`` good *and* bad points; the rival's
needs >= 67 successes and never starts in practice). A fraction ``random_fraction`` of the new configs
stays random, which keeps BOHB's convergence guarantee. Promotions are Hyperband's (from checkpoints).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tao_automl.brain.classic.tpe import tpe_propose
from tao_automl.brain.multifidelity.successive_halving import SuccessiveHalving, check_count
from tao_automl.brain.trials import Trial
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import Config, SearchSpace


class BOHB(SuccessiveHalving):
    """Hyperband + per-budget TPE models (promotion mode)."""

    def __init__(self, space: SearchSpace, *, max_epochs: int = 27, eta: int = 3, max_trials: int = 20,
                 iterations: int = 1, min_points: int | None = None, random_fraction: float = 1 / 3,
                 gamma: float = 0.25, n_candidates: int = 64) -> None:
        super().__init__(space, max_epochs=max_epochs, eta=eta, max_trials=max_trials, iterations=iterations)
        self.min_points = len(space) + 2 if min_points is None else check_count("bohb option min_points",
                                                                                   min_points)
        if not (isinstance(random_fraction, (int, float)) and 0.0 <= random_fraction <= 1.0):
            raise SettingsError(f"bohb option random_fraction: {random_fraction!r} is not allowed; "
                                "expected a number in [0, 1]", field="bohb option random_fraction",
                                value=random_fraction, allowed="a number in [0, 1]")
        self.random_fraction = float(random_fraction)
        self.gamma = gamma
        self.n_candidates = n_candidates

    def model_budget(self) -> int | None:
        """The largest budget whose model is active (enough successes), or None while all are random."""
        return self.largest_budget_with(self.min_points)

    def _new_configs(self, n: int, budget: int, pending: Mapping[int, Trial],
                     rng: np.random.Generator) -> list[Config]:
        out: list[Config] = []
        for _ in range(n):
            model = self.model_budget()
            if model is None or rng.random() < self.random_fraction:
                out.append(self.space.sample(rng))
                continue
            data = self.results_at(model)
            out += tpe_propose(self.space, [c for c, _ in data], [v for _, v in data],
                               self.running_configs() + out, 1, rng, gamma=self.gamma,
                               n_candidates=self.n_candidates)
        return out

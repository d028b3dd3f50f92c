"""DEHB (Awad et al., 2021): Hyperband's brackets whose new configs come from differential evolution
over per-budget subpopulations.

Every budget (rung epochs) keeps a subpopulation: the best ``pop_size`` successful configs trained to
that budget (failures never enter), carried over from bracket to bracket — rung results of one bracket
seed the next bracket that starts at that budget. A bracket's new config at budget ``b`` is a DE
``rand/1/bin`` child: mutant ``a + F (b - c)`` from three members of the subpopulation of ``b`` (or,
while it has fewer than 4 members, of the nearest larger budget that has; the union of all budgets
as a last resort), binomially crossed over (rate ``CR``) with a target member taken in turn, on the
unit-cube encoding, then snapped to a valid config by ``space.decode``. With fewer than 4 successes
anywhere the config is random. Promotions are Hyperband's (same config, from the parent's checkpoint),
which is DEHB's selection step across budgets.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tao_automl.brain.multifidelity.successive_halving import SuccessiveHalving, check_count
from tao_automl.brain.trials import Trial
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import Config, SearchSpace


class DEHB(SuccessiveHalving):
    """Hyperband + differential evolution per budget (promotion mode)."""

    def __init__(self, space: SearchSpace, *, max_epochs: int = 27, eta: int = 3, max_trials: int = 20,
                 iterations: int = 1, pop_size: int | None = None, mutation_factor: float = 0.5,
                 crossover_rate: float = 0.5) -> None:
        super().__init__(space, max_epochs=max_epochs, eta=eta, max_trials=max_trials, iterations=iterations)
        self.pop_size = max(self.brackets[0].sizes[0], 4) if pop_size is None else check_count(
            "dehb option pop_size", pop_size, 4)
        for name, value in (("mutation_factor", mutation_factor), ("crossover_rate", crossover_rate)):
            if not (isinstance(value, (int, float)) and 0.0 < value <= 1.0):
                raise SettingsError(f"dehb option {name}: {value!r} is not allowed; expected a number in (0, 1]",
                                    field=f"dehb option {name}", value=value, allowed="a number in (0, 1]")
        self.F = float(mutation_factor)
        self.CR = float(crossover_rate)

    def subpopulation(self, budget: int) -> list[Config]:
        """The best ``pop_size`` successful configs trained to ``budget`` epochs, best first."""
        done = [(c, v) for c, v in self.results_at(budget) if v is not None]
        done.sort(key=lambda cv: cv[1])  # stable: ties keep id order
        return [c for c, _ in done[: self.pop_size]]

    def _donors(self, budget: int) -> list[Config]:
        budgets = self.budgets()
        for b in [budget] + [x for x in budgets if x > budget] + [x for x in reversed(budgets) if x < budget]:
            pop = self.subpopulation(b)
            if len(pop) >= 4:
                return pop
        union = [c for b in budgets for c in self.subpopulation(b)]
        return union if len(union) >= 4 else []

    def _new_configs(self, n: int, budget: int, pending: Mapping[int, Trial],
                     rng: np.random.Generator) -> list[Config]:
        out: list[Config] = []
        for _ in range(n):
            donors = self._donors(budget)
            if not donors:
                out.append(self.space.sample(rng))
                continue
            x = np.asarray([self.space.encode(c) for c in donors], dtype=float)
            n_made = sum(1 for t in self._trials.values() if t.rung == 0)
            target = x[n_made % len(x)]
            a, b, c = x[rng.choice(len(x), size=3, replace=False)]
            mutant = np.clip(a + self.F * (b - c), 0.0, 1.0)
            cross = rng.random(len(target)) < self.CR
            cross[int(rng.integers(len(target)))] = True
            child = np.where(cross, mutant, target)
            out.append(self.space.decode(child))
        return out

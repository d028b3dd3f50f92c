"""Hyperband (Li et al., 2017) and ``hyperband_es``: Hyperband with learning-curve early stopping.

* ``hyperband`` — promotion mode: the synchronous brackets of :mod:`tao_automl.brain.multifidelity.successive_halving`
  (s = s_max .. 0, the s=0 bracket included) over random configs.
* ``hyperband_es`` — stopping mode: every config is one job trained toward ``max_epochs``. Configs are
  dealt to the brackets in turn; a config of bracket ``s`` may be stopped from epoch
  ``max_epochs * eta^-s`` on (so the s=0 bracket always trains in full: Hyperband's hedge against
  misleading early curves). From then on, each reported epoch fits a saturating power law
  ``y(t) = a + b * t^-c`` to the config's curve (scipy ``curve_fit``) and extrapolates it to
  ``max_epochs``; the job is stopped when the extrapolation minus ``z`` times its uncertainty (residual
  spread, widened for the extrapolation distance) is still worse than the incumbent — the best value
  any other (not failed) config reached at ``max_epochs`` so far. Without an incumbent nothing is stopped.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import curve_fit

from tao_automl.brain.classic.novelty import FreshConfigs
from tao_automl.brain.multifidelity.successive_halving import (
    SuccessiveHalving,
    check_count,
    check_smaller_budget,
    hyperband_brackets,
)
from tao_automl.brain.trials import STOPPING, Trial
from tao_automl.space.search_space import SearchSpace

Array = NDArray[np.float64]


class Hyperband(SuccessiveHalving):
    """Hyperband over random configs (promotion mode)."""


def _power_law(t: Array, a: float, b: float, c: float) -> Array:
    return np.asarray(a + b * np.power(t, -c), dtype=float)


def extrapolate(epochs: Sequence[int], values: Sequence[float], target: int) -> tuple[float, float]:
    """(predicted value at ``target``, its standard error) from a power-law fit of a learning curve.

    Falls back to the last value (with the curve's spread as error) when the fit fails. With three points the fit
    is exact, so the error is at least the distance from the last value to the prediction.
    """
    t = np.asarray(epochs, dtype=float)
    y = np.asarray(values, dtype=float)
    spread = float(np.std(y)) if len(y) > 1 else abs(float(y[-1])) + 1.0
    last = float(y[np.argmax(t)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b0 = float(y[0] - y[-1]) if len(y) > 1 else 0.0
            params, _ = curve_fit(_power_law, t, y, p0=(last, b0, 1.0),
                                  bounds=([-np.inf, -np.inf, 0.05], [np.inf, np.inf, 5.0]), maxfev=2000)
    except (RuntimeError, ValueError):
        return last, spread
    fitted = _power_law(t, *params)
    dof = max(1, len(y) - 3)
    resid = float(np.sqrt(np.sum((y - fitted) ** 2) / dof))
    pred = float(_power_law(np.asarray([float(target)]), *params)[0])
    if not math.isfinite(pred):
        return last, spread
    if len(y) <= 3:  # three points fit three parameters exactly: no residual to judge by; the step the fit
        resid = max(resid, abs(pred - last))  # extrapolates past the last value is the least it may be off by
    # extrapolating further than the observed span is less certain
    stretch = math.log(target / float(t.max())) / math.log(max(2.0, float(t.max()))) if target > t.max() else 0.0
    return pred, resid * (1.0 + stretch) + 1e-3 * (abs(pred) + 1e-12) * stretch


class HyperbandES:
    """Hyperband's brackets as stopping epochs, with learning-curve extrapolation (stopping mode)."""

    mode: str | None = STOPPING

    def __init__(self, space: SearchSpace, *, max_epochs: int = 27, eta: int = 3, max_trials: int = 20,
                 min_points: int = 3, z: float = 2.0) -> None:
        self.space = space
        self.max_epochs = max_epochs
        self.max_trials = check_count("automl_max_recommendations", max_trials)
        self.min_points = check_count("min_points", min_points, 2)
        self.z = float(z)
        check_smaller_budget("hyperband_es", max_epochs, eta,
                             "every bracket would be its s=0 bracket: no rec may be stopped before the full budget "
                             "(a random search)")
        self.brackets = hyperband_brackets(max_epochs, eta)
        self._trials: dict[int, Trial] = {}
        self._curves: dict[int, dict[int, float]] = {}
        self._finals: dict[int, float | None] = {}
        self._fresh = FreshConfigs(space)  # a new trial never repeats a config already started

    def propose(self, ids: Sequence[int], pending: Mapping[int, Trial], rng: np.random.Generator) -> list[Trial]:
        out: list[Trial] = []
        for trial_id in ids:
            b = len(self._trials) % len(self.brackets)
            config = self._fresh.untried(self.space.sample(rng), rng)
            trial = Trial(config=config, budget=self.max_epochs, bracket=b)  # no planned rung
            self.restore(trial_id, trial)
            out.append(trial)
        return out

    def observe(self, trial_id: int, value: float | None, budget: int | None) -> None:
        if trial_id not in self._trials:
            return
        ok = value is not None and math.isfinite(value)
        self._finals[trial_id] = value if ok else None
        if ok and budget is not None:
            assert value is not None
            self._curves.setdefault(trial_id, {}).setdefault(budget, value)

    def report_epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        trial = self._trials.get(trial_id)
        if trial is None or not math.isfinite(value):
            return False
        curve = self._curves.setdefault(trial_id, {})
        curve[epoch] = value
        bracket = self.brackets[trial.bracket or 0]
        if epoch >= self.max_epochs or epoch < bracket.budgets[0] or len(curve) < self.min_points:
            return False
        incumbent = self.incumbent(exclude=trial_id)
        if incumbent is None:
            return False
        epochs = sorted(curve)
        pred, err = extrapolate(epochs, [curve[e] for e in epochs], self.max_epochs)
        return pred - self.z * err > incumbent

    def restore(self, trial_id: int, trial: Trial) -> None:
        self._trials[trial_id] = trial
        self._fresh.add(trial.config)

    def is_finished(self, n_created: int) -> bool:
        return n_created >= self.max_trials

    def epoch_budgets(self) -> list[int]:
        """Every epoch budget a rec's spec may be given: each trains toward ``max_epochs`` (stopped by a cancel)."""
        return [self.max_epochs]

    def incumbent(self, exclude: int | None = None) -> float | None:
        """Best value any other config reached at the full budget."""
        finals = [c[self.max_epochs] for t, c in self._curves.items()
                  if t != exclude and self.max_epochs in c and self._finals.get(t, 0.0) is not None]
        return min(finals, default=None)

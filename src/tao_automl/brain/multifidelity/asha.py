"""ASHA: asynchronous successive halving (Li et al., 2020), in promotion or stopping mode.

Rungs are at ``r_k = max_epochs / eta^(K-k)`` epochs (``K`` chosen so the lowest rung is >= 1 epoch).

* **promotion**: a free slot first promotes the best not-yet-promoted trial of the highest rung whose
  top ``1/eta`` it belongs to — as a new trial that resumes from that trial's checkpoint and trains to the
  next rung; otherwise it starts a new random config at the lowest rung. Never waits for a rung to fill.
* **stopping**: every config is one trial trained toward ``max_epochs``; at its first reported epoch at or past a
  rung (a trainer that reports every few epochs may skip the rung's own), it goes on only if that value is in the
  top ``1/eta`` of the values seen at that rung so far (the first ``eta - 1`` arrivals go on by default); otherwise
  the runner cancels it.

Failed trials (``None``) are recorded at their rung as failures: never promoted, never a reason to stop
others. ``max_trials`` caps the number of trials (jobs) in both modes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tao_automl.brain.classic.novelty import FreshConfigs
from tao_automl.brain.multifidelity.successive_halving import check_smaller_budget
from tao_automl.brain.trials import PROMOTION, STOPPING, Trial
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import Config, SearchSpace


def rung_levels(max_epochs: int, eta: int) -> list[int]:
    """Epoch budgets of the rungs, lowest first; the last one is ``max_epochs``."""
    if max_epochs < 1 or eta < 2:
        raise SettingsError(f"ASHA needs automl_max_epochs >= 1 and automl_reduction_factor >= 2, "
                            f"got {max_epochs} and {eta}",
                            field="automl_settings.automl_max_epochs" if max_epochs < 1 else
                            "automl_settings.automl_reduction_factor", value=max_epochs if max_epochs < 1 else eta,
                            allowed="an integer >= 1" if max_epochs < 1 else "an integer >= 2")
    levels = math.floor(math.log(max_epochs, eta) + 1e-9)
    return sorted({max(1, round(max_epochs / eta ** (levels - k))) for k in range(levels + 1)})


class ASHA:
    """Asynchronous successive halving over random configs."""

    def __init__(self, space: SearchSpace, *, max_epochs: int = 27, eta: int = 3, mode: str = PROMOTION,
                 max_trials: int = 20) -> None:
        if mode not in (PROMOTION, STOPPING):
            raise SettingsError(f"fidelity mode {mode!r} is not allowed; expected {PROMOTION!r} or {STOPPING!r}",
                                value=mode, allowed=[PROMOTION, STOPPING])
        self.space = space
        self.mode: str | None = mode
        self.eta = eta
        self.max_trials = max_trials
        check_smaller_budget("asha", max_epochs, eta,
                             "its one rung would be the full budget: every rec would train in full with nothing "
                             + ("promoted" if mode == PROMOTION else "stopped") + " (a random search)")
        self.rungs = rung_levels(max_epochs, eta)
        self._trials: dict[int, Trial] = {}
        self._results: list[dict[int, float | None]] = [{} for _ in self.rungs]  # rung -> trial id -> value
        self._promoted: set[int] = set()  # trial ids already promoted (promotion mode)
        self._fresh = FreshConfigs(space)  # configs started from scratch: a new one is never one of them

    # -- protocol ---------------------------------------------------------------------------------
    def propose(self, ids: Sequence[int], pending: Mapping[int, Trial], rng: np.random.Generator) -> list[Trial]:
        out: list[Trial] = []
        for trial_id in ids:
            trial = self._promotion() if self.mode == PROMOTION else None
            if trial is None:  # stopping: one job toward the top budget, no planned rung (budget_reached says
                trial = (Trial(config=self._new_config(rng), budget=self.rungs[0], rung=0)  # where it stopped)
                         if self.mode == PROMOTION else Trial(config=self._new_config(rng), budget=self.rungs[-1]))
            self.restore(trial_id, trial)
            out.append(trial)
        return out

    def observe(self, trial_id: int, value: float | None, budget: int | None) -> None:
        trial = self._trials.get(trial_id)
        if trial is None:
            return
        if self.mode == PROMOTION:
            self._results[trial.rung or 0][trial_id] = value
        elif value is None:
            self._results[0].setdefault(trial_id, None)
        else:
            for k, level in enumerate(self.rungs):
                if budget is not None and level <= budget:
                    self._results[k].setdefault(trial_id, value)

    def report_epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        """Judge the trial at each rung its first report at or past that rung's epoch reaches (a trainer that
        reports every few epochs skips rung epochs: it is judged at the report that passes them)."""
        if self.mode != STOPPING:
            return False
        for k, level in enumerate(self.rungs):
            if level > epoch:
                break
            if trial_id in self._results[k]:
                continue
            self._results[k][trial_id] = value
            if k < len(self.rungs) - 1 and not self._in_top(trial_id, k):
                return True
        return False

    def restore(self, trial_id: int, trial: Trial) -> None:
        self._trials[trial_id] = trial
        if trial.parent is not None:
            self._promoted.add(trial.parent)
        else:
            self._fresh.add(trial.config)

    def is_finished(self, n_created: int) -> bool:
        return n_created >= self.max_trials

    def epoch_budgets(self) -> list[int]:
        """Every epoch budget a rec's spec may be given: each rung's (promotion), else the top one (stopping)."""
        return list(self.rungs) if self.mode == PROMOTION else [self.rungs[-1]]

    # -- helpers ----------------------------------------------------------------------------------
    def _new_config(self, rng: np.random.Generator) -> Config:
        return self._fresh.untried(self.space.sample(rng), rng)

    def _in_top(self, trial_id: int, k: int) -> bool:
        values = sorted(v for v in self._results[k].values() if v is not None)
        mine = self._results[k].get(trial_id)
        if mine is None:
            return False
        n_top = len(values) // self.eta
        if n_top == 0:
            return len(values) < self.eta  # too few arrivals to judge: let it go on
        return mine <= values[n_top - 1]

    def _promotion(self) -> Trial | None:
        for k in range(len(self.rungs) - 2, -1, -1):
            done = {i: v for i, v in self._results[k].items() if v is not None}
            n_top = len(done) // self.eta
            for trial_id in sorted(done, key=lambda i: done[i])[:n_top]:
                if trial_id not in self._promoted:
                    self._promoted.add(trial_id)
                    return Trial(config=self._trials[trial_id].config, budget=self.rungs[k + 1], parent=trial_id,
                                 rung=k + 1)
        return None

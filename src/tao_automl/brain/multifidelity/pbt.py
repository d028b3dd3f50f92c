"""Population-based training (Jaderberg et al., 2017), asynchronous, from checkpoints.

A population of ``population_size`` members trains in ``generations`` chunks of epochs (generation ``g`` trains up
to ``ceil(max_epochs * (g + 1) / generations)``; by default ``ceil(max_trials / population_size)`` generations, so
the budget is spent: the last generation holds only the members the budget still pays for. More than
``population_size * max_epochs`` trials cannot be spent and is refused). Each member of a generation is a new trial:

* a member that did well goes on: same config, resuming its own previous trial's checkpoint;
* a member in the bottom ``quantile`` (failed or lost members first, and always) *exploits*: it copies a random
  member of the top ``quantile`` — config and checkpoint (``Trial.parent`` = that member's trial of the previous
  generation; a failed member whose generation has no success yet waits for one while others of it train, and when
  the whole generation failed it copies the top of the latest generation with a success) — and *explores*: numeric
  coordinates of its unit-cube encoding move by a Gaussian step (``scale``), each categorical/bool is re-drawn with
  probability 0.2, and ``space.decode`` keeps it valid.

Failures are never exploited. When the budget leaves a smaller last generation, the members that fill it are the
best ranked of the generation before, once all of it has ended. Members move on asynchronously, as in the paper (and
Ray Tune's PBT): the population starts first (generation 0 from scratch); then a member whose trial has ended gets
its next one at once, ranked against the trials of its generation that have ended by then, so no slot waits for a
generation's slowest member (the ranking of an early finisher sees part of its generation; once the whole generation
has ended, it is the ranking a synchronous PBT makes). When several may move, the lowest generation goes first, then
the lowest member. A member always resumes a checkpoint, so params that define the network (and so the checkpoint's
shape) are never perturbed: ``frozen`` params keep the value of the member whose checkpoint is copied. By default
they are the params of the spec's ``model`` section (TAO's network definition: layers, widths, activation, backbone
…); only optimiser, regularisation and data settings explore.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from tao_automl.brain.classic.acquisition import Snapper
from tao_automl.brain.classic.novelty import FreshConfigs
from tao_automl.brain.multifidelity.successive_halving import check_count
from tao_automl.brain.trials import PROMOTION, Trial
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import Config, SearchSpace


class PBT:
    """Population-based training over ``population_size`` members (promotion mode)."""

    mode: str | None = PROMOTION

    def __init__(self, space: SearchSpace, *, max_epochs: int = 27, population_size: int = 10,
                 max_trials: int = 20, generations: int | None = None, quantile: float = 0.25,
                 scale: float = 0.1, frozen: Iterable[str] | None = None) -> None:
        self.space = space
        #: Params never perturbed (they change the network a checkpoint holds).
        self.frozen = frozenset(architecture_params(space.names) if frozen is None else frozen)
        self.max_epochs = check_count("automl_max_epochs", max_epochs)
        self.size = check_count("automl_population_size", population_size)
        if self.size < 2:
            raise SettingsError(
                f"automl_settings.automl_population_size: {self.size} is not allowed for pbt: a population of one is "
                "always its own top member, so it never exploits or explores; the run would retrain one config in "
                "chunks of epochs", field="automl_settings.automl_population_size", value=self.size,
                allowed=">= 2 for pbt",
                hint="raise automl_population_size (default 10), or use a single-fidelity algorithm "
                     "(bayesian, tpe, random) for one config at a time")
        self.max_trials = check_count("automl_max_recommendations", max_trials)
        if self.max_trials > self.size * self.max_epochs:
            raise SettingsError(
                f"automl_settings.automl_max_recommendations: {self.max_trials} is more than pbt can spend: a "
                f"population of {self.size} for {self.max_epochs} epochs runs at most {self.size * self.max_epochs} "
                "recs (one generation per epoch)",
                field="automl_settings.automl_max_recommendations", value=self.max_trials,
                allowed=f"at most {self.size * self.max_epochs} (automl_population_size x automl_max_epochs)",
                hint="lower automl_max_recommendations, or raise automl_population_size or automl_max_epochs"
            )
        default = max(1, math.ceil(self.max_trials / self.size))
        self.generations = default if generations is None else check_count("pbt option generations", generations)
        if not (isinstance(quantile, (int, float)) and 0.0 < quantile <= 0.5):
            raise SettingsError(f"pbt option quantile: {quantile!r} is not allowed; expected a number in (0, 0.5]",
                                field="pbt option quantile", value=quantile, allowed="a number in (0, 0.5]")
        self.quantile = float(quantile)
        self.scale = float(scale)
        self._snap = Snapper(space)
        self._trials: dict[int, Trial] = {}
        self._values: dict[int, float | None] = {}
        self._members: dict[int, dict[int, int]] = {}  # generation -> member -> trial id
        self._inflight: set[int] = set()
        self._fresh = FreshConfigs(space)  # configs started from scratch: a new member never repeats one

    def budget(self, generation: int) -> int:
        """Epochs a member reaches at the end of ``generation``."""
        return max(1, math.ceil(self.max_epochs * (generation + 1) / self.generations - 1e-9))

    # -- protocol ---------------------------------------------------------------------------------
    def propose(self, ids: Sequence[int], pending: Mapping[int, Trial], rng: np.random.Generator) -> list[Trial]:
        self._inflight = set(pending)
        out: list[Trial] = []
        for trial_id in ids:
            trial = self._next(rng)
            if trial is None:
                break
            self.restore(trial_id, trial)
            out.append(trial)
        return out

    def observe(self, trial_id: int, value: float | None, budget: int | None) -> None:
        if trial_id in self._trials:
            self._values[trial_id] = value if value is None or math.isfinite(value) else None
            self._inflight.discard(trial_id)

    def report_epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        return False

    def restore(self, trial_id: int, trial: Trial) -> None:
        self._trials[trial_id] = trial
        self._inflight.add(trial_id)
        if trial.parent is None:
            self._fresh.add(trial.config)
        generation = self._members.setdefault(trial.rung or 0, {})
        member = trial.bracket if trial.bracket is not None and trial.bracket not in generation else len(generation)
        generation.setdefault(member, trial_id)

    def epoch_budgets(self) -> list[int]:
        """Every epoch budget a rec's spec may be given (each generation's end), lowest first."""
        return sorted({self.budget(g) for g in range(self.generations)})

    def is_finished(self, n_created: int) -> bool:
        """Every trial of every generation created: members move on at their own pace, so the last generation may
        be full and ended while a slow member still has generations to go."""
        return n_created >= min(self.max_trials, sum(self.generation_size(g) for g in range(self.generations)))

    # -- schedule ---------------------------------------------------------------------------------
    def _ended(self, trial_id: int) -> bool:
        return trial_id in self._values or trial_id not in self._inflight

    def generation_size(self, g: int) -> int:
        """Members of generation ``g``: the population, or what the budget still pays for in the last one."""
        return max(1, min(self.size, self.max_trials - g * self.size))

    def ranking(self, g: int) -> tuple[list[int], list[int]]:
        """(top, bottom) trial ids among the ended trials of generation ``g``; failed/lost members are always
        bottom."""
        slot = [t for t in self._members.get(g, {}).values() if self._ended(t)]
        ok = sorted((t for t in slot if self._values.get(t) is not None), key=lambda t: (self._values[t], t))
        n_cut = max(1, math.floor(self.quantile * len(slot)))
        top = ok[:n_cut]
        failed = [t for t in slot if self._values.get(t) is None]
        n_worst = max(0, n_cut - len(failed))  # failures fill the bottom quantile first
        bottom = sorted(set(ok[max(len(top), len(ok) - n_worst):]) | set(failed))
        return top, bottom

    def _next(self, rng: np.random.Generator) -> Trial | None:
        first = self._members.get(0, {})
        if len(first) < self.generation_size(0):  # the population starts from scratch
            return Trial(config=self._fresh.untried(self.space.sample(rng), rng), budget=self.budget(0),
                         bracket=len(first), rung=0)
        for g in range(self.generations - 1):
            following = self._members.get(g + 1, {})
            if len(following) >= self.generation_size(g + 1):
                continue
            members = sorted(self._members.get(g, {}).items())
            if self.generation_size(g + 1) < self.generation_size(g):  # a smaller last generation: the best go on
                if len(members) < self.generation_size(g) or not all(self._ended(t) for _, t in members):
                    continue  # ranked once the whole generation has ended
                members.sort(key=lambda item: self._rank_key(item[1]))
            for member, previous in members:
                if member not in following and self._ended(previous) and not self._waits(g, previous):
                    return self._successor(g + 1, member, previous, rng)
        return None

    def _rank_key(self, trial_id: int) -> tuple[bool, float, int]:
        """Best (lowest) value first, failures last, then the trial id."""
        value = self._values.get(trial_id)
        return value is None, value if value is not None else 0.0, trial_id

    def _waits(self, g: int, previous: int) -> bool:
        """Whether a member whose trial ``previous`` (generation ``g``) failed waits for a trial of its generation to
        succeed: none has yet, and some are still training; it then copies one instead of starting afresh."""
        if self._values.get(previous) is not None:
            return False
        trials = self._members.get(g, {}).values()
        return not any(self._values.get(t) is not None for t in trials) and not all(self._ended(t) for t in trials)

    def _successor(self, g: int, member: int, previous: int, rng: np.random.Generator) -> Trial:
        """``member``'s trial in generation ``g``, after its trial ``previous`` ended: it goes on, or exploits and
        explores a top member's (or starts afresh when no member of its generation succeeded)."""
        top, bottom = self.ranking(g - 1)
        if previous not in bottom:
            return Trial(config=dict(self._trials[previous].config), budget=self.budget(g), parent=previous,
                         bracket=member, rung=g)
        earlier = g - 2
        while not top and earlier >= 0:  # its whole generation failed: copy the best of the latest that did not
            top = self.ranking(earlier)[0]
            earlier -= 1
        if not top:  # nobody succeeded: start this member afresh
            return Trial(config=self._fresh.untried(self.space.sample(rng), rng), budget=self.budget(g),
                         bracket=member, rung=g)
        source = top[int(rng.integers(len(top)))]
        return Trial(config=self.explore(self._trials[source].config, rng), budget=self.budget(g), parent=source,
                     bracket=member, rung=g)

    def explore(self, config: Config, rng: np.random.Generator) -> Config:
        """A perturbed copy of ``config`` inside the space; :attr:`frozen` params keep their value."""
        x = np.clip(self.space.encode(config), 0.0, 1.0)[None, :]
        moved = self.space.decode(self._snap.perturb(x, self.scale, rng)[0])
        out = {**moved, **{k: config[k] for k in self.frozen if k in config}}
        return out if not self.space.violations(out) else dict(config)


def architecture_params(names: Iterable[str]) -> list[str]:
    """Searched params that define the network (the ``model`` section of a TAO spec)."""
    return [n for n in names if n == "model" or n.startswith("model.")]

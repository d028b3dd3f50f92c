"""Synchronous successive-halving brackets (Hyperband's schedule), shared by hyperband, bohb, dehb, bfbo.

Bracket ``s`` (``s = s_max .. 0``, ``s_max = floor(log_eta(max_epochs))``) starts
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` configs at ``max_epochs * eta^-s`` epochs; each rung keeps the
best ``floor(n_i / eta)`` successes and promotes them — as *new* trials that resume from their parent's
checkpoint (promotion mode) — to ``eta`` times the epochs, up to ``max_epochs``. The s=0 bracket trains
its configs at the full budget from scratch.

Each bracket is synchronous: a rung is promoted once every trial in it has ended. While a bracket waits, the
brackets after it start (as Li et al. note, brackets are independent; BOHB runs the next iterations' brackets
the same way when every config of the current ones is in flight), so parallel slots stay busy: the iterations the
budget holds are planned up front (:func:`plan_brackets`: whole iterations, then one shrunk to what is left), and
``propose`` hands out fewer trials only when every planned bracket waits or is done. Its whole state is a
function of the registered trials (each carries its ``bracket`` and ``rung``) and the observed values, so
:meth:`restore` + replay rebuilds it.
A trial that is neither observed nor in flight (cancelled, lost) counts as a failure; failures are never
promoted. ``max_trials`` (automl_max_recommendations) is a budget that is spent: when every bracket is
done and trials remain (failures cut rungs short), another Hyperband iteration starts, its brackets shrunk to the
remaining trials (:func:`fit_brackets`, so the cap never leaves a rung unpromoted); the schedule ends only when the
budget is. Subclasses choose the configs that start a bracket (:meth:`SuccessiveHalving._new_configs`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from tao_automl.brain.classic.novelty import FreshConfigs
from tao_automl.brain.trials import PROMOTION, Trial
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import Config, SearchSpace


@dataclass(frozen=True)
class Bracket:
    """One bracket: its index ``s`` and the (size, epochs) of each rung, lowest first."""

    s: int
    sizes: tuple[int, ...]
    budgets: tuple[int, ...]


def hyperband_brackets(max_epochs: int, eta: int) -> list[Bracket]:
    """The brackets of one Hyperband iteration, most exploratory (``s = s_max``) first, s=0 last."""
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise SettingsError(f"automl_max_epochs: {max_epochs!r} is not allowed; expected an integer >= 1",
                            field="automl_settings.automl_max_epochs", value=max_epochs, allowed="an integer >= 1")
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise SettingsError(f"automl_reduction_factor: {eta!r} is not allowed; expected an integer >= 2",
                            field="automl_settings.automl_reduction_factor", value=eta, allowed="an integer >= 2")
    s_max = math.floor(math.log(max_epochs, eta) + 1e-9)
    out: list[Bracket] = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9)
        sizes = tuple(max(1, math.floor(n * eta ** (-i) + 1e-9)) for i in range(s + 1))
        budgets = tuple(max(1, round(max_epochs * eta ** (i - s))) for i in range(s + 1))
        out.append(Bracket(s, sizes, budgets))
    return out


def fit_brackets(brackets: list[Bracket], max_trials: int, eta: int) -> list[Bracket]:
    """``brackets`` shrunk to at most ``max_trials`` trials in all, so the cap never cuts a rung short.

    Every bracket's first rung is scaled by the same factor (rungs above keep ``1/eta`` of the one below,
    at least 1); when even one config per bracket is too many, the most exploratory brackets are dropped.
    """
    def total(bs: list[Bracket]) -> int:
        return sum(sum(b.sizes) for b in bs)

    def scaled(bs: list[Bracket], step: int) -> list[Bracket]:
        out = []
        for b in bs:
            n = max(1, math.floor(b.sizes[0] * step / 100 + 0.5))
            out.append(Bracket(b.s, tuple(max(1, math.floor(n * eta ** (-i) + 1e-9)) for i in range(len(b.sizes))),
                               b.budgets))
        return out

    if total(brackets) <= max_trials:
        return brackets
    # the largest common scale that fits; when even the smallest does not, drop the most exploratory brackets and
    # scale the rest again (a last iteration of 2 trials is one s=0 bracket of 2, run side by side, not 1 + 1)
    kept = list(brackets)
    while True:
        for step in range(100, 0, -1):
            candidate = scaled(kept, step)
            if total(candidate) <= max_trials:
                return candidate
        if len(kept) == 1:
            return scaled(kept, 1)
        kept = kept[1:]


class BracketPlan(Sequence[Bracket]):
    """Planned brackets: ``unit`` repeated ``whole`` times, then ``tail`` (and brackets added later with ``+=``),
    indexed without building the repeats, so a budget of any size (up to 2**63 - 1 recs) is planned in the memory
    of one iteration."""

    def __init__(self, unit: Sequence[Bracket], whole: int, tail: Sequence[Bracket]) -> None:
        self._unit = tuple(unit)
        self._whole = whole if self._unit else 0
        self._tail = list(tail)

    def __len__(self) -> int:
        return len(self._unit) * self._whole + len(self._tail)

    @overload
    def __getitem__(self, index: int) -> Bracket: ...

    @overload
    def __getitem__(self, index: slice) -> list[Bracket]: ...

    def __getitem__(self, index: int | slice) -> Bracket | list[Bracket]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(f"bracket {index} is not planned ({len(self)} are)")
        repeated = len(self._unit) * self._whole
        return self._unit[position % len(self._unit)] if position < repeated else self._tail[position - repeated]

    def __iadd__(self, more: Iterable[Bracket]) -> BracketPlan:
        self._tail.extend(more)
        return self

    def starts(self) -> int:
        """How many configs the planned brackets start from scratch (their first rungs; the rungs above promote)."""
        return self._whole * sum(b.sizes[0] for b in self._unit) + sum(b.sizes[0] for b in self._tail)

    def trials(self) -> int:
        """How many trials the planned brackets hold."""
        return self._whole * sum(sum(b.sizes) for b in self._unit) + sum(sum(b.sizes) for b in self._tail)

    def distinct(self) -> list[Bracket]:
        """Each planned bracket once (the repeated unit once, then the tail)."""
        return [*(self._unit if self._whole else ()), *self._tail]


def plan_brackets(iteration: list[Bracket], max_trials: int, eta: int, rest: list[Bracket] | None = None
                  ) -> BracketPlan:
    """The brackets of every iteration ``max_trials`` holds: as many whole ``iteration`` s as fit, then ``rest``
    (default: the same iteration) shrunk to the trials left (:func:`fit_brackets`); ``iteration`` shrunk when not
    even one fits. Planned up front so that a later iteration's brackets can start while an earlier one waits."""
    size = sum(sum(b.sizes) for b in iteration)
    if size > max_trials:
        return BracketPlan((), 0, fit_brackets(iteration, max_trials, eta))
    whole, left = divmod(max_trials, size)
    return BracketPlan(iteration, whole,
                       fit_brackets(iteration if rest is None else rest, left, eta) if left else [])


def check_count(name: str, value: object, low: int = 1) -> int:
    """``value`` as an int >= ``low``, or a SettingsError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        field = f"automl_settings.{name}" if name.startswith("automl_") else name
        raise SettingsError(f"{field}: {value!r} is not allowed; expected an integer >= {low}", field=field,
                            value=value, allowed=f"an integer >= {low}")
    return value


def check_smaller_budget(algorithm: str, max_epochs: object, eta: object,
                         consequence: str = "every bracket would be one full-budget rec, run one after the other"
                         ) -> None:
    """Refuse ``automl_max_epochs`` below ``automl_reduction_factor`` for a multi-fidelity ``algorithm``: its lowest
    rung would be the full budget, so it is a random search under its own name (``consequence``: what it would do)."""
    if isinstance(max_epochs, bool) or isinstance(eta, bool) or not isinstance(max_epochs, int) \
            or not isinstance(eta, int):
        return
    if 1 <= max_epochs < eta:
        raise SettingsError(
            f"automl_settings.automl_max_epochs: {max_epochs} is below automl_reduction_factor {eta}, so "
            f"{algorithm} has no smaller budget to start configs at: {consequence}",
            field="automl_settings.automl_max_epochs", value=max_epochs,
            allowed=f"an integer >= {eta} (automl_reduction_factor)",
            hint="raise automl_max_epochs, lower automl_reduction_factor, or use a single-fidelity algorithm "
                 "(bayesian, tpe, random)")


class SuccessiveHalving:
    """Hyperband's brackets in promotion mode: synchronous rungs, later brackets fill the slots a waiting one leaves."""

    mode: str | None = PROMOTION

    def __init__(self, space: SearchSpace, *, max_epochs: int = 27, eta: int = 3, max_trials: int = 20,
                 iterations: int = 1) -> None:
        self.space = space
        self.eta = eta
        self.max_epochs = max_epochs
        self.max_trials = check_count("automl_max_recommendations", max_trials)
        self.iterations = check_count("iterations", iterations)
        check_smaller_budget(type(self).__name__.lower(), max_epochs, eta)
        one = hyperband_brackets(max_epochs, eta)
        self.brackets = plan_brackets(one * self.iterations, self.max_trials, eta, rest=one)
        self._trials: dict[int, Trial] = {}
        self._values: dict[int, float | None] = {}
        self._members: dict[tuple[int, int], list[int]] = {}  # (bracket, rung) -> trial ids, in id order
        self._promoted: set[int] = set()
        self._inflight: set[int] = set()
        self._fresh = FreshConfigs(space)  # configs started from scratch: a new one is never one of them

    def planned_starts(self) -> int:
        """How many configs the brackets start from scratch when every trial succeeds: the planned first rungs, and
        those of the brackets that the recs the plan leaves unspent get (as :meth:`_current` adds them)."""
        starts, left = self.brackets.starts(), self.max_trials - self.brackets.trials()
        while left > 0:
            more = fit_brackets(hyperband_brackets(self.max_epochs, self.eta), left, self.eta)
            used = sum(sum(b.sizes) for b in more)
            if used == 0:
                break
            starts, left = starts + sum(b.sizes[0] for b in more), left - used
        return starts

    # -- protocol ---------------------------------------------------------------------------------
    def propose(self, ids: Sequence[int], pending: Mapping[int, Trial], rng: np.random.Generator) -> list[Trial]:
        self._inflight = set(pending)
        out: list[Trial] = []
        for trial_id in ids:
            trial = self._next(rng, pending)
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
        key = (trial.bracket or 0, trial.rung or 0)
        members = self._members.setdefault(key, [])
        if trial_id not in members:
            members.append(trial_id)
        if trial.parent is not None:
            self._promoted.add(trial.parent)
        else:
            self._fresh.add(trial.config)

    def is_finished(self, n_created: int) -> bool:
        return n_created >= self.max_trials or self._current() is None

    # -- schedule ---------------------------------------------------------------------------------
    def ended(self, trial_id: int) -> bool:
        return trial_id in self._values or trial_id not in self._inflight

    def value(self, trial_id: int) -> float | None:
        """The trial's observed value; None while running, when failed, or when lost."""
        return self._values.get(trial_id)

    def rung_target(self, b: int, i: int) -> int:
        """How many trials rung ``i`` of bracket ``b`` holds (fewer than planned when failures cut it)."""
        size = self.brackets[b].sizes[i]
        if i == 0:
            return size
        return min(size, len(self.survivors(b, i - 1)))

    def survivors(self, b: int, i: int) -> list[int]:
        """Successful trials of a rung, best first (ties by id)."""
        done = [t for t in self._members.get((b, i), []) if self.value(t) is not None]
        return sorted(done, key=lambda t: (self.value(t), t))

    def rung_complete(self, b: int, i: int) -> bool:
        members = self._members.get((b, i), [])
        return len(members) >= self.rung_target(b, i) and all(self.ended(t) for t in members)

    def _current(self) -> int | None:
        """Index of the first bracket that is not done; a new iteration starts while budget remains."""
        for b, bracket in enumerate(self.brackets):
            if not all(self.rung_complete(b, i) for i in range(len(bracket.sizes))):
                return b
        planned = len(self.brackets)
        remaining = self.max_trials - sum(1 for t in self._trials.values() if (t.bracket or 0) < planned)
        if remaining <= 0:
            return None
        self.brackets += fit_brackets(hyperband_brackets(self.max_epochs, self.eta), remaining, self.eta)
        return planned

    def _next(self, rng: np.random.Generator, pending: Mapping[int, Trial]) -> Trial | None:
        """The next trial of the first bracket that has one to hand out: while a rung waits for its last
        results, the brackets after it start (each bracket's own rungs stay synchronous)."""
        first = self._current()
        if first is None:
            return None
        for b in range(first, len(self.brackets)):
            trial = self._next_in(b, rng, pending)
            if trial is not None:
                return trial
        return None

    def _next_in(self, b: int, rng: np.random.Generator, pending: Mapping[int, Trial]) -> Trial | None:
        """Bracket ``b``'s next trial; None while its next rung waits, or when it is done."""
        bracket = self.brackets[b]
        for i in range(len(bracket.sizes)):
            members = self._members.get((b, i), [])
            if len(members) < self.rung_target(b, i):
                if i == 0:  # a config started before (a DE child or a model's pick landing on it) is retrained
                    config = self._fresh.untried(self._new_configs(1, bracket.budgets[0], pending, rng)[0], rng)
                    return Trial(config=config, budget=bracket.budgets[0], bracket=b, rung=0)
                if not self.rung_complete(b, i - 1):
                    return None
                n_up = self.rung_target(b, i)
                for parent in self.survivors(b, i - 1)[:n_up]:
                    if parent not in self._promoted:
                        return Trial(config=dict(self._trials[parent].config), budget=bracket.budgets[i],
                                     parent=parent, bracket=b, rung=i)
                return None
            if not self.rung_complete(b, i):
                return None
        return None

    # -- data for models ----------------------------------------------------------------------------
    def results_at(self, budget: int) -> list[tuple[Config, float | None]]:
        """(config, value) of every ended trial trained to ``budget`` epochs, in id order (None = failed)."""
        return [(self._trials[t].config, self._values.get(t)) for t in sorted(self._trials)
                if self._trials[t].budget == budget and self.ended(t)]

    def running_configs(self) -> list[Config]:
        """Configs of trials still in flight."""
        return [self._trials[t].config for t in sorted(self._trials) if not self.ended(t)]

    def budgets(self) -> list[int]:
        """All distinct rung budgets, lowest first."""
        return sorted({r for br in self.brackets.distinct() for r in br.budgets})

    def epoch_budgets(self) -> list[int]:
        """Every epoch budget a rec's spec may be given (each rung's), lowest first."""
        return self.budgets()

    def largest_budget_with(self, successes: int) -> int | None:
        """The largest rung budget with at least ``successes`` successful results, or None."""
        for budget in reversed(self.budgets()):
            if sum(v is not None for _, v in self.results_at(budget)) >= successes:
                return budget
        return None

    def incumbent(self) -> tuple[Config, float] | None:
        """Best successful config at the largest budget reached."""
        for budget in reversed(self.budgets()):
            done = [(c, v) for c, v in self.results_at(budget) if v is not None]
            if done:
                config, value = min(done, key=lambda cv: cv[1])
                assert value is not None
                return config, value
        return None

    def _new_configs(self, n: int, budget: int, pending: Mapping[int, Trial],
                     rng: np.random.Generator) -> list[Config]:
        """``n`` configs to start a bracket at ``budget`` epochs (random here)."""
        return [self.space.sample(rng) for _ in range(n)]

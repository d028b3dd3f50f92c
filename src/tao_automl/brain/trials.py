"""Trials: the protocol between the experiment and a scheduler of recs, single- or multi-fidelity.

A *trial* is one rec as the scheduler sees it: a config, the training budget (epochs) it should reach,
and — for a promotion — the rec whose checkpoint it continues. Classic brains (``suggest``/``observe``)
are wrapped by :class:`ClassicScheduler`, so the experiment and the runner have a single path.

Multi-fidelity schedulers run in one of two modes:

* ``promotion`` — a promoted config is a *new* rec that resumes from its parent's checkpoint and trains
  up to a larger budget (successive halving with restarts from checkpoints);
* ``stopping`` — each config is one job trained toward the full budget; the runner reports per-epoch
  metrics through :meth:`TrialScheduler.report_epoch`, and cancels the job when the scheduler says so.

Ids are the experiment's rec ids, handed to the scheduler in :meth:`TrialScheduler.propose`.
Replaying a run calls :meth:`TrialScheduler.restore` for every persisted trial (in id order), then
``report_epoch`` / ``observe`` for what was recorded — schedulers must reach the same state that way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tao_automl.brain.base import Brain, Upcoming
from tao_automl.space.search_space import Config


class FidelityMode(str, Enum):
    """How a multi-fidelity scheduler gives a config more budget (see the module docstring)."""

    PROMOTION = "promotion"
    STOPPING = "stopping"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


PROMOTION, STOPPING = FidelityMode.PROMOTION, FidelityMode.STOPPING


@dataclass(frozen=True)
class Trial:
    """One rec as a scheduler plans it."""

    config: Config
    budget: int | None = None  # epochs to reach; None = the spec's own num_epochs
    parent: int | None = None  # rec id whose checkpoint this trial resumes (promotion)
    bracket: int | None = None
    rung: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trial:
        return cls(**dict(data))


@runtime_checkable
class TrialScheduler(Protocol):
    """What the experiment drives: proposes trials for given rec ids, learns from results."""

    mode: str | None  # None (single fidelity), "promotion" or "stopping"

    def propose(self, ids: Sequence[int], pending: Mapping[int, Trial], rng: np.random.Generator) -> list[Trial]:
        """Trials for (a prefix of) ``ids``; fewer (even none) when it must wait for results first."""
        ...

    def observe(self, trial_id: int, value: float | None, budget: int | None) -> None:
        """A trial ended with ``value`` (minimisation form; None = failed) after ``budget`` epochs."""
        ...

    def report_epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        """An intermediate value (minimisation form); True means: stop this trial now."""
        ...

    def restore(self, trial_id: int, trial: Trial) -> None:
        """Re-register a trial proposed before a resume (no RNG is consumed)."""
        ...

    def is_finished(self, n_created: int) -> bool:
        """Whether the schedule is over (no more trials will ever be proposed)."""
        ...


class SingleFidelityScheduler:
    """What every single-fidelity scheduler shares: its trials by id, no epoch-level decisions, a fixed count."""

    mode: str | None = None

    def __init__(self, max_trials: int) -> None:
        self.max_trials = max_trials
        self._trials: dict[int, Trial] = {}

    def report_epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        return False

    def restore(self, trial_id: int, trial: Trial) -> None:
        self._trials[trial_id] = trial

    def is_finished(self, n_created: int) -> bool:
        return n_created >= self.max_trials


class ClassicScheduler(SingleFidelityScheduler):
    """Adapts a single-fidelity :class:`Brain` (``suggest``/``observe``) to the trial protocol."""

    def __init__(self, brain: Brain, max_trials: int) -> None:
        super().__init__(max_trials)
        self.brain = brain

    def propose(self, ids: Sequence[int], pending: Mapping[int, Trial], rng: np.random.Generator) -> list[Trial]:
        if not ids:
            return []
        configs = self.brain.suggest(len(ids), [t.config for t in pending.values()], rng)
        trials = [Trial(config=c) for c in configs[: len(ids)]]
        for trial_id, trial in zip(ids, trials, strict=False):
            self._trials[trial_id] = trial
        return trials

    def observe(self, trial_id: int, value: float | None, budget: int | None) -> None:
        self.brain.observe(self._trials[trial_id].config, value)

    def is_finished(self, n_created: int) -> bool:
        """The budget is spent, or the brain stopped proposing for good (``autoresearch`` after failed recs in a
        row sets ``stopped``)."""
        return super().is_finished(n_created) or bool(getattr(self.brain, "stopped", False))

    def prepare(self, interrupt: Callable[[], bool] | None = None, upcoming: Upcoming | None = None) -> None:
        """Let the brain use idle time (jobs running) for work its next proposal needs (see :func:`prepare_next`)."""
        prepare_next(self.brain, interrupt, upcoming)


def prepare_next(brain: object, interrupt: Callable[[], bool] | None = None,
                 upcoming: Upcoming | None = None) -> None:
    """Call ``brain.prepare(interrupt[, upcoming])`` when it has one: optional, it precomputes what the next proposal
    needs from the results so far (and from ``upcoming``, what that proposal will be given) and never changes a
    proposal (the bayesian brain fits its GP hyperparameters and scores its random candidates there); it stops early
    once ``interrupt()`` answers True."""
    method = getattr(brain, "prepare", None)
    if not callable(method):
        return
    if upcoming is None:
        method(interrupt)
    else:
        method(interrupt, upcoming)

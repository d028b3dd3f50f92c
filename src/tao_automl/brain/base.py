"""The ask/tell protocol every brain implements.

A brain receives data, never the runner: configs it proposed, and the objective each one scored.
Objective values are always in *minimisation* form (the runner flips the sign for ``maximize``
once, in :mod:`tao_automl.metrics.parse`); ``None`` means the rec failed (crash, NaN, no metric).
Brains keep no RNG of their own: the caller passes a generator seeded from the run seed and the
rec counter, so a resumed run replays to the same state without pickling anything.

A brain may also have ``prepare(interrupt, upcoming)``: the runner calls it while jobs run (nothing to propose yet),
for work the next proposal needs from the results so far; ``upcoming`` (an :class:`Upcoming`) says what that
proposal will be given, as far as it is known then. It must never change a proposal, only when its cost is paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from tao_automl.space.search_space import Config


@dataclass(frozen=True)
class Upcoming:
    """What the next proposal will be given, as known while jobs run: the configs in flight now (one of them ends
    first, and its result comes before the proposal) and the seed of the generator the proposal gets."""

    pending: tuple[Config, ...]
    seed: tuple[int, ...]


@runtime_checkable
class Brain(Protocol):
    """Propose configs; learn from results."""

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        """Return ``n`` new configs inside the space. ``pending`` are configs still being evaluated."""
        ...

    def observe(self, config: Config, value: float | None) -> None:
        """Record the objective of a finished config (lower is better; ``None`` = failed)."""
        ...

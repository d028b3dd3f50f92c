"""Random search: independent draws from the space (respecting option weights), never a config already observed,
pending or drawn while an untried one remains (in a finite space: two 3-valued ints drew 7 distinct configs in 9)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tao_automl.brain.classic.novelty import FreshConfigs, config_key
from tao_automl.space.search_space import Config, SearchSpace


class RandomBrain:
    """Samples every config independently; learns nothing but which configs it has seen."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self._seen = FreshConfigs(space)

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        busy = {config_key(self.space, c) for c in pending}  # in flight, or drawn in this call
        out = []
        for _ in range(n):
            config = self._seen.untried(self.space.sample(rng), rng, busy)
            busy.add(config_key(self.space, config))
            out.append(config)
        return out

    def observe(self, config: Config, value: float | None) -> None:
        self._seen.add(config)

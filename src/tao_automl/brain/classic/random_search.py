"""Random search: independent draws from the space (respecting option weights)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tao_automl.space.search_space import Config, SearchSpace


class RandomBrain:
    """Samples every config independently; learns nothing."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        return [self.space.sample(rng) for _ in range(n)]

    def observe(self, config: Config, value: float | None) -> None:
        return None

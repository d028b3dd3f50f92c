"""``autoresearch``: propose -> pre-screen -> verify -> run -> keep/discard, around an incumbent.

Each round the LLM sees the knowledge gathered so far (the research directives plus the best and
recent results) and proposes a change to the incumbent. Pre-screen: the answer is validated and
repaired against the space. Verify: a config already tried, pending, or equal to the incumbent is
rejected and re-asked, then moved to an unseen neighbour (never one identical config twice). Run:
the rec trains. Keep/discard: a result better than the incumbent is kept (it becomes the new
incumbent), anything else is discarded; both are recorded. The search stops (no more recs) after
``max_failures`` failed recs in a row; the budget also ends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tao_automl.brain.llm.llm_brain import LLMBrain
from tao_automl.llm.client import LLMClient
from tao_automl.llm.prompts import compact, metric_digits, prompt_digits, proposal_prompt
from tao_automl.space.search_space import Config, SearchSpace
from tao_automl.util.digits import not_whole

MAX_FAILURES = 3


class AutoResearchBrain(LLMBrain):
    """Incumbent-centred LLM research loop with explicit keep/discard verdicts."""

    def __init__(self, space: SearchSpace, client: LLMClient, *, max_failures: int = MAX_FAILURES,
                 **options: Any) -> None:
        super().__init__(space, client, **options)
        self.max_failures = max_failures
        self.incumbent: tuple[Config, float] | None = None
        self.failures_in_row = 0
        self.stopped = False

    def prompt(self, avoid: Sequence[Config], note: str) -> str:
        avoid_all = [*avoid, *([self.incumbent[0]] if self.incumbent else [])]
        if self.incumbent is None:
            ask = "No incumbent yet: propose a sensible first config."
        else:  # its value and config with the digits the history below shows them with (it is one of its rows)
            shown = not_whole(self.objective.shown(self.incumbent[1]), metric_digits(self.history, self.objective))
            ask = (f"Incumbent (best so far, {self.objective.name} {shown}): "
                   f"{compact(self.incumbent[0], prompt_digits(self.history, avoid_all))}. "
                   "State a hypothesis and change one or two parameters of the incumbent to test it.")
        return proposal_prompt(self.search_space, self.history, avoid_all, f"{ask}\n{note}".strip(), self.directive,
                               self.objective)

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        if self.stopped:
            return []
        return super().suggest(n, pending, rng)

    def observe(self, config: Config, value: float | None) -> None:
        super().observe(config, value)
        if value is None:
            self.failures_in_row += 1
            verdict = "discard"
        else:
            self.failures_in_row = 0
            verdict = "keep" if self.incumbent is None or value < self.incumbent[1] else "discard"
            if verdict == "keep":
                self.incumbent = (dict(config), value)
        self.records.append({"kind": "autoresearch_verdict", "index": 0, "verdict": verdict,  # 0: the rec observed
                             "config": config, "objective": value})
        if self.failures_in_row >= self.max_failures and not self.stopped:
            self.stopped = True
            self.records.append({"kind": "autoresearch_stopped", "index": None,
                                 "reason": f"{self.failures_in_row} failed recs in a row"})

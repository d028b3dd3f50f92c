"""``LLMAnalyzer``: every ``interval`` results, an LLM reads the history and reports patterns and
convergence; with ``narrow_ranges`` it may also shrink numeric ranges.

A narrowed range is always inside the original box and always contains the incumbent (the best
config so far); a range the LLM gets wrong (reversed, outside, empty) is clipped or ignored.
Toggles: settings ``llm_analyzer_enabled``/``_interval``/``_narrow_ranges`` or the env variables
``AUTOML_LLM_ANALYZER_ENABLED``/``_INTERVAL``/``_NARROW_RANGES`` (:mod:`tao_automl.llm.setup`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.llm.client import LLMClient, LLMFailure
from tao_automl.llm.prompts import Objective, history_text, one_line, space_text
from tao_automl.space.search_space import Config, FloatParam, IntParam, Param, SearchSpace

SYSTEM = "You analyse hyperparameter search results. Answer with one JSON object only."


@dataclass
class Analysis:
    """What the analyzer concluded, and the space to search next."""

    patterns: str
    converged: bool
    space: SearchSpace
    narrowed: dict[str, list[float]] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"patterns": self.patterns, "converged": self.converged, "narrowed": self.narrowed}


def _numeric(space: SearchSpace) -> list[FloatParam | IntParam]:
    return [p for p in space.params if isinstance(p, (FloatParam, IntParam))]


def narrow_param(p: FloatParam | IntParam, low: Any, high: Any, incumbent: Any) -> Param:
    """``p`` with bounds moved inside its own box, widened to hold ``incumbent``; ``p`` when nonsense."""
    try:
        lo, hi = sorted((float(low), float(high)))
    except (TypeError, ValueError):
        return p
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return p
    lo, hi = max(lo, p.low), min(hi, p.high)
    if incumbent is not None:
        lo, hi = min(lo, float(incumbent)), max(hi, float(incumbent))
    if isinstance(p, IntParam):
        lo, hi = math.floor(lo), math.ceil(hi)
    if lo >= hi or (lo, hi) == (p.low, p.high):
        return p
    keep = p.default is not None and lo <= p.default <= hi
    if isinstance(p, IntParam):
        return dataclasses.replace(p, low=int(lo), high=int(hi), default=p.default if keep else None)
    return dataclasses.replace(p, low=float(lo), high=float(hi), default=p.default if keep else None)


def narrow_space(space: SearchSpace, proposed: Mapping[str, Any], incumbent: Config | None) -> SearchSpace:
    """Apply proposed ``{param: {"low", "high"}}`` ranges safely (inside the box, incumbent kept)."""
    params: list[Param] = []
    for p in space.params:
        rng = proposed.get(p.name)
        if isinstance(p, (FloatParam, IntParam)) and isinstance(rng, Mapping) and "low" in rng and "high" in rng:
            params.append(narrow_param(p, rng["low"], rng["high"], None if incumbent is None else incumbent[p.name]))
        else:
            params.append(p)
    try:
        return SearchSpace(tuple(params), space.relations)
    except SearchSpaceError:  # a narrowed box where a relation can no longer hold: keep the original
        return space


class LLMAnalyzer:
    """Periodic LLM analysis of a search history."""

    def __init__(self, client: LLMClient, space: SearchSpace, *, interval: int = 5, narrow_ranges: bool = False,
                 max_tokens: int = 200, objective: Objective | None = None) -> None:
        self.client = client
        self.objective = objective or Objective()
        self.space = space
        self.interval = max(1, int(interval))
        self.narrow_ranges = narrow_ranges
        self.max_tokens = max_tokens

    def due(self, n_results: int) -> bool:
        return n_results > 0 and n_results % self.interval == 0

    def schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {"patterns": {"type": "string", "maxLength": 200}, "converged": {"type": "boolean"}}
        if self.narrow_ranges and _numeric(self.space):
            props["ranges"] = {"type": "object", "properties": {
                p.name: {"type": "object", "properties": {"low": {"type": "number"}, "high": {"type": "number"}},
                         "required": ["low", "high"], "additionalProperties": False}
                for p in _numeric(self.space)}, "additionalProperties": False}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    def analyse(self, history: Sequence[tuple[Config, float | None]]) -> Analysis:
        """Ask once; raise :class:`LLMFailure` when the call fails or the answer is unusable."""
        ask = "Summarise patterns in one sentence and say whether the search has converged."
        if self.narrow_ranges:
            ask += " Suggest narrower low/high ranges for promising numeric parameters."
        prompt = f"Parameters:\n{space_text(self.space)}\n\n{history_text(history, self.objective)}\n\n{ask}"
        reply = self.client.ask_json(SYSTEM, prompt, self.schema(), max_tokens=self.max_tokens, temperature=0.2)
        if reply.data is None:
            raise LLMFailure(f"analysis answer is not JSON: {reply.text[:120]!r}")
        ok = [h for h in history if h[1] is not None]
        incumbent = min(ok, key=lambda h: float(h[1]))[0] if ok else None  # type: ignore[arg-type]
        space = self.space
        if self.narrow_ranges and isinstance(reply.data.get("ranges"), Mapping):
            space = narrow_space(self.space, reply.data["ranges"], incumbent)
        narrowed = {p.name: [p.low, p.high] for p in _numeric(space) if p != self.space[p.name]}
        return Analysis(patterns=one_line(reply.data.get("patterns", "")), converged=bool(reply.data.get("converged")),
                        space=space, narrowed=narrowed, usage=reply.usage)

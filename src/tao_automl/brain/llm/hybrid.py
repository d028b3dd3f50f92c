"""``hybrid``: an LLM strategist plans research phases; classical brains run them.

The plan is a :class:`ResearchProgram` (the ``research_program`` setting when it has phases,
otherwise the LLM's JSON-schema constrained plan, repaired: unknown params dropped, budgets
normalised so every phase gets >= 1 rec and the phases add up to the budget). If the strategist
fails, ``fallback`` decides as for ``llm``: ``error`` stops, ``bayesian``/``random`` run one phase of
that brain over every parameter, recorded as a ``llm_fallback``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tao_automl.brain.llm.llm_brain import stop_error
from tao_automl.brain.llm.research_program import (
    ProgramBrain,
    ResearchPhase,
    ResearchProgram,
    phase_algorithms,
    phase_reason,
)
from tao_automl.llm.client import LLMClient, LLMFailure
from tao_automl.llm.prompts import Objective, history_text, one_line, space_text
from tao_automl.space.search_space import Config, SearchSpace

SYSTEM = "You plan hyperparameter search phases. Answer with one JSON object only."
MAX_PHASES = 3


class HybridBrain:
    """LLM-planned phases, each run by a classical brain."""

    #: the journal kinds :meth:`restore_records` reads when a run is reopened
    RESTORED_KINDS = ("llm_plan", "research_phase", "llm_proposal")

    def __init__(self, space: SearchSpace, client: LLMClient, *, fallback: str = "error", budget: int = 20,
                 research_program: Any = None, analyzer: Mapping[str, Any] | None = None, seed: int = 0,
                 max_tokens: int = 480, objective: Objective | None = None) -> None:
        self.space = space
        self.objective = objective or Objective()
        self.client = client
        self.fallback = fallback
        self.budget = budget
        self.max_tokens = max_tokens
        self.given = ResearchProgram.from_value(research_program)
        if self.given is not None:
            self.given.validate(space)
        self.directive = research_program if isinstance(research_program, str) else ""
        self.records: list[dict[str, Any]] = []
        self.history: list[tuple[Config, float | None]] = []
        self.runner: ProgramBrain | None = None

    def schema(self) -> dict[str, Any]:
        phase = {"type": "object", "properties": {
            "algorithm": {"enum": phase_algorithms()},
            "params": {"type": "array", "items": {"enum": self.space.names}, "maxItems": len(self.space)},
            "fraction": {"type": "number", "minimum": 0.1, "maximum": 1},
        }, "required": ["algorithm", "params", "fraction"], "additionalProperties": False}
        return {"type": "object", "properties": {
            "phases": {"type": "array", "items": phase, "minItems": 1, "maxItems": MAX_PHASES},
            "reasoning": {"type": "string", "maxLength": 120},
        }, "required": ["phases", "reasoning"], "additionalProperties": False}

    def plan_from_answer(self, data: Mapping[str, Any] | None) -> ResearchProgram:
        """A valid program from the strategist's answer; :class:`LLMFailure` when nothing usable is left."""
        raw = (data or {}).get("phases")
        if raw is None and isinstance(data, Mapping) and "algorithm" in data:
            raw = [data]  # one phase given bare, without the "phases" list around it (small models do this)
        phases: list[ResearchPhase] = []
        for i, item in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(item, Mapping) or item.get("algorithm") not in phase_algorithms():
                continue
            params = tuple(dict.fromkeys(p for p in item.get("params") or [] if p in self.space))
            try:
                fraction = min(1.0, max(0.05, float(item.get("fraction", 1.0))))
            except (TypeError, ValueError):
                fraction = 1.0
            phases.append(ResearchPhase(name=f"phase{i + 1}", algorithm=str(item["algorithm"]), budget=fraction,
                                        params=params, carry_forward="best"))
        if not phases:
            raise LLMFailure(f"the strategist's plan has no usable phase: {str(data)[:160]!r}")
        total = sum(float(p.budget) for p in phases[:MAX_PHASES])
        phases = [ResearchPhase(p.name, p.algorithm, float(p.budget) / total, p.params, p.carry_forward)
                  for p in phases[:MAX_PHASES]]
        return ResearchProgram(tuple(phases), self.directive).validate(self.space)

    def _plan(self) -> ResearchProgram:
        if self.given is not None:
            self.records.append({"kind": "llm_plan", "index": None, "source": "research_program",
                                 "program": self.given.to_json()})
            return self.given
        prompt = (f"Parameters:\n{space_text(self.space)}\n\n{history_text(self.history, self.objective)}\n\n"
                  f"Budget: {self.budget} trials. Algorithms: {', '.join(phase_algorithms())}.\n"
                  + (f"Directive: {self.directive}\n" if self.directive else "")
                  + "Plan 1-3 phases: which algorithm, which params to search (others stay at the best so far), "
                    "and what fraction of the budget.")
        try:
            reply = self.client.ask_json(SYSTEM, prompt, self.schema(), max_tokens=self.max_tokens, temperature=0.3)
            self.records.append({"kind": "llm_call", "index": None, "purpose": "plan", **reply.usage})
            program = self.plan_from_answer(reply.data)
        except LLMFailure as exc:
            if self.fallback == "error":  # the run stops: no plan comes from a fallback, so none is counted as one
                self.records.append({"kind": "llm_failure", "index": None, "reason": str(exc)})
                raise stop_error(self.client, exc) from exc
            self.records.append({"kind": "llm_fallback", "index": None, "policy": self.fallback, "reason": str(exc)})
            print(f"[hybrid] {exc}; running one {self.fallback!r} phase instead", file=sys.stderr, flush=True)
            program = ResearchProgram((ResearchPhase("fallback", self.fallback, 1.0),))
            self.records.append({"kind": "llm_plan", "index": None, "source": f"fallback:{self.fallback}",
                                 "program": program.to_json()})
            return program
        reasoning = one_line((reply.data or {}).get("reasoning", ""))
        self.records.append({"kind": "llm_plan", "index": None, "source": "llm", "reasoning": reasoning,
                             "program": program.to_json()})
        return program

    def restore_records(self, events: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Pick a reopened run up where it was (called before its results are replayed): the plan it recorded
        (no new plan is asked for), the phase it was in, holding the values that phase recorded, and how many recs
        that phase has proposed. A run that ended before planning plans on its first proposal, as a new one."""
        plans = events.get("llm_plan") or []
        program = ResearchProgram.from_value(plans[-1]["payload"].get("program")) if plans else None
        if program is None:
            return
        self.runner = ProgramBrain(self.space, program, self.budget)
        started = [e["payload"] for e in events.get("research_phase") or []
                   if e["payload"].get("phase") in {p.name for p in program.phases}]
        if started:
            last = started[-1]
            proposed = sum(1 for e in events.get("llm_proposal") or []
                           if e["payload"].get("source") == f"phase:{last['phase']}")
            self.runner.resume_phase(str(last["phase"]), last.get("fixed") or {},
                                     str(last.get("held") or "at the best config so far"), proposed)

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        if self.runner is None:
            self.runner = ProgramBrain(self.space, self._plan(), self.budget)
            for config, value in self.history:
                self.runner.observe(config, value)
        out = self.runner.suggest(n, pending, rng)
        self.records.extend(self.runner.drain_records())  # a phase's start is journalled before its recs
        for i, phase in enumerate(self.runner.last_phases):  # each config's own phase (a batch may cross one's end)
            self.records.append({"kind": "llm_proposal", "index": i, "source": f"phase:{phase.spec.name}",
                                 "reasoning": phase_reason(phase), "repairs": [], "reasks": 0})
        return out

    def observe(self, config: Config, value: float | None) -> None:
        self.history.append((dict(config), value))
        if self.runner is not None:
            self.runner.observe(config, value)

    def drain_records(self) -> list[dict[str, Any]]:
        inner = self.runner.drain_records() if self.runner is not None else []
        records, self.records = [*self.records, *inner], []
        return records


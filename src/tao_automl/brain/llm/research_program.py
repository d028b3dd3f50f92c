"""``ResearchProgram``/``ResearchPhase``: a multi-phase search plan, validated and runnable.

A phase names a classical algorithm, the parameters it searches (empty: all) and its share of the
budget (an int count of recs, or a fraction in ``(0, 1]``). The other parameters stay fixed: at the
best config so far when ``carry_forward="best"`` (at their defaults before any success), or at
their defaults with ``carry_forward="none"``. :class:`ProgramBrain` runs the phases in order; the
last one keeps going if the run outlives the plan, so a program never yields zero recs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tao_automl.brain.base import Brain
from tao_automl.errors import SettingsError
from tao_automl.llm.validation import repair_config
from tao_automl.space.search_space import Config, SearchSpace
from tao_automl.util.suggest import did_you_mean

#: Algorithms a phase may use (classical brains; LLM brains plan phases, they are not one).
CARRY_FORWARD = ("best", "none")


def phase_algorithms() -> list[str]:
    """Algorithms a phase can run: classic (single-fidelity) brains with ``suggest``/``observe``."""
    import importlib

    from tao_automl.brain.registry import ALGORITHMS

    names = []
    for name, target in ALGORITHMS.items():
        if name in ("llm", "hybrid", "autoresearch"):
            continue
        module_name, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
        if callable(getattr(cls, "suggest", None)) and callable(getattr(cls, "observe", None)) \
                and not callable(getattr(cls, "propose", None)):
            names.append(name)
    return sorted(names)


@dataclass(frozen=True)
class ResearchPhase:
    """One step of a program."""

    name: str
    algorithm: str = "bayesian"
    budget: float = 1.0
    params: tuple[str, ...] = ()
    carry_forward: str = "best"
    directive: str = ""

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], index: int) -> ResearchPhase:
        allowed = ("name", "algorithm", "budget", "params", "carry_forward", "directive")
        for key in raw:
            if key not in allowed:
                raise SettingsError(f"research_program.phases[{index}]: unknown key {key!r}"
                                    f"{did_you_mean(str(key), allowed)}; valid keys: {', '.join(allowed)}", value=key,
                                    allowed=list(allowed))
        params = raw.get("params") or ()
        if isinstance(params, str) or not isinstance(params, Sequence):
            raise SettingsError(f"research_program.phases[{index}].params: {params!r} is not allowed; "
                                "expected a list of parameter names", value=params,
                                allowed="a list of search parameter names")
        return cls(name=str(raw.get("name", f"phase{index + 1}")), algorithm=str(raw.get("algorithm", "bayesian")),
                   budget=raw.get("budget", 1.0), params=tuple(str(p) for p in params),
                   carry_forward=str(raw.get("carry_forward", "best")), directive=str(raw.get("directive", "")))


@dataclass(frozen=True)
class ResearchProgram:
    """Ordered phases plus an optional free-text goal."""

    phases: tuple[ResearchPhase, ...]
    goal: str = ""

    @classmethod
    def from_value(cls, value: Any) -> ResearchProgram | None:
        """From the ``research_program`` setting: a dict ``{"phases": [...], "goal"}``, a list of phases,
        or free text (directives only: ``None`` here)."""
        if value is None or isinstance(value, str):
            return None
        if isinstance(value, Mapping):
            phases, goal = value.get("phases"), str(value.get("goal", ""))
            extra = [k for k in value if k not in ("phases", "goal")]
            if extra:
                raise SettingsError(f"research_program: unknown key {extra[0]!r}; valid keys: phases, goal",
                                    value=extra[0], allowed=["phases", "goal"])
        else:
            phases, goal = value, ""
        if not isinstance(phases, Sequence) or isinstance(phases, str) or not phases:
            raise SettingsError(f"research_program.phases: {phases!r} is not allowed; expected a non-empty list",
                                value=phases, allowed="a non-empty list of phase mappings")
        items = []
        for i, phase in enumerate(phases):
            if not isinstance(phase, Mapping):
                raise SettingsError(f"research_program.phases[{i}]: {phase!r} is not allowed; expected a mapping",
                                    value=phase, allowed="a mapping of name, algorithm, budget, params, ...")
            items.append(ResearchPhase.from_mapping(phase, i))
        return cls(tuple(items), goal)

    def validate(self, space: SearchSpace, algorithms: Sequence[str] | None = None) -> ResearchProgram:
        """Check algorithms, params, budgets and carry-forward; return ``self``."""
        algorithms = list(algorithms or phase_algorithms())
        for i, ph in enumerate(self.phases):
            where = f"research_program.phases[{i}]"
            if ph.algorithm not in algorithms:
                raise SettingsError(f"{where}.algorithm: {ph.algorithm!r} is not allowed"
                                    f"{did_you_mean(ph.algorithm, algorithms)}; available: {', '.join(algorithms)}",
                                    value=ph.algorithm, allowed=algorithms)
            for name in ph.params:
                if name not in space:
                    raise SettingsError(f"{where}.params: {name!r} is not a search parameter"
                                        f"{did_you_mean(name, space.names)}; available: {', '.join(space.names)}",
                                        value=name, allowed=list(space.names))
            budget = ph.budget
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0 \
                    or (isinstance(budget, float) and budget > 1):
                raise SettingsError(f"{where}.budget: {budget!r} is not allowed; expected a rec count >= 1 "
                                    "or a fraction in (0, 1]", value=budget,
                                    allowed="a rec count >= 1 or a fraction in (0, 1]")
            if ph.carry_forward not in CARRY_FORWARD:
                raise SettingsError(f"{where}.carry_forward: {ph.carry_forward!r} is not allowed; "
                                    f"expected one of {', '.join(CARRY_FORWARD)}", value=ph.carry_forward,
                                    allowed=list(CARRY_FORWARD))
        return self

    def allocate(self, total: int) -> list[int]:
        """Recs per phase: each >= 1 (while the budget lasts), summing to ``total``."""
        raw = [float(p.budget) * total if isinstance(p.budget, float) else float(p.budget) for p in self.phases]
        scale = total / sum(raw) if sum(raw) > total else 1.0
        counts = [max(1, round(r * scale)) for r in raw]
        while sum(counts) > total and max(counts) > 1:
            counts[counts.index(max(counts))] -= 1
        counts[-1] += max(0, total - sum(counts))
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"goal": self.goal, "phases": [
            {"name": p.name, "algorithm": p.algorithm, "budget": p.budget, "params": list(p.params),
             "carry_forward": p.carry_forward, "directive": p.directive} for p in self.phases]}


@dataclass
class _Phase:
    spec: ResearchPhase
    budget: int
    space: SearchSpace
    fixed: Config
    brain: Brain
    used: int = 0
    held: str = "at their defaults"  # where ``fixed`` came from (said in each config's reason)


class ProgramBrain:
    """Run a :class:`ResearchProgram`'s phases in order, each with its own classical brain."""

    def __init__(self, space: SearchSpace, program: ResearchProgram, budget: int) -> None:
        self.space = space
        self.program = program.validate(space)
        self.budgets = program.allocate(max(budget, len(program.phases)))
        self.history: list[tuple[Config, float | None]] = []
        self.records: list[dict[str, Any]] = []
        self.index = -1
        self.phase: _Phase | None = None
        #: the phase each config of the last :meth:`suggest` came from (a batch may cross a phase's end)
        self.last_phases: list[_Phase] = []

    def _defaults(self) -> Config:
        config, _ = repair_config(self.space, {p.name: p.default for p in self.space.params if p.default is not None})
        assert config is not None
        return config

    def _best(self) -> Config | None:
        ok = [h for h in self.history if h[1] is not None]
        return dict(min(ok, key=lambda h: float(h[1]))[0]) if ok else None  # type: ignore[arg-type]

    def _searched(self, spec: ResearchPhase) -> SearchSpace:
        """The space a phase searches: its params (all when it names none) and the relations among them."""
        names = list(spec.params) or self.space.names
        relations = tuple(r for r in self.space.relations if r.left in names and r.right in names)
        return SearchSpace(tuple(self.space[n] for n in names), relations)

    def _start(self, index: int) -> _Phase:
        from tao_automl.brain.registry import make_brain

        spec = self.program.phases[index]
        sub = self._searched(spec)
        names = sub.names
        best = self._best() if spec.carry_forward == "best" else None
        base = best or self._defaults()
        fixed = {k: v for k, v in base.items() if k not in names}
        phase = _Phase(spec, self.budgets[index], sub, fixed, make_brain(spec.algorithm, sub),
                       held="at the best config so far" if best else "at their defaults")
        for config, value in self.history:  # earlier results with the same fixed values are valid data
            if all(config.get(k) == v for k, v in fixed.items()):
                phase.brain.observe({n: config[n] for n in names}, value)
        self.records.append({"kind": "research_phase", "index": None, "phase": spec.name, "algorithm": spec.algorithm,
                             "params": names, "fixed": fixed, "budget": phase.budget, "held": phase.held})
        return phase

    def resume_phase(self, name: str, fixed: Mapping[str, Any], held: str, used: int) -> None:
        """Make the phase ``name`` that a reopened run had started the current one, as it started: holding the
        values it recorded, ``used`` of its recs already proposed. Its brain learns from the results replayed after
        this (those with the same held values, as the live phase did)."""
        from tao_automl.brain.registry import make_brain

        index = next(i for i, p in enumerate(self.program.phases) if p.name == name)
        spec = self.program.phases[index]
        sub = self._searched(spec)
        self.index = index
        self.phase = _Phase(spec, self.budgets[index], sub, dict(fixed), make_brain(spec.algorithm, sub), used=used,
                            held=held)

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        out: list[Config] = []
        self.last_phases = []
        while len(out) < n:
            if self.phase is None or (self.phase.used >= self.phase.budget
                                      and self.index + 1 < len(self.program.phases)):
                self.index += 1
                self.phase = self._start(self.index)
            ph = self.phase
            last = self.index + 1 == len(self.program.phases)
            k = n - len(out) if last else min(n - len(out), ph.budget - ph.used)
            names = ph.space.names
            sub_pending = [{k2: c[k2] for k2 in names} for c in [*pending, *out]
                           if all(c.get(f) == v for f, v in ph.fixed.items())]
            for sub in ph.brain.suggest(k, sub_pending, rng)[:k]:
                config = self.space.repair({n: (sub[n] if n in sub else ph.fixed[n]) for n in self.space.names})
                out.append(config)
                self.last_phases.append(ph)
            ph.used += k
        return out

    def observe(self, config: Config, value: float | None) -> None:
        self.history.append((dict(config), value))
        ph = self.phase
        if ph is not None and all(config.get(k) == v for k, v in ph.fixed.items()):
            ph.brain.observe({n: config[n] for n in ph.space.names}, value)

    def drain_records(self) -> list[dict[str, Any]]:
        records, self.records = self.records, []
        return records


def phase_reason(phase: _Phase) -> str:
    """Why a config of ``phase`` looks as it does: the phase, its brain, what it searches and what it holds."""
    fixed = ", ".join(f"{k}={v!r}" for k, v in phase.fixed.items())
    return (f"{phase.spec.name} ({phase.spec.algorithm}) searching {', '.join(phase.space.names)}"
            + (f"; the others held {phase.held}: {fixed}" if fixed else ""))[:500]

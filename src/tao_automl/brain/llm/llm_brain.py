"""``llm``: an LLM proposes each config from the space and the history; nothing it says is trusted.

Every answer is JSON-schema constrained when the server supports it (parsed otherwise), then
validated and repaired against the space (:mod:`tao_automl.llm.validation`); an unusable or
duplicate answer is re-asked (``max_reasks`` times), and a duplicate left after that is moved to an
unseen neighbour. Repairs and re-asks are counted per rec. When the LLM fails (API error after
retries, or no usable JSON), ``fallback`` decides: ``error`` stops the run, ``bayesian``/``random``
let a classical brain propose that rec. Either way a ``llm_fallback`` record is kept and a line is
printed. Records (token usage, reasoning, fallbacks) wait in :meth:`LLMBrain.drain_records` for the
experiment to persist.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tao_automl.brain.base import Brain
from tao_automl.brain.llm.analyzer import LLMAnalyzer, narrow_space
from tao_automl.llm.client import LLMClient, LLMFailure, LLMUnreachable
from tao_automl.llm.prompts import SYSTEM, Objective, compact, one_line, proposal_prompt, proposal_schema
from tao_automl.llm.validation import config_key, make_unique, repair_config
from tao_automl.space.search_space import Config, SearchSpace

log = logging.getLogger(__name__)

#: Completion tokens per proposal: the config plus a one-sentence reason.
MAX_TOKENS = 200


def stop_error(client: LLMClient, exc: LLMFailure) -> LLMFailure:
    """The error that stops a run under ``llm_fallback: error`` after ``exc``: an endpoint that could not be contacted
    is exit 3 (retry later; a timeout names ``llm_timeout_s``), any other failure exit 1."""
    text = (f"{exc}; stopping the run (automl_settings.llm_fallback is 'error'; set it to 'bayesian' or "
            "'random' to let a classical brain take over)")
    cause = exc.__cause__
    if isinstance(cause, Exception) and LLMClient.timed_out(cause):  # up, perhaps, but slower than allowed
        timeout = client.config.timeout_s
        return LLMUnreachable(
            text, field="llm_timeout_s", value=timeout,
            hint=f"raise llm_timeout_s (now {timeout:g} s) when the endpoint is slow, or check that it runs; "
                 "a new llm_timeout_s is given on resume from Python: AutoMLRunner(...).run(workspace_path="
                 f"RUN_DIR, resume=True, automl_settings={{'llm_timeout_s': {max(120, 4 * timeout):g}}})")
    if isinstance(cause, Exception) and LLMClient.unreachable(cause):
        return LLMUnreachable(text, field="llm_endpoint", value=client.config.endpoint)
    return LLMFailure(text)


class LLMBrain:
    """LLM proposals, validated and repaired, with an explicit fallback policy."""

    #: the journal kinds :meth:`restore_records` reads when a run is reopened
    RESTORED_KINDS = ("llm_analysis",)

    def __init__(self, space: SearchSpace, client: LLMClient, *, fallback: str = "error", max_reasks: int = 2,
                 analyzer: Mapping[str, Any] | None = None, budget: int | None = None,
                 research_program: Any = None, seed: int = 0, max_tokens: int = MAX_TOKENS,
                 objective: Objective | None = None) -> None:
        self.space = space
        self.objective = objective or Objective()
        self.search_space = space  # narrowed by the analyzer when that is enabled
        self.client = client
        self.fallback = fallback
        self.max_reasks = max_reasks
        self.max_tokens = max_tokens
        self.seed = seed
        self.directive = research_program if isinstance(research_program, str) else ""
        self.history: list[tuple[Config, float | None]] = []
        self.records: list[dict[str, Any]] = []
        self.counts = {"calls": 0, "repairs": 0, "reasks": 0, "fallbacks": 0}
        self._fallback_brain: Brain | None = None
        #: results already analysed (a reopened run's replayed results are not analysed again)
        self._analysed_upto = 0
        opts = dict(analyzer or {})
        self.analyzer = (LLMAnalyzer(client, space, interval=int(opts.get("interval", 5)),
                                     narrow_ranges=bool(opts.get("narrow_ranges", False)), objective=self.objective)
                         if opts.get("enabled") else None)

    # -- protocol ---------------------------------------------------------------------------------
    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        out: list[Config] = []
        for index in range(n):
            try:
                out.append(self._propose(index, [*pending, *out], rng))
            except LLMFailure as exc:
                if self.fallback == "error":
                    self._stop(index, exc)
                out.append(self._fall_back(index, str(exc), [*pending, *out], rng))
        return out

    def observe(self, config: Config, value: float | None) -> None:
        self.history.append((dict(config), value))
        if self._fallback_brain is not None:
            self._fallback_brain.observe(config, value)
        if self.analyzer is not None and self.analyzer.due(len(self.history)) \
                and len(self.history) > self._analysed_upto:
            self._analyse()

    def restore_records(self, events: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """A reopened run (called before its results are replayed): the analyses it recorded are not asked for
        again, and the ranges the last one narrowed are searched on."""
        analyses = [e["payload"] for e in events.get("llm_analysis") or []]
        if self.analyzer is None or not analyses:
            return
        # each analysis due was recorded once (an answer or an error); runs from before "results" was kept
        self._analysed_upto = max(int(a.get("results") or (i + 1) * self.analyzer.interval)
                                  for i, a in enumerate(analyses))
        done = [a for a in analyses if "error" not in a]
        if done:
            ranges = {name: {"low": bounds[0], "high": bounds[1]}
                      for name, bounds in (done[-1].get("narrowed") or {}).items()}
            self.search_space = narrow_space(self.space, ranges, None)

    def drain_records(self) -> list[dict[str, Any]]:
        records, self.records = self.records, []
        return records

    # -- proposals --------------------------------------------------------------------------------
    def prompt(self, avoid: Sequence[Config], note: str) -> str:
        return proposal_prompt(self.search_space, self.history, avoid, note, self.directive, self.objective)

    def _seen(self, pending: Sequence[Config]) -> set[tuple[str, ...]]:
        return {config_key(self.space, c) for c in [*(h[0] for h in self.history), *pending]}

    def _propose(self, index: int, pending: Sequence[Config], rng: np.random.Generator) -> Config:
        seen = self._seen(pending)
        note = ""
        reasks = 0
        last: tuple[Config, list[str], str] | None = None
        problems: list[str] = []
        answers = 0  # every answer received (the client asks again itself for one that is not JSON)
        for attempt in range(1 + self.max_reasks):
            seed = self.seed * 1000 + len(self.history) + attempt
            reply = self.client.ask_json(SYSTEM, self.prompt(list(pending), note), proposal_schema(self.search_space),
                                         max_tokens=self.max_tokens, seed=seed)
            self.counts["calls"] += 1
            answers += 1 + int(reply.usage.get("reasks") or 0)
            self.records.append({"kind": "llm_call", "index": index, "purpose": "proposal", **reply.usage})
            data = reply.data or {}
            config, repairs = repair_config(self.search_space, data.get("config"))
            reasoning = one_line(data.get("reasoning", ""))
            if config is None:
                problems.append(f"unusable answer: {reply.text[:120]!r}")
                note = "Your last answer was not a valid JSON object with a 'config'. Answer with JSON only."
            elif config_key(self.space, config) in seen:
                last = (config, repairs, reasoning)
                problems.append(f"duplicate proposal {compact(config)}")
                note = f"{compact(config)} was already tried. Propose a different config."
            else:
                return self._accept(index, config, repairs, reasoning, reasks, problems)
            if attempt < self.max_reasks:
                reasks += 1
        if last is None:
            raise LLMFailure(f"no usable proposal after {answers} answers ({'; '.join(problems[-2:])})")
        config, repairs, reasoning = last
        unique, note_ = make_unique(self.space, config, seen, rng)
        return self._accept(index, unique, [*repairs, *([note_] if note_ else [])], reasoning, reasks, problems)

    def _accept(self, index: int, config: Config, repairs: list[str], reasoning: str, reasks: int,
                problems: list[str]) -> Config:
        self.counts["repairs"] += len(repairs)
        self.counts["reasks"] += reasks
        self.records.append({"kind": "llm_proposal", "index": index, "source": "llm", "reasoning": reasoning,
                             "repairs": repairs, "reasks": reasks, "rejected": problems})
        if repairs:
            log.info("LLM proposal repaired: %s", "; ".join(repairs))
        return config

    def _stop(self, index: int, exc: LLMFailure) -> None:
        """``llm_fallback: error``: the run stops (no rec comes from a fallback, so none is counted as one)."""
        self.records.append({"kind": "llm_failure", "index": index, "reason": str(exc)})
        raise stop_error(self.client, exc) from exc

    def _fall_back(self, index: int, reason: str, pending: Sequence[Config], rng: np.random.Generator) -> Config:
        self.counts["fallbacks"] += 1
        self.records.append({"kind": "llm_fallback", "index": index, "policy": self.fallback, "reason": reason})
        print(f"[llm] {reason}; this rec comes from the {self.fallback!r} fallback brain", file=sys.stderr, flush=True)
        log.warning("LLM failed (%s); rec proposed by the %s fallback brain", reason, self.fallback)
        if self._fallback_brain is None:
            from tao_automl.brain.registry import make_brain

            self._fallback_brain = make_brain(self.fallback, self.space)
            for config, value in self.history:
                self._fallback_brain.observe(config, value)
        config = self._fallback_brain.suggest(1, pending, rng)[0]
        self.records.append({"kind": "llm_proposal", "index": index, "source": f"fallback:{self.fallback}",
                             "reasoning": one_line(f"fallback ({self.fallback}): {reason}"), "repairs": [],
                             "reasks": 0})
        return config

    # -- analysis ---------------------------------------------------------------------------------
    def _analyse(self) -> None:
        assert self.analyzer is not None
        try:
            analysis = self.analyzer.analyse(self.history)
        except LLMFailure as exc:
            self.records.append({"kind": "llm_analysis", "index": None, "error": str(exc),
                                 "results": len(self.history)})
            log.warning("LLM analysis failed: %s", exc)
            return
        self.records.append({"kind": "llm_call", "index": None, "purpose": "analysis", **analysis.usage})
        self.records.append({"kind": "llm_analysis", "index": None, **analysis.to_json(),
                             "results": len(self.history)})
        self.search_space = analysis.space

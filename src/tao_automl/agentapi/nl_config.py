"""``NLConfigGenerator``: a plain-English goal + the schema's params + the hardware -> validated settings.

The LLM fills a JSON-schema constrained form (algorithm from the registry, params from the given
list, budget and concurrency in bounds); the answer is repaired into range and then validated by
:class:`AutoMLSettings`, so what comes back is always runnable. LLM settings (endpoint, model, key)
are never taken from the LLM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tao_automl.brain.registry import ALGORITHMS
from tao_automl.errors import SettingsError
from tao_automl.llm.client import LLMClient, LLMFailure
from tao_automl.settings import AutoMLSettings
from tao_automl.space.search_space import SearchSpace

SYSTEM = "You configure hyperparameter searches. Answer with one JSON object only."
MAX_RECS = 200
MAX_CONCURRENT = 64


@dataclass
class NLConfig:
    """Generated, validated settings plus the params to search and the LLM's reason."""

    settings: dict[str, Any]
    automl_hyperparameters: list[str]
    reasoning: str = ""
    repairs: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)


def _clamp_int(value: Any, low: int, high: int, default: int) -> int:
    try:
        return min(high, max(low, int(value)))
    except (TypeError, ValueError):
        return default


def _param_names(value: Any) -> list[str]:
    """The LLM's ``automl_hyperparameters`` as a list of names: a string is one name (or several, comma-separated),
    not a sequence of characters; an item that is not a string is kept as its text (then dropped as unknown)."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, (list, tuple)):
        return [item if isinstance(item, str) else repr(item) for item in value]
    return []


class NLConfigGenerator:
    """Turn a goal sentence into ``automl_settings`` + ``automl_hyperparameters``."""

    def __init__(self, client: LLMClient, *, algorithms: Sequence[str] | None = None, max_tokens: int = 400) -> None:
        self.client = client
        self.algorithms = list(algorithms or sorted(ALGORITHMS))
        self.max_tokens = max_tokens

    def schema(self, params: Sequence[str]) -> dict[str, Any]:
        return {"type": "object", "properties": {
            "algorithm": {"enum": self.algorithms},
            "metric": {"type": "string", "maxLength": 40},
            "direction": {"enum": ["minimize", "maximize"]},
            "automl_max_recommendations": {"type": "integer", "minimum": 1, "maximum": MAX_RECS},
            "automl_max_concurrent": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENT},
            "automl_hyperparameters": {"type": "array", "items": {"enum": list(params)}},
            "reasoning": {"type": "string", "maxLength": 160},
        }, "required": ["algorithm", "metric", "direction", "automl_max_recommendations", "automl_max_concurrent",
                        "automl_hyperparameters", "reasoning"], "additionalProperties": False}

    def generate(self, goal: str, params: Sequence[str] | SearchSpace, hardware: str | Mapping[str, Any] = "",
                 metric: str | None = None) -> NLConfig:
        """Validated settings for ``goal``. :class:`LLMFailure` when the LLM gives nothing usable."""
        names = params.names if isinstance(params, SearchSpace) else list(params)
        if not goal.strip():
            raise SettingsError("NLConfigGenerator.generate: goal is empty; expected a plain-English goal",
                                field="goal", value=goal, allowed="a non-empty plain-English goal")
        if not names:
            raise SettingsError("NLConfigGenerator.generate: params is empty; expected the schema's parameter names",
                                field="params", value=[], allowed="one or more of the schema's parameter names")
        hw = ", ".join(f"{k}={v}" for k, v in hardware.items()) if isinstance(hardware, Mapping) else str(hardware)
        prompt = (f"Goal: {goal}\nHardware: {hw or 'unknown'}\nTunable parameters: {', '.join(names)}\n"
                  f"Algorithms: {', '.join(self.algorithms)}\n"
                  + (f"Metric: {metric}\n" if metric else "")
                  + "Choose the search settings and which parameters to tune.")
        reply = self.client.ask_json(SYSTEM, prompt, self.schema(names), max_tokens=self.max_tokens, temperature=0.2)
        data = reply.data
        if data is None:
            raise LLMFailure(f"settings answer is not JSON: {reply.text[:120]!r}")
        repairs: list[str] = []
        algorithm = data.get("algorithm")
        if algorithm not in self.algorithms:
            chosen = "bayesian" if "bayesian" in self.algorithms else self.algorithms[0]
            repairs.append(f"algorithm {algorithm!r} -> {chosen!r}")  # the one put in its place, said as it is
            algorithm = chosen
        chosen_metric = metric or str(data.get("metric") or "loss").strip() or "loss"
        direction = data.get("direction") if data.get("direction") in ("minimize", "maximize") else None
        settings: dict[str, Any] = {"algorithm": algorithm, "metric": chosen_metric, "direction": direction}
        for key, high, default in (("automl_max_recommendations", MAX_RECS, 20),
                                   ("automl_max_concurrent", MAX_CONCURRENT, 1)):
            answered = data.get(key)
            settings[key] = _clamp_int(answered, 1, high, default)
            if answered != settings[key] or isinstance(answered, bool):  # put in range, or the default: said so
                repairs.append(f"{key} {answered!r} -> {settings[key]!r} (allowed: an integer 1..{high})")
        asked = _param_names(data.get("automl_hyperparameters"))
        hps = [p for p in dict.fromkeys(asked) if p in names]
        dropped = [p for p in asked if p not in names]
        if dropped:
            repairs.append(f"dropped unknown params {dropped}")
        if not hps:
            repairs.append("no params chosen; using all")
            hps = list(names)
        AutoMLSettings.from_mapping(settings)  # raises SettingsError on anything invalid
        return NLConfig(settings=settings, automl_hyperparameters=hps, reasoning=str(data.get("reasoning", ""))[:500],
                        repairs=repairs, usage=reply.usage)

"""Prompt text and JSON schemas for LLM proposals, kept short (small models, small budgets)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    Config,
    FloatParam,
    IntGridParam,
    IntParam,
    Param,
    SearchSpace,
    describe,
)
from tao_automl.util.digits import distinct_digits, not_whole
from tao_automl.util.terminal import without_escapes

#: History rows shown to the model: the best few plus the most recent few.
N_BEST = 4
N_RECENT = 3
REASONING_CHARS = 160


@dataclass(frozen=True)
class Objective:
    """How a prompt shows the brain's objective (lower is better inside the brain): under the metric's own name and
    sign, so an accuracy reads ``val_accuracy=0.95`` with "higher val_accuracy is better", not its negation."""

    name: str = "objective"
    sign: float = 1.0

    def shown(self, value: float) -> float:
        return self.sign * value

    @property
    def rule(self) -> str:
        return f"{'higher' if self.sign < 0 else 'lower'} {self.name} is better"


def one_line(text: object, limit: int = 500) -> str:
    """What an LLM said, as one printable line of at most ``limit`` characters: its terminal escapes removed, line
    breaks and other control characters turned into spaces (a reason printed by ``status`` cannot forge or recolour
    the lines around it)."""
    plain = without_escapes(str(text))
    return " ".join("".join(c if c.isprintable() else " " for c in plain).split())[:limit]


def param_schema(p: Param) -> dict[str, Any]:
    """The JSON schema of one parameter's value."""
    if isinstance(p, FloatParam):
        return {"type": "number", "minimum": p.low, "maximum": p.high}
    if isinstance(p, IntParam):
        return {"type": "integer", "minimum": int(p.low), "maximum": int(p.high)}
    if isinstance(p, IntGridParam):
        return {"enum": list(p.values)}
    if isinstance(p, CategoricalParam):
        return {"enum": list(p.choices)}
    if isinstance(p, BoolParam):
        return {"type": "boolean"}
    return {}  # list-valued params: any JSON; validation and repair decide


def config_schema(space: SearchSpace) -> dict[str, Any]:
    return {"type": "object", "properties": {p.name: param_schema(p) for p in space.params},
            "required": space.names, "additionalProperties": False}


def proposal_schema(space: SearchSpace) -> dict[str, Any]:
    """``{"config": {...}, "reasoning": "..."}``: values first, then a short reason."""
    return {"type": "object", "properties": {
        "config": config_schema(space),
        "reasoning": {"type": "string", "minLength": 1, "maxLength": REASONING_CHARS},
    }, "required": ["config", "reasoning"], "additionalProperties": False}


def space_text(space: SearchSpace) -> str:
    lines = []
    for p in space.params:
        default = f", default {p.default!r}" if p.default is not None else ""
        lines.append(f"- {p.name}: {describe(p)}{default}")
    return "\n".join(lines)


#: Significant digits a prompt shows a float with, at least (more where two values shown would read alike).
DIGITS = 4


def config_digits(configs: Iterable[Config]) -> dict[str, int]:
    """Per param, the digits :func:`compact` shows its floats with so the ``configs`` that differ read apart."""
    seen: dict[str, list[Any]] = {}
    for config in configs:
        for key, value in config.items():
            seen.setdefault(key, []).append(value)
    return {key: distinct_digits(values, DIGITS) for key, values in seen.items()}


def _short(value: Any, digits: int = DIGITS) -> Any:
    return float(not_whole(value, digits)) if isinstance(value, float) and math.isfinite(value) else value


def compact(config: Mapping[str, Any], digits: Mapping[str, int] | None = None) -> str:
    """``config`` as one JSON line, each float at its param's ``digits`` (:func:`config_digits`; else
    :data:`DIGITS`), never reading as a whole number it is not."""
    return json.dumps({k: _short(v, (digits or {}).get(k, DIGITS)) for k, v in config.items()}, default=str)


def _rows(history: Sequence[tuple[Config, float | None]]) -> list[tuple[Config, float | None]]:
    ok = sorted((h for h in history if h[1] is not None), key=lambda h: float(h[1]))  # type: ignore[arg-type]
    return ok[:N_BEST] + [h for h in history[-N_RECENT:] if h not in ok[:N_BEST]]


def metric_digits(history: Sequence[tuple[Config, float | None]], objective: Objective = Objective()) -> int:
    """The digits :func:`history_text` shows the metric with: two results of its rows that differ read apart."""
    return distinct_digits((objective.shown(v) for _, v in _rows(history) if v is not None), DIGITS)


def history_text(history: Sequence[tuple[Config, float | None]], objective: Objective = Objective(),
                 digits: Mapping[str, int] | None = None) -> str:
    """Best and recent results (the brain's values: lower is better), one line each, shown as ``objective`` says:
    the metric and each param with digits enough that two results that differ read apart (``digits``: the
    params', else :func:`config_digits` of the rows shown)."""
    if not history:
        return "No results yet."
    rows = _rows(history)
    shown_digits = metric_digits(history, objective)
    digits = config_digits(c for c, _ in rows) if digits is None else digits
    lines = [f"- {objective.name}="
             f"{'failed' if v is None else not_whole(objective.shown(v), shown_digits)} {compact(c, digits)}"
             for c, v in rows]
    return f"{len(history)} results ({objective.rule}); best and recent:\n" + "\n".join(lines)


SYSTEM = ("You tune hyperparameters of a training job. Answer with one JSON object only. "
          "You may only choose values for the listed parameters.")


def prompt_digits(history: Sequence[tuple[Config, float | None]], avoid: Sequence[Config]) -> dict[str, int]:
    """:func:`config_digits` of every config a proposal prompt shows (its history rows and the last configs to
    avoid), so no two of them that differ read alike."""
    return config_digits([*(c for c, _ in _rows(history)), *avoid[-4:]])


def proposal_prompt(space: SearchSpace, history: Sequence[tuple[Config, float | None]], avoid: Sequence[Config],
                    note: str = "", directive: str = "", objective: Objective = Objective()) -> str:
    digits = prompt_digits(history, avoid)
    parts = [f"Parameters:\n{space_text(space)}", history_text(history, objective, digits)]
    if avoid:
        parts.append("Do not repeat these configs:\n" + "\n".join(f"- {compact(c, digits)}" for c in avoid[-4:]))
    if directive:
        parts.append(f"Directive: {directive}")
    if note:
        parts.append(note)
    parts.append('Propose the next config to try. Reply {"config": {...}, "reasoning": "<one sentence>"}.')
    return "\n\n".join(parts)

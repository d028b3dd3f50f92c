"""What a rendered spec still lacks: the skill's declared ``inputs`` left empty or at a template ``<placeholder>``,
other unreplaced placeholders, and how each input can be set (a dataset URI, ``base_checkpoint``, ``dataset_keys``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.render.data import EVAL_SOURCES, TRAIN_SOURCES
from tao_automl.render.paths import get_path
from tao_automl.render.roles import checkpoint_keys

#: A template placeholder such as ``<dataset_name>`` or ``<train_data_root>`` (anywhere in a string).
PLACEHOLDER = re.compile(r"<[A-Za-z_][A-Za-z0-9_.\-]*>")


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a spec as ``(key, value)``, list items as ``key[i]`` (the way skill_info.yaml writes keys)."""
    if isinstance(value, Mapping) and value:
        for key, sub in value.items():
            yield from leaves(sub, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for i, sub in enumerate(value):
            yield from leaves(sub, f"{prefix}[{i}]")
    else:
        yield prefix, value


def placeholders(spec: Mapping[str, Any]) -> dict[str, str]:
    """Spec key -> string value that still holds a template ``<placeholder>``."""
    return {key: value for key, value in leaves(spec) if isinstance(value, str) and PLACEHOLDER.search(value)}


def declared_inputs(skill: Skill) -> dict[str, bool]:
    """The action's declared ``inputs``: spec key -> optional."""
    declared = skill.action_info.get("inputs") or {}
    return {str(key): bool(isinstance(decl, Mapping) and decl.get("optional")) for key, decl in declared.items()}


@dataclass(frozen=True)
class MissingInput:
    """A declared input the rendered spec leaves unusable: a required one empty, or any one at a placeholder."""

    key: str
    value: Any
    optional: bool

    def problem(self) -> str:
        kind = "optional input" if self.optional else "required input"
        if isinstance(self.value, str) and PLACEHOLDER.search(self.value):
            return f"{kind} {self.key!r} is still the template placeholder {self.value!r}"
        return f"{kind} {self.key!r} is empty ({self.value!r})"


def is_empty(value: Any) -> bool:
    """A spec value that sets nothing: None, '', '???', an empty list or mapping."""
    return value is None or (isinstance(value, (str, list, dict)) and value in ("", "???", [], {}))


def missing_inputs(skill: Skill, spec: Mapping[str, Any]) -> list[MissingInput]:
    """Declared inputs of ``spec`` (the final rendered spec) that no job could use."""
    out: list[MissingInput] = []
    for key, optional in declared_inputs(skill).items():
        value = get_path(spec, key)
        placeholder = isinstance(value, str) and PLACEHOLDER.search(value) is not None
        if placeholder or (is_empty(value) and not optional):
            out.append(MissingInput(key, value, optional))
    return out


def how_to_set(skill: Skill, key: str) -> str | None:
    """How a run sets spec ``key`` when a run field fills it (a dataset URI a rule places there, or
    ``base_checkpoint``); None when only ``dataset_keys`` (or ``spec_overrides``) can."""
    roles = {str(k): v for k, v in skill.spec_params.items() if isinstance(v, str)}
    source = rule_source(skill, key)
    if key in checkpoint_keys(roles):
        return f"give base_checkpoint (it fills {key!r}) or set {key!r} in spec_overrides"
    if source in TRAIN_SOURCES:
        return f"give train_dataset_uri (data_sources.{skill.action} places it at {key!r})"
    if source in EVAL_SOURCES:
        return f"give eval_dataset_uri (data_sources.{skill.action} places it at {key!r})"
    return None


def rule_source(skill: Skill, key: str) -> str:
    """The source the action's ``data_sources`` rule for ``key`` reads ('' when no rule sets ``key``)."""
    rule = skill.data_sources.get(key)
    return str(rule.get("source", "")) if isinstance(rule, Mapping) else ""


def keys_example(keys: list[str]) -> str:
    """``dataset_keys: {'<key>': '/path/...', ...}`` for a message."""
    return "dataset_keys: {" + ", ".join(f"{key!r}: '/path/...'" for key in keys) + "}"

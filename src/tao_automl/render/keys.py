"""``dataset_keys`` names spec keys a job reads: each must be a declared input of the skill, a key a
``data_sources`` rule sets, or a key already in the base spec a job gets (schema defaults, template,
``spec_overrides``). Anything else would be created in the spec, where no trainer reads it (a typo, a new list item
without its siblings), so it is refused with the nearest known key.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.errors import UserInputError
from tao_automl.render.inputs import declared_inputs, leaves
from tao_automl.render.job import base_spec, resolve_overrides
from tao_automl.render.paths import has_path, set_path
from tao_automl.schema.access import get_property
from tao_automl.util.suggest import nearest


def job_base_spec(skill: Skill, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The base spec with ``spec_overrides`` set (list-indexed keys included), before datasets and rec values."""
    spec = copy.deepcopy(base_spec(skill))
    for key, value in resolve_overrides(skill, spec, overrides).items():
        try:
            set_path(spec, key, copy.deepcopy(value))
        except ValueError:
            continue  # the spec_overrides check reports it
    return spec


def check_dataset_keys(skill: Skill, overrides: Mapping[str, Any], dataset_keys: Mapping[str, str],
                       searched: Collection[str] = (), filled: Mapping[str, str] | None = None) -> None:
    """Refuse a ``dataset_keys`` key that is neither a declared input, a rule's key, nor in the job's base spec; one
    that is (part of) a ``searched`` param (the path would replace every rec's value); one the runner writes after
    the datasets (``filled``: spec key -> what it writes there, e.g. ``base_checkpoint``); and one whose schema type
    is a number or a flag (a path is text)."""
    if not dataset_keys:
        return
    spec = job_base_spec(skill, overrides)
    declared = list(declared_inputs(skill))
    known = set(declared) | {str(key) for key in skill.data_sources}
    for key, value in dataset_keys.items():
        if key in (filled or {}):
            raise UserInputError(
                f"dataset_keys.{key}: the runner sets it for every rec ({(filled or {})[key]}), so {value!r} would "
                "be overwritten; drop it from dataset_keys", field=f"dataset_keys.{key}", value=value,
                allowed="a key the runner does not fill")
        owner = searched_part(key, searched)
        if owner is not None:
            raise UserInputError(
                f"dataset_keys.{key}: the key is " + ("searched" if owner == key else f"part of {owner}, which is "
                                                      "searched") + ", so the path would replace every rec's value; "
                "dataset_keys sets dataset paths: drop it, or leave the key out of the search",
                field=f"dataset_keys.{key}", value=value, allowed="a dataset path key that is not searched")
        kind = str((get_property(skill.schema, key) or {}).get("type", "")) if "[" not in key else ""
        if kind in _NOT_TEXT:
            raise UserInputError(
                f"dataset_keys.{key}: the schema makes it {_NOT_TEXT[kind]}, not a path; dataset_keys sets dataset "
                "paths (set other values with spec_overrides)", field=f"dataset_keys.{key}", value=value,
                allowed="a key that holds a path (a declared input, or a string key of the spec)")
        if key in known or _in_spec(spec, key):
            continue
        raise _unknown_key(skill, key, value, declared, sorted(known | {k for k, _ in leaves(spec) if k}))


_NOT_TEXT = {"int": "an integer", "integer": "an integer", "float": "a number", "number": "a number",
             "bool": "a flag", "boolean": "a flag"}


def searched_part(key: str, searched: Collection[str]) -> str | None:
    """The searched param that spec key ``key`` is or lies inside (``train.optim.betas[0]`` is part of a searched
    ``train.optim.betas``: setting it would change every rec's searched value), else None."""
    parts = key.split("[", 1)[0].split(".")
    return next((name for name in (".".join(parts[:i]) for i in range(len(parts), 0, -1)) if name in searched),
                None)


def _in_spec(spec: Mapping[str, Any], key: str) -> bool:
    try:
        return has_path(spec, key)
    except ValueError:
        return False  # a malformed key is in no spec


def _unknown_key(skill: Skill, key: str, value: str, declared: list[str], candidates: list[str]) -> UserInputError:
    close = nearest(key, declared, cutoff=0.6) or nearest(key, candidates, cutoff=0.75)
    hint = f" (did you mean {close!r}?)" if close else ""
    inputs = ", ".join(declared) if declared else "none"
    return UserInputError(
        f"dataset_keys: key {key!r} is not in the spec a {skill.name} ({skill.action}) job gets and is not one of "
        f"its declared inputs{hint}, so setting it would add a key no trainer reads; allowed: a declared input "
        f"({inputs}) or a key already in the spec (schema default, template or spec_overrides); fix the key's "
        "spelling, or add a new key through spec_overrides",
        field=f"dataset_keys.{key}", value=value, allowed=declared or "a key already in the spec")


def _overlaps(key: str, other: str) -> bool:
    """Whether spec keys ``key`` and ``other`` name the same value, or one lies inside the other."""
    a, b = key.replace("[", ".["), other.replace("[", ".[")
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def check_overrides_not_placed(skill: Skill, overrides: Mapping[str, Any], placed: Mapping[str, Any],
                               dataset_keys: Mapping[str, str], rule_sources: Mapping[str, str]) -> None:
    """Refuse a ``spec_overrides`` key that a dataset placement also sets (``placed``: spec key -> value, from a
    ``data_sources`` rule under a given URI or from ``dataset_keys``): the placement is written after the overrides,
    so the override would be silently replaced. ``rule_sources``: spec key -> the run field whose URI its rule
    places (e.g. ``train_dataset_uri``)."""
    if not overrides or not placed:
        return
    for key, value in resolve_overrides(skill, base_spec(skill), overrides).items():
        hit = next((p for p in placed if _overlaps(key, str(p))), None)
        if hit is None:
            continue
        by = f"dataset_keys.{hit}" if hit in dataset_keys else (
            f"{rule_sources.get(hit, 'a dataset URI')} (data_sources.{skill.action} places it at {hit!r})")
        raise UserInputError(
            f"spec_overrides.{key}: {value!r} would be replaced by {by}, which sets the same spec key after the "
            f"overrides; give the path once: drop it from spec_overrides, or set it with dataset_keys and leave out "
            f"the URI", field=f"spec_overrides.{key}", value=value,
            allowed=f"a key no dataset placement sets (placed here: {', '.join(sorted(map(str, placed)))})")

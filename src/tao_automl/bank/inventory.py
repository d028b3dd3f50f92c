"""Which models of a bank can run AutoML, decided from the files (skill_info.yaml, schemas, search space)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tao_automl.bank.layout import models_dir
from tao_automl.bank.skill import check_info, load_schema, load_template, read_model_yaml
from tao_automl.errors import SearchSpaceError, SkillError
from tao_automl.schema.baseline import Baseline, baseline
from tao_automl.schema.bounds import split_range_notes
from tao_automl.schema.build import (
    build_search_space,
    derived_bounds,
    get_property,
    misspelt_range_key,
    param_kind,
    schema_defaults,
)
from tao_automl.space.search_space import SearchSpace, describe
from tao_automl.util.dotted import get_dotted


@dataclass(frozen=True)
class ModelStatus:
    """One model: its automl flag, and either its default AutoML params or why it is blocked."""

    name: str
    automl_enabled: bool
    params: list[dict[str, Any]] = field(default_factory=list)
    blocked: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return self.automl_enabled and self.blocked is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.name, "automl_enabled": self.automl_enabled, "runnable": self.runnable}
        if self.runnable:
            out["params"] = self.params
        if self.blocked:
            out["reason"] = self.blocked
        if self.notes:
            out["notes"] = self.notes
        return out


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _captured_warnings() -> Iterator[list[str]]:
    """Collect the search-space builder's warnings instead of printing one per model."""
    logger = logging.getLogger("tao_automl.schema.build")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def describe_space(space: SearchSpace, schema: Mapping[str, Any] | None = None, base: Baseline | None = None,
                   derived: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Name, type, range and default of each param, as the space describes them (relations are not params).

    ``default`` is the value a job gets when the param is not searched: its value in ``base`` (the template over
    the schema defaults), else the schema default; ``schema_default`` is added when that differs. A default the
    searched range leaves out (weight_decay 0.0 searched on a log scale from 1e-6) is shown with
    ``default_searched: false``, rather than as none. ``derived`` (from ``derived_bounds``) names range ends the
    tool chose because the schema has none: listed as ``derived_bounds`` (``low``/``high``), with ``range_key_typo``
    when the property has a key that looks like a misspelt one of those ends (``maximun``). ``type`` is the
    schema's for a number limited to its options (an int with ``valid_options: [8, 16, 32]`` is shown as ``int``,
    its range as ``options [8, 16, 32]``: a choice among those ints), not ``categorical``."""
    entries = {str(item["name"]): item for item in space.to_json() if "name" in item}
    defaults = schema_defaults(schema) if schema is not None else {}
    out = []
    for name in space.names:
        item = entries.get(name, {})
        entry = {"name": name, "type": _type(schema, name, item.get("type")), "range": describe(space[name]),
                 "default": item.get("default")}
        given = get_dotted(defaults, name)
        gets = base.value(name) if base is not None and base.has(name) else given
        if entry["default"] is None and gets is not None:
            entry.update(default=gets, default_searched=False)
        elif gets is not None and entry["default"] != gets:  # the space keeps a choice's schema default: a job gets
            entry["default"] = gets  # the base's value (the template's "tanh", not the schema's "relu")
            if not space[name].contains(gets):
                entry["default_searched"] = False
        if schema is not None and given != gets:
            entry["schema_default"] = given
        if derived and name in derived:
            entry["derived_bounds"] = list(derived[name])
            typo = misspelt_range_key(schema, name, derived[name])
            if typo:
                entry["range_key_typo"] = typo
        out.append(entry)
    return out


def _type(schema: Mapping[str, Any] | None, name: str, searched: Any) -> Any:
    """``int``/``float`` for a number the schema limits to its options (searched as a choice among them, which
    the space writes as ``categorical``), else the space's type."""
    prop = get_property(schema, name) if schema is not None else None
    kind = param_kind(prop) if prop is not None else None
    return kind.removesuffix("_options") if kind in ("int_options", "float_options") else searched


def model_status(path: Path, action: str = "train") -> ModelStatus:
    """Check one model folder: flag, schema present and valid, search space builds."""
    info_path = path / "references" / "skill_info.yaml"
    try:
        info = read_model_yaml(info_path) or {}
    except SkillError as exc:
        return ModelStatus(path.name, False, blocked=f"skill_info.yaml unreadable: {exc}")
    if not isinstance(info, dict):
        return ModelStatus(path.name, False, blocked="skill_info.yaml is not a mapping")
    name, enabled = str(info.get("name") or path.name), bool(info.get("automl_enabled", False))
    if not enabled:
        return ModelStatus(name, False)
    schema_path = path / "schemas" / f"{action}.schema.json"
    if not schema_path.is_file():
        return ModelStatus(name, True, blocked=f"no {action} schema (missing schemas/{action}.schema.json)")
    try:
        schema = load_schema(schema_path)
    except SkillError as exc:
        return ModelStatus(name, True, blocked=f"schema invalid: {exc}")
    with _captured_warnings():
        try:
            build_search_space(schema)
        except SearchSpaceError as exc:
            return ModelStatus(name, True, blocked=f"search space empty/invalid: {exc}")
    if action not in (info.get("actions") or {}):
        return ModelStatus(name, True, blocked=f"skill_info.yaml defines no {action!r} action")
    try:
        check_info(info, info_path, action)
    except SkillError as exc:
        return ModelStatus(name, True, blocked=f"skill_info.yaml invalid: {exc}")
    try:
        base = baseline(schema, load_template(path, info, action, schema))
    except (SkillError, ValueError) as exc:
        return ModelStatus(name, True, blocked=f"spec template invalid: {exc}")
    with _captured_warnings() as notes:  # the space a job gets: the template's values over the schema defaults
        try:
            space = build_search_space(schema, base=base)
            derived = derived_bounds(schema, space, base=base)
        except SearchSpaceError as exc:
            return ModelStatus(name, True, blocked=f"search space invalid with the spec template's values: {exc}")
    return ModelStatus(name, True, params=describe_space(space, schema, base, derived),
                       notes=[*notes, *split_range_notes(schema, space, base=base)])


def bank_models(root: Path, action: str = "train") -> list[ModelStatus]:
    """Status of every model folder (one with references/skill_info.yaml) in the bank, by folder name."""
    folder = models_dir(root)
    return [model_status(p, action) for p in sorted(folder.iterdir())
            if (p / "references" / "skill_info.yaml").is_file()]

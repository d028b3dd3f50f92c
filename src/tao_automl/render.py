"""Turning a rec into a concrete job: spec dict, spec file, command line (SPEC §4.4)."""

from __future__ import annotations

import copy
import json
import logging
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tao_automl.dotted import flatten, get_dotted, has_dotted, set_dotted, with_values
from tao_automl.errors import SkillError, UserInputError
from tao_automl.schema_space import get_property, schema_defaults
from tao_automl.skill import Skill
from tao_automl.suggest import nearest

log = logging.getLogger(__name__)

#: data_sources "source" names -> which dataset URI fills them.
_TRAIN_SOURCES = ("train_datasets", "train_dataset")
_EVAL_SOURCES = ("eval_dataset", "eval_datasets", "val_dataset")


def base_spec(skill: Skill) -> dict[str, Any]:
    """The template (when the skill ships one) over the schema's defaults."""
    spec = schema_defaults(skill.schema)
    if skill.template:
        spec = with_values(spec, dict(flatten(skill.template)))
    return spec


def check_spec_overrides(skill: Skill, spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """A near-miss override key is an error with the suggestion; a genuinely new key is a warning."""
    known = sorted({key for key, _ in flatten(spec)})
    for key in overrides:
        if get_property(skill.schema, key) is not None or has_dotted(spec, key):
            continue
        close = nearest(key, known, cutoff=0.85)
        if close is not None:
            raise UserInputError(f"spec_overrides: unknown key {key!r} (did you mean {close!r}?)")
        log.warning("spec_overrides: %r is not in %s's schema; passing it through as a new key", key, skill.name)


@dataclass(frozen=True)
class JobRequest:
    """Everything a platform needs to launch one rec."""

    spec: dict[str, Any]
    config_path: Path
    command: str
    image: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobContext:
    """Per-run inputs of every job: datasets, checkpoints, overrides, image."""

    train_dataset_uri: str | None = None
    eval_dataset_uri: str | None = None
    base_checkpoint: str = ""
    spec_overrides: Mapping[str, Any] = field(default_factory=dict)
    image: str | None = None


def _dataset_values(skill: Skill, ctx: JobContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, rule in skill.data_sources.items():
        source = (rule or {}).get("source", "")
        uri = ctx.train_dataset_uri if source in _TRAIN_SOURCES else None
        if source in _EVAL_SOURCES:
            uri = ctx.eval_dataset_uri
        if not uri:
            continue
        suffix = (rule or {}).get("path")
        values[key] = f"{uri.rstrip('/')}/{suffix}" if suffix else uri
    return values


def _checkpoint_values(skill: Skill, ctx: JobContext, results_dir: str, resume_path: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, role in skill.spec_params.items():
        if role == "output_dir":
            values[key] = results_dir
        elif role == "resume_model" and resume_path:
            values[key] = resume_path
        elif role in ("ptm_if_no_resume_model", "parent_model") and ctx.base_checkpoint and not resume_path:
            values[key] = ctx.base_checkpoint
    if "results_dir" not in values:
        values["results_dir"] = results_dir
    return values


def write_spec(spec: Mapping[str, Any], path: Path, config_format: str) -> None:
    """Write the spec atomically in the action's config format."""
    if config_format in ("yaml", "yml"):
        text = yaml.safe_dump(dict(spec), sort_keys=False)
    elif config_format == "json":
        text = json.dumps(spec, indent=2)
    elif config_format == "toml":
        text = _to_toml(spec)
    else:
        raise SkillError(f"config_format {config_format!r} is not supported; allowed: yaml, json, toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        return '""'
    return json.dumps(str(value))


def _to_toml(spec: Mapping[str, Any], prefix: str = "") -> str:
    scalars = [f"{k} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in spec.items() if isinstance(v, Mapping)]
    out = "\n".join(scalars) + ("\n" if scalars else "")
    for key, value in tables:
        out += f"\n[{prefix}{key}]\n" + _to_toml(value, f"{prefix}{key}.")
    return out


def render_job(skill: Skill, params: Mapping[str, Any], ctx: JobContext, *, rec_dir: Path,
               results_dir: str, resume_path: str | None = None) -> JobRequest:
    """Spec = base + rec values + overrides + datasets + results/resume fields; written under ``rec_dir``."""
    spec = with_values(base_spec(skill), params)
    for key, value in ctx.spec_overrides.items():
        set_dotted(spec, key, copy.deepcopy(value))
    placed = {**_dataset_values(skill, ctx), **_checkpoint_values(skill, ctx, results_dir, resume_path)}
    for key, value in placed.items():
        set_dotted(spec, key, value)
    ext = {"yaml": "yaml", "yml": "yaml", "json": "json", "toml": "toml"}.get(skill.config_format, "yaml")
    config_path = rec_dir / f"{skill.action}_spec.{ext}"
    write_spec(spec, config_path, skill.config_format)
    command = skill.command_template.replace("{config_path}", shlex.quote(str(config_path)))
    inputs = {key: spec_value for key in (skill.action_info.get("inputs") or {})
              if (spec_value := get_dotted(spec, key)) not in (None, "")}
    outputs = {"results_dir": results_dir}
    return JobRequest(spec=spec, config_path=config_path, command=command,
                      image=ctx.image or skill.container_image, inputs=inputs, outputs=outputs)


"""Turning a rec into a concrete job: spec dict, spec file, command line.

Spec = template over the schema's ``default`` + rec values + ``spec_overrides`` (``spec_shorthand_keys`` aliases
allowed) + dataset locations (:mod:`tao_automl.render.data`) + results/resume/checkpoint fields
(:mod:`tao_automl.render.roles`). It is written in the action's ``config_format`` (yaml, json, toml — TOML omits
``None`` values) and reaches the command only as a shell-quoted path.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.errors import SkillError, UserInputError
from tao_automl.render.data import (
    EVAL_SOURCES,
    TRAIN_SOURCES,
    Placement,
    place_datasets,
    source_uris,
    spec_location,
)
from tao_automl.render.inputs import is_empty, leaves
from tao_automl.render.paths import get_path, has_path, set_path
from tao_automl.render.roles import role_values
from tao_automl.render.toml_format import to_toml
from tao_automl.schema.baseline import baseline
from tao_automl.schema.build import get_property
from tao_automl.util.dotted import flatten
from tao_automl.util.private import private_dir, write_private_text
from tao_automl.util.suggest import nearest
from tao_automl.util.yaml_numbers import dump_spec_yaml

#: ``{name}`` placeholders in commands (``${VAR}`` is the shell's and left alone).
_PLACEHOLDER = re.compile(r"(?<!\$)\{([^{}]*)\}")
_EXTENSIONS = {"yaml": "yaml", "yml": "yaml", "json": "json", "toml": "toml"}


def base_spec(skill: Skill) -> dict[str, Any]:
    """The template (when the skill ships one) over the schema's defaults."""
    return dict(baseline(skill.schema, skill.template).spec)


def _is_known(skill: Skill, spec: Mapping[str, Any], key: str) -> bool:
    try:
        return has_path(spec, key) or ("[" not in key and get_property(skill.schema, key) is not None)
    except ValueError as exc:
        raise UserInputError(f"spec_overrides: {exc}; write keys as dotted names such as 'train.num_epochs'",
                             field=f"spec_overrides.{key}", value=key,
                             allowed="dotted names such as 'train.num_epochs'") from None


def resolve_overrides(skill: Skill, spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` as dotted leaf keys: ``spec_shorthand_keys`` aliases (``num_epochs``) replaced by their spec
    keys, and a mapping given for a group of settings (``train.optim: {lr: 0.1}``) flattened into its leaves
    (``train.optim.lr``), so it is checked like dotted keys and merged into the group instead of replacing it."""
    shorthand = skill.spec_shorthand_keys
    out: dict[str, Any] = {}
    given: dict[str, str] = {}  # leaf -> the override key that set it
    for key, value in overrides.items():
        target = shorthand[key] if key in shorthand and not _is_known(skill, spec, key) else key
        for leaf, leaf_value in _leaves(skill, spec, target, value):
            if leaf in out:
                raise UserInputError(f"spec_overrides: {given[leaf]!r} and {key!r} both set {leaf!r}; give it once",
                                     field=f"spec_overrides.{leaf}", value=leaf_value, allowed="each key once")
            out[leaf], given[leaf] = leaf_value, key
    return out


#: Schema types whose value is a free-form mapping (no ``properties`` to flatten into).
_MAPPING_TYPES = ("collection", "object", "dict")


def _leaves(skill: Skill, spec: Mapping[str, Any], key: str, value: Any) -> list[tuple[str, Any]]:
    """``[(key, value)]``, or, when ``value`` is a mapping for a group (a schema property with ``properties``, or
    a mapping already in the spec where the schema has none), its leaves as dotted keys. A mapping for a key the
    schema types as a single value is refused."""
    if not isinstance(value, Mapping):
        return [(key, value)]
    prop = _property(skill, key)
    if prop is not None:
        group = isinstance(prop.get("properties"), Mapping)
        if not group:
            kind = prop.get("type")
            if kind in _MAPPING_TYPES or isinstance(prop.get("default"), Mapping):
                return [(key, value)]  # a free-form mapping: the value is the whole mapping
            allowed = f"a single {kind} value" if kind else "a single value"
            raise UserInputError(
                f"spec_overrides.{key}: a mapping is not allowed; {key!r} holds {allowed}, not a group of settings",
                field=f"spec_overrides.{key}", value=dict(value), allowed=allowed)
    else:
        held = _spec_value(spec, key)
        if not (isinstance(held, Mapping) and held):
            return [(key, value)]  # a new key, or one the spec holds no group at: passed through whole
    if not value:
        raise UserInputError(f"spec_overrides.{key}: an empty mapping sets nothing; give the keys to set, as "
                             f"'{key}.<name>: value' or '{key}: {{<name>: value}}'",
                             field=f"spec_overrides.{key}", value={}, allowed="a mapping of the keys to set")
    out: list[tuple[str, Any]] = []
    for sub, sub_value in value.items():
        if not isinstance(sub, str) or not sub:
            raise UserInputError(f"spec_overrides.{key}: key {sub!r} is not allowed; expected a non-empty string",
                                 field=f"spec_overrides.{key}", value=sub, allowed="non-empty string keys")
        out += _leaves(skill, spec, f"{key}.{sub}", sub_value)
    return out


def _property(skill: Skill, key: str) -> Mapping[str, Any] | None:
    return None if "[" in key else get_property(skill.schema, key)


def _spec_value(spec: Mapping[str, Any], key: str) -> Any:
    try:
        return get_path(spec, key)
    except ValueError:
        raise UserInputError(f"spec_overrides: malformed spec key {key!r}; write keys as dotted names such as "
                             "'train.num_epochs'", field=f"spec_overrides.{key}", value=key,
                             allowed="dotted names such as 'train.num_epochs'") from None


def new_override_keys(skill: Skill, spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> list[str]:
    """The override keys (dotted leaves) that are neither in ``spec`` nor in the schema: passed through as new keys."""
    return [key for key in resolve_overrides(skill, spec, overrides) if not _is_known(skill, spec, key)]


def template_value_in_the_way(skill: Skill, overrides: Mapping[str, Any]) -> UserInputError | None:
    """An error naming the spec template file and key when an override key (resolved) lies under a key the template
    gives a value, null included (``extra:`` with nothing, then ``extra.foo: 1``): it cannot be placed, and "'extra'
    holds None" named neither the file nor where to fix it. None when no override is so placed."""
    from tao_automl.bank.skill import template_path

    given = dict(flatten(skill.template or {}))
    for key, value in resolve_overrides(skill, base_spec(skill), overrides).items():
        parts = key.split(".")
        holder = next((".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in given
                       and not isinstance(given[".".join(parts[:i])], Mapping)), None)
        if holder is None:
            continue
        found = template_path(skill.path, skill.info, skill.action)
        where = str(found) if found is not None else f"the {skill.action} spec template"
        held = given[holder]
        what = "is empty (null)" if held is None else f"holds the value {held!r}"
        name = holder.rsplit(".", 1)[-1]
        return UserInputError(
            f"spec_overrides: cannot set {key!r}: {where}: {holder}: {what}, not a mapping of settings; allowed: a "
            f"mapping at {holder} in the template (`{name}: {{}}`), or an override of {holder!r} itself",
            field=f"spec_overrides.{key}", value=value,
            allowed=f"a key under a mapping ({holder} {what} in {found.name if found else 'the template'})",
            hint=f"fix {found.name if found else 'the spec template'}: write `{name}: {{}}` (or its settings) "
                 f"there, or override {holder!r} instead")
    return None


def check_not_a_typo(source: str, key: str, value: Any, known: Sequence[str]) -> None:
    """A ``source`` key (``spec_overrides``, ``train_specs``) that none of ``known`` is but one is near is taken for a
    typo: the error with the suggestion. A key unlike them all passes (the caller warns of a new key)."""
    close = nearest(key, known, cutoff=0.85)
    if close is not None:
        raise UserInputError(f"{source}: unknown key {key!r} (did you mean {close!r}?)", field=f"{source}.{key}",
                             value=value, allowed=f"{close!r}, or a new key unlike the schema's (one this near "
                                                  f"{close!r} is taken for a typo)")


def check_spec_overrides(skill: Skill, spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """A near-miss override key is an error with the suggestion; a genuinely new key is passed through, not logged
    here: preflight's ``spec_overrides`` check names it (:func:`new_override_keys`), once, in its report, on the
    run's stderr and in the dry run's notes."""
    known = sorted({key for key, _ in flatten(spec)} | set(skill.spec_shorthand_keys))
    for key, value in resolve_overrides(skill, spec, overrides).items():
        if not _is_known(skill, spec, key):
            check_not_a_typo("spec_overrides", key, value, known)
        try:
            set_path(copy.deepcopy(dict(spec)), key, value)
        except ValueError as exc:
            in_the_way = template_value_in_the_way(skill, {key: value})
            if in_the_way is not None:
                raise in_the_way from None
            raise UserInputError(f"spec_overrides: {exc}", field=f"spec_overrides.{key}", value=value,
                                 allowed="a dotted key whose [index] parts name items of lists in the spec") from None


@dataclass(frozen=True)
class JobRequest:
    """Everything a platform needs to launch one rec.

    ``archives``: spec key -> archive URI for data the skill marks ``runtime: extracted_folder`` (the spec holds
    the folder the archive unpacks to).
    """

    spec: dict[str, Any]
    config_path: Path
    command: str
    image: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    archives: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobContext:
    """Per-run inputs of every job: datasets, checkpoints, overrides, image.

    ``dataset_keys``: exact spec key -> location, set verbatim, winning over the skill's data_sources rules.
    ``extra_dataset_uris``: URIs for other data_sources names (``calibration_dataset``, ``inference_dataset``...).
    ``encryption_key``: fills spec keys whose spec_params role is ``key`` (left at their default otherwise).
    """

    train_dataset_uri: str | None = None
    eval_dataset_uri: str | None = None
    base_checkpoint: str = ""
    spec_overrides: Mapping[str, Any] = field(default_factory=dict)
    image: str | None = None
    dataset_keys: Mapping[str, str] = field(default_factory=dict)
    extra_dataset_uris: Mapping[str, str] = field(default_factory=dict)
    encryption_key: str | None = None


def spec_file_name(skill: Skill) -> str:
    """The name of a rec's spec file in its folder: ``<action>_spec.<ext>``."""
    return f"{skill.action}_spec.{_EXTENSIONS.get(skill.config_format, 'yaml')}"


def scratch_path(spec_path: Path) -> Path:
    """The scratch file :func:`write_spec` writes before renaming it onto ``spec_path`` (readers never see half a
    spec; an existing one is reused, see :mod:`tao_automl.runner.folders_ahead`)."""
    return spec_path.with_suffix(spec_path.suffix + ".tmp")


def spec_text(spec: Mapping[str, Any], config_format: str, name: str) -> str:
    """The spec file's text in the action's config format (``name``: the file, for an error)."""
    if config_format in ("yaml", "yml"):
        return dump_spec_yaml(dict(spec))  # a text a TAO (YAML 1.2) loader reads as a number is quoted
    if config_format == "json":
        return json.dumps(spec, indent=2)
    if config_format == "toml":
        try:
            return to_toml(spec)
        except ValueError as exc:
            raise UserInputError(f"spec for {name}: {exc}", field="config_format", value="toml",
                                 allowed="yaml or json for a spec with a null in a list (TOML has no null)") from None
    raise SkillError(f"config_format {config_format!r} is not supported; allowed: yaml, json, toml",
                     field="config_format", value=config_format, allowed=["yaml", "json", "toml"])


def write_spec(spec: Mapping[str, Any], path: Path, config_format: str) -> None:
    """Write the spec atomically in the action's config format."""
    text = spec_text(spec, config_format, path.name)
    private_dir(path.parent)
    tmp = scratch_path(path)
    write_private_text(tmp, text)  # specs may name data paths and tokens a job needs: user-only
    os.replace(tmp, path)


def format_command(skill: Skill, values: Mapping[str, str]) -> str:
    """The action's command with each ``{name}`` replaced by its shell-quoted value (``{skill_dir}``: the model
    folder, for a script kept there); an unknown name is an error."""
    template = skill.command_template
    values = {**values, "skill_dir": str(skill.path)}

    out: list[str] = []
    at = 0
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in values:
            raise SkillError(f"{skill.name}: actions.{skill.action}.command uses placeholder {{{name}}}, which "
                             f"tao-automl cannot fill; supported: {', '.join('{' + v + '}' for v in values)}",
                             field=f"actions.{skill.action}.command", value=f"{{{name}}}",
                             allowed=["{" + v + "}" for v in values])
        out.append(template[at:match.start()])
        out.append(_quoted_for(_quote_state(template, match.start()), values[name]))
        at = match.end()
    out.append(template[at:])
    return "".join(out)


def _quote_state(text: str, end: int) -> str | None:
    """The shell quote open at ``text[end]`` (``'`` or ``"``), None outside quotes."""
    state: str | None = None
    escaped = False
    for ch in text[:end]:
        if escaped:
            escaped = False
        elif ch == "\\" and state != "'":
            escaped = True
        elif state is None and ch in "'\"":
            state = ch
        elif ch == state:
            state = None
    return state


def _quoted_for(state: str | None, value: str) -> str:
    """``value`` as one word where it lands: shell-quoted outside quotes; inside ``"..."`` with ``"``, ``\\``, ``$``
    and backquote escaped; inside ``'...'`` with each ``'`` closed, escaped and reopened (a user who quoted the
    placeholder, ``"{skill_dir}/train.py"``, got it quoted twice)."""
    if state == '"':
        return re.sub(r'(["\\$`])', r"\\\1", value)
    if state == "'":
        return value.replace("'", "'\\''")
    return shlex.quote(value)


def check_command_takes_spec(skill: Skill, searched: Sequence[str]) -> None:
    """A command without ``{config_path}`` never gets the spec file, so no searched value reaches the job: every rec
    would train the same config while the run records different params. Refused when anything is searched."""
    if searched and "{config_path}" not in skill.command_template:
        field = f"actions.{skill.action}.command"
        raise SkillError(
            f"{skill.name}: {field} {skill.command_template!r} has no {{config_path}}, so the searched values "
            f"({', '.join(searched[:3])}{', ...' if len(searched) > 3 else ''}) would never reach the job: every rec "
            "would train the same config", field=field, value=skill.command_template,
            allowed="a command that passes {config_path} (the rec's spec file) to the program",
            hint="add the spec file to the command, e.g. `python3 {skill_dir}/train.py --config {config_path}`; a "
                 "program that takes flags needs a small wrapper that reads the spec and passes them")


def _set(spec: dict[str, Any], key: str, value: Any, what: str) -> None:
    try:
        set_path(spec, key, copy.deepcopy(value))
    except ValueError as exc:
        raise UserInputError(f"{what}: {exc}", field=f"{what}.{key}" if what == "spec_overrides" else what, value=value,
                             allowed="a dotted key whose [index] parts name items of lists in the spec") from None


def place(skill: Skill, ctx: JobContext) -> Placement:
    """Where the context's dataset URIs and ``dataset_keys`` go in the spec; ``unplaced`` names each given URI no
    ``data_sources`` rule takes (preflight refuses them)."""
    uris = source_uris(ctx.train_dataset_uri, ctx.eval_dataset_uri, ctx.extra_dataset_uris)
    given = {"train_dataset_uri": (ctx.train_dataset_uri, TRAIN_SOURCES),
             "eval_dataset_uri": (ctx.eval_dataset_uri, EVAL_SOURCES),
             **{f"extra_dataset_uris[{k!r}]": (v, (str(k),)) for k, v in ctx.extra_dataset_uris.items()}}
    return place_datasets(skill.data_sources, uris, ctx.dataset_keys, given)


def _declared_values(spec: Mapping[str, Any], declared: Any, skip: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in declared or {}:
        if key == skip:
            continue
        try:
            value = get_path(spec, str(key))
        except ValueError:
            continue
        if not is_empty(value):
            out[str(key)] = value
    return out


def render_job(skill: Skill, params: Mapping[str, Any], ctx: JobContext, *, rec_dir: Path,
               results_dir: str, resume_path: str | None = None, write: bool = True) -> JobRequest:
    """Spec = base + rec values + overrides + datasets + results/resume fields; written under ``rec_dir`` (with
    ``write=False`` only turned into its file's text, so a check touches no disk and leaves nothing behind)."""
    spec = base_spec(skill)
    for key, value in params.items():
        _set(spec, key, value, "rec value")
    for key, value in resolve_overrides(skill, spec, ctx.spec_overrides).items():
        _set(spec, key, value, "spec_overrides")
    placement = place(skill, ctx)
    for key, value in placement.values.items():
        _set(spec, key, value, f"dataset location {key!r}")
    roles = role_values(skill.spec_params, skill.action_info.get("outputs") or {}, results_dir=results_dir,
                        resume_path=resume_path, base_checkpoint=spec_location(ctx.base_checkpoint),
                        encryption_key=ctx.encryption_key)
    for key, value in roles.items():
        _set(spec, key, value, f"spec_params key {key!r}")
    config_path = rec_dir / spec_file_name(skill)
    if write:
        write_spec(spec, config_path, skill.config_format)
    else:
        spec_text(spec, skill.config_format, config_path.name)
    command = format_command(skill, {"config_path": str(config_path), "results_dir": results_dir})
    inputs = _declared_values(spec, skill.action_info.get("inputs"))
    for key, value in _declared_values(spec, placement.values).items():
        if not all(leaf in inputs for leaf, _ in leaves(value, key)):  # unless each of its leaves is listed already
            inputs[key] = value
    outputs = {"results_dir": results_dir, **_declared_values(spec, skill.action_info.get("outputs"), "results_dir")}
    return JobRequest(spec=spec, config_path=config_path, command=command, image=ctx.image or skill.container_image,
                      inputs=inputs, outputs=outputs, archives=dict(placement.archives))

"""The YAML file behind ``tao-automl run CONFIG``: ``run()``'s arguments plus platform and skill_dir."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from tao_automl.errors import ConfigError, UserInputError
from tao_automl.runner.run_args import RunArgs, checked_fields
from tao_automl.util.builtin import BUILTIN_PREFIX
from tao_automl.util.suggest import did_you_mean
from tao_automl.util.yaml_numbers import refuse_duplicate_keys

#: The CLI's run config is the run's arguments (one type, see :mod:`tao_automl.runner.run_args`).
RunConfig = RunArgs


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one silently)."""


refuse_duplicate_keys(_UniqueKeyLoader)


def _no_base_60(kind: str) -> Any:
    """YAML 1.1 (PyYAML) reads ``1:30:00`` as the base-60 number 5400, so a Slurm ``time_limit: 1:30:00`` became
    5400 minutes; YAML 1.2 dropped base 60: such a value is kept as the text it is (a Slurm time, or a number's
    field refusing it by name)."""
    construct = getattr(yaml.constructor.SafeConstructor, f"construct_yaml_{kind}")

    def build(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        text = loader.construct_scalar(node)
        return str(text) if ":" in str(text) else construct(loader, node)
    return build


for _kind in ("int", "float"):
    _UniqueKeyLoader.add_constructor(f"tag:yaml.org,2002:{_kind}", _no_base_60(_kind))


def resolve_skill_dir(value: str, base: Path) -> str:
    """``builtin:<name>`` names a model of the bank shipped in the package; other paths are file-relative."""
    if value.startswith(BUILTIN_PREFIX):
        from tao_automl.bank import builtin_skill_dir

        return str(builtin_skill_dir(value[len(BUILTIN_PREFIX):]))
    return str((base / Path(value).expanduser()).resolve())


def load_run_config(path: str | Path) -> RunConfig:
    """Read and check a run config; every problem is a one-line :class:`UserInputError`."""
    config_path = Path(path)
    if config_path.is_dir():
        raise ConfigError(f"config file {str(config_path)!r} is a folder, not a run config file", field="config",
                          value=str(config_path), allowed="a run config YAML file",
                          hint="pass the path of a run config YAML file (an example: section 2 of `tao-automl skill "
                               "--text`); a run folder is continued with `tao-automl resume RUN_DIR`")
    if not config_path.is_file():
        raise ConfigError(f"config file {str(config_path)!r} does not exist", field="config", value=str(config_path),
                          allowed="the path of an existing run config YAML file",
                          hint="pass the path of a run config YAML (an example: section 2 of "
                               "`tao-automl skill --text`)")
    try:
        raw = yaml.load(config_path.read_text(), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}", field="config", value=str(config_path),
                          allowed="a YAML mapping, each key once", hint="fix the YAML at the position shown") from None
    except (UnicodeDecodeError, OSError) as exc:  # a binary or non-UTF-8 file, or one we may not read
        raise ConfigError(f"{config_path}: cannot be read as UTF-8 text: {exc}", field="config",
                          value=str(config_path), allowed="a UTF-8 YAML file",
                          hint="pass the run config YAML (an example: section 2 of `tao-automl skill --text`)"
                          ) from None
    return config_from_mapping(raw, config_path.resolve().parent, str(config_path))


def config_from_mapping(raw: Any, base: Path, label: str = "config") -> RunConfig:
    """Check a run config given as data (a parsed YAML file, or an MCP tool's argument); paths relative to ``base``.

    ``label`` prefixes the messages (the file name, or ``config``).
    """
    config_path = label
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config_path}: expected a mapping of run() arguments at the top level", field="config",
                          value=type(raw).__name__, allowed="a YAML mapping")
    raw = _lift_run_mode_keys(raw, config_path)
    names = [f.name for f in fields(RunConfig)]
    for key in raw:
        if key not in names and key in _job_kwarg_names(raw.get("platform")):  # run(gpu_count=0) written as in run()
            raise ConfigError(f"{config_path}: unknown key {key!r}: a job's platform argument goes under "
                              f"platform_kwargs (run() takes it as a keyword, a config as platform_kwargs.{key})",
                              field=str(key), value=key, allowed=names,
                              hint=f"move it: platform_kwargs: {{{key}: {json.dumps(raw[key], default=str)}}}"
                                   if not isinstance(raw[key], (Mapping, list)) else
                                   f"move it under platform_kwargs: platform_kwargs: {{{key}: ...}}")
        if key not in names:
            raise ConfigError(f"{config_path}: unknown key {key!r}{did_you_mean(str(key), names)}; "
                              f"valid keys: {', '.join(names)}", field=str(key), value=key, allowed=names,
                              hint=f"remove or rename {key!r}{did_you_mean(str(key), names)}".rstrip())
    for required in ("skill_dir", "workspace_path"):
        if not raw.get(required):
            raise ConfigError(f"{config_path}: {required!r} is required", field=required, value=raw.get(required),
                              allowed=f"a {required} value (a path)", hint=f"add {required}: to the config")
    try:
        data = checked_fields(raw)
    except UserInputError as exc:
        raise ConfigError(f"{config_path}: {exc.detail}", field=exc.field, value=exc.value, allowed=exc.allowed,
                          hint=exc.hint) from None
    data["skill_dir"] = resolve_skill_dir(data["skill_dir"], base)
    return RunConfig(**data).resolved(base)


def _job_kwarg_names(platform: Any) -> set[str]:
    """The per-job arguments ``platform``'s ``create_job`` takes (``run()``'s keyword platform arguments), for the
    error that says they go under ``platform_kwargs``; every platform takes ``gpu_count`` and ``num_nodes``."""
    from tao_automl.platforms.registry import sdk_class
    from tao_automl.runner.job_kwargs import accepted_job_kwargs

    cls = sdk_class(platform if isinstance(platform, str) else "local")
    has_jobs = cls is not None and callable(getattr(cls, "create_job", None))
    return {"gpu_count", "num_nodes", *(accepted_job_kwargs(cls) if has_jobs else ())}


#: Settings about how the run is driven that the config may also give at its top level (intake style).
TOP_LEVEL_SETTINGS = ("long_running_enabled", "status_interval_minutes")


def _lift_run_mode_keys(raw: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Move top-level ``long_running_enabled``/``status_interval_minutes`` into ``automl_settings``."""
    data = dict(raw)
    settings = data.get("automl_settings")
    if not any(key in data for key in TOP_LEVEL_SETTINGS) or not isinstance(settings, (Mapping, type(None))):
        return data
    merged = dict(settings or {})
    for key in TOP_LEVEL_SETTINGS:
        if key in data:
            value = data.pop(key)
            if key in merged and merged[key] != value:
                raise ConfigError(f"{label}: {key} is given twice ({value!r} at the top level, {merged[key]!r} in "
                                  "automl_settings)", field=key, value=value, allowed=[merged[key]],
                                  hint=f"keep one of the two {key} entries")
            merged[key] = value
    data["automl_settings"] = merged
    return data

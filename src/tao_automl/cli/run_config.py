"""The YAML file behind ``tao-automl run CONFIG``: ``run()``'s arguments plus platform and skill_dir."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from tao_automl.errors import ConfigError
from tao_automl.util.suggest import did_you_mean

BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class RunConfig:
    """A validated run config. Relative paths are relative to the config file."""

    skill_dir: str
    workspace_path: str
    platform: str = "local"
    platform_options: dict[str, Any] = field(default_factory=dict)
    action: str = "train"
    train_dataset_uri: str | None = None
    eval_dataset_uri: str | None = None
    base_checkpoint: str = ""
    image: str | None = None
    dataset_keys: dict[str, str] = field(default_factory=dict)
    automl_settings: dict[str, Any] = field(default_factory=dict)
    automl_hyperparameters: list[str] | None = None
    custom_param_ranges: dict[str, Any] = field(default_factory=dict)
    spec_overrides: dict[str, Any] = field(default_factory=dict)
    platform_kwargs: dict[str, Any] = field(default_factory=dict)

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AutoMLRunner.run``."""
        return {
            "train_dataset_uri": self.train_dataset_uri, "eval_dataset_uri": self.eval_dataset_uri,
            "base_checkpoint": self.base_checkpoint, "image": self.image, "dataset_keys": self.dataset_keys,
            "automl_settings": self.automl_settings, "automl_hyperparameters": self.automl_hyperparameters,
            "custom_param_ranges": self.custom_param_ranges, "spec_overrides": self.spec_overrides,
            "workspace_path": self.workspace_path, **self.platform_kwargs,
        }


def resolve_skill_dir(value: str, base: Path) -> str:
    """``builtin:<name>`` names a model of the bank shipped in the package; other paths are file-relative."""
    if value.startswith(BUILTIN_PREFIX):
        from tao_automl.bank import builtin_skill_dir

        return str(builtin_skill_dir(value[len(BUILTIN_PREFIX):]))
    return str((base / Path(value).expanduser()).resolve())


def load_run_config(path: str | Path) -> RunConfig:
    """Read and check a run config; every problem is a one-line :class:`UserInputError`."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"config file {str(config_path)!r} does not exist", field="config", value=str(config_path),
                          hint="pass the path of a run config YAML (see examples/demo_local.yaml)")
    try:
        raw = yaml.safe_load(config_path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}", field="config", value=str(config_path),
                          hint="fix the YAML syntax at the position shown") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config_path}: expected a mapping of run() arguments at the top level", field="config",
                          value=type(raw).__name__, allowed="a YAML mapping")
    names = [f.name for f in fields(RunConfig)]
    for key in raw:
        if key not in names:
            raise ConfigError(f"{config_path}: unknown key {key!r}{did_you_mean(str(key), names)}; "
                              f"valid keys: {', '.join(names)}", field=str(key), value=key, allowed=names,
                              hint=f"remove or rename {key!r}{did_you_mean(str(key), names)}".rstrip())
    for required in ("skill_dir", "workspace_path"):
        if not raw.get(required):
            raise ConfigError(f"{config_path}: {required!r} is required", field=required, value=raw.get(required),
                              hint=f"add {required}: to the config")
    for key in ("dataset_keys", "platform_options", "automl_settings", "custom_param_ranges", "spec_overrides",
                "platform_kwargs"):
        if raw.get(key) is not None and not isinstance(raw[key], Mapping):
            raise ConfigError(f"{config_path}: {key!r} must be a mapping, got {type(raw[key]).__name__}",
                              field=key, value=raw[key], allowed="a mapping")
    base = config_path.resolve().parent
    data = {k: v for k, v in raw.items() if v is not None or k == "automl_hyperparameters"}
    data["skill_dir"] = resolve_skill_dir(str(raw["skill_dir"]), base)
    data["workspace_path"] = str((base / Path(str(raw["workspace_path"])).expanduser()).resolve())
    return RunConfig(**data)

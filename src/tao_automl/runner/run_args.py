"""The arguments of one run — ``run()``'s keywords or the CLI's YAML file, one type for both — persisted with the
run so ``resume`` needs nothing but the folder.

Every local path is made absolute once, here (:meth:`RunArgs.resolved`): jobs run in their own folders, so a
path relative to the caller's working directory would name another file there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from tao_automl.errors import WorkspaceError
from tao_automl.tracking.config import absolute_locations
from tao_automl.util.builtin import BUILTIN_PREFIX
from tao_automl.util.checks import bad_input
from tao_automl.util.secrets import unredacted

#: Fields that may differ on resume (more budget/parallelism is handled by the settings check).
_RESUME_FREE = frozenset({"automl_settings", "platform_kwargs"})
#: Fields that say where the run is, not what it does: never compared on resume.
_WHERE = frozenset({"workspace_path", "platform", "platform_options"})


def absolute_path(value: str, base: Path) -> str:
    """``value`` made absolute against ``base`` when it is a local path (not a URI, not ``builtin:``)."""
    if not value or value.startswith(BUILTIN_PREFIX):
        return value
    parsed = urlparse(value)
    if parsed.scheme and len(parsed.scheme) > 1:  # s3://, gs://, file:// ... (one letter = a Windows drive)
        return value
    return str((base / Path(value).expanduser()).resolve())


@dataclass(frozen=True)
class RunArgs:
    """What a run was asked to do: the skill, its inputs, the search and the platform.

    ``workspace_path``, ``platform`` and ``platform_options`` say where it runs (the CLI's YAML file names them;
    from Python the SDK object and ``workspace_path`` are given to ``run()``).
    """

    skill_dir: str
    workspace_path: str = ""
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
    wandb_config: dict[str, Any] | None = None  # the CLI's carriers of run()'s tracker configs (kept in meta)
    mlflow_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.automl_hyperparameters is not None:
            object.__setattr__(self, "automl_hyperparameters", list(self.automl_hyperparameters))

    def resolved(self, base: str | Path | None = None) -> RunArgs:
        """Every local path absolute against ``base`` (default: the current directory)."""
        root = Path(base) if base is not None else Path.cwd()
        return replace(
            self,
            skill_dir=absolute_path(self.skill_dir, root),
            workspace_path=absolute_path(self.workspace_path, root) if self.workspace_path else "",
            train_dataset_uri=absolute_path(self.train_dataset_uri, root) if self.train_dataset_uri else
            self.train_dataset_uri,
            eval_dataset_uri=absolute_path(self.eval_dataset_uri, root) if self.eval_dataset_uri else
            self.eval_dataset_uri,
            base_checkpoint=absolute_path(self.base_checkpoint, root),
            dataset_keys={k: absolute_path(v, root) for k, v in self.dataset_keys.items()},
            platform_options=self._paths_on_this_machine(root),
            wandb_config=absolute_locations(self.wandb_config, root) if self.wandb_config else self.wandb_config,
            mlflow_config=absolute_locations(self.mlflow_config, root) if self.mlflow_config else self.mlflow_config,
        )

    def _paths_on_this_machine(self, root: Path) -> dict[str, Any]:
        """The paths of ``platform_options`` that are on this machine made absolute against ``root``: every SDK's
        ``state_dir``/``state_file`` (its records, kept by the orchestrator) and the local platform's ``jobs_dir``
        (other paths, such as a Slurm ``jobs_dir`` on the cluster, are the platform's); a blank or non-text value is
        left for the SDK to refuse."""
        here = ("state_dir", "state_file", "jobs_dir") if self.platform == "local" else ("state_dir", "state_file")
        return {k: absolute_path(v, root) if k in here and isinstance(v, str) and v.strip() else v
                for k, v in self.platform_options.items()}

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AutoMLRunner.run``."""
        return {
            "train_dataset_uri": self.train_dataset_uri, "eval_dataset_uri": self.eval_dataset_uri,
            "base_checkpoint": self.base_checkpoint or None,  # "": none given (run() refuses an empty one)
            "image": self.image, "dataset_keys": self.dataset_keys,
            "automl_settings": self.automl_settings, "automl_hyperparameters": self.automl_hyperparameters,
            "custom_param_ranges": self.custom_param_ranges, "spec_overrides": self.spec_overrides,
            "workspace_path": self.workspace_path, "wandb_config": self.wandb_config,
            "mlflow_config": self.mlflow_config, **self.platform_kwargs,
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        settings = dict(data["automl_settings"])
        if settings.get("llm_api_key"):
            settings.pop("llm_api_key")  # secrets are never written to the run folder
        data["automl_settings"] = settings
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunArgs:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def merged_with(self, given: RunArgs) -> RunArgs:
        """Stored args, with what the resuming caller gave; a changed input is an error listing the diff."""
        merged = asdict(self)
        changes: list[tuple[str, Any, Any]] = []
        for f in fields(self):
            new = getattr(given, f.name)
            if f.name in _RESUME_FREE:  # secrets were redacted when stored: given again, or left to the default
                merged[f.name] = unredacted(merged[f.name], new or {})
                continue
            if f.name in _WHERE or new in (None, "", {}, []):
                continue
            elif new != merged[f.name]:
                changes.append((f.name, merged[f.name], new))
        if changes:
            name, stored, new = changes[0]
            raise WorkspaceError(
                "cannot resume with different inputs: " + "; ".join(f"{n}: {old!r} -> {v!r}" for n, old, v in changes),
                field=name, value=new, allowed=[stored],
                hint="resume with the inputs the run was made with (or leave them out: a resume takes the stored "
                     "ones), or start a new run with the new ones")
        return RunArgs(**merged)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise bad_input(name, value, "a string")
    return value


def plain(name: str, value: Any) -> Any:
    """``value`` as JSON data (numpy scalars become Python numbers, tuples lists); anything that cannot be stored
    in the run folder is refused, naming where it is."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, np.generic) and isinstance(value.item(), (bool, int, float, str)):
        return value.item()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise bad_input(f"{name} key", key, "string keys (the value is stored as JSON)")
            out[key] = plain(f"{name}.{key}", item)
        return out
    if isinstance(value, (list, tuple)):
        return [plain(f"{name}[{i}]", item) for i, item in enumerate(value)]
    raise bad_input(name, value, "JSON data: a string, number, bool, null, list or mapping")


def _mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise bad_input(name, value, "a mapping")
    for key in value:
        if not isinstance(key, str) or not key:
            raise bad_input(f"{name} key", key, "non-empty string keys")
    out: dict[str, Any] = plain(name, value)
    return out


def _text_map(name: str, value: Any) -> dict[str, str]:
    out = _mapping(name, value)
    for key, item in out.items():
        _text(f"{name}.{key}", item)
    return out


def _path_map(name: str, value: Any) -> dict[str, str]:
    """``dataset_keys`` (or a mapping ``train_dataset_uri``): spec key -> a path; an empty or blank path is refused
    (the spec would get no path, and a job may fall back to its default data without a word)."""
    out = _text_map(name, value)
    for key, item in out.items():
        if not item.strip():
            raise bad_input(f"{name}.{key}", item, "a path or URI (a non-empty string)")
    return out


def _names(name: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise bad_input(name, value, "a list of parameter names")
    return [_text(f"{name}[{i}]", item) for i, item in enumerate(value)]


def _ranges(name: str, value: Any) -> dict[str, Any]:
    out = _mapping(name, value)
    for key, item in out.items():
        _mapping(f"{name}.{key}", item)
    return out


#: field -> its check (``None`` is allowed for the optional ones, checked by the caller).
_CHECKS: dict[str, Any] = {
    "skill_dir": _text, "workspace_path": _text, "platform": _text, "platform_options": _mapping, "action": _text,
    "eval_dataset_uri": _text, "base_checkpoint": _text, "image": _text, "dataset_keys": _path_map,
    "automl_settings": _mapping, "automl_hyperparameters": _names, "custom_param_ranges": _ranges,
    "spec_overrides": _mapping, "platform_kwargs": _mapping, "wandb_config": _mapping, "mlflow_config": _mapping,
}


def checked_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` (run()'s keywords or the YAML file's keys) type-checked; a mapping ``train_dataset_uri`` becomes
    ``dataset_keys`` (exact spec keys). ``None`` leaves a field at its default."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name == "train_dataset_uri" and isinstance(value, Mapping):
            out["dataset_keys"] = {**_path_map(name, value), **out.get("dataset_keys", {})}
        elif name == "train_dataset_uri":
            out[name] = _text(name, value)
        elif name == "dataset_keys":
            out[name] = {**out.get(name, {}), **_path_map(name, value)}
        else:
            out[name] = _CHECKS[name](name, value)
    for name in ("action", "platform"):
        if name in out and not out[name].strip():
            raise bad_input(name, out[name], "a non-empty name")
    for name in ("skill_dir", "workspace_path"):  # "   " would be a folder named by spaces
        if out.get(name) and not out[name].strip():
            raise bad_input(name, out[name], "a path (a string that is not blank)")
    for name in ("train_dataset_uri", "eval_dataset_uri", "base_checkpoint"):  # "" was read as none given: a job
        if name in out and not out[name].strip():  # then trained on its default data or weights without a word
            raise bad_input(name, out[name], "a path or URI (a string that is not empty or blank); leave the key out "
                                             "for none")
    if "image" in out and not out["image"].strip():  # "" ran the skill's image, a blank one none: neither was said
        raise bad_input("image", out["image"], "an image reference (a string that is not empty or blank); leave the "
                                               "key out for the skill's container_image")
    return out

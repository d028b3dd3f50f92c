"""Platform SDKs by name, imported lazily; a missing extra gives an "install the X extra" error."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from tao_automl.errors import MissingExtraError, UserInputError
from tao_automl.platforms.base import unwrap
from tao_automl.platforms.common import as_setting_error
from tao_automl.util.secrets import unredacted
from tao_automl.util.suggest import did_you_mean

#: name -> ("module:Class", extra that provides its dependencies or None)
PLATFORMS: dict[str, tuple[str, str | None]] = {
    "local": ("tao_automl.platforms.local.sdk:LocalSDK", None),
    "slurm": ("tao_automl.platforms.slurm.sdk:SlurmSDK", "slurm"),
    "lepton": ("tao_automl.platforms.lepton.sdk:LeptonSDK", "lepton"),
    "brev": ("tao_automl.platforms.brev.sdk:BrevSDK", "brev"),
    "docker": ("tao_automl.platforms.docker.sdk:DockerSDK", "docker"),
    "kubernetes": ("tao_automl.platforms.kubernetes.sdk:KubernetesSDK", "kubernetes"),
}


def _import_class(target: str) -> Any:
    """The class a ``"module:Class"`` entry names (ImportError when its module cannot be imported)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def sdk_class(name: str) -> Any:
    """The SDK class of platform ``name`` without building it, or None (unknown, or its extra is not installed)."""
    entry = PLATFORMS.get(name)
    if entry is None:
        return None
    try:
        return _import_class(entry[0])
    except ImportError:
        return None


def make_sdk(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """Construct the SDK for platform ``name`` with constructor ``options``."""
    entry = PLATFORMS.get(name)
    if entry is None:
        raise UserInputError(
            f"platform: unknown platform {name!r}{did_you_mean(name, PLATFORMS)}; available: {', '.join(PLATFORMS)}",
            field="platform", value=name, allowed=list(PLATFORMS),
        )
    target, extra = entry
    try:
        cls = _import_class(target)
    except ImportError as exc:
        if extra:
            raise MissingExtraError(f"platform {name!r}", (exc.name or extra).split(".")[0], extra) from None
        raise UserInputError(f"platform {name!r} is not available: {exc}", field="platform", value=name,
                             allowed=[n for n in PLATFORMS if n != name], hint=str(exc)) from None
    given = dict(options or {})
    accepted = _keyword_names(cls)
    unknown = sorted(k for k in given if accepted is not None and k not in accepted)
    if unknown:
        key = unknown[0]
        raise UserInputError(
            f"platform_options.{key}: not an option of platform {name!r}{did_you_mean(key, accepted or [])}; "
            f"allowed: {', '.join(sorted(accepted or []))}", field=f"platform_options.{key}", value=given[key],
            allowed=sorted(accepted or []))
    try:
        return cls(**given)
    except UserInputError as exc:  # a value the SDK refused: name it as the user wrote it
        raise as_setting_error(exc, "platform_options", given, accepted or ()) from None
    except TypeError as exc:  # a value of the wrong type the constructor could not use
        raise UserInputError(f"platform_options for {name!r}: {exc}", field="platform_options", value=given,
                             allowed=sorted(accepted or [])) from None


def _keyword_names(cls: Any) -> list[str] | None:
    """The keyword arguments ``cls`` takes, or None when it takes any (``**kwargs``) or cannot be inspected."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in named]


def platform_name(class_path: str) -> str | None:
    """The registry name of an SDK class given as ``module:Class`` (None when it is not registered)."""
    for name, (target, _) in PLATFORMS.items():
        if target == class_path:
            return name
    return None


def describe_sdk(sdk: Any) -> dict[str, Any]:
    """How to rebuild ``sdk`` later: its class path and constructor options (``init_options`` if it has them)."""
    sdk = unwrap(sdk)  # wrappers such as Retrying
    cls = type(sdk)
    path = f"{cls.__module__}:{cls.__qualname__}"
    # "registered": `tao-automl resume` can rebuild it (status names that command only then)
    return {"class": path, "options": dict(getattr(sdk, "init_options", {}) or {}),
            "registered": platform_name(path) is not None}


def rebuild_sdk(run_dir: object, platform: Mapping[str, Any] | None) -> Any:
    """The SDK a run recorded (its meta ``platform``: class path + constructor options); credentials were redacted
    when stored, so the platform's own default (its environment variable) supplies them. A class the registry
    cannot build is a :class:`UserInputError`."""
    record = platform or {}
    name = platform_name(str(record.get("class", "")))
    if name is None:
        raise UserInputError(
            f"{str(run_dir)!r} ran on {record.get('class')!r}, which cannot be rebuilt from the run folder",
            field="platform", value=record.get("class"), allowed=sorted(PLATFORMS),
            hint="resume it from Python with AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True)")
    return make_sdk(name, unredacted(record.get("options") or {}, {}))

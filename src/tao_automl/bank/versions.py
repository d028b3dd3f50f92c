"""Pinned images and wheels from a bank's ``versions.yaml`` (``images.tao_toolkit.pyt`` → a URI)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tao_automl.errors import UserInputError
from tao_automl.util.dotted import flatten, get_dotted
from tao_automl.util.suggest import did_you_mean

_MISSING = object()


def load_versions(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: not valid YAML: {exc}", field=path.name,
                             allowed="a valid YAML mapping") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping at the top level", field=path.name,
                             value=type(data).__name__, allowed="a mapping (key: value) at the top level")
    return data


def resolve_key(versions: Mapping[str, Any], key: str, list_command: str = "tao-automl versions --json") -> Any:
    """The value at dotted ``key``; the legacy short form (``tao_toolkit.pyt``) is looked up under ``images.``.
    ``list_command``: the command that lists the keys, for the hint of a key not found."""
    for candidate in (key, f"images.{key}"):
        value = get_dotted(versions, candidate, _MISSING)
        if value is not _MISSING:
            return value
    known = [k for k, _ in flatten(versions)]
    raise UserInputError(f"versions key {key!r} not found{did_you_mean(key, known)}; "
                         f"top-level sections: {', '.join(sorted(versions))}", field="KEY", value=key,
                         allowed=known if len(known) <= 50 else sorted(versions),
                         hint=f"list the keys with `{list_command}`")

"""Dotted-path access into nested spec dicts (``train.optim.lr``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any


def get_dotted(spec: Mapping[str, Any], key: str, default: Any = None) -> Any:
    node: Any = spec
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def set_dotted(spec: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` in place, creating intermediate dicts; a non-dict in the way is an error."""
    parts = key.split(".")
    node = spec
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"cannot set {key!r}: {'.'.join(parts[: i + 1])!r} holds {child!r}, not a mapping")
        node = child
    node[parts[-1]] = value


def with_values(spec: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``spec`` with every dotted ``values`` entry set."""
    out = copy.deepcopy(dict(spec))
    for key, value in values.items():
        set_dotted(out, key, copy.deepcopy(value))
    return out


def flatten(spec: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a nested mapping as ``(dotted_key, value)``."""
    for key, value in spec.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, dotted + ".")
        else:
            yield dotted, value

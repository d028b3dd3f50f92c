"""Spec paths with list indices (``dataset.train_data_sources[0].image_dir``), as skill_info.yaml writes them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PART = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)\Z")
_INDEX = re.compile(r"\[(\d+)\]")
_MISSING = object()

Step = str | int


def parse_path(key: str) -> list[Step]:
    """``"a.b[0].c"`` -> ``["a", "b", 0, "c"]``; a malformed key raises ``ValueError``."""
    steps: list[Step] = []
    for part in key.split("."):
        match = _PART.match(part)
        if match is None or (not match.group(1) and not match.group(2)):
            raise ValueError(f"malformed spec key {key!r}")
        if match.group(1):
            steps.append(match.group(1))
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    if not steps or isinstance(steps[0], int):
        raise ValueError(f"malformed spec key {key!r}")
    return steps


def get_path(spec: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """The value at ``key`` or ``default``; never raises for a missing or mistyped step."""
    node: Any = spec
    for step in parse_path(key):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return default
        elif not isinstance(node, Mapping) or step not in node:
            return default
        node = node[step]
    return node


def has_path(spec: Mapping[str, Any], key: str) -> bool:
    return get_path(spec, key, _MISSING) is not _MISSING


def set_path(spec: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` in place, creating dicts (and appending list items) on the way.

    An index may be at most the list's length (appends one item); anything else in the way raises ``ValueError``.
    """
    steps = parse_path(key)
    node: Any = spec
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        fresh: Any = value if last else ([] if isinstance(steps[i + 1], int) else {})
        where = _describe(steps[: i + 1])
        if isinstance(step, int):
            if not isinstance(node, list):
                raise ValueError(f"cannot set {key!r}: {_describe(steps[:i])!r} holds {node!r}, not a list")
            if step > len(node):
                raise ValueError(f"cannot set {key!r}: {where!r} is past the end of a list of {len(node)}")
            if step == len(node):
                node.append(fresh)
            elif last:
                node[step] = value
            elif node[step] is None:
                node[step] = fresh
        else:
            if not isinstance(node, dict):
                raise ValueError(f"cannot set {key!r}: {_describe(steps[:i])!r} holds {node!r}, not a mapping")
            if last:
                node[step] = value
            elif step not in node or node[step] is None or node[step] == "":  # an empty leaf becomes a container
                node[step] = fresh
        if not last:
            node = node[step]


def _describe(steps: list[Step]) -> str:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out

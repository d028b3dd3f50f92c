"""A small TOML writer for spec files (what ``tomllib`` reads back to the same data).

Nested mappings become ``[a.b]`` tables, lists are inline arrays (mappings inside them inline tables).
TOML has no null: a ``None`` value in a mapping is omitted (the program then uses its own default);
``None`` inside a list cannot be written and raises ``ValueError`` naming the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: Any) -> str:
    text = str(key)
    return text if _BARE.fullmatch(text) else _string(text)  # match() would take "a\n": `$` passes a last \n


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        items = [f"{_key(k)} = {_value(v, f'{where}.{k}')}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if item is None:
                raise ValueError(f"TOML cannot hold a null: {where}[{i}] is None")
        return "[" + ", ".join(_value(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    if value is None:
        raise ValueError(f"TOML cannot hold a null: {where} is None")
    return _string(str(value))


def to_toml(spec: Mapping[str, Any]) -> str:
    """The TOML text of ``spec`` (``None`` values omitted)."""
    return _table(spec, [])


def _table(spec: Mapping[str, Any], path: list[str]) -> str:
    where = ".".join(path)
    lines = [f"{_key(k)} = {_value(v, f'{where}.{k}' if where else str(k))}" for k, v in spec.items()
             if v is not None and not isinstance(v, Mapping)]
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in spec.items():
        if isinstance(value, Mapping):
            sub = [*path, str(key)]
            out += "\n[" + ".".join(_key(p) for p in sub) + "]\n" + _table(value, sub)
    return out

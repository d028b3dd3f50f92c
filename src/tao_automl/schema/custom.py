"""Parse and type-check one ``custom_param_ranges`` entry.

This module checks the *shape* of an entry (known keys, value types). Checks against the schema
(bounds, options, weights length) are done by the builders that know the param's kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.util.suggest import did_you_mean
from tao_automl.util.yaml_numbers import number_as_text_hint

CUSTOM_KEYS = ("valid_min", "valid_max", "valid_options", "option_weights", "disable_list", "scale")
SCALES = ("log", "linear", "logit")


@dataclass(frozen=True)
class CustomRange:
    """A validated-in-shape ``custom_param_ranges`` entry for one param."""

    name: str
    valid_min: Any = None
    valid_max: Any = None
    valid_options: tuple[Any, ...] | None = None
    option_weights: tuple[float, ...] | None = None
    disable_list: tuple[Any, ...] = ()
    scale: str | None = None

    @property
    def has_bounds(self) -> bool:
        return self.valid_min is not None or self.valid_max is not None

    def where(self, key: str) -> str:
        """``custom_param_ranges['x'].key``: how messages point at a field."""
        return f"custom_param_ranges[{self.name!r}].{key}"


def _list(entry: CustomRange, key: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise SearchSpaceError(f"{entry.where(key)}={value!r} must be a list", value=value,
                               allowed="a list")
    return tuple(value)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _unique(entry: CustomRange, key: str, items: tuple[Any, ...]) -> tuple[Any, ...]:
    """``items`` when no option repeats (``True`` and ``1`` differ); a repeat is refused, naming it."""
    for i, item in enumerate(items):
        if any(_same(item, other) for other in items[:i]):
            raise SearchSpaceError(
                f"{entry.where(key)}={list(items)!r} lists {item!r} twice; allowed: each option once",
                value=item, allowed="each option once")
    return items


def parse_custom_range(name: str, raw: Any) -> CustomRange:
    """Check the keys and value shapes of one entry; numbers are checked later, per param kind."""
    entry = CustomRange(name)
    if not isinstance(raw, Mapping):
        raise SearchSpaceError(
            f"custom_param_ranges[{name!r}] must be a mapping with keys {list(CUSTOM_KEYS)}, got {raw!r}",
            value=raw, allowed=f"a mapping with keys {list(CUSTOM_KEYS)}")
    for key in raw:
        if key not in CUSTOM_KEYS:
            raise SearchSpaceError(
                f"custom_param_ranges[{name!r}] has unknown key {key!r}"
                f"{did_you_mean(str(key), CUSTOM_KEYS)}; "
                f"allowed keys: {list(CUSTOM_KEYS)}",
                value=key, allowed=list(CUSTOM_KEYS))
    options = raw.get("valid_options")
    weights = raw.get("option_weights")
    scale = raw.get("scale")
    if scale is not None and scale not in SCALES:
        raise SearchSpaceError(f"{entry.where('scale')}={scale!r} is not supported; allowed: {list(SCALES)}",
                               value=scale, allowed=list(SCALES))
    weight_tuple: tuple[float, ...] | None = None
    if weights is not None:
        items = _list(entry, "option_weights", weights)
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in items) or any(
            not math.isfinite(w) or w < 0 for w in items
        ):
            raise SearchSpaceError(
                f"{entry.where('option_weights')}={weights!r} must be a list of finite numbers >= 0",
                value=weights, allowed="a list of finite numbers >= 0")
        weight_tuple = tuple(float(w) for w in items)
    return CustomRange(
        name=name,
        valid_min=raw.get("valid_min"),
        valid_max=raw.get("valid_max"),
        valid_options=None if options is None else _unique(entry, "valid_options",
                                                           _list(entry, "valid_options", options)),
        option_weights=weight_tuple,
        disable_list=()
        if raw.get("disable_list") is None
        else _unique(entry, "disable_list", _list(entry, "disable_list", raw["disable_list"])),
        scale=scale,
    )


def custom_number(entry: CustomRange, key: str, *, integer: bool,
                  refuses: Callable[[float], str] | None = None) -> float | int | None:
    """``valid_min``/``valid_max`` as a number of the param's type (None when absent); ``refuses``: the schema's
    range when it refuses a number, else ``""`` (a bound YAML read as text is not offered in a spelling it refuses)."""
    value = entry.valid_min if key == "valid_min" else entry.valid_max
    if value is None:
        return None
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        raise SearchSpaceError(
            f"{entry.where(key)}={value!r} has the wrong type: {entry.name!r} needs {kind}"
            + (" (list bounds apply only to list params)" if isinstance(value, (list, tuple)) else "")
            + number_as_text_hint(value, integer=integer, refuses=refuses),
            value=value, allowed=kind)
    if not math.isfinite(value):
        raise SearchSpaceError(f"{entry.where(key)}={value!r} must be finite", value=value,
                               allowed=f"{kind}, finite (not nan or inf)")
    return int(value) if integer else float(value)


def reject_keys(entry: CustomRange, keys: tuple[str, ...], kind: str, allowed: tuple[str, ...]) -> None:
    """Error when ``entry`` sets one of ``keys``, which make no sense for a param of ``kind``. A list given empty
    (``valid_options: []`` on a float) is set too: taken for absent, the float's whole range was searched; only an
    empty ``disable_list`` (nothing removed) is the same as none."""
    for key in keys:
        present = entry.disable_list if key == "disable_list" else getattr(entry, key)
        if present is not None and (present != () or key != "disable_list"):
            raise SearchSpaceError(
                f"{entry.where(key)}={present!r} does not apply to {kind} param {entry.name!r}; "
                f"allowed keys: {list(allowed)}",
                value=present, allowed=list(allowed))

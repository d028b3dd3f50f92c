"""Numeric params (float, int) from a schema property: bounds, ``math_cond``, finite range, scale.

Steps, in order:

1. Bounds: the tighter of ``minimum``/``valid_min`` and of ``maximum``/``valid_max``. Missing,
   ``"inf"``/``"-inf"`` strings, JSON ``Infinity`` and any ``|bound| >= NUMERIC_INFINITY`` mean
   unbounded. List bounds belong to list params (the caller skips those).
2. ``math_cond``: each numeric ``> x``, ``>= x``, ``< x``, ``<= x``, ``== x`` tightens the bounds
   (strict ones are remembered); ``!= x`` excludes one value. Non-numeric operands (``> depends_on``)
   and other forms (``^ 2``) are not bounds and are ignored here.
3. ``custom_param_ranges`` ``valid_min``/``valid_max`` replace the bounds; they must lie inside
   the bounds of steps 1-2 (a strict ``> x`` bound rejects ``x`` itself).
4. Finite range. An unbounded side becomes finite by these rules (``d`` = the schema default
   clipped into the bounds, or the finite bound when there is no default):

   ============================  ==========================================================
   case                          finite range
   ============================  ==========================================================
   int, no lower, ``d >= 1``     ``max(1, ceil(d / 4))`` (a size or count: never 0 or
                                 below; the mirror of the ``4 d`` upper end)
   no lower bound                ``0`` when the upper bound is > 0 and ``d >= 0`` (or none);
                                 else ``d - max(3|d|, 1)`` (ints: ``max(3|d|, 10)``)
   float, rate-like, no upper    ``d > 0``: ``min(100 d, 1)``;
                                 no positive default: ``RATE_FALLBACK_HIGH`` (0.1)
   float, unit-like, no upper    ``1.0`` when low >= 0 and ``d <= 1`` (name token prob,
                                 probability, ratio, fraction, momentum, dropout, drop, decay);
                                 a coefficient near 1 (``0.5 <= d < 1``: momentum 0.9, an EMA
                                 decay 0.999) is searched by its odds instead, on logit scale:
                                 ``d``'s odds divided and multiplied by 10 (0.9 -> [0.47, 0.989];
                                 :func:`near_one_range`; a custom side replaces its side)
   float, other, no upper        ``d + max(3|d|, 1)``
   int, no upper                 ``max(4 d, low + 10)``
   ============================  ==========================================================

5. Scale. An explicit ``"scale"`` (custom range first, then the property) wins; ``"logit"`` (floats
   only) needs a final range strictly inside (0, 1) — a bound at exactly 0 or 1 is an error. Otherwise floats
   that are *rate-like* go on log scale when, after step 4, the low bound is >= 0 and the
   positive range (step 6) spans at least ``LOG_MIN_RATIO`` (two decades). Rate-like means: a
   token of the name's last segment is one of ``lr wd eps epsilon decay l2``, or the description
   or title says learning rate, weight decay, L2 regularization or epsilon; AND the default, when
   there is one, is at most ``RATE_MAX_DEFAULT`` (0.1): a larger default (an EMA decay of 0.999,
   a layer decay of 0.65, a warm-up factor of 1) marks a factor, not a rate. Network names are
   never consulted. Ints are linear unless told otherwise.
6. Grids (ints only). ``math_cond`` ``^ k`` (a power of ``k``, e.g. ``^ 2`` for batch sizes) and
   ``/ k`` (a multiple of ``k``) make an :class:`~tao_automl.space.search_space.IntGridParam` over the final
   range: only values on the grid are sampled or decoded (searched over the exponent or the
   multiple index). A range that holds no grid value is a SearchSpaceError. Floats ignore them.
7. Open low ends. Log scale with a low bound <= 0 starts at a positive floor: ``d / 100`` when
   the default is positive, else ``high * LOG_FLOOR_RATIO``; a strict ``> x`` on a linear range
   moves the low bound to ``x + STRICT_REL_EPS * (high - x)`` (and an int's to ``x + 1``).
   An int on log scale starts at 1. An int ``!= x`` strictly inside the range keeps the side
   holding the default (toward it when the range leaves it out; else the larger side), and the run plan and
   ``models`` note it
   (:func:`split_range_note`); a float ``!= x`` only matters at an end of the
   range, where it acts as a strict bound. The floor is only for a schema low bound: a custom
   ``valid_min`` <= 0 with an explicit ``"scale": "log"`` (custom or schema) is a SearchSpaceError
   (floats and ints alike).

The result never reaches outside the schema bounds; an empty result is a SearchSpaceError.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from tao_automl.errors import SearchSpaceError
from tao_automl.schema.access import get_property
from tao_automl.schema.baseline import Baseline
from tao_automl.schema.custom import SCALES, CustomRange, custom_number
from tao_automl.space.search_space import FloatParam, IntGridParam, IntParam, SearchSpace
from tao_automl.util.digits import apart
from tao_automl.util.numbers import is_finite_number, is_number

NUMERIC_INFINITY = 1e100
STRICT_REL_EPS = 1e-6
RATE_SPAN = 100.0
RATE_FALLBACK_HIGH = 0.1
LOG_FLOOR_RATIO = 1e-4
LOG_MIN_RATIO = 100.0
RATE_MAX_DEFAULT = 0.1
FLOAT_GROWTH = 3.0
FLOAT_MIN_SPAN = 1.0
INT_GROWTH = 4
INT_MIN_SPAN = 10
#: A unit-like float whose default is at least this (momentum 0.9, an EMA decay 0.999, Adam's betas) is a coefficient
#: near 1: searched by its odds when the schema leaves its top open (see :func:`near_one_range`).
ODDS_FROM = 0.5
#: How far (a factor on the odds ``d / (1 - d)``, each way) from its default such a coefficient is searched.
ODDS_SPAN = 10.0
#: Set on a list element's property by :mod:`tao_automl.schema.lists` when its list's name is unit-like (``betas``).
UNIT_KEY = "x-tao-automl-unit"

_INF = math.inf
_TOL = 1e-9
_RATE_TOKENS = frozenset({"lr", "wd", "eps", "epsilon", "decay", "l2"})
_RATE_TEXT = re.compile(
    r"learning[\s_-]*rate|weight[\s_-]*decay|l2[\s_-]*regulari[sz]ation|epsilon", re.IGNORECASE
)
_UNIT_TOKENS = frozenset({"prob", "probability", "ratio", "fraction", "momentum", "dropout", "drop", "decay"})
_POWER = re.compile(r"\^\s*(\d+)")
_MULTIPLE = re.compile(r"/\s*(\d+)")
_COND = re.compile(r"(>=|<=|!=|==|>|<)\s*([^\s<>=!]+)")


@dataclass(frozen=True)
class Interval:
    """Schema bounds of one numeric param, possibly infinite or strict."""

    low: float = -_INF
    high: float = _INF
    low_strict: bool = False
    high_strict: bool = False
    excluded: tuple[float, ...] = ()

    def __str__(self) -> str:
        left = "(" if self.low_strict or self.low == -_INF else "["
        right = ")" if self.high_strict or self.high == _INF else "]"
        # each end as the search space's ranges show it (`tao-automl models`): 1.0 for a float param, 1 for an int
        return f"{left}{self.low}, {self.high}{right}"

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_strict else value >= self.low
        below = value < self.high if self.high_strict else value <= self.high
        return above and below


def _tokens(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.rsplit(".", 1)[-1].lower()))


def is_rate_like(name: str, prop: Mapping[str, Any]) -> bool:
    """A learning-rate/weight-decay/epsilon-like param, judged from its name, description and default."""
    default = _default_number(prop)
    if default is not None and default > RATE_MAX_DEFAULT:
        return False
    text = f"{prop.get('description') or ''} {prop.get('title') or ''}"
    return bool(_tokens(name) & _RATE_TOKENS) or bool(_RATE_TEXT.search(text))


def _is_unit_like(name: str) -> bool:
    return bool(_tokens(name) & _UNIT_TOKENS)


def odds_range(value: float) -> tuple[float, float]:
    """``(low, high)`` whose odds are ``value``'s divided and multiplied by ``ODDS_SPAN`` (0.9 -> 0.47, 0.989)."""
    odds = value / (1.0 - value)
    low, high = odds / ODDS_SPAN, odds * ODDS_SPAN
    return _nice(low / (1.0 + low)), _nice(high / (1.0 + high))


def near_one_range(name: str, prop: Mapping[str, Any], schema_iv: Interval, default: float | None,
                   custom: CustomRange | None) -> tuple[float, float] | None:
    """The range of a coefficient near 1 whose top the schema leaves open: a unit-like name (or a unit-like list's
    element), a default in ``[ODDS_FROM, 1)``, no schema maximum. Each side the custom range does not give is the
    default's odds range (:func:`odds_range`) — linear [0, 1] put momentum at exactly 1 (never decays) or 0 — moved
    to stay on the right side of a side it gives; None when the rule does not apply (a custom side outside (0, 1):
    the user's range is searched as given)."""
    unit_list = bool(prop.get(UNIT_KEY))  # bounded [0, 1) by the list rules: its ends are the tool's too
    if default is None or not ODDS_FROM <= default < 1.0 or (schema_iv.high < _INF and not unit_list):
        return None
    if not (_is_unit_like(name) or unit_list):
        return None
    given = [None if custom is None else custom_number(custom, key, integer=False)
             for key in ("valid_min", "valid_max")]
    if any(v is not None and not 0.0 < v < 1.0 for v in given):
        return None
    low, high = odds_range(default)
    cmin, cmax = given
    if cmin is not None:
        low, high = cmin, high if high > cmin else odds_range(cmin)[1]
    if cmax is not None:
        low, high = (low if low < cmax else odds_range(cmax)[0]), cmax
    return max(low, schema_iv.low), high


def _bound(name: str, key: str, value: Any, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad_bound(name, key, value)
    if isinstance(value, int) and abs(value) >= NUMERIC_INFINITY:
        return math.copysign(_INF, value)
    if integer and isinstance(value, int):
        return value  # exact for an int param: float(2**63 - 1) is 2**63, a bound one past the schema's
    if integer and isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value) \
            and abs(int(value)) < NUMERIC_INFINITY:
        return int(value)
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise _bad_bound(name, key, value) from None
    if math.isnan(number):
        raise _bad_bound(name, key, value, "is NaN")
    return math.copysign(_INF, number) if abs(number) >= NUMERIC_INFINITY else number


def _bad_bound(name: str, key: str, value: Any, why: str = "") -> SearchSpaceError:
    said = f"{why}; allowed: a number or 'inf'/'-inf'" if why else "must be a number or 'inf'/'-inf'"
    return SearchSpaceError(f"schema param {name!r}: {key}={value!r} {said}", field=f"schema property {name}",
                            value=value, allowed="a number or 'inf'/'-inf'")


def has_list_bounds(prop: Mapping[str, Any]) -> bool:
    """True when a bound is a list (those are list-param bounds, not supported here)."""
    return any(
        isinstance(prop.get(k), (list, tuple)) for k in ("minimum", "maximum", "valid_min", "valid_max")
    )


def _tighten(iv: Interval, op: str, x: float) -> Interval:
    low, high, ls, hs = iv.low, iv.high, iv.low_strict, iv.high_strict
    if op in (">", ">=", "==") and (x > low or (x == low and op == ">")):
        low, ls = x, op == ">"
    if op in ("<", "<=", "==") and (x < high or (x == high and op == "<")):
        high, hs = x, op == "<"
    excluded = (*iv.excluded, x) if op == "!=" else iv.excluded
    return Interval(low, high, ls, hs, excluded)


def schema_interval(name: str, prop: Mapping[str, Any], *, integer: bool = False) -> Interval:
    """Steps 1-2 of the module docstring: the schema's own bounds of ``name`` (``integer``: integer bounds kept
    exact, not rounded through a float)."""
    lows = [_bound(name, k, prop[k], integer) for k in ("minimum", "valid_min") if prop.get(k) is not None]
    highs = [_bound(name, k, prop[k], integer) for k in ("maximum", "valid_max") if prop.get(k) is not None]
    iv = Interval(max(lows, default=-_INF), min(highs, default=_INF))
    cond = prop.get("math_cond")
    check_math_cond(name, cond)
    if isinstance(cond, str):
        for op, operand in _COND.findall(cond):
            try:
                x = float(operand)
            except ValueError:
                continue
            if math.isfinite(x):
                iv = _tighten(iv, op, x)
    if iv.low > iv.high or (iv.low == iv.high and (iv.low_strict or iv.high_strict)):
        raise SearchSpaceError(
            f"schema param {name!r}: its bounds and math_cond leave no value ({iv}); allowed: a minimum/valid_min at "
            "or below its maximum/valid_max, with a math_cond that keeps a value between them",
            field=f"schema property {name}", value=str(iv),
            allowed="a minimum at or below the maximum, and a math_cond inside them")
    if integer:  # an int's ends read as ints in every message (`"minimum": 1.0` showed [1.0, 8.0])
        iv = replace(iv, low=_as_int(iv.low), high=_as_int(iv.high))
    return iv


def _as_int(end: float) -> float:
    """A whole finite end as an int (an infinite or fractional one as it is)."""
    return int(end) if math.isfinite(end) and float(end).is_integer() else end


_COND_PART = re.compile(
    r"(?:>=|<=|!=|==|>|<)\s*(?:depends_on\b|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf\b)"
    r"|\^\s*\d+|/\s*\d+|\band\b|,|&&"
)
_COND_FORMS = ("comparisons with a number ('> 0.0', '<= 1'), '<op> depends_on' (the param its depends_on names), "
               "'^ k' (a power of k), '/ k' (a multiple of k)")


def check_math_cond(name: str, cond: Any) -> None:
    """Refuse a ``math_cond`` with a part this version cannot read (``"> train.b"``, ``"power of two"``, a list):
    ignored, it let the search propose values the schema forbids."""
    if cond is None or (isinstance(cond, str) and not cond.strip()):
        return
    leftover = _COND_PART.sub(" ", cond).strip() if isinstance(cond, str) else None
    if leftover == "":
        return
    part = f"the part {leftover!r}" if leftover is not None else f"a {type(cond).__name__}, not a string"
    raise SearchSpaceError(
        f"schema param {name!r}: math_cond={cond!r} has {part}, which tao-automl cannot read; allowed: {_COND_FORMS}",
        field=f"schema property {name}", value=cond, allowed=_COND_FORMS)


def _schema_at_fault(name: str, custom: CustomRange | None) -> str | None:
    """The field of a scale/range error the schema property alone caused (``schema property NAME``); None when a
    ``custom_param_ranges`` entry gave the scale or a bound, which the run names as the field itself."""
    if custom is not None and (custom.scale is not None or custom.has_bounds):
        return None
    return f"schema property {name}"


def _scale(name: str, prop: Mapping[str, Any], custom: CustomRange | None) -> str | None:
    if custom is not None and custom.scale is not None:
        return custom.scale
    scale = prop.get("scale")
    if scale is not None and scale not in SCALES:
        raise SearchSpaceError(
            f"schema param {name!r}: scale={scale!r} is not supported; allowed: {list(SCALES)}",
            field=f"schema property {name}", value=scale, allowed=list(SCALES))
    return scale if isinstance(scale, str) else None


def _default_number(prop: Mapping[str, Any]) -> float | None:
    """The schema default as a number: a JSON number, or a number written as text (``"224"``, ``"1e-3"``), as bounds
    are read (:func:`_bound`); ignored, ``"224"`` derived an int's open top from its minimum (``[32, 128]``, not
    ``[32, 896]``), a range that left the default out. None for anything else."""
    d = prop.get("default")
    if isinstance(d, str):
        try:
            d = float(d.strip())
        except ValueError:
            return None
    if not is_finite_number(d):
        return None
    return float(d)


def _apply_custom(iv: Interval, custom: CustomRange | None, *, integer: bool) -> Interval:
    if custom is None:
        return iv
    def refuses(n: float) -> str:
        return "" if iv.admits(n) else f"a value in {iv} (the schema's range)"

    cmin = custom_number(custom, "valid_min", integer=integer, refuses=refuses)
    cmax = custom_number(custom, "valid_max", integer=integer, refuses=refuses)
    for key, value in (("valid_min", cmin), ("valid_max", cmax)):
        if value is not None and not iv.admits(value):
            raise SearchSpaceError(
                f"{custom.where(key)}={value!r} is outside the schema range of {custom.name!r}; allowed: {iv}",
                value=value, allowed=str(iv))
    if cmin is not None and cmax is not None and cmin > cmax:
        raise SearchSpaceError(
            f"custom_param_ranges[{custom.name!r}]: valid_min={cmin!r} > valid_max={cmax!r}; need min <= max",
            value={"valid_min": cmin, "valid_max": cmax},
            allowed="valid_min <= valid_max")
    return Interval(
        iv.low if cmin is None else cmin,
        iv.high if cmax is None else cmax,
        iv.low_strict and cmin is None,
        iv.high_strict and cmax is None,
        iv.excluded,
    )


def _check_log_low(custom: CustomRange | None, scale: str | None, *, integer: bool) -> None:
    """An explicit ``valid_min`` <= 0 with a log scale is refused: the scale cannot start there, and a floor picked
    for it would search a range the user did not give."""
    if scale != "log" or custom is None:
        return
    low = custom_number(custom, "valid_min", integer=integer)
    if low is not None and low <= 0:
        raise SearchSpaceError(
            f"{custom.where('valid_min')}={low!r}: a log scale cannot start at {low!r} (use scale 'linear' to "
            "include it); allowed: > 0 for a log scale",
            value=low, allowed="> 0 for a log scale")


def _finite_low(low: float, high: float, default: float | None, min_span: float) -> float:
    if low > -_INF:
        return low
    if high > 0 and (default is None or default >= 0):
        return 0.0
    ref = min(default if default is not None else high, high)
    return ref - max(FLOAT_GROWTH * abs(ref), min_span)


def _finite_float_high(
    name: str, prop: Mapping[str, Any], low: float, high: float, default: float | None
) -> float:
    if high < _INF:
        return high
    ref = max(default if default is not None else low, low)
    if is_rate_like(name, prop) and low >= 0:
        if ref > 0:
            return min(ref * RATE_SPAN, 1.0)
        if low < RATE_FALLBACK_HIGH:
            return RATE_FALLBACK_HIGH
    if _is_unit_like(name) and 0 <= low < 1.0 and ref <= 1.0:
        return 1.0
    return ref + max(FLOAT_GROWTH * abs(ref), FLOAT_MIN_SPAN)


def _nice(value: float) -> float:
    """A computed (not schema-given) range end, rounded to 10 significant digits."""
    return float(f"{value:.10g}")


def _log_floor(low: float, high: float, strict: bool, ref: float | None) -> float:
    if low > 0:
        return math.nextafter(low, _INF) if strict else low
    if ref is not None and ref > 0:
        return _nice(ref / RATE_SPAN)
    return _nice(high * LOG_FLOOR_RATIO)


def _auto_log(name: str, prop: Mapping[str, Any], low: float, high: float, floor: float) -> bool:
    wide = floor > 0 and high / floor >= LOG_MIN_RATIO * (1 - _TOL)
    return is_rate_like(name, prop) and low >= 0 and wide


def _clip(value: float | None, low: float, high: float) -> float | None:
    return None if value is None else min(max(value, low), high)


def build_float(name: str, prop: Mapping[str, Any], custom: CustomRange | None) -> FloatParam:
    """A FloatParam for ``name`` by the rules of the module docstring."""
    schema_iv = schema_interval(name, prop)
    iv = _apply_custom(schema_iv, custom, integer=False)
    default = _default_number(prop)
    near_one = near_one_range(name, prop, schema_iv, default, custom)
    low = iv.low if iv.low > -_INF else _nice(_finite_low(iv.low, iv.high, default, FLOAT_MIN_SPAN))
    high = iv.high if iv.high < _INF else _nice(_finite_float_high(name, prop, low, iv.high, default))
    if near_one is not None:
        low, high = near_one
    low_strict = (iv.low_strict and low == iv.low) or low in iv.excluded
    high_strict = (iv.high_strict and high == iv.high) or high in iv.excluded
    if high_strict:
        high = min(high - STRICT_REL_EPS * (high - low), math.nextafter(high, -_INF))
    ref = _clip(default, low, high)
    floor = _log_floor(low, high, low_strict, ref) if high > 0 else 0.0
    scale = _scale(name, prop, custom) or ("logit" if near_one is not None and 0.0 < low <= high < 1.0 else None)
    _check_log_low(custom, scale, integer=False)
    if scale == "log" or (scale is None and _auto_log(name, prop, low, high, floor)):
        if high <= 0 or floor > high:
            _above_derived_top(name, iv, floor, high)
            raise SearchSpaceError(f"param {name!r}: log scale needs a positive range, but the range is {iv}",
                                   value=str(iv), allowed="a range with values > 0 (or scale linear)")
        return FloatParam(name, floor, high, log=True, default=_inside(default, floor, high))
    if scale == "logit":
        if not 0.0 < low <= high < 1.0:
            raise SearchSpaceError(
                f"param {name!r}: scale 'logit' needs a range strictly inside (0, 1) (the logit of 0 or 1 is "
                f"infinite), but the range is [{low}, {high}]; allowed: valid_min > 0 and valid_max < 1 "
                f"(set them in custom_param_ranges)", value=[low, high], field=_schema_at_fault(name, custom),
                allowed="a range strictly inside (0, 1): valid_min > 0 and valid_max < 1"
            )
        return FloatParam(name, low, high, default=_inside(default, low, high), logit=True)
    if low_strict:
        low = max(low + STRICT_REL_EPS * (high - low), math.nextafter(low, _INF))
    if low > high:
        _above_derived_top(name, iv, low, high)
        raise SearchSpaceError(f"param {name!r}: the range {iv} holds no searchable value", value=str(iv),
                               allowed="a range holding at least one value")
    return FloatParam(name, low, high, log=False, default=_inside(default, low, high))


def _above_derived_top(name: str, iv: Interval, low: float, high: float) -> None:
    """A low end above the top end the tool chose (the schema gives none): say so, and how to choose the top (it
    read "the range [5, inf) holds no searchable value")."""
    if iv.high == _INF and low > high:
        raise SearchSpaceError(
            f"param {name!r}: valid_min {apart(low, high)} is above the top end tao-automl chose for it "
            f"({apart(high, low)}; the schema gives no maximum); set custom_param_ranges.{name}.valid_max too",
            value=low, allowed=f"a valid_max >= {apart(low, high)} with it (the schema allows any)")


def _inside(default: float | None, low: float, high: float) -> float | None:
    return default if default is not None and low <= default <= high else None


def _int_interval(iv: Interval) -> Interval:
    low = iv.low if math.isinf(iv.low) else math.floor(iv.low) + 1 if iv.low_strict else math.ceil(iv.low)
    high = (
        iv.high if math.isinf(iv.high) else math.ceil(iv.high) - 1 if iv.high_strict else math.floor(iv.high)
    )
    return Interval(low, high, False, False, tuple(x for x in iv.excluded if float(x).is_integer()))


def _exclude(low: int, high: int, x: int, default: float | None) -> tuple[int, int]:
    if x == low:
        return low + 1, high
    if x == high:
        return low, high - 1
    if not low < x < high:
        return low, high
    below = default < x if default is not None and default != x else x - low > high - x
    return (low, x - 1) if below else (x + 1, high)


def split_range_note(param: Any, prop: Mapping[str, Any], custom_min: float | None = None,
                     custom_max: float | None = None, default: float | None = None) -> str | None:
    """For an int whose ``math_cond`` ``!= x`` falls strictly inside its range (the schema's, or ``custom_min``/
    ``custom_max``: ``custom_param_ranges`` ends): which side of ``x`` is searched, why (:func:`_exclude`: a searched
    range is one interval; the side of the default ``default``, the job's base value, else the schema's: toward it
    when it lies outside the range) and how to search the other; else None. A log-scale int starts at 1 on its own."""
    if not isinstance(param, (IntParam, IntGridParam)) or getattr(param, "log", False):
        return None
    iv = schema_interval(param.name, prop, integer=True)
    low = iv.low if custom_min is None else custom_min
    high = iv.high if custom_max is None else custom_max
    for x in (int(v) for v in iv.excluded if float(v).is_integer()):
        if param.high < x < high:
            kept, other, end = "below", "above", f"valid_min to {x + 1}"
        elif low < x < param.low:
            kept, other, end = "above", "below", f"valid_max to {x - 1}"
        else:
            continue
        if default is None:  # as the space was built: the base's value (kept when in range), else the schema's
            default = param.default if param.default is not None else _default_number(prop)
        if default is None or default == x:
            why = "the larger side (no default on either side)"
        elif low <= default <= high:
            why = f"the side of its default {apart(default)}"
        else:  # a default the range leaves out (a custom range, or a base value outside it): the side toward it
            why = (f"the side toward its default {apart(default, low, high)}, which lies outside the range "
                   f"[{apart(low, default)}, {apart(high, default)}]: neither side holds it")
        return (f"param {param.name}: math_cond {prop.get('math_cond')!r} leaves a range on both sides of {x}, but a "
                f"searched range is one interval: only [{param.low}, {param.high}] ({kept} {x}, {why}) is searched, "
                f"no value {other} {x} is; to search those instead set custom_param_ranges.{param.name}.{end}")
    return None


def is_power(value: int, base: int) -> bool:
    """``value`` is ``base ** n`` for some n >= 0."""
    while value > 1 and value % base == 0:
        value //= base
    return value == 1


def grid_rule(name: str, prop: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(power_of, multiple_of)`` from ``math_cond`` ``^ k`` / ``/ k`` (None when absent)."""
    cond = prop.get("math_cond")
    if not isinstance(cond, str):
        return None, None
    power, multiple = _POWER.search(cond), _MULTIPLE.search(cond)
    power_of = int(power.group(1)) if power else None
    multiple_of = int(multiple.group(1)) if multiple else None
    if (power_of is not None and power_of < 2) or multiple_of == 0:
        raise SearchSpaceError(
            f"schema param {name!r}: math_cond={cond!r} needs ^ k with k >= 2 or / k with k >= 1; allowed: "
            "'^ k' (k >= 2), '/ k' (k >= 1)", field=f"schema property {name}", value=cond,
            allowed="'^ k' with k >= 2, '/ k' with k >= 1")
    return power_of, multiple_of


def outside_schema(name: str, prop: Mapping[str, Any], value: float) -> str:
    """What a number for ``name`` must be when ``value`` breaks its schema's bounds or ``math_cond`` (``> 0``,
    ``!= 0``, a power ``^ k`` or multiple ``/ k`` for an int: what a searched value obeys), else ``""``. The one check
    of a given value: a schema's own ``valid_options`` entry (schema build), a ``spec_overrides`` value, an epoch
    budget (run plan). A schema whose own bounds or ``math_cond`` are broken raises the SearchSpaceError naming it."""
    integer = str(prop.get("type")) in ("int", "integer")
    interval = schema_interval(name, prop, integer=integer)
    power_of, multiple_of = grid_rule(name, prop) if integer else (None, None)
    cond = f" and math_cond {prop['math_cond']!r}" if prop.get("math_cond") else ""
    if not interval.admits(value) or value in interval.excluded:
        but = f" except {', '.join(apart(x, value) for x in interval.excluded)}" if interval.excluded else ""
        return f"a value in {interval}{but} (the schema's bounds{cond})"
    if power_of is not None and not is_power(int(value), power_of):
        return f"a power of {power_of} (the schema's math_cond {prop['math_cond']!r})"
    if multiple_of is not None and value % multiple_of:
        return f"a multiple of {multiple_of} (the schema's math_cond {prop['math_cond']!r})"
    return ""


def build_int(name: str, prop: Mapping[str, Any], custom: CustomRange | None) -> IntParam | IntGridParam:
    """An IntParam for ``name`` by the rules of the module docstring (linear unless told log)."""
    schema_iv = _int_interval(schema_interval(name, prop, integer=True))
    if schema_iv.low > schema_iv.high:
        raise SearchSpaceError(
            f"schema param {name!r}: no integer lies in its bounds {schema_iv}; allowed: int bounds that hold an "
            "integer", field=f"schema property {name}", value=str(schema_iv), allowed="int bounds that hold an integer")
    iv = _apply_custom(schema_iv, custom, integer=True)
    default = _default_number(prop)
    if iv.low == -_INF and default is not None and default >= 1 and iv.high >= default:
        low_f = max(1.0, math.ceil(default / INT_GROWTH))  # img_size 224 searched from 0 sampled sizes 0..55
    else:
        low_f = _finite_low(iv.low, iv.high, default, INT_MIN_SPAN)
    if iv.high < _INF:
        high_f = iv.high
    else:
        ref = max(default if default is not None else low_f, low_f)
        high_f = max(INT_GROWTH * ref, low_f + INT_MIN_SPAN)
    low, high = math.ceil(low_f), math.floor(high_f)
    for x in iv.excluded:
        low, high = _exclude(low, high, int(x), default)
    int_scale = _scale(name, prop, custom)
    _check_log_low(custom, int_scale, integer=True)
    if int_scale == "logit":
        raise SearchSpaceError(
            f"param {name!r}: scale 'logit' is for floats inside (0, 1), not ints; allowed: 'log', 'linear'",
            value="logit", allowed=["log", "linear"], field=_schema_at_fault(name, custom))
    if int_scale == "log":
        if high < 1:
            raise SearchSpaceError(f"param {name!r}: log scale needs a positive range, but the range is {iv}",
                                   value=str(iv), allowed="a range with values > 0 (or scale linear)")
        low = max(low, 1)
        log = True
    else:
        log = False
    if low > high:
        raise SearchSpaceError(f"param {name!r}: the range {iv} holds no searchable integer", value=str(iv),
                               allowed="a range holding at least one integer")
    int_default = int(default) if default is not None and default.is_integer() else None
    power_of, multiple_of = grid_rule(name, prop)
    if power_of is not None or multiple_of is not None:
        grid = IntGridParam(name, low, high, power_of, multiple_of)
        return IntGridParam(name, low, high, power_of, multiple_of,
                            default=int_default if grid.contains(int_default) else None)
    return IntParam(name, low, high, log=log, default=_int_inside(int_default, low, high))


def _int_inside(default: int | None, low: int, high: int) -> int | None:
    return default if default is not None and low <= default <= high else None


def split_range_notes(schema: Mapping[str, Any], space: SearchSpace,
                      custom_ranges: Mapping[str, Mapping[str, Any]] | None = None,
                      base: Baseline | None = None) -> list[str]:
    """A note for each int whose ``math_cond`` ``!= x`` cut its range to one side of ``x``
    (:func:`split_range_note`); ``base``: the job's base spec the space was built from (its number at a param is
    the default that chose the side)."""
    notes = []
    for param in space.params:
        prop = get_property(schema, param.name)
        if prop is None:
            continue
        custom = (custom_ranges or {}).get(param.name) or {}
        ends = [custom.get(k) if is_number(custom.get(k)) else None for k in ("valid_min", "valid_max")]
        value: Any = base.value(param.name) if base is not None and base.has(param.name) else None
        based = float(value) if is_finite_number(value) else None  # as build's _from_base
        note = split_range_note(param, prop, ends[0], ends[1], based)
        if note is not None:
            notes.append(note)
    return notes

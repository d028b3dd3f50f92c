"""Floats as text with as few digits as read true: never a whole number a value is not (0.9999996 is no ``1``)."""

from __future__ import annotations

import itertools
import math

TYPE_CHECKING = False  # typing stays out of `tao-automl status`'s start-up (it shows numbers through this module)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


def not_whole(value: float, digits: int) -> str:
    """``value`` with ``digits`` significant digits, or more (one at a time, up to 17) where those read as a whole
    number ``value`` is not, in plain or exponent notation (0.99996 at 4 digits: ``1``; 99999.5 at 4: ``1e+05``;
    1234.5 at 4: ``1234``). A whole value keeps ``digits`` (123456.0 at 4: ``1.235e+05``)."""
    shown = f"{value:.{digits}g}"
    while digits < 17 and _whole_but_not(shown, value):
        digits += 1
        shown = f"{value:.{digits}g}"
    return shown


def apart(value: float, *others: float, digits: int = 6) -> str:
    """``value`` for a message, as :func:`not_whole` shows it at ``digits`` (``:g``'s six by default), with more
    digits where it would read like one of ``others`` shown beside it that it differs from (:func:`distinct_digits`:
    a fixed 0.1234567 beside a range end 0.1234568 read ``0.123457`` alike)."""
    numbers = [float(v) for v in (value, *others)]
    return not_whole(float(value), distinct_digits(numbers, digits))


def _whole_but_not(shown: str, value: float) -> bool:
    try:
        read = float(shown)
    except ValueError:
        return False
    return read.is_integer() and not value.is_integer()  # nan and inf are neither


def distinct_digits(values: Iterable[Any], digits: int, most: int = 17) -> int:
    """The fewest significant digits, from ``digits`` up to ``most``, at which no two different finite floats of
    ``values`` read alike (0.91234567 and 0.91234571 both read 0.912346 at 6); other values are left out."""
    numbers = sorted({v for v in values if isinstance(v, float) and math.isfinite(v)})  # any two alike: neighbours
    while digits < most and any(f"{a:.{digits}g}" == f"{b:.{digits}g}" for a, b in itertools.pairwise(numbers)):
        digits += 1
    return digits

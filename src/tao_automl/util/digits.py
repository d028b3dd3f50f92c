"""Floats as text with as few digits as read true: never a whole number a value is not (0.9999996 is no ``1``)."""

from __future__ import annotations


def not_whole(value: float, digits: int) -> str:
    """``value`` with ``digits`` significant digits, or more (one at a time, up to 17) where those read as a whole
    number ``value`` is not, in plain or exponent notation (0.99996 at 4 digits: ``1``; 99999.5 at 4: ``1e+05``;
    1234.5 at 4: ``1234``). A whole value keeps ``digits`` (123456.0 at 4: ``1.235e+05``)."""
    shown = f"{value:.{digits}g}"
    while digits < 17 and _whole_but_not(shown, value):
        digits += 1
        shown = f"{value:.{digits}g}"
    return shown


def _whole_but_not(shown: str, value: float) -> bool:
    try:
        read = float(shown)
    except ValueError:
        return False
    return read.is_integer() and not value.is_integer()  # nan and inf are neither

"""Is a value a number: the two checks the schema, space and plan code share.

A bool is never a number here (``True`` is an ``int`` to Python, not to a schema). :func:`is_number` lets NaN and
the infinities through (a bound of ``inf`` is one); :func:`is_finite_number` does not (a default, a list element,
an override value)."""

from __future__ import annotations

import math

TYPE_CHECKING = False  # typing stays out of the modules' start-up, as in util.digits
if TYPE_CHECKING:
    from typing import Any, TypeGuard


def is_number(value: Any) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` that is not a bool; NaN and the infinities included."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value: Any) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` that is not a bool, NaN or an infinity."""
    return is_number(value) and math.isfinite(value)

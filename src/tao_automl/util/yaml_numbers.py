"""Why a number written in a YAML config arrived as text: PyYAML (YAML 1.1) reads ``1e-5`` as a string."""

from __future__ import annotations

import re

_EXPONENT_WITHOUT_DOT = re.compile(r"^[+-]?\d+[eE][+-]?\d+$")


def number_as_text_hint(value: object) -> str:
    """`` (YAML reads 1e-5 as text: write 1.0e-5)`` for a string that is a number in exponent form without a dot,
    else ``""``: appended to a "needs a number" error."""
    if not isinstance(value, str) or not _EXPONENT_WITHOUT_DOT.match(value.strip()):
        return ""
    mantissa, _, exponent = value.strip().lower().partition("e")
    return f" (YAML reads {value.strip()} as text, not a number: write {mantissa}.0e{exponent})"

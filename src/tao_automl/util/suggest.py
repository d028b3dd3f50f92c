"""Nearest-name suggestions for error messages ("did you mean ...")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the candidate closest to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A message fragment: ``" (did you mean 'x'?)"`` or an empty string. Besides close spellings, the one
    candidate that begins with a 3+ letter ``name`` (``max`` -> ``maximize``)."""
    pool = list(candidates)
    best = nearest(name, pool)
    if best is None and len(name) >= 3:
        starts = [c for c in pool if c.lower().startswith(name.lower()) and c != name]
        best = starts[0] if len(starts) == 1 else None
    return f" (did you mean {best!r}?)" if best else ""


def one_typo_apart(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by exactly one typing slip: a letter added, dropped, replaced, or two neighbours swapped
    (Damerau-Levenshtein distance 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) < len(b):  # one letter added to a
        return a[i:] == b[i + 1:]
    return a[i + 1:] == b[i + 1:] or (a[i + 2:] == b[i + 2:] and a[i:i + 2] == b[i:i + 2][::-1])

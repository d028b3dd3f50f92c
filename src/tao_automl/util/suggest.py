"""Nearest-name suggestions for error messages ("did you mean ...")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the candidate closest to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A message fragment: ``" (did you mean 'x'?)"`` or an empty string."""
    best = nearest(name, candidates)
    return f" (did you mean {best!r}?)" if best else ""

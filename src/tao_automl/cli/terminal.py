"""What the terminal can show: whether a stream redraws in place, and a line cut to its width (no heavy imports:
`status --watch` uses it)."""

from __future__ import annotations

import os
import shutil
from typing import TextIO


def redraws(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that can redraw in place (not one with ``TERM=dumb``)."""
    return stream.isatty() and os.environ.get("TERM", "") != "dumb"


def fit(line: str) -> str:
    """``line`` cut to the terminal's width, so a redraw in place never wraps onto a second line."""
    width = shutil.get_terminal_size((120, 24)).columns
    return line if len(line) < width else line[: max(10, width - 2)] + "…"

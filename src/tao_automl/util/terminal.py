"""Terminal escape sequences in text a job or an LLM printed."""

from __future__ import annotations

import re

#: A terminal escape sequence: a colour (``\x1b[32m``), a line erase, a cursor move, a window title
#: (``\x1b]0;...\x07``), or a lone ESC.
ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])?")


def without_escapes(text: str) -> str:
    """``text`` without its terminal escape sequences (a coloured word reads as the plain one)."""
    return ESCAPE.sub("", text) if "\x1b" in text else text

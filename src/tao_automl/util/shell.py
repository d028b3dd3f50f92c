"""Paths in the commands a message tells the user to run: quoted, so that a pasted command runs as printed."""

from __future__ import annotations

import shlex


def sh(path: object) -> str:
    """``path`` as one shell word (a folder named ``ws #1`` or ``my runs`` stays one argument)."""
    return shlex.quote(str(path))

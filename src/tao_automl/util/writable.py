"""Whether a folder can really be written, asked by writing: ``os.access`` answers yes to root on a read-only
mount or under ``/proc``, where the first real write then fails."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def unwritable_reason(folder: Path) -> str | None:
    """Why ``folder`` (or, when it does not exist yet, the nearest existing folder above it, where it would be
    made) cannot take a new entry, or None when it can. Probes by making and removing an empty folder there."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return f"no folder above {str(folder)!r} exists"
    if not existing.is_dir():
        return f"{str(existing)!r} is a file"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tao-automl-probe-", dir=existing))
    except OSError as exc:
        return f"{str(existing)!r} cannot be written: {exc.strerror or exc}"
    return None

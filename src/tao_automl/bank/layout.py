"""Where things live in a skill bank: ``<bank>/models`` or ``<bank>/skills/models``, platforms, versions.yaml."""

from __future__ import annotations

import os
from pathlib import Path

from tao_automl.errors import SkillError

BANK_ENV = "TAO_SKILL_BANK_PATH"


def bank_root(path: str | Path | None) -> Path:
    """The bank folder given, or ``$TAO_SKILL_BANK_PATH``; a clear error when neither exists."""
    value = path if path is not None else os.environ.get(BANK_ENV)
    if not value:
        raise SkillError(f"no skill bank given: pass --skill-bank PATH or set {BANK_ENV}", field="--skill-bank",
                         value=None, allowed=f"a TAO skill bank folder (--skill-bank PATH or ${BANK_ENV})",
                         hint=f"pass --skill-bank PATH or set {BANK_ENV}")
    root = Path(value).expanduser()
    if not root.is_dir():
        raise SkillError(f"skill bank {str(root)!r} does not exist or is not a directory", field="--skill-bank",
                         value=str(root), allowed="an existing TAO skill bank folder",
                         hint=f"pass --skill-bank PATH or set {BANK_ENV} to a TAO skill bank folder")
    return root


def _first_dir(root: Path, *candidates: str) -> Path | None:
    for rel in candidates:
        if (root / rel).is_dir():
            return root / rel
    return None


def models_dir(root: Path) -> Path:
    found = _first_dir(root, "models", "skills/models")
    if found is None:
        raise SkillError(f"skill bank {str(root)!r} has no models/ or skills/models/ folder", field="--skill-bank",
                         value=str(root), allowed="a TAO skill bank folder (it holds models/ or skills/models/)",
                         hint=f"pass --skill-bank PATH or set {BANK_ENV} to a TAO skill bank folder")
    return found


def platforms_dir(root: Path) -> Path | None:
    return _first_dir(root, "platform", "skills/platform", "platforms", "skills/platforms")


def versions_file(root: Path) -> Path | None:
    for rel in ("versions.yaml", "skills/versions.yaml"):
        if (root / rel).is_file():
            return root / rel
    return None

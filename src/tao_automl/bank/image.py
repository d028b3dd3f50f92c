"""The container image of an action: a literal URI, or a legacy ``versions.yaml`` key resolved through the bank."""

from __future__ import annotations

from pathlib import Path

from tao_automl.bank.layout import versions_file
from tao_automl.bank.versions import load_versions, resolve_key
from tao_automl.errors import SkillError, UserInputError


def is_versions_key(value: str) -> bool:
    """The legacy form (``tao_toolkit.pyt``): no registry path (``/``) and no tag (``:``)."""
    return "/" not in value and ":" not in value


def find_versions_file(skill_dir: Path) -> Path | None:
    """The bank's versions.yaml: the first folder above ``skill_dir`` that holds one (or ``skills/versions.yaml``)."""
    for folder in skill_dir.resolve().parents:
        found = versions_file(folder)
        if found is not None:
            return found
    return None


def resolve_image(value: str | None, skill_dir: Path) -> str | None:
    """``value`` itself when it is a URI; a versions key looked up in the bank's versions.yaml; None stays None."""
    if not value:
        return None
    if not is_versions_key(value):
        return value
    path = find_versions_file(skill_dir)
    if path is None:
        raise SkillError(f"container_image {value!r} of {skill_dir.name} is a versions key, but no versions.yaml "
                         f"was found in any folder above {str(skill_dir)!r}", field="container_image", value=value,
                         allowed="an image URI, or a versions key of a versions.yaml in a folder above the skill")
    try:
        resolved = resolve_key(load_versions(path), value)
    except UserInputError as exc:
        raise SkillError(f"container_image {value!r} of {skill_dir.name}: cannot resolve in {path}: {exc}",
                         field="container_image", value=value,
                         allowed=exc.allowed or f"an image URI, or a versions key that {path.name} maps to one"
                         ) from None
    if not isinstance(resolved, str) or not resolved:
        raise SkillError(f"container_image {value!r} of {skill_dir.name}: {path} maps it to {resolved!r}, "
                         "not an image URI", field="container_image", value=value,
                         allowed=f"a versions key that {path.name} maps to a non-empty image URI")
    return resolved

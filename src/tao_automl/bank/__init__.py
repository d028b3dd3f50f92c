"""The skill bank shipped inside the package: one small demo network that trains on a CPU in seconds."""

from __future__ import annotations

from pathlib import Path

from tao_automl.errors import SkillError
from tao_automl.util.suggest import did_you_mean

DEFAULT_MODEL = "demo-digits-mlp"


def builtin_bank_path() -> Path:
    """The folder that holds the built-in bank's ``models/`` directory."""
    return Path(__file__).resolve().parent


def builtin_models() -> list[str]:
    """Names of the models in the built-in bank (folders with ``references/skill_info.yaml``)."""
    models = builtin_bank_path() / "models"
    if not models.is_dir():
        return []
    return sorted(p.name for p in models.iterdir() if (p / "references" / "skill_info.yaml").is_file())


def builtin_skill_dir(name: str = DEFAULT_MODEL) -> Path:
    """The skill folder of built-in model ``name``; an unknown name is a :class:`SkillError`."""
    available = builtin_models()
    if name not in available:
        raise SkillError(
            f"skill_dir: {'builtin:' + name!r}: no such built-in model{did_you_mean(name, available)}; "
            f"available: {', '.join(available) or 'none'}",
            field="skill_dir", value=f"builtin:{name}", allowed=[f"builtin:{a}" for a in available],
        )
    return builtin_bank_path() / "models" / name

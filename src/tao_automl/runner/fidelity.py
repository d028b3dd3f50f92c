"""Multi-fidelity plumbing: which spec key holds the epoch budget, and where a rec's checkpoint is."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.errors import SkillError
from tao_automl.util.dotted import flatten

#: Leaf names that hold the training length, most specific first.
EPOCH_LEAVES = ("num_epochs", "epochs", "max_epochs", "num_epoch", "n_epochs")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".npz", ".tlt", ".hdf5", ".h5", ".safetensors")
_EPOCH_IN_NAME = re.compile(r"(?:epoch|ep|e)[_=\-]?(\d+)", re.IGNORECASE)


def find_epoch_key(schema: Mapping[str, Any], action: str = "train", shorthand: Any = None) -> str | None:
    """The dotted spec key of the epoch budget: ``shorthand`` (a skill's ``spec_shorthand_keys.num_epochs``) when
    given, else the first ``EPOCH_LEAVES`` leaf of the schema defaults (``action``'s keys first); None when none."""
    if shorthand:
        return str(shorthand)
    defaults = schema.get("default")
    keys = [key for key, _ in flatten(defaults if isinstance(defaults, Mapping) else {})]
    action_first = sorted(keys, key=lambda k: (not k.startswith(f"{action}."), k.count(".")))
    for leaf in EPOCH_LEAVES:
        for key in action_first:
            if key.rsplit(".", 1)[-1] == leaf:
                return key
    return None


def epoch_key(skill: Skill) -> str:
    """The dotted spec key of the epoch budget: the skill's ``num_epochs`` shorthand, else found in the schema."""
    found = find_epoch_key(skill.schema, skill.action, (skill.info.get("spec_shorthand_keys") or {}).get("num_epochs"))
    if found:
        return found
    raise SkillError(
        f"model {skill.name!r}: multi-fidelity search needs the epoch key, but neither spec_shorthand_keys.num_epochs "
        f"in skill_info.yaml nor a {'/'.join(EPOCH_LEAVES)} key in the schema defaults exists"
    )


def resumes_from_checkpoint(skill: Skill) -> bool:
    """Whether the skill's spec has a key a job resumes a checkpoint from (the ``resume_model`` role)."""
    return "resume_model" in skill.spec_params.values()


def _epoch_of(path: Path) -> int:
    match = _EPOCH_IN_NAME.findall(path.stem)
    return int(match[-1]) if match else -1


def latest_checkpoint(results_dir: str | Path) -> Path | None:
    """The newest checkpoint under ``results_dir``: highest epoch number in the name, then modification time."""
    root = Path(results_dir)
    if not root.is_dir():
        return None
    found = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES]
    if not found:
        return None
    return max(found, key=lambda p: (_epoch_of(p), p.stat().st_mtime))

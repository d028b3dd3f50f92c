"""Multi-fidelity plumbing: which spec key holds the epoch budget, and where a rec's checkpoint is."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.errors import SkillError
from tao_automl.schema.access import get_property, schema_defaults
from tao_automl.util.dotted import flatten

#: Leaf names that hold the training length, most specific first.
EPOCH_LEAVES = ("num_epochs", "epochs", "max_epochs", "num_epoch", "n_epochs")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".npz", ".tlt", ".hdf5", ".h5", ".safetensors")
_EPOCH_IN_NAME = re.compile(r"(?:epoch|ep|e)[_=\-]?(\d+)", re.IGNORECASE)


def find_epoch_key(schema: Mapping[str, Any], action: str = "train", shorthand: Any = None) -> str | None:
    """The dotted spec key of the epoch budget: ``shorthand`` (a skill's ``spec_shorthand_keys.num_epochs``) when
    given, else the first ``EPOCH_LEAVES`` leaf of the schema defaults (its top-level ``default``, else its
    properties' defaults; ``action``'s keys first); None when none."""
    if shorthand:
        return str(shorthand)
    keys = [key for key, _ in flatten(schema_defaults(schema))]  # the top-level default, else the properties'
    action_first = sorted(keys, key=lambda k: (not k.startswith(f"{action}."), k.count(".")))
    for leaf in EPOCH_LEAVES:
        for key in action_first:
            if key.rsplit(".", 1)[-1] == leaf:
                return key
    return None


#: The skill_info.yaml entry naming the epoch key (the field errors about it name).
EPOCH_SHORTHAND_FIELD = "spec_shorthand_keys.num_epochs"
_NO_EPOCH_KEY_HINT = ("add spec_shorthand_keys.num_epochs (the spec key the trainer reads its epoch count from) to the "
                      "model's skill_info.yaml, or set automl_settings.algorithm to a brain that needs no epoch key "
                      "(bayesian, tpe, random)")


def _spec_keys(skill: Skill) -> set[str]:
    """Every dotted key of the schema's defaults and of the spec template: where a trainer reads its settings."""
    keys = {key for key, _ in flatten(schema_defaults(skill.schema))}
    keys |= {key for key, _ in flatten(skill.template or {})}
    return keys


def epoch_key(skill: Skill) -> str:
    """The dotted spec key of the epoch budget: the skill's ``num_epochs`` shorthand, else found in the schema.

    A shorthand must name a key of the schema (its defaults or properties) or of the spec template: a budget
    written to a key the trainer never reads would train every rec for the trainer's own epoch count while the
    run reports the budgets it asked for."""
    shorthand = skill.spec_shorthand_keys.get("num_epochs")
    found = find_epoch_key(skill.schema, skill.action, shorthand)
    if found and shorthand:
        keys = _spec_keys(skill)
        if found not in keys and get_property(skill.schema, found) is None:
            like = sorted(k for k in keys if k.rsplit(".", 1)[-1] in EPOCH_LEAVES)
            raise SkillError(
                f"model {skill.name!r}: skill_info.yaml's {EPOCH_SHORTHAND_FIELD} is {found!r}, which is neither in "
                f"the train schema nor in the spec template, so an epoch budget written there would not reach the "
                f"trainer" + (f" (did you mean {like[0]!r}?)" if like else ""),
                field=EPOCH_SHORTHAND_FIELD, value=found,
                allowed=like or "a dotted key of the train schema or spec template",
                hint=f"correct {EPOCH_SHORTHAND_FIELD} in {skill.path / 'references' / 'skill_info.yaml'}")
    if found:
        return found
    raise SkillError(
        f"model {skill.name!r}: multi-fidelity search needs the epoch key, but neither spec_shorthand_keys.num_epochs "
        f"in skill_info.yaml nor a {'/'.join(EPOCH_LEAVES)} key in the schema defaults exists",
        field=EPOCH_SHORTHAND_FIELD, value=None, allowed="a dotted key of the train schema, e.g. train.num_epochs",
        hint=_NO_EPOCH_KEY_HINT)


def spec_epochs(skill: Skill, spec: Mapping[str, Any]) -> int | None:
    """The epoch budget a rendered spec asks for (a rec's ``budget`` when no multi-fidelity brain set one); None
    when the skill has no epoch key or the spec holds no whole number there."""
    from tao_automl.render.paths import get_path

    try:
        value = get_path(spec, epoch_key(skill))
    except (SkillError, ValueError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def epoch_family(skill: Skill | None, key: str) -> tuple[str, ...]:
    """``key`` and, when the skill does not name its epoch key (``spec_shorthand_keys.num_epochs``), every other
    epoch-count key beside it in the schema defaults (``train.epochs`` beside ``train.num_epochs``, a schema that
    asks for both to be kept equal): a budget written to only one of them may not be the one the trainer reads."""
    if skill is None or skill.spec_shorthand_keys.get("num_epochs"):
        return (key,)
    parent, _, _ = key.rpartition(".")
    twins = [k for k, _ in flatten(schema_defaults(skill.schema))
             if k != key and k.rpartition(".")[2] in EPOCH_LEAVES and k.rpartition(".")[0] == parent]
    return (key, *twins)


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

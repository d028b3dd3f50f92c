"""The spec keys that say how many GPUs and nodes a job has, set to what the platform gives it.

A skill names its GPU-count key (``gpu_spec_key`` in skill_info.yaml, e.g. ``train.num_gpus``). A job launched with
``gpu_count: 2`` whose spec still says ``num_gpus: 1`` trains on one of the two GPUs it holds, so each rec's spec
gets ``gpu_count`` there; a ``gpu_ids`` list beside it becomes ``[0, .., gpu_count - 1]`` (the platform makes the
job's GPUs visible to it as the first ``gpu_count`` devices), and a ``num_nodes`` beside it the platform's
``num_nodes`` when one is given. A ``gpu_count`` of 0 (a CPU-only run: a trial on a laptop) leaves the spec as it is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tao_automl.bank.skill import Skill
from tao_automl.errors import UserInputError
from tao_automl.render.job import base_spec, resolve_overrides
from tao_automl.render.paths import has_path

#: The GPU count a job gets when ``platform_kwargs`` does not say (the platform protocol's default).
DEFAULT_GPU_COUNT = 1
#: The most GPUs a job may ask for: far beyond any node, low enough that a spec's ``gpu_ids`` list stays small.
MAX_GPU_COUNT = 1024


def check_gpu_count(value: Any) -> None:
    """Refuse an integer ``gpu_count`` above :data:`MAX_GPU_COUNT` (its type and lower bound are checked with the
    platform's arguments)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_GPU_COUNT:
        raise UserInputError(f"platform_kwargs.gpu_count: {value!r} is not allowed; expected an integer from 0 to "
                             f"{MAX_GPU_COUNT} (the GPUs one job asks for)", field="platform_kwargs.gpu_count",
                             value=value, allowed=f"an integer from 0 to {MAX_GPU_COUNT}")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def resource_overrides(skill: Skill, platform_kwargs: Mapping[str, Any], spec_overrides: Mapping[str, Any],
                       searched: Collection[str] = ()) -> dict[str, Any]:
    """The spec values (dotted key -> value) that match each job's spec to its ``gpu_count`` and ``num_nodes``; a
    user's ``spec_overrides`` value for the GPU or node count that disagrees is refused (the job would be told a
    count it does not have), one for ``gpu_ids`` is kept as given; so is a count key in ``searched`` (the params of
    the search space): every rec would be told the platform's count, not its own."""
    key = skill.info.get("gpu_spec_key")
    check_gpu_count(platform_kwargs.get("gpu_count"))  # before a gpu_ids list that long is built
    gpus = _count(platform_kwargs.get("gpu_count", DEFAULT_GPU_COUNT))
    if not isinstance(key, str) or not key or gpus is None or gpus < 1:
        return {}
    spec = base_spec(skill)
    parent = key.rsplit(".", 1)[0] + "." if "." in key else ""
    wanted: dict[str, tuple[Any, str]] = {key: (gpus, "gpu_count")}
    if has_path(spec, f"{parent}gpu_ids"):
        wanted[f"{parent}gpu_ids"] = (list(range(gpus)), "gpu_count")
    nodes = _count(platform_kwargs.get("num_nodes"))
    if nodes is not None and nodes >= 1 and has_path(spec, f"{parent}num_nodes"):
        wanted[f"{parent}num_nodes"] = (nodes, "num_nodes")
    taken = [k for k in wanted if k in searched]
    if taken:
        raise UserInputError(
            f"automl_hyperparameters: {taken[0]} is searched, but each job's {taken[0]} is the platform's count "
            f"({wanted[taken[0]][0]}, platform_kwargs.{wanted[taken[0]][1]}); drop it from the search",
            field="automl_hyperparameters", value=taken[0], allowed="a key other than the GPU and node counts")
    given = resolve_overrides(skill, spec, spec_overrides)
    out: dict[str, Any] = {}
    for spec_key, (value, source) in wanted.items():
        if spec_key not in given:
            out[spec_key] = value
        elif not spec_key.endswith("gpu_ids") and given[spec_key] != value:
            raise UserInputError(
                f"spec_overrides.{spec_key}: {given[spec_key]!r} disagrees with platform_kwargs.{source} ({value}): "
                f"each job is given {value} and tao-automl writes that to {spec_key}; drop it from spec_overrides, "
                f"or set platform_kwargs.{source} to {given[spec_key]!r}",
                field=f"spec_overrides.{spec_key}", value=given[spec_key], allowed=[value],
                hint=f"set platform_kwargs.{source} instead of spec_overrides.{spec_key}")
    return out

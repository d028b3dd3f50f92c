"""The platform keyword arguments of a run (``platform_kwargs``): which ones an SDK's ``create_job`` takes, and
the given ones checked against them (names, counts, the platform's own value checks) before anything is created."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping
from typing import Any

from tao_automl.errors import UserInputError
from tao_automl.platforms.base import as_platform, unwrap
from tao_automl.platforms.common import as_setting_error
from tao_automl.runner.resources import DEFAULT_GPU_COUNT, check_gpu_count
from tao_automl.util.suggest import did_you_mean
from tao_automl.util.yaml_numbers import number_as_text_hint

#: ``create_job`` arguments the runner fills itself; a platform keyword argument may not set them.
RUNNER_FILLS = ("image", "command", "env_vars", "inputs", "outputs", "job_name")


def accepted_job_kwargs(target: Any) -> list[str]:
    """The platform keyword arguments ``target`` (an SDK or its class) takes: its ``create_job``'s named parameters
    and the names it declares in ``job_kwargs``, ``gpu_count`` always, less what the runner fills itself."""
    params = inspect.signature(target.create_job).parameters
    named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}  # a class
    # gpu_count: the protocol's own parameter, which every SDK takes, even behind *args/**kwargs
    return sorted((named | set(getattr(target, "job_kwargs", None) or ()) | {"gpu_count"}) - set(RUNNER_FILLS))


def sdk_options(target: Any) -> set[str]:
    """The named constructor options of ``target`` (an SDK or its class); empty when they cannot be read."""
    cls = target if isinstance(target, type) else type(target)
    try:
        params = inspect.signature(cls).parameters  # the constructor's, without self
    except (TypeError, ValueError):
        return set()
    return {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}


def checked_job_kwargs(sdk: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` checked against what ``sdk.create_job`` accepts (its named parameters and the names it declares in
    ``job_kwargs``), with a did-you-mean; ``gpu_count``/``num_nodes`` must be counts the platform can run."""
    target = unwrap(sdk)
    label = target.__name__ if isinstance(target, type) else type(target).__name__  # a class: preflight, no SDK
    if not callable(getattr(target, "create_job", None)):
        raise UserInputError(f"platform: {label} has no create_job(); it is not a platform SDK",
                             field="platform", value=label, allowed="a platform SDK")
    open_ended = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target.create_job).parameters.values())
    declared = getattr(target, "job_kwargs", None)
    accepted = accepted_job_kwargs(target)
    for key, value in kwargs.items():
        if key in RUNNER_FILLS:
            raise UserInputError(f"platform_kwargs.{key}: {value!r} is not allowed: the runner sets it for every "
                                 "rec; remove it",
                                 field=f"platform_kwargs.{key}", value=value, allowed=accepted)
        if key not in accepted and (declared is not None or not open_ended):
            if key in sdk_options(target):  # e.g. Kubernetes' namespace: the SDK's, for every job of the run
                raise UserInputError(
                    f"platform_kwargs.{key}: not accepted by {label}.create_job: {key} is an option of {label} for "
                    f"the whole run, not of each job; pass {label}({key}=...) (in a run config: "
                    f"platform_options.{key}); allowed per job: {', '.join(accepted)}",
                    field=f"platform_kwargs.{key}", value=value, allowed=accepted,
                    hint=f"set {key} on the SDK: {label}({key}=...) or platform_options.{key}")
            raise UserInputError(
                f"platform_kwargs.{key}: not accepted by {label}.create_job"
                f"{did_you_mean(key, accepted)}; allowed: {', '.join(accepted)}", field=f"platform_kwargs.{key}",
                value=value,
                allowed=accepted)
    if "gpu_count" in kwargs:
        _count("gpu_count", kwargs["gpu_count"], 0)
        check_gpu_count(kwargs["gpu_count"])
    if "num_nodes" in kwargs and _count("num_nodes", kwargs["num_nodes"], 1) > 1 \
            and not getattr(target, "multi_node", True):
        raise UserInputError(f"platform_kwargs.num_nodes: {kwargs['num_nodes']!r} is not allowed; "
                             f"{label} runs each job on one host; expected 1 (use gpu_count for "
                             "several GPUs, or slurm/kubernetes/lepton for multi-node jobs)",
                             field="platform_kwargs.num_nodes", value=kwargs["num_nodes"], allowed="1")
    if isinstance(target, type):  # the class of an SDK that could not be built: the names only
        return dict(kwargs)
    options = {k: v for k, v in kwargs.items() if k != "gpu_count"}
    try:  # the values, as create_job would check them: a bad one stops the run before anything is created
        as_platform(sdk).validate_job(int(kwargs.get("gpu_count", DEFAULT_GPU_COUNT)), options)
    except UserInputError as exc:
        raise as_setting_error(exc, "platform_kwargs", kwargs, accepted) from None
    return dict(kwargs)


def _count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        hint = number_as_text_hint(value, integer=True, refuses=lambda n: "" if n >= low else f"an integer >= {low}")
        raise UserInputError(f"platform_kwargs.{name}: {value!r} is not allowed; expected an integer >= {low}{hint}",
                             field=f"platform_kwargs.{name}", value=value, allowed=f"an integer >= {low}")
    return int(value)

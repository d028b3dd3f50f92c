"""Preflight: whether one rec's pod fits a node of the cluster (pure: the nodes as the API lists them).

A pod that asks for more CPU or memory than any schedulable node has stays ``Pending`` for ever (``0/N nodes are
available: Insufficient cpu``); the check names the setting, its value and the most a node offers. GPUs that no
node lists are "not confirmed" only: clusters often add GPU nodes on demand (a cluster autoscaler)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tao_automl.errors import UserInputError
from tao_automl.platforms.base import PlatformCheck
from tao_automl.platforms.kubernetes.manifest import GPU_RESOURCE, QUANTITY

#: The value of each suffix of :data:`QUANTITY` (the manifest's grammar, which both checks and parses use).
_SUFFIX: dict[str, Decimal] = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6),
    "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18), "Ki": Decimal(2**10),
    "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50), "Ei": Decimal(2**60)}


def quantity(text: object) -> Decimal | None:
    """A Kubernetes quantity ('500m', '8Gi', '1e3') as a number; None for what is not one (what the manifest's
    check refuses: both read :data:`QUANTITY`)."""
    match = QUANTITY.match(str(text))
    if not match:
        return None
    number, suffix, exponent = Decimal(match["number"]), match["suffix"], match["exponent"]
    try:
        if exponent is not None:
            return number.scaleb(int(exponent))
        return number * _SUFFIX[suffix] if suffix else number
    except (ArithmeticError, ValueError):  # an exponent past what a Decimal (or an int) holds
        return None


def _usable(node: Mapping[str, Any], selector: Mapping[str, str]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return not (node.get("spec") or {}).get("unschedulable") and all(labels.get(k) == v for k, v in selector.items())


def _no_node(nodes: Sequence[Mapping[str, Any]], selector: Mapping[str, str], setting: str) -> PlatformCheck:
    """No schedulable node may run the pod: ``selector`` matches none (the values the schedulable nodes have for
    its keys are named), or every node is cordoned. Not confirmed, as GPUs: an autoscaler may add such a node."""
    schedulable = [n for n in nodes if not (n.get("spec") or {}).get("unschedulable")]
    if selector and schedulable:
        have = {key: sorted({str(((n.get("metadata") or {}).get("labels") or {}).get(key)) for n in schedulable})
                for key in selector}
        found = "; ".join(f"{key}: {', '.join(repr(v) if v != 'None' else 'not set' for v in values)}"
                          for key, values in have.items())
        detail = (f"{setting}={dict(selector)}: not confirmed: no schedulable node matches it (the {len(schedulable)} "
                  f"schedulable node(s) have {found})")
    else:
        detail = f"not confirmed: none of the {len(nodes)} node(s) is schedulable (cordoned or none listed)"
    return PlatformCheck("resources", None, f"{detail}; unless a cluster autoscaler adds such a node, the jobs stay "
                         "Pending for ever")


def resources_check(nodes: Sequence[Mapping[str, Any]], limits: Mapping[str, str], selector: Mapping[str, str],
                    settings: Mapping[str, str]) -> PlatformCheck:
    """``limits`` (cpu, memory, nvidia.com/gpu of one pod) against the allocatable of the ``nodes`` the pod may run
    on (schedulable, matching ``selector``); ``settings``: the setting each resource comes from."""
    usable = [n for n in nodes if _usable(n, selector)]
    if not usable:
        return _no_node(nodes, selector, settings.get("node_selector", "node_selector"))
    where = f"{len(usable)} schedulable node(s)" + (f" matching node_selector {dict(selector)}" if selector else "")
    asked = ", ".join(f"{k}={v}" for k, v in limits.items()) or "no cpu, memory or GPU limit"
    for resource, value in limits.items():
        want = quantity(value)
        have = [quantity(((n.get("status") or {}).get("allocatable") or {}).get(resource, "0")) or Decimal(0)
                for n in usable]
        if want is None or any(h >= want for h in have):
            continue
        largest = max(have, default=Decimal(0))
        setting = settings.get(resource, resource)
        if resource == GPU_RESOURCE:
            return PlatformCheck("resources", None, f"{setting}={value}: not confirmed: none of the {where} lists "
                                 f"{value} {GPU_RESOURCE} (the most is {largest.normalize():f}); unless a cluster "
                                 "autoscaler adds GPU nodes, the jobs stay Pending for ever; for CPU jobs set "
                                 "platform_kwargs.gpu_count: 0")
        allowed = f"at most {largest.normalize():f} (the largest allocatable {resource} of the {where})"
        detail = (f"{setting}: {value!r} is more {resource} than any of the {where} has; the jobs would stay "
                  f"Pending for ever")
        return PlatformCheck("resources", False, detail, error=UserInputError(
            f"{detail}; allowed: {allowed}", field=setting, value=value, allowed=allowed))
    return PlatformCheck("resources", True, f"{asked}: fits one of the {where}")


#: The ResourceQuota admission's refusal: "exceeded quota: NAME, requested: k=v,..., used: k=v,..., limited: k=v,...".
_QUOTA_REFUSAL = re.compile(r"requested: (?P<requested>\S+), used: (?P<used>\S+), limited: (?P<limited>[^\s,]+(?:,"
                            r"[^\s,]+)*)")


def _pairs(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


def quota_never_fits(message: str) -> str:
    """For a ResourceQuota refusal, the resources a single Job asks more of than the quota's limit ("requests.cpu=4
    > limited 2"): room never comes for them. Empty when every refused resource is only in use (or the message is
    not one)."""
    match = _QUOTA_REFUSAL.search(message)
    if not match:
        return ""
    requested, limited = _pairs(match["requested"]), _pairs(match["limited"])
    over = []
    for key, asked in requested.items():
        asked_n, limit_n = quantity(asked), quantity(limited.get(key))
        if asked_n is not None and limit_n is not None and asked_n > limit_n:
            over.append(f"{key}={asked} > limited {limited[key]}")
    return "; ".join(over)

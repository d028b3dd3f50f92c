"""Turning a ``create_job`` request into Kubernetes manifests (pure: no cluster, no client needed).

One rec is one ``batch/v1`` Job. With ``num_nodes > 1`` it is an Indexed Job (``completionMode:
Indexed``, ``completions = parallelism = num_nodes``) plus a headless Service of the same name whose
DNS gives every pod a stable address (``<job>-<index>.<job>``); pods get ``NODE_RANK``, ``NUM_NODES``,
``MASTER_ADDR`` and ``MASTER_PORT``. Host paths (results dir, the spec file's folder, and read-only the dataset and
checkpoint paths of the job's ``inputs``) are mounted at the same path, which assumes every node sees them (shared
storage, or a single node).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tao_automl.errors import UserInputError
from tao_automl.platforms.common import check_flag, check_int
from tao_automl.platforms.docker.spec import (
    REC_SUFFIX,
    command_file_dirs,
    entrypoint_args,
    environment,
    input_paths,
    parse_mounts,
)
from tao_automl.platforms.kubernetes.validate import (
    LABEL_KEY_ALLOWED,
    LABEL_VALUE_ALLOWED,
    is_label_key,
    is_label_value,
    label_selector,
    subdomain,
)
from tao_automl.util.suggest import did_you_mean

LABEL_PREFIX = "tao-automl/"
JOB_LABEL = f"{LABEL_PREFIX}job"
CONTAINER = "main"
GPU_RESOURCE = "nvidia.com/gpu"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
#: The file (``<results dir>/.tao-automl-exit.<job>.<rank>``) where a pod records its command's exit status: read
#: when the Job is gone before it was seen to finish (removed by ttl_seconds_after_finished while no orchestrator
#: polled), so a job that ended by itself keeps its outcome.
EXIT_FILE_PREFIX = ".tao-automl-exit."
#: ``sh -c`` script run as the container's PID 1: runs the command (``"$@"``), forwards SIGTERM (the kubelet's stop
#: signal, which ``sh`` as PID 1 would otherwise ignore) to the command's process group, waits for it, writes
#: ``<exit status>`` (``<exit status> TERM`` when the pod was stopped by a signal) to ``$1.<rank>`` and exits with
#: the command's status unchanged. A ``wait`` the trap interrupted returns 143, not the command's status: when the
#: command ended and was reaped before ``kill -0`` looked, one more ``wait`` fetches its status (127: fetched already).
EXIT_RECORDER = (
    'f="$1.${JOB_COMPLETION_INDEX:-0}"; shift; sig=; '
    "trap 'sig=\" TERM\"; trap \"\" TERM; kill -TERM 0 2>/dev/null' TERM; "
    '"$@" & pid=$!; wait "$pid"; code=$?; '
    'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; code=$?; done; '
    'if [ -n "$sig" ]; then wait "$pid" 2>/dev/null; c=$?; [ "$c" = 127 ] || code=$c; fi; '
    '{ echo "$code$sig" > "$f"; } 2>/dev/null; exit "$code"'
)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*\Z")
#: A quantity the API server takes for cpu/memory (apimachinery's ``resource.Quantity``, without a sign: a limit is
#: never negative): a number (``2``, ``1.5``, ``1.``, ``.5``), then a binary suffix (``Ki`` .. ``Ei``), a decimal one
#: (``n``, ``u``, ``m``, ``k``, ``M`` .. ``E``) or an exponent (``e3``, ``E-3``; ``1E`` is 1 exa). The one grammar
#: of both the manifest's check and :func:`tao_automl.platforms.kubernetes.fit.quantity`'s parse.
QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
                      r"(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE](?P<exponent>[-+]?[0-9]+))?\Z")
_QUANTITY_ALLOWED = "a Kubernetes quantity such as '2', '500m', '.5Gi' or '8Gi'"


def k8s_name(job_name: str | None, fallback: str) -> str:
    """A deterministic DNS-1035 name (<= 52 chars, room for ``-<index>``) for a job name: slug + hash."""
    if not job_name:
        return fallback
    slug = re.sub(r"[^a-z0-9-]+", "-", job_name.lower()).strip("-")[:37].strip("-") or "job"
    digest = hashlib.sha256(job_name.encode("utf-8")).hexdigest()[:10]
    return f"tao-{slug}-{digest}"


def _optional_int(name: str, value: object, minimum: int) -> int | None:
    return None if value is None else check_int(name, value, minimum)


def labels_for(name: str, job_name: str | None, extra: object) -> dict[str, str]:
    """Labels that select the job's pods and identify its run and rec (from ``<run>-recNNNN``)."""
    labels = {JOB_LABEL: name, f"{LABEL_PREFIX}managed": "true"}
    match = REC_SUFFIX.match(job_name or "")
    if match and is_label_value(match["run"]) and len(match["run"]) <= 63:
        labels[f"{LABEL_PREFIX}run"] = match["run"]
        labels[f"{LABEL_PREFIX}rec"] = str(int(match["rec"]))
    user = label_selector("labels", extra)  # keys and values as the API server checks them
    own = sorted(key for key in user if key.startswith(LABEL_PREFIX))
    if own:
        allowed = f"a mapping of label key -> label value; keys not starting with {LABEL_PREFIX!r} (this tool's own)"
        raise UserInputError(f"labels: {', '.join(own)} would replace the labels this tool finds its jobs and pods by; "
                             f"allowed: {allowed}", field="labels", value=extra, allowed=allowed)
    return {**labels, **user}


TOLERATIONS_ALLOWED = ("a list of mappings with the keys key, operator (Equal or Exists), value, effect (NoSchedule, "
                       "PreferNoSchedule or NoExecute) and tolerationSeconds (an integer, with effect NoExecute), e.g. "
                       "[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]")


def _refuse_toleration(value: object, why: str) -> UserInputError:
    return UserInputError(f"tolerations: {why}; allowed: {TOLERATIONS_ALLOWED}", field="tolerations", value=value,
                          allowed=TOLERATIONS_ALLOWED)


def tolerations(value: object) -> list[dict[str, Any]]:
    """Validated pod tolerations: a list of mappings with the Kubernetes keys (camelCase), checked as the API server
    checks them (so a bad one stops the run before any Job, instead of failing every rec with HTTP 422)."""
    if value is None:
        return []
    if isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str):
        raise UserInputError(f"tolerations must be a list of mappings, got {value!r}", field="tolerations",
                             value=value, allowed=TOLERATIONS_ALLOWED)
    return [_toleration(value, item) for item in value]


def _toleration(value: object, item: object) -> dict[str, Any]:
    """One toleration of ``value``, checked."""
    if not isinstance(item, Mapping):
        raise _refuse_toleration(value, f"each entry must be a mapping, got {item!r}")
    unknown = sorted(set(map(str, item)) - _TOLERATION_KEYS)
    if unknown:
        hint = did_you_mean(unknown[0], _TOLERATION_KEYS)
        raise _refuse_toleration(value, f"unknown key {unknown[0]!r}{hint}")
    key, operator = item.get("key") or "", item.get("operator", "Equal")
    if operator not in ("Equal", "Exists"):
        raise _refuse_toleration(value, f"operator must be 'Equal' or 'Exists', got {operator!r}")
    if not isinstance(key, str) or (key and not is_label_key(key)):
        raise _refuse_toleration(value, f"key {key!r} is not a label key ({LABEL_KEY_ALLOWED})")
    if not key and operator != "Exists":
        raise _refuse_toleration(value, "an entry without key must have operator 'Exists' (it then matches every "
                                        f"taint), got {operator!r}")
    tolerated = "" if item.get("value") is None else item["value"]
    if operator == "Exists" and tolerated != "":
        raise _refuse_toleration(value, f"an entry with operator 'Exists' takes no value, got {tolerated!r}")
    if not isinstance(tolerated, str) or not is_label_value(tolerated):
        raise _refuse_toleration(value, f"value {tolerated!r} is not a label value ({LABEL_VALUE_ALLOWED})")
    if "effect" in item and item["effect"] not in _EFFECTS:
        raise _refuse_toleration(value, f"effect must be one of {', '.join(_EFFECTS)}, got {item['effect']!r}")
    seconds = item.get("tolerationSeconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
        raise _refuse_toleration(value, f"tolerationSeconds must be an integer, got {seconds!r}")
    if seconds is not None and item.get("effect") != "NoExecute":
        raise _refuse_toleration(value, "tolerationSeconds needs effect 'NoExecute', got effect "
                                        f"{item.get('effect')!r}")
    return dict(item)


def _quantity(name: str, value: object) -> str:
    text = str(value)
    if isinstance(value, bool) or not QUANTITY.match(text):
        raise UserInputError(f"{name} must be {_QUANTITY_ALLOWED}, got {value!r}", field=name, value=value,
                             allowed=_QUANTITY_ALLOWED)
    return text


def resources(gpu_count: int, cpu: object, memory: object) -> dict[str, dict[str, str]]:
    """Container resources: ``nvidia.com/gpu`` limit for GPUs; cpu/memory as request and limit."""
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if gpu_count:
        limits[GPU_RESOURCE] = str(gpu_count)
    if cpu is not None:
        limits["cpu"] = requests["cpu"] = _quantity("cpu", cpu)
    if memory is not None:
        limits["memory"] = requests["memory"] = _quantity("memory", memory)
    out: dict[str, dict[str, str]] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _env(env_vars: Mapping[str, Any] | None, name: str, num_nodes: int, master_port: int) -> list[dict[str, Any]]:
    for key in env_vars or {}:
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            allowed = "names of letters, digits and '_', not starting with a digit"
            raise UserInputError(f"env_vars key {key!r} is not a valid environment variable name; allowed: {allowed}",
                                 field="env_vars", value=key, allowed=allowed)
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in environment(env_vars).items()]
    if num_nodes > 1:
        index = {"valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}}
        env += [{"name": "NODE_RANK", **index}, {"name": "JOB_COMPLETION_INDEX", **index},
                {"name": "NUM_NODES", "value": str(num_nodes)}, {"name": "MASTER_ADDR", "value": f"{name}-0.{name}"},
                {"name": "MASTER_PORT", "value": str(master_port)}]
    return env


def exit_file(results_dir: str, name: str, rank: int | None = None) -> str:
    """Where rank ``rank`` of Job ``name`` records its command's exit status (see ``EXIT_RECORDER``); without a
    rank, the path less its ``.<rank>``."""
    path = f"{results_dir.rstrip('/')}/{EXIT_FILE_PREFIX}{name}"
    return path if rank is None else f"{path}.{rank}"


def container_command(command: str | Sequence[str], results_dir: str, name: str) -> list[str]:
    """The container's command: a shell command (already run by ``sh -c``) runs under ``EXIT_RECORDER``, which
    records its exit status in the results dir; a list command runs as it is (the image may have no shell), and
    records none."""
    argv = entrypoint_args(command)
    if not isinstance(command, str):
        return argv
    return ["sh", "-c", EXIT_RECORDER, "tao-automl", exit_file(results_dir, name), *argv]


def host_volumes(command: str | Sequence[str], results_dir: str, mounts: Sequence[object],
                 mount_command_paths: bool, inputs: Mapping[str, Any] | None = None,
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """hostPath volumes and their mounts: results dir and the command's file folders at the same path, the
    ``inputs`` paths (datasets, checkpoints: :func:`~tao_automl.platforms.docker.spec.input_paths`) read-only at the
    same path, then ``mounts`` (host path -> container path, ``:ro`` for read-only)."""
    binds: dict[str, tuple[str, bool, str]] = {results_dir: (results_dir, False, "DirectoryOrCreate")}
    for folder in command_file_dirs(command) if mount_command_paths else []:
        binds.setdefault(folder, (folder, False, "Directory"))
    for path in input_paths(inputs) if mount_command_paths else []:
        binds.setdefault(path, (path, True, "Directory" if Path(path).is_dir() else "File"))
    for extra in mounts:
        for host, spec in parse_mounts(extra).items():
            binds[host] = (spec["bind"], spec["mode"] == "ro", "Directory")
    volumes, volume_mounts = [], []
    for i, (host, (target, read_only, kind)) in enumerate(binds.items()):
        volumes.append({"name": f"host-{i}", "hostPath": {"path": host, "type": kind}})
        volume_mounts.append({"name": f"host-{i}", "mountPath": target, "readOnly": read_only})
    return volumes, volume_mounts


def job_manifest(
    *, name: str, image: str, command: str | Sequence[str], gpu_count: int, env_vars: Mapping[str, Any] | None,
    results_dir: str, job_name: str | None, kwargs: Mapping[str, Any], defaults: Mapping[str, Any],
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``batch/v1`` Job for one rec (kwargs override the SDK's ``defaults``; ``inputs``: the job's dataset and
    checkpoint paths, mounted read-only)."""
    def opt(key: str) -> Any:
        return kwargs[key] if kwargs.get(key) is not None else defaults.get(key)

    num_nodes = check_int("num_nodes", kwargs.get("num_nodes", 1), 1)
    master_port = check_int("master_port", opt("master_port") or 29500, 1)
    pull = opt("image_pull_policy") or "IfNotPresent"
    if pull not in PULL_POLICIES:
        raise UserInputError(f"image_pull_policy must be one of {', '.join(PULL_POLICIES)}, got {pull!r}",
                             field="image_pull_policy", value=pull, allowed=list(PULL_POLICIES))
    volumes, volume_mounts = host_volumes(command, results_dir, [defaults.get("mounts"), kwargs.get("mounts")],
                                          check_flag("mount_command_paths", opt("mount_command_paths")
                                                if "mount_command_paths" in kwargs
                                                else defaults.get("mount_command_paths", True)), inputs)
    container: dict[str, Any] = {
        "name": CONTAINER, "image": image, "command": container_command(command, results_dir, name),
        "imagePullPolicy": pull,
        "env": _env(env_vars, name, num_nodes, master_port), "volumeMounts": volume_mounts,
        "resources": resources(gpu_count, opt("cpu"), opt("memory")),
    }
    if opt("working_dir") is not None:
        if not str(opt("working_dir")).startswith("/"):
            raise UserInputError(f"working_dir: {opt('working_dir')!r} must be an absolute path",
                                 field="working_dir", value=opt("working_dir"), allowed="an absolute path in the image")
        container["workingDir"] = str(opt("working_dir"))
    labels = labels_for(name, job_name, opt("labels"))
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container], "volumes": volumes,
                           "nodeSelector": label_selector("node_selector", opt("node_selector")),
                           "tolerations": tolerations(opt("tolerations"))}
    grace = _optional_int("termination_grace_period_s", opt("termination_grace_period_s"), 0)
    if grace is not None:
        pod["terminationGracePeriodSeconds"] = grace
    if check_flag("host_network", opt("host_network") or False):
        pod.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    if opt("service_account"):
        pod["serviceAccountName"] = subdomain("service_account", opt("service_account"))
    if opt("image_pull_secret"):
        pod["imagePullSecrets"] = [{"name": subdomain("image_pull_secret", opt("image_pull_secret"))}]
    if opt("shm_size") is not None:
        pod["volumes"].append({"name": "dshm", "emptyDir": {"medium": "Memory",
                                                            "sizeLimit": _quantity("shm_size", opt("shm_size"))}})
        volume_mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    spec: dict[str, Any] = {
        "backoffLimit": check_int("backoff_limit", opt("backoff_limit") if opt("backoff_limit") is not None else 0, 0),
        "completions": num_nodes, "parallelism": num_nodes,
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if num_nodes > 1:
        spec["completionMode"] = "Indexed"
        pod["subdomain"] = name
    ttl = _optional_int("ttl_seconds_after_finished", opt("ttl_seconds_after_finished"), 0)
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    deadline = _optional_int("time_limit_s", opt("time_limit_s"), 1)
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    annotations = {f"{LABEL_PREFIX}results-dir": results_dir, f"{LABEL_PREFIX}num-nodes": str(num_nodes)}
    if job_name:
        annotations[f"{LABEL_PREFIX}job-name"] = job_name
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": labels, "annotations": annotations}, "spec": spec}


def service_manifest(name: str, labels: Mapping[str, str], owner_uid: str | None) -> dict[str, Any]:
    """The headless Service that gives an Indexed Job's pods DNS names; owned by (deleted with) the Job."""
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if owner_uid:
        metadata["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": owner_uid,
                                        "controller": True, "blockOwnerDeletion": True}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata,
            "spec": {"clusterIP": "None", "selector": {JOB_LABEL: name}, "publishNotReadyAddresses": True}}

"""Turning a ``create_job`` request into ``docker run`` options (pure: no Docker needed)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tao_automl.errors import UserInputError
from tao_automl.platforms.common import COMMAND_ALLOWED, absolute_strings, command_path_args, is_system_path
from tao_automl.platforms.records import job_key

NETWORKS = ("host", "none")
LABEL_PREFIX = "tao-automl."
#: A job name ``<run>-recNNNN`` as the runner names a rec's job: the run and rec labels of Docker and Kubernetes jobs.
REC_SUFFIX = re.compile(r"^(?P<run>.+)-rec(?P<rec>\d+)$")
#: A byte size as Docker reads it (``docker.utils.parse_bytes``): a number, optionally with b, k, m or g (+ b).
_BYTES = re.compile(r"^\d+(\.\d+)?([kmg]b?|b)?\Z", re.IGNORECASE)
_BYTES_ALLOWED = "a number of bytes, or a size such as '512m', '8g' (units b, k, m, g)"


def container_name(job_name: str | None, fallback: str) -> str:
    """A valid, deterministic container name for a job name (sanitised slug + short hash)."""
    return f"tao-{job_key(job_name)}" if job_name else fallback


def check_network(value: object) -> str:
    """``host`` or ``none``; the default bridge is refused (its private address range is off limits)."""
    if value == "bridge":
        raise UserInputError(
            "network='bridge' is not allowed: the default Docker bridge hands containers addresses in a private "
            "range that jobs must not reach or use; use network='host' (share this machine's network) or 'none'",
            field="network", value=value, allowed=list(NETWORKS))
    if value not in NETWORKS:
        raise UserInputError(f"network must be one of {', '.join(NETWORKS)}, got {value!r}", field="network",
                             value=value, allowed=list(NETWORKS))
    return str(value)


def byte_size(name: str, value: object) -> object:
    """``value`` when Docker can read it as a byte size (``mem_limit``, ``shm_size``), else a one-line error."""
    if isinstance(value, bool) or not ((isinstance(value, (int, float)) and value >= 0) or
                                       (isinstance(value, str) and _BYTES.match(value.strip()))):
        raise UserInputError(f"{name} must be {_BYTES_ALLOWED}, got {value!r}", field=name, value=value,
                             allowed=_BYTES_ALLOWED)
    return value.strip() if isinstance(value, str) else value


#: Bytes per unit of a Docker byte size (``docker.utils.parse_bytes``).
_UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
#: The smallest memory limit the engine accepts ("Minimum memory limit allowed is 6MB"); 0 means no limit.
MIN_MEMORY = 6 * 1024 ** 2
_MEMORY_ALLOWED = f"{_BYTES_ALLOWED}, at least 6m (the engine's minimum: {MIN_MEMORY} bytes), or 0 for no limit"


def byte_count(value: object) -> int:
    """The bytes of a size :func:`byte_size` accepted (as the docker SDK reads it: k, m, g are powers of 1024)."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().lower().removesuffix("b") or "0"
    unit = text[-1] if text[-1] in _UNITS else "b"
    return int(float(text.rstrip("bkmg")) * _UNITS[unit])


def memory_limit(value: object) -> object:
    """``mem_limit`` as the engine takes it: a byte size of at least 6 MB, or 0 (no limit)."""
    size = byte_size("mem_limit", value)
    if 0 < byte_count(size) < MIN_MEMORY:
        raise UserInputError(f"mem_limit: {value!r} is below the Docker engine's minimum memory limit of 6m "
                             f"({MIN_MEMORY} bytes); every job would be refused", field="mem_limit", value=value,
                             allowed=_MEMORY_ALLOWED)
    return size


def check_entrypoint(value: object) -> object:
    """``entrypoint`` as the docker SDK takes it: a string (split like a shell) or a list of strings."""
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(a, str) for a in value)):
        return value
    raise UserInputError(f"entrypoint: {value!r} is not allowed; give a string or a list of strings",
                         field="entrypoint", value=value,
                         allowed="a string such as '/bin/sh -c' or a list of strings such as ['/bin/sh', '-c']")


#: ``user`` as ``docker run --user`` takes it: a name or uid, optionally ``:group`` or ``:gid``.
_USER = re.compile(r"^[^\s:]+(:[^\s:]+)?\Z")
USER_ALLOWED = "a user name or uid in the image, optionally with :group or :gid, e.g. 'trainer', '1000' or '1000:1000'"


def check_user(value: object) -> object:
    """``user`` as the engine takes it: NAME|UID[:GROUP|GID] (a string, or a uid >= 0), else a one-line error."""
    if (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or \
            (isinstance(value, str) and _USER.match(value)):
        return value
    raise UserInputError(f"user: {value!r} is not allowed; give {USER_ALLOWED}", field="user", value=value,
                         allowed=USER_ALLOWED)


def device_requests(gpu_count: int) -> list[dict[str, Any]]:
    """The NVIDIA device request for ``gpu_count`` GPUs (``docker run --gpus N``); none for 0."""
    if gpu_count == 0:
        return []
    return [{"driver": "nvidia", "count": gpu_count, "capabilities": [["gpu"]]}]


MOUNTS_ALLOWED = ("a mapping of existing absolute host path -> absolute container path, as '/in/container', "
                  "'/in/container:ro' or {bind: /in/container, mode: ro}; paths without ':' (Docker's separator)")


def _absolute(field: str, value: object, mounts: object = None) -> str:
    text = str(value)
    if not text.startswith("/"):
        raise UserInputError(f"{field}: {text!r} must be an absolute path", field=field.partition("[")[0],
                             value=value if mounts is None else mounts,
                             allowed=MOUNTS_ALLOWED if mounts is not None else "an absolute path")
    return text


def parse_mounts(mounts: object) -> dict[str, dict[str, str]]:
    """``mounts`` kwarg -> docker ``volumes``: host path -> ``"/in/container"``, ``"/c:ro"`` or
    ``{"bind": "/c", "mode": "ro"}``; host paths must exist, and no path may hold a ``:`` (the engine splits
    ``host:container:mode`` on it)."""
    if mounts is None:
        return {}

    def refuse(message: str) -> UserInputError:
        return UserInputError(message, field="mounts", value=mounts, allowed=MOUNTS_ALLOWED)

    if not isinstance(mounts, Mapping):
        raise refuse(f"mounts must be a mapping of host path -> container path, got {mounts!r}")
    volumes: dict[str, dict[str, str]] = {}
    for host, target in mounts.items():
        host_path = _absolute("mounts", Path(str(host)).expanduser(), mounts)
        if ":" in host_path:
            raise refuse(f"mounts: host path {host_path!r} holds a ':', which Docker reads as the separator of "
                         "host:container:mode; mount a folder above it (or a link to it without ':')")
        if not Path(host_path).exists():
            raise refuse(f"mounts: host path {host_path!r} does not exist")
        if isinstance(target, Mapping):
            bind, mode = target.get("bind"), target.get("mode", "rw")
        else:
            bind, _, mode = str(target).partition(":")
            mode = mode or "rw"
        if mode not in ("ro", "rw"):
            raise refuse(f"mounts: mode of {host_path!r} must be 'ro' or 'rw', got {mode!r}")
        bind_path = _absolute(f"mounts[{host_path!r}]", bind, mounts)
        if ":" in bind_path:
            raise refuse(f"mounts: container path {bind_path!r} of {host_path!r} holds a ':', which Docker reads as "
                         "the separator of host:container:mode")
        volumes[host_path] = {"bind": bind_path, "mode": str(mode)}
    return volumes


def command_file_dirs(command: str | Sequence[str]) -> list[str]:
    """Directories of the existing host files the command names by absolute path (the spec file's folder),
    system directories excepted: mounted at the same path so the command's paths stay valid."""
    dirs: list[str] = []
    for value in command_path_args(command):
        path = Path(value)
        try:
            is_file = path.is_file()
        except OSError:
            continue
        parent = str(path.parent)
        if is_file and not is_system_path(parent) and parent not in dirs:
            dirs.append(parent)
    return dirs


def input_paths(inputs: Mapping[str, Any] | None) -> list[str]:
    """The existing host files and folders the job's declared inputs (its datasets) name by absolute path, system
    directories excepted: mounted read-only at the same path so the spec's dataset paths stay valid in the job."""
    paths: list[str] = []
    for value in absolute_strings(dict(inputs or {})):
        path = str(Path(value))
        try:
            exists = Path(path).exists()
        except OSError:
            continue
        if exists and not is_system_path(path) and ":" not in path and path not in paths:  # ':' cannot be mounted
            paths.append(path)
    return paths


def labels_for(job_name: str | None, results_dir: str, extra: object) -> dict[str, str]:
    """Labels that identify the job: its name, run and rec (from ``<run>-recNNNN``), results dir, user labels."""
    labels = {f"{LABEL_PREFIX}managed": "true", f"{LABEL_PREFIX}results-dir": results_dir}
    if job_name:
        labels[f"{LABEL_PREFIX}job-name"] = job_name
        match = REC_SUFFIX.match(job_name)
        if match:
            labels[f"{LABEL_PREFIX}run"] = match["run"]
            labels[f"{LABEL_PREFIX}rec"] = str(int(match["rec"]))
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise UserInputError(f"labels must be a mapping of str -> str, got {extra!r}", field="labels", value=extra,
                                 allowed="a mapping of label name -> value, e.g. {team: vision}; names not starting "
                                         f"with {LABEL_PREFIX!r} (this tool's own)")
        own = sorted(str(k) for k in extra if str(k).startswith(LABEL_PREFIX))
        if own:
            raise UserInputError(f"labels: {', '.join(own)} would replace the labels this tool finds its jobs by",
                                 field="labels", value=extra,
                                 allowed=f"a mapping of label name -> value; names not starting with {LABEL_PREFIX!r}")
        labels.update({str(k): str(v) for k, v in extra.items()})
    return labels


def environment(env_vars: Mapping[str, Any] | None) -> dict[str, str]:
    """Validated environment variables for the container."""
    env: dict[str, str] = {}
    allowed = "a mapping of variable name (no '=') -> value (a string or number; None is not a value)"
    for key, value in (env_vars or {}).items():
        if not isinstance(key, str) or not key or "=" in key:
            raise UserInputError(f"env_vars key {key!r} is not a valid environment variable name", field="env_vars",
                                 value=key, allowed=allowed)
        if value is None or isinstance(value, (Mapping, list, tuple, set)):  # str() would pass 'None', "{'a': 1}"
            raise UserInputError(f"env_vars[{key!r}]: {type(value).__name__} is not a value the job can read",
                                 field="env_vars", value=key, allowed=allowed)
        env[key] = str(value)
    return env


def entrypoint_args(command: str | Sequence[str]) -> list[str]:
    """``sh -c <command>`` for a string, the argv itself for a sequence."""
    if isinstance(command, str):
        if not command.strip():
            raise UserInputError("command must not be empty", field="command", value=command, allowed=COMMAND_ALLOWED)
        return ["sh", "-c", command]
    argv = list(command)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise UserInputError(f"command must be a non-empty string or a sequence of strings, got {command!r}",
                             field="command", value=command, allowed=COMMAND_ALLOWED)
    return argv


def run_options(
    *, image: str, command: str | Sequence[str], name: str, gpu_count: int, env_vars: Mapping[str, Any] | None,
    results_dir: str, job_name: str | None, network: str, kwargs: Mapping[str, Any], defaults: Mapping[str, Any],
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` (docker SDK names)."""
    volumes = {path: {"bind": path, "mode": "ro"} for path in input_paths(inputs)}
    for folder in command_file_dirs(command) if defaults.get("mount_command_paths", True) else []:
        volumes[folder] = {"bind": folder, "mode": "rw"}
    volumes[results_dir] = {"bind": results_dir, "mode": "rw"}
    for path in volumes:  # the engine reads host:container:mode: a ':' in a path fails every job at create
        if ":" in path:
            what = "results dir" if path == results_dir else "folder of a file the command names"
            raise UserInputError(
                f"the job's {what} {path!r} holds a ':', which Docker reads as the separator of host:container:mode, "
                "so it cannot be bind-mounted at the same path", field="results_dir" if path == results_dir else
                "command", value=path, allowed="paths without ':'",
                hint="use a workspace_path (and skill folder) without ':', then start the run again; nothing was "
                     "started")
    volumes.update(parse_mounts(defaults.get("mounts")))
    volumes.update(parse_mounts(kwargs.get("mounts")))
    options: dict[str, Any] = {
        "image": image, "command": entrypoint_args(command), "name": name,
        "environment": environment(env_vars), "labels": labels_for(job_name, results_dir, kwargs.get("labels")),
        "volumes": volumes, "network_mode": network, "detach": True, "init": True,
        "device_requests": device_requests(gpu_count),
    }
    working_dir = kwargs.get("working_dir")
    if working_dir is not None:
        options["working_dir"] = _absolute("working_dir", working_dir)
    checks = {"shm_size": lambda v: byte_size("shm_size", v), "mem_limit": memory_limit, "entrypoint": check_entrypoint,
              "user": check_user}
    for key in ("user", "shm_size", "mem_limit", "entrypoint"):
        value = kwargs.get(key, defaults.get(key))
        if value is not None:
            options[key] = checks[key](value) if key in checks else value
    if "mem_limit" in options:
        options["memswap_limit"] = options["mem_limit"]  # no swap: the limit is the limit
    return options

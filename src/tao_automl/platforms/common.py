"""Bookkeeping every platform SDK shares: argument checks and a cross-process lock per job name."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import posixpath
import re
import shlex
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tao_automl.errors import UserInputError


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools refused), else a one-line error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {value!r}", field=name, value=value,
                             allowed=f"an integer >= {minimum}")
    return value


def check_flag(name: str, value: object) -> bool:
    """``value`` as a yes/no setting: only true or false (a quoted 'false' is a text, and ``bool('false')`` is True),
    else a one-line error naming ``name``."""
    if not isinstance(value, bool):
        raise UserInputError(f"{name} must be true or false, got {value!r}", field=name, value=value,
                             allowed="true or false")
    return value


_LEADING_NAME = re.compile(r"^([A-Za-z_]\w*)")


def as_setting_error(exc: UserInputError, prefix: str, given: Mapping[str, Any],
                     known: Collection[str] = ()) -> UserInputError:
    """An SDK's refusal of one of its arguments, named as the setting the user wrote: ``<prefix>.<key>`` (e.g.
    ``platform_kwargs.time_limit``) with the value given. The key is the error's field, else the name its message
    starts with (``"time_limit must be ..."``), when that is a key of ``given`` or one of ``known``; otherwise
    ``exc`` is returned unchanged."""
    candidates = [exc.field, *(m.group(1) for m in [_LEADING_NAME.match(str(exc.detail))] if m)]
    key = next((c for c in candidates if c and (c in given or c in known)), None)
    if key is None:
        return exc
    name = f"{prefix}.{key}"
    detail = str(exc.detail)
    detail = detail[len(key) + 2:] if detail.startswith(f"{key}: ") else detail  # "key: ..." names it once
    message = detail if detail.startswith(name) else f"{name}: {detail}"
    value = given.get(key, exc.value if exc.has_value else None)
    return exc.rebuilt(message, field=name, value=value)


#: ``allowed`` of a refused job command (every platform's ``create_job``).
COMMAND_ALLOWED = "a non-empty command string or a non-empty list of strings"
#: ``allowed`` of a ``relative_path`` that leaves the job's results dir (``read_job_file``).
RELATIVE_ALLOWED = "a path relative to the job's results dir that stays inside it (no '..' out, not absolute)"
#: ``allowed`` of an ``env_vars`` key that is not an environment variable name.
ENV_NAME_ALLOWED = "names of letters, digits and '_', not starting with a digit"


def check_job_name(name: object, single_line: bool = False) -> str | None:
    """``name`` as a job name (None stays None); anything but a non-empty string is a one-line error."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or (single_line and "\n" in name):
        kind = "non-empty single-line string" if single_line else "non-empty string"
        raise UserInputError(f"job_name must be a {kind}, got {name!r}", field="job_name", value=name, allowed=kind)
    return name


@contextlib.contextmanager
def name_lock(directory: Path, key: str, thread_lock: threading.RLock | threading.Lock) -> Iterator[None]:
    """Serialise submissions of one job name across threads (``thread_lock``) and processes (``flock``)."""
    path = directory / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with thread_lock, path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def command_text(command: str | Sequence[str]) -> str:
    """A command as one shell string: a non-empty string as is, an argv list shell-quoted."""
    if isinstance(command, str):
        if not command.strip():
            raise UserInputError("command must not be empty", field="command", value=command,
                                 allowed=COMMAND_ALLOWED)
        return command
    argv = list(command)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise UserInputError(f"command must be a non-empty string or a sequence of strings, got {command!r}",
                             field="command", value=command, allowed=COMMAND_ALLOWED)
    return shlex.join(argv)


def contained_path(results_dir: str | Path, relative_path: str) -> Path:
    """``results_dir/relative_path`` resolved; a path that leaves the results dir is a one-line error."""
    results = Path(results_dir).resolve()
    target = (results / relative_path).resolve()
    if target != results and results not in target.parents:
        raise UserInputError(f"relative_path {relative_path!r} points outside the results dir {results}",
                             field="relative_path", value=relative_path, allowed=RELATIVE_ALLOWED)
    return target


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def rfc3339_time(text: object) -> float | None:
    """A platform's RFC 3339 time stamp (Docker's ``2026-12-03T00:56:59.123456789Z``, with nanoseconds; Kubernetes'
    ``2026-12-03T00:56:59Z``) as seconds since the epoch; None for anything else, and for the zero time
    (``0001-01-01T00:00:00Z``) of what has not happened."""
    match = _STAMP.match(str(text or ""))
    if not match or match[1].startswith("0001-"):
        return None
    zone = "+00:00" if match[3] in (None, "Z") else match[3]
    return datetime.fromisoformat(match[1] + (match[2] or "")[:7] + zone).timestamp()


#: The most base64 text a job's command line carries for its spec file (Linux takes 128 KiB per argument; the
#: launch around it and the remote shell need room too).
MAX_SPEC_FILE_B64 = 64 * 1024


def spec_file_script(spec_file: object) -> str:
    """Shell lines that write ``spec_file`` (``{"path": ..., "text": ...}``: a rendered spec the job's command reads)
    at its path, its folder made first, before the command runs: the text travels base64-encoded, is written to a
    temporary file, then renamed into place (replicas writing it on shared storage never show a half-written one).
    A failure exits 1. ``""`` for None; a spec too big for a command line is refused, naming its size."""
    if spec_file is None:
        return ""
    allowed = 'a mapping {"path": the spec file\'s path, "text": its text}'
    path = spec_file.get("path") if isinstance(spec_file, Mapping) else None
    text = spec_file.get("text") if isinstance(spec_file, Mapping) else None
    if not isinstance(path, str) or not path.strip() or "\n" in path or "\0" in path or not isinstance(text, str):
        raise UserInputError(f"spec_file must be {allowed}, got {spec_file!r}"[:300], field="spec_file",
                             value=path if isinstance(path, str) else None, allowed=allowed)
    data = text.encode("utf-8")
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) > MAX_SPEC_FILE_B64:
        raise UserInputError(
            f"spec_file: the rendered spec {path} is {len(data)} bytes ({len(encoded)} base64-encoded), more than a "
            f"job's command line carries", field="spec_file", value=path,
            allowed=f"a spec of at most {MAX_SPEC_FILE_B64 * 3 // 4} bytes ({MAX_SPEC_FILE_B64} base64-encoded)",
            hint="keep the run folder on storage the jobs see at the same path, or shrink the spec")
    q = shlex.quote
    folder = posixpath.dirname(path) or "."
    temp = f'"$(dirname {q(path)})/.$(basename {q(path)}).$(hostname 2>/dev/null).$$.tmp"'
    failed = q(f"tao-automl: could not write the spec file {path}")
    return (f"mkdir -p {q(folder)} && tmp={temp} && printf '%s' {q(encoded)} | base64 -d > \"$tmp\" && "
            f"mv -f \"$tmp\" {q(path)} || {{ echo {failed} >&2; exit 1; }}\n")


#: Host folders a container never gets mounted from the host (the image has its own).
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr",
               "/var/lib", "/var/run", "/run")


def is_system_path(path: str) -> bool:
    """Whether ``path`` (absolute, normalised) is ``/`` or inside one of :data:`SYSTEM_DIRS`."""
    return path == "/" or any(path == d or path.startswith(d + "/") for d in SYSTEM_DIRS)


def command_path_args(command: str | Sequence[str]) -> list[str]:
    """The absolute paths a command names: each argument, or the value of a ``--flag=VALUE`` one, that starts with
    ``/`` (in order; a command shlex cannot split is split on whitespace)."""
    try:
        tokens = shlex.split(command) if isinstance(command, str) else [str(t) for t in command]
    except ValueError:
        tokens = str(command).split()
    values = (t.split("=", 1)[1] if t.startswith("-") and "=" in t else t for t in tokens)
    return [v for v in values if v.startswith("/")]


def absolute_strings(value: Any) -> list[str]:
    """The strings starting with ``/`` in ``value``, nested mappings, lists and tuples included, in order."""
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in absolute_strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in absolute_strings(v)]
    return [value] if isinstance(value, str) and value.startswith("/") else []

"""The local platform's inputs, checked or defaulted: a job's command, folder, GPU count and PATH; the jobs folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tao_automl.errors import PreflightError, UserInputError
from tao_automl.platforms.common import COMMAND_ALLOWED
from tao_automl.platforms.records import default_state_dir


def default_jobs_dir(state_file: Path | None) -> Path:
    """``<state_file dir>/jobs``, else ``$XDG_CACHE_HOME/tao-automl/local-jobs`` (``~/.cache`` fallback)."""
    if state_file is not None:
        return state_file.parent / "jobs"
    return default_state_dir("local-jobs")


def wrapper_args(command: str | Sequence[str]) -> tuple[str, list[str]]:
    """The wrapper's mode and arguments: ``shell [cmd]`` for a string, ``exec argv`` for a sequence."""
    if isinstance(command, str):
        if not command.strip():
            raise UserInputError("command must not be empty", field="command", value=command, allowed=COMMAND_ALLOWED)
        return "shell", [command]
    argv = list(command)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise UserInputError(f"command must be a non-empty string or a sequence of strings, got {command!r}",
                             field="command", value=command, allowed=COMMAND_ALLOWED)
    return "exec", argv


def checked_working_dir(value: object) -> Path | None:
    """The ``working_dir`` kwarg as an existing directory (None: the job's own directory)."""
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_dir():
        raise UserInputError(f"working_dir {str(path)!r} does not exist or is not a directory", field="working_dir",
                             value=str(path), allowed="an existing directory (or None: the job's own folder)")
    return path


def too_many_gpus(count: int, gpu_ids: Sequence[str]) -> PreflightError:
    """A ``gpu_count`` (``platform_kwargs.gpu_count`` of a run config) above what one job gets on this machine."""
    most = max(len(gpu_ids), 1)
    return PreflightError(
        f"platform_kwargs.gpu_count: {count} is not allowed: gpu_count={count} but this machine has {len(gpu_ids)} "
        f"GPU(s) ({', '.join(map(str, gpu_ids)) or 'none'}); the local platform runs each job on one host, so "
        f"gpu_count must be at most {most}", field="platform_kwargs.gpu_count", value=count,
        allowed=f"an integer from 0 to {most}",
        hint=f"set platform_kwargs.gpu_count to at most {most}, or run on a platform with more GPUs per job")


def jobs_path(path: str | None) -> str:
    """The ``PATH`` local jobs run with: this Python's folder first (``python3`` in a command is the interpreter
    tao-automl runs with, and console scripts installed beside it, such as the demo's, are found without activating
    its venv), then the caller's. A job meant for another environment names that interpreter by its path."""
    path = path or os.defpath
    bin_dir = str(Path(sys.executable).parent)
    return path if path.split(os.pathsep)[0] == bin_dir else bin_dir + os.pathsep + path


def folder_option(name: str, value: str | Path | None) -> str | Path | None:
    """``jobs_dir``/``state_file`` as given: a path, or None; an empty or blank one (which would mean the current
    folder) and any other type are refused naming the option."""
    if value is None or isinstance(value, Path):
        return value
    if not isinstance(value, (str, os.PathLike)) or not str(os.fspath(value)).strip():
        raise UserInputError(f"{name}: {value!r} is not allowed; expected a path (a non-empty string)", field=name,
                             value=value, allowed="a path (a non-empty string)")
    return value

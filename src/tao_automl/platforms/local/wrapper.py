"""The exit-code wrapper of the local platform: a few lines of POSIX shell, no extra Python interpreter.

LocalSDK starts every job as ``/bin/sh -c WRAPPER tao-automl-job <job_dir> shell|exec <args...>`` in a
new session, so the wrapper leads the job's process group. The wrapper first writes its own pid to
``PID_FILE`` (so a submitter that died before saving the pid can still be followed), runs the command in
the foreground (``shell``: the command text in a subshell; ``exec``: the argv as is), then writes
``EXIT_FILE`` (``{"exit_code": N}``; the shell reports a command killed by signal ``S`` as ``128 + S``) and
exits with the command's code. The job's processes carry ``MARKER_ENV=<job_dir>`` in their environment.
The wrapper outlives the orchestrator; if the wrapper itself is killed, LocalSDK stops what is left of
its process group, so no trainer runs on untracked.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tao_automl.platforms.files import read_json

EXIT_FILE = "exit_code.json"
PID_FILE = "pid"
MARKER_ENV = "TAO_AUTOML_LOCAL_JOB"
ARGV0 = "tao-automl-job"

WRAPPER = (
    '__tao_d=$1; __tao_m=$2; shift 2\n'
    'echo $$ > "$__tao_d/pid"\n'
    'if [ "$__tao_m" = shell ]; then (__tao_c=$1; shift; unset __tao_m; eval "$__tao_c"); else "$@"; fi\n'
    '__tao_x=$?\n'
    'echo "{\\"exit_code\\": $__tao_x}" > "$__tao_d/exit_code.json"\n'
    'exit $__tao_x\n'
)


def wrapper_argv(job_dir: Path, mode: str, args: list[str]) -> list[str]:
    """The argv that runs ``args`` (``shell``: one command text; ``exec``: an argv) under the wrapper."""
    return ["/bin/sh", "-c", WRAPPER, ARGV0, str(job_dir), mode, *args]


def read_pid(job_dir: Path) -> int | None:
    """The pid the wrapper wrote, or None (not written yet, or being written)."""
    try:
        text = (job_dir / PID_FILE).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() else None


def read_exit(job_dir: Path) -> dict[str, Any] | None:
    """The exit record (``exit_code``, ``signal`` inferred from 128+S, ``finished_at``), or None."""
    path = job_dir / EXIT_FILE
    data = read_json(path)
    if data is None or not isinstance(data.get("exit_code"), int):
        return None
    try:
        finished = path.stat().st_mtime
    except OSError:
        finished = None
    return exit_record(int(data["exit_code"]), data.get("finished_at", finished))


def exit_record(code: int, finished_at: float | None) -> dict[str, Any]:
    """The exit record of a wrapper exit status ``code`` (the shell reports a command killed by signal S as 128+S)."""
    sig = None
    if 128 < code < 128 + 65:
        try:
            sig = signal.Signals(code - 128).name
        except ValueError:
            sig = None
    return {"returncode": code, "exit_code": code, "signal": sig, "finished_at": finished_at}

"""Shell snippets BrevSDK runs on an instance with ``brev exec``, and parsing their answers.

``brev exec`` prints the instance name after the command's output when stdout is a pipe, so every
answer is framed by marker lines and file contents travel base64-encoded.
"""

from __future__ import annotations

import base64
import posixpath
import shlex
from collections.abc import Mapping, Sequence

BEGIN = "__TAO_AUTOML_BEGIN__"
END = "__TAO_AUTOML_END__"
EXIT_FILE = "exit_code"
PID_FILE = "pid"
CANCEL_FILE = "cancelled"
LOG_FILE = "output.log"
RESULTS_FILE = "results_dir"  # the job's results dir (relative to the instance's home, or absolute)
#: Present while the job's wrapper pulls its image, before the job runs (its status is then pending).
PULLING_FILE = "pulling"


def framed(script: str) -> str:
    """``script`` with its stdout between the BEGIN and END marker lines."""
    return f"echo {BEGIN}\n{script}\necho\necho {END}\n"


def unframe(stdout: str) -> str | None:
    """The text between the markers (None when they are missing)."""
    start = stdout.find(BEGIN + "\n")
    end = stdout.rfind("\n" + END)
    if start < 0 or end < start:
        return None
    return stdout[start + len(BEGIN) + 1:end].rstrip("\n")


def container_name(job_dir: str) -> str:
    """The name of the container a job with an image runs in (so a cancel can kill the container itself)."""
    return "tao-automl-" + posixpath.basename(job_dir.rstrip("/"))


def launch_script(job_dir: str, command: str, env_vars: Mapping[str, str], results_dir: str,
                  workdir: str | None, image: str | None, gpu_count: int, spec: str = "",
                  shared: Sequence[str] = ()) -> str:
    """Start ``command`` detached in ``job_dir`` unless a job already started there (idempotent).

    Relative paths (``job_dir``, ``results_dir``, ``workdir``) are relative to the instance's home. ``spec``: shell
    lines run first (writing the job's spec file: :func:`~tao_automl.platforms.common.spec_file_script`); a failure
    there fails the job. ``shared``: absolute folders a container gets mounted at the same path (besides ``$HOME``).
    """
    q = shlex.quote
    exports = "".join(f"export {k}={q(v)}\n" for k, v in env_vars.items())
    body = command
    if image:
        gpus = "--gpus all " if gpu_count > 0 else ""
        env_flags = "".join(f"-e {k} " for k in env_vars)
        volumes = "".join(f"-v {q(f'{d}:{d}')} " for d in dict.fromkeys(shared))
        body = (f'{pull_lines(image)}docker run --rm --name {q(container_name(job_dir))} {gpus}--ipc=host '
                f'--network=host {env_flags}-v "$HOME:$HOME" {volumes}-w "$PWD" {q(image)} bash -c {q(command)}')
    into = q(workdir) if workdir else '"$JOB_DIR"'
    run = (f'JOB_DIR="$(pwd)"\ncd "$HOME" || exit 1\n{exports}mkdir -p {q(results_dir)}\ncd {into} || exit 1\n'
           f'(\n{spec}{body}\n)\ncode=$?\necho $code > "$JOB_DIR/{EXIT_FILE}.tmp" && '
           f'mv "$JOB_DIR/{EXIT_FILE}.tmp" "$JOB_DIR/{EXIT_FILE}"\nexit $code\n')
    d = q(job_dir)
    return framed(
        f"mkdir -p {d} && cd {d} || exit 1\n"
        f"if [ -e {PID_FILE} ]; then echo EXISTS; else\n"
        f"printf '%s' {q(results_dir)} > {RESULTS_FILE}\n"
        f"cat > run.sh <<'__TAO_AUTOML_RUN__'\n{run}__TAO_AUTOML_RUN__\n"
        f"nohup setsid bash run.sh > {LOG_FILE} 2>&1 < /dev/null &\n"
        f"echo $! > {PID_FILE}; echo STARTED; fi"
    )


def pull_lines(image: str) -> str:
    """Shell lines that pull ``image`` when the instance lacks it, with :data:`PULLING_FILE` present meanwhile (the
    job counts as pending, not running: a job timeout counts from its start); a failed pull ends the job with the
    pull's exit code, its error in the job's log."""
    q = shlex.quote(image)
    return (f'if ! docker image inspect {q} >/dev/null 2>&1; then\n'
            f'  touch "$JOB_DIR/{PULLING_FILE}"; docker pull {q}; pulled=$?; rm -f "$JOB_DIR/{PULLING_FILE}"\n'
            f'  [ $pulled -eq 0 ] || exit $pulled\nfi\n')


def status_script(job_dir: str) -> str:
    """Prints ``EXIT <code> <end>`` (``<end>``: when the exit code was written, epoch seconds), ``CANCELLED``,
    ``PULLING`` (its image is being pulled), ``RUNNING``, ``LOST`` or ``MISSING``.

    The exit code wins over the cancel mark: the wrapper writes it only when the job's command ended by itself (a
    cancel kills the wrapper too), so a job that finished just before a cancel keeps its own result."""
    d = shlex.quote(job_dir)
    return framed(
        f"if [ ! -d {d} ]; then echo MISSING\n"
        f"elif [ -f {d}/{EXIT_FILE} ]; then echo EXIT $(cat {d}/{EXIT_FILE}) $(date -r {d}/{EXIT_FILE} +%s.%N)\n"
        f"elif [ -f {d}/{CANCEL_FILE} ]; then echo CANCELLED\n"
        f"elif kill -0 $(cat {d}/{PID_FILE}) 2>/dev/null; then "
        f"if [ -f {d}/{PULLING_FILE} ]; then echo PULLING; else echo RUNNING; fi\n"
        f"else echo LOST; fi"
    )


def exists_script(job_dir: str) -> str:
    """Prints ``FOUND`` when a job was started in ``job_dir`` (its pid file exists), else ``NONE``."""
    return framed(f"if [ -e {shlex.quote(job_dir)}/{PID_FILE} ]; then echo FOUND; else echo NONE; fi")


#: Seconds a cancelled job's processes get between SIGTERM and SIGKILL.
CANCEL_GRACE_S = 10


def cancel_script(job_dir: str, grace_s: int | None = None) -> str:
    """Stop the job's process group (SIGTERM, SIGKILL after ``grace_s``) and wait until it is gone; prints ``ENDED``
    when the job had already ended by itself (nothing is done), ``GONE`` once it is stopped, ``ALIVE`` when some of
    its processes outlived SIGKILL. A job's container is stopped too (``docker stop``, then ``docker rm -f``):
    killing ``docker run``, the client, leaves the container running. The wrapper dies with the first SIGTERM, so a
    cancelled job writes no exit code."""
    d = shlex.quote(job_dir)
    grace_s = CANCEL_GRACE_S if grace_s is None else grace_s
    container = shlex.quote(container_name(job_dir))
    gone = "kill -0 -- -$pid 2>/dev/null || break; sleep 0.2"
    return framed(
        f"if [ -f {d}/{EXIT_FILE} ]; then echo ENDED; else\n"
        f"touch {d}/{CANCEL_FILE}; pid=$(cat {d}/{PID_FILE})\n"
        f"kill -TERM -- -$pid 2>/dev/null\n"
        f"if command -v docker >/dev/null 2>&1; then docker stop -t {int(grace_s)} {container} >/dev/null 2>&1; "
        f"docker rm -f {container} >/dev/null 2>&1; fi\n"
        f"i=0; while [ $i -lt {5 * int(grace_s)} ]; do {gone}; i=$((i+1)); done\n"
        f"kill -KILL -- -$pid 2>/dev/null\n"
        f"i=0; while [ $i -lt 25 ]; do {gone}; i=$((i+1)); done\n"
        f"if kill -0 -- -$pid 2>/dev/null; then echo ALIVE; else echo GONE; fi; fi"
    )


def read_script(path: str, tail: int | None) -> str:
    """Prints ``NONE`` or the file (its last ``tail`` lines) base64-encoded."""
    p = shlex.quote(path)
    reader = f"cat {p}" if tail is None else f"tail -n {int(tail)} {p}"
    return framed(f"if [ -f {p} ]; then {reader} | base64 | tr -d '\\n'; else echo NONE; fi")


def read_result_script(job_dir: str, relative_path: str) -> str:
    """Prints ``NONE`` or the file ``relative_path`` under the job's results dir (the one its launch recorded, else
    ``<job_dir>/results``) base64-encoded."""
    d = shlex.quote(job_dir)
    default = shlex.quote(posixpath.join(job_dir, "results"))
    rel = shlex.quote(relative_path)
    return framed(f"r=$(cat {d}/{RESULTS_FILE} 2>/dev/null || printf '%s' {default}); "
                  f"if [ -f \"$r\"/{rel} ]; then base64 < \"$r\"/{rel} | tr -d '\\n'; else echo NONE; fi")


def decode(answer: str | None) -> str | None:
    if answer is None or answer.strip() == "NONE":
        return None
    return base64.b64decode(answer.strip() or b"").decode("utf-8", errors="replace")

"""Process wrapper of the local platform: runs one job's command and records how it ended.

Run as a script (``python -I local_wrapper.py <job_dir> shell|exec <args...>``); it imports only the
standard library so it works whether or not ``tao_automl`` is importable in the job's environment.

The wrapper is the leader of the job's session and process group. It starts the command as its
child, forwards SIGTERM/SIGINT/SIGHUP sent to the wrapper alone (a group-wide cancel already reached
the child, see ``CANCEL_MARKER``), and when the child ends writes ``EXIT_FILE`` atomically:
``{"returncode": int, "exit_code": int, "signal": str | None, "finished_at": float}``. A job
directory without that file whose wrapper is gone means the wrapper itself was killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from types import FrameType

EXIT_FILE = "exit_code.json"
CANCEL_MARKER = "cancel_requested"
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _write_exit(job_dir: str, returncode: int) -> None:
    sig = -returncode if returncode < 0 else None
    record = {
        "returncode": returncode,
        "exit_code": returncode if sig is None else 128 + sig,
        "signal": None if sig is None else _signal_name(sig),
        "finished_at": time.time(),
    }
    final = os.path.join(job_dir, EXIT_FILE)
    tmp = f"{final}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)


def run(job_dir: str, mode: str, args: list[str]) -> int:
    """Run the command, record its end in ``job_dir`` and return the wrapper's own exit status."""
    if mode == "shell" and len(args) == 1:
        argv = ["/bin/sh", "-c", args[0]]
    elif mode == "exec" and args:
        argv = args
    else:
        print(f"local_wrapper: bad arguments: mode={mode!r} args={args!r}", file=sys.stderr)
        _write_exit(job_dir, 2)
        return 2

    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        # A cancel signals the whole group, so the child already has it: do not send it twice.
        if child is not None and not os.path.exists(os.path.join(job_dir, CANCEL_MARKER)):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    try:
        child = subprocess.Popen(argv)
    except OSError as exc:
        print(f"local_wrapper: cannot start {argv[0]!r}: {exc}", file=sys.stderr, flush=True)
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        _write_exit(job_dir, code)
        return code
    returncode = child.wait()
    _write_exit(job_dir, returncode)
    return returncode if returncode >= 0 else 128 - returncode


def main() -> None:
    if len(sys.argv) < 3:
        print("usage: local_wrapper.py JOB_DIR shell|exec ARGS...", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(sys.argv[1], sys.argv[2], sys.argv[3:]))


if __name__ == "__main__":
    main()

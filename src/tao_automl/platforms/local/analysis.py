"""Failure analysis of a finished local job: exit code, signal, error-looking log lines, one message."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from tao_automl.platforms.local.files import tail_lines

ERROR_PATTERN = re.compile(
    r"Traceback|Error|Exception|FAILED|\bFAIL\b|\bfatal\b|\bkilled\b|Killed|out of memory|"
    r"Segmentation fault|core dumped|Aborted|command not found|No such file",
    re.IGNORECASE,
)
_SCAN_LINES = 500
_MAX_ERROR_LINES = 20
_TAIL_LINES = 10
_MAX_LINE_CHARS = 500

_EXIT_HINTS = {
    126: "the command could not be executed (permission denied?)",
    127: "the command was not found",
}


def error_lines(log_path: Path) -> list[str]:
    """The last lines of the log that look like errors, followed by the log's tail (no repeats)."""
    text = tail_lines(log_path, _SCAN_LINES) or ""
    lines = [line.rstrip()[:_MAX_LINE_CHARS] for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    picked = [line for line in lines if ERROR_PATTERN.search(line)][-_MAX_ERROR_LINES:]
    for line in lines[-_TAIL_LINES:]:
        if line not in picked:
            picked.append(line)
    return picked


def _signal_hint(name: str) -> str:
    if name == "SIGKILL":
        return " (often the out-of-memory killer or a manual kill -9)"
    if name == "SIGSEGV":
        return " (a segmentation fault)"
    return ""


def _exit_hint(code: int) -> str:
    if code in _EXIT_HINTS:
        return f" ({_EXIT_HINTS[code]})"
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            return ""
        return f" (128+{code - 128}: the command was probably killed by {name}{_signal_hint(name)})"
    return ""


def describe(job_id: str, state: str, data: dict[str, Any], found: list[str]) -> str:
    """One readable sentence on why the job did not succeed."""
    if state == "cancelled":
        return f"Local job {job_id} was cancelled."
    if data.get("exit_code") is None:
        detail = data.get("message") or "its process vanished without an exit code"
        return f"Local job {job_id} failed: {detail}."
    sig = data.get("signal")
    if sig:
        return f"Local job {job_id} was killed by {sig}{_signal_hint(str(sig))}."
    code = int(data["exit_code"])
    last_error = next((line.strip() for line in reversed(found) if ERROR_PATTERN.search(line)), None)
    reason = f": {last_error}" if last_error else ""
    return f"Local job {job_id} failed with exit code {code}{_exit_hint(code)}{reason}."


def analyse(job_id: str, state: str, data: dict[str, Any], log_path: Path) -> dict[str, Any]:
    """The failure-analysis dict of a failed or cancelled job."""
    found = error_lines(log_path)
    return {
        "job_id": job_id,
        "status": state,
        "exit_code": data.get("exit_code"),
        "signal": data.get("signal"),
        "error_lines": found,
        "message": describe(job_id, state, data, found),
        "log_path": str(log_path),
    }

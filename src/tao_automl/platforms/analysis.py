"""Failure analysis shared by the platforms: error-looking log lines and one sentence on why a job ended."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from tao_automl.platforms.files import tail_lines
from tao_automl.util.terminal import ESCAPE

ERROR_PATTERN = re.compile(
    r"Traceback|Error|Exception|FAILED|\bFAIL\b|\bfatal\b|\bkilled\b|Killed|out of memory|"
    r"Segmentation fault|core dumped|Aborted|command not found|No such file|unrecognized option|"
    r"invalid option|unknown option|illegal option|Permission denied",
    re.IGNORECASE,
)
#: How many log lines a failure analysis scans (the tail of the log).
SCAN_LINES = 500
_MAX_ERROR_LINES = 20
_TAIL_LINES = 10
_MAX_LINE_CHARS = 500

#: What a log line may carry that is no text: terminal escape sequences (a colour ``\x1b[31m``, a cursor move, a
#: window title ``\x1b]0;...\x07``) and other control characters. Kept out of a failure message, which a terminal
#: prints (``status``) and an agent parses (JSON).
_NOT_TEXT = re.compile(f"{ESCAPE.pattern}|[\\x00-\\x08\\x0b-\\x1f\\x7f]")

_EXIT_HINTS = {
    126: "the command could not be executed (permission denied?)",
    127: "the command was not found",
}


def plain_lines(log: str | None) -> list[str]:
    """``log``'s lines as text (terminal escapes and control characters removed, each cut at 500 characters)."""
    return [_NOT_TEXT.sub("", line).rstrip()[:_MAX_LINE_CHARS] for line in (log or "").splitlines()]


def failure_from_log(log: str | None) -> list[str]:
    """The last lines of ``log`` that look like errors, followed by its last lines (no repeats)."""
    lines = plain_lines(log)
    lines = [line for line in lines if line.strip()]
    picked = [line for line in lines if ERROR_PATTERN.search(line)][-_MAX_ERROR_LINES:]
    picked += [line for line in lines[-_TAIL_LINES:] if line not in picked]
    return picked


def reason_line(found: list[str]) -> str | None:
    """The line of ``found`` (:func:`failure_from_log`) that says why the job failed, stripped: the last
    error-looking line, else the log's last non-empty line (``boom: cannot open dataset`` has no error word but
    is what the job said last); None for an empty log."""
    error = next((line.strip() for line in reversed(found) if ERROR_PATTERN.search(line)), None)
    return error or next((line.strip() for line in reversed(found) if line.strip()), None)


def error_lines(log_path: Path) -> list[str]:
    """:func:`failure_from_log` of the tail of the log file at ``log_path``."""
    return failure_from_log(tail_lines(log_path, SCAN_LINES))


def signal_hint(name: str) -> str:
    if name == "SIGKILL":
        return " (often the out-of-memory killer or a manual kill -9)"
    if name == "SIGSEGV":
        return " (a segmentation fault)"
    return ""


def exit_hint(code: int) -> str:
    """Why a process may have exited with ``code``, in words (empty when nothing useful can be said)."""
    if code in _EXIT_HINTS:
        return f" ({_EXIT_HINTS[code]})"
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            return ""
        return f" (128+{code - 128}: the command was probably killed by {name}{signal_hint(name)})"
    return ""


def describe(job_id: str, state: str, data: dict[str, Any], found: list[str], platform: str = "Local") -> str:
    """One readable sentence on why a process job did not succeed (exit code, signal or a message)."""
    if state == "cancelled":
        return f"{platform} job {job_id} was cancelled."
    if data.get("exit_code") is None:
        detail = data.get("message") or "its process vanished without an exit code"
        return f"{platform} job {job_id} failed: {detail}."
    # a signal recorded beside an exit code is read from it (a shell reports a command killed by signal S as
    # 128+S): exit_hint names it as likely, and a program that exited with such a code itself keeps its log's words
    code = int(data["exit_code"])
    error = reason_line(found)
    reason = f": {error}" if error else ""
    return f"{platform} job {job_id} failed with exit code {code}{exit_hint(code)}{reason}."


def analyse(job_id: str, state: str, data: dict[str, Any], log_path: Path) -> dict[str, Any]:
    """The failure-analysis dict of a failed or cancelled local job."""
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

"""Next steps worded for a tool caller: `tao-automl CMD ARGS` in a message becomes the tool call that does it.

Errors and stop reasons are written once, for the shell (``tao-automl resume RUN_DIR``). An agent on the MCP tools
may have no shell; where a tool does what the command does, the text it gets names that tool and its arguments,
e.g. ``resume_sweep(run_dir="/ws/run_1")``. Commands without a tool (``logs``, ``export``, ``plan`` ...) stay as
they are.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any

_COMMAND = re.compile(r"`tao-automl (?P<cmd>[a-z][a-z-]*)(?P<rest>[^`]*)`")
_OPTION = re.compile(r"(?:^|\s)--?[a-z][a-z-]*")
_OPTIONAL = re.compile(r"\s*\[[^\]]*\]")
_PLACEHOLDERS = {"RUN_DIR", "RUN", "<run>", "<run_dir>", "CONFIG", "<config>"}


def _arguments(rest: str) -> tuple[str | None, list[str]]:
    """A command's target (the text before its first option: a path may hold spaces; None when absent or a
    placeholder) and its options; a bracketed part (``[--detach]``, an optional flag) is left out."""
    rest = _OPTIONAL.sub(" ", rest)
    head = _OPTION.split(rest, maxsplit=1)[0].strip()
    try:
        words = shlex.split(head)
        target = words[0] if len(words) == 1 else head
    except ValueError:
        target = head
    options = [m.group(0).strip() for m in _OPTION.finditer(rest)]
    return (None if not target or target in _PLACEHOLDERS else target), options


def _call(tool: str, **arguments: Any) -> str:
    """``tool(name="value", ...)``; just the tool's name when the text gave no argument (e.g. "this run")."""
    given = {k: v for k, v in arguments.items() if v is not None}
    if not given and tool != "list_models":
        return f"`{tool}`"
    return f"`{tool}({', '.join(f'{k}={json.dumps(v)}' for k, v in given.items())})`"


def _run_dir_tool(tool: str) -> Callable[[str | None, list[str]], str]:
    return lambda target, _options: _call(tool, run_dir=target)


def _stop(target: str | None, options: list[str]) -> str:
    return _call("stop_sweep", run_dir=target, cancel_jobs=True if "--cancel-jobs" in options else None)


def _config_tool(tool: str) -> Callable[[str | None, list[str]], str]:
    return lambda target, _options: _call(tool, config_path=target)


def _run(target: str | None, options: list[str]) -> str:
    return _call("dry_run" if "--dry-run" in options else "start_sweep", config_path=target)


_TOOLS: dict[str, Callable[[str | None, list[str]], str]] = {
    "status": _run_dir_tool("sweep_status"),
    "resume": _run_dir_tool("resume_sweep"),
    "report": _run_dir_tool("report"),
    "stop": _stop,
    "run": _run,
    "preflight": _config_tool("preflight"),
    "models": lambda _target, _options: _call("list_models"),
}


def tool_wording(text: str) -> str:
    """``text`` with every `tao-automl CMD ...` that a tool does replaced by that tool's call."""
    if "`tao-automl " not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        tool = _TOOLS.get(match.group("cmd"))
        if tool is None:
            return match.group(0)
        target, options = _arguments(match.group("rest"))
        return tool(target, options)

    return _COMMAND.sub(replace, text)


def worded_for_tools(data: Any) -> Any:
    """``data`` (tool result JSON) with :func:`tool_wording` applied to every string in it."""
    if isinstance(data, str):
        return tool_wording(data)
    if isinstance(data, dict):
        return {key: worded_for_tools(value) for key, value in data.items()}
    if isinstance(data, list):
        return [worded_for_tools(value) for value in data]
    return data

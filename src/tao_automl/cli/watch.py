"""``tao-automl status RUN_DIR --watch``: refresh a run's progress from another terminal, read-only. With
``--json``: per refresh one line holding the object ``status --json`` prints (JSON Lines).

Reads through :func:`tao_automl.status.query_status` (a read-only SQLite connection), so it never blocks or
changes the run. Stops when the run is no longer running, or when no process holds its orchestrator lock (killed).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from tao_automl.cli.terminal import redraws
from tao_automl.cli.text_report import ranked_table
from tao_automl.errors import EXIT_NO_RESULT, EXIT_OK, WorkspaceError
from tao_automl.experiment.holder import ORCHESTRATOR_LOST
from tao_automl.experiment.lines import counts_line, progress_line, tracking_lines
from tao_automl.status import query_status, status_error_allowed, status_error_hint

_CLEAR = "\033[H\033[2J"


def _read(run_dir: str) -> dict[str, Any]:
    status = query_status(run_dir)
    if "error" in status:
        raise WorkspaceError(str(status["error"]), field="run_dir", value=run_dir,
                             allowed=status_error_allowed(str(status["error"])),
                             hint=status_error_hint(str(status["error"])))
    return status


def _screen(status: Mapping[str, Any], interval: float) -> str:
    rows = max(5, shutil.get_terminal_size().lines - 10)
    table = ranked_table(status).splitlines()
    shown = table[: rows + 2] + (["  ..."] if len(table) > rows + 2 else [])
    active = ", ".join(str(a["job_id"]) for a in status["active_jobs"]) or "none"
    return "\n".join([f"{status.get('run_dir')}  (refresh every {interval:g} s, Ctrl-C to stop watching)",
                      progress_line(status["progress"]), "", *shown, "", f"active jobs: {active}",
                      *tracking_lines(status)])


def watch(run_dir: str, interval: float, as_json: bool, out: TextIO | None = None) -> int:
    """Refresh until the run ends; exit 0 when it finished, 1 when it stopped without finishing."""
    out = out or sys.stdout
    tty = redraws(out) and not as_json
    last = ""
    while True:
        status = _read(run_dir)
        progress = status["progress"]
        state = progress.get("state")
        holder = (status.get("orchestrator") or {}).get("alive")
        lost = str(progress.get("stop_reason") or "").startswith(ORCHESTRATOR_LOST)  # status: interrupted
        alive = holder if state == "running" or lost else None
        # an orchestrator that holds the lock of a run not (yet) marked running is starting or resuming it
        ended = alive is False or (state != "running" and (state == "finished" or holder is not True))
        code = EXIT_OK if state == "finished" and status.get("best") else EXIT_NO_RESULT  # as `run` exits
        if as_json:  # JSON Lines: per refresh, the object `status --json` prints, on one line
            if ended and code != EXIT_OK:  # the last line carries the error, as `run --json` prints it at exit 1
                from tao_automl.cli.main import no_result_error
                from tao_automl.errors import error_json

                status = {**status, **error_json(no_result_error(status))}
            out.write(json.dumps(status, default=str) + "\n")
        elif tty:
            out.write(_CLEAR + _screen(status, interval) + "\n")
        else:
            line = progress_line(progress)
            key = line.split("| elapsed")[0]
            if key != last:
                out.write(line + "\n")
                last = key
        out.flush()
        if getattr(out, "gone", False):  # `status --watch | head -3`: its reader left; stop watching, as Ctrl-C does
            return EXIT_OK
        if ended:
            if not as_json:
                if not tty:
                    out.write(ranked_table(status) + "\n")
                for line in tracking_lines(status):
                    out.write(line + "\n")
                if alive is False:  # how to go on, as status's orchestrator line says it (resumable or not)
                    from tao_automl.experiment.lines import orchestrator_line

                    how = orchestrator_line(status.get("orchestrator") or {}, status.get("run_dir"), progress)
                    out.write(f"the orchestrator is gone (killed?); "
                              f"{how.removeprefix('orchestrator: not running (').removesuffix(')')}\n")
                out.write(f"run {state if alive is not False else 'interrupted'}: {counts_line(progress)}\n")
                out.flush()
                if code != EXIT_OK:  # the one error line `run` prints at exit 1
                    from tao_automl.cli.main import no_result_reason

                    print(f"error: {no_result_reason(status)}", file=sys.stderr)
            return code
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            out.write("\nstopped watching; the run is not affected\n")
            return EXIT_OK

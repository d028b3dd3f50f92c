"""The live view of ``tao-automl run`` / ``resume``: a line per rec and a compact progress line.

On a terminal (stdout, text mode) the progress line is redrawn in place under the rec lines. Otherwise (stdout
piped, or ``--json`` so stdout stays clean JSON) everything goes to stderr as plain lines: a progress line after
each rec ends, and a final line counting succeeded, failed, stopped and cancelled recs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from tao_automl.experiment.core import Recommendation
from tao_automl.experiment.lines import counts_line, format_params, format_value, progress_line

_ERASE = "\r\033[K"


class LiveView:
    """Prints rec lines and the progress line to the right stream (see the module doc)."""

    def __init__(self, metric: str, *, as_json: bool, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        out, err = stdout or sys.stdout, stderr or sys.stderr
        self.metric = metric
        self.stream = out if out.isatty() and not as_json else err
        self.tty = self.stream.isatty()
        self._line = ""  # the progress line on screen (tty)
        self._completed = -1

    def _print(self, text: str) -> None:
        if self.tty and self._line:
            self.stream.write(_ERASE)
        self.stream.write(text + "\n")
        if self.tty and self._line:
            self.stream.write(self._line)
        self.stream.flush()

    def started(self, rec: Recommendation) -> None:
        self._print(f"[rec {rec.id:>3}] started  job {rec.job_id}  {format_params(rec.params)}")

    def ended(self, rec: Recommendation, value: float | None, status: str) -> None:
        shown = f"{self.metric}={format_value(value)}" if value is not None else str(rec.extra.get("message") or "")
        self._print(f"[rec {rec.id:>3}] {status:<8} {shown}")

    def progress(self, progress: Mapping[str, Any]) -> None:
        line = progress_line(progress)
        if self.tty:
            self._line = line
            self.stream.write(_ERASE + line)
            self.stream.flush()
        elif progress["completed"] != self._completed:
            self._completed = int(progress["completed"])
            self._print(line)

    def close(self, summary: Mapping[str, Any]) -> None:
        """End the live view: the last progress line stays; stderr gets the counts (stdout has the table)."""
        progress = summary.get("progress") or {}
        if self.tty and self._line:
            self.stream.write(_ERASE + progress_line(progress) + "\n")
            self._line = ""
        if self.stream is not sys.stdout and progress:
            self.stream.write(f"done: {counts_line(progress)}\n")
        self.stream.flush()

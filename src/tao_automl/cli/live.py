"""The live view of ``tao-automl run`` / ``resume``: a line per rec and a compact progress line.

On a terminal (stdout, text mode) the progress line is redrawn in place under the rec lines, and every second
between events (elapsed counts up, ETA down). Otherwise (stdout
piped, or ``--json`` so stdout stays clean JSON) everything goes to stderr as plain lines: a progress line after
each rec ends, and a final line counting succeeded, failed, stopped and cancelled recs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from tao_automl.cli.terminal import fit as _fit
from tao_automl.cli.terminal import redraws
from tao_automl.experiment.core import Recommendation
from tao_automl.experiment.lines import counts_line, format_params, metrics_text, progress_line

_ERASE = "\r\033[K"


class LiveView:
    """Prints rec lines and the progress line to the right stream (see the module doc)."""

    def __init__(self, metric: str, *, as_json: bool, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        out, err = stdout or sys.stdout, stderr or sys.stderr
        self.metric = metric
        self.stream = out if redraws(out) and not as_json else err
        self.tty = redraws(self.stream)
        self._line = ""  # the progress line on screen (tty)
        self._shown: tuple[Any, Any] = (-1, None)  # (completed, state) of the last line printed (not a tty)
        self._lock = threading.Lock()
        self._latest: dict[str, Any] = {}
        self._at = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _print(self, text: str) -> None:
        with self._lock:
            if self.tty and self._line:
                self.stream.write(_ERASE)
            self.stream.write(text + "\n")
            if self.tty and self._line:
                self.stream.write(self._line)
            self.stream.flush()

    def started(self, rec: Recommendation) -> None:
        self._print(f"[rec {rec.id:>3}] started  job {rec.job_id}  {format_params(rec.params)}")

    def ended(self, rec: Recommendation, value: float | None, status: str) -> None:
        shown = metrics_text(self.metric, value, rec.metric_values) if value is not None else str(rec.message or "")
        self._print(f"[rec {rec.id:>3}] {status:<8} {shown}")

    def _draw(self) -> None:
        """Redraw the progress line, its clock moved on by the time since the last event (holding the lock)."""
        shown = dict(self._latest)
        moved = time.monotonic() - self._at
        if shown.get("elapsed_s") is not None:
            shown["elapsed_s"] = float(shown["elapsed_s"]) + moved
        if shown.get("eta_s") is not None:
            shown["eta_s"] = max(0.0, float(shown["eta_s"]) - moved)
        line = _fit(progress_line(shown))
        if line == self._line:  # already on screen (the last rec's line, then the ended run's): not drawn again
            return
        self._line = line
        self.stream.write(_ERASE + line)
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self._draw()

    def progress(self, progress: Mapping[str, Any]) -> None:
        if self.tty:
            with self._lock:
                self._latest, self._at = dict(progress), time.monotonic()
                self._draw()
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="tao-automl-progress", daemon=True)
                self._ticker.start()
        elif progress["completed"] != self._shown[0] or progress.get("state") not in (self._shown[1], "finished"):
            self._shown = (progress["completed"], progress.get("state"))  # a rec ended, or the run stopped early
            self._print(progress_line(progress))

    def stop(self) -> None:
        """Stop redrawing (the run ended or failed); the progress line stays on screen."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.tty and self._line:
            self.stream.write("\n")
            self.stream.flush()
            self._line = ""

    def close(self, summary: Mapping[str, Any]) -> None:
        """End the live view: the last progress line stays; stderr gets the counts (stdout has the table)."""
        progress = summary.get("progress") or {}
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.tty and self._line:  # the ended run's line, unless it is the one on screen already
            last = _fit(progress_line(progress))
            self.stream.write(("" if last == self._line else _ERASE + last) + "\n")
            self._line = ""
        if self.stream is not sys.stdout and progress:  # the run's end state: finished, failed (fail-fast) …
            self.stream.write(f"{progress.get('state') or 'finished'}: {counts_line(progress)}\n")
        self.stream.flush()

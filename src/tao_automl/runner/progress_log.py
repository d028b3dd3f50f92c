"""The runner's line per rec on the ``tao_automl.progress`` logger (INFO), on by default in the Python API.

``AutoMLRunner(..., log_progress=False)`` turns it off. When the program has configured no logging at all, a
stderr handler is attached for the duration of the run, so a plain script sees the lines; otherwise the records
go to the program's own handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tao_automl.experiment.lines import progress_line, rec_line

LOGGER_NAME = "tao_automl.progress"
log = logging.getLogger(LOGGER_NAME)


@contextmanager
def default_handler(enabled: bool) -> Iterator[None]:
    """While a run goes on, show progress records on stderr when no handler would show them."""
    handler: logging.Handler | None = None
    if enabled and not logging.getLogger().handlers and not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[tao-automl] %(message)s"))
        log.addHandler(handler)
        if log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
    try:
        yield
    finally:
        if handler is not None:
            log.removeHandler(handler)


def log_rec(rec: Mapping[str, Any], progress: Mapping[str, Any], metric: str) -> None:
    """``rec 3 success: val_loss=0.12 (9 epochs, 4.1 s) [3/10 done | ... | ETA 00:28]`` at INFO."""
    log.info("%s %s", rec_line(rec, metric), progress_line(progress))

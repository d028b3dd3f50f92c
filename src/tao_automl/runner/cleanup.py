"""``automl_delete_intermediate_ckpt``: remove the checkpoints no rec will ever need again.

Runs once the schedule is over (so no pending promotion, bracket or PBT exploit can still need a
parent's checkpoint — the rival's mid-run clean-up deleted checkpoints that promotions were about to
resume from). The best rec's checkpoints are always kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from tao_automl.experiment.store import RecRow
from tao_automl.runner.fidelity import CHECKPOINT_SUFFIXES

log = logging.getLogger(__name__)


def delete_intermediate_checkpoints(recs: Sequence[RecRow], keep_rec_id: int | None) -> int:
    """Delete checkpoint files under every rec's results dir except ``keep_rec_id``'s; returns bytes freed."""
    freed = 0
    for rec in recs:
        if rec.rec_id == keep_rec_id or not rec.results_dir or not Path(rec.results_dir).is_dir():
            continue
        for path in Path(rec.results_dir).rglob("*"):
            if path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES:
                try:
                    size = path.stat().st_size
                    path.unlink()
                    freed += size
                except OSError as exc:
                    log.warning("could not delete checkpoint %s: %s", path, exc)
    return freed

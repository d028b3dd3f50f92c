"""``automl_delete_intermediate_ckpt``: remove the checkpoints no rec will ever need again.

Runs once the schedule is over (so no pending promotion, bracket or PBT exploit can still need a
parent's checkpoint — the rival's mid-run clean-up deleted checkpoints that promotions were about to
resume from). Kept: the checkpoints of the best rec (of every rec on a multi-objective run's Pareto
front) and of every rec it continued from (a promoted or exploiting rec's spec resumes its parent's
checkpoint, and the exported best spec names it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from tao_automl.experiment.store import RecRow
from tao_automl.runner.fidelity import CHECKPOINT_SUFFIXES

log = logging.getLogger(__name__)


def recs_to_keep(recs: Sequence[RecRow], kept: Iterable[int]) -> set[int]:
    """``kept`` and every rec they continued from (the ``parent`` chain of their trials)."""
    parents = {rec.rec_id: (rec.trial or {}).get("parent") for rec in recs}
    keep: set[int] = set()
    for rec_id in kept:
        current: int | None = rec_id
        while current is not None and current not in keep:
            keep.add(current)
            parent = parents.get(current)
            current = int(parent) if parent is not None else None
    return keep


def delete_intermediate_checkpoints(recs: Sequence[RecRow], kept: Iterable[int]) -> int:
    """Delete checkpoint files under every rec's results dir except those of ``kept`` and the recs they
    continued from; returns bytes freed."""
    keep = recs_to_keep(recs, kept)
    freed = 0
    for rec in recs:
        if rec.rec_id in keep or not rec.results_dir or not Path(rec.results_dir).is_dir():
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

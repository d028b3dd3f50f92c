"""The folders of the next recs, made while jobs run instead of between a job's end and the next launch.

Creating a file or folder allocates an inode, the slow part of a launch's disk work: 0.2-0.6 ms each on the
ext4 of the development VM, a network round trip on an NFS workspace. A rec's launch creates its folder, its
``results`` folder and its spec's scratch file (written, then renamed onto the spec). While jobs run, the runner
makes them for the recs it may launch next under a hidden name (``recs/.ahead-NNNN``), so the run folder only
ever shows folders of recs that exist; the launch renames its folder into place (``recs/rec_NNNN``, one rename)
and only writes. Folders made for recs that are never created (the sweep stopped first) are removed when the
sweep ends, if still empty; after a crash they stay, hidden, and the resumed run uses or removes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from tao_automl.experiment.workspace import rec_folder
from tao_automl.render.job import scratch_path
from tao_automl.util.private import private_dir, private_file

log = logging.getLogger(__name__)

#: Name prefix of a folder made ahead for a rec not created yet (hidden: ``ls`` and readers of ``recs/`` skip it).
AHEAD_PREFIX = ".ahead-"


def ahead_folder(run_dir: Path, rec_id: int) -> Path:
    """Where the folder of rec ``rec_id`` waits, made ahead, until its launch renames it to its ``rec_folder``."""
    return run_dir / "recs" / f"{AHEAD_PREFIX}{rec_id:04d}"


class FoldersAhead:
    """Makes the folders of recs not created yet, hands one to its rec's launch, removes the unused ones."""

    def __init__(self, run_dir: Path, spec_name: str) -> None:
        self.run_dir = run_dir
        self.spec_name = spec_name
        self._made: set[int] = set()

    def make(self, rec_ids: range) -> None:
        """The folder, ``results`` folder and spec scratch file of each of ``rec_ids`` (those not made yet). A disk
        error is only logged: the launch creates what is missing and reports its own errors."""
        for rec_id in rec_ids:
            if rec_id in self._made:
                continue
            folder = ahead_folder(self.run_dir, rec_id)
            try:
                private_dir(folder)
                (folder / "results").mkdir(exist_ok=True)  # the mode a platform's own mkdir would give it
                private_file(scratch_path(folder / self.spec_name))
            except OSError as exc:
                log.debug("rec %d: could not make its folder ahead (%s); its launch will", rec_id, exc)
                return
            self._made.add(rec_id)

    def take(self, rec_id: int) -> None:
        """Move the folder made ahead for ``rec_id`` (by this or a crashed earlier orchestrator) to its
        ``rec_folder``. Nothing happens when none was made, or when the rec's folder exists and holds something (a
        resumed rec: it keeps its own; the unused one is removed with the others)."""
        with contextlib.suppress(OSError):  # none made (ENOENT), or the rec's folder is not empty (ENOTEMPTY)
            os.rename(ahead_folder(self.run_dir, rec_id), rec_folder(self.run_dir, rec_id))
        self._made.discard(rec_id)

    def remove_unused(self) -> None:
        """Remove every folder still waiting under ``recs/`` (made for recs that were not launched), when nothing
        but what :meth:`make` put there is in it."""
        with contextlib.suppress(OSError):
            waiting = [p for p in (self.run_dir / "recs").iterdir() if p.name.startswith(AHEAD_PREFIX)]
            for folder in waiting:
                with contextlib.suppress(OSError):
                    scratch = scratch_path(folder / self.spec_name)
                    if scratch.stat().st_size == 0:
                        scratch.unlink()
                for empty in (folder / "results", folder):
                    with contextlib.suppress(OSError):  # not empty (someone wrote there), or already gone
                        os.rmdir(empty)
        self._made.clear()

"""The folders of the next recs, made while jobs run instead of between a job's end and the next launch.

Creating a file or folder allocates an inode, the slow part of a launch's disk work: 0.2-0.6 ms each on the
ext4 of the development VM, a network round trip on an NFS workspace. A rec's launch creates its folder, its
``results`` folder and its spec's scratch file (written, then renamed onto the spec). While jobs run, the runner
makes them for the recs it may launch next; the launch then finds them and only writes. A folder made for a rec
that is never created (the sweep stopped first) is removed when the sweep ends, if it is still empty; after a
crash it stays, empty, and the resumed run launches that rec into it.
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


class FoldersAhead:
    """Makes, and at the end removes when unused, the folders of recs not created yet."""

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
            folder = rec_folder(self.run_dir, rec_id)
            try:
                private_dir(folder)
                (folder / "results").mkdir(exist_ok=True)  # the mode a platform's own mkdir would give it
                private_file(scratch_path(folder / self.spec_name))
            except OSError as exc:
                log.debug("rec %d: could not make its folder ahead (%s); its launch will", rec_id, exc)
                return
            self._made.add(rec_id)

    def remove_unused(self, n_created: int) -> None:
        """Remove what :meth:`make` made for recs past ``n_created`` (never created), when nothing else is there."""
        for rec_id in sorted(i for i in self._made if i > n_created):
            folder = rec_folder(self.run_dir, rec_id)
            with contextlib.suppress(OSError):
                scratch = scratch_path(folder / self.spec_name)
                if scratch.stat().st_size == 0:
                    scratch.unlink()
            for empty in (folder / "results", folder):
                with contextlib.suppress(OSError):  # not empty (someone wrote there), or already gone
                    os.rmdir(empty)
        self._made = {i for i in self._made if i <= n_created}

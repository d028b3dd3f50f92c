"""A local job's folder on disk: the names of its files, and the spare folders made ahead for the next job."""

from __future__ import annotations

import atexit
import logging
import os
import socket
from pathlib import Path

import psutil

from tao_automl.platforms.local.wrapper import EXIT_FILE, PID_FILE

logger = logging.getLogger(__name__)

#: A job's persisted state, and its stdout and stderr, in its folder.
JOB_FILE = "job.json"
LOG_FILE = "output.log"
#: A job folder made ahead (:meth:`~tao_automl.platforms.local.sdk.LocalSDK.prepare_next_job`) is
#: ``<jobs_dir>/.spare-<pid>-<token>@<host>`` until a job takes it; a job id never starts with a dot.
SPARE_PREFIX = ".spare-"
#: The scratch file of a spare folder that its job's first job.json is written to, then renamed.
SPARE_SCRATCH = ".job.json.spare.tmp"
#: The files a job's launch would create, made empty in a spare folder (empty ones read as "not written yet").
SPARE_FILES = (LOG_FILE, PID_FILE, EXIT_FILE)
#: Spare folders this process made and no job took yet: removed at interpreter exit.
SPARES: set[Path] = set()


@atexit.register
def remove_spares() -> None:
    """At interpreter exit, remove the spare job folders of this process that no job took."""
    for spare in list(SPARES):
        remove_spare(spare)


def remove_spare(spare: Path) -> None:
    """Remove a spare folder and the empty files made in it; one holding anything else is left."""
    for name in (*SPARE_FILES, SPARE_SCRATCH):
        (spare / name).unlink(missing_ok=True)
    try:
        spare.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:  # something else was put there: leave it
        logger.debug("spare job folder %s not removed: %s", spare, exc)
    SPARES.discard(spare)


def remove_dead_spares(jobs_dir: Path) -> None:
    """Remove the spare folders left in ``jobs_dir`` by processes of this host that are gone (killed before their
    exit ran); a folder of another host (a shared jobs dir) is left alone: its pid means nothing here."""
    host = socket.gethostname()
    try:
        entries = [e.name for e in os.scandir(jobs_dir) if e.name.startswith(SPARE_PREFIX)]
    except OSError:
        return
    for name in entries:
        owner, _, spare_host = name[len(SPARE_PREFIX):].partition("@")
        pid = owner.split("-", 1)[0]
        if spare_host == host and pid.isdigit() and int(pid) != os.getpid() and _gone(int(pid)):
            remove_spare(jobs_dir / name)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended: no such process, or a zombie (killed, not yet reaped by its parent: it
    runs no more code, and its spare folder is no longer its own)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # not ours to inspect: count it as alive
        return False

"""The job records a platform SDK keeps on this machine, and the status/info methods built on them.

:class:`JobRecords`: one JSON record per job under ``<state_dir>/jobs[/<space>]/`` (its final state kept, so
polls keep working after the platform forgets the job and a new process re-attaches), a name index and
per-name lock files under ``names[/<space>]/``, and an in-memory cache. :class:`RecordedPlatform` gives an SDK
that keeps such records ``get_job_status`` / ``get_job_info`` and the failed-job lookup of its failure analysis,
so it implements only how to find a record (``_record``) and how to bring it up to date (``_refresh``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tao_automl.errors import UserInputError
from tao_automl.platforms.analysis import SCAN_LINES, failure_from_log
from tao_automl.platforms.base import JobStatus, PlatformBase
from tao_automl.platforms.common import name_lock
from tao_automl.platforms.files import read_json, write_json_atomic

Record = dict[str, Any]


def default_state_dir(platform: str) -> Path:
    """``$XDG_CACHE_HOME/tao-automl/<platform>`` (``~/.cache`` when unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tao-automl" / platform


def state_dir_option(state_dir: str | Path | None, state_file: str | Path | None) -> str | Path | None:
    """The state folder an SDK was given: ``state_dir``, else the folder of ``state_file`` (the spec's optional
    ``state_file=`` of every SDK: the records, logs and results folders go beside that file, as ``LocalSDK`` keeps
    its job folders beside its state file); both given, or a ``state_file`` that is no path, is refused."""
    if state_file is None:
        return state_dir
    if not isinstance(state_file, (str, os.PathLike)) or not str(state_file).strip():
        raise UserInputError(f"state_file must be a file path, got {state_file!r}", field="state_file",
                             value=str(state_file), allowed="a file path: the SDK keeps its state in its folder")
    if state_dir is not None:
        raise UserInputError(f"state_file {str(state_file)!r} and state_dir {str(state_dir)!r} both given: each "
                             "names where the SDK keeps its state; give one", field="state_file",
                             value=str(state_file), allowed="state_file or state_dir, not both")
    return Path(state_file).expanduser().parent


def job_key(name: str) -> str:
    """A deterministic, filesystem-safe key for a job name: the sanitised name plus a short hash of it."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-._")[:48] or "job"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return f"{slug}-{digest}"


def new_job_key(prefix: str = "job") -> str:
    """A fresh, unique key for a job submitted without a name."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class JobRecords:
    """The job records of one SDK (see the module docstring); ``lock`` guards them across the SDK's threads."""

    def __init__(self, state_dir: Path, space: str | None = None,
                 valid_id: Callable[[str], bool] = lambda job_id: bool(job_id)) -> None:
        self.state_dir = state_dir
        self.jobs_dir = state_dir / "jobs" / space if space else state_dir / "jobs"
        self.names_dir = state_dir / "names" / space if space else state_dir / "names"
        self.valid_id = valid_id
        self.lock = threading.RLock()
        self._cache: dict[str, Record] = {}

    def path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def save(self, rec: Record) -> Record:
        """Persist ``rec`` (atomically) under its ``id`` and keep it in the cache."""
        rec["updated_at"] = time.time()
        self._cache[str(rec["id"])] = rec
        write_json_atomic(self.path(str(rec["id"])), rec)
        return rec

    def find(self, job_id: str) -> Record | None:
        """The record of ``job_id`` from the cache, else from disk; None when there is none."""
        rec = self._cache.get(job_id)
        if rec is None and self.valid_id(job_id):
            rec = read_json(self.path(job_id))
            if rec is not None:
                self._cache[job_id] = rec
        return rec

    def remember(self, job_id: str, rec: Record) -> Record:
        """Cache ``rec`` under ``job_id`` too (another spelling of its id)."""
        self._cache[job_id] = rec
        return rec

    def name_lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Serialise submissions of one job name across threads and processes on this machine."""
        return name_lock(self.names_dir, key, self.lock)

    def named(self, key: str, name: str) -> str | None:
        """The job id the name index holds for ``name`` (stored under ``key``), or None."""
        index = read_json(self.names_dir / f"{key}.json")
        return str(index["id"]) if index and index.get("name") == name and index.get("id") else None

    def remember_name(self, key: str, name: str, job_id: str) -> None:
        write_json_atomic(self.names_dir / f"{key}.json", {"name": name, "id": job_id})


class RecordedPlatform(PlatformBase):
    """A platform SDK that keeps :class:`JobRecords`: status, info and the failed-job lookup come from here."""

    records: JobRecords

    def _record(self, job_id: str) -> Record:
        """The record of ``job_id`` (adopting a job the platform knows but this machine does not), else
        :class:`~tao_automl.platforms.base.UnknownJobError`."""
        raise NotImplementedError

    def _refresh(self, rec: Record) -> JobStatus:
        """Bring ``rec`` up to date from the platform (a final state is persisted and never asked again)."""
        raise NotImplementedError

    def get_job_status(self, job_id: str) -> JobStatus:
        """PENDING, RUNNING, SUCCESS, FAILURE or CANCELLED; works for jobs other processes submitted."""
        with self.records.lock:
            return self._refresh(self._record(job_id))

    def get_job_info(self, job_id: str) -> dict[str, Any]:
        """A copy of the job's record (platform state, exit code, paths …), refreshed."""
        with self.records.lock:
            rec = self._record(job_id)
            self._refresh(rec)
            return dict(rec)

    def _ended(self, job_id: str) -> tuple[JobStatus, Record, list[str]] | None:
        """For a failed or cancelled job: its status, a copy of its record and the telling lines of its log
        (:func:`~tao_automl.platforms.analysis.failure_from_log`); None for any other state."""
        with self.records.lock:
            rec = self._record(job_id)
            status = self._refresh(rec)
            if status not in (JobStatus.FAILURE, JobStatus.CANCELLED):
                return None
            data = dict(rec)
        return status, data, failure_from_log(self.get_job_logs(job_id, tail=SCAN_LINES))

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        raise NotImplementedError

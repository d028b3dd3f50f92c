"""The local platform: every job is a subprocess on this machine (the embedded default SDK).

Each job lives in ``<jobs_dir>/<job_id>/`` with ``job.json`` (its persisted state), ``output.log``
(stdout and stderr), ``pid`` (written by the job's wrapper itself) and, once it ends, ``exit_code.json``
written by the wrapper, a few lines of shell (:mod:`tao_automl.platforms.local.wrapper`); while jobs run, the
folder and those files of the next job are made ahead, empty, as ``.spare-<pid>-<token>@<host>`` and renamed into place
by its submission (:meth:`LocalSDK.prepare_next_job`). Everything
needed to re-attach from another process is on disk: the wrapper's pid and start time (a recycled pid is
never mistaken for the job), the exit record, and a cancel flag. A submitter killed at any instant is
covered: a job whose ``job.json`` exists but whose process never started is started by the next
``create_job`` of its name; a job whose pid was never saved is found through its pid file (or the
marker in its processes' environment) and followed; a job whose wrapper was killed has the rest of its
process group stopped, so nothing runs on untracked.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tao_automl.errors import PlatformError, PreflightError, UserInputError
from tao_automl.platforms.analysis import analyse
from tao_automl.platforms.base import Job, JobRequest, JobStatus, PlatformBase, PlatformCheck, UnknownJobError
from tao_automl.platforms.common import check_int, check_job_name, contained_path
from tao_automl.platforms.files import read_json, read_text, tail_lines, write_json_atomic
from tao_automl.platforms.local import process as proc
from tao_automl.platforms.local.gpus import GpuAllocator, check_gpu_ids, detect_gpus, foreign_gpu_ids, seen_gpus
from tao_automl.platforms.local.job_folder import (
    JOB_FILE,
    LOG_FILE,
    SPARE_FILES,
    SPARE_PREFIX,
    SPARE_SCRATCH,
    SPARES,
    remove_dead_spares,
    remove_spare,
)
from tao_automl.platforms.local.options import (
    checked_working_dir,
    default_jobs_dir,
    folder_option,
    jobs_path,
    too_many_gpus,
    wrapper_args,
)
from tao_automl.platforms.local.reaper import REAPER
from tao_automl.platforms.local.wrapper import EXIT_FILE, MARKER_ENV, PID_FILE, read_exit, read_pid, wrapper_argv
from tao_automl.platforms.local.wrapper import exit_record as exit_record_of
from tao_automl.platforms.records import job_key, new_job_key
from tao_automl.util.crash import crash_point
from tao_automl.util.writable import unwritable_reason

logger = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_FINISHED = {s.value for s in JobStatus if s.is_finished()}
# A job.json without a pid this old was never started (its creator died between the two writes).
_NEVER_STARTED_AFTER_S = 60.0
_KILL_WAIT_S = 5.0
#: Seconds the processes left behind by a killed wrapper get between SIGTERM and SIGKILL.
_ORPHAN_GRACE_S = 2.0
#: Seconds a group whose wrapper was killed may take to vanish by itself (a group-wide kill in flight).
_DYING_GRACE_S = 0.3
#: Seconds get_job_info / cancel_job wait for the watcher thread to write a job's end to job.json.
_END_WRITE_WAIT_S = 5.0


#: A job record this young without a pid may be a live submitter's that has not saved it yet (see
#: ``LocalSDK._never_started``); seconds.
_YOUNG_RECORD_S = 30.0
#: How long such a record is watched for its pid before it counts as never started; seconds.
_SETTLE_S = 1.5


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


#: Ends being written by watcher threads (daemons): the interpreter waits for them at exit (see below).
_ENDS_IN_FLIGHT: weakref.WeakSet[threading.Event] = weakref.WeakSet()


@atexit.register
def _finish_end_writes(timeout_s: float = 2.0) -> None:
    """At interpreter exit, let the watcher threads finish writing the ends they announced (a few ms), so no
    job.json is left saying "running" behind a job whose end this process already reported."""
    deadline = time.monotonic() + timeout_s
    for event in list(_ENDS_IN_FLIGHT):
        event.wait(max(0.0, deadline - time.monotonic()))


def _exit_file_unwritten(job_dir: Path) -> bool:
    """Whether the wrapper of the job in ``job_dir``, which left no exit record, reached its last line: its ``>``
    opened exit_code.json (which sets its mtime) after it wrote its pid file, and the write of the code failed (a
    full disk). A killed wrapper never touches the file (absent, or the empty one of a folder made ahead)."""
    try:
        return os.stat(job_dir / EXIT_FILE).st_mtime_ns > os.stat(job_dir / PID_FILE).st_mtime_ns
    except OSError:
        return False


@dataclass
class _Record:
    """One job as this SDK instance knows it; ``popen`` is set only for children of this process."""

    id: str
    dir: Path
    data: dict[str, Any]
    popen: subprocess.Popen[bytes] | None = None
    exited: bool = False
    #: Clear while the watcher thread writes the job's end to job.json (it does so after the wake-up).
    end_written: threading.Event = field(default_factory=_set_event, repr=False)
    #: Whether job.json holds the job's end (written once: the watcher does not write it again).
    end_saved: bool = False

    @property
    def log_path(self) -> Path:
        return self.dir / LOG_FILE


#: The job id of a job name (kept under this name for callers of the local platform).
job_id_for_name = job_key


def _end_group(pgid: int) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``_ORPHAN_GRACE_S``."""
    proc.signal_group(pgid, signal.SIGTERM)
    if not proc.wait_group_gone(pgid, _ORPHAN_GRACE_S):
        proc.signal_group(pgid, signal.SIGKILL)
        proc.wait_group_gone(pgid, _KILL_WAIT_S)


def _wrapper_signal(rec: _Record) -> str | None:
    """The signal that killed the wrapper of a job this process started (its wait status says), else None."""
    code = rec.popen.returncode if rec.popen is not None else None
    if code is None or code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _killed_by(rec: _Record) -> str:
    """How the wrapper of ``rec`` was killed, in words."""
    name = _wrapper_signal(rec)
    if name is None:  # the process that started it is gone: nothing recorded its wait status
        return "by a signal; which one is not recorded: often kill -9 or the out-of-memory killer"
    hint = ", often the out-of-memory killer or a manual kill -9" if name == "SIGKILL" else ""
    return f"by {name}{hint}"


class LocalSDK(PlatformBase):
    """Runs jobs as local subprocesses; GPU ids are handed out through ``CUDA_VISIBLE_DEVICES``."""

    job_kwargs = frozenset({"job_name", "num_nodes", "working_dir"})
    multi_node = False
    single_node_reason = ("the local platform: it runs each job on this one host (use gpu_count for several GPUs, "
                          "or slurm / kubernetes / lepton for multi-node jobs)")

    cancel_grace_s: float = 10.0
    poll_interval_s: float = 0.2
    #: Calls the runner makes on its own thread (:func:`tao_automl.runner.guard.declared_prompt`), not through its
    #: time-limited helper thread: they touch only this machine's processes and files (the jobs' folders, as the run's
    #: store does on the runner's thread), and their own waits are bounded (a few seconds at most).
    PROMPT_CALLS = frozenset({"create_job", "get_job_status", "get_job_logs", "read_job_file", "wait_for_change"})

    def __init__(
        self,
        state_file: str | Path | None = None,
        jobs_dir: str | Path | None = None,
        gpu_ids: Sequence[int] | None = None,
    ) -> None:
        state_file, jobs_dir = folder_option("state_file", state_file), folder_option("jobs_dir", jobs_dir)
        gpu_override = check_gpu_ids(gpu_ids)
        # Absolute now: every job runs in its own folder, so a relative path would mean another place there.
        self.state_file = Path(state_file).expanduser().absolute() if state_file is not None else None
        self.jobs_dir = (
            Path(jobs_dir).expanduser().absolute() if jobs_dir is not None else default_jobs_dir(self.state_file)
        )
        #: Whether the caller chose where job folders go (``jobs_dir`` or ``state_file``); if not, a run keeps them
        #: in its own folder (:meth:`keep_jobs_in`).
        self.jobs_dir_chosen = jobs_dir is not None or state_file is not None
        #: The option that placed the jobs dir (a state_file's jobs go beside it): what preflight names at fault.
        self._jobs_dir_option = "jobs_dir" if jobs_dir is not None else "state_file"
        self._gpu_override = gpu_override
        self._allocator: GpuAllocator | None = None
        #: Constructor arguments a later process needs to rebuild this SDK and re-attach to its jobs.
        self.init_options: dict[str, Any] = {
            "state_file": None if self.state_file is None else str(self.state_file),
            "jobs_dir": str(self.jobs_dir),
            "gpu_ids": self._gpu_override,
        }
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._exits = 0  # child processes reaped so far (see exits_seen)
        self._jobs: dict[str, _Record] = {}
        self._live: dict[str, _Record] = {}  # the jobs of _jobs not seen ended yet (see _unfinished)
        self._image_notice_done = False
        self._sharing_said = False  # the warning that jobs share GPUs was logged
        self._inherited_gpus: list[str] | None = None  # the GPUs a job would see without CUDA_VISIBLE_DEVICES set
        self._spare: Path | None = None  # a job folder made ahead (prepare_next_job)
        self._spares_swept = False  # spare folders of dead processes removed (once, by the first prepare_next_job)

    def keep_jobs_in(self, folder: str | Path) -> None:
        """Make the next jobs' folders under ``folder`` (the runner: ``<run folder>/jobs``, so a sweep's job logs
        stay with the run and go when it is deleted, instead of piling up in the cache dir). Jobs made before keep
        their folders; a later process finds them through the run's recorded options."""
        target = Path(folder).expanduser().absolute()
        with self._lock:
            if target == self.jobs_dir:
                return
            self.jobs_dir = target
            self.init_options["jobs_dir"] = str(target)
            spare, self._spare = self._spare, None  # a folder made ahead lies under the old jobs dir
            self._spares_swept = False
        if spare is not None:
            remove_spare(spare)

    # ----------------------------------------------------------------- GPUs
    @property
    def gpu_ids(self) -> list[str]:
        """GPU ids this SDK hands out (``gpu_ids=`` if given, else detected once)."""
        return list(self._gpus().gpu_ids)

    def _gpus(self) -> GpuAllocator:
        if self._allocator is None:
            ids = self._gpu_override if self._gpu_override is not None else detect_gpus()
            self._allocator = GpuAllocator(ids)
        return self._allocator

    def _allocate_gpus(self, job_id: str, count: int) -> list[str]:
        gpus = self._gpus()
        available = len(gpus.gpu_ids)
        if count > max(available, 1):
            raise too_many_gpus(count, gpus.gpu_ids)
        if count == 0:
            return []
        if available == 0:
            logger.info("local job %s runs on CPU: %s", job_id, "gpu_ids=[] hands out no GPUs"
                        if self._gpu_override is not None else "no GPUs found on this machine")
            return []
        usage: dict[str, int] = {}
        for rec in self._unfinished():
            for gpu in rec.data.get("gpu_ids") or []:
                usage[gpu] = usage.get(gpu, 0) + 1
        chosen = gpus.allocate(count, usage)
        shared = [gpu for gpu in chosen if usage.get(gpu)]
        if shared and not self._sharing_said:
            self._sharing_said = True  # once: every job after it shares too, as long as as many run at a time
            logger.warning(
                "local job %s shares GPU %s with %d running job(s): jobs at a time x gpu_count is more than the GPUs "
                "this machine hands out (%s), so jobs share GPUs, memory included; lower automl_max_concurrent or "
                "platform_kwargs.gpu_count to give each job GPUs of its own",
                job_id, ",".join(shared), max(usage[gpu] for gpu in shared), ", ".join(gpus.gpu_ids))
        return chosen

    def _environment_shows_gpus(self) -> bool:
        """Whether a job handed no GPUs because ``gpu_ids=[]`` was given would still see some through the environment
        it inherits (this process's ``CUDA_VISIBLE_DEVICES``, else every GPU ``nvidia-smi`` lists); found once."""
        if self._gpu_override != []:
            return False
        if self._inherited_gpus is None:
            self._inherited_gpus = detect_gpus()
        return bool(self._inherited_gpus)

    def _unfinished(self) -> list[_Record]:
        """The jobs this SDK knows that have not ended; one seen ended is dropped from the list it keeps (every
        submission reads it: a scan of every job ever known made a submission cost grow with the jobs before it,
        1.4 -> 4.7 ms over 3,000 jobs)."""
        for job_id, rec in list(self._live.items()):
            if self._refresh(rec).is_finished():
                del self._live[job_id]
        return list(self._live.values())

    # ------------------------------------------------------------ preflight
    def _jobs_dir_error(self, why: str) -> UserInputError:
        """The config key at fault when the jobs dir cannot be made or written (as the other platforms name it):
        ``platform_options.jobs_dir``, or the ``state_file`` beside which the jobs' folders go."""
        setting = f"platform_options.{self._jobs_dir_option}"
        if self._jobs_dir_option == "jobs_dir":
            return UserInputError(f"{setting}: {str(self.jobs_dir)!r} cannot hold the jobs' folders: {why}",
                                  field=setting, value=str(self.jobs_dir),
                                  allowed="a folder this machine can create and write")
        return UserInputError(f"{setting}: {str(self.state_file)!r}: the jobs' folders go beside it, in "
                              f"{str(self.jobs_dir)!r}, which cannot hold them: {why}", field=setting,
                              value=str(self.state_file), allowed="a file in a folder this machine can create and "
                              "write (or set platform_options.jobs_dir)")

    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        """``/bin/sh`` runs the jobs; the jobs dir can be created or written; ``gpu_count`` fits this machine;
        an image is ignored. Nothing is left behind (the jobs dir is probed by making and removing a folder)."""
        shell_ok = os.access("/bin/sh", os.X_OK)
        checks = [PlatformCheck("platform_reachable", shell_ok, "jobs run on this machine under /bin/sh" if shell_ok
                                else "/bin/sh is missing or not executable: the local platform cannot start jobs")]
        if self.jobs_dir_chosen:
            why = unwritable_reason(self.jobs_dir)
            checks.append(PlatformCheck("jobs_dir", why is None, f"{self.jobs_dir}" + (
                " (writable)" if why is None else f": {why}"),
                error=None if why is None else self._jobs_dir_error(why)))
        else:  # the runner keeps them in the run folder, which the workspace check covers
            checks.append(PlatformCheck("jobs_dir", True, "each job's folder goes under the run folder's jobs/ (no "
                                        "jobs_dir chosen)"))
        if gpu_count:
            checks.append(self._gpus_check(gpu_count))
        checks.append(PlatformCheck("image", True, f"{image} (ignored: the local platform runs jobs in this "
                                    "environment)" if image else "no image given"))
        return checks

    def _gpus_check(self, gpu_count: int) -> PlatformCheck:
        """``gpu_count`` fits the GPUs handed out; ``gpu_ids`` given are GPUs this machine has (said "this machine
        has 2 GPU(s)" of ``gpu_ids=[0, 7]`` on a machine without GPUs), or ``n/a`` when that cannot be compared."""
        available = len(self.gpu_ids)
        fits = gpu_count <= max(available, 1)
        source = "this machine has" if self._gpu_override is None else "gpu_ids hands out"
        detail = f"gpu_count={gpu_count}, {source} {available} GPU(s)" + (
            "" if fits else f"; the local platform runs a job on one host, at most {max(available, 1)}")
        if fits and not available:
            detail += " (the job runs on CPU)"
        if not fits:
            return PlatformCheck("gpus", False, detail, error=too_many_gpus(gpu_count, self.gpu_ids))
        if not self._gpu_override:
            return PlatformCheck("gpus", True, detail)
        seen, where = seen_gpus()
        foreign = foreign_gpu_ids(self._gpu_override, seen)
        if foreign:
            allowed = f"GPUs this machine has ({where}: {', '.join(seen)})"
            message = (f"platform_options.gpu_ids: {', '.join(foreign)} is not allowed: not a GPU of this machine "
                       f"({where} lists {', '.join(seen)}); a job given it would see no GPU")
            return PlatformCheck("gpus", False, f"{detail} ({', '.join(self._gpu_override)}); {message}",
                                 error=PreflightError(message, field="platform_options.gpu_ids",
                                                      value=list(self._gpu_override), allowed=allowed,
                                                      hint=f"list only {allowed}, or leave gpu_ids out to hand "
                                                           "them all out"))
        given = f"{detail} ({', '.join(self._gpu_override)})"
        if seen and all(g.isdigit() for g in [*seen, *self._gpu_override]):
            return PlatformCheck("gpus", True, f"{given}; this machine has them ({where} lists {', '.join(seen)})")
        # nothing to compare with, or ids in another form (GPU-<uuid>) than the machine's: not checked, not passed
        why = (f"{where} lists {', '.join(seen)}, which cannot be compared with them (an index and a GPU-<uuid> "
               "name are not matched)" if seen else f"{where} shows no GPU on this machine")
        return PlatformCheck("gpus", None, f"{given}; not confirmed: {why}")

    # --------------------------------------------------------------- create
    def submit(self, request: JobRequest) -> Job:
        """Start ``command`` as a local process group; with ``job_name`` an existing job is returned."""
        image, command, gpu_count, env_vars, outputs = (request.image, request.command, request.gpu_count,
                                                        request.env_vars, request.outputs)
        kwargs = request.options
        name = request.name
        mode, args = wrapper_args(command)
        cwd = checked_working_dir(kwargs.get("working_dir"))
        self._image_notice(image)
        with self._lock:
            job_id = job_id_for_name(name) if name else new_job_key()
            existing = self._find_named(job_id, name) if name else None
            if existing is not None and not self._never_started(existing):
                return self._job(existing)
            gpus = self._allocate_gpus(job_id, gpu_count)
            env = self._environment(gpu_count, gpus, env_vars)  # validates env_vars before any disk write
            rec = self._prepare(job_id, name, command, gpus, env_vars, outputs, cwd)
            crash_point("local_job_prepared")  # chaos tests: job.json written, no process yet
            self._launch(rec, mode, args, env)
            return self._job(rec)

    def prepare_next_job(self) -> None:
        """Idle time (jobs running): make the folder and the files the next submitted job gets (output.log, the
        wrapper's pid and exit files, empty; job.json's scratch file), so that submitting renames the folder into
        place instead of creating them: creating a file or folder is the slow part of a submission's disk work
        (0.2-0.6 ms each on the development VM's ext4, a round trip on NFS). A disk error is only logged: the
        submission then creates them itself. The folder is removed at exit if no job took it."""
        with self._lock:
            if self._spare is not None:
                return
            first = not self._spares_swept
            self._spares_swept = True
        if first:
            remove_dead_spares(self.jobs_dir)
        spare = self.jobs_dir / f"{SPARE_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}@{socket.gethostname()}"
        try:
            spare.mkdir(parents=True)
            SPARES.add(spare)
            for name in SPARE_FILES:
                os.close(os.open(spare / name, os.O_CREAT | os.O_WRONLY, 0o666))  # the modes a launch gives them
            os.close(os.open(spare / SPARE_SCRATCH, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            logger.debug("could not make a job folder ahead under %s (%s); the next submission makes its own",
                         self.jobs_dir, exc)
            remove_spare(spare)
            return
        with self._lock:
            self._spare = spare

    def _take_spare(self, job_dir: Path) -> Path | None:
        """Move the spare folder to ``job_dir``; the scratch file for its first job.json, or None (no spare, or
        ``job_dir`` already holds files: a half-created job of a dead submitter, handled the usual way)."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        try:
            os.rename(spare, job_dir)  # atomic; replaces an empty folder, fails on one with files
        except FileNotFoundError:
            SPARES.discard(spare)
            return None
        except OSError:
            self._spare = spare
            return None
        SPARES.discard(spare)
        return job_dir / SPARE_SCRATCH

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        """The job's ``working_dir`` exists (what :meth:`submit` checks of its arguments before it starts)."""
        checked_working_dir(options.get("working_dir"))

    def find_job(self, job_name: str) -> str | None:
        """The id of the job submitted under ``job_name``, or None. A job whose record was written but whose
        process never started counts as not submitted (``create_job`` with that name starts it)."""
        name = check_job_name(job_name)
        with self._lock:
            rec = self._find(job_id_for_name(str(name)))
            if rec is None or rec.data.get("name") != name or self._never_started(rec):
                return None
            return rec.id

    def _never_started(self, rec: _Record) -> bool:
        """True when ``rec``'s process never started: no pid saved, no pid file, no exit record and no process
        carrying its marker (its submitter died between writing job.json and starting the process).

        A record younger than :data:`_YOUNG_RECORD_S` may belong to a live submitter that has started the process
        but not yet saved its pid (its watcher thread saves it, the wrapper writes its pid file, both within
        milliseconds on an idle machine but not on a loaded one): it is looked at again for up to
        :data:`_SETTLE_S` before it counts as never started (a CI run once started such a job twice)."""
        if rec.popen is not None or rec.data.get("state") in _FINISHED:
            return False
        created = rec.data.get("created_at")
        young = isinstance(created, (int, float)) and time.time() - float(created) < _YOUNG_RECORD_S
        deadline = time.monotonic() + (_SETTLE_S if young else 0.0)
        while True:
            rec.data = read_json(rec.dir / JOB_FILE) or rec.data
            if rec.data.get("pid") is not None or self._adopt_pid(rec) or read_exit(rec.dir) is not None:
                return False
            pid = proc.find_by_marker(MARKER_ENV, str(rec.dir))
            if pid is not None:
                self._adopt(rec, pid)
                return False
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        logger.warning("local job %s was recorded but its process never started; starting it now", rec.id)
        return True

    def _adopt_pid(self, rec: _Record) -> bool:
        """Follow the process whose pid the wrapper wrote itself (its submitter died before saving it)."""
        pid = read_pid(rec.dir)
        if pid is None:
            return False
        self._adopt(rec, pid)
        return True

    def _adopt(self, rec: _Record, pid: int) -> None:
        started = proc.process_start_time(pid)
        if started is not None and not proc.has_marker(pid, MARKER_ENV, str(rec.dir)):
            started = None  # the wrapper is gone and its pid already belongs to another process
        rec.data.update(pid=pid, pgid=proc.group_of(pid) or pid, create_time=started, state=JobStatus.RUNNING.value,
                        started_at=rec.data.get("started_at") or time.time())
        self._save(rec)
        logger.info("local job %s: re-attached to its process %d (its pid had not been saved)", rec.id, pid)

    def _find_named(self, job_id: str, name: str) -> _Record | None:
        """The job already submitted under ``name`` (idempotent submission), if any."""
        existing = self._find(job_id)
        if existing is None:
            return None
        taken_by = existing.data.get("name")
        if taken_by != name:
            raise PlatformError(f"job id {job_id} of job_name {name!r} is taken by job {taken_by!r}")
        logger.info("local job %s (%s) already exists; not starting it again", job_id, name)
        return existing

    def _image_notice(self, image: str | None) -> None:
        if image and not self._image_notice_done:
            self._image_notice_done = True
            logger.info(  # what the local platform is for (README): a notice, not a warning on every demo run
                "the local platform ignores container images (got %r): jobs run directly on this machine "
                "with the current environment", image,
            )

    def _prepare(
        self,
        job_id: str,
        name: str | None,
        command: str | Sequence[str],
        gpus: list[str],
        env_vars: Mapping[str, str] | None,
        outputs: Mapping[str, Any] | None,
        working_dir: Path | None,
    ) -> _Record:
        job_dir = self.jobs_dir / job_id
        scratch = self._take_spare(job_dir)
        if scratch is None:
            job_dir.mkdir(parents=True, exist_ok=True)
            for stale in (EXIT_FILE, PID_FILE):  # a half-created job of a dead orchestrator
                (job_dir / stale).unlink(missing_ok=True)
        results = (outputs or {}).get("results_dir")
        results_dir = Path(results).expanduser() if results else job_dir / "results"
        results_dir.mkdir(parents=True, exist_ok=True)
        cwd = working_dir or job_dir
        data: dict[str, Any] = {
            "id": job_id,
            "name": name,
            "command": command if isinstance(command, str) else list(command),
            "cwd": str(cwd),
            "results_dir": str(results_dir.resolve()),
            "log_path": str((job_dir / LOG_FILE).resolve()),
            "gpu_ids": gpus,
            "env_var_names": sorted(env_vars or {}),
            "state": JobStatus.PENDING.value,
            "created_at": time.time(),
            "pid": None,
            "create_time": None,
            "cancel_requested": False,
        }
        rec = _Record(job_id, job_dir, data)
        self._save(rec, scratch)
        self._remember(rec)
        self._update_index(job_id, job_dir, name)
        return rec

    def _environment(
        self, gpu_count: int, gpus: list[str], env_vars: Mapping[str, str] | None
    ) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = jobs_path(env.get("PATH"))
        env.setdefault("PYTHONUNBUFFERED", "1")
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        elif (gpu_count == 0 and self._gpus().gpu_ids) or self._environment_shows_gpus():
            env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job on a GPU machine, or gpu_ids=[] given: hide the GPUs
        for key, value in (env_vars or {}).items():
            if not isinstance(key, str) or not key or "=" in key:
                raise UserInputError(f"env_vars key {key!r} is not a valid environment variable name",
                                     field="env_vars", value=key, allowed="non-empty names without '='")
            env[key] = str(value)
        return env

    def _launch(self, rec: _Record, mode: str, args: list[str], env: dict[str, str]) -> None:
        env[MARKER_ENV] = str(rec.dir)
        try:
            with rec.log_path.open("ab") as log:
                popen = subprocess.Popen(
                    wrapper_argv(rec.dir, mode, args), cwd=rec.data["cwd"], env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            rec.data.update(state=JobStatus.FAILURE.value, message=f"could not start the job process: {exc}")
            self._save(rec)
            raise PlatformError(f"local job {rec.id}: could not start /bin/sh: {exc}") from exc
        crash_point("local_job_spawned")  # chaos tests: the process runs, its pid is not saved yet
        rec.popen = popen
        rec.data.update(pid=popen.pid, pgid=popen.pid, started_at=time.time(), state=JobStatus.RUNNING.value)
        # The pid is saved with its start time by the watcher thread, off the submit path: reading the start
        # time blocks until the child's exec is complete (~1 ms), and until the save a later process finds
        # the job through the pid file the wrapper writes itself, as after a crash at this very point.
        REAPER.watch(popen, lambda: self._record_start(rec), lambda: self._record_end(rec))
        gpus = rec.data["gpu_ids"] or "none"
        logger.info("local job %s started (pid %d, gpus %s)", rec.id, popen.pid, gpus)

    def _record_start(self, rec: _Record) -> None:
        """Watcher thread, once the child runs: save its pid with its start time."""
        assert rec.popen is not None
        started = proc.process_start_time(rec.popen.pid)
        with self._lock:
            if rec.data.get("create_time") is None and rec.data.get("state") not in _FINISHED:
                rec.data["create_time"] = started
                self._persist_quietly(rec, "its pid")

    def _record_end(self, rec: _Record) -> None:
        """Watcher thread, once the child is reaped: wake ``wait_for_change``, then persist the final state."""
        with self._changed:
            rec.exited = True
            self._exits += 1
            try:
                self._refresh(rec, save=False)
            except Exception:  # never let a disk error kill the watcher silently
                logger.exception("local job %s: could not read its end", rec.id)
            snapshot = None
            if rec.data.get("state") in _FINISHED and not rec.end_saved:  # a status read may have written it
                rec.data["updated_at"] = time.time()
                snapshot = dict(rec.data)
                rec.end_written.clear()
                _ENDS_IN_FLIGHT.add(rec.end_written)
            self._changed.notify_all()
        # Persisted after the wake-up, off the caller's path: the wrapper's exit record is already on disk
        # (a later process reads the end from it), and nothing writes a finished job's job.json again.
        if snapshot is not None:
            try:
                self._persist_quietly(rec, "its end", snapshot)
            finally:
                rec.end_written.set()
                _ENDS_IN_FLIGHT.discard(rec.end_written)
        # then its processes outside its group (a /proc scan, ~1 ms; seconds when one ignores SIGTERM): a reader
        # waiting for the end's record (get_job_info) does not wait for them
        if snapshot is not None and not self._cancel_at_work(rec):
            try:
                self._stop_escaped(rec)
            except Exception:
                logger.exception("local job %s: could not stop its processes outside its group", rec.id)

    def _persist_quietly(self, rec: _Record, what: str, snapshot: dict[str, Any] | None = None) -> None:
        """Watcher thread: :meth:`_save` ``rec`` (or write ``snapshot`` of it); a disk error is logged, never
        raised (it must not kill the watcher)."""
        try:
            if snapshot is None:
                self._save(rec)
            else:
                write_json_atomic(rec.dir / JOB_FILE, snapshot)
                rec.end_saved = True
        except OSError as exc:  # a full disk, say: the machine's state, one line (no traceback from deep inside)
            logger.error("local job %s: could not record %s in %s: %s", rec.id, what, rec.dir / JOB_FILE, exc)
        except Exception:
            logger.exception("local job %s: could not record %s", rec.id, what)

    # --------------------------------------------------------------- lookup
    def _job(self, rec: _Record) -> Job:
        return Job(id=rec.id, results_dir=str(rec.data.get("results_dir") or rec.dir / "results"),
                   name=rec.data.get("name"))

    def _find(self, job_id: str) -> _Record | None:
        rec = self._jobs.get(job_id)
        if rec is not None:
            return rec
        if not _SAFE_ID.match(job_id):
            return None
        candidates = []
        index = self._read_index()
        if job_id in index:
            candidates.append(Path(index[job_id]))
        candidates.append(self.jobs_dir / job_id)
        for job_dir in candidates:
            data = read_json(job_dir / JOB_FILE)
            if data is not None:
                rec = _Record(job_id, job_dir, data)
                self._remember(rec)
                return rec
        return None

    def _remember(self, rec: _Record) -> None:
        self._jobs[rec.id] = rec
        self._live[rec.id] = rec

    def _record(self, job_id: str) -> _Record:
        rec = self._find(str(job_id))
        if rec is None:
            raise UnknownJobError(
                f"unknown local job id {job_id!r}: no {JOB_FILE} for it under {self.jobs_dir}"
                + (f" nor in the index {self.state_file}" if self.state_file else "")
            )
        return rec

    def _read_index(self) -> dict[str, str]:
        if self.state_file is None:
            return {}
        jobs = (read_json(self.state_file) or {}).get("jobs")
        if not isinstance(jobs, dict):
            return {}
        return {str(k): str(v["dir"]) for k, v in jobs.items() if isinstance(v, dict) and "dir" in v}

    def _update_index(self, job_id: str, job_dir: Path, name: str | None) -> None:
        if self.state_file is None:
            return
        data = read_json(self.state_file) or {}
        jobs = data.get("jobs")
        if not isinstance(jobs, dict):
            jobs = {}
        jobs[job_id] = {"dir": str(job_dir.resolve()), "name": name}
        data.update(platform="local", jobs_dir=str(self.jobs_dir.resolve()), jobs=jobs)
        write_json_atomic(self.state_file, data)

    def _save(self, rec: _Record, scratch: Path | None = None) -> None:
        """Write ``job.json`` (through ``scratch``, an existing file, if given); a pid is never written without its
        start time (the guard against pid reuse)."""
        if rec.data.get("pid") is not None and rec.data.get("create_time") is None and rec.popen is not None:
            rec.data["create_time"] = proc.process_start_time(int(rec.data["pid"]))
        rec.data["updated_at"] = time.time()
        write_json_atomic(rec.dir / JOB_FILE, rec.data, scratch)
        rec.end_saved = rec.data.get("state") in _FINISHED

    # --------------------------------------------------------------- status
    def get_job_status(self, job_id: str) -> JobStatus:
        """PENDING, RUNNING, SUCCESS, FAILURE or CANCELLED; works for jobs started by other processes.

        The end of a child of this process is known here as soon as it is reaped; its job.json follows
        within milliseconds (:meth:`get_job_info` and :meth:`cancel_job` wait for it)."""
        with self._lock:
            return self._refresh(self._record(job_id))

    def _refresh(self, rec: _Record, save: bool = True) -> JobStatus:
        """Current status of ``rec``; a newly observed end is persisted to job.json (``save=False``: the
        caller persists it)."""
        if rec.data.get("state") in _FINISHED:
            return JobStatus(rec.data["state"])
        if rec.popen is None:  # another process may have updated it
            rec.data = read_json(rec.dir / JOB_FILE) or rec.data
            if rec.data.get("state") in _FINISHED:
                return JobStatus(rec.data["state"])
        exit_record = read_exit(rec.dir)
        if exit_record is not None:
            self._stop_stragglers(rec)
            return self._finish(rec, exit_record, save=save)
        if rec.data.get("pid") is None and not self._adopt_pid(rec):
            age = time.time() - float(rec.data.get("created_at", 0))
            if rec.popen is None and age > _NEVER_STARTED_AFTER_S:
                return self._finish(rec, None, "its process was never started (did the submitter die?)")
            return JobStatus.PENDING
        if self._wrapper_alive(rec):
            return JobStatus.RUNNING
        exit_record = read_exit(rec.dir)  # it may have ended between the two reads
        if exit_record is None and rec.popen is not None:  # another process (a second SDK) may have cancelled it
            stored = read_json(rec.dir / JOB_FILE) or {}
            if stored.get("cancel_requested"):
                rec.data.update(cancel_requested=True, cancel_deadline=stored.get("cancel_deadline"))
                if stored.get("state") in _FINISHED:
                    rec.data.update(stored)
                    return JobStatus(stored["state"])
        if exit_record is None and rec.popen is not None and rec.popen.returncode is not None \
                and rec.popen.returncode >= 0:  # the wrapper ended by itself but could not write its exit file
            # (a full disk): it exits with the job's own code
            exit_record = exit_record_of(rec.popen.returncode, time.time())
            logger.warning("local job %s: its exit file could not be written (a full disk?); its exit code %d "
                           "comes from its process", rec.id, rec.popen.returncode)
        if exit_record is not None:
            self._stop_stragglers(rec)
        elif rec.data.get("cancel_requested") and self._cancel_in_flight(rec):
            return JobStatus.RUNNING
        reason = None if exit_record is not None else self._stop_leftovers(rec)
        return self._finish(rec, exit_record, reason, save=save)

    def _cancel_in_flight(self, rec: _Record) -> bool:
        """A cancel was asked for, the wrapper is gone and processes of the job's group live on (a trainer that
        traps SIGTERM to save a checkpoint): True while the canceller may still be at work (before the
        ``cancel_deadline`` it recorded: its SIGKILL is still to come). Past it the canceller ended before its SIGKILL
        (a ``stop --cancel-jobs`` killed during the grace): the processes get the SIGKILL here, so a job is never called
        cancelled while it runs on."""
        pgid = rec.data.get("pgid") or rec.data.get("pid")
        started = rec.data.get("create_time")
        if pgid is None or not proc.group_exists(int(pgid)) or (
                started is not None and proc.pid_belongs_to_other_process(int(pgid), float(started))):
            return False
        left = [p for p in proc.live_members(int(pgid)) if proc.has_marker(p, MARKER_ENV, str(rec.dir))]
        if not left:
            return False
        deadline = rec.data.get("cancel_deadline")
        if isinstance(deadline, (int, float)) and time.time() < float(deadline):
            return True
        logger.warning("local job %s: its cancel did not finish (the process that cancelled it ended before its "
                       "SIGKILL) and %d of its processes ran on (pids %s); stopping them", rec.id, len(left),
                       ", ".join(map(str, left[:5])))
        proc.signal_group(int(pgid), signal.SIGKILL)  # its SIGTERM was sent and its grace is over
        proc.wait_group_gone(int(pgid), _KILL_WAIT_S)
        return False

    def _stop_stragglers(self, rec: _Record) -> None:
        """The job ended: stop processes it forked that still run in its group (a dataloader worker on the GPU the
        next job gets). One syscall when none is left; the group's members are checked to be this job's."""
        pgid = rec.data.get("pgid") or rec.data.get("pid")
        if pgid is None or not proc.group_exists(int(pgid)):
            return
        left = [p for p in proc.live_members(int(pgid)) if proc.has_marker(p, MARKER_ENV, str(rec.dir))]
        if not left:
            return
        logger.warning("local job %s ended with %d of its processes still running (pids %s); stopping them",
                       rec.id, len(left), ", ".join(map(str, left[:5])))
        _end_group(int(pgid))

    def _stop_escaped(self, rec: _Record) -> None:
        """The job ended: stop its processes that left its process group (``setsid``, a daemon it started), which
        no group signal reaches and which would hold the GPU the next job gets; they carry the job's marker."""
        escaped = proc.marked_processes(MARKER_ENV, str(rec.dir))
        if not escaped:
            return
        logger.warning("local job %s ended with %d of its processes still running outside its process group (pids "
                       "%s: started in a session of their own); stopping them", rec.id, len(escaped),
                       ", ".join(str(p.pid) for p in escaped[:5]))
        if proc.end_processes(escaped, _ORPHAN_GRACE_S, _KILL_WAIT_S):
            logger.warning("local job %s: some of its processes still run after SIGKILL", rec.id)

    @staticmethod
    def _cancel_at_work(rec: _Record) -> bool:
        """Whether a cancel of ``rec`` may still be at work (before its deadline): it stops the job's processes
        outside its group itself, after its own grace."""
        deadline = rec.data.get("cancel_deadline")
        return bool(rec.data.get("cancel_requested")) and isinstance(deadline, (int, float)) and time.time() < deadline

    def _wrapper_alive(self, rec: _Record) -> bool:
        if rec.popen is not None:
            return not rec.exited and rec.popen.returncode is None
        pid, started = rec.data.get("pid"), rec.data.get("create_time")
        return pid is not None and started is not None and proc.is_same_process_alive(int(pid), float(started))

    def _stop_leftovers(self, rec: _Record) -> str | None:
        """The wrapper is gone without an exit record: stop what is left of its process group (the trainer
        would run on untracked) and say so; None when nothing was left."""
        pgid = rec.data.get("pgid") or rec.data.get("pid")
        if pgid is None or rec.data.get("cancel_requested"):
            return None
        started = rec.data.get("create_time")
        if started is not None and proc.pid_belongs_to_other_process(int(pgid), float(started)):
            return None  # the pid was recycled: never signal a stranger's group
        if proc.wait_group_gone(int(pgid), _DYING_GRACE_S):  # the whole group was killed and is dying
            return None
        left = proc.live_members(int(pgid))
        logger.warning("local job %s: its wrapper (pid %s) was killed while %d of its processes ran on; "
                       "stopping them", rec.id, pgid, len(left))
        _end_group(int(pgid))
        return (f"its wrapper process (pid {pgid}) was killed while the job ran ({_killed_by(rec)}), so its exit code "
                f"is unknown; the {len(left)} process(es) it left running were stopped")

    def _finish(
        self, rec: _Record, exit_record: dict[str, Any] | None, reason: str | None = None, save: bool = True
    ) -> JobStatus:
        if save and not self._cancel_at_work(rec):  # the watcher thread (save=False) does it after its wake-up
            self._stop_escaped(rec)
        if exit_record is not None:
            rec.data.update(
                returncode=exit_record.get("returncode"), exit_code=exit_record.get("exit_code"),
                signal=exit_record.get("signal"), finished_at=exit_record.get("finished_at"),
            )
        else:
            rec.data.update(exit_code=None, signal=_wrapper_signal(rec), finished_at=time.time())
            rec.data["message"] = reason or (
                "cancelled: its process group was stopped by the cancel before it could record an exit code"
                if rec.data.get("cancel_requested") else
                # the wrapper got as far as creating its exit file (the shell's `>`), then could not write the code
                f"its exit code was lost: its wrapper (pid {rec.data.get('pid')}) ended by itself but could not "
                f"write the code to {EXIT_FILE} (most likely the disk was full when the job ended; its log may be "
                "cut short too), and the process that started it was no longer there to read it"
                if _exit_file_unwritten(rec.dir) else
                f"its process vanished without an exit code: the wrapper (pid {rec.data.get('pid')}) was killed "
                f"({_killed_by(rec)})" if _wrapper_signal(rec) else
                f"its process vanished without an exit code: the wrapper (pid {rec.data.get('pid')}) was "
                f"killed ({_killed_by(rec)}) or the machine restarted"
            )
        # An exit record of code 0 is the job's own end even when a cancel was requested: the cancel's SIGTERM
        # reaches the wrapper too (the group's leader, a shell that keeps the default action), which then dies
        # without writing one; so the wrapper wrote it before the signal came (the job ended just before the
        # cancel, e.g. a stopping rule's) and its run is a success, never `cancelled`. Likewise a failing code that
        # no signal caused (the shell reports a command killed by signal S as 128+S) is the job's own failure.
        if exit_record is not None and exit_record.get("returncode") == 0:
            status = JobStatus.SUCCESS
        elif rec.data.get("cancel_requested") and (exit_record is None or exit_record.get("signal") is not None):
            status = JobStatus.CANCELLED
        else:
            status = JobStatus.FAILURE
        rec.data["state"] = status.value
        if save:
            try:
                self._save(rec)
            except OSError as exc:  # a full disk, say: the end is known all the same (the wrapper's exit record)
                logger.error("local job %s: could not record its end in %s: %s", rec.id, rec.dir / JOB_FILE, exc)
        return status

    def get_job_info(self, job_id: str) -> dict[str, Any]:
        """A copy of the job's persisted record (pid, gpu_ids, exit_code, signal, state …), refreshed; a
        finished job's record is on disk when this returns."""
        with self._lock:
            rec = self._record(job_id)
            self._refresh(rec)
            data = dict(rec.data)
        rec.end_written.wait(_END_WRITE_WAIT_S)
        return data

    # ----------------------------------------------------------------- logs
    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        """The job's combined stdout/stderr, or its last ``tail`` lines; None when there is no log yet."""
        if tail is not None:
            tail = check_int("tail", tail, 0)
        with self._lock:
            path = self._record(job_id).log_path
        return read_text(path) if tail is None else tail_lines(path, tail)

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        """Text of a file under the job's results dir; None when absent. Paths may not leave that dir."""
        with self._lock:
            results = self._job(self._record(job_id)).results_dir
        return read_text(contained_path(results, relative_path))

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        """None for a pending, running or successful job; else exit code, signal, error lines, a message."""
        with self._lock:
            rec = self._record(job_id)
            status = self._refresh(rec)
            if status not in (JobStatus.FAILURE, JobStatus.CANCELLED):
                return None
            data = dict(rec.data)
        return analyse(rec.id, status.value, data, rec.log_path)

    # --------------------------------------------------------------- cancel
    def cancel_job(self, job_id: str) -> bool:
        """SIGTERM the job's process group, SIGKILL it after ``cancel_grace_s``; False if it had already finished,
        or finished by itself before the signal reached it (its own exit code recorded: it ends a success, or a
        failure the runner collects with its reason)."""
        with self._lock:
            rec = self._record(job_id)
            if self._refresh(rec).is_finished():
                return False
            # until then the canceller may still be at work; past it, whoever reads the job stops what is left
            rec.data.update(cancel_requested=True, cancel_deadline=time.time() + self.cancel_grace_s + _KILL_WAIT_S + 1)
            self._save(rec)
            pgid = rec.data.get("pgid") or rec.data.get("pid")
            started = rec.data.get("create_time")
            if pgid is not None and rec.popen is None and started is not None \
                    and proc.pid_belongs_to_other_process(int(pgid), float(started)):
                pgid = None  # the pid was recycled: never signal a stranger's group
        # the job's processes that left its group (setsid, a daemon) get the same signals: a group signal misses them
        escaped = [p for p in proc.marked_processes(MARKER_ENV, str(rec.dir))
                   if pgid is None or proc.group_of(p.pid) != int(pgid)]
        for process in escaped:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        signalled = time.monotonic()
        if pgid is not None:
            self._terminate_group(rec.id, int(pgid))
        if escaped:
            self._end_escaped(rec.id, escaped, self.cancel_grace_s - (time.monotonic() - signalled))
        with self._changed:
            if rec.data.get("state") not in _FINISHED:
                self._finish(rec, read_exit(rec.dir))
            self._changed.notify_all()
        rec.end_written.wait(_END_WRITE_WAIT_S)
        if rec.data.get("state") != JobStatus.CANCELLED.value:
            logger.info("local job %s ended by itself (%s) before the cancel reached it", rec.id,
                        rec.data.get("state"))
            return False
        logger.info("local job %s cancelled", rec.id)
        return True

    def _terminate_group(self, job_id: str, pgid: int) -> None:
        if not proc.signal_group(pgid, signal.SIGTERM):
            return
        if proc.wait_group_gone(pgid, self.cancel_grace_s):
            return
        grace = self.cancel_grace_s
        logger.warning("local job %s ignored SIGTERM for %.1f s; sending SIGKILL", job_id, grace)
        proc.signal_group(pgid, signal.SIGKILL)
        if not proc.wait_group_gone(pgid, _KILL_WAIT_S):
            logger.warning("local job %s: process group %d still exists after SIGKILL", job_id, pgid)

    def _end_escaped(self, job_id: str, escaped: list[psutil.Process], grace_s: float) -> None:
        """The cancel's end of the job's processes outside its group, SIGTERMed with the group: SIGKILL those still
        running after what is left of ``grace_s``."""
        alive = proc.wait_processes_gone(escaped, max(0.0, grace_s))
        if not alive:
            return
        logger.warning("local job %s: %d of its processes outside its process group ignored SIGTERM; sending "
                       "SIGKILL", job_id, len(alive))
        if proc.end_processes(alive, 0.0, _KILL_WAIT_S):
            logger.warning("local job %s: processes %s still run after SIGKILL", job_id,
                           ", ".join(str(p.pid) for p in alive))

    # ----------------------------------------------------------------- wait
    def exits_seen(self) -> int:
        """How many jobs started by this SDK object have exited so far. The runner compares it, without waiting, to
        stop optional idle work (a brain's ``prepare``) as soon as a job ends."""
        return self._exits

    def wait_for_change(self, job_ids: Sequence[str], timeout: float) -> None:
        """Block until one of ``job_ids`` has finished or ``timeout`` seconds pass.

        Children of this process wake the caller as soon as they exit (see :mod:`tao_automl.platforms.local.reaper`);
        jobs started by another process are polled every ``poll_interval_s``.
        """
        deadline = time.monotonic() + max(0.0, float(timeout))
        with self._changed:
            recs = [self._record(j) for j in job_ids]
            while True:
                for rec in recs:
                    if rec.data.get("state") in _FINISHED:
                        return
                    # a child that exited unfinished (its group outlives a cancel in flight) is polled as others are
                    if (rec.popen is None or rec.exited) and self._refresh(rec).is_finished():
                        return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if any(rec.popen is None or rec.exited for rec in recs):
                    remaining = min(remaining, self.poll_interval_s)
                self._changed.wait(remaining)

"""The Docker platform: every job is a container on a Docker engine, driven by the ``docker`` Python SDK.

A job is one container (``sh -c <command>`` in the job's image, under ``docker-init``), named after the
``job_name`` so a second ``create_job`` with that name finds it instead of starting another. The results
dir and the folders of the host files the command names (the spec file's folder) are bind-mounted at the
same path, and so are (read-only) the host files and folders its declared ``inputs`` (datasets) name, so those
absolute paths in the spec mean the same file inside and outside; other host paths need ``mounts``. Networking is
``host`` (default) or ``none``; the default bridge is refused. A small state dir keeps one JSON record per
job (cancel flag, final state), so polls keep working after a container is removed and a new process can
re-attach with ``init_options``; an ended container's output is copied to ``container.log`` in its results
folder, so its log outlives it too: once the runner stored the rec's result, :meth:`DockerSDK.release_job` removes the
container (unless ``keep_containers``), and a name index keeps the job findable by its name. A container the engine
was asked to stop or kill by someone else (its event log says so) ends CANCELLED, as on other platforms. Needs the
``docker`` extra:
``pip install 'tao-run-automl[docker]'``.

An image the engine lacks is pulled in the background (:mod:`~tao_automl.platforms.docker.pulls`: one pull per
image, shared by its jobs), never inside ``create_job``, which waits :data:`~.pulls.ANSWER_S` seconds (a registry
that refuses answers by then, and ``create_job`` raises naming the image) and otherwise returns a PENDING job whose id
is its container name (Docker takes a name wherever it takes an id), with the pull's progress as its message and its
log. The container is created and started only by a later status call that finds the pull ended well and the job
not cancelled; a pull that fails, or makes no progress for ``pull_stall_s`` seconds, ends the job FAILURE naming the
image. A new process that finds such a job (resume) pulls again (the engine keeps the layers it has).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.errors import PlatformError, PlatformUnreachableError, UserInputError, require_extra
from tao_automl.platforms.base import Job, JobRequest, JobStatus, PlatformCheck, UnknownJobError
from tao_automl.platforms.common import check_flag, check_int, check_job_name, contained_path, rfc3339_time
from tao_automl.platforms.docker.events import outside_signals, removal
from tao_automl.platforms.docker.image import check_reference, image_check
from tao_automl.platforms.docker.pulls import ANSWER_S, STALL_S, ImagePull
from tao_automl.platforms.docker.spec import (
    LABEL_PREFIX,
    USER_ALLOWED,
    byte_size,
    check_network,
    check_user,
    container_name,
    parse_mounts,
    run_options,
)
from tao_automl.platforms.docker.state import describe, state_info, to_status
from tao_automl.platforms.files import read_text, tail_lines
from tao_automl.platforms.records import JobRecords, RecordedPlatform, default_state_dir, new_job_key, state_dir_option
from tao_automl.platforms.retry import TransientPlatformError
from tao_automl.util.reach import unreachable_error

logger = logging.getLogger(__name__)

_FINISHED = {s.value for s in JobStatus if s.is_finished()}
#: What the engine answers a ``--gpus`` container when it has no NVIDIA runtime (no GPUs to give).
_NO_GPU_DRIVER = 'could not select device driver "nvidia"'
#: What the engine answers when the image has no such ``user`` (or group) in its passwd (group) file.
_NO_USER = re.compile(r"unable to find (user|group) .*: no matching entries")
#: The copy of an ended container's output, in the job's results folder.
LOG_FILE = "container.log"
#: A job id: a container id, or the container name of a job created before its container (its image was pulled).
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")


def _said(error: PlatformError) -> str:
    """A pull's error as a job's message (its detail without the ``docker:`` every SDK error starts with)."""
    return error.detail.removeprefix("docker: ")


def _docker() -> Any:
    """The ``docker`` package, imported on first use."""
    return require_extra("docker", "docker", "platform 'docker'")


def _exited_zero(info: Mapping[str, Any]) -> bool:
    return info.get("container_state") == "exited" and info.get("exit_code") == 0 and not info.get("oom_killed")


def _seconds(name: str, value: object, zero: bool = False) -> float:
    """``value`` as a finite number of seconds > 0 (>= 0 with ``zero``; bools, NaN and infinity refused), else a
    one-line error naming ``name``."""
    least = ">= 0" if zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
            value < 0 or (value == 0 and not zero):
        raise UserInputError(f"{name} must be a finite number of seconds {least}, got {value!r}", field=name,
                             value=value, allowed=f"a finite number of seconds {least}, such as 10")
    return float(value)


def _created_age_s(attrs: Mapping[str, Any]) -> float:
    created = rfc3339_time(attrs.get("Created"))
    return 0.0 if created is None else time.time() - created


class DockerSDK(RecordedPlatform):
    """Runs jobs as containers on a Docker engine; see the module docstring."""

    job_kwargs = frozenset({"job_name", "labels", "mem_limit", "mounts", "network", "num_nodes", "working_dir", "user",
                            "shm_size", "entrypoint"})
    multi_node = False
    single_node_reason = ("the docker platform: a container runs on one host (use slurm or kubernetes for "
                          "multi-node jobs)")

    poll_interval_s: float = 0.5
    #: Seconds an image pull may go without progress before its jobs fail (:data:`~.pulls.STALL_S`).
    pull_stall_s: float = STALL_S
    #: Seconds ``create_job`` waits on a pull before it returns a PENDING job (:data:`~.pulls.ANSWER_S`).
    pull_answer_s: float = ANSWER_S

    def __init__(
        self,
        base_url: str | None = None,
        image: str | None = None,
        network: str = "host",
        mounts: Mapping[str, Any] | None = None,
        state_dir: str | Path | None = None,
        user: str | None = None,
        shm_size: str | None = None,
        mount_command_paths: bool = True,
        cancel_grace_s: float = 10.0,
        timeout_s: float = 60.0,
        state_file: str | Path | None = None,
        keep_containers: bool = False,
    ) -> None:
        state_dir = state_dir_option(state_dir, state_file)
        for key, value, allowed in (
                ("base_url", base_url, "a Docker engine URL such as unix:///var/run/docker.sock or tcp://HOST:2376"),
                ("image", image, "a Docker image reference such as nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt")):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise UserInputError(f"{key} must be a non-empty string, got {value!r}", field=key, value=value,
                                     allowed=allowed)
        if state_dir is not None and (not isinstance(state_dir, (str, os.PathLike)) or not str(state_dir).strip()
                                      or (Path(state_dir).expanduser().exists()
                                          and not Path(state_dir).expanduser().is_dir())):
            raise UserInputError(f"state_dir must be a folder path (a folder, or one this tool may create), got "
                                 f"{state_dir!r}", field="state_dir", value=str(state_dir),
                                 allowed="a path to a folder (made when missing), e.g. ~/.tao-automl/docker")
        self.network = check_network(network)
        mount_command_paths = check_flag("mount_command_paths", mount_command_paths)
        #: Keep an ended job's container after its rec's result is stored (``docker inspect`` it); by default
        #: :meth:`release_job` removes it, its log kept in ``LOG_FILE``.
        self.keep_containers = check_flag("keep_containers", keep_containers)
        parse_mounts(mounts)  # validate now
        if shm_size is not None:
            byte_size("shm_size", shm_size)
        if user is not None:
            check_user(user)
        cancel_grace_s = _seconds("cancel_grace_s", cancel_grace_s, zero=True)
        timeout_s = _seconds("timeout_s", timeout_s)
        self.image = image
        self.state_dir = Path(state_dir).expanduser() if state_dir is not None else default_state_dir("docker")
        self.cancel_grace_s = float(cancel_grace_s)
        self.defaults: dict[str, Any] = {"mounts": dict(mounts or {}), "user": user, "shm_size": shm_size,
                                         "mount_command_paths": mount_command_paths}
        docker = _docker()
        try:
            if base_url:
                self.client: Any = docker.DockerClient(base_url=base_url, version="auto", timeout=timeout_s)
            else:
                self.client = docker.from_env(timeout=timeout_s)
        except docker.errors.DockerException as exc:
            where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            field = "platform_options.base_url" if base_url else "DOCKER_HOST"
            if unreachable_error(exc):
                raise PlatformUnreachableError(
                    f"cannot reach the Docker engine at {where}: {exc}", field=field, value=where,
                    hint="start the Docker engine (dockerd) or point DOCKER_HOST / platform_options.base_url at a "
                         "running one, then retry; nothing was started") from None
            raise UserInputError(f"the Docker engine at {where} cannot be used: {exc}", field=field, value=where,
                                 allowed="a Docker engine URL such as unix:///var/run/docker.sock or "
                                         "tcp://HOST:2376 (with its TLS settings)") from None
        self._errors: Any = docker.errors
        #: Constructor arguments a later process needs to rebuild this SDK and re-attach to its jobs.
        self.init_options: dict[str, Any] = {
            "base_url": base_url, "image": image, "network": self.network, "mounts": dict(mounts or {}),
            "state_dir": str(self.state_dir), "user": user, "shm_size": shm_size,
            "mount_command_paths": mount_command_paths, "cancel_grace_s": self.cancel_grace_s,
            "timeout_s": timeout_s, "keep_containers": self.keep_containers,
        }
        self.records = JobRecords(self.state_dir, valid_id=lambda job_id: bool(_JOB_ID.match(job_id)))
        self._pulls: dict[str, ImagePull] = {}
        self._pulls_lock = threading.Lock()

    # --------------------------------------------------------- preflight
    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        """The engine answers a ping; the image is on the engine or its registry knows it (nothing is pulled)."""
        try:
            self.client.ping()
            version = self.client.version().get("Version", "?")
        except self._errors.DockerException as exc:
            return [PlatformCheck("platform_reachable", False, f"the Docker engine did not answer a ping: {exc}",
                                  unreachable=unreachable_error(exc))]
        checks = [PlatformCheck("platform_reachable", True, f"Docker engine {version} answered")]
        if gpu_count:
            checks.append(self._gpu_check(gpu_count, "gpu_count" in (job_options or {})))
        image = image or self.image
        if image:
            checks.append(image_check(self.client, self._errors, image))
        return checks

    def _gpu_check(self, gpu_count: int, given: bool) -> PlatformCheck:
        """Whether the engine lists the NVIDIA runtime that ``--gpus`` jobs need. Without it, GPUs may still work
        (the toolkit's hook found by the daemon): not confirmed rather than failed."""
        asked = f"gpu_count={gpu_count}" + ("" if given else " (the default when platform_kwargs.gpu_count is not set)")
        try:
            runtimes = sorted(self.client.info().get("Runtimes") or {})
        except self._errors.DockerException as exc:
            return PlatformCheck("gpus", None, f"{asked}: not checked: the engine's info failed: {exc}")
        if "nvidia" in runtimes:
            return PlatformCheck("gpus", True, f"{asked}: the engine has the nvidia runtime")
        return PlatformCheck("gpus", None, f"{asked}: not confirmed: the engine lists no nvidia runtime "
                             f"({', '.join(runtimes) or 'none'}); unless the NVIDIA Container Toolkit is set up on it, "
                             "every job fails with 'could not select device driver \"nvidia\"'; for CPU jobs set "
                             "platform_kwargs.gpu_count: 0")

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        """What :meth:`submit` checks before it contacts the engine: network, mounts, sizes, labels, paths."""
        run_options(image=self.image or "image", command="true", name="check", gpu_count=gpu_count, env_vars=None,
                    results_dir=str(self.state_dir / "results"), job_name=None,
                    network=check_network(options.get("network", self.network)), kwargs=options,
                    defaults=self.defaults)

    # ----------------------------------------------------------- records
    def _container(self, ref: str) -> Any | None:
        try:
            return self.client.containers.get(ref)
        except self._errors.NotFound:
            return None
        except self._errors.APIError as exc:
            raise PlatformError(f"docker: looking up container {ref}: {exc}") from exc
        except (self._errors.DockerException, OSError) as exc:  # requests' ConnectionError is an OSError
            if not unreachable_error(exc):
                raise
            where = self.init_options["base_url"] or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            raise TransientPlatformError(
                f"docker: the Docker engine at {where} did not answer (stopped or restarting?) while looking up "
                f"container {ref}: {type(exc).__name__}: {exc}", field="platform_options.base_url", value=where,
                hint="the job's container is left as it was; ask again once the engine answers") from exc

    def _adopt(self, container: Any) -> dict[str, Any]:
        """A record for a container this state dir does not know yet (submitted by another machine)."""
        labels = container.labels or {}
        rec = {"id": container.id, "container_name": container.name, "name": labels.get(f"{LABEL_PREFIX}job-name"),
               "results_dir": labels.get(f"{LABEL_PREFIX}results-dir") or "", "state": JobStatus.PENDING.value,
               "submitted_at": time.time(), "cancel_requested": False}
        self.records.save(rec)
        return rec

    def _record(self, job_id: str) -> dict[str, Any]:
        job_id = str(job_id).strip()
        rec = self.records.find(job_id)
        if rec is None:
            container = self._container(job_id) if job_id else None
            if container is None:
                raise UnknownJobError(f"unknown docker job id {job_id!r}: the engine has no such container and "
                                      f"there is no record of it under {self.state_dir / 'jobs'}")
            rec = self._rec_of(container)
        return self.records.remember(job_id, rec)

    def _rec_of(self, container: Any) -> dict[str, Any]:
        """The record of ``container``: kept under its id, or under its name (a job whose image was pulled first),
        else adopted."""
        return self.records.find(container.id) or self.records.find(container.name) or self._adopt(container)

    def _job(self, rec: Mapping[str, Any]) -> Job:
        return Job(id=str(rec["id"]), results_dir=str(rec["results_dir"]), name=rec.get("name"))

    # ------------------------------------------------------------ create
    def submit(self, request: JobRequest) -> Job:
        """Create and start a container running ``command``; with ``job_name`` an existing one is returned. When the
        engine lacks the image, its pull is started (or joined) and, unless it fails within ``pull_answer_s``, a
        PENDING job is returned whose container a later status call creates (see the module docstring)."""
        image, command, gpu_count, env_vars, outputs = (request.image, request.command, request.gpu_count,
                                                        request.env_vars, request.outputs)
        kwargs = request.options
        name = request.name
        image = image or self.image
        if not image:
            raise UserInputError("image: the docker platform needs a container image; set the skill's "
                                 "container_image, pass image=..., or give DockerSDK(image=...) a default",
                                 field="image", value=image, allowed="a container image reference (repo/name:tag)")
        check_reference(image)
        network = check_network(kwargs.get("network", self.network))
        fallback = new_job_key("tao-job")
        cname = container_name(name, fallback)
        results = (outputs or {}).get("results_dir")
        results_dir = str(Path(str(results)).expanduser().resolve()) if results else \
            str((self.state_dir / "results" / cname).resolve())
        options = run_options(image=image, command=command, name=cname, gpu_count=gpu_count, env_vars=env_vars,
                              results_dir=results_dir, job_name=name, network=network, kwargs=kwargs,
                              defaults=self.defaults, inputs=request.inputs)
        with self.records.name_lock(cname):
            existing = self._container(cname) if name else None
            if existing is not None:
                logger.info("docker job %s (%s) already exists; not starting it again", cname, name)
                return self._existing(existing)
            released = self._released(cname, name) if name else None
            if released is not None:
                logger.info("docker job %s (%s) already ran (its container was removed once it ended); not starting "
                            "it again", cname, name)
                return self._job(released)
            waiting = self._waiting(cname) if name else None
            if waiting is not None:
                logger.info("docker job %s (%s) already waits for its image; not submitting it again", cname, name)
                return self._job(waiting)
            Path(results_dir).mkdir(parents=True, exist_ok=True)
            container = self._create(options)
            rec = {"id": container.id if container is not None else cname, "container_name": cname, "name": name,
                   "results_dir": results_dir, "image": image, "gpu_count": gpu_count,
                   "mem_limit": options.get("mem_limit"), "user": options.get("user"), "state": JobStatus.PENDING.value,
                   "submitted_at": time.time(), "cancel_requested": False}
            if container is None:
                pull = self._pull(image)
                rec.update(pulling=image, create_options=options, message=pull.progress())
                self.records.save(rec)
            else:
                self.records.save(rec)
                self._start(container, rec)
                logger.info("docker job %s started (container %s, image %s)", cname, container.short_id, image)
                return self._job(rec)
        return self._answer(rec, pull)

    def _waiting(self, cname: str) -> dict[str, Any] | None:
        """The record of the job ``cname`` created before its container (its image pulled), unless its
        ``create_job`` raised (then a new submission replaces it)."""
        rec = self.records.find(cname)
        return rec if rec is not None and rec.get("pulling") and not rec.get("refused") else None

    def _released(self, cname: str, name: str) -> dict[str, Any] | None:
        """The record of the job ``name`` whose container :meth:`release_job` removed once it ended: the job ran, so
        a submission under its name finds it instead of running it again."""
        job_id = self.records.named(cname, name)
        return self.records.find(job_id) if job_id else None

    def _answer(self, rec: dict[str, Any], pull: ImagePull) -> Job:
        """``create_job``'s answer for a job whose image is being pulled: raise when the pull failed within
        ``pull_answer_s`` (the job is then never started), else the PENDING job. Its container is never created here
        (a call abandoned by its caller must start nothing): a later status call does it."""
        pull.done.wait(max(0.0, self.pull_answer_s - (time.monotonic() - pull.started)))  # a joined pull: at once
        with self.records.lock:
            failure = pull.failure()
            if failure is not None and rec.get("state") not in _FINISHED:
                rec.update(state=JobStatus.FAILURE.value, message=_said(failure), refused=True)
                rec.pop("create_options", None)  # its env holds the job's secrets: kept only until it is created
                self.records.save(rec)
                raise failure
            if rec.get("pulling") and rec.get("state") not in _FINISHED:
                self._pending(rec, pull)
        logger.info("docker job %s: %s", rec["container_name"], rec.get("message") or rec.get("state"))
        return self._job(rec)

    def _pull(self, image: str) -> ImagePull:
        """The running pull of ``image`` in this SDK, else a new one (one pull per image, shared by its jobs)."""
        with self._pulls_lock:
            pull = self._pulls.get(image)
            if pull is None or not pull.running:
                pull = self._pulls[image] = ImagePull(self.client, image)
                logger.info("docker: pulling image %s in the background", image)
            return pull

    def _create(self, options: dict[str, Any]) -> Any | None:
        """The container of ``options`` (an existing one of that name after a 409), or None: the engine lacks
        the image."""
        try:
            return self.client.containers.create(**options)
        except self._errors.ImageNotFound:
            return None
        except self._errors.APIError as exc:
            if exc.status_code == 409:  # another process created the same name just now
                found = self._container(options["name"])
                if found is not None:
                    return found
            raise PlatformError(f"docker: creating container {options['name']}: {exc.explanation or exc}") from exc

    def _start(self, container: Any, rec: dict[str, Any]) -> None:
        try:
            container.start()
        except self._errors.APIError as exc:
            with contextlib.suppress(self._errors.APIError):
                container.remove(force=True)  # frees the name for a corrected retry
            rec.update(state=JobStatus.FAILURE.value, message=f"the container could not start: {exc.explanation}")
            self.records.save(rec)
            gpus = rec.get("gpu_count")
            said = str(exc.explanation or exc)
            if _NO_USER.search(said):  # the image has no such user or group: every job would fail the same way
                user = rec.get("user")
                raise UserInputError(f"user={user!r}: the image {rec.get('image')} cannot run as it: {said}",
                                     field="user", value=user, allowed=USER_ALLOWED) from exc
            if gpus and _NO_GPU_DRIVER in said:  # every job asking for GPUs fails the same way
                raise UserInputError(
                    f"gpu_count={gpus}: the Docker engine cannot give containers GPUs: {exc.explanation or exc}",
                    field="gpu_count", value=gpus,
                    allowed="0 on this engine (no NVIDIA runtime / GPUs); GPUs need the NVIDIA Container Toolkit on "
                            "the engine's machine") from exc
            raise PlatformError(f"docker: starting container {rec['container_name']}: "
                                f"{exc.explanation or exc}") from exc
        rec["state"] = JobStatus.RUNNING.value
        self.records.save(rec)

    def find_job(self, job_name: str) -> str | None:
        """The id of the job submitted under ``job_name`` (its container's id; its container name while its image is
        pulled), or None. A container that was created but never started counts as not submitted (``create_job``
        with that name starts it), as does a job whose ``create_job`` raised."""
        cname = container_name(check_job_name(job_name), "")
        with self.records.name_lock(cname):
            container = self._container(cname)
            if container is None:
                found = self._waiting(cname) or self._released(cname, job_name)
                return None if found is None else str(found["id"])
            if (container.attrs.get("State") or {}).get("Status") == "created":
                return None
            return str(self._rec_of(container)["id"])

    def _existing(self, container: Any) -> Job:
        rec = self._rec_of(container)
        if (container.attrs.get("State") or {}).get("Status") == "created":
            self._start(container, rec)  # its creator died between create and start
        return self._job(rec)

    # ----------------------------------------------------- image pulls
    def _advance(self, rec: dict[str, Any]) -> JobStatus | None:
        """A job created before its container: PENDING while its image is pulled (the pull's progress as its
        message), CANCELLED or FAILURE without a container; None once its container exists (created and started
        here when the pull ended well: only here, under the job's name lock)."""
        image = str(rec["pulling"])
        if rec.get("cancel_requested"):
            return self._settle(rec, JobStatus.CANCELLED, f"it was cancelled while its image {image} was pulled; "
                                                          "no container was created")
        pull = self._pulls.get(image)
        if pull is not None:
            pull.check_stall(self.pull_stall_s)
            failure = pull.failure()
            if failure is not None:
                return self._settle(rec, JobStatus.FAILURE, _said(failure))
            if not pull.done.is_set():
                return self._pending(rec, pull)
        return self._create_pulled(rec)

    def _pending(self, rec: dict[str, Any], pull: ImagePull) -> JobStatus:
        """Record a job as waiting for ``pull``: its progress as the message, in coarse steps as the reason."""
        return self._settle(rec, JobStatus.PENDING, pull.progress(), pull.reason())

    def _settle(self, rec: dict[str, Any], status: JobStatus, message: str, reason: str | None = None) -> JobStatus:
        """Record ``status`` and ``message`` for a job without a container (saved only when they changed); while it
        is PENDING, ``reason`` (default: the message) is its ``pending_reason`` (the runner's ``status`` shows it and
        its log says when it changes, as for Slurm's Reason)."""
        reason = f"Docker: {reason or message}" if status is JobStatus.PENDING else None
        ended = status.is_finished() and "create_options" in rec  # its env holds the job's secrets: not kept
        if rec.get("state") != status.value or rec.get("message") != message or rec.get("pending_reason") != reason \
                or ended:
            rec.update(state=status.value, message=message, pending_reason=reason)
            if status.is_finished():
                rec.pop("create_options", None)
            self.records.save(rec)
        return status

    def _create_pulled(self, rec: dict[str, Any]) -> JobStatus | None:
        """Create and start the container of a job whose image pull ended (or that this process has not pulled
        for: a resumed sweep), idempotent by container name; the image still missing: pull it (again)."""
        cname = str(rec["container_name"])
        with self.records.name_lock(cname):
            container = self._container(cname)
            if container is None:
                try:
                    container = self._create(dict(rec["create_options"]))
                except PlatformError as exc:
                    return self._settle(rec, JobStatus.FAILURE, _said(exc))
                if container is None:  # a resumed sweep, or the image was removed since: (re)start its pull
                    return self._pending(rec, self._pull(str(rec["pulling"])))
            for key in ("pulling", "create_options", "message", "pending_reason"):
                rec.pop(key, None)
            rec["pulled"] = True
            if (container.attrs.get("State") or {}).get("Status") == "created":
                try:
                    self._start(container, rec)
                except (PlatformError, UserInputError):
                    return JobStatus.FAILURE  # recorded by _start, with the engine's reason
            self.records.save(rec)
            logger.info("docker job %s started (container %s, image %s)", cname, container.short_id, rec.get("image"))
        return None

    def _pull_log(self, rec: dict[str, Any]) -> str:
        """What a job created before its container shows as its log: its image pull's progress lines in this
        process, else its last message."""
        pull = self._pulls.get(str(rec["pulling"]))
        if pull is not None and pull.lines:
            return pull.log()
        return f"{rec.get('message') or 'pulling image ' + str(rec['pulling'])}\n"

    # ------------------------------------------------------------ status
    def _refresh(self, rec: dict[str, Any]) -> JobStatus:
        if rec.get("state") in _FINISHED:
            return JobStatus(rec["state"])
        if rec.get("pulling"):
            waiting = self._advance(rec)
            if waiting is not None:
                return waiting
        container = self._container(str(rec["id"]))
        if container is None:
            return self._removed(rec)
        info = state_info(container.attrs.get("State") or {})
        status = to_status(info, bool(rec.get("cancel_requested")), _created_age_s(container.attrs))
        if status is JobStatus.FAILURE and info["container_state"] == "exited" and not info["oom_killed"]:
            signals = outside_signals(self.client, self._errors, str(rec["id"]), container.attrs.get("State") or {})
            if signals:  # docker stop / kill by someone else: cancelled outside the sweep, not a failure of the job
                status, info["outside_signals"] = JobStatus.CANCELLED, signals
        elif status is JobStatus.CANCELLED and _exited_zero(info) and \
                not outside_signals(self.client, self._errors, str(rec["id"]), container.attrs.get("State") or {}):
            # a cancel was asked, but the engine sent the container no signal: it had exited 0 by itself before the
            # stop reached the engine (which then stops nothing), so it ran to its end: a success, never `cancelled`
            status = JobStatus.SUCCESS
        changed = status.value != rec.get("state") or info["container_state"] != rec.get("container_state")
        if status.is_finished():
            self._keep_log(container, rec)  # before the final state is stored: it is never refreshed again
        rec.update(info, state=status.value)
        if changed:
            self.records.save(rec)
        return status

    def _removed(self, rec: dict[str, Any]) -> JobStatus:
        """The end of a job whose container is gone: CANCELLED when this sweep cancelled it, or when the engine's
        event log shows it was signalled from outside (``docker rm -f`` of a running container, as ``docker stop``
        or ``docker kill``), with the exit code its ``die`` event gave; else as that ``die`` event says (exit 0 a
        success, another code a failure naming it), and FAILURE when the engine no longer keeps it (how it ended is
        not known). Its ``finished_at`` is the time of that ``die`` event, when the engine still keeps it."""
        since = float(rec.get("submitted_at") or 0) - 1
        signals, code, died = removal(self.client, self._errors, str(rec["id"]), since)
        if rec.get("cancel_requested"):
            signals = []
        rec.update(container_state="removed", finished_at=died if died is not None else rec.get("finished_at"))
        gone = "its container was removed (docker rm, container prune) before this sweep saw how it ended"
        if signals:
            rec.update(state=JobStatus.CANCELLED.value, outside_signals=signals, exit_code=code, message=gone)
        elif rec.get("cancel_requested"):
            rec.update(state=JobStatus.CANCELLED.value, message=gone)
        elif code == 0:  # it exited 0 by itself (no signal asked for): what it wrote is in its results folder
            rec.update(state=JobStatus.SUCCESS.value, exit_code=0)
        elif code is not None:
            rec.update(state=JobStatus.FAILURE.value, exit_code=code,
                       message=f"exit code {code} ({gone}: the engine's event log gives its exit code)")
        else:
            rec.update(state=JobStatus.FAILURE.value,
                       message=f"{gone}; its results folder may still hold what it wrote")
        self.records.save(rec)
        return JobStatus(rec["state"])

    # -------------------------------------------------------------- logs
    def _keep_log(self, container: Any, rec: dict[str, Any]) -> None:
        """Copy an ended container's stdout and stderr to ``LOG_FILE`` in its results folder (best effort): its
        log, failure analysis and ``tao-automl logs`` keep working once the container is removed."""
        if not rec.get("results_dir"):
            return
        path = Path(str(rec["results_dir"])) / LOG_FILE
        try:
            with path.open("wb") as out:
                for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=False):
                    out.write(chunk)
        except (self._errors.DockerException, OSError) as exc:
            logger.warning("docker job %s: could not keep its log in %s: %s", rec.get("container_name"), path, exc)
            return
        rec["log_file"] = str(path)

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        """The container's stdout and stderr, or its last ``tail`` lines; once the container is gone, the copy
        kept when it ended (None without one); before it exists, the progress lines of its image's pull."""
        if tail is not None:
            tail = check_int("tail", tail, 0)
        with self.records.lock:
            rec = self._record(job_id)
            if rec.get("pulling"):
                lines = self._pull_log(rec).splitlines(keepends=True)
                return "".join(lines if tail is None else lines[-tail:] if tail else [])
            container = self._container(str(rec["id"]))
        if container is None:
            kept = Path(str(rec["log_file"])) if rec.get("log_file") else None
            return None if kept is None else read_text(kept) if tail is None else tail_lines(kept, tail)
        if tail == 0:
            return ""
        try:
            data = container.logs(stdout=True, stderr=True, tail="all" if tail is None else tail)
        except self._errors.APIError as exc:
            raise PlatformError(f"docker: logs of {container.name}: {exc}") from exc
        return bytes(data).decode("utf-8", "replace")

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        """Text of a file under the job's results dir (a bind mount, so read here); None when absent."""
        with self.records.lock:
            results = str(self._record(job_id)["results_dir"])
        return read_text(contained_path(results, relative_path))

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        """None unless the job failed or was cancelled; else exit code, OOM flag, error lines, a message."""
        ended = self._ended(job_id)
        if ended is None:
            return None
        status, data, found = ended
        return {
            "job_id": str(data["id"]), "status": status.value, "container": data.get("container_name"),
            "container_state": data.get("container_state"), "exit_code": data.get("exit_code"),
            "oom_killed": bool(data.get("oom_killed")), "error": data.get("error"), "error_lines": found,
            "message": describe(str(data["id"]), status, data, found),
        }

    # ------------------------------------------------------------ cancel
    def cancel_job(self, job_id: str) -> bool:
        """Stop the container (SIGTERM, SIGKILL after ``cancel_grace_s``; the engine answers once it has exited, so
        the job writes nothing more after this returns True); False if it had already finished, or exited 0 by itself
        just before the stop reached the engine (no signal sent: it ends a success, as it would have without the
        cancel)."""
        with self.records.lock:
            rec = self._record(job_id)
            if rec.get("pulling") and rec.get("state") not in _FINISHED:  # no container yet: none will be made
                rec["cancel_requested"] = True  # before any refresh, which could create it
                logger.info("docker job %s cancelled while its image was pulled", rec.get("container_name"))
                return self._refresh(rec) is JobStatus.CANCELLED
            if self._refresh(rec).is_finished():
                return False
            rec["cancel_requested"] = True
            self.records.save(rec)
            container = self._container(str(rec["id"]))
        if container is not None:  # the stop (up to cancel_grace_s) holds no lock: other jobs' cancels run meanwhile
            try:
                container.stop(timeout=math.ceil(self.cancel_grace_s))  # whole seconds: never less than asked
            except self._errors.APIError as exc:
                logger.warning("docker job %s: stop failed (%s); killing it", rec.get("container_name"), exc)
                with contextlib.suppress(self._errors.APIError):
                    container.kill()
        with self.records.lock:
            if not self._refresh(rec).is_finished() and container is not None:
                with contextlib.suppress(self._errors.APIError):
                    container.remove(force=True)  # never started ("created"): nothing to stop
                self._refresh(rec)
            if rec.get("state") != JobStatus.CANCELLED.value:
                logger.info("docker job %s ended by itself (%s) before the stop reached it",
                            rec.get("container_name"), rec.get("state"))
                return False
        logger.info("docker job %s cancelled", rec.get("container_name"))
        return True

    # ----------------------------------------------------------- release
    def release_job(self, job_id: str) -> str | None:
        """Remove the container of the ended job ``job_id`` (the runner calls it once the rec's result is stored), so
        a sweep of 500 recs does not leave 500 stopped containers; its log is kept in ``LOG_FILE`` first, and status,
        logs and failure analysis read the job's record and that copy from then on. A container already gone counts
        as removed; none is removed with ``keep_containers``. Raises, keeping the container, while the job still runs
        or when its log could not be kept. It holds the job name's lock, as :meth:`submit` does: a submission under
        that name in another process waits until the container is gone and its name remembered, then finds the
        job (never a container half removed)."""
        if self.keep_containers:
            return None
        with self.records.lock:
            key = str(self._record(job_id).get("container_name") or job_id)
        with self.records.name_lock(key):
            rec = self._record(job_id)
            container = self._container(str(rec["id"])) if not rec.get("pulling") else None
            if container is None:
                return None
            cname = str(rec.get("container_name") or container.name)
            if not self._refresh(rec).is_finished():
                raise PlatformError(f"docker job {cname}: its container still runs, so it was not removed; "
                                    f"`docker rm -f {cname}` removes it")
            if rec.get("results_dir") and not rec.get("log_file"):
                self._keep_log(container, rec)
                if not rec.get("log_file"):
                    raise PlatformError(f"docker job {cname}: its log could not be kept in its results folder, so its "
                                        f"container was kept (`docker logs {cname}`)")
                self.records.save(rec)
            if rec.get("name"):  # a submission under its name finds the job once its container is gone
                self.records.remember_name(cname, str(rec["name"]), str(rec["id"]))
            try:
                container.remove()
            except self._errors.NotFound:
                return None
            except self._errors.APIError as exc:
                raise PlatformError(f"docker job {cname}: removing its container failed: {exc}") from exc
        logger.info("docker job %s: container removed (its log is kept in %s)", cname, rec.get("log_file"))
        return f"container {cname} removed"

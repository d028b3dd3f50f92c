"""The NVIDIA Brev platform: every job is a detached process on a Brev GPU instance, driven by the ``brev`` CLI.

The CLI must be on PATH (install: https://docs.nvidia.com/brev/ ``install-latest.sh``) and
``BREV_API_TOKEN`` set; the SDK runs ``brev login --token`` once (headless login) and never logs,
stores or returns the token. Commands used: ``brev login --token``, ``brev create --name --type``
(only when no ``instance_id`` is given), ``brev exec <instance> <script>`` and ``brev delete <instance>``.

An instance ``create_job`` made for a job is deleted by :meth:`BrevSDK.release_job` (the runner calls it once the
rec's result is stored), after the job's log is kept under ``state_dir`` (``logs/<instance>/<key>.log``), from where
:meth:`BrevSDK.get_job_logs` serves it; a given ``instance_id`` is never deleted.

A job id is ``<instance>/<key>``: the job's directory ``.tao-automl/brev-jobs/<key>`` in the
instance's home holds ``run.sh``, ``output.log``, ``pid`` and, once it ends, ``exit_code``; so any
process can re-attach. A ``job_name`` gives a deterministic key and the start script does nothing
when that job already started (idempotent submission). A ``spec_file`` (the runner's rendered spec) travels
base64-encoded in the launch and is written at its path before the command runs; a container gets that folder
and the results dir mounted at the same paths. One instance per rec; ``gpu_count > 1`` is
fine, ``num_nodes > 1`` is not.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.analysis import SCAN_LINES, describe, failure_from_log
from tao_automl.platforms.base import Job, JobRequest, JobStatus, PlatformBase, PlatformCheck, UnknownJobError
from tao_automl.platforms.brev import remote
from tao_automl.platforms.common import (
    ENV_NAME_ALLOWED,
    RELATIVE_ALLOWED,
    check_int,
    check_job_name,
    command_text,
    spec_file_script,
)
from tao_automl.platforms.image_reference import checked_image, image_check
from tao_automl.platforms.records import default_state_dir, job_key, new_job_key, state_dir_option
from tao_automl.platforms.retry import TransientPlatformError
from tao_automl.util.reach import unreachable_text

logger = logging.getLogger(__name__)

JOBS_ROOT = ".tao-automl/brev-jobs"
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_SAFE_TYPE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:,-]*\Z")  # e.g. n1-highmem-4:nvidia-tesla-t4:1, a,b
_TRANSIENT = re.compile(r"timed out|Connection (refused|reset|timed out|closed)|temporarily|try again|"
                        r"not ready|waiting for", re.IGNORECASE)


#: The epoch seconds the status script prints after an exit code (whole seconds where ``date`` has no ``%N``).
_EPOCH = re.compile(r"^\d+(\.\d+)?")
#: What the brev CLI says of an instance it does not know ("workspace with id/name X not found"); never a network
#: failure ("dial tcp: lookup host: no such host"), which says nothing about the instance.
_NO_INSTANCE = re.compile(r"not found|does not exist|no such (instance|workspace)|unknown (instance|workspace)",
                          re.IGNORECASE)


def _refuse_unroutable(options: Mapping[str, Any]) -> None:
    """``cloud_cred_id`` / ``workspace_group_id`` cannot reach the brev CLI: refuse them with the reason."""
    for key in ("cloud_cred_id", "workspace_group_id"):
        if options.get(key) is not None:
            raise UserInputError(
                f"{key}={options[key]!r} cannot be passed to the brev CLI: `brev create` takes only a name and an "
                "instance type and uses the cloud credential and workspace group of the active organisation "
                "(choose it with `brev set <org>`); remove it, or create the instance yourself and give instance_id",
                field=key, value=options[key], allowed="unset (`brev set <org>` chooses the organisation)"
            )


def _token() -> str:
    """``BREV_API_TOKEN`` without the whitespace around it (a pasted value's trailing newline is no part of it)."""
    return (os.environ.get("BREV_API_TOKEN") or "").strip()


def _instance_name(key: str) -> str:
    """The name of the instance ``create_job`` creates for the job with key ``key``."""
    return re.sub(r"[^a-z0-9-]+", "-", f"tao-{key}".lower())[:60].strip("-")


class BrevSDK(PlatformBase):
    """Runs jobs on Brev instances through the ``brev`` CLI; see the module docstring."""

    job_kwargs = frozenset({"gpu_type", "instance_id", "job_name", "num_nodes", "working_dir"})
    #: ``create_job`` takes ``spec_file`` (the runner's rendered spec): the launch writes it on the instance.
    takes_spec_file = True
    multi_node = False
    single_node_reason = ("Brev: one rec runs on one instance (use gpu_count for several GPUs, or lepton / slurm / "
                          "kubernetes for multi-node)")

    poll_interval_s: float = 5.0

    def __init__(
        self,
        instance_id: str | None = None,
        gpu_type: str | None = None,
        cloud_cred_id: str | None = None,
        workspace_group_id: str | None = None,
        brev_cli: str = "brev",
        command_timeout_s: float = 900.0,
        state_file: str | Path | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        state_dir = state_dir_option(state_dir, state_file)
        self.cli = shutil.which(brev_cli)
        if self.cli is None:
            raise UserInputError(
                f"the brev CLI ({brev_cli!r}) is not on PATH: install it with `curl -fsSL "
                "https://raw.githubusercontent.com/brevdev/brev-cli/main/bin/install-latest.sh | bash` "
                "(https://docs.nvidia.com/brev/) and add ~/.local/bin to PATH", field="platform_options.brev_cli",
                value=brev_cli, allowed="a brev CLI on PATH (or its path)",
                hint="install the brev CLI (https://docs.nvidia.com/brev/) and add ~/.local/bin to PATH"
            )
        _refuse_unroutable({"cloud_cred_id": cloud_cred_id, "workspace_group_id": workspace_group_id})
        if not _token():
            raise UserInputError("BREV_API_TOKEN is not set: export a Brev API token (Brev console -> API keys)",
                                 field="BREV_API_TOKEN", value=None, allowed="a Brev API token, in $BREV_API_TOKEN",
                                 hint="export BREV_API_TOKEN=<token> (Brev console -> API keys)")
        self.defaults: dict[str, Any] = {"instance_id": instance_id, "gpu_type": gpu_type}
        self.timeout_s = float(command_timeout_s)
        #: Constructor arguments a later process needs to rebuild this SDK (never the token).
        #: Where the logs of released jobs are kept (the runner: ``<run folder>/jobs``, see :meth:`keep_state_in`).
        self.state_dir = Path(state_dir).expanduser().absolute() if state_dir else default_state_dir("brev")
        #: Whether the caller chose the state dir (else the runner keeps a sweep's kept logs in its run folder).
        self.state_dir_chosen = state_dir is not None
        self.init_options: dict[str, Any] = {**self.defaults, "brev_cli": brev_cli,
                                             "command_timeout_s": self.timeout_s,
                                             "state_dir": str(self.state_dir)}
        self._lock = threading.RLock()
        self._logged_in = False
        self._final: dict[str, JobStatus] = {}
        self._exit: dict[str, int | None] = {}
        self._ended: dict[str, float] = {}

    def keep_state_in(self, folder: str | Path) -> None:
        """Keep the logs of released jobs under ``folder`` (the runner: ``<run folder>/jobs``, so `tao-automl logs`
        finds them with the run)."""
        self.state_dir = Path(folder).expanduser().absolute()
        self.init_options["state_dir"] = str(self.state_dir)

    # -------------------------------------------------------------- cli
    def _brev(self, args: Sequence[str], what: str) -> str:
        """Run ``brev <args>``; its stdout. Failures raise (Transient)PlatformError without the token."""
        token = _token()
        try:
            proc = subprocess.run([str(self.cli), *args], capture_output=True, text=True, timeout=self.timeout_s,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise TransientPlatformError(f"brev {what} timed out after {self.timeout_s:g} s") from None
        except OSError as exc:
            raise PlatformError(f"brev {what}: could not run {self.cli}: {exc}") from None
        if proc.returncode != 0:
            message = (proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}")[-2000:]
            if token:
                message = message.replace(token, "***")
            # Brev's API not contacted at all (DNS, refused, timeout): transient, and never an answer about an instance
            transient = _TRANSIENT.search(message) or unreachable_text(message)
            error = TransientPlatformError if transient else PlatformError
            raise error(f"brev {what} failed: {message}")
        return proc.stdout

    def _login(self) -> None:
        with self._lock:
            if not self._logged_in:
                try:
                    self._brev(["login", "--token", _token()], "login --token ***")
                except TransientPlatformError:
                    raise
                except PlatformError as exc:  # Brev answered and refused: the token is the input at fault
                    raise PlatformError(f"{exc}: Brev refused BREV_API_TOKEN; export a valid Brev API token "
                                        "(Brev console -> API keys)") from None
                self._logged_in = True

    def _exec(self, instance: str, script: str, what: str) -> str:
        self._login()
        out = remote.unframe(self._brev(["exec", instance, script], f"exec on {instance} ({what})"))
        if out is None:
            raise PlatformError(f"brev exec on {instance} ({what}) gave no framed answer")
        return out

    # -------------------------------------------------------- preflight
    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        """``brev login --token`` accepts the token; a given ``instance_id`` answers ``brev exec``. The image is
        pulled on the instance by ``docker run`` when the job starts, so it is not checked."""
        try:
            self._login()
        except PlatformError as exc:  # Brev's API could not be contacted, or it refused the token
            unreachable = unreachable_text(str(exc))
            error = None if unreachable else UserInputError(
                str(exc), field="BREV_API_TOKEN", value=None, allowed="a valid Brev API token, in $BREV_API_TOKEN",
                hint="export BREV_API_TOKEN=<token> (Brev console -> API keys)")
            return [PlatformCheck("platform_reachable", False, str(exc), unreachable=unreachable, error=error)]
        checks = [PlatformCheck("platform_reachable", True, "brev login --token accepted BREV_API_TOKEN")]
        instance = self.defaults["instance_id"]
        if instance:
            try:
                self._exec(instance, remote.framed("true"), "preflight")
                checks.append(PlatformCheck("instance", True, f"instance {instance} answers brev exec"))
            except PlatformError as exc:
                checks.append(PlatformCheck("instance", False, str(exc)))
        if image:
            checks.append(image_check(image, "docker pulls it on the instance when the job starts"))
        return checks

    # ----------------------------------------------------------- create
    def submit(self, request: JobRequest) -> Job:
        """Start ``command`` detached on the instance; with ``job_name`` an existing job is returned."""
        image, command, gpu_count, env_vars, outputs = (request.image, request.command, request.gpu_count,
                                                        request.env_vars, request.outputs)
        kwargs = request.options
        name = request.name
        text = command_text(command)
        if image:
            checked_image(image)  # refused before an instance is made for it
        opts = self._options(kwargs)
        env = dict(env_vars or {})
        for key in env:
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise UserInputError(f"env_vars key {key!r} is not a valid environment variable name",
                                     field="env_vars", value=key, allowed=ENV_NAME_ALLOWED)
        spec = spec_file_script(kwargs.get("spec_file"))  # refused before an instance is made for it
        key = job_key(name) if name else new_job_key()
        instance = opts["instance_id"] or self._create_instance(key, opts)
        job_dir = posixpath.join(JOBS_ROOT, key)
        results = str((outputs or {}).get("results_dir") or posixpath.join(job_dir, "results"))
        env.setdefault("TAO_AUTOML_RESULTS_DIR", results)
        workdir = kwargs.get("working_dir")
        shared = [posixpath.dirname(str(kwargs["spec_file"]["path"]))] if spec else []
        shared += [results]
        script = remote.launch_script(job_dir, text, env, results, str(workdir) if workdir else None,
                                      image, gpu_count, spec, [d for d in shared if posixpath.isabs(d)])
        try:
            answer = self._exec(instance, script, "start job")
        except PlatformError as exc:
            if not opts["instance_id"]:  # the instance was made for this job: it would run on, costing, unused
                self._drop_unstarted(instance, job_dir, exc)
            raise
        job_id = f"{instance}/{key}"
        if "EXISTS" in answer.split():
            logger.info("brev job %s (%s) already exists; not starting it again", job_id, name)
        elif "STARTED" not in answer.split():
            raise PlatformError(f"brev job {job_id} did not start: {answer[-500:]!r}")
        else:
            logger.info("brev job %s started on instance %s", job_id, instance)
        return Job(id=job_id, results_dir=results, name=name)

    def _drop_unstarted(self, instance: str, job_dir: str, error: PlatformError) -> None:
        """The start of a job failed on the instance made for it: delete the instance unless the job started
        anyway (its answer lost: the runner's ``find_job`` then tracks it, and its release deletes the instance);
        when that cannot be told, say which instance may be left and how to delete it."""
        by_hand = f"if no job runs on it, delete it: `brev delete {instance}`"
        try:
            started = self._exec(instance, remote.exists_script(job_dir), "find job").strip() == "FOUND"
        except PlatformError as exc:
            logger.warning("brev instance %s was made for a job whose start failed (%s) and cannot be checked (%s); %s",
                           instance, error, exc, by_hand)
            return
        if started:
            return
        try:
            self._delete_instance(instance)
        except PlatformError as exc:
            logger.warning("brev instance %s, made for a job whose start failed (%s), was not deleted (%s); %s",
                           instance, error, exc, by_hand)
            return
        logger.info("brev instance %s deleted: the job made for it did not start (%s)", instance, error)

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        """The instance options :meth:`submit` would use (``gpu_type``, ``instance_id``)."""
        self._options(options)

    def _options(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``gpu_type`` / ``instance_id`` from ``kwargs`` or the SDK's defaults, each a Brev id or name."""
        _refuse_unroutable(kwargs)
        opts = {k: kwargs.get(k) or self.defaults[k] for k in self.defaults}
        for key, value in opts.items():
            pattern = _SAFE_TYPE if key == "gpu_type" else _SAFE
            if value is not None and (not isinstance(value, str) or not pattern.match(value)):
                allowed = "a Brev id or name (letters, digits, . _ -" + (" : ,)" if key == "gpu_type" else ")")
                raise UserInputError(f"{key} must be {allowed}, got {value!r}", field=key, value=value,
                                     allowed=allowed)
        return opts

    def find_job(self, job_name: str) -> str | None:
        """The id of the job started under ``job_name`` (its pid file exists on its instance), or None.

        The instance is ``instance_id`` when one is set, else the one ``create_job`` names after the job;
        an instance Brev does not know means no job."""
        key = job_key(str(check_job_name(job_name)))
        instance = self.defaults["instance_id"] or _instance_name(key)
        try:
            answer = self._exec(instance, remote.exists_script(posixpath.join(JOBS_ROOT, key)), "find job")
        except PlatformError as exc:
            if isinstance(exc, TransientPlatformError) or not _NO_INSTANCE.search(str(exc)):
                raise
            return None
        return f"{instance}/{key}" if answer.strip() == "FOUND" else None

    def _create_instance(self, key: str, opts: Mapping[str, Any]) -> str:
        """``brev create --name <name> [--type <gpu_type>]`` (waits until the instance is ready)."""
        name = _instance_name(key)
        args = ["create", "--name", name]
        if opts.get("gpu_type"):
            args += ["--type", str(opts["gpu_type"])]
        self._login()
        self._brev(args, f"create {name}")
        return name

    # ----------------------------------------------------------- status
    def _parse_id(self, job_id: str) -> tuple[str, str]:
        instance, _, key = str(job_id).partition("/")
        if not _SAFE.match(instance) or not _SAFE.match(key):
            raise UnknownJobError(f"unknown brev job id {job_id!r}: expected '<instance>/<key>'")
        return instance, posixpath.join(JOBS_ROOT, key)

    def get_job_status(self, job_id: str) -> JobStatus:
        """PENDING (its image is being pulled), RUNNING, SUCCESS, FAILURE or CANCELLED from the job's files on the
        instance."""
        with self._lock:
            if job_id in self._final:
                return self._final[job_id]
        instance, job_dir = self._parse_id(job_id)
        words = self._exec(instance, remote.status_script(job_dir), "status").split()
        if not words or words[0] == "MISSING":
            raise UnknownJobError(f"unknown brev job {job_id!r}: no {job_dir} on instance {instance}")
        status = {"PULLING": JobStatus.PENDING, "RUNNING": JobStatus.RUNNING, "CANCELLED": JobStatus.CANCELLED,
                  "LOST": JobStatus.FAILURE}.get(words[0], JobStatus.FAILURE)
        code = None
        if words[0] == "EXIT" and len(words) > 1 and words[1].lstrip("-").isdigit():
            code = int(words[1])
            status = JobStatus.SUCCESS if code == 0 else JobStatus.FAILURE
            ended = _EPOCH.match(words[2]) if len(words) > 2 else None  # a date without %N: whole seconds
            if ended:
                with self._lock:
                    self._ended[job_id] = float(ended[0])
        if status.is_finished():
            with self._lock:
                self._final[job_id], self._exit[job_id] = status, code
        return status

    def get_job_info(self, job_id: str) -> dict[str, Any]:
        """``status``, ``exit_code`` and, for a job that ended by itself, ``finished_at``: when the instance wrote its
        exit code (epoch seconds)."""
        status = self.get_job_status(job_id)
        info: dict[str, Any] = {"job_id": job_id, "status": status.value, "exit_code": self._exit.get(job_id)}
        if job_id in self._ended:
            info["finished_at"] = self._ended[job_id]
        return info

    # ------------------------------------------------------------- logs
    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        """The job's stdout and stderr, or its last ``tail`` lines; None before the log exists."""
        if tail is not None:
            tail = check_int("tail", tail, 0)
        instance, job_dir = self._parse_id(job_id)
        kept = self._kept_log(job_id)
        if kept.is_file():  # a released job: its instance is gone
            text = kept.read_text(encoding="utf-8", errors="replace")
            return text if tail is None else "".join(text.splitlines(keepends=True)[-tail:]) if tail else ""
        path = posixpath.join(job_dir, remote.LOG_FILE)
        return remote.decode(self._exec(instance, remote.read_script(path, tail), "logs"))

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        """Text of a file under the job's results dir on the instance (``outputs["results_dir"]`` when the job was
        given one); None when absent."""
        instance, job_dir = self._parse_id(job_id)
        rel = posixpath.normpath(str(relative_path))
        if posixpath.isabs(rel) or rel in (".", "..") or rel.startswith("../"):
            raise UserInputError(f"relative_path {relative_path!r} points outside the job's results dir",
                                 field="relative_path", value=relative_path, allowed=RELATIVE_ALLOWED)
        return remote.decode(self._exec(instance, remote.read_result_script(job_dir, rel), "read file"))

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        """None unless the job failed or was cancelled; else exit code, error lines, a message."""
        status = self.get_job_status(job_id)
        if status not in (JobStatus.FAILURE, JobStatus.CANCELLED):
            return None
        found = failure_from_log(self.get_job_logs(job_id, tail=SCAN_LINES))
        code = self._exit.get(job_id)
        data: dict[str, Any] = {"exit_code": code, "signal": None,
                                "message": None if code is not None else "its process vanished without an exit "
                                "code (the instance was stopped or restarted?)"}
        message = describe(job_id, status.value, data, found, platform="Brev")
        return {"job_id": job_id, "status": status.value, "exit_code": code, "instance": job_id.split("/")[0],
                "error_lines": found, "message": message}

    # ----------------------------------------------------------- cancel
    def cancel_job(self, job_id: str) -> bool:
        """Kill the job's process group on the instance and wait until it is gone; False if the job had already
        finished (by itself, also just before the kill: then it keeps its own result)."""
        if self.get_job_status(job_id).is_finished():
            return False
        instance, job_dir = self._parse_id(job_id)
        answer = self._exec(instance, remote.cancel_script(job_dir), "cancel").split()
        if "ALIVE" in answer:
            raise PlatformError(f"brev job {job_id}: processes of the job on instance {instance} outlived SIGKILL; "
                                "it may still write to its results dir")
        with self._lock:
            self._final.pop(job_id, None)
        status = self.get_job_status(job_id)  # the instance's word: an exit code written before the kill wins
        if status is not JobStatus.CANCELLED:
            logger.info("brev job %s had already ended (%s) when it was cancelled", job_id, status.value)
            return False
        logger.info("brev job %s cancelled", job_id)
        return True

    # ---------------------------------------------------------- release
    def _kept_log(self, job_id: str) -> Path:
        """Where the log of the released job ``job_id`` (``<instance>/<key>``) is kept."""
        instance, job_dir = self._parse_id(job_id)
        return self.state_dir / "logs" / instance / f"{posixpath.basename(job_dir)}.log"

    def release_job(self, job_id: str) -> str | None:
        """Delete the instance :meth:`submit` created for the ended job ``job_id`` (``brev delete``), after keeping
        its log (:meth:`get_job_logs` serves it from then on); an instance already gone counts as deleted. None for a
        job on a given ``instance_id`` (never deleted). Raises, naming the instance and the command to run by hand,
        when the log cannot be kept (the instance is then kept too) or the delete fails."""
        instance, job_dir = self._parse_id(job_id)
        if instance != _instance_name(posixpath.basename(job_dir)):
            return None
        by_hand = f"delete it by hand once you no longer need it: `brev delete {instance}`"
        kept = self._kept_log(job_id)
        if not kept.is_file():
            try:
                text = self.get_job_logs(job_id)
            except PlatformError as exc:
                if isinstance(exc, TransientPlatformError) or not _NO_INSTANCE.search(str(exc)):
                    raise PlatformError(f"brev job {job_id}: its log could not be read, so instance {instance} was "
                                        f"not deleted ({exc}); {by_hand}") from None
                text = None  # the instance is gone already: nothing left to keep
            if text is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(text, encoding="utf-8")
        try:
            self._delete_instance(instance)
        except PlatformError as exc:
            raise type(exc)(f"brev job {job_id}: deleting instance {instance} failed ({exc}); {by_hand}") from None
        logger.info("brev instance %s of job %s deleted (its log is kept in %s)", instance, job_id, kept)
        return f"instance {instance} deleted"

    def _delete_instance(self, instance: str) -> None:
        """``brev delete <instance>``; an instance already gone counts as deleted."""
        try:
            self._login()
            self._brev(["delete", instance], f"delete {instance}")
        except PlatformError as exc:
            if isinstance(exc, TransientPlatformError) or not _NO_INSTANCE.search(str(exc)):
                raise

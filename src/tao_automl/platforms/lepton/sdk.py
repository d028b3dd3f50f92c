"""The DGX Cloud Lepton platform: every job is a Lepton batch job created through the ``leptonai`` SDK.

Credentials come from the environment the way ``leptonai`` reads them: ``LEPTON_WORKSPACE_ID`` (or a
``<id>:<token>`` credential string) and ``LEPTON_WORKSPACE_TOKEN``; ``LEPTON_WORKSPACE_URL`` overrides
the API address. The token is never stored, logged or put in ``init_options``.

Jobs live on Lepton (re-attach needs no local state, so the spec's optional ``state_file=`` is accepted and has
nothing to hold): a ``job_name`` becomes a deterministic Lepton
job name with a ``tao-automl-key`` label, looked up before create (idempotent submission). The
command runs under ``bash`` and prints its exit code as the last log line, so failure analysis can
report it; before it, the command writes ``spec_file`` (the rendered spec, base64 in the command) at its path and
makes the results dir; logs are read with Lepton's ``/logs`` query API (all replicas, oldest first).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

try:
    from leptonai.api.v2.api_resource import ClientError, ServerError  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from leptonai.api.v2.client import APIClient  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from leptonai.api.v2.log import LogAPIError  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from leptonai.api.v2.types.affinity import LeptonResourceAffinity  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from leptonai.api.v2.types.common import Metadata  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from leptonai.api.v2.types.deployment import EnvVar, LeptonContainer, Mount  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from leptonai.api.v2.types.job import LeptonJob, LeptonJobQueryMode, LeptonJobUserSpec  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from leptonai.config import DEFAULT_RESOURCE_SHAPE, JOB_BASE_IMAGE  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from requests import RequestException  # leptonai's HTTP library: after it, so a core install names leptonai
except ModuleNotFoundError as exc:  # a core install: name the extra, for Python users too (the registry reads .name)
    raise ModuleNotFoundError(f"platform 'lepton' needs the {str(exc.name).split('.')[0]!r} package, which is not "
                              "installed; install the lepton extra: pip install 'tao-run-automl[lepton]'",
                              name=exc.name) from None

from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.analysis import SCAN_LINES, failure_from_log, reason_line
from tao_automl.platforms.base import Job, JobRequest, JobStatus, PlatformBase, PlatformCheck, UnknownJobError
from tao_automl.platforms.common import check_int, check_job_name, command_text, spec_file_script
from tao_automl.platforms.image_reference import checked_image, image_check
from tao_automl.platforms.lepton.state import (
    epoch_seconds,
    log_entries,
    replica_exit_codes,
    to_status,
    without_markers,
    wrap_command,
)
from tao_automl.platforms.retry import TransientPlatformError
from tao_automl.util.reach import unreachable_error

logger = logging.getLogger(__name__)

KEY_LABEL = "tao-automl-key"
_NAME_MAX = 36  # Lepton's job-name limit
_SHAPE_GPUS = re.compile(r"^gpu\.(\d+)x", re.IGNORECASE)
_LOG_PAGE = 5000
_LOG_PAGES = 20
T = TypeVar("T")


def lepton_job_name(job_name: str) -> str:
    """A valid, deterministic Lepton job name (``^[a-z][a-z0-9-]*$``, <= 36 chars) for ``job_name``."""
    slug = re.sub(r"[^a-z0-9]+", "-", job_name.lower()).strip("-")
    digest = hashlib.sha256(job_name.encode("utf-8")).hexdigest()[:10]
    slug = slug[: _NAME_MAX - len(digest) - 5].strip("-")
    return f"tao-{slug}-{digest}" if slug else f"tao-{digest}"


def _credentials(workspace_id: str | None) -> tuple[str, str]:
    """(workspace id, token) from the argument / ``LEPTON_WORKSPACE_ID`` / ``LEPTON_WORKSPACE_TOKEN``."""
    workspace = workspace_id or os.environ.get("LEPTON_WORKSPACE_ID") or ""
    token = ""
    if ":" in workspace:
        workspace, token = workspace.split(":", 1)
    token = token or os.environ.get("LEPTON_WORKSPACE_TOKEN") or ""
    # a pasted value's surrounding whitespace (a trailing newline) is no part of it; sent, it broke every request with
    # an error quoting the Authorization header, token included
    workspace, token = workspace.strip(), token.strip()
    if any(c.isspace() or not c.isprintable() for c in token):
        raise UserInputError("LEPTON_WORKSPACE_TOKEN contains whitespace or control characters: it is not a workspace "
                             "token (its value is not shown)", field="LEPTON_WORKSPACE_TOKEN", value=None,
                             allowed="a workspace token (printable characters, no whitespace), in "
                                     "$LEPTON_WORKSPACE_TOKEN",
                             hint="export LEPTON_WORKSPACE_TOKEN=<token> (dashboard -> Settings -> Tokens)")
    if not workspace:
        raise UserInputError("LEPTON_WORKSPACE_ID is not set: export your DGX Cloud Lepton workspace id "
                             "(dashboard -> Settings -> Tokens) or set platform_options.workspace_id",
                             field="LEPTON_WORKSPACE_ID", value=None,
                             allowed="a workspace id, in $LEPTON_WORKSPACE_ID or platform_options.workspace_id",
                             hint="export LEPTON_WORKSPACE_ID=<id> (dashboard -> Settings -> Tokens), or set "
                                  "platform_options.workspace_id")
    if not token:
        raise UserInputError("LEPTON_WORKSPACE_TOKEN is not set: export a DGX Cloud Lepton workspace token "
                             "for workspace " + repr(workspace), field="LEPTON_WORKSPACE_TOKEN", value=None,
                             allowed="a workspace token, in $LEPTON_WORKSPACE_TOKEN",
                             hint="export LEPTON_WORKSPACE_TOKEN=<token> (dashboard -> Settings -> Tokens)")
    return workspace, token


def _workspace_url(workspace_url: str | None) -> str | None:
    """The API address (``workspace_url``, else ``LEPTON_WORKSPACE_URL``), if any: an http(s) URL with a host."""
    url = workspace_url or os.environ.get("LEPTON_WORKSPACE_URL") or None
    if url is None:
        return None
    parsed = urlsplit(str(url))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        field = "workspace_url" if workspace_url else "LEPTON_WORKSPACE_URL"
        allowed = "an http(s) URL with a host, e.g. https://gateway.dgxc-lepton.nvidia.com/api/v2/workspaces/<id>"
        raise UserInputError(f"{field} {url!r} is not an http(s) URL with a host", field=field, value=url,
                             allowed=allowed, hint=f"set {field} to the workspace's API address, or unset it for the "
                                                   "default")
    return str(url)


class LeptonSDK(PlatformBase):
    """Runs jobs as DGX Cloud Lepton batch jobs; see the module docstring."""

    job_kwargs = frozenset({"dedicated_node_group", "job_name", "mounts", "num_nodes", "resource_shape"})
    #: ``create_job`` takes ``spec_file`` (the runner's rendered spec): the job's command writes it first.
    takes_spec_file = True
    multi_node = True

    poll_interval_s: float = 5.0
    #: How long :meth:`cancel_job` waits for a stopped job to leave ``Stopping``.
    stop_timeout_s: float = 120.0

    def __init__(
        self,
        workspace_id: str | None = None,
        workspace_url: str | None = None,
        resource_shape: str | None = None,
        dedicated_node_group: str | None = None,
        image: str | None = None,
        mounts: Sequence[Mapping[str, Any]] | None = None,
        results_root: str = "/tmp/tao-automl",
        log_lookback_s: float = 14 * 24 * 3600.0,
        state_file: str | None = None,
    ) -> None:
        if image is not None:
            checked_image(image)
        workspace, token = _credentials(workspace_id)
        url = _workspace_url(workspace_url)
        self.client = APIClient(workspace_id=workspace, auth_token=token, url=url)
        self.defaults: dict[str, Any] = {"resource_shape": resource_shape,
                                         "dedicated_node_group": dedicated_node_group,
                                         "image": image, "mounts": list(mounts or [])}
        self.results_root = results_root
        self.log_lookback_s = float(log_lookback_s)
        #: Constructor arguments a later process needs to rebuild this SDK (never the token).
        self.init_options: dict[str, Any] = {
            "workspace_id": workspace, "workspace_url": workspace_url, "resource_shape": resource_shape,
            "dedicated_node_group": dedicated_node_group, "image": image, "mounts": list(mounts or []),
            "results_root": results_root, "log_lookback_s": self.log_lookback_s, "state_file": state_file,
        }
        self._lock = threading.RLock()
        self._final: dict[str, JobStatus] = {}
        self._results: dict[str, str] = {}

    # ------------------------------------------------------------ calls
    def _call(self, what: str, fn: Callable[..., T], *args: Any, of_job: bool = True, **kwargs: Any) -> T:
        """Run one ``leptonai`` call; its errors become (transient) PlatformErrors, a 404 UnknownJobError (for a call
        about one job, ``of_job``; else a 404 says the workspace's API was not found there)."""
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.status_code
            if code == 404 and not of_job:
                raise PlatformError(
                    f"Lepton {what}: HTTP 404 Not Found from {self.client.url}: no workspace API there; check "
                    f"LEPTON_WORKSPACE_ID ({self.init_options['workspace_id']!r}) and LEPTON_WORKSPACE_URL ({exc})"
                ) from None
            if code == 401:
                raise PlatformError(f"Lepton {what}: {self._refused()} ({exc})") from None
            if code == 404:
                raise UnknownJobError(f"Lepton does not know {what}: {exc}") from None
            if code == 429:
                raise TransientPlatformError(f"Lepton {what}: rate limited ({exc})") from None
            raise PlatformError(f"Lepton {what} failed: {exc}") from None
        except LogAPIError as exc:
            if exc.status_code == 401:
                raise PlatformError(f"Lepton {what}: {self._refused()} ({exc})") from None
            if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code == 429):
                raise TransientPlatformError(f"Lepton {what} failed: {exc}") from None
            raise PlatformError(f"Lepton {what} failed: {exc}") from None
        except ServerError as exc:
            raise TransientPlatformError(f"Lepton {what} failed: {exc}") from None
        except RequestException as exc:
            raise TransientPlatformError(f"Lepton {what}: {type(exc).__name__}: {exc}") from None
        except RuntimeError as exc:  # leptonai's "programming error": an answer that is not the JSON it expects
            if "cannot be decoded as json" not in str(exc):
                raise
            status = re.search(r"returned status (\d+)", str(exc))
            raise TransientPlatformError(
                f"Lepton {what}: the answer (HTTP {status[1] if status else '?'}) was not the JSON the API gives: a "
                "proxy or gateway between here and the workspace may have answered instead") from None

    def _refused(self) -> str:
        return (f"workspace {self.init_options['workspace_id']} refused LEPTON_WORKSPACE_TOKEN (HTTP 401): it is not "
                "a valid token of this workspace")

    # -------------------------------------------------------- preflight
    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        """The workspace answers an authenticated job listing (credentials valid); the image is pulled by Lepton
        when a job starts, so it is not checked."""
        workspace = self.init_options["workspace_id"]
        try:
            self._call("job list (preflight)", self.client.job.list_all, of_job=False,
                       job_query_mode=LeptonJobQueryMode.AliveOnly.value, q="tao-automl-preflight")
        except PlatformError as exc:  # no answer at all (connection, DNS, timeout), or a refusal (credentials...)
            refused = "LEPTON_WORKSPACE_TOKEN (HTTP 401)" in str(exc)
            error = UserInputError(
                str(exc), field="LEPTON_WORKSPACE_TOKEN", value=None,
                allowed=f"a token of workspace {workspace}, in $LEPTON_WORKSPACE_TOKEN",
                hint="export LEPTON_WORKSPACE_TOKEN=<token> (dashboard -> Settings -> Tokens of workspace "
                     f"{workspace}); check LEPTON_WORKSPACE_ID too") if refused else None
            return [PlatformCheck("platform_reachable", False, f"workspace {workspace}: {exc}",
                                  unreachable=unreachable_error(exc), error=error)]
        checks = [PlatformCheck("platform_reachable", True, f"workspace {workspace} accepted the credentials")]
        image = image or self.defaults["image"]
        if image:
            checks.append(image_check(image, "Lepton pulls it when a job starts"))
        return checks

    # ----------------------------------------------------------- create
    def submit(self, request: JobRequest) -> Job:
        """Create a Lepton job running ``command``; with ``job_name`` an existing job of that name is returned."""
        image, command, gpu_count, env_vars, outputs = (request.image, request.command, request.gpu_count,
                                                        request.env_vars, request.outputs)
        kwargs = request.options
        name, num_nodes = request.name, request.num_nodes
        text = command_text(command)
        image = checked_image(image) if image else self.defaults["image"]
        shape = self._shape(gpu_count, kwargs.get("resource_shape"))
        node_group = kwargs.get("dedicated_node_group") or self.defaults["dedicated_node_group"]
        lepton_name = lepton_job_name(name) if name else f"tao-job-{uuid.uuid4().hex[:12]}"
        key = lepton_name.rsplit("-", 1)[-1]
        results = str((outputs or {}).get("results_dir") or f"{self.results_root.rstrip('/')}/{lepton_name}")
        envs = self._envs(env_vars)
        # the spec file and the results dir, made where the job runs (it sees the orchestrator's disk only through a
        # mount that shares the path)
        text = f"{spec_file_script(kwargs.get('spec_file'))}mkdir -p {shlex.quote(results)}\n{text}"
        spec = LeptonJobUserSpec(
            resource_shape=shape,
            container=LeptonContainer(image=image or JOB_BASE_IMAGE,
                                      command=wrap_command(text)),
            completions=num_nodes, parallelism=num_nodes, envs=envs,
            mounts=_mounts(kwargs.get("mounts") or self.defaults["mounts"]),
            affinity=LeptonResourceAffinity(allowed_dedicated_node_groups=[str(node_group)]) if node_group else None,
            intra_job_communication=True if num_nodes > 1 else None,
        )
        job = LeptonJob(metadata=Metadata(name=lepton_name, labels={KEY_LABEL: key}), spec=spec)
        with self._lock:
            existing = self._find_named(lepton_name, key) if name else None
            if existing is not None:
                logger.info("lepton job %s (%s) already exists; not creating it again", existing, name)
                return Job(id=existing, results_dir=self._results.get(existing, results), name=name)
            try:
                created = self._call(f"job create {lepton_name!r}", self.client.job.create, job, of_job=False)
            except ValueError as exc:  # leptonai's own validation (names, env vars, mounts)
                raise UserInputError(f"lepton job {lepton_name!r}: {exc}") from None
            job_id = str(getattr(getattr(created, "metadata", None), "id_", None) or lepton_name)
            self._results[job_id] = results
        logger.info("lepton job %s (%s, %d node(s), shape %s) created", job_id, name or lepton_name, num_nodes, shape)
        return Job(id=job_id, results_dir=results, name=name)

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        """The resource shape :meth:`submit` would ask for, checked against ``gpu_count``."""
        self._shape(gpu_count, options.get("resource_shape"))
        _mounts(options.get("mounts") or self.defaults["mounts"])

    def _shape(self, gpu_count: int, requested: object) -> str:
        given = requested or self.defaults["resource_shape"]
        if given is not None and not isinstance(given, str):
            raise UserInputError(f"resource_shape must be a Lepton resource shape name, got {given!r}",
                                 field="resource_shape", value=given,
                                 allowed="a resource shape name, e.g. 'gpu.1xh100-80gb' or 'cpu.small'")
        shape = str(given or "")
        if shape.lower().startswith("cpu.") and gpu_count > 0:
            raise UserInputError(f"resource_shape {shape!r} has no GPU, but gpu_count is {gpu_count}",
                                 field="resource_shape", value=shape,
                                 allowed=f"a GPU resource shape with {gpu_count} GPU(s) per replica (or gpu_count: 0)")
        if not shape:
            if gpu_count > 0:
                raise UserInputError(f"resource_shape is required for gpu_count={gpu_count} on Lepton "
                                     "(a shape of your node group, e.g. 'gpu.1xh100-80gb')", field="resource_shape",
                                     value=None, allowed=f"a resource shape with {gpu_count} GPU(s) per replica, "
                                                         f"e.g. 'gpu.{gpu_count}xh100-80gb'")
            return str(DEFAULT_RESOURCE_SHAPE)
        match = _SHAPE_GPUS.match(shape)
        if match and int(match.group(1)) != gpu_count and gpu_count > 0:
            raise UserInputError(f"resource_shape {shape!r} has {match.group(1)} GPU(s) per replica, but gpu_count is "
                                 f"{gpu_count}", field="resource_shape", value=shape,
                                 allowed=f"a resource shape with {gpu_count} GPU(s) per replica (or gpu_count: "
                                         f"{match.group(1)})")
        return shape

    @staticmethod
    def _envs(env_vars: Mapping[str, str] | None) -> list[EnvVar]:
        envs = []
        for key, value in (env_vars or {}).items():
            if not isinstance(key, str) or not key or "=" in key:
                raise UserInputError(f"env_vars key {key!r} is not a valid environment variable name",
                                     field="env_vars", value=key, allowed="non-empty names without '='")
            envs.append(EnvVar(name=key, value=str(value)))
        return envs

    def find_job(self, job_name: str) -> str | None:
        """The id of the Lepton job created under ``job_name`` (alive or archived), or None."""
        lepton_name = lepton_job_name(str(check_job_name(job_name)))
        return self._find_named(lepton_name, lepton_name.rsplit("-", 1)[-1])

    def _find_named(self, lepton_name: str, key: str) -> str | None:
        """The id of a job already created under ``lepton_name`` (alive or archived), if any."""
        jobs = self._call(f"job list for {lepton_name!r}", self.client.job.list_all, of_job=False,
                          job_query_mode=LeptonJobQueryMode.AliveAndArchive.value, q=lepton_name)
        ids = [str(j.metadata.id_) for j in jobs if j.metadata.name == lepton_name
               and (j.metadata.labels or {}).get(KEY_LABEL, key) == key and j.metadata.id_]
        return ids[0] if ids else None

    # ----------------------------------------------------------- status
    def _get(self, job_id: str) -> LeptonJob:
        job: LeptonJob = self._call(f"job {job_id!r}", self.client.job.get, str(job_id))
        return job

    def get_job_status(self, job_id: str) -> JobStatus:
        """PENDING, RUNNING, SUCCESS, FAILURE or CANCELLED (Lepton job states mapped; final ones cached)."""
        with self._lock:
            if job_id in self._final:
                return self._final[job_id]
        job = self._get(job_id)
        status = self._status(job)
        if status.is_finished():
            with self._lock:
                self._final[job_id] = status
        return status

    @staticmethod
    def _status(job: LeptonJob) -> JobStatus:
        st = job.status
        if st is None:
            return JobStatus.PENDING
        state = st.state.value if st.state is not None else None
        try:
            return to_status(state, st.succeeded or 0, st.failed or 0, job.spec.completions or 1,
                             stopped=bool(job.spec.stopped))
        except PlatformError as exc:  # a state it does not know: name the job
            raise PlatformError(f"Lepton job {job.metadata.id_ or job.metadata.name}: {exc}") from None

    def get_job_info(self, job_id: str) -> dict[str, Any]:
        """The job's Lepton record (metadata, spec, status) as a plain dict, with ``finished_at`` (epoch seconds) once
        it has ended: its ``status.completion_time``."""
        job = self._get(job_id)
        info: dict[str, Any] = job.model_dump(mode="json", by_alias=True, exclude_none=True)
        ended = job.status.completion_time if job.status is not None else None
        if ended and self._status(job).is_finished():
            info["finished_at"] = epoch_seconds(ended)
        return info

    # ------------------------------------------------------------- logs
    def _log_lines(self, job_id: str, tail: int | None) -> list[str]:
        """Log lines of every replica, oldest first (the newest ``tail`` + 1 when ``tail`` is given)."""
        return [line for _, _, line in self._log_entries(job_id, tail)]

    def _log_entries(self, job_id: str, tail: int | None) -> list[tuple[int, str, str]]:
        """``(ts_ns, replica, line)`` of every replica, oldest first (the newest ``tail`` + 1 when ``tail`` is
        given)."""
        end = time.time_ns() + 10**9
        start = end - int(self.log_lookback_s * 1e9)
        seen: set[tuple[int, str, str]] = set()
        entries: list[tuple[int, str, str]] = []
        limit = _LOG_PAGE if tail is None else min(tail + 1, _LOG_PAGE)
        for _ in range(_LOG_PAGES):
            answer = self._call(f"logs of job {job_id!r}", self.client.log.get_log, name_or_job=str(job_id),
                                start=str(start), end=str(end), limit=limit, direction="backward")
            answered = log_entries(answer)
            page = [e for e in answered if e not in seen]  # a page starts with the lines at the last one's time
            seen.update(page)
            entries.extend(page)
            if tail is not None or len(answered) < limit or not page:
                break
            end = min(e[0] for e in page)
            if end <= start:
                break
        else:  # every page full: lines older than these were not fetched; said, never cut silently
            logger.warning("lepton job %s: its log is longer than %d lines; only the newest were fetched", job_id,
                           len(entries))
            entries.append((min(e[0] for e in entries) - 1, "", f"[tao-automl: the log has lines before these that "
                            f"were not fetched: only its newest {len(entries)} lines ({_LOG_PAGES} pages) are read]"))
        entries.sort(key=lambda e: e[0])
        return entries

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        """The job's output (all replicas), or its last ``tail`` lines; None while there is none."""
        if tail is not None:
            tail = check_int("tail", tail, 0)
        lines = self._log_lines(job_id, tail)
        if not lines:
            return None
        lines = without_markers(lines)
        if tail is not None:
            lines = lines[-tail:] if tail else []
        return "".join(f"{line}\n" for line in lines)

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        """None unless the job failed or was cancelled; else state, exit code, error lines, a message."""
        job = self._get(job_id)
        status = self._status(job)
        if status not in (JobStatus.FAILURE, JobStatus.CANCELLED):
            return None
        entries = self._log_entries(job_id, SCAN_LINES)
        ended = replica_exit_codes(entries)
        # the replica that failed first is the cause; the others' codes (a peer's SIGTERM, 0) are its consequences.
        # None logged a failing code (a replica killed before its wrapper could print one): no exit code, not a 0
        first = next((e for e in ended if e[2] != 0), None)
        replica, code = (first[1] or None, first[2]) if first else (None, None)
        silent = sorted({r for _, r, _ in entries} - {r for _, r, _ in ended})
        own = [line for _, r, line in entries if r == replica] if replica else []
        found = (failure_from_log("\n".join(without_markers(own))) if own else []) or \
            failure_from_log("\n".join(without_markers([line for _, _, line in entries])))
        state = job.status.state.value if job.status and job.status.state else None
        return {"job_id": str(job_id), "status": status.value, "lepton_state": state, "exit_code": code,
                "replica": replica, "replica_exit_codes": {r or "?": c for _, r, c in ended},
                "failed_replicas": job.status.failed if job.status else None, "error_lines": found,
                "message": _describe(str(job_id), status, state, code, found, replica if len(ended) > 1 else None,
                                     [(r, c) for _, r, c in ended], silent)}

    # ----------------------------------------------------------- cancel
    def cancel_job(self, job_id: str) -> bool:
        """Stop the job (``spec.stopped``, as ``lep job stop`` does) and wait until Lepton says it stopped; False if
        it had already finished (by itself, also just before the stop: then it keeps its own result)."""
        if self.get_job_status(job_id).is_finished():
            return False
        try:
            self._call(f"stop of job {job_id!r}", self.client.job.update, str(job_id), spec={"spec": {"stopped": True}})
        except (TransientPlatformError, UnknownJobError):
            raise
        except PlatformError:  # refused: a job that ended since the look above keeps its own result
            status = self.get_job_status(job_id)
            if not status.is_finished():
                raise
            logger.info("lepton job %s had already ended (%s): its stop was refused", job_id, status.value)
            return False
        with self._lock:
            self._final.pop(job_id, None)
        deadline = time.monotonic() + self.stop_timeout_s
        while True:
            job = self._get(job_id)
            status = self._status(job)
            if status.is_finished():
                break
            if time.monotonic() >= deadline:
                state = job.status.state.value if job.status and job.status.state else None
                raise PlatformError(f"Lepton job {job_id} was asked to stop but is still {state or 'running'} after "
                                    f"{self.stop_timeout_s:g} s: its replicas may still write")
            time.sleep(self.poll_interval_s)
        with self._lock:
            self._final[job_id] = status
        if status is not JobStatus.CANCELLED:
            logger.info("lepton job %s had already ended (%s) when it was stopped", job_id, status.value)
            return False
        logger.info("lepton job %s stopped", job_id)
        return True


def _mounts(value: object) -> list[Mount]:
    """``mounts`` as Lepton Mounts; anything else is a user error naming the field."""
    allowed = "a list of {from, path, mount_path} mappings (Lepton storage mounts)"
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise UserInputError(f"mounts must be {allowed}, got {value!r}", field="mounts", value=value, allowed=allowed)
    mounts = []
    for item in value:
        try:
            mounts.append(Mount(**dict(item)))
        except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            errors = getattr(exc, "errors", None)
            detail = ("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())
                      if callable(errors) else str(exc))
            raise UserInputError(f"mounts entry {item!r} is not a Lepton mount ({detail})",
                                 field="mounts", value=value, allowed=allowed) from None
    return mounts


def _describe(job_id: str, status: JobStatus, state: str | None, code: int | None, found: list[str],
              replica: str | None = None, codes: Sequence[tuple[str, int]] = (), silent: Sequence[str] = ()) -> str:
    """One sentence on why the job did not succeed (``replica``: the one that failed first, of several; ``codes``:
    each replica's logged exit code, ``silent``: the replicas that logged none)."""
    if status is JobStatus.CANCELLED:
        return f"Lepton job {job_id} was stopped ({state})."
    if code is not None:
        detail = f" with exit code {code}"
    elif codes:  # every code logged was 0: the failure was not a command's exit
        said = [f"{r or 'its replica'} exited {c}" for r, c in codes] + [f"{r} logged none" for r in silent]
        detail = f" (no replica logged a failing exit code: {'; '.join(said)})"
    else:
        detail = " (no exit code in its logs)"
    detail += f" on replica {replica}" if replica and code is not None else ""
    error = reason_line(found)
    return f"Lepton job {job_id} {state or 'failed'}{detail}" + (f": {error}" if error else "") + "."

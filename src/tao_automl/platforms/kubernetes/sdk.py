"""The Kubernetes platform: every job is a ``batch/v1`` Job, driven by the official ``kubernetes`` client.

A rec is one Job named after its ``job_name`` (``tao-<slug>-<hash>``), so a second ``create_job`` with
that name finds it instead of starting another; ``num_nodes > 1`` makes it an Indexed Job plus a headless
Service (see ``kubernetes_manifest``). The results dir and the folders of the host files the command names
(the spec file's folder) are hostPath-mounted at the same path: this assumes those paths are the same on
every node (shared storage such as NFS mounted everywhere, or a single-node cluster); ``mounts`` adds more.
Connection: ``kubeconfig`` (env ``KUBECONFIG``, else ``~/.kube/config``, else the in-cluster service
account), ``context`` (env ``TAO_K8S_CONTEXT``), ``namespace`` (env ``TAO_K8S_NAMESPACE``, else
``default``). A small state dir (``state_dir``; a sweep without one uses its run folder's ``jobs``, else the
cache dir) keeps one JSON record per job (cancel flag, final state, final logs), so
polls and logs keep working after the Job is deleted (cancel, ``ttl_seconds_after_finished``) and a new
process re-attaches with ``init_options``. A string command runs under ``EXIT_RECORDER``, which writes its exit
status to the results dir, so a Job removed before anyone saw it finish still ends as it did (see ``_gone``). A job's
``platform_kwargs`` may set ``cpu``, ``memory``, ``node_selector``,
``tolerations``, ``labels``, ``backoff_limit``, ``time_limit_s`` (the Job's ``activeDeadlineSeconds``) and the other
pod settings of the constructor, over its value. Needs the ``kubernetes`` extra:
``pip install 'tao-run-automl[kubernetes]'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.base import Job, JobRequest, JobStatus, PlatformCheck, UnknownJobError
from tao_automl.platforms.common import check_flag, check_int, check_job_name, contained_path, rfc3339_time
from tao_automl.platforms.docker.spec import parse_mounts
from tao_automl.platforms.files import read_text
from tao_automl.platforms.image_reference import image_check
from tao_automl.platforms.kubernetes.api import QUOTA_EXCEEDED, KubeApi
from tao_automl.platforms.kubernetes.fit import quota_never_fits, resources_check
from tao_automl.platforms.kubernetes.manifest import (
    CONTAINER,
    GPU_RESOURCE,
    JOB_LABEL,
    LABEL_PREFIX,
    exit_file,
    job_manifest,
    k8s_name,
    service_manifest,
)
from tao_automl.platforms.kubernetes.manifest import tolerations as checked_tolerations
from tao_automl.platforms.kubernetes.state import (
    PULL_WAITING,
    PodsAfterDelete,
    deleted_message,
    deleted_while_running,
    describe,
    failed_pod,
    gone_exit_message,
    pod_info,
    to_status,
    vanished_message,
)
from tao_automl.platforms.kubernetes.validate import image_reference, label_selector
from tao_automl.platforms.records import JobRecords, RecordedPlatform, default_state_dir, new_job_key, state_dir_option
from tao_automl.util.reach import unreachable_error

logger = logging.getLogger(__name__)

_FINISHED = {s.value for s in JobStatus if s.is_finished()}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_PROPAGATION = ("Foreground", "Background")
#: Answers of a proxy or load balancer that could not reach the API server behind it.
_GATEWAY_HTTP = {502, 503, 504}
#: Lines of each pod's log kept in the state dir when a job finishes.
_SAVED_LOG_LINES = 10000
#: Warning events that keep a Job from creating its pods, and a scheduled pod from starting (see ``_blocked``).
_JOB_BLOCKED = frozenset({"FailedCreate"})
_POD_BLOCKED = frozenset({"FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox"})
#: Seconds a cancel waits for the pods to stop beyond their termination grace period (30 s when not set).
_CANCEL_MARGIN_S = 15.0


def _check_options(*, propagation_policy: object, pull_grace_s: object, timeout_s: object, **texts: object) -> None:
    """The constructor options whose type alone can be wrong (a run config's ``kubeconfig: 5``), each refused naming
    it, its value and what is allowed, before any of them is used."""
    for key, value in texts.items():
        allowed = "a path (a string)" if key in ("kubeconfig", "state_dir") else "a string"
        if value is not None and not isinstance(value, str) and not (key == "state_dir" and
                                                                      isinstance(value, os.PathLike)):
            raise UserInputError(f"{key} must be {allowed}, got {value!r}", field=key, value=value, allowed=allowed)
    if propagation_policy not in _PROPAGATION:
        raise UserInputError(f"propagation_policy must be one of {', '.join(_PROPAGATION)}, got {propagation_policy!r}",
                             field="propagation_policy", value=propagation_policy, allowed=list(_PROPAGATION))
    for key, number in (("pull_grace_s", pull_grace_s), ("timeout_s", timeout_s)):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                or number <= 0:
            raise UserInputError(f"{key} must be a number > 0, got {number!r}", field=key, value=number,
                                 allowed="a finite number of seconds > 0")


#: (API group, resource, subresource, verb) the SDK uses on a job's objects in its namespace, creating aside.
_NEEDED_ACCESS = (("batch", "jobs", "", "get"), ("batch", "jobs", "", "delete"), ("", "pods", "", "list"),
                  ("", "pods", "", "watch"), ("", "pods", "log", "get"))


def _verbs(needed: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """``needed`` as 'get jobs', 'get pods/log' ..."""
    return [f"{verb} {resource}{'/' + sub if sub else ''}" for _, resource, sub, verb in needed]


class KubernetesSDK(RecordedPlatform):
    """Runs jobs as Kubernetes Jobs; see the module docstring."""

    #: Every per-job argument the Job manifest reads (a job's value wins over the constructor's default).
    job_kwargs = frozenset({"job_name", "memory", "mounts", "num_nodes", "cpu", "image_pull_policy", "master_port",
                            "mount_command_paths", "working_dir", "node_selector", "tolerations", "labels",
                            "time_limit_s", "backoff_limit", "ttl_seconds_after_finished", "service_account",
                            "image_pull_secret", "shm_size", "host_network", "termination_grace_period_s"})
    multi_node = True

    poll_interval_s: float = 0.5

    def __init__(
        self,
        namespace: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        image: str | None = None,
        state_dir: str | Path | None = None,
        image_pull_policy: str = "IfNotPresent",
        image_pull_secret: str | None = None,
        service_account: str | None = None,
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[Mapping[str, Any]] | None = None,
        mounts: Mapping[str, Any] | None = None,
        mount_command_paths: bool = True,
        host_network: bool = False,
        cpu: str | None = None,
        memory: str | None = None,
        shm_size: str | None = None,
        backoff_limit: int = 0,
        ttl_seconds_after_finished: int | None = 3600,
        termination_grace_period_s: int | None = None,
        propagation_policy: str = "Foreground",
        pull_grace_s: float = 300.0,
        timeout_s: float = 30.0,
        state_file: str | Path | None = None,
        keep_jobs: bool = False,
    ) -> None:
        state_dir = state_dir_option(state_dir, state_file)
        _check_options(namespace=namespace, kubeconfig=kubeconfig, context=context, image=image,
                       state_dir=state_dir, propagation_policy=propagation_policy, pull_grace_s=pull_grace_s,
                       timeout_s=timeout_s)
        namespace = namespace or os.environ.get("TAO_K8S_NAMESPACE") or "default"
        if not _NAME.match(namespace):
            allowed = "a DNS-1123 label: at most 63 lowercase letters, digits and '-', alphanumeric at both ends"
            raise UserInputError(f"namespace must be {allowed}, got {namespace!r}", field="namespace",
                                 value=namespace, allowed=allowed)
        context = context or os.environ.get("TAO_K8S_CONTEXT") or None
        self.namespace = namespace
        self.image = image
        self.state_dir = Path(state_dir).expanduser() if state_dir is not None else default_state_dir("kubernetes")
        #: Whether the caller chose the state dir (else the runner keeps a sweep's records and logs in its run folder).
        self.state_dir_chosen = state_dir is not None
        self.propagation_policy = propagation_policy
        #: Keep each ended Job (and its pods) instead of deleting it once its rec's result is stored.
        self.keep_jobs = check_flag("keep_jobs", keep_jobs)
        self.pull_grace_s = float(pull_grace_s)
        self.timeout_s = float(timeout_s)
        if mounts is not None and not isinstance(mounts, Mapping):
            parse_mounts(mounts)  # refuses it, naming mounts
        self.defaults: dict[str, Any] = {
            "image_pull_policy": image_pull_policy, "image_pull_secret": image_pull_secret,
            "service_account": service_account, "node_selector": label_selector("node_selector", node_selector),
            "tolerations": checked_tolerations(tolerations), "mounts": dict(mounts or {}),
            "mount_command_paths": mount_command_paths, "host_network": host_network, "cpu": cpu,
            "memory": memory, "shm_size": shm_size, "backoff_limit": backoff_limit,
            "ttl_seconds_after_finished": ttl_seconds_after_finished,
            "termination_grace_period_s": termination_grace_period_s,
        }
        # validate the defaults now, before any job exists
        job_manifest(name="validate", image="x", command="true", gpu_count=0, env_vars=None, results_dir="/tmp",
                     job_name=None, kwargs={}, defaults=self.defaults)
        self.api = KubeApi(kubeconfig, context, self.timeout_s)
        self.batch: Any = self.api.batch
        self.core: Any = self.api.core
        #: Constructor arguments a later process needs to rebuild this SDK and re-attach to its jobs.
        self.init_options: dict[str, Any] = {
            "namespace": namespace, "kubeconfig": kubeconfig, "context": context, "image": image,
            "state_dir": str(self.state_dir), **{k: v for k, v in self.defaults.items()},
            "propagation_policy": propagation_policy, "pull_grace_s": self.pull_grace_s, "timeout_s": self.timeout_s,
            "keep_jobs": self.keep_jobs,
        }
        self.records = JobRecords(self.state_dir, namespace, valid_id=lambda job_id: bool(_NAME.match(job_id)))

    def keep_state_in(self, folder: str | Path) -> None:
        """Keep the next jobs' records and final logs under ``folder`` (the runner: ``<run folder>/jobs``, as local
        jobs keep their output.log there), so they stay with the run instead of the cache dir."""
        target = Path(folder).expanduser().absolute()
        if target == self.state_dir:
            return
        self.state_dir = target
        self.init_options["state_dir"] = str(target)
        self.records = JobRecords(target, self.namespace, valid_id=lambda job_id: bool(_NAME.match(job_id)))

    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        """The API server answers and the namespace exists; images are pulled by each node's kubelet, so the
        image is not checked from here."""
        try:
            found = self.api.maybe(f"reading namespace {self.namespace}", self.core.read_namespace, self.namespace)
        except PlatformError as exc:
            status = getattr(exc, "status", None)
            if status == 401:
                return [PlatformCheck("platform_reachable", False, f"the API server at {self.api.host} refused these "
                                      f"credentials: {exc}")]
            if status != 403:  # no answer at all, or a gateway in front of the API server that cannot reach it
                unreachable = status in _GATEWAY_HTTP or (status is None and unreachable_error(exc))
                return [PlatformCheck("platform_reachable", False, str(exc), unreachable=unreachable)]
            checks = [PlatformCheck("platform_reachable", True, f"API server {self.api.host} answered"),
                      PlatformCheck("namespace", None, f"namespace {self.namespace!r}: not checked (these credentials "
                                    "may not read namespaces, HTTP 403; the job_create check tries a Job there)")]
        else:
            checks = [PlatformCheck("platform_reachable", True, f"API server {self.api.host} answered"),
                      self._namespace_check(found is not None)]
        if checks[0].ok:
            checks.append(self._resources_check(gpu_count, dict(job_options or {})))
            checks.extend(self._multi_node_checks(dict(job_options or {})))
            if checks[1].ok is not False:  # a namespace that does not exist is said once
                checks.append(self._create_check(gpu_count, dict(job_options or {})))
                checks.append(self._access_check(dict(job_options or {})))
        image = image or self.image
        if image:
            checks.append(image_check(image, "each node's kubelet pulls it, "
                                      f"image_pull_policy={self.defaults['image_pull_policy']}", image_reference))
        return checks

    def _resources_check(self, gpu_count: int | None, options: dict[str, Any]) -> PlatformCheck:
        """One rec's pod fits a schedulable node (cpu, memory, GPUs): see :mod:`.fit`."""
        gpus = int(options.pop("gpu_count", 1 if gpu_count is None else gpu_count) or 0)
        try:
            manifest = job_manifest(name="check", image="image", command="true", gpu_count=gpus, env_vars=None,
                                    results_dir=str(self.state_dir / "results"), job_name=None, kwargs=options,
                                    defaults=self.defaults)
            nodes = self.api.call("listing nodes", self.core.list_node).get("items") or []
        except UserInputError as exc:  # the platform_kwargs check reports it
            return PlatformCheck("resources", None, f"not checked: {exc}")
        except PlatformError as exc:
            return PlatformCheck("resources", None, f"not checked: these credentials cannot list nodes ({exc})")
        pod = manifest["spec"]["template"]["spec"]
        limits = pod["containers"][0]["resources"].get("limits") or {}
        settings = {key: f"platform_kwargs.{key}" if key in options else f"platform_options.{key}"
                    for key in ("cpu", "memory", "node_selector")}
        settings[GPU_RESOURCE] = "platform_kwargs.gpu_count"
        return resources_check(nodes, limits, pod.get("nodeSelector") or {}, settings)

    def _create_check(self, gpu_count: int | None, options: dict[str, Any]) -> PlatformCheck:
        """One rec's Job, created as a server-side dry run (nothing is created): these credentials may create Jobs in
        the namespace (RBAC), and the API server takes the manifest."""
        gpus = int(options.pop("gpu_count", 1 if gpu_count is None else gpu_count) or 0)
        try:
            manifest = job_manifest(name=new_job_key("tao-preflight"), image="image", command="true", gpu_count=gpus,
                                    env_vars=None, results_dir=str(self.state_dir / "results"), job_name=None,
                                    kwargs=options, defaults=self.defaults)
            self.api.call("creating a job (dry run)", self.batch.create_namespaced_job, self.namespace, manifest,
                          dry_run="All")
        except UserInputError as exc:  # the platform_kwargs check reports it
            return PlatformCheck("job_create", None, f"not checked: {exc}")
        except PlatformError as exc:
            return self._refused_create(exc)
        return PlatformCheck("job_create", True, f"these credentials may create Jobs in namespace {self.namespace!r} "
                             "and the API server takes one rec's Job (server-side dry run: nothing created)")

    def _access_check(self, options: Mapping[str, Any]) -> PlatformCheck:
        """What the SDK does with a job besides creating it, asked of the API server (SelfSubjectAccessReview): a
        credential that may create Jobs but not list their pods or read their logs left every rec 'failed: job status
        unreadable' while its Job ran on."""
        needed = list(_NEEDED_ACCESS)
        if int(options.get("num_nodes") or 1) > 1:
            needed.append(("", "services", "", "create"))
        denied: list[str] = []
        for group, resource, sub, verb in needed:
            attributes = {"namespace": self.namespace, "group": group, "resource": resource, "verb": verb,
                          **({"subresource": sub} if sub else {})}
            body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes}}
            try:
                review = self.api.call(f"asking whether these credentials may {verb} {resource}",
                                       self.api.authz.create_self_subject_access_review, body)
            except PlatformError as exc:
                return PlatformCheck("access", None, f"not checked (the API server did not answer an access review: "
                                     f"{exc})")
            if not (review.get("status") or {}).get("allowed"):
                denied.append(f"{verb} {resource}{'/' + sub if sub else ''}")
        if not denied:
            return PlatformCheck("access", True, f"these credentials may {', '.join(_verbs(needed))} in namespace "
                                 f"{self.namespace!r}")
        setting = "platform_options.namespace"
        allowed = f"a namespace where these credentials may {', '.join(_verbs(needed))}"
        detail = (f"these credentials may not {', '.join(denied)} in namespace {self.namespace!r}: every rec would "
                  "fail with HTTP 403 while its Job runs on")
        return PlatformCheck("access", False, detail, error=UserInputError(
            f"{setting}: {detail}; allowed: {allowed}", field=setting, value=self.namespace, allowed=allowed,
            hint=f"kubectl auth can-i --list -n {self.namespace} says what the credentials may do; ask the cluster's "
                 "admin for a Role with these verbs, or set platform_options.namespace"))

    def _refused_create(self, exc: PlatformError) -> PlatformCheck:
        """The create check when the dry run was refused: no right to create Jobs there (403), no such namespace
        (404), a manifest the API server refuses (422); anything else is not checked."""
        status = getattr(exc, "status", None)
        if status == 404:
            return dataclasses.replace(self._namespace_check(False), check="job_create")
        if status == 403 and QUOTA_EXCEEDED in str(exc):
            return self._quota_check(exc)
        if status == 403:
            setting, allowed = "platform_options.namespace", "a namespace these credentials may create Jobs in"
            detail = f"these credentials may not create Jobs in namespace {self.namespace!r}: {exc}"
            return PlatformCheck("job_create", False, detail, error=UserInputError(
                f"{setting}: {detail}; allowed: {allowed}", field=setting, value=self.namespace, allowed=allowed,
                hint=f"kubectl auth can-i create jobs.batch -n {self.namespace} says what the credentials may do; "
                     "set platform_options.namespace, or ask the cluster's admin for a Role that creates Jobs"))
        if status == 422:
            detail = f"the API server refuses one rec's Job: {exc}"
            return PlatformCheck("job_create", False, detail, error=UserInputError(
                f"platform_kwargs: {detail}", field="platform_kwargs", value=None,
                allowed="settings the API server takes (see its message)"))
        return PlatformCheck("job_create", None, f"not checked (a dry-run create of one rec's Job failed: {exc})")

    def _quota_check(self, exc: PlatformError) -> PlatformCheck:
        """The dry run met the namespace's ResourceQuota. A rec's Job asking more than a quota's limit never fits: a
        failed check. A quota that its jobs in use fill has room again as they end: the recs wait for it (the run
        submits each again when a job ends), so that is said, not failed."""
        never = quota_never_fits(str(exc))
        if never:
            setting, allowed = "platform_options.namespace", "a namespace whose ResourceQuota admits one rec's Job"
            detail = (f"the ResourceQuota of namespace {self.namespace!r} can never admit one rec's Job ({never}): "
                      f"{exc}")
            return PlatformCheck("job_create", False, detail, error=UserInputError(
                f"{setting}: {detail}; allowed: {allowed}", field=setting, value=self.namespace, allowed=allowed,
                hint=f"kubectl describe resourcequota -n {self.namespace} shows the limits; ask the cluster's admin "
                     "for a larger quota, set platform_options.namespace, or ask less (platform_kwargs cpu, memory, "
                     "gpu_count)"))
        return PlatformCheck("job_create", None, f"not checked: the ResourceQuota of namespace {self.namespace!r} "
                             f"has no room now, so recs wait for it and are submitted as jobs end ({exc})")

    def _namespace_check(self, exists: bool) -> PlatformCheck:
        if exists:
            return PlatformCheck("namespace", True, f"namespace {self.namespace!r} exists")
        setting, allowed = "platform_options.namespace", "an existing namespace (kubectl create namespace NAME)"
        detail = f"namespace {self.namespace!r} does not exist: create it or set namespace="
        return PlatformCheck("namespace", False, detail, error=UserInputError(
            f"{setting}: namespace {self.namespace!r} does not exist on the cluster; allowed: {allowed}",
            field=setting, value=self.namespace, allowed=allowed,
            hint=f"kubectl create namespace {self.namespace}, or set platform_options.namespace"))

    def _read_job(self, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.api.maybe(f"reading job {name}", self.batch.read_namespaced_job, name,
                                                    self.namespace)
        return result

    def _pods(self, name: str) -> list[dict[str, Any]]:
        return list(self._pod_list(name).get("items") or [])

    def _pod_list(self, name: str) -> dict[str, Any]:
        """The API's list of the Job's pods (with the list's ``resourceVersion``, for a watch)."""
        result: dict[str, Any] = self.api.call(f"listing pods of job {name}", self.core.list_namespaced_pod,
                                               self.namespace, label_selector=f"{JOB_LABEL}={name}")
        return result

    # --------------------------------------------------------------- records
    def _log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / self.namespace / f"{name}.log"

    def _adopt(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """A record for a Job this state dir does not know yet (submitted from another machine)."""
        meta = job.get("metadata") or {}
        notes = meta.get("annotations") or {}
        rec = {"id": meta["name"], "namespace": self.namespace, "uid": meta.get("uid"),
               "name": notes.get(f"{LABEL_PREFIX}job-name"), "results_dir": notes.get(f"{LABEL_PREFIX}results-dir", ""),
               "num_nodes": int(notes.get(f"{LABEL_PREFIX}num-nodes", "1") or 1), "state": JobStatus.PENDING.value,
               "submitted_at": time.time(), "cancel_requested": False, "adopted": True}
        self.records.save(rec)
        return rec

    def _record(self, job_id: str) -> dict[str, Any]:
        job_id = str(job_id).strip()
        rec = self.records.find(job_id)
        if rec is None and _NAME.match(job_id):
            job = self._read_job(job_id)
            rec = self._adopt(job) if job is not None else None
        if rec is None:
            raise UnknownJobError(f"unknown kubernetes job id {job_id!r}: namespace {self.namespace!r} has no such "
                                  f"Job and there is no record of it under {self.state_dir / 'jobs'}")
        return rec

    def _job(self, rec: Mapping[str, Any]) -> Job:
        return Job(id=str(rec["id"]), results_dir=str(rec["results_dir"]), name=rec.get("name"))

    # ---------------------------------------------------------------- create
    def submit(self, request: JobRequest) -> Job:
        """Create a Job running ``command`` (+ a headless Service for ``num_nodes > 1``); with ``job_name``
        an existing Job of that name is returned instead."""
        image, command, gpu_count, env_vars, outputs = (request.image, request.command, request.gpu_count,
                                                        request.env_vars, request.outputs)
        kwargs = request.options
        job_name = request.name
        image = image or self.image
        if not image:
            raise UserInputError("image: the kubernetes platform needs a container image; set the skill's "
                                 "container_image, pass image=..., or give KubernetesSDK(image=...) a default",
                                 field="image", value=None, allowed="a container image reference")
        image_reference(image)
        name = k8s_name(job_name, new_job_key("tao-job"))
        results = (outputs or {}).get("results_dir")
        results_dir = str(Path(str(results)).expanduser().resolve()) if results else \
            str((self.state_dir / "results" / name).resolve())
        manifest = job_manifest(name=name, image=image, command=command, gpu_count=gpu_count, env_vars=env_vars,
                                results_dir=results_dir, job_name=job_name, kwargs=kwargs, defaults=self.defaults,
                                inputs=request.inputs)
        with self.records.name_lock(name):
            if job_name:
                found = self.records.find(name)
                if found is not None:
                    logger.info("kubernetes job %s (%s) already submitted; not creating it again", name, job_name)
                    if found.get("state") not in _FINISHED:  # its creator may have died before the Service
                        self._ensure_service(found, manifest)
                    return self._job(found)
                existing = self._read_job(name)
                if existing is not None:
                    logger.info("kubernetes job %s (%s) already exists; not creating it again", name, job_name)
                    return self._job(self._ensure_service(self._adopt(existing), manifest))
            Path(results_dir).mkdir(parents=True, exist_ok=True)
            for rank in range(manifest["spec"]["completions"]):  # an earlier Job's of this name: not this one's
                with contextlib.suppress(FileNotFoundError):
                    os.remove(exit_file(results_dir, name, rank))
            created = self._create(manifest)
            if not self._kept_indexed(manifest, created):
                self._delete(name, "Background")
                raise self._no_indexed_jobs(manifest)
            rec = {"id": name, "namespace": self.namespace, "uid": created["metadata"].get("uid"), "name": job_name,
                   "results_dir": results_dir, "image": image, "gpu_count": gpu_count,
                   "num_nodes": manifest["spec"]["completions"],
                   "ttl_seconds_after_finished": manifest["spec"].get("ttlSecondsAfterFinished"),
                   "memory": kwargs.get("memory") or self.defaults.get("memory"), "state": JobStatus.PENDING.value,
                   "submitted_at": time.time(), "cancel_requested": False}
            self.records.save(rec)
            self._ensure_service(rec, manifest)
            logger.info("kubernetes job %s/%s created (image %s, %d node(s))", self.namespace, name, image,
                        rec["num_nodes"])
            return self._job(rec)

    @staticmethod
    def _kept_indexed(manifest: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
        """Whether the API server kept an Indexed Job's ``completionMode`` (one without Indexed Jobs drops it, and
        the N pods then run with no completion index: an empty NODE_RANK each, and no ``<job>-0`` to reach)."""
        wanted = manifest["spec"].get("completionMode")
        return wanted is None or (stored.get("spec") or {}).get("completionMode") == wanted

    def _no_indexed_jobs(self, manifest: Mapping[str, Any], setting: str = "num_nodes") -> UserInputError:
        num_nodes = manifest["spec"]["completions"]
        allowed = "1 on this cluster (a multi-node job is an Indexed Job: Kubernetes 1.22 or later, or 1.21 with " \
                  "the IndexedJob feature gate)"
        return UserInputError(f"{setting}: {num_nodes} needs Indexed Jobs, and the API server at {self.api.host} "
                              f"dropped the Job's completionMode (it has no Indexed Jobs), so every pod would run "
                              f"with an empty NODE_RANK; allowed: {allowed}", field=setting, value=num_nodes,
                              allowed=allowed)

    def _multi_node_checks(self, options: dict[str, Any]) -> list[PlatformCheck]:
        """For ``num_nodes > 1``: its Indexed Job, created as a server-side dry run (nothing is created): whether the
        API server keeps it."""
        options.pop("gpu_count", None)
        try:
            manifest = job_manifest(name=new_job_key("tao-preflight"), image="image", command="true", gpu_count=0,
                                    env_vars=None, results_dir=str(self.state_dir / "results"), job_name=None,
                                    kwargs=options, defaults=self.defaults)
        except UserInputError:  # the platform_kwargs check reports it
            return []
        if not manifest["spec"].get("completionMode"):
            return []
        try:
            stored = self.api.call("creating a job (dry run)", self.batch.create_namespaced_job, self.namespace,
                                   manifest, dry_run="All")
        except PlatformError as exc:
            return [PlatformCheck("multi_node", None, f"num_nodes={manifest['spec']['completions']}: not checked "
                                  f"(a dry-run create of its Indexed Job was refused: {exc})")]
        if self._kept_indexed(manifest, stored):
            return [PlatformCheck("multi_node", True, f"num_nodes={manifest['spec']['completions']}: the API server "
                                  "takes Indexed Jobs")]
        error = self._no_indexed_jobs(manifest, "platform_kwargs.num_nodes")
        return [PlatformCheck("multi_node", False, error.detail, error=error)]

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        """The Job manifest :meth:`submit` would create (quantities, mounts, tolerations, labels ...), built only."""
        job_manifest(name="check", image=self.image or "image", command="true", gpu_count=gpu_count, env_vars=None,
                     results_dir=str(self.state_dir / "results"), job_name=None, kwargs=options,
                     defaults=self.defaults)

    def find_job(self, job_name: str) -> str | None:
        """The name (= id) of the Job submitted under ``job_name`` (its record, else the API), or None."""
        name = k8s_name(check_job_name(job_name), "")
        with self.records.name_lock(name):
            if self.records.find(name) is not None:
                return name
            job = self._read_job(name)
            return None if job is None else str(self._adopt(job)["id"])

    def _create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        try:
            result: dict[str, Any] = self.api.call(f"creating job {name}", self.batch.create_namespaced_job,
                                                self.namespace, manifest)
            return result
        except PlatformError as exc:
            if getattr(exc, "status", None) == 409:  # another process created the same name just now
                found = self._read_job(name)
                if found is not None:
                    return found
            raise

    def _ensure_service(self, rec: dict[str, Any], manifest: Mapping[str, Any]) -> dict[str, Any]:
        """The headless Service of a multi-node job (owned by the Job, so it is deleted with it)."""
        if int(rec.get("num_nodes") or 1) <= 1:
            return rec
        body = service_manifest(str(rec["id"]), manifest["metadata"]["labels"], rec.get("uid"))
        try:
            self.api.call(f"creating service {rec['id']}", self.core.create_namespaced_service, self.namespace, body)
        except PlatformError as exc:
            if getattr(exc, "status", None) != 409:
                raise
        return rec

    # ---------------------------------------------------------------- status
    def _refresh(self, rec: dict[str, Any]) -> JobStatus:
        if rec.get("state") in _FINISHED:
            return JobStatus(rec["state"])
        name = str(rec["id"])
        if rec.get("cancel_requested"):
            rec["state"] = JobStatus.CANCELLED.value
            self.records.save(rec)
            return JobStatus.CANCELLED
        job = self._read_job(name)
        if job is None:
            return self._gone(rec)
        pods = [self._with_pull_error(rec, pod_info(p)) for p in self._pods(name)]
        status, message = to_status(job, pods, time.time() - float(rec.get("submitted_at") or 0), self.pull_grace_s)
        if status is not JobStatus.SUCCESS and deleted_while_running(job):
            status, message = JobStatus.CANCELLED, deleted_message(rec.get("results_dir"))
        if not status.is_finished():
            rec["seen_unfinished_at"] = time.time()  # saved with the next change: see _gone
        changed = status.value != rec.get("state")
        waiting = next((p["unschedulable"] for p in pods if p.get("unschedulable")), None) or \
            next((self._pulling(p) for p in pods if p.get("waiting_reason") in PULL_WAITING), None)
        if waiting is None and status is JobStatus.PENDING:
            waiting = self._blocked(rec, pods)
        rec.update(state=status.value, pods=pods, active=(job.get("status") or {}).get("active"),
                   pending_reason=f"Kubernetes: {waiting}" if waiting and status is JobStatus.PENDING else None)
        if status.is_finished():
            self._finish(rec, job, pods, message)
        if changed or status.is_finished():
            self.records.save(rec)
        return status

    def _blocked(self, rec: Mapping[str, Any], pods: list[dict[str, Any]]) -> str | None:
        """Why a pending job has no pod starting, when neither the scheduler nor an image pull says: the newest
        warning event of its Job (no pod: the Job controller cannot create it, e.g. a ResourceQuota refuses it) or of
        a scheduled pod that waits to start (a volume that does not mount); None when there is none."""
        name = str(rec["id"])
        if pods:
            targets = [(f"involvedObject.name={p['pod']}", _POD_BLOCKED) for p in pods
                       if p.get("phase") == "Pending" and p.get("node")]
        else:  # this Job's events, not those of an earlier Job of its name
            uid = f",involvedObject.uid={rec['uid']}" if rec.get("uid") else ""
            targets = [(f"involvedObject.name={name}{uid}", _JOB_BLOCKED)]
        found: list[dict[str, Any]] = []
        for selector, reasons in targets:
            with contextlib.suppress(PlatformError):  # best effort: the job is pending either way
                events = self.api.call(f"events of job {name}", self.core.list_namespaced_event, self.namespace,
                                       field_selector=selector)
                found += [e for e in events.get("items") or []
                          if e.get("type") == "Warning" and e.get("reason") in reasons]
        if not found:
            return None
        latest = max(found, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        kind = str((latest.get("involvedObject") or {}).get("kind") or "").lower()
        target = str((latest.get("involvedObject") or {}).get("name") or name)
        # the Job controller names each pod it tries to create anew: one wording per cause, not one per try
        message = re.sub(rf"\b{re.escape(name)}-[a-z0-9]{{5}}\b", f"{name}-*",
                         " ".join(str(latest.get("message")).split()))
        return f"{kind} {target}: {latest.get('reason')}: {message}"

    def _pulling(self, pod: Mapping[str, Any]) -> str:
        """Why a pod waits on its image: the node's pull error so far, and when the job fails if it goes on."""
        error = " ".join(str(pod.get("pull_error") or pod.get("waiting_message") or "").split())
        node = f" on node {pod['node']}" if pod.get("node") else ""
        why = f"{pod.get('waiting_reason')}{': ' + error if error else ''}"
        return (f"pod {pod.get('pod')} cannot pull the image {pod.get('image')!r}{node} yet ({why}); the kubelet "
                "retries, and the job fails if it still cannot after "
                f"pull_grace_s={self.pull_grace_s:g} s")

    def _with_pull_error(self, rec: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
        """``pod`` with the error its node met pulling the image (kept in ``rec``): while the kubelet backs off
        between pulls the pod says only 'Back-off pulling image', and the error is in the pod's Failed events."""
        if pod.get("waiting_reason") not in PULL_WAITING:
            return pod
        if pod.get("pull_error"):
            rec["pull_error"] = pod["pull_error"]
            return pod
        with contextlib.suppress(PlatformError):
            events = self.api.call(f"events of pod {pod['pod']}", self.core.list_namespaced_event, self.namespace,
                                   field_selector=f"involvedObject.name={pod['pod']}")
            failed = [e for e in events.get("items") or [] if e.get("reason") == "Failed" and
                      str(e.get("message") or "").startswith("Failed to pull image")]
            if failed:
                latest = max(failed, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
                rec["pull_error"] = str(latest["message"])
        return {**pod, "pull_error": rec.get("pull_error")}

    def _gone(self, rec: dict[str, Any]) -> JobStatus:
        """A Job this process did not delete is gone. If its pods recorded their command's exit status in the results
        dir (see ``EXIT_RECORDER``), without being stopped by a signal, that is how it ended: 0 on every rank is a
        success, else a failure with that exit code. Otherwise: last seen unfinished less than its
        ttl_seconds_after_finished ago (or it has none), it cannot have ended and been removed by the TTL
        controller: someone deleted it while it ran, a cancel from outside. Else how it ended is unknown."""
        recorded = self._recorded_exit(rec)
        ttl = rec.get("ttl_seconds_after_finished", self.defaults.get("ttl_seconds_after_finished"))
        seen = float(rec.get("seen_unfinished_at") or rec.get("submitted_at") or 0)
        if recorded is not None:
            rank, code, ended = recorded
            rec.update(state=(JobStatus.SUCCESS if code == 0 else JobStatus.FAILURE).value, exit_code=code,
                       finished_at=ended, reason="Completed" if code == 0 else "Error", exit_recorded=True)
            if code != 0:
                rec["message"] = gone_exit_message(code, rank, int(rec.get("num_nodes") or 1), rec.get("results_dir"))
        elif ttl is None or time.time() - seen < float(ttl):
            rec.update(state=JobStatus.CANCELLED.value, message=deleted_message(rec.get("results_dir")))
        else:
            rec.update(state=JobStatus.FAILURE.value, message=vanished_message(rec.get("results_dir")))
        self.records.save(rec)
        return JobStatus(rec["state"])

    @staticmethod
    def _recorded_exit(rec: Mapping[str, Any]) -> tuple[int, int, float] | None:
        """(rank, exit status, when written) its pods recorded in the results dir: the first rank that did not exit
        0, else rank 0; None unless every rank recorded a status and none was stopped by a signal."""
        results = str(rec.get("results_dir") or "")
        if not results:
            return None
        found: list[tuple[int, int, float]] = []
        for rank in range(int(rec.get("num_nodes") or 1)):
            path = exit_file(results, str(rec["id"]), rank)
            try:
                text = Path(path).read_text(encoding="utf-8", errors="replace").split()
                ended = os.stat(path).st_mtime
            except OSError:
                return None
            if len(text) != 1 or not text[0].isdigit():  # stopped by a signal ("143 TERM"), or unreadable
                return None
            found.append((rank, int(text[0]), ended))
        last = max(ended for _, _, ended in found)
        rank, code, _ = next((f for f in found if f[1] != 0), found[0])
        return rank, code, last

    def _finish(self, rec: dict[str, Any], job: Mapping[str, Any], pods: list[dict[str, Any]],
                message: str | None) -> None:
        """Record why the job ended and keep its logs (the pods may be deleted soon)."""
        culprit = failed_pod(pods) if rec["state"] == JobStatus.FAILURE.value else None
        if culprit is not None:
            rec.update(exit_code=culprit.get("exit_code"), signal=culprit.get("signal"), pod=culprit.get("pod"),
                       pod_rank=culprit.get("index"), node=culprit.get("node"),
                       reason=culprit.get("terminated_reason") or
                       culprit.get("waiting_reason") or culprit.get("pod_reason"),
                       oom_killed=culprit.get("terminated_reason") == "OOMKilled")
            # its retries under backoff_limit: one pod per attempt of the same index
            attempts = [p for p in pods if p.get("index") == culprit.get("index") and p.get("phase") == "Failed"]
            if len(attempts) > 1:
                rec["failed_attempts"] = len(attempts)
        conditions = [c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
        if conditions and not rec.get("reason"):
            rec["reason"] = conditions[-1].get("reason")
        # when it ended, as the API recorded it: completionTime (succeeded), else its final condition's change
        ended = rfc3339_time((job.get("status") or {}).get("completionTime") or
                             (conditions[-1].get("lastTransitionTime") if conditions else None))
        pod_ends = [t for t in (rfc3339_time(p.get("finished")) for p in pods) if t is not None]
        if conditions and conditions[-1].get("reason") == "BackoffLimitExceeded" and pod_ends:
            # the controller marks the Job Failed at its next sync, after its retry back-off (10 s and more): the
            # job ended when its last pod did
            ended = max(pod_ends)
        if ended is not None:
            rec["finished_at"] = ended
        if message:
            rec["message"] = message
        self._keep_logs(str(rec["id"]))
        if rec["state"] == JobStatus.FAILURE.value and not conditions:
            # failed from a stuck pod (image never pulls ...): the Job would wait forever; free its slot
            self._delete(str(rec["id"]), "Background")

    # ------------------------------------------------------------------ logs
    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        """The pods' stdout and stderr (one section per pod when there are several), or the last ``tail``
        lines; the copy kept at the end once the pods are gone; None before any exists."""
        if tail is not None:
            tail = check_int("tail", tail, 0)
        with self.records.lock:
            name = str(self._record(job_id)["id"])
        text = self._live_logs(name, tail)
        if text is None:
            try:
                text = self._log_path(name).read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                return None
            if tail is not None:
                text = "".join(text.splitlines(keepends=True)[-tail:]) if tail else ""
        return text if tail != 0 else ""

    def _keep_logs(self, name: str) -> None:
        """Copy the pods' logs into the state dir (best effort): they outlive the pods."""
        with contextlib.suppress(PlatformError, OSError):
            self._save_logs(name)

    def _save_logs(self, name: str) -> None:
        """Copy the pods' logs as the API has them now into the state dir (none when no pod has any); raises
        PlatformError or OSError when they cannot be read or written."""
        text = self._live_logs(name, None)
        if text is not None:
            path = self._log_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def _live_logs(self, name: str, tail: int | None) -> str | None:
        """The logs of the job's pods as the API has them now (None when no pod has any)."""
        pods = sorted((pod_info(p) for p in self._pods(name)),
                      key=lambda p: (int(p["index"]) if str(p.get("index") or "").isdigit() else 0,
                                     str(p.get("created") or "")))
        pieces: list[tuple[str, str]] = []
        for pod in pods:
            kwargs: dict[str, Any] = {"container": CONTAINER, "tail_lines": tail if tail else _SAVED_LOG_LINES}
            try:
                text = self.api.call(f"logs of pod {pod['pod']}", self.core.read_namespaced_pod_log, pod["pod"],
                                  self.namespace, text=True, **kwargs)
            except PlatformError as exc:
                if getattr(exc, "status", None) in (400, 404):  # not started yet, or just deleted
                    continue
                raise
            pieces.append((str(pod["pod"]) + (f" (rank {pod['index']})" if pod.get("index") else ""), str(text)))
        if not pieces:
            return None
        if len(pieces) == 1:
            return pieces[0][1]
        return "".join(f"==> pod {title} <==\n{text}" + ("" if text.endswith("\n") or not text else "\n")
                       for title, text in pieces)

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        """Text of a file under the job's results dir (a hostPath on shared storage, so read here)."""
        with self.records.lock:
            results = str(self._record(job_id)["results_dir"])
        return read_text(contained_path(results, relative_path))

    # ------------------------------------------------------ failure analysis
    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        """None unless the job failed or was cancelled; else exit code, reason (OOMKilled, ImagePullBackOff,
        DeadlineExceeded ...), pod, node, warning events, error lines and a one-sentence message."""
        ended = self._ended(job_id)
        if ended is None:
            return None
        status, data, found = ended
        return {
            "job_id": str(data["id"]), "status": status.value, "namespace": self.namespace,
            "exit_code": data.get("exit_code"), "signal": data.get("signal"), "reason": data.get("reason"),
            "oom_killed": bool(data.get("oom_killed")), "pod": data.get("pod"), "node": data.get("node"),
            "pods": data.get("pods") or [], "events": self._events(data), "error_lines": found,
            "message": describe(str(data["id"]), status, data, found),
        }

    def _events(self, data: Mapping[str, Any]) -> list[str]:
        """Warning events of the Job and its pods (while the API still has them)."""
        names = [str(data["id"])] + [str(p["pod"]) for p in (data.get("pods") or [])[:8] if p.get("pod")]
        out: list[str] = []
        for obj in names:
            try:
                events = self.api.call(f"events of {obj}", self.core.list_namespaced_event, self.namespace,
                                    field_selector=f"involvedObject.name={obj}")
            except PlatformError:
                continue
            for event in events.get("items") or []:
                if event.get("type") == "Warning":
                    kind = (event.get("involvedObject") or {}).get("kind", "")
                    out.append(f"{kind}/{obj}: {event.get('reason')}: {event.get('message')}"[:500])
        return out

    def release_job(self, job_id: str) -> str | None:
        """Delete the ended job's Job with its pods (and a multi-node job's Service, which the Job owns) once the runner
        stored its rec's result, so a sweep leaves no finished Job per rec (``ttl_seconds_after_finished`` removes
        them only an hour later by default, and never on a cluster whose TTL controller is off); status, logs and a
        submission under its name read the job's record and the log kept at its end from then on. None with
        ``keep_jobs`` or when the Job is gone already. Raises, keeping the Job, while it still runs or when its log
        could not be kept."""
        if self.keep_jobs:
            return None
        with self.records.lock:
            rec = self._record(job_id)
            name = str(rec["id"])
            if not self._refresh(rec).is_finished():
                raise PlatformError(f"kubernetes job {name}: it still runs, so it was not deleted; `kubectl delete job "
                                    f"{name} -n {self.namespace}` deletes it")
            if self._read_job(name) is None:
                return None
            if not self._log_path(name).is_file():
                try:
                    self._save_logs(name)
                except (PlatformError, OSError) as exc:
                    raise PlatformError(f"kubernetes job {name}: its log could not be kept ({exc}), so the Job was "
                                        f"kept (`kubectl logs job/{name} -n {self.namespace}`)") from exc
            self._delete(name, "Background")
        logger.info("kubernetes job %s/%s deleted with its pods (its log is kept in %s)", self.namespace, name,
                    self._log_path(name))
        return f"job {name} deleted"

    # ---------------------------------------------------------------- cancel
    def _delete(self, name: str, propagation: str) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        self.api.maybe(f"deleting job {name}", self.batch.delete_namespaced_job, name, self.namespace, body=body)

    def cancel_job(self, job_id: str) -> bool:
        """Delete the Job (and, by ``propagation_policy``, its pods) and wait until its pods have stopped (a pod runs
        on up to its termination grace period after the delete; bounded by that plus ``_CANCEL_MARGIN_S``), so the
        job writes nothing more once this returns True. False if it had already finished, or its pods had all
        exited 0 by themselves before the delete (the kubelet and the Job controller report an exit a second or
        more late): it then ends a success, as it would have without the cancel."""
        with self.records.lock:
            rec = self._record(job_id)
            if self._refresh(rec).is_finished():
                return False
            self._keep_logs(str(rec["id"]))  # what it printed, before the pods go
            rec["cancel_requested"] = True
            self.records.save(rec)
        # the wait (up to the pods' grace period) holds no lock: other jobs' cancels run meanwhile
        seen = self._delete_and_follow(rec)
        with self.records.lock:
            if seen.ended_by_itself(int(rec.get("num_nodes") or 1)):
                rec.update(state=JobStatus.SUCCESS.value, reason="Completed")
                if seen.ended_at() is not None:
                    rec["finished_at"] = seen.ended_at()
                self.records.save(rec)
                logger.info("kubernetes job %s/%s ended by itself before the cancel reached it", self.namespace,
                            rec["id"])
                return False
            self._refresh(rec)
        logger.info("kubernetes job %s/%s cancelled", self.namespace, rec["id"])
        return True

    def _delete_and_follow(self, rec: dict[str, Any]) -> PodsAfterDelete:
        """Delete the Job and watch its pods, from a list made just before, until they have all stopped or their
        grace period (30 s when not set) plus ``_CANCEL_MARGIN_S`` has passed; what was seen of them."""
        name = str(rec["id"])
        seen = PodsAfterDelete()
        try:
            listed = self._pod_list(name)
        except PlatformError as exc:
            listed = None
            logger.warning("kubernetes job %s: could not list its pods before the delete: %s", name, exc)
        self._delete(name, self.propagation_policy)
        if listed is None:
            return seen
        for pod in listed.get("items") or []:
            seen.see("ADDED", pod)
        graces = [(p.get("spec") or {}).get("terminationGracePeriodSeconds") for p in seen.last.values()]
        wait_s = max([float(g) for g in graces if g is not None] or [30.0]) + _CANCEL_MARGIN_S
        deadline = time.monotonic() + wait_s
        version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
        try:
            while seen.live() and time.monotonic() < deadline:
                version = self._follow(name, seen, version, deadline)
        except PlatformError as exc:
            logger.warning("kubernetes job %s: could not follow its pods after the delete: %s", name, exc)
        if seen.live():
            logger.warning("kubernetes job %s: pod(s) %s still not stopped %.0f s after the delete", name,
                           ", ".join(seen.live()), wait_s)
        return seen

    def _follow(self, name: str, seen: PodsAfterDelete, version: str, deadline: float) -> str:
        """Feed ``seen`` the pod events after ``version`` until the pods have stopped or the watch ends; the
        version to resume from (a fresh list's when the API server no longer has ``version``'s events)."""
        timeout = max(1, math.ceil(deadline - time.monotonic()))
        for kind, pod in self.api.watch(f"watching pods of job {name}", self.core.list_namespaced_pod,
                                        self.namespace, label_selector=f"{JOB_LABEL}={name}",
                                        resource_version=version, allow_watch_bookmarks=False, timeout_s=timeout):
            if kind == "ERROR":  # 410 Gone: resume from a fresh list
                listed = self._pod_list(name)
                for current in listed.get("items") or []:
                    seen.see("MODIFIED", current)
                seen.forget_all_but({str((p.get("metadata") or {}).get("name")) for p in listed.get("items") or []})
                return str((listed.get("metadata") or {}).get("resourceVersion") or "")
            seen.see(kind, pod)
            version = str((pod.get("metadata") or {}).get("resourceVersion") or version)
            if not seen.live():
                break
        return version

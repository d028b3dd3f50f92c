"""Job and pod status (raw API JSON) -> JobStatus, and the failure message of a finished Job."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tao_automl.platforms.analysis import reason_line
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.common import rfc3339_time
from tao_automl.platforms.kubernetes.manifest import CONTAINER, INDEX_ANNOTATION

#: Waiting reasons that never resolve by themselves: the job fails at once.
FATAL_WAITING = frozenset({"ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError",
                           "CreateContainerError", "RunContainerError"})
#: Waiting reasons that may be transient (a registry hiccup): the job fails after a grace period.
PULL_WAITING = frozenset({"ImagePullBackOff", "ErrImagePull"})
#: A pull error the registry gave as its answer (no such image or tag, no access): retrying will not change it.
_PULL_REFUSED = re.compile(r"manifest unknown|not found|does not exist|pull access denied|unauthori[sz]ed|"
                           r"authentication required|access[^:]*denied|name unknown|invalid reference format", re.I)
HINTS = {
    "ErrImageNeverPull": "the image is not on the node and imagePullPolicy is Never",
    "InvalidImageName": "the image name is not valid",
    "CreateContainerConfigError": "the container config refers to something missing (a secret or config map?)",
    "OOMKilled": "out of memory",
    "DeadlineExceeded": "it ran past its time limit (activeDeadlineSeconds)",
    "BackoffLimitExceeded": "its pod(s) failed more often than backoff_limit allows",
    "Evicted": "the node evicted the pod (resource pressure)",
}


def job_condition(job: Mapping[str, Any]) -> tuple[JobStatus | None, str | None, str | None]:
    """(SUCCESS or FAILURE or None, reason, message) from the Job's ``Complete``/``Failed`` conditions."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return JobStatus.SUCCESS, cond.get("reason"), cond.get("message")
        if cond.get("type") == "Failed":
            return JobStatus.FAILURE, cond.get("reason"), cond.get("message")
    return None, None, None


def deleted_while_running(job: Mapping[str, Any]) -> bool:
    """Whether the Job is being deleted (``deletionTimestamp``: ``kubectl delete --cascade=foreground`` keeps it until
    its pods are gone) without having ended first: no ``Complete`` condition, and no ``Failed`` one from before the
    deletion (the killed pods then fail it, and that failure is the deletion's, not the command's)."""
    deleted = rfc3339_time((job.get("metadata") or {}).get("deletionTimestamp"))
    if deleted is None:
        return False
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return False
        changed = rfc3339_time(cond.get("lastTransitionTime"))
        if cond.get("type") == "Failed" and changed is not None and changed <= deleted:
            return False
    return True


def deleted_message(results_dir: object) -> str:
    """Why a Job deleted by someone else while it ran was cancelled."""
    return (f"its Job was deleted while it ran (kubectl delete, or another client of the API server), not by this "
            f"process; what it wrote so far is in {results_dir}")


def vanished_message(results_dir: object) -> str:
    """Why a Job that is gone, and may have ended and been removed by ttl_seconds_after_finished, has no outcome."""
    return (f"its Job was deleted and this process could not see how it ended (it may have finished and been removed "
            f"by ttl_seconds_after_finished while no orchestrator polled); its results folder {results_dir} may still "
            "hold what it wrote")


def gone_exit_message(code: int, rank: int, num_nodes: int, results_dir: object) -> str:
    """Why a Job that is gone failed: the exit status its pod recorded in the results dir."""
    pod = f"its rank {rank} pod" if num_nodes > 1 else "its pod"
    return (f"{pod} exited with code {code} (as it recorded in {results_dir}), and its Job was deleted before this "
            "process saw it finish (removed by ttl_seconds_after_finished while no orchestrator polled, or by hand)")


def pod_info(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a pod that say how its main container is doing."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    main = next((c for c in containers if c.get("name") == CONTAINER), containers[0] if containers else {})
    state = main.get("state") or {}
    waiting, term = state.get("waiting") or {}, state.get("terminated") or {}
    info: dict[str, Any] = {
        "pod": meta.get("name"), "index": (meta.get("annotations") or {}).get(INDEX_ANNOTATION),
        "phase": status.get("phase"), "node": (pod.get("spec") or {}).get("nodeName"),
        "pod_reason": status.get("reason"), "pod_message": status.get("message"),
        "waiting_reason": waiting.get("reason"), "waiting_message": waiting.get("message"),
        "exit_code": term.get("exitCode"), "signal": term.get("signal"), "terminated_reason": term.get("reason"),
        "terminated_message": term.get("message"), "finished": term.get("finishedAt"),
        "restarts": main.get("restartCount", 0),
        "created": meta.get("creationTimestamp"),
        "image": main.get("image") or next((c.get("image") for c in (pod.get("spec") or {}).get("containers") or []
                                            if c.get("name") == CONTAINER), None),
    }
    if waiting.get("reason") == "ErrImagePull" and waiting.get("message"):
        info["pull_error"] = waiting["message"]  # the node's own error; ImagePullBackOff's message has none
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            info["unschedulable"] = cond.get("message") or cond.get("reason")
    return info


def to_status(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], age_s: float,
              pull_grace_s: float) -> tuple[JobStatus, str | None]:
    """Job conditions first; a pod stuck on a fatal (or long-lasting pull) error fails the job;
    any started pod means RUNNING; else PENDING."""
    final, reason, message = job_condition(job)
    if final is not None:
        return final, (f"{reason}: {message}" if final is JobStatus.FAILURE and (reason or message) else None)
    for pod in pods:
        why = pod.get("waiting_reason")
        if why in PULL_WAITING and (age_s > pull_grace_s or _PULL_REFUSED.search(str(pod.get("pull_error") or ""))):
            return JobStatus.FAILURE, pull_failure(pod)
        if why in FATAL_WAITING:
            hint = HINTS.get(str(why), "")
            detail = f": {pod.get('waiting_message')}" if pod.get("waiting_message") else ""
            return JobStatus.FAILURE, f"{pod_phrase(pod.get('index'))} cannot start: {why}" \
                                      f"{' (' + hint + ')' if hint else ''}{detail}"
    if any(p.get("phase") in ("Running", "Succeeded", "Failed") for p in pods):
        return JobStatus.RUNNING, None
    return JobStatus.PENDING, None


def pod_phrase(index: object) -> str:
    """The pod a failure message names: 'its pod', or 'its rank N pod' of a multi-node job. Never the pod's name:
    its random suffix made every rec's failure a cause of its own, so ``automl_fail_fast_after`` never stopped a
    sweep whose recs all failed alike (the name stays in the failure analysis' ``pod``)."""
    return f"its rank {index} pod" if index not in (None, "") else "its pod"


def pull_failure(pod: Mapping[str, Any]) -> str:
    """Why a pod's image cannot be pulled, naming the image, the node's pull error and the settings to change."""
    error = " ".join(str(pod.get("pull_error") or pod.get("waiting_message") or pod.get("waiting_reason")).split())
    node = f" on node {pod['node']}" if pod.get("node") else ""
    return (f"the image {pod.get('image')!r} cannot be pulled{node} ({pod.get('waiting_reason')}): {error}; set image "
            "(the run config's image or the skill's container_image) to one the nodes can pull, or give "
            "platform_options.image_pull_secret for a private registry")


def failed_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The pod that explains a failure: a non-zero exit first (lowest index), else any non-succeeded pod; of the
    pods of one index (one per attempt under ``backoff_limit``) the last attempt's, which ended the job.

    Creation times have one-second steps, so attempts made in one second are told apart by when they ended (one
    that has not ended is the newest)."""
    def index(p: Mapping[str, Any]) -> int:
        text = str(p.get("index") or "")
        return int(text) if text.isdigit() else 0

    def age(p: Mapping[str, Any]) -> tuple[str, str]:
        return str(p.get("created") or ""), str(p.get("finished") or "\uffff")
    newest_first = sorted(pods, key=age, reverse=True)
    ranked = sorted(newest_first, key=index)  # stable: the newest attempt first within an index
    return next((p for p in ranked if p.get("exit_code") not in (None, 0)), None) or \
        next((p for p in ranked if p.get("phase") != "Succeeded"), None)


def describe(name: str, status: JobStatus, data: Mapping[str, Any], found: Sequence[str]) -> str:
    """One sentence on why the Kubernetes job did not succeed."""
    if status is JobStatus.CANCELLED:
        return f"Kubernetes job {name} was cancelled" + (f": {data['message']}." if data.get("message") else ".")
    if data.get("oom_killed"):
        limit = f" (memory limit {data['memory']})" if data.get("memory") else ""
        return f"Kubernetes job {name} was killed by the out-of-memory killer{limit}: give it more memory."
    where = f" in {pod_phrase(data.get('pod_rank'))}" if data.get("pod") else ""
    where += f" on node {data['node']}" if data.get("node") else ""
    where += f" (the last of {data['failed_attempts']} failed attempts)" if data.get("failed_attempts") else ""
    error = reason_line(list(found))
    tail = f": {error}" if error else ""
    code = data.get("exit_code")
    if code not in (None, 0) and data.get("exit_recorded") and data.get("message"):  # see gone_exit_message
        return f"Kubernetes job {name} failed: {data['message']}{tail}."
    if code not in (None, 0):
        extra = " (SIGKILL: out of memory or killed by hand)" if code == 137 else \
            " (the command could not be run or was not found in the image)" if code in (126, 127) else ""
        return f"Kubernetes job {name} failed with exit code {code}{extra}{where}{tail}."
    reason = data.get("reason")
    if data.get("message"):
        hint = HINTS.get(str(reason), "")
        hint = f" ({hint})" if hint and hint not in str(data["message"]) else ""
        return f"Kubernetes job {name} failed: {data['message']}{hint}{tail}."
    return f"Kubernetes job {name} failed{where}{tail}."


class PodsAfterDelete:
    """What a cancel saw of its Job's pods, event by event, from a list made just before the delete: whether they
    have all stopped, and whether they had all exited 0 by themselves before their deletion began.

    Every state the API stored counts, not only the last: a kubelet reports a pod's exit and deletes the pod in one
    go (the terminated state lives a few milliseconds), and one that never reported a container started (its run
    took less than the kubelet's next look) deletes the pod still 'ContainerCreating': its run is then unknown."""

    def __init__(self) -> None:
        self.last: dict[str, Mapping[str, Any]] = {}
        self.gone: set[str] = set()
        #: Per pod that reported its main container terminated: whether it exited 0 before its deletion began.
        self.own_exit: dict[str, bool] = {}
        #: Per such pod: when its main container ended (its finishedAt), when the API said.
        self.finished: dict[str, float] = {}

    def see(self, kind: str, pod: Mapping[str, Any]) -> None:
        """One pod as listed (``ADDED``) or from a watch event (``MODIFIED``, ``DELETED``)."""
        name = str((pod.get("metadata") or {}).get("name"))
        self.last[name] = pod
        if kind == "DELETED":
            self.gone.add(name)
        if name not in self.own_exit and pod_info(pod).get("exit_code") is not None:
            self.own_exit[name] = exited_before_deletion(pod)
            ended = rfc3339_time(((_main(pod).get("state") or {}).get("terminated") or {}).get("finishedAt"))
            if ended is not None:
                self.finished[name] = ended

    def forget_all_but(self, names: set[str]) -> None:
        """A fresh list (the watch could not resume) has only ``names``: the others are gone."""
        self.gone.update(set(self.last) - names)

    def live(self) -> list[str]:
        """Pods that may still run: not deleted, not in a final phase, main container not terminated (a pod still
        'ContainerCreating' may have started it unreported)."""
        return [name for name, pod in self.last.items() if name not in self.gone and name not in self.own_exit
                and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]

    def ended_at(self) -> float | None:
        """When the last pod's main container ended (of pods that all ended by themselves), if the API said."""
        return max(self.finished.values()) if self.finished and len(self.finished) == len(self.last) else None

    def ended_by_itself(self, num_nodes: int) -> bool:
        """Whether every pod (at least one per node) reported an exit 0 from before its deletion."""
        return bool(self.last) and len(self.last) >= num_nodes and \
            all(self.own_exit.get(name, False) for name in self.last)


def exited_before_deletion(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's main container exited 0 before the pod's deletion began: the pod was not being deleted
    when it said so, or its container's finishedAt is not after the deletion's start (deletionTimestamp less its
    grace period, which a shorter grace keeps), to the second the API gives."""
    info = pod_info(pod)
    if info.get("exit_code") != 0:
        return False
    meta = pod.get("metadata") or {}
    deleted = rfc3339_time(meta.get("deletionTimestamp"))
    if deleted is None:
        return True
    finished = rfc3339_time(((_main(pod).get("state") or {}).get("terminated") or {}).get("finishedAt"))
    return finished is not None and finished <= deleted - float(meta.get("deletionGracePeriodSeconds") or 0)


def _main(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """The status of the pod's main container ({} before it has one)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((c for c in statuses if c.get("name") == CONTAINER), statuses[0] if statuses else {})

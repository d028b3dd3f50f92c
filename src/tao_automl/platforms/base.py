"""The platform-agnostic SDK shape: the protocol, its optional capabilities and shared errors.

:class:`PlatformSDK` is what the runner needs; any object with its required methods works (duck typing).
:class:`PlatformBase` declares every optional capability once, with its documented default; the
built-in SDKs derive from it and override what their platform can do better. :func:`as_platform`
gives any SDK object (a user's own, a test fake, a wrapper) that full shape.
"""

from __future__ import annotations

import enum
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

from tao_automl.errors import PlatformError, TaoAutoMLError, UserInputError
from tao_automl.platforms.common import check_int, check_job_name

T = TypeVar("T")


class JobStatus(str, enum.Enum):
    """Lifecycle state of one platform job."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"

    def is_finished(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED)

    @classmethod
    def parse(cls, value: object) -> JobStatus:
        """Accept a JobStatus, its value or a common platform spelling (case-insensitive)."""
        if isinstance(value, JobStatus):
            return value
        text = str(getattr(value, "value", value)).strip().lower()
        aliases = {
            "queued": "pending", "submitted": "pending", "starting": "pending",
            "completed": "success", "succeeded": "success", "done": "success",
            "failed": "failure", "error": "failure", "timeout": "failure",
            "canceled": "cancelled", "killed": "cancelled", "stopped": "cancelled",
        }
        text = aliases.get(text, text)
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown job status {value!r}; expected one of {[s.value for s in cls]}") from None


@dataclass(frozen=True)
class Job:
    """A submitted job: its platform id and where its results land."""

    id: str
    results_dir: str
    name: str | None = None


class UnknownJobError(PlatformError, KeyError):
    """The platform (and this SDK's records) know no job with this id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown job"


@dataclass(frozen=True)
class PlatformCheck:
    """One preflight check of a platform: ``ok`` True (passed), False (the run would fail) or None
    (not checked; ``detail`` says why). ``unreachable`` marks a failed check whose platform could not be
    contacted at all (connection refused, timeout, DNS failure, no daemon socket): preflight reports it as
    :class:`tao_automl.errors.PlatformUnreachableError` (exit 3, retry later) instead of a user error. ``error``: a
    failed check's own error when the platform knows the input at fault (its field, value and what is allowed); a
    :class:`~tao_automl.errors.PlatformUnreachableError` of its own (an ``unreachable`` check that names what could
    not be contacted, such as an image's registry) is kept as it is."""

    check: str
    ok: bool | None
    detail: str
    unreachable: bool = False
    error: TaoAutoMLError | None = field(default=None, compare=False)


@dataclass(frozen=True)
class JobRequest:
    """One ``create_job`` call after the checks every platform shares; ``options`` are its other keyword
    arguments as given (``job_name`` and ``num_nodes`` included)."""

    image: str | None
    command: str | Sequence[str]
    gpu_count: int
    num_nodes: int
    name: str | None
    env_vars: Mapping[str, str] | None
    inputs: Mapping[str, Any] | None
    outputs: Mapping[str, Any] | None
    options: Mapping[str, Any]

    @property
    def results_dir(self) -> str | None:
        """``outputs["results_dir"]`` when the caller chose one."""
        value = (self.outputs or {}).get("results_dir")
        return str(value) if value else None


@runtime_checkable
class PlatformSDK(Protocol):
    """What the runner needs from a platform. Any object with these methods works (duck typing).

    ``create_job`` receives ``job_name`` in ``kwargs``: a name that is the same for every retry of
    one rec's submission. An SDK returns the existing job of that name instead of creating a second
    one (idempotent submission), and ``find_job(job_name)`` looks it up without submitting anything:
    after a ``create_job`` that raised, the caller asks whether the platform started the job anyway.
    Optional capabilities and their defaults: see :class:`PlatformBase`.
    """

    def create_job(
        self,
        image: str | None,
        command: str | Sequence[str],
        gpu_count: int = 1,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Job: ...

    def get_job_status(self, job_id: str) -> JobStatus: ...

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None: ...

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None: ...

    def cancel_job(self, job_id: str) -> bool: ...

    def find_job(self, job_name: str) -> str | None: ...


class PlatformBase:
    """The optional capabilities of a platform SDK, each with its documented default.

    Subclasses implement the required methods of :class:`PlatformSDK` and override a default only
    where their platform can do better.
    """

    #: Constructor arguments a later process needs to rebuild this SDK and re-attach to its jobs
    #: (never a credential). Default: none.
    init_options: Mapping[str, Any] = MappingProxyType({})
    #: How often the default :meth:`wait_for_change` polls.
    poll_interval_s: float = 1.0
    #: Names ``create_job`` accepts through ``**kwargs`` (checked, with a did-you-mean, before a run starts);
    #: None: not declared, names are not checked.
    job_kwargs: frozenset[str] | None = None
    #: Whether one job may span several nodes (``num_nodes > 1``).
    multi_node: bool = False

    #: Completes "num_nodes=N is not supported by ..." on a single-node platform (why, and what to use).
    single_node_reason: str = "this platform: one job runs on one host"
    #: Whether job names must fit on one line (the platform puts them in a one-line field).
    single_line_names: bool = False
    #: Whether ``create_job`` takes ``spec_file={"path": ..., "text": ...}``: the rendered spec the job's command
    #: reads, written at ``path`` where the job runs before the command starts (for jobs that do not see the
    #: orchestrator's disk). The runner passes it only to an SDK that declares True. Default: False.
    takes_spec_file: bool = False

    def create_job(self, image: str | None, command: str | Sequence[str], gpu_count: int = 1,
                   env_vars: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Job:
        """Check what every platform shares (``gpu_count``, ``num_nodes``, ``job_name``), then :meth:`submit`."""
        gpu_count = check_int("gpu_count", gpu_count, 0)
        num_nodes = check_int("num_nodes", kwargs.get("num_nodes", 1), 1)
        if num_nodes > 1 and not self.multi_node:
            raise UserInputError(f"num_nodes={num_nodes} is not supported by {self.single_node_reason}",
                                 field="num_nodes", value=num_nodes, allowed=[1])
        name = check_job_name(kwargs.get("job_name"), self.single_line_names)
        return self.submit(JobRequest(image, command, gpu_count, num_nodes, name, env_vars, inputs, outputs, kwargs))

    def submit(self, request: JobRequest) -> Job:
        """Start the job of ``request``; for a ``request.name`` already submitted, return that job instead."""
        raise NotImplementedError

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        """Refuse, creating and contacting nothing, what ``create_job(gpu_count=gpu_count, **options)`` would refuse
        for its arguments (preflight and resume call it, so a bad value stops a run before it starts). Default:
        nothing beyond the checks every platform shares."""

    def get_job_status(self, job_id: str) -> JobStatus:
        raise NotImplementedError

    def offers(self, capability: str) -> bool:
        """Whether the SDK implements the optional ``capability`` itself (rather than the default here)."""
        return getattr(type(self), capability, None) is not getattr(PlatformBase, capability, None)

    def find_job(self, job_name: str) -> str | None:
        """The id of the job submitted under ``job_name``, or None. Default: None (cannot look up)."""
        return None

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        """Text of a file under the job's results dir, or None when absent. Default: None, and the caller
        reads ``Job.results_dir`` on its own disk (right when that dir is local or on shared storage)."""
        return None

    def release_job(self, job_id: str) -> str | None:
        """Free what the platform still holds for an ended job beyond its result (Brev: the instance made for it), so
        it stops costing; what was released, in a few words, or None when nothing was. The runner calls it once the
        job's rec has its result stored (never before), and again on resume for a job whose release did not happen;
        so a second call for a job already released must succeed. Raises when the release failed (the runner logs
        it, records it and goes on). Default: nothing to release (None)."""
        return None

    def wait_for_change(self, job_ids: Sequence[str], timeout: float) -> None:
        """Block until one of ``job_ids`` has finished or ``timeout`` s pass. Default: poll
        ``get_job_status`` every ``poll_interval_s``."""
        poll_until_finished(self.get_job_status, job_ids, timeout, self.poll_interval_s)

    def get_job_info(self, job_id: str) -> dict[str, Any]:
        """What the platform knows of the job, as plain data. Default: its id and status."""
        return {"id": job_id, "state": JobStatus.parse(self.get_job_status(job_id)).value}

    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        """Checks that the platform is reachable and ``image`` (if any) usable by jobs asking for ``gpu_count``
        GPUs with ``job_options`` (their other ``create_job`` keyword arguments, e.g. a partition), creating and
        launching nothing. Default: nothing is checked, and each check says so."""
        name = type(unwrap(self)).__name__
        checks = [PlatformCheck("platform_reachable", None, f"not checked: {name} offers no reachability check")]
        if image:
            checks.append(PlatformCheck("image", None, f"{image}: not checked ({name} offers no image check)"))
        return checks


_OPTIONAL = ("find_job", "read_job_file", "wait_for_change", "get_job_info", "preflight", "validate_job",
             "release_job")


class PlatformWrapper(PlatformBase):
    """A :class:`PlatformBase` in front of another SDK object ``sdk``: every call is forwarded through
    :meth:`call` (a hook: ``Retrying`` retries there); an optional capability ``sdk`` lacks gets its
    documented default."""

    def __init__(self, sdk: Any) -> None:
        self.sdk = sdk
        self.init_options = dict(getattr(sdk, "init_options", None) or {})
        self.poll_interval_s = float(getattr(sdk, "poll_interval_s", PlatformBase.poll_interval_s))
        self.takes_spec_file = getattr(sdk, "takes_spec_file", False) is True
        self._optional: dict[str, Callable[..., Any]] = {}
        for name in _OPTIONAL:
            method = getattr(sdk, name, None)
            if callable(method):
                self._optional[name] = method

    def offers(self, capability: str) -> bool:
        return capability in self._optional and (not isinstance(self.sdk, PlatformBase) or
                                                  self.sdk.offers(capability))

    def call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``; the hook every forwarded call passes through."""
        return fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Any other attribute of the wrapped SDK, as is."""
        if name.startswith("__") or name in ("sdk", "_optional"):
            raise AttributeError(name)
        return getattr(self.sdk, name)

    def create_job(self, image: str | None, command: str | Sequence[str], gpu_count: int = 1,
                   env_vars: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Job:
        result: Job = self.call("create_job", self.sdk.create_job, image, command, gpu_count=gpu_count,
                                env_vars=env_vars, inputs=inputs, outputs=outputs, **kwargs)
        return result

    def get_job_status(self, job_id: str) -> JobStatus:
        return JobStatus.parse(self.call("get_job_status", self.sdk.get_job_status, job_id))

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        result: str | None = self.call("get_job_logs", self.sdk.get_job_logs, job_id, tail=tail)
        return result

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.call("get_failure_analysis", self.sdk.get_failure_analysis, job_id)
        return result

    def cancel_job(self, job_id: str) -> bool:
        return bool(self.call("cancel_job", self.sdk.cancel_job, job_id))

    def _optional_call(self, name: str, default: Callable[..., T], *args: Any) -> T:
        method = self._optional.get(name)
        if method is None:
            return default(*args)
        result: T = self.call(name, method, *args)
        return result

    def find_job(self, job_name: str) -> str | None:
        return self._optional_call("find_job", super().find_job, job_name)

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        return self._optional_call("read_job_file", super().read_job_file, job_id, relative_path)

    def release_job(self, job_id: str) -> str | None:
        return self._optional_call("release_job", super().release_job, job_id)

    def wait_for_change(self, job_ids: Sequence[str], timeout: float) -> None:
        self._optional_call("wait_for_change", super().wait_for_change, job_ids, timeout)

    def get_job_info(self, job_id: str) -> dict[str, Any]:
        return self._optional_call("get_job_info", super().get_job_info, job_id)

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        self._optional_call("validate_job", super().validate_job, gpu_count, options)

    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        method = self._optional.get("preflight")
        if method is None:
            return super().preflight(image, gpu_count)
        if not isinstance(self.sdk, PlatformBase):
            return list(self.call("preflight", method, image))
        if job_options is not None and takes_job_options(method):
            return list(self.call("preflight", method, image, gpu_count, job_options=job_options))
        return list(self.call("preflight", method, image, gpu_count))


def takes_job_options(preflight: Callable[..., Any]) -> bool:
    """Whether a ``preflight`` method takes ``job_options`` (the job's ``create_job`` keyword arguments); one written
    before it did takes only the image and the GPU count."""
    try:
        return "job_options" in inspect.signature(preflight).parameters
    except (TypeError, ValueError):
        return False


def as_platform(sdk: Any) -> PlatformBase:
    """``sdk`` with every optional capability: itself when it derives from :class:`PlatformBase`, else a
    :class:`PlatformWrapper` that uses the methods ``sdk`` has and the documented defaults for the rest."""
    return sdk if isinstance(sdk, PlatformBase) else PlatformWrapper(sdk)


def unwrap(sdk: Any) -> Any:
    """The SDK behind any :class:`PlatformWrapper` layers (``Retrying`` …)."""
    while isinstance(sdk, PlatformWrapper):
        sdk = sdk.sdk
    return sdk


def poll_until_finished(status_of: Callable[[str], JobStatus], job_ids: Sequence[str], timeout: float,
                        interval: float) -> None:
    """Poll every ``interval`` s until one of ``job_ids`` has finished or ``timeout`` s pass."""
    deadline = time.monotonic() + max(0.0, float(timeout))
    while not any(JobStatus.parse(status_of(j)).is_finished() for j in job_ids):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, interval))


#: The methods every platform SDK has (SPEC 2.4); the rest of :class:`SDK` is optional.
SDK_METHODS = ("create_job", "get_job_status", "get_job_logs", "get_failure_analysis", "cancel_job")


def check_sdk_shape(sdk: Any) -> None:
    """Refuse, naming ``sdk``, an object that lacks one of :data:`SDK_METHODS` (before any run folder exists), and a
    class given for its instance (its methods would be called unbound)."""
    if isinstance(sdk, type):
        raise UserInputError(
            f"sdk: {sdk.__name__} is a class; pass an instance of it: {sdk.__name__}(...)", field="sdk",
            value=sdk.__name__, allowed="a platform SDK object", hint=f"e.g. AutoMLRunner({sdk.__name__}(), ...)")
    missing = [m for m in SDK_METHODS if not callable(getattr(sdk, m, None))]
    if missing:
        raise UserInputError(
            f"sdk: {type(sdk).__name__} is not a platform SDK: it has no {', '.join(m + '()' for m in missing)}",
            field="sdk", value=type(sdk).__name__, allowed="an object with " + ", ".join(SDK_METHODS),
            hint="pass a platform SDK such as tao_automl.platforms.local.LocalSDK(), or add the missing methods")


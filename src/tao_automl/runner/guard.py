"""The runner's view of a platform SDK: every call retried on transient errors and bounded in time.

:class:`GuardedSDK` is the project's :class:`~tao_automl.platforms.retry.Retrying` with one addition: each
attempt runs in a helper thread and is abandoned after ``call_timeout_s`` (a ``TimeoutError``, which
is retried like any transient error), so one hung platform call cannot stall the sweep. A submission
that still fails is checked against the platform by its job name (:func:`lookup_job`) before the rec
is declared failed: the platform may have started the job before the call failed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tao_automl.platforms.base import Job
from tao_automl.platforms.retry import Retrying
from tao_automl.util.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds one SDK call may take before it is abandoned and retried.
DEFAULT_CALL_TIMEOUT_S = 300.0


class GuardedSDK(Retrying):
    """``sdk`` retried on transient errors, each attempt abandoned after ``call_timeout_s`` seconds."""

    def __init__(self, sdk: Any, *, call_timeout_s: float | None = DEFAULT_CALL_TIMEOUT_S, attempts: int = 5,
                 base_delay: float = 0.5, max_delay: float = 30.0, clock: Clock | None = None) -> None:
        super().__init__(sdk, attempts=attempts, base_delay=base_delay, max_delay=max_delay, clock=clock)
        self.call_timeout_s = call_timeout_s

    def call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        limit = self.call_timeout_s
        if limit is not None and name == "wait_for_change" and len(args) > 1:
            limit += float(args[1])  # a blocking wait may take its own timeout on top
        return super().call(name, _bounded(name, fn, limit), *args, **kwargs)


def _bounded(name: str, fn: Callable[..., T], limit: float | None) -> Callable[..., T]:
    """``fn`` run in a daemon thread; a ``TimeoutError`` when it has not returned after ``limit`` seconds."""
    if limit is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> T:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc

        worker = threading.Thread(target=target, name=f"sdk-{name}", daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            raise TimeoutError(f"platform call {name} did not return within {limit:g} s")
        if "error" in box:
            raise box["error"]
        result: T = box["value"]
        return result

    return run


def lookup_job(sdk: Any, job_name: str, results_dir: str) -> Job | None:
    """The job the platform holds under ``job_name`` (``find_job``), or None, also when the lookup fails.

    ``results_dir``: where the job was asked to write, used when the lookup answers with a bare job id.
    """
    finder = getattr(sdk, "find_job", None)
    if not callable(finder):
        return None
    try:
        found = finder(job_name)
    except Exception as exc:
        log.warning("looking up job %s failed: %s: %s", job_name, type(exc).__name__, exc)
        return None
    if found is None:
        return None
    if isinstance(found, Job):
        return found
    return Job(id=str(found), results_dir=results_dir, name=job_name)


def has_lookup(sdk: Any) -> bool:
    """Whether ``sdk`` (or the SDK it wraps) really looks jobs up by name (not just the default None)."""
    offers = getattr(sdk, "offers", None)
    if callable(offers):
        return bool(offers("find_job"))
    return callable(getattr(sdk, "find_job", None))

"""The runner's view of a platform SDK: every call retried on transient errors and bounded in time.

:class:`GuardedSDK` is the project's :class:`~tao_automl.platforms.retry.Retrying` with one addition: each
attempt runs in a helper thread and is abandoned after ``call_timeout_s`` (a ``TimeoutError``, which
is retried like any transient error), so one hung platform call cannot stall the sweep. The helper thread is
kept from call to call (starting a thread per call cost about as much as a local job's status read); one that
hangs is left behind and a new one serves the next call. A method whose class lists it in ``PROMPT_CALLS`` (LocalSDK's
per-rec calls: they touch this machine's processes and the run folder, as the run's store does on the caller's
thread) is called on the caller's thread, retried the same way: handing each call to the helper thread and back cost
more than the call itself (0.1-0.3 ms per hop, five hops per rec). A submission
that still fails is checked against the platform by its job name (:func:`lookup_job`) before the rec
is declared failed: the platform may have started the job before the call failed.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
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
        self._caller: _CallThread | None = None
        self._caller_lock = threading.Lock()

    def call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        limit = self.call_timeout_s
        if limit is None or declared_prompt(fn):
            return super().call(name, fn, *args, **kwargs)
        if name == "wait_for_change" and len(args) > 1:
            limit += float(args[1])  # a blocking wait may take its own timeout on top
        bound = limit

        def bounded(*call_args: Any, **call_kwargs: Any) -> T:
            return self._run_bounded(name, fn, bound, call_args, call_kwargs)

        return super().call(name, bounded, *args, **kwargs)

    def _run_bounded(self, name: str, fn: Callable[..., T], limit: float, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> T:
        """``fn(*args, **kwargs)`` on the helper thread; a ``TimeoutError`` after ``limit`` seconds."""
        if not self._caller_lock.acquire(blocking=False):  # another thread's call is under way: a thread of its own
            return _CallThread(name, once=True).run(fn, args, kwargs, limit, name)
        try:
            if self._caller is None:
                self._caller = _CallThread("sdk-calls")
                weakref.finalize(self, self._caller.stop)  # the thread ends with this object (no idle leftovers)
            caller = self._caller
            try:
                return caller.run(fn, args, kwargs, limit, name)
            finally:
                if caller.abandoned:  # it is still inside the call: the next call gets a new thread
                    self._caller = None
        finally:
            self._caller_lock.release()


def declared_prompt(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is a method that the class defining it lists in its ``PROMPT_CALLS`` (a subclass that overrides
    the method without listing it again vouches for nothing; a wrapper's own methods are not its SDK's)."""
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", None)
    if owner is None or not isinstance(name, str):
        return False
    for klass in type(owner).__mro__:
        if name in vars(klass):
            return name in vars(klass).get("PROMPT_CALLS", ())
    return False


class _CallThread:
    """A daemon thread that runs the calls handed to it one at a time (``once``: a single call, then it ends)."""

    def __init__(self, name: str, *, once: bool = False) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], dict[str, Any],
                                             threading.Event] | None] = queue.SimpleQueue()
        self._once = once
        #: Set when a call was given up on (timed out, or the caller was interrupted) while still running.
        self.abandoned = False
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def stop(self) -> None:
        """End the thread once the call it runs (if any) returns."""
        self._calls.put(None)

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            fn, args, kwargs, box, done = item
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller by run()
                box["error"] = exc
            done.set()
            del item, fn, args, kwargs, box, done  # hold nothing of a finished call while idle
            if self._once:
                return

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], limit: float,
            name: str = "") -> T:
        """The call's result or its exception; ``TimeoutError`` when it is not done after ``limit`` seconds. A
        call given up on (timed out, or its caller interrupted by Ctrl-C or ``stop``) marks the thread
        :attr:`abandoned`; it ends once that call returns."""
        box: dict[str, Any] = {}
        done = threading.Event()
        self._calls.put((fn, args, kwargs, box, done))
        try:
            finished = done.wait(limit)
        except BaseException:
            finished = done.is_set()
            if not finished:
                self.abandoned = True
                self._calls.put(None)
            raise
        if not finished:
            self.abandoned = True
            self._calls.put(None)
            raise TimeoutError(f"platform call {name} did not return within {limit:g} s")
        if "error" in box:
            raise box["error"]
        result: T = box["value"]
        return result


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

"""One thread that follows every local job's wrapper process: it records the start, reaps the exit and reports it.

A thread per job costs its start on the submit path, and starting a thread right after spawning a process is
slow: the new thread waits for a CPU while the child loads (0.2 ms on an idle 2-core machine, 2-4 ms on a busy
one). So on Linux one long-lived thread watches every child through a pidfd (``os.pidfd_open``): handing it a
job is a queue append and a byte on a wake-up pipe. The thread ends after ``IDLE_EXIT_S`` without jobs and the
next job starts a new one. Where pidfds are missing (macOS, Linux < 5.3) each job gets its own thread, as before.

For every job, ``on_start`` runs first (in the watching thread), then, once the process has exited and been
reaped, ``on_exit``. An exception in either is logged; it never stops the watching of other jobs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import subprocess
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: Seconds the shared thread waits without any job before it ends.
IDLE_EXIT_S = 60.0

Callback = Callable[[], None]
_Job = tuple["subprocess.Popen[bytes]", Callback, Callback]


def pidfds_supported() -> bool:
    """Whether this system can watch a child through a pidfd (Linux >= 5.3 with Python >= 3.9)."""
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except OSError:  # ENOSYS on older kernels, EPERM under some seccomp profiles
        return False
    os.close(fd)
    return True


def _call(callback: Callback, what: str) -> None:
    try:
        callback()
    except Exception:  # one job's bookkeeping error must not stop the watching of the others
        logger.exception("local job watcher: %s failed", what)


def _follow_alone(job: _Job) -> None:
    """Follow one job in its own thread (no pidfds)."""
    popen, on_start, on_exit = job
    _call(on_start, "recording a start")
    popen.wait()
    _call(on_exit, "recording an exit")


class Reaper:
    """Watches child processes; see the module docstring."""

    def __init__(self, use_pidfds: bool | None = None) -> None:
        self._use_pidfds = use_pidfds  # None: found out at the first job (nothing runs at import)
        self.forget()

    def forget(self) -> None:
        """Start afresh: no thread, no jobs (a forked child's state; its parent's thread does not exist there)."""
        self._lock = threading.Lock()
        self._incoming: list[_Job] = []
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1

    def watch(self, popen: subprocess.Popen[bytes], on_start: Callback, on_exit: Callback) -> None:
        """Run ``on_start``, then ``on_exit`` once ``popen`` has exited and been reaped (both in a watcher
        thread)."""
        job = (popen, on_start, on_exit)
        if self._use_pidfds is None:
            self._use_pidfds = pidfds_supported()
        if not self._use_pidfds:
            threading.Thread(target=_follow_alone, args=(job,), name=f"local-job-{popen.pid}", daemon=True).start()
            return
        with self._lock:
            self._incoming.append(job)
            if self._thread is None:
                if self._wake_r < 0:
                    self._wake_r, self._wake_w = os.pipe()
                    os.set_blocking(self._wake_r, False)
                    os.set_blocking(self._wake_w, False)
                self._thread = threading.Thread(target=self._run, name="local-jobs-reaper", daemon=True)
                self._thread.start()
                return  # the new thread takes the incoming jobs before it first waits
        with contextlib.suppress(BlockingIOError):  # a full pipe holds wake-ups already: the thread will look
            os.write(self._wake_w, b"\0")

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ, None)
        watched: dict[int, tuple[subprocess.Popen[bytes], Callback]] = {}
        try:
            while True:
                self._take_incoming(selector, watched)
                events = selector.select(None if watched else IDLE_EXIT_S)
                if not events and not watched:
                    with self._lock:
                        if not self._incoming:
                            self._thread = None
                            return
                for key, _ in events:
                    if key.fd == self._wake_r:
                        self._drain_wake_pipe()
                        continue
                    popen, on_exit = watched.pop(key.fd)
                    selector.unregister(key.fd)
                    os.close(key.fd)
                    popen.wait()
                    _call(on_exit, "recording an exit")
        finally:
            selector.close()

    def _take_incoming(self, selector: selectors.BaseSelector,
                       watched: dict[int, tuple[subprocess.Popen[bytes], Callback]]) -> None:
        with self._lock:
            jobs, self._incoming = self._incoming, []
        for popen, on_start, on_exit in jobs:
            _call(on_start, "recording a start")
            try:
                fd = os.pidfd_open(popen.pid)
            except OSError:  # it cannot be watched this way (e.g. a descriptor limit): give it its own thread
                logger.warning("local job watcher: no pidfd for pid %d; following it in a thread of its own",
                               popen.pid)
                threading.Thread(target=_follow_alone, args=((popen, lambda: None, on_exit),), daemon=True).start()
                continue
            watched[fd] = (popen, on_exit)
            selector.register(fd, selectors.EVENT_READ, None)

    def _drain_wake_pipe(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 512):
                pass


#: The reaper every LocalSDK of this process shares.
REAPER = Reaper()


os.register_at_fork(after_in_child=REAPER.forget)

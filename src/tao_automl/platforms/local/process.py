"""Process identity and process-group signalling for the local platform."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil

# create_time() is derived from boot time and clock ticks; allow for float rounding between processes.
_CREATE_TIME_TOLERANCE_S = 0.05


def process_start_time(pid: int) -> float | None:
    """``psutil`` create time of ``pid``, or None when no such process exists."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def is_same_process_alive(pid: int, create_time: float) -> bool:
    """True when ``pid`` runs, is not a zombie, and started at ``create_time`` (guards against pid reuse)."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > _CREATE_TIME_TOLERANCE_S:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def pid_belongs_to_other_process(pid: int, create_time: float) -> bool:
    """True when ``pid`` exists but was started at another time (a recycled pid)."""
    started = process_start_time(pid)
    return started is not None and abs(started - create_time) > _CREATE_TIME_TOLERANCE_S


def group_exists(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_group_gone(pgid: int, timeout: float, poll_s: float = 0.03) -> bool:
    """Poll until no live member of the group is left or ``timeout`` passes; True when it is gone.

    Zombies count as gone: an orphaned grandchild stays a zombie until init reaps it, which some
    container init processes do late or never.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not group_exists(pgid) or not live_members(pgid):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(poll_s, remaining))


def live_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes of the group ``pgid`` (scans the process table)."""
    live: list[int] = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                live.append(process.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return live


def has_marker(pid: int, key: str, value: str) -> bool:
    """True when process ``pid`` has ``key=value`` in its environment (False when unreadable or gone)."""
    try:
        return psutil.Process(pid).environ().get(key) == value
    except (psutil.Error, OSError):
        return False


def find_by_marker(key: str, value: str) -> int | None:
    """The pid of a live process with ``key=value`` in its environment, the group leader first (scans the
    process table; used only to find a job whose submitter died before saving its pid)."""
    found: list[tuple[bool, int]] = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE or process.environ().get(key) != value:
                continue
            found.append((os.getpgid(process.pid) != process.pid, process.pid))
        except (psutil.Error, OSError):
            continue
    return min(found)[1] if found else None


def marked_processes(key: str, value: str) -> list[psutil.Process]:
    """The live processes with ``key=value`` in their environment, wherever they are (a job's process that left its
    process group: ``setsid``, a daemon). Linux reads ``/proc/<pid>/environ`` directly (about 1 ms per 100
    processes; psutil takes ten times that); elsewhere psutil scans. The ``psutil.Process`` objects refuse to signal
    a pid that was recycled since."""
    entry = f"{key}={value}".encode()
    found: list[psutil.Process] = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # no procfs (macOS)
        pids = []
        for process in psutil.process_iter():
            try:
                if process.environ().get(key) == value:
                    pids.append(process.pid)
            except (psutil.Error, OSError):
                continue
    else:
        pids = [pid for pid in pids if _environ_has(pid, entry)]
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _environ_has(pid: int, entry: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return entry in handle.read().split(b"\0")
    except OSError:  # gone, or another user's
        return False


def end_processes(processes: list[psutil.Process], grace_s: float, kill_wait_s: float) -> list[psutil.Process]:
    """SIGTERM ``processes``, SIGKILL those still alive after ``grace_s``; the ones still alive at the end (a zombie
    counts as ended, as in :func:`wait_group_gone`)."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    alive = wait_processes_gone(processes, grace_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return wait_processes_gone(alive, kill_wait_s)


def wait_processes_gone(processes: list[psutil.Process], timeout: float, poll_s: float = 0.03) -> list[psutil.Process]:
    """Poll until none of ``processes`` is alive (zombies count as gone) or ``timeout`` passes; those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if _alive(p)]
        remaining = deadline - time.monotonic()
        if not alive or remaining <= 0:
            return alive
        time.sleep(min(poll_s, remaining))


def _alive(process: psutil.Process) -> bool:
    """Whether ``process`` (the very one, not a recycled pid) still runs code."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def group_of(pid: int) -> int | None:
    """The process group of ``pid``, or None when it is gone."""
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None

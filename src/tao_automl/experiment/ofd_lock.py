"""Open-file-description (OFD) byte-range locks that say who holds a run folder's lock, testable without taking it.

The run lock is an ``flock`` (``workspace.RunLock``); nothing can ask who holds an ``flock`` except ``/proc/locks``,
whose first read in a process costs 5-25 ms on some kernels (a third of `tao-automl status`'s start-up). So the
holder also takes two OFD write locks on the same open file (Linux >= 3.15): byte 0 (taken first: "held") and the
byte at ``PID_BASE + pid`` (its pid, which ``F_OFD_GETLK`` hands back to any reader in microseconds). OFD locks
belong to the open file, as the ``flock`` does: both end together when the holder closes it or dies. A holder
counts from its "held" byte, taken right after the ``flock``; an orchestrator of a version before these locks
holds the ``flock`` alone, which readers do not see (its run reads as not orchestrated; a second orchestrator is
still refused by the ``flock``).

Where OFD locks are missing (not Linux, or a 32-bit build) :data:`SUPPORTED` is False and readers fall back to the
lock file's pid and ``/proc/locks``.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys

#: ``struct flock`` on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (and padding to 32 bytes).
_FLOCK = "@hhqqi4x"
#: Where the pid byte lies: past any size the lock file (a pid in text) can reach.
PID_BASE = 1 << 40
SUPPORTED = sys.platform.startswith("linux") and hasattr(fcntl, "F_OFD_GETLK") and struct.calcsize("P") == 8


def _request(fd: int, command: int, kind: int, start: int, length: int) -> tuple[int, int]:
    """One ``fcntl`` lock request; returns the (type, start) the kernel answers."""
    answer = fcntl.fcntl(fd, command, struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0))
    kind_out, _, start_out, _, _ = struct.unpack(_FLOCK, answer)
    return kind_out, start_out


def take(fd: int) -> None:
    """Take the "held" byte, then the pid byte, on ``fd`` (open for writing). Raises ``BlockingIOError`` when
    another open file holds them (the caller holds the ``flock`` first, so that is a holder releasing right now)."""
    try:
        _request(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, 0, 1)
        _request(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, PID_BASE + os.getpid(), 1)
    except PermissionError as exc:  # EACCES: some systems answer a conflict so
        raise BlockingIOError(str(exc)) from None


def drop(fd: int) -> None:
    """Release every OFD lock on ``fd`` (before its ``flock``, as the kernel does when the file closes)."""
    _request(fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, 0, 0)


def holder(fd: int) -> int | None:
    """Who holds the run lock, asked through ``fd`` (any open of the lock file; nothing is taken): its pid; 0 when
    the "held" byte is taken but the pid byte not yet (the holder is between the two); None when nobody holds it."""
    kind, start = _request(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK, PID_BASE, 0)
    if kind != fcntl.F_UNLCK:
        return start - PID_BASE
    kind, _ = _request(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK, 0, 1)
    return None if kind == fcntl.F_UNLCK else 0

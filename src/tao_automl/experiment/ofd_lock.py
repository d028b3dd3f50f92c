"""Open-file-description (OFD) byte-range locks that say who holds a run folder's lock, testable without taking it.

The run lock is an ``flock`` (``workspace.RunLock``); nothing can ask who holds an ``flock`` except ``/proc/locks``,
whose first read in a process costs 5-25 ms on some kernels (a third of `tao-automl status`'s start-up). So the
holder also takes three OFD write locks on the same open file (Linux >= 3.15): byte 0 (taken first: "held"), the
byte at ``WHERE_BASE +`` a checksum of its machine's boot id and its pid namespace, and the byte at ``PID_BASE +
pid``; ``F_OFD_GETLK`` hands their offsets back to any reader in microseconds. A pid is a number on one machine in
one namespace: a reader elsewhere (the orchestrator in a container and the reader on the host, or on another node
sharing the run folder over NFS) learns that from the checksum and asks ``/proc/locks``, which numbers pids as the
reader sees them, or not at all (a wrong pid would send `tao-automl stop`'s signal to an unrelated process). OFD locks
belong to the open file, as the ``flock`` does: both end together when the holder closes it or dies. A holder
counts from its "held" byte, taken right after the ``flock``; an orchestrator of a version before these locks
holds the ``flock`` alone, with its pid in the lock file: readers ask ``/proc/locks`` when that pid runs (no zombie)
and the OFD locks say nobody (``holder.lock_holder``); a second orchestrator is refused by the ``flock`` anyway.

Where OFD locks are missing (not Linux, or a 32-bit build) :data:`SUPPORTED` is False and readers fall back to the
lock file's pid and ``/proc/locks``.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import zlib

#: ``struct flock`` on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (and padding to 32 bytes).
_FLOCK = "@hhqqi4x"
#: Where the pid byte and the machine/namespace byte lie: past any size the lock file (a pid in text) can reach.
PID_BASE = 1 << 40
WHERE_BASE = 1 << 41
_SPAN = 1 << 40  # each range's length: wider than any pid or checksum
SUPPORTED = sys.platform.startswith("linux") and hasattr(fcntl, "F_OFD_GETLK") and struct.calcsize("P") == 8


def _request(fd: int, command: int, kind: int, start: int, length: int) -> tuple[int, int]:
    """One ``fcntl`` lock request; returns the (type, start) the kernel answers."""
    answer = fcntl.fcntl(fd, command, struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0))
    kind_out, _, start_out, _, _ = struct.unpack(_FLOCK, answer)
    return kind_out, start_out


def take(fd: int) -> bool:
    """Take the "held" byte, then the namespace and pid bytes, on ``fd`` (open for writing). Raises
    ``BlockingIOError`` when another open file holds them (the caller holds the ``flock`` first, so that is a holder
    releasing right now); False, holding none, when the file system refuses OFD locks (readers then ask
    ``/proc/locks``)."""
    try:
        _request(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, 0, 1)
        _request(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, WHERE_BASE + where_pids_count(), 1)
        _request(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, PID_BASE + os.getpid(), 1)
    except (BlockingIOError, PermissionError) as exc:  # EAGAIN, or EACCES: some systems answer a conflict so
        raise BlockingIOError(str(exc)) from None
    except OSError:  # ENOLCK, EINVAL: no OFD locks here
        drop(fd, quietly=True)
        return False
    return True


def drop(fd: int, quietly: bool = False) -> None:
    """Release every OFD lock on ``fd`` (before its ``flock``, as the kernel does when the file closes);
    ``quietly``: where the file system refuses OFD locks (none were taken), say nothing."""
    try:
        _request(fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, 0, 0)
    except OSError:
        if not quietly:
            raise


def holder(fd: int) -> int | None:
    """Who holds the run lock, asked through ``fd`` (any open of the lock file; nothing is taken): its pid; 0 when
    the "held" byte is taken but its pid cannot be read here (the holder is between its bytes, or runs in another
    pid namespace); None when nobody holds it."""
    kind, start = _request(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK, PID_BASE, _SPAN)
    if kind != fcntl.F_UNLCK:
        where_kind, where = _request(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK, WHERE_BASE, _SPAN)
        return start - PID_BASE if where_kind != fcntl.F_UNLCK and where - WHERE_BASE == where_pids_count() else 0
    kind, _ = _request(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK, 0, 1)
    return None if kind == fcntl.F_UNLCK else 0


def where_pids_count() -> int:
    """A checksum of where this process's pids mean something: the machine's boot id and the inode of its pid
    namespace (the parts that cannot be read count as empty)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
            boot = handle.read().strip()
    except OSError:
        boot = b""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return zlib.crc32(boot + b":" + str(namespace).encode())

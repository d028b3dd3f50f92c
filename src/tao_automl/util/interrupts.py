"""Holding Ctrl-C, ``tao-automl stop`` (SIGTERM) and a closed terminal (SIGHUP) back while a write that must not be
cut in half runs; a stop request that a library swallowed, raised again at the sweep's next safe point."""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn, ParamSpec, TypeVar

_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_P = ParamSpec("_P")
_R = TypeVar("_R")
#: Whether a stop request was made whose ``KeyboardInterrupt`` has not ended the sweep yet (see :func:`stop_requested`).
_STOP_PENDING = {"on": False}


def stop_requested() -> NoReturn:
    """End a stop signal's handler: record the request, then raise ``KeyboardInterrupt``. The handler runs wherever the
    main thread is, and C code that calls back into Python may drop the exception (numpy.random's Cython import code
    calls ``Sequence.register`` inside ``except: pass``); :func:`raise_pending_stop` then raises it again."""
    _STOP_PENDING["on"] = True
    raise KeyboardInterrupt("stop requested")


def _main_thread() -> bool:
    """Whether this is the main thread: the only one a signal's handler, and so a stop request, interrupts."""
    return threading.current_thread() is threading.main_thread()


def raise_pending_stop() -> None:
    """Raise the ``KeyboardInterrupt`` of a stop request that has not ended the sweep (a safe point of its loop); only
    in the main thread, whose interrupt it was (a sweep in another thread neither takes nor clears it)."""
    if _STOP_PENDING["on"] and _main_thread():
        _STOP_PENDING["on"] = False
        raise KeyboardInterrupt("stop requested (its first interrupt was dropped inside a library)")


def stop_delivered() -> None:
    """A ``KeyboardInterrupt`` reached the code that ends the sweep: no stop request is pending any more (said in the
    main thread; a sweep ending in another thread leaves the main thread's request pending)."""
    if _main_thread():
        _STOP_PENDING["on"] = False


def ends_stop_requests(sweep: Callable[_P, _R]) -> Callable[_P, _R]:
    """``sweep`` with a stop request still pending when it returns or raises cleared: a stop ends the sweep it was made
    for (its interrupt may have ended it before its loop began, or been dropped after the loop's last turn), never the
    next one a long-lived process runs."""
    @functools.wraps(sweep)
    def ended(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return sweep(*args, **kwargs)
        finally:
            stop_delivered()

    return ended


def _ctrl_c(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C while a sweep runs: Python's own ``KeyboardInterrupt``, recorded as a stop request as well."""
    stop_requested()


def records_ctrl_c(sweep: Callable[_P, _R]) -> Callable[_P, _R]:
    """``sweep`` with Ctrl-C recorded as a stop request while it runs, as the CLI records it (the sweep's loop raises
    one a library dropped again): only in the main thread and only where Python's default SIGINT handler is in place
    (a handler the host program set, or SIGINT ignored, is left alone); the default handler is back when it ends."""
    @functools.wraps(sweep)
    def recorded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not _main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return sweep(*args, **kwargs)
        signal.signal(signal.SIGINT, _ctrl_c)
        try:
            return sweep(*args, **kwargs)
        finally:
            if signal.getsignal(signal.SIGINT) is _ctrl_c:  # one the sweep's callbacks set is theirs to keep
                signal.signal(signal.SIGINT, signal.default_int_handler)

    return recorded


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Run the block with SIGINT/SIGTERM/SIGHUP held: a first one is delivered (to the handler that was in place) when
    the block ends; a second one arrives at once, so a block that hangs can still be interrupted. A signal the process
    ignores (SIGINT of a program started in the background by a shell) stays ignored. Outside the main thread
    (where handlers cannot be set) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before: dict[int, Any] = {sig: handler for sig in _HELD if (handler := signal.getsignal(sig)) is not signal.SIG_IGN}
    seen: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        if len(seen) > 1:  # asked twice: deliver now
            _restore(before)
            signal.raise_signal(signum)

    for sig in before:
        signal.signal(sig, hold)
    try:
        yield
    finally:
        _restore(before)
        if seen and len(seen) == 1:
            signal.raise_signal(seen[0])


def _restore(handlers: dict[int, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

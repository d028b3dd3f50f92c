"""Whether a container that ended was stopped from outside: the engine's event log of ``kill`` requests.

``docker stop``, ``docker kill`` and ``docker rm -f`` reach the engine, which logs a ``kill`` event with the signal
it sent; a process that dies by itself, or the kernel's OOM killer, logs none. The engine keeps only its last
events (256 on dockerd 20.10) and forgets them when it restarts: a container ended long ago, on a busy engine,
may no longer be told apart from one that failed, and then reads as a failure (as before this check).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

from tao_automl.platforms.common import rfc3339_time

#: Seconds an event query may take before it is given up (the engine answers a past window at once).
_QUERY_S = 10.0


def _signal_name(number: object) -> str:
    try:
        return signal.Signals(int(str(number))).name
    except ValueError:
        return f"signal {number}"


def _event_time(event: Mapping[str, Any]) -> float | None:
    """An event's epoch time (``timeNano``, else ``time``), or None."""
    nano, seconds = event.get("timeNano"), event.get("time")
    if isinstance(nano, int) and nano > 0:
        return nano / 1e9
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None


def outside_signals(client: Any, errors: Any, container_id: str, state: Mapping[str, Any]) -> list[str]:
    """The signals the engine was asked to send the container between its start and its end (``SIGTERM`` for
    ``docker stop``, then ``SIGKILL`` after its grace; ``SIGKILL`` for ``docker kill``), in order; empty when
    none, or when the engine no longer keeps the events of that window."""
    started, finished = rfc3339_time(state.get("StartedAt")), rfc3339_time(state.get("FinishedAt"))
    if started is None or finished is None:
        return []
    return [_signal_name(attrs.get("signal"))
            for action, attrs, _ in _events(client, errors, container_id, ["kill"], started, int(finished) + 1)]


def removal(client: Any, errors: Any, container_id: str, since: float) -> tuple[list[str], int | None, float | None]:
    """For a container that is gone (``docker rm -f``, prune): the signals the engine was asked to send it since
    ``since`` (empty when none or no longer known), and the exit code and epoch time its ``die`` event gave (None
    when unknown)."""
    signals: list[str] = []
    code: int | None = None
    died: float | None = None
    for action, attrs, at in _events(client, errors, container_id, ["kill", "die"], since, time.time()):
        if action == "kill":
            signals.append(_signal_name(attrs.get("signal")))
        else:
            died = at
            if str(attrs.get("exitCode", "")).lstrip("-").isdigit():
                code = int(str(attrs["exitCode"]))
    return signals, code, died


def _events(client: Any, errors: Any, container_id: str, actions: list[str], since: float,
            until: float) -> list[tuple[str, dict[str, Any], float | None]]:
    """``(action, attributes, epoch time)`` of the engine's ``actions`` events of the container in a past window, in
    order."""
    try:  # a past window (the engine's own clock): it answers what it keeps and closes the stream
        stream = client.api.events(since=int(since), until=until, decode=True,
                                   filters={"type": "container", "container": container_id, "event": actions})
    except errors.DockerException:
        return []
    guard = threading.Timer(_QUERY_S, stream.close)
    guard.start()
    try:
        return [(str(event.get("Action") or event.get("status") or ""),
                 dict((event.get("Actor") or {}).get("Attributes") or {}), _event_time(event)) for event in stream]
    except Exception:  # closed by the guard, or the connection dropped: not known
        return []
    finally:
        guard.cancel()

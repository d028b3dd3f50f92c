"""Background image pulls: a job whose image the engine lacks does not wait for it inside ``create_job``.

One :class:`ImagePull` per image (and SDK) streams ``docker pull`` (``client.api.pull(..., stream=True)``) on a
daemon thread and keeps its progress: bytes and layers done, the last progress lines, and when it last moved. The
SDK creates a job's container only once a later status call sees the pull ended well; a pull that ends badly, or
makes no progress for :data:`STALL_S` seconds, fails the jobs waiting for it. A pull's total duration is not capped:
a slow pull that keeps moving keeps going (a 10-20 GB TAO image over a slow link takes as long as it takes). A
stalled pull's connection to the engine is dropped, so the engine cancels it: the engine shares a layer's download
between pulls, and a later pull must start the transfer anew, not join the stalled one.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tao_automl.errors import PlatformError
from tao_automl.platforms.docker.image import IMAGE_ALLOWED, pull_error, registry_of

#: Seconds a pull may go without any progress (no byte, no layer step) before it counts as stalled.
STALL_S = 600.0
#: Seconds ``create_job`` waits on a pull before it returns a PENDING job (a registry that refuses answers by then).
ANSWER_S = 3.0
#: Progress lines kept per pull (what ``get_job_logs`` shows for a job waiting on it).
_LINES = 200
#: A layer's steps that mean it is on the engine.
_LAYER_DONE = ("Pull complete", "Already exists")
_BYTES_DONE = ("Download complete", "Verifying Checksum", "Extracting", "Pull complete")


@dataclass
class _Layer:
    current: int = 0
    total: int = 0
    done: bool = False


def _mb(count: int) -> str:
    return f"{count / 1e6:.1f}"


class ImagePull:
    """``docker pull image`` on a daemon thread, with its progress (see the module docstring)."""

    def __init__(self, client: Any, image: str) -> None:
        self.image = image
        self._client = client
        self._layers: dict[str, _Layer] = {}
        self._lock = threading.Lock()
        #: The last progress lines, oldest first.
        self.lines: deque[str] = deque(maxlen=_LINES)
        #: ``time.monotonic()`` of the pull's start.
        self.started = time.monotonic()
        #: ``time.monotonic()`` of the last progress (of the start, before any).
        self.last_progress = self.started
        #: Set once the pull ended (well or not).
        self.done = threading.Event()
        self._said: BaseException | str | None = None
        self._stalled: str | None = None
        self._last_step = ""
        self._stream: Any = None
        threading.Thread(target=self._run, name=f"docker-pull {image}", daemon=True).start()

    def _run(self) -> None:
        try:
            self._stream = self._client.api.pull(self.image, stream=True, decode=True)
            for event in self._stream:
                self._note(event)
        except Exception as exc:  # the engine refused, or the connection dropped: the jobs waiting on it fail
            self._said = exc
        finally:
            self.done.set()

    def _note(self, event: Mapping[str, Any]) -> None:
        """Take one progress event of the engine's pull stream."""
        if event.get("error"):
            self._said = str(event["error"])
            with self._lock:
                self.lines.append(f"error: {self._said}")
            return
        status, layer_id = str(event.get("status") or ""), str(event.get("id") or "")
        detail = event.get("progressDetail") or {}
        with self._lock:
            self.last_progress = time.monotonic()
            if layer_id and not status.startswith("Pulling from"):
                layer = self._layers.setdefault(layer_id, _Layer())
                if status == "Downloading":
                    layer.current, layer.total = int(detail.get("current") or 0), int(detail.get("total") or 0)
                elif status in _BYTES_DONE:
                    layer.current = max(layer.current, layer.total)
                layer.done = layer.done or status in _LAYER_DONE
            step = f"{layer_id}: {status}" if layer_id else status
            progress = str(event.get("progress") or "")
            line = f"{step} {progress}" if progress else step
            if self.lines and step == self._last_step and progress:
                self.lines[-1] = line  # one line per layer step: its newest progress bar replaces the last one
            else:
                self.lines.append(line)
            self._last_step = step

    def progress(self) -> str:
        """``pulling image X: a of b MB, n of m layers`` (bytes of the layers whose size the engine told so far)."""
        return self._said_as(lambda current, total: f"{_mb(current)} of {_mb(total)} MB")

    def reason(self) -> str:
        """Why a job waits, in coarse steps (whole tenths of the bytes the engine announced, layers done), so that
        it changes a few dozen times over a pull, not at every poll: ``pulling image X: 40 % of 9812 MB, 3 of 7
        layers``."""
        return self._said_as(lambda current, total: f"{10 * (10 * current // total) if total else 0} % of "
                                                    f"{total / 1e6:.0f} MB")

    def _said_as(self, size: Callable[[int, int], str]) -> str:
        """``pulling image X: SIZE, n of m layers``, ``size`` saying the bytes done and announced."""
        with self._lock:
            layers = list(self._layers.values())
        if not layers:
            return f"pulling image {self.image}: waiting for its registry {registry_of(self.image)}"
        current, total = sum(layer.current for layer in layers), sum(layer.total for layer in layers)
        done = sum(layer.done for layer in layers)
        return f"pulling image {self.image}: {size(current, total)}, {done} of {len(layers)} layers"

    def check_stall(self, limit_s: float) -> None:
        """Give the pull up as stalled when it is still running and made no progress for ``limit_s`` seconds."""
        idle = time.monotonic() - self.last_progress
        if self._stalled is None and not self.done.is_set() and idle > limit_s:
            self._stalled = f"no progress for {idle:.0f} s ({self.progress().split(': ', 1)[1]} done)"
            self._drop_connection()

    def _drop_connection(self) -> None:
        """Shut the pull's connection to the engine down (the engine then cancels the pull). Best effort: docker-py
        keeps the HTTP response inside its stream generator (``_stream_helper``'s ``response``), where it is read;
        the socket is where docker-py's own ``_get_raw_response_socket`` finds it. Without them, nothing is done."""
        frame = getattr(self._stream, "gi_frame", None)
        response = frame.f_locals.get("response") if frame is not None else None
        raw = getattr(getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None), "raw", None)
        sock: Any = getattr(raw, "_sock", raw)
        with contextlib.suppress(OSError, AttributeError):
            sock.shutdown(socket.SHUT_RDWR)

    @property
    def running(self) -> bool:
        """Still pulling (neither ended nor given up as stalled): a new job for the image waits on it."""
        return not self.done.is_set() and self._stalled is None

    def failure(self) -> PlatformError | None:
        """The error of a pull that failed or stalled (naming the image and what happened), else None."""
        if self._stalled is not None:
            return PlatformError(
                f"docker: pulling image {self.image!r} stalled: {self._stalled}; its registry "
                f"{registry_of(self.image)} stopped sending it", field="image", value=self.image,
                allowed=IMAGE_ALLOWED,
                hint=f"check the engine's link to {registry_of(self.image)} (or the registry), then retry; or put the "
                     "image on the engine first (docker pull / docker load)")
        if self.done.is_set() and self._said is not None:
            return pull_error(self.image, self._said)
        return None

    def log(self) -> str:
        """The pull's progress lines, one per line."""
        with self._lock:
            return "".join(f"{line}\n" for line in self.lines)

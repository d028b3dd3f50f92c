"""Retrying any platform SDK on transient errors, with exponential backoff and jitter."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.base import Job, PlatformWrapper
from tao_automl.util.clock import Clock, SystemClock

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TransientPlatformError(PlatformError):
    """A platform call failed for a reason that may go away on retry (timeout, controller or ssh hiccup)."""


#: Exceptions :class:`Retrying` retries; anything else passes straight through.
RETRYABLE: tuple[type[BaseException], ...] = (TransientPlatformError, TimeoutError, ConnectionError, OSError)


class Retrying(PlatformWrapper):
    """Wraps ``sdk`` and retries its calls (optional capabilities included) on :data:`RETRYABLE` errors.

    The delay before retry ``n`` (1-based) is ``min(max_delay, base_delay * 2**(n-1))`` scaled by a
    random factor in [0.5, 1]. ``create_job`` always carries a ``job_name`` (one is generated when
    the caller gave none), so a retry after a submission whose answer was lost returns the job the
    first attempt created instead of starting a second one (the wrapped SDK must look jobs up by name).
    """

    def __init__(self, sdk: Any, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 30.0,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise UserInputError(f"attempts must be an integer >= 1, got {attempts!r}", field="attempts",
                                 value=attempts, allowed="an integer >= 1")
        if base_delay < 0 or max_delay < 0:
            raise UserInputError(f"base_delay and max_delay must be >= 0, got {base_delay!r} and {max_delay!r}",
                                 field="base_delay" if base_delay < 0 else "max_delay",
                                 value=base_delay if base_delay < 0 else max_delay, allowed="a number >= 0")
        super().__init__(sdk)
        self.attempts = attempts
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        full = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return full * (0.5 + 0.5 * self._rng.random())

    def call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried on transient errors; the last error is re-raised."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except RETRYABLE as exc:
                if isinstance(exc, PlatformError) and not isinstance(exc, TransientPlatformError):
                    raise
                if attempt == self.attempts:
                    raise
                wait = self.delay(attempt)
                logger.warning("%s failed (attempt %d/%d): %s: %s; retrying in %.2f s", name, attempt,
                               self.attempts, type(exc).__name__, exc, wait)
                self.clock.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def create_job(self, image: str | None, command: str | Sequence[str], gpu_count: int = 1,
                   env_vars: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Job:
        """Submit with a stable ``job_name`` so that retries never start a second job."""
        if not kwargs.get("job_name"):
            kwargs["job_name"] = f"tao-job-{uuid.uuid4().hex[:12]}"
        return super().create_job(image, command, gpu_count=gpu_count, env_vars=env_vars, inputs=inputs,
                                  outputs=outputs, **kwargs)

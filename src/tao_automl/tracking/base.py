"""The observer interface through which the runner tells trackers (W&B, MLflow, your own) about a sweep.

An observer is told three things, each *after* the state it concerns is persisted in the run folder:
the sweep started (fresh or resumed), a rec finished, the sweep ended. It gets the run folder and reads
what it needs from there (:func:`tao_automl.report.data.load_run`), so it never touches the loop's
internals. :class:`ObserverSet` calls every observer and swallows its errors: a tracker that fails is
logged, recorded in the run folder (given a ``record`` callback) and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tao_automl.util.interrupts import interrupts_held

log = logging.getLogger(__name__)

#: ``record(failed, first_here)``: adds one process's tracker failures since its last call (``{tracker: {"count": N,
#: "first": ...}}``) to the run's record; ``first_here``: the trackers among them that failed first in this process
#: (:meth:`tao_automl.experiment.store.RunStore.add_tracking_errors`).
Record = Callable[[dict[str, dict[str, Any]], list[str]], Any]
#: Seconds at least between two records of a tracker that keeps failing (its first failure is recorded at once, and
#: the sweep's end records the rest): a tracker failing at every rec costs a store write now and then, not per rec.
RECORD_EVERY_S = 10.0


@runtime_checkable
class SweepObserver(Protocol):
    """What a tracker implements; every method may raise (the runner logs it and goes on)."""

    def sweep_started(self, run_dir: Path) -> None:
        """The sweep starts or resumes; recs already finished may not have been seen yet."""

    def rec_finished(self, run_dir: Path, rec_id: int) -> None:
        """``rec_id`` ended (success, failure, stopped or cancelled); its result is already persisted."""

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        """The loop returned or raised; ``state`` is the run's end state: ``finished``, ``failed`` (no rec
        succeeded, a fail-fast stop), ``interrupted`` or ``stopped``."""


def checked_observers(observers: Any) -> list[SweepObserver]:
    """``run(observers=...)`` as a list, each one a :class:`SweepObserver` (a wrong one would be skipped silently)."""
    from tao_automl.errors import UserInputError

    allowed = "a list of SweepObserver objects (sweep_started, rec_finished, sweep_ended)"
    if isinstance(observers, (str, bytes, Mapping)) or not isinstance(observers, Iterable):
        raise UserInputError(f"observers: {observers!r} is not allowed; expected {allowed}", field="observers",
                             value=observers, allowed=allowed,
                             hint="use wandb_config / mlflow_config for the built-in trackers")
    out = list(observers)
    for i, observer in enumerate(out):
        if not isinstance(observer, SweepObserver):
            raise UserInputError(f"observers[{i}]: {observer!r} is not allowed; expected {allowed}",
                                 field=f"observers[{i}]", value=observer, allowed=allowed)
    return out


class ObserverSet:
    """Several observers behind one guarded call each. A tracker's first failure is logged with its stack trace, each
    later one of the same tracker in one line (a database gone mid-run fails at every rec).

    ``record`` (:data:`Record`) keeps the failures in the run folder, so that ``status`` and a resumed run show them:
    a tracker's first failure at once, later ones at most every ``record_every_s`` seconds (default
    :data:`RECORD_EVERY_S`) and at the sweep's end.
    """

    def __init__(self, observers: Iterable[SweepObserver] = (), record: Record | None = None, *,
                 record_every_s: float | None = None) -> None:
        self.observers = list(observers)
        self._record = record
        self._record_every_s = RECORD_EVERY_S if record_every_s is None else record_every_s
        self._recorded: dict[int, int] = {}  # per failed observer: how many of its failures were recorded
        self._recorded_at = float("-inf")
        #: One line per tracker call that failed (``Tracker.method: Error: message``), in order.
        self.failures: list[str] = []
        #: Per failed observer (by its index in :attr:`observers`): how many of its calls failed, and its first
        #: failure (``method: Error: message``).
        self.failed: dict[int, tuple[int, str]] = {}

    @property
    def errors(self) -> int:
        """How many tracker calls failed."""
        return len(self.failures)

    def _call(self, method: str, *args: Any) -> None:
        for index, observer in enumerate(self.observers):
            try:
                # a tracker's write (an MLflow database being created, a W&B run being set up) is not cut in half by
                # Ctrl-C or `tao-automl stop`: a half-migrated MLflow store refused every later run
                with interrupts_held():
                    getattr(observer, method)(*args)
            except Exception as exc:
                error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                self.failures.append(f"{type(observer).__name__}.{method}: {error}")
                count, first = self.failed.get(index, (0, f"{method}: {error}"))
                count += 1
                self.failed[index] = (count, first)
                if count == 1:
                    log.exception("tracker %s.%s failed; the sweep goes on", type(observer).__name__, method)
                else:
                    log.warning("tracker %s.%s failed again (failure %d of this tracker; the first one's stack trace "
                                "is above): %s; the sweep goes on", type(observer).__name__, method, count,
                                error[:200])
                if count == 1 or time.monotonic() - self._recorded_at >= self._record_every_s:
                    self.record()

    def _names(self) -> dict[int, str]:
        """The name of each failed observer: its ``name`` (``wandb``, ``mlflow``), else its class; the second of two
        trackers of one kind by its place too."""
        out: dict[int, str] = {}
        for index in self.failed:
            observer = self.observers[index]
            name = str(getattr(observer, "name", "") or type(observer).__name__)
            out[index] = f"{name}[{index}]" if name in out.values() else name
        return out

    def tracking_errors(self) -> dict[str, dict[str, Any]]:
        """``{tracker: {"count": N, "first": "method: Error: message"}}`` of the trackers that failed in this process
        (``{}`` when none did)."""
        names = self._names()
        return {names[index]: {"count": count, "first": first} for index, (count, first) in self.failed.items()}

    def unrecorded(self) -> dict[str, dict[str, Any]]:
        """The failures :meth:`record` has not written yet (all of them without ``record``), in the same shape."""
        names = self._names()
        return {names[index]: {"count": count - self._recorded.get(index, 0), "first": first}
                for index, (count, first) in self.failed.items() if count > self._recorded.get(index, 0)}

    def record(self) -> None:
        """Write the failures not recorded yet through ``record``; a write that fails is logged and retried at the
        next one (the sweep goes on)."""
        failed = self.unrecorded()
        if self._record is None or not failed:
            return
        names = self._names()
        first_here = [names[index] for index in self.failed if not self._recorded.get(index)]
        try:
            self._record(failed, first_here)
        except Exception:
            log.warning("the tracker failures could not be recorded in the run folder (retried at the next one): %s",
                        ", ".join(failed), exc_info=True)
            return
        self._recorded = {index: count for index, (count, _) in self.failed.items()}
        self._recorded_at = time.monotonic()

    def sweep_started(self, run_dir: Path) -> None:
        self._call("sweep_started", run_dir)

    def rec_finished(self, run_dir: Path, rec_id: int) -> None:
        self._call("rec_finished", run_dir, rec_id)

    def sweep_ended(self, run_dir: Path, state: str) -> None:
        self._call("sweep_ended", run_dir, state)
        self.record()  # the failures a tracker that kept failing had since its last record

    @contextlib.contextmanager
    def sweep(self, run_dir: Path) -> Iterator[Callable[[str], None]]:
        """Tell the observers the sweep started; yield the ``before_end(state)`` hook that tells them how it ended
        (called before that end is stored: a kill once it is stored finds them told). A body that ends without
        calling it (an error, an interrupt) has them told the sweep ended ``interrupted``."""
        self.sweep_started(run_dir)
        told: list[str] = []

        def tell(state: str) -> None:
            told.append(state)
            self.sweep_ended(run_dir, state)

        try:
            yield tell
        finally:
            if not told:
                self.sweep_ended(run_dir, "interrupted")

    def wrap_on_result(self, run_dir: Path, on_result: Callable[..., Any] | None) -> Callable[..., Any] | None:
        """An ``on_result(rec, value, status)`` callback that tells the observers first, then the user's."""
        if not self.observers:
            return on_result

        def tracked(rec: Any, value: float | None, status: str) -> Any:
            self.rec_finished(run_dir, int(rec.id))
            return on_result(rec, value, status) if on_result is not None else None

        return tracked

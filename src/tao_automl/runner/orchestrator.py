"""The orchestrator process of a run: periodic status snapshots and the detached entry point.

``python -m tao_automl.runner.orchestrator RUN_DIR`` is what ``tao-automl run --detach`` starts in its own
session: it rebuilds the platform SDK from the run folder and resumes the run there (the folder was fully
created and validated by the caller). ``SIGTERM`` (``tao-automl stop``) ends it like Ctrl-C: the state is
closed as ``interrupted`` and in-flight jobs keep running, so ``resume`` re-attaches to them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from tao_automl.errors import (
    EXIT_INTERRUPTED,
    EXIT_NO_RESULT,
    EXIT_OK,
    PlatformUnreachableError,
    SkillError,
    TaoAutoMLError,
    UserInputError,
)
from tao_automl.experiment.holder import INFO_NAME, LOG_NAME, lock_holder, orchestrator_info
from tao_automl.experiment.lines import format_metric
from tao_automl.util.interrupts import stop_delivered, stop_requested

if TYPE_CHECKING:
    from tao_automl.runner.loop import AutoMLRunner

__all__ = ["INFO_NAME", "LOG_NAME", "SNAPSHOT_NAME", "lock_holder", "orchestrator_info", "write_info"]

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "status.json"


def write_info(run_dir: Path, *, detached: bool) -> None:
    """Record who orchestrates ``run_dir`` now (pid, start time, detached or not)."""
    data = {"pid": os.getpid(), "detached": detached, "started_at": time.time(),
            "log": LOG_NAME if detached else None}
    _replace_with(run_dir / INFO_NAME, json.dumps(data))


#: Whether this process is a detached orchestrator (:func:`run_detached`), as :func:`claim_info` records it.
_DETACHED = {"on": False}


def claim_info(run_dir: Path) -> None:
    """Record this process as the orchestrator of ``run_dir`` (detached or in the foreground), unless it already
    is; called once it holds the run's lock, so a process that lost the lock (two resumes started together) never
    overwrites the holder's record, and ``status`` never shows an earlier orchestrator's pid or start."""
    try:
        info = json.loads((run_dir / INFO_NAME).read_text())
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or info.get("pid") != os.getpid() or info.get("detached") != _DETACHED["on"]:
        write_info(run_dir, detached=_DETACHED["on"])


def status_line(status: dict[str, Any]) -> str:
    """One line: state, recs done of budget, failures, best metric, running jobs."""
    prog = status.get("progress", {})
    best = prog.get("best_metric")
    shown = "no result yet"
    if best is not None:
        shown = f"best {prog.get('metric')}={format_metric(best)} (rec {prog.get('best_rec_id')})"  # as `status`
    return (f"status: {prog.get('state')}; {prog.get('completed', 0)}/{prog.get('total', '?')} recs done "
            f"({prog.get('succeeded', 0)} ok, {prog.get('failed', 0)} failed); {shown}; "
            f"{len(status.get('active_jobs', []))} job(s) running")


def write_snapshot(run_dir: Path, *, last: bool = False) -> str | None:
    """Write ``status.json`` (the same data as ``tao-automl status --json``) and return its one-line summary.

    ``last``: the orchestrator writes it as it ends, so the file says no orchestrator is alive (as ``status``
    says a moment later), not the pid that is about to exit."""
    from tao_automl.status import query_status

    status = query_status(run_dir)
    if "error" in status:
        return None
    if last:
        from tao_automl.experiment.lines import resumable

        status["orchestrator"] = {**status["orchestrator"], "alive": False, "pid": None}
        status["resumable"] = resumable(status["orchestrator"], status["progress"])  # as status says once it ended
    status["snapshot_at"] = time.time()
    _replace_with(run_dir / SNAPSHOT_NAME, json.dumps(status, indent=2, default=str))
    return status_line(status)


def heal_snapshot(run_dir: Path) -> bool:
    """Rewrite the ``status.json`` of a closed run from its store when it says otherwise (its process was killed
    once the run's end was stored, before its last write, so it still said running) or is missing. Under the run's
    lock; left as it is while another process holds it (that one writes its own). True when it was rewritten."""
    from tao_automl.errors import WorkspaceLockedError
    from tao_automl.experiment.store import read_meta
    from tao_automl.experiment.workspace import RUNNER_HELD_HINT, RunLock

    try:
        shown = json.loads((run_dir / SNAPSHOT_NAME).read_text())
    except (OSError, ValueError):
        shown = None  # missing or cut: written again
    state = read_meta(run_dir).get("state")
    if isinstance(shown, dict) and (shown.get("progress") or {}).get("state") == state \
            and not (shown.get("orchestrator") or {}).get("alive"):
        return False
    try:
        with RunLock(run_dir, held_here_hint=RUNNER_HELD_HINT):
            write_snapshot(run_dir, last=True)
    except WorkspaceLockedError:
        return False
    except OSError as exc:  # a read-only or full run folder: what was asked is answered all the same
        log.warning("%s could not be rewritten from the run's store (it may be stale): %s", SNAPSHOT_NAME, exc)
        return False
    log.info("%s said the run was %s; rewritten from its store (%s)", SNAPSHOT_NAME,
             (shown.get("progress") or {}).get("state") if isinstance(shown, dict) else "(missing)", state)
    return True


def _replace_with(path: Path, text: str) -> None:
    """Write ``text`` to ``.<name>.tmp`` beside ``path`` and rename it into place (readers never see half a file);
    a write that fails (a full disk) removes that temp file, leaves ``path`` as it was and raises."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            tmp.unlink(missing_ok=True)
        raise


class StatusReporter:
    """While active, writes a status snapshot and logs a status line every ``minutes`` and once at the end; the
    snapshot alone as it starts, so a run shorter than ``minutes`` has a status.json while it goes."""

    def __init__(self, run_dir: Path, minutes: float) -> None:
        self.run_dir = run_dir
        self.interval_s = float(minutes) * 60.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-reporter", daemon=True)

    def _report(self, last: bool = False, *, quiet: bool = False) -> None:
        try:
            line = write_snapshot(self.run_dir, last=last)
        except Exception as exc:  # a snapshot must never end the sweep
            log.warning("status snapshot failed: %s", exc)
            return
        if line and not quiet:
            log.info("%s", line)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._report()

    def __enter__(self) -> StatusReporter:
        self._report(quiet=True)  # one status query: about the same cost at 10 or 10,000 recs
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._report(last=True)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second stop request while closing changes nothing
    stop_requested()  # raised again by the sweep's loop if a library drops it


def runner_for_run(sdk: Any, run_dir: Path, stored: Mapping[str, Any]) -> AutoMLRunner:
    """The runner that resumes ``run_dir`` (its recorded skill and action); a skill that is no longer where the run
    recorded it, or no longer loads, is a :class:`SkillError` saying it is the run's and how to go on."""
    from tao_automl.runner.loop import AutoMLRunner

    try:
        return AutoMLRunner(sdk, stored["skill_dir"], stored["action"])
    except SkillError as exc:
        raise SkillError(f"the skill run {run_dir.name} was made with cannot be loaded: {exc.detail}",
                         field="skill_dir", value=stored["skill_dir"], allowed=exc.allowed,
                         hint="a resume takes the skill from where it was when the run started: put the model "
                              "folder back there (as it was), or start a new run with the skill where it is now"
                         ) from None


def run_detached(run_dir: Path) -> int:
    """Resume the run in ``run_dir`` in this process until it ends; the exit code of ``tao-automl run``."""
    from tao_automl.experiment.store import read_meta
    from tao_automl.platforms.registry import rebuild_sdk

    signal.signal(signal.SIGTERM, _on_sigterm)
    meta = read_meta(run_dir)
    stored = meta["run_args"]
    try:
        sdk = rebuild_sdk(run_dir, meta.get("platform"))
    except PlatformUnreachableError as exc:  # the platform went away since the run was started: retry later
        log.error("%s", exc)
        return exc.exit_code
    except UserInputError as exc:
        log.error("%s", exc)
        return EXIT_NO_RESULT
    try:
        runner = runner_for_run(sdk, run_dir, stored)
    except TaoAutoMLError as exc:  # the run's skill moved or broken: one line, the user's to fix (not a crash)
        log.error("%s", exc)
        return exc.exit_code
    metric = str(meta.get("metric", "metric"))

    def started(rec: Any) -> None:
        log.info("rec %d started: job %s params %s", rec.id, rec.job_id, json.dumps(rec.params, default=str))

    def ended(rec: Any, value: float | None, status: str) -> None:
        log.info("rec %d %s: %s=%s", rec.id, status, metric, value)

    import tao_automl.runner.orchestrator as this  # the module the runner imports (this file may run as __main__)

    this._DETACHED["on"] = True  # recorded in orchestrator.json once this process holds the run's lock
    try:
        key = os.environ.pop("TAO_AUTOML_DETACHED_LLM_API_KEY", None)  # handed over by the starter, never on disk
        summary = runner.run(workspace_path=run_dir, resume=True, on_recommendation=started, on_result=ended,
                             automl_settings={"llm_api_key": key} if key else None)
    except KeyboardInterrupt:
        from tao_automl.runner.detach import stop_cancels_jobs

        stop_delivered()

        if stop_cancels_jobs(run_dir):
            log.info("stopped by `tao-automl stop --cancel-jobs`: it is cancelling the in-flight jobs")
        else:
            log.info("stopped on request; in-flight jobs keep running (tao-automl resume %s re-attaches)", run_dir)
        return EXIT_INTERRUPTED
    except TaoAutoMLError as exc:
        log.error("%s", exc)
        return exc.exit_code
    state = summary["progress"].get("state")
    log.info("sweep ended: state %s; best %s", state, json.dumps(summary.get("best"), default=str))
    return EXIT_OK if state == "finished" and summary.get("best") else EXIT_NO_RESULT


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tao_automl.runner.orchestrator RUN_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_detached(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())

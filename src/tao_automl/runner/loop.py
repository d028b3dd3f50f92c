"""``AutoMLRunner``: the loop that turns recs into platform jobs until the budget is spent.

The loop keeps ``automl_max_concurrent`` jobs in flight and starts the next rec as soon as a slot
frees up. Every step is persisted before it is acted on (see :mod:`tao_automl.experiment.core`), so a
killed orchestrator resumes from the run folder alone: finished recs are replayed, in-flight jobs
re-attached, and a rec whose job may exist is re-submitted under the same job name (SDKs return
the existing job instead of starting a second one).
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import math
import numbers
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tao_automl.bank.skill import Skill, load_skill
from tao_automl.brain.trials import STOPPING, Trial
from tao_automl.errors import (
    PlatformError,
    PlatformFullError,
    SweepInterrupted,
    TaoAutoMLError,
    UserInputError,
    WorkspaceError,
    new_run_storage_error,
)
from tao_automl.experiment.core import CHECKPOINTS_DELETED, Experiment, Recommendation
from tao_automl.experiment.holder import copy_of, resume_command
from tao_automl.experiment.lines import budget_spent
from tao_automl.experiment.store import (
    CANCEL_DECIDED,
    DB_NAME,
    ENDED_EARLY,
    FINAL_STATES,
    JOB_ENDED_UNCOLLECTED,
    JOB_PENDING,
    NEW_RUN_NEEDED,
    UNSUBMITTED,
    RecRow,
    RecStatus,
    RunStore,
    merged_tracking_errors,
    read_meta,
)
from tao_automl.experiment.summary import CHECKPOINTS_RESUMED, rec_dict
from tao_automl.experiment.workspace import (
    RUNNER_HELD_HINT,
    RunLock,
    check_complete,
    discard_staging,
    existing_run_dir,
    publish_run_dir,
    rec_folder,
    stage_run_dir,
)
from tao_automl.llm.client import LLMFailure
from tao_automl.metrics.job import (
    STATUS_FILE,
    extract_metric,
    extract_metrics,
    missing_metric_message,
    read_results_file,
    safe_logs,
)
from tao_automl.metrics.parse import counts_from_zero as _counts_from_zero
from tao_automl.metrics.parse import (
    epochs_from_logs,
    is_valid_metric,
    kpi_series,
    since_restart,
    status_lines,
    valued_epochs,
)
from tao_automl.platforms.analysis import plain_lines
from tao_automl.platforms.base import JobStatus, check_sdk_shape, unwrap
from tao_automl.platforms.common import as_setting_error
from tao_automl.platforms.registry import describe_sdk
from tao_automl.render.job import render_job, spec_file_name
from tao_automl.runner import progress_log
from tao_automl.runner.cleanup import delete_intermediate_checkpoints, recs_to_keep
from tao_automl.runner.failures import (
    BRAIN_DONE,
    NO_BUDGET_LEFT,
    fail_fast_message,
    job_timeout,
    needs_new_run,
    no_result_message,
    shared_cause,
    timeout_message,
)
from tao_automl.runner.fidelity import epoch_key, latest_checkpoint, resumes_from_checkpoint, spec_epochs
from tao_automl.runner.folders_ahead import FoldersAhead
from tao_automl.runner.guard import DEFAULT_CALL_TIMEOUT_S, GuardedSDK, has_lookup, lookup_job
from tao_automl.runner.job_kwargs import accepted_job_kwargs, checked_job_kwargs
from tao_automl.runner.log_polls import LogPoll
from tao_automl.runner.orchestrator import StatusReporter, claim_info
from tao_automl.runner.plan import KPI, RunPlan
from tao_automl.runner.release import release, release_pending, releases_jobs
from tao_automl.runner.resources import DEFAULT_GPU_COUNT
from tao_automl.runner.run_args import RunArgs, checked_fields
from tao_automl.schema.choices import without_zero_weights
from tao_automl.settings import AutoMLSettings
from tao_automl.tracking.base import ObserverSet, SweepObserver, checked_observers
from tao_automl.tracking.config import build_observers, check_tracking_config
from tao_automl.util.checks import bad_input, bool_arg, callable_arg
from tao_automl.util.clock import Clock, SystemClock
from tao_automl.util.crash import crash_point
from tao_automl.util.dotted import flatten
from tao_automl.util.interrupts import ends_stop_requests, raise_pending_stop, records_ctrl_c, stop_delivered
from tao_automl.util.shell import sh
from tao_automl.util.suggest import nearest
from tao_automl.util.threads import at_once

log = logging.getLogger(__name__)

#: Submissions that fail in a row before the sweep stops (the platform is clearly unusable).
MAX_CONSECUTIVE_SUBMIT_ERRORS = 3
#: Status polls that fail in a row before a job is given up as failed.
MAX_CONSECUTIVE_POLL_ERRORS = 20
#: How often the runner asks why a queued job still waits (``pending_reason``).
PENDING_REASON_EVERY_S = 15.0
#: How often a running job's log is fetched for the metric extractor (a remote call on Kubernetes, Slurm over ssh,
#: Lepton: one per running job at every poll, 5 s by default, would be a 2000-line log read per job every 5 s).
EXTRACTOR_POLL_EVERY_S = 30.0
#: How long a job's end waits for the extractor's log poll that was reading as it ended (its number may be the last).
LAST_LOG_POLL_WAIT_S = 30.0
#: How long the metric extractor's call on an ended job's log (its fetch and a call per metric, on a thread of its
#: own) may take before the rec fails saying so and the sweep goes on without it.
ENDED_LOG_READ_LIMIT_S = 60.0
#: How long a round of polls waits, in all, for the log polls it started: a quick extractor's number is stored in the
#: round that read it (a kill right after loses nothing), a slow one's at a later round.
ROUND_LOG_POLL_WAIT_S = 0.2

MetricExtractor = Callable[[str, str], "float | None"]
EvalFn = Callable[[Recommendation, str], "float | None"]


class _Launch(enum.Enum):
    """How :meth:`AutoMLRunner._launch` ended."""

    STARTED = "started"
    NOT_PREPARED = "not_prepared"  # the rec failed before submission: spec not rendered, checkpoint missing
    SUBMIT_FAILED = "submit_failed"  # the platform did not take the job
    NO_ROOM = "no_room"  # the platform's quota has no room now (PlatformFullError): the rec waits, not failed


@dataclass
class _Waiting:
    """Recs the platform had no room for (:class:`PlatformFullError`: its quota is full), oldest first. They are
    submitted again as soon as a job of the run ends, else after a back-off that doubles up to a minute. A wait with
    no job of the run in flight and none ended for :attr:`GIVE_UP_S` stops the sweep (resumable): the room may never
    come (a quota on Job objects counts ended Jobs until they are deleted)."""

    recs: list[Recommendation] = field(default_factory=list)
    #: the recs whose wait is recorded (a ``job_pending`` event with no job: ``status`` shows it as their reason)
    recorded: set[int] = field(default_factory=set)
    retry_at: float = 0.0
    delay_s: float = 0.0
    #: when the wait began, or a job of the run last ended during it
    since: float = 0.0

    FIRST_DELAY_S = 5.0
    MAX_DELAY_S = 60.0
    GIVE_UP_S = 600.0

    def may_try(self, now: float) -> bool:
        return not self.recs or now >= self.retry_at

    def full(self, exp: Experiment, rec: Recommendation, now: float) -> None:
        """No room for ``rec`` now: said once per wait (log and the run's events), then retried later."""
        if rec.id not in self.recorded:
            self.recorded.add(rec.id)
            exp.store.log_event(JOB_PENDING, rec.id, job_id=None, reason=rec.error)
        if not self.delay_s:
            log.warning("rec %d waits for room on the platform and is submitted when a job of this run ends: %s",
                        rec.id, rec.error)
            self.since = now
        self.delay_s = min(self.MAX_DELAY_S, self.delay_s * 2 or self.FIRST_DELAY_S)
        self.retry_at = now + self.delay_s

    def job_ended(self, now: float) -> None:
        """A job of the run ended: its room is the waiting recs' (tried at once)."""
        self.retry_at = 0.0
        self.since = now

    def check_idle(self, exp: Experiment, now: float) -> None:
        """Nothing of the run in flight: a :class:`PlatformError` (the sweep stops, the waiting recs resume) once the
        wait has lasted :attr:`GIVE_UP_S`."""
        if now - self.since < self.GIVE_UP_S:
            return
        first = self.recs[0]
        raise PlatformError(
            f"the platform had no room for rec {first.id}'s job for {now - self.since:.0f} s while no job of this run "
            f"was in flight; last refusal: {first.error}. Stopping the sweep (its {len(self.recs)} waiting rec(s) are "
            "submitted when it resumes)",
            hint=f"free room on the platform (delete ended jobs, ask for a larger quota), then `tao-automl resume "
                 f"{exp.run_dir}`")

    def room(self, rec: Recommendation) -> None:
        """The platform took (or refused for another reason) ``rec``'s job: the wait, if any, is over."""
        if self.delay_s:
            log.info("rec %d: the platform had room again", rec.id)
            self.delay_s = 0.0


@dataclass
class _Active:
    rec: Recommendation
    job_id: str
    results_dir: str | None
    status: JobStatus = JobStatus.PENDING
    poll_errors: int = 0
    reattached: bool = False  # found in flight by a resume: it may have ended long before this process saw it
    last_epoch: int = 0
    last_value: float | None = None
    started_at: float = field(default_factory=time.time)  # wall time of the submission (survives a resume)
    limit_s: float | None = None  # automl_job_timeout_s for this rec's budget
    #: wall time the job was seen running since it last left the platform's queue (its stored ``running`` status
    #: event): the job timeout counts from here, so time in the queue (also after a requeue) is not held against it
    running_since: float | None = None
    pending_reason: str | None = None  # why the platform holds the job in its queue, as last recorded
    reason_due: float = 0.0  # monotonic time of the next look at it
    #: the metric extractor's last number per metric on a log poll (its call on the ended job's log comes first)
    polled: dict[str, float] = field(default_factory=dict)
    extractor_raised: bool = False  # told once per rec; polling goes on
    extractor_due: float = 0.0  # monotonic time of the next log poll for the extractor
    log_poll: LogPoll | None = None  # the extractor's log poll in flight on its own thread, if any


#: The event storing the metric extractor's number when a log poll reads a new one (a resume takes the last up).
METRIC_POLLED = "metric_polled"


def _same_number(kept: float | None, number: float) -> bool:
    """Whether ``number`` is the one already kept (NaN equals NaN here: nothing new to store)."""
    return kept is not None and (kept == number or (math.isnan(kept) and math.isnan(number)))


class _FailFast(Exception):
    """The first recs to finish all failed alike: stop the sweep (internal to the loop). ``new_run``: their cause
    needs a new run (:func:`needs_new_run`), not a resume."""

    def __init__(self, message: str, *, new_run: bool) -> None:
        super().__init__(message)
        self.new_run = new_run


#: run()'s own argument names: a platform keyword argument one slip from one of them is a typo of it.
RUN_ARG_NAMES = ("train_dataset_uri", "eval_dataset_uri", "base_checkpoint", "image", "automl_settings",
                 "automl_hyperparameters", "custom_param_ranges", "spec_overrides", "workspace_path", "resume",
                 "metric_extractor", "eval_fn", "on_recommendation", "on_result", "wandb_config", "dataset_keys",
                 "mlflow_config", "observers")


def _refuse_run_arg_typos(sdk: Any, platform_kwargs: Mapping[str, Any]) -> None:
    """A keyword argument that is not run()'s goes to ``sdk.create_job``; one whose name is close to a run() argument
    and that the SDK does not name (``automl_setings``, ``spec_override``, ``workspace``) is that argument misspelt:
    an SDK whose ``create_job`` takes ``**kwargs`` would take it silently and the run would go on without it."""
    accepted = accepted_job_kwargs(unwrap(sdk))
    for key, value in platform_kwargs.items():
        near = None if key in accepted else nearest(key, RUN_ARG_NAMES, cutoff=0.75)
        if near is not None:
            raise UserInputError(
                f"platform_kwargs.{key}: not an argument of run() (did you mean {near!r}?), so it would go to "
                f"{type(unwrap(sdk)).__name__}.create_job, which does not name it", field=f"platform_kwargs.{key}",
                value=value, allowed=[near, *accepted],
                hint=f"pass {near}=... (in a config file: the top-level key {near})")


class AutoMLRunner:
    """Run a sweep of ``skill_dir``'s ``action`` on the platform behind ``sdk``."""

    def __init__(self, sdk: Any, skill_dir: str | Path, action: str = "train", *, clock: Clock | None = None,
                 sdk_call_timeout_s: float | None = DEFAULT_CALL_TIMEOUT_S, log_progress: bool = True) -> None:
        bool_arg("log_progress", log_progress)
        if sdk_call_timeout_s is not None and (isinstance(sdk_call_timeout_s, bool) or not isinstance(
                sdk_call_timeout_s, (int, float)) or not 0 < sdk_call_timeout_s < math.inf):
            raise bad_input("sdk_call_timeout_s", sdk_call_timeout_s, "a number of seconds > 0, or None (no limit)")
        if clock is not None and not all(callable(getattr(clock, name, None)) for name in ("now", "sleep")):
            raise bad_input("clock", clock, "an object with now() and sleep(seconds) methods (a Clock), or None")
        check_sdk_shape(sdk)
        self.sdk = sdk
        #: A line per ended rec on the ``tao_automl.progress`` logger (see :mod:`tao_automl.runner.progress_log`).
        self.log_progress = log_progress
        #: Called with the run's progress dict after each rec starts or ends (the CLI's live line); guarded.
        self.on_progress: Callable[[dict[str, Any]], Any] | None = None
        self.skill: Skill = load_skill(skill_dir, action)
        self.action = action
        self.clock = clock or SystemClock()
        #: Every platform call goes through here: retried on transient errors, abandoned when hung.
        self.platform = GuardedSDK(sdk, call_timeout_s=sdk_call_timeout_s, clock=self.clock)
        #: The folder of the run this runner drives (or last drove); None before a run folder exists.
        self.run_dir: Path | None = None
        self._said_blind = False  # stopping mode's "no per-epoch values" warning was given
        self._log_polls_started: list[_Active] = []  # recs whose log poll began in this round of polls

    # -- public -----------------------------------------------------------------------------------
    @ends_stop_requests  # a stop made for this sweep never interrupts the next one this process runs
    @records_ctrl_c  # a Ctrl-C a library drops is raised again, as in the CLI
    def run(self, train_dataset_uri: str | Mapping[str, str] | None = None, eval_dataset_uri: str | None = None,
            base_checkpoint: str | None = None, image: str | None = None,
            automl_settings: Mapping[str, Any] | None = None,
            automl_hyperparameters: Sequence[str] | None = None,
            custom_param_ranges: Mapping[str, Mapping[str, Any]] | None = None,
            spec_overrides: Mapping[str, Any] | None = None, workspace_path: str | Path | None = None,
            resume: bool = False, metric_extractor: MetricExtractor | None = None, eval_fn: EvalFn | None = None,
            on_recommendation: Callable[[Recommendation], Any] | None = None,
            on_result: Callable[[Recommendation, float | None, str], Any] | None = None,
            wandb_config: Mapping[str, Any] | None = None, dataset_keys: Mapping[str, str] | None = None,
            mlflow_config: Mapping[str, Any] | None = None, observers: Sequence[SweepObserver] = (),
            **platform_kwargs: Any) -> dict[str, Any]:
        """Block until the budget is spent; return ``{"best", "progress", "history", ...}``.

        Datasets: ``train_dataset_uri``/``eval_dataset_uri`` are placed by the skill's ``data_sources`` rules;
        ``dataset_keys`` (or a mapping given as ``train_dataset_uri``) sets exact spec keys verbatim, e.g.
        ``{"dataset.train.annotation_path": "/data/a/ann.json", "dataset.train.image_dir": "/b/images"}``.
        ``wandb_config`` / ``mlflow_config`` log the sweep to W&B / MLflow (stored with the run, so a resume
        continues the same W&B group / MLflow parent run); ``observers`` are extra :class:`SweepObserver` s.
        ``resume`` must be True or False; each callback must be a callable or None (checked before anything is
        created). Called in the main thread with Python's default SIGINT handler, Ctrl-C is recorded as a stop
        request while it runs (one a library drops still ends the sweep); a handler the program set is kept.
        """
        bool_arg("resume", resume)
        for name, value in (("metric_extractor", metric_extractor), ("eval_fn", eval_fn),
                            ("on_recommendation", on_recommendation), ("on_result", on_result)):
            callable_arg(name, value)
        given = self._given(workspace_path, {
            "train_dataset_uri": train_dataset_uri, "eval_dataset_uri": eval_dataset_uri,
            "base_checkpoint": base_checkpoint, "image": image, "dataset_keys": dataset_keys,
            "automl_settings": automl_settings, "automl_hyperparameters": automl_hyperparameters,
            "custom_param_ranges": custom_param_ranges, "spec_overrides": spec_overrides,
            "platform_kwargs": platform_kwargs,
        })
        tracking = {"wandb": check_tracking_config("wandb_config", wandb_config),
                    "mlflow": check_tracking_config("mlflow_config", mlflow_config)}
        self._observers = checked_observers(observers)
        if resume:
            run_dir = existing_run_dir(given.workspace_path, field="workspace_path")
            with RunLock(run_dir, held_here_hint=RUNNER_HELD_HINT):
                # claimed once the run is taken: a refusal (a copy, a changed skill...) ends a detached resume's
                # orchestrator before it is claimed, so `resume --detach` reports it instead of a started run
                exp, plan = self._reopen(run_dir, given)
                claim_info(run_dir)
                given_tracking = {k: v for k, v in tracking.items() if v}
                if given_tracking:  # a resume may add or change a tracker; the run folder remembers it
                    exp.store.set_meta(given_tracking, event="tracking_changed")
                with StatusReporter(run_dir, exp.settings.status_interval_minutes):
                    return self._logged_loop(exp, plan, metric_extractor, eval_fn, on_recommendation, on_result)
        plan = RunPlan.build(given, self.skill)  # every check before anything is created
        self._preflight(given, plan)  # LLM brains too: endpoint, model and key work, or stop here
        for note in plan.notes:
            log.warning("%s", note)
        if plan.settings.long_running_enabled:  # detached: returns once the background orchestrator holds the run
            from tao_automl.runner.detach import detach_summary, refuse_callables

            refuse_callables(metric_extractor=metric_extractor, eval_fn=eval_fn,
                             on_recommendation=on_recommendation, on_result=on_result)
            return detach_summary(self._create_and_detach(given, plan, wandb_config, mlflow_config))
        exp, lock = self._create(given, plan, wandb_config, mlflow_config)
        self.run_dir = exp.run_dir  # from now on an interrupt names the folder that resumes the run
        try:
            claim_info(exp.run_dir)
            with StatusReporter(exp.run_dir, plan.settings.status_interval_minutes):
                return self._logged_loop(exp, plan, metric_extractor, eval_fn, on_recommendation, on_result)
        except KeyboardInterrupt as exc:  # before the loop began (its own are SweepInterrupted already)
            if isinstance(exc, SweepInterrupted):
                raise
            raise SweepInterrupted(exp.run_dir) from exc
        finally:
            lock.release()

    def start(self, **run_kwargs: Any) -> Path:
        """Validate everything, create the run folder and hand the sweep to a background orchestrator.

        Takes ``run()``'s data arguments (no callables: they cannot cross into another process) and returns
        the run folder once the detached orchestrator holds it; ``tao_automl.runner.detach.stop_run`` ends it.
        """
        from tao_automl.runner.detach import refuse_callables

        refuse_callables(**{k: run_kwargs.pop(k, None) for k in
                            ("metric_extractor", "eval_fn", "on_recommendation", "on_result")})
        if bool_arg("resume", run_kwargs.pop("resume", False)):
            raise UserInputError("start(resume=True) is not supported; use `tao-automl resume RUN_DIR --detach`",
                                 field="resume", value=True, allowed=[False])
        wandb_config = check_tracking_config("wandb_config", run_kwargs.pop("wandb_config", None))
        mlflow_config = check_tracking_config("mlflow_config", run_kwargs.pop("mlflow_config", None))
        workspace_path = run_kwargs.pop("workspace_path", None)
        names = ("train_dataset_uri", "eval_dataset_uri", "base_checkpoint", "image", "automl_settings",
                 "automl_hyperparameters", "custom_param_ranges", "spec_overrides", "dataset_keys")
        data: dict[str, Any] = {name: run_kwargs.pop(name) for name in names if name in run_kwargs}
        given = self._given(workspace_path, {**data, "platform_kwargs": run_kwargs})
        plan = RunPlan.build(given, self.skill)
        self._preflight(given, plan)
        for note in plan.notes:
            log.warning("%s", note)
        return self._create_and_detach(given, plan, wandb_config, mlflow_config)

    def _given(self, workspace_path: str | Path | None, data: Mapping[str, Any]) -> RunArgs:
        if workspace_path is None or (isinstance(workspace_path, str) and not workspace_path.strip()):
            given = "" if workspace_path is None else f" (got {workspace_path!r})"
            raise WorkspaceError(f"workspace_path is required{given}: the folder under which the run's state is kept",
                                 field="workspace_path", value=workspace_path, allowed="a folder path",
                                 hint="pass the folder that will hold the run")
        _refuse_run_arg_typos(self.sdk, data.get("platform_kwargs") or {})
        checked = checked_fields({
            "workspace_path": str(workspace_path) if isinstance(workspace_path, Path) else workspace_path, **data})
        return RunArgs(skill_dir=str(self.skill.path), action=self.action, platform=self._platform(),
                       **checked).resolved()

    def _create(self, given: RunArgs, plan: RunPlan, wandb_config: Mapping[str, Any] | None,
                mlflow_config: Mapping[str, Any] | None = None) -> tuple[Experiment, RunLock]:
        """Build the run in a staging folder and publish it; the caller releases the returned lock."""
        staging, run_dir, lock = stage_run_dir(given.workspace_path)
        made = [staging]  # the folder this setup made: the staging folder, then the published run folder

        def publish() -> None:
            publish_run_dir(staging, run_dir, lock)
            made[0] = run_dir

        try:
            _jobs_in_run_folder(self.sdk, run_dir)  # before the SDK's options are recorded
            exp = Experiment.create(staging, plan.space, plan.settings, plan.direction, plan.base_spec,
                                    {"run_args": given.to_json(), "platform": describe_sdk(self.sdk),
                                     "metric": plan.metric, "mode": "runner",
                                     CHECKPOINTS_RESUMED: resumes_from_checkpoint(self.skill),
                                     "wandb": check_tracking_config("wandb_config", wandb_config),
                                     "mlflow": check_tracking_config("mlflow_config", mlflow_config),
                                     "experiment_id": run_dir.name, "run_dir": str(run_dir)})
            exp.move_to(run_dir, publish)  # now it is a resumable run
        except BaseException as exc:  # nothing ran in the folder yet: it goes, so no half-made run is left
            discard_staging(made[0], lock)
            full = new_run_storage_error(exc, staging.parent, made[0])
            if full is not None:
                raise full from None
            raise
        return exp, lock

    def _create_and_detach(self, given: RunArgs, plan: RunPlan, wandb_config: Mapping[str, Any] | None,
                           mlflow_config: Mapping[str, Any] | None = None) -> Path:
        from tao_automl.runner.detach import STARTING_FILE, check_rebuildable, mark_starting, spawn_orchestrator

        check_rebuildable(self.sdk)
        exp, lock = self._create(given, plan, wandb_config, mlflow_config)
        self.run_dir = exp.run_dir  # the run this runner made, as a foreground run() sets it
        try:
            try:
                exp.close("starting")
                mark_starting(exp.run_dir, os.getpid())  # before the lock goes: a stop from now on waits for the start
            finally:
                lock.release()
            return spawn_orchestrator(exp.run_dir, llm_api_key=plan.settings.llm_api_key)
        except KeyboardInterrupt as exc:  # Ctrl-C or `stop`: no orchestrator runs it; the folder resumes
            with contextlib.suppress(OSError):
                (exp.run_dir / STARTING_FILE).unlink(missing_ok=True)
            raise SweepInterrupted(exp.run_dir) from exc

    def _platform(self) -> str:
        """The registry name of this runner's platform (``docker``, ``slurm`` ...); an unregistered SDK's class name
        (``local`` for a LocalSDK subclass)."""
        from tao_automl.platforms.local.sdk import LocalSDK
        from tao_automl.platforms.registry import platform_name

        target = unwrap(self.sdk)
        return platform_name(describe_sdk(self.sdk)["class"]) or (
            "local" if isinstance(target, LocalSDK) else type(target).__name__)

    def _preflight(self, args: RunArgs, plan: RunPlan) -> None:
        """The CLI's preflight (datasets, credentials, platform arguments, the LLM endpoint...) on this runner's
        SDK; the checks ``plan`` made when it was built are not made again."""
        from tao_automl.runner.preflight import run_preflight

        report = run_preflight(replace(args, platform=self._platform()), sdk=self.sdk, plan=plan)
        if not report.ok:
            raise report.error()
        for check in report.warnings:
            log.warning("preflight %s: %s", check.check, check.detail)

    def _reopen(self, run_dir: Path, given: RunArgs) -> tuple[Experiment, RunPlan]:
        meta = read_meta(run_dir)
        check_complete(run_dir, meta)
        check_not_a_copy(run_dir, meta)
        if meta.get("mode") != "runner" or "run_args" not in meta:
            raise WorkspaceError(f"cannot resume {str(run_dir)!r} with AutoMLRunner: it was not started by the runner "
                                 f"(mode {meta.get('mode')!r}); reopen it with the API that created it",
                                 field="workspace_path", value=str(run_dir), allowed="a run folder the runner made",
                                 hint="an ask/tell run continues from Python: tao_automl.AutoML(workspace, "
                                      "resume=True)")
        platform_changed = _check_same_platform(self._platform(), run_dir, meta)
        _jobs_in_run_folder(self.sdk, run_dir, meta)
        stored = RunArgs.from_json(meta["run_args"])
        args = stored.merged_with(given)
        plan = RunPlan.build(args, self.skill)
        if args.automl_settings != stored.automl_settings:  # settings given on resume: tell their effect apart
            check_same_skill(run_dir, meta, RunPlan.build(stored, self.skill))
            check_settings_keep_space(run_dir, meta, plan, stored, self.skill)
        check_same_skill(run_dir, meta, plan)  # the recs it launches are rendered from the skill as it is now
        _llm_ready(plan.settings, stored)  # an LLM run's endpoint and key work before anything is collected
        checked_job_kwargs(self.sdk, args.platform_kwargs)  # as a fresh run checks them: a typo is refused
        exp = Experiment.open(run_dir, plan.settings)
        if platform_changed:  # the next recs' jobs run there: `tao-automl resume`, `stop`, `logs` rebuild this one
            exp.store.set_meta({"platform": describe_sdk(self.sdk),
                                "run_args": {**meta["run_args"], "platform": self._platform()}},
                               event="platform_changed")
        if args.platform_kwargs != stored.platform_kwargs:  # the next recs' job arguments: stored, as ran
            exp.store.set_meta({"run_args": {**exp.store.meta()["run_args"], "platform_kwargs": args.platform_kwargs}},
                               event="platform_kwargs_changed")
        return exp, plan.with_settings(exp.settings)

    # -- the loop ---------------------------------------------------------------------------------
    def _logged_loop(self, exp: Experiment, plan: RunPlan, extractor: MetricExtractor | None,
                     eval_fn: EvalFn | None, on_rec: Callable[[Recommendation], Any] | None,
                     on_result: Callable[[Recommendation, float | None, str], Any] | None) -> dict[str, Any]:
        self.run_dir = exp.run_dir
        tracking = self._tracking(exp)
        # the trackers told the end before it is stored; failing before its end, they hear an interrupted sweep
        with tracking.sweep(exp.run_dir) as tell:
            try:
                with progress_log.default_handler(self.log_progress):
                    summary = self._loop(exp, plan, extractor, eval_fn, on_rec,
                                         tracking.wrap_on_result(exp.run_dir, on_result), before_end=tell)
            except KeyboardInterrupt as exc:  # the caller learns which folder resumes it
                stop_delivered()
                if isinstance(exc, SweepInterrupted):
                    raise
                raise SweepInterrupted(exp.run_dir) from exc
            except Exception as exc:  # a full disk, say: the CLI's message names the folder a resume continues
                if getattr(exc, "run_dir", None) is None:
                    with contextlib.suppress(AttributeError, TypeError):
                        exc.run_dir = exp.run_dir  # type: ignore[attr-defined]
                raise
        # always there ({} when no tracker failed): the sweep's own results are complete; what the trackers show is not.
        # As the run folder records it (this process and the ones before a resume), read after the sweep's end was
        # told (the store is closed by then), plus what could not be recorded
        summary["tracking_errors"] = merged_tracking_errors(exp.tracking_errors(), tracking.unrecorded())
        warn_tracker_failures(tracking)
        return summary

    def _tracking(self, exp: Experiment) -> ObserverSet:
        """The run's trackers (its stored ``wandb``/``mlflow`` configs) plus ``run(observers=...)``."""
        return stored_trackers(exp, getattr(self, "_observers", []))

    def _progress(self, exp: Experiment, ended: RecRow | None) -> None:
        """After a rec started or ended: the progress callback, and the progress log line for an ended rec."""
        if self.on_progress is None and (ended is None or not self.log_progress):
            return
        progress = exp.progress()
        if ended is not None and self.log_progress:
            progress_log.log_rec({**rec_dict(ended), "metric_values": exp.metric_values(ended.rec_id)}, progress,
                                 str(progress.get("metric") or "metric"))
        _guarded("on_progress", self.on_progress, progress)

    def _loop(self, exp: Experiment, plan: RunPlan, extractor: MetricExtractor | None, eval_fn: EvalFn | None,
              on_rec: Callable[[Recommendation], Any] | None,
              on_result: Callable[[Recommendation, float | None, str], Any] | None,
              before_end: Callable[[str], Any]) -> dict[str, Any]:
        """Drive the sweep to its end and close the run; ``before_end`` is called with the run's state before
        that end is stored (the trackers told first: a kill after it leaves nobody untold)."""
        release_pending(self.platform, exp.store)  # a resume: jobs whose rec ended but whose release did not happen
        if exp.reopened_ended and exp.is_complete():
            return self._nothing_left(exp, exp.reopened_ended, before_end)
        active: dict[int, _Active] = {}
        state = "interrupted"
        stop_reason: str | None = None
        _clear_stop_reason(exp)  # a resumed run: the old reason no longer holds
        try:
            try:
                self._drive(exp, plan, active, extractor, eval_fn, on_rec, on_result)
                state, stop_reason = _complete_end(exp)
            except LLMFailure as exc:  # llm_fallback: error (the brain stopped the run): status says why
                stop_reason = f"the LLM brain stopped the run: {exc.detail}"
                exp.store.set_meta({"stop_reason": stop_reason}, event="sweep_stopped")
                raise
            except _FailFast as stop:
                stop_reason = str(stop)
                new_run = stop.new_run
                log.error("%s", stop_reason)
                collected = self._cancel_all(exp, active, stop_reason, plan.metric, extractor, eval_fn, on_result)
                if collected:  # the reason above is the decision's; say what the jobs in flight turned out to be
                    stop_reason += (f" {len(collected)} job(s) in flight had ended before the cancel and kept their "
                                    f"result ({', '.join(f'rec {i}: {s}' for i, s in collected)}).")
                exp.store.set_meta({"stop_reason": stop_reason, NEW_RUN_NEEDED: new_run}, event="sweep_stopped")
                state = "failed"
            if state == "finished":
                _delete_intermediate(exp)
        finally:
            try:
                before_end(state)
            finally:  # a Ctrl-C in it still closes the run
                summary = _ended_summary(exp, state, stop_reason)
            crash_point("run_ended")  # chaos tests: the run's end is stored, status.json not yet written
            _guarded("on_progress", self.on_progress, summary["progress"])  # the ended run's line: no ETA
        return summary

    def _nothing_left(self, exp: Experiment, state: str, before_end: Callable[[str], Any]) -> dict[str, Any]:
        """A resumed run that had ended with every rec of its budget ended: nothing is launched, and the run keeps
        how and when it ended (a failed run stays failed, its stop reason stays), so the result is the one it had;
        ``before_end`` is called with that state before it is stored again."""
        progress = exp.progress()
        why = (f"its {exp.n_created} recs, every rec of its budget, have all ended" if budget_spent(progress) else
               f"its {exp.n_created} recs have all ended and its brain proposed no more before its budget of "
               f"{progress.get('total')}")
        log.warning("run %s has nothing left to run: %s (state %s, kept); nothing is launched", exp.run_dir.name, why,
                    state)
        try:
            before_end(state)
        finally:  # a Ctrl-C in it still closes the run as it had ended
            summary = _ended_summary(exp, state, exp.store.meta().get("stop_reason"))
        return summary

    def _drive(self, exp: Experiment, plan: RunPlan, active: dict[int, _Active], extractor: MetricExtractor | None,
               eval_fn: EvalFn | None, on_rec: Callable[[Recommendation], Any] | None,
               on_result: Callable[[Recommendation, float | None, str], Any] | None) -> None:
        """Keep the slots full until the budget is spent and every job has ended."""
        ahead = FoldersAhead(exp.run_dir, spec_file_name(self.skill))
        waiting = _Waiting()
        try:
            self._resume_in_flight(exp, plan, active, on_rec, on_result, ahead, waiting)
            exits = getattr(self.platform, "exits_seen", None)  # LocalSDK: ended jobs counted, read without waiting
            exits = exits if callable(exits) else None
            seen = exits() if exits else 0
            try:
                self._keep_full(exp, plan, active, extractor, eval_fn, on_rec, on_result, ahead, exits, seen,
                                waiting)
            except _FailFast as stop:  # the recs that never got room end with the sweep (a resume would launch them)
                for rec in waiting.recs:
                    self._finish(exp, rec, None, "cancelled", f"cancelled before its job was created: {stop}",
                                 on_result)
                raise
        finally:
            ahead.remove_unused()

    def _resume_in_flight(self, exp: Experiment, plan: RunPlan, active: dict[int, _Active],
                          on_rec: Callable[[Recommendation], Any] | None,
                          on_result: Callable[[Recommendation, float | None, str], Any] | None,
                          ahead: FoldersAhead, waiting: _Waiting) -> None:
        """Resume: re-attach to the jobs of the recs that were in flight, or submit those that had none yet (those the
        platform has no room for join ``waiting``)."""
        for row in exp.unfinished():
            rec = Recommendation(id=row.rec_id, params=row.params, specs=row.specs, job_id=row.job_id)
            if row.job_id:
                log.info("rec %d: re-attaching to job %s", row.rec_id, row.job_id)
                exp.store.log_event("job_reattached", row.rec_id, job_id=row.job_id)
                item = _Active(rec, row.job_id, row.results_dir, JobStatus.parse(row.status),
                               started_at=row.submitted_at or time.time(), limit_s=self._limit(exp, row.rec_id),
                               reattached=True, running_since=_seen_running_at(exp, row))
                epochs = [e["payload"]["epoch"] for e in exp.store.events("epoch_metric", row.rec_id)]
                item.polled = {str(e["payload"]["metric"]): float(e["payload"]["value"])
                               for e in exp.store.events(METRIC_POLLED, row.rec_id)}  # the last one per metric
                item.last_epoch = max(epochs, default=0)
                if row.rec_id in exp.replayed_stops:  # stopped by the rule before a crash lost the decision
                    persisted = item.last_epoch
                    item.last_epoch, item.last_value = exp.replayed_stops[row.rec_id]
                    if self._still_training(exp, item, plan.metric, persisted=persisted) \
                            and self._stop(exp, item, plan.metric, on_result):
                        continue
                active[row.rec_id] = item
            elif waiting.recs:  # the platform had no room for an earlier one: this one waits behind it
                waiting.recs.append(rec)
            else:
                launched = self._launch(exp, rec, plan, active, on_rec, ahead, earlier=True)
                if launched is _Launch.NO_ROOM:
                    waiting.full(exp, rec, self.clock.now())
                    waiting.recs.append(rec)
                elif launched is not _Launch.STARTED:
                    self._finish(exp, rec, None, "failure", rec.error, on_result)

    def _keep_full(self, exp: Experiment, plan: RunPlan, active: dict[int, _Active],
                   extractor: MetricExtractor | None, eval_fn: EvalFn | None,
                   on_rec: Callable[[Recommendation], Any] | None,
                   on_result: Callable[[Recommendation, float | None, str], Any] | None, ahead: FoldersAhead,
                   exits: Callable[[], int] | None, seen: int, waiting: _Waiting) -> None:
        """Launch recs into free slots, wait, collect what ended; until the budget is spent and nothing runs. A rec
        the platform has no room for (its quota is full: :class:`PlatformFullError`) waits in ``waiting``, first in
        line, and is submitted again when a job of the run ends, or after a back-off when none runs."""
        settings = exp.settings
        submit_errors = 0
        first_fill = True
        # a sweep interrupted mid-round (Ctrl-C) left the log polls that round started: never this run's to store
        self._log_polls_started = []
        while True:
            raise_pending_stop()  # a stop whose interrupt a library dropped ends the sweep here, before a launch
            while len(active) < settings.automl_max_concurrent and waiting.may_try(self.clock.now()):
                # The first fill asks for every free slot at once (a brain's initial design is drawn as one set);
                # later, a freed slot is refilled alone: its job starts without waiting for the proposals of other
                # slots that freed at the same time (at 4 recs in flight, 4 proposals before the first launch).
                new = list(waiting.recs) if waiting.recs else \
                    exp.ask(settings.automl_max_concurrent - len(active) if first_fill else 1)
                waiting.recs.clear()
                if not new:
                    break
                for rec in new:
                    if waiting.recs or len(active) >= settings.automl_max_concurrent:
                        waiting.recs.append(rec)  # no room for an earlier one (or no free slot): it waits, in order
                        continue
                    launched = self._launch(exp, rec, plan, active, on_rec, ahead)
                    if launched is _Launch.NO_ROOM:
                        waiting.full(exp, rec, self.clock.now())
                        waiting.recs.append(rec)
                        continue
                    waiting.room(rec)
                    # only the platform refusing jobs stops the sweep; a rec that could not be prepared (its spec
                    # did not render, a promotion's checkpoint is missing) fails alone, like a failed job
                    if launched is _Launch.SUBMIT_FAILED:
                        submit_errors += 1
                    elif launched is _Launch.STARTED:
                        submit_errors = 0
                    if launched is not _Launch.STARTED:
                        self._finish(exp, rec, None, "failure", rec.error, on_result)
                    if submit_errors >= MAX_CONSECUTIVE_SUBMIT_ERRORS:
                        budget = settings.automl_max_recommendations
                        counts = exp.store.count_by_status()
                        unsubmitted = counts.get(UNSUBMITTED, 0)  # created with this fill, not submitted yet
                        left = max(0, budget - sum(counts.values())) + unsubmitted
                        created = f" ({unsubmitted} of them created but not submitted yet)" if unsubmitted else ""
                        raise PlatformError(
                            f"{submit_errors} job submissions failed in a row; last error: "
                            f"{rec.error}. Stopping the sweep (resume it once the platform works); the "
                            f"{submit_errors} recs whose submission failed count against automl_max_recommendations "
                            f"({budget}) as failed recs: a resume launches the {left} left{created}",
                            hint=f"read the recs' messages in `tao-automl status {sh(exp.run_dir)} --recs all`; "
                                 f"`{resume_command(exp.run_dir)}` once the platform works")
            first_fill = False
            if not active:
                if not waiting.recs:
                    return
                waiting.check_idle(exp, self.clock.now())
                self.clock.sleep(max(0.0, waiting.retry_at - self.clock.now()))  # nothing of ours runs: back off
                continue
            if exp.n_created < exp.budget:  # what the next launches create on disk, made while the jobs run
                ahead.make(range(exp.n_created + 1,
                                 min(exp.budget, exp.n_created + settings.automl_max_concurrent) + 1))
                _guarded("prepare_next_job", getattr(self.platform, "prepare_next_job", None))
            # the brain's next-proposal work runs while the jobs do, and gives way as soon as one of them ends
            with _quick_thread_switches():
                exp.prepare(_changed_since(exits, seen) if exits else None)
            self._wait(active, settings.poll_interval_s)
            _check_still_there(exp.run_dir)
            seen = exits() if exits else 0
            running = len(active)
            for rec_id in list(active):
                self._poll(exp, active, rec_id, plan.metric, extractor, eval_fn, on_result)
            self._settle_log_polls(exp)
            if len(active) < running:  # a job of the run ended: its room is the waiting rec's
                waiting.job_ended(self.clock.now())

    def _launch(self, exp: Experiment, rec: Recommendation, plan: RunPlan,
                active: dict[int, _Active], on_rec: Callable[[Recommendation], Any] | None,
                ahead: FoldersAhead | None = None, earlier: bool = False) -> _Launch:
        """Render ``rec``'s job and submit it (in the folder made ahead for it, if any); on failure ``rec.error``
        says why. ``earlier``: the rec was created by an earlier process, which may have submitted its job before it
        died (the platform then returns that job, submitted when its record says)."""
        crash_point("rec_created")  # chaos tests: the rec is persisted, its job not yet submitted
        if ahead is not None:
            ahead.take(rec.id)
        rec_dir = rec_folder(exp.run_dir, rec.id)
        results_dir = rec_dir / "results"
        trial = exp.trial(rec.id)
        resume_path: str | None = None
        ctx = plan.budget_context(trial.budget)
        if trial.parent is not None and resumes_from_checkpoint(self.skill):  # else it trains from scratch (noted)
            parent_dir = exp.refresh(trial.parent).results_dir
            checkpoint = latest_checkpoint(parent_dir) if parent_dir else None
            if checkpoint is None:
                rec.error = (f"promotion of rec {trial.parent} needs its checkpoint, but none was found "
                                      f"under {parent_dir}")
                log.error("rec %d: %s", rec.id, rec.error)
                return _Launch.NOT_PREPARED
            resume_path = str(checkpoint)
        try:
            request = render_job(self.skill, rec.params, ctx, rec_dir=rec_dir, results_dir=str(results_dir),
                                 resume_path=resume_path)
            exp.set_rendered(rec.id, request.spec, str(request.config_path),
                                   trial.budget if trial.budget is not None else spec_epochs(self.skill, request.spec))
            rec.specs = request.spec
            spec_file = self._spec_file(request.config_path)
        except UserInputError:
            raise
        except Exception as exc:
            rec.error = f"rendering the job failed: {type(exc).__name__}: {exc}"
            log.error("rec %d: %s", rec.id, rec.error)
            return _Launch.NOT_PREPARED
        kwargs = dict(plan.args.platform_kwargs)
        gpu_count = kwargs.pop("gpu_count", DEFAULT_GPU_COUNT)
        submit = dict(image=request.image, command=request.command, gpu_count=gpu_count, env_vars=None,
                      inputs=request.inputs, outputs=request.outputs, job_name=exp.job_name(rec.id), **kwargs)
        if spec_file is not None:
            submit["spec_file"] = spec_file
        asked_at = time.time()  # its job cannot start before this (a quick one may end before create_job returns)
        try:
            job = self._submit(rec, submit, str(results_dir))
        except UserInputError as exc:
            raise refused_submission(exc, rec.id, plan.args.platform_kwargs, exp.run_dir) from None
        except PlatformFullError as exc:
            rec.error = f"waiting for room on the platform: {exc}"
            return _Launch.NO_ROOM
        if job is None:
            return _Launch.SUBMIT_FAILED
        crash_point("job_created")  # chaos tests: the platform has the job, the store not yet its id
        job_results = str(getattr(job, "results_dir", "") or results_dir)
        submitted_at = self._earlier_submission(str(job.id), asked_at) if earlier else asked_at
        exp.mark_submitted(rec.id, str(job.id), job_results, submitted_at=submitted_at)
        running = self._started_at_once(exp, rec.id, str(job.id))
        rec.job_id = str(job.id)
        active[rec.id] = _Active(rec, str(job.id), job_results, limit_s=self._limit(exp, rec.id),
                                 started_at=min(submitted_at, time.time()), reattached=submitted_at < asked_at)
        if running:  # as a poll seeing it run would record it (its time limit counts from here)
            active[rec.id].status, active[rec.id].running_since = JobStatus.RUNNING, time.time()
        _guarded("on_recommendation", on_rec, rec)
        self._progress(exp, None)
        return _Launch.STARTED

    def _earlier_submission(self, job_id: str, asked_at: float) -> float:
        """When the platform's record says ``job_id`` was submitted, if before ``asked_at``: a job an orchestrator
        killed before it stored the id had submitted (found by its name now), so its time, not this resume's, is
        the rec's ``started_at``, and its end as the platform recorded it is not refused as before its start (the
        rec showed the resume's time for both, a wall time of a fraction of a second). ``submitted_at`` in the
        record (Slurm, Docker, Kubernetes), ``created_at`` (local); ``asked_at`` when there is neither."""
        try:
            info = self.platform.get_job_info(job_id)
        except Exception:
            return asked_at
        value = info.get("submitted_at", info.get("created_at")) if isinstance(info, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return asked_at
        return min(float(value), asked_at)

    def _spec_file(self, config_path: str | Path) -> dict[str, str] | None:
        """The rendered spec (path, text) for an SDK whose jobs write it where they run (``takes_spec_file``), else
        None (the job reads it at ``config_path``)."""
        if not getattr(self.platform, "takes_spec_file", False):
            return None
        return {"path": str(config_path), "text": Path(config_path).read_text(encoding="utf-8")}

    def _started_at_once(self, exp: Experiment, rec_id: int, job_id: str) -> bool:
        """A job the platform already runs as it is submitted (a local one) is counted running, not queued until the
        first poll: every local sweep's progress line said "1 in flight (1 queued)". One status read, bounded like every
        SDK call (a failing one leaves the rec pending, as before)."""
        try:
            status = JobStatus.parse(self.platform.get_job_status(job_id))
        except Exception:
            return False
        if status is not JobStatus.RUNNING:
            return False
        exp.set_status(rec_id, JobStatus.RUNNING.value)
        return True

    def _submit(self, rec: Recommendation, submit: dict[str, Any], results_dir: str) -> Any:
        """``create_job`` (retried); when it still fails, the job may exist anyway: look it up by its name."""
        try:
            job = self.platform.create_job(**submit)
            if not str(getattr(job, "id", None) or ""):
                return self._no_job(rec, f"job submission failed: create_job returned {job!r}, not a job with an .id")
            return job
        except (UserInputError, PlatformFullError):
            raise
        except Exception as exc:
            error = f"job submission failed: {type(exc).__name__}: {exc}"
        name = submit["job_name"]
        if has_lookup(self.platform):
            found = lookup_job(self.platform, name, results_dir)
        else:  # no lookup: submitting again under the same name returns the job if the platform started it
            try:
                found = self.platform.create_job(**submit)
            except UserInputError:
                raise
            except Exception as exc:
                log.warning("rec %d: re-submitting job %s failed too: %s: %s", rec.id, name, type(exc).__name__, exc)
                found = None
        if found is not None:
            log.warning("rec %d: %s; but the platform holds job %s under its name %s: tracking it", rec.id,
                        error, found.id, name)
            return found
        return self._no_job(rec, error)

    @staticmethod
    def _no_job(rec: Recommendation, error: str) -> None:
        """No job for ``rec``: the reason is its error."""
        rec.error = error
        log.error("rec %d: %s", rec.id, error)
        return None

    def _wait(self, active: Mapping[int, _Active], timeout: float) -> None:
        try:
            self.platform.wait_for_change([a.job_id for a in active.values()], timeout)
        except Exception as exc:
            log.warning("wait_for_change failed (%s); sleeping instead", exc)
            self.clock.sleep(timeout)

    def _poll(self, exp: Experiment, active: dict[int, _Active], rec_id: int, metric: str,
              extractor: MetricExtractor | None, eval_fn: EvalFn | None,
              on_result: Callable[[Recommendation, float | None, str], Any] | None) -> None:
        item = active[rec_id]
        try:
            status = JobStatus.parse(self.platform.get_job_status(item.job_id))
            item.poll_errors = 0
        except Exception as exc:
            item.poll_errors += 1
            log.warning("rec %d: status of job %s failed (%d in a row): %s", rec_id, item.job_id,
                        item.poll_errors, exc)
            if item.poll_errors < MAX_CONSECUTIVE_POLL_ERRORS:
                return
            del active[rec_id]
            self._finish(exp, item.rec, None, "failure", f"job status unreadable: {exc}", on_result)
            return
        if status != item.status and not status.is_finished():
            exp.set_status(rec_id, status.value)
            item.status = status
        if status is JobStatus.PENDING:
            item.running_since = None  # back in the queue (a Slurm requeue): its time there is not held against it
            self._note_pending(exp, item)
        elif item.running_since is None and not status.is_finished():
            item.running_since = time.time()
        if item.running_since is not None and not status.is_finished() and item.limit_s is not None \
                and time.time() - item.running_since > item.limit_s:
            self._time_out(exp, active, item, metric, on_result)
            return  # if it ended before the cancel, the next poll collects it like any ended job
        if extractor is not None and status is JobStatus.RUNNING:
            self._poll_extractor(exp, item, metric, extractor)
        if exp.scheduler.mode == STOPPING and status is JobStatus.RUNNING:
            if self._report_epochs(exp, item, metric):
                crash_point("stop_answered")  # chaos tests: the rule said stop, the decision not yet stored
                if self._stop(exp, item, metric, on_result):
                    del active[rec_id]
                # else it ended before the cancel: the next poll collects its own result
            return
        if not status.is_finished():
            return
        del active[rec_id]
        # the platform's end time (Slurm's EndTime, Docker's FinishedAt) whenever it gives one: a poll sees the end up
        # to a poll interval late, a re-attached job or a held-up loop (an LLM brain's calls) much later
        ended_at = self._ended_at(item)
        if status is JobStatus.SUCCESS:
            if item.log_poll is not None:  # a log poll read as the job ended: its number counts as any poll's
                self._take_log_poll(exp, item, LAST_LOG_POLL_WAIT_S, at_end=True)
            if exp.scheduler.mode == STOPPING:
                self._report_epochs(exp, item, metric)  # epochs written after the last poll
            values: dict[str, float | None] | None = None
            sources: dict[str, str] = {}
            names = [o["name"] for o in exp.objectives] if exp.objectives else [metric]
            answers = self._read_ended_log(item, names, extractor) if extractor is not None else None
            if isinstance(answers, str):  # the extractor did not answer in time: the rec fails saying so
                values = dict.fromkeys(names) if exp.objectives else None
                sources = dict.fromkeys(names, answers) if exp.objectives else {}
                value, source = None, answers
            elif exp.objectives:  # a list of metrics: read each; the first is the rec's metric column
                values, sources = extract_metrics(self.platform, item.job_id, item.results_dir, names, answers,
                                                  self.skill.metric_file, item.polled)
                value = values[exp.objectives[0]["name"]]
                source = ",".join(dict.fromkeys(sources.values()))
            else:
                value, source = extract_metric(self.platform, item.job_id, item.results_dir, metric, answers,
                                               self.skill.metric_file, kpi_line=exp.settings.metric == KPI,
                                               polled=item.polled.get(metric))
            if eval_fn is not None:
                try:
                    evaluated = eval_fn(item.rec, item.job_id)
                    if isinstance(evaluated, numbers.Real) and not isinstance(evaluated, bool):
                        value, source = float(evaluated), "eval_fn"
                        if values is not None:  # a list of metrics: it is the first one's (the rec's metric column)
                            values = {**values, exp.objectives[0]["name"]: value}
                            sources = {**sources, exp.objectives[0]["name"]: source}
                    elif evaluated is not None:  # eval_fn -> float | None: a flag or a text is not a metric
                        log.warning("rec %d: eval_fn returned %r (%s), not a number; using the extracted value",
                                    rec_id, evaluated, type(evaluated).__name__)
                except Exception as exc:
                    log.warning("rec %d: eval_fn raised %s: %s; using the extracted value", rec_id,
                                type(exc).__name__, exc)
            name, got = metric, value
            if values is not None:  # a list of metrics: the first without a finite value is named, as one metric is
                name, got = next(((n, v) for n, v in values.items() if not is_valid_metric(v)), (name, got))
            message = self._value_message(item, name, got, sources.get(name, source))
            # a success at the epoch its metric was measured; with no (finite) metric a failure, recorded at the
            # epochs its job reported, as a crashed one is
            reached = (self._epochs_reported(exp, item, metric) if is_valid_metric(got) else
                       self._epochs_before_failure(exp, item, metric))
            crash_point("metric_read")  # chaos tests: the job ended and its metric was read, nothing stored yet
            exp.store.log_event("metric", rec_id, value=value, source=source)
            self._finish(exp, item.rec, value, "success", message, on_result, values, ended_at=ended_at,
                         budget=reached)
        elif status is JobStatus.FAILURE:
            self._finish(exp, item.rec, None, "failure", self._failure_message(item.job_id), on_result,
                         ended_at=ended_at, budget=self._epochs_before_failure(exp, item, metric))
        else:
            self._cancelled(exp, item, metric, on_result, ended_at)

    def _poll_extractor(self, exp: Experiment, item: _Active, metric: str, extractor: MetricExtractor) -> None:
        """The metric extractor on the running job's log (SPEC 2.1: it is called on log polls; at most every
        :data:`EXTRACTOR_POLL_EVERY_S`), on a thread of its own (:class:`LogPoll`): a slow extractor or log fetch
        holds up no poll of any rec. A poll that has ended is taken up here (:meth:`_take_log_poll`) and the next one
        starts when due; one still running is left to run."""
        if item.log_poll is not None:
            self._take_log_poll(exp, item)
        if item.log_poll is not None or time.monotonic() < item.extractor_due:
            return
        item.extractor_due = time.monotonic() + EXTRACTOR_POLL_EVERY_S
        job_id = item.job_id
        item.log_poll = LogPoll(lambda: safe_logs(self.platform, job_id), extractor,
                                [o["name"] for o in exp.objectives] if exp.objectives else [metric],
                                f"log-poll-rec-{item.rec.id}")
        self._log_polls_started.append(item)

    def _read_ended_log(self, item: _Active, names: list[str],
                        extractor: MetricExtractor) -> dict[str, object] | str:
        """The extractor's answer per metric on the ended job's log (what it returned, or raised), read as a log
        poll is, on a thread of its own, waited for up to :data:`ENDED_LOG_READ_LIMIT_S`: an extractor (or a log
        fetch) that hangs holds up the sweep no longer. Past that limit, why the rec fails (the thread is left to
        end by itself; what it answers then is dropped)."""
        job_id = item.job_id
        answer = LogPoll(lambda: safe_logs(self.platform, job_id), extractor, names,
                         f"ended-log-read-rec-{item.rec.id}").take(ENDED_LOG_READ_LIMIT_S)
        if answer is not None:
            return answer.answers
        log.warning("rec %d: metric_extractor gave no answer on the ended job's log within %g s; the rec fails and "
                    "the sweep goes on", item.rec.id, ENDED_LOG_READ_LIMIT_S)
        return (f"metric_extractor gave no answer on the ended job's log (job {job_id}) within "
                f"{ENDED_LOG_READ_LIMIT_S:g} s, the limit on that call")

    def _settle_log_polls(self, exp: Experiment) -> None:
        """After a round of polls: the log polls it started, each taken up as soon as it has returned, within
        :data:`ROUND_LOG_POLL_WAIT_S` in all (those still running are taken up by a later poll of their rec)."""
        started, self._log_polls_started = self._log_polls_started, []
        deadline = time.monotonic() + ROUND_LOG_POLL_WAIT_S
        for item in started:
            if item.log_poll is not None:
                self._take_log_poll(exp, item, max(0.0, deadline - time.monotonic()))

    def _take_log_poll(self, exp: Experiment, item: _Active, wait_s: float = 0.0, at_end: bool = False) -> None:
        """The answer of ``item``'s log poll (waiting up to ``wait_s`` for it): its last number per metric is kept for
        the job's end, when the platform may have dropped the log, and stored as read (a resume after a kill takes it
        up); an exception is logged once per rec and polling goes on. A poll still running is left to run (``at_end``:
        the job has ended, and the warning says its end is read without it)."""
        assert item.log_poll is not None
        answer = item.log_poll.take(wait_s)
        if answer is None:
            if at_end:
                log.warning("rec %d: the metric_extractor's log poll still runs after %.0f s; the job's end is read "
                            "without it", item.rec.id, wait_s)
            return
        item.log_poll = None
        if answer.raised is not None and not item.extractor_raised:
            log.warning("rec %d: metric_extractor raised %s on a log poll: %s; polling goes on",
                        item.rec.id, type(answer.raised).__name__, answer.raised)
            item.extractor_raised = True
        for name, number in answer.numbers.items():
            if number is not None and not _same_number(item.polled.get(name), number):
                # stored as read: a resume after a kill takes it up for a job whose log is gone by then
                exp.store.log_event(METRIC_POLLED, item.rec.id, metric=name, value=number)
                item.polled[name] = number

    def _value_message(self, item: _Active, metric: str, value: float | None, source: str) -> str | None:
        """Why an ended job's ``metric`` (read from ``source``) is no result: none reported (where it was looked
        for), or not a finite number (where it was read); None when it is one."""
        if value is None:
            return source if source.startswith("metric_extractor") else missing_metric_message(
                self.platform, item.job_id, item.results_dir, metric, self.skill.metric_file)
        if not math.isfinite(value):
            return (f"metric {metric!r} is not a finite number ({value}): the last value the job reported "
                    f"(read from {_source_words(source, item.results_dir)})")
        return None

    def _epochs_reported(self, exp: Experiment, item: _Active, metric: str) -> int | None:
        """The last epoch an ended job reported in its status.json when that is not the epoch budget it was given
        (a trainer that stopped early by itself, or one that never read the epoch key), else None: the rec's metric
        was measured there, and it is recorded (and, multi-fidelity, ranked) at that epoch. The budget is the
        trial's, else the epochs its rendered spec asked for (single-fidelity brains); none: nothing to compare.
        A status.json with no epochs (a job whose metric is only in its log): the last epoch its log names up to
        the line of the value read (:func:`epochs_from_logs`); a log that names none: the budget (None), as
        nothing tells a job that trained it all from one that did not."""
        found = self._last_epoch(exp, item, metric)
        if found is None:
            return None
        reached, planned, where = found
        if reached == planned:
            return None
        if reached > planned:
            log.warning("rec %d: its job reported epoch %d (in %s) but was given a budget of %d epochs at %r: the "
                        "trainer may not read that key; the rec is recorded at epoch %d", item.rec.id, reached, where,
                        planned, epoch_key(self.skill), reached)
        else:
            log.info("rec %d: its job ended at epoch %d of the %d it was given (%s); its result is recorded at epoch "
                     "%d", item.rec.id, reached, planned, where, reached)
        return reached

    def _epochs_before_failure(self, exp: Experiment, item: _Active, metric: str) -> int | None:
        """The epochs a failed job is known to have trained: the last it reported (its status.json, else its log, as
        :meth:`_epochs_reported` reads them), recorded as the rec's ``budget_reached``; None when it reported none."""
        try:
            found = self._last_epoch(exp, item, metric, ended_well=False)
        except Exception as exc:  # what it trained is a detail of a failure: never one that stops the sweep
            log.warning("rec %d: the epochs its failed job reached could not be read: %s", item.rec.id, exc)
            return None
        return found[0] if found is not None and found[0] > 0 else None

    def _last_epoch(self, exp: Experiment, item: _Active, metric: str,
                    ended_well: bool = True) -> tuple[int, int, str] | None:
        """``(last epoch the ended job reported, the epochs it was given, where it was read)``, or None when it was
        given no epoch budget or reported no epoch (see :meth:`_epochs_reported`). ``ended_well``: a job that ended
        a success (its missing epochs are told once in stopping mode: the rule cannot compare such recs)."""
        trial = exp.trial(item.rec.id)
        planned = trial.budget
        if planned is None:
            row = exp.store.rec(item.rec.id)
            planned = row.budget if row is not None else None
        if planned is None:
            return None
        text = read_results_file(self.platform, item.job_id, item.results_dir, STATUS_FILE)
        records = status_lines(text) if text else []
        if any(r.get("kpi") for r in records):  # epochs trained are the lines with values: a "STARTED" line is none
            records = [r for r in records if r.get("kpi")]
        records = since_restart(records, metric)
        epochs = valued_epochs(records)
        if not epochs and ended_well and exp.scheduler.mode == STOPPING and not self._said_blind:
            self._said_blind = True  # once per run: every rec of it reads the same way
            log.warning("rec %d: its job wrote no per-epoch values to %s/%s (its metric came from its log), so "
                        "stopping mode cannot compare recs while they train and stops none; write a line "
                        "{\"epoch\": N, \"kpi\": {\"%s\": value}} there per epoch", item.rec.id, item.results_dir,
                        STATUS_FILE, exp.settings.metric)
            exp.store.log_event("stopping_blind", item.rec.id, status_file=STATUS_FILE)
        where = f"its {STATUS_FILE}"
        if epochs:
            reached = max(epochs)
            if _counts_from_zero(epochs, records, planned, self._start_epoch(exp, trial)):
                reached += 1
        else:
            logged = epochs_from_logs(safe_logs(self.platform, item.job_id), metric)
            if not logged:
                return None
            where = "its log"
            reached = max(logged)
            if min(logged) == self._start_epoch(exp, trial) and reached < planned:  # counts from 0 (or N resumed)
                reached += 1
        return reached, planned, where

    def _start_epoch(self, exp: Experiment, trial: Trial) -> int:
        """Epochs a rec's job had trained before it started: its parent's, when it resumed the parent's checkpoint
        (a promotion, a pbt member), else 0."""
        if trial.parent is None or not resumes_from_checkpoint(self.skill):
            return 0
        parent = exp.store.rec(trial.parent)
        return int(parent.budget_reached or 0) if parent is not None else 0

    def _epoch_shift(self, exp: Experiment, item: _Active, records: list[dict[str, Any]], metric: str) -> int:
        """1 when a training job's status.json counts epochs from 0, read by :func:`_counts_from_zero` as a
        finished job's is (TAO's status logger, which declares ``max_epoch`` = the epoch budget - 1, or a line at
        epoch 0 with values, as Lightning's ``current_epoch`` writes it): its epoch ``e`` is the ``e + 1``-th
        trained, and stopping mode judges, records and stops it there; else 0."""
        trial = exp.trial(item.rec.id)
        planned = trial.budget
        if planned is None:
            return 0
        epochs = valued_epochs(records) if kpi_series(records, metric) else []
        return int(bool(epochs) and _counts_from_zero(epochs, records, planned, self._start_epoch(exp, trial)))

    def _note_pending(self, exp: Experiment, item: _Active) -> None:
        """Record why the platform keeps a job queued (its ``pending_reason``: Slurm's Reason), when it changes:
        ``status`` shows it, the orchestrator log says it. Looked at every :data:`PENDING_REASON_EVERY_S`."""
        now = time.monotonic()
        if now < item.reason_due:
            return
        item.reason_due = now + PENDING_REASON_EVERY_S
        try:
            reason = self.platform.get_job_info(item.job_id).get("pending_reason")
        except Exception:  # the status poll reports a platform that fails
            return
        if not reason or str(reason) == item.pending_reason:
            return
        item.pending_reason = str(reason)
        exp.store.log_event(JOB_PENDING, item.rec.id, job_id=item.job_id, reason=item.pending_reason)
        log.warning("rec %d: job %s waits in the platform's queue: %s", item.rec.id, item.job_id, item.pending_reason)

    def _ended_at(self, item: _Active) -> float | None:
        """When the platform says the job ended (a re-attached job may have ended while no orchestrator ran, a job
        of a held-up loop while it was held up), or None when it does not say, or says something impossible."""
        try:
            value = self.platform.get_job_info(item.job_id).get("finished_at")
        except Exception:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(value) if item.started_at <= value <= time.time() else None

    def _report_epochs(self, exp: Experiment, item: _Active, metric: str) -> bool:
        """Feed new per-epoch values from status.json to the scheduler; True when it says stop (and the job is
        still training: see :meth:`_still_training`)."""
        text = read_results_file(self.platform, item.job_id, item.results_dir, STATUS_FILE)
        if not text:
            return False
        records = status_lines(text)
        shift = self._epoch_shift(exp, item, records, metric)
        for raw, value in kpi_series(records, metric):
            epoch = None if raw is None else raw + shift
            if epoch is None or epoch <= item.last_epoch or not math.isfinite(value):
                continue
            item.last_epoch, item.last_value = epoch, value
            if exp.report_epoch(item.rec.id, epoch, value):
                return self._still_training(exp, item, metric)  # read afresh: the job trained on meanwhile
        return False

    def _still_training(self, exp: Experiment, item: _Active, metric: str,
                        records: list[dict[str, Any]] | None = None, persisted: int | None = None) -> bool:
        """After the rule said stop at ``item.last_epoch``: a job may have trained past that epoch before a poll
        read it. The later epochs are persisted and reported like any (the rule's answer for them no longer
        matters; a resume replays them the same way). If its status.json says training has finished (a
        ``SUCCESS`` record, or its planned budget reached), False: it is not stopped, and its own final result is
        collected when it ends. Otherwise True, with ``item`` moved to the last epoch the job reached (a stopped
        rec records where it was stopped, not the earlier epoch the rule judged). ``persisted``: the last epoch
        already persisted (default: the judged one)."""
        if records is None:
            text = read_results_file(self.platform, item.job_id, item.results_dir, STATUS_FILE)
            records = status_lines(text) if text else []
        judged = item.last_epoch
        persisted = judged if persisted is None else persisted
        shift = self._epoch_shift(exp, item, records, metric)
        for raw, value in kpi_series(records, metric):
            epoch = None if raw is None else raw + shift
            if epoch is not None and epoch > item.last_epoch and math.isfinite(value):
                item.last_epoch, item.last_value = epoch, value
                if epoch > persisted:
                    exp.report_epoch(item.rec.id, epoch, value)
        finished = any(str(record.get("status", "")).upper() == "SUCCESS" for record in records)
        budget = exp.trial(item.rec.id).budget
        if finished or (budget is not None and item.last_epoch >= budget):
            log.info("rec %d: the %s rule would stop it at epoch %d, but its status.json says training has "
                     "finished (epoch %d); collecting its own result", item.rec.id, exp.settings.algorithm, judged,
                     item.last_epoch)
            return False
        return True

    def _stop(self, exp: Experiment, item: _Active, metric: str,
              on_result: Callable[[Recommendation, float | None, str], Any] | None) -> bool:
        """End a rec early (stopping rule): cancel its job, record its last value as ``stopped``. False (nothing
        recorded) when the platform answers that the job had ended before the cancel: the job's own result is then
        collected like any ended job's, never replaced by an earlier epoch's value.

        The decision is persisted before the cancel: a job found cancelled later (a crash came between the cancel
        and the record) still ends as stopped. The job trains on until the cancel reaches it, so its status.json
        is read again once it is cancelled: the rec is recorded at the last epoch the job reached, with that
        epoch's value (see :meth:`_reached`).
        """
        judged = item.last_epoch
        message = _stopped_message(exp.settings.algorithm, judged, judged)
        exp.store.log_event("stop_decided", item.rec.id, epoch=item.last_epoch, value=item.last_value,
                            message=message)
        crash_point("stop_decided")  # chaos tests: the stop is decided and stored, the job not yet cancelled
        if not self._cancel(item, "job"):
            log.info("rec %d: job %s ended before the stop reached it; collecting its own result", item.rec.id,
                     item.job_id)
            return False
        crash_point("stop_cancelled")  # chaos tests: the job is cancelled, where it ended not yet read
        epoch, value = self._reached(exp, item, metric, judged, item.last_value)
        self._end_stopped(exp, item.rec, value, epoch, _stopped_message(exp.settings.algorithm, judged, epoch),
                          on_result, self._ended_at(item))
        return True

    def _reached(self, exp: Experiment, item: _Active, metric: str, judged: int,
                 value: float | None) -> tuple[int, float | None]:
        """Where a job cancelled by the stopping rule at epoch ``judged`` (with ``value``) had got to: the last
        epoch its status.json reports from ``judged`` on, and that epoch's value (a job trains on between the poll
        that read it and the cancel reaching it). Epochs past ``item.last_epoch`` (the last one persisted) are
        persisted and reported like any, before the rec's end is recorded (a resume replays them the same way).
        ``(judged, value)`` when status.json says nothing more (or cannot be read)."""
        text = read_results_file(self.platform, item.job_id, item.results_dir, STATUS_FILE)
        reached: tuple[int, float | None] = (judged, value)
        records = status_lines(text) if text else []
        shift = self._epoch_shift(exp, item, records, metric)
        for raw, seen in kpi_series(records, metric):
            if raw is None or not math.isfinite(seen):
                continue
            epoch = raw + shift
            if epoch > item.last_epoch:
                item.last_epoch, item.last_value = epoch, seen
                exp.report_epoch(item.rec.id, epoch, seen)  # the rule's answer no longer matters
            if epoch >= reached[0]:
                reached = (epoch, seen)
        if reached[0] != judged:
            log.info("rec %d: the %s rule stopped it at epoch %d, but its job had reached epoch %d when the cancel "
                     "took effect; it is recorded there", item.rec.id, exp.settings.algorithm, judged, reached[0])
        return reached

    def _end_stopped(self, exp: Experiment, rec: Recommendation, value: float | None, epoch: int, message: str,
                     on_result: Callable[[Recommendation, float | None, str], Any] | None,
                     ended_at: float | None = None) -> None:
        row = exp.tell(rec.id, value, "stopped", message, budget=epoch, finished_at=ended_at)
        rec.status, rec.metric_value = str(row.status), row.metric_value  # a plain str, as results show it
        _guarded("on_result", on_result, rec, row.metric_value, rec.status)
        self._progress(exp, row)
        self._release(exp, rec)

    def _cancelled(self, exp: Experiment, item: _Active, metric: str,
                   on_result: Callable[[Recommendation, float | None, str], Any] | None,
                   ended_at: float | None = None) -> None:
        """A job found cancelled: by this runner's stop or timeout decision (made before a crash), by a cancel
        whose decision was recorded (``stop --cancel-jobs``, a sweep that failed fast) and not its end, or by someone;
        ``ended_at``: the platform's end time when this process saw the end late (a job cancelled while no
        orchestrator ran ended then, not at the resume). A stopped one is recorded at the last epoch it reached
        (:meth:`_reached`), as :meth:`_stop` records it; a cancelled or timed-out one at the epochs it reported."""
        rec_id = item.rec.id
        decided = sorted((e for kind in ("stop_decided", "timeout_decided") for e in exp.store.events(kind, rec_id)),
                         key=lambda e: e["seq"])
        if decided and decided[-1]["kind"] == "stop_decided":
            p = decided[-1]["payload"]
            judged = int(p["epoch"])
            epoch, value = self._reached(exp, item, metric, judged, p["value"])
            message = str(p["message"]) if epoch == judged else _stopped_message(exp.settings.algorithm, judged,
                                                                                  epoch)
            self._end_stopped(exp, item.rec, value, epoch, message, on_result, ended_at)
        elif decided:  # a timeout: a failure at the epochs it reported, as one recorded before the crash
            self._finish(exp, item.rec, None, "failure", str(decided[-1]["payload"]["message"]), on_result,
                         ended_at=ended_at, budget=self._epochs_before_failure(exp, item, metric))
        elif cancels := exp.store.events(CANCEL_DECIDED, rec_id):
            # `stop --cancel-jobs` or this sweep's own stop (fail fast) cancelled it, and a crash came before the
            # rec's end was recorded
            self._finish(exp, item.rec, None, "cancelled", str(cancels[-1]["payload"]["message"]), on_result,
                         ended_at=ended_at, budget=self._epochs_before_failure(exp, item, metric))
        else:
            self._finish(exp, item.rec, None, "cancelled", self._cancelled_by_someone(item), on_result,
                         ended_at=ended_at, budget=self._epochs_before_failure(exp, item, metric))

    def _cancelled_by_someone(self, item: _Active) -> str:
        """Why a job this sweep did not cancel ended cancelled: by someone outside it, in the platform's words."""
        try:
            analysis = self.platform.get_failure_analysis(item.job_id) or {}
        except Exception:  # the platform's account is a detail: the cause is known
            analysis = {}
        said = " ".join(str(analysis.get("message") or "").split()).rstrip(".")
        return ("cancelled outside this sweep (not by its stop rule, a timeout or `tao-automl stop --cancel-jobs`: "
                f"e.g. scancel, docker stop or the platform's console): {said or f'job {item.job_id} was cancelled'}")

    def _limit(self, exp: Experiment, rec_id: int) -> float | None:
        """The rec's job timeout: automl_job_timeout_s scaled to its budget (multi-fidelity)."""
        return job_timeout(exp.settings.automl_job_timeout_s, exp.trial(rec_id).budget, exp.settings.automl_max_epochs)

    def _time_out(self, exp: Experiment, active: dict[int, _Active], item: _Active, metric: str,
                  on_result: Callable[[Recommendation, float | None, str], Any] | None) -> None:
        """Cancel a job that ran past its limit; the rec leaves ``active`` and fails with a message naming the
        timeout, at the epochs it reported (its ``budget_reached``, as any failed job's). Nothing is recorded (it
        stays in ``active``) when the platform answers that the job had ended before the cancel: its result is not
        lost. The rec leaves ``active`` before its failure is recorded, as
        recording it may stop the sweep (fail fast), which then cancels what is still in ``active``."""
        assert item.limit_s is not None and exp.settings.automl_job_timeout_s is not None
        message = timeout_message(item.limit_s, exp.settings.automl_job_timeout_s, exp.trial(item.rec.id).budget)
        exp.store.log_event("timeout_decided", item.rec.id, message=message)
        if not self._cancel(item, "timed-out job"):
            return
        del active[item.rec.id]
        log.error("rec %d: %s", item.rec.id, message)
        self._finish(exp, item.rec, None, "failure", message, on_result, ended_at=self._ended_at(item),
                     budget=self._epochs_before_failure(exp, item, metric))

    def _cancel(self, item: _Active, what: str) -> bool:
        """Cancel ``item``'s job; False only when the platform answers that it had already ended (a failed cancel
        is logged and counts as done, as the job is then left to the platform)."""
        try:
            return self.platform.cancel_job(item.job_id) is not False
        except Exception as exc:
            log.warning("rec %d: cancelling %s %s failed: %s", item.rec.id, what, item.job_id, exc)
            return True

    def _cancel_all(self, exp: Experiment, active: dict[int, _Active], reason: str, metric: str,
                    extractor: MetricExtractor | None, eval_fn: EvalFn | None,
                    on_result: Callable[[Recommendation, float | None, str], Any] | None) -> list[tuple[int, str]]:
        """Cancel every job in flight (the sweep stops); each rec ends ``cancelled`` with ``reason``. A job that
        ended before its cancel is collected like any ended job instead; if even that fails, its rec is left as it
        is for ``resume`` to collect (never recorded as cancelled: its result would be lost). Returns the
        ``(rec id, status)`` of each job that had ended (for one left for ``resume``, a status that says so)."""
        collected: list[tuple[int, str]] = []
        items = list(active.items())
        for rec_id, item in items:
            # recorded first: a crash between the cancel and the rec's end leaves its job cancelled, and the resume
            # that finds it so reads why here (:meth:`_cancelled`)
            exp.store.log_event(CANCEL_DECIDED, rec_id, job_id=item.job_id, message=f"cancelled: {reason}")
        # all at once: each cancel waits until its job has stopped (up to the platform's grace period)
        gone = dict(zip([rec_id for rec_id, _ in items], at_once(lambda pair: self._cancel(pair[1], "job"), items,
                                                                 "cancel"), strict=True))
        for rec_id, item in items:
            if not gone[rec_id]:
                log.info("rec %d: job %s ended before the cancel; collecting its result", rec_id, item.job_id)
                with contextlib.suppress(_FailFast):  # the sweep is stopping already
                    self._poll(exp, active, rec_id, metric, extractor, eval_fn, on_result)
                if active.pop(rec_id, None) is not None:
                    exp.store.log_event(JOB_ENDED_UNCOLLECTED, rec_id, job_id=item.job_id)
                    collected.append((rec_id, f"not collected, `{resume_command(exp.run_dir)}` collects it"))
                else:
                    collected.append((rec_id, RecStatus(exp.refresh(rec_id).status).value))
                continue
            del active[rec_id]
            row = exp.tell(rec_id, None, "cancelled", f"cancelled: {reason}", finished_at=self._ended_at(item),
                           budget=self._epochs_before_failure(exp, item, metric))  # the epochs it trained
            item.rec.status = str(row.status)  # a plain str, as results show it
            _guarded("on_result", on_result, item.rec, None, item.rec.status)
            self._progress(exp, row)
            self._release(exp, item.rec)
        return collected

    def _check_fail_fast(self, exp: Experiment, row: RecRow) -> None:
        """Raise :class:`_FailFast` when ``row`` (just finished) is the K-th failure of one cause and no rec has
        succeeded (checked only until one does)."""
        k = exp.settings.automl_fail_fast_after
        if k <= 0 or row.status != "failure" or exp.n_finished < k or exp.n_with_metric > 0:
            return
        finished = exp.store.first_finished(exp.n_finished)
        first = shared_cause(finished, k)
        if first is not None:
            raise _FailFast(fail_fast_message(first, k, finished, exp.run_dir, exp.work_left, _spent(exp)),
                            new_run=needs_new_run(first.message or ""))

    def _failure_message(self, job_id: str) -> str:
        try:
            analysis = self.platform.get_failure_analysis(job_id) or {}
        except Exception as exc:
            return f"job failed (failure analysis unavailable: {exc})"
        if not isinstance(analysis, Mapping):  # a custom SDK's text, or a wrong type: the protocol names a dict
            return (f"job failed (failure analysis unavailable: {type(unwrap(self.platform)).__name__}."
                    f"get_failure_analysis returned {analysis!r}, not a dict with 'message'/'exit_code')")
        code = analysis.get("exit_code")
        if analysis.get("message") or code is not None:
            return str(analysis.get("message") or f"job failed (exit code {code})")
        # the platform says nothing: the job's own last words (a missing command, a traceback's last line)
        last = next((line.strip() for line in reversed(plain_lines(safe_logs(self.platform, job_id)))
                     if line.strip()), None)  # as text: terminal escapes and control characters removed
        said = f"; its log ends: {last}" if last else ""
        return f"job failed (the platform gave no message or exit code){said}"

    def _finish(self, exp: Experiment, rec: Recommendation, value: float | None, status: str,
                message: str | None, on_result: Callable[[Recommendation, float | None, str], Any] | None,
                values: Mapping[str, float | None] | None = None, *, ended_at: float | None = None,
                budget: int | None = None) -> None:
        row = exp.tell(rec.id, value, status, message, values=values, finished_at=ended_at, budget=budget)
        rec.status, rec.metric_value = str(row.status), row.metric_value  # a plain str, as results show it
        rec.message, rec.metric_values = row.message, exp.metric_values(rec.id)
        _guarded("on_result", on_result, rec, row.metric_value, rec.status)
        self._progress(exp, row)
        self._release(exp, rec)
        self._check_fail_fast(exp, row)

    def _release(self, exp: Experiment, rec: Recommendation) -> None:
        """Release ``rec``'s job (its result is stored): :func:`tao_automl.runner.release.release`."""
        if rec.job_id and releases_jobs(self.platform):
            crash_point("result_stored")  # chaos tests: the rec's result is stored, its job not yet released
            release(self.platform, exp.store, rec.id, rec.job_id)


def _stopped_message(algorithm: str, judged: int, reached: int) -> str:
    """A stopped rec's message: the epoch the rule judged it at, and the later one its job reached, if any."""
    if reached == judged:
        return f"stopped early at epoch {judged} by the {algorithm} rule"
    return (f"stopped early at epoch {reached} by the {algorithm} rule (judged at epoch {judged}; its job trained on "
            f"to epoch {reached} before the cancel reached it)")


def _seen_running_at(exp: Experiment, row: RecRow) -> float | None:
    """When the run recorded the rec's job running since it last left the queue (its ``status`` events: a job sent
    back to the queue, a Slurm requeue, runs anew; the submission if it says running without one), or None (queued
    when the orchestrator stopped following it)."""
    since: float | None = None
    seen = False
    for event in exp.store.events("status", row.rec_id):
        status = (event.get("payload") or {}).get("status")
        if status == JobStatus.RUNNING.value:
            seen = True
            since = float(event["ts"]) if since is None else since
        elif status == JobStatus.PENDING.value:
            since = None
    if seen:
        return since
    return row.submitted_at if str(getattr(row.status, "value", row.status)) == JobStatus.RUNNING.value else None


def _jobs_in_run_folder(sdk: Any, run_dir: Path, meta: Mapping[str, Any] | None = None) -> None:
    """A LocalSDK whose caller chose no jobs folder keeps a run's job folders (their logs) in ``<run>/jobs``; so does
    an SDK that says its jobs may (``jobs_share_run_folder``: Slurm run on this machine, no jobs_dir chosen), and one
    that keeps job records and final logs (``keep_state_in``: Kubernetes, no state_dir chosen).

    A new run: always. A reopened one (``meta``): where the run recorded that place (a run made before this kept
    them in the cache dir, and its jobs are found there), rebased on the folder it is in now (a moved run); an SDK
    rebuilt from the record (``tao-automl resume``) is rebased too."""
    from tao_automl.platforms.local.sdk import LocalSDK

    target = unwrap(sdk)
    if isinstance(target, LocalSDK):
        key, chosen, keep = "jobs_dir", target.jobs_dir_chosen, target.keep_jobs_in
    elif hasattr(target, "jobs_share_run_folder"):  # Slurm on this machine: its job folders (script, output.log)
        key, chosen, keep = "jobs_dir", not target.jobs_share_run_folder, target.keep_jobs_in
    elif callable(getattr(target, "keep_state_in", None)):  # an SDK keeping job records and logs (Kubernetes)
        key, chosen, keep = "state_dir", target.state_dir_chosen, target.keep_state_in
    else:
        return
    if meta is None:
        if not chosen:
            keep(run_dir / "jobs")
        return
    recorded = ((meta.get("platform") or {}).get("options") or {}).get(key)
    recorded_run = meta.get("run_dir")
    if not recorded or not recorded_run or Path(recorded) != Path(recorded_run) / "jobs":
        # the cache dir or a folder the run's caller chose: an SDK given none looks there (else the jobs in flight
        # would be unknown to it, each recorded failed and its result lost); one given a folder keeps it
        if recorded and not chosen and os.path.isdir(str(recorded)):
            keep(recorded)
        return
    # read only here: a remote Slurm's jobs_dir asks the cluster for its $HOME
    if not chosen or Path(getattr(target, key)) == Path(recorded):
        keep(run_dir / "jobs")


def _source_words(source: str, results_dir: str | None) -> str:
    """Where a rec's metric was read, in words: a results file (``status.json``, ``train/status.json``: one a folder
    down, the skill's ``metric_file``) -> its path, ``logs`` -> ``its log``."""
    if source == "logs":
        return "its log"
    if source in ("metric_extractor", "eval_fn", "none"):
        return source
    return f"{results_dir}/{source}" if results_dir else f"its {source}"


def stored_trackers(exp: Experiment, extra: Sequence[SweepObserver] = ()) -> ObserverSet:
    """The run's trackers from its stored ``wandb``/``mlflow`` configs (none when they cannot be set up: logged),
    plus ``extra``; their failures recorded in the run folder."""
    meta = exp.store.meta()
    try:
        built = build_observers(meta.get("wandb"), meta.get("mlflow"))
    except Exception:
        log.exception("tracking could not be set up; the run goes on without it")
        built = []
    return ObserverSet([*built, *extra], record=exp.record_tracking_errors)


def warn_tracker_failures(tracking: ObserverSet) -> None:
    """Log once that tracker calls failed (the run's own results are complete)."""
    if tracking.failures:
        log.warning("%d tracker call(s) failed, so W&B/MLflow miss part of this run (its own results are "
                    "complete); first: %s", len(tracking.failures), tracking.failures[0])


def close_complete(exp: Experiment, before_end: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """End a reopened run every rec of which has ended with nothing left to launch, as a resume of it ends when it
    has launched nothing (no platform or skill needed): finished, or failed with its stop reason when no rec has a
    result; intermediate checkpoints deleted as its settings ask. ``before_end`` is called with the state before
    the end is stored. Closes ``exp``; returns the ended run's summary."""
    _clear_stop_reason(exp)
    state, stop_reason = _complete_end(exp)
    if state == "finished":
        _delete_intermediate(exp)
    try:
        if before_end is not None:
            before_end(state)
    finally:  # a Ctrl-C in the trackers' call (held until it returns) still stores the end, as the sweep's does
        summary = _ended_summary(exp, state, stop_reason)
    return summary


def _clear_stop_reason(exp: Experiment) -> None:
    """A resumed run's old stop reason no longer holds: cleared (with its flags), with a warning when it said the
    cause would be met again."""
    stopped = exp.store.meta()
    if stopped.get(NEW_RUN_NEEDED):
        log.warning("this run's sweep had stopped itself on a cause a resume meets again (its stop reason: %s); "
                    "resuming with the same settings: unless the cause was fixed outside them (the trainer, its "
                    "data) it stops the same way", stopped.get("stop_reason"))
    if stopped.get("stop_reason"):
        exp.store.set_meta({"stop_reason": None, NEW_RUN_NEEDED: None, ENDED_EARLY: None})


def _complete_end(exp: Experiment) -> tuple[str, str | None]:
    """How a sweep all of whose recs ended ends: ``("finished", why it made fewer recs than its budget or None)``,
    or ``("failed", why)`` when no rec produced a result (recorded as its stop reason)."""
    stop_reason = exp.record_ended_early()
    if exp.summary()["best"] is not None:
        return "finished", stop_reason
    recs = exp.recs()  # every rec ended and none succeeded: not a finished sweep
    failed = no_result_message(recs, exp.run_dir, exp.work_left, spent=_spent(exp))
    stop_reason = f"{stop_reason}. {failed[0].upper()}{failed[1:]}" if stop_reason else failed
    log.error("%s", stop_reason)
    last = [r for r in recs if r.status == "failure"][-1:]
    exp.store.set_meta({"stop_reason": stop_reason, NEW_RUN_NEEDED: bool(
        last and needs_new_run(last[0].message or ""))}, event="sweep_stopped")
    return "failed", stop_reason


def _delete_intermediate(exp: Experiment) -> None:
    """Delete the checkpoints of the recs a finished run does not keep, when its settings ask for it; recorded once
    for the same recs (a close killed before it stored the run's end deletes again on the resume, freeing nothing)."""
    if not exp.settings.automl_delete_intermediate_ckpt:
        return
    ended = exp.summary()
    kept = [row["rec_id"] for row in ended.get("pareto_front") or []]
    kept += [ended["best"]["rec_id"]] if ended["best"] else []
    recs = exp.recs()
    keep = recs_to_keep(recs, kept)
    swept = [rec.rec_id for rec in recs if rec.rec_id not in keep]
    freed = delete_intermediate_checkpoints(recs, keep)
    last = exp.store.events(CHECKPOINTS_DELETED)[-1:]
    if freed or not last or last[0]["payload"].get("recs") != swept:
        exp.store.log_event(CHECKPOINTS_DELETED, None, bytes=freed, recs=swept)
    crash_point("checkpoints_deleted")  # chaos tests: the deletion is recorded, the run's end not yet stored


def _spent(exp: Experiment) -> str:
    """Why a resume of ``exp`` would launch nothing, once it would not: its budget is spent, or its brain is done."""
    return NO_BUDGET_LEFT if exp.n_created >= exp.budget else BRAIN_DONE


def _ended_summary(exp: Experiment, state: str, stop_reason: str | None) -> dict[str, Any]:
    """End the run as ``state`` (before the summary: its progress is then the ended run's: state, elapsed, no ETA),
    close it and return its summary, with ``stop_reason`` when there is one."""
    exp.end(state)
    try:
        summary = exp.summary()
    finally:
        exp.close()
    if stop_reason:
        summary["stop_reason"] = stop_reason
    return summary


#: Seconds a thread may hold the interpreter lock while another waits for it, during a brain's ``prepare``.
PREPARE_SWITCH_INTERVAL_S = 0.0005


@contextlib.contextmanager
def _quick_thread_switches() -> Iterator[None]:
    """Let other threads take the interpreter lock within ``PREPARE_SWITCH_INTERVAL_S`` (Python's default is 5 ms).

    A brain's ``prepare`` computes in Python on this thread while jobs run; LocalSDK's watcher thread, woken by a
    job's end, needs the lock to record it (and so to stop ``prepare``), and with the default interval it can wait up
    to 5 ms for it, delaying the result and the next launch by as much (measured with a busy main thread: a median
    1.2 ms from the job's exit to the end being seen beyond an idle thread's, 0.6 ms with this interval).
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, PREPARE_SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _changed_since(counter: Callable[[], int], seen: int) -> Callable[[], bool]:
    """A probe that answers True once ``counter()`` is no longer ``seen``."""
    return lambda: counter() != seen


def _guarded(name: str, callback: Callable[..., Any] | None, *args: Any) -> None:
    """Call a user callback (or an optional hook of the platform); an exception is logged and the sweep goes on."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        log.exception("%s callback raised; the sweep goes on", name)


def _check_still_there(run_dir: Path) -> None:
    """Stop the sweep when its run folder (its ``state.db``) was deleted or moved away while it ran: what it
    records would go to a file nobody can read, and ``status``/``stop`` could no longer find it (one stat a loop)."""
    if not os.path.exists(os.path.join(run_dir, DB_NAME)):
        raise WorkspaceError(
            f"the run folder {str(run_dir)!r} (its {DB_NAME}) was removed or moved while the sweep ran; stopping "
            "(jobs in flight keep running on the platform)", field="run_dir", value=str(run_dir),
            allowed="a run folder that stays in place while its sweep runs",
            hint="a moved folder continues with `tao-automl resume NEW_PLACE`; a deleted one cannot be resumed")


def _llm_ready(settings: AutoMLSettings, stored: RunArgs) -> None:
    """An LLM run resumes only when its endpoint, model and key work (checked as a new run checks them), or, with
    ``llm_fallback`` bayesian or random, when the endpoint cannot be contacted at all: the fallback then proposes
    each rec the LLM cannot (each recorded as an ``llm_fallback``), the way to go on without the LLM. The run's
    ``llm_api_key`` is never stored, so a key given in the config must come from the environment now."""
    from tao_automl.errors import PlatformUnreachableError
    from tao_automl.llm import setup as llm_setup
    from tao_automl.util.secrets import REDACTED

    if settings.algorithm not in llm_setup.LLM_ALGORITHMS:
        return
    try:
        llm_setup.preflight(settings, resuming=True)
    except PlatformUnreachableError as exc:
        if settings.llm_fallback == "error":
            raise
        log.warning("%s; resuming anyway: llm_fallback is %r, so each rec the LLM cannot propose comes from the %s "
                    "brain (recorded as an llm_fallback)", exc.detail.replace(f"; {llm_setup.NOT_RESUMED}", ""),
                    settings.llm_fallback, settings.llm_fallback)
    except UserInputError as exc:
        if (stored.automl_settings or {}).get("llm_api_key") == REDACTED and not settings.llm_api_key:
            raise exc.rebuilt(exc.detail, field="llm_api_key", value=None,
                              hint="the run's llm_api_key was given in its config and is never stored: set "
                                   "AUTOML_LLM_API_KEY (or NVIDIA_API_KEY) in the environment, then resume") from None
        raise


def _as_stored(value: Any) -> str:
    """``value`` as comparable text, as the run folder stores it (tuples as lists, keys sorted)."""
    return json.dumps(value, sort_keys=True, default=str)


def _space_changes(meta: Mapping[str, Any], plan: RunPlan) -> str:
    """What differs between the run's stored search space and base spec and ``plan``'s, in words ('' if nothing)."""
    def params(space: Any) -> dict[str, str]:
        # a relation has no name: each is its own entry (keyed by its text), else only the last one was compared
        return {str(p["name"]) if "name" in p else f"relation {p.get('left')} {p.get('op')} {p.get('right')}":
                _as_stored({k: v for k, v in without_zero_weights(p).items() if k != "name"})
                for p in (space if isinstance(space, list) else []) if isinstance(p, Mapping)}

    changes: list[str] = []
    old, new = params(meta.get("space")), params(plan.space.to_json())
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            changes.append(f"search space {name}: {old.get(name, '(absent)')} -> {new.get(name, '(absent)')}")
    was = dict(flatten(meta.get("base_spec") or {}))
    now = dict(flatten(plan.base_spec))
    for key in sorted(was.keys() | now.keys()):
        if _as_stored(was.get(key, "(absent)")) != _as_stored(now.get(key, "(absent)")):
            changes.append(f"spec {key}: {_as_stored(was.get(key, '(absent)'))} -> "
                           f"{_as_stored(now.get(key, '(absent)'))}")
    return "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")


def check_settings_keep_space(run_dir: Path, meta: Mapping[str, Any], plan: RunPlan, stored: RunArgs,
                              skill: Any) -> None:
    """Refuse settings given on resume that change the search space or the jobs' base spec (e.g.
    ``override_automl_disabled_params``): recs so far were drawn from the stored space. Names the settings keys that
    do it (each tried alone on the stored settings)."""
    shown = _space_changes(meta, plan)
    if not shown:
        return
    before, given = stored.automl_settings or {}, plan.args.automl_settings or {}
    changed = sorted(k for k in set(before) | set(given) if before.get(k) != given.get(k))

    def moves_space(key: str) -> bool:
        alone = {**before, key: given.get(key)} if key in given else {k: v for k, v in before.items() if k != key}
        try:
            return bool(_space_changes(meta, RunPlan.build(replace(stored, automl_settings=alone), skill)))
        except TaoAutoMLError:
            return True
    keys = [k for k in changed if moves_space(k)] or changed
    field = f"automl_settings.{keys[0]}" if len(keys) == 1 else "automl_settings"
    raise WorkspaceError(
        f"cannot resume {run_dir.name} with automl_settings {', '.join(keys)} changed: they change the search space "
        f"or the jobs' spec, so new recs would run under other settings than its recs so far: {shown}",
        field=field, value={k: given.get(k) for k in keys}, allowed={k: before.get(k) for k in keys},
        hint="resume without those settings (a resume keeps the run's own), or start a new run with them")


def check_same_skill(run_dir: Path, meta: Mapping[str, Any], plan: RunPlan) -> None:
    """Refuse to resume a run whose skill's schema or spec template changed on disk since it started: the brain
    would go on sampling the stored space while the new recs' jobs get the new defaults, so the recs ranked
    together would have run under different specs and outside the space the run shows. Names what changed."""
    shown = _space_changes(meta, plan)
    if shown:
        raise WorkspaceError(
            f"cannot resume {run_dir.name}: the skill at {plan.args.skill_dir} (its schema or spec template) changed "
            f"since the run started, so new recs would run under other settings than its recs so far: {shown}",
            field="skill_dir", value=plan.args.skill_dir, allowed="the skill as the run started with it",
            hint="restore the skill's schemas/ and references/ files as they were to resume this run, or start a "
                 "new run with the changed skill")


def _check_same_platform(platform: str, run_dir: Path, meta: Mapping[str, Any]) -> bool:
    """Whether ``platform`` (this runner's, by registry name) is another known platform than the run's (a custom
    SDK class is the caller's to match); refused while the run has recs not ended: their jobs live on the run's
    platform, where another SDK cannot find them (each would be recorded failed, its result lost, or launched a
    second time). With every rec ended the next recs may run elsewhere."""
    from tao_automl.platforms.registry import PLATFORMS

    was = str((meta.get("run_args") or {}).get("platform") or "")
    if was == platform or was not in PLATFORMS or platform not in PLATFORMS:
        return False
    store = RunStore(run_dir, readonly=True)
    try:
        open_recs = sum(n for status, n in store.count_by_status().items() if status not in FINAL_STATES)
    finally:
        store.close()
    if open_recs:
        raise WorkspaceError(
            f"cannot resume {run_dir.name} on platform {platform!r}: it ran on {was!r} and {open_recs} of its recs "
            "have not ended; their jobs are on that platform, where this SDK cannot find them (their results would "
            "be lost)", field="sdk", value=platform, allowed=[was],
            hint=f"resume it with the run's platform ({was}: `{resume_command(run_dir)}` rebuilds it) until its "
                 "recs have ended; then it may go on elsewhere")
    log.warning("run %s ran on %s; its next recs run on %s (recorded in the run folder)", run_dir.name, was, platform)
    return True


def check_not_a_copy(run_dir: Path, meta: Mapping[str, Any]) -> None:
    """Refuse to resume a copy of a run folder whose original still holds its run: the copy names its jobs as the
    original does, so each would collect (and report as its own) jobs the other launched. A moved folder resumes."""
    before = copy_of(run_dir, meta)
    if before is not None:
        raise WorkspaceError(
            f"cannot resume {str(run_dir)!r}: it is a copy of the run at {str(before)!r}, which still exists; a copy "
            "names its jobs as the original does, so the two would collect each other's jobs",
            field="run_dir", value=str(run_dir), allowed=[str(before)],
            hint=f"resume the original (`{resume_command(before)}`); to continue here instead, move the folder "
                 "(or remove the original) first; `status`, `report` and `export` read a copy as it is")


def refused_submission(exc: UserInputError, rec_id: int, platform_kwargs: Mapping[str, Any],
                       run_dir: Path) -> UserInputError:
    """A platform's refusal of a rec's job for the user's input (one its preflight check let through), named as
    the setting at fault, with a hint that says what exists: the run folder, and any jobs already started."""
    named = as_setting_error(exc, "platform_kwargs", platform_kwargs)
    hint = (f"the platform refused rec {rec_id}'s job, so the sweep stopped; the run folder {run_dir} keeps what "
            f"ran (jobs already started keep running: `tao-automl status {sh(run_dir)}`). Fix the input named in field "
            "and start a new run (`tao-automl resume` keeps the run's platform_kwargs)")
    return type(named)(named.detail, field=named.field, value=named.value if named.has_value else None,
                       allowed=named.allowed, hint=hint, kind=named.kind)

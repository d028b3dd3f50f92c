"""The ask/tell core shared by :class:`AutoML` and :class:`AutoMLRunner`.

An :class:`Experiment` owns a run folder's store, the search space and the brain. It persists a
rec before handing it out and persists a result before the brain learns from it, so the
state on disk is always at least as new as the state in memory. Resuming replays the finished
recs through the brain (no pickles) in one pass over the store.

Memory holds only what the next ask or tell needs: the recs that have not ended (updated on every
write, never re-read) and a counter. Whole-run views (:meth:`Experiment.recs`, :meth:`Experiment.summary`)
read the store, so a sweep's per-rec cost does not grow with its length.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tao_automl.brain import Brain, make_brain
from tao_automl.brain.auto import auto_choice
from tao_automl.brain.base import Upcoming
from tao_automl.brain.registry import BUDGET_PLANNED, brain_options
from tao_automl.brain.trials import PROMOTION, ClassicScheduler, Trial, TrialScheduler, prepare_next
from tao_automl.errors import SettingsError, TaoAutoMLError, UserInputError, WorkspaceError
from tao_automl.experiment import brain_records as llm_records
from tao_automl.experiment.store import (
    CREATED_BY,
    ENDED_EARLY,
    ENDED_EARLY_REASON,
    FINAL_STATES,
    MULTI_FIDELITY_KEY,
    PAUSED_KEY,
    RESUMED_BY,
    UNSUBMITTED,
    RecRow,
    RecStatus,
    RunStore,
    read_meta,
    record_tracking_errors,
    tracking_errors_of,
)
from tao_automl.experiment.summary import code_versions_of, progress_from_counts, summarise, uncollected_ids
from tao_automl.experiment.workspace import check_complete
from tao_automl.metrics.parse import is_valid_metric, to_objective
from tao_automl.multiobjective import view as multi
from tao_automl.multiobjective.parego import ParEGOScheduler, parego_scheduler
from tao_automl.multiobjective.pareto import to_minimise
from tao_automl.settings import REFUSED, AutoMLSettings
from tao_automl.space.search_space import SearchSpace
from tao_automl.util.crash import crash_point
from tao_automl.util.dotted import with_values
from tao_automl.util.secrets import REDACTED

#: Run states after which a resume with nothing left to run keeps the state and the end time.
ENDED_STATES = ("finished", "failed")

log = logging.getLogger(__name__)

#: Run metadata key: the spec key that carries a trial's epoch budget in the specs ``ask`` hands out (ask/tell runs).
EPOCH_KEY = "epoch_key"


def _downtime(meta: dict[str, Any], store: RunStore, now: float) -> float:
    """Seconds since the previous orchestrator stopped: its recorded end, or, for one killed before it could close
    the run (still ``running``), its last recorded activity."""
    last = meta.get("ended_at") if meta.get("state") != "running" else store.last_event_at()
    return max(0.0, now - float(last)) if isinstance(last, (int, float)) else 0.0


@dataclass
class Recommendation:
    """One rec: its id, the sampled hyperparameters and the full spec they produce.

    ``trial``: the scheduler's plan for it (``budget`` in epochs, ``parent``, ``rung``, ...); ``error``: why its job
    could not be submitted (set by the runner); ``message``: the reason recorded with its result; ``metric_values``:
    a multi-objective run's successful rec, each metric's value (set by the runner when it ends)."""

    id: int
    params: dict[str, Any]
    specs: dict[str, Any]
    status: str = "pending"
    job_id: str | None = None
    metric_value: float | None = None
    error: str | None = None
    message: str | None = None
    trial: dict[str, Any] | None = None
    metric_values: dict[str, float] | None = None


def stored_settings(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A run's stored settings as a mapping ``AutoMLSettings.from_mapping`` takes (a redacted key and settings
    older versions stored but this one refuses are left out)."""
    return {k: v for k, v in meta["settings"].items()
            if not (k == "llm_api_key" and v in ("***", REDACTED)) and k not in REFUSED}


def _brain_options(algorithm: str, settings: AutoMLSettings, direction: str, metric: str | None) -> dict[str, Any]:
    """:func:`brain_options` with an LLM brain's ``objective`` shown as the run resolved it: its ``direction`` (the
    settings alone read it from the metric's name, and ``metric: kpi`` of a skill whose KPI is minimised showed every
    value negated, "kpi=-0.2", "higher kpi is better") and the ``metric`` the jobs report (``val_mse``, not ``kpi``)."""
    options = brain_options(algorithm, settings)
    objective = options.get("objective")
    if objective is not None and direction in ("minimize", "maximize"):
        options["objective"] = replace(objective, name=metric or objective.name,
                                       sign=-1.0 if direction == "maximize" else 1.0)
    return options


class Experiment:
    """A run folder's search state: store + space + brain."""

    def __init__(self, run_dir: Path, store: RunStore, space: SearchSpace, settings: AutoMLSettings,
                 direction: str, base_spec: Mapping[str, Any], pick: str | None = None,
                 metric: str | None = None) -> None:
        self.run_dir = run_dir
        self.store = store
        self.space = space
        self.settings = settings
        self.direction = direction
        self.base_spec = dict(base_spec)
        #: the brain that runs: ``algorithm``, or for ``auto`` the pick the run persisted (a reopened run keeps it,
        #: whatever budget it is resumed with)
        self.algorithm = pick or settings.algorithm
        self.brain: Brain = make_brain(self.algorithm, space,
                                       _brain_options(self.algorithm, settings, direction, metric))
        self.scheduler: TrialScheduler = (parego_scheduler(space, settings, self.algorithm) if settings.objectives
                                          else as_scheduler(self.brain, settings))
        self.objectives: list[dict[str, str]] = list(settings.objectives or [])  # [] = single objective
        self._values: dict[int, dict[str, float]] = {}  # multi-objective: user-scale values of successful recs
        self._open: dict[int, RecRow] = {}  # recs that have not ended, by id
        self.replayed_stops: dict[int, tuple[int, float]] = {}  # see _replay
        self._n_created = 0
        self._n_finished = 0
        self._counts: dict[str, int] = {}  # status -> number of recs (the live progress line, without a read)
        self._best: RecRow | None = None  # best successful rec so far, ranked as the summary ranks
        self._multi = False  # some trial carries an epoch budget: rank by budget reached first
        self._meta: dict[str, Any] = {}
        #: (state, ended_at, recs created, recs finished, paused_s before) of a run reopened after it had ended
        #: (finished, or failed: it stopped on a failure); None otherwise
        self._reopened_ended: tuple[str, float, int, int, float] | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: Path, space: SearchSpace, settings: AutoMLSettings, direction: str,
               base_spec: Mapping[str, Any], extra_meta: Mapping[str, Any]) -> Experiment:
        store = RunStore(run_dir)
        choice = auto_choice(space, settings) if settings.algorithm == "auto" else None
        exp = cls(run_dir, store, space, settings, direction, base_spec, choice["algorithm"] if choice else None,
                  str(extra_meta.get("metric") or settings.metric))
        meta = {
            "experiment_id": run_dir.name,
            "run_dir": str(run_dir),
            "created_at": time.time(),
            "algorithm": settings.algorithm,
            **({"algorithm_choice": choice} if choice else {}),
            "metric": settings.metric,
            "direction": direction,
            "budget": settings.automl_max_recommendations,
            "settings": settings.to_dict(),
            "space": space.to_json(),
            "base_spec": exp.base_spec,
            "state": "running",
            CREATED_BY: code_version(),
            MULTI_FIDELITY_KEY: False,  # set once the first trial with an epoch budget is created
            **dict(extra_meta),
        }
        crash_point("run_meta")  # chaos tests: the folder and its store exist, the metadata does not yet
        store.set_meta(meta, event="run_created")
        exp._meta = store.meta()
        return exp

    @classmethod
    def open(cls, run_dir: Path, settings: AutoMLSettings | None = None) -> Experiment:
        """Reopen a run: settings, space and spec come from the run folder alone."""
        store = RunStore(run_dir)
        meta = store.meta()
        if "space" not in meta:
            store.close()
            check_complete(run_dir, meta)
        stored = AutoMLSettings.from_mapping(stored_settings(meta))
        if settings is not None:
            if stored.direction is None and settings.direction == meta.get("direction"):
                settings = replace(settings, direction=None)  # the direction the run read from the name, given
            drift = changed_settings(stored, settings, meta.get("direction"))
            if drift:
                store.close()
                first, (was, now_given) = next(iter(drift.items()))
                shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in drift.items())
                raise WorkspaceError(f"cannot resume {run_dir.name}: settings differ from the stored run: {shown} "
                                     f"(only {', '.join(sorted(RESUME_MUTABLE))} may change on resume)",
                                     field=f"automl_settings.{first}", value=now_given, allowed=[was],
                                     hint=f"resume with {first}: {was!r} (the run's), or start a new run with the "
                                          "new settings")
            pick = (meta.get("algorithm_choice") or {}).get("algorithm") or stored.algorithm
            budget, was = settings.automl_max_recommendations, stored.automl_max_recommendations
            if budget != was and pick in BUDGET_PLANNED:
                store.close()
                raise SettingsError(
                    f"automl_settings.automl_max_recommendations: {pick} planned run {run_dir.name}'s "
                    f"{'generations' if pick == 'pbt' else 'brackets'} for {was} recs; a resume with {budget} would "
                    "re-size the ones already played (new configs in rungs already promoted, or members with no "
                    "epochs left to train)", field="automl_settings.automl_max_recommendations", value=budget,
                    allowed=[was], hint=f"resume with {was} (or leave it out); for a bigger budget start a new run")
            if budget > was and pick == "asha" and stored.fidelity_mode == PROMOTION \
                    and store.events(CHECKPOINTS_DELETED):
                store.close()
                raise SettingsError(
                    f"automl_settings.automl_max_recommendations: run {run_dir.name} ended with "
                    "automl_delete_intermediate_ckpt, which deleted the checkpoints of the recs it did not keep; a "
                    f"resume with {budget} recs would have asha promote those recs, and each promotion would fail "
                    "with its parent's checkpoint gone", field="automl_settings.automl_max_recommendations",
                    value=budget, allowed=[was],
                    hint=f"resume with {was} (or leave it out); for a bigger budget start a new run")
            created = sum(store.count_by_status().values())
            if settings.automl_max_recommendations < created:  # recs already made cannot be un-made
                store.close()
                raise SettingsError(
                    f"automl_settings.automl_max_recommendations: {settings.automl_max_recommendations} is below "
                    f"the {created} recs run {run_dir.name} already has; a resume may keep or raise the budget, "
                    "never lower it under what was created",
                    field="automl_settings.automl_max_recommendations", value=settings.automl_max_recommendations,
                    allowed=f"an integer >= {created}",
                    hint=f"resume with automl_max_recommendations >= {created} (or leave it out to keep "
                         f"{stored.automl_max_recommendations})")
            if settings != stored:
                stored = settings
                store.set_meta({"settings": settings.to_dict(), "budget": settings.automl_max_recommendations},
                               event="settings_changed")
                meta = store.meta()
        here, before = os.path.abspath(run_dir), meta.get("run_dir")
        moved = bool(before) and os.path.realpath(str(before)) != os.path.realpath(here)  # moved or copied
        if moved:  # its recs' results and spec files are here now: stored so before anything reads them
            store.relocate_recs(str(before), here)
        exp = cls(run_dir, store, SearchSpace.from_json(meta["space"]), stored, meta["direction"], meta["base_spec"],
                  (meta.get("algorithm_choice") or {}).get("algorithm"), str(meta.get("metric") or stored.metric))
        exp._meta = meta
        exp._replay()
        llm_records.drain(exp.brain)  # records of replayed results were persisted the first time
        now = time.time()
        down = _downtime(meta, store, now)  # before this reopening writes an event of its own
        if moved:
            store.set_meta({"run_dir": here, "moved_from": before}, event="run_moved")
        paused = float(meta.get(PAUSED_KEY) or 0.0)
        if meta.get("state") in ENDED_STATES:  # a resume with nothing left to do keeps the run's real end
            exp._reopened_ended = (str(meta["state"]), float(meta["ended_at"]), exp._n_created, exp._n_finished,
                                   paused) if isinstance(meta.get("ended_at"), (int, float)) else None
        version = code_version()
        created_by = meta.get(CREATED_BY)
        resumed_by = code_versions_of(meta)["resumed_by"]
        last = resumed_by[-1].get("version") if resumed_by else created_by
        if last != version:  # its schedule continues under this code's, which may differ from the last one's
            log.warning("run %s was created by tao-run-automl %s%s; resumed by tao-run-automl %s", run_dir.name,
                        created_by or "(a version from before versions were recorded)",
                        f" and last run by {last}" if last != created_by else "", version)
            # one entry per change of version (not per reopening: an ask/tell user may reopen a run thousands of
            # times), with when that version first reopened it
            resumed_by = [*resumed_by, {"version": version, "at": now}]
        store.set_meta({"state": "running", "resumed_at": now, PAUSED_KEY: paused + down, RESUMED_BY: resumed_by},
                       event="run_resumed")
        exp._meta = store.meta()
        return exp

    def _replay(self) -> None:
        """Restore the scheduler from the store in one pass over the recs (plus one query per event kind)."""
        finished: list[tuple[int, str, float | None, Trial]] = []
        for rec_id, status, metric_value, params, trial_json in self.store.replay_rows():
            trial = Trial.from_json(trial_json) if trial_json else Trial(config=params)
            self._count(None, status)
            self._multi = self._multi or trial.budget is not None
            self.scheduler.restore(rec_id, trial)
            self._n_created = max(self._n_created, rec_id)
            if status in FINAL_STATES:
                self._n_finished += 1
                finished.append((rec_id, status, metric_value, trial))
            else:
                row = self.store.rec(rec_id)
                assert row is not None
                self._open[rec_id] = row
        stops: dict[int, tuple[int, float]] = {}
        for event in self.store.events("epoch_metric"):
            payload, rec_id = event["payload"], int(event["rec_id"])
            if self.scheduler.report_epoch(rec_id, int(payload["epoch"]), float(payload["objective"])) \
                    and rec_id in self._open:
                stops.setdefault(rec_id, (int(payload["epoch"]), float(payload["value"])))
        decided = {int(e["rec_id"]) for e in self.store.events("stop_decided")}
        #: open recs the scheduler says to stop at a replayed epoch whose stop was never recorded (a crash between
        #: the epoch's write and the stop's): rec id -> (epoch, value); the runner stops them when it re-attaches
        self.replayed_stops = {rec_id: stop for rec_id, stop in stops.items() if rec_id not in decided}
        trained = {int(e["rec_id"]): int(e["payload"]["budget"]) for e in self.store.events("trained_budget")}
        if self.objectives:
            self._values = multi.stored_values(self.store.events(multi.VALUES_EVENT),
                                               {r for r, status, _, _ in finished if status == "success"})
        self._best = self._best_from_store()
        if self._meta.get(MULTI_FIDELITY_KEY) != self._multi:  # a run folder from before the key existed
            self.store.set_meta({MULTI_FIDELITY_KEY: self._multi})
        # in the order the run learnt them (not by id: recs in flight together end in any order), so the brain is
        # rebuilt as the live one was; recs of a run folder older than the journal's rec_finished come first
        restore = getattr(self.brain, "restore_records", None)
        if callable(restore):  # a brain whose state is more than its results (hybrid's plan and phase)
            restore({kind: self.store.events(kind) for kind in getattr(self.brain, "RESTORED_KINDS", ())})
        order = self.store.finish_order()
        finished.sort(key=lambda item: (order.get(item[0], -1), item[0]))
        for rec_id, status, metric_value, trial in finished:
            self._observe(rec_id, status, metric_value, trained.get(rec_id, trial.budget))

    def move_to(self, run_dir: Path, rename: Callable[[], None]) -> None:
        """Close the store, let ``rename`` move the folder to ``run_dir``, reopen the store there."""
        self.store.close()
        rename()
        self.run_dir = run_dir
        self.store = RunStore(run_dir)

    def end(self, state: str) -> None:
        """Record how the run ended (``state``: finished, stopped, ...) and when; a summary taken after it shows
        an ended run (no ETA). A run reopened ended in which nothing ran since keeps its first end time, and is
        recorded ended once (an ask/tell run re-ended as it was reopened, then by finish(), has one more end)."""
        ended = time.time()
        again = self._reopened_ended
        if again is not None and state == again[0] and again[2:4] == (self._n_created, self._n_finished):
            stored = self.store.meta()
            if stored.get("state") == state and stored.get("ended_at") == again[1]:
                return  # ended so already since it was reopened
            self.store.set_meta({"state": state, "ended_at": again[1], PAUSED_KEY: again[4]}, event=f"run_{state}")
            return
        self.store.set_meta({"state": state, "ended_at": ended}, event=f"run_{state}")

    def close(self, state: str | None = None) -> None:
        if state:
            self.end(state)
        self.store.close()

    # -- ask ------------------------------------------------------------------------------------
    @property
    def budget(self) -> int:
        return self.settings.automl_max_recommendations

    @property
    def n_created(self) -> int:
        return self._n_created

    @property
    def n_finished(self) -> int:
        """Recs that have ended (any final state)."""
        return self._n_finished

    @property
    def n_with_metric(self) -> int:
        """Recs that ended with a metric: succeeded, or stopped early by a multi-fidelity brain."""
        return self._counts.get("success", 0) + self._counts.get("stopped", 0)

    @property
    def work_left(self) -> bool:
        """Whether ``resume`` would launch anything: recs still to create (the budget allows them and the brain has not
        stopped proposing: a resume replays it to the same end), or created recs never submitted."""
        more = self.n_created < self.budget and not self.scheduler.is_finished(self.n_created)
        return more or self._counts.get(UNSUBMITTED, 0) > 0

    def recs(self) -> list[RecRow]:
        """Every rec as stored, in id order (reads the whole table: for whole-run views, not per rec)."""
        return self.store.recs()

    def refresh(self, rec_id: int) -> RecRow:
        """Re-read one rec by id (and track it while it has not ended)."""
        row = self.store.rec(rec_id)
        if row is None:
            raise KeyError(f"unknown rec id {rec_id}; known: 1..{self.n_created}")
        known = self._open.get(rec_id)
        if known is not None and known.status != row.status:
            self._count(known.status, row.status)
        if row.status in FINAL_STATES:
            self._open.pop(rec_id, None)
        else:
            self._open[rec_id] = row
        return row

    def _count(self, old: str | None, new: str) -> None:
        if old is not None:
            self._counts[old] -= 1
        self._counts[new] = self._counts.get(new, 0) + 1

    def _best_from_store(self) -> RecRow | None:
        ids = self.store.ranked_ids(self.direction, self._multi, limit=1, status="success")
        return self.store.rec(ids[0]) if ids else None

    def _rank_key(self, row: RecRow) -> tuple[float, float, int]:
        """The summary's ranking (:func:`tao_automl.experiment.summary.ranked_recs`) for one rec."""
        assert row.metric_value is not None
        budget = float(row.budget_reached or 0) if self._multi else 0.0
        return (-budget, (-1.0 if self.direction == "maximize" else 1.0) * row.metric_value, row.rec_id)

    def recommendation(self, rec_id: int) -> Recommendation:
        """Rec ``rec_id`` as :meth:`ask` handed it out (params, specs, trial), with its current status."""
        row = self.refresh(rec_id)
        return Recommendation(id=row.rec_id, params=dict(row.params), specs=row.specs, status=row.status,
                              job_id=row.job_id, metric_value=row.metric_value,
                              trial=dict(row.trial) if row.trial else None)

    def unfinished(self) -> list[RecRow]:
        return [self._open[k] for k in sorted(self._open)]

    def mark_submitted(self, rec_id: int, job_id: str, results_dir: str, status: str = "pending",
                       submitted_at: float | None = None) -> None:
        """Persist a rec's job id (the moment it exists), then update the rec in memory; ``submitted_at``: when
        the job was asked for (default: now)."""
        now = self.store.mark_submitted(rec_id, job_id, results_dir, status, submitted_at)
        row = self._open.get(rec_id)
        if row is not None:
            self._count(row.status, status)
            self._open[rec_id] = row._replace(job_id=job_id, results_dir=results_dir, status=RecStatus(status),
                                              submitted_at=min(now, submitted_at or now), updated_at=now)

    def set_rendered(self, rec_id: int, specs: Mapping[str, Any], spec_path: str, budget: int | None) -> None:
        """Persist the spec rendered for the rec's job, then update the rec in memory."""
        now = self.store.set_rendered(rec_id, specs, spec_path, budget)
        row = self._open.get(rec_id)
        if row is not None:
            self._open[rec_id] = row._replace(specs=self.store.redactor.redact(dict(specs)), spec_path=spec_path,
                                              budget=budget, updated_at=now)

    def set_status(self, rec_id: int, status: str) -> None:
        """Persist a running rec's new (non-final) job state, then update it in memory."""
        now = self.store.set_status(rec_id, status)
        row = self._open.get(rec_id)
        if row is not None:
            self._count(row.status, status)
            self._open[rec_id] = row._replace(status=RecStatus(status), updated_at=now)

    def job_name(self, rec_id: int) -> str:
        return f"{self._meta.get('experiment_id', self.run_dir.name)}-rec{rec_id:04d}"

    def trial(self, rec_id: int) -> Trial:
        row = self._open.get(rec_id) or self.store.rec(rec_id)
        if row is None:
            raise KeyError(f"unknown rec id {rec_id}; known: 1..{self.n_created}")
        return self._trial_of(row)

    @staticmethod
    def _trial_of(row: RecRow) -> Trial:
        return Trial.from_json(row.trial) if row.trial else Trial(config=row.params)

    def prepare(self, interrupt: Callable[[], bool] | None = None) -> None:
        """Idle time (jobs running, nothing to ask): let the scheduler precompute what its next proposal needs,
        until ``interrupt()`` answers True. Never changes a proposal; a scheduler without ``prepare`` does nothing."""
        pending = tuple(self._trial_of(row).config for row in self.unfinished())  # as ask() will see them
        prepare_next(self.scheduler, interrupt, Upcoming(pending, (self.settings.seed, self.n_created)))

    def ask(self, n: int) -> list[Recommendation]:
        """Up to ``n`` new recs (fewer when the budget is spent or the scheduler waits), each persisted first."""
        n = min(n, self.budget - self.n_created)
        if n <= 0 or self.scheduler.is_finished(self.n_created):
            return []
        pending = {r.rec_id: self.trial(r.rec_id) for r in self.unfinished()}
        rng = np.random.default_rng([self.settings.seed, self.n_created])
        ids = list(range(self.n_created + 1, self.n_created + 1 + n))
        try:
            trials = self.scheduler.propose(ids, pending, rng)
        except BaseException:
            llm_records.persist(self.store, llm_records.drain(self.brain), [])
            raise
        out: list[Recommendation] = []
        for rec_id, trial in zip(ids, trials[:n], strict=False):
            problems = self.space.violations(trial.config)
            if problems:
                raise TaoAutoMLError(f"brain {self.settings.algorithm!r} proposed an invalid config: {problems}")
            specs = with_values(self.base_spec, self._spec_values(trial))
            trial_json = trial.to_json()
            job_name = self.job_name(rec_id)
            if trial.budget is not None and not self._multi:
                self._multi = True  # status readers rank by the budget reached from now on: say so first
                self.store.set_meta({MULTI_FIDELITY_KEY: True})
                self._best = self._best_from_store()
            now = self.store.add_rec(rec_id, trial.config, specs, job_name, trial_json)
            self._n_created = max(self._n_created, rec_id)
            self._count(None, UNSUBMITTED)
            self._open[rec_id] = RecRow(
                rec_id=rec_id, params=dict(trial.config), specs=specs, status=UNSUBMITTED, job_name=job_name,
                job_id=None, results_dir=None, metric_value=None, message=None, trial=trial_json, created_at=now,
                submitted_at=None, finished_at=None, updated_at=now)
            out.append(Recommendation(id=rec_id, params=dict(trial.config), specs=specs,
                                      trial=trial.to_json()))
        llm_records.persist(self.store, llm_records.drain(self.brain), [r.id for r in out])
        return out

    def _spec_values(self, trial: Trial) -> dict[str, Any]:
        """The spec values of a trial: its config, and its epoch budget at the run's ``epoch_key`` (an ask/tell run
        of a multi-fidelity brain: its caller trains from the rec's specs; the runner writes the budget itself when
        it renders the job)."""
        key = self._meta.get(EPOCH_KEY)
        if key and trial.budget is not None:
            return {**trial.config, str(key): trial.budget}
        return dict(trial.config)

    def report_epoch(self, rec_id: int, epoch: int, value: float) -> bool:
        """Persist an intermediate metric (user scale), then ask the scheduler whether to stop the rec."""
        objective = to_objective(value, self.direction)
        self.store.log_event("epoch_metric", rec_id, epoch=epoch, value=value, objective=objective)
        return self.scheduler.report_epoch(rec_id, epoch, objective)

    # -- tell -----------------------------------------------------------------------------------
    def tell(self, rec_id: int, value: float | None, status: str = "success", message: str | None = None,
             budget: int | None = None, values: Mapping[str, float | None] | None = None,
             finished_at: float | None = None) -> RecRow:
        """Persist a rec's end, then let the brain learn from it. NaN/inf/None are failures; a failure keeps no
        metric (a ``value`` given with it is not recorded: no view shows, ranks by or exports it as a result).

        ``budget``: epochs the rec actually trained (stopped recs, and a failed job that reported epochs before it
        ended: its ``budget_reached``); defaults to the trial's planned budget.
        ``values``: a multi-objective run's metric values by name (``value`` is then the first one's); a missing
        or non-finite one makes the rec a failure naming it. ``finished_at``: when the job ended, if known
        (default: now).
        """
        row = self._open.get(rec_id) or self.store.rec(rec_id)
        if row is None:
            if not self.n_created:
                raise UserInputError(f"rec_id: {rec_id!r} is not a rec of this run; no rec has been handed out yet",
                                     field="rec_id", value=rec_id, allowed=[],
                                     hint="call next_recommendation() first and report the ids it returns")
            raise UserInputError(f"rec_id: {rec_id!r} is not a rec of this run; known: 1..{self.n_created}",
                                 field="rec_id", value=rec_id, allowed=f"1..{self.n_created}")
        if row.status in FINAL_STATES:
            raise UserInputError(f"rec_id: rec {rec_id} already ended with status "
                                 f"{str(getattr(row.status, 'value', row.status))!r}; a result is "
                                 "recorded once", field="rec_id", value=rec_id, allowed="a rec that has not ended")
        clean: dict[str, float] = {}
        if self.objectives and status == "success":
            value, message, clean = self._check_values(values, message)
        if status == "success" and not is_valid_metric(value):
            message = message or (
                "no metric was reported" if value is None else f"metric is not a finite number ({value})"
            )
            status = "failure"
        stored_value = value if status != "failure" and value is not None and math.isfinite(value) else None
        if budget is not None:
            self.store.log_event("trained_budget", rec_id, budget=budget)
        trained = budget if budget is not None else (self._trial_of(row).budget or row.budget)
        # where its metric was measured; with none, the epochs it is known to have trained (a job that failed after
        # reporting some), never its plan
        reached = trained if stored_value is not None else budget
        if self.objectives and values is not None:
            self.store.log_event(multi.VALUES_EVENT, rec_id, values=dict(values))
        now = self.store.finish_rec(rec_id, status, stored_value, message, budget_reached=reached,
                                    finished_at=finished_at)
        if self.objectives and status == "success" and stored_value is not None:
            self._values[rec_id] = clean
        self._open.pop(rec_id, None)
        self._n_finished += 1
        self._count(row.status, status)
        row = row._replace(status=RecStatus(status), metric_value=stored_value, message=message, finished_at=now,
                      updated_at=now, budget_reached=reached)
        if status == "success" and stored_value is not None and not self.objectives and (
                self._best is None or self._rank_key(row) < self._rank_key(self._best)):
            self._best = row
        self._observe(rec_id, status, stored_value, budget if budget is not None else self._budget_of(row))
        # e.g. a verdict on this result: a record made while observing it is tied to it by index 0
        llm_records.persist(self.store, llm_records.drain(self.brain), [rec_id])
        return row

    def _budget_of(self, row: RecRow) -> int | None:
        """Epochs the rec trained: its last ``trained_budget`` event (an index lookup), else the trial's plan."""
        events = self.store.events("trained_budget", row.rec_id)
        if events:
            return int(events[-1]["payload"]["budget"])
        return self._trial_of(row).budget

    def _check_values(self, values: Mapping[str, float | None] | None,
                      message: str | None) -> tuple[float | None, str | None, dict[str, float]]:
        """``(first metric's value or None, message, finite values)`` of a multi-objective result."""
        given = dict(values or {})
        clean = {o["name"]: float(v) for o in self.objectives
                 if (v := given.get(o["name"])) is not None and is_valid_metric(float(v))}
        missing = [o["name"] for o in self.objectives if o["name"] not in clean]
        if missing:
            name = missing[0]
            got = given.get(name)
            why = (f"metric {name!r} is not a finite number ({float(got)})" if got is not None
                   else f"no value of metric {name!r} was reported")
            return None, message or why, clean
        return clean[self.objectives[0]["name"]], message, clean

    def _observe(self, rec_id: int, status: str, value: float | None, budget: int | None) -> None:
        if isinstance(self.scheduler, ParEGOScheduler):
            if status == "success" and rec_id in self._values:
                names = [o["name"] for o in self.objectives]
                self.scheduler.observe_vector(rec_id, to_minimise([self._values[rec_id][n] for n in names],
                                                                  [o["direction"] for o in self.objectives]))
            elif status == "failure":
                self.scheduler.observe_vector(rec_id, None)
            return
        if status in ("success", "stopped") and is_valid_metric(value):
            assert value is not None
            self.scheduler.observe(rec_id, to_objective(value, self.direction), budget)
        elif status == "failure":
            self.scheduler.observe(rec_id, None, budget)
        # cancelled recs carry no information about the config's quality.

    # -- views ----------------------------------------------------------------------------------
    @property
    def reopened_ended(self) -> str | None:
        """How the run had ended (``finished`` or ``failed``) when it was reopened; None if it had not ended."""
        return self._reopened_ended[0] if self._reopened_ended is not None else None

    def is_complete(self) -> bool:
        spent = self.n_created >= self.budget or self.scheduler.is_finished(self.n_created)
        return spent and not self._open

    def record_ended_early(self) -> str | None:
        """Why a complete run made fewer recs than its budget (stored as its ``stop_reason`` and logged), or None."""
        if self.n_created >= self.budget:
            return None
        stopped = self.store.events("autoresearch_stopped")
        why = (f"autoresearch stopped: {stopped[-1]['payload'].get('reason')}" if stopped
               else f"the {self.settings.algorithm} brain proposed no further recs")
        reason = f"{ENDED_EARLY_REASON}{self.n_created} of {self.budget} recs: {why}"
        log.warning("%s", reason)
        self.store.set_meta({"stop_reason": reason, ENDED_EARLY: True}, event="sweep_ended_early")
        return reason

    def record_tracking_errors(self, failed: dict[str, dict[str, Any]], first_here: list[str]) -> None:
        """Add this process's tracker failures to the run's record (the ``record`` of
        :class:`~tao_automl.tracking.base.ObserverSet`): in its store, or once it is closed (a tracker told of the
        sweep's end after it) on a connection of its own."""
        if self.store.closed:
            record_tracking_errors(self.run_dir, failed, first_here)
        else:
            self.store.add_tracking_errors(failed, first_here)

    def tracking_errors(self) -> dict[str, dict[str, Any]]:
        """The run's failed trackers as recorded (every process that ran it), read after its store was closed too."""
        return tracking_errors_of(read_meta(self.run_dir) if self.store.closed else self.store.meta())

    def metric_values(self, rec_id: int) -> dict[str, float] | None:
        """A multi-objective run's successful rec: each metric's value; None otherwise."""
        got = self._values.get(rec_id) if self.objectives else None
        return dict(got) if got is not None else None

    def summary(self) -> dict[str, Any]:
        recs = self.recs()
        # a rec whose job is known to have ended uncollected (its cancel refused, its status unreadable) is shown
        # `ended_uncollected`, as `status` shows it, not running
        return summarise(recs, self.store.meta(), self._values if self.objectives else None,
                         uncollected=uncollected_ids(self.store, recs))

    def progress(self) -> dict[str, Any]:
        """Counts, best so far, elapsed and ETA (the live line), kept up to date on every write (no read, except one
        row for a multi-objective run's pick that is no longer in flight: its budget)."""
        progress = progress_from_counts(self._counts, self._best, self._multi, self._meta)
        if self.objectives:
            fields = multi.front_fields(self._values, self._meta)
            pick = fields["best_rec_id"]
            row = (self._open.get(pick) or self.store.rec(pick)) if pick is not None else None
            multi.apply_to_progress(progress, fields, row.budget_reached if row is not None else None)
        return progress


@functools.cache
def code_version() -> str:
    """This code's version: the installed distribution ``tao-run-automl``'s, else ``tao_automl.__version__`` (read
    once per process: the code it runs does not change with a later install)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tao-run-automl")
    except PackageNotFoundError:
        from tao_automl import __version__

        return __version__


#: Journal event of ``automl_delete_intermediate_ckpt``: the checkpoints of the recs not kept were deleted when the
#: run finished (written by the runner).
CHECKPOINTS_DELETED = "checkpoints_deleted"


#: Settings a resumed run may change: policies, not the search's identity (a bigger budget, more parallel recs,
#: another poll pace, what to do when the LLM fails).
RESUME_MUTABLE = frozenset({"automl_max_recommendations", "automl_max_concurrent", "poll_interval_s", "llm_api_key",
                            "automl_job_timeout_s", "automl_fail_fast_after", "llm_fallback",
                            "long_running_enabled", "status_interval_minutes",
                            # how the LLM is reached, not what it searches: the fix an LLM stop names (a slow or
                            # moved endpoint, a model renamed) must be applicable to the run it stopped
                            "llm_endpoint", "llm_model", "llm_timeout_s", "llm_max_retries"})


def as_scheduler(brain: Any, settings: AutoMLSettings) -> TrialScheduler:
    """A multi-fidelity brain is its own scheduler; a classic brain is wrapped."""
    if isinstance(brain, TrialScheduler):
        return brain
    return ClassicScheduler(brain, settings.automl_max_recommendations)


def changed_settings(stored: AutoMLSettings, given: AutoMLSettings,
                     direction: str | None = None) -> dict[str, tuple[Any, Any]]:
    """The fixed settings that changed: ``key -> (stored, given)``, in the settings' order; empty when none did.
    ``direction``: the run's, which a stored ``None`` (read from the metric's name) stands for."""
    a, b = stored.to_dict(), given.to_dict()
    if direction is not None and a.get("direction") is None:
        a["direction"] = direction  # a change of direction shows the one the run uses, not None
        b["direction"] = b.get("direction") or direction
    return {k: (a[k], b[k]) for k in a if a[k] != b[k] and k not in RESUME_MUTABLE}

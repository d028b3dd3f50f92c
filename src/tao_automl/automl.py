"""``AutoML``: ask/tell without the runner. You train; it proposes and remembers."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import numbers
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from tao_automl.bank.skill import load_skill
from tao_automl.errors import SearchSpaceError, UserInputError, WorkspaceError, new_run_storage_error
from tao_automl.experiment.core import EPOCH_KEY, Experiment, Recommendation, stored_settings
from tao_automl.experiment.holder import LOCK_NAME, resume_command
from tao_automl.experiment.store import DB_NAME, FINAL_STATES, read_meta
from tao_automl.experiment.summary import rec_dict
from tao_automl.experiment.workspace import RunLock, check_complete
from tao_automl.llm.setup import preflight as llm_preflight
from tao_automl.runner import progress_log
from tao_automl.runner.failures import no_result_message
from tao_automl.runner.plan import RunPlan
from tao_automl.runner.run_args import plain
from tao_automl.schema.choices import without_zero_weights
from tao_automl.settings import AutoMLSettings
from tao_automl.tracking.base import ObserverSet
from tao_automl.tracking.config import build_observers, check_tracking_config
from tao_automl.util.checks import bad_input, bool_arg, name_arg, path_arg
from tao_automl.util.crash import crash_point
from tao_automl.util.writable import unwritable_reason

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_at_a_time(method: Callable[Concatenate[AutoML, _P], _R]) -> Callable[Concatenate[AutoML, _P], _R]:
    """``method`` run under the instance's call lock: the run's store is one SQLite connection, and its brain and
    counters are shared state, so calls from several threads (workers reporting their recs) go one at a time."""
    @functools.wraps(method)
    def call(self: AutoML, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._calls:
            return method(self, *args, **kwargs)

    return call


class AutoML:
    """Propose recs, take their results, keep the best — persisted under ``workspace``.

    The search space comes from ``skill_dir``'s ``schemas/<action>.schema.json`` or from
    ``search_schema`` (a dict in the same format). ``workspace`` is used as the run folder itself;
    an existing run there is continued only with ``resume=True``. A wrong argument type is a
    :class:`~tao_automl.errors.UserInputError` naming the argument.

    Each rec's ``specs`` is the spec to train: the base spec (``train_specs``, else the schema defaults) with the
    rec's ``params`` set. With a multi-fidelity algorithm (``hyperband``, ``asha``, ``bohb``, ``dehb``, ``bfbo``,
    ``pbt``, ...) ``rec.trial["budget"]`` is the number of epochs to train the rec to, and it is also set at the
    epoch key in ``specs`` (the skill's ``spec_shorthand_keys.num_epochs``, else the first ``num_epochs``/
    ``epochs``/... key of the schema defaults; with none, read the budget from ``rec.trial``). A rec whose
    ``rec.trial["parent"]`` is set continues that rec's checkpoint, with its own ``specs`` (the same config for a
    promotion, perturbed ones for ``pbt``), up to ``budget`` epochs in all: train ``budget`` minus the parent's
    budget more epochs (from scratch to ``budget`` also works, only slower, and ``pbt`` then loses the weights it
    meant to pass on). Results rank by the budget reached first, so report each rec's metric at its budget.
    ``report_result`` takes one final result per rec: there is no per-epoch report and no "stopped" status, so
    early stopping (``hyperband_es``, or ``asha`` with ``fidelity_mode: stopping``) stops nothing here: each config
    trains the whole ``automl_max_epochs``. Use a promotion algorithm instead.

    After :meth:`finish`, ``get_status``/``get_best``/``is_complete`` answer from the final summary, a second
    ``finish()`` returns it again, and ``next_recommendation``/``report_result`` raise (reopen the run with
    ``resume=True`` to go on). A resume takes the run's stored settings, with ``settings`` (if given) on top, and
    hands out again, first, the recs the run had handed out without a result.

    Its methods may be called from several threads (e.g. workers that each report their own rec): the calls are
    taken one at a time.
    """

    def __init__(self, workspace: str | Path, network: str | None = None, train_specs: Mapping[str, Any] | None = None,
                 settings: Mapping[str, Any] | None = None, action: str = "train", skill_dir: str | Path | None = None,
                 search_schema: Mapping[str, Any] | None = None, wandb_config: Mapping[str, Any] | None = None,
                 *, automl_hyperparameters: Sequence[str] | None = None,
                 custom_param_ranges: Mapping[str, Mapping[str, Any]] | None = None, resume: bool = False,
                 log_progress: bool = True, mlflow_config: Mapping[str, Any] | None = None) -> None:
        self._calls = threading.RLock()  # see _one_at_a_time
        run_dir = Path(path_arg("workspace", workspace, "a run folder", error=WorkspaceError)).expanduser().resolve()
        _check_args(network=network, train_specs=train_specs, action=action, search_schema=search_schema,
                    automl_hyperparameters=automl_hyperparameters, custom_param_ranges=custom_param_ranges)
        bool_arg("resume", resume)
        #: A line per reported result on the ``tao_automl.progress`` logger (see :mod:`tao_automl.runner.progress_log`).
        self.log_progress = bool_arg("log_progress", log_progress)
        if settings is not None and not isinstance(settings, Mapping):  # else a raw TypeError from dict()
            raise bad_input("settings", settings, "a mapping of setting -> value (a dict), or None")
        given = plain("settings", settings)
        self._given: dict[str, Any] = dict(given or {})  # the settings this call gave (a resume puts them on top)
        if resume and given is not None and (run_dir / DB_NAME).exists():
            given = _on_top(stored_settings(read_meta(run_dir)), given)  # the run's settings, what is given on top
        self.settings = AutoMLSettings.from_mapping(given)  # a resume without settings takes the run's (below)
        tracking = {"wandb": check_tracking_config("wandb_config", wandb_config),
                    "mlflow": check_tracking_config("mlflow_config", mlflow_config)}
        space_args = {"network": network, "train_specs": train_specs, "skill_dir": skill_dir,
                      "search_schema": search_schema, "automl_hyperparameters": automl_hyperparameters,
                      "custom_param_ranges": custom_param_ranges}
        # every check before the folder exists: a bad space or schema leaves nothing behind
        plan = None if resume else self._plan(train_specs, action, skill_dir, search_schema, automl_hyperparameters,
                                              custom_param_ranges)
        if plan is not None:
            llm_preflight(self.settings)  # LLM brains: endpoint, model and key work, or stop here
        if not run_dir.is_dir() and (why := unwritable_reason(run_dir)) is not None:  # a file, or under one
            raise WorkspaceError(f"workspace {str(run_dir)!r} cannot be a run folder: {why}", field="workspace",
                                 hint="pass a folder you can write to (or a new path under one)",
                                 value=str(run_dir), allowed="a writable folder (or a new path under one)")
        if (run_dir / DB_NAME).exists() and not resume:
            if not _complete(run_dir):
                raise WorkspaceError(
                    f"workspace {str(run_dir)!r} holds a run whose creation was cut short before its metadata was "
                    "written (no rec was ever handed out in it)", field="workspace", value=str(run_dir),
                    allowed="a new folder, or one without a run",
                    hint=f"delete {str(run_dir / DB_NAME)!r} (and its -wal/-shm files) or the folder, then call "
                         "again; or pass another workspace")
            raise WorkspaceError(f"workspace {str(run_dir)!r} already holds a run; pass resume=True to continue it",
                                 field="resume", value=False, allowed=[True],
                                 hint="pass resume=True to continue that run, or a new workspace for a new one")
        if resume and not (run_dir / DB_NAME).exists():
            raise WorkspaceError(f"cannot resume: {_no_run(run_dir)}",
                                 field="workspace", value=str(run_dir), allowed=f"a run folder (holding {DB_NAME})",
                                 hint="pass the folder of an earlier AutoML(workspace=...), or resume=False to "
                                      "start a run there")
        if resume:
            self._check_resumable(run_dir, action, space_args)
        existed = run_dir.is_dir()
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            self._lock = RunLock(run_dir).acquire()
        except OSError as exc:
            if not resume:
                _discard_new_run(run_dir, existed)
            raise _creation_error(exc, run_dir) from None
        # an AutoML dropped without finish() (`del`, an exception in the caller's loop) frees the folder when it is
        # collected; finish() releases it at once (the finaliser runs once)
        self._release = weakref.finalize(self, self._lock.release)
        try:
            if resume:
                self._exp = Experiment.open(run_dir, None if given is None else self.settings)
                self.settings = self._exp.settings
                ended = self._exp.reopened_ended
                if ended and self._exp.is_complete():  # reopened to be read: it stays as and when it ended
                    self._exp.end(ended)
                if any(tracking.values()):
                    self._exp.store.set_meta({k: v for k, v in tracking.items() if v}, event="tracking_changed")
            else:
                assert plan is not None
                self._exp = Experiment.create(run_dir, plan.space, self.settings, plan.direction, plan.base_spec,
                                              {"network": network, "action": action, "mode": "ask_tell",
                                               "skill_dir": plan.args.skill_dir or None,  # its spec format, for export
                                               "metric": plan.metric, EPOCH_KEY: plan.epoch_key, **tracking})
        except BaseException as exc:
            self._release()
            if not resume:  # nothing was handed out: what this call made goes, so a retry starts afresh
                _discard_new_run(run_dir, existed)
                raise _creation_error(exc, run_dir) from None
            raise
        for note in plan.notes if plan is not None else ():  # e.g. a budget above the space's configs, as a run says
            log.warning("%s", note)
        self.wandb_config = dict(wandb_config or {})
        meta = self._exp.store.meta()
        #: The metric names a result gives: the run's metric, or each of a multi-objective run's.
        self.metric_names: list[str] = ([o["name"] for o in self._exp.objectives] if self._exp.objectives
                                        else [str(meta.get("metric") or self.settings.metric)])
        self._final: dict[str, Any] | None = None  # the summary finish() returned (the run is closed)
        self._final_best_trial: dict[str, Any] | None = None  # the best rec's trial, kept by finish()
        #: recs a resumed run had handed out without a result (its process ended first): handed out again
        self._outstanding = [row.rec_id for row in self._exp.unfinished()] if resume else []
        if resume and str(meta.get("stop_reason") or "").startswith(UNTOLD_AT_FINISH):  # reopened: no longer so
            self._exp.store.set_meta({"stop_reason": None})
        self._final_complete = False
        #: W&B / MLflow trackers from the run's stored configs (a failing tracker is logged, never raised).
        self.tracking = ObserverSet(build_observers(meta.get("wandb"), meta.get("mlflow")),
                                    record=self._exp.record_tracking_errors)
        self.tracking.sweep_started(self._exp.run_dir)

    def _check_resumable(self, run_dir: Path, action: str, space_args: Mapping[str, Any]) -> None:
        """A resume reopens an ask/tell run with the inputs it was made with: a run of the runner (its jobs may be
        running: handing their recs out here would record made-up results for them) or a changed search space,
        base spec, network or action is refused, naming the argument; the same arguments given again are fine."""
        meta = read_meta(run_dir)
        check_complete(run_dir, meta, field="workspace")
        if meta.get("mode") != "ask_tell":
            raise WorkspaceError(
                f"cannot resume {str(run_dir)!r} with AutoML: it was started by `tao-automl run`/AutoMLRunner (mode "
                f"{meta.get('mode')!r}), whose recs are training jobs it watches itself",
                field="workspace", value=str(run_dir), allowed="a run folder made by AutoML(...)",
                hint=f"continue it with `{resume_command(run_dir)}` (or AutoMLRunner(...).run(workspace_path=..., "
                     "resume=True)); read it with `tao-automl status`")
        changed: dict[str, tuple[Any, Any]] = {}
        if action != meta.get("action", "train"):
            changed["action"] = (meta.get("action"), action)
        if space_args["network"] is not None and space_args["network"] != meta.get("network"):
            changed["network"] = (meta.get("network"), space_args["network"])
        given = [k for k in space_args if k != "network" and space_args[k] is not None]
        if given and space_args["skill_dir"] is None and space_args["search_schema"] is None:
            raise WorkspaceError(  # without the model, the space the arguments would build cannot be compared
                f"cannot resume {str(run_dir)!r} with {', '.join(given)} alone: the search space is rebuilt from the "
                "skill_dir or search_schema the run was made with, and neither was given", field=given[0],
                value=space_args[given[0]], allowed="nothing (a resume takes the stored space), or it with the "
                                                    "skill_dir or search_schema of the run",
                hint=f"leave {given[0]} out to resume the run as it was made, or give skill_dir/search_schema too")
        if given:
            stored = AutoMLSettings.from_mapping(_on_top(stored_settings(meta), self._given))  # the run's, as resumed
            plan = self._plan(space_args["train_specs"], action, space_args["skill_dir"], space_args["search_schema"],
                              space_args["automl_hyperparameters"], space_args["custom_param_ranges"], stored)
            if space_args["train_specs"] is not None and _as_json(plan.base_spec) != _as_json(meta.get("base_spec")):
                changed["train_specs"] = ("the run's base spec", "a different one")
            # a categorical stored with weight-0 options (a run from before they were dropped) is the same space
            stored_space = [without_zero_weights(p) if isinstance(p, Mapping) else p for p in meta.get("space") or []]
            if _as_json(plan.space.to_json()) != _as_json(stored_space):
                # named by one argument (the field of the error): the narrowest given, the one most likely changed
                names = [k for k in ("automl_hyperparameters", "custom_param_ranges", "search_schema", "skill_dir")
                         if space_args[k] is not None]
                # a changed base spec changes the space's defaults: then it is the argument named
                name = "train_specs: the search space" if "train_specs" in changed else (
                    names[0] if names else "search space")
                changed[name] = _space_diff(meta.get("space"), plan.space.to_json())
        if changed:
            diff = "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in changed.items())
            first = next(iter(changed))
            raise WorkspaceError(
                f"cannot resume {str(run_dir)!r} with different inputs: {diff}", field=first,
                value=str(changed[first][1]), allowed=str(changed[first][0]),
                hint="give the arguments the run was made with (or none: a resume takes the stored space), or start "
                     "a new run in a new workspace")

    def _plan(self, train_specs: Mapping[str, Any] | None, action: str, skill_dir: str | Path | None,
              search_schema: Mapping[str, Any] | None, hyperparameters: Sequence[str] | None,
              custom_ranges: Mapping[str, Mapping[str, Any]] | None,
              settings: AutoMLSettings | None = None) -> RunPlan:
        skill = load_skill(skill_dir, action) if skill_dir is not None else None
        if search_schema is not None:
            schema: Mapping[str, Any] = search_schema
        elif skill is not None:
            schema = skill.schema
        else:
            raise SearchSpaceError("AutoML needs skill_dir (a model folder) or search_schema (a schema dict)",
                                   field="skill_dir", value=None,
                                   allowed="a model folder (e.g. tao_automl.bank.builtin_skill_dir(NAME)), or "
                                           "search_schema=a schema dict",
                                   hint="pass skill_dir= or search_schema=; network= only names the model")
        specs = plain("train_specs", train_specs)
        return RunPlan.ask_tell(settings or self.settings, skill=skill, schema=schema, train_specs=specs,
                                hyperparameters=hyperparameters, custom_ranges=custom_ranges, action=action)

    @property
    def workspace(self) -> Path:
        return self._exp.run_dir

    @_one_at_a_time
    def next_recommendation(self) -> list[Recommendation]:
        """Recs to train now: as many new ones as free slots (``automl_max_concurrent``) and budget allow. The first
        call on a resumed run first hands out again the recs it had handed out without a result yet (the process
        that held them ended), so the usual loop goes on where it stopped."""
        self._check_open("next_recommendation")
        again = [self._exp.recommendation(rec_id) for rec_id in self._outstanding
                 if self._exp.refresh(rec_id).status not in FINAL_STATES]
        for rec in again:  # handed out again as a new rec is: in flight, "pending" (stored as created)
            rec.status = "pending"
        self._outstanding = []
        in_flight = len(self._exp.unfinished())
        return again + self._exp.ask(max(0, self.settings.automl_max_concurrent - in_flight))

    @_one_at_a_time
    def report_result(self, rec_id: int, metric: float | None, status: str = "success",
                      message: str | None = None, values: Mapping[str, float] | None = None) -> None:
        """Record a rec's metric (user scale). ``None`` / NaN / inf, or ``status="failure"``, is a failure; a
        failure records no metric (a number given with ``status="failure"`` is not kept: put what it was in
        ``message``).

        A run whose ``metric`` is a list takes its metrics only in ``values`` (name -> number, every metric of the
        run for a success) with ``metric=None``. A single-metric run takes ``metric``, or ``values={name: number}``
        with ``metric=None``. A value given twice, a key that is not a metric of the run, a ``rec_id`` that is not
        an integer, or a number no float can hold is refused (:class:`~tao_automl.errors.UserInputError`), and
        nothing is recorded. One final result per rec: no per-epoch values, no "stopped" status."""
        self._check_open("report_result")
        if isinstance(rec_id, bool) or not isinstance(rec_id, numbers.Integral):
            raise bad_input("rec_id", rec_id, "an integer rec id (a Recommendation's id)")
        if status not in ("success", "failure"):
            raise UserInputError(f"status: {status!r} is not allowed; expected 'success' or 'failure'",
                                 field="status", value=status, allowed=["success", "failure"])
        if message is not None and not isinstance(message, str):
            raise bad_input("message", message, "a string or None")
        value = _number("metric", metric, "a number (or None for a failure)")
        given = None if values is None else self._values(values)
        if self._exp.objectives:
            value = self._multi_metric(value, given, status)
        elif given is not None:
            value = self._single_metric(value, given, status)
            given = None
        row = self._exp.tell(int(rec_id), value, status, message, values=given)
        self.tracking.rec_finished(self._exp.run_dir, int(rec_id))
        if self.log_progress:
            progress = self._exp.progress()
            with progress_log.default_handler(True):
                progress_log.log_rec({**rec_dict(row), "metric_values": self._exp.metric_values(row.rec_id)},
                                     progress, str(progress.get("metric") or "metric"))

    def _values(self, values: Any) -> dict[str, float]:
        """``values`` checked: a mapping of this run's metric names to numbers."""
        allowed = "a mapping of metric name -> number, names from " + ", ".join(map(repr, self.metric_names))
        if not isinstance(values, Mapping):
            raise bad_input("values", values, allowed)
        out = {}
        for key, item in values.items():
            if key not in self.metric_names:
                raise UserInputError(
                    f"values: {key!r} is not a metric of this run; allowed: {', '.join(map(repr, self.metric_names))}",
                    field="values", value=key, allowed=list(self.metric_names))
            if item is None:
                raise bad_input("values", dict(values), f"a number for {key!r} (NaN or inf records a failure)")
            number = _number("values", item, f"a number for {key!r}")
            assert number is not None
            out[key] = number
        return out

    def _multi_metric(self, value: float | None, given: dict[str, float] | None, status: str) -> float | None:
        names = ", ".join(map(repr, self.metric_names))
        if value is not None:
            raise UserInputError(
                f"metric: {value!r} is not allowed in a run with several metrics ({names}); pass metric=None and "
                "each metric's value in values={name: number}", field="metric", value=value,
                allowed="None (give the values in values)")
        missing = [n for n in self.metric_names if n not in (given or {})]
        if status == "success" and missing:
            raise UserInputError(
                f"values: a run with several metrics needs values={{name: number}} with every one of {names}; "
                f"missing {', '.join(map(repr, missing))} (report a rec that produced none with status='failure')",
                field="values", value=given, allowed=list(self.metric_names))
        return None

    def _single_metric(self, value: float | None, given: dict[str, float], status: str) -> float | None:
        name = self.metric_names[0]
        if value is not None and name in given:
            raise UserInputError(
                f"metric: {value!r} and values[{name!r}]: {given[name]!r} both give the metric; give it once",
                field="metric", value=value, allowed=f"None when values holds {name!r}")
        if status == "success" and value is None and name not in given:
            raise UserInputError(f"values: {given!r} does not hold the run's metric {name!r}", field="values",
                                 value=given, allowed=[name])
        return given.get(name, value)

    def _check_open(self, what: str) -> None:
        if self._final is not None:
            raise UserInputError(
                f"{what}: the run at {str(self._exp.run_dir)!r} was closed by finish(); reopen it with "
                "AutoML(workspace, resume=True) to go on", field=what, value=str(self._exp.run_dir),
                allowed="an AutoML whose finish() was not called")

    @_one_at_a_time
    def is_complete(self) -> bool:
        if self._final is not None:
            return self._final_complete
        return self._exp.is_complete()

    @_one_at_a_time
    def get_best(self) -> Recommendation | None:
        best = self.get_status()["best"]
        if best is None:
            return None
        values = best.get("metric_values")  # a run with several metrics: each one's value
        trial = self._final_best_trial if self._final is not None else self._trial_of(best["rec_id"])
        return Recommendation(id=best["rec_id"], params=best["params"], specs=best["specs"], status="success",
                              metric_value=best["metric_value"], metric_values=dict(values) if values else None,
                              trial=dict(trial) if trial else None)

    def _trial_of(self, rec_id: int) -> dict[str, Any] | None:
        """Rec ``rec_id``'s scheduler plan (``budget``, ``parent``, ``rung`` ...) as it was handed out, or None."""
        return self._exp.recommendation(rec_id).trial

    @_one_at_a_time
    def get_status(self) -> dict[str, Any]:
        if self._final is not None:
            return self._final
        return self._exp.summary()

    @_one_at_a_time
    def finish(self) -> dict[str, Any]:
        """Close the run (state ``finished`` when complete, else ``stopped``), release its lock and return its
        summary. Calling it again does nothing and returns the same summary."""
        if self._final is not None:
            return self._final
        self._final_complete = self._exp.is_complete()
        state = "finished" if self._final_complete else "stopped"
        # fewer recs than the budget (autoresearch gave up): stop_reason says why
        early = self._exp.record_ended_early() if self._final_complete else None
        reason = self._no_result_reason(early is not None) if self._final_complete else None
        if reason is not None:  # every rec ended and none succeeded: not a finished sweep
            state = "failed"
            reason = f"{early}. {reason[0].upper()}{reason[1:]}" if early else reason
            self._exp.store.set_meta({"stop_reason": reason}, event="sweep_stopped")
        untold = [row.rec_id for row in self._exp.unfinished()]
        if untold:  # kept pending, not cancelled: a result trained meanwhile is still taken by a resume
            reason = untold_reason(untold, self._exp.run_dir)
            self._exp.store.set_meta({"stop_reason": reason}, event="sweep_stopped")
        # told before the end is stored (a kill once it is stored leaves them told: nothing reopens a closed run) and
        # before the summary: it shows their failures, this one's
        try:
            self.tracking.sweep_ended(self._exp.run_dir, state)
        finally:  # a Ctrl-C in a tracker's call (held until it returns) still closes the run, as the sweep's does
            summary = self._close(state, reason)
        return summary

    def _close(self, state: str, reason: str | None) -> dict[str, Any]:
        """Store the run's end, close it and release its lock: the summary finish() returns from then on."""
        self._exp.end(state)  # before the summary: it shows the ended run (its state, no ETA)
        crash_point("finish_ended")  # chaos tests: the run's end is stored, its lock not yet released
        summary = self._exp.summary()
        if reason is not None:
            summary["stop_reason"] = reason
        best = summary.get("best")
        self._final_best_trial = self._trial_of(best["rec_id"]) if best else None  # get_best() after the close
        self._exp.close()
        self._final = summary
        self._release()
        return summary

    def _no_result_reason(self, ended_early: bool = False) -> str | None:
        """Why a complete run has no result (none of its recs succeeded), or None when one did; ``ended_early``: its
        brain stopped before the budget was handed out."""
        if self._exp.summary()["best"] is not None:
            return None
        why = "its brain proposes no more recs" if ended_early else "every rec of this run's budget was handed out"
        return no_result_message(self._exp.recs(), self._exp.run_dir, budget_left=False,
                                 step=f"fix the cause in the training code, then start a new run ({why})")


#: How the stop reason of a run that ``finish()`` closed with recs handed out and not reported begins.
UNTOLD_AT_FINISH = "finish() was called with rec(s)"


def untold_reason(rec_ids: Sequence[int], run_dir: Path) -> str:
    """The stop reason of a run closed with recs ``rec_ids`` handed out and never reported: they stay pending, and a
    resume takes their results."""
    ids = ", ".join(str(i) for i in rec_ids)
    return (f"{UNTOLD_AT_FINISH} {ids} handed out and no result reported: they stay pending (not trained as far as "
            f"the run knows); AutoML({str(run_dir)!r}, resume=True) takes their results with report_result, and its "
            "next_recommendation() hands them out again")


def _as_json(value: Any) -> Any:
    """``value`` as the run folder stores it (tuples as lists, keys as strings)."""
    return json.loads(json.dumps(value, default=str))


def _space_diff(stored: Any, given: Any) -> tuple[str, str]:
    """(the stored, the given) side of what differs between two search spaces: the params only one has, and the
    ranges of those both have but differently."""
    def params(space: Any) -> dict[str, Any]:
        items = space if isinstance(space, list) else []
        return {str(p.get("name")): {k: v for k, v in p.items() if k != "name"} for p in items if isinstance(p, dict)}

    old, new = params(stored), params(given)
    left = [f"{n} {old[n]}" for n in old if n not in new or old[n] != new[n]]
    right = [f"{n} {new[n]}" if n in old else f"{n} (new)" for n in new if n not in old or old[n] != new[n]]
    left += [f"{n} (absent)" for n in new if n not in old]
    right += [f"{n} (absent)" for n in old if n not in new]
    return "; ".join(left) or "the same params", "; ".join(right) or "the same params"


def _on_top(stored: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """A resume's settings: the run's stored ones with ``given`` on top. A list ``metric`` given carries each
    metric's direction, so the stored ``direction``/``objectives`` (what the run's own list expanded to) are not
    put under it: they were refused as a direction combined with a list metric, even for the run's own list."""
    if isinstance(given.get("metric"), (list, tuple)):
        stored = {k: v for k, v in stored.items() if k not in ("direction", "objectives")}
    return {**stored, **given}


def _number(name: str, value: Any, allowed: str) -> float | None:
    """``value`` as a float (None stays None); a bool, a non-number or a number no float holds is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise bad_input(name, value, allowed)
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):
        raise bad_input(name, value, f"{allowed} that a float can hold (magnitude below 1.8e308)") from None


def _check_args(**named: Any) -> None:
    """The constructor's data arguments: their types (their content is checked by the plan)."""
    if named["network"] is not None and not isinstance(named["network"], str):
        raise bad_input("network", named["network"], "a string (the network's name) or None")
    name_arg("action", named["action"])
    for name in ("train_specs", "search_schema"):
        if named[name] is not None and not isinstance(named[name], Mapping):
            raise bad_input(name, named[name], "a mapping (nested keys and values) or None")
    names = named["automl_hyperparameters"]
    if names is not None and (isinstance(names, (str, bytes)) or not isinstance(names, Sequence)
                              or not all(isinstance(n, str) for n in names)):
        raise bad_input("automl_hyperparameters", names, "a list of parameter names (strings) or None")
    ranges = named["custom_param_ranges"]
    if ranges is not None and (not isinstance(ranges, Mapping)
                               or not all(isinstance(r, Mapping) for r in ranges.values())):
        raise bad_input("custom_param_ranges", ranges, "a mapping of parameter name -> {valid_min, valid_max, "
                        "valid_options, ...}, or None")


def _no_run(run_dir: Path) -> str:
    """What ``AutoML(resume=True)`` says of a folder without a run, in the words of ``status``: ``no run state at
    'PATH' (why)``; a folder that holds runs (not being one) names them, as ``tao-automl resume`` does."""
    from tao_automl.experiment.run_folders import no_run_message, workspace_runs

    runs = workspace_runs(run_dir) if run_dir.is_dir() else []
    if not runs:
        return no_run_message(run_dir)
    named = ", ".join(runs[-5:])
    held = (f"this run: {named} (pass it" if len(runs) == 1 else f"these runs: {named} (pass one" if len(runs) <= 5
            else f"{len(runs)} runs, the newest 5: {named} (pass one")
    return f"no run state at {str(run_dir)!r} (no {DB_NAME}): it holds {held} as workspace)"


def _complete(run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` had its metadata written (a store that cannot be read counts as complete:
    opening it says what is wrong)."""
    try:
        return "space" in read_meta(run_dir)
    except Exception:
        return True


#: What a new run's creation writes in its folder: the store (with SQLite's side files) and the lock file.
_NEW_RUN_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", LOCK_NAME)


def _discard_new_run(run_dir: Path, existed: bool) -> None:
    """Remove what a failed creation of a new run made in ``run_dir`` (never other files); the folder too when this
    call made it and nothing else is in it."""
    for name in _NEW_RUN_FILES:
        with contextlib.suppress(OSError):
            (run_dir / name).unlink(missing_ok=True)
    if not existed:
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def _creation_error(exc: BaseException, run_dir: Path) -> BaseException:
    """A full disk or read-only folder met while a new run was created, as an error naming ``workspace``; any other
    exception as it is."""
    return new_run_storage_error(exc, run_dir, run_dir / DB_NAME, field="workspace",
                                 again="create the AutoML again") or exc

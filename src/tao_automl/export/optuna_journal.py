"""``export --optuna FILE``: the run as an Optuna journal storage (``optuna-dashboard FILE`` opens it).

One study named after the run, with the run's direction; one trial per rec in rec order (trial number = rec id - 1).
A multi-objective run (a list of metrics) gives a multi-objective study: one direction per metric, and each completed
trial's values are the rec's stored value of every metric, so ``study.best_trials`` is the run's ``pareto_front``.

* params with their distributions from the run's search space — float/int (log scale kept; a ``logit`` float is
  written as a linear float), categorical and bool as categorical, an integer grid as a categorical of its values,
  and list-valued params as a categorical of their JSON texts (Optuna has no list distribution), as is a
  categorical whose values hold a bool and an equal number (True and 1: Optuna finds a choice by ``==``);
* state: success -> COMPLETE (value = metric; the values of all metrics for a multi-objective run), stopped -> PRUNED
  (value = its last metric; no values for a multi-objective run), failure and cancelled -> FAIL, a rec still running
  or pending -> RUNNING. A rec whose job ended but whose result no orchestrator collected yet (``ended_uncollected``)
  is RUNNING too, its user attr ``status`` saying so: Optuna's one state for a trial whose result was not told (FAIL
  or PRUNED would claim an outcome; a WAITING trial is run again by ``study.ask``), and the export's answer names
  those recs and how to collect them. In a multi-fidelity run a success whose ``budget_reached`` is below the highest
  any success reached (a lower rung, or a rec that ended by itself below its budget) is PRUNED too (value kept):
  Optuna ranks COMPLETE trials on value alone, while the run ranks the budget reached first
  (:func:`~tao_automl.experiment.summary.ranked_recs`), so ``study.best_trial`` is the run's best; a run without
  epoch budgets (its epochs searched, say) ranks on the metric alone, and so does the study;
* intermediate values: the per-epoch metric (persisted epoch events, else the rec's ``status.json``);
* start/end times, and user attrs with the rec id, status, budget, budget reached, rung/bracket/parent, job id,
  spec path, failure message and wall time. Needs the ``export`` extra (``optuna``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from tao_automl.errors import UserInputError, require_extra
from tao_automl.experiment.store import RecRow
from tao_automl.experiment.summary import ENDED_UNCOLLECTED, is_multi_fidelity
from tao_automl.export.run_data import RunData
from tao_automl.multiobjective.view import objectives_of
from tao_automl.space.grid import grid_values

_STATES = {"success": "COMPLETE", "stopped": "PRUNED", "failure": "FAIL", "cancelled": "FAIL"}
_SCALAR = (str, int, float, bool, type(None))


def _optuna() -> Any:
    return require_extra("optuna", "export", "export --optuna")


def _text(value: Any) -> Any:
    return value if isinstance(value, _SCALAR) else json.dumps(value, sort_keys=True)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and type(a) is type(b)


def _ambiguous(values: list[Any]) -> bool:
    """Whether two of ``values`` are equal but not the same (True and 1, False and 0): Optuna would store one for
    the other."""
    return any(a == b and not _same(a, b) for i, a in enumerate(values) for b in values[:i])


def _categorical(optuna: Any, choices: list[Any], values: list[Any]) -> tuple[Any, bool]:
    """A categorical of ``choices`` and every other value a rec holds, and whether it holds their JSON texts (when
    some are ambiguous)."""
    texts = [_text(c) for c in choices]
    for value in map(_text, values):
        if not any(_same(value, t) for t in texts):
            texts.append(value)
    if not _ambiguous(texts):
        return optuna.distributions.CategoricalDistribution(texts), False
    return optuna.distributions.CategoricalDistribution(list(dict.fromkeys(map(_json, [*choices, *values])))), True


def _distributions(optuna: Any, space: list[Mapping[str, Any]],
                   recs: list[RecRow]) -> tuple[dict[str, Any], set[str]]:
    """Param name -> Optuna distribution, widened to every value a rec holds (Optuna refuses values outside), and
    the params whose values are written as JSON texts (:func:`_categorical`)."""
    dist = optuna.distributions
    as_json: set[str] = set()
    seen: dict[str, list[Any]] = {}
    for rec in recs:
        for key, value in rec.params.items():
            seen.setdefault(key, []).append(value)
    out: dict[str, Any] = {}
    for item in space:
        name, kind = item.get("name"), item.get("type")
        if name is None or name not in seen:
            continue
        values = seen[name]
        if kind in ("float", "int") and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            low, high = min(item["low"], *values), max(item["high"], *values)
            if kind == "float":
                out[name] = dist.FloatDistribution(float(low), float(high), log=bool(item.get("log")))
            else:
                out[name] = dist.IntDistribution(int(low), int(high), log=bool(item.get("log")))
        elif kind == "categorical":
            out[name], texts = _categorical(optuna, list(item["choices"]), values)
            if texts:
                as_json.add(name)
        elif kind == "bool":
            out[name] = dist.CategoricalDistribution([False, True])
        elif kind == "int_grid":
            grid = list(grid_values(item["low"], item["high"], item.get("power_of"), item.get("multiple_of")))
            out[name] = dist.CategoricalDistribution(grid + [v for v in values if v not in grid])
    for name, values in seen.items():  # list-valued params and anything else: the values observed
        if name not in out:
            observed: list[Any] = []
            for value in map(_text, values):
                if value not in observed:
                    observed.append(value)
            out[name] = dist.CategoricalDistribution(observed)
    return out, as_json


def _param_value(value: Any, distribution: Any, optuna: Any, as_json: bool) -> Any:
    if as_json:  # a categorical of JSON texts (_categorical)
        return _json(value)
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return _text(value)
    return value


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts)


def _state_values(optuna: Any, rec: RecRow, names: list[str],
                  stored: Mapping[int, Mapping[str, float]]) -> tuple[Any, list[float] | None]:
    """A rec's trial state and values: one value, or one per metric (``names``) for a multi-objective run."""
    trial_state = optuna.trial.TrialState
    state = getattr(trial_state, _STATES.get(rec.status, "RUNNING"))
    if names:
        if state == trial_state.COMPLETE:
            got = stored.get(rec.rec_id) or {}
            if all(n in got for n in names):
                return state, [float(got[n]) for n in names]
            return trial_state.FAIL, None  # no stored values to place it with
        return state, None  # Optuna prunes single-objective trials only: a stopped rec carries no values
    value = rec.metric_value if state in (trial_state.COMPLETE, trial_state.PRUNED) else None
    if state == trial_state.PRUNED and value is None:
        state = trial_state.FAIL
    return state, None if value is None else [float(value)]


def refuse_existing(out: str | Path) -> Path:
    """``out`` as a path; an existing file is refused (a journal is appended to: the run's trials would join the
    study already there)."""
    target = Path(out).expanduser()
    if target.exists():
        raise UserInputError(f"--optuna {str(out)!r} already exists; allowed: a new file (a journal is appended to)",
                             field="--optuna", value=str(out), allowed="a path to a new file")
    return target


def uncollected_note(data: RunData, rec_ids: list[int]) -> str | None:
    """What the RUNNING trials of recs ``rec_ids`` (their jobs ended, their results not collected) mean, and how to
    collect them (as status says: `tao-automl resume`, or from Python); None when there are none."""
    from tao_automl.experiment.holder import copy_of, unrebuildable_platform
    from tao_automl.experiment.lines import continue_with

    if not rec_ids:
        return None
    how = {"mode": data.meta.get("mode"), "platform_class": unrebuildable_platform(data.meta),
           "copy_of": copy_of(data.run_dir, data.meta)}
    recs = ", ".join(map(str, rec_ids))
    return (f"{len(rec_ids)} trial(s) RUNNING whose job ended with its result not collected yet (rec(s) {recs}, user "
            f"attr status {ENDED_UNCOLLECTED}): collect them ({continue_with(how, str(data.run_dir))}), then export "
            "again to a new file")


def write_optuna(data: RunData, out: str | Path) -> dict[str, Any]:
    """Write the journal file (it must not exist yet); returns ``{"path", "study_name", "trials", "uncollected",
    "note"}``: the recs written RUNNING though their job ended (``ended_uncollected``) and what that means."""
    optuna = _optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    target = refuse_existing(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    distributions, as_json = _distributions(optuna, list(data.meta.get("space") or []), data.recs)
    rows = {r["rec_id"]: r for r in data.summary["recommendations"]}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        storage = JournalStorage(JournalFileBackend(str(target)))
        objectives = objectives_of(data.meta)
        names = [str(o["name"]) for o in objectives]
        directions = {"directions": [str(o["direction"]) for o in objectives]} if objectives \
            else {"direction": data.direction}
        study = optuna.create_study(study_name=str(data.meta.get("experiment_id") or data.run_dir.name),
                                    storage=storage, **directions)
        study.set_user_attr("metric", data.metric)
        if names:
            study.set_user_attr("metrics", names)
        study.set_user_attr("algorithm", data.meta.get("algorithm"))
        study.set_user_attr("run_dir", str(data.run_dir))
        # the budget the run ranks first (summary.ranked_recs): what each success reached, in multi-fidelity runs
        top = max((int(r.budget_reached or 0) for r in data.recs if r.status == "success"), default=None) \
            if is_multi_fidelity(data.recs) else None
        for rec in data.recs:
            state, values = _state_values(optuna, rec, names, data.values or {})
            dists = {k: distributions[k] for k in rec.params}
            row = rows[rec.rec_id]
            if top is not None and state == optuna.trial.TrialState.COMPLETE and not names \
                    and int(rec.budget_reached or 0) < top:  # ranked below the top budget (module docstring)
                state = optuna.trial.TrialState.PRUNED
            attrs = {k: row[k] for k in ("rec_id", "status", "budget", "budget_reached", "rung", "bracket", "parent",
                                          "job_id", "spec_path", "message", "wall_time_s") if row.get(k) is not None}
            started = _when(rec.submitted_at or rec.created_at)
            study.add_trial(optuna.trial.FrozenTrial(
                number=rec.rec_id - 1, trial_id=rec.rec_id - 1, state=state, value=None, values=values,
                datetime_start=started, datetime_complete=_when(rec.finished_at) if state.is_finished() else None,
                params={k: _param_value(v, dists[k], optuna, k in as_json) for k, v in rec.params.items()},
                distributions=dists,
                user_attrs=attrs, system_attrs={}, intermediate_values=dict(data.epochs.get(rec.rec_id, {})),
            ))
    finally:
        optuna.logging.set_verbosity(verbosity)
    uncollected = [r.rec_id for r in data.recs if rows[r.rec_id].get("status") == ENDED_UNCOLLECTED]
    return {"path": str(target), "study_name": study.study_name, "trials": len(data.recs),
            "uncollected": uncollected, "note": uncollected_note(data, uncollected)}

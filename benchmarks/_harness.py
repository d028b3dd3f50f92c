"""Shared driver code for the benchmarks: spaces from TAO-format schemas, brains and Optuna through one loop.

A problem is a search space plus an objective ``config -> loss`` (minimisation form, None = failed). Our
brains are driven through the :class:`~tao_automl.brain.trials.TrialScheduler` protocol exactly as
``experiment.py`` drives them (``numpy.random.default_rng([seed, n_created])`` per ask); Optuna samplers through
``study.ask``/``study.tell`` with the same space. ``batch`` > 1 means: ask ``batch`` configs, evaluate them all,
tell all (the 4-concurrent protocol of the Bayesmark challenge).
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tao_automl.brain.registry import ALGORITHMS, brain_options, make_brain
from tao_automl.brain.trials import TrialScheduler
from tao_automl.experiment.core import as_scheduler
from tao_automl.schema.build import build_search_space
from tao_automl.settings import AutoMLSettings
from tao_automl.space.numeric import FloatParam, IntParam
from tao_automl.space.search_space import BoolParam, CategoricalParam, Config, SearchSpace

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
BASELINES_DIR = BENCH_DIR / "baselines"
Objective = Callable[[Config], "float | None"]


# -- spaces ----------------------------------------------------------------------------------------------------
def schema(params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A TAO-format train schema whose top-level leaves are ``params`` (name -> property), all AutoML-enabled."""
    return {"automl_default_parameters": list(params), "automl_disabled_parameters": [], "default": {},
            "properties": {name: {**prop, "automl_enabled": True} for name, prop in params.items()}}


def real(low: float, high: float, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "minimum": low, "maximum": high, **({"scale": "log"} if log else {"scale": "linear"})}


def integer(low: int, high: int, log: bool = False) -> dict[str, Any]:
    return {"type": "int", "minimum": low, "maximum": high, **({"scale": "log"} if log else {})}


def boolean() -> dict[str, Any]:
    return {"type": "bool"}


def space_of(params: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
    """The search space our product builds from :func:`schema` of ``params``."""
    return build_search_space(schema(params))


# -- brains ----------------------------------------------------------------------------------------------------
def registered(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``names`` into brains that are registered and importable, and the rest."""
    ok, missing = [], []
    for name in names:
        target = ALGORITHMS.get(name)
        try:
            if target is None:
                raise KeyError(name)
            module, _, attr = target.partition(":")
            getattr(importlib.import_module(module), attr)
            ok.append(name)
        except Exception:
            missing.append(name)
    return ok, missing


def settings(name: str, seed: int, **extra: Any) -> AutoMLSettings:
    return AutoMLSettings.from_mapping({"algorithm": name, "seed": seed, **extra})


def scheduler(name: str, space: SearchSpace, conf: AutoMLSettings, **extra: Any) -> TrialScheduler:
    """Brain ``name`` through the registry, wrapped into the trial protocol like the experiment does.

    ``extra`` options (e.g. ``iterations`` of the Hyperband family) are passed only where the brain's factory
    takes them."""
    options = brain_options(name, conf)
    if extra:
        module, _, attr = ALGORITHMS[name].partition(":")
        accepted = inspect.signature(getattr(importlib.import_module(module), attr)).parameters
        options.update({k: v for k, v in extra.items() if k in accepted})
    return as_scheduler(make_brain(name, space, options), conf)


def run_brain(name: str, space: SearchSpace, objective: Objective, n: int, seed: int, batch: int = 1) -> list[float]:
    """Losses (in proposal order, failures as inf) of ``n`` recs of brain ``name``, ``batch`` asked at a time."""
    conf = settings(name, seed, automl_max_recommendations=n, automl_max_concurrent=batch)
    sched = scheduler(name, space, conf)
    losses: list[float] = []
    while len(losses) < n and not sched.is_finished(len(losses)):
        created = len(losses)
        ids = list(range(created + 1, min(n, created + batch) + 1))
        trials = sched.propose(ids, {}, np.random.default_rng([seed, created]))
        if not trials:
            break
        results = [(i, t, objective(t.config)) for i, t in zip(ids, trials, strict=False)]
        for trial_id, _trial, value in results:
            sched.observe(trial_id, value, None)
            losses.append(math.inf if value is None else value)
    return losses


# -- optuna ----------------------------------------------------------------------------------------------------
def optuna_distributions(space: SearchSpace) -> dict[str, Any]:
    """The same space as Optuna distributions (float/int/categorical/bool params)."""
    import optuna

    out: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, FloatParam):
            out[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, IntParam):
            out[p.name] = optuna.distributions.IntDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, CategoricalParam):
            out[p.name] = optuna.distributions.CategoricalDistribution(list(p.choices))
        elif isinstance(p, BoolParam):
            out[p.name] = optuna.distributions.CategoricalDistribution([False, True])
        else:
            raise TypeError(f"param {p.name!r}: {type(p).__name__} has no Optuna equivalent in this harness")
    return out


def optuna_sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "optuna_tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "optuna_gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "optuna_random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown optuna sampler {name!r}; allowed: optuna_tpe, optuna_gp, optuna_random")


def optuna_available() -> bool:
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return True
    except ImportError:
        return False


def run_optuna(name: str, space: SearchSpace, objective: Objective, n: int, seed: int, batch: int = 1) -> list[float]:
    """Like :func:`run_brain` for an Optuna sampler (``optuna_tpe``, ``optuna_gp``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = optuna_distributions(space)
    study = optuna.create_study(sampler=optuna_sampler(name, seed), direction="minimize")
    losses: list[float] = []
    while len(losses) < n:
        trials = [study.ask(dists) for _ in range(min(batch, n - len(losses)))]
        for trial in trials:
            value = objective(dict(trial.params))
            if value is None or not math.isfinite(value):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                losses.append(math.inf)
            else:
                study.tell(trial, value)
                losses.append(value)
    return losses


def run_method(name: str, space: SearchSpace, objective: Objective, n: int, seed: int, batch: int = 1) -> list[float]:
    """Our brain or an ``optuna_*`` sampler."""
    runner = run_optuna if name.startswith("optuna_") else run_brain
    return runner(name, space, objective, n, seed, batch)


# -- output ----------------------------------------------------------------------------------------------------
def running_min(values: Sequence[float]) -> list[float]:
    out, best = [], math.inf
    for v in values:
        best = min(best, v)
        out.append(best)
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; floats with 4 significant digits."""
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(data), indent=1, default=_jsonable) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def finite(values: Sequence[float]) -> list[float | None]:
    """JSON-safe copy: inf/nan become None."""
    return [v if math.isfinite(v) else None for v in values]

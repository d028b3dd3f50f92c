"""Brain conformance: what every algorithm of the registry must do, checked through the ask/tell core
(:class:`tao_automl.experiment.core.Experiment`) exactly as the runner and :class:`tao_automl.AutoML` drive it.

* every proposal lies in the search space;
* the same seed and the same results give the same recs;
* a run closed and reopened (replayed from its store) proposes what an uninterrupted run proposes;
* a failed rec is never promoted (no later rec names it as its parent).

Use :func:`check_brain` from a test parametrized over ``tao_automl.brain.registry.ALGORITHMS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tao_automl.errors import TaoAutoMLError
from tao_automl.experiment.core import Experiment
from tao_automl.settings import AutoMLSettings
from tao_automl.space.search_space import SearchSpace

#: Algorithms that need an LLM endpoint; the suite runs them only when the caller gives settings for one.
NEEDS_LLM = frozenset({"llm", "hybrid", "autoresearch"})
Objective = Callable[[Mapping[str, Any], "int | None"], "float | None"]


def default_objective(space: SearchSpace) -> Objective:
    """A deterministic loss of a config (lower is better); configs in the low third of the first param fail (None)."""
    def loss(config: Mapping[str, Any], budget: int | None) -> float | None:
        unit = [float(x) for x in space.encode(config)]
        value = sum((u - 0.5) ** 2 for u in unit) + (1.0 / budget if budget else 0.0)
        return None if unit[0] < 0.33 else value

    return loss


def drive(exp: Experiment, objective: Objective, steps: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Ask one rec at a time and tell its result until the budget is spent (or ``steps`` recs); the recs asked."""
    asked: list[tuple[int, dict[str, Any]]] = []
    while not exp.is_complete() and (steps is None or len(asked) < steps):
        new = exp.ask(1)
        if not new:
            break
        for rec in new:
            asked.append((rec.id, dict(rec.params)))
            value = objective(rec.params, exp.trial(rec.id).budget)
            exp.tell(rec.id, value, "success" if value is not None else "failure",
                     None if value is not None else "conformance: this config fails")
    return asked


def _settings(algorithm: str, extra: Mapping[str, Any] | None) -> AutoMLSettings:
    return AutoMLSettings.from_mapping({"algorithm": algorithm, "metric": "loss", "automl_max_recommendations": 12,
                                        "automl_max_epochs": 4, "automl_reduction_factor": 2,
                                        "automl_population_size": 3, "automl_max_concurrent": 1, "seed": 7,
                                        **dict(extra or {})})


def _create(run_dir: Path, space: SearchSpace, settings: AutoMLSettings) -> Experiment:
    run_dir.mkdir(parents=True, exist_ok=True)
    return Experiment.create(run_dir, space, settings, "minimize", {}, {"mode": "ask_tell"})


def check_brain(algorithm: str, space: SearchSpace, workdir: Path, settings: Mapping[str, Any] | None = None,
                objective: Objective | None = None) -> list[str]:
    """Every conformance check of ``algorithm`` on ``space``; the list of failures (empty when it conforms)."""
    objective = objective or default_objective(space)
    config = _settings(algorithm, settings)
    problems: list[str] = []

    whole = _create(workdir / "whole", space, config)
    try:
        asked = drive(whole, objective)
    except TaoAutoMLError as exc:  # the core refuses what a brain must never do (e.g. a config outside the space)
        return [f"raised {type(exc).__name__}: {exc}"]
    finally:
        rows = whole.recs()
        whole.close("finished")
    if not asked:
        problems.append("proposed no rec at all")
    for rec_id, params in asked:
        if not space.contains(params):
            problems.append(f"rec {rec_id}: {params} is outside the space ({'; '.join(space.violations(params))})")
    failed = {r.rec_id for r in rows if r.status == "failure"}
    if not failed:
        problems.append("no rec failed, so 'failures are never promoted' was not exercised (change the objective)")
    again = _create(workdir / "again", space, config)
    if drive(again, objective) != asked:
        problems.append("the same seed and results gave different recs")
    again.close("finished")

    half = max(1, len(asked) // 2)
    first = _create(workdir / "resumed", space, config)
    resumed = drive(first, objective, steps=half)
    first.close("stopped")
    reopened = Experiment.open(workdir / "resumed", config)
    resumed += drive(reopened, objective)
    parents = {rec_id: reopened.trial(rec_id).parent for rec_id, _ in resumed}
    reopened.close("finished")
    if resumed != asked:
        problems.append(f"a run reopened after {half} recs proposed differently from an uninterrupted one")
    for rec_id, parent in parents.items():
        if parent is not None and parent in failed:
            problems.append(f"rec {rec_id} promotes rec {parent}, which failed")
    return problems

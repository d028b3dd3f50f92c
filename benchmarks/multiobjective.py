"""Multi-objective benchmark: hypervolume after N evaluations on two-objective problems, ours vs Optuna.

Problems (both objectives minimised):

* ``zdt1`` / ``zdt2``: the ZDT test functions (Zitzler, Deb & Thiele 2000) in ``--dim`` dimensions on [0, 1];
  reference point (1.1, 11).
* ``dt-digits``: a decision tree on sklearn's bundled digits data: 3-fold CV error (1 - accuracy) vs
  log10(number of tree nodes) over max_depth, min_samples_leaf, ccp_alpha (log) and criterion; reference (1, 4).

Methods: ours ``bayesian``, ``tpe`` and ``random`` with ``metric`` a list of two metrics (ParEGO scalarisation
per proposal, driven through the trial protocol as a run drives it), and Optuna's NSGA-II and multi-objective TPE
on the same space and seeds. Score: the hypervolume of the results (higher is better); the table shows the median
over seeds and the mean rank per problem.

    .venv/bin/python benchmarks/multiobjective.py
    .venv/bin/python benchmarks/multiobjective.py --problems zdt1 --seeds 1 --evals 10
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

from tao_automl.multiobjective.parego import parego_scheduler
from tao_automl.multiobjective.pareto import hypervolume_2d
from tao_automl.space.search_space import Config, SearchSpace

METHODS = ["bayesian", "tpe", "random", "optuna_nsga2", "optuna_tpe"]
Objectives = Callable[[Config], "tuple[float, float]"]


@dataclass(frozen=True)
class Problem:
    name: str
    space: SearchSpace
    objectives: Objectives
    reference: tuple[float, float]


def _zdt(dim: int, shape: Callable[[float, float], float]) -> Objectives:
    names = [f"x{i}" for i in range(dim)]

    def f(config: Config) -> tuple[float, float]:
        x = [float(config[n]) for n in names]
        g = 1 + 9 * sum(x[1:]) / (dim - 1)
        return x[0], g * shape(x[0], g)

    return f


def zdt(name: str, dim: int) -> Problem:
    shapes: dict[str, Callable[[float, float], float]] = {
        "zdt1": lambda f1, g: 1 - math.sqrt(f1 / g),
        "zdt2": lambda f1, g: 1 - (f1 / g) ** 2,
    }
    space = h.space_of({f"x{i}": h.real(0.0, 1.0) for i in range(dim)})
    return Problem(name, space, _zdt(dim, shapes[name]), (1.1, 11.0))


def tree_digits() -> Problem:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import KFold
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_digits(return_X_y=True)
    folds = list(KFold(3, shuffle=True, random_state=0).split(x))
    space = h.space_of({"max_depth": h.integer(1, 24), "min_samples_leaf": h.integer(1, 64, log=True),
                        "ccp_alpha": h.real(1e-5, 1e-1, log=True),
                        "criterion": {"type": "categorical", "enum": ["gini", "entropy"]}})

    def f(config: Config) -> tuple[float, float]:
        errors, nodes = [], []
        for train, test in folds:
            model = DecisionTreeClassifier(max_depth=int(config["max_depth"]),
                                           min_samples_leaf=int(config["min_samples_leaf"]),
                                           ccp_alpha=float(config["ccp_alpha"]), criterion=config["criterion"],
                                           random_state=0).fit(x[train], y[train])
            errors.append(1.0 - model.score(x[test], y[test]))
            nodes.append(model.tree_.node_count)
        return float(np.mean(errors)), math.log10(float(np.mean(nodes)))

    return Problem("dt-digits", space, f, (1.0, 4.0))


def problems(names: Sequence[str], dim: int) -> list[Problem]:
    makers: dict[str, Callable[[], Problem]] = {"zdt1": lambda: zdt("zdt1", dim), "zdt2": lambda: zdt("zdt2", dim),
                                                "dt-digits": tree_digits}
    return [makers[n]() for n in names]


def run_ours(name: str, problem: Problem, n: int, seed: int) -> list[tuple[float, float]]:
    """Our brain ``name`` behind ParEGO, as a run with ``metric`` a list of two minimised metrics drives it."""
    conf = h.settings(name, seed, automl_max_recommendations=n, automl_max_concurrent=1,
                      metric=[{"name": "f1", "direction": "minimize"}, {"name": "f2", "direction": "minimize"}])
    sched = parego_scheduler(problem.space, conf)
    points: list[tuple[float, float]] = []
    while len(points) < n:
        trial_id = len(points) + 1
        trial = sched.propose([trial_id], {}, np.random.default_rng([seed, len(points)]))[0]
        point = problem.objectives(trial.config)
        sched.observe_vector(trial_id, point)
        points.append(point)
    return points


def run_optuna(name: str, problem: Problem, n: int, seed: int) -> list[tuple[float, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.NSGAIISampler(seed=seed) if name == "optuna_nsga2"
               else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(sampler=sampler, directions=["minimize", "minimize"])
    dists = h.optuna_distributions(problem.space)
    points: list[tuple[float, float]] = []
    for _ in range(n):
        trial = study.ask(dists)
        point = problem.objectives(dict(trial.params))
        study.tell(trial, list(point))
        points.append(point)
    return points


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["zdt1", "zdt2", "dt-digits"])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--evals", type=int, default=40)
    parser.add_argument("--dim", type=int, default=6)
    parser.add_argument("--out", type=Path, default=h.RESULTS_DIR / "multiobjective.json")
    args = parser.parse_args(argv)
    if not h.optuna_available():
        args.methods = [m for m in args.methods if not m.startswith("optuna_")]
    runs: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, float] = {}
    for problem in problems(args.problems, args.dim):
        runs[problem.name] = {}
        for method in args.methods:
            start = time.process_time()
            volumes = []
            for seed in range(args.seeds):
                runner = run_optuna if method.startswith("optuna_") else run_ours
                volumes.append(hypervolume_2d(runner(method, problem, args.evals, seed), problem.reference))
            seconds[f"{problem.name}/{method}"] = round(time.process_time() - start, 2)
            runs[problem.name][method] = volumes
            print(f"{problem.name} {method}: median HV {statistics.median(volumes):.4g}", file=sys.stderr)
    medians = {p: {m: statistics.median(v) for m, v in by.items()} for p, by in runs.items()}
    ranks: dict[str, list[float]] = {m: [] for m in args.methods}
    for by in medians.values():
        order = sorted(by, key=lambda m: -by[m])
        for m in args.methods:
            ranks[m].append(1.0 + order.index(m))
    rows = [[m, *[medians[p][m] for p in runs], statistics.mean(ranks[m]),
             sum(s for k, s in seconds.items() if k.endswith(f"/{m}"))] for m in args.methods]
    print(f"hypervolume after {args.evals} evaluations (median over {args.seeds} seeds; higher is better)")
    print(h.table(["method", *runs, "mean rank", "CPU s"], rows))
    result = {"evals": args.evals, "seeds": args.seeds, "dim": args.dim, "problems": list(runs),
              "hypervolume": runs, "median": medians, "mean_rank": {m: statistics.mean(r) for m, r in ranks.items()},
              "cpu_s": seconds, "machine": h.machine()}
    h.write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()

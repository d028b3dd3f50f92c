"""The search-quality suite: 15 Bayesmark-style sklearn problems + 10 synthetic ones, split tuning/validation.

Problems. Twelve sklearn model x dataset x metric pairs covering every bayesmark model family (kNN, SVM, DT, RF,
MLP-adam, MLP-sgd, ada, lasso, linear) on bundled datasets, with bayesmark's spaces (its ``logit`` scale is our
``"scale": "logit"``; Optuna has no logit scale and gets those floats linear), three with categorical params added
(``<model>-cat``: DT's criterion and splitter, kNN's weights and algorithm, MLP-adam's activation), plus Branin,
Hartmann6, Ackley-10, Rosenbrock-10 and variants: Rosenbrock-10 on integers, and Branin, Hartmann6, Levy-10,
Rosenbrock-10 and Ackley-10 with the last half of their coordinates as 5-level categoricals (``-cat``).
To keep it cheap on a shared 2-core machine the sklearn objectives use at most ``MAX_ROWS`` training rows and
3-fold CV — the same for every method.

Split. ``TUNING`` problems are the only ones any design choice was tuned on; ``VALIDATION`` problems are looked
at once per change (``--split validation``). Report both. ``NOISY`` (``--split noisy``) holds noisy variants of
bayesmark-like problems (models with a per-evaluation ``random_state``, synthetic functions with additive noise; each
evaluation's noise a function of (seed, evaluation index), so runs stay reproducible): never used for tuning.

Score (Bayesmark-style). Per problem: ``best`` = the best loss any stored run of any method reached (shared),
``median_random`` = the median of every single evaluation of the ``random`` runs (uniform draws: the lower
anchor). A run scores ``100 x (1 - clip((its best - best) / (median_random - best), 0, 1))``; a problem's score
is the mean over seeds; the suite's is the mean over problems. ``below random`` lists problems where a method's
median (over seeds) best loss is worse than random search's median best loss at the same budget and batch.

Runs are cached: each (method, batch) writes ``results/suite/<label>@<batch>.json`` (problem -> seed ->
losses); a rerun only computes missing (problem, seed) cells unless ``--force``.

    nice .venv/bin/python benchmarks/suite.py --split tuning --methods random optuna_tpe optuna_gp tpe bayesian
    nice .venv/bin/python benchmarks/suite.py --split validation --methods bayesian --force
    .venv/bin/python benchmarks/suite.py --score-only --split all      # tables from the cached runs
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h
import bayesmark as bm
import synthetic as syn

MAX_ROWS = 240
CACHE = h.RESULTS_DIR / "suite"
METHODS = ["bayesian", "tpe", "random", "auto", "optuna_tpe", "optuna_gp"]


# -- spaces: bayesmark's, with its logit scale ----------------------------------------------------------------------
def logit(low: float, high: float) -> dict[str, Any]:
    return {"type": "float", "minimum": low, "maximum": high, "scale": "logit"}


DT = {"max_depth": h.integer(1, 15), "min_samples_split": logit(0.01, 0.99), "min_samples_leaf": logit(0.01, 0.49),
      "min_weight_fraction_leaf": logit(0.01, 0.49), "max_features": logit(0.01, 0.99),
      "min_impurity_decrease": h.real(0.0, 0.5)}
MLP_ADAM = {**bm.MLP_ADAM, "validation_fraction": logit(0.1, 0.9), "beta_1": logit(0.5, 0.99),
            "beta_2": logit(0.9, 1.0 - 1e-6)}
MLP_SGD = {**bm.MLP_SGD, "momentum": logit(0.001, 0.999), "validation_fraction": logit(0.1, 0.9)}
SPACES = {"DT": DT, "RF": DT, "MLP-adam": MLP_ADAM, "MLP-sgd": MLP_SGD}


def categorical(*options: str) -> dict[str, Any]:
    return {"type": "categorical", "enum": list(options)}


#: ``<model>-cat``: bayesmark's model with some of its fixed string arguments searched as categoricals (spaces with
#: real categorical params; bayesmark itself has none). Each entry: the base model and the params added.
WITH_CATEGORIES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "DT-cat": ("DT", {"criterion": categorical("gini", "entropy", "log_loss"),
                      "splitter": categorical("best", "random")}),
    "kNN-cat": ("kNN", {"weights": categorical("uniform", "distance"),
                        "algorithm": categorical("ball_tree", "kd_tree", "brute")}),
    "MLP-adam-cat": ("MLP-adam", {"activation": categorical("identity", "logistic", "tanh", "relu")}),
}


#: Salt of the noisy problems' per-evaluation streams (so they share no draws with the brains' generators).
NOISE_SALT = 12_0001


@dataclass(frozen=True)
class Problem:
    """``build`` -> (space, loss). A ``noisy`` problem's loss takes a second argument, the evaluation's noise key
    ``(seed, evaluation index)``: its randomness (a model's ``random_state``, additive noise) comes from that key
    alone, so a run is reproducible and the cache deterministic while repeated configs score differently."""

    name: str
    build: Callable[[], tuple[Any, Callable[..., float | None]]]
    noisy: bool = False


def noise_rng(key: Sequence[int]) -> np.random.Generator:
    return np.random.default_rng([NOISE_SALT, *key])


def run_objective(problem: Problem, loss: Callable[..., float | None],
                  seed: int) -> Callable[[Mapping[str, Any]], float | None]:
    """The objective one run of ``seed`` sees: ``loss`` itself, or for a noisy problem ``loss`` with the noise key
    ``(seed, k)`` of its ``k``-th evaluation (evaluations are made in the order proposed)."""
    if not problem.noisy:
        return loss
    count = itertools.count()
    return lambda config: loss(config, (seed, next(count)))


def sklearn_problem(model: str, dataset: str, metric: str, noisy: bool = False) -> Problem:
    """``noisy``: the model's ``random_state`` (where it takes one) drawn per evaluation from its noise key, as
    bayesmark leaves it unset (MLP initialisation and early-stopping split, DT/RF feature order, SVC's Platt CV)."""

    def build() -> tuple[Any, Callable[..., float | None]]:
        from sklearn import datasets
        from sklearn.metrics import get_scorer
        from sklearn.model_selection import cross_val_score, train_test_split

        regression = dataset in bm.REGRESSION
        x, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
        x_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0, shuffle=True)
        x_train, y_train = x_train[:MAX_ROWS], y_train[:MAX_ROWS]
        base, added = WITH_CATEGORIES.get(model, (model, {}))
        cls, fixed, params = bm._model(base, regression)
        params = {**SPACES.get(base, params), **added}
        fixed = {k: v for k, v in fixed.items() if k not in added}
        scorer = get_scorer(bm.SCORERS[metric])

        def loss(config: Mapping[str, Any], key: Sequence[int] | None = None) -> float | None:
            state = {} if key is None or "random_state" not in fixed else {
                "random_state": int(noise_rng(key).integers(2**31 - 1))}
            est = cls(**{**dict(config), **fixed, **state})
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = float(np.mean(cross_val_score(est, x_train, y_train, scoring=scorer, cv=3,
                                                      error_score="raise")))
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                return None
            return -s if math.isfinite(s) else None

        return h.space_of(params), loss

    return Problem(f"{model}-{dataset}-{metric}{'-noisy' if noisy else ''}", build, noisy)


def synthetic_problem(name: str, kind: str = "float", noise_sd: float = 0.0) -> Problem:
    """``kind``: ``float`` (standard domain), ``int`` (every coordinate an integer), ``cat`` (the last half of
    the coordinates one of 5 evenly spaced levels, as categorical options). ``noise_sd`` > 0: each evaluation adds
    Gaussian noise of that standard deviation, drawn from its noise key (name suffix ``-noisy``)."""
    base = syn.PROBLEMS[name]

    def build() -> tuple[Any, Callable[..., float | None]]:
        params: dict[str, dict[str, Any]] = {}
        d = len(base.bounds)
        for i, (lo, hi) in enumerate(base.bounds):
            if kind == "int":
                params[f"x{i}"] = h.integer(math.ceil(lo), math.floor(hi))
            elif kind == "cat" and i >= d // 2:
                params[f"x{i}"] = {"type": "categorical", "enum": [str(v) for v in np.linspace(lo, hi, 5)]}
            else:
                params[f"x{i}"] = h.real(lo, hi)
        names = list(params)

        def loss(config: Mapping[str, Any], key: Sequence[int] | None = None) -> float | None:
            value = base.fn(np.array([float(config[n]) for n in names]))
            if key is None or value is None:
                return value
            return float(value) + noise_sd * float(noise_rng(key).standard_normal())

        return h.space_of(params), loss

    label = name if kind == "float" else f"{name}-{kind}"
    return Problem(f"{label}-noisy" if noise_sd > 0 else label, build, noise_sd > 0)


TUNING = [sklearn_problem("kNN", "digits", "acc"), sklearn_problem("SVM", "breast_cancer", "nll"),
          sklearn_problem("DT", "diabetes", "mae"), sklearn_problem("MLP-sgd", "wine", "nll"),
          sklearn_problem("lasso", "diabetes", "mae"), sklearn_problem("linear", "breast_cancer", "nll"),
          synthetic_problem("branin"), synthetic_problem("ackley10"), synthetic_problem("rosenbrock10", "int"),
          synthetic_problem("branin", "cat"), synthetic_problem("levy10", "cat"),
          synthetic_problem("rosenbrock10", "cat"), synthetic_problem("ackley10", "cat")]
VALIDATION = [sklearn_problem("DT", "digits", "nll"), sklearn_problem("RF", "wine", "nll"),
              sklearn_problem("MLP-adam", "breast_cancer", "acc"), sklearn_problem("ada", "iris", "nll"),
              sklearn_problem("kNN", "diabetes", "mse"), sklearn_problem("SVM", "wine", "acc"),
              synthetic_problem("hartmann6"), synthetic_problem("rosenbrock10"), synthetic_problem("hartmann6", "cat"),
              sklearn_problem("DT-cat", "breast_cancer", "nll"), sklearn_problem("kNN-cat", "wine", "acc"),
              sklearn_problem("MLP-adam-cat", "iris", "nll")]
#: Noisy variants (bayesmark's unseeded models; additive noise of ~10 % of the synthetic functions' random-median-
#: to-optimum span): never used to tune a design choice, scored like the others (the observed, noisy, values).
NOISY = [sklearn_problem("MLP-sgd", "iris", "nll", noisy=True), sklearn_problem("MLP-adam", "wine", "acc", noisy=True),
         sklearn_problem("DT", "diabetes", "mae", noisy=True), sklearn_problem("RF", "iris", "acc", noisy=True),
         sklearn_problem("SVM", "wine", "nll", noisy=True), synthetic_problem("branin", noise_sd=3.0),
         synthetic_problem("hartmann6", noise_sd=0.3)]
SPLITS = {"tuning": TUNING, "validation": VALIDATION, "all": TUNING + VALIDATION, "noisy": NOISY}


# -- runs (cached) ---------------------------------------------------------------------------------------------------
def cache_path(label: str, batch: int, root: Path = CACHE) -> Path:
    return root / f"{label}@{batch}.json"


def load_runs(label: str, batch: int, root: Path = CACHE) -> dict[str, dict[str, list[float]]]:
    """problem -> str(seed) -> losses (inf for failures)."""
    path = cache_path(label, batch, root)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())["runs"]
    return {p: {s: [math.inf if v is None else float(v) for v in losses] for s, losses in seeds.items()}
            for p, seeds in data.items()}


def save_runs(label: str, batch: int, runs: Mapping[str, Mapping[str, Sequence[float]]], meta: Mapping[str, Any],
              root: Path = CACHE) -> None:
    h.write_json(cache_path(label, batch, root), {**meta, "runs": {
        p: {s: h.finite(v) for s, v in seeds.items()} for p, seeds in runs.items()}})


def run_cells(method: str, label: str, batch: int, problems: Sequence[Problem], seeds: Sequence[int], recs: int,
              force: bool, root: Path = CACHE) -> float:
    """Fill ``label@batch`` for ``problems`` x ``seeds``; returns the seconds spent."""
    runs = load_runs(label, batch, root)
    t0 = time.perf_counter()
    for p in problems:
        todo = [s for s in seeds if force or str(s) not in runs.get(p.name, {})]
        if not todo:
            continue
        space, loss = p.build()
        for seed in todo:
            runs.setdefault(p.name, {})[str(seed)] = h.run_method(method, space, run_objective(p, loss, seed), recs,
                                                                  seed, batch)
        save_runs(label, batch, runs, {"method": method, "batch": batch, "recs": recs, "machine": h.machine()}, root)
        print(f"  {label}@{batch} {p.name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    return time.perf_counter() - t0


# -- scoring -------------------------------------------------------------------------------------------------------
def anchors(problems: Sequence[Problem], batches: Sequence[int], root: Path = CACHE) -> dict[str, dict[str, float]]:
    """Per problem: the shared best (every cached run of every label) and the random lower anchor."""
    out: dict[str, dict[str, float]] = {}
    files = sorted(root.glob("*@*.json")) if root.exists() else []
    for p in problems:
        seen: list[float] = []
        random_draws: list[float] = []
        for f in files:
            label, _, batch = f.stem.rpartition("@")
            for losses in load_runs(label, int(batch), root).get(p.name, {}).values():
                seen += [v for v in losses if math.isfinite(v)]
                if label == "random":
                    random_draws += losses
        if seen and random_draws:
            out[p.name] = {"best": min(seen), "median_random": float(np.median(random_draws))}
    return out


def problem_scores(runs: Mapping[str, Mapping[str, Sequence[float]]], ref: Mapping[str, Mapping[str, float]],
                   seeds: Sequence[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, by_seed in runs.items():
        if name not in ref or not all(str(s) in by_seed for s in seeds):
            continue
        r = ref[name]
        out[name] = 100.0 * (1.0 - float(np.mean([bm.normalised(min(by_seed[str(s)]), r["best"], r["median_random"])
                                                   for s in seeds])))
    return out


def median_best(runs: Mapping[str, Mapping[str, Sequence[float]]], name: str, seeds: Sequence[int]) -> float:
    return float(np.median([min(runs[name][str(s)]) for s in seeds]))


def report(labels: Sequence[str], problems: Sequence[Problem], batches: Sequence[int], seeds: Sequence[int],
           root: Path = CACHE) -> dict[str, Any]:
    ref = anchors(problems, batches, root)
    names = [p.name for p in problems]
    scores: dict[str, dict[str, Any]] = {}
    for batch in batches:
        rand = load_runs("random", batch, root)
        for label in labels:
            runs = load_runs(label, batch, root)
            per = problem_scores({n: runs[n] for n in names if n in runs}, ref, seeds)
            below = [n for n in per if n in rand and all(str(s) in rand[n] for s in seeds)
                     and median_best(runs, n, seeds) > median_best(rand, n, seeds)]
            complete = len(per) == len(names)
            scores[f"{label}@{batch}"] = {"score": float(np.mean(list(per.values()))) if complete else math.nan,
                                          "per_problem": per, "below_random": below, "complete": complete}
    rows = [[label, *[scores[f"{label}@{b}"]["score"] for b in batches],
             ", ".join(sorted({n for b in batches for n in scores[f"{label}@{b}"]["below_random"]})) or "-"]
            for label in labels]
    print(h.table(["method", *[f"16x{b}" if b == 1 else f"16 in batches of {b}" for b in batches],
                   "below random (median)"], rows))
    for batch in batches:
        print(f"\nper problem, batch {batch} (score; * = median best worse than random's)")
        print(h.table(["problem", *labels], [[n, *[_cell(scores[f"{lb}@{batch}"], n) for lb in labels]]
                                               for n in names]))
    return {"anchors": ref, "scores": scores}


def _cell(entry: Mapping[str, Any], name: str) -> str:
    if name not in entry["per_problem"]:
        return "-"
    return f"{entry['per_problem'][name]:.1f}{'*' if name in entry['below_random'] else ''}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=list(SPLITS), default="tuning")
    ap.add_argument("--problems", nargs="+", help="only these problem names (of the split)")
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--label", help="cache label for a single method (default: the method's name)")
    ap.add_argument("--recs", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--force", action="store_true", help="recompute cached cells")
    ap.add_argument("--score-only", action="store_true", help="no runs: tables from the cache")
    ap.add_argument("--patch", nargs="+", default=[], metavar="MODULE.ATTR=JSON",
                    help="set a module attribute before running (variants of a brain, with --label)")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--out", type=Path, help="JSON summary (default: results/suite_<split>.json)")
    args = ap.parse_args(argv)

    for patch in args.patch:
        target, _, value = patch.partition("=")
        module, _, attr = target.rpartition(".")
        setattr(importlib.import_module(module), attr, json.loads(value))
    problems = [p for p in SPLITS[args.split] if not args.problems or p.name in args.problems]
    seeds = list(range(args.seeds))
    ours, _ = h.registered([m for m in args.methods if not m.startswith("optuna_")])
    methods = [m for m in args.methods if args.score_only or m in ours
               or (m.startswith("optuna_") and h.optuna_available())]
    skipped = [m for m in args.methods if m not in methods]
    if skipped:
        print(f"skipped (not registered / not installed): {', '.join(skipped)}")
    labels = [args.label] if args.label and len(methods) == 1 else methods
    seconds: dict[str, float] = {}
    if not args.score_only:
        for batch in args.batches:
            for method, label in zip(methods, labels, strict=True):
                seconds[f"{label}@{batch}"] = run_cells(method, label, batch, problems, seeds, args.recs,
                                                        args.force, args.cache)
    shown = labels if args.score_only or "random" in labels else [*labels, "random"]
    print(f"\nSuite ({args.split}: {len(problems)} problems, {args.recs} recs, {args.seeds} seeds; "
          "100 = shared best, 0 = random's median single draw)")
    result = report([lb for lb in shown if any(cache_path(lb, b, args.cache).exists() for b in args.batches)],
                    problems, args.batches, seeds, args.cache)
    out = {"benchmark": "suite", "split": args.split, "problems": [p.name for p in problems], "recs": args.recs,
           "seeds": args.seeds, "batches": args.batches, "machine": h.machine(), "seconds": seconds,
           "skipped": skipped, **result}
    path = args.out or h.RESULTS_DIR / f"suite_{args.split}.json"
    h.write_json(path, out)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()

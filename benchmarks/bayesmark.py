"""Bayesmark-style benchmark: sklearn models on sklearn's bundled datasets, NeurIPS 2020 BBO challenge spaces.

Spaces and fixed model arguments follow uber/bayesmark ``sklearn_funcs`` (re-expressed as TAO-format schemas;
its ``logit`` scale is searched linearly here so that the frozen baseline stays comparable with earlier runs —
``suite.py`` uses our ``"scale": "logit"``; Lasso's removed ``normalize`` flag is dropped). Objective: the
bayesmark metric (``nll``/``acc``/``mse``/``mae``, as a loss) of 3-fold CV on
the 80 % training split (``random_state=0``); models with a ``random_state`` get 0 so the objective is
deterministic. Score = 100 x (1 - mean over problems and seeds of the clipped normalised loss), each problem
normalised between the frozen best value (``baselines/bayesmark.json``) and the frozen median of single random
draws. ``--freeze`` recomputes the random medians and folds the run's best values into that file.

    .venv/bin/python benchmarks/bayesmark.py                      # 10 problems, 16 recs, 10 seeds, x1 and x4
    .venv/bin/python benchmarks/bayesmark.py --seeds 2 --problems 3 --batches 1
"""

from __future__ import annotations

import argparse
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

BASELINE = h.BASELINES_DIR / "bayesmark.json"
METHODS = ["bayesian", "tpe", "random", "optuna_tpe", "optuna_gp"]

# -- bayesmark sklearn_funcs spaces (logit -> linear here; suite.py keeps logit) -------------------------------
KNN = {"n_neighbors": h.integer(1, 25), "p": h.integer(1, 4)}
SVM = {"C": h.real(1.0, 1e3, log=True), "gamma": h.real(1e-4, 1e-3, log=True), "tol": h.real(1e-5, 1e-1, log=True)}
DT = {"max_depth": h.integer(1, 15), "min_samples_split": h.real(0.01, 0.99),
      "min_samples_leaf": h.real(0.01, 0.49), "min_weight_fraction_leaf": h.real(0.01, 0.49),
      "max_features": h.real(0.01, 0.99), "min_impurity_decrease": h.real(0.0, 0.5)}
RF = DT
MLP_ADAM = {"hidden_layer_sizes": h.integer(50, 200), "alpha": h.real(1e-5, 1e1, log=True),
            "batch_size": h.integer(10, 250), "learning_rate_init": h.real(1e-5, 1e-1, log=True),
            "tol": h.real(1e-5, 1e-1, log=True), "validation_fraction": h.real(0.1, 0.9),
            "beta_1": h.real(0.5, 0.99), "beta_2": h.real(0.9, 1.0 - 1e-6), "epsilon": h.real(1e-9, 1e-6, log=True)}
MLP_SGD = {"hidden_layer_sizes": h.integer(50, 200), "alpha": h.real(1e-5, 1e1, log=True),
           "batch_size": h.integer(10, 250), "learning_rate_init": h.real(1e-5, 1e-1, log=True),
           "power_t": h.real(0.1, 0.9), "tol": h.real(1e-5, 1e-1, log=True), "momentum": h.real(0.001, 0.999),
           "validation_fraction": h.real(0.1, 0.9)}
ADA = {"n_estimators": h.integer(10, 100), "learning_rate": h.real(1e-4, 1e1, log=True)}
LOGREG = {"C": h.real(1e-2, 1e2, log=True), "intercept_scaling": h.real(1e-2, 1e2, log=True)}
LASSO_REG = {"alpha": h.real(1e-2, 1e2, log=True), "fit_intercept": h.boolean(),
             "max_iter": h.integer(10, 5000, log=True), "tol": h.real(1e-5, 1e-1, log=True), "positive": h.boolean()}
RIDGE_REG = {"alpha": h.real(1e-2, 1e2, log=True), "fit_intercept": h.boolean(),
             "max_iter": h.integer(10, 5000, log=True), "tol": h.real(1e-4, 1e-1, log=True)}

SCORERS = {"nll": "neg_log_loss", "acc": "accuracy", "mse": "neg_mean_squared_error", "mae": "neg_mean_absolute_error"}
REGRESSION = {"diabetes"}


def _model(name: str, regression: bool) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(estimator class, fixed arguments, search params) of bayesmark model ``name``."""
    from sklearn import ensemble, linear_model, neighbors, neural_network, svm, tree

    rs = {"random_state": 0}
    sgd = {"solver": "sgd", "early_stopping": True, "learning_rate": "invscaling", "nesterovs_momentum": True, **rs}
    if regression:
        models: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {
            "kNN": (neighbors.KNeighborsRegressor, {}, KNN),
            "SVM": (svm.SVR, {"kernel": "rbf"}, SVM),
            "DT": (tree.DecisionTreeRegressor, {"max_leaf_nodes": None, **rs}, DT),
            "RF": (ensemble.RandomForestRegressor, {"n_estimators": 10, "max_leaf_nodes": None, **rs}, RF),
            "MLP-adam": (neural_network.MLPRegressor, {"solver": "adam", "early_stopping": True, **rs}, MLP_ADAM),
            "MLP-sgd": (neural_network.MLPRegressor, {"activation": "tanh", **sgd}, MLP_SGD),
            "ada": (ensemble.AdaBoostRegressor, dict(rs), ADA),
            "lasso": (linear_model.Lasso, dict(rs), LASSO_REG),
            "linear": (linear_model.Ridge, {"solver": "auto"}, RIDGE_REG),
        }
    else:
        models = {
            "kNN": (neighbors.KNeighborsClassifier, {}, KNN),
            "SVM": (svm.SVC, {"kernel": "rbf", "probability": True, **rs}, SVM),
            "DT": (tree.DecisionTreeClassifier, {"max_leaf_nodes": None, **rs}, DT),
            "RF": (ensemble.RandomForestClassifier, {"n_estimators": 10, "max_leaf_nodes": None, **rs}, RF),
            "MLP-adam": (neural_network.MLPClassifier, {"solver": "adam", "early_stopping": True, **rs}, MLP_ADAM),
            "MLP-sgd": (neural_network.MLPClassifier, sgd, MLP_SGD),
            "ada": (ensemble.AdaBoostClassifier, dict(rs), ADA),
            "lasso": (linear_model.LogisticRegression, {"penalty": "l1", "solver": "liblinear", **rs}, LOGREG),
            "linear": (linear_model.LogisticRegression, {"penalty": "l2", "solver": "liblinear", **rs}, LOGREG),
        }
    return models[name]


@dataclass(frozen=True)
class Problem:
    model: str
    dataset: str
    metric: str

    @property
    def name(self) -> str:
        return f"{self.model}-{self.dataset}-{self.metric}"


#: Ten problems, every bayesmark model family, every dataset, every metric, each cheap to evaluate.
PROBLEMS = [Problem("kNN", "wine", "acc"), Problem("SVM", "breast_cancer", "nll"), Problem("DT", "digits", "nll"),
            Problem("RF", "iris", "acc"), Problem("MLP-adam", "wine", "acc"), Problem("MLP-sgd", "iris", "nll"),
            Problem("ada", "iris", "nll"), Problem("lasso", "diabetes", "mae"),
            Problem("linear", "diabetes", "mse"), Problem("linear", "breast_cancer", "nll")]


def objective(problem: Problem) -> tuple[Any, Callable[[Mapping[str, Any]], float | None]]:
    """(search space, loss function) of ``problem``."""
    from sklearn import datasets
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import cross_val_score, train_test_split

    regression = problem.dataset in REGRESSION
    x, y = getattr(datasets, f"load_{problem.dataset}")(return_X_y=True)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0, shuffle=True)
    cls, fixed, params = _model(problem.model, regression)
    scorer = get_scorer(SCORERS[problem.metric])

    def loss(config: Mapping[str, Any]) -> float | None:
        est = cls(**{**dict(config), **fixed})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = float(np.mean(cross_val_score(est, x_train, y_train, scoring=scorer, cv=3,
                                                      error_score="raise")))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            return None
        return -score if math.isfinite(score) else None

    return h.space_of(params), loss


# -- scoring -----------------------------------------------------------------------------------------------------
def normalised(best_seen: float, best: float, median_random: float) -> float:
    """The clipped normalised loss of one run: 0 at the best known value, 1 at the random median or worse."""
    span = median_random - best
    if not math.isfinite(best_seen):
        return 1.0
    return float(min(max((best_seen - best) / span, 0.0), 1.0)) if span > 0 else 0.0


def score(runs: Mapping[str, Sequence[Sequence[float]]], baseline: Mapping[str, Mapping[str, float]]) -> float:
    """100 x (1 - mean normalised loss) over problems (mean over seeds within a problem)."""
    per_problem = []
    for problem, seeds in runs.items():
        ref = baseline[problem]
        per_problem.append(float(np.mean([normalised(min(losses), ref["best"], ref["median_random"])
                                          for losses in seeds])))
    return 100.0 * (1.0 - float(np.mean(per_problem)))


def random_median(problem: Problem, draws: int) -> float:
    """Median loss of ``draws`` single uniform draws (failures count as +inf), seed-fixed."""
    space, loss = objective(problem)
    rng = np.random.default_rng([20201, draws])
    values = [loss(space.sample(rng)) for _ in range(draws)]
    return float(np.median([math.inf if v is None else v for v in values]))


def load_baseline(path: Path = BASELINE) -> dict[str, dict[str, float]]:
    data: dict[str, dict[str, float]] = json.loads(path.read_text())["problems"] if path.exists() else {}
    return data


def freeze(results: Mapping[str, Mapping[str, Any]], problems: Sequence[Problem], draws: int,
           path: Path = BASELINE) -> None:
    """Write the random medians (computed once per problem) and the best values seen so far to the baseline."""
    base = load_baseline(path)
    for p in problems:
        entry = base.setdefault(p.name, {})
        if "median_random" not in entry or entry.get("draws", 0) < draws:
            entry["median_random"], entry["draws"] = random_median(p, draws), draws
        seen = [v for runs in results.values() for losses in runs.get(p.name, []) for v in losses]
        entry["best"] = min([entry.get("best", math.inf), *[v for v in seen if math.isfinite(v)]])
    h.write_json(path, {"protocol": "bayesmark-style, 3-fold CV, see benchmarks/README.md",
                            "updated": h.machine()["date"], "problems": base})


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=len(PROBLEMS), help="use the first N problems")
    ap.add_argument("--recs", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="recs asked (and told) at a time")
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--freeze", action="store_true", help="update baselines/bayesmark.json from this run")
    ap.add_argument("--draws", type=int, default=256, help="random draws per problem for --freeze")
    ap.add_argument("--baseline", type=Path, default=BASELINE, help="frozen random medians and best values")
    ap.add_argument("--out", type=Path, default=h.RESULTS_DIR / "bayesmark.json")
    args = ap.parse_args(argv)

    problems = PROBLEMS[: args.problems]
    ours, _missing = h.registered([m for m in args.methods if not m.startswith("optuna_")])
    methods = [m for m in args.methods if m in ours or (m.startswith("optuna_") and h.optuna_available())]
    skipped = [m for m in args.methods if m not in methods]
    if skipped:
        print(f"skipped (not registered / not installed): {', '.join(skipped)}")
    results: dict[str, dict[str, list[list[float]]]] = {}  # "method@batch" -> problem -> seeds -> losses
    timing: dict[str, float] = {}
    for batch in args.batches:
        for method in methods:
            key, t0 = f"{method}@{batch}", time.perf_counter()
            results[key] = {}
            for p in problems:
                space, loss = objective(p)
                results[key][p.name] = [h.run_method(method, space, loss, args.recs, seed, batch)
                                        for seed in range(args.seeds)]
            timing[key] = time.perf_counter() - t0
            print(f"  {key}: {timing[key]:.1f} s", flush=True)
    if args.freeze or not all(p.name in load_baseline(args.baseline) for p in problems):
        freeze(results, problems, args.draws, args.baseline)
    baseline = load_baseline(args.baseline)
    scores = {key: score(runs, baseline) for key, runs in results.items()}
    per_problem = {key: {name: 100.0 * (1.0 - float(np.mean([
        normalised(min(s), baseline[name]["best"], baseline[name]["median_random"]) for s in seeds])))
        for name, seeds in runs.items()} for key, runs in results.items()}
    rows = [[m, *[scores.get(f"{m}@{b}", math.nan) for b in args.batches]] for m in methods]
    print(f"\nBayesmark-style score ({len(problems)} problems, {args.recs} recs, {args.seeds} seeds; "
          f"higher is better, 100 = best known)")
    print(h.table(["method", *[f"{args.recs}x{b}" for b in args.batches]], rows))
    out = {"benchmark": "bayesmark", "machine": h.machine(), "problems": [p.name for p in problems],
           "recs": args.recs, "seeds": args.seeds, "batches": args.batches, "skipped": skipped,
           "scores": scores, "per_problem": per_problem, "seconds": timing,
           "losses": {k: {p: [h.finite(s) for s in seeds] for p, seeds in v.items()} for k, v in results.items()}}
    h.write_json(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()

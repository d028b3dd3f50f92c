"""Bayesmark with the REAL ``bayesmark`` package (uber/bayesmark 0.0.8): its objectives, study loop and scoring.

Unlike ``bayesmark.py`` (a re-implementation: 3-fold CV, a frozen baseline, its own score formula), this script
uses bayesmark's own code end to end:

* objectives: ``bayesmark.sklearn_funcs.SklearnModel`` (its model families, spaces, fixed arguments, 80/20 split
  with ``shuffle_seed=0`` and **5-fold** CV; the loss is the negated sklearn score, e.g. ``-accuracy``);
* study loop: ``bayesmark.experiment.run_study`` with each method wrapped as a bayesmark ``AbstractOptimizer``
  (``suggest(n_suggestions)`` / ``observe(X, y)``); failures reach the optimizer as ``inf``;
* scoring: ``bayesmark.experiment_baseline.compute_baseline`` (the random baseline from the ``RandomSearch_*``
  runs of the same study, one shared best per problem over every method's evaluations) and
  ``bayesmark.experiment_analysis.compute_aggregates`` (its clipped normalised mean). The leaderboard score is
  ``100 x (1 - summary["mean"])`` at the last iteration, as the NeurIPS 2020 BBO challenge reported it; bayesmark's
  ``summary["normed_mean"]`` (the same divided by random's) is saved too.

Methods: ours ``bayesian``, ``tpe`` and ``random`` driven through the trial protocol like ``_harness.py`` does
(bayesmark's ``api_config`` converted to our TAO schema: ``log`` -> ``"scale": "log"``, ``logit`` ->
``"scale": "logit"``, ints, bools, categoricals), Optuna's ``TPESampler`` and ``GPSampler`` (defaults, seeded;
Optuna has no logit scale, so those params are linear there) and bayesmark's own ``RandomOptimizer``
(``RandomSearch_bayesmark``, the random reference of the score).

Workarounds for modern libraries (bayesmark 0.0.8 pins numpy 1.16 / scikit-learn 0.20; nothing in site-packages
is edited, everything is patched in this process before bayesmark is imported, see :func:`import_bayesmark`):
``sklearn.datasets.load_boston`` (removed) is replaced by a stub that raises, so bayesmark's ``data`` module imports
(the ``boston`` dataset is then unusable and not used); ``LogisticRegression(multi_class="ovr")`` (removed) is
dropped from the ``lasso``/``linear`` classifiers' fixed arguments, exact on binary data, so those models run only
on ``breast``; ``sklearn_funcs.get_scorer`` is wrapped to return ``np.float64`` (modern scorers return a python
float and bayesmark calls ``.item()`` on it: without this every evaluation is ``inf``); ``np.float_`` is aliased
to ``np.float64`` if numpy >= 2; this folder is taken off ``sys.path`` (``bayesmark.py`` here shadows the package).
``Lasso``/``Ridge``'s removed ``normalize`` is left in bayesmark's regression spaces, so ``lasso``/``linear``
regression problems would fail: none is used.

Install (a separate venv: bayesmark's pins do not install on Python 3.11)::

    python3 -m venv /tmp/bmvenv && /tmp/bmvenv/bin/pip install -e '.[bench]' /path/to/torch-cpu.whl
    /tmp/bmvenv/bin/pip install --no-deps bayesmark==0.0.8 && /tmp/bmvenv/bin/pip install xarray pathvalidate \\
        GitPython importlib-metadata
    nice -n 10 /tmp/bmvenv/bin/python benchmarks/bayesmark_real.py --batches 1 --jobs 2
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random as pyrandom
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

# benchmarks/bayesmark.py would shadow the bayesmark package: keep this folder off the path once _harness is in
sys.path[:] = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != h.BENCH_DIR]

INSTALL = ("pip install --no-deps bayesmark==0.0.8 && pip install xarray pathvalidate GitPython importlib-metadata "
           "(in a venv with this repo's [bench] extra; bayesmark's own pins do not install on Python 3.11)")
RANDOM_REF = "RandomSearch_bayesmark"  # bayesmark's baseline is computed from methods named "RandomSearch_*"
METHODS = ["bayesian", "tpe", "random", "optuna_tpe", "optuna_gp", RANDOM_REF]
#: (model, dataset, metric) in bayesmark's names: 8 model families, 4 datasets (digits left out: ada on it costs
#: ~2 s an evaluation), all 4 metrics.
PROBLEMS = [("DT", "diabetes", "mae"), ("linear", "breast", "nll"), ("SVM", "wine", "nll"), ("kNN", "wine", "acc"),
            ("RF", "iris", "acc"), ("MLP-adam", "wine", "acc"), ("MLP-sgd", "iris", "nll"), ("ada", "breast", "acc")]
WORKAROUNDS: list[str] = []


def import_bayesmark() -> dict[str, Any]:
    """bayesmark's modules, after the in-process workarounds listed in the module docstring."""
    try:
        import bayesmark

        if not hasattr(bayesmark, "__path__"):
            raise ImportError(f"'bayesmark' resolves to {bayesmark.__file__}, not the package")
    except ImportError as exc:
        raise SystemExit(f"bayesmark is not installed ({exc}); {INSTALL}") from exc
    import sklearn.datasets

    if "load_boston" not in vars(sklearn.datasets):
        def load_boston(*_a: Any, **_k: Any) -> Any:
            raise ImportError("load_boston was removed from scikit-learn; the 'boston' dataset is not available")

        sklearn.datasets.load_boston = load_boston  # type: ignore[attr-defined]
        WORKAROUNDS.append("sklearn.datasets.load_boston stubbed (removed in scikit-learn 1.2; boston unusable)")
    if not hasattr(np, "float_"):
        np.float_ = np.float64  # type: ignore[attr-defined]
        WORKAROUNDS.append("np.float_ aliased to np.float64 (removed in numpy 2)")
    try:
        import bayesmark.experiment as experiment
        import bayesmark.experiment_analysis as analysis
        import bayesmark.experiment_baseline as baseline
        import bayesmark.sklearn_funcs as funcs
        from bayesmark.abstract_optimizer import AbstractOptimizer
        from bayesmark.builtin_opt.random_optimizer import RandomOptimizer
    except ImportError as exc:
        raise SystemExit(f"bayesmark does not import ({exc}); {INSTALL}") from exc
    import inspect

    from sklearn.linear_model import LogisticRegression

    if "multi_class" not in inspect.signature(LogisticRegression).parameters:
        for name in ("lasso", "linear"):
            cls, fixed, cfg = funcs.MODELS_CLF[name]
            funcs.MODELS_CLF[name] = (cls, {k: v for k, v in fixed.items() if k != "multi_class"}, cfg)
        WORKAROUNDS.append("LogisticRegression's multi_class='ovr' dropped from lasso/linear (removed in "
                           "scikit-learn 1.8; exact on binary data: those models are used on 'breast' only)")
    from sklearn.metrics import get_scorer

    probe = get_scorer("accuracy")._sign  # scikit-learn >= 1.x scorers return a python float, not a numpy one
    if probe is not None and not getattr(funcs.get_scorer, "_numpy_wrapped", False):
        def numpy_scorer(name: str) -> Any:
            scorer = get_scorer(name)

            def call(estimator: Any, x: Any, y: Any) -> np.float64:
                return np.float64(scorer(estimator, x, y))

            return call

        numpy_scorer._numpy_wrapped = True  # type: ignore[attr-defined]
        funcs.get_scorer = numpy_scorer
        WORKAROUNDS.append("sklearn_funcs.get_scorer wrapped to return np.float64 (modern scorers return a "
                           "python float, and bayesmark calls .item() on the test-split score: every "
                           "evaluation would be inf)")
    return {"experiment": experiment, "analysis": analysis, "baseline": baseline, "funcs": funcs,
            "AbstractOptimizer": AbstractOptimizer, "RandomOptimizer": RandomOptimizer}


# -- spaces -------------------------------------------------------------------------------------------------------
def params_of(api_config: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """bayesmark's api_config as TAO-schema properties (see :func:`_harness.schema`)."""
    out: dict[str, dict[str, Any]] = {}
    for name, conf in api_config.items():
        kind, warp = conf["type"], conf.get("space", "linear")
        if "values" in conf and kind not in ("cat", "bool"):
            raise ValueError(f"param {name!r}: a value list on type {kind!r} has no schema equivalent here")
        if kind in ("real", "int"):
            if warp not in ("linear", "log", "logit") or (kind == "int" and warp == "logit"):
                raise ValueError(f"param {name!r}: space {warp!r} on type {kind!r}; allowed: linear, log, "
                                 "logit (real only)")
            low, high = conf["range"]
            out[name] = {"type": "float" if kind == "real" else "int", "minimum": low, "maximum": high,
                         "scale": warp}
        elif kind == "bool":
            out[name] = {"type": "bool"}
        elif kind == "cat":
            out[name] = {"type": "categorical", "enum": list(conf["values"])}
        else:
            raise ValueError(f"param {name!r}: type {kind!r}; allowed: real, int, bool, cat")
    return out


def to_bayesmark(config: Mapping[str, Any], api_config: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One config in bayesmark's types (python int for ints, float for reals)."""
    out: dict[str, Any] = {}
    for name, conf in api_config.items():
        v = config[name]
        out[name] = int(v) if conf["type"] == "int" else float(v) if conf["type"] == "real" else v
    return out


# -- optimizers (bayesmark AbstractOptimizer subclasses, built inside the worker) -------------------------------
def make_optimizer(bm: Mapping[str, Any], method: str, api_config: dict[str, Any], seed: int, n_calls: int,
                   batch: int) -> Any:
    base = bm["AbstractOptimizer"]
    if method == RANDOM_REF:
        return bm["RandomOptimizer"](api_config, random=np.random.RandomState(seed))
    space = h.space_of(params_of(api_config))

    class Ours(base):  # type: ignore[misc, valid-type]
        primary_import = "tao_automl"

        def __init__(self) -> None:
            base.__init__(self, api_config)
            conf = h.settings(method, seed, automl_max_recommendations=n_calls * batch,
                              automl_max_concurrent=batch)
            self.sched = h.scheduler(method, space, conf)
            self.created, self.pending, self.fallbacks = 0, [], 0

        def suggest(self, n_suggestions: int = 1) -> list[dict[str, Any]]:
            ids = list(range(self.created + 1, self.created + n_suggestions + 1))
            rng = np.random.default_rng([seed, self.created])
            trials = self.sched.propose(ids, {}, rng)
            configs = [dict(t.config) for t in trials]
            self.pending = ids[: len(configs)]
            while len(configs) < n_suggestions:  # the brain gave fewer: fill at random, not told back
                configs.append(dict(space.sample(rng)))
                self.fallbacks += 1
            self.created += n_suggestions
            return [to_bayesmark(c, api_config) for c in configs]

        def observe(self, X: Sequence[Any], y: Sequence[float]) -> None:
            for trial_id, value in zip(self.pending, y, strict=False):
                self.sched.observe(trial_id, float(value) if math.isfinite(value) else None, None)
            self.pending = []

    class OptunaOpt(base):  # type: ignore[misc, valid-type]
        primary_import = "optuna"

        def __init__(self) -> None:
            import optuna

            base.__init__(self, api_config)
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self.optuna = optuna
            self.dists = h.optuna_distributions(space)
            self.study = optuna.create_study(sampler=h.optuna_sampler(method, seed), direction="minimize")
            self.pending: list[Any] = []
            self.fallbacks = 0

        def suggest(self, n_suggestions: int = 1) -> list[dict[str, Any]]:
            self.pending = [self.study.ask(self.dists) for _ in range(n_suggestions)]
            return [to_bayesmark(t.params, api_config) for t in self.pending]

        def observe(self, X: Sequence[Any], y: Sequence[float]) -> None:
            for trial, value in zip(self.pending, y, strict=False):
                if math.isfinite(value):
                    self.study.tell(trial, float(value))
                else:
                    self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            self.pending = []

    return OptunaOpt() if method.startswith("optuna_") else Ours()


def run_one(job: tuple[str, tuple[str, str, str], int, int, int]) -> dict[str, Any]:
    """One study: (method, problem, seed, n_calls, batch) -> evaluations, timings, suggestions."""
    method, (model, dataset, metric), seed, n_calls, batch = job
    bm = import_bayesmark()
    problem = bm["funcs"].SklearnModel(model, dataset, metric)
    # bayesmark's experiment_main seeds the global streams per study; here the same seed for every method, so
    # the models' own randomness (DT/RF feature order, MLP init, SVC's Platt CV) is common to all methods.
    pyrandom.seed(seed)
    np.random.seed(seed)
    opt = make_optimizer(bm, method, problem.get_api_config(), seed, n_calls, batch)
    t0 = time.perf_counter()
    evals, (suggest_t, eval_t, observe_t), log = bm["experiment"].run_study(opt, problem, n_calls, batch, n_obj=2)
    return {"method": method, "problem": f"{model}-{dataset}-{metric}", "seed": seed, "batch": batch,
            "n_calls": n_calls, "evals": evals.tolist(), "suggest_s": suggest_t.tolist(),
            "observe_s": observe_t.tolist(), "eval_s": eval_t.tolist(), "wall_s": time.perf_counter() - t0,
            "fallbacks": getattr(opt, "fallbacks", 0), "suggestions": log}


# -- scoring (bayesmark's own functions) -------------------------------------------------------------------------
def score(bm: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], objective: int = 0) -> dict[str, Any]:
    """bayesmark's baseline + aggregates over ``runs`` (one batch size): leaderboard score per method and per
    problem. ``objective`` 0 = the CV loss the optimizer saw (the leaderboard's), 1 = generalization (test split,
    the config chosen by the CV loss, as bayesmark's analysis does)."""
    import xarray as xr
    from bayesmark import constants as cc

    methods = sorted({r["method"] for r in runs})
    problems = sorted({r["problem"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    n_calls, batch = runs[0]["n_calls"], runs[0]["batch"]
    arr = np.full((n_calls, batch, len(problems), len(methods), len(seeds), 2), np.nan)
    for r in runs:
        arr[:, :, problems.index(r["problem"]), methods.index(r["method"]), seeds.index(r["seed"]), :] = r["evals"]
    if np.isnan(arr).any():
        raise ValueError("incomplete grid: every (method, problem, seed) needs a run at this batch size")
    coords = {cc.ITER: np.arange(n_calls), cc.SUGGEST: np.arange(batch), cc.TEST_CASE: problems,
              cc.METHOD: methods, cc.TRIAL: seeds}
    dims = (cc.ITER, cc.SUGGEST, cc.TEST_CASE, cc.METHOD, cc.TRIAL)
    visible = xr.DataArray(arr[..., 0], coords=coords, dims=dims)
    perf = xr.DataArray(arr[..., objective], coords=coords, dims=dims)
    base = bm["baseline"].compute_baseline(visible if objective == 0 else perf)
    agg, summary = bm["analysis"].compute_aggregates(perf, base, visible)
    last = {cc.ITER: -1}
    return {
        "score": {m: 100.0 * (1.0 - float(summary[cc.PERF_MEAN][last].sel({cc.METHOD: m}))) for m in methods},
        "normed_mean": {m: float(summary[cc.NORMED_MEAN][last].sel({cc.METHOD: m})) for m in methods},
        "per_problem": {m: {p: 100.0 * (1.0 - float(agg[cc.NORMED_MEAN][last].sel({cc.METHOD: m, cc.TEST_CASE: p})))
                            for p in problems} for m in methods},
        "best": {p: float(base[cc.PERF_BEST].sel({cc.TEST_CASE: p})) for p in problems},
        "clip_random_median": {p: float(base[cc.PERF_CLIP].sel({cc.TEST_CASE: p})) for p in problems},
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {}
    for pkg in ("bayesmark", "scikit-learn", "numpy", "scipy", "pandas", "xarray", "optuna", "torch"):
        try:
            out[pkg] = version(pkg)
        except Exception:
            out[pkg] = "missing"
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=16, help="iterations (suggest/observe rounds) per study")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="suggestions per round")
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--problems", nargs="+", default=[f"{m}-{d}-{s}" for m, d, s in PROBLEMS],
                    help="model-dataset-metric in bayesmark's names")
    ap.add_argument("--jobs", type=int, default=1, help="studies run in parallel (processes)")
    ap.add_argument("--cache", type=Path, default=h.RESULTS_DIR / "bayesmark_real_runs.jsonl",
                    help="one JSON line per finished study; studies already there are not rerun")
    ap.add_argument("--out", type=Path, default=h.RESULTS_DIR / "bayesmark_real.json")
    ap.add_argument("--patch", nargs="+", default=[], metavar="MODULE.ATTR=JSON",
                    help="set a module attribute before running (a variant of a brain: give it its own --cache)")
    args = ap.parse_args(argv)
    for patch in args.patch:
        target, _, value = patch.partition("=")
        module, _, attr = target.rpartition(".")
        setattr(importlib.import_module(module), attr, json.loads(value))

    bm = import_bayesmark()
    problems = [tuple(p.rsplit("-", 2)) for p in args.problems]
    for method in args.methods:
        if method not in METHODS:
            raise SystemExit(f"--methods: {method!r} is not allowed; allowed: {', '.join(METHODS)}")
    done: dict[tuple[str, str, int, int, int], dict[str, Any]] = {}
    if args.cache.exists():
        for line in args.cache.read_text().splitlines():
            r = json.loads(line)
            done[(r["method"], r["problem"], r["seed"], r["batch"], r["n_calls"])] = r
    jobs = [(m, p, s, args.calls, b) for b in args.batches for p in problems for m in args.methods
            for s in range(args.seeds) if (m, "-".join(p), s, b, args.calls) not in done]
    t0 = time.perf_counter()
    print(f"{len(jobs)} studies to run ({len(done)} cached), {args.jobs} at a time", flush=True)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    if jobs:
        import multiprocessing as mp

        with args.cache.open("a") as fh, mp.get_context("fork").Pool(args.jobs, maxtasksperchild=20) as pool:
            for k, r in enumerate(pool.imap_unordered(run_one, jobs), 1):
                fh.write(json.dumps(r, default=h._jsonable) + "\n")
                fh.flush()
                done[(r["method"], r["problem"], r["seed"], r["batch"], r["n_calls"])] = r
                if k % 10 == 0 or k == len(jobs):
                    print(f"  {k}/{len(jobs)} studies, {time.perf_counter() - t0:.0f} s", flush=True)
    out: dict[str, Any] = {"benchmark": "bayesmark_real", "machine": h.machine(), "versions": versions(),
                           "workarounds": WORKAROUNDS, "problems": args.problems, "seeds": args.seeds,
                           "calls": args.calls, "methods": args.methods, "load": os.getloadavg(),
                           "run_seconds": time.perf_counter() - t0, "by_batch": {}}
    names = ["-".join(p) for p in problems]
    for b in args.batches:
        runs = [r for k, r in done.items() if k[3] == b and k[4] == args.calls and k[0] in args.methods
                and k[1] in names and k[2] < args.seeds]
        res = score(bm, runs)
        gen = score(bm, runs, objective=1)
        res["generalization"] = {"score": gen["score"], "per_problem": gen["per_problem"]}
        res["mean_suggest_ms"] = {m: 1000.0 * float(np.mean([t for r in runs if r["method"] == m
                                                             for t in r["suggest_s"]])) for m in args.methods}
        res["mean_eval_s"] = {m: float(np.mean([t for r in runs if r["method"] == m for ts in r["eval_s"]
                                                for t in ts])) for m in args.methods}
        res["fallbacks"] = {m: sum(r["fallbacks"] for r in runs if r["method"] == m) for m in args.methods}
        res["traces"] = {m: {p: {str(r["seed"]): [[e[0] for e in it] for it in r["evals"]] for r in runs
                                 if r["method"] == m and r["problem"] == p} for p in names} for m in args.methods}
        out["by_batch"][str(b)] = res
        order = sorted(args.methods, key=lambda m: -res["score"][m])
        print(f"\nbayesmark (real) leaderboard score, {len(names)} problems x {args.seeds} seeds, "
              f"{args.calls}x{b}; 100 = shared best, 0 = random median")
        print(h.table(["method", "score", "generalization", "suggest ms", *names],
                      [[m, res["score"][m], res["generalization"]["score"][m], res["mean_suggest_ms"][m],
                        *[res["per_problem"][m][p] for p in names]] for m in order]))
    h.write_json(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()

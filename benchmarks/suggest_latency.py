"""Suggest latency of each brain at 10 / 100 / 1000 completed recs in a 10-d mixed space.

Each brain first learns ``N`` completed recs (random configs of a cheap 10-d function, replayed through the
trial protocol like a resumed run; multi-fidelity schedulers are driven through ``propose``/``observe`` since
their state is their schedule), then, ``--calls`` times: one more result is observed (not timed) and one
``propose`` of a single rec is timed — so no call can reuse a model fitted for the previous one. Optuna samplers
(if installed) get the same trials through ``study.add_trial`` and ``study.ask`` is timed.

    .venv/bin/python benchmarks/suggest_latency.py
    .venv/bin/python benchmarks/suggest_latency.py --sizes 10 --calls 2 --methods bayesian random
    .venv/bin/python benchmarks/suggest_latency.py --methods bayesian --prepare   # the runner's path
    .venv/bin/python benchmarks/suggest_latency.py --methods bayesian --prepare --small [--fit-only]

``--prepare``: after each timed proposal (and before its result is observed) the scheduler's ``prepare`` runs,
untimed, as the runner calls it while the rec's job runs (told the config in flight and the next generator's seed;
``--fit-only``: not told, as before 2026-12-02 17:40); the timed call is then what sits between a result and the
next launch. Without it, each proposal also pays the work ``prepare`` would have done. ``--small``: a 4-param space,
where bayesian's ``prepare`` also scores the next proposal's random candidates (10+ params search a trust region
around a best result still to come, so they cannot be scored ahead).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

from tao_automl.brain.base import Upcoming
from tao_automl.brain.trials import Trial, prepare_next

CLASSIC = ["bayesian", "tpe", "random"]
MULTI = ["asha", "hyperband", "hyperband_es", "bohb", "dehb", "bfbo", "pbt"]
METHODS = [*CLASSIC, *MULTI, "optuna_tpe", "optuna_gp"]
PARAMS = {**{f"x{i}": h.real(-5.0, 5.0) for i in range(5)}, "lr": h.real(1e-5, 1e-1, log=True),
          "wd": h.real(1e-6, 1e-2, log=True), "layers": h.integer(1, 8),
          "act": {"type": "categorical", "enum": ["relu", "gelu", "tanh", "silu"]}, "flag": h.boolean()}
MAX_EPOCHS = 27
TARGET_MS = 100.0


#: ``--small``: four of the params (a float, a log-scale float, an integer, a categorical), below the trust-region
#: threshold, so the bayesian brain's ``prepare`` also scores the next proposal's random candidates.
SMALL = ("x0", "lr", "layers", "act")


def value(config: Mapping[str, Any]) -> float:
    """A cheap 10-d objective (sphere + log-lr bowl + categorical offsets); params a space lacks count as 0."""
    x = sum(float(config.get(f"x{i}", 0.0)) ** 2 for i in range(5))
    return x + (math.log10(config["lr"]) + 3) ** 2 + 0.1 * abs(config["layers"] - 4) \
        + {"relu": 0.0, "gelu": 0.1, "tanh": 0.3, "silu": 0.05}[config["act"]] + (0.2 if config.get("flag") else 0.0)


CPU: list[float] = []  # CPU ms of every timed call, in order (wall time suffers on a loaded machine)


def _timed_propose(sched: Any, next_id: int, seed: int) -> tuple[float, list[Trial]]:
    t0, c0 = time.perf_counter(), time.process_time()
    trials = sched.propose([next_id], {}, np.random.default_rng([seed, next_id - 1]))
    CPU.append((time.process_time() - c0) * 1000.0)
    return (time.perf_counter() - t0) * 1000.0, trials


def classic_latency(name: str, n: int, calls: int, seed: int, prepare: bool = False,
                    small: bool = False, fit_only: bool = False) -> list[float]:
    space = h.space_of({k: v for k, v in PARAMS.items() if k in SMALL} if small else PARAMS)
    sched = h.scheduler(name, space, h.settings(name, seed, automl_max_recommendations=n + calls + 10))
    rng = np.random.default_rng([seed, 7])
    for i in range(1, n + 1):
        config = space.sample(rng)
        sched.restore(i, Trial(config=config))
        sched.observe(i, value(config), None)
    times, next_id = [], n + 1
    for _ in range(calls):
        ms, trials = _timed_propose(sched, next_id, seed)
        times.append(ms)
        if prepare and trials:  # untimed: the runner calls it while the rec's job runs, saying what comes next
            prepare_next(sched, None, None if fit_only else Upcoming((trials[0].config,), (seed, next_id)))
        if trials:
            sched.observe(next_id, value(trials[0].config), None)  # the model must learn again before the next call
        next_id += 1
    return times


def multi_latency(name: str, n: int, calls: int, seed: int) -> list[float]:
    """Drive a multi-fidelity scheduler to ``n`` completed trials, then time ``calls`` proposals."""
    space = h.space_of(PARAMS)
    conf = h.settings(name, seed, automl_max_recommendations=10 * (n + calls) + 100, automl_max_epochs=MAX_EPOCHS)
    sched = h.scheduler(name, space, conf, iterations=1000)
    done, next_id, times = 0, 1, []
    while done < n + calls:
        timed = done >= n
        ms, trials = _timed_propose(sched, next_id, seed)
        if not trials:
            return times  # it waits for results that will never come (nothing in flight): schedule over
        if timed:
            times.append(ms)
        trial = trials[0]
        budget = trial.budget if trial.budget is not None else MAX_EPOCHS
        v = value(trial.config) + 1.0 / budget
        if sched.mode == "stopping":
            for epoch in range(1, budget + 1):
                if sched.report_epoch(next_id, epoch, value(trial.config) + 1.0 / epoch):
                    budget = epoch
                    break
            v = value(trial.config) + 1.0 / budget
        sched.observe(next_id, v, budget)
        done, next_id = done + 1, next_id + 1
    return times


def optuna_latency(name: str, n: int, calls: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = h.space_of(PARAMS)
    dists = h.optuna_distributions(space)
    study = optuna.create_study(sampler=h.optuna_sampler(name, seed))
    rng = np.random.default_rng([seed, 7])
    for _ in range(n):
        config = space.sample(rng)
        study.add_trial(optuna.trial.create_trial(params=config, distributions=dists, value=value(config)))
    times = []
    for _ in range(calls):
        t0, c0 = time.perf_counter(), time.process_time()
        trial = study.ask(dists)
        CPU.append((time.process_time() - c0) * 1000.0)
        times.append((time.perf_counter() - t0) * 1000.0)
        study.tell(trial, value(trial.params))
    return times


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--calls", type=int, default=7)
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prepare", action="store_true",
                    help="call the scheduler's prepare (untimed) between a proposal and its result, as the runner does")
    ap.add_argument("--small", action="store_true",
                    help="classic brains: a 4-param space (see SMALL) instead of the 10-d one")
    ap.add_argument("--fit-only", action="store_true",
                    help="with --prepare: do not tell prepare what the next proposal gets (its GP fit only)")
    ap.add_argument("--out", type=Path, default=h.RESULTS_DIR / "suggest_latency.json")
    args = ap.parse_args(argv)

    ours, _missing = h.registered([m for m in args.methods if not m.startswith("optuna_")])
    optuna_ok = h.optuna_available()
    methods = [m for m in args.methods if m in ours or (m.startswith("optuna_") and optuna_ok)]
    skipped = [m for m in args.methods if m not in methods]
    if skipped:
        print(f"skipped (not registered / not installed): {', '.join(skipped)}")
    results: dict[str, dict[str, dict[str, float | int]]] = {}
    for method in methods:
        results[method] = {}
        for n in args.sizes:
            if method.startswith("optuna_"):
                fn = optuna_latency
            else:
                fn = classic_latency if method in CLASSIC else multi_latency
            t0 = time.perf_counter()
            CPU.clear()
            times = (classic_latency(method, n, args.calls, args.seed, args.prepare, args.small, args.fit_only)
                     if fn is classic_latency
                     else fn(method, n, args.calls, args.seed))
            cpu = CPU[-len(times):] if times else []
            results[method][str(n)] = {"median_ms": float(np.median(times)) if times else math.nan,
                                       "p95_ms": float(np.percentile(times, 95)) if times else math.nan,
                                       "cpu_median_ms": float(np.median(cpu)) if cpu else math.nan,
                                       "calls": len(times), "setup_s": time.perf_counter() - t0}
            print(f"  {method} @ {n}: median {results[method][str(n)]['median_ms']:.1f} ms", flush=True)
    rows = [[m, *[f"{results[m][str(n)]['median_ms']:.1f} / {results[m][str(n)]['p95_ms']:.1f} / "
                  f"{results[m][str(n)]['cpu_median_ms']:.1f}" for n in args.sizes]] for m in methods]
    print(f"\nSuggest latency, wall median / wall p95 / CPU median ms over {args.calls} calls "
          f"({'4-param' if args.small else '10-d'} space; "
          f"target for bayesian: <= {TARGET_MS:.0f} ms at 1000)")
    print(h.table(["method", *[f"{n} recs" for n in args.sizes]], rows))
    out = {"benchmark": "suggest_latency", "machine": h.machine(), "sizes": args.sizes, "calls": args.calls,
           "prepare": args.prepare, "small": args.small, "fit_only": args.fit_only,
           "skipped": skipped, "results": results}
    h.write_json(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()

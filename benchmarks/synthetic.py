"""Synthetic benchmark: Branin, Hartmann6, Levy/Ackley/Rosenbrock in 10-d, 50 evaluations, log10 regret.

Each method proposes ``--evals`` configs (sequentially, or ``--batch`` at a time) on the standard domains;
regret = best value found - the known optimum; the table shows the median over seeds of log10(regret)
(floored at 1e-12), lower is better.

    .venv/bin/python benchmarks/synthetic.py
    .venv/bin/python benchmarks/synthetic.py --problems branin --seeds 1 --evals 10
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

METHODS = ["bayesian", "tpe", "random", "optuna_tpe", "optuna_gp"]
HARTMANN_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                       [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
HARTMANN_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                              [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(x: np.ndarray) -> float:
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s)


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(HARTMANN_ALPHA * np.exp(-np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1))))


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    return float(np.sin(math.pi * w[0]) ** 2 + np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
                 + (w[-1] - 1) ** 2 * (1 + np.sin(2 * math.pi * w[-1]) ** 2))


def ackley(x: np.ndarray) -> float:
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d)) - np.exp(np.sum(np.cos(2 * math.pi * x)) / d)
                 + 20 + math.e)


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


@dataclass(frozen=True)
class Problem:
    name: str
    fn: Callable[[np.ndarray], float]
    bounds: tuple[tuple[float, float], ...]
    optimum: float

    def params(self) -> dict[str, dict[str, Any]]:
        return {f"x{i}": h.real(lo, hi) for i, (lo, hi) in enumerate(self.bounds)}

    def objective(self) -> Callable[[Mapping[str, Any]], float]:
        names = list(self.params())
        return lambda config: self.fn(np.array([float(config[n]) for n in names]))


PROBLEMS = {
    "branin": Problem("branin", branin, ((-5.0, 10.0), (0.0, 15.0)), 0.397887357729738),
    "hartmann6": Problem("hartmann6", hartmann6, ((0.0, 1.0),) * 6, -3.32236801141551),
    "levy10": Problem("levy10", levy, ((-10.0, 10.0),) * 10, 0.0),
    "ackley10": Problem("ackley10", ackley, ((-32.768, 32.768),) * 10, 0.0),
    "rosenbrock10": Problem("rosenbrock10", rosenbrock, ((-5.0, 10.0),) * 10, 0.0),
}


def log_regret(best: float, optimum: float) -> float:
    return math.log10(max(best - optimum, 1e-12))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--evals", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--out", type=Path, default=h.RESULTS_DIR / "synthetic.json")
    args = ap.parse_args(argv)

    ours, _ = h.registered([m for m in args.methods if not m.startswith("optuna_")])
    methods = [m for m in args.methods if m in ours or (m.startswith("optuna_") and h.optuna_available())]
    skipped = [m for m in args.methods if m not in methods]
    if skipped:
        print(f"skipped (not registered / not installed): {', '.join(skipped)}")
    regrets: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    curves: dict[str, dict[str, list[list[float]]]] = {m: {} for m in methods}
    timing: dict[str, float] = dict.fromkeys(methods, 0.0)
    for name in args.problems:
        p = PROBLEMS[name]
        space, objective = h.space_of(p.params()), p.objective()
        for m in methods:
            t0 = time.perf_counter()
            runs = [h.run_method(m, space, objective, args.evals, seed, args.batch) for seed in range(args.seeds)]
            timing[m] += time.perf_counter() - t0
            regrets[m][name] = [log_regret(min(r), p.optimum) for r in runs]
            curves[m][name] = [[log_regret(v, p.optimum) for v in h.running_min(r)] for r in runs]
        print(f"  {name} done", flush=True)
    medians = {m: {n: float(np.median(regrets[m][n])) for n in args.problems} for m in methods}
    rows = [[m, *[medians[m][n] for n in args.problems], float(np.mean(list(medians[m].values())))] for m in methods]
    print(f"\nSynthetic: median log10 regret after {args.evals} evaluations ({args.seeds} seeds, batch {args.batch}; "
          "lower is better)")
    print(h.table(["method", *args.problems, "mean"], rows))
    out = {"benchmark": "synthetic", "machine": h.machine(), "evals": args.evals, "seeds": args.seeds,
           "batch": args.batch, "skipped": skipped, "median_log10_regret": medians, "log10_regret": regrets,
           "seconds": timing, "anytime_log10_regret": curves}
    h.write_json(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()

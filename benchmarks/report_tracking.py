"""Cost of the HTML report and of the trackers per rec, on a synthetic run folder (real store, real packages).

Writes a run folder with N finished recs (10 epochs each) through the real ``RunStore``, then times
``write_html_report`` and ``write_convergence_png`` on it, and the W&B (offline) and MLflow (sqlite) trackers'
``rec_finished`` per rec (the orchestrator time a tracker adds to each result). Prints a table and saves
``benchmarks/results/report_tracking.json``.

    PYTHONPATH=src .venv/bin/python benchmarks/report_tracking.py [--recs 200] [--tracked 10]
    PYTHONPATH=src .venv/bin/python benchmarks/report_tracking.py --recs 10000 --report-only \
        --out benchmarks/results/report_10000.json   # the report alone on a long sweep (issue 14)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from tao_automl.experiment.store import RunStore

RESULTS = Path(__file__).resolve().parent / "results" / "report_tracking.json"


def make_run(run_dir: Path, n: int) -> None:
    store = RunStore(run_dir)
    store.set_meta({"experiment_id": run_dir.name, "metric": "val_loss", "direction": "minimize",
                    "algorithm": "random", "budget": n, "state": "finished", "created_at": time.time(),
                    "settings": {"algorithm": "random", "metric": "val_loss"}})
    for i in range(1, n + 1):
        params = {"lr": 10 ** (-4 + 3 * ((i * 37) % 100) / 100), "layers": 1 + i % 5, "act": ["relu", "gelu"][i % 2]}
        store.add_rec(i, params, {"train": params}, f"job{i}")
        store.mark_submitted(i, f"job{i}", str(run_dir / "recs" / f"rec_{i:04d}" / "results"))
        loss = abs(params["lr"] - 0.01) * 10 + 0.1 * params["layers"]
        for epoch in range(1, 11):
            store.log_event("epoch_metric", i, epoch=epoch, value=loss + 1 / epoch, objective=loss + 1 / epoch)
        store.finish_rec(i, "success", loss + 0.1, None)
    store.close()


def time_trackers(tmp: Path, tracked: int) -> list[tuple[str, int, float]]:
    """W&B (offline) and MLflow (sqlite) trackers on a run of ``tracked`` recs: start, per rec (median), end."""
    rows: list[tuple[str, int, float]] = []
    small = tmp / "run_tracked"
    small.mkdir()
    make_run(small, tracked)
    os.environ["WANDB_MODE"] = "offline"
    from tao_automl.tracking.mlflow_tracker import MlflowTracker
    from tao_automl.tracking.wandb_tracker import WandbTracker

    for name, tracker in (("wandb offline", WandbTracker({"project": "bench"})),
                          ("mlflow sqlite", MlflowTracker({"tracking_uri": f"sqlite:///{tmp}/m.db"}))):
        state = small / "tracking" / "wandb.json"
        state.parent.mkdir(exist_ok=True)
        state.write_text(json.dumps({"logged": list(range(1, tracked + 1))}))  # start: nothing to catch up
        if name.startswith("mlflow"):
            tracker._done = set(range(1, tracked + 1))
        t0 = time.perf_counter()
        tracker.sweep_started(small)
        start_ms = (time.perf_counter() - t0) * 1000
        per_rec = []
        for rec_id in range(1, tracked + 1):
            if name.startswith("wandb"):
                tracker._logged.remove(rec_id)
            else:
                tracker._done.discard(rec_id)
            t0 = time.perf_counter()
            tracker.rec_finished(small, rec_id)
            per_rec.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        tracker.sweep_ended(small, "finished")
        rows += [(f"{name}: start", 1, start_ms), (f"{name}: per rec (median)", tracked,
                                                    statistics.median(per_rec)),
                 (f"{name}: end", 1, (time.perf_counter() - t0) * 1000)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recs", type=int, default=200)
    parser.add_argument("--tracked", type=int, default=10, help="recs logged through each tracker")
    parser.add_argument("--report-only", action="store_true", help="time load_run, the HTML report and the PNG only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON path")
    args = parser.parse_args()
    from tao_automl.report.data import load_run
    from tao_automl.report.html import write_html_report
    from tao_automl.report.png import write_convergence_png

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run_bench"
        run_dir.mkdir()
        make_run(run_dir, args.recs)
        t0 = time.perf_counter()
        data = load_run(run_dir)
        t1 = time.perf_counter()
        out = write_html_report(data, Path(tmp) / "report.html")
        t2 = time.perf_counter()
        write_convergence_png(data, Path(tmp) / "c.png")
        t3 = time.perf_counter()
        rows += [("load_run", args.recs, (t1 - t0) * 1000), ("html report", args.recs, (t2 - t1) * 1000),
                 ("png plot", args.recs, (t3 - t2) * 1000)]
        size_mb = out.stat().st_size / 1e6
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak so far: the run's making included

        if not args.report_only:
            rows += time_trackers(Path(tmp), args.tracked)
    load = os.getloadavg()[0]
    print("| step | recs | ms |\n|---|---|---|\n" + "\n".join(f"| {s} | {n} | {ms:.0f} |" for s, n, ms in rows))
    print(f"report size {size_mb:.1f} MB; peak RSS after the PNG {rss_mb:.0f} MB; 1-minute load {load:.1f}")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"rows": [{"step": s, "recs": n, "ms": round(ms, 1)} for s, n, ms in rows],
                                    "report_mb": round(size_mb, 2), "peak_rss_mb": round(rss_mb), "load": load},
                                   indent=2))


if __name__ == "__main__":
    main()

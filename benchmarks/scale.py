"""Scale: an N-rec sweep of instant jobs through the real AutoMLRunner, measured per slice of recs.

The orchestrator runs in its own process (``scale.py worker``) with :class:`tao_automl.testing.InstantSDK`
(jobs end inside ``create_job``, metric computed from the rec's spec), so everything measured is the
orchestrator: brain, store, rendering, the loop. A second process (``scale.py poll``) calls ``query_status``
on the run folder throughout. Optionally the orchestrator is SIGKILLed once ``--kill-at`` recs have ended and
a new one resumes the run (``time to first new submission`` = resume process spawned -> first
``job_submitted`` event after ``run_resumed``).

Per slice of ``--slice`` recs: orchestrator CPU per rec, recs/s, RSS, status latency from the second process,
and each time as a ratio to a bare ``python -c pass`` start measured in the same session. Also: CLI start-up
(``--help``, ``status``, ``status --json``) against bare python.

Usage: python benchmarks/scale.py [--recs 10000] [--concurrency 8] [--slice 1000] [--kill-at 9000]
Prints a table and writes benchmarks/results/scale.json (``--out`` to change).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results"

SCHEMA = {
    "automl_default_parameters": ["train.lr", "train.wd", "train.depth", "train.act"],
    "default": {"train": {"lr": 0.01, "wd": 0.001, "depth": 2, "act": "relu", "epochs": 1}},
    "properties": {"train": {"type": "collection", "properties": {
        "lr": {"type": "float", "default": 0.01, "minimum": 1e-5, "maximum": 1.0, "scale": "log"},
        "wd": {"type": "float", "default": 0.001, "minimum": 0.0, "maximum": 0.1},
        "depth": {"type": "int", "default": 2, "minimum": 1, "maximum": 8},
        "act": {"type": "categorical", "default": "relu", "enum": ["relu", "gelu", "tanh"]},
        "epochs": {"type": "int", "default": 1, "minimum": 1, "maximum": 1},
    }}},
}


def make_skill(root: Path) -> Path:
    """A skill whose command is never run (InstantSDK reads the spec file it names)."""
    import yaml

    skill = root / "models" / "instant-net"
    (skill / "references").mkdir(parents=True)
    (skill / "schemas").mkdir()
    info = {"name": "instant-net", "automl_enabled": True,
            "actions": {"train": {"command": "true {config_path}", "config_format": "json"}},
            "spec_params": {"train": {"results_dir": "output_dir"}}}
    (skill / "references" / "skill_info.yaml").write_text(yaml.safe_dump(info))
    (skill / "schemas" / "train.schema.json").write_text(json.dumps(SCHEMA))
    return skill


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _point(out: Any, done: int, label: str) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.write(json.dumps({"pid": os.getpid(), "label": label, "done": done, "wall": time.time(),
                          "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": round(_rss_mb(), 1),
                          "maxrss_mb": round(usage.ru_maxrss / 1024, 1)}) + "\n")
    out.flush()


# -- the orchestrator process -----------------------------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    from tao_automl import query_status
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing.instant import InstantSDK

    points = open(args.points, "a")  # noqa: SIM115 - kept open for the process's life (kill -9 ends it)
    done = 0
    if args.resume:
        done = int(query_status(args.workspace)["progress"]["completed"])
    first = True

    def started(rec: Any) -> None:
        nonlocal first
        if first:
            first = False
            _point(points, done, "first_submission")

    def ended(rec: Any, value: Any, status: str) -> None:
        nonlocal done
        done += 1
        if done % args.slice == 0:
            _point(points, done, "slice")

    settings = {"algorithm": args.algorithm, "metric": "val_loss", "seed": 0, "poll_interval_s": 0.01,
                "automl_max_recommendations": args.recs, "automl_max_concurrent": args.concurrency}
    runner = AutoMLRunner(InstantSDK(), args.skill)
    if args.resume:
        run_dir = sorted(Path(args.workspace).glob("run_*"))[-1]
        runner.run(workspace_path=run_dir, resume=True, on_recommendation=started, on_result=ended)
    else:
        runner.run(automl_settings=settings, workspace_path=args.workspace, gpu_count=0,
                   on_recommendation=started, on_result=ended)
    _point(points, done, "end")


# -- the status poller ------------------------------------------------------------------------------------------
def poll(args: argparse.Namespace) -> None:
    from tao_automl import query_status

    out = open(args.out, "a")  # noqa: SIM115 - kept open until the stop file appears
    stop = Path(args.stop)
    while not stop.exists():
        runs = sorted(Path(args.workspace).glob("run_*"))
        if runs:
            t0 = time.perf_counter()
            status = query_status(runs[-1])
            ms = (time.perf_counter() - t0) * 1000
            if "error" not in status:
                out.write(json.dumps({"t": time.time(), "ms": round(ms, 2),
                                      "completed": status["progress"]["completed"],
                                      "bytes": len(json.dumps(status, default=str))}) + "\n")
                out.flush()
        time.sleep(args.every)


# -- the driver -------------------------------------------------------------------------------------------------
def _env(pycache: Path) -> dict[str, str]:
    """This checkout's sources first; bytecode cached under ``pycache`` (as an installed package would have it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(HERE.parents[1] / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _spawn(env: dict[str, str], mode: str, *extra: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """A ``scale.py`` process; its stderr (the runner's per-rec progress lines) goes to ``log`` when given."""
    stderr = open(log, "ab") if log else None  # noqa: SIM115 - handed to the child process
    return subprocess.Popen([sys.executable, str(HERE), mode, *extra], env=env, stderr=stderr)


def _timed_runs(cmd: list[str], reps: int) -> float:
    """Median wall seconds of ``cmd`` (output discarded)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _completed(workspace: Path) -> int:
    from tao_automl import query_status

    runs = sorted(workspace.glob("run_*"))
    if not runs:
        return 0
    status = query_status(runs[-1])
    return 0 if "error" in status else int(status["progress"]["completed"])


def _first_new_submission(run_dir: Path) -> float | None:
    import sqlite3

    conn = sqlite3.connect(f"file:{run_dir / 'state.db'}?mode=ro", uri=True)
    try:
        resumed = conn.execute("SELECT max(seq) FROM events WHERE kind='run_resumed'").fetchone()[0]
        if resumed is None:
            return None
        row = conn.execute("SELECT min(ts) FROM events WHERE kind='job_submitted' AND seq > ?", (resumed,)).fetchone()
        return float(row[0]) if row[0] is not None else None
    finally:
        conn.close()


def slices(points: list[dict[str, Any]], polls: list[dict[str, Any]], size: int, n: int,
           bare_s: float) -> list[dict[str, Any]]:
    """Per-slice rates from consecutive points of the same process (a killed process's tail is not counted)."""
    segs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for a, b in itertools.pairwise(points):
        if a["pid"] == b["pid"] and b["done"] > a["done"]:
            segs.append((a, b))
    rows = []
    for lo in range(0, n, size):
        hi = min(n, lo + size)
        cpu = wall = recs = 0.0
        rss = maxrss = 0.0
        for a, b in segs:
            if a["done"] >= lo and b["done"] <= hi:
                cpu += b["cpu"] - a["cpu"]
                wall += b["wall"] - a["wall"]
                recs += b["done"] - a["done"]
                rss, maxrss = max(rss, b["rss_mb"]), max(maxrss, b["maxrss_mb"])
        lat = sorted(p["ms"] for p in polls if lo < p["completed"] <= hi)
        cpu_ms = 1000 * cpu / recs if recs else None
        med = statistics.median(lat) if lat else None
        rows.append({
            "recs": f"{lo + 1}-{hi}", "measured_recs": int(recs),
            "cpu_ms_per_rec": round(cpu_ms, 2) if cpu_ms is not None else None,
            "cpu_per_rec_x_bare": round(cpu_ms / (1000 * bare_s), 3) if cpu_ms is not None else None,
            "recs_per_s": round(recs / wall, 1) if wall else None,
            "rss_mb": rss, "peak_rss_mb": maxrss,
            "status_polls": len(lat), "status_ms_median": round(med, 1) if med is not None else None,
            "status_ms_max": round(lat[-1], 1) if lat else None,
            "status_median_x_bare": round(med / (1000 * bare_s), 3) if med is not None else None,
        })
    return rows


def drive(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="tao-scale-"))
    skill = make_skill(root / "bank")
    ws, points_file, polls_file, stop = root / "ws", root / "points.jsonl", root / "polls.jsonl", root / "stop"
    bare = _timed_runs([sys.executable, "-c", "pass"], 7)
    load_start = os.getloadavg()
    env = _env(root / "pycache")
    poller = _spawn(env, "poll", "--workspace", str(ws), "--out", str(polls_file), "--stop", str(stop),
                    "--every", str(args.poll_every))
    common = ["--workspace", str(ws), "--skill", str(skill), "--points", str(points_file), "--recs", str(args.recs),
              "--slice", str(args.slice), "--concurrency", str(args.concurrency), "--algorithm", args.algorithm]
    t0 = time.time()
    orch = _spawn(env, "worker", *common, log=root / "orchestrator.log")
    result: dict[str, Any] = {}
    if args.kill_at:
        while orch.poll() is None and _completed(ws) < args.kill_at:
            time.sleep(0.05)
        orch.send_signal(signal.SIGKILL)
        orch.wait()
        killed_at = _completed(ws)
        t_kill = time.time()
        t_resume = time.time()
        orch = _spawn(env, "worker", *common, "--resume", log=root / "orchestrator.log")
        orch.wait()
        first = _first_new_submission(sorted(ws.glob("run_*"))[-1])
        result["kill"] = {"killed_after_completed": killed_at,
                          "resume_to_first_new_submission_s": round(first - t_resume, 3) if first else None}
        wall = (t_kill - t0) + (time.time() - t_resume)
    else:
        orch.wait()
        wall = time.time() - t0
    stop.touch()
    poller.wait()
    run_dir = sorted(ws.glob("run_*"))[-1]
    points, polls = _read_lines(points_file), _read_lines(polls_file)
    startup = cli_startup(run_dir, env)
    rows = slices(points, polls, args.slice, args.recs, bare)
    final = _completed(ws)
    result.update({
        "recs": args.recs, "completed": final, "concurrency": args.concurrency, "algorithm": args.algorithm,
        "wall_s": round(wall, 1), "bare_python_s": round(bare, 4),
        "peak_rss_mb": max((p["maxrss_mb"] for p in points), default=None),
        "status_ms_max": max((p["ms"] for p in polls), default=None), "status_polls": len(polls),
        "cli_startup": startup, "cli_program": " ".join(cli_program()), "slices": rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_start": [round(x, 2) for x in load_start],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    })
    return result


def _run_timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the child's CPU seconds (user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cli_program() -> list[str]:
    """The installed ``tao-automl`` script beside this interpreter, else ``python -m tao_automl.cli``."""
    script = Path(sys.executable).parent / "tao-automl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tao_automl.cli"]


def cli_startup(run_dir: Path, env: dict[str, str], rounds: int = 11) -> dict[str, dict[str, float]]:
    """``tao-automl --help``, ``status`` and ``status --json`` against a bare ``python -c pass``, run interleaved
    (so load swings hit all alike): median wall and CPU seconds, and their ratios to bare python's.

    The program is the installed ``tao-automl`` script beside this interpreter (``python -m tao_automl.cli`` when
    there is none, which adds runpy's start-up); output is buffered as in a user's shell (no PYTHONUNBUFFERED)."""
    cli = cli_program()
    env = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}
    commands = {"bare": [sys.executable, "-c", "pass"], "help": [*cli, "--help"],
                "status": [*cli, "status", str(run_dir)], "status_json": [*cli, "status", str(run_dir), "--json"]}
    for cmd in commands.values():
        _run_timed(cmd, env)  # warm-up: writes the bytecode cache
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            runs[name].append(_run_timed(cmd, env))
    med = {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for name, r in runs.items()}
    bare_wall, bare_cpu = med["bare"]
    return {name: {"s": round(w, 4), "x_bare": round(w / bare_wall, 2), "cpu_s": round(c, 4),
                   "cpu_x_bare": round(c / bare_cpu, 2) if bare_cpu else 0.0}
            for name, (w, c) in med.items()}


def table(result: dict[str, Any]) -> str:
    head = ("| recs | CPU/rec (ms) | CPU/rec ÷ bare | recs/s | RSS (MB) | status median (ms) | status max (ms) "
            "| status ÷ bare |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in result["slices"]:
        lines.append(f"| {r['recs']} | {r['cpu_ms_per_rec']} | {r['cpu_per_rec_x_bare']} | {r['recs_per_s']} | "
                     f"{r['rss_mb']} | {r['status_ms_median']} | {r['status_ms_max']} | {r['status_median_x_bare']} |")
    s = result["cli_startup"]
    lines.append(f"\n{result['completed']}/{result['recs']} recs in {result['wall_s']} s; peak RSS "
                 f"{result['peak_rss_mb']} MB; bare python {1000 * result['bare_python_s']:.1f} ms; CLI --help "
                 f"{s['help']['x_bare']}x, status {s['status']['x_bare']}x, "
                 f"status --json {s['status_json']['x_bare']}x bare (CPU: {s['help']['cpu_x_bare']}x, "
                 f"{s['status']['cpu_x_bare']}x, {s['status_json']['cpu_x_bare']}x); "
                 f"load {result['machine']['loadavg_start']} -> {result['machine']['loadavg_end']}")
    if "kill" in result:
        k = result["kill"]
        lines.append(f"kill -9 after {k['killed_after_completed']} recs; resume -> first new submission "
                     f"{k['resume_to_first_new_submission_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", nargs="?", default="drive", choices=("drive", "worker", "poll"),
                        help="drive (default) spawns the worker and poll processes itself")
    parser.add_argument("--recs", type=int, default=10000)
    parser.add_argument("--slice", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--algorithm", default="random")
    parser.add_argument("--kill-at", type=int, default=0, help="SIGKILL the orchestrator after this many recs, resume")
    parser.add_argument("--poll-every", type=float, default=0.25, help="seconds between status polls")
    parser.add_argument("--out", default=None, help="JSON path (poll mode: its JSON-lines file)")
    for internal in ("--workspace", "--skill", "--points", "--stop"):
        parser.add_argument(internal, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--every", type=float, default=0.25, help=argparse.SUPPRESS)
    parser.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode == "worker":
        worker(args)
        return {}
    if args.mode == "poll":
        poll(args)
        return {}
    result = drive(args)
    print(table(result))
    out = Path(args.out) if args.out else RESULTS / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()

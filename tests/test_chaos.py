"""Chaos: SIGKILL the orchestrator at random instants and at exact crash points, resume each time, and check
from the jobs' own ledger that nothing was launched twice, lost, orphaned or left unspent.

Four sweeps of real subprocess jobs on LocalSDK at concurrency 4 (bayesian, asha in promotion and in
stopping mode, hyperband). The orchestrator is a separate Python process; each kill is a real SIGKILL
(random instants from a seeded RNG) or the ``TAO_AUTOML_CRASH_AT`` hook at an exact step. Every job appends
``start`` (with its pid) and ``end`` (with its value) lines to a ledger file the runner never reads.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import small_schema, write_skill
from tao_automl.experiment.store import RunStore, read_meta
from tao_automl.platforms.local import sdk as local_sdk

SRC = Path(__file__).resolve().parents[1] / "src"
BUDGET = 12
RANDOM_KILLS_PER_SWEEP = 6
MIN_RANDOM_KILLS = 20

TRAINER = textwrap.dedent(
    """
    import json, math, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    rd, t = spec["results_dir"], spec["train"]

    def note(**kw):
        with open(os.environ["CHAOS_LEDGER"], "a") as f:
            f.write(json.dumps({"results_dir": rd, "pid": os.getpid(), **kw}) + "\\n")

    note(event="start")
    os.makedirs(rd, exist_ok=True)
    start = int(open(t["resume"]).read()) if t.get("resume") else 0
    loss = None
    for epoch in range(start + 1, t["num_epochs"] + 1):
        time.sleep(float(os.environ["CHAOS_EPOCH_S"]))
        loss = (math.log10(t["optim"]["lr"]) + 2) ** 2 + 0.1 * t["layers"] + 1.0 / epoch
        with open(os.path.join(rd, "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
        with open(os.path.join(rd, f"ckpt_epoch_{epoch}.pth"), "w") as f:
            f.write(str(epoch))
    note(event="end", value=loss)
    """
)

ORCHESTRATOR = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner
    runner = AutoMLRunner(LocalSDK(jobs_dir={jobs!r}), {skill!r})
    if len(sys.argv) > 1:
        runner.run(workspace_path=sys.argv[1], resume=True)
    else:
        runner.run(automl_settings={settings!r}, workspace_path={ws!r}, gpu_count=0)
    """
)

#: Seconds one epoch of a job takes, per sweep (asha's many 1-epoch recs would end its sweep too soon).
EPOCH_S = {"bayesian": 0.5, "asha-promotion": 1.2, "asha-stopping": 1.2, "hyperband": 0.5,
           "hyperband_es-stopping": 1.0, "pbt": 0.8}
SWEEPS: dict[str, dict[str, Any]] = {
    "bayesian": {"algorithm": "bayesian"},
    "asha-promotion": {"algorithm": "asha", "fidelity_mode": "promotion", "automl_max_epochs": 9},
    "asha-stopping": {"algorithm": "asha", "fidelity_mode": "stopping", "automl_max_epochs": 9},
    "hyperband": {"algorithm": "hyperband", "automl_max_epochs": 3},
    # the curve-fitting stopping rule, and generations that copy checkpoints (3 members: a generation in flight)
    "hyperband_es-stopping": {"algorithm": "hyperband_es", "automl_max_epochs": 9},
    "pbt": {"algorithm": "pbt", "automl_max_epochs": 4, "automl_max_concurrent": 3, "automl_population_size": 3},
}
#: Exact crash points, each hit once per sweep (the n-th time the step is reached).
RUNNER_POINTS = ["rec_created:2", "job_created:2", "metric_read:1"]
#: LocalSDK's own crash windows (job.json written before its process starts; process started before its pid
#: is saved): included once LocalSDK declares these points.
LOCAL_POINTS = [p for p in ("local_job_prepared:2", "local_job_spawned:2")
                if f'crash_point("{p.split(":")[0]}")' in inspect.getsource(local_sdk)]


def _skill(root: Path) -> Path:
    schema = small_schema()
    schema["default"]["train"].update(num_epochs=3, resume="")
    schema["properties"]["train"]["properties"]["resume"] = {"type": "string", "default": ""}
    return write_skill(root, schema=schema, trainer=TRAINER, roles={"train.resume": "resume_model"})


class Sweep:
    """One sweep driven through kills and resumes; counts what really happened."""

    def __init__(self, tmp: Path, name: str, skill: Path, label: str | None = None) -> None:
        self.name = name
        self.dir = tmp / (label or name)
        self.ws = self.dir / "ws"
        self.ledger = self.dir / "ledger.jsonl"
        settings = {"metric": "val_loss", "automl_max_recommendations": BUDGET, "automl_max_concurrent": 4,
                    "poll_interval_s": 0.2, "seed": 11, **SWEEPS[name]}
        self.script = ORCHESTRATOR.format(src=str(SRC), jobs=str(self.dir / "jobs"), skill=str(skill),
                                          settings=settings, ws=str(self.ws))
        self.random_kills = 0
        self.exact_kills: list[str] = []

    def run_dir(self) -> Path | None:
        return next(iter(self.ws.glob("run_*")), None)

    def _start(self, crash_at: str | None = None) -> subprocess.Popen[bytes]:
        env = {**os.environ, "CHAOS_LEDGER": str(self.ledger), "CHAOS_EPOCH_S": str(EPOCH_S[self.name])}
        env.pop("TAO_AUTOML_CRASH_AT", None)
        if crash_at:
            env["TAO_AUTOML_CRASH_AT"] = crash_at
        run_dir = self.run_dir()
        argv = [sys.executable, "-c", self.script] + ([str(run_dir)] if run_dir else [])
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def kill_at(self, delay: float) -> bool:
        """Start (or resume) the sweep and SIGKILL it ``delay`` s after it holds the run's lock (its loop has
        begun; the imports before that touch nothing); False when the sweep ended first."""
        if self.finished():
            return False
        proc = self._start()
        deadline = time.monotonic() + 60
        while proc.poll() is None and not self._holds_lock(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.random_kills += 1
            return True
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else proc.returncode
        return False

    def _holds_lock(self, pid: int) -> bool:
        for lock in self.ws.glob("*/orchestrator.lock"):
            try:
                if lock.read_text().strip() == str(pid):
                    return True
            except OSError:
                continue
        return False

    def finished(self) -> bool:
        run_dir = self.run_dir()
        return run_dir is not None and read_meta(run_dir).get("state") == "finished"

    def crash_at(self, point: str) -> None:
        if self.finished():
            return
        proc = self._start(point)
        proc.wait(timeout=120)
        if proc.returncode == -signal.SIGKILL:
            self.exact_kills.append(point)
        else:  # the sweep ended before the step was reached that often
            assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else proc.returncode

    def finish(self) -> None:
        proc = self._start()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ledger.read_text().splitlines()]


def _check(sweep: Sweep) -> None:
    run_dir = sweep.run_dir()
    assert run_dir is not None
    recs = RunStore(run_dir, readonly=True).recs()
    assert len(recs) == BUDGET and all(r.status.is_final for r in recs)  # final count equals the budget
    assert all(r.status in ("success", "stopped") for r in recs), [(r.rec_id, r.status, r.message) for r in recs]
    entries = sweep.entries()
    starts = Counter(e["results_dir"] for e in entries if e["event"] == "start")
    assert set(starts.values()) == {1}, f"launched twice: {[d for d, n in starts.items() if n > 1]}"
    by_dir = {str(Path(r.results_dir or "").resolve()): r for r in recs}
    assert set(starts) == set(by_dir)  # every rec's job ran, and no job ran outside a rec
    for e in entries:
        if e["event"] == "end" and by_dir[e["results_dir"]].status == "success":  # 0 results lost
            assert by_dir[e["results_dir"]].metric_value == pytest.approx(e["value"])
    for e in entries:
        if e["event"] == "start":
            assert by_dir[e["results_dir"]].status in ("success", "stopped")
    for r in recs:  # a stopped rec is recorded where its job got to (it may train on until the cancel reaches it)
        if r.status == "stopped":
            curve = [json.loads(line) for line in Path(r.results_dir or "", "status.json").read_text().splitlines()]
            last = curve[-1]
            assert r.budget_reached == last["epoch"], (r.rec_id, r.budget_reached, r.metric_value, last)
            assert r.metric_value == pytest.approx(last["kpi"]["val_loss"]), (r.rec_id, r.metric_value, last)
    # the run folder shows exactly its recs: no folder made ahead (by a killed orchestrator too) is left
    assert sorted(p.name for p in (run_dir / "recs").iterdir()) == [f"rec_{r.rec_id:04d}" for r in recs]
    deadline = time.monotonic() + 10
    pids = {e["pid"] for e in entries if e["event"] == "start"}
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)], "orphan job processes"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _drive(sweep: Sweep, rng: random.Random) -> None:
    """Exact crash points and random SIGKILLs, interleaved, each followed by a resume; then run to the end."""
    sweep.crash_at("run_meta")  # before the run's metadata: nothing to resume, the next start is fresh
    stopping = ["stop_answered:1", "stop_decided:1", "stop_cancelled:1"] if "stopping" in sweep.name else []
    points = RUNNER_POINTS + stopping + LOCAL_POINTS
    for point in points:  # every exact point first, while the sweep surely has recs left (no timing luck)
        sweep.crash_at(point)
    for _ in range(RANDOM_KILLS_PER_SWEEP):
        if not sweep.kill_at(rng.uniform(0.05, 1.5)):
            break  # the sweep completed
    sweep.finish()
    _check(sweep)
    print(f"{sweep.dir.name}: {sweep.random_kills} random kills, exact: {sweep.exact_kills}")


def test_sigkill_at_random_instants_and_exact_points_loses_nothing(tmp_path: Path) -> None:
    skill = _skill(tmp_path / "bank")
    sweeps = [Sweep(tmp_path, name, skill) for name in SWEEPS]
    with ThreadPoolExecutor(len(sweeps)) as pool:  # independent sweeps, mostly waiting: run them side by side
        for done in [pool.submit(_drive, s, random.Random(f"20261201-{s.name}")) for s in sweeps]:
            done.result()
    while sum(s.random_kills for s in sweeps) < MIN_RANDOM_KILLS:  # a fast machine ended sweeps early: top up
        sweeps.append(Sweep(tmp_path, "bayesian", skill, label=f"bayesian-{len(sweeps)}"))
        _drive(sweeps[-1], random.Random(len(sweeps)))
    exact = [p for s in sweeps for p in s.exact_kills]
    assert sum(s.random_kills for s in sweeps) >= MIN_RANDOM_KILLS
    assert len(exact) >= 4 * 3, exact  # run_meta + most runner points hit in every sweep
    assert {p.split(":")[0] for p in LOCAL_POINTS} <= {p.split(":")[0] for p in exact}

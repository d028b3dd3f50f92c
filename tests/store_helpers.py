"""Run folders written straight into the store, in states that are slow to reach with real runs."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tao_automl.experiment.store import RunStore


def killed_run_whose_jobs_ended(run_dir: Path, ended: Collection[int] = (1,), budget: int = 3) -> None:
    """A killed run's store as `stop --cancel-jobs` leaves it: recs 1 and 2 in flight (running), the jobs of the recs
    in ``ended`` known to have ended (a ``job_ended_uncollected`` event each), no orchestrator to collect them."""
    from tao_automl.experiment.store import JOB_ENDED_UNCOLLECTED, RunStore

    run_dir.mkdir(parents=True)
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": budget, "state": "interrupted",
                    "mode": "runner"})
    for rec_id in (1, 2):
        store.add_rec(rec_id, {"lr": 0.1 * rec_id}, {}, f"job-{rec_id}")
        store.mark_submitted(rec_id, f"job-{rec_id}", str(run_dir / f"r{rec_id}"), status="running")
    for rec_id in ended:
        store.log_event(JOB_ENDED_UNCOLLECTED, rec_id, job_id=f"job-{rec_id}")
    store.close()


def killed_run_mid_job(run_dir: Path) -> None:
    """A run's store as kill -9 of its orchestrator leaves it: meta still `running`, rec 1 in flight, no result."""
    from tao_automl.experiment.store import RunStore

    run_dir.mkdir(parents=True)
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 2, "state": "running", "mode": "runner"})
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    store.mark_submitted(1, "job-1", str(run_dir / "r1"), status="running")
    store.close()


def runner_store(run_dir: Path, state: str, recs: int = 0) -> RunStore:
    """A new runner's run folder at ``run_dir`` whose store says ``state`` (val_loss, minimized), with recs 1 to
    ``recs`` added (lr = rec id / 100, not submitted): the open store, for the caller to go on and close."""
    from tao_automl.experiment.store import RunStore

    run_dir.mkdir()
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "experiment_id": "x", "mode": "runner",
                    "state": state})
    for rec_id in range(1, recs + 1):
        store.add_rec(rec_id, {"lr": rec_id / 100}, {}, f"job-{rec_id}")
    return store

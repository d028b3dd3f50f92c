"""What the platforms' tests share."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tao_automl.platforms.base import JobStatus


def cancel_at_once(sdk: Any, job_ids: list[str], grace_s: float) -> None:
    """Cancel ``job_ids`` from a thread each, as ``stop --cancel-jobs`` does, and check that the cancels, each waiting
    up to ``grace_s`` for a job that ignores SIGTERM, ran side by side: under 2.5 grace periods in all (one after the
    other takes at least one per job), every one answering that it cancelled its job."""
    from tao_automl.util.threads import at_once

    began = time.monotonic()
    answers = at_once(sdk.cancel_job, job_ids, "test-cancel")
    took = time.monotonic() - began
    assert answers == [True] * len(job_ids), (answers, took)
    assert took < 2.5 * grace_s, f"{took:.1f} s for {len(job_ids)} x {grace_s:g} s: one cancel after the other"


def stale_first_refresh(sdk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancel's own first look at the job answers RUNNING (as it was a moment before), so the job's end by
    itself falls between that look and the platform's stop: the window a stopping rule's cancel can hit (the
    platform may or may not know the exit yet)."""
    real, calls = sdk._refresh, []

    def refresh(rec: dict[str, Any]) -> JobStatus:
        calls.append(1)
        return JobStatus.RUNNING if len(calls) == 1 else real(rec)
    monkeypatch.setattr(sdk, "_refresh", refresh)


def start_with_spec_file(sdk: Any, root: Path) -> tuple[Any, Path, str]:
    """Start a job that prints its spec file and says whether its results dir exists, handing ``create_job`` the
    spec as the runner does (``spec_file``): the job, the spec's path under ``root`` (made by the job, not here) and
    its text (quotes, ``$HOME`` and backquotes: nothing may be expanded on the way)."""
    spec = root / "orchestrator" / "run_1" / "rec_1" / "train_spec.yaml"
    results = root / "orchestrator" / "run_1" / "rec_1" / "results"
    text = "train:\n  lr: 0.01  # it's 'quoted' $HOME `x`\n"
    job = sdk.create_job(None, f"cat {spec}; test -d {results} && echo results-ready", gpu_count=0,
                         outputs={"results_dir": str(results)}, job_name="rec-1",
                         spec_file={"path": str(spec), "text": text})
    return job, spec, text


def busybox_trainer(what: str, reads: dict[str, str], body: str) -> str:
    """A trainer script for a busybox image (no Python in it), commented ``what``: it reads the YAML spec (``$3``)'s
    ``results_dir`` into ``$rd`` and each spec key of ``reads`` into its shell variable, makes ``$rd``, then runs
    ``body`` (dedented)."""
    lines = [f"# busybox-only trainer: {what}", "spec=$3",
             """rd=$(sed -n 's/^results_dir: *//p' "$spec" | tr -d "'\\"")"""]
    lines += [f"""{var}=$(awk '$1 == "{key}:" {{print $2}}' "$spec")""" for var, key in reads.items()]
    lines.append('mkdir -p "$rd"')
    return "\n".join(lines) + "\n" + textwrap.dedent(body)


def released_jobs_answer_from_records(again: Any, recs: list[dict[str, Any]], image: str) -> None:
    """A later process's SDK ``again`` (its records only: each rec's container or Job was removed once its result was
    stored) still answers each rec's job: SUCCESS, its log with the metric line, its name; and a create_job under a
    rec's name finds that job instead of running it again."""
    for rec in recs:
        assert again.get_job_status(rec["job_id"]) is JobStatus.SUCCESS
        assert "val_loss: " in (again.get_job_logs(rec["job_id"]) or "")
        assert again.find_job(rec["job_name"]) == rec["job_id"]
    job = again.create_job(image, "echo ran-again", gpu_count=0, job_name=recs[0]["job_name"],
                           outputs={"results_dir": recs[0]["results_dir"]})
    assert job.id == recs[0]["job_id"]

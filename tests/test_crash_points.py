"""The orchestrator SIGKILLed at exact steps (``TAO_AUTOML_CRASH_AT``), then resumed: nothing half-made, lost or
launched twice. Real subprocess orchestrator and jobs on LocalSDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from conftest import write_skill
from tao_automl.cli.main import main as cli_main
from tao_automl.errors import WorkspaceError
from tao_automl.experiment.store import RunStore
from tao_automl.experiment.workspace import STAGING_PREFIX
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner

SRC = Path(__file__).resolve().parents[1] / "src"

LEDGER_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    value = abs(spec["train"]["optim"]["lr"] - 0.1)
    os.makedirs(spec["results_dir"], exist_ok=True)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "kpi": {"val_loss": value}}) + "\\n")
    with open(os.environ["TAO_TEST_LEDGER"], "a") as f:
        f.write(json.dumps({"results_dir": spec["results_dir"], "value": value}) + "\\n")
    """
)

ORCHESTRATOR = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner
    runner = AutoMLRunner(LocalSDK(jobs_dir={jobs!r}), {skill!r})
    if {resume!r}:
        runner.run(workspace_path={ws!r}, resume=True)
    else:
        runner.run(automl_settings={settings!r}, workspace_path={ws!r}, gpu_count=0)
    """
)

SETTINGS = {"metric": "val_loss", "automl_max_recommendations": 4, "automl_max_concurrent": 2, "seed": 3,
            "poll_interval_s": 0.2, "algorithm": "random"}


def _orchestrate(tmp_path: Path, skill: Path, ws: Path, crash_at: str | None, resume: bool = False) -> int:
    script = ORCHESTRATOR.format(src=str(SRC), jobs=str(tmp_path / "jobs"), skill=str(skill), settings=SETTINGS,
                                 ws=str(ws), resume=resume)
    env = {**os.environ, "TAO_TEST_LEDGER": str(tmp_path / "ledger.jsonl")}
    env.pop("TAO_AUTOML_CRASH_AT", None)
    if crash_at:
        env["TAO_AUTOML_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-c", script], env=env, timeout=120).returncode


def test_a_crash_before_the_metadata_leaves_no_run_folder_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=LEDGER_TRAINER)
    ws = tmp_path / "ws"
    assert _orchestrate(tmp_path, skill, ws, "run_meta") == -9
    assert not list(ws.glob("run_*"))  # never a half-made run folder
    assert len(list(ws.glob(f"{STAGING_PREFIX}run_*"))) == 1
    assert _orchestrate(tmp_path, skill, ws, None) == 0
    assert not list(ws.glob(f"{STAGING_PREFIX}run_*"))  # the dead process's staging folder was removed
    run_dir = next(ws.glob("run_*"))
    assert [r.status for r in RunStore(run_dir, readonly=True).recs()] == ["success"] * 4


def test_resuming_a_folder_whose_setup_was_interrupted_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    skill = write_skill(tmp_path / "bank", trainer=LEDGER_TRAINER)
    half = tmp_path / "ws" / "run_20260101_000000_abcdef"
    half.mkdir(parents=True)
    RunStore(half).close()  # a store without metadata, as a pre-atomic version could leave behind
    with pytest.raises(WorkspaceError, match="setup was interrupted"):
        AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(workspace_path=half, resume=True)
    assert cli_main(["resume", str(half)]) == 2
    err = capsys.readouterr().err
    assert "setup was interrupted" in err and "Traceback" not in err


@pytest.mark.parametrize("point", ["rec_created:2", "job_created:2", "metric_read:1", "local_job_prepared:2",
                                   "local_job_spawned:2"])
def test_a_crash_at_an_exact_step_is_resumed_without_loss_or_duplicate(tmp_path: Path, point: str) -> None:
    skill = write_skill(tmp_path / "bank", trainer=LEDGER_TRAINER)
    ws = tmp_path / "ws"
    assert _orchestrate(tmp_path, skill, ws, point) == -9
    run_dir = next(ws.glob("run_*"))
    assert _orchestrate(tmp_path, skill, run_dir, None, resume=True) == 0
    recs = RunStore(run_dir, readonly=True).recs()
    assert [r.status for r in recs] == ["success"] * 4
    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    counts = Counter(e["results_dir"] for e in ledger)
    assert len(counts) == 4 and set(counts.values()) == {1}, counts
    written = {e["results_dir"]: e["value"] for e in ledger}
    for rec in recs:
        assert rec.metric_value == pytest.approx(written[str(Path(rec.results_dir or "").resolve())])

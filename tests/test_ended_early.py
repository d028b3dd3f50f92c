"""A sweep whose brain proposed no more recs before its budget (autoresearch after failed recs in a row) ends the
same way on resume: every view (status text and JSON, stop, the run's own result, query_status, the MCP tools)
offers no resume for it, as they do offer one for an interrupted run."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tao_automl.brain import registry
from tao_automl.cli.main import main
from tao_automl.llm import setup as llm_setup
from tao_automl.llm.client import LLMReply

#: QUADRATIC_TRAINER's crashing corner: every rec with these values fails.
CRASHES = {"train.act": "gelu", "train.flag": True, "train.layers": 6}


class ScriptedClient:
    """An LLM client that proposes ``good`` recs that train, then recs in the trainer's crashing corner."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.count = itertools.count()

    def ask_json(self, *args: Any, **kwargs: Any) -> LLMReply:
        n = next(self.count)
        lr = 0.001 * (n + 1)  # a new config every time (a repeat is asked again)
        config = {"train.optim.lr": lr, "train.layers": 2, "train.act": "relu", "train.flag": False} \
            if n < self.good else {"train.optim.lr": lr, **CRASHES}
        data = {"config": config, "reasoning": f"proposal {n}"}
        return LLMReply(text=json.dumps(data), data=data, usage={})


def _ended_early(tmp_path: Path, toy_skill: Path, monkeypatch: pytest.MonkeyPatch, good: int,
                 capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict[str, Any]]:
    """Run autoresearch through the CLI until it stops itself (3 failed recs in a row) before its budget of 8."""
    main(["run", str(_ending_early_config(tmp_path, toy_skill, monkeypatch, good)), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["progress"]["completed"] == good + 3 < result["progress"]["total"] == 8
    assert "autoresearch stopped" in result["stop_reason"]
    return Path(result["run_dir"]), result


def _ending_early_config(tmp_path: Path, toy_skill: Path, monkeypatch: pytest.MonkeyPatch, good: int) -> Path:
    """The run config of an autoresearch sweep of budget 8 that stops itself after ``good`` recs that train and 3
    failed ones in a row (its scripted LLM wired in)."""
    monkeypatch.setattr(llm_setup, "preflight", lambda *a, **k: None)
    client = ScriptedClient(good)
    monkeypatch.setitem(registry.OPTION_BUILDERS, "autoresearch", lambda s: {
        "client": client, "fallback": "error", "budget": s.automl_max_recommendations, "seed": s.seed})
    config = {"skill_dir": str(toy_skill), "workspace_path": "ws",
              "automl_settings": {"algorithm": "autoresearch", "metric": "val_loss", "automl_max_recommendations": 8,
                                  "automl_max_concurrent": 1, "automl_fail_fast_after": 0, "poll_interval_s": 0.2,
                                  "llm_endpoint": "http://127.0.0.1:9", "llm_model": "none"},
              "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(("good", "state"), [(1, "finished"), (0, "failed")])
def test_a_sweep_that_ended_before_its_budget_is_offered_no_resume_by_any_view(
        good: int, state: str, tmp_path: Path, toy_skill: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from tao_automl.agentapi.tools import best_config, sweep_status
    from tao_automl.status import query_status

    run_dir, result = _ended_early(tmp_path, toy_skill, monkeypatch, good, capsys)
    assert result["progress"]["state"] == state
    assert result["resumable"] is False  # the run's own result
    assert f"tao-automl resume {run_dir}" not in json.dumps(result)  # its stop reason and error hint neither
    if state == "failed":  # the next step names why a new run: the brain, not a spent budget (3 of 8 recs ran)
        assert "brain proposed no more recs before its budget" in result["stop_reason"]
        assert "every rec of this run's budget was created" not in json.dumps(result)

    assert main(["status", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resumable"] is False
    assert query_status(run_dir)["resumable"] is False
    main(["status", str(run_dir)])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("orchestrator:"))
    assert "resume" not in line.replace("a resume would", "") and "its brain proposed no more recs" in line

    for tool in (sweep_status(str(run_dir)), best_config(str(run_dir))):
        assert tool["done"] and tool["resumable"] is False and tool["next"] is None

    assert main(["stop", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["next"] is None
    main(["stop", str(run_dir)])
    assert f"tao-automl resume {run_dir}" not in capsys.readouterr().out

    # starts no orchestrator that would end at once; without a result it exits 1 with no_result, as resume does
    assert main(["resume", str(run_dir), "--detach"]) == (0 if good else 1)
    assert "nothing to resume: the sweep ended before its budget" in capsys.readouterr().err


def test_an_interrupted_run_is_resumable_in_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The other side: status --json says resumable where status text and stop offer the resume."""
    from store_helpers import killed_run_mid_job
    from tao_automl.status import query_status

    killed_run_mid_job(tmp_path / "run")
    assert query_status(tmp_path / "run")["resumable"] is True
    main(["status", str(tmp_path / "run")])
    assert "tao-automl resume" in capsys.readouterr().out


def test_the_last_snapshot_of_an_interrupted_run_is_resumable_as_status_says_after(tmp_path: Path) -> None:
    """The orchestrator writes RUN_DIR/status.json as it ends, still holding the run: the file says no orchestrator
    is alive, and so its resumable is the one status --json gives a moment later, not the live run's false."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.experiment.workspace import RunLock
    from tao_automl.runner.orchestrator import SNAPSHOT_NAME, write_snapshot
    from tao_automl.status import query_status

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 2, "state": "interrupted",
                    "mode": "runner"})
    store.close()
    lock = RunLock(run_dir).acquire()
    try:
        assert query_status(run_dir)["orchestrator"]["alive"] is True
        write_snapshot(run_dir, last=True)
    finally:
        lock.release()
    snapshot = json.loads((run_dir / SNAPSHOT_NAME).read_text())
    assert snapshot["orchestrator"]["alive"] is False
    assert snapshot["resumable"] is query_status(run_dir)["resumable"] is True


@pytest.mark.parametrize(("good", "state"), [(1, "finished"), (0, "failed")])
def test_a_run_older_code_ended_before_its_budget_is_offered_no_resume(
        good: int, state: str, tmp_path: Path, toy_skill: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A run folder written before the ``ended_early`` key: its stop reason alone says the sweep ended before its
    budget. A failed one (no rec succeeded) was offered a resume by status, stop and the MCP tools, though a resume
    launches nothing and leaves it as it was: an agent following ``next`` resumed it again and again."""
    import sqlite3

    from tao_automl.agentapi.tools import sweep_status
    from tao_automl.experiment.store import DB_NAME, ENDED_EARLY
    from tao_automl.runner.detach import nothing_to_resume, stop_run
    from tao_automl.status import query_status

    run_dir, _ = _ended_early(tmp_path, toy_skill, monkeypatch, good, capsys)
    with sqlite3.connect(run_dir / DB_NAME) as conn:  # as older code left it: no such key
        conn.execute("DELETE FROM meta WHERE key = ?", (ENDED_EARLY,))
    conn.close()
    status = query_status(run_dir)
    assert status["progress"]["state"] == state
    assert status["resumable"] is False and status["orchestrator"]["ended_early"] is True
    assert sweep_status(str(run_dir))["next"] is None
    assert stop_run(str(run_dir))["next"] is None
    assert nothing_to_resume(run_dir) is not None
    main(["resume", str(run_dir), "--json"])  # what a resume does: nothing, the run stays as it ended
    again = json.loads(capsys.readouterr().out)
    assert again["progress"]["state"] == state and again["progress"]["completed"] == good + 3


def test_the_text_end_of_a_sweep_that_ended_early_with_a_result_says_why(
        tmp_path: Path, toy_skill: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl run` of a sweep that ended before its budget with a result (exit 0) printed "2/8 recs done" on
    stdout and the reason only as a warning log line on stderr; its end says "stop reason: ..." as status does."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(_ending_early_config(tmp_path, toy_skill, monkeypatch, good=2))]) == 0
    out = capsys.readouterr().out
    line = next((x for x in out.splitlines() if x.startswith("stop reason: ")), None)
    assert line is not None and "the sweep ended after 5 of 8 recs" in line and "autoresearch stopped" in line, out


def test_a_killed_run_whose_every_rec_ended_is_offered_the_resume_that_closes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its orchestrator killed after the last rec ended: the stop reason said "`tao-automl resume RUN` continues it"
    while the orchestrator line said "nothing to resume". The resume launches nothing and closes the run (as
    tests/test_detach.py's closing test runs it): both say so; ``resumable`` (more recs to launch) stays false."""
    from tao_automl.experiment.store import RunStore

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = RunStore(run_dir)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 2, "state": "running", "mode": "runner"})
    for rec_id, value in ((1, 0.5), (2, 0.25)):
        store.add_rec(rec_id, {"lr": 0.1 * rec_id}, {}, f"job-{rec_id}")
        store.mark_submitted(rec_id, f"job-{rec_id}", str(run_dir / f"r{rec_id}"), status="running")
        store.finish_rec(rec_id, "success", value, None)
    store.close()
    assert main(["status", str(run_dir)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("orchestrator:"))
    assert "nothing to resume" not in line and f"`tao-automl resume {run_dir}` launches nothing" in line, line
    # the stop reason says the same (it said "`tao-automl resume RUN` continues it", though nothing is left to continue)
    assert "continues it" not in out and out.count(f"`tao-automl resume {run_dir}` launches nothing") == 2, out
    assert main(["status", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resumable"] is False

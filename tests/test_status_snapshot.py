"""The run folder's status snapshot (status.json) and orchestrator record when the disk fills up while they are
written."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from tao_automl.runner.orchestrator import INFO_NAME, SNAPSHOT_NAME, StatusReporter, write_info, write_snapshot


def _finished_run(tmp_path: Path) -> Path:
    """A 2-rec sweep run to its end (it wrote status.json and orchestrator.json); its run folder."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                         "automl_max_concurrent": 1}, workspace_path=tmp_path / "ws", gpu_count=0)
    return next((tmp_path / "ws").glob("run_*"))


def _disk_fills_in_temp_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write of a ``.*.tmp`` file puts a few bytes on disk, then fails as a full disk does (a full disk cannot be
    made in a test)."""
    written = Path.write_text

    def write_text(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        if self.name.startswith(".") and self.name.endswith(".tmp"):
            written(self, data[:7], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return written(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


def test_a_snapshot_the_full_disk_cut_short_leaves_no_temp_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins defect 2: a status.json write that failed on a full disk left a partial `.status.json.tmp` in the run
    folder. Now the temp file is removed, status.json keeps its last whole snapshot, and the failure is still
    raised to the caller as before (`stop` reports it; the orchestrator's reporter logs it and goes on)."""
    run_dir = _finished_run(tmp_path)
    before = (run_dir / SNAPSHOT_NAME).read_text()
    with monkeypatch.context() as patched:
        _disk_fills_in_temp_files(patched)
        with pytest.raises(OSError, match="No space left"):
            write_snapshot(run_dir, last=True)
    assert not (run_dir / f".{SNAPSHOT_NAME}.tmp").exists()
    assert (run_dir / SNAPSHOT_NAME).read_text() == before
    assert sorted(path.name for path in run_dir.glob(".*.tmp")) == []


def test_the_status_reporter_on_a_full_disk_logs_goes_on_and_leaves_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Pins defect 2 for the sweep's own reporter: its snapshot failing on a full disk is logged as one warning and
    does not end the sweep (as before), and no `.status.json.tmp` is left behind."""
    run_dir = _finished_run(tmp_path)
    with monkeypatch.context() as patched, caplog.at_level(logging.WARNING):
        _disk_fills_in_temp_files(patched)
        reporter = StatusReporter(run_dir, minutes=60.0)
        with reporter:
            pass
    assert [record.getMessage() for record in caplog.records
            if record.getMessage().startswith("status snapshot failed")] != []
    assert not (run_dir / f".{SNAPSHOT_NAME}.tmp").exists()


def test_an_orchestrator_record_the_full_disk_cut_short_leaves_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The orchestrator record (orchestrator.json) is written the same way: on a full disk its partial
    `.orchestrator.json.tmp` is removed and the record it had stays whole."""
    run_dir = _finished_run(tmp_path)
    before = json.loads((run_dir / INFO_NAME).read_text())
    with monkeypatch.context() as patched:
        _disk_fills_in_temp_files(patched)
        with pytest.raises(OSError, match="No space left"):
            write_info(run_dir, detached=True)
    assert not (run_dir / f".{INFO_NAME}.tmp").exists()
    assert json.loads((run_dir / INFO_NAME).read_text()) == before


def test_a_run_shorter_than_the_status_interval_has_a_status_json_while_it_goes(tmp_path: Path) -> None:
    """status.json was first written after `status_interval_minutes` (default 5) or at the run's end: a run that
    ended sooner had none while it went on. It is written as the run starts (and each interval, and at the end)."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    seen: list[str | None] = []

    def on_recommendation(rec: Any) -> None:
        found = list((tmp_path / "ws").glob(f"run_*/{SNAPSHOT_NAME}"))
        seen.append(json.loads(found[0].read_text())["progress"]["state"] if found else None)

    AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                         "automl_max_concurrent": 1, "status_interval_minutes": 60},
        workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=on_recommendation)
    assert seen and None not in seen, seen
    assert seen[0] in ("starting", "running"), seen


def test_the_status_reporter_writes_status_json_as_it_starts(tmp_path: Path) -> None:
    """The reporter's first write waited a whole interval."""
    run_dir = _finished_run(tmp_path)
    (run_dir / SNAPSHOT_NAME).unlink()
    with StatusReporter(run_dir, minutes=60.0):
        assert json.loads((run_dir / SNAPSHOT_NAME).read_text())["progress"]["state"] == "finished"


@pytest.mark.parametrize("record", ["[1]", "5", "null", '"detached"', '{"detached": true, "pid": 1'])
def test_an_orchestrator_record_that_is_no_object_reads_as_none(tmp_path: Path, record: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """orchestrator.json holding JSON that is not an object (a list, a number: a file overwritten by hand or a bad
    copy) made `status` print a Python traceback and `status --json` and the MCP sweep_status an internal error
    (AttributeError: 'list' object has no attribute 'get'), while a truncated one read as no record. Any record that
    is not an object now reads as none, as a truncated one does: the run's status is shown."""
    from tao_automl.agentapi.tools import call_tool
    from tao_automl.cli.main import main

    run_dir = _finished_run(tmp_path)
    (run_dir / INFO_NAME).write_text(record)
    assert main(["status", str(run_dir)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "finished" in out, (out, err)
    assert main(["status", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["orchestrator"]["alive"] is False
    answer, failed = call_tool("sweep_status", {"run_dir": str(run_dir)})
    assert not failed and answer["orchestrator"]["detached"] is False, answer

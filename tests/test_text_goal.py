"""The counts line of the run and status tables names every metric's direction, not the first metric's alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import small_schema
from tao_automl.cli.main import main

TWO = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "model_size", "direction": "minimize"}]


def test_a_multi_objective_run_says_what_it_optimised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tao_automl.automl import AutoML

    automl = AutoML(workspace=tmp_path / "run_1", network="toy", search_schema=small_schema(),
                    settings={"metric": TWO, "algorithm": "random", "automl_max_recommendations": 2})
    for rec in automl.next_recommendation():
        automl.report_result(rec.id, None, values={"val_accuracy": 0.9 - rec.id / 10, "model_size": 10.0 * rec.id})
    automl.finish()
    main(["status", str(tmp_path / "run_1")])
    line = next(x for x in capsys.readouterr().out.splitlines() if "recs done" in x)
    assert "maximize val_accuracy and minimize model_size, ranked by" in line, line
    from tao_automl.report.data import load_run
    from tao_automl.report.html import _header

    header = _header(load_run(tmp_path / "run_1"))
    assert "maximize <b>val_accuracy</b> and minimize <b>model_size</b>" in header, header


def test_the_report_says_why_a_sweep_stopped(tmp_path: Path) -> None:
    """The report's header showed "finished · 2 of 4 recs" with no word of why (status shows the stop reason)."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.report.data import load_run
    from tao_automl.report.html import _header

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = RunStore(run_dir)
    reason = "the sweep ended after 0 of 4 recs: autoresearch stopped: 3 failed recs in a row <b>"
    store.set_meta({"metric": "val_loss", "direction": "minimize", "budget": 4, "state": "finished",
                    "mode": "runner", "stop_reason": reason})
    store.close()
    header = _header(load_run(run_dir))
    assert "stop reason: the sweep ended after 0 of 4 recs: autoresearch stopped: 3 failed recs in a row &lt;b&gt;" \
        in header, header

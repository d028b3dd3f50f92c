"""The AutoML ask/tell class: proposals inside the space, persistence, resume, failures never best."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import small_schema
from tao_automl import AutoML, query_status
from tao_automl.errors import SearchSpaceError, WorkspaceError


def objective(params: dict[str, object]) -> float:
    lr = float(params["train.optim.lr"])  # type: ignore[arg-type]
    return (math.log10(lr) + 2) ** 2 + 0.1 * abs(int(params["train.layers"]) - 3)  # type: ignore[call-overload]


@pytest.mark.parametrize("algorithm", ["bayesian", "random"])
def test_ask_tell_loop_persists_and_finds_the_best(tmp_path: Path, algorithm: str) -> None:
    settings = {"algorithm": algorithm, "metric": "val_loss", "automl_max_recommendations": 8,
                "automl_max_concurrent": 3, "seed": 1}
    automl = AutoML(workspace=tmp_path / "run", network="toy", settings=settings, search_schema=small_schema())
    seen: dict[int, float] = {}
    while not automl.is_complete():
        recs = automl.next_recommendation()
        assert 1 <= len(recs) <= 3
        for rec in recs:
            assert rec.specs["train"]["optim"]["lr"] == rec.params["train.optim.lr"]
            assert 1e-4 <= rec.params["train.optim.lr"] <= 1.0
            value = objective(rec.params)
            seen[rec.id] = value
            automl.report_result(rec.id, value)
    best = automl.get_best()
    assert best is not None and best.metric_value == min(seen.values())
    summary = automl.finish()
    assert summary["progress"]["completed"] == 8 and summary["progress"]["succeeded"] == 8
    assert summary["progress"]["state"] == "finished" and summary["progress"]["eta_s"] == 0.0  # the ended run
    status = query_status(tmp_path / "run")
    assert status["best"]["rec_id"] == best.id
    assert status["progress"]["state"] == "finished"


def test_failures_and_nan_are_never_best(tmp_path: Path) -> None:
    automl = AutoML(workspace=tmp_path / "run", settings={"metric": "val_loss", "automl_max_recommendations": 4,
                                                          "automl_max_concurrent": 4, "algorithm": "random"},
                    search_schema=small_schema())
    recs = automl.next_recommendation()
    automl.report_result(recs[0].id, float("nan"))
    automl.report_result(recs[1].id, None)
    automl.report_result(recs[2].id, -1e9, status="failure", message="crashed")
    automl.report_result(recs[3].id, 5.0)
    best = automl.get_best()
    assert best is not None and best.id == recs[3].id
    status = automl.get_status()
    assert status["progress"]["failed"] == 3
    assert [h["status"] for h in status["history"]] == ["failure", "failure", "failure", "success"]
    automl.finish()


def test_finishing_early_shows_a_stopped_run_without_an_eta(tmp_path: Path) -> None:
    automl = AutoML(workspace=tmp_path / "run", settings={"metric": "val_loss", "automl_max_recommendations": 4,
                                                          "automl_max_concurrent": 1, "algorithm": "random"},
                    search_schema=small_schema())
    (rec,) = automl.next_recommendation()
    automl.report_result(rec.id, 1.0)
    progress = automl.finish()["progress"]
    assert progress["state"] == "stopped" and progress["completed"] == 1 and progress["eta_s"] is None
    assert query_status(tmp_path / "run")["progress"]["eta_s"] is None


def test_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    settings = {"metric": "val_loss", "automl_max_recommendations": 6, "automl_max_concurrent": 2, "seed": 3}
    first = AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema())
    recs = first.next_recommendation()
    first.report_result(recs[0].id, objective(recs[0].params))
    first.finish()
    with pytest.raises(WorkspaceError, match="resume=True"):
        AutoML(workspace=tmp_path / "run", settings=settings, search_schema=small_schema())
    again = AutoML(workspace=tmp_path / "run", settings=settings, resume=True)
    pending = again.get_status()["history"]
    assert [h["status"] for h in pending] == ["success", "pending"]
    again.report_result(recs[1].id, objective(recs[1].params))
    while not again.is_complete():
        for rec in again.next_recommendation():
            assert rec.id > 2
            again.report_result(rec.id, objective(rec.params))
    assert again.get_status()["progress"]["completed"] == 6
    again.finish()


def test_resume_with_changed_settings_names_the_change(tmp_path: Path) -> None:
    AutoML(workspace=tmp_path / "run", settings={"metric": "val_loss"}, search_schema=small_schema()).finish()
    with pytest.raises(WorkspaceError, match="metric: 'val_loss' -> 'acc'"):
        AutoML(workspace=tmp_path / "run", settings={"metric": "acc"}, resume=True)


def test_needs_a_search_space(tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match="skill_dir"):
        AutoML(workspace=tmp_path / "run", settings={})

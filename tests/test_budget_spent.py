"""``automl_max_recommendations`` is a budget every brain in the registry spends: completed recs == budget.

Each brain runs through the real experiment (store, scheduler, replay path) on a synthetic objective with a
failure region, four recs in flight; no jobs. LLM brains get a client whose every call fails, so they run
on their ``random`` fallback (the budget logic is the point here, not the LLM).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from conftest import small_schema
from tao_automl.brain import registry
from tao_automl.brain.multifidelity.pbt import PBT
from tao_automl.errors import SettingsError
from tao_automl.experiment.core import Experiment
from tao_automl.llm import setup as llm_setup
from tao_automl.llm.client import LLMFailure
from tao_automl.schema.build import build_search_space
from tao_automl.settings import AutoMLSettings

SPACE = build_search_space(small_schema())
LLM_BRAINS = ("llm", "hybrid", "autoresearch")


class DeadClient:
    """An LLM client whose every call fails (the brain falls back)."""

    def ask_json(self, *args: Any, **kwargs: Any) -> Any:
        raise LLMFailure("no LLM in this test")


def _value(params: dict[str, Any], budget: int | None) -> float | None:
    lr = params["train.optim.lr"]
    if lr > 0.5:
        return None  # a failure region: failed recs spend budget too
    return (math.log10(lr) + 2) ** 2 + 0.1 * params["train.layers"] + 1.0 / (budget or 9)


@pytest.mark.parametrize("name", sorted(registry.ALGORITHMS))
@pytest.mark.parametrize("budget", [30, 7])
def test_every_brain_spends_the_whole_budget(name: str, budget: int, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if name in LLM_BRAINS:
        monkeypatch.setattr(llm_setup, "preflight", lambda *a, **k: None)
        monkeypatch.setitem(registry.OPTION_BUILDERS, name, lambda s: {
            "client": DeadClient(), "fallback": "random", "budget": s.automl_max_recommendations, "seed": s.seed})
    mode = "stopping" if name == "hyperband_es" else "promotion"
    settings = AutoMLSettings.from_mapping({
        "algorithm": name, "metric": "val_loss", "automl_max_recommendations": budget, "automl_max_epochs": 9,
        "automl_max_concurrent": 4, "automl_population_size": 4, "fidelity_mode": mode, "seed": 1})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    exp = Experiment.create(run_dir, SPACE, settings, "minimize", small_schema()["default"], {})
    pending: list[Any] = []
    while True:
        pending += exp.ask(4 - len(pending))
        if not pending:
            break
        rec = pending.pop(0)
        trial = exp.trial(rec.id)
        value = _value(rec.params, trial.budget)
        exp.tell(rec.id, value, "success" if value is not None else "failure")
    assert exp.is_complete()
    assert exp.n_created == budget
    done = [r for r in exp.recs() if r.status.is_final]
    assert len(done) == budget, f"{name}: {len(done)} of {budget} recs ran"
    exp.close("finished")


def test_pbt_refuses_a_budget_it_cannot_spend() -> None:
    with pytest.raises(SettingsError, match="at most 36 recs"):
        PBT(SPACE, max_epochs=9, population_size=4, max_trials=40)


def test_a_brain_that_ends_early_says_why_in_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """autoresearch ends after failed recs in a row (by design): the run says so instead of a silent short run."""
    from conftest import write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.status import query_status

    monkeypatch.setattr(llm_setup, "preflight", lambda *a, **k: None)  # the runner's preflight calls it
    monkeypatch.setitem(registry.OPTION_BUILDERS, "autoresearch", lambda s: {
        "client": DeadClient(), "fallback": "random", "budget": s.automl_max_recommendations, "seed": s.seed})
    skill = write_skill(tmp_path / "bank", trainer="import sys\nsys.exit('RuntimeError: boom')\n")
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings={"algorithm": "autoresearch", "metric": "val_loss", "automl_max_recommendations": 12,
                         "automl_max_concurrent": 1, "automl_fail_fast_after": 0, "poll_interval_s": 0.2,
                         "llm_endpoint": "http://127.0.0.1:9", "llm_model": "none"},
        workspace_path=tmp_path / "ws", gpu_count=0)
    created = result["progress"]["completed"]
    assert created < 12
    reason = query_status(result["run_dir"])["progress"]["stop_reason"]
    assert reason.startswith(f"the sweep ended after {created} of 12 recs: autoresearch stopped: ")
    # and, no rec having succeeded, the run failed: what its recs ended with follows
    assert f". The sweep ended without a result: none of its {created} recs succeeded" in reason
    assert result["progress"]["state"] == "failed"

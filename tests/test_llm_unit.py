"""LLM plumbing that needs no model: endpoints, settings, repair, narrowing, research programs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tao_automl.brain.llm.analyzer import narrow_space
from tao_automl.brain.llm.hybrid import HybridBrain
from tao_automl.brain.llm.llm_brain import LLMBrain
from tao_automl.brain.llm.research_program import ProgramBrain, ResearchProgram
from tao_automl.errors import SettingsError
from tao_automl.llm.client import LLMClient, LLMConfig, normalise_endpoint, parse_json_object
from tao_automl.llm.setup import analyzer_options
from tao_automl.llm.validation import config_key, make_unique, repair_config
from tao_automl.settings import AutoMLSettings
from tao_automl.space.search_space import BoolParam, CategoricalParam, FloatParam, IntParam, SearchSpace


def _space() -> SearchSpace:
    return SearchSpace((FloatParam("opt.lr", 1e-4, 1.0, log=True, default=0.01), IntParam("layers", 1, 6, default=2),
                        CategoricalParam("act", ("relu", "tanh", "gelu"), default="relu"), BoolParam("flag")))


@pytest.mark.parametrize("url", ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/",
                                 "http://h:8000/v1/chat/completions", "http://h:8000/models"])
def test_endpoint_is_normalised_with_or_without_v1(url: str) -> None:
    assert normalise_endpoint(url) == "http://h:8000/v1"


def test_endpoint_keeps_a_versioned_path_and_rejects_non_urls() -> None:
    assert normalise_endpoint("https://api.example.com/openai/v2") == "https://api.example.com/openai/v2"
    with pytest.raises(SettingsError, match="llm_endpoint"):
        normalise_endpoint("localhost:8000")


def test_settings_then_env_then_nvidia_key() -> None:
    env = {"AUTOML_LLM_ENDPOINT": "http://e:1", "AUTOML_LLM_MODEL": "m-env", "NVIDIA_API_KEY": "nv"}
    cfg = LLMConfig.resolve(None, None, None, env=env)
    assert (cfg.endpoint, cfg.model, cfg.api_key) == ("http://e:1/v1", "m-env", "nv")
    cfg = LLMConfig.resolve("http://s:2", "m-set", "k-set", env={**env, "AUTOML_LLM_API_KEY": "k-env"})
    assert (cfg.endpoint, cfg.model, cfg.api_key) == ("http://s:2/v1", "m-set", "k-set")
    assert LLMConfig.resolve(None, None, None, env={**env, "AUTOML_LLM_API_KEY": "k-env"}).api_key == "k-env"
    with pytest.raises(SettingsError, match="llm_endpoint"):
        LLMConfig.resolve(None, "m", None, env={})
    with pytest.raises(SettingsError, match="llm_model"):
        LLMConfig.resolve("http://e:1", None, None, env={})


def test_llm_settings_are_validated() -> None:
    s = AutoMLSettings.from_mapping({"llm_fallback": "bayesian", "llm_timeout_s": 5, "llm_max_retries": 0,
                                     "llm_analyzer_interval": 3})
    assert s.llm_fallback == "bayesian"
    with pytest.raises(SettingsError, match=r"llm_fallback: 'bayesain'.*did you mean 'bayesian'"):
        AutoMLSettings.from_mapping({"llm_fallback": "bayesain"})
    for key, bad in (("llm_timeout_s", 0), ("llm_max_retries", -1), ("llm_analyzer_interval", 0),
                     ("llm_analyzer_enabled", "maybe")):  # "yes" is a bool word (true/false/yes/no)
        with pytest.raises(SettingsError, match=key):
            AutoMLSettings.from_mapping({key: bad})


def test_analyzer_toggles_come_from_settings_then_env() -> None:
    env = {"AUTOML_LLM_ANALYZER_ENABLED": "true", "AUTOML_LLM_ANALYZER_INTERVAL": "7",
           "AUTOML_LLM_ANALYZER_NARROW_RANGES": "1"}
    assert analyzer_options(AutoMLSettings(), env) == {"enabled": True, "interval": 7, "narrow_ranges": True}
    explicit = AutoMLSettings(llm_analyzer_enabled=False, llm_analyzer_interval=2, llm_analyzer_narrow_ranges=False)
    assert analyzer_options(explicit, env) == {"enabled": False, "interval": 2, "narrow_ranges": False}
    with pytest.raises(SettingsError, match="AUTOML_LLM_ANALYZER_ENABLED"):
        analyzer_options(AutoMLSettings(), {"AUTOML_LLM_ANALYZER_ENABLED": "maybe"})


def test_json_is_found_in_chatter() -> None:
    assert parse_json_object('Sure! ```json\n{"a": {"b": "}"}}\n``` done') == {"a": {"b": "}"}}
    assert parse_json_object("no json {here") is None


def test_repair_clips_coerces_drops_foreign_keys_and_counts() -> None:
    space = _space()
    config, notes = repair_config(space, {"opt.lr": 1e-7, "layers": "4.6", "act": "GELU ", "flag": "true",
                                          "command": "rm -rf /", "image": "evil:latest"})
    assert config == {"opt.lr": 1e-4, "layers": 5, "act": "gelu", "flag": True}
    assert space.contains(config)
    assert sum("dropped" in n for n in notes) == 2 and len(notes) == 6
    config, notes = repair_config(space, {"opt.lr": "abc"})
    assert space.contains(config) and config["opt.lr"] == 0.01 and len(notes) == 4
    assert repair_config(space, ["not", "a", "dict"])[0] is None
    valid = {"opt.lr": 0.1, "layers": 3, "act": "tanh", "flag": False}
    assert repair_config(space, valid) == (valid, [])


def test_make_unique_moves_a_duplicate_to_an_unseen_config() -> None:
    space = _space()
    config = {"opt.lr": 0.1, "layers": 3, "act": "tanh", "flag": False}
    unique, note = make_unique(space, config, {config_key(space, config)}, np.random.default_rng(0))
    assert unique != config and space.contains(unique) and note and "duplicate" in note
    tiny = SearchSpace((BoolParam("b"),))
    seen = {config_key(tiny, {"b": True}), config_key(tiny, {"b": False})}
    same, note = make_unique(tiny, {"b": True}, seen, np.random.default_rng(0))
    assert same == {"b": True} and note and "no unused config" in note


def test_narrowing_stays_in_the_box_and_keeps_the_incumbent() -> None:
    space = _space()
    incumbent = {"opt.lr": 0.5, "layers": 2, "act": "relu", "flag": True}
    narrowed = narrow_space(space, {"opt.lr": {"low": 1e-6, "high": 0.01}, "layers": {"low": 5, "high": 3},
                                    "act": {"low": 0, "high": 1}}, incumbent)
    lr, layers = narrowed["opt.lr"], narrowed["layers"]
    assert isinstance(lr, FloatParam) and isinstance(layers, IntParam)
    assert (lr.low, lr.high) == (1e-4, 0.5)  # clipped to the box, widened to the incumbent
    assert (layers.low, layers.high) == (2, 5)  # reversed range sorted, widened to the incumbent
    assert narrowed["act"] == space["act"] and narrowed.contains(incumbent)
    nonsense = narrow_space(space, {"opt.lr": {"low": "x", "high": math.inf}}, incumbent)
    assert nonsense["opt.lr"] == space["opt.lr"]


def test_program_validation_names_field_and_nearest_value() -> None:
    space = _space()
    with pytest.raises(SettingsError, match=r"phases\[0\]\.params: 'layer'.*did you mean 'layers'"):
        ResearchProgram.from_value([{"params": ["layer"]}]).validate(space)  # type: ignore[union-attr]
    with pytest.raises(SettingsError, match=r"phases\[1\]\.algorithm: 'bayes'.*available"):
        ResearchProgram.from_value({"phases": [{}, {"algorithm": "bayes"}]}).validate(space)  # type: ignore[union-attr]
    with pytest.raises(SettingsError, match="carry_forward"):
        ResearchProgram.from_value([{"carry_forward": "last"}]).validate(space)  # type: ignore[union-attr]
    with pytest.raises(SettingsError, match="unknown key 'algo'"):
        ResearchProgram.from_value([{"algo": "random"}])
    assert ResearchProgram.from_value("free text directives") is None


def test_program_runs_phases_in_order_and_carries_the_best_forward() -> None:
    space = _space()
    program = ResearchProgram.from_value([
        {"name": "explore", "algorithm": "random", "budget": 3},
        {"name": "tune-lr", "algorithm": "random", "budget": 0.5, "params": ["opt.lr"]},
    ])
    assert program is not None and program.allocate(6) == [3, 3] and program.allocate(2) == [1, 1]
    brain = ProgramBrain(space, program, budget=6)
    rng = np.random.default_rng(0)
    first = brain.suggest(3, [], rng)
    for i, config in enumerate(first):
        brain.observe(config, float(i))  # the first config is the best
    phases = [r["phase"] for r in brain.drain_records() if r["kind"] == "research_phase"]
    assert phases == ["explore"]
    second = brain.suggest(3, [], rng)
    assert [r["phase"] for r in brain.drain_records()] == ["tune-lr"]
    for config in second:
        assert space.contains(config)
        assert {k: v for k, v in config.items() if k != "opt.lr"} == {k: v for k, v in first[0].items()
                                                                       if k != "opt.lr"}
    assert len(brain.suggest(2, [], rng)) == 2  # past the plan: the last phase keeps going


def test_strategist_plan_is_repaired_and_normalised() -> None:
    space = _space()
    hybrid = HybridBrain(space, LLMClient(LLMConfig("http://127.0.0.1:9/v1", "m")), budget=4)
    program = hybrid.plan_from_answer({"phases": [
        {"algorithm": "random", "params": ["opt.lr", "nope", "opt.lr"], "fraction": 3},
        {"algorithm": "mystery", "params": [], "fraction": 0.5},
        {"algorithm": "bayesian", "params": [], "fraction": 0.5},
    ]})
    assert [p.algorithm for p in program.phases] == ["random", "bayesian"]
    assert program.phases[0].params == ("opt.lr",) and program.allocate(4) == [3, 1]
    with pytest.raises(Exception, match="no usable phase"):
        hybrid.plan_from_answer({"phases": [{"algorithm": "mystery"}]})
    # one phase given bare (the real 270M test model answered this way): a plan of that one phase
    bare = hybrid.plan_from_answer({"algorithm": "bayesian", "params": [], "fraction": 10**15})
    assert [p.algorithm for p in bare.phases] == ["bayesian"] and bare.allocate(4) == [4]
    with pytest.raises(Exception, match="no usable phase"):
        hybrid.plan_from_answer({"algorithm": "mystery"})


def test_hybrid_says_what_each_phase_searches_and_holds_per_config() -> None:
    """A hybrid rec's reason was only "phase2 (random)": why 4 of 8 params never moved was nowhere. It now names
    what its phase searches and the values it holds the others at; a batch that crosses a phase's end labels each
    config with its own phase (all were labelled with the last one)."""
    program = {"phases": [{"name": "lr", "algorithm": "random", "params": ["opt.lr"], "budget": 2,
                           "carry_forward": "none"},
                          {"name": "shape", "algorithm": "random", "params": ["layers", "act"], "budget": 2}]}
    hybrid = HybridBrain(_space(), LLMClient(LLMConfig("http://127.0.0.1:9/v1", "m")), budget=4,
                         research_program=program)
    configs = hybrid.suggest(3, [], np.random.default_rng(0))
    reasons = [r["reasoning"] for r in hybrid.drain_records() if r["kind"] == "llm_proposal"]
    assert len(configs) == 3 and len(reasons) == 3
    assert reasons[0] == reasons[1] == "lr (random) searching opt.lr; the others held at their defaults: layers=2, " \
        "act='relu', flag=False"
    # no result yet: the "best" phase holds the defaults, and says so
    assert reasons[2].startswith("shape (random) searching layers, act; the others held at their defaults: opt.lr=")
    assert all(c["layers"] == 2 and c["act"] == "relu" for c in configs[:2])
    hybrid.observe(configs[0], 0.5)
    hybrid.observe(configs[1], 0.1)  # the best: the next phase would hold its opt.lr
    hybrid.observe(configs[2], 0.9)
    later = HybridBrain(_space(), LLMClient(LLMConfig("http://127.0.0.1:9/v1", "m")), budget=4,
                        research_program={"phases": [program["phases"][1]]})
    for config, value in ((configs[0], 0.5), (configs[1], 0.1)):
        later.observe(config, value)
    later.suggest(1, [], np.random.default_rng(1))
    (reason,) = [r["reasoning"] for r in later.drain_records() if r["kind"] == "llm_proposal"]
    assert reason.startswith("shape (random) searching layers, act; the others held at the best config so far: "
                             f"opt.lr={configs[1]['opt.lr']!r}")


def test_an_endpoint_that_is_not_a_url_is_named_where_it_was_given(capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`plan --llm-endpoint localhost:8000/v1` said "no LLM endpoint: set AUTOML_LLM_ENDPOINT ..." (value null);
    from the environment the field named automl_settings.llm_endpoint, with value and allowed null."""
    import json

    from tao_automl.cli.main import main
    from tao_automl.llm.client import LLMConfig

    assert main(["plan", "tune lr", "--model", "builtin:demo-digits-mlp", "--llm-endpoint", "localhost:8000/v1",
                 "--llm-model", "m", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["field"], error["value"]) == ("--llm-endpoint", "localhost:8000/v1") and "http" in error["allowed"]
    monkeypatch.setenv("AUTOML_LLM_ENDPOINT", "notaurl")
    with pytest.raises(SettingsError) as caught:
        LLMConfig.resolve(None, "m", None)
    assert (caught.value.field, caught.value.value) == ("AUTOML_LLM_ENDPOINT", "notaurl")


def test_an_endpoint_answering_html_is_an_llm_failure_not_a_traceback() -> None:
    """A gateway answering 200 text/html made the openai client return a str, and `response.choices` raised
    AttributeError through the sweep (fallback never used). A real HTTP server here, the official client over it."""
    from http_stub import canned_http
    from tao_automl.llm.client import LLMClient, LLMConfig, LLMFailure

    with canned_http(200, b"<html>Bad gateway</html>", "text/html") as url:
        client = LLMClient(LLMConfig(url, "m", timeout_s=10, max_retries=0))
        with pytest.raises(LLMFailure, match="not a chat completion"):
            client.ask_json("system", "user", {"type": "object"})


def test_an_unreachable_endpoint_with_fallback_error_stops_with_exit_3_and_counts_no_fallback() -> None:
    """The endpoint dying mid-run ended the sweep with exit 1 (README: 3, retry later), and status counted "LLM
    fallbacks: 1" though no rec came from a fallback."""
    import socket

    import numpy as np

    from tao_automl.brain.llm.llm_brain import LLMBrain
    from tao_automl.errors import EXIT_PLATFORM_UNREACHABLE
    from tao_automl.llm.client import LLMClient, LLMConfig, LLMUnreachable
    from tao_automl.space.search_space import SearchSpace

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    space = SearchSpace.from_json([{"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True,
                                    "default": None}])
    brain = LLMBrain(space, LLMClient(LLMConfig(f"http://127.0.0.1:{port}/v1", "m", timeout_s=5, max_retries=0)),
                     fallback="error")
    with pytest.raises(LLMUnreachable) as caught:
        brain.suggest(1, [], np.random.default_rng(0))
    assert caught.value.exit_code == EXIT_PLATFORM_UNREACHABLE and caught.value.field == "llm_endpoint"
    kinds = [r["kind"] for r in brain.records]
    assert "llm_failure" in kinds and "llm_fallback" not in kinds and brain.counts["fallbacks"] == 0


def test_resuming_an_llm_run_whose_key_came_from_its_config_says_to_set_it_in_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The key given in the config is stored redacted; a resume without it in the environment collected nothing,
    asked the LLM and stopped with HTTP 401 and a fix the CLI cannot apply. The resume checks the endpoint first."""
    from http_stub import canned_http
    from tao_automl.llm.client import LLMEndpointError
    from tao_automl.runner.loop import _llm_ready
    from tao_automl.runner.run_args import RunArgs
    from tao_automl.settings import AutoMLSettings
    from tao_automl.util.secrets import REDACTED

    for name in ("AUTOML_LLM_API_KEY", "NVIDIA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with canned_http(401, b'{"error": {"message": "invalid api key"}}') as url:
        settings = AutoMLSettings.from_mapping({"algorithm": "llm", "metric": "val_loss", "llm_model": "m",
                                                "llm_endpoint": url})
        stored = RunArgs(skill_dir="x", automl_settings={"llm_api_key": REDACTED})
        with pytest.raises(LLMEndpointError) as caught:
            _llm_ready(settings, stored)
        assert caught.value.field == "llm_api_key" and "AUTOML_LLM_API_KEY" in (caught.value.hint or "")



def test_a_resume_with_the_endpoint_down_says_the_run_is_as_it_was() -> None:
    """Resuming an LLM run (recs done) with its endpoint down said "stopped before the first rec" and "nothing was
    started": the message now says the run was not resumed and is as it was, and the hint says to resume again."""
    from tao_automl.errors import PlatformUnreachableError
    from tao_automl.runner.loop import _llm_ready
    from tao_automl.runner.run_args import RunArgs
    from tao_automl.settings import AutoMLSettings

    settings = AutoMLSettings.from_mapping({"algorithm": "llm", "metric": "val_loss", "llm_model": "m",
                                            "llm_endpoint": "http://127.0.0.1:9/v1", "llm_max_retries": 0})
    with pytest.raises(PlatformUnreachableError) as caught:
        _llm_ready(settings, RunArgs(skill_dir="x", automl_settings={}))
    said = f"{caught.value.detail} {caught.value.hint}"
    assert "cannot connect" in said and "not resumed and is as it was" in said and "resume again" in said
    assert "first rec" not in said and "nothing was started" not in said


def test_an_llm_that_answers_too_slowly_mid_run_names_the_timeout_not_a_dead_endpoint(tmp_path: Path) -> None:
    """An endpoint that answered the preflight and then took longer than llm_timeout_s stopped the run with the
    hint "start the LLM endpoint ...": it is up. The stop now names llm_timeout_s, its value, and how to raise it."""
    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML
    from tao_automl.llm.client import LLMUnreachable

    chat = CannedChat({"config": {"train.optim.lr": 0.1}, "reasoning": "r"}, slow_after=1, slow_s=2.0)
    settings = {"algorithm": "llm", "metric": "val_loss", "automl_max_recommendations": 2, "llm_timeout_s": 0.5,
                "llm_max_retries": 0, "llm_endpoint": chat.url, "llm_model": "m"}
    try:
        ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=settings, log_progress=False)
        with pytest.raises(LLMUnreachable) as caught:
            ml.next_recommendation()
    finally:
        chat.close()
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == ("llm_timeout_s", 0.5)
    assert "timed out" in error["message"] and error["hint"].startswith("raise llm_timeout_s (now 0.5 s)")


def test_a_repaired_proposal_shows_what_was_changed_beside_the_llms_reason(tmp_path: Path) -> None:
    """status showed "LLM reasoning: x" for a rec whose values were all repaired or re-drawn by tao-automl (the LLM
    said lr NaN; the rec ran the default): the reason now carries what was changed."""
    from tao_automl.experiment.brain_records import persist
    from tao_automl.experiment.store import RunStore

    store = RunStore(tmp_path)
    persist(store, [{"kind": "llm_proposal", "index": 0, "reasoning": "x",
                     "repairs": ["train.optim.lr: 'NaN' is not a number; used 0.05"]},
                    {"kind": "llm_proposal", "index": 1, "reasoning": "as proposed", "repairs": []}], [7, 8])
    shown = store.meta()["llm_reasoning"]
    store.close()
    assert shown == {"7": "x [changed by tao-automl: train.optim.lr: 'NaN' is not a number; used 0.05]",
                     "8": "as proposed"}


def test_an_endpoint_answering_an_html_page_is_refused_naming_it_not_a_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A gateway answering every request with a 200 HTML page: preflight, run and plan ended in a 19-frame traceback
    (AttributeError from the client's model listing, exit 1). It is the endpoint's error, exit 2, named where it was
    given; a model the endpoint does not serve names the model the same way (its field was null)."""
    import json

    from http_stub import canned_http
    from tao_automl.cli.main import main
    from tao_automl.llm.client import LLMClient, LLMConfig, LLMEndpointError

    with canned_http(200, b"<html><body>Sign in</body></html>", "text/html") as url:
        with pytest.raises(LLMEndpointError) as caught:
            LLMClient(LLMConfig(url, "m", timeout_s=10, max_retries=0)).preflight()
        assert (caught.value.field, caught.value.value) == ("automl_settings.llm_endpoint", url)
        assert "not as an OpenAI-compatible API" in str(caught.value)
        assert main(["plan", "tune lr", "--model", "builtin:demo-digits-mlp", "--llm-endpoint", url,
                     "--llm-model", "m", "--json"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert (error["field"], error["value"]) == ("--llm-endpoint", url)
    listing = json.dumps({"object": "list", "data": [{"id": "gemma3-270m", "object": "model"}]}).encode()
    with canned_http(200, listing) as url:
        with pytest.raises(LLMEndpointError) as wrong:
            LLMClient(LLMConfig(url, "gemma3-27b", timeout_s=10, max_retries=0)).preflight()
        assert (wrong.value.field, wrong.value.value) == ("automl_settings.llm_model", "gemma3-27b")
        assert wrong.value.allowed == ["gemma3-270m"]


@pytest.mark.parametrize("timeout", ["0", "-5", "nan", "4000"])
def test_plan_checks_its_llm_timeout(timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --llm-timeout 0` and `-5` said "cannot connect" (exit 3) with the server up: a usage error naming it."""
    import json

    from tao_automl.cli.main import main

    assert main(["plan", "tune lr", "--model", "builtin:demo-digits-mlp", "--llm-endpoint", "http://127.0.0.1:9/v1",
                 "--llm-model", "m", "--llm-timeout", timeout, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["field"] == "--llm-timeout" and "0 < s <= 3600" in error["allowed"]


@pytest.mark.parametrize("stop_after", [3, 5])
@pytest.mark.parametrize("planner", ["research_program", "llm"])
def test_a_resumed_hybrid_run_keeps_its_plan_and_phase(tmp_path: Path, planner: str, stop_after: int) -> None:
    """A hybrid run reopened after 3 of 8 recs (4 planned for `explore`, 4 for `tune-lr`) asked the LLM for a new
    plan and started `explore` again: 7 explore recs and 1 tune-lr. It now goes on with the plan and phase it
    recorded (no new plan call), each phase runs its share, and tune-lr holds what it recorded holding."""
    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML
    from tao_automl.experiment.store import RunStore

    phases = [{"name": "explore", "algorithm": "random", "budget": 0.5},
              {"name": "tune-lr", "algorithm": "random", "budget": 0.5, "params": ["train.optim.lr"]}]
    chat = CannedChat({"phases": [{"algorithm": p["algorithm"], "params": p.get("params", []), "fraction": 0.5}
                                  for p in phases], "reasoning": "explore, then tune lr"})
    settings: dict[str, Any] = {"algorithm": "hybrid", "metric": "val_loss", "automl_max_recommendations": 8,
                                "automl_max_concurrent": 1, "llm_endpoint": chat.url, "llm_model": "m"}
    if planner == "research_program":
        settings["research_program"] = {"phases": phases}
    try:
        ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=settings, log_progress=False)
        for _ in range(stop_after):
            for rec in ml.next_recommendation():
                ml.report_result(rec.id, rec.params["train.optim.lr"])
        asked = chat.asked
        del ml
        again = AutoML(tmp_path / "ws", resume=True, log_progress=False)
        while not again.is_complete():
            for rec in again.next_recommendation():
                again.report_result(rec.id, rec.params["train.optim.lr"])
        again.finish()
    finally:
        chat.close()
    assert chat.asked == asked  # random phases ask nothing: only a re-plan would have called the endpoint
    store = RunStore(tmp_path / "ws", readonly=True)
    plans, started = store.events("llm_plan"), store.events("research_phase")
    sources = {e["rec_id"]: e["payload"]["source"] for e in store.events("llm_proposal")}
    recs = {r.rec_id: r.params for r in store.recs()}
    store.close()
    assert len(plans) == 1
    first, second = ("explore", "tune-lr") if planner == "research_program" else ("phase1", "phase2")
    assert [e["payload"]["phase"] for e in started] == [first, second]
    assert [sources[i] for i in range(1, 9)] == [f"phase:{first}"] * 4 + [f"phase:{second}"] * 4
    best_explored = min((recs[i] for i in range(1, 5)), key=lambda p: p["train.optim.lr"])
    held = {k: v for k, v in best_explored.items() if k != "train.optim.lr"}
    assert started[1]["payload"]["fixed"] == held
    assert all({k: recs[i][k] for k in held} == held for i in range(5, 9))


def _autoresearch_run(tmp_path: Path, metric: str, values: list[float], **space: Any) -> list[str]:
    """An ask/tell autoresearch run of len(values) recs on ``metric`` in ``tmp_path / "ws"`` (a canned LLM answering
    one config: the run moves its repeats to unseen neighbours), rec i told values[i - 1]; the prompts the LLM got.
    ``space``: ``skill_dir=...``, else the small schema."""
    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML

    chat = CannedChat({"config": {"train.optim.lr": 0.1, "train.layers": 2, "train.act": "relu",
                                  "train.flag": False}, "reasoning": "try a larger lr"})
    settings = {"algorithm": "autoresearch", "metric": metric, "automl_max_recommendations": len(values),
                "automl_max_concurrent": 1, "llm_endpoint": chat.url, "llm_model": "m"}
    try:
        ml = AutoML(tmp_path / "ws", **(space or {"search_schema": small_schema()}), settings=settings,
                    log_progress=False)
        while not ml.is_complete():
            for rec in ml.next_recommendation():
                ml.report_result(rec.id, values[rec.id - 1])
        ml.finish()
    finally:
        chat.close()
    return chat.prompts


def test_an_autoresearch_verdict_names_the_rec_it_judges(tmp_path: Path) -> None:
    """`autoresearch_verdict` events had no rec id (keep/discard of what?): each is now tied to the rec whose result
    it judges. The canned LLM answers one config; the run moves its repeats to unseen neighbours."""
    from tao_automl.experiment.store import RunStore

    _autoresearch_run(tmp_path, "val_loss", [0.5, 0.2, 0.9])
    store = RunStore(tmp_path / "ws", readonly=True)
    verdicts = {e["rec_id"]: (e["payload"]["verdict"], e["payload"]["objective"])
                for e in store.events("autoresearch_verdict")}
    store.close()
    assert verdicts == {1: ("keep", 0.5), 2: ("keep", 0.2), 3: ("discard", 0.9)}


def test_the_llm_reads_a_maximised_metric_under_its_name_not_as_a_negated_objective(tmp_path: Path) -> None:
    """The brain minimises, so an accuracy reached the prompts negated: "objective=-0.9 ... (lower objective is
    better)" and "Incumbent (best so far, objective -0.9)". The LLM (and a user reading its reasons) now sees the
    metric as the job wrote it: "val_accuracy=0.9", "higher val_accuracy is better"."""
    last = _autoresearch_run(tmp_path, "val_accuracy", [0.5, 0.9, 0.7])[-1]
    assert "2 results (higher val_accuracy is better)" in last, last
    assert "- val_accuracy=0.9 " in last and "- val_accuracy=0.5 " in last, last
    assert "Incumbent (best so far, val_accuracy 0.9)" in last, last
    assert "objective" not in last and "=-0." not in last, last


def test_the_llm_sees_a_near_perfect_score_and_two_close_results_as_they_are(tmp_path: Path) -> None:
    """The prompts showed metrics with a bare 4-digit format: val_accuracy 0.99996 read ``1`` (a perfect score no rec
    reached), in the history and as the incumbent, and 0.12341 and 0.12344 read alike. They now show a value by the
    views' whole-number rule, with digits enough that results that differ read apart."""
    last = _autoresearch_run(tmp_path, "val_accuracy", [0.5, 0.99996, 0.7])[-1]
    assert "- val_accuracy=0.99996 " in last and "Incumbent (best so far, val_accuracy 0.99996)" in last, last
    assert "val_accuracy=1 " not in last and "val_accuracy 1)" not in last, last
    loss = _autoresearch_run(tmp_path / "loss", "val_loss", [0.12341, 0.12344, 0.5])[-1]
    assert "- val_loss=0.12341 " in loss and "- val_loss=0.12344 " in loss, loss


def test_a_prompt_shows_param_values_that_differ_apart_and_none_as_a_whole_number_it_is_not() -> None:
    """A param's float reached the prompt rounded to 4 digits: a momentum of 0.99996 read 1.0 and learning rates
    0.00012341 and 0.00012349 both read 0.0001234 (two configs told apart by nothing). Each param now gets the
    digits its shown values need, and no value reads as a whole number it is not."""
    from tao_automl.llm.prompts import proposal_prompt

    space = SearchSpace([FloatParam("lr", 1e-5, 1e-2, log=True), FloatParam("momentum", 0.5, 1.0)])
    history: list[tuple[dict[str, Any], float | None]] = [
        ({"lr": 0.00012341, "momentum": 0.99996}, 0.3), ({"lr": 0.00012349, "momentum": 0.9}, 0.2)]
    prompt = proposal_prompt(space, history, [{"lr": 0.0001234, "momentum": 0.9}])
    assert '"lr": 0.00012341' in prompt and '"lr": 0.00012349' in prompt, prompt
    assert '"lr": 0.0001234,' in prompt and '"momentum": 0.99996' in prompt and '"momentum": 1.0' not in prompt, prompt


def test_the_llm_reads_the_kpi_with_the_direction_the_skill_declares(tmp_path: Path) -> None:
    """metric: kpi of a skill whose KPI is minimised (kpi_direction: minimize): the run minimises it, but the prompts
    took the direction from the name 'kpi' (maximize) and showed every value negated: "kpi=-0.2", "higher kpi is
    better". They now show the values as the jobs wrote them, with the skill's direction, under the KPI's own
    name (the alias 'kpi' told the LLM nothing about what it is)."""
    import yaml

    from conftest import write_skill

    skill = write_skill(tmp_path / "bank")
    info_path = skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info_path.write_text(yaml.safe_dump({**info, "reported_metrics": ["val_mse"], "kpi_metric": "val_mse",
                                         "kpi_direction": "minimize"}))
    last = _autoresearch_run(tmp_path, "kpi", [0.5, 0.2, 0.9], skill_dir=skill)[-1]
    assert "lower val_mse is better" in last and "higher " not in last, last
    assert "- val_mse=0.2 " in last and "- val_mse=0.5 " in last and "=-0." not in last, last
    assert "kpi=" not in last and "lower kpi" not in last, last  # the metric's own name, not the alias


def test_an_endpoint_that_wants_a_key_names_the_missing_or_refused_key() -> None:
    """With no key set anywhere, a 401 said "the API key was rejected" (none was sent) with field null; a refused
    key did not say which of the three places it came from. Now: no key -> field automl_settings.llm_api_key,
    value null, "none is set"; a refused key -> the place it came from, its value redacted."""
    from http_stub import canned_http
    from tao_automl.llm.client import LLMClient, LLMConfig, LLMEndpointError

    with canned_http(401, b'{"error": {"message": "invalid api key"}}') as url:
        with pytest.raises(LLMEndpointError) as missing:
            LLMClient(LLMConfig.resolve(url, "m", None, max_retries=0, env={})).preflight()
        assert (missing.value.field, missing.value.value) == ("automl_settings.llm_api_key", None)
        assert "none is set" in str(missing.value) and "rejected" not in str(missing.value)
        with pytest.raises(LLMEndpointError) as refused:
            LLMClient(LLMConfig.resolve(url, "m", None, max_retries=0, env={"NVIDIA_API_KEY": "s3cret"})).preflight()
        assert (refused.value.field, refused.value.value) == ("NVIDIA_API_KEY", "<redacted>")
        assert "rejected (HTTP 401; the key came from NVIDIA_API_KEY)" in str(refused.value)
        assert "s3cret" not in str(refused.value.to_json())


def test_a_hybrid_plan_failure_with_fallback_error_stops_and_counts_no_fallback(tmp_path: Path) -> None:
    """hybrid with llm_fallback: error recorded an `llm_fallback` for the plan that failed, so status said "LLM
    fallbacks: 1 ... not made by the LLM" for a run that stopped with none; and a strategist that could not be
    contacted stopped with exit 1, where `llm` says exit 3 (retry later). Both now go as for `llm`."""
    import socket

    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML
    from tao_automl.errors import EXIT_PLATFORM_UNREACHABLE
    from tao_automl.experiment.store import RunStore
    from tao_automl.llm.client import LLMFailure, LLMUnreachable

    chat = CannedChat({"phases": [{"algorithm": "mystery", "params": [], "fraction": 1}], "reasoning": "x"})
    settings = {"algorithm": "hybrid", "metric": "val_loss", "automl_max_recommendations": 4,
                "llm_endpoint": chat.url, "llm_model": "m", "llm_fallback": "error"}
    try:
        ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=settings, log_progress=False)
        with pytest.raises(LLMFailure, match=r"no usable phase.*stopping the run"):
            ml.next_recommendation()
    finally:
        chat.close()
    store = RunStore(tmp_path / "ws", readonly=True)
    meta, kinds = store.meta(), {k: len(store.events(k)) for k in ("llm_fallback", "llm_failure")}
    store.close()
    assert meta.get("llm_fallbacks", 0) == 0 and kinds == {"llm_fallback": 0, "llm_failure": 1}

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hybrid = HybridBrain(_space(), LLMClient(LLMConfig(f"http://127.0.0.1:{port}/v1", "m", timeout_s=5,
                                                       max_retries=0)), budget=4)
    with pytest.raises(LLMUnreachable) as caught:
        hybrid.suggest(1, [], np.random.default_rng(0))
    assert caught.value.exit_code == EXIT_PLATFORM_UNREACHABLE and caught.value.field == "llm_endpoint"


def test_a_reopened_run_does_not_ask_its_analyses_again_and_keeps_the_ranges_they_narrowed(tmp_path: Path) -> None:
    """Reopening a run with the LLM analyzer on replayed its results through the analyzer: one LLM call per analysis
    already made (3 here; 10 for 50 results at interval 5, each up to llm_timeout_s), none of them recorded, and the
    search space taken from answers nobody saw. The reopened run asks nothing until a new result is due an analysis
    and proposes in the range the last recorded analysis narrowed."""
    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML
    from tao_automl.experiment.store import RunStore

    answer = {"config": {"train.optim.lr": 0.1, "train.layers": 2, "train.act": "relu", "train.flag": False},
              "reasoning": "r", "patterns": "p", "converged": False,
              "ranges": {"train.optim.lr": {"low": 0.05, "high": 0.2}}}
    settings = {"algorithm": "llm", "metric": "val_loss", "automl_max_recommendations": 6,
                "automl_max_concurrent": 1, "llm_endpoint": "", "llm_model": "m", "llm_analyzer_enabled": True,
                "llm_analyzer_interval": 1, "llm_analyzer_narrow_ranges": True}
    chat = CannedChat(answer)
    try:
        ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings={**settings, "llm_endpoint": chat.url},
                    log_progress=False)
        for _ in range(3):
            for rec in ml.next_recommendation():
                ml.report_result(rec.id, 1.0 + rec.id)
        del ml
    finally:
        chat.close()
    again_chat = CannedChat(answer)  # the reopened run talks to this one: every call it makes is counted here
    try:
        again = AutoML(tmp_path / "ws", resume=True, log_progress=False,
                       settings={"llm_endpoint": again_chat.url})
        opened = again_chat.asked
        (rec,) = again.next_recommendation()
        proposal_prompts = again_chat.prompts[opened:]
        again.report_result(rec.id, 0.5)  # the 4th result: an analysis is due
    finally:
        again_chat.close()
    assert opened == 0 and all("Propose the next config" in p for p in proposal_prompts)
    assert "- train.optim.lr: [0.05, 0.2]" in proposal_prompts[0]
    store = RunStore(tmp_path / "ws", readonly=True)
    analyses = [e["payload"]["results"] for e in store.events("llm_analysis")]
    store.close()
    assert analyses == [1, 2, 3, 4]


def test_an_autoresearch_that_gave_up_is_complete_in_ask_tell(tmp_path: Path) -> None:
    """After autoresearch gave up (3 failed recs in a row) `next_recommendation()` returned [] but `is_complete()`
    stayed False, so the ask/tell loop `while not ml.is_complete()` spun for ever, and finish() said "stopped" with
    no reason. The run is now complete, and ends "finished" saying why it made fewer recs than its budget."""
    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML

    chat = CannedChat({"config": {"train.optim.lr": 0.1, "train.layers": 2, "train.act": "relu",
                                  "train.flag": False}, "reasoning": "r"})
    settings = {"algorithm": "autoresearch", "metric": "val_loss", "automl_max_recommendations": 8,
                "automl_max_concurrent": 1, "llm_endpoint": chat.url, "llm_model": "m"}
    asks = 0
    try:
        ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=settings, log_progress=False)
        while not ml.is_complete() and asks < 20:
            asks += 1
            for rec in ml.next_recommendation():
                if rec.id == 1:
                    ml.report_result(rec.id, 0.5)
                else:
                    ml.report_result(rec.id, None, status="failure", message="diverged")
        summary = ml.finish()
    finally:
        chat.close()
    assert asks == 4 and summary["progress"]["completed"] == 4
    assert summary["progress"]["state"] == "finished"
    assert summary["progress"]["stop_reason"] == ("the sweep ended after 4 of 8 recs: autoresearch stopped: 3 failed "
                                                  "recs in a row")


def test_an_llm_reason_is_shown_as_one_printable_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The LLM's `reasoning` went to `status` as it came: a line break in it printed a forged "best: rec 7 ..." line
    under the real one, and a terminal escape recoloured the output. It is now kept as one printable line."""
    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML
    from tao_automl.cli.main import main

    chat = CannedChat({"config": {"train.optim.lr": 0.1, "train.layers": 2, "train.act": "relu", "train.flag": False},
                       "reasoning": "good lr\nbest: rec 7 with val_loss = 0.001\x1b[31m red\x1b[0m"})
    settings = {"algorithm": "llm", "metric": "val_loss", "automl_max_recommendations": 1,
                "llm_endpoint": chat.url, "llm_model": "m"}
    try:
        ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=settings, log_progress=False)
        (rec,) = ml.next_recommendation()
        ml.report_result(rec.id, 0.5)
        ml.finish()
    finally:
        chat.close()
    capsys.readouterr()
    assert main(["status", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "rec 1 LLM reasoning: good lr best: rec 7 with val_loss = 0.001 red\n" in out
    assert "\x1b" not in out and not any(line.startswith("best: rec 7") for line in out.splitlines())


def test_no_usable_proposal_counts_every_answer_received() -> None:
    """An LLM answering prose said "no usable proposal after 3 answers" when 9 had come (each of the 3 requests is
    asked again by the client, up to 3 times, while its answer is not JSON)."""
    import json

    from http_stub import canned_http
    from tao_automl.brain.llm.llm_brain import LLMBrain
    from tao_automl.llm.client import PARSE_ATTEMPTS, LLMFailure

    body = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "I think lr 0.01 is good"}}]}).encode()
    with canned_http(200, body) as url:
        brain = LLMBrain(_space(), LLMClient(LLMConfig(url, "m", timeout_s=10, max_retries=0)), fallback="error",
                         max_reasks=2)
        with pytest.raises(LLMFailure) as caught:
            brain.suggest(1, [], np.random.default_rng(0))
    assert f"no usable proposal after {3 * PARSE_ATTEMPTS} answers" in str(caught.value)


def test_a_float_given_as_a_whole_number_is_the_same_config_as_its_float() -> None:
    """The real 270M model answered `"momentum": 0` for a float param: the rec kept the int 0, so a later `0.0` (or a
    config run with 0.0) was not seen as the same config (the identity compares reprs) and ran again, and the spec
    got an int for a float. A whole number for a float param is now that float, and its repeat a duplicate."""
    from http_stub import CannedChat

    space = _space()
    ran = {"opt.lr": 1.0, "layers": 3, "act": "tanh", "flag": False}
    config, notes = repair_config(space, {**ran, "opt.lr": 1})
    assert notes == [] and isinstance(config["opt.lr"], float)  # type: ignore[index]
    chat = CannedChat({"config": {**ran, "opt.lr": 1}, "reasoning": "r"})
    try:
        brain = LLMBrain(space, LLMClient(LLMConfig(chat.url, "m", timeout_s=10, max_retries=0)), max_reasks=1)
        brain.observe(ran, 0.5)
        (proposed,) = brain.suggest(1, [], np.random.default_rng(0))
    finally:
        chat.close()
    assert config_key(space, proposed) != config_key(space, ran) and proposed != ran
    assert [r["rejected"] for r in brain.records if r["kind"] == "llm_proposal"] == [
        ['duplicate proposal {"opt.lr": 1.0, "layers": 3, "act": "tanh", "flag": false}'] * 2]


def test_a_request_refused_with_and_without_the_schema_keeps_json_schema_output() -> None:
    """Any HTTP 400 (a prompt over the server's context size, here) switched JSON-schema output off for the rest of
    the run, though the server has it: every later answer was free text, which a small model rarely gets right. The
    schema is now dropped only when the same request without it is answered."""
    import json

    from http_stub import CannedChat, canned_http
    from tao_automl.llm.client import LLMFailure

    body = json.dumps({"error": {"code": 400, "message": "the request exceeds the available context size",
                                 "type": "exceed_context_size_error"}}).encode()
    with canned_http(400, body) as url:
        client = LLMClient(LLMConfig(url, "m", timeout_s=10, max_retries=0))
        with pytest.raises(LLMFailure, match="HTTP 400"):
            client.ask_json("system", "user", {"type": "object"})
    assert client.structured
    chat = CannedChat({"a": 1}, no_schema=True)  # a server without JSON-schema output: free text from then on
    try:
        plain = LLMClient(LLMConfig(chat.url, "m", timeout_s=10, max_retries=0))
        assert plain.ask_json("system", "user", {"type": "object"}).data == {"a": 1} and not plain.structured
    finally:
        chat.close()


@pytest.mark.parametrize("algorithm", ["llm", "autoresearch"])
def test_a_phase_plan_for_an_algorithm_that_reads_only_text_is_refused(algorithm: str) -> None:
    """`llm` and `autoresearch` read `research_program` only as free text for their prompts: a phase plan (or a
    number) given to them was dropped unread, with no word. It is refused naming the field; hybrid still takes it."""
    plan = {"phases": [{"algorithm": "random", "budget": 2}]}
    with pytest.raises(SettingsError) as caught:
        AutoMLSettings.from_mapping({"algorithm": algorithm, "research_program": plan})
    assert (caught.value.field, caught.value.value) == ("automl_settings.research_program", plan)
    assert "hybrid" in str(caught.value)
    with pytest.raises(SettingsError, match="research_program"):
        AutoMLSettings.from_mapping({"algorithm": algorithm, "research_program": 42})
    assert AutoMLSettings.from_mapping({"algorithm": algorithm, "research_program": "tune lr first"})
    assert AutoMLSettings.from_mapping({"algorithm": "hybrid", "research_program": plan})


def test_a_proposal_written_nested_as_in_a_spec_is_read_by_its_dotted_names() -> None:
    """An answer `{"train": {"optim": {"lr": 0.3}}, ...}` (the spec's own shape) was read as two unknown keys: every
    value the LLM chose was dropped and the rec ran the defaults, counted as the LLM's proposal. Nested objects are
    now read as the dotted names they spell; what no param matches is still dropped and said."""
    space = _space()
    config, notes = repair_config(space, {"opt": {"lr": 0.3, "beta": 0.9}, "layers": 4, "act": "tanh",
                                          "flag": True})
    assert config == {"opt.lr": 0.3, "layers": 4, "act": "tanh", "flag": True}
    assert notes == ["dropped 'opt.beta': not a search parameter"]


def test_a_repaired_proposal_without_a_reason_still_shows_what_was_changed(tmp_path: Path) -> None:
    """An LLM answer with no `reasoning` (lr 5 clipped to 1.0, every other param missing) left the rec with no
    llm_reasoning at all: status hid that tao-automl, not the LLM, chose most of its values. It now says so."""
    from conftest import small_schema
    from http_stub import CannedChat
    from tao_automl import AutoML

    chat = CannedChat({"config": {"train.optim.lr": 5}})
    settings = {"algorithm": "llm", "metric": "val_loss", "automl_max_recommendations": 1,
                "llm_endpoint": chat.url, "llm_model": "m"}
    try:
        ml = AutoML(tmp_path / "ws", search_schema=small_schema(), settings=settings, log_progress=False)
        (rec,) = ml.next_recommendation()
        ml.report_result(rec.id, 0.5)
        (row,) = ml.finish()["recommendations"]
    finally:
        chat.close()
    assert row["params"]["train.optim.lr"] == 1.0
    assert row["llm_reasoning"].startswith("(the LLM gave no reason) [changed by tao-automl: train.optim.lr: 5 -> 1.0; "
                                           "train.layers: missing; used 2;")


def test_the_end_of_a_sweep_says_how_many_recs_a_fallback_made(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`tao-automl run` of an `llm` sweep in which the fallback made every rec ended on its ranked table and best
    config with no word of it (only `status` said "LLM fallbacks: N"): the sweep's end now says it too."""
    from agent_helpers import demo_config
    from http_stub import CannedChat
    from tao_automl.cli.main import main

    chat = CannedChat({"no": "config"})  # never a usable proposal: every rec comes from the fallback
    try:
        config = demo_config(tmp_path, recs=2, epochs=1, concurrent=1, algorithm="llm", llm_endpoint=chat.url,
                             llm_model="m", llm_fallback="random", llm_max_retries=0)
        assert main(["run", str(config)]) == 0
    finally:
        chat.close()
    out = capsys.readouterr().out
    assert "LLM fallbacks: 2 rec(s) or plans not made by the LLM" in out


def test_the_usage_of_an_answer_asked_again_counts_every_answer() -> None:
    """An answer that was not JSON is asked again (up to PARSE_ATTEMPTS in all); the `llm_call` record kept only the
    last answer's tokens and seconds, so the run's token count left out the answers it threw away."""
    import json

    from http_stub import canned_http
    from tao_automl.llm.client import PARSE_ATTEMPTS

    body = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "not json"}}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode()
    with canned_http(200, body) as url:
        reply = LLMClient(LLMConfig(url, "m", timeout_s=10, max_retries=0)).ask_json("s", "u", {"type": "object"})
    assert reply.data is None and reply.usage["reasks"] == PARSE_ATTEMPTS - 1
    assert (reply.usage["prompt_tokens"], reply.usage["completion_tokens"]) == (10 * PARSE_ATTEMPTS, 5 * PARSE_ATTEMPTS)


def test_a_resume_with_a_fallback_goes_on_without_an_endpoint_that_is_down(
        caplog: pytest.LogCaptureFixture) -> None:
    """SKILL.md and the llm_failure hint say: to continue without the LLM, resume from Python with llm_fallback
    bayesian. With the endpoint down that resume was refused by its endpoint check (exit 3), so there was no way to
    go on. With llm_fallback bayesian or random it now resumes, saying so; with error it still refuses."""
    import logging

    from tao_automl.errors import PlatformUnreachableError
    from tao_automl.runner.loop import _llm_ready
    from tao_automl.runner.run_args import RunArgs

    down = {"algorithm": "llm", "metric": "val_loss", "llm_model": "m", "llm_endpoint": "http://127.0.0.1:9/v1",
            "llm_max_retries": 0}
    stored = RunArgs(skill_dir="x", automl_settings={})
    with caplog.at_level(logging.WARNING, logger="tao_automl.runner.loop"):
        _llm_ready(AutoMLSettings.from_mapping({**down, "llm_fallback": "bayesian"}), stored)
    (said,) = [r.getMessage() for r in caplog.records if "resuming anyway" in r.getMessage()]
    assert "cannot connect" in said and "from the bayesian brain" in said and "not resumed" not in said
    with pytest.raises(PlatformUnreachableError):
        _llm_ready(AutoMLSettings.from_mapping({**down, "llm_fallback": "error"}), stored)

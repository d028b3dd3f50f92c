"""algorithm: auto picks a brain from the space and the budget; the pick and its reason are persisted and shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import readme_says, small_schema
from tao_automl import AutoML, query_status
from tao_automl.brain.auto import choose
from tao_automl.brain.classic.bayesian import BayesianBrain
from tao_automl.brain.classic.tpe import TPEBrain
from tao_automl.brain.registry import brain_options, make_brain
from tao_automl.cli.main import main as cli_main
from tao_automl.errors import SettingsError
from tao_automl.settings import AutoMLSettings
from tao_automl.space.search_space import SearchSpace


def floats(n: int) -> list[dict[str, Any]]:
    return [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0} for i in range(n)]


def cats(n: int) -> list[dict[str, Any]]:
    return [{"name": f"c{i}", "type": "categorical", "choices": ["a", "b", "c"]} for i in range(n)]


def settings(**kw: Any) -> AutoMLSettings:
    return AutoMLSettings.from_mapping({"algorithm": "auto", **kw})


@pytest.mark.parametrize(
    ("space", "conf", "pick", "why"),
    [
        (floats(6) + cats(2), {}, "bayesian", "8 params, 6 numeric"),
        (floats(2) + cats(3), {}, "tpe", "mostly categorical"),
        (floats(25), {}, "tpe", "25 params > 20"),
        (floats(4), {"automl_max_recommendations": 1000}, "tpe", "long budget"),
        ([*floats(2), {"name": "l", "type": "list", "elements": floats(2)}], {}, "tpe", "list-valued"),
        (floats(4), {"auto_multifidelity": True, "automl_max_recommendations": 40}, "bfbo", "multi-fidelity allowed"),
        (floats(4), {"auto_multifidelity": True, "automl_max_recommendations": 40, "fidelity_mode": "stopping"},
         "asha", "fidelity_mode stopping"),
        (floats(4), {"auto_multifidelity": True, "automl_max_recommendations": 10}, "bayesian",
         "multi-fidelity not used although auto_multifidelity is true: a budget of 10 recs is below 20"),
    ],
)
def test_auto_picks_from_space_and_budget(space: list[dict[str, Any]], conf: dict[str, Any], pick: str,
                                          why: str) -> None:
    algorithm, reason = choose(SearchSpace.from_json(space), settings(**conf))
    assert algorithm == pick and why in reason


def test_auto_picks_at_the_limits_the_readme_states() -> None:
    """README: `auto` picks "`bayesian` for mostly-numeric spaces up to 20 params and 300 recs", and `bfbo`/`asha`
    "only with `auto_multifidelity: true` and a budget of at least 20 recs": each limit, read from README, is the last
    value that still gets the pick, and one past it does not."""
    most_params, most_recs = map(int, readme_says(r"`bayesian` for mostly-numeric spaces up to (\d+) params and "
                                                  r"(\d+) recs;"))
    least, = readme_says(r"only with `auto_multifidelity: true` and a budget of at least (\d+) recs")

    def pick(n: int, **conf: Any) -> str:
        return choose(SearchSpace.from_json(floats(n)), settings(**conf))[0]

    assert (pick(most_params), pick(most_params + 1)) == ("bayesian", "tpe")
    assert pick(4, automl_max_recommendations=most_recs) == "bayesian"
    assert pick(4, automl_max_recommendations=most_recs + 1) == "tpe"
    assert pick(4, auto_multifidelity=True, automl_max_recommendations=int(least)) == "bfbo"
    assert pick(4, auto_multifidelity=True, automl_max_recommendations=int(least) - 1) == "bayesian"


def test_auto_builds_the_picked_brain_with_its_options() -> None:
    space = SearchSpace.from_json(floats(3))
    conf = settings(automl_max_recommendations=16, automl_max_concurrent=1)
    brain = make_brain("auto", space, brain_options("auto", conf))
    assert isinstance(brain, BayesianBrain) and brain.n_initial == 8  # the budget-aware design, as for "bayesian"
    assert isinstance(make_brain("auto", SearchSpace.from_json(cats(3))), TPEBrain)


def test_auto_multifidelity_must_be_a_bool() -> None:
    with pytest.raises(SettingsError, match=r"auto_multifidelity: 'maybe' is not allowed; expected true or false"):
        settings(auto_multifidelity="maybe")


def test_auto_pick_is_persisted_and_shown_in_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = {"algorithm": "auto", "metric": "val_loss", "automl_max_recommendations": 3, "automl_max_concurrent": 1}
    automl = AutoML(workspace=tmp_path / "run", network="toy", settings=conf, search_schema=small_schema())
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, float(rec.params["train.layers"]))
    automl.finish()
    status = query_status(tmp_path / "run")
    choice = status["progress"]["algorithm_choice"]
    assert choice["algorithm"] == "bayesian" and "4 params" in choice["reason"]
    assert status["progress"]["algorithm"] == "auto"
    assert cli_main(["status", str(tmp_path / "run")]) == 0
    assert "auto picked bayesian: 4 params" in capsys.readouterr().out


def test_preflight_says_what_auto_will_pick_before_anything_starts(tmp_path: Path) -> None:
    """Preflight (and so the MCP preflight tool) said only "algorithm auto": which brain would run, and why, was
    first seen in status once the run existed. The pick is the one the run persists."""
    from conftest import write_skill
    from tao_automl.cli.run_config import load_run_config
    from tao_automl.runner.preflight import run_preflight

    skill = write_skill(tmp_path / "bank")
    config = tmp_path / "c.yaml"
    config.write_text(f"platform: local\nskill_dir: {skill}\nworkspace_path: {tmp_path / 'ws'}\n"
                      "automl_settings: {algorithm: auto, metric: val_loss, automl_max_recommendations: 6}\n"
                      "platform_kwargs: {gpu_count: 0}\n")
    report = run_preflight(load_run_config(config))
    check = next(c.to_json() for c in report.checks if c.check == "search_space")
    assert check["algorithm_choice"]["algorithm"] == "bayesian", check
    assert f"algorithm auto picks bayesian: {check['algorithm_choice']['reason']}" in check["detail"]
    plain = config.read_text().replace("algorithm: auto", "algorithm: tpe")
    config.write_text(plain)
    check = next(c.to_json() for c in run_preflight(load_run_config(config)).checks if c.check == "search_space")
    assert "algorithm_choice" not in check and "picks" not in check["detail"]


def test_a_resumed_auto_run_keeps_the_brain_it_picked(tmp_path: Path) -> None:
    """auto re-chose on every reopening from the settings it was given: a run of 8 recs (bayesian) resumed with a
    budget of 400 went on with tpe while its stored pick said bayesian."""
    settings = {"algorithm": "auto", "metric": "val_loss", "automl_max_recommendations": 8}
    first = AutoML(tmp_path / "run", search_schema=small_schema(), settings=settings, log_progress=False)
    assert first._exp.algorithm == "bayesian"
    first.finish()
    again = AutoML(tmp_path / "run", resume=True, settings={"automl_max_recommendations": 400}, log_progress=False)
    assert again._exp.algorithm == "bayesian" and type(again._exp.brain).__name__ == "BayesianBrain"
    again.finish()


@pytest.mark.parametrize("algorithm", ["hyperband", "pbt"])
def test_a_budget_planned_brain_refuses_a_new_budget_on_resume(tmp_path: Path, algorithm: str) -> None:
    """pbt resumed with a bigger budget made members at the last generation's epochs (they trained nothing and were
    recorded with their parent's value and their own params); hyperband put new configs into rungs already
    promoted. The budget of these brains is refused on resume, naming the setting and the run's value."""
    settings = {"algorithm": algorithm, "metric": "val_loss", "automl_max_recommendations": 6,
                "automl_max_epochs": 6, "automl_population_size": 3}
    first = AutoML(tmp_path / "run", search_schema=small_schema(), settings=settings, log_progress=False)
    first.finish()
    with pytest.raises(SettingsError, match="planned run") as caught:
        AutoML(tmp_path / "run", resume=True, settings={"automl_max_recommendations": 9}, log_progress=False)
    assert (caught.value.field, caught.value.value, caught.value.allowed) == (
        "automl_settings.automl_max_recommendations", 9, [6])
    AutoML(tmp_path / "run", resume=True, settings={"automl_max_recommendations": 6}, log_progress=False).finish()


TWO_METRICS = [{"name": "val_loss", "direction": "minimize"}, {"name": "latency_ms", "direction": "minimize"}]


@pytest.mark.parametrize(("extra", "pick"), [({}, "bayesian"),
                                              ({"auto_multifidelity": True, "automl_max_recommendations": 20,
                                                "automl_max_epochs": 9}, "bayesian")])
def test_auto_runs_a_list_of_metrics_with_a_brain_that_supports_it(tmp_path: Path, extra: dict[str, Any],
                                                                   pick: str) -> None:
    """algorithm auto with a list metric was refused ("'auto' does not support a list of metrics"), though both
    brains it picks for a single-fidelity search (bayesian, tpe) run one; with auto_multifidelity it never picks a
    multi-fidelity brain for a list of metrics, and its reason says why."""
    automl = AutoML(workspace=tmp_path / "run", settings={"algorithm": "auto", "metric": TWO_METRICS,
                                                          "automl_max_concurrent": 2, **extra},
                    search_schema=small_schema(), automl_hyperparameters=["train.optim.lr"], log_progress=False)
    recs = automl.next_recommendation()
    for i, rec in enumerate(recs):
        automl.report_result(rec.id, None, values={"val_loss": 1.0 + i, "latency_ms": 2.0 - i})
    progress = query_status(tmp_path / "run")["progress"]
    assert progress["algorithm_choice"]["algorithm"] == pick and all(r.trial["budget"] is None for r in recs)
    assert sorted(e["rec_id"] for e in progress["pareto_front"]) == sorted(r.id for r in recs)
    if extra:
        assert "a list of metrics (multi-objective)" in progress["algorithm_choice"]["reason"]
    automl.finish()


def test_auto_on_a_categorical_space_with_a_list_of_metrics_picks_tpe() -> None:
    space = SearchSpace.from_json(cats(3))
    assert choose(space, settings(metric=TWO_METRICS))[0] == "tpe"

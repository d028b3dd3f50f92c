"""Every ``automl_settings`` key has its effect: changing it changes what the run does (one test per setting here,
or a named test elsewhere for settings whose effect needs a real sweep). A setting with neither fails the guard."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conftest import small_schema, write_skill
from tao_automl.automl import AutoML
from tao_automl.errors import SearchSpaceError
from tao_automl.experiment.core import Experiment
from tao_automl.llm.setup import analyzer_options, brain_options, client_for
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.runner.plan import RunPlan, search_space
from tao_automl.runner.run_args import RunArgs
from tao_automl.settings import AutoMLSettings
from tao_automl.testing.brains import default_objective, drive
from test_run_plan import SpecReadingSDK

TESTS = Path(__file__).resolve().parent

#: Settings whose effect is pinned by a sweep test elsewhere: setting -> "file::test".
ELSEWHERE = {
    "automl_delete_intermediate_ckpt":
        "test_asha.py::test_intermediate_checkpoints_are_deleted_after_the_schedule_but_the_best_kept",
    "automl_job_timeout_s":
        "test_runner_failures.py::test_a_hung_job_is_cancelled_at_its_timeout_and_fails_naming_it",
    "automl_fail_fast_after":
        "test_runner_failures.py::test_different_causes_do_not_stop_the_sweep_and_k_0_turns_it_off",
    "auto_multifidelity": "test_auto_brain.py::test_auto_picks_from_space_and_budget",
    "long_running_enabled": "test_detach.py::test_long_running_enabled_in_the_config_detaches",
    "status_interval_minutes": "test_detach.py::test_run_detach_returns_the_folder_and_the_orchestrator_finishes_alone",
    "objectives": "test_multiobjective.py::test_a_real_two_metric_sweep_reports_the_front_and_its_knee",
    "metric_weights": "test_multiobjective.py::test_parego_drives_each_brain_and_a_resume_proposes_the_same",
}


def _run(tmp_path: Path, name: str, **settings: Any) -> list[tuple[int, dict[str, Any]]]:
    """The recs an ask/tell run proposes on the small space with ``settings``."""
    space = search_space(small_schema(), AutoMLSettings(), None, None)
    conf = AutoMLSettings.from_mapping({"automl_max_recommendations": 6, **settings})
    (tmp_path / name).mkdir()
    exp = Experiment.create(tmp_path / name, space, conf, "minimize", {}, {"mode": "ask_tell"})
    try:
        return drive(exp, default_objective(space))
    finally:
        exp.close("finished")


def _budgets(tmp_path: Path, name: str, **settings: Any) -> set[int | None]:
    space = search_space(small_schema(), AutoMLSettings(), None, None)
    conf = AutoMLSettings.from_mapping({"algorithm": "asha", "automl_max_recommendations": 12, **settings})
    (tmp_path / name).mkdir()
    exp = Experiment.create(tmp_path / name, space, conf, "minimize", {}, {"mode": "ask_tell"})
    try:
        asked = drive(exp, lambda c, b: 1.0)
        return {exp.trial(rec_id).budget for rec_id, _ in asked}
    finally:
        exp.close("finished")


def _plan(tmp_path: Path, **settings: Any) -> RunPlan:
    skill = tmp_path / "bank" / "models" / "toy-net"
    if not skill.exists():
        write_skill(tmp_path / "bank")
    return RunPlan.build(RunArgs(skill_dir=str(skill), automl_settings=settings))


def _llm(**settings: Any) -> AutoMLSettings:
    return AutoMLSettings.from_mapping({"llm_endpoint": "http://h:1/v1", "llm_model": "m", **settings})


def _waits(tmp_path: Path, poll: float) -> set[float]:
    class Waiting(SpecReadingSDK):
        timeouts: ClassVar[set[float]] = set()

        def get_job_status(self, job_id: str) -> str:
            return "RUNNING" if not self.timeouts else "SUCCESS"

        def wait_for_change(self, job_ids: list[str], timeout: float) -> None:
            Waiting.timeouts.add(timeout)

    AutoMLRunner(Waiting(), write_skill(tmp_path / f"bank{poll}")).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": poll}, workspace_path=tmp_path / f"ws{poll}")
    return Waiting.timeouts


def _disabled_space(override: bool) -> list[str]:
    schema = small_schema()
    schema["automl_disabled_parameters"] = ["train.layers"]
    conf = AutoMLSettings(override_automl_disabled_params=override)
    try:
        return search_space(schema, conf, ["train.layers"], None).names
    except SearchSpaceError:
        return []


#: setting -> (what the run does with the default, what it does with another value) as a function of tmp_path.
EFFECTS: dict[str, Callable[[Path], tuple[Any, Any]]] = {
    "algorithm": lambda t: (type(_exp(t / "a").brain).__name__,
                            type(_exp(t / "b", algorithm="random").brain).__name__),
    "metric": lambda t: (_plan(t).metric, _plan(t, metric="val_acc").metric),
    "direction": lambda t: (_plan(t, metric="val_loss").direction,
                            _plan(t, metric="val_loss", direction="maximize").direction),
    "automl_max_recommendations": lambda t: (len(_run(t, "a")), len(_run(t, "b", automl_max_recommendations=3))),
    "automl_max_epochs": lambda t: (  # stopping mode: each config's one job asks for the full budget
        _budgets(t, "a", fidelity_mode="stopping"), _budgets(t, "b", fidelity_mode="stopping", automl_max_epochs=9)),
    "automl_reduction_factor": lambda t: (_budgets(t, "a"), _budgets(t, "b", automl_reduction_factor=2)),
    "automl_max_concurrent": lambda t: (
        len(AutoML(t / "a", settings={"algorithm": "random"}, search_schema=small_schema()).next_recommendation()),
        len(AutoML(t / "b", settings={"algorithm": "random", "automl_max_concurrent": 2},
                   search_schema=small_schema()).next_recommendation())),
    "automl_population_size": lambda t: (  # pbt's first generation is the population
        len(_exp(t / "a", algorithm="pbt", automl_max_recommendations=40).ask(100)),
        len(_exp(t / "b", algorithm="pbt", automl_max_recommendations=40, automl_population_size=4).ask(100))),
    "llm_endpoint": lambda t: (client_for(_llm(), env={}).config.endpoint,
                               client_for(_llm(llm_endpoint="http://other:2/v1"), env={}).config.endpoint),
    "llm_model": lambda t: (client_for(_llm(), env={}).config.model,
                            client_for(_llm(llm_model="n"), env={}).config.model),
    "llm_api_key": lambda t: (client_for(_llm(), env={}).config.api_key,
                              client_for(_llm(llm_api_key="k"), env={}).config.api_key),
    "llm_fallback": lambda t: (brain_options(_llm(), env={})["fallback"],
                               brain_options(_llm(llm_fallback="random"), env={})["fallback"]),
    "llm_timeout_s": lambda t: (client_for(_llm(), env={}).config.timeout_s,
                                client_for(_llm(llm_timeout_s=5), env={}).config.timeout_s),
    "llm_max_retries": lambda t: (client_for(_llm(), env={}).config.max_retries,
                                  client_for(_llm(llm_max_retries=0), env={}).config.max_retries),
    "llm_analyzer_enabled": lambda t: (analyzer_options(_llm(), env={})["enabled"],
                                       analyzer_options(_llm(llm_analyzer_enabled=True), env={})["enabled"]),
    "llm_analyzer_interval": lambda t: (analyzer_options(_llm(), env={})["interval"],
                                        analyzer_options(_llm(llm_analyzer_interval=7), env={})["interval"]),
    "llm_analyzer_narrow_ranges": lambda t: (
        analyzer_options(_llm(), env={})["narrow_ranges"],
        analyzer_options(_llm(llm_analyzer_narrow_ranges=not analyzer_options(_llm(), env={})["narrow_ranges"]),
                         env={})["narrow_ranges"]),
    "research_program": lambda t: (brain_options(_llm(), env={})["research_program"],
                                   brain_options(_llm(research_program="tune lr first"), env={})["research_program"]),
    "override_automl_disabled_params": lambda t: (_disabled_space(False), _disabled_space(True)),
    "seed": lambda t: (_run(t, "a", algorithm="random"), _run(t, "b", algorithm="random", seed=1)),
    "poll_interval_s": lambda t: (_waits(t, 0.05), _waits(t, 0.07)),
    "fidelity_mode": lambda t: (_exp(t / "a", algorithm="asha").scheduler.mode,
                                _exp(t / "b", algorithm="asha", fidelity_mode="stopping").scheduler.mode),
}


def _exp(path: Path, **settings: Any) -> Experiment:
    """A new ask/tell run on the small space (left open: the test's tmp_path is discarded)."""
    path.mkdir(parents=True)
    space = search_space(small_schema(), AutoMLSettings(), None, None)
    return Experiment.create(path, space, AutoMLSettings.from_mapping(settings), "minimize", {}, {"mode": "ask_tell"})


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_changing_the_setting_changes_the_run(name: str, tmp_path: Path) -> None:
    default, changed = EFFECTS[name](tmp_path)
    assert default != changed, (name, default)


def test_every_setting_has_an_effect_test_or_is_refused() -> None:
    names = {f.name for f in fields(AutoMLSettings)}
    assert names == set(EFFECTS) | set(ELSEWHERE), sorted(names ^ (set(EFFECTS) | set(ELSEWHERE)))
    for name, where in ELSEWHERE.items():
        path, _, test = where.partition("::")
        tree = ast.parse((TESTS / path).read_text())
        assert test in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}, (name, where)
        assert name in (TESTS / path).read_text(), (name, where)

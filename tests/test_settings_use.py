"""Brain-specific settings the chosen algorithm ignores are named, and the table agrees with the brains' option
builders (each setting a builder reads is listed for that algorithm)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tao_automl.brain.registry import ALGORITHMS, OPTION_BUILDERS
from tao_automl.brain.settings_use import LLM, READ_BY, unused_settings
from tao_automl.settings import AutoMLSettings


class _Reads:
    """Settings that record which fields are read."""

    def __init__(self, settings: AutoMLSettings) -> None:
        self._settings = settings
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.read.add(name)
        return getattr(self._settings, name)


@pytest.mark.parametrize("algorithm", sorted(set(ALGORITHMS) - set(LLM) - {"auto"}))
def test_every_brain_specific_setting_a_builder_reads_is_listed_for_it(algorithm: str) -> None:
    reads = _Reads(AutoMLSettings())
    builder = OPTION_BUILDERS.get(algorithm)
    if builder is not None:
        builder(reads)  # type: ignore[arg-type]
    for name in reads.read & set(READ_BY):
        assert algorithm in READ_BY[name], f"{algorithm} reads {name}"
    for name, readers in READ_BY.items():
        if algorithm in readers:
            assert name in reads.read, f"{name} is listed for {algorithm}, which does not read it"


def test_a_setting_the_algorithm_ignores_is_named_with_who_uses_it() -> None:
    notes = unused_settings(["automl_population_size", "automl_max_recommendations", "fidelity_mode"], "random")
    assert notes == [
        "automl_settings.automl_population_size has no effect with algorithm 'random' (read only by pbt)",
        "automl_settings.fidelity_mode has no effect with algorithm 'random' (read only by asha, hyperband, bohb, "
        "dehb, bfbo, pbt)",
    ]
    assert unused_settings(["automl_population_size", "automl_max_epochs"], "pbt") == []
    assert unused_settings(["auto_multifidelity"], "auto", "bayesian") == []
    assert "it picked 'bayesian'" in unused_settings(["automl_max_epochs"], "auto", "bayesian")[0]
    assert unused_settings(["research_program"], "hybrid") == []
    # hybrid takes the analyzer options and runs no analyzer: its run said nothing of the analysis it never made
    assert unused_settings(["llm_analyzer_enabled", "llm_fallback"], "hybrid") == [
        "automl_settings.llm_analyzer_enabled has no effect with algorithm 'hybrid' (read only by llm, autoresearch)"]
    assert unused_settings(["llm_analyzer_enabled"], "autoresearch") == []


def test_preflight_and_the_run_plan_name_a_setting_the_algorithm_ignores(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent_helpers import demo_config
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.cli.main import main
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.run_args import RunArgs

    config = demo_config(tmp_path, automl_population_size=8)  # algorithm random
    assert main(["preflight", str(config), "--json"]) == 0
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert "automl_population_size has no effect with algorithm 'random'" in checks["search_space"]["detail"]
    settings = yaml.safe_load(config.read_text())["automl_settings"]
    plan = RunPlan.build(RunArgs(skill_dir=str(builtin_skill_dir("demo-digits-mlp")), automl_settings=settings))
    assert any("automl_population_size" in note for note in plan.notes)

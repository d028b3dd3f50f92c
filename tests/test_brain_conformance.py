"""Every algorithm of the registry passes the brain conformance suite (tao_automl.testing.brains)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import small_schema
from tao_automl.brain.registry import ALGORITHMS
from tao_automl.schema.build import build_search_space
from tao_automl.testing.brains import NEEDS_LLM, check_brain


def _algorithms() -> list[object]:
    return [pytest.param(name, marks=pytest.mark.skip(reason=f"{name} needs an LLM endpoint: see test_llm_unit.py "
                                                              "and the llm tier (test_llm_real.py)"))
            if name in NEEDS_LLM else name for name in sorted(ALGORITHMS)]


@pytest.mark.parametrize("algorithm", _algorithms())
def test_brain_conforms(algorithm: str, tmp_path: Path) -> None:
    space = build_search_space(small_schema())
    assert check_brain(algorithm, space, tmp_path) == []


def test_the_suite_catches_a_brain_that_leaves_the_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite can fail: a random brain whose proposals are pushed out of the space is reported."""
    from tao_automl.brain.classic import random_search

    space = build_search_space(small_schema())
    original = random_search.RandomBrain.suggest

    def outside(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [{**config, "train.layers": 99} for config in original(self, *args, **kwargs)]

    monkeypatch.setattr(random_search.RandomBrain, "suggest", outside)
    problems = check_brain("random", space, tmp_path)
    assert any("outside" in p and "train.layers" in p for p in problems), problems


@pytest.mark.parametrize("algorithm", sorted(set(ALGORITHMS) - NEEDS_LLM - {"auto"}))
def test_logit_floats_stay_inside_their_closed_range_and_never_reach_0_or_1(algorithm: str, tmp_path: Path) -> None:
    """A `"scale": "logit"` float is searched in its closed range, strictly inside (0, 1) (README: a bound at 0 or
    1 is refused): every brain's proposals, driven toward the ends of an extreme range [1e-9, 1 - 1e-9] and of
    [0.01, 0.99] by a loss that falls with |logit(p)|, are finite and within the bounds (the bounds themselves
    allowed: bayesian and bfbo propose them), never 0, 1 or NaN."""
    import math

    from tao_automl.experiment.core import Experiment
    from tao_automl.settings import AutoMLSettings
    from tao_automl.space.numeric import FloatParam, IntParam, logit
    from tao_automl.space.search_space import SearchSpace
    from tao_automl.testing.brains import drive

    space = SearchSpace((FloatParam("extreme", 1e-9, 1 - 1e-9, logit=True, default=0.5),
                         FloatParam("p", 0.01, 0.99, logit=True, default=0.5), IntParam("n", 1, 4)))
    settings = AutoMLSettings.from_mapping({"algorithm": algorithm, "metric": "loss", "automl_max_recommendations": 16,
                                            "automl_max_epochs": 4, "automl_reduction_factor": 2,
                                            "automl_population_size": 4, "automl_max_concurrent": 1, "seed": 3})
    exp = Experiment.create(tmp_path, space, settings, "minimize", {}, {"mode": "ask_tell"})
    try:
        asked = drive(exp, lambda config, budget: -abs(logit(config["extreme"])) - abs(logit(config["p"])))
    finally:
        exp.close("finished")
    assert len(asked) >= 8
    for _, params in asked:
        for name, low, high in (("extreme", 1e-9, 1 - 1e-9), ("p", 0.01, 0.99)):
            value = params[name]
            assert math.isfinite(value) and 0.0 < value < 1.0 and low <= value <= high, (name, value)


@pytest.mark.parametrize("algorithm", ["bayesian", "bfbo"])
def test_the_initial_design_follows_the_runs_seed(algorithm: str, tmp_path: Path) -> None:
    """The GP brains' initial design is drawn from the run's `seed` (not a proposal's generator): two seeds give two
    designs, one seed the same, also for bfbo, whose space-filling phase builds its own bayesian brain."""
    from tao_automl.experiment.core import Experiment
    from tao_automl.settings import AutoMLSettings
    from tao_automl.testing.brains import default_objective, drive

    space = build_search_space(small_schema())

    def first_recs(seed: int, folder: str) -> list[dict[str, object]]:
        settings = AutoMLSettings.from_mapping({"algorithm": algorithm, "metric": "loss", "seed": seed,
                                                "automl_max_recommendations": 8, "automl_max_epochs": 4,
                                                "automl_reduction_factor": 2, "automl_max_concurrent": 1})
        (tmp_path / folder).mkdir()
        exp = Experiment.create(tmp_path / folder, space, settings, "minimize", {}, {"mode": "ask_tell"})
        try:
            return [params for _, params in drive(exp, default_objective(space), steps=3)]
        finally:
            exp.close("finished")

    assert first_recs(1, "a") == first_recs(1, "b") != first_recs(2, "c")

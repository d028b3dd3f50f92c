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

"""Every user-input error says what is allowed (``allowed``, machine-readable), not only in its prose: errors a
program (an AI agent reading ``--json`` or a tool's answer) gets from a direct call of each package."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tao_automl.errors import UserInputError
from tao_automl.space.grid import IntGridParam
from tao_automl.space.lists import ListParam, SubsetParam, element_from_json
from tao_automl.space.numeric import FloatParam, IntParam
from tao_automl.space.relations import Relation
from tao_automl.space.search_space import CategoricalParam, SearchSpace


def _allowed(call: Callable[[], Any]) -> Any:
    with pytest.raises(UserInputError) as info:
        call()
    data = info.value.to_json()
    assert data["allowed"] is not None, data
    return data["allowed"]


SPACE_CASES: dict[str, tuple[Callable[[], Any], Any]] = {
    "float low > high": (lambda: FloatParam("lr", 1.0, 0.1), "bounds with low <= high"),
    "float nan bound": (lambda: FloatParam("lr", float("nan"), 1.0), "a finite number (not nan or inf)"),
    "float log from 0": (lambda: FloatParam("lr", 0.0, 1.0, log=True), "low > 0 on a log scale"),
    "float log and logit": (lambda: FloatParam("p", 0.1, 0.5, log=True, logit=True),
                            "one of log=True or logit=True, not both"),
    "int float bound": (lambda: IntParam("n", 1.5, 4), "integer low and high"),  # type: ignore[arg-type]
    "grid without rule": (lambda: IntGridParam("bs", 1, 64),
                          "power_of (an integer >= 2) and/or multiple_of (an integer >= 1)"),
    "grid power 1": (lambda: IntGridParam("bs", 1, 64, power_of=1), "an integer >= 2"),
    "grid holds nothing": (lambda: IntGridParam("bs", 65, 100, power_of=2),
                           "a range holding at least one value that is a power of 2"),
    "list element type": (lambda: element_from_json({"type": "str", "name": "x"}), ["float", "int"]),
    "list value": (lambda: ListParam("w", (FloatParam("w0", 0.0, 1.0),)).encode([0.1, 0.2]),
                   "list of [0.0, 1.0] (float)"),
    "subset repeat": (lambda: SubsetParam("aug", ("flip", "flip")), "distinct options, each once"),
    "subset value": (lambda: SubsetParam("aug", ("flip", "crop")).encode(["blur"]),
                     "a list of distinct items of ['flip', 'crop']"),
    "categorical value": (lambda: CategoricalParam("act", ("relu", "gelu")).index("tanh"), ["relu", "gelu"]),
    "categorical weights": (lambda: CategoricalParam("act", ("relu", "gelu"), weights=(1.0,)),
                            "2 weights, one per option"),
    "relation op": (lambda: Relation("a", "=<", "b"), ["<", "<=", ">", ">="]),
    "relation on an unknown param": (
        lambda: SearchSpace((FloatParam("a", 0.0, 1.0),), relations=(Relation("a", "<", "b"),)), ["a"]),
    "param twice": (lambda: SearchSpace((FloatParam("a", 0.0, 1.0), FloatParam("a", 0.0, 2.0))),
                    "each param name once"),
    "unknown param type": (lambda: SearchSpace.from_json([{"type": "complex", "name": "z"}]), None),
}


@pytest.mark.parametrize("case", sorted(SPACE_CASES))
def test_a_bad_search_space_says_what_is_allowed(case: str) -> None:
    call, expected = SPACE_CASES[case]
    allowed = _allowed(call)
    if expected is not None:
        assert allowed == expected

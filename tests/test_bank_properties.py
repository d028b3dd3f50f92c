"""Property tests on the real TAO bank: every rec of every brain honours the raw schema.

For each model with a train schema, 500 random recs and 50 Bayesian recs must satisfy the search
space (``space.violations`` empty) AND, checked here without ``space.py``, the raw schema property
of each searched name: type, ``minimum``/``maximum``/``valid_min``/``valid_max`` (scalars or
lists, ``"inf"``), ``enum``/``valid_options`` and ``math_cond`` (numeric comparisons, ``^ k``,
``/ k``, ``<op> depends_on``).
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tao_automl.brain.classic.bayesian import BayesianBrain
from tao_automl.schema.build import build_search_space


def _bank_models_dir() -> Path | None:
    roots = [Path(os.environ["TAO_TEST_BANK"])] if os.environ.get("TAO_TEST_BANK") else []
    roots.append(Path(__file__).resolve().parents[2] / "shared" / "tao-bank")
    for root in roots:
        for models in (root / "skills" / "models", root / "models", root):
            if any(models.glob("*/schemas/train.schema.json")):
                return models
    return None


BANK = _bank_models_dir()
PATHS = sorted(BANK.glob("*/schemas/train.schema.json")) if BANK else []
pytestmark = pytest.mark.skipif(
    BANK is None, reason="TAO skill bank not found: set TAO_TEST_BANK or place it at <repo>/../shared/tao-bank"
)
IDS = [p.parent.parent.name for p in PATHS]


# -- an independent reading of the raw schema ---------------------------------------------------
def _prop(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    node: Any = schema
    for part in dotted.split("."):
        node = node["properties"][part]
    assert isinstance(node, dict)
    return node


_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
        "!=": operator.ne}


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bound(prop: dict[str, Any], keys: tuple[str, ...], i: int | None) -> list[float]:
    out = []
    for key in keys:
        value = prop.get(key)
        if isinstance(value, list):
            value = value[i if i is not None else 0]
        if value is not None:
            out.append(float(value))  # float("inf") reads the "inf" strings
    return out


def _check_number(name: str, value: Any, prop: dict[str, Any], config: dict[str, Any], schema: dict[str, Any],
                  i: int | None = None) -> list[str]:
    errors = []
    if not _num(value):
        return [f"{name}: {value!r} is not a finite number"]
    for low in _bound(prop, ("minimum", "valid_min"), i):
        if value < low:
            errors.append(f"{name}: {value} < min {low}")
    for high in _bound(prop, ("maximum", "valid_max"), i):
        if value > high:
            errors.append(f"{name}: {value} > max {high}")
    cond = prop.get("math_cond")
    if isinstance(cond, str):
        ops = {k: (lambda ref, f=f: bool(f(value, ref))) for k, f in _OPS.items()}
        for op, operand in re.findall(r"(>=|<=|!=|==|>|<)\s*([^\s<>=!]+)", cond):
            if operand == "depends_on":
                other = prop["depends_on"]
                ref = config[other] if other in config else _prop(schema, other).get("default")
                ok = ops[op](ref)
            else:
                ok = ops[op](float(operand))
            if not ok:
                errors.append(f"{name}: {value} violates math_cond {cond!r}")
        power = re.search(r"\^\s*(\d+)", cond)
        if power and i is None:
            k, v = int(power.group(1)), int(value)
            while v > 1 and v % k == 0:
                v //= k
            if v != 1:
                errors.append(f"{name}: {value} is not a power of {k}")
        multiple = re.search(r"/\s*(\d+)", cond)
        if multiple and i is None and int(value) % int(multiple.group(1)):
            errors.append(f"{name}: {value} is not a multiple of {multiple.group(1)}")
    return errors


def raw_errors(schema: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Why ``config`` breaks the raw schema properties of its names (empty when it does not)."""
    errors: list[str] = []
    for name, value in config.items():
        prop = _prop(schema, name)
        kind = str(prop.get("type"))
        options = prop.get("enum") or prop.get("valid_options")
        if kind in ("bool", "boolean"):
            ok = isinstance(value, bool) or (options is not None and value in options)
            errors += [] if ok else [f"{name}: {value!r} is not a bool"]
        elif kind in ("categorical", "string", "ordered", "ordered_int"):
            errors += [] if value in options else [f"{name}: {value!r} not in {options}"]
        elif kind in ("subset_list", "optional_list") and options:
            unique = isinstance(value, list) and len(set(map(repr, value))) == len(value)
            ok = unique and all(v in options for v in value)
            errors += [] if ok and (value or kind == "optional_list") else [f"{name}: {value!r} not a subset"]
        elif isinstance(value, list):
            default = prop.get("default")
            if kind == "optional_list" and not value:
                continue
            if isinstance(default, list) and default and len(value) != len(default):
                errors.append(f"{name}: length {len(value)} != {len(default)}")
            for i, v in enumerate(value):
                if isinstance(default, list) and default and isinstance(default[i], int) and not isinstance(v, int):
                    errors.append(f"{name}[{i}]: {v!r} is not an int")
                errors += _check_number(f"{name}[{i}]", v, prop, config, schema, i)
        else:
            if kind in ("int", "integer") and (isinstance(value, bool) or not isinstance(value, int)):
                errors.append(f"{name}: {value!r} is not an int")
            errors += _check_number(name, value, prop, config, schema)
    return errors


def _space(path: Path) -> tuple[dict[str, Any], Any]:
    schema = json.loads(path.read_text())
    return schema, build_search_space(schema)


# -- the properties ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_random_recs_satisfy_space_and_raw_schema(path: Path) -> None:
    schema, space = _space(path)
    rng = np.random.default_rng(11)
    for _ in range(500):
        config = space.sample(rng)
        assert space.violations(config) == []
        assert raw_errors(schema, config) == []


def _objective(space: Any, config: dict[str, Any]) -> float:
    """A smooth synthetic loss on the encoding (so the GP has something to model)."""
    x = space.encode(config)
    return float(np.sum((x - 0.3) ** 2))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_bayesian_recs_satisfy_space_and_raw_schema(path: Path) -> None:
    schema, space = _space(path)
    brain = BayesianBrain(space, n_candidates=32, max_fit_points=30)
    rng = np.random.default_rng(5)
    recs = 0
    while recs < 50:
        batch = brain.suggest(10, [], rng)
        for config in batch:
            assert space.violations(config) == []
            assert raw_errors(schema, config) == []
            brain.observe(config, _objective(space, config))
        recs += len(batch)
    assert brain.incumbent is not None and brain._n_success() == 50


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(PATHS or [Path("none")]), seed=st.integers(0, 2**32 - 1))
def test_any_unit_point_decodes_to_a_valid_rec(model: Path, seed: int) -> None:
    schema, space = _space(model)
    x = np.random.default_rng(seed).random(space.dim)
    config = space.decode(x)
    assert space.violations(config) == []
    assert raw_errors(schema, config) == []


def test_raw_checker_catches_violations() -> None:
    schema = {"properties": {
        "b": {"type": "int", "minimum": 1, "maximum": 64, "math_cond": "^ 2"},
        "m": {"type": "int", "minimum": 0, "maximum": "inf", "math_cond": "/ 8"},
        "l": {"type": "list", "default": [0.9, 0.99], "minimum": [0, 0], "maximum": [1, 1]},
        "c": {"type": "string", "enum": ["a", "b"]},
        "lo": {"type": "int", "default": 1},
        "hi": {"type": "int", "depends_on": "lo", "math_cond": "> depends_on"},
    }}
    good = {"b": 16, "m": 24, "l": [0.5, 0.5], "c": "a", "lo": 3, "hi": 4}
    assert raw_errors(schema, good) == []
    for key, bad in (("b", 12), ("b", 128), ("m", 25), ("l", [0.5, 1.5]), ("l", [0.5]), ("c", "z"), ("hi", 3)):
        assert raw_errors(schema, {**good, key: bad}), (key, bad)

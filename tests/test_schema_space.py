"""Search space from a TAO train schema: the real bank, every type, bounds, custom ranges, errors."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from conftest import readme_says
from tao_automl.errors import SearchSpaceError, UserInputError
from tao_automl.schema.access import iter_leaf_names
from tao_automl.schema.baseline import baseline
from tao_automl.schema.bounds import build_float, build_int, schema_interval
from tao_automl.schema.build import (
    automl_candidates,
    build_search_space,
    derived_bounds,
    get_property,
    param_kind,
    schema_defaults,
)
from tao_automl.schema.custom import CustomRange
from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    FloatParam,
    IntGridParam,
    IntParam,
    ListParam,
    OptionalListParam,
    Relation,
    SearchSpace,
    SubsetParam,
)


# -- the real skill bank ------------------------------------------------------------------------
def _bank_models_dir() -> Path | None:
    roots = [Path(os.environ["TAO_TEST_BANK"])] if os.environ.get("TAO_TEST_BANK") else []
    here = Path(__file__).resolve().parents
    if len(here) > 2:
        roots.append(here[2] / "shared" / "tao-bank")
    for root in roots:
        for models in (root / "skills" / "models", root / "models", root):
            if any(models.glob("*/schemas/train.schema.json")):
                return models
    return None


BANK = _bank_models_dir()
SCHEMA_PATHS = sorted(BANK.glob("*/schemas/train.schema.json")) if BANK else []
needs_bank = pytest.mark.skipif(
    BANK is None,
    reason="TAO skill bank not found: set TAO_TEST_BANK or place it at <repo>/../shared/tao-bank",
)
_CACHE: dict[Path, dict[str, Any]] = {}


def _load(path: Path) -> dict[str, Any]:
    if path not in _CACHE:
        _CACHE[path] = json.loads(path.read_text())
    return _CACHE[path]


def _bank_schema(model: str) -> dict[str, Any]:
    assert BANK is not None
    return _load(BANK / model / "schemas" / "train.schema.json")


@needs_bank
def test_bank_has_the_expected_schemas() -> None:
    assert len(SCHEMA_PATHS) >= 25


@needs_bank
@pytest.mark.parametrize(
    "path", SCHEMA_PATHS or [Path("none")], ids=lambda p: p.parent.parent.name if p.name != "none" else "none"
)
def test_every_bank_schema_gives_a_finite_valid_space(path: Path) -> None:
    schema = _load(path)
    space = build_search_space(schema)
    assert len(space) > 0
    rng = np.random.default_rng(7)
    for p in space.params:
        prop = get_property(schema, p.name)
        assert prop is not None
        if isinstance(p, (FloatParam, IntParam)):
            assert math.isfinite(p.low) and math.isfinite(p.high) and p.low <= p.high
            iv = schema_interval(p.name, prop)
            assert iv.admits(p.low) and iv.admits(p.high), (p, str(iv))
            if p.log:
                assert p.low > 0
        assert p.default is None or p.contains(p.default)
    for _ in range(500):
        config = space.sample(rng)
        assert space.contains(config), space.violations(config)
    # Unit-cube round trip stays inside too.
    for x in rng.random((50, space.dim)):
        assert space.contains(space.decode(x))


@needs_bank
@pytest.mark.parametrize("model", ["tao-train-dino", "tao-train-image-classification", "tao-finetune-clip"])
def test_learning_rates_are_log_scale_with_positive_low(model: str) -> None:
    space = build_search_space(_bank_schema(model))
    lrs = [p for p in space.params if p.name.rsplit(".", 1)[-1] in ("lr", "text_lr", "vision_lr")]
    assert lrs
    for p in lrs:
        assert isinstance(p, FloatParam) and p.log and p.low > 0, p


@needs_bank
def test_bank_rate_like_ranges_are_sensible() -> None:
    dino = build_search_space(_bank_schema("tao-train-dino"))
    lr = dino["train.optim.lr"]
    assert (
        isinstance(lr, FloatParam) and lr.low == pytest.approx(2e-6) and lr.high == 1.0 and lr.default == 2e-4
    )
    momentum = dino["train.optim.momentum"]  # "> 0.0" on [0, 1], not rate-like: linear, 0 excluded
    assert isinstance(momentum, FloatParam) and not momentum.log and 0 < momentum.low < 1e-5
    layer_decay = dino["train.optim.layer_decay_rate"]  # default 0.65 is a factor, not a rate
    assert isinstance(layer_decay, FloatParam) and not layer_decay.log
    cls = build_search_space(_bank_schema("tao-train-image-classification"))
    cls_lr = cls["train.optim.lr"]  # [0, inf) with default 6e-5 -> [6e-7, 6e-3]
    assert (
        isinstance(cls_lr, FloatParam)
        and cls_lr.low == pytest.approx(6e-7)
        and cls_lr.high == pytest.approx(6e-3)
    )
    gdino = build_search_space(_bank_schema("tao-train-grounding-dino"))
    # [0, inf) in the schema: the tool chose [0, 1] linear, and a bayesian sweep proposed momentum exactly 1.0 (the
    # velocity never decays) in 3 of 12 recs, and 0.0 (SGD with nesterov refuses it); by its odds around 0.9 now
    assert gdino["train.optim.momentum"] == FloatParam("train.optim.momentum", 0.4736842105, 0.989010989, default=0.9,
                                                       logit=True)
    assert gdino["train.optim.lr_step_size"] == IntParam("train.optim.lr_step_size", 0, 40, default=10)


@needs_bank
def test_an_unbounded_size_is_searched_from_a_quarter_of_its_default_not_from_zero() -> None:
    """classification's dataset.img_size (int, default 224, no bounds) was searched over [0, 896]: sizes 0..55."""
    space = build_search_space(_bank_schema("tao-train-image-classification"), ["dataset.img_size"])
    assert space["dataset.img_size"] == IntParam("dataset.img_size", 56, 896, default=224)
    one = build_int("n", {"type": "int", "default": 1}, None)
    assert (one.low, one.high) == (1, 11)  # a count of 1: never 0
    zero = build_int("n", {"type": "int", "default": 0}, None)
    assert (zero.low, zero.high) == (0, 10)  # a default of 0 keeps 0


@needs_bank
def test_bank_betas_are_a_searched_list_below_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tao_automl.schema.build"):
        space = build_search_space(_bank_schema("tao-train-image-classification"))
    betas = space["train.optim.betas"]
    assert isinstance(betas, ListParam) and betas.width == 2 and betas.default == (0.9, 0.999)
    assert all(isinstance(e, FloatParam) and e.logit for e in betas.elements)
    assert [(round(e.low, 3), round(e.high, 4)) for e in betas.elements] == [(0.474, 0.989), (0.99, 0.9999)]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith(  # only the data loader's workers left out: nothing on betas
        "skipping 1 of the schema's default hyperparameter(s): dataset.workers (a data-loader setting"), warned


def test_unbounded_betas_are_searched_by_their_odds_near_the_default_and_dropout_lists_in_unit_range() -> None:
    """Adam's betas (default [0.9, 0.999], no bounds) were searched uniformly in [0, 1) per element: half the
    beta2 draws fell below 0.5 (a sweep's ran 0.009 and 0.27), configs no one would train. A coefficient near 1 is
    searched on logit scale, its odds within 10x of the default's; a list defaulting below 0.5 (dropout) keeps
    [0, 1), and bounds or a custom range the user gives are kept as given."""
    import random

    schema = {"type": "object", "properties": {"train": {"type": "collection", "properties": {
        "betas": {"type": "list", "default": [0.9, 0.999]},
        "dropout_probs": {"type": "list", "default": [0.1, 0.3]},
        "bounded_betas": {"type": "list", "default": [0.9, 0.999], "minimum": 0.0, "maximum": 1.0}}}}}
    space = build_search_space(schema, ["train.betas", "train.dropout_probs", "train.bounded_betas"])
    rng = random.Random(0)
    draws = [space["train.betas"].sample(rng) for _ in range(200)]
    assert min(d[0] for d in draws) > 0.47 and max(d[0] for d in draws) < 0.99
    assert min(d[1] for d in draws) > 0.99 and max(d[1] for d in draws) < 0.99991
    assert sum(d[1] > 0.999 for d in draws) in range(70, 131)  # uniform in logit: the default's odds in the middle
    dropout = space["train.dropout_probs"].elements
    assert all(e.low == 0.0 and 0.999 < e.high < 1.0 and not e.logit for e in dropout)  # 1 itself excluded
    assert [(e.low, e.high, e.logit) for e in space["train.bounded_betas"].elements] == [(0.0, 1.0, False)] * 2
    # a custom range replaces the sides it gives; the others stay the odds range, on logit scale (a valid_max made the
    # low end 0, and scale logit alone was refused: "the range is [0.0, 0.999999]")
    custom = build_search_space(schema, ["train.betas"], {"train.betas": {"valid_min": [0.8, 0.9]}})
    assert [(e.low, e.high, e.logit) for e in custom["train.betas"].elements] == [(0.8, 0.989010989, True),
                                                                                  (0.9, 0.9998999099, True)]
    capped = build_search_space(schema, ["train.betas"], {"train.betas": {"valid_max": [0.95, 0.9999]}})
    assert [(e.low, e.high) for e in capped["train.betas"].elements] == [(0.4736842105, 0.95), (0.9900891972, 0.9999)]
    logit = build_search_space(schema, ["train.betas"], {"train.betas": {"scale": "logit"}})
    assert logit["train.betas"] == space["train.betas"]
    linear = build_search_space(schema, ["train.betas"], {"train.betas": {"scale": "linear"}})
    assert [(e.low, e.logit) for e in linear["train.betas"].elements] == [(0.4736842105, False), (0.9900891972, False)]
    with pytest.raises(SearchSpaceError, match=r"valid_max=1.5 is outside .*allowed: \[0\.0, 1\.0\)"):
        build_search_space(schema, ["train.betas"], {"train.betas": {"valid_max": [1.5, 0.9999]}})


@needs_bank
def test_evaluation_time_augmentation_and_inference_settings_are_left_out_of_the_default_search(
        caplog: pytest.LogCaptureFixture) -> None:
    """depth-anything-v2's default list searched 27 val/test/infer augmentation probabilities of its 45 params (the
    val ones change what the reported metric measures: the search could pick an easier validation set; a training
    job never reads the infer ones) and oneformer searched its eval-time resize (test_min_size 2989 with
    test_max_size 486). They are left out with a reason, like the data-loader settings; training augmentation stays,
    and a name given in automl_hyperparameters is searched."""
    with caplog.at_level(logging.WARNING, logger="tao_automl.schema.build"):
        depth = build_search_space(_bank_schema("tao-train-depth-anything-v2"))
    names = depth.names
    assert "dataset.train_dataset.augmentation.crop_min_valid_disp_ratio" in names
    assert not [n for n in names if n.startswith(("dataset.val_dataset.augmentation", "dataset.test_dataset.augm",
                                                  "dataset.infer_dataset"))], names
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "an evaluation-time augmentation: it changes what the reported metric measures" in warned
    assert "an inference-time setting: a training job does not read it" in warned
    oneformer = build_search_space(_bank_schema("tao-train-oneformer"))
    assert "dataset.augmentation.test_min_size" not in oneformer.names
    asked = build_search_space(_bank_schema("tao-train-oneformer"), ["dataset.augmentation.test_min_size"])
    assert asked.names == ["dataset.augmentation.test_min_size"]


@needs_bank
def test_bank_explicit_string_list_param_is_an_error() -> None:
    schema = _bank_schema("tao-train-image-classification")
    name = next(n for n in iter_leaf_names(schema) if (get_property(schema, n) or {}).get("default") == ["tao-toolkit"])
    with pytest.raises(SearchSpaceError, match=r"has type 'list' whose elements are not searchable.*supported types"):
        build_search_space(schema, [name])


@needs_bank
def test_every_supported_bank_leaf_builds_when_named() -> None:
    rng = np.random.default_rng(3)
    count = 0
    for path in SCHEMA_PATHS:
        schema = _load(path)
        for name in iter_leaf_names(schema):
            prop = get_property(schema, name)
            if prop is None or param_kind(prop) is None:
                continue
            space = build_search_space(schema, [name], override_disabled=True)
            count += 1
            for _ in range(5):
                assert space.contains(space.sample(rng))
    assert count > 1000


@needs_bank
def test_bank_group_flags_do_not_disable_children() -> None:
    schema = _bank_schema("tao-train-dino")
    assert "train.optim" in schema["automl_disabled_parameters"]
    assert "train.optim.lr" in build_search_space(schema, ["train.optim.lr"])
    with pytest.raises(
        SearchSpaceError, match=r"'model\.hidden_dim' is AutoML-disabled.*override_automl_disabled"
    ):
        build_search_space(schema, ["model.hidden_dim"])  # listed itself in automl_disabled_parameters
    adiff = _bank_schema("tao-finetune-nv-tesseract-ad-diffusion")
    with pytest.raises(SearchSpaceError, match=r"'train\.epochs' is AutoML-disabled"):
        build_search_space(adiff, ["train.epochs"])  # leaf automl_enabled: false
    assert "train.epochs" in build_search_space(adiff, ["train.epochs"], override_disabled=True)


# -- a synthetic schema covering every type -----------------------------------------------------
def _schema() -> dict[str, Any]:
    return {
        "automl_default_parameters": ["train.lr", "train.batch", "model.act", "train.tags"],
        "automl_disabled_parameters": ["train.seed", "train"],
        "properties": {
            "train": {
                "type": "collection",
                "automl_enabled": False,
                "automl_disabled_parameters": ["train.gpus"],
                "properties": {
                    "lr": {
                        "type": "float",
                        "default": 1e-3,
                        "minimum": 0.0,
                        "maximum": "inf",
                        "description": "Learning rate.",
                    },
                    "momentum": {"type": "number", "default": 0.9, "minimum": 0.0, "maximum": 1.0},
                    "batch": {"type": "int", "default": 8, "minimum": 1, "maximum": float("inf")},
                    "epochs": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
                    "amp": {"type": "bool", "default": True},
                    "shuffle": {"type": "boolean", "default": False},
                    "seed": {"type": "int", "default": 1, "minimum": 0, "maximum": 100},
                    "gpus": {"type": "int", "default": 1, "minimum": 1, "maximum": 8},
                    "frozen": {
                        "type": "int",
                        "default": 1,
                        "minimum": 0,
                        "maximum": 8,
                        "automl_enabled": False,
                    },
                    "tags": {"type": "list", "default": []},
                    "sym": {"type": "float", "default": 0.5, "minimum": -2, "maximum": 2},
                    "isym": {"type": "int", "default": 0, "minimum": -2, "maximum": 2},
                },
            },
            "model": {
                "type": "collection",
                "properties": {
                    "act": {
                        "type": "categorical",
                        "default": "relu",
                        "enum": ["relu", "gelu", "silu"],
                        "option_weights": [1, 2, 1],
                    },
                    "norm": {"type": "string", "default": "bn", "valid_options": ["bn", "ln"]},
                    "name": {"type": "string", "default": "x"},
                    "size": {"type": "ordered", "default": "s", "enum": ["s", "m", "l"]},
                    "depth": {"type": "ordered_int", "default": 3, "enum": [2, 3, 4]},
                    "res": {"type": "ordered_int", "default": 256, "enum": [256, 512, 768]},
                    "pair": {"type": "float", "default": [1.0], "minimum": [0.0], "maximum": [2.0]},
                },
            },
            "automl_disabled_parameters": ["stray", "list"],
        },
    }


ALL = [
    "train.lr",
    "train.momentum",
    "train.batch",
    "train.epochs",
    "train.amp",
    "train.shuffle",
    "train.sym",
    "train.isym",
    "model.act",
    "model.norm",
    "model.size",
    "model.depth",
    "model.res",
]


def test_synthetic_schema_covers_each_type() -> None:
    space = build_search_space(_schema(), ALL)
    assert space.names == ALL
    lr = space["train.lr"]
    assert isinstance(lr, FloatParam) and lr.log and (lr.low, lr.high, lr.default) == (1e-5, 0.1, 1e-3)
    assert space["train.momentum"] == FloatParam("train.momentum", 0.0, 1.0, default=0.9)
    assert space["train.batch"] == IntParam("train.batch", 1, 32, default=8)
    assert space["train.epochs"] == IntParam("train.epochs", 1, 100, default=10)
    assert space["train.amp"] == BoolParam("train.amp", default=True)
    assert space["train.shuffle"] == BoolParam("train.shuffle", default=False)
    assert space["model.act"] == CategoricalParam(
        "model.act", ("relu", "gelu", "silu"), (1.0, 2.0, 1.0), "relu"
    )
    assert space["model.norm"] == CategoricalParam("model.norm", ("bn", "ln"), default="bn")
    assert space["model.size"] == CategoricalParam("model.size", ("s", "m", "l"), default="s")
    assert space["model.depth"] == IntParam("model.depth", 2, 4, default=3)
    assert space["model.res"] == CategoricalParam("model.res", (256, 512, 768), default=256)
    rng = np.random.default_rng(0)
    assert all(space.contains(space.sample(rng)) for _ in range(200))


def test_defaults_skip_unsupported_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        space = build_search_space(_schema())
    assert space.names == ["train.lr", "train.batch", "model.act"]
    messages = [r.getMessage() for r in caplog.records if r.name == "tao_automl.schema.build"]
    assert len(messages) == 1 and "train.tags (type 'list' whose elements are not searchable numbers)" in messages[0]


@pytest.mark.parametrize(
    "name, kind",
    [
        ("model.name", "'string' without enum/valid_options"),
        ("model", "'collection'"),
        ("train.tags", "'list' whose elements are not searchable numbers"),
    ],
)
def test_unsupported_named_param_is_an_error(name: str, kind: str) -> None:
    with pytest.raises(SearchSpaceError, match=f"{name!r} has type {kind}.*supported types: float"):
        build_search_space(_schema(), [name])


def test_symmetric_negative_bounds_work() -> None:
    space = build_search_space(_schema(), ["train.sym", "train.isym"])
    assert space["train.sym"] == FloatParam("train.sym", -2.0, 2.0, default=0.5)
    assert space["train.isym"] == IntParam("train.isym", -2, 2, default=0)
    rng = np.random.default_rng(1)
    values = [space.sample(rng) for _ in range(300)]
    assert all(-2 <= v["train.sym"] <= 2 and -2 <= v["train.isym"] <= 2 for v in values)
    assert {v["train.isym"] for v in values} == {-2, -1, 0, 1, 2}


def _one(prop: dict[str, Any], custom: dict[str, Any] | None = None, name: str = "p") -> Any:
    schema = {"properties": {name: prop}}
    return build_search_space(schema, [name], {name: custom} if custom else None)[name]


@pytest.mark.parametrize(
    "bounds",
    [
        {},
        {"minimum": "-inf", "maximum": "inf"},
        {"maximum": float("inf")},
        {"minimum": float("-inf"), "maximum": 3.0},
        {"minimum": -1e300, "maximum": 1e300},
    ],
)
@pytest.mark.parametrize("kind", ["float", "int"])
def test_infinite_bounds_become_finite(bounds: dict[str, Any], kind: str) -> None:
    p = _one({"type": kind, "default": 2, **bounds})
    assert math.isfinite(p.low) and math.isfinite(p.high) and p.low <= 2 <= p.high and p.default == 2


def test_open_ended_rules() -> None:
    near_one = _one({"type": "float", "default": 0.9, "minimum": 0}, name="momentum")  # by its odds, below 1
    assert (near_one.low, near_one.high, near_one.logit) == (0.4736842105, 0.989010989, True)
    assert _one({"type": "float", "default": 0.2, "minimum": 0}, name="dropout").high == 1.0  # a unit-like 0.2
    assert _one({"type": "float", "default": 2.0, "minimum": 1.0}, name="margin") == FloatParam(
        "margin", 1.0, 8.0, default=2.0
    )
    assert _one({"type": "int", "default": -1, "minimum": -1}) == IntParam("p", -1, 9, default=-1)
    assert _one({"type": "float", "default": -3.0, "maximum": 0.0}) == FloatParam(
        "p", -12.0, 0.0, default=-3.0
    )
    wd = _one({"type": "float", "default": 0.0, "minimum": 0.0}, name="weight_decay")  # no positive default
    assert wd == FloatParam("weight_decay", 1e-5, 0.1, log=True, default=None)


def test_math_cond_strictly_positive_excludes_zero() -> None:
    lin = _one({"type": "float", "default": 0.5, "minimum": 0.0, "maximum": 1.0, "math_cond": "> 0.0"})
    assert not lin.log and 0 < lin.low <= 1e-6 and lin.high == 1.0
    log = _one(
        {"type": "float", "default": 1e-4, "minimum": 0.0, "maximum": 1.0, "math_cond": "> 0"}, name="lr"
    )
    assert log.log and log.low == pytest.approx(1e-6)
    assert _one({"type": "int", "default": 3, "minimum": 0, "maximum": 9, "math_cond": ">0"}).low == 1
    assert _one(
        {"type": "int", "default": 3, "minimum": 0, "maximum": 9, "math_cond": ">= 2 < 5"}
    ) == IntParam("p", 2, 4, default=3)
    nz = _one({"type": "int", "default": -1, "minimum": -2, "maximum": "inf", "math_cond": "!= 0"})
    assert (nz.low, nz.high) == (-2, -1)
    strict_top = _one({"type": "float", "default": 0.5, "minimum": 0.0, "maximum": 1.0, "math_cond": "< 1"})
    assert strict_top.high < 1.0
    ignored = _one({"type": "int", "default": 5, "minimum": 1, "maximum": 9, "math_cond": "> depends_on"})
    assert (ignored.low, ignored.high) == (1, 9)
    with pytest.raises(SearchSpaceError, match="leave no value"):
        _one({"type": "float", "minimum": 0.0, "maximum": 0.0, "math_cond": "> 0.0"})


def test_default_outside_final_range_is_none() -> None:
    assert (
        _one({"type": "float", "default": 0.0, "minimum": 0.0, "maximum": 0.5, "math_cond": "> 0.0"}).default
        is None
    )
    assert _one({"type": "int", "default": 50, "minimum": 0, "maximum": 9}).default is None


def test_explicit_scale_wins() -> None:
    assert (
        _one({"type": "float", "default": 1e-3, "minimum": 0, "maximum": 1, "scale": "linear"}, name="lr").log
        is False
    )
    assert _one({"type": "float", "default": 5.0, "minimum": 1, "maximum": 100, "scale": "log"}).log is True
    assert _one({"type": "float", "default": 5.0, "minimum": 1, "maximum": 100}, {"scale": "log"}).log is True
    assert (
        _one({"type": "float", "default": 1e-3, "minimum": 0, "maximum": 1}, {"scale": "linear"}, "lr").log
        is False
    )
    log_int = _one({"type": "int", "default": 8, "minimum": 0, "maximum": 1024}, {"scale": "log"})
    assert log_int == IntParam("p", 1, 1024, log=True, default=8)
    with pytest.raises(SearchSpaceError, match=r"'p': scale='cubic' is not supported"):
        _one({"type": "float", "minimum": 0, "maximum": 1, "scale": "cubic"})


def test_logit_scale_from_schema_and_custom_range() -> None:
    prop = {"type": "float", "default": 0.5, "minimum": 0.0, "maximum": 1.0}
    p = _one(prop, {"scale": "logit", "valid_min": 0.001, "valid_max": 0.999})
    assert p == FloatParam("p", 0.001, 0.999, default=0.5, logit=True)
    assert "logit scale" in p.describe()
    assert _one({**prop, "minimum": 0.01, "maximum": 0.99, "scale": "logit"}).logit is True
    # the space's JSON keeps the scale; linear/log params serialise exactly as before
    space = SearchSpace((p, FloatParam("q", 0.0, 1.0)))
    assert SearchSpace.from_json(space.to_json()) == space
    assert "logit" not in space.to_json()[1]


@pytest.mark.parametrize(
    ("prop", "custom", "pattern"),
    [
        ({"type": "float", "minimum": 0.0, "maximum": 1.0}, {"scale": "logit"},
         r"param 'p': scale 'logit' needs a range strictly inside \(0, 1\).*\[0\.0, 1\.0\]"),
        ({"type": "float", "minimum": 0.0, "maximum": 1.0, "scale": "logit"}, {"valid_min": 0.1},
         r"param 'p': scale 'logit' needs a range strictly inside \(0, 1\).*\[0\.1, 1\.0\]"),
        ({"type": "float", "minimum": 0.0, "maximum": 2.0}, {"scale": "logit", "valid_min": 0.5},
         r"strictly inside \(0, 1\)"),
        ({"type": "int", "minimum": 0, "maximum": 9}, {"scale": "logit"},
         r"param 'p': scale 'logit' is for floats inside \(0, 1\), not ints"),
    ],
)
def test_logit_scale_bad_bounds_are_clear_errors(prop: dict[str, Any], custom: dict[str, Any], pattern: str) -> None:
    with pytest.raises(SearchSpaceError, match=pattern):
        _one(prop, custom)


@pytest.mark.parametrize(("low", "high"), [(0.0, 0.5), (0.5, 1.0), (-0.1, 0.5)])
def test_logit_float_param_refuses_bounds_at_0_or_1(low: float, high: float) -> None:
    with pytest.raises(SearchSpaceError, match=r"logit scale needs 0 < low <= high < 1"):
        FloatParam("p", low, high, logit=True)


def test_logit_samples_are_uniform_in_logit_space() -> None:
    """200 samples of a logit-scale param: their logits pass a Kolmogorov-Smirnov test for uniformity."""
    p = FloatParam("p", 1e-4, 1 - 1e-4, logit=True)
    rng = np.random.default_rng(0)
    xs = np.array([p.sample(rng) for _ in range(200)])
    assert np.all((xs >= p.low) & (xs <= p.high))
    z = np.log(xs / (1 - xs))
    lo, hi = math.log(1e-4 / (1 - 1e-4)), math.log((1 - 1e-4) / 1e-4)
    assert stats.kstest((z - lo) / (hi - lo), "uniform").pvalue > 0.01
    # a linear-scale param would put nearly no samples below 0.01; logit puts about a quarter there
    assert 0.15 < np.mean(xs < 0.01) < 0.35
    # the encoding the brains model on is the same uniform coordinate, and decode inverts it
    for x in xs[:20]:
        u = p.encode(x)[0]
        assert abs(u - (math.log(x / (1 - x)) - lo) / (hi - lo)) < 1e-9
        assert abs(p.decode([u]) - x) < 1e-12 * max(1.0, x)


_FINITE = st.floats(min_value=-1e99, max_value=1e99, allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=_FINITE,
    b=_FINITE,
    default=st.one_of(st.none(), _FINITE),
    low_inf=st.booleans(),
    high_inf=st.booleans(),
    cond=st.sampled_from([None, "> 0.0", ">= 0", "< 1", "!= 0"]),
    name=st.sampled_from(["lr", "weight_decay", "x", "drop_prob"]),
    kind=st.sampled_from(["float", "int"]),
    seed=st.integers(0, 2**16),
)
def test_no_schema_range_crashes_or_escapes(
    a: float,
    b: float,
    default: float | None,
    low_inf: bool,
    high_inf: bool,
    cond: str | None,
    name: str,
    kind: str,
    seed: int,
) -> None:
    lo, hi = min(a, b), max(a, b)
    prop: dict[str, Any] = {
        "type": kind,
        "minimum": "-inf" if low_inf else lo,
        "maximum": "inf" if high_inf else hi,
    }
    if default is not None:
        prop["default"] = default
    if cond:
        prop["math_cond"] = cond
    try:
        iv = schema_interval(name, prop)
        space = build_search_space({"properties": {name: prop}}, [name])
    except SearchSpaceError as exc:  # only an empty range may be refused
        assert "no " in str(exc) or "positive range" in str(exc), str(exc)
        return
    p = space[name]
    assert isinstance(p, (FloatParam, IntParam))
    assert math.isfinite(p.low) and math.isfinite(p.high)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        value = p.sample(rng)
        assert p.contains(value) and iv.admits(value), (value, str(iv), p)
        if cond == "!= 0" and kind == "int":
            assert value != 0


# -- custom_param_ranges ------------------------------------------------------------------------
def test_custom_ranges_narrow_and_add_params() -> None:
    space = build_search_space(
        _schema(),
        ["train.lr"],
        {
            "train.lr": {"valid_min": 1e-4, "valid_max": 1e-2},
            "train.epochs": {"valid_min": 5, "valid_max": 20},  # not named: added (explicit ask)
            "model.act": {"valid_options": ["gelu", "relu"], "option_weights": [3, 1]},
            "model.norm": {"disable_list": ["ln"]},
            "model.res": {"disable_list": [768]},
            "model.depth": {"valid_max": 3},
            "train.amp": {"option_weights": [1, 3]},
        },
    )
    assert space.names == [
        "train.lr",
        "train.epochs",
        "model.act",
        "model.norm",
        "model.res",
        "model.depth",
        "train.amp",
    ]
    assert space["train.lr"] == FloatParam("train.lr", 1e-4, 1e-2, log=True, default=1e-3)
    assert space["train.epochs"] == IntParam("train.epochs", 5, 20, default=10)
    assert space["model.act"] == CategoricalParam("model.act", ("gelu", "relu"), (3.0, 1.0), "relu")
    assert space["model.norm"] == CategoricalParam("model.norm", ("bn",), default="bn")
    assert space["model.res"] == CategoricalParam("model.res", (256, 512), default=256)
    assert space["model.depth"] == IntParam("model.depth", 2, 3, default=3)
    assert space["train.amp"] == BoolParam("train.amp", default=True, weight_true=0.25)


@pytest.mark.parametrize("algorithm", ["random", "tpe", "bayesian"])
def test_an_option_of_weight_0_is_never_proposed(algorithm: str) -> None:
    """A schema or custom option_weights of 0 keeps that option out of every brain's proposals: as a choice, random
    search drew it once the weighted configs were used up, and tpe/bayesian (which model options without weights)
    proposed it like any other."""
    from tao_automl.brain.registry import make_brain

    schema = {"properties": {"m": {"type": "collection", "properties": {
        "act": {"type": "categorical", "default": "relu", "enum": ["relu", "tanh", "gelu"],
                "option_weights": [1, 0, 1]},
        "amp": {"type": "bool", "default": False},
        "n": {"type": "int", "default": 1, "minimum": 1, "maximum": 3}}}}}
    space = build_search_space(schema, ["m.act", "m.amp", "m.n"], {"m.amp": {"option_weights": [0, 1]}})
    assert space["m.act"] == CategoricalParam("m.act", ("relu", "gelu"), (1.0, 1.0), "relu")
    assert space["m.amp"] == CategoricalParam("m.amp", (False,), default=False)
    brain = make_brain(algorithm, space)
    rng = np.random.default_rng(0)
    proposed = []
    for _ in range(9):  # more than the 6 configs the weights allow
        (config,) = brain.suggest(1, [], rng)
        proposed.append(config)
        brain.observe(config, float(config["m.n"]))
    assert {c["m.act"] for c in proposed} <= {"relu", "gelu"} and {c["m.amp"] for c in proposed} == {False}


def test_schema_option_weights_all_0_are_an_error_naming_the_param() -> None:
    schema = {"properties": {"act": {"type": "categorical", "enum": ["a", "b"], "option_weights": [0, 0]}}}
    with pytest.raises(SearchSpaceError, match=r"schema option_weights of 'act' are all 0") as caught:
        build_search_space(schema, ["act"])
    assert caught.value.field == "schema property act"


def test_a_bool_limited_by_its_schema_options_searches_only_those() -> None:
    """``valid_options: [true]`` (or ``enum: [false]``) on a bool was ignored: False (True) was proposed too."""
    def flag(**extra: Any) -> Any:
        return build_search_space({"properties": {"flag": {"type": "bool", "default": True, **extra}}}, ["flag"])
    rng = np.random.default_rng(0)
    assert {flag(valid_options=[True]).sample(rng)["flag"] for _ in range(20)} == {True}
    assert {flag(enum=["false"]).sample(rng)["flag"] for _ in range(20)} == {False}
    assert flag(valid_options=[False, True], option_weights=[1, 3])["flag"] == BoolParam("flag", default=True,
                                                                                       weight_true=0.75)
    with pytest.raises(SearchSpaceError, match=r"hold 1, which is not a bool; allowed: true, false") as caught:
        flag(valid_options=[True, 1])
    assert (caught.value.field, caught.value.value) == ("schema property flag", 1)
    with pytest.raises(SearchSpaceError, match=r"is not an option of 'flag'"):
        build_search_space({"properties": {"flag": {"type": "bool", "valid_options": [True]}}}, ["flag"],
                           {"flag": {"valid_options": [False]}})


@pytest.mark.parametrize("default", [224, "224", " 224 ", "2.24e2"])
def test_a_default_written_as_text_derives_the_range_as_the_number_does(default: Any) -> None:
    """Bounds written as text ("32") were read as numbers, a default ("224") was ignored: an int with an open top
    was searched in [32, 128] (derived from its minimum), leaving its default 224 out, instead of [32, 896]."""
    schema = {"properties": {"img": {"type": "int", "default": default, "minimum": "32"},
                             "lr": {"type": "float", "default": "2.24e-3" if isinstance(default, str) else 0.00224,
                                    "minimum": 0, "description": "learning rate"}}}
    space = build_search_space(schema, ["img", "lr"])
    assert space["img"] == IntParam("img", 32, 896, default=224)
    assert space["lr"] == build_search_space({"properties": {"lr": {**schema["properties"]["lr"], "default": 0.00224}}},
                                             ["lr"])["lr"]


def test_custom_min_only_reaches_past_the_finitised_range() -> None:
    p = build_search_space(_schema(), ["train.batch"], {"train.batch": {"valid_min": 64}})["train.batch"]
    assert p == IntParam("train.batch", 64, 256, default=None)


@pytest.mark.parametrize(
    "name, custom, pattern",
    [
        (
            "train.lrr",
            {"valid_min": 0.1},
            r"'train\.lrr'.*not in the train schema \(did you mean 'train\.lr'\?\)",
        ),
        ("train.lr", {"valid_min": "0.1"}, r"\['train\.lr'\]\.valid_min='0\.1' has the wrong type.*a number"),
        (
            "train.batch",
            {"valid_max": 2.5},
            r"\['train\.batch'\]\.valid_max=2\.5 has the wrong type.*an integer",
        ),
        ("train.batch", {"valid_min": True}, r"\['train\.batch'\]\.valid_min=True has the wrong type"),
        ("train.lr", {"valid_min": [0.1]}, r"valid_min=\[0\.1\] has the wrong type.*list bounds"),
        (
            "train.momentum",
            {"valid_min": 0.5, "valid_max": 0.1},
            r"'train\.momentum'.*valid_min=0\.5 > valid_max=0\.1",
        ),
        (
            "train.momentum",
            {"valid_max": 2.0},
            r"\['train\.momentum'\]\.valid_max=2\.0 is outside.*allowed: \[0\.0, 1\.0\]",
        ),
        (
            "train.lr",
            {"valid_min": -1.0},
            r"\['train\.lr'\]\.valid_min=-1\.0 is outside.*allowed: \[0\.0, inf\)",
        ),
        (
            "model.act",
            {"valid_options": ["relu", "tanh"]},
            r"'tanh' is not an option of 'model\.act'.*'gelu'",
        ),
        (
            "model.act",
            {"option_weights": [1, 2]},
            r"option_weights of 'model\.act' has 2 entries but there are 3",
        ),
        ("model.act", {"disable_list": ["relu", "gelu", "silu"]}, r"\['model\.act'\] disables every option"),
        ("model.act", {"disable_list": ["tanh"]}, r"disable_list: 'tanh' is not an option of 'model\.act'"),
        ("model.act", {"valid_min": 1}, r"valid_min=1 does not apply to categorical param 'model\.act'"),
        (
            "train.lr",
            {"valid_options": [0.1]},
            r"valid_options=\(0\.1,\) does not apply to float param 'train\.lr'",
        ),
        ("train.lr", {"valid_options": []}, r"valid_options=\(\) does not apply to float param 'train\.lr'"),
        ("train.lr", {"option_weights": []}, r"option_weights=\(\) does not apply to float param 'train\.lr'"),
        ("train.batch", {"valid_options": []}, r"valid_options=\(\) does not apply to int param 'train\.batch'"),
        (
            "train.lr",
            {"valid_mn": 0.1},
            r"\['train\.lr'\] has unknown key 'valid_mn' \(did you mean 'valid_min'\?\)",
        ),
        (
            "train.lr",
            {"scale": "logistic"},
            r"\['train\.lr'\]\.scale='logistic' is not supported; allowed: \['log', 'linear', 'logit'\]",
        ),
        ("train.lr", 0.1, r"custom_param_ranges\['train\.lr'\] must be a mapping"),
        ("train.tags", {"valid_min": 1}, r"'train\.tags' has type 'list'"),
        (
            "train.seed",
            {"valid_max": 5},
            r"'train\.seed' is AutoML-disabled.*override_automl_disabled_params: true",
        ),
        (
            "model.act",
            {"option_weights": [1, -1, 1]},
            r"option_weights=\[1, -1, 1\] must be a list of finite",
        ),
    ],
)
def test_bad_custom_range_is_a_clear_error(name: str, custom: Any, pattern: str) -> None:
    with pytest.raises(SearchSpaceError, match=pattern) as info:
        build_search_space(_schema(), ["train.lr"], {name: custom})
    assert "\n" not in str(info.value)


def test_strict_schema_bound_rejects_custom_equal_to_it() -> None:
    schema = {"properties": {"lr": {"type": "float", "minimum": 0, "maximum": 1, "math_cond": "> 0.0"}}}
    with pytest.raises(SearchSpaceError, match=r"\['lr'\]\.valid_min=0\.0 is outside.*allowed: \(0\.0, 1\.0\]"):
        build_search_space(schema, ["lr"], {"lr": {"valid_min": 0}})


def test_schema_option_weights_of_wrong_length_are_an_error() -> None:
    prop = {"type": "categorical", "enum": ["a", "b"], "option_weights": [1.0]}
    with pytest.raises(SearchSpaceError, match=r"schema option_weights of 'p' has 1 entries but there are 2"):
        _one(prop)


# -- names, disabled params, errors -------------------------------------------------------------
def test_unknown_hyperparameter_suggests_the_nearest() -> None:
    with pytest.raises(
        SearchSpaceError,
        match=r"'train\.momentun' is not in the train schema \(did you mean "
        r"'train\.momentum'\?\)",
    ):
        build_search_space(_schema(), ["train.lr", "train.momentun"])
    with pytest.raises(
        SearchSpaceError, match=r"'zzz' is not in the train schema; the schema's AutoML defaults"
    ):
        build_search_space(_schema(), ["zzz"])


@pytest.mark.parametrize("name", ["train.seed", "train.gpus", "train.frozen"])
def test_disabled_param_needs_the_override(name: str) -> None:
    with pytest.raises(SearchSpaceError, match="override_automl_disabled_params: true") as info:
        build_search_space(_schema(), [name])
    assert isinstance(info.value, UserInputError) and name in str(info.value)
    assert name in build_search_space(_schema(), [name], override_disabled=True)


def test_disabled_defaults_are_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    schema = _schema()
    schema["automl_default_parameters"] = ["train.lr", "train.seed", "train.missing"]
    with caplog.at_level(logging.WARNING):
        assert build_search_space(schema).names == ["train.lr"]
    (message,) = [r.getMessage() for r in caplog.records if r.name == "tao_automl.schema.build"]
    assert "train.seed (AutoML-disabled)" in message and "train.missing (not in the schema)" in message
    assert build_search_space(schema, override_disabled=True).names == ["train.lr", "train.seed"]


def test_bad_inputs_are_search_space_errors() -> None:
    with pytest.raises(SearchSpaceError, match="list of dotted names"):
        build_search_space(_schema(), "train.lr")
    with pytest.raises(SearchSpaceError, match="no hyperparameter to search"):
        build_search_space(_schema(), [])
    with pytest.raises(SearchSpaceError, match="must be a JSON object"):
        build_search_space([], None)  # type: ignore[arg-type]
    with pytest.raises(SearchSpaceError, match="custom_param_ranges must be a mapping"):
        build_search_space(_schema(), None, ["train.lr"])  # type: ignore[arg-type]
    with pytest.raises(SearchSpaceError, match=r"'p': minimum='abc' must be a number"):
        _one({"type": "float", "minimum": "abc"})
    with pytest.raises(SearchSpaceError, match="automl_default_parameters"):
        automl_candidates({"automl_default_parameters": "train.lr"})


def test_a_name_given_twice_is_refused_naming_it() -> None:
    """Not silently collapsed: the second name was a typo for another param, or the list was built wrong."""
    with pytest.raises(SearchSpaceError, match=r"'train\.lr' is named twice; allowed: each name once"):
        build_search_space(_schema(), ["train.lr", "train.batch", "train.lr"])
    # a param both named and given a custom range is one ask, not a duplicate
    assert build_search_space(_schema(), ["train.lr"], {"train.lr": {"valid_max": 0.1}}).names == ["train.lr"]


@pytest.mark.parametrize(("name", "custom", "pattern"), [
    ("model.act", {"valid_options": ["relu", "relu"]}, r"\['model\.act'\]\.valid_options=\['relu', 'relu'\] lists "
                                                       r"'relu' twice; allowed: each option once"),
    ("model.depth", {"valid_options": [2, 3, 2]}, r"valid_options=\[2, 3, 2\] lists 2 twice"),
    ("model.act", {"disable_list": ["gelu", "gelu"]}, r"\['model\.act'\]\.disable_list=.* lists 'gelu' twice"),
])
def test_an_option_given_twice_is_refused_naming_it(name: str, custom: dict[str, Any], pattern: str) -> None:
    with pytest.raises(SearchSpaceError, match=pattern):
        build_search_space(_schema(), ["train.lr"], {name: custom})


def test_true_and_1_are_different_options() -> None:
    """``True == 1`` in Python; as options they differ, so they are not a duplicate."""
    schema = {"properties": {"p": {"type": "categorical", "enum": [1, True, "x"], "default": 1}}}
    assert build_search_space(schema, ["p"], {"p": {"valid_options": [1, True]}})["p"].choices == (1, True)


@pytest.mark.parametrize(("prop", "custom"), [
    ({"type": "float", "default": 0.9, "minimum": 0.0, "maximum": 0.99}, {"scale": "log", "valid_min": 0.0}),
    ({"type": "float", "default": 0.9, "minimum": -1.0, "maximum": 0.99}, {"scale": "log", "valid_min": -0.5}),
    ({"type": "float", "default": 0.9, "minimum": 0.0, "maximum": 0.99, "scale": "log"}, {"valid_min": 0}),
    ({"type": "int", "default": 8, "minimum": 0, "maximum": 1024}, {"scale": "log", "valid_min": 0}),
])
def test_an_explicit_low_end_a_log_scale_cannot_reach_is_refused(prop: dict[str, Any], custom: dict[str, Any]) -> None:
    """Not replaced by a floor the builder picks (momentum valid_min 0.0 became a search from 0.009, unsaid)."""
    with pytest.raises(SearchSpaceError) as info:
        build_search_space({"properties": {"p": prop}}, ["p"], {"p": custom})
    message = str(info.value)
    assert f"custom_param_ranges['p'].valid_min={custom['valid_min']!r}" in message
    assert message.endswith("allowed: > 0 for a log scale") and "\n" not in message


def test_the_schema_minimum_of_a_log_scale_still_gets_the_documented_floor() -> None:
    prop = {"type": "float", "default": 0.9, "minimum": 0.0, "maximum": 0.99}
    assert _one(prop, {"scale": "log"}) == FloatParam("p", 0.009, 0.99, log=True, default=0.9)
    assert _one(prop, {"scale": "log", "valid_min": 0.01}).low == 0.01
    assert _one({"type": "int", "default": 8, "minimum": 0, "maximum": 1024}, {"scale": "log"}).low == 1


# -- schema access ------------------------------------------------------------------------------
def test_get_property_walks_groups_and_ignores_non_dicts() -> None:
    schema = _schema()
    assert get_property(schema, "train.lr") is schema["properties"]["train"]["properties"]["lr"]
    assert get_property(schema, "train")["type"] == "collection"  # type: ignore[index]
    assert get_property(schema, "train.nope") is None
    assert get_property(schema, "train.lr.deeper") is None
    assert get_property(schema, "automl_disabled_parameters") is None


def test_schema_defaults_top_level_copy_or_assembled() -> None:
    top = {"default": {"train": {"lr": 0.1, "ids": [0]}}, "properties": {}}
    got = schema_defaults(top)
    got["train"]["ids"].append(1)
    assert top["default"]["train"]["ids"] == [0]
    assembled = schema_defaults(_schema())
    assert assembled["train"]["lr"] == 1e-3 and assembled["train"]["tags"] == []
    assert assembled["model"]["act"] == "relu" and "automl_disabled_parameters" not in assembled
    assert automl_candidates(_schema()) == ["train.lr", "train.batch", "model.act", "train.tags"]
    assert automl_candidates({}) == []


def test_a_schema_without_default_parameters_searches_every_automl_enabled_param() -> None:
    """SPEC 2.1: ``automl_hyperparameters=None`` searches every automl-enabled param of the schema; a schema with no
    ``automl_default_parameters`` (a user's own model) has only its leaves' flags to say which. A leaf with no flag,
    one flagged false, one in an ``automl_disabled_parameters`` list and a group's flag are not an ask."""
    schema: dict[str, Any] = {"automl_disabled_parameters": ["train.wd"], "properties": {"train": {
        "type": "collection", "automl_enabled": True, "properties": {
            "lr": {"type": "float", "default": 0.1, "minimum": 1e-4, "maximum": 1.0, "automl_enabled": True},
            "depth": {"type": "int", "default": 3, "minimum": 1, "maximum": 8, "automl_enabled": "TRUE"},
            "wd": {"type": "float", "default": 0.1, "minimum": 0.0, "maximum": 1.0, "automl_enabled": True},
            "seed": {"type": "int", "default": 1, "minimum": 0, "maximum": 9, "automl_enabled": False},
            "epochs": {"type": "int", "default": 5, "minimum": 1, "maximum": 50}}}}}
    assert automl_candidates(schema) == ["train.lr", "train.depth"]
    assert build_search_space(schema).names == ["train.lr", "train.depth"]
    # the schema's own list, even an empty one, is what it says to search
    assert automl_candidates({**schema, "automl_default_parameters": ["train.lr"]}) == ["train.lr"]
    assert automl_candidates({**schema, "automl_default_parameters": []}) == []


# -- lists, subsets, grids and relations ----------------------------------------------------------
def _rich_schema() -> dict[str, Any]:
    return {
        "properties": {
            "train": {
                "type": "collection",
                "properties": {
                    "batch": {"type": "int", "default": 16, "minimum": 1, "maximum": 256, "math_cond": "^ 2"},
                    "width": {"type": "int", "default": 64, "minimum": 1, "maximum": 100, "math_cond": "/ 8"},
                    "betas": {"type": "list", "default": [0.9, 0.999]},
                    "sizes": {"type": "list", "default": [2, 4], "minimum": [1, 2], "maximum": [8, 16]},
                    "pair": {"type": "float", "default": [1.0], "minimum": [0.0], "maximum": [2.0]},
                    "heads": {"type": "subset_list", "default": ["a"], "valid_options": ["a", "b", "c"]},
                    "extra": {"type": "optional_list", "default": [], "enum": ["x", "y"]},
                    "scales": {"type": "optional_list", "default": [0.5, 1.5], "minimum": 0.1, "maximum": 2.0},
                    "crop_min": {"type": "int", "default": 384, "minimum": 1, "maximum": 800,
                                 "parent_param": "TRUE"},
                    "crop_max": {"type": "int", "default": 600, "minimum": 1, "maximum": 800,
                                 "depends_on": "train.crop_min", "math_cond": "> depends_on"},
                    "queries": {"type": "int", "default": 300, "minimum": 1, "maximum": 900, "parent_param": "TRUE"},
                    "select": {"type": "int", "default": 100, "minimum": 1, "maximum": 900,
                               "depends_on": "train.queries"},
                },
            }
        }
    }


RICH = ["train." + n for n in ("batch", "width", "betas", "sizes", "pair", "heads", "extra", "scales",
                               "crop_min", "crop_max", "queries", "select")]


def test_rich_types_build_sample_and_round_trip() -> None:
    space = build_search_space(_rich_schema(), RICH)
    assert isinstance(space["train.batch"], IntGridParam) and space["train.batch"].values == (
        1, 2, 4, 8, 16, 32, 64, 128, 256)
    assert isinstance(space["train.width"], IntGridParam) and space["train.width"].values == tuple(range(8, 97, 8))
    sizes = space["train.sizes"]
    assert isinstance(sizes, ListParam) and [(e.low, e.high) for e in sizes.elements] == [(1, 8), (2, 16)]
    assert all(isinstance(e, IntParam) for e in sizes.elements)
    assert isinstance(space["train.pair"], ListParam)
    assert space["train.heads"] == SubsetParam("train.heads", ("a", "b", "c"), False, ("a",))
    assert space["train.extra"] == SubsetParam("train.extra", ("x", "y"), True, ())
    assert isinstance(space["train.scales"], OptionalListParam)
    assert [str(r) for r in space.relations] == ["train.crop_max > train.crop_min", "train.select <= train.queries"]
    assert SearchSpace.from_json(json.loads(json.dumps(space.to_json()))) == space
    rng = np.random.default_rng(0)
    for _ in range(300):
        config = space.sample(rng)
        assert space.violations(config) == []
        assert config["train.batch"] & (config["train.batch"] - 1) == 0 and config["train.width"] % 8 == 0
        assert config["train.heads"] and config["train.crop_max"] > config["train.crop_min"]
        x = space.encode(config)
        assert space.encode(space.decode(x)) == pytest.approx(x)
    for x in rng.random((300, space.dim)):
        assert space.violations(space.decode(x)) == []
    assert space.decode(np.zeros(space.dim))["train.heads"] == ["a"]  # a subset is never empty


@pytest.mark.parametrize("kind", ["list\n", "list_2\n", "list_\u0662"])
def test_a_list_type_with_a_trailing_newline_or_odd_digit_is_not_a_list(kind: str) -> None:
    """The list type is the whole string ``list`` or ``list_<N>``: ``$`` let ``"list\\n"`` through as a list, and
    ``\\d`` took any Unicode digit; such a type gets the usual unsupported-type error."""
    schema = {"properties": {"m": {"type": "collection", "properties": {
        "betas": {"type": kind, "default": [0.9, 0.999]}}}}}
    with pytest.raises(SearchSpaceError, match=r"has type .*supported types"):
        build_search_space(schema, ["m.betas"])


@pytest.mark.parametrize("kind", ["list", "optional_list"])
def test_a_numeric_list_whose_default_is_empty_takes_its_length_from_its_bounds(kind: str) -> None:
    """An empty default (``[]``, the natural one for an optional list) with list bounds: the bounds give the length
    and no element gets a default (it raised a bare IndexError while the space was built)."""
    schema = {"properties": {"m": {"type": "collection", "properties": {
        "extra": {"type": kind, "default": [], "minimum": [0.0, 1.0], "maximum": [1.0, 4.0]}}}}}
    space = build_search_space(schema, ["m.extra"])
    param = space["m.extra"]
    inner = param.inner if isinstance(param, OptionalListParam) else param
    assert isinstance(inner, ListParam) and inner.default is None
    assert [(e.low, e.high, e.default) for e in inner.elements] == [(0.0, 1.0, None), (1.0, 4.0, None)]
    rng = np.random.default_rng(0)
    assert all(space.violations(space.sample(rng)) == [] for _ in range(50))


def test_relations_are_violations_and_repaired() -> None:
    space = build_search_space(_rich_schema(), ["train.crop_min", "train.crop_max"])
    bad = {"train.crop_min": 700, "train.crop_max": 500}
    assert any("relation train.crop_max > train.crop_min fails" in v for v in space.violations(bad))
    assert space.repair(dict(bad)) == {"train.crop_min": 700, "train.crop_max": 701}
    edge = space.repair({"train.crop_min": 800, "train.crop_max": 800})
    assert space.contains(edge) and edge == {"train.crop_min": 799, "train.crop_max": 800}


def test_chained_relations_hold_after_a_parent_is_moved_for_its_dependent() -> None:
    """``x < y < z`` with a narrower ``z``: the repair moved ``y`` below ``z``'s top and left it under ``x``, so most
    decodes (and samples whose 32 redraws failed) broke ``y > x`` and the run stopped with "proposed an invalid
    config" on its first rec."""
    schema = {"properties": {"m": {"type": "collection", "properties": {
        "x": {"type": "int", "default": 2, "minimum": 1, "maximum": 10, "parent_param": "TRUE"},
        "y": {"type": "int", "default": 3, "minimum": 1, "maximum": 10, "parent_param": "TRUE", "depends_on": "m.x",
              "math_cond": "> depends_on"},
        "z": {"type": "int", "default": 4, "minimum": 1, "maximum": 5, "depends_on": "m.y",
              "math_cond": "> depends_on"}}}}}
    space = build_search_space(schema, ["m.x", "m.y", "m.z"])
    assert [str(r) for r in space.relations] == ["m.y > m.x", "m.z > m.y"]
    assert space.repair({"m.x": 8, "m.y": 10, "m.z": 3}) == {"m.x": 3, "m.y": 4, "m.z": 5}
    rng = np.random.default_rng(0)
    assert all(space.violations(space.decode(x)) == [] for x in rng.random((500, space.dim)))
    assert all(space.violations(space.sample(rng)) == [] for _ in range(500))


def test_relations_that_cannot_all_hold_at_once_are_refused_when_the_space_is_built() -> None:
    """Each of ``y > x`` and ``z > y`` can hold, but not both with x in [5, 10] and z in [1, 5]: the space was built
    and the run stopped on its first rec with "proposed an invalid config"."""
    x, y, z = IntParam("x", 5, 10), IntParam("y", 1, 10), IntParam("z", 1, 5)
    relations = (Relation("y", ">", "x"), Relation("z", ">", "y"))
    for rel in relations:
        assert SearchSpace((x, y, z), (rel,)).relations == (rel,)  # each alone is fine
    with pytest.raises(SearchSpaceError, match=r"relations y > x, z > y cannot all hold at once: .*x in \[5, 10\]"):
        SearchSpace((x, y, z), relations)
    assert SearchSpace((IntParam("x", 1, 10), y, z), relations).relations == relations  # x = 1, y = 2, z = 3 keeps both


def test_fixed_parent_tightens_the_dependent_range() -> None:
    space = build_search_space(_rich_schema(), ["train.crop_max", "train.select"])
    assert space["train.crop_max"] == IntParam("train.crop_max", 385, 800, default=600)
    assert space["train.select"] == IntParam("train.select", 1, 300, default=100)
    parent_only = build_search_space(_rich_schema(), ["train.crop_min"])
    assert parent_only["train.crop_min"] == IntParam("train.crop_min", 1, 599, default=384)
    assert not parent_only.relations


def test_a_fixed_parent_bounds_its_dependent_by_the_value_the_job_gets() -> None:
    """A parent set by spec_overrides (or a template) bounds the searched dependent by that value, not by the
    schema default (select 100 -> 900 would break select <= queries when queries is 100)."""
    schema = _rich_schema()
    base = baseline(schema, {"train": {"crop_min": 500}}, {"train.queries": 100})
    space = build_search_space(schema, ["train.select", "train.crop_max"], base=base)
    assert space["train.select"] == IntParam("train.select", 1, 100, default=100)
    assert space["train.crop_max"] == IntParam("train.crop_max", 501, 800, default=600)
    # a searched parent is bounded by its fixed dependent's base value too
    child = build_search_space(schema, ["train.queries"], base=baseline(schema, None, {"train.select": 700}))
    assert child["train.queries"] == IntParam("train.queries", 700, 900, default=None)


@pytest.mark.parametrize("template, overrides, where", [
    (None, {"train.crop_min": 799}, "spec_overrides.train.crop_min"),
    ({"train": {"crop_min": 799}}, None, "the spec template"),
])
def test_a_fixed_parent_that_leaves_no_range_names_both_keys_its_value_and_where_it_came_from(
        template: dict[str, Any] | None, overrides: dict[str, Any] | None, where: str) -> None:
    schema = _rich_schema()
    base = baseline(schema, template, overrides)
    with pytest.raises(SearchSpaceError) as info:
        build_search_space(schema, ["train.crop_max"], {"train.crop_max": {"valid_max": 700}}, base=base)
    message = str(info.value)
    assert "'train.crop_max'" in message and "train.crop_min is fixed at 799" in message
    assert f"(from {where})" in message and info.value.field == "train.crop_max"
    assert info.value.allowed == f"values > 799 (train.crop_min from {where})"


def test_the_base_value_is_the_default_and_the_reference_of_a_derived_bound() -> None:
    """A template value is the param's default; a bound the schema leaves open is derived from it, and
    derived_bounds names it (a relation's bound is not derived)."""
    schema = {"properties": {"train": {"type": "collection", "properties": {
        "batch": {"type": "int", "default": 4, "minimum": 1},
        "workers": {"type": "int", "default": 8, "minimum": 1, "maximum": 64},
        "queries": {"type": "int", "default": 300, "minimum": 1},
        "select": {"type": "int", "default": 100, "minimum": 1, "depends_on": "train.queries"},
    }}}}
    names = ["train.batch", "train.workers", "train.select"]
    plain = build_search_space(schema, names)
    assert plain["train.batch"] == IntParam("train.batch", 1, 16, default=4)
    base = baseline(schema, {"train": {"batch": 16, "workers": 10}})
    space = build_search_space(schema, names, base=base)
    assert space["train.batch"] == IntParam("train.batch", 1, 64, default=16)
    assert space["train.workers"] == IntParam("train.workers", 1, 64, default=10)
    assert derived_bounds(schema, space, base=base) == {"train.batch": ["high"]}  # select <= queries (300)
    assert derived_bounds(schema, space, {"train.batch": {"valid_max": 32}}, base) == {}
    assert derived_bounds(schema, build_search_space(schema, ["train.queries"])) == {"train.queries": ["high"]}


def test_a_derived_end_stays_inside_what_the_relation_with_a_searched_partner_allows() -> None:
    """``size_min < size_max`` with ``size_max`` searched up to 6: ``size_min``'s open high end (derived from its
    default: 12) stops at 6, instead of leaving half its range where no value can satisfy the relation (as the
    bank's train_random_crop_min did: up to 1536 while crop_max stops at 1333). Strict relations between ints stop
    one short; an end the schema or a custom range gives is kept."""
    schema = {"properties": {"train": {"type": "collection", "properties": {
        "size_min": {"type": "float", "default": 3.0, "minimum": 0.0, "depends_on": "train.size_max",
                     "math_cond": "< depends_on"},
        "size_max": {"type": "float", "default": 5.0, "minimum": 0.0, "maximum": 6.0},
        "crop_min": {"type": "int", "default": 384, "minimum": 32},
        "crop_max": {"type": "int", "default": 600, "minimum": 32, "maximum": 1333, "depends_on": "train.crop_min",
                     "math_cond": "> depends_on"},
        "lo": {"type": "float", "default": 2.0, "minimum": 1.0, "maximum": 10.0},
        "hi": {"type": "float", "default": 5.0, "maximum": 10.0, "depends_on": "train.lo",
               "math_cond": ">= depends_on"},
    }}}}
    space = build_search_space(schema, ["train.size_min", "train.size_max", "train.crop_min", "train.crop_max"])
    assert space["train.size_min"] == FloatParam("train.size_min", 0.0, 6.0, default=3.0)
    assert space["train.crop_min"] == IntParam("train.crop_min", 32, 1332, default=384)  # crop_max > crop_min
    assert derived_bounds(schema, space) == {}  # the relation set those ends
    given = build_search_space(schema, ["train.size_min", "train.size_max"], {"train.size_min": {"valid_max": 9.0}})
    assert given["train.size_min"].describe() == "[0.0, 9.0] (float)"  # as the user gave it
    # a derived low end of the larger side moves up to the smaller side's low end (hi's would be 0)
    pair = build_search_space(schema, ["train.lo", "train.hi"])
    assert pair["train.hi"] == FloatParam("train.hi", 1.0, 10.0, default=5.0)
    # lo not searched: a relation with a fixed partner tightens the range itself (hi >= lo's default 2), as before
    assert build_search_space(schema, ["train.hi"])["train.hi"].low == 2.0
    rng = np.random.default_rng(0)
    assert all(c["train.size_min"] < c["train.size_max"] for c in (space.sample(rng) for _ in range(200)))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: IntGridParam("b", 3, 3, power_of=2), r"no value in \[3, 3\] is a power of 2"),
        (lambda: IntGridParam("b", 1, 8), "needs power_of or multiple_of"),
        (lambda: IntGridParam("b", 1, 8, power_of=1), "power_of=1 must be an integer >= 2"),
        (lambda: ListParam("l", ()), "at least one element"),
        (lambda: ListParam("l", (FloatParam("l[0]", 0, 1),), (0.5, 0.5)), "default .* has 2 entries"),
        (lambda: SubsetParam("s", ()), "at least one option"),
        (lambda: SubsetParam("s", ("a", "a")), "'a' appears twice"),
        (lambda: Relation("a", "==", "b"), "op must be one of"),
        (lambda: SearchSpace((IntParam("a", 0, 1),), (Relation("a", "<", "b"),)), "'b' is not a param"),
        (lambda: SearchSpace((IntParam("a", 5, 9), IntParam("b", 0, 5)), (Relation("a", "<", "b"),)),
         "relation a < b cannot hold"),
    ],
)
def test_new_param_types_validate(build: Any, match: str) -> None:
    with pytest.raises(SearchSpaceError, match=match):
        build()


def test_a_grid_holds_at_most_max_grid_values_as_its_error_says() -> None:
    """The size check let a grid of MAX_GRID + 1 values through (it compared the range's width, one short of the
    count) while its error said "at most MAX_GRID": a grid of MAX_GRID values is taken, one more is refused."""
    from tao_automl.space.grid import MAX_GRID

    assert len(IntGridParam("b", 1, MAX_GRID, multiple_of=1).values) == MAX_GRID
    assert len(IntGridParam("b", 7, 7 * MAX_GRID, multiple_of=7).values) == MAX_GRID
    for low, high, step in ((0, MAX_GRID, 1), (-7, 7 * MAX_GRID - 7, 7)):  # each MAX_GRID + 1 values
        with pytest.raises(SearchSpaceError, match=f"more than {MAX_GRID} values") as caught:
            IntGridParam("b", low, high, multiple_of=step)
        assert caught.value.allowed == (f"a grid of at most {MAX_GRID} values (a narrower range or a larger "
                                        "multiple_of)")


def test_list_custom_ranges_and_grid_errors() -> None:
    space = build_search_space(_rich_schema(), ["train.sizes"],
                               {"train.sizes": {"valid_min": [2, 3], "valid_max": 6}})
    sizes = space["train.sizes"]
    assert isinstance(sizes, ListParam) and [(e.low, e.high) for e in sizes.elements] == [(2, 6), (3, 6)]
    with pytest.raises(SearchSpaceError, match=r"valid_min=\[1\] has 1 entries; 'train.sizes' has 2"):
        build_search_space(_rich_schema(), ["train.sizes"], {"train.sizes": {"valid_min": [1]}})
    with pytest.raises(SearchSpaceError, match=r"valid_max=99 is outside the schema range of 'train.sizes\[0\]'"):
        build_search_space(_rich_schema(), ["train.sizes"], {"train.sizes": {"valid_max": 99}})
    with pytest.raises(SearchSpaceError, match=r"no value in .* is a power of 2"):
        build_search_space(_rich_schema(), ["train.batch"], {"train.batch": {"valid_min": 3, "valid_max": 3}})
    assert SearchSpace((IntGridParam("g", 1, 8, 2),)).violations({"g": 3}) == [
        "param 'g': 3 is outside [1, 8] (int, a power of 2)"]


def test_bayesian_suggestions_stay_valid_with_new_types() -> None:
    from tao_automl.brain.classic.bayesian import BayesianBrain

    space = build_search_space(_rich_schema(), RICH)
    brain = BayesianBrain(space, n_candidates=64)
    rng = np.random.default_rng(1)
    for i in range(12):
        for config in brain.suggest(2, [], rng):
            assert space.violations(config) == []
            brain.observe(config, float(config["train.batch"]) + 0.01 * i)


def test_given_ranges_that_leave_a_relation_no_value_name_custom_param_ranges() -> None:
    """Both partners searched, their given ranges disjoint for the schema's relation: the field at fault is the
    range the user gave (before: automl_hyperparameters)."""
    from tao_automl.runner.plan import load_settings, search_space

    ranges = {"train.select": {"valid_min": 850, "valid_max": 900}, "train.queries": {"valid_min": 100,
                                                                                       "valid_max": 800}}
    with pytest.raises(SearchSpaceError, match="cannot hold") as info:
        search_space(_rich_schema(), load_settings({"metric": "loss"}), ["train.select", "train.queries"], ranges)
    assert info.value.field == "custom_param_ranges.train.select" and info.value.value == ranges["train.select"]


def test_random_draws_of_a_space_with_a_relation_are_uniform_over_what_it_allows() -> None:
    """`hi >= lo`: 55 % of random samples sat exactly on hi == lo (every broken draw was moved to the boundary);
    they are redrawn now, so samples spread over the allowed triangle."""
    import numpy as np

    space = SearchSpace((FloatParam("lo", 0.0, 1.0), FloatParam("hi", 0.0, 1.0)), (Relation("hi", ">=", "lo"),))
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(2000)]
    assert all(d["hi"] >= d["lo"] for d in draws)
    assert sum(d["hi"] == d["lo"] for d in draws) == 0
    gaps = np.array([d["hi"] - d["lo"] for d in draws])
    assert abs(float(np.mean(gaps)) - 1 / 3) < 0.03  # the uniform triangle's mean gap


def test_a_draw_breaking_a_relation_is_drawn_again_as_often_as_the_readme_says_then_moved(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """README: a random draw that breaks a relation "is drawn again (up to 32 times, then moved to the nearest
    allowed value)": a relation no draw can keep costs the first draw and that many more, the last one repaired; a
    draw that keeps it is returned as drawn."""
    times, = readme_says(r"a random draw .*? that breaks it is drawn again \(up to (\d+) times, then moved to the "
                         r"nearest allowed value\)")
    draws: list[float] = []
    real = FloatParam.sample

    def counted(self: FloatParam, rng: np.random.Generator) -> float:
        value = real(self, rng)
        if self.name == "hi":
            draws.append(value)
        return value

    monkeypatch.setattr(FloatParam, "sample", counted)
    never = SearchSpace((FloatParam("lo", 0.5, 1.0), FloatParam("hi", 0.0, 0.5)), (Relation("hi", ">=", "lo"),))
    config = never.sample(np.random.default_rng(0))
    assert len(draws) == 1 + int(times) and config["hi"] >= config["lo"]
    draws.clear()
    often = SearchSpace((FloatParam("lo", 0.0, 1.0), FloatParam("hi", 0.0, 1.0)), (Relation("hi", ">=", "lo"),))
    config = often.sample(np.random.default_rng(1))
    assert config["hi"] == draws[-1] and len(draws) <= 1 + int(times)


def test_a_misspelt_hyperparameter_is_matched_to_a_searchable_leaf_not_a_group() -> None:
    """`train.lr` got "did you mean 'train'?" (a group, which then failed as "type 'collection'" with a garbled
    allowed); the param with the same last key is named, and a group names the params inside it."""
    from tao_automl.bank import builtin_skill_dir
    from tao_automl.bank.skill import load_skill
    from tao_automl.schema.build import build_search_space

    schema = load_skill(builtin_skill_dir("demo-digits-mlp"), "train").schema
    with pytest.raises(SearchSpaceError, match=r"did you mean 'train\.optim\.lr'"):
        build_search_space(schema, ["train.lr"])
    with pytest.raises(SearchSpaceError, match=r"'train\.optim' is a group: name a param inside it, e.g. "
                                               r"train\.optim\.lr") as group:
        build_search_space(schema, ["train.optim"])
    assert group.value.field == "automl_hyperparameters" and group.value.value == "train.optim"


def test_a_schema_logit_range_at_0_or_1_names_the_range_as_its_value() -> None:
    """The run's error for a schema property declaring logit on [0, 0.5] had value 'train.p' (the param's name), where
    the custom_param_ranges form gives the range: the value is the range, allowed says what range is."""
    from tao_automl.runner.plan import search_space
    from tao_automl.settings import AutoMLSettings

    schema = {"automl_default_parameters": ["train.p"], "default": {"train": {"p": 0.1}},
              "properties": {"train": {"type": "collection", "properties": {
                  "p": {"type": "float", "minimum": 0.0, "maximum": 0.5, "scale": "logit", "default": 0.1}}}}}
    with pytest.raises(SearchSpaceError, match="strictly inside") as caught:
        search_space(schema, AutoMLSettings(), None, None)
    assert caught.value.field == "schema property train.p" and caught.value.value == [0.0, 0.5]
    assert "strictly inside (0, 1)" in str(caught.value.allowed)


def test_a_valid_min_above_the_top_the_tool_chose_says_so_and_names_valid_max() -> None:
    """pose-classification's lr is [0, inf) in its schema; valid_min 5 said "the range [5, inf) holds no searchable
    value": the top end (1) was the tool's pick, which the message did not say, nor how to move it."""
    prop = {"type": "float", "default": 0.01, "minimum": 0.0, "maximum": "inf", "description": "learning rate"}
    for scale in (None, "log", "linear"):
        with pytest.raises(SearchSpaceError) as caught:
            build_float("train.optim.lr", prop, CustomRange("train.optim.lr", valid_min=5.0, scale=scale))
        assert "above the top end tao-automl chose for it (1; the schema gives no maximum)" in str(caught.value)
        assert "custom_param_ranges.train.optim.lr.valid_max" in str(caught.value) and caught.value.value == 5.0
    given = build_float("train.optim.lr", prop, CustomRange("train.optim.lr", valid_min=5.0, valid_max=6.0))
    assert (given.low, given.high) == (5.0, 6.0)


# -- numbers limited to options (a schema this bank lacks could write them) -----------------------------
@pytest.mark.parametrize(
    ("prop", "choices"),
    [
        ({"type": "int", "default": 16, "minimum": 1, "maximum": 64, "valid_options": [8, 16, 32]}, (8, 16, 32)),
        ({"type": "integer", "default": 16, "enum": [8, 16, 32]}, (8, 16, 32)),
        ({"type": "float", "default": 0.01, "minimum": 0, "maximum": 1, "valid_options": [0.001, 0.01, 0.1]},
         (0.001, 0.01, 0.1)),
        ({"type": "int", "default": 16, "minimum": 1, "maximum": 64, "math_cond": "^ 2", "valid_options": [8, 16]},
         (8, 16)),
        ({"type": "float", "default": 1, "valid_options": [0.5, 1]}, (0.5, 1.0)),  # a float's 1 is written 1.0
    ],
)
def test_a_number_with_options_searches_only_its_options(prop: dict[str, Any], choices: tuple[Any, ...]) -> None:
    """An int with valid_options [8, 16, 32] and bounds [1, 64] was searched as every int of [1, 64] (27 was
    proposed); now only its options are, and each keeps the param's type."""
    p = _one(prop)
    assert isinstance(p, CategoricalParam) and p.choices == choices and p.default == prop["default"]
    rng = np.random.default_rng(0)
    seen = {p.sample(rng) for _ in range(200)}
    assert seen == set(choices)
    assert all(type(v) is type(choices[0]) for v in seen)


def test_an_int_with_consecutive_options_is_an_int_range() -> None:
    p = _one({"type": "int", "default": 2, "valid_options": [1, 2, 3, 4]})
    assert isinstance(p, IntParam) and (p.low, p.high, p.default) == (1, 4, 2)


@pytest.mark.parametrize(
    ("prop", "custom", "choices"),
    [
        ({"type": "int", "default": 16, "valid_options": [8, 16, 32, 64]}, {"valid_min": 10, "valid_max": 40},
         (16, 32)),
        ({"type": "float", "default": 0.01, "valid_options": [0.001, 0.01, 0.1]}, {"valid_min": 0.005}, (0.01, 0.1)),
        ({"type": "float", "default": 0.01, "valid_options": [0.001, 0.01, 0.1]}, {"valid_max": 0.01},
         (0.001, 0.01)),
    ],
)
def test_a_custom_range_filters_the_options_of_a_number(prop: dict[str, Any], custom: dict[str, Any],
                                                        choices: tuple[Any, ...]) -> None:
    """A float with valid_options refused a custom valid_min/valid_max (as a 'categorical' param) while an int with
    options took them as a filter: both keep the options inside the custom bounds now."""
    p = _one(prop, custom)
    assert isinstance(p, CategoricalParam) and p.choices == choices


@pytest.mark.parametrize(
    ("prop", "custom", "message"),
    [
        ({"type": "float", "valid_options": [0.001, 0.01]}, {"valid_min": 0.5},
         r"^custom_param_ranges\['p'\]: valid_min=0\.5 leaves none of its options \[0\.001, 0\.01\]; allowed: "
         r"bounds that keep at least one of \[0\.001, 0\.01\]$"),
        ({"type": "int", "valid_options": [8, 16]}, {"valid_min": 20, "valid_max": 30},
         r"^custom_param_ranges\['p'\]: valid_min=20, valid_max=30 leaves none of its options \[8, 16\]"),
        ({"type": "float", "valid_options": [0.001, 0.01]}, {"scale": "log"},
         r"scale='log' does not apply to float with options param 'p'"),
        ({"type": "int", "valid_options": [8, 16]}, {"scale": "log"},
         r"scale='log' does not apply to int with options param 'p'"),
    ],
)
def test_a_custom_range_that_leaves_a_number_no_option_is_refused(prop: dict[str, Any], custom: dict[str, Any],
                                                                  message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message):
        _one(prop, custom)


@pytest.mark.parametrize(
    ("prop", "message"),
    [
        ({"type": "int", "minimum": 1, "maximum": 64, "valid_options": [8, 128]},
         r"schema param 'p': valid_options entry 128 is not allowed by the schema; allowed: a value in \[1, 64\] "
         r"\(the schema's bounds\)$"),
        ({"type": "int", "math_cond": "^ 2", "enum": [8, 12]},
         r"schema param 'p': enum entry 12 is not allowed by the schema; allowed: a power of 2 \(the schema's "
         r"math_cond '\^ 2'\)$"),
        ({"type": "int", "math_cond": "!= 16", "valid_options": [8, 16, 32]},
         r"schema param 'p': valid_options entry 16 is not allowed by the schema; allowed: a value in \(-inf, inf\) "
         r"except 16 \(the schema's bounds and math_cond '!= 16'\)$"),
        ({"type": "float", "minimum": 0, "math_cond": "!= 0", "valid_options": [0.0, 0.1]},
         r"schema param 'p': valid_options entry 0\.0 is not allowed by the schema; allowed: a value in \[0\.0, inf\) "
         r"except 0 \(the schema's bounds and math_cond '!= 0'\)$"),
        ({"type": "int", "valid_options": [8, 16.5]}, r"valid_options entry 16.5 is not an integer.*allowed: int"),
        ({"type": "float", "valid_options": [0.1, "0.2"]}, r"valid_options entry '0.2' is not a number"),
        ({"type": "float", "valid_options": [0.1, True]}, r"valid_options entry True is not a number"),
    ],
)
def test_a_number_option_the_schema_forbids_is_refused(prop: dict[str, Any], message: str) -> None:
    """An option a ``!= x`` math_cond excludes was searched (the run plan refused the same value as an override);
    the schema build and the plan now share one check, with one wording."""
    with pytest.raises(SearchSpaceError, match=message) as caught:
        _one(prop)
    assert caught.value.field == "schema property p"
    if "not allowed by the schema" in str(caught.value):  # the run plan gives the same words for that value
        from tao_automl.runner.plan_checks import check_override_value

        with pytest.raises(UserInputError) as plan:
            check_override_value("p", prop, caught.value.value)
        assert plan.value.allowed == caught.value.allowed


@pytest.mark.parametrize(
    ("cond", "part"),
    [
        ("> train.b", "the part '> train.b'"),  # names a param outright, not through depends_on
        ("power of two", "the part 'power of two'"),
        ("> 0.5.5", "the part '.5'"),
        (["> 0"], "a list, not a string"),
    ],
)
def test_a_math_cond_that_cannot_be_read_is_refused(cond: Any, part: str) -> None:
    """Ignored before: a dependent ``"> train.b"`` was searched with no relation to train.b, and "power of two"
    searched every int, so recs broke the schema's condition."""
    prop = {"type": "int", "default": 4, "minimum": 1, "maximum": 64, "math_cond": cond}
    with pytest.raises(SearchSpaceError) as caught:
        _one(prop)
    message = str(caught.value)
    assert message.startswith(f"schema param 'p': math_cond={cond!r} has {part}, which tao-automl cannot read; "
                              "allowed: comparisons with a number")
    assert "\n" not in message and caught.value.field == "schema property p"


@pytest.mark.parametrize("cond", ["!= 0", ">0", "> 0.0 <= 1.0", "> depends_on", ">= 1e-5", "> 0 and < 1", "^ 2",
                                  "/ 8", ""])
def test_every_math_cond_form_the_schemas_use_still_reads(cond: str) -> None:
    p = _one({"type": "float", "default": 0.5, "minimum": 0.0, "maximum": 64.0, "math_cond": cond})
    assert p.contains(0.5)


def _dotted_key_schema() -> dict[str, Any]:
    lr = {"type": "float", "default": 0.01, "minimum": 0.0, "maximum": 1.0}
    return {"properties": {"train": {"type": "collection", "properties": {"optim.lr": lr, "w[0]": dict(lr),
                                                                          "ok": dict(lr)}}}}


@pytest.mark.parametrize(("name", "key"), [("train.optim.lr", "optim.lr"), ("train.w[0]", "w[0]")])
def test_a_schema_key_with_a_dot_or_index_is_refused_naming_it(name: str, key: str) -> None:
    """A property keyed ``optim.lr`` said "'train.optim.lr' is not in the train schema (did you mean
    'train.optim.lr'?)"; ``w[0]`` was found and its value written into a list ``w`` instead of the key."""
    schema = _dotted_key_schema()
    expected = (f"hyperparameter {name!r}: its schema key {key!r} (under train) holds '.', '[' or ']', so no dotted "
                "name can address it and its spec key could not be written; allowed: schema property keys without")
    with pytest.raises(SearchSpaceError) as caught:
        build_search_space(schema, [name])
    assert str(caught.value).startswith(expected)
    assert caught.value.value == name and caught.value.field == "automl_hyperparameters"
    with pytest.raises(SearchSpaceError, match=rf"custom_param_ranges names '{re.escape(name)}', whose schema key"):
        build_search_space(schema, ["train.ok"], {name: {"valid_min": 0.1}})
    space = build_search_space({**schema, "automl_default_parameters": [name, "train.ok"]})
    assert space.names == ["train.ok"] and f"{name} (its schema key {key!r}" in space.skipped[0]


def _related(depends_on: Any, **parent: Any) -> dict[str, Any]:
    return {"properties": {
        "lo": {"type": "int", "default": 4, "minimum": 1, "maximum": 10, **parent},
        "hi": {"type": "int", "default": 8, "minimum": 1, "maximum": 10, "depends_on": depends_on,
               "math_cond": "> depends_on"}}}


def test_a_depends_on_list_is_enforced_as_its_text_is() -> None:
    """depends_on: ["lo"] was not read at all: hi was searched over [1, 10] against a fixed lo of 4, and with lo
    searched too no relation was made; a list of names is now read as the comma-separated text is."""
    assert build_search_space(_related(["lo"]), ["hi"])["hi"] == build_search_space(_related("lo"), ["hi"])["hi"]
    assert (build_search_space(_related(["lo"]), ["hi"])["hi"].low, build_search_space(_related(["lo"]), ["hi"])[
        "hi"].high) == (5, 10)
    both = build_search_space(_related(["lo"]), ["hi", "lo"])
    assert [str(r) for r in both.relations] == ["hi > lo"]


@pytest.mark.parametrize("depends_on", [5, [1, "lo"], {"lo": 1}])
def test_a_depends_on_that_names_no_param_is_refused(depends_on: Any) -> None:
    with pytest.raises(SearchSpaceError, match=rf"^schema param 'hi': depends_on={re.escape(repr(depends_on))} is "
                                               "not a param name or a list of names, so its relation cannot be "
                                               "enforced; allowed: ") as caught:
        build_search_space(_related(depends_on), ["hi"])
    assert (caught.value.field, caught.value.value) == ("schema property hi", depends_on)


@pytest.mark.parametrize("given", ["6", "true", [6]])
def test_a_fixed_number_parent_given_as_text_is_refused(given: Any) -> None:
    """lo fixed at "6" (text, from the template) left hi's relation unenforced without a word: hi could be 2."""
    schema = _related("lo")
    with pytest.raises(SearchSpaceError, match=rf"^param 'hi': its schema's depends_on relates it to lo, which is "
                                               rf"fixed at {re.escape(repr(given))} \(from the spec template\), not a "
                                               r"number, so the relation cannot be kept; allowed: a number at lo") \
            as caught:
        build_search_space(schema, ["hi"], base=baseline(schema, {"lo": given}))
    assert (caught.value.field, caught.value.value) == ("lo", given)
    if given == "6":  # an int parent written 6e0: the hint names the integer, not the float 6.0e0
        with pytest.raises(SearchSpaceError, match=r"\(YAML reads 6e0 as text, not a number: write 6\)$"):
            build_search_space(schema, ["hi"], base=baseline(schema, {"lo": "6e0"}))


@pytest.mark.parametrize("given", [None, "true", True])
def test_a_relation_with_a_bool_parent_is_reported_not_enforced(given: Any) -> None:
    """A bool parent (true, or the text "true") cannot be compared with a number: hi's relation was neither kept
    nor reported; the run's notes now say it is not enforced."""
    from tao_automl.schema.relations import unenforced_relations

    schema = _related("lo")
    schema["properties"]["lo"] = {"type": "bool", "default": False}
    base = None if given is None else baseline(schema, {"lo": given})
    space = build_search_space(schema, ["hi"], base=base)
    assert (space["hi"].low, space["hi"].high) == (1, 10)
    assert unenforced_relations(schema, space.params) == [
        "param hi: its depends_on names lo, a 'bool' param, not a number: the relation compares numbers and is not "
        "enforced"]


def test_a_depends_on_cycle_is_refused_as_the_schemas_fault() -> None:
    """It read "automl_hyperparameters: depends_on relations form a cycle" with field automl_hyperparameters, for a
    run that named none: the fault is the schema's depends_on."""
    def prop(parent: str) -> dict[str, Any]:
        return {"type": "int", "default": 5, "minimum": 1, "maximum": 10, "depends_on": parent,
                "math_cond": "> depends_on"}
    schema = {"properties": {"a": prop("b"), "b": prop("c"), "c": prop("a")},
              "automl_default_parameters": ["a", "b", "c"]}
    with pytest.raises(SearchSpaceError) as caught:
        build_search_space(schema)
    message = str(caught.value)
    assert message.startswith("schema param 'a': the schema's depends_on relations form a cycle (a > b, b > c, c > a)")
    assert "allowed: depends_on links without a cycle" in message and "\n" not in message
    assert caught.value.field == "schema property a" and caught.value.allowed == "depends_on links without a cycle"


def test_a_number_with_options_keeps_its_depends_on_relation() -> None:
    """An int with valid_options is a choice of its options; its ``> depends_on`` relation still holds in every rec
    (searched parent: a relation the space repairs; fixed parent: the options below it are dropped)."""
    lo = {"type": "int", "default": 5, "minimum": 1, "maximum": 100, "parent_param": "TRUE"}
    hi = {"type": "int", "default": 16, "minimum": 1, "maximum": 64, "valid_options": [8, 16, 32],
          "depends_on": "lo", "math_cond": "> depends_on"}
    schema = {"properties": {"lo": lo, "hi": hi}}
    space = build_search_space(schema, ["lo", "hi"])
    assert [str(r) for r in space.relations] == ["hi > lo"]
    rng = np.random.default_rng(3)
    configs = [space.sample(rng) for _ in range(300)] + [space.decode(rng.random(space.dim)) for _ in range(100)]
    assert all(space.violations(c) == [] and c["hi"] > c["lo"] and c["hi"] in (8, 16, 32) for c in configs)
    fixed = build_search_space({"properties": {"lo": {**lo, "default": 20}, "hi": hi}}, ["hi"])["hi"]
    assert isinstance(fixed, CategoricalParam) and fixed.choices == (32,)
    with pytest.raises(SearchSpaceError, match=r"param 'hi': must be > lo .* fixed at 40 .* options \[8, 16, 32\]"):
        build_search_space({"properties": {"lo": {**lo, "default": 40}, "hi": hi}}, ["hi"])


@pytest.mark.parametrize(("flag", "searched"), [(False, ["b"]), ("false", ["b"]), ("FALSE", ["b"]), (" False", ["b"]),
                                                ("TRUE", ["a", "b"]), (True, ["a", "b"]), (None, ["a", "b"])])
def test_automl_enabled_given_as_text_is_read_as_a_flag(flag: Any, searched: list[str]) -> None:
    """``automl_enabled: "FALSE"`` (text, as TAO writes ``parent_param: "TRUE"``) was read as enabled: the param
    the schema disables was searched by default."""
    a = {"type": "int", "default": 1, "minimum": 0, "maximum": 5}
    schema = {"properties": {"a": {**a, "automl_enabled": flag}, "b": a}, "automl_default_parameters": ["a", "b"]}
    assert build_search_space(schema).names == searched


@pytest.mark.parametrize("flag", ["maybe", 0, 1, [False]])
def test_an_automl_enabled_that_is_not_a_flag_is_refused(flag: Any) -> None:
    a = {"type": "int", "default": 1, "minimum": 0, "maximum": 5}
    schema = {"properties": {"a": {**a, "automl_enabled": flag}, "b": a}, "automl_default_parameters": ["a", "b"]}
    with pytest.raises(SearchSpaceError) as caught:
        build_search_space(schema)
    assert str(caught.value) == (f"schema param 'a': automl_enabled={flag!r} is not a flag; allowed: true or false "
                                 "(or the text 'true'/'false')")
    assert caught.value.field == "schema property a"


@pytest.mark.parametrize(("prop", "twice"), [
    ({"type": "categorical", "default": "a", "valid_options": ["a", "b", "a"]}, "'a'"),
    ({"type": "string", "default": "a", "enum": ["a", "b", "b"]}, "'b'"),
    ({"type": "int", "default": 8, "valid_options": [8, 16, 8]}, "8"),
    ({"type": "subset_list", "default": ["a"], "valid_options": ["a", "b", "a"]}, "'a'"),
])
def test_a_schema_option_listed_twice_is_refused(prop: dict[str, Any], twice: str) -> None:
    """Accepted before: ["a", "b", "a"] drew "a" twice as often as "b" (a custom range listing one twice was
    already refused)."""
    with pytest.raises(SearchSpaceError, match=rf"^schema param 'p': its enum/valid_options .* list {twice} twice; "
                                               "allowed: each option once$"):
        _one(prop)


def test_options_that_only_look_alike_are_not_repeats() -> None:
    assert _one({"type": "categorical", "default": 1, "valid_options": [1, True, "1"]}).choices == (1, True, "1")


@pytest.mark.parametrize("maximum", [2**63 - 1, "9223372036854775807"])
def test_a_large_int_bound_is_kept_exact(maximum: Any) -> None:
    """A seed's maximum 2**63 - 1 went through float() and became 2**63: the range reached one past the schema's
    maximum (and past 64 bits), and decoding its top gave 9223372036854775808."""
    p = _one({"type": "int", "default": 5, "minimum": 0, "maximum": maximum})
    assert isinstance(p, IntParam) and p.high == 2**63 - 1
    assert p.decode([1.0]) == 2**63 - 1
    f = _one({"type": "float", "default": 0.5, "minimum": 0, "maximum": 1})
    assert isinstance(f.low, float) and isinstance(f.high, float)  # a float's bounds stay floats


@pytest.mark.parametrize(("default", "read"), [("true", True), ("False", False), (" TRUE ", True), (True, True),
                                               ("yes", None), (1, None)])
def test_a_bool_default_given_as_text_is_its_default(default: Any, read: bool | None) -> None:
    """``default: "true"`` was dropped (the searched flag had no default); the sampled values stay real bools."""
    p = _one({"type": "bool", "default": default})
    assert isinstance(p, BoolParam) and p.default is read
    rng = np.random.default_rng(0)
    assert {p.sample(rng) for _ in range(50)} == {True, False}


def test_a_depends_on_naming_a_sibling_is_read_as_that_sibling() -> None:
    """``depends_on: "lo"`` inside group ``g`` (a network whose generator writes the sibling's own key) was a key
    the schema lacks: the relation was not enforced and ``g.hi <= g.lo`` recs were proposed."""
    lo = {"type": "int", "default": 5, "minimum": 1, "maximum": 10}
    hi = {"type": "int", "default": 8, "minimum": 1, "maximum": 20, "depends_on": "lo", "math_cond": "> depends_on"}
    schema = {"properties": {"g": {"type": "collection", "properties": {"lo": lo, "hi": hi}}}}
    space = build_search_space(schema, ["g.lo", "g.hi"])
    assert [str(r) for r in space.relations] == ["g.hi > g.lo"]
    assert build_search_space(schema, ["g.hi"])["g.hi"].low == 6  # lo fixed at its default 5
    assert build_search_space(schema, ["g.lo"])["g.lo"].high == 7  # hi fixed at its default 8
    top = {"properties": {**schema["properties"], "lo": {**lo, "default": 1}}}  # a top-level "lo" is what it names
    assert build_search_space(top, ["g.hi"])["g.hi"].low == 2


@pytest.mark.parametrize(("prop", "message", "allowed"), [
    ({"type": "int", "default": 5, "minimum": 10, "maximum": 1},
     "schema param 'p': its bounds and math_cond leave no value ([10, 1]); allowed: a minimum/valid_min at or below",
     "a minimum at or below the maximum, and a math_cond inside them"),
    ({"type": "float", "default": 0.1, "valid_min": "abc"},
     "schema param 'p': valid_min='abc' must be a number or 'inf'/'-inf'", "a number or 'inf'/'-inf'"),
    ({"type": "float", "default": 0.1, "minimum": 0, "valid_max": "nan"},
     "schema param 'p': valid_max='nan' is NaN; allowed: a number or 'inf'/'-inf'", "a number or 'inf'/'-inf'"),
    ({"type": "int", "default": 1, "minimum": 1.2, "maximum": 1.8},
     "schema param 'p': no integer lies in its bounds [2, 1]; allowed: int bounds that hold an integer",
     "int bounds that hold an integer"),
    ({"type": "int", "default": 4, "minimum": 1, "maximum": 8, "math_cond": "^ 1"},
     "schema param 'p': math_cond='^ 1' needs ^ k with k >= 2 or / k with k >= 1; allowed: '^ k' (k >= 2)",
     "'^ k' with k >= 2, '/ k' with k >= 1"),
])
def test_a_schema_declaration_error_says_what_is_allowed(prop: dict[str, Any], message: str, allowed: str) -> None:
    """These said what was wrong but not what is allowed, and carried no field (the run plan guessed one)."""
    with pytest.raises(SearchSpaceError) as caught:
        _one(prop)
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.field == "schema property p" and caught.value.allowed == allowed


def test_a_numeric_list_is_searched_at_the_length_the_job_gets() -> None:
    """The template's 4 kernel sizes were searched (and written to every rec's spec) as the schema default's 2: the
    list each job got was cut short without a word. Now the base spec's list sets the length; list bounds of
    another length are refused, naming both."""
    schema = {"properties": {"train": {"type": "collection", "properties": {
        "ks": {"type": "list", "default": [3, 5]},
        "betas": {"type": "list", "default": [0.9, 0.999], "minimum": [0, 0], "maximum": [1, 1]}}}}}
    base = baseline(schema, {"train": {"ks": [3, 5, 7, 9], "betas": [0.9, 0.99, 0.5]}})
    ks = build_search_space(schema, ["train.ks"], base=base)["train.ks"]
    assert isinstance(ks, ListParam) and len(ks.elements) == 4 and ks.default == (3, 5, 7, 9)
    rng = np.random.default_rng(0)
    assert all(len(v) == 4 and all(type(x) is int for x in v) for v in (ks.sample(rng) for _ in range(50)))
    with pytest.raises(SearchSpaceError) as caught:
        build_search_space(schema, ["train.betas"], base=base)
    assert str(caught.value).startswith("schema param 'train.betas': the job's spec holds 3 elements [0.9, 0.99, 0.5] "
                                        "(from the spec template), but the schema's list bounds have 2; allowed: a "
                                        "list of 2 numbers")
    assert caught.value.field == "schema property train.betas"
    same = baseline(schema, {"train": {"ks": [3, 5]}})  # the schema default's list: built as before
    assert build_search_space(schema, ["train.ks"], base=same)["train.ks"] == build_search_space(schema, ["train.ks"])[
        "train.ks"]


@pytest.mark.parametrize("kind", ["int", "integer", "float", "number"])
@pytest.mark.parametrize(("key", "options"), [("valid_options", []), ("enum", []), ("valid_options", "8,16")])
def test_a_number_whose_options_are_empty_is_refused_as_a_categorical_is(kind: str, key: str, options: Any) -> None:
    """An int with valid_options: [] was searched as a range around its default ([4, 64]); it is refused (skipped
    from the default search) naming the param and its options, as a categorical's empty options are."""
    prop = {"type": kind, "default": 16, key: options}
    with pytest.raises(SearchSpaceError, match=rf"^hyperparameter 'p' has type '{kind}' whose {key}="
                                               rf"{re.escape(repr(options))} is not a non-empty list of options, which "
                                               "cannot be searched yet") as caught:
        _one(prop)
    assert (caught.value.field, caught.value.value) == ("automl_hyperparameters", "p")
    space = build_search_space({"properties": {"p": prop, "q": {"type": "bool"}},
                                "automl_default_parameters": ["p", "q"]})
    assert space.names == ["q"] and space.skipped == (
        f"p (type '{kind}' whose {key}={options!r} is not a non-empty list of options)",)


@pytest.mark.parametrize("options", [[], "relu,gelu", {"relu": 1}])
def test_options_that_are_not_a_list_are_named_as_given(options: Any) -> None:
    """valid_options: [] (or a comma-separated text) was reported as "'categorical' without enum/valid_options"."""
    prop = {"type": "categorical", "default": "relu", "valid_options": options}
    with pytest.raises(SearchSpaceError, match=rf"^hyperparameter 'p' has type 'categorical' whose valid_options="
                                               rf"{re.escape(repr(options))} is not a non-empty list of options, which "
                                               "cannot be searched yet"):
        _one(prop)
    space = build_search_space({"properties": {"p": prop, "q": {"type": "bool"}},
                                "automl_default_parameters": ["p", "q"]})
    assert space.skipped == (f"p (type 'categorical' whose valid_options={options!r} is not a non-empty list of "
                             "options)",)


def test_a_schema_logit_error_names_the_schema_property_when_the_param_is_named_in_automl_hyperparameters() -> None:
    """A schema property declaring logit on [0, 0.5] (or on an int), searched by naming it in automl_hyperparameters,
    answered field automl_hyperparameters and value 'train.p' (the list entry, which is right), not the schema
    property whose range or type is at fault, as the same property left to the schema's defaults answers."""
    from tao_automl.runner.plan import search_space
    from tao_automl.settings import AutoMLSettings

    schema = {"automl_default_parameters": ["train.n"], "default": {"train": {"p": 0.1, "n": 2}},
              "properties": {"train": {"type": "collection", "properties": {
                  "p": {"type": "float", "minimum": 0.0, "maximum": 0.5, "scale": "logit", "default": 0.1},
                  "n": {"type": "int", "minimum": 1, "maximum": 4, "scale": "logit", "default": 2}}}}}
    with pytest.raises(SearchSpaceError, match="strictly inside") as caught:
        search_space(schema, AutoMLSettings(), ["train.p"], None)
    assert caught.value.field == "schema property train.p" and caught.value.value == [0.0, 0.5]
    with pytest.raises(SearchSpaceError, match="not ints") as as_int:
        search_space(schema, AutoMLSettings(), ["train.n"], None)
    assert as_int.value.field == "schema property train.n" and as_int.value.value == "logit"
    assert as_int.value.allowed == ["log", "linear"]
    # given in custom_param_ranges, the error stays that entry's
    with pytest.raises(SearchSpaceError, match="strictly inside") as custom:
        search_space(schema, AutoMLSettings(), ["train.p"], {"train.p": {"valid_min": 0.0, "valid_max": 0.4}})
    assert custom.value.field == "custom_param_ranges.train.p"


def test_a_custom_range_error_shows_the_schema_range_as_the_search_space_does() -> None:
    """A custom_param_ranges error printed a float param's schema range as [0.001, 1] while `tao-automl models`
    (the param's describe()) printed [0.001, 1.0]; an int param's range reads [1, 64] in both."""
    schema = {"type": "object", "properties": {"train": {"type": "object", "properties": {
        "lr": {"type": "float", "default": 0.01, "minimum": 0.001, "maximum": 1},
        "batch": {"type": "int", "default": 8, "minimum": 1, "maximum": 64},
    }}}}
    for name, bad, shown in (("train.lr", 5.0, "[0.001, 1.0]"), ("train.batch", 99, "[1, 64]")):
        assert build_search_space(schema, [name])[name].describe().startswith(shown + " (")
        with pytest.raises(SearchSpaceError) as caught:
            build_search_space(schema, [name], {name: {"valid_max": bad}})
        assert str(caught.value).endswith(f"allowed: {shown}") and caught.value.allowed == shown, str(caught.value)


def test_a_fixed_value_in_a_message_reads_as_the_value_it_is() -> None:
    """Messages showed a fixed value with `:g`: a parent fixed at 2.0000001 read `2`, and the error then said no
    value of [1.0, 2.0] is >= 2 (2.0 is); a one-value range at 0.9999996 was noted `= 1`. Each shows the value
    with the digits it needs (``util.digits.apart``: never a whole number it is not, never alike a value beside
    it that differs)."""
    from tao_automl.runner.plan_notes import space_notes
    from tao_automl.util.digits import apart

    schema = {"properties": {"train": {"type": "collection", "properties": {
        "lo": {"type": "float", "default": 2.0000001, "minimum": 0.0, "maximum": 5.0, "parent_param": "TRUE"},
        "hi": {"type": "float", "default": 1.5, "minimum": 1.0, "maximum": 2.0, "depends_on": "train.lo",
               "math_cond": ">= depends_on"}}}}}
    with pytest.raises(SearchSpaceError) as info:
        build_search_space(schema, ["train.hi"])
    message = str(info.value)
    assert "train.lo is fixed at 2.0000001 " in message and "is >= 2.0000001;" in message, message
    assert info.value.allowed == "values >= 2.0000001 (train.lo from the schema default)"
    ranges = {"train.hi": {"valid_min": 1.9999996, "valid_max": 1.9999996}}
    space = build_search_space(schema, ["train.hi"], ranges, base=baseline(schema, None, {"train.lo": 1.0}))
    notes = space_notes(schema, space, ranges)
    assert any("train.hi = 1.9999996 " in n for n in notes), notes
    assert apart(0.1234567, 0.1234568) == "0.1234567" and apart(0.1234567) == "0.123457"
    assert apart(0.9999996) == "0.9999996" and apart(6.0) == "6" and apart(2.5, 2.5) == "2.5"


@pytest.mark.parametrize(("options", "bad"), [(["relu", math.nan, "gelu"], math.nan),
                                             ([[1, 2], [3, math.nan]], [3, math.nan])])
def test_an_enum_holding_nan_is_refused_when_the_schema_is_read(tmp_path: Path, options: list[Any], bad: Any) -> None:
    """An `enum` holding NaN (which equals nothing, not even itself) was searched: the first rec given it ended the
    run with "brain 'random' proposed an invalid config: nan is outside options ['relu', nan, 'gelu']". It is
    refused when the space is built (preflight, the run), naming the param, the value and what is allowed."""
    from conftest import small_schema, write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    schema = small_schema()
    schema["properties"]["train"]["properties"]["act"]["enum"] = options
    with pytest.raises(SearchSpaceError) as info:
        build_search_space(schema)
    assert info.value.field == "schema property train.act" and repr(bad) in str(info.value), str(info.value)
    assert info.value.allowed == "options equal to themselves (no NaN)"
    assert "which equals no value, not even itself" in str(info.value)
    runner = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_loss"), write_skill(tmp_path / "bank",
                                                                                         schema=schema))
    with pytest.raises(SearchSpaceError):  # before anything is created
        runner.run(automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 6},
                   workspace_path=tmp_path / "ws", gpu_count=0)
    assert not (tmp_path / "ws").exists() or not any((tmp_path / "ws").iterdir())

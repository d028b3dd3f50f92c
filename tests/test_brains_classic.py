"""Single-fidelity brains (tpe, random, bayesian) through the trial protocol: modelling, resume, quality."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tao_automl.brain.classic.tpe import TPEBrain, neighbour_widths, spread_start, tpe_propose
from tao_automl.brain.registry import make_brain
from tao_automl.brain.trials import ClassicScheduler, Trial
from tao_automl.space.search_space import SearchSpace
from test_brains_multifidelity import SPACE, Log, quality, replayed


def run(sched: ClassicScheduler, seed: int, n: int, concurrency: int = 2, stop_after: int | None = None) -> Log:
    """Evaluate ``quality`` for up to ``n`` recs, ``concurrency`` in flight, oldest finishing first."""
    log = Log()
    inflight: list[int] = []
    while True:
        created = len(log.trials)
        if not sched.is_finished(created) and len(inflight) < concurrency:
            ids = list(range(created + 1, min(n, created + concurrency - len(inflight)) + 1))
            trials = sched.propose(ids, {i: log.trials[i] for i in inflight}, np.random.default_rng([seed, created]))
            for trial_id, trial in zip(ids, trials, strict=False):
                assert SPACE.contains(trial.config)
                log.trials[trial_id] = trial
                inflight.append(trial_id)
        if not inflight or (stop_after is not None and len(log.finals) >= stop_after):
            return log
        trial_id = inflight.pop(0)
        value = quality(log.trials[trial_id].config)
        log.finals[trial_id] = (value, 1)
        sched.observe(trial_id, value, None)


def best(log: Log) -> float:
    return min((v for v, _ in log.finals.values() if v is not None), default=math.inf)


def test_tpe_models_categorical_and_bool_params_as_categories() -> None:
    space = SearchSpace.from_json([{"name": "c", "type": "categorical", "choices": ["a", "b", "c", "d"]},
                                   {"name": "f", "type": "bool"}, {"name": "x", "type": "float", "low": 0, "high": 1}])
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(30)]
    values = [(0.0 if c["c"] == "c" else 1.0) + (0.0 if c["f"] else 0.5) + 0.1 * c["x"] for c in configs]
    # one proposal at a time: the model alone
    out = [tpe_propose(space, configs, values, [], 1, np.random.default_rng([1, i]))[0] for i in range(10)]
    assert all(space.contains(c) for c in out)
    assert sum(c["c"] == "c" for c in out) >= 8 and sum(c["f"] for c in out) >= 8
    # a batch of 10: each pick joins the bad group (constant liar), so later picks spread out, still mostly good
    batch = tpe_propose(space, configs, values, [], 10, np.random.default_rng(1))
    assert sum(c["c"] == "c" for c in batch) >= 6 and sum(c["f"] for c in batch) >= 6
    assert len({tuple(sorted(c.items())) for c in batch}) == 10


def test_tpe_failures_are_never_good_and_order_does_not_matter() -> None:
    rng = np.random.default_rng(2)
    configs = [SPACE.sample(rng) for _ in range(12)]
    values: list[float | None] = [None if i % 3 == 0 else float(i) for i in range(12)]
    a = tpe_propose(SPACE, configs, values, [], 3, np.random.default_rng(5))
    b = tpe_propose(SPACE, configs[::-1], values[::-1], [], 3, np.random.default_rng(5))
    assert a == b
    only_failures = tpe_propose(SPACE, configs[:1], [None], [], 1, np.random.default_rng(5))
    assert SPACE.contains(only_failures[0])


def test_tpe_kernel_width_is_the_larger_neighbour_gap_clipped() -> None:
    """Per coordinate: the larger gap to the sorted neighbours (0 and 1 bound the ends; the outermost of two or
    more points use their inner gap), at least 1 / (n + 2)."""
    widths = neighbour_widths(np.array([[0.6, 0.5], [0.1, 0.5], [0.2, 0.9]]))
    assert np.allclose(widths[:, 0], [0.4, 0.2, 0.4])  # gaps 0.4 (inner), 0.1 (inner) -> 0.2, max(0.1, 0.4)
    assert np.allclose(widths[:, 1], [0.2, 0.4, 0.4])  # a tie's inner gap is 0 -> clipped to 1/5
    assert np.allclose(neighbour_widths(np.array([[0.3]])), [[0.7]])  # one point: the larger distance to an end


def test_tpe_start_is_random_but_spread_out() -> None:
    """Start proposals are the farthest of a few random draws from what ran and what was picked: on average
    farther apart than plain random draws, never a repeat."""
    def nearest(configs: list[dict[str, object]]) -> float:
        x = np.array([SPACE.encode(c) for c in configs])
        d = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=2) + np.eye(len(x)) * 1e9
        return float(np.mean(np.min(d, axis=1)))

    spread, plain = [], []
    for seed in range(10):
        spread.append(nearest(spread_start(SPACE, [], 8, np.random.default_rng(seed), set())))
        plain.append(nearest(spread_start(SPACE, [], 8, np.random.default_rng(seed), set(), k=1)))
    assert np.mean(spread) > 1.2 * np.mean(plain), (spread, plain)
    brain = TPEBrain(SPACE)
    first = brain.suggest(4, [], np.random.default_rng(0))
    for c in first[:3]:
        brain.observe(c, quality(c))
    again = brain.suggest(4, first[3:], np.random.default_rng(0))
    keys = {tuple(sorted(c.items())) for c in [*first, *again]}
    assert len(keys) == 8


def test_tpe_batches_hold_distinct_configs() -> None:
    brain = TPEBrain(SPACE, n_initial=3)
    rng = np.random.default_rng(4)
    for _ in range(8):
        config = SPACE.sample(rng)
        brain.observe(config, quality(config))
    batch = brain.suggest(4, [SPACE.sample(rng)], np.random.default_rng(6))
    assert len({tuple(sorted(c.items())) for c in batch}) == 4


TWO_INTS = SearchSpace.from_json([{"name": "a", "type": "int", "low": 1, "high": 6},
                                   {"name": "b", "type": "int", "low": 1, "high": 5}])


@pytest.mark.parametrize(("name", "batch"), [("tpe", 1), ("tpe", 4), ("bayesian", 1), ("bayesian", 4)])
def test_model_brains_never_repeat_a_config_until_a_finite_space_is_exhausted(name: str, batch: int) -> None:
    """A two-integer space (30 configs) with a sharp optimum: no config is proposed twice (neither one that
    ran nor one still in flight) until all 30 have been proposed; after that, repeats are allowed."""
    for seed in range(3):
        brain = make_brain(name, TWO_INTS)
        proposed: list[tuple[int, int]] = []
        pending: list[dict[str, int]] = []
        while len(proposed) < 36:
            rng = np.random.default_rng([seed, len(proposed)])
            new = brain.suggest(batch, pending, rng)
            assert len(new) == batch
            proposed += [(c["a"], c["b"]) for c in new]
            pending += new
            if len(pending) >= batch:  # the oldest in-flight config finishes
                done = pending.pop(0)
                brain.observe(done, (done["a"] - 2) ** 2 + (done["b"] - 4) ** 2)
        assert len(set(proposed[:30])) == 30, (seed, proposed[:30])
        assert all(TWO_INTS.contains({"a": a, "b": b}) for a, b in proposed)


@pytest.mark.parametrize("name", ["tpe", "random", "bayesian"])
def test_a_replayed_classic_brain_proposes_the_same_next_configs(name: str) -> None:
    live = ClassicScheduler(make_brain(name, SPACE), 40)
    log = run(live, seed=8, n=40, stop_after=12)
    fresh = replayed(ClassicScheduler(make_brain(name, SPACE), 40), log)
    pending = {i: log.trials[i] for i in log.trials if i not in log.finals}
    ids = [len(log.trials) + 1, len(log.trials) + 2]
    a = live.propose(ids, pending, np.random.default_rng([8, len(log.trials)]))
    b = fresh.propose(ids, pending, np.random.default_rng([8, len(log.trials)]))
    assert [t.to_json() for t in a] == [t.to_json() for t in b]


@pytest.mark.parametrize("stop_after", [20, 27, 33])
def test_a_replayed_bayesian_brain_fits_and_proposes_the_same_past_20_results(stop_after: int) -> None:
    """From 20 results on the GP's fit is warm-started from an anchor fit: it must depend on the results alone,
    so a reopened run fits (and proposes) exactly what the uninterrupted one does."""
    live = ClassicScheduler(make_brain("bayesian", SPACE), 60)
    log = run(live, seed=3, n=60, stop_after=stop_after)
    fresh = replayed(ClassicScheduler(make_brain("bayesian", SPACE), 60), log)
    pending = {i: log.trials[i] for i in log.trials if i not in log.finals}
    ids = [len(log.trials) + 1, len(log.trials) + 2]
    a = live.propose(ids, pending, np.random.default_rng([3, len(log.trials)]))
    b = fresh.propose(ids, pending, np.random.default_rng([3, len(log.trials)]))
    assert [t.to_json() for t in a] == [t.to_json() for t in b]


def test_tpe_beats_random_search_at_the_same_number_of_recs() -> None:
    ours, theirs = [], []
    for seed in range(5):
        ours.append(best(run(ClassicScheduler(make_brain("tpe", SPACE), 30), seed, 30)))
        theirs.append(best(run(ClassicScheduler(make_brain("random", SPACE), 30), seed, 30)))
    assert np.median(ours) < np.median(theirs), (ours, theirs)


def test_classic_trials_have_no_budget() -> None:
    sched = ClassicScheduler(make_brain("tpe", SPACE), 3)
    trials = sched.propose([1, 2, 3], {}, np.random.default_rng(0))
    assert all(t == Trial(config=t.config) for t in trials) and sched.is_finished(3)


RICH_SCHEMA = {
    "properties": {"train": {"type": "collection", "properties": {
        "lr": {"type": "float", "default": 0.01, "minimum": 1e-4, "maximum": 1.0},
        "act": {"type": "categorical", "default": "relu", "enum": ["relu", "tanh", "gelu"]},
        "flag": {"type": "bool", "default": False},
        "batch": {"type": "int", "default": 16, "minimum": 1, "maximum": 256, "math_cond": "^ 2"},
        "sizes": {"type": "list", "default": [2, 4], "minimum": [1, 2], "maximum": [8, 16]},
        "heads": {"type": "subset_list", "default": ["a"], "valid_options": ["a", "b", "c"]},
        "scales": {"type": "optional_list", "default": [0.5, 1.5], "minimum": 0.1, "maximum": 2.0},
        "crop_min": {"type": "int", "default": 384, "minimum": 1, "maximum": 800, "parent_param": "TRUE"},
        "crop_max": {"type": "int", "default": 600, "minimum": 1, "maximum": 800, "depends_on": "train.crop_min",
                     "math_cond": "> depends_on"},
    }}}
}


@pytest.mark.parametrize("name", ["tpe", "bohb", "dehb", "pbt", "hyperband", "hyperband_es", "bfbo", "random"])
def test_every_brain_stays_inside_a_space_of_every_type(name: str) -> None:
    from tao_automl.brain.trials import TrialScheduler
    from tao_automl.schema.build import build_search_space

    space = build_search_space(RICH_SCHEMA, ["train." + k for k in RICH_SCHEMA["properties"]["train"]["properties"]])
    options = {} if name in ("tpe", "random") else {"max_trials": 40, "max_epochs": 9}
    brain = make_brain(name, space, options)
    sched = brain if isinstance(brain, TrialScheduler) else ClassicScheduler(brain, 40)
    n, rng = 0, np.random.default_rng(0)
    for _ in range(10):
        trials = sched.propose(list(range(n + 1, n + 5)), {}, np.random.default_rng([1, n]))
        for trial_id, trial in enumerate(trials, n + 1):
            assert space.contains(trial.config), space.violations(trial.config)
            sched.observe(trial_id, None if trial_id % 4 == 0 else float(rng.random()), trial.budget)
        n += len(trials)
    assert n >= 12


@pytest.mark.parametrize("name", ["tpe", "bayesian", "random"])
def test_a_one_option_categorical_is_searched_without_a_crash(name: str) -> None:
    """tpe raised IndexError (orchestrator and resume alike) once its model took over on a space with a categorical
    of one option (a schema enum of one, or valid_options narrowed to one): its draw picked option 1 of 1."""
    space = SearchSpace.from_json([
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": None},
        {"name": "act", "type": "categorical", "choices": ["gelu"], "default": None},
        {"name": "flag", "type": "bool", "default": None},
    ])
    brain = make_brain(name, space)
    rng = np.random.default_rng(0)
    for _ in range(16):
        config = brain.suggest(1, [], rng)[0]
        assert config["act"] == "gelu"
        brain.observe(config, float(config["lr"]) + 0.1 * bool(config["flag"]))

"""Multi-fidelity brains: schedules, resume equivalence, a simulated comparison, one real sweep."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import readme_says, small_schema
from tao_automl.bank import builtin_skill_dir
from tao_automl.brain.multifidelity.bfbo import BFBO
from tao_automl.brain.multifidelity.bohb import BOHB
from tao_automl.brain.multifidelity.dehb import DEHB
from tao_automl.brain.multifidelity.hyperband import Hyperband, HyperbandES, extrapolate
from tao_automl.brain.multifidelity.pbt import PBT
from tao_automl.brain.multifidelity.successive_halving import hyperband_brackets
from tao_automl.brain.registry import brain_options, make_brain
from tao_automl.brain.trials import Trial, TrialScheduler
from tao_automl.errors import SettingsError
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.schema.build import build_search_space
from tao_automl.settings import AutoMLSettings
from tao_automl.space.search_space import Config, SearchSpace

SPACE = build_search_space(small_schema())
ACT = {"relu": 0.0, "tanh": 0.6, "gelu": 0.25}


def quality(config: Config) -> float | None:
    """A synthetic objective on the small schema's space; a failure region at large learning rates."""
    lr = config["train.optim.lr"]
    if lr > 0.4:
        return None
    return (math.log10(lr) + 2.2) ** 2 + 0.15 * (config["train.layers"] - 4) ** 2 + ACT[config["train.act"]] \
        + (0.3 if config["train.flag"] else 0.0)


def curve(config: Config, epoch: int) -> float | None:
    """Value after ``epoch`` epochs: quality plus a config-dependent learning-curve term."""
    q = quality(config)
    if q is None:
        return None
    return q + (0.5 + 0.2 * config["train.layers"]) / epoch


@dataclass
class Log:
    """What a run persisted: trials by id, epoch reports and final results, in the order they happened."""

    trials: dict[int, Trial] = field(default_factory=dict)
    epochs: list[tuple[int, int, float]] = field(default_factory=list)
    finals: dict[int, tuple[float | None, int]] = field(default_factory=dict)
    epochs_used: int = 0


def _budget(trial: Trial, max_epochs: int) -> int:
    return trial.budget if trial.budget is not None else max_epochs


def drive(sched: TrialScheduler, seed: int, *, max_epochs: int, concurrency: int = 3,
          stop_after: int | None = None, fn: Callable[[Config, int], float | None] = curve) -> Log:
    """Run ``sched`` on the synthetic function without jobs: an event loop of ``concurrency`` slots."""
    log = Log()
    inflight: dict[int, float] = {}  # id -> simulated end time
    clock, n_events = 0.0, 0
    while True:
        created = len(log.trials)
        if len(inflight) < concurrency and not sched.is_finished(created):
            ids = list(range(created + 1, created + 1 + concurrency - len(inflight)))
            trials = sched.propose(ids, {i: log.trials[i] for i in inflight}, np.random.default_rng([seed, created]))
            assert len(trials) <= len(ids)
            for trial_id, trial in zip(ids, trials, strict=False):
                assert SPACE.contains(trial.config), trial
                log.trials[trial_id] = trial
                start = log.trials[trial.parent].budget or 0 if trial.parent is not None else 0
                inflight[trial_id] = clock + _budget(trial, max_epochs) - start + 1e-3 * trial_id
        if not inflight:
            return log
        trial_id = min(inflight, key=lambda i: inflight[i])
        clock = inflight.pop(trial_id)
        trial = log.trials[trial_id]
        start = log.trials[trial.parent].budget or 0 if trial.parent is not None else 0
        budget, value = _budget(trial, max_epochs), None
        for epoch in range(start + 1, _budget(trial, max_epochs) + 1):
            log.epochs_used += 1
            value = fn(trial.config, epoch)
            if value is None:
                budget = epoch
                break
            if sched.mode == "stopping":
                log.epochs.append((trial_id, epoch, value))
                if sched.report_epoch(trial_id, epoch, value):
                    budget = epoch
                    break
        log.finals[trial_id] = (value, budget)
        sched.observe(trial_id, value, budget)
        n_events += 1
        if stop_after is not None and n_events >= stop_after:
            return log


def best_full(log: Log, max_epochs: int) -> float:
    """Best value reached at the full budget (inf when none)."""
    return min((v for v, b in log.finals.values() if v is not None and b == max_epochs), default=math.inf)


def random_best(epochs: int, max_epochs: int, seed: int) -> float:
    """Random search given the same epochs: full-budget configs only."""
    rng = np.random.default_rng([seed, 99])
    values = [curve(SPACE.sample(rng), max_epochs) for _ in range(max(1, epochs // max_epochs))]
    return min((v for v in values if v is not None), default=math.inf)


def replayed(fresh: TrialScheduler, log: Log) -> TrialScheduler:
    """A fresh scheduler given what the experiment replays on resume (trials, epochs, finals by id)."""
    for trial_id in sorted(log.trials):
        fresh.restore(trial_id, log.trials[trial_id])
    for trial_id, epoch, value in log.epochs:
        fresh.report_epoch(trial_id, epoch, value)
    for trial_id in sorted(log.finals):
        value, budget = log.finals[trial_id]
        fresh.observe(trial_id, value, budget)
    return fresh


FACTORIES: dict[str, Callable[[], TrialScheduler]] = {
    "hyperband": lambda: Hyperband(SPACE, max_epochs=9, eta=3, max_trials=44, iterations=2),
    "bohb": lambda: BOHB(SPACE, max_epochs=9, eta=3, max_trials=44, iterations=2),
    "dehb": lambda: DEHB(SPACE, max_epochs=9, eta=3, max_trials=44, iterations=2),
    "bfbo": lambda: BFBO(SPACE, max_epochs=9, eta=3, max_trials=44, iterations=2),
    "pbt": lambda: PBT(SPACE, max_epochs=9, population_size=8, max_trials=24),
    "hyperband_es": lambda: HyperbandES(SPACE, max_epochs=9, eta=3, max_trials=24),
}


# -- schedules ---------------------------------------------------------------------------------------
def test_hyperband_brackets_for_27_epochs_and_eta_3_include_s0() -> None:
    got = [(b.s, b.sizes, b.budgets) for b in hyperband_brackets(27, 3)]
    assert got == [(3, (27, 9, 3, 1), (1, 3, 9, 27)), (2, (12, 4, 1), (3, 9, 27)), (1, (6, 2), (9, 27)),
                   (0, (4,), (27,))]


def test_hyperband_promotes_the_best_of_a_complete_rung_from_checkpoints_and_never_failures() -> None:
    hb = Hyperband(SPACE, max_epochs=9, eta=3, max_trials=100)
    rng = np.random.default_rng(0)
    first = hb.propose(list(range(1, 10)), {}, rng)
    assert len(first) == 9 and all(t.budget == 1 and t.rung == 0 and t.parent is None for t in first)
    values = [None, 0.1, 0.5, 0.05, 0.9, 0.3, 0.7, 0.8, 0.6]
    for trial_id, value in enumerate(values, start=1):
        hb.observe(trial_id, value, 1)
    up = hb.propose([10, 11, 12, 13], {}, rng)
    assert [t.parent for t in up[:3]] == [4, 2, 6] and all(t.budget == 3 and t.rung == 1 for t in up[:3])
    assert [t.config for t in up[:3]] == [first[3].config, first[1].config, first[5].config]
    assert (up[3].bracket, up[3].rung, up[3].parent) == (1, 0, None)  # rung 1 is full: the next bracket starts
    for trial_id, value in zip((10, 11, 12), (0.4, None, 0.2), strict=True):
        hb.observe(trial_id, value, 3)
    top = hb.propose([14], {13: up[3]}, rng)
    assert top[0].parent == 12 and top[0].budget == 9  # best success of rung 1; the failure (11) is out


@pytest.mark.parametrize("max_trials", [22, 100])
def test_hyperband_fills_free_slots_from_the_next_bracket_while_a_rung_waits(max_trials: int) -> None:
    """A rung waits for its last result; meanwhile the later brackets start, those of the next iterations the budget
    holds too (at concurrency 4 hyperband had all 4 slots busy 44 % of the time: an iteration waited for its last
    rungs before the next began). Only when every planned bracket waits does propose hand out nothing."""
    hb = Hyperband(SPACE, max_epochs=9, eta=3, max_trials=max_trials)  # an iteration: (9, 3, 1), (5, 1), (3,)
    rng = np.random.default_rng(0)
    first = hb.propose(list(range(1, 10)), {}, rng)
    for trial_id in range(1, 9):
        hb.observe(trial_id, 0.1 * trial_id, 1)
    pending = {9: first[8]}
    more = hb.propose([10, 11], pending, rng)  # rung 0 of bracket 0 still waits for trial 9
    assert [(t.bracket, t.rung, t.budget) for t in more] == [(1, 0, 3), (1, 0, 3)]
    pending.update({10: more[0], 11: more[1]})
    rest = hb.propose(list(range(12, 30)), pending, rng)
    assert [(t.bracket, t.budget) for t in rest[:6]] == [(1, 3)] * 3 + [(2, 9)] * 3  # this iteration's brackets
    if max_trials == 22:  # the budget holds one iteration: every bracket waits, nothing more to start
        assert len(rest) == 6
        pending.update({12 + i: t for i, t in enumerate(rest)})
        assert hb.propose([30], pending, rng) == []
    else:  # the next iteration's brackets start while this one waits
        assert [(t.bracket, t.rung, t.budget, t.parent) for t in rest[6:]] == [(3, 0, 1, None)] * 9 + [
            (4, 0, 3, None)] * 3
        pending.update({12 + i: t for i, t in enumerate(rest)})
    hb.observe(9, 0.05, 1)
    del pending[9]
    promoted = hb.propose([30], pending, rng)
    assert promoted[0].parent == 9 and (promoted[0].bracket, promoted[0].rung) == (0, 1)
    assert max_trials - 2 <= sum(sum(b.sizes) for b in hb.brackets) <= max_trials  # planned up front


def test_hyperband_runs_every_bracket_then_further_iterations_until_the_budget_is_spent() -> None:
    one_iteration = 27 + 9 + 3 + 1 + 12 + 4 + 1 + 6 + 2 + 4
    hb = Hyperband(SPACE, max_epochs=27, eta=3, max_trials=one_iteration + 25)
    assert not hb.is_finished(0)
    log = drive(hb, seed=1, max_epochs=27)
    assert hb.is_finished(len(log.trials)) and hb.propose([999], {}, np.random.default_rng(0)) == []
    assert len(log.trials) == one_iteration + 25  # the budget is spent: a second, shrunk iteration ran
    assert {t.bracket for t in log.trials.values() if t.bracket is not None and t.bracket >= 4}
    by_bracket = {b: sum(1 for t in log.trials.values() if t.bracket == b and t.rung == 0) for b in range(4)}
    assert by_bracket == {0: 27, 1: 12, 2: 6, 3: 4}
    s0 = [t for t in log.trials.values() if t.bracket == 3]
    assert all(t.budget == 27 and t.parent is None for t in s0)
    for t in log.trials.values():
        if t.parent is not None:
            assert log.finals[t.parent][0] is not None  # failures are never promoted


@pytest.mark.parametrize("brain", [Hyperband, BOHB, DEHB, BFBO])
def test_bracket_brains_plan_the_largest_budget_settings_accept_in_one_iteration_s_memory(brain: type) -> None:
    # automl_max_recommendations takes any 64-bit integer: planning every iteration as a list raised MemoryError
    budget = 2**63 - 1
    hb = brain(SPACE, max_epochs=9, eta=3, max_trials=budget)
    one = hyperband_brackets(9, 3)  # 22 recs an iteration
    whole = budget // 22
    tail = hb.brackets.distinct()[len(one):]  # the last iteration, shrunk to the recs left
    assert len(hb.brackets) == whole * len(one) + len(tail)
    assert budget - 2 <= whole * 22 + sum(sum(b.sizes) for b in tail) <= budget
    assert hb.brackets[len(one) * 1000 + 1] == one[1] and hb.brackets[-1] == hb.brackets.distinct()[-1]
    assert hb.budgets() == [1, 3, 9] and not hb.is_finished(0)
    first = hb.propose(list(range(1, 11)), {}, np.random.default_rng(0))
    assert [(t.bracket, t.budget) for t in first] == [(0, 1)] * 9 + [(1, 3)]


def test_bohb_model_starts_after_a_handful_of_results_per_budget() -> None:
    bohb = BOHB(SPACE, max_epochs=9, eta=3, max_trials=100, random_fraction=0.0)
    assert bohb.min_points == len(SPACE) + 2 == 6
    rng = np.random.default_rng(3)
    trials = bohb.propose(list(range(1, 10)), {}, rng)
    for trial_id, trial in enumerate(trials[:5], start=1):
        bohb.observe(trial_id, curve(trial.config, 1) if quality(trial.config) is not None else 0.5, 1)
    assert bohb.model_budget() is None
    bohb.observe(6, 1.0, 1)
    assert bohb.model_budget() == 1
    bohb.observe(7, None, 1)  # failures do not count as model points
    assert sum(v is not None for _, v in bohb.results_at(1)) == 6


def test_bohb_model_proposes_near_the_good_configs() -> None:
    space = SearchSpace.from_json([{"name": "x", "type": "float", "low": 0.0, "high": 1.0},
                                   {"name": "c", "type": "categorical", "choices": ["a", "b", "c"]}])
    bohb = BOHB(space, max_epochs=9, eta=3, max_trials=100, random_fraction=0.0)
    trials = bohb.propose(list(range(1, 10)), {}, np.random.default_rng(0))
    for trial_id, trial in enumerate(trials, start=1):
        bohb.observe(trial_id, abs(trial.config["x"] - 0.8) + (0.0 if trial.config["c"] == "b" else 1.0), 1)
    # one proposal at a time: the model alone
    proposals = [bohb._new_configs(1, 1, {}, np.random.default_rng([1, i]))[0] for i in range(12)]
    assert sum(c["c"] == "b" for c in proposals) >= 10
    assert np.median([abs(c["x"] - 0.8) for c in proposals]) < 0.1
    # 12 in one call: each pick counts as bad for the next (constant liar), so they spread, still mostly good
    batch = bohb._new_configs(12, 1, {}, np.random.default_rng(1))
    assert sum(c["c"] == "b" for c in batch) >= 6
    assert np.median([abs(c["x"] - 0.8) for c in batch]) < 0.25


def test_dehb_keeps_a_subpopulation_per_budget() -> None:
    dehb = DEHB(SPACE, max_epochs=9, eta=3, max_trials=100, pop_size=4)
    log = drive(dehb, seed=2, max_epochs=9, stop_after=9 + 3)  # bracket 0's rungs at 1 and 3 epochs ended
    at1 = dehb.subpopulation(1)
    at3 = dehb.subpopulation(3)
    ok1 = sorted((v, i) for i, (v, b) in log.finals.items() if v is not None and log.trials[i].budget == 1)
    assert at1 == [log.trials[i].config for _, i in ok1[:4]]
    assert len(at3) == sum(1 for i, (v, _) in log.finals.items() if v is not None and log.trials[i].budget == 3)
    assert dehb._donors(1) == at1  # budget 1 has 4 members: DE draws from its own subpopulation
    assert dehb._donors(9) == at1  # budget 9 is empty: nearest budget with enough members
    child = dehb._new_configs(1, 3, {}, np.random.default_rng(0))[0]
    assert SPACE.contains(child)


def test_pbt_refuses_a_population_of_one() -> None:
    """A population of 1 was accepted with no note: its only member was always top (n_cut = 1), never bottom, so the
    run retrained one config in chunks and never exploited or explored."""
    from tao_automl.errors import SettingsError

    with pytest.raises(SettingsError, match="automl_population_size: 1 is not allowed for pbt") as caught:
        PBT(SPACE, max_epochs=9, population_size=1, max_trials=6)
    assert caught.value.field == "automl_settings.automl_population_size" and caught.value.value == 1
    assert caught.value.allowed == ">= 2 for pbt" and caught.value.hint
    pbt = PBT(SPACE, max_epochs=9, population_size=2, max_trials=6)
    assert pbt.size == 2


def test_pbt_refuses_a_budget_above_population_times_epochs() -> None:
    """README: "pbt refuses a budget larger than `population_size × max_epochs`" (one generation per epoch): that many
    recs is accepted, one more is refused naming the setting, the value and the most it can spend."""
    assert readme_says(r"\(pbt refuses a budget larger than `(population_size) × (max_epochs)`\)")
    assert PBT(SPACE, max_epochs=3, population_size=4, max_trials=12).generations == 3
    with pytest.raises(SettingsError, match="automl_max_recommendations: 13 is more than pbt can spend") as caught:
        PBT(SPACE, max_epochs=3, population_size=4, max_trials=13)
    assert caught.value.field == "automl_settings.automl_max_recommendations" and caught.value.value == 13
    assert caught.value.allowed == "at most 12 (automl_population_size x automl_max_epochs)"


def test_pbt_exploits_top_checkpoints_and_explores_configs() -> None:
    pbt = PBT(SPACE, max_epochs=9, population_size=4, max_trials=12)
    assert pbt.generations == 3 and [pbt.budget(g) for g in range(3)] == [3, 6, 9]
    rng = np.random.default_rng(5)
    gen0 = pbt.propose([1, 2, 3, 4], {}, rng)
    assert all(t.budget == 3 and t.parent is None for t in gen0)
    assert pbt.propose([5], {i: t for i, t in enumerate(gen0, 1)}, rng) == []  # waits for the generation
    for trial_id, value in zip((1, 2, 3, 4), (0.3, None, 0.1, 0.2), strict=True):
        pbt.observe(trial_id, value, 3)
    gen1 = pbt.propose([5, 6, 7, 8], {}, rng)
    assert all(t.budget == 6 for t in gen1)
    assert gen1[0].parent == 1 and gen1[0].config == gen0[0].config  # middle member goes on from itself
    assert gen1[2].parent == 3 and gen1[2].config == gen0[2].config  # the top member too
    assert gen1[1].parent == 3 and gen1[1].config != gen0[2].config  # failed member exploits the top (3) ...
    assert SPACE.contains(gen1[1].config)  # ... and explores within the space
    assert gen1[3].parent == 4  # 0.2: neither bottom quantile (the failure) nor top
    assert all(t.parent != 2 for t in gen1)  # the failure is never exploited


def test_pbt_moves_a_member_on_as_soon_as_its_trial_ends() -> None:
    """Issue 12 item 6: pbt kept a slot idle until its generation's slowest member ended (59 % of the time all four
    slots were busy at concurrency 4). A member whose trial ended gets its next one at once, ranked against the
    trials of its generation that have ended by then."""
    pbt = PBT(SPACE, max_epochs=9, population_size=4, max_trials=12)
    rng = np.random.default_rng(3)
    gen0 = pbt.propose([1, 2, 3, 4], {}, rng)
    pending = dict(enumerate(gen0, 1))
    pbt.observe(3, 0.1, 3)
    del pending[3]
    nxt = pbt.propose([5], pending, rng)  # members 0, 1 and 3 still train
    assert len(nxt) == 1 and nxt[0].bracket == 2 and nxt[0].rung == 1 and nxt[0].parent == 3
    assert nxt[0].config == gen0[2].config and nxt[0].budget == 6  # alone in its ranking: it goes on
    pending[5] = nxt[0]
    for trial_id, value in ((1, 0.3), (2, None)):
        pbt.observe(trial_id, value, 3)
        del pending[trial_id]
    more = pbt.propose([6, 7], pending, rng)
    assert [(t.bracket, t.rung) for t in more] == [(0, 1), (1, 1)]
    assert more[0].parent == 1 and more[0].config == gen0[0].config  # 0.3 of {0.1, 0.3, failed}: goes on
    assert more[1].parent == 3 and more[1].config != gen0[2].config  # the failure exploits the top and explores
    assert pbt.propose([8], {**pending, 6: more[0], 7: more[1]}, rng) == []  # only member 3 may move: it trains


def test_pbt_a_member_that_fails_first_waits_to_copy_a_member_instead_of_starting_afresh() -> None:
    """Asynchronous pbt gave a member whose trial failed before any other of its generation ended a fresh random
    config trained from scratch for the next generation's whole budget (the module promises failed members copy a
    top member). It waits while its generation trains, then copies the first success; a generation that failed
    whole copies the latest generation with a success."""
    pbt = PBT(SPACE, max_epochs=9, population_size=4, max_trials=16)
    rng = np.random.default_rng(5)
    pending = dict(enumerate(pbt.propose([1, 2, 3, 4], {}, rng), 1))
    for trial_id, value in ((1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)):
        pbt.observe(trial_id, value, 3)
        del pending[trial_id]
    pending.update(zip([5, 6, 7, 8], pbt.propose([5, 6, 7, 8], pending, rng), strict=True))
    pbt.observe(8, None, 6)  # member 3's generation-1 trial fails at once
    del pending[8]
    assert pbt.propose([9], pending, rng) == []  # nothing to copy yet: it waits (the old code started afresh)
    pbt.observe(6, 0.15, 6)
    del pending[6]
    moved = pbt.propose([9, 10], pending, rng)
    by_member = {t.bracket: t for t in moved}
    assert by_member[3].parent == 6 and by_member[3].rung == 2  # the failure copies the success
    assert by_member[1].parent == 6 and by_member[1].config == pending_config(pbt, 6)  # the success goes on
    for trial_id, trial in zip([9, 10], moved, strict=True):
        pending[trial_id] = trial
    for trial_id in (5, 7):  # the rest of generation 1 fails
        pbt.observe(trial_id, None, 6)
        del pending[trial_id]
    again = pbt.propose([11, 12], pending, rng)
    assert {t.bracket for t in again} == {0, 2} and all(t.parent == 6 for t in again)
    whole = PBT(SPACE, max_epochs=9, population_size=2, max_trials=6)
    waiting = dict(enumerate(whole.propose([1, 2], {}, rng), 1))
    whole.observe(1, 0.5, 3)
    whole.observe(2, 0.7, 3)
    waiting = dict(zip([3, 4], whole.propose([3, 4], {}, rng), strict=True))
    whole.observe(3, None, 6)
    whole.observe(4, None, 6)  # generation 1 failed whole: copy generation 0's best
    last = whole.propose([5, 6], {}, rng)
    assert len(waiting) == 2 and [t.parent for t in last] == [1, 1] and all(t.rung == 2 for t in last)


def pending_config(pbt: PBT, trial_id: int) -> dict[str, object]:
    """The config of ``pbt``'s trial ``trial_id``."""
    return dict(pbt._trials[trial_id].config)


def test_pbt_spends_its_budget_when_fast_members_fill_the_last_generation_first() -> None:
    """A budget that is not a multiple of the population leaves a smaller last generation. Fast members filled it
    while slow ones were still in generation 0, and the sweep ended there (8 of 10 recs); then the members that
    went on into it were the first by member number, not the best (a pbt run's best was a poor member). It ends
    once every generation's trials are created, and the last generation holds the best of the one before."""
    for seed in range(6):
        pbt = PBT(SPACE, max_epochs=9, population_size=4, max_trials=10)
        rng = np.random.default_rng(seed)
        pending = dict(enumerate(pbt.propose([1, 2, 3, 4], {}, rng), 1))
        next_id, values = 5, {}
        while pending:
            ended = sorted(pending, key=lambda t: (pending[t].bracket not in (0, 1), t))[0]  # members 0, 1 fast
            values[ended] = float(rng.random())
            pbt.observe(ended, values[ended], None)
            trial = pending.pop(ended)
            assert not pbt.is_finished(next_id - 1) or not pending or trial.rung == 2
            for new in pbt.propose([next_id, next_id + 1, next_id + 2, next_id + 3], pending, rng):
                pending[next_id] = new
                next_id += 1
        assert next_id - 1 == 10 and pbt.is_finished(10)
        generation_1 = {member: trial for member, trial in pbt._members[1].items()}
        best_two = sorted(generation_1.values(), key=lambda t: values[t])[:2]
        last = [pbt._trials[t] for t in pbt._members[2].values()]
        assert sorted(t.parent for t in last) == sorted(best_two), seed  # the best of generation 1 go on


def test_hyperband_es_stops_a_clearly_worse_curve_but_not_a_good_one() -> None:
    es = HyperbandES(SPACE, max_epochs=27, eta=3, max_trials=20)
    trials = es.propose([1, 2, 3, 4, 5], {}, np.random.default_rng(0))
    assert [t.bracket for t in trials] == [0, 1, 2, 3, 0] and all(t.budget == 27 for t in trials)
    assert all(t.rung is None for t in trials)  # one job toward 27 epochs: no planned rung
    for epoch in range(1, 28):
        assert not es.report_epoch(1, epoch, 0.2 + 1.0 / epoch)
    es.observe(1, 0.2 + 1 / 27, 27)
    stopped_at = next(e for e in range(1, 28) if es.report_epoch(5, e, 2.0 + 1.0 / e))
    assert 3 <= stopped_at <= 6
    assert not any(es.report_epoch(2, e, 0.1 + 1.0 / e) for e in range(1, 28))  # better: goes on
    assert not any(es.report_epoch(4, e, 5.0 + 1.0 / e) for e in range(1, 27))  # s=0 bracket: never stopped
    pred, err = extrapolate([1, 2, 3, 4, 5], [2.0 + 1 / e for e in range(1, 6)], 27)
    assert abs(pred - (2.0 + 1 / 27)) < 0.05 and err < 0.1


# -- resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_replayed_scheduler_proposes_the_same_next_trials(name: str) -> None:
    live = FACTORIES[name]()
    log = drive(live, seed=7, max_epochs=9, stop_after=11)
    fresh = replayed(FACTORIES[name](), log)
    pending = {i: log.trials[i] for i in log.trials if i not in log.finals}
    ids = list(range(len(log.trials) + 1, len(log.trials) + 4))
    a = live.propose(ids, pending, np.random.default_rng([7, len(log.trials)]))
    b = fresh.propose(ids, pending, np.random.default_rng([7, len(log.trials)]))
    assert [t.to_json() for t in a] == [t.to_json() for t in b]
    assert live.is_finished(len(log.trials)) == fresh.is_finished(len(log.trials))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_runs_are_reproducible_from_the_seed(name: str) -> None:
    one = drive(FACTORIES[name](), seed=3, max_epochs=9, stop_after=20)
    two = drive(FACTORIES[name](), seed=3, max_epochs=9, stop_after=20)
    assert {i: t.to_json() for i, t in one.trials.items()} == {i: t.to_json() for i, t in two.trials.items()}


# -- simulated comparison ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_beats_random_search_given_the_same_epochs(name: str) -> None:
    ours, theirs = [], []
    for seed in range(5):
        log = drive(FACTORIES[name](), seed=seed, max_epochs=9)
        ours.append(best_full(log, 9))
        theirs.append(random_best(log.epochs_used, 9, seed))
    assert np.median(ours) <= np.median(theirs), (ours, theirs)


def test_registry_builds_every_multi_fidelity_brain_from_settings() -> None:
    settings = AutoMLSettings(automl_max_epochs=9, automl_reduction_factor=3, automl_population_size=5,
                              automl_max_recommendations=15)
    for name in ("hyperband", "hyperband_es", "bohb", "dehb", "bfbo", "pbt"):
        brain: Any = make_brain(name, SPACE, brain_options(name, settings))
        assert isinstance(brain, TrialScheduler) and brain.max_trials == 15
        assert brain.mode == ("stopping" if name == "hyperband_es" else "promotion")
    pbt: Any = make_brain("pbt", SPACE, brain_options("pbt", settings))
    assert pbt.size == 5 and pbt.generations == 3
    stopping = AutoMLSettings(algorithm="bohb", fidelity_mode="stopping")
    with pytest.raises(SettingsError, match="fidelity_mode: 'stopping' is not allowed with algorithm 'bohb'"):
        brain_options("bohb", stopping)
    assert brain_options("hyperband_es", AutoMLSettings(algorithm="hyperband_es", fidelity_mode="stopping"))


# -- one real sweep ----------------------------------------------------------------------------------
def test_hyperband_sweep_resumes_promotions_from_parent_checkpoints(tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    result = runner.run(train_dataset_uri="builtin:digits",
                        automl_settings={"algorithm": "hyperband", "metric": "val_loss", "automl_max_epochs": 3,
                                         "automl_reduction_factor": 3, "automl_max_recommendations": 6,
                                         "automl_max_concurrent": 3, "poll_interval_s": 0.2},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    # max_epochs=3, eta=3: bracket s=1 (3 configs at 1 epoch, the best promoted to 3), then s=0 (2 at 3 epochs)
    assert result["progress"]["completed"] == 6
    run_dir = Path(result["run_dir"])
    promoted = []
    for h in result["history"]:
        spec = yaml.safe_load((run_dir / "recs" / f"rec_{h['rec_id']:04d}" / "train_spec.yaml").read_text())
        if spec["train"]["resume_training_checkpoint_path"]:
            promoted.append((h, spec))
    assert len(promoted) == 1
    h, spec = promoted[0]
    assert h["status"] == "success" and spec["train"]["num_epochs"] == 3
    assert Path(spec["train"]["resume_training_checkpoint_path"]).is_file()
    assert '"epoch": 1,' not in (Path(h["results_dir"]) / "status.json").read_text()


@pytest.mark.parametrize(("settings", "field", "value", "allowed"), [
    ({"algorithm": "hyperband", "fidelity_mode": "stopping"}, "automl_settings.fidelity_mode", "stopping",
     ["promotion"]),
    ({"algorithm": "pbt", "automl_population_size": 2, "automl_max_epochs": 3, "automl_max_recommendations": 12},
     "automl_settings.automl_max_recommendations", 12, "at most 6 (automl_population_size x automl_max_epochs)"),
])
def test_a_multi_fidelity_setting_error_names_its_field_value_and_what_is_allowed(
        settings: dict[str, Any], field: str, value: Any, allowed: Any) -> None:
    """Both answered `value: null, allowed: null` (pbt's field also lacked `automl_settings.`) while the hint said
    "set the automl_settings key named in field to one of allowed"."""
    conf = AutoMLSettings.from_mapping(settings)
    with pytest.raises(SettingsError) as caught:
        make_brain(conf.algorithm, build_search_space(small_schema()), brain_options(conf.algorithm, conf))
    assert (caught.value.field, caught.value.value, caught.value.allowed) == (field, value, allowed)


def test_a_misspelt_direction_in_a_metric_list_gets_the_close_one() -> None:
    with pytest.raises(SettingsError) as caught:
        AutoMLSettings.from_mapping({"metric": [{"name": "acc", "direction": "maximise"},
                                                {"name": "latency", "direction": "minimize"}]})
    assert caught.value.field == "automl_settings.metric[0].direction"
    assert "did you mean 'maximize'" in str(caught.value)


@pytest.mark.parametrize("algorithm", ["random", "hyperband", "hyperband_es", "asha", "bohb", "dehb", "bfbo", "pbt"])
def test_no_config_is_started_twice_while_untried_ones_remain(tmp_path: Path, algorithm: str) -> None:
    """A 72-config space, 72 recs: dehb trained one suboptimal config from scratch 21 times at one budget and saw 7
    distinct configs (missing the optimum in 5 of 10 seeds); bfbo, bohb, random, hyperband, hyperband_es and pbt
    (its first generation) repeated too. pbt starts only one generation from scratch, so only its no-repeat rule is
    checked."""
    from tao_automl import AutoML

    props = {"a": {"type": "int", "default": 1, "minimum": 0, "maximum": 2},
             "b": {"type": "int", "default": 6, "minimum": 5, "maximum": 7},
             "c": {"type": "categorical", "default": "p", "enum": ["p", "q", "r", "s"]},
             "d": {"type": "bool", "default": False},
             "num_epochs": {"type": "int", "default": 1, "minimum": 1, "maximum": 9}}
    schema = {"automl_default_parameters": [f"train.{k}" for k in "abcd"],
              "properties": {"train": {"type": "collection", "properties": props}}}
    automl = AutoML(tmp_path / "run", search_schema=schema, log_progress=False,
                    settings={"algorithm": algorithm, "metric": "val_loss", "automl_max_recommendations": 72,
                              "automl_max_concurrent": 1, "automl_max_epochs": 9, "seed": 3})
    fresh: list[tuple[Any, ...]] = []
    while not automl.is_complete():
        recs = automl.next_recommendation()
        if not recs:
            break
        for rec in recs:
            p = rec.params
            if rec.trial.get("parent") is None:
                fresh.append(tuple(sorted(p.items())))
            automl.report_result(rec.id, (p["train.a"] - 1) ** 2 + (p["train.b"] - 6) ** 2
                                 + 0.5 * (p["train.c"] == "p") + 0.2 * p["train.d"])
    assert len(fresh) == len(set(fresh)), algorithm
    if algorithm == "pbt":
        assert len(fresh) >= 10  # the whole first generation (automl_population_size) started from scratch
        return
    assert automl.get_best().metric_value == 0.0  # type: ignore[union-attr]


def test_the_last_iteration_runs_its_recs_side_by_side_not_in_one_rec_brackets() -> None:
    """12 recs, 2 slots, max_epochs 9: the two recs left after the first iteration ran in two 1-rec brackets one
    after the other (a slot idle at real job lengths); they are one s=0 bracket of 2 now."""
    from tao_automl.brain.multifidelity.successive_halving import Bracket, fit_brackets

    assert fit_brackets(hyperband_brackets(9, 3), 2, 3) == [Bracket(0, (2,), (9,))]
    assert fit_brackets(hyperband_brackets(9, 3), 12, 3) == [Bracket(2, (4, 1, 1), (1, 3, 9)),
                                                             Bracket(1, (2, 1), (3, 9)), Bracket(0, (1,), (9,))]
    hb = Hyperband(build_search_space(small_schema()), max_epochs=9, eta=3, max_trials=12)
    rng = np.random.default_rng(1)
    trials: dict[int, Trial] = {}
    for trial_id in range(1, 11):  # the first iteration, every result told as it comes
        [trial] = hb.propose([trial_id], {}, rng)
        trials[trial_id] = trial
        hb.observe(trial_id, 1.0 / trial_id, trial.budget)
    tail = hb.propose([11, 12], {}, rng)
    assert [(t.bracket, t.budget, t.parent) for t in tail] == [(3, 9, None), (3, 9, None)]


def test_hyperband_es_first_decision_is_not_certain_on_three_points() -> None:
    """Three epochs fit the three-parameter power law exactly, so the 'uncertainty' was ~0 and z had no effect: a
    curve at 0.72, 0.91, 0.93 (its run's best at 0.98 later) would have been stopped against an incumbent of 0.975
    (values are losses here, -accuracy)."""
    pred, err = extrapolate([1, 2, 3], [-0.7242, -0.9053, -0.9331], 9)
    assert err >= abs(pred - -0.9331)
    assert pred - 2.0 * err < -0.9749  # the default z = 2 keeps it running


@pytest.mark.parametrize("name", ["hyperband", "bohb", "dehb", "bfbo"])
def test_a_bracket_brain_without_a_smaller_budget_is_refused(name: str) -> None:
    """automl_max_epochs below the reduction factor left every bracket one full-budget rec, run one after the other
    (1 in flight of automl_max_concurrent 3), with no word; auto then picks a single-fidelity brain."""
    from tao_automl.brain.auto import choose
    from tao_automl.brain.registry import brain_options, make_brain
    from tao_automl.errors import SettingsError
    from tao_automl.settings import AutoMLSettings

    settings = AutoMLSettings.from_mapping({"algorithm": name, "metric": "val_loss", "automl_max_epochs": 2,
                                            "automl_reduction_factor": 3, "automl_max_recommendations": 30})
    with pytest.raises(SettingsError, match="no smaller budget") as caught:
        make_brain(name, SPACE, brain_options(name, settings))
    assert caught.value.field == "automl_settings.automl_max_epochs" and caught.value.value == 2
    auto = AutoMLSettings.from_mapping({"algorithm": "auto", "metric": "val_loss", "automl_max_epochs": 2,
                                        "auto_multifidelity": True, "automl_max_recommendations": 30})
    assert choose(SPACE, auto)[0] in ("bayesian", "tpe")


def test_a_pbt_best_names_the_checkpoints_it_continued(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pbt's best was shown with its own params only, though its metric was reached by training on from a parent's
    checkpoint (whose epochs ran with the parent's params): status, query_status and the Python result name the
    chain (`best.continued_from`, nearest first), and status text says it."""
    from conftest import small_schema
    from tao_automl import AutoML
    from tao_automl.cli.main import main
    from tao_automl.status import query_status

    ml = AutoML(tmp_path / "run", search_schema=small_schema(), log_progress=False,
                settings={"algorithm": "pbt", "metric": "val_loss", "automl_max_recommendations": 9,
                          "automl_max_epochs": 9, "automl_population_size": 3})
    while not ml.is_complete():
        for rec in ml.next_recommendation():
            ml.report_result(rec.id, rec.params["train.optim.lr"] / (rec.trial or {})["budget"])
    finished = ml.finish()
    status = query_status(str(tmp_path / "run"), recs="all")
    parents = {r["rec_id"]: r["parent"] for r in status["recommendations"]}
    chain, rec = [], status["best"]["rec_id"]
    while parents[rec] is not None:
        rec = parents[rec]
        chain.append(rec)
    assert chain and status["best"]["continued_from"] == chain == finished["best"]["continued_from"]
    assert main(["status", str(tmp_path / "run")]) == 0
    assert f"(trained on from rec {chain[0]}'s checkpoint" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["dehb", "pbt"])
def test_a_best_promoted_without_a_resume_key_trained_from_scratch_and_says_so(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A model with no resume_model key: a promoted rec trains its config from scratch (the run warns once), yet
    `best.continued_from` named its parents and `status` said "trained on from rec N's checkpoint ... its earlier
    epochs ran there", which never happened. Now the chain is empty everywhere (result, status, report data).

    The trainer scores a config better each time it is trained again (a promotion: no resume key, so from epoch 1),
    so the best is a promoted rec whatever order the 4 concurrent jobs end in (short of a fresh rec repeating a
    promoted config exactly): with the config alone deciding, dehb's fresh full-budget recs (Hyperband's last
    bracket) could tie or beat the promoted one, about 1 run in 10 under load."""
    from conftest import write_skill
    from tao_automl.cli.main import main
    from tao_automl.report.data import load_run
    from tao_automl.status import query_status

    trainer = textwrap.dedent("""
        import hashlib, json, math, os, sys, uuid, yaml
        spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
        t, out = spec["train"], spec["results_dir"]
        os.makedirs(out, exist_ok=True)
        config = json.dumps({k: v for k, v in t.items() if k != "num_epochs"}, sort_keys=True)
        trained = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trained",
                               hashlib.sha256(config.encode()).hexdigest())
        os.makedirs(trained, exist_ok=True)
        again = len(os.listdir(trained))  # this config's earlier trainings (a promoted rec's parents)
        for epoch in range(1, t["num_epochs"] + 1):  # no resume key: every rec trains from epoch 1
            loss = (math.log10(t["optim"]["lr"]) + 2) ** 2 + 0.1 * t["layers"] + 1.0 / epoch - 10 * again
            with open(os.path.join(out, "status.json"), "a") as f:
                f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
        open(os.path.join(trained, uuid.uuid4().hex), "w").close()
        """)
    skill = write_skill(tmp_path / "bank", trainer=trainer)  # spec_params has no resume_model role
    result = AutoMLRunner(LocalSDK(jobs_dir=str(tmp_path / "jobs")), skill, log_progress=False).run(
        automl_settings={"algorithm": name, "metric": "val_loss", "automl_max_epochs": 9,
                         "automl_max_recommendations": 13, "automl_population_size": 3, "poll_interval_s": 0.01},
        workspace_path=tmp_path / "ws")
    run_dir = result["run_dir"]
    recs = {r["rec_id"]: r for r in result["recommendations"]}
    best = result["best"]
    assert recs[best["rec_id"]]["parent"] is not None and best["budget_reached"] == 9  # a promoted best
    assert best["continued_from"] == [] == query_status(run_dir)["best"]["continued_from"]
    promoted = [rec_id for rec_id, rec in recs.items() if rec["parent"] is not None]
    assert [load_run(run_dir).continued_from(rec_id) for rec_id in promoted] == [[]] * len(promoted)
    assert main(["status", run_dir]) == 0
    assert "trained on from" not in capsys.readouterr().out


@pytest.mark.parametrize(("name", "epochs", "eta", "mode"), [
    ("asha", 9, 10, "promotion"), ("asha", 1, 3, "promotion"), ("asha", 2, 3, "stopping"),
    ("hyperband_es", 9, 10, "stopping"), ("hyperband_es", 1, 2, "stopping")])
def test_asha_and_hyperband_es_without_a_smaller_budget_are_refused_as_hyperband_is(
        name: str, epochs: int, eta: int, mode: str) -> None:
    """asha trained every rec at the full budget with no parent, hyperband_es stopped none: a random search under
    their name, with no word, while hyperband refused the same settings; now the same refusal (one check)."""
    from tao_automl.brain.registry import brain_options, make_brain
    from tao_automl.errors import SettingsError
    from tao_automl.settings import AutoMLSettings

    settings = AutoMLSettings.from_mapping({"algorithm": name, "metric": "val_loss", "automl_max_epochs": epochs,
                                            "automl_reduction_factor": eta, "fidelity_mode": mode,
                                            "automl_max_recommendations": 12})
    with pytest.raises(SettingsError, match=f"below automl_reduction_factor {eta}, so {name} has no smaller budget"
                       ) as caught:
        make_brain(name, SPACE, brain_options(name, settings))
    assert caught.value.field == "automl_settings.automl_max_epochs" and caught.value.value == epochs
    assert caught.value.allowed == f"an integer >= {eta} (automl_reduction_factor)" and caught.value.hint
    make_brain(name, SPACE, brain_options(name, AutoMLSettings.from_mapping(  # max_epochs == eta: one rung below
        {"algorithm": name, "metric": "val_loss", "automl_max_epochs": eta, "automl_reduction_factor": eta,
         "fidelity_mode": mode, "automl_max_recommendations": 12})))

"""Multi-fidelity benchmark on the YAHPO Gym LCBench surrogate: anytime best validation error against epochs.

Every method gets a budget of ``--fbe`` full-budget equivalents (default 10 x 52 epochs) on each task and seed.
Training is simulated from the surrogate's per-epoch predictions (one batched ONNX call per config gives its
whole learning curve; validation error = 1 - val_accuracy / 100): ``--workers`` slots (default 1) each train
one epoch per tick; a promoted trial resumes its parent's curve; in stopping mode every epoch is reported
through ``report_epoch`` and the trial ends when the scheduler says stop; a trial ends at its budget otherwise,
and every run ends when the epochs are spent. Every trained epoch yields a validation measurement (a real job
logs one per epoch in any mode), so the *anytime best* is the lowest validation error of any trained epoch so
far; regret = anytime best - the task's reference optimum, frozen in ``baselines/lcbench.json`` (the best of
``--draws`` random configs at any epoch and of every value a compared method ever found).

Methods: our multi-fidelity brains through the registry (ASHA in promotion and stopping mode, hyperband, bohb,
dehb, bfbo, pbt, hyperband_es; a name not registered yet is skipped and listed), Optuna TPE with its
Hyperband pruner (if installed), and random search (our ``random`` brain at the full budget).

    .venv/bin/python benchmarks/lcbench.py                        # 6 tasks x 5 seeds
    .venv/bin/python benchmarks/lcbench.py --tasks 3945 --seeds 1 --fbe 2 --methods asha random
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

from tao_automl.brain.trials import Trial, TrialScheduler
from tao_automl.space.search_space import Config, SearchSpace

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "bench-data"
BASELINE = h.BASELINES_DIR / "lcbench.json"
MAX_EPOCHS = 52
TASKS = ["3945", "7593", "34539", "126025", "167104", "189906"]
#: display name -> (registry name, extra settings)
OURS: dict[str, tuple[str, dict[str, Any]]] = {
    "asha": ("asha", {}), "asha_stopping": ("asha", {"fidelity_mode": "stopping"}), "hyperband": ("hyperband", {}),
    "bohb": ("bohb", {}), "dehb": ("dehb", {}), "bfbo": ("bfbo", {}), "pbt": ("pbt", {}),
    "hyperband_es": ("hyperband_es", {"fidelity_mode": "stopping"}), "random": ("random", {}),
}
METHODS = [*OURS, "optuna_hyperband"]
CHECKPOINTS = (1, 2, 5, 10)  # full-budget equivalents at which the anytime regret is tabled
SAVED_EVERY = MAX_EPOCHS // 4  # the JSON keeps each anytime-best curve after every quarter FBE (13, 26, ... epochs)


def saved_epochs(budget: int) -> list[int]:
    """The epoch counts whose anytime best the JSON keeps: every quarter FBE, which holds every tabled checkpoint,
    and the budget (the final value)."""
    return [*range(SAVED_EVERY, budget, SAVED_EVERY), budget]


def yahpo_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import yahpo_gym  # noqa: F401
    except ImportError:
        return False
    return True


class Surrogate:
    """LCBench learning curves of one OpenML task from the YAHPO Gym ONNX surrogate (no ConfigSpace calls)."""

    def __init__(self, data: Path, task: str) -> None:
        import warnings

        from yahpo_gym import benchmark_set, local_config

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local_config.init_config()
            local_config.set_data_path(str(data / "yahpo"))
            self.bench = benchmark_set.BenchmarkSet("lcbench", active_session=True, multithread=False)
        if task not in self.bench.instances:
            raise ValueError(f"--tasks: {task!r} is not an LCBench task; allowed: {', '.join(self.bench.instances)}")
        self.bench.set_session(multithread=False)
        cfg = self.bench.config
        self.cont_names: list[str] = list(cfg.cont_names)
        self.task_code = int(self.bench.encoding[cfg.instance_names][task])
        self.y_index = list(cfg.y_names).index("val_accuracy")
        self.space = h.space_of(self._params())
        self._cache: dict[tuple[Any, ...], np.ndarray] = {}

    def _params(self) -> dict[str, dict[str, Any]]:
        """The surrogate's searchable params (fidelity and task dropped) as schema properties."""
        import warnings

        out: dict[str, dict[str, Any]] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cs = self.bench.get_opt_space(drop_fidelity_params=True)
        for hp in cs.values():
            kind = type(hp).__name__
            if kind == "UniformFloatHyperparameter":
                out[hp.name] = h.real(float(hp.lower), float(hp.upper), log=bool(hp.log))
            elif kind == "UniformIntegerHyperparameter":
                out[hp.name] = h.integer(int(hp.lower), int(hp.upper), log=bool(hp.log))
        return out

    def curve(self, config: Config) -> np.ndarray:
        """Validation error at epochs 1..52 (index 0 = epoch 1)."""
        key = tuple(config[n] for n in sorted(config))
        if key not in self._cache:
            rows = np.array([[float(e) if n == "epoch" else float(config[n]) for n in self.cont_names]
                             for e in range(1, MAX_EPOCHS + 1)], dtype=np.float32)
            cats = np.full((MAX_EPOCHS, 1), self.task_code, dtype=np.int32)
            names = [i.name for i in self.bench.session.get_inputs()]
            out = self.bench.session.run(None, {names[0]: cats, names[1]: rows})[0]
            self._cache[key] = 1.0 - np.asarray(out[:, self.y_index], dtype=float) / 100.0
        return self._cache[key]

    def reference(self, draws: int, seed: int = 52) -> float:
        rng = np.random.default_rng([seed, draws])
        return float(min(self.curve(self.space.sample(rng)).min() for _ in range(draws)))


# -- agents: what proposes trials and decides stops ---------------------------------------------------------------
@dataclass
class Running:
    config: Config
    epoch: int  # last epoch trained
    end: int  # epoch at which the trial ends unless stopped


class Agent:
    """The loop's view of a method."""

    def start(self, slots: int, running: Mapping[int, Running]) -> list[tuple[int, Running]]:
        raise NotImplementedError

    def epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        return False

    def end(self, trial_id: int, value: float, epoch: int) -> None:
        raise NotImplementedError


class SchedulerAgent(Agent):
    """One of our brains through the trial protocol (``numpy.random.default_rng([seed, n_created])`` per ask)."""

    def __init__(self, sched: TrialScheduler, seed: int) -> None:
        self.sched, self.seed = sched, seed
        self.trials: dict[int, Trial] = {}
        self.ends: dict[int, int] = {}

    def start(self, slots: int, running: Mapping[int, Running]) -> list[tuple[int, Running]]:
        created = len(self.trials)
        if self.sched.is_finished(created):
            return []
        ids = list(range(created + 1, created + 1 + slots))
        pending = {i: self.trials[i] for i in running}
        out = []
        for trial_id, trial in zip(ids, self.sched.propose(ids, pending, np.random.default_rng([self.seed, created])),
                                   strict=False):
            self.trials[trial_id] = trial
            start = self.ends.get(trial.parent, 0) if trial.parent is not None else 0
            end = trial.budget if trial.budget is not None else MAX_EPOCHS
            out.append((trial_id, Running(trial.config, start, end)))
        return out

    def epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        return self.sched.mode == "stopping" and self.sched.report_epoch(trial_id, epoch, value)

    def end(self, trial_id: int, value: float, epoch: int) -> None:
        self.ends[trial_id] = epoch
        self.sched.observe(trial_id, value, epoch)


class OptunaAgent(Agent):
    """Optuna TPE with its Hyperband pruner: every trial trains toward the full budget, pruned at rungs."""

    def __init__(self, space: SearchSpace, seed: int, eta: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.dists = h.optuna_distributions(space)
        self.study = optuna.create_study(
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_EPOCHS, reduction_factor=eta))
        self.live: dict[int, Any] = {}
        self.n = 0

    def start(self, slots: int, running: Mapping[int, Running]) -> list[tuple[int, Running]]:
        out = []
        for _ in range(slots):
            self.n += 1
            trial = self.study.ask(self.dists)
            self.live[self.n] = trial
            out.append((self.n, Running(dict(trial.params), 0, MAX_EPOCHS)))
        return out

    def epoch(self, trial_id: int, epoch: int, value: float) -> bool:
        trial = self.live[trial_id]
        trial.report(value, epoch)
        return bool(trial.should_prune())

    def end(self, trial_id: int, value: float, epoch: int) -> None:
        trial = self.live.pop(trial_id)
        state = self.optuna.trial.TrialState
        self.study.tell(trial, value if epoch >= MAX_EPOCHS else None,
                        state=state.COMPLETE if epoch >= MAX_EPOCHS else state.PRUNED)


@dataclass
class Trace:
    best: list[float] = field(default_factory=list)  # anytime best after each consumed epoch
    trials: int = 0


def simulate(agent: Agent, curve: Callable[[Config], np.ndarray], budget: int, workers: int) -> Trace:
    """Run ``agent`` until ``budget`` epochs are consumed (or its schedule ends); see the module doc."""
    trace, best = Trace(), math.inf
    running: dict[int, Running] = {}
    while len(trace.best) < budget:
        if len(running) < workers:
            for trial_id, run in agent.start(workers - len(running), running):
                running[trial_id] = run
                trace.trials += 1
        if not running:
            break  # the schedule is over (or waits for results that can never come)
        for trial_id in sorted(running):
            if len(trace.best) >= budget:
                break
            run = running[trial_id]
            run.epoch += 1
            value = float(curve(run.config)[run.epoch - 1])
            best = min(best, value)
            trace.best.append(best)
            stop = agent.epoch(trial_id, run.epoch, value)
            if stop or run.epoch >= run.end:
                agent.end(trial_id, value, run.epoch)
                del running[trial_id]
    trace.best += [best] * (budget - len(trace.best))  # a schedule that ended early keeps its best
    return trace


def make_agent(method: str, space: SearchSpace, seed: int, eta: int) -> Agent:
    if method == "optuna_hyperband":
        return OptunaAgent(space, seed, eta)
    name, extra = OURS[method]
    # the run ends when its epochs are spent; pbt refuses more recs than population x epochs can run
    recs = 10_000 if name != "pbt" else int(extra.get("automl_population_size", 10)) * MAX_EPOCHS
    conf = h.settings(name, seed, automl_max_recommendations=recs, automl_max_epochs=MAX_EPOCHS,
                      automl_reduction_factor=eta, **extra)
    return SchedulerAgent(h.scheduler(name, space, conf, iterations=100), seed)


def load_baseline(path: Path) -> dict[str, dict[str, float]]:
    data: dict[str, dict[str, float]] = json.loads(path.read_text())["tasks"] if path.exists() else {}
    return data


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the bench-data folder (holds yahpo/lcbench)")
    ap.add_argument("--tasks", nargs="+", default=TASKS, help="OpenML task ids of LCBench")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fbe", type=float, default=10.0, help="budget in full-budget equivalents (x 52 epochs)")
    ap.add_argument("--workers", type=int, default=1, help="trials trained at the same time")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--draws", type=int, default=5000, help="random configs for the reference optimum")
    ap.add_argument("--freeze", action="store_true", help="update baselines/lcbench.json from this run")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    ap.add_argument("--out", type=Path, default=h.RESULTS_DIR / "lcbench.json")
    args = ap.parse_args(argv)
    if not yahpo_available():
        raise SystemExit("lcbench.py needs the packages yahpo-gym and onnxruntime (the bench extra)")
    if not (args.data / "yahpo" / "lcbench").is_dir():
        raise SystemExit(f"--data: {str(args.data)!r} holds no yahpo/lcbench folder; pass the bench-data folder")

    registered, _ = h.registered(sorted({OURS[m][0] for m in args.methods if m in OURS}))
    methods = [m for m in args.methods
               if (m in OURS and OURS[m][0] in registered) or (m == "optuna_hyperband" and h.optuna_available())]
    skipped = [m for m in args.methods if m not in methods]
    if skipped:
        print(f"skipped (not registered / not installed): {', '.join(skipped)}")
    budget = round(args.fbe * MAX_EPOCHS)
    baseline = load_baseline(args.baseline)
    traces: dict[str, dict[str, list[list[float]]]] = {m: {} for m in methods}
    trials: dict[str, dict[str, list[int]]] = {m: {} for m in methods}
    timing: dict[str, float] = dict.fromkeys(methods, 0.0)
    for task in args.tasks:
        sur = Surrogate(args.data, task)
        if args.freeze or task not in baseline:
            baseline.setdefault(task, {})["reference"] = min(baseline.get(task, {}).get("reference", math.inf),
                                                             sur.reference(args.draws))
        for method in methods:
            t0 = time.perf_counter()
            runs = [simulate(make_agent(method, sur.space, seed, args.eta), sur.curve, budget, args.workers)
                    for seed in range(args.seeds)]
            timing[method] += time.perf_counter() - t0
            traces[method][task] = [r.best for r in runs]
            trials[method][task] = [r.trials for r in runs]
        if args.freeze:
            found = min(t[-1] for m in methods for t in traces[m][task])
            baseline[task]["reference"] = min(baseline[task]["reference"], found)
        print(f"  task {task} done", flush=True)
    if args.freeze or any(t not in load_baseline(args.baseline) for t in args.tasks):
        h.write_json(args.baseline, {"protocol": "LCBench surrogate, min validation error over epochs 1..52",
                                     "updated": h.machine()["date"], "tasks": baseline})

    def regret(m: str, epochs: int) -> list[float]:
        return [t[epochs - 1] - baseline[task]["reference"] for task in args.tasks for t in traces[m][task]]

    marks = [c for c in CHECKPOINTS if c * MAX_EPOCHS <= budget] or [args.fbe]
    summary = {m: {"median_final_regret": float(np.median(regret(m, budget))),
                   "mean_final_regret": float(np.mean(regret(m, budget))),
                   "median_regret_at": {str(c): float(np.median(regret(m, round(c * MAX_EPOCHS))))
                                        for c in marks},
                   "per_task_median_final": {t: float(np.median([x[-1] - baseline[t]["reference"]
                                                                 for x in traces[m][t]])) for t in args.tasks},
                   "mean_trials": float(np.mean([n for t in args.tasks for n in trials[m][t]])),
                   "seconds": timing[m]} for m in methods}
    rows = [[m, *[summary[m]["median_regret_at"][str(c)] for c in marks], summary[m]["median_final_regret"],
             summary[m]["mean_final_regret"], summary[m]["mean_trials"]]
            for m in sorted(methods, key=lambda m: summary[m]["median_final_regret"])]
    print(f"\nLCBench surrogate: validation-error regret ({len(args.tasks)} tasks x {args.seeds} seeds, "
          f"{args.fbe:g} full-budget equivalents, {args.workers} worker(s); lower is better)")
    print(h.table(["method", *[f"median @{c:g} FBE" for c in marks], "median final", "mean final", "trials"], rows))
    out = {"benchmark": "lcbench", "machine": h.machine(), "tasks": args.tasks, "seeds": args.seeds,
           "fbe": args.fbe, "workers": args.workers, "eta": args.eta, "skipped": skipped, "summary": summary,
           "reference": {t: baseline[t]["reference"] for t in args.tasks},
           "anytime_epochs": saved_epochs(budget),
           "anytime_best": {m: {t: [[x[e - 1] for e in saved_epochs(budget)] for x in v] for t, v in tr.items()}
                            for m, tr in traces.items()}}
    h.write_json(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()

"""Multi-objective sweeps: the metric-list shape, Pareto front (vs brute force), knee and weighted pick,
ParEGO through every supported brain, a real sweep through AutoMLRunner + LocalSDK, and the CLI's JSON."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import small_schema, write_skill
from tao_automl.cli.main import main
from tao_automl.errors import SettingsError
from tao_automl.experiment.core import Experiment
from tao_automl.experiment.lines import format_metric
from tao_automl.export.run_data import load_run
from tao_automl.multiobjective.pareto import dominates, hypervolume_2d, knee, layers, pareto_front, weighted_pick
from tao_automl.platforms.local import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.runner.plan import search_space
from tao_automl.settings import AutoMLSettings
from tao_automl.status import query_status

TWO = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "model_size", "direction": "minimize"}]

#: Reports two metrics in status.json: accuracy (up) peaks at lr=1e-2; size (down) grows with layers.
TWO_METRIC_TRAINER = textwrap.dedent(
    """
    import json, math, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    t = spec["train"]
    os.makedirs(spec["results_dir"], exist_ok=True)
    acc = 1.0 - 0.05 * (math.log10(t["optim"]["lr"]) + 2) ** 2 + 0.02 * t["layers"]
    size = 1000 * t["layers"] + (50 if t["act"] == "gelu" else 0)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "status": "RUNNING", "kpi": {"val_accuracy": acc, "model_size": size}}) + "\\n")
    open(os.path.join(spec["results_dir"], "model.pth"), "w").write("weights")
    """
)


def _brute_front(points: dict[int, tuple[float, ...]]) -> list[int]:
    return sorted(i for i, p in points.items() if not any(dominates(q, p) for j, q in points.items() if j != i))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(1, 60), st.tuples(*[st.integers(0, 6)] * 3), max_size=25))
def test_pareto_front_equals_brute_force(points: dict[int, tuple[int, int, int]]) -> None:
    floats = {k: tuple(float(x) for x in v) for k, v in points.items()}
    assert pareto_front(floats) == _brute_front(floats)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(1, 60), st.tuples(*[st.integers(0, 4)] * 2), max_size=20))
def test_nondominated_layers_peel_fronts(points: dict[int, tuple[int, int]]) -> None:
    floats = {k: (float(a), float(b)) for k, (a, b) in points.items()}
    depth = layers(floats)
    assert set(depth) == set(floats)
    assert sorted(k for k, d in depth.items() if d == 0) == _brute_front(floats)
    for k, d in depth.items():  # a point on layer d > 0 is dominated by one on layer d - 1, by none on its own
        same = {j: floats[j] for j, e in depth.items() if e == d}
        assert k in _brute_front(same)
        assert d == 0 or any(dominates(floats[j], floats[k]) for j, e in depth.items() if e == d - 1)


def test_knee_is_nearest_the_ideal_point_and_weights_pick_along_the_front() -> None:
    points = {1: (0.0, 10.0), 2: (1.0, 3.0), 3: (4.0, 1.0), 4: (10.0, 0.0), 5: (5.0, 5.0)}  # 5 is dominated by 3
    assert pareto_front(points) == [1, 2, 3, 4]
    # scaled over the front: 2 -> (0.1, 0.3), 3 -> (0.4, 0.1): 2 is nearer (0, 0)
    assert knee(points) == 2
    assert weighted_pick(points, [1.0, 0.0]) == 1 and weighted_pick(points, [0.0, 1.0]) == 4
    assert weighted_pick(points, [1.0, 3.0]) == 3  # 0.4 + 0.3 = 0.7 beats 2's 0.1 + 0.9
    assert knee({}) is None and knee({7: (1.0, 1.0), 3: (1.0, 1.0)}) == 3  # ties: lowest id


def test_a_metric_left_out_of_metric_weights_weighs_0_as_name_0_would() -> None:
    """README: "a metric left out of `metric_weights` weighs 0: it does not count in the pick, as `{name: 0}` would"."""
    from tao_automl.multiobjective.view import front_fields

    objectives = [{"name": "val_accuracy", "direction": "maximize"}, {"name": "model_size", "direction": "minimize"}]
    values = {1: {"val_accuracy": 0.9, "model_size": 900.0}, 2: {"val_accuracy": 0.8, "model_size": 300.0},
              3: {"val_accuracy": 0.6, "model_size": 100.0}}

    def pick(weights: dict[str, float]) -> Any:
        return front_fields(values, {"settings": {"objectives": objectives, "metric_weights": weights}})["best_rec_id"]

    assert pick({"model_size": 1}) == pick({"model_size": 1, "val_accuracy": 0}) == 3
    assert pick({"val_accuracy": 1}) == pick({"val_accuracy": 1, "model_size": 0}) == 1


def test_hypervolume_2d_sums_the_dominated_staircase() -> None:
    assert hypervolume_2d([(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)], (4.0, 4.0)) == pytest.approx(3 + 2 + 1)
    assert hypervolume_2d([(2.0, 2.0), (5.0, 0.0)], (4.0, 4.0)) == pytest.approx(4.0)  # beyond the reference: 0
    assert hypervolume_2d([(2.0, 2.0), (3.0, 3.0)], (4.0, 4.0)) == pytest.approx(4.0)  # dominated adds nothing


def test_a_metric_list_becomes_metric_direction_and_objectives() -> None:
    conf = AutoMLSettings.from_mapping({"metric": TWO, "metric_weights": {"val_accuracy": 2, "model_size": 1}})
    assert (conf.metric, conf.direction, conf.objectives) == ("val_accuracy", "maximize", TWO)
    assert AutoMLSettings.from_mapping(conf.to_dict()) == conf  # the stored form reads back (resume)
    single = AutoMLSettings.from_mapping({"metric": [{"name": "val_loss", "direction": "minimize"}]})
    assert single == AutoMLSettings.from_mapping({"metric": "val_loss", "direction": "minimize"})


BAD_SHAPES = [
    ({"metric": []}, "automl_settings.metric", "a list of {name"),
    ({"metric": [{"name": "a", "direction": "up"}, {"name": "b", "direction": "minimize"}]},
     "automl_settings.metric[0].direction", "'minimize', 'maximize'"),
    ({"metric": [{"name": "a", "direction": "maximize"}, {"name": "b"}]}, "automl_settings.metric[1].direction",
     "'minimize', 'maximize'"),
    ({"metric": [{"name": "a", "direction": "maximize"}, {"name": "a", "direction": "minimize"}]},
     "automl_settings.metric[1].name", "is listed twice"),
    ({"metric": [{"name": "a", "direction": "maximize", "goal": 1}, {"name": "b", "direction": "minimize"}]},
     "automl_settings.metric[0].goal", "'name', 'direction'"),
    ({"metric": ["a", "b"]}, "automl_settings.metric[0]", "a mapping"),
    # a mapping instead of a name or a list: `allowed` names both forms (it said "a non-empty string" alone)
    ({"metric": {"name": "val_accuracy"}}, "automl_settings.metric", "or a list of {name, direction} entries"),
    ({"metric": TWO, "direction": "maximize"}, "automl_settings.direction", "cannot be combined"),
    ({"metric": TWO, "algorithm": "asha"}, "automl_settings.algorithm", "'bayesian', 'random', 'tpe', 'auto'"),
    ({"metric": TWO, "metric_weights": {"latency": 1}}, "automl_settings.metric_weights.latency",
     "'val_accuracy', 'model_size'"),
    ({"metric": TWO, "metric_weights": {"val_accuracy": -1}}, "automl_settings.metric_weights.val_accuracy",
     ">= 0"),
    ({"metric": "val_loss", "metric_weights": {"val_loss": 1}}, "automl_settings.metric_weights",
     "needs a multi-objective metric"),
    # README: "at least one weight must be above 0" (a metric left out weighs 0, as {name: 0} would)
    ({"metric": TWO, "metric_weights": {"val_accuracy": 0}}, "automl_settings.metric_weights",
     "at least one weight > 0"),
    ({"metric": TWO, "metric_weights": {"val_accuracy": 0, "model_size": 0.0}}, "automl_settings.metric_weights",
     "at least one weight > 0"),
]


def test_the_readme_error_line() -> None:
    with pytest.raises(SettingsError, match=r"^automl_settings\.metric\[1\]\.direction: 'up' is not allowed; "
                       r"allowed: \['minimize', 'maximize'\]$"):
        AutoMLSettings.from_mapping({"metric": [TWO[0], {"name": "latency_ms", "direction": "up"}]})


@pytest.mark.parametrize("entry", [{"name": "latency_ms"}, {"name": "latency_ms", "direction": None}])
def test_an_entry_without_a_direction_says_it_is_missing(entry: dict[str, Any]) -> None:
    """A list entry with no direction said "automl_settings.metric[1].direction: None is not allowed", as if None
    had been written; it says the direction is missing, naming the entry and the allowed values (a name too)."""
    with pytest.raises(SettingsError, match=r"^automl_settings\.metric\[1\]\.direction is missing \(entry \{'name': "
                       r"'latency_ms'.*\}\); allowed: \['minimize', 'maximize'\]$") as caught:
        AutoMLSettings.from_mapping({"metric": [TWO[0], entry]})
    assert "None" not in str(caught.value).split("(entry")[0]
    with pytest.raises(SettingsError, match=r"^automl_settings\.metric\[0\]\.name is missing \(entry "
                       r"\{'direction': 'maximize'\}\); allowed: a non-empty metric name$"):
        AutoMLSettings.from_mapping({"metric": [{"direction": "maximize"}, TWO[1]]})


@pytest.mark.parametrize(("raw", "field", "allowed"), BAD_SHAPES)
def test_bad_shapes_name_field_value_and_allowed(raw: dict[str, Any], field: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        AutoMLSettings.from_mapping(raw)
    assert caught.value.field == field and allowed in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def _config(tmp_path: Path, skill: Path, **settings_: Any) -> Path:
    config = {
        "skill_dir": str(skill), "workspace_path": "ws",
        "automl_settings": {"metric": TWO, "automl_max_recommendations": 4, "automl_max_concurrent": 2,
                            "poll_interval_s": 0.3, "algorithm": "random", **settings_},
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
        "platform_kwargs": {"gpu_count": 0},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(("raw", "field", "allowed"), BAD_SHAPES[:3] + BAD_SHAPES[6:8])
def test_cli_refuses_a_bad_shape_before_anything_is_created(tmp_path: Path, raw: dict[str, Any], field: str,
                                                            allowed: str, capsys: pytest.CaptureFixture[str]) -> None:
    skill = write_skill(tmp_path / "bank", trainer=TWO_METRIC_TRAINER)
    code = main(["run", str(_config(tmp_path, skill, **raw))])
    err = capsys.readouterr().err
    assert code == 2 and field in err and allowed in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ws").exists() and not (tmp_path / "jobs").exists()


def _user_values(rows: list[dict[str, Any]], run_dir: Path) -> dict[int, dict[str, float]]:
    """Each successful rec's two metrics, read back from the status.json its job wrote."""
    out = {}
    for row in rows:
        if row["status"] == "success":
            kpi = json.loads((Path(row["results_dir"]) / "status.json").read_text().splitlines()[-1])["kpi"]
            out[row["rec_id"]] = {k: float(v) for k, v in kpi.items()}
    return out


def test_a_real_two_metric_sweep_reports_the_front_and_its_knee(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=TWO_METRIC_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    result = runner.run(automl_settings={"metric": TWO, "algorithm": "bayesian", "automl_max_recommendations": 8,
                                         "automl_max_concurrent": 2, "seed": 3, "poll_interval_s": 0.3,
                                         "automl_delete_intermediate_ckpt": True},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    values = _user_values(result["recommendations"], run_dir)
    assert len(values) == 8
    points = {i: (-v["val_accuracy"], v["model_size"]) for i, v in values.items()}
    front = result["pareto_front"]
    assert [p["rec_id"] for p in front] == _brute_front(points)
    kept = {r["rec_id"] for r in result["recommendations"] if (Path(r["results_dir"]) / "model.pth").is_file()}
    assert kept == set(_brute_front(points)) and len(kept) < 8  # the clean-up keeps the front's checkpoints
    assert all(p["values"] == values[p["rec_id"]] for p in front)
    progress = result["progress"]
    assert progress["pareto_front"] == front and progress["best_by"] == "knee"
    assert result["best"]["rec_id"] == progress["best_rec_id"] == knee(points)
    assert result["best"]["metric_values"] == values[knee(points)]  # type: ignore[index]
    assert result["best"]["metric_value"] == values[knee(points)]["val_accuracy"]  # type: ignore[index]
    ranked = [r["rec_id"] for r in sorted((r for r in result["recommendations"] if r["rank"]),
                                          key=lambda r: r["rank"])]
    depth = layers(points)  # the front first (its knee first), then each later layer; accuracy within each
    assert ranked == sorted(values, key=lambda i: (i != knee(points), depth[i], -values[i]["val_accuracy"], i))

    assert load_run(run_dir).summary["best"]["rec_id"] == knee(points)  # export --best, report
    status = query_status(run_dir)  # another process's view agrees
    assert status["pareto_front"] == front and status["best"]["rec_id"] == result["best"]["rec_id"]
    assert status["progress"]["pareto_front"] == front

    reopened = Experiment.open(run_dir)  # resume replays the values from the store
    try:
        assert reopened.summary()["pareto_front"] == front and reopened.progress()["pareto_front"] == front
    finally:
        reopened.close()


def test_status_top_view_lists_the_front_first_with_the_best_pick_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The top view ranked by the first metric only, so `status --top 3` left out the run's best (the front's knee)
    and part of the front: recs 1, 2, 3 were listed while best was rec 4. It now lists the front first, the pick
    first, then the later nondominated layers (the first metric's order within each); every view ranks alike."""
    space = search_space(small_schema(), AutoMLSettings(), None, None)
    conf = AutoMLSettings.from_mapping({"metric": TWO, "algorithm": "random", "automl_max_recommendations": 6})
    exp = Experiment.create(tmp_path, space, conf, "maximize", {}, {"mode": "ask_tell"})
    told = [(0.9, 10.0), (0.85, 9.0), (0.8, 8.0), (0.5, 1.0), (0.3, 0.5), (0.7, 9.5)]  # rec 6: rec 2 beats it
    for accuracy, size in told:
        rec = exp.ask(1)[0]
        exp.tell(rec.id, accuracy, "success", values={"val_accuracy": accuracy, "model_size": size})
    summary = exp.summary()
    exp.close("finished")
    order = [4, 1, 2, 3, 5, 6]  # knee 4, the rest of the front by accuracy, then rec 6 (layer 1)
    assert summary["best"]["rec_id"] == 4 and [p["rec_id"] for p in summary["pareto_front"]] == [1, 2, 3, 4, 5]
    assert {r["rec_id"]: r["rank"] for r in summary["recommendations"]} == {i: order.index(i) + 1 for i in order}
    top = query_status(tmp_path, top=3)
    assert [r["rec_id"] for r in top["recommendations"]] == [4, 1, 2]
    assert [r["rank"] for r in top["recommendations"]] == [1, 2, 3]
    assert "Pareto front" in top["progress"]["ranked_by"]
    every = query_status(tmp_path, recs="all")
    assert {r["rec_id"]: r["rank"] for r in every["recommendations"]} == {i: order.index(i) + 1 for i in order}
    assert main(["status", str(tmp_path), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[1]) for line in lines[2:5]] == [4, 1, 2]


@pytest.mark.parametrize("algorithm", ["random", "tpe", "bayesian"])
def test_parego_drives_each_brain_and_a_resume_proposes_the_same(tmp_path: Path, algorithm: str) -> None:
    """Ask/tell with vectors: a run stopped after 5 recs and reopened proposes what an uninterrupted run does."""
    space = search_space(small_schema(), AutoMLSettings(), None, None)
    conf = AutoMLSettings.from_mapping({"metric": TWO, "algorithm": algorithm, "automl_max_recommendations": 9,
                                        "seed": 1, "metric_weights": {"model_size": 1}})

    def values(params: dict[str, Any]) -> dict[str, float]:
        return {"val_accuracy": -abs(math.log10(params["train.optim.lr"]) + 2), "model_size": params["train.layers"]}

    def sweep(name: str, stop_after: int | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        (tmp_path / name).mkdir()
        exp = Experiment.create(tmp_path / name, space, conf, "maximize", {}, {"mode": "ask_tell"})
        asked = []
        while not exp.is_complete():
            if stop_after is not None and len(asked) == stop_after:
                exp.close("interrupted")
                exp, stop_after = Experiment.open(tmp_path / name), None
            rec = exp.ask(1)[0]
            asked.append(rec.params)
            bad = rec.id == 2  # one failure: the brain learns it as a failure
            exp.tell(rec.id, None, "failure" if bad else "success", values=None if bad else values(rec.params))
        summary = exp.summary()
        exp.close("finished")
        return asked, summary

    straight, summary = sweep("a", None)
    resumed, _ = sweep("b", 5)
    assert straight == resumed
    assert all(space.contains(c) for c in straight)
    assert summary["progress"]["best_by"] == "metric_weights"
    sizes = [p["values"]["model_size"] for p in summary["pareto_front"]]
    assert summary["best"]["metric_values"]["model_size"] == min(sizes)  # weights only on size


def test_a_missing_second_metric_fails_the_rec_naming_it(tmp_path: Path) -> None:
    space = search_space(small_schema(), AutoMLSettings(), None, None)
    conf = AutoMLSettings.from_mapping({"metric": TWO, "algorithm": "random", "automl_max_recommendations": 2})
    exp = Experiment.create(tmp_path, space, conf, "maximize", {}, {"mode": "ask_tell"})
    rec = exp.ask(1)[0]
    row = exp.tell(rec.id, 0.9, values={"val_accuracy": 0.9})
    assert row.status == "failure" and row.message is not None and "'model_size'" in row.message
    assert exp.summary()["pareto_front"] == [] and exp.summary()["best"] is None
    exp.close("finished")


def test_cli_run_and_status_json_carry_the_front(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=TWO_METRIC_TRAINER)
    done = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "run", str(_config(tmp_path, skill)),
                           "--json"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    ran = json.loads(done.stdout)
    assert ran["pareto_front"] and ran["progress"]["pareto_front"] == ran["pareto_front"]
    status = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "status", ran["run_dir"], "--json"],
                            capture_output=True, text=True, timeout=120)
    data = json.loads(status.stdout)
    assert data["pareto_front"] == ran["pareto_front"]
    assert data["best"]["rec_id"] == ran["best"]["rec_id"] and "val_accuracy" in data["best"]["metric_values"]
    # README lists best_budget among progress's fields: the pick's epochs (it was always null with a metric list)
    assert data["best"]["budget"] is not None
    assert data["progress"]["best_budget"] == data["best"]["budget"] == ran["progress"]["best_budget"]
    # every rec shows every metric (JSON, status --recs all, the text table, the CSV), as its job wrote them
    for rec in ran["recommendations"]:
        params = rec["params"]
        size = 1000 * params["train.layers"] + (50 if params["train.act"] == "gelu" else 0)
        assert rec["metric_values"] == {"val_accuracy": rec["metric_value"], "model_size": size}, rec
    every = json.loads(subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "status", ran["run_dir"], "--json",
                                       "--recs", "all"], capture_output=True, text=True, timeout=120).stdout)
    shown = [r["metric_values"] for r in every["recommendations"]]
    assert shown == [r["metric_values"] for r in ran["recommendations"]]
    text = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "status", ran["run_dir"]],
                          capture_output=True, text=True, timeout=120).stdout
    header = text.splitlines()[0]
    assert header.index("val_accuracy") < header.index("model_size") < header.index("params"), header
    front = ", ".join(str(p["rec_id"]) for p in ran["pareto_front"])
    assert "objectives: val_accuracy (maximize), model_size (minimize); Pareto front: rec(s) " + front in text
    table = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "export", ran["run_dir"], "--csv"],
                           capture_output=True, text=True, timeout=120).stdout
    rows = list(csv.DictReader(table.splitlines()))
    assert [float(r["model_size"]) for r in rows] == [r["metric_values"]["model_size"] for r in ran["recommendations"]]
    best_spec = Path(ran["run_dir"]).parent / "best_spec.yaml"  # export --best names every metric of the pick
    wrote = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "export", ran["run_dir"], "--best", "-o",
                            str(best_spec)], capture_output=True, text=True, timeout=120)
    assert wrote.returncode == 0, wrote.stderr
    values = ran["best"]["metric_values"]
    assert f"val_accuracy={format_metric(values['val_accuracy'])}, model_size={format_metric(values['model_size'])}" \
        in wrote.stdout, wrote.stdout


class _Recorder:
    """A brain that records what it observes and proposes a fixed config."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], float | None]] = []

    def suggest(self, n: int, pending: Any, rng: Any) -> list[dict[str, Any]]:
        return [{"i": 0}] * n

    def observe(self, config: dict[str, Any], value: float | None) -> None:
        self.seen.append((config, value))


@pytest.mark.parametrize("layered", [False, True])
def test_scalarisation_is_chebyshev_and_tpe_puts_the_front_below_1(layered: bool) -> None:
    import numpy as np

    from tao_automl.brain.trials import Trial
    from tao_automl.multiobjective.parego import ParEGOScheduler

    brains: list[_Recorder] = []
    sched = ParEGOScheduler(lambda: brains.append(_Recorder()) or brains[-1], 2, 10, layered=layered)
    for i, vector in enumerate([(0.0, 4.0), (4.0, 0.0), (3.0, 3.0), (4.0, 4.0)], start=1):
        sched.restore(i, Trial(config={"i": i}))
        sched.observe_vector(i, vector)
    sched.restore(5, Trial(config={"i": 5}))
    sched.observe_vector(5, None)
    sched.propose([6], {}, np.random.default_rng(0))
    scalars = {c["i"]: v for c, v in brains[-1].seen}
    assert scalars[5] is None and scalars[4] == max(v for v in scalars.values() if v is not None)
    if layered:  # layers: {1, 2, 3} front, 4 the next
        assert all(scalars[i] < 1 for i in (1, 2, 3)) and 1 <= scalars[4] < 2  # type: ignore[operator]
    else:  # (4, 4) scales to (1, 1): max_j w_j + 0.05 * sum_j w_j = max_j w_j + 0.05, in [0.55, 1.05]
        assert all(0 <= scalars[i] <= 1.05 for i in (1, 2, 3))  # type: ignore[operator]
        assert 0.55 <= scalars[4] <= 1.05  # type: ignore[operator]


def test_ask_tell_api_takes_values_and_get_best_is_the_knee(tmp_path: Path) -> None:
    from tao_automl.automl import AutoML
    from tao_automl.errors import UserInputError

    automl = AutoML(workspace=tmp_path / "run", network="toy", search_schema=small_schema(),
                    settings={"metric": TWO, "algorithm": "tpe", "automl_max_recommendations": 6, "seed": 2})
    seen: dict[int, tuple[float, float]] = {}
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            acc, size = -abs(math.log10(rec.params["train.optim.lr"]) + 2), float(rec.params["train.layers"])
            seen[rec.id] = (-acc, size)
            automl.report_result(rec.id, None, values={"val_accuracy": acc, "model_size": size})
    best = automl.get_best()
    assert best is not None and best.id == knee(seen)
    # get_best() left metric_values None though the best is a successful multi-objective rec (status has them)
    assert best.metric_values == {"val_accuracy": -seen[best.id][0], "model_size": seen[best.id][1]}
    assert [p["rec_id"] for p in automl.get_status()["pareto_front"]] == pareto_front(seen)
    with pytest.raises(UserInputError, match=r"^values: "):
        automl.report_result(1, None, values={"val_accuracy": "high"})  # type: ignore[dict-item]
    automl.finish()


def test_report_runs_and_trackers_name_the_fronts_pick_not_the_first_metrics_best(tmp_path: Path) -> None:
    """Three recs: 1 has the best accuracy but is huge, 3 is tiny but poor, 2 is the knee. Status said rec 2; the
    report's header and highlighted row, `runs` and the trackers (RunData.best) said rec 1."""
    from tao_automl.automl import AutoML
    from tao_automl.export.runs import list_runs
    from tao_automl.report.data import load_run as report_data
    from tao_automl.report.html import _header, _ranked_table

    automl = AutoML(workspace=tmp_path / "ws" / "run_1", network="toy", search_schema=small_schema(),
                    settings={"metric": TWO, "algorithm": "random", "automl_max_recommendations": 3})
    values = {1: (0.99, 100.0), 2: (0.95, 10.0), 3: (0.50, 1.0)}
    for rec in automl.next_recommendation():  # default concurrency 4: all three at once
        acc, size = values[rec.id]
        automl.report_result(rec.id, None, values={"val_accuracy": acc, "model_size": size})
    assert automl.get_status()["best"]["rec_id"] == 2
    automl.finish()
    data = report_data(tmp_path / "ws" / "run_1")
    best = data.best()
    assert best is not None and best.rec_id == 2
    table = _ranked_table(data)
    assert "<tr class=best data-rec=2>" in table
    # a column per metric and the front marked (the table had the first metric's column alone)
    assert "<th>val_accuracy</th><th>model_size</th><th>Pareto front</th>" in table
    assert "<td>success</td><td class=num>0.95</td><td class=num>10</td><td>yes</td>" in table
    header = _header(data)
    assert "best: <b>rec 2: val_accuracy = 0.95, model_size = 10 (knee)" in header
    # a figure of the front itself (the report plotted the first metric alone)
    import plotly.graph_objects as go

    from tao_automl.report.html import _pareto

    figure, note = _pareto(go, data)
    traces = {trace.name: trace for trace in figure.data}
    front_trace = traces["Pareto front"]
    assert list(front_trace.x) == [0.5, 0.95, 0.99] and list(front_trace.y) == [1.0, 10.0, 100.0], front_trace
    assert list(traces["best: rec 2 (knee)"].x) == [0.95] and note == ""
    assert figure.layout.xaxis.title.text == "val_accuracy" and figure.layout.yaxis.title.text == "model_size"
    from tao_automl.report.html import write_html_report

    page = write_html_report(data, tmp_path / "report.html").read_text()
    assert page.index("data-plot=pareto") < page.index("data-plot=convergence")
    assert "Pareto front: <b>recs 1, 2, 3" in header
    listed = list_runs(tmp_path / "ws")[0]
    assert listed["best_rec_id"] == 2 and listed["best_metric"] == 0.95
    # `runs`, the live line and the agent's best_config named the first metric alone, so the knee read as a worse
    # pick than rec 1's accuracy: each now names the objectives and the pick
    assert listed["best_values"] == {"val_accuracy": 0.95, "model_size": 10.0} and listed["best_by"] == "knee"
    from tao_automl.agentapi.tools import best_config
    from tao_automl.experiment.lines import progress_line

    picked = best_config(str(tmp_path / "ws" / "run_1"))
    assert picked["metric"] == ["val_accuracy", "model_size"] and picked["best_by"] == "knee"
    assert [p["rec_id"] for p in picked["pareto_front"]] == [1, 2, 3] and "direction" not in picked
    line = progress_line(automl.get_status()["progress"])
    assert "best val_accuracy=0.95, model_size=10 (rec 2, the Pareto front's knee)" in line


def test_optuna_export_of_a_two_metric_run_is_a_multi_objective_study_whose_best_trials_are_the_front(
        tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    skill = write_skill(tmp_path / "bank", trainer=TWO_METRIC_TRAINER)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"metric": TWO, "algorithm": "random", "automl_max_recommendations": 6,
                         "automl_max_concurrent": 3, "seed": 5, "poll_interval_s": 0.2},
        workspace_path=tmp_path / "ws", gpu_count=0)
    values = _user_values(result["recommendations"], Path(result["run_dir"]))
    assert len(values) == 6 and len(result["pareto_front"]) >= 2
    journal = tmp_path / "study.log"
    assert main(["export", result["run_dir"], "--optuna", str(journal)]) == 0
    study = optuna.load_study(study_name=Path(result["run_dir"]).name,
                              storage=JournalStorage(JournalFileBackend(str(journal))))
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert study.user_attrs["metrics"] == ["val_accuracy", "model_size"]
    for trial in study.get_trials(deepcopy=False):
        rec_id = trial.user_attrs["rec_id"]
        assert trial.state.name == "COMPLETE"
        assert trial.values == [values[rec_id]["val_accuracy"], values[rec_id]["model_size"]]
    assert {t.user_attrs["rec_id"] for t in study.best_trials} == {p["rec_id"] for p in result["pareto_front"]}


def test_the_report_table_ranks_recs_as_status_does_front_first(tmp_path: Path) -> None:
    """Rec 4 (0.97, 200) is dominated by rec 1 (0.99, 100): status ranks it 4th, after the front (2, 1, 3). The
    report's table ranked by the first metric alone and showed it 2nd, rank 2, against status's rank 4."""
    import re

    from tao_automl.automl import AutoML
    from tao_automl.report.data import load_run as report_data
    from tao_automl.report.html import _ranked_table

    automl = AutoML(workspace=tmp_path / "ws" / "run_1", network="toy", search_schema=small_schema(),
                    settings={"metric": TWO, "algorithm": "random", "automl_max_recommendations": 4})
    values = {1: (0.99, 100.0), 2: (0.95, 10.0), 3: (0.50, 1.0), 4: (0.97, 200.0)}
    for rec in automl.next_recommendation():  # default concurrency 4: all four at once
        acc, size = values[rec.id]
        automl.report_result(rec.id, None, values={"val_accuracy": acc, "model_size": size})
    automl.finish()
    status = query_status(tmp_path / "ws" / "run_1", recs="all")
    by_status = sorted((r["rank"], r["rec_id"]) for r in status["recommendations"])
    assert by_status == [(1, 2), (2, 1), (3, 3), (4, 4)]
    table = _ranked_table(report_data(tmp_path / "ws" / "run_1"))
    shown = [(int(rank), int(rec)) for rank, rec in
             re.findall(r"<tr[^>]*><td class=num>(\d+)</td><td class=num>(\d+)</td>", table)]
    assert shown == by_status
    assert "ranked by Pareto front first (its knee pick first), then each later nondominated layer; " \
           "val_accuracy within each" in table


def test_ask_tell_resume_takes_the_runs_own_metric_list_given_again(tmp_path: Path) -> None:
    """AutoML(workspace, resume=True, settings={"metric": <the run's list>, ...}) was refused with
    "automl_settings.direction: 'maximize' cannot be combined with a list metric": the stored direction and
    objectives (which the list carries) were put under the given list. A changed list is still refused, naming it."""
    from tao_automl.automl import AutoML
    from tao_automl.errors import WorkspaceError

    settings_ = {"metric": TWO, "algorithm": "random", "automl_max_recommendations": 4, "metric_weights":
                 {"model_size": 1}}
    automl = AutoML(workspace=tmp_path / "run", network="toy", search_schema=small_schema(), settings=settings_)
    rec = automl.next_recommendation()[0]
    automl.report_result(rec.id, None, values={"val_accuracy": 0.9, "model_size": 3.0})
    automl.finish()
    again = AutoML(workspace=tmp_path / "run", network="toy", search_schema=small_schema(), resume=True,
                   settings={**settings_, "automl_max_recommendations": 5})
    assert again.settings.objectives == TWO and again.settings.automl_max_recommendations == 5
    assert [p["rec_id"] for p in again.get_status()["pareto_front"]] == [1]
    again.finish()
    flipped = [TWO[0], {"name": "model_size", "direction": "maximize"}]
    with pytest.raises(WorkspaceError) as caught:
        AutoML(workspace=tmp_path / "run", network="toy", search_schema=small_schema(), resume=True,
               settings={**settings_, "metric": flipped})
    assert caught.value.field == "automl_settings.objectives" and "'maximize'" in str(caught.value)


def test_eval_fn_overrides_the_first_metric_of_a_two_metric_run(tmp_path: Path) -> None:
    """eval_fn "overrides the extracted value" (SPEC): in a run with a list metric its number was dropped (each rec
    kept the val_accuracy its job wrote, and the front was built from those); it is now the first metric's value."""
    skill = write_skill(tmp_path / "bank", trainer=TWO_METRIC_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    result = runner.run(automl_settings={"metric": TWO, "algorithm": "random", "automl_max_recommendations": 3,
                                         "automl_max_concurrent": 3, "poll_interval_s": 0.3},
                        workspace_path=tmp_path / "ws", gpu_count=0,
                        eval_fn=lambda rec, job_id: 0.5 + rec.id / 100)
    written = _user_values(result["recommendations"], Path(result["run_dir"]))
    for row in result["recommendations"]:
        assert row["status"] == "success"
        assert row["metric_value"] == 0.5 + row["rec_id"] / 100
        assert row["metric_values"] == {"val_accuracy": row["metric_value"],
                                        "model_size": written[row["rec_id"]]["model_size"]}
    points = {r["rec_id"]: (-r["metric_values"]["val_accuracy"], r["metric_values"]["model_size"])
              for r in result["recommendations"]}
    assert [p["rec_id"] for p in result["pareto_front"]] == pareto_front(points)
    assert query_status(result["run_dir"])["pareto_front"] == result["pareto_front"]


def test_the_line_per_ended_rec_shows_every_metric(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The progress log's line per rec (`rec 2 success: val_accuracy=...`) and the live view's (`[rec 2] success
    val_accuracy=...`) of a two-metric run showed the first metric alone; they show each metric now, as status does."""
    import io

    from tao_automl.automl import AutoML
    from tao_automl.cli.live import LiveView

    skill = write_skill(tmp_path / "bank", trainer=TWO_METRIC_TRAINER)
    out = io.StringIO()
    view = LiveView("val_accuracy", as_json=True, stderr=out)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill)
    with caplog.at_level("INFO", logger="tao_automl.progress"):
        result = runner.run(automl_settings={"metric": TWO, "algorithm": "random", "automl_max_recommendations": 2,
                                             "automl_max_concurrent": 2, "poll_interval_s": 0.3},
                            workspace_path=tmp_path / "ws", gpu_count=0, on_result=view.ended)
    for row in result["recommendations"]:
        acc, size = row["metric_values"]["val_accuracy"], row["metric_values"]["model_size"]
        shown = f"val_accuracy={format_metric(acc)}, model_size={format_metric(size)}"
        assert f"rec {row['rec_id']} success: {shown}" in caplog.text
        assert f"[rec {row['rec_id']:>3}] success  {shown}" in out.getvalue()
    caplog.clear()
    automl = AutoML(workspace=tmp_path / "run", network="toy", search_schema=small_schema(),
                    settings={"metric": TWO, "algorithm": "random", "automl_max_recommendations": 2})
    rec = automl.next_recommendation()[0]
    with caplog.at_level("INFO", logger="tao_automl.progress"):
        automl.report_result(rec.id, None, values={"val_accuracy": 0.9, "model_size": 3.0})
    assert f"rec {rec.id} success: val_accuracy=0.9, model_size=3 " in caplog.text
    automl.finish()

"""pbt never changes a checkpoint's network in a resuming member (the demo network: hidden_units/num_layers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tao_automl.bank import builtin_skill_dir
from tao_automl.bank.skill import load_skill
from tao_automl.brain.multifidelity.pbt import PBT, architecture_params
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.schema.build import build_search_space

SEARCHED = ["model.hidden_units", "model.num_layers", "model.activation", "train.optim.lr", "train.optim.momentum"]
ARCH = ["model.hidden_units", "model.num_layers", "model.activation"]


def test_explore_moves_training_params_and_never_the_network() -> None:
    space = build_search_space(load_skill(builtin_skill_dir("demo-digits-mlp")).schema, SEARCHED)
    assert sorted(architecture_params(space.names)) == sorted(ARCH)
    pbt = PBT(space, max_epochs=4, population_size=4, max_trials=8, scale=0.3)
    rng = np.random.default_rng(0)
    moved = set()
    for _ in range(100):
        config = space.sample(rng)
        out = pbt.explore(config, rng)
        assert not space.violations(out)
        assert all(out[k] == config[k] for k in ARCH)
        moved |= {k for k in config if out[k] != config[k]}
    assert moved == {"train.optim.lr", "train.optim.momentum"}


def test_pbt_sweep_on_the_demo_network_resumes_every_member_without_a_shape_mismatch(tmp_path: Path) -> None:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp"))
    result = runner.run(train_dataset_uri="builtin:digits", automl_hyperparameters=SEARCHED,
                        automl_settings={"algorithm": "pbt", "metric": "val_loss", "automl_max_epochs": 2,
                                         "automl_population_size": 3, "automl_max_recommendations": 6,
                                         "automl_max_concurrent": 3, "poll_interval_s": 0.2, "seed": 4},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert [h["status"] for h in result["history"]] == ["success"] * 6, [h["message"] for h in result["history"]]
    recs = {r.rec_id: r for r in RunStore(Path(result["run_dir"]), readonly=True).recs()}
    resumed = [r for r in recs.values() if r.trial and r.trial.get("parent")]
    assert len(resumed) == 3
    for rec in resumed:
        parent = recs[rec.trial["parent"]]  # type: ignore[index]
        assert all(rec.params[k] == parent.params[k] for k in ARCH)

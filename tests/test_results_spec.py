"""The spec that ran is the spec shown: run --json, status --json and query_status against what each job read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import readme_says, small_schema, write_skill
from tao_automl.status import query_status

#: Trains toward num_epochs, resuming after the epoch in the checkpoint's name; dumps the spec it parsed.
RESUMING_TRAINER = textwrap.dedent(
    """
    import json, math, os, re, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    out = spec["results_dir"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "received_spec.json"), "w") as f:
        json.dump(spec, f)
    t = spec["train"]
    start = int(re.findall(r"(\\d+)", os.path.basename(t["resume_path"]))[-1]) if t["resume_path"] else 0
    for epoch in range(start + 1, t["num_epochs"] + 1):
        loss = (math.log10(t["optim"]["lr"]) + 2) ** 2 + 0.1 * t["layers"] + 1.0 / epoch
        with open(os.path.join(out, "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
        open(os.path.join(out, f"ckpt_epoch_{epoch}.pt"), "w").write("weights")
    """
)


def resuming_skill(root: Path) -> Path:
    """The toy skill with a ``train.resume_path`` key in the ``resume_model`` role."""
    schema = small_schema()
    schema["default"]["train"]["resume_path"] = ""
    schema["properties"]["train"]["properties"]["resume_path"] = {"type": "string", "default": ""}
    return write_skill(root, schema=schema, trainer=RESUMING_TRAINER, roles={"train.resume_path": "resume_model"})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tao_automl.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def asha_config(tmp_path: Path, skill: Path) -> Path:
    config = {
        "skill_dir": str(skill), "workspace_path": "ws",
        "automl_settings": {"algorithm": "asha", "metric": "val_loss", "automl_max_epochs": 9,
                            "automl_reduction_factor": 3, "automl_max_recommendations": 9,
                            "automl_max_concurrent": 3, "poll_interval_s": 0.2, "seed": 1},
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
        "platform_kwargs": {"gpu_count": 0},
    }
    path = tmp_path / "asha.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def asha_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp_path = tmp_path_factory.mktemp("asha")
    done = _cli("run", str(asha_config(tmp_path, resuming_skill(tmp_path / "bank"))), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # --json keeps stdout clean JSON
    return data, Path(data["run_dir"])


def test_each_rec_shows_the_spec_its_job_received(asha_run: tuple[dict[str, Any], Path]) -> None:
    data, _ = asha_run
    recs = data["recommendations"]
    assert len(recs) == 9 and "history" not in data
    promoted = 0
    for rec in recs:
        received = json.loads((Path(rec["results_dir"]) / "received_spec.json").read_text())
        assert rec["specs"] == received, rec["rec_id"]
        assert yaml.safe_load(Path(rec["spec_path"]).read_text()) == received
        assert rec["budget"] == received["train"]["num_epochs"] in (1, 3, 9)
        assert rec["rung"] is not None and rec["wall_time_s"] > 0
        if rec["parent"] is not None:
            promoted += 1
            parent = next(r for r in recs if r["rec_id"] == rec["parent"])
            assert received["train"]["resume_path"].startswith(parent["results_dir"])
            assert rec["budget"] > parent["budget"] and rec["rung"] == parent["rung"] + 1
        else:
            assert received["train"]["resume_path"] == ""
        if rec["status"] == "success":
            assert rec["budget_reached"] == rec["budget"]
    assert promoted >= 1


def test_run_json_status_json_and_query_status_agree(asha_run: tuple[dict[str, Any], Path]) -> None:
    data, run_dir = asha_run
    status = json.loads(_cli("status", str(run_dir), "--json", "--recs", "all").stdout)
    api = query_status(run_dir, recs="all")
    # status adds whether a process runs it; what the run's trackers missed is in the run folder, which status reads
    assert set(status) == set(api) == set(data) | {"orchestrator"}
    assert data["tracking_errors"] == status["tracking_errors"] == api["tracking_errors"] == {}
    for a, b, c in zip(data["recommendations"], status["recommendations"], api["recommendations"], strict=True):
        assert set(a) == set(b) == set(c)
        assert {k: v for k, v in a.items() if k != "wall_time_s"} == {k: v for k, v in b.items() if k != "wall_time_s"}
        assert a["specs"] == c["specs"] and a["budget"] == c["budget"]
    assert set(data["progress"]) == set(status["progress"])


def test_the_result_fields_the_readme_names_are_the_ones_run_json_and_status_give(
        asha_run: tuple[dict[str, Any], Path]) -> None:
    """README names the result's fields (`best`'s whole set, `progress`'s main ones, each rec's) and says `run --json`,
    `status --json` and `query_status()` use exactly these names: each named field is there, under that name."""
    data, run_dir = asha_run
    best, progress = readme_says(r'`result` is `\{"best": \{([^}]+)\}, "progress": \{(.+?), \.\.\.\}, '
                                 r'"recommendations"')
    progress_names = {name.strip() for name in re.sub(r"\([^()]*\)", "", progress).split(",")}
    assert len(progress_names) >= 15 and all(re.fullmatch(r"\w+", n) for n in progress_names), progress_names
    rec_names = set(re.findall(r"`(\w+)`", " ".join(readme_says(
        r"Each rec carries the spec its job actually received \((`specs`.+?)\), its (`budget`) \(epochs\) and "
        r"(`budget_reached`), (`rung`/`bracket`/`parent`) for multi-fidelity brains .+? (`started_at`) \(its "
        r"submission\)/(`finished_at`)/(`wall_time_s`) \(queued time included\), and its failure (`message`) uncut"))))
    assert len(rec_names) == 11, rec_names
    status = json.loads(_cli("status", str(run_dir), "--json", "--recs", "all").stdout)
    for shown in (data, status, query_status(run_dir, recs="all")):
        assert {"best", "progress", "recommendations"} <= set(shown)
        assert set(shown["best"]) == {name.strip() for name in best.split(",")}
        assert progress_names <= set(shown["progress"]), progress_names - set(shown["progress"])
        assert all(rec_names <= set(rec) for rec in shown["recommendations"])
    assert data["tracking_errors"] == {}


def test_status_recs_all_text_is_in_id_order_like_json(asha_run: tuple[dict[str, Any], Path]) -> None:
    """`status --recs all --offset 2 --limit 3` listed recs by rank in text (5, 3, 4) but by id in JSON."""
    _, run_dir = asha_run
    page = ("--recs", "all", "--offset", "2", "--limit", "3")
    wanted = [r["rec_id"] for r in json.loads(_cli("status", str(run_dir), "--json", *page).stdout)["recommendations"]]
    assert wanted == [3, 4, 5]
    table = _cli("status", str(run_dir), *page).stdout.split("\n\n")[0].splitlines()[2:]
    assert [int(line.split()[1]) for line in table if not line.lstrip().startswith("reason:")] == wanted


def test_multi_fidelity_ranking_puts_the_highest_budget_first(asha_run: tuple[dict[str, Any], Path]) -> None:
    data, run_dir = asha_run
    ranked = sorted((r for r in data["recommendations"] if r["rank"] is not None), key=lambda r: r["rank"])
    budgets = [r["budget_reached"] for r in ranked]
    assert budgets == sorted(budgets, reverse=True) and budgets[0] > budgets[-1]  # budgets differ, not mixed
    top = [r for r in ranked if r["budget_reached"] == budgets[0]]
    assert [r["metric_value"] for r in top] == sorted(r["metric_value"] for r in top)
    assert data["best"]["rec_id"] == ranked[0]["rec_id"] and data["best"]["budget"] == budgets[0]
    assert data["progress"]["best_budget"] == budgets[0]
    assert data["progress"]["ranked_by"] == "budget_reached, then metric"
    # a lower-budget rec with a better value never outranks it (the value at 1 epoch is not comparable)
    text = _cli("status", str(run_dir)).stdout
    assert f"best: rec {ranked[0]['rec_id']} with val_loss" in text and f"at {budgets[0]} epochs" in text
    assert "ranked by budget_reached, then metric" in text


FAILING_TRAINER = textwrap.dedent(
    """
    import sys
    print("preparing data")
    sys.exit("ValueError: " + "the dataset at /data/train has 3 classes but the spec asks for 10; " * 4)
    """
)


def test_failure_reason_is_kept_uncut(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=FAILING_TRAINER)
    config = {"skill_dir": str(skill), "workspace_path": "ws", "platform_kwargs": {"gpu_count": 0},
              "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
              "automl_settings": {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                                  "poll_interval_s": 0.2}}
    path = tmp_path / "fail.yaml"
    path.write_text(yaml.safe_dump(config))
    done = _cli("run", str(path), "--json")
    rec = json.loads(done.stdout)["recommendations"][0]
    reason = "the dataset at /data/train has 3 classes but the spec asks for 10; " * 4
    assert rec["status"] == "failure" and reason.strip() in rec["message"]
    text = _cli("status", json.loads(done.stdout)["run_dir"]).stdout
    assert reason.strip() in text


def test_a_resumed_job_counting_epochs_from_zero_is_recorded_at_its_budget(tmp_path: Path) -> None:
    """A promoted rec's job resumes its parent's 3-epoch checkpoint and, counting from 0 as PyTorch Lightning does,
    writes epochs 3..8 for a budget of 9: it was recorded at 8 epochs (and so ranked below a rec trained to 9 from
    scratch)."""
    zero_based = RESUMING_TRAINER.replace("for epoch in range(start + 1, t[\"num_epochs\"] + 1):",
                                          "for epoch in range(start, t[\"num_epochs\"]):")
    zero_based = zero_based.replace("1.0 / epoch", "1.0 / (epoch + 1)").replace(
        'f"ckpt_epoch_{epoch}.pt"', 'f"ckpt_epoch_{epoch + 1}.pt"')  # the checkpoint names the epochs it holds
    assert zero_based.count("range(start, ") == 1 and zero_based.count("epoch + 1}.pt") == 1
    schema = small_schema()
    schema["default"]["train"]["resume_path"] = ""
    schema["properties"]["train"]["properties"]["resume_path"] = {"type": "string", "default": ""}
    skill = write_skill(tmp_path / "bank", schema=schema, trainer=zero_based,
                        roles={"train.resume_path": "resume_model"})
    done = _cli("run", str(asha_config(tmp_path, skill)), "--json")
    assert done.returncode == 0, done.stderr
    recs = json.loads(done.stdout)["recommendations"]
    promoted = [r for r in recs if r["parent"] is not None and r["status"] == "success"]
    assert promoted, recs
    for rec in recs:
        if rec["status"] == "success":
            assert rec["budget_reached"] == rec["budget"], rec

"""Scale behaviour: the instant SDK, per-rec work that does not grow with the run, fast status views, a kill -9
at scale resumed while another process polls the status, and a CLI status path that never imports numpy.

Timings are checked by ``benchmarks/scale.py``, not here; these tests pin the behaviour the speed relies on.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import small_schema, write_skill
from tao_automl import AutoML, query_status
from tao_automl.errors import UserInputError
from tao_automl.experiment.store import RunStore
from tao_automl.experiment.summary import progress as summary_progress
from tao_automl.platforms.base import JobStatus
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing import InstantSDK
from tao_automl.testing.instant import default_objective

SRC = Path(__file__).resolve().parents[1] / "src"


def _instant_skill(root: Path) -> Path:
    """A skill whose command is never run: InstantSDK reads the spec file the command names."""
    return write_skill(root, command="true -e {config_path}")


# -- InstantSDK ---------------------------------------------------------------------------------------------------
def test_instant_jobs_end_inside_create_job_with_the_metric_of_their_spec(tmp_path: Path) -> None:
    spec = tmp_path / "train_spec.json"
    spec.write_text(json.dumps({"train": {"lr": 0.5, "layers": 3}, "name": "x"}))
    sdk = InstantSDK(metric="val_loss")
    job = sdk.create_job(None, f"run -e {spec}", outputs={"results_dir": str(tmp_path / "r1")}, job_name="rec1")
    assert sdk.get_job_status(job.id) is JobStatus.SUCCESS
    expected = default_objective({"train": {"lr": 0.5, "layers": 3}})
    line = json.loads(sdk.read_job_file(job.id, "status.json") or "")
    assert line["kpi"]["val_loss"] == pytest.approx(expected)
    assert sdk.create_job(None, f"run -e {spec}", outputs={"results_dir": str(tmp_path / "other")},
                          job_name="rec1") == job  # same name: the existing job, not a second one
    assert sdk.find_job("rec1") == job and sdk.find_job("nope") is None
    fresh = InstantSDK()  # a resumed orchestrator: the results folder still answers for the job
    assert fresh.get_job_status(job.id) is JobStatus.SUCCESS
    assert json.loads(fresh.read_job_file(job.id, "status.json") or "")["kpi"]["val_loss"] == pytest.approx(expected)
    failing = InstantSDK(fail_every=2)
    failing.create_job(None, ["run", str(spec)], outputs={"results_dir": str(tmp_path / "a")})
    second = failing.create_job(None, ["run", str(spec)], outputs={"results_dir": str(tmp_path / "b")})
    assert failing.get_job_status(second.id) is JobStatus.FAILURE
    assert InstantSDK().get_job_status(second.id) is JobStatus.FAILURE
    with pytest.raises(KeyError):
        fresh.get_job_status(str(tmp_path / "never"))


def test_a_resumed_instant_sdk_does_not_run_a_named_job_twice(tmp_path: Path) -> None:
    """After kill -9 a resumed runner re-submitted a rec whose job was created but not recorded: a new InstantSDK ran
    it again and rewrote its results (10,001 create_job calls for 10,000 recs in the issue's own check)."""
    spec = tmp_path / "s.json"
    spec.write_text("{}")
    results = {"results_dir": str(tmp_path / "r")}
    job = InstantSDK().create_job(None, f"x {spec}", outputs=results, job_name="n")
    again = InstantSDK()
    assert again.create_job(None, f"x {spec}", outputs=results, job_name="n") == job and again.created == 0
    assert again.find_job("n") == job and again.get_job_status(job.id) is JobStatus.SUCCESS
    other = InstantSDK()  # another name into the same folder is a new job
    assert other.create_job(None, f"x {spec}", outputs=results, job_name="m") == job.__class__(
        id=job.id, results_dir=job.results_dir, name="m") and other.created == 1


class _Killed(BaseException):
    """A kill -9 landing in a write (nothing after it runs)."""


def test_a_kill_inside_an_instant_jobs_result_write_leaves_no_empty_result(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """InstantSDK wrote a job's status.json in place: a kill -9 inside that write left it empty, and a resumed
    InstantSDK read the job as succeeded with no metric (test_scale's kill -9 test failed so 2 times in 17 under
    load). Here the result's write is killed once the file is opened, before any byte: a new InstantSDK runs the
    named job again and reads its metric."""
    spec = tmp_path / "s.json"
    spec.write_text("{}")
    results = {"results_dir": str(tmp_path / "r")}
    write_text = Path.write_text

    def killed_inside(path: Path, data: str, *args: Any, **kwargs: Any) -> int:
        if "status.json" in path.name:
            path.open("w").close()  # opened (emptied), killed before the line is written
            raise _Killed
        return write_text(path, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", killed_inside)
    with pytest.raises(_Killed):
        InstantSDK(lambda _: 0.25).create_job(None, f"x {spec}", outputs=results, job_name="n")
    monkeypatch.undo()
    with pytest.raises(KeyError):  # not ended: its result was never written
        InstantSDK().get_job_status(results["results_dir"])
    again = InstantSDK(lambda _: 0.25)
    job = again.create_job(None, f"x {spec}", outputs=results, job_name="n")
    assert again.created == 1 and again.get_job_status(job.id) is JobStatus.SUCCESS
    assert json.loads(again.read_job_file(job.id, "status.json") or "null") == {"epoch": 1,
                                                                               "kpi": {"val_loss": 0.25}}


def test_an_instant_sweep_through_the_runner_stores_each_specs_metric(tmp_path: Path) -> None:
    skill = _instant_skill(tmp_path / "bank")
    result = AutoMLRunner(InstantSDK(), skill).run(
        automl_settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 40,
                         "automl_max_concurrent": 8, "seed": 1},
        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 40 and result["progress"]["state"] == "finished"
    run_dir = next((tmp_path / "ws").glob("run_*"))
    for rec in query_status(run_dir, recs="all")["recommendations"]:
        rendered = Path(rec["results_dir"]).parent / "train_spec.yaml"
        assert rendered.is_file()
        assert rec["metric_value"] == pytest.approx(_objective_of_rendered(rendered))


def _objective_of_rendered(path: Path) -> float:
    import yaml

    return default_objective(yaml.safe_load(path.read_text()))


# -- per-rec work does not read the whole run ---------------------------------------------------------------------
def test_ask_and_tell_never_read_every_rec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(),
                    settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 30,
                              "automl_max_concurrent": 3})

    def whole_table(self: RunStore) -> Any:
        raise AssertionError("a per-rec step read every rec")

    monkeypatch.setattr(RunStore, "recs", whole_table)
    told = 0
    live: list[dict[str, Any]] = []
    while told < 30:
        recs = automl.next_recommendation()
        assert recs
        for rec in recs:
            automl.report_result(rec.id, float(rec.id % 7) if rec.id % 5 else None)
            told += 1
            live.append(automl._exp.progress())  # the runner's live line after each rec
    monkeypatch.undo()
    from_rows = summary_progress(automl._exp.recs(), automl._exp.store.meta())
    skip = ("elapsed_s", "eta_s", "state")
    assert {k: v for k, v in live[-1].items() if k not in skip} == {k: v for k, v in from_rows.items() if k not in skip}
    summary = automl.finish()
    assert summary["progress"]["completed"] == 30 and summary["progress"]["failed"] == 6
    assert [p["completed"] for p in live] == list(range(1, 31))


def test_lookups_use_indexes(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    plans = {
        "events of one kind and rec": "SELECT * FROM events WHERE kind='trained_budget' AND rec_id=3",
        "counts by status": "SELECT status, count(*) FROM recs GROUP BY status",
        "ranked recs": "SELECT rec_id FROM recs WHERE status IN ('success', 'stopped') AND metric_value > -9e999 "
                       "AND metric_value < 9e999 ORDER BY metric_value ASC, rec_id LIMIT 10",
        "recs by status": "SELECT rec_id FROM recs WHERE status IN ('pending', 'running') ORDER BY rec_id",
    }
    for name, query in plans.items():
        steps = [str(row[-1]) for row in store._conn.execute("EXPLAIN QUERY PLAN " + query)]
        assert all("INDEX" in step for step in steps if step.startswith(("SCAN", "SEARCH"))), (name, steps)
    store.close()


# -- status views -------------------------------------------------------------------------------------------------
@pytest.fixture
def finished_run(tmp_path: Path) -> tuple[Path, dict[int, float | None]]:
    automl = AutoML(workspace=tmp_path / "run", search_schema=small_schema(),
                    settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 25,
                              "automl_max_concurrent": 25})
    values: dict[int, float | None] = {}
    for rec in automl.next_recommendation():
        values[rec.id] = None if rec.id % 6 == 0 else ((rec.id * 37) % 11) / 10.0
        automl.report_result(rec.id, values[rec.id])
    automl.finish()
    return tmp_path / "run", values


def test_status_shows_the_top_recs_by_default_and_every_rec_on_request(
        finished_run: tuple[Path, dict[int, float | None]]) -> None:
    run, values = finished_run
    ok = sorted((v, k) for k, v in values.items() if v is not None)  # minimize; ties go to the older rec
    failed = sorted(k for k, v in values.items() if v is None)
    status = query_status(run)
    assert [r["rec_id"] for r in status["recommendations"]] == [k for _, k in ok[:10]] + failed
    assert [r["rank"] for r in status["recommendations"]] == [*range(1, 11), *[None] * len(failed)]
    assert status["rec_view"] == {"view": "top", "shown": 10 + len(failed), "total": 25, "top": 10}
    assert status["best"]["rec_id"] == ok[0][1] and status["progress"]["best_rec_id"] == ok[0][1]
    assert status["progress"]["completed"] == 25 and status["progress"]["failed"] == 4
    assert status["recommendations"][0]["specs"]["train"]["optim"]["lr"] > 0  # shown recs carry their detail
    assert [r["rec_id"] for r in query_status(run, top=3)["recommendations"]] == [k for _, k in ok[:3]] + failed[-3:]
    every = query_status(run, recs="all")
    assert [r["rec_id"] for r in every["recommendations"]] == list(range(1, 26))
    pages = [query_status(run, recs="all", offset=o, limit=10)["recommendations"] for o in (0, 10, 20)]
    assert [r["rec_id"] for page in pages for r in page] == list(range(1, 26))
    assert every["progress"] == status["progress"] and every["best"] == status["best"]
    store = RunStore(run, readonly=True)
    from_rows = summary_progress(store.recs(), store.meta())
    store.close()
    skip = ("elapsed_s", "eta_s")
    assert {k: v for k, v in status["progress"].items() if k not in skip} == {
        k: v for k, v in from_rows.items() if k not in skip}
    for bad in ({"recs": "some"}, {"top": -1}, {"limit": -5, "recs": "all"}):
        with pytest.raises(UserInputError):
            query_status(run, **bad)  # type: ignore[arg-type]
    for paging in ({"offset": 2}, {"limit": 3}):  # they page recs="all": with the default view, never ignored
        with pytest.raises(UserInputError, match="pages recs='all'"):
            query_status(run, **paging)  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="recs='all' lists every rec") as refused:  # top with "all": refused
        query_status(run, recs="all", top=3)
    assert refused.value.field == "top" and refused.value.hint == "query_status(path, recs='top', top=3)"


def test_status_names_the_run_folder_by_its_absolute_path(finished_run: tuple[Path, dict[int, float | None]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a relative folder, ``run_dir`` is still the absolute path an agent can use from any directory."""
    run, _ = finished_run
    monkeypatch.chdir(run.parent)
    shown = query_status(run.name)["run_dir"]
    assert os.path.isabs(shown) and Path(shown).resolve() in (run.resolve(), *run.resolve().glob("run_*"))


def test_status_cli_pages_with_recs_all(finished_run: tuple[Path, dict[int, float | None]]) -> None:
    run, _ = finished_run
    out = subprocess.run([sys.executable, "-m", "tao_automl.cli", "status", str(run), "--json", "--recs", "all",
                          "--offset", "5", "--limit", "5"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [r["rec_id"] for r in json.loads(out.stdout)["recommendations"]] == [6, 7, 8, 9, 10]
    text = subprocess.run([sys.executable, "-m", "tao_automl.cli", "status", str(run), "--top", "3"],
                          capture_output=True, text=True, timeout=60)
    assert text.returncode == 0, text.stderr
    assert "showing 6 of 25 recs (the 3 best and the 3 newest without a rank)" in text.stdout


def test_status_help_says_what_recs_top_shows_as_status_shows_it(
        finished_run: tuple[Path, dict[int, float | None]]) -> None:
    """`status --help` said --recs top shows "the best recs only" and --top "how many best recs": it shows the --top
    best and as many of the newest recs without a rank (failed, running), as its JSON and text say."""
    run, _ = finished_run
    helped = subprocess.run([sys.executable, "-m", "tao_automl.cli", "status", "--help"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "COLUMNS": "500"})
    recs_help = next(line for line in helped.stdout.splitlines() if line.strip().startswith("--recs"))
    top_help = next(line for line in helped.stdout.splitlines() if line.strip().startswith("--top"))
    assert "best recs only" not in recs_help and "newest recs without a rank" in recs_help, recs_help
    assert "and as many of the newest recs without a rank" in top_help, top_help
    shown = json.loads(subprocess.run([sys.executable, "-m", "tao_automl.cli", "status", str(run), "--json", "--top",
                                       "2"], capture_output=True, text=True, timeout=60).stdout)
    ranks = [r["rank"] for r in shown["recommendations"]]
    assert sorted(r for r in ranks if r is not None) == [1, 2] and ranks.count(None) == 2


def test_help_and_status_import_no_numpy_scipy_logging_or_brains(
        finished_run: tuple[Path, dict[int, float | None]]) -> None:
    """Nor typing, pathlib, shutil (argparse's default formatter imports it) or contextlib: each costs start-up."""
    run, _ = finished_run
    script = textwrap.dedent(f"""
        import io, sys
        from tao_automl.cli.main import main
        shown, sys.stdout = sys.stdout, io.StringIO()  # not contextlib.redirect_stdout: contextlib is checked
        try:
            main(["--help"])
        except SystemExit:
            pass
        assert main(["status", {str(run)!r}]) == 0
        assert main(["status", {str(run)!r}, "--json", "--recs", "all"]) == 0
        sys.stdout = shown
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "scipy", "logging", "typing",
                                                                       "pathlib", "shutil", "contextlib")
                       or m.startswith(("tao_automl.brain", "tao_automl.runner.loop", "tao_automl.experiment.core")))
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_status_program_flushes_all_output_before_its_fast_exit(tmp_path: Path) -> None:
    """``tao-automl status`` ends without the interpreter's teardown: everything printed still arrives whole,
    through a pipe and well past a pipe's buffer, and the exit code is the command's."""
    store = RunStore(tmp_path)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "experiment_id": "big"})
    note = "x" * 2000
    for rec_id in range(1, 301):
        store.add_rec(rec_id, {"lr": rec_id / 1000, "note": note}, {"train": {"note": note}}, f"job-{rec_id}")
        store.finish_rec(rec_id, "success", rec_id / 10, None)
    store.close()
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a user's shell has it
    out = subprocess.run([sys.executable, "-m", "tao_automl.cli", "status", str(tmp_path), "--json", "--recs", "all"],
                         capture_output=True, text=True, timeout=60, env=buffered)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) > 300 * 2000 and out.stdout.endswith("}\n")
    assert [r["rec_id"] for r in json.loads(out.stdout)["recommendations"]] == list(range(1, 301))
    text = subprocess.run([sys.executable, "-m", "tao_automl.cli", "status", str(tmp_path), "--top", "300"],
                          capture_output=True, text=True, timeout=60, env=buffered)
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("success") >= 300  # its last line is the last thing printed:
    assert text.stdout.endswith("orchestrator: not running (every rec of the run's budget has ended; nothing to "
                                f"resume)\nrun folder: {tmp_path}\n")
    head = subprocess.Popen([sys.executable, "-m", "tao_automl.cli", "status", str(tmp_path), "--top", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=buffered)
    assert head.stdout is not None and head.stderr is not None
    head.stdout.readline()
    head.stdout.close()  # `status | head -1`: the reader leaves early
    assert head.wait(timeout=60) == 0 and head.stderr.read() == b""  # quiet, the exit code the command's own
    missing = subprocess.run([sys.executable, "-m", "tao_automl.cli", "status", str(tmp_path / "nothing")],
                             capture_output=True, text=True, timeout=60, env=buffered)
    assert missing.returncode == 2 and "no run state" in missing.stderr


def test_help_builds_only_what_it_prints() -> None:
    """``--help`` lists every command but builds none of their arguments: no typing, no command module."""
    script = textwrap.dedent("""
        import contextlib, io, sys
        from tao_automl.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                main(["--help"])
            except SystemExit:
                pass
        assert "export" in out.getvalue() and "status" in out.getvalue()
        print(sorted(m for m in sys.modules if m == "typing" or m.startswith("tao_automl.")
                     and m not in ("tao_automl.cli", "tao_automl.cli.main", "tao_automl.errors")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- kill -9 at scale, resume, status polled throughout -----------------------------------------------------------
ORCHESTRATOR = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {src!r})
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing.instant import InstantSDK, default_objective

    def slow(spec):
        time.sleep(0.005)  # room for the kill to land mid-sweep
        return default_objective(spec)

    runner = AutoMLRunner(InstantSDK(slow), {skill!r})
    if {resume!r}:
        runner.run(workspace_path={run!r}, resume=True)
    else:
        runner.run(automl_settings={settings!r}, workspace_path={ws!r}, gpu_count=0)
""")

POLLER = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {src!r})
    from pathlib import Path
    from tao_automl import query_status
    out = open({out!r}, "a")
    while not os.path.exists({stop!r}):
        runs = sorted(Path({ws!r}).glob("run_*"))
        if runs:
            s = query_status(runs[0])
            out.write(json.dumps({{"error": s.get("error"), "completed": s.get("progress", {{}}).get("completed")}})
                      + "\\n")
            out.flush()
        time.sleep(0.02)
""")


def test_kill_9_mid_sweep_and_resume_with_status_polled_from_another_process(tmp_path: Path) -> None:
    skill = _instant_skill(tmp_path / "bank")
    ws, polls, stop = tmp_path / "ws", tmp_path / "polls.jsonl", tmp_path / "stop"
    n = 300
    settings = {"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": n,
                "automl_max_concurrent": 8, "seed": 3}
    poller = subprocess.Popen([sys.executable, "-c", POLLER.format(src=str(SRC), out=str(polls), stop=str(stop),
                                                                   ws=str(ws))])
    first = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR.format(src=str(SRC), skill=str(skill), resume=False,
                                                                        run="", settings=settings, ws=str(ws))])
    try:
        deadline = time.monotonic() + 120
        while True:
            runs = list(ws.glob("run_*"))
            done = query_status(runs[0])["progress"]["completed"] if runs and (runs[0] / "state.db").exists() else 0
            if done >= 100:
                break
            assert first.poll() is None and time.monotonic() < deadline, "the sweep ended before the kill"
            time.sleep(0.01)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    run_dir = next(ws.glob("run_*"))
    before = {r["rec_id"]: r for r in query_status(run_dir, recs="all")["recommendations"]
              if r["status"] == "success"}
    assert 100 <= len(before) < n
    resumed = subprocess.run([sys.executable, "-c", ORCHESTRATOR.format(
        src=str(SRC), skill=str(skill), resume=True, run=str(run_dir), settings=settings, ws=str(ws))], timeout=300)
    stop.touch()
    poller.wait(timeout=30)
    assert resumed.returncode == 0
    final = query_status(run_dir, recs="all")
    assert final["progress"]["succeeded"] == n and final["progress"]["state"] == "finished"
    after = {r["rec_id"]: r for r in final["recommendations"]}
    assert sorted(after) == list(range(1, n + 1))
    assert all(after[k]["metric_value"] == v["metric_value"] for k, v in before.items())  # nothing redone
    conn = sqlite3.connect(run_dir / "state.db")
    submitted = Counter(r[0] for r in conn.execute("SELECT rec_id FROM events WHERE kind='job_submitted'"))
    conn.close()
    assert set(submitted) == set(range(1, n + 1)) and max(submitted.values()) == 1  # no duplicate submission
    seen = [json.loads(line) for line in polls.read_text().splitlines()]
    counts = [p["completed"] for p in seen if p["error"] is None]
    assert len(counts) >= 5 and not [p for p in seen if p["error"] and "no state.db" not in p["error"]]
    assert counts == sorted(counts)  # the reader never saw the run go backwards


@pytest.mark.parametrize("params", [
    {"train.lr": 1e-05, "train.wd": 0.1, "depth": 3, "act": "gelu", "flag": True, "none": None, "big": 1e20},
    {"odd": "yes", "num": "3", "list": [1, 2], "inf": float("inf"), "Yes": 1, "x": -2.5e-300},
    {},
])
def test_best_params_block_is_what_pyyaml_writes(params: dict[str, Any]) -> None:
    """`status` writes plain values itself (no PyYAML import); the text must be PyYAML's, byte for byte."""
    import yaml

    from tao_automl.cli.text_report import best_params_yaml

    assert best_params_yaml(params) == yaml.safe_dump({"best_params": params}, sort_keys=False,
                                                      allow_unicode=True).rstrip()


def test_best_params_block_shows_unicode_names_and_values_as_written() -> None:
    """A searched ``train.ünïcode_päram`` with the option ``ç`` read ``"train.\\xFCn\\xEFcode_p\\xE4ram": "\\xE7"``
    under ``best_params:`` of `run` and `status`: valid YAML, but not the name the user wrote."""
    import yaml

    from tao_automl.cli.text_report import best_params_yaml

    params = {"train.ünïcode_päram": "ç", "train.lr": 0.1}
    text = best_params_yaml(params)
    assert "train.ünïcode_päram" in text and "ç" in text and "\\x" not in text
    assert yaml.safe_load(text) == {"best_params": params}

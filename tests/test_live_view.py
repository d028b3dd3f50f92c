"""Live view: the progress line of `run` (terminal and pipe), `status --watch` from another process, and the
Python API's line per rec on the ``tao_automl.progress`` logger."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import write_skill
from tao_automl.cli.live import LiveView
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.status import query_status

CLI = [sys.executable, "-m", "tao_automl.cli.main"]


def _config(tmp_path: Path, skill: Path, recs: int = 3, **settings: object) -> Path:
    config = {
        "skill_dir": str(skill), "workspace_path": "ws",
        "automl_settings": {"metric": "val_loss", "automl_max_recommendations": recs, "automl_max_concurrent": 2,
                            "poll_interval_s": 0.2, **settings},
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
        "platform_kwargs": {"gpu_count": 0},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_piped_run_prints_progress_and_counts_on_stderr_and_clean_json_on_stdout(toy_skill: Path,
                                                                                  tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "run", str(_config(tmp_path, toy_skill)), "--json"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # nothing but JSON on stdout
    progress_lines = [line for line in done.stderr.splitlines() if line.startswith("[") and " done | " in line]
    assert [line.split("/")[0] for line in progress_lines] == ["[0", "[1", "[2", "[3"]
    last = progress_lines[-1]
    assert "[3/3 done | 0 running | " in last and "ETA 00:00" in last and "elapsed " in last
    best = data["best"]
    assert f"best val_loss={float(best['metric_value']):.4g} (rec {best['rec_id']})" in last
    p = data["progress"]
    assert done.stderr.rstrip().endswith(f"finished: 3/3 recs done: {p['succeeded']} succeeded, {p['failed']} failed, "
                                         "0 stopped, 0 cancelled")


def test_on_a_terminal_the_progress_line_is_redrawn_on_stdout(toy_skill: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, "run", str(_config(tmp_path, toy_skill))], stdout=slave,
                            stderr=subprocess.PIPE, text=False)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(master)
    out = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert out.count("started  job") == 3  # rec lines on the terminal, not on stderr
    assert "\r\x1b[K[3/3 done | 0 running | " in out  # redrawn in place
    assert "rank" in out and "3/3 recs done:" in out
    assert b"done |" not in proc.stderr.read()  # type: ignore[union-attr]


GATED_TRAINER = """
import json, os, sys, time, yaml
spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
os.makedirs(spec["results_dir"], exist_ok=True)
while not os.path.exists({gate!r}):  # the test releases the jobs when it is ready
    time.sleep(0.05)
loss = spec["train"]["optim"]["lr"]
with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
    f.write(json.dumps({{"epoch": 1, "kpi": {{"val_loss": loss}}}}) + "\\n")
"""


def _start_run(tmp_path: Path, recs: int) -> tuple[subprocess.Popen[str], Path, Path]:
    """A CLI run whose jobs wait for the returned gate file; returns once its first jobs are running."""
    gate = tmp_path / "release"
    skill = write_skill(tmp_path / "bank", trainer=GATED_TRAINER.format(gate=str(gate)))
    run = subprocess.Popen([*CLI, "run", str(_config(tmp_path, skill, recs=recs)), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for run_dir in (tmp_path / "ws").glob("run_*"):
            status = query_status(run_dir)
            # both seen running (a job submitted but not yet polled counts as queued: the line says "in flight")
            if "error" not in status and status["progress"]["running"] == 2 and not status["progress"]["queued"]:
                return run, run_dir, gate
        time.sleep(0.05)
    run.kill()
    raise AssertionError("the run never had its first two jobs running")


def test_status_watch_follows_a_live_run_until_it_ends(tmp_path: Path) -> None:
    run, run_dir, gate = _start_run(tmp_path, recs=6)
    watch = subprocess.Popen([*CLI, "status", str(run_dir), "--watch", "--interval", "0.1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert watch.stdout is not None
    first = watch.stdout.readline()
    assert first.startswith("[0/6 done | 2 running | 0 failed | best - |"), first
    gate.touch()  # now the jobs may end
    rest, err = watch.communicate(timeout=120)
    run.communicate(timeout=60)
    assert run.returncode == 0 and watch.returncode == 0, err
    lines = [first] + [line for line in rest.splitlines() if " done | " in line]
    done = [int(line[1:].split("/")[0]) for line in lines]
    assert done == sorted(done) and done[-1] == 6
    assert rest.rstrip().endswith("run finished: 6/6 recs done: 6 succeeded, 0 failed, 0 stopped, 0 cancelled")
    assert "rank" in rest  # the final table


def test_status_watch_json_lines_and_a_killed_orchestrator(tmp_path: Path) -> None:
    run, run_dir, gate = _start_run(tmp_path, recs=5)
    try:
        run.kill()  # SIGKILL: the state says running, but nobody is
        run.communicate(timeout=30)
        watch = subprocess.run([*CLI, "status", str(run_dir), "--watch", "--json"], capture_output=True, text=True,
                               timeout=60)
        assert watch.returncode == 1  # ended without a result
        lines = [json.loads(line) for line in watch.stdout.splitlines()]  # JSON Lines
        assert lines and lines[-1]["progress"]["state"] == "interrupted" and lines[-1]["orchestrator"]["alive"] is False
        assert "killed or crashed" in lines[-1]["progress"]["stop_reason"]
        once = json.loads(subprocess.run([*CLI, "status", str(run_dir), "--json"], capture_output=True, text=True,
                                         timeout=60).stdout)
        # the object `status --json` prints, field for field, and the error of a run without a result (exit 1)
        assert set(lines[-1]) == set(once) | {"error"} and lines[-1]["error"]["kind"] == "no_result"
        assert all("error" not in line for line in lines[:-1])
        text = subprocess.run([*CLI, "status", str(run_dir), "--watch"], capture_output=True, text=True, timeout=60)
        assert "the orchestrator is gone" in text.stdout and "run interrupted:" in text.stdout
    finally:
        gate.touch()  # let the orphaned jobs end


def test_status_watch_rejects_a_bad_interval(tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "status", str(tmp_path), "--watch", "--interval", "0"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--interval: 0.0 is not allowed" in done.stderr


def _sweep(tmp_path: Path, skill: Path, **kwargs: object) -> dict[str, object]:
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, **kwargs)  # type: ignore[arg-type]
    return runner.run(automl_settings={"metric": "val_loss", "automl_max_recommendations": 3,
                                       "automl_max_concurrent": 2, "poll_interval_s": 0.2},
                      workspace_path=tmp_path / "ws", gpu_count=0)


def test_python_api_logs_a_line_per_rec_unless_turned_off(toy_skill: Path, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tao_automl.progress")
    result = _sweep(tmp_path / "on", toy_skill)
    lines = [r.getMessage() for r in caplog.records if r.name == "tao_automl.progress"]
    assert len(lines) == 3
    for rec in result["history"]:  # type: ignore[attr-defined]
        line = next(m for m in lines if m.startswith(f"rec {rec['rec_id']} {rec['status']}: "))
        assert " s) [" in line and " done | " in line
    assert lines[-1].endswith("ETA 00:00]")
    caplog.clear()
    _sweep(tmp_path / "off", toy_skill, log_progress=False)
    assert not [r for r in caplog.records if r.name == "tao_automl.progress"]


def test_a_plain_script_sees_the_lines_on_stderr(toy_skill: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from tao_automl.platforms.local.sdk import LocalSDK\n"
        "from tao_automl.runner.loop import AutoMLRunner\n"
        f"r = AutoMLRunner(LocalSDK(jobs_dir={str(tmp_path / 'jobs')!r}), {str(toy_skill)!r},"
        " log_progress=sys.argv[1] == 'on')\n"
        "r.run(automl_settings={'metric': 'val_loss', 'automl_max_recommendations': 2, 'poll_interval_s': 0.2},"
        f" workspace_path={str(tmp_path / 'ws')!r}, gpu_count=0)\n"
    )
    on = subprocess.run([sys.executable, "-c", script, "on"], capture_output=True, text=True, timeout=120)
    assert on.returncode == 0, on.stderr
    assert sum(line.startswith("[tao-automl] rec ") for line in on.stderr.splitlines()) == 2
    off = subprocess.run([sys.executable, "-c", script, "off"], capture_output=True, text=True, timeout=120)
    assert off.returncode == 0 and "[tao-automl] rec" not in off.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_clock_moves_between_events() -> None:
    term = _Terminal()
    view = LiveView("val_loss", as_json=False, stdout=term, stderr=io.StringIO())
    view.progress({"completed": 1, "total": 4, "running": 2, "failed": 0, "best_metric": 0.5, "best_rec_id": 1,
                   "metric": "val_loss", "ranked_by": "metric", "elapsed_s": 10.0, "eta_s": 30.0})
    deadline = time.monotonic() + 10
    while "elapsed 00:11" not in term.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    view.stop()
    out = term.getvalue()
    assert "\r\x1b[K[1/4 done | 2 running | 0 failed | best val_loss=0.5 (rec 1) | elapsed 00:10 | ETA 00:30]" in out
    assert "elapsed 00:11 | ETA 00:29]" in out  # redrawn by the clock alone
    assert out.endswith("\n")  # stop() leaves the line in place
    size = len(out)
    time.sleep(1.2)
    assert len(term.getvalue()) == size  # and nothing draws after it


@pytest.mark.parametrize("enabled", [True, False])
def test_ask_tell_logs_a_line_per_result_unless_turned_off(tmp_path: Path, enabled: bool,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from conftest import small_schema
    from tao_automl import AutoML

    caplog.set_level(logging.INFO, logger="tao_automl.progress")
    automl = AutoML(workspace=tmp_path / "run", settings={"algorithm": "random", "metric": "val_loss",
                                                          "automl_max_recommendations": 3},
                    search_schema=small_schema(), log_progress=enabled)
    while not automl.is_complete():
        for rec in automl.next_recommendation():
            automl.report_result(rec.id, float(rec.id))
    automl.finish()
    lines = [r.getMessage() for r in caplog.records if r.name == "tao_automl.progress"]
    if enabled:
        assert [line.split(":")[0] for line in lines] == ["rec 1 success", "rec 2 success", "rec 3 success"]
        assert "| best val_loss=1 (rec 1) | elapsed " in lines[-1]
        assert "[3/3 done | 0 running | 0 failed |" in lines[-1]
    else:
        assert lines == []


def test_a_failed_rec_shows_no_epochs_it_never_trained() -> None:
    """A job that diverged at epoch 1 of an 8-epoch budget is not shown as having trained 8 epochs; a success is."""
    from tao_automl.cli.text_report import ranked_table
    from tao_automl.experiment.lines import rec_line

    failed = {"rec_id": 4, "status": "failure", "metric_value": None, "budget": 8, "budget_reached": None,
              "wall_time_s": 1.6, "message": "diverged at epoch 1", "params": {"lr": 0.8}, "rank": None}
    done = {**failed, "rec_id": 5, "status": "success", "metric_value": 0.97, "message": None, "rank": 1}
    stopped = {**done, "rec_id": 6, "status": "stopped", "budget_reached": 3, "rank": 2}
    assert rec_line(failed, "acc") == "rec 4 failure: diverged at epoch 1 (1.6 s)"
    assert rec_line(done, "acc") == "rec 5 success: acc=0.97 (8 epochs, 1.6 s)"
    assert rec_line(stopped, "acc") == "rec 6 stopped: acc=0.97 (3 epochs, 1.6 s)"
    table = ranked_table({"progress": {"metric": "acc", "completed": 3, "total": 3, "succeeded": 1, "failed": 1,
                                       "stopped": 1, "cancelled": 0},
                          "recommendations": [failed, done, stopped], "best": None}).splitlines()
    epochs_column = {line.split()[1]: line.split()[4] for line in table[2:5]}
    assert epochs_column == {"5": "8", "6": "3", "4": "-"}


def test_a_cancelled_rec_shows_its_reason_like_a_failure() -> None:
    """status text showed no reason for a cancelled rec although its JSON message has one."""
    from tao_automl.cli.text_report import ranked_table

    cancelled = {"rec_id": 2, "status": "cancelled", "metric_value": None, "budget": 8, "budget_reached": None,
                 "wall_time_s": 0.5, "message": "cancelled: stopping the sweep: all 3 finished recs failed",
                 "params": {"lr": 0.1}, "rank": None}
    table = ranked_table({"progress": {"metric": "acc", "completed": 1, "total": 3, "succeeded": 0, "failed": 0,
                                       "stopped": 0, "cancelled": 1},
                          "recommendations": [cancelled], "best": None}).splitlines()
    assert table[3].split() == ["reason:", "cancelled:", "stopping", "the", "sweep:", "all", "3", "finished", "recs",
                                "failed"]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_ctrl_c_names_the_run_folder_to_resume(toy_skill: Path, tmp_path: Path, as_json: bool) -> None:
    """Ctrl-C during `run`: exit 130, jobs keep running, and the message gives the real run folder to resume
    (it said RUN_DIR)."""
    config = _config(tmp_path, toy_skill, recs=4)
    env = dict(os.environ, TRAINER_SLEEP="30")
    proc = subprocess.Popen([*CLI, "run", str(config), *(["--json"] if as_json else [])], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((tmp_path / "ws").glob("run_*/recs/rec_0002")):
            time.sleep(0.1)
        run_dir = next((tmp_path / "ws").glob("run_*"))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"interrupted: jobs keep running; continue with `tao-automl resume {run_dir}`" in err
    if as_json:
        printed = json.loads(out)
        error = printed["error"]
        assert error["kind"] == "interrupted" and error["value"] == str(run_dir)
        # what ran first comes with it (it printed the error alone): the run's status, interrupted
        assert printed["progress"]["state"] == "interrupted" and printed["run_dir"] == str(run_dir)
        assert len(printed["recommendations"]) >= 2
    assert query_status(run_dir)["progress"]["state"] == "interrupted"
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    sdk.cancel_grace_s = 1.0
    for job in query_status(run_dir)["active_jobs"]:  # they kept running: end them
        sdk.cancel_job(job["job_id"])


def test_params_are_shown_by_their_shortest_unambiguous_ending() -> None:
    """Tables and live lines shorten dotted keys, but never to an ending two keys share (image classification
    searches about ten ``...enable`` flags)."""
    from tao_automl.experiment.lines import format_params

    params = {"train.optim.lr": 0.01, "aug.color.enable": True, "aug.flip.enable": False, "model.enable": True,
              "enable": 1}
    assert format_params(params) == ("lr=0.01 color.enable=True flip.enable=False model.enable=True enable=1")


def test_the_ranked_table_shows_enough_digits_to_tell_neighbours_apart() -> None:
    """Ranks 3, 4 and 5 all read `-1005` (their values: -1004.99, -1005.03, -1005.37)."""
    from tao_automl.experiment.lines import distinct_values

    assert distinct_values([-999.8, -1004.99, -1005.03, -1005.37, None]) == [
        "-999.8", "-1004.99", "-1005.03", "-1005.37", "-"]
    assert distinct_values([0.9777, 0.9754, 0.95]) == ["0.9777", "0.9754", "0.95"]  # as before when distinct
    assert distinct_values([0.5, 0.5]) == ["0.5", "0.5"]  # a tie stays a tie


def test_the_ranked_table_tells_tiny_and_huge_neighbours_apart() -> None:
    """A minimised val_loss of 1.2341e-12 (rank 1) and 1.2349e-12 (rank 2) both read `1.23e-12`, as did 123410 and
    123490 (`1.23e+05`): the values differed at the 4th digit, which the check looked at, but the table printed 3."""
    from tao_automl.experiment.lines import distinct_values

    tiny = distinct_values([1.2341e-12, 1.2341e-12, 1.2349e-12, 0.5])
    assert tiny[0] == tiny[1] and len(set(tiny)) == 3  # the tie stays a tie, the rest read apart
    huge = distinct_values([123410.0, 123490.0, None])
    assert huge[0] != huge[1] and huge[2] == "-"
    assert distinct_values([1e-12, 1e12]) == ["1e-12", "1e+12"]  # distinct already: as format_value shows them


def test_a_second_metrics_column_tells_different_values_apart() -> None:
    """A two-metric run: rec 1 (on the front) and rec 2 (dominated: slower) both showed latency_ms `10` (10.00001 and
    10.00004), so the table seemed to rank two equal results differently."""
    from tao_automl.cli.text_report import ranked_table

    def rec(rec_id: int, rank: int, acc: float, latency: float) -> dict[str, Any]:
        return {"rec_id": rec_id, "rank": rank, "status": "success", "metric_value": acc, "params": {"x": rec_id},
                "metric_values": {"val_acc": acc, "latency_ms": latency}, "wall_time_s": 1.0}

    objectives = [{"name": "val_acc", "direction": "maximize"}, {"name": "latency_ms", "direction": "minimize"}]
    summary = {"progress": {"metric": "val_acc", "objectives": objectives, "completed": 3, "total": 3,
                            "succeeded": 3, "failed": 0, "pareto_front": [{"rec_id": 1}, {"rec_id": 3}]},
               "recommendations": [rec(1, 1, 0.9, 10.00001), rec(3, 2, 0.7, 4.0), rec(2, 3, 0.9, 10.00004)],
               "best": None}
    rows = {int(line.split()[1]): line.split() for line in ranked_table(summary).splitlines()[2:5]}
    assert rows[1][4] != rows[2][4] and float(rows[1][4]) < float(rows[2][4])
    assert rows[3][4] == "4"


def test_the_last_progress_line_of_a_sweep_that_stopped_itself_has_no_eta(tmp_path: Path) -> None:
    """After fail fast stopped a sweep, the last live line read `... | ETA 00:03]` while progress.eta_s was null:
    the ended run's line is printed (and a finished run's is not printed twice)."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.testing import InstantSDK

    for fail_every, state in ((1, "failed"), (0, "finished")):
        err = io.StringIO()
        view = LiveView("val_loss", as_json=True, stdout=io.StringIO(), stderr=err)
        runner = AutoMLRunner(InstantSDK(fail_every=fail_every), write_skill(tmp_path / f"bank{fail_every}"),
                              log_progress=False)
        runner.on_progress = view.progress
        result = runner.run(automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_concurrent": 1,
                                             "automl_max_recommendations": 6, "automl_fail_fast_after": 3},
                            workspace_path=tmp_path / f"ws{fail_every}", gpu_count=0)
        lines = [line for line in err.getvalue().splitlines() if line.startswith("[")]
        assert result["progress"]["state"] == state and result["progress"]["eta_s"] in (None, 0.0)
        assert lines[-1].endswith("| ETA -]") if state == "failed" else lines[-1].endswith("| ETA 00:00]")
        assert len(lines) == len(set(lines)), lines


def test_on_a_terminal_the_last_progress_line_is_drawn_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tao-automl run` on a terminal drew its final progress line three times: for the last rec's end, for the
    ended run (the same line), and again when the view closed; a line already on screen is not drawn again."""
    from conftest import write_skill
    from tao_automl.testing import InstantSDK

    monkeypatch.setenv("TERM", "xterm")
    term = _Terminal()
    view = LiveView("val_loss", as_json=False, stdout=term, stderr=io.StringIO())
    runner = AutoMLRunner(InstantSDK(), write_skill(tmp_path / "bank"), log_progress=False)
    runner.on_progress = view.progress
    result = runner.run(automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_concurrent": 1,
                                         "automl_max_recommendations": 3}, workspace_path=tmp_path / "ws",
                        gpu_count=0, on_recommendation=view.started, on_result=view.ended)
    view.close(result)  # as `run` does
    out = term.getvalue()
    assert result["progress"]["state"] == "finished"
    assert out.count("[3/3 done | 0 running | ") == 1, out
    assert out.split("[3/3 done | 0 running | ")[1].split("\n")[0].endswith("ETA 00:00]")  # it stays on screen


def test_a_dumb_terminal_gets_plain_lines_and_a_narrow_one_an_unwrapped_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """TERM=dumb got ESC[K redraws it cannot show, and a 40-column terminal a 70-character line that wrapped,
    leaving a stale copy per redraw."""
    monkeypatch.setenv("TERM", "dumb")
    term, err = _Terminal(), io.StringIO()
    view = LiveView("val_loss", as_json=False, stdout=term, stderr=err)
    progress = {"completed": 1, "total": 4, "running": 2, "failed": 0, "best_metric": 0.5, "best_rec_id": 1,
                "metric": "val_loss", "ranked_by": "metric", "elapsed_s": 10.0, "eta_s": 30.0}
    view.progress(progress)
    view.stop()
    assert "\x1b" not in term.getvalue() + err.getvalue() and "[1/4 done" in err.getvalue()
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "40")
    term = _Terminal()
    view = LiveView("val_loss", as_json=False, stdout=term, stderr=io.StringIO())
    view.progress(progress)
    view.stop()
    drawn = term.getvalue().split("\r\x1b[K")[-1].rstrip("\n")
    assert drawn.startswith("[1/4 done") and len(drawn) < 40


def test_a_tiny_or_huge_metric_gets_the_same_four_digits_as_any_other() -> None:
    """The live lines read `[rec 1] success val_loss=1.23e-12` and `[rec 2] success val_loss=1.23e-12` for 1.2349e-12
    and 1.2341e-12 (then `best val_loss=1.23e-12 (rec 2)`): three digits below 1e-3 and from 1e5 up, four elsewhere."""
    from tao_automl.experiment.lines import format_metric, metrics_text, progress_line

    assert format_metric(1.2349e-12) != format_metric(1.2341e-12)
    assert format_metric(123490.0) != format_metric(123410.0)
    assert [format_metric(v) for v in (1.2341e-12, 123410.0, 0.5, 1e12)] == ["1.234e-12", "1.234e+05", "0.5", "1e+12"]
    assert metrics_text("val_loss", 1.2349e-12) == "val_loss=1.235e-12"
    assert "best val_loss=1.234e-12 (rec 2)" in progress_line(
        {"completed": 2, "total": 3, "failed": 0, "metric": "val_loss", "best_metric": 1.2341e-12, "best_rec_id": 2})


def test_a_best_just_below_one_is_not_shown_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Jobs that reported val_acc=0.99996: the ranked table showed 0.99996, but `status`'s best line, the progress
    line and `runs` said `val_acc = 1`, a perfect score no rec reached. A value its usual 4 digits would round to a
    whole number it is not gets the digits it needs; other values read as before."""
    from tao_automl.cli.main import main
    from tao_automl.experiment.lines import format_metric, progress_line
    from tao_automl.testing import InstantSDK

    assert [format_metric(v) for v in (0.99996, 99.99996, 1.0, 0.5, 0.123456, 2e-6, float("nan"))] == [
        "0.99996", "99.99996", "1", "0.5", "0.1235", "2e-06", "nan"]
    run = AutoMLRunner(InstantSDK(lambda spec: 0.99996, metric="val_acc"), write_skill(tmp_path / "bank"),
                       log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_acc", "direction": "maximize",
                         "automl_max_recommendations": 2}, workspace_path=tmp_path / "ws", gpu_count=0)
    assert "best val_acc=0.99996 (rec 1)" in progress_line(run["progress"])
    capsys.readouterr()
    assert main(["status", run["run_dir"]]) == 0
    assert "best: rec 1 with val_acc = 0.99996" in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "ws")]) == 0
    assert "val_acc=0.99996 (rec 1)" in capsys.readouterr().out


def test_every_view_shows_a_value_that_is_not_whole_with_the_same_digits() -> None:
    """A param or metric of 99999.5 read `1e+05` in the live lines and `status` (1e6 + 0.5: `1e+06`) but `99999.5`
    in the best line; 1234.56 read `1234.6` as a param and `1234.56` as a metric; the report showed a metric of
    0.9999996 as `1`. Every view now adds one digit at a time, in either notation, until a value that is not whole
    does not read as one; a whole value keeps its digits."""
    from tao_automl.experiment.lines import distinct_values, format_metric, format_params, format_value
    from tao_automl.report.html import _fmt, _fmt_column, _param

    values = [1234.5, 99999.5, 1e6 + 0.5, 0.99996, -1234.5, 1e-7, 12345.5, 1234.56, 0.9999996]
    expected = ["1234.5", "99999.5", "1000000.5", "0.99996", "-1234.5", "1e-07", "12345.5", "1234.6", "0.9999996"]
    assert [format_value(v) for v in values] == expected
    assert [format_metric(v) for v in values] == expected
    assert distinct_values([*values, None]) == [*expected, "-"]
    assert format_params({"train.x": 99999.5}) == "x=99999.5"
    report = [_fmt(v) for v in values]
    assert report == [_param(v) for v in values] == _fmt_column(values)
    assert all(not float(text).is_integer() for text in report), report
    assert report[:2] == ["1234.5", "99999.5"] and report[7:] == ["1234.56", "0.9999996"]  # its own 6 digits
    # a whole value keeps its digits: three (param) or four (metric) from 1e5 up
    whole = (format_value(123456.0), format_metric(123456.0), _fmt(1234567.0))
    assert whole == ("1.23e+05", "1.235e+05", "1.23457e+06")


def test_the_orchestrators_status_line_shows_the_best_as_status_does() -> None:
    """The detached orchestrator's minute line (its log, `write_snapshot`'s answer) printed the best with six
    significant digits and no check: val_acc 0.9999996 read `1`, where `status` reads 0.9999996."""
    from tao_automl.experiment.lines import format_metric
    from tao_automl.runner.orchestrator import status_line

    for best in (0.9999996, 99999.5, 0.5):
        line = status_line({"progress": {"state": "running", "metric": "val_acc", "best_metric": best,
                                         "best_rec_id": 2}})
        assert f"best val_acc={format_metric(best)} (rec 2)" in line, line
    assert "val_acc=0.9999996 " in status_line({"progress": {"metric": "val_acc", "best_metric": 0.9999996}})


def test_a_param_just_below_one_is_not_shown_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A logit-scale float (a momentum, Adam's beta2) searched in [0.9999, 0.99999] is never 1, but the live lines,
    `status` and the report's table showed its values with 4 (HTML: 6) significant digits, `lr=1`, a value outside
    its range that README says a logit scale never reaches. A param value those digits would round to a whole
    number it is not gets the digits it needs, as a metric's best line does (the ranked table's metric column
    read 1 too); other values read as before."""
    from tao_automl.cli.main import main
    from tao_automl.experiment.lines import distinct_values, format_params, format_value
    from tao_automl.report.html import _param
    from tao_automl.testing import InstantSDK

    assert [format_value(v) for v in (0.99996, 1.99996, 1.0, 0.5, 0.123456, 2e-6, 123456.0, 3)] == [
        "0.99996", "1.99996", "1", "0.5", "0.1235", "2e-06", "1.23e+05", "3"]
    assert [_param(v) for v in (0.9999996, 0.5, 1.0)] == ["0.9999996", "0.5", "1"]
    assert distinct_values([0.99996, 0.5]) == ["0.99996", "0.5"]  # the ranked table's metric column read 1 too
    run = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_acc"), write_skill(tmp_path / "bank"),
                       log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_acc", "direction": "maximize",
                         "automl_max_recommendations": 3},
        custom_param_ranges={"train.optim.lr": {"valid_min": 0.9999, "valid_max": 0.99999, "scale": "logit"}},
        workspace_path=tmp_path / "ws", gpu_count=0)
    values = [rec["params"]["train.optim.lr"] for rec in run["recommendations"]]
    assert all(0.9999 <= v <= 0.99999 for v in values), values
    capsys.readouterr()
    assert main(["status", run["run_dir"]]) == 0
    text = capsys.readouterr().out
    assert "lr=1 " not in text and "lr=1\n" not in text and f"lr={format_params({'lr': values[0]})[3:]}" in text, text
    assert format_params({"train.optim.lr": values[0]}) != "lr=1"


def test_a_resume_of_a_finished_run_says_its_budget_is_spent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A resume of a run whose 2 recs (its whole budget) had ended logged that "its budget allows no more, or its
    brain proposed no more before it", leaving the newcomer to guess which, while `status` and `stop` of the same
    run say every rec of the run's budget has ended. The line now says which it was."""
    from tao_automl.testing import InstantSDK

    runner = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_acc"), write_skill(tmp_path / "bank"),
                          log_progress=False)
    settings = {"algorithm": "random", "metric": "val_acc", "direction": "maximize", "automl_max_recommendations": 2}
    run = runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    caplog.set_level(logging.WARNING, logger="tao_automl.runner.loop")
    again = runner.run(workspace_path=run["run_dir"], resume=True, automl_settings=settings, gpu_count=0)
    assert again["progress"]["state"] == "finished"
    line = next(r.getMessage() for r in caplog.records if "nothing left to run" in r.getMessage())
    assert "its 2 recs, every rec of its budget, have all ended (state finished, kept); nothing is launched" in line
    assert " or " not in line, line


def test_one_epoch_is_said_one_epoch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A run of 1-epoch recs said "(1 epochs, 0.0 s)" per rec, "best: rec 1 with val_acc = 0.5 at 1 epochs" in
    status and run, and export --best "wrote rec 1's spec (val_acc=0.5 at 1 epochs)" (the report said it so too)."""
    from tao_automl.testing import InstantSDK

    with caplog.at_level(logging.INFO, logger="tao_automl.progress"):
        result = AutoMLRunner(InstantSDK(lambda spec: 0.5, metric="val_acc"), write_skill(tmp_path / "bank")).run(
            automl_settings={"algorithm": "random", "metric": "val_acc", "automl_max_recommendations": 2},
            workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["best"]["budget"] == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "tao_automl.progress" and "success" in r.getMessage()]
    assert lines and all("(1 epoch, " in line for line in lines), lines
    status = subprocess.run([*CLI, "status", result["run_dir"]], capture_output=True, text=True, timeout=120)
    exported = subprocess.run([*CLI, "export", result["run_dir"], "--best", "-o", str(tmp_path / "best.yaml")],
                              capture_output=True, text=True, timeout=120)
    for done in (status, exported):
        assert done.returncode == 0 and "1 epochs" not in done.stdout + done.stderr, done
    assert "val_acc = 0.5 at 1 epoch\n" in status.stdout and "val_acc=0.5 at 1 epoch)" in exported.stdout

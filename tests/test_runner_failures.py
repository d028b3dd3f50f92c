"""Job timeouts and failing fast: real subprocess jobs on LocalSDK, the CLI's exit codes (0 / 1 / 2)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import TWO_EPOCHS_THEN_TRAINS_ON, EndsBeforeCancelSDK, write_skill
from tao_automl.cli.main import main
from tao_automl.experiment.store import RecRow
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.failures import cause_key, fail_fast_message, job_timeout, next_step, shared_cause
from tao_automl.runner.loop import AutoMLRunner

HANGS = "import time\ntime.sleep(60)\n"
NO_METRIC = "print('training done')\n"
#: Fails with one of two causes, alternating by launch order (a counter file next to the script).
TWO_CAUSES = """
import os, sys
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launches")
n = len(open(path).read()) if os.path.exists(path) else 0
open(path, "a").write("x")
sys.exit("RuntimeError: CUDA out of memory" if n % 2 == 0 else "ValueError: bad annotation file")
"""


#: Reports no metric, except the second launch, which diverges (exit 1).
NO_METRIC_ONE_DIVERGES = """
import os, sys
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launches")
n = len(open(path).read()) if os.path.exists(path) else 0
open(path, "a").write("x")
if n == 1:
    sys.exit("training diverged at epoch 1 (loss=nan)")
print("training done")
"""


def _settings(**extra: Any) -> dict[str, Any]:
    return {"metric": "val_loss", "automl_max_recommendations": 8, "automl_max_concurrent": 2, "seed": 2,
            "poll_interval_s": 0.2, "algorithm": "random", **extra}


def _config(tmp_path: Path, skill: Path, **settings: Any) -> Path:
    config = {"skill_dir": str(skill), "workspace_path": str(tmp_path / "ws"),
              "automl_settings": _settings(**settings), "platform_options": {"jobs_dir": str(tmp_path / "jobs")},
              "platform_kwargs": {"gpu_count": 0}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_hung_job_is_cancelled_at_its_timeout_and_fails_naming_it(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=HANGS)
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    t0 = time.monotonic()
    result = AutoMLRunner(sdk, skill).run(
        automl_settings=_settings(automl_max_recommendations=2, automl_job_timeout_s=1.0),
        workspace_path=tmp_path / "ws", gpu_count=0)
    assert time.monotonic() - t0 < 30
    for rec in result["history"]:
        assert rec["status"] == "failure"
        assert "timed out" in rec["message"] and "automl_job_timeout_s=1 s" in rec["message"]
        info = sdk.get_job_info(rec["job_id"])
        assert info["state"] == "cancelled"
        with pytest.raises(ProcessLookupError):
            os.kill(int(info["pid"]), 0)  # the job's process is gone, not orphaned


def test_a_timed_out_job_is_recorded_at_the_epochs_it_trained(tmp_path: Path) -> None:
    """A job its timeout cancels after reporting epochs 1 and 2 of 5 fails with ``budget_reached`` 2, the epochs it
    trained, as a job that crashed after reporting epochs is recorded (it was None: `status` showed no epochs)."""
    skill = write_skill(tmp_path / "bank", trainer=TWO_EPOCHS_THEN_TRAINS_ON)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_recommendations=1, automl_max_concurrent=1, automl_job_timeout_s=1.5,
                                  automl_fail_fast_after=0),
        spec_overrides={"train.num_epochs": 5}, workspace_path=tmp_path / "ws", gpu_count=0)
    [rec] = result["recommendations"]
    assert rec["status"] == "failure" and "timed out" in rec["message"], rec
    assert (rec["budget"], rec["budget_reached"]) == (5, 2)


#: Exits 0 after epochs 1-2 of 5 without the metric (a train_loss only), or after all 5 with a NaN val_loss.
ENDS_WELL_WITHOUT_THE_METRIC = """
import json, os, sys, yaml
spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
os.makedirs(spec["results_dir"], exist_ok=True)
nan = os.environ.get("TRAINER_NAN") == "1"
with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
    for epoch in range(1, 6 if nan else 3):
        f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": float("nan")} if nan else {"train_loss": 0.5}})
                + "\\n")
print("training done")
"""


@pytest.mark.parametrize(("nan", "reached", "said"), [(False, 2, "val_loss"), (True, 5, "nan")])
def test_a_job_that_ends_well_without_the_metric_is_recorded_at_the_epochs_it_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nan: bool, reached: int, said: str) -> None:
    """A job that exits 0 after reporting epochs 1-2 of 5 but never its metric (or all 5 with a NaN metric) fails,
    as it did, now at ``budget_reached`` 2 (5), the epochs it reported, as a crashed, timed-out or cancelled job is
    recorded (it was None: `status` and export --csv showed no epochs)."""
    monkeypatch.setenv("TRAINER_NAN", "1" if nan else "0")
    skill = write_skill(tmp_path / "bank", trainer=ENDS_WELL_WITHOUT_THE_METRIC)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_recommendations=1, automl_max_concurrent=1, automl_fail_fast_after=0),
        spec_overrides={"train.num_epochs": 5}, workspace_path=tmp_path / "ws", gpu_count=0)
    [rec] = result["recommendations"]
    assert rec["status"] == "failure" and said in rec["message"].lower(), rec
    assert (rec["budget"], rec["budget_reached"]) == (5, reached), rec


#: Rec 1 reports epochs 1-2 and trains on; every other rec fails alike after 0.5 s (told by its results folder).
FIRST_TRAINS_ON_THE_REST_FAIL = """
import json, os, sys, time, yaml
spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
os.makedirs(spec["results_dir"], exist_ok=True)
if "rec_0001" not in spec["results_dir"]:
    time.sleep(0.5)
    sys.exit("RuntimeError: the data loader crashed")
with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
    for epoch in (1, 2):
        f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": 1.0 / epoch}}) + "\\n")
time.sleep(60)
"""


def test_a_job_the_sweeps_fail_fast_cancels_is_recorded_at_the_epochs_it_trained(tmp_path: Path) -> None:
    """Two recs fail alike, so the sweep stops and cancels rec 1, in flight after reporting epochs 1-2 of 5: it is
    recorded cancelled at budget_reached 2 (it was None, while the report drew its two epochs)."""
    skill = write_skill(tmp_path / "bank", trainer=FIRST_TRAINS_ON_THE_REST_FAIL)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_recommendations=4, automl_max_concurrent=2, automl_fail_fast_after=2),
        spec_overrides={"train.num_epochs": 5}, workspace_path=tmp_path / "ws", gpu_count=0)
    first = result["recommendations"][0]
    assert (first["status"], first["budget"], first["budget_reached"]) == ("cancelled", 5, 2), first
    assert [r["status"] for r in result["recommendations"][1:3]] == ["failure", "failure"], result["recommendations"]


def test_a_job_cancelled_outside_the_sweep_says_so(tmp_path: Path) -> None:
    """A job someone cancelled on the platform (scancel, docker stop) ended its rec with "job was cancelled", the
    same words as a cancel by the sweep itself."""
    import threading

    skill = write_skill(tmp_path / "bank", trainer=HANGS)
    outsider = LocalSDK(jobs_dir=tmp_path / "jobs")  # another process's view of the same jobs

    def cancel_soon(rec: Any) -> None:
        threading.Timer(0.5, outsider.cancel_job, args=(rec.job_id,)).start()

    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_recommendations=1, automl_max_concurrent=1),
        workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=cancel_soon)
    [rec] = result["history"]
    assert rec["status"] == "cancelled"
    assert rec["message"].startswith("cancelled outside this sweep (not by its stop rule, a timeout or "
                                     "`tao-automl stop --cancel-jobs`: e.g. scancel, docker stop or the platform's "
                                     "console): "), rec["message"]


def test_timeouts_that_fail_fast_stop_the_sweep_and_cancel_the_job_in_flight(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The third timed-out rec stops the sweep (fail fast). It was still among the jobs in flight when its failure
    was recorded, so the stop cancelled it again, found it ended and recorded it a second time: the CLI exited 2
    ("a result is recorded once", "nothing was started") and left rec 4's job running unsupervised."""
    skill = write_skill(tmp_path / "bank", trainer=HANGS)
    config = _config(tmp_path, skill, automl_max_recommendations=4, automl_job_timeout_s=1.0)
    assert main(["run", str(config), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["kind"] == "no_result" and "timed out" in out["error"]["message"], out
    assert out["progress"]["state"] == "failed"
    statuses = {r["rec_id"]: r["status"] for r in out["recommendations"]}
    assert [statuses[i] for i in (1, 2, 3)] == ["failure"] * 3, statuses
    assert set(statuses.values()) <= {"failure", "cancelled"}, statuses
    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    for rec in out["recommendations"]:
        with pytest.raises(ProcessLookupError):
            os.kill(int(sdk.get_job_info(rec["job_id"])["pid"]), 0)  # no job is left running


#: Succeeds after 1.5 s with a metric.
SLOW_SUCCESS = "import time\ntime.sleep(1.5)\nprint('val_loss: 0.25')\n"


def test_a_job_that_ends_as_its_timeout_cancels_it_keeps_its_result(tmp_path: Path) -> None:
    """The timeout fires, but the job ends before the cancel reaches it: the platform refuses the cancel, and the
    rec gets the job's own result instead of a timeout failure (it was recorded as failed, its metric lost)."""
    skill = write_skill(tmp_path / "bank", trainer=SLOW_SUCCESS)
    sdk = EndsBeforeCancelSDK(jobs_dir=tmp_path / "jobs")
    result = AutoMLRunner(sdk, skill).run(
        automl_settings=_settings(automl_max_recommendations=1, automl_job_timeout_s=0.5),
        workspace_path=tmp_path / "ws", gpu_count=0)
    (rec,) = result["history"]
    assert (rec["status"], rec["metric_value"], rec["message"]) == ("success", 0.25, None)
    assert sdk.get_job_info(rec["job_id"])["state"] == "success"


#: The second launch succeeds after 1.5 s; every other launch fails at once with the same cause (launches are
#: numbered by creating files exclusively, so two jobs starting together never take the same number).
ONE_SLOW_SUCCESS = """
import os, sys, time
folder = os.path.dirname(os.path.abspath(__file__))
n = 0
while True:
    try:
        os.close(os.open(os.path.join(folder, f"launch_{n}"), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        n += 1
if n == 1:
    time.sleep(1.5)
    print("val_loss: 0.25")
else:
    sys.exit("RuntimeError: CUDA out of memory")
"""


def test_failing_fast_collects_a_job_that_ended_before_its_cancel(tmp_path: Path) -> None:
    """Three recs fail alike while a fourth runs: the sweep stops and cancels the jobs in flight. The running job
    ends before its cancel: the platform refuses it, and the rec keeps the job's result instead of ending
    ``cancelled`` (its metric was lost)."""
    skill = write_skill(tmp_path / "bank", trainer=ONE_SLOW_SUCCESS)
    result = AutoMLRunner(EndsBeforeCancelSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_concurrent=2), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["state"] == "failed" and "CUDA out of memory" in result["stop_reason"]
    by_status = {h["status"]: h for h in result["history"]}
    assert by_status["success"]["metric_value"] == 0.25 and "cancelled" not in by_status
    assert result["best"] is not None and result["best"]["metric_value"] == 0.25
    rec = by_status["success"]["rec_id"]
    assert result["stop_reason"].endswith(f" 1 job(s) in flight had ended before the cancel and kept their result "
                                          f"(rec {rec}: success).")


class _StatusLostAfterRefusedCancel(EndsBeforeCancelSDK):
    """A job ends before its cancel (refused), and from then on no job's status can be read (a platform outage)."""

    refused = False

    def cancel_job(self, job_id: str) -> bool:
        ended_first = not super().cancel_job(job_id)
        self.refused = self.refused or ended_first
        return not ended_first

    def get_job_status(self, job_id: str) -> Any:
        if self.refused:
            raise RuntimeError("status service unavailable")
        return super().get_job_status(job_id)


def test_failing_fast_leaves_an_unreadable_ended_job_for_resume_and_says_so(tmp_path: Path) -> None:
    """The in-flight job ended before its cancel, but its status cannot be read: it is not recorded as cancelled
    (its result would be lost), the stop reason says it is left for ``resume``, and ``resume`` collects it. The
    run's result shows that rec as ``status`` does (``ended_uncollected``; it said ``running``, job_ended false)."""
    from tao_automl import query_status

    skill = write_skill(tmp_path / "bank", trainer=ONE_SLOW_SUCCESS)
    settings = _settings(automl_max_concurrent=2)
    result = AutoMLRunner(_StatusLostAfterRefusedCancel(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["state"] == "failed"
    left = [h for h in result["history"] if h["status"] not in ("failure", "cancelled")]
    assert [h["status"] for h in left] == ["ended_uncollected"], result["history"]
    assert (result["progress"]["running"], result["progress"]["uncollected"]) == (0, 1)
    assert [(a["status"], a["job_ended"]) for a in result["active_jobs"]] == [("ended_uncollected", True)]
    shown = query_status(result["run_dir"], recs="all")
    assert [(h["rec_id"], h["status"]) for h in result["history"]] == [
        (h["rec_id"], h["status"]) for h in shown["recommendations"]]
    rec = left[0]["rec_id"]
    assert result["stop_reason"].endswith(
        f"(rec {rec}: not collected, `tao-automl resume {result['run_dir']}` collects it).")
    again = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=settings, workspace_path=result["run_dir"], gpu_count=0, resume=True)
    assert again["run_dir"] == result["run_dir"]
    collected = next(h for h in again["history"] if h["rec_id"] == rec)
    assert (collected["status"], collected["metric_value"]) == ("success", 0.25)


def test_the_timeout_scales_with_a_multi_fidelity_budget() -> None:
    assert job_timeout(None, 3, 9) is None
    assert job_timeout(90.0, None, 9) == 90.0
    assert job_timeout(90.0, 3, 9) == pytest.approx(30.0)
    assert job_timeout(90.0, 27, 9) == 90.0  # never more than the full-budget limit


def test_same_cause_failures_stop_the_sweep_and_the_cli_exits_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    skill = write_skill(tmp_path / "bank", trainer=NO_METRIC)
    code = main(["run", str(_config(tmp_path, skill))])
    err = capsys.readouterr().err
    assert code == 1
    line = next(x for x in err.splitlines() if x.startswith("error: stopping the sweep"))
    assert "all 3 finished recs failed with the same cause" in line and "reported no metric" in line
    assert "Next step: make automl_settings.metric name a value the job writes" in line
    assert "then start a new run (a run's metric cannot change on resume)" in line
    assert [x for x in err.splitlines() if x.endswith(" cancelled")][-1].startswith("failed: ")  # not "finished:"
    run_dir = next((tmp_path / "ws").glob("run_*"))
    from tao_automl.status import query_status
    status = query_status(run_dir)
    assert status["progress"]["completed"] < 8  # the budget was not wasted
    assert status["progress"]["succeeded"] == 0
    from tao_automl.cli.main import no_result_hint

    hint = no_result_hint({"run_dir": str(run_dir), "progress": status["progress"], "recommendations": []})
    assert "start a new run" in hint and "tao-automl resume" not in hint, hint  # the run's own error hint too
    # status and stop said "continue with `tao-automl resume`", which ran another rec that failed the same way
    assert status["orchestrator"]["new_run_needed"] is True
    assert main(["status", str(run_dir)]) == 0
    shown = capsys.readouterr().out
    assert "start a new run" in shown and "tao-automl resume" not in shown, shown
    assert main(["stop", str(run_dir), "--json"]) == 0
    stopped = json.loads(capsys.readouterr().out)
    assert stopped["next"] is None and stopped["new_run_needed"] is True
    assert "cannot change on resume" in stopped["stop_reason"]
    from tao_automl.agentapi.tools import call_tool

    tool, _ = call_tool("stop_sweep", {"run_dir": str(run_dir)})
    assert tool["next"] is None, tool  # an agent is not sent to resume_sweep either
    # a resume anyway (the user may have fixed the trainer) runs, but says what status and stop said
    from tao_automl.runner.detach import repeat_warning

    assert "stops the same way" in str(repeat_warning(run_dir))
    with caplog.at_level("WARNING", logger="tao_automl.runner.loop"):
        assert main(["resume", str(run_dir)]) == 1  # unfixed: it stops the same way
    assert any("had stopped itself on a cause a resume meets again" in r.getMessage() for r in caplog.records)


def test_a_detached_resume_of_a_run_that_needs_a_new_run_says_so_in_its_answer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SKILL.md: a resume of a run that stopped itself on a cause a resume meets again "still runs ..., and its answer
    carries a `warning` saying so (`resume --detach --json` and `resume_sweep`)"."""
    from agent_helpers import ended, wait_for
    from tao_automl.agentapi.tools import call_tool

    skill = write_skill(tmp_path / "bank", trainer=NO_METRIC)
    assert main(["run", str(_config(tmp_path, skill, automl_max_recommendations=12))]) == 1
    run_dir = str(next((tmp_path / "ws").glob("run_*")))
    capsys.readouterr()
    assert main(["resume", run_dir, "--detach", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["detached"] is True and "stops the same way" in answer["warning"], answer
    assert wait_for(run_dir, ended, timeout=120)["orchestrator"]["new_run_needed"] is True  # it did
    tool, is_error = call_tool("resume_sweep", {"run_dir": run_dir})
    assert not is_error and "stops the same way" in tool["warning"], tool
    wait_for(run_dir, ended, timeout=120)


def test_run_json_without_a_result_names_the_real_folder_and_a_failed_recs_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    skill = write_skill(tmp_path / "bank", trainer=NO_METRIC)
    assert main(["run", str(_config(tmp_path, skill)), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    run_dir, hint = out["run_dir"], out["error"]["hint"]
    failed = min(r["rec_id"] for r in out["recommendations"] if r["status"] == "failure")
    assert "RUN_DIR" not in hint and f"`tao-automl logs {run_dir} {failed}`" in hint
    # no metric: a cause a resume meets again, so the run's own hint says a new run, as status and stop do
    assert "start a new run with what the stop reason says" in hint and "tao-automl resume" not in hint, hint
    crash = write_skill(tmp_path / "bank2", trainer="import sys\nsys.exit(3)\n")
    assert main(["run", str(_config(tmp_path, crash)), "--json"]) == 1
    hint = json.loads(capsys.readouterr().out)["error"]["hint"]  # a cause of unknown place: either way, named
    assert "then `tao-automl resume " in hint and "if it lay outside the run's settings" in hint
    assert "start a new run if it lay in the settings" in hint


def test_submissions_failing_in_a_row_stop_with_a_hint_naming_the_folder(tmp_path: Path) -> None:
    from tao_automl.errors import PlatformError
    from tao_automl.testing import InstantSDK

    class Refusing(InstantSDK):
        def create_job(self, *args: Any, **kwargs: Any) -> Any:
            raise PlatformError("quota exceeded")

    with pytest.raises(PlatformError, match="3 job submissions failed in a row") as caught:
        AutoMLRunner(Refusing(), write_skill(tmp_path / "bank")).run(
            automl_settings=_settings(automl_fail_fast_after=0), workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = next((tmp_path / "ws").glob("run_*"))
    assert caught.value.to_json()["hint"] == (f"read the recs' messages in `tao-automl status {run_dir} --recs all`; "
                                              f"`tao-automl resume {run_dir}` once the platform works")


def test_a_stop_on_refused_submissions_says_those_recs_count_against_the_budget(tmp_path: Path) -> None:
    """The recs whose submission failed end as failed recs of automl_max_recommendations, though nothing trained:
    the stop said "resume it once the platform works" and the resume then launched fewer recs than the user asked
    for, unexplained. The stop says how many recs the budget has left."""
    from tao_automl.errors import PlatformError
    from tao_automl.testing import InstantSDK

    class Refusing(InstantSDK):
        def create_job(self, *args: Any, **kwargs: Any) -> Any:
            raise PlatformError("quota exceeded")

    with pytest.raises(PlatformError) as caught:
        AutoMLRunner(Refusing(), write_skill(tmp_path / "bank")).run(
            automl_settings=_settings(automl_fail_fast_after=0, automl_max_concurrent=1),
            workspace_path=tmp_path / "ws", gpu_count=0)
    assert ("the 3 recs whose submission failed count against automl_max_recommendations (8) as failed recs: "
            "a resume launches the 5 left") in str(caught.value)


def test_a_submission_refused_for_the_users_input_names_it_and_the_run_folder_it_left(tmp_path: Path) -> None:
    """A value preflight let through and create_job refused stopped the sweep with field null and the hint "nothing
    was started", next to a run folder that existed."""
    from tao_automl.errors import UserInputError
    from tao_automl.testing import InstantSDK

    class Picky(InstantSDK):
        def create_job(self, *args: Any, **kwargs: Any) -> Any:
            raise UserInputError(f"queue must name an open queue, got {kwargs.get('queue')!r}")

    with pytest.raises(UserInputError) as caught:
        AutoMLRunner(Picky(), write_skill(tmp_path / "bank")).run(
            automl_settings=_settings(), workspace_path=tmp_path / "ws", gpu_count=0, queue="closed")
    run_dir = next((tmp_path / "ws").glob("run_*"))
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == ("platform_kwargs.queue", "closed")
    assert error["message"].startswith("platform_kwargs.queue: queue must name an open queue")
    assert "nothing was started" not in error["hint"]
    assert error["hint"].startswith(f"the platform refused rec 1's job, so the sweep stopped; the run folder {run_dir}")


def test_skill_md_python_resume_changes_llm_fallback_of_a_cli_run(tmp_path: Path, toy_skill: Path) -> None:
    """SKILL.md's advice for llm_failure: the CLI's resume takes no settings, so its Python lines resume the run
    with another llm_fallback (refused before: "settings differ from the stored run")."""
    assert main(["run", str(_config(tmp_path, toy_skill, automl_max_recommendations=2))]) == 0
    run_dir = next((tmp_path / "ws").glob("run_*"))
    skill_md = (Path(__file__).parents[1] / "src" / "tao_automl" / "SKILL.md").read_text()
    snippet = skill_md.split("```python\n")[1].split("```")[0]
    assert 'automl_settings={"llm_fallback": "bayesian"}' in snippet
    scope: dict[str, Any] = {"run_dir": str(run_dir)}
    exec(snippet.replace('automl_settings={"llm_fallback": "bayesian"}',
                         'automl_settings={"llm_fallback": "bayesian", "automl_max_recommendations": 3}'), scope)
    from tao_automl.status import query_status
    status = query_status(run_dir)
    assert status["progress"]["completed"] == 3
    # an LLM stop names llm_timeout_s (a slow endpoint) or a moved endpoint: resuming with them was refused too
    exec(snippet.replace('automl_settings={"llm_fallback": "bayesian"}',
                         'automl_settings={"llm_timeout_s": 120, "llm_max_retries": 3, "llm_model": "m2", '
                         '"llm_endpoint": "http://127.0.0.1:9/v1", "automl_max_recommendations": 4}'), scope)
    assert query_status(run_dir)["progress"]["completed"] == 4


def test_a_missing_command_stops_the_sweep_naming_it(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", command="/nonexistent/trainer -e {config_path}")
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["state"] == "failed"
    reason = result["stop_reason"]
    assert "exit code 127 (the command was not found)" in reason and "Next step: check the skill's command" in reason
    assert f"then `tao-automl resume {result['run_dir']}`" in reason
    statuses = {h["rec_id"]: h["status"] for h in result["history"]}
    failed = [i for i, s in statuses.items() if s == "failure"]
    # Recs 1-3 fail. Rec 4 exists when a slot freed before the third failure was collected (rec 2 and rec 3
    # may end within one poll, and the sweep stops before launching it); in flight at the decision, it is
    # cancelled, or, when it failed before the cancel reached it, collected as the failure it is, and the
    # reason says so. Nothing is left in another state.
    assert sorted(statuses)[:3] == [1, 2, 3] and len(statuses) in (3, 4), statuses
    assert len(failed) + list(statuses.values()).count("cancelled") == len(statuses), statuses
    assert ("kept their result" in reason) == (len(failed) == 4), (statuses, reason)



def test_a_sweep_that_failed_fast_on_its_last_rec_points_to_a_new_run_and_resume_keeps_it_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Failing fast on the budget's last rec leaves `resume` nothing to launch: the stop line, the JSON hint,
    `status` and `stop` say to start a new run; a resume anyway launches nothing and keeps the run failed, with
    its reason and end time (it used to turn it into a "finished" run with no result and advise resume again)."""
    from tao_automl.runner.failures import NO_BUDGET_LEFT
    from tao_automl.status import query_status

    skill = write_skill(tmp_path / "bank", command="/nonexistent/trainer -e {config_path}")
    config = _config(tmp_path, skill, automl_max_recommendations=3, automl_max_concurrent=1)
    assert main(["run", str(config), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    run_dir = out["run_dir"]
    for text in (out["error"]["message"], out["error"]["hint"]):
        assert NO_BUDGET_LEFT in text and f"tao-automl resume {run_dir}" not in text, text
    before, ended_at = query_status(run_dir), _ended_at(run_dir)
    assert main(["resume", run_dir, "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["error"]["message"] == out["error"]["message"]  # the stop reason is kept
    after = query_status(run_dir)
    assert after["progress"]["state"] == "failed" and after["progress"]["completed"] == 3
    assert after["progress"]["stop_reason"] == before["progress"]["stop_reason"]
    assert _ended_at(run_dir) == ended_at
    assert main(["status", run_dir]) == 0
    assert "nothing to resume" in capsys.readouterr().out
    assert main(["stop", run_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["next"] is None
    assert main(["status", run_dir, "--watch"]) == 1  # a run without a result never watches out with 0


def _ended_at(run_dir: str) -> float:
    from tao_automl.experiment.store import RunStore

    store = RunStore(run_dir, readonly=True)
    try:
        return float(store.meta()["ended_at"])
    finally:
        store.close()


def test_a_sweep_whose_every_rec_failed_ends_failed_with_its_reason_and_watch_exits_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No fail-fast stop (it is off here), every rec failed: the run is `failed`, not `finished` (SKILL.md: a
    finished run's `best` holds the winning rec), and its stop reason names the cause and the next step."""
    skill = write_skill(tmp_path / "bank", command="/nonexistent/trainer -e {config_path}")
    config = _config(tmp_path, skill, automl_max_recommendations=2, automl_fail_fast_after=0)
    assert main(["run", str(config), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    run_dir = out["run_dir"]
    from tao_automl.status import query_status

    progress = query_status(run_dir)["progress"]
    assert progress["state"] == "failed"
    reason = progress["stop_reason"]
    assert reason.startswith("the sweep ended without a result: none of its 2 recs succeeded (2 failed)")
    assert "command was not found" in reason and "start a new run" in reason
    assert out["error"]["message"].startswith("the sweep ended without a result")
    assert main(["status", run_dir, "--watch", "--interval", "0.1"]) == 1


def test_different_causes_do_not_stop_the_sweep_and_k_0_turns_it_off(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer=TWO_CAUSES)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_recommendations=4, automl_max_concurrent=1),
        workspace_path=tmp_path / "ws", gpu_count=0)
    # not stopped early (all 4 ran), and not `finished` either: nothing succeeded
    assert result["progress"]["completed"] == 4 and result["progress"]["state"] == "failed"
    assert result["stop_reason"].startswith("the sweep ended without a result: none of its 4 recs succeeded")
    skill2 = write_skill(tmp_path / "bank2", trainer=NO_METRIC)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs2"), skill2).run(
        automl_settings=_settings(automl_max_recommendations=4, automl_fail_fast_after=0),
        workspace_path=tmp_path / "ws2", gpu_count=0)
    assert result["progress"]["completed"] == 4 and result["progress"]["state"] == "failed"
    assert "start a new run (a run's metric cannot change on resume)" in result["stop_reason"]


def test_the_cli_exits_0_when_one_rec_succeeded_and_2_on_bad_input(
        tmp_path: Path, toy_skill: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(_config(tmp_path, toy_skill, automl_max_recommendations=2))]) == 0
    assert main(["run", str(_config(tmp_path, toy_skill, automl_fail_fast_after=-1))]) == 2
    assert "automl_fail_fast_after" in capsys.readouterr().err


def _row(rec_id: int, message: str, status: str = "failure") -> RecRow:
    return RecRow(rec_id=rec_id, params={}, specs={}, status=status, job_name=f"run_x-rec{rec_id:04d}",
                  job_id=f"run_x-rec{rec_id:04d}-{rec_id * 1234567:010x}", results_dir=f"/w/rec_{rec_id:04d}",
                  metric_value=None, message=message, trial=None, created_at=0.0, submitted_at=0.0,
                  finished_at=float(rec_id), updated_at=0.0)


def test_a_cause_ignores_what_differs_between_recs() -> None:
    a = _row(1, "job run_x-rec0001-00012d687 failed (exit code 1): spec /w/rec_0001/train_spec.yaml is bad")
    b = _row(2, "job run_x-rec0002-00025a0ce failed (exit code 1): spec /w/rec_0002/train_spec.yaml is bad")
    assert cause_key(a) == cause_key(b)
    assert shared_cause([a, b], 2) is a
    assert shared_cause([a, _row(2, "out of memory")], 2) is None
    assert shared_cause([a, _row(2, a.message or "", status="success")], 2) is None
    assert shared_cause([a], 2) is None and shared_cause([a, b], 0) is None
    other = _row(3, "training diverged at epoch 1")
    assert shared_cause([a, other, b], 2) is a  # another cause in between does not hide the shared one
    assert shared_cause([a, _row(3, "", status="stopped"), b], 2) is None  # a rec with a metric: not systemic


def test_the_stop_line_counts_every_rec_of_the_cause_and_leaves_cancelled_recs_out() -> None:
    """After a resume: 4 recs failed alike and 1 was cancelled. Before, the line said "3 of the 5 finished recs"
    (the threshold, and the cancelled rec counted as finished)."""
    alike = "job failed (exit code 1): dataset missing"
    rows = [_row(1, alike), _row(2, "cancelled: stopping", status="cancelled"), _row(3, alike), _row(4, alike),
            _row(5, alike)]
    first = shared_cause(rows, 3)
    assert first is rows[0]
    line = fail_fast_message(first, 3, rows, Path("/w/run_x"))
    assert line.startswith("stopping the sweep: all 4 finished recs failed with the same cause (1 more cancelled): ")
    mixed = [*rows, _row(6, "training diverged")]
    assert "4 of the 5 finished recs failed with the same cause and none succeeded (1 more cancelled)" in \
        fail_fast_message(first, 3, mixed, Path("/w/run_x"))


def test_the_next_step_tells_a_missing_dataset_from_a_missing_program_and_a_refused_submission() -> None:
    """A bad dataset path ("no such file") was blamed on the skill's command; a submission the platform refused for a
    platform_kwargs value (sbatch's invalid partition) was blamed on reachability."""
    run = Path("/w/run_x")
    data = ("Slurm job 472 FAILED on node vm with exit code 2: ERROR: dataset.train_path='/nonexistent/digits.npz': "
            "no such file")
    assert next_step(data, run, 1).startswith("make the path named in the message exist where the jobs run")
    for program in ("job failed with exit code 127 (the command was not found): sh: tao-demo: not found",
                    "/bin/sh: 1: /nonexistent/trainer: No such file or directory (exit code 127)",
                    "exec: trainer: no such file or directory"):
        assert next_step(program, run, 1).startswith("check the skill's command"), program
    refused = ("job submission failed: PlatformError: sbatch failed: sbatch: error: invalid partition specified: "
               "nosuchpart")
    step = next_step(refused, run, 1)
    assert "platform_kwargs or platform_options value it cannot meet" in step and "new run" in step
    assert "reachable" not in step
    # a jobs dir the platform cannot write was blamed on the skill's command
    unwritable = ("job submission failed: FileNotFoundError: [Errno 2] No such file or directory: "
                  "'/proc/nojobs/abc/job.sh'")
    assert "jobs_dir it cannot write" in next_step(unwritable, run, 1)
    # a NaN metric was found, not misnamed: "make automl_settings.metric name a value the job writes" misled
    from tao_automl.runner.failures import needs_new_run, timeout_message

    limit = timeout_message(1.0, 1.0, None)
    assert needs_new_run(limit) and next_step(limit, run, 1).startswith("raise automl_job_timeout_s")
    for own in ("requests.exceptions.ReadTimeout: HTTPSConnectionPool(host=x, port=443): Read timed out.",
                "RuntimeError: Timed out initializing process group in store based barrier"):
        # a timeout the job met itself lies outside the run's settings: fixed and resumed, not a new run
        assert not needs_new_run(own) and "automl_job_timeout_s" not in next_step(own, run, 1), own
    spaced = Path("/ws w#1/run_1")  # pasted, an unquoted path is two arguments and a comment
    assert "`tao-automl logs '/ws w#1/run_1' 3`" in next_step("exit code 1", spaced, 3)
    assert "`tao-automl resume '/ws w#1/run_1'`" in next_step("exit code 1", spaced, 3)
    wrong_type = next_step("job submission failed: create_job returned 'job-7', not a job with an .id", run, 1)
    assert wrong_type.startswith("the platform SDK's create_job returned no job object"), wrong_type
    assert "platform_kwargs" not in wrong_type and "resume=True" in wrong_type  # not the platform's refusal
    diverged = next_step("metric is not a finite number (nan)", run, 2)
    assert "training diverged" in diverged and "automl_settings.metric name" not in diverged
    assert f"tao-automl logs {run} 2" in diverged


def test_a_shared_cause_stops_the_sweep_even_with_another_failure_in_between(tmp_path: Path) -> None:
    """A metric name no job writes, with one rec diverging early: the first three to finish are not alike, but
    three failed for the missing metric before any succeeded, so the sweep stops instead of spending its budget."""
    skill = write_skill(tmp_path / "bank", trainer=NO_METRIC_ONE_DIVERGES)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_concurrent=1), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["state"] == "failed" and result["progress"]["completed"] == 4
    assert result["stop_reason"].startswith("stopping the sweep: 3 of the 4 finished recs failed with the same "
                                            "cause and none succeeded: job succeeded but reported no metric")


def test_a_job_that_always_crashes_stops_the_sweep_naming_the_crash(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank", trainer="import sys\nsys.exit('RuntimeError: CUDA out of memory')\n")
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_concurrent=1), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["state"] == "failed" and result["progress"]["completed"] == 3
    assert result["progress"]["eta_s"] is None  # the run has ended: no time left to estimate (it said 4.6 s)
    assert "CUDA out of memory" in result["stop_reason"] and "Next step:" in result["stop_reason"]
    first_failed = min(h["rec_id"] for h in result["history"] if h["status"] == "failure")
    assert f"(`tao-automl logs {result['run_dir']} {first_failed}`)" in result["stop_reason"]
    assert f"then `tao-automl resume {result['run_dir']}` if it lay outside the run's settings" in result["stop_reason"]
    assert "RUN_DIR" not in result["stop_reason"] and "run the sweep again" not in result["stop_reason"]
    assert result["progress"]["stop_reason"] == result["stop_reason"]
    again = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_concurrent=1, automl_fail_fast_after=0),
        workspace_path=result["run_dir"], resume=True)
    assert again["progress"]["completed"] == 8  # fail-fast off on resume: every rec ran, none succeeded
    assert again["progress"]["state"] == "failed" and again["stop_reason"].startswith(
        "the sweep ended without a result: none of its 8 recs succeeded (8 failed)")
    assert again["progress"]["eta_s"] == 0.0  # nothing remains
    # the fail-fast reason of the first run is gone: the progress says why the resumed run ended
    assert again["progress"]["stop_reason"] == again["stop_reason"] and "automl_fail_fast_after=3" not in \
        again["stop_reason"]


def test_promotions_without_a_checkpoint_fail_alone_and_are_not_platform_errors(tmp_path: Path) -> None:
    """A trainer that writes no checkpoint: each promotion fails naming the missing checkpoint, the other recs
    run, and the sweep ends normally. Before, three such recs in a row stopped the sweep as a PlatformError
    ("job submissions failed ... resume it once the platform works"), although the platform took every job."""
    from tao_automl.testing import InstantSDK

    skill = tmp_path / "net"
    (skill / "references").mkdir(parents=True)
    (skill / "schemas").mkdir()
    (skill / "references" / "skill_info.yaml").write_text(yaml.safe_dump({
        "name": "net", "automl_enabled": True,
        "actions": {"train": {"command": "true {config_path}", "config_format": "json"}},
        "spec_params": {"train": {"results_dir": "output_dir", "train.resume": "resume_model"}}}))
    (skill / "schemas" / "train.schema.json").write_text(json.dumps({
        "automl_default_parameters": ["train.lr"], "default": {"train": {"lr": 0.01, "num_epochs": 1, "resume": ""}},
        "properties": {"train": {"type": "collection", "properties": {
            "lr": {"type": "float", "default": 0.01, "minimum": 1e-4, "maximum": 1.0, "scale": "log"},
            "num_epochs": {"type": "int", "default": 1, "minimum": 1, "maximum": 9},
            "resume": {"type": "string", "default": ""}}}}}))
    result = AutoMLRunner(InstantSDK(lambda spec: spec["train"]["lr"]), skill).run(
        automl_settings={"algorithm": "pbt", "metric": "val_loss", "automl_max_recommendations": 20,
                         "automl_max_epochs": 9, "poll_interval_s": 0.01},
        workspace_path=tmp_path / "ws", gpu_count=0)
    recs = result["recommendations"]
    failed = [r for r in recs if r["status"] == "failure"]
    assert len(recs) == 20 and result["progress"]["state"] == "finished"
    assert len(failed) >= 3 and all("needs its checkpoint" in r["message"] for r in failed)
    assert any(r["status"] == "success" for r in recs)


def test_a_rec_that_never_got_a_job_is_not_sent_to_its_log(tmp_path: Path) -> None:
    """A read-only run folder failed recs with "rendering the job failed: OSError ..." and the next step said "read a
    failed rec's log (`tao-automl logs RUN 3`)", a command that fails: the rec had no job."""
    step = next_step("rendering the job failed: OSError: [Errno 30] Read-only file system: 'spec.yaml'", tmp_path, 3)
    assert "tao-automl logs" not in step and step.startswith("no job ran")


class QueuedFirstSDK(LocalSDK):
    """LocalSDK whose jobs read as queued (PENDING) for their first ``queued_s`` seconds, as a busy Slurm partition
    holds a job before it starts (the job's process itself starts at once here; only what the platform reports is
    the queue's)."""

    queued_s = 1.2

    def get_job_status(self, job_id: str) -> Any:
        from tao_automl.platforms.base import JobStatus

        status = super().get_job_status(job_id)
        created = float(self.get_job_info(job_id).get("created_at") or 0.0)
        if not status.is_finished() and time.time() - created < self.queued_s:
            return JobStatus.PENDING
        return status


def test_the_job_timeout_counts_from_the_start_not_the_time_in_the_queue(tmp_path: Path) -> None:
    """A Slurm job that waited for resources, then ran 5 s, was cancelled as "the job ran longer than 14 s": the
    limit counted from the submission. `automl_job_timeout_s` is the time a job runs; here it waits 1.2 s queued,
    then runs about 0.3 s more against a 1.0 s limit, and keeps its result."""
    skill = write_skill(tmp_path / "bank", trainer=SLOW_SUCCESS)
    sdk = QueuedFirstSDK(jobs_dir=tmp_path / "jobs")
    result = AutoMLRunner(sdk, skill).run(
        automl_settings=_settings(automl_max_recommendations=1, automl_max_concurrent=1, automl_job_timeout_s=1.0,
                                  poll_interval_s=0.1),
        workspace_path=tmp_path / "ws", gpu_count=0)
    (rec,) = result["history"]
    assert (rec["status"], rec["metric_value"]) == ("success", 0.25), rec


def test_the_next_step_of_an_image_that_cannot_be_pulled_has_no_log_to_read() -> None:
    """A Kubernetes job whose image could not be pulled never ran: 'read a failed rec's log' sent the user to a log
    that does not exist."""
    message = ("Kubernetes job tao-run-x-rec0001-0a1b2c3d4e failed: the image 'reg.io/team/net:v9' cannot be pulled on "
               "node n1 (ErrImagePull): manifest unknown; set image (the run config's image or the skill's "
               "container_image) to one the nodes can pull, or give platform_options.image_pull_secret")
    step = next_step(message, Path("/w/run_x"), 1)
    assert step.startswith("no job ran: its image could not be pulled") and "logs" not in step, step
    assert "image_pull_secret" in step and "tao-automl resume /w/run_x" in step, step


#: One launch (the first to claim a token file, race-free) trains (hangs); every other fails with the same cause.
ONE_HANGS_REST_FAIL = """
import os, sys, time
try:
    os.close(os.open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hangs"), os.O_CREAT | os.O_EXCL))
    time.sleep(60)
except FileExistsError:
    pass
sys.exit("RuntimeError: CUDA error: an illegal memory access was encountered")
"""

#: The orchestrator, SIGKILLed right after its first cancel of a job (before it records the rec's end).
KILLED_AFTER_ITS_CANCEL = """
import os, signal, sys
sys.path.insert(0, {src!r})
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner

class DiesAfterCancel(LocalSDK):
    def cancel_job(self, job_id):
        super().cancel_job(job_id)
        os.kill(os.getpid(), signal.SIGKILL)

AutoMLRunner(DiesAfterCancel(jobs_dir={jobs!r}), {skill!r}).run(
    automl_settings={settings!r}, workspace_path={ws!r}, gpu_count=0)
"""


def test_a_crash_after_failing_fasts_cancel_leaves_the_reason_for_the_resume(tmp_path: Path) -> None:
    """The sweep failed fast and cancelled the job in flight; killed (-9) before it recorded that rec's end, the
    resume found the job cancelled and recorded "cancelled outside this sweep (not by its stop rule, ...)": the
    sweep had cancelled it itself. The cancel's reason is recorded before the cancel, and the resume reads it."""
    import signal
    import subprocess
    import sys

    skill = write_skill(tmp_path / "bank", trainer=ONE_HANGS_REST_FAIL)
    settings = _settings(automl_max_recommendations=3, automl_max_concurrent=3, automl_fail_fast_after=2)
    jobs, ws = tmp_path / "jobs", tmp_path / "ws"
    src = Path(__file__).resolve().parents[1] / "src"
    script = KILLED_AFTER_ITS_CANCEL.format(src=str(src), jobs=str(jobs), skill=str(skill), settings=settings,
                                            ws=str(ws))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    run_dir = next(ws.glob("run_*"))
    result = AutoMLRunner(LocalSDK(jobs_dir=jobs), skill).run(workspace_path=run_dir, resume=True)
    cancelled = [h for h in result["history"] if h["status"] == "cancelled"]
    assert len(cancelled) == 1 and len(result["history"]) == 3, result["history"]
    assert cancelled[0]["message"].startswith("cancelled: stopping the sweep: all 2 finished recs failed with the "
                                              "same cause"), cancelled[0]["message"]


#: The first three launches fail alike at once; the others run on until cancelled.
THREE_FAIL_THEN_HANG = """
import os, sys, time
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launches")
n = len(open(path).read()) if os.path.exists(path) else 0
open(path, "a").write("x")
if n < 3:
    sys.exit("RuntimeError: CUDA out of memory")
time.sleep(60)
"""


class _SlowCancelSDK(LocalSDK):
    """A cancel that takes 1 s, as one of a job ignoring SIGTERM does (its grace period); counts those at once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import threading

        self.lock = threading.Lock()
        self.now = self.peak = 0

    def cancel_job(self, job_id: str) -> bool:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(1.0)
            return super().cancel_job(job_id)
        finally:
            with self.lock:
                self.now -= 1


def test_a_sweep_that_fails_fast_cancels_its_jobs_in_flight_at_once(tmp_path: Path) -> None:
    """A sweep stopping (fail fast) cancelled its jobs in flight one after the other, each cancel waiting until its
    job stopped (a grace period each for jobs ignoring SIGTERM); it cancels them all at once now."""
    skill = write_skill(tmp_path / "bank", trainer=THREE_FAIL_THEN_HANG)
    sdk = _SlowCancelSDK(jobs_dir=tmp_path / "jobs")
    result = AutoMLRunner(sdk, skill).run(automl_settings=_settings(automl_max_concurrent=5),
                                          workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["state"] == "failed" and "CUDA out of memory" in result["stop_reason"], result
    cancelled = [h for h in result["history"] if h["status"] == "cancelled"]
    assert len(cancelled) >= 2, result["history"]
    assert sdk.peak == len(cancelled), (sdk.peak, len(cancelled))  # all at once, not one after the other
    for rec in cancelled:
        with pytest.raises(ProcessLookupError):
            os.kill(int(sdk.get_job_info(rec["job_id"])["pid"]), 0)  # no job is left running


def test_the_no_result_hint_of_a_copy_names_its_originals_resume(tmp_path: Path) -> None:
    """A run's "ended without a result" hint (`run`, `status --watch`) on a copy of a run whose original still
    exists said `tao-automl resume COPY`, which refuses a copy; it names the original's resume, as status does."""
    import shutil

    from store_helpers import killed_run_mid_job
    from tao_automl.cli.main import no_result_hint
    from tao_automl.experiment.store import RunStore

    original = tmp_path / "runs" / "run_a"
    killed_run_mid_job(original)
    store = RunStore(original)
    store.set_meta({"run_dir": str(original)})
    store.close()
    copy = tmp_path / "copies" / "run_a"
    shutil.copytree(original, copy)
    for failed in (0, 1):  # cancelled only, or a failure
        hint = no_result_hint({"run_dir": str(copy), "progress": {"failed": failed, "completed": 1, "total": 2},
                               "recommendations": []})
        assert f"tao-automl resume {original}" in hint and f"resume {copy}" not in hint, hint


def test_the_no_result_hint_of_a_run_stored_before_the_ended_early_flag_says_a_resume_launches_nothing(
        tmp_path: Path) -> None:
    """A run folder older than the ``ended_early`` meta key whose stop reason says its brain proposed no more recs:
    status, stop and resume see it ended early (`resume_facts`), yet the run's no-result hint said `tao-automl resume`
    launches the rest (it read the raw flag); now it says what they say."""
    from store_helpers import killed_run_mid_job
    from tao_automl.cli.main import no_result_hint
    from tao_automl.experiment.holder import resume_facts
    from tao_automl.experiment.store import ENDED_EARLY, ENDED_EARLY_REASON, RunStore, read_meta
    from tao_automl.runner.failures import BRAIN_DONE

    run_dir = tmp_path / "run_a"
    killed_run_mid_job(run_dir)
    store = RunStore(run_dir)
    store.set_meta({"state": "completed",
                    "stop_reason": f"{ENDED_EARLY_REASON}1 of 2 recs: the brain proposed no more"})
    store.close()
    meta = read_meta(run_dir)
    assert ENDED_EARLY not in meta and resume_facts(meta)["ended_early"] is True
    for failed in (0, 1):
        hint = no_result_hint({"run_dir": str(run_dir), "progress": {"failed": failed, "completed": 1, "total": 2},
                               "recommendations": []})
        assert BRAIN_DONE in hint and "launches the rest" not in hint and "if it lay outside" not in hint, hint


def test_a_stop_on_refused_submissions_counts_the_recs_a_resume_submits(tmp_path: Path) -> None:
    """At 4 recs in flight the first fill creates 4 recs at once: when the first 3 submissions fail the 4th is created
    but never submitted, and a resume submits it besides the recs the budget has left. The stop's count said the
    budget's remainder alone (4 of 8), and the resume launched 5."""
    from tao_automl.errors import PlatformError
    from tao_automl.testing import InstantSDK

    class Refusing(InstantSDK):
        def create_job(self, *args: Any, **kwargs: Any) -> Any:
            raise PlatformError("quota exceeded")

    class Counting(InstantSDK):
        created = 0

        def create_job(self, *args: Any, **kwargs: Any) -> Any:
            Counting.created += 1
            return super().create_job(*args, **kwargs)

    skill = write_skill(tmp_path / "bank")
    with pytest.raises(PlatformError) as caught:
        AutoMLRunner(Refusing(), skill).run(
            automl_settings=_settings(automl_fail_fast_after=0, automl_max_concurrent=4),
            workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = next((tmp_path / "ws").glob("run_*"))
    AutoMLRunner(Counting(), skill).run(workspace_path=run_dir, resume=True)
    assert Counting.created == 5
    assert "a resume launches the 5 left (1 of them created but not submitted yet)" in str(caught.value)


@pytest.mark.parametrize("succeeds", [False, True])
def test_resume_of_an_ended_run_whose_skill_moved_says_nothing_to_resume_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], succeeds: bool) -> None:
    """A run whose budget has ended launches nothing on resume, so the model folder it was made with is not needed:
    `resume` rebuilt the runner first and sent the user to put the moved skill_dir back (exit 2), while
    `resume --detach` said there was nothing to resume. Both now answer that first, with the `no_result` error
    (exit 1) for a run without a result and exit 0 for one with a result."""
    skill = write_skill(tmp_path / "bank", command=None if succeeds else "/nonexistent/trainer -e {config_path}")
    config = _config(tmp_path, skill, automl_max_recommendations=2, automl_max_concurrent=1)
    expected = 0 if succeeds else 1
    assert main(["run", str(config), "--json"]) == expected
    run_dir = json.loads(capsys.readouterr().out)["run_dir"]
    skill.rename(tmp_path / "moved")
    for detach in ([], ["--detach"]):
        assert main(["resume", run_dir, "--json", *detach]) == expected
        answer = json.loads(capsys.readouterr().out)
        assert "nothing to resume" in answer["note"] and answer["pid"] is None, answer
        assert (answer.get("error") or {}).get("kind") == (None if succeeds else "no_result"), answer
        assert main(["resume", run_dir, *detach]) == expected
        err = capsys.readouterr().err
        assert "nothing to resume" in err and "skill_dir" not in err, err


def test_resume_sweep_of_an_ended_run_without_a_result_is_an_error_result_as_resume_exits_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`resume`/`resume --detach` exit 1 with the `no_result` error for an ended run without a result, but the MCP
    tool resume_sweep answered only the "nothing to resume" note, not an error: an agent read it as a success. It is
    now an error result with the same error beside the note (and none for a run with a result)."""
    from tao_automl.agentapi.tools import call_tool

    skill = write_skill(tmp_path / "bank", command="/nonexistent/trainer -e {config_path}")
    config = _config(tmp_path, skill, automl_max_recommendations=2, automl_max_concurrent=1)
    assert main(["run", str(config), "--json"]) == 1
    run_dir = json.loads(capsys.readouterr().out)["run_dir"]
    assert main(["resume", run_dir, "--detach", "--json"]) == 1
    cli = json.loads(capsys.readouterr().out)
    result, is_error = call_tool("resume_sweep", {"run_dir": run_dir})
    assert is_error and result["error"]["kind"] == cli["error"]["kind"] == "no_result", result
    assert result["error"]["exit_code"] == 1 and "nothing to resume" in result["note"]
    assert result["pid"] is None and result["detached"] is False
    assert result["next"] == {"status": {"tool": "sweep_status", "arguments": {"run_dir": run_dir}}}
    assert "tao-automl status" not in result["error"]["hint"], result["error"]["hint"]  # worded as tool calls

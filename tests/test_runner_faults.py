"""Platform faults during a sweep: submissions that start the job and then raise, flaky and hung SDK calls.

Real subprocess jobs on LocalSDK; the faults come from a wrapper around it. Each job appends its own line
to a ledger file (independent of the runner's store), so launches and results are counted from the jobs' side.
"""

from __future__ import annotations

import gc
import json
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import write_skill
from tao_automl.platforms.base import Job
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.guard import GuardedSDK, lookup_job
from tao_automl.runner.loop import AutoMLRunner

LEDGER_TRAINER = """
import json, os, sys, yaml
spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
lr = spec["train"]["optim"]["lr"]
value = abs(lr - 0.1)
os.makedirs(spec["results_dir"], exist_ok=True)
with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
    f.write(json.dumps({"epoch": 1, "kpi": {"val_loss": value}}) + "\\n")
with open(os.environ["TAO_TEST_LEDGER"], "a") as f:
    f.write(json.dumps({"results_dir": spec["results_dir"], "value": value}) + "\\n")
"""


def _settings(budget: int, **extra: Any) -> dict[str, Any]:
    return {"metric": "val_loss", "automl_max_recommendations": budget, "automl_max_concurrent": 3, "seed": 1,
            "poll_interval_s": 0.2, "algorithm": "random", **extra}


def _ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class StartsThenRaises:
    """create_job starts the job on the platform, then raises a non-transient error (answer lost)."""

    def __init__(self, sdk: LocalSDK, with_lookup: bool) -> None:
        self.sdk = sdk
        self.by_name: dict[str, Job] = {}
        if with_lookup:
            self.find_job = lambda name: self.by_name[name].id if name in self.by_name else None

    def create_job(self, image: str | None, command: Any, gpu_count: int = 1, env_vars: Any = None,
                   inputs: Any = None, outputs: Any = None, **kwargs: Any) -> Job:
        job = self.sdk.create_job(image, command, gpu_count, env_vars, inputs, outputs, **kwargs)
        if kwargs["job_name"] in self.by_name:
            return job
        self.by_name[kwargs["job_name"]] = job
        raise RuntimeError("gateway answered 502 after accepting the job")

    def __getattr__(self, name: str) -> Any:
        if name == "find_job":  # only the instance attribute set above (with_lookup)
            raise AttributeError(name)
        return getattr(self.sdk, name)


@pytest.mark.parametrize("with_lookup", [True, False], ids=["lookup-by-name", "resubmit-under-same-name"])
def test_a_job_started_by_a_failing_create_job_is_tracked_and_its_metric_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_lookup: bool) -> None:
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("TAO_TEST_LEDGER", str(ledger))
    skill = write_skill(tmp_path / "bank", trainer=LEDGER_TRAINER)
    sdk = StartsThenRaises(LocalSDK(jobs_dir=tmp_path / "jobs"), with_lookup)
    result = AutoMLRunner(sdk, skill).run(automl_settings=_settings(3), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["succeeded"] == 3, result["history"]
    launched = _ledger(ledger)
    assert len(launched) == 3 and len({e["results_dir"] for e in launched}) == 3  # each started exactly once
    kept = sorted(h["metric_value"] for h in result["history"])
    assert kept == sorted(e["value"] for e in launched)


class Flaky:
    """LocalSDK behind a bad network: ~10% of calls raise (before or after reaching the platform), a few hang."""

    def __init__(self, sdk: LocalSDK, seed: int, hang_s: float) -> None:
        self.sdk = sdk
        self.rng = random.Random(seed)
        self.hang_s = hang_s
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        #: The first submissions fail in each way for sure (which calls the random faults hit depends on timing).
        self.scripted: dict[str, list[str]] = {"create_job": ["before", "after", "hang"]}

    def _fault(self, name: str) -> str | None:
        with self._lock:
            if self.scripted.get(name):
                return self.scripted[name].pop(0)
            roll = self.rng.random()
        if roll < 0.05:
            return "before"
        if roll < 0.10:
            return "after"
        if roll < 0.13:
            return "hang"
        return None

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        fault = self._fault(name)
        if fault:
            self.faults[f"{name}:{fault}"] += 1
        if fault == "before":
            raise ConnectionError(f"{name}: connection reset")
        if fault == "hang":
            time.sleep(self.hang_s)
        result = getattr(self.sdk, name)(*args, **kwargs)
        if fault == "after":
            raise TimeoutError(f"{name}: read timed out (the platform did act)")
        return result

    def create_job(self, image: str | None, command: Any, gpu_count: int = 1, env_vars: Any = None,
                   inputs: Any = None, outputs: Any = None, **kwargs: Any) -> Any:
        return self._call("create_job", image, command, gpu_count, env_vars, inputs, outputs, **kwargs)

    def get_job_status(self, job_id: str) -> Any:
        return self._call("get_job_status", job_id)

    def get_job_logs(self, job_id: str, tail: int | None = None) -> Any:
        return self._call("get_job_logs", job_id, tail=tail)

    def get_failure_analysis(self, job_id: str) -> Any:
        return self._call("get_failure_analysis", job_id)

    def cancel_job(self, job_id: str) -> Any:
        return self._call("cancel_job", job_id)

    def read_job_file(self, job_id: str, path: str) -> Any:
        return self._call("read_job_file", job_id, path)


def test_fault_injection_loses_no_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("TAO_TEST_LEDGER", str(ledger))
    skill = write_skill(tmp_path / "bank", trainer=LEDGER_TRAINER)
    flaky = Flaky(LocalSDK(jobs_dir=tmp_path / "jobs"), seed=7, hang_s=1.5)
    runner = AutoMLRunner(flaky, skill, sdk_call_timeout_s=0.5)
    runner.platform.base_delay = 0.05
    result = runner.run(automl_settings=_settings(12), workspace_path=tmp_path / "ws", gpu_count=0)
    kinds = set(flaky.faults)
    assert {"create_job:before", "create_job:after"} <= kinds and any(k.endswith(":hang") for k in kinds), kinds
    launched = _ledger(ledger)
    counts = Counter(e["results_dir"] for e in launched)
    assert len(counts) == 12 and set(counts.values()) == {1}, counts  # 0 duplicate launches
    assert result["progress"]["succeeded"] == 12, [h["message"] for h in result["history"]]
    by_dir = {e["results_dir"]: e["value"] for e in launched}
    for rec in result["history"]:  # 0 metrics lost: every value a job wrote is the rec's recorded value
        assert rec["metric_value"] == pytest.approx(by_dir[str(Path(rec["results_dir"]).resolve())])


def test_a_hung_call_is_abandoned_and_retried() -> None:
    calls: list[float] = []

    class Sticky:
        def get_job_status(self, job_id: str) -> str:
            calls.append(time.monotonic())
            if len(calls) == 1:
                time.sleep(2.0)
            return "running"

    assert GuardedSDK(Sticky()).call_timeout_s == 300.0  # the README's default
    guarded = GuardedSDK(Sticky(), call_timeout_s=0.2, base_delay=0.0)
    assert guarded.get_job_status("j") == "running"
    assert len(calls) == 2 and calls[1] - calls[0] < 1.5


def test_calls_share_one_helper_thread_and_an_interrupted_call_does_not_hold_up_the_next() -> None:
    """Ctrl-C or ``stop`` while a call runs (here a 2 s status read): the next call gets a fresh thread at once
    instead of queueing behind the one still inside the platform."""
    threads: list[str] = []

    class Slow:
        def get_job_status(self, job_id: str) -> str:
            threads.append(threading.current_thread().name)
            if job_id == "slow":
                time.sleep(2.0)
            return "running"

    guarded = GuardedSDK(Slow(), call_timeout_s=30.0, base_delay=0.0)
    assert guarded.get_job_status("a") == guarded.get_job_status("b") == "running"
    assert threads[0] == threads[1] != threading.current_thread().name  # one helper thread, kept

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            guarded.get_job_status("slow")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    started = time.monotonic()
    assert guarded.get_job_status("next") == "running"
    assert time.monotonic() - started < 1.0


def test_local_sdk_per_rec_calls_run_on_the_callers_thread(tmp_path: Path) -> None:
    """LocalSDK's per-rec calls (its ``PROMPT_CALLS``: local processes and files, as the run's store) are made on the
    runner's thread, without the helper thread's two hops; a subclass that overrides one of them without listing it
    again, and any other SDK, still get the helper thread and its time limit."""
    threads: dict[str, str] = {}

    class Overriding(LocalSDK):
        def get_job_status(self, job_id: str) -> Any:
            threads["override"] = threading.current_thread().name
            return super().get_job_status(job_id)

    class Own(LocalSDK):
        PROMPT_CALLS = LocalSDK.PROMPT_CALLS | {"get_job_status"}

        def get_job_status(self, job_id: str) -> Any:
            threads["listed"] = threading.current_thread().name
            return super().get_job_status(job_id)

    sdk = LocalSDK(jobs_dir=tmp_path / "jobs")
    job = sdk.create_job(None, "true", gpu_count=0, job_name="j")
    real = LocalSDK.wait_for_change

    def recorded(self: LocalSDK, job_ids: Any, timeout: float) -> None:
        threads["local"] = threading.current_thread().name
        real(self, job_ids, timeout)

    recorded.__name__ = "wait_for_change"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalSDK, "wait_for_change", recorded)
        GuardedSDK(sdk).wait_for_change([job.id], 5.0)
    assert GuardedSDK(sdk).get_job_status(job.id) == "success"
    GuardedSDK(Overriding(jobs_dir=tmp_path / "jobs")).get_job_status(job.id)
    GuardedSDK(Own(jobs_dir=tmp_path / "jobs")).get_job_status(job.id)
    here = threading.current_thread().name
    assert threads["local"] == here and threads["listed"] == here
    assert threads["override"] != here


def test_the_helper_thread_ends_with_its_guard() -> None:
    """A runner's guard going away (a finished sweep in a long-lived process) leaves no idle thread behind."""

    helpers: list[threading.Thread] = []

    class Quick:
        def wait_for_change(self, job_ids: list[str], timeout: float) -> None:
            helpers.append(threading.current_thread())

    guarded = GuardedSDK(Quick())
    guarded.wait_for_change(["a"], 0.0)
    (helper,) = helpers
    assert helper is not threading.current_thread() and helper.is_alive()
    helpers.clear()
    del guarded
    gc.collect()
    helper.join(timeout=5.0)
    assert not helper.is_alive()


def test_lookup_job_accepts_a_job_or_none_and_survives_a_raising_lookup() -> None:
    class Finder:
        def __init__(self, result: Any) -> None:
            self.result = result

        def find_job(self, name: str) -> Any:
            if isinstance(self.result, Exception):
                raise self.result
            return self.result

    assert lookup_job(Finder(None), "n", "/r") is None
    assert lookup_job(Finder("7"), "n", "/r") == Job("7", "/r", "n")
    assert lookup_job(Finder(Job("7", "/x")), "n", "/r") == Job("7", "/x")
    assert lookup_job(Finder(ConnectionError("down")), "n", "/r") is None
    assert lookup_job(object(), "n", "/r") is None


FAILING_TRAINER = "import sys\nprint('disk full', file=sys.stderr)\nsys.exit(1)\n"


def test_a_failure_analysis_that_is_not_a_dict_fails_the_rec_with_a_message(tmp_path: Path) -> None:
    """A custom SDK whose get_failure_analysis returned a string crashed run() with AttributeError ('str' object has
    no attribute 'get') and left the run interrupted with a rec pending: the rec fails, naming what came back."""

    class Texting(LocalSDK):
        def get_failure_analysis(self, job_id: str) -> Any:
            return "disk full"

    skill = write_skill(tmp_path / "bank", trainer=FAILING_TRAINER)
    result = AutoMLRunner(Texting(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(2), workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["progress"]["failed"] == 2 and result["progress"]["state"] == "failed"
    message = result["history"][0]["message"]
    assert "get_failure_analysis returned 'disk full', not a dict" in message, message


def test_a_failure_the_platform_does_not_explain_is_named_by_the_last_line_of_its_log(tmp_path: Path) -> None:
    """A custom SDK with no failure analysis (None, as the protocol allows): every failed rec said only "job failed
    (the platform gave no message or exit code)" though its log held the cause ('disk full')."""

    class Silent(LocalSDK):
        def get_failure_analysis(self, job_id: str) -> Any:
            return None

    skill = write_skill(tmp_path / "bank", trainer=FAILING_TRAINER)
    result = AutoMLRunner(Silent(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(1), workspace_path=tmp_path / "ws", gpu_count=0)
    message = result["history"][0]["message"]
    assert message == "job failed (the platform gave no message or exit code); its log ends: disk full", message


def test_a_misspelt_run_argument_is_refused_not_passed_to_an_open_ended_sdk(tmp_path: Path) -> None:
    """run()'s **platform_kwargs took `spec_override=` (for spec_overrides): an SDK whose create_job takes **kwargs,
    as the SDK protocol shows it, got it, and the sweep ran without the overrides the user meant; with a built-in SDK
    it was blamed on the platform (platform_kwargs.automl_setings: not accepted by LocalSDK.create_job)."""
    from tao_automl.errors import UserInputError

    class OpenSDK:  # the protocol's shape: create_job(image, command, gpu_count=1, ..., **kwargs)
        def __init__(self) -> None:
            self.local = LocalSDK(jobs_dir=tmp_path / "jobs")
            self.created: list[dict[str, Any]] = []

        def create_job(self, image: str, command: str, gpu_count: int = 1, env_vars: Any = None, inputs: Any = None,
                       outputs: Any = None, **kwargs: Any) -> Job:
            self.created.append(kwargs)
            return self.local.create_job(image, command, gpu_count, env_vars, inputs, outputs,
                                         job_name=kwargs.get("job_name"))

        def get_job_status(self, job_id: str) -> Any:
            return self.local.get_job_status(job_id)

        def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
            return self.local.get_job_logs(job_id, tail)

        def get_failure_analysis(self, job_id: str) -> Any:
            return self.local.get_failure_analysis(job_id)

        def cancel_job(self, job_id: str) -> bool:
            return self.local.cancel_job(job_id)

    import inspect

    from tao_automl.runner.loop import RUN_ARG_NAMES

    kinds = inspect.signature(AutoMLRunner.run).parameters.items()
    assert sorted(RUN_ARG_NAMES) == sorted(n for n, p in kinds if p.kind is p.POSITIONAL_OR_KEYWORD and n != "self")
    skill = write_skill(tmp_path / "bank")
    for sdk, typo, meant in ((OpenSDK(), "spec_override", "spec_overrides"),
                             (LocalSDK(jobs_dir=tmp_path / "jobs"), "automl_setings", "automl_settings"),
                             (OpenSDK(), "workspace", "workspace_path")):
        expected = rf"^platform_kwargs\.{typo}: not an argument of run\(\) \(did you mean '{meant}'"
        with pytest.raises(UserInputError, match=expected) as refused:
            AutoMLRunner(sdk, skill).run(automl_settings=_settings(1), workspace_path=tmp_path / "ws", gpu_count=0,
                                         **{typo: {"train.sleep": 0}})
        assert (refused.value.field, refused.value.value) == (f"platform_kwargs.{typo}", {"train.sleep": 0})
    assert not (tmp_path / "ws").exists()
    sdk = OpenSDK()  # a name the SDK takes through **kwargs and no run() argument is near goes through
    AutoMLRunner(sdk, skill).run(automl_settings=_settings(1), workspace_path=tmp_path / "ws", gpu_count=0,
                                 priority="high")
    assert sdk.created and sdk.created[0]["priority"] == "high"


def test_runner_arguments_a_platform_cannot_use_are_refused_at_construction(tmp_path: Path) -> None:
    """sdk_call_timeout_s "10" or -1 was taken, and every rec then failed inside the platform guard (TypeError,
    "did not return within -1 s") under a stop reason blaming platform_kwargs; a class given for the SDK failed 11
    frames deep (validate_job() missing 'options')."""
    from tao_automl.errors import UserInputError

    skill = write_skill(tmp_path / "bank")
    for bad in ("10", -1, 0, float("nan"), float("inf"), True):
        with pytest.raises(UserInputError) as refused:
            AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, sdk_call_timeout_s=bad)  # type: ignore[arg-type]
        assert refused.value.field == "sdk_call_timeout_s", bad
    AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, sdk_call_timeout_s=None)  # no limit: allowed
    # a clock without now()/sleep() was taken, and the first retried platform call then failed with
    # "'str' object has no attribute 'sleep'" as a poll error, mid-sweep
    for bad in ("wall", 5, object()):
        with pytest.raises(UserInputError, match=r"clock: .* is not allowed; expected an object with now") as clock:
            AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, clock=bad)  # type: ignore[arg-type]
        assert (clock.value.field, clock.value.value) == ("clock", bad)
    with pytest.raises(UserInputError, match=r"LocalSDK is a class; pass an instance of it: LocalSDK\(...\)") as cls:
        AutoMLRunner(LocalSDK, skill)
    assert cls.value.field == "sdk"
    assert not (tmp_path / "ws").exists()

"""LeptonSDK against a fake DGX Cloud Lepton backend (the real cloud is unreachable from the tests).

Only the lowest HTTP layer is faked: ``requests.adapters.HTTPAdapter.send`` is replaced by a small
in-memory Lepton job REST server (``/jobs``, ``/jobs/{id}``, ``/logs``), so the real ``leptonai``
client code (APIClient, JobAPI, LogAPI, pydantic models, validation, error handling) runs. The fake
"runs" each job's container command as a local ``bash`` process and serves its output as logs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from platform_helpers import start_with_spec_file
from tao_automl.errors import MissingExtraError, PlatformError, UserInputError
from tao_automl.platforms.base import JobStatus, UnknownJobError
from tao_automl.platforms.lepton import sdk as lepton_sdk
from tao_automl.platforms.lepton.sdk import LeptonSDK, lepton_job_name
from tao_automl.platforms.lepton.state import epoch_seconds, to_status
from tao_automl.platforms.registry import make_sdk
from tao_automl.platforms.retry import TransientPlatformError
from tao_automl.testing import CHECKS, Conformance

TOKEN = "lepton-secret-token-123"
WORKSPACE = "ws1abc"


class FakeLepton:
    """An in-memory Lepton workspace: jobs run as local bash processes, logs are their output lines."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, list[tuple[int, str]]] = {}
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.drained: set[str] = set()
        self.ended_at: dict[str, float] = {}  # when each job's process ended (served as completion_time, in ms)
        self.late_stop = False  # a stop reaches the service only once the job has ended by itself
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()

    def send(self, request: requests.PreparedRequest) -> requests.Response:
        url = urlsplit(str(request.url))
        body = json.loads(request.body) if request.body else None
        self.requests.append((str(request.method), url.path, body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _response(request, 401, {"code": "Unauthorized"})
        path = url.path.split(f"/{WORKSPACE}", 1)[-1]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.lock:
            return self.route(request, str(request.method), path, query, body)

    def route(self, request: requests.PreparedRequest, method: str, path: str, query: dict[str, str],
              body: Any) -> requests.Response:
        if path.endswith("/jobs") and method == "POST":
            return _response(request, 200, self.create(body))
        if path.endswith("/jobs") and method == "GET":
            page, size = int(query.get("page", 1)), int(query.get("page_size", 500))
            jobs = [self.view(j) for j in self.jobs if query.get("q", "") in self.jobs[j]["metadata"]["name"]]
            return _response(request, 200, {"jobs": jobs[(page - 1) * size: page * size]})
        if "/jobs/" in path:
            job_id = path.rsplit("/", 1)[-1]
            if job_id not in self.jobs:
                return _response(request, 404, {"code": "NotFound", "message": f"job {job_id} not found"})
            if method == "PATCH" and body.get("spec", {}).get("stopped"):
                deadline = time.time() + 10
                while self.late_stop and job_id not in self.drained and time.time() < deadline:
                    time.sleep(0.05)
                self.jobs[job_id]["spec"]["stopped"] = True
                proc = self.procs[job_id]
                if proc.poll() is None:
                    proc.kill()
            return _response(request, 200, self.view(job_id))
        if path.endswith("/logs"):
            lines = self.logs.get(query["job"], [])
            start, end, limit = int(query["start"]), int(query["end"]), int(query["limit"])
            chosen = [e for e in lines if start <= e[0] <= end][-limit:]
            result = [{"stream": {"job": query["job"], "replica": f"{query['job']}-0"},
                       "values": [[str(ts), line] for ts, line in chosen]}] if chosen else []
            return _response(request, 200, {"status": "success", "data": {"result": result}})
        return _response(request, 404, {"code": "NotFound"})

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        job_id = f"{name}-{uuid.uuid4().hex[:4]}"
        body["metadata"]["id"] = job_id
        self.jobs[job_id] = body
        self.logs[job_id] = []
        env = {"PATH": "/usr/bin:/bin"} | {e["name"]: e["value"] for e in body["spec"].get("envs", [])}
        proc = subprocess.Popen(body["spec"]["container"]["command"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.procs[job_id] = proc
        threading.Thread(target=self._pump, args=(job_id, proc), daemon=True).start()
        return self.view(job_id)

    def _pump(self, job_id: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.logs[job_id].append((time.time_ns(), line.rstrip("\n")))
        proc.wait()
        self.ended_at[job_id] = time.time()
        self.drained.add(job_id)  # like the service: a job ends once its logs are in

    def view(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        proc = self.procs[job_id]
        code = proc.poll() if job_id in self.drained else None
        if job["spec"].get("stopped"):
            state = "Stopped"
        elif code is None:
            state = "Running"
        else:
            state = "Completed" if code == 0 else "Failed"
        ended = {"completion_time": int(self.ended_at[job_id] * 1000)} if code is not None else {}
        return job | {"status": {"state": state, "succeeded": int(code == 0), "failed": int(code not in (0, None)),
                                 **ended}}


def _response(request: requests.PreparedRequest, code: int, payload: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = code
    response._content = json.dumps(payload).encode()
    response.headers["Content-Type"] = "application/json"
    response.url = str(request.url)
    response.request = request
    return response


@pytest.fixture
def lepton(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLepton]:
    fake = FakeLepton()
    monkeypatch.setenv("LEPTON_WORKSPACE_ID", WORKSPACE)
    monkeypatch.setenv("LEPTON_WORKSPACE_TOKEN", TOKEN)
    monkeypatch.delenv("LEPTON_WORKSPACE_URL", raising=False)
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, request, **kw: fake.send(request))
    yield fake
    for proc in fake.procs.values():
        if proc.poll() is None:
            proc.kill()


def _sdk() -> LeptonSDK:
    sdk = LeptonSDK()
    sdk.poll_interval_s = 0.05
    return sdk


@pytest.mark.parametrize("check", list(CHECKS))
def test_lepton_sdk_conforms(check: str, tmp_path: Path, lepton: FakeLepton) -> None:
    CHECKS[check](Conformance(_sdk, tmp_path / "scratch", timeout_s=20, poll_s=0.05))


def test_multi_node_shape_node_group_and_env_reach_the_job_spec(lepton: FakeLepton) -> None:
    sdk = _sdk()
    job = sdk.create_job("nvcr.io/nvidia/tao/tao-toolkit:6", ["python", "train.py", "-e", "a b.yaml"],
                         gpu_count=8, env_vars={"WANDB_MODE": "offline"}, num_nodes=2,
                         resource_shape="gpu.8xh100-80gb", dedicated_node_group="ng-1", job_name="rec 1/x")
    _, _, body = next(r for r in lepton.requests if r[0] == "POST")
    spec = body["spec"]
    assert spec["completions"] == spec["parallelism"] == 2 and spec["intra_job_communication"] is True
    assert spec["resource_shape"] == "gpu.8xh100-80gb"
    assert spec["affinity"]["allowed_dedicated_node_groups"] == ["ng-1"]
    assert spec["container"]["image"] == "nvcr.io/nvidia/tao/tao-toolkit:6"
    assert "python train.py -e 'a b.yaml'" in spec["container"]["command"][-1]
    assert {"name": "WANDB_MODE", "value": "offline"} in spec["envs"]
    assert body["metadata"]["name"] == lepton_job_name("rec 1/x") and job.id.startswith(body["metadata"]["name"])
    sdk.cancel_job(job.id)


def test_bad_inputs_and_missing_credentials_are_user_errors(lepton: FakeLepton,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    sdk = _sdk()
    with pytest.raises(UserInputError, match="resource_shape is required for gpu_count=2"):
        sdk.create_job(None, "true", gpu_count=2)
    with pytest.raises(UserInputError,
                       match=r"resource_shape 'gpu\.8xh100-80gb' has 8 GPU\(s\) per replica, but gpu_count is 2"):
        sdk.create_job(None, "true", gpu_count=2, resource_shape="gpu.8xh100-80gb")
    with pytest.raises(UserInputError, match="num_nodes must be an integer >= 1"):
        sdk.create_job(None, "true", gpu_count=0, num_nodes=0)
    with pytest.raises(UnknownJobError):
        sdk.get_job_status("no-such-job")
    monkeypatch.delenv("LEPTON_WORKSPACE_TOKEN")
    with pytest.raises(UserInputError, match="LEPTON_WORKSPACE_TOKEN is not set") as no_token:
        LeptonSDK()
    assert no_token.value.field == "LEPTON_WORKSPACE_TOKEN"  # the JSON error named no field, hint pointed at it
    monkeypatch.delenv("LEPTON_WORKSPACE_ID")
    with pytest.raises(UserInputError, match="LEPTON_WORKSPACE_ID is not set") as no_id:
        make_sdk("lepton")
    assert no_id.value.field == "LEPTON_WORKSPACE_ID" and "platform_options.workspace_id" in str(no_id.value.allowed)


def _without_leptonai(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a core install: neither leptonai nor requests (leptonai's dependency), and the platform not imported."""
    for name in {"leptonai", "requests", *(m for m in sys.modules if m.startswith(("leptonai.", "requests.")))}:
        monkeypatch.setitem(sys.modules, name, None)  # what a package that is not installed looks like to import
    for name in [m for m in sys.modules if m.startswith("tao_automl.platforms.lepton")]:
        monkeypatch.delitem(sys.modules, name)


def test_without_the_lepton_extra_the_error_names_leptonai_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform's error names leptonai, the package the extra installs (as `tao-automl platforms` does), never
    requests."""
    _without_leptonai(monkeypatch)
    with pytest.raises(MissingExtraError, match=r"'leptonai' package.*pip install 'tao-run-automl\[lepton\]'"):
        make_sdk("lepton")


def test_importing_the_lepton_platform_without_its_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """From Python (`from tao_automl.platforms.lepton import LeptonSDK`, as for the other platforms) the import error
    says which extra to install, not only that a leptonai submodule is missing."""
    import importlib

    _without_leptonai(monkeypatch)
    with pytest.raises(ModuleNotFoundError, match=r"'leptonai' package.*pip install 'tao-run-automl\[lepton\]'"):
        importlib.import_module("tao_automl.platforms.lepton")


def test_the_token_stays_out_of_init_options_and_errors(lepton: FakeLepton,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEPTON_WORKSPACE_TOKEN")
    sdk = LeptonSDK(workspace_id=f"{WORKSPACE}:{TOKEN}")  # the dashboard's credential string
    assert TOKEN not in json.dumps(sdk.init_options) and sdk.init_options["workspace_id"] == WORKSPACE
    job = sdk.create_job(None, "echo hi", gpu_count=0)
    assert sdk.get_job_status(job.id) in (JobStatus.RUNNING, JobStatus.SUCCESS)
    monkeypatch.setattr(sdk.client, "_header", {"Authorization": "Bearer wrong"})
    with pytest.raises(Exception) as info:
        sdk.get_job_info(job.id)
    assert "401" in str(info.value) and TOKEN not in str(info.value)


def test_a_job_that_ended_while_no_orchestrator_ran_keeps_its_own_end_time(lepton: FakeLepton, tmp_path: Path) -> None:
    """Transport faked at the HTTP layer (the fake workspace gives a finished job's ``completion_time`` in ms, as
    its ``status``). A sweep interrupted while its rec's job ran, resumed after the job had ended: the rec's
    ``finished_at`` and ``wall_time_s`` were the resume's first look (README: "when its job ended as the platform
    recorded it ... also for a job that ended while no orchestrator ran"). Now they are the job's completion time."""
    from conftest import write_skill
    from tao_automl.errors import SweepInterrupted
    from tao_automl.runner.loop import AutoMLRunner

    def interrupt(rec: object) -> None:
        raise KeyboardInterrupt

    skill = write_skill(tmp_path / "bank")
    settings = {"metric": "val_loss", "automl_max_recommendations": 1, "seed": 1, "algorithm": "random",
                "poll_interval_s": 0.1}
    runner = AutoMLRunner(_sdk(), skill, log_progress=False)
    with pytest.raises(SweepInterrupted):
        runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=interrupt)
    [job_id] = lepton.jobs
    deadline = time.time() + 20
    while job_id not in lepton.ended_at and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(3)  # the orchestrator is away while the job has ended
    result = AutoMLRunner(_sdk(), skill, log_progress=False).run(
        automl_settings=settings, workspace_path=runner.run_dir, resume=True, gpu_count=0)
    [rec] = result["history"]
    assert rec["status"] == "success" and rec["job_id"] == job_id
    assert abs(rec["finished_at"] - lepton.ended_at[job_id]) < 1.0, (rec["finished_at"], lepton.ended_at[job_id])
    assert rec["wall_time_s"] < 2.5, rec["wall_time_s"]
    for value in (1_700_000_000, 1_700_000_000_000, 1_700_000_000_000_000, 1_700_000_000_000_000_000):
        assert epoch_seconds(value) == 1_700_000_000.0  # any unit, told by its size as `lep log` does


def test_a_sweep_runs_with_the_credential_string_given_as_workspace_id(lepton: FakeLepton, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the HTTP layer; a real AutoMLRunner sweep on a LeptonSDK given the dashboard's
    ``<id>:<token>`` string as ``workspace_id`` (``platform_options.workspace_id`` of a run config), with no
    LEPTON_* variable set. `tao-automl preflight` passed it, but the run's own preflight looked at the environment
    only and refused every such run: "credentials: lepton SDK: missing LEPTON_WORKSPACE_ID, LEPTON_WORKSPACE_TOKEN".
    Now the run starts, its recs end as the fake workspace ran them, and the token is nowhere in the run folder."""
    from conftest import write_skill
    from tao_automl.runner.loop import AutoMLRunner

    monkeypatch.delenv("LEPTON_WORKSPACE_ID")
    monkeypatch.delenv("LEPTON_WORKSPACE_TOKEN")
    sdk = LeptonSDK(workspace_id=f"{WORKSPACE}:{TOKEN}")
    sdk.poll_interval_s = 0.05
    runner = AutoMLRunner(sdk, write_skill(tmp_path / "bank"), log_progress=False)
    result = runner.run(automl_settings={"metric": "val_loss", "automl_max_recommendations": 2, "seed": 1,
                                         "automl_max_concurrent": 2, "algorithm": "random", "poll_interval_s": 0.1},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert [h["status"] for h in result["history"]] == ["success", "success"]
    assert sorted(lepton.jobs) == sorted(h["job_id"] for h in result["history"])
    assert all(lepton.procs[j].returncode == 0 for j in lepton.jobs)
    for path in Path(result["run_dir"]).rglob("*"):
        assert not path.is_file() or TOKEN not in path.read_text(errors="replace"), path


@pytest.mark.parametrize(("state", "status"), [
    ("Queueing", JobStatus.PENDING), ("Starting", JobStatus.PENDING), ("Running", JobStatus.RUNNING),
    ("Completed", JobStatus.SUCCESS), ("Failed", JobStatus.FAILURE), ("Stopped", JobStatus.CANCELLED),
    ("Deleted", JobStatus.CANCELLED), ("Terminating", JobStatus.RUNNING), ("Stopping", JobStatus.RUNNING),
    ("Awaiting", JobStatus.PENDING), ("PendingRetry", JobStatus.PENDING), ("Restarting", JobStatus.PENDING),
    ("Deleting", JobStatus.CANCELLED),
])
def test_lepton_states_map_to_job_status(state: str, status: JobStatus) -> None:
    assert to_status(state) is status


def test_a_state_leptonai_does_not_know_is_an_error_not_running_forever(lepton: FakeLepton,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the HTTP layer: the workspace answers a job state this leptonai does not know
    ("Evicted"); leptonai reads it as ``UNK``. The adapter counted ``UNK`` as RUNNING, so the sweep polled a job
    whose state nobody knew as running, forever (no job time limit is the default). Now each status read is a
    PlatformError naming the job and the state (the runner fails the rec once its status stays unreadable)."""
    sdk = _sdk()
    job = sdk.create_job(None, "sleep 30", gpu_count=0, job_name="odd-state")
    view = lepton.view

    def evicted(job_id: str) -> dict[str, Any]:
        return view(job_id) | {"status": {"state": "Evicted", "succeeded": 0, "failed": 0}}

    monkeypatch.setattr(lepton, "view", evicted)
    for call in (lambda: sdk.get_job_status(job.id), lambda: _sdk().get_job_status(job.id)):
        with pytest.raises(PlatformError, match=rf"Lepton job {job.id}: Lepton reports job state 'UNK', which "
                                                r"tao-automl does not know") as info:
            call()
        assert not isinstance(info.value, TransientPlatformError)
    assert sdk.get_job_info(job.id)["status"]["state"] == "UNK"
    monkeypatch.setattr(lepton, "view", view)
    assert sdk.cancel_job(job.id) is True and sdk.get_job_status(job.id) is JobStatus.CANCELLED


def test_archived_jobs_are_judged_by_replica_counts() -> None:
    assert to_status("Archived", succeeded=2, completions=2) is JobStatus.SUCCESS
    assert to_status("Archived", succeeded=1, failed=1, completions=2) is JobStatus.FAILURE


def test_a_stopped_job_the_workspace_archived_is_still_cancelled(lepton: FakeLepton,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the HTTP layer. Lepton archives a job ``ttl_seconds_after_finished`` (600 s by default)
    after it ends; an archived job is judged by its replica counts. A job stopped by cancel_job (``spec.stopped``),
    archived before a resume or a ``stop --cancel-jobs`` looked at it again, read as FAILURE ("Lepton job ... Archived
    (no exit code in its logs)"): the rec was recorded failed, not cancelled. Now it stays CANCELLED; an archived job
    that was not stopped and did not succeed is still a failure, one that did is a success."""
    sdk = _sdk()
    job = sdk.create_job(None, "sleep 30", gpu_count=0, job_name="archived-stop")
    assert sdk.cancel_job(job.id) is True
    view = lepton.view

    def archived(job_id: str) -> dict[str, Any]:
        answer = view(job_id)
        return answer | {"status": {**answer["status"], "state": "Archived"}}

    monkeypatch.setattr(lepton, "view", archived)
    fresh = _sdk()  # a resume: nothing cached
    assert fresh.get_job_status(job.id) is JobStatus.CANCELLED
    analysis = fresh.get_failure_analysis(job.id)
    assert analysis is not None and analysis["status"] == "cancelled"
    assert to_status("Archived", failed=1) is JobStatus.FAILURE
    assert to_status("Archived", succeeded=1, stopped=True) is JobStatus.SUCCESS


def test_job_names_are_valid_and_deterministic() -> None:
    name = lepton_job_name("My_Experiment/rec-0042 retry")
    assert name == lepton_job_name("My_Experiment/rec-0042 retry") and len(name) <= 36
    assert name[0].isalpha() and name.replace("-", "").isalnum() and name == name.lower()


def test_preflight_checks_the_credentials_through_the_client(lepton: FakeLepton,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    reach, image = _sdk().preflight("repo/img:1")
    assert reach.ok is True and f"workspace {WORKSPACE} accepted the credentials" == reach.detail
    assert image.ok is None and "not checked" in image.detail
    assert lepton.requests[-1][0] == "GET" and lepton.requests[-1][1].endswith("/jobs")
    monkeypatch.setenv("LEPTON_WORKSPACE_TOKEN", "a-wrong-token")
    [check] = _sdk().preflight(None)
    assert check.ok is False and "401" in check.detail and "a-wrong-token" not in check.detail
    assert check.unreachable is False  # the workspace answered and refused: the user's to fix


def test_a_pasted_token_with_a_newline_works_and_a_malformed_one_is_refused_unshown(
        lepton: FakeLepton, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``HTTPAdapter.send`` is faked: requests itself builds the headers. A token pasted with its trailing newline
    made requests refuse every call with "InvalidHeader: ... header value: 'Bearer <the token>\\n'": preflight printed
    the token on the screen and in its JSON, and each call was retried as transient. Now surrounding whitespace is
    dropped (the call is made with the token), and a token with whitespace inside is refused naming
    LEPTON_WORKSPACE_TOKEN, its value not shown."""
    monkeypatch.setenv("LEPTON_WORKSPACE_TOKEN", f"  {TOKEN}\n")
    monkeypatch.setenv("LEPTON_WORKSPACE_ID", f"{WORKSPACE}\n")
    [reach] = _sdk().preflight(None)
    assert reach.ok is True and TOKEN not in reach.detail
    for bad in (f"{TOKEN[:5]} {TOKEN[5:]}", f"{TOKEN}\r\nX-Injected: 1"):
        monkeypatch.setenv("LEPTON_WORKSPACE_TOKEN", bad)
        with pytest.raises(UserInputError, match="LEPTON_WORKSPACE_TOKEN contains whitespace") as info:
            make_sdk("lepton")
        assert (info.value.field, info.value.value) == ("LEPTON_WORKSPACE_TOKEN", None)
        assert TOKEN[5:] not in json.dumps(info.value.to_json())


def test_a_refused_token_is_named_in_preflight_and_in_every_call(lepton: FakeLepton,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the HTTP layer; the workspace answers 401 to a wrong token. Preflight failed with "Client
    error during API call: 401" as field ``platform_reachable`` and every call said the same: nothing named the
    credential to fix. Now preflight's error names LEPTON_WORKSPACE_TOKEN (never its value) and the workspace, and
    every refused call says which credential was refused."""
    from tao_automl.runner.preflight import PreflightReport

    monkeypatch.setenv("LEPTON_WORKSPACE_TOKEN", "a-wrong-token")
    sdk = _sdk()
    [check] = sdk.preflight(None)
    report = PreflightReport()
    report.add(check.check, check.ok, check.detail, check.error)
    error = report.error().to_json()
    assert (error["field"], error["value"]) == ("LEPTON_WORKSPACE_TOKEN", None), error
    assert f"a token of workspace {WORKSPACE}" in error["allowed"] and "a-wrong-token" not in json.dumps(error)
    for call in (lambda: sdk.create_job(None, "true", gpu_count=0, job_name="r1"),
                 lambda: sdk.get_job_status("some-job"), lambda: sdk.get_job_logs("some-job")):
        with pytest.raises(PlatformError, match=rf"workspace {WORKSPACE} refused LEPTON_WORKSPACE_TOKEN \(HTTP 401\)"):
            call()

    def offline(request: requests.PreparedRequest) -> requests.Response:
        raise requests.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")

    monkeypatch.setattr(lepton, "send", offline)
    [check] = _sdk().preflight(None)
    assert check.ok is False and check.unreachable is True and "Connection refused" in check.detail


def test_an_image_no_runtime_can_parse_is_refused_naming_the_field_before_any_job(lepton: FakeLepton) -> None:
    """Transport faked at the HTTP layer. An image such as ``NVCR.io/Nvidia/TAO:5 0`` passed preflight ("not checked")
    and create_job sent it to the workspace, so every rec's job was created and failed pulling it. Now preflight fails
    the image check and create_job refuses it, naming field ``image``, the value and what is allowed; no job is
    created."""
    bad = "nvcr.io/Nvidia/TAO:5 0"
    reach, image = _sdk().preflight(bad)
    assert reach.ok is True and image.ok is False and image.error is not None
    error = image.error.to_json()
    assert (error["field"], error["value"]) == ("image", bad) and "image reference" in error["allowed"]
    with pytest.raises(UserInputError, match=r"image: .* is not a valid image reference") as info:
        _sdk().create_job(bad, "true", gpu_count=0)
    assert info.value.field == "image"
    with pytest.raises(UserInputError) as info:
        LeptonSDK(image="Bad Image")
    assert info.value.field == "image"
    assert not any(r[0] == "POST" for r in lepton.requests)
    assert _sdk().preflight("nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt")[1].ok is None  # valid: left to the pull


def test_preflight_refuses_a_resource_shape_create_job_would_refuse(lepton: FakeLepton) -> None:
    """`gpu_count: 2` with a 1-GPU shape, or GPUs with no shape, passed preflight ("2 valid") and were refused by
    create_job with field null."""
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    for kwargs, value in (({"gpu_count": 2, "resource_shape": "gpu.1xh100-80gb"}, "gpu.1xh100-80gb"),
                          ({"gpu_count": 1}, None)):
        with pytest.raises(UserInputError) as caught:
            checked_job_kwargs(_sdk(), kwargs)
        error = caught.value.to_json()
        assert (error["field"], error["value"]) == ("platform_kwargs.resource_shape", value), error
        assert f"with {kwargs['gpu_count']} GPU(s) per replica" in error["allowed"]
    assert checked_job_kwargs(_sdk(), {"gpu_count": 2, "resource_shape": "gpu.2xh100-80gb"})
    assert not any(r[0] == "POST" for r in lepton.requests)  # nothing was created


def _failed_with_replica_logs(lepton: FakeLepton, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                              streams: dict[str, list[tuple[int, str]]]) -> tuple[LeptonSDK, Any]:
    """A job the workspace says Failed, whose log service answers ``streams`` (replica -> (ts_ns, line) list)."""
    sdk = _sdk()
    job = sdk.create_job(None, "exit 1", gpu_count=0, job_name=name)
    assert Conformance(_sdk, tmp_path / "s", timeout_s=20, poll_s=0.05).wait(sdk, job.id)[-1] is JobStatus.FAILURE
    route = lepton.route

    def replicas(request: requests.PreparedRequest, method: str, path: str, query: dict[str, str],
                 body: Any) -> requests.Response:
        if not path.endswith("/logs"):
            return route(request, method, path, query, body)
        result = [{"stream": {"job": query["job"], "replica": replica},
                   "values": [[str(ts), line] for ts, line in lines]} for replica, lines in streams.items()]
        return _response(request, 200, {"status": "success", "data": {"result": result}})

    monkeypatch.setattr(lepton, "route", replicas)
    return sdk, job


def test_a_multi_replica_failure_names_the_replica_that_failed_first_and_its_exit_code(
        lepton: FakeLepton, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Transport faked at the HTTP layer; the workspace's ``/logs`` answer holds two replicas' streams: replica r-1
    ran out of memory and exited 1, then replica r-0 was terminated (143). The analysis took the last exit marker of
    all replicas (143, r-0's) and put it next to r-1's error line, naming no replica: "Failed with exit code 143:
    RuntimeError: CUDA out of memory". Now it gives the first failed replica, its exit code and its error lines, and
    every replica's exit code."""
    now = time.time_ns()
    sdk, job = _failed_with_replica_logs(lepton, monkeypatch, tmp_path, "two-replicas", {
        "r-0": [(now - 50, "epoch 1"), (now - 40, "NCCL WARN peer closed the connection; terminating"),
                (now - 10, "TAO_AUTOML_EXIT_CODE=143")],
        "r-1": [(now - 45, "RuntimeError: CUDA out of memory"), (now - 44, "TAO_AUTOML_EXIT_CODE=1")]})
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None
    assert (analysis["exit_code"], analysis.get("replica")) == (1, "r-1"), analysis["message"]
    assert analysis["replica_exit_codes"] == {"r-1": 1, "r-0": 143}
    assert analysis["error_lines"] == ["RuntimeError: CUDA out of memory"]
    assert analysis["message"] == (f"Lepton job {job.id} Failed with exit code 1 on replica r-1: RuntimeError: CUDA "
                                   "out of memory.")


def test_a_failed_job_whose_replicas_logged_only_exit_0_has_no_exit_code_0(
        lepton: FakeLepton, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Transport faked at the HTTP layer; the workspace says Failed, replica r-0 logged exit 0 and r-1 was killed
    before its wrapper could print a code. The analysis took the last code logged and said "Failed with exit code 0".
    Now it gives no exit code and says which replica exited 0 and which logged none."""
    now = time.time_ns()
    sdk, job = _failed_with_replica_logs(lepton, monkeypatch, tmp_path, "killed-replica", {
        "r-0": [(now - 50, "epoch 1 done"), (now - 40, "TAO_AUTOML_EXIT_CODE=0")],
        "r-1": [(now - 45, "epoch 1 done"), (now - 44, "Killed")]})
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None and analysis["exit_code"] is None, analysis["message"]
    assert analysis["message"] == (f"Lepton job {job.id} Failed (no replica logged a failing exit code: r-0 exited 0; "
                                   "r-1 logged none): Killed.")


def test_a_job_that_completed_just_before_the_stop_keeps_its_success(lepton: FakeLepton) -> None:
    """Transport faked at the HTTP layer: the stop (PATCH spec.stopped) reaches the workspace only once the job, seen
    running by the cancel's first look, has completed with exit 0; the workspace then shows it Stopped with its one
    replica succeeded. cancel_job answered True and the job ended CANCELLED, losing its own result."""
    lepton.late_stop = True
    sdk = _sdk()
    job = sdk.create_job(None, "sleep 1; echo finished", gpu_count=0, job_name="late-stop")
    assert sdk.get_job_status(job.id) is JobStatus.RUNNING
    assert sdk.cancel_job(job.id) is False
    assert sdk.get_job_status(job.id) is JobStatus.SUCCESS and _sdk().get_job_status(job.id) is JobStatus.SUCCESS
    assert sdk.get_failure_analysis(job.id) is None


def test_a_stop_refused_because_the_job_just_completed_keeps_its_success(lepton: FakeLepton,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the HTTP layer: the stop (PATCH spec.stopped) reaches the workspace once the job, seen
    running by the cancel's first look, has completed, and the workspace refuses it (HTTP 400). cancel_job raised, and
    the runner counts a failed cancel as done: a timed-out or early-stopped rec was recorded failed/stopped while its
    job had succeeded. Now a refused stop of a job that has ended answers False (it keeps its own result); a refused
    stop of a job still running still raises."""
    sdk = _sdk()
    job = sdk.create_job(None, "sleep 1; echo finished", gpu_count=0, job_name="refused-stop")
    assert sdk.get_job_status(job.id) is JobStatus.RUNNING
    route = lepton.route

    def refuse(request: requests.PreparedRequest, method: str, path: str, query: dict[str, str],
               body: Any) -> requests.Response:
        if method != "PATCH":
            return route(request, method, path, query, body)
        deadline = time.time() + 10
        while path.rsplit("/", 1)[-1] not in lepton.drained and time.time() < deadline:
            time.sleep(0.05)
        return _response(request, 400, {"code": "InvalidRequest", "message": "the job cannot be stopped"})

    monkeypatch.setattr(lepton, "route", refuse)
    assert sdk.cancel_job(job.id) is False
    assert sdk.get_job_status(job.id) is JobStatus.SUCCESS and sdk.get_failure_analysis(job.id) is None
    running = sdk.create_job(None, "sleep 30", gpu_count=0, job_name="refused-stop-2")
    lepton.drained.add(running.id)  # the fake refuses its stop at once: it is still running
    with pytest.raises(PlatformError, match="400"):
        sdk.cancel_job(running.id)


def test_cancel_answers_once_the_job_has_stopped(lepton: FakeLepton, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the HTTP layer; the workspace shows a stopped job Stopping (its replicas still running) for
    a while. cancel_job answered True at once (and Stopping counted as CANCELLED): now it answers once the job is
    Stopped, and says so when it does not stop in time."""
    sdk = _sdk()
    job = sdk.create_job(None, "sleep 30", gpu_count=0, job_name="slow-stop")
    view = lepton.view
    stopping_until = time.time() + 1.0

    def slow(job_id: str) -> dict[str, Any]:
        answer = view(job_id)
        if answer["status"]["state"] == "Stopped" and time.time() < stopping_until:
            answer["status"]["state"] = "Stopping"
        return answer

    monkeypatch.setattr(lepton, "view", slow)
    started = time.time()
    assert sdk.cancel_job(job.id) is True
    assert time.time() >= stopping_until > started and sdk.get_job_status(job.id) is JobStatus.CANCELLED
    other = sdk.create_job(None, "sleep 30", gpu_count=0, job_name="never-stops")
    stopping_until = time.time() + 60
    sdk.stop_timeout_s = 0.3
    with pytest.raises(PlatformError, match=r"still Stopping after 0\.3 s: its replicas may still write"):
        sdk.cancel_job(other.id)


def test_a_cpu_shape_a_non_string_shape_or_bad_mounts_are_refused_naming_the_field(lepton: FakeLepton) -> None:
    """Transport faked at the HTTP layer. `gpu_count: 1` with `resource_shape: cpu.small` ran GPU-less jobs, a
    number as the shape was sent as a string, and a bad `mounts` entry raised pydantic's ValidationError from
    create_job (each rec failed with a stack-trace text) while preflight passed it."""
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    for kwargs, field, text in (({"gpu_count": 1, "resource_shape": "cpu.small"}, "resource_shape", "has no GPU"),
                                ({"gpu_count": 1, "resource_shape": 8}, "resource_shape", "must be a Lepton"),
                                ({"gpu_count": 0, "mounts": [{"path": "/a"}]}, "mounts", "is not a Lepton mount"),
                                ({"gpu_count": 0, "mounts": "/data"}, "mounts", "mounts must be a list")):
        with pytest.raises(UserInputError, match=text) as caught:
            checked_job_kwargs(_sdk(), kwargs)
        assert caught.value.to_json()["field"] == f"platform_kwargs.{field}", caught.value.to_json()
        gpu_count = kwargs.pop("gpu_count")
        with pytest.raises(UserInputError, match=text):
            _sdk().create_job(None, "true", gpu_count=gpu_count, **kwargs)
    assert not any(r[0] == "POST" for r in lepton.requests)


def test_the_job_writes_its_spec_file_and_results_dir_before_its_command_runs(lepton: FakeLepton,
                                                                              tmp_path: Path) -> None:
    """Only the transport is faked (the fake runs the container command with local bash). The runner's job command
    reads the spec file rendered on the orchestrator's disk, which a Lepton job sees only through a mount sharing
    that path; now ``spec_file`` travels base64-encoded in the command and is written there (its folder made), and
    the job's results dir is made, before the command runs. A spec too big for a command line is refused."""
    sdk = _sdk()
    job, _, text = start_with_spec_file(sdk, tmp_path)
    assert Conformance(_sdk, tmp_path / "s", timeout_s=20, poll_s=0.05).wait(sdk, job.id)[-1] is JobStatus.SUCCESS
    assert sdk.get_job_logs(job.id) == text + "results-ready\n"
    with pytest.raises(UserInputError, match=r"spec_file: the rendered spec /x/s.yaml is 200000 bytes") as info:
        sdk.create_job(None, "true", gpu_count=0, spec_file={"path": "/x/s.yaml", "text": "a" * 200_000})
    assert info.value.field == "spec_file"


def test_a_log_longer_than_two_pages_comes_back_whole(lepton: FakeLepton, tmp_path: Path) -> None:
    """Transport faked at the HTTP layer (``/logs`` answers at most ``limit`` lines, newest first, ``end`` inclusive).
    Each page after the first starts with the line at the previous page's oldest time, which was dropped as seen; the
    page, one line short of ``limit``, read as the last: a 16000-line log came back as its last 9998 lines, with
    nothing said. Now paging goes on while the service answers full pages."""
    sdk = _sdk()
    job = sdk.create_job(None, "seq 1 16000", gpu_count=0, job_name="long-log")
    assert Conformance(_sdk, tmp_path / "s", timeout_s=30, poll_s=0.05).wait(sdk, job.id)[-1] is JobStatus.SUCCESS
    text = sdk.get_job_logs(job.id)
    assert text is not None and text.splitlines() == [str(i) for i in range(1, 16001)]
    assert sdk.get_job_logs(job.id, tail=3) == "15998\n15999\n16000\n"


def test_a_log_longer_than_every_page_read_says_its_older_lines_were_not_fetched(
        lepton: FakeLepton, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the HTTP layer. Paging stops after ``_LOG_PAGES`` full pages: the lines before them came
    back as nothing, the log looking whole. Now its first line says that older lines were not fetched."""
    monkeypatch.setattr(lepton_sdk, "_LOG_PAGE", 100)
    monkeypatch.setattr(lepton_sdk, "_LOG_PAGES", 3)
    sdk = _sdk()
    job = sdk.create_job(None, "seq 1 1000", gpu_count=0, job_name="longer-log")
    assert Conformance(_sdk, tmp_path / "s", timeout_s=30, poll_s=0.05).wait(sdk, job.id)[-1] is JobStatus.SUCCESS
    text = sdk.get_job_logs(job.id)
    assert text is not None
    lines = text.splitlines()
    assert lines[0].startswith("[tao-automl: the log has lines before these that were not fetched"), lines[:2]
    assert lines[-1] == "1000" and "1" not in lines


def test_an_answer_that_is_not_json_is_a_transient_platform_error(lepton: FakeLepton,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy's HTML page with HTTP 200 in place of the API's JSON (only ``HTTPAdapter.send`` is faked: the real
    ``leptonai`` client decodes it): leptonai raises a bare RuntimeError asking to report a "programming error",
    with the page in it; the SDK says what happened in one line, as a transient error the runner retries."""
    sdk = _sdk()
    job = sdk.create_job(None, "sleep 5", gpu_count=0)

    def proxy_page(self: HTTPAdapter, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = b"<html><body>Gateway login</body></html>"
        response.headers["Content-Type"] = "text/html"
        response.url, response.request = str(request.url), request
        return response

    monkeypatch.setattr(HTTPAdapter, "send", proxy_page)
    with pytest.raises(TransientPlatformError) as info:
        sdk.get_job_status(job.id)
    assert "HTTP 200" in str(info.value) and "not the JSON" in str(info.value)
    assert "Gateway login" not in str(info.value) and "programming error" not in str(info.value)


def test_a_workspace_url_that_is_no_http_url_is_refused_naming_its_setting(lepton: FakeLepton,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``HTTPAdapter.send`` is faked. ``LEPTON_WORKSPACE_URL=gateway.example/api/v2/workspaces/x`` (no scheme)
    made requests raise MissingSchema on every call: the SDK called it a transient error (retried, then each rec
    failed) and preflight failed as ``platform_reachable`` naming no setting. Now building the SDK refuses it naming
    LEPTON_WORKSPACE_URL (or ``workspace_url``), the value and what is allowed; nothing is sent."""
    for url in ("gateway.example/api/v2/workspaces/x", "htp://gateway.example"):
        monkeypatch.setenv("LEPTON_WORKSPACE_URL", url)
        with pytest.raises(UserInputError, match="is not an http\\(s\\) URL with a host") as info:
            make_sdk("lepton")
        assert (info.value.field, info.value.value) == ("LEPTON_WORKSPACE_URL", url)
        assert "https://" in str(info.value.allowed)
    monkeypatch.delenv("LEPTON_WORKSPACE_URL")
    with pytest.raises(UserInputError) as info:
        LeptonSDK(workspace_url="ftp://gateway.example")
    assert info.value.field == "workspace_url"
    assert not lepton.requests
    sdk = LeptonSDK(workspace_url="https://gateway.example/api/v2/workspaces/" + WORKSPACE)
    assert sdk.preflight(None)[0].ok is True


def test_a_404_from_create_or_list_names_the_workspace_settings_not_a_job(lepton: FakeLepton,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace URL or id with no API behind it answers every call 404 (only ``HTTPAdapter.send`` is faked: the
    real ``leptonai`` client raises its ClientError): creating or listing jobs said "Lepton does not know job create
    ..." as an UnknownJobError, as if a job had vanished; it names the settings to check. A 404 about one job stays
    UnknownJobError."""
    sdk = _sdk()
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, request, **kw: _response(request, 404, {"code": "NotFound"}))
    for call in (lambda: sdk.create_job(None, "echo hi", gpu_count=0),
                 lambda: sdk.create_job(None, "echo hi", gpu_count=0, job_name="rec-1"),
                 lambda: sdk.find_job("rec-1")):
        with pytest.raises(PlatformError) as info:
            call()
        assert not isinstance(info.value, UnknownJobError)
        assert "LEPTON_WORKSPACE_URL" in str(info.value) and "404" in str(info.value)
    with pytest.raises(UnknownJobError):
        sdk.get_job_status("some-job")

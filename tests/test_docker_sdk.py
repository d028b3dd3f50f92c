"""DockerSDK: unit tests of the request it builds, then a real dockerd (started by ci/docker_up.sh)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import readme_says, stop_at_session_end, write_shell_skill, write_skill
from http_stub import canned_http
from platform_helpers import (
    busybox_trainer,
    cancel_at_once,
    released_jobs_answer_from_records,
    stale_first_refresh,
)
from registry_stub import StubRegistry
from tao_automl.errors import PlatformError, PlatformUnreachableError, UserInputError
from tao_automl.platforms.base import JobStatus, unwrap
from tao_automl.platforms.docker.spec import (
    check_network,
    command_file_dirs,
    container_name,
    device_requests,
    environment,
    input_paths,
    labels_for,
    parse_mounts,
    run_options,
)
from tao_automl.platforms.docker.state import describe, state_info, to_status
from tao_automl.platforms.registry import make_sdk
from tao_automl.runner.guard import GuardedSDK
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing import CHECKS, Conformance

docker = pytest.importorskip("docker", reason="the docker extra is not installed: pip install -e '.[docker]'")

from tao_automl.platforms.docker.sdk import DockerSDK  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IMAGE = "tao-automl-ci/busybox:static"


# ------------------------------------------------------------------ unit tests (no engine needed)
def test_gpu_request_is_an_nvidia_device_request_with_the_count() -> None:
    assert device_requests(0) == []
    (request,) = device_requests(2)
    api = docker.types.DeviceRequest(**request)  # what docker-py sends to the engine
    assert api == {"Driver": "nvidia", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}


def test_bridge_network_is_refused_with_the_reason() -> None:
    assert check_network("host") == "host" and check_network("none") == "none"
    with pytest.raises(UserInputError, match=r"network='bridge' is not allowed: .*private"):
        check_network("bridge")
    with pytest.raises(UserInputError, match="network must be one of host, none, got 'overlay'"):
        check_network("overlay")


@pytest.mark.parametrize("value", ["false", "no", 0])
def test_a_yes_no_option_given_as_text_is_refused_not_taken_as_true(value: Any, tmp_path: Path) -> None:
    """``mount_command_paths: 'false'`` (quoted in the YAML) was kept as ``bool('false')``, True: the command's
    folders were mounted though the user said not to. Refused before any engine is contacted."""
    with pytest.raises(UserInputError) as caught:
        make_sdk("docker", {"mount_command_paths": value, "state_dir": str(tmp_path), "base_url": "unix:///nowhere"})
    assert caught.value.field == "platform_options.mount_command_paths", caught.value
    assert caught.value.allowed == "true or false" and caught.value.value == value


@pytest.mark.parametrize("value", ["abc", -1, 0, True])
def test_a_bad_timeout_is_refused_naming_timeout_s_not_the_engine_url(value: Any, tmp_path: Path) -> None:
    """``timeout_s: abc`` (or 0, -1) reached the docker client and came back as "the Docker engine at
    unix:///var/run/docker.sock cannot be used", field DOCKER_HOST, allowed "a Docker engine URL": the wrong field."""
    with pytest.raises(UserInputError) as caught:
        make_sdk("docker", {"timeout_s": value, "state_dir": str(tmp_path), "base_url": "unix:///nowhere"})
    assert caught.value.field == "platform_options.timeout_s" and caught.value.value == value, caught.value
    assert "seconds > 0" in str(caught.value.allowed), caught.value


@pytest.mark.parametrize(("key", "value"), [("base_url", 5), ("image", 123), ("image", ""), ("state_dir", 123),
                                            ("state_dir", ""), ("state_dir", "FILE")])
def test_a_platform_option_of_the_wrong_kind_is_refused_naming_it(key: str, value: Any, tmp_path: Path) -> None:
    """base_url: 5 crashed with "AttributeError: 'int' object has no attribute 'strip'"; image: 123 was accepted and
    crashed at create_job ('partition'); state_dir: 123 was blamed on platform_options as a whole; a state_dir that
    is a file was accepted and create_job failed "NotADirectoryError". Each is refused naming the field."""
    if value == "FILE":
        value = str(tmp_path / "a-file")
        Path(value).write_text("")
    options = {"state_dir": str(tmp_path / "s"), "base_url": "unix:///nowhere", key: value}
    with pytest.raises(UserInputError) as caught:
        make_sdk("docker", options)
    assert caught.value.field == f"platform_options.{key}" and caught.value.allowed, caught.value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "5", -1])
def test_a_cancel_grace_that_is_not_a_finite_number_is_refused_when_the_sdk_is_built(value: Any,
                                                                                      tmp_path: Path) -> None:
    """``cancel_grace_s: .nan`` (or .inf) was accepted, then every cancel raised ValueError ("cannot convert float
    NaN to integer") at round(): the job kept running. Refused up front, naming the field and what is allowed."""
    with pytest.raises(UserInputError) as caught:
        make_sdk("docker", {"cancel_grace_s": value, "state_dir": str(tmp_path), "base_url": "unix:///nowhere"})
    assert caught.value.field == "platform_options.cancel_grace_s", caught.value
    assert caught.value.allowed == "a finite number of seconds >= 0, such as 10", caught.value


def test_mounts_take_paths_modes_and_refuse_bad_ones(tmp_path: Path) -> None:
    got = parse_mounts({str(tmp_path): "/data:ro", str(tmp_path / "."): {"bind": "/w"}})
    assert got == {str(tmp_path): {"bind": "/w", "mode": "rw"}}
    assert parse_mounts({str(tmp_path): "/data:ro"}) == {str(tmp_path): {"bind": "/data", "mode": "ro"}}
    with pytest.raises(UserInputError, match="does not exist"):
        parse_mounts({str(tmp_path / "nope"): "/x"})
    with pytest.raises(UserInputError, match="must be an absolute path"):
        parse_mounts({str(tmp_path): "relative"})
    with pytest.raises(UserInputError, match=r"mode of .* must be 'ro' or 'rw', got 'rx'"):
        parse_mounts({str(tmp_path): "/x:rx"})


def test_a_bad_mount_names_the_field_the_value_and_what_is_allowed_and_a_colon_is_refused_up_front(
        tmp_path: Path) -> None:
    """Mount errors came without field, value or allowed (JSON "allowed": null); a host path with ':' passed and
    every job then failed at the engine ("invalid volume specification"). Each is refused naming all three."""
    (tmp_path / "a:b").mkdir()
    for mounts, said in (({"rel/data": "/x"}, "must be an absolute path"), ({str(tmp_path): "rel"}, "absolute"),
                         ({str(tmp_path / "nope"): "/x"}, "does not exist"), (["/data"], "must be a mapping"),
                         ({str(tmp_path / "a:b"): "/x"}, "holds a ':'"), ({str(tmp_path): "/x:y:ro"}, "mode")):
        with pytest.raises(UserInputError, match=said) as caught:
            parse_mounts(mounts)
        assert (caught.value.field, caught.value.value) == ("mounts", mounts), caught.value
        assert str(caught.value.allowed).startswith("a mapping of existing absolute host path"), caught.value
    assert input_paths({"d": str(tmp_path / "a:b"), "e": str(tmp_path)}) == [str(tmp_path)]


def test_a_results_dir_or_spec_folder_with_a_colon_is_refused_before_the_engine_fails_every_job(
        tmp_path: Path) -> None:
    """A workspace_path holding ':' made every rec fail at the engine ("invalid volume specification:
    '/ws:x/.../results:/ws:x/.../results:rw'") as a PlatformError, and the sweep went on burning its budget. The
    job is refused naming the path (a user error: the sweep stops at its first rec)."""
    spec = tmp_path / "ws:x" / "rec_0001" / "spec.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text("a: 1\n")
    common = {"image": "img", "name": "n", "gpu_count": 0, "env_vars": None, "job_name": None, "network": "host",
              "kwargs": {}, "defaults": {}}
    for command, results, field in ((f"train -e {spec}", str(tmp_path / "r"), "command"),
                                    ("true", str(tmp_path / "ws:x" / "results"), "results_dir")):
        with pytest.raises(UserInputError, match="holds a ':'") as caught:
            run_options(command=command, results_dir=results, **common)
        assert caught.value.field == field and ":" in str(caught.value.value), caught.value


def test_the_spec_folder_named_in_the_command_is_mounted_at_the_same_path(tmp_path: Path) -> None:
    spec = tmp_path / "rec_0001" / "train_spec.yaml"
    spec.parent.mkdir()
    spec.write_text("a: 1\n")
    command = f"python3 /usr/bin/env train -e '{spec}' --out={tmp_path}/missing.txt --cfg={spec}"
    assert command_file_dirs(command) == [str(spec.parent)]  # system dirs and missing files are not mounted
    options = run_options(image="img", command=command, name="n", gpu_count=0, env_vars={"A": 1},
                          results_dir=str(spec.parent / "results"), job_name="run_x-rec0007", network="none",
                          kwargs={"labels": {"team": "cv"}, "mem_limit": "1g"}, defaults={})
    assert options["command"] == ["sh", "-c", command] and options["environment"] == {"A": "1"}
    assert options["volumes"][str(spec.parent)] == {"bind": str(spec.parent), "mode": "rw"}
    assert options["device_requests"] == [] and options["network_mode"] == "none" and options["init"] is True
    assert options["memswap_limit"] == "1g"
    assert options["labels"]["tao-automl.run"] == "run_x" and options["labels"]["tao-automl.rec"] == "7"
    assert options["labels"]["team"] == "cv"


def test_labels_and_names_identify_the_job() -> None:
    assert container_name("run 1-rec0003", "x") == container_name("run 1-rec0003", "y")
    assert container_name("run 1-rec0003", "x").startswith("tao-run-1-rec0003-")
    assert container_name(None, "fallback") == "fallback"
    assert "tao-automl.rec" not in labels_for("plain", "/r", None)
    with pytest.raises(UserInputError, match="labels must be a mapping"):
        labels_for("plain", "/r", ["x"])


def test_env_vars_without_a_value_are_refused_not_passed_as_the_text_none() -> None:
    """env_vars {"WANDB_MODE": None} reached the job as WANDB_MODE=None (str(None)); a bad name was refused without
    field or allowed. Both name env_vars and the variable (never its value: it may be a secret)."""
    assert environment({"A": "x", "N": 3}) == {"A": "x", "N": "3"}
    for bad, key in (({"WANDB_MODE": None}, "WANDB_MODE"), ({"CFG": {"a": 1}}, "CFG"), ({"A=B": "x"}, "A=B")):
        with pytest.raises(UserInputError) as caught:
            environment(bad)
        assert (caught.value.field, caught.value.value) == ("env_vars", key), caught.value
        assert str(caught.value.allowed).startswith("a mapping of variable name"), caught.value


def test_bad_labels_are_refused_naming_the_field_value_and_allowed_and_the_tools_own_names_are_kept() -> None:
    """``labels: x`` was refused without field, value or allowed; ``labels: {tao-automl.results-dir: /elsewhere}``
    replaced the label the tool reads back (re-attach, adopt) with the user's value."""
    assert labels_for("a-rec0001", "/r", {"team": "vision"})["team"] == "vision"
    for bad in ("x", ["x"], {"tao-automl.results-dir": "/elsewhere"}):
        with pytest.raises(UserInputError) as caught:
            labels_for("a-rec0001", "/r", bad)
        assert (caught.value.field, caught.value.value) == ("labels", bad), caught.value
        assert str(caught.value.allowed).startswith("a mapping of label name -> value"), caught.value


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("mem_limit", "1k", "6m"), ("mem_limit", 5 * 1024 * 1024, "6m"), ("mem_limit", "5.9m", "6m"),
    ("entrypoint", 5, "string"), ("entrypoint", ["sh", 1], "string"), ("entrypoint", {"a": "b"}, "string"),
])
def test_a_memory_limit_under_the_engines_minimum_and_a_bad_entrypoint_are_refused(key: str, value: Any,
                                                                                   allowed: str) -> None:
    """`mem_limit: 1k` (the engine refuses under 6 MB) and `entrypoint: 5` passed the checks; every rec then failed
    at the engine."""
    def options(**kwargs: Any) -> dict[str, Any]:
        return run_options(image="img", command="true", name="n", gpu_count=0, env_vars=None, results_dir="/r",
                           job_name=None, network="host", kwargs=kwargs, defaults={})

    with pytest.raises(UserInputError) as caught:
        options(**{key: value})
    assert (caught.value.field, caught.value.value) == (key, value) and allowed in caught.value.allowed
    assert options(mem_limit="6m", entrypoint="/bin/sh -c")["mem_limit"] == "6m"
    assert options(mem_limit=0, entrypoint=["/bin/sh", "-c"])["entrypoint"] == ["/bin/sh", "-c"]  # 0: no limit
    assert options(mem_limit=6 * 1024 * 1024, shm_size="1k")["shm_size"] == "1k"  # shm_size has no minimum

@pytest.mark.parametrize(("state", "cancelled", "age", "status"), [
    ({"Status": "created"}, False, 1.0, JobStatus.PENDING),
    ({"Status": "created"}, False, 3600.0, JobStatus.FAILURE),
    ({"Status": "running"}, True, 1.0, JobStatus.RUNNING),
    ({"Status": "exited", "ExitCode": 0}, False, 1.0, JobStatus.SUCCESS),
    ({"Status": "exited", "ExitCode": 0, "OOMKilled": True}, False, 1.0, JobStatus.FAILURE),
    ({"Status": "exited", "ExitCode": 2}, False, 1.0, JobStatus.FAILURE),
    ({"Status": "exited", "ExitCode": 143}, True, 1.0, JobStatus.CANCELLED),
    ({"Status": "dead", "Error": "driver failed"}, False, 1.0, JobStatus.FAILURE),
])
def test_container_states_map_to_job_status(state: dict[str, Any], cancelled: bool, age: float,
                                            status: JobStatus) -> None:
    assert to_status(state_info(state), cancelled, age) is status


def test_a_job_ended_by_a_signal_says_which_one() -> None:
    """A container ended by SIGTERM (the engine shut down, or restarted, with it running: its event log is gone
    then) read only "failed with exit code 143"; the failure names the signal, as on the local platform."""
    message = describe("abc", JobStatus.FAILURE, {"container_state": "exited", "exit_code": 143}, [])
    assert message.startswith("Docker job abc failed with exit code 143 (128+15") and "SIGTERM" in message, message
    assert "SIGKILL" in describe("abc", JobStatus.FAILURE, {"container_state": "exited", "exit_code": 137}, [])


def test_without_the_docker_package_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # import docker -> ImportError
    with pytest.raises(UserInputError, match=r"install the docker extra: pip install 'tao-run-automl\[docker\]'"):
        make_sdk("docker", {})


def test_the_readme_states_the_pull_stall_limit() -> None:
    """The README's "no progress for N minutes" is the stall limit the SDK uses."""
    from tao_automl.platforms.docker.pulls import STALL_S

    (minutes,) = readme_says(r"A Docker job whose image the engine lacks .* makes no progress for (\d+) minutes")
    assert int(minutes) * 60 == STALL_S and DockerSDK.pull_stall_s == STALL_S


_HOLD_NAME_LOCK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tao_automl.platforms.records import JobRecords
    with JobRecords(Path(sys.argv[1])).name_lock(sys.argv[2]):  # what submit holds while it looks the name up
        print("held", flush=True)
        sys.stdin.readline()
    """)


def test_a_release_waits_for_a_submission_under_its_name_in_another_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """release_job took the records' thread lock but not the per-name file lock submit (create_job) takes: a
    submission under the job's name in another process could look the container up, then see it removed (or its
    name not yet remembered) under it. The release now takes that lock: while another process holds it, the
    container is not removed; once it lets go, the release goes through. The engine is a stand-in here (no dockerd
    needed): the lock is the records layer's."""
    import threading

    from tao_automl.platforms.docker import sdk as sdk_module

    removed: list[str] = []

    class Container:
        id, name, attrs = "c0ffee", "tao-rec-1", {"State": {"Status": "exited", "ExitCode": 0}}

        def remove(self) -> None:
            removed.append(self.name)

    class Containers:
        def get(self, ref: str) -> Container:
            if removed or ref not in (Container.id, Container.name):
                raise docker.errors.NotFound(f"no container {ref}")
            return Container()

    class Client:
        containers = Containers()

    engine = type("Engine", (), {"errors": docker.errors, "from_env": staticmethod(lambda timeout: Client())})
    monkeypatch.setattr(sdk_module, "_docker", lambda: engine)
    state = tmp_path / "state"
    kept = tmp_path / "results" / "log.txt"
    kept.parent.mkdir()
    kept.write_text("done\n")
    sdk = DockerSDK(image=IMAGE, state_dir=state)
    sdk.records.save({"id": Container.id, "container_name": Container.name, "name": "rec-1",
                      "results_dir": str(kept.parent), "log_file": str(kept), "state": "success",
                      "submitted_at": time.time(), "cancel_requested": False})
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_NAME_LOCK, str(state), Container.name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    answers: list[str | None] = []
    release = threading.Thread(target=lambda: answers.append(sdk.release_job(Container.id)), daemon=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        release.start()
        release.join(1.0)
        assert (removed, answers) == ([], []), "removed while another process held the name's lock"
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    release.join(10)
    assert answers == [f"container {Container.name} removed"] and removed == [Container.name]
    assert sdk.records.named(Container.name, "rec-1") == Container.id


# ------------------------------------------------------------------ a real Docker engine
def _engine_answers() -> bool:
    try:
        return bool(docker.from_env(timeout=5).ping())
    except Exception:
        return False


def _has_image() -> bool:
    try:
        docker.from_env(timeout=10).images.get(IMAGE)
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A Docker engine with the test image (``ci/docker_up.sh`` as root when missing); removes the
    containers of this session's jobs afterwards."""
    if not (_engine_answers() and _has_image()):
        if os.geteuid() != 0:
            pytest.skip("no Docker engine (or no test image) and not root, so ci/docker_up.sh cannot set one up")
        was_up = _engine_answers()
        proc = subprocess.run(["bash", str(REPO / "ci" / "docker_up.sh")], capture_output=True, text=True,
                              timeout=600, check=False)
        if proc.returncode != 0 or not _engine_answers():
            raise RuntimeError(f"ci/docker_up.sh failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        if not was_up:
            stop_at_session_end(["bash", str(REPO / "ci" / "docker_up.sh"), "down"])
    yield
    base = str(tmp_path_factory.getbasetemp())
    client = docker.from_env(timeout=30)
    for container in client.containers.list(all=True, filters={"label": "tao-automl.managed=true"}):
        if str(container.labels.get("tao-automl.results-dir", "")).startswith(base):
            container.remove(force=True)


@pytest.fixture
def sdk(engine: None, tmp_path: Path) -> DockerSDK:
    return DockerSDK(image=IMAGE, state_dir=tmp_path / "state", cancel_grace_s=2)


@pytest.fixture
def stub_registry(engine: None, tmp_path: Path) -> Iterator[Callable[..., StubRegistry]]:
    """Makes :class:`StubRegistry` s serving the test image; afterwards closes them and removes what was pulled
    from them (and the containers of this test's jobs)."""
    made: list[StubRegistry] = []

    def make(**options: Any) -> StubRegistry:
        made.append(StubRegistry(docker.from_env(timeout=30), IMAGE, **options))
        return made[-1]

    yield make
    client = docker.from_env(timeout=30)
    for container in client.containers.list(all=True, filters={"label": "tao-automl.managed=true"}):
        if str(container.labels.get("tao-automl.results-dir", "")).startswith(str(tmp_path)):
            container.remove(force=True)
    for registry in made:
        registry.close()
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(registry.host + "/"):
                    client.images.remove(tag, force=True)


def _wait(sdk: DockerSDK, job_id: str, timeout: float = 30) -> JobStatus:
    deadline = time.monotonic() + timeout
    while not (status := sdk.get_job_status(job_id)).is_finished():
        assert time.monotonic() < deadline, f"job {job_id} still {status} after {timeout} s"
        time.sleep(0.1)
    return status


@pytest.mark.parametrize("check", list(CHECKS))
def test_docker_sdk_conforms(check: str, engine: None, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    options = {"image": IMAGE, "state_dir": str(tmp_path / "state"), "cancel_grace_s": 2,
               "mounts": {str(scratch): str(scratch)}}
    CHECKS[check](Conformance(lambda: make_sdk("docker", options), scratch, timeout_s=30, poll_s=0.1))


def test_a_new_process_reattaches_with_init_options(sdk: DockerSDK, tmp_path: Path) -> None:
    job = sdk.create_job(None, "echo from-the-container > $OUT/note.txt; sleep 1", gpu_count=0,
                         env_vars={"OUT": str(tmp_path / "res")}, outputs={"results_dir": str(tmp_path / "res")})
    code = (f"import time; from tao_automl.platforms.registry import make_sdk\n"
            f"s = make_sdk('docker', {sdk.init_options!r})\n"
            f"while not s.get_job_status({job.id!r}).is_finished(): time.sleep(0.1)\n"
            f"print(s.get_job_status({job.id!r}).value, s.read_job_file({job.id!r}, 'note.txt').strip())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["success", "from-the-container"], out
    with pytest.raises(UserInputError, match="outside the results dir"):
        sdk.read_job_file(job.id, "../../etc/passwd")


def _ended_then_removed(sdk: DockerSDK, command: str, results: Path) -> str:
    """A job that ran ``command`` to its end while no orchestrator looked, its container then removed (docker rm,
    container prune): its id."""
    import docker

    job = sdk.create_job(None, command, gpu_count=0, outputs={"results_dir": str(results)})
    client = docker.from_env()
    deadline = time.monotonic() + 30
    while client.containers.get(job.id).status != "exited":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    client.containers.get(job.id).remove(force=True)
    return job.id


def test_a_removed_container_ends_as_the_engines_die_event_says(sdk: DockerSDK, tmp_path: Path) -> None:
    """An audit stopped a sweep (kill -9), let its 3 containers end (exit 0, 3, 0), pruned them and resumed: every rec
    was recorded a failure "removed before this sweep saw how it ended" and the sweep ended `failed` with no best,
    though two jobs had written their metric and the engine's `die` events (which the SDK reads for a removed
    container) give each exit code. A removed container that exited by itself now ends as its `die` event says: 0 a
    success, else a failure naming the exit code."""
    ok = _ended_then_removed(sdk, "echo done", tmp_path / "ok")
    failed = _ended_then_removed(sdk, "exit 3", tmp_path / "failed")
    assert sdk.get_job_status(ok) is JobStatus.SUCCESS
    assert sdk.get_failure_analysis(ok) is None
    assert sdk.get_job_status(failed) is JobStatus.FAILURE
    analysis = sdk.get_failure_analysis(failed) or {}
    assert analysis["exit_code"] == 3, analysis
    assert "exit code 3" in analysis["message"] and "removed" in analysis["message"], analysis


def test_a_removed_container_whose_end_the_engine_forgot_does_not_claim_it_never_finished(
        sdk: DockerSDK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container that exited 0 while no orchestrator ran and was then pruned was reported "removed before it
    finished": when the engine no longer keeps its events, the sweep cannot know how it ended, and says so,
    pointing at its results folder."""
    from tao_automl.platforms.docker import sdk as docker_sdk

    job_id = _ended_then_removed(sdk, "echo done", tmp_path / "r")
    # the engine no longer keeps the container's events (restarted, or a busy engine's last 256)
    monkeypatch.setattr(docker_sdk, "removal", lambda *_: ([], None, None))
    assert sdk.get_job_status(job_id) is JobStatus.FAILURE
    message = (sdk.get_failure_analysis(job_id) or {})["message"]
    assert "before it finished" not in message and "before this sweep saw how it ended" in message, message


def test_oom_kill_is_a_failure_saying_so(sdk: DockerSDK, tmp_path: Path) -> None:
    job = sdk.create_job(None, "echo allocating; head -c 300m /dev/zero | tail", gpu_count=0,
                         outputs={"results_dir": str(tmp_path / "r")}, mem_limit="16m")
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None and analysis["oom_killed"] is True, analysis
    assert "out-of-memory" in analysis["message"] and "16m" in analysis["message"]


def test_mounts_network_none_and_read_only(sdk: DockerSDK, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("dataset\n")
    command = 'cat /data/in.txt; echo "nets: $(ls /sys/class/net)"; echo no > /data/x || echo read-only'
    job = sdk.create_job(None, command, gpu_count=0, outputs={"results_dir": str(tmp_path / "r")},
                         mounts={str(data): "/data:ro"}, network="none")
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    logs = sdk.get_job_logs(job.id) or ""
    assert "dataset" in logs and "read-only" in logs, logs
    assert "nets: lo\n" in logs, logs  # network none: loopback only
    assert not (data / "x").exists()


def test_the_host_datasets_a_job_declares_as_inputs_are_mounted_read_only_at_their_path(sdk: DockerSDK,
                                                                                         tmp_path: Path) -> None:
    """A dataset given with dataset_keys (a declared input: create_job's ``inputs``) is a host path in the spec, but
    only the results dir and the command's folders were mounted: the job failed "No such file or directory". The
    existing host paths of ``inputs`` are mounted read-only at the same path (spaces kept); a URI is left alone."""
    data = tmp_path / "my data"
    data.mkdir()
    (data / "in.txt").write_text("rows 1 2 3\n")
    inputs = {"train.data": str(data), "eval": {"sources": [str(data / "in.txt"), "s3://bucket/x"]}}
    # the path is in the spec, not the command; writing must fail on a read-only file system, not a missing folder
    command = 'cat "$D/in.txt" || exit 5; touch "$D/x" 2>&1 | grep -q "Read-only file system" || exit 6'
    job = sdk.create_job(None, command, gpu_count=0, env_vars={"D": str(data)},
                         outputs={"results_dir": str(tmp_path / "r")}, inputs=inputs)
    assert _wait(sdk, job.id) is JobStatus.SUCCESS, sdk.get_job_logs(job.id)
    assert "rows 1 2 3" in (sdk.get_job_logs(job.id) or "")
    assert not (data / "x").exists()


def test_user_mistakes_are_refused_before_anything_starts(sdk: DockerSDK, tmp_path: Path) -> None:
    bare = DockerSDK(state_dir=tmp_path / "s2")
    with pytest.raises(UserInputError, match=r"^image: the docker platform needs a container image"):
        bare.create_job(None, "true", gpu_count=0)
    with pytest.raises(UserInputError, match="network='bridge' is not allowed"):
        sdk.create_job(None, "true", gpu_count=0, network="bridge")
    with pytest.raises(UserInputError, match="network='bridge' is not allowed"):
        DockerSDK(network="bridge")
    with pytest.raises(PlatformUnreachableError, match=r"cannot reach the Docker engine at unix://.*/no\.sock"):
        DockerSDK(base_url=f"unix://{tmp_path}/no.sock", state_dir=tmp_path / "s3")
    with pytest.raises(UserInputError, match="num_nodes=2 is not supported"):
        sdk.create_job(None, "true", gpu_count=0, num_nodes=2)
    with pytest.raises(PlatformError, match="image 'tao-automl-ci/no-such:1' is not on the engine"):
        sdk.create_job("tao-automl-ci/no-such:1", "true", gpu_count=0, outputs={"results_dir": str(tmp_path)})


def test_a_user_the_engine_cannot_read_or_the_image_lacks_is_refused_naming_user(sdk: DockerSDK,
                                                                                 tmp_path: Path) -> None:
    """``user: [a]`` passed preflight and ``user: nobody-here`` could not be checked there: each job was created and
    failed to start ("unable to find user ...") as a PlatformError, so a sweep burnt every rec the same way. A
    malformed user is refused before the engine is asked; a user the image lacks is refused naming user."""
    for bad in (["a"], 1.5, True, "a b", ""):
        with pytest.raises(UserInputError) as caught:
            sdk.validate_job(0, {"user": bad})
        assert (caught.value.field, caught.value.value) == ("user", bad), caught.value
    with pytest.raises(UserInputError, match="user") as caught:
        make_sdk("docker", {"user": ["a"], "state_dir": str(tmp_path), "base_url": "unix:///nowhere"})
    for user in ("nobody-here", "0:no-group"):
        with pytest.raises(UserInputError, match="no matching entries") as caught:
            sdk.create_job(None, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")}, user=user)
        assert (caught.value.field, caught.value.value) == ("user", user), caught.value
    ran = sdk.create_job(None, "id -u", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")}, user="1000:1000")
    assert _wait(sdk, ran.id) is JobStatus.SUCCESS and (sdk.get_job_logs(ran.id) or "").strip() == "1000"


def test_a_gpu_request_reaches_the_engine(sdk: DockerSDK, tmp_path: Path) -> None:
    """No GPU (nor NVIDIA runtime) here: the engine must refuse the nvidia request, and the name stays free. The
    refusal was a PlatformError quoting the engine ('could not select device driver "nvidia"'), so a sweep failed
    every rec the same way without naming the setting: it is the user's gpu_count, refused naming it and 0."""
    if any(Path("/dev").glob("nvidia[0-9]*")):
        pytest.skip("this machine has NVIDIA GPUs; the refusal path is only observable without them")
    name = f"gpu-{uuid.uuid4().hex[:8]}-rec0001"
    with pytest.raises(UserInputError, match=r"nvidia") as caught:
        sdk.create_job(None, "true", gpu_count=1, outputs={"results_dir": str(tmp_path)}, job_name=name)
    assert (caught.value.field, caught.value.value) == ("gpu_count", 1), caught.value
    assert str(caught.value.allowed).startswith("0 on this engine"), caught.value
    assert sdk.client.containers.list(all=True, filters={"label": f"tao-automl.job-name={name}"}) == []


def test_a_container_left_created_by_a_dead_submitter_is_started_on_resubmit(sdk: DockerSDK,
                                                                              tmp_path: Path) -> None:
    name = f"orphan-{uuid.uuid4().hex[:8]}-rec0001"
    options = run_options(image=IMAGE, command="echo resumed", name=container_name(name, ""), gpu_count=0,
                          env_vars=None, results_dir=str(tmp_path), job_name=name, network="host", kwargs={},
                          defaults={})
    created = sdk.client.containers.create(**options)
    job = sdk.create_job(None, "echo resumed", gpu_count=0, outputs={"results_dir": str(tmp_path)}, job_name=name)
    assert job.id == created.id
    assert _wait(sdk, job.id) is JobStatus.SUCCESS and "resumed" in (sdk.get_job_logs(job.id) or "")


TRAINER = busybox_trainer(
    "reads the YAML spec, writes status.json (no Python in the image)", {"lr": "lr", "layers": "layers"},
    """\
    sleep 0.3
    loss=$(awk -v lr="$lr" -v l="$layers" 'BEGIN {x = lr * 100 - 1; d = l - 3; if (d < 0) d = -d;
        printf "%.6f", x * x + 0.1 * d}')  # busybox awk: no log()
    echo '{"epoch": 1, "max_epoch": 1, "status": "RUNNING", "kpi": {"val_loss": '"$loss"'}}' >> "$rd/status.json"
    echo "val_loss: $loss"
    """
)


def test_automl_sweep_runs_end_to_end_in_containers(engine: None, tmp_path: Path) -> None:
    skill = write_shell_skill(tmp_path / "bank", TRAINER)
    sdk = DockerSDK(state_dir=tmp_path / "state", cancel_grace_s=2, keep_containers=True)  # their labels are read
    sdk.poll_interval_s = 0.1
    settings = {"metric": "val_loss", "automl_max_recommendations": 4, "automl_max_concurrent": 2, "seed": 3,
                "poll_interval_s": 0.2, "algorithm": "random"}
    in_flight, peak = 0, 0

    def started(_: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    def ended(*_: Any) -> None:
        nonlocal in_flight
        in_flight -= 1

    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", image=IMAGE,
                                          gpu_count=0, on_recommendation=started, on_result=ended)
    progress, history = result["progress"], result["history"]
    assert peak == 2, history
    assert progress["completed"] == progress["total"] == 4, history
    assert all(h["status"] == "success" for h in history), history
    assert result["best"]["metric_value"] == min(h["metric_value"] for h in history), history
    from tao_automl.experiment.store import read_meta

    assert read_meta(result["run_dir"])["run_args"]["platform"] == "docker"  # it said "local"
    labels = [sdk.client.containers.get(h["job_id"]).labels for h in history]
    assert sorted(int(lb["tao-automl.rec"]) for lb in labels) == sorted(h["rec_id"] for h in history), labels


EPOCHS_TRAINER = busybox_trainer(
    "one status.json line a second, as long as its epoch count (the rule's budget) says",
    {"lr": "lr", "epochs": "num_epochs"},
    """\
    e=0
    while [ "$e" -lt "$epochs" ]; do
      e=$((e + 1)); sleep 0.5
      loss=$(awk -v lr="$lr" -v e="$e" 'BEGIN {x = lr * 100 - 1; printf "%.6f", x * x + 1 / e}')
      echo '{"epoch": '"$e"', "max_epoch": '"$epochs"', "kpi": {"val_loss": '"$loss"'}}' >> "$rd/status.json"
    done
    """
)


def test_a_rec_the_sweep_cancels_records_the_end_time_docker_gave_its_container(engine: None,
                                                                               tmp_path: Path) -> None:
    """An audit compared each rec's finished_at with its container's FinishedAt: recs the sweep itself cancelled
    (stopped by asha's stopping rule, failed by automl_job_timeout_s) kept the time the cancel returned, 0.04 to
    0.7 s after the container ended (wall_time_s as long), though README says finished_at is when the job ended as
    the platform recorded it. Every rec now keeps its container's FinishedAt."""
    skill = write_shell_skill(tmp_path / "bank", EPOCHS_TRAINER)
    sdk = DockerSDK(state_dir=tmp_path / "state", cancel_grace_s=1)
    settings = {"metric": "val_loss", "algorithm": "asha", "fidelity_mode": "stopping", "automl_max_epochs": 9,
                "automl_reduction_factor": 3, "automl_max_recommendations": 5, "automl_max_concurrent": 3,
                "seed": 3, "poll_interval_s": 0.2, "automl_job_timeout_s": 3.5}
    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", image=IMAGE,
                                          gpu_count=0, automl_hyperparameters=["train.optim.lr"])
    history = result["history"]
    assert {"stopped", "failure"} <= {h["status"] for h in history}, history
    for h in history:
        ended = sdk.get_job_info(h["job_id"])["finished_at"]
        assert h["finished_at"] == ended, (h["rec_id"], h["status"], h["finished_at"] - ended)
    readme_says(r"finished_at` and `wall_time_s` are when its job ended as the platform recorded it")


def test_container_age_is_read_from_dockers_nanosecond_timestamps() -> None:
    from tao_automl.platforms.docker.sdk import _created_age_s

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 90)) + ".123456789Z"
    assert 89 < _created_age_s({"Created": stamp}) < 95
    assert _created_age_s({"Created": "garbage"}) == 0.0


def test_preflight_pings_the_engine_and_finds_the_image(sdk: DockerSDK) -> None:
    reach, image = sdk.preflight(None)
    assert reach.ok is True and reach.detail.startswith("Docker engine ")
    assert image.ok is True and image.detail == f"{IMAGE} is on the engine"
    [_, missing] = sdk.preflight("tao-automl-ci/no-such-image:never")
    assert missing.ok is False and "is not on the Docker engine" in missing.detail and missing.error is not None
    assert (missing.error.field, missing.error.value) == ("image", "tao-automl-ci/no-such-image:never")
    # a registry whose name does not resolve (.invalid never does): not the user's to fix, retry later (exit 3;
    # README: "DNS failure"); an audit saw nvcr.io's lookup failure reported as a user error
    [_, lost] = sdk.preflight("nosuchregistry.invalid/img:1")
    assert lost.ok is False and lost.unreachable is True and "no such host" in lost.detail


def test_an_engine_that_does_not_answer_fails_when_the_sdk_is_built(tmp_path: Path) -> None:
    """Preflight builds the SDK first: this error becomes its failed ``platform`` check. No daemon socket is
    "unreachable" (exit 3, retry later), not a user error nor a failed sweep."""
    with pytest.raises(PlatformUnreachableError, match=r"^cannot reach the Docker engine at unix://.*no\.sock") as info:
        DockerSDK(base_url=f"unix://{tmp_path / 'no.sock'}", image=IMAGE, state_dir=tmp_path / "s", timeout_s=5)
    assert info.value.exit_code == 3 and info.value.kind == "platform_unreachable"
    assert info.value.field == "platform_options.base_url" and info.value.value == f"unix://{tmp_path / 'no.sock'}"


def test_an_engine_that_stops_answering_mid_run_is_a_transient_error_naming_it(sdk: DockerSDK,
                                                                             tmp_path: Path) -> None:
    """dockerd stopped (or restarting) with a job running: get_job_status raised requests' bare ConnectionError
    "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))", naming neither Docker nor the
    engine. It is a TransientPlatformError (retried, as before) naming the engine; the job's record is untouched."""
    from tao_automl.platforms.retry import RETRYABLE, TransientPlatformError

    job = sdk.create_job(None, "sleep 30", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    gone = f"unix://{tmp_path}/stopped.sock"
    sdk.client, live = docker.DockerClient(base_url=gone, version="1.41", timeout=5), sdk.client
    sdk.init_options["base_url"] = gone
    try:
        with pytest.raises(TransientPlatformError, match=r"Docker engine at unix://.*stopped\.sock did not answer") \
                as caught:
            sdk.get_job_status(job.id)
        assert isinstance(caught.value, RETRYABLE) and caught.value.field == "platform_options.base_url"
    finally:
        sdk.client = live
    assert sdk.get_job_status(job.id) is JobStatus.RUNNING
    sdk.cancel_job(job.id)


def test_preflight_refuses_what_the_engine_would_and_says_when_gpus_are_not_confirmed(sdk: DockerSDK) -> None:
    """`network: bridge` passed preflight and then stopped `run` (field null, a run folder left); `mem_limit: 12zz`
    passed and failed every rec at the engine; `gpu_count: 2` on an engine without the NVIDIA runtime passed too."""
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    for key, value in (("network", "bridge"), ("network", "overlay"), ("mem_limit", "12zz"), ("shm_size", "1 gig")):
        with pytest.raises(UserInputError) as caught:
            checked_job_kwargs(sdk, {"gpu_count": 0, key: value})
        error = caught.value.to_json()
        assert (error["field"], error["value"]) == (f"platform_kwargs.{key}", value) and error["allowed"], error
    assert checked_job_kwargs(sdk, {"gpu_count": 0, "mem_limit": "512m", "shm_size": "1g", "network": "none"})
    runtimes = sdk.client.info().get("Runtimes") or {}
    checks = {c.check: c for c in sdk.preflight(None, 2, job_options={"gpu_count": 2})}
    assert checks["gpus"].ok is ("nvidia" in runtimes or None)
    if "nvidia" not in runtimes:
        assert "gpu_count=2: not confirmed: the engine lists no nvidia runtime" in checks["gpus"].detail
        assert "(the default" not in checks["gpus"].detail
        assert "(the default when platform_kwargs.gpu_count is not set)" in \
            {c.check: c for c in sdk.preflight(None, 1, job_options={})}["gpus"].detail
    assert "gpus" not in {c.check for c in sdk.preflight(None, 0, job_options={"gpu_count": 0})}


def test_a_finished_container_says_when_it_ended_in_epoch_seconds(sdk: DockerSDK, tmp_path: Path) -> None:
    """The engine's FinishedAt (an RFC 3339 string with nanoseconds) was passed on as is, so the runner, which
    needs seconds, timed a re-attached rec by when it collected it rather than when its container ended."""
    started = time.time()
    job = sdk.create_job(None, "sleep 1", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    ended = time.time()
    time.sleep(1.5)
    finished_at = sdk.get_job_info(job.id)["finished_at"]
    assert isinstance(finished_at, float) and started + 0.5 <= finished_at <= ended + 0.5, (started, finished_at)


def _docker_config(tmp_path: Path, image: str, **job_options: Any) -> Path:
    """A CLI run config for the docker platform with ``image`` and ``platform_kwargs`` ``job_options``."""
    skill = tmp_path / "bank" / "models" / "toy-net"
    config = {"skill_dir": str(skill if skill.is_dir() else write_skill(tmp_path / "bank")),
              "workspace_path": str(tmp_path / "ws"),
              "platform": "docker", "platform_options": {"state_dir": str(tmp_path / "state")}, "image": image,
              "automl_settings": {"metric": "val_loss", "automl_max_recommendations": 2, "seed": 3},
              "platform_kwargs": {"gpu_count": 0, **job_options}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


#: What a registry answers for a repository or tag it does not have (served by a stub registry on loopback).
_NO_MANIFEST = b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}'


def test_a_missing_image_is_an_image_error_naming_it_not_an_unreachable_platform(
        engine: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An image the engine lacks was reported as "platform 'docker' could not be reached" with value "docker",
    though the engine answered. Its registry answering "not found" is a user error (exit 2); a registry that
    cannot be contacted stays "retry later" (exit 3); both name the field image and the image."""
    from tao_automl.cli.main import main

    with canned_http(404, _NO_MANIFEST) as url:
        image = f"{url.split('/')[2]}/tao-automl-ci/no-such:1"
        assert main(["preflight", str(_docker_config(tmp_path, image)), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["field"], error["value"]) == ("image", image) and error["allowed"], error
    assert "not on the Docker engine" in error["message"] and "manifest unknown" in error["message"], error
    lost = "nosuchregistry.invalid/img:1"
    assert main(["preflight", str(_docker_config(tmp_path, lost)), "--json"]) == 3
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "platform_unreachable" and (error["field"], error["value"]) == ("image", lost), error
    assert "could not be reached" not in error["message"] and "nosuchregistry.invalid" in error["message"], error
    assert "answered" in error["message"], error


def test_a_private_image_without_credentials_says_to_log_in_to_its_registry(
        engine: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A registry answering 401 "unauthorized" (a private image, no `docker login`) got the not-found hint ("check
    the image name and tag ... docker pull / docker load"): nothing said credentials were missing."""
    from tao_automl.cli.main import main

    body = b'{"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}'
    with canned_http(401, body) as url:
        registry = url.split("/")[2]
        image = f"{registry}/private/img:1"
        assert main(["preflight", str(_docker_config(tmp_path, image)), "--json"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        sdk = DockerSDK(image=image, state_dir=tmp_path / "state")
        with pytest.raises(PlatformError) as pulled:
            sdk.create_job(None, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    assert (error["field"], error["value"]) == ("image", image) and "unauthorized" in error["message"], error
    for hint in (error["hint"], pulled.value.hint):
        assert f"docker login {registry}" in str(hint), hint


def test_a_job_pulls_its_missing_image_and_a_failed_pull_names_the_image(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """Preflight says an image the registry has is "pulled when the first job starts", but the container was
    only created: every job failed with "No such image". Now the job pulls it; a failed pull names the image and
    what the registry said."""
    with canned_http(404, _NO_MANIFEST) as url:
        image = f"{url.split('/')[2]}/tao-automl-ci/no-such:1"
        with pytest.raises(PlatformError) as caught:
            sdk.create_job(image, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r1")},
                           env_vars={"TRACKER_API_KEY": "s3cr3t-of-the-refused-job"})
    assert (caught.value.field, caught.value.value) == ("image", image), caught.value.to_json()
    assert "could not be pulled" in str(caught.value) and "manifest unknown" in str(caught.value)
    # the job's env (its secrets) was kept in its record while the image was pulled; a refused job keeps none
    assert not [p for p in sdk.state_dir.rglob("*") if p.is_file() and b"s3cr3t" in p.read_bytes()]
    registry = stub_registry()  # a registry that has it
    image = registry.image(f"tao-automl-ci/pulled-{uuid.uuid4().hex[:8]}:1")
    job = sdk.create_job(image, "echo pulled", gpu_count=0, outputs={"results_dir": str(tmp_path / "r2")})
    assert _wait(sdk, job.id) is JobStatus.SUCCESS and "pulled" in (sdk.get_job_logs(job.id) or "")
    assert registry.count("manifests", "HEAD") == 1


def test_an_upper_case_image_is_refused_naming_the_image_and_a_lowercase_reference(
        engine: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`image: tao-automl-ci/BusyBox:static` gave the engine's raw 400 text ("500 Server Error for http+docker://
    ... invalid reference format") as the error's value. Preflight refuses it by name before any job; so does a
    job submitted with it (nothing is created)."""
    from tao_automl.cli.main import main

    image = "tao-automl-ci/BusyBox:static"
    assert main(["preflight", str(_docker_config(tmp_path, image)), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["field"], error["value"]) == ("image", image), error
    assert "lowercase" in error["message"] and "lowercase" in error["allowed"], error
    assert "http+docker" not in error["message"] and "Client Error" not in error["message"], error
    sdk = DockerSDK(image=IMAGE, state_dir=tmp_path / "state")
    with pytest.raises(UserInputError) as caught:
        sdk.create_job(image, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")}, job_name="upper-rec1")
    assert (caught.value.field, caught.value.value) == ("image", image) and "lowercase" in str(caught.value)
    assert sdk.client.containers.list(all=True, filters={"label": "tao-automl.job-name=upper-rec1"}) == []


@pytest.mark.parametrize(("image", "ok"), [
    ("busybox", True), ("tao-automl-ci/busybox:static", True), ("nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt", True),
    ("localhost:5000/a__b/c-d.e:Tag_1", True), ("MyRegistry.example:443/team/img:1", True),
    ("img@sha256:" + "a" * 64, True), ("img:1@sha256:" + "0" * 64, True),
    ("tao-automl-ci/BusyBox:static", False), ("Busybox", False), ("img:", False), ("img:-x", False),
    ("a//b", False), ("-img", False), ("img@sha256:xyz", False), ("with space:1", False), ("", False),
])
def test_image_references_follow_dockers_grammar(image: str, ok: bool) -> None:
    from tao_automl.platforms.docker.image import check_reference

    if ok:
        assert check_reference(image) == image
    else:
        with pytest.raises(UserInputError) as caught:
            check_reference(image)
        assert (caught.value.field, caught.value.value) == ("image", image)
        assert "lowercase" in str(caught.value.allowed)
    assert check_reference("r.example:5000/" + "a" * 240 + ":" + "t" * 128)  # the 255 limit is the name's
    with pytest.raises(UserInputError, match="does not follow Docker's reference format"):
        check_reference("a" * 256)


def test_preflight_refuses_a_tiny_memory_limit_and_a_bad_entrypoint_before_any_job(
        engine: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tao_automl.cli.main import main

    for key, value in (("mem_limit", "1k"), ("entrypoint", 5)):
        assert main(["preflight", str(_docker_config(tmp_path, IMAGE, **{key: value})), "--json"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert (error["field"], error["value"]) == (f"platform_kwargs.{key}", value) and error["allowed"], error
    assert not (tmp_path / "ws").exists()


def test_a_container_stopped_or_killed_from_outside_is_cancelled_not_failed(sdk: DockerSDK, tmp_path: Path) -> None:
    """`docker stop` / `docker kill` by someone else read as an ordinary failure quoting a log line. The engine's
    event log says it was asked to signal the container: the job is CANCELLED and says so; a job that kills
    itself stays a failure."""
    jobs = {how: sdk.create_job(None, "echo working; sleep 60", gpu_count=0,
                                outputs={"results_dir": str(tmp_path / how)}) for how in ("stop", "kill")}
    time.sleep(1)
    sdk.client.containers.get(jobs["stop"].id).stop(timeout=1)
    sdk.client.containers.get(jobs["kill"].id).kill()
    for how, signals in (("stop", "SIGTERM"), ("kill", "SIGKILL")):
        assert _wait(sdk, jobs[how].id) is JobStatus.CANCELLED, how
        message = (sdk.get_failure_analysis(jobs[how].id) or {})["message"]
        assert "stopped from outside this sweep" in message and signals in message, message
        assert "docker stop" in message and "working" not in message, message
    itself = sdk.create_job(None, "echo dying; kill -9 $$", gpu_count=0, outputs={"results_dir": str(tmp_path / "s")})
    assert _wait(sdk, itself.id) is JobStatus.FAILURE
    assert "stopped from outside" not in (sdk.get_failure_analysis(itself.id) or {})["message"]


def test_a_running_container_removed_from_outside_is_cancelled_not_failed(sdk: DockerSDK, tmp_path: Path) -> None:
    """`docker rm -f` of a running container read as a failure ("removed before this sweep saw how it ended", state
    "running"), unlike `docker stop` / `docker kill`; the engine's event log says it was killed: CANCELLED, with the
    signal and the exit code its end gave, and the container no longer claimed to be running. Its finished_at was
    unset, so a resumed sweep took the time it looked (wall time 14.7 s for a job killed after 5.4 s): it is the
    time of the engine's die event."""
    job = sdk.create_job(None, "echo working; sleep 60", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    assert sdk.get_job_status(job.id) is JobStatus.RUNNING
    removed_from = time.time()
    sdk.client.containers.get(job.id).remove(force=True)
    removed_by = time.time()
    time.sleep(1.5)  # seen late (an orchestrator killed and resumed): its end is still when the engine ended it
    assert sdk.get_job_status(job.id) is JobStatus.CANCELLED
    analysis = sdk.get_failure_analysis(job.id) or {}
    assert "stopped from outside this sweep" in analysis["message"] and "SIGKILL" in analysis["message"], analysis
    assert (analysis["exit_code"], analysis["container_state"]) == (137, "removed"), analysis
    finished_at = sdk.get_job_info(job.id).get("finished_at")
    assert finished_at is not None and removed_from - 0.5 <= finished_at <= removed_by + 0.5, finished_at


def test_a_sweep_reports_containers_stopped_outside_it_as_cancelled_not_toward_fail_fast(engine: None,
                                                                                       tmp_path: Path) -> None:
    """Each rec's container is stopped by someone else: with automl_fail_fast_after=1 the first one stopped the
    sweep as a failure ("failed with exit code 143"); they are cancelled outside the sweep, and every rec runs."""
    import threading

    skill = write_shell_skill(tmp_path / "bank", "sleep 60\n")
    sdk = DockerSDK(state_dir=tmp_path / "state", cancel_grace_s=2)
    outsider = docker.from_env()

    def stop_soon(rec: Any) -> None:
        threading.Timer(1.0, lambda: outsider.containers.get(rec.job_id).stop(timeout=1)).start()

    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 1, "seed": 3,
                "poll_interval_s": 0.2, "algorithm": "random", "automl_fail_fast_after": 1}
    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", image=IMAGE,
                                          gpu_count=0, on_recommendation=stop_soon)
    history = result["history"]
    assert [h["status"] for h in history] == ["cancelled", "cancelled"], history
    for rec in history:
        assert rec["message"].startswith("cancelled outside this sweep"), rec["message"]
        assert "stopped from outside this sweep" in rec["message"], rec["message"]


def test_a_jobs_log_outlives_its_container(sdk: DockerSDK, tmp_path: Path) -> None:
    """Once a container was removed its output was gone: get_job_logs said None and `tao-automl logs` found
    nothing. The output is kept in the job's results folder when it ends."""
    job = sdk.create_job(None, "echo to-stdout; echo to-stderr >&2", gpu_count=0,
                         outputs={"results_dir": str(tmp_path / "r")})
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    sdk.client.containers.get(job.id).remove()
    kept = sdk.get_job_logs(job.id) or ""
    assert sorted(kept.split()) == ["to-stderr", "to-stdout"], kept  # the engine orders the two streams
    assert sdk.get_job_logs(job.id, tail=1) == kept.splitlines(keepends=True)[-1]
    assert sdk.get_job_logs(job.id, tail=0) == ""
    assert "to-stdout" in (tmp_path / "r" / "container.log").read_text()


def test_tao_automl_logs_shows_a_removed_containers_output(engine: None, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from tao_automl.cli.main import main

    skill = write_shell_skill(tmp_path / "bank", TRAINER)
    sdk = DockerSDK(state_dir=tmp_path / "state", cancel_grace_s=2)
    result = AutoMLRunner(sdk, skill).run(automl_settings={"metric": "val_loss", "automl_max_recommendations": 1,
                                                           "poll_interval_s": 0.2, "algorithm": "random"},
                                          workspace_path=tmp_path / "ws", image=IMAGE, gpu_count=0)
    [rec] = result["history"]
    with pytest.raises(docker.errors.NotFound):  # removed once its result was stored
        sdk.client.containers.get(rec["job_id"])
    capsys.readouterr()
    assert main(["logs", str(result["run_dir"]), "1"]) == 0
    assert "val_loss: " in capsys.readouterr().out


def test_a_job_that_exited_0_just_before_the_cancel_is_a_success_and_the_cancel_answers_false(
        sdk: DockerSDK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It was `cancelled` and cancel_job answered True (the runner then recorded it stopped and lost its final
    result): the engine sent it no signal, so it ran to its end."""
    job = sdk.create_job(None, "echo done", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    deadline = time.monotonic() + 30
    while sdk.client.containers.get(job.id).status != "exited":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stale_first_refresh(sdk, monkeypatch)
    assert sdk.cancel_job(job.id) is False
    monkeypatch.undo()
    assert sdk.get_job_status(job.id) is JobStatus.SUCCESS
    assert sdk.get_failure_analysis(job.id) is None
    # a container the cancel stops is still cancelled, even when its command answers SIGTERM with exit 0
    graceful = sdk.create_job(None, "trap 'exit 0' TERM; while :; do sleep 0.1; done", gpu_count=0,
                              outputs={"results_dir": str(tmp_path / "g")})
    time.sleep(1)
    assert sdk.cancel_job(graceful.id) is True
    assert sdk.get_job_status(graceful.id) is JobStatus.CANCELLED


def test_a_fractional_cancel_grace_is_never_shortened_to_no_grace(engine: None, tmp_path: Path) -> None:
    """The engine takes whole seconds: cancel_grace_s 0.5 was rounded to 0, so docker stop sent SIGKILL right after
    SIGTERM and a job that needs 0.4 s to save on SIGTERM was killed (exit 137, nothing saved). It is rounded up."""
    sdk = DockerSDK(image=IMAGE, state_dir=tmp_path / "state", cancel_grace_s=0.5)
    res = tmp_path / "r"
    job = sdk.create_job(None, 'trap "sleep 0.4; echo saved > $R/m; exit 0" TERM; sleep 60 & wait', gpu_count=0,
                         env_vars={"R": str(res)}, outputs={"results_dir": str(res)})
    time.sleep(1)
    assert sdk.cancel_job(job.id) is True
    assert (res / "m").is_file(), sdk.get_failure_analysis(job.id)
    assert (res / "m").read_text() == "saved\n"
    assert (sdk.get_failure_analysis(job.id) or {})["exit_code"] == 0


def test_after_cancel_answers_true_the_job_writes_no_more_epochs(sdk: DockerSDK, tmp_path: Path) -> None:
    """Regression guard (it held before): the engine answers the stop once the container has exited, even one
    that ignores SIGTERM (killed after cancel_grace_s), so nothing is written after cancel_job returns True."""
    res = tmp_path / "r"
    job = sdk.create_job(None, f"trap '' TERM; i=0; while :; do i=$((i+1)); echo $i >> {res}/epochs; sleep 0.1; "
                         "done", gpu_count=0, outputs={"results_dir": str(res)})
    deadline = time.monotonic() + 30
    while not (res / "epochs").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sdk.cancel_job(job.id) is True
    written = (res / "epochs").read_text()
    time.sleep(1)
    assert (res / "epochs").read_text() == written
    assert sdk.get_job_status(job.id) is JobStatus.CANCELLED


def test_cancels_of_several_jobs_run_at_once(sdk: DockerSDK, tmp_path: Path) -> None:
    """Each cancel held the SDK's lock while the engine stopped the container (up to cancel_grace_s for one that
    ignores SIGTERM), so `stop --cancel-jobs`, which now cancels a run's jobs from several threads, would still have
    stopped them one after the other: 3 such jobs are cancelled in about one grace period now."""
    res = tmp_path / "r"
    jobs = [sdk.create_job(None, f"trap '' TERM; touch {res}/started{i}; while :; do sleep 0.1; done", gpu_count=0,
                           outputs={"results_dir": str(res)}) for i in range(3)]
    deadline = time.monotonic() + 30
    while not all((res / f"started{i}").exists() for i in range(3)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancel_at_once(sdk, [job.id for job in jobs], grace_s=2)  # the sdk fixture's cancel_grace_s
    assert all(sdk.get_job_status(job.id) is JobStatus.CANCELLED for job in jobs)


# ------------------------------------------------------------------ a missing image is pulled in the background
def _slow_image(registry: StubRegistry) -> str:
    return registry.image(f"tao-automl-ci/slow-{uuid.uuid4().hex[:8]}:1")


def _statuses_until_finished(sdk: Any, job_id: str, timeout: float = 20) -> list[tuple[JobStatus, str]]:
    """Every (status, message) a poll saw, every 0.1 s, until the job finished."""
    seen: list[tuple[JobStatus, str]] = []
    deadline = time.monotonic() + timeout
    while True:
        status = sdk.get_job_status(job_id)
        seen.append((status, str(unwrap(sdk).get_job_info(job_id).get("message") or "")))
        if status.is_finished():
            return seen
        assert time.monotonic() < deadline, f"job {job_id} still {status} after {timeout} s: {seen[-1]}"
        time.sleep(0.1)


_PROGRESS = r"^pulling image \S+: (waiting for its registry \S+|[\d.]+ of [\d.]+ MB, \d+ of \d+ layers)$"


def test_a_slow_pull_does_not_hold_create_job_and_the_job_runs_when_it_ends(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """create_job pulled a missing image inside the call: under the runner's GuardedSDK (each attempt abandoned after
    call_timeout_s) a pull longer than every attempt failed the rec, each attempt started a pull of its own, and the
    abandoned attempts created and started the container after the rec was given up. Now create_job answers within
    the call timeout with a PENDING job whose message and log are the pull's progress, the retried attempt joins
    the same job and pull, and the job runs and succeeds once the pull ends."""
    registry = stub_registry(seconds=5)
    image, name = _slow_image(registry), f"slow-{uuid.uuid4().hex[:8]}-rec0001"
    guarded = GuardedSDK(sdk, call_timeout_s=1, attempts=3, base_delay=0.1)
    began = time.monotonic()
    job = guarded.create_job(image, "echo ran-after-the-pull", gpu_count=0, job_name=name,
                             outputs={"results_dir": str(tmp_path / "r")})
    assert time.monotonic() - began < 2.5 and job.id == container_name(name, "")
    assert guarded.get_job_status(job.id) is JobStatus.PENDING and guarded.find_job(name) == job.id
    assert re.match(_PROGRESS, sdk.get_job_info(job.id)["message"]), sdk.get_job_info(job.id)
    # the runner shows a queued job's pending_reason in status (as Slurm's Reason): the pull's progress in steps of
    # a tenth (the runner logs each change)
    assert re.match(r"Docker: pulling image \S+: (waiting for its registry|\d+0? % of \d+ MB, \d of \d layers)",
                    sdk.get_job_info(job.id)["pending_reason"]), sdk.get_job_info(job.id)
    assert "Pulling" in (guarded.get_job_logs(job.id) or ""), guarded.get_job_logs(job.id)
    assert sdk.client.containers.list(all=True, filters={"name": job.id}) == []
    seen = _statuses_until_finished(guarded, job.id)
    assert seen[-1][0] is JobStatus.SUCCESS, seen[-1]
    pending = [message for status, message in seen if status is JobStatus.PENDING]
    assert pending and all(re.match(_PROGRESS, m) for m in pending), pending
    assert any(re.search(r": [1-9][\d.]* of", m) or " 0.[1-9]" in m for m in pending), pending  # bytes moved
    assert "ran-after-the-pull" in (guarded.get_job_logs(job.id) or "")
    assert sdk.get_job_info(job.id).get("pending_reason") is None  # it ran: nothing holds it any more
    assert registry.count("manifests", "HEAD") == 1 and registry.count("layer") == 1, registry.requests


def test_a_job_cancelled_while_its_image_is_pulled_never_gets_a_container(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """A cancel during the pull: CANCELLED at once, and once the pull has ended (the image is on the engine) no
    container with the job's name exists and nothing ran, however often its status is read after."""
    registry = stub_registry(seconds=3)
    image, name = _slow_image(registry), f"cancel-{uuid.uuid4().hex[:8]}-rec0001"
    sdk.pull_answer_s = 0.5
    began = time.monotonic()
    job = sdk.create_job(image, "touch $R/ran", gpu_count=0, job_name=name, env_vars={"R": str(tmp_path)},
                         outputs={"results_dir": str(tmp_path)})
    assert time.monotonic() - began < 2.5 and sdk.get_job_status(job.id) is JobStatus.PENDING
    assert sdk.cancel_job(job.id) is True and sdk.get_job_status(job.id) is JobStatus.CANCELLED
    assert sdk.cancel_job(job.id) is False  # already ended
    deadline = time.monotonic() + 15
    while not sdk.client.images.list(name=image.rsplit(":", 1)[0]):
        assert time.monotonic() < deadline, "the pull did not end"
        time.sleep(0.2)
    for _ in range(5):
        assert sdk.get_job_status(job.id) is JobStatus.CANCELLED
        time.sleep(0.1)
    assert sdk.client.containers.list(all=True, filters={"name": job.id}) == [] and not (tmp_path / "ran").exists()
    assert "cancelled" in (sdk.get_failure_analysis(job.id) or {})["message"]


def test_a_stalled_pull_fails_the_job_naming_the_image(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """A registry that stops sending the layer mid-way: the job fails once the pull made no progress for the stall
    limit, naming the image, "stalled" and the bytes done, instead of create_job (or the job) hanging; and the
    stalled pull is cancelled at the engine, so the next job's pull starts the layer anew rather than joining it."""
    registry = stub_registry(seconds=3, stall_after=200_000)  # about 0.6 s of progress, then nothing
    image, name = _slow_image(registry), f"stall-{uuid.uuid4().hex[:8]}-rec0001"
    sdk.pull_answer_s, sdk.pull_stall_s = 0.5, 1.5
    guarded = GuardedSDK(sdk, call_timeout_s=2, attempts=1)
    job = guarded.create_job(image, "true", gpu_count=0, job_name=name, outputs={"results_dir": str(tmp_path)})
    seen = _statuses_until_finished(sdk, job.id, timeout=15)
    assert seen[-1][0] is JobStatus.FAILURE, seen[-1]
    message = (sdk.get_failure_analysis(job.id) or {})["message"]
    assert image in message and "stalled: no progress for" in message, message
    assert re.search(r"\(0\.[1-2] of 1\.1 MB, 0 of 1 layers done\)", message), message  # the bytes it had
    assert sdk.client.containers.list(all=True, filters={"name": job.id}) == []
    # the stalled pull was cancelled at the engine: a new job's pull asks for the layer again instead of joining it
    again = sdk.create_job(image, "true", gpu_count=0, job_name=f"{name}-again",
                           outputs={"results_dir": str(tmp_path / "again")})
    deadline = time.monotonic() + 10
    while registry.count("layer") < 2:
        assert time.monotonic() < deadline, registry.requests
        time.sleep(0.1)
    assert sdk.get_job_status(again.id) is JobStatus.PENDING


def test_jobs_of_one_missing_image_share_one_pull(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """Two jobs (different names) for one image the engine lacks: both create_jobs answer while it is pulled, one
    pull serves both (one manifest and one layer request at the registry), and both run once it ends."""
    registry = stub_registry(seconds=3)
    image = _slow_image(registry)
    sdk.pull_answer_s = 1.0
    began = time.monotonic()
    jobs = [sdk.create_job(image, f"echo job-{i}", gpu_count=0, job_name=f"share-{uuid.uuid4().hex[:8]}-rec000{i}",
                           outputs={"results_dir": str(tmp_path / str(i))}) for i in (1, 2)]
    # the second joins the running pull without waiting pull_answer_s again (a wave of 8 recs waited 8 x 3 s)
    assert time.monotonic() - began < 1.6 and jobs[0].id != jobs[1].id
    assert [sdk.get_job_status(job.id) for job in jobs] == [JobStatus.PENDING] * 2
    assert [_wait(sdk, job.id) for job in jobs] == [JobStatus.SUCCESS] * 2
    assert registry.count("manifests", "HEAD") == 1 and registry.count("layer") == 1, registry.requests


def test_a_new_process_resumes_a_job_whose_image_was_being_pulled(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """The sweep killed while a job's image was pulled: a new SDK (no pull of its own yet) finds the PENDING
    record by id and by job name, pulls the image again and creates, starts and finishes the job."""
    registry = stub_registry(seconds=3)
    image, name = _slow_image(registry), f"resume-{uuid.uuid4().hex[:8]}-rec0001"
    sdk.pull_answer_s = 0.5
    job = sdk.create_job(image, "echo resumed-after-the-pull", gpu_count=0, job_name=name,
                         outputs={"results_dir": str(tmp_path)})
    fresh = make_sdk("docker", sdk.init_options)
    assert fresh.find_job(name) == job.id and fresh.get_job_status(job.id) is JobStatus.PENDING
    assert "Pulling" in (fresh.get_job_logs(job.id) or "") or "pulling image" in (fresh.get_job_logs(job.id) or "")
    assert _wait(fresh, job.id) is JobStatus.SUCCESS
    assert "resumed-after-the-pull" in (fresh.get_job_logs(job.id) or "") and fresh.find_job(name) == job.id
    assert registry.count("manifests", "HEAD") == 2, registry.requests  # the new process pulled again


def test_a_create_job_given_up_by_its_caller_starts_no_container_when_the_pull_ends(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """The ghost: a create_job attempt abandoned by the runner's GuardedSDK (the caller got a TimeoutError) created
    and started the job's container when its pull ended, using a GPU and writing into a rec already given up. Now
    only a later status call creates it: after the pull has ended, no container with the job's name exists."""
    registry = stub_registry(seconds=1)
    image, name = _slow_image(registry), f"ghost-{uuid.uuid4().hex[:8]}-rec0001"
    sdk.pull_answer_s = 2.5
    guarded = GuardedSDK(sdk, call_timeout_s=0.5, attempts=1)
    with pytest.raises(TimeoutError):
        guarded.create_job(image, "touch $R/ran", gpu_count=0, job_name=name, env_vars={"R": str(tmp_path)},
                           outputs={"results_dir": str(tmp_path)})
    deadline = time.monotonic() + 15
    while not sdk.client.images.list(name=image.rsplit(":", 1)[0]):
        assert time.monotonic() < deadline, "the pull did not end"
        time.sleep(0.2)
    time.sleep(3)  # the abandoned attempt has returned (pull_answer_s) and anything it would start has started
    assert sdk.client.containers.list(all=True, filters={"name": container_name(name, "")}) == []
    assert not (tmp_path / "ran").exists()


def test_a_pull_that_fails_after_create_job_answered_fails_the_job_naming_the_image(
        sdk: DockerSDK, tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """A pull that fails after create_job has returned (here the layer's digest does not match): the job ends
    FAILURE, its message naming the image and what the engine said, and no container is made for it."""
    registry = stub_registry(seconds=2, corrupt=True)
    image, name = _slow_image(registry), f"corrupt-{uuid.uuid4().hex[:8]}-rec0001"
    sdk.pull_answer_s = 0.5
    job = sdk.create_job(image, "true", gpu_count=0, job_name=name, outputs={"results_dir": str(tmp_path)},
                         env_vars={"TRACKER_API_KEY": "s3cr3t-of-the-failed-pull"})
    seen = _statuses_until_finished(sdk, job.id, timeout=15)
    assert seen[-1][0] is JobStatus.FAILURE and JobStatus.PENDING in [status for status, _ in seen], seen
    # the env (its secrets) kept while the image was pulled is dropped once the job has ended
    assert "s3cr3t" not in json.dumps(sdk.get_job_info(job.id), default=str)
    assert not [p for p in sdk.state_dir.rglob("*") if p.is_file() and b"s3cr3t" in p.read_bytes()]
    message = (sdk.get_failure_analysis(job.id) or {})["message"]
    assert f"image {image!r} is not on the engine and could not be pulled" in message, message
    assert "verification failed" in message, message
    assert "error: " in (sdk.get_job_logs(job.id) or ""), sdk.get_job_logs(job.id)  # the pull's log says it too
    assert sdk.client.containers.list(all=True, filters={"name": job.id}) == []


def test_a_sweep_waits_for_its_image_pull_shows_why_and_pulls_it_once(
        tmp_path: Path, stub_registry: Callable[..., StubRegistry], monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through the runner, whose every SDK call is abandoned after ``sdk_call_timeout_s``: with the old
    pull inside create_job, a pull longer than that failed every rec (each retry pulling again). Now a sweep of 2
    recs in flight whose image the engine lacks and takes seconds to pull succeeds; the image is pulled once for both
    recs; the run's journal records why the jobs waited (their pending_reason: the pull's progress, what `status`
    shows)."""
    import tao_automl.runner.loop as loop
    from tao_automl.experiment.store import JOB_PENDING, RunStore

    monkeypatch.setattr(loop, "PENDING_REASON_EVERY_S", 0.3)
    registry = stub_registry(seconds=5)
    image = _slow_image(registry)
    skill = write_shell_skill(tmp_path / "bank", TRAINER)
    sdk = DockerSDK(state_dir=tmp_path / "state", cancel_grace_s=2)
    sdk.poll_interval_s, sdk.pull_answer_s = 0.1, 0.5  # create_job answers well within the call limit
    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 2, "seed": 3,
                "poll_interval_s": 0.2, "algorithm": "random"}
    result = AutoMLRunner(sdk, skill, sdk_call_timeout_s=2).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", image=image, gpu_count=0)
    history = result["history"]
    assert [h["status"] for h in history] == ["success", "success"], history
    assert registry.count("layer") == 1, registry.requests
    store = RunStore(Path(result["run_dir"]))
    try:
        reasons = [event["payload"]["reason"] for event in store.events(JOB_PENDING)]
    finally:
        store.close()
    assert reasons and all(r.startswith(f"Docker: pulling image {image}") for r in reasons), reasons


_ORCHESTRATOR = textwrap.dedent(
    """\
    import sys
    from tao_automl.platforms.docker.sdk import DockerSDK
    from tao_automl.runner.loop import AutoMLRunner
    skill, workspace, state, image = sys.argv[1:5]
    sdk = DockerSDK(state_dir=state, cancel_grace_s=2, keep_containers=True)  # the containers made are counted
    sdk.poll_interval_s, sdk.pull_answer_s = 0.1, 0.5
    settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 2, "seed": 3,
                "poll_interval_s": 0.2, "algorithm": "random"}
    AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=workspace, image=image, gpu_count=0)
    """)


def test_a_sweep_killed_while_its_image_is_pulled_resumes_and_runs_each_rec_once(
        tmp_path: Path, stub_registry: Callable[..., StubRegistry]) -> None:
    """The orchestrator SIGKILLed while its jobs wait for their image's pull (their containers not made yet): the
    resumed sweep (a new process's SDK, no pull of its own) pulls again, creates and starts each rec's container once
    and finishes both recs; no container is left or made twice for a rec."""
    registry = stub_registry(seconds=4)
    image = _slow_image(registry)
    skill = write_shell_skill(tmp_path / "bank", TRAINER)
    workspace, state = tmp_path / "ws", tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    orchestrator = subprocess.Popen([sys.executable, "-c", _ORCHESTRATOR, str(skill), str(workspace), str(state),
                                     image], env=env)
    try:
        deadline = time.monotonic() + 20
        while not [p for p in (state / "jobs").glob("*.json") if '"pulling"' in p.read_text()]:
            assert orchestrator.poll() is None and time.monotonic() < deadline, "no job waited for its image"
            time.sleep(0.05)
    finally:
        orchestrator.kill()
        orchestrator.wait()
    (run_dir,) = workspace.glob("run_*")
    sdk = DockerSDK(state_dir=state, cancel_grace_s=2, keep_containers=True)  # the containers made are counted
    sdk.poll_interval_s, sdk.pull_answer_s = 0.1, 0.5
    result = AutoMLRunner(sdk, skill).run(workspace_path=run_dir, resume=True, image=image, gpu_count=0)
    assert [h["status"] for h in result["history"]] == ["success", "success"], result["history"]
    made = [c for c in sdk.client.containers.list(all=True, filters={"label": "tao-automl.managed=true"})
            if str(c.labels.get("tao-automl.results-dir", "")).startswith(str(tmp_path))]
    assert sorted(int(c.labels["tao-automl.rec"]) for c in made) == [1, 2], [c.name for c in made]


def test_a_pulls_pending_reason_reads_as_the_readmes_example_in_whole_tenths() -> None:
    """README: a Docker job whose image is pulled shows `Docker: pulling image X: 40 % of 9812 MB, 3 of 7 layers`, "in
    tenths": 48.9 % of the announced bytes reads 40 %, the layers pulled and announced are counted. An engine's pull
    stream stands in for the Docker client (no engine needed)."""
    from types import SimpleNamespace

    from tao_automl.platforms.docker.pulls import ImagePull

    example, = readme_says(r"a Docker job whose image is pulled: `Docker: (pulling image X: 40 % of 9812 MB, 3 of 7 "
                           r"layers)`, in tenths")
    sizes = [1_400_000_000] * 6 + [1_412_000_000]  # 9812 MB
    events: list[dict[str, Any]] = [{"status": "Pulling from library/x", "id": "latest"}]
    for i, size in enumerate(sizes):
        current = size if i < 3 else (600_000_000 if i == 3 else 0)
        events.append({"status": "Downloading", "id": f"l{i}", "progressDetail": {"current": current, "total": size}})
    events += [{"status": "Pull complete", "id": f"l{i}"} for i in range(3)]
    client = SimpleNamespace(api=SimpleNamespace(pull=lambda image, stream, decode: iter(events)))
    pull = ImagePull(client, "X")
    assert pull.done.wait(10)
    assert 0.48 < (3 * 1_400_000_000 + 600_000_000) / sum(sizes) < 0.49
    assert pull.reason() == example


def _containers_under(client: Any, folder: Path) -> list[Any]:
    """The containers of this tool whose results dir is under ``folder`` (running or not)."""
    return [c for c in client.containers.list(all=True, filters={"label": "tao-automl.managed=true"})
            if str(c.labels.get("tao-automl.results-dir", "")).startswith(str(folder))]


def test_a_sweep_removes_each_ended_container_once_its_result_and_log_are_stored(engine: None,
                                                                                tmp_path: Path) -> None:
    """Every ended container was kept: `docker ps -a` grew by one per rec (500 after a 500-rec sweep). The runner
    now releases a job once its rec's result is stored: its log is kept in its results folder and its container
    removed; the job's status, log and name stay known (a submission under its name does not run it again).
    `keep_containers` keeps them."""
    skill = write_shell_skill(tmp_path / "bank", TRAINER)
    settings = {"metric": "val_loss", "automl_max_recommendations": 3, "automl_max_concurrent": 2,
                "poll_interval_s": 0.2, "algorithm": "random"}
    sdk = DockerSDK(state_dir=tmp_path / "state", cancel_grace_s=2)
    result = AutoMLRunner(sdk, skill, log_progress=False).run(automl_settings=settings,
                                                              workspace_path=tmp_path / "ws", image=IMAGE, gpu_count=0)
    recs = result["recommendations"]
    assert [r["status"] for r in recs] == ["success"] * 3, recs
    assert _containers_under(sdk.client, tmp_path / "ws") == []
    again = DockerSDK(state_dir=tmp_path / "state")  # a later process: records only
    released_jobs_answer_from_records(again, recs, IMAGE)
    assert _containers_under(sdk.client, tmp_path / "ws") == []  # the create_job ran nothing
    kept = DockerSDK(state_dir=tmp_path / "state", keep_containers=True)
    result = AutoMLRunner(kept, skill, log_progress=False).run(automl_settings=settings,
                                                               workspace_path=tmp_path / "ws2", image=IMAGE,
                                                               gpu_count=0)
    assert len(_containers_under(kept.client, tmp_path / "ws2")) == 3, result["recommendations"]

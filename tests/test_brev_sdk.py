"""BrevSDK against a fake ``brev`` CLI (the real one downloads a binary and needs the Brev cloud).

The lowest level is faked: the CLI process boundary. Each test writes a small Python script named
``brev`` into tmp_path, first on PATH; it records its argv and answers like the real CLI
(``login --token``, ``create --name``, ``exec <instance> <command>`` running the command with bash in
a per-instance fake home, then printing the instance name as ``brev exec`` does when piped). All of
BrevSDK's own code (subprocess calls, remote scripts, framing, parsing) runs for real.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from conftest import readme_says
from platform_helpers import start_with_spec_file
from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.brev import remote
from tao_automl.platforms.brev.sdk import BrevSDK
from tao_automl.platforms.registry import make_sdk
from tao_automl.platforms.retry import TransientPlatformError
from tao_automl.testing import CHECKS, Conformance

TOKEN = "brev-secret-token-xyz"

FAKE_BREV = r'''#!PYTHON
import json, os, subprocess, sys
root = os.environ["FAKE_BREV_ROOT"]
args = sys.argv[1:]
with open(os.path.join(root, "calls.jsonl"), "a") as f:
    f.write(json.dumps(args) + "\n")
if args[:1] == ["login"]:
    if os.environ.get("FAKE_BREV_OFFLINE"):
        print('error: Post "https://brevapi.example/login": dial tcp: lookup brevapi.example: no such host',
              file=sys.stderr); sys.exit(1)
    if args[1:] != ["--token", os.environ.get("FAKE_BREV_TOKEN")]:
        print("error: invalid token " + " ".join(args[1:]), file=sys.stderr); sys.exit(1)
    print("logged in"); sys.exit(0)
if args[:1] == ["create"]:
    name = args[args.index("--name") + 1]
    os.makedirs(os.path.join(root, "homes", name), exist_ok=True)
    print(name); sys.exit(0)
if args[:1] == ["delete"]:
    import shutil
    home = os.path.join(root, "homes", args[1])
    if os.environ.get("FAKE_BREV_DELETE_FAILS"):
        print("error: 503 Service Unavailable", file=sys.stderr); sys.exit(1)
    if not os.path.isdir(home):
        print(f"workspace with id/name {args[1]} not found", file=sys.stderr); sys.exit(1)
    shutil.rmtree(home)
    print(f"Deleting dev environment {args[1]}."); sys.exit(0)
if args[:1] == ["exec"]:
    instance, command = args[1], args[-1]
    home = os.path.join(root, "homes", instance)
    if not os.path.isdir(home):
        print(f"error: instance {instance} not found", file=sys.stderr); sys.exit(1)
    if os.environ.get("FAKE_BREV_LATE_CANCEL") and "kill -TERM" in command:  # reaches it once the job ended
        import glob, time
        deadline = time.time() + 10
        while not glob.glob(os.path.join(home, ".tao-automl/brev-jobs/*/exit_code")) and time.time() < deadline:
            time.sleep(0.05)
    if os.environ.get("FAKE_BREV_START_FAILS") and "nohup" in command:  # the job's start: the connection drops
        print(f"error: ssh: connect to host {instance}: Connection refused", file=sys.stderr); sys.exit(1)
    env = {"PATH": os.path.join(root, "instance-bin") + ":/usr/bin:/bin", "HOME": home}
    proc = subprocess.run(["bash", "-c", command], cwd=home, env=env)
    if proc.returncode != 0:
        sys.exit(1)
    print(instance); sys.exit(0)
print("unknown command " + " ".join(args), file=sys.stderr); sys.exit(1)
'''

FAKE_DOCKER = r'''#!PYTHON
"""docker on the fake instance: a container is a process in its own session that ignores SIGTERM (bash as PID 1
does), so killing the `docker run` client leaves it running; `docker stop` / `docker rm -f` kill it."""
import os, signal, subprocess, sys, time
boxes = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "containers")
os.makedirs(boxes, exist_ok=True)
args = sys.argv[1:]
with open(os.path.join(boxes, "argv.jsonl"), "a") as f:
    f.write(__import__("json").dumps(args) + "\n")
root = os.path.dirname(boxes)
if args[:2] == ["image", "inspect"]:  # every image is on the instance unless the test made it lack them
    sys.exit(1 if os.path.exists(os.path.join(root, "no-images")) else 0)
if args[:1] == ["pull"] and os.path.exists(os.path.join(root, "pull-fails")):  # a registry refusing it
    print("Error response from daemon: pull access denied for " + args[-1], file=sys.stderr)
    sys.exit(18)
if args[:1] == ["pull"]:  # done once the test lets it end
    while not os.path.exists(os.path.join(root, "pull-done")):
        time.sleep(0.05)
    print("pulled " + args[-1], flush=True)
    sys.exit(0)
if args[:1] == ["run"]:
    name = args[args.index("--name") + 1] if "--name" in args else f"anonymous-{os.getpid()}"
    workdir = args[args.index("-w") + 1]
    proc = subprocess.Popen(args[-3:], cwd=workdir, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    with open(os.path.join(boxes, name), "w") as f:
        f.write(str(proc.pid))
    sys.exit(proc.wait())
if args[:1] in (["stop"], ["rm"]):
    path = os.path.join(boxes, args[-1])
    if not os.path.exists(path):
        print("Error: No such container: " + args[-1], file=sys.stderr); sys.exit(1)
    pid = int(open(path).read())
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[-1].split()[0] != "Z":
        time.sleep(0.05)  # gone, or a zombie: it writes nothing more
    os.remove(path)
    sys.exit(0)
sys.exit(1)
'''


@pytest.fixture
def brev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "brev"
    (root / "bin").mkdir(parents=True)
    (root / "homes" / "my-box").mkdir(parents=True)
    script = root / "bin" / "brev"
    script.write_text(FAKE_BREV.replace("PYTHON", sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_BREV_ROOT", str(root))
    monkeypatch.setenv("FAKE_BREV_TOKEN", TOKEN)
    monkeypatch.setenv("BREV_API_TOKEN", TOKEN)
    return root


def _calls(root: Path) -> list[list[str]]:
    return [json.loads(line) for line in (root / "calls.jsonl").read_text().splitlines()]


def _sdk() -> BrevSDK:
    sdk = BrevSDK(instance_id="my-box")
    sdk.poll_interval_s = 0.05
    return sdk


@pytest.mark.parametrize("check", list(CHECKS))
def test_brev_sdk_conforms(check: str, tmp_path: Path, brev: Path) -> None:
    CHECKS[check](Conformance(_sdk, tmp_path / "scratch", timeout_s=30, poll_s=0.1))


def test_a_new_instance_is_created_with_the_gpu_type_and_logged_in_once(brev: Path) -> None:
    sdk = BrevSDK(gpu_type="n1-highmem-4:nvidia-tesla-t4:1")
    job = sdk.create_job(None, "echo on a new box", gpu_count=1, job_name="rec-7")
    instance = job.id.split("/")[0]
    calls = _calls(brev)
    assert calls[0] == ["login", "--token", TOKEN]
    assert calls[1] == ["create", "--name", instance, "--type", "n1-highmem-4:nvidia-tesla-t4:1"]
    assert calls[2][:2] == ["exec", instance] and sum(c[0] == "login" for c in calls) == 1
    assert TOKEN not in json.dumps(sdk.init_options)
    assert Conformance(lambda: sdk, brev / "s").wait(sdk, job.id)[-1] is JobStatus.SUCCESS


def test_missing_cli_token_and_bad_inputs_are_clear_errors(brev: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserInputError, match="num_nodes=2 is not supported by Brev"):
        _sdk().create_job(None, "true", num_nodes=2)
    with pytest.raises(UserInputError, match="instance_id must be a Brev id"):
        _sdk().create_job(None, "true", instance_id="a b; rm -rf /")
    monkeypatch.setenv("FAKE_BREV_TOKEN", "another")
    with pytest.raises(PlatformError, match="login") as info:
        _sdk().create_job(None, "true")
    assert TOKEN not in str(info.value)
    monkeypatch.delenv("BREV_API_TOKEN")
    with pytest.raises(UserInputError, match="BREV_API_TOKEN is not set") as missing:
        make_sdk("brev")
    assert missing.value.field == "BREV_API_TOKEN" and "export BREV_API_TOKEN" in (missing.value.hint or "")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserInputError, match=r"brev CLI .* is not on PATH: install it") as no_cli:
        BrevSDK()
    assert no_cli.value.field == "platform_options.brev_cli" and no_cli.value.value == "brev"


def test_preflight_logs_in_and_reaches_the_instance(brev: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary. A refused token failed preflight as field `platform_reachable` with the
    CLI's words only; now its error names BREV_API_TOKEN (never its value), and so does every call after a refused
    login."""
    reach, instance, image = _sdk().preflight("repo/img:1")
    assert reach.ok is True and instance.ok is True and instance.detail == "instance my-box answers brev exec"
    assert image.ok is None and "not checked" in image.detail
    [_, gone] = BrevSDK(instance_id="no-such-box").preflight(None)
    assert gone.ok is False and "no-such-box" in gone.detail
    monkeypatch.setenv("FAKE_BREV_TOKEN", "another")
    [check] = _sdk().preflight(None)
    assert check.ok is False and "login" in check.detail and TOKEN not in check.detail
    assert check.unreachable is False  # Brev answered and refused the token
    assert check.error is not None and check.error.to_json()["field"] == "BREV_API_TOKEN"
    assert check.error.to_json()["value"] is None and "Brev refused BREV_API_TOKEN" in check.detail
    with pytest.raises(PlatformError, match="Brev refused BREV_API_TOKEN"):
        _sdk().get_job_status("my-box/k1")
    monkeypatch.setenv("FAKE_BREV_OFFLINE", "1")
    [check] = _sdk().preflight(None)
    assert check.ok is False and check.unreachable is True and "no such host" in check.detail


def test_a_pasted_token_with_a_newline_logs_in_and_never_shows(brev: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary (the fake CLI, refusing a token, echoes what it was given). A
    BREV_API_TOKEN pasted with its trailing newline was passed as is (login refused) and the error's masking looked
    for the value with its newline, which the stripped message no longer had: preflight showed the token. Now the
    token is used without surrounding whitespace and masked as used."""
    monkeypatch.setenv("BREV_API_TOKEN", f"{TOKEN}\n")
    reach = _sdk().preflight(None)[0]
    assert reach.ok is True and TOKEN not in reach.detail, reach.detail
    assert ["login", "--token", TOKEN] in _calls(brev)
    monkeypatch.setenv("FAKE_BREV_TOKEN", "another")
    [check] = _sdk().preflight(None)
    assert check.ok is False and TOKEN not in check.detail and "Brev refused BREV_API_TOKEN" in check.detail


def test_an_image_docker_cannot_parse_is_refused_naming_the_field_before_an_instance_is_made(brev: Path) -> None:
    """Transport faked at the CLI boundary. An image such as ``nvcr.io/Nvidia/TAO:5 0`` passed preflight ("not
    checked") and create_job created a GPU instance for the job and started it, only for `docker run` to fail there
    ("invalid reference format", exit 125), rec after rec. Now preflight fails the image check and create_job refuses
    it naming field ``image``, the value and what is allowed, before any brev call."""
    bad = "nvcr.io/Nvidia/TAO:5 0"
    checks = BrevSDK().preflight(bad)
    [image] = [c for c in checks if c.check == "image"]
    assert image.ok is False and image.error is not None
    error = image.error.to_json()
    assert (error["field"], error["value"]) == ("image", bad) and "image reference" in error["allowed"]
    before = _calls(brev)
    with pytest.raises(UserInputError, match=r"image: .* is not a valid image reference") as info:
        BrevSDK(gpu_type="t4").create_job(bad, "true", gpu_count=1, job_name="rec-1")
    assert info.value.field == "image" and _calls(brev) == before  # no instance made, nothing started
    [ok] = [c for c in BrevSDK().preflight("nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt") if c.check == "image"]
    assert ok.ok is None  # valid: left to the pull on the instance


@pytest.mark.parametrize("key", ["cloud_cred_id", "workspace_group_id"])
def test_options_the_brev_cli_cannot_take_are_refused_with_the_reason(brev: Path, key: str) -> None:
    with pytest.raises(UserInputError, match=rf"^{key}='x-1' cannot be passed to the brev CLI: `brev create` takes"):
        BrevSDK(**{key: "x-1"})
    with pytest.raises(UserInputError, match=rf"^{key}='x-1' cannot be passed"):
        _sdk().create_job(None, "true", **{key: "x-1"})
    assert not (brev / "calls.jsonl").exists()  # refused before any brev call


def test_preflight_refuses_a_gpu_type_create_job_would_refuse(brev: Path) -> None:
    """`platform_kwargs.gpu_type: "bad type!"` passed preflight ("2 valid"); create_job refused it with field null."""
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    with pytest.raises(UserInputError) as caught:
        checked_job_kwargs(BrevSDK(), {"gpu_count": 1, "gpu_type": "bad type!"})
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == ("platform_kwargs.gpu_type", "bad type!")
    assert error["allowed"].startswith("a Brev id or name")
    assert checked_job_kwargs(BrevSDK(), {"gpu_count": 1, "gpu_type": "n1-highmem-4:nvidia-tesla-t4:1"})


def test_a_name_ending_in_a_newline_is_refused_like_any_bad_name(brev: Path) -> None:
    """The env-name, gpu_type and registry-host checks ended in ``$``, which also matches before a last newline:
    ``env_vars={"A\\n": ...}``, ``gpu_type="t4\\n"`` and an image ``host\\n/repo`` passed them, to break the job's
    script or the instance's pull. Each is refused, naming its field, before any brev call."""
    from tao_automl.platforms.image_reference import reference_problem

    with pytest.raises(UserInputError, match="env_vars key 'A\\\\n' is not a valid") as env:
        _sdk().create_job(None, "true", gpu_count=0, env_vars={"A\n": "1"})
    assert env.value.field == "env_vars"
    with pytest.raises(UserInputError, match="gpu_type must be a Brev id or name") as gpu:
        BrevSDK().validate_job(1, {"gpu_type": "t4\n"})
    assert gpu.value.field == "gpu_type"
    assert reference_problem("registry.example.com\n/nvidia/tao:5") is not None
    assert reference_problem("registry.example.com:5000/nvidia/tao:5") is None
    assert not (brev / "calls.jsonl").exists()


def test_a_job_that_ended_by_itself_just_before_the_cancel_keeps_its_success(brev: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary: the cancel's ``brev exec`` reaches the instance only once the job, seen
    running by the cancel's first look, has ended by itself with exit 0. It ended CANCELLED and cancel_job answered
    True (the cancel mark was read before the exit code), so a stopping rule's cancel lost the job's own result."""
    monkeypatch.setenv("FAKE_BREV_LATE_CANCEL", "1")
    sdk = _sdk()
    job = sdk.create_job(None, "sleep 1; echo finished", gpu_count=0, job_name="late-cancel")
    assert sdk.get_job_status(job.id) is JobStatus.RUNNING
    assert sdk.cancel_job(job.id) is False
    assert sdk.get_job_status(job.id) is JobStatus.SUCCESS
    assert _sdk().get_job_status(job.id) is JobStatus.SUCCESS  # a fresh process (resume) reads the same
    assert sdk.get_failure_analysis(job.id) is None


def test_a_cancelled_job_writes_nothing_after_the_cancel_answers(brev: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary; the job ignores SIGTERM and writes a line every 0.1 s: once cancel_job
    answers True nothing more is written (SIGKILL after the grace period, and the cancel waits for the processes)."""
    sdk = _sdk()
    job = sdk.create_job(None, "trap '' TERM; while true; do echo tick >> ticks.txt; sleep 0.1; done", gpu_count=0,
                         job_name="stubborn", working_dir=".")
    ticks = brev / "homes" / "my-box" / "ticks.txt"
    deadline = time.time() + 10
    while not ticks.exists() and time.time() < deadline:
        time.sleep(0.05)
    monkeypatch.setattr(remote, "CANCEL_GRACE_S", 1)
    assert sdk.cancel_job(job.id) is True
    size = ticks.stat().st_size
    time.sleep(0.5)
    assert ticks.stat().st_size == size
    assert sdk.get_job_status(job.id) is JobStatus.CANCELLED


def test_cancelling_a_job_with_an_image_stops_its_container(brev: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary, plus a fake ``docker`` on the instance whose containers, like real ones,
    outlive a killed ``docker run`` client and ignore SIGTERM (bash as PID 1). The cancel killed only the process
    group of the job's wrapper, so the container kept training and writing after cancel_job answered True."""
    docker = brev / "instance-bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)
    monkeypatch.setattr(remote, "CANCEL_GRACE_S", 1)
    sdk = _sdk()
    job = sdk.create_job("repo/img:1", "while true; do echo tick >> ticks.txt; sleep 0.1; done", gpu_count=1,
                         job_name="boxed", working_dir=".")
    ticks = brev / "homes" / "my-box" / "ticks.txt"
    deadline = time.time() + 10
    while not ticks.exists() and time.time() < deadline:
        time.sleep(0.05)
    try:
        assert sdk.cancel_job(job.id) is True
        size = ticks.stat().st_size
        time.sleep(0.5)
        assert ticks.stat().st_size == size, "the job's container still writes after the cancel"
        assert sdk.get_job_status(job.id) is JobStatus.CANCELLED
    finally:
        for box in (brev / "containers").glob("*"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(box.read_text()), signal.SIGKILL)


def test_a_job_whose_image_is_pulled_is_pending_until_it_runs(brev: Path) -> None:
    """`docker run` pulled a missing image inside the job, which read RUNNING from its start: a TAO image's pull (many
    GB, minutes) counted against automl_job_timeout_s as if it trained. The wrapper pulls first, and the job is
    PENDING meanwhile."""
    docker = brev / "instance-bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)
    (brev / "no-images").touch()
    sdk = _sdk()
    job = sdk.create_job("repo/img:1", "echo trained > trained.txt", gpu_count=0, job_name="pulled", working_dir=".")
    argv = brev / "containers" / "argv.jsonl"
    try:
        deadline = time.time() + 10
        while not (argv.exists() and '"pull"' in argv.read_text()):  # the pull has begun
            assert time.time() < deadline, "the image was never pulled"
            time.sleep(0.05)
        assert sdk.get_job_status(job.id) is JobStatus.PENDING
        assert not (brev / "homes" / "my-box" / "trained.txt").exists()
    finally:
        (brev / "pull-done").touch()
    _ended(sdk, job.id, brev)
    assert "pulled repo/img:1" in (sdk.get_job_logs(job.id) or "")
    assert [json.loads(line)[0] for line in argv.read_text().splitlines()] == ["image", "pull", "run"]


def test_a_failed_pull_fails_the_job_with_its_exit_code_and_error(brev: Path) -> None:
    """A pull the registry refuses ends the job, before its command runs, with the pull's exit code and its error in
    the job's log."""
    docker = brev / "instance-bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)
    (brev / "no-images").touch()
    (brev / "pull-fails").touch()
    sdk = _sdk()
    image = "registry.example:5000/team/img:1.0-rc_2"
    job = sdk.create_job(image, "echo trained > trained.txt", gpu_count=0, job_name="refused", working_dir=".")
    statuses = Conformance(lambda: sdk, brev / "s").wait(sdk, job.id)
    assert statuses[-1] is JobStatus.FAILURE
    assert sdk.get_job_info(job.id).get("exit_code") == 18
    assert "pull access denied for " + image in (sdk.get_job_logs(job.id) or "")
    calls = [json.loads(line) for line in (brev / "containers" / "argv.jsonl").read_text().splitlines()]
    assert [c[0] for c in calls] == ["image", "pull"] and calls[1][-1] == image
    assert not (brev / "homes" / "my-box" / "trained.txt").exists()


def test_status_json_is_read_from_the_results_dir_the_job_was_given(brev: Path) -> None:
    """Transport faked at the CLI boundary. The runner gives every job ``outputs["results_dir"]``; the job writes its
    status.json there, but read_job_file read ``<job dir>/results`` only, so a sweep never saw a Brev job's
    status.json (its metrics came from the logs at best). Also from a fresh process (a resumed sweep)."""
    sdk = _sdk()
    job = sdk.create_job(None, 'echo \'{"epoch": 1, "kpi": {"loss": 0.5}}\' > "$TAO_AUTOML_RESULTS_DIR/status.json"',
                         gpu_count=0, outputs={"results_dir": "runs/rec-1/results"}, job_name="rec-1",
                         working_dir=".")
    assert Conformance(lambda: sdk, brev / "s").wait(sdk, job.id)[-1] is JobStatus.SUCCESS
    assert json.loads(_sdk().read_job_file(job.id, "status.json") or "null") == {"epoch": 1, "kpi": {"loss": 0.5}}
    assert _sdk().read_job_file(job.id, "missing.json") is None
    with pytest.raises(UserInputError, match="outside the job's results dir"):
        sdk.read_job_file(job.id, "../../../etc/passwd")


def _ended(sdk: BrevSDK, job_id: str, root: Path) -> None:
    assert Conformance(lambda: sdk, root / "s").wait(sdk, job_id)[-1] is JobStatus.SUCCESS


def test_release_deletes_the_instance_made_for_the_job_and_keeps_its_log(brev: Path, tmp_path: Path) -> None:
    """Transport faked at the CLI boundary (``brev delete`` removes the fake instance's home; one already gone answers
    "not found" as the real CLI does). Nothing deleted the instance ``create_job`` made for a job, so a sweep left one
    GPU instance running per rec. Now release_job saves the job's log under the state dir, then deletes the instance;
    the log is still served (also by a fresh SDK) and a second release is done at once."""
    sdk = BrevSDK(gpu_type="n1-highmem-4:nvidia-tesla-t4:1", state_dir=str(tmp_path / "state"))
    job = sdk.create_job(None, "echo trained on a new box", gpu_count=1, job_name="rec-3")
    instance, key = job.id.split("/")
    _ended(sdk, job.id, brev)
    assert sdk.release_job(job.id) == f"instance {instance} deleted"
    assert ["delete", instance] in _calls(brev) and not (brev / "homes" / instance).exists()
    kept = tmp_path / "state" / "logs" / instance / f"{key}.log"
    assert kept.read_text() == "trained on a new box\n"
    fresh = BrevSDK(state_dir=str(tmp_path / "state"))
    assert fresh.get_job_logs(job.id) == "trained on a new box\n" and fresh.get_job_logs(job.id, tail=0) == ""
    assert fresh.release_job(job.id) == f"instance {instance} deleted"  # already gone: done


def test_a_job_that_ended_while_no_orchestrator_ran_keeps_its_own_end_time(brev: Path, tmp_path: Path) -> None:
    """Transport faked at the CLI boundary. A sweep interrupted while its rec's job ran on the instance, resumed
    after the job had ended: the rec's ``finished_at`` and ``wall_time_s`` were the resume's first look (README:
    "when its job ended as the platform recorded it ... also for a job that ended while no orchestrator ran"). Now
    they are when the job's exit code was written on the instance."""
    from conftest import write_skill
    from tao_automl.errors import SweepInterrupted
    from tao_automl.runner.loop import AutoMLRunner

    def interrupt(rec: object) -> None:
        raise KeyboardInterrupt

    docker = brev / "instance-bin" / "docker"  # the skill's image runs in a fake docker on the instance
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)
    skill = write_skill(tmp_path / "bank")
    settings = {"metric": "val_loss", "automl_max_recommendations": 1, "seed": 1, "algorithm": "random",
                "poll_interval_s": 0.1}
    runner = AutoMLRunner(_sdk(), skill, log_progress=False)
    with pytest.raises(SweepInterrupted):
        runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0, on_recommendation=interrupt)
    jobs = brev / "homes" / "my-box" / ".tao-automl" / "brev-jobs"
    deadline = time.time() + 20
    while not list(jobs.glob("*/exit_code")) and time.time() < deadline:
        time.sleep(0.05)
    [exit_file] = list(jobs.glob("*/exit_code"))
    time.sleep(3)  # the orchestrator is away while the job has ended
    result = AutoMLRunner(_sdk(), skill, log_progress=False).run(
        automl_settings=settings, workspace_path=runner.run_dir, resume=True, gpu_count=0)
    [rec] = result["history"]
    assert rec["status"] == "success"
    ended = exit_file.stat().st_mtime
    assert abs(rec["finished_at"] - ended) < 1.5, (rec["finished_at"], ended)
    assert rec["wall_time_s"] < 3, rec["wall_time_s"]


def test_release_leaves_a_given_instance_alone(brev: Path, tmp_path: Path) -> None:
    """Transport faked at the CLI boundary: the user's own ``instance_id`` is never deleted."""
    sdk = BrevSDK(instance_id="my-box", state_dir=str(tmp_path / "state"))
    job = sdk.create_job(None, "echo mine", gpu_count=0, job_name="rec-1")
    _ended(sdk, job.id, brev)
    assert sdk.release_job(job.id) is None
    assert not any(c[0] == "delete" for c in _calls(brev)) and (brev / "homes" / "my-box").is_dir()


def test_a_failed_delete_names_the_instance_and_the_command_to_run(brev: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary; ``brev delete`` fails: the error names the instance and the command."""
    sdk = BrevSDK(state_dir=str(tmp_path / "state"))
    job = sdk.create_job(None, "echo hi", gpu_count=0, job_name="rec-2")
    instance = job.id.split("/")[0]
    _ended(sdk, job.id, brev)
    monkeypatch.setenv("FAKE_BREV_DELETE_FAILS", "1")
    with pytest.raises(PlatformError, match=rf"instance {instance} .*`brev delete {instance}`"):
        sdk.release_job(job.id)
    assert (brev / "homes" / instance).is_dir()


def test_an_unreachable_brev_api_is_not_taken_for_an_instance_that_is_gone(brev: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary: Brev's API cannot be looked up (``dial tcp: lookup ...: no such host``,
    as the brev CLI says it). The "no such" of that DNS error read as "instance not found": a re-attaching process's
    find_job answered None (no job: the runner would submit it again) and release_job answered "instance ... deleted"
    with nothing deleted and its log not kept. Now both raise a transient error and the instance is left alone."""
    sdk = BrevSDK(state_dir=str(tmp_path / "state"))
    job = sdk.create_job(None, "echo hi", gpu_count=0, job_name="rec-2")
    instance = job.id.split("/")[0]
    _ended(sdk, job.id, brev)
    monkeypatch.setenv("FAKE_BREV_OFFLINE", "1")
    fresh = BrevSDK(state_dir=str(tmp_path / "state"))  # a new process: it logs in first
    with pytest.raises(TransientPlatformError, match="no such host"):
        fresh.find_job("rec-2")
    with pytest.raises(PlatformError, match=rf"instance {instance} was not deleted .*`brev delete {instance}`"):
        fresh.release_job(job.id)
    assert not any(c[0] == "delete" for c in _calls(brev)) and (brev / "homes" / instance).is_dir()
    assert not (tmp_path / "state" / "logs").exists()
    monkeypatch.delenv("FAKE_BREV_OFFLINE")
    assert fresh.find_job("rec-2") == job.id and fresh.release_job(job.id) == f"instance {instance} deleted"


def test_a_sweep_deletes_each_instance_it_made_and_logs_still_show_their_output(
        brev: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary; a real AutoMLRunner sweep on BrevSDK with no instance_id (one instance per
    rec). Every instance it created stayed up after the sweep; now each is deleted once its rec is recorded, its log is
    kept in the run folder, and `tao-automl logs` shows it (from the SDK, and from the run folder alone)."""
    from conftest import write_skill
    from tao_automl.cli.main import main as cli_main
    from tao_automl.runner.loop import AutoMLRunner

    docker = brev / "instance-bin" / "docker"  # the skill's image runs in a fake docker on the instance
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)
    skill = write_skill(tmp_path / "bank")
    runner = AutoMLRunner(BrevSDK(gpu_type="t4"), skill, log_progress=False)
    result = runner.run(automl_settings={"metric": "val_loss", "automl_max_recommendations": 2, "seed": 1,
                                         "automl_max_concurrent": 2, "algorithm": "random", "poll_interval_s": 0.1},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert [h["status"] for h in result["history"]] == ["success", "success"]
    created = sorted(c[2] for c in _calls(brev) if c[0] == "create")
    assert len(created) == 2 and sorted(c[1] for c in _calls(brev) if c[0] == "delete") == created
    assert not any((brev / "homes" / name).exists() for name in created)
    run_dir = Path(result["run_dir"])
    kept = sorted((run_dir / "jobs" / "logs").rglob("*.log"))  # README: kept in the run folder (`jobs/logs/`)
    assert sorted(p.parent.name for p in kept) == created, kept
    value = result["history"][0]["metric_value"]
    for token in (TOKEN, None):  # None: the CLI cannot rebuild the SDK; the log kept in the run folder is read
        if token is None:
            monkeypatch.delenv("BREV_API_TOKEN")
        assert cli_main(["logs", str(run_dir), str(result["history"][0]["rec_id"])]) == 0
        assert f"val_loss: {value}" in capsys.readouterr().out


def test_stop_cancel_jobs_deletes_the_instances_of_the_jobs_it_cancels(brev: Path, tmp_path: Path) -> None:
    """Transport faked at the CLI boundary; a sweep interrupted with its rec's job running on the instance made for
    it, then `tao-automl stop --cancel-jobs` (stop_run, which rebuilds BrevSDK from the run folder): the job was
    cancelled and its instance kept running; now the instance is deleted and the job's log kept in the run."""
    from conftest import write_skill
    from tao_automl.errors import SweepInterrupted
    from tao_automl.experiment.store import RunStore
    from tao_automl.runner.detach import stop_run
    from tao_automl.runner.loop import AutoMLRunner

    docker = brev / "instance-bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)

    def interrupt(rec: object) -> None:
        raise KeyboardInterrupt

    runner = AutoMLRunner(BrevSDK(), write_skill(tmp_path / "bank"), log_progress=False)
    with pytest.raises(SweepInterrupted):
        runner.run(automl_settings={"metric": "val_loss", "automl_max_recommendations": 2, "seed": 1,
                                    "automl_max_concurrent": 1, "algorithm": "random", "poll_interval_s": 0.1},
                   spec_overrides={"train.sleep": 60}, workspace_path=tmp_path / "ws", gpu_count=0,
                   on_recommendation=interrupt)
    assert runner.run_dir is not None
    [instance] = [c[2] for c in _calls(brev) if c[0] == "create"]
    try:
        answer = stop_run(runner.run_dir, cancel_jobs=True)
        assert len(answer["cancelled_jobs"]) == 1
        assert ["delete", instance] in _calls(brev) and not (brev / "homes" / instance).exists()
        assert len(list((runner.run_dir / "jobs" / "logs" / instance).glob("*.log"))) == 1
        store = RunStore(runner.run_dir, readonly=True)
        assert [e["payload"]["job_id"] for e in store.events("released")] == answer["cancelled_jobs"]
        store.close()
    finally:
        for box in (brev / "containers").glob("*"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(box.read_text()), signal.SIGKILL)


def test_the_job_writes_its_spec_file_and_results_dir_before_its_command_runs(brev: Path, tmp_path: Path) -> None:
    """Transport faked at the CLI boundary. The runner's job command reads the spec file the orchestrator rendered on
    its own disk, and nothing brought it to the instance, so every job on a real instance failed to read its spec. Now
    ``spec_file`` (path and text) travels base64-encoded in the launch and is written at that path (its folder made)
    before the command runs; a container gets the spec's and the results' folders mounted at the same paths."""
    sdk = _sdk()
    job, spec, text = start_with_spec_file(sdk, tmp_path)
    results = spec.parent / "results"
    _ended(sdk, job.id, brev)
    assert sdk.get_job_logs(job.id) == text + "results-ready\n" and spec.read_text() == text
    docker = brev / "instance-bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)
    boxed = sdk.create_job("repo/img:1", f"cat {spec}", gpu_count=0, outputs={"results_dir": str(results)},
                           job_name="rec-2", spec_file={"path": str(spec), "text": text})
    _ended(sdk, boxed.id, brev)
    [run] = [call for call in map(json.loads, (brev / "containers" / "argv.jsonl").read_text().splitlines())
             if call[0] == "run"]  # after the wrapper's `docker image inspect`
    volumes = [run[i + 1] for i, arg in enumerate(run) if arg == "-v"]
    assert f"{spec.parent}:{spec.parent}" in volumes and f"{results}:{results}" in volumes


def test_a_spec_file_too_big_for_a_command_line_is_refused_naming_its_size(brev: Path, tmp_path: Path) -> None:
    """Transport faked at the CLI boundary: refused before any brev call, naming the field, the size and the limit."""
    with pytest.raises(UserInputError, match=r"spec_file: the rendered spec /x/spec.yaml is 200000 bytes") as info:
        _sdk().create_job(None, "true", spec_file={"path": "/x/spec.yaml", "text": "a" * 200_000})
    assert info.value.field == "spec_file" and "at most" in str(info.value.allowed)
    with pytest.raises(UserInputError, match=r"spec_file must be"):
        _sdk().create_job(None, "true", spec_file="/x/spec.yaml")
    assert not (brev / "calls.jsonl").exists()


def test_a_spec_file_of_the_size_the_readme_allows_reaches_the_job_and_one_byte_more_is_refused(
        brev: Path, tmp_path: Path) -> None:
    """Transport faked at the CLI boundary. README: each Brev/Lepton job carries its rendered spec "at most 48 KiB; a
    bigger one is refused naming its size". A spec of exactly that size is written where the job reads it; one byte
    more is refused before any brev call, naming its size."""
    kib, = readme_says(r"each job carries its rendered spec \(base64 in its command line, at most (\d+) KiB; a "
                       r"bigger one is refused naming its size\)")
    most = int(kib) * 1024
    sdk, spec = _sdk(), tmp_path / "run" / "rec_1" / "train_spec.yaml"
    text = ("lr: 0.1 # ." + "x" * 69 + "\n") * (most // 81) + "#" * (most % 81)
    job = sdk.create_job(None, f"wc -c < {spec}", gpu_count=0, job_name="rec-1",
                         spec_file={"path": str(spec), "text": text})
    _ended(sdk, job.id, brev)
    assert len(text) == most and spec.read_text() == text and sdk.get_job_logs(job.id).strip() == str(most)
    calls = (brev / "calls.jsonl").read_text()
    with pytest.raises(UserInputError, match=rf"spec_file: the rendered spec /x/s.yaml is {most + 1} bytes"):
        sdk.create_job(None, "true", gpu_count=0, spec_file={"path": "/x/s.yaml", "text": text + "#"})
    assert (brev / "calls.jsonl").read_text() == calls


def test_an_instance_made_for_a_job_that_did_not_start_is_deleted(brev: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport faked at the CLI boundary; ``brev exec`` of the job's start fails after ``brev create`` made its
    instance. The submission failed, so the rec had no job id and nothing ever released that instance: it ran on,
    unused. It is deleted (the job did not start on it); the error still reaches the caller."""
    sdk = BrevSDK(state_dir=str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_BREV_START_FAILS", "1")
    with pytest.raises(PlatformError, match="Connection refused"):
        sdk.create_job(None, "echo never", gpu_count=0, job_name="rec-4")
    made = [c[c.index("--name") + 1] for c in _calls(brev) if c[0] == "create"]
    assert len(made) == 1 and ["delete", made[0]] in _calls(brev) and not (brev / "homes" / made[0]).exists()
    monkeypatch.delenv("FAKE_BREV_START_FAILS")  # a given instance_id is never deleted, even then
    sdk = BrevSDK(instance_id="my-box", state_dir=str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_BREV_START_FAILS", "1")
    with pytest.raises(PlatformError):
        sdk.create_job(None, "echo never", gpu_count=0, job_name="rec-5")
    assert ["delete", "my-box"] not in _calls(brev) and (brev / "homes" / "my-box").is_dir()

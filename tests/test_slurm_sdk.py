"""SlurmSDK: unit tests with a fake CLI, then a real single-node Slurm (started by ci/slurm_up.sh)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import readme_says, write_skill
from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.registry import make_sdk
from tao_automl.platforms.retry import Retrying, TransientPlatformError
from tao_automl.platforms.slurm.script import JobOptions, batch_script
from tao_automl.platforms.slurm.sdk import SlurmSDK
from tao_automl.platforms.slurm.shell import Result, Shell
from tao_automl.platforms.slurm.state import parse_scontrol, to_status
from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing import Conformance, run_all

REPO = Path(__file__).resolve().parents[1]

TIMEOUT_LINE = (
    "JobId=41 JobName=rec-3 UserId=root(0) GroupId=root(0) JobState=TIMEOUT Reason=TimeLimit "
    "Dependency=(null) ExitCode=0:15 RunTime=00:01:02 TimeLimit=00:01:00 NodeList=node7 BatchHost=node7 "
    "AllocNode:Sid=login:12 CPUs/Task=1 TRES=cpu=1,mem=256M,node=1 Command=/jobs/rec-3/job.sbatch "
    "WorkDir=/jobs/rec-3 StdOut=/jobs/rec-3/output.log Power="
)


class FakeShell(Shell):
    """Answers Slurm commands from a function instead of running them."""

    def __init__(self, answer: Callable[[list[str]], Result]) -> None:
        super().__init__()
        self.answer = answer
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], stdin: str | None = None, check: bool = True,
            epoch_times: bool = True) -> Result:
        self.calls.append(list(argv))
        result = self.answer(list(argv))
        if check and result.returncode != 0:
            raise self.error(argv, result)
        return result

    def read_text(self, path: str, tail: int | None = None) -> str | None:
        return "epoch 1\nTraining...\n" if path.endswith("output.log") else None


def _fake_sdk(tmp_path: Path, answer: Callable[[list[str]], Result]) -> SlurmSDK:
    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir="/jobs")
    sdk.shell = FakeShell(answer)
    return sdk


def _adopt(sdk: SlurmSDK, job_id: str, submitted_at: float) -> None:
    sdk.records.save({"id": job_id, "name": "rec-3", "key": None, "job_dir": "/jobs/rec-3",
               "log_path": "/jobs/rec-3/output.log", "results_dir": "/jobs/rec-3/results",
               "state": "pending", "submitted_at": submitted_at})


# ------------------------------------------------------------------ unit tests (no Slurm needed)
@pytest.mark.parametrize(("state", "status"), [
    ("PENDING", JobStatus.PENDING), ("CONFIGURING", JobStatus.PENDING), ("REQUEUED", JobStatus.PENDING),
    ("RUNNING", JobStatus.RUNNING), ("COMPLETING", JobStatus.RUNNING), ("COMPLETED", JobStatus.SUCCESS),
    ("FAILED", JobStatus.FAILURE), ("TIMEOUT", JobStatus.FAILURE), ("NODE_FAIL", JobStatus.FAILURE),
    ("OUT_OF_MEMORY", JobStatus.FAILURE), ("OUT_OF_ME+", JobStatus.FAILURE), ("PREEMPTED", JobStatus.FAILURE),
    ("CANCELLED by 0", JobStatus.CANCELLED), ("CANCELLED", JobStatus.CANCELLED),
])
def test_slurm_states_map_to_job_status(state: str, status: JobStatus) -> None:
    assert to_status(state) is status


def test_over_ssh_job_folders_go_where_the_readme_says_on_the_cluster(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """README: over ssh Slurm jobs' folders "go to `$HOME/.tao-automl/slurm-jobs` on the cluster unless `jobs_dir`
    says otherwise" (a run does not move them into its own folder, which the cluster does not see); on this machine
    a run keeps them (``jobs_share_run_folder``)."""
    where, = readme_says(r"while over ssh they go to `(\$HOME/[\w./-]+)` on the cluster unless `jobs_dir` says")
    remote = SlurmSDK(hostname="login", state_dir=tmp_path / "state")
    remote.shell = FakeShell(lambda argv: Result(0, "/home/ann\n", "") if argv[:2] == ["sh", "-c"] else
                             Result(1, "", "unexpected"))
    remote.shell.hostname = "login"
    assert remote.jobs_dir == where.replace("$HOME", "/home/ann") and remote.jobs_share_run_folder is False
    chosen = SlurmSDK(hostname="login", state_dir=tmp_path / "state", jobs_dir="/scratch/jobs")
    assert chosen.jobs_dir == "/scratch/jobs" and chosen.jobs_share_run_folder is False
    # a relative or ~/ jobs_dir was kept as written: a job folder '~/jobs/<key>' in the folder the orchestrator ran
    # from (here, or in the login node's home over ssh), which a resume started elsewhere looked for elsewhere
    for given, remote_dir in (("~/tao-jobs", "/home/ann/tao-jobs"), ("rel/jobs", "/home/ann/rel/jobs")):
        over_ssh = SlurmSDK(hostname="login", state_dir=tmp_path / "state", jobs_dir=given)
        over_ssh.shell = remote.shell
        assert over_ssh.jobs_dir == remote_dir
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert SlurmSDK(state_dir=tmp_path / "state", jobs_dir="~/tao-jobs").jobs_dir == str(home / "tao-jobs")
    here = SlurmSDK(state_dir=tmp_path / "state", jobs_dir="rel/jobs")
    assert here.jobs_dir == here.init_options["jobs_dir"] == str(tmp_path / "rel" / "jobs")
    assert SlurmSDK(state_dir=tmp_path / "state").jobs_share_run_folder is True


def test_local_job_folders_beside_a_relative_state_dir_stay_in_this_folder(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """On this machine the default jobs dir is ``<state_dir>/jobdirs``, where the records are: a relative state_dir
    (or ``state_file``) put them under $HOME instead, as a relative jobs_dir over ssh is."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for sdk in (SlurmSDK(state_dir="rel-state"), SlurmSDK(state_file="rel-state/slurm.json")):
        assert sdk.jobs_dir == str(tmp_path / "rel-state" / "jobdirs")
        assert sdk.init_options["jobs_dir"] is None or sdk.init_options["jobs_dir"] == sdk.jobs_dir


def test_timeout_from_scontrol_is_a_failure_explained_by_the_time_limit(tmp_path: Path) -> None:
    """TIMEOUT mapping through a FAKE scontrol answer (a real timeout needs >= 1 min of wall time)."""
    fields = parse_scontrol(TIMEOUT_LINE)
    assert fields["JobState"] == "TIMEOUT" and fields["AllocNode:Sid"] == "login:12"
    sdk = _fake_sdk(tmp_path, lambda argv: Result(0, TIMEOUT_LINE, ""))
    _adopt(sdk, "41", time.time())
    assert sdk.get_job_status("41") is JobStatus.FAILURE
    analysis = sdk.get_failure_analysis("41")
    assert analysis is not None
    assert analysis["slurm_state"] == "TIMEOUT" and analysis["reason"] == "TimeLimit"
    assert analysis["node"] == "node7" and analysis["signal"] == 15
    assert "time limit" in analysis["message"] and "node7" in analysis["message"]
    # an audit's rec said only "it reached its time limit": which limit, and what to change, were left to guess
    assert "its time limit (00:01:00)" in analysis["message"]
    assert "raise time_limit (platform_kwargs.time_limit" in analysis["message"]
    # the final state is persisted: a new SDK answers without asking Slurm again
    again = _fake_sdk(tmp_path, lambda argv: Result(1, "", "slurm_load_jobs error: Invalid job id specified"))
    assert again.get_job_status("41") is JobStatus.FAILURE
    assert again.shell.calls == []  # type: ignore[attr-defined]


def test_out_of_memory_names_the_jobs_memory_and_says_to_raise_mem(tmp_path: Path) -> None:
    """OUT_OF_MEMORY through a FAKE scontrol answer (this CI Slurm has no cgroups: it never kills a job for memory).
    The rec said only "it ran out of memory (the OOM killer stopped it)": not which limit, nor what to change."""
    line = TIMEOUT_LINE.replace("JobState=TIMEOUT Reason=TimeLimit", "JobState=OUT_OF_MEMORY Reason=OutOfMemory") \
        .replace("ExitCode=0:15", "ExitCode=0:125").replace("CPUs/Task=1", "CPUs/Task=1 MinMemoryNode=256M")
    sdk = _fake_sdk(tmp_path, lambda argv: Result(0, line, ""))
    _adopt(sdk, "41", time.time())
    assert sdk.get_job_status("41") is JobStatus.FAILURE
    message = (sdk.get_failure_analysis("41") or {})["message"]
    assert "ended OUT_OF_MEMORY on node node7: it used more memory than it was given (256M per node)" in message, \
        message
    assert "raise mem (platform_kwargs.mem" in message


def test_a_timeout_read_from_the_jobcomp_record_names_the_limit_in_minutes(tmp_path: Path) -> None:
    """Slurm forgot the job (MinJobAge): its jobcomp line (``sacct -c``) gives the limit in minutes."""
    def answer(argv: list[str]) -> Result:
        if argv[0] == "scontrol":
            return Result(1, "", "slurm_load_jobs error: Invalid job id specified")
        if "-c" in argv:
            return Result(0, "41|TIMEOUT|0:0|node7|1796452550|90\n", "")
        return Result(1, "", "Slurm accounting storage is disabled")

    sdk = _fake_sdk(tmp_path, answer)
    _adopt(sdk, "41", time.time() - 3600)
    assert sdk.get_job_status("41") is JobStatus.FAILURE
    message = (sdk.get_failure_analysis("41") or {})["message"]
    assert "ended TIMEOUT on node node7: it reached its time limit (90 min)" in message
    assert "raise time_limit" in message


def test_a_job_slurm_forgot_without_accounting_fails_after_the_grace_period(tmp_path: Path) -> None:
    def answer(argv: list[str]) -> Result:
        if argv[0] == "scontrol":
            return Result(1, "", "slurm_load_jobs error: Invalid job id specified")
        return Result(1, "", "Slurm accounting storage is disabled")

    sdk = _fake_sdk(tmp_path, answer)
    _adopt(sdk, "7", time.time())
    assert sdk.get_job_status("7") is JobStatus.PENDING  # just submitted: controller lag
    _adopt(sdk, "8", time.time() - 3600)
    assert sdk.get_job_status("8") is JobStatus.FAILURE
    assert "no longer knows" in (sdk.get_failure_analysis("8") or {})["message"]


def test_a_job_slurm_forgot_is_read_from_its_exit_record_on_a_machine_without_sacct(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With scontrol but no sacct on PATH, a job Slurm had forgotten (ended while no orchestrator ran) made every
    status read raise "sacct not found on this machine", so the rec failed "job status unreadable" though its exit
    record said it succeeded; a missing sacct now counts as no accounting."""
    def answer(argv: list[str]) -> Result:
        if argv[0] == "sacct":
            raise PlatformError("sacct not found on this machine: is the Slurm client installed?")
        return Result(1, "", "slurm_load_jobs error: Invalid job id specified")

    sdk = _fake_sdk(tmp_path, answer)
    monkeypatch.setattr(sdk.shell, "read_text", lambda path, tail=None: "0\n" if path == "/jobs/rec-3/exit_code"
                        else None)
    _adopt(sdk, "41", time.time() - 3600)  # last seen pending an hour ago
    assert sdk.get_job_status("41") is JobStatus.SUCCESS


def test_a_forgotten_job_is_read_from_its_exit_record_while_sacct_does_not_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """slurmdbd down or slow: sacct timed out (a transient error) on every status read of a job scontrol had
    forgotten, so the rec failed "job status unreadable" after 20 polls though the job's exit record said it
    succeeded. The exit record is read then; with none, the transient error still stands (sacct may answer later)."""
    def answer(argv: list[str]) -> Result:
        if argv[0] == "sacct":
            raise TransientPlatformError("sacct timed out after 60 s")
        return Result(1, "", "slurm_load_jobs error: Invalid job id specified")

    sdk = _fake_sdk(tmp_path, answer)
    records = {"/jobs/rec-3/exit_code": "0\n"}
    monkeypatch.setattr(sdk.shell, "read_text", lambda path, tail=None: records.get(path))
    _adopt(sdk, "41", time.time() - 3600)
    assert sdk.get_job_status("41") is JobStatus.SUCCESS
    records.clear()
    _adopt(sdk, "42", time.time() - 3600)
    with pytest.raises(TransientPlatformError, match="sacct timed out"):
        sdk.get_job_status("42")


@pytest.mark.parametrize(("stderr", "code", "remote", "transient"), [
    ("squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation", 1, False, True),
    ("sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)", 1,
     False, True),
    ("ssh: connect to host login port 22: Connection timed out", 255, True, True),
    ("kex_exchange_identification: read: Connection reset by peer", 255, True, True),
    ("sbatch: error: Batch job submission failed: Invalid partition name specified", 1, False, False),
    ("sbatch: error: Batch job submission failed: Invalid account or account/partition combination", 1,
     True, False),
])
def test_errors_are_classified_transient_or_permanent(stderr: str, code: int, remote: bool,
                                                      transient: bool) -> None:
    shell = Shell(hostname="login" if remote else None)
    error = shell.error(["sbatch"], Result(code, "", stderr))
    assert isinstance(error, PlatformError)
    assert isinstance(error, TransientPlatformError) is transient
    assert stderr.split(": ", 1)[-1] in str(error)  # Slurm's / ssh's own message


def test_a_jobs_platform_kwargs_win_over_the_runs_platform_options(tmp_path: Path) -> None:
    """README: `platform_options` are the SDK's options for the whole run, `platform_kwargs` each job's arguments
    ("Slurm `partition`, `time_limit` ...; a job's value wins over the option"): the job's partition and time limit
    reach its batch script, and an option the job leaves unset (the account) still does."""
    readme_says(r"Docker `mem_limit`, `shm_size` \.\.\.; a job's value wins over the option\)")
    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir="/jobs", partition="debug", account="proj", time_limit=60)
    opts = JobOptions.build(0, {"partition": "gpu", "time_limit": 30}, sdk.defaults)
    lines = batch_script("rec-1", "/j/out.log", "/j", "echo hi", opts).splitlines()
    assert {"#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --account=proj"} <= set(lines), lines
    unset = batch_script("rec-2", "/j/out.log", "/j", "echo hi", JobOptions.build(0, {}, sdk.defaults)).splitlines()
    assert {"#SBATCH --partition=debug", "#SBATCH --time=60"} <= set(unset), unset


def test_batch_script_options_env_quoting_and_rendezvous() -> None:
    opts = JobOptions.build(2, {"partition": "gpu", "time_limit": 90, "num_nodes": 2, "ntasks_per_node": 4,
                                "cpus_per_task": 8}, {"account": "proj"})
    script = batch_script("rec-1", "/j/out.log", "/j", ["python", "train.py", "-e", "a b.yaml"], opts,
                          {"WANDB_NAME": "it's $HOME; rm -rf /"}, use_pyxis=True, image="nvcr.io/x:1")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=proj", "#SBATCH --time=90",
                 "#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --gres=gpu:2", "#SBATCH --job-name=rec-1", "#SBATCH --output=/j/out.log"):
        assert line in script.splitlines()
    assert "export WANDB_NAME='it'\"'\"'s $HOME; rm -rf /'" in script
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST"' in script
    assert "srun --kill-on-bad-exit=1 --container-image=nvcr.io/x:1 bash -c" in script
    assert "RANK=$SLURM_PROCID" in script and "NODE_RANK=$SLURM_NODEID" in script
    single = batch_script("r", "/o", "/w", "echo hi", JobOptions.build(0, {}, {}))
    assert "--gres" not in single and "srun" not in single and single.rstrip().endswith("echo hi")


def test_a_pyxis_container_gets_the_spec_folder_results_and_data_mounted_at_the_same_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``srun --container-image`` sees only what is mounted into it: the rec's spec file (``-e <path>``), its results
    dir and its dataset / checkpoint paths (the job's ``inputs``) were not, so a TAO job in the container could read
    none of them unless the user listed each in ``container_mounts``. The batch script the SDK writes is run here
    with a stand-in ``srun`` that records its arguments."""
    spec = tmp_path / "ws" / "rec_0001" / "train_spec.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text("a: 1\n")
    images, ann, ckpt = tmp_path / "data" / "images", tmp_path / "data" / "ann.json", tmp_path / "ckpt" / "m.pth"
    images.mkdir(parents=True)
    ann.write_text("{}")
    ckpt.parent.mkdir()
    ckpt.write_text("w")
    results = spec.parent / "results"
    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir=str(tmp_path / "jobs"), use_pyxis=True,
                   container_mounts="/scratch:/scratch")
    real_run = sdk.shell.run

    def run(argv: Sequence[str], *args: Any, **kwargs: Any) -> Result:
        return Result(0, "4242\n", "") if argv[0] == "sbatch" else real_run(argv, *args, **kwargs)

    monkeypatch.setattr(sdk.shell, "run", run)
    job = sdk.create_job("nvcr.io/x:1", f"dino train -e {spec}", gpu_count=0,
                         inputs={"dataset.img_dir": str(images), "dataset.ann": str(ann), "model.ckpt": str(ckpt),
                                 "dataset.list": [str(images)], "dataset.gone": "/nope/x", "remote": "s3://b/x"},
                         outputs={"results_dir": str(results)})
    script = Path(sdk._record(job.id)["script_path"])
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "argv"}\n')
    (fake / "scontrol").write_text("#!/bin/sh\necho node1\n")
    for tool in ("srun", "scontrol"):
        (fake / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=30)
    argv = (tmp_path / "argv").read_text().splitlines()
    assert "--container-image=nvcr.io/x:1" in argv and "--container-mounts=/scratch:/scratch" in argv, argv
    [auto] = [a for a in argv if a.startswith("--container-mounts=") and a != "--container-mounts=/scratch:/scratch"]
    mounted = {m.split(":")[0] for m in auto.split("=", 1)[1].split(",")}
    assert {str(spec.parent), str(results), str(images), str(ann.parent), str(ckpt.parent)} <= mounted, auto
    assert all(m.split(":")[0] == m.split(":")[1] for m in auto.split("=", 1)[1].split(","))  # at the same path
    assert "/nope/x" not in mounted and not any(m.startswith("/usr") for m in mounted)


def test_memory_in_megabytes_and_no_time_limit_are_taken_as_integers() -> None:
    """`mem: 4000` was refused as "a single word without spaces or '#'" (the string "4000" was taken), and
    `time_limit: 0` (Slurm: no limit) as below 1 while "0" was taken."""
    opts = JobOptions.build(0, {"mem": 4000, "time_limit": 0}, {})
    script = batch_script("r", "/o", "/w", "echo hi", opts).splitlines()
    assert "#SBATCH --mem=4000" in script and "#SBATCH --time=0" in script
    assert JobOptions.build(0, {"mem": "16G"}, {}).mem == "16G"
    # what sbatch takes: a unit K/M/G/T in either case, with or without a B after it
    assert [JobOptions.build(0, {"mem": m}, {}).mem for m in ("512m", "4GB", "2kb", "4096")] == \
        ["512m", "4GB", "2kb", "4096"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"time_limit": "soon"}, "time_limit"), ({"num_nodes": 0}, "num_nodes"), ({"partition": "a b"}, "partition"),
    ({"cpus_per_task": "4"}, "cpus_per_task"),
    # sbatch refuses these ("Invalid --mem specification"): every rec of a sweep failed at its submission
    ({"master_port": 70000}, "master_port"),  # no trainer can bind it: every rec's rendezvous failed
    ({"mem": "1.5G"}, "mem"), ({"mem": "10X"}, "mem"), ({"mem": "4G4"}, "mem"), ({"mem": "16GBB"}, "mem"),
])
def test_bad_job_options_are_user_errors(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(UserInputError, match=field):
        JobOptions.build(0, kwargs, {})


def test_a_bad_env_var_name_is_a_user_error_naming_env_vars_and_the_name() -> None:
    """The error said the name in its text only: its field, value and allowed were empty."""
    from tao_automl.platforms.slurm.script import export_lines

    with pytest.raises(UserInputError, match="'1BAD' is not a valid environment variable name") as info:
        export_lines({"OK": "x", "1BAD": "y"})
    assert (info.value.field, info.value.value) == ("env_vars", "1BAD") and "letters, digits" in str(info.value.allowed)


def test_a_value_ending_in_a_newline_is_refused_like_any_bad_value() -> None:
    """The checks' regexes ended in `$`, which also matches before a last newline: an env var name "A\\n" passed and
    wrote `export A` + a broken line into the batch script, and `mem: "8G\\n"` passed preflight."""
    from tao_automl.platforms.slurm.script import export_lines

    with pytest.raises(UserInputError):
        export_lines({"A\n": "y"})
    with pytest.raises(UserInputError, match="mem"):
        JobOptions.build(0, {"mem": "8G\n"}, {})
    assert export_lines({"A": "y"}) and JobOptions.build(0, {"mem": "8G"}, {})


def test_ssh_command_line_multiplexes_and_verifies_host_keys() -> None:
    argv = Shell(hostname="login1", user="alice", key_path="/k/id", port=2222, known_hosts="/k/kh").ssh_argv()
    text = " ".join(argv)
    assert "StrictHostKeyChecking=yes" in text and "StrictHostKeyChecking=no" not in text
    assert "ControlMaster=auto" in text and "ControlPersist=" in text and "ControlPath=" in text
    assert argv[-2:] == ["alice@login1", "--"] and "-i /k/id" in text and "-p 2222" in text
    with pytest.raises(UserInputError, match="strict_host_key_checking"):
        SlurmSDK(hostname="h", strict_host_key_checking="no")


def test_registry_builds_the_slurm_sdk(tmp_path: Path) -> None:
    sdk = make_sdk("slurm", {"state_dir": str(tmp_path), "partition": "debug"})
    assert isinstance(sdk, SlurmSDK) and sdk.init_options["partition"] == "debug"


# ------------------------------------------------------------------ real Slurm
@pytest.fixture
def sdk(tmp_path: Path, slurm_up: None) -> SlurmSDK:
    return SlurmSDK(state_dir=tmp_path / "state", jobs_dir=str(tmp_path / "jobs"))


def _wait(sdk: Any, job_id: str, timeout: float = 30) -> JobStatus:
    deadline = time.monotonic() + timeout
    while not (status := sdk.get_job_status(job_id)).is_finished():
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(0.2)
    return JobStatus(status)


def _node_cpus() -> int:
    out = subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True, text=True, check=True).stdout
    return int(parse_scontrol(out.splitlines()[0])["CPUTot"])


def test_invalid_partition_is_a_permanent_error_with_slurms_message(sdk: SlurmSDK) -> None:
    with pytest.raises(PlatformError, match="Invalid partition name specified") as info:
        sdk.create_job(None, "true", gpu_count=0, partition="nosuchpartition")
    assert not isinstance(info.value, TransientPlatformError)


def test_two_jobs_run_at_once_and_a_third_waits_for_cpus(sdk: SlurmSDK, tmp_path: Path) -> None:
    half = max(1, _node_cpus() // 2)
    tag = uuid.uuid4().hex[:8]  # job names must be new: squeue remembers finished jobs for MinJobAge
    # long enough that the third is still waiting while it is looked at, even on a loaded machine (with 3 s the
    # first two could end between seeing them run and reading the third's reason)
    jobs = [sdk.create_job(None, "sleep 8", gpu_count=0, cpus_per_task=half, job_name=f"fill-{i}-{tag}")
            for i in range(3)]
    deadline = time.monotonic() + 15
    while [sdk.get_job_status(j.id) for j in jobs[:2]] != [JobStatus.RUNNING] * 2:
        assert time.monotonic() < deadline, "the first two jobs did not start together"
        time.sleep(0.2)
    assert sdk.get_job_status(jobs[2].id) is JobStatus.PENDING
    assert sdk.get_job_info(jobs[2].id)["reason"] in ("Resources", "Priority")
    assert [_wait(sdk, j.id) for j in jobs] == [JobStatus.SUCCESS] * 3


def test_a_finished_job_says_when_it_ended_not_when_it_was_read(sdk: SlurmSDK, tmp_path: Path) -> None:
    """An audit stopped a run, resumed it 40 s after its Slurm job ended, and saw time_s 42 and finished_at at the
    collection: the rec's times come from the platform's ``finished_at``, which the Slurm SDK never gave. Slurm's
    clients now print epoch seconds (SLURM_TIME_FORMAT): EndTime is read when the job has ended, never the limit a
    running job's EndTime shows."""
    submitted = time.time()
    job = sdk.create_job(None, "sleep 2", gpu_count=0)
    deadline = time.monotonic() + 15
    while sdk.get_job_status(job.id) is not JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.1)
    assert sdk.get_job_info(job.id).get("finished_at") is None
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    ended = time.time()
    time.sleep(2.5)
    for reader in (sdk, SlurmSDK(state_dir=tmp_path / "fresh", jobs_dir=str(tmp_path / "jobs"))):  # adopts it anew
        finished_at = reader.get_job_info(job.id)["finished_at"]
        assert submitted + 1 <= finished_at <= ended + 1, (finished_at, submitted, ended)


def test_status_says_why_slurm_keeps_a_recs_job_queued(sdk: SlurmSDK, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit's jobs sat PENDING (PartitionNodeLimit) while `status` showed them pending with no message and the
    orchestrator log said nothing after "submitted". Slurm's Reason is recorded and shown while the job waits."""
    import threading

    from tao_automl.runner import loop
    from tao_automl.status import query_status

    monkeypatch.setattr(loop, "PENDING_REASON_EVERY_S", 0.3)
    filler = sdk.create_job(None, "sleep 60", gpu_count=0, cpus_per_task=_node_cpus(),
                            job_name=f"filler-{uuid.uuid4().hex[:8]}")
    try:
        runner = AutoMLRunner(sdk, write_skill(tmp_path / "bank"))
        result: dict[str, Any] = {}
        sweep = threading.Thread(target=lambda: result.update(runner.run(
            automl_settings={"metric": "val_loss", "automl_max_recommendations": 1, "poll_interval_s": 0.2},
            workspace_path=tmp_path / "ws", gpu_count=0)))
        sweep.start()
        deadline = time.monotonic() + 30
        while True:
            runs = list((tmp_path / "ws").glob("run_*"))
            jobs = query_status(runs[0])["active_jobs"] if runs else []
            if jobs and jobs[0].get("pending_reason"):
                break
            assert time.monotonic() < deadline and sweep.is_alive(), jobs
            time.sleep(0.2)
        assert jobs[0]["status"] == "pending"
        assert jobs[0]["pending_reason"] in ("Slurm: Resources (waiting for free resources)",
                                             "Slurm: Priority (jobs of higher priority go first)")
        text = subprocess.run([str(Path(sys.executable).parent / "tao-automl"), "status", str(runs[0])],
                              capture_output=True, text=True, check=True).stdout
        assert f"rec 1: job {jobs[0]['job_id']} waits in the platform's queue: {jobs[0]['pending_reason']}" in text
    finally:
        sdk.cancel_job(filler.id)
    sweep.join(60)
    assert result["progress"]["succeeded"] == 1
    assert "pending_reason" not in json.dumps(query_status(runs[0])["active_jobs"])  # nothing waits any more


def test_multi_task_job_gets_ranks_and_rendezvous_variables(sdk: SlurmSDK) -> None:
    command = 'echo "rank=$RANK of $WORLD_SIZE node_rank=$NODE_RANK master=$MASTER_ADDR:$MASTER_PORT"'
    job = sdk.create_job(None, command, gpu_count=0, num_nodes=1, ntasks_per_node=2, master_port=29555)
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    lines = sorted((sdk.get_job_logs(job.id) or "").split("\n"))
    host = subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()
    assert [ln for ln in lines if ln] == [f"rank={r} of 2 node_rank=0 master={host}:29555" for r in (0, 1)]


def test_idempotent_create_finds_the_job_in_squeue_when_local_state_is_lost(sdk: SlurmSDK,
                                                                              tmp_path: Path) -> None:
    name = f"idem-squeue-{uuid.uuid4().hex[:8]}"
    first = sdk.create_job(None, "sleep 2", gpu_count=0, job_name=name)
    amnesiac = SlurmSDK(state_dir=tmp_path / "other-state", jobs_dir=str(tmp_path / "jobs"))
    again = amnesiac.create_job(None, "sleep 2", gpu_count=0, job_name=name)
    assert again.id == first.id
    assert _wait(amnesiac, again.id) is JobStatus.SUCCESS
    # a job that writes into a results dir of its own (a rec's): found by its name, its results are read there, not
    # in <job folder>/results (over ssh no local fallback finds them: the rec lost its metric)
    results = tmp_path / "rec 7 'results'"
    named = f"idem-results-{uuid.uuid4().hex[:8]}"
    command = "echo '{\"kpi\": 3}' > \"$OUT/status.json\""
    job = sdk.create_job(None, command, gpu_count=0, job_name=named, env_vars={"OUT": str(results)},
                         outputs={"results_dir": str(results)})
    other = SlurmSDK(state_dir=tmp_path / "third-state", jobs_dir=str(tmp_path / "jobs"))
    assert other.find_job(named) == job.id
    assert _wait(other, job.id) is JobStatus.SUCCESS
    assert other.read_job_file(job.id, "status.json") == '{"kpi": 3}\n'
    by_id = SlurmSDK(state_dir=tmp_path / "fourth-state", jobs_dir=str(tmp_path / "jobs"))  # asked by its id alone
    assert by_id.read_job_file(job.id, "status.json") == '{"kpi": 3}\n'


def test_a_job_found_by_its_name_keeps_the_time_slurm_took_it(sdk: SlurmSDK, tmp_path: Path) -> None:
    """An orchestrator killed while sbatch ran (or before it recorded the answer) left no record; the resume found
    the job in squeue by its name and recorded it as submitted then, so the rec showed the resume's time as its start
    and, its job having ended before, a wall time of a fraction of a second (seen: 0.28 s for an 8 s job). It is
    Slurm's SubmitTime."""
    name = f"idem-time-{uuid.uuid4().hex[:8]}"
    first = sdk.create_job(None, "sleep 1", gpu_count=0, job_name=name)
    submitted = sdk.get_job_info(first.id)["submitted_at"]
    time.sleep(4.0)
    amnesiac = SlurmSDK(state_dir=tmp_path / "other-state", jobs_dir=str(tmp_path / "jobs"))
    assert amnesiac.find_job(name) == first.id
    assert abs(amnesiac.get_job_info(first.id)["submitted_at"] - submitted) < 2.5
    by_id = SlurmSDK(state_dir=tmp_path / "third-state", jobs_dir=str(tmp_path / "jobs"))  # asked by its id alone
    assert abs(by_id.get_job_info(first.id)["submitted_at"] - submitted) < 2.5


def test_accounting_fallback_reads_the_jobcomp_record(sdk: SlurmSDK) -> None:
    job = sdk.create_job(None, "exit 4", gpu_count=0)
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    deadline = time.monotonic() + 10
    while (fields := sdk._sacct(job.id)) is None:  # the jobcomp line is written just after the end
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert fields["State"] == "FAILED" and fields["ExitCode"] == "4:0"


def test_a_job_slurm_forgot_without_accounting_ends_as_its_exit_record_says(sdk: SlurmSDK,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """On a cluster without accounting, a job that ended while no orchestrator ran and that Slurm then forgot
    (MinJobAge, 300 s by default) was recorded as failed, "Slurm no longer knows this job", though its results
    were on disk: each batch script now writes its exit status into the job's folder, read in that case. A job
    cancelled with SIGTERM records 143, never the status of the command before."""
    ok = sdk.create_job(None, "echo done", gpu_count=0)
    bad = sdk.create_job(None, "exit 3", gpu_count=0)
    killed = sdk.create_job(None, "echo started; sleep 60", gpu_count=0)
    deadline = time.monotonic() + 20
    # its command runs, so its traps are set: Slurm says RUNNING before the batch script's first line has run, and
    # a SIGTERM then (a loaded machine) ended it before it could record anything
    while "started" not in (sdk.get_job_logs(killed.id) or ""):
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.2)
    assert sdk.cancel_job(killed.id)
    for job in (ok, bad, killed):
        _wait(sdk, job.id)
    for job in (ok, bad, killed):  # as the dead orchestrator last saw them, then forgotten by Slurm
        rec = sdk._record(job.id)
        rec.update(state=JobStatus.RUNNING.value, submitted_at=time.time() - 3600)
        sdk.records.save(rec)
    monkeypatch.setattr(sdk, "_scontrol", lambda job_id: None)
    monkeypatch.setattr(sdk, "_sacct", lambda job_id: None)
    assert sdk.get_job_status(ok.id) is JobStatus.SUCCESS
    assert sdk.get_job_status(bad.id) is JobStatus.FAILURE
    assert "exit code 3" in (sdk.get_failure_analysis(bad.id) or {})["message"]
    assert sdk.get_job_status(killed.id) is JobStatus.FAILURE
    assert "exit code 143" in (sdk.get_failure_analysis(killed.id) or {})["message"]


def test_a_job_does_not_inherit_the_sdks_time_format(sdk: SlurmSDK, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK asks Slurm's clients for epoch seconds (SLURM_TIME_FORMAT=%s); sbatch exported that to every job,
    so a training script's own squeue/sacct calls printed 1796388007 instead of a date. The user's own setting
    still reaches the job."""
    monkeypatch.delenv("SLURM_TIME_FORMAT", raising=False)
    job = sdk.create_job(None, "echo format=${SLURM_TIME_FORMAT:-unset}", gpu_count=0)
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    assert "format=unset" in (sdk.get_job_logs(job.id) or "")
    monkeypatch.setenv("SLURM_TIME_FORMAT", "standard")
    job = sdk.create_job(None, "echo format=${SLURM_TIME_FORMAT:-unset}", gpu_count=0)
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    assert "format=standard" in (sdk.get_job_logs(job.id) or "")
    assert sdk.get_job_info(job.id)["finished_at"] > 1e9  # the SDK's own reads still get epoch seconds


def test_a_jobs_folder_with_a_percent_sign_quotes_or_spaces_gets_its_log_there(tmp_path: Path,
                                                                               slurm_up: None) -> None:
    """A run folder named ``odd 50%j 'q'``: Slurm read ``%j`` in ``--output`` as the job id, so the log's folder
    did not exist and every rec failed at launch (JobLaunchFailure, signal 53) with no log. The path is now taken
    literally; one with a backslash (which --output drops) is refused naming jobs_dir."""
    jobs = tmp_path / "odd 50%j 'q' #x"
    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir=str(jobs))
    job = sdk.create_job(None, "echo hello from $SLURM_JOB_ID", gpu_count=0)
    assert _wait(sdk, job.id) is JobStatus.SUCCESS, sdk.get_failure_analysis(job.id)
    assert sdk.get_job_logs(job.id) == f"hello from {job.id}\n"
    assert [p.parent.parent for p in tmp_path.rglob("output.log")] == [jobs]
    # a process that lost its record finds the job by its name and its log where it is (scontrol shows the escaped
    # --output with %j replaced: "odd 50\\1702 'q' #x/...", a folder that does not exist)
    named = sdk.create_job(None, "echo again", gpu_count=0, job_name=f"pct-{uuid.uuid4().hex[:8]}")
    amnesiac = SlurmSDK(state_dir=tmp_path / "other-state", jobs_dir=str(jobs))
    assert amnesiac.create_job(None, "echo again", gpu_count=0, job_name=named.name).id == named.id
    assert _wait(amnesiac, named.id) is JobStatus.SUCCESS
    assert amnesiac.get_job_logs(named.id) == "again\n"
    bad = SlurmSDK(state_dir=tmp_path / "state2", jobs_dir=str(tmp_path / "back\\slash"))
    with pytest.raises(UserInputError, match=r"jobs_dir: .* holds a backslash") as info:
        bad.create_job(None, "true", gpu_count=0)
    assert info.value.field == "jobs_dir"


def test_a_job_slurm_could_not_launch_says_so_and_names_its_log_file(sdk: SlurmSDK) -> None:
    """A job whose log file the node cannot open (a jobs_dir the nodes do not share, here a folder in the way)
    never runs: the rec said only "FAILED on node vm (killed by signal 53) [JobLaunchFailure]", no signal killed
    anything and there is no log to read."""
    from tao_automl.platforms.records import job_key

    name = f"nolaunch-{uuid.uuid4().hex[:8]}"
    log_path = Path(sdk.jobs_dir) / job_key(name) / "output.log"
    log_path.mkdir(parents=True)  # the node cannot open it as a file: "Could not open stdout file ... Is a directory"
    job = sdk.create_job(None, "echo hi", gpu_count=0, job_name=name)
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    message = (sdk.get_failure_analysis(job.id) or {})["message"]
    assert "signal 53" not in message, message
    assert "before its command ran: Slurm could not launch its batch script (JobLaunchFailure)" in message, message
    assert f"could not open its log file {log_path}" in message and "platform_options.jobs_dir" in message, message
    # Slurm says JobLaunchFailure also of a batch script killed by a signal (ExitCode 0:9): that one ran, and says so
    killed = sdk.create_job(None, "echo started; kill -9 $$", gpu_count=0)
    assert _wait(sdk, killed.id) is JobStatus.FAILURE
    analysis = sdk.get_failure_analysis(killed.id) or {}
    assert analysis["reason"] == "JobLaunchFailure" and analysis["signal"] == 9, analysis
    assert "(killed by signal 9)" in analysis["message"] and "could not launch" not in analysis["message"], analysis


def test_results_files_and_retry_wrapper_on_a_real_job(sdk: SlurmSDK, tmp_path: Path) -> None:
    results = tmp_path / "res"
    wrapped = Retrying(sdk, attempts=2, base_delay=0.01)
    job = wrapped.create_job("example/img:1", f"echo '{{\"kpi\": 1}}' > {results}/status.json", gpu_count=0,
                             outputs={"results_dir": str(results)})
    assert job.results_dir == str(results)
    assert _wait(wrapped, job.id) is JobStatus.SUCCESS
    assert wrapped.read_job_file(job.id, "status.json") == '{"kpi": 1}\n'
    assert wrapped.read_job_file(job.id, "missing.json") is None
    with pytest.raises(UserInputError, match="outside"):
        sdk.read_job_file(job.id, "../../etc/passwd")


def test_automl_sweep_runs_end_to_end_on_slurm(sdk: SlurmSDK, tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "bank")
    runner = AutoMLRunner(sdk, skill)
    settings = {"metric": "val_loss", "automl_max_recommendations": 4, "automl_max_concurrent": 2, "seed": 3,
                "poll_interval_s": 0.5, "algorithm": "random"}
    in_flight, peak = 0, 0

    def started(_: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    def ended(*_: Any) -> None:
        nonlocal in_flight
        in_flight -= 1

    result = runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0,
                        spec_overrides={"train.sleep": 0.5}, on_recommendation=started, on_result=ended)
    progress = result["progress"]
    assert peak == 2, (peak, result["history"])
    assert progress["completed"] == progress["total"] == 4, result["history"]
    assert all(h["job_id"].isdigit() for h in result["history"]), result["history"]
    values = [h["metric_value"] for h in result["history"] if h["status"] == "success"]
    assert values and result["best"]["metric_value"] == min(values), result["history"]


def test_a_rec_seen_ending_live_records_slurms_end_time(sdk: SlurmSDK, tmp_path: Path) -> None:
    """An audit saw a live run record a rec's finished_at when the orchestrator's poll saw the end (up to a poll
    after the job ended), though README says it is Slurm's EndTime: the rec now keeps the EndTime scontrol gives.
    The job runs over a second: Slurm's EndTime is in whole seconds, so a job ending within the second it was submitted
    in has an EndTime before its submission, which the runner does not take (it keeps the time its poll saw)."""
    skill = write_skill(tmp_path / "bank")
    settings = {"metric": "val_loss", "automl_max_recommendations": 1, "automl_max_concurrent": 1, "seed": 3,
                "poll_interval_s": 2.0, "algorithm": "random"}
    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0,
                                          spec_overrides={"train.sleep": 1.5})
    (rec,) = result["history"]
    assert rec["status"] == "success", rec
    assert rec["finished_at"] == sdk.get_job_info(rec["job_id"])["finished_at"], rec
    readme_says(r"finished_at` and `wall_time_s` are when its job ended as the platform recorded it \(Slurm.s EndTime")


def test_a_run_keeps_its_slurm_job_folders_in_the_run_folder(tmp_path: Path, slurm_up: None) -> None:
    """Job folders (script, output.log, exit_code) went to ~/.cache/tao-automl/slurm/jobdirs and were never removed;
    with Slurm run on this machine and no jobs_dir chosen, a run keeps them in <run>/jobs, as LocalSDK does (its
    results already go to the run folder, so the nodes see it), and a resume rebuilt from the record keeps them
    there. A chosen jobs_dir is kept."""
    sdk = SlurmSDK(state_dir=tmp_path / "state")
    skill = write_skill(tmp_path / "bank")
    settings = {"metric": "val_loss", "automl_max_recommendations": 1, "poll_interval_s": 0.3, "algorithm": "random"}
    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0)
    [run_dir] = (tmp_path / "ws").glob("run_*")
    [rec] = result["history"]
    assert rec["status"] == "success", rec
    [job_dir] = (run_dir / "jobs").iterdir()
    assert {"job.sbatch", "output.log", "exit_code"} <= {p.name for p in job_dir.iterdir()}
    assert not (tmp_path / "state" / "jobdirs").exists()
    from tao_automl.experiment.store import read_meta

    meta = read_meta(run_dir)
    assert meta["platform"]["options"]["jobs_dir"] == str(run_dir / "jobs")
    assert sdk.jobs_dir_chosen is False and sdk.jobs_share_run_folder is True
    from tao_automl.platforms.registry import rebuild_sdk
    from tao_automl.runner.loop import _jobs_in_run_folder

    moved = tmp_path / "moved" / run_dir.name  # `tao-automl resume` rebuilds the SDK from the record: rebased
    rebuilt = rebuild_sdk(run_dir, meta["platform"])
    _jobs_in_run_folder(rebuilt, moved, meta)
    assert rebuilt.jobs_dir == str(moved / "jobs") and rebuilt.init_options["jobs_dir"] == str(moved / "jobs")
    remote = SlurmSDK(state_dir=tmp_path / "s3", hostname="login")  # over ssh the run folder is not the cluster's
    assert remote.jobs_share_run_folder is False
    _jobs_in_run_folder(remote, run_dir)
    assert remote.init_options["jobs_dir"] is None
    [check] = [c for c in SlurmSDK(state_dir=tmp_path / "s4").preflight(None, 0) if c.check == "jobs_dir"]
    assert check.ok is True and "under the run folder's jobs/" in check.detail
    chosen = SlurmSDK(state_dir=tmp_path / "state2", jobs_dir=str(tmp_path / "mine"))
    AutoMLRunner(chosen, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws2", gpu_count=0)
    [run2] = (tmp_path / "ws2").glob("run_*")
    assert len(list((tmp_path / "mine").iterdir())) == 1 and not (run2 / "jobs").exists()


# ------------------------------------------------------------------ real Slurm over a real sshd on 127.0.0.1
@dataclass
class Sshd:
    port: int
    key: Path
    known_hosts: Path
    log: Path

    def sdk(self, state: Path, jobs: Path, known_hosts: Path | None = None) -> SlurmSDK:
        return SlurmSDK(hostname="127.0.0.1", user="root", ssh_key_path=str(self.key), ssh_port=self.port,
                        known_hosts=str(known_hosts or self.known_hosts), state_dir=state, jobs_dir=str(jobs))


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory, slurm_up: None) -> Iterator[Sshd]:
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists() or shutil.which("ssh") is None:
        pytest.skip("needs root and openssh (client + /usr/sbin/sshd; ci/slurm_up.sh installs them)")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel INFO\n"
    )
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {(d / 'host_key.pub').read_text()}")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = d / "sshd.log"
    subprocess.run(["/usr/sbin/sshd", "-f", str(d / "sshd_config"), "-E", str(log)], check=True)
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as s, contextlib.suppress(OSError):
            s.connect(("127.0.0.1", port))
            break
        assert time.monotonic() < deadline, f"sshd did not start: {log.read_text() if log.exists() else ''}"
        time.sleep(0.1)
    yield Sshd(port, d / "client_key", d / "known_hosts", log)
    os.kill(int((d / "sshd.pid").read_text()), signal.SIGTERM)


def test_slurm_over_ssh_passes_the_conformance_suite_on_one_connection(sshd: Sshd, tmp_path: Path) -> None:
    before = sshd.log.read_text().count("Accepted publickey")
    conformance = Conformance(lambda: sshd.sdk(tmp_path / "state", tmp_path / "jobs"), tmp_path / "scratch",
                              timeout_s=30)
    run_all(conformance)
    sdk = sshd.sdk(tmp_path / "state", tmp_path / "jobs")
    job = sdk.create_job(None, f"echo 42 > {tmp_path / 'res'}/metric.txt", gpu_count=0,
                         outputs={"results_dir": str(tmp_path / "res")})
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    assert sdk.read_job_file(job.id, "metric.txt") == "42\n"  # read with cat over ssh
    assert sdk.read_job_file(job.id, "nothing.txt") is None
    # dozens of polls above, yet one multiplexed ssh connection
    assert sshd.log.read_text().count("Accepted publickey") - before == 1


def test_a_job_log_with_bytes_that_are_not_utf8_is_read_over_ssh(sshd: Sshd, tmp_path: Path) -> None:
    """Over ssh a file is read with `cat` and its bytes were decoded strictly: a log or status.json with one byte
    that is not UTF-8 (a latin-1 file name, a binary progress line) made get_job_logs, read_job_file and the failure
    analysis raise UnicodeDecodeError. Such bytes are now replaced, as a local read does."""
    sdk = sshd.sdk(tmp_path / "state", tmp_path / "jobs")
    results = tmp_path / "res"
    job = sdk.create_job(None, f"printf 'caf\\351 ok\\n'; printf '{{\"v\": \"\\377\"}}' > {results}/status.json; "
                         "exit 2", gpu_count=0, outputs={"results_dir": str(results)})
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    assert sdk.get_job_logs(job.id) == "caf\ufffd ok\n"
    assert sdk.read_job_file(job.id, "status.json") == '{"v": "\ufffd"}'
    assert "exit code 2" in (sdk.get_failure_analysis(job.id) or {})["message"]


def test_ssh_refuses_an_unknown_host_key(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    sdk = sshd.sdk(tmp_path / "state", tmp_path / "jobs", known_hosts=empty)
    sdk.shell.control_persist_s = 0
    with pytest.raises(PlatformError, match="Host key verification failed") as info:
        sdk.create_job(None, "true", gpu_count=0)
    assert not isinstance(info.value, TransientPlatformError)


def test_preflight_asks_sinfo_for_the_partition_and_its_gpus(sdk: SlurmSDK, tmp_path: Path) -> None:
    checks = {c.check: c for c in sdk.preflight("repo/img:1", gpu_count=1)}
    assert checks["platform_reachable"].ok is True
    assert checks["platform_reachable"].detail.startswith("sinfo on this machine answered")
    assert checks["partition"].ok is True and checks["partition"].detail == "debug (the default)"
    assert checks["gres"].ok is False
    assert checks["gres"].detail == ("partition debug has no gpu GRES: jobs with gpu_count=1 would never start; set "
                                     "platform_kwargs.gpu_count: 0 for CPU jobs, or use a partition with GPUs")
    assert checks["resources"].ok is True and "fits partition debug" in checks["resources"].detail
    assert checks["image"].ok is True and "ignored" in checks["image"].detail
    assert "gres" not in {c.check for c in sdk.preflight(None, gpu_count=0)}
    assert checks["jobs_dir"].ok is True and checks["jobs_dir"].detail.endswith("(writable)")
    assert not (tmp_path / "jobs").exists()  # probed, not made
    # root passes os.access everywhere; /proc takes no new folder even from root: every submission failed
    [jobs_dir] = [c for c in SlurmSDK(state_dir=tmp_path / "s3", jobs_dir="/proc/nojobs").preflight(None, gpu_count=0)
                  if c.check == "jobs_dir"]
    assert jobs_dir.ok is False and "/proc cannot be written" in jobs_dir.detail
    assert jobs_dir.error is not None and jobs_dir.error.field == "platform_options.jobs_dir"
    # use_pyxis on a cluster without pyxis (this one): every job failed with "srun: unrecognized option"
    [pyxis] = [c for c in SlurmSDK(state_dir=tmp_path / "s4", jobs_dir=str(tmp_path / "j4"), use_pyxis=True)
               .preflight("nvcr.io/x:1", gpu_count=0) if c.check == "pyxis"]
    assert pyxis.ok is False and "unrecognized option" in pyxis.detail
    assert pyxis.error is not None and pyxis.error.field == "platform_options.use_pyxis"
    wrong = SlurmSDK(state_dir=tmp_path / "s2", jobs_dir=str(tmp_path / "j2"), partition="nosuchpart")
    [reach, part] = wrong.preflight(None)
    assert reach.ok is True and part.ok is False and "'nosuchpart' does not exist; available: debug" in part.detail


def test_preflight_says_why_when_sinfo_fails(tmp_path: Path) -> None:
    sdk = _fake_sdk(tmp_path, lambda argv: Result(1, "", "slurm_load_partitions: Unable to contact slurm controller"))
    [check] = sdk.preflight(None)
    assert check.ok is False and "Unable to contact slurm controller" in check.detail
    assert check.unreachable is True  # preflight makes it exit 3 (retry later), not a user error


@pytest.mark.parametrize(("stderr", "code", "remote", "unreachable"), [
    ("slurm_load_partitions: Unable to contact slurm controller (connect failure)", 1, False, True),
    ("slurm_load_partitions: Socket timed out on send/recv operation", 1, False, True),
    ("ssh: connect to host login port 22: Connection refused", 255, True, True),
    ("ssh: Could not resolve hostname nosuch: Name or service not known", 255, True, True),
    ("root@login: Permission denied (publickey).", 255, True, False),
    ("Host key verification failed.", 255, True, False),
    ("sinfo: error: Invalid user for SlurmUser slurm, ignored", 1, False, False),
])
def test_preflight_tells_an_unreachable_controller_from_a_refusal(tmp_path: Path, stderr: str, code: int,
                                                                  remote: bool, unreachable: bool) -> None:
    sdk = _fake_sdk(tmp_path, lambda argv: Result(code, "", stderr))
    sdk.shell.hostname = "login" if remote else None
    [check] = sdk.preflight(None)
    assert check.ok is False and stderr in check.detail and check.unreachable is unreachable


def test_preflight_of_a_sinfo_that_never_answers_is_unreachable(tmp_path: Path) -> None:
    def hang(argv: list[str]) -> Result:
        raise TransientPlatformError("sinfo timed out after 60 s")

    [check] = _fake_sdk(tmp_path, hang).preflight(None)
    assert check.ok is False and check.unreachable is True and "timed out" in check.detail


# ------------------------------------------------------ what a job asks for, checked before anything starts
SINFO = "debug*|up|(null)|1|2|15000\ngpu|up|gpu:a100:4|2|64|500000\ngpu|up|gpu:a100:8|1|128|1000000\n"


def _sinfo_sdk(tmp_path: Path, **options: Any) -> SlurmSDK:
    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir="/jobs", **options)
    answers = {"sinfo": Result(0, SINFO, ""), "sh": Result(0, "", "")}  # sh: the jobs dir's probe succeeds
    sdk.shell = FakeShell(lambda argv: answers.get(argv[0], Result(1, "", "no")))
    return sdk


def test_preflight_checks_the_partition_the_jobs_name_and_what_one_job_asks_of_its_nodes(tmp_path: Path) -> None:
    """An audit found `platform_kwargs.partition: nosuchpart` reported as "ok partition debug (the default)" and jobs
    asking for 2 nodes or 64 CPUs of a 1-node, 2-CPU partition passing preflight and then PENDING forever."""
    sdk = _sinfo_sdk(tmp_path)

    def failed(options: dict[str, Any], gpus: int = 0) -> list[Any]:
        return [c for c in sdk.preflight(None, gpus, job_options=options) if c.ok is False]

    [part] = failed({"partition": "nosuchpart"})
    assert part.check == "partition" and part.error is not None
    assert (part.error.field, part.error.value, part.error.allowed) == (
        "platform_kwargs.partition", "nosuchpart", ["debug", "gpu"])
    for options, field, value, allowed in (
            ({"num_nodes": 2}, "platform_kwargs.num_nodes", 2, "1..1"),
            ({"cpus_per_task": 64}, "platform_kwargs.cpus_per_task", 64, "cpus_per_task x ntasks_per_node <= 2"),
            ({"ntasks_per_node": 3}, "platform_kwargs.ntasks_per_node", 3, "cpus_per_task x ntasks_per_node <= 2"),
            ({"mem": "64G"}, "platform_kwargs.mem", "64G", "at most 15000M"),
            ({"partition": "gpu", "num_nodes": 4, "gpu_count": 1}, "platform_kwargs.num_nodes", 4, "1..3")):
        [check] = failed(options, int(options.get("gpu_count", 0)))
        assert check.check == "resources" and "would stay PENDING forever" in check.detail, options
        assert (check.error.field, check.error.value, check.error.allowed) == (field, value, allowed), options
    [gres] = failed({}, 1)
    assert gres.error is not None and gres.error.field == "platform_kwargs.gpu_count"
    assert "gpu_count=1 (the default when platform_kwargs.gpu_count is not set)" in gres.detail
    assert "platform_kwargs.gpu_count: 0" in gres.detail
    assert "the default" not in failed({"gpu_count": 2}, 2)[0].detail
    fits = {c.check: c for c in sdk.preflight(None, 4, job_options={"partition": "gpu", "num_nodes": 3, "mem": "900G",
                                                                    "cpus_per_task": 16, "ntasks_per_node": 8,
                                                                    "gpu_count": 4})}
    assert all(c.ok for c in fits.values()), fits
    assert fits["partition"].detail == "gpu (platform_kwargs.partition)"
    assert fits["gres"].detail == "partition gpu offers gpu:a100:4, gpu:a100:8"
    # more GPUs than any of its nodes has: every job would be refused or wait for ever, yet the check said "offers"
    [many] = [c for c in sdk.preflight(None, 16, job_options={"partition": "gpu", "gpu_count": 16}) if c.ok is False]
    assert many.check == "gres" and many.error is not None, many
    assert (many.error.field, many.error.value, many.error.allowed) == (
        "platform_kwargs.gpu_count", 16, "0..8 on partition gpu"), many
    assert "nodes have at most 8 GPUs" in many.detail
    assert all(c.ok for c in sdk.preflight(None, 8, job_options={"partition": "gpu", "gpu_count": 8}))


def test_the_banks_slurm_partition_is_the_default_and_a_list_fits_when_one_partition_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bank's Slurm skill takes the partition from $SLURM_PARTITION (e.g. "polar,polar3"); the SDK ignored it and
    sent jobs to the cluster's default partition without a word."""
    monkeypatch.setenv("SLURM_PARTITION", "debug,gpu")
    monkeypatch.setenv("SLURM_ACCOUNT", "team7")
    sdk = _sinfo_sdk(tmp_path)
    assert sdk.defaults["partition"] == "debug,gpu" and sdk.init_options["partition"] == "debug,gpu"
    assert sdk.defaults["account"] == "team7"
    script = batch_script("x", "/jobs/x/output.log", "/jobs/x", "true", JobOptions.build(0, {}, sdk.defaults))
    assert "#SBATCH --partition=debug,gpu" in script and "#SBATCH --account=team7" in script
    checks = {c.check: c for c in sdk.preflight(None, 0, job_options={"num_nodes": 2, "gpu_count": 0})}
    assert checks["partition"].ok is True and checks["partition"].detail == "debug,gpu (SLURM_PARTITION)"
    assert checks["resources"].ok is True and "fits partition gpu" in checks["resources"].detail  # not debug's 1 node
    [failed] = [c for c in sdk.preflight(None, 0, job_options={"num_nodes": 9, "gpu_count": 0}) if c.ok is False]
    assert failed.error is not None and failed.error.field == "platform_kwargs.num_nodes"
    monkeypatch.setenv("SLURM_PARTITION", "debug,nosuch")
    [_, part] = _sinfo_sdk(tmp_path).preflight(None, 0, job_options={})
    assert part.ok is False and part.error is not None and part.error.field == "SLURM_PARTITION"
    assert "partition 'nosuch' does not exist" in part.detail
    monkeypatch.setenv("SLURM_PARTITION", "two words")
    with pytest.raises(UserInputError) as caught:
        make_sdk("slurm", {"state_dir": str(tmp_path / "s")})
    assert caught.value.field == "SLURM_PARTITION" and caught.value.value == "two words"
    monkeypatch.delenv("SLURM_PARTITION")
    assert _sinfo_sdk(tmp_path, partition="gpu").defaults["partition"] == "gpu"


@pytest.mark.parametrize(("nodes", "said"), [("drain|1\n", "1 drain"), ("down*|2\ndrain|1\n", "2 down*, 1 drain"),
                                            ("idle*|1\n", "1 idle*"), ("idle|1\n", None), ("drain|1\nmix|1\n", None),
                                            ("idle~|4\n", None)])
def test_preflight_says_when_no_node_of_the_partition_can_start_a_job(tmp_path: Path, nodes: str,
                                                                      said: str | None) -> None:
    """With the only node drained (an audit's `scontrol update state=drain` on the real Slurm), preflight said
    "resources: a job fits partition debug" and the run started; its jobs then waited (ReqNodeNotAvail) with
    nothing said before. Preflight now says so, as n/a: a node may come back."""
    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir="/jobs")
    sdk.shell = FakeShell(lambda argv: Result(0, nodes if "%t|%D" in argv else SINFO if argv[0] == "sinfo" else "", ""))
    checks = {c.check: c for c in sdk.preflight(None, 0)}
    if said is None:
        assert "nodes" not in checks, checks
        return
    assert checks["nodes"].ok is None, checks
    assert checks["nodes"].detail.startswith(f"partition debug: no node can start a job now ({said}): the jobs "
                                             "will wait in the queue"), checks["nodes"].detail


def test_a_hidden_partition_the_user_may_use_passes_preflight(tmp_path: Path) -> None:
    """A partition made with Hidden=YES is left out of a user's plain ``sinfo`` (root sees it; ``sinfo -a`` lists it),
    so preflight refused ``partition: hid`` as "does not exist" though sbatch takes jobs there (seen as user nobody
    on the real Slurm). It is now looked up with ``sinfo -a`` and, if ``sbatch --test-only`` takes a job on it,
    checked like any other; one slurmctld refuses stays unknown."""
    hidden = "hid|up|(null)|1|2|15000|5\n"
    taken = {"hid"}

    def answer(argv: list[str]) -> Result:
        if argv[0] == "sinfo" and {"-a", "-p"} <= set(argv):  # as the real sinfo answers
            return Result(1, "", "sinfo: error: Conflicting options, -a and -p, specified.")
        if argv[0] == "sinfo":
            return Result(0, SINFO + (hidden if "-a" in argv else ""), "")
        if argv[:2] == ["sbatch", "--test-only"]:
            ok = argv[2].split("=", 1)[1] in taken
            return Result(0, "", "sbatch: Job 9 to start") if ok else Result(
                1, "", "sbatch: error: Batch job submission failed: User's group not permitted to use this partition")
        return Result(0, "", "")  # scontrol show partition (no limits), the jobs dir's probe

    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir="/jobs")
    sdk.shell = FakeShell(answer)
    checks = {c.check: c for c in sdk.preflight(None, 0, job_options={"partition": "hid"})}
    assert checks["partition"].ok and checks["resources"].ok, checks
    [over] = [c for c in sdk.preflight(None, 0, job_options={"partition": "hid", "time_limit": 10}) if c.ok is False]
    assert over.error is not None and over.error.field == "platform_kwargs.time_limit"  # its own MaxTime, 5 minutes
    taken.clear()
    [refused] = [c for c in sdk.preflight(None, 0, job_options={"partition": "hid"}) if c.ok is False]
    assert refused.check == "partition" and "'hid' does not exist" in refused.detail


def test_a_bad_platform_kwargs_value_is_refused_before_a_run_folder_exists(tmp_path: Path) -> None:
    """`platform_kwargs.time_limit: abc` passed preflight; `run` then exited 2 with field, value and allowed null,
    said "nothing was started" and left a run folder that could never be resumed."""
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    sdk = _sinfo_sdk(tmp_path)
    for key, value in (("time_limit", "abc"), ("time_limit", -5), ("partition", "two words"), ("num_nodes", 0),
                       ("mem", "4 G"), ("mem", -1), ("mem", True)):
        with pytest.raises(UserInputError) as caught:
            checked_job_kwargs(sdk, {key: value, "gpu_count": 0})
        error = caught.value.to_json()
        assert (error["field"], error["value"]) == (f"platform_kwargs.{key}", value), error
        assert error["allowed"] and error["message"].startswith(f"platform_kwargs.{key}: "), error
    skill = write_skill(tmp_path / "bank")
    with pytest.raises(UserInputError) as caught:
        AutoMLRunner(sdk, skill).run(automl_settings={"automl_max_recommendations": 2, "metric": "val_loss"},
                                     workspace_path=tmp_path / "ws", gpu_count=0, time_limit="abc")
    assert caught.value.field == "platform_kwargs.time_limit"
    assert not list((tmp_path / "ws").glob("run_*")) and not any(a[0] == "sbatch" for a in sdk.shell.calls)


@pytest.mark.parametrize(("option", "value"), [
    ("command_timeout_s", -5), ("command_timeout_s", "abc"), ("command_timeout_s", 0), ("ssh_port", 0),
    ("ssh_port", 70000), ("ssh_port", "22")])
def test_a_bad_command_timeout_or_ssh_port_is_refused_naming_it(tmp_path: Path, option: str, value: Any) -> None:
    """`command_timeout_s: -5` made preflight say Slurm "could not be reached: sinfo timed out after -5 s",
    `command_timeout_s: abc` failed with "TypeError: unsupported operand type(s)", and `ssh_port: 0` was taken."""
    with pytest.raises(UserInputError, match=f"{option} must be") as info:
        make_sdk("slurm", {"state_dir": str(tmp_path / "state"), option: value})
    assert info.value.field in (option, f"platform_options.{option}") and info.value.value == value, info.value


def test_use_pyxis_written_as_a_quoted_no_is_refused_not_taken_as_true(tmp_path: Path) -> None:
    """`use_pyxis: 'no'` (a quoted YAML word) was read with bool(), so the run asked for pyxis and preflight said
    "platform_options.use_pyxis: true, but srun has no --container-image option"; only true or false are taken."""
    for value in ("no", "false", 0):
        with pytest.raises(UserInputError, match="use_pyxis must be true or false") as info:
            make_sdk("slurm", {"state_dir": str(tmp_path / "state"), "use_pyxis": value})
        assert info.value.field in ("use_pyxis", "platform_options.use_pyxis"), info.value.field
    assert make_sdk("slurm", {"state_dir": str(tmp_path / "state"), "use_pyxis": False}).use_pyxis is False


def test_a_bad_platform_options_value_names_platform_options(tmp_path: Path) -> None:
    """`platform_options.time_limit: abc` gave field, value and allowed null."""
    with pytest.raises(UserInputError) as caught:
        make_sdk("slurm", {"time_limit": "abc", "state_dir": str(tmp_path / "s")})
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == ("platform_options.time_limit", "abc")
    assert error["allowed"] and error["message"].startswith("platform_options.time_limit: time_limit must be")


def test_preflight_of_a_real_slurm_refuses_a_job_its_partition_cannot_hold(sdk: SlurmSDK) -> None:
    """The real single-node partition (ci/slurm_up.sh): 2 nodes, an unknown partition and more CPUs than the node
    has are refused; a job that fits passes."""
    cpus = int(subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True)
               .stdout.split()[0].rstrip("+"))
    for options, field in (({"num_nodes": 2}, "platform_kwargs.num_nodes"),
                           ({"cpus_per_task": cpus + 1}, "platform_kwargs.cpus_per_task"),
                           ({"partition": "nosuchpart"}, "platform_kwargs.partition")):
        failed = [c for c in sdk.preflight(None, 0, job_options=options) if c.ok is False]
        assert [c.error.field for c in failed if c.error is not None] == [field], failed
    assert all(c.ok for c in sdk.preflight(None, 0, job_options={"cpus_per_task": 1, "gpu_count": 0}))


def test_preflight_does_not_say_slurm_offers_no_image_check_when_it_stopped_at_a_failed_check(
        sdk: SlurmSDK, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An audit's `tao-automl preflight` of a Slurm run with an unknown partition listed, under the failed partition,
    `image  example/toy:1: not checked (SlurmSDK offers no check)`, though Slurm's preflight checks the image (it
    stops at the first failed check): the line now says the image was not checked because of that failed check."""
    import yaml

    from tao_automl.cli.main import main

    config = {"platform": "slurm", "skill_dir": str(write_skill(tmp_path / "bank")), "workspace_path": "ws",
              "automl_settings": {"metric": "val_loss", "automl_max_recommendations": 2},
              "platform_options": {"state_dir": str(tmp_path / "state")},
              "platform_kwargs": {"gpu_count": 0, "partition": "nosuchpart"}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["preflight", str(path), "--json"]) == 2
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["partition"]["ok"] is False
    image = checks["image"]
    assert image["ok"] is None and "offers no check" not in image["detail"], image
    assert "example/toy:1: not checked" in image["detail"] and "partition" in image["detail"], image


def test_preflight_refuses_a_time_limit_above_the_partitions_max_time(sdk: SlurmSDK, tmp_path: Path) -> None:
    """A partition with MaxTime=1 and `time_limit: 10` passed preflight ("ok partition", "resources fits"); every job
    then waited in the queue for ever (Slurm's reason: PartitionTimeLimit). A real partition made for the test."""
    node = parse_scontrol(subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True, text=True,
                                         check=True).stdout.splitlines()[0])["NodeName"]
    name = f"short{uuid.uuid4().hex[:6]}"
    subprocess.run(["scontrol", "create", f"PartitionName={name}", f"Nodes={node}", "MaxTime=1", "State=UP"],
                   check=True, capture_output=True)
    try:
        failed = [c for c in sdk.preflight(None, 0, job_options={"partition": name, "time_limit": 10, "gpu_count": 0})
                  if c.ok is False]
        assert [(c.error.field, c.error.value, c.error.allowed) for c in failed if c.error is not None] == [
            ("platform_kwargs.time_limit", 10, "at most 1 minutes")], failed
        assert "PartitionTimeLimit" in failed[0].detail
        for fits in (1, "00:30", "0:45"):
            assert all(c.ok for c in sdk.preflight(None, 0, job_options={"partition": name, "time_limit": fits,
                                                                         "gpu_count": 0})), fits
        assert [c.error.field for c in sdk.preflight(None, 0, job_options={"partition": name, "time_limit": 0,
                                                                           "gpu_count": 0})
                if c.error is not None] == ["platform_kwargs.time_limit"]  # 0: no limit, above any MaxTime
        options = SlurmSDK(state_dir=tmp_path / "s2", jobs_dir=str(tmp_path / "jobs"), time_limit=5)
        [check] = [c for c in options.preflight(None, 0, job_options={"partition": name, "gpu_count": 0})
                   if c.ok is False]
        assert check.error is not None and check.error.field == "platform_options.time_limit"
    finally:
        subprocess.run(["scontrol", "delete", f"PartitionName={name}"], check=False, capture_output=True)


def test_preflight_of_a_real_hidden_partition_as_a_user_who_does_not_see_it(sdk: SlurmSDK,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The hidden-partition case on the real Slurm, its commands run as user nobody (root sees hidden partitions in
    a plain sinfo): sinfo -a (which refuses -p) lists it, sbatch --test-only takes a job there."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to ask Slurm as another user")
    node = parse_scontrol(subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True, text=True,
                                         check=True).stdout.splitlines()[0])["NodeName"]
    name = f"hid{uuid.uuid4().hex[:6]}"
    subprocess.run(["scontrol", "create", f"PartitionName={name}", f"Nodes={node}", "Hidden=YES", "MaxTime=5",
                    "State=UP"], check=True, capture_output=True)
    real_run = sdk.shell.run

    def as_nobody(argv: Sequence[str], *args: Any, **kwargs: Any) -> Result:
        nobody = argv[0] in ("sinfo", "scontrol", "sbatch")
        return real_run([*(["runuser", "-u", "nobody", "--"] if nobody else []), *argv], *args, **kwargs)

    monkeypatch.setattr(sdk.shell, "run", as_nobody)
    try:
        assert name not in sdk.shell.run(["sinfo", "-h", "-o", "%P"]).stdout  # hidden from this user
        checks = {c.check: c for c in sdk.preflight(None, 0, job_options={"partition": name})}
        assert checks["partition"].ok and checks["resources"].ok, checks
        [over] = [c for c in sdk.preflight(None, 0, job_options={"partition": name, "time_limit": 10}) if not c.ok]
        assert over.error is not None and over.error.field == "platform_kwargs.time_limit", over
    finally:
        subprocess.run(["scontrol", "delete", f"PartitionName={name}"], check=False, capture_output=True)


ACCOUNT_REFUSED = (
    "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified")


def _account_sdk(tmp_path: Path, test_only: Result, parsable: Result, accounts: Result | None = None,
                 **options: Any) -> SlurmSDK:
    """A fake cluster that enforces accounts: ``sbatch --test-only`` answers ``test_only``, a submission
    ``parsable``, ``sacctmgr`` (through sh -c) ``accounts`` (None: no slurmdbd)."""
    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir=str(tmp_path / "jobs"), **options)

    def answer(argv: list[str]) -> Result:
        if argv[0] == "sinfo":
            return Result(0, SINFO, "")
        if argv[0] == "sbatch":
            return test_only if "--test-only" in argv else parsable
        if argv[:2] == ["sh", "-c"] and "sacctmgr" in argv[2]:
            return accounts or Result(1, "", "You are not running a supported accounting_storage plugin")
        return Result(0, "", "")  # the jobs dir's probe
    sdk.shell = FakeShell(answer)
    return sdk


def test_preflight_asks_slurmctld_whether_it_takes_the_jobs_account(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit found `account` never checked: a wrong one passed preflight and every rec failed at submission with
    kind platform and the hint "resume once the platform works" (a resume keeps the account)."""
    monkeypatch.delenv("SLURM_ACCOUNT", raising=False)
    refused = Result(1, "", ACCOUNT_REFUSED)
    sdk = _account_sdk(tmp_path, refused, refused, Result(0, "team1\nteam2\n", ""))
    [check] = [c for c in sdk.preflight(None, 0, job_options={"account": "nosuch", "partition": "gpu"})
               if c.ok is False]
    assert check.check == "account" and check.error is not None
    assert (check.error.field, check.error.value, check.error.allowed) == (
        "platform_kwargs.account", "nosuch", ["team1", "team2"])
    assert "Invalid account" in check.detail and "a resume keeps the run's account" in check.detail
    [test_only] = [a for a in sdk.shell.calls if a[0] == "sbatch"]
    assert "--test-only" in test_only and "--account=nosuch" in test_only and "--partition=gpu" in test_only
    assert not any("--parsable" in a for a in sdk.shell.calls)  # nothing submitted
    # the SDK's own option, without sacctmgr (no slurmdbd): allowed says how to list them
    options = _account_sdk(tmp_path, refused, refused, account="nosuch")
    [check] = [c for c in options.preflight(None, 0, job_options={}) if c.ok is False]
    assert check.error is not None and check.error.field == "platform_options.account"
    assert "sacctmgr show associations" in str(check.error.allowed)
    monkeypatch.setenv("SLURM_ACCOUNT", "nosuch")
    [check] = [c for c in _account_sdk(tmp_path, refused, refused).preflight(None, 0, job_options={})
               if c.ok is False]
    assert check.error is not None and check.error.field == "SLURM_ACCOUNT"
    monkeypatch.delenv("SLURM_ACCOUNT")
    ok = {c.check: c for c in _account_sdk(tmp_path, Result(0, "", "sbatch: Job 7 to start at ..."), refused)
          .preflight(None, 0, job_options={"account": "team1"})}
    assert ok["account"].ok is True and "team1 (platform_kwargs.account)" in ok["account"].detail
    other = {c.check: c for c in _account_sdk(tmp_path, Result(1, "", "sbatch: error: something else"), refused)
             .preflight(None, 0, job_options={"account": "team1"})}
    assert other["account"].ok is None and "something else" in other["account"].detail  # not blamed on the account
    assert "account" not in {c.check for c in _account_sdk(tmp_path, refused, refused).preflight(None, 0, {})}


def test_a_submission_refused_for_its_account_stops_the_sweep_naming_account_and_a_new_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurm refused every rec's job for its account (one preflight let through); each rec failed with kind platform
    and the next step said to resume once the platform works, though a resume keeps the account."""
    monkeypatch.delenv("SLURM_ACCOUNT", raising=False)
    sdk = _account_sdk(tmp_path, Result(0, "", ""), Result(1, "", ACCOUNT_REFUSED))
    with pytest.raises(UserInputError) as caught:
        sdk.create_job(None, "true", gpu_count=0, job_name="rec-1", account="gone")
    assert (caught.value.field, caught.value.value) == ("account", "gone")
    assert "a resume keeps the run's account" in str(caught.value) and "start a new run" in str(caught.value)
    skill = write_skill(tmp_path / "bank")
    with pytest.raises(UserInputError) as caught:
        AutoMLRunner(sdk, skill).run(automl_settings={"automl_max_recommendations": 2, "metric": "val_loss"},
                                     workspace_path=tmp_path / "ws", gpu_count=0, account="gone")
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == ("platform_kwargs.account", "gone"), error
    assert "start a new run" in error["hint"] and "resume once the platform works" not in error["hint"]
    other = _account_sdk(tmp_path, Result(0, "", ""), Result(1, "", "sbatch: error: Batch job submission failed: "
                                                                       "Invalid partition name specified"))
    with pytest.raises(PlatformError) as failed:  # other refusals stay the platform's
        other.create_job(None, "true", gpu_count=0, job_name="rec-2", account="team1")
    assert not isinstance(failed.value, UserInputError)


def test_preflight_of_a_real_slurm_checks_the_account_without_submitting(sdk: SlurmSDK) -> None:
    """The local Slurm keeps no accounting, so slurmctld takes any account: the check passes, asked of the real
    slurmctld with `sbatch --test-only` (which submits nothing)."""
    before = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True).stdout.split()
    checks = {c.check: c for c in sdk.preflight(None, 0, job_options={"account": "anyaccount", "gpu_count": 0})}
    assert checks["account"].ok is True, checks["account"]
    assert "anyaccount (platform_kwargs.account): slurmctld would take a job" in checks["account"].detail
    after = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True).stdout.split()
    assert after == before


def test_preflight_refuses_cpus_or_memory_above_the_partitions_per_node_limits(tmp_path: Path) -> None:
    """A partition's MaxCPUsPerNode / MaxMemPerNode (below what its nodes have) were not read: a job asking for
    more passed preflight and every one waited for ever (Slurm's reasons: PartitionConfig, MaxMemPerLimit)."""
    sdk = _sinfo_sdk(tmp_path)
    limits = ("PartitionName=debug AllowGroups=ALL Default=YES MaxNodes=UNLIMITED MaxTime=UNLIMITED "
              "MaxCPUsPerNode=1 Nodes=vm State=UP TotalCPUs=2 DefMemPerNode=UNLIMITED MaxMemPerNode=500\n"
              "PartitionName=gpu MaxCPUsPerNode=UNLIMITED Nodes=g[1-3] State=UP MaxMemPerNode=UNLIMITED\n")
    answer = sdk.shell.answer  # type: ignore[attr-defined]
    sdk.shell.answer = lambda argv: (Result(0, limits, "") if argv[:3] == ["scontrol", "show", "partition"]  # type: ignore[attr-defined]
                                     else answer(argv))
    for options, field, value, allowed, reason in (
            ({"cpus_per_task": 2}, "platform_kwargs.cpus_per_task", 2, "cpus_per_task x ntasks_per_node <= 1",
             "MaxCPUsPerNode is 1"),
            ({"ntasks_per_node": 2}, "platform_kwargs.ntasks_per_node", 2, "cpus_per_task x ntasks_per_node <= 1",
             "MaxCPUsPerNode is 1"),
            ({"mem": "1G"}, "platform_kwargs.mem", "1G", "at most 500M", "MaxMemPerNode is 500 MB")):
        failed = [c for c in sdk.preflight(None, 0, job_options=options) if c.ok is False]
        assert [(c.error.field, c.error.value, c.error.allowed) for c in failed if c.error is not None] == [
            (field, value, allowed)], options
        assert reason in failed[0].detail and "would stay PENDING forever" in failed[0].detail, failed[0].detail
    assert all(c.ok for c in sdk.preflight(None, 0, job_options={"mem": 400, "cpus_per_task": 1}))
    assert all(c.ok for c in sdk.preflight(None, 0, job_options={"partition": "gpu", "mem": "900G"}))
    sdk.shell.answer = answer  # type: ignore[attr-defined]  # no scontrol answer: the limits are not known
    assert all(c.ok for c in sdk.preflight(None, 0, job_options={"mem": "1G", "cpus_per_task": 2}))


def test_preflight_of_a_real_partition_with_per_node_limits(sdk: SlurmSDK) -> None:
    """A real partition with MaxCPUsPerNode=1 and MaxMemPerNode=500: a job asking for 2 CPUs or 1000 MB waited with
    Reason PartitionConfig / MaxMemPerLimit, after passing preflight."""
    node = parse_scontrol(subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True, text=True,
                                         check=True).stdout.splitlines()[0])["NodeName"]
    name = f"lim{uuid.uuid4().hex[:6]}"
    subprocess.run(["scontrol", "create", f"PartitionName={name}", f"Nodes={node}", "MaxCPUsPerNode=1",
                    "MaxMemPerNode=500", "State=UP"], check=True, capture_output=True)
    try:
        for options, field in (({"cpus_per_task": 2}, "platform_kwargs.cpus_per_task"),
                               ({"mem": 1000}, "platform_kwargs.mem")):
            failed = [c for c in sdk.preflight(None, 0, job_options={"partition": name, "gpu_count": 0, **options})
                      if c.ok is False]
            assert [c.error.field for c in failed if c.error is not None] == [field], failed
        assert all(c.ok for c in sdk.preflight(None, 0, job_options={"partition": name, "gpu_count": 0, "mem": 400,
                                                                     "cpus_per_task": 1}))
    finally:
        subprocess.run(["scontrol", "delete", f"PartitionName={name}"], check=False, capture_output=True)


def test_a_partition_that_is_not_up_is_refused_naming_the_partitions_that_are(tmp_path: Path) -> None:
    """A down partition was refused with field `partition` but allowed "a passing check" (the check carried no error
    of its own); allowed now lists the partitions a job can run in. Also for a cluster with no default partition."""
    from tao_automl.runner.preflight import PreflightReport

    sdk = SlurmSDK(state_dir=tmp_path / "state", jobs_dir="/jobs")
    table = {"sinfo": "debug*|up|(null)|1|2|15000\ngpu|down|gpu:a100:4|2|64|500000\nold|inact|(null)|1|2|1000\n"}
    sdk.shell = FakeShell(lambda argv: Result(0, table.get(argv[0], ""), ""))
    [check] = [c for c in sdk.preflight(None, 0, job_options={"partition": "gpu"}) if c.ok is False]
    assert check.check == "partition" and check.error is not None, check
    assert (check.error.field, check.error.value) == ("platform_kwargs.partition", "gpu")
    assert check.error.allowed == "a partition in state up: debug"
    assert "gpu is down" in check.detail
    report = PreflightReport()
    report.add(check.check, check.ok, check.detail, check.error)
    assert report.error().to_json()["allowed"] == "a partition in state up: debug"
    [check] = [c for c in _with_shell(tmp_path, table, partition="gpu,old").preflight(None, 0, job_options={})
               if c.ok is False]
    assert check.error is not None and (check.error.field, check.error.value) == (
        "platform_options.partition", "gpu,old")
    table["sinfo"] = "debug|up|(null)|1|2|15000\ngpu|down|gpu:a100:4|2|64|500000\n"  # no default partition
    [check] = [c for c in sdk.preflight(None, 0, job_options={}) if c.ok is False]
    assert check.error is not None and check.error.field == "platform_kwargs.partition"
    assert check.error.value is None and check.error.allowed == ["debug", "gpu"]
    table["sinfo"] = "debug*|down|(null)|1|2|15000\n"  # the default one is down, and no other is up
    [check] = [c for c in sdk.preflight(None, 0, job_options={}) if c.ok is False]
    assert check.error is not None and check.error.field == "platform_kwargs.partition"
    assert check.error.value == "debug" and check.error.allowed == "a partition in state up: none is up now"


def _with_shell(tmp_path: Path, table: dict[str, str], **options: Any) -> SlurmSDK:
    sdk = SlurmSDK(state_dir=tmp_path / "s3", jobs_dir="/jobs", **options)
    sdk.shell = FakeShell(lambda argv: Result(0, table.get(argv[0], ""), ""))
    return sdk


@pytest.mark.parametrize(("text", "minutes"), [
    ("infinite", None), ("UNLIMITED", None), ("0", None), ("1:00", 1.0), ("10", 10.0), ("1:30:00", 90.0),
    ("1-00:00:00", 1440.0), ("2-12", 3600.0), ("5-00:30", 7230.0), ("soon", None),
])
def test_slurm_times_in_minutes(text: str, minutes: float | None) -> None:
    from tao_automl.platforms.slurm.sinfo import slurm_minutes

    assert slurm_minutes(text) == minutes


def test_a_job_that_completed_just_before_the_cancel_is_a_success_and_the_cancel_answers_false(
        sdk: SlurmSDK, monkeypatch: pytest.MonkeyPatch) -> None:
    """It ended COMPLETED in Slurm, yet cancel_job answered True (the runner then recorded it stopped and lost its
    final result): the cancel's first look (stale here: RUNNING, as a moment before) is not the answer, Slurm's
    state once the scancel is done is."""
    job = sdk.create_job(None, "echo done", gpu_count=0)
    deadline = time.monotonic() + 30
    while "JobState=COMPLETED" not in subprocess.run(["scontrol", "show", "job", "-o", job.id], capture_output=True,
                                                     text=True, check=False).stdout:
        assert time.monotonic() < deadline, "the job did not complete"
        time.sleep(0.1)
    real, calls = sdk._refresh, []

    def stale_first(rec: dict[str, Any]) -> JobStatus:
        calls.append(1)
        return JobStatus.RUNNING if len(calls) == 1 else real(rec)
    monkeypatch.setattr(sdk, "_refresh", stale_first)
    assert sdk.cancel_job(job.id) is False
    monkeypatch.undo()
    assert sdk.get_job_status(job.id) is JobStatus.SUCCESS
    assert sdk.get_failure_analysis(job.id) is None


def test_after_cancel_answers_true_the_job_writes_no_more_epochs(sdk: SlurmSDK, tmp_path: Path) -> None:
    """Regression guard (it held before): scancel returns at once and Slurm kills the job's processes up to KillWait
    later (COMPLETING meanwhile); cancel_job waits for the end, so a job that ignores SIGTERM writes nothing after
    it returns True."""
    epochs = tmp_path / "epochs"
    job = sdk.create_job(None, f"trap '' TERM; i=0; while :; do i=$((i+1)); echo $i >> {epochs}; sleep 0.1; done",
                         gpu_count=0)
    deadline = time.monotonic() + 30
    while not epochs.exists():
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.05)
    assert sdk.cancel_job(job.id) is True
    written = epochs.read_text()
    time.sleep(1)
    assert epochs.read_text() == written
    assert sdk.get_job_status(job.id) is JobStatus.CANCELLED


def test_a_cancel_waits_as_long_as_the_cluster_lets_a_job_run_after_its_sigterm(tmp_path: Path) -> None:
    """cancel_job waited at most 10 s for the job to end, but Slurm's default KillWait is 30 s: a job that ignores
    SIGTERM trains on that long after the scancel, so the cancel answered True while the job still wrote epochs
    (and a stopped rec was recorded before the last of them). It waits the cluster's KillWait + 10 s (asked once;
    Slurm's default 30 s when the cluster does not say)."""
    sdk = _fake_sdk(tmp_path, lambda argv: Result(0, "AuthType = auth/munge\nKillWait                = 45 sec\n", ""))
    assert sdk._cancel_wait_s() == 55.0 and sdk._cancel_wait_s() == 55.0
    assert isinstance(sdk.shell, FakeShell) and sdk.shell.calls.count(["scontrol", "show", "config"]) == 1
    short = _fake_sdk(tmp_path / "short", lambda argv: Result(0, "KillWait = 2 sec\n", ""))
    assert short._cancel_wait_s() == 12.0
    silent = _fake_sdk(tmp_path / "silent", lambda argv: Result(1, "", "Unable to contact slurm controller"))
    assert silent._cancel_wait_s() == 40.0


def test_the_run_configs_options_win_over_sbatch_environment_variables(sdk: SlurmSDK,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """sbatch lets SBATCH_* environment variables override a script's #SBATCH lines: with SBATCH_TIMELIMIT=1 and
    SBATCH_JOB_NAME set where the orchestrator ran (a .bashrc), a job asked for 30 minutes got 1, and its name (by
    which a resume finds it) was the variable's. The options now also go on sbatch's command line, which wins."""
    monkeypatch.setenv("SBATCH_TIMELIMIT", "1")
    monkeypatch.setenv("SBATCH_JOB_NAME", "from-env")
    name = f"env-{uuid.uuid4().hex[:8]}"
    job = sdk.create_job(None, "true", gpu_count=0, time_limit=30, job_name=name)
    try:
        fields = sdk._scontrol(job.id) or {}
        assert (fields.get("TimeLimit"), fields.get("JobName")) == ("00:30:00", name), fields
    finally:
        _wait(sdk, job.id)


def test_a_run_configs_time_limit_written_h_mm_ss_is_that_time_not_base_60_minutes(sdk: SlurmSDK,
                                                                                    tmp_path: Path) -> None:
    """An audit's run config said `time_limit: 1:30:00` (unquoted, as Slurm writes it): PyYAML (YAML 1.1) read the
    base-60 number 5400, so the jobs were submitted with --time=5400 (3.75 days, not 90 minutes), and `30:00` gave
    1800 minutes. The run config now keeps such a value as the text it is (YAML 1.2), and Slurm gets that time."""
    from tao_automl.cli.run_config import load_run_config

    bank = write_skill(tmp_path / "bank")
    config = tmp_path / "run.yaml"
    config.write_text(f"platform: slurm\nskill_dir: {bank / 'models' / 'toy-net'}\nworkspace_path: ws\n"
                      "automl_settings:\n  metric: val_loss\n"
                      "platform_kwargs:\n  gpu_count: 0\n  time_limit: 1:30:00\n")
    kwargs = dict(load_run_config(config).platform_kwargs)
    assert kwargs["time_limit"] == "1:30:00"
    gpus = kwargs.pop("gpu_count")
    job = sdk.create_job(None, "true", gpu_count=gpus, **kwargs)
    try:
        fields = sdk._scontrol(job.id) or {}
        assert fields.get("TimeLimit") == "01:30:00", fields.get("TimeLimit")
    finally:
        _wait(sdk, job.id)


@pytest.mark.parametrize(("hold", "reason"), [("uhold", "JobHeldUser"), ("hold", "JobHeldAdmin")])
def test_a_held_job_says_it_waits_for_a_release(sdk: SlurmSDK, hold: str, reason: str) -> None:
    """An audit held a rec's job (`scontrol hold`): `status` said only "Slurm: JobHeldAdmin", not that the job
    waits for a release and never starts by itself."""
    filler = sdk.create_job(None, "sleep 30", gpu_count=0, cpus_per_task=_node_cpus())  # so the job cannot start
    job = sdk.create_job(None, "true", gpu_count=0)
    try:
        subprocess.run(["scontrol", hold, job.id], check=True, capture_output=True)
        assert sdk.get_job_status(job.id) is JobStatus.PENDING
        said = sdk.get_job_info(job.id)["pending_reason"]
        assert said.startswith(f"Slurm: {reason} (held by ") and "scontrol release <job id>" in said, said
        subprocess.run(["scontrol", "release", job.id], check=True, capture_output=True)
        sdk.cancel_job(filler.id)
        assert _wait(sdk, job.id) is JobStatus.SUCCESS
    finally:
        subprocess.run(["scancel", filler.id, job.id], check=False)


def test_a_job_waiting_for_a_down_or_drained_node_says_what_its_reason_means(tmp_path: Path) -> None:
    """A job queued while its node was drained (an audit's ``scontrol update state=drain``) showed only "Slurm:
    ReqNodeNotAvail,_UnavailableNodes:vm": Slurm adds the nodes after a comma, so the meaning known for
    ReqNodeNotAvail was never found. (A FAKE scontrol answer, the real line: draining the shared node would stall
    other tests' jobs.)"""
    line = ("JobId=77 JobName=rec-1 UserId=root(0) JobState=PENDING Reason=ReqNodeNotAvail,_UnavailableNodes:vm "
            "Dependency=(null) ExitCode=0:0 TimeLimit=UNLIMITED NodeList= StdOut=/jobs/rec-1/output.log")
    sdk = _fake_sdk(tmp_path, lambda argv: Result(0, line, ""))
    _adopt(sdk, "77", time.time())
    assert sdk.get_job_status("77") is JobStatus.PENDING
    assert sdk.get_job_info("77")["pending_reason"] == (
        "Slurm: ReqNodeNotAvail,_UnavailableNodes:vm (a node it needs is not available (down, drained or reserved))")


def test_a_job_in_a_partition_that_is_down_says_it_waits_for_an_administrator(sdk: SlurmSDK) -> None:
    """A rec's job sent to a partition set down (or inactive) waited with "Slurm: PartitionDown" and no word of what
    it waits for. A partition made for the test (the shared one stays up)."""
    node = parse_scontrol(subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True, text=True,
                                         check=True).stdout.splitlines()[0])["NodeName"]
    name = f"down{uuid.uuid4().hex[:6]}"
    subprocess.run(["scontrol", "create", f"PartitionName={name}", f"Nodes={node}", "State=DOWN"], check=True,
                   capture_output=True)
    job = None
    try:
        job = sdk.create_job(None, "true", gpu_count=0, partition=name)
        for state, reason in (("DOWN", "PartitionDown"), ("INACTIVE", "PartitionInactive")):
            subprocess.run(["scontrol", "update", f"PartitionName={name}", f"State={state}"], check=True,
                           capture_output=True)
            deadline = time.monotonic() + 15
            while (said := sdk.get_job_info(job.id).get("pending_reason") or "").split(" ")[1:2] != [reason]:
                assert time.monotonic() < deadline, said
                time.sleep(0.3)
            assert f"its partition is {state.lower()}: it waits until an administrator sets it up" in said, said
    finally:
        if job is not None:
            sdk.cancel_job(job.id)
        subprocess.run(["scontrol", "delete", f"PartitionName={name}"], check=False, capture_output=True)


def _requeue_once_running(sdk: SlurmSDK, job_id: str) -> None:
    """``scontrol requeue`` the job once the SDK sees it running (as a preemption or a failed node requeues it)."""
    deadline = time.monotonic() + 20
    while sdk.get_job_status(job_id) is not JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.2)
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)


def test_a_requeued_job_says_why_it_waits_before_it_runs_again(sdk: SlurmSDK) -> None:
    """An audit requeued a rec's running job (`scontrol requeue`, as a preemption or a node failure does): the rec
    went back to pending for two minutes and `status` said only "Slurm: BeginTime"."""
    job = sdk.create_job(None, "sleep 30", gpu_count=0)
    try:
        _requeue_once_running(sdk, job.id)
        deadline = time.monotonic() + 20
        while (said := sdk.get_job_info(job.id).get("pending_reason")) is None:
            assert time.monotonic() < deadline, "the job was not requeued"
            time.sleep(0.2)
        assert said.startswith("Slurm: BeginTime (it may not start before its begin time") and "requeued" in said, said
    finally:
        subprocess.run(["scancel", job.id], check=False)


def test_a_requeued_job_slurm_forgot_ends_as_its_last_run_did(sdk: SlurmSDK, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job requeued once (`scontrol requeue`; likewise a preemption or a node failure) has two jobcomp lines: the
    first says PENDING (requeued), the last how it ended. Once Slurm forgot the job, `sacct -c`'s first line was
    read, so an audit's rec stayed pending forever though its job had ended; the last line is read now."""
    job = sdk.create_job(None, "sleep 4", gpu_count=0)
    _requeue_once_running(sdk, job.id)
    deadline = time.monotonic() + 20
    while subprocess.run(["squeue", "-h", "-j", job.id, "-o", "%T"], capture_output=True,
                         text=True).stdout.strip() != "PENDING":
        assert time.monotonic() < deadline, "the job was not requeued"
        time.sleep(0.2)
    # a requeued job waits (BeginTime, about 2 minutes) before it runs again: end it now (forcing an immediate
    # start races slurmd, which refuses to launch a job it has just killed)
    assert sdk.cancel_job(job.id)
    deadline = time.monotonic() + 10
    while len(subprocess.run(["sacct", "-c", "-n", "-P", "-j", job.id, "-o", "JobID,State"], capture_output=True,
                             text=True).stdout.split()) < 2:  # the final line is written just after the end
        assert time.monotonic() < deadline, "no second jobcomp line"
        time.sleep(0.2)
    rec = sdk._record(job.id)  # as a dead orchestrator last saw it, then forgotten by Slurm
    rec.update(state=JobStatus.RUNNING.value, submitted_at=time.time() - 3600)
    sdk.records.save(rec)
    monkeypatch.setattr(sdk, "_scontrol", lambda job_id: None)
    monkeypatch.setattr(sdk, "_sacct_args", ["sacct", "-c"])
    assert sdk.get_job_status(job.id) is JobStatus.CANCELLED
    assert sdk.get_job_info(job.id)["slurm_state"] == "CANCELLED"


def test_a_job_that_waited_for_resources_and_failed_unseen_is_not_said_to_fail_for_resources(
        sdk: SlurmSDK, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurm's Reason of a queued job (Resources) stayed in the job's record after it started, since a running job's
    Reason=None was skipped: a job that then failed while no orchestrator ran, read from the jobcomp record once
    Slurm forgot it, was described as "FAILED ... with exit code 3 [Resources]"."""
    filler = sdk.create_job(None, "sleep 30", gpu_count=0, cpus_per_task=_node_cpus())
    job = sdk.create_job(None, "exit 3", gpu_count=0)
    try:
        deadline = time.monotonic() + 20
        while sdk.get_job_info(job.id).get("reason") not in ("Resources", "Priority"):
            assert time.monotonic() < deadline, sdk.get_job_info(job.id)
            time.sleep(0.2)
    finally:
        subprocess.run(["scancel", filler.id], check=False)
    deadline = time.monotonic() + 30  # the orchestrator is gone: the job runs and fails unseen
    while "FAILED" not in subprocess.run(["sacct", "-c", "-n", "-P", "-j", job.id, "-o", "JobID,State"],
                                         capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, "the job did not fail"
        time.sleep(0.2)
    rec = sdk._record(job.id)
    rec.update(submitted_at=time.time() - 3600)
    sdk.records.save(rec)
    monkeypatch.setattr(sdk, "_scontrol", lambda job_id: None)  # Slurm forgot it
    assert sdk.get_job_status(job.id) is JobStatus.FAILURE
    analysis = sdk.get_failure_analysis(job.id) or {}
    assert analysis["reason"] is None and "Resources" not in analysis["message"] \
        and "Priority" not in analysis["message"], analysis
    assert "with exit code 3" in analysis["message"]


def test_a_multi_task_job_whose_task_failed_says_which_task_and_why(sdk: SlurmSDK) -> None:
    """An audit's 2-task job where rank 1 raised (exit 5) was described as "FAILED ... with exit code 143
    [NonZeroExitCode]: srun: error: vm: task 0: Terminated": srun's kill of the healthy rank, not the cause."""
    command = ('if [ "$RANK" = 1 ]; then echo "RuntimeError: rank 1 has no data" >&2; exit 5; fi; sleep 20')
    job = sdk.create_job(None, command, gpu_count=0, num_nodes=1, ntasks_per_node=2)
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    message = (sdk.get_failure_analysis(job.id) or {})["message"]
    assert "(task 1 exited with exit code 5 first; srun then stopped the other tasks): RuntimeError: rank 1 has no " \
           "data." in message, message
    assert "Terminated" not in message, message


def test_a_requeued_job_is_not_timed_out_for_its_time_back_in_the_queue(sdk: SlurmSDK, tmp_path: Path) -> None:
    """An audit requeued a rec's job 4 s after it started (`scontrol requeue`, as a preemption or a failed node does)
    in a sweep with automl_job_timeout_s: 15; Slurm held it in the queue for its ~2 minute BeginTime, and the sweep
    cancelled it there as "timed out: the job ran longer than 15 s". The timeout counts from the job's last start."""
    import threading

    runner = AutoMLRunner(sdk, write_skill(tmp_path / "bank"))
    result: dict[str, Any] = {}
    sweep = threading.Thread(target=lambda: result.update(runner.run(
        automl_settings={"metric": "val_loss", "automl_max_recommendations": 1, "poll_interval_s": 0.2,
                         "automl_job_timeout_s": 5},
        workspace_path=tmp_path / "ws", gpu_count=0, spec_overrides={"train.sleep": 60})))
    sweep.start()
    job_id = ""
    try:
        deadline = time.monotonic() + 30
        while not job_id:
            assert time.monotonic() < deadline and sweep.is_alive(), "the rec's job did not start"
            out = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i %j"], capture_output=True, text=True).stdout
            job_id = next((line.split()[0] for line in out.splitlines() if line.split()[1].startswith("run_")), "")
            time.sleep(0.2)
        time.sleep(1)
        subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)
        time.sleep(8)  # longer than the timeout since the first start, all of it back in the queue
        state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout
        assert state.strip() == "PENDING", state
        assert sweep.is_alive()
    finally:
        subprocess.run(["scancel", job_id], check=False)
    sweep.join(60)
    [row] = result["history"]
    assert row["status"] == "cancelled" and "cancelled outside this sweep" in row["message"], row


def test_cancels_of_several_jobs_run_at_once(sdk: SlurmSDK, tmp_path: Path) -> None:
    """`stop --cancel-jobs` cancelled one job after the other, and each cancel held the SDK's lock while it waited
    for its job to end (KillWait and more after the SIGTERM: 4.8 s with KillWait 2 s here), so cancels from several
    threads ran one after the other too. The wait holds no lock now: 2 jobs that ignore SIGTERM are cancelled in
    about the time of one."""
    from concurrent.futures import ThreadPoolExecutor

    def cancel_at_once(count: int) -> float:
        marks = [tmp_path / f"started{count}-{i}" for i in range(count)]
        jobs = [sdk.create_job(None, f"trap '' TERM; touch {m}; while :; do sleep 0.1; done", gpu_count=0)
                for m in marks]
        deadline = time.monotonic() + 30
        while not all(m.exists() for m in marks):
            assert time.monotonic() < deadline, "the jobs did not start"
            time.sleep(0.05)
        began = time.monotonic()
        with ThreadPoolExecutor(count) as pool:
            answers = list(pool.map(sdk.cancel_job, [job.id for job in jobs]))
        took = time.monotonic() - began
        assert answers == [True] * count, (answers, took)
        assert all(sdk.get_job_status(job.id) is JobStatus.CANCELLED for job in jobs)
        return took

    one = cancel_at_once(1)
    two = cancel_at_once(2)
    assert two < 1.5 * one, f"2 cancels took {two:.1f} s, one {one:.1f} s: one cancel after the other"

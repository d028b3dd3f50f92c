"""KubernetesSDK: unit tests of the manifests it builds, then a real cluster (etcd + kube-apiserver +
controller-manager + scheduler + a kubelet on dockerd) started by ci/docker_up.sh and ci/k8s_up.sh."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import stop_at_session_end, write_shell_skill, write_skill
from platform_helpers import (
    busybox_trainer,
    cancel_at_once,
    released_jobs_answer_from_records,
    stale_first_refresh,
)
from tao_automl.errors import PlatformError, UserInputError
from tao_automl.experiment.store import RunStore
from tao_automl.platforms.base import JobStatus
from tao_automl.platforms.common import rfc3339_time
from tao_automl.platforms.kubernetes.manifest import (
    EXIT_RECORDER,
    GPU_RESOURCE,
    INDEX_ANNOTATION,
    JOB_LABEL,
    exit_file,
    job_manifest,
    k8s_name,
    service_manifest,
    tolerations,
)
from tao_automl.platforms.kubernetes.state import PodsAfterDelete, failed_pod, pod_info, to_status
from tao_automl.platforms.registry import make_sdk
from tao_automl.platforms.retry import TransientPlatformError
from tao_automl.runner.loop import AutoMLRunner, _Waiting
from tao_automl.testing import CHECKS, Conformance

kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes extra is not installed: "
                                                      "pip install -e '.[kubernetes]'")

from tao_automl.platforms.kubernetes.sdk import _CANCEL_MARGIN_S, KubernetesSDK  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("K8S_WORK", "/tmp/tao-automl-ci/k8s"))
KUBECONFIG = WORK / "kubeconfig"
IMAGE = os.environ.get("TEST_IMAGE", "tao-automl-ci/busybox:static")
NAMESPACE = "tao-automl-test"


def _manifest(**kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"name": "tao-x-0123456789", "image": "img:1", "command": "echo hi", "gpu_count": 0,
                            "env_vars": None, "results_dir": "/tmp/res", "job_name": "run_x-rec0003",
                            "kwargs": {}, "defaults": {}}
    args.update(kwargs)
    return job_manifest(**args)


# ------------------------------------------------------------------ unit tests (no cluster needed)
def test_names_are_valid_deterministic_and_leave_room_for_an_index() -> None:
    name = k8s_name("Run_2026-01-01_ABC/rec0001 " + "x" * 80, "fallback")
    assert name == k8s_name("Run_2026-01-01_ABC/rec0001 " + "x" * 80, "other")
    assert len(name) <= 52 and name.startswith("tao-run-2026-01-01-abc-rec0001") and name[-11] == "-"
    assert k8s_name("a", "x") != k8s_name("A", "x")  # same slug, different hash
    assert k8s_name(None, "tao-job-1") == "tao-job-1"


def test_single_node_job_runs_the_command_with_env_labels_and_same_path_mounts(tmp_path: Path) -> None:
    spec = tmp_path / "rec_0003" / "train_spec.yaml"
    spec.parent.mkdir()
    spec.write_text("a: 1\n")
    job = _manifest(command=f"train -e {spec}", env_vars={"A": 1}, results_dir=str(tmp_path / "res"),
                    kwargs={"memory": "2Gi", "cpu": "500m"}, defaults={"backoff_limit": 0, "host_network": True,
                                                                       "ttl_seconds_after_finished": 60})
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    spec_ = job["spec"]
    assert spec_["backoffLimit"] == 0 and spec_["completions"] == spec_["parallelism"] == 1
    assert "completionMode" not in spec_ and spec_["ttlSecondsAfterFinished"] == 60
    pod = spec_["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["sh", "-c", EXIT_RECORDER, "tao-automl",
                                    f"{tmp_path}/res/.tao-automl-exit.tao-x-0123456789", "sh", "-c", f"train -e {spec}"]
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert container["resources"] == {"limits": {"cpu": "500m", "memory": "2Gi"},
                                      "requests": {"cpu": "500m", "memory": "2Gi"}}
    assert pod["restartPolicy"] == "Never" and pod["hostNetwork"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    paths = {v["hostPath"]["path"]: v for v in pod["volumes"]}
    assert set(mounts) == set(paths) == {str(tmp_path / "res"), str(spec.parent)}
    assert paths[str(tmp_path / "res")]["hostPath"]["type"] == "DirectoryOrCreate"
    labels = spec_["template"]["metadata"]["labels"]
    assert labels == {JOB_LABEL: "tao-x-0123456789", "tao-automl/managed": "true", "tao-automl/run": "run_x",
                      "tao-automl/rec": "3"}
    assert job["metadata"]["annotations"]["tao-automl/job-name"] == "run_x-rec0003"


def test_the_jobs_dataset_and_checkpoint_paths_are_mounted_read_only_at_the_same_path(tmp_path: Path) -> None:
    """A rec's spec names its data and checkpoint by host path, passed as the job's ``inputs``; only the results dir
    and the spec's folder were mounted, so the trainer in the pod found none of its data."""
    images, ckpt = tmp_path / "ds" / "images", tmp_path / "m.pth"
    images.mkdir(parents=True)
    ckpt.write_text("w")
    inputs = {"dataset.train_img_dir": str(images), "train.pretrained_model_path": str(ckpt),
              "dataset.gone": "/nope/x", "dataset.remote": "s3://b/x"}
    pod = _manifest(results_dir=str(tmp_path / "res"), inputs=inputs)["spec"]["template"]["spec"]
    paths = {v["hostPath"]["path"]: v["hostPath"]["type"] for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["readOnly"] for m in pod["containers"][0]["volumeMounts"]}
    assert paths == {str(tmp_path / "res"): "DirectoryOrCreate", str(images): "Directory", str(ckpt): "File"}
    assert mounts == {str(tmp_path / "res"): False, str(images): True, str(ckpt): True}
    off = _manifest(results_dir="/r", inputs=inputs, defaults={"mount_command_paths": False})
    assert [v["hostPath"]["path"] for v in off["spec"]["template"]["spec"]["volumes"]] == ["/r"]


def test_the_exit_recorder_keeps_the_exit_status_records_it_and_passes_sigterm_on(tmp_path: Path) -> None:
    """A shell command runs under EXIT_RECORDER, which writes its exit status to <results>/.tao-automl-exit.<job>.<rank>
    (read when the Job is gone before it was seen to finish) and exits with it; a SIGTERM to it (the kubelet's, on a
    delete) reaches the command and is written down with the status; a list command runs as it is (no shell)."""
    def run(command: str, rank: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = job_manifest(name="tao-x", image="i", command=command, gpu_count=0, env_vars=None,
                            results_dir=str(tmp_path), job_name=None, kwargs={}, defaults={}
                            )["spec"]["template"]["spec"]["containers"][0]["command"]
        env = {**os.environ, **({"JOB_COMPLETION_INDEX": rank} if rank else {})}
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, env=env)

    out = run("echo hi; exit 3")
    assert (out.returncode, out.stdout) == (3, "hi\n")
    assert Path(exit_file(str(tmp_path), "tao-x", 0)).read_text() == "3\n"
    assert run("true", rank="2").returncode == 0 and Path(exit_file(str(tmp_path), "tao-x", 2)).read_text() == "0\n"
    argv = job_manifest(name="tao-x", image="i", command="trap 'echo got TERM; exit 0' TERM; echo up; sleep 30 & wait",
                        gpu_count=0, env_vars=None, results_dir=str(tmp_path), job_name=None, kwargs={}, defaults={}
                        )["spec"]["template"]["spec"]["containers"][0]["command"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    proc.terminate()
    assert proc.wait(timeout=10) == 0 and "got TERM" in proc.stdout.read()
    assert Path(exit_file(str(tmp_path), "tao-x", 0)).read_text() == "0 TERM\n"
    assert _manifest(command=["python", "train.py"])["spec"]["template"]["spec"]["containers"][0]["command"] == \
        ["python", "train.py"]


def test_the_recorded_exit_needs_every_rank_and_no_signal(tmp_path: Path) -> None:
    rec = {"id": "tao-y", "results_dir": str(tmp_path), "num_nodes": 2}
    assert KubernetesSDK._recorded_exit(rec) is None
    Path(exit_file(str(tmp_path), "tao-y", 0)).write_text("0\n")
    assert KubernetesSDK._recorded_exit(rec) is None  # rank 1 wrote nothing
    Path(exit_file(str(tmp_path), "tao-y", 1)).write_text("2\n")
    assert KubernetesSDK._recorded_exit(rec)[:2] == (1, 2)  # type: ignore[index]
    Path(exit_file(str(tmp_path), "tao-y", 1)).write_text("0\n")
    assert KubernetesSDK._recorded_exit(rec)[:2] == (0, 0)  # type: ignore[index]
    Path(exit_file(str(tmp_path), "tao-y", 1)).write_text("143 TERM\n")  # stopped by the delete: no verdict
    assert KubernetesSDK._recorded_exit(rec) is None


def test_gpu_count_becomes_an_nvidia_gpu_limit() -> None:
    resources = _manifest(gpu_count=2)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {GPU_RESOURCE: "2"}}
    assert _manifest(gpu_count=0)["spec"]["template"]["spec"]["containers"][0]["resources"] == {}
    with pytest.raises(UserInputError, match="memory must be a Kubernetes quantity") as caught:
        _manifest(kwargs={"memory": "lots"})
    assert (caught.value.field, caught.value.value) == ("memory", "lots")
    # what the API server takes: '.5Gi' and '1.' were refused before
    for cpu, memory in ((".5", ".5Gi"), ("1.", "1.5e9"), ("250m", "512Mi")):
        limits = _manifest(kwargs={"cpu": cpu, "memory": memory})["spec"]["template"]["spec"]["containers"][0]
        assert limits["resources"]["limits"] == {"cpu": cpu, "memory": memory}


def test_a_jobs_ttl_after_finished_defaults_to_the_readmes_seconds(tmp_path: Path) -> None:
    """README: a Job is removed "by `ttl_seconds_after_finished`, default 3600 s": an SDK given none writes that many
    seconds into each Job (a kubeconfig that names a server is enough to build the SDK; nothing is contacted)."""
    from conftest import readme_says

    stated, = readme_says(r"\(by `ttl_seconds_after_finished`, default (\d+) s,")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    sdk = KubernetesSDK(kubeconfig=str(kubeconfig), namespace="x", image="i", state_dir=str(tmp_path / "state"))
    assert _manifest(defaults=sdk.defaults)["spec"]["ttlSecondsAfterFinished"] == int(stated)
    assert "ttlSecondsAfterFinished" not in _manifest(defaults={**sdk.defaults, "ttl_seconds_after_finished": None})[
        "spec"]


@pytest.mark.parametrize("text", [
    ".5Gi", "1.", "500m", "1e3", "2Ki", "1E", "0.5", "250u", "10n", "1E3", "1e-3", "1.5e+9", "8Ei", "0",
    "1.5.5", "Gi", "-1", "+1", "1 Gi", " 1", "2\n", "1e", "1.e", "1K", "1Kb", "1mi", ".", "", "e3", "0x10"])
def test_the_manifest_refuses_exactly_the_quantities_preflight_cannot_read(text: str) -> None:
    """Two grammars read a cpu/memory quantity: the manifest's check and preflight's parse (fit.quantity), which
    disagreed: '1e' made the parse raise ValueError, ' 1' was read but refused, '250u', '10n', '1E3' and '1e-3'
    (apimachinery's micro, nano and exponents) were refused. Both now read one grammar, the API server's."""
    from tao_automl.platforms.kubernetes.fit import quantity

    try:
        _manifest(kwargs={"cpu": text})
        accepted = True
    except UserInputError:
        accepted = False
    assert accepted == (quantity(text) is not None), (text, accepted, quantity(text))


def test_quantities_read_as_the_api_server_reads_them() -> None:
    from decimal import Decimal

    from tao_automl.platforms.kubernetes.fit import quantity

    for text, value in ((".5Gi", 2**29), ("1.", 1), ("500m", "0.5"), ("1e3", 1000), ("2Ki", 2048), ("1E", 10**18),
                        ("250u", "0.00025"), ("10n", "1e-8"), ("1E3", 1000), ("1e-3", "0.001"), ("8Ei", 2**63)):
        assert quantity(text) == Decimal(value), text
    for bad in ("1.5.5", "Gi", "-1", "1 Gi", "1e", "2\n"):
        assert quantity(bad) is None, bad


def test_n_nodes_make_an_indexed_job_with_rank_env_and_a_headless_service() -> None:
    job = _manifest(kwargs={"num_nodes": 3, "master_port": 23456})
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 3
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == "tao-x-0123456789"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.annotations['{INDEX_ANNOTATION}']"
    assert env["NUM_NODES"]["value"] == "3" and env["MASTER_PORT"]["value"] == "23456"
    assert env["MASTER_ADDR"]["value"] == "tao-x-0123456789-0.tao-x-0123456789"
    service = service_manifest("tao-x-0123456789", {JOB_LABEL: "tao-x-0123456789"}, "uid-1")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["selector"] == {JOB_LABEL: "tao-x-0123456789"}
    assert service["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    with pytest.raises(UserInputError, match="num_nodes must be an integer >= 1, got 0"):
        _manifest(kwargs={"num_nodes": 0})


def test_node_selector_and_tolerations_reach_the_pod_and_bad_ones_are_refused() -> None:
    tol = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    pod = _manifest(kwargs={"node_selector": {"gpu": "a100"}, "tolerations": tol})["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "a100"} and pod["tolerations"] == tol
    with pytest.raises(UserInputError, match=r"unknown key 'efect' \(did you mean 'effect'\?\)"):
        tolerations([{"key": "a", "efect": "NoSchedule"}])
    with pytest.raises(UserInputError, match="effect must be one of"):
        tolerations([{"key": "a", "effect": "Sometimes"}])
    with pytest.raises(UserInputError, match="tolerations must be a list"):
        tolerations({"key": "a"})
    with pytest.raises(UserInputError, match="image_pull_policy must be one of Always, IfNotPresent, Never"):
        _manifest(kwargs={"image_pull_policy": "Sometimes"})


@pytest.mark.parametrize(("kwargs", "field"), [({"image_pull_policy": "Sometimes"}, "image_pull_policy"),
                                               ({"working_dir": "work"}, "working_dir")])
def test_a_bad_pod_option_names_its_field(kwargs: dict[str, Any], field: str) -> None:
    """These refusals carried no field (the CLI's JSON error then had `field: null`, an agent could not tell which
    setting to change)."""
    with pytest.raises(UserInputError) as caught:
        _manifest(kwargs=kwargs)
    assert (caught.value.field, caught.value.value) == (field, kwargs[field])
    with pytest.raises(UserInputError) as bad_env:
        _manifest(env_vars={"1BAD": "x"})
    assert (bad_env.value.field, bad_env.value.value) == ("env_vars", "1BAD")


@pytest.mark.parametrize(("bad", "why"), [
    ({"key": "a", "operator": "Exists", "value": "b"}, "operator 'Exists' takes no value, got 'b'"),
    ({"operator": "Equal", "value": "b"}, "without key must have operator 'Exists'"),
    ({"key": "a", "effect": "NoSchedule", "tolerationSeconds": 5}, "tolerationSeconds needs effect 'NoExecute'"),
    ({"key": "a", "effect": "NoExecute", "tolerationSeconds": "5"}, "tolerationSeconds must be an integer, got '5'"),
    ({"key": "bad key", "operator": "Exists"}, "key 'bad key' is not a label key"),
    ({"key": 5, "operator": "Exists"}, "key 5 is not a label key"),
    ({"key": "a", "value": "bad value!"}, "value 'bad value!' is not a label value"),
])
def test_tolerations_the_api_server_refuses_are_refused_naming_tolerations(bad: dict[str, Any], why: str) -> None:
    """Only the keys, operator and effect of a toleration were checked: each of these passed the run's checks and
    every rec's Job was then refused by the API server (HTTP 422), or by the client before it (a key or
    tolerationSeconds of the wrong type). They are refused before any Job exists now, as the API server would."""
    for good in ({"operator": "Exists"}, {"key": "a", "value": None},
                 {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": 30}):
        assert tolerations([good]) == [good]
    with pytest.raises(UserInputError, match=r"^tolerations: ") as caught:
        tolerations([{"operator": "Exists"}, bad])
    assert why in caught.value.detail and caught.value.field == "tolerations", caught.value.to_json()
    assert str(caught.value.allowed).startswith("a list of mappings"), caught.value.to_json()


@pytest.mark.parametrize("bad", [{"my team": "vision"}, {"": "x"}, {"x" * 64: "y"}, {"team": "a b"},
                                 {"tao-automl/job": "other"}, ["team"]])
def test_labels_the_api_server_refuses_or_that_replace_the_tools_own_are_refused_naming_labels(bad: Any) -> None:
    """Only label values were checked: `labels: {my team: vision}` passed the run's checks and every rec's Job was
    then refused by the API server (HTTP 422); `labels: {tao-automl/job: x}` replaced the label the SDK lists a Job's
    pods by, so the job ran with no logs and no failure detail. Both are refused before any Job exists now."""
    assert _manifest(kwargs={"labels": {"team": "vision", "example.com/tier": "gold"}})["metadata"]["labels"][
        "example.com/tier"] == "gold"
    with pytest.raises(UserInputError, match=r"^labels") as caught:
        _manifest(kwargs={"labels": bad})
    assert caught.value.field == "labels" and caught.value.allowed, caught.value.to_json()


@pytest.mark.parametrize("option", ["node_selector", "labels"])
@pytest.mark.parametrize("value", [True, False, None])
def test_a_yaml_boolean_or_null_label_value_is_refused_not_turned_into_true_or_none(option: str, value: Any) -> None:
    """`node_selector: {nvidia.com/gpu.present: true}` (a YAML boolean: the node's label is the text 'true') became
    the label value 'True', which no node has: every rec stayed Pending for ever. A boolean or null is refused now,
    saying to quote it; quoted, it reaches the pod as written."""
    with pytest.raises(UserInputError, match=r"is a YAML (boolean|null), not a label value; quote it") as caught:
        _manifest(kwargs={option: {"nvidia.com/gpu.present": value}})
    assert caught.value.field == option and caught.value.allowed, caught.value.to_json()
    job = _manifest(kwargs={option: {"nvidia.com/gpu.present": "true"}})
    where = job["spec"]["template"]["spec"]["nodeSelector"] if option == "node_selector" else job["metadata"]["labels"]
    assert where["nvidia.com/gpu.present"] == "true", job


def _pod(phase: str, waiting: str | None = None, exit_code: int | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting, "message": "details"}
    if exit_code is not None:
        state["terminated"] = {"exitCode": exit_code, "reason": "Error"}
    return pod_info({"metadata": {"name": "p-1"}, "status": {"phase": phase, "containerStatuses": [
        {"name": "main", "state": state}]}})


@pytest.mark.parametrize(("conditions", "pods", "age", "status"), [
    ([], [], 0.0, JobStatus.PENDING),
    ([], [_pod("Pending", "ContainerCreating")], 0.0, JobStatus.PENDING),
    ([], [_pod("Running")], 0.0, JobStatus.RUNNING),
    ([{"type": "Complete", "status": "True"}], [_pod("Succeeded", exit_code=0)], 0.0, JobStatus.SUCCESS),
    ([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], [], 0.0, JobStatus.FAILURE),
    ([], [_pod("Pending", "ErrImageNeverPull")], 0.0, JobStatus.FAILURE),
    ([], [_pod("Pending", "ImagePullBackOff")], 10.0, JobStatus.PENDING),
    ([], [_pod("Pending", "ImagePullBackOff")], 999.0, JobStatus.FAILURE),
])
def test_job_and_pod_states_map_to_job_status(conditions: list[Any], pods: list[Any], age: float,
                                              status: JobStatus) -> None:
    assert to_status({"status": {"conditions": conditions}}, pods, age, 300.0)[0] is status


def test_of_two_attempts_made_in_one_second_the_one_that_ended_last_explains_the_failure() -> None:
    """Creation times have one-second steps: a retry made in the second its first attempt ended was told from it
    only by the API's listing order (by name, random); the attempt that ended last is the one that ended the job."""
    first = {"pod": "job-zzzzz", "index": "0", "exit_code": 2, "created": "2026-12-05T09:08:11Z",
             "finished": "2026-12-05T09:08:11Z"}
    retry = {"pod": "job-aaaaa", "index": "0", "exit_code": 3, "created": "2026-12-05T09:08:11Z",
             "finished": "2026-12-05T09:08:12Z"}
    for order in ([first, retry], [retry, first]):
        assert failed_pod(order) is retry
    running = {**retry, "exit_code": None, "finished": None, "phase": "Running"}
    assert failed_pod([running, first]) is first  # the only exit so far


def test_without_the_kubernetes_package_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # import kubernetes -> ImportError
    hint = r"install the kubernetes extra: pip install 'tao-run-automl\[kubernetes\]'"
    with pytest.raises(UserInputError, match=hint):
        make_sdk("kubernetes", {})


def test_bad_options_and_a_missing_kubeconfig_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="namespace must be a DNS-1123 label"):
        KubernetesSDK(namespace="Bad_NS", kubeconfig=str(tmp_path / "none"))
    with pytest.raises(UserInputError, match="propagation_policy must be one of Foreground, Background"):
        KubernetesSDK(propagation_policy="Orphan", kubeconfig=str(tmp_path / "none"))
    with pytest.raises(UserInputError, match=r"^kubeconfig: no kubeconfig file at"):
        KubernetesSDK(kubeconfig=str(tmp_path / "none"))


@pytest.mark.parametrize(("option", "value"), [
    ("kubeconfig", 5), ("kubeconfig", ["a"]), ("namespace", 5), ("context", 5), ("image", 5), ("state_dir", ["x"]),
    ("pull_grace_s", float("nan")), ("timeout_s", float("inf")), ("propagation_policy", "Orphan"),
    ("namespace", "Bad_NS"),
])
def test_platform_options_of_the_wrong_type_are_refused_naming_the_option(tmp_path: Path, option: str,
                                                                          value: Any) -> None:
    """A run config's `kubeconfig: 5` crashed `tao-automl run` and `preflight` with a traceback (AttributeError),
    `namespace: 5` or `state_dir: [x]` was refused naming no option ("expected str, bytes or os.PathLike object"),
    and `pull_grace_s: .nan` was taken (an image pull then never timed out). Each names its option now."""
    options = {"kubeconfig": str(tmp_path / "none"), "state_dir": str(tmp_path / "state"), option: value}
    with pytest.raises(UserInputError, match=rf"^{option} must be ") as caught:
        KubernetesSDK(**options)
    assert (caught.value.field, caught.value.allowed is not None) == (option, True), caught.value.to_json()


KUBECONFIG_TWO_CONTEXTS = """\
apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:1"}}
- {name: b, cluster: {server: "https://127.0.0.1:2"}}
users: [{name: u, user: {token: t}}]
contexts:
- {name: first, context: {cluster: a, user: u}}
- {name: second, context: {cluster: b, user: u}}
current-context: first
"""


def test_env_picks_kubeconfig_context_and_namespace_and_an_unreachable_api_is_transient(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG_TWO_CONTEXTS)
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.setenv("TAO_K8S_CONTEXT", "second")
    monkeypatch.setenv("TAO_K8S_NAMESPACE", "team-a")
    sdk = KubernetesSDK(image=IMAGE, state_dir=tmp_path / "state")
    assert sdk.api.host == "https://127.0.0.1:2" and sdk.namespace == "team-a"
    assert sdk.init_options["context"] == "second" and sdk.init_options["namespace"] == "team-a"
    with pytest.raises(TransientPlatformError, match=r"cannot reach the API server at https://127\.0\.0\.1:2"):
        sdk.create_job(None, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")}, job_name="x-rec0001")
    [check] = sdk.preflight(IMAGE)
    assert check.ok is False and "cannot reach the API server at https://127.0.0.1:2" in check.detail
    assert check.unreachable is True  # preflight: exit 3, retry later
    for status, first, second in ((401, False, None), (403, True, None), (503, False, None)):
        def refuse(what: str, *args: Any, status: int = status, **kwargs: Any) -> Any:
            error = PlatformError(f"kubernetes: {what}: HTTP {status} forbidden")
            error.status = status  # type: ignore[attr-defined]
            raise error
        monkeypatch.setattr(sdk.api, "maybe", refuse)
        checks = sdk.preflight(None)
        assert checks[0].ok is first, (status, checks)
        assert checks[0].unreachable is (status == 503), (status, checks)  # refused credentials: the user's to fix
        if status == 403:  # a namespaced account may not read namespaces: not a failure, and said so
            assert checks[1].ok is second and "not checked" in checks[1].detail and "403" in checks[1].detail
    with pytest.raises(UserInputError, match=r"context: 'third' is not a context of the kubeconfig .*first, second"):
        KubernetesSDK(context="third", state_dir=tmp_path / "state")


def test_each_constant_of_the_kubernetes_package_is_defined_in_one_module() -> None:
    """sdk.py kept its own ``_TRANSIENT_HTTP`` (unused there) beside api.py's, which classifies HTTP errors: a copy
    free to drift from the set that decides what is retried. Each module-level constant is defined once."""
    import ast

    import tao_automl.platforms.kubernetes as package

    where: dict[str, list[str]] = {}
    for module in sorted(Path(package.__file__).parent.glob("*.py")):
        for node in ast.parse(module.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) and node.value is not None else []
            for name in (t.id for t in targets if isinstance(t, ast.Name) and t.id.lstrip("_").isupper()):
                where.setdefault(name, []).append(module.name)
    assert "_TRANSIENT_HTTP" in where
    assert {name: modules for name, modules in where.items() if len(modules) > 1} == {}


# ------------------------------------------------------------------ a real cluster
@pytest.fixture(scope="session")
def cluster() -> Iterator[None]:
    """A cluster with a Ready node: ``ci/docker_up.sh`` + ``ci/k8s_up.sh`` (quick no-ops when already up).

    The Kubernetes binaries take ~11 minutes to build, longer than a test may take: CI builds them first
    (``bash ci/k8s_build.sh``); without them this fixture skips, saying so, instead of building."""
    for script in ("docker_up.sh", "k8s_up.sh"):
        proc = subprocess.run(["bash", str(REPO / "ci" / script)], capture_output=True, text=True, timeout=240,
                              check=False, env={**os.environ, "K8S_NO_BUILD": "1"})
        if proc.returncode == 3 and script == "k8s_up.sh":
            pytest.skip("the Kubernetes binaries are not built here: run `bash ci/k8s_build.sh` once as root "
                        "(~11 min cold, Debian's kubernetes source package), then rerun")
        if proc.returncode == 0 and "answers" not in proc.stdout:  # this session started it
            stop_at_session_end(["bash", str(REPO / "ci" / script), "down"])
        if proc.returncode != 0:
            if os.geteuid() != 0:
                pytest.skip(f"no cluster and not root, so ci/{script} cannot set one up: {proc.stderr.strip()}")
            raise RuntimeError(f"ci/{script} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    sdk = KubernetesSDK(kubeconfig=str(KUBECONFIG))
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    try:
        sdk.core.create_namespace(ns)
    except kubernetes.client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    yield
    sdk.batch.delete_collection_namespaced_job(NAMESPACE, label_selector="tao-automl/managed=true",
                                               propagation_policy="Background")


def _options(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"kubeconfig": str(KUBECONFIG), "namespace": NAMESPACE, "image": IMAGE, "image_pull_policy": "Never",
            "host_network": True, "termination_grace_period_s": 1, "state_dir": str(tmp_path / "state"), **extra}


@pytest.fixture
def sdk(cluster: None, tmp_path: Path) -> KubernetesSDK:
    sdk = KubernetesSDK(**_options(tmp_path))
    sdk.poll_interval_s = 0.1
    return sdk


def _wait(sdk: KubernetesSDK, job_id: str, timeout: float = 30) -> JobStatus:
    deadline = time.monotonic() + timeout
    while not (status := sdk.get_job_status(job_id)).is_finished():
        assert time.monotonic() < deadline, f"job {job_id} still {status} after {timeout} s"
        time.sleep(0.1)
    return status


@pytest.mark.parametrize("check", list(CHECKS))
def test_kubernetes_sdk_conforms(check: str, cluster: None, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    options = _options(tmp_path, mounts={str(scratch): str(scratch)})
    CHECKS[check](Conformance(lambda: make_sdk("kubernetes", options), scratch, timeout_s=45, poll_s=0.1))


def test_a_new_process_reattaches_with_init_options(sdk: KubernetesSDK, tmp_path: Path) -> None:
    res = tmp_path / "res"
    job = sdk.create_job(None, "echo from-the-pod > $OUT/note.txt; sleep 1", gpu_count=0,
                         env_vars={"OUT": str(res)}, outputs={"results_dir": str(res)})
    code = (f"import time; from tao_automl.platforms.registry import make_sdk\n"
            f"s = make_sdk('kubernetes', {sdk.init_options!r})\n"
            f"while not s.get_job_status({job.id!r}).is_finished(): time.sleep(0.1)\n"
            f"print(s.get_job_status({job.id!r}).value, s.read_job_file({job.id!r}, 'note.txt').strip())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["success", "from-the-pod"], out
    with pytest.raises(UserInputError, match="outside the results dir"):
        sdk.read_job_file(job.id, "../../etc/passwd")


def test_a_missing_image_fails_fast_with_the_pod_reason(sdk: KubernetesSDK, tmp_path: Path) -> None:
    job = sdk.create_job("tao-automl-ci/no-such:1", "true", gpu_count=0, outputs={"results_dir": str(tmp_path)})
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None and analysis["reason"] == "ErrImageNeverPull", analysis
    assert "ErrImageNeverPull" in analysis["message"] and "not on the node" in analysis["message"], analysis
    assert sdk._read_job(job.id) is None or sdk._read_job(job.id)["metadata"].get("deletionTimestamp")  # freed


def test_oom_kill_is_a_failure_saying_so(sdk: KubernetesSDK, tmp_path: Path) -> None:
    job = sdk.create_job(None, "echo allocating; head -c 300m /dev/zero | tail", gpu_count=0,
                         outputs={"results_dir": str(tmp_path / "r")}, memory="16Mi")
    assert _wait(sdk, job.id) is JobStatus.FAILURE
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None and analysis["oom_killed"] is True, analysis
    assert "out-of-memory" in analysis["message"] and "16Mi" in analysis["message"]


def test_a_finished_job_says_when_it_ended(sdk: KubernetesSDK, tmp_path: Path) -> None:
    """The runner times a re-attached rec by the platform's finished_at, which the Kubernetes SDK never gave
    (the rec then showed when it was collected)."""
    started = time.time()
    job = sdk.create_job(None, "sleep 1", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    ended = time.time()
    finished_at = sdk.get_job_info(job.id)["finished_at"]
    assert started - 1 < finished_at <= ended + 1, (started, finished_at, ended)  # whole seconds in the API
    assert sdk.get_job_info(job.id).get("pending_reason") is None


def test_a_job_that_failed_after_a_retry_says_when_its_last_pod_ended(sdk: KubernetesSDK, tmp_path: Path) -> None:
    """With backoff_limit, the Job controller marks the Job Failed only at its next sync after the last pod failed
    (its retry back-off, 10 s and more): finished_at (and a re-attached rec's wall_time_s) came from that condition,
    8-10 s after the last pod had ended. It is when the last pod's container ended now."""
    job = sdk.create_job(None, "echo attempt; exit 2", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")},
                         backoff_limit=1)
    assert _wait(sdk, job.id, timeout=60) is JobStatus.FAILURE
    ends = [rfc3339_time(c.state.terminated.finished_at.isoformat()) for p in
            sdk.core.list_namespaced_pod(NAMESPACE, label_selector=f"{JOB_LABEL}={job.id}").items
            for c in p.status.container_statuses or [] if c.state.terminated]
    assert len(ends) == 2 and None not in ends, ends
    finished_at = sdk.get_job_info(job.id)["finished_at"]
    assert abs(finished_at - max(ends)) <= 1, (finished_at, ends)  # type: ignore[type-var]


def test_a_job_that_failed_after_its_retries_reports_the_last_attempt(sdk: KubernetesSDK, tmp_path: Path) -> None:
    """With backoff_limit 1 a job whose first attempt exited 2 and whose retry exited 3 was reported with the first
    attempt's exit code and pod: the failure is now the last attempt's, and says how many attempts failed."""
    marker = tmp_path / "r" / "tried"
    command = (f"if [ -e {marker} ]; then echo 'Error: the retry broke'; exit 3; fi; "
               f"touch {marker}; echo 'Error: the first attempt broke'; exit 2")
    job = sdk.create_job(None, command, gpu_count=0, outputs={"results_dir": str(tmp_path / "r")}, backoff_limit=1)
    assert _wait(sdk, job.id, timeout=90) is JobStatus.FAILURE
    pods = sdk.core.list_namespaced_pod(NAMESPACE, label_selector=f"{JOB_LABEL}={job.id}").items
    assert len(pods) == 2, [p.metadata.name for p in pods]
    # the retry is the pod that exited 3 (creation times have one-second steps: both attempts can share one)
    retry = [p.metadata.name for p in pods for c in p.status.container_statuses or []
             if c.state.terminated and c.state.terminated.exit_code == 3]
    assert len(retry) == 1, retry
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None and analysis["exit_code"] == 3 and analysis["pod"] == retry[0], analysis
    assert "exit code 3" in analysis["message"] and "the last of 2 failed attempts" in analysis["message"], analysis
    assert "the retry broke" in analysis["message"], analysis


def test_a_gpu_job_on_a_node_without_gpus_stays_pending_and_says_why(sdk: KubernetesSDK, tmp_path: Path) -> None:
    job = sdk.create_job(None, "nvidia-smi", gpu_count=1, outputs={"results_dir": str(tmp_path)},
                         job_name=f"gpu-{uuid.uuid4().hex[:8]}-rec0001")
    raw = sdk._read_job(job.id)
    assert raw is not None
    assert raw["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {GPU_RESOURCE: "1"}
    deadline = time.monotonic() + 20
    while not any(p.get("unschedulable") for p in sdk.get_job_info(job.id).get("pods") or []):
        assert time.monotonic() < deadline, sdk.get_job_info(job.id)
        time.sleep(0.2)
    assert sdk.get_job_status(job.id) is JobStatus.PENDING
    info = sdk.get_job_info(job.id)
    (pod,) = info["pods"]
    assert GPU_RESOURCE in pod["unschedulable"], pod
    # what the runner records and `status` shows while the rec waits
    assert info["pending_reason"] == f"Kubernetes: {pod['unschedulable']}"
    assert sdk.cancel_job(job.id) is True and sdk.get_job_status(job.id) is JobStatus.CANCELLED


def test_a_job_whose_pods_a_quota_refuses_stays_pending_and_says_why(cluster: None, tmp_path: Path) -> None:
    """A Job whose pods the API server refuses (here a ResourceQuota of 0 pods) has no pod at all: the rec was
    pending for ever with no pending_reason, so neither `status` nor the orchestrator log said why. The Job's
    FailedCreate event says it now, with one wording for every try of the Job controller."""
    namespace = f"tao-automl-quota-{uuid.uuid4().hex[:8]}"
    sdk = KubernetesSDK(**_options(tmp_path, namespace=namespace))
    sdk.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        sdk.core.create_namespaced_resource_quota(namespace, {"apiVersion": "v1", "kind": "ResourceQuota",
                                                              "metadata": {"name": "none"},
                                                              "spec": {"hard": {"pods": "0"}}})
        deadline = time.monotonic() + 30  # until the quota controller has counted it ('status unknown' before)
        while not (sdk.core.read_namespaced_resource_quota("none", namespace).status.hard or {}):
            assert time.monotonic() < deadline, "the quota controller did not count the ResourceQuota"
            time.sleep(0.2)
        job = sdk.create_job(None, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
        deadline = time.monotonic() + 20
        while not (info := sdk.get_job_info(job.id)).get("pending_reason"):
            assert time.monotonic() < deadline, info
            time.sleep(0.2)
        assert info["state"] == "pending" and info["pods"] == [], info
        assert info["pending_reason"] == (f'Kubernetes: job {job.id}: FailedCreate: Error creating: pods "{job.id}-*" '
                                          'is forbidden: exceeded quota: none, requested: pods=1, used: pods=0, '
                                          'limited: pods=0'), info
        assert sdk.cancel_job(job.id) is True and sdk.get_job_status(job.id) is JobStatus.CANCELLED
    finally:
        sdk.core.delete_namespace(namespace)


def _indexed_jobs(sdk: KubernetesSDK) -> bool:
    """Whether the cluster's API server keeps an Indexed Job's completionMode (Kubernetes >= 1.22; CI runs 1.20)."""
    job = _manifest(name=f"tao-probe-{uuid.uuid4().hex[:8]}", kwargs={"num_nodes": 2})
    stored = sdk.batch.create_namespaced_job(NAMESPACE, job, dry_run="All")
    return stored.spec.completion_mode == "Indexed"


def test_a_two_node_job_runs_two_ranked_pods_or_is_refused_where_the_cluster_has_no_indexed_jobs(
        sdk: KubernetesSDK, tmp_path: Path) -> None:
    """On a cluster without Indexed Jobs (Kubernetes 1.20, as CI's) the API server dropped completionMode: the rec
    ran two pods that each had an empty NODE_RANK (and no '<job>-0' pod to reach as MASTER_ADDR) and was recorded a
    success. create_job refuses it now, naming num_nodes, and deletes the Job; preflight says so first."""
    name = f"mn-{uuid.uuid4().hex[:8]}-rec0002"
    command = 'echo "rank [$NODE_RANK] of $NUM_NODES, master $MASTER_ADDR"'
    check = {c.check: c for c in sdk.preflight(IMAGE, 0, job_options={"gpu_count": 0, "num_nodes": 2})}["multi_node"]
    if not _indexed_jobs(sdk):
        assert check.ok is False and check.error is not None and check.error.field == "platform_kwargs.num_nodes", check
        with pytest.raises(UserInputError, match=r"^num_nodes: 2 needs Indexed Jobs") as caught:
            sdk.create_job(None, command, gpu_count=0, num_nodes=2, outputs={"results_dir": str(tmp_path)},
                           job_name=name)
        assert caught.value.field == "num_nodes" and "NODE_RANK" in caught.value.detail, caught.value.to_json()
        job = sdk._read_job(k8s_name(name, ""))
        assert job is None or job["metadata"].get("deletionTimestamp"), job
        assert sdk.records.find(k8s_name(name, "")) is None
        return
    assert check.ok is True, check
    job = sdk.create_job(None, command, gpu_count=0, num_nodes=2, outputs={"results_dir": str(tmp_path)},
                         job_name=name)
    service = sdk.core.read_namespaced_service(job.id, NAMESPACE)
    assert service.spec.cluster_ip == "None" and service.metadata.owner_references[0].kind == "Job"
    assert _wait(sdk, job.id) is JobStatus.SUCCESS
    logs = sdk.get_job_logs(job.id) or ""
    assert logs.count("==> pod ") == 2, logs
    for rank in (0, 1):
        assert f"rank [{rank}] of 2, master {job.id}-0.{job.id}" in logs, logs


def test_user_mistakes_are_refused_before_anything_starts(sdk: KubernetesSDK, tmp_path: Path) -> None:
    bare = KubernetesSDK(**_options(tmp_path, image=None))
    with pytest.raises(UserInputError, match=r"^image: the kubernetes platform needs a container image"):
        bare.create_job(None, "true", gpu_count=0)
    with pytest.raises(UserInputError, match="gpu_count must be an integer >= 0"):
        sdk.create_job(None, "true", gpu_count=-1)
    with pytest.raises(PlatformError, match="unknown kubernetes job id"):
        sdk.get_job_status("tao-never-submitted")


TRAINER = busybox_trainer(
    "reads the YAML spec, writes status.json (no Python in the image)", {"lr": "lr", "layers": "layers"},
    """\
    # busybox awk may lack log(): plain arithmetic only
    loss=$(awk -v lr="$lr" -v l="$layers" 'BEGIN {x = (lr - 0.01) * 100; d = l - 3; if (d < 0) d = -d;
        printf "%.6f", x * x + 0.1 * d}')
    echo '{"epoch": 1, "max_epoch": 1, "status": "RUNNING", "kpi": {"val_loss": '"$loss"'}}' >> "$rd/status.json"
    echo "val_loss: $loss"
    """
)


def test_automl_sweep_runs_end_to_end_as_kubernetes_jobs(cluster: None, tmp_path: Path) -> None:
    sdk = KubernetesSDK(**_options(tmp_path, keep_jobs=True))  # its Jobs' labels are read after the sweep
    sdk.poll_interval_s = 0.1
    skill = write_shell_skill(tmp_path / "bank", TRAINER)
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
    labels = [sdk._read_job(h["job_id"])["metadata"]["labels"] for h in history]  # type: ignore[index]
    assert sorted(int(lb["tao-automl/rec"]) for lb in labels) == sorted(h["rec_id"] for h in history), labels


def _pods_and_jobs_of(sdk: KubernetesSDK, names: list[str]) -> list[str]:
    """The Jobs named ``names`` and their pods that the API still has (deleted ones on their way out included)."""
    jobs = [j.metadata.name for j in sdk.batch.list_namespaced_job(NAMESPACE).items if j.metadata.name in names]
    pods = [p.metadata.name for p in sdk.core.list_namespaced_pod(NAMESPACE).items
            if (p.metadata.labels or {}).get(JOB_LABEL) in names]
    return jobs + pods


def test_a_sweep_deletes_each_ended_job_and_its_pods_once_its_result_is_stored(sdk: KubernetesSDK,
                                                                              tmp_path: Path) -> None:
    """Every ended Job and its pod were kept until ttl_seconds_after_finished (an hour by default; forever on a
    cluster without the TTL controller, such as this 1.20 one): a 3-rec sweep left 3 Jobs and 3 pods. The runner now
    releases each once its rec's result is stored; its status, log and name stay known (a submission under its name
    runs nothing). ``keep_jobs`` keeps them."""
    skill = write_shell_skill(tmp_path / "bank", TRAINER)
    settings = {"metric": "val_loss", "automl_max_recommendations": 3, "automl_max_concurrent": 2, "seed": 3,
                "poll_interval_s": 0.2, "algorithm": "random"}
    result = AutoMLRunner(sdk, skill, log_progress=False).run(automl_settings=settings,
                                                              workspace_path=tmp_path / "ws", image=IMAGE, gpu_count=0)
    recs = result["recommendations"]
    assert [r["status"] for r in recs] == ["success"] * 3, recs
    names = [str(r["job_id"]) for r in recs]
    deadline = time.monotonic() + 30  # pods go once the garbage collector reaches them
    while (left := _pods_and_jobs_of(sdk, names)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == []
    again = KubernetesSDK(**{**sdk.init_options})  # a later process: records only
    released_jobs_answer_from_records(again, recs, IMAGE)
    assert _pods_and_jobs_of(sdk, names) == []  # the create_job ran nothing
    kept = KubernetesSDK(**_options(tmp_path, keep_jobs=True))
    kept.poll_interval_s = 0.1
    result = AutoMLRunner(kept, skill, log_progress=False).run(automl_settings=settings,
                                                               workspace_path=tmp_path / "ws2", image=IMAGE,
                                                               gpu_count=0)
    names = [str(r["job_id"]) for r in result["recommendations"]]
    assert len([n for n in _pods_and_jobs_of(kept, names) if n in names]) == 3, result["recommendations"]

@pytest.mark.parametrize("failure", ["exit", "image"])
def test_a_sweep_whose_recs_all_fail_alike_stops_by_fail_fast(sdk: KubernetesSDK, tmp_path: Path,
                                                              failure: str) -> None:
    """Each failure message named the rec's pod, whose random suffix ('...-rec0001-<hash>-fx89t') the runner's
    cause key keeps: every rec failed with a cause of its own, so automl_fail_fast_after never stopped a sweep whose
    recs all exited 1 (or whose image no node has), and it ran its whole budget. They share one cause now."""
    skill = write_shell_skill(tmp_path / "bank", "echo 'RuntimeError: broken'; exit 1\n")
    settings = {"metric": "val_loss", "automl_max_recommendations": 4, "automl_max_concurrent": 1, "seed": 3,
                "poll_interval_s": 0.2, "algorithm": "random", "automl_fail_fast_after": 2}
    image = IMAGE if failure == "exit" else "tao-automl-ci/no-such:1"
    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", image=image,
                                          gpu_count=0)
    assert result["progress"]["completed"] == 2 and result["progress"]["state"] == "failed", result["history"]
    reason = result["stop_reason"]
    assert reason.startswith("stopping the sweep: all 2 finished recs failed with the same cause"), reason
    assert ("exit code 1 in its pod on node" if failure == "exit" else "its pod cannot start: ErrImageNeverPull") \
        in reason, reason
    row = result["history"][0]
    assert str(sdk.get_failure_analysis(row["job_id"])["pod"]).startswith(row["job_id"] + "-")  # type: ignore[index]


def test_a_sweep_takes_node_selector_tolerations_and_a_time_limit_as_platform_kwargs(cluster: None,
                                                                                     tmp_path: Path) -> None:
    """SPEC names node_selector and tolerations as Kubernetes platform_kwargs, and the Job manifest reads them (and
    time_limit_s, backoff_limit, labels ...) from create_job's arguments, but a sweep refused every one of them:
    'platform_kwargs.node_selector: not accepted by KubernetesSDK.create_job'. They reach each rec's Job now."""
    sdk = KubernetesSDK(**_options(tmp_path, keep_jobs=True))  # its Job is read after the sweep
    sdk.poll_interval_s = 0.1
    node = sdk.core.list_node().items[0].metadata.labels["kubernetes.io/hostname"]
    skill = write_shell_skill(tmp_path / "bank", TRAINER + "sleep 30\n")
    settings = {"metric": "val_loss", "automl_max_recommendations": 1, "seed": 3, "poll_interval_s": 0.2,
                "algorithm": "random"}
    tolerate = [{"key": "example.com/slow", "operator": "Exists", "effect": "NoSchedule"}]
    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", image=IMAGE,
                                          gpu_count=0, node_selector={"kubernetes.io/hostname": node},
                                          tolerations=tolerate, time_limit_s=3, labels={"team": "vision"})
    [row] = result["history"]
    job = sdk._read_job(row["job_id"])
    assert job is not None, row
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": node} and pod["tolerations"] == tolerate, pod
    assert job["spec"]["activeDeadlineSeconds"] == 3 and job["metadata"]["labels"]["team"] == "vision", job
    assert row["status"] == "failure", row
    assert sdk.get_failure_analysis(row["job_id"])["reason"] == "DeadlineExceeded"  # type: ignore[index]


def test_preflight_reads_the_namespace_and_leaves_the_image_to_the_kubelet(cluster: None, tmp_path: Path) -> None:
    sdk = make_sdk("kubernetes", _options(tmp_path))
    checks = {c.check: c for c in sdk.preflight(IMAGE)}
    assert checks["platform_reachable"].ok is True and checks["namespace"].ok is True
    assert checks["image"].ok is None and "not checked (each node's kubelet pulls it" in checks["image"].detail
    other = make_sdk("kubernetes", {**_options(tmp_path), "namespace": "tao-no-such-namespace"})
    checks = {c.check: c for c in other.preflight(None)}
    assert checks["namespace"].ok is False and "does not exist" in checks["namespace"].detail
    assert "job_create" not in checks, checks  # one failure for one cause


def _namespaced_kubeconfig(sdk: KubernetesSDK, namespace: str, path: Path,
                           pod_verbs: tuple[str, ...] = ("get", "list", "watch")) -> Path:
    """A kubeconfig for a service account of ``namespace`` that may create Jobs there and use ``pod_verbs`` on their
    pods, logs and events only (not read namespaces, not list nodes, nothing in other namespaces), as a team's
    account on a shared cluster."""
    sdk.core.create_namespaced_service_account(namespace, {"metadata": {"name": "team"}})
    rbac = kubernetes.client.RbacAuthorizationV1Api(sdk.api.api_client)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "jobs"}, "rules": [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
        {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "services"], "verbs": list(pod_verbs)}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "jobs"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jobs"},
        "subjects": [{"kind": "ServiceAccount", "name": "team", "namespace": namespace}]})
    deadline = time.monotonic() + 30
    while not (secrets := sdk.core.read_namespaced_service_account("team", namespace).secrets):
        assert time.monotonic() < deadline, "the token controller made no token for the service account"
        time.sleep(0.2)
    token = sdk.core.read_namespaced_secret(secrets[0].name, namespace).data["token"]
    admin = yaml.safe_load(KUBECONFIG.read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "team", "user": {"token": base64.b64decode(token).decode()}}],
        "contexts": [{"name": "team", "context": {"cluster": "c", "user": "team"}}], "current-context": "team"}))
    return path


def test_preflight_says_when_the_credentials_may_not_create_jobs_in_the_namespace(cluster: None,
                                                                                   tmp_path: Path) -> None:
    """An account that may not read namespaces got 'namespace: not checked (creating the first Job will tell)', and
    preflight then said 'no check failed' for a namespace it may not create Jobs in: the run started and its first
    recs failed with HTTP 403. A server-side dry run of one rec's Job says so now, naming platform_options.namespace;
    in its own namespace the same account passes."""
    namespace = f"tao-automl-rbac-{uuid.uuid4().hex[:8]}"
    admin = KubernetesSDK(**_options(tmp_path))
    admin.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        config = str(_namespaced_kubeconfig(admin, namespace, tmp_path / "team.kubeconfig"))
        other = KubernetesSDK(**_options(tmp_path, kubeconfig=config, namespace=NAMESPACE))
        checks = {c.check: c for c in other.preflight(IMAGE, 0, job_options={"gpu_count": 0})}
        assert checks["namespace"].ok is None and "403" in checks["namespace"].detail, checks
        check = checks["job_create"]
        assert check.ok is False and check.error is not None, check
        assert (check.error.field, check.error.value) == ("platform_options.namespace", NAMESPACE), check
        assert "may not create Jobs in namespace 'tao-automl-test'" in check.detail and "403" in check.detail, check
        own = KubernetesSDK(**_options(tmp_path, kubeconfig=config, namespace=namespace))
        checks = {c.check: c for c in own.preflight(IMAGE, 0, job_options={"gpu_count": 0})}
        assert checks["job_create"].ok is True and "nothing created" in checks["job_create"].detail, checks
        assert checks["access"].ok is True, checks
        assert admin.batch.list_namespaced_job(namespace).items == []
    finally:
        admin.core.delete_namespace(namespace)


def test_preflight_says_when_the_credentials_may_not_follow_their_jobs_pods(cluster: None, tmp_path: Path) -> None:
    """Credentials that may create Jobs but not list their pods or read their logs passed preflight: every rec
    then failed 'job status unreadable: ... HTTP 403 pods is forbidden' while its Job ran on in the cluster. An
    access review of each verb the SDK uses says so now, naming the verbs and platform_options.namespace."""
    namespace = f"tao-automl-rbac-{uuid.uuid4().hex[:8]}"
    admin = KubernetesSDK(**_options(tmp_path))
    admin.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        config = str(_namespaced_kubeconfig(admin, namespace, tmp_path / "team.kubeconfig", pod_verbs=("get",)))
        sdk = KubernetesSDK(**_options(tmp_path, kubeconfig=config, namespace=namespace))
        checks = {c.check: c for c in sdk.preflight(IMAGE, 0, job_options={"gpu_count": 0})}
        assert checks["job_create"].ok is True, checks
        check = checks["access"]
        assert check.ok is False and check.error is not None, check
        assert (check.error.field, check.error.value) == ("platform_options.namespace", namespace), check
        assert f"may not list pods, watch pods in namespace '{namespace}'" in check.detail, check
    finally:
        admin.core.delete_namespace(namespace)


def test_preflight_refuses_a_manifest_value_create_job_would_refuse(tmp_path: Path) -> None:
    """The Job manifest's checks (quantities, pull policy, tolerations) ran only in create_job: preflight said the
    platform_kwargs were valid. They run there now, naming the key; no API server is needed (none is contacted)."""
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG_TWO_CONTEXTS)
    sdk = KubernetesSDK(image=IMAGE, state_dir=tmp_path / "state", kubeconfig=str(config))
    for key, value in (("memory", "lots"), ("image_pull_policy", "Sometimes"), ("tolerations", {"key": "a"})):
        with pytest.raises(UserInputError) as caught:
            checked_job_kwargs(sdk, {"gpu_count": 0, key: value})
        assert (caught.value.field, caught.value.value) == (f"platform_kwargs.{key}", value)
    assert checked_job_kwargs(sdk, {"gpu_count": 0, "memory": "8Gi", "cpu": "2"})


def test_a_per_job_namespace_names_the_sdk_option_that_sets_it(tmp_path: Path) -> None:
    """SPEC 2.1 lists ``namespace`` among Kubernetes' platform kwargs; it is the SDK's option for the whole run, and
    the refusal only said 'not accepted by KubernetesSDK.create_job; allowed: ...' without naming where it goes.
    README says so, so a SPEC reader is not surprised."""
    from conftest import readme_says
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    readme_says(r"Kubernetes' `namespace` is one for the whole run.*"
                r"it is refused, naming `platform_options\.namespace`")

    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG_TWO_CONTEXTS)
    sdk = KubernetesSDK(image=IMAGE, state_dir=tmp_path / "state", kubeconfig=str(config))
    with pytest.raises(UserInputError, match=r"platform_kwargs\.namespace: .*an option of KubernetesSDK for the "
                                             r"whole run.*KubernetesSDK\(namespace=\.\.\.\).*platform_options\."
                                             r"namespace") as caught:
        checked_job_kwargs(sdk, {"gpu_count": 0, "namespace": "team-a"})
    assert (caught.value.field, caught.value.value) == ("platform_kwargs.namespace", "team-a")


def _wait_running(sdk: KubernetesSDK, job_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while sdk.get_job_status(job_id) is not JobStatus.RUNNING:
        assert time.monotonic() < deadline, sdk.get_job_info(job_id)
        time.sleep(0.1)


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_a_job_deleted_from_outside_while_it_runs_is_cancelled_not_failed(sdk: KubernetesSDK, tmp_path: Path,
                                                                         propagation: str) -> None:
    """`kubectl delete job` (Background, kubectl's default) made the rec a failure ('its Job was deleted ... before
    it was seen to finish'); with Foreground it failed 'with exit code 137 ... killed by hand' quoting 'unable to
    retrieve container logs' as its error line. Either way it counted toward fail fast; Slurm's scancel is a
    cancel (the runner says 'cancelled outside this sweep' and leaves it out of fail fast)."""
    job = sdk.create_job(None, "echo started; sleep 60", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")},
                         job_name=f"outside-{uuid.uuid4().hex[:8]}-rec0001")
    _wait_running(sdk, job.id)
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
    sdk.batch.delete_namespaced_job(job.id, NAMESPACE, body=body)
    assert _wait(sdk, job.id) is JobStatus.CANCELLED
    analysis = sdk.get_failure_analysis(job.id)
    assert analysis is not None and analysis["status"] == "cancelled", analysis
    message = analysis["message"]
    assert "its Job was deleted while it ran (kubectl delete" in message and str(tmp_path / "r") in message, message
    assert "exit code" not in message and "container logs" not in message, message


def test_a_job_gone_when_it_could_have_ended_long_ago_is_not_called_cancelled(cluster: None, tmp_path: Path) -> None:
    """A Job last seen running longer ago than its ttl_seconds_after_finished may have finished and been removed by
    the TTL controller while no orchestrator polled: the sweep cannot tell how it ended, so it does not call it a
    cancel (nor a job that 'was deleted before it finished')."""
    sdk = KubernetesSDK(**_options(tmp_path, ttl_seconds_after_finished=5))
    job = sdk.create_job(None, "sleep 60", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")},
                         job_name=f"ttl-{uuid.uuid4().hex[:8]}-rec0001")
    _wait_running(sdk, job.id)
    sdk.batch.delete_namespaced_job(job.id, NAMESPACE, body={"propagationPolicy": "Background"})
    later = KubernetesSDK(**_options(tmp_path, ttl_seconds_after_finished=5))  # a new process, a while later
    rec = later.records.find(job.id)
    assert rec is not None
    rec["seen_unfinished_at"] = time.time() - 60
    later.records.save(rec)
    assert later.get_job_status(job.id) is JobStatus.FAILURE
    message = later.get_failure_analysis(job.id)["message"]  # type: ignore[index]
    assert "could not see how it ended" in message and str(tmp_path / "r") in message, message


def _ended_unpolled_then_deleted(sdk: KubernetesSDK, command: str, res: Path) -> tuple[str, float]:
    """Run ``command`` as a rec, let it end with nobody polling it, delete its Job by hand (as the TTL controller
    does); the job's id and when its container ended."""
    job = sdk.create_job(None, command, gpu_count=0, outputs={"results_dir": str(res)},
                         job_name=f"gone-{uuid.uuid4().hex[:8]}-rec0001")
    deadline = time.monotonic() + 60
    while not (pods := [pod_info(p) for p in sdk._pods(job.id)]) or pods[0]["phase"] not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, pods
        time.sleep(0.1)
    ended = rfc3339_time(pods[0]["finished"])
    assert ended is not None
    sdk.batch.delete_namespaced_job(job.id, NAMESPACE, body={"propagationPolicy": "Background"})
    while sdk._read_job(job.id) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return job.id, ended


def test_a_job_that_succeeded_and_was_removed_before_any_poll_is_a_success(cluster: None, tmp_path: Path) -> None:
    """A finished Job removed (ttl_seconds_after_finished, or by hand) while no orchestrator ran was recorded a
    failure on resume ('could not see how it ended'), though it had succeeded and written its result. Its pod
    records its exit status in the results dir: a new process reads it, a success ended when the pod did."""
    sdk = KubernetesSDK(**_options(tmp_path, ttl_seconds_after_finished=0))
    res = tmp_path / "r"
    job_id, ended = _ended_unpolled_then_deleted(sdk, f'echo \'{{"metric": 0.9}}\' > {res}/status.json', res)
    later = make_sdk("kubernetes", sdk.init_options)  # a new process, on resume
    assert later.get_job_status(job_id) is JobStatus.SUCCESS
    assert later.get_failure_analysis(job_id) is None
    finished_at = later.get_job_info(job_id).get("finished_at")
    assert finished_at is not None and abs(finished_at - ended) <= 2, (finished_at, ended)
    assert later.read_job_file(job_id, "status.json") == '{"metric": 0.9}\n'


def test_a_job_that_failed_and_was_removed_before_any_poll_fails_with_its_exit_code(cluster: None,
                                                                                  tmp_path: Path) -> None:
    sdk = KubernetesSDK(**_options(tmp_path, ttl_seconds_after_finished=0))
    job_id, _ = _ended_unpolled_then_deleted(sdk, "echo bad; exit 3", tmp_path / "r")
    later = make_sdk("kubernetes", sdk.init_options)
    assert later.get_job_status(job_id) is JobStatus.FAILURE
    analysis = later.get_failure_analysis(job_id)
    assert analysis is not None and analysis["exit_code"] == 3, analysis
    message = analysis["message"]
    assert "exited with code 3" in message and "its Job was deleted before this process saw it finish" in message, \
        message
    assert str(tmp_path / "r") in message and "could not see how it ended" not in message, message


@pytest.fixture
def registry() -> Iterator[str]:
    """A registry on loopback (dockerd speaks plain HTTP to 127.0.0.0/8) that has no image at all: every manifest is
    404 MANIFEST_UNKNOWN, as a real registry answers a wrong name or tag."""
    import http.server
    import json
    import threading

    class NoImages(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.rstrip("/") == "/v2"
            body = b"{}" if found else json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN",
                                                               "message": "manifest unknown"}]}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoImages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_image_the_registry_does_not_have_fails_at_once_naming_image_and_the_registry_answer(
        cluster: None, registry: str, tmp_path: Path) -> None:
    """A wrong tag on a registry that answers waited pull_grace_s (300 s) per rec and then failed with 'Back-off
    pulling image': the registry's answer (manifest unknown) was lost and nothing said which setting to change.
    A registry's refusal is final: the job fails on the first poll that sees it, naming the image and the fix."""
    sdk = KubernetesSDK(**_options(tmp_path, image_pull_policy="IfNotPresent"))
    image = f"{registry}/tao-automl-ci/no-such:1"
    started = time.monotonic()
    job = sdk.create_job(image, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    assert _wait(sdk, job.id, timeout=60) is JobStatus.FAILURE
    assert time.monotonic() - started < 60
    message = sdk.get_failure_analysis(job.id)["message"]  # type: ignore[index]
    assert f"image {image!r} cannot be pulled" in message and "manifest unknown" in message, message
    assert "the run config's image or the skill's container_image" in message and "image_pull_secret" in message
    assert "Back-off pulling" not in message and "cannot reach" not in message, message


def test_an_image_whose_registry_does_not_answer_fails_after_the_grace_with_the_pull_error(
        cluster: None, tmp_path: Path) -> None:
    """A registry that cannot be contacted may come back: the job waits pull_grace_s, then fails with the error the
    node met (connection refused), not the kubelet's 'Back-off pulling image' that says nothing."""
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sdk = KubernetesSDK(**_options(tmp_path, image_pull_policy="IfNotPresent", pull_grace_s=5))
    image = f"127.0.0.1:{port}/tao-automl-ci/no-such:1"
    job = sdk.create_job(image, "true", gpu_count=0, outputs={"results_dir": str(tmp_path / "r")})
    # while it waits, status says why (its pending_reason was empty: the rec showed 'pending' and nothing more)
    deadline = time.monotonic() + 30
    while not (info := sdk.get_job_info(job.id)).get("pending_reason"):
        assert info["state"] == "pending" and time.monotonic() < deadline, info
        time.sleep(0.1)
    reason = info["pending_reason"]
    assert reason.startswith("Kubernetes: ") and image in reason and "connection refused" in reason, reason
    assert "pull_grace_s=5" in reason, reason
    assert _wait(sdk, job.id, timeout=60) is JobStatus.FAILURE
    message = sdk.get_failure_analysis(job.id)["message"]  # type: ignore[index]
    assert f"image {image!r} cannot be pulled" in message and "connection refused" in message, message
    assert "Back-off pulling" not in message, message


@pytest.mark.parametrize(("option", "value", "allowed"), [
    ("service_account", "Bad_SA", "lowercase RFC 1123 subdomain"),
    ("node_selector", {"bad key!": "a100"}, "label key"),
    ("node_selector", {"gpu": "a 100"}, "label value"),
    ("image_pull_secret", "Bad_Secret", "lowercase RFC 1123 subdomain"),
])
def test_pod_settings_the_api_server_refuses_are_named_when_the_sdk_is_built(
        tmp_path: Path, option: str, value: Any, allowed: str) -> None:
    """An uppercase service_account or a node_selector with a space passed preflight; then every rec failed at
    submission with the API server's raw 'HTTP 422 Job.batch ... is invalid: spec.template.spec...'."""
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG_TWO_CONTEXTS)
    with pytest.raises(UserInputError) as caught:
        make_sdk("kubernetes", {"kubeconfig": str(config), "state_dir": str(tmp_path / "s"), option: value})
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == (f"platform_options.{option}", value), error
    assert allowed in str(error["allowed"]), error


@pytest.mark.parametrize(("option", "value", "words"), [
    ("node_selector", ["gpu"], "must be a mapping of label -> value"),
    ("node_selector", "gpu=a100", "must be a mapping of label -> value"),
    ("tolerations", {"key": "gpu"}, "must be a list of mappings"),
    ("tolerations", ["gpu"], "each entry must be a mapping"),
    ("mounts", ["/tmp:/tmp"], "must be a mapping of host path -> container path"),
    ("host_network", "false", "must be true or false"),
    ("mount_command_paths", "no", "must be true or false"),
])
def test_pod_settings_of_the_wrong_shape_are_named_not_a_traceback(
        tmp_path: Path, option: str, value: Any, words: str) -> None:
    """platform_options node_selector: [gpu] (or tolerations: {key: gpu}, mounts: ['/a:/b']) stopped `tao-automl
    run` with a Python traceback, 'ValueError: dictionary update sequence element #0 has length 1; 2 is required':
    the constructor made them a dict or list of dicts before any check. The error names the option now."""
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG_TWO_CONTEXTS)
    with pytest.raises(UserInputError, match=words) as caught:
        make_sdk("kubernetes", {"kubeconfig": str(config), "state_dir": str(tmp_path / "s"), option: value})
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == (f"platform_options.{option}", value), error


@pytest.mark.parametrize(("option", "value"), [("host_network", "false"), ("mount_command_paths", "no")])
def test_a_quoted_yes_no_setting_is_refused_not_taken_as_true(sdk: KubernetesSDK, option: str, value: str) -> None:
    """host_network: 'false' (quoted in the YAML) was bool('false'), True: every pod ran on the host's network with
    no word; mount_command_paths: 'no' mounted the command's folders. A string is refused naming the setting."""
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    with pytest.raises(UserInputError) as caught:
        checked_job_kwargs(sdk, {"gpu_count": 0, option: value})
    assert (caught.value.field, caught.value.value) == (f"platform_kwargs.{option}", value), caught.value.to_json()
    assert checked_job_kwargs(sdk, {"gpu_count": 0, option: False})


@pytest.mark.parametrize("image", ["Tao/BusyBox:Static", "nvcr.io/nvidia/tao:5.0 ", "repo/img:bad:tag",
                                   "img@sha256:xyz"])
def test_an_image_reference_no_node_can_parse_is_refused_by_preflight_and_create_job(
        sdk: KubernetesSDK, tmp_path: Path, image: str) -> None:
    """'Tao/BusyBox:Static' passed preflight ('not checked') and every rec failed at the kubelet with
    InvalidImageName ('repository name must be lowercase')."""
    checks = {c.check: c for c in sdk.preflight(image)}
    check = checks["image"]
    assert check.ok is False and check.error is not None, check
    assert (check.error.field, check.error.value) == ("image", image) and check.error.allowed, check.error.to_json()
    with pytest.raises(UserInputError, match=r"^image: ") as caught:
        sdk.create_job(image, "true", gpu_count=0, outputs={"results_dir": str(tmp_path)})
    assert caught.value.field == "image"
    assert {c.check: c for c in sdk.preflight("nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt")}["image"].ok is None


def test_a_context_the_kubeconfig_does_not_have_is_named_as_the_setting(cluster: None, tmp_path: Path) -> None:
    """platform_options.context: nope was refused as 'platform_options.kubeconfig: ... Invalid kube-config file.
    Expected object with name nope in ... contexts list', naming the wrong setting and not the contexts there are."""
    with pytest.raises(UserInputError) as caught:
        make_sdk("kubernetes", {**_options(tmp_path), "context": "tao-no-such-context"})
    error = caught.value.to_json()
    assert (error["field"], error["value"]) == ("platform_options.context", "tao-no-such-context"), error
    have = subprocess.run(["kubectl", "config", "get-contexts", "-o", "name", "--kubeconfig", str(KUBECONFIG)],
                          capture_output=True, text=True, check=True).stdout.split()
    assert have and all(name in str(error["allowed"]) for name in have), error
    assert make_sdk("kubernetes", {**_options(tmp_path), "context": have[0]}).api.host


def test_a_namespace_that_does_not_exist_is_named_as_the_setting(cluster: None, tmp_path: Path) -> None:
    """The failed check's error read field 'namespace' with the whole sentence as its value."""
    sdk = make_sdk("kubernetes", {**_options(tmp_path), "namespace": "tao-no-such-namespace"})
    check = {c.check: c for c in sdk.preflight(None)}["namespace"]
    assert check.ok is False and check.error is not None
    assert (check.error.field, check.error.value) == ("platform_options.namespace", "tao-no-such-namespace")
    assert "kubectl create namespace" in str(check.error.allowed)


def test_preflight_refuses_cpu_or_memory_no_node_has(sdk: KubernetesSDK) -> None:
    """cpu: '64' on a 2-CPU cluster passed preflight; every rec then stayed Pending for ever ('0/1 nodes are
    available: 1 Insufficient cpu'). GPUs no node lists are not confirmed (an autoscaler may add GPU nodes)."""
    nodes = sdk.core.list_node().items
    most_cpu = max(n.status.allocatable["cpu"] for n in nodes)
    for key, value in (("cpu", "64"), ("memory", "4Ti")):
        checks = {c.check: c for c in sdk.preflight(IMAGE, 0, job_options={"gpu_count": 0, key: value})}
        check = checks["resources"]
        assert check.ok is False and check.error is not None, check
        assert (check.error.field, check.error.value) == (f"platform_kwargs.{key}", value), check.error.to_json()
        assert "Pending" in check.detail and "largest" in str(check.error.allowed), check
        if key == "cpu":
            assert f"at most {most_cpu}" in str(check.error.allowed), check.error.allowed
    fits = {c.check: c for c in sdk.preflight(IMAGE, 0, job_options={"gpu_count": 0, "cpu": "500m",
                                                                    "memory": "64Mi"})}
    assert fits["resources"].ok is True, fits["resources"]
    gpus = {c.check: c for c in sdk.preflight(IMAGE, 2, job_options={"gpu_count": 2})}["resources"]
    assert gpus.ok is None and "nvidia.com/gpu" in gpus.detail and "autoscaler" in gpus.detail, gpus


@pytest.mark.parametrize("where", ["platform_options", "platform_kwargs"])
def test_preflight_does_not_pass_a_node_selector_no_node_matches(cluster: None, tmp_path: Path, where: str) -> None:
    """A node_selector that matches no node (a typo in a label) passed preflight ('no cpu, memory or GPU limit: fits
    one of the 0 schedulable node(s) matching node_selector'), or with a memory limit blamed that instead ('1Gi is
    more memory than any of the 0 schedulable node(s) ...; allowed: at most 0'); every rec then stayed Pending
    ('didn't match node selector'). Now the check is not confirmed (an autoscaler may add such nodes) and names
    node_selector, with the labels the nodes do have for its keys."""
    selector = {"kubernetes.io/hostname": "tao-no-such-node"}
    sdk = KubernetesSDK(**_options(tmp_path, **({"node_selector": selector} if where == "platform_options" else {})))
    extra = {"node_selector": selector} if where == "platform_kwargs" else {}
    for limits in ({}, {"memory": "64Mi"}):
        checks = {c.check: c for c in sdk.preflight(IMAGE, 0, job_options={"gpu_count": 0, **limits, **extra})}
        check = checks["resources"]
        assert check.ok is None, check
        assert f"{where}.node_selector" in check.detail and "no schedulable node" in check.detail, check
        assert "memory" not in check.detail and "Pending" in check.detail and "autoscaler" in check.detail, check
        node = sdk.core.list_node().items[0].metadata.labels["kubernetes.io/hostname"]
        assert repr(node) in check.detail, check  # what the nodes have


def test_a_sweep_keeps_its_jobs_logs_in_the_run_folder(cluster: None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A local sweep keeps each job's output.log under RUN/jobs; a Kubernetes sweep kept its jobs' logs (and
    records) in the cache dir (~/.cache/tao-automl/kubernetes), so a run folder copied elsewhere, or a cleared cache,
    lost them once the pods were gone. Without a chosen state_dir the sweep keeps them in RUN/jobs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    options = {k: v for k, v in _options(tmp_path).items() if k != "state_dir"}
    sdk = KubernetesSDK(**options)
    sdk.poll_interval_s = 0.1
    skill = write_skill(tmp_path / "bank")
    (skill / "train.sh").write_text(TRAINER)
    info_path = skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info["actions"]["train"]["command"] = f"sh {skill / 'train.sh'} train -e {{config_path}}"
    info_path.write_text(yaml.safe_dump(info))
    settings = {"metric": "val_loss", "automl_max_recommendations": 1, "seed": 3, "poll_interval_s": 0.2,
                "algorithm": "random"}
    result = AutoMLRunner(sdk, skill).run(automl_settings=settings, workspace_path=tmp_path / "ws", image=IMAGE,
                                          gpu_count=0)
    [row] = result["history"]
    assert row["status"] == "success", row
    run_dir = Path(result["run_dir"])
    sdk._delete(row["job_id"], "Background")  # the sweep released it already (a no-op then): its pods go
    deadline = time.monotonic() + 30
    while sdk._pods(row["job_id"]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    [saved] = (run_dir / "jobs").rglob(f"{row['job_id']}.log")
    assert "val_loss" in saved.read_text()
    assert not list((tmp_path / "cache").rglob("*.log")), list((tmp_path / "cache").rglob("*"))
    out = subprocess.run([sys.executable, "-m", "tao_automl.cli", "logs", str(run_dir), "1"], capture_output=True,
                         text=True, timeout=60, check=False, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "c2")})
    assert out.returncode == 0 and "val_loss" in out.stdout, out


def _meta(name: str, deleted: str | None = None, grace: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleted is not None:
        meta.update(deletionTimestamp=deleted, deletionGracePeriodSeconds=grace)
    return meta


def _seen(phase: str, state: dict[str, Any], deleted: str | None = None, grace: int | None = None) -> dict[str, Any]:
    return {"metadata": _meta("p-0", deleted, grace),
            "status": {"phase": phase, "containerStatuses": [{"name": "main", "state": state}]}}


RUNNING = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
CREATING = {"waiting": {"reason": "ContainerCreating"}}


def _exited(code: int, at: str) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "finishedAt": at}}


@pytest.mark.parametrize(("events", "ended_by_itself"), [
    # exited 0 at :09, the delete began at :10 (deletionTimestamp :11 less its 1 s grace); the kubelet reported the
    # exit and deleted the pod in one go (its last state is gone: a poll missed the exit ~1 run in 3)
    ([("ADDED", _seen("Running", RUNNING)), ("MODIFIED", _seen("Running", RUNNING, "2026-01-01T00:00:11Z", 1)),
      ("MODIFIED", _seen("Succeeded", _exited(0, "2026-01-01T00:00:09Z"), "2026-01-01T00:00:11Z", 1)),
      ("MODIFIED", _seen("Succeeded", _exited(0, "2026-01-01T00:00:09Z"), "2026-01-01T00:00:10Z", 0)),
      ("DELETED", _seen("Succeeded", _exited(0, "2026-01-01T00:00:09Z"), "2026-01-01T00:00:10Z", 0))], True),
    # the exit was reported before the pod's deletion began (no deletionTimestamp yet)
    ([("ADDED", _seen("Succeeded", _exited(0, "2026-01-01T00:00:12Z"))),
      ("DELETED", _seen("Succeeded", _exited(0, "2026-01-01T00:00:12Z"), "2026-01-01T00:00:10Z", 0))], True),
    # killed by the deletion (SIGKILL after its grace)
    ([("ADDED", _seen("Running", RUNNING)),
      ("MODIFIED", _seen("Failed", _exited(137, "2026-01-01T00:00:12Z"), "2026-01-01T00:00:11Z", 1))], False),
    # exited 0 on the deletion's SIGTERM, a second after it began
    ([("ADDED", _seen("Running", RUNNING)),
      ("MODIFIED", _seen("Succeeded", _exited(0, "2026-01-01T00:00:11Z"), "2026-01-01T00:00:11Z", 1))], False),
    # a kubelet that never reported the container started deletes the pod still 'ContainerCreating': unknown
    ([("ADDED", _seen("Pending", CREATING)), ("MODIFIED", _seen("Pending", CREATING, "2026-01-01T00:00:11Z", 1)),
      ("DELETED", _seen("Pending", CREATING, "2026-01-01T00:00:10Z", 0))], False),
])
def test_a_cancel_judges_the_pods_by_every_state_it_saw_after_the_delete(
        events: list[tuple[str, dict[str, Any]]], ended_by_itself: bool) -> None:
    """The kubelet patches a pod's final status and deletes the pod back to back: cancel_job polled the pods every
    50 ms and answered by the last state it happened to see. It now follows a watch from a list made before the
    delete, and every state counts (these sequences are what a Kubernetes 1.20 kubelet stored)."""
    seen = PodsAfterDelete()
    seen.see(*events[0])
    for kind, pod in events[1:]:
        # running, or 'ContainerCreating' (it may have started unreported): live until it says it ended, or is gone
        assert seen.live() == ([] if "terminated" in str(seen.last["p-0"]) else ["p-0"])
        seen.see(kind, pod)
    assert seen.live() == []
    assert seen.ended_by_itself(1) is ended_by_itself
    assert seen.ended_by_itself(2) is False  # a pod per node, or it did not end by itself


def _pod_of(sdk: KubernetesSDK, job_id: str) -> str:
    """The job's pod, once the API says its main container is running (the kubelet has reported the start)."""
    deadline = time.monotonic() + 60
    while True:
        running = [p for p in sdk._pods(job_id) if pod_info(p)["phase"] == "Running" and pod_info(p)["exit_code"]
                   is None]
        if running:
            return str(running[0]["metadata"]["name"])
        assert time.monotonic() < deadline, sdk._pods(job_id)
        time.sleep(0.05)


def _container(pod: str) -> Any:
    """The pod's main container in the node's Docker engine (the kubelet's runtime here)."""
    docker = pytest.importorskip("docker")
    found = docker.from_env().containers.list(all=True, filters={"label": [f"io.kubernetes.pod.name={pod}",
                                                                          "io.kubernetes.container.name=main"]})
    assert len(found) == 1, found
    return found[0]


def _still_runs(container: Any) -> bool:
    """Whether the container still runs (a container the kubelet already removed does not)."""
    try:
        container.reload()
    except __import__("docker").errors.NotFound:
        return False
    return bool(container.attrs["State"]["Running"])


def test_a_job_that_exited_0_just_before_the_cancel_is_a_success_and_the_cancel_answers_false(
        sdk: KubernetesSDK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kubelet and the Job controller report a pod's exit a second or more late: a cancel in that window
    deleted the Job and answered True, `cancelled` (the runner then recorded it stopped and lost its final result).
    Its pod had exited 0 before the delete (its container has exited, says the node's runtime): it is a success
    and the cancel answers False."""
    res = tmp_path / "r"
    job = sdk.create_job(None, f"until [ -e {res}/go ]; do sleep 0.05; done; echo done > {res}/marker", gpu_count=0,
                         outputs={"results_dir": str(res)})
    container = _container(_pod_of(sdk, job.id))
    (res / "go").touch()
    assert container.wait(timeout=30)["StatusCode"] == 0
    container.reload()
    ended = rfc3339_time(container.attrs["State"]["FinishedAt"])
    stale_first_refresh(sdk, monkeypatch)
    assert sdk.cancel_job(job.id) is False
    monkeypatch.undo()
    assert sdk.get_job_status(job.id) is JobStatus.SUCCESS
    assert sdk.get_failure_analysis(job.id) is None
    # when it ended, from its container's finishedAt: the record had none, so a sweep stopped with --cancel-jobs
    # and resumed later timed the rec up to the resume (finished_at and wall_time_s hours late)
    finished_at = sdk.get_job_info(job.id).get("finished_at")
    assert ended is not None and finished_at is not None and abs(finished_at - ended) <= 1, (finished_at, ended)


def test_after_cancel_answers_true_the_job_writes_no_more_epochs(sdk: KubernetesSDK, tmp_path: Path) -> None:
    """The delete returns at once and the pod runs on until it stops (sh as PID 1 ignored SIGTERM; the exit recorder
    now passes it on), up to its grace period:
    cancel_job answered True while the job still wrote epochs. It waits until the pods have stopped, no longer
    than their grace period (1 s here) plus _CANCEL_MARGIN_S."""
    res = tmp_path / "r"
    job = sdk.create_job(None, f"i=0; while :; do i=$((i+1)); echo $i >> {res}/epochs; sleep 0.1; done",
                         gpu_count=0, outputs={"results_dir": str(res)})
    container = _container(_pod_of(sdk, job.id))
    deadline = time.monotonic() + 30
    while not (res / "epochs").exists():
        assert time.monotonic() < deadline, "the job did not write an epoch"
        time.sleep(0.05)
    began = time.monotonic()
    assert sdk.cancel_job(job.id) is True
    assert time.monotonic() - began < 1 + _CANCEL_MARGIN_S
    written = (res / "epochs").read_text()
    assert not _still_runs(container)
    time.sleep(1)  # an epoch every 0.1 s: a live job would write ~10 in this window
    assert (res / "epochs").read_text() == written
    assert sdk.get_job_status(job.id) is JobStatus.CANCELLED


def test_cancels_of_several_jobs_run_at_once(cluster: None, tmp_path: Path) -> None:
    """`stop --cancel-jobs` of 4 recs whose containers ignore SIGTERM took 2 min 06 s: each cancel waits out its
    pods' grace period, and it held the SDK's lock all along, so cancels from several threads ran one after the
    other. The wait holds no lock now: 3 jobs with an 8 s grace are cancelled in about one grace period."""
    sdk = KubernetesSDK(**{**_options(tmp_path), "termination_grace_period_s": 8})
    sdk.poll_interval_s = 0.1
    res = tmp_path / "r"
    jobs = [sdk.create_job(None, "while :; do sleep 0.1; done", gpu_count=0, outputs={"results_dir": str(res)})
            for _ in range(3)]
    for job in jobs:
        _pod_of(sdk, job.id)  # running
    cancel_at_once(sdk, [job.id for job in jobs], grace_s=8)
    assert all(sdk.get_job_status(job.id) is JobStatus.CANCELLED for job in jobs)


@contextlib.contextmanager
def _namespace_with_job_quota(tmp_path: Path, jobs: int) -> Iterator[tuple[KubernetesSDK, str]]:
    """A namespace of its own whose ResourceQuota admits ``jobs`` Job objects (ended ones count until deleted)."""
    namespace = f"tao-automl-quota-{uuid.uuid4().hex[:8]}"
    admin = KubernetesSDK(**_options(tmp_path))
    admin.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        admin.core.create_namespaced_resource_quota(namespace, {
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "jobs"},
            "spec": {"hard": {"count/jobs.batch": str(jobs)}}})
        deadline = time.time() + 20  # the quota controller fills in status.hard before admission enforces it
        while not (admin.core.read_namespaced_resource_quota("jobs", namespace).status.hard or {}):
            assert time.time() < deadline, "the ResourceQuota never got its status"
            time.sleep(0.2)
        yield admin, namespace
    finally:
        admin.core.delete_namespace(namespace)


def test_preflight_tells_a_full_job_quota_from_credentials_that_may_not_create_jobs(cluster: None,
                                                                                   tmp_path: Path) -> None:
    """A namespace whose ResourceQuota refused the dry-run Job (HTTP 403 "exceeded quota") was reported as "these
    credentials may not create Jobs", sending the user to RBAC. A quota of 0 Jobs never admits one: a failed check
    naming the quota; a quota its Jobs in use fill frees as they end: said, not failed (the recs wait for room)."""
    with _namespace_with_job_quota(tmp_path, 0) as (_, namespace):
        sdk = KubernetesSDK(**_options(tmp_path, namespace=namespace))
        check = {c.check: c for c in sdk.preflight(IMAGE, 0, job_options={"gpu_count": 0})}["job_create"]
        assert check.ok is False and check.error is not None, check
        assert "can never admit one rec's Job (count/jobs.batch=1 > limited 0)" in check.detail, check
        assert "may not create" not in check.detail and check.error.field == "platform_options.namespace", check
    with _namespace_with_job_quota(tmp_path, 1) as (_, namespace):
        sdk = KubernetesSDK(**_options(tmp_path, namespace=namespace))
        sdk.create_job(image=IMAGE, command="true", gpu_count=0)
        check = {c.check: c for c in sdk.preflight(IMAGE, 0, job_options={"gpu_count": 0})}["job_create"]
        assert check.ok is None and "has no room now, so recs wait for it" in check.detail, check


def _delete_ended_jobs(admin: KubernetesSDK, namespace: str, stop: threading.Event) -> None:
    """What a TTL controller or an admin's clean-up does: ended Jobs are deleted (and leave the quota)."""
    while not stop.wait(0.2):
        for job in admin.batch.list_namespaced_job(namespace).items:
            if job.status.succeeded or job.status.failed:
                with contextlib.suppress(Exception):
                    admin.batch.delete_namespaced_job(job.metadata.name, namespace, propagation_policy="Background")


def test_a_full_job_quota_makes_recs_wait_for_room_instead_of_failing(cluster: None, tmp_path: Path) -> None:
    """automl_max_concurrent above the namespace's quota of Jobs: every rec past the quota failed at once ("job
    submission failed ... exceeded quota"), spending the budget on nothing. A rec the quota has no room for waits
    and is submitted when a job of the run ends; here ended Jobs are deleted (as a TTL would), so all succeed, one at
    a time, and the run's events say it waited."""
    with _namespace_with_job_quota(tmp_path, 1) as (admin, namespace):
        sdk = KubernetesSDK(**_options(tmp_path, namespace=namespace))
        sdk.poll_interval_s = 0.1
        stop = threading.Event()
        cleaner = threading.Thread(target=_delete_ended_jobs, args=(admin, namespace, stop), daemon=True)
        cleaner.start()
        settings = {"metric": "val_loss", "automl_max_recommendations": 3, "automl_max_concurrent": 2, "seed": 3,
                    "poll_interval_s": 0.2, "algorithm": "random"}
        try:
            result = AutoMLRunner(sdk, write_shell_skill(tmp_path / "bank", TRAINER)).run(
                automl_settings=settings, workspace_path=tmp_path / "ws", image=IMAGE, gpu_count=0)
        finally:
            stop.set()
            cleaner.join()
        history = result["history"]
        assert [h["status"] for h in history] == ["success"] * 3, history
        events = RunStore(result["run_dir"], readonly=True).events("job_pending")
        assert events and events[0]["payload"]["job_id"] is None, events
        assert "waiting for room on the platform" in events[0]["payload"]["reason"], events
        assert "exceeded quota" in events[0]["payload"]["reason"], events


def test_a_job_quota_that_never_frees_stops_the_sweep_resumably(cluster: None, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Ended Jobs count against a quota of Jobs until deleted: with nothing deleting them the room never comes. Once
    no job of the run is in flight and the wait has lasted its limit (10 min; shortened here), the sweep stops with
    a platform error that names the quota, and the waiting rec, which never got a job, is left for `resume`;
    `status` says why it has no job (`waiting_for_room`)."""
    from conftest import readme_says

    readme_says(r"the sweep stops, resumable, after 10 minutes with no room and no job of its own in flight")
    assert _Waiting.GIVE_UP_S == 600.0  # README's 10 minutes
    monkeypatch.setattr(_Waiting, "GIVE_UP_S", 1.0)
    monkeypatch.setattr(_Waiting, "FIRST_DELAY_S", 0.2)
    with _namespace_with_job_quota(tmp_path, 1) as (_, namespace):
        sdk = KubernetesSDK(**_options(tmp_path, namespace=namespace, keep_jobs=True))
        sdk.poll_interval_s = 0.1  # keep_jobs: nothing deletes the ended Job
        settings = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 2, "seed": 3,
                    "poll_interval_s": 0.2, "algorithm": "random"}
        runner = AutoMLRunner(sdk, write_shell_skill(tmp_path / "bank", TRAINER))
        with pytest.raises(PlatformError, match=r"no room for rec 2's job .* exceeded quota") as caught:
            runner.run(automl_settings=settings, workspace_path=tmp_path / "ws", image=IMAGE, gpu_count=0)
        assert "tao-automl resume" in (caught.value.hint or "")
        assert runner.run_dir is not None
        recs = {r.rec_id: r for r in RunStore(runner.run_dir, readonly=True).recs()}
        assert recs[1].status == "success" and recs[2].job_id is None, recs
    # status says why rec 2 has no job (its pending_reason), in JSON and in words
    from tao_automl.cli.main import main
    from tao_automl.status import query_status

    status = query_status(runner.run_dir)
    assert [a["rec_id"] for a in status["active_jobs"]] == [] and len(status["waiting_for_room"]) == 1, status
    assert status["waiting_for_room"][0]["rec_id"] == 2, status
    assert "exceeded quota" in status["waiting_for_room"][0]["reason"], status
    capsys.readouterr()
    assert main(["status", str(runner.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "active jobs: none" in out and "rec 2: no job yet: waiting for room on the platform" in out, out


def test_a_manifest_value_ending_in_a_newline_is_refused() -> None:
    """`$` in the checks' regexes also matched before a last newline: an env var name, a label value and an image
    reference ending in "\\n" passed the checks (the API server then refused the Job, or the image did not pull)."""
    from tao_automl.platforms.image_reference import reference_problem
    from tao_automl.platforms.kubernetes.validate import is_label_value

    with pytest.raises(UserInputError):
        job_manifest(name="tao-x", image="i", command="true", gpu_count=0, env_vars={"A\n": "1"}, results_dir="/r",
                     job_name=None, kwargs={}, defaults={})
    assert not is_label_value("x\n") and is_label_value("x")
    assert reference_problem("busybox:1\n") is not None and reference_problem("busybox:1") is None

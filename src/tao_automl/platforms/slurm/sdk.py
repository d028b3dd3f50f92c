"""The Slurm platform: every job is a batch script submitted with ``sbatch``, here or over SSH.

Only the Slurm CLI is used (``sbatch --parsable``, ``scontrol show job -o``, ``squeue``, ``sacct``,
``scancel``). Each job gets a directory ``<jobs_dir>/<key>/`` on the cluster (shared filesystem
assumed) with its script ``job.sbatch`` and its log ``output.log``; with Slurm run on this machine and no jobs_dir
chosen, a run keeps them in its own folder's ``jobs/`` (:meth:`SlurmSDK.keep_jobs_in`). This machine keeps a small state
dir: one JSON record per Slurm job id (with the final state once seen, so polls keep working after
Slurm forgets the job) and a name index that makes ``create_job(job_name=...)`` idempotent.

Connection: ``hostname`` (env ``SLURM_HOSTNAME``) empty means the CLI runs here; otherwise it runs on
that login node over one multiplexed ssh connection as ``user`` (``SLURM_USER``) with ``ssh_key_path``
(``SSH_KEY_PATH``, else the agent / default keys). Host keys are always verified.

Containers: with ``use_pyxis=True`` the image is run by ``srun --container-image`` (NVIDIA pyxis /
enroot), with the job folder, the results dir, the command's paths (the spec file's folder) and the dataset and
checkpoint paths of the job's ``inputs`` that exist on the node mounted at the same path (``container_mounts``
adds more); without a configured runtime images are ignored with a notice (jobs use the node's software).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import posixpath
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.analysis import ERROR_PATTERN, reason_line
from tao_automl.platforms.base import Job, JobRequest, JobStatus, PlatformCheck, UnknownJobError
from tao_automl.platforms.common import RELATIVE_ALLOWED, check_flag, check_job_name, contained_path
from tao_automl.platforms.records import (
    JobRecords,
    RecordedPlatform,
    default_state_dir,
    job_key,
    new_job_key,
    state_dir_option,
)
from tao_automl.platforms.retry import TransientPlatformError
from tao_automl.platforms.slurm.account import account_check, refused_account
from tao_automl.platforms.slurm.script import (
    JobOptions,
    batch_script,
    job_paths,
    noted_results_dir,
    sbatch_options,
    tcp_port,
)
from tao_automl.platforms.slurm.shell import SSH_REFUSED, Shell
from tao_automl.platforms.slurm.sinfo import (
    Partition,
    add_partition_limits,
    gpus_per_node,
    parse_sinfo,
    slurm_megabytes,
    slurm_minutes,
)
from tao_automl.platforms.slurm.state import (
    SACCT_FIELDS,
    STATE_REASONS,
    job_info,
    parse_sacct,
    parse_scontrol,
    slurm_state,
    to_status,
)
from tao_automl.util.reach import unreachable_text

logger = logging.getLogger(__name__)

SCRIPT_FILE = "job.sbatch"
#: The job's exit status, written by the batch script as it exits (:func:`~tao_automl.platforms.slurm.script.
#: exit_record`): how a job ended once Slurm has forgotten it on a cluster without accounting.
EXIT_FILE = "exit_code"
LOG_FILE = "output.log"
_FINISHED = {s.value for s in JobStatus if s.is_finished()}
#: A job Slurm does not know (yet) within this many seconds of submission counts as pending.
_CONTROLLER_LAG_S = 30.0
_CANCEL_WAIT_S = 10.0
#: Slurm's own default KillWait (seconds between a cancel's SIGTERM and its SIGKILL), for a cluster that does not say.
_DEFAULT_KILL_WAIT_S = 30.0
_UNFINISHED = tuple(s.value for s in JobStatus if not s.is_finished())
#: srun's line for a task of a multi-task job that exited non-zero by itself (``--kill-on-bad-exit`` then stops
#: the others, whose "task 0: Terminated" lines follow).
_TASK_EXIT = re.compile(r"^srun: error: \S+: tasks? (?P<task>[\d,\-\[\]]+): Exited with exit code (?P<code>\d+)")


#: What ``sinfo`` prints of each partition (:func:`~tao_automl.platforms.slurm.sinfo.parse_sinfo`).
_SINFO_FORMAT = "%P|%a|%G|%D|%c|%m|%l"
#: ``sh -c`` probe of a jobs dir ($1): the nearest existing folder at or above it takes a new folder.
_JOBS_DIR_PROBE = ('d="$1"; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; '
                   '[ -d "$d" ] || { echo "$d is a file"; exit 1; }; '
                   't=$(mktemp -d "$d/.tao-automl-probe-XXXXXX" 2>&1) || { echo "$d cannot be written: $t"; exit 1; }; '
                   'rmdir "$t"')


#: ``sinfo %t`` states of a node that can start a job (``idle~``: powered down, started on demand; a ``*`` suffix:
#: not responding, so it cannot).
_USABLE_NODE_STATES = {"idle", "mix", "alloc", "comp", "plnd"}


def _node_usable(state: str) -> bool:
    """Whether a node in ``sinfo %t`` state ``state`` can start a job."""
    state = state.strip()
    return not state.endswith("*") and state.rstrip("~#!%$@^-") in _USABLE_NODE_STATES


def _seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds > 0 (bools, NaN and infinity refused), else a UserInputError naming
    ``name``: a command limit of -5 s made every Slurm command 'time out', and a text failed with a TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UserInputError(f"{name} must be a finite number of seconds > 0, got {value!r}", field=name,
                             value=value, allowed="a finite number of seconds > 0, such as 60")
    return float(value)


class SlurmSDK(RecordedPlatform):
    """Submits jobs to Slurm through its CLI; see the module docstring for the layout."""

    job_kwargs = frozenset({"job_name", "working_dir", "partition", "account", "time_limit", "num_nodes",
                            "ntasks_per_node", "cpus_per_task", "mem", "container_mounts", "master_port"})
    multi_node = True
    single_line_names = True

    poll_interval_s: float = 0.5

    def __init__(
        self,
        hostname: str | None = None,
        user: str | None = None,
        ssh_key_path: str | None = None,
        ssh_port: int | None = None,
        known_hosts: str | None = None,
        strict_host_key_checking: str = "yes",
        state_dir: str | Path | None = None,
        jobs_dir: str | None = None,
        partition: str | None = None,
        account: str | None = None,
        time_limit: int | str | None = None,
        use_pyxis: bool = False,
        container_mounts: str | None = None,
        command_timeout_s: float = 60.0,
        state_file: str | Path | None = None,
    ) -> None:
        state_dir = state_dir_option(state_dir, state_file)
        hostname = hostname if hostname is not None else os.environ.get("SLURM_HOSTNAME") or None
        user = user if user is not None else os.environ.get("SLURM_USER") or None
        ssh_key_path = ssh_key_path if ssh_key_path is not None else os.environ.get("SSH_KEY_PATH") or None
        if strict_host_key_checking not in ("yes", "accept-new"):
            raise UserInputError(
                f"strict_host_key_checking must be 'yes' or 'accept-new', got {strict_host_key_checking!r} "
                "(host keys are always verified; add the login node to known_hosts)",
                field="strict_host_key_checking", value=strict_host_key_checking, allowed=["yes", "accept-new"])
        self.shell = Shell(hostname=hostname, user=user, port=tcp_port("ssh_port", ssh_port), key_path=ssh_key_path,
                           known_hosts=known_hosts, strict_host_key_checking=strict_host_key_checking,
                           timeout_s=_seconds("command_timeout_s", command_timeout_s))
        self.state_dir = Path(state_dir).expanduser() if state_dir is not None else default_state_dir("slurm")
        if jobs_dir and not self.shell.remote:  # as it is now: a resume from another folder finds the same place
            jobs_dir = str(Path(jobs_dir).expanduser().absolute())
        # absolute: the jobs_dir property reads a relative one as under the login node's home (over ssh)
        self._jobs_dir = jobs_dir or (None if self.shell.remote else str((self.state_dir / "jobdirs").absolute()))
        #: Whether the caller chose where job folders go; if not, and Slurm runs on this machine, a run keeps them in
        #: its own folder (:meth:`keep_jobs_in`).
        self.jobs_dir_chosen = bool(jobs_dir)
        self.use_pyxis = check_flag("use_pyxis", use_pyxis)  # a quoted 'no' is a text, and bool('no') is True
        self._kill_wait_s: float | None = None  # the cluster's KillWait, asked at the first cancel
        # the skill bank's Slurm variables: the default partition (a list such as "a,b" lets Slurm pick) and account
        from_env = {key: os.environ[var] for key, var, given in
                    (("partition", "SLURM_PARTITION", partition), ("account", "SLURM_ACCOUNT", account))
                    if given is None and os.environ.get(var)}
        partition = partition if partition is not None else from_env.get("partition")
        account = account if account is not None else from_env.get("account")
        #: Where each default came from, as errors and preflight name it.
        self.option_sources = {"partition": "SLURM_PARTITION" if "partition" in from_env else
                               "platform_options.partition",
                               "account": "SLURM_ACCOUNT" if "account" in from_env else "platform_options.account"}
        self.defaults: dict[str, Any] = {"partition": partition, "account": account, "time_limit": time_limit,
                                         "container_mounts": container_mounts}
        try:
            JobOptions.build(0, {}, self.defaults)  # validate the defaults now
        except UserInputError as exc:
            source = self.option_sources.get(str(exc.field), "")
            if not source.startswith("SLURM_"):
                raise
            raise UserInputError(f"{source}: {exc.detail}", field=source, value=exc.value, allowed=exc.allowed,
                                 hint=f"fix or unset ${source}, or set platform_options.{exc.field}") from None
        #: Constructor arguments a later process needs to rebuild this SDK and re-attach to its jobs.
        self.init_options: dict[str, Any] = {
            "hostname": hostname, "user": user, "ssh_key_path": ssh_key_path, "ssh_port": ssh_port,
            "known_hosts": known_hosts, "strict_host_key_checking": strict_host_key_checking,
            "state_dir": str(self.state_dir), "jobs_dir": jobs_dir, "partition": partition, "account": account,
            "time_limit": time_limit, "use_pyxis": self.use_pyxis, "container_mounts": container_mounts,
            "command_timeout_s": command_timeout_s,
        }
        self.records = JobRecords(self.state_dir, valid_id=str.isdigit)
        self._image_notice_done = False
        self._sacct_args: list[str] | None = None

    # ------------------------------------------------------------ paths
    @property
    def jobs_dir(self) -> str:
        """Where job dirs live on the cluster (remote default: ``$HOME/.tao-automl/slurm-jobs``; a relative or
        ``~/`` jobs_dir is under the login node's home)."""
        if self._jobs_dir is None or not posixpath.isabs(self._jobs_dir):
            home = self.shell.run(["sh", "-c", 'echo "$HOME"']).stdout.strip() or "/tmp"
            given = self._jobs_dir or ""
            given = given[1:].lstrip("/") if given == "~" or given.startswith("~/") else given
            self._jobs_dir = posixpath.join(home, given or posixpath.join(".tao-automl", "slurm-jobs"))
        return self._jobs_dir

    @property
    def jobs_share_run_folder(self) -> bool:
        """Whether a run may keep this SDK's job folders in its own folder (the runner asks): Slurm runs on this
        machine and no jobs_dir was chosen. Its jobs write their results into the run folder already, so the nodes
        see it; over ssh the jobs dir stays on the login node's side (``$HOME/.tao-automl/slurm-jobs``)."""
        return not self.jobs_dir_chosen and not self.shell.remote

    def keep_jobs_in(self, folder: str | Path) -> None:
        """Make the next jobs' folders under ``folder`` (the runner: ``<run folder>/jobs``, so a sweep's scripts and
        logs go when the run is deleted instead of piling up in the cache dir). Jobs submitted before keep theirs
        (each job's record names its folder); a later process finds the place in the run's recorded options."""
        self._jobs_dir = str(Path(folder).expanduser().absolute())
        self.init_options["jobs_dir"] = self._jobs_dir

    # -------------------------------------------------------- preflight
    def preflight(self, image: str | None, gpu_count: int | None = None,
                  job_options: Mapping[str, Any] | None = None) -> list[PlatformCheck]:
        """``sinfo`` answers; the partition the jobs will use exists (``job_options``' partition, else the SDK's,
        else the cluster's default); its nodes can hold one job (nodes, CPUs, memory, GPU GRES): a job they cannot
        hold would wait in the queue forever; the image is ignored without pyxis."""
        where = self.shell.target if self.shell.remote else "this machine"
        try:
            result = self.shell.run(["sinfo", "-h", "-o", _SINFO_FORMAT], check=False)
        except TransientPlatformError as exc:  # no answer within command_timeout_s
            return [PlatformCheck("platform_reachable", False, f"sinfo on {where}: {exc}", unreachable=True)]
        except PlatformError as exc:  # no Slurm client (or ssh) on this machine
            return [PlatformCheck("platform_reachable", False, str(exc))]
        if result.returncode != 0:
            message = (result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}")[-500:]
            # a controller (or login node) that cannot be contacted, unlike one that answers and refuses
            unreachable = unreachable_text(message) and not SSH_REFUSED.search(message)
            return [PlatformCheck("platform_reachable", False, f"sinfo on {where} failed: {message}",
                                  unreachable=unreachable)]
        partitions = parse_sinfo(result.stdout)
        default = next((p.name for p in partitions.values() if p.default), None)
        checks = [PlatformCheck("platform_reachable", True,
                                f"sinfo on {where} answered: {len(partitions)} partition(s)")]
        given = dict(job_options or {})
        setting = "platform_kwargs.partition" if given.get("partition") else self.option_sources["partition"]
        wanted = str(given.get("partition") or self.defaults["partition"] or "")
        names = [n.strip() for n in wanted.split(",") if n.strip()]  # "a,b": Slurm runs the job in either
        self._add_hidden(partitions, [n for n in names if n not in partitions])
        self._add_limits(partitions)
        available = ", ".join(sorted(partitions)) or "none"
        unknown = [n for n in names if n not in partitions]
        if unknown:
            checks.append(PlatformCheck("partition", False, f"{setting}: partition {unknown[0]!r} does not exist; "
                                        f"available: {available}", error=UserInputError(
                                            f"{setting}: partition {unknown[0]!r} does not exist on the cluster; "
                                            f"available: {available}", field=setting, value=wanted,
                                            allowed=sorted(partitions))))
            return checks
        if not names and default is None:
            detail = ("no partition given and the cluster has no default one; set platform_kwargs.partition "
                      f"(available: {available})")
            checks.append(PlatformCheck("partition", False, detail, error=UserInputError(
                detail, field="platform_kwargs.partition", value=None, allowed=sorted(partitions))))
            return checks
        parts = [partitions[n] for n in names or [str(default)]]
        up = [p for p in parts if p.up]
        label = f"{wanted} ({setting})" if names else f"{parts[0].name} (the default)"
        checks.append(PlatformCheck("partition", True, label) if up else
                      self._down(parts, partitions, label, setting if names else "platform_kwargs.partition"))
        gpu_default = job_options is not None and "gpu_count" not in job_options
        verdicts = [self._fits(p, gpu_count or 0, given, gpu_default) for p in up or parts]
        # several partitions: the job fits when one of them can hold it (Slurm starts it there)
        checks.extend(next((v for v in verdicts if all(c.ok for c in v)), verdicts[0]))
        checks.extend(self._nodes_check(up or parts))
        account = str(given.get("account") or self.defaults["account"] or "")
        if account:
            checks.append(account_check(self.shell, account, self._account_field(given), names))
        checks.append(self._jobs_dir_check())
        if self.use_pyxis:
            checks.append(self._pyxis_check())
        if image:
            checks.append(PlatformCheck("image", None, f"{image}: not checked (pyxis pulls it on the node when the "
                                        "job starts)") if self.use_pyxis else
                          PlatformCheck("image", True, f"{image} (ignored: no container runtime; use_pyxis=False)"))
        return checks

    @staticmethod
    def _down(parts: list[Partition], partitions: Mapping[str, Partition], label: str, setting: str) -> PlatformCheck:
        """The failed check of jobs whose partitions (``parts``) are none of them up: ``allowed`` names those that
        are."""
        states = ", ".join(f"{p.name} is {p.state}" for p in parts)
        up_now = ", ".join(sorted(n for n, p in partitions.items() if p.up))
        detail = f"{label}: {states}: jobs would wait until it is up"
        return PlatformCheck("partition", False, detail, error=UserInputError(
            f"{setting}: {states}: jobs would wait until it is up (up now: {up_now or 'none'})", field=setting,
            value=",".join(p.name for p in parts),
            allowed=f"a partition in state up: {up_now or 'none is up now'}"))

    def _nodes_check(self, parts: list[Partition]) -> list[PlatformCheck]:
        """An n/a check when no node of the jobs' partitions can start a job now (all down, drained or not
        responding): the jobs would wait in the queue until one is back, which preflight cannot tell; nothing when
        one can, or when ``sinfo`` does not say."""
        names = ",".join(p.name for p in parts)
        try:
            result = self.shell.run(["sinfo", "-h", "-p", names, "-o", "%t|%D"], check=False)
        except PlatformError:
            return []
        states = [line.strip().split("|") for line in result.stdout.splitlines() if line.count("|") == 1]
        if result.returncode != 0 or not states or any(_node_usable(state) for state, _ in states):
            return []
        said = ", ".join(f"{count} {state}" for state, count in states)
        return [PlatformCheck("nodes", None, f"partition {names}: no node can start a job now ({said}): the jobs "
                              "will wait in the queue (Slurm: ReqNodeNotAvail) until a node is back (an "
                              "administrator's `scontrol update nodename=<node> state=resume`)")]

    def _add_hidden(self, partitions: dict[str, Partition], names: list[str]) -> None:
        """Add the partitions of ``names`` that plain ``sinfo`` does not list to a user (``Hidden=YES``) but that
        slurmctld takes jobs on (``sbatch --test-only``: nothing is submitted), as ``sinfo -a`` shows them; one it
        refuses (a partition of other groups) stays unknown."""
        if not names:
            return
        try:
            listed = self.shell.run(["sinfo", "-a", "-h", "-o", _SINFO_FORMAT], check=False)  # -a refuses -p
        except PlatformError:
            return
        found = parse_sinfo(listed.stdout) if listed.returncode == 0 else {}
        for name in names:
            if name in found and self._takes_jobs_on(name):
                partitions[name] = found[name]
                partitions[name].default = False

    def _takes_jobs_on(self, partition: str) -> bool:
        """Whether slurmctld would take a job on ``partition`` (``sbatch --test-only``; nothing is submitted)."""
        argv = ["sbatch", "--test-only", f"--partition={partition}", "--output=/dev/null", "--wrap", "true"]
        try:
            return self.shell.run(argv, check=False).returncode == 0
        except PlatformError:
            return False

    def _add_limits(self, partitions: dict[str, Partition]) -> None:
        """The partitions' per-node limits (MaxCPUsPerNode, MaxMemPerNode), which ``sinfo`` does not show; left
        unknown when ``scontrol`` does not answer."""
        try:
            result = self.shell.run(["scontrol", "show", "partition", "-a", "-o"], check=False)  # hidden ones too
        except PlatformError:
            return
        if result.returncode == 0:
            add_partition_limits(partitions, result.stdout)

    def _account_field(self, given: Mapping[str, Any]) -> str:
        """The setting the jobs' account comes from (a job's ``account`` wins over the SDK's)."""
        return "platform_kwargs.account" if given.get("account") else self.option_sources["account"]

    def _pyxis_check(self) -> PlatformCheck:
        """``use_pyxis``: the cluster's ``srun`` takes ``--container-image`` (the pyxis plugin is installed); without
        it every job fails at once with ``srun: unrecognized option``."""
        try:
            result = self.shell.run(["srun", "--help"], check=False)
        except PlatformError as exc:
            return PlatformCheck("pyxis", None, f"not checked: srun --help failed: {exc}")
        if "--container-image" in result.stdout + result.stderr:
            return PlatformCheck("pyxis", True, "srun takes --container-image (the pyxis plugin is installed)")
        setting = "platform_options.use_pyxis"
        message = ("srun has no --container-image option: the pyxis plugin is not installed on this cluster, so every "
                   "job would fail with 'srun: unrecognized option'")
        return PlatformCheck("pyxis", False, message, error=UserInputError(
            f"{setting}: true, but {message}", field=setting, value=True,
            allowed="false (jobs run in the nodes' own environment), or a cluster with pyxis"))

    def _jobs_dir_check(self) -> PlatformCheck:
        """The jobs dir (where each job's script, log and results go) can be made and written where the jobs run:
        probed by making and removing a folder in it, or in the nearest folder above it that exists."""
        if self.jobs_share_run_folder:  # the runner keeps them in the run folder, which the workspace check covers
            return PlatformCheck("jobs_dir", True, "each job's folder goes under the run folder's jobs/ (no jobs_dir "
                                 "chosen; the nodes see the run folder, where the jobs write their results)")
        try:
            jobs_dir = self.jobs_dir
            result = self.shell.run(["sh", "-c", _JOBS_DIR_PROBE, "sh", jobs_dir], check=False)
        except PlatformError as exc:
            return PlatformCheck("jobs_dir", False, f"the jobs dir could not be checked: {exc}")
        if result.returncode == 0:
            return PlatformCheck("jobs_dir", True, f"{jobs_dir} (writable)")
        why = (result.stdout.strip() or result.stderr.strip() or f"exit code {result.returncode}")[-300:]
        setting = "platform_options.jobs_dir"
        return PlatformCheck("jobs_dir", False, f"{jobs_dir}: {why}", error=UserInputError(
            f"{setting}: {jobs_dir!r} cannot hold the jobs' folders: {why}", field=setting, value=jobs_dir,
            allowed="a folder the jobs' nodes can write (on a shared filesystem)"))

    def _fits(self, part: Partition, gpu_count: int, given: Mapping[str, Any],
              gpu_default: bool = False) -> list[PlatformCheck]:
        """Whether one job fits the partition's nodes; a job that does not would stay PENDING forever.
        ``gpu_default``: ``gpu_count`` is the default of an unset ``platform_kwargs.gpu_count``."""
        try:
            opts = JobOptions.build(gpu_count, given, self.defaults)
        except UserInputError:  # validate_job reports it (platform_kwargs check)
            return []
        checks: list[PlatformCheck] = []

        def refuse(key: str, value: object, allowed: str, why: str, field: str | None = None) -> None:
            field = field or f"platform_kwargs.{key}"
            detail = (f"{field}: {value!r} cannot run on partition {part.name}: {why}; the jobs would stay PENDING "
                      "forever")
            checks.append(PlatformCheck("resources", False, detail, error=UserInputError(
                detail, field=field, value=value, allowed=allowed)))

        if opts.num_nodes > part.nodes:
            refuse("num_nodes", opts.num_nodes, f"1..{part.nodes}", f"it has {part.nodes} node(s)")
        cpus = (opts.cpus_per_task or 1) * opts.ntasks_per_node
        cpu_caps = [(part.cpus, f"its nodes have at most {part.cpus}")] if part.cpus else []
        if part.max_cpus_per_node:
            cpu_caps.append((part.max_cpus_per_node, f"its MaxCPUsPerNode is {part.max_cpus_per_node} (Slurm's "
                                                     "reason: PartitionConfig)"))
        cpu_cap = min(cpu_caps, default=None)
        if cpu_cap is not None and cpus > cpu_cap[0]:
            key, value = ("cpus_per_task", opts.cpus_per_task) if opts.cpus_per_task else \
                ("ntasks_per_node", opts.ntasks_per_node)
            refuse(key, value, f"cpus_per_task x ntasks_per_node <= {cpu_cap[0]}",
                   f"a job asks for {cpus} CPUs per node and {cpu_cap[1]}")
        mem_mb = slurm_megabytes(opts.mem) if opts.mem else None
        mem_caps = [(part.memory_mb, f"its nodes have at most {part.memory_mb} MB")] if part.memory_mb else []
        if part.max_mem_per_node_mb:
            mem_caps.append((part.max_mem_per_node_mb, f"its MaxMemPerNode is {part.max_mem_per_node_mb} MB (Slurm's "
                                                       "reason: MaxMemPerLimit)"))
        mem_cap = min(mem_caps, default=None)
        if mem_mb is not None and mem_cap is not None and mem_mb > mem_cap[0]:
            refuse("mem", opts.mem, f"at most {mem_cap[0]}M", mem_cap[1])
        if opts.time_limit is not None and part.max_minutes is not None:
            asked = slurm_minutes(opts.time_limit)  # None: 0, no limit, which a partition with a MaxTime refuses
            if asked is None or asked > part.max_minutes:
                job_value = given.get("time_limit") not in (None, "")  # else the SDK's option
                refuse("time_limit", given["time_limit"] if job_value else self.defaults.get("time_limit"),
                       f"at most {part.max_minutes:g} minutes",
                       f"its MaxTime is {part.max_minutes:g} minutes (Slurm's reason: PartitionTimeLimit)",
                       field=None if job_value else "platform_options.time_limit")
        if not checks:
            checks.append(PlatformCheck("resources", True, f"a job ({opts.num_nodes} node(s), {cpus} CPU(s) per node"
                                        + (f", {opts.mem} memory" if opts.mem else "") + f") fits partition "
                                        f"{part.name} ({part.nodes} node(s), up to {part.cpus or '?'} CPUs and "
                                        f"{part.memory_mb or '?'} MB each)"))
        if gpu_count:
            checks.append(self._gpus_fit(part, gpu_count, gpu_default))
        return checks

    @staticmethod
    def _gpus_fit(part: Partition, gpu_count: int, gpu_default: bool) -> PlatformCheck:
        """Whether a node of ``part`` has ``gpu_count`` GPUs (``--gres=gpu:N`` asks for N on each node)."""
        found = sorted(g for g in part.gres if "gpu" in g)
        most = max((gpus_per_node(g) for g in found), default=0)
        default = " (the default when platform_kwargs.gpu_count is not set)" if gpu_default else ""
        if found and (gpu_count <= most or not most):  # not most: no count given, nothing to compare
            return PlatformCheck("gres", True, f"partition {part.name} offers {', '.join(found)}")
        if found:
            detail = (f"partition {part.name}'s nodes have at most {most} GPUs ({', '.join(found)}): jobs with "
                      f"gpu_count={gpu_count}{default} would never start; set platform_kwargs.gpu_count to at most "
                      f"{most}")
            allowed = f"0..{most} on partition {part.name}"
        else:
            detail = (f"partition {part.name} has no gpu GRES: jobs with gpu_count={gpu_count}{default} would never "
                      "start; set platform_kwargs.gpu_count: 0 for CPU jobs, or use a partition with GPUs")
            allowed = f"0 on partition {part.name} (it has no gpu GRES)"
        return PlatformCheck("gres", False, detail, error=UserInputError(
            detail, field="platform_kwargs.gpu_count", value=gpu_count, allowed=allowed))

    def validate_job(self, gpu_count: int, options: Mapping[str, Any]) -> None:
        """The options :meth:`submit` builds the batch script from (partition, time_limit, counts, mem ...)."""
        JobOptions.build(gpu_count, options, self.defaults)

    # ----------------------------------------------------------- create
    def submit(self, request: JobRequest) -> Job:
        """``sbatch`` a script running ``command``; with ``job_name`` an existing job of that name is returned."""
        image, command, gpu_count, env_vars, outputs = (request.image, request.command, request.gpu_count,
                                                        request.env_vars, request.outputs)
        kwargs = request.options
        name = request.name
        opts = JobOptions.build(gpu_count, kwargs, self.defaults)
        key = job_key(name) if name else new_job_key()
        slurm_name = name or key
        self._image_notice(image)
        with self.records.name_lock(key):
            existing = self._existing(key, slurm_name) if name else None
            if existing is not None:
                logger.info("slurm job %s (%s) already exists; not submitting it again", existing["id"], name)
                return self._job(existing)
            job_dir = posixpath.join(self.jobs_dir, key)
            log_path = posixpath.join(job_dir, LOG_FILE)
            results = (outputs or {}).get("results_dir")
            results_dir = str(results) if results else posixpath.join(job_dir, "results")
            workdir = str(kwargs.get("working_dir") or job_dir)
            script = batch_script(slurm_name, log_path, workdir, command, opts, env_vars, self.use_pyxis, image,
                                  exit_file=posixpath.join(job_dir, EXIT_FILE),
                                  mounts=[workdir, *job_paths(command, results_dir, request.inputs)],
                                  results_dir=results_dir)
            script_path = posixpath.join(job_dir, SCRIPT_FILE)
            self.shell.write_text(script_path, script, 0o755)
            self.shell.mkdir(results_dir)
            try:
                argv = ["sbatch", "--parsable", *sbatch_options(slurm_name, log_path, opts), script_path]
                out = self.shell.run(argv, epoch_times=False).stdout.strip()
            except TransientPlatformError:
                raise
            except PlatformError as exc:  # an account Slurm refuses: the user's to fix, in a new run
                field = "account" if kwargs.get("account") else self.option_sources["account"]
                refused = refused_account(self.shell, str(exc), opts.account, field)
                if refused is None:
                    raise
                raise refused from None
            job_id = out.splitlines()[-1].split(";")[0].strip() if out else ""
            if not job_id.isdigit():
                raise PlatformError(f"sbatch gave no job id (output: {out!r})")
            rec = {"id": job_id, "name": slurm_name, "key": key, "job_dir": job_dir, "log_path": log_path,
                   "results_dir": results_dir, "script_path": script_path, "state": JobStatus.PENDING.value,
                   "submitted_at": time.time(), "tasks": opts.tasks, "host": self.shell.target
                   if self.shell.remote else None}
            self.records.save(rec)
            self.records.remember_name(key, slurm_name, job_id)
            logger.info("slurm job %s (%s) submitted", job_id, slurm_name)
            return self._job(rec)

    def find_job(self, job_name: str) -> str | None:
        """The id of the Slurm job submitted under ``job_name`` (name index, else ``squeue``), or None."""
        name = str(check_job_name(job_name, single_line=True))
        key = job_key(name)
        with self.records.name_lock(key):
            rec = self._existing(key, name)
        return None if rec is None else str(rec["id"])

    def _existing(self, key: str, name: str) -> dict[str, Any] | None:
        """The job already submitted under ``name``: from the name index, else from ``squeue``."""
        known = self.records.named(key, name)
        rec = self.records.find(known) if known else None
        if rec is not None:
            return rec
        out = self.shell.run(["squeue", "--me", "-h", "-t", "all", "--name", name, "-o", "%i|%j"]).stdout
        ids = [line.split("|", 1)[0] for line in out.splitlines() if line.split("|", 1)[-1] == name]
        if not ids:
            return None
        job_id = max(ids, key=int)
        fields = self._scontrol(job_id) or {}
        log_path = _literal_stdout(fields)
        job_dir = posixpath.dirname(log_path) if log_path else posixpath.join(self.jobs_dir, key)
        log_path = log_path or posixpath.join(job_dir, LOG_FILE)
        results_dir = self._noted_results_dir(job_dir) or posixpath.join(job_dir, "results")
        rec = {"id": job_id, "name": name, "key": key, "job_dir": job_dir, "log_path": log_path,
               "results_dir": results_dir, "state": JobStatus.PENDING.value,
               "submitted_at": _submit_time(fields), "adopted": True}
        self.records.save(rec)
        self.records.remember_name(key, name, job_id)
        return rec

    def _noted_results_dir(self, job_dir: str) -> str | None:
        """The results dir the job's batch script names (a job submitted with ``outputs``' results_dir writes
        there, not in its folder), or None when the script is gone or names none."""
        try:
            return noted_results_dir(self.shell.read_text(posixpath.join(job_dir, SCRIPT_FILE)))
        except PlatformError:
            return None

    def _image_notice(self, image: str | None) -> None:
        if image and not self.use_pyxis and not self._image_notice_done:
            self._image_notice_done = True
            logger.warning("the slurm platform ignores container images without a container runtime (got %r): "
                           "jobs use the software on the nodes; pass use_pyxis=True to run images with pyxis",
                           image)

    # ---------------------------------------------------------- records
    def _job(self, rec: Mapping[str, Any]) -> Job:
        return Job(id=str(rec["id"]), results_dir=str(rec["results_dir"]), name=rec.get("name"))

    def _record(self, job_id: str) -> dict[str, Any]:
        job_id = str(job_id).strip()
        rec = self.records.find(job_id)
        if rec is not None:
            return rec
        if job_id.isdigit():
            fields = self._scontrol(job_id)
            if fields is not None:  # a job submitted elsewhere: adopt it
                log_path = _literal_stdout(fields)
                job_dir = posixpath.dirname(log_path) or fields.get("WorkDir") or ""
                results_dir = self._noted_results_dir(job_dir) or posixpath.join(job_dir, "results")
                rec = {"id": job_id, "name": fields.get("JobName"), "key": None, "job_dir": job_dir,
                       "log_path": log_path, "results_dir": results_dir,
                       "state": JobStatus.PENDING.value, "submitted_at": _submit_time(fields), "adopted": True}
                self.records.save(rec)
                return rec
        raise UnknownJobError(f"unknown slurm job id {job_id!r}: Slurm does not know it and it has no record "
                              f"under {self.state_dir / 'jobs'}")

    # ----------------------------------------------------------- status
    def _scontrol(self, job_id: str) -> dict[str, str] | None:
        argv = ["scontrol", "show", "job", "-o", job_id]
        result = self.shell.run(argv, check=False)
        if result.returncode != 0:
            if "Invalid job id" in result.stderr:
                return None
            raise self.shell.error(argv, result)
        line = next((ln for ln in result.stdout.splitlines() if ln.startswith(f"JobId={job_id} ")), None)
        return parse_scontrol(line) if line else None

    def _sacct(self, job_id: str) -> dict[str, str] | None:
        """The job's accounting record: plain ``sacct`` with slurmdbd, else ``sacct -c`` (jobcomp file); None when
        neither answers, also when this machine has no ``sacct`` (the job's exit record is read then)."""
        tail = ["-n", "-P", "-j", job_id, "-o", ",".join(SACCT_FIELDS)]
        modes = [self._sacct_args] if self._sacct_args is not None else [["sacct", "-X"], ["sacct", "-c"]]
        for mode in modes:
            try:
                result = self.shell.run([*mode, *tail], check=False)
            except TransientPlatformError:
                raise
            except PlatformError as exc:  # not installed here: as a cluster that keeps no accounting
                logger.debug("slurm job %s: no accounting record: %s", job_id, exc)
                return None
            if result.returncode == 0:
                self._sacct_args = mode
                return parse_sacct(result.stdout, job_id)
        return None

    def _refresh(self, rec: dict[str, Any]) -> JobStatus:
        if rec.get("state") in _FINISHED:
            return JobStatus(rec["state"])
        job_id = str(rec["id"])
        fields = self._scontrol(job_id)
        if fields is None:
            fields = self._forgotten_job(rec)
        if fields is None:
            if time.time() - float(rec.get("submitted_at") or 0) < _CONTROLLER_LAG_S:
                return JobStatus(rec.get("state") or JobStatus.PENDING.value)
            code = self._recorded_exit(rec)
            forgotten = "Slurm no longer knows this job and keeps no accounting record of it"
            if code is None:
                rec.update(state=JobStatus.FAILURE.value, slurm_state="UNKNOWN", message=forgotten)
            else:  # its own exit record says how it ended
                state = JobStatus.SUCCESS if code == 0 else JobStatus.FAILURE
                rec.update(state=state.value, slurm_state="COMPLETED" if code == 0 else "FAILED", exit_code=code,
                           **({} if code == 0 else {"message": f"exit code {code} ({forgotten}; the job's exit "
                                                             "record says so)"}))
            self.records.save(rec)
            return JobStatus(rec["state"])
        info = job_info(fields)
        status = to_status(info["slurm_state"])
        changed = status.value != rec.get("state") or info["slurm_state"] != rec.get("slurm_state")
        # a Reason Slurm no longer gives (a started job's) is dropped: a queued job's Resources is no end's cause
        rec.update({k: v for k, v in info.items()
                    if v is not None or k in ("exit_code", "signal", "pending_reason", "reason")})
        rec["state"] = status.value
        if changed:
            self.records.save(rec)
        return status

    def _forgotten_job(self, rec: Mapping[str, Any]) -> dict[str, str] | None:
        """The accounting record of a job scontrol no longer knows (:meth:`_sacct`). A sacct that does not answer
        (slurmdbd down or slow) raises its transient error, unless the job's own exit record says how it ended:
        that is then read (None here) instead of failing every status read until sacct answers."""
        try:
            return self._sacct(str(rec["id"]))
        except TransientPlatformError as exc:
            if self._recorded_exit(rec) is None:
                raise
            logger.info("slurm job %s: sacct did not answer (%s); reading the job's exit record", rec["id"], exc)
            return None

    def _recorded_exit(self, rec: Mapping[str, Any]) -> int | None:
        """The exit status the job's batch script wrote as it exited (jobs submitted before it wrote one, or
        killed with SIGKILL, have none)."""
        job_dir = str(rec.get("job_dir") or "")
        if not job_dir:
            return None
        try:
            text = self.shell.read_text(posixpath.join(job_dir, EXIT_FILE))
        except PlatformError:
            return None
        value = (text or "").strip()
        return int(value) if value.isdigit() else None

    # ------------------------------------------------------------- logs
    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        """The job's output file (stdout and stderr), or its last ``tail`` lines; None before it exists."""
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise UserInputError(f"tail must be an integer >= 0, got {tail!r}", field="tail", value=tail,
                                 allowed="an integer >= 0, or None for the whole log")
        with self.records.lock:
            path = str(self._record(job_id).get("log_path") or "")
        return self.shell.read_text(path, tail) if path else None

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        """Text of a file under the job's results dir (read over ssh when remote); None when absent."""
        with self.records.lock:
            results = posixpath.normpath(str(self._record(job_id)["results_dir"]))
        target = posixpath.normpath(posixpath.join(results, relative_path))
        if target != results and not target.startswith(results.rstrip("/") + "/"):
            raise UserInputError(f"relative_path {relative_path!r} points outside the results dir {results}",
                                 field="relative_path", value=relative_path, allowed=RELATIVE_ALLOWED)
        if not self.shell.remote:
            target = str(contained_path(results, relative_path))  # also follows symlinks out of the dir
        return self.shell.read_text(target)

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        """None unless the job failed or was cancelled; else state, exit code, reason, node, error lines."""
        ended = self._ended(job_id)
        if ended is None:
            return None
        status, data, found = ended
        # Slurm gives Reason JobLaunchFailure also to a batch script a signal killed (kill -9); one that never ran
        # has no log file: its node could not open it
        unlaunched = data.get("reason") == "JobLaunchFailure" and self.get_job_logs(job_id, tail=0) is None
        return {
            "job_id": str(job_id), "status": status.value, "slurm_state": data.get("slurm_state"),
            "exit_code": data.get("exit_code"), "signal": data.get("signal"), "reason": data.get("reason"),
            "node": data.get("node"), "error_lines": found, "log_path": data.get("log_path"),
            "message": _describe(str(job_id), status, data, found, unlaunched),
        }

    # ----------------------------------------------------------- cancel
    def _cancel_wait_s(self) -> float:
        """How long a cancel waits for the job to end: the cluster's KillWait (``scontrol show config``: a job that
        ignores SIGTERM runs on that long before its SIGKILL) plus ``_CANCEL_WAIT_S``; Slurm's default KillWait
        (30 s) when the cluster does not say. Asked once per SDK."""
        if self._kill_wait_s is None:
            self._kill_wait_s = _DEFAULT_KILL_WAIT_S
            with contextlib.suppress(PlatformError):
                result = self.shell.run(["scontrol", "show", "config"], check=False)
                found = re.search(r"^KillWait\s*=\s*(\d+)\s*sec", result.stdout, re.MULTILINE)
                if result.returncode == 0 and found:
                    self._kill_wait_s = float(found.group(1))
        return self._kill_wait_s + _CANCEL_WAIT_S

    def cancel_job(self, job_id: str) -> bool:
        """``scancel`` the job and wait (up to :meth:`_cancel_wait_s`) until Slurm reports it ended: COMPLETING, while
        its processes are still being killed, counts as running, so the job writes nothing more once this returns True.
        False if it had already finished, or finished by itself just before the scancel reached it (Slurm then
        records it COMPLETED, a success, as it would have without the cancel)."""
        with self.records.lock:
            rec = self._record(job_id)
            if self._refresh(rec).is_finished():
                return False
            rec["cancel_requested"] = True
            self.records.save(rec)
            self.shell.run(["scancel", str(rec["id"])])
            deadline = time.monotonic() + self._cancel_wait_s()
        # the wait (up to KillWait) holds the lock only to read the job: other jobs' cancels run meanwhile
        while True:
            with self.records.lock:
                if self._refresh(rec).is_finished() or time.monotonic() >= deadline:
                    break
            time.sleep(0.2)
        with self.records.lock:
            if rec.get("state") not in (JobStatus.CANCELLED.value, *_UNFINISHED):
                logger.info("slurm job %s ended by itself (%s) before the cancel reached it", job_id, rec.get("state"))
                return False
        logger.info("slurm job %s cancelled", job_id)
        return True


def _launch_failure(job_id: str, where: str, data: Mapping[str, Any]) -> str:
    """A job whose batch script Slurm could not start (Reason JobLaunchFailure; its ExitCode's "signal" 53 is no
    signal): most often the node could not open its log file, so there is no log to read."""
    log = f" {data['log_path']}" if data.get("log_path") else ""
    return (f"Slurm job {job_id} FAILED{where} before its command ran: Slurm could not launch its batch script "
            f"(JobLaunchFailure), most often because the node could not open its log file{log}: a jobs folder the "
            "node does not see or cannot write (set platform_options.jobs_dir to a folder on a filesystem the nodes "
            "share); the node's slurmd log names the cause.")


def _submit_time(fields: Mapping[str, str]) -> float:
    """When Slurm took the job (its ``SubmitTime``, in epoch seconds as this SDK's shell asks for), not when this
    process found it: a job adopted by its name after the orchestrator that submitted it was killed keeps its own
    submission time (else now, when Slurm does not say)."""
    value = (fields.get("SubmitTime") or "").strip()
    return float(value) if value.isdigit() and int(value) > 0 else time.time()


def _literal_stdout(fields: Mapping[str, str]) -> str:
    """The job's log path as ``scontrol`` shows it (``StdOut``), or "" when unknown or not the file's name: one the
    SDK escaped (a ``%`` in its folder, :func:`~tao_automl.platforms.slurm.script.output_option`) is shown with the
    escaping backslash and ``%j`` replaced, a path that does not exist."""
    path = fields.get("StdOut") or ""
    return "" if "\\" in path else path


def _describe(job_id: str, status: JobStatus, data: Mapping[str, Any], found: list[str],
              unlaunched: bool = False) -> str:
    """One sentence on why the job did not succeed; ``unlaunched``: its batch script never ran (no log file)."""
    where = f" on node {data['node']}" if data.get("node") else ""
    if status is JobStatus.CANCELLED:
        return f"Slurm job {job_id} was cancelled{where}."
    state = slurm_state(str(data.get("slurm_state") or "FAILED"))
    if data.get("message"):
        return f"Slurm job {job_id} failed: {data['message']}."
    if state == "TIMEOUT":
        limit = f" ({data['time_limit']})" if data.get("time_limit") else ""
        return (f"Slurm job {job_id} ended TIMEOUT{where}: it reached its time limit{limit} and Slurm killed it; "
                "raise time_limit (platform_kwargs.time_limit, or platform_options.time_limit for the whole run: "
                "minutes, or a Slurm time such as '04:00:00') if it needs longer.")
    if state.startswith("OUT_OF_ME"):
        given = f" ({data['memory']})" if data.get("memory") else ""
        return (f"Slurm job {job_id} ended OUT_OF_MEMORY{where}: it used more memory than it was given{given} and "
                "the OOM killer stopped it; raise mem (platform_kwargs.mem: megabytes, or a Slurm size such as '16G') "
                "if it needs more.")
    if state in STATE_REASONS:
        return f"Slurm job {job_id} ended {state}{where}: {STATE_REASONS[state]}."
    if unlaunched:
        return _launch_failure(job_id, where, data)
    parts = [f"Slurm job {job_id} {state}{where}"]
    if data.get("signal"):
        parts.append(f" (killed by signal {data['signal']})")
    elif data.get("exit_code") is not None:
        parts.append(f" with exit code {data['exit_code']}")
    if data.get("reason"):
        parts.append(f" [{data['reason']}]")
    first = next((i for i, line in enumerate(found) if _TASK_EXIT.search(line)), None)
    if first is None:
        error = reason_line(found)
    else:  # one task failed and srun killed the others: their "Terminated" lines come after, and are no cause
        task = _TASK_EXIT.search(found[first])
        assert task is not None
        parts.append(f" (task {task['task']} exited with exit code {task['code']} first; srun then stopped the "
                     "other tasks)")
        earlier = [line for line in found[:first] if ERROR_PATTERN.search(line)]
        error = earlier[-1].strip() if earlier else found[first].strip()
    return "".join(parts) + (f": {error}" if error else "") + "."

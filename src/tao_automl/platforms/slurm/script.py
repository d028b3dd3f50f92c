"""The batch script a Slurm job runs: ``#SBATCH`` options, exported env vars, rendezvous variables."""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tao_automl.errors import UserInputError
from tao_automl.platforms.common import absolute_strings, check_int, command_path_args, command_text, is_system_path

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}\Z")
_SAFE_VALUE = re.compile(r"^[^\s#\n]+\Z")
#: What sbatch takes as ``--mem``: whole megabytes, or a whole number with a unit K, M, G or T (a B after it allowed).
_MEM = re.compile(r"^\d+(?:[KMGT]B?)?\Z", re.IGNORECASE)
_MEM_ALLOWED = "megabytes (an integer >= 0) or a whole number with a unit K, M, G or T, such as '16G' or '512M'"


def _word(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _SAFE_VALUE.match(value):
        raise UserInputError(f"{name} must be a single word without spaces or '#', got {value!r}", field=name,
                             value=value, allowed="a single word without spaces or '#'")
    return value


def time_limit(value: object) -> str | None:
    """``--time`` from minutes (int; 0 = no limit, as Slurm reads it) or a Slurm time string (``MM``,
    ``HH:MM:SS``, ``D-HH:MM``)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(check_int("time_limit", value, 0))
    if isinstance(value, str) and _TIME.match(value.strip()):
        return value.strip()
    raise UserInputError(
        f"time_limit must be minutes (an integer >= 0; 0: no limit) or a Slurm time like '01:30:00' or '1-00:00', "
        f"got {value!r}", field="time_limit", value=value,
        allowed="minutes (an integer >= 0; 0: no limit) or a Slurm time: MM, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS")


def memory(value: object) -> str | None:
    """``--mem`` from megabytes (int; 0 = all of a node's memory, as Slurm reads it) or a Slurm size (``16G``): a
    whole number, as sbatch takes (``1.5G`` or ``16X`` would fail every job at its submission)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(check_int("mem", value, 0))
    if value is None or value == "" or (isinstance(value, str) and _MEM.match(value)):
        return value or None
    raise UserInputError(f"mem must be {_MEM_ALLOWED} (sbatch refuses anything else), got {value!r}",
                         field="mem", value=value, allowed=_MEM_ALLOWED)


def tcp_port(name: str, value: object) -> int | None:
    """A TCP port, 1..65535 (the rendezvous ``master_port``, which no trainer can bind above; ``ssh_port``), or
    None; else a UserInputError naming ``name``."""
    if value is None:
        return None
    port = check_int(name, value, 1)
    if port > 65535:
        raise UserInputError(f"{name} must be a TCP port, 1..65535, got {port}", field=name, value=port,
                             allowed="an integer 1..65535")
    return port


@dataclass(frozen=True)
class JobOptions:
    """The per-job Slurm options taken from ``create_job`` kwargs and the SDK defaults."""

    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None
    num_nodes: int = 1
    ntasks_per_node: int = 1
    gpu_count: int = 0
    cpus_per_task: int | None = None
    mem: str | None = None
    container_image: str | None = None
    container_mounts: str | None = None
    master_port: int | None = None

    @classmethod
    def build(cls, gpu_count: object, kwargs: Mapping[str, Any], defaults: Mapping[str, Any]) -> JobOptions:
        """Validated options: ``kwargs`` win over ``defaults``."""
        def pick(key: str, fallback: Any = None) -> Any:
            value = kwargs.get(key)
            return defaults.get(key, fallback) if value is None else value

        cpus = pick("cpus_per_task")
        port = pick("master_port")
        return cls(
            partition=_word("partition", pick("partition")),
            account=_word("account", pick("account")),
            time_limit=time_limit(pick("time_limit")),
            num_nodes=check_int("num_nodes", pick("num_nodes", 1), 1),
            ntasks_per_node=check_int("ntasks_per_node", pick("ntasks_per_node", 1), 1),
            gpu_count=check_int("gpu_count", gpu_count, 0),
            cpus_per_task=None if cpus is None else check_int("cpus_per_task", cpus, 1),
            mem=memory(pick("mem")),
            container_mounts=_word("container_mounts", pick("container_mounts")),
            master_port=tcp_port("master_port", port),
        )

    @property
    def tasks(self) -> int:
        return self.num_nodes * self.ntasks_per_node


def output_option(path: str) -> str:
    """``--output`` naming ``path`` literally. Slurm reads ``%j``, ``%x`` ... in the name as the job id, its name ...
    unless the name holds a backslash, and then drops every backslash: so each ``%`` goes as ``\\%``, and a path
    with a backslash of its own cannot be named (a UserInputError naming it)."""
    if "\\" in path:
        raise UserInputError(
            f"jobs_dir: the job's log path {path!r} holds a backslash, which Slurm's --output drops (it cannot name "
            "such a file)", field="jobs_dir", value=path,
            allowed="a jobs_dir (or run folder, without a jobs_dir) whose path has no backslash")
    return "--output=" + path.replace("%", "\\%")


def _directive(option: str) -> str:
    """One ``#SBATCH`` line. sbatch reads quotes in it as a shell would, but a backslash as an escape even inside
    quotes: each is doubled, then the option is quoted."""
    return f"#SBATCH {shlex.quote(option.replace(chr(92), chr(92) * 2))}"


def sbatch_options(name: str, output: str, opts: JobOptions) -> list[str]:
    """The job's sbatch options (``--flag=value`` each), given both as the script's ``#SBATCH`` lines and on the
    sbatch command line: the ``SBATCH_*`` environment variables (``SBATCH_TIMELIMIT``, ``SBATCH_PARTITION``,
    ``SBATCH_JOB_NAME`` ...) override a script's lines, never the command line's options."""
    lines = [f"--job-name={name}", output_option(output), f"--nodes={opts.num_nodes}",
             f"--ntasks-per-node={opts.ntasks_per_node}"]
    for flag, value in (("partition", opts.partition), ("account", opts.account), ("time", opts.time_limit),
                        ("cpus-per-task", opts.cpus_per_task), ("mem", opts.mem)):
        if value is not None:
            lines.append(f"--{flag}={value}")
    if opts.gpu_count > 0:
        lines.append(f"--gres=gpu:{opts.gpu_count}")
    return lines


def sbatch_lines(name: str, output: str, opts: JobOptions) -> list[str]:
    """The ``#SBATCH`` header lines."""
    return [_directive(option) for option in sbatch_options(name, output, opts)]


def export_lines(env_vars: Mapping[str, Any] | None) -> list[str]:
    """``export NAME=value`` lines, values shell-quoted; bad names are a user error."""
    lines = []
    for key, value in (env_vars or {}).items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise UserInputError(f"env_vars key {key!r} is not a valid environment variable name "
                                 "(letters, digits and '_', not starting with a digit)", field="env_vars", value=key,
                                 allowed="a name of letters, digits and '_', not starting with a digit")
        lines.append(f"export {key}={shlex.quote(str(value))}")
    return lines


_RENDEZVOUS = """\
# rendezvous for distributed trainers (torchrun / torch.distributed env:// style)
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_ADDR
export MASTER_PORT=${{MASTER_PORT:-{port}}}
export WORLD_SIZE=${{SLURM_NTASKS:-1}}
export NNODES=${{SLURM_JOB_NUM_NODES:-1}}
"""
_RANKS = "export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID NODE_RANK=$SLURM_NODEID; "


def exit_record(path: str) -> list[str]:
    """Bash traps that write the script's exit status to ``path`` (through a temporary file, so a reader never sees
    half of it) and keep that status: how the job ended, readable after Slurm has forgotten the job on a cluster
    that keeps no accounting. A job ended by SIGTERM, SIGINT or SIGHUP (scancel, its time limit) records 128 plus
    the signal's number, not the status of the command before; one killed by SIGKILL records nothing."""
    target, temp = shlex.quote(path), shlex.quote(path + ".tmp")
    lines = [f"rm -f {target}",  # an earlier job's record in a reused folder says nothing of this one
             f'_tao_exit_record() {{ printf "%s\\n" "$1" > {temp} && mv -f {temp} {target}; }}',
             "trap '_tao_exit_record $?' EXIT"]
    lines += [f"trap '_tao_exit_record {code}; trap - EXIT; exit {code}' {name}"
              for name, code in (("TERM", 143), ("INT", 130), ("HUP", 129))]
    return lines


def job_paths(command: str | Sequence[str], results_dir: str | None, inputs: Mapping[str, Any] | None) -> list[str]:
    """The absolute paths a job reads or writes by name: the results dir, the command's path arguments (the spec
    file), the ``inputs`` values (dataset and checkpoint paths, nested lists and mappings included); system
    folders, and paths pyxis' ``SRC:DST`` list cannot hold (a ``,`` or ``:``), left out."""
    out: list[str] = []
    named = [*absolute_strings([results_dir]), *command_path_args(command), *absolute_strings(dict(inputs or {}))]
    for value in named:
        path = posixpath.normpath(value)
        if "," not in value and ":" not in value and not is_system_path(path) and path not in out:
            out.append(path)
    return out


def mount_lines(paths: Sequence[str]) -> list[str]:
    """Bash lines that set ``_tao_mounts`` to a pyxis ``--container-mounts`` list of ``paths`` at the same path, as
    they are on the node the job starts on: a folder itself, a file's folder, a missing path not at all (pyxis
    fails a job whose mount source is missing)."""
    if not paths:
        return []
    quoted = " ".join(shlex.quote(p) for p in paths)
    return ["_tao_mounts=",
            f"for _tao_p in {quoted}; do",
            '  if [ -f "$_tao_p" ]; then _tao_p=$(dirname "$_tao_p"); elif [ ! -d "$_tao_p" ]; then continue; fi',
            '  case ",$_tao_mounts," in *",$_tao_p:$_tao_p,"*) ;; '
            '*) _tao_mounts="${_tao_mounts:+$_tao_mounts,}$_tao_p:$_tao_p" ;; esac',
            "done"]


#: The comment naming the job's results dir, read back when the job is found by its name (:func:`noted_results_dir`).
_RESULTS_NOTE = "# tao-automl results_dir: "


def noted_results_dir(script: str | None) -> str | None:
    """The results dir a batch script written by :func:`batch_script` names, or None."""
    for line in (script or "").splitlines():
        if line.startswith(_RESULTS_NOTE):
            with contextlib.suppress(ValueError):
                value = json.loads(line[len(_RESULTS_NOTE):])
                return value if isinstance(value, str) and value else None
    return None


def batch_script(name: str, output: str, workdir: str, command: str | Sequence[str], opts: JobOptions,
                 env_vars: Mapping[str, Any] | None = None, use_pyxis: bool = False,
                 image: str | None = None, exit_file: str | None = None, mounts: Sequence[str] = (),
                 results_dir: str | None = None) -> str:
    """The whole batch script. Several tasks (or a pyxis image) run through ``srun``; ``exit_file``: where the
    script records its exit status (:func:`exit_record`). ``mounts``: host paths a pyxis container gets at the same
    path (:func:`job_paths`: the spec's folder, the results dir, the data), besides ``container_mounts``.
    ``results_dir``: noted in a comment, for a process that finds the job by its name without its record."""
    body = command_text(command)
    port = opts.master_port if opts.master_port is not None else "$((20000 + SLURM_JOB_ID % 20000))"
    note = [f"{_RESULTS_NOTE}{json.dumps(results_dir)}"] if results_dir else []
    lines = ["#!/bin/bash", *sbatch_lines(name, output, opts), "", *note, *export_lines(env_vars),
             *(exit_record(exit_file) if exit_file else []),
             f"cd {shlex.quote(workdir)} || exit 1", _RENDEZVOUS.format(port=port)]
    container = bool(use_pyxis and image)
    if opts.tasks > 1 or container:
        srun = ["srun", "--kill-on-bad-exit=1"]
        auto = ""
        if container:
            srun.append(f"--container-image={image}")
            if opts.container_mounts:
                srun.append(f"--container-mounts={opts.container_mounts}")
            if mounts:
                lines += mount_lines(mounts)
                auto = ' ${_tao_mounts:+"--container-mounts=$_tao_mounts"}'
        inner = _RANKS + body
        # exec would replace the shell and lose the exit record's trap
        lines.append(f"{'' if exit_file else 'exec '}{shlex.join(srun)}{auto} bash -c {shlex.quote(inner)}")
    else:
        lines.append("export RANK=0 LOCAL_RANK=0 NODE_RANK=0")
        lines.append(body)
    return "\n".join(lines) + "\n"

"""Running Slurm commands and touching job files, on this machine or on a login node over SSH.

Over SSH every call reuses one multiplexed connection (``ControlMaster``/``ControlPersist``) and host
keys are verified (``StrictHostKeyChecking=yes`` unless the caller chooses otherwise).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tao_automl.errors import PlatformError
from tao_automl.platforms.files import read_text, tail_lines
from tao_automl.platforms.retry import TransientPlatformError

#: Slurm / ssh messages that mean "try again later", not "this request is wrong".
TRANSIENT_PATTERN = re.compile(
    r"Socket timed out|Unable to contact slurm controller|Connection refused|Connection timed out|"
    r"Connection reset|Transport endpoint|Resource temporarily unavailable|Zero Bytes were transmitted|"
    r"slurm_receive_msg|Slurm backup controller in standby|Communication connection failure|"
    r"temporarily unable|Network is unreachable|Broken pipe|try again",
    re.IGNORECASE,
)
SSH_FAILED = 255
_TIME_FORMAT = "SLURM_TIME_FORMAT"
#: strftime's seconds since the epoch: what Slurm's clients print time stamps as (EndTime=1796271239).
TIME_FORMAT = "%s"
_SSH_REFUSED = (r"Host key verification failed|Permission denied|REMOTE HOST IDENTIFICATION HAS CHANGED|"
                r"Bad configuration option|no such identity")
#: ssh failures that retrying cannot fix: the refusals below, and a host name that does not resolve.
SSH_PERMANENT = re.compile(_SSH_REFUSED + r"|Could not resolve hostname", re.IGNORECASE)
#: ssh failures where the login node answered (or this machine's ssh set-up is wrong): the user's to fix, never
#: "unreachable" (unlike a refused or timed-out connection or an unknown host name).
SSH_REFUSED = re.compile(_SSH_REFUSED, re.IGNORECASE)


@dataclass(frozen=True)
class Result:
    """Exit code and text output of one command."""

    returncode: int
    stdout: str
    stderr: str


def _control_dir() -> Path:
    # Unix socket paths are limited to ~104 bytes: keep the ControlPath short.
    path = Path(tempfile.gettempdir()) / f"tao-automl-ssh-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@dataclass
class Shell:
    """Where Slurm commands run: locally (``hostname`` None) or on ``user@hostname`` over ssh."""

    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    key_path: str | None = None
    known_hosts: str | None = None
    strict_host_key_checking: str = "yes"
    control_persist_s: int = 300
    timeout_s: float = 60.0
    extra_ssh_options: Sequence[str] = field(default_factory=tuple)

    @property
    def remote(self) -> bool:
        return bool(self.hostname)

    @property
    def target(self) -> str:
        return f"{self.user}@{self.hostname}" if self.user else str(self.hostname)

    def ssh_argv(self) -> list[str]:
        """The ssh command line (without the remote command) every call goes through."""
        # one master per (target, identity, host-key policy): a different known_hosts never reuses it
        ident = f"{self.target}:{self.port}:{self.key_path}:{self.known_hosts}:{self.strict_host_key_checking}"
        key = hashlib.sha256(ident.encode()).hexdigest()[:16]
        argv = [
            "ssh", "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={self.strict_host_key_checking}",
            "-o", "ControlMaster=auto", "-o", f"ControlPath={_control_dir() / key}",
            "-o", f"ControlPersist={self.control_persist_s}", "-o", "ConnectTimeout=15",
            "-o", "ServerAliveInterval=15",
        ]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.key_path:
            argv += ["-i", self.key_path, "-o", "IdentitiesOnly=yes"]
        if self.port:
            argv += ["-p", str(self.port)]
        argv += list(self.extra_ssh_options)
        return [*argv, self.target, "--"]

    def run(self, argv: Sequence[str], stdin: str | None = None, check: bool = True,
            epoch_times: bool = True) -> Result:
        """Run ``argv``; transient failures raise TransientPlatformError, others PlatformError (if ``check``).
        Slurm's clients print time stamps as seconds since the epoch (``SLURM_TIME_FORMAT``): no time zone to
        guess, here or on a login node. ``epoch_times=False`` (``sbatch``, whose job inherits the environment it is
        submitted from): the variable is not set, so a job's own squeue/sacct calls print the cluster's format."""
        prefix = f"{_TIME_FORMAT}={TIME_FORMAT} " if epoch_times else ""
        full = [*self.ssh_argv(), f"{prefix}{shlex.join(argv)}"] if self.remote else list(argv)
        env = None if self.remote else {**os.environ, **({_TIME_FORMAT: TIME_FORMAT} if epoch_times else {})}
        try:
            # bytes that are not UTF-8 (a job's log or results file read with cat) are replaced, as a local read does
            proc = subprocess.run(full, input=stdin, capture_output=True, text=True, encoding="utf-8",
                                  errors="replace", timeout=self.timeout_s, check=False, env=env)
        except subprocess.TimeoutExpired as exc:
            raise TransientPlatformError(f"{argv[0]} timed out after {self.timeout_s:g} s") from exc
        except FileNotFoundError as exc:
            where = "ssh" if self.remote else argv[0]
            raise PlatformError(f"{where} not found on this machine: is the Slurm client installed? "
                                "(or set SLURM_HOSTNAME to use a login node over ssh)") from exc
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and result.returncode != 0:
            raise self.error(argv, result)
        return result

    def error(self, argv: Sequence[str], result: Result) -> PlatformError:
        """The exception for a failed command: transient or permanent, with the command's own message."""
        message = (result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}")[-2000:]
        text = f"{argv[0]} failed: {message}"
        if self.remote and result.returncode == SSH_FAILED:
            if SSH_PERMANENT.search(message):
                return PlatformError(f"ssh to {self.target} failed: {message}")
            return TransientPlatformError(f"ssh to {self.target} failed (exit 255): {message}")
        if TRANSIENT_PATTERN.search(message):
            return TransientPlatformError(text)
        return PlatformError(text)

    # ------------------------------------------------------------- files
    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Create ``path`` (and its parent) with ``text``."""
        if not self.remote:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            target.chmod(mode)
            return
        parent = str(Path(path).parent)
        script = f"mkdir -p {shlex.quote(parent)} && cat > {shlex.quote(path)} && chmod {mode:o} {shlex.quote(path)}"
        self.run(["sh", "-c", script], stdin=text)

    def mkdir(self, path: str) -> None:
        if self.remote:
            self.run(["mkdir", "-p", path])
        else:
            Path(path).mkdir(parents=True, exist_ok=True)

    def read_text(self, path: str, tail: int | None = None) -> str | None:
        """A file's text (or its last ``tail`` lines); None when it does not exist."""
        if not self.remote:
            return read_text(Path(path)) if tail is None else tail_lines(Path(path), tail)
        reader = ["cat", "--", path] if tail is None else ["tail", "-n", str(tail), "--", path]
        script = f"test -f {shlex.quote(path)} || exit 3; exec {shlex.join(reader)}"
        result = self.run(["sh", "-c", script], check=False)
        if result.returncode == 3:
            return None
        if result.returncode != 0:
            raise self.error(reader, result)
        return result.stdout

"""Making sure a local Slurm is up for tests and CI: ``scontrol ping``, else ``ci/slurm_up.sh`` as root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def slurm_is_up() -> bool:
    """True when ``scontrol ping`` reaches a controller and ``sinfo`` shows a usable node."""
    if shutil.which("scontrol") is None:
        return False
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10, check=False)
        if "is UP" not in ping.stdout:
            return False
        info = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s.strip().rstrip("*") in ("idle", "mix", "alloc") for s in info.stdout.splitlines())


def ensure_local_slurm(up_script: Path) -> str | None:
    """None when Slurm is (now) up; else why it cannot be started here (a skip reason). Callers that ask
    often (a test session) keep the answer themselves: this module holds no state."""
    reason: str | None = None
    if not slurm_is_up():
        if os.geteuid() != 0:
            reason = f"no Slurm running and not root, so {up_script} cannot install/start one"
        elif shutil.which("scontrol") is None and shutil.which("apt-get") is None:
            reason = "no Slurm installed and no apt-get to install it"
        else:
            proc = subprocess.run(["bash", str(up_script)], capture_output=True, text=True, timeout=600,
                                  check=False)
            if proc.returncode != 0 or not slurm_is_up():
                raise RuntimeError(f"{up_script} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return reason

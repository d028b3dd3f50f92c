"""GPU discovery and hand-out for the local platform (``CUDA_VISIBLE_DEVICES`` per job)."""

from __future__ import annotations

import logging
import numbers
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from tao_automl.errors import UserInputError

logger = logging.getLogger(__name__)

_NVIDIA_SMI_TIMEOUT_S = 15.0


def parse_visible_devices(value: str) -> list[str]:
    """GPU ids listed in a ``CUDA_VISIBLE_DEVICES`` value; CUDA stops at the first ``-1``."""
    ids: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if item == "-1" or item.lower() == "nodevfiles":
            break
        ids.append(item)
    return ids


GPU_IDS_ALLOWED = ("a list of distinct GPU ids: integers >= 0 or names such as 'GPU-<uuid>' (no comma or space), "
                   "e.g. [0, 1]; [] for none")


def check_gpu_ids(value: object) -> list[str] | None:
    """``LocalSDK(gpu_ids=...)`` as the ids it hands out (None stays None: detect them). A string is refused, not
    iterated ("0,1" would be the ids '0', ',' and '1'), as are a bool, a negative number and a repeated id."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise UserInputError(f"gpu_ids: {value!r} is not allowed; expected {GPU_IDS_ALLOWED}", field="gpu_ids",
                             value=value, allowed=GPU_IDS_ALLOWED)
    ids: list[str] = []
    for item in value:
        ok = (isinstance(item, numbers.Integral) and not isinstance(item, bool) and int(item) >= 0) or \
            (isinstance(item, str) and item.strip() == item and bool(item) and not any(c in item for c in ", ") and
             item != "-1")
        text = str(int(item)) if isinstance(item, numbers.Integral) and not isinstance(item, bool) else str(item)
        if not ok or text in ids:
            why = "is given twice" if ok else "is not a GPU id"
            raise UserInputError(f"gpu_ids: {item!r} {why} (in {list(value)!r}); expected {GPU_IDS_ALLOWED}",
                                 field="gpu_ids", value=list(value), allowed=GPU_IDS_ALLOWED)
        ids.append(text)
    return ids


def query_nvidia_smi() -> list[str] | None:
    """GPU indices reported by ``nvidia-smi``; None when it is missing or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("nvidia-smi failed (%s); treating this machine as having no GPUs", exc)
        return None
    if proc.returncode != 0:
        logger.warning("nvidia-smi exited with %d; treating this machine as having no GPUs", proc.returncode)
        return None
    return [line.strip() for line in proc.stdout.splitlines() if line.strip().isdigit()]


def detect_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs jobs may use: an existing ``CUDA_VISIBLE_DEVICES`` wins, else ``nvidia-smi``, else none.

    An inherited ``CUDA_VISIBLE_DEVICES`` is a restriction someone chose for this process, so it is
    respected even when ``nvidia-smi`` sees more devices.
    """
    return seen_gpus(environ)[0]


def seen_gpus(environ: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """:func:`detect_gpus`'s ids and, in words, where they come from."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return parse_visible_devices(visible), f"this process's CUDA_VISIBLE_DEVICES={visible!r}"
    found = query_nvidia_smi()
    return (found or []), ("nvidia-smi" if found is not None else "nvidia-smi (missing or failed)")


def foreign_gpu_ids(ids: Sequence[str], seen: Sequence[str]) -> list[str]:
    """The GPU indices of ``ids`` that ``seen`` (this machine's, all indices) does not list. An id in another form
    (``GPU-<uuid>``), or any id when ``seen`` is empty or holds such names, cannot be compared: never listed."""
    if not seen or not all(s.isdigit() for s in seen):
        return []
    return [g for g in ids if g.isdigit() and g not in seen]


class GpuAllocator:
    """Hands out GPU ids: least-used first, ties broken round-robin."""

    def __init__(self, gpu_ids: Sequence[str]) -> None:
        self.gpu_ids = list(dict.fromkeys(str(g) for g in gpu_ids))
        self._cursor = 0

    def allocate(self, count: int, usage: Mapping[str, int]) -> list[str]:
        """Pick ``count`` distinct ids given how many running jobs use each; caller checks ``count``."""
        n = len(self.gpu_ids)
        if count <= 0 or n == 0:
            return []
        order = sorted(range(n), key=lambda i: (usage.get(self.gpu_ids[i], 0), (i - self._cursor) % n))
        chosen = order[:count]
        self._cursor = (max(chosen, key=lambda i: (i - self._cursor) % n) + 1) % n
        return [self.gpu_ids[i] for i in sorted(chosen)]

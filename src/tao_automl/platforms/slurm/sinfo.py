"""What ``sinfo -h -o "%P|%a|%G|%D|%c|%m|%l"`` says of each partition: state, GRES, node count, CPUs, memory and
the longest time a job may ask for; and what ``scontrol show partition -o`` adds: the CPUs and memory a job may use
on one node (MaxCPUsPerNode, MaxMemPerNode), which may be less than the nodes have."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tao_automl.platforms.slurm.state import parse_scontrol

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.IGNORECASE)
#: One GPU entry of a node's GRES: ``gpu:4``, ``gpu:a100:4``, ``gpu:a100:4(S:0-1)``.
_GPU_GRES = re.compile(r"(?:^|,)gpu(?::[^:,(]+)?:(\d+)", re.IGNORECASE)
_MB_PER_UNIT = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 ** 2}


@dataclass
class Partition:
    """One partition, summed over its ``sinfo`` rows (one row per kind of node)."""

    name: str
    default: bool = False
    state: str = "up"
    nodes: int = 0
    #: The most CPUs / MB of memory one of its nodes has (0: unknown).
    cpus: int = 0
    memory_mb: int = 0
    gres: set[str] = field(default_factory=set)
    #: The partition's MaxTime in minutes (None: infinite or not said).
    max_minutes: float | None = None
    #: The partition's MaxCPUsPerNode / MaxMemPerNode in MB (None: unlimited or not known).
    max_cpus_per_node: int | None = None
    max_mem_per_node_mb: int | None = None

    @property
    def up(self) -> bool:
        return self.state == "up"


def _number(text: str) -> int:
    """``"2"``, ``"2+"`` (mixed nodes: at least 2) -> 2; anything else -> 0 (unknown)."""
    text = text.strip().rstrip("+")
    return int(text) if text.isdigit() else 0


def slurm_minutes(text: str) -> float | None:
    """A Slurm time (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``) in minutes; None for
    ``infinite``/``UNLIMITED``, ``0`` (no limit) or anything unreadable."""
    text = text.strip()
    days, _, rest = text.rpartition("-") if "-" in text else ("", "", text)
    try:
        fields = [int(f) for f in rest.split(":")]
        day = int(days) if days else 0
    except ValueError:
        return None
    if days:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = [*fields, 0, 0][:3]
    elif len(fields) == 3:
        hours, minutes, seconds = fields
    elif len(fields) == 2:
        hours, (minutes, seconds) = 0, fields
    elif len(fields) == 1:
        hours, minutes, seconds = 0, fields[0], 0
    else:
        return None
    total = day * 1440 + hours * 60 + minutes + seconds / 60
    return total if total > 0 else None


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions by name from ``sinfo -h -o "%P|%a|%G|%D|%c|%m|%l"`` output (the default one's name ends in ``*``;
    the six-column form without ``%l`` is read too)."""
    partitions: dict[str, Partition] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) not in (6, 7):
            continue
        raw, avail, gres, nodes, cpus, memory = parts[:6]
        name = raw.strip().rstrip("*")
        part = partitions.setdefault(name, Partition(name))
        part.default = part.default or raw.strip().endswith("*")
        part.state = avail.strip()
        part.gres.add(gres.strip())
        part.nodes += _number(nodes)
        part.cpus = max(part.cpus, _number(cpus))
        part.memory_mb = max(part.memory_mb, _number(memory))
        if len(parts) == 7:
            part.max_minutes = slurm_minutes(parts[6])
    return partitions


def _limit(text: str | None) -> int | None:
    """A partition limit: a positive number, else None (``UNLIMITED``, ``0``, absent)."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def add_partition_limits(partitions: dict[str, Partition], text: str) -> None:
    """Set each partition's per-node limits from ``scontrol show partition -o`` output (one line a partition)."""
    for line in text.splitlines():
        fields = parse_scontrol(line.strip())
        part = partitions.get(fields.get("PartitionName", ""))
        if part is not None:
            part.max_cpus_per_node = _limit(fields.get("MaxCPUsPerNode"))
            part.max_mem_per_node_mb = _limit(fields.get("MaxMemPerNode"))


def slurm_megabytes(value: str) -> int | None:
    """``--mem`` as megabytes (Slurm's default unit is M: ``"4000"``, ``"4G"``, ``"512M"``); None when unreadable."""
    match = _SIZE.match(value.strip())
    if not match:
        return None
    return int(float(match.group(1)) * _MB_PER_UNIT[(match.group(2) or "M").upper()])


def gpus_per_node(gres: str) -> int:
    """The GPUs one node of an ``sinfo`` row has, from its GRES (``gpu:a100:4,nvme:1`` -> 4; GPUs of several types,
    ``gpu:a100:4(S:0),gpu:v100:2(S:1)``, add up); 0 when it names none with a count."""
    return sum(int(m.group(1)) for m in _GPU_GRES.finditer(gres.strip()))

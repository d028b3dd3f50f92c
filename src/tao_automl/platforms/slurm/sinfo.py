"""What ``sinfo -h -o "%P|%a|%G|%D|%c|%m"`` says of each partition: state, GRES, node count, CPUs and memory."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.IGNORECASE)
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

    @property
    def up(self) -> bool:
        return self.state == "up"


def _number(text: str) -> int:
    """``"2"``, ``"2+"`` (mixed nodes: at least 2) -> 2; anything else -> 0 (unknown)."""
    text = text.strip().rstrip("+")
    return int(text) if text.isdigit() else 0


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions by name from ``sinfo -h -o "%P|%a|%G|%D|%c|%m"`` output (the default one's name ends in ``*``)."""
    partitions: dict[str, Partition] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != 6:
            continue
        raw, avail, gres, nodes, cpus, memory = parts
        name = raw.strip().rstrip("*")
        part = partitions.setdefault(name, Partition(name))
        part.default = part.default or raw.strip().endswith("*")
        part.state = avail.strip()
        part.gres.add(gres.strip())
        part.nodes += _number(nodes)
        part.cpus = max(part.cpus, _number(cpus))
        part.memory_mb = max(part.memory_mb, _number(memory))
    return partitions


def slurm_megabytes(value: str) -> int | None:
    """``--mem`` as megabytes (Slurm's default unit is M: ``"4000"``, ``"4G"``, ``"512M"``); None when unreadable."""
    match = _SIZE.match(value.strip())
    if not match:
        return None
    return int(float(match.group(1)) * _MB_PER_UNIT[(match.group(2) or "M").upper()])

"""The local paths the ``data_sources`` rules place under a given local dataset URI, for preflight to check: a
trainer reads ``<uri>/<rule path>``, not the URI itself, and for a ``runtime: extracted_folder`` rule the folder an
archive unpacks to (which nothing unpacks on the local platform).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tao_automl.bank.skill import Skill
from tao_automl.render.data import EVAL_SOURCES, TRAIN_SOURCES, rule_value, source_uris, strip_archive
from tao_automl.render.inputs import leaves
from tao_automl.render.job import JobContext
from tao_automl.util.builtin import BUILTIN_PREFIX


@dataclass(frozen=True)
class PlacedPath:
    """One path a rule places: the spec key, the path, the run field whose URI it is under, and the archive that
    unpacks to it (None when the rule names no archive)."""

    key: str
    path: str
    field: str
    uri: str
    archive: str | None = None

    def problem(self, skill: Skill) -> str:
        relative = self.path[len(self.uri.rstrip("/")):].lstrip("/") or "."
        text = (f"{self.key}: {self.path!r} does not exist: {skill.name}'s data_sources.{skill.action} rule expects "
                f"{relative!r} under {self.field} ({self.uri!r})")
        if self.archive is None:
            return text + f"; put the data there, or set {self.key!r} with dataset_keys"
        there = "" if Path(self.archive).exists() else " (it is not there either)"
        return (text + f", the folder the archive {self.archive!r} unpacks to{there}; the local platform extracts no "
                f"archive: extract it into {self.path!r} first, or set {self.key!r} with dataset_keys")


def uri_field(source: str) -> str:
    """The run field whose URI a ``data_sources`` rule of ``source`` places."""
    if source in TRAIN_SOURCES:
        return "train_dataset_uri"
    return "eval_dataset_uri" if source in EVAL_SOURCES else f"extra_dataset_uris[{source!r}]"


def local_root(uri: str) -> Path | None:
    """The local folder of ``uri`` (a plain path or ``file:``), None for a remote or builtin URI."""
    parsed = urlparse(uri)
    if uri.startswith(BUILTIN_PREFIX) or parsed.scheme not in ("", "file"):
        return None
    return Path(parsed.path if parsed.scheme == "file" else uri).expanduser()


def placed_paths(skill: Skill, ctx: JobContext) -> Iterator[PlacedPath]:
    """Each path a rule places under a local URI whose root exists (a missing root fails on its own);
    keys that ``dataset_keys`` set instead are left out."""
    uris = source_uris(ctx.train_dataset_uri, ctx.eval_dataset_uri, ctx.extra_dataset_uris)
    for key, rule in skill.data_sources.items():
        if not isinstance(rule, Mapping) or str(key) in ctx.dataset_keys:
            continue
        source = str(rule.get("source", ""))
        uri = uris.get(source)
        root = local_root(uri) if uri else None
        if uri is None or root is None or not root.exists():
            continue
        archives: dict[str, str] = {}
        value: Any = rule_value(str(root), rule, str(key), archives)
        unpacked = {strip_archive(a): a for a in archives.values()}
        for leaf_key, path in leaves(value, str(key)):
            if isinstance(path, str) and path:
                yield PlacedPath(leaf_key, path, uri_field(source), str(root), unpacked.get(path))

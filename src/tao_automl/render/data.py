"""Where dataset URIs go in a spec: the skill's ``data_sources.<action>`` rules, or exact keys from the user.

A rule names a ``source`` (``train_datasets``, ``eval_dataset``, ``calibration_dataset``, ...) whose URI fills the
spec key, joined with the rule's ``path``. ``runtime: extracted_folder`` means ``path`` is an archive the platform
unpacks: the spec gets the folder (the archive name without its suffix) and the archive is reported separately.
``list: true`` wraps the value in a list; ``mapping`` builds one dict per source (a list of them with
``multiple_sources: true``). A rule whose source has no URI leaves the key at its default. Keys given in
``dataset_keys`` are set verbatim and win over the rules. A ``file:`` URI (given or in ``dataset_keys``) is written
as its local path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

TRAIN_SOURCES = ("train_datasets", "train_dataset")
EVAL_SOURCES = ("eval_dataset", "eval_datasets", "val_dataset", "val_datasets")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")


@dataclass
class Placement:
    """Spec values to set, archives behind extracted folders, and the sources that nothing placed."""

    values: dict[str, Any] = field(default_factory=dict)
    archives: dict[str, str] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)


def spec_location(uri: str) -> str:
    """What a spec holds for ``uri``: a ``file:`` URI of this machine as its path (``file:///data/x`` ->
    ``/data/x``: a trainer opens paths, and preflight checks that path), anything else as given."""
    parsed = urlparse(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost") and parsed.path:
        return unquote(parsed.path)
    return uri


def source_uris(train: str | None, eval_: str | None, extra: Mapping[str, str]) -> dict[str, str]:
    """Source name -> URI: the train URI under every train spelling, the eval URI likewise, then ``extra``
    (a ``file:`` URI as its path: :func:`spec_location`)."""
    uris: dict[str, str] = {}
    for names, uri in ((TRAIN_SOURCES, train), (EVAL_SOURCES, eval_)):
        if uri:
            uris.update(dict.fromkeys(names, spec_location(uri)))
    uris.update({str(k): spec_location(str(v)) for k, v in extra.items() if v})
    return uris


def join_uri(uri: str, path: Any) -> str:
    """``uri`` with the rule's relative ``path`` appended (the URI itself for an empty path)."""
    suffix = str(path or "").lstrip("/")
    return f"{uri.rstrip('/')}/{suffix}" if suffix else uri


def strip_archive(path: str) -> str | None:
    """The folder an archive extracts to (``a/images.tar.gz`` -> ``a/images``); None when not an archive."""
    for suffix in _ARCHIVE_SUFFIXES:
        if path.lower().endswith(suffix) and len(path) > len(suffix):
            return path[: -len(suffix)]
    return None


def _leaf(uri: str, rule: Mapping[str, Any], key: str, archives: dict[str, str]) -> Any:
    value = join_uri(uri, rule.get("path"))
    if rule.get("runtime") == "extracted_folder":
        folder = strip_archive(value)
        if folder is not None:
            archives[key] = value
            value = folder
    return [value] if rule.get("list") else value


def rule_value(uri: str, rule: Mapping[str, Any], key: str, archives: dict[str, str]) -> Any:
    """The spec value ``rule`` gives ``key`` for ``uri``; archives behind extracted folders go into ``archives``."""
    mapping = rule.get("mapping")
    if isinstance(mapping, Mapping):
        item = {str(sub): _leaf(uri, sub_rule, f"{key}.{sub}", archives) for sub, sub_rule in mapping.items()
                if isinstance(sub_rule, Mapping) and sub_rule.get("path") and not sub_rule.get("optional")}
        return [item] if rule.get("multiple_sources") else item
    value = _leaf(uri, rule, key, archives)
    if rule.get("multiple_sources") and not isinstance(value, list):
        return [value]
    return value


def place_datasets(rules: Mapping[str, Any], uris: Mapping[str, str], dataset_keys: Mapping[str, str],
                   given: Mapping[str, tuple[str | None, tuple[str, ...]]]) -> Placement:
    """Apply the rules for the sources with a URI, then ``dataset_keys`` verbatim.

    ``given`` names the URIs the user passed with the sources each fills (``{"train_dataset_uri": (uri,
    TRAIN_SOURCES)}``); one that no rule reads is listed in ``unplaced`` whether or not ``dataset_keys`` were given
    (they set spec keys, they never consume a URI), by its sources, not its value (the same path given as train
    and eval URI is two URIs).
    """
    out = Placement()
    used: set[str] = set()
    for key, rule in rules.items():
        if not isinstance(rule, Mapping):
            continue
        source = str(rule.get("source", ""))
        uri = uris.get(source)
        if not uri:
            continue
        used.add(source)
        out.values[str(key)] = rule_value(uri, rule, str(key), out.archives)
    for key, value in dataset_keys.items():
        out.values[str(key)] = spec_location(value) if isinstance(value, str) else value
        out.archives.pop(str(key), None)
    out.unplaced = [name for name, (uri, sources) in given.items() if uri and not used & set(sources)]
    return out

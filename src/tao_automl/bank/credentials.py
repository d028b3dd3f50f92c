"""Platform skills of a bank and their credentials, checked by PRESENCE in the environment only.

A platform skill is ``<platform dir>/<name>/references/skill_info.yaml`` with ``required_credentials``,
``optional_credentials`` (entries ``{name: VAR}`` or plain strings) and ``credential_groups`` (each
``{name, require_one_of | one_of | any_of | require_any_of: [VAR, ...]}``: satisfied when any member is
set). A required entry may itself be such a group. Values are never read into the results.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tao_automl.bank.layout import BANK_ENV, platforms_dir
from tao_automl.errors import SkillError

GROUP_KEYS = ("require_one_of", "one_of", "any_of", "require_any_of")
PLATFORM_PREFIXES = ("tao-run-on-", "run-on-", "tao-")


def is_set(var: str) -> bool:
    """True when ``var`` is present (and non-empty) in the environment; its value is not kept."""
    return bool(os.environ.get(var))


@dataclass(frozen=True)
class Credential:
    name: str
    required: bool
    set: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "required": self.required, "status": "set" if self.set else "missing",
                **({"note": self.note} if self.note else {})}


@dataclass(frozen=True)
class CredentialGroup:
    name: str
    members: tuple[str, ...]
    set_members: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return bool(self.set_members)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "one_of": list(self.members),
                "status": "set" if self.ok else "missing",
                "set": list(self.set_members)}


@dataclass(frozen=True)
class PlatformSkill:
    name: str
    path: Path
    credentials: tuple[Credential, ...] = ()
    groups: tuple[CredentialGroup, ...] = ()
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """Required credentials and groups that are not satisfied (names only)."""
        return self.missing_except(frozenset())

    def missing_except(self, unused: frozenset[str]) -> list[str]:
        """:attr:`missing` without the credentials in ``unused`` and the groups with a member in it."""
        out = [c.name for c in self.credentials if c.required and not c.set and c.name not in unused]
        out += [f"one of {'/'.join(g.members)}" for g in self.groups if not g.ok and not set(g.members) & unused]
        return out

    @property
    def ready(self) -> bool:
        return self.error is None and not self.missing

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "ready": self.ready, "missing": self.missing,
                "credentials": [c.to_json() for c in self.credentials],
                "credential_groups": [g.to_json() for g in self.groups],
                **({"error": self.error} if self.error else {})}


def _group(entry: Mapping[str, Any], fallback: str) -> CredentialGroup | None:
    for key in GROUP_KEYS:
        members = entry.get(key)
        if isinstance(members, list):
            names = tuple(str(m) for m in members)
            return CredentialGroup(str(entry.get("name") or fallback), names, tuple(n for n in names if is_set(n)))
    return None


def _parse(info: Mapping[str, Any]) -> tuple[list[Credential], list[CredentialGroup]]:
    creds: list[Credential] = []
    groups: list[CredentialGroup] = []
    for key, required in (("required_credentials", True), ("optional_credentials", False)):
        for i, entry in enumerate(info.get(key) or []):
            if isinstance(entry, str):
                creds.append(Credential(entry, required, is_set(entry)))
            elif isinstance(entry, Mapping):
                group = _group(entry, f"{key}[{i}]")
                if group is not None:
                    if required:
                        groups.append(group)
                    continue
                if entry.get("name"):
                    name = str(entry["name"])
                    note = str(entry.get("only_when") or entry.get("description") or "")
                    creds.append(Credential(name, required, is_set(name), note))
    for i, entry in enumerate(info.get("credential_groups") or []):
        if isinstance(entry, Mapping) and (group := _group(entry, f"credential_groups[{i}]")) is not None:
            groups.append(group)
    return creds, groups


def load_platform(path: Path) -> PlatformSkill:
    """Parse one platform skill folder; a broken file is reported on the skill, not raised."""
    info_path = path / "references" / "skill_info.yaml"
    try:
        info = yaml.safe_load(info_path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        return PlatformSkill(path.name, path, error=f"{info_path}: {exc.__class__.__name__}")
    if not isinstance(info, Mapping):
        return PlatformSkill(path.name, path, error=f"{info_path}: expected a mapping")
    creds, groups = _parse(info)
    return PlatformSkill(str(info.get("name") or path.name), path, tuple(creds), tuple(groups))


def list_platforms(root: Path) -> list[PlatformSkill] | None:
    """Every platform skill of the bank at ``root``; None when the bank has no platform folder."""
    folder = platforms_dir(root)
    if folder is None:
        return None
    return [load_platform(p) for p in sorted(folder.iterdir())
            if (p / "references" / "skill_info.yaml").is_file()]


def short_name(name: str) -> str:
    """``tao-run-on-slurm`` -> ``slurm``."""
    for prefix in PLATFORM_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def find_platform(platforms: list[PlatformSkill], name: str) -> PlatformSkill | None:
    """The platform called ``name`` or ``tao-run-on-<name>`` (None when there is none)."""
    for p in platforms:
        if name in (p.name, p.path.name, short_name(p.name)):
            return p
    return None


#: Environment variables our own SDKs read and cannot run without (when no platform option gives them instead):
#: listed by ``platforms`` and checked by preflight where the bank has no platform skill to say so.
SDK_ENV: dict[str, tuple[str, ...]] = {"lepton": ("LEPTON_WORKSPACE_ID", "LEPTON_WORKSPACE_TOKEN"),
                                       "brev": ("BREV_API_TOKEN",)}


def sdk_env_missing(platform: str, options: Mapping[str, Any]) -> list[str]:
    """The ``SDK_ENV`` variables of ``platform`` that neither the environment nor a platform option gives (Lepton's
    ``workspace_id`` option gives the workspace id, and the token too in its ``id:token`` form)."""
    given: set[str] = set()
    if platform == "lepton" and options.get("workspace_id"):
        given.add("LEPTON_WORKSPACE_ID")
        if ":" in str(options["workspace_id"]):
            given.add("LEPTON_WORKSPACE_TOKEN")
    return [var for var in SDK_ENV.get(platform, ()) if not os.environ.get(var) and var not in given]


def sdk_registry(only: str | None = None) -> list[dict[str, Any]]:
    """Our SDK registry: name, class, extra, whether that extra's packages are installed here (``extra_installed``;
    ``implemented`` is always true: every registered platform has its adapter), and the environment variables the
    SDK itself needs (``set``/``missing``, never a value); ``only``: that platform's entry alone."""
    from tao_automl.platforms.registry import PLATFORMS

    out = []
    for name, (target, extra) in PLATFORMS.items():
        if only is not None and name != only:
            continue
        missing = missing_packages(extra)
        entry: dict[str, Any] = {"name": name, "class": target, "extra": extra, "implemented": True,
                                 "extra_installed": not missing, **({"extra_missing": missing} if missing else {})}
        if name in SDK_ENV:
            entry["env"] = {var: "set" if os.environ.get(var) else "missing" for var in SDK_ENV[name]}
        out.append(entry)
    return out


def missing_packages(extra: str | None) -> list[str]:
    """The requirements of ``tao-run-automl[extra]`` this environment does not meet: a distribution not installed
    (its name), or installed at a version outside the requirement's (``docker>=7.0 (6.1.3 installed)``); none for no
    extra, or when this package's metadata cannot be read."""
    if not extra:
        return []
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirements = metadata.requires("tao-run-automl") or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is None or not requirement.marker.evaluate({"extra": extra}):
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{requirement.name}{requirement.specifier} ({version} installed)")
    return missing


def bank_of(skill_dir: str | Path) -> Path | None:
    """The bank holding ``skill_dir``: the nearest ancestor whose platform folder holds a platform skill (None when
    none; a folder merely named ``platforms``, such as this package's own, is not a bank's)."""
    path = Path(skill_dir).resolve()
    return next((parent for parent in path.parents if _holds_platform_skills(parent)), None)


def _holds_platform_skills(root: Path) -> bool:
    """Whether ``root`` has a platform folder with at least one platform skill in it."""
    folder = platforms_dir(root) if root.is_dir() else None
    return folder is not None and any((p / "references" / "skill_info.yaml").is_file() for p in folder.iterdir())


#: Credentials the bank's Slurm skill lists for a remote login node: Slurm run through its CLI on this machine (no
#: ``hostname`` option, no ``$SLURM_HOSTNAME``) uses none of them (an unset SLURM_PARTITION: the cluster's default).
LOCAL_SLURM_UNUSED = frozenset({"SLURM_USER", "SLURM_HOSTNAME", "SLURM_PARTITION", "SSH_KEY_PATH", "SSH_AUTH_SOCK"})
LOCAL_SLURM_NOTE = ("the bank's SLURM_USER, SLURM_HOSTNAME, SLURM_PARTITION and SSH identity are required for a remote "
                    "(SSH) login node: Slurm run on this machine (no platform_options.hostname or $SLURM_HOSTNAME) "
                    "needs none of them; $SLURM_PARTITION and $SLURM_ACCOUNT, when set, are the jobs' default "
                    "partition and account (unset: the cluster's default partition)")


def slurm_view(skill: PlatformSkill) -> dict[str, Any]:
    """The bank's Slurm skill as JSON, with what each way of running Slurm needs: ``modes`` ``local`` (this machine:
    none of :data:`LOCAL_SLURM_UNUSED`) and ``remote`` (every required credential, as preflight checks them);
    ``mode`` is the one the environment gives (``$SLURM_HOSTNAME`` set: remote; a config's
    ``platform_options.hostname`` also makes it remote), and the skill's ``ready``/``missing`` are that mode's. The
    required credentials and groups only a remote Slurm needs carry ``required_for: remote``."""
    modes = {"local": skill.missing_except(LOCAL_SLURM_UNUSED), "remote": skill.missing}
    mode = "remote" if is_set("SLURM_HOSTNAME") else "local"
    view = skill.to_json()
    for cred in view["credentials"]:
        if cred["required"] and cred["name"] in LOCAL_SLURM_UNUSED:
            cred["required_for"] = "remote"
    for group in view["credential_groups"]:
        if set(group["one_of"]) & LOCAL_SLURM_UNUSED:
            group["required_for"] = "remote"
    ready = {name: skill.error is None and not missing for name, missing in modes.items()}
    return {**view, "ready": ready[mode], "missing": modes[mode], "mode": mode,
            "modes": {name: {"ready": ready[name], "missing": missing} for name, missing in modes.items()},
            "note": LOCAL_SLURM_NOTE}


def platform_credentials(skill_dir: str | Path, platform: str) -> PlatformSkill | None:
    """The bank platform skill matching ``platform`` for the bank of ``skill_dir``, else of ``$TAO_SKILL_BANK_PATH``
    (a built-in or stand-alone model runs on the same platforms); None when unknown."""
    root = bank_of(skill_dir)
    if root is None and os.environ.get(BANK_ENV):
        env_bank = Path(os.environ[BANK_ENV]).expanduser()
        root = env_bank if _holds_platform_skills(env_bank) else None
    if root is None:
        return None
    try:
        platforms = list_platforms(root) or []
    except (OSError, SkillError):
        return None
    return find_platform(platforms, platform)

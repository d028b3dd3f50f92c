"""Bank commands of ``tao-automl``: ``models``, ``platforms``, ``versions``, ``preflight``.

Each handler takes the parsed arguments, prints one JSON document (``--format json``) or readable
tables (text) on stdout and returns the exit code; user errors raise :class:`UserInputError`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tao_automl.bank import builtin_bank_path
from tao_automl.bank.layout import BANK_ENV, bank_root, models_dir, versions_file
from tao_automl.errors import TaoAutoMLError, UserInputError, error_json
from tao_automl.util.shell import sh

if TYPE_CHECKING:
    from tao_automl.bank.credentials import PlatformSkill

SCOPES = ("automl", "all")


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False)) or getattr(args, "format", "text") == "json"


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- models ---------------------------------------------------------------------------------------
def models_report(bank: str | None, scope: str = "automl") -> dict[str, Any]:
    """Runnable and blocked AutoML models of a bank (``scope='all'`` adds every model with its flag)."""
    from tao_automl.bank.inventory import bank_models

    if scope not in SCOPES:
        raise UserInputError(f"--scope: {scope!r} is not allowed; allowed: {', '.join(SCOPES)}", field="--scope",
                             value=scope, allowed=list(SCOPES))
    builtin = bank is None and not os.environ.get(BANK_ENV)
    root = builtin_bank_path() if builtin else bank_root(bank)
    models = bank_models(root)

    def entry(model: Any) -> dict[str, Any]:  # with the skill_dir a run config names it by
        skill_dir = f"builtin:{model.name}" if builtin else str((models_dir(root) / model.name).resolve())
        return {**model.to_json(), "skill_dir": skill_dir}

    report: dict[str, Any] = {
        "bank": str(root), "models_dir": str(models_dir(root)),
        "runnable": [entry(m) for m in models if m.runnable],
        "blocked": [entry(m) for m in models if m.automl_enabled and not m.runnable],
        "automl_disabled_count": sum(1 for m in models if not m.automl_enabled),
    }
    if builtin:
        report["note"] = (f"no skill bank given (--skill-bank PATH or ${BANK_ENV}): showing the models built into "
                          "the package")
    support = models_dir(root) / "automl_support.json"
    if support.is_file():
        report["automl_support_file"] = str(support)
    if scope == "all":
        report["all"] = [{"model": m.name, "automl_enabled": m.automl_enabled, "runnable": m.runnable}
                         for m in models]
    return report


def _models_text(report: dict[str, Any]) -> str:
    out = [f"bank: {report['bank']}", *([f"note: {report['note']}"] if report.get("note") else []), "",
           f"runnable AutoML models ({len(report['runnable'])}):"]
    for m in report["runnable"]:
        out.append(f"  {m['model']}  (skill_dir: {m['skill_dir']})")
        rows: list[tuple[Any, ...]] = [(p["name"], p["type"], _range_text(p), _default_text(p)) for p in m["params"]]
        out += ["    " + line for line in _table(rows, ("param", "type", "range", "default")).splitlines()]
        out += [f"    note: {n}" for n in m.get("notes", [])]
    out += ["", f"blocked AutoML models ({len(report['blocked'])}):"]
    out += [f"  {m['model']}: {m['reason']}" for m in report["blocked"]] or ["  none"]
    out.append(f"\n{report['automl_disabled_count']} model(s) have automl_enabled: false (see --scope all)")
    if "all" in report:
        rows = [(m["model"], m["automl_enabled"], m["runnable"]) for m in report["all"]]
        out += ["", _table(rows, ("model", "automl_enabled", "runnable"))]
    return "\n".join(out)


def _range_text(param: dict[str, Any]) -> str:
    """The range, with the ends tao-automl chose marked: ``[1, 1200] (int) (upper bound derived: schema has none)``."""
    from tao_automl.runner.plan_notes import derived_text

    sides = param.get("derived_bounds")
    typo = f"; {param['range_key_typo']}" if param.get("range_key_typo") else ""
    return f"{param['range']} ({derived_text(sides)}{typo})" if sides else str(param["range"])


def _default_text(param: dict[str, Any]) -> str:
    """The value a job gets when not searched, with the schema default when that differs."""
    text = str(param["default"])
    if param.get("default_searched") is False:
        text += " (outside the range)"
    return f"{text} (schema default {param['schema_default']})" if "schema_default" in param else text


def cmd_models(args: argparse.Namespace) -> int:
    report = models_report(args.skill_bank, args.scope)
    print(json.dumps(report, indent=2, default=str) if wants_json(args) else _models_text(report))
    return 0


# -- platforms ------------------------------------------------------------------------------------
def platforms_report(bank: str | None, platform: str | None = None) -> dict[str, Any]:
    """Bank platform skills with credential presence (never values), and our SDK registry.

    ``platform`` is a run config's ``platform`` (``local``, ``slurm``, ``docker``...; ``slurm`` matches the bank's
    ``tao-run-on-slurm``) or a platform skill's own name; anything else is an error listing both forms."""
    from tao_automl.bank.credentials import find_platform, list_platforms, sdk_registry

    registry = sdk_registry()
    run_names = [s["name"] for s in registry]
    if platform in run_names:
        registry = sdk_registry(platform)
    if bank is None and not os.environ.get(BANK_ENV):
        if platform is not None:
            _known_platform(platform, run_names, None)
        note = (f"no skill bank given (--skill-bank PATH or ${BANK_ENV}): the credentials each platform "
                "needs come from the bank's platform skills; showing only the SDK registry")
        if platform == "local":
            note += "; the local platform runs jobs on this machine and needs no credentials"
        elif platform == "slurm":
            note += ("; Slurm run on this machine needs no credentials (a remote (SSH) one needs its login node: "
                     "platform_options.hostname or $SLURM_HOSTNAME, and the user and SSH identity ssh uses)")
        return {"bank": None, "sdk_registry": registry, "platforms": None, "note": note}
    root = bank_root(bank)
    found = list_platforms(root)
    report: dict[str, Any] = {"bank": str(root), "sdk_registry": registry}
    if found is None:
        report["platforms"] = None
        report["note"] = f"the bank {str(root)!r} has no platform folder (platform/ or skills/platform/)"
        if platform is not None and platform not in run_names:
            raise UserInputError(f"--platform {platform!r}: {report['note']}", field="--platform", value=platform,
                                 allowed=run_names)
        return report
    if platform is None:
        report["platforms"] = [_with_note(p) for p in found]
        return report
    chosen = find_platform(found, platform)
    if chosen is not None:
        report["platforms"] = [_with_note(chosen)]
        return report
    _known_platform(platform, run_names, found)  # a run config's platform without a skill in this bank
    report["platforms"] = []
    from tao_automl.bank.credentials import SDK_ENV

    report["note"] = ("the local platform runs jobs on this machine and needs no credentials" if platform == "local"
                      else f"the bank has no platform skill for {platform!r} (such as tao-run-on-{platform}); the "
                      f"{platform} SDK itself reads {', '.join(SDK_ENV[platform])} (below), which preflight checks"
                      if platform in SDK_ENV else
                      f"the bank has no platform skill for {platform!r} (such as tao-run-on-{platform}): the "
                      "credentials it needs cannot be listed, and preflight does not check them")
    return report


def _with_note(skill: PlatformSkill) -> dict[str, Any]:
    """A platform skill's JSON, with what its credentials mean for our SDK when that differs from the list (Slurm:
    on this machine or remote)."""
    from tao_automl.bank.credentials import short_name, slurm_view

    return slurm_view(skill) if short_name(skill.name) == "slurm" else skill.to_json()


def _known_platform(name: str, run_names: Sequence[str], skills: Sequence[Any] | None) -> None:
    """Refuse ``name`` unless it is a run config's platform (or, with a bank, one of its platform skills)."""
    from tao_automl.bank.credentials import short_name
    from tao_automl.util.suggest import did_you_mean

    if name in run_names:
        return
    skill_names = [p.name for p in skills or []]
    candidates = [*run_names, *skill_names, *(short_name(n) for n in skill_names)]
    forms = f"a run config's platform: {', '.join(run_names)}"
    forms += (f"; or a platform skill of the bank: {', '.join(skill_names) or 'none'}" if skills is not None
              else "; or, with --skill-bank, one of the bank's platform skills (tao-run-on-...)")
    raise UserInputError(f"--platform: unknown platform {name!r}{did_you_mean(name, candidates)}; expected {forms}",
                         field="--platform", value=name, allowed=[*run_names, *skill_names])


def _platforms_text(report: dict[str, Any]) -> str:
    out = [f"bank: {report['bank'] or 'none'}"]
    if report.get("note"):
        out.append(report["note"])
    for p in report["platforms"] or []:
        out += ["", f"{p['name']}: {_readiness(p)}"]
        if p.get("error"):
            out.append(f"  error: {p['error']}")
        if p.get("note"):
            out.append(f"  note: {p['note']}")
        rows: list[tuple[Any, ...]] = [(c["name"], _kind("required" if c["required"] else "optional", c),
                                        c["status"]) for c in p["credentials"]]
        rows += [(f"one of {'/'.join(g['one_of'])}", _kind(f"group {g['name']}", g), g["status"])
                 for g in p["credential_groups"]]
        out += ["  " + line for line in _table(rows, ("credential", "kind", "status")).splitlines()] if rows else \
            ["  no credentials"]
    sdks = [(s["name"], s["class"], s["extra"] or "-",
             "yes" if s["extra_installed"] else f"no ({', '.join(s.get('extra_missing') or [])}): pip install "
                                                f"'tao-run-automl[{s['extra']}]'")
            for s in report["sdk_registry"]]
    out += ["", "SDK registry (platform: in run configs):",
            _table(sdks, ("name", "class", "extra", "extra installed"))]
    needs = [f"{s['name']} reads {', '.join(f'{var} ({state})' for var, state in s['env'].items())}"
             for s in report["sdk_registry"] if s.get("env")]
    if needs:
        out += ["", "SDK environment (never shown: set or missing):", *needs]
    return "\n".join(out)


def _readiness(skill: dict[str, Any]) -> str:
    """``ready`` or ``missing A, B`` (not ready, naming none: a skill that cannot be read); for Slurm, what it is
    ready for and what a remote (SSH) one misses."""
    def state(ready: bool, missing: list[str]) -> str:
        return "ready" if ready else "missing " + ", ".join(missing)

    if skill.get("error"):  # its credentials are unknown: nothing can be named as missing
        return "not ready: its skill_info.yaml cannot be read (error below)"
    if "modes" not in skill:
        return state(skill["ready"], skill["missing"])
    remote = skill["modes"]["remote"]
    if skill["mode"] == "remote":
        return f"a remote (SSH) Slurm ($SLURM_HOSTNAME set): {state(remote['ready'], remote['missing'])}"
    local = skill["modes"]["local"]
    here = ("ready for Slurm on this machine" if local["ready"]
            else f"Slurm on this machine: {state(False, local['missing'])}")
    return f"{here}; a remote (SSH) Slurm: {state(remote['ready'], remote['missing'])}"


def _kind(kind: str, entry: dict[str, Any]) -> str:
    return f"{kind} ({entry['required_for']})" if entry.get("required_for") else kind


def cmd_platforms(args: argparse.Namespace) -> int:
    report = platforms_report(args.skill_bank, args.platform)
    print(json.dumps(report, indent=2) if wants_json(args) else _platforms_text(report))
    return 0


# -- versions -------------------------------------------------------------------------------------
def lookup_version(bank: str | None, key: str | None) -> Any:
    """The value of dotted ``key`` in the bank's versions.yaml (``None``: the whole file)."""
    from tao_automl.bank.versions import load_versions, resolve_key

    root = bank_root(bank)
    path = versions_file(root)
    if path is None:
        raise UserInputError(f"skill bank {str(root)!r} has no versions.yaml", field="--skill-bank", value=str(root),
                             allowed="a TAO skill bank folder (it holds versions.yaml or skills/versions.yaml)",
                             hint=f"pass --skill-bank PATH or set {BANK_ENV} to a TAO skill bank folder")
    versions = load_versions(path)
    given = f" --skill-bank {sh(bank)}" if bank is not None else ""  # the hint's command finds the same bank
    return dict(versions) if key is None else resolve_key(versions, key, f"tao-automl versions{given} --json")


def cmd_versions(args: argparse.Namespace) -> int:
    from tao_automl.util.dotted import flatten

    value = lookup_version(args.skill_bank, args.key)
    if wants_json(args):
        print(json.dumps({"key": args.key, "value": value}, default=str))
    elif args.key is None:  # every pinned key, one per line, as `versions KEY` takes it
        pinned = list(flatten(value))
        width = max((len(k) for k, _ in pinned), default=0)
        print("\n".join(f"{k:<{width}}  {v}" for k, v in pinned))
    elif isinstance(value, (dict, list)):
        print(json.dumps(value, indent=2, default=str))
    else:
        print(value)
    return 0


# -- preflight ------------------------------------------------------------------------------------
def cmd_preflight(args: argparse.Namespace) -> int:
    from tao_automl.cli.preflight import preflight_file

    _, report = preflight_file(args.config)
    if not wants_json(args):
        print(report.text())
        if not report.ok:
            raise preflight_error(report, args.config)
        return 0
    if report.ok:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    exc = preflight_error(report, args.config)
    print(json.dumps({**report.to_json(), **error_json(exc)}, indent=2))
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code


def preflight_error(report: Any, config: str, hint: str | None = None) -> TaoAutoMLError:
    """The failed report's error (the first failed check's own fields); the hint (default: rerun the CLI's
    ``preflight`` on ``config``) says how to re-check."""
    exc: TaoAutoMLError = report.error()
    if exc.hint is None:
        exc.hint = hint or f"fix the failed check(s) in {config} and rerun `tao-automl preflight {sh(config)}`"
    return exc

"""``export --best``: the best rec's spec, exactly as its job received it, in the action's own format."""

from __future__ import annotations

import copy
import importlib
import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tao_automl.bank.skill import load_skill
from tao_automl.errors import NO_RESULT_ALLOWED, SkillError, SweepFailedError, UserInputError
from tao_automl.export.run_data import RunData
from tao_automl.render.job import spec_text
from tao_automl.render.paths import get_path, set_path
from tao_automl.render.roles import role_values
from tao_automl.util.dotted import flatten
from tao_automl.util.outfile import write_output
from tao_automl.util.secrets import REDACTED

_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}


def _format_of(path: Path) -> str | None:
    """The spec format ``path``'s extension names, in any case (``best.JSON`` is JSON), or None."""
    return _FORMATS.get(path.suffix.lower())


def _skill(data: RunData) -> Any:
    """The run's model: from its run arguments (a runner's run) or the ``skill_dir`` an ask/tell run recorded."""
    args = data.meta.get("run_args") or {}
    skill_dir = args.get("skill_dir") or data.meta.get("skill_dir")
    if not skill_dir:
        return None
    try:
        return load_skill(skill_dir, args.get("action") or data.meta.get("action") or "train")
    except SkillError:
        return None


def _toml_reader() -> Any:
    """``tomllib`` (Python 3.11+), else ``tomli`` where installed, else None."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _file_spec(path: Path | None, config_format: str) -> dict[str, Any] | None:
    """The spec file the job read, parsed (YAML, JSON, or TOML with a TOML reader); None when there is none."""
    if path is None or not path.is_file() or config_format not in ("yaml", "json", "toml"):
        return None
    return _parsed(path.read_text(encoding="utf-8"), config_format)  # None on Python 3.10 without tomli


def no_result_hint(run_dir: Path, state: Any, ended_badly: int, meta: Mapping[str, Any] | None = None,
                   uncollected: int = 0) -> str:
    """What to do about a run without a result: wait while it runs (``state``), continue it when it stopped before
    any rec ended (as ``status`` says: a copy by its original, a Python run from Python), read its recs' messages
    when ``ended_badly`` (failed or cancelled recs) is not 0; ``uncollected``: recs whose jobs ended with a result no
    orchestrator collected yet (status shows them ``ended_uncollected``)."""
    from tao_automl.experiment.holder import copy_of, lock_holder, unrebuildable_platform
    from tao_automl.experiment.lines import continue_with

    where = shlex.quote(str(run_dir))
    if state in ("running", "starting"):
        if lock_holder(run_dir) is not None:
            return f"no rec has finished yet: wait (`tao-automl status {where} --watch`)"
        state = "interrupted"  # as status shows it: its orchestrator ended (killed) without closing the run
    if not ended_badly or uncollected:
        meta = meta or {}
        how = {"mode": meta.get("mode"), "platform_class": unrebuildable_platform(meta),
               "copy_of": copy_of(run_dir, meta)}
        if uncollected:  # their jobs ended: a resume collects their results (failed recs beside them or not)
            failed = f" ({ended_badly} other rec(s) failed or were cancelled)" if ended_badly else ""
            return (f"the run is {state} with {uncollected} rec(s) ended whose result is not collected yet{failed}: "
                    f"collect them ({continue_with(how, str(run_dir))}), then export")
        return (f"the run is {state} before any rec finished: continue it ({continue_with(how, str(run_dir))}), "
                "then export")
    return f"see `tao-automl status {where} --recs all` for why its recs failed"


def export_best(data: RunData, out: str | Path, results_dir: str | None = None) -> dict[str, Any]:
    """Write the best rec's spec to ``out``; with ``results_dir`` its output folder key(s) point there instead.

    Returns ``{"rec_id", "metric_value", "metric_values", "budget", "path", "source", "results_dir_keys",
    "redacted", ...}`` (``metric_values``: a multi-objective rec's every metric, else None);
    ``redacted``: the keys written as ``<redacted>`` (a spec rebuilt from the run's store, which keeps no credential,
    when the job's spec file is gone), to be set before training with it.
    """
    best = data.summary["best"]
    progress = data.summary.get("progress") or {}
    if best is None:
        running = (progress.get("state") or data.meta.get("state")) in ("running", "starting")
        raise SweepFailedError(f"run {data.run_dir.name} has no successful rec to export"
                               + (" yet" if running else ""),
                               field="run_dir", value=str(data.run_dir), allowed=NO_RESULT_ALLOWED,
                               hint=no_result_hint(data.run_dir, progress.get("state") or data.meta.get("state"),
                                                   int(progress.get("failed") or 0) + int(progress.get("cancelled")
                                                                                          or 0),
                                                   data.meta, int(progress.get("uncollected") or 0)))
    rec = data.rec(int(best["rec_id"]))
    skill = _skill(data)
    spec_path = Path(rec.spec_path) if rec.spec_path else None
    config_format = (_format_of(spec_path) or "yaml") if spec_path else (
        skill.config_format if skill is not None else "yaml")
    target = Path(out).expanduser()
    wanted = _format_of(target)
    if wanted is not None and wanted != config_format:
        allowed = " or ".join(sorted(ext for ext, fmt in _FORMATS.items() if fmt == config_format))
        raise UserInputError(f"-o {str(out)!r}: the action's spec format is {config_format}, not {wanted}; allowed: "
                             f"a {allowed} file (or a name without a spec extension)",
                             field="-o", value=str(out), allowed=f"a {allowed} file")
    target.parent.mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    resumes = moved_resume(data, _resumes(skill, rec.specs))
    moved = moved_paths(data.run_dir, rec.specs)
    if spec_path is not None and spec_path.is_file() and results_dir is None:
        write_output(target, _with_moved(spec_path, config_format, moved), private=True)  # user-only, as the job's
        source = str(spec_path)
        redacted = []
    else:
        spec = _file_spec(spec_path, config_format)
        if spec is None:  # no readable file: the rendered spec as persisted (credentials redacted)
            spec = copy.deepcopy(rec.specs)
        for key, (_, now) in moved.items():  # paths in the run folder, where the moved folder is now
            set_path(spec, key, now)
        if results_dir is not None:
            if skill is None:
                raise UserInputError(f"--results-dir needs the run's skill to know its output keys, but "
                                     f"{(data.meta.get('run_args') or {}).get('skill_dir')!r} cannot be loaded",
                                     field="--results-dir", value=results_dir,
                                     allowed="a run whose skill folder (run_args.skill_dir) still loads")
            values = role_values(skill.spec_params, skill.action_info.get("outputs") or {},
                                 results_dir=str(Path(results_dir).expanduser().resolve()), resume_path=None,
                                 base_checkpoint="", encryption_key=None)
            for key, value in values.items():
                set_path(spec, key, value)
                changed.append(key)
        write_output(target, spec_text(spec, config_format, target.name).encode("utf-8"), private=True)
        source = str(spec_path) if spec_path is not None and spec_path.is_file() else "state.db"
        redacted = [key for key, value in flatten(spec) if value == REDACTED]  # the store keeps no credential
    return {"rec_id": rec.rec_id, "metric_value": rec.metric_value,
            "metric_values": (data.values or {}).get(rec.rec_id),
            "budget": rec.budget_reached, "budget_reached": rec.budget_reached,
            "path": str(target), "source": source, "results_dir_keys": changed, "resumes": resumes,
            "redacted": redacted,
            "moved": {key: {"from": was, "to": now} for key, (was, now) in moved.items() if key not in changed}}


_REC_FOLDER = f"{os.sep}recs{os.sep}rec_"


def moved_paths(run_dir: Path, spec: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Dotted key -> (path the job read, where it lies now) for each path of ``spec`` inside a rec folder of the run
    (its results folder, a resumed checkpoint) that is gone from where the job read it and found in ``run_dir``
    now: the run folder was moved since the rec ran. Empty when nothing moved (a copy's original still holds
    them)."""
    found: dict[str, tuple[str, str]] = {}
    for key, value in flatten(spec):
        if isinstance(value, str) and _REC_FOLDER in value:
            now = os.path.abspath(run_dir) + value[value.rfind(_REC_FOLDER):]  # absolute: the spec is read anywhere
            if now != value and not os.path.exists(value) and os.path.exists(now):
                found[key] = (value, now)
    return found


def moved_resume(data: RunData, resumes: dict[str, str] | None) -> dict[str, str] | None:
    """``resumes`` with the checkpoint where it lies now when the run folder was moved since the rec ran (the spec
    names it under the folder's old place; ``moved_from`` keeps that path); unchanged otherwise."""
    if resumes is None:
        return None
    moved = moved_paths(data.run_dir, {"checkpoint": resumes["checkpoint"]}).get("checkpoint")
    return resumes if moved is None else {**resumes, "checkpoint": moved[1], "moved_from": moved[0]}


def best_spec_text(data: RunData) -> tuple[str, dict[str, tuple[str, str]]] | None:
    """The best rec's spec as ``export --best`` prints it: its spec file, with its paths in the run folder (results
    folder, resumed checkpoint) where a moved run folder holds them now, and those moved paths (:func:`moved_paths`);
    None without a readable spec file."""
    best = data.summary["best"]
    if best is None or not best.get("spec_path") or not Path(best["spec_path"]).is_file():
        return None
    spec_path = Path(best["spec_path"])
    moved = moved_paths(data.run_dir, data.rec(int(best["rec_id"])).specs)
    return _with_moved(spec_path, _format_of(spec_path) or "yaml", moved).decode(), moved


def _parsed(text: str, config_format: str) -> dict[str, Any] | None:
    """``text`` parsed as the spec file it is (None when it cannot be read: no TOML reader, not a mapping)."""
    if config_format == "toml":
        toml = _toml_reader()
        if toml is None:
            return None
        loaded = toml.loads(text)
    else:
        loaded = json.loads(text) if config_format == "json" else yaml.safe_load(text)
    return dict(loaded) if isinstance(loaded, dict) else None


def _with_moved(spec_path: Path, config_format: str, moved: Mapping[str, tuple[str, str]]) -> bytes:
    """The spec file's bytes, byte for byte what the job read, with its ``moved`` paths (:func:`moved_paths`) where
    they lie now. The paths are replaced in the text where the file holds them as written; a file that holds them
    otherwise (escaped: a YAML file writes ``é`` as ``\\xE9``, JSON as ``\\u00e9``; or folded over lines) is
    parsed, the paths set, and the spec written again in its format."""
    raw = spec_path.read_bytes()
    if not moved:
        return raw
    text = raw
    for was, now in moved.values():
        text = text.replace(was.encode(), now.encode())
    spec = _parsed(text.decode(), config_format)
    if spec is None or all(get_path(spec, key) == now for key, (_, now) in moved.items()):
        return text
    for key, (_, now) in moved.items():
        set_path(spec, key, now)
    return spec_text(spec, config_format, spec_path.name).encode()


def _resumes(skill: Any, spec: dict[str, Any]) -> dict[str, str] | None:
    """``{"key", "checkpoint"}`` when the spec resumes a checkpoint (a promoted rec continues its parent's, which
    lives in the sweep's folder), else None."""
    if skill is None:
        return None
    for key, role in skill.spec_params.items():
        if role != "resume_model":
            continue
        value = get_path(spec, str(key))
        if isinstance(value, str) and value:
            return {"key": str(key), "checkpoint": value}
    return None

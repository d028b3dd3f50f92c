"""Preflight's checks of the spec a job would receive: every given dataset URI lands in it, the skill's declared
``inputs`` are set (not empty, not a template ``<placeholder>``), a path set for an input through ``spec_overrides``
exists where dataset paths are checked, and no other ``<placeholder>`` is left (a warning).

They look at one rec rendered (not written; :func:`tao_automl.runner.plan.check_render`), so whatever set
a value (template, overrides, dataset rules, ``dataset_keys``, ``base_checkpoint``) is taken into account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tao_automl.bank.skill import Skill
from tao_automl.errors import MissingExtraError, PreflightError, TaoAutoMLError, UserInputError
from tao_automl.render.data import EVAL_SOURCES, TRAIN_SOURCES
from tao_automl.render.inputs import (
    PLACEHOLDER,
    MissingInput,
    declared_inputs,
    how_to_set,
    is_empty,
    keys_example,
    missing_inputs,
    placeholders,
    rule_source,
)
from tao_automl.render.job import JobContext, base_spec, place, resolve_overrides
from tao_automl.render.keys import check_dataset_keys
from tao_automl.render.paths import get_path
from tao_automl.render.placed import placed_paths
from tao_automl.runner.preflight import LOCAL, Check, PreflightReport, dataset_check
from tao_automl.runner.run_args import RunArgs
from tao_automl.util.builtin import BUILTIN_DATASET_NEEDS, BUILTIN_PREFIX

NAMES = ("dataset_keys", "dataset_placement", "spec_inputs", "spec_placeholders")


def spec_checks(config: RunArgs, built: Mapping[str, Any], report: PreflightReport) -> None:
    """Add the spec checks to ``report``; skipped (n/a) when the skill or ``spec_overrides`` did not pass."""
    from tao_automl.runner.plan import check_overrides_placement, check_render, job_context

    skill = built.get("skill")
    overrides_ok = next((c.ok for c in report.checks if c.check == "spec_overrides"), None)
    if skill is None or overrides_ok is not True:
        why = "the skill did not load" if skill is None else "spec_overrides did not pass"
        for name in NAMES:
            report.add(name, None, f"skipped: {why}")
        return
    space = built.get("space")
    report.checks.append(keys_check(skill, config, space.names if space is not None else ()))
    try:
        ctx = job_context(config, skill, space.names if space is not None else ())
        spec = check_render(skill, built.get("space"), ctx)
    except TaoAutoMLError as exc:
        report.add("spec_render", False, str(exc), exc)
        return
    try:  # an override the dataset placement would replace: the run refuses it, so preflight fails it
        check_overrides_placement(skill, config)
    except UserInputError as exc:
        report.add("dataset_placement", False, str(exc), exc)
    else:
        report.checks.append(placement_check(skill, ctx, spec))
    report.checks.extend(placed_path_checks(config.platform, skill, ctx))
    report.checks.extend(override_path_checks(config.platform, skill, config.spec_overrides))
    report.checks.append(inputs_check(skill, spec, given=_data_given(ctx)))
    report.checks.extend(builtin_data_checks(config.platform, skill, spec))
    report.checks.append(placeholder_check(skill, spec))


def _data_given(ctx: JobContext) -> bool:
    return bool(ctx.train_dataset_uri or ctx.eval_dataset_uri or ctx.dataset_keys or ctx.extra_dataset_uris)


def keys_check(skill: Skill, config: RunArgs, searched: Sequence[str] = ()) -> Check:
    """Every ``dataset_keys`` key is a declared input or already in the job's spec, holds a path and is not
    ``searched`` (the run refuses it alike)."""
    from tao_automl.runner.plan_checks import runner_filled_keys

    try:
        check_dataset_keys(skill, config.spec_overrides, config.dataset_keys, searched,
                           runner_filled_keys(skill, base_checkpoint=config.base_checkpoint or ""))
    except TaoAutoMLError as exc:
        return Check("dataset_keys", False, str(exc), exc)
    if not config.dataset_keys:
        return Check("dataset_keys", True, "none given")
    return Check("dataset_keys", True, f"{len(config.dataset_keys)} key(s), each a declared input or a spec key")


def placement_check(skill: Skill, ctx: JobContext, spec: Mapping[str, Any]) -> Check:
    """A given dataset URI that no ``data_sources`` rule takes fails (``dataset_keys`` never consume a URI): no job
    would read it."""
    placement = place(skill, ctx)
    given = {"train_dataset_uri": ctx.train_dataset_uri, "eval_dataset_uri": ctx.eval_dataset_uri,
             **{f"extra_dataset_uris[{k!r}]": v for k, v in ctx.extra_dataset_uris.items()}}
    if not placement.unplaced:
        if not placement.values:
            return Check("dataset_placement", True, "no dataset URI or dataset_keys given")
        return Check("dataset_placement", True, f"the spec gets {', '.join(sorted(placement.values))}")
    name = placement.unplaced[0]
    uri = given.get(name)
    others = [n for n in placement.unplaced if n != name]
    also = f"; {', '.join(others)} neither" if others else ""
    message = _unplaced_message(skill, ctx, spec, name, uri) + also
    return Check("dataset_placement", False, message, PreflightError(
        message, field=name, value=uri,
        allowed=f"a dataset a data_sources.{skill.action} rule places, or dataset_keys (spec key -> path)"))


def _kind(name: str) -> str:
    """``train`` / ``eval`` for the URI fields, the source name for an ``extra_dataset_uris`` entry."""
    return {"train_dataset_uri": "train", "eval_dataset_uri": "eval"}.get(name, name)


def _unplaced_message(skill: Skill, ctx: JobContext, spec: Mapping[str, Any], name: str, uri: str | None) -> str:
    """Why URI ``name`` reaches no job and what to do: drop it (a model with rules, none for it), or set the spec
    keys the trainer reads with ``dataset_keys`` (a model with no rules)."""
    keys = _example_keys(skill, ctx, spec)
    example = f", e.g. {keys_example(keys)}" if keys else ""
    if skill.data_sources:
        sources = sorted({str(r.get("source")) for r in skill.data_sources.values() if isinstance(r, Mapping)})
        with_keys = f"; set the spec keys no rule covers with dataset_keys{example}" if keys else ""
        return (f"{name}: {skill.name} ({skill.action}) takes no {name}: its data_sources.{skill.action} rules have "
                f"no {_kind(name)} rule (they read {', '.join(sources)}), so no job would read {uri!r}; drop "
                f"{name}{with_keys}")
    runs_on = "the paths dataset_keys set" if ctx.dataset_keys else "the template's paths"
    return (f"{name}: {uri!r} is placed nowhere in the spec: {skill.name} has no data_sources.{skill.action} rule "
            f"that takes it (its skill_info.yaml has no data_sources.{skill.action} rules), so no job would read it "
            f"(each would run on {runs_on}); drop {name} and map the spec keys the trainer reads to paths with "
            f"dataset_keys{example}")


def _example_keys(skill: Skill, ctx: JobContext, spec: Mapping[str, Any]) -> list[str]:
    """Real spec keys for a ``dataset_keys`` example: required inputs left empty, else declared inputs that no rule
    and no given ``dataset_keys`` set (checkpoint keys left out)."""
    missing = [m.key for m in missing_inputs(skill, spec) if not m.optional]
    if missing:
        return missing
    return [key for key, optional in declared_inputs(skill).items()
            if not optional and key not in ctx.dataset_keys and not rule_source(skill, key)]


def placed_path_checks(platform: str, skill: Skill, ctx: JobContext) -> list[Check]:
    """On the local platform, every path a ``data_sources`` rule places under a local dataset URI exists (the same
    condition under which the URI itself is checked); none when nothing was checked."""
    if platform != LOCAL:
        return []
    found = list(placed_paths(skill, ctx))
    if not found:
        return []
    missing = [p for p in found if not Path(p.path).exists()]
    if not missing:
        return [Check("dataset_paths", True, f"{len(found)} path(s) the data_sources rules place exist")]
    detail = "; ".join(p.problem(skill) for p in missing)
    first = missing[0]
    return [Check("dataset_paths", False, detail, PreflightError(
        detail, field=first.key, value=first.path,
        allowed=f"an existing path under {first.field} where the data_sources.{skill.action} rule expects it"))]


def override_path_checks(platform: str, skill: Skill, overrides: Mapping[str, Any]) -> list[Check]:
    """A path ``spec_overrides`` gives a declared input is checked like a ``dataset_keys`` path. A relative one
    fails on the local platform (each job runs in its own job folder, so it cannot resolve) and is not checked
    elsewhere; a ``<placeholder>`` is left to ``spec_inputs``."""
    declared = declared_inputs(skill)
    out: list[Check] = []
    for key, value in resolve_overrides(skill, base_spec(skill), overrides).items():
        if key not in declared or not isinstance(value, str) or not value:
            continue
        name = f"spec_overrides.{key}"
        local = urlparse(value).scheme in ("", "file") and not value.startswith(BUILTIN_PREFIX)
        if PLACEHOLDER.search(value):
            out.append(Check(name, None, f"{value!r}: not checked (a template placeholder, not a path; spec_inputs "
                                         "reports it)"))
        elif local and not value.startswith("file:") and not Path(value).expanduser().is_absolute():
            out.append(_relative_override(platform, name, value))
        else:
            out.append(dataset_check(platform, name, value))
    return out


def _relative_override(platform: str, name: str, value: str) -> Check:
    """A relative path in ``spec_overrides``: fails locally (jobs run in their own folder), not checked elsewhere."""
    if platform != LOCAL:
        return Check(name, None, f"{value}: not checked (a relative path: the job reads it from its own working "
                                 "directory)")
    message = (f"{name}: {value!r} is a relative path, which no local job can resolve (each runs in its own job "
               "folder); give an absolute path, or set the key with dataset_keys, whose paths resolve against the "
               "config's folder")
    return Check(name, False, message, PreflightError(message, field=name, value=value,
                                                      allowed="an absolute path, a remote URI or builtin:<name>"))


def builtin_data_checks(platform: str, skill: Skill, spec: Mapping[str, Any]) -> list[Check]:
    """On the local platform, whose jobs run in this Python environment, each declared input of the rendered spec
    that names a built-in dataset needs the package that dataset is read with here (every job would fail reading it
    without); none elsewhere, where the job's own environment reads it."""
    if platform != LOCAL:
        return []
    out: list[Check] = []
    for key in declared_inputs(skill):
        value = get_path(spec, key)
        need = BUILTIN_DATASET_NEEDS.get(value) if isinstance(value, str) else None
        if need is not None:
            out.append(_builtin_data_check(key, value, *need))
    return out


def _builtin_data_check(key: str, value: str, module: str, extra: str) -> Check:
    import importlib.util

    name = f"builtin_data.{key}"
    if importlib.util.find_spec(module) is not None:
        return Check(name, True, f"{value}: read with {module!r}, which is installed")
    error = MissingExtraError(f"{key}={value!r} (each local job reads it in this environment)", module, extra)
    return Check(name, False, str(error), error)


def inputs_check(skill: Skill, spec: Mapping[str, Any], given: bool = True) -> Check:
    """Every declared input of the rendered spec usable: a required one set, none left at a ``<placeholder>``; and,
    when no dataset was ``given`` at all, not every input empty (all optional is still no data)."""
    declared = declared_inputs(skill)
    if not declared:
        return Check("spec_inputs", True, f"{skill.name} ({skill.action}) declares no inputs")
    missing = missing_inputs(skill, spec)
    if not missing and not given:
        missing = _all_empty(skill, spec)
    if not missing:
        return Check("spec_inputs", True, f"{len(declared)} declared input(s): every required one set, none left "
                                          "at a template placeholder")
    detail = f"{skill.name} ({skill.action}) " + "; ".join(m.problem() for m in missing) + "; " + _fixes(skill, missing)
    if all(m.optional for m in missing) and not given:
        detail = (f"{skill.name} ({skill.action}) gets no data: no dataset URI or dataset_keys given and every "
                  f"declared input is empty ({', '.join(m.key for m in missing)}); " + _no_data_fixes(skill, missing))
    first = missing[0]
    return Check("spec_inputs", False, detail, PreflightError(
        f"spec_inputs: {detail}", field=first.key, value=first.value,
        allowed="a path (the skill declares it an input the job reads)"))


def _all_empty(skill: Skill, spec: Mapping[str, Any]) -> list[MissingInput]:
    """Every declared input as missing when each is empty in ``spec``, else none."""
    empty = [MissingInput(key, get_path(spec, key), optional) for key, optional in declared_inputs(skill).items()]
    return empty if all(is_empty(m.value) for m in empty) else []


def _no_data_fixes(skill: Skill, missing: list[MissingInput]) -> str:
    """How to give a model with only optional inputs its data: the URIs its rules take, or ``dataset_keys``."""
    sources = {str(r.get("source")) for r in skill.data_sources.values() if isinstance(r, Mapping)}
    fields = [name for name, names in (("train_dataset_uri", TRAIN_SOURCES), ("eval_dataset_uri", EVAL_SOURCES))
              if sources & set(names)]
    via = f"give {' and '.join(fields)} (data_sources.{skill.action} rules place them), or " if fields else ""
    return f"{via}set the inputs the job should read with {keys_example([m.key for m in missing][:3])}"


def _fixes(skill: Skill, missing: list[MissingInput]) -> str:
    """How to set each missing input: the run field that fills it, else one ``dataset_keys`` example."""
    fixes = list(dict.fromkeys(fix for m in missing if (fix := how_to_set(skill, m.key)) is not None))
    mapped = [m.key for m in missing if how_to_set(skill, m.key) is None]
    if mapped:
        sources = sorted({source for key in mapped if (source := rule_source(skill, key))})
        via = f" (data_sources reads {'/'.join(sources)} there, which a run does not take)" if sources else ""
        fixes.append(f"set {'it' if len(mapped) == 1 else 'them'} with {keys_example(mapped)}{via}")
    if any(m.optional for m in missing):
        fixes.append("an optional input may be set to '' in spec_overrides to go without it")
    return "; ".join(fixes)


def placeholder_check(skill: Skill, spec: Mapping[str, Any]) -> Check:
    """A warning naming every other spec value still holding a template ``<placeholder>``."""
    reported = {m.key for m in missing_inputs(skill, spec)}
    found = {key: value for key, value in placeholders(spec).items() if key not in reported}
    if not found:
        return Check("spec_placeholders", True, "no template placeholder left in the spec")
    shown = ", ".join(f"{key}={value!r}" for key, value in found.items())
    return Check("spec_placeholders", True,
                 f"{len(found)} spec value(s) still hold a template placeholder, which the job reads as written: "
                 f"{shown}; set them in spec_overrides", warning=True)

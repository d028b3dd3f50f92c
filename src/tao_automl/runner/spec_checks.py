"""Preflight's checks of the spec a job would receive: every given dataset URI lands in it, the skill's declared
``inputs`` are set (not empty, not a template ``<placeholder>``), a path set for an input through ``spec_overrides``
exists where dataset paths are checked, and no other ``<placeholder>`` is left (a warning).

They look at one rec rendered into a temporary folder (:func:`tao_automl.runner.plan.check_render`), so whatever set
a value (template, overrides, dataset rules, ``dataset_keys``, ``base_checkpoint``) is taken into account.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tao_automl.bank.skill import Skill
from tao_automl.errors import PreflightError, TaoAutoMLError
from tao_automl.render.inputs import (
    MissingInput,
    declared_inputs,
    how_to_set,
    keys_example,
    missing_inputs,
    placeholders,
    rule_source,
)
from tao_automl.render.job import JobContext, base_spec, place, resolve_overrides
from tao_automl.runner.preflight import Check, PreflightReport, dataset_check
from tao_automl.runner.run_args import BUILTIN_PREFIX, RunArgs

NAMES = ("dataset_placement", "spec_inputs", "spec_placeholders")


def spec_checks(config: RunArgs, built: Mapping[str, Any], report: PreflightReport) -> None:
    """Add the spec checks to ``report``; skipped (n/a) when the skill or ``spec_overrides`` did not pass."""
    from tao_automl.runner.plan import check_render, job_context

    skill = built.get("skill")
    overrides_ok = next((c.ok for c in report.checks if c.check == "spec_overrides"), None)
    if skill is None or overrides_ok is not True:
        why = "the skill did not load" if skill is None else "spec_overrides did not pass"
        for name in NAMES:
            report.add(name, None, f"skipped: {why}")
        return
    ctx = job_context(config)
    try:
        spec = check_render(skill, built.get("space"), ctx)
    except TaoAutoMLError as exc:
        report.add("spec_render", False, str(exc), exc)
        return
    report.checks.append(placement_check(skill, ctx, spec))
    report.checks.extend(override_path_checks(config.platform, skill, config.spec_overrides))
    report.checks.append(inputs_check(skill, spec))
    report.checks.append(placeholder_check(skill, spec))


def placement_check(skill: Skill, ctx: JobContext, spec: Mapping[str, Any]) -> Check:
    """A given dataset URI that no ``data_sources`` rule takes (and no ``dataset_keys``) fails: no job would read
    it, each would run on the template's paths instead."""
    from tao_automl.render.inputs import dataset_keys_example

    placement = place(skill, ctx)
    given = {"train_dataset_uri": ctx.train_dataset_uri, "eval_dataset_uri": ctx.eval_dataset_uri}
    if not placement.unplaced:
        if not placement.values:
            return Check("dataset_placement", True, "no dataset URI or dataset_keys given")
        return Check("dataset_placement", True, f"the spec gets {', '.join(sorted(placement.values))}")
    name = placement.unplaced[0]
    uri = given.get(name)
    rules = "" if skill.data_sources else f" (its skill_info.yaml has no data_sources.{skill.action} rules)"
    others = [n for n in placement.unplaced if n != name]
    also = f"; {', '.join(others)} neither" if others else ""
    message = (f"{name}: {uri!r} is placed nowhere in the spec: {skill.name} has no data_sources.{skill.action} rule "
               f"that takes it{rules}{also}, so no job would read it (each would run on the template's paths); map "
               f"the spec keys to paths with dataset_keys instead, e.g. {dataset_keys_example(skill, spec)}, or drop "
               f"{name}")
    return Check("dataset_placement", False, message, PreflightError(
        message, field=name, value=uri,
        allowed=f"a dataset a data_sources.{skill.action} rule places, or dataset_keys (spec key -> path)"))


def override_path_checks(platform: str, skill: Skill, overrides: Mapping[str, Any]) -> list[Check]:
    """A path ``spec_overrides`` gives a declared input is checked like a ``dataset_keys`` path; a relative one is
    not checked (the job reads it from its own working directory)."""
    declared = declared_inputs(skill)
    out: list[Check] = []
    for key, value in resolve_overrides(skill, base_spec(skill), overrides).items():
        if key not in declared or not isinstance(value, str) or not value:
            continue
        name = f"spec_overrides.{key}"
        local = urlparse(value).scheme in ("", "file") and not value.startswith(BUILTIN_PREFIX)
        if local and not value.startswith("file:") and not Path(value).expanduser().is_absolute():
            out.append(Check(name, None, f"{value}: not checked (a relative path: the job reads it from its own "
                                         "working directory)"))
        else:
            out.append(dataset_check(platform, name, value))
    return out


def inputs_check(skill: Skill, spec: Mapping[str, Any]) -> Check:
    """Every declared input of the rendered spec usable: a required one set, none left at a ``<placeholder>``."""
    declared = declared_inputs(skill)
    if not declared:
        return Check("spec_inputs", True, f"{skill.name} ({skill.action}) declares no inputs")
    missing = missing_inputs(skill, spec)
    if not missing:
        return Check("spec_inputs", True, f"{len(declared)} declared input(s): every required one set, none left "
                                          "at a template placeholder")
    detail = f"{skill.name} ({skill.action}) " + "; ".join(m.problem() for m in missing) + "; " + _fixes(skill, missing)
    first = missing[0]
    return Check("spec_inputs", False, detail, PreflightError(
        f"spec_inputs: {detail}", field=first.key, value=first.value,
        allowed="a path (the skill declares it an input the job reads)"))


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

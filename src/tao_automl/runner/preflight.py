"""Preflight: check a run before anything starts (skill, space, overrides, platform, credentials, data, base
checkpoint, image).

:func:`run_preflight` creates nothing on disk (no workspace, state or logs). A check is ``ok=True``,
``ok=False`` (the run would fail) or ``ok=None`` ("not checked": the platform gives no way to check).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tao_automl.errors import PlatformUnreachableError, PreflightError, TaoAutoMLError
from tao_automl.render.data import spec_location
from tao_automl.runner.resources import DEFAULT_GPU_COUNT
from tao_automl.runner.run_args import RunArgs
from tao_automl.util.builtin import BUILTIN_DATASETS, BUILTIN_PREFIX
from tao_automl.util.reach import unreachable_error
from tao_automl.util.suggest import did_you_mean

LOCAL = "local"


@dataclass(frozen=True)
class Check:
    """One check; a failed one keeps the error behind it (field, value, allowed) in ``error``."""

    check: str
    ok: bool | None
    detail: str
    error: TaoAutoMLError | None = field(default=None, compare=False, repr=False)
    #: Structured facts of a passed check for JSON readers (the search space's ``derived_bounds``).
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    #: A passed check that still names something to look at (``"warning": true`` in JSON, ``warn`` in text).
    warning: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"check": self.check, "ok": self.ok, "detail": self.detail, **self.data}
        if self.warning:
            data["warning"] = True
        return data


@dataclass
class PreflightReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed ("not checked" does not fail)."""
        return all(c.ok is not False for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.warning and c.ok is not False]

    def add(self, check: str, ok: bool | None, detail: str, error: TaoAutoMLError | None = None,
            data: dict[str, Any] | None = None, warning: bool = False) -> None:
        self.checks.append(Check(check, ok, detail, error, dict(data or {}), warning))

    def error(self) -> TaoAutoMLError:
        """The error to raise for a failed report: the first failed check's own error (its field, value and allowed
        values), the other failed checks named in its hint. A check the user can fix comes before a platform that
        could not be reached (exit 3 means "retry later": only when retrying is all that is left to do)."""
        failed = self.failed
        fixable = [c for c in failed if not isinstance(c.error, PlatformUnreachableError)]
        first = (fixable or failed)[0]
        others = [c for c in failed if c is not first]
        hint = f"also failed: {'; '.join(_named(c) for c in others)}" if others else None
        if first.error is not None:
            err = first.error
            out = err.rebuilt(err.detail, hint=hint or err.hint)
        else:
            out = PreflightError(f"preflight failed: {first.check}: {first.detail}", field=first.check,
                                 value=first.detail, allowed="a passing check", hint=hint)
        out.produced = {"checks": [c.to_json() for c in self.checks]}  # `run --json` shows them, as preflight does
        return out

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks]}

    def text(self) -> str:
        marks = {True: "ok", False: "FAIL", None: "n/a"}
        width = max((len(c.check) for c in self.checks), default=5)
        lines = [f"{'warn' if c.warning and c.ok else marks[c.ok]:<4}  {c.check:<{width}}  {c.detail}"
                 for c in self.checks]
        unchecked = [c.check for c in self.checks if c.ok is None]
        if not self.ok:
            verdict = f"{len(self.failed)} check(s) failed"
        elif unchecked:  # never "passed" for what nobody checked
            verdict = f"no check failed; {len(unchecked)} not checked (n/a above says why): {', '.join(unchecked)}"
        else:
            verdict = "passed"
        if self.ok and self.warnings:
            verdict += f"; {len(self.warnings)} warning(s) (warn above): {', '.join(c.check for c in self.warnings)}"
        lines.append("preflight: " + verdict)
        return "\n".join(lines)


def _named(check: Check) -> str:
    """``check: detail``, without naming the check twice when the detail already starts with it."""
    return check.detail if check.detail.startswith(check.check) else f"{check.check}: {check.detail}"


def _guard(report: PreflightReport, name: str, fn: Callable[[], str], data: dict[str, Any] | None = None) -> bool:
    """Run one check; a user/skill error becomes a failed check with its message. ``data`` (filled by ``fn``) goes
    into a passed check's JSON."""
    try:
        report.add(name, True, fn(), data=data)
        return True
    except TaoAutoMLError as exc:
        report.add(name, False, str(exc), exc)
        return False


def _skill_detail(skill: Any) -> str:
    return f"{skill.name} ({skill.action}) from {skill.path}"


def _settings_detail(settings: Any) -> str:
    if settings.objectives:
        return f"algorithm {settings.algorithm}, metrics {', '.join(o['name'] for o in settings.objectives)}"
    return f"algorithm {settings.algorithm}, metric {settings.metric}"


def _metric_text(settings: Any, metric: str, direction: str) -> str:
    """The metric the run reads (``kpi`` resolved) with its direction; every metric of a multi-objective run."""
    if settings.objectives:
        return "metrics " + ", ".join(f"{o['name']} ({o['direction']})" for o in settings.objectives)
    return f"metric {metric} ({direction})"


def _space_detail(space: Any, metric_text: str, notes: Sequence[str], settings: Any,
                  facts: dict[str, Any]) -> str:
    """The search_space check's line; with ``algorithm: auto``, also the brain it picks for this space and budget
    and why (the run persists the same pick), put in ``facts`` as ``algorithm_choice``; the default params the space
    left out, each with its reason in ``facts["left_out"]``."""
    picked = ""
    if settings.algorithm == "auto":
        from tao_automl.brain.auto import auto_choice

        facts["algorithm_choice"] = choice = auto_choice(space, settings)
        picked = f"; algorithm auto picks {choice['algorithm']}: {choice['reason']}"
    left_out = ""
    facts["left_out"] = list(space.skipped)  # always there (SKILL.md says to read it); empty when none is left out
    if space.skipped:  # the warning gives each reason; JSON carries them in left_out
        left_out = (f"; {len(space.skipped)} of the schema's default param(s) left out: "
                    f"{', '.join(entry.partition(' (')[0] for entry in space.skipped)}")
    return (f"{len(space)} param(s): {', '.join(space.names)}; {metric_text}{picked}{left_out}"
            + "".join(f"; note: {n}" for n in notes))


def _add_overrides(report: PreflightReport, config: RunArgs, skill: Any) -> None:
    """The passed ``spec_overrides`` check: a key neither in the spec nor in the schema is passed through as a new
    key, a warning naming it (``new_keys``): the JSON and the tools' callers see it, not only a log line."""
    from tao_automl.render.job import base_spec, new_override_keys

    count = f"{len(config.spec_overrides)} override(s) valid"
    new = new_override_keys(skill, base_spec(skill), config.spec_overrides)
    if not new:
        report.add("spec_overrides", True, count)
        return
    report.add("spec_overrides", True, f"{count}; not in {skill.name}'s schema nor its spec, so passed through as "
               f"new key(s): {', '.join(new)} (a job that does not read them ignores them: check the spelling)",
               data={"new_keys": new}, warning=True)


def _planned_checks(plan: Any, config: RunArgs, report: PreflightReport) -> None:
    """The skill checks of a run whose plan is built: :meth:`RunPlan.build` made every one of them already (and
    logged their warnings once), so they are reported from the plan, not run again."""
    report.add("skill", True, _skill_detail(plan.skill))
    report.add("settings", True, _settings_detail(plan.settings))
    facts: dict[str, Any] = {"derived_bounds": dict(plan.derived_bounds)}
    report.add("search_space", True, _space_detail(
        plan.space, _metric_text(plan.settings, plan.metric, str(plan.direction)), plan.notes, plan.settings, facts),
               data=facts)
    _add_overrides(report, config, plan.skill)


def _skill_checks(config: RunArgs, report: PreflightReport) -> dict[str, Any]:
    """The run plan's stages (:mod:`tao_automl.runner.plan`), one check each; what they built (``skill``,
    ``settings``, ``space``) for the checks after them."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.runner import plan, plan_checks
    from tao_automl.schema.build import derived_bounds

    holder: dict[str, Any] = {}

    def skill() -> str:
        holder["skill"] = load_skill(config.skill_dir, config.action)
        return _skill_detail(holder["skill"])

    def settings() -> str:
        holder["settings"] = plan.load_settings(config.automl_settings)
        return _settings_detail(holder["settings"])

    skill_ok, settings_ok = _guard(report, "skill", skill), _guard(report, "settings", settings)
    if not skill_ok:
        report.add("search_space", None, "skipped: the skill did not load")
        report.add("spec_overrides", None, "skipped: the skill did not load")
        return holder
    if not settings_ok:
        report.add("search_space", None, "skipped: the settings are invalid")
    else:
        def space() -> str:
            plan.check_metric(plan.settings_metric(holder["settings"]), holder["skill"],
                              unset="metric" not in (config.automl_settings or {}))
            try:
                base = plan.job_baseline(holder["skill"], config.spec_overrides)
            except TaoAutoMLError:  # the spec_overrides check below fails with this error
                base = plan.job_baseline(holder["skill"], {})
            holder["space"] = plan.search_space(holder["skill"].schema, holder["settings"],
                                                config.automl_hyperparameters, config.custom_param_ranges, base,
                                                holder["skill"].spec_shorthand_keys)
            facts["derived_bounds"] = derived = derived_bounds(
                holder["skill"].schema, holder["space"], config.custom_param_ranges, base)
            metric = plan.metric_name(holder["settings"], holder["skill"])
            holder["promotes"] = plan.promotes(holder["settings"], holder["space"])
            holder["epoch_key"] = plan.fidelity_key(holder["skill"], holder["settings"], holder["space"])
            plan_checks.check_epoch_budget(holder["skill"].schema, holder["settings"], holder["epoch_key"],
                                    holder["space"])
            plan_checks.check_epoch_key_not_searched(holder["skill"], holder["space"], holder["epoch_key"],
                                              holder["settings"].algorithm, config.automl_hyperparameters,
                                              config.custom_param_ranges)
            plan_checks.check_space_fits_skill(holder["skill"], holder["space"], config.custom_param_ranges)
            notes = plan.run_notes(holder["skill"], holder["settings"], holder["space"], config.automl_settings,
                                   config.custom_param_ranges, derived, holder["promotes"], base)
            direction = str(plan.direction(holder["settings"], holder["skill"]))
            return _space_detail(holder["space"], _metric_text(holder["settings"], metric, direction), notes,
                                 holder["settings"], facts)

        facts: dict[str, Any] = {}
        try:
            report.add("search_space", True, space(), data=facts)
        except TaoAutoMLError as exc:
            if str(exc.field or "").startswith("automl_settings.llm_"):  # the llm_endpoint check reports it, once
                report.add("search_space", None, f"skipped: the LLM brain needs {exc.field} (see llm_endpoint)")
            else:
                report.add("search_space", False, str(exc), exc)

    loaded = holder.get("settings")
    try:
        plan_checks.checked_overrides(holder["skill"], holder.get("space"), config.spec_overrides,
                               epoch_key=holder.get("epoch_key"),
                               algorithm=loaded.algorithm if loaded is not None else None,
                               promotes=bool(holder.get("promotes")), base_checkpoint=config.base_checkpoint or "")
    except TaoAutoMLError as exc:
        report.add("spec_overrides", False, str(exc), exc)
    else:
        _add_overrides(report, config, holder["skill"])
    return holder


def checkpoint_check(platform: str, skill: Any, base_checkpoint: str | None) -> Check:
    """``base_checkpoint``: refused for a skill with no pretrained-model key, else checked like a dataset path."""
    if base_checkpoint and skill is not None:
        from tao_automl.runner.plan_checks import check_base_checkpoint

        try:
            check_base_checkpoint(skill, base_checkpoint)
        except TaoAutoMLError as exc:
            return Check("base_checkpoint", False, str(exc), exc)
    return dataset_check(platform, "base_checkpoint", base_checkpoint)


#: Words that start a shell command line without naming its program.
_SHELL_WORDS = frozenset({"exec", "env", "time", "nice", "nohup", "cd", "if", "for", "while", "case", "(", "{",
                          "set", "export", "source", ".", "[", "test", "!"})


#: A command word that names a script file (``train.py``, ``run.sh``).
_SCRIPT = re.compile(r"\.(py|sh|bash|R|jl|pl|rb|js)$")


def command_check(platform: str, skill: Any, sdk: Any = None) -> Check | None:
    """On the local platform, whether the program that starts the skill's command exists here (on the jobs' PATH:
    this Python's folder first, as LocalSDK runs them) and names its script by a path a job can open (a relative one
    fails unless the job makes it: jobs run in their own folder): a warning when the program is missing or the script
    path is relative (every rec would fail
    with exit code 127 until fail fast stops the sweep; a warning, not a failure, as the dry run of a bank model on a
    machine without TAO still shows its specs). On a Slurm reached from this machine (no ssh) without containers, the
    program on this shell's PATH, which sbatch hands the jobs (:func:`_slurm_command_check`). None elsewhere, or when
    the command starts with a placeholder or a shell construct."""
    import shutil

    if platform == "slurm" and skill is not None:
        return _slurm_command_check(skill, sdk)
    parsed = _program(skill) if platform == "local" and skill is not None else None
    if parsed is None:
        return None
    program, after = parsed
    from tao_automl.platforms.local.options import jobs_path

    found = shutil.which(program, path=jobs_path(os.environ.get("PATH")))
    relative = [w for w in after
                if _SCRIPT.search(w) and not w.startswith(("-", "/", "{", "$", "~"))]
    if found and relative:  # a job runs in its own folder, where a path relative to here names nothing
        return Check("command", True, f"the skill's command names {relative[0]!r} by a relative path, but local "
                     "jobs run in their own folder (under the run folder's jobs/, or the jobs_dir chosen), where it "
                     "does not exist unless the job makes it: give it as an absolute path (or {skill_dir}/... when "
                     "it lives in the model folder)", warning=True)
    in_skill = [w.replace("{skill_dir}", str(skill.path)) for w in after
                if w.startswith("{skill_dir}/") and _SCRIPT.search(w) and "{" not in w[len("{skill_dir}"):]]
    absent = [path for path in in_skill if not Path(path).exists()]
    if found and absent:  # e.g. a typo in the script's name: every rec would fail until fail fast stops the sweep
        return Check("command", True, f"the skill's command names {absent[0]!r} ({{skill_dir}}/...), which does not "
                     "exist: every job would fail; fix the path in the skill's command", warning=True)
    if found:
        return Check("command", True, program if found == program else f"{program} ({found})")
    where = "an executable file" if "/" in program else "on PATH"
    return Check("command", True, f"the skill's command starts with {program!r}, which is not {where} on this "
                 "machine, where the local platform runs it: every job would fail with exit code 127 unless the job "
                 f"finds it; install {program!r} (or activate the environment that has it), or run on a platform "
                 "whose image has it", warning=True)


def _program(skill: Any) -> tuple[str, list[str]] | None:
    """The program that starts the skill's command (after ``NAME=value`` words) and the words after it; None for a
    placeholder, a shell construct or a command that does not parse."""
    import shlex

    try:
        words = shlex.split(skill.command_template, comments=True)
    except (ValueError, TaoAutoMLError):
        return None
    program = next((w for w in words if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", w)), None)
    if not program or "{" in program or "$" in program or program in _SHELL_WORDS:
        return None
    return program, words[words.index(program) + 1:]


def _slurm_command_check(skill: Any, sdk: Any) -> Check | None:
    """Slurm jobs inherit this shell's environment (sbatch exports it), PATH included, so a program found only in this
    Python's folder (the demo's ``tao-demo-digits`` when tao-automl runs as ``.venv/bin/tao-automl`` without an
    activated venv) failed every rec with exit code 127, where the local platform (which puts that folder first) ran
    it. A warning then; None when the SDK reaches Slurm over ssh or runs containers (the jobs' PATH is not this
    one), or when the program is found."""
    import shutil

    from tao_automl.platforms.base import unwrap

    raw = unwrap(sdk) if sdk is not None else None
    shell = getattr(raw, "shell", None)
    if raw is None or getattr(shell, "remote", True) or getattr(raw, "use_pyxis", False):
        return None
    parsed = _program(skill)
    if parsed is None or "/" in parsed[0]:
        return None
    program = parsed[0]
    if shutil.which(program):
        return Check("command", True, f"{program} (on this shell's PATH, which the Slurm jobs inherit)")
    beside = shutil.which(program, path=str(Path(sys.executable).parent))
    where = (f"it is in this Python's folder {Path(sys.executable).parent}, which is not on PATH: activate that "
             f"environment (source {Path(sys.executable).parent / 'activate'}) before running, or"
             if beside else "install it where the nodes find it, or")
    return Check("command", True, f"the skill's command starts with {program!r}, which is not on this shell's PATH; "
                 f"Slurm jobs inherit that PATH (sbatch exports the environment), so every job would fail with exit "
                 f"code 127 unless its node finds it; {where} give the command's full path in the skill", warning=True)


def _llm_check(settings: Any, report: PreflightReport) -> None:
    """LLM algorithms: the endpoint answers, serves the model and takes the key (a model listing and a one-token
    answer). One that cannot be contacted at all fails as unreachable (exit 3), a wrong one as a user error."""
    from tao_automl.llm import setup as llm_setup

    if settings is None or settings.algorithm not in llm_setup.LLM_ALGORITHMS:
        return

    def endpoint() -> str:
        llm_setup.preflight(settings)
        return f"{settings.algorithm}: the LLM endpoint answered with model {settings.llm_model or '$AUTOML_LLM_MODEL'}"

    _guard(report, "llm_endpoint", endpoint)


def _credentials(config: RunArgs, report: PreflightReport, sdk: Any = None) -> None:
    """The platform's credentials are set (never their values). ``sdk``: the runner's SDK, built already (its
    ``platform_options`` are not in ``config``): what its constructor needs it was given, as it refuses to be built
    without."""
    from tao_automl.bank.credentials import SDK_ENV, platform_credentials, sdk_env_missing

    if config.platform == LOCAL:
        report.add("credentials", True, "the local platform needs none")
        return
    found = platform_credentials(config.skill_dir, config.platform)
    unused = unused_credentials(config)
    missing = [m for m in found.missing if not set(re.split(r"[ /]", m)) & unused] if found is not None else []
    skipped = sorted({name for m in (found.missing if found is not None else []) for name in re.split(r"[ /]", m)}
                     & unused)
    aside = f" ({', '.join(skipped)} not needed: {unused_reason(config)})" if skipped else ""
    if found is None and config.platform in SDK_ENV:  # what our SDK itself reads
        absent = sdk_env_missing(config.platform, config.platform_options)
        if absent and sdk is not None:  # e.g. LeptonSDK(workspace_id="<id>:<token>"): built, so it has them
            report.add("credentials", True, f"{config.platform} SDK: built with its credentials (not from "
                       f"{', '.join(absent)})")
            return
        report.add("credentials", not absent, f"{config.platform} SDK: " + (
            f"missing {', '.join(absent)}" if absent else f"{', '.join(SDK_ENV[config.platform])} given"))
    elif found is None:
        report.add("credentials", None, f"not checked: no platform skill for {config.platform!r} in the bank")
    elif missing:
        report.add("credentials", False, f"{found.name}: missing {', '.join(missing)}{aside}")
    else:
        # the bank's required credentials it does not need were all that was missing: say what it is ready for
        ready = "ready for Slurm on this machine" if skipped else "every required credential is set"
        report.add("credentials", True, f"{found.name}: {ready}{aside}")


def _local_slurm(config: RunArgs) -> bool:
    """Slurm run through its CLI on this machine: no ``hostname`` option and no ``$SLURM_HOSTNAME``."""
    return config.platform == "slurm" and not (config.platform_options.get("hostname") or
                                               os.environ.get("SLURM_HOSTNAME"))


def unused_credentials(config: RunArgs) -> frozenset[str]:
    """The bank credentials the run's platform does not need as configured (none but for Slurm on this machine;
    its partition defaults to the cluster's own when ``$SLURM_PARTITION`` is unset)."""
    from tao_automl.bank.credentials import LOCAL_SLURM_UNUSED

    return LOCAL_SLURM_UNUSED if _local_slurm(config) else frozenset()


def unused_reason(config: RunArgs) -> str:
    return ("Slurm runs on this machine (no platform_options.hostname or $SLURM_HOSTNAME); an unset SLURM_PARTITION "
            "means the cluster's default partition")


def _platform_checks(config: RunArgs, report: PreflightReport, image: str | None, given: Any = None) -> Any:
    """The platform's own checks, added to ``report``; returns the SDK they used (None when it could not be built)."""
    from tao_automl.platforms.base import PlatformCheck, as_platform, takes_job_options
    from tao_automl.platforms.registry import make_sdk, sdk_class
    from tao_automl.runner.job_kwargs import checked_job_kwargs

    holder: dict[str, Any] = {"sdk": given}

    def build() -> str:
        if given is None:
            holder["sdk"] = make_sdk(config.platform, config.platform_options)
        return f"{config.platform}: {type(holder['sdk']).__name__}"

    if not _guard(report, "platform", build):
        cls = sdk_class(config.platform)
        if cls is not None and config.platform_kwargs:  # a misspelt key is the user's to fix, reachable or not
            _guard(report, "platform_kwargs", lambda: f"{len(checked_job_kwargs(cls, config.platform_kwargs))} "
                   "named as the platform takes them (their values are checked once it can be reached)")
        else:
            report.add("platform_kwargs", None, "skipped: the platform SDK could not be built")
        report.add("platform_reachable", None, "skipped: the platform SDK could not be built")
        report.add("image", None, "skipped: the platform SDK could not be built")
        return None
    sdk = holder["sdk"]
    _guard(report, "platform_kwargs", lambda: f"{len(checked_job_kwargs(sdk, config.platform_kwargs))} valid")
    platform = as_platform(sdk)
    gpu_count = config.platform_kwargs.get("gpu_count", DEFAULT_GPU_COUNT)
    count = gpu_count if isinstance(gpu_count, int) else None
    try:
        checks = list(platform.preflight(image, count, job_options=config.platform_kwargs)
                      if takes_job_options(platform.preflight) else platform.preflight(image, count))
    except Exception as exc:
        checks = [PlatformCheck("platform_reachable", False, f"{type(exc).__name__}: {exc}",
                                unreachable=unreachable_error(exc))]
    for check in checks:
        error = getattr(check, "error", None) if check.ok is False else None  # the platform named the input at fault
        if check.ok is False and getattr(check, "unreachable", False) and \
                not isinstance(error, PlatformUnreachableError):  # unless it named what it could not reach
            error = unreachable(config.platform, check.check, check.detail)
        report.add(check.check, check.ok, check.detail, error)
    if not any(c.check == "image" for c in checks):
        failed = next((c.check for c in checks if c.ok is False), None)  # the platform's checks stopped there
        why = f"the platform's checks stopped at the failed {failed} check" if failed else \
            f"{platform_label(sdk)} offers no check"
        report.add("image", True if not image else None,
                   "no image given" if not image else f"{image}: not checked ({why})")
    return sdk


def unreachable(platform: str, check: str, detail: str) -> PlatformUnreachableError:
    """The error of a platform that could not be contacted at all (exit 3): nothing was started; retry later."""
    return PlatformUnreachableError(
        f"platform {platform!r} could not be reached: {detail}", field=check, value=platform,
        allowed="a platform that answers from this machine",
        hint=f"make sure the {platform} platform is up and reachable from here (its address, network, VPN), then "
             "retry; nothing was started")


def platform_label(sdk: Any) -> str:
    from tao_automl.platforms.base import unwrap

    return type(unwrap(sdk)).__name__


def dataset_check(platform: str, field_name: str, uri: str | None) -> Check:
    """A dataset URI is fine when builtin, visible locally on the local platform, else not checked."""
    if not uri:
        return Check(field_name, True, "not given")
    if uri.startswith(BUILTIN_PREFIX):
        if uri in BUILTIN_DATASETS:
            return Check(field_name, True, f"{uri} (built in)")
        known = ", ".join(BUILTIN_DATASETS)
        close = did_you_mean(uri, BUILTIN_DATASETS)
        message = f"{field_name}: {uri!r} is not a built-in dataset{close}; built in: {known}"
        return Check(field_name, False, message, PreflightError(
            message, field=field_name, value=uri, allowed=f"{known}, an existing local path or a remote URI"))
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return Check(field_name, None, f"{uri}: not checked (remote {parsed.scheme}:// URI)")
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):  # the job's spec gets the URI as given
        return Check(field_name, None, f"{uri}: not checked (a file: URI of host {parsed.netloc!r}, not this machine)")
    path = Path(spec_location(uri) if parsed.scheme == "file" else uri).expanduser()  # %20 read as the spec gets it
    if platform != LOCAL:
        return Check(field_name, None, f"{path}: not checked (a path on the {platform} platform)")
    if path.exists():
        return Check(field_name, True, f"{path} exists")
    allowed = "an existing local path, a remote URI or builtin:<name>"
    return Check(field_name, False, f"path {str(path)!r} does not exist",
                 PreflightError(f"{field_name}: path {str(path)!r} does not exist", field=field_name,
                                value=str(path), allowed=allowed))


def run_preflight(config: RunArgs, sdk: Any = None, plan: Any = None) -> PreflightReport:
    """Every check of ``config`` (on ``sdk`` when given, else on an SDK built from ``config.platform``); nothing is
    created, nothing is launched. The CLI and :meth:`AutoMLRunner.run` both run it before the run folder exists.
    ``plan``: the :class:`~tao_automl.runner.plan.RunPlan` already built from ``config`` (the run and the dry run
    build it first): its checks are reported from it rather than made, and warned about, a second time."""
    report = PreflightReport()
    report.add("config", True, f"skill {config.skill_dir}, platform {config.platform}")
    if plan is not None and plan.skill is not None:
        _planned_checks(plan, config, report)
        built: dict[str, Any] = {"skill": plan.skill, "settings": plan.settings, "space": plan.space}
    else:
        built = _skill_checks(config, report)
    skill = built.get("skill")
    _credentials(config, report, sdk)
    image = config.image
    if not image and skill is not None:  # as a job is rendered: none given is the skill's (an empty one is refused)
        try:
            image = skill.container_image
        except TaoAutoMLError:
            image = None
    built_sdk = _platform_checks(config, report, image, sdk)
    datasets = [("train_dataset_uri", config.train_dataset_uri), ("eval_dataset_uri", config.eval_dataset_uri)]
    datasets += [(f"dataset_keys.{key}", value) for key, value in config.dataset_keys.items()]
    for name, uri in datasets:
        report.checks.append(dataset_check(config.platform, name, uri))
    report.checks.append(checkpoint_check(config.platform, skill, config.base_checkpoint))
    program = command_check(config.platform, skill, built_sdk)
    if program is not None:
        report.checks.append(program)
    from tao_automl.runner.spec_checks import spec_checks

    spec_checks(config, built, report)
    report.checks.append(workspace_check(config.workspace_path))
    _guard(report, "trackers", lambda: _trackers(config))
    _llm_check(built.get("settings"), report)
    return report


def workspace_check(workspace_path: Any) -> Check:
    """The workspace folder exists or can be made, and a run folder can be written in it (probed by writing)."""
    from tao_automl.errors import WorkspaceError
    from tao_automl.experiment.workspace import holds_a_run
    from tao_automl.util.writable import unwritable_reason

    path = Path(str(workspace_path)).expanduser()
    held = holds_a_run(path)
    if held is not None:
        return Check("workspace_path", False, str(held), held)
    why = unwritable_reason(path)
    if why is None:
        return Check("workspace_path", True, f"{path} ({'exists' if path.is_dir() else 'will be created'}, writable)")
    message = f"workspace_path {str(path)!r} cannot be a run workspace: {why}"
    return Check("workspace_path", False, message,
                 WorkspaceError(message, field="workspace_path", value=str(path),
                                allowed="a writable folder (or a new path under one)",
                                hint="choose another workspace_path"))


def _trackers(config: RunArgs) -> str:
    """``wandb_config`` / ``mlflow_config`` checked as the run checks them (no credential, known keys, extra)."""
    from tao_automl.tracking.config import check_tracking_config, is_enabled

    used = [name for name in ("wandb_config", "mlflow_config")
            if is_enabled(check_tracking_config(name, getattr(config, name, None)))]
    return f"{', '.join(used)} valid" if used else "none configured"

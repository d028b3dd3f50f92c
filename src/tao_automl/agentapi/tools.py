"""The tools an agent calls (MCP server, or in-process): one function and one JSON schema per tool.

Each tool takes plain JSON arguments, checks them against its schema (a violation is a ``usage`` error naming
the argument, the value and what is allowed), runs the same code path as the CLI command it mirrors and
returns JSON data. Failures raise the project's errors; :func:`call_tool` turns them into
``{"error": {...}}`` with the same fields as ``tao-automl --json``, and marks any result carrying ``error`` (a
failed ``preflight`` keeps its ``checks`` beside it) as an error result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tao_automl.agentapi.wording import worded_for_tools
from tao_automl.errors import (
    MissingExtraError,
    SettingsError,
    TaoAutoMLError,
    UserInputError,
    WorkspaceError,
    error_json,
    require_extra,
)

JSON = dict[str, Any]

_RUN_DIR = {"type": "string", "minLength": 1,
            "description": "the run folder printed by start_sweep (holds state.db)"}
_CONFIG = {
    "type": "object",
    "description": "a run config: the keys of the CLI's YAML file (skill_dir, workspace_path, platform, "
                   "train_dataset_uri, automl_settings, spec_overrides, platform_kwargs, ...); relative paths are "
                   "relative to the server's working directory",
}
_CONFIG_PATH = {"type": "string", "description": "path of a run config YAML file (instead of config)"}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    schema: JSON
    fn: Callable[..., JSON]


class ToolArgumentError(UserInputError):
    """A tool argument does not match the tool's JSON schema."""

    kind = "usage"
    default_hint = "see the tool's input schema (tools/list)"


def _object(properties: Mapping[str, Any], required: tuple[str, ...] = ()) -> JSON:
    return {"type": "object", "properties": dict(properties), "required": list(required),
            "additionalProperties": False}


def _load_config(config: Mapping[str, Any] | None, config_path: str | None) -> Any:
    from tao_automl.cli.run_config import config_from_mapping, load_run_config

    if (config is None) == (config_path is None):
        raise ToolArgumentError("give exactly one of config (an object) and config_path (a YAML file)",
                                field="config", value=None, allowed=["config", "config_path"],
                                hint="pass the run config as an object in config")
    if config_path is not None:
        try:
            return load_run_config(config_path)
        except TaoAutoMLError as exc:  # the file itself (missing, a folder, not YAML): named as this tool takes it
            if exc.field == "config":
                exc.field = "config_path"
            raise
    return config_from_mapping(dict(config or {}), Path.cwd())


# -- the tools ----------------------------------------------------------------------------------------------
def list_models(skill_bank: str | None = None, scope: str = "automl") -> JSON:
    from tao_automl.cli.bank_commands import models_report

    return models_report(skill_bank, scope)


def describe_search_space(skill_dir: str, action: str = "train", automl_hyperparameters: list[str] | None = None,
                          custom_param_ranges: Mapping[str, Any] | None = None,
                          automl_settings: Mapping[str, Any] | None = None) -> JSON:
    """The space and the metric a run with these arguments would use, checked as preflight checks them: a metric the
    model does not report is the same error (or, when ``automl_settings`` gives no metric, a note about the
    default's); ``notes`` adds the run plan's notes (a range of one value, derived range ends, ...); with
    ``algorithm: auto``, ``algorithm_choice`` is the brain it picks and why; ``left_out``: the schema's default params
    the space leaves out, each ``name (why)``."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.cli.run_config import resolve_skill_dir
    from tao_automl.runner import plan
    from tao_automl.schema.build import derived_bounds

    skill = load_skill(resolve_skill_dir(skill_dir, Path.cwd()), action)
    settings = plan.load_settings(automl_settings)
    notes: list[str] = []
    try:
        plan.check_metric(plan.settings_metric(settings), skill)
    except SettingsError as exc:
        if "metric" in (automl_settings or {}):
            raise  # the metric the user gave: refused as preflight and the run refuse it
        notes.append(f"automl_settings.metric is not set, so a run would use the default {settings.metric!r}, which "
                     f"{skill.name} does not report: preflight refuses it; set automl_settings.metric to one of "
                     f"{_allowed_text(exc.allowed)}")
    base = plan.job_baseline(skill, {})  # the template's values over the schema defaults, as a run without overrides
    space = plan.search_space(skill.schema, settings, automl_hyperparameters, custom_param_ranges, base,
                              skill.spec_shorthand_keys)
    data: JSON = {"skill_dir": skill_dir, "model": skill.name, "action": action,
                  "metric": plan.metric_name(settings, skill), "direction": str(plan.direction(settings, skill)),
                  "monitoring_metric": skill.monitoring_metric(), "reported_metrics": plan.known_metrics(skill),
                  "search_space": space.to_json(),
                  "derived_bounds": derived_bounds(skill.schema, space, custom_param_ranges, base)}
    if settings.objectives:
        data["metrics"] = settings.objectives
    data["left_out"] = list(space.skipped)  # the schema's default params left out, each "name (why)"; may be empty
    if settings.algorithm == "auto":  # the brain a run would get, and why (the run persists the same pick)
        from tao_automl.brain.auto import auto_choice

        data["algorithm_choice"] = auto_choice(space, settings)
    try:
        promoting = plan.promotes(settings, space)
    except TaoAutoMLError:  # a brain that cannot be built here (an LLM one without its endpoint): preflight says so
        promoting = False
    data["notes"] = notes + plan.run_notes(  # the run plan's (a one-value range)
        skill, settings, space, automl_settings, custom_param_ranges, data["derived_bounds"], promoting, base)
    return data


def _allowed_text(allowed: Any) -> str:
    return ", ".join(map(str, allowed)) if isinstance(allowed, (list, tuple)) else str(allowed)


def _preflight_error(report: Any, config_path: str | None) -> TaoAutoMLError:
    """A failed preflight's error, its hint worded for a tool call (a config object has no file to rerun)."""
    from tao_automl.cli.bank_commands import preflight_error

    where = repr(config_path) if config_path is not None else "the config object"
    return preflight_error(report, where, hint=f"fix the failed check(s) in {where} and call preflight again")


def preflight(config: Mapping[str, Any] | None = None, config_path: str | None = None) -> JSON:
    """The preflight report; a failed one also carries ``error`` (and :func:`call_tool` marks it an error)."""
    from tao_automl.runner.preflight import PreflightReport, run_preflight

    try:
        loaded = _load_config(config, config_path)
    except ToolArgumentError:  # which argument to give: a usage error, no report
        raise
    except UserInputError as exc:  # an invalid config is one failed `config` check, as the CLI's preflight says
        report = PreflightReport()
        report.add("config", False, str(exc), exc)
    else:
        report = run_preflight(loaded)
    data: JSON = report.to_json()
    if not report.ok:
        data.update(error_json(_preflight_error(report, config_path)))
    return data


def dry_run(config: Mapping[str, Any] | None = None, config_path: str | None = None, recs: int = 3) -> JSON:
    """The first ``recs`` recs as the run would launch them; a failed preflight is an error with its ``checks``
    beside it, as ``preflight`` and ``start_sweep`` answer (a settings failure came back with the error alone)."""
    from tao_automl.cli.dry_run import dry_run_with_notes
    from tao_automl.runner.preflight import run_preflight

    loaded = _load_config(config, config_path)
    if isinstance(recs, int) and not isinstance(recs, bool) and recs >= 1:  # a bad recs: the renderer names it
        report = run_preflight(loaded)
        if not report.ok:
            raise _preflight_error(report, config_path)
    return dry_run_with_notes(loaded, recs, "recs").to_json()


def start_sweep(config: Mapping[str, Any] | None = None, config_path: str | None = None) -> JSON:
    from tao_automl.cli.agent_commands import detached_report
    from tao_automl.platforms.registry import make_sdk
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.runner.preflight import run_preflight

    run_config = _load_config(config, config_path)
    report = run_preflight(run_config)
    if not report.ok:
        raise _preflight_error(report, config_path)
    runner = AutoMLRunner(make_sdk(run_config.platform, run_config.platform_options), run_config.skill_dir,
                          run_config.action)
    return _with_tool_steps(detached_report(runner.start(**run_config.run_kwargs())))


def _tool_call(tool: str, **arguments: Any) -> JSON:
    """A next step of a tool result: the tool to call and its arguments (the CLI's results name commands)."""
    return {"tool": tool, "arguments": arguments}


def _with_tool_steps(report: JSON) -> JSON:
    """A detached start's report with its ``next`` steps as tool calls, not ``tao-automl`` commands."""
    run_dir = report["run_dir"]
    return {**report, "next": {"status": _tool_call("sweep_status", run_dir=run_dir),
                               "stop": _tool_call("stop_sweep", run_dir=run_dir),
                               "resume": _tool_call("resume_sweep", run_dir=run_dir)}}


def _status(run_dir: str, **view: Any) -> JSON:
    from tao_automl.experiment.store import DAMAGED_HINT, FULL_DISK_HINT, NEWER_FORMAT_HINT
    from tao_automl.status import query_status, status_error_hint

    status = query_status(run_dir, **view)
    if "error" in status:
        hint = status_error_hint(str(status["error"]))  # a damaged state.db, or one on a full disk: this folder
        raise WorkspaceError(str(status["error"]), field="run_dir", value=run_dir,
                             allowed="a run folder made by start_sweep (it holds state.db)",
                             hint=hint if hint in (DAMAGED_HINT, FULL_DISK_HINT, NEWER_FORMAT_HINT)
                             else "pass the run_dir returned by start_sweep")
    return status


def sweep_status(run_dir: str, include_recs: bool = True, recs: str = "top", top: int | None = None, offset: int = 0,
                 limit: int | None = None) -> JSON:
    # its stop_reason's `tao-automl resume` reaches the caller as resume_sweep (call_tool)
    status = _status(run_dir, recs=recs, top=top, offset=offset, limit=limit,
                     call=f"sweep_status(run_dir={run_dir!r}, ")
    if not include_recs:
        status.pop("recommendations", None)
        status["rec_view"] = {**status.get("rec_view", {}), "shown": 0}
    return {**status, **_continuation(status)}


def _continuation(status: Mapping[str, Any]) -> JSON:
    """``done``: no orchestrator drives the run (polling again changes nothing); ``resumable``: ended without
    finishing, resume_sweep continues it (an interrupted run is done but not over); ``next``: that call, else null."""
    from tao_automl.experiment.lines import resumable

    info, progress = status["orchestrator"], status["progress"]
    done = not info["alive"] and progress.get("state") not in ("running", "starting")
    more = done and resumable(info, progress)
    return {"done": done, "resumable": more,
            "next": _tool_call("resume_sweep", run_dir=info.get("copy_of") or status["run_dir"]) if more else None}


def stop_sweep(run_dir: str, cancel_jobs: bool = False) -> JSON:
    from tao_automl.experiment.holder import copy_of
    from tao_automl.experiment.store import read_meta
    from tao_automl.runner.detach import stop_run

    result = stop_run(run_dir, cancel_jobs=cancel_jobs)
    if result.get("next") is not None:  # the run can continue: with the resume tool (the CLI names its command)
        # a copy is continued by its original, as sweep_status names it (resume_sweep refuses the copy)
        folder = result["run_dir"]
        result["next"] = _tool_call("resume_sweep", run_dir=copy_of(folder, read_meta(folder)) or folder)
    return result


def resume_sweep(run_dir: str) -> JSON:
    from tao_automl.cli.agent_commands import detached_report, finished_report, no_result
    from tao_automl.runner.close_spent import close_without_runner
    from tao_automl.runner.detach import nothing_to_resume, repeat_warning, resume_detached

    # a finished run, or one left open with its budget spent and its runner gone (closed here): no orchestrator is
    # started, and the answer says so
    note = nothing_to_resume(run_dir) or close_without_runner(run_dir)
    if note is not None:
        report = finished_report(run_dir, note)
        failure = no_result(report["run_dir"])  # without a result: an error result, as `resume` exits 1 for it
        return {**report, "next": {"status": _tool_call("sweep_status", run_dir=report["run_dir"])},
                **({} if failure is None else error_json(failure))}
    warning = repeat_warning(run_dir)  # read before the orchestrator clears it
    started = _with_tool_steps(detached_report(resume_detached(run_dir)))
    return {**started, "warning": warning} if warning else started


def best_config(run_dir: str) -> JSON:
    status = _status(run_dir)
    progress = status["progress"]
    best = status.get("best")
    data: JSON = {"run_dir": status["run_dir"], "state": progress.get("state"), "metric": progress.get("metric"),
                  "direction": progress.get("direction"), "completed": progress.get("completed"),
                  "total": progress.get("total"), "best": best, **_continuation(status)}
    if progress.get("objectives"):  # several metrics: best is the front's pick, not the first metric's best
        data.update(objectives=progress["objectives"], pareto_front=progress.get("pareto_front"),
                    best_by=progress.get("best_by"))
        data.pop("direction")
        data["metric"] = [o["name"] for o in progress["objectives"]]
    if best is None:
        data["note"] = _no_best_note(status["run_dir"], progress)
    return data


def _no_best_note(run_dir: str, progress: Mapping[str, Any]) -> str:
    """Why a sweep has no best rec yet, from its progress counts (never "failed recs" when none failed)."""
    state, failed = progress.get("state"), int(progress.get("failed") or 0)
    failures = f"{failed} rec(s) failed: read their messages with sweep_status" if failed else "no rec failed"
    if state in ("running", "starting"):
        return f"no rec has produced a result yet ({failures}); poll sweep_status"
    if state == "interrupted":
        from tao_automl.experiment.lines import budget_spent

        if budget_spent(progress):  # every rec ended (cancelled by a stop): a resume launches nothing, as status says
            return (f"the sweep was interrupted before any rec produced a result ({failures}) and every rec of its "
                    "budget has ended, so resume_sweep has nothing to launch; start a new run with start_sweep")
        uncollected = int(progress.get("uncollected") or 0)
        if uncollected:  # their jobs ended (as sweep_status shows them): their results wait for a resume
            return (f"the sweep was interrupted; {uncollected} rec(s) ended with a result not collected yet "
                    f"({failures}): resume_sweep with run_dir={run_dir!r} collects them and continues it")
        return (f"the sweep was interrupted before any rec produced a result ({failures}); resume_sweep with "
                f"run_dir={run_dir!r} continues it")
    why = "; sweep_status's progress.stop_reason says why it stopped" if progress.get("stop_reason") else ""
    return f"the sweep ended ({state}) without a result; {failures}{why}"


def report(run_dir: str) -> JSON:
    """Write the run's HTML report (as ``tao-automl report``) and return its path."""
    status = _status(run_dir)
    folder = Path(status["run_dir"])
    out = folder / "report.html"
    try:
        from tao_automl.report.data import load_run
        from tao_automl.report.html import write_html_report

        write_html_report(load_run(str(folder)), out)
    except MissingExtraError as exc:  # the report extra (plotly, scikit-learn) is not installed
        return {"run_dir": str(folder), "available": False, "html": None,
                "hint": f"{exc} ({exc.field} missing); best_config and sweep_status give the results as data"}
    return {"run_dir": str(folder), "available": True, "html": str(out), "state": status["progress"].get("state")}


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("list_models", "List the models that can run AutoML (default: the models built into the package, or a "
         "skill bank), with their default search space and the skill_dir a config uses.",
         _object({"skill_bank": {"type": "string", "description": "skill bank folder (default: "
                                 "$TAO_SKILL_BANK_PATH, else the built-in models)"},
                  "scope": {"type": "string", "enum": ["automl", "all"], "default": "automl",
                            "description": "automl: the models that can run AutoML (runnable, and blocked with why); "
                                           "all: every model of the bank"}}), list_models),
    Tool("describe_search_space", "The hyperparameters a sweep of a model searches (names, types, ranges, "
         "defaults) and the metric it optimises, checked as preflight checks them; notes says what a run would "
         "refuse or choose that the arguments do not say (e.g. a range of one value is never varied).",
         _object({"skill_dir": {"type": "string", "minLength": 1,
                                "description": "builtin:NAME or a model folder (list_models gives each model's "
                                               "skill_dir)"},
                  "action": {"type": "string", "default": "train",
                             "description": "one of the model's actions (an error lists them)"},
                  "automl_hyperparameters": {"type": "array", "items": {"type": "string"},
                                             "description": "the param names to search (default: the model's "
                                                            "default search space, as list_models shows it)"},
                  "custom_param_ranges": {"type": "object", "description": (
                      "param name -> its range: an object of valid_min, valid_max (numbers), valid_options (a "
                      "list), option_weights, disable_list, scale ('linear', 'log' or 'logit')")},
                  "automl_settings": {"type": "object", "description": (
                      "the run config's automl_settings (algorithm, metric, direction, automl_max_recommendations, "
                      "...): the metric, direction and algorithm choice it gives are the ones described")}},
                 ("skill_dir",)), describe_search_space),
    Tool("preflight", "Check a run config (model, settings, datasets, credentials, platform) without starting "
         "anything.", _object({"config": _CONFIG, "config_path": _CONFIG_PATH}), preflight),
    Tool("dry_run", "Render the first recs of a run config exactly as they would launch; launches nothing.",
         _object({"config": _CONFIG, "config_path": _CONFIG_PATH,
                  "recs": {"type": "integer", "minimum": 1, "maximum": 50, "default": 3,
                           "description": "how many of the first recs to render"}}), dry_run),
    Tool("start_sweep", "Validate a run config and start the sweep detached; returns the run_dir at once. Poll "
         "sweep_status until done is true.", _object({"config": _CONFIG, "config_path": _CONFIG_PATH}),
         start_sweep),
    Tool("sweep_status", "Progress of a sweep: state, recs done of the budget, best so far, running jobs, whether "
         "its orchestrator is alive, done (true once no orchestrator drives it: progress.state says how it ended), "
         "resumable (true when it ended unfinished, e.g. interrupted, and resume_sweep continues it) and next (that "
         "resume_sweep call, else null). recommendations: the `top` "
         "best recs (several metrics: the Pareto front first, best first) and the `top` newest without a rank "
         "(in flight and the last to end, in id order; recs 'top'), or every rec in id order, paged by offset "
         "and limit (recs 'all'); rec_view says which were shown of how many.",
         _object({"run_dir": _RUN_DIR,
                  "include_recs": {"type": "boolean", "default": True,
                                   "description": "false: leave recommendations out (progress and best only)"},
                  "recs": {"enum": ["top", "all"], "default": "top",
                           "description": "top: the best recs and the newest unranked ones; all: every rec in id "
                                          "order, paged by offset and limit"},
                  "top": {"type": "integer", "minimum": 0, "description": "recs 'top' only (default 10)"},
                  "offset": {"type": "integer", "minimum": 0, "default": 0,
                             "description": "recs 'all' only: the first rec shown, counted from 0"},
                  "limit": {"type": "integer", "minimum": 0,
                            "description": "recs 'all' only: at most this many recs (default: all)"}}, ("run_dir",)),
         sweep_status),
    Tool("stop_sweep", "Stop a sweep's orchestrator gracefully; running jobs keep running (resume_sweep "
         "re-attaches) unless cancel_jobs is true.",
         _object({"run_dir": _RUN_DIR, "cancel_jobs": {
             "type": "boolean", "default": False,
             "description": "true: also cancel the jobs still running (their recs end cancelled and count against "
                            "the budget)"}}, ("run_dir",)),
         stop_sweep),
    Tool("resume_sweep", "Continue a stopped or crashed sweep in the background from its run folder.",
         _object({"run_dir": _RUN_DIR}, ("run_dir",)), resume_sweep),
    Tool("best_config", "The best rec of a sweep: its searched params, the full spec it ran with and its metric; "
         "done, resumable and next as sweep_status gives them (a resumable run's best is its best so far).",
         _object({"run_dir": _RUN_DIR}, ("run_dir",)), best_config),
    Tool("report", "Write the sweep's self-contained HTML report (convergence, importance, every rec) into its run "
         "folder and return the path; works while the sweep runs.",
         _object({"run_dir": _RUN_DIR}, ("run_dir",)), report),
)}


#: the arguments naming a folder, and what each takes: a blank one is refused, never read as the working directory
_FOLDER_ARGUMENTS = {"run_dir": "the run_dir start_sweep returned",
                     "skill_dir": "builtin:NAME or a model folder (list_models gives each model's skill_dir)"}


def check_arguments(tool: Tool, arguments: Mapping[str, Any]) -> None:
    """Validate ``arguments`` against the tool's schema; the first violation is a :class:`ToolArgumentError`."""
    # the tools may be called in process without the extra the MCP server needs
    jsonschema = require_extra("jsonschema", "mcp", f"{tool.name}: checking the agent tools' arguments")

    # "integer" is a JSON number without a fraction; 2.0 is one, but the tools (as the CLI) take whole numbers only
    whole = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=whole)(tool.schema)
    for error in sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        if error.validator == "additionalProperties":
            allowed: Any = sorted(tool.schema["properties"])
            value: Any = sorted(set(arguments) - set(tool.schema["properties"]))
            where = str(value[0]) if value else where
        elif error.validator == "required":
            allowed, value = tool.schema["required"], None
            where = str(error.message.split("'")[1]) if "'" in error.message else where
        else:
            allowed = schema.get("enum") or {k: v for k, v in schema.items() if k in (
                "type", "minimum", "maximum", "items", "minLength")} or None
            value = error.instance
        raise ToolArgumentError(f"{tool.name}: argument {where}: {error.message}", field=where, value=value,
                                allowed=allowed, hint=f"see the input schema of {tool.name} (tools/list)")
    for name, allowed in _FOLDER_ARGUMENTS.items():
        folder = arguments.get(name)
        if isinstance(folder, str) and not folder.strip():  # blank: a folder name no caller means (not the cwd)
            # not quoted in the message: its one line folds runs of spaces (the exact value is in `value`)
            raise ToolArgumentError(f"{tool.name}: argument {name} is blank ({len(folder)} whitespace characters)",
                                    field=name, value=folder, allowed=allowed,
                                    hint=f"see the input schema of {tool.name} (tools/list)")


def _option_words(tool: Tool) -> Callable[[Any], Any]:
    """A text in the CLI's words ("pass --skill-bank PATH") in the tool's: each command-line option that is an
    argument of ``tool`` becomes that argument's name (``skill_bank``); anything but a string is kept."""
    options = {f"--{n.replace('_', '-')}": n for n in tool.schema.get("properties") or {}}

    def reword(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        for option, name in options.items():
            text = re.sub(rf"{re.escape(option)}(?: [A-Z_]+)?(?![\w-])", name, text)
        return text

    return reword


def _options_as_arguments(error: JSON, tool: Tool | None) -> JSON:
    """An error raised in the CLI's words (``field: --skill-bank``, "pass --skill-bank PATH") named in the tool's."""
    body = error.get("error")
    if tool is None or not isinstance(body, dict):
        return error
    reword = _option_words(tool)
    return {**error, "error": {**body, **{k: reword(body.get(k)) for k in ("field", "message", "hint", "allowed")}}}


def _notes_as_arguments(result: JSON, tool: Tool) -> JSON:
    """A result's own ``note`` and ``hint`` (list_models: "no skill bank given (--skill-bank PATH ...)") in the
    tool's words, as its errors are; the data beside them (specs, messages) is kept as it is."""
    reword = _option_words(tool)
    return {**result, **{k: reword(result[k]) for k in ("note", "hint") if k in result}}


def call_tool(name: str, arguments: Mapping[str, Any] | None) -> tuple[JSON, bool]:
    """Run tool ``name``; ``(result, is_error)`` where an error result is ``{"error": {...}}``."""
    tool = TOOLS.get(name)
    try:
        if tool is None:
            raise ToolArgumentError(f"unknown tool {name!r}", field="name", value=name, allowed=sorted(TOOLS),
                                    hint="list the tools with tools/list")
        if arguments is not None and not isinstance(arguments, Mapping):
            raise ToolArgumentError(f"{name}: the arguments must be an object of named arguments, not "
                                    f"{type(arguments).__name__}", field="arguments", value=arguments,
                                    allowed="an object", hint=f"see the input schema of {name} (tools/list)")
        # null for an optional argument is the argument left out, as agents often send it (never for a required one)
        required = set(tool.schema.get("required") or ())
        args = {k: v for k, v in dict(arguments or {}).items() if v is not None or k in required}
        check_arguments(tool, args)
        # next steps as tool calls, not `tao-automl` commands; the CLI's options as the tool's arguments
        result = worded_for_tools(_notes_as_arguments(tool.fn(**args), tool))
        return result, "error" in result  # e.g. a failed preflight: its checks plus the error, an error result
    except TaoAutoMLError as exc:
        return worded_for_tools(_options_as_arguments(error_json(exc), tool)), True
    except Exception as exc:  # never a traceback to the client: an internal error with the exception named
        return worded_for_tools(error_json(exc)), True

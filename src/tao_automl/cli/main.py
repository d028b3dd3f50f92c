"""``tao-automl``: run, status and resume sweeps; inspect a skill bank; preflight.

Exit codes are documented in :mod:`tao_automl.errors` (0 ok, 1 no result, 2 user error, 3 platform unreachable,
4 run folder busy, 130 interrupted). With ``--json`` every failure prints exactly one JSON object on stdout,
``{"error": {"kind", "message", "field", "value", "allowed", "hint", "exit_code"}}``.
"""

from __future__ import annotations

import argparse
import re
import sys

from tao_automl import __version__
from tao_automl.errors import (
    EXIT_INTERRUPTED,
    EXIT_NO_RESULT,
    EXIT_OK,
    EXIT_USER_ERROR,
    NO_RESULT_ALLOWED,
    SweepFailedError,
    SweepInterrupted,
    TaoAutoMLError,
    UserInputError,
    WorkspaceError,
    error_json,
    storage_error,
)

TYPE_CHECKING = False  # start-up imports neither typing nor a command's modules: `--help` stays a few ms
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path
    from typing import Any

    from tao_automl.cli.live import LiveView
    from tao_automl.runner.loop import AutoMLRunner

EXIT_FAILED, EXIT_USAGE = EXIT_NO_RESULT, EXIT_USER_ERROR


def _live(metric: str, args: argparse.Namespace, runner: Any) -> Any:
    """The live view (rec lines + progress line), wired to the runner; the runner's own log line is off."""
    from tao_automl.cli.live import LiveView

    view = LiveView(metric, as_json=_as_json(args))
    runner.log_progress = False
    runner.on_progress = view.progress
    return view


def _finish(summary: dict[str, Any], as_json: bool) -> int:
    """Print the outcome; exit 0 when at least one rec produced a result, else 1 (the reason on stderr)."""
    code = EXIT_OK if summary.get("best") else EXIT_FAILED
    reason = no_result_reason(summary)
    if as_json:
        if code != EXIT_OK:
            summary = {**summary, **error_json(no_result_error(summary))}
        from tao_automl.experiment.summary import public_json

        print(_dumps(public_json(summary), indent=2))
    else:
        from tao_automl.cli.text_report import ranked_table

        print(ranked_table(summary))
        fallbacks = _fallback_line(summary["progress"])
        if fallbacks:  # the sweep's end says it too: its live lines may be long gone
            print(fallbacks)
        stopped = summary.get("stop_reason") or summary["progress"].get("stop_reason")
        if code == EXIT_OK and stopped:  # ended before its budget with a result: why, as status says (no error line)
            print(f"stop reason: {stopped}")
        print(f"run folder: {summary.get('run_dir')}")
        _print_tracking_errors(summary)
        if code != EXIT_OK:
            print(f"error: {reason}", file=sys.stderr)
    return code


def no_result_reason(summary: Mapping[str, Any]) -> str:
    """Why a sweep (a ``run``'s result, or ``status`` of a run that ended) has no result; for a run a plain ``stop``
    interrupted (no stop reason), that it was interrupted, with its counts and best so far."""
    from tao_automl.runner.failures import ended_counts

    progress = summary.get("progress") or {}
    reason = summary.get("stop_reason") or progress.get("stop_reason")
    if reason:
        return str(reason)
    if progress.get("state") == "interrupted":
        from tao_automl.experiment.lines import counts_line, metrics_text

        best = summary.get("best")
        shown = best and metrics_text(str(progress.get("metric")), best.get("metric_value"), best.get("metric_values"))
        so_far = f"; best so far: {shown} (rec {best['rec_id']})" if best else ""
        return f"the sweep was interrupted before its end ({counts_line(progress)}{so_far})"
    return f"the sweep ended without a result ({ended_counts(progress)})"


def no_result_error(summary: Mapping[str, Any]) -> TaoAutoMLError:
    """The error of a sweep that ended without a result (exit 1): ``run --json`` and ``status --watch --json``
    print it with the result. A run interrupted with no stop reason (a plain ``stop``) is said so (kind
    ``interrupted``), with how status says to continue it."""
    progress = summary.get("progress") or {}
    if progress.get("state") == "interrupted" and not (summary.get("stop_reason") or progress.get("stop_reason")):
        from tao_automl.experiment.lines import orchestrator_line

        how = orchestrator_line(summary.get("orchestrator") or {}, summary.get("run_dir"), progress)
        return TaoAutoMLError(no_result_reason(summary), kind="interrupted", exit_code=EXIT_NO_RESULT,
                              field="run_dir", value=summary.get("run_dir"),
                              hint=how.removeprefix("orchestrator: not running (").removesuffix(")"))
    return SweepFailedError(no_result_reason(summary), field="best", value=None,
                            allowed=NO_RESULT_ALLOWED, hint=no_result_hint(summary))


def _print_tracking_errors(result: Mapping[str, Any]) -> None:
    """One line per tracker (W&B, MLflow) whose calls failed in the run (``run``'s end and ``status``)."""
    from tao_automl.experiment.lines import tracking_lines

    for line in tracking_lines(result):
        print(line)


def no_result_hint(summary: Mapping[str, Any]) -> str:
    """The next step after a sweep without a result, naming its folder and a failed rec's log."""
    from tao_automl.experiment.holder import copy_of, resume_command, resume_facts
    from tao_automl.experiment.lines import budget_spent
    from tao_automl.runner.failures import BRAIN_DONE, NO_BUDGET_LEFT
    from tao_automl.util.shell import sh

    run_dir = summary.get("run_dir")
    progress = summary.get("progress") or {}
    meta = _meta_of(run_dir)
    facts = resume_facts(meta)  # what status, stop, watch and the MCP tools decide a resume by
    # a copy is continued by its original, as status says
    resume = resume_command(run_dir, copy_of(run_dir, meta) if run_dir else None)
    # every rec of the budget ended, or the brain proposed no more before it: a resume launches nothing
    done = BRAIN_DONE if facts["ended_early"] else None
    spent = done or (NO_BUDGET_LEFT if budget_spent(progress) else None)
    if not progress.get("failed"):  # nothing failed: the ended recs were cancelled (or stopped), or none ended
        in_flight = (progress.get("running") or 0) + (progress.get("uncollected") or 0)
        said = _without_a_result(progress, in_flight)
        if spent:
            return f"{said}; {spent}"
        return f"{said}; `{resume}` {'collects them and launches' if in_flight else 'launches'} the rest"
    failed = [r["rec_id"] for r in summary.get("recommendations") or () if r.get("status") == "failure"]
    where = f"`tao-automl logs {sh(run_dir)} {failed[0]}`" if failed else f"`tao-automl logs {sh(run_dir)} REC`"
    read = f"read the failed recs' messages in `tao-automl status {sh(run_dir)} --recs all` and a log with {where}"
    if spent:
        return f"{read}; fix the cause, then {spent}"
    if facts["new_run_needed"]:  # the stop reason's next step, as status and stop say
        return f"{read}; the cause is one a resume would meet again: start a new run with what the stop reason says"
    return (f"{read}; fix the cause, then `{resume}` if it lay outside the run's settings "
            "(data, environment, code), or start a new run if it lay in the settings or the spec (resume keeps them)")


def _without_a_result(progress: Mapping[str, Any], in_flight: int) -> str:
    """How the recs of a run in which none failed are without a result: cancelled (or stopped) before one, or
    ``in_flight`` as last recorded (an orchestrator killed while they ran), or none created."""
    ended = " and ".join(f"{progress[key]} {key}" for key in ("cancelled", "stopped") if progress.get(key))
    parts = [f"its ended recs have no result ({ended})"] if ended else []
    if in_flight:
        parts.append(f"{in_flight} rec(s) in flight as last recorded (their jobs may have ended since)")
    return "; ".join(parts) or "no rec has ended"


def _meta_of(run_dir: str | None) -> dict[str, Any]:
    """The stored meta of the run at ``run_dir`` (empty when there is none or it cannot be read)."""
    from tao_automl.errors import TaoAutoMLError
    from tao_automl.experiment.store import read_meta

    if not run_dir:
        return {}
    try:
        return dict(read_meta(run_dir))
    except (OSError, TaoAutoMLError):
        return {}


def _run_live(runner: AutoMLRunner, view: LiveView, args: argparse.Namespace, run_dir: Path | None,
              **kwargs: Any) -> int:
    """``runner.run(**kwargs)`` behind the live view; Ctrl-C becomes :class:`SweepInterrupted` naming the run's
    folder (``run_dir`` until the runner knows it)."""
    try:
        summary = runner.run(**kwargs, on_recommendation=view.started, on_result=view.ended)
    except KeyboardInterrupt as exc:
        view.stop()
        raise SweepInterrupted(runner.run_dir or run_dir) from exc
    except BaseException:
        view.stop()
        raise
    view.close(summary)
    return _finish(summary, _as_json(args))


def cmd_run(args: argparse.Namespace) -> int:
    from tao_automl.cli.run_config import load_run_config
    from tao_automl.platforms.registry import make_sdk
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.runner.plan import load_settings, metric_name

    _refuse_unused(args)
    config = load_run_config(args.config)
    if getattr(args, "dry_run", False):
        return _dry_run(config, args)
    runner = AutoMLRunner(make_sdk(config.platform, config.platform_options), config.skill_dir, config.action)
    settings = load_settings(config.automl_settings)
    if getattr(args, "detach", False) or settings.long_running_enabled:
        from tao_automl.cli.agent_commands import run_detached

        # runner.start builds the RunPlan and runs the preflight (the LLM endpoint's too) before anything is
        # created: every user error is refused before the detached process starts
        return run_detached(runner, config, args)
    # attached: runner.run builds the same RunPlan and runs the same preflight before anything is created
    view = _live(metric_name(settings, runner.skill), args, runner)
    return _run_live(runner, view, args, None, **config.run_kwargs())


def _dry_run(config: Any, args: argparse.Namespace) -> int:
    from tao_automl.cli.dry_run import dry_run_with_notes

    result = dry_run_with_notes(config, DRY_RUN_RECS if args.recs is None else args.recs)
    recs = result.recs
    if _as_json(args):  # the notes logged on stderr are in the JSON too (an agent reads stdout)
        print(_dumps(result.to_json(), indent=2))
    else:
        print("\n\n".join(r.text() for r in recs))
        print(f"\ndry run: {len(recs)} rec(s) rendered; nothing was launched and no workspace was created")
    return EXIT_OK


def _dumps(value: Any, indent: int | None = None) -> str:
    import json

    return json.dumps(value, indent=indent, default=str)


def _as_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False)) or getattr(args, "format", "text") == "json"


def cmd_resume(args: argparse.Namespace) -> int:
    from tao_automl.experiment.store import read_meta
    from tao_automl.experiment.workspace import check_complete, existing_run_dir
    from tao_automl.platforms.registry import rebuild_sdk
    from tao_automl.runner.orchestrator import runner_for_run

    if getattr(args, "detach", False):
        from tao_automl.cli.agent_commands import cmd_resume_detached

        return cmd_resume_detached(args)
    run_dir = existing_run_dir(args.run_dir)
    meta = read_meta(run_dir)
    check_complete(run_dir, meta)
    if meta.get("mode") != "runner":
        ask_tell = meta.get("mode") == "ask_tell"
        raise WorkspaceError(f"{str(run_dir)!r} was not started by the runner (mode {meta.get('mode')!r})",
                             field="run_dir", value=str(run_dir), allowed="a run folder made by `tao-automl run`",
                             hint="an ask/tell run continues from Python: tao_automl.AutoML(..., resume=True)"
                             if ask_tell else "pass a folder made by `tao-automl run`")
    stored = meta["run_args"]
    try:
        runner = runner_for_run(rebuild_sdk(run_dir, meta.get("platform")), run_dir, stored)
    except TaoAutoMLError:  # its skill or platform cannot be rebuilt: needed only when a resume launches something
        from tao_automl.cli.agent_commands import answer_nothing_to_resume
        from tao_automl.runner.close_spent import close_without_runner
        from tao_automl.runner.detach import nothing_to_resume

        note = nothing_to_resume(run_dir) or close_without_runner(run_dir)  # closed, or left open with no work
        if note is None:
            raise
        return answer_nothing_to_resume(args, note)
    view = _live(meta.get("metric", "metric"), args, runner)
    return _run_live(runner, view, args, run_dir, workspace_path=run_dir, resume=True)


def cmd_status(args: argparse.Namespace) -> int:
    from tao_automl.status import query_status

    _refuse_unused(args)
    if args.watch:
        from tao_automl.cli.watch import watch

        interval = WATCH_INTERVAL_S if args.interval is None else args.interval
        if not 0 < interval <= WATCH_INTERVAL_MAX_S:  # nan and inf too: sleeping inf was an OverflowError
            raise UsageError(f"--interval: {interval} is not allowed; give seconds, 0 < S <= {WATCH_INTERVAL_MAX_S:g}",
                             field="--interval", value=interval,
                             allowed=f"a number of seconds, 0 < S <= {WATCH_INTERVAL_MAX_S:g}",
                             hint="see `tao-automl status --help`")
        return watch(args.run_dir, interval, _as_json(args))
    from tao_automl.status import status_error_allowed, status_error_hint

    status = query_status(args.run_dir, recs=args.recs or "top", top=args.top,
                          offset=args.offset or 0, limit=args.limit)
    if "error" in status:
        raise WorkspaceError(str(status["error"]), field="run_dir", value=args.run_dir,
                             allowed=status_error_allowed(str(status["error"])),
                             hint=status_error_hint(str(status["error"])))
    if _as_json(args):
        print(_dumps(status, indent=2))
    else:
        from tao_automl.cli.text_report import ranked_table

        print(ranked_table(status, by_rank=args.recs != "all"))  # --recs all: id order, as in JSON
        view = status["rec_view"]
        if view["shown"] < view["total"]:
            which = (f"the {view['top']} best and the {view['top']} newest without a rank" if view["view"] == "top"
                     else f"from #{view['offset'] + 1}")
            print(f"showing {view['shown']} of {view['total']} recs ({which}); "
                  "every rec: --recs all [--offset N --limit N]")
        jobs = [str(a["job_id"]) for a in status["active_jobs"] if a["job_id"] and not a.get("job_ended")]
        print(f"state: {status['progress'].get('state')}; active jobs: {', '.join(jobs) or 'none'}")
        reason = status["progress"].get("stop_reason")
        if reason and not (status.get("orchestrator") or {}).get("alive"):  # why it stopped (JSON alone said it)
            print(f"stop reason: {reason}")
        for waiting in (a for a in status["active_jobs"] if a.get("pending_reason")):
            print(f"rec {waiting['rec_id']}: job {waiting['job_id']} waits in the platform's queue: "
                  f"{waiting['pending_reason']}")
        for waiting in status.get("waiting_for_room") or []:
            print(f"rec {waiting['rec_id']}: no job yet: {waiting['reason']}")
        from tao_automl.experiment.lines import continue_with

        collect = continue_with(status.get("orchestrator") or {}, status.get("run_dir"))
        ended = [str(a["job_id"]) for a in status["active_jobs"] if a.get("job_ended")]
        if ended:
            print(f"ended, result not collected yet ({len(ended)}): {', '.join(ended)}; {collect} collects it")
        stale = [a for a in status["active_jobs"] if a.get("last_seen_at") and not a.get("job_ended")]
        if stale:
            from tao_automl.experiment.lines import local_time

            when = local_time(stale[0]["last_seen_at"])
            # a killed orchestrator records no end: the time is its last recorded activity, not when it died
            print(f"as last recorded by the orchestrator ({when}), which no longer runs: {len(stale)} rec(s) in "
                  "flight; their jobs "
                  f"may have ended since ({collect} collects them)")
        if "orchestrator" in status:
            from tao_automl.experiment.lines import orchestrator_line

            print(orchestrator_line(status["orchestrator"], status.get("run_dir"), status["progress"]))
        _print_llm(status)
        _print_tracking_errors(status)
        print(_run_folder_line(args.run_dir, str(status.get("run_dir"))))
    return EXIT_OK


def _run_folder_line(given: str, run_dir: str) -> str:
    """The run shown; when ``given`` is a workspace, that it is its newest run (the text named no run at all)."""
    import os

    from tao_automl.experiment.run_folders import workspace_runs  # loaded by query_status already
    from tao_automl.util.shell import sh

    if os.path.abspath(os.path.expanduser(given)) == run_dir:
        return f"run folder: {run_dir}"
    runs = workspace_runs(os.path.dirname(run_dir))
    return (f"run folder: {run_dir} (the newest of {len(runs)} run(s) in {given}; `tao-automl runs {sh(given)}` lists "
            "them)")


#: ``run --dry-run``'s recs and ``status --watch``'s refresh when not given (the options default to None, so that
#: an option given where nothing would use it is refused instead of silently ignored).
DRY_RUN_RECS = 3
WATCH_INTERVAL_S = 2.0
#: The longest ``status --watch --interval`` (a day): what ``time.sleep`` takes, and far past any useful refresh.
WATCH_INTERVAL_MAX_S = 86400.0


def _refuse_unused(args: argparse.Namespace) -> None:
    """A usage error (exit 2) for an option given where it would be ignored, naming what it needs."""
    def refuse(option: str, value: Any, needs: str, allowed: str) -> None:
        raise UsageError(f"{option}: {needs}", field=option, value=value, allowed=allowed,
                         hint=f"see `tao-automl {args.command} --help`")

    if args.command == "run":
        if args.recs is not None and not args.dry_run:
            refuse("--recs", args.recs, "only sets how many recs --dry-run shows; add --dry-run (without it, run "
                   "launches the whole sweep: its size is automl_settings.automl_max_recommendations)",
                   "--recs N together with --dry-run")
        if args.dry_run and args.detach:
            refuse("--detach", True, "cannot be combined with --dry-run, which launches nothing (so nothing would "
                   "run in the background); drop --dry-run to start the sweep detached, or --detach to preview it",
                   "--detach or --dry-run, not both")
    elif args.command == "status" and args.watch:
        chosen = (("--recs", "all" if args.recs == "all" else None), ("--top", args.top), ("--offset", args.offset),
                  ("--limit", args.limit))
        for option, value in chosen:
            if value is not None:
                refuse(option, value, "--watch shows the best recs as they come in; choosing recs (--recs all, "
                       "--top, --offset, --limit) needs a plain status, without --watch",
                       "--watch without --recs all, --top, --offset or --limit")
    elif args.command == "status":
        if args.interval is not None:
            refuse("--interval", args.interval, "sets how often --watch refreshes; add --watch",
                   "--interval S together with --watch")
        if args.recs == "all" and args.top is not None:
            refuse("--top", args.top, "sets how many best recs --recs top shows; --recs all lists every rec "
                   "(page it with --offset/--limit)", "--top N with --recs top (the default)")
        for option, value in (("--offset", args.offset), ("--limit", args.limit)):
            if value is not None and args.recs != "all":
                refuse(option, value, "pages the list of every rec: it needs --recs all",
                       f"{option} N together with --recs all")
        for option, value in (("--top", args.top), ("--offset", args.offset), ("--limit", args.limit)):
            if value is not None and value < 0:  # named as given here, not as query_status's argument
                raise UsageError(f"{option}: {value} is not a whole number >= 0", field=option, value=value,
                                 allowed="an integer >= 0", hint=f"see `tao-automl {args.command} --help`")


#: The path arguments of the commands, and what each takes (an empty one is refused, never read as the cwd); plan's
#: sentence and --model too (an empty --model read the cwd as a model folder, an empty sentence asked the LLM).
_PATH_ARGUMENTS = {"run_dir": ("run_dir", "a run folder path (or a workspace, where the command takes one)"),
                   "workspace": ("workspace", "a workspace folder path"),
                   "config": ("config", "a run config YAML file path"),
                   "text": ("text", "a sentence saying what to tune"),
                   "model": ("--model", "builtin:NAME, a model folder, or a model of the skill bank")}


def _refuse_empty_paths(args: argparse.Namespace) -> None:
    """An empty path argument (`tao-automl logs "$RUN" 1` with RUN unset) is a usage error: ``Path("")`` is the
    current folder, so logs, export, report and runs read whatever run it holds, and status named workspace_path."""
    for name, (field, allowed) in _PATH_ARGUMENTS.items():
        value = getattr(args, name, None)
        if isinstance(value, str) and not value.strip():
            raise UsageError(f"{field}: {value!r} is empty; allowed: {allowed}", field=field, value=value,
                             allowed=allowed, hint=f"see `tao-automl {args.command} --help`")


def _fallback_line(progress: Mapping[str, Any]) -> str | None:
    """LLM runs: how many recs (or hybrid plans) a fallback made, when any did (never silent)."""
    fallbacks = progress.get("llm_fallbacks", 0)
    if not fallbacks:
        return None
    return f"LLM fallbacks: {fallbacks} rec(s) or plans not made by the LLM (see llm_fallback events)"


def _print_llm(status: dict[str, Any]) -> None:
    """LLM runs: the fallback count (never silent) and the reason the LLM gave for each rec."""
    fallbacks = _fallback_line(status["progress"])
    if fallbacks:
        print(fallbacks)
    for rec in status["recommendations"]:
        if rec.get("llm_reasoning"):
            print(f"rec {rec['rec_id']} LLM reasoning: {rec['llm_reasoning']}")


def _bank_handler(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from tao_automl.cli import bank_commands as bank_tools

        result: int = getattr(bank_tools, name)(args)
        return result

    return handler


def _agent_handler(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from tao_automl.cli import agent_commands

        result: int = getattr(agent_commands, name)(args)
        return result

    return handler


def _results_handler(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from tao_automl.cli import results_commands

        result: int = getattr(results_commands, name)(args)
        return result

    return handler


def _report_handler(args: argparse.Namespace) -> int:
    from tao_automl.cli.report_command import cmd_report

    return cmd_report(args)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
    "run": (cmd_run, "start a sweep from a YAML config (--dry-run: show the first recs, launch nothing)"),
    "resume": (cmd_resume, "continue a run from its folder (re-attaches to running jobs)"),
    "status": (cmd_status, "show a run's progress from its folder (safe while it runs)"),
    "mcp": (_agent_handler("cmd_mcp"), "serve the agent tools over the Model Context Protocol on stdio (extra mcp)"),
    "plan": (_agent_handler("cmd_plan"), "ask the configured LLM for a validated run config from a sentence"),
    "skill": (_agent_handler("cmd_skill"), "print the path of the agent skill file SKILL.md (--text: its content)"),
    "stop": (_agent_handler("cmd_stop"), "end a run's orchestrator gracefully (jobs run on unless --cancel-jobs)"),
    "export": (_results_handler("cmd_export"),
               "write the best rec's spec (--best), a CSV of every rec (--csv) or an Optuna journal (--optuna)"),
    "runs": (_results_handler("cmd_runs"), "list the runs under a workspace: id, start, algorithm, progress, best"),
    "logs": (_results_handler("cmd_logs"),
             "print a rec's job log (from the platform, else the log saved in the run folder)"),
    "report": (_report_handler, "write a self-contained HTML report of a run (--format png: the convergence plot)"),
    "preflight": (_bank_handler("cmd_preflight"), "check a run config without starting anything"),
    "models": (_bank_handler("cmd_models"), "list a bank's models that can (or cannot yet) run AutoML"),
    "platforms": (_bank_handler("cmd_platforms"), "show platform skills and whether their credentials are set"),
    "versions": (_bank_handler("cmd_versions"), "print a pinned image or wheel from the bank's versions.yaml"),
}


def _add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "report":  # its own --format (html/png/json)
        from tao_automl.cli.report_command import add_arguments

        add_arguments(p)
        return
    if name in ("export", "runs", "logs"):
        from tao_automl.cli import results_commands

        results_commands.add_arguments(name, p)
    if name in ("run", "preflight"):
        p.add_argument("config", help="run config YAML (an example: section 2 of `tao-automl skill --text`)")
    elif name in ("resume", "stop"):  # a workspace is refused, naming its runs
        p.add_argument("run_dir", help="run folder (run_YYYYmmdd_HHMMSS_xxxxxx)")
    elif name == "status":
        p.add_argument("run_dir", help="run folder (run_YYYYmmdd_HHMMSS_xxxxxx), or a workspace: its newest run")
    elif name == "versions":
        p.add_argument("key", nargs="?", default=None,
                       help="dotted key, e.g. images.tao_toolkit.pyt (none: every pinned key and its value)")
    if name == "run":
        p.add_argument("--dry-run", action="store_true", help="render the first recs and launch nothing")
        p.add_argument("--recs", type=int, default=None, help="how many recs --dry-run shows (default 3; needs "
                       "--dry-run)")
    if name == "status":
        p.add_argument("--watch", action="store_true", help="refresh until the run ends (read-only; Ctrl-C stops)")
        p.add_argument("--interval", type=float, default=None,
                       help="seconds between --watch refreshes, up to 86400 (default 2; needs --watch)")
        p.add_argument("--recs", choices=("top", "all"), default=None,
                       help="top (default): the best recs and the newest recs without a rank (failed, running); all: "
                       "every rec in id order (page: --offset/--limit)")
        p.add_argument("--top", type=int, default=None,
                       help="how many best recs, and as many of the newest recs without a rank, --recs top shows "
                       "(default 10)")
        p.add_argument("--offset", type=int, default=None, help="--recs all: skip this many recs (default 0)")
        p.add_argument("--limit", type=int, default=None, help="--recs all: show at most this many recs")
    if name in ("run", "resume"):
        p.add_argument("--detach", action="store_true",
                       help="validate, start the orchestrator in the background and return its run folder")
    if name == "plan":
        p.add_argument("text", help="what to tune, in a sentence")
        p.add_argument("--model", required=True, help="builtin:NAME, a model folder, or a model of the skill bank")
        p.add_argument("-o", "--output", default=None, help="write the config YAML here (default: print it)")
        p.add_argument("--force", action="store_true", help="overwrite the -o file")
        p.add_argument("--metric", default=None, help="the metric to optimise (default: the LLM chooses)")
        p.add_argument("--llm-endpoint", default=None, help="OpenAI-compatible URL (default $AUTOML_LLM_ENDPOINT)")
        p.add_argument("--llm-model", default=None, help="model name the endpoint serves (default $AUTOML_LLM_MODEL)")
        p.add_argument("--llm-timeout", type=float, default=600.0, help="seconds per LLM answer (default 600)")
        p.add_argument("--platform", default="local", help="platform of the config (default local)")
        p.add_argument("--workspace", default="runs", help="workspace_path of the config (default runs)")
        p.add_argument("--train-dataset", default=None, help="train_dataset_uri of the config")
        p.add_argument("--eval-dataset", default=None, help="eval_dataset_uri of the config")
        p.add_argument("--dataset-key", action="append", default=[], metavar="KEY=PATH",
                       help="dataset_keys entry of the config: a spec key set to PATH verbatim (repeatable)")
        p.add_argument("--gpus", type=int, default=None, help="platform_kwargs.gpu_count of the config")
        p.add_argument("--skill-bank", default=None, help="skill bank folder (default $TAO_SKILL_BANK_PATH)")
    if name == "skill":
        p.add_argument("--text", action="store_true", help="print the file's content instead of its path")
    if name == "stop":
        p.add_argument("--cancel-jobs", action="store_true", help="also cancel the jobs still in flight")
        p.add_argument("--timeout", type=float, default=60.0,
                       help="seconds to wait for the orchestrator, up to 86400 (default 60)")
    if name == "models":
        p.add_argument("--scope", choices=("automl", "all"), default="automl",
                       help="automl: runnable and blocked AutoML models; all: every model with its flag")
    if name == "platforms":
        p.add_argument("--platform", default=None, help="show only this platform: a run config's platform (local, "
                       "slurm, docker...; slurm matches the bank's tao-run-on-slurm) or a platform skill's name")
    if name in ("models", "platforms", "versions"):
        p.add_argument("--skill-bank", default=None, help="skill bank folder (default $TAO_SKILL_BANK_PATH)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    p.add_argument("--json", action="store_true", help="same as --format json")


class UsageError(UserInputError):
    """The command line itself is wrong (unknown command or option, missing argument)."""

    kind = "usage"
    default_hint = "see `tao-automl --help`; every command takes --help"


def _terminal_columns() -> int:
    """The help text's width as :func:`shutil.get_terminal_size` finds it (``COLUMNS``, then the terminal, then
    80), without importing :mod:`shutil` and its compression modules: every parser builds a formatter."""
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's own formatter, sized by :func:`_terminal_columns` (argparse's default imports shutil)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of printing and exiting."""

    #: The command line being parsed, when :func:`build_parser` was given it (for the errors that need it).
    argv: list[str] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        """argparse's message as a :class:`UsageError` naming the option at fault (``field``), what was given
        (``value``) and, where argparse knows it, what is allowed (its choices or type); ``argv`` when it names none."""
        field, value, allowed = _argparse_fault(self, message)
        text = f"{self.prog}: {message}"
        misplaced = _misplaced_options(self, message) or _options_before_command(self, message)
        if misplaced:
            command = next(c for a in self._actions if isinstance(a, argparse._SubParsersAction)
                           for c, p in a.choices.items() if len(p._actions) > 1)
            raise UsageError(f"{self.prog}: {' '.join(misplaced)} is an option of `{command}`: put it after "
                             f"the command name", field=misplaced[0], value=" ".join(misplaced),
                             allowed=f"after `{command}`", hint=f"`{self.prog} {command} {' '.join(misplaced)} ...`")
        if field == "command":  # argparse's choices hold only the command argv names; none named: required
            allowed = list(COMMANDS)
            if self.argv is not None and value is not None:
                text = f"{self.prog}: argument command: invalid choice: {value!r}"
        if allowed is not None and "choose from" not in text:  # argparse lists choices itself
            text += f"; allowed: {_allowed_words(allowed)}"
        raise UsageError(text, field=field, value=value, allowed=allowed,
                         hint=f"see `{self.prog} --help` for the accepted arguments")


#: argparse's messages, matched only when one is reported (compiled then: start-up stays short).
_ARGUMENT = r"argument (?P<name>[^:]+): (?P<problem>.*)$"
_GIVEN = r"(?:invalid [\w ]+ value|invalid choice|ignored explicit argument):? (?P<value>'.*?'|\S+)"
_REQUIRED = r"the following arguments are required: (?P<names>.*)$"
_UNRECOGNIZED = r"unrecognized arguments: (?P<args>.*)$"
_TYPES: dict[Any, str] = {int: "an integer", float: "a number"}


def _allowed_words(allowed: Any) -> str:
    return ", ".join(map(str, allowed)) if isinstance(allowed, list) else str(allowed)


def _action_allowed(action: argparse.Action) -> Any:
    """What an argument takes: its choices, else its type's words, else a flag's or a value's."""
    if action.choices is not None:
        return list(action.choices)
    if action.nargs == 0:
        return "no value (a flag)"
    return _TYPES.get(action.type, "a value")


def _find_action(parser: argparse.ArgumentParser, name: str) -> argparse.Action | None:
    names = set(name.split("/"))
    return next((a for a in parser._actions if names & set(a.option_strings) or (
        not a.option_strings and name in (a.dest, a.metavar))), None)


def _argparse_fault(parser: argparse.ArgumentParser, message: str) -> tuple[str, Any, Any]:
    """``(field, value, allowed)`` of an argparse error message: the option (its longest spelling) or positional it
    names, the value given and what the argument takes; ``("argv", None, None)`` when it names no argument."""
    import ast

    found = re.match(_ARGUMENT, message)
    if found:
        action = _find_action(parser, found["name"])
        field = max(action.option_strings, key=len) if action is not None and action.option_strings \
            else found["name"].split("/")[-1]
        given = re.search(_GIVEN, found["problem"])
        value: Any = None
        if given:
            try:
                value = ast.literal_eval(given["value"])
            except (ValueError, SyntaxError):
                value = given["value"]
        return field, value, _action_allowed(action) if action is not None else None
    required = re.match(_REQUIRED, message)
    if required:
        name = required["names"].split(", ")[0]
        action = _find_action(parser, name)
        if action is None:
            return name, None, "a value"
        allowed = _action_allowed(action)  # "a value" says nothing of a positional: its help says what it is
        return name, None, action.help if allowed == "a value" and action.help else allowed
    unrecognized = re.match(_UNRECOGNIZED, message)
    if unrecognized:
        args = unrecognized["args"].split()
        options = sorted({o for p in _with_command_parser(parser) for a in p._actions for o in a.option_strings
                          if o.startswith("--")})
        return args[0], " ".join(args), options
    return "argv", None, None


def _command_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser | None:
    """The parser of the command ``argv`` named (``build_parser(argv)`` gives arguments to that one only, the others
    hold just ``-h``); None when no single command has arguments."""
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    chosen = [p for c in commands for p in c.choices.values() if len(p._actions) > 1]
    return chosen[0] if len(chosen) == 1 else None


def _with_command_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and, where ``argv`` named one, its command's parser: whose options an ``argv`` can use."""
    command = _command_parser(parser)
    return [parser] if command is None else [parser, command]


def _misplaced_options(parser: argparse.ArgumentParser, message: str) -> list[str]:
    """Options argparse did not recognise because they stand before the command that takes them
    (``tao-automl --json status RUN``)."""
    unrecognized = re.match(_UNRECOGNIZED, message)
    if not unrecognized:
        return []
    command = _command_parser(parser)
    if command is None:
        return []
    own = {o for a in parser._actions for o in a.option_strings}
    theirs = {o for a in command._actions for o in a.option_strings}
    return [a for a in unrecognized["args"].split()
            if a.split("=", 1)[0] in theirs and a.split("=", 1)[0] not in own]


def _options_before_command(parser: _Parser, message: str) -> list[str]:
    """The command's options, each with its value, that stand before the command name (``tao-automl --top 3 status
    RUN``): argparse took the value for the command (``argument command: invalid choice: '3'``)."""
    found = re.match(_ARGUMENT, message)
    command = _command_parser(parser)
    if not found or found["name"] != "command" or command is None or parser.argv is None:
        return []
    own = {o for a in parser._actions for o in a.option_strings}
    takes_value = {o: a.nargs != 0 for a in command._actions for o in a.option_strings if o not in own}
    misplaced: list[str] = []
    args = iter(parser.argv)
    for arg in args:
        if arg in COMMANDS:
            break
        name, eq, _ = arg.partition("=")
        if name in takes_value:
            misplaced.append(arg)
            if takes_value[name] and not eq:
                given = next(args, None)
                if given is None or given in COMMANDS:
                    break
                misplaced.append(given)
    return misplaced


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given ``argv``, only what it uses: the command it names alone, or for the
    top-level help every command's name and help line without their arguments (start-up stays short)."""
    parser = _Parser(prog="tao-automl", description="Hyperparameter sweeps for training jobs. "
                     "AI agents: read the skill file first (`tao-automl skill --text`).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    parser.argv = None if argv is None else list(argv)
    named = _named_command(argv) if argv is not None else None
    for name, (_, help_text) in COMMANDS.items():
        if named is not None and name != named:
            continue
        command = sub.add_parser(name, help=help_text)
        if argv is None or named is not None:
            _add_arguments(name, command)
    return parser


def _wants_json(parser: argparse.ArgumentParser, argv: Sequence[str]) -> bool:
    """Whether ``argv`` asks for JSON output (``--json``, ``--format json``), as the command's parser reads its
    options: an abbreviation it accepts (``--js``, ``--form=json``) counts too, so a usage error is the JSON error
    object that ``--json`` promises whatever spelling was given."""
    options = {"--json", "--format"} | {  # those two also before or without a command (`--json nosuchcommand`)
        o for p in _with_command_parser(parser) for a in p._actions for o in a.option_strings if o.startswith("--")}
    for at, arg in enumerate(argv):
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if not name.startswith("--"):
            continue
        found = [name] if name in options else [o for o in options if o.startswith(name)]
        if len(found) != 1:  # unknown, or an ambiguous abbreviation argparse refuses
            continue
        if found[0] == "--json":  # `--json=yes` too: argparse refuses it, and the refusal is asked for as JSON
            return True
        if found[0] == "--format" and (value if eq else next(iter(argv[at + 1:at + 2]), None)) == "json":
            return True
    return False


def _named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs; None when it runs none or asks for the top-level help first."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if arg in COMMANDS:
            return arg
    return None


def _stop_requested(signum: int, frame: Any) -> None:
    import signal

    from tao_automl.util.interrupts import stop_requested

    for sig in (signal.SIGTERM, signal.SIGHUP):  # a second stop request (or hangup) while closing changes nothing
        if signal.getsignal(sig) is _stop_requested:
            signal.signal(sig, signal.SIG_IGN)
    stop_requested()  # raised again by the sweep's loop if a library drops it


def _ctrl_c(signum: int, frame: Any) -> None:
    """Ctrl-C during a run: Python's own ``KeyboardInterrupt``, recorded as a stop request as well, which the sweep's
    loop raises again if a library drops it; a second Ctrl-C interrupts as the first did."""
    from tao_automl.util.interrupts import stop_requested

    stop_requested()


#: Set by :func:`entry`: the process ends with its command. Once a run or resume has ended (its state stored, its last
#: words written; an interrupted one's report is written with Ctrl-C, stop and SIGHUP ignored) Ctrl-C is then ignored
#: for the process's last moments, so it exits with the command's code (130 when it was interrupted) instead of
#: reaching Python's default handler, whose KeyboardInterrupt, or the default action Python puts back as it shuts
#: down, kills it by SIGINT (exit -2).
_PROGRAM = {"ends_with_command": False}


def _ignoring_stops() -> Callable[[], None]:
    """Ignore Ctrl-C, ``stop`` (SIGTERM) and SIGHUP while an interrupted run's report is written (its state is
    stored: a second Ctrl-C must not cut its JSON in half); answers the call that gives the handlers back. Outside
    the main thread, or for a signal the process ignores already, nothing changes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in before:
        signal.signal(sig, signal.SIG_IGN)

    def give_back() -> None:
        for sig, handler in before.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    return give_back


def _handled_ending_on_stop_signals(args: argparse.Namespace, as_json: bool) -> int:
    """A foreground run or resume, :func:`_handled`: while it runs ``tao-automl stop`` (SIGTERM) and a closed
    terminal (SIGHUP: an ssh session dropped) end it as Ctrl-C does, and all three are recorded stop requests that
    a library cannot drop (:func:`~tao_automl.util.interrupts.stop_requested`); a SIGHUP the process was started
    ignoring (``nohup``), or a SIGINT ignored or handled by the calling program, is left as it is. The handlers it
    replaced are back when it ends, so a program that calls :func:`main` keeps its own; outside the main thread
    (where handlers cannot be set) it runs as it is. (A function, not a context manager: `status` never imports
    contextlib.)"""
    import signal
    import threading

    # loaded whole before the handlers that import from it go in: a Ctrl-C landing while the run's own code first
    # loads it would meet it half loaded (ImportError, exit 1)
    import tao_automl.util.interrupts  # noqa: F401

    replaced: dict[int, Any] = {}
    ours = threading.current_thread() is threading.main_thread()  # stop requests are then its own
    if ours:
        # SIGTERM whatever its handler; SIGHUP and SIGINT only where Python's defaults hold them
        for sig, handler, default in ((signal.SIGTERM, _stop_requested, None),
                                      (signal.SIGHUP, _stop_requested, signal.SIG_DFL),
                                      (signal.SIGINT, _ctrl_c, signal.default_int_handler)):
            before = signal.getsignal(sig)
            if default is None or before is default:
                replaced[sig] = before
                signal.signal(sig, handler)
    code: int | None = None
    try:
        code = _handled(args, as_json)
        return code
    finally:
        from tao_automl.util.interrupts import stop_delivered

        # held while the handlers are given back, then the requests ended: a signal landing meanwhile reaches the
        # caller's handler once they are back, never records a request left pending
        held = signal.pthread_sigmask(signal.SIG_BLOCK, set(replaced)) if replaced else None
        try:
            for number, before in replaced.items():  # None: a handler not set from Python, which it cannot set again
                if number == signal.SIGINT and code is not None and _PROGRAM["ends_with_command"]:
                    before = signal.SIG_IGN  # the program's own end: its state is stored, its words written
                signal.signal(number, before if before is not None else signal.SIG_DFL)
            if ours:  # a stop request made during the command (before its sweep began too) ends with it; one that
                stop_delivered()  # another command made (a run in the main thread, this one elsewhere) is not its own
        finally:
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)


class _ReaderMayLeave:
    """stdout or stderr of a command: once its reader has left (``tao-automl status RUN | head -3`` closed the pipe),
    what is written goes nowhere instead of raising ``BrokenPipeError``, so the command ends quietly, with no
    traceback or error line, and exits with the code it would have had (a sweep is not cut short by it);
    ``gone`` says so (``status --watch`` stops watching then)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            if not _reader_left(exc):
                raise
            self._left()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            if not _reader_left(exc):
                raise
            self._left()

    def _left(self) -> None:
        import contextlib
        import os

        self.gone = True
        # what is still buffered, and the exit's own flush, go to the null device; a stream with no file descriptor
        # (a test's captured stream) has simply dropped the write
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _reader_left(exc: OSError) -> bool:
    """Whether a write failed because its reader is gone: a closed pipe, or a terminal that hung up (EIO)."""
    import errno

    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EIO


def _status_of(run_dir: Any) -> dict[str, Any] | None:
    """The run's ``status --json`` object (what an interrupted sweep had produced), or None when unreadable."""
    from tao_automl.status import query_status

    try:
        status = query_status(run_dir)
    except Exception:
        return None
    return None if "error" in status else status


def _report_error(exc: TaoAutoMLError, as_json: bool) -> int:
    """One ``error:`` line on stderr and, with ``--json``, one JSON object on stdout; the error's exit code."""
    if as_json:
        print(_dumps(error_json(exc)), flush=True)
    print(f"error: {exc}", file=sys.stderr)
    run_dir = getattr(exc, "run_dir", None)  # a sweep that had started: its folder, to look at or resume
    if run_dir is not None:
        print(f"run folder: {run_dir}", file=sys.stderr)
    return exc.exit_code


#: Read-only commands whose modules never log: they skip the logging set-up (and its import) unless ``-v``.
QUIET_COMMANDS = ("status",)


def _configure_logging(verbose: bool) -> None:
    """After parsing (``--help`` and usage errors need no logging): WARNING, or DEBUG with ``-v``, redacted."""
    import logging

    from tao_automl.util.secrets import RedactingFilter

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for log_handler in logging.getLogger().handlers:  # `-v` never prints a credential from the environment
        log_handler.addFilter(RedactingFilter())


#: The global flag that may also come after the command (`status RUN --json -v`): hints say "rerun with -v".
_VERBOSE = ("-v", "--verbose")


def _verbose(arg: str) -> bool:
    """``-v``, ``--verbose`` or an abbreviation argparse would take for it before the command (``--verb``: shorter
    ones are shared with ``--version``)."""
    return arg in _VERBOSE or (arg.startswith("--verb") and "--verbose".startswith(arg))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its output streams are :class:`_ReaderMayLeave` while it runs (every command's output)."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderMayLeave(sys.stdout), _ReaderMayLeave(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout.flush()  # what is still buffered, while a reader that left is still caught
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(_verbose(a) for a in argv[1:]):
        argv = ["-v", *[a for a in argv if not _verbose(a)]]
    parser = build_parser(argv)
    wants_json = _wants_json(parser, argv)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _report_error(exc, wants_json)
    if args.command not in QUIET_COMMANDS or args.verbose:
        _configure_logging(args.verbose)
    as_json = _as_json(args)
    if args.command in ("run", "resume"):
        return _handled_ending_on_stop_signals(args, as_json)
    return _handled(args, as_json)


def _handled(args: argparse.Namespace, as_json: bool) -> int:
    """Run the parsed command; an interrupt or an error becomes its message and exit code."""
    handler, _ = COMMANDS[args.command]
    try:
        _refuse_empty_paths(args)
        return handler(args)
    except KeyboardInterrupt as exc:
        give_back = _ignoring_stops()
        try:
            return _report_interrupt(exc, as_json)
        finally:
            if not _PROGRAM["ends_with_command"]:  # else ignored until the process ends (see _PROGRAM)
                give_back()
    except TaoAutoMLError as exc:
        return _report_error(exc, as_json)
    except Exception as exc:
        storage = storage_error(exc)
        if storage is not None:  # a full disk or read-only mount: the machine's state, not a bug
            return _report_error(storage, as_json)
        if not as_json:
            raise
        import logging

        logging.getLogger(__name__).exception("unexpected error in %r", args.command)
        print(_dumps(error_json(sys.exc_info()[1] or Exception("unknown"))), flush=True)
        return EXIT_FAILED


def _report_interrupt(exc: KeyboardInterrupt, as_json: bool) -> int:
    """What an interrupted command says (its run folder and how to continue it; with ``--json`` also the run's
    status), and its exit code."""
    run_dir = exc.run_dir if isinstance(exc, SweepInterrupted) and exc.run_dir else None
    from tao_automl.experiment.holder import resume_command
    from tao_automl.runner.detach import stop_cancels_jobs

    if run_dir and stop_cancels_jobs(run_dir):  # its stop says how many it cancelled
        said = "interrupted by `tao-automl stop --cancel-jobs`: it is cancelling the in-flight jobs"
        hint = f"continue with `{resume_command(run_dir)}` (the cancelled recs stay cancelled)"
    elif run_dir:
        said, hint = "interrupted: jobs keep running", f"continue with `{resume_command(run_dir)}`"
    else:  # stopped before the sweep reported a run folder: in all likelihood nothing started
        said = "interrupted before the sweep started"
        hint = ("no run folder was reported; if one was made, `tao-automl runs WORKSPACE` lists it and "
                "`tao-automl resume RUN_DIR` continues it")
    if as_json:  # what the sweep produced first comes with the error, as a failed sweep's does
        where = {"field": "run_dir", "value": str(run_dir)} if run_dir else {}
        error = TaoAutoMLError(said, kind="interrupted", exit_code=EXIT_INTERRUPTED, hint=hint, **where)
        # a stop --cancel-jobs records in the run's store that it is cancelling the jobs: not left running there
        error.produced = _status_of(run_dir) if run_dir else None
        print(_dumps(error_json(error)), flush=True)
    print(f"{said}; {hint}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _ignore_ctrl_c() -> None:
    """Ignore Ctrl-C for the rest of the process (see :data:`_PROGRAM`): a later one must neither cut what is said
    nor kill the process by SIGINT (exit -2) once Python puts its default action back as it shuts down. Setting a
    handler first runs any Ctrl-C still pending, whose ``KeyboardInterrupt`` is dropped here (as is one met while
    the signal module is imported: the program may not have needed it yet)."""
    while True:
        try:
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
            return
        except KeyboardInterrupt:
            continue


def _interrupted_before_start(argv: Sequence[str]) -> int:
    """What a command interrupted while the program was still loading says (with ``--json`` the JSON error object it
    promises), and its exit code."""
    said, hint = "interrupted before the command started", "nothing was started; run the command again"
    try:
        as_json = _wants_json(build_parser(list(argv)), list(argv))
    except Exception:  # a parser that cannot be built says nothing more than the plain words
        as_json = "--json" in argv
    if as_json:
        error = TaoAutoMLError(said, kind="interrupted", exit_code=EXIT_INTERRUPTED, hint=hint)
        print(_dumps(error_json(error)), flush=True)
    print(f"{said}; {hint}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _forget_dropped_ctrl_c() -> None:
    """Clear CPython's note of a Ctrl-C no code handled, so the program exits with its command's code. A library that
    runs Python code through the C API (Cython's start-up code of numpy and scipy modules) drops the
    ``KeyboardInterrupt`` a Ctrl-C raised in it; the sweep raises that stop again and ends interrupted (exit 130),
    but under ``python -m`` CPython still killed itself by SIGINT at its end (exit -2). Running an empty string
    through that same C API clears the note; elsewhere than CPython nothing is done."""
    if sys.implementation.name != "cpython":
        return
    try:
        import ctypes

        ctypes.pythonapi.PyRun_SimpleString(b"")
    except Exception:  # no C API to call (an embedded or stripped interpreter): the exit code is as Python makes it
        return


def entry() -> None:
    """The ``tao-automl`` program: :func:`main`, then exit with its code.

    After a read-only command (``status``: its store is closed, it wrote nothing) the output is flushed and the
    process ends without the interpreter's teardown (freeing every module: about 4 ms, a third of a bare python
    start), since agents poll ``status``. Any other command exits the usual way.
    """
    _PROGRAM["ends_with_command"] = True
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C while the program was still loading: nothing started, no traceback
        _ignore_ctrl_c()
        code = _interrupted_before_start(sys.argv[1:])
        _forget_dropped_ctrl_c()
        sys.exit(code)
    if _named_command(sys.argv[1:]) in QUIET_COMMANDS:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # a closed pipe: let the interpreter's own exit report it as always
            sys.exit(code)
        import os

        os._exit(code)
    _forget_dropped_ctrl_c()
    sys.exit(code)


if __name__ == "__main__":
    entry()


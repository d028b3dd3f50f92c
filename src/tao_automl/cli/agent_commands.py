"""Commands for programs and agents: ``run --detach``, ``resume --detach``, ``stop``, ``skill``, ``mcp``, ``plan``.

Each handler prints one JSON document with ``--json`` (or readable text) and returns the exit code; failures
raise the project's errors, which :func:`tao_automl.cli.main.main` prints as one line / one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tao_automl.errors import EXIT_OK, TaoAutoMLError
from tao_automl.util.shell import sh


def _as_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False)) or getattr(args, "format", "text") == "json"


def detached_report(run_dir: Path) -> dict[str, Any]:
    """What ``run --detach`` / ``resume --detach`` print with ``--json``: the folder, the process, the next steps."""
    from tao_automl.experiment.holder import orchestrator_info

    info = orchestrator_info(run_dir)
    quoted = sh(run_dir)  # agents run these as given: a path with a space stays one argument
    return {
        "run_dir": str(run_dir), "detached": True, "pid": info.get("pid"), "orchestrator": info,
        "log": str(run_dir / "orchestrator.log"),
        "next": {"status": f"tao-automl status {quoted} --json", "stop": f"tao-automl stop {quoted}",
                 "resume": f"tao-automl resume {quoted} --detach"},
    }


def print_detached(run_dir: Path, args: argparse.Namespace, warning: str | None = None) -> int:
    """``--json``: one object; text: the run folder alone on stdout (for ``RUN=$(...)``), details on stderr.
    ``warning``: said too (JSON ``warning``)."""
    report = detached_report(run_dir)
    if warning:
        report["warning"] = warning
        if not _as_json(args):
            print(f"warning: {warning}", file=sys.stderr)
    if _as_json(args):
        print(json.dumps(report, indent=2, default=str))
    else:
        print(report["run_dir"])
        pid = report["pid"]  # None: it already ended (the run was quick, or a `stop` came as it started)
        started = "started a detached orchestrator" + (f" (pid {pid})" if pid is not None else ", which has ended")
        print(f"{started}; log: {report['log']}\n"
              f"watch: tao-automl status {sh(report['run_dir'])} --watch\n"
              f"stop:  {report['next']['stop']}", file=sys.stderr)
    return EXIT_OK


def run_detached(runner: Any, config: Any, args: argparse.Namespace) -> int:
    """``run CONFIG --detach`` (or ``long_running_enabled: true``): validated by ``runner.start``, then detached."""
    run_dir: Path = runner.start(**config.run_kwargs())
    return print_detached(run_dir, args)


def finished_report(run_dir: str, note: str) -> dict[str, Any]:
    """What a detached resume of a run with nothing left to run answers instead of a started orchestrator."""
    from tao_automl.experiment.workspace import existing_run_dir

    folder = existing_run_dir(run_dir).resolve()
    quoted = sh(folder)
    return {"run_dir": str(folder), "detached": False, "pid": None, "note": note,
            "next": {"status": f"tao-automl status {quoted} --json"}}


def no_result(run_dir: str) -> TaoAutoMLError | None:
    """The ``no_result`` error of an ended run without a result (exit 1, as ``resume`` and ``status --watch``
    exit for it), or None when it has one."""
    from tao_automl.cli.main import no_result_error
    from tao_automl.status import query_status

    status = query_status(run_dir)
    return None if status.get("best") or "error" in status else no_result_error(status)


def answer_nothing_to_resume(args: argparse.Namespace, note: str) -> int:
    """What `resume` (with --detach or not) answers for a run with nothing to launch (``note`` says why): the note
    and the run's folder, with the ``no_result`` error (exit 1) when the run has no result."""
    report = finished_report(args.run_dir, note)
    failure = no_result(report["run_dir"])
    if failure is not None and _as_json(args):
        from tao_automl.errors import error_json

        report.update(error_json(failure))
    if _as_json(args):
        print(json.dumps(report, indent=2, default=str))
    else:
        print(report["run_dir"])
        print(note, file=sys.stderr)
        if failure is not None:
            print(f"error: {failure}", file=sys.stderr)
    return EXIT_OK if failure is None else failure.exit_code


def cmd_resume_detached(args: argparse.Namespace) -> int:
    from tao_automl.runner.close_spent import close_without_runner
    from tao_automl.runner.detach import nothing_to_resume, repeat_warning, resume_detached

    note = nothing_to_resume(args.run_dir) or close_without_runner(args.run_dir)
    if note is not None:
        return answer_nothing_to_resume(args, note)
    warning = repeat_warning(args.run_dir)  # read before the orchestrator clears it
    return print_detached(resume_detached(args.run_dir), args, warning)


#: The longest ``stop --timeout`` (a day, as ``status --watch --interval``): ``inf`` or ``1e300`` waited for ever.
STOP_TIMEOUT_MAX_S = 86400.0


def cmd_stop(args: argparse.Namespace) -> int:
    from tao_automl.errors import TaoAutoMLError, UserInputError
    from tao_automl.experiment.lines import ENDED_EARLY_WHY, left_open_line
    from tao_automl.experiment.store import STOP_CANCEL_MESSAGE
    from tao_automl.runner.detach import stop_run

    timeout = args.timeout
    if not 0 < timeout <= STOP_TIMEOUT_MAX_S:  # nan and inf too (inf waited for ever); before any signal is sent
        allowed = f"a number of seconds, 0 < S <= {STOP_TIMEOUT_MAX_S:g}"
        raise UserInputError(f"--timeout: {timeout!r} is not allowed; expected {allowed}",
                             field="--timeout", value=timeout, allowed=allowed, kind="usage",
                             hint="give how long to wait for the orchestrator to stop, e.g. --timeout 60")
    try:
        result = stop_run(args.run_dir, cancel_jobs=args.cancel_jobs, timeout_s=timeout)
    except TaoAutoMLError as exc:  # the wait ran out: named as this command spells it, not as stop_run's argument
        if exc.field == "timeout_s":
            raise exc.rebuilt(str(exc.detail), field="--timeout") from exc
        raise
    if _as_json(args):
        print(json.dumps(result, indent=2, default=str))
        return EXIT_OK
    if result["was_running"]:
        print(f"stopped the orchestrator (pid {result['pid']}); run state: {result['state']}")
    else:
        print(f"no orchestrator was running; run state: {result['state']}")
    if result["cancelled_jobs"]:
        print(f"cancelled {len(result['cancelled_jobs'])} job(s): {', '.join(result['cancelled_jobs'])}")
    for earlier in result.get("cancelled_earlier", ()):
        by = ("an earlier `tao-automl stop --cancel-jobs`" if earlier["message"] == STOP_CANCEL_MESSAGE
              else f"the sweep itself ({earlier['message']})")
        print(f"job {earlier['job_id']} (rec {earlier['rec_id']}) had been cancelled by {by}, which was interrupted "
              "before it recorded so; its rec is now recorded cancelled")
    if result["ended_jobs"]:
        print(f"{len(result['ended_jobs'])} job(s) had already ended, so were not cancelled: "
              f"{', '.join(result['ended_jobs'])}; resume collects their results")
    if not (result["cancelled_jobs"] or result["ended_jobs"] or result.get("cancelled_earlier")):
        print(f"{result['in_flight_jobs']} in-flight job(s) keep running; resume re-attaches to them"
              if result["in_flight_jobs"] else "no jobs in flight")
    if result["next"]:
        print(f"continue with: {result['next']}")
    elif result.get("new_run_needed"):
        print(f"nothing to resume: the sweep stopped itself on a cause a resume would meet again; start a new run "
              f"as its stop reason says: {result['stop_reason']}")
    elif result.get("ended_early"):
        print(f"nothing to resume: {ENDED_EARLY_WHY} (stop reason: {result['stop_reason']})")
    elif result.get("left_open"):  # left open with its budget spent: said as status says it
        print(f"nothing to continue: {left_open_line(result['run_dir'], result)}")
    elif result.get("platform_class"):
        print(f"continue from Python: it ran on {result['platform_class']}, which `tao-automl resume` cannot "
              "rebuild: AutoMLRunner(sdk, ...).run(workspace_path=..., resume=True)")
    else:
        print("nothing to continue: every rec of the run's budget has ended "
              f"(results: tao-automl status {sh(result['run_dir'])})")
    return EXIT_OK


def skill_path() -> Path:
    """The agent skill file shipped in the package."""
    return Path(__file__).resolve().parents[1] / "SKILL.md"


def skill_front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter (``name``, ``description``) of a skill file."""
    import yaml

    if not text.startswith("---\n"):
        return {}
    block = text[4:text.index("\n---", 4)]
    data = yaml.safe_load(block)
    return dict(data) if isinstance(data, dict) else {}


def cmd_skill(args: argparse.Namespace) -> int:
    """``tao-automl skill``: the skill file's path; ``--text``: its content; ``--json``: path, name, description."""
    path = skill_path()
    text = path.read_text()
    if _as_json(args):
        meta = skill_front_matter(text)
        print(json.dumps({"path": str(path), "name": meta.get("name"), "description": meta.get("description"),
                          **({"text": text} if args.text else {})}, indent=2))
    elif args.text:
        sys.stdout.write(text)
    else:
        print(path)
    return EXIT_OK


def cmd_mcp(args: argparse.Namespace) -> int:
    """``tao-automl mcp``: serve the agent tools over MCP on stdio until the client disconnects."""
    from tao_automl.agentapi.mcp_server import serve_stdio

    serve_stdio()
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    """``tao-automl plan "TEXT" --model NAME [-o config.yaml]``: a validated run config from a sentence."""
    from tao_automl.agentapi.plan import make_plan
    from tao_automl.errors import ConfigError, TaoAutoMLError, UserInputError

    output = Path(args.output) if args.output else None
    if args.force and output is None:  # it would be ignored: the config is printed, no file is overwritten
        raise UserInputError("--force: overwrites the -o file; without -o the config is printed and nothing is "
                             "overwritten", field="--force", value=True, allowed="--force together with -o FILE",
                             kind="usage", hint="add -o FILE, or drop --force")
    if output is not None and output.exists() and not args.force:
        raise ConfigError(f"-o: {str(output)!r} already exists", field="-o", value=str(output),
                          allowed="a file that does not exist yet, or --force",
                          hint="choose another file, or pass --force to overwrite it")
    from tao_automl.cli.results_commands import output_file

    output_file("-o", args.output)  # a folder, or a file in a missing folder: refused before the LLM is asked
    if args.skill_bank is not None:  # read only for a bare model name: a bank that is not there is never ignored
        from tao_automl.bank.layout import bank_root

        bank_root(args.skill_bank)
    keys: dict[str, str] = {}
    for entry in args.dataset_key:
        key, sep, path = entry.partition("=")
        if not sep or not key.strip() or not path.strip():
            raise UserInputError(f"--dataset-key: {entry!r} is not KEY=PATH", field="--dataset-key", value=entry,
                                 allowed="KEY=PATH (a spec key, e.g. dataset.train_data_sources.image_dir=/data)",
                                 kind="usage")
        keys[key.strip()] = path.strip()
    timeout = args.llm_timeout
    if not (isinstance(timeout, float) and 0 < timeout <= 3600):  # 0 and -5 read "cannot connect" (exit 3)
        raise UserInputError(f"--llm-timeout: {timeout!r} is not allowed; expected a number of seconds, 0 < s <= 3600",
                             field="--llm-timeout", value=timeout, allowed="a number of seconds, 0 < s <= 3600",
                             kind="usage")
    # before the LLM is asked: an endpoint that does not answer is not what to fix first
    _check_gpus(args.gpus)
    _check_platform(args.platform)
    try:
        plan = make_plan(args.text, args.model, llm_endpoint=args.llm_endpoint, llm_model=args.llm_model,
                         metric=args.metric, platform=args.platform, workspace_path=args.workspace,
                         train_dataset_uri=args.train_dataset, gpu_count=args.gpus, skill_bank=args.skill_bank,
                         base=output.resolve().parent if output is not None else None,
                         llm_timeout_s=args.llm_timeout, eval_dataset_uri=args.eval_dataset, dataset_keys=keys)
    except TaoAutoMLError as exc:  # a config key this command set from an option: named as the option typed
        option = _plan_option(exc, args)
        if option is None:
            raise
        detail = str(exc.detail)
        said = detail if detail.startswith(option) else f"{option} {sh(str(exc.value)) if exc.has_value else ''}"\
            .rstrip() + f": {detail}"
        raise exc.rebuilt(said, field=option) from exc
    if output is not None:
        from tao_automl.util.outfile import write_output

        write_output(output, plan.yaml().encode("utf-8"))  # -o /dev/null: written into, not replaced
    if _as_json(args):
        written = str(output.expanduser().absolute()) if output else None  # absolute, as export and report print
        print(json.dumps({**plan.to_json(), "written": written}, indent=2, default=str))
        return EXIT_OK
    print("differences from the model's defaults:")
    print("\n".join(f"  {line}" for line in plan.diff) or "  none")
    if plan.reasoning:
        print(f"LLM's reason: {plan.reasoning}")
    if plan.repairs:
        print(f"repaired: {'; '.join(plan.repairs)}")
    if plan.unstated:
        print(f"not in the goal (the LLM's choice; say it in the goal or edit the config): {', '.join(plan.unstated)}")
    if output is not None:
        print(f"wrote {output}; next: tao-automl run {sh(output)} --dry-run, then tao-automl run {sh(output)} --detach")
    else:
        print("---")
        print(plan.yaml(), end="")
    return EXIT_OK


def _check_gpus(gpus: int | None) -> None:
    """Refuse a ``plan --gpus`` the run config would refuse (``platform_kwargs.gpu_count``: 0 up to
    :data:`~tao_automl.runner.resources.MAX_GPU_COUNT`), named as the option."""
    from tao_automl.errors import UserInputError
    from tao_automl.runner.resources import MAX_GPU_COUNT

    if gpus is not None and not 0 <= gpus <= MAX_GPU_COUNT:
        raise UserInputError(f"--gpus: {gpus} is not allowed; expected an integer from 0 to {MAX_GPU_COUNT} (the GPUs "
                             "one job asks for)", field="--gpus", value=gpus,
                             allowed=f"an integer from 0 to {MAX_GPU_COUNT}", kind="usage")


def _check_platform(name: str) -> None:
    """Refuse a ``plan --platform`` that names no platform (the run config's ``platform``), named as the option."""
    from tao_automl.errors import UserInputError
    from tao_automl.platforms.registry import PLATFORMS
    from tao_automl.util.suggest import did_you_mean

    if name not in PLATFORMS:
        raise UserInputError(f"--platform: unknown platform {name!r}{did_you_mean(name, PLATFORMS)}; available: "
                             f"{', '.join(PLATFORMS)}", field="--platform", value=name, allowed=list(PLATFORMS),
                             kind="usage")


#: The run config keys ``plan`` writes from its options (an error's ``field``), and the option that sets each.
PLAN_OPTIONS = {"skill_dir": "--model", "model": "--model", "platform": "--platform", "workspace_path": "--workspace",
                "train_dataset_uri": "--train-dataset", "eval_dataset_uri": "--eval-dataset",
                "platform_kwargs.gpu_count": "--gpus", "automl_settings.metric": "--metric",
                "llm_endpoint": "--llm-endpoint"}


def _plan_option(exc: Any, args: argparse.Namespace) -> str | None:
    """The ``plan`` option behind the config key ``exc`` names, when the user gave it (``--metric`` only when the
    value at fault is the one given: a metric the LLM chose is the LLM's), else None."""
    field = str(exc.field or "")
    if field.startswith("dataset_keys.") and args.dataset_key:
        return "--dataset-key"
    option = PLAN_OPTIONS.get(field)
    if option == "--metric":
        return option if args.metric is not None and exc.value == args.metric else None
    given = {"--gpus": args.gpus, "--train-dataset": args.train_dataset, "--eval-dataset": args.eval_dataset}
    return option if option is not None and given.get(option, True) is not None else None

"""Result commands: ``export`` (best spec, CSV, Optuna journal), ``runs`` (a workspace's runs) and ``logs``.

Each reads the run folder read-only; heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from tao_automl.errors import EXIT_OK, UserInputError, WorkspaceError
from tao_automl.util.writable import unwritable_reason

#: The run folder argument of a command that reads a workspace's newest run when given a workspace.
RUN_OR_WORKSPACE = "run folder (run_YYYYmmdd_HHMMSS_xxxxxx), or a workspace: its newest run"


def _say_which_run(given: str, run_dir: Path) -> None:
    """Given a workspace, which of its runs was read (its newest), on stderr, as the text of ``status`` says it."""
    if Path(given).expanduser().resolve() == run_dir.resolve():
        return
    from tao_automl.experiment.run_folders import workspace_runs

    runs = workspace_runs(str(run_dir.parent))
    print(f"note: {given} is a workspace: this is its newest run, {run_dir.absolute()} (of {len(runs)}; "
          f"`tao-automl runs {shlex.quote(given)}` lists them)", file=sys.stderr)


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    """The arguments of the result commands (called by :mod:`tao_automl.cli.main`)."""
    if name == "export":
        p.add_argument("run_dir", help=RUN_OR_WORKSPACE)
        p.add_argument("--best", action="store_true", help="the best rec's exact spec, in the action's format")
        p.add_argument("-o", "--output", default=None, help="file for --best or --csv (default: stdout)")
        p.add_argument("--results-dir", default=None,
                       help="--best: point the spec's results folder key(s) here instead of the rec's folder")
        p.add_argument("--csv", nargs="?", const="", default=None, metavar="FILE",
                       help="one row per rec: params, metric, status, budget, times (FILE, else -o, else stdout)")
        p.add_argument("--optuna", default=None, metavar="FILE", help="write an Optuna journal storage to FILE")
    elif name == "runs":
        p.add_argument("workspace", help="the workspace_path of your runs")
    elif name == "logs":
        p.add_argument("run_dir", help=RUN_OR_WORKSPACE)
        p.add_argument("rec", type=int, help="rec id (as in `tao-automl status`)")
        p.add_argument("--tail", type=int, default=None, help="only the last N lines")


def _is_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False)) or getattr(args, "format", "text") == "json"


def output_file(option: str, path: str | Path | None) -> None:
    """An output file we may write: a non-empty path, not an existing folder, in an existing folder (none is made)
    that takes a new file (a read-only mount is named here, not met as an OSError after the work)."""
    if path is None:
        return
    if not str(path).strip():
        raise UserInputError(f"{option}: an empty path; allowed: a file path", field=option, value=str(path),
                             allowed="a file path", hint=f"e.g. {option} best_spec.yaml")
    target = Path(path).expanduser()
    if target.is_dir():
        raise UserInputError(f"{option}: {str(target)!r} is a folder; allowed: a file path", field=option,
                             value=str(target), allowed="a file path", hint=f"e.g. {option} {target / 'out'}")
    blocker = next((p for p in target.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UserInputError(f"{option}: {str(target)!r} cannot be written: {str(blocker)!r} is a file",
                             field=option, value=str(target), allowed="a file path in a folder")
    folder = target.absolute().parent
    if not folder.is_dir():  # never made behind the user's back: a typo in the path would go unnoticed
        raise UserInputError(f"{option}: {str(target)!r} cannot be written: its folder {str(folder)!r} does not exist",
                             field=option, value=str(target), allowed="a file path in an existing folder",
                             hint=f"create the folder first (mkdir -p {shlex.quote(str(folder))}), or give a path "
                                  "in an existing folder")
    why = unwritable_reason(folder)
    if why is not None:
        raise UserInputError(f"{option}: {str(target)!r} cannot be written: {why}", field=option, value=str(target),
                             allowed="a file path in a folder you can write",
                             hint=f"e.g. {option} {Path(tempfile.gettempdir()) / target.name}")


def not_a_run_file(option: str, path: str | Path | None, run_dir: Path) -> None:
    """Refuse an output file that is one of the run's own records: its store (``state.db`` and its journal files)
    or a file under ``recs/`` (the spec a job read, its results): writing there would replace what ran."""
    if not path:
        return
    target = Path(path).expanduser().resolve()
    try:
        inside = target.relative_to(run_dir.resolve())
    except ValueError:
        return
    if target.exists() and (inside.parts[:1] == ("recs",) or inside.name.startswith("state.db")):
        raise UserInputError(f"{option}: {str(path)!r} is a file of run {run_dir.name} (what its recs ran and "
                             "recorded); writing it would replace that record; allowed: a path outside the run's "
                             "store and recs/ folder", field=option, value=str(path),
                             allowed="a file that is not the run's state.db or under its recs/ folder",
                             hint=f"e.g. {option} {Path(tempfile.gettempdir()) / target.name}")


def cmd_export(args: argparse.Namespace) -> int:
    from tao_automl.experiment.lines import epochs_text, metrics_text
    from tao_automl.export.best import best_spec_text, export_best
    from tao_automl.export.optuna_journal import write_optuna
    from tao_automl.export.run_data import load_run
    from tao_automl.export.table import csv_rows, write_csv

    if args.csv == "-":  # the usual name of stdout: not a file called "-"
        args.csv = ""
    if args.output == "-":
        args.output = None
    if args.optuna == "-":  # a journal is a file Optuna opens and appends to: there is no stdout form of it
        raise UserInputError("export --optuna '-': an Optuna journal is a file that Optuna opens and appends to, "
                             "not stdout; allowed: a path to a new file", field="--optuna", value="-",
                             allowed="a path to a new file", hint="e.g. `tao-automl export RUN_DIR --optuna run.log`")
    if not (args.best or args.csv is not None or args.optuna is not None):
        raise UserInputError("export: say what to write: --best (the best rec's spec), --csv (a row per rec) or "
                             "--optuna FILE (an Optuna journal); allowed: --best, --csv, --optuna", field="export",
                             allowed=["--best", "--csv", "--optuna"], kind="usage",
                             hint="e.g. `tao-automl export RUN_DIR --best -o best_spec.yaml`")
    if args.results_dir is not None and not args.results_dir.strip():  # "" would point the retrain at the cwd
        raise UserInputError("export: --results-dir '' is empty; allowed: a folder path", field="--results-dir",
                             value=args.results_dir, allowed="a folder path")
    if args.results_dir is not None and not args.best:  # never silently ignored
        raise UserInputError("export: --results-dir points the --best spec's results folder elsewhere: it needs --best",
                             field="--results-dir", value=args.results_dir, allowed="with --best", kind="usage")
    if args.output is not None and not args.best and args.csv != "":
        raise UserInputError("export: -o names the file of --best, or of --csv given without its own FILE "
                             "(--optuna takes its own FILE)",
                             field="-o", value=args.output, allowed="with --best or --csv", kind="usage",
                             hint=f"e.g. `tao-automl export RUN_DIR --csv {shlex.quote(args.output)}`")
    csv_file = args.csv or (args.output if args.csv is not None and not args.best else None)
    if args.best and args.csv is not None and not args.csv:
        raise UserInputError("export: --best and --csv both want -o; give --csv its own FILE", field="--csv",
                             value="", allowed="--csv FILE when --best takes -o", kind="usage",
                             hint="e.g. `tao-automl export RUN_DIR --best -o best_spec.yaml --csv recs.csv`")
    if args.csv is not None and not csv_file and _is_json(args):  # stdout carries the JSON document
        raise UserInputError("export --csv --json: the JSON goes to stdout, so the CSV needs its own FILE",
                             field="--csv", allowed="--csv FILE (or -o FILE) with --json; --csv alone prints the CSV",
                             kind="usage",
                             hint="e.g. `tao-automl export RUN_DIR --csv recs.csv --json`")
    outputs = (("-o", args.output if args.best else None), ("--csv", csv_file), ("--optuna", args.optuna))
    for option, target in outputs:
        output_file(option, target)
    if args.optuna is not None:  # refused before anything is written (write_optuna refuses it too, after --best/--csv)
        from tao_automl.export.optuna_journal import refuse_existing

        refuse_existing(args.optuna)
    data = load_run(args.run_dir)
    _say_which_run(args.run_dir, data.run_dir)
    for option, target in outputs:
        not_a_run_file(option, target, data.run_dir)
    done: dict[str, Any] = {}
    if args.best:
        others = [name for name, given in (("--csv", args.csv is not None), ("--optuna", args.optuna is not None))
                  if given]
        if args.output is None and others:  # the spec on stdout returned before the other files were written
            raise UserInputError(f"export --best with {' and '.join(others)}: give the spec its own file with -o",
                                 field="-o", value=None, allowed="-o FILE when --best goes with --csv or --optuna",
                                 kind="usage",
                                 hint="e.g. `tao-automl export RUN_DIR --best -o best_spec.yaml "
                                      f"{' '.join(o + ' FILE' for o in others)}`")
        if args.output is None and args.results_dir is None and not _is_json(args):
            shown = best_spec_text(data)
            if shown is not None:
                sys.stdout.write(shown[0])
                _say_moved(int(data.summary["best"]["rec_id"]), {k: {"from": w, "to": n} for k, (w, n) in
                                                                  shown[1].items()})
                return EXIT_OK
        if args.output is None and data.summary["best"] is not None:
            raise UserInputError("export --best: give -o FILE", field="-o", value=None, kind="usage",
                                 allowed="-o FILE (--best prints the spec on stdout only without --json and "
                                 "--results-dir)", hint="e.g. -o best_spec.yaml")
        if args.output is None:  # no result: say that, not "give -o"
            export_best(data, "-", None)
        done["best"] = export_best(data, args.output, args.results_dir)
        if args.results_dir is not None:  # the retrain may run elsewhere (a container, a node): a note, no refusal
            why = unwritable_reason(Path(args.results_dir).expanduser())
            if why is not None:
                print(f"note: --results-dir {args.results_dir!r} cannot be made here ({why}): a job run on this "
                      "machine with the exported spec would fail to write its results; fine where the job runs "
                      "elsewhere", file=sys.stderr)
        if args.results_dir is None and not _is_json(args):
            print(f"note: its results folder is rec {done['best']['rec_id']}'s; pass --results-dir DIR to train "
                  "elsewhere", file=sys.stderr)
        resumes = done["best"]["resumes"]
        if resumes and not _is_json(args):  # JSON carries it as best.resumes
            print(f"note: rec {done['best']['rec_id']}'s spec resumes the checkpoint {resumes['checkpoint']} "
                  f"({resumes['key']}), so training with it continues that checkpoint as the sweep did; keep the run "
                  f"folder, or empty {resumes['key']} to train the config from scratch", file=sys.stderr)
        if not _is_json(args):  # JSON carries it as best.moved
            _say_moved(done["best"]["rec_id"], done["best"]["moved"])
        if done["best"]["redacted"] and not _is_json(args):  # JSON carries it as best.redacted
            print(f"note: rec {done['best']['rec_id']}'s spec file is gone, so the spec was rebuilt from the run's "
                  f"store, which keeps no credential: set {', '.join(done['best']['redacted'])} (written as "
                  f"<redacted>) before training with it", file=sys.stderr)
    if args.csv is not None:
        if csv_file:
            done["csv"] = {"path": csv_file, "rows": write_csv(data, csv_file)}
        else:
            import csv

            if args.optuna is not None:  # written before the CSV takes stdout (it returns here); its line on stderr
                o = write_optuna(data, args.optuna)
                print(f"wrote Optuna journal {o['path']} (study {o['study_name']}, {o['trials']} trials); open it "
                      f"with `optuna-dashboard {shlex.quote(o['path'])}`" + (f"; {o['note']}" if o["note"] else ""),
                      file=sys.stderr)
            header, rows = csv_rows(data)
            writer = csv.DictWriter(sys.stdout, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
            return EXIT_OK
    if args.optuna is not None:
        done["optuna"] = write_optuna(data, args.optuna)
    if _is_json(args):  # absolute, as status, runs and report print theirs: a reader elsewhere can open them
        for written in done.values():
            written["path"] = str(Path(written["path"]).expanduser().absolute())
        print(json.dumps(done, indent=2, default=str))
        return EXIT_OK
    if "best" in done:
        b = done["best"]
        budget = f" at {epochs_text(b['budget'])}" if b.get("budget") is not None else ""
        values_text = metrics_text(data.metric, b["metric_value"], b.get("metric_values"))
        print(f"wrote rec {b['rec_id']}'s spec ({values_text}{budget}) to {b['path']}")
    if "csv" in done:
        print(f"wrote {done['csv']['rows']} rec(s) to {done['csv']['path']}")
    if "optuna" in done:
        o = done["optuna"]
        print(f"wrote Optuna journal {o['path']} (study {o['study_name']}, {o['trials']} trials); "
              f"open it with `optuna-dashboard {shlex.quote(o['path'])}`" + (f"; {o['note']}" if o["note"] else ""))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from tao_automl.experiment.lines import format_metric, front_pick_text, local_time
    from tao_automl.export.runs import list_runs

    runs = list_runs(args.workspace)
    if _is_json(args):
        shown = str(Path(args.workspace).expanduser().absolute())  # as its runs' run_dir (and status) show it
        print(json.dumps({"workspace": shown, "runs": runs}, indent=2, default=str))  # one object
        return EXIT_OK
    if not runs:
        print(f"no runs under {args.workspace}")
        return EXIT_OK
    done = {r["id"]: _done_text(r) for r in runs if not r["error"]}
    wide = max([4, *map(len, done.values())])
    header = f"{'id':<30}  {'started':<25}  {'algorithm':<12}  {'state':<11}  {'done':<{wide}}  best"
    print(header)
    print("-" * len(header))
    for r in runs:
        if r["error"]:
            print(f"{r['id']:<30}  {r['error']}")
            continue
        start = local_time(r["created_at"]) if r["created_at"] else "-"
        best = "-" if r["best_metric"] is None else f"{r['metric']}={format_metric(r['best_metric'])} (rec " \
            f"{r['best_rec_id']})"
        if r.get("best_values"):  # several metrics: the front's pick with each of its values
            best = front_pick_text(r["best_values"], r["best_rec_id"], r.get("best_by"))
        algorithm = r["algorithm"] if not r.get("algorithm_choice") else \
            f"{r['algorithm']}->{r['algorithm_choice'].get('algorithm')}"  # auto: the brain it picked
        print(f"{r['id']:<30}  {start:<25}  {algorithm!s:<12}  {r['state']!s:<11}  {done[r['id']]:<{wide}}  {best}")
    return EXIT_OK


#: A run's counts as ``runs`` shows them beside done/total, in the words of status's summary line.
_COUNT_WORDS = (("succeeded", "succeeded"), ("failed", "failed"), ("stopped", "stopped"), ("cancelled", "cancelled"),
                ("uncollected", "ended uncollected"), ("running", "in flight"))


def _done_text(run: dict[str, Any]) -> str:
    """``3/10 (1 succeeded, 1 failed, 1 cancelled, 2 in flight)``: done/total and each count that is not 0."""
    counts = [f"{run[key]} {word}" for key, word in _COUNT_WORDS if run.get(key)]
    return f"{run['completed']}/{run['total']}" + (f" ({', '.join(counts)})" if counts else "")


def _platform_log(meta: dict[str, Any], job_id: str, tail: int | None) -> tuple[str | None, str]:
    """The job's log from the platform the run used; ``(None, why)`` when it cannot be had."""
    from tao_automl.platforms.registry import platform_name, rebuild_sdk

    platform = meta.get("platform") or {}
    if platform_name(str(platform.get("class", ""))) is None:
        return None, f"the platform {platform.get('class')!r} cannot be rebuilt by the CLI"
    try:
        text = rebuild_sdk(meta.get("run_dir", ""), platform).get_job_logs(job_id, tail=tail)
    except Exception as exc:
        return None, f"the platform did not give it ({type(exc).__name__}: {exc})"
    return (str(text), "platform") if text is not None else (None, "the platform has no log for the job")


def _saved_logs(run_dir: Path, rec_id: int, results_dir: str | None, job_id: str | None = None) -> list[Path]:
    from tao_automl.experiment.workspace import rec_folder

    run_dir = run_dir.absolute()
    roots = [rec_folder(run_dir, rec_id)]
    if results_dir:
        roots.append(Path(results_dir))
    if job_id and "/" not in job_id and job_id not in (".", ".."):  # a local job's folder in the run (a moved run)
        roots.append(run_dir / "jobs" / job_id)
    found: list[Path] = []
    seen: set[Path] = set()  # each file once, however its roots name it (a relative RUN_DIR, `..`, a link)
    for root in roots:
        if root.is_dir():
            for p in sorted(root.rglob("*.log")):
                if p.is_file() and p.resolve() not in seen and p.stat().st_size:  # an empty output.log is no log
                    seen.add(p.resolve())
                    found.append(p)
    if job_id and "/" not in job_id and job_id not in (".", ".."):  # a Kubernetes job's log kept in the run
        found.extend(p for p in sorted((run_dir / "jobs" / "logs").glob(f"*/{job_id}.log")) if p not in found)
    parts = (job_id or "").split("/")
    if len(parts) == 2 and all(p and p not in (".", "..") for p in parts):  # a released Brev job's (instance/key)
        kept = run_dir / "jobs" / "logs" / parts[0] / f"{parts[1]}.log"
        if kept.is_file() and kept not in found:
            found.append(kept)
    return found


def cmd_logs(args: argparse.Namespace) -> int:
    from tao_automl.export.run_data import load_run

    if args.tail is not None and args.tail < 1:
        raise UserInputError(f"--tail: {args.tail} is not allowed; allowed: an integer >= 1", field="--tail",
                             value=args.tail, allowed="an integer >= 1", hint="omit --tail for the whole log",
                             kind="usage")
    data = load_run(args.run_dir)
    _say_which_run(args.run_dir, data.run_dir)
    rec = data.rec(args.rec)
    asked = data.meta.get("mode") == "ask_tell"  # its recs are trained by the caller's code: no job ever comes
    no_job = "the run is an ask/tell run, whose recs your own code trained (no job)" if asked \
        else "the rec has no job yet"
    text, why = (None, no_job) if not rec.job_id else _platform_log(data.meta, rec.job_id, args.tail)
    note = None
    saved = _saved_logs(data.run_dir, rec.rec_id, rec.results_dir, rec.job_id) if not text else []
    if not text and not saved:
        if text is None:
            raise WorkspaceError(f"no log for rec {rec.rec_id}: {why}, and no *.log file is saved under its folder",
                                 field="rec", value=rec.rec_id,
                                 allowed="a rec whose job left a log (on its platform or a *.log file in its folder)",
                                 hint=("its output is where your code wrote it" if asked else "its output is gone")
                                 + "; what the rec ran and how it ended are in `tao-automl "
                                   f"status {shlex.quote(str(data.run_dir))} --recs all --json`")
        state = str(getattr(rec.status, "value", rec.status))
        note = f"rec {rec.rec_id} ({state}): its job's log is empty; it has written no output" + (
            " yet" if state in ("created", "pending", "running") else "")
    if saved:  # the platform's log is empty or missing: the job may write its log into a file
        parts = []
        for path in saved:
            lines = path.read_text(errors="replace").splitlines()
            shown = lines[-args.tail:] if args.tail else lines
            parts.append(f"==> {path} <==\n" + "\n".join(shown))
        text = "\n".join(parts)
    if _is_json(args):
        print(json.dumps({"rec_id": rec.rec_id, "job_id": rec.job_id, "log": text or "", "note": note}))
    elif note:
        print(note, file=sys.stderr)
    else:
        assert text is not None
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _say_moved(rec_id: int, moved: dict[str, dict[str, str]]) -> None:
    """A note on stderr naming the exported spec's paths that differ from what rec ``rec_id``'s job read because its
    run folder moved since (:func:`tao_automl.export.best.moved_paths`)."""
    if moved:
        keys = ", ".join(f"{key} ({where['from']} -> {where['to']})" for key, where in moved.items())
        print(f"note: the run folder has moved since rec {rec_id} ran; the exported spec names its paths where they "
              f"are now: {keys}", file=sys.stderr)

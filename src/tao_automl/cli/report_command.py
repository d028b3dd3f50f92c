"""``tao-automl report RUN_DIR [-o FILE] [--format html|png]``: the HTML report or one convergence PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tao_automl.errors import NO_RESULT_ALLOWED, SweepFailedError, UserInputError
from tao_automl.util.shell import sh

FORMATS = ("html", "png", "json")
#: The file extensions that name what report writes: a -o named for the other one is refused (as export's -o is).
_WRITES = {".html": "html", ".htm": "html", ".png": "png", ".json": "json"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run folder (or a workspace: its newest run)")
    p.add_argument("-o", "--output", default=None,
                   help="file to write (default RUN_DIR/report.html, or RUN_DIR/convergence.png)")
    p.add_argument("--format", choices=FORMATS, default="html",
                   help="html (default): the full report; png: the convergence plot; json: html, and print JSON")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON (the report is still HTML, or PNG with --format png)")


def cmd_report(args: argparse.Namespace) -> int:
    from tao_automl.cli.results_commands import not_a_run_file, output_file
    from tao_automl.experiment.summary import ENDED_UNCOLLECTED
    from tao_automl.export.best import no_result_hint
    from tao_automl.report.data import load_run

    if args.output == "-":  # the usual name of stdout (export takes it so): never a file called "-" in the cwd
        raise UserInputError("report -o '-': the report is a file (HTML, or PNG with --format png), not printed on "
                             "stdout, which carries its path (or its JSON); allowed: a file path", field="-o",
                             value="-", allowed="a file path", hint="e.g. `tao-automl report RUN_DIR -o report.html`")
    output_file("-o", args.output)
    png = args.format == "png"
    _same_format("-o", args.output, "png" if png else "html", args.run_dir)
    data = load_run(args.run_dir)
    out = Path(args.output) if args.output else data.run_dir / ("convergence.png" if png else "report.html")
    output_file("-o", out)  # the run folder itself may be read-only (a copy on a read-only mount)
    not_a_run_file("-o", args.output, data.run_dir)  # never over its state.db or a file a rec ran with
    if png:
        from tao_automl.report.png import write_convergence_png

        if not write_convergence_png(data, out):
            live = data.meta.get("state") in ("running", "starting")
            raise SweepFailedError(  # no result to plot, as `export --best` has none to export: exit 1, not 2
                f"{data.run_dir.name}: no finished rec has a metric{' yet' if live else ''}; nothing to plot",
                field="run_dir", value=str(data.run_dir), allowed=NO_RESULT_ALLOWED,
                hint=no_result_hint(data.run_dir, data.meta.get("state"),
                                    sum(r.status in ("failure", "cancelled") for r in data.recs), data.meta,
                                    sum(r.status == ENDED_UNCOLLECTED for r in data.recs)))
    else:
        from tao_automl.report.html import write_html_report

        write_html_report(data, out)
    if args.json or args.format == "json":  # absolute, as status and export print them
        print(json.dumps({"report": str(out.resolve()), "format": "png" if png else "html",
                          "run_dir": str(data.run_dir.resolve()), "recs": len(data.recs)}))
    else:
        print(out.resolve())
    return 0


def _same_format(option: str, path: str | None, writes: str, run_dir: str) -> None:
    """Refuse an output named for the other format (``-o conv.png`` without ``--format png`` wrote HTML into it); the
    hint names ``run_dir`` as the command was given it."""
    if not path:
        return
    named = _WRITES.get(Path(path).suffix.lower())
    if named is not None and named != writes:
        extensions = " or ".join(ext for ext, fmt in _WRITES.items() if fmt == writes)
        fix = {"png": "pass --format png (--json still prints the JSON line) to write PNG",
               "json": f"for the run's data as JSON use `tao-automl status {sh(run_dir)} --json --recs all` (report's "
                       "--format json prints its result line as JSON; its file is HTML)"}.get(named,
                                                                                               "drop --format png "
                                                                                               "to write HTML")
        raise UserInputError(f"{option} {path!r}: report writes {writes.upper()} here, not {named.upper()}; allowed: a "
                             f"{extensions} file (or a name without such an extension)", field=option, value=path,
                             allowed=f"a {extensions} file", hint=f"name the file {Path(path).stem}"
                             f"{'.png' if writes == 'png' else '.html'}, or {fix}")

"""``tao-automl report RUN_DIR [-o FILE] [--format html|png]``: the HTML report or one convergence PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tao_automl.errors import SweepFailedError

FORMATS = ("html", "png", "json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run folder (or a workspace: its newest run)")
    p.add_argument("-o", "--output", default=None,
                   help="file to write (default RUN_DIR/report.html, or RUN_DIR/convergence.png)")
    p.add_argument("--format", choices=FORMATS, default="html",
                   help="html (default): the full report; png: the convergence plot; json: html, and print JSON")
    p.add_argument("--json", action="store_true", help="print the result as JSON (the report is still HTML)")


def cmd_report(args: argparse.Namespace) -> int:
    from tao_automl.cli.results_commands import not_a_run_file, output_file
    from tao_automl.export.best import no_result_hint
    from tao_automl.report.data import load_run

    output_file("-o", args.output)
    data = load_run(args.run_dir)
    png = args.format == "png"
    out = Path(args.output) if args.output else data.run_dir / ("convergence.png" if png else "report.html")
    output_file("-o", out)  # the run folder itself may be read-only (a copy on a read-only mount)
    not_a_run_file("-o", args.output, data.run_dir)  # never over its state.db or a file a rec ran with
    if png:
        from tao_automl.report.png import write_convergence_png

        if not write_convergence_png(data, out):
            live = data.meta.get("state") in ("running", "starting")
            raise SweepFailedError(  # no result to plot, as `export --best` has none to export: exit 1, not 2
                f"{data.run_dir.name}: no finished rec has a metric{' yet' if live else ''}; nothing to plot",
                field="run_dir", value=str(data.run_dir),
                hint=no_result_hint(data.run_dir, data.meta.get("state"),
                                    sum(r.status in ("failure", "cancelled") for r in data.recs), data.meta))
    else:
        from tao_automl.report.html import write_html_report

        write_html_report(data, out)
    if args.json or args.format == "json":  # absolute, as status and export print them
        print(json.dumps({"report": str(out.resolve()), "format": "png" if png else "html",
                          "run_dir": str(data.run_dir.resolve()), "recs": len(data.recs)}))
    else:
        print(out.resolve())
    return 0

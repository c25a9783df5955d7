"""`studentflow report`: the markdown report and its charts, from the warehouse marts."""
from __future__ import annotations

import argparse
import json

from studentflow.cli._group import add_command
from studentflow.core.config import Settings

DESCRIPTION = ("Reads the SQLite warehouse built by `studentflow transform` (and the Great Expectations "
               "results of `studentflow validate`, if any) and writes <data_dir>/report/rapport.md "
               "(report.md in English), age_boxplot.png and major_counts.png (age_boxplot_en.png and "
               "major_counts_en.png in English).")


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from studentflow.report.report import build_report

    paths = build_report(settings, lang=args.lang)
    if args.json:
        print(json.dumps({"directory": str(paths.directory), "files": [str(p) for p in paths.files()],
                          "lang": args.lang}, sort_keys=True))
        return 0
    print(f"report written to {paths.directory}:")
    for path in paths.files():
        print(f"  {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    with add_command(sub, "report",
                     help="write the markdown report and the charts (boxplot, counts) from the dbt marts",
                     description=DESCRIPTION, handler=_report, lock=True, can_fail=True,
                     json="print the files written as one JSON object on stdout") as p:
        p.add_argument("--lang", choices=("fr", "en"), default="fr",
                       help="report language: fr (default, rapport.md) or en (report.md)")

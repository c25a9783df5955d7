"""`studentflow normalize`: staging lines -> clean_students + quarantine_students (SQLite)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from studentflow.cli._group import add_command, add_json
from studentflow.core.config import Settings

DESCRIPTION = ("Read the lines staged since the last run (the Connect file sink's folder; per-file "
               "watermarks kept in the warehouse), salvage JSON / CSV-like / key:value records, quarantine the "
               "rest with a reason, remove duplicate event ids (within the increment and against the "
               "warehouse), check that lines read = clean + quarantined + duplicates, then append the rows, "
               "move the watermarks and add a pipeline_runs row in one transaction. A half-written last line "
               "waits for the next run. Staging that moved backwards (a file shorter, deleted or replaced) "
               "stops with an error: rebuild with --full-refresh.")


def _normalize(args: argparse.Namespace, settings: Settings) -> int:
    from spark_jobs.job import run_normalize
    from studentflow.core.warehouse import existing_tables

    # A warehouse file that is not SQLite is a setup error, as for every other reader, found before Spark starts.
    existing_tables(settings.warehouse)
    quiet = args.quiet or args.json
    result = run_normalize(settings, staging=args.staging, full_refresh=args.full_refresh,
                           progress=(lambda _m: None) if quiet else print)
    if args.json:
        print(json.dumps({
            "run_id": result.run_id if result.written else None, "mode": result.mode, "lines_read": result.lines_read, "clean": result.clean,
            "quarantined": result.quarantined, "duplicates_removed": result.duplicates_removed, "headers": result.headers,
            "by_rule": result.by_rule, "by_reason": result.by_reason, "warehouse": str(result.warehouse),
            "staging_files": [p.name for p in result.files], "timings_s": result.timings,
            "spark_startup_s": result.spark_startup,
        }, sort_keys=True))
    elif args.quiet:
        print(result.summary())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    with add_command(sub, "normalize",
                     help="Spark: staged lines -> clean_students + quarantine_students (nothing lost)",
                     description=DESCRIPTION, handler=_normalize, lock=True, can_fail=True) as p:
        p.add_argument("--staging", type=Path, metavar="PATH",
                       help="a staging folder or file to read instead of the staging_dir setting")
        p.add_argument("--full-refresh", action="store_true",
                       help="rebuild clean_students, quarantine_students and the watermarks from everything staged")
        add_json(p, "print the result as one JSON object (for scripts and CI)")
        p.add_argument("--quiet", action="store_true", help="no progress lines, only the summary (or the JSON)")

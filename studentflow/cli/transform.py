"""`studentflow transform`: dbt build on the warehouse (the runner is studentflow/transform/runner.py)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studentflow.cli._group import add_command
from studentflow.core import config
from studentflow.core.contract import SOURCE_TABLES
from studentflow.core.errors import DataError, ExitCode, StudentflowError, UsageError
from studentflow.core.warehouse import require_tables

DESCRIPTION = ("Run the dbt project in dbt_project/ against the warehouse (setting `warehouse`), with the "
               "configured age bounds as dbt vars. Default: `dbt build` (seeds, models, tests). "
               "Artifacts go to <data_dir>/dbt/. With a quality worker running (the stack's, or quality_remote), dbt "
               "runs there, on the project it has parsed (dbt's import and parse skipped; --verbose always runs "
               f"here). Exit {ExitCode.OK:d} when everything passed, {ExitCode.FAILED:d} "
               f"when a dbt test failed, {ExitCode.SETUP:d} when the warehouse is missing or dbt itself failed.")
JSON_HELP = "print the outcome (statuses, failing nodes, mart row counts) as one JSON object on stdout"


def _tail_errors(output: str, limit: int = 16) -> list[str]:
    """dbt's error as it printed it: from "Encountered an error" on (its text, the lines of the
    file it could not read, the raw error), else the lines that name an error."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "Encountered an error" in ln), None)
    if start is not None:
        return lines[start:start + limit]
    keep = [ln for ln in lines if any(w in ln for w in ("Error", "error", "ERROR", "FAIL"))]
    return (keep or lines)[-limit:]


def _transform(args: argparse.Namespace, settings: config.Settings) -> int:
    from studentflow.transform.runner import mart_row_counts, run_dbt, summarize

    hint = "run `studentflow normalize` first (the Spark stage writes clean_students), or set STUDENTFLOW_WAREHOUSE"
    if args.json and args.verbose:
        raise UsageError("--json and --verbose both write to standard output", "drop one of them")
    require_tables(settings.warehouse, SOURCE_TABLES, hint)
    if args.docs:
        return _docs(args, settings)
    command = [args.command]
    if args.select:
        command += ["--select", *args.select]
    if args.full_refresh:
        command.append("--full-refresh")
    outcome = None if args.verbose else _in_quality_worker(settings, command)
    if outcome is None:
        outcome = run_dbt(settings, command, stream=args.verbose)
    junit_xml = _write_junit(outcome, settings, args.junit_xml) if args.junit_xml else None
    counts = mart_row_counts(settings.warehouse) if outcome.ok else {}
    if args.json:
        print(json.dumps(_outcome_json(outcome, counts, settings), sort_keys=True))
    else:
        for line in summarize(outcome):
            print(line)
        if junit_xml:
            print(f"JUnit XML: {junit_xml}")
    if not outcome.ok:
        _raise_failure(args, outcome, settings)
    if counts and not args.json:
        print("marts: " + ", ".join(f"{m} ({n} row{'s' if n != 1 else ''})" for m, n in counts.items())
              + f"  in {settings.warehouse}")
    return 0


def _in_quality_worker(settings: config.Settings, command: list[str]):
    """dbt in the running quality worker (the stack's, or the configured one), whose dbt is
    imported and whose parse of the project is kept: the analyst's edit-and-build loop skips
    dbt's import and parse (about 2 CPU-seconds of a new process). None when there is none or it
    cannot run it: the command runs dbt itself. --verbose streams dbt's own output: always here."""
    from studentflow.pipeline.quality_service import QualityClient

    client = QualityClient.for_command(settings, f"dbt {' '.join(command)}")
    return None if client is None else client.run_dbt(settings, command)


def _docs(args: argparse.Namespace, settings: config.Settings) -> int:
    from studentflow.transform.runner import run_dbt

    outcome = run_dbt(settings, ["docs", "generate", "--static"], stream=args.verbose)
    target, logs = settings.paths.dbt_target, settings.paths.dbt_logs
    if not outcome.ok:
        for line in _tail_errors(outcome.output):
            print(line, file=sys.stderr)
        raise StudentflowError("dbt docs generate failed", f"see {logs / 'dbt.log'}")
    if args.json:
        print(json.dumps({"ok": True, "docs": str(target / "static_index.html")}, sort_keys=True))
        return 0
    print(f"dbt docs: {target / 'static_index.html'} (one file, open it in a browser; "
          f"or `dbt docs serve --target-path {target}` for index.html)")
    return 0


def _raise_failure(args: argparse.Namespace, outcome, settings: config.Settings) -> None:
    """The error a failed dbt run ends with: a stop before any node, failed tests, or failed nodes."""
    target, logs = settings.paths.dbt_target, settings.paths.dbt_logs
    if not outcome.results:   # dbt stopped before running any node: parse/compile/connection error
        for line in _tail_errors(outcome.output):
            print(line, file=sys.stderr)
        raise StudentflowError(f"dbt {args.command} failed before running any model",
                               f"see the lines above and {logs / 'dbt.log'}")
    failed_tests = [r for r in outcome.problems if r["status"] == "fail"]
    if failed_tests and len(failed_tests) == len(outcome.problems):
        raise DataError(f"{len(failed_tests)} dbt test(s) failed on the warehouse data",
                        f"each failing test's SQL (it selects the offending rows) is under "
                        f"{target / 'compiled' / 'studentflow'}; run it against {settings.warehouse}")
    raise StudentflowError(f"dbt {args.command}: {len(outcome.problems)} node(s) failed",
                           f"fix the model SQL/YAML named above; log: {logs / 'dbt.log'}")


def _outcome_json(outcome, counts: dict[str, int], settings: config.Settings) -> dict:
    statuses: dict[str, int] = {}
    for r in outcome.results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {"ok": outcome.ok, "command": outcome.command, "elapsed_s": round(outcome.elapsed, 3),
            "statuses": statuses, "marts": counts, "warehouse": str(settings.warehouse),
            "problems": [{"node": r["unique_id"], "status": r["status"], "failures": r.get("failures"),
                          "message": r.get("message")} for r in outcome.problems]}


def _write_junit(outcome, settings: config.Settings, path: Path) -> Path:
    """dbt's test nodes as JUnit XML; a dbt that stopped before running any node is one error case."""
    from studentflow.core import junit
    from studentflow.transform import junit as dbt_junit

    target, logs = settings.paths.dbt_target, settings.paths.dbt_logs
    if outcome.results or outcome.ok:
        return dbt_junit.write(outcome.results, target, path)
    lines = _tail_errors(outcome.output)
    case = junit.Case(f"dbt {outcome.command}", "dbt", outcome.elapsed, kind="dbt error",
                      error=(lines[-1] if lines else f"dbt {outcome.command} failed before running any node",
                             "\n".join(lines) + f"\nlog: {logs / 'dbt.log'}"))
    return junit.write(path, [junit.Suite("dbt", [case], outcome.elapsed)], "studentflow transform (dbt tests)")


def register(subparsers: argparse._SubParsersAction) -> None:
    with add_command(subparsers, "transform",
                     help="dbt build on the SQLite warehouse: staging views, per-major marts and their tests",
                     description=DESCRIPTION, handler=_transform, lock=True, can_fail=True, json=JSON_HELP) as p:
        p.add_argument("--select", "-s", nargs="+", metavar="SELECTOR",
                       help="dbt node selection, passed to `dbt --select` (e.g. `major_age_stats+`, `stg_students`)")
        p.add_argument("--command", choices=("build", "run", "test", "seed"), default="build",
                       help="dbt command to run (default: build = seed + run + test in DAG order)")
        p.add_argument("--full-refresh", action="store_true", help="pass --full-refresh to dbt (rebuild seeds and tables)")
        p.add_argument("--docs", action="store_true",
                       help="run `dbt docs generate --static` instead of building; prints the path of the HTML docs")
        p.add_argument("--junit-xml", type=Path, metavar="PATH",
                       help="also write dbt's test results there as JUnit XML (one test case per test node; a failing "
                            "test carries its failing row count and SQL), for CI test reporters")
        p.add_argument("--verbose", "-v", action="store_true", help="stream dbt's own output instead of the compact summary only")

"""`studentflow validate`: the Great Expectations gate CI runs (exit 1 on any breach)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studentflow.cli._group import add_command
from studentflow.core import config
from studentflow.core.errors import DataError, ExitCode

from expectations.suites import TABLES

SUITE_NAMES = TABLES   # one suite per table, named after it

DESCRIPTION = ("Validate the warehouse with the Great Expectations suites of expectations/suites.py "
               "(majors from the dbt seed, age bounds from the settings). Prints one line per "
               "expectation, writes Data Docs (HTML, the last quality_history runs) to <data_dir>/quality/docs/ "
               "and a JSON summary to <data_dir>/quality/validation.json. The suites are the saved Great Expectations "
               "project expectations/gx/ (checkpoint studentflow_gate), which GX's own API runs too. "
               "With a quality worker running (the stack's, or quality_remote), the gate runs there (its "
               "Great Expectations already imported). "
               f"Exit {ExitCode.OK:d}: all passed; {ExitCode.FAILED:d}: an expectation failed; "
               f"{ExitCode.SETUP:d}: the warehouse or a table does not exist yet.")
JSON_HELP = "print the result as one JSON object on stdout (the table goes to stderr); exit codes unchanged"


def _validate(args: argparse.Namespace, settings: config.Settings) -> int:
    from expectations import gate   # light; great_expectations itself is imported inside gate.run()

    out = sys.stderr if args.json else sys.stdout   # --json: stdout holds the JSON object only
    gate.check_warehouse(settings, gate.select_suites(settings, args.suite))   # exit 2 here, wherever the gate runs
    result = _in_quality_worker(settings, args)
    if result is None:
        result = gate.run(settings, suite_names=args.suite, docs=not args.no_docs)
    for line in gate.table_lines(result):
        print(line, file=out)
    junit_xml = None
    if args.junit_xml:
        from expectations import ci

        junit_xml = ci.write_junit(result, args.junit_xml)
    passed = len(result.outcomes) - len(result.failed)
    print(f"{passed}/{len(result.outcomes)} expectations passed in {result.elapsed:.1f} s; "
          f"summary: {result.summary_file}" + (f"; data docs: {result.docs_index}" if result.docs_index else "")
          + (f"; JUnit XML: {junit_xml}" if junit_xml else ""), file=out)
    if args.json:
        from expectations import ci

        print(json.dumps(ci.as_json(result, junit_xml), sort_keys=True, ensure_ascii=False, default=str), flush=True)
    if result.success:
        return 0
    names = ", ".join(f"{o.expectation}({o.table}.{o.column or '*'})={'?' if o.unexpected_count is None else o.unexpected_count}"
                      for o in result.failed)
    raise DataError(f"data quality gate failed: {len(result.failed)} expectation(s) broken: {names}",
                    "fix the data upstream (see the table above and the data docs), then run again")


def _in_quality_worker(settings: config.Settings, args: argparse.Namespace):
    """The gate in the running quality worker (the stack's, or the configured one), whose Great
    Expectations is imported (0.7-1.0 s against 2.7-2.9 s and 2.9 CPU-seconds here). None when there
    is none or it cannot run it: the command runs the gate itself."""
    from studentflow.pipeline.quality_service import QualityClient

    client = QualityClient.for_command(settings, "Great Expectations gate")
    return None if client is None else client.validate(settings, suite_names=args.suite, docs=not args.no_docs)


def register(subparsers: argparse._SubParsersAction) -> None:
    with add_command(subparsers, "validate",
                     help="Great Expectations gate on clean_students and the marts (exit 1 on a breach)",
                     description=DESCRIPTION, handler=_validate, lock=True, can_fail=True, json=JSON_HELP) as p:
        p.add_argument("--suite", action="append", choices=SUITE_NAMES, metavar="NAME",
                       help=f"validate only this suite (repeatable): {', '.join(SUITE_NAMES)}")
        p.add_argument("--no-docs", action="store_true", help="skip building the HTML Data Docs (the JSON summary is still written)")
        p.add_argument("--junit-xml", type=Path, metavar="PATH",
                       help="also write a JUnit XML report there (one test case per expectation; a failure names the "
                            "table, the column and offending values), for CI test reporters (GitLab, Jenkins, GitHub)")

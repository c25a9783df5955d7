"""`studentflow validate`: the Great Expectations gate CI runs (exit 1 on any breach)."""
from __future__ import annotations

import argparse

from core import config
from core.errors import DataError

from expectations.suites import TABLES

SUITE_NAMES = TABLES   # one suite per table, named after it


def _validate(args: argparse.Namespace, settings: config.Settings) -> int:
    from expectations import gate   # light; great_expectations itself is imported inside gate.run()

    result = gate.run(settings, suite_names=args.suite, docs=not args.no_docs)
    for line in gate.table_lines(result):
        print(line)
    passed = len(result.outcomes) - len(result.failed)
    print(f"{passed}/{len(result.outcomes)} expectations passed in {result.elapsed:.1f} s; "
          f"summary: {result.summary_file}" + (f"; data docs: {result.docs_index}" if result.docs_index else ""))
    if result.success:
        return 0
    names = ", ".join(f"{o.expectation}({o.table}.{o.column or '*'})={'?' if o.unexpected_count is None else o.unexpected_count}"
                      for o in result.failed)
    raise DataError(f"data quality gate failed: {len(result.failed)} expectation(s) broken: {names}",
                    "fix the data upstream (see the table above and the data docs), then run again")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="Great Expectations gate on clean_students and the marts (exit 1 on a breach)",
        description=(
            "Validate the warehouse with the Great Expectations suites of expectations/suites.py "
            "(majors from the dbt seed, age bounds from the settings). Prints one line per "
            "expectation, writes Data Docs (HTML) to <data_dir>/quality/docs/ and a JSON summary to "
            "<data_dir>/quality/validation.json. Exit 0: all passed; 1: an expectation failed; "
            "2: the warehouse or a table does not exist yet."),
    )
    p.add_argument("--suite", action="append", choices=SUITE_NAMES, metavar="NAME",
                   help=f"validate only this suite (repeatable): {', '.join(SUITE_NAMES)}")
    p.add_argument("--no-docs", action="store_true", help="skip building the HTML Data Docs (the JSON summary is still written)")
    p.set_defaults(handler=_validate)

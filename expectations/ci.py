"""What CI reads of a gate run: a JUnit XML report (one test case per expectation) and the JSON
summary `validate --json` prints (the summary file's content, with where the files are)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from studentflow.core import junit

from expectations.gate import SAMPLE_VALUES, GateResult, Outcome


def _values(values: Any) -> str:
    return json.dumps(values, ensure_ascii=False, default=str)


def _case(o: Outcome, seconds: float) -> junit.Case:
    where = f"{o.table}.{o.column}" if o.column else o.table
    case = junit.Case(f"{o.expectation}({o.column})" if o.column else o.expectation, f"gx.{o.table}", seconds,
                      kind=o.expectation)
    details = [f"table: {o.table}", f"column: {o.column or '(the whole table)'}",
               f"expectation: {o.expectation} {_values(o.expected or {})}"]
    if o.error:
        case.error = (f"{o.expectation} could not run on {where}: {o.error}", "\n".join(details))
    elif not o.success:
        count = "?" if o.unexpected_count is None else o.unexpected_count
        details.append(f"unexpected count: {count}")
        if o.unexpected_values is not None:
            details.append(f"offending values (at most {SAMPLE_VALUES}): {_values(o.unexpected_values)}")
        case.failure = (f"{o.expectation} failed on {where}: {count} unexpected", "\n".join(details))
    return case


def junit_suites(gate: GateResult) -> list[junit.Suite]:
    """One JUnit suite per GX suite (table), one case per expectation, in suites.py's order.
    GX times the gate, not each expectation: the gate's time is shared evenly."""
    names = list(dict.fromkeys(o.suite for o in gate.outcomes))
    share = gate.elapsed / max(len(gate.outcomes), 1)
    suites = {name: junit.Suite(f"gx.{name}") for name in names}
    for o in gate.outcomes:
        suites[o.suite].cases.append(_case(o, share))
        suites[o.suite].time += share
    return list(suites.values())


def write_junit(gate: GateResult, path: Path) -> Path:
    return junit.write(path, junit_suites(gate), "studentflow validate (Great Expectations)")


def as_json(gate: GateResult, junit_xml: Path | None = None) -> dict[str, Any]:
    """The summary printed by `validate --json`: the same fields as the summary file, and its path."""
    return {
        "success": gate.success,
        "statistics": {"evaluated": len(gate.outcomes), "successful": sum(o.success for o in gate.outcomes),
                       "unsuccessful": len(gate.failed)},
        "results": [asdict(o) for o in gate.outcomes],
        "elapsed_s": round(gate.elapsed, 3),
        "summary_file": str(gate.summary_file),
        "data_docs": str(gate.docs_index) if gate.docs_index else None,
        "junit_xml": str(junit_xml) if junit_xml else None,
        "gx_project": gate.extra.get("gx_project"),
    }

"""dbt's tests as JUnit XML (`studentflow transform --junit-xml PATH`), from dbt's own artifacts.

One test case per test node of ``target/run_results.json`` (data tests and unit tests), grouped
in one suite per model they test (``target/manifest.json``: a generic test's attached node, a
unit test's model; singular tests share ``dbt.singular``). A failing test is a failure carrying
its failing row count, dbt's message and the compiled SQL that selects the offending rows; an
error is an error; a test dbt skipped (an upstream node failed) is skipped; a warning passes and
says so in its output.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studentflow.core import junit

TEST_KINDS = ("test", "unit_test")


def _manifest(target: Path) -> dict[str, Any]:
    path = target / "manifest.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {**data.get("nodes", {}), **data.get("unit_tests", {})}


def _group(node: dict[str, Any]) -> str:
    model = node.get("attached_node") or (node.get("model") and f"model.x.{node['model']}")
    return f"dbt.{model.split('.')[-1]}" if model else "dbt.singular"


def _case(result: dict[str, Any], node: dict[str, Any]) -> junit.Case:
    unique_id = result["unique_id"]
    name = unique_id.split(".")[2] if unique_id.startswith("test.") else ".".join(unique_id.split(".")[2:])
    case = junit.Case(name, _group(node), float(result.get("execution_time") or 0.0), kind=f"dbt {result['status']}")
    status, failures = result["status"], result.get("failures")
    message = (result.get("message") or "").strip()
    details = [f"node: {unique_id}"]
    if node.get("original_file_path"):
        details.append(f"defined in: dbt_project/{node['original_file_path']}")
    if node.get("compiled_path"):
        details.append(f"compiled SQL (selects the offending rows): {node['compiled_path']}")
    if result.get("compiled_code"):
        details.append("\n" + result["compiled_code"].strip())
    if status == "fail":
        rows = f"{failures} failing row{'s' if failures != 1 else ''}" if failures is not None else "failed"
        case.failure = (f"{name}: {rows}" + (f" ({message})" if message else ""), "\n".join(details))
    elif status in ("error", "runtime error"):
        case.error = (f"{name}: {message.splitlines()[0] if message else 'error'}", message + "\n" + "\n".join(details))
    elif status == "skipped":
        case.skipped = "skipped by dbt: a node it depends on failed"
    elif status == "warn":
        case.output = f"warning: {failures} failing row(s) (severity warn)" + (f": {message}" if message else "")
    return case


def junit_suites(results: list[dict[str, Any]], target: Path) -> list[junit.Suite]:
    """The JUnit suites of dbt's test nodes in ``results`` (run_results.json's "results")."""
    nodes = _manifest(target)
    suites: dict[str, junit.Suite] = {}
    for result in results:
        if result["unique_id"].split(".", 1)[0] not in TEST_KINDS:
            continue
        case = _case(result, nodes.get(result["unique_id"], {}))
        suite = suites.setdefault(case.classname, junit.Suite(case.classname))
        suite.cases.append(case)
        suite.time += case.time
    return [suites[name] for name in sorted(suites)]


def write(results: list[dict[str, Any]], target: Path, path: Path) -> Path:
    return junit.write(path, junit_suites(results, target), "studentflow transform (dbt tests)")

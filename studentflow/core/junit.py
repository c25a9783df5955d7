"""JUnit XML, the test-report format CI systems read (GitLab, Jenkins, GitHub test reporters).

A small writer shared by the quality stages: the Great Expectations gate (one test case per
expectation) and dbt's tests (one test case per test node). It writes the Ant/Jenkins shape
(``testsuites > testsuite > testcase > failure|error|skipped``, with ``system-out``) that the
Jenkins xUnit plugin's ``junit-10.xsd`` describes; tests/schemas/ holds that schema and a test
validates every file written here against it.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# characters XML 1.0 cannot carry (control characters but tab, newline, carriage return)
_NOT_XML = {c: None for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF)}


def clean(text: object) -> str:
    """``text`` as a string XML 1.0 can hold (a NUL byte in an offending value must not break the file)."""
    return str(text).translate(_NOT_XML)


@dataclass
class Case:
    """One test case: passed unless it has a failure, an error or is skipped."""

    name: str
    classname: str
    time: float = 0.0
    failure: tuple[str, str] | None = None   # (message, details)
    error: tuple[str, str] | None = None     # (message, details)
    skipped: str | None = None               # why
    kind: str = ""                           # the failure's / error's type attribute
    output: str = ""                         # system-out


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)
    time: float = 0.0

    def count(self, what: str) -> int:
        return sum(1 for c in self.cases if getattr(c, what) is not None)


def _case(parent: ET.Element, case: Case) -> None:
    el = ET.SubElement(parent, "testcase", name=clean(case.name), classname=clean(case.classname),
                       time=f"{case.time:.3f}")
    for tag, value in (("failure", case.failure), ("error", case.error)):
        if value is not None:
            message, details = value
            child = ET.SubElement(el, tag, message=clean(message), type=clean(case.kind or tag))
            child.text = clean(details)
    if case.skipped is not None:
        ET.SubElement(el, "skipped", message=clean(case.skipped))
    if case.output:
        ET.SubElement(el, "system-out").text = clean(case.output)


def to_xml(suites: list[Suite], name: str) -> bytes:
    """The document: one ``testsuite`` per suite, the totals on ``testsuites``."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name=clean(name), tests=str(sum(len(s.cases) for s in suites)),
                      failures=str(sum(s.count("failure") for s in suites)),
                      errors=str(sum(s.count("error") for s in suites)),
                      time=f"{sum(s.time for s in suites):.3f}")
    for i, suite in enumerate(suites):
        el = ET.SubElement(root, "testsuite", name=clean(suite.name), tests=str(len(suite.cases)),
                           failures=str(suite.count("failure")), errors=str(suite.count("error")),
                           skipped=str(suite.count("skipped")), time=f"{suite.time:.3f}",
                           timestamp=stamp, id=str(i))
        for case in suite.cases:
            _case(el, case)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write(path: Path, suites: list[Suite], name: str) -> Path:
    """Write the report to ``path`` (atomically: a CI job never reads half a file); return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(to_xml(suites, name))
    tmp.replace(path)
    return path

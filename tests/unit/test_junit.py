"""core/junit.py: the JUnit XML CI systems read, checked against the Jenkins xUnit schema."""
from __future__ import annotations

import pytest

from studentflow.core import junit
from tests.support.junit_schema import cases, validated


def sample() -> list[junit.Suite]:
    return [
        junit.Suite("clean_students", [
            junit.Case("expect_column_values_to_be_between(age)", "gx.clean_students", 0.1,
                       failure=("2 unexpected values in clean_students.age", "offending values: [12, 140]\x00"),
                       kind="expect_column_values_to_be_between"),
            junit.Case("expect_column_values_to_not_be_null(age)", "gx.clean_students", 0.0),
            junit.Case("broken", "gx.clean_students", error=("no such column: agee", "trace"), output="log"),
        ], time=1.5),
        junit.Suite("dbt", [junit.Case("not_null_x", "dbt.x", skipped="an upstream model failed")]),
    ]


def test_the_document_is_valid_against_the_jenkins_schema_and_counts_what_it_holds(tmp_path):
    path = junit.write(tmp_path / "out" / "report.xml", sample(), "studentflow")
    root = validated(path)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    first, second = root.findall("testsuite")
    assert (first.get("name"), first.get("tests"), first.get("failures"), first.get("errors")) == (
        "clean_students", "3", "1", "1")
    assert second.get("skipped") == "1"
    found = cases(root)
    failure = found["gx.clean_students::expect_column_values_to_be_between(age)"].find("failure")
    assert failure.get("message") == "2 unexpected values in clean_students.age"
    assert failure.get("type") == "expect_column_values_to_be_between"
    assert failure.text == "offending values: [12, 140]"     # the NUL byte is dropped, not a broken file
    assert found["gx.clean_students::expect_column_values_to_not_be_null(age)"].find("failure") is None
    assert found["gx.clean_students::broken"].find("error").get("message") == "no such column: agee"
    assert found["dbt.x::not_null_x"].find("skipped") is not None
    assert not list(tmp_path.joinpath("out").glob("*.tmp"))


def test_the_schema_check_rejects_what_ci_could_not_read():
    import xmlschema

    bad = b'<?xml version="1.0"?><testsuites><testsuite name="x"><testcase/></testsuite></testsuites>'
    with pytest.raises(xmlschema.XMLSchemaValidationError):   # no tests= on testsuite, no name= on testcase
        validated(bad)

"""What CI systems and Great Expectations users read of the quality stages, on a real warehouse
built by the real dbt project (a real SQLite file, real GX, real dbt):

- `validate --junit-xml/--json` and `transform --junit-xml`: JUnit XML valid against the Jenkins
  xUnit schema (tests/schemas/junit-10.xsd), one test case per expectation / dbt test node, the
  failures carrying the table, the offending values, the failing row counts;
- the saved GX project (expectations/gx/) run by GX's own API in a fresh interpreter gives the
  same verdicts as `studentflow validate` on a warehouse with injected bad rows;
- the Data Docs keep the last `quality_history` runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from studentflow.core import config
from expectations import project
from expectations.suites import build_suites
from tests.support import analytics_cli
from tests.support.dbt_warehouse import built, copy_with
from tests.support.junit_schema import cases, validated

pytestmark = pytest.mark.slow

GX_USER = """
import json, sys
import great_expectations as gx
context = gx.get_context(project_root_dir=sys.argv[1])
result = context.checkpoints.get("studentflow_gate").run()
out = []
for validation in result.run_results.values():
    for r in validation.results:
        c = r.expectation_config
        out.append([c.id, bool(r.success),
                    (r.result or {}).get("unexpected_count", (r.result or {}).get("observed_value"))])
print(json.dumps({"success": bool(result.success), "results": out}))
"""


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return built(tmp_path_factory.mktemp("quality_ci"))


def bad_copy(good, tmp_path, **extra) -> config.Settings:
    _, rows = good
    return copy_with(good, tmp_path, [dict(event_id="bad-age-12", age=12, major="Chimie"),
                                      dict(event_id="bad-age-140", age=140, major="Physique"),
                                      dict(event_id="bad-major-art", age=22, major="Art"),
                                      dict(event_id=rows[1][0], age=23, major="Economie")], **extra)


def test_the_saved_checkpoint_run_by_gx_itself_gives_the_gates_verdicts(good, tmp_path, capfd):
    settings = bad_copy(good, tmp_path)
    report = tmp_path / "ci" / "gx.xml"
    capfd.readouterr()
    code, err = analytics_cli.run(["validate", "--no-docs", "--json", "--junit-xml", str(report)], settings)
    out, _ = capfd.readouterr()
    assert code == 1 and "data quality gate failed" in err
    summary = json.loads(out)          # stdout holds the JSON object only
    assert summary["success"] is False and summary["junit_xml"] == str(report)
    assert summary["gx_project"].startswith("saved")
    product = {(r["suite"], r["expectation"], r["column"]): (r["success"], r["unexpected_count"]) for r in summary["results"]}
    assert product[("clean_students", "expect_column_values_to_be_between", "age")] == (False, 2)

    env = {**os.environ, "STUDENTFLOW_WAREHOUSE": str(settings.warehouse), "STUDENTFLOW_DATA_DIR": str(settings.data_dir)}
    res = subprocess.run([sys.executable, "-c", GX_USER, str(config.PROJECT_ROOT / "expectations")], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    gx_user = json.loads(res.stdout.strip().splitlines()[-1])
    assert gx_user["success"] is False
    # the saved expectation ids name the check of suites.py each result is about
    checks = {project.expectation_id(suite, i): (suite.name, check.expectation, check.column)
              for suite in build_suites(settings) for i, check in enumerate(suite.checks)}
    by_type = {checks[eid]: (success, count) for eid, success, count in gx_user["results"]}
    assert set(by_type) == set(product) and len(gx_user["results"]) == len(product)
    for key, (success, count) in product.items():
        assert by_type[key][0] == success, key
        if count is not None:
            assert by_type[key][1] == count, key

    root = validated(report)
    assert root.get("tests") == str(len(product)) and root.get("failures") == "3"
    found = cases(root)
    failed = {k for k, c in found.items() if c.find("failure") is not None}
    assert failed == {"gx.clean_students::expect_column_values_to_be_between(age)",
                      "gx.clean_students::expect_column_values_to_be_in_set(major)",
                      "gx.clean_students::expect_column_values_to_be_unique(event_id)"}
    age = found["gx.clean_students::expect_column_values_to_be_between(age)"].find("failure")
    assert "clean_students.age" in age.get("message") and "2 unexpected" in age.get("message")
    assert "table: clean_students" in age.text and "[12, 140]" in age.text.replace("140, 12", "12, 140")
    assert '["Art"]' in found["gx.clean_students::expect_column_values_to_be_in_set(major)"].find("failure").text


def test_a_failing_dbt_test_is_a_failure_test_case(good, tmp_path):
    settings = bad_copy(good, tmp_path)
    report = tmp_path / "dbt.xml"
    code, err = analytics_cli.run(["transform", "--junit-xml", str(report)], settings)
    assert code == 1, err
    root = validated(report)
    results = json.loads((settings.data_dir / "dbt" / "target" / "run_results.json").read_text(encoding="utf-8"))
    tests = [r for r in results["results"] if r["unique_id"].split(".")[0] in ("test", "unit_test")]
    assert root.get("tests") == str(len(tests))
    found = cases(root)
    failures = {k: c.find("failure") for k, c in found.items() if c.find("failure") is not None}
    assert set(failures) == {"dbt.stg_students::between_stg_students_age___var_age_max____var_age_min_",
                             "dbt.stg_students::relationships_stg_students_major__major__ref_majors_",
                             "dbt.stg_students::unique_stg_students_event_id"}
    between = failures["dbt.stg_students::between_stg_students_age___var_age_max____var_age_min_"]
    assert "2 failing rows" in between.get("message") and "stg_students" in between.text
    skipped = [k for k, c in found.items() if c.find("skipped") is not None]
    assert len(skipped) == sum(r["status"] == "skipped" for r in tests) > 0


def test_data_docs_keep_the_last_n_runs(good, tmp_path):
    from expectations import gate

    settings = copy_with(good, tmp_path, [], quality_history=2)
    runs = []
    for _ in range(3):
        assert gate.run(settings).success
        results = settings.data_dir / "quality" / "results"
        runs.append({p.parent.name for p in results.rglob("*.json")})
    assert [len(r) for r in runs] == [1, 2, 2]            # one folder per run time, 4 suites each
    first, second, third = (min(r - set().union(*runs[:i])) if i else min(r) for i, r in enumerate(runs))
    assert runs[-1] == {second, third} and first not in runs[-1]
    stored = list((settings.data_dir / "quality" / "results").rglob("*.json"))
    assert len(stored) == 2 * 4
    docs = settings.data_dir / "quality" / "docs"
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) == 2 * 4 and not any(first in str(p) for p in pages)
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert third in index and second in index and first not in index


def test_run_writes_dbt_tests_and_the_gate_in_one_junit_file(good, tmp_path):
    """`run --junit-xml`: the pipeline's transform and validate stages (the stack's stages before
    them are not needed for this file: they are run here on the module's warehouse)."""
    from studentflow.core.errors import DataError
    from studentflow.pipeline import Pipeline, RunOptions
    from studentflow.pipeline.derive import Transform, Validate

    settings = copy_with(good, tmp_path / "good", [])
    report = tmp_path / "run.xml"
    pipeline = Pipeline(settings, RunOptions(junit_xml=report), progress=lambda _m: None)
    pipeline.run_step(Transform())
    pipeline.run_step(Validate())
    root = validated(report)
    suites = [s.get("name") for s in root.findall("testsuite")]
    assert "dbt.stg_students" in suites and "gx.clean_students" in suites
    assert root.get("failures") == "0" and pipeline.summary.outputs["junit_xml"] == str(report)
    gx_cases = [c for c in root.iter("testcase") if c.get("classname").startswith("gx.")]
    assert len(gx_cases) == sum(len(s.checks) for s in build_suites(settings))

    # a failing dbt test stops the run at transform: the file already says which
    bad = bad_copy(good, tmp_path / "bad")
    pipeline = Pipeline(bad, RunOptions(junit_xml=report), progress=lambda _m: None)
    with pytest.raises(DataError):
        pipeline.run_step(Transform())
    root = validated(report)
    assert int(root.get("failures")) == 3
    assert not [c for c in root.iter("testcase") if c.get("classname").startswith("gx.")]
